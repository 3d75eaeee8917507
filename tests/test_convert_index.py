"""Retrieval maths (k nearest, 1/d^2 weights), index_rate, protect, rms_mix_rate."""

from __future__ import annotations

import numpy as np
import pytest

from discovervoice.convert import index as I


def test_weighted_neighbours_matches_hand_computation():
    table = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], np.float32)
    score = np.array([[1.0, 2.0, 4.0]])
    ix = np.array([[0, 1, 2]])
    w = np.array([1.0, 1 / 4, 1 / 16])
    w /= w.sum()
    expect = (table * w[:, None]).sum(0)
    np.testing.assert_allclose(I.weighted_neighbours(table, score, ix)[0], expect, rtol=1e-6)


def test_index_retrieval_finds_neighbours_and_exact_match_dominates(tmp_path):
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((500, 16)).astype(np.float32)
    idx = I.FeatureIndex.build(feats)
    q = feats[[3, 77]]
    d, ix = idx.search(q)
    assert ix.shape == (2, 8) and ix[0, 0] == 3 and ix[1, 0] == 77
    assert np.all(np.diff(d, axis=1) >= 0)
    np.testing.assert_allclose(d[0, 1], np.sum((feats[ix[0, 1]] - feats[3]) ** 2), rtol=1e-4)  # squared L2
    np.testing.assert_allclose(idx.retrieve(q), q, atol=1e-4)
    # a query between points moves toward the stored rows
    q2 = q + 0.3 * rng.standard_normal(q.shape).astype(np.float32)
    r = idx.retrieve(q2)
    assert np.linalg.norm(r - q, axis=1).max() < np.linalg.norm(q2 - q, axis=1).max()
    path = idx.save(tmp_path / "added.index")
    back = I.FeatureIndex.load(path)
    np.testing.assert_allclose(back.retrieve(q2), r, atol=1e-5)
    with pytest.raises(I.RetrievalIndexError, match="dimension"):
        idx.search(np.zeros((1, 4), np.float32))
    (tmp_path / "junk.index").write_bytes(b"junk")
    with pytest.raises(I.RetrievalIndexError, match="junk.index"):
        I.FeatureIndex.load(tmp_path / "junk.index")


def test_large_index_uses_ivf_like_rvc():
    import faiss

    feats = np.random.default_rng(1).standard_normal((12000, 8)).astype(np.float32)
    idx = I.FeatureIndex.build(feats)
    assert isinstance(idx.index, faiss.IndexIVFFlat)
    assert idx.search(feats[:5])[1][:, 0].tolist() == [0, 1, 2, 3, 4]


def test_index_rate_and_protect():
    a = np.zeros((4, 3), np.float32)
    b = np.ones((4, 3), np.float32)
    np.testing.assert_allclose(I.mix_index(a, b, 0.75), 0.75)
    np.testing.assert_allclose(I.mix_index(a, b, 0.0), 0.0)
    f0 = np.array([100.0, 0.0, 120.0, 0.0])
    out = I.protect_mix(b, a, f0, 0.33)  # voiced keep retrieved, unvoiced pulled back to original
    np.testing.assert_allclose(out[:, 0], [1.0, 0.33, 1.0, 0.33], rtol=1e-6)
    np.testing.assert_array_equal(I.protect_mix(b, a, f0, 0.5), b)


def test_rms_mix_rate_envelope():
    sr = 16000
    t = np.arange(4 * sr) / sr
    env = np.where(t < 2, 0.1, 0.8)
    src = (env * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    out = (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    np.testing.assert_array_equal(I.rms_mix(src, sr, out, sr, 1.0), out)
    y = I.rms_mix(src, sr, out, sr, 0.0)
    q1, q4 = np.sqrt(np.mean(y[: sr // 2] ** 2)), np.sqrt(np.mean(y[-sr // 2:] ** 2))
    assert abs(q4 / q1 - 8.0) < 1.5  # follows the source's envelope
    half = I.rms_mix(src, sr, out, sr, 0.5)
    assert np.sqrt(np.mean(y[-sr:] ** 2)) < np.sqrt(np.mean(half[-sr:] ** 2)) * 2

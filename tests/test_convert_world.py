"""WORLD feature coding used by the default voices: analysis/synthesis round trip."""

from __future__ import annotations

import numpy as np
import torch

from discovervoice.convert import f0 as F
from discovervoice.convert import world as W

SR = 16000


def _tone(seconds=1.0, f=180.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    ph = 2 * np.pi * f * t
    x = sum(0.3 / k * np.sin(k * ph) for k in range(1, 20) if k * f < 7000)
    return (x + 1e-3 * rng.standard_normal(len(t))).astype(np.float32)


def test_band_aperiodicity_round_trip():
    ap = np.clip(np.linspace(0.001, 0.9, 513)[None].repeat(5, 0), 1e-6, 1)
    bap = W.code_ap(ap, SR)
    assert bap.shape == (5, W.n_bap(SR))
    assert np.all(np.diff(bap[0]) > 0)  # more aperiodic toward the highs, as the input
    back = W.decode_ap(bap, SR, 1024)
    err = np.abs(20 * np.log10(back) - 20 * np.log10(ap))
    assert np.median(err) < 3.0


def test_analyze_synthesize_keeps_pitch_and_envelope():
    x = _tone()
    f0 = F.extract_f0(x, "dio")
    mcep, bap = W.analyze(x, SR, f0, order=24)
    assert mcep.shape == (len(f0), 25) and bap.shape == (len(f0), W.n_bap(SR))
    y = W.synthesize(mcep, bap, f0, SR)
    assert abs(len(y) - len(x)) < 200
    f0y = F.extract_f0(y, "dio")
    v = (f0 > 0) & (f0y[: len(f0)] > 0)
    assert v.mean() > 0.8 and np.median(np.abs(1200 * np.log2(f0y[: len(f0)][v] / f0[v]))) < 20
    mcep2, _ = W.analyze(y[: len(x)], SR, f0, order=24)
    d = np.mean(np.sqrt(2 * np.sum((mcep[10:-10, 1:] - mcep2[10:-10, 1:]) ** 2, axis=1))) * 10 / np.log(10)
    assert d < 3.0  # dB: resynthesis keeps the envelope


def _pulse_intervals_ms(y):
    from scipy.signal import find_peaks

    p, _ = find_peaks(y, height=0.3 * np.abs(y).max(), distance=20)
    return np.diff(p) / SR * 1000


def test_subframe_synthesis_keeps_the_pitch_to_the_end_of_a_voiced_run():
    # a 200 Hz run between silences: plain WORLD glides its F0 towards 0 Hz over the
    # half-frame at each voicing boundary, so the last period is stretched (6.1 ms, not 5)
    n = 60
    f0 = np.zeros(n)
    f0[10:40] = 200.0
    mcep = np.zeros((n, 25))
    mcep[f0 == 0, 0] = -12.0  # near-silent unvoiced frames
    bap = np.full((n, W.n_bap(SR)), -60.0)
    plain = W.synthesize(mcep, bap, f0, SR, subframes=1)
    fine = W.synthesize(mcep, bap, f0, SR, subframes=10)
    assert len(plain) == len(fine) == n * 160
    d_plain, d_fine = _pulse_intervals_ms(plain), _pulse_intervals_ms(fine)
    assert len(d_fine) == len(d_plain) and len(d_fine) >= 55
    assert d_plain[-1] > 5.5  # the stretched last period of plain WORLD
    np.testing.assert_allclose(d_fine, 5.0, atol=0.1)  # every period of the run at 200 Hz
    # sub-frames: voiced where the nearest frame is, edges held, log-F0 interpolated inside
    up = W.upsample_f0(np.array([0.0, 100.0, 400.0, 0.0]), 4)
    np.testing.assert_allclose(up, [0, 0, 100, 100, 100, 141.42, 200, 282.84, 400, 400, 0, 0, 0, 0, 0, 0],
                               atol=0.01)
    np.testing.assert_allclose(W.upsample_frames(np.array([[0.0], [4.0]]), 4)[:, 0], [0, 1, 2, 3, 4, 4, 4, 4])


def test_world_net_shapes_and_voice_prediction():
    net = W.build_world_net(in_dim=6 + 2, out_dim=25 + W.n_bap(SR), channels=16, n_layers=2)
    out = net(torch.zeros(2, 8, 50))
    assert out.shape == (2, 25 + W.n_bap(SR), 50)
    stats = {"lf0_mean": float(np.log(200)), "lf0_std": 0.2, "y_mean": [0.0] * (25 + W.n_bap(SR)),
             "y_std": [1.0] * (25 + W.n_bap(SR))}
    v = W.WorldVoice(net, SR, 24, stats)
    f0 = np.full(50, 200.0)
    inp = W.f0_inputs(np.array([0.0, 200.0, 400.0]), np.log(200), 0.2)
    np.testing.assert_allclose(inp[:, 1], [0, 1, 1])
    np.testing.assert_allclose(inp[2, 0], np.log(2) / 0.2, rtol=1e-5)
    y = v.synthesize(np.zeros((50, 6), np.float32), f0)
    assert y.ndim == 1 and abs(len(y) - 50 * 160) <= 160 and np.isfinite(y).all()


def _real_speech():
    """A real person's recording (klettres-data, GPL-2+), 16 kHz mono; skipped when absent."""
    import pytest

    from discovervoice import audio as dva
    from discovervoice.corpus.voices import KLETTRES_DIR

    files = sorted((KLETTRES_DIR / "de" / "syllab").glob("*.ogg"))[:6]
    if len(files) < 6:
        pytest.skip("klettres-data not installed")
    return [dva.load(f, SR, 1)[0] for f in files]


def test_gv_postfilter_restores_the_variance_of_real_speech_envelopes():
    """Over-smoothed mel-cepstra of real speech (an L1 network's typical output, imitated
    with a 9-frame moving average) get back the per-utterance variance of the real ones;
    c0, the aperiodicity and the utterance means stay as they were."""
    order, ys, lens = 24, [], []
    for x in _real_speech():
        f0 = F.extract_f0(x, "harvest")
        mc, bap = W.analyze(x, SR, f0, order)
        ys.append(np.concatenate([mc, bap], 1))
        lens.append(len(mc))
    y = np.concatenate(ys)
    mean, std = y.mean(0), y.std(0) + 1e-3
    z = (y - mean) / std
    gv = W.slice_gv(z, lens)
    b = np.concatenate([[0], np.cumsum(lens)])
    np.testing.assert_allclose(gv, np.mean([z[b[i]:b[i + 1]].var(0) for i in range(len(lens))
                                            if lens[i] >= W.GV_MIN_FRAMES], 0), rtol=1e-4)
    utt = z[b[0]:b[1]]
    k = np.ones(9) / 9
    smooth = np.stack([np.convolve(c, k, mode="same") for c in utt.T], 1).astype(np.float32)
    dims = slice(1, order + 1)
    assert np.all(smooth[:, dims].var(0) < utt[:, dims].var(0))
    out = W.postfilter(smooth, gv, dims, 1.0)
    np.testing.assert_allclose(out[:, dims].var(0), gv[dims], rtol=1e-3)
    np.testing.assert_allclose(out[:, dims].mean(0), smooth[:, dims].mean(0), atol=1e-4)
    np.testing.assert_array_equal(out[:, 0], smooth[:, 0])
    np.testing.assert_array_equal(out[:, order + 1:], smooth[:, order + 1:])
    half = W.postfilter(smooth, gv, dims, 0.5)
    ratio_full = out[:, dims].var(0) / smooth[:, dims].var(0)
    np.testing.assert_allclose(half[:, dims].var(0) / smooth[:, dims].var(0), np.sqrt(ratio_full), rtol=1e-3)
    np.testing.assert_array_equal(W.postfilter(smooth, gv, dims, 0.0), smooth)


def _tiny_world_voice_parts():
    """``(net, feature dim, identity stats, rng, content ndarray[80, 6])`` of an untrained
    24th-order WORLD voice network (seed 0 for the content features)."""
    net = W.build_world_net(in_dim=6 + 2, out_dim=25 + W.n_bap(SR), channels=16, n_layers=2)
    d = 25 + W.n_bap(SR)
    stats = {"lf0_mean": float(np.log(200)), "lf0_std": 0.2, "y_mean": [0.0] * d, "y_std": [1.0] * d}
    rng = np.random.default_rng(0)
    content = rng.standard_normal((80, 6)).astype(np.float32)
    return net, d, stats, rng, content


def test_world_voice_applies_the_postfilter_only_with_gv_stats():
    net, d, stats, rng, content = _tiny_world_voice_parts()
    f0 = np.full(80, 200.0)
    plain = W.WorldVoice(net, SR, 24, stats)
    mc0, bap0 = plain.predict(content, f0)
    gv = (4.0 * mc0.var(0).mean() * np.ones(d)).tolist()
    assert W.WorldVoice(net, SR, 24, dict(stats, gv=gv)).gv_strength == W.GV_STRENGTH
    filt = W.WorldVoice(net, SR, 24, dict(stats, gv=gv), gv_strength=1.0)
    mc1, bap1 = filt.predict(content, f0)
    np.testing.assert_allclose(mc1[:, 1:].var(0), np.asarray(gv)[1:25], rtol=1e-3)
    np.testing.assert_allclose(mc1[:, 0], mc0[:, 0], atol=1e-6)
    np.testing.assert_allclose(bap1, bap0, atol=1e-6)
    filt.gv_strength = 0.0
    np.testing.assert_allclose(filt.predict(content, f0)[0], mc0, atol=1e-6)


def _speech_features(lang: str, order: int = 24, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """``(mcep + bap [N, order + 1 + n_bap], F0 [N])`` of the first ``n`` syllables of a
    klettres-data speaker (GPL-2+), harvest F0; skipped when absent."""
    import pytest

    from discovervoice import audio as dva
    from discovervoice.corpus.voices import KLETTRES_DIR

    files = sorted((KLETTRES_DIR / lang / "syllab").glob("*.ogg"))[:n]
    if len(files) < n:
        pytest.skip("klettres-data not installed")
    ys, fs = [], []
    for f in files:
        x = dva.load(f, SR, 1)[0]
        f0 = F.extract_f0(x, "harvest")
        mc, bap = W.analyze(x, SR, f0, order)
        ys.append(np.concatenate([mc, bap], 1))
        fs.append(f0[:len(mc)])
    return np.concatenate(ys), np.concatenate(fs)


def test_envelope_retrieval_moves_another_speakers_envelopes_to_the_voice(tmp_path):
    """A second real speaker's mel-cepstra, z-scored with the voice's statistics, are replaced
    by the voice's own training frames: the mean voiced envelope moves most of the way to the
    voice's; c0 and the aperiodicity stay; rate 0 is off, rate 0.5 half-way; a voice frame
    retrieves itself; a table round-trips through its file."""
    order = 24
    yv, fv = _speech_features("de", order)      # the voice
    ys, fs = _speech_features("nl", order)      # another person
    mu, sd = yv.mean(0), yv.std(0) + 1e-3
    zv = ((yv - mu) / sd).astype(np.float32)
    zs = ((ys - mu) / sd).astype(np.float32)
    table = W.EnvelopeTable(zv[:, 1:order + 1], fv > 0)
    out = W.retrieve_envelopes(zs, fs > 0, table, order, rate=1.0)
    d, vs, vv = slice(1, order + 1), fs > 0, fv > 0
    before = np.linalg.norm(zs[vs, d].mean(0) - zv[vv, d].mean(0))
    after = np.linalg.norm(out[vs, d].mean(0) - zv[vv, d].mean(0))
    assert after < 0.7 * before
    np.testing.assert_array_equal(out[:, 0], zs[:, 0])
    np.testing.assert_array_equal(out[:, order + 1:], zs[:, order + 1:])
    half = W.retrieve_envelopes(zs, vs, table, order, rate=0.5)
    np.testing.assert_allclose(half[:, d], 0.5 * (zs[:, d] + out[:, d]), atol=1e-5)
    np.testing.assert_array_equal(W.retrieve_envelopes(zs, vs, table, order, rate=0.0), zs)
    # a frame of the voice finds itself (zero distance takes all the weight)
    query = zv[:50].copy()
    query[:, d] = table.mcep[:50]
    own = W.retrieve_envelopes(query, vv[:50], table, order)
    np.testing.assert_allclose(own[:, d], table.mcep[:50].astype(np.float32), atol=1e-6)
    back = W.EnvelopeTable.load(table.save(tmp_path / "envelopes.npz"))
    np.testing.assert_array_equal(back.mcep, table.mcep)
    np.testing.assert_array_equal(back.voiced, table.voiced)


def test_world_voice_retrieves_envelopes_only_with_a_table():
    net, d, stats, rng, content = _tiny_world_voice_parts()
    f0 = np.where(np.arange(80) < 60, 200.0, 0.0)
    mc0, bap0 = W.WorldVoice(net, SR, 24, stats).predict(content, f0)
    rows = rng.standard_normal((30, 24)).astype(np.float32) * 3
    table = W.EnvelopeTable(rows, np.arange(30) < 15)
    v = W.WorldVoice(net, SR, 24, stats, envelopes=table)
    assert v.envelope_rate == W.ENVELOPE_RATE
    mc1, bap1 = v.predict(content, f0)
    np.testing.assert_allclose(mc1[:, 0], mc0[:, 0], atol=1e-6)
    np.testing.assert_allclose(bap1, bap0, atol=1e-6)
    # every frame is a convex mix of table rows of its own voicing: inside their range
    t16 = table.mcep.astype(np.float32)
    assert np.all(mc1[:60, 1:] <= t16[:15].max(0) + 1e-4) and np.all(mc1[:60, 1:] >= t16[:15].min(0) - 1e-4)
    assert np.all(mc1[60:, 1:] <= t16[15:].max(0) + 1e-4) and np.all(mc1[60:, 1:] >= t16[15:].min(0) - 1e-4)
    v.envelope_rate = 0.0
    np.testing.assert_allclose(v.predict(content, f0)[0], mc0, atol=1e-6)

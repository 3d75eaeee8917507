"""Multichannel Wiener post-filter (discovervoice.separation.wiener) on real signals."""

from __future__ import annotations

import numpy as np
import pytest

from discovervoice.errors import SeparationError
from discovervoice.eval.separation import usdr
from discovervoice.separation import wiener as W

SR = 44100


def _stems(seconds: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A voiced 'vocals' stem (harmonic glide with vibrato, panned left) and an
    'accompaniment' (noise bursts + bass notes, panned right): stereo ``[2, T]`` each."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 220 * 2 ** ((t / seconds) + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voc = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t) ** 2)
    acc = 0.3 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 2 * t) > 0.3)
    acc += 0.5 * np.sin(2 * np.pi * 55 * t) + 0.3 * np.sin(2 * np.pi * 82.4 * t)
    v = np.stack([0.8 * voc, 0.4 * voc]).astype(np.float32) * 0.2
    a = np.stack([0.3 * acc, 0.9 * acc]).astype(np.float32) * 0.2
    return v + a, v, a


def _residual_db(total: np.ndarray, mix: np.ndarray) -> float:
    return float(20 * np.log10(np.linalg.norm(total - mix) / np.linalg.norm(mix)))


def test_filter_removes_leakage_and_stems_sum_to_the_mixture():
    mix, v, a = _stems()
    est = {"vocals": v + 0.35 * a, "accompaniment": a + 0.35 * v}   # a network's leaky stems
    out = W.wiener_filter(mix, est, SR, iterations=1)
    assert set(out) == {"vocals", "accompaniment"} and out["vocals"].shape == mix.shape
    before, after = usdr(v, est["vocals"]), usdr(v, out["vocals"])
    assert after > before + 3.0, (before, after)
    assert usdr(a, out["accompaniment"]) > usdr(a, est["accompaniment"]) + 3.0
    # the filter takes the stems from the mixture: they add up to it again
    assert _residual_db(out["vocals"] + out["accompaniment"], mix) < -30.0


def test_batched_em_equals_norbert():
    norbert = pytest.importorskip("norbert")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((300, 129, 2)) + 1j * rng.standard_normal((300, 129, 2))).astype(np.complex64)
    v = np.abs(rng.standard_normal((300, 129, 2, 2))).astype(np.float32)
    ref = norbert.wiener(v.copy(), x.copy(), iterations=2, use_softmask=False)
    y0 = v * np.exp(1j * np.angle(x))[..., None]
    scale = max(1.0, float(np.abs(x).max()) / 10.0)
    ours = W._em((y0 / scale).astype(np.complex64), (x / scale).astype(np.complex64), 2,
                 float(np.finfo(np.float32).eps)) * scale
    assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()


def test_chunked_filter_matches_one_pass():
    mix, v, a = _stems(seconds=6.0, seed=2)
    est = {"vocals": v + 0.3 * a, "accompaniment": a + 0.3 * v}
    whole = W.wiener_filter(mix, est, SR, iterations=1, chunk_seconds=60.0)
    chunked = W.wiener_filter(mix, est, SR, iterations=1, chunk_seconds=2.0, overlap_seconds=0.5)
    # per-chunk EM statistics differ a little; the signals agree closely, with no seams
    assert usdr(whole["vocals"], chunked["vocals"]) > 20.0
    assert _residual_db(chunked["vocals"] + chunked["accompaniment"], mix) < -30.0


def test_bad_requests_are_refused():
    mix, v, a = _stems(seconds=1.0)
    with pytest.raises(SeparationError, match="at least two"):
        W.wiener_filter(mix, {"vocals": v}, SR)
    with pytest.raises(SeparationError, match="do not match"):
        W.wiener_filter(mix, {"vocals": v[:, :100], "accompaniment": a[:, :100]}, SR)
    with pytest.raises(SeparationError, match="bad Wiener settings"):
        W.wiener_filter(mix, {"vocals": v, "accompaniment": a}, SR, iterations=-1)


def test_separator_applies_the_filter():
    import torch

    from discovervoice.separation import models as M
    from discovervoice.separation.api import Separator

    torch.manual_seed(0)
    net = M.build_model("mdx23c", dict(M.TINY_MDX23C, num_channels=8, growth=8)).eval()
    mix, _, _ = _stems(seconds=2.0)
    plain = Separator(net).separate(mix, SR)
    filt = Separator(net, wiener=1).separate(mix, SR)
    assert set(plain) == set(filt)
    assert all(filt[k].shape == mix.shape for k in filt)
    # the network's stems, then the filter over all of them
    want = W.wiener_filter(mix, plain, SR, iterations=1)
    for k in filt:
        np.testing.assert_allclose(filt[k], want[k], atol=1e-5)
        assert np.abs(filt[k] - plain[k]).max() > 1e-3
    assert "wiener=1" in repr(Separator(net, wiener=1))
    with pytest.raises(SeparationError, match="wiener"):
        Separator(net, wiener=-2)


def test_norbert_start_without_prior_equals_norbert_wiener():
    norbert = pytest.importorskip("norbert")
    import librosa

    mix, v, a = _stems(seconds=2.0, seed=3)
    est = {"vocals": v + 0.3 * a, "accompaniment": a + 0.3 * v}
    ours = W.wiener_filter(mix, est, SR, iterations=1, vocals_power_gain=1.0, phase_init="mixture")
    x = librosa.stft(mix, n_fft=W.N_FFT, hop_length=W.HOP).transpose(2, 1, 0)
    mag = np.abs(librosa.stft(np.stack([est["vocals"], est["accompaniment"]]), n_fft=W.N_FFT,
                              hop_length=W.HOP)).transpose(3, 2, 1, 0)
    y = norbert.wiener(mag, x, iterations=1, use_softmask=False)
    ref = librosa.istft(y[..., 0].transpose(2, 1, 0), hop_length=W.HOP, n_fft=W.N_FFT, length=mix.shape[1])
    assert usdr(ref, ours["vocals"]) > 40.0


def test_vocals_prior_moves_doubtful_energy_to_the_vocals_and_keeps_the_sum():
    mix, v, a = _stems(seconds=3.0, seed=4)
    # a network that under-estimates the voice: vocals 6 dB too quiet, the rest in the accompaniment
    est = {"vocals": 0.5 * v + 0.1 * a, "accompaniment": a + 0.5 * v}
    energy = {}
    for gain in (1.0, 2.0, 4.0):
        out = W.wiener_filter(mix, est, SR, iterations=1, vocals_power_gain=gain)
        energy[gain] = float(np.sum(out["vocals"] ** 2))
        assert _residual_db(out["vocals"] + out["accompaniment"], mix) < -30.0
    assert energy[1.0] < energy[2.0] < energy[4.0]
    assert usdr(v, W.wiener_filter(mix, est, SR, vocals_power_gain=2.0)["vocals"]) > \
        usdr(v, W.wiener_filter(mix, est, SR, vocals_power_gain=1.0)["vocals"])
    # iterations=0 ignores the prior: the stems' own magnitudes with the mixture's phase
    z1 = W.wiener_filter(mix, est, SR, iterations=0, vocals_power_gain=1.0)
    z4 = W.wiener_filter(mix, est, SR, iterations=0, vocals_power_gain=4.0)
    np.testing.assert_allclose(z1["vocals"], z4["vocals"])
    with pytest.raises(SeparationError, match="bad Wiener settings"):
        W.wiener_filter(mix, est, SR, vocals_power_gain=0.0)
    with pytest.raises(SeparationError, match="bad Wiener settings"):
        W.wiener_filter(mix, est, SR, phase_init="random")

"""SNR mixing maths (through the corpus' mix_at_snr), metrics and classic baselines."""

from __future__ import annotations

import numpy as np
import pytest

from discovervoice.corpus.mix import coloured_noise, mix_at_snr
from discovervoice.enhance import metrics
from discovervoice.enhance.baselines import mmse_stsa, spectral_gating, wiener
from discovervoice.enhance.data import measured_snr_db

SR = 16000


def _voiced(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 130 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase + rng.uniform(0, 6)) / k for k in range(1, 15))
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None)   # syllables with pauses
    return (0.05 * x * env).astype(np.float64)


@pytest.mark.parametrize("snr", [15.0, 20.0, 25.0, -3.0])
def test_mix_at_snr_gives_the_requested_snr(snr):
    rng = np.random.default_rng(1)
    speech = _voiced(2.0)
    noise = coloured_noise(speech.size + 500, "pink", rng) * 0.3
    noisy, scaled, gain = mix_at_snr(speech, noise, snr)
    assert noisy.shape == speech.shape
    np.testing.assert_allclose(noisy, speech + scaled, atol=1e-12)
    np.testing.assert_allclose(scaled, gain * noise[: speech.size])
    assert measured_snr_db(speech, noisy) == pytest.approx(snr, abs=1e-6)


def test_si_sdr_is_scale_invariant_and_matches_the_mixing_snr():
    rng = np.random.default_rng(2)
    s = _voiced(2.0)
    n = rng.standard_normal(s.size)
    n -= n.mean()
    # noise orthogonal to s: SI-SDR of s + n equals the SNR
    n -= np.dot(n, s - s.mean()) / np.dot(s - s.mean(), s - s.mean()) * (s - s.mean())
    noisy, _, _ = mix_at_snr(s - s.mean(), n, 10.0)
    assert metrics.si_sdr(s, noisy) == pytest.approx(10.0, abs=0.05)
    assert metrics.si_sdr(s, 0.3 * noisy) == pytest.approx(metrics.si_sdr(s, noisy), abs=1e-9)
    assert metrics.si_sdr(s, s) > 100


def test_pesq_and_stoi_rank_clean_above_noisy():
    rng = np.random.default_rng(3)
    s = _voiced(3.0)
    noisy, _, _ = mix_at_snr(s, rng.standard_normal(s.size), 0.0)
    assert metrics.pesq_wb(s, s) > 4.0
    assert metrics.pesq_wb(s, noisy) < 2.5
    assert metrics.stoi(s, s) > 0.99
    assert metrics.stoi(s, noisy) < metrics.stoi(s, s)


@pytest.mark.parametrize("method", [mmse_stsa, wiener])
def test_statistical_estimators_improve_si_sdr_and_keep_length(method):
    rng = np.random.default_rng(4)
    s = _voiced(3.0)
    noisy, _, _ = mix_at_snr(s, rng.standard_normal(s.size), 5.0)
    y = method(noisy, SR)
    assert y.shape == noisy.shape
    assert metrics.si_sdr(s, y) > metrics.si_sdr(s, noisy) + 3.0
    two = method(np.stack([noisy, noisy[::-1]]), SR)
    assert two.shape == (2, s.size)
    np.testing.assert_allclose(two[0], y, atol=1e-6)


def test_logmmse_and_unknown_method():
    rng = np.random.default_rng(5)
    s = _voiced(2.0)
    noisy, _, _ = mix_at_snr(s, rng.standard_normal(s.size), 5.0)
    y = mmse_stsa(noisy, SR, method="logmmse")
    assert metrics.si_sdr(s, y) > metrics.si_sdr(s, noisy)
    with pytest.raises(ValueError, match="unknown method"):
        mmse_stsa(noisy, SR, method="magic")


def test_noisereduce_baseline_keeps_shape():
    rng = np.random.default_rng(6)
    s = _voiced(2.0)
    noisy, _, _ = mix_at_snr(s, rng.standard_normal(s.size), 5.0)
    y = spectral_gating(noisy, SR)
    assert y.shape == noisy.shape
    assert metrics.si_sdr(s, y) > metrics.si_sdr(s, noisy)

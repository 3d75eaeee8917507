"""Synthetic test signals for metric checks and benchmarks (numpy + scipy).

:func:`harmonic_voice` makes a speech-like harmonic signal — a sawtooth-like source of
harmonics with 1/k amplitudes through two resonances (formants), syllable-rate amplitude
modulation and a little breath noise — with a known F0 and spectral envelope, so that F0
and MCD metrics have known answers. :func:`sung_phrase` makes seconds of sung-like notes
with pauses for the speed benchmarks of the voice stages.
"""

from __future__ import annotations

import math

import numpy as np


def harmonic_voice(f0_hz: float, seconds: float = 1.2, sr: int = 16000, formant: float = 700.0,
                   vibrato: float = 0.0, seed: int = 0) -> np.ndarray:
    """A speech-like signal ``ndarray[float32, T]`` with peak 0.3.

    Args:
        f0_hz: fundamental frequency in Hz.
        seconds: duration.
        sr: sample rate in Hz.
        formant: first resonance in Hz (the second sits at 2.4 times it).
        vibrato: vibrato depth in semitones (5.5 Hz rate).
        seed: seed of the breath noise.
    """
    from scipy.signal import lfilter

    t = np.arange(int(seconds * sr)) / sr
    f = f0_hz * 2 ** (vibrato * np.sin(2 * np.pi * 5.5 * t) / 12)
    phase = 2 * np.pi * np.cumsum(f) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 30) if k * f0_hz < sr / 2 - 500)
    for fc, bw in ((formant, 120.0), (formant * 2.4, 200.0)):
        r = math.exp(-math.pi * bw / sr)
        y = lfilter([1 - r], [1, -2 * r * math.cos(2 * math.pi * fc / sr), r * r], y)
    env = 0.55 + 0.45 * np.sin(2 * np.pi * 3.0 * t) ** 2
    rng = np.random.default_rng(seed)
    y = y * env + 0.002 * rng.standard_normal(t.size)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def sung_phrase(seconds: float, sr: int = 16000, *, base_hz: float = 220.0, seed: int = 0,
                noise: float = 0.0) -> np.ndarray:
    """Sung-like audio ``ndarray[float32, T]`` (peak 0.3): a note every 0.5 s drawn from
    ``base_hz`` +-5 semitones, 1 % vibrato at 5.5 Hz, harmonics below 7.5 kHz through three
    vowel-like resonances (650 / 1100 / 2700 Hz), a pause every 2.5 s, plus white noise of
    standard deviation ``noise`` (before normalisation)."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = base_hz * 2 ** (rng.integers(-5, 6, size=int(seconds * 2) + 1) / 12)
    f = np.repeat(f0, sr // 2)[:n] * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    ph = np.cumsum(f / sr)
    x = sum(np.sin(2 * np.pi * h * ph) / h * ((h * f) < 7500) for h in range(1, 30))
    for fc, bw in ((650, 80), (1100, 110), (2700, 180)):
        r = np.exp(-np.pi * bw / sr)
        x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * fc / sr), r * r], x)
    x = x * (np.sin(2 * np.pi * 0.4 * t) > -0.8)
    if noise:
        x = x + noise * rng.standard_normal(n)
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)

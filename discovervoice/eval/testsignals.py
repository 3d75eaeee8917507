"""Synthetic test signals for metric checks and benchmarks (numpy + scipy).

:func:`harmonic_voice` makes a speech-like harmonic signal — a sawtooth-like source of
harmonics with 1/k amplitudes through two resonances (formants), syllable-rate amplitude
modulation and a little breath noise — with a known F0 and spectral envelope, so that F0
and MCD metrics have known answers.
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

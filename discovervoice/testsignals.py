"""Synthetic signals with known answers, for the tests and benchmarks of every stage.

(The torchaudio ``get_whitenoise`` / ``get_sinusoid`` habit: tests build their input.)
All generators return mono ``ndarray[float32, T]``; the random ones take a seed or a
``numpy.random.Generator``.

* :func:`harmonic_voice` -- a speech-like harmonic signal (1/k harmonics through two
  formants, syllable-rate amplitude modulation, a little breath noise) with a known F0 and
  spectral envelope, so that F0 and MCD metrics have known answers;
* :func:`random_sung_notes` -- seconds of sung-like notes with pauses (speed benchmarks);
* :func:`harmonic_tone`, :func:`sung_phrase`, :func:`speech_like`, :func:`drum_loop`,
  :func:`silence` -- the voiced / sung / spoken / unpitched-music / silent material of the
  dataset-preparation tests (segmentation, diarization, slicing, sex and voice type).

Libraries: numpy, scipy.signal (resonance filters).
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


def random_sung_notes(seconds: float, sr: int = 16000, *, base_hz: float = 220.0, seed: int = 0,
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


def harmonic_tone(f0: float | np.ndarray, seconds: float, sample_rate: int = 16_000, *,
                  n_harmonics: int = 12, amplitude: float = 0.3, vibrato_hz: float = 0.0,
                  vibrato_semitones: float = 0.0, formants: tuple[float, ...] = ()) -> np.ndarray:
    """A voiced, vowel-like tone: harmonics of ``f0`` (Hz, constant or one value per
    sample) with 1/k amplitudes, optional vibrato and a formant-like spectral tilt
    (``formants``: centre frequencies, Hz, each a resonance of 120 Hz bandwidth)."""
    f0 = np.asarray(f0, dtype=np.float64)
    n = len(f0) if f0.ndim == 1 else int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f = np.broadcast_to(f0, (n,)).copy()
    if vibrato_hz > 0:
        f *= 2 ** (vibrato_semitones * np.sin(2 * np.pi * vibrato_hz * t) / 12)
    phase = 2 * np.pi * np.cumsum(f) / sample_rate
    x = np.zeros(n)
    for k in range(1, n_harmonics + 1):
        fk = k * f
        gain = 1.0 / k
        if formants:
            gain *= sum(1.0 / (1.0 + ((fk - fc) / 120.0) ** 2) for fc in formants) + 0.05
        x += np.where(fk < sample_rate / 2, gain, 0.0) * np.sin(k * phase)
    x *= amplitude / (np.max(np.abs(x)) + 1e-12)
    fade = min(n // 2, int(0.01 * sample_rate))
    if fade > 0:
        ramp = np.linspace(0, 1, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    return x.astype(np.float32)


def sung_phrase(notes_hz: list[float], note_seconds: float = 0.5, sample_rate: int = 16_000,
                amplitude: float = 0.3) -> np.ndarray:
    """Held notes (5.5 Hz, ±0.3 semitone vibrato), legato: a singing-like voice."""
    f = np.concatenate([np.full(int(note_seconds * sample_rate), hz) for hz in notes_hz])
    return harmonic_tone(f, len(f) / sample_rate, sample_rate, amplitude=amplitude,
                         vibrato_hz=5.5, vibrato_semitones=0.3)


def speech_like(seconds: float, rng: np.random.Generator, sample_rate: int = 16_000,
                f0: float = 120.0, amplitude: float = 0.3) -> np.ndarray:
    """Speech-like bursts: ~4 syllables per second, each a short voiced part with a
    gliding F0 (±3 semitones) followed by an unvoiced noise burst and a short gap."""
    out = []
    total = int(seconds * sample_rate)
    n = 0
    while n < total:
        v = rng.uniform(0.08, 0.16)
        glide = f0 * 2 ** (rng.uniform(-3, 3, 2) / 12)
        m = int(v * sample_rate)
        f = np.linspace(glide[0], glide[1], m)
        syl = harmonic_tone(f, v, sample_rate, amplitude=amplitude)
        noise = rng.normal(0, amplitude / 4, int(rng.uniform(0.04, 0.08) * sample_rate))
        gap = np.zeros(int(rng.uniform(0.02, 0.06) * sample_rate))
        out += [syl, noise.astype(np.float32), gap.astype(np.float32)]
        n += len(syl) + len(noise) + len(gap)
    return np.concatenate(out)[:total].astype(np.float32)


def drum_loop(seconds: float, rng: np.random.Generator, sample_rate: int = 16_000,
              bpm: float = 120.0, amplitude: float = 0.4) -> np.ndarray:
    """Unpitched music: decaying noise hits on every beat (kick/snare-like)."""
    n = int(seconds * sample_rate)
    x = np.zeros(n)
    step = int(60.0 / bpm / 2 * sample_rate)
    hit = int(0.12 * sample_rate)
    env = np.exp(-np.arange(hit) / (0.03 * sample_rate))
    for s in range(0, n - hit, step):
        x[s:s + hit] += rng.normal(0, 1, hit) * env
    x *= amplitude / (np.max(np.abs(x)) + 1e-12)
    return x.astype(np.float32)


def silence(seconds: float, sample_rate: int = 16_000) -> np.ndarray:
    return np.zeros(int(round(seconds * sample_rate)), np.float32)

"""Mixing helpers: SNR mixing, gains, constant-power panning, reverb, coloured noise.

Pure numpy/scipy; every function is deterministic given its inputs (random ones take a
``numpy.random.Generator``). :func:`mix_at_snr` is the classic speech-enhancement data
recipe (e.g. the DNS Challenge / VoiceBank-DEMAND scripts): the noise is scaled by RMS so
that ``20*log10(rms(speech)/rms(gain*noise)) == snr_db``.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter, oaconvolve

from discovervoice.errors import AudioError


def rms(x: np.ndarray) -> float:
    """Root mean square over all samples (any shape)."""
    x = np.asarray(x)
    if not x.size:
        return 0.0
    flat = x.reshape(-1)
    return float(np.sqrt(np.dot(flat, flat) / flat.size))


def db_to_gain(db: float) -> float:
    """Amplitude gain for ``db`` decibels."""
    return float(10.0 ** (db / 20.0))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float
               ) -> tuple[np.ndarray, np.ndarray, float]:
    """Mix ``speech`` and ``noise`` at ``snr_db``.

    Args:
        speech: ``ndarray[T]`` or ``ndarray[C, T]`` clean signal.
        noise: same rank as ``speech`` (same ``C``); any length.
        snr_db: wanted signal-to-noise ratio in dB.

    Returns:
        ``(noisy, scaled_noise, gain)``: ``noisy = speech + scaled_noise`` and
        ``scaled_noise = gain * noise``, both cut to ``min(len(speech), len(noise))``
        (the longer signal is cut to the shorter), with
        ``gain = rms_speech / (rms_noise * 10**(snr_db/20))`` measured on the cut signals.

    Raises:
        AudioError: shapes that do not match, empty or silent input.
    """
    s = np.asarray(speech, dtype=np.float64)
    n = np.asarray(noise, dtype=np.float64)
    if s.ndim != n.ndim or (s.ndim == 2 and s.shape[0] != n.shape[0]) or s.ndim not in (1, 2):
        raise AudioError(f"mix_at_snr: speech {s.shape} and noise {n.shape} must both be "
                         "[T] or [C, T] with the same C")
    t = min(s.shape[-1], n.shape[-1])
    if t == 0:
        raise AudioError("mix_at_snr: empty speech or noise")
    s, n = s[..., :t], n[..., :t]
    rs, rn = rms(s), rms(n)
    if rs == 0.0 or rn == 0.0:
        raise AudioError(f"mix_at_snr: silent {'speech' if rs == 0.0 else 'noise'}; "
                         "SNR undefined")
    gain = rs / (rn * 10.0 ** (snr_db / 20.0))
    scaled = gain * n
    return s + scaled, scaled, float(gain)


def snr_db(clean: np.ndarray, noise: np.ndarray) -> float:
    """Measured SNR in dB of ``clean`` against ``noise`` (same length)."""
    return float(20.0 * np.log10(rms(clean) / rms(noise)))


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law. ``pan`` in [-1 (left), 1 (right)] -> (gain_l, gain_r)."""
    theta = (float(np.clip(pan, -1.0, 1.0)) + 1.0) * np.pi / 4.0
    return float(np.cos(theta)), float(np.sin(theta))


def pan_mono(x: np.ndarray, pan: float) -> np.ndarray:
    """``ndarray[T]`` mono -> ``ndarray[2, T]`` stereo with constant-power panning."""
    gl, gr = pan_gains(pan)
    return np.stack([gl * x, gr * x])


def synthetic_ir(sr: int, rt60: float, rng: np.random.Generator, *, channels: int = 2,
                 predelay: float = 0.01) -> np.ndarray:
    """A simple room impulse response: ``ndarray[C, T]`` of decaying noise.

    Exponentially decaying Gaussian noise (decay set by ``rt60`` in seconds, -60 dB at
    ``rt60``), low-passed by a one-pole filter, a unit direct path, normalised so that
    the reverberant part has energy 1/3 of the direct path. Decorrelated per channel.
    """
    n = int(sr * rt60)
    t = np.arange(n) / sr
    env = np.exp(-6.907755 * t / rt60)          # ln(1000) = 6.9078: -60 dB at rt60
    tail = rng.standard_normal((channels, n)) * env
    # gentle one-pole low-pass (air absorption)
    tail = lfilter([0.4], [1.0, -0.6], tail, axis=1)
    tail /= np.sqrt(np.sum(tail ** 2, axis=1, keepdims=True) * 3.0)
    pd = int(sr * predelay)
    ir = np.zeros((channels, pd + n))
    ir[:, 0] = 1.0
    ir[:, pd:] += tail
    return ir


def apply_reverb(x: np.ndarray, ir: np.ndarray, wet: float) -> np.ndarray:
    """``ndarray[C, T]`` -> ``ndarray[C, T]``: ``(1-wet)*x + wet*(x conv ir)``, cut to T.
    Overlap-add convolution (scipy ``oaconvolve``) in the input's precision."""
    ir = ir.astype(x.dtype, copy=False)
    chans = np.arange(x.shape[0]) % ir.shape[0]
    wet_sig = oaconvolve(x, ir[chans], axes=1)[:, : x.shape[1]]
    return (1.0 - wet) * x + wet * wet_sig


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """``ndarray[n]`` Gaussian noise with a power spectrum ~ f**k.

    ``colour``: ``white`` (k=0), ``pink`` (-1), ``brown`` (-2), ``blue`` (+1),
    ``violet`` (+2). Unit RMS.
    """
    k = {"white": 0, "pink": -1, "brown": -2, "blue": 1, "violet": 2}.get(colour)
    if k is None:
        raise ValueError(f"unknown noise colour {colour!r}")
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    spec *= f ** (k / 2.0)
    spec[0] = 0.0
    y = np.fft.irfft(spec, n)
    return y / (rms(y) or 1.0)

"""Mixing helpers: SNR mixing, gains, constant-power panning, reverb, coloured noise.

Pure numpy (FFTs through ``scipy.fft``, pocketfft, one thread); every function is
deterministic given its inputs (random ones take a ``numpy.random.Generator``).
``scipy.signal`` is not imported: it costs ~0.7 CPU-s per worker process to import, more
than the reverb itself. :func:`mix_at_snr` is the classic speech-enhancement data
recipe (e.g. the DNS Challenge / VoiceBank-DEMAND scripts): the noise is scaled by RMS so
that ``20*log10(rms(speech)/rms(gain*noise)) == snr_db``.
"""

from __future__ import annotations

import numpy as np

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
    # gentle one-pole low-pass (air absorption) y[i] = 0.4 x[i] + 0.6 y[i-1], applied as
    # its impulse response 0.4 * 0.6**k cut where it falls below 1e-16 (72 taps)
    h = 0.4 * 0.6 ** np.arange(_ONE_POLE_TAPS)
    tail = np.stack([np.convolve(c, h)[:n] for c in tail])
    tail /= np.sqrt(np.sum(tail ** 2, axis=1, keepdims=True) * 3.0)
    pd = int(sr * predelay)
    ir = np.zeros((channels, pd + n))
    ir[:, 0] = 1.0
    ir[:, pd:] += tail
    return ir


_ONE_POLE_TAPS = 72


class Convolver:
    """Convolution of ``ndarray[C, T]`` signals of one length ``T`` with one impulse
    response ``ir`` (``ndarray[C_ir, L]``; channel ``c`` uses ``ir[c % C_ir]``).

    One FFT of size ``next_fast_len(T + L - 1)`` per channel (``scipy.fft``), the IR's
    spectrum computed once and shared by every signal (the stems of a song), in
    ``dtype`` (float32 -> complex64 FFTs). Linear, not circular: the result is exactly
    ``(x conv ir)[:, :T]`` up to rounding. With ``wet``, the dry/wet mix
    ``(1-wet)*x + wet*(x conv ir)`` is the convolution with ``(1-wet)*delta + wet*ir``,
    whose spectrum is ``(1-wet) + wet*H``: no extra pass over the signal.
    """

    def __init__(self, ir: np.ndarray, length: int, dtype=np.float32):
        import scipy.fft as sfft

        self._fft = sfft
        self.length = int(length)
        self.nfft = sfft.next_fast_len(self.length + ir.shape[1] - 1, real=True)
        self.spectrum = sfft.rfft(np.asarray(ir, dtype=dtype), self.nfft, axis=1)
        self.dtype = np.dtype(dtype)
        self._mixed: dict[tuple[float, int], np.ndarray] = {}

    def _spectrum(self, wet: float | None, channels: int) -> np.ndarray:
        key = (-1.0 if wet is None else float(wet), channels)
        if key not in self._mixed:
            h = self.spectrum
            if h.shape[0] != channels:
                h = h[np.arange(channels) % h.shape[0]]
            if wet is not None:
                h = h * h.real.dtype.type(wet)
                h += h.real.dtype.type(1.0 - wet)
            self._mixed[key] = h
        return self._mixed[key]

    def __call__(self, x: np.ndarray, wet: float | None = None) -> np.ndarray:
        """``ndarray[C, T]`` -> ``(x conv ir)[:, :T]`` (``wet=None``) or
        ``(1-wet)*x + wet*(x conv ir)``, as ``ndarray[C, T]`` of ``dtype``.

        Raises:
            AudioError: ``x`` is not ``T`` samples long.
        """
        if x.shape[-1] != self.length:
            raise AudioError(f"Convolver made for {self.length} samples, got {x.shape[-1]}")
        X = self._fft.rfft(np.asarray(x, dtype=self.dtype), self.nfft, axis=1)
        X *= self._spectrum(wet, x.shape[0])
        return self._fft.irfft(X, self.nfft, axis=1)[:, : self.length]


def apply_reverb(x: np.ndarray, ir: np.ndarray | Convolver, wet: float) -> np.ndarray:
    """``ndarray[C, T]`` -> ``ndarray[C, T]``: ``(1-wet)*x + wet*(x conv ir)``, cut to T.

    ``ir``: ``ndarray[C_ir, L]`` or a :class:`Convolver` made for length ``T`` (pass one
    to share the IR's FFT among several signals). FFT convolution in the input's
    precision (float32 in, float32 out)."""
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    conv = ir if isinstance(ir, Convolver) else Convolver(ir, x.shape[-1], dtype)
    return conv(x, wet)


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

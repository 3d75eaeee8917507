"""Band filters for dataset slices: high-pass, low-pass and notch (scipy.signal).

High-/low-pass are Butterworth filters in second-order sections, notches are
``scipy.signal.iirnotch`` (a second-order IIR notch of quality ``Q``: bandwidth
``f / Q`` at -3 dB); all run forward-backward (``sosfiltfilt`` / ``filtfilt``), so they add
no phase shift or delay and the slice boundaries stay where they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from discovervoice.errors import DiscoverVoiceError


class FilterError(DiscoverVoiceError):
    """A filter setting that cannot work at the signal's sample rate."""


@dataclass(frozen=True)
class FilterSpec:
    """Filters to apply, in this order: high-pass, low-pass, each notch.

    Attributes:
        highpass_hz: cut-off of the high-pass (removes rumble), Hz, or ``None``.
        lowpass_hz: cut-off of the low-pass (removes hiss), Hz, or ``None``.
        notches: ``((frequency_hz, q), ...)`` — e.g. ``((50.0, 30.0),)`` for mains hum.
        order: Butterworth order of the pass filters (applied twice: forward-backward).
    """

    highpass_hz: float | None = None
    lowpass_hz: float | None = None
    notches: tuple[tuple[float, float], ...] = field(default_factory=tuple)
    order: int = 4

    @property
    def empty(self) -> bool:
        return self.highpass_hz is None and self.lowpass_hz is None and not self.notches


def _check_freq(f: float, sample_rate: int, what: str) -> None:
    nyq = sample_rate / 2
    if not 0 < f < nyq:
        raise FilterError(f"{what} frequency {f} Hz must lie between 0 and the Nyquist "
                          f"frequency {nyq:g} Hz of a {sample_rate} Hz signal")


def highpass(audio: np.ndarray, sample_rate: int, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth high-pass of ``ndarray[..., T]`` (cut-off in Hz)."""
    from scipy.signal import butter, sosfiltfilt

    _check_freq(cutoff_hz, sample_rate, "high-pass")
    sos = butter(order, cutoff_hz, btype="highpass", fs=sample_rate, output="sos")
    return _apply_sos(sos, audio, sosfiltfilt)


def lowpass(audio: np.ndarray, sample_rate: int, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass of ``ndarray[..., T]`` (cut-off in Hz)."""
    from scipy.signal import butter, sosfiltfilt

    _check_freq(cutoff_hz, sample_rate, "low-pass")
    sos = butter(order, cutoff_hz, btype="lowpass", fs=sample_rate, output="sos")
    return _apply_sos(sos, audio, sosfiltfilt)


def notch(audio: np.ndarray, sample_rate: int, freq_hz: float, q: float = 30.0) -> np.ndarray:
    """Zero-phase IIR notch at ``freq_hz`` with quality ``q`` (bandwidth ``freq/q``)."""
    from scipy.signal import iirnotch, tf2sos, sosfiltfilt

    _check_freq(freq_hz, sample_rate, "notch")
    if q <= 0:
        raise FilterError(f"notch Q must be > 0, got {q}")
    b, a = iirnotch(freq_hz, q, fs=sample_rate)
    # pad by ~5 time constants of the resonance (tau = Q / (pi f)) so the edges settle
    pad = int(5 * q / (np.pi * freq_hz) * sample_rate)
    return _apply_sos(tf2sos(b, a), audio, sosfiltfilt, pad)


def _apply_sos(sos, audio, fn, padlen: int | None = None) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    if x.shape[-1] < 2:
        return x.astype(np.float32)
    if padlen is None:
        padlen = 3 * (2 * len(sos) + 1)
    padlen = min(padlen, x.shape[-1] - 1)
    return fn(sos, x, axis=-1, padtype="odd", padlen=max(0, padlen)).astype(np.float32)


def apply_filters(audio: np.ndarray, sample_rate: int, spec: FilterSpec) -> np.ndarray:
    """Apply every filter of ``spec`` to ``ndarray[C, T]`` (or ``[T]``); returns float32.

    Raises:
        FilterError: a frequency outside (0, Nyquist) or a non-positive Q.
    """
    x = np.asarray(audio, dtype=np.float32)
    if spec.highpass_hz is not None:
        x = highpass(x, sample_rate, spec.highpass_hz, spec.order)
    if spec.lowpass_hz is not None:
        x = lowpass(x, sample_rate, spec.lowpass_hz, spec.order)
    for f, q in spec.notches:
        x = notch(x, sample_rate, f, q)
    return x


def parse_notch(text: str) -> tuple[float, float]:
    """``"50"`` -> ``(50.0, 30.0)``; ``"60:20"`` or ``"60,20"`` -> ``(60.0, 20.0)`` (Hz, Q)."""
    parts = text.replace(",", ":").split(":")
    try:
        f = float(parts[0])
        q = float(parts[1]) if len(parts) > 1 else 30.0
    except (ValueError, IndexError) as exc:
        raise FilterError(f"notch {text!r}: expected FREQ or FREQ:Q, e.g. 50 or 60:20") from exc
    return f, q

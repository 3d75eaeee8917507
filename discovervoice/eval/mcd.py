"""Mel-cepstral distortion (MCD) with dynamic-time-warping alignment.

Libraries and sources:
    * **pyworld** (WORLD, Morise et al. 2016): DIO + StoneMask F0 and the CheapTrick
      spectral envelope (power spectrum), 5 ms frames.
    * **pysptk** (SPTK): ``sp2mc`` turns the envelope into an ``order``-th mel-cepstrum
      with all-pass constant ``alpha`` (SPTK convention ``log |H(w)| = sum_m c_m cos(m w)``,
      one-sided); ``sptk.mcep`` serves the SPTK analysis of windowed frames.
    * **librosa** ``sequence.dtw``: exact DTW on the Euclidean distance between
      mel-cepstra (c1..cM), the alignment used for the distortion.
    * **fastdtw** (optional): only for the ``pymcd`` mode, as in pymcd.

Definition (Kubichek, "Mel-cepstral distance measure for objective speech quality
assessment", 1993)::

    MCD = (10 / ln 10) * sqrt(2 * sum_{d=d0}^{M} (c_d - c'_d)^2)   [dB]

averaged over the aligned frame pairs of the DTW path; ``d0 = 1`` (c0, the frame's
energy, excluded) by default.

Defaults (stated in every result's ``settings``): audio resampled to 22 050 Hz mono,
WORLD analysis with ``fft_size`` 1024, mel-cepstrum order 24 (c1..c24 compared), ``alpha``
0.455 (``pysptk.util.mcepalpha(22050)``), exact DTW.

``mode="pymcd"`` reproduces pymcd 0.2 (chenqi008/pymcd ``Calculate_MCD("dtw")``): 22 050
Hz, ``pyworld.wav2world`` with ``fft_size`` 512, ``sptk.mcep(order=13, alpha=0.65,
itype=3)``, fastdtw on c1..c13, and the distance over c0..c13 (c0 included). pymcd passes
WORLD's power envelope as an amplitude spectrum (``itype=3``), so its coefficients are not
the SPTK-convention mel-cepstrum of the envelope (``itype=4`` / ``sp2mc`` are) and its
values are not comparable with the default mode; use it only next to published pymcd
numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from discovervoice.errors import AudioError
from discovervoice.signals import mcep_alpha, to_mono

#: Rate of pymcd's recipe (``mode="pymcd"``), Hz.
PYMCD_RATE = 22050

#: ``10 / ln(10) * sqrt(2)``: the dB constant of MCD.
MCD_CONST = 10.0 / math.log(10.0) * math.sqrt(2.0)
DEFAULT_SAMPLE_RATE = 22050
DEFAULT_ORDER = 24
DEFAULT_FRAME_PERIOD_MS = 5.0
DEFAULT_FFT_SIZE = 1024


def mel_cepstrum(audio: np.ndarray, sample_rate: int, *, order: int = DEFAULT_ORDER,
                 alpha: float | None = None, frame_period_ms: float = DEFAULT_FRAME_PERIOD_MS,
                 fft_size: int = DEFAULT_FFT_SIZE, analysis: str = "world") -> np.ndarray:
    """Mel-cepstra of a signal, ``ndarray[N, order + 1]`` (c0..c_order per frame).

    Args:
        audio: ``ndarray[T]`` or ``[C, T]`` (channels averaged), at ``sample_rate`` Hz.
        order: mel-cepstrum order M.
        alpha: all-pass constant; default :func:`discovervoice.signals.mcep_alpha` of ``sample_rate``.
        frame_period_ms: hop in milliseconds.
        fft_size: FFT length of the envelope (WORLD) or frame (SPTK).
        analysis: ``"world"`` (DIO + StoneMask + CheapTrick envelope, then ``sp2mc``) or
            ``"sptk"`` (Blackman-windowed frames of ``fft_size`` samples, ``sptk.mcep``
            with 2 iterations of the UELS mel-cepstral analysis).

    Raises:
        AudioError: bad shape or values; ValueError for an unknown ``analysis``.
    """
    import pysptk

    x = to_mono(audio, sample_rate, name="audio", dtype=np.float64)
    a = mcep_alpha(sample_rate) if alpha is None else float(alpha)
    if analysis == "world":
        import pyworld

        f0, t = pyworld.dio(x, sample_rate, frame_period=frame_period_ms)
        f0 = pyworld.stonemask(x, f0, t, sample_rate)
        sp = pyworld.cheaptrick(x, f0, t, sample_rate, fft_size=fft_size)
        sp = np.maximum(sp, 1e-16)
        return pysptk.sp2mc(sp, order=order, alpha=a)
    if analysis == "sptk":
        hop = max(1, int(round(sample_rate * frame_period_ms / 1000.0)))
        if x.size < fft_size:
            x = np.pad(x, (0, fft_size - x.size))
        frames = np.lib.stride_tricks.sliding_window_view(x, fft_size)[::hop]
        frames = frames * pysptk.blackman(fft_size)
        # A tiny dither keeps the analysis defined on digital silence.
        frames = frames + 1e-9 * np.random.default_rng(0).standard_normal(frames.shape)
        return np.stack([pysptk.mcep(f, order=order, alpha=a, maxiter=2, etype=1, eps=1e-8,
                                     min_det=0.0) for f in frames])
    raise ValueError(f"unknown analysis {analysis!r}; use 'world' or 'sptk'")


def dtw_path(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Exact DTW path between ``ndarray[N, D]`` and ``ndarray[K, D]`` (Euclidean cost).

    Returns ``ndarray[L, 2]`` of frame index pairs ``(i, j)`` in increasing order (librosa
    ``sequence.dtw`` with the standard (1,1), (0,1), (1,0) steps).
    """
    import librosa

    _, wp = librosa.sequence.dtw(X=np.asarray(x, dtype=np.float64).T,
                                 Y=np.asarray(y, dtype=np.float64).T, metric="euclidean")
    return np.asarray(wp[::-1], dtype=np.int64)


def mcd_from_mcep(ref: np.ndarray, est: np.ndarray, *, path: np.ndarray | None = None,
                  include_c0: bool = False) -> float:
    """MCD in dB between two mel-cepstrum sequences along ``path``.

    Args:
        ref, est: ``ndarray[N, M + 1]`` and ``ndarray[K, M + 1]`` (c0 first).
        path: ``ndarray[L, 2]`` aligned index pairs; ``None`` pairs frames one to one
            (the sequences must then have the same length).
        include_c0: also compare c0 (energy).

    Returns:
        ``mean over pairs of (10 / ln 10) sqrt(2 sum_d (c_d - c'_d)^2)``.

    Raises:
        AudioError: dimensions differ, or lengths differ without a path.
    """
    r = np.atleast_2d(np.asarray(ref, dtype=np.float64))
    e = np.atleast_2d(np.asarray(est, dtype=np.float64))
    if r.shape[1] != e.shape[1]:
        raise AudioError(f"mel-cepstrum orders differ: {r.shape[1] - 1} and {e.shape[1] - 1}")
    if path is None:
        if r.shape[0] != e.shape[0]:
            raise AudioError(f"frame counts differ ({r.shape[0]} and {e.shape[0]}) and no "
                             "alignment path was given")
        pr, pe = r, e
    else:
        p = np.asarray(path)
        pr, pe = r[p[:, 0]], e[p[:, 1]]
    d0 = 0 if include_c0 else 1
    diff = pr[:, d0:] - pe[:, d0:]
    return float(MCD_CONST * np.mean(np.sqrt(np.sum(diff * diff, axis=1))))


@dataclass
class MCDResult:
    """MCD of one pair: ``mcd`` in dB, number of aligned ``frames``, and the settings."""

    mcd: float
    frames: int
    ref_frames: int
    est_frames: int
    settings: dict = field(default_factory=dict)
    path: np.ndarray | None = None


def mcd(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, *,
        mode: str = "default", order: int = DEFAULT_ORDER, alpha: float | None = None,
        analysis: str = "world", include_c0: bool = False, align: str = "dtw",
        analysis_rate: int = DEFAULT_SAMPLE_RATE,
        frame_period_ms: float = DEFAULT_FRAME_PERIOD_MS,
        fft_size: int = DEFAULT_FFT_SIZE) -> MCDResult:
    """Mel-cepstral distortion between a reference and an estimate, in dB.

    Both signals are mixed to mono and resampled (soxr) to ``analysis_rate``; mel-cepstra
    come from :func:`mel_cepstrum`; frames are aligned by exact DTW on c1..cM (or paired
    one to one with ``align="none"``, after zero-padding the shorter signal as pymcd
    does); the mean distance over the path is returned. 0 for identical audio; symmetric.

    Args:
        reference, estimate: ``ndarray[C, T]`` or ``[T]`` at ``sample_rate`` Hz.
        mode: ``"default"`` (the settings below) or ``"pymcd"`` (pymcd 0.2's recipe,
            see the module docstring; the other settings are then ignored).
        order, alpha, analysis, fft_size, frame_period_ms: see :func:`mel_cepstrum`.
        include_c0: compare c0 as well (default: excluded).
        align: ``"dtw"`` or ``"none"``.
        analysis_rate: Hz at which the mel-cepstra are computed.

    Raises:
        AudioError: bad input; ValueError for an unknown mode / align.
    """
    if mode not in ("default", "pymcd"):
        raise ValueError(f"unknown MCD mode {mode!r}; use 'default' or 'pymcd'")
    rate = PYMCD_RATE if mode == "pymcd" else analysis_rate
    x = to_mono(reference, sample_rate, rate, name="reference", dtype=np.float64)
    y = to_mono(estimate, sample_rate, rate, name="estimate", dtype=np.float64)
    if mode == "pymcd":
        return _mcd_pymcd(x, y, align)
    if align not in ("dtw", "none"):
        raise ValueError(f"unknown alignment {align!r}; use 'dtw' or 'none'")
    if align == "none":
        n = max(x.size, y.size)
        x, y = np.pad(x, (0, n - x.size)), np.pad(y, (0, n - y.size))
    a = mcep_alpha(analysis_rate) if alpha is None else float(alpha)
    kw = dict(order=order, alpha=a, frame_period_ms=frame_period_ms, fft_size=fft_size,
              analysis=analysis)
    cr = mel_cepstrum(x, analysis_rate, **kw)
    ce = mel_cepstrum(y, analysis_rate, **kw)
    path = dtw_path(cr[:, 1:], ce[:, 1:]) if align == "dtw" else None
    value = mcd_from_mcep(cr, ce, path=path, include_c0=include_c0)
    settings = {"mode": "default", "analysis": analysis, "analysis_rate_hz": analysis_rate,
                "order": order, "alpha": a, "frame_period_ms": frame_period_ms,
                "fft_size": fft_size, "include_c0": include_c0,
                "align": "exact DTW (librosa), Euclidean on c1..cM" if align == "dtw" else "none"}
    frames = len(path) if path is not None else cr.shape[0]
    return MCDResult(value, frames, cr.shape[0], ce.shape[0], settings, path)


def _mcd_pymcd(x: np.ndarray, y: np.ndarray, align: str) -> MCDResult:
    """pymcd's recipe on mono signals already at :data:`PYMCD_RATE`."""
    import pysptk
    import pyworld

    sr = PYMCD_RATE
    if align == "none":
        n = max(x.size, y.size)
        x, y = np.pad(x, (0, n - x.size)), np.pad(y, (0, n - y.size))

    def mcep(sig: np.ndarray) -> np.ndarray:
        _, sp, _ = pyworld.wav2world(np.ascontiguousarray(sig), fs=sr, frame_period=5.0,
                                     fft_size=512)
        return pysptk.sptk.mcep(sp, order=13, alpha=0.65, maxiter=0, etype=1, eps=1.0e-8,
                                min_det=0.0, itype=3)

    cr, ce = mcep(x), mcep(y)
    if align == "none":
        path = np.stack([np.arange(cr.shape[0])] * 2, axis=1)
        how = "none"
    else:
        try:
            from fastdtw import fastdtw
            from scipy.spatial.distance import euclidean
        except ImportError:
            path = dtw_path(cr[:, 1:], ce[:, 1:])
            how = "exact DTW (fastdtw not installed)"
        else:
            _, p = fastdtw(cr[:, 1:], ce[:, 1:], dist=euclidean)
            path = np.asarray(p, dtype=np.int64)
            how = "fastdtw radius 1, Euclidean on c1..c13"
    value = mcd_from_mcep(cr, ce, path=path, include_c0=True)
    settings = {"mode": "pymcd", "analysis": "pyworld.wav2world + sptk.mcep(itype=3)",
                "analysis_rate_hz": sr, "order": 13, "alpha": 0.65, "frame_period_ms": 5.0,
                "fft_size": 512, "include_c0": True, "align": how}
    return MCDResult(value, len(path), cr.shape[0], ce.shape[0], settings, path)

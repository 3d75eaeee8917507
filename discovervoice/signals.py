"""Signal helpers every stage shares: mono at a rate, the 10 ms analysis grid, voice
activity detection, slicing at quiet points and WORLD F0 extraction.

* :func:`to_mono` — ``ndarray[C, T]`` / ``[T]`` at any rate -> mono ``ndarray[T]`` at the
  rate a stage needs, either resampled (``mismatch="resample"``, soxr through
  :func:`discovervoice.audio.resample`) or refused with an :class:`AudioError`
  (``mismatch="refuse"``: stages whose callers must resample, DESIGN.md).
* The analysis grid: :data:`ANALYSIS_RATE` (16 kHz) audio, hop :data:`HOP` (10 ms), frame
  :data:`WIN` (25 ms); frame ``i`` covers ``[i * 0.01, i * 0.01 + 0.025)`` s.
  :func:`n_frames`, :func:`energy_db`, :func:`moving_average` live on it.
* Voice activity: :func:`speech_probability` (silero-vad, Silero Team 2024, MIT: its
  ONNX model ships inside the ``silero-vad`` wheel, run with onnxruntime, no download),
  per 10 ms frame; :func:`voiced_regions`, sample ranges with voice from one of three
  backends — ``webrtc`` (webrtcvad's GMM gated by level: speech *and* singing),
  ``silero`` (speech; it misses most sustained singing) or ``energy`` (a level gate).
* :func:`slice_at_quiet_points` — cut a signal into pieces between a minimum and a
  maximum length at its quietest points (the RVC-WebUI / so-vits-svc ``slicer2`` idea,
  made length-bounded).
* :func:`world_f0` — F0 contour with pyworld (WORLD, Morise et al. 2016): Harvest (Morise
  2017, robust on singing) or DIO + StoneMask (faster).
* :func:`mcep_alpha` — the frequency-warping constant of mel-cepstra at a rate (SPTK's), shared
  by the WORLD voice (analysis / synthesis) and the MCD metric.

Libraries: numpy, soxr (resampling, via :mod:`discovervoice.audio`), silero-vad +
onnxruntime, webrtcvad, pyworld, pysptk.
"""

from __future__ import annotations

import functools
import threading
from typing import Literal

import numpy as np

from discovervoice.errors import AudioError

#: Sample rate (Hz) of the 10 ms analysis grid (VAD, energies, F0 for prep and classify).
ANALYSIS_RATE = 16_000
#: Hop of the analysis grid, in samples (10 ms at 16 kHz).
HOP = 160
#: Frame length of the energy analysis, in samples (25 ms at 16 kHz).
WIN = 400
#: Frames per second of the analysis grid.
FRAME_RATE = ANALYSIS_RATE / HOP
#: silero-vad frame, in samples at 16 kHz (32 ms).
VAD_FRAME = 512

VadBackend = Literal["silero", "webrtc", "energy"]


# --------------------------------------------------------------------------- mono / rate

def to_mono(audio: np.ndarray, sample_rate: int, rate: int | None = None, *,
            mismatch: Literal["resample", "refuse"] = "resample", name: str = "input",
            dtype: type = np.float32, allow_empty: bool = False) -> np.ndarray:
    """Average the channels and bring the signal to ``rate``.

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]`` at ``sample_rate`` Hz.
        sample_rate: its rate, Hz.
        rate: the rate wanted, Hz (``None``: keep ``sample_rate``).
        mismatch: ``"resample"`` (soxr) or ``"refuse"`` a signal at another rate.
        name: how error messages name the signal (a file name, "reference", ...).
        dtype: output sample type (float32, or float64 for WORLD / SPTK analyses).
        allow_empty: accept a signal of 0 samples (returned empty).

    Returns:
        ``ndarray[T']`` of ``dtype`` at ``rate`` Hz, contiguous.

    Raises:
        AudioError: not 1-D or 2-D, empty (unless allowed), NaN or infinite samples, or a
            rate other than ``rate`` with ``mismatch="refuse"``.
    """
    a = np.asarray(audio)
    if a.ndim == 2:
        a = a.mean(axis=0, dtype=np.float64 if dtype == np.float64 else np.float32)
    if a.ndim != 1:
        raise AudioError(f"{name}: expected audio of shape [C, T] or [T], got {np.shape(audio)}")
    if a.size == 0 and not allow_empty:
        raise AudioError(f"{name}: empty audio (0 samples)")
    a = a.astype(dtype, copy=False)
    if not np.all(np.isfinite(a)):
        raise AudioError(f"{name}: audio contains NaN or infinite samples")
    if rate is not None and int(sample_rate) != int(rate):
        if mismatch == "refuse":
            raise AudioError(f"{name}: expected {rate} Hz audio, got {sample_rate} Hz "
                             "(resample with discovervoice.audio.resample first)")
        if mismatch != "resample":
            raise ValueError(f"mismatch must be 'resample' or 'refuse', got {mismatch!r}")
        from discovervoice.audio import resample

        a = resample(a, int(sample_rate), int(rate)).astype(dtype, copy=False) if a.size else a
    return np.ascontiguousarray(a)


# --------------------------------------------------------------------------- analysis grid

def n_frames(n_samples: int) -> int:
    """Frames on the analysis grid for ``n_samples`` samples at 16 kHz (at least 1)."""
    return max(1, int(np.ceil(n_samples / HOP)))


def energy_db(x16: np.ndarray, floor_db: float = -120.0) -> np.ndarray:
    """Frame RMS level in dBFS, ``ndarray[N]`` on the 10 ms grid (25 ms windows, centred)."""
    x = np.asarray(x16, dtype=np.float64)
    n = n_frames(len(x))
    pad = np.pad(x, (WIN // 2, WIN + n * HOP))
    c = np.concatenate([[0.0], np.cumsum(pad * pad)])
    starts = np.arange(n) * HOP
    ms = (c[starts + WIN] - c[starts]) / WIN
    return np.maximum(10.0 * np.log10(np.maximum(ms, 1e-30)), floor_db)


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over ``width`` frames (edges use the available frames);
    ``nan`` values are ignored, and a window with no finite value gives ``nan``."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return x
    ok = np.isfinite(x)
    v = np.where(ok, x, 0.0)
    k = np.ones(max(1, min(int(width), len(x))))
    num = np.convolve(v, k, mode="same")
    den = np.convolve(ok.astype(np.float64), k, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)


# --------------------------------------------------------------------------- VAD

_vad_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def load_vad():
    """The silero-vad ONNX model shipped in the ``silero-vad`` wheel (cached, no network).

    Raises:
        ImportError: silero-vad or onnxruntime is not installed.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        # silero_vad.model calls torch.set_num_threads(1) when imported; keep the
        # caller's setting.
        from silero_vad import load_silero_vad

        return load_silero_vad(onnx=True)
    finally:
        torch.set_num_threads(threads)


def speech_probability(x16: np.ndarray) -> np.ndarray:
    """Speech probability per 10 ms analysis frame, ``ndarray[N]`` in [0, 1].

    Args:
        x16: mono ``ndarray[T]`` at 16 kHz.

    Returns:
        silero-vad's 32 ms frame probabilities held on the 10 ms grid
        (``N = ceil(T / 160)``).
    """
    import torch

    x = np.asarray(x16, dtype=np.float32)
    n = n_frames(len(x))
    if len(x) < VAD_FRAME:
        x = np.pad(x, (0, VAD_FRAME - len(x)))
    model = load_vad()
    with _vad_lock:  # the wrapper keeps recurrent state between calls
        p = model.audio_forward(torch.from_numpy(x)[None], ANALYSIS_RATE)[0].numpy()
    idx = np.minimum((np.arange(n) * HOP + HOP // 2) // VAD_FRAME, len(p) - 1)
    return p[idx].astype(np.float64)


def _regions_silero(x: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    import torch
    from silero_vad import get_speech_timestamps

    with _vad_lock:
        ts = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                                   load_vad(), threshold=threshold, sampling_rate=ANALYSIS_RATE,
                                   min_speech_duration_ms=200, min_silence_duration_ms=150,
                                   speech_pad_ms=0)
    return [(int(t["start"]), int(t["end"])) for t in ts]


def _frame_db(x: np.ndarray, hop: int) -> np.ndarray:
    n = len(x) // hop
    frames = x[: n * hop].reshape(n, hop).astype(np.float64)
    return 10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)


def _regions_webrtc(x: np.ndarray, aggressiveness: int = 3, range_db: float = 40.0
                    ) -> list[tuple[int, int]]:
    """webrtcvad (GMM) voice decisions on 30 ms frames, gated by level: a frame counts
    only if it is also within ``range_db`` of the loudest frame and above -60 dBFS."""
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)
    hop = ANALYSIS_RATE * 30 // 1000
    n = len(x) // hop
    if n == 0:
        return []
    pcm = (np.clip(x[: n * hop], -1, 1) * 32767).astype("<i2")
    db = _frame_db(x, hop)
    loud = db > max(-60.0, float(db.max()) - range_db)
    flags = np.array([bool(loud[i]) and vad.is_speech(pcm[i * hop:(i + 1) * hop].tobytes(),
                                                      ANALYSIS_RATE) for i in range(n)])
    return _flags_to_regions(flags, hop)


def _regions_energy(x: np.ndarray, floor_db: float = -50.0, range_db: float = 35.0
                    ) -> list[tuple[int, int]]:
    hop = ANALYSIS_RATE * 20 // 1000
    if len(x) // hop == 0:
        return []
    db = _frame_db(x, hop)
    return _flags_to_regions(db > max(floor_db, float(db.max()) - range_db), hop)


def _flags_to_regions(flags: np.ndarray, hop: int) -> list[tuple[int, int]]:
    m = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    return [(int(s) * hop, int(e) * hop)
            for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1))]


def voiced_regions(x16: np.ndarray, backend: VadBackend = "webrtc", *, threshold: float = 0.35,
                   pad_seconds: float = 0.0, merge_gap_seconds: float = 0.0,
                   aggressiveness: int = 3, range_db: float = 40.0) -> list[tuple[int, int]]:
    """Sample ranges ``[(start, end), ...]`` (end exclusive) with voice in ``x16``.

    Args:
        x16: mono ``ndarray[T]`` at 16 kHz.
        backend: ``webrtc`` (speech and singing), ``silero`` (speech) or ``energy``.
        threshold: silero's speech-probability threshold.
        pad_seconds: context added on each side; overlapping ranges are merged.
        merge_gap_seconds: ranges whose gap (before padding) is at most this merge.
        aggressiveness: webrtc's GMM mode, 0 (keeps most) .. 3 (keeps least).
        range_db: webrtc's level gate: frames more than this below the loudest frame (or
            under -60 dBFS) are not voice.

    Raises:
        ValueError: an unknown backend.
    """
    x = np.asarray(x16, dtype=np.float32)
    if backend == "silero":
        regs = _regions_silero(x, threshold)
    elif backend == "webrtc":
        regs = _regions_webrtc(x, aggressiveness, range_db)
    elif backend == "energy":
        regs = _regions_energy(x)
    else:
        raise ValueError(f"unknown VAD backend {backend!r}; expected silero, webrtc or energy")
    gap = int(merge_gap_seconds * ANALYSIS_RATE)
    joined: list[tuple[int, int]] = []
    for s, e in regs:
        if joined and gap > 0 and s - joined[-1][1] <= gap:
            joined[-1] = (joined[-1][0], e)
        else:
            joined.append((s, e))
    pad = int(pad_seconds * ANALYSIS_RATE)
    merged: list[tuple[int, int]] = []
    for s, e in joined:
        s, e = max(0, s - pad), min(len(x), e + pad)
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


# --------------------------------------------------------------------------- slicing

def slice_at_quiet_points(audio: np.ndarray, sample_rate: int, *, min_seconds: float = 2.0,
                          max_seconds: float = 15.0,
                          regions: list[tuple[float, float]] | None = None,
                          quiet_db: float = 35.0, smooth_seconds: float = 0.2,
                          pad_seconds: float = 0.05, trim: bool = True
                          ) -> list[tuple[float, float]]:
    """Cut ``audio`` (or each of ``regions``) into pieces of ``min_seconds``..``max_seconds``.

    A region longer than ``max_seconds`` is cut at the quietest point (lowest level
    smoothed over ``smooth_seconds``) that leaves both sides at least ``min_seconds`` long
    and the left side at most ``max_seconds``; the halves are cut again until every piece
    fits. Pieces shorter than ``min_seconds`` are dropped (voice models learn badly from
    very short clips). Leading and trailing quiet (``quiet_db`` below the region's loud
    level) is trimmed, keeping ``pad_seconds``.

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]`` at ``sample_rate`` Hz.
        min_seconds, max_seconds: length bounds of a piece, seconds (``0 < min <= max``).
        regions: ``[(start, end), ...]`` seconds to slice (e.g. voice segments);
            ``None`` slices the whole signal.
        quiet_db: trimming threshold, dB below the region's 95th-percentile frame level.
        smooth_seconds: width of the level smoothing that picks the cut points.
        pad_seconds: quiet kept before and after the sound when trimming.
        trim: trim leading/trailing quiet of each piece.

    Returns:
        ``[(start, end), ...]`` in seconds, sorted, every piece within the bounds.

    Raises:
        ValueError: bounds that are not ``0 < min_seconds <= max_seconds``.
        AudioError: audio of the wrong shape or with NaN / infinite samples.
    """
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f"need 0 < min_seconds <= max_seconds, got {min_seconds}, {max_seconds}")
    x16 = to_mono(audio, sample_rate, ANALYSIS_RATE, allow_empty=True)
    total = np.asarray(audio).shape[-1] / sample_rate
    e = energy_db(x16)
    w = max(1, int(round(smooth_seconds * FRAME_RATE)))
    smooth = moving_average(e, w)
    if regions is None:
        regions = [(0.0, total)]
    lo, hi = int(round(min_seconds * FRAME_RATE)), int(round(max_seconds * FRAME_RATE))
    pad = int(round(pad_seconds * FRAME_RATE))
    out: list[tuple[float, float]] = []
    for rs, re_ in sorted(regions):
        s = max(0, int(round(rs * FRAME_RATE)))
        t = min(len(e), int(round(min(re_, total) * FRAME_RATE)))
        if t - s <= 0:
            continue
        if trim:
            seg = e[s:t]
            thr = np.percentile(seg, 95) - quiet_db
            loud = np.flatnonzero(seg > thr)
            if len(loud) == 0:
                continue
            s, t = max(s, s + loud[0] - pad), min(t, s + loud[-1] + 1 + pad)
        for a, b in _split(smooth, s, t, lo, hi):
            if b - a >= lo:
                out.append((round(a / FRAME_RATE, 3), round(min(b / FRAME_RATE, total), 3)))
    return out


def _split(level: np.ndarray, s: int, t: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """Recursive quietest-point splitting of frames ``[s, t)`` into pieces <= ``hi``."""
    stack, out = [(s, t)], []
    while stack:
        a, b = stack.pop()
        if b - a <= hi:
            out.append((a, b))
            continue
        c0, c1 = a + lo, min(b - lo, a + hi)
        if c1 <= c0:  # no cut leaves both sides >= min: cut at the max length
            c0, c1 = a + hi, a + hi + 1
        cut = c0 + int(np.nanargmin(level[c0:c1])) if c1 > c0 + 1 else c0
        cut = min(max(cut, a + 1), b - 1)
        stack.append((cut, b))
        stack.append((a, cut))
    return sorted(out)


# --------------------------------------------------------------------------- mel-cepstrum

def mcep_alpha(sample_rate: int) -> float:
    """The all-pass constant that approximates the mel scale at ``sample_rate`` Hz (SPTK's
    ``mcepalpha`` through pysptk: 0.41 at 16 kHz, 0.466 at 24 kHz, 0.455 at 22.05 kHz)."""
    import pysptk

    return float(pysptk.util.mcepalpha(sample_rate))


# --------------------------------------------------------------------------- F0

def world_f0(x: np.ndarray, sample_rate: int, *, method: str = "harvest", hop_s: float = 0.01,
             f0_floor: float = 50.0, f0_ceil: float = 1100.0, speed: int = 1
             ) -> tuple[np.ndarray, np.ndarray]:
    """F0 contour of a mono signal with WORLD (pyworld).

    Args:
        x: mono ``ndarray[T]`` at ``sample_rate`` Hz (see :func:`to_mono`).
        method: ``"harvest"`` or ``"dio"`` (DIO + StoneMask refinement).
        hop_s: frame hop, seconds.
        f0_floor, f0_ceil: search range, Hz.
        speed: DIO's internal decimation (1 = none; ignored by Harvest).

    Returns:
        ``(times, f0)``: ``ndarray[N]`` seconds and Hz (0 where unvoiced), float64.

    Raises:
        ValueError: an unknown method.
    """
    import pyworld

    a = np.ascontiguousarray(x, dtype=np.float64)
    period = hop_s * 1000.0
    if method == "harvest":
        f0, t = pyworld.harvest(a, sample_rate, f0_floor=f0_floor, f0_ceil=f0_ceil,
                                frame_period=period)
    elif method == "dio":
        f0, t = pyworld.dio(a, sample_rate, f0_floor=f0_floor, f0_ceil=f0_ceil,
                            frame_period=period, speed=speed)
        f0 = pyworld.stonemask(a, f0, t, sample_rate)
    else:
        raise ValueError(f"unknown F0 method {method!r}; use 'harvest' or 'dio'")
    return np.asarray(t, dtype=np.float64), np.asarray(f0, dtype=np.float64)

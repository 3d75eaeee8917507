"""Slicing at quiet points, between a minimum and a maximum length.

The approach of the RVC-WebUI / so-vits-svc ``slicer2`` tools, made length-bounded: a
region longer than ``max_seconds`` is cut at the quietest point (lowest level smoothed
over ``smooth_seconds``) that leaves both sides at least ``min_seconds`` long and the left
side at most ``max_seconds``; the halves are cut again until every piece fits. Pieces
shorter than ``min_seconds`` are dropped (voice models learn badly from very short clips;
the original design found the minimum duration mattered). Leading and trailing quiet
(``quiet_db`` below the region's loud level) is trimmed, keeping ``pad_seconds``.
"""

from __future__ import annotations

import numpy as np

from discovervoice.prep import features as F


def slice_at_quiet_points(audio: np.ndarray, sample_rate: int, *, min_seconds: float = 2.0,
                          max_seconds: float = 15.0,
                          regions: list[tuple[float, float]] | None = None,
                          quiet_db: float = 35.0, smooth_seconds: float = 0.2,
                          pad_seconds: float = 0.05, trim: bool = True
                          ) -> list[tuple[float, float]]:
    """Cut ``audio`` (or each of ``regions``) into pieces of ``min_seconds``..``max_seconds``.

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]`` at ``sample_rate`` Hz.
        min_seconds, max_seconds: length bounds of a piece, seconds (``0 < min <= max``).
        regions: ``[(start, end), ...]`` seconds to slice (e.g. the voice segments of
            :func:`discovervoice.prep.segmentation.segment`); ``None`` slices the whole signal.
        quiet_db: trimming threshold, dB below the region's 95th-percentile frame level.
        smooth_seconds: width of the level smoothing that picks the cut points.
        pad_seconds: quiet kept before and after the sound when trimming.
        trim: trim leading/trailing quiet of each piece.

    Returns:
        ``[(start, end), ...]`` in seconds, sorted, every piece within the bounds.

    Raises:
        ValueError: bounds that are not ``0 < min_seconds <= max_seconds``.
    """
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f"need 0 < min_seconds <= max_seconds, got {min_seconds}, {max_seconds}")
    x16 = F.to_mono_16k(audio, sample_rate)
    total = np.asarray(audio).shape[-1] / sample_rate
    e = F.energy_db(x16)
    w = max(1, int(round(smooth_seconds * F.FRAME_RATE)))
    smooth = F.moving_average(e, w)
    if regions is None:
        regions = [(0.0, total)]
    lo, hi = int(round(min_seconds * F.FRAME_RATE)), int(round(max_seconds * F.FRAME_RATE))
    pad = int(round(pad_seconds * F.FRAME_RATE))
    out: list[tuple[float, float]] = []
    for rs, re_ in sorted(regions):
        s = max(0, int(round(rs * F.FRAME_RATE)))
        t = min(len(e), int(round(min(re_, total) * F.FRAME_RATE)))
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
                out.append((round(a / F.FRAME_RATE, 3), round(min(b / F.FRAME_RATE, total), 3)))
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


def voice_slices(audio: np.ndarray, sample_rate: int, *, min_seconds: float = 2.0,
                 max_seconds: float = 15.0, labels: tuple[str, ...] = ("speech", "singing"),
                 join_gap_seconds: float = 0.6, classifier=None) -> list[tuple[float, float]]:
    """Voice-activity slicing in one call (for a user's own recordings): segment
    ``audio`` (:func:`discovervoice.prep.segmentation.segment`), join voice segments of the
    kept ``labels`` closer than ``join_gap_seconds``, and cut them at quiet points into
    pieces of ``min_seconds``..``max_seconds``.

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]`` at ``sample_rate`` Hz.

    Returns:
        ``[(start, end), ...]`` seconds.
    """
    from discovervoice.prep.segmentation import segment

    regions: list[list[float]] = []
    for s in segment(audio, sample_rate, classifier=classifier):
        if s.label not in labels:
            continue
        if regions and s.start - regions[-1][1] <= join_gap_seconds:
            regions[-1][1] = s.end
        else:
            regions.append([s.start, s.end])
    return slice_at_quiet_points(audio, sample_rate, min_seconds=min_seconds,
                                 max_seconds=max_seconds, regions=[tuple(r) for r in regions])

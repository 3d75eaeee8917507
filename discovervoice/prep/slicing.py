"""Voice slicing for dataset preparation: segment a recording, keep its voice segments
and cut them at quiet points (:func:`discovervoice.signals.slice_at_quiet_points`, the
one implementation of the length-bounded ``slicer2`` cut, re-exported here).
"""

from __future__ import annotations

import numpy as np

from discovervoice.signals import slice_at_quiet_points

__all__ = ["slice_at_quiet_points", "voice_slices"]


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

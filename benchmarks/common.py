"""Timing shared by the benchmark scripts (imported as ``common``: a script's own folder is
first on ``sys.path``)."""

from __future__ import annotations

import time
from typing import Callable


def best_of(fn: Callable[[], object], repeats: int, *, warmup: bool = False) -> float:
    """The shortest wall time (seconds) of ``repeats`` calls of ``fn`` (after one untimed
    call when ``warmup``): the least disturbed run on a shared machine."""
    if warmup:
        fn()
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best

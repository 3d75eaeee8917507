"""Progress reporting for the command line: one adapter from the stages'
``progress(fraction, message)`` callbacks to a tqdm bar on stderr (tqdm draws it).

The app maps the same callbacks to ``gr.Progress``; library code never imports this.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

#: ``progress(fraction in [0, 1], message)``, the callback every stage accepts.
Progress = Callable[[float, str], None]


def tqdm_bar(desc: str = "", *, leave: bool = True) -> tuple[Progress, Any]:
    """A tqdm bar on stderr driven by ``progress(fraction, message)``; returns
    ``(callback, bar)`` (close the bar when done)."""
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, unit="‰", leave=leave, file=sys.stderr,
               bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")

    def cb(frac: float, msg: str) -> None:
        bar.n = int(1000 * min(max(frac, 0.0), 1.0))
        bar.set_postfix_str(msg[:60])
        bar.refresh()

    return cb, bar

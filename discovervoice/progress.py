"""Progress reporting: the one callback type every stage accepts, and the one command-line
adapter that draws it as a tqdm bar on stderr (tqdm draws it).

Stages take ``progress: Progress | None`` and call ``progress(fraction, message)`` with
``fraction`` in [0, 1]. The app maps the same callbacks to ``gr.Progress``; the CLI
handlers use :func:`tqdm_bar`. Importing this module imports nothing heavy (tqdm loads
inside :func:`tqdm_bar`), so library modules import :data:`Progress` from here.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

#: ``progress(fraction in [0, 1], message)``, the callback every stage accepts.
Progress = Callable[[float, str], None]


def tqdm_bar(desc: str = "", *, leave: bool = True, tty_only: bool = False) -> tuple[Progress, Any]:
    """A tqdm bar on stderr driven by ``progress(fraction, message)``; returns
    ``(callback, bar)`` (close the bar when done).

    Args:
        desc: label left of the bar.
        leave: keep the finished bar on screen.
        tty_only: draw nothing when stderr is not a terminal (logs, pipes); the callback
            still works.
    """
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, unit="‰", leave=leave, file=sys.stderr,
               disable=None if tty_only else False,
               bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")

    def cb(frac: float, msg: str) -> None:
        bar.n = int(1000 * min(max(frac, 0.0), 1.0))
        bar.set_postfix_str(msg[:60])
        bar.refresh()

    return cb, bar

"""Full songs -> vocals stem for the singer classifier, through
:class:`discovervoice.separation.api.Separator` (HTDemucs / MDX23C; another package).

Only full songs (mixtures) are separated: vocal clips and speech go to the classifier as
they are. The import of the separation package is guarded, so the classifier works where
separation is not installed and only full songs then fail, with a clear error.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from discovervoice.errors import DataError

SAMPLE_RATE = 16_000


def _separator(model: str | None, progress: Callable[[float, str], None] | None) -> Any:
    from discovervoice.separation.api import Separator

    return Separator(model=model or "default", stems=("vocals",), progress=progress)


def vocals_of(path: str | os.PathLike, *, model: str | None = None,
              progress: Callable[[float, str], None] | None = None,
              separator: Any = None, max_seconds: float | None | str = "default",
              allow_silent: bool = True) -> np.ndarray:
    """The vocals stem of a full song, ``ndarray[1, T]`` float32 at 16 kHz (mono).

    Args:
        path: song file (any format :func:`discovervoice.audio.load` reads).
        model: separation model name (``None``: the separator's default).
        separator: an already-built separator to reuse (batch jobs).
        max_seconds: longer songs are refused (checked on the header before decoding when
            the header says; see :func:`discovervoice.audio.load`); ``"default"`` is the
            loader's limit (2 hours), ``None`` none.
        allow_silent: ``False`` refuses an all-silent song before separating it.

    Raises:
        AudioLoadError: unreadable song. AudioError: too long, or silent with
            ``allow_silent=False``. DataError: separation not installed, or the
            separator returned no ``vocals`` stem.
    """
    from discovervoice import audio as dv_audio

    sep = separator if separator is not None else _separator(model, progress)
    sr = int(getattr(sep, "sample_rate", 44100))
    limit = dv_audio.DEFAULT_MAX_SECONDS if max_seconds == "default" else max_seconds
    mix = dv_audio.load(path, sr, 2, max_seconds=limit, allow_silent=allow_silent)
    stems = sep.separate(mix, sr)
    if "vocals" not in stems:
        raise DataError(f"{path}: the separator gave no vocals stem (got {sorted(stems)})")
    from discovervoice.signals import to_mono

    return to_mono(stems["vocals"], sr, SAMPLE_RATE, name=f"{path} (vocals stem)",
                   allow_empty=True)[None]

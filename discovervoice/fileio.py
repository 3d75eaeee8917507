"""Atomic file output: the one home for "write next to the destination, then rename".

Every file DiscoverVoice writes (stems, covers, manifests, reports, checkpoints, corpus
audio) goes through :func:`atomic_path`: the writer fills a hidden temporary file in the
destination's folder, which is renamed onto the destination (``os.replace``, atomic on
POSIX within one file system) only when the writer returns. A crash, a typed error or
``kill -9`` therefore never leaves a half-written file under the destination's name, and
an existing file of that name stays intact until the new one is complete. On an exception
the temporary file is removed (only ``kill -9`` can leave a hidden ``.<name>.<id>.tmp``
behind; :func:`is_temporary` recognises those).

The temporary file is created by the writer itself (``open``, soundfile, ``torch.save``)
and given the permissions of an ordinary new file (``0o666`` minus the umask) before the
rename, so outputs are never left private (``tempfile.mkstemp`` and safetensors' writer
create ``0o600``).

Libraries: only the standard library (``os.replace``, ``uuid``); no maintained package
does this better (``atomicwrites`` is archived).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterator

#: Suffix of the hidden temporary files.
TMP_SUFFIX = ".tmp"


def normal_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` gives a new file. Read from
    ``/proc/self/status`` (thread-safe); elsewhere by setting and restoring the umask."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def set_normal_mode(path: str | os.PathLike) -> None:
    """Give ``path`` the mode of an ordinary new file (:func:`normal_mode`)."""
    os.chmod(path, normal_mode())


def temporary_name(dest: str | os.PathLike) -> Path:
    """A fresh hidden path next to ``dest`` (``.<name>.<12 hex>.tmp``) that keeps ``dest``'s
    extension before ``.tmp`` for writers that pick the format from it (soundfile)."""
    d = Path(dest)
    return d.with_name(f".{d.stem}.{uuid.uuid4().hex[:12]}{d.suffix}{TMP_SUFFIX}")


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a temporary file of :func:`atomic_path` (left by a killed run)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Context manager: yield a temporary path to write; rename it onto ``dest`` on success.

    The parent folder is created. On an exception inside the block the temporary file is
    deleted and the exception propagates; ``dest`` is untouched.

    Example::

        with atomic_path(out) as tmp:
            torch.save(state, tmp)
    """
    d = Path(dest)
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(d)
    try:
        yield tmp
        if tmp.exists():
            set_normal_mode(tmp)
        os.replace(tmp, d)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(dest: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``dest`` atomically; returns ``dest`` as a Path."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(dest)


def write_json(dest: str | os.PathLike, obj: Any, *, indent: int | None = 1,
               ensure_ascii: bool = False, trailing_newline: bool = False, **kwargs) -> Path:
    """``json.dumps(obj)`` written to ``dest`` atomically (extra ``kwargs`` go to
    ``json.dumps``, e.g. ``default=str``, ``sort_keys``)."""
    text = json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii, **kwargs)
    return write_text(dest, text + ("\n" if trailing_newline else ""))

"""Private per-session workspaces for the app and batch jobs.

Every browser session (or API client) gets its own folder under a root
(``$DISCOVERVOICE_HOME/sessions`` when that variable is set, else
``<system temp dir>/discovervoice-sessions``: Gradio serves files returned from the temp dir
and the working directory only, so a root elsewhere must be passed to its ``allowed_paths``,
see :func:`served_by_default`), named by a random token that the server creates
(``secrets.token_hex``) — never by user text.
Uploaded files are copied in under fresh names, outputs are written inside it, and it is
removed when the session ends (:meth:`Workspace.close`) or when it has been idle longer
than a limit (:func:`sweep`). Paths handed back to a session are checked to lie inside
its own folder, so one session can neither list nor fetch another's files.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from discovervoice.errors import DiscoverVoiceError

_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class WorkspaceError(DiscoverVoiceError):
    """A path outside the session's workspace, or an upload above the limits."""


def default_root() -> Path:
    """``$DISCOVERVOICE_HOME/sessions``, or ``<system temp dir>/discovervoice-sessions``."""
    home = os.environ.get("DISCOVERVOICE_HOME")
    if home:
        return Path(home).expanduser() / "sessions"
    return Path(tempfile.gettempdir()) / "discovervoice-sessions"


def served_by_default(root: Path) -> bool:
    """True when files under ``root`` may be returned to Gradio without ``allowed_paths``
    (it accepts the system temp dir and the working directory, see Gradio's
    ``processing_utils._check_allowed``)."""
    r = Path(root).expanduser().resolve()
    return any(r == b or b in r.parents for b in (Path(tempfile.gettempdir()).resolve(), Path.cwd().resolve()))


def safe_name(name: str, default: str = "file") -> str:
    """A file-system-safe version of a display name (letters, digits, ``._-``; <= 64 chars)."""
    stem = _SAFE.sub("_", Path(name).name).strip("._")[:64]
    return stem or default


class Workspace:
    """One session's private folder. Create with :meth:`create`; ``token`` identifies it."""

    def __init__(self, root: Path, token: str):
        if not _TOKEN.match(token):
            raise WorkspaceError("invalid workspace token")
        self.root = Path(root)
        self.token = token
        self.path = self.root / token

    @classmethod
    def create(cls, root: Path | None = None) -> "Workspace":
        ws = cls(root or default_root(), secrets.token_hex(16))
        ws.path.mkdir(parents=True, mode=0o700)
        return ws

    def subdir(self, *parts: str) -> Path:
        """A folder inside the workspace (created); ``parts`` are sanitised."""
        d = self.path.joinpath(*(safe_name(p) for p in parts))
        d.mkdir(parents=True, exist_ok=True)
        self.touch()
        return d

    def new_job(self, kind: str) -> Path:
        """A fresh, uniquely named output folder for one job (``<kind>-<time>-<rand>``)."""
        return self.subdir(f"{safe_name(kind)}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}")

    def import_upload(self, src: str | os.PathLike, max_bytes: int | None = None) -> Path:
        """Copy an uploaded file into ``uploads/`` under a fresh name; returns the copy.

        Raises:
            WorkspaceError: the file is larger than ``max_bytes``.
            FileNotFoundError: the upload is gone.
        """
        src = Path(src)
        size = src.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise WorkspaceError(f"{src.name}: upload of {size / 1e6:.1f} MB is above the limit of "
                                 f"{max_bytes / 1e6:.0f} MB")
        dest = self.subdir("uploads") / f"{secrets.token_hex(4)}-{safe_name(src.name)}"
        shutil.copyfile(src, dest)
        return dest

    def contains(self, path: str | os.PathLike) -> bool:
        p = Path(path).resolve()
        return p == self.path.resolve() or self.path.resolve() in p.parents

    def check(self, path: str | os.PathLike) -> Path:
        """Return ``path`` if it lies inside this workspace, else raise :class:`WorkspaceError`."""
        if not self.contains(path):
            raise WorkspaceError("that file does not belong to this session")
        return Path(path)

    def touch(self) -> None:
        if self.path.exists():
            os.utime(self.path)

    def close(self) -> None:
        """Delete the workspace and everything in it."""
        shutil.rmtree(self.path, ignore_errors=True)


def sweep(root: Path | None = None, max_idle_seconds: float = 24 * 3600, max_bytes: int | None = None,
          keep_recent_seconds: float = 600.0) -> int:
    """Remove workspaces idle for longer than ``max_idle_seconds``; then, while all of them
    together use more than ``max_bytes``, the least recently used one that has been idle for
    at least ``keep_recent_seconds`` (so a running job keeps its folder). Returns how many."""
    root = root or default_root()
    if not root.is_dir():
        return 0
    now, removed = time.time(), 0
    alive = []
    for d in root.iterdir():
        if not (d.is_dir() and _TOKEN.match(d.name)):
            continue
        if now - d.stat().st_mtime > max_idle_seconds:
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
        else:
            alive.append(d)
    if max_bytes is not None:
        sizes = {d: sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) for d in alive}
        total = sum(sizes.values())
        for d in sorted(alive, key=lambda q: q.stat().st_mtime):
            if total <= max_bytes:
                break
            if now - d.stat().st_mtime >= keep_recent_seconds:
                shutil.rmtree(d, ignore_errors=True)
                total -= sizes[d]
                removed += 1
    return removed

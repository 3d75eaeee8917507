"""User feedback on results ("was this separated well? yes / no + comment"), in SQLite.

The original design asks users exactly this after a separation. One row per answer:
time, stage, model, session token (random, server-made), a yes/no verdict and a comment.
stdlib ``sqlite3``; one connection per call and WAL mode, so app workers can write at once.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from discovervoice.errors import DiscoverVoiceError

MAX_COMMENT = 2000


class FeedbackError(DiscoverVoiceError):
    """Feedback that cannot be stored (no verdict, comment too long)."""


def default_path() -> Path:
    home = os.environ.get("DISCOVERVOICE_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".local" / "share" / "discovervoice"
    return base / "feedback.sqlite"


@dataclass(frozen=True)
class Summary:
    stage: str
    model: str
    yes: int
    no: int

    @property
    def share_yes(self) -> float:
        return self.yes / (self.yes + self.no) if self.yes + self.no else float("nan")


class FeedbackStore:
    """Append-only feedback table at ``path`` (created on first use)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("""CREATE TABLE IF NOT EXISTS feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, stage TEXT NOT NULL,
            model TEXT NOT NULL, session TEXT NOT NULL, good INTEGER NOT NULL, comment TEXT NOT NULL)""")
        return con

    def add(self, stage: str, model: str, session: str, good: bool | None, comment: str = "") -> int:
        """Store one answer; returns its id.

        Raises:
            FeedbackError: no yes/no answer, or a comment longer than 2000 characters.
        """
        if good is None:
            raise FeedbackError("choose yes or no before sending feedback")
        comment = (comment or "").strip()
        if len(comment) > MAX_COMMENT:
            raise FeedbackError(f"comment is {len(comment)} characters; the limit is {MAX_COMMENT}")
        with self._connect() as con:
            cur = con.execute(
                "INSERT INTO feedback (created, stage, model, session, good, comment) VALUES (?,?,?,?,?,?)",
                (time.time(), stage, model, session, int(bool(good)), comment))
            return int(cur.lastrowid)

    def summary(self) -> list[Summary]:
        """Counts of yes/no per stage and model."""
        with self._connect() as con:
            rows = con.execute("SELECT stage, model, SUM(good), SUM(1 - good) FROM feedback "
                               "GROUP BY stage, model ORDER BY stage, model").fetchall()
        return [Summary(s, m, int(y), int(n)) for s, m, y, n in rows]

    def count(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])

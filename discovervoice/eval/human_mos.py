"""Human MOS listening tests: a SQLite store of tests, stimuli, listeners and ratings.

Library: **sqlite3** (stdlib); **scipy.stats.t** gives the Student-t quantile.

Made to sit behind a web app (the app's listener page) with many simultaneous listeners:
every call opens its own connection (``timeout`` 30 s, write-ahead log journal, foreign
keys on) and closes it; every query is parameterised; a rating is one upsert, so a
listener who rates the same stimulus again replaces the earlier score.

Schema::

    tests(id, name UNIQUE, description, scale_min=1, scale_max=5, created_at)
    stimuli(id, test_id -> tests, system, item, path, UNIQUE(test_id, path))
    listeners(id, name UNIQUE, created_at, info JSON)
    ratings(id, stimulus_id -> stimuli, listener_id -> listeners,
            score INTEGER CHECK 1..5, created_at, UNIQUE(stimulus_id, listener_id))

MOS of a system = mean of its ratings; its 95 % confidence interval is
``mean ± t_{0.975, n-1} * s / sqrt(n)`` (s the sample standard deviation over all ratings
of the system, n their count) — the usual per-system interval of ITU-T P.800-style
listening tests (Ribeiro et al., "CrowdMOS", ICASSP 2011, report the same).
"""

from __future__ import annotations

import csv
import json
import math
import random
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from discovervoice.errors import DataError, DiscoverVoiceError
from discovervoice.fileio import atomic_path

SCHEMA = """
CREATE TABLE IF NOT EXISTS tests (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    scale_min INTEGER NOT NULL DEFAULT 1,
    scale_max INTEGER NOT NULL DEFAULT 5,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS stimuli (
    id INTEGER PRIMARY KEY,
    test_id INTEGER NOT NULL REFERENCES tests(id) ON DELETE CASCADE,
    system TEXT NOT NULL,
    item TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL,
    UNIQUE (test_id, path)
);
CREATE TABLE IF NOT EXISTS listeners (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    info TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY,
    stimulus_id INTEGER NOT NULL REFERENCES stimuli(id) ON DELETE CASCADE,
    listener_id INTEGER NOT NULL REFERENCES listeners(id) ON DELETE CASCADE,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    created_at REAL NOT NULL,
    UNIQUE (stimulus_id, listener_id)
);
CREATE INDEX IF NOT EXISTS ratings_stimulus ON ratings(stimulus_id);
CREATE INDEX IF NOT EXISTS stimuli_test ON stimuli(test_id);
"""


class ListeningTestError(DiscoverVoiceError):
    """A listening-test operation that cannot be done (unknown test, bad score...)."""


@dataclass(frozen=True)
class SystemMOS:
    """MOS of one system: ``mos`` (mean), ``ci95`` (half width), ``n`` ratings, ``std``."""

    system: str
    mos: float
    ci95: float
    n: int
    std: float
    listeners: int


def mean_ci95(scores: Sequence[float]) -> tuple[float, float, float]:
    """Mean, 95 % confidence half-width (Student t, n - 1 dof) and sample std.

    ``ci95`` is NaN for fewer than 2 scores.

    Raises:
        DataError: no scores.
    """
    from scipy import stats

    n = len(scores)
    if n == 0:
        raise DataError("no ratings")
    m = sum(scores) / n
    if n < 2:
        return m, float("nan"), float("nan")
    var = sum((s - m) ** 2 for s in scores) / (n - 1)
    sd = math.sqrt(var)
    return m, float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)), sd


class ListeningTestStore:
    """A listening-test database file (created on first use).

    Args:
        path: the SQLite file.
        timeout: seconds a call waits for a lock held by another writer.
    """

    def __init__(self, path: str | Path, timeout: float = 30.0):
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One connection per call; commits on success, rolls back on error, closes."""
        with closing(sqlite3.connect(self.path, timeout=self.timeout)) as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA foreign_keys=ON")
            con.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            con.row_factory = sqlite3.Row
            with con:
                yield con

    # ---------------------------------------------------------------- writing

    def create_test(self, name: str, description: str = "") -> int:
        """Create a test (or return the id of the existing one with that name)."""
        if not name.strip():
            raise ListeningTestError("a test needs a non-empty name")
        with self._connect() as con:
            con.execute("INSERT OR IGNORE INTO tests(name, description, created_at) "
                        "VALUES (?, ?, ?)", (name, description, time.time()))
            return int(con.execute("SELECT id FROM tests WHERE name = ?", (name,)).fetchone()[0])

    def _test_id(self, con: sqlite3.Connection, test: str | int) -> int:
        row = con.execute("SELECT id FROM tests WHERE id = ? OR name = ?",
                          (test if isinstance(test, int) else -1, str(test))).fetchone()
        if row is None:
            raise ListeningTestError(f"no listening test {test!r} in {self.path}")
        return int(row[0])

    def add_stimulus(self, test: str | int, system: str, path: str | Path,
                     item: str = "") -> int:
        """Register an audio file played in ``test``, produced by ``system`` for ``item``.

        Re-adding the same path returns the existing id.
        """
        with self._connect() as con:
            tid = self._test_id(con, test)
            con.execute("INSERT OR IGNORE INTO stimuli(test_id, system, item, path) "
                        "VALUES (?, ?, ?, ?)", (tid, system, item, str(path)))
            row = con.execute("SELECT id FROM stimuli WHERE test_id = ? AND path = ?",
                              (tid, str(path))).fetchone()
            return int(row[0])

    def add_listener(self, name: str, info: dict | None = None) -> int:
        """Register a listener by a unique name (or return the existing id)."""
        if not name.strip():
            raise ListeningTestError("a listener needs a non-empty name")
        with self._connect() as con:
            con.execute("INSERT OR IGNORE INTO listeners(name, created_at, info) VALUES (?, ?, ?)",
                        (name, time.time(), json.dumps(info or {})))
            return int(con.execute("SELECT id FROM listeners WHERE name = ?",
                                   (name,)).fetchone()[0])

    def add_rating(self, stimulus_id: int, listener: str | int, score: int) -> None:
        """Record (or replace) ``listener``'s score 1-5 for a stimulus.

        Raises:
            ListeningTestError: score outside 1-5 or not an integer, unknown stimulus or
                listener.
        """
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ListeningTestError(f"score must be an integer from 1 to 5, got {score!r}")
        with self._connect() as con:
            if isinstance(listener, int):
                lid_row = con.execute("SELECT id FROM listeners WHERE id = ?", (listener,)).fetchone()
            else:
                lid_row = con.execute("SELECT id FROM listeners WHERE name = ?", (listener,)).fetchone()
            if lid_row is None:
                raise ListeningTestError(f"unknown listener {listener!r}")
            if con.execute("SELECT 1 FROM stimuli WHERE id = ?", (stimulus_id,)).fetchone() is None:
                raise ListeningTestError(f"unknown stimulus id {stimulus_id}")
            con.execute(
                "INSERT INTO ratings(stimulus_id, listener_id, score, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(stimulus_id, listener_id) "
                "DO UPDATE SET score = excluded.score, created_at = excluded.created_at",
                (stimulus_id, int(lid_row[0]), score, time.time()))

    # ---------------------------------------------------------------- reading

    def tests(self) -> list[dict]:
        """Every test with its stimulus and rating counts."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT t.id, t.name, t.description, "
                "(SELECT COUNT(*) FROM stimuli s WHERE s.test_id = t.id) AS stimuli, "
                "(SELECT COUNT(*) FROM ratings r JOIN stimuli s ON r.stimulus_id = s.id "
                " WHERE s.test_id = t.id) AS ratings FROM tests t ORDER BY t.id").fetchall()
            return [dict(r) for r in rows]

    def stimuli(self, test: str | int) -> list[dict]:
        """Stimuli of a test: ``id, system, item, path``."""
        with self._connect() as con:
            tid = self._test_id(con, test)
            rows = con.execute("SELECT id, system, item, path FROM stimuli WHERE test_id = ? "
                               "ORDER BY id", (tid,)).fetchall()
            return [dict(r) for r in rows]

    def next_stimuli(self, test: str | int, listener: str, count: int = 10,
                     seed: int | None = None) -> list[dict]:
        """Up to ``count`` stimuli ``listener`` has not rated yet, in random order."""
        with self._connect() as con:
            tid = self._test_id(con, test)
            rows = con.execute(
                "SELECT s.id, s.system, s.item, s.path FROM stimuli s WHERE s.test_id = ? AND "
                "s.id NOT IN (SELECT r.stimulus_id FROM ratings r JOIN listeners l "
                "ON r.listener_id = l.id WHERE l.name = ?)", (tid, listener)).fetchall()
        out = [dict(r) for r in rows]
        random.Random(seed).shuffle(out)
        return out[:count]

    def ratings(self, test: str | int) -> list[dict]:
        """Every rating of a test: ``stimulus_id, system, item, path, listener, score,
        created_at``, ordered by time."""
        with self._connect() as con:
            tid = self._test_id(con, test)
            rows = con.execute(
                "SELECT r.stimulus_id, s.system, s.item, s.path, l.name AS listener, r.score, "
                "r.created_at FROM ratings r JOIN stimuli s ON r.stimulus_id = s.id "
                "JOIN listeners l ON r.listener_id = l.id WHERE s.test_id = ? "
                "ORDER BY r.created_at, r.id", (tid,)).fetchall()
            return [dict(r) for r in rows]

    def mos(self, test: str | int) -> list[SystemMOS]:
        """MOS with 95 % confidence interval per system, best first.

        Raises:
            ListeningTestError: unknown test.
        """
        by_sys: dict[str, list[int]] = {}
        listeners: dict[str, set[str]] = {}
        for r in self.ratings(test):
            by_sys.setdefault(r["system"], []).append(int(r["score"]))
            listeners.setdefault(r["system"], set()).add(r["listener"])
        out = []
        for system, scores in by_sys.items():
            m, ci, sd = mean_ci95(scores)
            out.append(SystemMOS(system, m, ci, len(scores), sd, len(listeners[system])))
        return sorted(out, key=lambda s: -s.mos)

    def export_csv(self, test: str | int, path: str | Path) -> Path:
        """Write every rating of a test as CSV (one row per rating, header first)."""
        rows = self.ratings(test)
        p = Path(path)
        with atomic_path(p) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["stimulus_id", "system", "item", "path",
                                              "listener", "score", "created_at"])
            w.writeheader()
            w.writerows(rows)
        return p

"""Human MOS store: round trip, 95 % t-interval maths, CSV export, concurrent writers."""

from __future__ import annotations

import csv
import math
import sqlite3
import threading

import pytest

from discovervoice.eval.human_mos import ListeningTestError, ListeningTestStore, mean_ci95


def test_mean_ci95_hand_computation():
    scores = [4, 5, 3, 4]
    # mean 4, sample sd sqrt(2/3), t(0.975, 3) = 3.182446305284263
    m, ci, sd = mean_ci95(scores)
    assert m == 4.0
    assert sd == pytest.approx(math.sqrt(2 / 3))
    assert ci == pytest.approx(3.182446305284263 * math.sqrt(2 / 3) / 2)
    m1, ci1, _ = mean_ci95([5])
    assert m1 == 5 and math.isnan(ci1)
    # large samples approach the normal quantile 1.96
    big = [1, 5] * 5000
    _, ci_big, sd_big = mean_ci95(big)
    assert ci_big == pytest.approx(1.96 * sd_big / 100, rel=1e-3)


def test_store_round_trip(tmp_path):
    db = tmp_path / "mos.sqlite"
    store = ListeningTestStore(db)
    tid = store.create_test("cover-v1", "first listening test")
    assert store.create_test("cover-v1") == tid  # idempotent
    ids = {}
    for system in ("ground_truth", "dv_convert"):
        for item in ("s1", "s2"):
            ids[system, item] = store.add_stimulus("cover-v1", system, f"/audio/{system}/{item}.wav", item)
    assert store.add_stimulus(tid, "ground_truth", "/audio/ground_truth/s1.wav") == ids["ground_truth", "s1"]
    for name in ("ann", "bob", "cy"):
        store.add_listener(name, {"headphones": True})
    scores = {("ground_truth", "ann"): [5, 4], ("ground_truth", "bob"): [4, 5],
              ("ground_truth", "cy"): [5, 5], ("dv_convert", "ann"): [3, 2],
              ("dv_convert", "bob"): [3, 3], ("dv_convert", "cy"): [2, 4]}
    for (system, who), (a, b) in scores.items():
        store.add_rating(ids[system, "s1"], who, a)
        store.add_rating(ids[system, "s2"], who, b)
    # a listener changing their mind replaces the earlier score
    store.add_rating(ids["dv_convert", "s2"], "cy", 1)
    store.add_rating(ids["dv_convert", "s2"], "cy", 4)
    rows = store.ratings("cover-v1")
    assert len(rows) == 12
    res = {s.system: s for s in store.mos("cover-v1")}
    assert [s.system for s in store.mos("cover-v1")] == ["ground_truth", "dv_convert"]
    gt = [5, 4, 4, 5, 5, 5]
    m, ci, sd = mean_ci95(gt)
    assert res["ground_truth"].mos == pytest.approx(28 / 6)
    assert res["ground_truth"].ci95 == pytest.approx(ci)
    assert res["ground_truth"].n == 6 and res["ground_truth"].listeners == 3
    assert res["dv_convert"].mos == pytest.approx((3 + 2 + 3 + 3 + 2 + 4) / 6)
    # reopening the file sees the same data
    again = ListeningTestStore(db)
    assert [t["ratings"] for t in again.tests()] == [12]
    out = again.export_csv("cover-v1", tmp_path / "out" / "ratings.csv")
    with open(out, newline="") as f:
        got = list(csv.DictReader(f))
    assert len(got) == 12
    assert set(got[0]) == {"stimulus_id", "system", "item", "path", "listener", "score", "created_at"}
    assert sorted(int(r["score"]) for r in got if r["system"] == "ground_truth") == sorted(gt)
    # next stimuli: only unrated ones
    store.add_listener("dee")
    store.add_rating(ids["ground_truth", "s1"], "dee", 3)
    nxt = store.next_stimuli("cover-v1", "dee", count=10, seed=0)
    assert len(nxt) == 3 and ids["ground_truth", "s1"] not in {s["id"] for s in nxt}
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_rejects_bad_input(tmp_path):
    store = ListeningTestStore(tmp_path / "m.sqlite")
    store.create_test("t")
    sid = store.add_stimulus("t", "sys", "/a.wav")
    store.add_listener("ann")
    for bad in (0, 6, 3.5, True, "4"):
        with pytest.raises(ListeningTestError, match="1 to 5"):
            store.add_rating(sid, "ann", bad)
    with pytest.raises(ListeningTestError, match="unknown listener"):
        store.add_rating(sid, "zed", 3)
    with pytest.raises(ListeningTestError, match="unknown stimulus"):
        store.add_rating(sid + 100, "ann", 3)
    with pytest.raises(ListeningTestError, match="no listening test"):
        store.mos("missing")
    # a name that looks like SQL is stored as text (parameterised queries)
    evil = "x'); DROP TABLE ratings; --"
    store.add_listener(evil)
    store.add_rating(sid, evil, 2)
    assert store.ratings("t")[0]["listener"] == evil


def test_concurrent_raters(tmp_path):
    store = ListeningTestStore(tmp_path / "c.sqlite")
    store.create_test("t")
    sids = [store.add_stimulus("t", f"sys{i % 2}", f"/s{i}.wav") for i in range(10)]
    errors = []

    def rater(n):
        try:
            s = ListeningTestStore(tmp_path / "c.sqlite")
            s.add_listener(f"l{n}")
            for sid in sids:
                s.add_rating(sid, f"l{n}", 1 + (sid + n) % 5)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=rater, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.ratings("t")) == 80
    assert sum(s.n for s in store.mos("t")) == 80


def test_listening_test_from_a_sessions_covers(tmp_path):
    """The app's "Make a test from my covers": each cover job gives its cover, converted
    vocals and original vocals; a session with no cover gets a readable error."""
    import numpy as np

    from discovervoice import audio, pipeline
    from discovervoice.errors import DataError

    store = ListeningTestStore(tmp_path / "tests.sqlite")
    session = tmp_path / "session"
    with pytest.raises(DataError, match="no cover"):
        pipeline.listening_test_from_folder(store, session, "session-x")
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(4410) / 44100)[None]
    for job in ("cover-1", "cover-2"):
        for rel in ("cover.wav", "converted_vocals.wav", "stems/vocals.wav"):
            audio.save(session / job / rel, tone, 44100)
    name, n = pipeline.listening_test_from_folder(store, session, "session-x")
    assert (name, n) == ("session-x", 6)
    systems = sorted({s["system"] for s in store.stimuli(name)})
    assert systems == ["converted vocals", "cover", "original vocals (reference)"]
    # made again: the same stimuli, nothing duplicated
    assert pipeline.listening_test_from_folder(store, session, "session-x")[1] == 6
    assert len(store.stimuli(name)) == 6

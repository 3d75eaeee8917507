"""Benchmark: ``discovervoice library index`` throughput, 1 vs 2 workers, and Ray's overhead.

Issue 17 asks for two figures, each a ratio against an anchor measured in the same run so
that machines of other speeds compare:

1. **Songs per minute with 1 and 2 workers** (plain local path: the songs in this process
   for 1 worker, a pool of spawned processes for 2). The figure is
   ``speedup_2_workers`` = songs/min with 2 workers / songs/min with 1 worker (at most 2 on
   2 free cores; about 1 when one of the two cores is busy with something else).
2. **Per-song overhead of the Ray path** (Ray Data ``map_batches`` on an actor pool, a
   local Ray instance started by the run: ``--ray-address local``) against the plain local
   path, both with 1 worker [target <= 1.15x]: ``ray_overhead`` = Ray's seconds per song /
   the local path's seconds per song.

Every run is a fresh ``python -m discovervoice library index MUSIC -o NEW_LIBRARY --threads 1``
process, as a user runs it (imports, model loading, Ray start-up and shut-down and the
gallery assembly included). Each mode indexes the whole folder (``--songs``, "big") and its
first ``--small`` songs ("small"); the runs are interleaved (local-1 small, ray-1 small,
local-2 small, local-1 big, ...) for ``--repeats`` rounds, and each mode's best round is kept.
Two rates per mode:

* ``end_to_end``: songs / the big run's wall time (what a small library costs);
* ``marginal``: ``(big - small) songs`` / (wall of big - wall of small): the cost of one more
  song once the fixed start-up is paid, which is what a large library sees (Ray Data hands
  results to the driver in blocks, so arrival times cannot be used for this). The start-up
  is what remains of the small run. ``ray_overhead`` is reported on both; the marginal one
  is the per-song figure of the issue.

``minutes_per_hour_of_music`` = 60 x marginal wall seconds per song / song seconds: what a
user should expect per hour of audio (short songs: per-file costs weigh a little more than
on 3-4 minute songs). On a shared machine wall times measure the other users too, so each
song record also carries the worker's CPU seconds (``cpu_seconds``); ``in_worker_cpu`` is
Ray's / the local path's median CPU per song, ``command_cpu_s`` the CPU of the command and
the processes it reaped (the local pool's workers; not Ray's, which Ray starts and stops
itself), and ``estimate_minutes_per_hour_of_music_2_free_cores`` = 60 x the local path's
CPU seconds per song / song seconds / 2 (two workers on two free cores, perfect scaling).

The music folder is built with the helper of ``tests/test_library.py``
(``tests/library_music.py``): ``--songs`` corpus songs of ``--seconds`` each, sung by three
MBROLA voices, written as tagged flac/ogg/mp3 (needs espeak-ng, MBROLA voices, a GM
soundfont: scripts/install-system-deps.sh). ``--music DIR`` uses a folder of your own.

    nice -n 10 python benchmarks/bench_library.py [--songs 6] [--small 2] [--seconds 10]
                                   [--repeats 1] [--modes local-1,ray-1,local-2]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODES = {  # name -> extra CLI arguments
    "local-1": ["--workers", "1"],
    "local-2": ["--workers", "2"],
    "ray-1": ["--workers", "1", "--ray-address", "local"],
    "ray-2": ["--workers", "2", "--ray-address", "local"],
}


def build_music(out: Path, songs: int, seconds: float, seed: int) -> tuple[Path, float]:
    """``(music folder, seconds of audio in it)`` built from corpus songs."""
    import soundfile as sf

    from tests.library_music import build_songs, missing_tools, write_tagged

    missing = missing_tools()
    if missing:
        raise SystemExit(f"cannot build the corpus songs here: {missing} missing "
                         "(scripts/install-system-deps.sh), or pass --music DIR")
    corpus = build_songs(out / "corpus", songs=songs, seconds=seconds, seed=seed)
    files = write_tagged(corpus, out / "music")
    return out / "music", sum(sf.info(str(f)).duration for f in files)


def audio_seconds(music: Path) -> float:
    from discovervoice.library.scan import scan

    songs, _ = scan([music])
    return sum(s.duration or 0.0 for s in songs)


def run_once(music: Path, lib: Path, extra: list[str], timeout: float) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TQDM_DISABLE="1",
               RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "discovervoice", "library", "index", str(music), "-o", str(lib),
           "--threads", "1", "--json", *extra]
    t = time.time()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True,
                       timeout=timeout)
    wall = time.time() - t
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru2.ru_utime + ru2.ru_stime) - (ru.ru_utime + ru.ru_stime)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    rep = json.loads(p.stdout)
    recs = sorted(lib.glob("index/*.json"))
    rows = [json.loads(f.read_text(encoding="utf-8")) for f in recs]
    in_worker = [r.get("seconds", 0.0) for r in rows]
    in_worker_cpu = [r.get("cpu_seconds", float("nan")) for r in rows]
    if rep["failed"]:
        raise SystemExit(f"songs failed: {rep['failed']}")
    n = int(rep["processed"])
    return {"wall_s": round(wall, 2), "songs": n,
            "median_song_s_in_worker": round(statistics.median(in_worker), 3),
            "median_song_cpu_s_in_worker": round(statistics.median(in_worker_cpu), 3),
            "command_cpu_s": round(cpu, 2), "mode_reported": rep["mode"]}


def subset(music: Path, out: Path, k: int) -> Path:
    """A folder with the first ``k`` audio files of ``music`` (copies, same names)."""
    import shutil

    from discovervoice.separation.api import collect_inputs

    files, _ = collect_inputs([music])
    out.mkdir(parents=True)
    for f in sorted(files)[:k]:
        shutil.copy2(f, out / f.name)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--songs", type=int, default=6)
    ap.add_argument("--small", type=int, default=2,
                    help="songs of the small run (the start-up is measured from it)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each corpus song")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--music", default=None, help="index this folder instead of corpus songs")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved rounds; best kept")
    ap.add_argument("--modes", default="local-1,ray-1,local-2",
                    help=f"comma-separated, from {','.join(MODES)}; the first is the anchor")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise SystemExit(f"unknown modes {bad}; choose from {list(MODES)}")

    with tempfile.TemporaryDirectory(prefix="bench_library_") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        if args.music:
            music = Path(args.music).resolve()
            total = audio_seconds(music)
        else:
            music, total = build_music(tmp, args.songs, args.seconds, args.seed)
        build_s = time.perf_counter() - t
        small = subset(music, tmp / "small", args.small)
        runs: dict[str, list[dict]] = {m: [] for m in modes}
        for r in range(args.repeats):
            for size, folder in (("small", small), ("big", music)):
                for m in modes:
                    res = run_once(folder, tmp / f"lib_{m}_{size}_{r}", MODES[m], args.timeout)
                    res["size"], res["round"] = size, r
                    runs[m].append(res)
                    print(f"round {r} {m} {size}: {res}", file=sys.stderr, flush=True)

    n_big = runs[modes[0]][-1]["songs"]
    n_small = runs[modes[0]][0]["songs"]
    song_s = total / max(n_big, 1)
    out: dict = {"songs": n_big, "small": n_small, "audio_seconds": round(total, 1),
                 "build_s": round(build_s, 1), "cpus": os.cpu_count(),
                 "load_average": [round(x, 2) for x in os.getloadavg()],
                 "repeats": args.repeats, "anchor": modes[0], "runs": runs, "modes": {}}
    for m in modes:
        rounds = []
        for r in range(args.repeats):
            w = {x["size"]: x["wall_s"] for x in runs[m] if x["round"] == r}
            per_song = (w["big"] - w["small"]) / max(n_big - n_small, 1)
            rounds.append({"per_song_s": per_song, "startup_s": w["small"] - n_small * per_song,
                           "big_s": w["big"]})
        per_song = min(x["per_song_s"] for x in rounds)
        big = min(x["big_s"] for x in rounds)
        out["modes"][m] = {
            "songs_per_min_end_to_end": round(n_big / big * 60, 3),
            "songs_per_min_marginal": round(60 / per_song, 3) if per_song > 0 else None,
            "marginal_s_per_song": round(per_song, 2),
            "startup_s": round(min(x["startup_s"] for x in rounds), 1),
            "minutes_per_hour_of_music": round(60 * per_song / song_s, 1),
            "minutes_per_hour_of_music_end_to_end": round(60 * (big / n_big) / song_s, 1)}
    M = out["modes"]

    def ratio(a: str, b: str, key: str) -> float | None:
        return round(M[a][key] / M[b][key], 3) if M[a][key] and M[b][key] else None

    if "local-1" in M and "local-2" in M:
        out["speedup_2_workers"] = {"marginal": ratio("local-2", "local-1", "songs_per_min_marginal"),
                                    "end_to_end": ratio("local-2", "local-1",
                                                        "songs_per_min_end_to_end")}
    if "local-1" in M and "ray-1" in M:
        out["ray_overhead"] = {   # seconds per song, Ray / plain local (target <= 1.15)
            "marginal": ratio("local-1", "ray-1", "songs_per_min_marginal"),
            "end_to_end": ratio("local-1", "ray-1", "songs_per_min_end_to_end"),
            "in_worker": round(min(x["median_song_s_in_worker"] for x in runs["ray-1"])
                               / min(x["median_song_s_in_worker"] for x in runs["local-1"]), 3),
            "in_worker_cpu": round(min(x["median_song_cpu_s_in_worker"] for x in runs["ray-1"])
                                   / min(x["median_song_cpu_s_in_worker"]
                                         for x in runs["local-1"]), 3)}
    if "local-1" in M:   # contention-free estimate: CPU seconds per song, 2 free cores, 2 workers
        cpu = min(x["median_song_cpu_s_in_worker"] for x in runs["local-1"])
        out["cpu_s_per_song_local_1"] = cpu
        out["estimate_minutes_per_hour_of_music_2_free_cores"] = round(60 * cpu / song_s / 2, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""Parallel users on the app: N concurrent ``gradio_client`` sessions, each separating its own
short song and asking which singer its voice sounds like (issue 18).

The app is started as shipped (``python3 app.py``: heavy jobs through Gradio's queue, one
at a time by default) on a free loopback port, or ``--url`` points at a running one.
Measured, all in the same run:

* latency of each session's short separation (submit -> result, queue wait included):
  p50 / p95, and the anchor: one session alone, warm, before the crowd (so p50 / anchor is
  the queueing factor, the machine-independent number);
* which-singer latency, errors (any exception) per endpoint;
* the server's RSS (process and children, from ``/proc``) every 0.5 s: start, peak, end;
* outputs right: each session's stems have its song's shape, are not silent, and
  vocals + accompaniment correlate best with the session's own song (no mix-up of outputs
  between sessions);
* cross-session reads: after the run, every workspace file of every session is requested
  through Gradio's file route by its path and by a ``..`` path from another session's
  folder; a 200 carrying the file's bytes counts as a read (must be 0).

    python benchmarks/load_app.py [--sessions 8] [--song-seconds 8] [--out data/reliability/load_app.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    """Resident memory (MiB) of a process and its children, from ``/proc``."""
    total, todo = 0, [pid]
    while todo:
        q = todo.pop()
        try:
            status = Path(f"/proc/{q}/status").read_text()
            total += int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
            todo += [int(x) for x in Path(f"/proc/{q}/task/{q}/children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total / 1024


def song(path: Path, seconds: float, k: int) -> Path:
    """Session ``k``'s own stereo 44.1 kHz song (its own melody, key and tempo)."""
    from discovervoice import audio

    sr = 44100
    t = np.arange(int(seconds * sr)) / sr
    f0 = (180 + 15 * k) * 2 ** (np.floor(t / (0.4 + 0.05 * k)) % (5 + k % 3) / 12)
    voice = sum(0.2 / h * np.sin(2 * np.pi * h * np.cumsum(f0) / sr) for h in range(1, 8))
    bass = 0.3 * np.sin(2 * np.pi * (50 + 3 * k) * t)
    clicks = 0.4 * (np.mod(t, 0.3 + 0.02 * k) < 0.01) * np.random.default_rng(k).standard_normal(t.size)
    x = np.stack([voice + bass + clicks, 0.9 * voice + bass + 0.7 * clicks]).astype(np.float32)
    return audio.save(path, 0.5 * x, sr)


def voice_clip(folder: Path) -> Path:
    """A real voice (KLettres words, one ~19 s file) for which-singer; a sung tone without it."""
    try:
        sys.path.insert(0, str(REPO))
        from tests.speech_clips import klettres_words

        return klettres_words(folder, files=1)[0]
    except (FileNotFoundError, ImportError):
        return song(folder / "voice.wav", 8.0, 99)


def start_app(root: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), DISCOVERVOICE_HOME=str(root))
    proc = subprocess.Popen([sys.executable, "app.py", "--no-examples", "--workspace-root", str(root / "sessions")],
                            cwd=REPO, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("app did not start")


def _path(item) -> str | None:
    if isinstance(item, dict):
        item = item.get("value", item)
        if isinstance(item, dict):
            item = item.get("path")
    return item


def _check_stems(out, own: np.ndarray, others: list[np.ndarray]) -> str | None:
    from discovervoice import audio

    vocals, acc = (audio.load(_path(out[i]), None, max_seconds=None) for i in (0, 1))
    if vocals.shape != own.shape or acc.shape != own.shape:
        return f"stem shape {vocals.shape} / {acc.shape} != song {own.shape}"
    if audio.rms_db(vocals) < -60 or audio.rms_db(acc) < -60:
        return "a silent stem"
    total = (vocals + acc).ravel()

    def corr(x):
        x = x.ravel()
        return float(np.dot(total, x) / (np.linalg.norm(total) * np.linalg.norm(x) + 1e-12))

    mine = corr(own)
    if any(o.shape == own.shape and corr(o) >= mine for o in others):
        return f"stems match another session's song better than its own ({mine:.3f})"
    return None


def run(url: str, n: int, songs: list[Path], voice: Path, server_pid: int | None,
        sessions_root: Path | None) -> dict:
    """The measurement on a running app (``server_pid`` for RSS, ``sessions_root`` for the
    cross-session reads; either may be ``None`` to skip that part)."""
    from gradio_client import Client, handle_file

    from discovervoice import audio

    mixes = [audio.load(s, None) for s in songs]
    rss: list[tuple[float, float]] = []
    stop = threading.Event()
    t_start = time.monotonic()

    def sample():
        while not stop.is_set():
            if server_pid is not None:
                rss.append((round(time.monotonic() - t_start, 1), round(rss_mb(server_pid), 1)))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    # the anchor: one session alone, warm (a first call loads the model)
    c0 = Client(url, verbose=False)
    c0.predict(handle_file(str(songs[0])), "default", "two", api_name="/separate")
    t0 = time.monotonic()
    c0.predict(handle_file(str(songs[0])), "default", "two", api_name="/separate")
    anchor = time.monotonic() - t0

    results: list[dict] = [{} for _ in range(n)]
    barrier = threading.Barrier(n)

    def user(k: int):
        r = results[k]
        r["errors"] = []
        try:
            c = Client(url, verbose=False)
            barrier.wait()
            t = time.monotonic()
            out = c.predict(handle_file(str(songs[k])), "default", "two", api_name="/separate")
            r["separate_s"] = time.monotonic() - t
            bad = _check_stems(out, mixes[k], [m for j, m in enumerate(mixes) if j != k])
            if bad:
                r["errors"].append(f"separate: {bad}")
            t = time.monotonic()
            lab = c.predict(handle_file(str(voice)), 3, api_name="/which_singer")
            r["which_singer_s"] = time.monotonic() - t
            if not (isinstance(lab[0], dict) and lab[0].get("confidences")):
                r["errors"].append(f"which_singer: no ranking ({str(lab)[:200]})")
        except Exception as exc:  # noqa: BLE001 - counted, not raised
            r["errors"].append(f"{type(exc).__name__}: {str(exc)[:300]}")

    threads = [threading.Thread(target=user, args=(k,)) for k in range(n)]
    t_crowd = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.monotonic() - t_crowd
    stop.set()
    sampler.join()

    reads, tried = 0, 0
    if sessions_root is not None and sessions_root.is_dir():
        dirs = [d for d in sessions_root.iterdir() if d.is_dir()]
        for d in dirs:
            for f in [f for f in d.rglob("*") if f.is_file()][:6]:
                body = f.read_bytes()
                other = next((o for o in dirs if o != d), d)
                for path in (str(f), f"{other}/../{d.name}/{f.relative_to(d)}"):
                    for u in (url + "gradio_api/file=" + path, url + "gradio_api/file=" + urllib.parse.quote(path)):
                        tried += 1
                        try:
                            with urllib.request.urlopen(u, timeout=20) as resp:
                                reads += resp.read() == body
                        except urllib.error.HTTPError:
                            pass

    sep = np.array([r["separate_s"] for r in results if "separate_s" in r])
    ws = np.array([r["which_singer_s"] for r in results if "which_singer_s" in r])
    errors = [e for r in results for e in r["errors"]]
    mem = [m for _, m in rss]
    return {
        "sessions": n, "song_seconds": round(mixes[0].shape[1] / 44100, 2), "wall_s": round(wall, 1),
        "anchor_separate_alone_s": round(anchor, 2),
        "separate_p50_s": round(float(np.percentile(sep, 50)), 2) if sep.size else None,
        "separate_p95_s": round(float(np.percentile(sep, 95)), 2) if sep.size else None,
        "separate_p50_over_anchor": round(float(np.percentile(sep, 50)) / anchor, 2) if sep.size else None,
        "which_singer_p50_s": round(float(np.percentile(ws, 50)), 2) if ws.size else None,
        "which_singer_p95_s": round(float(np.percentile(ws, 95)), 2) if ws.size else None,
        "completed": int(sep.size), "errors": len(errors), "error_list": errors[:20],
        "cross_session_reads": reads, "cross_session_attempts": tried,
        "server_rss_mb": {"start": mem[0] if mem else None, "peak": max(mem) if mem else None,
                          "end": mem[-1] if mem else None},
        "rss_timeline": rss[:: max(1, len(rss) // 200)],
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--song-seconds", type=float, default=8.0)
    ap.add_argument("--url", default=None, help="a running app (default: start one)")
    ap.add_argument("--out", default=None, help="write the JSON here")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="dv-load-"))
    songs = [song(work / f"song-{k}.wav", args.song_seconds, k) for k in range(args.sessions)]
    voice = voice_clip(work / "voice")
    proc = None
    try:
        if args.url:
            url, pid, root = args.url, None, None
        else:
            proc, url = start_app(work, work / "app.log")
            pid, root = proc.pid, work / "sessions"
        res = run(url, args.sessions, songs, voice, pid, root)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(json.dumps({k: v for k, v in res.items() if k != "rss_timeline"}, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()

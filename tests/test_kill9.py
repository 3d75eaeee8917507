"""Jobs killed with SIGKILL leave no partial file under a final name, and the next run
resumes or starts clean (issue 18).

A separation (``discovervoice separate``), a voice training (``discovervoice voice train``)
and a cover (``discovervoice cover``) run as subprocesses. Each is first run once to the
end (its wall time ``T`` and its outputs are the reference), then started again
:data:`KILLS` times into the same output folder and killed with ``SIGKILL`` at a seeded
random point in ``[0.05 T, 0.95 T]`` of its run (a run that ends before its kill point, as
a resumed one may, is followed by a fresh start); after every kill each file under a final
name (not a hidden ``.name.tmp`` / ``.staging-*``) must be whole:

* audio decodes to its header's length with finite samples;
* JSON parses, ``.safetensors`` load, faiss indexes read, ``.npz`` / torch checkpoints load.

Last, a run to the end in the same folder must succeed (resuming the training: its log says
so) with outputs equal to the reference for the deterministic jobs (separation, cover).

Counts (runs, kills, partial files) go to ``$DISCOVERVOICE_KILL9_REPORT`` as JSON when set.
Marked ``slow`` (a few minutes of CPU).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
#: kills per job
KILLS = int(os.environ.get("DISCOVERVOICE_KILL9_KILLS", "6"))
SEED = 18

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "discovervoice", *args]


def _song(path: Path, seconds: float = 20.0) -> Path:
    """A stereo 44.1 kHz 'song': a harmonic melody over a bass line and noise clicks."""
    from discovervoice import audio

    sr = 44100
    t = np.arange(int(seconds * sr)) / sr
    f0 = 220 * 2 ** (np.floor(t / 0.5) % 7 / 12)
    voice = sum(0.2 / k * np.sin(2 * np.pi * k * np.cumsum(f0) / sr) for k in range(1, 8))
    bass = 0.3 * np.sin(2 * np.pi * 55 * t)
    clicks = 0.5 * (np.mod(t, 0.25) < 0.01) * np.random.default_rng(0).standard_normal(t.size)
    x = np.stack([voice + bass + clicks, 0.9 * voice + bass + 0.8 * clicks]).astype(np.float32)
    return audio.save(path, 0.5 * x, sr)


def final_files(folder: Path) -> list[Path]:
    """Files under final names: nothing hidden (temporary/staging names start with a dot)."""
    return [p for p in folder.rglob("*") if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)]


def is_whole(p: Path) -> str | None:
    """``None`` when ``p`` is a complete file of its kind, else what is wrong."""
    try:
        suf = p.suffix.lower()
        if suf in (".wav", ".flac", ".mp3", ".ogg"):
            import soundfile as sf

            info = sf.info(str(p))
            x, _ = sf.read(str(p), dtype="float32", always_2d=True)
            if x.shape[0] != info.frames or x.shape[0] == 0:
                return f"{x.shape[0]} of {info.frames} frames"
            if not np.isfinite(x).all():
                return "non-finite samples"
        elif suf in (".json",):
            json.loads(p.read_text())
        elif suf == ".jsonl":
            for line in p.read_text().splitlines():
                json.loads(line)
        elif suf == ".safetensors":
            from safetensors.numpy import load_file

            load_file(str(p))
        elif suf == ".index":
            import faiss

            faiss.read_index(str(p))
        elif suf == ".npz":
            with np.load(p, allow_pickle=False) as z:
                for k in z.files:
                    z[k]
        elif suf == ".pt":
            import torch

            torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any failure to read is a partial file
        return f"{type(exc).__name__}: {exc}"
    return None


def _run_to_end(cmd: list[str], log: Path, timeout: float = 1200) -> tuple[float, str]:
    t0 = time.monotonic()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, cwd=REPO, env=_env(), stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    out = log.read_text()
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{out[-3000:]}"
    return time.monotonic() - t0, out


def _kill_at(cmd: list[str], after: float, log: Path) -> bool:
    """Start ``cmd``, SIGKILL it ``after`` seconds later; True when it was still running."""
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=f, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=after)
            return False
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True


def kill_loop(name: str, cmd: list[str], out: Path, tmp: Path, reset=None) -> dict:
    """The reference run, :data:`KILLS` killed runs, and a last run to the end."""
    rng = random.Random(f"{SEED}-{name}")
    t_ref, _ = _run_to_end(cmd, tmp / f"{name}-ref.log")
    ref = {p.relative_to(out): p.read_bytes() for p in final_files(out) if p.suffix in (".wav", ".flac")}
    if reset is not None:
        reset()
    partial, killed, points = [], 0, []
    for k in range(KILLS):
        at = rng.uniform(0.05, 0.95) * t_ref
        points.append(round(at, 2))
        was_killed = _kill_at(cmd, at, tmp / f"{name}-kill{k}.log")
        killed += was_killed
        for p in final_files(out):
            why = is_whole(p)
            if why is not None:
                partial.append(f"kill {k} at {at:.1f} s: {p.relative_to(out)}: {why}")
        if not was_killed and reset is not None:
            reset()  # it finished (a resumed run is shorter): the next kill starts from scratch
    _, last_log = _run_to_end(cmd, tmp / f"{name}-last.log")
    bad_last = [f"{p.relative_to(out)}: {w}" for p in final_files(out) if (w := is_whole(p)) is not None]
    return {"job": name, "runs": KILLS + 2, "kills": killed, "kill_points_s": points,
            "reference_seconds": round(t_ref, 1), "partial_files": partial, "bad_after_last_run": bad_last,
            "resumed": "resumed" in last_log, "reference": ref, "last_log": last_log}


def _report(row: dict) -> None:
    dest = os.environ.get("DISCOVERVOICE_KILL9_REPORT")
    if dest:
        keep = {k: v for k, v in row.items() if k not in ("reference", "last_log")}
        with open(dest, "a", encoding="utf-8") as f:
            f.write(json.dumps(keep) + "\n")


def _same_audio(ref: dict, out: Path) -> list[str]:
    from discovervoice import audio

    bad = []
    for rel in ref:
        got = out / rel
        if not got.is_file():
            bad.append(f"{rel} missing after the last run")
            continue
        import io

        import soundfile as sf

        a, _ = sf.read(io.BytesIO(ref[rel]), dtype="float32", always_2d=True)
        b = audio.load(got, None).T
        if a.shape != b.shape or not np.allclose(a, b, atol=1e-4):
            bad.append(f"{rel} differs from the reference run")
    return bad


def test_separation_killed(tmp_path):
    song = _song(tmp_path / "song.wav")
    out = tmp_path / "stems"
    cmd = _cmd("separate", str(song), "-o", str(out), "--no-progress", "-j", "1")
    row = kill_loop("separate", cmd, out, tmp_path, reset=lambda: shutil.rmtree(out, ignore_errors=True))
    _report(row)
    assert not row["partial_files"], row["partial_files"]
    assert not row["bad_after_last_run"], row["bad_after_last_run"]
    assert row["kills"] >= KILLS // 2, "most runs must be killed mid-way"
    assert not _same_audio(row["reference"], out)


def test_cover_killed(tmp_path):
    song = _song(tmp_path / "song.wav", 12.0)
    out = tmp_path / "cover"
    cmd = _cmd("cover", str(song), "--voice", "dv-voice-jp1", "-o", str(out / "cover.wav"))
    row = kill_loop("cover", cmd, out, tmp_path, reset=lambda: shutil.rmtree(out, ignore_errors=True))
    _report(row)
    assert not row["partial_files"], row["partial_files"]
    assert not row["bad_after_last_run"], row["bad_after_last_run"]
    assert row["kills"] >= KILLS // 2
    assert not _same_audio(row["reference"], out)


def test_voice_training_killed(tmp_path):
    from tests.speech_clips import klettres_words

    try:
        data = klettres_words(tmp_path / "voice-data", files=2)[0].parent
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    out = tmp_path / "voice"
    cmd = _cmd("voice", "train", str(data), "-o", str(out), "--steps", "150", "--threads", "1")
    row = kill_loop("voice-train", cmd, out, tmp_path, reset=lambda: shutil.rmtree(out, ignore_errors=True))
    _report(row)
    assert not row["partial_files"], row["partial_files"]
    assert not row["bad_after_last_run"], row["bad_after_last_run"]
    assert row["kills"] >= KILLS // 2
    assert (out / "voice.json").is_file() and (out / "model.safetensors").is_file()
    meta = json.loads((out / "voice.json").read_text())
    assert meta["train"]["steps"] > 0

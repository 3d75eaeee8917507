"""Hour-long inputs: peak memory of ``discovervoice separate`` on a 60-minute stereo 44.1 kHz
song and of ``discovervoice convert`` on a long voice recording (issue 18).

Each command runs as its own process under ``/usr/bin/time -v`` (peak RSS = "Maximum
resident set size", wall and CPU seconds). Anchors in the same run: the same command on a
1-minute file, so the table gives how much the peak grows per minute of input against
what the output buffers alone need (a stereo float32 44.1 kHz minute is 21.2 MB; the
separator holds the input and its stems, the converter its input and output).

The inputs are generated and written block by block (the generator never holds the whole
file): a "song" is a harmonic melody with a bass line and noise clicks, a "voice" is a
real voice's words (KLettres, looped) or, without that package, a sung harmonic line.

Conversion is far slower than separation on a CPU; ``--convert-minutes`` lists the lengths
to measure (default 1, 5, 10, 20: whether the peak grows with length shows at 20 minutes
without an hour of CPU), ``--convert-minutes 60`` measures the full hour.

    python benchmarks/bench_long_input.py [--song-minutes 60] [--convert-minutes 1,5,10,20] \
        [--out data/reliability/long_input.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SONG_RATE = 44100
VOICE_RATE = 44100


def write_song(path: Path, minutes: float, block_seconds: float = 30.0) -> Path:
    """A stereo 44.1 kHz song of ``minutes``, written in blocks (FLAC, 24-bit)."""
    import soundfile as sf

    sr = SONG_RATE
    n_total = int(minutes * 60 * sr)
    rng = np.random.default_rng(0)
    phase, done = 0.0, 0
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=2, format="FLAC", subtype="PCM_24") as f:
        while done < n_total:
            n = min(int(block_seconds * sr), n_total - done)
            t = (done + np.arange(n)) / sr
            f0 = 220 * 2 ** (np.floor(t / 0.5) % 7 / 12)
            ph = phase + 2 * np.pi * np.cumsum(f0) / sr
            phase = float(ph[-1])
            voice = sum(0.2 / k * np.sin(k * ph) for k in range(1, 8))
            bass = 0.3 * np.sin(2 * np.pi * 55 * t)
            clicks = 0.4 * (np.mod(t, 0.25) < 0.01) * rng.standard_normal(n)
            x = 0.5 * np.stack([voice + bass + clicks, 0.9 * voice + bass + 0.8 * clicks], axis=1)
            f.write(x.astype(np.float32))
            done += n
    return path


def write_voice(path: Path, minutes: float) -> Path:
    """A mono 44.1 kHz voice recording of ``minutes`` (KLettres words looped, else a sung line)."""
    import soundfile as sf

    sys.path.insert(0, str(REPO))
    try:
        from tests.speech_clips import klettres_words

        src = klettres_words(Path(tempfile.mkdtemp(prefix="dv-voice-")), files=3, sample_rate=VOICE_RATE)
        unit = np.concatenate([sf.read(str(p), dtype="float32")[0] for p in src])
    except (FileNotFoundError, ImportError):
        t = np.arange(20 * VOICE_RATE) / VOICE_RATE
        f0 = 180 * 2 ** (np.floor(t / 0.6) % 5 / 12)
        ph = 2 * np.pi * np.cumsum(f0) / VOICE_RATE
        unit = (0.3 * sum(np.sin(k * ph) / k for k in range(1, 10)) * (np.mod(t, 0.6) < 0.45)).astype(np.float32)
    n_total = int(minutes * 60 * VOICE_RATE)
    done = 0
    with sf.SoundFile(str(path), "w", samplerate=VOICE_RATE, channels=1, format="FLAC", subtype="PCM_16") as f:
        while done < n_total:
            n = min(unit.size, n_total - done)
            f.write(unit[:n])
            done += n
    return path


def timed(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``: peak RSS (MB), wall and CPU seconds, status."""
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    t0 = time.monotonic()
    with open(log, "w") as f:
        proc = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)
    wall = time.monotonic() - t0
    text = log.read_text(errors="replace")

    def field(name: str) -> float:
        m = re.search(rf"{re.escape(name)}: ([0-9.]+)", text)
        return float(m.group(1)) if m else float("nan")

    return {"status": proc.returncode, "wall_s": round(wall, 1),
            "cpu_s": round(field("User time (seconds)") + field("System time (seconds)"), 1),
            "peak_rss_mb": round(field("Maximum resident set size (kbytes)") / 1024, 1),
            "log": str(log)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--song-minutes", type=float, default=60.0, help="0 skips separation")
    ap.add_argument("--convert-minutes", default="1,5,10,20", help="comma-separated; empty skips conversion")
    ap.add_argument("--voice", default="dv-voice-jp1")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temp dir)")
    ap.add_argument("--out", default=None, help="write the JSON here")
    args = ap.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="dv-long-"))
    work.mkdir(parents=True, exist_ok=True)
    dv = [sys.executable, "-m", "discovervoice"]
    res: dict = {"separate": [], "convert": []}

    def report():
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(res, indent=1))

    if args.song_minutes > 0:
        for minutes in (1.0, args.song_minutes):
            song = write_song(work / f"song-{minutes:g}min.flac", minutes)
            out = work / f"stems-{minutes:g}"
            r = timed([*dv, "separate", str(song), "-o", str(out), "--no-progress", "-j", "1", "--force"],
                      work / f"separate-{minutes:g}.log")
            r.update(minutes=minutes, rtf=round(r["wall_s"] / (60 * minutes), 4),
                     output_buffer_mb=round(2 * 2 * 4 * SONG_RATE * 60 * minutes / 2 ** 20, 1))
            res["separate"].append(r)
            print("separate", json.dumps(r), flush=True)
            song.unlink()
            shutil.rmtree(out, ignore_errors=True)  # an hour of stems is 2.5 GB
            report()
    for minutes in [float(m) for m in args.convert_minutes.split(",") if m.strip()]:
        voice = write_voice(work / f"voice-{minutes:g}min.flac", minutes)
        r = timed([*dv, "convert", str(voice), "--voice", args.voice, "-o", str(work / f"converted-{minutes:g}.wav")],
                  work / f"convert-{minutes:g}.log")
        r.update(minutes=minutes, rtf=round(r["wall_s"] / (60 * minutes), 4),
                 input_buffer_mb=round(4 * VOICE_RATE * 60 * minutes / 2 ** 20, 1))
        res["convert"].append(r)
        print("convert", json.dumps(r), flush=True)
        voice.unlink()
        (work / f"converted-{minutes:g}.wav").unlink(missing_ok=True)
        report()
    return res


if __name__ == "__main__":
    main()

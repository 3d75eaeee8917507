#!/usr/bin/env python3
"""Corpus build speed: song audio made per second of wall time, against an anchor.

Builds ``--songs`` multitrack songs (``discovervoice corpus build --parts songs``) with
``--workers`` processes and reports the real-time factor: seconds of song audio (the
mixture's length) per second of wall-clock time. Target: >= 100x on 2 cores.

Anchor, measured in the same run: the plain ``fluidsynth`` command line (``-ni -F``)
rendering the same chorales (all four parts as General MIDI piano/strings, no vocals,
no stems) to a 44.1 kHz file, the same number of processes in parallel. The ratio
``build_xrt / anchor_xrt`` is the number to compare across machines.

    python benchmarks/bench_corpus.py [--songs 8] [--workers 2] [--song-seconds 25]

Also reported: CPU seconds (this process and all its children: workers, espeak-ng,
mbrola, fluidsynth) per second of audio, which depends much less on how busy the machine
is than wall time; ``2 * audio / cpu`` (``build_xrt_two_idle_cores``) is the real-time
factor two idle cores would give, and the number the >= 100x target is read from. It
includes everything ``build()`` costs: starting the workers (``fork`` when the caller runs
no other thread, so they share the modules imported once; ``spawn`` otherwise), the
first-use loads in each worker (soundfont, drum kits), writing the five float32 WAV files
of every song (44 MB per 25 s song; the anchor writes one 16-bit file) and the manifest.
Score parsing (music21, cached in ``DIR/.cache``) is timed apart, as in a real build it
happens once per piece. A loaded machine also inflates CPU time (shared caches), so
compare ``cpu_ratio_build_to_anchor`` between runs on different days.

Where a song's CPU goes (one worker, steady state, 16 MBROLA songs of 26.5 s, this
machine): FluidSynth ~120 ms, writing the WAVs ~100 ms (kernel page cache), the FFT
reverb ~90 ms (half the songs have one), espeak-ng + MBROLA ~25 ms, the rest ~40 ms.
A festival voice (1 song in 60) costs ~1.5 s more (WORLD analysis and synthesis).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _cpu() -> float:
    """User+system CPU seconds of this process and its waited-for children."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _anchor(pieces: list[str], seconds: list[float], workdir: Path, workers: int,
            soundfont: str) -> tuple[float, float]:
    """Render each piece's parts with the fluidsynth CLI; returns (audio_s, wall_s)."""
    import pretty_midi

    from discovervoice.corpus import scores

    midis = []
    for pid, dur in zip(pieces, seconds):
        piece = scores.load_piece(pid)
        q = dur / piece.length_q
        pm = pretty_midi.PrettyMIDI()
        for i, part in enumerate(piece.parts):
            ins = pretty_midi.Instrument(program=[0, 48, 48, 32][i % 4])
            ins.notes = [pretty_midi.Note(80, n.pitch, n.start * q, (n.start + n.dur) * q)
                         for n in part]
            pm.instruments.append(ins)
        f = workdir / f"{len(midis)}.mid"
        pm.write(str(f))
        midis.append(f)

    def render(f: Path) -> None:
        subprocess.run(["fluidsynth", "-ni", "-q", "-r", "44100", "-F", str(f.with_suffix(".wav")),
                        soundfont, str(f)], check=True, capture_output=True)

    c0, t0 = _cpu(), time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(render, midis))
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    import soundfile as sf
    audio = sum(sf.info(str(f.with_suffix(".wav"))).duration for f in midis)
    return audio, wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--songs", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--song-seconds", type=float, default=25.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from discovervoice.corpus.accompaniment import soundfonts
    from discovervoice.corpus.build import BuildConfig, build, plan

    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as td:
        out = Path(td) / "corpus"
        cfg = BuildConfig(out=str(out), seed=args.seed, parts=("songs",), splits=("train",),
                          songs=args.songs, valid_fraction=0.0,
                          song_seconds=args.song_seconds, workers=args.workers,
                          recorded_voices=False)
        # voice probing and music21 score parsing (once per piece; the parsed scores are
        # cached in DIR/.cache) are timed apart from the build itself
        from discovervoice.corpus.parts import usable_song_piece

        jobs = plan(cfg)
        p0 = time.perf_counter()
        for j in jobs:
            next((c for c in j.args["candidates"] if usable_song_piece(c, out)), None)
        parse_s = time.perf_counter() - p0
        c0, t0 = _cpu(), time.perf_counter()
        m = build(cfg)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        # asked after the timed build: choosing fork imports what the workers share
        from discovervoice.corpus.build import _mp_context

        start_method = _mp_context().get_start_method() if args.workers > 1 else "none"
        songs = [it for it in m["items"] if it["part"] == "songs"]
        audio = sum(it["duration_s"] for it in songs)
        pieces = [it["piece"] for it in songs]
        durs = [it["duration_s"] for it in songs]
        sf2 = soundfonts()[0].path
        a_audio, a_wall, a_cpu = _anchor(pieces, durs, Path(td), args.workers, sf2)
    res = {
        "songs": len(songs), "workers": args.workers, "cpu_count": os.cpu_count(),
        "score_parsing_s": round(parse_s, 2),
        "song_audio_s": round(audio, 1), "build_wall_s": round(wall, 2),
        "build_xrt": round(audio / wall, 1),
        "build_cpu_s": round(cpu, 2),
        "build_xrt_two_idle_cores": round(2 * audio / cpu, 1),
        "build_cpu_s_per_song": round(cpu / max(1, len(songs)), 3),
        "worker_start_method": start_method,
        "anchor": "fluidsynth CLI -ni -F, same pieces and lengths, same process count",
        "anchor_audio_s": round(a_audio, 1), "anchor_wall_s": round(a_wall, 2),
        "anchor_xrt": round(a_audio / a_wall, 1),
        "anchor_cpu_s": round(a_cpu, 2),
        "anchor_xrt_two_idle_cores": round(2 * a_audio / a_cpu, 1),
        "ratio_build_to_anchor": round((audio / wall) / (a_audio / a_wall), 3),
        "cpu_ratio_build_to_anchor": round((audio / cpu) / (a_audio / a_cpu), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "target_build_xrt": 100,
    }
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

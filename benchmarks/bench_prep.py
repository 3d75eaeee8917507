"""Throughput of dataset preparation: minutes of audio prepared per minute of wall time.

Usage::

    nice python benchmarks/bench_prep.py [--minutes 2] [--input FILE ...] [--threads 2]

Input: the given files, or a synthetic recording of ``--minutes`` minutes (sung phrases,
speech-like bursts, drums and silences from :mod:`discovervoice.testsignals`). Runs
:func:`discovervoice.prep.pipeline.prepare` without separation (the separator has its own
benchmark) and times each stage on the same audio.

Anchor (same run, same audio): decoding the files and resampling them to 16 kHz plus one
frame-energy pass — the least any preparation must do. The report gives the throughput
and ``prep_time / anchor_time``, which stays comparable across machines and loads.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _synthetic(minutes: float, path: Path) -> Path:
    import soundfile as sf

    from discovervoice import testsignals as S

    rng = np.random.default_rng(0)
    parts, t = [], 0.0
    while t < minutes * 60:
        k = int(rng.integers(3))
        if k == 0:
            p = S.sung_phrase(list(rng.uniform(180, 400, 8)), 0.5)
        elif k == 1:
            p = S.speech_like(rng.uniform(3, 8), rng, f0=rng.uniform(100, 220))
        else:
            p = S.drum_loop(rng.uniform(2, 5), rng)
        parts += [p, S.silence(rng.uniform(0.5, 1.5))]
        t += sum(len(q) for q in parts[-2:]) / 16_000
    sf.write(path, np.concatenate(parts), 16_000)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--input", nargs="*", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from discovervoice.audio import load
    from discovervoice.prep import features as F
    from discovervoice.prep.diarization import diarize
    from discovervoice.prep.pipeline import PrepOptions, prepare
    from discovervoice.prep.segmentation import segment
    from discovervoice.prep.sex import estimate_sex

    with tempfile.TemporaryDirectory() as td:
        files = [Path(f) for f in args.input] if args.input else [_synthetic(args.minutes, Path(td) / "in.wav")]
        # warm-up (model loads, imports) on a short excerpt, not timed
        x0 = load(files[0], 16_000, 1, max_seconds=None)[:, : 16_000 * 5]
        diarize(x0, 16_000, segment(x0, 16_000))
        t = time.perf_counter()
        audio = [load(f, 16_000, 1, max_seconds=None) for f in files]
        for a in audio:
            F.energy_db(a[0])
        anchor = time.perf_counter() - t
        minutes = sum(a.shape[1] for a in audio) / 16_000 / 60
        stages = {"segment": 0.0, "diarize": 0.0, "sex": 0.0}
        for a in audio:
            t = time.perf_counter()
            segs = segment(a, 16_000)
            stages["segment"] += time.perf_counter() - t
            t = time.perf_counter()
            segs = diarize(a, 16_000, segs)
            stages["diarize"] += time.perf_counter() - t
            t = time.perf_counter()
            for s in segs:
                if s.label in ("speech", "singing"):
                    estimate_sex(a[:, int(s.start * 16_000):int(s.end * 16_000)], 16_000, s.label)
            stages["sex"] += time.perf_counter() - t
        t = time.perf_counter()
        summary = prepare(files, Path(td) / "ds", PrepOptions(separate=False, sample_rate=44_100))
        total = time.perf_counter() - t
    res = {"audio_minutes": round(minutes, 3), "threads": args.threads,
           "prepare_seconds": round(total, 2),
           "throughput_min_per_min": round(minutes / (total / 60), 2),
           "anchor_seconds": round(anchor, 3),
           "prepare_over_anchor": round(total / max(anchor, 1e-9), 1),
           "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
           "slices": summary["slices"], "minutes_kept": summary["minutes_kept"]}
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

"""Benchmark: ``which-singer`` latency on a 10-second clip after the model is loaded.

Budget (issue 5): under 2 s on 2 CPU cores. Measured as wall time and process CPU time of
``SingerClassifier.which_singer`` (VAD + windows + log-mel + AST + aggregation +
recommendations), median over ``--repeat`` runs, and as a ratio against an anchor in the
same run: the resemblyzer GE2E speaker embedding of the same clip (the baseline system's
cost for the same question), so numbers from machines of other speeds compare.

    python benchmarks/bench_classify.py [--model default] [--clip FILE] [--threads 2]
                                        [--scoring auto|head|gallery]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

SR = 16000


def synthetic_voice(seconds: float = 10.0, seed: int = 0) -> np.ndarray:
    """A sung-like test signal ``[1, T]`` at :data:`SR` (``testsignals.random_sung_notes``)."""
    from discovervoice.testsignals import random_sung_notes

    return random_sung_notes(seconds, SR, base_hz=220.0, seed=seed)[None]


def timed(fn, repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU seconds (all threads) of each of ``repeat`` calls.

    On a shared machine wall time measures the other users too; CPU time does not, and
    on dedicated cores wall time is at most the CPU time (threads only shorten it)."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--clip", default=None, help="audio file (default: a synthetic 10 s voice)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scoring", choices=("auto", "head", "gallery"), default="auto",
                    help="gallery: centroid scoring through the gallery backend, as after "
                         "`classify gallery add`")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from discovervoice.classify import SingerClassifier

    t = time.perf_counter()
    clf = SingerClassifier.load(args.model)
    load_s = time.perf_counter() - t
    if args.clip:
        from discovervoice import audio

        x = audio.load(args.clip, SR, 1)[:, : int(args.seconds * SR)]
    else:
        x = synthetic_voice(args.seconds)
    ours, ours_cpu = timed(lambda: clf.which_singer(x, top_k=5, scoring=args.scoring),
                           args.repeat)
    from discovervoice.eval.speaker import ResemblyzerEncoder

    enc = ResemblyzerEncoder()
    anchor, anchor_cpu = timed(lambda: enc.embed(x, SR), args.repeat)
    med, med_a = statistics.median(ours), statistics.median(anchor)
    cpu, cpu_a = statistics.median(ours_cpu), statistics.median(anchor_cpu)
    print(json.dumps({
        "benchmark": "which-singer latency", "model": clf.name, "scoring": args.scoring,
        "gallery_backend": clf.backend.info.get("method") if clf.backend is not None else None,
        "clip_seconds": round(x.shape[1] / SR, 2), "threads": args.threads,
        "load_seconds": round(load_s, 3), "which_singer_seconds_median": round(med, 3),
        "which_singer_seconds_all": [round(v, 3) for v in ours],
        "anchor": "resemblyzer GE2E embedding of the same clip",
        "which_singer_cpu_seconds_median": round(cpu, 3),
        "anchor_seconds_median": round(med_a, 3), "anchor_cpu_seconds_median": round(cpu_a, 3),
        "ratio_to_anchor": round(med / med_a, 2), "cpu_ratio_to_anchor": round(cpu / cpu_a, 2),
        "budget_seconds": 2.0, "within_budget_wall": med < 2.0,
        "within_budget_cpu": cpu < 2.0,
    }, indent=2))


if __name__ == "__main__":
    main()

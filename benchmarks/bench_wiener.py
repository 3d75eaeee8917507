"""CPU cost of the Wiener post-filter: a separator with ``wiener=N`` against the same separator
without it, interleaved in one process (ratio of medians; machines are noisy).

    python benchmarks/bench_wiener.py --model dv-mdx23c-real --wiener 1 --seconds 60 --repeats 3 \\
        --song data/corpus-realdev/real_songs/valid/0001_*/mixture.wav

Without ``--song`` a stereo test signal (harmonic voice + noise bursts + bass) is generated.
Prints one JSON line: seconds per run with and without the filter, their ratio, and the
real-time factors.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def _signal(seconds: float, sr: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(220 * 2 ** (0.5 * np.sin(2 * np.pi * 0.1 * t))) / sr
    voc = sum(np.sin(k * phase) / k for k in range(1, 10))
    acc = 0.3 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 2 * t) > 0.3) + 0.5 * np.sin(2 * np.pi * 55 * t)
    return (0.1 * np.stack([voc + 0.5 * acc, 0.6 * voc + acc])).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--wiener", type=int, default=1, help="EM iterations of the filtered run")
    ap.add_argument("--song", default=None, help="audio file (default: a generated stereo signal)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    from discovervoice import audio
    from discovervoice.separation.api import Separator

    torch.set_num_threads(args.threads)
    plain = Separator(args.model)
    filt = Separator(args.model, wiener=args.wiener)
    sr = plain.sample_rate
    if args.song:
        x = audio.load(args.song, sr, channels=2)[:, : int(args.seconds * sr)]
    else:
        x = _signal(args.seconds, sr)
    filt.separate(x[:, : sr * 2], sr)            # warm-up: STFT/FFT plans, first-call imports
    times: dict[str, list[float]] = {"plain": [], "wiener": []}
    for _ in range(args.repeats):
        for name, sep in (("plain", plain), ("wiener", filt)):
            t0 = time.perf_counter()
            sep.separate(x, sr)
            times[name].append(time.perf_counter() - t0)
    dur = x.shape[1] / sr
    p, w = statistics.median(times["plain"]), statistics.median(times["wiener"])
    print(json.dumps({"model": plain.name, "wiener": args.wiener, "audio_seconds": round(dur, 2),
                      "plain_s": round(p, 3), "wiener_s": round(w, 3), "ratio": round(w / p, 3),
                      "rtf_plain": round(p / dur, 4), "rtf_wiener": round(w / dur, 4),
                      "threads": args.threads}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: voice conversion speed and voice training time.

Conversion: real-time factor (RTF = processing seconds / audio seconds) of
``discovervoice.convert.convert`` with the default WORLD voice, per F0 method, and the
same for an RVC v2 40 kHz network of the published size (random weights: the speed does
not depend on their values; the content features are given, since HuBERT weights are not
shipped). Anchor, measured in the same run on the same audio: WORLD analysis + synthesis
(``pyworld.dio`` + ``cheaptrick`` + ``d4c`` + ``synthesize``, the vocoder's floor), so the
ratio ``convert / anchor`` compares across machines. Target (issue 6): RTF <= 0.5 on 2
cores for the default.

Training (``--train DIR``): wall time of ``train_voice`` on a folder (3 minutes of voice for
the issue's number), with the data-prep/feature and training-loop parts, against the
anchor's speed.

    python benchmarks/bench_convert.py --voice VOICE_DIR [--seconds 20] [--threads 2]
        [--methods harvest,dio,rmvpe] [--train DIR --train-out OUT]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import best_of

SR = 16000


def test_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Sung-like audio at :data:`SR` (``testsignals.random_sung_notes``, with a noise floor)."""
    from discovervoice.testsignals import random_sung_notes

    return random_sung_notes(seconds, SR, base_hz=200.0, seed=seed, noise=1e-4)


def _best(fn, repeat: int) -> float:
    return best_of(fn, repeat, warmup=True)


def anchor(x: np.ndarray) -> float:
    import pyworld

    def run():
        d = x.astype(np.float64)
        f0, t = pyworld.dio(d, SR, f0_floor=50.0, f0_ceil=1100.0, frame_period=10.0)
        sp = pyworld.cheaptrick(d, f0, t, SR)
        ap = pyworld.d4c(d, f0, t, SR)
        pyworld.synthesize(f0, sp, ap, SR, 10.0)

    return _best(run, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--voice", default=None, help="trained voice folder (default: train a quick one)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", default="harvest,dio,praat,crepe-tiny")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--rvc", action="store_true", help="also time the RVC v2 40k network")
    ap.add_argument("--train", type=Path, default=None, help="voice folder to time training on")
    ap.add_argument("--train-out", type=Path, default=None)
    ap.add_argument("--steps", type=int, default=3000)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from discovervoice.convert import VoiceModel, convert

    x = test_signal(args.seconds)
    result: dict = {"seconds": args.seconds, "threads": args.threads}
    a = anchor(x)
    result["anchor_world_seconds"] = round(a, 3)
    result["anchor_rtf"] = round(a / args.seconds, 4)
    if args.voice:
        v = VoiceModel.load(args.voice)
        v.content_encoder()  # load once, outside the timing
        result["voice"] = str(args.voice)
        for m in [s for s in args.methods.split(",") if s]:
            sec = _best(lambda: convert(x, SR, v, f0_method=m), args.repeat)
            result[f"rtf_{m}"] = round(sec / args.seconds, 4)
            result[f"ratio_to_anchor_{m}"] = round(sec / a, 3)
    if args.rvc:
        from discovervoice.convert.rvc import RVCModel, build_synthesizer, default_config

        net = RVCModel(build_synthesizer(default_config(40000)), "v2")
        n = int(args.seconds * 100)
        feats = np.random.default_rng(0).standard_normal((n, 768)).astype(np.float32)
        f0 = np.full(n, 220.0)
        sec = _best(lambda: net.synthesize(feats, f0), args.repeat)
        result["rvc_v2_40k_synth_rtf"] = round(sec / args.seconds, 4)
        result["rvc_v2_40k_ratio_to_anchor"] = round(sec / a, 3)
    if args.train:
        from discovervoice.convert.voice import find_audio, train_voice
        from discovervoice import audio as dva

        out = args.train_out or Path("/tmp/bench_voice")
        secs = sum(dva.info(f).duration for f in find_audio(args.train))
        t0 = time.perf_counter()
        tv = train_voice(args.train, out, steps=args.steps, resume=False, threads=args.threads)
        total = time.perf_counter() - t0
        result["train"] = {"audio_minutes": round(secs / 60, 2), "wall_seconds": round(total, 1),
                           "loop_seconds": tv.meta["train"]["loop_seconds"],
                           "steps": tv.meta["train"]["steps"], "stopped": tv.meta["train"]["stopped"],
                           "ratio_to_anchor_per_audio_second": round(total / (secs / args.seconds * a), 2)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

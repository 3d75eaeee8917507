"""Throughput of the evaluation metrics: minutes of audio scored per minute of wall time.

Measured metrics: uSDR, SI-SDR, the closed-form BSSEval v4 SDR and full BSSEval v4
(museval; vocals + rest, stereo, 44.1 kHz, the layout of ``discovervoice eval separation``
on a vocals-only estimate), and MCD
(WORLD + mel-cepstrum + exact DTW, default settings; and the pymcd recipe).

Anchor: in the same run, a fixed reference workload — a Hann-windowed 2048-point STFT
(numpy rfft) of the same stereo signal — is timed; every metric is also reported as a
ratio ``metric seconds / anchor seconds`` for the same amount of audio, which stays
comparable between machines and loads (the DESIGN.md rule for benchmarks).

Usage::

    python benchmarks/bench_eval.py [--seconds 30] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from common import best_of

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


_best = best_of


def _anchor(x: np.ndarray, n_fft: int = 2048, hop: int = 512) -> None:
    win = np.hanning(n_fft)
    for ch in x:
        frames = np.lib.stride_tricks.sliding_window_view(ch, n_fft)[::hop]
        np.abs(np.fft.rfft(frames * win, axis=1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="audio per measurement (s)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    from scipy.signal import lfilter

    from discovervoice.eval import mcd, separation
    from discovervoice.testsignals import harmonic_voice

    rng = np.random.default_rng(0)
    sr = 44100
    t = int(args.seconds * sr)
    vocals = lfilter([1], [1, -0.95], rng.standard_normal((2, t))) * 0.05
    rest = lfilter([1], [1, 0.5], rng.standard_normal((2, t))) * 0.05
    est_v = vocals + 0.1 * rest + 0.01 * rng.standard_normal((2, t))
    est_r = vocals + rest - est_v
    minutes = args.seconds / 60.0

    anchor_s = _best(lambda: _anchor(vocals), args.repeats)
    rows = {}

    def record(name, seconds, audio_minutes):
        rows[name] = {"seconds": seconds, "audio_minutes": audio_minutes,
                      "minutes_per_minute": audio_minutes / (seconds / 60.0),
                      "ratio_to_anchor": seconds / (anchor_s * audio_minutes / minutes)}

    record("usdr", _best(lambda: separation.usdr(vocals, est_v), args.repeats), minutes)
    record("si_sdr", _best(lambda: separation.si_sdr(vocals, est_v), args.repeats), minutes)
    record("sdr_v4 closed form (2 sources)", _best(lambda: separation.sdr_v4_framewise(
        np.stack([vocals, rest]), np.stack([est_v, est_r]), sr), args.repeats), minutes)
    record("bss_eval_v4 museval (2 sources)", _best(lambda: separation.bss_eval_v4(
        np.stack([vocals, rest]), np.stack([est_v, est_r]), sr), 1), minutes)

    vsr = 16000
    mseconds = min(args.seconds, 20.0)
    a = harmonic_voice(150.0, seconds=mseconds, sr=vsr, formant=700.0, vibrato=0.3)
    b = harmonic_voice(155.0, seconds=mseconds, sr=vsr, formant=780.0, vibrato=0.3, seed=1)
    record("mcd (WORLD, order 24, exact DTW)",
           _best(lambda: mcd.mcd(a, b, vsr), args.repeats), mseconds / 60.0)
    record("mcd (pymcd recipe, fastdtw)",
           _best(lambda: mcd.mcd(a, b, vsr, mode="pymcd"), 1), mseconds / 60.0)

    result = {"anchor": {"what": "stereo 2048-pt STFT, numpy", "seconds": anchor_s,
                         "audio_minutes": minutes,
                         "minutes_per_minute": minutes / (anchor_s / 60.0)},
              "metrics": rows, "cpu_count": os.cpu_count(),
              "threads": os.environ.get("OMP_NUM_THREADS")}
    print(f"anchor (STFT): {result['anchor']['minutes_per_minute']:.0f} audio-min/min")
    print(f"{'metric':36s} {'audio-min/min':>14s} {'x anchor time':>14s}")
    for name, r in rows.items():
        print(f"{name:36s} {r['minutes_per_minute']:14.2f} {r['ratio_to_anchor']:14.1f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of speech enhancement: real-time factor (RTF = processing seconds / audio seconds)
of the CRNN enhancer on N CPU threads, against anchors measured in the same run.

Anchors: a scipy STFT + ISTFT round trip of the same audio (the signal-processing floor
of any STFT-domain enhancer) and noisereduce's spectral gating (the baseline the CRNN
must beat on quality). The ratio CRNN / anchor is the machine-independent number; the
absolute RTF is for this machine (the issue's target: RTF <= 0.1 on 2 cores).

    python benchmarks/bench_enhance.py [--model dv-enhance-crnn] [--seconds 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from common import best_of


_best = best_of


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dv-enhance-crnn",
                    help="registry name or checkpoint; 'random' for an untrained default CRNN")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import torch
    from scipy.signal import istft, stft

    from discovervoice.enhance.apply import Enhancer, load
    from discovervoice.enhance.baselines import spectral_gating
    from discovervoice.enhance.model import CRNN, count_parameters

    torch.set_num_threads(args.threads)
    enh = (Enhancer(CRNN(), num_threads=args.threads) if args.model == "random"
           else load(args.model, num_threads=args.threads))
    sr = enh.sample_rate
    rng = np.random.default_rng(0)
    x = (0.05 * rng.standard_normal((1, int(args.seconds * sr)))).astype(np.float32)
    enh.enhance(x[:, :sr])                                   # warm-up

    t_crnn = _best(lambda: enh.enhance(x), args.repeats)
    t_stft = _best(lambda: istft(stft(x[0], nperseg=512, noverlap=384)[2], nperseg=512,
                                 noverlap=384), args.repeats)
    t_nr = _best(lambda: spectral_gating(x, sr), max(1, args.repeats - 1))
    res = {
        "model": args.model, "params": count_parameters(enh.model),
        "causal": enh.causal, "threads": args.threads, "audio_seconds": args.seconds,
        "rtf_crnn": t_crnn / args.seconds,
        "rtf_anchor_stft_istft": t_stft / args.seconds,
        "rtf_anchor_noisereduce": t_nr / args.seconds,
        "crnn_over_stft": t_crnn / t_stft,
        "crnn_over_noisereduce": t_crnn / t_nr,
    }
    print(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()

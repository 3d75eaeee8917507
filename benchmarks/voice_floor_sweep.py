"""Development sweep behind the PPG floor (``discovervoice.convert.content.PPG_FLOOR``).

For every voice of ``CORPUS/parallel/<split>/voices`` already trained in ``--voices`` (by
``discovervoice voice evaluate CORPUS --voices DIR --split valid --steps 800``), the
WorldNet is retrained from the voice's cached F0 and WORLD targets (``train/features.npz``)
with its content features recomputed at ``--floor`` (the cached slices are re-cut with
:func:`~discovervoice.convert.voice.prepare_slices`, so frames line up), with the recipe's
loop (batch 16 x 200 frames, AdamW 2e-3, warm-up + cosine, best of the held-out checks);
then every parallel rendition is converted into each other voice of its set and the MCD
against that voice's own rendition is printed per ``index_rate``. ``--prematch P`` feeds a
share ``P`` of the training crops with kNN-VC-style "prematched" inputs (Baas et al. 2023):
the 1/d^2 retrieval mix of the 8 nearest frames of *other* slices.

``--budget`` also prints the error budget of each target: WORLD analysis/synthesis of the
truth (the vocoder's floor) and the net resynthesising the truth from its own features.

Used on development voices only (``corpus/parallel/valid``), never on reserved ones:
``python benchmarks/voice_floor_sweep.py --corpus data/corpus-dev --voices data/convert/dev-base --floor -2``
where ``data/corpus-dev`` links sets 000 and 001 of ``data/corpus/parallel/valid`` and their
six voices. Libraries: torch, faiss, pyworld via discovervoice.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np
import torch

from discovervoice import audio as dva
from discovervoice.convert import f0 as F0
from discovervoice.convert.api import convert_segment
from discovervoice.convert.content import load_content_encoder
from discovervoice.convert.evaluate import _set_transpose
from discovervoice.convert.index import FeatureIndex, weighted_neighbours
from discovervoice.convert.voice import VoiceModel, prepare_slices
from discovervoice.convert.world import WorldVoice, analyze, build_world_net, f0_inputs, synthesize
from discovervoice.eval.mcd import mcd


def retrain(vdir: Path, enc, a) -> VoiceModel:
    v = VoiceModel.load(vdir)
    z = np.load(vdir / "train/features.npz")
    lengths, Fz, Y = z["lengths"].tolist(), z["f0"], z["y"]
    slices = prepare_slices(v.meta["train"]["data"], v.sample_rate)
    if len(slices) != len(lengths):
        raise SystemExit(f"{vdir}: {len(slices)} slices now, {len(lengths)} cached; retrain the voice")
    C = np.concatenate([enc(s.audio16k)[:n] for s, n in zip(slices, lengths)])
    lf0 = np.log(Fz[Fz > 0])
    stats = {"lf0_mean": float(lf0.mean()), "lf0_std": float(lf0.std()), "y_mean": Y.mean(0).tolist(),
             "y_std": np.maximum(Y.std(0), 1e-3).tolist()}
    X = np.concatenate([C, f0_inputs(Fz, stats["lf0_mean"], stats["lf0_std"])], 1).astype(np.float32)
    Yn = ((Y - np.array(stats["y_mean"])) / np.array(stats["y_std"])).astype(np.float32)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    val = [i for i in range(len(lengths)) if i % 10 == 5]
    tr = [i for i in range(len(lengths)) if i not in val]
    rows = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in tr])
    Xtr, Ytr = X[rows], Yn[rows]
    if a.prematch > 0:
        Ct = np.ascontiguousarray(C[rows], dtype=np.float32)
        group = np.concatenate([np.full(bounds[i + 1] - bounds[i], i) for i in tr])
        D, I = FeatureIndex(Ct).search(Ct, 64)
        other = group[I] != group[:, None]
        order = np.argsort(~other, axis=1, kind="stable")[:, :8]
        pm = weighted_neighbours(Ct, np.take_along_axis(D, order, 1), np.take_along_axis(I, order, 1))
        Xpm = Xtr.copy()
        Xpm[:, :C.shape[1]] = 0.75 * pm + 0.25 * Ct
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = build_world_net(in_dim=X.shape[1], out_dim=Y.shape[1], channels=128, n_layers=4)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    best, best_state = float("inf"), None
    for step in range(a.steps):
        idx = rng.integers(0, len(Xtr) - 200 + 1, size=16)
        use = rng.random(16) < a.prematch if a.prematch > 0 else np.zeros(16, bool)
        xb = torch.from_numpy(np.stack([(Xpm if u else Xtr)[i:i + 200].T for i, u in zip(idx, use)]))
        yb = torch.from_numpy(np.stack([Ytr[i:i + 200].T for i in idx]))
        loss = torch.abs(net(xb + 0.05 * torch.randn_like(xb)) - yb).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        for g in opt.param_groups:
            g["lr"] = 2e-3 * min(1.0, (step + 1) / 100) * 0.5 * (1 + np.cos(np.pi * step / a.steps))
        opt.step()
        if (step + 1) % 100 == 0:
            net.eval()
            with torch.inference_mode():
                vl = float(np.mean([torch.abs(net(torch.from_numpy(X[bounds[i]:bounds[i + 1]].T.copy())[None])
                                              - torch.from_numpy(Yn[bounds[i]:bounds[i + 1]].T.copy())[None]).mean()
                                    for i in val]))
            net.train()
            if vl < best:
                best, best_state = vl, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    v.synth = WorldVoice(net.eval(), v.sample_rate, v.synth.order, stats)
    v.index = FeatureIndex.build(C[rows])
    print(vdir.name, "best held-out L1", round(best, 4), flush=True)
    return v


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--voices", required=True)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--floor", type=float, default=-2.0, help="PPG log-posterior floor")
    ap.add_argument("--prematch", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--index-rates", default="0.75,1")
    ap.add_argument("--budget", action="store_true")
    a = ap.parse_args(argv)
    if a.split == "test":
        raise SystemExit("development sweep: the test split holds the voices reserved for evaluation")
    torch.set_num_threads(1)
    enc = load_content_encoder("dv-content-ppg").with_floor(a.floor)
    root = Path(a.corpus) / "parallel" / a.split
    voices = {d.name: retrain(Path(a.voices) / d.name, enc, a) for d in sorted((root / "voices").glob("*"))}
    rates = [float(r) for r in a.index_rates.split(",")]
    rows = []
    for s in sorted((root / "sets").glob("*")):
        names = sorted(p.stem for p in s.glob("*.wav"))
        for b in names:
            tru = dva.load(s / f"{b}.wav", 16000, 1)[0]
            base = {}
            if a.budget:
                f0b = F0.extract_f0(tru, "harvest")
                base["vocoder"] = mcd(tru, synthesize(*analyze(tru, 16000, f0b, 40), f0b, 16000), 16000).mcd
                base["self"] = mcd(tru, convert_segment(tru, voices[b], index_rate=0.0, rms_mix_rate=1.0,
                                                        content=enc(tru)), 16000).mcd
            for src_name in (n for n in names if n != b):
                src = dva.load(s / f"{src_name}.wav", 16000, 1)[0]
                k = _set_transpose(s / f"{src_name}.wav", s / f"{b}.wav")
                r = dict(base, source=src_name, target=b, unconverted=mcd(tru, src, 16000).mcd)
                for ir in rates:
                    y = convert_segment(src, voices[b], transpose=k, index_rate=ir, rms_mix_rate=0.25, content=enc(src))
                    r[f"index_rate_{ir}"] = mcd(tru, y, 16000).mcd
                rows.append(r)
                print(json.dumps({q: round(w, 3) if isinstance(w, float) else w for q, w in r.items()}), flush=True)
    keys = [q for q in rows[0] if isinstance(rows[0][q], float)]
    print(json.dumps({"floor": a.floor, "prematch": a.prematch, "steps": a.steps,
                      "mean_mcd": {q: round(float(np.mean([r[q] for r in rows])), 3) for q in keys}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

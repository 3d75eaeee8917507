"""Development experiment: which gallery scoring finds singers enrolled from singing when
they *speak*? Top-1 of the gallery protocol for a grid of variants, on development
singers only (never the reserved voices: ``scan_dataset`` refuses them).

The gallery protocol is the one of ``discovervoice classify evaluate --protocol unseen``
(same enrolment draw, :func:`discovervoice.classify.evaluate.choose_enrolment`: three 6-s
sung crops per singer the model never saw; queries: that singer's other clips, first 10 s),
and the scores are those of gallery mode (:meth:`SingerClassifier.gallery_similarity`), so
a variant's row equals what ``classify evaluate`` reports for a model carrying it. The
network's embeddings are computed once; the variants are:

* ``plain``: cosine to the centroid of the L2-normalised pooled embeddings;
* ``aug ±N st``: the centroid also averages resampled copies of the enrolment crops
  (``±N`` semitones of pitch, with the tempo change resampling brings), so that it covers
  more of the voice's range;
* ``nap K`` / ``wccn R`` / ``nap K + wccn R``: the linear backends of
  :mod:`discovervoice.classify.backend`, fitted on windows of the model's *training songs*
  in ``--train-dir`` (sung and spoken), as ``classify backend`` fits them.

    python benchmarks/bench_classify_backend.py --model data/classify/dv-singer-ast \\
        --train-dir data/corpus-singers/singers/train \\
        --set dev7=data/corpus-singers/singers/train,data/corpus-singers/singers/valid \\
        --set wide=data/corpus/singers/train,data/corpus/singers/valid

Prints a Markdown table (top-1 for sung and spoken queries per set) and writes the same
rows as JSON with ``--json FILE``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

SR = 16000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="classifier folder")
    ap.add_argument("--train-dir", required=True, help="the DATA_DIR the model was trained on")
    ap.add_argument("--set", action="append", required=True, metavar="NAME=DIR[,DIR]",
                    help="development singers: folders merged as in `classify evaluate`")
    ap.add_argument("--gallery-clips", type=int, default=3)
    ap.add_argument("--gallery-seconds", type=float, default=6.0)
    ap.add_argument("--query-seconds", type=float, default=10.0)
    ap.add_argument("--cache", default=None, help="voiced-audio cache of `classify train`")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()

    import soxr
    import torch

    from discovervoice.classify.backend import _normalize, fit_backend
    from discovervoice.classify.classifier import SingerClassifier
    from discovervoice.classify.data import scan_dataset
    from discovervoice.classify.evaluate import _enrol_crop, _load, choose_enrolment
    from discovervoice.classify.train import _val_windows, prepare_clips
    from discovervoice.errors import AudioError

    torch.set_num_threads(args.threads)
    t0 = time.time()
    clf = SingerClassifier.load(args.model)
    clf.backend = None
    labels = clf.labels

    def embed(x: np.ndarray) -> np.ndarray:  # normalised window embeddings [N, H]
        return _normalize(clf.forward_windows(clf.windows(x))[1])

    # ------------------------------------------------------------ backend training windows
    songs = set(clf.info.get("train_songs", []))
    tr = [c for c in scan_dataset(args.train_dir, min_singers=1)
          if c.singer in labels and c.song in songs]
    prep, _ = prepare_clips(tr, clf.window, cache_dir=Path(args.cache) if args.cache else None)
    tw, ty, tclip = _val_windows(prep, labels, clf.window, 4)
    te = clf.forward_windows(tw)[1]
    t_names = [labels[i] for i in ty]
    t_kinds = [prep[i].clip.kind for i in tclip]

    def shifted(x: np.ndarray, semitones: float) -> np.ndarray:
        r = 2 ** (semitones / 12)
        return soxr.resample(x[0].astype(np.float64), SR, SR / r).astype(np.float32)[None]

    # ------------------------------------------------------------ development sets
    sets = {}
    for spec in args.set:
        name, dirs = spec.split("=", 1)
        clips = [c for d in dirs.split(",") for c in scan_dataset(d, min_singers=1)]
        unseen = sorted({c.singer for c in clips if c.singer not in labels})
        enrol = choose_enrolment(clips, unseen, clf.window, random.Random(args.seed),
                                 gallery_clips=args.gallery_clips,
                                 gallery_seconds=args.gallery_seconds)
        names = sorted(enrol)
        cents: dict[float, list[np.ndarray]] = {s: [] for s in (0, -2, 2, -4, 4)}
        for s in names:
            crops = [_enrol_crop(_load(c, None), args.gallery_seconds, clf.window)
                     for c in enrol[s]]
            for st in cents:
                cents[st].append(np.concatenate([embed(shifted(x, st) if st else x)
                                                 for x in crops]))
        used = {(s, c.song) for s, cs in enrol.items() for c in cs}
        qe, qy, qk = [], [], []
        for c in clips:
            if c.singer in enrol and (c.singer, c.song) not in used:
                try:
                    e = embed(_load(c, args.query_seconds))
                except AudioError:
                    continue
                qe.append(_normalize(e.mean(0)))
                qy.append(names.index(c.singer))
                qk.append(c.kind)
        sets[name] = (names, cents, np.stack(qe), np.array(qy), np.array(qk))
        print(f"{name}: {len(names)} singers, {len(qy)} queries "
              f"({int(np.sum(np.array(qk) == 'spoken'))} spoken), {time.time() - t0:.0f} s",
              flush=True)

    variants: list[tuple[str, object, tuple[float, ...]]] = [
        ("plain", None, (0,)), ("aug ±2 st", None, (0, -2, 2)),
        ("aug ±2, ±4 st", None, (0, -2, 2, -4, 4))]
    for k in (2, 4, 8, 16):
        variants.append((f"nap {k}", fit_backend(te, t_names, t_kinds, nap_dims=k, wccn_reg=None),
                         (0,)))
    for r in (0.01, 0.1):
        variants.append((f"wccn {r}", fit_backend(te, t_names, t_kinds, nap_dims=0, wccn_reg=r),
                         (0,)))
        for k in (4, 8, 16):
            variants.append((f"nap {k} + wccn {r}",
                             fit_backend(te, t_names, t_kinds, nap_dims=k, wccn_reg=r), (0,)))

    rows = []
    for label, backend, augs in variants:
        f = backend if backend is not None else _normalize
        row = {"variant": label}
        for name, (names, cents, qe, qy, qk) in sets.items():
            c = np.stack([np.concatenate([cents[a][i] for a in augs]).mean(0)
                          for i in range(len(names))])
            hit = (f(qe) @ f(c).T).argmax(1) == qy
            for kind in ("sung", "spoken"):
                row[f"{name} {kind}"] = round(float(hit[qk == kind].mean()), 3)
        rows.append(row)
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

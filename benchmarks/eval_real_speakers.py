"""Which-singer on real people: the gallery protocol of issue 16 on recorded speech.

Every recorded speaker the corpus knows (``discovervoice.corpus.voices``: Czech voice
acting of ``fillets-ng-data-cs``, native speakers of ``klettres-data``; GPL-2+; not the
KLettres folders whose credits name two people, ``Voice.several_people``) is added to
the classifier's gallery from ``--enrol`` clips of about ``--clip-seconds`` each (several
recordings of the speaker joined with short pauses), then ``--queries`` other clips of
each are ranked among **every** gallery singer (the model's own + the real people). Rows:

* AST gallery scoring alone (speaker weight 0, the gallery's cosine scale);
* AST + GE2E speaker fusion for each weight of ``--weights`` (module docstring of
  :mod:`discovervoice.classify.classifier`), with the fused scale fitted on the queries of
  the development speakers (``--fit-scale``) or the model's stored one;
* resemblyzer GE2E nearest centroid among all gallery singers and among the real people
  only (the baseline the issue measured).

Speakers are split in two: ``dev`` = the real-songs development speakers
(:data:`discovervoice.corpus.realsongs.DEV_SPEAKERS`, used to choose the weight and scale)
and ``eval`` = all others (run once for the chosen setting). No reserved material is read.

Usage::

    python benchmarks/eval_real_speakers.py --model data/classify/ast-fused --set dev \\
        --weights 0.25,0.5,0.6,0.7,0.8,1 --fit-scale --out data/classify/real-dev
    python benchmarks/eval_real_speakers.py --model weights/dv-singer-ast --set eval \\
        --out data/classify/real-eval

Libraries: resemblyzer (GE2E), soundfile/ffmpeg through ``discovervoice.audio``; metrics
from ``discovervoice.eval.classification``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np


def real_speakers(which: str) -> list:
    from discovervoice.corpus.realsongs import DEV_SPEAKERS
    from discovervoice.corpus.voices import list_voices

    voices = [v for v in list_voices() if v.kind == "recorded" and not v.reserved
              and not v.several_people]  # a folder credited to two people is not one speaker
    if which == "dev":
        return [v for v in voices if v.id in DEV_SPEAKERS]
    if which == "eval":
        return [v for v in voices if v.id not in DEV_SPEAKERS]
    return voices


def speaker_clips(voice, n: int, seconds: float, seed: int) -> list[np.ndarray]:
    """``n`` clips ``ndarray[1, T]`` at 16 kHz of about ``seconds`` each, each from its own
    recordings (none shared between clips), joined with 0.2 s pauses, silence trimmed."""
    from discovervoice import audio as dv_audio
    from discovervoice.errors import AudioError

    files = sorted(voice.speaker_files)
    random.Random(f"{seed}-{voice.id}").shuffle(files)
    gap = np.zeros(int(0.2 * 16000), np.float32)
    clips, cur, have = [], [], 0.0
    for f in files:
        try:
            x = dv_audio.load(f, 16000, 1)[0]
        except AudioError:
            continue
        nz = np.flatnonzero(np.abs(x) > 10 ** (-45 / 20))
        if len(nz) < 1600:
            continue
        x = x[nz[0]: nz[-1] + 1]
        cur += [x, gap]
        have += len(x) / 16000
        if have >= seconds:
            clips.append(np.concatenate(cur)[None])
            cur, have = [], 0.0
            if len(clips) == n:
                break
    return clips


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="dv-singer-ast")
    ap.add_argument("--set", choices=("dev", "eval", "all"), default="dev")
    ap.add_argument("--enrol", type=int, default=3)
    ap.add_argument("--queries", type=int, default=5)
    ap.add_argument("--clip-seconds", type=float, default=3.0)
    ap.add_argument("--weights", default="", help="comma list of speaker weights to score")
    ap.add_argument("--fit-scale", action="store_true",
                    help="fit each fused row's scale on these queries (development only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write results.json and results.md here")
    a = ap.parse_args(argv)

    import torch

    from discovervoice.classify.classifier import SingerClassifier
    from discovervoice.classify.features import (SAMPLE_RATE, aggregate_logits, cut_windows,
                                                 fit_temperature, voiced_audio)
    from discovervoice.errors import AudioError
    from discovervoice.eval import classification as C

    torch.set_num_threads(1)
    clf = SingerClassifier.load(a.model)
    if not clf.speaker_gallery or set(clf.gallery) - set(clf.speaker_gallery):
        sys.exit(f"{a.model}: every gallery singer needs a speaker centroid "
                 "(discovervoice classify fusion MODEL DATA_DIR --weight W -o OUT)")
    speakers = real_speakers(a.set)
    stored_w = clf.speaker_weight
    clf.speaker_weight = 1.0   # add_to_gallery computes both centroids while w > 0
    q_ast, q_spk, y, skipped = [], [], [], []
    real = []
    for v in speakers:
        clips = speaker_clips(v, a.enrol + a.queries, a.clip_seconds, a.seed)
        if len(clips) < a.enrol + 1:
            print(f"skipped {v.id}: {len(clips)} clips", file=sys.stderr)
            continue
        try:
            clf.add_to_gallery(v.id, clips[: a.enrol], replace=True)
        except AudioError as exc:
            print(f"skipped {v.id}: enrolment refused ({exc})", file=sys.stderr)
            continue
        real.append(v.id)
        for c in clips[a.enrol:]:
            try:
                vo = voiced_audio(c, SAMPLE_RATE, clf.window, name=v.id)
            except AudioError as exc:   # too little voice in a query: counted as skipped
                skipped.append(f"{v.id}: {exc}")
                continue
            _, e = clf.forward_windows(cut_windows(vo, clf.window))
            e = e / np.linalg.norm(e, axis=1, keepdims=True)
            m = e.mean(0)
            q_ast.append(m / np.linalg.norm(m))
            q_spk.append(clf.speaker_embedding(vo))
            y.append(v.id)
        print(f"{v.id}: {len(clips) - a.enrol} queries", file=sys.stderr)
    names = sorted(clf.gallery)
    yi = np.array([names.index(s) for s in y])
    qa, qs = np.stack(q_ast), np.stack(q_spk)

    by_id = {v.id: v for v in speakers}

    def errors(sim: np.ndarray, cands: list[str], truth: np.ndarray) -> list[dict]:
        """Top-1 misses as ``{"query", "top1", "may_share_person"}``: the credits may allow
        the true and the chosen voice to be one person (Fish Fillets characters' cast)."""
        top = np.argmax(sim, axis=1)
        return [{"query": cands[t], "top1": cands[p],
                 "may_share_person": bool(cands[p] in by_id
                                          and by_id[cands[t]].may_share_person(by_id[cands[p]]))}
                for t, p in zip(truth, top) if p != t]

    def row(label: str, sim: np.ndarray, scale: float | None) -> dict:
        r = {"row": label, "n": int(len(yi)), "top1": C.top_k_accuracy(yi, sim, 1),
             "top3": C.top_k_accuracy(yi, sim, 3), "errors": errors(sim, names, yi)}
        if scale is not None:
            p = np.stack([aggregate_logits(s[None] * scale) for s in sim])
            r |= {"scale": round(float(scale), 3), "cross_entropy": C.cross_entropy(yi, p),
                  "ece": C.expected_calibration_error(yi, p)}
        return r

    rows = []
    clf.speaker_weight = 0.0
    rows.append(row("AST gallery (no fusion)", clf.gallery_similarity(qa, names), clf.gallery_scale))
    ws = [float(w) for w in a.weights.split(",") if w.strip()] or [stored_w]
    for w in ws:
        clf.speaker_weight = w
        sim = clf.gallery_similarity(qa, names, qs)
        # the fused similarities' scale: temperature scaling, T = 1 / scale in [1/500, 1]
        scale = 1.0 / fit_temperature(sim, yi, t_min=1 / 500, t_max=1.0) if a.fit_scale \
            else clf.speaker_scale
        rows.append(row(f"AST + GE2E fusion, weight {w:g}", sim, scale))
    spk = np.stack([clf.speaker_gallery[n] for n in names])
    spk /= np.linalg.norm(spk, axis=1, keepdims=True)
    rows.append(row("resemblyzer nearest centroid, all gallery singers", qs @ spk.T, None))
    ri = [names.index(n) for n in real]
    yr = np.array([real.index(s) for s in y])
    rows.append({"row": "resemblyzer nearest centroid, real people only", "n": int(len(yr)),
                 "top1": C.top_k_accuracy(yr, qs @ spk[ri].T, 1),
                 "top3": C.top_k_accuracy(yr, qs @ spk[ri].T, 3),
                 "errors": errors(qs @ spk[ri].T, real, yr)})
    res = {"model": str(a.model), "set": a.set, "speakers": real, "gallery_singers": len(names),
           "enrol_clips": a.enrol, "clip_seconds": a.clip_seconds, "rows": rows,
           "skipped_queries": skipped}
    md = [f"Real people ({a.set}: {len(real)} speakers, {len(yi)} queries of ~{a.clip_seconds:g} s, "
          f"ranked among {len(names)} gallery singers; {len(skipped)} queries with < 1 s of "
          "voice skipped)", "",
          "| scoring | top-1 | top-3 | scale | cross-entropy | ECE |", "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['row']} | {r['top1']:.3f} | {r['top3']:.3f} | {r.get('scale', '')} | "
                  f"{r['cross_entropy']:.3f} | {r['ece']:.3f} |" if "ece" in r else
                  f"| {r['row']} | {r['top1']:.3f} | {r['top3']:.3f} | | | |")
    md += ["", "Top-1 misses (query -> chosen; * = the credits allow both to be one person):"]
    md += [f"- {r['row']}: " + (", ".join(
        f"{e['query']} -> {e['top1']}{' *' if e['may_share_person'] else ''}" for e in r["errors"])
        or "none") for r in rows]
    print("\n".join(md))
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(res, indent=2))
        (out / "results.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Evaluate a singer classifier against a resemblyzer nearest-centroid baseline.

``discovervoice classify evaluate MODEL_DIR DATA_DIR -o OUT`` runs two protocols on
``DATA_DIR/<singer>/...`` and writes ``metrics.json``, ``metrics.md`` and confusion-matrix
PNGs, with every number separately for **sung** and **spoken** queries:

* **seen** — singers of the model's head. Queries: clips of songs the model never used
  (neither in its training nor in its validation songs; e.g. the run's ``test_songs`` or
  another split of the corpus). AST: the model's own default scoring
  (``SingerClassifier.scoring``: the calibrated head, or the gallery through its
  backend), aggregated over windows. Baseline: GE2E (resemblyzer) embeddings, nearest
  centroid of the singer's *training* clips (read from the model's training folder when
  it exists, so both systems learn from the same audio).
* **unseen** (gallery) — singers in ``DATA_DIR`` that the model was not trained on. Each
  is enrolled from ``gallery_clips`` sung clips of different songs, ``gallery_seconds``
  each (three 6-second clips by default); queries are their clips of the other songs,
  scored among the unseen singers only. AST: centroid of pooled embeddings (gallery mode,
  no retraining). Baseline: resemblyzer centroid of the same enrolment audio.

Queries are cut to ``query_seconds`` (10 s: the length ``which-singer`` is benchmarked on).
Metrics come from :mod:`discovervoice.eval.classification` (top-1/top-3 accuracy,
cross-entropy in nats, confusion matrix); the baseline's cross-entropy is not reported
(its cosine scores are not probabilities).
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from discovervoice.classify.data import Clip, scan_dataset
from discovervoice.classify.features import SAMPLE_RATE, WindowConfig, voiced_audio
from discovervoice.errors import AudioError, DataError
from discovervoice.progress import Progress

log = logging.getLogger("discovervoice.classify")
KINDS = ("sung", "spoken")


def _load(c: Clip, seconds: float | None) -> np.ndarray:
    from discovervoice import audio as dv_audio

    if c.full_song:
        from discovervoice.classify.songs import vocals_of

        a = vocals_of(c.path)
    else:
        a = dv_audio.load(c.path, SAMPLE_RATE, 1)
    x = a[0]
    nz = np.flatnonzero(np.abs(x) > 10 ** (-50 / 20))  # trim leading/trailing silence
    if len(nz):
        x = x[nz[0]: nz[-1] + 1]
    if seconds:
        x = x[: int(seconds * SAMPLE_RATE)]
    return x[None].astype(np.float32)


def _report(y: list[int], scores: np.ndarray, names: Sequence[str], *, probs: bool
            ) -> dict[str, Any]:
    from discovervoice.eval.classification import classification_report, top_k_accuracy

    yy = np.asarray(y, dtype=np.int64)
    if probs:
        r = classification_report(yy, scores, class_names=list(names), top_k=(1, 3))
        return {"n": r["n"], "top1": r["accuracy"], "top3": r["top_k_accuracy"].get("3"),
                "cross_entropy": r["cross_entropy"], "confusion_matrix": r["confusion_matrix"]}
    return {"n": int(len(yy)), "top1": top_k_accuracy(yy, scores, 1),
            "top3": top_k_accuracy(yy, scores, 3) if scores.shape[1] >= 3 else None,
            "cross_entropy": None}


class _Baseline:
    """Nearest centroid on resemblyzer GE2E embeddings (cosine)."""

    def __init__(self) -> None:
        from discovervoice.eval.speaker import ResemblyzerEncoder

        self.enc = ResemblyzerEncoder()

    def embed(self, x: np.ndarray) -> np.ndarray:
        return self.enc.embed(x, SAMPLE_RATE)

    @staticmethod
    def centroids(embs: dict[str, list[np.ndarray]], names: Sequence[str]) -> np.ndarray:
        c = np.stack([np.mean(embs[n], axis=0) for n in names])
        return c / np.linalg.norm(c, axis=1, keepdims=True)


def _enrol_crop(x: np.ndarray, seconds: float, window: WindowConfig) -> np.ndarray:
    """The first ``seconds`` of audio of a clip that start where voice starts."""
    from discovervoice.classify.features import voiced_regions

    regs = voiced_regions(x[0], window)
    start = regs[0][0] if regs else 0
    return x[:, start: start + int(seconds * SAMPLE_RATE)]


def choose_enrolment(clips: Sequence[Clip], singers: Sequence[str], window: WindowConfig,
                     rng: random.Random, *, gallery_clips: int = 3, gallery_seconds: float = 6.0,
                     skipped: list[list[str]] | None = None) -> dict[str, list[Clip]]:
    """The gallery protocol's enrolment: for each singer, ``gallery_clips`` sung clips of
    different songs, drawn in ``rng`` order, whose first ``gallery_seconds`` from voice onset
    hold at least half that much voice. Singers without any usable clip are left out;
    unusable clips are appended to ``skipped`` as ``[path, reason]``."""
    enrol: dict[str, list[Clip]] = {}
    for s in singers:
        sung = sorted((c for c in clips if c.singer == s and c.kind == "sung"),
                      key=lambda c: str(c.path))
        chosen: list[Clip] = []
        for c in sorted(sung, key=lambda c: rng.random()):
            if len(chosen) == gallery_clips or any(c.song == o.song for o in chosen):
                continue
            crop = _enrol_crop(_load(c, None), gallery_seconds, window)
            try:  # a clip with too little voice cannot enrol (damaged or silent file)
                v = voiced_audio(crop, SAMPLE_RATE, window, name=str(c.path))
            except AudioError as exc:
                if skipped is not None:
                    skipped.append([str(c.path), f"enrolment: {exc}"])
                continue
            if len(v) >= 0.5 * gallery_seconds * SAMPLE_RATE:
                chosen.append(c)
        if len(chosen) < gallery_clips:
            log.warning("unseen singer %s has only %d usable sung songs for enrolment",
                        s, len(chosen))
        if chosen:
            enrol[s] = chosen
    return enrol


def evaluate(model: Any, data_dir: str | os.PathLike | Sequence[str | os.PathLike],
             out_dir: str | os.PathLike, *, protocols: Sequence[str] = ("seen", "unseen"),
             gallery_clips: int = 3, gallery_seconds: float = 6.0, query_seconds: float = 10.0,
             max_queries_per_singer: int | None = None, baseline: bool = True, seed: int = 0,
             allow_reserved: bool = False, write_enrolment: str | os.PathLike | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Run both protocols (module docstring) and write the report into ``out_dir``.

    Args:
        model: a :class:`SingerClassifier` or anything :meth:`SingerClassifier.load` takes.
        data_dir: ``DATA_DIR/<singer>/...`` holding the model's singers (seen) and others
            (unseen); several folders are merged (same singer folder name = same singer,
            e.g. the corpus' ``singers/train`` and ``singers/valid``).
        protocols: which of ``seen`` / ``unseen`` to run.
        gallery_clips / gallery_seconds: enrolment of unseen singers.
        query_seconds: queries are cut to this length (``None``: whole clips).
        max_queries_per_singer: cap per singer and kind (deterministic, by ``seed``).
        baseline: also run the resemblyzer nearest-centroid baseline.
        write_enrolment: also save the enrolment crops as ``DIR/<singer>/<song>.wav`` (with
            a ``manifest.json``), so ``discovervoice classify train DIR`` can fine-tune on
            exactly the clips the gallery used.

    Returns:
        the ``metrics.json`` dict: ``{"seen": {"ast": {kind: metrics}, "baseline": {...}},
        "unseen": {...}, "criteria": {...}}``.

    Raises:
        DataError: no query clip at all.
    """
    from discovervoice.classify.classifier import SingerClassifier

    clf = model if isinstance(model, SingerClassifier) else SingerClassifier.load(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = progress or (lambda f, m: None)
    dirs = [data_dir] if isinstance(data_dir, (str, os.PathLike)) else list(data_dir)
    clips = [c for d in dirs for c in scan_dataset(d, min_singers=1, allow_reserved=allow_reserved)]
    info = clf.info
    labels = clf.labels
    train_songs = set(info.get("train_songs", []))
    used_songs = train_songs | set(info.get("valid_songs", []))
    rng = random.Random(seed)

    def cap(cs: list[Clip]) -> list[Clip]:
        return _cap(cs, max_queries_per_singer, rng)

    seen_q = cap([c for c in clips if c.singer in labels and c.song not in used_songs])
    # the baseline's centroids come from the model's own training audio when that folder
    # is at hand (the same material, e.g. the 6-second enrolment crops), else from clips
    # of its training songs in data_dir
    train_dir = Path(info.get("data_dir", ""))
    train_pool = (scan_dataset(train_dir, min_singers=1, allow_reserved=allow_reserved)
                  if info.get("data_dir") and train_dir.is_dir() else clips)
    seen_train = [c for c in train_pool if c.singer in labels and c.song in train_songs]
    unseen_names = sorted({c.singer for c in clips if c.singer not in labels})
    base = _Baseline() if baseline else None
    result: dict[str, Any] = {"model": clf.name, "data_dir": [str(d) for d in dirs],
                              "query_seconds": query_seconds, "seen": {}, "unseen": {}}
    skipped: list[list[str]] = []
    if seen_q and "seen" in protocols:
        p(0.05, f"seen singers: {len(seen_q)} queries")
        result["seen"] = _seen_protocol(clf, seen_q, seen_train, query_seconds, base, skipped,
                                        out, lambda f, m: p(0.05 + 0.45 * f, m))
    if unseen_names and "unseen" in protocols:
        p(0.5, f"unseen singers: enrolling {len(unseen_names)}")
        enrol = choose_enrolment(clips, unseen_names, clf.window, rng, gallery_clips=gallery_clips,
                                 gallery_seconds=gallery_seconds, skipped=skipped)
        enrol_songs = {(s, c.song) for s, cs in enrol.items() for c in cs}
        q = cap([c for c in clips if c.singer in enrol and (c.singer, c.song) not in enrol_songs])
        if len(enrol) >= 2 and q:
            result["unseen"] = _unseen_protocol(
                clf, enrol, q, gallery_clips, gallery_seconds, query_seconds, base, skipped, out,
                write_enrolment, lambda f, m: p(0.55 + 0.4 * f, m))
    if not result["seen"] and not result["unseen"]:
        raise DataError(f"{', '.join(map(str, dirs))}: no query clips (no held-out songs of the model's singers "
                        "and no unseen singers with enough songs)")
    result["criteria"] = _criteria(result)
    result["skipped"] = skipped
    (out / "metrics.json").write_text(json.dumps(result, indent=2, sort_keys=True))
    (out / "metrics.md").write_text(metrics_markdown(result))
    p(1.0, f"wrote {out / 'metrics.json'}")
    return result


def _cap(cs: list[Clip], max_per_singer: int | None, rng: random.Random) -> list[Clip]:
    """At most ``max_per_singer`` clips per singer and kind (random, by ``rng``)."""
    if max_per_singer is None:
        return cs
    out: list[Clip] = []
    for s in sorted({c.singer for c in cs}):
        for k in KINDS:
            sub = [c for c in cs if c.singer == s and c.kind == k]
            rng.shuffle(sub)
            out += sorted(sub[:max_per_singer], key=lambda c: str(c.path))
    return out


def _baseline_scores(res: dict[str, Any], embs: dict[str, list[np.ndarray]],
                     names: list[str]) -> None:
    """Replace the queries' resemblyzer embeddings in ``res`` by their cosine scores
    against the singers' centroids."""
    cents = _Baseline.centroids(embs, names)
    res["baseline_scores"] = {k: np.stack(v) @ cents.T
                              for k, v in res.pop("baseline_embs").items() if v}


def _seen_protocol(clf: Any, queries: list[Clip], train: list[Clip], query_seconds: float | None,
                   base: "_Baseline | None", skipped: list[list[str]], out: Path,
                   progress: Progress) -> dict[str, Any]:
    """Held-out songs of the model's singers, scored the model's way; the baseline's
    centroids come from ``train`` (clips of the model's training songs)."""
    from discovervoice.eval.classification import plot_confusion_matrix

    labels = clf.labels
    res = _score_queries(clf, queries, labels, query_seconds, base, skipped, progress,
                         mode=clf.scoring)
    if base is not None:
        embs: dict[str, list[np.ndarray]] = {n: [] for n in labels}
        for c in train:
            try:
                embs[c.singer].append(base.embed(_load(c, None)))
            except AudioError as exc:
                skipped.append([str(c.path), str(exc)])
        missing = [n for n in labels if not embs[n]]
        if missing:
            log.warning("baseline: no training clips found for %s; baseline skipped", missing)
        else:
            _baseline_scores(res, embs, labels)
    summary = _summarise(res, labels, out, "seen", plot_confusion_matrix)
    summary["train_clips_baseline"] = len(train)
    summary["scoring"] = clf.scoring
    return summary


def _unseen_protocol(clf: Any, enrol: dict[str, list[Clip]], queries: list[Clip],
                     gallery_clips: int, gallery_seconds: float, query_seconds: float | None,
                     base: "_Baseline | None", skipped: list[list[str]], out: Path,
                     write_enrolment: str | os.PathLike | None,
                     progress: Progress) -> dict[str, Any]:
    """Singers the model never saw, enrolled into a gallery from ``enrol`` and scored on
    ``queries`` of their other songs; optionally the enrolment crops are written out."""
    from discovervoice.classify.classifier import SingerClassifier
    from discovervoice.eval.classification import plot_confusion_matrix

    names = sorted(enrol)
    gal = SingerClassifier(clf.checkpoint, window=clf.window, temperature=clf.temperature,
                           gallery_scale=clf.gallery_scale, name=clf.name,
                           backend=clf.backend, speaker_weight=clf.speaker_weight,
                           speaker_scale=clf.speaker_scale)
    b_embs: dict[str, list[np.ndarray]] = {n: [] for n in names}
    written = []
    for s in names:
        crops = [_enrol_crop(_load(c, None), gallery_seconds, clf.window) for c in enrol[s]]
        gal.add_to_gallery(s, crops)
        if base is not None:
            b_embs[s] = [base.embed(x) for x in crops]
        if write_enrolment is not None:
            from discovervoice import audio as dv_audio

            for c, x in zip(enrol[s], crops):
                f = Path(write_enrolment) / s / f"{c.path.stem}.wav"
                dv_audio.save(f, x, SAMPLE_RATE)
                written.append({"path": f"{s}/{f.name}", "singer": s, "song": c.song,
                                "kind": "sung"})
    if write_enrolment is not None:
        (Path(write_enrolment) / "manifest.json").write_text(json.dumps(written, indent=1))
    res = _score_queries(gal, queries, names, query_seconds, base, skipped, progress,
                         mode="gallery")
    if base is not None:
        _baseline_scores(res, b_embs, names)
    summary = _summarise(res, names, out, "unseen", plot_confusion_matrix)
    summary["enrolment"] = {
        "clips_per_singer": gallery_clips, "seconds_per_clip": gallery_seconds,
        "files": {s: [str(c.path) for c in cs] for s, cs in enrol.items()}}
    return summary


def _score_queries(clf: Any, queries: list[Clip], names: list[str], seconds: float | None,
                   base: _Baseline | None, skipped: list[list[str]],
                   progress: Progress, *, mode: str) -> dict[str, Any]:
    scores: dict[str, list[np.ndarray]] = {k: [] for k in KINDS}
    ys: dict[str, list[int]] = {k: [] for k in KINDS}
    b_embs: dict[str, list[np.ndarray]] = {k: [] for k in KINDS}
    for i, c in enumerate(queries):
        x = _load(c, seconds)
        try:
            r = clf.predict(x, SAMPLE_RATE, scoring=mode, name=str(c.path))
            be = base.embed(x) if base is not None else None
        except AudioError as exc:
            skipped.append([str(c.path), str(exc)])
            continue
        order = [r["names"].index(n) for n in names]
        scores[c.kind].append(np.asarray(r["probabilities"])[order])
        ys[c.kind].append(names.index(c.singer))
        if be is not None:
            b_embs[c.kind].append(be)
        progress((i + 1) / len(queries), f"scored {c.path.name}")
    return {"scores": scores, "y": ys, "baseline_embs": b_embs}


def _summarise(res: dict[str, Any], names: list[str], out: Path, tag: str, plot: Any
               ) -> dict[str, Any]:
    summary: dict[str, Any] = {"singers": names, "ast": {}, "baseline": {}}
    for k in KINDS:
        if not res["y"][k]:
            continue
        s = np.stack(res["scores"][k])
        s = s / s.sum(axis=1, keepdims=True)
        rep = _report(res["y"][k], s, names, probs=True)
        png = out / f"confusion_{tag}_{k}.png"
        plot(np.array(rep.pop("confusion_matrix")), names, png,
             title=f"AST, {tag} singers, {k} queries")
        rep["confusion_png"] = png.name
        summary["ast"][k] = rep
        bs = res.get("baseline_scores", {}).get(k)
        if bs is not None:
            summary["baseline"][k] = _report(res["y"][k], bs, names, probs=False)
    return summary


def _criteria(result: dict[str, Any]) -> dict[str, Any]:
    """Done-when of issue 5: AST top-1 >= baseline (sung), >= 0.9 x baseline (spoken)."""
    crit: dict[str, Any] = {}
    for proto in ("seen", "unseen"):
        r = result.get(proto) or {}
        for kind, factor in (("sung", 1.0), ("spoken", 0.9)):
            a = r.get("ast", {}).get(kind)
            b = r.get("baseline", {}).get(kind)
            if a and b:
                crit[f"{proto}_{kind}"] = {"ast_top1": a["top1"], "baseline_top1": b["top1"],
                                           "required": factor * b["top1"],
                                           "met": bool(a["top1"] >= factor * b["top1"] - 1e-12)}
    return crit


def metrics_markdown(result: dict[str, Any]) -> str:
    """A Markdown table of :func:`evaluate`'s result (for model cards)."""
    lines = ["| protocol | queries | n | AST top-1 | AST top-3 | AST cross-entropy (nats) "
             "| resemblyzer top-1 | resemblyzer top-3 |", "|---|---|---|---|---|---|---|---|"]

    def f(v: Any) -> str:
        return "—" if v is None else f"{v:.3f}"

    for proto in ("seen", "unseen"):
        r = result.get(proto) or {}
        for k in KINDS:
            a = r.get("ast", {}).get(k)
            if not a:
                continue
            b = r.get("baseline", {}).get(k, {})
            lines.append(f"| {proto} ({len(r['singers'])} singers) | {k} | {a['n']} | "
                         f"{f(a['top1'])} | {f(a['top3'])} | {f(a['cross_entropy'])} | "
                         f"{f(b.get('top1'))} | {f(b.get('top3'))} |")
    crit = result.get("criteria", {})
    if crit:
        lines.append("")
        for name, c in crit.items():
            lines.append(f"- {name}: AST {c['ast_top1']:.3f} vs required {c['required']:.3f} "
                         f"-> {'met' if c['met'] else 'NOT met'}")
    return "\n".join(lines) + "\n"

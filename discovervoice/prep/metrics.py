"""Scores of dataset preparation against known truth.

* :func:`segment_f1` — segment-level F1: an estimated segment is a hit when a reference
  segment of the *same label* has its start and its end within ``tolerance`` seconds
  (one-to-one matching, Hungarian assignment via ``scipy.optimize.linear_sum_assignment``).
* :func:`boundary_f1` — F1 of label-change boundaries within ``tolerance``
  (``mir_eval.segment.detection`` semantics, computed here without the dependency).
* :func:`frame_accuracy` — fraction of 10 ms frames with the right label.
* :func:`diarization_error_rate` — DER = (missed speech + false alarm + speaker
  confusion) / reference speech time, on a 10 ms grid, with the optimal one-to-one
  mapping of estimated to reference speakers (NIST RT definition; ``collar`` seconds
  around reference boundaries are not scored, as in ``pyannote.metrics``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from discovervoice.prep.segmentation import LABELS, Segment

RESOLUTION = 0.01


def _match(ref: list[tuple[float, float]], est: list[tuple[float, float]], tol: float) -> int:
    from scipy.optimize import linear_sum_assignment

    if not ref or not est:
        return 0
    r = np.array(ref)[:, None, :]
    e = np.array(est)[None, :, :]
    d = np.abs(r - e).max(axis=2)
    cost = np.where(d <= tol, d, 1e6)
    i, j = linear_sum_assignment(cost)
    return int(np.sum(cost[i, j] <= tol))


def _prf(hits: int, n_ref: int, n_est: int) -> dict[str, float]:
    p = hits / n_est if n_est else (1.0 if n_ref == 0 else 0.0)
    r = hits / n_ref if n_ref else (1.0 if n_est == 0 else 0.0)
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f, "hits": hits, "n_ref": n_ref, "n_est": n_est}


def segment_f1(reference: Sequence[Segment], estimate: Sequence[Segment], tolerance: float = 0.5,
               labels: Sequence[str] = LABELS) -> dict:
    """Segment-level precision/recall/F1 overall and per label (see module docstring)."""
    hits = n_ref = n_est = 0
    per = {}
    for lab in labels:
        r = [(s.start, s.end) for s in reference if s.label == lab]
        e = [(s.start, s.end) for s in estimate if s.label == lab]
        h = _match(r, e, tolerance)
        per[lab] = _prf(h, len(r), len(e))
        hits, n_ref, n_est = hits + h, n_ref + len(r), n_est + len(e)
    out = _prf(hits, n_ref, n_est)
    out["per_label"] = per
    return out


def boundaries(segments: Sequence[Segment]) -> list[float]:
    """Times (s) where the label changes between consecutive segments."""
    return [b.start for a, b in zip(segments, segments[1:]) if a.label != b.label]


def boundary_f1(reference: Sequence[Segment], estimate: Sequence[Segment],
                tolerance: float = 0.5) -> dict:
    """Precision/recall/F1 of label-change boundaries hit within ``tolerance`` seconds."""
    r = [(t, t) for t in boundaries(reference)]
    e = [(t, t) for t in boundaries(estimate)]
    return _prf(_match(r, e, tolerance), len(r), len(e))


def to_frames(segments: Sequence[Segment], duration: float, field: str = "label") -> np.ndarray:
    """Object array ``ndarray[N]`` (10 ms frames) of each frame's ``field`` (None outside)."""
    n = int(round(duration / RESOLUTION))
    out = np.full(n, None, dtype=object)
    for s in segments:
        a, b = int(round(s.start / RESOLUTION)), int(round(s.end / RESOLUTION))
        out[max(0, a):min(n, b)] = getattr(s, field)
    return out


def frame_accuracy(reference: Sequence[Segment], estimate: Sequence[Segment],
                   duration: float) -> float:
    """Fraction of 10 ms frames whose label agrees."""
    r, e = to_frames(reference, duration), to_frames(estimate, duration)
    return float(np.mean(r == e)) if len(r) else 1.0


def diarization_error_rate(reference: Sequence[Segment], estimate: Sequence[Segment],
                           duration: float, collar: float = 0.0) -> dict:
    """DER and its parts (fractions of scored reference speech time).

    Segments with ``speaker=None`` count as non-speech. ``collar`` seconds on each side of
    every reference speaker boundary are left out of scoring.
    """
    from scipy.optimize import linear_sum_assignment

    r = to_frames(reference, duration, "speaker")
    e = to_frames(estimate, duration, "speaker")
    scored = np.ones(len(r), dtype=bool)
    if collar > 0:
        c = int(round(collar / RESOLUTION))
        for s in reference:
            if s.speaker is None:
                continue
            for t in (s.start, s.end):
                i = int(round(t / RESOLUTION))
                scored[max(0, i - c):i + c] = False
    r, e = r[scored], e[scored]
    ref_sp = r != None  # noqa: E711 (object array comparison)
    est_sp = e != None  # noqa: E711
    total = int(ref_sp.sum())
    miss = int((ref_sp & ~est_sp).sum())
    fa = int((~ref_sp & est_sp).sum())
    both = ref_sp & est_sp
    rs = sorted({x for x in r[ref_sp]})
    es = sorted({x for x in e[est_sp]})
    correct = 0
    mapping = {}
    if rs and es:
        m = np.zeros((len(rs), len(es)))
        ri = {s: i for i, s in enumerate(rs)}
        ei = {s: i for i, s in enumerate(es)}
        for a, b in zip(r[both], e[both]):
            m[ri[a], ei[b]] += 1
        i, j = linear_sum_assignment(-m)
        correct = int(m[i, j].sum())
        mapping = {es[b]: rs[a] for a, b in zip(i, j)}
    conf = int(both.sum()) - correct
    der = (miss + fa + conf) / total if total else 0.0
    return {"der": der, "missed": miss / total if total else 0.0,
            "false_alarm": fa / total if total else 0.0,
            "confusion": conf / total if total else 0.0,
            "scored_speech_seconds": total * RESOLUTION, "mapping": mapping,
            "n_ref_speakers": len(rs), "n_est_speakers": len(es)}

"""Classifier metrics: accuracy, top-k accuracy, cross-entropy, confusion matrix.

Plain numpy (the definitions of scikit-learn's ``accuracy_score``,
``top_k_accuracy_score``, ``log_loss`` and ``confusion_matrix``, which the tests use as
the reference); matplotlib (Agg) draws the confusion matrix.

Shapes: ``labels`` ``ndarray[N]`` of class indices in ``[0, K)``; ``scores``
``ndarray[N, K]`` of probabilities (rows summing to 1) or logits (``from_logits=True``).
Cross-entropy is the mean negative natural log-likelihood of the true class, in nats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from discovervoice.errors import DataError


def _check(labels: np.ndarray, scores: np.ndarray | None = None,
           num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise DataError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"labels must be integer class indices, got dtype {y.dtype}")
    s = None
    if scores is not None:
        s = np.asarray(scores, dtype=np.float64)
        if s.ndim != 2 or s.shape[0] != y.size:
            raise DataError(f"scores must have shape [N={y.size}, K], got {s.shape}")
        num_classes = s.shape[1]
    if num_classes is not None and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(f"labels must lie in [0, {num_classes}), got {y.min()}..{y.max()}")
    return y.astype(np.int64), s


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``ndarray[N, K]`` (max-shifted for stability)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Fraction of ``predictions[N]`` equal to ``labels[N]``."""
    y, _ = _check(labels)
    p = np.asarray(predictions)
    if p.shape != y.shape:
        raise DataError(f"predictions shape {p.shape} differs from labels shape {y.shape}")
    return float(np.mean(p == y))


def top_k_accuracy(labels: np.ndarray, scores: np.ndarray, k: int = 5) -> float:
    """Fraction of samples whose true class is among the ``k`` highest scores.

    A class counts as in the top k when fewer than k classes score strictly higher, so
    ties favour the true class (scikit-learn breaks ties by class index instead; the two
    agree whenever the scores hold no ties).
    """
    y, s = _check(labels, scores)
    assert s is not None
    if k < 1:
        raise DataError(f"k must be at least 1, got {k}")
    true = s[np.arange(y.size), y]
    higher = (s > true[:, None]).sum(axis=1)
    return float(np.mean(higher < k))


def cross_entropy(labels: np.ndarray, scores: np.ndarray, *, from_logits: bool = False,
                  eps: float = 1e-15) -> float:
    """Mean cross-entropy ``-1/N sum log p[n, y_n]`` in nats.

    Probabilities are clipped to ``[eps, 1 - eps]`` and rows renormalised (as
    ``sklearn.metrics.log_loss``); with ``from_logits`` the log-softmax is used exactly.
    """
    y, s = _check(labels, scores)
    assert s is not None
    if from_logits:
        z = s - s.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-np.mean(logp[np.arange(y.size), y]))
    if (s < 0).any():
        raise DataError("probabilities must be non-negative (pass from_logits=True for logits)")
    p = np.clip(s, eps, 1 - eps)
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(y.size), y])))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray,
                     num_classes: int | None = None) -> np.ndarray:
    """``ndarray[K, K]`` counts: row = true class, column = predicted class."""
    y, _ = _check(labels)
    p = np.asarray(predictions, dtype=np.int64)
    k = int(num_classes if num_classes is not None else max(y.max(), p.max()) + 1)
    if p.shape != y.shape:
        raise DataError(f"predictions shape {p.shape} differs from labels shape {y.shape}")
    if p.min() < 0 or p.max() >= k or y.max() >= k:
        raise DataError(f"class indices must lie in [0, {k})")
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (y, p), 1)
    return m


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, *,
                               bins: int = 10) -> float:
    """Expected calibration error of the top-1 prediction (Naeini et al. 2015; Guo et al.
    2017): the confidence/accuracy gap averaged over ``bins`` equal-width confidence bins,
    weighted by how many predictions fall in each.

    Args:
        labels: ``ndarray[N]`` true class indices.
        probabilities: ``ndarray[N, K]`` predicted probabilities (rows sum to 1).

    Returns:
        ECE in ``[0, 1]`` (0: confidence equals accuracy in every bin).

    Raises:
        DataError: shapes that do not match, or probabilities outside ``[0, 1]``.
    """
    y, p = _check(labels, probabilities)
    assert p is not None
    if p.min() < 0 or p.max() > 1 + 1e-6:
        raise DataError("probabilities must lie in [0, 1]")
    conf = p.max(axis=1)
    hit = (p.argmax(axis=1) == y).astype(np.float64)
    idx = np.minimum((conf * bins).astype(np.int64), bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(hit[m].mean() - conf[m].mean())
    return float(ece)


def classification_report(labels: np.ndarray, scores: np.ndarray, *,
                          class_names: Sequence[str] | None = None, from_logits: bool = False,
                          top_k: Sequence[int] = (1, 3, 5)) -> dict:
    """Every metric of this module for one set of predictions, JSON-ready.

    Returns:
        ``accuracy``, ``top_k_accuracy`` ``{k: value}`` (k <= K), ``cross_entropy`` (nats),
        ``per_class_recall``, ``confusion_matrix`` (list of lists), ``class_names``, ``n``.
    """
    y, s = _check(labels, scores)
    assert s is not None
    probs = softmax(s) if from_logits else s
    pred = np.argmax(probs, axis=1)
    k = s.shape[1]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise DataError(f"{len(names)} class names for {k} classes")
    cm = confusion_matrix(y, pred, k)
    support = cm.sum(axis=1)
    with np.errstate(all="ignore"):
        recall = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
    return {
        "kind": "classification", "n": int(y.size), "class_names": names,
        "accuracy": accuracy(y, pred),
        "top_k_accuracy": {str(t): top_k_accuracy(y, s, t) for t in top_k if t <= k},
        "cross_entropy": cross_entropy(y, s, from_logits=from_logits),
        "per_class_recall": {n: (None if np.isnan(r) else float(r)) for n, r in zip(names, recall)},
        "confusion_matrix": cm.tolist(),
    }


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str | Path, *,
                          normalize: bool = True, title: str = "Confusion matrix") -> Path:
    """Save a confusion-matrix heat map (rows = true, columns = predicted) as PNG."""
    from discovervoice.eval.plots import new_figure, save_figure

    m = np.asarray(matrix, dtype=np.float64)
    shown = m / np.maximum(m.sum(axis=1, keepdims=True), 1) if normalize else m
    k = m.shape[0]
    size = min(4 + 0.35 * k, 16)
    fig, ax = new_figure(size, size * 0.85)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                 label="fraction of true class" if normalize else "count")
    ax.set_xticks(range(k), labels=list(class_names), rotation=90 if k > 6 else 0, fontsize=8)
    ax.set_yticks(range(k), labels=list(class_names), fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > 0.5 * (shown.max() or 1) else "black")
    return save_figure(fig, path)

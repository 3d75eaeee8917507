"""Gallery scoring backend: nuisance attribute projection (NAP) of the singing/speaking
difference, then within-class covariance normalisation (WCCN), fitted on the model's own
training windows.

A singer enrolled from sung clips must also be recognised from speech. In the AST's pooled
embedding one voice's singing and speaking differ along a few directions that are much the
same for every voice. The classic speaker-verification answer to such session variability
is a linear backend between the embedding and the cosine score:

* **NAP** (Solomonoff, Campbell & Boardman 2005, "Advances in channel compensation for SVM
  speaker recognition"; Campbell et al. 2006): the top ``nap_dims`` principal directions of
  the per-singer differences *mean spoken embedding - mean sung embedding* are projected out.
* **WCCN** (Hatch, Kajarekar & Stolcke 2006, "Within-class covariance normalization for
  SVM-based speaker recognition"): the result is whitened by the Cholesky factor of the
  inverse within-singer covariance (regularised by ``wccn_reg`` x its mean eigenvalue), so
  the directions in which one singer varies most count least.

Scores: ``cos(f(centroid), f(query))`` with ``f(x) = normalize((normalize(x) - mean) @ P)``.
Only gallery scoring uses it; the classifier head is unchanged. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from discovervoice.errors import DataError


@dataclass
class GalleryBackend:
    """A linear scoring backend ``f(x) = normalize((normalize(x) - mean) @ projection)``.

    Attributes:
        mean: ``ndarray[H]`` mean of the L2-normalised training embeddings.
        projection: ``ndarray[H, D]``.
        info: how it was fitted (method, ``nap_dims``, ``wccn_reg``, counts).
    """

    mean: np.ndarray
    projection: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, np.float32)
        self.projection = np.asarray(self.projection, np.float32)
        if self.mean.ndim != 1 or self.projection.ndim != 2 \
                or self.projection.shape[0] != len(self.mean):
            raise DataError(f"gallery backend: mean {self.mean.shape} and projection "
                            f"{self.projection.shape} do not fit (expected [H] and [H, D])")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``ndarray[..., H]`` embeddings -> ``ndarray[..., D]`` L2-normalised scoring space."""
        x = _normalize(np.asarray(x, np.float32))
        return _normalize((x - self.mean) @ self.projection)


def fit_backend(embeddings: np.ndarray, singers: Sequence[str], kinds: Sequence[str], *,
                nap_dims: int = 8, wccn_reg: float = 0.1) -> GalleryBackend:
    """Fit NAP (sung vs spoken) + WCCN on labelled window embeddings.

    Args:
        embeddings: ``ndarray[N, H]`` pooled AST embeddings (normalised here).
        singers: ``N`` singer names; kinds: ``N`` of ``"sung"`` / ``"spoken"``.
        nap_dims: directions projected out (``0``: no NAP); at most the number of singers
            that have both kinds.
        wccn_reg: WCCN regularisation (``None``: no WCCN).

    Raises:
        DataError: fewer than two singers, or NAP requested without two singers having
            both sung and spoken windows.
    """
    x = _normalize(np.asarray(embeddings, np.float64))
    y = np.asarray(singers)
    k = np.asarray(kinds)
    if x.ndim != 2 or len(x) != len(y) or len(y) != len(k):
        raise DataError(f"fit_backend: embeddings {x.shape}, {len(y)} singers and {len(k)} "
                        "kinds do not match")
    names = sorted(set(y.tolist()))
    if len(names) < 2:
        raise DataError("fit_backend needs windows of at least two singers")
    h = x.shape[1]
    mean = x.mean(axis=0)
    proj = np.eye(h)
    both = [s for s in names if np.any((y == s) & (k == "spoken")) and np.any((y == s) & (k == "sung"))]
    if nap_dims > 0:
        if len(both) < 2:
            raise DataError("NAP needs at least two singers with both sung and spoken windows")
        diffs = np.stack([x[(y == s) & (k == "spoken")].mean(0) - x[(y == s) & (k == "sung")].mean(0)
                          for s in both])
        v = np.linalg.svd(diffs, full_matrices=False)[2][: min(nap_dims, len(both))]
        proj = proj - v.T @ v
    if wccn_reg is not None:
        z = (x - mean) @ proj
        w = np.zeros((h, h))
        for s in names:
            d = z[y == s] - z[y == s].mean(0)
            w += d.T @ d
        w /= len(z)
        w += wccn_reg * np.trace(w) / h * np.eye(h)
        proj = proj @ np.linalg.cholesky(np.linalg.inv(w))
    info = {"method": "+".join(m for m, on in (("nap", nap_dims > 0), ("wccn", wccn_reg is not None))
                               if on) or "centering",
            "nap_dims": int(min(nap_dims, len(both))) if nap_dims > 0 else 0,
            "wccn_reg": wccn_reg, "windows": int(len(x)), "singers": len(names),
            "singers_with_both_kinds": len(both)}
    return GalleryBackend(mean.astype(np.float32), proj.astype(np.float32), info)


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)

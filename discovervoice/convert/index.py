"""Feature retrieval and the mixing controls of RVC: ``index_rate``, ``protect``,
``rms_mix_rate``.

The meanings are those of RVC-WebUI's ``infer/modules/vc/pipeline.py`` (and Applio's
``rvc/infer/pipeline.py``):

* **index** (:class:`FeatureIndex`): a faiss index over the target voice's training
  content features. For every source frame the ``k = 8`` nearest training frames are
  found; they are averaged with weights ``1 / d**2`` where ``d`` is the distance faiss
  reports (``IndexFlatL2`` / ``IndexIVFFlat`` report *squared* Euclidean distances, exactly
  as in RVC, whose code is ``weight = np.square(1 / score)``), normalised to sum to 1.
* **index_rate** in [0, 1]: ``feats = index_rate * retrieved + (1 - index_rate) * feats``.
* **protect** in [0, 0.5]: in unvoiced frames (F0 = 0: consonants, breaths) the result
  is pulled back toward the original features: ``feats = w * feats + (1 - w) * original``
  with ``w = 1`` in voiced frames and ``w = protect`` in unvoiced ones; ``0.5`` (or more)
  turns protection off.
* **rms_mix_rate** in [0, 1]: loudness envelope of the output. RMS envelopes (1 s frames,
  0.5 s hop, linearly interpolated) of input and output; the output is multiplied by
  ``rms_in ** (1 - rate) * rms_out ** (rate - 1)``: ``1`` keeps the output's own envelope,
  ``0`` imposes the input's.

Library: faiss (``faiss-cpu``) for the index; numpy for the maths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from discovervoice.errors import DiscoverVoiceError
from discovervoice.fileio import atomic_path

#: Neighbours per frame (RVC's k).
K = 8


class RetrievalIndexError(DiscoverVoiceError):
    """An index file that cannot be read, or features of the wrong dimension."""


class FeatureIndex:
    """A faiss index plus the stored feature rows it returns.

    Args:
        features: ``ndarray[N, D]`` training content features of the target voice.
        index: a faiss index over ``features`` (built by :meth:`build` when omitted).

    Attributes:
        dim: feature dimension ``D``.
    """

    def __init__(self, features: np.ndarray, index=None):
        self.features = np.ascontiguousarray(features, dtype=np.float32)
        self.index = index if index is not None else self._make(self.features)

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @staticmethod
    def _make(feats: np.ndarray):
        import faiss

        n, d = feats.shape
        if n >= 10000:
            # RVC: IVF with n_ivf = min(int(16 * sqrt(N)), N // 39), flat storage.
            n_ivf = max(1, min(int(16 * np.sqrt(n)), n // 39))
            quant = faiss.IndexFlatL2(d)
            index = faiss.IndexIVFFlat(quant, d, n_ivf)
            index.train(feats)
            index.nprobe = max(1, min(n_ivf, 8))
        else:
            index = faiss.IndexFlatL2(d)
        index.add(feats)
        return index

    @classmethod
    def build(cls, features: np.ndarray, max_rows: int = 200_000, seed: int = 0) -> "FeatureIndex":
        """Index ``features`` (``ndarray[N, D]``); above ``max_rows`` rows a random subset
        is kept (RVC reduces large sets with k-means; a subset keeps real frames)."""
        feats = np.asarray(features, dtype=np.float32)
        if len(feats) > max_rows:
            idx = np.random.default_rng(seed).choice(len(feats), max_rows, replace=False)
            feats = feats[np.sort(idx)]
        return cls(feats)

    def search(self, query: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray]:
        """``(distances[T, k], ids[T, k])`` of the nearest stored rows (squared L2)."""
        q = np.ascontiguousarray(query, dtype=np.float32)
        if q.shape[1] != self.dim:
            raise RetrievalIndexError(f"query features have dimension {q.shape[1]}, the index has {self.dim}")
        k = min(k, len(self.features))
        return self.index.search(q, k)

    def retrieve(self, query: np.ndarray, k: int = K) -> np.ndarray:
        """The ``1/d**2``-weighted mean of the ``k`` nearest stored rows, ``ndarray[T, D]``."""
        score, ix = self.search(query, k)
        return weighted_neighbours(self.features, score, ix)

    def save(self, path: str | Path) -> Path:
        """Write the faiss index with its stored rows (``faiss.write_index``) atomically."""
        import faiss

        p = Path(path)
        flat = faiss.IndexFlatL2(self.dim)
        flat.add(self.features)
        with atomic_path(p) as tmp:
            faiss.write_index(flat, str(tmp))
        return p

    @classmethod
    def load(cls, path: str | Path) -> "FeatureIndex":
        """Read an index written by :meth:`save` or by RVC-WebUI/Applio (``added_*.index``,
        IVF-Flat: the stored rows are reconstructed, as RVC does with ``reconstruct_n``).

        Raises:
            RetrievalIndexError: not a faiss index.
        """
        import faiss

        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise RetrievalIndexError(f"{path}: not a faiss index ({exc})") from exc
        feats = index.reconstruct_n(0, index.ntotal)
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = max(index.nprobe, 8)
        return cls(feats, index)


def weighted_neighbours(table: np.ndarray, score: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """RVC's retrieval average: rows ``table[ix]`` weighted by ``1 / score**2``.

    Args:
        table: ``ndarray[N, D]`` stored features.
        score: ``ndarray[T, k]`` distances as faiss reports them (squared L2).
        ix: ``ndarray[T, k]`` row ids.

    Returns:
        ``ndarray[float32, T, D]``. A zero distance (an exact match) gets all the weight.
    """
    score = np.asarray(score, dtype=np.float64)
    w = np.square(1.0 / np.maximum(score, 1e-12))
    w /= w.sum(axis=1, keepdims=True)
    return np.sum(table[ix] * w[:, :, None], axis=1).astype(np.float32)


def mix_index(feats: np.ndarray, retrieved: np.ndarray, index_rate: float) -> np.ndarray:
    """``index_rate * retrieved + (1 - index_rate) * feats`` (``index_rate`` in [0, 1])."""
    r = float(np.clip(index_rate, 0.0, 1.0))
    return (r * retrieved + (1.0 - r) * feats).astype(np.float32)


def protect_mix(feats: np.ndarray, original: np.ndarray, f0: np.ndarray, protect: float) -> np.ndarray:
    """RVC's ``protect``: keep ``original`` features in unvoiced frames.

    Args:
        feats: ``ndarray[T, D]`` features after retrieval.
        original: ``ndarray[T, D]`` features before retrieval.
        f0: ``ndarray[T]`` F0 in Hz (0 = unvoiced).
        protect: 0..0.5; ``>= 0.5`` returns ``feats`` unchanged.
    """
    if protect >= 0.5:
        return feats
    w = np.where(np.asarray(f0)[: len(feats)] > 0, 1.0, float(protect))[:, None]
    return (feats * w + original * (1.0 - w)).astype(np.float32)


def _rms_env(x: np.ndarray, sr: int, n_out: int) -> np.ndarray:
    import librosa

    frame = sr // 2 * 2
    hop = sr // 2
    r = librosa.feature.rms(y=np.asarray(x, dtype=np.float32), frame_length=frame, hop_length=hop)[0]
    if len(r) == 1:
        return np.full(n_out, r[0])
    pos = np.linspace(0, len(r) - 1, n_out)
    return np.interp(pos, np.arange(len(r)), r)


def rms_mix(source: np.ndarray, source_sr: int, output: np.ndarray, output_sr: int,
            rate: float) -> np.ndarray:
    """RVC's ``change_rms``: give ``output`` the loudness envelope of ``source``.

    Args:
        source, output: mono ``ndarray[T]`` (any rates, stated).
        rate: ``rms_mix_rate`` in [0, 1]; 1 returns ``output`` unchanged.
    """
    out = np.asarray(output, dtype=np.float32)
    if rate >= 1.0 or len(out) == 0:
        return out
    r_in = _rms_env(source, source_sr, len(out))
    r_out = np.maximum(_rms_env(out, output_sr, len(out)), 1e-6)
    gain = np.power(r_in, 1.0 - rate) * np.power(r_out, rate - 1.0)
    return (out * gain).astype(np.float32)

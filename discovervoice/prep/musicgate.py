"""Music gate of diarization: is a speaker cluster instrumental music rather than a voice?

The segmenter's window classifier and silero-vad take some instrumental pieces for speech
or singing (silero-vad's speech probability reaches 0.99 on some of them), and such a
stretch then becomes a speaker of its own. resemblyzer's GE2E embedding (256-d, the one
:mod:`discovervoice.prep.diarization` clusters) of instrumental music lies in another
region than any speaker's: a logistic regression (scikit-learn) on unit-norm window-mean
GE2E embeddings, speech of the real calibration speakers
(:func:`discovervoice.prep.evaluate.real_speaker_groups`, ``calibration``) against
vocal-free excerpts of the training music packages
(:data:`discovervoice.corpus.realsongs.TRAIN_PACKAGES`, screened by
:func:`discovervoice.corpus.realsongs.screened_excerpt`), gives a cluster's probability of
being music. Shipped as ``weights/dv-prep-musicgate.safetensors`` (a
:mod:`discovervoice.checkpoint` file); recipe, data and numbers in
``weights/dv-prep-musicgate.md``; training: :mod:`discovervoice.prep.train_musicgate`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

MODEL_NAME = "dv-prep-musicgate"
CHECKPOINT_FORMAT = "discovervoice-musicgate"
#: Cluster music probability above which a cluster is music (chosen on the calibration set).
THRESHOLD = 0.6


class MusicGate:
    """Logistic regression on unit-norm GE2E embeddings; positive class: instrumental music.

    Attributes:
        coef: ``ndarray[256]``; intercept: float; threshold: probability above which
        :meth:`is_music` says music.
    """

    def __init__(self, coef: np.ndarray, intercept: float, threshold: float = THRESHOLD,
                 metadata: dict | None = None):
        self.coef, self.intercept = np.asarray(coef, np.float64), float(intercept)
        self.threshold = float(threshold)
        self.metadata = dict(metadata or {})

    def probability(self, embeddings: np.ndarray) -> np.ndarray:
        """Music probability of each row of ``embeddings`` ``ndarray[N, 256]`` (unit-norm
        GE2E, e.g. a cluster centroid); returns ``ndarray[N]`` in [0, 1]."""
        z = np.asarray(embeddings, np.float64) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def is_music(self, embeddings: np.ndarray) -> np.ndarray:
        """``ndarray[N]`` of bool: probability above :attr:`threshold`."""
        return self.probability(embeddings) > self.threshold

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, *, c: float = 1.0,
            metadata: dict | None = None) -> "MusicGate":
        """Fit on embeddings ``X`` ``ndarray[N, 256]`` and labels ``y`` (1: music, 0: voice).

        Raises:
            ValueError: only one class in ``y``.
        """
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y).astype(int)
        if len(set(y.tolist())) < 2:
            raise ValueError("training data needs both music and voice examples")
        lr = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(X, y)
        return cls(lr.coef_[0], float(lr.intercept_[0]), THRESHOLD, metadata)

    def save(self, path: str | os.PathLike) -> Path:
        """Write a :mod:`discovervoice.checkpoint` file (float32 arrays, threshold as config)."""
        from discovervoice import checkpoint

        return checkpoint.save(path, {"coef": self.coef.astype(np.float32),
                                      "intercept": np.array([self.intercept], np.float32)},
                               format=CHECKPOINT_FORMAT, config={"threshold": self.threshold},
                               metadata=self.metadata, architecture="MusicGate")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MusicGate":
        """Read a file written by :meth:`save`.

        Raises:
            discovervoice.errors.WeightsError: not a MusicGate file.
        """
        from discovervoice import checkpoint

        ck = checkpoint.load(path, CHECKPOINT_FORMAT, framework="numpy", what="music gate")
        a = ck.tensors
        return cls(a["coef"], float(a["intercept"][0]),
                   float(ck.config.get("threshold", THRESHOLD)), ck.metadata)


def load_music_gate(path: str | os.PathLike, spec=None, **kw) -> MusicGate:
    """Registry factory (``discovervoice.prep.musicgate:load_music_gate``)."""
    return MusicGate.load(path)


_default: list = []


def default_gate() -> MusicGate | None:
    """The registered :class:`MusicGate` (``dv-prep-musicgate``), or ``None`` when its
    file is absent (diarization then keeps every cluster; cached)."""
    if not _default:
        from discovervoice import weights
        from discovervoice.errors import WeightsUnavailableError

        try:
            _default.append(weights.load_model(MODEL_NAME))
        except WeightsUnavailableError:
            _default.append(None)
    return _default[0]

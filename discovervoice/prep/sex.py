"""Sex-of-voice *estimate* per segment, with a confidence.

This is an estimate of the acoustic voice type (typically male / typically female), not a
statement about the person. Two estimators:

* :class:`F0SexEstimator` (fallback, no training): the median F0 of the voiced frames
  against a boundary — 165 Hz for speech (adult male speech centres near 85-155 Hz,
  female near 165-255 Hz; Titze 1994, *Principles of Voice Production*) and 290 Hz for
  singing (between the male and female singing ranges the corpus uses). The confidence
  is a logistic function of the distance to the boundary in semitones.
* :class:`SexClassifier`: logistic regression (scikit-learn) on F0 statistics plus the
  mean cepstrum of the WORLD spectral envelope (formants, which separate a high male
  voice from a low female one better than F0 alone) and the label (speech / singing).
  Trained with ``discovervoice prep-train-sex`` on the corpus (train split only) and
  shipped as ``weights/dv-prep-sex.safetensors`` (a :mod:`discovervoice.checkpoint` file).

:func:`estimate_sex` uses the shipped classifier when it is present, else the F0 rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from discovervoice.prep import features as F

#: Name of the embedded classifier in the weights registry.
MODEL_NAME = "dv-prep-sex"
#: Median-F0 boundary (Hz) of the F0 rule, per segment label.
F0_BOUNDARY = {"speech": 165.0, "singing": 290.0}
#: Fewer voiced frames than this (10 ms each) give no estimate.
MIN_VOICED_FRAMES = 20
N_CEPS = 20
#: ``format`` of the classifier's :mod:`discovervoice.checkpoint` file.
CHECKPOINT_FORMAT = "discovervoice-prep-sex/1"


@dataclass(frozen=True)
class SexEstimate:
    """``sex``: ``"male"``/``"female"`` or ``None`` (too little voiced sound);
    ``confidence``: probability of ``sex`` in [0.5, 1]; ``f0_median``: Hz (0 if unvoiced);
    ``method``: ``"classifier"`` or ``"f0-rule"``."""

    sex: str | None
    confidence: float | None
    f0_median: float
    method: str


def voice_features(x16: np.ndarray, f0: np.ndarray | None = None) -> np.ndarray | None:
    """Feature vector ``ndarray[3 + N_CEPS]`` of a mono 16 kHz voice excerpt, or ``None``
    when fewer than :data:`MIN_VOICED_FRAMES` frames are voiced.

    Layout: ``[log2 median F0, log2 F0 10th percentile, log2 F0 90th percentile,
    mean envelope cepstrum c1..c20]``.
    """
    if f0 is None:
        f0 = F.f0_track(x16)
    v = f0[f0 > 0]
    if len(v) < MIN_VOICED_FRAMES:
        return None
    cep = F.envelope_cepstrum(x16, f0, N_CEPS)
    lf = np.log2(v)
    return np.concatenate([[np.median(lf), np.percentile(lf, 10), np.percentile(lf, 90)],
                           cep.mean(axis=0)]).astype(np.float64)


def _design(feat: np.ndarray, label: str) -> np.ndarray:
    sing = 1.0 if label == "singing" else 0.0
    # the label enters as an offset and as an interaction with F0 (the boundary moves).
    return np.concatenate([feat, [sing, sing * feat[0]]])


class F0SexEstimator:
    """The F0 rule (see module docstring); ``slope`` is the logistic steepness per semitone."""

    method = "f0-rule"

    def __init__(self, boundary: dict[str, float] | None = None, slope: float = 0.8):
        self.boundary = dict(F0_BOUNDARY if boundary is None else boundary)
        self.slope = slope

    def predict(self, feat: np.ndarray, label: str) -> tuple[str, float]:
        b = self.boundary.get(label, self.boundary["speech"])
        st = 12.0 * (feat[0] - np.log2(b))
        p_female = 1.0 / (1.0 + np.exp(-self.slope * st))
        return ("female", float(p_female)) if p_female >= 0.5 else ("male", float(1 - p_female))


class SexClassifier:
    """Standardised logistic regression on :func:`voice_features` + label terms.

    Attributes:
        mean, scale: ``ndarray[D]`` standardisation; coef ``ndarray[D]``, intercept float;
        positive class is ``"female"``.
    """

    method = "classifier"

    def __init__(self, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: float,
                 metadata: dict | None = None):
        self.mean, self.scale = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
        self.coef, self.intercept = np.asarray(coef, np.float64), float(intercept)
        self.metadata = dict(metadata or {})

    def predict(self, feat: np.ndarray, label: str) -> tuple[str, float]:
        z = (_design(feat, label) - self.mean) / self.scale
        p = 1.0 / (1.0 + np.exp(-(float(z @ self.coef) + self.intercept)))
        return ("female", float(p)) if p >= 0.5 else ("male", float(1 - p))

    @classmethod
    def fit(cls, feats: list[np.ndarray], labels: list[str], sexes: list[str], *,
            c: float = 1.0, metadata: dict | None = None) -> "SexClassifier":
        """Fit on feature vectors (:func:`voice_features`), segment labels and true sexes."""
        from sklearn.linear_model import LogisticRegression

        X = np.stack([_design(f, lab) for f, lab in zip(feats, labels)])
        y = np.array([1 if s == "female" else 0 for s in sexes])
        if len(set(y.tolist())) < 2:
            raise ValueError("training data needs both male and female voices")
        mean, scale = X.mean(0), X.std(0) + 1e-6
        lr = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
        lr.fit((X - mean) / scale, y)
        return cls(mean, scale, lr.coef_[0], float(lr.intercept_[0]), metadata)

    def save(self, path: str | os.PathLike) -> Path:
        """Write a :mod:`discovervoice.checkpoint` file (float32 arrays; ``n_ceps`` as
        config; the training facts as metadata)."""
        from discovervoice import checkpoint

        return checkpoint.save(path, {"mean": self.mean.astype(np.float32),
                                      "scale": self.scale.astype(np.float32),
                                      "coef": self.coef.astype(np.float32),
                                      "intercept": np.array([self.intercept], np.float32)},
                               format=CHECKPOINT_FORMAT, config={"n_ceps": N_CEPS},
                               metadata=self.metadata, architecture="SexClassifier")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SexClassifier":
        """Read a file written by :meth:`save`.

        Raises:
            discovervoice.errors.WeightsError: not a SexClassifier file, or one made for
                another number of cepstra.
        """
        from discovervoice import checkpoint
        from discovervoice.errors import WeightsError

        ck = checkpoint.load(path, CHECKPOINT_FORMAT, framework="numpy", what="sex classifier")
        if ck.config.get("n_ceps") != N_CEPS:
            raise WeightsError(f"{path}: sex classifier for {ck.config.get('n_ceps')} cepstra, "
                               f"this version computes {N_CEPS}")
        a = ck.tensors
        return cls(a["mean"], a["scale"], a["coef"], float(a["intercept"][0]), ck.metadata)


def load_sex_classifier(path: str | os.PathLike, spec=None, **kw) -> SexClassifier:
    """Registry factory (``discovervoice.prep.sex:load_sex_classifier``)."""
    return SexClassifier.load(path)


_default: list = []


def default_estimator():
    """The registered :class:`SexClassifier` (``dv-prep-sex``) when its file is present,
    else :class:`F0SexEstimator` (cached)."""
    if not _default:
        from discovervoice import weights
        from discovervoice.errors import WeightsUnavailableError

        try:
            _default.append(weights.load_model(MODEL_NAME))
        except WeightsUnavailableError:
            _default.append(F0SexEstimator())
    return _default[0]


def estimate_sex(audio: np.ndarray, sample_rate: int, label: str = "speech", *,
                 estimator=None, f0: np.ndarray | None = None) -> SexEstimate:
    """Estimate the voice type of one voice excerpt.

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]`` at ``sample_rate`` Hz (one voice).
        label: ``"speech"`` or ``"singing"`` (the boundary differs).
        estimator: :class:`SexClassifier` / :class:`F0SexEstimator`; default
            :func:`default_estimator`.
        f0: precomputed F0 track on the 10 ms grid of the 16 kHz signal (optional).

    Returns:
        :class:`SexEstimate` (``sex=None`` when too little of the excerpt is voiced).
    """
    x16 = F.to_mono_16k(audio, sample_rate)
    if f0 is None:
        f0 = F.f0_track(x16)
    est = estimator or default_estimator()
    feat = voice_features(x16, f0)
    if feat is None:
        return SexEstimate(None, None, 0.0, est.method)
    sex, conf = est.predict(feat, label)
    return SexEstimate(sex, round(conf, 4), float(2 ** feat[0]), est.method)

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
``weights/dv-prep-musicgate.md``. Recipe::

    python -m discovervoice.prep.musicgate --out weights
"""

from __future__ import annotations

import json
import os
import time
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


def collect(n_utterances: int = 30, n_music: int = 200, seed: int = 123,
            music_root: str | Path = "data/music-root") -> tuple[np.ndarray, np.ndarray, dict]:
    """Training embeddings: ``n_utterances`` 1-4 s utterances of each calibration speaker
    (label 0) and ``n_music`` 1-5 s pieces of vocal-free training-package excerpts (label
    1). Returns ``(X ndarray[N, 256], y ndarray[N], facts)``.

    Raises:
        DataError: speakers or music not installed.
    """
    from discovervoice.corpus import realsongs as RS
    from discovervoice.errors import DataError
    from discovervoice.prep import features as F
    from discovervoice.prep.diarization import embed_windows
    from discovervoice.prep.evaluate import real_speaker_groups, speaker_utterance

    def emb(x):
        e, _ = embed_windows(x)
        m = e.mean(axis=0)
        return m / (np.linalg.norm(m) + 1e-12)

    rng = np.random.default_rng(seed)
    voices = real_speaker_groups()["calibration"]
    cache: dict = {}
    X = [emb(speaker_utterance(v, rng, cache=cache)) for v in voices for _ in range(n_utterances)]
    tracks = RS.find_tracks(music_root, RS.TRAIN_PACKAGES)
    if not tracks:
        raise DataError(f"{music_root}: no music of the training packages "
                        "(scripts/fetch-real-music.sh unpacks them)")
    used = set()
    for _ in range(n_music):
        ex, t, _, _ = RS.screened_excerpt(tracks, 7.0, rng)
        used.add(str(t.path))
        m = F.to_mono_16k(ex, RS.SR)
        length = rng.uniform(1.0, 5.0)
        a = int(rng.uniform(0, 7.0 - length) * F.ANALYSIS_RATE)
        X.append(emb(m[a:a + int(length * F.ANALYSIS_RATE)]))
    y = np.r_[np.zeros(len(voices) * n_utterances), np.ones(n_music)].astype(int)
    facts = {"speakers": [v.id for v in voices], "utterances_per_speaker": n_utterances,
             "music_pieces": n_music, "music_tracks": len(used),
             "music_packages": list(RS.TRAIN_PACKAGES), "seed": seed}
    return np.stack(X), y, facts


def train(out: str | Path = "weights", **kw) -> dict:
    """Fit the gate on :func:`collect`'s data and write ``<out>/dv-prep-musicgate.*``
    (safetensors and registry entry; the model card is kept by hand). Returns the facts."""
    t0 = time.time()
    X, y, facts = collect(**kw)
    gate = MusicGate.fit(X, y, metadata={"facts": json.dumps(facts)})
    p = gate.probability(X)
    facts["train_voice_p_max"] = round(float(p[y == 0].max()), 3)
    facts["train_music_p_min"] = round(float(p[y == 1].min()), 3)
    facts["seconds"] = round(time.time() - t0, 1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gate.save(out / f"{MODEL_NAME}.safetensors")
    manifest = {"name": MODEL_NAME, "task": "music-cluster-gate",
                "architecture": "logistic regression on resemblyzer GE2E embeddings (256-d)",
                "file_format": "safetensors", "sample_rate": 16000,
                "licence": "MIT (weights); training data: fillets-ng-data-cs (GPL-2+), "
                           "klettres-data (GPL-2+), training music packages (DFSG-free, "
                           "see discovervoice/corpus/realsongs.py)",
                "shipped": f"{MODEL_NAME}.safetensors",
                "factory": "discovervoice.prep.musicgate:load_music_gate",
                "source": "python -m discovervoice.prep.musicgate --out weights",
                "extra": facts}
    (out / f"{MODEL_NAME}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return facts


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="weights")
    ap.add_argument("--music-root", default="data/music-root")
    a = ap.parse_args(argv)
    print(json.dumps(train(a.out, music_root=a.music_root), indent=1))


if __name__ == "__main__":
    main()

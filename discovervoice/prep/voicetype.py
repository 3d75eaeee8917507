"""Speech / singing / music decision over sliding windows (a small trained classifier).

silero-vad finds *speech*, but it also fires on sung lyrics, and pitched instruments look
voiced; so segmentation asks, for every window of ``WINDOW`` seconds (hop ``HOP_S``),
whether the active sound is **speech**, **singing** or (instrumental) **music**, from
features that separate the three (Gerhard 2003; Scheirer & Slaney 1997):

* pitch: voiced-frame ratio, F0 stability (fraction of 10 ms steps below 0.1 / 0.25
  semitone), plateau ratio (voiced frames inside held notes >= 150 ms), mean voiced-run
  length and runs per second (syllable rate), F0 range (10th-90th percentile, semitones),
  median F0 step;
* loudness: standard deviation of the frame level (syllabic modulation), spectral flux;
* timbre: mean and standard deviation of 13 MFCCs (numpy log-mel + DCT-II);
* silero-vad: mean speech probability.

Classifier: multinomial logistic regression (scikit-learn) on standardised features,
trained by ``discovervoice prep-train-voicetype`` on the corpus ``train`` split: spoken
clips (speech, also under quiet music), vocal stems and sung clips (singing, also mixed
with their accompaniment), accompaniment stems (music). Shipped as
``weights/dv-prep-voicetype.safetensors``; without it, :class:`RuleVoiceType` applies
fixed thresholds on the pitch features.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from discovervoice.prep import features as F

CLASSES = ("speech", "singing", "music")
MODEL_NAME = "dv-prep-voicetype"
#: ``format`` of the classifier's :mod:`discovervoice.checkpoint` file.
CHECKPOINT_FORMAT = "discovervoice-prep-voicetype/1"
#: Window length and hop of the decision, seconds.
WINDOW = 2.0
HOP_S = 0.25
N_MFCC = 13
FEATURE_NAMES = (["voiced_ratio", "stable010", "stable025", "plateau", "log_run", "runs_per_s",
                  "f0_range_st", "f0_step_st", "vad", "level_std", "flux"]
                 + [f"mfcc{i}_mean" for i in range(N_MFCC)] + [f"mfcc{i}_std" for i in range(N_MFCC)])


def _mel_filterbank(sr: int, n_fft: int, n_mels: int = 40, fmin: float = 60.0,
                    fmax: float | None = None) -> np.ndarray:
    fmax = fmax or sr / 2
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    imel = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    pts = imel(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((n_mels, len(bins)))
    for i in range(n_mels):
        lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
        fb[i] = np.clip(np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)), 0, None)
    return fb


def mfcc(x16: np.ndarray, n_mfcc: int = N_MFCC) -> np.ndarray:
    """MFCCs ``ndarray[N, n_mfcc]`` on the 10 ms grid (25 ms Hann frames, 40 mels)."""
    from scipy.fft import dct

    x = np.asarray(x16, dtype=np.float32)
    n = F.n_frames(len(x))
    nfft = 512
    pad = np.pad(x, (F.WIN // 2, nfft + n * F.HOP))
    idx = np.arange(F.WIN)[None, :] + (np.arange(n) * F.HOP)[:, None]
    frames = pad[idx] * np.hanning(F.WIN).astype(np.float32)
    spec = np.abs(np.fft.rfft(frames, n=nfft, axis=1)) ** 2
    mel = np.log(spec @ _mel_filterbank(F.ANALYSIS_RATE, nfft).T + 1e-10)
    return dct(mel, type=2, norm="ortho", axis=1)[:, :n_mfcc]


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """Length (frames) of the true run each frame belongs to (0 for false frames)."""
    out = np.zeros(len(mask))
    for s, e in F.runs(mask):
        out[s:e] = e - s
    return out


def frame_inputs(x16: np.ndarray, f0: np.ndarray, vad: np.ndarray, energy_db: np.ndarray
                 ) -> dict[str, np.ndarray]:
    """Per-frame quantities the window features are pooled from."""
    n = len(energy_db)
    voiced = f0[:n] > 0
    slope = F.semitone_slope(f0[:n])
    steady = voiced & (slope < 0.5)
    plateau_len = _run_lengths(steady)
    return {"voiced": voiced, "slope": np.nan_to_num(slope, nan=99.0),
            "plateau": plateau_len >= 15, "run": _run_lengths(voiced) / F.FRAME_RATE,
            "st": np.where(voiced, 12 * np.log2(np.maximum(f0[:n], 1e-3) / 440.0), np.nan),
            "vad": vad[:n], "level": energy_db[:n], "flux": F.spectral_flux(x16)[:n],
            "mfcc": mfcc(x16)[:n]}


def window_features(inp: dict[str, np.ndarray], active: np.ndarray, *,
                    window: float = WINDOW, hop: float = HOP_S, min_active: float = 0.3
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Features of sliding windows over the active frames.

    Returns:
        ``(features ndarray[W, D], centres ndarray[W])``: one row per window whose active
        part is at least ``min_active`` seconds (``D = len(FEATURE_NAMES)``); centres are
        frame indices.
    """
    n = len(active)
    w, h = int(round(window * F.FRAME_RATE)), max(1, int(round(hop * F.FRAME_RATE)))
    rows, centres = [], []
    for c in range(0, max(1, n), h):
        a, b = max(0, c - w // 2), min(n, c + w // 2)
        m = active[a:b]
        k = int(m.sum())
        if k < min_active * F.FRAME_RATE:
            continue
        v = inp["voiced"][a:b] & m
        nv = int(v.sum())
        slope = inp["slope"][a:b][v]
        st = inp["st"][a:b][v]
        runs = F.runs(v)
        mf = inp["mfcc"][a:b][m]
        row = [nv / k,
               float(np.mean(slope < 0.1)) if nv else 0.0,
               float(np.mean(slope < 0.25)) if nv else 0.0,
               float(np.mean(inp["plateau"][a:b][v])) if nv else 0.0,
               float(np.mean(np.log1p(inp["run"][a:b][v] * 10))) if nv else 0.0,
               len(runs) / (k / F.FRAME_RATE),
               float(np.percentile(st, 90) - np.percentile(st, 10)) if nv >= 5 else 0.0,
               float(np.median(np.minimum(slope, 3.0))) if nv else 3.0,
               float(np.mean(inp["vad"][a:b][m])),
               float(np.std(inp["level"][a:b][m])),
               float(np.mean(inp["flux"][a:b][m]))]
        rows.append(np.concatenate([row, mf.mean(axis=0), mf.std(axis=0)]))
        centres.append(c)
    d = len(FEATURE_NAMES)
    return (np.array(rows, dtype=np.float64).reshape(-1, d), np.array(centres, dtype=np.int64))


class RuleVoiceType:
    """Fallback without trained weights (fixed thresholds on a window's features):
    *singing* when mostly voiced (``voiced``) in held notes (``plateau``); else *speech*
    when silero-vad's mean probability is at least ``vad``; else *music*."""

    method = "rule"

    def __init__(self, voiced: float = 0.8, plateau: float = 0.5, vad: float = 0.4):
        self.voiced, self.plateau, self.vad = voiced, plateau, vad

    def predict_proba(self, feats: np.ndarray) -> np.ndarray:
        col = FEATURE_NAMES.index
        sing = (feats[:, col("voiced_ratio")] >= self.voiced) & (feats[:, col("plateau")] >= self.plateau)
        speech = ~sing & (feats[:, col("vad")] >= self.vad)
        p = np.full((len(feats), len(CLASSES)), 0.1)
        p[sing, 1] = 0.8
        p[speech, 0] = 0.8
        p[~sing & ~speech, 2] = 0.8
        return p


class VoiceTypeClassifier:
    """Multinomial logistic regression over :data:`FEATURE_NAMES` (standardised)."""

    method = "classifier"

    def __init__(self, mean, scale, coef, intercept, metadata: dict | None = None):
        self.mean, self.scale = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
        self.coef, self.intercept = np.asarray(coef, np.float64), np.asarray(intercept, np.float64)
        self.metadata = dict(metadata or {})

    def predict_proba(self, feats: np.ndarray) -> np.ndarray:
        """``ndarray[W, D]`` -> class probabilities ``ndarray[W, 3]`` (order :data:`CLASSES`)."""
        if len(feats) == 0:
            return np.zeros((0, len(CLASSES)))
        z = ((feats - self.mean) / self.scale) @ self.coef.T + self.intercept
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    @classmethod
    def fit(cls, feats: np.ndarray, labels: list[str], *, c: float = 1.0,
            metadata: dict | None = None) -> "VoiceTypeClassifier":
        from sklearn.linear_model import LogisticRegression

        y = np.array([CLASSES.index(lab) for lab in labels])
        mean, scale = feats.mean(0), feats.std(0) + 1e-6
        lr = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
        lr.fit((feats - mean) / scale, y)
        coef = np.zeros((len(CLASSES), feats.shape[1]))
        icpt = np.full(len(CLASSES), -30.0)
        for k, cl in enumerate(lr.classes_):
            coef[cl] = lr.coef_[k] if len(lr.classes_) > 2 else (lr.coef_[0] if k else -lr.coef_[0])
            icpt[cl] = lr.intercept_[k] if len(lr.classes_) > 2 else (lr.intercept_[0] if k else -lr.intercept_[0])
        return cls(mean, scale, coef, icpt, metadata)

    def save(self, path: str | os.PathLike) -> Path:
        """Write a :mod:`discovervoice.checkpoint` file (float32 arrays; the class and
        feature names as config; the training facts as metadata)."""
        from discovervoice import checkpoint

        return checkpoint.save(path, {"mean": self.mean.astype(np.float32),
                                      "scale": self.scale.astype(np.float32),
                                      "coef": self.coef.astype(np.float32),
                                      "intercept": self.intercept.astype(np.float32)},
                               format=CHECKPOINT_FORMAT,
                               config={"classes": list(CLASSES), "features": list(FEATURE_NAMES)},
                               metadata=self.metadata, architecture="VoiceTypeClassifier")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "VoiceTypeClassifier":
        """Read a file written by :meth:`save`.

        Raises:
            discovervoice.errors.WeightsError: not a voice-type classifier, or one made for
                other features or classes.
        """
        from discovervoice import checkpoint
        from discovervoice.errors import WeightsError

        ck = checkpoint.load(path, CHECKPOINT_FORMAT, framework="numpy",
                             what="voice-type classifier")
        if (ck.config.get("features") != list(FEATURE_NAMES)
                or ck.config.get("classes") != list(CLASSES)):
            raise WeightsError(f"{path}: not a VoiceTypeClassifier for these features/classes")
        a = ck.tensors
        return cls(a["mean"], a["scale"], a["coef"], a["intercept"], ck.metadata)


def load_voicetype_classifier(path: str | os.PathLike, spec=None, **kw) -> VoiceTypeClassifier:
    """Registry factory (``discovervoice.prep.voicetype:load_voicetype_classifier``)."""
    return VoiceTypeClassifier.load(path)


_default: list = []


def default_classifier():
    """The registered classifier (``dv-prep-voicetype``) when its file is present, else
    :class:`RuleVoiceType` (cached)."""
    if not _default:
        from discovervoice import weights
        from discovervoice.errors import WeightsUnavailableError

        try:
            _default.append(weights.load_model(MODEL_NAME))
        except WeightsUnavailableError:
            _default.append(RuleVoiceType())
    return _default[0]


def get_classifier(name: str | None = None):
    """``None``/``"default"``: :func:`default_classifier`; ``"rule"``: :class:`RuleVoiceType`;
    anything else: a :class:`VoiceTypeClassifier` file path.

    Raises:
        discovervoice.errors.WeightsError: the file cannot be read.
    """
    if name in (None, "default"):
        return default_classifier()
    if name == "rule":
        return RuleVoiceType()
    return VoiceTypeClassifier.load(name)


def frame_probabilities(probs: np.ndarray, centres: np.ndarray, n: int) -> np.ndarray:
    """Window probabilities ``[W, 3]`` -> per-frame ``[n, 3]`` by linear interpolation
    between window centres (frames outside every window get the nearest window's)."""
    out = np.zeros((n, len(CLASSES)))
    if len(centres) == 0:
        out[:, 2] = 1.0
        return out
    t = np.arange(n)
    for k in range(len(CLASSES)):
        out[:, k] = np.interp(t, centres, probs[:, k])
    return out

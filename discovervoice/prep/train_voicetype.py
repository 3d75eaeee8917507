"""Train the speech / singing / music window classifier (``dv-prep-voicetype``).

Data: the corpus ``train`` split only (never ``test``; ``valid`` is used for the score):

* **speech** — ``singers/<split>/<voice>/spoken_*.wav``, alone and under quiet
  accompaniment (10-20 dB below), as a mixture;
* **singing** — ``sung_*.wav`` clips and song vocal stems ``songs/<split>/*/vocals.wav``,
  alone and, for songs, inside the mixture (windows where the vocal stem is active);
* **music** — song accompaniment (``drums + bass + other``) alone, and mixture windows
  where the vocal stem is silent.

Each example goes through :func:`discovervoice.prep.segmentation.analyse` exactly as
segmentation does at run time. Several corpus folders may be given (e.g. one built with
songs, one with many singers). Writes ``<out>/dv-prep-voicetype.{safetensors,json,md}``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from discovervoice.errors import AudioError, DataError
from discovervoice.prep import features as F
from discovervoice.prep.voicetype import CLASSES, FEATURE_NAMES, MODEL_NAME, VoiceTypeClassifier

SR = F.ANALYSIS_RATE


def _files(corpus: Path, split: str) -> tuple[list[tuple[str, Path]], list[Path]]:
    clips = []
    for f in sorted((corpus / "singers" / split).glob("*/*.wav")):
        kind = f.name.split("_", 1)[0]
        if kind in ("sung", "spoken"):
            clips.append((f.parent.name, f))
    songs = sorted(d for d in (corpus / "songs" / split).glob("*") if (d / "vocals.wav").is_file()
                   and (d / "mixture.wav").is_file())
    return clips, songs


def _windows(track: np.ndarray, mix: np.ndarray | None = None):
    from discovervoice.prep.segmentation import analyse

    an = analyse(track[None] if mix is None else mix[None], SR,
                 vocals=None if mix is None else track[None])
    if an.feats is None:
        return np.zeros((0, len(FEATURE_NAMES))), np.zeros(0, np.int64), an
    return an.feats, an.centres, an


def collect(corpora: list[str | Path], split: str = "train", *, max_clips_per_voice: int = 4,
            max_songs: int = 40, seed: int = 0, progress=None) -> dict:
    """Window features, labels and groups (voice or song) of a split.

    Raises:
        DataError: ``split == "test"`` (reserved), or no material found.
    """
    from discovervoice.audio import load

    if split == "test":
        raise DataError("the test split is reserved for evaluation; train on train")
    rng = np.random.default_rng(seed)
    X, y, g = [], [], []
    say = progress or (lambda f, m: None)
    accomp: list[np.ndarray] = []
    song_dirs: list[Path] = []
    clips: list[tuple[str, Path]] = []
    for c in corpora:
        cl, so = _files(Path(c), split)
        clips += cl
        song_dirs += so
    if not clips and not song_dirs:
        raise DataError(f"no singers/{split} clips or songs/{split} songs in {list(map(str, corpora))}")
    song_dirs = [song_dirs[i] for i in sorted(rng.permutation(len(song_dirs))[:max_songs])]
    skipped: list[str] = []
    for k, d in enumerate(song_dirs):
        say(0.5 * k / max(1, len(song_dirs)), f"song {d.name}")
        try:
            voc = load(d / "vocals.wav", SR, 1)[0]
            mix = load(d / "mixture.wav", SR, 1)[0]
        except AudioError as exc:  # a corpus being rebuilt: note it and go on
            skipped.append(str(exc).splitlines()[0])
            continue
        n = min(len(voc), len(mix))
        voc, mix = voc[:n], mix[:n]
        acc = mix - voc
        accomp.append(acc)
        for track, m, label in ((voc, None, "singing"), (acc, None, "music")):
            f, _, _ = _windows(track, m)
            X.append(f)
            y += [label] * len(f)
            g += [f"song:{d.name}"] * len(f)
        # the mixture: singing where the vocal stem is active, music where it is silent
        f, cen, an = _windows(mix)
        ev = F.energy_db(voc)[: an.n]
        loud = float(np.percentile(an.energy_db, 95))
        vact = ev > loud - 30
        w = int(F.FRAME_RATE)
        for row, c in zip(f, cen):
            frac = float(np.mean(vact[max(0, c - w):c + w]))
            lab = "singing" if frac > 0.6 else ("music" if frac < 0.02 else None)
            if lab:
                X.append(row[None])
                y.append(lab)
                g.append(f"song:{d.name}")
    by_voice: dict[tuple[str, str], list[Path]] = {}
    for v, f in clips:
        by_voice.setdefault((v, f.name.split("_", 1)[0]), []).append(f)
    keys = sorted(by_voice)
    for k, (v, kind) in enumerate(keys):
        say(0.5 + 0.5 * k / max(1, len(keys)), f"{v} {kind}")
        lst = by_voice[(v, kind)]
        for i in sorted(rng.permutation(len(lst))[:max_clips_per_voice]):
            try:
                x = load(lst[i], SR, 1)[0]
            except AudioError as exc:
                skipped.append(str(exc).splitlines()[0])
                continue
            label = "singing" if kind == "sung" else "speech"
            f, _, _ = _windows(x)
            X.append(f)
            y += [label] * len(f)
            g += [f"voice:{v}"] * len(f)
            if kind == "spoken" and accomp and rng.random() < 0.5:
                a = accomp[int(rng.integers(len(accomp)))]
                s0 = int(rng.integers(0, max(1, len(a) - len(x))))
                seg = np.resize(a[s0:s0 + len(x)], len(x))
                snr = rng.uniform(10, 20)
                gain = np.sqrt(np.mean(x ** 2)) / (np.sqrt(np.mean(seg ** 2)) + 1e-9) / 10 ** (snr / 20)
                f, _, _ = _windows(x + gain * seg)
                X.append(f)
                y += [label] * len(f)
                g += [f"voice:{v}"] * len(f)
    X = [x for x in X if len(x)]
    if not X:
        raise DataError(f"no usable windows in split {split!r} of {list(map(str, corpora))}")
    return {"X": np.concatenate(X, axis=0), "y": y, "groups": g, "skipped": skipped}


def train_voicetype(corpora: list[str | Path], out_dir: str | Path | None = None, *,
                    max_clips_per_voice: int = 4, max_songs: int = 40, seed: int = 0,
                    progress=None) -> dict:
    """Fit on ``train``, score on ``valid`` (when present) and by group CV; write files."""
    from sklearn.model_selection import GroupKFold

    from discovervoice.weights import SHIPPED_DIR, ModelSpec, write_manifest

    t0 = time.time()
    tr = collect(corpora, "train", max_clips_per_voice=max_clips_per_voice, max_songs=max_songs,
                 seed=seed, progress=progress)
    X, y, g = tr["X"], tr["y"], tr["groups"]
    folds = min(5, len(set(g)))
    correct = []
    conf = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    for a, b in GroupKFold(n_splits=folds).split(X, y, g):
        clf = VoiceTypeClassifier.fit(X[a], [y[i] for i in a])
        pred = np.argmax(clf.predict_proba(X[b]), axis=1)
        for i, p in zip(b, pred):
            conf[CLASSES.index(y[i]), p] += 1
            correct.append(CLASSES[p] == y[i])
    meta = {"corpora": [str(c) for c in corpora], "split": "train", "windows": int(len(X)),
            "windows_by_class": {c: int(sum(1 for v in y if v == c)) for c in CLASSES},
            "groups": len(set(g)), "skipped_files": len(tr["skipped"]), "cv_window_accuracy": round(float(np.mean(correct)), 4),
            "cv_confusion_rows_true_cols_pred": conf.tolist(), "classes": list(CLASSES),
            "seed": seed}
    clf = VoiceTypeClassifier.fit(X, y, metadata=meta)
    try:
        va = collect(corpora, "valid", max_clips_per_voice=max_clips_per_voice,
                     max_songs=max_songs, seed=seed)
        pred = np.argmax(clf.predict_proba(va["X"]), axis=1)
        meta["valid_window_accuracy"] = round(float(np.mean([CLASSES[p] == t for p, t in zip(pred, va["y"])])), 4)
    except DataError:
        meta["valid_window_accuracy"] = None
    clf.metadata = meta
    out = Path(out_dir) if out_dir else SHIPPED_DIR
    f = clf.save(out / f"{MODEL_NAME}.safetensors")
    src = " ".join(f"--corpus {c}" for c in corpora)
    spec = ModelSpec(MODEL_NAME, "speech-singing-music",
                     "multinomial logistic regression on 2 s window features", "safetensors", SR,
                     "MIT (weights); training data: corpus voices and songs (MBROLA "
                     "non-commercial, festival free, FluidR3 GM soundfont MIT)",
                     shipped=f.name,
                     factory="discovervoice.prep.voicetype:load_voicetype_classifier",
                     source=f"discovervoice prep-train-voicetype {src} --max-clips {max_clips_per_voice}",
                     extra=meta)
    write_manifest(spec, out)
    (out / f"{MODEL_NAME}.md").write_text(f"""# {MODEL_NAME} — speech / singing / music decision

Scores 2 s windows (hop 0.25 s) of a voice track as speech, singing or instrumental music
for `discovervoice prep` segmentation (see `discovervoice/prep/voicetype.py`).

- Features ({len(FEATURE_NAMES)}): {", ".join(FEATURE_NAMES)}.
- Model: {spec.architecture} (scikit-learn, class-balanced).
- Training data: corpus split `train` of {", ".join(meta['corpora'])} — {meta['windows']}
  windows {meta['windows_by_class']} from {meta['groups']} voices/songs. Never the reserved
  `test` voices, pieces or soundfonts.
- Recipe: `{spec.source}`
- Scores: {folds}-fold leave-voices/songs-out window accuracy {meta['cv_window_accuracy']};
  valid split window accuracy {meta['valid_window_accuracy']}; confusion (rows true
  {list(CLASSES)}, columns predicted): {meta['cv_confusion_rows_true_cols_pred']}.
  Segment-level scores on reserved material: `discovervoice prep-eval` (README).
- Licence: {spec.licence}.
""")
    meta["seconds"] = round(time.time() - t0, 1)
    return meta

"""Train the embedded voice-sex classifier (``dv-prep-sex``) on the corpus.

Data: the sung and spoken clips of ``singers/train/<voice>/`` whose voice has a known sex
in the corpus manifest — never the ``test`` split (reserved voices). Features:
:func:`discovervoice.prep.sex.voice_features` of each clip. Model:
:class:`discovervoice.prep.sex.SexClassifier` (scikit-learn logistic regression).
Reported: leave-voices-out accuracy (5-fold ``GroupKFold`` by voice), so the number says
how the estimate does on voices it has not heard.

Writes ``<out>/dv-prep-sex.safetensors``, the registry entry ``dv-prep-sex.json`` and the
model card ``dv-prep-sex.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from discovervoice.errors import AudioError, DataError
from discovervoice.prep.sex import MODEL_NAME, SexClassifier, voice_features


def collect(corpus: str | Path, split: str = "train", max_clips: int = 12, seed: int = 0
            ) -> tuple[list[np.ndarray], list[str], list[str], list[str]]:
    """Features, labels (speech/singing), sexes and voice ids of the split's clips.

    Raises:
        DataError: the split is the reserved ``test`` split, or it has no usable clips.
    """
    from discovervoice.audio import load
    from discovervoice.prep.evaluate import load_corpus_manifest, voice_sexes

    if split == "test":
        raise DataError("the test split is reserved for evaluation; train on train")
    man = load_corpus_manifest(corpus)
    sexes = voice_sexes(man)
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[dict]] = {}
    for it in man.get("items", []):
        if it.get("part") != "singers" or it.get("split") != split:
            continue
        v = it.get("singer")
        if sexes.get(v) not in ("male", "female") or it.get("kind") not in ("sung", "spoken"):
            continue
        groups.setdefault((v, it["kind"]), []).append(it)
    feats, labels, sx, vids = [], [], [], []
    for (v, kind), lst in sorted(groups.items()):
        for i in sorted(rng.permutation(len(lst))[:max_clips]):
            try:
                x = load(Path(corpus) / lst[i]["path"], 16_000, 1)[0]
            except AudioError:  # listed but missing (a corpus being rebuilt): skip it
                continue
            f = voice_features(x)
            if f is None:
                continue
            feats.append(f)
            labels.append("singing" if kind == "sung" else "speech")
            sx.append(sexes[v])
            vids.append(v)
    if len(set(sx)) < 2:
        raise DataError(f"{corpus}: split {split!r} needs clips of both male and female voices")
    return feats, labels, sx, vids


def train_sex(corpus: str | Path, out_dir: str | Path | None = None, *, max_clips: int = 12,
              seed: int = 0) -> dict:
    """Fit, cross-validate by voice, and write the classifier; returns the metrics."""
    from sklearn.model_selection import GroupKFold

    from discovervoice.weights import SHIPPED_DIR, ModelSpec, write_manifest

    t0 = time.time()
    feats, labels, sexes, vids = collect(corpus, "train", max_clips, seed)
    y = np.array(sexes)
    n_groups = len(set(vids))
    folds = min(5, n_groups)
    correct: list[tuple[str, bool]] = []
    for tr, te in GroupKFold(n_splits=folds).split(feats, y, vids):
        clf = SexClassifier.fit([feats[i] for i in tr], [labels[i] for i in tr], [sexes[i] for i in tr])
        for i in te:
            correct.append((labels[i], clf.predict(feats[i], labels[i])[0] == sexes[i]))
    cv_acc = float(np.mean([c for _, c in correct]))
    by_label = {lab: float(np.mean([c for lb, c in correct if lb == lab]))
                for lab in ("speech", "singing") if any(lb == lab for lb, _ in correct)}
    meta = {"corpus": str(corpus), "split": "train", "clips": len(feats), "voices": n_groups,
            "male_voices": len({v for v, s in zip(vids, sexes) if s == "male"}),
            "female_voices": len({v for v, s in zip(vids, sexes) if s == "female"}),
            "cv_leave_voices_out_accuracy": round(cv_acc, 4),
            "cv_accuracy_by_label": {k: round(v, 4) for k, v in by_label.items()},
            "folds": folds, "seed": seed}
    clf = SexClassifier.fit(feats, labels, sexes, metadata=meta)
    out = Path(out_dir) if out_dir else SHIPPED_DIR
    out.mkdir(parents=True, exist_ok=True)
    f = clf.save(out / f"{MODEL_NAME}.safetensors")
    spec = ModelSpec(MODEL_NAME, "voice-sex-estimate",
                     "logistic regression on F0 statistics + WORLD envelope cepstrum",
                     "safetensors", 16000,
                     "MIT (weights); training data: corpus voices (MBROLA non-commercial, "
                     "festival free, fillets-ng GPL-2+)",
                     shipped=f.name, factory="discovervoice.prep.sex:load_sex_classifier",
                     source=f"discovervoice prep-train-sex --corpus {corpus} --max-clips {max_clips}",
                     extra=meta)
    write_manifest(spec, out)
    (out / f"{MODEL_NAME}.md").write_text(_card(spec, meta))
    meta["seconds"] = round(time.time() - t0, 1)
    meta["file"] = str(f)
    return meta


def _card(spec, meta: dict) -> str:
    return f"""# {MODEL_NAME} — voice-sex estimate (dataset preparation)

An **estimate** of whether a voice excerpt sounds typically male or typically female, with
a probability. It describes the acoustic voice type, not the person.

- Architecture: {spec.architecture}; inputs: median / 10th / 90th percentile log2 F0
  (pyworld dio + stonemask), mean of 20 cepstral coefficients of the WORLD (cheaptrick)
  spectral envelope over voiced frames, and whether the excerpt is speech or singing.
- Training data: corpus split `train` (never the reserved evaluation voices),
  {meta['clips']} clips of {meta['voices']} voices ({meta['male_voices']} male,
  {meta['female_voices']} female), sung and spoken.
- Recipe: `{spec.source}`
- Leave-voices-out accuracy ({meta['folds']}-fold GroupKFold by voice):
  {meta['cv_leave_voices_out_accuracy']:.3f} (by label: {meta['cv_accuracy_by_label']}).
- Evaluation on reserved voices: `discovervoice prep-eval` (see the README).
- Licence: {spec.licence}.
- Limits: synthetic and a few recorded voices; children's voices, whispering and heavily
  processed voices are not covered; below 0.2 s of voiced sound no estimate is given.
"""

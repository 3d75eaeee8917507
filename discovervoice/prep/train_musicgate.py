"""Train the music gate of diarization (``dv-prep-musicgate``,
:class:`discovervoice.prep.musicgate.MusicGate`).

Data: unit-norm window-mean GE2E embeddings (resemblyzer, via
:func:`discovervoice.prep.diarization.embed_windows`) of 1-4 s utterances of the real
calibration speakers (:func:`discovervoice.prep.evaluate.real_speaker_groups`) and of 1-5 s
pieces of vocal-free excerpts of the training music packages
(:data:`discovervoice.corpus.realsongs.TRAIN_PACKAGES`); never the evaluation speakers,
the development music packages or reserved material. Model: scikit-learn logistic
regression. Writes ``<out>/dv-prep-musicgate.safetensors`` and the registry entry
``dv-prep-musicgate.json`` (the model card ``dv-prep-musicgate.md`` is kept by hand).
Recipe::

    python -m discovervoice.prep.train_musicgate --out weights
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from discovervoice.prep.musicgate import MODEL_NAME, MusicGate


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
    from discovervoice.weights import ModelSpec, write_manifest

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    f = gate.save(out / f"{MODEL_NAME}.safetensors")
    spec = ModelSpec(MODEL_NAME, "music-cluster-gate",
                     "logistic regression on resemblyzer GE2E embeddings (256-d)",
                     "safetensors", 16000,
                     "MIT (weights); training data: fillets-ng-data-cs (GPL-2+), "
                     "klettres-data (GPL-2+), training music packages (DFSG-free, "
                     "see discovervoice/corpus/realsongs.py)",
                     shipped=f.name, factory="discovervoice.prep.musicgate:load_music_gate",
                     source="python -m discovervoice.prep.train_musicgate --out weights",
                     extra=facts)
    write_manifest(spec, out)
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

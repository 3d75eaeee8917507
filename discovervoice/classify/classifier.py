"""``SingerClassifier``: "which singers do I sound like", with calibrated probabilities,
a growable gallery of singers, and song recommendations.

A classifier folder is an AST checkpoint folder (:mod:`discovervoice.classify.model`) plus:

    discovervoice.json   format tag, label map, window/VAD config, temperature, gallery
                         scale, gallery names and clip counts, training summary
    gallery.safetensors  ``centroids``: ``[G, H]`` mean L2-normalised pooled embeddings;
                         optional ``speaker_centroids``: ``[S, 256]`` GE2E speaker embeddings
                         of the singers named in ``discovervoice.json``'s
                         ``gallery.speaker_names`` (speaker fusion, below)
    gallery_backend.safetensors  optional: ``mean`` ``[H]`` and ``projection`` ``[H, D]`` of
                         the gallery's scoring backend (:mod:`discovervoice.classify.backend`)
    catalogue.csv        optional: ``singer,title,file_or_link`` songs to recommend
    catalogue_embeddings.safetensors  optional: ``embeddings`` ``[S, H]``, one L2-normalised
                         mean embedding of each catalogue song's own vocals, in catalogue
                         order (written by ``discovervoice library index``); with it each
                         singer's songs are recommended in order of their similarity to the
                         query voice

Two scorings:

* **head**: window logits of the AST head are averaged and divided by the temperature
  fitted on validation clips (temperature scaling, Guo et al. 2017);
* **gallery**: cosine similarity between the clip's mean embedding and each gallery
  singer's centroid, times a fitted scale (nearest-centroid / prototypical scoring, Snell
  et al. 2017), soft-maxed. When the folder has a gallery backend, both are first mapped by
  it (NAP of the singing/speaking shift + WCCN), so that singers enrolled from sung clips
  are also found from speech.

**Speaker fusion** (gallery scoring, score-level fusion as in speaker verification system
combination, e.g. Brümmer et al. 2007): when the folder sets ``gallery.speaker_weight``
``w > 0`` and every scored singer has a speaker centroid, the similarity is
``(1 - w) * cos_AST + w * cos_GE2E`` where ``cos_GE2E`` compares the query's resemblyzer
GE2E embedding (Wan et al. 2018, "Generalized end-to-end loss for speaker verification";
the pretrained 256-d encoder ships in the ``resemblyzer`` wheel, no network) with the
singer's speaker centroid, and the fused similarity is scaled by ``gallery.speaker_scale``
(fitted like ``scale``, so probabilities stay calibrated). The AST was trained on synthetic
singers only; the GE2E encoder was trained on thousands of real speakers, and on real
people the fusion ranks better than either (``weights/dv-singer-ast.md``). Otherwise
(``w = 0``, or a singer without a speaker centroid, e.g. a library made without one) the
AST similarity alone is used with ``scale``. :meth:`add_to_gallery` computes both
centroids while ``w > 0``.

``scoring="auto"`` uses the gallery once singers outside the head were added (the head
cannot name them); otherwise the folder's ``default_scoring``, which training (and
``classify backend``) sets to whichever of the two had the higher clip accuracy on the
validation songs (``"head"`` for folders that do not say).

JSON of :meth:`SingerClassifier.which_singer` (stable; extra keys may be added, none
removed)::

    {"singers": [{"name": str, "probability": float}, ...],          # best first, top-k
     "recommendations": [{"singer": str, "title": str, "file_or_link": str,
                          "available": bool, "probability": float}, ...],
     "scoring": "head" | "gallery", "windows": int, "voiced_seconds": float,
     "model": str}

A recommendation's ``probability`` is its singer's; with song embeddings it also carries
``similarity`` (cosine of the song's vocals to the query, in the gallery backend's space
when there is one) and each singer's songs come best first. ``file_or_link`` is a URL, or the song
file's absolute path on this machine; when the catalogue names a file that is not here
(the embedded model's catalogue points into a corpus build that a user may not have), the
song is still recommended by singer and title, with ``"available": false`` and
``"file_or_link": ""``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from discovervoice.classify.backend import GalleryBackend
from discovervoice.classify.data import CatalogueEntry, read_catalogue, write_catalogue
from discovervoice.classify.features import (
    SAMPLE_RATE,
    LogMel,
    WindowConfig,
    aggregate_logits,
    cut_windows,
    voiced_audio,
)
from discovervoice.classify.model import (
    ASTCheckpoint,
    load_ast_folder,
    save_ast_folder,
)
from discovervoice.checkpoint import read_tensors, write_tensors
from discovervoice.errors import AudioError, DataError, WeightsError
from discovervoice.progress import Progress

FORMAT = "discovervoice-singer-ast/1"
#: Registry name of the embedded default classifier.
DEFAULT_MODEL = "dv-singer-ast"
#: File of a classifier folder with one embedding per catalogue song (module docstring).
SONG_EMBEDDINGS = "catalogue_embeddings.safetensors"


class SingerClassifier:
    """An AST singer classifier with calibration, gallery and catalogue.

    Args:
        checkpoint: the AST network and feature extractor.
        window: how recordings are cut into windows (VAD, lengths).
        temperature: head logits are divided by it (``> 0``).
        gallery: ``{singer: mean embedding ndarray[H]}``.
        gallery_counts: ``{singer: number of windows averaged}``.
        gallery_scale: multiplies cosine similarities in gallery scoring.
        catalogue: songs to recommend.
        info: free-form training summary kept in ``discovervoice.json``.
        backend: optional linear scoring backend of gallery mode.
        default_scoring: ``"head"`` or ``"gallery"``: what ``scoring="auto"`` uses while
            every gallery singer is a head label (see the module docstring).
        song_embeddings: optional ``ndarray[S, H]``, one embedding per catalogue entry
            (same order) of that song's own vocals; ranks songs within a singer.
        speaker_gallery: ``{singer: GE2E speaker centroid ndarray[256]}`` (speaker fusion).
        speaker_counts: ``{singer: number of clips averaged}`` of ``speaker_gallery``.
        speaker_weight: weight ``w`` in ``[0, 1]`` of the GE2E similarity (0: off).
        speaker_scale: scale of the fused similarity (default: ``gallery_scale``).

    Attributes:
        sample_rate: 16000 Hz; callers resample (DESIGN.md).
    """

    sample_rate: int = SAMPLE_RATE

    def __init__(self, checkpoint: ASTCheckpoint, *, window: WindowConfig | None = None,
                 temperature: float = 1.0, gallery: dict[str, np.ndarray] | None = None,
                 gallery_counts: dict[str, int] | None = None, gallery_scale: float = 10.0,
                 catalogue: Sequence[CatalogueEntry] = (), info: dict[str, Any] | None = None,
                 name: str = "", backend: GalleryBackend | None = None,
                 default_scoring: str = "head", song_embeddings: np.ndarray | None = None,
                 speaker_gallery: dict[str, np.ndarray] | None = None,
                 speaker_counts: dict[str, int] | None = None, speaker_weight: float = 0.0,
                 speaker_scale: float | None = None):
        self.checkpoint = checkpoint
        self.model = checkpoint.model.eval()
        frames = int(checkpoint.model.config.max_length)
        self.window = window or WindowConfig(window_seconds=frames / 100.0)
        if abs(self.window.window_seconds * 100 - frames) > 1:
            raise WeightsError(f"window of {self.window.window_seconds} s does not match the "
                               f"model's {frames} frames ({frames / 100:g} s)")
        self.temperature = float(temperature)
        self.gallery = {k: np.asarray(v, np.float32) for k, v in (gallery or {}).items()}
        self.gallery_counts = dict(gallery_counts or {k: 1 for k in self.gallery})
        self.gallery_scale = float(gallery_scale)
        self.catalogue = list(catalogue)
        self.info = dict(info or {})
        self.name = name or (str(checkpoint.path) if checkpoint.path else "unsaved")
        self.logmel = LogMel(checkpoint.feature_extractor)
        if backend is not None and backend.mean.shape[0] != self.embedding_size:
            raise WeightsError(f"gallery backend of size {backend.mean.shape[0]} does not fit "
                               f"the model's {self.embedding_size}-d embedding")
        self.backend = backend
        if default_scoring not in ("head", "gallery"):
            raise WeightsError(f"default scoring must be head or gallery, got {default_scoring!r}")
        self.default_scoring = default_scoring
        self.song_embeddings = None if song_embeddings is None else np.asarray(song_embeddings,
                                                                               np.float32)
        self.speaker_gallery = {k: np.asarray(v, np.float32) for k, v in (speaker_gallery or {}).items()}
        self.speaker_counts = dict(speaker_counts or {k: 1 for k in self.speaker_gallery})
        if not 0.0 <= float(speaker_weight) <= 1.0:
            raise WeightsError(f"speaker weight must be in [0, 1], got {speaker_weight}")
        self.speaker_weight = float(speaker_weight)
        self.speaker_scale = float(speaker_scale if speaker_scale is not None else gallery_scale)
        if self.song_embeddings is not None and self.song_embeddings.shape != (
                len(self.catalogue), self.embedding_size):
            raise WeightsError(f"song embeddings of shape {self.song_embeddings.shape} do not fit "
                               f"{len(self.catalogue)} catalogue songs x {self.embedding_size}")

    # ------------------------------------------------------------------ properties
    @property
    def labels(self) -> list[str]:
        """Singers of the classifier head, index order (the label map)."""
        return self.checkpoint.labels

    @property
    def singers(self) -> list[str]:
        """Every singer the classifier can name: head labels, then gallery-only ones."""
        return self.labels + sorted(k for k in self.gallery if k not in self.labels)

    @property
    def scoring(self) -> str:
        """What ``scoring="auto"`` uses: ``"gallery"`` once singers outside the head were
        added, else :attr:`default_scoring` (``"gallery"`` only while every head singer has
        a centroid)."""
        if any(k not in self.labels for k in self.gallery):
            return "gallery"
        if self.default_scoring == "gallery" and all(k in self.gallery for k in self.labels):
            return "gallery"
        return "head"

    def fuses(self, names: Sequence[str]) -> bool:
        """Whether gallery scoring over ``names`` uses speaker fusion (module docstring)."""
        return self.speaker_weight > 0 and bool(names) and all(n in self.speaker_gallery
                                                                for n in names)

    @property
    def embedding_size(self) -> int:
        return int(self.model.config.hidden_size)

    # ------------------------------------------------------------------ load / save
    @classmethod
    def load(cls, name_or_dir: str | os.PathLike = "default") -> "SingerClassifier":
        """Load a classifier folder, or a registered model by name.

        Args:
            name_or_dir: ``"default"`` (the embedded ``dv-singer-ast``), a registry name,
                or a folder written by :meth:`save` / ``discovervoice classify train``.

        Raises:
            WeightsError: not a classifier folder (missing or damaged files), or a
                registered AST that is not a singer classifier (``ast_audioset``: fine-tune
                it first).
            WeightsUnavailableError: a registered model that is not on disk.
        """
        from discovervoice import weights

        key = DEFAULT_MODEL if str(name_or_dir) == "default" else str(name_or_dir)
        p = Path(key).expanduser()
        spec = weights.registry().get(key) if not p.exists() else None
        if spec is not None and spec.factory == f"{__name__}:load_singer_classifier":
            return weights.load_model(key)
        if not p.exists():
            p = weights.resolve(key)   # not registered, or another AST: the errors below
        if p.is_file():
            p = p.parent
        meta_path = p / "discovervoice.json"
        if not meta_path.is_file():
            raise WeightsError(
                f"{p}: not a DiscoverVoice singer classifier (no discovervoice.json); an AST "
                "such as ast_audioset must first be fine-tuned on singers with "
                "`discovervoice classify train DATA_DIR -o MODEL_DIR --init ...`")
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as exc:
            raise WeightsError(f"{meta_path}: invalid JSON ({exc})") from exc
        if meta.get("format") != FORMAT:
            raise WeightsError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        ck = load_ast_folder(p)
        if meta.get("labels") and meta["labels"] != ck.labels:
            raise WeightsError(f"{p}: label map of discovervoice.json does not match config.json")
        gallery: dict[str, np.ndarray] = {}
        names = meta.get("gallery", {}).get("names", [])
        if names:
            g = read_tensors(p / "gallery.safetensors", "numpy")[0]["centroids"].astype(np.float32)
            if g.shape != (len(names), ck.model.config.hidden_size):
                raise WeightsError(f"{p / 'gallery.safetensors'}: shape {g.shape} does not fit "
                                   f"{len(names)} singers x {ck.model.config.hidden_size}")
            gallery = {n: g[i] for i, n in enumerate(names)}
        speaker_gallery: dict[str, np.ndarray] = {}
        snames = meta.get("gallery", {}).get("speaker_names", [])
        if snames:
            try:
                sg = read_tensors(p / "gallery.safetensors", "numpy")[0]["speaker_centroids"]
            except KeyError as exc:
                raise WeightsError(f"{p / 'gallery.safetensors'}: discovervoice.json names "
                                   f"speaker centroids but they are missing ({exc})") from exc
            if sg.shape[0] != len(snames):
                raise WeightsError(f"{p / 'gallery.safetensors'}: {sg.shape[0]} speaker "
                                   f"centroids for {len(snames)} names")
            speaker_gallery = {n: sg[i].astype(np.float32) for i, n in enumerate(snames)}
        cat = read_catalogue(p / "catalogue.csv") if (p / "catalogue.csv").is_file() else []
        song_emb = None
        if cat and (p / SONG_EMBEDDINGS).is_file():
            try:
                song_emb = read_tensors(p / SONG_EMBEDDINGS, "numpy")[0]["embeddings"].astype(np.float32)
            except (KeyError, WeightsError) as exc:
                raise WeightsError(f"{p / SONG_EMBEDDINGS}: not song embeddings ({exc})") from exc
        backend = None
        binfo = meta.get("gallery", {}).get("backend")
        if binfo:
            bpath = p / "gallery_backend.safetensors"
            if not bpath.is_file():
                raise WeightsError(f"{p}: discovervoice.json names a gallery backend but "
                                   f"{bpath.name} is missing")
            try:
                b = read_tensors(bpath, "numpy")[0]
                backend = GalleryBackend(b["mean"], b["projection"], binfo)
            except (KeyError, DataError) as exc:
                raise WeightsError(f"{bpath}: not a gallery backend ({exc})") from exc
        return cls(ck, window=WindowConfig.from_dict(meta.get("window", {})),
                   temperature=float(meta.get("temperature", 1.0)), gallery=gallery,
                   gallery_counts=meta.get("gallery", {}).get("counts"),
                   gallery_scale=float(meta.get("gallery", {}).get("scale", 10.0)),
                   catalogue=cat, info=meta.get("info", {}), name=str(key), backend=backend,
                   default_scoring=str(meta.get("default_scoring", "head")),
                   song_embeddings=song_emb, speaker_gallery=speaker_gallery,
                   speaker_counts=meta.get("gallery", {}).get("speaker_counts"),
                   speaker_weight=float(meta.get("gallery", {}).get("speaker_weight", 0.0)),
                   speaker_scale=meta.get("gallery", {}).get("speaker_scale"))

    def save(self, path: str | os.PathLike, *, fp16: bool | None = None) -> Path:
        """Write the classifier folder (see the module docstring); returns it.
        ``fp16=None`` keeps the weights' stored precision."""
        p = save_ast_folder(self.checkpoint, path, fp16=fp16)
        names = sorted(self.gallery)
        snames = sorted(self.speaker_gallery)
        if names:
            tensors = {"centroids": np.stack([self.gallery[n] for n in names]).astype(np.float32)}
            if snames:
                tensors["speaker_centroids"] = np.stack(
                    [self.speaker_gallery[n] for n in snames]).astype(np.float32)
            write_tensors(p / "gallery.safetensors", tensors)
        meta = {"format": FORMAT, "labels": self.labels, "window": self.window.to_dict(),
                "temperature": self.temperature, "default_scoring": self.default_scoring,
                "gallery": {"names": names, "counts": {n: int(self.gallery_counts.get(n, 1))
                                                       for n in names},
                            "scale": self.gallery_scale,
                            "speaker_names": snames if names else [],
                            "speaker_counts": {n: int(self.speaker_counts.get(n, 1)) for n in snames},
                            "speaker_weight": self.speaker_weight,
                            "speaker_scale": self.speaker_scale,
                            "backend": self.backend.info if self.backend is not None else None},
                "info": self.info}
        if self.backend is not None:
            write_tensors(p / "gallery_backend.safetensors",
                          {"mean": self.backend.mean, "projection": self.backend.projection})
        elif (p / "gallery_backend.safetensors").is_file():
            (p / "gallery_backend.safetensors").unlink()
        tmp = p / ".discovervoice.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
        tmp.replace(p / "discovervoice.json")
        if self.catalogue:
            # file paths are stored relative to the model folder, so the folder can move
            # together with the files it points to; URLs are kept as they are
            write_catalogue(p / "catalogue.csv", [
                e if "://" in e.location or not os.path.isabs(e.location)
                else CatalogueEntry(e.singer, e.title, os.path.relpath(e.location, p.resolve()))
                for e in self.catalogue])
        if self.song_embeddings is not None and len(self.song_embeddings) == len(self.catalogue) > 0:
            write_tensors(p / SONG_EMBEDDINGS, {"embeddings": self.song_embeddings})
        elif (p / SONG_EMBEDDINGS).is_file():
            (p / SONG_EMBEDDINGS).unlink()
        return p

    # ------------------------------------------------------------------ inference
    def windows(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, *,
                name: str = "input") -> np.ndarray:
        """VAD + windows: ``ndarray[C, T]`` at 16 kHz -> ``ndarray[N, W]``.

        Raises:
            AudioError: wrong rate or shape, silent input, too little voice.
        """
        return cut_windows(voiced_audio(audio, sample_rate, self.window, name=name), self.window)

    def forward_windows(self, windows: np.ndarray, batch_size: int = 32
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Run the AST on windows.

        Args:
            windows: ``ndarray[N, W]`` float32 at 16 kHz.

        Returns:
            ``(logits ndarray[N, K], embeddings ndarray[N, H])``; embeddings are the pooled
            output (not normalised).
        """
        import torch

        logits, embs = [], []
        with torch.inference_mode():
            for i in range(0, len(windows), batch_size):
                x = self.logmel(torch.from_numpy(np.ascontiguousarray(windows[i:i + batch_size])))
                pooled = self.model.audio_spectrogram_transformer(input_values=x).pooler_output
                logits.append(self.model.classifier(pooled).float().numpy())
                embs.append(pooled.float().numpy())
        k, h = len(self.labels), self.embedding_size
        return (np.concatenate(logits) if logits else np.zeros((0, k), np.float32),
                np.concatenate(embs) if embs else np.zeros((0, h), np.float32))

    def predict(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, *,
                scoring: str = "auto", name: str = "input") -> dict[str, Any]:
        """Probabilities over every singer for one recording.

        Args:
            audio: ``ndarray[C, T]`` or ``[T]`` at 16 kHz (voice: a vocals stem, speech or
                singing).
            scoring: ``"auto"`` | ``"head"`` | ``"gallery"`` (see the module docstring).

        Returns:
            ``{"names": [...], "probabilities": ndarray[K], "scoring": str,
            "windows": int, "voiced_seconds": float, "embedding": ndarray[H]}``.

        Raises:
            AudioError: see :meth:`windows`.
            DataError: gallery scoring with an empty gallery.
        """
        v = voiced_audio(audio, sample_rate, self.window, name=name)
        w = cut_windows(v, self.window)
        logits, emb = self.forward_windows(w)
        mode = self.scoring if scoring == "auto" else scoring
        spk = None
        if mode == "gallery" and self.fuses([n for n in self.gallery]):
            spk = self.speaker_embedding(v)
        return self._scores(logits, emb, mode, speaker_embedding=spk) | {
            "windows": int(len(w)), "voiced_seconds": len(v) / SAMPLE_RATE}

    def speaker_embedding(self, voiced: np.ndarray) -> np.ndarray:
        """GE2E speaker embedding ``ndarray[256]`` (unit norm) of voiced 16 kHz audio
        ``ndarray[T]`` or ``[C, T]`` (resemblyzer, via :mod:`discovervoice.eval.speaker`).

        Raises:
            AudioError: less than 0.25 s of speech left after resemblyzer's trimming.
        """
        from discovervoice.eval.speaker import shared_encoder

        return np.asarray(shared_encoder().embed(voiced, SAMPLE_RATE), np.float32)

    def _scores(self, logits: np.ndarray, emb: np.ndarray, scoring: str = "auto", *,
                speaker_embedding: np.ndarray | None = None) -> dict[str, Any]:
        mode = self.scoring if scoring == "auto" else scoring
        mean_emb = _normalize(_normalize(emb).mean(axis=0))
        if mode == "head":
            names = self.labels
            probs = aggregate_logits(logits, self.temperature)
        elif mode == "gallery":
            if not self.gallery:
                raise DataError("gallery scoring needs singers in the gallery "
                                "(add_to_gallery / `discovervoice classify gallery add`)")
            names = [n for n in self.singers if n in self.gallery]
            spk = speaker_embedding if self.fuses(names) else None
            scale = self.speaker_scale if spk is not None else self.gallery_scale
            probs = aggregate_logits(self.gallery_similarity(
                mean_emb[None], names, None if spk is None else spk[None]) * scale)
        else:
            raise ValueError(f"scoring must be auto, head or gallery, got {scoring!r}")
        return {"names": list(names), "probabilities": probs, "scoring": mode,
                "embedding": mean_emb}

    def gallery_similarity(self, embeddings: np.ndarray, names: Sequence[str] | None = None,
                           speaker_embeddings: np.ndarray | None = None) -> np.ndarray:
        """Cosine similarities of clip embeddings to gallery centroids, in the backend's
        space when there is one; fused with GE2E similarities when ``speaker_embeddings``
        are given and :meth:`fuses` holds for ``names`` (module docstring).

        Args:
            embeddings: ``ndarray[N, H]`` (clip means of pooled embeddings).
            names: gallery singers (default: all, in :attr:`singers` order).
            speaker_embeddings: optional ``ndarray[N, 256]`` GE2E embeddings of the clips.

        Returns:
            ``ndarray[N, G]`` in ``[-1, 1]``.
        """
        names = list(names) if names is not None else [n for n in self.singers if n in self.gallery]
        cents = np.stack([self.gallery[n] for n in names])
        f = self.backend if self.backend is not None else _normalize
        sim = f(np.asarray(embeddings, np.float32)) @ f(cents).T
        if speaker_embeddings is not None and self.fuses(names):
            spk = _normalize(np.stack([self.speaker_gallery[n] for n in names]))
            w = self.speaker_weight
            sim = (1 - w) * sim + w * (_normalize(np.asarray(speaker_embeddings, np.float32)) @ spk.T)
        return sim

    def rank(self, audio: np.ndarray, top_k: int = 5, sample_rate: int = SAMPLE_RATE, *,
             scoring: str = "auto") -> list[tuple[str, float]]:
        """The ``top_k`` most likely singers, best first: ``[(name, probability)]``.

        Args:
            audio: ``ndarray[C, T]`` at 16 kHz.

        Raises:
            AudioError: wrong rate/shape, silent input, too little voice.
        """
        r = self.predict(audio, sample_rate, scoring=scoring)
        return _top(r["names"], r["probabilities"], top_k)

    def recommend(self, ranking: Sequence[tuple[str, float] | str], *, singers: int = 3,
                  per_singer: int = 3, embedding: np.ndarray | None = None
                  ) -> list[dict[str, Any]]:
        """Songs from the catalogue by the best-ranked singers.

        Args:
            ranking: ``[(singer, probability)]`` best first (output of :meth:`rank`), or
                plain singer names (then ``probability`` is ``None`` in the result).
            singers: how many of the top singers to recommend songs by.
            per_singer: at most this many songs each.
            embedding: the query's mean embedding ``ndarray[H]`` (``predict()["embedding"]``);
                with it and :attr:`song_embeddings`, each singer's songs are ordered by the
                similarity of their own vocals to it, and carry ``similarity``.

        Returns:
            ``[{"singer", "title", "file_or_link", "available", "probability"}]`` in
            ranking order (``file_or_link`` is ``""`` and ``available`` false for a
            catalogue file missing on this machine); empty when the model has no catalogue.
        """
        out: list[dict[str, Any]] = []
        sims = None
        if embedding is not None and self.song_embeddings is not None:
            f = self.backend if self.backend is not None else _normalize
            sims = (f(self.song_embeddings) @ f(np.asarray(embedding, np.float32)[None]).T)[:, 0]
        for item in list(ranking)[:singers]:
            name, prob = (item, None) if isinstance(item, str) else item
            idx = [i for i, e in enumerate(self.catalogue) if e.singer == name]
            if sims is not None:
                idx.sort(key=lambda i: -float(sims[i]))
            for i in idx[:per_singer]:
                e = self.catalogue[i]
                rec = {"singer": e.singer, "title": e.title,
                       "file_or_link": e.location if e.available else "",
                       "available": e.available,
                       "probability": None if prob is None else round(float(prob), 6)}
                if sims is not None:
                    rec["similarity"] = round(float(sims[i]), 6)
                out.append(rec)
        return out

    def which_singer(self, audio: np.ndarray, top_k: int = 5, sample_rate: int = SAMPLE_RATE,
                     *, scoring: str = "auto", recommend_singers: int = 3,
                     per_singer: int = 3, name: str = "input") -> dict[str, Any]:
        """The stable JSON answer of ``discovervoice which-singer`` (module docstring)."""
        r = self.predict(audio, sample_rate, scoring=scoring, name=name)
        ranking = _top(r["names"], r["probabilities"], top_k)
        return {"singers": [{"name": n, "probability": round(p, 6)} for n, p in ranking],
                "recommendations": self.recommend(ranking, singers=recommend_singers,
                                                  per_singer=per_singer,
                                                  embedding=r["embedding"]),
                "scoring": r["scoring"], "windows": r["windows"],
                "voiced_seconds": round(r["voiced_seconds"], 3), "model": self.name}

    # ------------------------------------------------------------------ gallery
    def embed_clips(self, clips: Iterable[np.ndarray | str | os.PathLike], *,
                    progress: Progress | None = None) -> np.ndarray:
        """Pooled AST embeddings (L2-normalised) of every window of every clip.

        Args:
            clips: ``ndarray[C, T]`` at 16 kHz, or audio file paths (loaded at 16 kHz mono
                with :func:`discovervoice.audio.load`).

        Returns:
            ``ndarray[N, H]``.

        Raises:
            AudioError / AudioLoadError: a clip is unreadable, silent or has too little
                voice (named).
            DataError: no clips.
        """
        return self._embed_clips(clips, progress=progress)[0]

    def _embed_clips(self, clips: Iterable[np.ndarray | str | os.PathLike], *,
                     progress: Progress | None = None, speaker: bool = False
                     ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(AST window embeddings ndarray[N, H], GE2E clip embeddings ndarray[K, 256] or
        None)`` of ``K`` clips (see :meth:`embed_clips`)."""
        clips = list(clips)
        if not clips:
            raise DataError("no clips given")
        embs, spk = [], []
        for i, c in enumerate(clips):
            if isinstance(c, (str, os.PathLike)):
                from discovervoice import audio as dv_audio

                a, label = dv_audio.load(c, SAMPLE_RATE, 1), str(c)
            else:
                a, label = c, f"clip {i + 1}"
            v = voiced_audio(a, SAMPLE_RATE, self.window, name=label)
            _, e = self.forward_windows(cut_windows(v, self.window))
            embs.append(_normalize(e))
            if speaker:
                spk.append(self.speaker_embedding(v))
            if progress:
                progress((i + 1) / len(clips), f"embedded {label}")
        return np.concatenate(embs), (np.stack(spk) if speaker else None)

    def add_to_gallery(self, name: str, clips: Iterable[np.ndarray | str | os.PathLike], *,
                       replace: bool = False, progress: Progress | None = None) -> int:
        """Add a singer (or more clips of one) without retraining.

        The singer's centroid is the mean of the L2-normalised pooled AST embeddings of
        all windows of ``clips``; with ``replace=False`` an existing centroid is updated
        as a running mean. While speaker fusion is on (``speaker_weight > 0``) the GE2E
        speaker centroid (mean of the clips' embeddings) is updated the same way. Returns
        the number of windows used.

        Raises:
            DataError: empty name or no clips. AudioError: see :meth:`embed_clips`.
        """
        name = str(name).strip()
        if not name:
            raise DataError("a gallery singer needs a non-empty name")
        speaker = self.speaker_weight > 0
        e, spk = self._embed_clips(clips, progress=progress, speaker=speaker)
        n_old = 0 if replace else int(self.gallery_counts.get(name, 0))
        total = e.sum(axis=0) + (self.gallery[name] * n_old if n_old else 0)
        self.gallery[name] = (total / (n_old + len(e))).astype(np.float32)
        self.gallery_counts[name] = n_old + len(e)
        if spk is not None:
            s_old = 0 if replace or name not in self.speaker_gallery else int(
                self.speaker_counts.get(name, 1))
            s_tot = spk.sum(axis=0) + (self.speaker_gallery[name] * s_old if s_old else 0)
            self.speaker_gallery[name] = (s_tot / (s_old + len(spk))).astype(np.float32)
            self.speaker_counts[name] = s_old + len(spk)
        else:  # an AST-only update would leave a stale speaker centroid behind
            self.speaker_gallery.pop(name, None)
            self.speaker_counts.pop(name, None)
        return len(e)

    def remove_from_gallery(self, name: str) -> None:
        """Forget a gallery singer. Raises DataError for an unknown name."""
        if name not in self.gallery:
            raise DataError(f"{name!r} is not in the gallery ({', '.join(sorted(self.gallery))})")
        del self.gallery[name]
        self.gallery_counts.pop(name, None)
        self.speaker_gallery.pop(name, None)
        self.speaker_counts.pop(name, None)


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


def _top(names: Sequence[str], probs: np.ndarray, k: int) -> list[tuple[str, float]]:
    if k < 1:
        raise ValueError(f"top_k must be >= 1, got {k}")
    order = np.argsort(-np.asarray(probs), kind="stable")[:k]
    return [(names[i], float(probs[i])) for i in order]


def load_singer_classifier(path: str | os.PathLike, spec: Any = None, **kw: Any
                           ) -> SingerClassifier:
    """Registry factory of the embedded ``dv-singer-ast`` (``f(path, spec=None, **kw)``)."""
    return SingerClassifier.load(path)


def classify_file(clf: SingerClassifier, path: str | os.PathLike, *, song: bool = False,
                  separator: str | None = None, progress: Progress | None = None
                  ) -> np.ndarray:
    """Load a recording for :meth:`SingerClassifier.predict`: ``ndarray[1, T]`` at 16 kHz.

    With ``song=True`` the file is a full song: its vocals stem is separated first
    (:func:`discovervoice.classify.songs.vocals_of`).

    Raises:
        AudioLoadError: unreadable file. DataError: separation unavailable.
    """
    from discovervoice import audio as dv_audio

    if song:
        from discovervoice.classify.songs import vocals_of

        return vocals_of(path, model=separator, progress=progress)
    a = dv_audio.load(path, SAMPLE_RATE, 1)
    if a.size == 0:
        raise AudioError("empty audio", path)
    return a

"""Train an AST singer classifier: ``discovervoice classify train DATA_DIR -o MODEL_DIR``.

Recipe (the common AST / speaker-ID fine-tuning recipe, adapted to 2 CPU cores):

1. scan ``DATA_DIR/<singer>/...`` (:func:`discovervoice.classify.data.scan_dataset`);
   full songs are separated into their vocals stem first (``songs.vocals_of``);
2. voice activity detection keeps only voiced audio (silence/instrumental gaps are never
   learned), RMS-normalised; results are cached per file when ``cache_dir`` is given;
3. split by song (:func:`split_by_song`): validation songs never occur in training;
   ``test_fraction`` / ``holdout_singers`` keep songs and whole singers out of both, for
   ``discovervoice classify evaluate``;
4. initialise: ``ast_audioset`` (MIT's AudioSet AST) when the registry can resolve it,
   else the embedded default ``dv-singer-ast``; ``scratch`` only on request. A new head is
   made for the label map; the window length can be changed (position embeddings are
   interpolated);
5. class-balanced batches (each singer equally often), random crops with pitch, tempo,
   gain and noise augmentation (:func:`features.random_crop`), AdamW with warm-up and
   cosine decay (over the steps or the ``max_minutes`` budget, whichever ends first),
   label smoothing;
6. every ``eval_every`` steps: validation loss and accuracy on fixed windows; the best
   state is kept and training stops after ``patience`` evaluations without improvement
   (early stopping); a resumable checkpoint (``train_state.pt``: model, optimiser, step)
   is written each time;
7. temperature scaling of clip-level logits on validation clips (Guo et al. 2017) and the
   gallery: per-singer centroids of pooled embeddings of the training windows, its scoring
   backend (NAP + WCCN, :mod:`discovervoice.classify.backend`) fitted on the same windows,
   and the cosine scale fitted on validation clips;
8. save the classifier folder (:class:`~discovervoice.classify.classifier.SingerClassifier`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from discovervoice.classify.data import Clip, scan_dataset, singers_of, split_by_song
from discovervoice.classify.features import (
    SAMPLE_RATE,
    AugmentConfig,
    WindowConfig,
    batch_features,
    cut_windows,
    fit_temperature,
    random_crop,
    voiced_audio,
)
from discovervoice.errors import AudioError, DataError, WeightsError
from discovervoice.progress import Progress

log = logging.getLogger("discovervoice.classify")


@dataclass
class TrainConfig:
    """Options of :func:`train` (CLI flags of the same names).

    Attributes:
        init: ``"auto"`` (``ast_audioset`` if resolvable, else ``dv-singer-ast``),
            ``"scratch"``, a registry name, or a folder (AST or classifier).
        ast: ``ASTConfig`` overrides for ``scratch`` (default: ``model.SMALL_AST_CONFIG``).
        window_seconds: window length; ``None`` keeps the initial model's.
        steps: maximum optimiser steps.
        batch_size, lr, weight_decay, warmup, label_smoothing: optimiser settings
            (``lr=None``: 5e-4 from scratch, 1e-4 when fine-tuning).
        loss: ``"softmax"`` (cross-entropy on the head's logits) or ``"aam"``: additive
            angular margin softmax (ArcFace; Deng et al. 2019, the usual speaker-embedding
            loss) on the cosine between the L2-normalised head input and the normalised head
            weights, with margin ``aam_margin`` (radians, ramped in over the first 30 % of
            the steps) and scale ``aam_scale``. Embeddings trained this way separate
            *unseen* singers better (gallery mode). The head is saved as
            ``W / |W| * aam_scale / sqrt(H)`` with zero bias, so the standard AST head
            ranks by cosine; temperature scaling then calibrates it.
        eval_every: steps between validations; patience: validations without improvement
            before stopping.
        val_fraction: share of each singer's songs for validation.
        test_fraction: share of each singer's songs held out for evaluation (never used).
        holdout_singers: number of singers held out entirely (unseen singers, evaluation).
        cross_modal: weight of the cross-modal prototypical loss (``0``: off). Each batch
            then holds ``batch_size // (2 * cross_modal_crops)`` singers with
            ``cross_modal_crops`` sung and as many spoken crops each;
            every spoken crop is classified among the batch's singers by the cosine between
            its L2-normalised pooled embedding and the singers' *sung* centroids (and every
            sung crop against the *spoken* centroids), times ``cross_modal_scale``. It is
            the gallery's own scoring (sung enrolment, spoken query; prototypical networks,
            Snell et al. 2017, with the episode split by modality as in GE2E-style speaker
            training), so it pulls one singer's singing and speech together in the
            embedding. Singers without both kinds only feed the head's cross-entropy.
        gallery_backend: fit the gallery's scoring backend on the training windows (NAP of
            ``nap_dims`` singing/speaking directions + WCCN with ``wccn_reg``;
            :mod:`discovervoice.classify.backend`) when there are at least
            ``backend_min_singers`` singers.
        freeze_encoder: train only the head (fast few-shot adaptation).
        max_minutes: wall-clock budget; training stops cleanly at the next step.
        threads: torch threads.
        seed: everything random derives from it.
        fp16: store the final weights in float16.
        vad: VAD backend (``webrtc``, ``silero``, ``energy``).
        max_val_windows_per_clip: validation windows per clip, evenly spaced.
    """

    init: str = "auto"
    ast: dict[str, Any] = field(default_factory=dict)
    window_seconds: float | None = None
    steps: int = 3000
    batch_size: int = 24
    lr: float | None = None
    weight_decay: float = 0.05
    warmup: int = 200
    label_smoothing: float = 0.1
    loss: str = "softmax"
    aam_margin: float = 0.2
    aam_scale: float = 30.0
    eval_every: int = 150
    patience: int = 6
    val_fraction: float = 0.15
    test_fraction: float = 0.0
    holdout_singers: int = 0
    cross_modal: float = 0.0
    gallery_backend: bool = True
    nap_dims: int = 8
    wccn_reg: float | None = 0.1
    backend_min_singers: int = 8
    cross_modal_scale: float = 10.0
    cross_modal_crops: int = 2
    freeze_encoder: bool = False
    max_minutes: float | None = None
    threads: int = 1
    seed: int = 0
    fp16: bool = False
    vad: str = "webrtc"
    max_val_windows_per_clip: int = 4
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class Prepared:
    """A clip after separation + VAD: ``audio`` is ``ndarray[T]`` voiced audio at 16 kHz."""

    clip: Clip
    audio: np.ndarray


# --------------------------------------------------------------------------- data prep

def _cache_key(clip: Clip, window: WindowConfig) -> str:
    st = clip.path.stat()
    h = hashlib.sha1(json.dumps([str(clip.path.resolve()), st.st_size, st.st_mtime_ns,
                                 clip.full_song, window.vad, window.vad_threshold,
                                 window.pad_seconds, window.target_rms_db]).encode())
    return h.hexdigest()[:20]


def prepare_clips(clips: Sequence[Clip], window: WindowConfig, *, cache_dir: Path | None = None,
                  progress: Progress | None = None, separator_model: str | None = None
                  ) -> tuple[list[Prepared], list[tuple[Path, str]]]:
    """Load (separating full songs), VAD and normalise every clip.

    Returns:
        ``(prepared, skipped)``: ``skipped`` lists ``(file, reason)`` for files with too
        little voice (they are reported, not fatal).

    Raises:
        AudioLoadError: an unreadable file (named). DataError: separation unavailable.
    """
    from discovervoice import audio as dv_audio

    out: list[Prepared] = []
    skipped: list[tuple[Path, str]] = []
    sep = None
    for i, c in enumerate(clips):
        cached = cache_dir / f"{_cache_key(c, window)}.npy" if cache_dir else None
        if cached is not None and cached.is_file():
            v = np.load(cached)
            if v.size == 0:
                skipped.append((c.path, "too little voice (cached)"))
            else:
                out.append(Prepared(c, v.astype(np.float32)))
            continue
        if c.full_song:
            from discovervoice.classify.songs import _separator, vocals_of

            sep = sep or _separator(separator_model, None)
            a = vocals_of(c.path, separator=sep)
        else:
            a = dv_audio.load(c.path, SAMPLE_RATE, 1)
        try:
            v = voiced_audio(a, SAMPLE_RATE, window, name=str(c.path))
        except AudioError as exc:
            skipped.append((c.path, str(exc)))
            v = np.zeros(0, np.float16)
        else:
            out.append(Prepared(c, v))
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp.npy")
            np.save(tmp, v.astype(np.float16))
            tmp.replace(cached)
        if progress:
            progress((i + 1) / len(clips), f"prepared {c.path.name}")
    return out, skipped


def holdout_split(clips: Sequence[Clip], *, holdout_singers: int = 0, test_fraction: float = 0.0,
                  seed: int = 0) -> tuple[list[Clip], list[Clip], list[str]]:
    """Keep material out of training for evaluation.

    Returns:
        ``(used, test, unseen_singers)``: ``used`` may be trained/validated on; ``test``
        holds ``test_fraction`` of the songs of every remaining singer (by song) plus all
        clips of the ``holdout_singers`` singers drawn at random (``unseen_singers``).
    """
    singers = singers_of(clips)
    rng = random.Random(seed + 1)
    if holdout_singers >= len(singers) - 1 and holdout_singers > 0:
        raise DataError(f"cannot hold out {holdout_singers} of {len(singers)} singers: at least "
                        "two must remain for training")
    unseen = sorted(rng.sample(singers, holdout_singers)) if holdout_singers else []
    rest = [c for c in clips if c.singer not in unseen]
    if test_fraction > 0:
        used, test = split_by_song(rest, test_fraction, seed=seed + 2, min_train_songs=2)
    else:
        used, test = list(rest), []
    return used, test + [c for c in clips if c.singer in unseen], unseen


# --------------------------------------------------------------------------- model init

def _init_checkpoint(cfg: TrainConfig, labels: list[str]) -> tuple[Any, WindowConfig, str]:
    from discovervoice import weights
    from discovervoice.classify.model import build_ast

    win_kw = {"vad": cfg.vad}
    if cfg.init == "scratch":
        ast_cfg = dict(cfg.ast)
        if cfg.window_seconds:
            ast_cfg["max_length"] = int(round(cfg.window_seconds * 100))
        ck = build_ast(labels, **ast_cfg)
        sec = ck.model.config.max_length / 100
        return ck, WindowConfig(window_seconds=sec, hop_seconds=sec / 2, **win_kw), "scratch"
    candidates = ["ast_audioset", "dv-singer-ast"] if cfg.init == "auto" else [cfg.init]
    errors = []
    for cand in candidates:
        try:
            path = Path(cand) if Path(cand).exists() else weights.resolve(cand)
        except WeightsError as exc:
            errors.append(f"{cand}: {exc}")
            continue
        folder = path if path.is_dir() else path.parent
        max_len = int(round(cfg.window_seconds * 100)) if cfg.window_seconds else None
        # the folder is read as an AST (ast_audioset's factory) whatever its registry
        # entry builds: dv-singer-ast's factory would return a whole singer classifier
        ck = weights.load_model(folder, spec_name="ast_audioset", labels=labels, max_length=max_len)
        sec = ck.model.config.max_length / 100
        window = WindowConfig(window_seconds=sec, hop_seconds=sec / 2, **win_kw)
        meta = folder / "discovervoice.json"
        if meta.is_file():
            w = json.loads(meta.read_text()).get("window", {})
            if abs(float(w.get("window_seconds", sec)) - sec) > 1e-6:
                w["hop_seconds"] = sec / 2
            w.update(win_kw, window_seconds=sec)
            window = WindowConfig.from_dict(w)
        log.info("initialised from %s (%s)", cand, folder)
        return ck, window, cand
    raise WeightsError("no initial model could be resolved for --init "
                       f"{cfg.init!r}: {'; '.join(errors)}; pass --init scratch to train from "
                       "scratch, or a local AST folder")


# --------------------------------------------------------------------------- training

class _Sampler:
    """Class-balanced sampling of random crops: singers in shuffled rounds, clips by
    voiced length."""

    def __init__(self, items: Sequence[Prepared], labels: list[str], rng: np.random.Generator):
        self.rng = rng
        self.by_label: dict[int, list[Prepared]] = defaultdict(list)
        for p in items:
            self.by_label[labels.index(p.clip.singer)].append(p)
        self.weights = {k: np.array([len(p.audio) for p in v], np.float64) / sum(len(p.audio) for p in v)
                        for k, v in self.by_label.items()}
        self.order: list[int] = []

    def draw(self) -> tuple[int, np.ndarray]:
        if not self.order:
            self.order = list(self.rng.permutation(sorted(self.by_label)))
        k = int(self.order.pop())
        i = int(self.rng.choice(len(self.by_label[k]), p=self.weights[k]))
        return k, self.by_label[k][i].audio


class _ModalitySampler:
    """Batches of ``P`` singers x (``n`` sung + ``n`` spoken) crops for the cross-modal loss.
    Singers are drawn in shuffled rounds; clips by voiced length."""

    def __init__(self, items: Sequence[Prepared], labels: list[str], rng: np.random.Generator):
        self.rng = rng
        pools: dict[tuple[int, str], list[np.ndarray]] = defaultdict(list)
        for p in items:
            pools[(labels.index(p.clip.singer), p.clip.kind)].append(p.audio)
        self.pools = pools
        self.singers = sorted(k for k in {k for k, _ in pools}
                              if (k, "sung") in pools and (k, "spoken") in pools)
        self.order: list[int] = []

    def _clip(self, k: int, kind: str) -> np.ndarray:
        pool = self.pools[(k, kind)]
        w = np.array([len(a) for a in pool], np.float64)
        return pool[int(self.rng.choice(len(pool), p=w / w.sum()))]

    def draw(self, n_singers: int, per_kind: int = 2) -> list[tuple[int, str, np.ndarray]]:
        out: list[tuple[int, str, np.ndarray]] = []
        chosen: list[int] = []
        while len(chosen) < min(n_singers, len(self.singers)):
            if not self.order:
                self.order = list(self.rng.permutation(self.singers))
            k = int(self.order.pop())
            if k not in chosen:
                chosen.append(k)
        for k in chosen:
            out += [(k, kind, self._clip(k, kind)) for kind in ("sung", "spoken")
                    for _ in range(per_kind)]
        return out


def _cross_modal_loss(pooled: Any, ys: list[int], kinds: list[str], scale: float) -> Any:
    """Prototypical loss across modalities (see ``TrainConfig.cross_modal``).

    Args:
        pooled: ``Tensor[B, H]`` pooled embeddings; ``ys``/``kinds``: label and kind per row.

    Returns:
        scalar ``Tensor``: mean cross-entropy of spoken rows against sung centroids and of
        sung rows against spoken centroids (0 when fewer than two singers have both).
    """
    import torch
    import torch.nn.functional as nnf

    e = nnf.normalize(pooled, dim=-1)
    y = torch.tensor(ys)
    spk = torch.tensor([k == "spoken" for k in kinds])
    singers = sorted(set(int(v) for v in y[spk].tolist()) & set(int(v) for v in y[~spk].tolist()))
    if len(singers) < 2:
        return pooled.sum() * 0.0
    total = pooled.new_zeros(())
    for q_mask in (spk, ~spk):
        cents = torch.stack([nnf.normalize(e[(y == k) & ~q_mask].mean(0), dim=-1)
                             for k in singers])
        rows = q_mask & torch.isin(y, torch.tensor(singers))
        target = torch.tensor([singers.index(int(v)) for v in y[rows].tolist()])
        total = total + nnf.cross_entropy(e[rows] @ cents.T * scale, target)
    return total / 2


def _val_windows(items: Sequence[Prepared], labels: list[str], window: WindowConfig,
                 per_clip: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ws, ys, clip_ids = [], [], []
    for ci, p in enumerate(items):
        w = cut_windows(p.audio, window)
        if len(w) > per_clip:
            w = w[np.linspace(0, len(w) - 1, per_clip).round().astype(int)]
        ws.append(w)
        ys += [labels.index(p.clip.singer)] * len(w)
        clip_ids += [ci] * len(w)
    if not ws:
        return np.zeros((0, window.window_samples), np.float32), np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(ws), np.array(ys), np.array(clip_ids)


def _forward(model: Any, logmel: Any, windows: np.ndarray, batch: int = 32,
             cosine_scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    import torch

    lo, em = [], []
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            x = logmel(torch.from_numpy(np.ascontiguousarray(windows[i:i + batch])))
            pooled = model.audio_spectrogram_transformer(input_values=x).pooler_output
            lo.append((_cosine_logits(model, pooled) * cosine_scale).numpy()
                      if cosine_scale else model.classifier(pooled).numpy())
            em.append(pooled.numpy())
    return np.concatenate(lo), np.concatenate(em)


def _cosine_logits(model: Any, pooled: Any) -> Any:
    """``Tensor[B, K]`` cosine between the L2-normalised head input and head weights."""
    import torch.nn.functional as nnf

    f = nnf.normalize(model.classifier.layernorm(pooled), dim=-1)
    return f @ nnf.normalize(model.classifier.dense.weight, dim=-1).T


def _aam_logits(cos: Any, y: Any, margin: float, scale: float) -> Any:
    """ArcFace logits: ``s * cos(theta_y + m)`` for the true class, ``s * cos`` otherwise."""
    import torch

    theta = torch.acos(cos.gather(1, y[:, None]).clamp(-1 + 1e-6, 1 - 1e-6))
    target = torch.cos(theta + margin)
    out = cos.scatter(1, y[:, None], target)
    return out * scale


def _bake_cosine_head(model: Any, scale: float) -> None:
    """Turn the head into ``W / |W| * scale / sqrt(H)``, bias 0 (see ``TrainConfig.loss``)."""
    import torch

    with torch.no_grad():
        w = model.classifier.dense.weight
        w.copy_(torch.nn.functional.normalize(w, dim=-1) * scale / math.sqrt(w.shape[1]))
        model.classifier.dense.bias.zero_()


def _cross_modal_accuracy(emb: np.ndarray, y: np.ndarray, clip_ids: np.ndarray,
                          kinds: np.ndarray) -> float | None:
    """Clip accuracy of spoken validation clips against centroids of each singer's *sung*
    validation windows (the gallery's situation), among singers that have both; ``None``
    when fewer than two singers do."""
    if len(emb) == 0:
        return None
    e = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-8)
    both = sorted(set(y[kinds == "sung"]) & set(y[kinds == "spoken"]))
    if len(both) < 2:
        return None
    cents = np.stack([e[(y == k) & (kinds == "sung")].mean(0) for k in both])
    hits = []
    for c in np.unique(clip_ids[kinds == "spoken"]):
        m = clip_ids == c
        if y[m][0] not in both:
            continue
        q = e[m].mean(0)
        hits.append(both[int(np.argmax(cents @ q))] == y[m][0])
    return float(np.mean(hits)) if hits else None


def _cross_modal_val_loss(emb: np.ndarray, y: np.ndarray, kinds: np.ndarray,
                          scale: float) -> float:
    """:func:`_cross_modal_loss` on validation windows (numpy; all singers with both
    kinds at once). Early stopping minimises ``val_loss + cross_modal * this``."""
    e = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-8)
    both = sorted(set(y[kinds == "sung"]) & set(y[kinds == "spoken"]))
    if len(both) < 2:
        return 0.0
    out = []
    for q_kind, c_kind in (("spoken", "sung"), ("sung", "spoken")):
        cents = np.stack([e[(y == k) & (kinds == c_kind)].mean(0) for k in both])
        cents /= np.linalg.norm(cents, axis=1, keepdims=True)
        rows = (kinds == q_kind) & np.isin(y, both)
        target = np.searchsorted(both, y[rows])
        out.append(_xent(e[rows] @ cents.T * scale, target))
    return float(np.mean(out))


def _xent(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))


@dataclass
class TrainResult:
    """What :func:`train` produced: the folder, and a summary (also in the model's info)."""

    model_dir: Path
    summary: dict[str, Any]


@dataclass
class _Split:
    """The clips of one training run: training, validation and held-out test clips, the
    singers held out whole (``unseen``) and the label map (the training singers)."""

    train: list[Clip]
    val: list[Clip]
    test: list[Clip]
    unseen: list[str]
    labels: list[str]


@dataclass
class _Data:
    """Voiced audio of the split and the fixed validation windows (``vw[N, W]``, their
    label indices ``vy[N]``, clip indices ``vclip[N]`` and clip kinds ``vkind[N]``)."""

    train: list[Prepared]
    val: list[Prepared]
    skipped: list[tuple[Path, str]]
    vw: np.ndarray
    vy: np.ndarray
    vclip: np.ndarray
    vkind: np.ndarray


@dataclass
class _LoopState:
    """What the training loop carries from step to step (and ``train_state.pt`` stores)."""

    step: int = 0
    best: float = math.inf
    best_step: int = 0
    bad_evals: int = 0
    best_state: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = "steps"


def train(data_dir: str | os.PathLike, out_dir: str | os.PathLike, cfg: TrainConfig | None = None,
          *, cache_dir: str | os.PathLike | None = None, resume: bool = False,
          catalogue: str | os.PathLike | None = None, allow_reserved: bool = False,
          progress: Progress | None = None, clips: Sequence[Clip] | None = None) -> TrainResult:
    """Train (or fine-tune) a singer classifier and save it to ``out_dir``.

    Args:
        data_dir: ``DATA_DIR/<singer>/...`` (see :mod:`discovervoice.classify.data`); with
            ``clips`` given, only named in messages and the summary (a manifest path).
        out_dir: the classifier folder to write (also holds ``train_state.pt`` and
            ``train_log.jsonl`` while training).
        cfg: options (:class:`TrainConfig`).
        cache_dir: where VAD'd audio is cached between runs (optional).
        resume: continue from ``out_dir/train_state.pt``.
        catalogue: a ``catalogue.csv`` to ship with the model for recommendations.
        progress: ``progress(fraction, message)``.
        clips: the clips to train on instead of scanning ``data_dir`` (e.g.
            :func:`discovervoice.classify.data.clips_from_manifest` of prep's output).

    Returns:
        :class:`TrainResult`.

    Raises:
        DataError: empty singer folder, fewer than two singers, a singer left without
            usable (voiced) training audio.
        WeightsError: the initial model cannot be resolved.
    """
    import torch

    from discovervoice.classify.classifier import SingerClassifier
    from discovervoice.classify.data import read_catalogue
    from discovervoice.classify.features import LogMel

    cfg = cfg or TrainConfig()
    t_start = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    p = progress or (lambda f, m: None)

    if clips is None:
        clips = scan_dataset(data_dir, allow_reserved=allow_reserved)
    split = _split_clips(clips, cfg, data_dir)
    cat = read_catalogue(catalogue) if catalogue else []
    ck, window, init_name = _init_checkpoint(cfg, split.labels)
    logmel = LogMel(ck.feature_extractor)
    p(0.0, "preparing audio (separation, voice activity detection)")
    data = _prepare_data(split, window, cfg, cache_dir, p, data_dir)

    st = _fit(ck.model, logmel, split.labels, data, window, cfg, out, init_name, t_start, resume,
              p, data_dir)
    ck.model.load_state_dict(st.best_state)
    ck.model.eval()
    if cfg.loss == "aam":
        _bake_cosine_head(ck.model, cfg.aam_scale)

    p(0.9, "calibrating and building the gallery")
    cal = _calibrate(ck.model, logmel, split.labels, data, window, cfg)
    summary = {
        "init": init_name, "steps": st.step, "best_step": st.best_step, "stopped": st.stopped,
        "minutes": round((time.time() - t_start) / 60, 2), "config": _cfg_dict(cfg),
        "singers": split.labels, "train_songs": sorted({c.song for c in split.train}),
        "valid_songs": sorted({c.song for c in split.val}),
        "test_songs": sorted({c.song for c in split.test if c.singer not in split.unseen}),
        "unseen_singers": split.unseen, "train_files": len(data.train),
        "valid_files": len(data.val),
        "train_voiced_minutes": round(sum(len(x.audio) for x in data.train) / SAMPLE_RATE / 60, 2),
        "skipped_files": [[str(a), b] for a, b in data.skipped],
        "temperature": cal["temperature"], "gallery_scale": cal["scale"],
        "validation": cal["val_metrics"],
        "gallery_backend": cal["backend"].info if cal["backend"] is not None else None,
        "data_dir": str(Path(data_dir).resolve()),
    }
    # the default scoring: the gallery (through its backend) where it beat the head on the
    # validation songs
    vm = cal["val_metrics"]
    default_scoring = "gallery" if cal["backend"] is not None and vm and \
        vm["gallery_clip_acc"] > vm["clip_acc"] else "head"
    summary["default_scoring"] = default_scoring
    clf = SingerClassifier(ck, window=window, temperature=cal["temperature"],
                           gallery=cal["gallery"], gallery_counts=cal["counts"],
                           gallery_scale=cal["scale"], catalogue=cat, info=summary,
                           backend=cal["backend"], default_scoring=default_scoring)
    clf.save(out, fp16=cfg.fp16)
    p(1.0, f"saved {out}")
    return TrainResult(out, summary)


def _split_clips(clips: Sequence[Clip], cfg: TrainConfig, data_dir: str | os.PathLike) -> _Split:
    """Hold out test songs / unseen singers, then split the rest by song into training and
    validation clips.

    Raises:
        DataError: fewer than two singers left for training.
    """
    used, test, unseen = holdout_split(clips, holdout_singers=cfg.holdout_singers,
                                       test_fraction=cfg.test_fraction, seed=cfg.seed)
    train_clips, val_clips = split_by_song(used, cfg.val_fraction, seed=cfg.seed, min_train_songs=3)
    labels = singers_of(train_clips)
    if len(labels) < 2:
        raise DataError(f"{data_dir}: only {len(labels)} singer left for training; a classifier "
                        "needs at least two (use gallery mode to add a single singer)")
    return _Split(train_clips, val_clips, test, unseen, labels)


def _prepare_data(split: _Split, window: WindowConfig, cfg: TrainConfig,
                  cache_dir: str | os.PathLike | None, p: Progress,
                  data_dir: str | os.PathLike) -> _Data:
    """Voiced audio of the training and validation clips, and the validation windows.

    Raises:
        DataError: a training singer without usable voiced audio.
    """
    cache = Path(cache_dir) if cache_dir else None
    prep_train, skipped = prepare_clips(split.train, window, cache_dir=cache,
                                        progress=lambda f, m: p(0.1 * f, m))
    prep_val, skipped_v = prepare_clips(split.val, window, cache_dir=cache)
    skipped += skipped_v
    for _path, why in skipped:
        log.warning("skipped %s", why)
    have = {x.clip.singer for x in prep_train}
    empty = [s for s in split.labels if s not in have]
    if empty:
        raise DataError(f"{data_dir}: no usable voiced training audio for singer(s) "
                        f"{', '.join(empty)} (files silent or too short; see the warnings)")
    vw, vy, vclip = _val_windows(prep_val, split.labels, window, cfg.max_val_windows_per_clip)
    vkind = np.array([prep_val[i].clip.kind for i in vclip]) if len(vw) else np.zeros(0, str)
    return _Data(prep_train, prep_val, skipped, vw, vy, vclip, vkind)


def _lr_at(step: int, cfg: TrainConfig, lr: float, t_start: float) -> float:
    """Linear warm-up, then cosine decay to 5 % over the steps or the time budget,
    whichever runs out first."""
    if step < cfg.warmup:
        return lr * (step + 1) / cfg.warmup
    frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    if cfg.max_minutes:
        frac = max(frac, (time.time() - t_start) / (cfg.max_minutes * 60))
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def _resume(state_path: Path, model: Any, opt: Any, labels: list[str]) -> _LoopState:
    """The loop state saved in ``train_state.pt`` (model and optimiser restored in place).

    Raises:
        DataError: the state was saved for other singers.
    """
    import torch

    saved = torch.load(state_path, map_location="cpu", weights_only=False)
    if saved["labels"] != labels:
        raise DataError(f"{state_path}: saved for singers {saved['labels']}, not {labels}")
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    log.info("resumed at step %d", saved["step"])
    return _LoopState(saved["step"], saved["best"], saved["best_step"], saved["bad_evals"],
                      saved["best_state"], saved.get("history", []))


def _fit(model: Any, logmel: Any, labels: list[str], data: _Data, window: WindowConfig,
         cfg: TrainConfig, out: Path, init_name: str, t_start: float, resume: bool,
         p: Progress, data_dir: str | os.PathLike) -> _LoopState:
    """The training loop (steps 5-6 of the module docstring); returns the final state,
    whose ``best_state`` holds the best weights.

    Raises:
        DataError: a resume state for other singers, or too few singers with both sung and
            spoken clips for the cross-modal loss.
        ValueError: an unknown ``cfg.loss``.
    """
    import torch

    if cfg.freeze_encoder:
        for prm in model.audio_spectrogram_transformer.parameters():
            prm.requires_grad_(False)
    params = [q for q in model.parameters() if q.requires_grad]
    lr = cfg.lr or (5e-4 if init_name == "scratch" else 1e-4)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    state_path = out / "train_state.pt"
    rng = np.random.default_rng(cfg.seed)
    if resume and state_path.is_file():
        st = _resume(state_path, model, opt, labels)
        rng = np.random.default_rng(cfg.seed + st.step)
    else:
        st = _LoopState(best_state={k: v.detach().clone() for k, v in model.state_dict().items()})
    sampler = _Sampler(data.train, labels, rng)
    msampler = _ModalitySampler(data.train, labels, rng) if cfg.cross_modal > 0 else None
    if msampler is not None and len(msampler.singers) < 2:
        raise DataError(f"{data_dir}: the cross-modal loss needs at least two singers with "
                        "both sung and spoken training clips")
    if cfg.loss not in ("softmax", "aam"):
        raise ValueError(f"loss must be softmax or aam, got {cfg.loss!r}")
    loss_fn = torch.nn.CrossEntropyLoss(
        label_smoothing=cfg.label_smoothing if cfg.loss == "softmax" else 0.0)
    t_loop = time.time()
    run_loss: list[float] = []
    run_xm: list[float] = []
    while st.step < cfg.steps:
        if cfg.max_minutes is not None and time.time() - t_start > cfg.max_minutes * 60:
            st.stopped = "time budget"
            break
        model.train()
        ys, crops, kinds = _draw_batch(cfg, sampler, msampler, window, rng)
        x = batch_features(crops, logmel)
        for g in opt.param_groups:
            g["lr"] = _lr_at(st.step, cfg, lr, t_start)
        yt = torch.tensor(ys)
        pooled = model.audio_spectrogram_transformer(input_values=x).pooler_output
        if cfg.loss == "aam":
            ramp = min(1.0, st.step / max(1.0, 0.3 * cfg.steps))
            logits = _aam_logits(_cosine_logits(model, pooled), yt, cfg.aam_margin * ramp,
                                 cfg.aam_scale)
        else:
            logits = model.classifier(pooled)
        loss = loss_fn(logits, yt)
        if msampler is not None:
            xm = _cross_modal_loss(pooled, ys, kinds, cfg.cross_modal_scale)
            run_xm.append(xm.item())
            loss = loss + cfg.cross_modal * xm
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        st.step += 1
        run_loss.append(loss.item())
        if st.step % cfg.eval_every == 0 or st.step == cfg.steps:
            rec: dict[str, Any] = {"step": st.step, "train_loss": float(np.mean(run_loss)),
                                   "lr": _lr_at(st.step, cfg, lr, t_start),
                                   "s_per_step": (time.time() - t_loop) / st.step}
            if run_xm:
                rec["train_cross_modal"] = float(np.mean(run_xm))
            run_loss, run_xm = [], []
            _evaluate_and_save(model, logmel, opt, rec, st, data, labels, cfg, out,
                               msampler is not None)
            p(0.1 + 0.8 * st.step / cfg.steps, f"step {st.step}: " + ", ".join(
                f"{k} {v:.3f}" for k, v in rec.items() if k in ("train_loss", "val_loss", "val_acc")))
            if len(data.vw) and st.bad_evals >= cfg.patience:
                st.stopped = "early stopping"
                break
    return st


def _draw_batch(cfg: TrainConfig, sampler: _Sampler, msampler: _ModalitySampler | None,
                window: WindowConfig, rng: np.random.Generator
                ) -> tuple[list[int], list[np.ndarray], list[str]]:
    """Label indices, augmented random crops and clip kinds of one class-balanced batch
    (sung/spoken pairs per singer when the cross-modal loss is on)."""
    ys: list[int] = []
    crops: list[np.ndarray] = []
    kinds: list[str] = []
    if msampler is not None:
        per = max(1, cfg.cross_modal_crops)
        for k, kind, a in msampler.draw(max(2, cfg.batch_size // (2 * per)), per):
            ys.append(k)
            kinds.append(kind)
            crops.append(random_crop(a, window.window_samples, rng, cfg.augment))
    else:
        for _ in range(cfg.batch_size):
            k, a = sampler.draw()
            ys.append(k)
            crops.append(random_crop(a, window.window_samples, rng, cfg.augment))
    return ys, crops, kinds


def _evaluate_and_save(model: Any, logmel: Any, opt: Any, rec: dict[str, Any], st: _LoopState,
                       data: _Data, labels: list[str], cfg: TrainConfig, out: Path,
                       cross_modal: bool) -> None:
    """Score the validation windows into ``rec``, keep the best state, append ``rec`` to
    ``train_log.jsonl`` and write the resumable ``train_state.pt`` (atomically)."""
    import torch

    if len(data.vw):
        cos_scale = cfg.aam_scale if cfg.loss == "aam" else None
        vl, ve_ = _forward(model, logmel, data.vw, cosine_scale=cos_scale)
        rec["val_loss"] = _xent(vl, data.vy)
        rec["val_acc"] = float(np.mean(vl.argmax(1) == data.vy))
        xacc = _cross_modal_accuracy(ve_, data.vy, data.vclip, data.vkind)
        if xacc is not None:
            rec["val_spoken_by_sung_centroid"] = xacc
        score = rec["val_loss"]
        if cross_modal:
            rec["val_cross_modal"] = _cross_modal_val_loss(ve_, data.vy, data.vkind,
                                                           cfg.cross_modal_scale)
            score += cfg.cross_modal * rec["val_cross_modal"]
    else:
        score = rec["train_loss"]
    if score < st.best - 1e-4:
        st.best, st.best_step, st.bad_evals = score, st.step, 0
        st.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        st.bad_evals += 1
    st.history.append(rec)
    with open(out / "train_log.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    log.info("step %d %s", st.step, rec)
    state_path = out / "train_state.pt"
    tmp = state_path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": st.step,
                "best": st.best, "best_step": st.best_step, "bad_evals": st.bad_evals,
                "best_state": st.best_state, "labels": labels, "history": st.history}, tmp)
    tmp.replace(state_path)


def _calibrate(model: Any, logmel: Any, labels: list[str], data: _Data, window: WindowConfig,
               cfg: TrainConfig) -> dict[str, Any]:
    """Step 7 of the module docstring: ``temperature``, the gallery (``gallery``,
    ``counts``, ``backend``), its cosine ``scale`` and the validation metrics."""
    temperature, scale, val_metrics = 1.0, 10.0, {}
    vw, vy, vclip = data.vw, data.vy, data.vclip
    if len(vw):
        vl, ve = _forward(model, logmel, vw)
        clip_logits = np.stack([vl[vclip == i].mean(0) for i in np.unique(vclip)])
        clip_y = np.array([vy[vclip == i][0] for i in np.unique(vclip)])
        temperature = fit_temperature(clip_logits, clip_y)
        val_metrics = {"window_acc": float(np.mean(vl.argmax(1) == vy)),
                       "clip_acc": float(np.mean(clip_logits.argmax(1) == clip_y)),
                       "clip_xent_calibrated": _xent(clip_logits / temperature, clip_y),
                       "clip_xent_uncalibrated": _xent(clip_logits, clip_y)}
    tw, ty, tclip = _val_windows(data.train, labels, window, cfg.max_val_windows_per_clip)
    _, te = _forward(model, logmel, tw)
    te = te / np.maximum(np.linalg.norm(te, axis=1, keepdims=True), 1e-8)
    gallery = {lab: te[ty == i].mean(0) for i, lab in enumerate(labels)}
    counts = {lab: int(np.sum(ty == i)) for i, lab in enumerate(labels)}
    backend = _fit_backend_or_none(te, [labels[i] for i in ty],
                                   [data.train[i].clip.kind for i in tclip], cfg)
    if len(vw):
        ve = ve / np.maximum(np.linalg.norm(ve, axis=1, keepdims=True), 1e-8)
        clip_e = np.stack([ve[vclip == i].mean(0) for i in np.unique(vclip)])
        scale, val_metrics["gallery_clip_acc"] = _fit_gallery_scale(
            gallery, labels, clip_e, clip_y, backend)
    return {"temperature": temperature, "scale": scale, "val_metrics": val_metrics,
            "gallery": gallery, "counts": counts, "backend": backend}


def _fit_backend_or_none(emb: np.ndarray, singers: list[str], kinds: list[str],
                         cfg: TrainConfig) -> Any:
    """The gallery backend (NAP + WCCN, :mod:`discovervoice.classify.backend`) from the
    training windows, or ``None`` when switched off or with fewer than
    ``backend_min_singers`` singers. Without two singers that both sing and speak, NAP is
    left out (WCCN only)."""
    from discovervoice.classify.backend import fit_backend

    if not cfg.gallery_backend or len(set(singers)) < cfg.backend_min_singers:
        return None
    both = {s for s, k in zip(singers, kinds) if k == "sung"} & \
        {s for s, k in zip(singers, kinds) if k == "spoken"}
    nap = cfg.nap_dims if len(both) >= 2 else 0
    return fit_backend(emb, singers, kinds, nap_dims=nap, wccn_reg=cfg.wccn_reg)


def _fit_gallery_scale(gallery: dict[str, np.ndarray], labels: list[str], clip_emb: np.ndarray,
                       clip_y: np.ndarray, backend: Any) -> tuple[float, float]:
    """Cosine scale of gallery scoring (temperature scaling of the centroid similarities
    of validation clips) and the gallery's validation clip accuracy."""
    from discovervoice.classify.backend import _normalize

    f = backend if backend is not None else _normalize
    sim = f(clip_emb) @ f(np.stack([gallery[lab] for lab in labels])).T
    return 1.0 / fit_temperature(sim, clip_y), float(np.mean(sim.argmax(1) == clip_y))


def fit_gallery_backend(model: str | os.PathLike, data_dir: str | os.PathLike,
                        out_dir: str | os.PathLike | None = None, *, nap_dims: int = 8,
                        wccn_reg: float | None = 0.1, cache_dir: str | os.PathLike | None = None,
                        allow_reserved: bool = False, progress: Progress | None = None
                        ) -> Any:
    """Fit (or refit) the gallery backend of a trained classifier, without training.

    The backend is fitted on windows of the model's *training songs* in ``data_dir`` (the
    folder it was trained on); on its validation songs the gallery scale is refitted and
    the default scoring becomes whichever of head and gallery has the higher clip accuracy.

    Args:
        model: classifier folder (or registry name, then ``out_dir`` is required).
        data_dir: ``DATA_DIR/<singer>/...`` the model was trained on.
        out_dir: where to write the updated classifier (default: in place).

    Returns:
        the updated :class:`~discovervoice.classify.classifier.SingerClassifier`.

    Raises:
        DataError: ``model`` is not a folder and no ``out_dir`` is given, no training clips
            of the model's singers in ``data_dir``, or too few singers for the backend.
    """
    from discovervoice.classify.backend import fit_backend
    from discovervoice.classify.classifier import SingerClassifier

    if out_dir is None and not Path(model).is_dir():
        raise DataError(f"{model!r} is not a classifier folder; give out_dir to write the "
                        "classifier with its backend to a new folder")
    clf = SingerClassifier.load(model)
    labels = clf.labels
    info = clf.info
    clips = scan_dataset(data_dir, min_singers=1, allow_reserved=allow_reserved)
    train_songs, valid_songs = set(info.get("train_songs", [])), set(info.get("valid_songs", []))
    tr = [c for c in clips if c.singer in labels and c.song in train_songs]
    va = [c for c in clips if c.singer in labels and c.song in valid_songs]
    if not tr:
        raise DataError(f"{data_dir}: no clips of the model's training songs (is this the folder "
                        "it was trained on?)")
    cache = Path(cache_dir) if cache_dir else None
    prep_tr, _ = prepare_clips(tr, clf.window, cache_dir=cache, progress=progress)
    tw, ty, tclip = _val_windows(prep_tr, labels, clf.window, 4)
    _, te = clf.forward_windows(tw)
    backend = fit_backend(te, [labels[i] for i in ty], [prep_tr[i].clip.kind for i in tclip],
                          nap_dims=nap_dims, wccn_reg=wccn_reg)
    clf.backend = backend
    prep_va, _ = prepare_clips(va, clf.window, cache_dir=cache)
    if prep_va:
        vw, vy, vclip = _val_windows(prep_va, labels, clf.window, 4)
        vl, ve = clf.forward_windows(vw)
        ve = ve / np.maximum(np.linalg.norm(ve, axis=1, keepdims=True), 1e-8)
        ids = np.unique(vclip)
        clip_e = np.stack([ve[vclip == i].mean(0) for i in ids])
        clip_y = np.array([vy[vclip == i][0] for i in ids])
        head_acc = float(np.mean(np.stack([vl[vclip == i].mean(0) for i in ids]).argmax(1)
                                 == clip_y))
        heads = [n for n in labels if n in clf.gallery]
        if heads == labels:
            clf.gallery_scale, acc = _fit_gallery_scale(clf.gallery, labels, clip_e, clip_y,
                                                        backend)
            backend.info["validation_gallery_clip_acc"] = acc
            backend.info["validation_head_clip_acc"] = head_acc
            clf.default_scoring = "gallery" if acc > head_acc else "head"
    backend.info["gallery_scale"] = clf.gallery_scale
    clf.info["gallery_backend"] = backend.info
    clf.save(out_dir or model)
    return clf


def _cfg_dict(cfg: TrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["augment"] = cfg.augment.to_dict()
    return d


def fit_speaker_fusion(model: str | os.PathLike, data_dir: str | os.PathLike | Sequence[str | os.PathLike],
                       out_dir: str | os.PathLike | None = None, *, weight: float,
                       scale: float | None = None, clips_per_singer: int = 8,
                       allow_reserved: bool = False, progress: Progress | None = None) -> Any:
    """Turn on speaker fusion of gallery scoring (see
    :mod:`discovervoice.classify.classifier`): a GE2E speaker centroid for every gallery
    singer from its clips in ``data_dir``, the fusion weight and the fused similarities'
    scale. No network weight changes.

    Args:
        model: classifier folder (or registry name, then ``out_dir`` is required).
        data_dir: ``DATA_DIR/<singer>/...`` (one or several folders) holding clips of the
            gallery's singers (sung and spoken; e.g. the corpus' ``singers/train``).
        weight: GE2E weight ``w`` in ``[0, 1]``.
        scale: scale of the fused similarities (``None``: the gallery's cosine scale);
            fitted on development queries by ``benchmarks/eval_real_speakers.py``.
        clips_per_singer: at most this many clips per singer, first by path, sung and
            spoken alternating.

    Raises:
        DataError: ``model`` is not a folder and no ``out_dir`` is given, or a gallery
            singer has no usable clip in ``data_dir``.
    """
    from discovervoice import audio as dv_audio
    from discovervoice.classify.classifier import SingerClassifier

    if out_dir is None and not Path(model).is_dir():
        raise DataError(f"{model!r} is not a classifier folder; give out_dir to write the "
                        "classifier with its speaker centroids to a new folder")
    clf = SingerClassifier.load(model)
    dirs = [data_dir] if isinstance(data_dir, (str, os.PathLike)) else list(data_dir)
    clips = [c for d in dirs for c in scan_dataset(d, min_singers=1, allow_reserved=allow_reserved)]
    names = sorted(clf.gallery)
    gallery: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for i, name in enumerate(names):
        own = sorted((c for c in clips if c.singer == name), key=lambda c: str(c.path))
        by_kind = [[c for c in own if c.kind == k] for k in ("sung", "spoken")]
        order = [c for pair in zip(*by_kind) for c in pair] + \
            [c for k in by_kind for c in k[min(map(len, by_kind)):]]
        embs = []
        for c in order:
            if len(embs) == clips_per_singer:
                break
            try:
                v = voiced_audio(dv_audio.load(c.path, SAMPLE_RATE, 1), SAMPLE_RATE, clf.window,
                                 name=str(c.path))
                embs.append(clf.speaker_embedding(v))
            except AudioError as exc:
                log.warning("speaker centroid of %s: %s skipped (%s)", name, c.path, exc)
        if not embs:
            raise DataError(f"{', '.join(map(str, dirs))}: no usable clip of gallery singer "
                            f"{name!r} for its speaker centroid")
        gallery[name] = np.mean(embs, axis=0).astype(np.float32)
        counts[name] = len(embs)
        if progress:
            progress((i + 1) / len(names), f"speaker centroid of {name} ({len(embs)} clips)")
    clf.speaker_gallery, clf.speaker_counts = gallery, counts
    clf.speaker_weight = float(weight)
    clf.speaker_scale = float(scale if scale is not None else clf.gallery_scale)
    clf.info["speaker_fusion"] = {"weight": clf.speaker_weight, "scale": clf.speaker_scale,
                                  "encoder": "resemblyzer-ge2e", "clips_per_singer": clips_per_singer,
                                  "data_dir": [str(d) for d in dirs]}
    clf.save(out_dir or model)
    return clf

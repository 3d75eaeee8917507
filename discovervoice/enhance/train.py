"""Train the CRNN enhancer on any folder of noisy/clean pairs (``enhance train``).

Recipe:

* random crops of ``segment_seconds`` from the pairs, loaded once into memory (mono,
  16 kHz);
* remixing: with probability ``remix_prob`` a crop's noise (``noisy - clean``, valid for
  additive mixtures) is replaced by the noise of another pair, mixed with
  :func:`discovervoice.corpus.mix.mix_at_snr` at an SNR drawn uniformly from the SNR range
  measured on the training pairs — new mixtures from the same material;
* random level (the noisy crop's RMS drawn in [-35, -15] dBFS, clean scaled alike);
* loss: the compressed complex + magnitude spectral MSE of Braun & Tashev 2021 (c = 0.3,
  alpha = 0.3), computed on the STFT of the output waveform (consistent), plus
  ``0.002 * (-SI-SDR)``;
* Adam, gradient clipping 5.0; validation SI-SDR on the ``valid`` pairs every
  ``valid_every`` steps; the best model is exported as fp16 safetensors.

Checkpoints (``OUT/checkpoint.pt``: model, optimiser, step, RNG state, configs) are written
every ``checkpoint_every`` steps, atomically; ``resume=True`` continues from one. A log goes
to ``OUT/train.log``.

Libraries: torch, numpy, discovervoice.corpus.mix (SNR mixing), discovervoice.audio (I/O).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from discovervoice.enhance import data as pairdata
from discovervoice.errors import DataError
from discovervoice.fileio import atomic_path
from discovervoice.progress import Progress

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Options of :func:`train` (all stored in the checkpoint)."""

    data: str = ""
    valid: str | None = None
    out: str = "runs/enhance"
    steps: int = 2000
    batch_size: int = 8
    segment_seconds: float = 2.0
    lr: float = 1e-3
    seed: int = 0
    remix_prob: float = 0.5
    level_db: tuple[float, float] = (-35.0, -15.0)
    threads: int = 1
    checkpoint_every: int = 50
    valid_every: int = 100
    valid_files: int = 24
    max_train_files: int | None = None
    model: dict[str, Any] = field(default_factory=dict)


def _load_all(pairs: list[pairdata.Pair], sr: int, progress: Progress | None, what: str
              ) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for i, p in enumerate(pairs):
        out.append(pairdata.load_pair(p, sr))
        if progress is not None and i % 20 == 0:
            progress(0.0, f"loading {what} {i + 1}/{len(pairs)}")
    return out


def compressed_spectral_loss(model, est, ref, c: float = 0.3, alpha: float = 0.3):
    """Braun & Tashev 2021 loss between waveforms ``Tensor[B, T]`` (``est`` vs ``ref``)."""
    import torch

    ye, yr = model.stft(est), model.stft(ref)
    me, mr = ye.abs().clamp_min(1e-8), yr.abs().clamp_min(1e-8)
    mec, mrc = me ** c, mr ** c
    cplx = torch.mean(torch.abs(mec * ye / me - mrc * yr / mr) ** 2)
    mag = torch.mean((mec - mrc) ** 2)
    return alpha * cplx + (1 - alpha) * mag


def neg_si_sdr(est, ref, eps: float = 1e-8):
    """Mean negative SI-SDR in dB over the batch (``Tensor[B, T]``)."""
    import torch

    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    a = (est * ref).sum(-1, keepdim=True) / ((ref * ref).sum(-1, keepdim=True) + eps)
    t = a * ref
    n = est - t
    return -torch.mean(10 * torch.log10(((t * t).sum(-1) + eps) / ((n * n).sum(-1) + eps)))


class _Sampler:
    """Random training crops with remixing and level augmentation."""

    def __init__(self, items: list[tuple[np.ndarray, np.ndarray]], seg: int,
                 cfg: TrainConfig, rng: np.random.Generator):
        from discovervoice.corpus.mix import mix_at_snr

        self.mix_at_snr = mix_at_snr
        self.items = [it for it in items if it[0].shape[0] >= seg // 4]
        if not self.items:
            raise DataError("no training pair is long enough for a crop")
        self.seg, self.cfg, self.rng = seg, cfg, rng
        snrs = [pairdata.measured_snr_db(c, n) for c, n in self.items[:200]]
        snrs = [s for s in snrs if math.isfinite(s)]
        self.snr_range = (min(snrs), max(snrs)) if snrs else (0.0, 20.0)
        self.weights = np.array([it[0].shape[0] for it in self.items], np.float64)
        self.weights /= self.weights.sum()

    def _crop(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        c, n = self.items[i]
        if c.shape[0] <= self.seg:
            pad = self.seg - c.shape[0]
            return np.pad(c, (0, pad)), np.pad(n, (0, pad))
        s = int(self.rng.integers(0, c.shape[0] - self.seg))
        return c[s:s + self.seg], n[s:s + self.seg]

    def batch(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        noisy, clean = np.zeros((b, self.seg), np.float32), np.zeros((b, self.seg), np.float32)
        idx = self.rng.choice(len(self.items), size=b, p=self.weights)
        for k, i in enumerate(idx):
            c, n = self._crop(int(i))
            if self.rng.random() < self.cfg.remix_prob and len(self.items) > 1:
                j = int(self.rng.integers(len(self.items)))
                c2, n2 = self._crop(j)
                noise = (n2 - c2).astype(np.float64)
                if np.any(c) and np.any(noise):
                    snr = float(self.rng.uniform(*self.snr_range))
                    n, _, _ = self.mix_at_snr(c.astype(np.float64), noise, snr)
            r = np.sqrt(np.mean(np.asarray(n, np.float64) ** 2)) + 1e-9
            level = self.rng.uniform(*self.cfg.level_db)
            g = 10 ** (level / 20) / r
            noisy[k], clean[k] = n * g, c * g
        return noisy, clean


def _evaluate(model, items: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean SI-SDR (dB) of the model on full validation files (run at -25 dBFS)."""
    import torch

    from discovervoice.enhance.apply import WORK_LEVEL_DB
    from discovervoice.enhance.metrics import si_sdr

    model.eval()
    scores = []
    with torch.inference_mode():
        for c, n in items:
            g = 10 ** (WORK_LEVEL_DB / 20) / (np.sqrt(np.mean(n.astype(np.float64) ** 2)) + 1e-9)
            y = model(torch.from_numpy((n * g).astype(np.float32))[None])[0].numpy()
            scores.append(si_sdr(c, y))
    model.train()
    return float(np.mean(scores))


def _atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def train(cfg: TrainConfig, *, resume: bool = False, progress: Progress | None = None) -> Path:
    """Train a CRNN on ``cfg.data`` pairs; returns the exported ``OUT/model.safetensors``.

    Raises:
        DataError: missing/empty pair folders, too-short files.
    """
    out = Path(cfg.out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    fh = logging.FileHandler(out / "train.log")
    fh.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(fh)
    log.setLevel(logging.INFO)
    try:
        return _train(cfg, out, resume, progress)
    finally:
        log.removeHandler(fh)
        fh.close()


def _train(cfg: TrainConfig, out: Path, resume: bool, progress: Progress | None) -> Path:
    import torch

    from discovervoice.enhance.model import CRNN, count_parameters, save_crnn

    ckpt_path = out / "checkpoint.pt"
    state = None
    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        saved = TrainConfig(**{**state["train_config"], "level_db": tuple(state["train_config"]["level_db"])})
        # keep the data/model of the run; allow more steps and new output cadence
        saved.steps, saved.threads = cfg.steps, cfg.threads
        cfg = saved
        log.info("resuming from %s at step %d", ckpt_path, state["step"])
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    model = CRNN(**(state["config"] if state else cfg.model))
    sr = model.sample_rate
    train_dir = pairdata.pair_dir(cfg.data, "train")
    pairs = pairdata.find_pairs(train_dir)
    if cfg.max_train_files:
        pairs = pairs[:cfg.max_train_files]
    valid_pairs: list[pairdata.Pair] = []
    if cfg.valid:
        valid_pairs = pairdata.find_pairs(pairdata.pair_dir(cfg.valid, "valid"))[:cfg.valid_files]
    train_items = _load_all(pairs, sr, progress, "train pair")
    valid_items = _load_all(valid_pairs, sr, progress, "valid pair")
    seconds = sum(c.shape[0] for c, _ in train_items) / sr
    log.info("data %s: %d pairs, %.1f min; valid %d pairs; model %d params, config %s",
             train_dir, len(pairs), seconds / 60, len(valid_pairs), count_parameters(model),
             model.config.to_json())
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step, best = 0, -math.inf
    if state:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        step, best = state["step"], state["best"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
    seg = int(cfg.segment_seconds * sr)
    sampler = _Sampler(train_items, seg, cfg, rng)
    log.info("remix SNR range %.1f..%.1f dB", *sampler.snr_range)
    best_path = out / "model.safetensors"
    model.train()
    t0, losses = time.time(), []

    def checkpoint() -> None:
        _atomic_torch_save({"model": model.state_dict(), "optim": opt.state_dict(),
                            "step": step, "best": best, "rng": rng.bit_generator.state,
                            "torch_rng": torch.get_rng_state(),
                            "config": json.loads(model.config.to_json()),
                            "train_config": asdict(cfg)}, ckpt_path)

    while step < cfg.steps:
        noisy, clean = sampler.batch(cfg.batch_size)
        x, y = torch.from_numpy(noisy), torch.from_numpy(clean)
        est = model(x)
        loss = compressed_spectral_loss(model, est, y) + 0.002 * neg_si_sdr(est, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        if step % 10 == 0:
            log.info("step %d loss %.4f (%.2f s/step)", step, np.mean(losses[-10:]),
                     (time.time() - t0) / len(losses))
        if progress is not None:
            progress(step / cfg.steps, f"step {step} loss {losses[-1]:.4f}")
        last = step == cfg.steps
        if valid_items and (step % cfg.valid_every == 0 or last):
            score = _evaluate(model, valid_items)
            log.info("step %d valid SI-SDR %.2f dB (best %.2f)", step, score, best)
            if score > best:
                best = score
                save_crnn(model, best_path, metadata={"step": step,
                                                      "valid_si_sdr": round(float(score), 3)})
        elif not valid_items and (step % cfg.valid_every == 0 or last):
            save_crnn(model, best_path, metadata={"step": step})
        if step % cfg.checkpoint_every == 0 or last:
            checkpoint()
    if not best_path.exists():
        save_crnn(model, best_path, metadata={"step": step})
    log.info("done: %s (best valid SI-SDR %.2f dB)", best_path, best)
    return best_path

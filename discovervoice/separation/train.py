"""Training of separation networks on any MUSDB18-HQ-layout folder.

Data layout (MUSDB18-HQ, and DiscoverVoice's corpus ``songs/``): ``DATA/train/<song>/`` and
optionally ``DATA/valid/<song>/`` holding ``mixture.wav`` and the stems ``vocals.wav``,
``drums.wav``, ``bass.wav``, ``other.wav`` (wav or flac, same rate and length per song).
Two-stem songs (``vocals.wav`` + ``accompaniment.wav``, the corpus' ``real_songs/``) are
accepted too, for two-stem models. ``DATA`` may list several roots separated by commas
(``data/corpus/songs,data/corpus/real_songs``): training draws from the ``train/`` songs
of all of them, validation uses the first root only (so the validation history stays
comparable when material is added). ``DATA/test`` is never read: it is the evaluation
split. Without ``valid/``, ``--valid-songs`` songs of ``train/`` are held out (MUSDB18-HQ
ships no validation split; demucs holds out 14 songs the same way).

Targets: for two-stem models (``vocals``, ``accompaniment``) the accompaniment is the sum of
the non-vocal stems; four-stem models learn ``drums``, ``bass``, ``other``, ``vocals``.

Augmentations (the demucs / MSST recipe): every source of an example comes from an
independently drawn song and offset (random remix across songs), with a random gain
(uniform in ``[0.25, 1.25]``), random channel swap and random sign flip; the mixture is the
sum of the augmented sources. With probability ``silent_vocals`` an example's vocals are
digital silence (the mixture is then the accompaniment alone, as in MUSDB18-HQ's
instrumental passages), so the network learns to output silence when nobody sings; with
probability ``silent_accompaniment`` (drawn only when the vocals stay) the accompaniment is
silent instead (a cappella: the mixture is the voice alone), so a clean voice comes out
whole at its own level.
Excerpts are read straight from disk (soundfile seeks), so memory does not grow with the
dataset.

Loop: Adam, L1 loss on waveforms (demucs), optional gradient clipping, ``--epoch-steps``
steps per epoch, then validation: each validation song is separated whole with the
chunked :func:`~discovervoice.separation.apply.apply_model` and scored with uSDR (MDX
challenge). A checkpoint (network, optimiser, step, epoch, RNG state, history) is written
atomically every epoch and every ``--save-every`` steps; ``--resume`` continues from it
(the stored configuration wins, except ``epochs`` and the explicit overrides ``lr`` and
``silent_vocals``/``silent_accompaniment``, which also reset the optimiser's learning rate). ``init`` starts a new
run from the weights of an embedded checkpoint (fine-tuning a shipped model).
The best network by validation vocals uSDR is exported as ``best.safetensors``; with
``snapshots`` every epoch's network is kept too (``OUT/snapshots/stepNNNNNN.safetensors``,
fp16), so that a checkpoint can be chosen on other material (a real development set).
Creating a file ``OUT/STOP`` ends the run after the current step (checkpoint saved).
``--device cuda`` trains on a GPU when one is present (mixed precision is not used, so
results are reproducible across devices up to float rounding).

Libraries: torch (network, Adam), soundfile (random-access reads), numpy.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from discovervoice.errors import DataError
from discovervoice.fileio import atomic_path

log = logging.getLogger(__name__)

STEM_FILES = ("vocals", "drums", "bass", "other")
#: Stems of a two-stem song (the corpus' ``real_songs``).
TWO_STEM_FILES = ("vocals", "accompaniment")
AUDIO_EXT = (".wav", ".flac")


# --------------------------------------------------------------------------- data

@dataclass
class Song:
    """One track: stem file paths (``STEM_FILES`` or ``TWO_STEM_FILES``), frames and
    sample rate."""

    name: str
    files: dict[str, Path]
    frames: int
    sample_rate: int
    channels: int


def _stem_path(folder: Path, stem: str) -> Path | None:
    for ext in AUDIO_EXT:
        p = folder / f"{stem}{ext}"
        if p.exists():
            return p
    return None


def scan_songs(root: str | os.PathLike) -> list[Song]:
    """Songs of a MUSDB-layout folder (``root/<song>/{vocals,drums,bass,other}.wav``, or
    ``{vocals,accompaniment}.wav`` for two-stem songs).

    Raises:
        DataError: no folder, no songs, or a song whose stems differ in rate or length.
    """
    import soundfile as sf

    r = Path(root)
    if not r.is_dir():
        raise DataError(f"{r}: not a folder")
    songs = []
    for d in sorted(p for p in r.iterdir() if p.is_dir()):
        files = {s: _stem_path(d, s) for s in STEM_FILES}
        if any(v is None for v in files.values()):
            two = {s: _stem_path(d, s) for s in TWO_STEM_FILES}
            if all(v is not None for v in two.values()):
                files = two
        if any(v is None for v in files.values()):
            missing = [s for s, v in files.items() if v is None]
            log.warning("%s: skipped, missing stems %s", d, missing)
            continue
        try:
            infos = {s: sf.info(str(p)) for s, p in files.items()}
        except RuntimeError as exc:  # unreadable (e.g. being written): leave the song out
            log.warning("%s: skipped, unreadable stem (%s)", d, exc)
            continue
        rates = {i.samplerate for i in infos.values()}
        frames = {i.frames for i in infos.values()}
        chans = {i.channels for i in infos.values()}
        if len(rates) != 1 or len(chans) != 1:
            raise DataError(f"{d}: stems differ in sample rate {rates} or channels {chans}")
        songs.append(Song(d.name, files, min(frames), rates.pop(), chans.pop()))  # type: ignore[arg-type]
    if not songs:
        raise DataError(f"{r}: no song folders with {', '.join(STEM_FILES)} stems")
    return songs


def split_dataset(data: str | os.PathLike, valid_songs: int = 2) -> tuple[list[Song], list[Song]]:
    """``(train, valid)`` songs of a dataset root; ``test/`` is never touched.

    Raises:
        DataError: no ``train/`` folder (or songs directly under ``data``), or too few songs.
    """
    roots = [r for r in str(data).split(",") if r.strip()]
    if len(roots) > 1:   # several roots: train on all, validate on the first
        train, valid = split_dataset(roots[0], valid_songs)
        for r in roots[1:]:
            d = Path(r.strip())
            if d.name == "test":
                raise DataError(f"{d}: refusing to train on a folder named 'test' (evaluation split)")
            train += scan_songs(d / "train" if (d / "train").is_dir() else d)
        return train, valid
    d = Path(data)
    train_dir = d / "train" if (d / "train").is_dir() else d
    if train_dir == d and d.name == "test":
        raise DataError(f"{d}: refusing to train on a folder named 'test' (evaluation split)")
    train = scan_songs(train_dir)
    if (d / "valid").is_dir():
        valid = scan_songs(d / "valid")
    else:
        if len(train) <= valid_songs:
            raise DataError(f"{train_dir}: {len(train)} songs, need more than valid_songs={valid_songs}")
        rng = random.Random(1234)
        idx = sorted(rng.sample(range(len(train)), valid_songs)) if valid_songs else []
        valid = [train[i] for i in idx]
        train = [s for i, s in enumerate(train) if i not in set(idx)]
    return train, valid


def read_excerpt(path: Path, start: int, frames: int) -> np.ndarray:
    """``ndarray[float32, C, frames]`` from ``start`` (zero-padded past the end)."""
    import soundfile as sf

    x, _ = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    x = x.T
    if x.shape[1] < frames:
        x = np.pad(x, ((0, 0), (0, frames - x.shape[1])))
    return x


def targets_from_stems(stems: dict[str, np.ndarray], sources: Sequence[str]) -> np.ndarray:
    """``ndarray[S, C, T]`` in ``sources`` order from the four MUSDB stems (or from
    ``vocals`` + ``accompaniment``)."""
    out = []
    for s in sources:
        if s == "accompaniment" and "accompaniment" in stems:
            out.append(stems["accompaniment"])
        elif s == "accompaniment":
            out.append(stems["drums"] + stems["bass"] + stems["other"])
        elif s in stems:
            out.append(stems[s])
        else:
            raise DataError(f"cannot make target {s!r} from stems {sorted(stems)}")
    return np.stack(out)


class RemixSampler:
    """Random training examples with the standard augmentations.

    Args:
        songs: training songs.
        sources: target names (``vocals``/``accompaniment`` or the four stems).
        segment: example length in seconds.
        sample_rate: Hz (every song must have it).
        remix: draw each stem from an independent song and offset (else one song).
        gain: ``(low, high)`` uniform gain per stem.
        silent_vocals: probability that an example's vocals are digital silence.
        silent_accompaniment: probability that an example whose vocals stay has a digitally
            silent accompaniment (a cappella).
        seed: RNG seed.

    Two-stem songs (``vocals`` + ``accompaniment``) serve two-stem sources only: their
    accompaniment is drawn as one stem, a four-stem song's as drums, bass and other from
    independent songs (with ``remix``).
    """

    def __init__(self, songs: Sequence[Song], sources: Sequence[str], segment: float,
                 sample_rate: int, *, remix: bool = True, gain: tuple[float, float] = (0.25, 1.25),
                 channel_swap: bool = True, sign_flip: bool = True, silent_vocals: float = 0.0,
                 silent_accompaniment: float = 0.0, seed: int = 0):
        bad = [s.name for s in songs if s.sample_rate != sample_rate]
        if bad:
            raise DataError(f"songs not at {sample_rate} Hz: {bad[:5]}")
        for name, p in (("silent_vocals", silent_vocals), ("silent_accompaniment", silent_accompaniment)):
            if not 0.0 <= p <= 1.0:
                raise DataError(f"{name} must be a probability in [0, 1], got {p}")
        two = [s.name for s in songs if "accompaniment" in s.files]
        if two and sorted(sources) != sorted(TWO_STEM_FILES):
            raise DataError(f"two-stem songs ({', '.join(two[:3])}...) can train only "
                            f"vocals/accompaniment models, not {list(sources)}")
        self.songs = list(songs)
        self.sources = list(sources)
        self.silent_vocals = float(silent_vocals)
        self.silent_accompaniment = float(silent_accompaniment)
        self.frames = int(round(segment * sample_rate))
        self.remix, self.gain = remix, gain
        self.channel_swap, self.sign_flip = channel_swap, sign_flip
        self.rng = np.random.default_rng(seed)

    def _pick(self, songs: Sequence[Song] | None = None) -> tuple[Song, int]:
        songs = self.songs if songs is None else songs
        song = songs[int(self.rng.integers(len(songs)))]
        start = int(self.rng.integers(0, max(1, song.frames - self.frames)))
        return song, start

    def _read(self, song: Song, stem: str, start: int) -> np.ndarray:
        """One augmented stem excerpt ``ndarray[2, frames]``."""
        x = read_excerpt(song.files[stem], start, self.frames)
        if x.shape[0] == 1:
            x = np.concatenate([x, x])
        x = x[:2] * float(self.rng.uniform(*self.gain))
        if self.channel_swap and self.rng.random() < 0.5:
            x = x[::-1]
        if self.sign_flip and self.rng.random() < 0.5:
            x = -x
        return np.ascontiguousarray(x)

    def example(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mixture ndarray[C, T], targets ndarray[S, C, T])``."""
        for attempt in range(10):
            try:
                return self._example()
            except (OSError, RuntimeError) as exc:  # soundfile's LibsndfileError is a RuntimeError
                # a file being rewritten by a corpus build that is still running: draw again
                log.warning("training excerpt unreadable (%s); drawing another (%d/10)", exc, attempt + 1)
        raise DataError("10 training excerpts in a row could not be read; is the dataset intact?")

    def _example(self) -> tuple[np.ndarray, np.ndarray]:
        song, start = self._pick()
        vocals = self._read(song, "vocals", start)
        if self.remix:
            song, start = self._pick()
        if "accompaniment" in song.files:
            accomp = self._read(song, "accompaniment", start)
            stems = {"vocals": vocals, "accompaniment": accomp}
        else:
            four = [s for s in self.songs if "accompaniment" not in s.files]
            stems = {"vocals": vocals}
            for s in STEM_FILES[1:]:
                stems[s] = self._read(song, s, start)
                if self.remix:
                    song, start = self._pick(four)
        if self.silent_vocals and self.rng.random() < self.silent_vocals:
            stems["vocals"] = np.zeros_like(vocals)
        elif self.silent_accompaniment and self.rng.random() < self.silent_accompaniment:
            stems = {k: (v if k == "vocals" else np.zeros_like(v)) for k, v in stems.items()}
        if "accompaniment" not in stems:
            stems["accompaniment"] = stems["drums"] + stems["bass"] + stems["other"]
        tgt = targets_from_stems(stems, self.sources)
        mix = stems["vocals"] + stems["accompaniment"]
        return mix.astype(np.float32), tgt.astype(np.float32)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        ex = [self.example() for _ in range(n)]
        return np.stack([e[0] for e in ex]), np.stack([e[1] for e in ex])

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, st: dict) -> None:
        self.rng.bit_generator.state = st


def load_song(song: Song, sources: Sequence[str], max_seconds: float | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(mixture [C, T], targets [S, C, T])`` of a whole song (mixture = sum of stems)."""
    frames = song.frames if max_seconds is None else min(song.frames, int(max_seconds * song.sample_rate))
    stems = {s: read_excerpt(p, 0, frames) for s, p in song.files.items()}
    mix = sum(stems.values())
    return mix, targets_from_stems(stems, sources)


def usdr_db(ref: np.ndarray, est: np.ndarray, eps: float = 1e-7) -> float:
    """MDX-challenge uSDR in dB (see :func:`discovervoice.eval.separation.usdr`)."""
    num = float(np.sum(ref.astype(np.float64) ** 2)) + eps
    den = float(np.sum((ref.astype(np.float64) - est) ** 2)) + eps
    return 10.0 * math.log10(num / den)


def validate(model: Any, songs: Sequence[Song], sources: Sequence[str], *, device: str = "cpu",
             max_seconds: float | None = 30.0, segment: float | None = None) -> dict[str, float]:
    """Mean uSDR per source over ``songs`` (whole songs, chunked apply).

    A source whose reference is digital silence in a song (a vocal-free song) has no uSDR
    there (it would score the estimate's energy against ``eps``, ~-100 dB, and swamp the
    mean); its leakage (:func:`discovervoice.eval.separation.leakage_db`, dB relative to
    the mixture) goes into ``"<source>_leakage"`` instead. Returns ``{name: mean dB}``.
    """
    import torch

    from discovervoice.audio import SILENCE_PEAK
    from discovervoice.eval.separation import leakage_db
    from discovervoice.separation.apply import apply_model

    scores: dict[str, list[float]] = {s: [] for s in sources}
    leaks: dict[str, list[float]] = {s: [] for s in sources}
    was_training = model.training
    model.eval()
    try:
        for song in songs:
            try:
                mix, tgt = load_song(song, sources, max_seconds)
            except (OSError, RuntimeError) as exc:
                log.warning("validation song %s unreadable, left out (%s)", song.name, exc)
                continue
            est = apply_model(model, torch.from_numpy(mix), device=device, segment=segment)[0].cpu().numpy()
            for i, s in enumerate(sources):
                if np.max(np.abs(tgt[i])) < SILENCE_PEAK:
                    leak = leakage_db(tgt[i], est[i], mix, song.sample_rate)
                    if math.isfinite(leak):
                        leaks[s].append(leak)
                else:
                    scores[s].append(usdr_db(tgt[i], est[i]))
    finally:
        model.train(was_training)
    out = {s: float(np.mean(v)) if v else float("nan") for s, v in scores.items()}
    out |= {f"{s}_leakage": float(np.mean(v)) for s, v in leaks.items() if v}
    return out


# --------------------------------------------------------------------------- loop

@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in its checkpoint)."""

    data: str
    out: str
    architecture: str = "htdemucs"
    model_kwargs: dict = field(default_factory=dict)
    segment: float = 4.0
    batch_size: int = 4
    lr: float = 3e-4
    epochs: int = 100
    epoch_steps: int = 100
    valid_songs: int = 2
    valid_seconds: float = 30.0
    grad_clip: float = 5.0
    seed: int = 42
    save_every: int = 50
    remix: bool = True
    silent_vocals: float = 0.0
    silent_accompaniment: float = 0.0
    init: str | None = None
    snapshots: bool = False
    patience: int = 0   # stop after this many epochs without a better validation (0: never)


def _init_from(model: Any, cfg: TrainConfig) -> None:
    """Load ``cfg.init``'s weights (registry name or ``.safetensors`` path) into ``model``,
    for a new run that fine-tunes them.

    Raises:
        DataError: another architecture, or tensors that do not fit the run's kwargs.
    """
    from discovervoice.separation.models import architecture_of, load_embedded
    from discovervoice.weights import resolve

    path = Path(cfg.init) if Path(str(cfg.init)).is_file() else Path(resolve(str(cfg.init)))
    src = load_embedded(path)
    if architecture_of(src) != cfg.architecture:
        raise DataError(f"{path}: a {architecture_of(src)} network, the run trains {cfg.architecture}")
    try:
        model.load_state_dict(src.state_dict())
    except RuntimeError as exc:
        raise DataError(f"{path}: its tensors do not fit the run's {cfg.architecture}"
                        f"({cfg.model_kwargs}): {exc}") from exc
    log.info("initialised from %s", path)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, str(tmp))


#: Settings that may be changed when a run is resumed (``train(..., overrides=...)``).
RESUME_OVERRIDES = ("lr", "silent_vocals", "silent_accompaniment", "patience")


def _epochs_since_best(history: Sequence[dict[str, Any]]) -> int:
    """Epochs since the best validation vocals uSDR of ``history`` (0: the last is best)."""
    vals = [h.get("valid_usdr", {}).get("vocals", float("nan")) for h in history]
    finite = [i for i, v in enumerate(vals) if math.isfinite(v)]
    if not finite:
        return 0
    best = max(finite, key=lambda i: vals[i])
    return len(vals) - 1 - best


def _resumed_config(cfg: TrainConfig, ckpt_path: Path, resume: bool
                    ) -> tuple[TrainConfig, dict[str, Any] | None]:
    """The run's configuration and stored state: ``cfg`` and ``None`` for a new run, else
    the checkpoint's configuration (with ``epochs`` raised to ``cfg.epochs`` and ``cfg``'s
    ``data`` and ``out``) and the checkpoint itself."""
    import torch

    if not (resume and ckpt_path.exists()):
        return cfg, None
    state = torch.load(str(ckpt_path), map_location="cpu", weights_only=False)
    stored = TrainConfig(**state["config"])
    stored.epochs = max(stored.epochs, cfg.epochs)
    stored.data, stored.out = cfg.data, cfg.out
    log.info("resuming from %s (step %d, epoch %d)", ckpt_path, state["step"], state["epoch"])
    return stored, state


def _apply_overrides(cfg: TrainConfig, overrides: dict[str, Any] | None) -> None:
    """Set the :data:`RESUME_OVERRIDES` given (``None`` values ignored) on ``cfg``.

    Raises:
        DataError: a setting that may not be overridden.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    bad = sorted(set(overrides) - set(RESUME_OVERRIDES))
    if bad:
        raise DataError(f"cannot override {bad} on resume; only {list(RESUME_OVERRIDES)}")
    for k, v in overrides.items():
        setattr(cfg, k, int(v) if k == "patience" else float(v))


class _Run:
    """A training run's live state (network, optimiser, sampler, step, epoch, history, best
    validation vocals uSDR) and its checkpoint ``OUT/checkpoint.pt``."""

    def __init__(self, cfg: TrainConfig, device: str, state: dict[str, Any] | None) -> None:
        """Seed the RNGs, build the network, optimiser and sampler for ``cfg``, then load
        ``state`` (a resumed run) or ``cfg.init`` (a new run's starting weights)."""
        import torch

        from discovervoice.separation.models import build_model

        random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.cfg, self.device = cfg, device
        self.out = Path(cfg.out)
        self.ckpt_path = self.out / "checkpoint.pt"
        self.train_songs, self.valid_songs = split_dataset(cfg.data, cfg.valid_songs)
        self.kw = kw = dict(cfg.model_kwargs)
        self.sources = list(kw.get("sources", ["vocals", "accompaniment"]))
        sr = int(kw.get("samplerate", 44100))
        self.model = build_model(cfg.architecture, kw)
        self.model._dv_kwargs = kw  # type: ignore[attr-defined]
        self.model.to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.sampler = RemixSampler(self.train_songs, self.sources, cfg.segment, sr,
                                    remix=cfg.remix, silent_vocals=cfg.silent_vocals,
                                    silent_accompaniment=cfg.silent_accompaniment, seed=cfg.seed)
        self.step, self.epoch, self.best = 0, 0, -math.inf
        self.history: list[dict[str, Any]] = []
        if state is None and cfg.init:
            _init_from(self.model, cfg)
        if state is not None:
            self._restore(state)

    def _restore(self, state: dict[str, Any]) -> None:
        import torch

        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        for g in self.opt.param_groups:   # the configuration's lr (changed by an override)
            g["lr"] = self.cfg.lr
        self.step, self.epoch, self.history = state["step"], state["epoch"], state["history"]
        self.best = state.get("best", -math.inf)
        self.sampler.set_state(state["sampler"])
        torch.set_rng_state(state["torch_rng"])

    def save(self, reason: str) -> None:
        """Write the checkpoint atomically."""
        import torch

        _atomic_torch_save({"config": asdict(self.cfg), "model": self.model.state_dict(),
                            "optimizer": self.opt.state_dict(), "step": self.step,
                            "epoch": self.epoch, "history": self.history, "best": self.best,
                            "sampler": self.sampler.state(), "torch_rng": torch.get_rng_state(),
                            "architecture": self.cfg.architecture, "model_kwargs": self.kw},
                           self.ckpt_path)
        log.info("saved %s at step %d (%s)", self.ckpt_path, self.step, reason)

    def export(self, path: Path, scores: dict[str, float]) -> None:
        """Write the network as an embedded ``.safetensors`` (step, epoch and ``scores`` in
        its metadata) and put it back on the run's device."""
        from discovervoice.separation.models import save_embedded

        save_embedded(self.model.cpu(), path,
                      extra={"step": self.step, "epoch": self.epoch, "valid_usdr": scores})
        self.model.to(self.device)

    def reread_dataset(self) -> None:
        """Re-read the data folder (a corpus still being built adds songs); the sampler
        keeps its RNG state."""
        fresh_train, self.valid_songs = split_dataset(self.cfg.data, self.cfg.valid_songs)
        if [s.name for s in fresh_train] != [s.name for s in self.sampler.songs]:
            log.info("dataset now has %d training songs (was %d)", len(fresh_train),
                     len(self.sampler.songs))
            self.sampler.songs = fresh_train

    def train_epoch(self, t0: float, max_minutes: float | None,
                    progress: Callable[[float, str], None] | None) -> tuple[list[float], float, bool]:
        """The rest of the current epoch's steps (saving every ``save_every``); stops early
        on the time limit or an ``OUT/STOP`` file.

        Returns:
            The step losses, the epoch's start time (``time.time()``), whether to stop.
        """
        import torch

        cfg, model, stop = self.cfg, self.model, False
        model.train()
        losses: list[float] = []
        t_ep = time.time()
        for i in range(cfg.epoch_steps - (self.step % cfg.epoch_steps)):
            mix, tgt = self.sampler.batch(cfg.batch_size)
            mix_t = torch.from_numpy(mix).to(self.device)
            tgt_t = torch.from_numpy(tgt).to(self.device)
            est = model(mix_t)
            loss = torch.nn.functional.l1_loss(est, tgt_t)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.opt.step()
            self.step += 1
            losses.append(float(loss.detach()))
            if self.step % 10 == 0:
                log.info("epoch %d step %d loss %.5f (%.2f s/step)", self.epoch, self.step,
                         float(np.mean(losses[-10:])), (time.time() - t_ep) / (i + 1))
            if progress is not None:
                progress(min(1.0, self.step / (cfg.epochs * cfg.epoch_steps)), f"step {self.step}")
            if cfg.save_every and self.step % cfg.save_every == 0:
                self.save("periodic")
            if max_minutes is not None and (time.time() - t0) / 60.0 >= max_minutes:
                stop = True
            if (self.out / "STOP").exists():  # graceful stop asked by the user
                log.info("found %s: stopping after step %d", self.out / "STOP", self.step)
                (self.out / "STOP").unlink()
                stop = True
            if stop:
                break
        return losses, t_ep, stop

    def end_epoch(self, losses: list[float], t_ep: float, t0: float) -> None:
        """Validate, record the epoch in the history, export the snapshot and a new best,
        save the checkpoint."""
        cfg = self.cfg
        self.epoch += 1
        scores = validate(self.model, self.valid_songs, self.sources, device=self.device,
                          max_seconds=cfg.valid_seconds) if self.valid_songs else {}
        entry = {"epoch": self.epoch, "step": self.step,
                 "train_loss": float(np.mean(losses)) if losses else None,
                 "lr": cfg.lr, "silent_vocals": cfg.silent_vocals,
                 "silent_accompaniment": cfg.silent_accompaniment,
                 "valid_usdr": scores, "minutes": (time.time() - t0) / 60.0,
                 "s_per_step": (time.time() - t_ep) / max(1, len(losses))}
        self.history.append(entry)
        log.info("epoch %d done: %s", self.epoch, json.dumps(entry))
        if cfg.snapshots:   # every epoch's network, for choosing one on other material
            self.export(self.out / "snapshots" / f"step{self.step:06d}.safetensors", scores)
        key = scores.get("vocals", -math.inf)
        if key > self.best:
            self.best = key
            self.export(self.out / "best.safetensors", scores)
        self.save("epoch")


def train(cfg: TrainConfig, *, device: str = "cpu", resume: bool = True,
          max_minutes: float | None = None, threads: int | None = None,
          overrides: dict[str, Any] | None = None,
          progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Train (or continue training) a separation network.

    Args:
        cfg: the run's configuration; on resume the stored one wins for everything but
            ``epochs`` (which may be raised to train longer), ``data`` and ``overrides``.
            ``cfg.init`` (a registry name or ``.safetensors`` path of the same
            architecture and kwargs) gives a new run its starting weights.
        overrides: ``{"lr": float, "silent_vocals": float, "silent_accompaniment": float,
            "patience": int}`` applied on resume too (the
            new ``lr`` is written into the optimiser's parameter groups); the
            checkpoint keeps the changed values and the history records them.
        device: ``"cpu"`` or ``"cuda"``.
        resume: continue from ``OUT/checkpoint.pt`` when it exists.
        max_minutes: stop (after saving) when this much wall time has passed.
        threads: ``torch.set_num_threads`` (CPU).
        progress: ``progress(fraction, message)``.

    Returns:
        Summary: steps done, epochs, best validation uSDR, paths.

    Raises:
        DataError: unusable data folder, an unknown override, or an ``init`` checkpoint
            whose architecture or kwargs differ from the run's.
    """
    import torch

    from discovervoice.separation.models import save_embedded

    if threads:
        torch.set_num_threads(threads)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DataError("--device cuda asked for, but torch sees no CUDA device")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg, state = _resumed_config(cfg, out / "checkpoint.pt", resume)
    _apply_overrides(cfg, overrides)
    run = _Run(cfg, device, state)
    with (out / "config.json").open("w") as f:
        json.dump(asdict(cfg), f, indent=2)
    t0 = time.time()
    log.info("training %s (%d params) on %d songs, validating on %d; device %s",
             cfg.architecture, sum(p.numel() for p in run.model.parameters()),
             len(run.train_songs), len(run.valid_songs), device)
    stop = False
    while run.epoch < cfg.epochs and not stop:
        run.reread_dataset()
        losses, t_ep, stop = run.train_epoch(t0, max_minutes, progress)
        if stop and run.step % cfg.epoch_steps:
            run.save("time limit")
            break
        run.end_epoch(losses, t_ep, t0)
        if cfg.patience and _epochs_since_best(run.history) >= cfg.patience:
            log.info("validation vocals uSDR has not improved for %d epochs: stopping early",
                     cfg.patience)
            break
    history = run.history
    save_embedded(run.model.cpu(), out / "last.safetensors",
                  extra={"step": run.step, "epoch": run.epoch,
                         "valid_usdr": history[-1]["valid_usdr"] if history else {}})
    return {"step": run.step, "epoch": run.epoch, "best_valid_vocals_usdr": run.best,
            "checkpoint": str(run.ckpt_path), "best": str(out / "best.safetensors"),
            "history": history}

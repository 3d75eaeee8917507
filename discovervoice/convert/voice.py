"""Voice models: load (ours and RVC's), and train new ones from a folder of recordings.

A **voice** is what ``discovervoice convert --voice`` takes:

* a DiscoverVoice voice folder written by :func:`train_voice`: ``voice.json`` (kind,
  sample rate, content encoder, the voice's F0 statistics, training summary),
  ``model.safetensors`` (the synthesizer: the WORLD-feature network of
  :mod:`discovervoice.convert.world`), ``added.index`` (faiss index of the training
  content features), ``train/`` (checkpoint with optimiser state for ``--resume``, log);
* an RVC v1/v2 model from RVC-WebUI / Applio: a ``.pth`` file (its ``.index`` is picked
  up from the same folder, or passed explicitly), or a folder holding them.

:func:`train_voice` (``discovervoice voice train DIR -o VOICE``) does the whole recipe:

1. data preparation: every audio file under ``DIR`` is decoded (discovervoice.audio),
   mixed to mono, optionally denoised (``discovervoice.enhance``, when that package has a
   model), loudness-normalised to -20 LUFS and sliced at pauses with a voice-activity
   detector (WebRTC VAD, ``webrtcvad``) into 0.5-12 s slices;
2. a check that at least :data:`MIN_VOICED_SECONDS` (10 s) of the audio are voiced
   (F0 > 0), else :class:`VoiceDataError` names the folder and the amount found;
3. feature extraction: F0 (``f0_method``), content features (default ``dv-content-ppg``),
   WORLD mel-cepstrum + band aperiodicity at the voice's sample rate;
4. training with a progress callback, a held-out slice set (10 %) evaluated every
   ``eval_every`` steps, the best weights kept, early stop when the held-out loss has not
   improved for ``patience`` evaluations (overtraining detection), checkpoints with
   optimiser state every evaluation (``resume=True`` continues from them);
5. the faiss index of the training content features.

Training length is chosen by a :data:`PRESETS` name a person understands (``quick``,
``good``, ``best``) or by ``steps``. Progress is reported in words with an estimate of the
time left from the measured step time; ``cancel()`` is polled between steps and stops
training with :class:`TrainingCancelled`. The voice's files are written to a staging folder
and moved in with ``voice.json`` last, and a voice folder that this call created is removed
again when training fails or is cancelled, so no half-written voice is ever left.

A GPU path: ``device="cuda"`` trains the same recipe on a GPU (longer runs: ``steps``).
Fine-tuning RVC's NSF-HiFiGAN from the pretrained base is a separate recipe
(``discovervoice voice train --arch rvc``, :mod:`discovervoice.convert.rvc_train`); RVC
models trained there or elsewhere run unchanged through :class:`VoiceModel`.

The content features of the default encoder are phone log-posteriors floored at
``content.PPG_FLOOR`` (-2); ``voice.json`` records the floor (``content_floor``) and
conversion applies the same one (voices written before the key existed used -12).
``voice.json``'s ``stats["gv"]`` (the per-slice variance of the z-scored WORLD targets)
drives the GV post-filter of :mod:`discovervoice.convert.world`; voices written before it
existed convert without it until :func:`add_postfilter_stats` adds it from their cache.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from discovervoice.errors import DataError, DiscoverVoiceError, WeightsError

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None] | None
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".opus", ".aiff", ".aif")
#: Minimum voiced audio a voice folder must hold (seconds of frames with F0 > 0, inside the
#: VAD slices). People record word lists with pauses: in ~1 minute of single words (KLettres'
#: native speakers, ``tests/speech_clips.py``) only 13-20 s are voiced, so 30 s refused them.
#: 10 s trains a usable voice; more voiced audio gives a better one (the app says so).
MIN_VOICED_SECONDS = 10.0
FORMAT = "discovervoice-voice"
#: PPG log-posterior floor of voices whose ``voice.json`` predates ``content_floor``.
LEGACY_PPG_FLOOR = -12.0


class VoiceDataError(DataError):
    """A voice folder that cannot make a voice (no audio, too little voiced audio)."""


class VoiceModelError(DiscoverVoiceError):
    """A voice model that cannot be read."""


class TrainingCancelled(DiscoverVoiceError):
    """Voice training was cancelled; no voice was written."""


@dataclass(frozen=True)
class TrainingPreset:
    """A training length a person can choose.

    Attributes:
        name: key of :data:`PRESETS`.
        label: what the app and CLI show (the time measured on the development machine).
        steps: maximum optimisation steps.
        eval_every: held-out evaluation interval (steps); early stopping counts evaluations.
        patience: evaluations without held-out improvement before stopping.
    """

    name: str
    label: str
    steps: int
    eval_every: int
    patience: int


#: Training presets. Times measured on the shared 2-core development machine (load 3-5 from
#: other jobs, torch's default threads) with ~1 minute of single words (19 s voiced,
#: ``tests/speech_clips.py``): feature extraction 25 s, then 0.42 s per step (400 steps in
#: 170 s; held-out L1 0.62 at step 100, 0.56 at 200, 0.54 at 400). Early stopping may end
#: any of them sooner; longer recordings take longer to prepare.
PRESETS: dict[str, TrainingPreset] = {p.name: p for p in (
    TrainingPreset("quick", "quick (~2 min)", steps=200, eval_every=50, patience=2),
    TrainingPreset("good", "good (~10 min)", steps=1100, eval_every=100, patience=3),
    TrainingPreset("best", "best (~30 min, stops when it no longer improves)", steps=3000, eval_every=100,
                   patience=4),
)}


def _duration_words(seconds: float) -> str:
    """``75`` -> ``"1 min 15 s"``; ``20`` -> ``"20 s"``."""
    s = max(0, int(round(seconds)))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


# =========================================================================== model

@dataclass
class VoiceModel:
    """A voice to convert into.

    Attributes:
        kind: ``"world"`` (DiscoverVoice default) or ``"rvc"``.
        synth: the synthesizer (``WorldVoice`` or ``RVCModel``), with ``.synthesize(content, f0)``.
        sample_rate: output rate (Hz).
        content: content encoder name/path the synthesizer expects.
        index: a :class:`~discovervoice.convert.index.FeatureIndex` or ``None``.
        f0_median: the voice's median F0 (Hz) for automatic octave choice (``None``: unknown).
        meta: the rest of ``voice.json``.
        path: where it was loaded from.
    """

    kind: str
    synth: Any
    sample_rate: int
    content: str
    index: Any = None
    f0_median: float | None = None
    meta: dict = field(default_factory=dict)
    path: Path | None = None
    content_layer: int | None = None
    content_final_proj: bool = False
    content_floor: float | None = None

    @classmethod
    def load(cls, path: str | Path, index: str | Path | None = None, content: str | None = None) -> "VoiceModel":
        """Load a voice folder, an RVC ``.pth`` (+ ``.index``) or a registry name.

        Args:
            path: voice folder, ``.pth`` file, folder holding a ``.pth``, or a registry name.
            index: an explicit faiss index file (RVC models); default: the ``.index`` next to it.
            content: content encoder for RVC models (default ``hubert_base_rvc``, as RVC).

        Raises:
            VoiceModelError: not a voice; WeightsError: unreadable weights.
        """
        from discovervoice.convert.index import FeatureIndex

        p = Path(path).expanduser()
        if not p.exists():
            from discovervoice import weights

            try:
                p = weights.resolve(str(path))
            except WeightsError as exc:
                raise VoiceModelError(f"{path}: no such voice folder, model file or registered voice ({exc})") from exc
        if p.is_dir() and (p / "voice.json").exists():
            return cls._load_ours(p)
        pth = p
        if p.is_dir():
            cands = sorted(p.glob("*.pth"))
            if not cands:
                raise VoiceModelError(f"{p}: folder has neither voice.json nor an RVC .pth model")
            pth = cands[0]
        if pth.suffix != ".pth":
            raise VoiceModelError(f"{pth}: not a voice (expected a voice folder or an RVC .pth file)")
        from discovervoice.convert.rvc import load_rvc_checkpoint

        model = load_rvc_checkpoint(pth)
        idx_path = Path(index) if index else _find_index(pth.parent)
        idx = FeatureIndex.load(idx_path) if idx_path else None
        if idx is not None and idx.dim != model.content_dim:
            raise VoiceModelError(f"{idx_path}: index of {idx.dim}-d features does not fit the "
                                  f"{model.content_dim}-d model {pth}")
        v1 = model.content_dim == 256
        return cls("rvc", model, model.sample_rate, content or "hubert_base_rvc", idx, None,
                   {"version": model.version, "info": model.info}, pth,
                   content_layer=9 if v1 else 12, content_final_proj=v1)

    @classmethod
    def _load_ours(cls, folder: Path) -> "VoiceModel":
        from safetensors import safe_open

        from discovervoice.convert.index import FeatureIndex
        from discovervoice.convert.world import WorldVoice, build_world_net

        try:
            meta = json.loads((folder / "voice.json").read_text())
        except ValueError as exc:
            raise VoiceModelError(f"{folder / 'voice.json'}: invalid JSON ({exc})") from exc
        if meta.get("format") != FORMAT:
            raise VoiceModelError(f"{folder / 'voice.json'}: not a DiscoverVoice voice (format {meta.get('format')!r})")
        if meta["kind"] != "world":
            raise VoiceModelError(f"{folder}: unknown voice kind {meta['kind']!r}")
        with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
            state = {k: f.get_tensor(k).float() for k in f.keys()}
        net = build_world_net(**meta["net"])
        net.load_state_dict(state)
        synth = WorldVoice(net, meta["sample_rate"], meta["order"], meta["stats"])
        idx = FeatureIndex.load(folder / "added.index") if (folder / "added.index").exists() else None
        return cls("world", synth, int(meta["sample_rate"]), meta["content"], idx,
                   meta.get("f0", {}).get("median_hz"), meta, folder,
                   content_floor=meta.get("content_floor", LEGACY_PPG_FLOOR))

    def content_encoder(self) -> Any:
        """The content encoder this voice was trained with (loaded once, cached)."""
        from discovervoice.convert.content import load_content_encoder

        enc = load_content_encoder(self.content)
        if self.kind == "rvc" and hasattr(enc, "with_layer"):
            enc = enc.with_layer(self.content_layer or 12, self.content_final_proj)
        if self.content_floor is not None and hasattr(enc, "with_floor"):
            enc = enc.with_floor(self.content_floor)
        return enc


def add_postfilter_stats(folder: str | Path) -> bool:
    """Give a voice trained before the GV post-filter existed its statistics.

    The voice's per-slice variance of z-scored WORLD targets (``stats["gv"]``, see
    :mod:`discovervoice.convert.world`) is computed from the features cached at training
    time (``train/features.npz``), exactly as :func:`train_voice` now does, and
    ``voice.json`` is rewritten atomically. Nothing else changes.

    Returns:
        ``True`` when the statistics were added, ``False`` when the voice already had them.

    Raises:
        VoiceModelError: not a DiscoverVoice voice, or no cached features to compute them from.
    """
    from discovervoice.convert.world import slice_gv

    d = Path(folder)
    meta_path, feats = d / "voice.json", d / "train" / "features.npz"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise VoiceModelError(f"{meta_path}: not a readable voice.json ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise VoiceModelError(f"{meta_path}: not a DiscoverVoice voice")
    if "gv" in meta["stats"]:
        return False
    if not feats.exists():
        raise VoiceModelError(f"{d}: no train/features.npz to compute the post-filter statistics from; "
                              "retrain the voice")
    z = np.load(feats, allow_pickle=False)
    st = meta["stats"]
    yn = (z["y"] - np.array(st["y_mean"])) / np.array(st["y_std"])
    st["gv"] = slice_gv(yn.astype(np.float32), z["lengths"].tolist()).tolist()
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(meta_path)
    return True


def _find_index(folder: Path) -> Path | None:
    cands = sorted(folder.glob("*.index"), key=lambda q: ("added" not in q.name, q.name))
    return cands[0] if cands else None


def load_voice(path: str | Path, spec: Any = None, **kw: Any) -> VoiceModel:
    """Shorthand for :meth:`VoiceModel.load`; also the registry factory of shipped voices
    (``weights/dv-voice-*``)."""
    return VoiceModel.load(path, **kw)


# =========================================================================== data prep

def find_audio(folder: str | Path) -> list[Path]:
    """Audio files under ``folder`` (recursive, sorted)."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def vad_slices(audio16k: np.ndarray, *, aggressiveness: int = 2, min_s: float = 0.5, max_s: float = 12.0,
               merge_gap_s: float = 0.3, pad_s: float = 0.1) -> list[tuple[int, int]]:
    """Voiced regions of 16 kHz mono audio as ``[(start, end)]`` sample ranges.

    WebRTC VAD on 30 ms frames, plus an energy floor 45 dB under the loudest frame (the
    VAD alone lets steady noise through); regions closer than ``merge_gap_s`` merge, get
    ``pad_s`` of context, and regions longer than ``max_s`` are cut at their quietest
    frame; regions shorter than ``min_s`` are dropped.
    """
    import webrtcvad

    sr, fl = 16000, 480
    x = np.asarray(audio16k, dtype=np.float32)
    n = len(x) // fl
    if n == 0:
        return []
    pcm = (np.clip(x[: n * fl], -1, 1) * 32767).astype(np.int16)
    vad = webrtcvad.Vad(aggressiveness)
    frames = x[: n * fl].reshape(n, fl)
    e = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    floor = e.max() - 45
    act = np.array([vad.is_speech(pcm[i * fl:(i + 1) * fl].tobytes(), sr) and e[i] > floor for i in range(n)])
    regions, i = [], 0
    while i < n:
        if act[i]:
            j = i
            while j < n and act[j]:
                j += 1
            regions.append([i, j])
            i = j
        else:
            i += 1
    merged: list[list[int]] = []
    gap = int(merge_gap_s * sr / fl)
    for r in regions:
        if merged and r[0] - merged[-1][1] <= gap:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    pad, out = int(pad_s * sr), []
    for a, b in merged:
        s, t = max(0, a * fl - pad), min(len(x), b * fl + pad)
        stack = [(s, t)]
        while stack:
            s, t = stack.pop()
            if t - s > max_s * sr:
                lo, hi = s + int(min_s * sr), t - int(min_s * sr)
                seg = x[lo:hi]
                k = len(seg) // 160
                en = np.sum(seg[: k * 160].reshape(k, 160) ** 2, axis=1)
                cut = lo + int(np.argmin(en)) * 160 + 80
                stack += [(cut, t), (s, cut)]
            elif t - s >= min_s * sr:
                out.append((s, t))
    return sorted(out)


def _denoiser() -> Callable[[np.ndarray, int], np.ndarray]:
    try:
        from discovervoice.enhance import apply as enh
    except ImportError as exc:
        raise VoiceDataError(f"denoise asked for, but discovervoice.enhance is not available ({exc})") from exc
    model = enh.load()

    def run(x: np.ndarray, sr: int) -> np.ndarray:
        from discovervoice import audio as dva

        y = dva.resample(x[None], sr, model.sample_rate)
        y = model.enhance(y)
        return dva.resample(np.asarray(y).reshape(1, -1), model.sample_rate, sr)[0]

    return run


@dataclass
class Slice:
    name: str
    audio16k: np.ndarray
    audio: np.ndarray  # at the voice's sample rate


def prepare_slices(folder: str | Path, sample_rate: int, *, denoise: bool = False, progress: Progress = None) -> list[Slice]:
    """Data preparation (steps 1 of :func:`train_voice`): decoded, normalised, VAD-sliced audio.

    Raises:
        VoiceDataError: no audio file under ``folder``.
    """
    from discovervoice import audio as dva

    files = find_audio(folder)
    if not files:
        raise VoiceDataError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)}) found")
    den = _denoiser() if denoise else None
    out: list[Slice] = []
    for i, f in enumerate(files):
        x, sr = dva.read(f)
        x = dva.to_channels(x, 1)[0]
        if den is not None:
            x = den(x, sr)
        x = dva.normalize_lufs(x[None], sr, -20.0)[0]
        x16 = dva.resample(x[None], sr, 16000)[0] if sr != 16000 else x
        xv = dva.resample(x[None], sr, sample_rate)[0] if sr != sample_rate else x
        for j, (a, b) in enumerate(vad_slices(x16)):
            a2, b2 = int(a * sample_rate / 16000), int(b * sample_rate / 16000)
            peak = max(float(np.abs(x16[a:b]).max()), 1e-9)
            g = min(1.0, 0.95 / peak)
            out.append(Slice(f"{f.stem}_{j:03d}", (x16[a:b] * g).astype(np.float32),
                             (xv[a2:b2] * g).astype(np.float32)))
        if progress:
            progress((i + 1) / len(files), f"prepared {f.name}")
    return out


# =========================================================================== training

def content_fingerprint(content: str | Path) -> str:
    """A short sha256 of the content encoder's weights (of file names and sizes for a
    folder), so cached features are recomputed when the encoder behind a name changes.

    Raises:
        WeightsError / WeightsUnavailableError: see :func:`discovervoice.weights.resolve`.
    """
    import hashlib

    from discovervoice import weights

    p = weights.resolve(str(content))
    if p.is_file():
        return weights.sha256_of(p)[:16]
    listing = ";".join(f"{q.relative_to(p)}:{q.stat().st_size}" for q in sorted(p.rglob("*")) if q.is_file())
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def _native_rate(files: list[Path]) -> int:
    from discovervoice import audio as dva

    for f in files:  # a plainly bad recording is refused (named) before any model loads
        dva.preflight(f)
    return max(dva.info(f).sample_rate for f in files)


def train_voice(data_dir: str | Path, out_dir: str | Path, *, preset: str | None = None,
                cancel: Callable[[], bool] | None = None, **kwargs: Any) -> VoiceModel:
    """Train a voice from a folder of recordings (see the module docstring for the recipe).

    Args:
        data_dir: folder of the voice's recordings.
        out_dir: the voice folder to write.
        preset: a :data:`PRESETS` name (``quick``, ``good``, ``best``); sets ``steps``,
            ``eval_every`` and ``patience`` unless they are given too.
        cancel: polled between steps; when it returns true, training stops with
            :class:`TrainingCancelled`.
        **kwargs: the recipe's settings, see :func:`_train_voice`.

    Returns:
        The trained :class:`VoiceModel` (also written to ``out_dir``).

    Raises:
        VoiceDataError: no audio, or less than :data:`MIN_VOICED_SECONDS` of voiced audio.
        TrainingCancelled: ``cancel()`` returned true.
        DiscoverVoiceError: unknown preset.

    A voice folder that did not hold a finished voice before the call is removed when
    training is cancelled or the data cannot make a voice; after any other failure it keeps
    only ``train/`` (the resume checkpoint), never a ``voice.json``. A finished voice already
    there stays as it was until the new one has been written completely.
    """
    import shutil

    if preset is not None:
        if preset not in PRESETS:
            raise DiscoverVoiceError(f"unknown training preset {preset!r}; choose one of {', '.join(PRESETS)}")
        pr = PRESETS[preset]
        for k in ("steps", "eval_every", "patience"):
            kwargs.setdefault(k, getattr(pr, k))
    out = Path(out_dir)
    fresh = not (out / "voice.json").exists()
    try:
        return _train_voice(data_dir, out, cancel=cancel, **kwargs)
    except BaseException as exc:
        for staging in out.glob(".staging-*"):
            shutil.rmtree(staging, ignore_errors=True)
        # a cancelled or impossible training leaves nothing; an interrupted one (Ctrl-C, a
        # crash) keeps only train/ — never a voice.json — so that resume=True continues it
        if fresh and isinstance(exc, (TrainingCancelled, VoiceDataError)):
            shutil.rmtree(out, ignore_errors=True)
        raise


def _train_voice(data_dir: str | Path, out_dir: str | Path, *, content: str = "dv-content-ppg",
                 f0_method: str = "harvest", sample_rate: int | None = None, order: int = 40,
                 steps: int = 1500, batch: int = 16, crop_frames: int = 200, lr: float = 2e-3,
                 channels: int = 128, n_layers: int = 4, eval_every: int = 100, patience: int = 4,
                 holdout: float = 0.1, denoise: bool = False, resume: bool = True, device: str = "cpu",
                 threads: int | None = None, seed: int = 0, progress: Progress = None,
                 cancel: Callable[[], bool] | None = None) -> VoiceModel:
    """The recipe behind :func:`train_voice` (which adds presets and clean-up on failure).

    Args:
        data_dir: folder of the voice's recordings (any format discovervoice.audio reads).
        out_dir: the voice folder to write.
        content: content encoder name or path (``dv-content-ppg`` offline).
        f0_method: F0 extractor for the training audio.
        sample_rate: output rate; default 16000 for material at <= 16 kHz, else 24000.
        steps: maximum optimisation steps (early stopping may end sooner).
        denoise: run discovervoice.enhance's default model over the recordings first.
        resume: continue from ``out_dir/train/checkpoint.pt`` when it exists.
        device: ``"cpu"`` or ``"cuda"``.
        threads: torch CPU threads (default: leave torch's setting).

    Returns:
        The trained :class:`VoiceModel` (also written to ``out_dir``).

    Raises:
        VoiceDataError: no audio, or less than :data:`MIN_VOICED_SECONDS` of voiced audio.
        TrainingCancelled: ``cancel()`` returned true.
    """
    import os
    import secrets

    import torch
    from safetensors.torch import save_file

    from discovervoice.convert import f0 as F0
    from discovervoice.convert.content import load_content_encoder
    from discovervoice.convert.index import FeatureIndex
    from discovervoice.convert.world import analyze, build_world_net, f0_inputs, slice_gv

    t_start = time.time()
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    out = Path(out_dir)
    train_dir = out / "train"
    train_dir.mkdir(parents=True, exist_ok=True)
    logf = open(train_dir / "train.log", "a")

    def say(frac: float, msg: str) -> None:
        logf.write(f"{time.strftime('%H:%M:%S')} {msg}\n")
        logf.flush()
        if progress:
            progress(min(max(frac, 0.0), 1.0), msg)

    def check_cancel() -> None:
        if cancel is not None and cancel():
            logf.write(f"{time.strftime('%H:%M:%S')} cancelled\n")
            logf.close()
            raise TrainingCancelled("training was cancelled; no voice was saved")

    files = find_audio(data_dir)
    if not files:
        raise VoiceDataError(f"{data_dir}: no audio files ({', '.join(AUDIO_SUFFIXES)}) found")
    sr = int(sample_rate or (16000 if _native_rate(files) <= 16000 else 24000))
    feats_path = train_dir / "features.npz"
    enc = load_content_encoder(content)
    content_floor = getattr(enc, "floor", None)
    cfg_key = json.dumps([str(Path(data_dir).resolve()), content, content_fingerprint(content), content_floor,
                          f0_method, sr, order, denoise])
    if resume and feats_path.exists() and str(np.load(feats_path, allow_pickle=False)["key"]) == cfg_key:
        z = np.load(feats_path, allow_pickle=False)
        lengths = z["lengths"].tolist()
        C, Fz, Y = z["content"], z["f0"], z["y"]
        say(0.3, f"resumed features of {len(lengths)} slices")
    else:
        def preparing(f: float, m: str) -> None:
            check_cancel()
            say(0.05 * f, f"Preparing your recordings ({m})")

        slices = prepare_slices(data_dir, sr, denoise=denoise, progress=preparing)
        Cs, Fs, Ys, lengths = [], [], [], []
        voiced = 0
        for i, s in enumerate(slices):
            f0 = F0.extract_f0(s.audio16k, f0_method)
            c = enc(s.audio16k)
            mcep, bap = analyze(s.audio, sr, f0, order)
            n = min(len(f0), len(c), len(mcep))
            Cs.append(c[:n]); Fs.append(f0[:n]); Ys.append(np.concatenate([mcep[:n], bap[:n]], 1))
            lengths.append(n)
            voiced += int((f0[:n] > 0).sum())
            check_cancel()
            say(0.05 + 0.25 * (i + 1) / len(slices), f"Listening to your voice: piece {i + 1} of {len(slices)}")
        voiced_s = voiced / 100.0
        if voiced_s < MIN_VOICED_SECONDS:
            raise VoiceDataError(f"{data_dir}: only {voiced_s:.1f} s of voiced sound (vowels, singing) found in "
                                 f"{len(files)} recording(s); a voice needs at least {MIN_VOICED_SECONDS:.0f} s — "
                                 f"record more speaking or singing (words with pauses are about one third voiced)")
        C, Fz, Y = np.concatenate(Cs), np.concatenate(Fs), np.concatenate(Ys)
        tmp = feats_path.with_name(f".features-{secrets.token_hex(4)}.npz")  # atomic: a killed run
        np.savez(tmp, key=np.array(cfg_key), lengths=np.array(lengths), content=C, f0=Fz, y=Y)
        os.replace(tmp, feats_path)  # never leaves a half-written features.npz to resume from
    voiced_f0 = Fz[Fz > 0]
    if len(voiced_f0) / 100.0 < MIN_VOICED_SECONDS:
        raise VoiceDataError(f"{data_dir}: only {len(voiced_f0) / 100:.1f} s of voiced sound; "
                             f"a voice needs at least {MIN_VOICED_SECONDS:.0f} s")
    lf0 = np.log(voiced_f0)
    stats = {"lf0_mean": float(lf0.mean()), "lf0_std": float(lf0.std()),
             "y_mean": Y.mean(0).tolist(), "y_std": np.maximum(Y.std(0), 1e-3).tolist()}
    X = np.concatenate([C, f0_inputs(Fz, stats["lf0_mean"], stats["lf0_std"])], 1).astype(np.float32)
    Yn = ((Y - np.array(stats["y_mean"])) / np.array(stats["y_std"])).astype(np.float32)
    stats["gv"] = slice_gv(Yn, lengths).tolist()  # the GV post-filter's target (world.py)
    # held-out slices: every k-th slice
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    k = max(2, int(round(1 / max(holdout, 1e-3))))
    val_ids = [i for i in range(len(lengths)) if i % k == k // 2] or [len(lengths) - 1]
    tr_ids = [i for i in range(len(lengths)) if i not in val_ids] or val_ids
    # train on frames pooled from training slices (crops may span slice boundaries)
    tr_rows = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in tr_ids])
    Xtr, Ytr = X[tr_rows], Yn[tr_rows]
    net_cfg = dict(in_dim=X.shape[1], out_dim=Y.shape[1], channels=channels, n_layers=n_layers)
    net = build_world_net(**net_cfg).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    ckpt_path = train_dir / "checkpoint.pt"
    step, best, best_step, bad, best_state, history = 0, float("inf"), 0, 0, None, []
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ck.get("net_cfg") == net_cfg and ck.get("key") == cfg_key:
            net.load_state_dict(ck["net"]); opt.load_state_dict(ck["opt"])
            step, best, best_step, bad = ck["step"], ck["best"], ck["best_step"], ck["bad"]
            best_state, history = ck["best_state"], ck["history"]
            say(0.3, f"resumed training at step {step}")
    crop = min(crop_frames, len(Xtr))

    def val_loss() -> float:
        net.eval()
        tot = cnt = 0.0
        with torch.inference_mode():
            for i in val_ids:
                xs = torch.from_numpy(X[bounds[i]:bounds[i + 1]].T.copy())[None].to(device)
                ys = torch.from_numpy(Yn[bounds[i]:bounds[i + 1]].T.copy())[None].to(device)
                tot += float(torch.abs(net(xs) - ys).sum())
                cnt += ys.numel()
        net.train()
        return tot / max(cnt, 1)

    net.train()
    stopped = "max steps"
    t_train = time.time()
    t_before = t_train - t_start  # features (and loading), for a time-based progress fraction
    first_step = step

    def learning(msg_step: int) -> tuple[float, str]:
        """Progress fraction by time and the words for it, from the measured step time."""
        done = msg_step - first_step
        spent = time.time() - t_train
        left = spent / max(done, 1) * (steps - msg_step)
        frac = 0.3 + 0.65 * (t_before + spent) / max(t_before + spent + left, 1e-9)
        return frac, f"Learning your voice: step {msg_step} of {steps}, about {_duration_words(left)} left"

    while step < steps:
        check_cancel()
        idx = rng.integers(0, len(Xtr) - crop + 1, size=batch)
        xb = torch.from_numpy(np.stack([Xtr[i:i + crop].T for i in idx])).to(device)
        yb = torch.from_numpy(np.stack([Ytr[i:i + crop].T for i in idx])).to(device)
        xb = xb + 0.05 * torch.randn_like(xb)
        loss = torch.abs(net(xb) - yb).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 100) * (0.5 * (1 + np.cos(np.pi * step / steps)))
        opt.step()
        step += 1
        if step % eval_every == 0 or step == steps:
            vl = val_loss()
            history.append((step, float(loss.item()), vl))
            if vl < best - 1e-4:
                best, best_step, bad = vl, step, 0
                best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                        "best_step": best_step, "bad": bad, "best_state": best_state, "history": history,
                        "net_cfg": net_cfg, "key": cfg_key}, ckpt_path.with_suffix(".tmp"))
            ckpt_path.with_suffix(".tmp").replace(ckpt_path)
            logf.write(f"{time.strftime('%H:%M:%S')} step {step}/{steps} train L1 {loss.item():.4f} "
                       f"held-out L1 {vl:.4f} (best {best:.4f} @ {best_step})\n")
            if bad >= patience:
                stopped = f"overtraining detected: held-out loss has not improved for {bad} evaluations since step {best_step}"
                say(0.95, f"Learning your voice: it stopped improving at step {best_step}, finishing early")
                break
        if step % 10 == 0 or step == steps:
            say(*learning(step))
    net.load_state_dict(best_state or net.state_dict())
    net.eval()
    train_seconds = time.time() - t_start
    check_cancel()
    say(0.96, "Finishing: saving your voice")
    index = FeatureIndex.build(C[tr_rows])
    out.mkdir(parents=True, exist_ok=True)
    # every file is written into a staging folder and moved in, voice.json last, so the
    # folder never holds a half-written voice (a voice is what has a voice.json)
    staging = out / f".staging-{secrets.token_hex(4)}"
    staging.mkdir()
    index.save(staging / "added.index")
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(staging / "model.safetensors"), metadata={"architecture": "WorldNet",
                                                                   "config": json.dumps(net_cfg)})
    meta = {
        "format": FORMAT, "kind": "world", "sample_rate": sr, "order": order, "content": content,
        "content_floor": content_floor,
        "f0_method": f0_method, "net": net_cfg, "stats": stats,
        "f0": {"median_hz": float(np.exp(np.median(lf0))), "p5_hz": float(np.exp(np.percentile(lf0, 5))),
               "p95_hz": float(np.exp(np.percentile(lf0, 95)))},
        "train": {"data": str(Path(data_dir).resolve()), "files": len(files), "slices": len(lengths),
                  "seconds": round(float(sum(lengths)) / 100, 1), "voiced_seconds": round(len(voiced_f0) / 100, 1),
                  "steps": step, "best_step": best_step, "best_heldout_l1": best, "stopped": stopped,
                  "train_seconds": round(train_seconds, 1), "loop_seconds": round(time.time() - t_train, 1),
                  "history": history, "device": device},
    }
    (staging / "voice.json").write_text(json.dumps(meta, indent=1))
    for name in ("added.index", "model.safetensors", "voice.json"):
        os.replace(staging / name, out / name)
    staging.rmdir()
    logf.write(f"{time.strftime('%H:%M:%S')} voice written to {out} ({stopped})\n")
    say(1.0, "Your voice is ready" + (" (stopped early: it no longer improved)" if bad >= patience else ""))
    logf.close()
    return VoiceModel.load(out)

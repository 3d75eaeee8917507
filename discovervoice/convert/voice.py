"""Voice models: load (ours and RVC's), and train new ones from a folder of recordings or
from a ``discovervoice prep`` dataset.

A **voice** is what ``discovervoice convert --voice`` takes:

* a DiscoverVoice voice folder written by :func:`train_voice`: ``voice.json`` (kind,
  sample rate, content encoder, the voice's F0 statistics, training summary),
  ``model.safetensors`` (the synthesizer: the WORLD-feature network of
  :mod:`discovervoice.convert.world`, a :mod:`discovervoice.checkpoint` file of format
  :data:`WORLD_NET_FORMAT`), ``added.index`` (faiss index of the training
  content features), ``envelopes.npz`` (the training frames' z-scored mel-cepstra, for
  envelope retrieval), ``train/`` (checkpoint with optimiser state for ``--resume``, log);
* an RVC v1/v2 model from RVC-WebUI / Applio: a ``.pth`` file (its ``.index`` is picked
  up from the same folder, or passed explicitly), or a folder holding them.

:func:`train_voice` (``discovervoice voice train DIR -o VOICE``, or ``discovervoice voice
train --manifest DATASET [--speaker spkN] -o VOICE``) does the whole recipe:

1. data preparation: every audio file under ``DIR`` is decoded (discovervoice.audio),
   mixed to mono, optionally denoised (``discovervoice.enhance``, when that package has a
   model), loudness-normalised to -20 LUFS and sliced at pauses into 0.5-12 s slices
   (:func:`vad_slices`: the WebRTC VAD of :func:`discovervoice.signals.voiced_regions`,
   cut by :func:`discovervoice.signals.slice_at_quiet_points`). From a prep dataset
   (``manifest.jsonl``, docs/ARCHITECTURE.md "Manifests") the listed slices of one
   speaker are used as they are (:func:`manifest_slices`), each normalised the same way;
2. a check that at least :data:`MIN_VOICED_SECONDS` (10 s) of the audio are voiced
   (F0 > 0), else :class:`VoiceDataError` names the folder (or manifest) and the amount found;
3. feature extraction: F0 (``f0_method``), content features (default ``dv-content-ppg``),
   WORLD mel-cepstrum + band aperiodicity at the voice's sample rate;
4. training with a progress callback, a held-out slice set (10 %) evaluated every
   ``eval_every`` steps, the best weights kept, early stop when the held-out loss has not
   improved for ``patience`` evaluations (overtraining detection), checkpoints with
   optimiser state every evaluation (``resume=True`` continues from them);
5. the faiss index of the training content features and the table of the training frames'
   z-scored mel-cepstra (``envelopes.npz``, envelope retrieval).

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
drives the GV post-filter of :mod:`discovervoice.convert.world`, ``envelopes.npz`` (the
z-scored mel-cepstra of the training frames) its envelope retrieval; voices written before
they existed convert without them until :func:`add_postfilter_stats` adds them from their cache.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from discovervoice.errors import DataError, DiscoverVoiceError, WeightsError
from discovervoice.fileio import atomic_path, write_json
from discovervoice.progress import Progress

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".opus", ".aiff", ".aif")
#: Minimum voiced audio a voice folder must hold (seconds of frames with F0 > 0, inside the
#: VAD slices). People record word lists with pauses: in ~1 minute of single words (KLettres'
#: native speakers, ``tests/speech_clips.py``) only 13-20 s are voiced, so 30 s refused them.
#: 10 s trains a usable voice; more voiced audio gives a better one (the app says so).
MIN_VOICED_SECONDS = 10.0
FORMAT = "discovervoice-voice"
#: ``format`` of a voice's ``model.safetensors`` (:mod:`discovervoice.checkpoint`; voices
#: written before it have none and ``architecture: WorldNet``).
WORLD_NET_FORMAT = "discovervoice-voice-world/1"
#: PPG log-posterior floor of voices whose ``voice.json`` predates ``content_floor``.
LEGACY_PPG_FLOOR = -12.0
#: The voice's training frames for envelope retrieval (:class:`~discovervoice.convert.world.EnvelopeTable`).
ENVELOPES = "envelopes.npz"


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
        from discovervoice import checkpoint
        from discovervoice.convert.index import FeatureIndex
        from discovervoice.convert.world import EnvelopeTable, WorldVoice, build_world_net

        try:
            meta = json.loads((folder / "voice.json").read_text())
        except ValueError as exc:
            raise VoiceModelError(f"{folder / 'voice.json'}: invalid JSON ({exc})") from exc
        if meta.get("format") != FORMAT:
            raise VoiceModelError(f"{folder / 'voice.json'}: not a DiscoverVoice voice (format {meta.get('format')!r})")
        if meta["kind"] != "world":
            raise VoiceModelError(f"{folder}: unknown voice kind {meta['kind']!r}")
        ck = checkpoint.load(folder / "model.safetensors", (WORLD_NET_FORMAT, None), what="voice synthesizer")
        if not ck.format and ck.architecture != "WorldNet":
            raise VoiceModelError(f"{folder / 'model.safetensors'}: not a voice synthesizer "
                                  f"(architecture {ck.architecture!r})")
        net = checkpoint.fit_state(build_world_net(**meta["net"]), {k: v.float() for k, v in ck.tensors.items()},
                                   folder / "model.safetensors", "the WORLD network of this voice.json")
        env = EnvelopeTable.load(folder / ENVELOPES) if (folder / ENVELOPES).exists() else None
        synth = WorldVoice(net, meta["sample_rate"], meta["order"], meta["stats"], envelopes=env)
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
    """Give a voice trained before the GV post-filter or envelope retrieval existed their data.

    The voice's per-slice variance of z-scored WORLD targets (``stats["gv"]``) and its table
    of training frames (``envelopes.npz``; see :mod:`discovervoice.convert.world`) are
    computed from the features cached at training time (``train/features.npz``), exactly as
    :func:`train_voice` now does; ``voice.json`` is rewritten atomically. Nothing else changes.

    Returns:
        ``True`` when anything was added, ``False`` when the voice already had both.

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
    if "gv" in meta["stats"] and (d / ENVELOPES).exists():
        return False
    if not feats.exists():
        raise VoiceModelError(f"{d}: no train/features.npz to compute the post-filter statistics from; "
                              "retrain the voice")
    z = np.load(feats, allow_pickle=False)
    st = meta["stats"]
    yn = ((z["y"] - np.array(st["y_mean"])) / np.array(st["y_std"])).astype(np.float32)
    if not (d / ENVELOPES).exists():
        _, _, tr_rows = _holdout(z["lengths"].tolist(), meta["train"].get("holdout", 0.1))
        _envelope_table(yn[tr_rows], z["f0"][tr_rows], int(meta["order"])).save(d / ENVELOPES)
    if "gv" not in st:
        st["gv"] = slice_gv(yn, z["lengths"].tolist()).tolist()
        write_json(meta_path, meta, ensure_ascii=True)
    return True


def _envelope_table(yn: np.ndarray, f0: np.ndarray, order: int) -> Any:
    """The :class:`~discovervoice.convert.world.EnvelopeTable` of training frames: z-scored
    targets ``yn`` ``[N, D]`` (``c0..c_order`` first) and their F0 ``[N]`` (Hz)."""
    from discovervoice.convert.world import EnvelopeTable

    return EnvelopeTable(yn[:, 1:order + 1], np.asarray(f0) > 0)


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

    :func:`discovervoice.signals.voiced_regions`: WebRTC VAD on 30 ms frames (mode
    ``aggressiveness``) gated 45 dB under the loudest frame (the VAD alone lets steady noise
    through); regions closer than ``merge_gap_s`` merge and get ``pad_s`` of context. Then
    :func:`discovervoice.signals.slice_at_quiet_points` cuts regions longer than ``max_s``
    at their quietest 10 ms frame and drops pieces shorter than ``min_s``.
    """
    from discovervoice import signals

    x = np.asarray(audio16k, dtype=np.float32)
    sr = signals.ANALYSIS_RATE
    regions = signals.voiced_regions(x, "webrtc", aggressiveness=aggressiveness, range_db=45.0,
                                     merge_gap_seconds=merge_gap_s, pad_seconds=pad_s)
    if not regions:
        return []
    pieces = signals.slice_at_quiet_points(x, sr, min_seconds=min_s, max_seconds=max_s,
                                           regions=[(a / sr, b / sr) for a, b in regions],
                                           smooth_seconds=1 / signals.FRAME_RATE, trim=False)
    return [(int(round(a * sr)), min(len(x), int(round(b * sr)))) for a, b in pieces]


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
    """One training slice: ``audio16k`` (``ndarray[T16]`` at 16 kHz, for F0 and content) and
    ``audio`` (the same span at the voice's sample rate, for the WORLD targets)."""

    name: str
    audio16k: np.ndarray
    audio: np.ndarray  # at the voice's sample rate


def _slices_of_files(files: list[Path], sample_rate: int, *, cut: bool, denoise: bool,
                     progress: Progress | None) -> list[Slice]:
    """Decode, mix to mono, (denoise,) normalise to -20 LUFS, and cut each file at pauses
    (``cut``) or keep it whole (a prep slice, if at least 0.5 s long); every slice is
    limited to a 0.95 peak."""
    from discovervoice import audio as dva

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
        spans = vad_slices(x16) if cut else ([(0, len(x16))] if len(x16) >= 8000 else [])
        for j, (a, b) in enumerate(spans):
            a2, b2 = int(a * sample_rate / 16000), int(b * sample_rate / 16000)
            peak = max(float(np.abs(x16[a:b]).max()), 1e-9)
            g = min(1.0, 0.95 / peak)
            out.append(Slice(f"{f.stem}_{j:03d}", (x16[a:b] * g).astype(np.float32),
                             (xv[a2:b2] * g).astype(np.float32)))
        if progress:
            progress((i + 1) / len(files), f"prepared {f.name}")
    return out


def prepare_slices(folder: str | Path, sample_rate: int, *, denoise: bool = False,
                   progress: Progress | None = None) -> list[Slice]:
    """Data preparation (step 1 of :func:`train_voice`) from a folder of recordings:
    decoded, normalised, VAD-sliced audio (:func:`vad_slices`).

    Raises:
        VoiceDataError: no audio file under ``folder``.
    """
    files = find_audio(folder)
    if not files:
        raise VoiceDataError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)}) found")
    return _slices_of_files(files, sample_rate, cut=True, denoise=denoise, progress=progress)


def manifest_files(manifest: str | Path, speaker: str | None = None) -> list[Path]:
    """The audio files of one voice in a ``discovervoice prep`` dataset (or a corpus):
    :func:`discovervoice.prep.manifest.voice_records` of its manifest.

    Args:
        manifest: the dataset folder or its ``manifest.jsonl`` (``manifest.json``: a corpus).
        speaker: a ``speaker`` label (``spk0``, or a corpus singer); ``None``: each
            source's main speaker.

    Raises:
        DataError: no manifest or an unreadable one.
        VoiceDataError: no speech or singing slice of that speaker.
    """
    from discovervoice.prep.manifest import read_records, voice_records

    root, records = read_records(manifest)
    chosen = voice_records(records, speaker)
    if not chosen:
        labels = sorted({str(r.get("speaker")) for r in records})
        who = f" of speaker {speaker!r} (speakers: {', '.join(labels) or 'none'})" if speaker else ""
        raise VoiceDataError(f"{manifest}: no speech or singing slices{who}")
    return [root / r["file"] for r in chosen]


def manifest_slices(manifest: str | Path, sample_rate: int, *, speaker: str | None = None,
                    denoise: bool = False, progress: Progress | None = None) -> list[Slice]:
    """Data preparation (step 1 of :func:`train_voice`) from prep's output: the slices of
    :func:`manifest_files` as they are (no VAD, no re-slicing), each normalised and
    peak-limited like :func:`prepare_slices`' slices.

    Raises:
        DataError / VoiceDataError: see :func:`manifest_files`.
    """
    return _slices_of_files(manifest_files(manifest, speaker), sample_rate, cut=False,
                            denoise=denoise, progress=progress)


# =========================================================================== training

def _native_rate(files: list[Path]) -> int:
    from discovervoice import audio as dva

    for f in files:  # a plainly bad recording is refused (named) before any model loads
        dva.preflight(f)
    return max(dva.info(f).sample_rate for f in files)


def train_voice(data_dir: str | Path | None, out_dir: str | Path, *, preset: str | None = None,
                cancel: Callable[[], bool] | None = None, **kwargs: Any) -> VoiceModel:
    """Train a voice from a folder of recordings or from prep's output (see the module
    docstring for the recipe).

    Args:
        data_dir: folder of the voice's recordings; ``None`` with ``manifest=``.
        out_dir: the voice folder to write.
        preset: a :data:`PRESETS` name (``quick``, ``good``, ``best``); sets ``steps``,
            ``eval_every`` and ``patience`` unless they are given too.
        cancel: polled between steps; when it returns true, training stops with
            :class:`TrainingCancelled`.
        **kwargs: the recipe's settings, see :func:`_train_voice` (``manifest=`` and
            ``speaker=`` train on a ``discovervoice prep`` dataset's slices).

    Returns:
        The trained :class:`VoiceModel` (also written to ``out_dir``).

    Raises:
        VoiceDataError: no audio, or less than :data:`MIN_VOICED_SECONDS` of voiced audio.
        TrainingCancelled: ``cancel()`` returned true.
        DiscoverVoiceError: unknown preset, or not exactly one of ``data_dir`` / ``manifest``.

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


@dataclass
class _TrainingData:
    """Where a voice's training audio comes from: a folder of recordings (cut at pauses
    here) or a prep manifest (its slices used as they are)."""

    name: str  # how messages name it
    files: list[Path]
    key: str  # its identity in the feature cache's key
    from_manifest: bool
    speaker: str | None = None

    @classmethod
    def of(cls, data_dir: str | Path | None, manifest: str | Path | None,
           speaker: str | None) -> "_TrainingData":
        if (data_dir is None) == (manifest is None):
            raise DiscoverVoiceError("voice training needs a folder of recordings or a prep manifest (one of them)")
        if manifest is not None:
            return cls(str(manifest), manifest_files(manifest, speaker),
                       json.dumps([str(Path(manifest).resolve()), speaker]), True, speaker)
        if speaker is not None:
            raise DiscoverVoiceError("speaker= picks a voice in a prep manifest; a folder of recordings is one voice")
        files = find_audio(data_dir)
        if not files:
            raise VoiceDataError(f"{data_dir}: no audio files ({', '.join(AUDIO_SUFFIXES)}) found")
        return cls(str(data_dir), files, str(Path(data_dir).resolve()), False)

    def slices(self, sample_rate: int, denoise: bool, progress: Progress | None) -> list[Slice]:
        return _slices_of_files(self.files, sample_rate, cut=not self.from_manifest, denoise=denoise,
                                progress=progress)

    def counted(self) -> str:
        n = len(self.files)
        return f"{n} {'slice' if self.from_manifest else 'recording'}{'' if n == 1 else 's'}"


class _RunLog:
    """``train/train.log``, the progress callback and the cancel poll of one training run."""

    def __init__(self, path: Path, progress: Progress | None, cancel: Callable[[], bool] | None):
        self._file = open(path, "a")
        self._progress, self._cancel = progress, cancel

    def write(self, msg: str) -> None:
        self._file.write(f"{time.strftime('%H:%M:%S')} {msg}\n")
        self._file.flush()

    def say(self, frac: float, msg: str) -> None:
        self.write(msg)
        if self._progress:
            self._progress(min(max(frac, 0.0), 1.0), msg)

    def check_cancel(self) -> None:
        if self._cancel is not None and self._cancel():
            self.write("cancelled")
            raise TrainingCancelled("training was cancelled; no voice was saved")

    def close(self) -> None:
        self._file.close()


def _features(data: _TrainingData, path: Path, key: str, *, enc: Any, f0_method: str, sr: int,
              order: int, denoise: bool, resume: bool, log: _RunLog
              ) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-3 of the recipe: ``(slice lengths, content[N, D], f0[N] Hz, WORLD targets
    [N, order + 1 + bands])`` on the 10 ms grid, read from the cache ``path`` when it was
    made with ``key``, else extracted and cached (atomically: a killed run never leaves a
    half-written cache to resume from).

    Raises:
        VoiceDataError: less than :data:`MIN_VOICED_SECONDS` of voiced frames.
    """
    from discovervoice.convert import f0 as F0
    from discovervoice.convert.world import analyze

    if resume and path.exists() and str(np.load(path, allow_pickle=False)["key"]) == key:
        z = np.load(path, allow_pickle=False)
        lengths = z["lengths"].tolist()
        log.say(0.3, f"resumed features of {len(lengths)} slices")
        return lengths, z["content"], z["f0"], z["y"]

    def preparing(f: float, m: str) -> None:
        log.check_cancel()
        log.say(0.05 * f, f"Preparing your recordings ({m})")

    slices = data.slices(sr, denoise, preparing)
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
        log.check_cancel()
        log.say(0.05 + 0.25 * (i + 1) / len(slices), f"Listening to your voice: piece {i + 1} of {len(slices)}")
    voiced_s = voiced / 100.0
    if voiced_s < MIN_VOICED_SECONDS:
        raise VoiceDataError(f"{data.name}: only {voiced_s:.1f} s of voiced sound (vowels, singing) found in "
                             f"{data.counted()}; a voice needs at least {MIN_VOICED_SECONDS:.0f} s — "
                             f"record more speaking or singing (words with pauses are about one third voiced)")
    C, Fz, Y = np.concatenate(Cs), np.concatenate(Fs), np.concatenate(Ys)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, key=np.array(key), lengths=np.array(lengths), content=C, f0=Fz, y=Y)
    return lengths, C, Fz, Y


def _normalised(C: np.ndarray, Fz: np.ndarray, Y: np.ndarray, lengths: list[int], name: str
                ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """``(stats, X, Yn, lf0)``: the voice's statistics (log-F0 mean / std, target mean /
    std, the GV post-filter's per-slice variance), the network input ``X`` (content + F0
    inputs), the z-scored targets ``Yn`` and the voiced log-F0 values.

    Raises:
        VoiceDataError: less than :data:`MIN_VOICED_SECONDS` of voiced frames.
    """
    from discovervoice.convert.world import f0_inputs, slice_gv

    voiced_f0 = Fz[Fz > 0]
    if len(voiced_f0) / 100.0 < MIN_VOICED_SECONDS:
        raise VoiceDataError(f"{name}: only {len(voiced_f0) / 100:.1f} s of voiced sound; "
                             f"a voice needs at least {MIN_VOICED_SECONDS:.0f} s")
    lf0 = np.log(voiced_f0)
    stats = {"lf0_mean": float(lf0.mean()), "lf0_std": float(lf0.std()),
             "y_mean": Y.mean(0).tolist(), "y_std": np.maximum(Y.std(0), 1e-3).tolist()}
    X = np.concatenate([C, f0_inputs(Fz, stats["lf0_mean"], stats["lf0_std"])], 1).astype(np.float32)
    Yn = ((Y - np.array(stats["y_mean"])) / np.array(stats["y_std"])).astype(np.float32)
    stats["gv"] = slice_gv(Yn, lengths).tolist()  # the GV post-filter's target (world.py)
    return stats, X, Yn, lf0


def _holdout(lengths: list[int], holdout: float) -> tuple[np.ndarray, list[int], np.ndarray]:
    """``(slice bounds [S + 1], held-out slice ids, training frame rows)``: every k-th
    slice (k = 1 / holdout) is held out; training pools the frames of the others (crops
    may span slice boundaries)."""
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    k = max(2, int(round(1 / max(holdout, 1e-3))))
    val_ids = [i for i in range(len(lengths)) if i % k == k // 2] or [len(lengths) - 1]
    tr_ids = [i for i in range(len(lengths)) if i not in val_ids] or val_ids
    tr_rows = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in tr_ids])
    return bounds, val_ids, tr_rows


@dataclass
class _Fit:
    """The outcome of :func:`_fit`: the best network and the run's facts for ``voice.json``."""

    net: Any
    step: int
    best: float
    best_step: int
    history: list
    stopped: str
    early: bool
    loop_seconds: float


def _fit(X: np.ndarray, Yn: np.ndarray, bounds: np.ndarray, val_ids: list[int], tr_rows: np.ndarray, *,
         net_cfg: dict, key: str, ckpt_path: Path, steps: int, batch: int, crop_frames: int, lr: float,
         eval_every: int, patience: int, resume: bool, device: str, rng: np.random.Generator,
         log: _RunLog, t_start: float) -> _Fit:
    """Step 4 of the recipe: AdamW on random crops with input noise, warm-up + cosine
    learning rate, the held-out L1 every ``eval_every`` steps (best weights kept, early stop
    after ``patience`` evaluations without improvement), a resumable checkpoint (network,
    optimiser, counters) at every evaluation; progress in words with the time left."""
    import torch

    from discovervoice.convert.world import build_world_net

    Xtr, Ytr = X[tr_rows], Yn[tr_rows]
    net = build_world_net(**net_cfg).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    st: dict[str, Any] = {"step": 0, "best": float("inf"), "best_step": 0, "bad": 0, "best_state": None,
                          "history": []}
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ck.get("net_cfg") == net_cfg and ck.get("key") == key:
            net.load_state_dict(ck["net"]); opt.load_state_dict(ck["opt"])
            st = {k: ck[k] for k in st}
            log.say(0.3, f"resumed training at step {st['step']}")
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
    stopped, early = "max steps", False
    t_train = time.time()
    t_before = t_train - t_start  # features (and loading), for a time-based progress fraction
    first_step = st["step"]

    def learning(msg_step: int) -> tuple[float, str]:
        """Progress fraction by time and the words for it, from the measured step time."""
        spent = time.time() - t_train
        left = spent / max(msg_step - first_step, 1) * (steps - msg_step)
        frac = 0.3 + 0.65 * (t_before + spent) / max(t_before + spent + left, 1e-9)
        return frac, f"Learning your voice: step {msg_step} of {steps}, about {_duration_words(left)} left"

    while st["step"] < steps:
        log.check_cancel()
        step = st["step"]
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
        step = st["step"] = step + 1
        if step % eval_every == 0 or step == steps:
            vl = val_loss()
            st["history"].append((step, float(loss.item()), vl))
            if vl < st["best"] - 1e-4:
                st.update(best=vl, best_step=step, bad=0,
                          best_state={k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
            else:
                st["bad"] += 1
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(), **st, "net_cfg": net_cfg, "key": key},
                       ckpt_path.with_suffix(".tmp"))
            ckpt_path.with_suffix(".tmp").replace(ckpt_path)
            log.write(f"step {step}/{steps} train L1 {loss.item():.4f} held-out L1 {vl:.4f} "
                      f"(best {st['best']:.4f} @ {st['best_step']})")
            if st["bad"] >= patience:
                stopped = (f"overtraining detected: held-out loss has not improved for {st['bad']} "
                           f"evaluations since step {st['best_step']}")
                early = True
                log.say(0.95, f"Learning your voice: it stopped improving at step {st['best_step']}, finishing early")
                break
        if step % 10 == 0 or step == steps:
            log.say(*learning(step))
    net.load_state_dict(st["best_state"] or net.state_dict())
    net.eval()
    return _Fit(net, st["step"], st["best"], st["best_step"], st["history"], stopped, early,
                time.time() - t_train)


def _write_voice(out: Path, *, net: Any, net_cfg: dict, index: Any, envelopes: Any, meta: dict) -> None:
    """Step 5: write ``added.index``, :data:`ENVELOPES`, ``model.safetensors``
    (:mod:`discovervoice.checkpoint`, format :data:`WORLD_NET_FORMAT`) and ``voice.json`` into
    a staging folder and move them in, ``voice.json`` last, so the folder never holds a
    half-written voice (a voice is what has a ``voice.json``)."""
    import secrets

    from discovervoice import checkpoint

    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging-{secrets.token_hex(4)}"
    staging.mkdir()
    index.save(staging / "added.index")
    envelopes.save(staging / ENVELOPES)
    checkpoint.save(staging / "model.safetensors", net.state_dict(), format=WORLD_NET_FORMAT, config=net_cfg,
                    architecture="WorldNet")
    (staging / "voice.json").write_text(json.dumps(meta, indent=1))
    for name in ("added.index", ENVELOPES, "model.safetensors", "voice.json"):
        os.replace(staging / name, out / name)
    staging.rmdir()


def _train_voice(data_dir: str | Path | None, out_dir: str | Path, *, manifest: str | Path | None = None,
                 speaker: str | None = None, content: str = "dv-content-ppg",
                 f0_method: str = "harvest", sample_rate: int | None = None, order: int = 40,
                 steps: int = 1500, batch: int = 16, crop_frames: int = 200, lr: float = 2e-3,
                 channels: int = 128, n_layers: int = 4, eval_every: int = 100, patience: int = 4,
                 holdout: float = 0.1, denoise: bool = False, resume: bool = True, device: str = "cpu",
                 threads: int | None = None, seed: int = 0, progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None) -> VoiceModel:
    """The recipe behind :func:`train_voice` (which adds presets and clean-up on failure).

    Args:
        data_dir: folder of the voice's recordings (any format discovervoice.audio reads),
            cut at pauses here; ``None`` with ``manifest``.
        out_dir: the voice folder to write.
        manifest: a ``discovervoice prep`` dataset (folder or ``manifest.jsonl``; a corpus'
            ``manifest.json`` too) whose slices are used as they are.
        speaker: with ``manifest``, the ``speaker`` label to train on; default: each
            source's main speaker (:func:`discovervoice.prep.manifest.voice_records`).
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
        DiscoverVoiceError: not exactly one of ``data_dir`` / ``manifest``.
    """
    import torch

    from discovervoice import weights
    from discovervoice.convert.content import load_content_encoder
    from discovervoice.convert.index import FeatureIndex

    t_start = time.time()
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    data = _TrainingData.of(data_dir, manifest, speaker)
    out = Path(out_dir)
    train_dir = out / "train"
    train_dir.mkdir(parents=True, exist_ok=True)
    log = _RunLog(train_dir / "train.log", progress, cancel)
    try:
        sr = int(sample_rate or (16000 if _native_rate(data.files) <= 16000 else 24000))
        enc = load_content_encoder(content)
        content_floor = getattr(enc, "floor", None)
        key = json.dumps([data.key, content, weights.fingerprint(content), content_floor, f0_method, sr,
                          order, denoise])
        lengths, C, Fz, Y = _features(data, train_dir / "features.npz", key, enc=enc, f0_method=f0_method,
                                      sr=sr, order=order, denoise=denoise, resume=resume, log=log)
        stats, X, Yn, lf0 = _normalised(C, Fz, Y, lengths, data.name)
        bounds, val_ids, tr_rows = _holdout(lengths, holdout)
        net_cfg = dict(in_dim=X.shape[1], out_dim=Y.shape[1], channels=channels, n_layers=n_layers)
        # seeded here, not at the start: loading the content encoder draws from torch's generator
        # only when it is not cached in this process yet, which made two runs differ
        torch.manual_seed(seed)
        fit = _fit(X, Yn, bounds, val_ids, tr_rows, net_cfg=net_cfg, key=key, ckpt_path=train_dir / "checkpoint.pt",
                   steps=steps, batch=batch, crop_frames=crop_frames, lr=lr, eval_every=eval_every,
                   patience=patience, resume=resume, device=device, rng=rng, log=log, t_start=t_start)
        train_seconds = time.time() - t_start
        log.check_cancel()
        log.say(0.96, "Finishing: saving your voice")
        train = {"data": str(Path(data.name).resolve()), "files": len(data.files), "slices": len(lengths),
                 "seconds": round(float(sum(lengths)) / 100, 1), "voiced_seconds": round(len(lf0) / 100, 1),
                 "steps": fit.step, "best_step": fit.best_step, "best_heldout_l1": fit.best,
                 "stopped": fit.stopped, "train_seconds": round(train_seconds, 1),
                 "loop_seconds": round(fit.loop_seconds, 1), "history": fit.history, "device": device,
                 "holdout": holdout}
        if data.from_manifest:
            train.update(manifest=True, speaker=data.speaker)
        meta = {
            "format": FORMAT, "kind": "world", "sample_rate": sr, "order": order, "content": content,
            "content_floor": content_floor, "f0_method": f0_method, "net": net_cfg, "stats": stats,
            "f0": {"median_hz": float(np.exp(np.median(lf0))), "p5_hz": float(np.exp(np.percentile(lf0, 5))),
                   "p95_hz": float(np.exp(np.percentile(lf0, 95)))},
            "train": train,
        }
        _write_voice(out, net=fit.net, net_cfg=net_cfg, index=FeatureIndex.build(C[tr_rows]),
                     envelopes=_envelope_table(Yn[tr_rows], Fz[tr_rows], order), meta=meta)
        log.write(f"voice written to {out} ({fit.stopped})")
        log.say(1.0, "Your voice is ready" + (" (stopped early: it no longer improved)" if fit.early else ""))
    finally:
        log.close()
    return VoiceModel.load(out)

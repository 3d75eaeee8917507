"""The ``Separator`` API (after ``demucs.api.Separator``) and batch separation of files.

``Separator(model=..., device=..., segment=..., overlap=..., shifts=..., jobs=...,
progress=..., stems=...).separate(audio_or_path) -> {stem: ndarray[C, T]}``

* ``model``: ``"default"`` (the embedded small MDX23C fine-tuned on real recordings,
  ``dv-mdx23c-real``: the best embedded model on real material, within 0.5 dB of
  ``dv-mdx23c-small`` on the synthetic test songs; see its model card), any separation model of the
  weights registry (``htdemucs``, ``htdemucs_ft``, ``mdx23c_instvoc_hq``,
  ``bs_roformer_viperx_1297``, ``mel_roformer_kim_vocals``, ``dv-...``), a checkpoint path
  (``.th`` demucs package, ``.ckpt`` MDX23C or BS-/Mel-RoFormer with its yaml, told apart by
  the yaml's ``model:`` section; ``.safetensors`` DiscoverVoice file), an already built
  network, ``"ensemble"``, or an ensemble preset name (``vocal_balanced``, ``karaoke``...;
  see :mod:`discovervoice.separation.ensemble`).
* ``overlap``: ``None`` runs each network with its checkpoints' own convention (MSST
  ``num_overlap`` for RoFormers: 0.5 for the published vocals models; 0.25 otherwise).
* ``stems``: ``None`` gives every stem the model has; one name (``("vocals",)``) is the
  two-stem mode: that stem and its complement (``accompaniment`` for vocals, ``no_<stem>``
  otherwise; demucs' ``--two-stems``); several names give that subset. With
  ``model="htdemucs_ft"`` and ``stems=("vocals",)`` only the vocals sub-model is loaded.
* Channels: a mono input is duplicated for a stereo network and the stems averaged back to
  mono; more than two channels are separated pair by pair. The output keeps the input's
  channel count and length exactly.
* Demucs-format networks get demucs' input standardisation (``separate.py``: subtract the
  mean, divide by the standard deviation of the mono mix, undo it on the output).

Sample rates: :attr:`Separator.sample_rate` is the model's; arrays must already be at it
(the pipeline resamples); paths are loaded and resampled by :func:`discovervoice.audio.load`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from discovervoice.errors import AudioError, SeparationError, WeightsError  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]
#: The embedded default model and the default ensemble members.
DEFAULT_MODEL = "dv-mdx23c-real"
DEFAULT_ENSEMBLE = ("dv-htdemucs-small", "dv-mdx23c-small")
ACCOMPANIMENT = "accompaniment"
#: Names that, in a two-source model with vocals, mean "everything but the vocals".
_ACCOMP_ALIASES = {"accompaniment", "instrumental", "other", "no_vocals", "karaoke", "inst"}
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".opus", ".webm", ".aiff",
                  ".aif", ".wma")



def _load_network(model: str | os.PathLike, stems: Sequence[str] | None) -> tuple[Any, str]:
    """``(network, name)`` for a registry name or a checkpoint path."""
    from discovervoice import weights as W
    from discovervoice.separation import models as M

    name = str(model)
    if name == "default":
        name = DEFAULT_MODEL
    reg = W.registry()
    if name == "htdemucs_ft" and stems is not None and list(stems) == ["vocals"]:
        # only the vocals sub-model is needed (htdemucs_ft_vocals); it may sit in either cache
        try:
            path = W.resolve("htdemucs_ft_vocals")
            return M.load_demucs_checkpoint(path, W.get_spec("htdemucs_ft_vocals")), "htdemucs_ft_vocals"
        except WeightsError:
            spec = W.get_spec("htdemucs_ft")
            sub = spec.files[int(spec.extra["sub_model_for_stem"]["vocals"])]
            cached = W.cache_dir() / "htdemucs_ft" / sub.filename
            if cached.exists():
                return M.load_demucs_checkpoint(cached), "htdemucs_ft_vocals"
            raise
    if name in reg:
        spec = reg[name]
        if spec.task != "separation":
            raise WeightsError(f"model {name!r} is a {spec.task} model, not a separation model")
        net = W.load_model(name, stems=stems)
        return net, name
    from discovervoice.separation.ensemble import PRESETS

    p = Path(name).expanduser()
    if not p.exists() and name in PRESETS:
        raise SeparationError(f"{name!r} is an ensemble preset: use Separator({name!r}) or "
                              f"--ensemble-preset {name}")
    if not p.exists():
        known = sorted(k for k, s in reg.items() if s.task == "separation")
        raise WeightsError(f"unknown separation model {name!r}: not in the registry "
                           f"({', '.join(known)}) and no such file")
    if p.is_dir():
        if list(p.glob("*.ckpt")):
            return load_msst_checkpoint(p), p.name
        return M.load_demucs_checkpoint(p), p.name
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        return M.load_embedded(p), p.stem
    if suffix == ".ckpt":
        return load_msst_checkpoint(p), p.stem
    if suffix in (".th", ".pt", ".pth"):
        return M.load_demucs_checkpoint(p), p.stem
    raise WeightsError(f"{p}: unknown checkpoint type {suffix!r} (.th, .ckpt + .yaml, .safetensors)")


def load_msst_checkpoint(path: str | os.PathLike, spec: Any = None, **kwargs: Any) -> Any:
    """Load an MSST/UVR ``.ckpt`` + yaml pair (a file, or a folder holding both) as the
    network its yaml describes: a BS-/Mel-RoFormer
    (:func:`discovervoice.separation.roformer.load_roformer_checkpoint`) when the ``model:``
    section is a RoFormer's, else MDX23C (:func:`discovervoice.separation.models.
    load_mdx23c_checkpoint`).

    Raises:
        WeightsError: missing/unreadable files, or tensors that do not fit the config.
    """
    from discovervoice.separation import models as M
    from discovervoice.separation import roformer as RF

    p = Path(path)
    ckpt = p
    if p.is_dir():
        ckpts = sorted(p.glob("*.ckpt"))
        if len(ckpts) != 1:
            raise WeightsError(f"{p}: expected one .ckpt file, found {len(ckpts)}")
        ckpt = ckpts[0]
    cfg_path = kwargs.get("config") or M._find_yaml(ckpt)
    cfg = cfg_path if isinstance(cfg_path, Mapping) else M.read_mdx23c_config(cfg_path)
    if RF.roformer_kind(cfg):
        return RF.load_roformer_checkpoint(ckpt, spec, config=cfg_path)
    return M.load_mdx23c_checkpoint(ckpt, spec, config=cfg_path)


def _stem_names(sources: Sequence[str]) -> list[str]:
    """Model source names with the complement of vocals called ``accompaniment``."""
    s = [str(x).lower() for x in sources]
    if len(s) == 2 and "vocals" in s:
        return [x if x == "vocals" else ACCOMPANIMENT for x in s]
    return s


def complement_name(stem: str) -> str:
    """Name of everything-but-``stem`` in two-stem mode."""
    return ACCOMPANIMENT if stem == "vocals" else f"no_{stem}"


class Separator:
    """Separate music into stems.

    Args:
        model: see the module docstring (name, path, network, or ``"ensemble"``).
        device: ``"cpu"``, ``"cuda"``...
        segment: chunk length in seconds (default: the network's training segment, or the
            checkpoint's inference chunk for MSST RoFormers).
        overlap: chunk overlap fraction in ``[0, 1)`` (default ``None``: the network's own
            convention, see :func:`discovervoice.separation.apply.default_overlap`).
        shifts: random shifts averaged (demucs' shift trick), 0 = off.
        jobs: worker threads for chunks (CPU).
        batch_size: chunks per forward call.
        progress: ``progress(fraction, message)`` callback.
        stems: ``None`` (all), one stem (two-stem mode) or a subset.
        members, weights, method: for ``model="ensemble"``: member models (default
            :data:`DEFAULT_ENSEMBLE`), their weights (default equal), and the combination
            (``average``, ``median_mag``, ``max_mag``, ``min_mag``, ``mask_avg``).
        preset: an ensemble preset of :data:`discovervoice.separation.ensemble.PRESETS`
            (members and method); ``model`` may also be the preset's name.
        wiener: ``None`` (off) or the number of EM iterations of a multichannel Wiener
            filter that re-estimates all stems from the mixture after the network
            (:func:`discovervoice.separation.wiener.wiener_filter`; open-unmix's ``niter``).
            1 raises ``dv-mdx23c-real``'s vocals uSDR on real songs by about 0.9 dB at about
            twice the CPU time (weights/dv-mdx23c-real.md).

    Attributes:
        sample_rate: Hz the model works at.
        stems: names of the stems :meth:`separate` returns, in order.
        audio_channels: channels the network takes (input of any count is mapped).

    Raises:
        WeightsError: unknown or unavailable model (the message says how to fetch it).
        SeparationError: stems the model cannot give, or bad settings.
    """

    def __init__(self, model: Any = "default", device: str = "cpu", segment: float | None = None,
                 overlap: float | None = None, shifts: int = 0, progress: ProgressFn | None = None,
                 stems: Sequence[str] | None = None, *, jobs: int = 0, batch_size: int = 1,
                 members: Sequence[Any] | None = None, weights: Sequence[float] | None = None,
                 method: str = "average", normalize: bool | None = None, preset: str | None = None,
                 wiener: int | None = None):
        from discovervoice.separation.ensemble import PRESETS

        if isinstance(model, str) and model in PRESETS and preset is None:
            preset, model = model, "ensemble"
        if preset is not None:
            if preset not in PRESETS:
                raise SeparationError(f"unknown ensemble preset {preset!r}; presets: {', '.join(PRESETS)}")
            p = PRESETS[preset]
            model, members, method = "ensemble", list(p.members), p.method
            weights = list(p.weights) if p.weights else weights
        if overlap is not None and not 0.0 <= overlap < 1.0:
            raise SeparationError(f"overlap must be in [0, 1), got {overlap}")
        if shifts < 0:
            raise SeparationError(f"shifts must be >= 0, got {shifts}")
        if wiener is not None and not 0 <= int(wiener) <= 10:
            raise SeparationError(f"wiener must be None or 0..10 EM iterations, got {wiener}")
        self.wiener = None if wiener is None else int(wiener)
        if segment is not None and segment <= 0:
            raise SeparationError(f"segment must be > 0 seconds, got {segment}")
        self.device, self.segment, self.overlap, self.shifts = device, segment, overlap, shifts
        self.jobs, self.batch_size, self.progress = jobs, batch_size, progress
        self.requested = None if stems is None else [str(s).lower() for s in stems]
        self.ensemble = None
        if isinstance(model, str) and model == "ensemble":
            from discovervoice.separation.ensemble import Ensemble

            names = list(members) if members else list(DEFAULT_ENSEMBLE)
            seps = [Separator(m, device=device, segment=segment, overlap=overlap, shifts=shifts,
                              stems=None, jobs=jobs, batch_size=batch_size, normalize=normalize)
                    for m in names]
            self.ensemble = Ensemble(seps, weights=weights, method=method)
            self.name = (f"{preset}:" if preset else "ensemble(") + ",".join(s.name for s in seps) + \
                ("" if preset else ")")
            self.network = None
            self.sample_rate = seps[0].sample_rate
            self.audio_channels = seps[0].audio_channels
            self._model_stems = self.ensemble.stems
            self.normalize = False
        else:
            if hasattr(model, "forward") and hasattr(model, "sources"):
                self.network, self.name = model, type(model).__name__
            else:
                self.network, self.name = _load_network(model, self.requested)
            self.network.eval()
            self.sample_rate = int(self.network.samplerate)
            self.audio_channels = int(self.network.audio_channels)
            self._model_stems = _stem_names(self.network.sources)
            if normalize is None:
                from discovervoice.separation.mdx23c import MDX23C

                members_ = list(getattr(self.network, "models", [self.network]))
                normalize = not any(isinstance(m, MDX23C) for m in members_) and \
                    not hasattr(self.network, "_dv_kwargs")
            self.normalize = bool(normalize)
        self.stems = self._output_stems()

    # ----------------------------------------------------------------- stems
    def _output_stems(self) -> list[str]:
        have = self._model_stems
        req = self.requested
        if req is None:
            return list(have)
        if len(req) == 1:
            stem = req[0]
            if stem not in have:
                raise SeparationError(f"model {self.name} has no stem {stem!r}; it gives {have}")
            comp = complement_name(stem)
            return [stem, comp]
        missing = [s for s in req if s not in have and s != ACCOMPANIMENT]
        if missing:
            raise SeparationError(f"model {self.name} cannot give {missing}; it gives {have} "
                                  f"(use htdemucs for four stems)")
        return req

    def _select(self, est: dict[str, np.ndarray], mixture: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for s in self.stems:
            if s in est:
                out[s] = est[s]
            elif s == ACCOMPANIMENT or s.startswith("no_"):
                base = "vocals" if s == ACCOMPANIMENT else s[3:]
                others = [v for k, v in est.items() if k != base]
                out[s] = np.sum(others, axis=0) if others else mixture - est[base]
            else:  # pragma: no cover - guarded by _output_stems
                raise SeparationError(f"stem {s!r} not produced")
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}

    # ----------------------------------------------------------------- core
    def _run_network(self, mix: np.ndarray, progress: Callable[[float], None] | None) -> np.ndarray:
        """``ndarray[C_model, T] -> ndarray[S, C_model, T]``."""
        import torch

        from discovervoice.separation.apply import apply_model

        x = torch.from_numpy(np.ascontiguousarray(mix, dtype=np.float32))
        mean = std = None
        if self.normalize:
            ref = x.mean(0)
            mean, std = ref.mean(), ref.std()
            if float(std) < 1e-8:
                std = torch.tensor(1.0)
            x = (x - mean) / std
        cb = None if progress is None else (lambda f, m: progress(f))
        y = apply_model(self.network, x, segment=self.segment, overlap=self.overlap,
                        shifts=self.shifts, device=self.device, jobs=self.jobs,
                        batch_size=self.batch_size, progress=cb)[0]
        if self.normalize:
            y = y * std + mean
        return y.numpy()

    def _separate_array(self, audio: np.ndarray, progress: ProgressFn | None) -> dict[str, np.ndarray]:
        """All model stems for ``audio`` ``[C, T]`` (any C), same shape each."""
        c, t = audio.shape
        mc = self.audio_channels
        groups: list[tuple[list[int], np.ndarray]] = []
        if c == mc:
            groups = [(list(range(c)), audio)]
        elif mc == 2 and c == 1:
            groups = [([0], np.concatenate([audio, audio]))]
        elif mc == 1:
            groups = [([i], audio[i:i + 1]) for i in range(c)]
        else:  # mc == 2, c > 2: pairs, and a lone last channel duplicated
            for i in range(0, c, 2):
                idx = [i, i + 1] if i + 1 < c else [i]
                seg = audio[idx] if len(idx) == 2 else np.concatenate([audio[idx], audio[idx]])
                groups.append((idx, seg))
        stems = self._model_stems
        if len(groups) == 1 and len(groups[0][0]) == mc:  # the common case: no copies
            y = self._run_network(groups[0][1], None if progress is None
                                  else (lambda f: progress(f, "separating")))
            return {s: y[si] for si, s in enumerate(stems)}
        out = {s: np.zeros((c, t), dtype=np.float32) for s in stems}
        for gi, (idx, seg) in enumerate(groups):
            def prog(f: float, gi: int = gi) -> None:
                if progress is not None:
                    progress((gi + f) / len(groups), "separating")
            y = self._run_network(seg, prog)  # [S, mc, T]
            for si, s in enumerate(stems):
                if len(idx) == y.shape[1]:
                    out[s][idx] = y[si]
                else:  # duplicated mono: average back
                    out[s][idx[0]] = y[si].mean(axis=0)
        return out

    def separate(self, audio: np.ndarray | str | os.PathLike, sample_rate: int | None = None
                 ) -> dict[str, np.ndarray]:
        """Separate one signal.

        Args:
            audio: ``ndarray[C, T]`` or ``ndarray[T]`` (float, at :attr:`sample_rate`), or a
                path (decoded and resampled to :attr:`sample_rate`).
            sample_rate: the array's rate in Hz, checked against :attr:`sample_rate`.

        Returns:
            ``{stem: ndarray[float32, C, T]}`` for :attr:`stems`, with the input's ``C``
            and ``T`` (a ``[T]`` input gives ``[1, T]`` stems).

        Raises:
            AudioLoadError: an unreadable path.
            AudioError: a wrong rate, empty, non-finite or badly shaped array.
        """
        from discovervoice import audio as dva

        if isinstance(audio, (str, os.PathLike)):
            x = dva.load(audio, self.sample_rate)  # the loader's 2-hour limit, from the header
        else:
            if sample_rate is not None and int(sample_rate) != self.sample_rate:
                raise AudioError(f"audio at {sample_rate} Hz, the separator works at "
                                 f"{self.sample_rate} Hz; resample it first "
                                 f"(discovervoice.audio.resample)")
            x = np.asarray(audio, dtype=np.float32)
            if x.ndim == 1:
                x = x[None, :]
            dva.validate(x, self.sample_rate)
            if not np.isfinite(x).all():
                raise AudioError("audio contains NaN or infinite samples")
        if self.progress is not None:
            self.progress(0.0, f"separating with {self.name}")
        if self.ensemble is not None:
            est = self.ensemble.separate(x, self.progress)
        else:
            est = self._separate_array(x, self.progress)
        if self.wiener is not None:
            from discovervoice.separation.wiener import wiener_filter

            if self.progress is not None:
                self.progress(0.99, "Wiener filtering")
            est = wiener_filter(x, est, self.sample_rate, iterations=self.wiener)
        result = self._select(est, x)
        if self.progress is not None:
            self.progress(1.0, "done")
        return result

    def __repr__(self) -> str:
        return (f"Separator(model={self.name!r}, sample_rate={self.sample_rate}, stems={self.stems}, "
                f"segment={self.segment}, overlap={self.overlap}, shifts={self.shifts}, "
                f"wiener={self.wiener})")


# --------------------------------------------------------------------------- files

@dataclass
class SeparationReport:
    """Outcome of :func:`separate_files`.

    Attributes:
        written: track folders written.
        skipped: ``(input, reason)`` for inputs whose outputs exist (no ``force``).
        failed: ``(input, reason)`` for inputs that could not be read or separated.
    """

    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def collect_inputs(inputs: Iterable[str | os.PathLike]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to separate from files and folders (folders: audio files, recursively, sorted).

    Returns:
        ``(files, problems)``: a missing path or a folder without audio is a problem.
    """
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES
                           and not f.name.startswith("."))
            if not found:
                problems.append((p, "folder holds no audio files"))
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            problems.append((p, "no such file or folder"))
    return files, problems


def _track_names(files: Sequence[Path]) -> list[str]:
    names = [f.stem for f in files]
    dup = {n for n in names if names.count(n) > 1}
    return [f"{f.parent.name}_{f.stem}" if f.stem in dup else f.stem for f in files]


def separate_files(separator: Separator, inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike,
                   *, fmt: str = "wav", force: bool = False,
                   log_fn: Callable[[str], None] | None = None) -> SeparationReport:
    """Separate files into ``out_dir/<track>/<stem>.<fmt>``.

    Bad files (unreadable, empty, invalid) are reported in ``failed`` and the rest go on;
    a file longer than :data:`~discovervoice.separation.stream.STREAM_ABOVE_SECONDS` that
    libsndfile reads is separated block by block (:mod:`discovervoice.separation.stream`);
    a track whose output files all exist is skipped unless ``force`` (one with some stems
    missing, from a killed run, is separated again); files are written
    atomically (:func:`discovervoice.audio.save`), clipped to [-1, 1] except float wav.

    Raises:
        SeparationError: unknown ``fmt``.
    """
    from discovervoice import audio as dva
    from discovervoice.separation import stream

    if fmt not in ("wav", "flac", "mp3"):
        raise SeparationError(f"unknown output format {fmt!r}; use wav, flac or mp3")
    report = SeparationReport()
    files, problems = collect_inputs(inputs)
    report.failed.extend(problems)
    out = Path(out_dir)
    for f, track in zip(files, _track_names(files)):
        dest = out / track
        targets = [dest / f"{s}.{fmt}" for s in separator.stems]
        existing = [t for t in targets if t.exists()]
        # a track counts as done only when every stem is there: a run killed between two
        # stems' (atomic) writes leaves some, and the next run redoes the track
        if existing and len(existing) == len(targets) and not force:
            report.skipped.append((f, f"{existing[0]} exists (use --force to overwrite)"))
            continue
        try:
            if stream.can_stream(f):  # a long file: block by block, memory bounded by a block
                stream.separate_file_streaming(separator, f, dict(zip(separator.stems, targets)),
                                               clip="none" if fmt == "wav" else "clamp")
                report.written.append(dest)
                if log_fn is not None:
                    log_fn(f"separated {f} -> {dest}")
                continue
            est = separator.separate(f)
        except (AudioError, OSError) as exc:
            report.failed.append((f, str(exc)))  # reported once, by the caller, from report.failed
            continue
        for s, t in zip(separator.stems, targets):
            dva.save(t, est[s], separator.sample_rate, clip="none" if fmt == "wav" else "clamp")
        report.written.append(dest)
        if log_fn is not None:
            log_fn(f"separated {f} -> {dest}")
    return report


def separate(audio: np.ndarray | str | os.PathLike, model: str = "default", **kwargs: Any
             ) -> dict[str, np.ndarray]:
    """One-call helper: ``Separator(model, **kwargs).separate(audio)``."""
    return Separator(model, **kwargs).separate(audio)


def describe(models: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Separation models of the registry as dicts (name, architecture, rate, embedded)."""
    from discovervoice import weights as W

    reg = models or W.registry()
    return [{"name": s.name, "architecture": s.architecture, "sample_rate": s.sample_rate,
             "embedded": s.embedded, "stems": s.extra.get("stems")}
            for s in reg.values() if s.task == "separation"]

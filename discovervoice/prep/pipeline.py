"""Dataset preparation: raw recordings or songs -> a folder of clean, labelled slices.

For every input file (:func:`prepare`):

1. load at ``options.sample_rate`` (:func:`discovervoice.audio.load`);
2. remove music/background with :class:`discovervoice.separation.Separator` unless
   ``separate=False``: the vocal stem becomes the voice track when the recording is mostly
   sung; a recording that is mostly speech stays its own voice track and the stem only
   judges sung-looking runs (:func:`discovervoice.prep.segmentation.segment_auto`;
   ``separate_speech=True`` keeps the stem for speech too);
3. optionally denoise the voice track with :mod:`discovervoice.enhance`;
4. segment into speech / singing / music / silence (:mod:`discovervoice.prep.segmentation`),
   written to ``segments/<source_id>.csv``;
5. diarize the voice segments (:mod:`discovervoice.prep.diarization`) and keep the speakers
   asked for;
6. slice the kept voice segments at quiet points (:mod:`discovervoice.prep.slicing`),
   band-filter (:mod:`discovervoice.prep.filters`), loudness-normalise
   (:func:`discovervoice.audio.normalize_lufs`) and write each slice;
7. estimate the voice's sex per slice (:mod:`discovervoice.prep.sex`) and transcribe it
   when asked (:mod:`discovervoice.transcribe`).

Output folder::

    DATASET/
      slices/<source_id>/<nnnn>_<label>_<speaker>.wav
      segments/<source_id>.csv      start,end,label,speaker,sex_estimate,sex_confidence
      parts/<source_id>.json        per-source record (resume state + its manifest rows)
      manifest.jsonl                one JSON object per slice (see MANIFEST_FIELDS)
      summary.json                  minutes kept per speaker and label, failures

Resumable: a source whose ``parts`` record matches the file (size, mtime) and the options
is skipped. A file that cannot be read or processed is reported in the summary
(``failed``) and the run goes on (the lhotse ``skip bad files`` habit).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from discovervoice.errors import DataError, DiscoverVoiceError, StageUnavailableError
from discovervoice.progress import Progress
from discovervoice.fileio import atomic_path, write_json
from discovervoice.prep.diarization import DISTANCE_THRESHOLD
from discovervoice.prep.filters import FilterSpec
from discovervoice.prep.segmentation import VOICE_LABELS, Segment, SegmentOptions

log = logging.getLogger(__name__)

#: Keys of every manifest.jsonl record.
MANIFEST_FIELDS = ("file", "source", "start", "end", "duration", "label", "speaker",
                   "sex_estimate", "sex_confidence", "text", "loudness")
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".webm", ".wma",
                  ".aif", ".aiff"}
FORMAT_VERSION = 1


class PrepError(DiscoverVoiceError):
    """Dataset preparation cannot run as asked (bad options, no inputs...)."""


@dataclass
class PrepOptions:
    """Settings of :func:`prepare`.

    Attributes:
        sample_rate: rate of the written slices and of the work, Hz.
        channels: channels of the written slices (1 = mono).
        separate: remove music with the Separator (vocal stem = voice track).
        separate_speech: also use the vocal stem when the voice is mostly speech; by
            default such a recording stays its own voice track and the stem only serves
            to reject instrumental runs (:func:`discovervoice.prep.segmentation.segment_auto`).
        separator_model: registry name or path of the separation model (``None``: default).
        denoise: run the speech enhancer on the voice track.
        enhancer_model: registry name or path of the enhancer (``None``: default).
        labels: segment labels kept as slices (``speech``, ``singing``).
        min_seconds, max_seconds: slice length bounds, seconds.
        join_gap_seconds: voice segments of the same label and speaker closer than this
            are joined before slicing (a short pause stays inside a slice).
        target_lufs: loudness of every slice, LUFS; ``None`` leaves levels alone.
        filters: band filters applied to every slice.
        diarize: find speakers; ``n_speakers`` fixes their number (``None``: automatic,
            the Ward speaker tree cut at ``speaker_distance``,
            :data:`discovervoice.prep.diarization.DISTANCE_THRESHOLD`; higher finds fewer
            speakers).
        keep_speakers: speaker names to keep (``spk0``...) or ``"main"`` (the speaker
            with the most voice time); empty keeps all.
        estimate_sex: add the sex estimate to every slice.
        transcribe: transcribe every slice with ``transcribe_backend`` (``pocketsphinx``,
            offline, English; or ``whisper``), ``transcribe_model`` (Whisper name or
            folder) and ``language`` (see :mod:`discovervoice.transcribe`).
        audio_format: ``wav`` or ``flac``.
        voice_classifier: speech/singing/music window classifier: ``"default"`` (the
            shipped ``dv-prep-voicetype``, else fixed thresholds), ``"rule"`` or a file.
        segment: thresholds of the segmentation.
    """

    sample_rate: int = 44_100
    channels: int = 1
    separate: bool = True
    separate_speech: bool = False
    separator_model: str | None = None
    denoise: bool = False
    enhancer_model: str | None = None
    labels: tuple[str, ...] = VOICE_LABELS
    min_seconds: float = 2.0
    max_seconds: float = 15.0
    join_gap_seconds: float = 0.6
    target_lufs: float | None = -23.0
    filters: FilterSpec = field(default_factory=FilterSpec)
    diarize: bool = True
    n_speakers: int | None = None
    speaker_distance: float = DISTANCE_THRESHOLD
    keep_speakers: tuple[str, ...] = ()
    estimate_sex: bool = True
    transcribe: bool = False
    transcribe_backend: str = "pocketsphinx"
    transcribe_model: str | None = None
    language: str | None = None
    audio_format: str = "wav"
    voice_classifier: str = "default"
    segment: SegmentOptions = field(default_factory=SegmentOptions)

    def validate(self) -> None:
        """Raise :class:`PrepError` on inconsistent settings."""
        if not 0 < self.min_seconds <= self.max_seconds:
            raise PrepError(f"need 0 < --min-seconds <= --max-seconds, got "
                            f"{self.min_seconds} and {self.max_seconds}")
        bad = [lab for lab in self.labels if lab not in VOICE_LABELS]
        if bad or not self.labels:
            raise PrepError(f"labels {list(self.labels)}: keep one or both of speech, singing")
        if self.audio_format not in ("wav", "flac"):
            raise PrepError(f"audio format must be wav or flac, got {self.audio_format!r}")
        if self.channels not in (1, 2):
            raise PrepError(f"channels must be 1 or 2, got {self.channels}")
        if self.n_speakers is not None and self.n_speakers < 1:
            raise PrepError(f"n_speakers must be >= 1, got {self.n_speakers}")
        if not 0.0 < self.speaker_distance < float("inf"):
            raise PrepError(f"speaker distance must be a positive number, got "
                            f"{self.speaker_distance}")

    def fingerprint(self) -> str:
        """Hash of every option that changes the output (for resuming)."""
        d = dataclasses.asdict(self)
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- helpers

def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, and audio files (by suffix) found recursively in folders; sorted,
    without duplicates. Paths that do not exist are kept (they are reported as failures)."""
    out: list[Path] = []
    seen = set()
    for item in inputs:
        p = Path(item)
        found = (sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
                 if p.is_dir() else [p])
        for f in found:
            key = str(f.resolve())
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def source_id(path: Path) -> str:
    """Stable, file-system-safe id of a source: ``<stem>-<8 hex of sha1(absolute path)>``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem)[:60] or "audio"
    return f"{stem}-{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"


def _file_stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime": round(st.st_mtime, 3)}


def _atomic_json(path: Path, obj) -> None:
    write_json(path, obj)


def _sub_progress(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    if progress is None:
        return None
    return lambda f, msg: progress(lo + (hi - lo) * min(max(f, 0.0), 1.0), msg)


# --------------------------------------------------------------------------- stages

class _Stages:
    """Lazily loaded models shared by all files of one run."""

    def __init__(self, options: PrepOptions):
        self.o = options
        self._separator = None
        self._enhancer = None
        self._transcriber = None
        self._voice_classifier = None
        self.warnings: list[str] = []

    def separator(self):
        if self._separator is None:
            try:
                self._separator = _load_separator(self.o.separator_model)
            except DiscoverVoiceError as exc:
                raise StageUnavailableError(f"cannot load the separation model: {exc} (for "
                                            "recordings without music, use --no-separate)") from exc
        return self._separator

    def enhancer(self):
        if self._enhancer is None:
            from discovervoice.enhance.apply import load

            try:
                self._enhancer = load(self.o.enhancer_model) if self.o.enhancer_model else load()
            except DiscoverVoiceError as exc:
                raise StageUnavailableError(f"cannot load the enhancement model: {exc}") from exc
        return self._enhancer

    def voice_classifier(self):
        if self._voice_classifier is None:
            from discovervoice.prep.voicetype import get_classifier

            try:
                self._voice_classifier = get_classifier(self.o.voice_classifier)
            except DiscoverVoiceError as exc:
                raise StageUnavailableError(f"cannot load the voice-type classifier: {exc}") from exc
        return self._voice_classifier

    def transcriber(self):
        if self._transcriber is None:
            from discovervoice.transcribe.api import load_transcriber

            try:
                self._transcriber = load_transcriber(self.o.transcribe_backend,
                                                     model=self.o.transcribe_model,
                                                     language=self.o.language)
            except DiscoverVoiceError as exc:
                raise StageUnavailableError(f"cannot load the transcriber: {exc}") from exc
        return self._transcriber


def _load_separator(name: str | None):
    """A :class:`discovervoice.separation.Separator` for ``name`` (``None``: its default)
    giving the vocal stem and its complement."""
    from discovervoice.separation.api import Separator

    return Separator(name or "default", stems=["vocals"])


def separate_vocals(separator, audio: np.ndarray, sample_rate: int,
                    progress: Progress | None = None) -> np.ndarray:
    """The vocal stem of ``audio`` (``ndarray[C, T]`` at ``sample_rate``), same rate,
    channels and length (resampled to the separator's ``sample_rate`` and back).

    Raises:
        PrepError: the separator gives no ``vocals`` stem.
    """
    from discovervoice.audio import resample, to_channels

    sr = int(separator.sample_rate)
    x = resample(to_channels(audio, int(getattr(separator, "audio_channels", 2))), sample_rate, sr)
    old = getattr(separator, "progress", None)
    if progress is not None and hasattr(separator, "progress"):
        separator.progress = progress
    try:
        stems = separator.separate(x, sample_rate=sr)
    finally:
        if hasattr(separator, "progress"):
            separator.progress = old
    if "vocals" not in stems:
        raise PrepError(f"the separator gave stems {sorted(stems)}, but no 'vocals'")
    v = resample(np.asarray(stems["vocals"], dtype=np.float32), sr, sample_rate)
    v = to_channels(v, audio.shape[0])
    n = audio.shape[1]
    return np.pad(v, ((0, 0), (0, max(0, n - v.shape[1]))))[:, :n]


def denoise(enhancer, audio: np.ndarray, sample_rate: int,
            progress: Progress | None = None) -> np.ndarray:
    """``audio`` (``ndarray[C, T]``) through the enhancer, resampled there and back."""
    from discovervoice.audio import resample

    sr = int(enhancer.sample_rate)
    y = enhancer.enhance(resample(audio, sample_rate, sr), progress=progress)
    y = resample(np.asarray(y, dtype=np.float32), sr, sample_rate)
    n = audio.shape[1]
    return np.pad(y, ((0, 0), (0, max(0, n - y.shape[1]))))[:, :n]


def transcribe_slice(transcriber, audio: np.ndarray, sample_rate: int,
                     language: str | None = None) -> str:
    """Text of one slice (``ndarray[C, T]`` at ``sample_rate``) through a transcriber of
    :mod:`discovervoice.transcribe` (resampled to its ``sample_rate``)."""
    from discovervoice.audio import resample

    sr = int(getattr(transcriber, "sample_rate", 16_000))
    x = resample(np.asarray(audio, dtype=np.float32).mean(axis=0), sample_rate, sr)
    return transcriber.transcribe(x, language).text.strip()


def keep_regions(segments: Sequence[Segment], options: PrepOptions) -> list[Segment]:
    """Voice segments to slice: kept labels and speakers; neighbours of the same label and
    speaker closer than ``join_gap_seconds`` are joined."""
    segs = [s for s in segments if s.label in options.labels]
    keep = set(options.keep_speakers)
    if "main" in keep:
        totals: dict[str, float] = {}
        for s in segs:
            if s.speaker is not None:
                totals[s.speaker] = totals.get(s.speaker, 0.0) + s.duration
        keep.discard("main")
        if totals:
            keep.add(max(totals, key=totals.get))
    if keep:
        segs = [s for s in segs if s.speaker in keep]
    joined: list[Segment] = []
    for s in segs:
        if (joined and joined[-1].label == s.label and joined[-1].speaker == s.speaker
                and s.start - joined[-1].end <= options.join_gap_seconds):
            joined[-1] = dataclasses.replace(joined[-1], end=s.end)
        else:
            joined.append(dataclasses.replace(s))
    return joined


def process_file(path: Path, out_dir: Path, options: PrepOptions, stages: _Stages | None = None,
                 progress: Progress | None = None) -> dict:
    """Prepare one source; returns its ``parts`` record (``records`` = manifest rows).

    Raises:
        DiscoverVoiceError (and subclasses), OSError, ValueError: the file cannot be used.
    """
    from discovervoice.audio import load, lufs, normalize_lufs, save, to_channels
    from discovervoice.prep.diarization import diarize
    from discovervoice.prep.filters import apply_filters
    from discovervoice.prep.segmentation import segment, segment_auto, write_csv
    from discovervoice.prep.sex import estimate_sex
    from discovervoice.prep.slicing import slice_at_quiet_points

    o = options
    stages = stages or _Stages(o)
    sid = source_id(path)
    t0 = time.time()
    step = progress or (lambda f, m: None)
    audio = load(path, o.sample_rate)
    sr = o.sample_rate
    duration = audio.shape[1] / sr
    step(0.05, f"{path.name}: loaded {duration:.1f} s")
    vocals = segs = None
    if o.separate:
        vocals = separate_vocals(stages.separator(), audio, sr, _sub_progress(progress, 0.05, 0.5))
        step(0.5, f"{path.name}: separated")
        if not o.separate_speech:  # speech keeps its own signal (segment_auto)
            segs, use_vocals = segment_auto(audio, sr, vocals, options=o.segment,
                                            classifier=stages.voice_classifier())
            vocals = vocals if use_vocals else None
    voice = audio if vocals is None else vocals
    if o.denoise:
        voice = denoise(stages.enhancer(), voice, sr, _sub_progress(progress, 0.5, 0.6))
        step(0.6, f"{path.name}: denoised")
    if segs is None or o.denoise:
        segs = segment(audio, sr, vocals=voice if (vocals is not None or o.denoise) else None,
                       options=o.segment, classifier=stages.voice_classifier())
    step(0.7, f"{path.name}: {len(segs)} segments")
    if o.diarize:
        segs = diarize(voice, sr, segs, n_speakers=o.n_speakers,
                       distance_threshold=o.speaker_distance)
        step(0.8, f"{path.name}: diarized")
    if o.estimate_sex:
        for s in segs:
            if s.label in VOICE_LABELS:
                a, b = int(s.start * sr), int(s.end * sr)
                est = estimate_sex(voice[:, a:b], sr, s.label)
                s.sex_estimate, s.sex_confidence = est.sex, est.confidence
    write_csv(out_dir / "segments" / f"{sid}.csv", segs)

    regions = keep_regions(segs, o)
    slice_dir = out_dir / "slices" / sid
    if slice_dir.exists():
        shutil.rmtree(slice_dir)  # a half-finished earlier attempt of this source
    records = []
    pieces = []
    cuts = slice_at_quiet_points(voice, sr, min_seconds=o.min_seconds, max_seconds=o.max_seconds,
                                 regions=[(r.start, r.end) for r in regions])
    for a, b in cuts:  # every piece lies inside one region
        mid = (a + b) / 2
        reg = next((r for r in regions if r.start <= mid <= r.end), None)
        if reg is not None:
            pieces.append((reg, a, b))
    for k, (reg, a, b) in enumerate(pieces):
        x = voice[:, int(round(a * sr)):int(round(b * sr))]
        x = to_channels(x, o.channels)
        if not o.filters.empty:
            x = apply_filters(x, sr, o.filters)
        if o.target_lufs is not None:
            x = normalize_lufs(x, sr, o.target_lufs)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if peak > 0.999:  # loudness gain must not clip
            x = x * np.float32(0.999 / peak)
        spk = reg.speaker or "spk0"
        name = f"{k:04d}_{reg.label}_{spk}.{o.audio_format}"
        save(slice_dir / name, x, sr)
        sex, conf = reg.sex_estimate, reg.sex_confidence
        if o.estimate_sex and reg.label in VOICE_LABELS:
            est = estimate_sex(x, sr, reg.label)
            if est.sex is not None:
                sex, conf = est.sex, est.confidence
        text = (transcribe_slice(stages.transcriber(), x, sr, o.language)
                if o.transcribe else None)
        records.append({
            "file": str((slice_dir / name).relative_to(out_dir)),
            "source": str(path), "start": round(a, 3), "end": round(b, 3),
            "duration": round(b - a, 3), "label": reg.label, "speaker": reg.speaker,
            "sex_estimate": sex, "sex_confidence": conf, "text": text,
            "loudness": round(lufs(x, sr), 2)})
        step(0.8 + 0.2 * (k + 1) / max(1, len(pieces)), f"{path.name}: slice {k + 1}/{len(pieces)}")
    return {"version": FORMAT_VERSION, "source": str(path), "source_id": sid,
            "stamp": _file_stamp(path), "options": o.fingerprint(), "duration": duration,
            "separated": o.separate, "voice_track": "mixture" if vocals is None else "vocals",
            "n_segments": len(segs),
            "seconds_by_label": _seconds_by_label(segs), "records": records,
            "elapsed": round(time.time() - t0, 2)}


def _seconds_by_label(segs: Sequence[Segment]) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in segs:
        out[s.label] = round(out.get(s.label, 0.0) + s.duration, 3)
    return out


def _load_part(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def prepare(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike,
            options: PrepOptions | None = None, progress: Progress | None = None) -> dict:
    """Turn recordings / songs into a dataset folder (see the module docstring).

    Args:
        inputs: audio files and/or folders (searched recursively).
        out_dir: dataset folder (created; an earlier run there is resumed).
        options: :class:`PrepOptions`.
        progress: ``progress(fraction, message)`` callback.

    Returns:
        The summary (also written to ``summary.json``): ``sources``, ``processed``,
        ``resumed``, ``failed`` (``[{"file", "error"}]``), ``slices``, ``minutes_in``,
        ``minutes_kept``, ``minutes_by_label``, ``minutes_by_speaker``
        (``"<source_id>/<speaker>"``), ``minutes_by_speaker_label``, ``warnings``.

    Raises:
        PrepError: invalid options or no input given. A bad *file* never raises: it is
        listed under ``failed``.
    """
    o = options or PrepOptions()
    o.validate()
    inputs = list(inputs)
    files = expand_inputs(inputs)
    if not files:
        names = ", ".join(str(i) for i in inputs[:5])
        raise PrepError(f"{names}: no input files (give audio files or folders that contain some)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stages = _Stages(o)
    fp = o.fingerprint()
    parts: list[dict] = []
    failed: list[dict] = []
    resumed = 0
    for i, f in enumerate(files):
        sub = _sub_progress(progress, i / len(files), (i + 1) / len(files))
        part_path = out / "parts" / f"{source_id(f)}.json"
        old = _load_part(part_path) if part_path.exists() else None
        try:
            stamp = _file_stamp(f)
        except OSError:
            stamp = None
        if (old and stamp and old.get("stamp") == stamp and old.get("options") == fp
                and old.get("version") == FORMAT_VERSION
                and all((out / r["file"]).is_file() for r in old.get("records", []))):
            parts.append(old)
            resumed += 1
            if sub:
                sub(1.0, f"{f.name}: already done, skipped")
            continue
        try:
            part = process_file(f, out, o, stages, sub)
        except (DiscoverVoiceError, OSError, ValueError, RuntimeError, MemoryError) as exc:
            if isinstance(exc, StageUnavailableError):
                raise
            log.warning("skipping %s: %s", f, exc)
            log.debug("traceback", exc_info=True)
            failed.append({"file": str(f), "error": f"{type(exc).__name__}: {exc}"})
            if sub:
                sub(1.0, f"{f.name}: failed ({type(exc).__name__})")
            continue
        _atomic_json(part_path, part)
        parts.append(part)
    summary = _summarise(parts, failed, resumed, len(files), stages.warnings)
    _write_manifest(out / "manifest.jsonl", parts)
    _atomic_json(out / "summary.json", summary)
    if progress:
        progress(1.0, f"{summary['slices']} slices, {summary['minutes_kept']:.1f} min kept")
    return summary


def _write_manifest(path: Path, parts: Sequence[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        for p in parts:
            for r in p["records"]:
                fh.write(json.dumps({k: r.get(k) for k in MANIFEST_FIELDS}, ensure_ascii=False) + "\n")


def _summarise(parts: Sequence[dict], failed: list[dict], resumed: int, n_sources: int,
               warnings: list[str]) -> dict:
    by_label: dict[str, float] = {}
    by_spk: dict[str, float] = {}
    by_spk_label: dict[str, dict[str, float]] = {}
    seg_by_label: dict[str, float] = {}
    n = 0
    for p in parts:
        for lab, sec in p.get("seconds_by_label", {}).items():
            seg_by_label[lab] = seg_by_label.get(lab, 0.0) + sec / 60
        for r in p["records"]:
            n += 1
            m = r["duration"] / 60
            spk = f"{p['source_id']}/{r['speaker'] or 'spk0'}"
            by_label[r["label"]] = by_label.get(r["label"], 0.0) + m
            by_spk[spk] = by_spk.get(spk, 0.0) + m
            d = by_spk_label.setdefault(spk, {})
            d[r["label"]] = d.get(r["label"], 0.0) + m
    rnd = lambda d: {k: round(v, 3) for k, v in sorted(d.items())}  # noqa: E731
    return {
        "sources": n_sources, "processed": len(parts) - resumed, "resumed": resumed,
        "failed": failed, "slices": n,
        "minutes_in": round(sum(p["duration"] for p in parts) / 60, 3),
        "minutes_kept": round(sum(by_label.values()), 3),
        "minutes_by_label": rnd(by_label),
        "minutes_by_speaker": rnd(by_spk),
        "minutes_by_speaker_label": {k: rnd(v) for k, v in sorted(by_spk_label.items())},
        "segment_minutes_by_label": rnd(seg_by_label),
        "warnings": warnings,
    }


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Records of a ``manifest.jsonl``.

    Raises:
        DataError: missing file or a line that is not a JSON object with the manifest keys.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: manifest not found")
    out = []
    for i, line in enumerate(p.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}:{i}: not JSON ({exc})") from exc
        missing = [k for k in MANIFEST_FIELDS if k not in r]
        if missing:
            raise DataError(f"{p}:{i}: missing keys {missing}")
        out.append(r)
    return out

"""Segmentation of a recording into speech / singing / music / silence.

How a frame (10 ms, see :mod:`discovervoice.prep.features`) gets its label:

* **silence** — the level of the whole signal is below ``max(silence_floor_db,
  loud_db - silence_range_db)``, where ``loud_db`` is the 95th percentile of frame levels;
* **speech** — silero-vad (:mod:`discovervoice.prep.vad`) on the voice track says speech
  (hysteresis ``vad_on`` / ``vad_off``), confirmed by the pitch features below not looking
  like singing;
* **singing** — the voice track is active (within ``voice_range_db`` of ``loud_db``) and,
  over a window of ``window_seconds``, almost every active frame is voiced
  (``voiced_ratio >= sing_voiced_ratio``) and the F0 moves in held notes (the fraction of
  voiced frames whose F0 changes by less than ``stable_semitones`` per 10 ms is at least
  ``sing_stable_ratio``) while silero-vad stays low. Sung notes are long, voiced and
  steady; speech alternates short voiced syllables with unvoiced consonants and glides in
  pitch (the voiced-frame ratio and F0-stability cues of speech/singing discrimination,
  e.g. Gerhard 2003, "Silence as a cue to rhythm in the analysis of speech and song");
* **music** — anything else that is not silent.

The *voice track* is the separated vocal stem when one is given (``vocals=``; the
pipeline gets it from :class:`discovervoice.separation.Separator`), otherwise the input
itself. Without separation pitched instruments look like singing to these features, so
songs should be separated first.

Short gaps (``merge_gap_seconds``) inside a voice region are bridged, voice regions
shorter than ``min_voice_seconds`` are dropped, and music or silence runs shorter than
``min_other_seconds`` are absorbed by their neighbours. Segments are written and read as
CSV (``start,end,label,...``, seconds) by :func:`write_csv` / :func:`read_csv`.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from discovervoice.prep import features as F

#: Segment labels, in the order used for integer codes.
LABELS: tuple[str, ...] = ("silence", "music", "speech", "singing")
VOICE_LABELS: tuple[str, ...] = ("speech", "singing")


@dataclass
class Segment:
    """One labelled span of a recording.

    Attributes:
        start, end: seconds from the start of the source.
        label: one of :data:`LABELS`.
        speaker: diarization cluster (``"spk0"``...) or ``None``.
        sex_estimate: ``"male"`` / ``"female"`` — an *estimate* from the voice, or ``None``.
        sex_confidence: probability (0.5-1) of ``sex_estimate``, or ``None``.
    """

    start: float
    end: float
    label: str
    speaker: str | None = None
    sex_estimate: str | None = None
    sex_confidence: float | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class SegmentOptions:
    """Thresholds of :func:`segment` (levels in dB, durations in seconds)."""

    silence_floor_db: float = -60.0
    silence_range_db: float = 45.0
    voice_range_db: float = 35.0
    vad_on: float = 0.5
    vad_off: float = 0.3
    window_seconds: float = 1.0
    sing_voiced_ratio: float = 0.8
    sing_stable_ratio: float = 0.72
    stable_semitones: float = 0.25
    sing_max_vad: float = 0.5
    merge_gap_seconds: float = 0.5
    min_voice_seconds: float = 0.3
    min_other_seconds: float = 0.3


@dataclass
class FrameLabels:
    """Per-frame result of :func:`label_frames`: ``codes`` index :data:`LABELS`; every
    array is ``ndarray[N]`` on the 10 ms grid."""

    codes: np.ndarray
    energy_db: np.ndarray
    voice_db: np.ndarray
    f0: np.ndarray
    vad: np.ndarray
    extra: dict = field(default_factory=dict)


def _hysteresis(p: np.ndarray, on: float, off: float) -> np.ndarray:
    out = np.zeros(len(p), dtype=bool)
    state = False
    for i, v in enumerate(p):
        state = v >= on if not state else v > off
        out[i] = state
    return out


def label_frames(audio: np.ndarray, sample_rate: int, *, vocals: np.ndarray | None = None,
                 options: SegmentOptions | None = None) -> FrameLabels:
    """Label every 10 ms frame of ``audio`` (see the module docstring).

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]`` at ``sample_rate`` Hz (the full signal).
        vocals: optional separated vocal track of ``audio`` (same rate, any channels).
        options: thresholds; defaults when ``None``.

    Returns:
        :class:`FrameLabels` with ``N = ceil(T16 / 160)`` frames (``T16``: length at 16 kHz).
    """
    o = options or SegmentOptions()
    x = F.to_mono_16k(audio, sample_rate)
    v = x if vocals is None else F.to_mono_16k(vocals, sample_rate)
    n = F.n_frames(len(x))
    if len(v) < len(x):
        v = np.pad(v, (0, len(x) - len(v)))
    v = v[: len(x)]
    e = F.energy_db(x)[:n]
    ev = e if vocals is None else F.energy_db(v)[:n]
    if n == 0 or np.max(e) <= -119.0:
        return FrameLabels(np.zeros(n, dtype=np.int64), e, ev, np.zeros(n), np.zeros(n))
    loud = float(np.percentile(e, 95))
    active = e > max(o.silence_floor_db, loud - o.silence_range_db)
    # gaps between drum hits or notes are part of the music, not silence
    active = F.fill_gaps(active, max(1, int(round(o.min_other_seconds * F.FRAME_RATE))))
    voice_active = active & (ev > max(o.silence_floor_db, loud - o.voice_range_db))

    from discovervoice.prep.vad import speech_probability

    vad = speech_probability(v)[:n]
    f0 = F.f0_track(v)[:n]
    f0 = np.where(voice_active, f0, 0.0)

    w = max(1, int(round(o.window_seconds * F.FRAME_RATE)))
    voiced = f0 > 0
    stable = F.semitone_slope(f0) < o.stable_semitones
    va = voice_active.astype(np.float64)
    # ratios over voice-active frames only, so a window half in silence still measures.
    cnt_active = np.convolve(va, np.ones(w), mode="same")
    cnt_voiced = np.convolve(voiced.astype(np.float64), np.ones(w), mode="same")
    cnt_stable = np.convolve((stable & voiced).astype(np.float64), np.ones(w), mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        voiced_ratio = np.where(cnt_active > 0, cnt_voiced / np.maximum(cnt_active, 1), 0.0)
        stable_ratio = np.where(cnt_voiced > 0, cnt_stable / np.maximum(cnt_voiced, 1), 0.0)
    vad_mean = F.moving_average(np.where(voice_active, vad, np.nan), w)
    vad_mean = np.nan_to_num(vad_mean, nan=0.0)
    sing_like = (voiced_ratio >= o.sing_voiced_ratio) & (stable_ratio >= o.sing_stable_ratio)

    speech = _hysteresis(vad, o.vad_on, o.vad_off) & active & ~(sing_like & (vad_mean < o.sing_max_vad))
    singing = voice_active & sing_like & (vad_mean < o.sing_max_vad) & ~speech

    gap = max(1, int(round(o.merge_gap_seconds * F.FRAME_RATE)))
    min_voice = max(1, int(round(o.min_voice_seconds * F.FRAME_RATE)))
    speech = F.drop_short(F.fill_gaps(speech, gap), min_voice)
    singing = F.drop_short(F.fill_gaps(singing & ~speech, gap), min_voice) & ~speech

    codes = np.where(active, LABELS.index("music"), LABELS.index("silence"))
    codes[singing] = LABELS.index("singing")
    codes[speech] = LABELS.index("speech")
    codes = _absorb_short(codes, max(1, int(round(o.min_other_seconds * F.FRAME_RATE))))
    return FrameLabels(codes.astype(np.int64), e, ev, f0, vad,
                       {"voiced_ratio": voiced_ratio, "stable_ratio": stable_ratio,
                        "vad_mean": vad_mean})


def _absorb_short(codes: np.ndarray, min_len: int) -> np.ndarray:
    """Give music/silence runs shorter than ``min_len`` the label of a neighbour
    (silence inside music becomes music; a short run between voice runs joins them)."""
    out = codes.copy()
    voice = {LABELS.index(v) for v in VOICE_LABELS}
    changed = True
    while changed:
        changed = False
        bounds = np.flatnonzero(np.diff(out)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(out)]])
        for s, e in zip(starts, ends):
            if e - s >= min_len or out[s] in voice:
                continue
            left = out[s - 1] if s > 0 else None
            right = out[e] if e < len(out) else None
            if left is not None and left == right:
                new = left
            elif left is None and right is None:
                continue
            else:
                # prefer the non-voice neighbour (music absorbs short silences and v.v.)
                cands = [c for c in (left, right) if c is not None]
                non_voice = [c for c in cands if c not in voice]
                new = non_voice[0] if non_voice else cands[0]
            if new != out[s]:
                out[s:e] = new
                changed = True
                break
    return out


def frames_to_segments(codes: np.ndarray, duration: float | None = None) -> list[Segment]:
    """Run-length encode frame codes (indices into :data:`LABELS`) into segments.

    ``duration`` (seconds) clips the last segment's end to the true signal length.
    """
    segs: list[Segment] = []
    if len(codes) == 0:
        return segs
    bounds = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(codes)]])
    for s, e in zip(starts, ends):
        t1 = e / F.FRAME_RATE
        if duration is not None:
            t1 = min(t1, duration)
        segs.append(Segment(round(float(s) / F.FRAME_RATE, 3), round(float(t1), 3),
                            LABELS[int(codes[s])]))
    return segs


def segment(audio: np.ndarray, sample_rate: int, *, vocals: np.ndarray | None = None,
            options: SegmentOptions | None = None) -> list[Segment]:
    """Split a recording into labelled segments covering it end to end.

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]``, ``sample_rate`` Hz.
        vocals: the separated vocal stem of ``audio`` when available (see module doc).
        options: :class:`SegmentOptions`.

    Returns:
        Contiguous :class:`Segment` list (``label`` in :data:`LABELS`), start/end in
        seconds; speaker and sex fields are left ``None`` (see
        :func:`discovervoice.prep.diarization.diarize` and
        :func:`discovervoice.prep.sex.estimate_sex`).
    """
    n = np.asarray(audio).shape[-1]
    fl = label_frames(audio, sample_rate, vocals=vocals, options=options)
    return frames_to_segments(fl.codes, n / sample_rate)


def voice_regions(audio: np.ndarray, sample_rate: int, *, vocals: np.ndarray | None = None,
                  labels: tuple[str, ...] = VOICE_LABELS,
                  options: SegmentOptions | None = None) -> list[tuple[float, float]]:
    """``[(start, end), ...]`` seconds of the segments whose label is in ``labels``."""
    return [(s.start, s.end) for s in segment(audio, sample_rate, vocals=vocals, options=options)
            if s.label in labels]


CSV_FIELDS = [f.name for f in fields(Segment)]


def write_csv(path: str | os.PathLike, segments: list[Segment]) -> Path:
    """Write segments as CSV (header ``start,end,label,speaker,sex_estimate,sex_confidence``);
    atomic (temporary file + rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for s in segments:
            row = asdict(s)
            w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    os.replace(tmp, p)
    return p


def read_csv(path: str | os.PathLike) -> list[Segment]:
    """Read segments written by :func:`write_csv`.

    Raises:
        discovervoice.errors.DataError: missing columns or an unknown label.
    """
    from discovervoice.errors import DataError

    out = []
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        missing = {"start", "end", "label"} - set(r.fieldnames or [])
        if missing:
            raise DataError(f"{path}: segment CSV lacks columns {sorted(missing)}")
        for i, row in enumerate(r, start=2):
            if row["label"] not in LABELS:
                raise DataError(f"{path}:{i}: unknown label {row['label']!r}; expected one of {LABELS}")
            conf = row.get("sex_confidence") or ""
            out.append(Segment(float(row["start"]), float(row["end"]), row["label"],
                               row.get("speaker") or None, row.get("sex_estimate") or None,
                               float(conf) if conf else None))
    return out

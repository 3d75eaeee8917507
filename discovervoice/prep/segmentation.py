"""Segmentation of a recording into speech / singing / music / silence.

How a frame (10 ms, see :mod:`discovervoice.prep.features`) gets its label:

* **silence** — the level of the whole signal is below ``max(silence_floor_db,
  loud_db - silence_range_db)``, where ``loud_db`` is the 95th percentile of frame levels;
* otherwise, where the *voice track* is active (within ``voice_range_db`` of ``loud_db``
  and, for a separated stem, within ``voice_local_db`` of the mixture at that moment),
  the speech / singing / music decision of :mod:`discovervoice.prep.voicetype` over 2 s
  windows: silero-vad's speech probability (:mod:`discovervoice.prep.vad`) together with
  pitch features (voiced-frame ratio, F0 stability, held-note ratio, syllable rate),
  loudness modulation, spectral flux and MFCC statistics, scored by a small classifier
  trained on the corpus (or fixed thresholds when its weights are absent). Sung notes are
  long, voiced and steady; speech alternates short voiced syllables with unvoiced
  consonants and glides in pitch; silero-vad alone also fires on sung lyrics;
* **music** — anything else that is not silent.

The *voice track* is the separated vocal stem when one is given (``vocals=``; the
pipeline gets it from :class:`discovervoice.separation.Separator`), otherwise the input
itself (then the classifier must tell a voice from the instruments by itself, which is
harder: separate songs first).

Inside a voice region (voice activity with gaps below ``merge_gap_seconds`` bridged) the
class probabilities are averaged over ``label_smooth_seconds``, weighted by the
recording's own speech/singing mix (an empirical-Bayes prior: a song is mostly sung, a
conversation mostly spoken), and a class change must last ``min_label_seconds``; on a
separated vocal stem the music probability is weighted by
``separated_music_weight`` (active sound there is a voice unless the classifier is sure),
and a voice run whose separated voice track lies, as a median over the run, more than
``-min_voice_region_db`` dB below the mixture (or ``-leak_db`` dB below it where
silero-vad on the mixture hears no speech) is music that leaked through the separator
(instrumental music was kept as "singing" before this check; numbers in
:func:`_leakage_runs`).
A stretch of at least ``speechless_seconds`` (1.5 s) inside a speech run where silero-vad's
speech probability on the recording, averaged over 0.5 s, stays below ``speechless_vad``
(0.05) is not speech: the window classifier takes some instrumental music for speech
(:func:`_speechless`; 0.05 / 0.1 x 1.0 / 1.5 s compared on the real-conversation
calibration set, 48 conversations: 0.05 and 1.5 s gave the lowest DER both on the recording
alone, 12.1%, and on prep's default path, 9.9%). On a speech recording (the recording
itself is the voice track, as on :func:`segment_auto`'s mixture path or with
``--no-separate``, and its voice holds at least ``speech_recording_ratio``, 2, times more
speech than singing) the same rule applies to singing runs: the window classifier takes
some instrumental music for singing, which the separator's stem does not always expose,
while silero-vad hears sung lyrics. On the calibration set prep's default path does not
change; on the recording alone the count goes 37 -> 38/48, DER 12.1% -> 11.3%, kept slices
inside music 5 -> 3 (a ratio of 1: DER 10.8%; 2 is kept as a margin for songs with spoken
parts, where silero-vad misses held notes, which no calibration conversation holds). With a
separated stem at hand, :func:`segment_auto` (prep's default path) chooses which track is
the voice track.
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
    voice_local_db: float = 15.0
    separated_music_weight: float = 0.5
    min_voice_region_db: float = -15.0
    leak_db: float = -9.0
    leak_vad: float = 0.1
    speechless_vad: float = 0.05
    speechless_seconds: float = 1.5
    speech_recording_ratio: float = 2.0
    label_smooth_seconds: float = 1.0
    min_label_seconds: float = 2.0
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


@dataclass
class Analysis:
    """Frame analysis shared by :func:`label_frames` and classifier training (arrays are
    ``ndarray[N]`` on the 10 ms grid; ``feats``/``centres`` from
    :func:`discovervoice.prep.voicetype.window_features`, ``None`` for a silent input)."""

    n: int
    energy_db: np.ndarray
    voice_db: np.ndarray
    active: np.ndarray
    voice_active: np.ndarray
    vad: np.ndarray
    f0: np.ndarray
    feats: np.ndarray | None
    centres: np.ndarray | None


def analyse(audio: np.ndarray, sample_rate: int, *, vocals: np.ndarray | None = None,
            options: SegmentOptions | None = None) -> Analysis:
    """Levels, activity, silero-vad, F0 and the window features of a signal (and of its
    voice track ``vocals`` when given)."""
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
        z = np.zeros(n)
        return Analysis(n, e, ev, z > 0, z > 0, z, z, None, None)
    loud = float(np.percentile(e, 95))
    active = e > max(o.silence_floor_db, loud - o.silence_range_db)
    # gaps between drum hits or notes are part of the music, not silence
    active = F.fill_gaps(active, max(1, int(round(o.min_other_seconds * F.FRAME_RATE))))
    voice_active = active & (ev > max(o.silence_floor_db, loud - o.voice_range_db))
    if vocals is not None:  # a vocal far below the mixture at that moment is not heard
        voice_active &= ev > e - o.voice_local_db

    from discovervoice.prep import voicetype as VT
    from discovervoice.prep.vad import speech_probability

    vad = speech_probability(v)[:n]
    f0 = F.f0_track(v)[:n]
    f0 = np.where(voice_active, f0, 0.0)
    inp = VT.frame_inputs(v, f0, vad, ev)
    feats, centres = VT.window_features(inp, voice_active)
    return Analysis(n, e, ev, active, voice_active, vad, f0, feats, centres)


def label_frames(audio: np.ndarray, sample_rate: int, *, vocals: np.ndarray | None = None,
                 options: SegmentOptions | None = None, classifier=None,
                 separated: np.ndarray | None = None) -> FrameLabels:
    """Label every 10 ms frame of ``audio`` (see the module docstring).

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]`` at ``sample_rate`` Hz (the full signal).
        vocals: optional separated vocal track of ``audio`` (same rate, any channels).
        options: thresholds; defaults when ``None``.
        separated: a separated vocal stem used as evidence only, with ``audio`` itself as
            the voice track: singing runs where it lies far below ``audio`` are dropped
            (:func:`_leakage_runs`; speech is not judged by it, see :func:`segment_auto`).
        classifier: speech/singing/music window classifier (default
            :func:`discovervoice.prep.voicetype.default_classifier`).

    Returns:
        :class:`FrameLabels` with ``N = ceil(T16 / 160)`` frames (``T16``: length at 16 kHz).
    """
    o = options or SegmentOptions()
    an = analyse(audio, sample_rate, vocals=vocals, options=o)
    n = an.n
    e, ev, active, voice_active, vad, f0 = (an.energy_db, an.voice_db, an.active,
                                           an.voice_active, an.vad, an.f0)
    if an.feats is None:
        return FrameLabels(np.zeros(n, dtype=np.int64), e, ev, np.zeros(n), np.zeros(n))
    from discovervoice.prep import voicetype as VT

    feats, centres = an.feats, an.centres
    clf = classifier if classifier is not None else VT.default_classifier()
    probs = VT.frame_probabilities(clf.predict_proba(feats), centres, n)
    if vocals is not None and o.separated_music_weight != 1.0:
        # on a separated vocal stem, active sound is a voice unless the classifier is sure
        probs[:, VT.CLASSES.index("music")] *= o.separated_music_weight
    gap = max(1, int(round(o.merge_gap_seconds * F.FRAME_RATE)))
    cls = _region_classes(probs, F.fill_gaps(voice_active, gap),
                          max(1, int(round(o.label_smooth_seconds * F.FRAME_RATE))),
                          max(1, int(round(o.min_label_seconds * F.FRAME_RATE))))
    speech = voice_active & (cls == VT.CLASSES.index("speech"))
    singing = voice_active & (cls == VT.CLASSES.index("singing"))

    min_voice = max(1, int(round(o.min_voice_seconds * F.FRAME_RATE)))
    speech = F.drop_short(F.fill_gaps(speech, gap), min_voice)
    singing = F.drop_short(F.fill_gaps(singing & ~speech, gap), min_voice) & ~speech
    if vocals is None:
        vad_mix = vad
    else:
        from discovervoice.prep.vad import speech_probability

        vad_mix = speech_probability(F.to_mono_16k(audio, sample_rate))[:n]
    evidence = vocals if vocals is not None else separated
    if evidence is not None:
        ev_sep = ev if vocals is not None else F.energy_db(F.to_mono_16k(evidence, sample_rate))[:n]
        if len(ev_sep) < n:
            ev_sep = np.pad(ev_sep, (0, n - len(ev_sep)), constant_values=-120.0)
        if vocals is not None:
            leak = _leakage_runs(speech | singing, active, e, ev_sep, vad_mix,
                                 o.min_voice_region_db, o.leak_db, o.leak_vad)
            speech &= ~leak
        else:  # the separator is evidence only: it removes real speech, so judge singing
            leak = _leakage_runs(singing, active, e, ev_sep, vad_mix,
                                 o.min_voice_region_db, o.leak_db, o.leak_vad)
        singing &= ~leak
    if o.speechless_vad > 0:
        quiet_frames = max(1, int(round(o.speechless_seconds * F.FRAME_RATE)))
        speech &= ~_speechless(speech, vad_mix, o.speechless_vad, quiet_frames)
        speech = F.drop_short(speech, min_voice)
        # a speech recording (the recording itself is the voice track): singing runs too
        if vocals is None and speech.sum() >= o.speech_recording_ratio * singing.sum():
            singing &= ~_speechless(singing, vad_mix, o.speechless_vad, quiet_frames)
            singing = F.drop_short(singing, min_voice)

    codes = np.where(active, LABELS.index("music"), LABELS.index("silence"))
    codes[singing] = LABELS.index("singing")
    codes[speech] = LABELS.index("speech")
    codes = _absorb_short(codes, max(1, int(round(o.min_other_seconds * F.FRAME_RATE))))
    return FrameLabels(codes.astype(np.int64), e, ev, f0, vad,
                       {"probabilities": probs, "window_features": feats,
                        "window_centres": centres, "method": clf.method})


def _leakage_runs(voice: np.ndarray, active: np.ndarray, e: np.ndarray, ev: np.ndarray,
                  vad_mix: np.ndarray, min_db: float, leak_db: float, leak_vad: float
                  ) -> np.ndarray:
    """Mask of the voice runs that are a separator's leakage of instruments, not a voice:
    the voice track lies, as a median over the run's active frames, more than ``-min_db``
    dB below the mixture, or more than ``-leak_db`` dB below it while silero-vad on the
    mixture finds no speech there (mean probability below ``leak_vad``).

    Measured on the real-conversation calibration set (:func:`discovervoice.prep.evaluate.
    evaluate_real`, default separator): music-only stretches -11.6 to -26.5 dB with
    mixture speech probability 0.01-0.06; speech turns median -6.5 dB (the separator
    suppresses some real voices down to -33 dB, which the speech probability, 0.15-0.9,
    keeps).
    """
    out = np.zeros(len(voice), dtype=bool)
    for s, t in F.runs(voice):
        act = active[s:t]
        rel = float(np.median((ev[s:t] - e[s:t])[act] if act.any() else ev[s:t] - e[s:t]))
        if rel < min_db or (rel < leak_db and float(np.mean(vad_mix[s:t])) < leak_vad):
            out[s:t] = True
    return out


def _speechless(speech: np.ndarray, vad: np.ndarray, floor: float, min_len: int) -> np.ndarray:
    """Mask of stretches of at least ``min_len`` frames inside ``speech`` runs where
    silero-vad's speech probability on the recording, averaged over 0.5 s, stays below
    ``floor``: instrumental music the window classifier took for speech. On the
    real-conversation calibration set, voice runs of real speech have a mean probability
    of 0.23-1.0 and music-only stretches 0.01-0.06; the segmenter bridges short pauses,
    so a run can hold a turn and the music after it, hence the check inside runs."""
    out = np.zeros(len(speech), dtype=bool)
    low = F.moving_average(vad, max(1, int(0.5 * F.FRAME_RATE))) < floor
    for s, t in F.runs(speech):
        for a, b in F.runs(low[s:t]):
            if b - a >= min_len:
                out[s + a:s + b] = True
    return out


def _region_classes(probs: np.ndarray, regions_mask: np.ndarray, smooth: int,
                    min_len: int) -> np.ndarray:
    """Class per frame inside each voice region.

    The recording's own class mix (duration-weighted mean probability over all voice
    regions) serves as a prior (empirical Bayes): each frame's probabilities, averaged
    over ``smooth`` frames within its region, are multiplied by it before the arg-max. A
    region shorter than ``min_len`` frames gets one class from its mean; in longer ones,
    runs shorter than ``min_len`` take the class of their longer neighbour run, so a region
    changes class only for a sustained stretch.
    """
    cls = np.full(len(probs), -1, dtype=np.int64)
    regions = F.runs(regions_mask)
    if not regions:
        return cls
    means = np.stack([probs[s:e].mean(axis=0) for s, e in regions])
    w = np.array([e - s for s, e in regions], dtype=np.float64)
    prior = (means * w[:, None]).sum(axis=0) / w.sum()
    # the prior acts between the voice classes (speech, singing); music keeps weight 1
    voice = prior[:2] / max(float(prior[:2].max()), 1e-9)
    prior = np.concatenate([np.maximum(voice, 1e-3), np.ones(len(prior) - 2)])
    for (s, e), m in zip(regions, means):
        if e - s < min_len:
            cls[s:e] = int(np.argmax(m * prior))
            continue
        p = np.stack([F.moving_average(probs[s:e, k], smooth) for k in range(probs.shape[1])], 1)
        c = np.argmax(p * prior, axis=1)
        while True:
            bounds = np.flatnonzero(np.diff(c)) + 1
            starts = np.concatenate([[0], bounds])
            ends = np.concatenate([bounds, [len(c)]])
            if len(starts) == 1:
                break
            lens = ends - starts
            i = int(np.argmin(lens))
            if lens[i] >= min_len:
                break
            left = lens[i - 1] if i > 0 else -1
            right = lens[i + 1] if i + 1 < len(lens) else -1
            j = i - 1 if left >= right else i + 1
            c[starts[i]:ends[i]] = c[starts[j]]
        cls[s:e] = c
    return cls


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
            options: SegmentOptions | None = None, classifier=None,
            separated: np.ndarray | None = None) -> list[Segment]:
    """Split a recording into labelled segments covering it end to end.

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]``, ``sample_rate`` Hz.
        vocals: the separated vocal stem of ``audio`` when available (see module doc).
        options: :class:`SegmentOptions`.
        classifier: window classifier (see :func:`label_frames`).
        separated: a separated stem used as evidence only (see :func:`label_frames`).

    Returns:
        Contiguous :class:`Segment` list (``label`` in :data:`LABELS`), start/end in
        seconds; speaker and sex fields are left ``None`` (see
        :func:`discovervoice.prep.diarization.diarize` and
        :func:`discovervoice.prep.sex.estimate_sex`).
    """
    n = np.asarray(audio).shape[-1]
    fl = label_frames(audio, sample_rate, vocals=vocals, options=options, classifier=classifier,
                      separated=separated)
    return frames_to_segments(fl.codes, n / sample_rate)


def segment_auto(audio: np.ndarray, sample_rate: int, vocals: np.ndarray, *,
                 options: SegmentOptions | None = None, classifier=None,
                 sung_to_speech: float = 1.0) -> tuple[list[Segment], bool]:
    """Segment a recording whose separated vocal stem is ``vocals``, choosing the voice track.

    The recording is segmented twice: with ``vocals`` as the voice track (where singing
    is found: a sung voice over accompaniment is music to the window classifier on the
    mixture) and as it is, with ``vocals`` as evidence only (where speech is found:
    silero-vad hears speech through music, and a run labelled singing whose separated
    voice lies far below the mixture is instrumental, :func:`_leakage_runs`). When the
    singing time of the first exceeds ``sung_to_speech`` times the speech time of the
    second, the first is returned (songs: the voice must be taken out of the
    accompaniment); otherwise the recording itself stays the voice track. On the
    real-conversation calibration set (48 conversations) the ratio is 0-0.67; on the
    separator's vocal stem real speech was mostly gone with the default of that time
    (mixture minus vocals 0.2 dB below the mixture in speech runs, median; diarization there
    missed 26% of the speech, :mod:`discovervoice.prep.diarization`'s notes). With the
    default of fec72f6 the separated voice keeps more of it (median 2.4 dB below the
    mixture in speech runs, one speaker, ``fillets-rand-0``, still down to 34 dB below; an
    ad-hoc measurement on the calibration set, not a committed benchmark), so the choice of
    the recording itself as the voice track for speech stands.

    Returns:
        ``(segments, use_vocals)``: ``use_vocals`` tells which track the segments were found
        on and which one to diarize and slice.
    """
    sep = segment(audio, sample_rate, vocals=vocals, options=options, classifier=classifier)
    mix = segment(audio, sample_rate, options=options, classifier=classifier, separated=vocals)
    sung = sum(s.duration for s in sep if s.label == "singing")
    spoken = sum(s.duration for s in mix if s.label == "speech")
    if sung > 0 and sung > sung_to_speech * spoken:
        return sep, True
    return mix, False


def voice_regions(audio: np.ndarray, sample_rate: int, *, vocals: np.ndarray | None = None,
                  labels: tuple[str, ...] = VOICE_LABELS,
                  options: SegmentOptions | None = None, classifier=None
                  ) -> list[tuple[float, float]]:
    """``[(start, end), ...]`` seconds of the segments whose label is in ``labels``."""
    return [(s.start, s.end) for s in segment(audio, sample_rate, vocals=vocals, options=options,
                                              classifier=classifier)
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

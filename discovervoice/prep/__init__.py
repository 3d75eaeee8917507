"""Dataset preparation: from raw recordings and songs to a clean, labelled training set.

Python API (heavy libraries load on first use, nothing runs at import)::

    from discovervoice.prep import prepare, PrepOptions
    summary = prepare(["songs/", "me.wav"], "dataset/", PrepOptions(min_seconds=2),
                      progress=lambda f, msg: print(f"{f:.0%} {msg}"))

    # the steps, on arrays (ndarray[C, T] or [T], any sample rate)
    from discovervoice.prep import segment, slice_at_quiet_points, diarize, estimate_sex
    segs = segment(audio, sr, vocals=None)            # [Segment(start, end, label)]
    segs = diarize(audio, sr, segs, n_speakers=None)  # speaker on voice segments
    est = estimate_sex(audio[:, a:b], sr, "speech")    # SexEstimate(sex, confidence, ...)
    pieces = slice_at_quiet_points(audio, sr, min_seconds=2, max_seconds=15,
                                   regions=[(s.start, s.end) for s in segs
                                            if s.label in ("speech", "singing")])
    pieces = voice_slices(audio, sr, min_seconds=2, max_seconds=15)  # both steps at once

Modules: :mod:`~discovervoice.prep.segmentation` (speech / singing / music / silence, CSV),
:mod:`~discovervoice.prep.vad` (silero-vad), :mod:`~discovervoice.prep.features` (frame
features), :mod:`~discovervoice.prep.sex` (sex-of-voice estimate),
:mod:`~discovervoice.prep.slicing`, :mod:`~discovervoice.prep.filters`,
:mod:`~discovervoice.prep.diarization` (resemblyzer + scikit-learn),
transcription through :mod:`discovervoice.transcribe` (Whisper / PocketSphinx),
:mod:`~discovervoice.prep.pipeline` (:func:`prepare`, manifest, resume),
:mod:`~discovervoice.prep.metrics` and :mod:`~discovervoice.prep.evaluate` (scores on
corpus material), :mod:`~discovervoice.prep.train_sex`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "prepare": "pipeline", "PrepOptions": "pipeline", "PrepError": "pipeline",
    "read_manifest": "pipeline", "MANIFEST_FIELDS": "pipeline",
    "segment": "segmentation", "Segment": "segmentation", "SegmentOptions": "segmentation",
    "label_frames": "segmentation", "voice_regions": "segmentation",
    "write_csv": "segmentation", "read_csv": "segmentation", "LABELS": "segmentation",
    "slice_at_quiet_points": "slicing", "voice_slices": "slicing",
    "diarize": "diarization", "cluster": "diarization",
    "estimate_sex": "sex", "SexEstimate": "sex",
    "FilterSpec": "filters", "apply_filters": "filters",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"discovervoice.prep.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)

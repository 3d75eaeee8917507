"""F0 (pitch) metrics: F0 RMSE in cents, raw pitch / chroma accuracy, voicing errors.

:func:`f0_contour` is the contour these metrics compare (times + Hz, an
:class:`F0Contour`), a thin caller of :func:`discovervoice.signals.world_f0` that mixes to
mono first. It is not the conversion's F0 (``discovervoice.convert.f0.extract_f0``: many
methods, 16 kHz, a bare Hz array on the 10 ms grid, octave and outlier filters).

Libraries and sources:
    * **pyworld** extracts F0 contours (:func:`discovervoice.signals.world_f0`): Harvest
      (Morise 2017, robust on singing) or DIO + StoneMask; 0 Hz marks unvoiced frames.
    * **mir_eval** ``melody`` (Raffel et al., "mir_eval", ISMIR 2014; the MIREX melody
      extraction measures of Salamon et al. 2014) resamples the estimate onto the
      reference's time base (``to_cent_voicing``) and gives voicing recall, voicing false
      alarm, raw pitch accuracy (within 50 cents), raw chroma accuracy and overall accuracy.

F0 RMSE in cents is ``sqrt(mean((1200 log2(f_est / f_ref))^2))`` over frames voiced in
both contours, after the same resampling. The voicing decision error is the fraction of
reference frames whose voiced/unvoiced decision differs.

A conversion that transposes on purpose (e.g. +12 semitones from a male to a female
voice) is scored with ``shift_semitones``: the reference contour is transposed first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from discovervoice.errors import AudioError
from discovervoice.signals import to_mono, world_f0

#: Frame hop of extracted contours (10 ms, the MIREX melody convention).
DEFAULT_HOP_S = 0.01
F0_FLOOR_HZ = 50.0
F0_CEIL_HZ = 1100.0


@dataclass
class F0Contour:
    """An F0 contour: ``times`` (seconds, ``ndarray[N]``) and ``f0`` (Hz, 0 = unvoiced)."""

    times: np.ndarray
    f0: np.ndarray


def f0_contour(audio: np.ndarray, sample_rate: int, *, method: str = "harvest",
               hop_s: float = DEFAULT_HOP_S, f0_floor: float = F0_FLOOR_HZ,
               f0_ceil: float = F0_CEIL_HZ) -> F0Contour:
    """F0 contour of ``ndarray[T]`` or ``[C, T]`` (channels averaged) with WORLD, for the
    metrics of this module (:func:`discovervoice.signals.world_f0` after
    :func:`discovervoice.signals.to_mono`).

    Args:
        audio: the signal at ``sample_rate`` Hz.
        method: ``"harvest"`` or ``"dio"`` (DIO + StoneMask, faster).
        hop_s: frame hop in seconds.
        f0_floor, f0_ceil: search range in Hz (default 50-1100 Hz covers singing).

    Returns:
        :class:`F0Contour`: ``times`` (s) and ``f0`` (Hz, 0 = unvoiced), ``ndarray[N]``.

    Raises:
        AudioError: bad shape or values; ValueError for an unknown method.
    """
    if method not in ("harvest", "dio"):
        raise ValueError(f"unknown F0 method {method!r}; use 'harvest' or 'dio'")
    x = to_mono(audio, sample_rate, name="F0 extraction input", dtype=np.float64)
    return F0Contour(*world_f0(x, sample_rate, method=method, hop_s=hop_s, f0_floor=f0_floor,
                               f0_ceil=f0_ceil))


def f0_metrics(reference: F0Contour, estimate: F0Contour, *,
               shift_semitones: float = 0.0, cent_tolerance: float = 50.0) -> dict[str, float]:
    """Compare two F0 contours (times in seconds, F0 in Hz, 0 for unvoiced).

    Args:
        reference, estimate: the contours; the estimate is resampled onto the reference's
            times by mir_eval.
        shift_semitones: transpose the reference by this many semitones first.
        cent_tolerance: raw pitch accuracy tolerance (MIREX: 50 cents).

    Returns:
        ``f0_rmse_cents`` (NaN when no frame is voiced in both), ``raw_pitch_accuracy``,
        ``raw_chroma_accuracy``, ``overall_accuracy``, ``voicing_recall``,
        ``voicing_false_alarm``, ``voicing_error`` (fractions in [0, 1]), and
        ``voiced_frames_both`` (a count).

    Raises:
        AudioError: times and frequencies of different lengths, or an empty contour.
    """
    import mir_eval

    for name, c in (("reference", reference), ("estimate", estimate)):
        if len(c.times) != len(c.f0) or len(c.times) == 0:
            raise AudioError(f"{name} F0 contour: {len(c.times)} times and {len(c.f0)} values")
    ref_f0 = np.asarray(reference.f0, dtype=np.float64) * (2.0 ** (shift_semitones / 12.0))
    ref_t = np.asarray(reference.times, dtype=np.float64)
    est_t = np.asarray(estimate.times, dtype=np.float64)
    est_f0 = np.asarray(estimate.f0, dtype=np.float64)
    # The estimate is resampled onto the reference's time base (the reference is kept).
    ref_v, ref_c, est_v, est_c = mir_eval.melody.to_cent_voicing(ref_t, ref_f0, est_t, est_f0)
    both = (ref_v > 0) & (est_v > 0)
    if both.any():
        rmse = float(np.sqrt(np.mean((est_c[both] - ref_c[both]) ** 2)))
    else:
        rmse = float("nan")
    with np.errstate(all="ignore"):
        vr, vfa = mir_eval.melody.voicing_measures(ref_v, est_v)
        rpa = mir_eval.melody.raw_pitch_accuracy(ref_v, ref_c, est_v, est_c, cent_tolerance)
        rca = mir_eval.melody.raw_chroma_accuracy(ref_v, ref_c, est_v, est_c, cent_tolerance)
        oa = mir_eval.melody.overall_accuracy(ref_v, ref_c, est_v, est_c, cent_tolerance)
    vde = float(np.mean((ref_v > 0) != (est_v > 0)))
    return {"f0_rmse_cents": rmse, "raw_pitch_accuracy": float(rpa),
            "raw_chroma_accuracy": float(rca), "overall_accuracy": float(oa),
            "voicing_recall": float(vr), "voicing_false_alarm": float(vfa),
            "voicing_error": vde, "voiced_frames_both": int(both.sum())}

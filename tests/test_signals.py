"""discovervoice.signals on real recordings: a person's syllables (KDE KLettres, Debian
``klettres-data``, GPL-2+) placed at known times between silences, at 44.1 kHz stereo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from discovervoice import signals
from discovervoice.errors import AudioError

KLETTRES = Path("/usr/share/klettres/es/syllab")
SR = 44100
GAP = 0.8   # seconds of silence between syllables


@pytest.fixture(scope="module")
def syllables():
    """``(stereo ndarray[2, T] at 44.1 kHz, [(start_s, end_s), ...] of each syllable)``."""
    from discovervoice import audio

    files = sorted(KLETTRES.glob("*.ogg"))[:6]
    if len(files) < 6:
        pytest.skip("klettres-data is not installed")
    parts, spans, t = [np.zeros(int(GAP * SR), np.float32)], [], GAP
    for f in files:
        x = audio.load(f, SR, channels=1)[0]
        parts += [x, np.zeros(int(GAP * SR), np.float32)]
        spans.append((t, t + len(x) / SR))
        t += len(x) / SR + GAP
    mono = np.concatenate(parts)
    return np.stack([mono, 0.5 * mono]), spans


def _inside(t: float, spans, tol: float) -> bool:
    return any(s - tol <= t <= e + tol for s, e in spans)


def test_to_mono_resamples_or_refuses(syllables):
    x, _ = syllables
    y = signals.to_mono(x, SR, 16000)
    assert y.ndim == 1 and y.dtype == np.float32
    assert abs(len(y) - x.shape[1] * 16000 / SR) <= 2
    assert signals.to_mono(x, SR).shape == (x.shape[1],)                     # no rate: kept
    np.testing.assert_allclose(signals.to_mono(x, SR), 0.75 * x[0], atol=1e-6)
    # a tone keeps its frequency through the resampler
    tone = np.sin(2 * np.pi * 440 * np.arange(SR) / SR).astype(np.float32)
    z = signals.to_mono(tone, SR, 16000, dtype=np.float64)
    assert z.dtype == np.float64
    peak_hz = np.argmax(np.abs(np.fft.rfft(z))) * 16000 / len(z)
    assert peak_hz == pytest.approx(440, abs=2)
    with pytest.raises(AudioError, match=r"take\.wav: expected 16000 Hz audio, got 44100 Hz"):
        signals.to_mono(x, SR, 16000, mismatch="refuse", name="take.wav")
    bad = x.copy()
    bad[0, 100] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        signals.to_mono(bad, SR, 16000)
    with pytest.raises(AudioError, match="empty"):
        signals.to_mono(np.zeros((2, 0), np.float32), SR, 16000)
    assert signals.to_mono(np.zeros(0, np.float32), SR, 16000, allow_empty=True).size == 0
    with pytest.raises(AudioError, match="shape"):
        signals.to_mono(np.zeros((1, 2, 3)), SR)


@pytest.mark.parametrize("backend", ["webrtc", "energy", "silero"])
def test_voiced_regions_find_the_syllables(syllables, backend):
    x, spans = syllables
    x16 = signals.to_mono(x, SR, 16000)
    regs = signals.voiced_regions(x16, backend, threshold=0.2)
    assert regs, f"{backend} found no voice"
    # every region lies on a syllable (40 ms slack for frame edges) ...
    for s, e in regs:
        mid = (s + e) / 2 / 16000
        assert _inside(mid, spans, 0.04), f"{backend}: region at {mid:.2f} s is in a pause"
    # ... and the energy / webrtc gates find most syllables (silero is a speech detector:
    # isolated syllables are the hard case for it, so only one is asked of it)
    found = sum(any(s / 16000 <= (a + b) / 2 <= e / 16000 or a <= s / 16000 <= b
                    for s, e in regs) for a, b in spans)
    assert found >= (1 if backend == "silero" else len(spans) - 1)
    with pytest.raises(ValueError, match="unknown VAD backend"):
        signals.voiced_regions(x16, "nope")


def test_voiced_regions_merge_across_short_gaps_only(syllables):
    """``merge_gap_seconds`` joins regions across pauses up to that length (before
    padding); the 0.8 s silences between syllables stay cuts below it, and vanish above."""
    x, spans = syllables
    x16 = signals.to_mono(x, SR, 16000)
    plain = signals.voiced_regions(x16, "webrtc", aggressiveness=2, range_db=45.0)
    short = signals.voiced_regions(x16, "webrtc", aggressiveness=2, range_db=45.0,
                                   merge_gap_seconds=0.3)
    assert len(spans) - 1 <= len(short) <= len(plain)
    assert all(any(a <= s and e <= b for a, b in short) for s, e in plain)  # only joined
    whole = signals.voiced_regions(x16, "webrtc", aggressiveness=2, range_db=45.0,
                                   merge_gap_seconds=GAP + 0.5)
    assert whole == [(plain[0][0], plain[-1][1])]


def test_speech_probability_is_higher_on_syllables_than_in_pauses(syllables):
    x, spans = syllables
    x16 = signals.to_mono(x, SR, 16000)
    p = signals.speech_probability(x16)
    assert len(p) == signals.n_frames(len(x16)) and 0 <= p.min() and p.max() <= 1
    t = (np.arange(len(p)) + 0.5) / signals.FRAME_RATE
    on = np.array([_inside(v, spans, 0.0) for v in t])
    far = np.array([not _inside(v, spans, 0.2) for v in t])
    assert p[on].mean() > p[far].mean() + 0.1


def test_quiet_point_slices_cut_in_the_pauses(syllables):
    x, spans = syllables
    pieces = signals.slice_at_quiet_points(x, SR, min_seconds=0.3, max_seconds=2.0)
    assert pieces and all(0.3 - 1e-6 <= e - s <= 2.0 + 1e-6 for s, e in pieces)
    assert pieces == sorted(pieces)
    # every cut lies where the recording is quiet (>= 30 dB below its loud frames), i.e.
    # between syllables, never through one
    level = signals.energy_db(signals.to_mono(x, SR, 16000))
    loud = np.percentile(level, 95)
    cuts = {round(v, 3) for piece in pieces for v in piece}
    for c in cuts:
        assert level[min(len(level) - 1, int(round(c * signals.FRAME_RATE)))] < loud - 30, c
    assert len(cuts) > 4                     # 9 s in pieces of at most 2 s
    # the leading silence (0.8 s, plus the file's own) is trimmed, keeping 50 ms
    assert pieces[0][0] > GAP
    with pytest.raises(ValueError, match="min_seconds"):
        signals.slice_at_quiet_points(x, SR, min_seconds=3.0, max_seconds=2.0)


def test_world_f0_of_a_voice_and_of_a_tone(syllables):
    x, spans = syllables
    x16 = signals.to_mono(x, SR, 16000, dtype=np.float64)
    t, f_h = signals.world_f0(x16, 16000, method="harvest")
    _, f_d = signals.world_f0(x16, 16000, method="dio", speed=4)
    assert t[1] - t[0] == pytest.approx(0.01)
    voiced = (f_h > 0) & (f_d[:len(f_h)] > 0)
    assert voiced.sum() > 50
    # an adult speaker; the two trackers agree (median |difference| under a semitone)
    assert 70 < np.median(f_h[voiced]) < 400
    st = 12 * np.abs(np.log2(f_h[voiced] / f_d[:len(f_h)][voiced]))
    assert np.median(st) < 1.0
    # no voicing in the middle of the pauses
    tv = t[f_h > 0]
    assert np.mean([_inside(v, spans, 0.1) for v in tv]) > 0.95
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)
    _, f = signals.world_f0(tone, 16000, method="dio")
    assert np.median(f[f > 0]) == pytest.approx(220, rel=0.01)
    with pytest.raises(ValueError, match="unknown F0 method"):
        signals.world_f0(tone, 16000, method="crepe")

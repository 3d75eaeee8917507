"""Slicing at quiet points and band filters on tones and silence."""

import numpy as np
import pytest

from discovervoice import testsignals as S
from discovervoice.prep.filters import (FilterError, FilterSpec, apply_filters, highpass, lowpass,
                                        notch, parse_notch)
from discovervoice.prep.slicing import slice_at_quiet_points

SR = 16_000


def _tones_with_gaps(lengths, gap=0.4):
    parts, gaps, t = [], [], 0.0
    for i, d in enumerate(lengths):
        parts.append(S.harmonic_tone(200 + 30 * i, d, SR))
        t += d
        if i < len(lengths) - 1:
            parts.append(S.silence(gap))
            gaps.append((t, t + gap))
            t += gap
    return np.concatenate(parts), gaps


def test_long_region_is_cut_inside_the_silent_gaps():
    x, gaps = _tones_with_gaps([3.0, 3.0, 3.0, 3.0])
    pieces = slice_at_quiet_points(x, SR, min_seconds=2.0, max_seconds=7.0)
    assert len(pieces) >= 2
    for a, b in pieces:
        assert 2.0 <= b - a <= 7.0 + 1e-6
    # every cut (end of one piece) lies in a gap between tones
    for a, b in pieces[:-1]:
        assert any(g0 - 0.06 <= b <= g1 + 0.06 for g0, g1 in gaps), (b, gaps)


def test_pieces_never_exceed_max_even_without_silence():
    x = S.harmonic_tone(220, 20.0, SR)
    pieces = slice_at_quiet_points(x, SR, min_seconds=1.0, max_seconds=4.0)
    # the bounds are seconds computed from sample counts: compare with a tolerance of a
    # sample or so, never at the exact float boundary (a piece of 0.9999999999999982 s is 1 s)
    tol = 1e-3
    assert all(1.0 - tol <= b - a <= 4.0 + tol for a, b in pieces)
    assert sum(b - a for a, b in pieces) == pytest.approx(20.0, abs=0.1)


def test_short_regions_are_dropped_and_edges_trimmed():
    x = np.concatenate([S.silence(1.0), S.harmonic_tone(220, 1.0, SR), S.silence(1.0),
                        S.harmonic_tone(220, 3.0, SR), S.silence(1.0)])
    pieces = slice_at_quiet_points(x, SR, min_seconds=2.0, max_seconds=10.0,
                                   regions=[(0.5, 2.5), (2.5, 7.0)])
    assert len(pieces) == 1
    a, b = pieces[0]
    assert a == pytest.approx(3.0, abs=0.08) and b == pytest.approx(6.0, abs=0.08)


def test_voice_slices_finds_the_voice_and_respects_bounds():
    from discovervoice.prep.slicing import voice_slices
    from discovervoice.prep.voicetype import RuleVoiceType

    rng = np.random.default_rng(0)
    phrase = S.sung_phrase([220, 247, 262, 294, 330, 294, 262, 247], 0.5)
    x = np.concatenate([S.silence(1.0), phrase, S.silence(1.5), S.drum_loop(3.0, rng),
                        S.silence(1.0), phrase, S.silence(0.3), phrase, S.silence(1.0)])
    pieces = voice_slices(x, SR, min_seconds=2.0, max_seconds=6.0, classifier=RuleVoiceType())
    assert len(pieces) == 3
    assert pieces[0][0] == pytest.approx(1.0, abs=0.1) and pieces[0][1] == pytest.approx(5.0, abs=0.1)
    assert all(2.0 <= b - a <= 6.0 + 1e-6 for a, b in pieces)
    assert all(not (6.5 < (a + b) / 2 < 9.5) for a, b in pieces)  # nothing from the drums


def test_bad_bounds_raise():
    with pytest.raises(ValueError):
        slice_at_quiet_points(np.zeros(SR, np.float32), SR, min_seconds=3, max_seconds=2)


def _level(x, f):
    t = np.arange(x.shape[-1]) / SR
    return abs(np.mean(x * np.exp(-2j * np.pi * f * t))) * 2


def test_notch_removes_hum_and_keeps_the_voice_band():
    t = np.arange(2 * SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 50 * t) + 0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = notch(x, SR, 50.0, 30.0)
    assert _level(y, 50) < 0.01 * _level(x, 50)
    assert _level(y, 440) == pytest.approx(_level(x, 440), rel=0.02)
    assert y.dtype == np.float32 and y.shape == x.shape


def test_highpass_and_lowpass_attenuate_the_stop_band():
    t = np.arange(2 * SR) / SR
    x = (np.sin(2 * np.pi * 40 * t) + np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 6000 * t)) / 3
    hp = highpass(x, SR, 100.0)
    lp = lowpass(x, SR, 3000.0)
    assert _level(hp, 40) < 0.1 * _level(x, 40) and _level(hp, 1000) == pytest.approx(_level(x, 1000), rel=0.02)
    assert _level(lp, 6000) < 0.01 * _level(x, 6000) and _level(lp, 1000) == pytest.approx(_level(x, 1000), rel=0.02)
    both = apply_filters(np.stack([x, x]), SR, FilterSpec(100.0, 3000.0, ((1000.0, 5.0),)))
    assert both.shape == (2, len(x))
    assert _level(both[0], 1000) < 0.05 * _level(x, 1000)


def test_filter_errors_name_the_problem():
    x = np.zeros(SR, np.float32)
    with pytest.raises(FilterError, match="Nyquist"):
        lowpass(x, SR, 9000.0)
    with pytest.raises(FilterError, match="Q"):
        notch(x, SR, 50.0, 0.0)
    assert parse_notch("60:20") == (60.0, 20.0) and parse_notch("50") == (50.0, 30.0)
    with pytest.raises(FilterError):
        parse_notch("hum")
    assert FilterSpec().empty

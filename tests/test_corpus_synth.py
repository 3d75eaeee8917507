"""Singing and speaking voices: the sung line follows the score, phone timings are real.

Needs espeak-ng + MBROLA voices (and festival for its test); skipped with the reason when
they are not installed (scripts/install-system-deps.sh installs them; CI does).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pw = pytest.importorskip("pyworld")
parselmouth = pytest.importorskip("parselmouth")

from discovervoice.corpus import synth, voices  # noqa: E402

needs_mbrola = pytest.mark.skipif(
    shutil.which("mbrola") is None or shutil.which("espeak-ng") is None
    or not voices.list_voices(kinds=("mbrola",)),
    reason="espeak-ng / mbrola / mbrola voices not installed (scripts/install-system-deps.sh)")
needs_festival = pytest.mark.skipif(
    not voices.list_voices(kinds=("festival",)),
    reason="festival + festvox-kdlpc16k not installed (scripts/install-system-deps.sh)")

MELODY = [55, 57, 59, 60, 62, 62, 60, 59, 57, 55]
LYRICS = ["Wach", "auf", "ruft", "uns", "die", None, "Stim", "me", "der", "Wach"]


def _notes(voice, lyrics=LYRICS):
    shift = 12 if voice.sex == "female" else 0
    dur = [0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.5, 0.75, 0.5, 1.0]
    out, t = [], 0.4
    for m, s, d in zip(MELODY, lyrics, dur):
        out.append(synth.SungNote(t, d, m + shift, s))
        t += d
    return out


def pitch_accuracy(r: synth.Rendering, notes) -> float:
    """Fraction of voiced frames (inside each note, 80 ms after the onset and 50 ms
    before the end) within 50 cents of the note (Praat autocorrelation pitch through
    parselmouth, 5 ms steps)."""
    return score_pitch(r.audio, r.sample_rate, [(n.start, n.start + n.dur, n.pitch)
                                                 for n in notes])


def score_pitch(audio, sr, notes) -> float:
    """Same as :func:`pitch_accuracy` for ``notes = [(start_s, end_s, midi)]``."""
    snd = parselmouth.Sound(np.asarray(audio, dtype=np.float64), sr)
    p = snd.to_pitch_ac(time_step=0.005, pitch_floor=60, pitch_ceiling=1100)
    f0, t = p.selected_array["frequency"], p.xs()
    cents = []
    for a, b, m in notes:
        sel = (t >= a + 0.08) & (t < b - 0.05) & (f0 > 0)
        cents += list(1200 * np.log2(f0[sel] / synth.midi_to_hz(m)))
    assert len(cents) > 50, "almost no voiced frames: the voice did not sing"
    return float(np.mean(np.abs(cents) < 50))


@needs_mbrola
@pytest.mark.parametrize("vid", ["mbrola-us1", "mbrola-de2", "mbrola-fr1", "mbrola-it1"])
def test_mbrola_sings_the_score(vid):
    try:
        v = voices.get_voice(vid)
    except Exception:
        pytest.skip(f"{vid} not installed")
    notes = _notes(v)
    r = synth.sing(notes, v)
    assert r.audio.dtype == np.float32 and np.abs(r.audio).max() > 0.05
    assert pitch_accuracy(r, notes) >= 0.95


@needs_mbrola
def test_mbrola_phone_timings_cover_the_audio_and_sit_on_the_notes():
    v = voices.list_voices(kinds=("mbrola",))[0]
    notes = _notes(v)
    r = synth.sing(notes, v)
    ph = r.phones
    assert ph[0][0] == 0.0
    assert all(b > a for a, b, _ in ph)
    assert all(abs(ph[i][1] - ph[i + 1][0]) < 1e-9 for i in range(len(ph) - 1))
    assert abs(ph[-1][1] - len(r.audio) / r.sample_rate) < 0.02
    # a non-silent phone starts at each syllable onset
    onsets = {round(n.start, 3) for n in notes if n.syllable}
    starts = {round(a, 3) for a, _, p in ph if p != "_"}
    assert onsets <= starts


@needs_mbrola
def test_batched_phonemes_equal_one_call_per_syllable():
    v = voices.list_voices(kinds=("mbrola",))[0]
    syl = ["Wach", "auf", "ruft", "uns", "die", "Stim", "me", "la"]
    batched = synth.phonemize_syllables(syl, v.espeak)
    single = [list(synth._phonemize_one(synth._clean_syllable(s), v.espeak)) for s in syl]
    assert [list(b) for b in batched] == single


@needs_mbrola
def test_speak_returns_speech_with_phones():
    v = voices.list_voices(kinds=("mbrola",))[0]
    r = synth.speak("The north wind and the sun were arguing.", v)
    dur = len(r.audio) / r.sample_rate
    assert 1.0 < dur < 6.0
    assert abs(r.phones[-1][1] - dur) < 0.02
    assert sum(p != "_" for _, _, p in r.phones) >= 15


@needs_festival
def test_festival_voice_sings_through_world():
    v = voices.list_voices(kinds=("festival",))[0]
    notes = _notes(v)
    r = synth.sing(notes, v)
    assert r.sample_rate == 16000
    assert pitch_accuracy(r, notes) >= 0.95
    assert r.phones and r.phones[-1][1] == pytest.approx(len(r.audio) / 16000, abs=0.01)


@needs_mbrola
def test_very_long_high_note_is_held_then_breathed_not_a_crash():
    # ~3400 pitch periods on one vowel made MBROLA panic; the note is now held for at
    # most MAX_PHONE_PERIODS periods and the rest is silence
    try:
        v = voices.get_voice("mbrola-br4")
    except Exception:
        v = next(x for x in voices.list_voices(kinds=("mbrola",)) if x.sex == "female")
    notes = [synth.SungNote(0.3, 6.7, 71, "so"), synth.SungNote(7.0, 4.4, 65, "nu")]
    r = synth.sing(notes, v, vibrato_depth=0.0)
    assert abs(len(r.audio) / r.sample_rate - 11.7) < 0.1
    long_vowels = [b - a for a, b, p in r.phones if p != "_"]
    assert max(long_vowels) <= 1.0 * synth.MAX_PHONE_PERIODS / (1.0 * synth.midi_to_hz(71)) + 0.01


def test_clause_split_handles_every_pause_shape_espeak_ng_writes():
    # shapes seen in espeak-ng --pho output: "_ 301" + "_ 1" after each line (German,
    # Hungarian), an extra "_ 1" before a vowel-initial line, one "_ 417" (Persian), and
    # short pauses inside a syllable (dropped)
    pho = ("j 65\nE 95 0 198\n_ 301\n_ 1\n_ 1\nE 95 0 191\n_ 301\n_ 1\n_ 25\nu 49 0 198\n"
           "n 111\nd 65\n_ 301\n_ 1\nn 76\no 260 0 103\n_ 417\nd 76\na: 225 0 103\n_ 417\n")
    blocks = synth._split_clauses(synth._parse_pho(pho))
    assert [[p[0] for p in b] for b in blocks] == [["j", "E"], ["E"], ["u", "n", "d"],
                                                   ["n", "o"], ["d", "a:"]]
    assert blocks[3][1] == ("o", 260, True) and blocks[3][0] == ("n", 76, False)


@needs_mbrola
@pytest.mark.parametrize("vid,syl", [
    ("mbrola-hu1", ["Le", "ben", "gam", "e", "Freud", "und", "Won", "ne"]),
    ("mbrola-ir1", ["نو", "دا", "نا", "لا"]),
])
def test_batched_phonemes_need_one_espeak_call(vid, syl, monkeypatch):
    try:
        v = voices.get_voice(vid)
    except Exception as exc:  # noqa: BLE001 - the voice is an optional package
        pytest.skip(f"{vid} not installed: {exc}")
    single = [[p[0] for p in synth._phonemize_one(synth._clean_syllable(s), v.espeak)]
              for s in syl]

    def no_fallback(*a):
        raise AssertionError("fell back to one espeak-ng call per syllable")

    monkeypatch.setattr(synth, "_phonemize_one", no_fallback)
    batched = synth.phonemize_syllables(syl, v.espeak)
    assert [[p[0] for p in b] for b in batched] == single

"""One multitrack song: a chorale sung by a voice over FluidSynth / drum-sample stems.

:func:`build_song` draws every choice of a song from its own ``numpy`` generator (tempo,
transposition, instruments, drums, levels, panning, reverb), renders the stems
``vocals, drums, bass, other`` as ``ndarray[2, T]`` float32 at 44.1 kHz and returns them
with the mixture, computed as their float32 sum (within 1e-6 of the exact sum), plus the
song's metadata (the phone timings and the notes of the sung line included).

Who does what: the sung line comes from :mod:`discovervoice.corpus.synth` (espeak-ng +
MBROLA, or festival + pyworld) and is resampled to 44.1 kHz with soxr
(:func:`discovervoice.audio.resample`); bass, other and GM drums from libfluidsynth
in-process (:mod:`discovervoice.corpus.accompaniment`, one soundfont parse per process);
sampled drums from Hydrogen kits with numpy; the reverb is one FFT convolution per stem
(``scipy.fft`` via :class:`discovervoice.corpus.mix.Convolver`, the impulse response's
spectrum shared by the four stems). Every level is one scalar gain per stem, applied
in a single pass that writes the stems into interleaved ``[T, 2]`` buffers (the WAV
layout, so writing them needs no transposed copy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from discovervoice.corpus import accompaniment as acc
from discovervoice.corpus.mix import (Convolver, apply_reverb, db_to_gain, pan_gains, rms,
                                      synthetic_ir)
from discovervoice.corpus.scores import Note, Piece
from discovervoice.corpus.synth import Rendering, SungNote, sing
from discovervoice.corpus.texts import reads_latin, vocalise_syllables
from discovervoice.corpus.voices import Voice

SR = acc.SR
STEMS = ("vocals", "drums", "bass", "other")

# GM programs to draw from
BASS_PROGRAMS = (32, 33, 34, 35, 36, 38, 39)            # acoustic .. synth bass
OTHER_PROGRAMS = (0, 1, 2, 4, 5, 6, 11, 16, 19, 21, 24, 25, 26, 27, 40, 41, 42, 46, 48,
                  49, 50, 52, 56, 60, 61, 65, 68, 70, 71, 73, 88, 89)


@dataclass
class Song:
    """A rendered song. ``stems``: name -> ``ndarray[2, T]`` float32 (44.1 kHz; views
    of interleaved ``[T, 2]`` buffers, not C-contiguous); ``mixture``: ``ndarray[2, T]``
    float32 (same layout), the sum of the stems; ``meta``: provenance
    and the choices made; ``phones``: vocal phone timings ``[(start_s, end_s, phone)]``;
    ``notes``: the sung notes ``[(start_s, end_s, midi)]``."""

    stems: dict[str, np.ndarray]
    mixture: np.ndarray
    meta: dict
    phones: list | None = None
    notes: list = field(default_factory=list)


def fit_transpose(pitches: list[int], low: int, high: int) -> int:
    """Semitones that put the median of ``pitches`` at the middle of [low, high],
    nudged so that the line stays inside the range where it can."""
    if not pitches:
        return 0
    k = int(round((low + high) / 2 - float(np.median(pitches))))
    lo, hi = min(pitches) + k, max(pitches) + k
    if hi > high:
        k -= min(hi - high, max(0, lo - low))
    elif lo < low:
        k += min(low - lo, max(0, high - hi))
    return k


def melody_to_sung(notes: list[Note], q: float, offset_s: float, transpose: int,
                   syllables: list[str] | None, rng: np.random.Generator,
                   voice: Voice) -> list[SungNote]:
    """Score notes (quarter notes) -> :class:`SungNote` (seconds), lyrics or vocalise."""
    use_lyrics = syllables is None and reads_latin(voice.language) and \
        sum(n.lyric is not None for n in notes) >= 0.5 * max(1, len(notes))
    voc = vocalise_syllables(voice.language)
    out = []
    for i, n in enumerate(notes):
        if use_lyrics:
            syl = n.lyric if (n.lyric is not None or i == 0) else None
            syl = syl or (voc[0] if i == 0 else None)
        elif syllables is not None:
            syl = syllables[i % len(syllables)]
        else:
            syl = str(rng.choice(voc))
        out.append(SungNote(offset_s + n.start * q, n.dur * q, n.pitch + transpose, syl))
    return out


def _cut(notes: list[Note], end_q: float) -> list[Note]:
    out = []
    for n in notes:
        if n.start >= end_q - 1e-6:
            break
        out.append(Note(n.start, min(n.dur, end_q - n.start), n.pitch, n.lyric, n.word_end))
    return out


def _weighted_sum(stems: dict[str, np.ndarray], scale: dict[str, float],
                  names: tuple[str, ...]) -> np.ndarray:
    """``sum(scale[s] * stems[s])`` over ``names`` as a new float32 ``ndarray[2, T]``."""
    out = np.multiply(stems[names[0]], np.float32(scale[names[0]]), dtype=np.float32)
    tmp = np.empty_like(out)
    for s in names[1:]:
        np.multiply(stems[s], np.float32(scale[s]), out=tmp)
        out += tmp
    return out


def build_song(piece: Piece, voice: Voice, soundfont: acc.SoundFont, rng: np.random.Generator,
               *, max_seconds: float = 25.0, lead_in: float = 0.5, tail: float = 1.0,
               reverb_prob: float = 0.5, drums_prob: float = 0.85,
               kits: list[str] | None = None) -> Song:
    """Render ``piece`` sung by ``voice`` with stems from ``soundfont``.

    Args:
        piece: a score with >= 2 parts (melody first, bass last).
        voice: singer (see :mod:`discovervoice.corpus.voices`).
        soundfont: GM soundfont for bass/other (and GM drums).
        rng: all random choices come from here (deterministic builds).
        max_seconds: the excerpt is cut at the last note start before this many seconds.

    Returns:
        :class:`Song` (stems, mixture = their sum, meta).

    Raises:
        ValueError: a piece with fewer than two parts.
        SynthesisError: the voice's synthesizer failed.
        DataError: the soundfont or a drum kit cannot be loaded.
    """
    if len(piece.parts) < 2:
        raise ValueError(f"{piece.piece_id}: needs at least melody and bass parts")
    bpm = float(rng.uniform(68, 112))
    q = 60.0 / bpm
    end_q = min(piece.length_q, max_seconds / q)
    parts = [_cut(p, end_q) for p in piece.parts]
    melody, bass, middle = parts[0], parts[-1], parts[1:-1]
    k = fit_transpose([n.pitch for n in melody], voice.low, voice.high)
    k_acc = k - 12 * int(round(k / 12))            # same key, octave kept
    duration = lead_in + end_q * q + tail

    n = int(round(duration * SR))
    vocals, r, sung, vib_rate, vib_depth, vpan = _sing_vocals(melody, q, lead_in, k, voice, n, rng)
    stems = {"vocals": vocals}
    bass_prog, other_desc, drums_meta = _add_accompaniment(
        stems, piece, melody, bass, middle, q, lead_in, k_acc, end_q * q, bpm, duration, n,
        soundfont, rng, drums_prob=drums_prob, kits=kits)
    scale, gains_db, vocal_db = _stem_scales(stems, rng)
    reverb = _add_reverb(stems, n, rng, reverb_prob)
    stems, mixture = _final_mix(stems, scale, n, rng)

    meta = {
        "piece": piece.piece_id, "title": piece.title, "piece_licence": piece.licence,
        "voice": voice.id, "voice_licence": voice.licence, "language": voice.language,
        "sex": voice.sex, "soundfont": soundfont.name, "soundfont_licence": soundfont.licence,
        "bpm": round(bpm, 3), "transpose_semitones": k, "accompaniment_transpose": k_acc,
        "bass_program": bass_prog, "other": other_desc, "drums": drums_meta,
        "stem_gains_db": {s: round(v, 3) for s, v in gains_db.items()},
        "vocal_to_accompaniment_db": round(vocal_db, 3), "vocal_pan": round(vpan, 3),
        "vibrato": {"rate_hz": round(vib_rate, 3), "depth_semitones": round(vib_depth, 3)},
        "reverb": reverb, "duration_s": round(n / SR, 4), "lead_in_s": lead_in,
        "lyrics": " ".join(s.syllable for s in sung if s.syllable),
    }
    notes = [(round(s.start, 4), round(s.start + s.dur, 4), s.pitch) for s in sung]
    return Song(stems, mixture, meta, r.phones, notes)


def _sing_vocals(melody: list, q: float, lead_in: float, k: int, voice: Voice, n: int,
                 rng: np.random.Generator) -> tuple:
    """The vocals stem ``ndarray[2, n]`` (sung melody, vibrato drawn, panned) with the
    rendering, the sung notes and the drawn vibrato rate / depth and pan."""
    sung = melody_to_sung(melody, q, lead_in, k, None, rng, voice)
    vib_rate = float(rng.uniform(4.8, 6.2))
    vib_depth = float(rng.uniform(0.15, 0.4))
    r: Rendering = sing(sung, voice, vibrato_rate=vib_rate, vibrato_depth=vib_depth)
    from discovervoice.audio import resample
    v = resample(r.audio[None, :].astype(np.float32), r.sample_rate, SR)[0]
    v = np.pad(v, (0, max(0, n - v.size)))[:n]
    vpan = float(rng.uniform(-0.15, 0.15))
    gl, gr = pan_gains(vpan)
    vocals = np.stack([gl * v, gr * v]).astype(np.float32)
    return vocals, r, sung, vib_rate, vib_depth, vpan


def _add_accompaniment(stems: dict, piece: Piece, melody: list, bass: list, middle: list,
                       q: float, lead_in: float, k_acc: int, music_seconds: float, bpm: float,
                       duration: float, n: int, soundfont: acc.SoundFont,
                       rng: np.random.Generator, *, drums_prob: float,
                       kits: list[str] | None) -> tuple:
    """Render the bass, other and drums stems into ``stems``; returns the bass program,
    the other instruments' description and the drums' description."""
    rend = acc.renderer(soundfont.path)
    to_events = lambda notes, vel, shift: [  # noqa: E731
        (lead_in + x.start * q, lead_in + (x.start + x.dur) * q * 0.97, x.pitch + shift,
         int(np.clip(vel + rng.integers(-8, 9), 20, 127))) for x in notes]
    bass_prog = int(rng.choice(BASS_PROGRAMS))
    bass_shift = k_acc - (12 if min(x.pitch for x in bass) + k_acc >= 40 and rng.random() < 0.5
                          else 0)
    bass_track = acc.Track(to_events(bass, 90, bass_shift), bass_prog,
                           pan=float(rng.uniform(-0.2, 0.2)))
    other_tracks, other_desc = [], []
    n_inst = int(rng.integers(1, 3))
    progs = [int(p) for p in rng.choice(OTHER_PROGRAMS, size=n_inst, replace=False)]
    for i, prog in enumerate(progs):
        lines = middle if i == 0 else middle[len(middle) // 2:] or middle
        notes_all = [e for line in lines for e in to_events(line, 75, k_acc)]
        if rng.random() < 0.4:   # double the melody (makes separation honest)
            notes_all += to_events(melody, 60, k_acc)
        pan = float(rng.uniform(-0.7, 0.7))
        other_tracks.append(acc.Track(notes_all, prog, pan=pan))
        other_desc.append({"program": prog, "pan": round(pan, 3)})
    stems["bass"] = rend.render([bass_track], duration)
    stems["other"] = rend.render(other_tracks, duration)
    beats = int(piece.meta.get("beats_per_bar", 4) or 4)
    drums_meta: dict = {"kind": "none"}
    if rng.random() < drums_prob:
        hits = acc.drum_pattern(music_seconds, bpm, beats if beats in (2, 3, 4, 6) else 4, rng)
        hits = [(t + lead_in, role, vel) for t, role, vel in hits]
        kits = kits if kits is not None else acc.hydrogen_kits()
        if kits and rng.random() < 0.5:
            kit = acc.load_kit(str(rng.choice(kits)))
            stems["drums"] = kit.play(hits, duration)
            drums_meta = {"kind": "hydrogen", "kit": kit.name, "licence": kit.licence}
        else:
            stems["drums"] = rend.render([acc.gm_drum_track(hits)], duration)
            drums_meta = {"kind": "gm", "soundfont": soundfont.name}
    else:
        stems["drums"] = np.zeros((2, n), np.float32)
    return bass_prog, other_desc, drums_meta


def _stem_scales(stems: dict, rng: np.random.Generator) -> tuple:
    """One scalar gain per stem: accompaniment balance, then vocals against the
    accompaniment. Returns ``(scale, gains_db, vocal_db)``."""
    gains_db = {"bass": float(rng.uniform(-3, 3)), "other": float(rng.uniform(-3, 3)),
                "drums": float(rng.uniform(-5, 1))}
    scale = {s: 1.0 for s in STEMS}
    for s, g in gains_db.items():
        r_s = rms(stems[s])
        if r_s > 0:
            scale[s] = db_to_gain(g) * 0.1 / r_s
    accomp = _weighted_sum(stems, scale, ("bass", "other", "drums"))
    vocal_db = float(rng.uniform(-6, 6))
    scale["vocals"] = rms(accomp) * db_to_gain(vocal_db) / max(rms(stems["vocals"]), 1e-9)
    del accomp
    return scale, gains_db, vocal_db


def _add_reverb(stems: dict, n: int, rng: np.random.Generator, reverb_prob: float) -> dict | None:
    """Reverb per stem (so the mixture stays the sum of the stems), one FFT of the
    impulse response for all four; returns its description or ``None``."""
    reverb = None
    if rng.random() < reverb_prob:
        rt60 = float(rng.uniform(0.3, 1.6))
        ir = synthetic_ir(SR, rt60, rng)
        wet_v, wet_a = float(rng.uniform(0.1, 0.35)), float(rng.uniform(0.05, 0.25))
        conv = Convolver(ir, n, np.float32)
        for s in STEMS:
            stems[s] = apply_reverb(stems[s], conv, wet_v if s == "vocals" else wet_a)
        reverb = {"rt60_s": round(rt60, 3), "wet_vocals": round(wet_v, 3),
                  "wet_accompaniment": round(wet_a, 3)}
    return reverb


def _final_mix(stems: dict, scale: dict, n: int, rng: np.random.Generator) -> tuple:
    """Final gain (mixture peak drawn in [0.5, 0.95]); the stems are written straight into
    interleaved [T, 2] buffers (what a WAV file holds; the returned ``[2, T]`` are their
    views) and the mixture is the float32 sum of exactly those samples."""
    mix = _weighted_sum(stems, scale, STEMS)
    peak = max(float(mix.max()), -float(mix.min())) or 1.0
    g = float(rng.uniform(0.5, 0.95)) / peak
    out: dict[str, np.ndarray] = {}
    for s in STEMS:
        buf = np.empty((n, 2), np.float32)
        np.multiply(stems[s], np.float32(scale[s] * g), out=buf.T)
        out[s] = buf.T
    stems = out
    mix = mix.reshape(n, 2)   # the buffer is reused, every sample is overwritten
    np.add(stems["vocals"].T, stems["drums"].T, out=mix)
    mix += stems["bass"].T
    mix += stems["other"].T
    mixture = mix.T
    return stems, mixture

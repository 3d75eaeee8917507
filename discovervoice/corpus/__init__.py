"""Offline corpus builder: multitrack songs with true stems, singers, parallel voices,
noisy speech — made from what the Debian and PyPI package registries carry.

Command: ``discovervoice corpus build -o DIR [--include-reserved] ...`` (see ``cli.py``).

Layout of ``DIR`` (every audio file is float32 WAV)::

    DIR/manifest.json                       every file with its provenance (below)
    DIR/songs/<split>/<song>/               MUSDB18-HQ layout, 44.1 kHz stereo
        mixture.wav vocals.wav drums.wav bass.wav other.wav
        vocals.phones.json                  [[start_s, end_s, phone], ...] of the sung line
        vocals.notes.json                   [[start_s, end_s, midi], ...] the sung notes
    DIR/singers/<split>/<singer>/           16 kHz mono, per singer
        sung_NNN.wav   (+ .phones.json, .notes.json)
        spoken_NNN.wav (+ .phones.json)
    DIR/parallel/<split>/sets/<set>/<voice>.wav   the same phrase, timing and syllables
        (+ .phones.json, .notes.json)             by several voices (16 kHz mono; whole-
                                                  octave transposition recorded)
    DIR/parallel/<split>/voices/<voice>/*.wav     ~2.5 minutes of training audio per voice
                                                  (melodies that no set uses)
    DIR/noisy_speech/<split>/{clean,noise,noisy}/NNNNN.wav   16 kHz mono,
        noisy == clean + noise, SNR in the manifest (requested and measured)
    DIR/real_songs/<split>/<song>/          real-songs part (opt-in, --parts real-songs):
        mixture.wav vocals.wav accompaniment.wav   real recorded accompaniment (Debian
                                            music packages) + the corpus' vocals, 44.1 kHz
                                            stereo; valid = the real development set
                                            (see discovervoice.corpus.realsongs)
    DIR/<part>/<split>/manifest.json        the manifest items of that part and split
    DIR/.cache/                             parsed scores (safe to delete)
    DIR/.jobs/                              finished jobs: running the same command again
                                            resumes a stopped build

While a build runs, ``manifest.json`` is rewritten every 25 jobs with
``"in_progress": true``; it lists only files that are complete.

``<split>`` is ``train``, ``valid`` or ``test``. **The test split is made only of the
material DESIGN.md reserves for evaluation** (chorales whose BWV number ends in 0 or 5;
voices us2, en1, de4, fr3, nl2, it2, es2, pt1, festival kal and slt; the MuseScore
General soundfont) and is built only with ``--include-reserved``; train and valid never
use any of it (:mod:`discovervoice.corpus.reserved` checks every item). Singers of train
and valid are the same people (every 5th clip goes to valid); test singers are unseen.

Manifest items (``manifest.json["items"]``) have ``path`` (relative to DIR), ``part``
(songs, singers, parallel, noisy), ``split``, ``kind`` (song, sung, spoken, parallel,
train_sung, train_spoken, noisy), ``voices``, ``piece``, ``soundfont``, ``licences`` and
per-part fields (singer, language, sex, text, melody, bpm, transposition, vocal level,
reverb, SNR...). ``manifest.json`` also lists the voices, soundfonts, tools and licences.

Libraries and programs: espeak-ng (phonemes), MBROLA (diphone singing/speech), festival
(speech), pyworld (WORLD analysis/resynthesis), music21 (scores), libfluidsynth via
pyfluidsynth (GM stems), Hydrogen drum kits (real drum samples), soxr/soundfile through
:mod:`discovervoice.audio`. Licences: MBROLA voices are **non-commercial only**; see
:data:`discovervoice.corpus.build.LICENCES`.

Python API::

    from discovervoice.corpus import list_voices, get_voice, sing, speak, SungNote
    v = get_voice("mbrola-us1")
    r = sing([SungNote(0.0, 0.5, 64, "la"), SungNote(0.5, 1.0, 67, "lo")], v)
    r.audio, r.sample_rate, r.phones     # ndarray[T], Hz, [(start_s, end_s, phone)]
    speak("Hello there.", v)
    build_song(load_piece("bach/bwv26.6"), v, soundfonts()[0], np.random.default_rng(0))
    mix_at_snr(speech, noise, 20.0)      # -> (noisy, scaled_noise, gain)
    read_manifest("data/corpus", part="songs", split="train")   # -> [item, ...]
"""

from discovervoice.corpus.accompaniment import SoundFont, soundfonts
from discovervoice.corpus.build import BuildConfig, read_manifest  # build() stays in corpus.build: the name is the submodule
from discovervoice.corpus.mix import coloured_noise, mix_at_snr, rms, snr_db
from discovervoice.corpus.reserved import (ReservedMaterialError, check_split,
                                           is_reserved_piece, is_reserved_soundfont,
                                           is_reserved_voice)
from discovervoice.corpus.scores import Note, Piece, chorale_ids, load_piece
from discovervoice.corpus.songs import Song, build_song
from discovervoice.corpus.synth import Rendering, SungNote, SynthesisError, sing, speak
from discovervoice.corpus.voices import Voice, get_voice, list_voices

__all__ = [
    "BuildConfig", "Note", "Piece", "Rendering", "ReservedMaterialError", "Song",
    "SoundFont", "SungNote", "SynthesisError", "Voice", "build_song", "check_split",
    "chorale_ids", "coloured_noise", "get_voice", "is_reserved_piece",
    "is_reserved_soundfont", "is_reserved_voice", "list_voices", "load_piece", "mix_at_snr",
    "read_manifest", "rms", "snr_db", "sing", "soundfonts", "speak",
]

"""Example inputs for newcomers, made on first run with the corpus builder.

:func:`ensure_examples` writes, once, into ``$DISCOVERVOICE_HOME/examples`` (default
``~/.local/share/discovervoice/examples``):

* ``song/mixture.wav`` + its true stems (``vocals, drums, bass, other``; 44.1 kHz stereo),
  a Bach chorale excerpt sung by an MBROLA voice over FluidSynth stems
  (:func:`discovervoice.corpus.build_song`);
* ``voice.wav``: about 70 s of one voice speaking and singing (16 kHz mono), enough to
  train a voice model and to ask "which singer do I sound like".

Only material that DESIGN.md leaves free for training is used (no reserved chorale,
voice or soundfont), so the examples never leak evaluation material. Writing is atomic per
file and a ``done`` marker is written last, so an interrupted first run is redone.
Needs the corpus tools (espeak-ng, mbrola, fluidsynth: ``scripts/install-system-deps.sh``);
without them :class:`ExamplesUnavailableError` says what is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from discovervoice.errors import DiscoverVoiceError

EXAMPLE_PIECE = "bach/bwv26.6"
EXAMPLE_VOICE = "mbrola-us3"
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "I would like to hear this song in my own voice.",
    "Please sing the melody slowly, and then a little faster.",
    "Music is the shorthand of emotion, said the old composer.",
    "We recorded a few minutes of speech in a quiet room.",
    "Every morning the birds sing outside my window.",
)


class ExamplesUnavailableError(DiscoverVoiceError):
    """The corpus tools needed to make the examples are not installed."""


def default_dir() -> Path:
    home = os.environ.get("DISCOVERVOICE_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".local" / "share" / "discovervoice"
    return base / "examples"


def ensure_examples(folder: str | os.PathLike | None = None, seed: int = 0) -> dict[str, Path]:
    """Make the example song and voice if they are not there yet; return their paths.

    Returns:
        ``{"song": mixture.wav, "vocals": ..., "voice": voice.wav}``.

    Raises:
        ExamplesUnavailableError: espeak-ng / mbrola / fluidsynth or the voice is missing.
    """
    d = Path(folder) if folder else default_dir()
    paths = {"song": d / "song" / "mixture.wav", "vocals": d / "song" / "vocals.wav", "voice": d / "voice.wav"}
    if (d / "done").exists() and all(p.exists() for p in paths.values()):
        return paths
    for tool in ("espeak-ng", "mbrola"):
        if shutil.which(tool) is None:
            raise ExamplesUnavailableError(f"{tool} is not installed (run scripts/install-system-deps.sh)")
    from discovervoice import audio
    from discovervoice.corpus import SungNote, build_song, get_voice, is_reserved_piece, load_piece, sing, soundfonts, speak

    try:
        voice = get_voice(EXAMPLE_VOICE)
    except Exception as exc:
        raise ExamplesUnavailableError(f"example voice {EXAMPLE_VOICE} is not available: {exc}") from exc
    fonts = soundfonts()  # reserved soundfonts are left out by default
    if not fonts:
        raise ExamplesUnavailableError("no General MIDI soundfont installed (fluid-soundfont-gm)")
    assert not is_reserved_piece(EXAMPLE_PIECE) and not voice.reserved
    rng = np.random.default_rng(seed)
    song = build_song(load_piece(EXAMPLE_PIECE), voice, fonts[0], rng, max_seconds=12.0)
    for name, x in {**song.stems, "mixture": song.mixture}.items():
        audio.save(d / "song" / f"{name}.wav", x, 44100, clip="none")

    parts: list[np.ndarray] = []
    for text, pitch in [(t, p) for p in (40, 60) for t in SENTENCES]:
        r = speak(text, voice, pitch=pitch)
        parts += [audio.resample(r.audio[None].astype(np.float32), r.sample_rate, 16000)[0],
                  np.zeros(4000, np.float32)]
    base = voice.low + 2
    scale = [base + k for k in (0, 2, 4, 5, 7, 9, 11, 12) if base + k <= voice.high]
    for rep in range(4):
        sylls = [["la", "li", "lo", "lu"], ["ma", "me", "mo", "mi"], ["na", "ne", "no", "nu"],
                 ["da", "do", "de", "di"]][rep] * 4
        notes = [SungNote(0.45 * i, 0.42, m, syl) for i, (m, syl) in enumerate(zip(scale + scale[::-1], sylls))]
        r = sing(notes, voice)
        parts += [audio.resample(r.audio[None].astype(np.float32), r.sample_rate, 16000)[0],
                  np.zeros(4000, np.float32)]
    x = np.concatenate(parts)
    x = 0.5 * x / max(1e-6, float(np.max(np.abs(x))))
    audio.save(paths["voice"], x, 16000)
    (d / "done").write_text(json.dumps({"piece": EXAMPLE_PIECE, "voice": voice.id, "soundfont": fonts[0].name,
                                        "seed": seed, "licence": "MBROLA voice: non-commercial use only"}))
    return paths

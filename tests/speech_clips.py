"""A person's real voice recordings for tests: single words with pauses, as people record them.

KDE KLettres (Debian ``klettres-data``, GPL-2+; not reserved by DESIGN.md) ships one native
speaker per language folder saying syllables and letters. :func:`klettres_words` strings a
speaker's clips together with pauses into a few files, the way a newcomer records a word
list on a phone: about a minute in all, of which only about a third is voiced sound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

KLETTRES = Path("/usr/share/klettres")


def klettres_words(out_dir: Path, *, language: str = "es", kind: str = "syllab", files: int = 3,
                   words_per_file: int = 18, pause_seconds: float = 0.6, sample_rate: int = 44100) -> list[Path]:
    """Write ``files`` WAVs of ``words_per_file`` KLettres clips each, ``pause_seconds`` of
    silence between clips, at ``sample_rate`` (mono float32).

    The default (Spanish syllables, 3 x 18 clips) is ~56 s of audio with ~20 s voiced.

    Raises:
        FileNotFoundError: ``klettres-data`` is not installed or has too few clips.
    """
    from discovervoice import audio

    src = sorted((KLETTRES / language / kind).glob("*.ogg"))
    if len(src) < files * words_per_file:
        raise FileNotFoundError(f"klettres-data: {len(src)} clips in {language}/{kind}, "
                                f"need {files * words_per_file} (apt-get install klettres-data)")
    pause = np.zeros((1, int(pause_seconds * sample_rate)), dtype=np.float32)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(files):
        parts = []
        for f in src[i * words_per_file:(i + 1) * words_per_file]:
            parts += [audio.load(f, sample_rate, channels=1), pause]
        written.append(audio.save(out_dir / f"words-{i + 1}.wav", np.concatenate(parts, axis=1), sample_rate))
    return written

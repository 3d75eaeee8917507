"""A small music library for the library tests and ``benchmarks/bench_library.py``.

Short corpus songs (:mod:`discovervoice.corpus.build`: a chorale rendered with FluidSynth,
its soprano line sung by an MBROLA voice) written as flac/ogg/mp3 files tagged with mutagen,
one "artist" per corpus voice. Needs espeak-ng, MBROLA voices and a GM soundfont
(scripts/install-system-deps.sh); :func:`missing_tools` says what is absent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping

import numpy as np

# corpus voice -> the artist name its songs carry (odd characters on purpose)
ARTISTS = {"mbrola-us1": "Ada Quinn", "mbrola-de2": 'Björk "Bee" Østergård',
           "mbrola-fr1": "Chloé / Lune ✨"}
# the artists whose untagged wavs sit in an artist folder (the others' go through a CSV)
FOLDER = {"mbrola-us1": "Ada Quinn", "mbrola-de2": 'Björk "Bee" Østergård'}


def missing_tools() -> str:
    """``""`` when the corpus songs can be built here, else what is missing."""
    from discovervoice.corpus import accompaniment as acc
    from discovervoice.corpus import voices

    missing = [p for p in ("espeak-ng", "mbrola") if shutil.which(p) is None]
    if not missing and not voices.list_voices(kinds=("mbrola",)):
        missing.append("MBROLA voices")
    if not acc.soundfonts():
        missing.append("a GM soundfont")
    return ", ".join(missing)


def tag(path: str | os.PathLike, artist: str, title: str) -> None:
    """Write ``artist`` and ``title`` tags into an audio file (mutagen, easy tags)."""
    import mutagen

    f = mutagen.File(str(path), easy=True)
    if f.tags is None:
        f.add_tags()
    f["artist"], f["title"] = artist, title
    f.save()


def build_songs(out: str | os.PathLike, *, songs: int = 12, seconds: float = 5.0, seed: int = 3,
                voices: Mapping[str, str] | tuple[str, ...] = tuple(ARTISTS),
                workers: int = 1) -> Path:
    """Build a corpus of ``songs`` short songs (and one sung clip per voice, for queries)
    into ``out``; returns ``out``. Songs are in ``out/songs/train/<id>_<voice>/mixture.wav``,
    sung clips in ``out/singers/train/<voice>/sung_000.wav``."""
    from discovervoice.corpus.build import BuildConfig, build

    build(BuildConfig(out=str(out), seed=seed, songs=songs, valid_fraction=0.0,
                      song_seconds=seconds, voices=tuple(voices), parts=("songs", "singers"),
                      sung_per_singer=1, spoken_per_singer=0, parallel_sets=0, noisy_pairs=0,
                      recorded_voices=False, workers=workers))
    return Path(out)


def corpus_songs(corpus: str | os.PathLike) -> list[tuple[Path, str]]:
    """``[(mixture.wav, voice)]`` of a corpus build, in song order."""
    dirs = sorted((Path(corpus) / "songs" / "train").glob("0*"))
    return [(d / "mixture.wav", d.name.rsplit("_", 1)[1]) for d in dirs]


def write_tagged(corpus: str | os.PathLike, root: str | os.PathLike, *,
                 artists: Mapping[str, str] = ARTISTS,
                 kinds: tuple[str, ...] = ("flac", "ogg", "mp3")) -> list[Path]:
    """Every corpus song as ``root/track<NN>.<kind>`` (kinds in turn), tagged with its
    voice's artist and the title ``Song <NN>``. Returns the files."""
    import soundfile as sf

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (mix, voice) in enumerate(corpus_songs(corpus)):
        x, sr = sf.read(mix, dtype="float32")
        kind = kinds[i % len(kinds)]
        p = root / f"track{i:02d}.{kind}"
        sf.write(p, x, sr, format=kind.upper())
        tag(p, artists[voice], f"Song {i:02d}")
        out.append(p)
    return out


def write_test_library(corpus: str | os.PathLike, root: str | os.PathLike) -> Path:
    """MUSIC_DIR of tests/test_library.py: the corpus songs (9 of 12 tagged flac/ogg/mp3,
    every 4th an untagged wav whose artist comes from its folder or from
    ``root/artists.csv``), plus a corrupt mp3, a tagged silent flac, a 2-hour flac, and a
    byte-identical copy of track01.ogg. Three tagged songs share the title "Same Title"
    (tracks 00 and 01, by two artists, and a later one by track00's artist); the other
    tagged songs' titles hold a newline."""
    import soundfile as sf

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = ["path,artist,title"]
    songs = corpus_songs(corpus)
    kinds = [("flac", "ogg", "mp3", "wav")[i % 4] for i in range(len(songs))]
    # "Same Title": tracks 00 and 01 (two artists) and the next tagged song by track00's artist
    same = {0, 1} | {next((i for i in range(2, len(songs))
                          if kinds[i] != "wav" and songs[i][1] == songs[0][1]), 0)}
    for i, (mix, voice) in enumerate(songs):
        x, sr = sf.read(mix, dtype="float32")
        kind = kinds[i]
        if kind == "wav":
            if voice in FOLDER:                      # artist from the folder
                p = root / FOLDER[voice] / "live" / f"take {i}.wav"
            else:                                    # artist from --artists
                p = root / f"untagged_{i}.wav"
                rows.append(f'{p.name},"{ARTISTS[voice]}",From the CSV')
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, x, sr, subtype="PCM_16")
            continue
        p = root / f"track{i:02d}.{kind}"
        sf.write(p, x, sr, format=kind.upper())
        tag(p, ARTISTS[voice], "Same Title" if i in same else f"Chorale {i}\n  (live)")
    (root / "artists.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "Ada Quinn").mkdir(exist_ok=True)
    (root / "Ada Quinn" / "broken.mp3").write_bytes(
        b"ID3\x03\x00\x00\x00\x00\x00\x00" + os.urandom(3000))
    silent = root / "silence.flac"
    sf.write(silent, np.zeros((44100 * 4, 2), np.float32), 44100)
    tag(silent, "Ada Quinn", "Nothing")
    write_long_flac(root / "dj set.flac", hours=2.0)
    tag(root / "dj set.flac", "Ada Quinn", "Two hours")
    shutil.copy(root / "track01.ogg", root / "copy of track01.ogg")
    return root


def write_long_flac(path: str | os.PathLike, *, hours: float = 2.0, sample_rate: int = 8000) -> Path:
    """``hours`` of digital silence as a mono FLAC (tiny on disk: ~100 kB for 2 hours)."""
    import soundfile as sf

    with sf.SoundFile(str(path), "w", sample_rate, 1, format="FLAC") as f:
        for _ in range(int(round(hours * 60))):
            f.write(np.zeros(sample_rate * 60, np.int16))
    return Path(path)

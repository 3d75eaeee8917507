"""Singer datasets: scan ``DATA_DIR/<singer>/...``, group files by song, split by song.

Layout accepted by ``discovervoice classify train DATA_DIR`` (one folder per singer)::

    DATA_DIR/<singer>/clip.wav                 a vocal clip (sung or spoken); its song is
                                               the file stem without a trailing
                                               ``_take2`` / ``-part1`` / ``_clip3`` / ``_seg4``
    DATA_DIR/<singer>/<song>/*.wav             several clips of one song
    DATA_DIR/<singer>/songs/<file>             full songs (mixtures): separated into the
                                               vocals stem before training
    DATA_DIR/manifest.json|.jsonl|.csv         optional (the corpus writes one): per file
                                               ``path`` (its last two parts are
                                               ``<singer>/<file>``), ``singer``,
                                               ``song``/``piece`` (spoken: ``text``),
                                               ``kind`` (sung|spoken)

A `discovervoice prep` dataset is read by :func:`clips_from_manifest` instead
(``classify train --manifest``).

A file's *kind* (``sung`` or ``spoken``) comes from the manifest, else from its name
(``spoken``/``speech``/``speak``/``read``/``talk`` anywhere in its relative path means
spoken), else ``sung``. Pure Python + numpy; no model code here.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from discovervoice.errors import DataError
from discovervoice.fileio import atomic_path

#: Audio file extensions scanned in a singer folder.
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".webm"})
#: Sub-folder name (inside a singer folder) that holds full songs to be separated first.
SONGS_FOLDER = "songs"
KINDS = ("sung", "spoken")
_SPOKEN = re.compile(r"(spoken|speech|speak|reading|read_|talk)", re.IGNORECASE)
_TAKE_SUFFIX = re.compile(r"[_\-. ]+(take|part|clip|seg)[_\-. ]?\d{1,3}$", re.IGNORECASE)


@dataclass(frozen=True)
class Clip:
    """One audio file of a singer.

    Attributes:
        path: the file.
        singer: class name (the singer folder's name, or the manifest's ``singer``).
        song: song id used to split train/validation (never the same song in both).
        kind: ``"sung"`` or ``"spoken"``.
        full_song: the file is a mixture that must be separated into vocals first.
    """

    path: Path
    singer: str
    song: str
    kind: str = "sung"
    full_song: bool = False


def _kind_of(rel: str) -> str:
    return "spoken" if _SPOKEN.search(rel) else "sung"


def _song_of_stem(stem: str) -> str:
    s = _TAKE_SUFFIX.sub("", stem)
    return s or stem


def _read_manifest(data_dir: Path) -> dict[tuple[str, str], dict[str, str]]:
    """Manifest rows keyed by ``(singer folder name, file name)``.

    Accepted: ``manifest.json`` (a list of items, or ``{"items": [...]}`` — the corpus
    writes ``DIR/singers/<split>/manifest.json`` with paths relative to the corpus root),
    ``manifest.jsonl`` or ``manifest.csv``. Only the last two path components are used to
    match files, so paths relative to any parent folder work.
    """
    rows: list[dict[str, Any]] = []
    path = next((data_dir / n for n in ("manifest.json", "manifest.jsonl", "manifest.csv")
                 if (data_dir / n).is_file()), None)
    if path is None:
        return {}
    try:
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
            rows = list(doc.get("items", []) if isinstance(doc, dict) else doc)
        elif path.suffix == ".jsonl":
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        else:
            with open(path, newline="") as f:
                rows = [dict(r) for r in csv.DictReader(f)]
    except (ValueError, OSError, AttributeError) as exc:
        raise DataError(f"{path}: unreadable manifest ({exc})") from exc
    out: dict[tuple[str, str], dict[str, str]] = {}
    for r in rows:
        p = r.get("path") or r.get("file") if isinstance(r, dict) else None
        if p:
            parts = Path(str(p)).parts
            if len(parts) >= 2:
                out[(parts[-2], parts[-1])] = {k: ("" if v is None else str(v))
                                               for k, v in r.items()
                                               if not isinstance(v, (dict, list))}
    return out


def scan_dataset(data_dir: str | Path, *, min_singers: int = 2,
                 allow_reserved: bool = False) -> list[Clip]:
    """List every clip of a singer dataset.

    Args:
        data_dir: folder with one sub-folder per singer (see the module docstring).
        min_singers: a classifier needs at least two classes; pass 1 to scan a gallery.
        allow_reserved: accept singer folders named after voices that DESIGN.md reserves
            for evaluation (``us2``, ``en1``, ... ``kal``, ``slt``); refused by default so
            that the project's own models are never trained on them.

    Returns:
        clips sorted by (singer, path).

    Raises:
        DataError: ``data_dir`` missing or not a folder; a singer folder without audio
            files (named); fewer than ``min_singers`` singers; a reserved voice.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found (expected DATA_DIR/<singer>/*.wav)")
    manifest = _read_manifest(root)
    singer_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not singer_dirs:
        raise DataError(f"{root}: no singer folders (expected DATA_DIR/<singer>/*.wav)")
    clips: list[Clip] = []
    for sd in singer_dirs:
        if not allow_reserved:
            from discovervoice.corpus.reserved import is_reserved_voice

            if is_reserved_voice(sd.name):
                raise DataError(f"{sd}: singer {sd.name!r} is a voice reserved for evaluation "
                                "(DESIGN.md); pass allow_reserved=True / --allow-reserved to "
                                "use it anyway")
        files = sorted(p for p in sd.rglob("*") if p.is_file()
                       and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."))
        if not files:
            raise DataError(f"{sd}: singer folder {sd.name!r} has no audio files "
                            f"({', '.join(sorted(AUDIO_EXTENSIONS))})")
        for f in files:
            rel = f.relative_to(sd)
            m = manifest.get((f.parent.name, f.name), {})
            full = len(rel.parts) > 1 and rel.parts[0] == SONGS_FOLDER
            if m.get("song") or m.get("piece"):
                song = m.get("song") or m.get("piece") or ""
            elif m.get("text"):  # spoken clips: the sentence is the "song"
                song = "text:" + m["text"]
            elif full:
                song = f.stem
            elif len(rel.parts) > 1:
                song = rel.parts[0]
            else:
                song = _song_of_stem(f.stem)
            kind = m.get("kind") or _kind_of(str(rel))
            if kind not in KINDS:
                raise DataError(f"{f}: manifest kind {kind!r} is not one of {KINDS}")
            clips.append(Clip(f, m.get("singer") or sd.name, song, kind, full))
    singers = sorted({c.singer for c in clips})
    if len(singers) < min_singers:
        raise DataError(f"{root}: found {len(singers)} singer ({', '.join(singers)}); a singer "
                        f"classifier needs at least {min_singers} singer folders — to add one "
                        "singer to an existing model use gallery mode "
                        "(`discovervoice classify gallery add`)")
    return clips


def clips_from_manifest(path: str | Path, *, allow_reserved: bool = False) -> list[Clip]:
    """Clips for ``classify train --manifest`` from a prep dataset.

    Singer: the name of the folder holding each source recording (prep run over
    ``RAW/<singer>/*.wav``, the layout ``classify train DATA_DIR`` reads); only the slices
    of each source's main speaker (most seconds; :func:`discovervoice.prep.manifest.voice_records`,
    as ``voice train --manifest``) are kept, so a second voice in a recording is not learned
    as the singer. Song: the source recording, so its slices
    never straddle the train/validation split. Kind: ``spoken`` for speech slices, ``sung``
    for singing. (A corpus is read as folders: ``classify train CORPUS/singers/train``.)

    Returns:
        clips sorted by (singer, path).

    Raises:
        DataError: no ``manifest.jsonl``, no voice slices, or a reserved voice (unless
            allowed).
    """
    from discovervoice.corpus.reserved import is_reserved_voice
    from discovervoice.prep.manifest import voice_records
    from discovervoice.prep.pipeline import read_manifest

    p = Path(path)
    p = p / "manifest.jsonl" if p.is_dir() else p
    root, records = p.parent, read_manifest(p)
    clips = []
    for r in voice_records(records):
        singer = Path(r["source"]).parent.name
        if not allow_reserved and is_reserved_voice(singer):
            raise DataError(f"{p}: singer {singer!r} is a voice reserved for evaluation "
                            "(DESIGN.md); pass --allow-reserved to use it anyway")
        clips.append(Clip(root / r["file"], singer, str(r["source"]),
                          "spoken" if r["label"] == "speech" else "sung"))
    if not clips:
        raise DataError(f"{p}: the manifest lists no speech or singing slices")
    return sorted(clips, key=lambda c: (c.singer, str(c.path)))


def split_by_song(clips: Sequence[Clip], val_fraction: float = 0.15, *, seed: int = 0,
                  min_train_songs: int = 2) -> tuple[list[Clip], list[Clip]]:
    """Split clips into train / validation so that no song is in both.

    For each singer, ``round(val_fraction * n_songs)`` songs (at least one when the singer
    has more than ``min_train_songs`` songs, none otherwise) go to validation. Songs are
    keyed by ``(singer, song)`` and also by ``song`` alone, so a song sung by two singers
    never straddles the split either.

    Returns:
        ``(train, valid)``; ``valid`` may be empty (too few songs), then training runs
        without early stopping and calibration.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = random.Random(seed)
    by_singer: dict[str, set[str]] = defaultdict(set)
    for c in clips:
        by_singer[c.singer].add(c.song)
    val_songs: set[str] = set()
    for singer in sorted(by_singer):
        songs = sorted(by_singer[singer] - val_songs)
        if val_fraction <= 0 or len(songs) <= min_train_songs:
            continue
        n = max(1, round(val_fraction * len(songs)))
        n = min(n, len(songs) - min_train_songs)
        val_songs.update(rng.sample(songs, n))
    train = [c for c in clips if c.song not in val_songs]
    valid = [c for c in clips if c.song in val_songs]
    return train, valid


def singers_of(clips: Iterable[Clip]) -> list[str]:
    """Sorted distinct singer names."""
    return sorted({c.singer for c in clips})


# --------------------------------------------------------------------------- catalogue

CATALOGUE_COLUMNS = ("singer", "title", "file_or_link")


@dataclass(frozen=True)
class CatalogueEntry:
    """A song by a singer: ``location`` is a file path (absolute, or relative to the
    catalogue) or a URL.

    A catalogue travels with its model, but the song files it names may not exist on every
    machine (the embedded model's catalogue points into a corpus build): such songs are
    still recommended by singer and title, with :attr:`available` false.
    """

    singer: str
    title: str
    location: str

    @property
    def is_link(self) -> bool:
        return "://" in self.location

    @property
    def available(self) -> bool:
        """A link, or a file that exists on this machine."""
        return self.is_link or (bool(self.location) and Path(self.location).is_file())


def read_catalogue(path: str | Path) -> list[CatalogueEntry]:
    """Read ``catalogue.csv``: header ``singer,title,file_or_link`` (``file``, ``link``,
    ``url`` or ``path`` are accepted for the third column).

    Relative file paths are made absolute against the catalogue's folder; URLs are kept.

    Raises:
        DataError: missing file, missing columns, or an empty singer/title in a row.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: catalogue not found")
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        loc_col = next((c for c in ("file_or_link", "file", "link", "url", "path") if c in cols),
                       None)
        if "singer" not in cols or "title" not in cols or loc_col is None:
            raise DataError(f"{p}: catalogue needs the columns singer,title,file_or_link; "
                            f"found {cols}")
        out = []
        for n, row in enumerate(reader, 2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            if not row["singer"] or not row["title"]:
                raise DataError(f"{p}:{n}: empty singer or title")
            loc = row[loc_col]
            if loc and "://" not in loc and not Path(loc).is_absolute():
                loc = str((p.parent / loc).resolve())
            out.append(CatalogueEntry(row["singer"], row["title"], loc))
    return out


def write_catalogue(path: str | Path, entries: Iterable[CatalogueEntry]) -> Path:
    """Write ``catalogue.csv`` (header ``singer,title,file_or_link``)."""
    p = Path(path)
    with atomic_path(p) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CATALOGUE_COLUMNS)
        for e in entries:
            w.writerow([e.singer, e.title, e.location])
    return p


def catalogue_from_corpus(corpus_dir: str | Path, catalogue_path: str | Path, *,
                          singers: Iterable[str] | None = None,
                          splits: Sequence[str] = ("train", "valid", "test")
                          ) -> list[CatalogueEntry]:
    """Catalogue of the songs of a DiscoverVoice corpus (``discovervoice corpus build``).

    Each ``songs/<split>/<song>/`` is one song sung by one corpus voice; the entry is
    ``(voice id, "<piece> (<song folder>)", mixture.wav)`` with the file path written
    relative to ``catalogue_path``'s folder. Songs are read from ``manifest.json`` items
    of part ``songs`` when present, else from folder names ``NNNN_<piece>_<voice>``.

    Args:
        singers: keep only songs by these singers (``None``: all).

    Raises:
        DataError: no songs found.
    """
    import os

    root = Path(corpus_dir)
    keep = None if singers is None else set(singers)
    rows: list[tuple[str, str, Path]] = []
    man = root / "manifest.json"
    if man.is_file():
        for it in json.loads(man.read_text()).get("items", []):
            if it.get("part") == "songs" and it.get("split") in splits and it.get("voices"):
                folder = (root / it["path"]).parent if it["path"].endswith(".wav") else root / it["path"]
                rows.append((str(it["voices"][0]), str(it.get("piece") or folder.name), folder))
    else:
        for split in splits:
            for folder in sorted((root / "songs" / split).glob("*_*_*")):
                _, piece, voice = folder.name.split("_", 2)
                rows.append((voice, piece, folder))
    base = Path(catalogue_path).resolve().parent
    seen: set[Path] = set()
    out = []
    for singer, piece, folder in sorted(rows, key=lambda r: (r[0], r[2].name)):
        mix = folder / "mixture.wav"
        if folder in seen or (keep is not None and singer not in keep) or not mix.is_file():
            continue
        seen.add(folder)
        out.append(CatalogueEntry(singer, f"{piece} ({folder.name})",
                                  os.path.relpath(mix.resolve(), base)))
    if not out:
        raise DataError(f"{root}: no corpus songs found (songs/<split>/<song>/mixture.wav)")
    write_catalogue(catalogue_path, out)
    return out

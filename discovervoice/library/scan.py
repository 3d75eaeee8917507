"""Finding a music library's songs and who sings them.

* **Discovery** reuses :func:`discovervoice.separation.api.collect_inputs` (audio files
  under each folder, recursively, sorted; the suffixes the audio loader reads).
* **Tags** are read with **mutagen** (``mutagen.File(path, easy=True)``: ID3 in mp3/wav/aiff,
  Vorbis comments in flac/ogg/opus, MP4 atoms in m4a): ``artist`` (else ``albumartist``),
  ``title``, and the stream length from the header, without decoding any audio.
* **Fallbacks**, in order of precedence: a ``--artists`` CSV (columns ``path,artist`` and an
  optional ``title``; ``path`` absolute or relative to the CSV's folder) overrides tags; the
  tag; the folder ``MUSIC_DIR/<Artist>/...`` (first folder below the music folder). The
  title falls back to the file name without suffix.
* **Content hash**: sha256 of the file's bytes (:func:`discovervoice.weights.sha256_of`),
  cached per ``(path, size, mtime)`` so an unchanged library is not re-read.

Tag text is NFC-normalised and its whitespace (newlines, tabs, runs of spaces) collapsed to
single spaces; other characters (accents, quotes, slashes, emoji) are kept as they are.
"""

from __future__ import annotations

import csv
import json
import os
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from discovervoice.errors import DataError


@dataclass(frozen=True)
class SongFile:
    """One audio file of the library, before processing.

    Attributes:
        path: absolute path.
        sha256: hex sha256 of the file's bytes (the song's identity).
        size: bytes.
        artist: who sings it (``""`` when neither tag, CSV nor folder says).
        title: song title.
        artist_source: ``"csv"``, ``"tag"``, ``"folder"`` or ``""``.
        duration: seconds from the file header, ``None`` when the header does not say.
    """

    path: str
    sha256: str
    size: int
    artist: str
    title: str
    artist_source: str
    duration: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def clean_text(value: object) -> str:
    """A tag value as one line: NFC, whitespace runs (incl. newlines) -> one space, and
    control characters dropped."""
    s = unicodedata.normalize("NFC", str(value))
    s = "".join(ch for ch in s if ch in "\t\n\r" or unicodedata.category(ch) != "Cc")
    return re.sub(r"\s+", " ", s).strip()


def _first(tags: object, keys: Sequence[str]) -> str:
    if tags is None:
        return ""
    for k in keys:
        try:
            v = tags.get(k)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - odd tag containers; a missing key is not an error
            v = None
        if v is None:
            continue
        if hasattr(v, "text"):          # an ID3 frame (WAVE/AIFF files: non-easy ID3)
            v = v.text
        if isinstance(v, (list, tuple)):
            v = next((x for x in v if clean_text(x)), "")
        s = clean_text(v)
        if s:
            return s
    return ""


def read_tags(path: str | os.PathLike) -> tuple[str, str, float | None]:
    """``(artist, title, duration_seconds)`` from a file's tags and header (mutagen).

    Missing tags give ``""``; an unknown length gives ``None``. Never raises for a file that
    mutagen cannot parse (the audio loader decides later whether the file is readable).
    """
    try:
        import mutagen
    except ImportError as exc:  # pragma: no cover - pinned in requirements.txt
        raise DataError("reading music tags needs mutagen (pip install mutagen)") from exc
    try:
        f = mutagen.File(str(path), easy=True)
    except Exception:  # noqa: BLE001 - corrupt headers are recorded later by the decoder
        return "", "", None
    if f is None:
        return "", "", None
    tags = f.tags
    artist = _first(tags, ("artist", "albumartist", "TPE1", "TPE2", "\xa9ART", "aART"))
    title = _first(tags, ("title", "TIT2", "\xa9nam"))
    length = getattr(getattr(f, "info", None), "length", None)
    duration = float(length) if length and length > 0 else None
    return artist, title, duration


def read_artists_csv(path: str | os.PathLike) -> dict[str, tuple[str, str]]:
    """``{absolute path: (artist, title or "")}`` from a CSV with columns ``path,artist``
    and optionally ``title``.

    Raises:
        DataError: missing file, missing columns, or a row without path or artist.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: artists CSV not found")
    out: dict[str, tuple[str, str]] = {}
    with open(p, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = [c.strip().lower() for c in (reader.fieldnames or [])]
        if "path" not in cols or "artist" not in cols:
            raise DataError(f"{p}: an artists CSV needs the columns path,artist[,title]; "
                            f"found {cols}")
        for n, row in enumerate(reader, 2):
            row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
            fp, artist = row.get("path", "").strip(), clean_text(row.get("artist", ""))
            if not fp or not artist:
                raise DataError(f"{p}:{n}: a row needs a path and an artist")
            full = Path(fp).expanduser()
            if not full.is_absolute():
                full = p.parent / full
            out[str(full.resolve())] = (artist, clean_text(row.get("title", "")))
    return out


class HashCache:
    """sha256 of files keyed by ``(path, size, mtime_ns)``, kept in a JSON file.

    Args:
        path: the cache file (written atomically by :meth:`save`).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._d: dict[str, list] = {}
        if self.path.is_file():
            try:
                self._d = json.loads(self.path.read_text(encoding="utf-8"))
            except ValueError:
                self._d = {}        # a damaged cache only costs re-hashing

    def sha256(self, file: Path) -> str:
        from discovervoice.weights import sha256_of

        st = file.stat()
        key = str(file)
        hit = self._d.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return str(hit[2])
        h = sha256_of(file)
        self._d[key] = [st.st_size, st.st_mtime_ns, h]
        return h

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._d, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.path)


def scan(music_dirs: Iterable[str | os.PathLike], *, artists_csv: str | os.PathLike | None = None,
         hash_cache: HashCache | None = None) -> tuple[list[SongFile], list[tuple[str, str]]]:
    """Find every audio file under ``music_dirs`` with its hash, artist, title and length.

    Args:
        music_dirs: folders (searched recursively) or single files.
        artists_csv: optional overrides (:func:`read_artists_csv`).
        hash_cache: reuse hashes of unchanged files.

    Returns:
        ``(songs, problems)``: songs sorted by path; ``problems`` are ``(path, reason)`` for
        inputs that do not exist or folders without audio, and files that cannot be read
        (permissions) — recorded, never raised.

    Raises:
        DataError: a bad artists CSV.
    """
    from discovervoice.separation.api import collect_inputs

    overrides = read_artists_csv(artists_csv) if artists_csv else {}
    cache = hash_cache
    songs: dict[str, SongFile] = {}
    problems: list[tuple[str, str]] = []
    for d in music_dirs:
        root = Path(d).expanduser().resolve()
        files, probs = collect_inputs([root])
        problems += [(str(p), why) for p, why in probs]
        for f in files:
            f = f.resolve()
            if str(f) in songs:
                continue
            try:
                h = cache.sha256(f) if cache is not None else _sha(f)
            except OSError as exc:
                problems.append((str(f), f"cannot read the file ({exc.strerror or exc})"))
                continue
            artist, title, duration = read_tags(f)
            source = "tag" if artist else ""
            if str(f) in overrides:
                a, t = overrides[str(f)]
                artist, source, title = a, "csv", t or title
            if not artist and root.is_dir():
                rel = f.relative_to(root).parts
                if len(rel) >= 2:
                    artist, source = clean_text(rel[0]), "folder"
            songs[str(f)] = SongFile(str(f), h, f.stat().st_size, artist,
                                     title or clean_text(f.stem), source, duration)
    return [songs[k] for k in sorted(songs)], problems


def _sha(f: Path) -> str:
    from discovervoice.weights import sha256_of

    return sha256_of(f)

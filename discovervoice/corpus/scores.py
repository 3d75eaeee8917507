"""Scores: music21's bundled corpus turned into plain note lists.

Source: the music21 wheel ships its corpus (BSD licence for the code; the Bach chorale
encodings are public domain, from the Riemenschneider edition via the music21 project).
Pieces are named by their music21 corpus id, e.g. ``"bach/bwv66.6"``.

A :class:`Piece` holds, in quarter notes (tempo is applied later, per song):

* ``melody``: the soprano (or the only) line as :class:`Note` with its lyric syllable,
* ``parts``: every part (soprano, alto, tenor, bass for a chorale) as :class:`Note` lists.

Parsing with music21 takes ~0.3 s per chorale, so :func:`load_piece` caches the result as
JSON under ``cache_dir`` (default: no disk cache, in-process cache only).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from discovervoice.errors import DataError


@dataclass(frozen=True)
class Note:
    """One note. ``start``/``dur`` in quarter notes, ``pitch`` as MIDI number,
    ``lyric``: the syllable that starts on this note (``None`` = melisma/continuation),
    ``word_end``: the syllable ends a word."""

    start: float
    dur: float
    pitch: int
    lyric: str | None = None
    word_end: bool = True


@dataclass
class Piece:
    """A parsed score. ``piece_id`` is the music21 corpus id."""

    piece_id: str
    title: str
    parts: list[list[Note]]
    part_names: list[str]
    key_tonic_pc: int = 0
    lyrics_language: str | None = None
    source: str = "music21 corpus"
    licence: str = "public domain (music21 corpus encoding, BSD-3-Clause toolkit)"
    meta: dict = field(default_factory=dict)

    @property
    def melody(self) -> list[Note]:
        return self.parts[0]

    @property
    def length_q(self) -> float:
        return max(n.start + n.dur for p in self.parts for n in p)

    def to_json(self) -> dict:
        d = asdict(self)
        d["parts"] = [[list(asdict(n).values()) for n in p] for p in self.parts]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Piece":
        d = dict(d)
        d["parts"] = [[Note(*n) for n in p] for p in d["parts"]]
        return cls(**d)


def chorale_ids() -> list[str]:
    """Every Bach chorale id in music21's corpus (``"bach/bwv66.6"``...), sorted by BWV.

    Cheap (a directory listing). Whether a chorale is usable (parts, lyrics) is decided
    when it is parsed (:func:`load_piece` raises :class:`DataError` for a broken one).
    """
    from music21 import corpus

    ids = set()
    for p in corpus.getComposer("bach"):
        name = Path(str(p)).name
        m = re.match(r"(bwv[\d.]+?)\.(mxl|xml|krn|musicxml)$", name)
        if m:
            ids.add("bach/" + m.group(1))
    return sorted(ids, key=_bwv_sort_key)


def _bwv_sort_key(pid: str) -> tuple:
    nums = [int(x) for x in re.findall(r"\d+", pid)]
    return tuple(nums) + (pid,)


#: music21 corpus collections of folk tunes (Essen folksong collection, ABC).
FOLK_COLLECTIONS = ("essenFolksong/altdeu10", "essenFolksong/kinder")


def folk_pieces(collection: str = FOLK_COLLECTIONS[0], cache_dir: Path | None = None,
                max_tunes: int | None = None) -> list[Piece]:
    """Single-line folk tunes of an Essen collection as :class:`Piece` (melody only,
    ids ``"<collection>#<n>"``). Parsing a collection takes ~15 s; cached as JSON."""
    cfile = None
    if cache_dir is not None:
        cfile = Path(cache_dir) / (collection.replace("/", "_") + ".json")
        if cfile.exists():
            return [Piece.from_json(d) for d in json.loads(cfile.read_text())][:max_tunes]
    from music21 import corpus

    try:
        opus = corpus.parse(collection)
    except Exception as exc:  # music21 raises several types; report them as one
        raise DataError(f"music21 corpus collection {collection!r} cannot be parsed: {exc}"
                        ) from exc
    scores = list(opus.scores) if hasattr(opus, "scores") else [opus]
    out = []
    for i, sc in enumerate(scores):
        parts = list(sc.parts) or [sc]
        notes = _part_notes(parts[0])
        if len(notes) < 8:
            continue
        title = str(getattr(sc.metadata, "title", None) or f"{collection} #{i}")
        out.append(Piece(piece_id=f"{collection}#{i}", title=title, parts=[notes],
                         part_names=["melody"], meta={"beats_per_bar": _beats(sc)}))
    if cfile is not None:
        cfile.parent.mkdir(parents=True, exist_ok=True)
        tmp = cfile.with_suffix(".tmp")
        tmp.write_text(json.dumps([p.to_json() for p in out]))
        tmp.replace(cfile)
    return out[:max_tunes]


def _beats(score) -> int:
    ts = score.recurse().getElementsByClass("TimeSignature").first()
    return int(ts.numerator) if ts is not None else 4


_cache: dict[str, Piece] = {}


def load_piece(piece_id: str, cache_dir: Path | None = None) -> Piece:
    """Parse ``piece_id`` (music21 corpus id) into a :class:`Piece`.

    Ties are merged, rests dropped, chords reduced to their top note. The soprano is
    ``parts[0]``. Raises :class:`DataError` when the id is unknown or has no notes.
    """
    if piece_id in _cache:
        return _cache[piece_id]
    cfile = None
    if cache_dir is not None:
        cfile = Path(cache_dir) / (re.sub(r"[^A-Za-z0-9_.-]", "_", piece_id) + ".json")
        if cfile.exists():
            piece = Piece.from_json(json.loads(cfile.read_text()))
            _cache[piece_id] = piece
            return piece
    piece = _parse(piece_id)
    _cache[piece_id] = piece
    if cfile is not None:
        cfile.parent.mkdir(parents=True, exist_ok=True)
        tmp = cfile.with_suffix(".tmp")
        tmp.write_text(json.dumps(piece.to_json()))
        tmp.replace(cfile)
    return piece


def _parse(piece_id: str) -> Piece:
    from music21 import corpus

    try:
        score = corpus.parse(piece_id)
    except Exception as exc:  # music21 raises several types; report them as one
        raise DataError(f"music21 corpus piece {piece_id!r} cannot be parsed: {exc}") from exc
    parts, names = [], []
    for part in score.parts:
        notes = _part_notes(part)
        if notes:
            parts.append(notes)
            names.append(str(part.partName or part.id or f"part{len(names)}"))
    if not parts:
        raise DataError(f"music21 corpus piece {piece_id!r} has no notes")
    tonic = 0
    ks = score.recurse().getElementsByClass("KeySignature").first()
    if ks is not None:
        tonic = int(ks.asKey("major").tonic.pitchClass)
    title = str(getattr(score.metadata, "title", None) or piece_id)
    has_lyrics = sum(n.lyric is not None for n in parts[0]) >= 0.5 * len(parts[0])
    return Piece(piece_id=piece_id, title=title, parts=parts, part_names=names,
                 key_tonic_pc=tonic, lyrics_language="de" if has_lyrics else None,
                 meta={"beats_per_bar": _beats(score)})


def _part_notes(part) -> list[Note]:
    out: list[Note] = []
    for el in part.stripTies().flatten().notes:
        if el.isChord:
            pitch = max(p.midi for p in el.pitches)
        else:
            pitch = el.pitch.midi
        dur = float(el.quarterLength)
        if dur <= 0:
            continue
        lyric, word_end = None, True
        if el.lyrics:
            ly = el.lyrics[0]
            text = (ly.text or "").strip()
            if text:
                lyric = text
                word_end = ly.syllabic in (None, "single", "end")
        out.append(Note(float(el.offset), dur, int(pitch), lyric, word_end))
    return out

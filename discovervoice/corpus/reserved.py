"""Material reserved for evaluation, and the split rule that keeps it out of training.

DESIGN.md reserves, for evaluation only:

* Bach chorales whose BWV number ends in 0 or 5 (``bwv10.7``, ``bwv245.15``...: the
  *main* BWV number, before the dot, decides);
* the voices ``us2, en1, de4, fr3, nl2, it2, es2, pt1`` (MBROLA) and festival's ``kal``
  and ``slt``;
* the MuseScore General soundfonts;
* the Debian packages ``fretsonfire-songs-muldjord``, ``fretsonfire-songs-sectoid``,
  ``hedgewars-data`` and ``ktuberling-data`` (:data:`RESERVED_PACKAGES`): refused in every
  split, the real-songs part never reads them.

The corpus builder enforces one rule everywhere (:func:`check_split`): the ``test``
split is made **only** of reserved material (piece, voice and soundfont all reserved),
and ``train`` / ``valid`` **never** touch it. Reserved material is used at all only when
the caller passes ``include_reserved=True`` (``--include-reserved`` on the command line).
"""

from __future__ import annotations

import re

from discovervoice.errors import DiscoverVoiceError

#: MBROLA database names (and festival voice short names) reserved for evaluation.
RESERVED_VOICE_IDS: frozenset[str] = frozenset(
    {"us2", "en1", "de4", "fr3", "nl2", "it2", "es2", "pt1", "kal", "slt"}
)

#: Debian packages of real recordings reserved for independent evaluation: never used by
#: the corpus (not even in ``test``).
RESERVED_PACKAGES: frozenset[str] = frozenset(
    {"fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid", "hedgewars-data",
     "ktuberling-data"}
)

#: Splits, in order. ``test`` is the reserved split.
SPLITS: tuple[str, ...] = ("train", "valid", "test")
RESERVED_SPLIT = "test"


class ReservedMaterialError(DiscoverVoiceError):
    """Reserved evaluation material would end up in training data (or vice versa)."""


_BWV = re.compile(r"bwv\s*(\d+)", re.IGNORECASE)


def bwv_number(piece_id: str) -> int | None:
    """Main BWV number of a chorale id such as ``"bach/bwv66.6"`` (66), else ``None``."""
    m = _BWV.search(piece_id)
    return int(m.group(1)) if m else None


def is_reserved_piece(piece_id: str) -> bool:
    """True for chorales whose main BWV number ends in 0 or 5. Other pieces are free."""
    n = bwv_number(piece_id)
    return n is not None and n % 5 == 0


def voice_base_id(voice_id: str) -> str:
    """The recorded person behind a voice id: ``"mbrola-us2"`` / ``"mb-us2"`` -> ``"us2"``,
    ``"festival-kal"`` -> ``"kal"``. Variants (``"mbrola-us2@f3"``) share the base."""
    v = voice_id.lower().split("@", 1)[0]
    for prefix in ("mbrola-", "mb-", "festival-", "espeak-"):
        if v.startswith(prefix):
            v = v[len(prefix):]
            break
    return v


def is_reserved_voice(voice_id: str) -> bool:
    """True for the voices DESIGN.md reserves (any id form, see :func:`voice_base_id`)."""
    base = voice_base_id(voice_id)
    if base in RESERVED_VOICE_IDS:
        return True
    # festival voice names such as "kal_diphone", "cmu_us_slt_arctic_hts"
    return any(re.search(rf"(^|_){r}(_|$)", base) for r in ("kal", "slt"))


def is_reserved_package(name: str) -> bool:
    """True for the Debian packages kept for independent evaluation (a path that names
    one of them counts too)."""
    n = str(name).lower()
    return any(p == n or f"/{p}/" in f"/{n}/" or f"/{p}_" in f"/{n}" for p in RESERVED_PACKAGES)


def is_reserved_soundfont(path_or_name: str) -> bool:
    """True for the MuseScore General soundfonts (``MuseScore_General*.sf2/sf3``)."""
    name = str(path_or_name).lower().replace("\\", "/").rsplit("/", 1)[-1]
    return "musescore" in name


def check_split(split: str, *, piece: str | None = None, voices: tuple[str, ...] = (),
                soundfont: str | None = None, packages: tuple[str, ...] = ()) -> None:
    """Raise :class:`ReservedMaterialError` unless the material fits the split.

    ``test`` accepts only reserved material; ``train`` and ``valid`` accept none.
    ``piece``/``soundfont`` may be ``None`` (not used by the item), ``voices`` may be empty;
    ``packages`` (Debian packages the item's audio comes from) must hold no reserved one.
    """
    if split not in SPLITS:
        raise ReservedMaterialError(f"unknown split {split!r}; expected one of {SPLITS}")
    held = [p for p in packages if is_reserved_package(p)]
    if held:
        raise ReservedMaterialError(f"{', '.join(held)}: reserved for independent evaluation, "
                                    "never used by the corpus")
    flags = []
    if piece is not None:
        flags.append((f"piece {piece}", is_reserved_piece(piece)))
    flags += [(f"voice {v}", is_reserved_voice(v)) for v in voices]
    if soundfont is not None:
        flags.append((f"soundfont {soundfont}", is_reserved_soundfont(soundfont)))
    want = split == RESERVED_SPLIT
    bad = [name for name, reserved in flags if reserved != want]
    if bad:
        kind = "non-reserved" if want else "reserved (evaluation-only)"
        raise ReservedMaterialError(
            f"split {split!r} may not use {kind} material: {', '.join(bad)}")

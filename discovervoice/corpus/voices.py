"""The voices the corpus can use: who they are, where their files are, their licence.

Kinds of voice (:attr:`Voice.kind`):

``mbrola``
    MBROLA diphone databases (Debian ``mbrola-XX``, contrib/non-free). Each database is a
    different recorded person. espeak-ng's ``mb-XX`` voice turns text into the database's
    SAMPA phones; :mod:`discovervoice.corpus.synth` writes the ``.pho`` (durations and pitch
    targets) itself, so singing follows a score exactly. Licence: MBROLA databases are
    free for **non-commercial** use only.
``festival``
    Festival voices (``festvox-kdlpc16k`` = ``ked_diphone``, ``festvox-kallpc16k`` =
    ``kal_diphone``, ``festvox-us-slt-hts`` = ``cmu_us_slt_arctic_hts``); speech with
    segment timings, sung through WORLD (pyworld) resynthesis onto the melody's F0.
``recorded``
    Real human speech: Czech voice acting from ``fillets-ng-data-cs`` (GPL-2+), grouped by
    character (``fillets-*``), and the letters and syllables that native speakers recorded
    for KDE KLettres (``klettres-data``, GPL-2+; one voice per language folder; the
    KLettres handbook credits two people for some folders, :attr:`Voice.credited`; ``en_GB``
    and ``nn``, which may repeat the ``en`` and ``nb`` speakers, are left out). Spoken clips
    are the recordings (KLettres: 5-9 syllables or letters in a
    row); sung clips are WORLD resynthesis of their voiced segments onto a melody.

Sex comes from espeak-ng's voice files (``gender`` line) for MBROLA voices.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from discovervoice.corpus.reserved import is_reserved_voice
from discovervoice.errors import DataError

MBROLA_DIR = Path("/usr/share/mbrola")
ESPEAK_VOICES_DIRS = (
    Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data/voices/mb"),
    Path("/usr/lib/aarch64-linux-gnu/espeak-ng-data/voices/mb"),
    Path("/usr/share/espeak-ng-data/voices/mb"),
)
FESTIVAL_VOICES_DIR = Path("/usr/share/festival/voices")
FILLETS_SOUND_DIR = Path("/usr/share/games/fillets-ng/sound")

MBROLA_LICENCE = ("MBROLA database licence: free for non-commercial, non-military use "
                  "only (Debian non-free)")
FESTIVAL_LICENCE = {"ked_diphone": "festvox-kdlpc16k: free (Debian main, BSD-like CSTR licence)",
                    "kal_diphone": "festvox-kallpc16k: free (Debian main, BSD-like CSTR licence)",
                    "cmu_us_slt_arctic_hts": "festvox-us-slt-hts: free (CMU ARCTIC licence)"}
FILLETS_LICENCE = "fillets-ng-data-cs: GPL-2+ (Fish Fillets NG Czech voice acting)"
KLETTRES_DIR = Path("/usr/share/klettres")
KLETTRES_LICENCE = "klettres-data: GPL-2+ (KDE KLettres, letters and syllables by native speakers)"
#: Who recorded each KLettres language folder, as the KLettres handbook's credits name them
#: (``/usr/share/doc/HTML/en/klettres/index.docbook``, chapter "Credits and License"; the
#: ``pt_BR`` names also head ``pt_BR/sounds.xml``). Folders not listed there are uncredited.
KLETTRES_CREDITS = {
    "pt_BR": ("Lindonjohnson Monte (father)", "Michelle Monte (child, 9 years)"),
    "cs": ("Eva Mikulčíková",), "da": ("Erik Kjaer Pedersen",), "nl": ("Geert Stams",),
    "en": ("Robert Wadley",), "fr": ("Ludovic Grossard",), "de": ("Helmut Kriege",),
    "he": ("Assaf Gorgon",), "it": ("Pietro Pasotti",), "kn": ("Vikram Vincent",),
    "nds": ("Manfred Wiese", "Sönke Dibbern"), "lg": ("John Magoye", "Cormac Lynch"),
    "hi_ro": ("Vikas Kharat",), "es": ("Ana Belén Caballero", "Juan Pedro Paredes"),
    "sk": ("Silvia Motyčková", "Jozef Říha"), "te": ("Pavithran Shakamuri",),
}
#: The hero fish of Fish Fillets NG and their actors (the game's credits).
FILLETS_CREDITS = {"m": ("Gabriela Pyšná",), "v": ("Vít Musil",)}
#: "Voices & Animal sounds" of the game's credits (``images/menu/credits.png``): every other
#: character is one of these people, which one is not said.
FILLETS_CAST = ("Vít Musil", "Gabriela Pyšná", "Jaroslav Tuček", "Vláďa", "Tomáš", "Martin",
                "Rumun", "Marcela", "David")

#: Singing range (MIDI low, high) by sex; unknown sex gets the union's middle.
RANGES = {"male": (45, 67), "female": (57, 79), None: (50, 72)}


@dataclass(frozen=True)
class Voice:
    """One voice: one person, except a recorded folder that its credits give to several
    people (:attr:`several_people`).

    Attributes:
        id: stable id used in file names and manifests (``"mbrola-de2"``).
        kind: ``"mbrola"``, ``"festival"`` or ``"recorded"``.
        language: BCP-47-ish language code (``"de"``, ``"en-us"``, ``"cs"``).
        sex: ``"male"``, ``"female"`` or ``None`` when unknown.
        reserved: evaluation-only voice (DESIGN.md); used only with ``include_reserved``.
        low, high: comfortable singing range, MIDI note numbers.
        licence, source: provenance for the manifest.
        espeak: espeak-ng voice that phonemizes for this database (mbrola only).
        path: database file (mbrola), festival voice name, or a folder of recordings.
        credited: the people the package's credits name for these recordings (``()``:
            not documented).
        cast: when the credits name a cast but not who recorded this voice, the cast (one of
            them did; the Fish Fillets characters other than the two hero fish).
    """

    id: str
    kind: str
    language: str
    sex: str | None
    reserved: bool
    low: int
    high: int
    licence: str
    source: str
    espeak: str | None = None
    path: str | None = None
    speaker_files: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    credited: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()

    @property
    def several_people(self) -> bool:
        """The credits name more than one person for these recordings (a KLettres folder
        recorded by a parent and child, or by two volunteers): not one speaker, so speaker
        identity sets (which-singer, diarization) leave the voice out."""
        return len(self.credited) > 1

    def may_share_person(self, other: Voice) -> bool:
        """Whether the credits allow this voice and ``other`` to be one person: a person
        credited for both, or in the cast of one and credited for (or in the cast of) the
        other. Voices with neither credits nor cast (one KLettres language each) are taken
        as different people."""
        if other.id == self.id:
            return True
        mine = set(self.credited) or set(self.cast)
        theirs = set(other.credited) or set(other.cast)
        return bool(mine & theirs)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("speaker_files")
        d.pop("texts")
        d["n_recordings"] = len(self.speaker_files)
        return d


def _espeak_voice_file(db: str) -> Path | None:
    for d in ESPEAK_VOICES_DIRS:
        f = d / f"mb-{db}"
        if f.exists():
            return f
    return None


def _parse_espeak_voice(f: Path) -> tuple[str, str | None]:
    lang, sex = "und", None
    for line in f.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "language" and lang == "und":
            lang = parts[1]
        elif len(parts) >= 2 and parts[0] == "gender":
            sex = parts[1] if parts[1] in ("male", "female") else None
    return lang, sex


def mbrola_voices() -> list[Voice]:
    """Every installed MBROLA database that espeak-ng can phonemize for (reserved too)."""
    if shutil.which("mbrola") is None or shutil.which("espeak-ng") is None:
        return []
    out = []
    for d in sorted(MBROLA_DIR.glob("*")):
        db = d / d.name
        ef = _espeak_voice_file(d.name)
        if not db.is_file() or ef is None:
            continue
        lang, sex = _parse_espeak_voice(ef)
        if not _mbrola_works(f"mb-{d.name}", str(db)):
            continue
        low, high = RANGES[sex]
        vid = f"mbrola-{d.name}"
        out.append(Voice(vid, "mbrola", lang, sex, is_reserved_voice(vid), low, high,
                         MBROLA_LICENCE, f"Debian mbrola-{d.name}", espeak=f"mb-{d.name}",
                         path=str(db)))
    return out


@functools.lru_cache(maxsize=None)
def _mbrola_works(espeak: str, db: str) -> bool:
    """True when espeak-ng knows the ``mb-XX`` voice and MBROLA renders audio with it
    (some voice files exist for databases espeak-ng cannot drive)."""
    r = subprocess.run(["espeak-ng", "-v", espeak, "-q", "--pho", "ma"], capture_output=True,
                       check=False)
    if r.returncode != 0 or not r.stdout.strip():
        return False
    m = subprocess.run(["mbrola", "-e", db, "-", "-.raw"], input=r.stdout, capture_output=True,
                       check=False)
    return m.returncode == 0 and len(m.stdout) > 100


_FESTIVAL = (("ked_diphone", "festival-kdl", "en-us", "male"),
             ("kal_diphone", "festival-kal", "en-us", "male"),
             ("cmu_us_slt_arctic_hts", "festival-slt", "en-us", "female"))


def festival_voices() -> list[Voice]:
    """Installed festival voices (``ked`` free; ``kal`` and ``slt`` reserved)."""
    if shutil.which("text2wave") is None:
        return []
    out = []
    for name, vid, lang, sex in _FESTIVAL:
        if not any(FESTIVAL_VOICES_DIR.glob(f"*/{name}")):
            continue
        low, high = RANGES[sex]
        out.append(Voice(vid, "festival", lang, sex, is_reserved_voice(vid), low, high,
                         FESTIVAL_LICENCE[name], f"Debian festival voice {name}", path=name))
    return out


# Fish Fillets NG file names: <level>-<speaker>-<line>.ogg. "m" (small fish) and "v" (big
# fish) are the two heroes throughout the game; other codes are level characters.
_FILLETS_RE = re.compile(r"^(?P<level>[a-z0-9]+)-(?P<spk>[a-z0-9]+)-(?P<line>.+)\.ogg$")
_FILLETS_SEX = {"m": "female", "v": "male"}


def recorded_voices(min_files: int = 20) -> list[Voice]:
    """Speakers of the Czech Fish Fillets NG voice acting with >= ``min_files`` lines.

    The hero fish (``m``: small fish, Gabriela Pyšná; ``v``: big fish, Vít Musil) are the
    same actors in every level; other characters are grouped by level and speaker code. The
    game's credits (``images/menu/credits.png``) name one more voice actor (Jaroslav Tuček) and
    six team members for the other voices, with no per-character list: two such characters
    may be one person (:attr:`Voice.cast`, :meth:`Voice.may_share_person`).
    """
    if not FILLETS_SOUND_DIR.is_dir():
        return []
    groups: dict[str, list[str]] = {}
    for f in sorted(FILLETS_SOUND_DIR.glob("*/cs/*.ogg")):
        m = _FILLETS_RE.match(f.name)
        if not m:
            continue
        spk = m.group("spk")
        key = spk if spk in _FILLETS_SEX else f"{m.group('level')}-{spk}"
        groups.setdefault(key, []).append(str(f))
    out = []
    for key, files in sorted(groups.items()):
        if len(files) < min_files:
            continue
        sex = _FILLETS_SEX.get(key)
        low, high = RANGES[sex]
        out.append(Voice(f"fillets-{key}", "recorded", "cs", sex, False, low, high,
                         FILLETS_LICENCE, "Debian fillets-ng-data-cs",
                         path=str(FILLETS_SOUND_DIR), speaker_files=tuple(files),
                         credited=FILLETS_CREDITS.get(key, ()),
                         cast=() if key in FILLETS_CREDITS else FILLETS_CAST))
    return out


_KLETTRES_SKIP = {"en_GB", "nn"}
_SOUND_RE = re.compile(r'<sound\s+name="([^"]*)"\s+file="([^"]+)"')


def klettres_voices(min_files: int = 20) -> list[Voice]:
    """One voice per KLettres language folder with >= ``min_files`` recordings, with the
    handbook's credits (:data:`KLETTRES_CREDITS`)."""
    if not KLETTRES_DIR.is_dir():
        return []
    out = []
    for xml in sorted(KLETTRES_DIR.glob("*/sounds.xml")):
        lang = xml.parent.name
        if lang in _KLETTRES_SKIP:
            continue
        files, texts = [], []
        for name, rel in _SOUND_RE.findall(xml.read_text(errors="replace")):
            f = KLETTRES_DIR / rel
            if f.is_file():
                files.append(str(f))
                texts.append(name)
        if len(files) < min_files:
            continue
        low, high = RANGES[None]
        code = lang.lower().replace("_", "-")
        out.append(Voice(f"klettres-{code}", "recorded", code, None, False, low, high,
                         KLETTRES_LICENCE, f"Debian klettres-data ({lang})",
                         path=str(xml.parent), speaker_files=tuple(files), texts=tuple(texts),
                         credited=KLETTRES_CREDITS.get(lang, ())))
    return out


@functools.lru_cache(maxsize=1)
def _all_voices() -> tuple[Voice, ...]:
    return tuple(mbrola_voices() + festival_voices() + recorded_voices() + klettres_voices())


def list_voices(*, include_reserved: bool = False, kinds: tuple[str, ...] | None = None,
                only_reserved: bool = False) -> list[Voice]:
    """Installed voices, sorted by id.

    Args:
        include_reserved: also return the evaluation-only voices.
        kinds: restrict to these kinds (``"mbrola"``, ``"festival"``, ``"recorded"``).
        only_reserved: return only the reserved voices (implies ``include_reserved``).
    """
    out = []
    for v in _all_voices():
        if kinds is not None and v.kind not in kinds:
            continue
        if only_reserved and not v.reserved:
            continue
        if v.reserved and not (include_reserved or only_reserved):
            continue
        out.append(v)
    return sorted(out, key=lambda v: v.id)


def get_voice(voice_id: str) -> Voice:
    """The voice with this id (reserved ones included); :class:`DataError` if unknown."""
    for v in _all_voices():
        if v.id == voice_id:
            return v
    known = ", ".join(v.id for v in _all_voices()[:8])
    raise DataError(f"unknown or uninstalled voice {voice_id!r} (installed: {known}, ...; "
                    "run scripts/install-system-deps.sh)")


def tool_versions() -> dict[str, str]:
    """Versions of the external programs, for the manifest."""
    out = {}
    for prog, args in (("espeak-ng", ["--version"]), ("mbrola", []),
                       ("fluidsynth", ["--version"]), ("festival", ["--version"])):
        if shutil.which(prog) is None:
            continue
        r = subprocess.run([prog, *args], capture_output=True, text=True, check=False)
        text = (r.stdout + r.stderr).strip().splitlines()
        out[prog] = next((ln.strip() for ln in text if re.search(r"\d+\.\d+", ln)), "")[:120]
    return out

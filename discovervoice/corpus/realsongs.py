"""Real-songs part of the corpus: really recorded, vocal-free accompaniment from Debian's
music packages plus the corpus' vocals (synthetic singers, real speech, real speech made
to sing), in the MUSDB18-HQ two-stem layout.

``discovervoice corpus build --parts real-songs --music-root DIR`` writes::

    DIR/real_songs/<split>/<song>/mixture.wav vocals.wav accompaniment.wav
        44.1 kHz stereo float32; mixture == vocals + accompaniment (float32 sum of the
        samples as written); the vocals stem is digital silence (all zeros) for a share
        of the songs (``real_silent_share``) and between the vocal phrases of the others.

Material:

* **Accompaniment**: excerpts of the tracks of :data:`MUSIC_PACKAGES` (Debian main, free
  licences; every file's licence is read from the package's ``debian/copyright``
  (DEP-5 ``Files:`` stanzas, matched on the file name) or, for packages whose copyright
  file is not machine-readable, taken from :data:`MUSIC_PACKAGES`, and written per song
  into the manifest). The packages are unpacked, not installed, under ``music_root``
  (``scripts/fetch-real-music.sh DIR``: ``apt-get download`` + ``dpkg -x``; the default
  root ``/`` finds installed packages). Tracks whose names say they are sung
  (:data:`VOCAL_NAME_RE`: choir, chant, vocal, ...) are never used, and every excerpt is
  screened with silero-vad (:func:`discovervoice.signals.speech_probability`): an
  excerpt whose share of 10 ms frames with speech probability > 0.5 exceeds
  ``VAD_MAX_SHARE`` (singing or speech in it), or whose level is below
  ``MIN_LEVEL_DB``, is replaced by another draw; each rejection is listed in the song's
  manifest item (``screened_out``).
* **Vocals**: one voice per song, in phrases separated by pauses: MBROLA / festival voices
  singing a chorale phrase (:func:`discovervoice.corpus.parts.sing_phrase`), and the real
  speakers of ``fillets-ng-data-cs`` / ``klettres-data``, either speaking (their
  recordings, concatenated) or singing through WORLD resynthesis of their recordings onto
  the melody's F0 (:func:`discovervoice.corpus.synth.sing_recorded`, via
  ``sing_phrase``). The vocal-to-accompaniment level (dB, RMS of the sung phrases against
  the accompaniment) is drawn per song in ``REAL_VOCAL_DB``. Song ``i`` is vocal-free
  when ``int((i + 1) * share) > int(i * share)`` (``share = real_silent_share``: exactly
  that share of the songs, spread evenly).

Splits: ``train`` uses :data:`TRAIN_PACKAGES` and every non-reserved voice except
:data:`DEV_SPEAKERS`; ``valid`` is the real-material **development set**: the packages
:data:`DEV_PACKAGES` and the speakers :data:`DEV_SPEAKERS` only (never trained on). No
``test`` split is made: the Debian packages DESIGN.md reserves
(:data:`discovervoice.corpus.reserved.RESERVED_PACKAGES`) are refused everywhere.

Libraries: ffmpeg / libsndfile decoding and soxr resampling through
:mod:`discovervoice.audio`, silero-vad through :mod:`discovervoice.signals`, numpy.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from discovervoice.corpus import reserved as rsv
from discovervoice.corpus.mix import apply_reverb, db_to_gain, pan_gains, rms, synthetic_ir
from discovervoice.errors import DataError

SR = 44100
AUDIO_GLOBS = ("*.ogg", "*.opus", "*.mp3", "*.flac", "*.wav")
#: Track names that say a voice sings in them (never used as accompaniment).
VOCAL_NAME_RE = re.compile(r"choir|chor(al|us)|chant|vocal|voice|sing|song|hymn|aria|"
                           r"nunc_dimittis|requiem|psalm|lyric|opera", re.IGNORECASE)
#: Screening of each excerpt: silero-vad speech share above this -> rejected.
VAD_MAX_SHARE = 0.10
#: Excerpts quieter than this (dBFS RMS) are rejected (fade-outs, silence).
MIN_LEVEL_DB = -40.0
#: Vocal-to-accompaniment level range (dB), drawn per song.
REAL_VOCAL_DB = (-8.0, 6.0)


@dataclass(frozen=True)
class MusicPackage:
    """A Debian package of recorded music: where its tracks lie and their licence when the
    copyright file is not machine-readable (``licence``), else per file from DEP-5."""

    name: str
    folders: tuple[str, ...]
    licence: str
    note: str = ""


MUSIC_PACKAGES: dict[str, MusicPackage] = {p.name: p for p in (
    MusicPackage("warzone2100-music", ("usr/share/games/warzone2100/music",), "GPL-2+"),
    MusicPackage("nexuiz-music", ("usr/share/games/nexuiz/data/music.pk3",), "GPL-2+",
                 "tracks inside the pk3 (zip) archive"),
    MusicPackage("singularity-music", ("usr/share/games/singularity/music",),
                 "CC-BY-SA-3.0", "debian/copyright: Creative Commons Attribution-ShareAlike"),
    MusicPackage("asc-music", ("usr/share/games/asc/music",), "GPL-2+"),
    MusicPackage("wesnoth-1.16-music", ("usr/share/games/wesnoth/1.16/data/core/music",),
                 "GPL-2+"),
    MusicPackage("drascula-music", ("usr/share/scummvm/drascula/audio",),
                 "Drascula-License (BSD-like, DFSG-free)"),
    MusicPackage("fb-music-high", ("usr/share/games/frozen-bubble/snd",), "GPL-2+"),
    MusicPackage("fillets-ng-data", ("usr/share/games/fillets-ng/music",), "GPL-2+",
                 "installed by scripts/install-system-deps.sh"),
    MusicPackage("hyperrogue-music", ("usr/share/hyperrogue/music",), "CC-BY-SA-3.0"),
    MusicPackage("planetblupi-music-ogg", ("usr/share/planetblupi/music",), "GPL-3+"),
)}
#: Accompaniment of the development set (never trained on).
DEV_PACKAGES: tuple[str, ...] = ("hyperrogue-music", "planetblupi-music-ogg")
TRAIN_PACKAGES: tuple[str, ...] = tuple(p for p in MUSIC_PACKAGES if p not in DEV_PACKAGES)
#: Real speakers of the development set (never trained on).
DEV_SPEAKERS: frozenset[str] = frozenset({
    "fillets-k1-pap", "klettres-da", "klettres-en", "klettres-fr", "klettres-ml",
    "klettres-nb", "klettres-tn"})


@dataclass(frozen=True)
class MusicTrack:
    """One recorded track: ``path`` (a file, or ``archive.pk3!member``), its package and
    licence; ``licence_file``: an upstream licence file next to the track (warzone2100's
    per-album ``license.txt``), recorded with it."""

    package: str
    path: str
    licence: str
    licence_file: str | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("!", 1)[-1].rsplit("/", 1)[-1]


def check_packages(packages) -> None:
    """Raise :class:`~discovervoice.corpus.reserved.ReservedMaterialError` for a reserved
    package and :class:`DataError` for one this module does not know."""
    for p in packages:
        if rsv.is_reserved_package(p):
            raise rsv.ReservedMaterialError(
                f"{p} is reserved for independent evaluation (DESIGN.md); never train, "
                "tune or evaluate on it")
        if p not in MUSIC_PACKAGES:
            raise DataError(f"unknown music package {p!r}; known: {sorted(MUSIC_PACKAGES)}")


def _dep5_licences(copyright_file: Path) -> list[tuple[list[str], str]]:
    """``[(file patterns, licence)]`` of a DEP-5 copyright file (empty when not DEP-5)."""
    try:
        text = copyright_file.read_text(errors="replace")
    except OSError:
        return []
    if not text.startswith("Format:"):
        return []
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        m_files = re.search(r"^Files:\s*(.*(?:\n[ \t]+.*)*)", stanza, re.M)
        m_lic = re.search(r"^License:\s*(\S.*)$", stanza, re.M)
        if m_files and m_lic:
            out.append((m_files.group(1).split(), m_lic.group(1).strip()))
    return out


def file_licence(pkg: MusicPackage, rel: str, music_root: Path) -> str:
    """Licence of one file of ``pkg``: the most specific DEP-5 ``Files:`` stanza whose
    pattern matches the file name's tail (``debian/*`` stanzas ignored), else the
    package's :attr:`MusicPackage.licence`."""
    stanzas = _dep5_licences(music_root / "usr/share/doc" / pkg.name / "copyright")
    best, best_len = None, -1
    for pats, lic in stanzas:
        for pat in pats:
            if pat.startswith("debian/"):
                continue
            tail = "/".join(rel.split("/")[-max(1, pat.count("/") + 1):])
            if fnmatch.fnmatch(tail, pat) and pat != "*" and len(pat) > best_len:
                best, best_len = lic, len(pat)
    return best or pkg.licence


def find_tracks(music_root: str | Path, packages=TRAIN_PACKAGES) -> list[MusicTrack]:
    """Tracks of ``packages`` under ``music_root`` that may serve as accompaniment
    (names matching :data:`VOCAL_NAME_RE` left out), sorted by path.

    Raises:
        ReservedMaterialError: a reserved package asked for.
    """
    check_packages(packages)
    root = Path(music_root)
    out = []
    for name in packages:
        pkg = MUSIC_PACKAGES[name]
        for folder in pkg.folders:
            f = root / folder
            if f.is_file() and f.suffix == ".pk3":
                with zipfile.ZipFile(f) as z:
                    members = [n for n in z.namelist()
                               if any(fnmatch.fnmatch(n.lower(), g) for g in AUDIO_GLOBS)]
                paths = [f"{f}!{n}" for n in members]
            elif f.is_dir():
                paths = [str(p) for g in AUDIO_GLOBS for p in f.rglob(g)]
            else:
                continue
            for p in sorted(paths):
                lf = Path(p.split("!", 1)[0]).parent / "license.txt"
                t = MusicTrack(name, p, file_licence(pkg, p.replace("!", "/"), root),
                               str(lf) if lf.is_file() else None)
                if not VOCAL_NAME_RE.search(t.name):
                    out.append(t)
    return out


def excluded_by_name(music_root: str | Path, packages=TRAIN_PACKAGES + DEV_PACKAGES) -> list[str]:
    """Track paths left out because their names say they are sung."""
    root = Path(music_root)
    out = []
    for name in packages:
        for folder in MUSIC_PACKAGES[name].folders:
            f = root / folder
            if f.is_dir():
                out += [str(p) for g in AUDIO_GLOBS for p in f.rglob(g)
                        if VOCAL_NAME_RE.search(p.name)]
    return sorted(out)


@functools.lru_cache(maxsize=4)
def _decode(path: str) -> np.ndarray:
    """``ndarray[float32, 2, T]`` at 44.1 kHz of a track (a pk3 member is extracted to a
    temporary file first)."""
    import tempfile

    from discovervoice import audio

    if "!" not in path:
        return audio.load(path, SR, channels=2)
    archive, member = path.split("!", 1)
    with zipfile.ZipFile(archive) as z, tempfile.TemporaryDirectory() as d:
        tmp = Path(d) / Path(member).name
        tmp.write_bytes(z.read(member))
        return audio.load(tmp, SR, channels=2)


def speech_share(x: np.ndarray, sr: int = SR) -> float:
    """Share of 10 ms frames where silero-vad's speech probability exceeds 0.5 in
    ``ndarray[C, T]`` (mono mix, resampled to 16 kHz)."""
    from discovervoice.signals import ANALYSIS_RATE, speech_probability, to_mono

    p = speech_probability(to_mono(x, sr, ANALYSIS_RATE))
    return float(np.mean(p > 0.5)) if p.size else 0.0


def screened_excerpt(tracks: list[MusicTrack], seconds: float, rng: np.random.Generator,
                     *, attempts: int = 12) -> tuple[np.ndarray, MusicTrack, float, list[dict]]:
    """A vocal-free accompaniment excerpt ``ndarray[2, seconds * SR]``.

    Returns ``(excerpt, track, start_s, rejected)``; ``rejected`` lists the draws that
    failed the screen (``{"file", "start_s", "reason"}``).

    Raises:
        DataError: no excerpt passed within ``attempts`` draws.
    """
    n = int(round(seconds * SR))
    rejected = []
    for _ in range(attempts):
        t = tracks[int(rng.integers(len(tracks)))]
        x = _decode(t.path)
        start = int(rng.integers(0, max(1, x.shape[1] - n)))
        ex = x[:, start:start + n]
        if ex.shape[1] < n:
            ex = np.pad(ex, ((0, 0), (0, n - ex.shape[1])))
        level = 20 * np.log10(max(rms(ex), 1e-12))
        if level < MIN_LEVEL_DB:
            rejected.append({"file": t.path, "start_s": round(start / SR, 2),
                             "reason": f"level {level:.1f} dBFS < {MIN_LEVEL_DB}"})
            continue
        share = speech_share(ex)
        if share > VAD_MAX_SHARE:
            rejected.append({"file": t.path, "start_s": round(start / SR, 2),
                             "reason": f"silero-vad speech share {share:.2f} > {VAD_MAX_SHARE}"})
            continue
        return ex.astype(np.float32), t, start / SR, rejected
    raise DataError(f"no vocal-free excerpt in {attempts} draws from {len(tracks)} tracks "
                    f"({rejected[-1]['reason'] if rejected else ''})")


def _speech_phrase(voice, rng: np.random.Generator, max_s: float) -> tuple[np.ndarray, dict]:
    """Real speech of a recorded voice: 1-6 of its recordings, short pauses between."""
    from discovervoice import audio

    files = list(voice.speaker_files)
    out, used = [], []
    total = 0.0
    for _ in range(int(rng.integers(1, 7))):
        f = files[int(rng.integers(len(files)))]
        x = audio.load(f, SR, channels=1)[0]
        if total + x.size / SR > max_s and out:
            break
        out += [x[: int(max_s * SR)], np.zeros(int(rng.uniform(0.1, 0.5) * SR), np.float32)]
        used.append(Path(f).name)
        total += x.size / SR
    return np.concatenate(out).astype(np.float32), {"kind": "speech", "files": used}


def _sung_phrase(voice, pieces: list[str], rng: np.random.Generator, out: Path
                 ) -> tuple[np.ndarray, dict]:
    from discovervoice import audio
    from discovervoice.corpus.parts import _pick_melody, phrase, sing_phrase

    piece = _pick_melody(pieces, rng, out)
    pid = piece.piece_id
    notes = phrase(piece, rng, max_q=float(rng.uniform(8, 16)))
    r, sung, meta = sing_phrase(notes, voice, rng, lead_in=0.05)
    x = audio.resample(r.audio[None].astype(np.float32), r.sample_rate, SR)[0]
    return x, {"kind": "sung", "piece": pid, **meta}


def real_song(tracks: list[MusicTrack], voices: list, pieces: list[str],
              rng: np.random.Generator, out: Path, *, seconds: float = 20.0,
              silent: bool = False, reverb_prob: float = 0.4) -> dict:
    """Render one real-accompaniment song (``silent``: its vocals stem is all zeros).

    Returns ``{"stems": {"vocals", "accompaniment"}: ndarray[2, T] float32,
    "mixture": ndarray[2, T] (their float32 sum), "meta": dict}``.

    Raises:
        DataError: no vocal-free excerpt; SynthesisError: a synthesizer failed.
    """
    n = int(round(seconds * SR))
    acc, track, start_s, rejected = screened_excerpt(tracks, seconds, rng)
    voice = voices[int(rng.integers(len(voices)))]
    vocals = np.zeros((2, n), np.float32)
    phrases = []
    vocal_db = float(rng.uniform(*REAL_VOCAL_DB))
    if not silent:
        mono = np.zeros(n, np.float32)
        t = float(rng.uniform(0.0, 3.0))
        active = []
        while t < seconds - 1.5:
            if voice.kind == "recorded" and rng.random() < 0.5:
                x, meta = _speech_phrase(voice, rng, min(8.0, seconds - t))
            else:
                x, meta = _sung_phrase(voice, pieces, rng, out)
            a = int(t * SR)
            x = x[: n - a]
            mono[a:a + x.size] += x
            active.append(x)
            phrases.append({"start_s": round(t, 3), "end_s": round(t + x.size / SR, 3), **meta})
            t += x.size / SR + float(rng.uniform(0.3, 4.0))
        if active:
            g = rms(acc) * db_to_gain(vocal_db) / max(rms(np.concatenate(active)), 1e-9)
            pan = float(rng.uniform(-0.15, 0.15))
            gl, gr = pan_gains(pan)
            vocals = np.stack([gl * g * mono, gr * g * mono]).astype(np.float32)
            if rng.random() < reverb_prob:
                ir = synthetic_ir(SR, float(rng.uniform(0.3, 1.4)), rng)
                vocals = apply_reverb(vocals, ir, float(rng.uniform(0.1, 0.3))).astype(np.float32)
        else:
            silent = True
    mix = vocals + acc
    peak = float(np.abs(mix).max()) or 1.0
    g = np.float32(float(rng.uniform(0.5, 0.95)) / peak)
    vocals = (vocals * g).astype(np.float32)
    acc = (acc * g).astype(np.float32)
    if silent:
        vocals[:] = 0.0
    mixture = vocals + acc
    meta = {
        "accompaniment": {"package": track.package, "file": track.path,
                          "licence": track.licence, "licence_file": track.licence_file,
                          "start_s": round(start_s, 3)},
        "voice": voice.id, "voice_kind": voice.kind, "voice_licence": voice.licence,
        "vocals_silent": silent, "vocal_to_accompaniment_db": None if silent else round(vocal_db, 3),
        "phrases": phrases, "screened_out": rejected, "duration_s": round(n / SR, 4),
    }
    return {"stems": {"vocals": vocals, "accompaniment": acc}, "mixture": mixture, "meta": meta}


def real_song_job(job, cfg, rng: np.random.Generator, out: Path) -> list[dict]:
    """Corpus job (see :mod:`discovervoice.corpus.build`): one real-songs song folder."""
    from discovervoice.corpus.parts import _licences, _rel, _save

    a = job.args
    check_packages({t.package for t in a["tracks"]})
    i, share = a["index"], cfg.real_silent_share   # exactly that share of the songs
    silent = int((i + 1) * share) > int(i * share)
    song = real_song(a["tracks"], a["voices"], a["pieces"], rng, out,
                     seconds=cfg.real_song_seconds, silent=silent)
    meta = song["meta"]
    voice = next(v for v in a["voices"] if v.id == meta["voice"])
    stem = Path(meta["accompaniment"]["file"].rsplit("!", 1)[-1]).stem
    name = f"{a['index']:04d}_{meta['accompaniment']['package']}_{stem}_{voice.id}"
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", name)[:120]
    folder = out / "real_songs" / job.split / name
    for s, x in song["stems"].items():
        _save(folder / f"{s}.wav", x, SR)
    _save(folder / "mixture.wav", song["mixture"], SR)
    pieces = sorted({p["piece"] for p in meta["phrases"] if p.get("piece")})
    return [{
        "path": _rel(out, folder), "part": "real-songs", "split": job.split, "kind": "real_song",
        "files": ["mixture.wav", "vocals.wav", "accompaniment.wav"], "sample_rate": SR,
        "channels": 2, "voices": [] if meta["vocals_silent"] else [voice.id],
        "piece": pieces[0] if pieces else None, "pieces": pieces, "soundfont": None,
        "packages": [meta["accompaniment"]["package"]],
        "licences": _licences([] if meta["vocals_silent"] else [voice],
                              [meta["accompaniment"]["licence"]]),
        **meta,
    }]

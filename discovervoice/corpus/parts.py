"""The jobs that write each part of the corpus (run in worker processes by ``build``).

Each ``*_job(job, cfg, rng, out)`` writes its files under ``out`` and returns manifest
items: dicts with at least ``path`` (relative to ``out``), ``part``, ``split``, ``kind``,
``voices`` (ids), ``piece`` (or ``None``), ``soundfont`` (or ``None``), ``licences``.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import numpy as np

from discovervoice.corpus import accompaniment as acc
from discovervoice.corpus import scores as sc
from discovervoice.corpus.mix import coloured_noise, mix_at_snr, rms, snr_db
from discovervoice.corpus.songs import (STEMS, build_song, fit_transpose, melody_to_sung)
from discovervoice.corpus.synth import Rendering, SungNote, SynthesisError, sing, speak
from discovervoice.corpus.texts import sentences_for, vocalise_syllables
from discovervoice.corpus.voices import FILLETS_SOUND_DIR, Voice
from discovervoice.errors import DataError
from discovervoice.fileio import atomic_path, write_json

log = logging.getLogger(__name__)

SINGER_SR = 16000
FILLETS_SCRIPT_DIR = Path("/usr/share/games/fillets-ng/script")
FILLETS_MUSIC_DIR = Path("/usr/share/games/fillets-ng/music")
ALSA_SOUNDS_DIR = Path("/usr/share/sounds/alsa")


def _save(path: Path, x: np.ndarray, sr: int) -> None:
    """Write ``ndarray[C, T]`` or ``[T]`` as 32-bit float WAV, atomically.

    scipy's writer is used rather than libsndfile because libsndfile adds a PEAK chunk
    with a time stamp to float WAVs, so equal audio would give different files.
    """
    from scipy.io import wavfile

    from discovervoice.errors import AudioError

    x = np.asarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise AudioError("corpus audio has NaN or inf samples", path)
    data = x.T if x.ndim == 2 else x
    with atomic_path(path) as tmp:
        wavfile.write(tmp, int(sr), np.ascontiguousarray(data))


def _write_json(path: Path, obj) -> None:
    write_json(path, obj, indent=None)


def _rel(out: Path, p: Path) -> str:
    return str(p.relative_to(out))


def _licences(voices: list[Voice], extra: list[str] = ()) -> list[str]:
    return sorted({v.licence for v in voices} | set(extra))


def _to16k(r: Rendering) -> np.ndarray:
    from discovervoice.audio import resample
    x = r.audio.astype(np.float32)
    if r.sample_rate != SINGER_SR:
        x = resample(x[None, :], r.sample_rate, SINGER_SR)[0]
    return x


# --------------------------------------------------------------------------- pieces
@functools.lru_cache(maxsize=None)
def _folk_table(collection: str, cache: str) -> dict[str, sc.Piece]:
    return {p.piece_id: p for p in sc.folk_pieces(collection, Path(cache))}


def get_piece(pid: str, out: Path) -> sc.Piece:
    cache = out / ".cache" / "scores"
    if "#" in pid:
        return _folk_table(pid.split("#", 1)[0], str(cache))[pid]
    return sc.load_piece(pid, cache)


def phrase(piece: sc.Piece, rng: np.random.Generator, *, min_notes: int = 6,
           max_q: float = 16.0) -> list[sc.Note]:
    """A phrase of the melody: starts at the beginning or after a long note (>= 2
    quarters), ends on a long note or after ``max_q`` quarters; re-timed to start at 0."""
    mel = piece.melody
    starts = [0] + [i + 1 for i in range(len(mel) - 1) if mel[i].dur >= 2.0]
    starts = [s for s in starts if s < len(mel) - min_notes] or [0]
    s = int(rng.choice(starts))
    t0 = mel[s].start
    out = []
    for i in range(s, len(mel)):
        n = mel[i]
        if n.start - t0 >= max_q:
            break
        out.append(sc.Note(n.start - t0, n.dur, n.pitch, n.lyric, n.word_end))
        if len(out) >= min_notes and n.dur >= 2.0:
            break
    return out


def sing_phrase(notes: list[sc.Note], voice: Voice, rng: np.random.Generator, *,
                bpm: float | None = None, transpose: int | None = None,
                syllable_index: list[int] | None = None, lead_in: float = 0.3
                ) -> tuple[Rendering, list[SungNote], dict]:
    """Sing a phrase in the voice's range; returns (rendering, sung notes, meta)."""
    bpm = bpm or float(rng.uniform(70, 130))
    q = 60.0 / bpm
    k = fit_transpose([n.pitch for n in notes], voice.low, voice.high) \
        if transpose is None else transpose
    sylls = None
    if syllable_index is not None:
        voc = vocalise_syllables(voice.language)
        sylls = [voc[i % len(voc)] for i in syllable_index]
    sung = melody_to_sung(notes, q, lead_in, k, sylls, rng, voice)
    r = sing(sung, voice, vibrato_rate=float(rng.uniform(4.8, 6.2)),
             vibrato_depth=float(rng.uniform(0.15, 0.4)), rng=rng)
    meta = {"bpm": round(bpm, 3), "transpose_semitones": k,
            "text": " ".join(s.syllable for s in sung if s.syllable)}
    return r, sung, meta


def _notes_json(sung: list[SungNote]) -> list:
    return [[round(s.start, 4), round(s.start + s.dur, 4), s.pitch] for s in sung]


def _phones_json(phones) -> list:
    return [[round(a, 4), round(b, 4), p] for a, b, p in phones]


def _finish(x: np.ndarray, rng: np.random.Generator, tail: float = 0.3) -> np.ndarray:
    x = np.concatenate([x, np.zeros(int(tail * SINGER_SR), np.float32)])
    peak = float(np.abs(x).max()) or 1.0
    return (x * (float(rng.uniform(0.3, 0.9)) / peak)).astype(np.float32)


# --------------------------------------------------------------------------- recordings
@functools.lru_cache(maxsize=1)
def fillets_transcripts() -> dict[str, str]:
    """Czech transcripts of the Fish Fillets NG lines: ``{file stem: text}``."""
    out = {}
    rx = re.compile(r'dialogId\("([^"]+)".*?\)\s*dialogStr\("((?:[^"\\]|\\.)*)"\)', re.S)
    for f in FILLETS_SCRIPT_DIR.glob("*/dialogs_cs.lua"):
        for key, text in rx.findall(f.read_text(errors="replace")):
            out[key] = text.replace('\\"', '"')
    return out


def _read16k(path: str) -> np.ndarray:
    from discovervoice.audio import load
    return load(path, SINGER_SR, channels=1)[0]


# --------------------------------------------------------------------------- songs
def usable_song_piece(pid: str, out: Path) -> sc.Piece | None:
    """The chorale if it can make a song (>= 3 parts, >= 12 melody notes), else None."""
    try:
        p = get_piece(pid, out)
    except DataError:
        return None
    return p if len(p.parts) >= 3 and len(p.melody) >= 12 else None


def song_job(job, cfg, rng, out: Path) -> list[dict]:
    a = job.args
    piece = next((p for p in (usable_song_piece(c, out) for c in a["candidates"]) if p), None)
    if piece is None:
        raise DataError(f"no usable chorale among {a['candidates']}")
    song = build_song(piece, a["voice"], a["soundfont"], rng, max_seconds=cfg.song_seconds,
                      kits=a["kits"])
    name = f"{a['index']:04d}_{piece.piece_id.split('/')[-1]}_{a['voice'].id}"
    folder = out / "songs" / job.split / name
    for s in STEMS:
        _save(folder / f"{s}.wav", song.stems[s], acc.SR)
    _save(folder / "mixture.wav", song.mixture, acc.SR)
    if song.phones is not None:
        _write_json(folder / "vocals.phones.json", _phones_json(song.phones))
    _write_json(folder / "vocals.notes.json", [list(n) for n in song.notes])
    v = a["voice"]
    return [{
        "path": _rel(out, folder), "part": "songs", "split": job.split, "kind": "song",
        "files": ["mixture.wav", *[f"{s}.wav" for s in STEMS], "vocals.notes.json"]
        + (["vocals.phones.json"] if song.phones is not None else []),
        "sample_rate": acc.SR, "channels": 2, "voices": [v.id], "piece": piece.piece_id,
        "soundfont": a["soundfont"].name,
        "licences": _licences([v], [piece.licence, a["soundfont"].licence]
                              + ([song.meta["drums"]["licence"]]
                                 if song.meta["drums"].get("licence") else [])),
        **song.meta,
    }]


# --------------------------------------------------------------------------- singers
def _pick_melody(melodies: list[str], rng, out: Path, min_notes: int = 8) -> sc.Piece:
    """A random melody of the list that parses and has >= ``min_notes`` notes."""
    for _ in range(20):
        pid = melodies[int(rng.integers(len(melodies)))]
        try:
            piece = get_piece(pid, out)
        except DataError:
            continue
        if len(piece.melody) >= min_notes:
            return piece
    raise DataError(f"no usable melody found among {len(melodies)} pieces")


def _sung_clip(voice: Voice, melodies: list[str], rng, out: Path, folder: Path, name: str,
               split: str) -> dict:
    piece = _pick_melody(melodies, rng, out)
    notes = phrase(piece, rng)
    r, sung, meta = sing_phrase(notes, voice, rng)
    x = _finish(_to16k(r), rng)
    _save(folder / f"{name}.wav", x, SINGER_SR)
    _write_json(folder / f"{name}.notes.json", _notes_json(sung))
    files = [f"{name}.wav", f"{name}.notes.json"]
    if r.phones is not None:
        _write_json(folder / f"{name}.phones.json", _phones_json(r.phones))
        files.append(f"{name}.phones.json")
    return {"path": _rel(out, folder / f"{name}.wav"), "files": files, "kind": "sung",
            "split": split, "singer": voice.id, "voices": [voice.id], "language": voice.language,
            "sex": voice.sex, "text": meta["text"], "piece": piece.piece_id,
            "melody": {"piece": piece.piece_id, "bpm": meta["bpm"],
                       "transpose_semitones": meta["transpose_semitones"]},
            "source": voice.source, "synth": voice.kind, "sample_rate": SINGER_SR,
            "duration_s": round(len(x) / SINGER_SR, 3), "soundfont": None,
            "licences": _licences([voice], [piece.licence])}


def _spoken_clip(voice: Voice, idx: int, rng, out: Path, folder: Path, name: str,
                 split: str) -> dict:
    files = [f"{name}.wav"]
    if voice.kind == "recorded" and voice.texts:
        # KLettres: 5-9 letters/syllables in a row, 0.1-0.35 s apart (a spelling drill)
        k = int(rng.integers(5, 10))
        pick = [int(i) for i in rng.integers(0, len(voice.speaker_files), size=k)]
        parts_ = []
        for i in pick:
            parts_.append(_read16k(voice.speaker_files[i]))
            parts_.append(np.zeros(int(rng.uniform(0.1, 0.35) * SINGER_SR), np.float32))
        x = _finish(np.concatenate(parts_), rng)
        text = " ".join(voice.texts[i] for i in pick)
        source = f"{voice.source}: " + ", ".join(
            Path(voice.speaker_files[i]).name for i in pick)
        phones = None
    elif voice.kind == "recorded":
        recs = list(voice.speaker_files)
        f = recs[int(rng.integers(len(recs)))]
        x = _finish(_read16k(f), rng)
        text = fillets_transcripts().get(Path(f).stem)
        source = f"{voice.source}: {Path(f).relative_to(FILLETS_SOUND_DIR)}"
        phones = None
    else:
        sents = sentences_for(voice.language)
        text = sents[(idx + int(rng.integers(len(sents)))) % len(sents)]
        r = speak(text, voice, speed_wpm=int(rng.integers(130, 190)),
                  pitch=int(rng.integers(30, 70)))
        lead = 0.2
        x = _finish(np.concatenate([np.zeros(int(lead * SINGER_SR), np.float32), _to16k(r)]),
                    rng)
        phones = [(a + lead, b + lead, p) for a, b, p in r.phones] if r.phones else None
        source = voice.source
    _save(folder / f"{name}.wav", x, SINGER_SR)
    if phones is not None:
        _write_json(folder / f"{name}.phones.json", _phones_json(phones))
        files.append(f"{name}.phones.json")
    return {"path": _rel(out, folder / f"{name}.wav"), "files": files, "kind": "spoken",
            "split": split, "singer": voice.id, "voices": [voice.id], "language": voice.language,
            "sex": voice.sex, "text": text, "piece": None, "melody": None, "source": source,
            "synth": voice.kind, "sample_rate": SINGER_SR,
            "duration_s": round(len(x) / SINGER_SR, 3), "soundfont": None,
            "licences": _licences([voice])}


def singer_job(job, cfg, rng, out: Path) -> list[dict]:
    """Sung and spoken clips of one singer; with ``with_valid`` every 5th clip of each
    kind goes to the valid split (same singers, other clips)."""
    v: Voice = job.args["voice"]
    items = []
    for kind, n in (("sung", cfg.sung_per_singer), ("spoken", cfg.spoken_per_singer)):
        for i in range(n):
            split = "valid" if job.args["with_valid"] and i % 5 == 4 else job.split
            folder = out / "singers" / split / v.id
            name = f"{kind}_{i:03d}"
            if kind == "sung":
                try:
                    it = _sung_clip(v, job.args["melodies"], rng, out, folder, name, split)
                except SynthesisError as exc:
                    if v.kind != "recorded":
                        raise
                    # a recorded speaker without usable voiced speech cannot sing
                    log.warning("leaving %s out of the singers: %s", v.id, exc)
                    import shutil
                    for it in items:
                        shutil.rmtree(out / Path(it["path"]).parent, ignore_errors=True)
                    return []
            else:
                it = _spoken_clip(v, i, rng, out, folder, name, split)
            it["part"] = "singers"
            items.append(it)
    return items


# --------------------------------------------------------------------------- parallel
def parallel_job(job, cfg, rng, out: Path) -> list[dict]:
    """One parallel set: the same phrase, timing and syllables sung by several voices
    (each transposed by whole octaves into its range)."""
    a = job.args
    piece = _pick_melody(a["pieces"], rng, out, min_notes=10)
    notes = phrase(piece, rng, min_notes=10, max_q=24.0)
    bpm = float(rng.uniform(70, 120))
    syl_idx = [int(i) for i in rng.integers(0, 6, size=len(notes))]
    folder = out / "parallel" / job.split / "sets" / a["name"]
    items = []
    for v in a["voices"]:
        k = fit_transpose([n.pitch for n in notes], v.low, v.high)
        k = 12 * int(round(k / 12))
        r, sung, meta = sing_phrase(notes, v, rng, bpm=bpm, transpose=k, syllable_index=syl_idx)
        x = _finish(_to16k(r), rng)
        _save(folder / f"{v.id}.wav", x, SINGER_SR)
        _write_json(folder / f"{v.id}.notes.json", _notes_json(sung))
        files = [f"{v.id}.wav", f"{v.id}.notes.json"]
        if r.phones is not None:
            _write_json(folder / f"{v.id}.phones.json", _phones_json(r.phones))
            files.append(f"{v.id}.phones.json")
        items.append({"path": _rel(out, folder / f"{v.id}.wav"), "files": files,
                      "part": "parallel", "kind": "parallel", "split": job.split,
                      "set": a["name"], "singer": v.id, "voices": [v.id],
                      "set_voices": [w.id for w in a["voices"]], "language": v.language,
                      "sex": v.sex, "text": meta["text"], "piece": piece.piece_id,
                      "melody": {"piece": piece.piece_id, "bpm": round(bpm, 3),
                                 "transpose_semitones": k},
                      "sample_rate": SINGER_SR, "duration_s": round(len(x) / SINGER_SR, 3),
                      "soundfont": None, "licences": _licences([v], [piece.licence])})
    return items


def parallel_train_job(job, cfg, rng, out: Path) -> list[dict]:
    """``parallel_train_seconds`` of training audio (sung phrases of melodies that no
    parallel set uses, plus spoken sentences) for one voice of the parallel sets."""
    v: Voice = job.args["voice"]
    folder = out / "parallel" / job.split / "voices" / v.id
    items, total, i = [], 0.0, 0
    while total < cfg.parallel_train_seconds and i < 200:
        name = f"sung_{i:03d}" if i % 4 else f"spoken_{i:03d}"
        if i % 4:
            it = _sung_clip(v, job.args["melodies"], rng, out, folder, name, job.split)
        else:
            it = _spoken_clip(v, i, rng, out, folder, name, job.split)
        it.update(part="parallel", kind=f"train_{it['kind']}")
        items.append(it)
        total += it["duration_s"]
        i += 1
    return items


# --------------------------------------------------------------------------- noisy speech
def _split_of_name(name: str) -> str:
    import zlib
    h = zlib.crc32(name.encode()) % 10
    return "test" if h == 0 else "valid" if h == 1 else "train"


def _noise(kind: str, n: int, split: str, rng, others: list[Voice]) -> tuple[np.ndarray, dict]:
    """``ndarray[n]`` noise at 16 kHz and its description."""
    if kind == "colour":
        col = str(rng.choice(["white", "pink", "brown", "blue"]))
        return coloured_noise(n, col, rng), {"type": "colour", "colour": col}
    if kind == "babble":
        k = int(rng.integers(3, 7))
        x = np.zeros(n)
        who = []
        for _ in range(k):
            v = others[int(rng.integers(len(others)))]
            sents = sentences_for(v.language)
            r = speak(sents[int(rng.integers(len(sents)))], v,
                      speed_wpm=int(rng.integers(140, 200)))
            y = _to16k(r)
            y = y / (rms(y) or 1.0)
            off = int(rng.integers(0, max(1, n // 2)))
            while off < n:            # loop each talker to fill the clip
                m = min(len(y), n - off)
                x[off:off + m] += y[:m]
                off += m + int(rng.integers(0, SINGER_SR // 2))
            who.append(v.id)
        return x, {"type": "babble", "talkers": who, "licences": sorted({
            o.licence for o in others if o.id in who})}
    if kind == "music":
        files = [f for f in sorted(FILLETS_MUSIC_DIR.glob("*.ogg")) if _split_of_name(f.name) == split]
        if files:
            f = files[int(rng.integers(len(files)))]
            y = _read16k(str(f))
            start = int(rng.integers(0, max(1, len(y) - n)))
            y = np.resize(y[start:start + n], n) if len(y) >= 1 else np.zeros(n)
            return y, {"type": "music", "file": str(f),
                       "licence": "fillets-ng-data: GPL-2+"}
        kind = "drums"
    if kind == "drums":
        kits = acc.hydrogen_kits()
        kit = acc.load_kit(kits[int(rng.integers(len(kits)))])
        dur = n / SINGER_SR + 0.5
        hits = acc.drum_pattern(dur, float(rng.uniform(80, 140)), 4, rng)
        y = kit.play(hits, dur).mean(axis=0)
        from discovervoice.audio import resample
        y = resample(y[None, :], acc.SR, SINGER_SR)[0][:n]
        return np.pad(y, (0, n - len(y))), {"type": "drums", "kit": kit.name,
                                            "licence": kit.licence}
    # alsa test sounds and pink noise recording
    files = sorted(ALSA_SOUNDS_DIR.glob("*.wav"))
    if not files:
        return coloured_noise(n, "pink", rng), {"type": "colour", "colour": "pink"}
    f = files[int(rng.integers(len(files)))]
    y = _read16k(str(f))
    return np.resize(y, n), {"type": "alsa", "file": str(f), "licence": "alsa-utils: GPL-2+"}


def noisy_job(job, cfg, rng, out: Path) -> list[dict]:
    """Clean speech + noise at the requested SNRs: ``noisy_speech/<split>/{clean,noise,
    noisy}/<id>.wav`` (16 kHz mono). ``noisy = clean + noise`` exactly, with
    ``20*log10(rms(clean)/rms(noise)) == snr``. A share ``recorded_share`` of the clean
    clips (default 0.3; ``corpus build --noisy-recorded-share``) are recordings of the split's
    recorded speakers, the rest synthetic speech."""
    a = job.args
    voices, rec, others = a["voices"], a["recorded"], a["others"]
    base = out / "noisy_speech" / job.split
    items = []
    kinds = ["colour", "babble", "music", "drums", "alsa"]
    for j in range(a["count"]):
        idx = a["start"] + j
        name = f"{idx:05d}"
        snr = float(cfg.snrs[idx % len(cfg.snrs)])
        if rec and rng.random() < a.get("recorded_share", 0.3):
            v = rec[int(rng.integers(len(rec)))]
            f = v.speaker_files[int(rng.integers(len(v.speaker_files)))]
            clean = _read16k(f)
            text = fillets_transcripts().get(Path(f).stem)
        else:
            v = voices[int(rng.integers(len(voices)))]
            sents = sentences_for(v.language)
            text = sents[int(rng.integers(len(sents)))]
            clean = _to16k(speak(text, v, speed_wpm=int(rng.integers(130, 190)),
                                 pitch=int(rng.integers(30, 70))))
        pad = np.zeros(int(rng.uniform(0.2, 0.5) * SINGER_SR), np.float32)
        clean = np.concatenate([pad, clean, pad]).astype(np.float64)
        clean *= 10 ** (float(rng.uniform(-30, -20)) / 20) / (rms(clean) or 1.0)
        kind = kinds[int(rng.integers(len(kinds)))]
        pool = [o for o in others if o.id != v.id] or others
        noise, ndesc = _noise(kind, len(clean) + int(0.5 * SINGER_SR), job.split, rng, pool)
        noisy, scaled, gain = mix_at_snr(clean, noise, snr)
        clean = clean[: len(noisy)]
        peak = float(np.abs(noisy).max())
        if peak > 0.99:     # same gain on all three keeps the SNR and the sum
            g = 0.99 / peak
            noisy, scaled, clean = noisy * g, scaled * g, clean * g
        c32, n32 = clean.astype(np.float32), scaled.astype(np.float32)
        y32 = (c32.astype(np.float64) + n32.astype(np.float64)).astype(np.float32)
        for sub, x in (("clean", c32), ("noise", n32), ("noisy", y32)):
            _save(base / sub / f"{name}.wav", x, SINGER_SR)
        items.append({
            "path": _rel(out, base / "noisy" / f"{name}.wav"), "part": "noisy",
            "kind": "noisy", "split": job.split, "clean": _rel(out, base / "clean" / f"{name}.wav"),
            "noise_file": _rel(out, base / "noise" / f"{name}.wav"), "snr_db": snr,
            "measured_snr_db": round(snr_db(c32, n32), 4), "noise": ndesc,
            "speaker": v.id, "voices": [v.id, *ndesc.get("talkers", [])],
            "language": v.language, "text": text,
            "piece": None, "soundfont": None, "sample_rate": SINGER_SR,
            "duration_s": round(len(y32) / SINGER_SR, 3),
            "licences": _licences([v], [ndesc["licence"]] if ndesc.get("licence") else [])})
    return items

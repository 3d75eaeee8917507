"""Singing and speaking voices: MBROLA (+espeak-ng phonemes), festival, recorded speech.

* :func:`sing` makes a voice sing a note list (seconds, MIDI pitch, lyric syllables):

  - MBROLA: espeak-ng ``--pho`` gives each syllable's phones in the database's SAMPA set
    (one batched call per clip), the syllable nucleus (longest voiced phone) is stretched
    over the note(s), onset/coda consonants keep their spoken length (at most 15 % of the
    note each), and every voiced phone gets pitch targets at the note pitch with vibrato
    (rate ~5.5 Hz, depth ~0.3 semitone, fading in after 150 ms). MBROLA truncates the pitch
    period to whole samples, so the target ``f`` is written as
    ``sr / (round(sr / f) + 0.5)`` which keeps the sung pitch within a few cents.
  - festival and recorded speech: WORLD (pyworld) analysis of a spoken syllable, its
    voiced part time-stretched over each note and F0 replaced by the note (+vibrato).

* :func:`speak` says a sentence (MBROLA via espeak-ng, or festival).

Both return a :class:`Rendering`: ``audio`` (``ndarray[T]`` float32 mono, -1..1),
``sample_rate`` (Hz, the voice's native rate: 16 kHz for most MBROLA databases) and
``phones`` (``[(start_s, end_s, phone), ...]``, ``"_"`` = silence) when they are known
exactly (MBROLA: from the ``.pho`` written; festival: its segment relation).

References: T. Dutoit et al., "The MBROLA project" (ICSLP 1996); M. Morise et al.,
"WORLD: a vocoder-based high-quality speech synthesis system" (IEICE 2016).
"""

from __future__ import annotations

import functools
import logging
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from discovervoice.corpus.voices import Voice
from discovervoice.errors import DiscoverVoiceError


log = logging.getLogger(__name__)


class SynthesisError(DiscoverVoiceError):
    """An external synthesizer (espeak-ng, mbrola, festival) failed."""


@dataclass(frozen=True)
class SungNote:
    """A note to sing: ``start``/``dur`` in seconds, ``pitch`` MIDI (float allowed),
    ``syllable``: text starting on this note, ``None`` = continue the previous syllable
    (melisma)."""

    start: float
    dur: float
    pitch: float
    syllable: str | None = None


@dataclass
class Rendering:
    """Synthesised audio. ``audio``: ``ndarray[T]`` float32 mono; ``sample_rate`` Hz;
    ``phones``: ``[(start_s, end_s, phone)]`` or ``None`` when unknown;
    ``f0_target``: ``[(start_s, end_s, hz)]`` sung notes (for checks)."""

    audio: np.ndarray
    sample_rate: int
    phones: list[tuple[float, float, str]] | None = None
    f0_target: list[tuple[float, float, float]] = field(default_factory=list)


def midi_to_hz(m: float) -> float:
    return 440.0 * 2.0 ** ((m - 69.0) / 12.0)


def _run(argv: list[str], *, input: bytes | None = None) -> bytes:
    try:
        r = subprocess.run(argv, input=input, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise SynthesisError(f"{argv[0]} is not installed (scripts/install-system-deps.sh)"
                             ) from exc
    if r.returncode != 0:
        raise SynthesisError(f"{' '.join(argv[:4])} failed ({r.returncode}): "
                             f"{r.stderr.decode(errors='replace').strip()[:300]}")
    return r.stdout


# --------------------------------------------------------------------------- MBROLA
_Phone = tuple[str, int, bool]   # (symbol, duration ms, voiced i.e. has pitch targets)


def _parse_pho(text: str) -> list[_Phone]:
    out = []
    for line in text.splitlines():
        p = line.split()
        if not p or p[0].startswith(";"):
            continue
        out.append((p[0], int(float(p[1])), len(p) > 2))
    return out


def _clean_syllable(s: str) -> str:
    keep = "".join(ch for ch in s if ch.isalpha() or ch in "'’ ")
    return keep.replace("’", "'").strip() or "a"


def phonemize_syllables(syllables: list[str], espeak_voice: str) -> list[list[_Phone]]:
    """Phones of each syllable (in the MBROLA database's symbols), one espeak-ng call.

    Each syllable goes on its own line; espeak-ng ends every line with a clause pause
    (``_ 301`` then ``_ 1``), which is where the output is split. Pauses inside a syllable
    are dropped. Falls back to one call per syllable if the counts do not match.
    """
    uniq = list(dict.fromkeys(_clean_syllable(s) for s in syllables))
    got = _phonemize_cached(tuple(uniq), espeak_voice)
    table = dict(zip(uniq, got))
    return [table[_clean_syllable(s)] for s in syllables]


@functools.lru_cache(maxsize=4096)
def _phonemize_one(text: str, espeak_voice: str) -> tuple[_Phone, ...]:
    out = _run(["espeak-ng", "-v", espeak_voice, "-q", "--pho", text]).decode("utf-8", "replace")
    ph = [p for p in _parse_pho(out) if p[0] != "_"]
    return tuple(ph) or (("a", 100, True),)


_CLAUSE_PAUSE_MS = 150


def _split_clauses(lines: list[_Phone]) -> list[list[_Phone]]:
    """Phones of a multi-line ``--pho`` output, one list per input line.

    espeak-ng ends every line (a clause) with a pause: ``_ 301`` + ``_ 1`` for most
    languages, a single ``_ 417`` for Persian, sometimes with an extra ``_ 1`` after it.
    A run of consecutive pauses that lasts >= 150 ms after at least one phone ends a
    line; shorter pauses inside a syllable are dropped.
    """
    blocks: list[list[_Phone]] = [[]]
    pause = 0
    for ph in lines:
        if ph[0] == "_":
            pause += ph[1]
            if pause >= _CLAUSE_PAUSE_MS and blocks[-1]:
                blocks.append([])
            continue
        pause = 0
        blocks[-1].append(ph)
    if not blocks[-1]:
        blocks.pop()
    return blocks


def _phonemize_cached(uniq: tuple[str, ...], espeak_voice: str) -> list[tuple[_Phone, ...]]:
    """One espeak-ng call for the clip's syllables. No cache across clips: espeak-ng's
    output for a line can depend on its neighbours, and a file must not depend on what
    the process rendered before it. Falls back to one (cached, context-free) call per
    syllable when the output does not split into one non-empty block per syllable."""
    text = "\n".join(uniq) + "\n"
    out = _run(["espeak-ng", "-v", espeak_voice, "-q", "--pho"],
               input=text.encode("utf-8")).decode("utf-8", "replace")
    blocks = _split_clauses(_parse_pho(out))
    if len(blocks) == len(uniq):
        return [tuple(b) for b in blocks]
    log.debug("espeak-ng -v %s: %d blocks for %d syllables, one call per syllable",
              espeak_voice, len(blocks), len(uniq))
    return [_phonemize_one(u, espeak_voice) for u in uniq]


@functools.lru_cache(maxsize=None)
def mbrola_sample_rate(db: str) -> int:
    """Native sample rate of an MBROLA database (probed once by rendering silence)."""
    with tempfile.TemporaryDirectory() as td:
        wav = Path(td) / "p.wav"
        _run(["mbrola", "-e", db, "-", str(wav)], input=b"_ 20\n_ 20\n")
        import soundfile as sf
        return int(sf.info(str(wav)).samplerate)


def _mbrola(db: str, pho: str) -> tuple[np.ndarray, int]:
    sr = mbrola_sample_rate(db)
    raw = _run(["mbrola", "-e", db, "-", "-.raw"], input=pho.encode("ascii", "replace"))
    x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    return x, sr


def _vibrato_points(n_ms: int, f: float, rate: float, depth: float, t0_ms: float,
                    step_ms: int = 25) -> list[tuple[float, float]]:
    """(percent of phone, Hz) pitch points every ``step_ms`` over a phone of ``n_ms``;
    ``t0_ms`` = time since the note began at the phone's start (for the fade-in)."""
    k = max(2, int(n_ms / step_ms) + 1)
    t = np.linspace(0.0, n_ms / 1000.0, k)
    ramp = np.clip((t + t0_ms / 1000.0 - 0.15) / 0.2, 0.0, 1.0)
    fs = f * 2.0 ** (depth * ramp * np.sin(2 * np.pi * rate * (t + t0_ms / 1000.0)) / 12.0)
    return [(100.0 * i / (k - 1), float(v)) for i, v in enumerate(fs)]


MAX_MELISMA = 12
MAX_PHONE_PERIODS = 2000
MAX_PHONE_MS = 4000


def _syllables(notes: list[SungNote], voice: Voice) -> tuple[list[list[SungNote]], list]:
    """Notes grouped into syllables and each group's phones.

    A syllable is its first note + the following melisma notes (at most
    :data:`MAX_MELISMA`: a longer melisma continues on a new vowel-only group, which sings
    the previous syllable's nucleus, its longest voiced phone). Phones come from
    :func:`phonemize_syllables` in the voice's espeak language.
    """
    groups: list[list[SungNote]] = []
    cont: list[bool] = []
    for n in sorted(notes, key=lambda n: n.start):
        joined = groups and abs(groups[-1][-1].start + groups[-1][-1].dur - n.start) < 1e-3
        if n.syllable is None and joined and len(groups[-1]) < MAX_MELISMA:
            groups[-1].append(n)
        elif n.syllable is None and joined:
            groups.append([n])
            cont.append(True)
        else:
            groups.append([n if n.syllable is not None else
                           SungNote(n.start, n.dur, n.pitch, "a")])
            cont.append(False)
    heads = [g[0].syllable or "a" for g, c in zip(groups, cont) if not c]
    heads_ph = iter(phonemize_syllables(heads, voice.espeak or ""))
    phon: list = []
    for c in cont:
        if not c:
            phon.append(next(heads_ph))
        else:  # the previous syllable's nucleus (longest voiced phone) goes on
            prev = phon[-1]
            voiced = [p for p in prev if p[2]] or list(prev)
            phon.append([max(voiced, key=lambda p: p[1])])
    return groups, phon


def sing_mbrola(notes: list[SungNote], voice: Voice, *, vibrato_rate: float = 5.5,
                vibrato_depth: float = 0.3, lead_in: float = 0.0) -> Rendering:
    """Sing ``notes`` with an MBROLA voice; see the module docstring. The output starts
    at time 0 = ``lead_in`` seconds before the first note (notes keep their start times
    relative to 0)."""
    if voice.kind != "mbrola":
        raise ValueError(f"{voice.id} is not an MBROLA voice")
    db = str(voice.path)
    sr = mbrola_sample_rate(db)
    qz = lambda f: sr / (round(sr / f) + 0.5)  # noqa: E731 - tiny local formula

    groups, phon = _syllables(notes, voice)

    lines: list[str] = []
    phones: list[tuple[float, float, str]] = []
    f0_target: list[tuple[float, float, float]] = []
    t_ms = 0  # integer ms written so far

    def emit(sym: str, dur: int, pts: list[tuple[float, float]] | None) -> None:
        nonlocal t_ms
        if dur <= 0:
            return
        if pts:
            # MBROLA reads lines of at most ~1000 characters: compact numbers, <= 85 points
            lines.append(f"{sym} {dur} " + " ".join(f"{p:.1f} {qz(f):.1f}" for p, f in pts))
        else:
            lines.append(f"{sym} {dur}")
        phones.append((t_ms / 1000.0, (t_ms + dur) / 1000.0, sym))
        t_ms += dur

    for g, ph in zip(groups, phon):
        s_ms = round(g[0].start * 1000)
        e_ms = round((g[-1].start + g[-1].dur) * 1000)
        if s_ms > t_ms:
            emit("_", s_ms - t_ms, None)
        s_ms = max(s_ms, t_ms)
        total = e_ms - s_ms
        if total < 20:
            continue
        voiced = [i for i, p in enumerate(ph) if p[2]]
        k = max(voiced or range(len(ph)), key=lambda i: ph[i][1])
        cap = 0.15 * (round(g[0].dur * 1000))
        cons = {i: max(10, min(p[1], int(cap))) for i, p in enumerate(ph) if i != k}
        nuc = total - sum(cons.values())
        if nuc < 20:  # very short note: shrink consonants proportionally
            scale = max(0.0, (total - 20) / max(1, sum(cons.values())))
            cons = {i: max(0, int(d * scale)) for i, d in cons.items()}
            nuc = total - sum(cons.values())
        # note boundaries in ms relative to syllable start, for pitch points
        bounds = [(round(n.start * 1000) - s_ms, round((n.start + n.dur) * 1000) - s_ms,
                   midi_to_hz(n.pitch)) for n in g]
        for n in g:
            f0_target.append((n.start, n.start + n.dur, midi_to_hz(n.pitch)))
        pos = 0
        overflow = 0
        for i, (sym, _, is_voiced) in enumerate(ph):
            d = nuc if i == k else cons[i]
            pts = None
            if i == k:
                # MBROLA fails ("PANIC, check your pitch") on a phone of more than about
                # 2400 pitch periods: a longer note is held for MAX_PHONE_PERIODS, then
                # the singer breathes (silence) until the next note
                f_hi = 1.03 * max(f for _, _, f in bounds)
                cap = int(min(MAX_PHONE_MS, 1000.0 * MAX_PHONE_PERIODS / f_hi))
                if d > cap:
                    overflow, d = d - cap, cap
                pts = []
                step = max(25, int(np.ceil(d / (80 - 2 * len(bounds)))))
                for b0, b1, f in bounds:
                    a, b = max(b0, pos), min(b1, pos + d)
                    if b <= a:
                        continue
                    for p, fv in _vibrato_points(b - a, f, vibrato_rate, vibrato_depth,
                                                 a - b0, step):
                        pts.append(((a - pos + p / 100.0 * (b - a)) / d * 100.0, fv))
            elif is_voiced:
                # the note sounding at this phone's midpoint
                mid = pos + d / 2
                f = next((f for b0, b1, f in bounds if b0 <= mid < b1), bounds[-1][2])
                pts = [(0.0, f), (100.0, f)]
            emit(sym, d, pts)
            pos += d
        if overflow:
            emit("_", overflow, None)
    emit("_", 300, None)
    pho = "\n".join(lines) + "\n"
    try:
        x, sr = _mbrola(db, pho)
    except SynthesisError as exc:
        # MBROLA occasionally refuses a pitch contour at a diphone ("PANIC, check your
        # pitch"); the same notes without vibrato go through.
        if vibrato_depth == 0.0:
            raise
        log.warning("%s: retrying without vibrato (%s)", voice.id, str(exc)[:120])
        return sing_mbrola(notes, voice, vibrato_rate=vibrato_rate, vibrato_depth=0.0,
                           lead_in=lead_in)
    pad = int(round(lead_in * sr))
    if pad:
        x = np.concatenate([np.zeros(pad, np.float32), x])
        phones = [(a + lead_in, b + lead_in, s) for a, b, s in phones]
    return Rendering(x, sr, phones, f0_target)


def speak_mbrola(text: str, voice: Voice, *, speed_wpm: int = 160,
                 pitch: int = 50) -> Rendering:
    """Say ``text`` with an MBROLA voice (espeak-ng prosody, ``speed_wpm`` words/min,
    espeak pitch 0..99)."""
    pho = _run(["espeak-ng", "-v", voice.espeak or "", "-q", "--pho", "-s", str(speed_wpm),
                "-p", str(pitch)], input=text.encode("utf-8")).decode("utf-8", "replace")
    pho = "\n".join(ln for ln in pho.splitlines() if ln.strip()) + "\n"
    phones, t = [], 0
    for sym, d, _ in _parse_pho(pho):
        phones.append((t / 1000.0, (t + d) / 1000.0, sym))
        t += d
    x, sr = _mbrola(str(voice.path), pho)
    return Rendering(x, sr, phones)


# --------------------------------------------------------------------------- festival
_WORLD_SR = 16000
_FP = 5.0  # WORLD frame period, ms


def _scheme_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def festival_batch(texts: list[str], voice: Voice) -> list[Rendering]:
    """Say each text with a festival voice (one festival process for all), with the
    segment (phone) timings of festival's ``Segment`` relation."""
    if voice.kind != "festival":
        raise ValueError(f"{voice.id} is not a festival voice")
    import soundfile as sf

    with tempfile.TemporaryDirectory() as td:
        lines = [f"(voice_{voice.path})"]
        for i, t in enumerate(texts):
            lines += [f"(set! utt (utt.synth (Utterance Text {_scheme_str(t)})))",
                      f"(utt.save.wave utt {_scheme_str(f'{td}/{i}.wav')} 'riff)",
                      f"(utt.save.segs utt {_scheme_str(f'{td}/{i}.segs')})"]
        scm = Path(td) / "job.scm"
        scm.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _run(["festival", "--batch", str(scm)])
        out = []
        for i in range(len(texts)):
            wav = Path(td) / f"{i}.wav"
            if not wav.exists():
                raise SynthesisError(f"festival ({voice.path}) wrote no audio for {texts[i]!r}")
            x, sr = sf.read(str(wav), dtype="float32")
            phones, prev = [], 0.0
            for line in (Path(td) / f"{i}.segs").read_text().splitlines():
                p = line.split()
                if len(p) == 3 and p[0] != "#":
                    end = float(p[0])
                    phones.append((prev, end, "_" if p[2] == "pau" else p[2]))
                    prev = end
            out.append(Rendering(x if x.ndim == 1 else x.mean(axis=1), int(sr), phones))
        return out


def speak_festival(text: str, voice: Voice) -> Rendering:
    """Say ``text`` with a festival voice."""
    return festival_batch([text], voice)[0]


# --------------------------------------------------------------------------- WORLD singing
@dataclass
class _Unit:
    f0: np.ndarray
    sp: np.ndarray
    ap: np.ndarray
    onset: int     # first voiced frame
    end: int       # one past the last voiced frame
    phones: list[tuple[float, float, str]] | None  # relative to the unit start


def _world_unit(x: np.ndarray, sr: int, phones=None) -> _Unit | None:
    import pyworld as pw
    from discovervoice.audio import resample

    if sr != _WORLD_SR:
        x = resample(x[None, :].astype(np.float32), sr, _WORLD_SR)[0]
    x = x.astype(np.float64)
    f0, t = pw.dio(x, _WORLD_SR, f0_floor=60.0, f0_ceil=800.0, frame_period=_FP)
    f0 = pw.stonemask(x, f0, t, _WORLD_SR)
    vo = np.nonzero(f0 > 0)[0]
    if vo.size < 8:
        return None
    sp = pw.cheaptrick(x, f0, t, _WORLD_SR)
    ap = pw.d4c(x, f0, t, _WORLD_SR)
    # the sung (stretched) span: voiced frames within 25 dB of the loudest voiced frame,
    # so that a faint voiced tail (breath, the pause after a word) is not stretched
    energy = 10.0 * np.log10(np.sum(sp, axis=1) + 1e-20)
    strong = np.nonzero((f0 > 0) & (energy >= energy[f0 > 0].max() - 25.0))[0]
    return _Unit(f0, sp, ap, int(strong[0]), int(strong[-1]) + 1, phones)


def _world_sing(units: list[_Unit], notes: list[SungNote], vibrato_rate: float,
                vibrato_depth: float, syllable_index: list[int]) -> Rendering:
    """Lay ``units[syllable_index[i]]`` over note group i (see :func:`sing`)."""
    import pyworld as pw

    # group notes into syllables
    groups: list[list[SungNote]] = []
    for n in sorted(notes, key=lambda n: n.start):
        if n.syllable is None and groups:
            groups[-1].append(n)
        else:
            groups.append([n])
    total = max(n.start + n.dur for n in notes) + 0.3
    n_fr = int(total * 1000 / _FP) + 1
    dim = units[0].sp.shape[1]
    F0 = np.zeros(n_fr)
    SP = np.tile(np.full(dim, 1e-12), (n_fr, 1))
    AP = np.ones((n_fr, units[0].ap.shape[1]))
    phones: list[tuple[float, float, str]] | None = [] if all(u.phones for u in units) else None
    f0_target = []
    for gi, g in enumerate(groups):
        u = units[syllable_index[gi % len(syllable_index)] % len(units)]
        i0 = int(round(g[0].start * 1000 / _FP))
        i1 = min(n_fr, int(round((g[-1].start + g[-1].dur) * 1000 / _FP)))
        length = i1 - i0
        if length < 4:
            continue
        on = max(0, u.onset - int(60 / _FP))          # keep <= 60 ms onset consonant
        n_on = min(u.onset - on, length // 4)
        on = u.onset - n_on
        n_v = length - n_on
        idx = np.concatenate([np.arange(on, u.onset),
                              np.linspace(u.onset, u.end - 1, n_v)]).round().astype(int)
        SP[i0:i1], AP[i0:i1] = u.sp[idx], u.ap[idx]
        voiced = u.f0[idx] > 0
        voiced[n_on:] = True   # the sung vowel is voiced throughout
        # target F0 per frame from the notes of this syllable (+ vibrato)
        tt = (np.arange(i0, i1) * _FP) / 1000.0
        f = np.zeros(length)
        for n in g:
            m = (tt >= n.start - 1e-9) & (tt < n.start + n.dur)
            rel = tt[m] - n.start
            ramp = np.clip((rel - 0.15) / 0.2, 0.0, 1.0)
            f[m] = midi_to_hz(n.pitch) * 2.0 ** (
                vibrato_depth * ramp * np.sin(2 * np.pi * vibrato_rate * rel) / 12.0)
            f0_target.append((n.start, n.start + n.dur, midi_to_hz(n.pitch)))
        f[f == 0] = midi_to_hz(g[0].pitch)
        F0[i0:i1] = np.where(voiced, f, 0.0)
        if phones is not None and u.phones:
            # onset phones keep their timing; the rest scale onto the stretched part
            t_on0, t_v0, t_v1 = on * _FP / 1000, u.onset * _FP / 1000, u.end * _FP / 1000
            a_s, vs = g[0].start, g[0].start + n_on * _FP / 1000
            scale = (length - n_on) * _FP / 1000 / max(t_v1 - t_v0, 1e-3)
            for a, b, ph in u.phones:
                if ph == "_" or b <= t_on0:
                    continue
                a, b = max(a, t_on0), min(b, t_v1)
                if b <= a:
                    continue
                ma = a_s + (a - t_on0) if a < t_v0 else vs + (a - t_v0) * scale
                mb = a_s + (b - t_on0) if b <= t_v0 else vs + (b - t_v0) * scale
                phones.append((round(ma, 4), round(mb, 4), ph))
    y = pw.synthesize(F0, np.ascontiguousarray(SP), np.ascontiguousarray(AP), _WORLD_SR, _FP)
    y = (y / max(1.0, float(np.abs(y).max()) / 0.9)).astype(np.float32)
    if phones is not None:
        phones.sort()
        filled, t = [], 0.0
        for a, b, ph in phones:
            a = max(a, t)
            if a > t + 1e-4:
                filled.append((round(t, 4), round(a, 4), "_"))
            if b > a:
                filled.append((round(a, 4), round(b, 4), ph))
                t = b
        filled.append((round(t, 4), round(len(y) / _WORLD_SR, 4), "_"))
        phones = filled
    return Rendering(y, _WORLD_SR, phones, f0_target)


def sing_festival(notes: list[SungNote], voice: Voice, *, vibrato_rate: float = 5.5,
                  vibrato_depth: float = 0.3) -> Rendering:
    """Sing with a festival voice: each syllable is spoken once (one festival process),
    then laid over its note(s) by WORLD resynthesis (F0 = the notes + vibrato)."""
    sylls = [n.syllable for n in sorted(notes, key=lambda n: n.start) if n.syllable is not None]
    uniq = list(dict.fromkeys(_clean_syllable(s) for s in sylls)) or ["la"]
    rend = festival_batch(uniq, voice)
    units, keep = [], {}
    for s, r in zip(uniq, rend):
        # festival phones include leading/trailing pauses; shift to the unit time base
        u = _world_unit(r.audio, r.sample_rate, r.phones)
        if u is not None:
            keep[s] = len(units)
            units.append(u)
    if not units:
        raise SynthesisError(f"{voice.id}: festival produced no voiced syllable")
    index = [keep.get(_clean_syllable(s), 0) for s in sylls]
    return _world_sing(units, notes, vibrato_rate, vibrato_depth, index or [0])


def _recorded_units(files: tuple[str, ...]) -> list[_Unit]:
    """Voiced chunks (150..600 ms) of recorded speech, as WORLD units (in file order)."""
    return [u for f in files for u in _file_units(f)]


@functools.lru_cache(maxsize=2048)
def _file_units(f: str) -> tuple[_Unit, ...]:
    from discovervoice.audio import read

    x, sr = read(f)
    x = x.mean(axis=0)
    u = _world_unit(x, sr)
    if u is None:
        return ()
    units = []
    voiced = u.f0 > 0
    # split into voiced runs
    edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(int), [0]])))
    for a, b in zip(edges[::2], edges[1::2]):
        if (b - a) * _FP < 150:
            continue
        b = min(b, a + int(600 / _FP))
        lo = max(0, a - int(60 / _FP))
        units.append(_Unit(u.f0[lo:b], u.sp[lo:b], u.ap[lo:b], a - lo, b - lo, None))
    return tuple(units)


def sing_recorded(notes: list[SungNote], voice: Voice, *, vibrato_rate: float = 5.5,
                  vibrato_depth: float = 0.3, rng: np.random.Generator | None = None,
                  n_files: int = 6) -> Rendering:
    """Sing with a real speaker: voiced chunks of their recordings laid over the notes by
    WORLD (speech-to-singing). Phone timings are unknown (``phones=None``)."""
    rng = rng or np.random.default_rng(0)
    files = list(voice.speaker_files)
    pick = sorted(rng.choice(len(files), size=min(n_files, len(files)), replace=False))
    units = _recorded_units(tuple(files[i] for i in pick))
    if not units:   # short or unvoiced lines: look through all of them
        units = _recorded_units(tuple(files))
    if not units:
        raise SynthesisError(f"{voice.id}: no voiced speech (runs >= 150 ms) in its "
                             f"{len(files)} recordings")
    n_syl = sum(1 for n in notes if n.syllable is not None) or 1
    index = [int(i) for i in rng.integers(0, len(units), size=n_syl)]
    return _world_sing(units, notes, vibrato_rate, vibrato_depth, index)


# --------------------------------------------------------------------------- dispatch
def sing(notes: list[SungNote], voice: Voice, *, vibrato_rate: float = 5.5,
         vibrato_depth: float = 0.3, rng: np.random.Generator | None = None) -> Rendering:
    """Sing ``notes`` (:class:`SungNote`, seconds + MIDI + syllables) with ``voice``.

    Returns a :class:`Rendering` (``audio`` ``ndarray[T]`` mono at the voice's native
    rate, ``phones`` when known). Raises :class:`SynthesisError` when a synthesizer fails.
    """
    if not notes:
        raise ValueError("sing: no notes")
    if voice.kind == "mbrola":
        return sing_mbrola(notes, voice, vibrato_rate=vibrato_rate, vibrato_depth=vibrato_depth)
    if voice.kind == "festival":
        return sing_festival(notes, voice, vibrato_rate=vibrato_rate,
                             vibrato_depth=vibrato_depth)
    if voice.kind == "recorded":
        return sing_recorded(notes, voice, vibrato_rate=vibrato_rate,
                             vibrato_depth=vibrato_depth, rng=rng)
    raise ValueError(f"unknown voice kind {voice.kind!r}")


def speak(text: str, voice: Voice, *, speed_wpm: int = 160, pitch: int = 50) -> Rendering:
    """Say ``text`` with ``voice`` (MBROLA or festival). Recorded voices cannot say new
    text: use their recordings (:attr:`Voice.speaker_files`)."""
    if voice.kind == "mbrola":
        return speak_mbrola(text, voice, speed_wpm=speed_wpm, pitch=pitch)
    if voice.kind == "festival":
        return speak_festival(text, voice)
    raise ValueError(f"{voice.id}: a {voice.kind} voice cannot say new text")

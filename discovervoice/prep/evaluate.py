"""Evaluation of dataset preparation on corpus material with known truth.

Material (built here from a corpus folder, see :mod:`discovervoice.corpus`; by default
from the ``test`` split, i.e. only the voices, pieces and soundfonts reserved for
evaluation):

* **songs** — ``songs/<split>/<song>/{mixture,vocals}.wav``: the truth is *singing* where
  the true vocal stem is active, *music* where only the accompaniment is, *silence*
  elsewhere (:func:`reference_from_stems`).
* **conversations** — spoken clips of two corpus voices (``singers/<split>/<voice>/
  spoken_*.wav``) in alternating turns, separated by silences (0.8-2 s) and by music
  interludes (3-5 s of a song's accompaniment stems), so the truth (speech with speaker,
  music, silence) is known to the sample.

Scores: segmentation F1 at ``tolerance`` seconds (:func:`discovervoice.prep.metrics.segment_f1`),
boundary F1 and frame accuracy; DER (automatic and given number of speakers, collar 0
and 0.25 s); sex-estimate accuracy on segments whose voice has a known sex. Songs are
segmented with the true vocal stem (``oracle`` separation, which scores the
segmentation itself) and, when ``separator`` is given, with the separator's vocal stem
(end to end). Conversations are segmented as they are (no separation needed: music and
speech do not overlap) and with the oracle voice track.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from discovervoice.errors import AudioError, DataError
from discovervoice.prep import features as F
from discovervoice.prep.metrics import (boundary_f1, diarization_error_rate, frame_accuracy,
                                        segment_f1)
from discovervoice.prep.segmentation import (LABELS, Segment, SegmentOptions, _absorb_short,
                                        frames_to_segments, segment)

SR = F.ANALYSIS_RATE


def load_corpus_manifest(corpus: str | Path) -> dict:
    """The corpus ``manifest.json``; :class:`DataError` when missing."""
    p = Path(corpus) / "manifest.json"
    if not p.is_file():
        raise DataError(f"{p}: corpus manifest not found (build it with `discovervoice corpus build`)")
    return json.loads(p.read_text())


def voice_sexes(manifest: dict) -> dict[str, str | None]:
    """``{voice_id: "male"/"female"/None}`` from the corpus manifest."""
    out = {v["id"]: v.get("sex") for v in manifest.get("voices", [])}
    for it in manifest.get("items", []):
        if it.get("singer") and it.get("sex") is not None:
            out.setdefault(it["singer"], it["sex"])
    return out


def reference_from_stems(vocals: np.ndarray, mixture: np.ndarray, sample_rate: int,
                         voice_label: str = "singing", options: SegmentOptions | None = None
                         ) -> list[Segment]:
    """Truth segments of a song from its true stems (``ndarray[C, T]``).

    A frame is voice where the vocal stem's level is within ``voice_range_db`` of the
    mixture's loud level (95th percentile) and within ``voice_local_db`` of the mixture at
    that moment (a stem far below the mix is not heard), music where the mixture is within
    ``silence_range_db``; gaps and short runs are bridged with the same durations the
    segmenter uses (``merge_gap_seconds``, ``min_voice_seconds``, ``min_other_seconds``).
    """
    o = options or SegmentOptions()
    v, m = F.to_mono_16k(vocals, sample_rate), F.to_mono_16k(mixture, sample_rate)
    ev, em = F.energy_db(v), F.energy_db(m)
    n = min(len(ev), len(em))
    ev, em = ev[:n], em[:n]
    loud = float(np.percentile(em, 95))
    active = F.fill_gaps(em > max(o.silence_floor_db, loud - o.silence_range_db),
                         int(o.min_other_seconds * F.FRAME_RATE))
    voice = active & (ev > max(o.silence_floor_db, loud - o.voice_range_db)) & (ev > em - o.voice_local_db)
    voice = F.drop_short(F.fill_gaps(voice, int(o.merge_gap_seconds * F.FRAME_RATE)),
                         int(o.min_voice_seconds * F.FRAME_RATE))
    codes = np.where(active, LABELS.index("music"), LABELS.index("silence"))
    codes[voice] = LABELS.index(voice_label)
    codes = _absorb_short(codes, int(o.min_other_seconds * F.FRAME_RATE))
    return frames_to_segments(codes, np.asarray(mixture).shape[-1] / sample_rate)


def _trim(x: np.ndarray, range_db: float = 40.0) -> np.ndarray:
    e = F.energy_db(x)
    on = np.flatnonzero(e > e.max() - range_db)
    if len(on) == 0:
        return x[:0]
    return x[on[0] * F.HOP: min(len(x), (on[-1] + 1) * F.HOP + F.WIN)]


def _pause(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    return np.zeros(int(rng.uniform(lo, hi) * SR), np.float32)


def _music_stretch(m: np.ndarray, seconds: float, rng: np.random.Generator,
                   level: float = 0.04) -> np.ndarray:
    """``seconds`` of the 16 kHz mono track ``m`` from a random start, at RMS ``level``,
    with 20 ms fades."""
    n = int(seconds * SR)
    s0 = int(rng.integers(0, max(1, len(m) - n)))
    seg = np.array(m[s0:s0 + n], dtype=np.float32)
    seg = seg / (np.sqrt(np.mean(seg.astype(np.float64) ** 2)) + 1e-9) * level
    fade = int(0.02 * SR)
    seg[:fade] *= np.linspace(0, 1, fade)
    seg[-fade:] *= np.linspace(1, 0, fade)
    return seg.astype(np.float32)


def assemble(parts: list[tuple[np.ndarray, str, str | None]]
             ) -> tuple[np.ndarray, np.ndarray, list[Segment]]:
    """Join ``(clip ndarray[T] at 16 kHz, label, speaker)`` parts end to end.

    Returns:
        ``(mixture, voice_track, truth)``: the voice track holds only the ``speech``
        parts; truth segments carry each part's label and speaker (adjacent silences
        merged).
    """
    mix = np.concatenate([p for p, _, _ in parts])
    voice = np.concatenate([p if lab == "speech" else np.zeros_like(p) for p, lab, _ in parts])
    truth: list[Segment] = []
    t = 0.0
    for p, lab, spk in parts:
        d = len(p) / SR
        if truth and truth[-1].label == lab == "silence":
            truth[-1].end = round(t + d, 3)
        else:
            truth.append(Segment(round(t, 3), round(t + d, 3), lab, spk))
        t += d
    return mix, voice, truth


def build_conversation(clips_a: list[np.ndarray], clips_b: list[np.ndarray],
                       music: list[np.ndarray], rng: np.random.Generator,
                       music_every: int = 2) -> tuple[np.ndarray, np.ndarray, list[Segment]]:
    """Alternate turns of speaker A and B (16 kHz mono clips, trimmed of silence) with
    silences and, every ``music_every`` turns, a music interlude.

    Returns:
        ``(mixture, voice_track, truth)``: ``ndarray[T]`` each; truth segments carry
        ``speaker`` ``"A"``/``"B"`` on speech.
    """
    parts: list[tuple[np.ndarray, str, str | None]] = []
    turns = []
    for i in range(max(len(clips_a), len(clips_b))):
        if i < len(clips_a):
            turns.append((clips_a[i], "A"))
        if i < len(clips_b):
            turns.append((clips_b[i], "B"))
    parts.append((_pause(rng, 0.5, 1.0), "silence", None))
    mi = 0
    for k, (clip, spk) in enumerate(turns):
        c = _trim(clip)
        c = c / (np.sqrt(np.mean(c.astype(np.float64) ** 2)) + 1e-9) * 0.05 * rng.uniform(0.7, 1.4)
        parts.append((c.astype(np.float32), "speech", spk))
        parts.append((_pause(rng, 0.8, 2.0), "silence", None))
        if music and k % music_every == music_every - 1 and k < len(turns) - 1:
            m = music[mi % len(music)]
            mi += 1
            parts.append((_music_stretch(m, rng.uniform(3.0, 5.0), rng), "music", None))
            parts.append((_pause(rng, 0.8, 1.5), "silence", None))
    return assemble(parts)


def _sex_votes(segs: list[Segment], truth_sex_at) -> tuple[int, int]:
    ok = n = 0
    for s in segs:
        if s.sex_estimate is None or s.duration < 1.0:
            continue
        want = truth_sex_at((s.start + s.end) / 2)
        if want is None:
            continue
        n += 1
        ok += s.sex_estimate == want
    return ok, n


def _estimate_sexes(voice: np.ndarray, sr: int, segs: list[Segment]) -> None:
    from discovervoice.prep.sex import estimate_sex

    for s in segs:
        if s.label in ("speech", "singing"):
            a, b = int(s.start * sr), int(s.end * sr)
            e = estimate_sex(voice[..., a:b], sr, s.label)
            s.sex_estimate, s.sex_confidence = e.sex, e.confidence


def _mean(xs):
    return float(np.mean(xs)) if xs else None


def _corpus_items(corpora: list[Path], split: str) -> tuple[dict, list[dict], list[dict]]:
    """``(voice sexes, songs, spoken clips)`` of ``split`` in the corpus builds ``corpora``.

    Items of several builds are joined, each path made absolute; the same song or clip in
    several builds is kept once (the first); files that a build still in progress has not
    written yet are skipped. Songs are sorted by folder name.
    """
    sexes: dict = {}
    items = []
    for c in corpora:
        man = load_corpus_manifest(c)
        for k, v in voice_sexes(man).items():
            if sexes.get(k) is None:
                sexes[k] = v
        items += [dict(it, path=str(c / it["path"])) for it in man.get("items", [])]
    songs, spoken, seen = [], [], set()
    for it in items:
        if it.get("split") != split:
            continue
        p = Path(it["path"])
        if it.get("part") == "songs":
            key = ("song", p.name)
            ok = (p / "mixture.wav").is_file() and (p / "vocals.wav").is_file()
            dest = songs
        elif it.get("part") == "singers" and it.get("kind") == "spoken":
            key = ("clip", it.get("singer"), p.name)
            ok = p.is_file()
            dest = spoken
        else:
            continue
        if ok and key not in seen:
            seen.add(key)
            dest.append(it)
    songs.sort(key=lambda it: Path(it["path"]).name)
    return sexes, songs, spoken


def _skip(report: dict, exc: Exception) -> None:
    """Note an unreadable file in the report and go on."""
    report.setdefault("skipped", []).append(str(exc).splitlines()[0])


def _evaluate_songs(pick: list[dict], sexes: dict, clf, separator: str | None, report: dict,
                    say) -> None:
    """Segment each song of ``pick`` with its true vocal stem (and the separator's, when
    ``separator``); appends one row per song to ``report["songs"]``."""
    from discovervoice.audio import load

    sep = None
    if separator:
        from discovervoice.prep.pipeline import _load_separator, separate_vocals

        sep = _load_separator(separator)
    for k, it in enumerate(pick):
        say(k / max(1, len(pick)) * 0.5, f"song {it['path']}")
        d = Path(it["path"])
        try:
            mix = load(d / "mixture.wav", SR, 1)
            voc = load(d / "vocals.wav", SR, 1)
        except AudioError as exc:
            _skip(report, exc)
            continue
        ref = reference_from_stems(voc, mix, SR)
        dur = mix.shape[1] / SR
        singer_sex = sexes.get((it.get("voices") or [None])[0])
        row = {"song": it["path"], "voice": (it.get("voices") or [None])[0], "sex": singer_sex,
               "duration": dur}
        modes = [("oracle", voc)]
        if sep is not None:
            mix44 = load(d / "mixture.wav", 44_100, 2)
            v44 = separate_vocals(sep, mix44, 44_100)
            modes.append(("separator", load_array(v44, 44_100)))
        for mode, vtrack in modes:
            est = segment(mix, SR, vocals=vtrack, classifier=clf)
            _estimate_sexes(vtrack, SR, est)
            ok, n = _sex_votes(est, lambda t: singer_sex)
            row[mode] = {"segment_f1": segment_f1(ref, est)["f1"],
                         "boundary_f1": boundary_f1(ref, est)["f1"],
                         "frame_accuracy": frame_accuracy(ref, est, dur),
                         "sex_correct": ok, "sex_scored": n,
                         "n_ref": len(ref), "n_est": len(est)}
        report["songs"].append(row)


def _accompaniments(songs: list[dict], report: dict) -> list[np.ndarray]:
    """Accompaniment (drums + bass + other stems, 16 kHz mono ``ndarray[T]``) of each song."""
    from discovervoice.audio import load

    music = []
    for it in songs:
        d = Path(it["path"])
        try:
            acc = sum(load(d / f"{s}.wav", SR, 1)[0] for s in ("drums", "bass", "other")
                      if (d / f"{s}.wav").is_file())
        except AudioError as exc:
            _skip(report, exc)
            continue
        if isinstance(acc, np.ndarray):
            music.append(acc)
    return music


def _score_conversation(mix: np.ndarray, voice: np.ndarray, truth: list[Segment], sex_at, clf,
                        dkw: dict) -> dict:
    """Segment and diarize one two-voice conversation as it is (``as_is``) and with its
    true voice track (``oracle``); scores of each mode."""
    from discovervoice.prep.diarization import diarize

    dur = len(mix) / SR
    row = {}
    for mode, vtrack in (("as_is", None), ("oracle", voice)):
        est = segment(mix, SR, vocals=vtrack, classifier=clf)
        track = mix if vtrack is None else vtrack
        auto = diarize(track, SR, est, **dkw)
        given = diarize(track, SR, est, n_speakers=2)
        _estimate_sexes(track, SR, auto)
        ok, n = _sex_votes(auto, sex_at)
        row[mode] = {
            "segment_f1": segment_f1(truth, est)["f1"],
            "boundary_f1": boundary_f1(truth, est)["f1"],
            "frame_accuracy": frame_accuracy(truth, est, dur),
            "der_auto": diarization_error_rate(truth, auto, dur)["der"],
            "der_auto_collar025": diarization_error_rate(truth, auto, dur, 0.25)["der"],
            "der_given": diarization_error_rate(truth, given, dur)["der"],
            "der_given_collar025": diarization_error_rate(truth, given, dur, 0.25)["der"],
            "n_speakers_found": len({s.speaker for s in auto if s.speaker}),
            "sex_correct": ok, "sex_scored": n,
            "estimate": [asdict(s) for s in auto], "truth": [asdict(s) for s in truth]}
    return row


def _evaluate_conversations(spoken: list[dict], music: list[np.ndarray], sexes: dict, clf,
                            rng: np.random.Generator, n_conversations: int, dkw: dict,
                            report: dict, say) -> None:
    """Build ``n_conversations`` two-voice conversations (:func:`build_conversation`) from
    the spoken clips and score each; appends rows to ``report["conversations"]``."""
    from discovervoice.audio import load

    by_voice: dict[str, list[dict]] = {}
    for it in spoken:
        by_voice.setdefault(it["singer"], []).append(it)
    voices = sorted(v for v, lst in by_voice.items() if len(lst) >= 2)
    for c in range(n_conversations if len(voices) >= 2 else 0):
        say(0.5 + 0.5 * c / max(1, n_conversations), f"conversation {c}")
        va, vb = [voices[i] for i in rng.permutation(len(voices))[:2]]
        n_turns = 3
        clips = {}
        try:
            for v in (va, vb):
                lst = by_voice[v]
                sel = rng.permutation(len(lst))[:n_turns]
                clips[v] = [load(Path(lst[i]["path"]), SR, 1)[0] for i in sel]
        except AudioError as exc:  # a build in progress rewrote the file: note and go on
            _skip(report, exc)
            continue
        mix, voice, truth = build_conversation(clips[va], clips[vb], music, rng)
        truth_sex = {"A": sexes.get(va), "B": sexes.get(vb)}

        def sex_at(t, truth=truth, truth_sex=truth_sex):
            for s in truth:
                if s.start <= t < s.end and s.speaker:
                    return truth_sex[s.speaker]
            return None
        row = {"voices": [va, vb], "sexes": [sexes.get(va), sexes.get(vb)],
               "duration": len(mix) / SR}
        row.update(_score_conversation(mix, voice, truth, sex_at, clf, dkw))
        report["conversations"].append(row)


def evaluate(corpus: str | Path | list, *, split: str = "test", n_songs: int = 8,
             n_conversations: int = 8, separator: str | None = None, seed: int = 0,
             out: str | Path | None = None, distance_threshold: float | None = None,
             voice_classifier: str | None = None, progress=None) -> dict:
    """Run the evaluation described in the module docstring; returns the report.

    Raises:
        DataError: the corpus lacks the split's songs or spoken clips.
    """
    from discovervoice.prep.voicetype import get_classifier

    clf = get_classifier(voice_classifier)
    t0 = time.time()
    corpora = [Path(c) for c in (corpus if isinstance(corpus, (list, tuple)) else [corpus])]
    sexes, songs, spoken = _corpus_items(corpora, split)
    rng = np.random.default_rng(seed)
    if not songs and not spoken:
        raise DataError(f"{[str(c) for c in corpora]}: no songs or spoken clips in split {split!r}")
    say = progress or (lambda f, m: None)
    dkw = {} if distance_threshold is None else {"distance_threshold": distance_threshold}
    report: dict = {"corpus": [str(c) for c in corpora], "split": split, "seed": seed,
                    "voice_classifier": getattr(clf, "method", "?"), "songs": [],
                    "conversations": []}
    pick = [songs[i] for i in sorted(rng.permutation(len(songs))[:n_songs])] if songs else []
    _evaluate_songs(pick, sexes, clf, separator, report, say)
    music = _accompaniments(pick[:4] or songs[:4], report)
    _evaluate_conversations(spoken, music, sexes, clf, rng, n_conversations, dkw, report, say)
    report["summary"] = _summary(report, time.time() - t0)
    if out:
        p = Path(out)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(report, indent=1))
    return report


def load_array(x: np.ndarray, sr: int) -> np.ndarray:
    """``ndarray[C, T]`` at ``sr`` -> mono ``ndarray[1, T']`` at 16 kHz."""
    return F.to_mono_16k(x, sr)[None]


def _summary(report: dict, seconds: float) -> dict:
    s: dict = {"split": report["split"], "seconds": round(seconds, 1),
               "n_songs": len(report["songs"]), "n_conversations": len(report["conversations"]),
               "skipped_files": len(report.get("skipped", []))}
    for mode in ("oracle", "separator"):
        rows = [r[mode] for r in report["songs"] if mode in r]
        if rows:
            s[f"songs_{mode}"] = {
                "segment_f1": _mean([r["segment_f1"] for r in rows]),
                "boundary_f1": _mean([r["boundary_f1"] for r in rows]),
                "frame_accuracy": _mean([r["frame_accuracy"] for r in rows]),
                "sex_accuracy": (sum(r["sex_correct"] for r in rows) / max(1, sum(r["sex_scored"] for r in rows))),
                "sex_scored": sum(r["sex_scored"] for r in rows)}
    for mode in ("as_is", "oracle"):
        rows = [r[mode] for r in report["conversations"] if mode in r]
        if rows:
            s[f"conversations_{mode}"] = {
                k: _mean([r[k] for r in rows]) for k in
                ("segment_f1", "boundary_f1", "frame_accuracy", "der_auto", "der_auto_collar025",
                 "der_given", "der_given_collar025")}
            s[f"conversations_{mode}"]["speaker_count_correct"] = _mean(
                [float(r["n_speakers_found"] == 2) for r in rows])
            s[f"conversations_{mode}"]["sex_accuracy"] = (
                sum(r["sex_correct"] for r in rows) / max(1, sum(r["sex_scored"] for r in rows)))
            s[f"conversations_{mode}"]["sex_scored"] = sum(r["sex_scored"] for r in rows)
    return s


# ---------------------------------------------------------------------------------------
# Real conversations (issue 16): recorded speech of real people, short turns, music
# ---------------------------------------------------------------------------------------

#: Groups of real speakers: ``calibration`` tunes the diarization thresholds, ``evaluation``
#: (disjoint) is run once with the chosen setting.
REAL_GROUPS: tuple[str, ...] = ("calibration", "evaluation")


def real_speaker_groups() -> dict[str, list]:
    """Real speakers (:class:`discovervoice.corpus.voices.Voice`) split in two disjoint groups.

    * ``calibration``: the real-songs development speakers
      (:data:`discovervoice.corpus.realsongs.DEV_SPEAKERS`: ``fillets-k1-pap`` and six
      KLettres languages) plus the Fish Fillets characters with 10-19 lines (too few for
      the corpus' recorded voices, enough for a few turns);
    * ``evaluation``: every other recorded voice of the corpus (Fish Fillets characters
      with >= 20 lines, KLettres languages).

    One KLettres language folder is taken as one speaker, except the folders whose credits
    name two people (:attr:`discovervoice.corpus.voices.Voice.several_people`: ``pt_BR``,
    ``es``, ``nds``), which are left out; one Fish Fillets character is one speaker (the
    game credits several actors; a character voiced by the same actor as another would
    count as two speakers here). No reserved material is listed.
    """
    from discovervoice.corpus.realsongs import DEV_SPEAKERS
    from discovervoice.corpus.voices import list_voices, recorded_voices

    main = [v for v in list_voices(kinds=("recorded",)) if not v.reserved and not v.several_people]
    ids = {v.id for v in main}
    extra = [v for v in recorded_voices(min_files=10) if v.id not in ids and not v.several_people]
    return {"calibration": sorted([v for v in main if v.id in DEV_SPEAKERS] + extra,
                                  key=lambda v: v.id),
            "evaluation": [v for v in main if v.id not in DEV_SPEAKERS]}


def speaker_utterance(voice, rng: np.random.Generator, lo: float = 1.0, hi: float = 4.0,
                      cache: dict | None = None) -> np.ndarray:
    """One 16 kHz mono utterance ``ndarray[T]`` of ``lo``-``hi`` seconds by a real speaker:
    recordings (trimmed to 25 dB below their peak) joined with 0.1-0.25 s pauses until ``lo`` seconds,
    cut at ``hi`` (a Fish Fillets line is usually one recording; a KLettres turn is
    several letters or syllables)."""
    from discovervoice.audio import load

    cache = {} if cache is None else cache
    files = list(voice.speaker_files)
    target = rng.uniform(lo, hi)
    out: list[np.ndarray] = []
    have = 0.0
    for _ in range(40):
        f = files[int(rng.integers(len(files)))]
        if f not in cache:
            try:
                # 25 dB: KLettres recordings carry up to 2 s of room noise within 40 dB
                # of the voice's peak, which is no speech
                cache[f] = _trim(load(f, SR, 1)[0], 25.0)
            except AudioError:
                cache[f] = np.zeros(0, np.float32)
        x = cache[f]
        if len(x) < int(0.2 * SR):
            continue
        if out:
            out.append(_pause(rng, 0.1, 0.25))
        out.append(x)
        have += len(x) / SR
        if have >= target:
            break
    y = np.concatenate(out) if out else np.zeros(int(lo * SR), np.float32)
    return y[: int(hi * SR)]


def build_real_conversation(voices: list, rng: np.random.Generator,
                            music: np.ndarray | None = None, *, turns_per_speaker=(2, 3),
                            pause=(0.3, 1.0), music_seconds=(4.0, 6.0), cache: dict | None = None
                            ) -> tuple[np.ndarray, np.ndarray, list[Segment]]:
    """A conversation of the real speakers ``voices``: each speaks ``turns_per_speaker``
    turns of 1-4 s (never twice in a row when there are two or more), ``pause`` seconds of
    silence between turns, and, when ``music`` (16 kHz mono) is given, one instrumental
    stretch of ``music_seconds`` between two turns (level drawn like the speech's).

    Returns ``(mixture, voice_track, truth)`` as :func:`assemble`; truth speakers are the
    voice ids.
    """
    order: list[int] = []
    for i in range(len(voices)):
        order += [i] * int(rng.integers(turns_per_speaker[0], turns_per_speaker[1] + 1))
    for _ in range(200):  # shuffle until no speaker follows itself
        rng.shuffle(order)
        if len(voices) < 2 or all(a != b for a, b in zip(order, order[1:])):
            break
    else:  # fall back to a round-robin order
        order = sorted(order, key=lambda i: (order[: order.index(i)].count(i), i))
    parts: list[tuple[np.ndarray, str, str | None]] = [(_pause(rng, 0.3, 1.0), "silence", None)]
    at_music = int(rng.integers(1, len(order))) if music is not None and len(order) > 1 else -1
    for k, i in enumerate(order):
        if k == at_music:
            parts.append((_music_stretch(music, rng.uniform(*music_seconds), rng,
                                         0.05 * rng.uniform(0.7, 1.4)), "music", None))
            parts.append((_pause(rng, *pause), "silence", None))
        c = speaker_utterance(voices[i], rng, cache=cache)
        c = c / (np.sqrt(np.mean(c.astype(np.float64) ** 2)) + 1e-9) * 0.05 * rng.uniform(0.7, 1.4)
        parts.append((c.astype(np.float32), "speech", voices[i].id))
        parts.append((_pause(rng, *pause), "silence", None))
    return assemble(parts)


def _distinct_people(voices: list, k: int, rng: np.random.Generator) -> list:
    """``k`` of ``voices`` drawn until no two may be one person
    (:meth:`discovervoice.corpus.voices.Voice.may_share_person`: two Fish Fillets characters
    whose actors the credits do not name may share one), in list order.

    Raises:
        DataError: no such draw found (too few surely distinct people).
    """
    for _ in range(10000):
        pick = [voices[i] for i in sorted(rng.permutation(len(voices))[:k])]
        if not any(a.may_share_person(b) for j, a in enumerate(pick) for b in pick[j + 1:]):
            return pick
    raise DataError(f"no {k} surely different people among {[v.id for v in voices]}")


def real_conversations(group: str, n: int, *, music_root: str | Path = "data/music-root",
                       speakers=(1, 2, 3, 4), music_share: float = 0.5, seed: int = 0):
    """Yield ``n`` real conversations of ``group`` (:data:`REAL_GROUPS`) as dicts
    ``{"id", "voices", "mixture", "voice", "truth", "music"}`` (16 kHz mono arrays).

    The number of speakers cycles through ``speakers``, drawn so that the credits rule out
    any two being one person (at most one Fish Fillets character whose actor is not named,
    and never with another Fish Fillets voice); a share ``music_share`` of the
    conversations gets an instrumental stretch, screened vocal-free by
    :func:`discovervoice.corpus.realsongs.screened_excerpt`, from the development music
    packages (``hyperrogue-music``, ``planetblupi-music-ogg``) for ``evaluation`` and from
    the other (training) packages for ``calibration``. Same seed, same conversations.

    Raises:
        DataError: unknown group, too few speakers installed, or no music found.
    """
    from discovervoice.corpus import realsongs as RS

    if group not in REAL_GROUPS:
        raise DataError(f"unknown group {group!r}; use one of {REAL_GROUPS}")
    voices = real_speaker_groups()[group]
    if len(voices) < max(speakers):
        raise DataError(f"{group}: {len(voices)} real speakers installed, {max(speakers)} needed "
                        "(install fillets-ng-data-cs and klettres-data)")
    tracks = RS.find_tracks(music_root, RS.DEV_PACKAGES if group == "evaluation"
                            else RS.TRAIN_PACKAGES) if music_share > 0 else []
    if music_share > 0 and not tracks:
        raise DataError(f"{music_root}: no music of the {group} packages "
                        "(scripts/fetch-real-music.sh unpacks them)")
    rng = np.random.default_rng([seed, REAL_GROUPS.index(group)])
    cache: dict = {}
    for c in range(n):
        k = speakers[c % len(speakers)]
        pick = _distinct_people(voices, k, rng)
        music = None
        music_info = None
        if tracks and rng.uniform() < music_share:
            ex, t, start, _ = RS.screened_excerpt(tracks, 7.0, rng)
            music = F.to_mono_16k(ex, RS.SR)
            music_info = {"file": t.path, "start_s": round(start, 2), "licence": t.licence}
        mix, voice, truth = build_real_conversation(pick, rng, music, cache=cache)
        yield {"id": f"{group}-{c:03d}", "voices": [v.id for v in pick], "mixture": mix,
               "voice": voice, "truth": truth, "music": music_info}


def _overlap(a0: float, a1: float, segs: list[Segment], label: str) -> float:
    return sum(max(0.0, min(a1, s.end) - max(a0, s.start)) for s in segs if s.label == label)


def _weights_tag(separator: str | None) -> str:
    """Fingerprint of the separator's weights for the vocals cache (:func:`weights.fingerprint`;
    ``None`` / ``"default"``: the default model), so new weights behind the same name are never
    served old stems; ``"x"`` for ensembles and names the registry cannot resolve."""
    from discovervoice import weights
    from discovervoice.errors import WeightsError
    from discovervoice.separation.api import DEFAULT_MODEL

    name = DEFAULT_MODEL if separator in (None, "default") else str(separator)
    try:
        return weights.fingerprint(name)
    except WeightsError:
        return "x"


def _real_voice_track(c: dict, seed: int, sep, separator: str | None, cdir: Path | None,
                      clf, separate_speech: bool) -> tuple[list[Segment], np.ndarray, str]:
    """Segments of conversation ``c`` as prep's default path finds them, the voice track
    to diarize and slice (``ndarray[T]``, 16 kHz) and its name (``"mixture"``/``"vocals"``).

    With a separator, the separated vocals are read from (and written to) ``cdir`` when
    given; a conversation whose voice is mostly speech keeps the mixture
    (:func:`discovervoice.prep.segmentation.segment_auto`) unless ``separate_speech``.
    """
    from discovervoice.prep.segmentation import segment_auto

    mix = c["mixture"]
    vocals = None
    if sep is not None:
        from discovervoice.prep.pipeline import separate_vocals

        import hashlib

        tag = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(separator))
        # the mixture's own hash: a set rebuilt with other speakers reuses ids and seeds
        mhash = hashlib.sha1(np.ascontiguousarray(mix, np.float32).tobytes()).hexdigest()[:8]
        f = (cdir / f"{c['id']}-s{seed}-{mhash}-{tag}-{_weights_tag(separator)}-vocals.npy"
             if cdir else None)
        if f is not None and f.is_file() and np.load(f).shape[-1] == len(mix):
            vocals = np.load(f)
        else:
            vocals = separate_vocals(sep, mix[None], SR)[0]
            if f is not None:
                f.parent.mkdir(parents=True, exist_ok=True)
                np.save(f, vocals)
    if vocals is not None and not separate_speech:  # prep's default (segment_auto)
        est, use_vocals = segment_auto(mix, SR, vocals, classifier=clf)
        return est, (vocals if use_vocals else mix), ("vocals" if use_vocals else "mixture")
    est = segment(mix, SR, vocals=vocals, classifier=clf)
    return est, (mix if vocals is None else vocals), ("mixture" if vocals is None else "vocals")


def _region_levels(mix: np.ndarray, track: np.ndarray, truth: list[Segment]) -> list[dict]:
    """Per speech or music truth region, the voice track's level relative to the mixture
    (median over the region's active frames, dB), which the segmenter's music check uses."""
    from discovervoice.prep.segmentation import SegmentOptions

    e, ev = F.energy_db(mix), F.energy_db(track)
    loud = float(np.percentile(e, 95))
    regions = []
    for s in truth:
        if s.label in ("speech", "music"):
            a, b = int(s.start * F.FRAME_RATE), int(s.end * F.FRAME_RATE)
            act = e[a:b] > loud - SegmentOptions().silence_range_db
            if act.any():
                regions.append({"label": s.label, "start": s.start, "end": s.end,
                                "voice_rel_db": round(float(np.median((ev[a:b] - e[a:b])[act])), 2)})
    return regions


def _score_prep(c: dict, track: np.ndarray, est: list[Segment], threshold: float,
                cache: dict, popts) -> dict:
    """Diarize (automatic count cut at ``threshold``), keep and slice one conversation as
    prep does; speaker count, DER (collar 0 and 0.25 s) and kept slices inside music."""
    from discovervoice.prep import diarization as D
    from discovervoice.prep.pipeline import keep_regions
    from discovervoice.prep.slicing import slice_at_quiet_points

    dur = len(c["mixture"]) / SR
    music_truth = [s for s in c["truth"] if s.label == "music"]
    auto = D.diarize(track, SR, est, distance_threshold=threshold, cache=cache)
    kept = keep_regions(auto, popts)
    cuts = slice_at_quiet_points(track, SR, min_seconds=popts.min_seconds,
                                 max_seconds=popts.max_seconds,
                                 regions=[(r.start, r.end) for r in kept])
    in_music = [_overlap(a, b, music_truth, "music") for a, b in cuts]
    n_found = len({s.speaker for s in auto if s.speaker})
    return {"n_speakers_found": n_found,
            "count_correct": n_found == len(c["voices"]),
            "der": diarization_error_rate(c["truth"], auto, dur)["der"],
            "der_collar025": diarization_error_rate(c["truth"], auto, dur, 0.25)["der"],
            "music_slices": int(sum(m > 0.5 * (b - a) for m, (a, b) in zip(in_music, cuts))),
            "music_seconds_kept": round(float(sum(in_music)), 2),
            "n_slices": len(cuts),
            "estimate": [asdict(s) for s in auto if s.label != "silence"]}


def _real_summary(rows: list[dict], ths: tuple[float, ...]) -> dict:
    """Per threshold: count accuracy (all, 2-4 speakers, per number of speakers), DER
    (collar 0 and 0.25 s, all and 2-4 speakers) and kept slices inside music."""
    out = {}
    for th in ths:
        rs = [r["by_threshold"][str(th)] for r in rows]
        multi = [x for r, x in zip(rows, rs) if r["n_speakers"] >= 2]
        out[str(th)] = {
            "count_accuracy": _mean([float(x["count_correct"]) for x in rs]),
            "count_accuracy_2to4": _mean([float(x["count_correct"]) for x in multi]),
            "der": _mean([x["der"] for x in rs]),
            "der_collar025": _mean([x["der_collar025"] for x in rs]),
            "der_2to4": _mean([x["der"] for x in multi]),
            "der_collar025_2to4": _mean([x["der_collar025"] for x in multi]),
            "music_slices": int(sum(x["music_slices"] for x in rs)),
            "music_seconds_kept": round(float(sum(x["music_seconds_kept"] for x in rs)), 2),
            "count_by_n": {str(n): f"{sum(x['count_correct'] for r, x in zip(rows, rs) if r['n_speakers'] == n)}"
                                   f"/{sum(r['n_speakers'] == n for r in rows)}"
                           for n in sorted({r["n_speakers"] for r in rows})}}
    return out


def evaluate_real(group: str = "calibration", n_conversations: int = 24, *,
                  music_root: str | Path = "data/music-root", separator: str | None = "default",
                  thresholds: tuple[float, ...] | None = None, voice_classifier: str | None = None,
                  seed: int = 0, cache_dir: str | Path | None = None,
                  separate_speech: bool = False,
                  out: str | Path | None = None, progress=None) -> dict:
    """Prep (segment, diarize, keep, slice: the ``discovervoice prep`` path with its
    default options) on the real conversations of ``group`` (:func:`real_conversations`).

    ``separator``: the separation model of prep's default path (``None``: the mixture
    itself, as ``prep --no-separate``); with it, a conversation whose voice is mostly
    speech keeps the mixture as the voice track
    (:func:`discovervoice.prep.segmentation.segment_auto`) unless ``separate_speech``
    (``prep --separate-speech``); ``thresholds``: the automatic speaker count's
    distance thresholds to score (default: the module's one); ``cache_dir``: keeps each
    conversation's separated vocals between runs.

    Per conversation and threshold: number of speakers found vs true, DER (collar 0 and
    0.25 s), kept slices lying mostly (> half) inside a music-only stretch and seconds of
    kept slices inside music. Per truth region, the voice track's level relative to the
    mixture (median over active frames, dB), which the segmenter's music check uses.
    """
    from discovervoice.prep import diarization as D
    from discovervoice.prep.pipeline import PrepOptions
    from discovervoice.prep.voicetype import get_classifier

    t0 = time.time()
    clf = get_classifier(voice_classifier)
    ths = tuple(thresholds) if thresholds else (D.DISTANCE_THRESHOLD,)
    sep = None
    if separator:
        from discovervoice.prep.pipeline import _load_separator

        sep = _load_separator(None if separator == "default" else separator)
    cdir = Path(cache_dir) if cache_dir else None
    popts = PrepOptions()
    say = progress or (lambda f, m: None)
    rows = []
    for k, c in enumerate(real_conversations(group, n_conversations, music_root=music_root,
                                             seed=seed)):
        say(k / n_conversations, c["id"])
        est, track, track_name = _real_voice_track(c, seed, sep, separator, cdir, clf,
                                                   separate_speech)
        est_speech = [s if s.label != "singing" else Segment(s.start, s.end, "speech")
                      for s in est]
        row = {"id": c["id"], "voices": c["voices"], "n_speakers": len(c["voices"]),
               "music": c["music"], "duration": round(len(c["mixture"]) / SR, 2),
               "voice_track": track_name,
               "segment_f1": segment_f1(c["truth"], est_speech)["f1"],
               "regions": _region_levels(c["mixture"], track, c["truth"]), "by_threshold": {}}
        cache: dict = {}
        for th in ths:
            row["by_threshold"][str(th)] = _score_prep(c, track, est, th, cache, popts)
        row["truth"] = [asdict(s) for s in c["truth"] if s.label != "silence"]
        rows.append(row)

    summary: dict = {"group": group, "n_conversations": len(rows), "seed": seed,
                     "separator": separator, "separate_speech": separate_speech,
                     "seconds": round(time.time() - t0, 1),
                     "speakers": sorted({v for r in rows for v in r["voices"]}),
                     "segment_f1": _mean([r["segment_f1"] for r in rows])}
    rel = {lab: [g["voice_rel_db"] for r in rows for g in r["regions"] if g["label"] == lab]
           for lab in ("speech", "music")}
    summary["voice_rel_db"] = {lab: {"min": min(v), "median": float(np.median(v)), "max": max(v)}
                               for lab, v in rel.items() if v}
    summary["by_threshold"] = _real_summary(rows, ths)
    report = {"summary": summary, "conversations": rows}
    if out:
        p = Path(out)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(report, indent=1, default=float))
    return report

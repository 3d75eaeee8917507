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
    parts.append((np.zeros(int(rng.uniform(0.5, 1.0) * SR), np.float32), "silence", None))
    mi = 0
    for k, (clip, spk) in enumerate(turns):
        c = _trim(clip)
        c = c / (np.sqrt(np.mean(c.astype(np.float64) ** 2)) + 1e-9) * 0.05 * rng.uniform(0.7, 1.4)
        parts.append((c.astype(np.float32), "speech", spk))
        parts.append((np.zeros(int(rng.uniform(0.8, 2.0) * SR), np.float32), "silence", None))
        if music and k % music_every == music_every - 1 and k < len(turns) - 1:
            m = music[mi % len(music)]
            mi += 1
            n = int(rng.uniform(3.0, 5.0) * SR)
            s0 = int(rng.integers(0, max(1, len(m) - n)))
            seg = m[s0:s0 + n]
            seg = seg / (np.sqrt(np.mean(seg.astype(np.float64) ** 2)) + 1e-9) * 0.04
            fade = int(0.02 * SR)
            seg[:fade] *= np.linspace(0, 1, fade)
            seg[-fade:] *= np.linspace(1, 0, fade)
            parts.append((seg.astype(np.float32), "music", None))
            parts.append((np.zeros(int(rng.uniform(0.8, 1.5) * SR), np.float32), "silence", None))
    mix = np.concatenate([p for p, _, _ in parts])
    voice = np.concatenate([p if lab == "speech" else np.zeros_like(p) for p, lab, _ in parts])
    truth, t = [], 0.0
    for p, lab, spk in parts:
        d = len(p) / SR
        if truth and truth[-1].label == lab == "silence":
            truth[-1].end = round(t + d, 3)
        else:
            truth.append(Segment(round(t, 3), round(t + d, 3), lab, spk))
        t += d
    return mix, voice, truth


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


def evaluate(corpus: str | Path | list, *, split: str = "test", n_songs: int = 8,
             n_conversations: int = 8, separator: str | None = None, seed: int = 0,
             out: str | Path | None = None, distance_threshold: float | None = None,
             voice_classifier: str | None = None, progress=None) -> dict:
    """Run the evaluation described in the module docstring; returns the report.

    Raises:
        DataError: the corpus lacks the split's songs or spoken clips.
    """
    from discovervoice.audio import load
    from discovervoice.prep.diarization import diarize
    from discovervoice.prep.voicetype import get_classifier

    clf = get_classifier(voice_classifier)

    t0 = time.time()
    corpora = [Path(c) for c in (corpus if isinstance(corpus, (list, tuple)) else [corpus])]
    sexes: dict = {}
    items = []
    for c in corpora:  # items of several builds, each path made absolute
        man = load_corpus_manifest(c)
        for k, v in voice_sexes(man).items():
            if sexes.get(k) is None:
                sexes[k] = v
        items += [dict(it, path=str(c / it["path"])) for it in man.get("items", [])]
    rng = np.random.default_rng(seed)
    # the same song or clip may be in several builds: keep the first; skip files that a
    # build still in progress has not written yet
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
    if not songs and not spoken:
        raise DataError(f"{[str(c) for c in corpora]}: no songs or spoken clips in split {split!r}")
    say = progress or (lambda f, m: None)
    dkw = {} if distance_threshold is None else {"distance_threshold": distance_threshold}

    report: dict = {"corpus": [str(c) for c in corpora], "split": split, "seed": seed,
                    "voice_classifier": getattr(clf, "method", "?"), "songs": [],
                    "conversations": []}
    # ------------------------------------------------------------------ songs
    sep = None
    if separator:
        from discovervoice.prep.pipeline import _load_separator, separate_vocals

        sep = _load_separator(separator)
    pick = [songs[i] for i in sorted(rng.permutation(len(songs))[:n_songs])] if songs else []
    for k, it in enumerate(pick):
        say(k / max(1, len(pick)) * 0.5, f"song {it['path']}")
        d = Path(it["path"])
        try:
            mix = load(d / "mixture.wav", SR, 1)
            voc = load(d / "vocals.wav", SR, 1)
        except AudioError as exc:
            report.setdefault("skipped", []).append(str(exc).splitlines()[0])
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

    # ------------------------------------------------------------------ conversations
    by_voice: dict[str, list[dict]] = {}
    for it in spoken:
        by_voice.setdefault(it["singer"], []).append(it)
    voices = sorted(v for v, lst in by_voice.items() if len(lst) >= 2)
    music = []
    for it in pick[:4] or songs[:4]:
        d = Path(it["path"])
        try:
            acc = sum(load(d / f"{s}.wav", SR, 1)[0] for s in ("drums", "bass", "other")
                      if (d / f"{s}.wav").is_file())
        except AudioError as exc:
            report.setdefault("skipped", []).append(str(exc).splitlines()[0])
            continue
        if isinstance(acc, np.ndarray):
            music.append(acc)
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
            report.setdefault("skipped", []).append(str(exc).splitlines()[0])
            continue
        mix, voice, truth = build_conversation(clips[va], clips[vb], music, rng)
        dur = len(mix) / SR
        truth_sex = {"A": sexes.get(va), "B": sexes.get(vb)}

        def sex_at(t, truth=truth, truth_sex=truth_sex):
            for s in truth:
                if s.start <= t < s.end and s.speaker:
                    return truth_sex[s.speaker]
            return None
        row = {"voices": [va, vb], "sexes": [sexes.get(va), sexes.get(vb)], "duration": dur}
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
        report["conversations"].append(row)

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

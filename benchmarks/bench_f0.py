"""Benchmark: F0 methods against the corpus' true pitch (accuracy, voicing, speed).

Material: sung files of the offline corpus' singers part (``DIR/singers/<split>/<singer>/
sung_NNN.wav``, 16 kHz mono; default the ``valid`` split, never the reserved ``test``).
Each comes with the notes it was sung on (``.notes.json``: ``[start_s, end_s, midi]``) and
its phones (``.phones.json``). The synthesizers sing each note's vowel on the note's pitch
(plus vibrato of about +-0.2-0.3 semitone, inside the 50-cent tolerance), so:

* **voiced reference frames**: the 10 ms frames inside each note's sung vowel (the phone
  that overlaps the note most), 30 ms trimmed at both ends (pitch transitions), with the
  note's pitch as the true F0;
* **unvoiced reference frames**: frames inside silences (``_``), 30 ms trimmed;
* consonants and transitions are not scored.

**Real voices** (``--root`` of a singers part built from recorded speakers, e.g.
``discovervoice corpus build -o data/f0-real --parts singers --voices fillets-k1-pap,klettres-en,...
--splits train --spoken-per-singer 0``): a real person's voiced speech laid over each note by
WORLD resynthesis (:func:`discovervoice.corpus.synth.sing_recorded`: the person's own spectral
envelope and aperiodicity, F0 = the note + vibrato). Their phone timings are unknown (no
``.phones.json``), so each note's frames from :data:`ONSET_S` (the <= 60 ms onset consonant
kept from the recording) plus 30 ms after its start to 30 ms before its end are the voiced
reference and frames more than 30 ms away from every note the unvoiced one. The pitch is
exact; the excitation is WORLD's, so methods built on WORLD (harvest, dio) meet a familiar
signal.

``--music DIR --snr DB`` adds, to every clip, an excerpt of a real accompaniment stem
(``DIR/*/accompaniment.wav``, e.g. the real-songs development set's recorded game music) at
that voice-to-music ratio: the leakage a separated vocal stem brings to a cover's F0.

Measures (MIREX melody definitions, ``mir_eval.melody``, pooled over all scored frames):
raw pitch accuracy (RPA: voiced frames whose estimate is within 50 cents), raw chroma
accuracy (RCA: the same, octave errors forgiven), voicing recall (VR) and voicing false
alarm (VFA); real-time factor (RTF: extraction seconds / audio seconds, the first call of
each method, which loads its model, left out) with the torch threads given.

    python benchmarks/bench_f0.py --root data/corpus-singers/singers/valid \
        [--per-singer 1] [--max-files 16] [--methods harvest,dio,praat,crepe-tiny,fcpe] \
        [--threads 1] [--markdown]

Prints one JSON object (and a Markdown table with ``--markdown``). A method whose model
or package is not on this machine (``rmvpe`` before ``discovervoice weights fetch rmvpe``)
gets ``"error"`` instead of numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

SR = 16000
HOP_S = 0.01
TRIM_S = 0.03
ONSET_S = 0.06


def reference(notes: list, phones: list | None, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """True F0 per 10 ms frame (Hz) and a mask of scored frames.

    ``phones`` ``None`` (recorded voices): each note from ``ONSET_S + TRIM_S`` after its
    start to ``TRIM_S`` before its end is voiced, frames ``TRIM_S`` away from every note
    unvoiced.

    Returns ``(f0, scored)``: ``f0 > 0`` on scored voiced frames (the note's pitch), ``0``
    on scored silent frames; ``scored`` is False on frames not scored.
    """
    t = np.arange(n_frames) * HOP_S
    f0 = np.zeros(n_frames)
    scored = np.zeros(n_frames, bool)
    if phones is None:
        near = np.zeros(n_frames, bool)
        for a, b, midi in notes:
            m = (t >= a + ONSET_S + TRIM_S) & (t <= b - TRIM_S)
            f0[m] = 440.0 * 2 ** ((midi - 69) / 12)
            scored |= m
            near |= (t >= a - TRIM_S) & (t <= b + TRIM_S)
        scored |= ~near
        return f0, scored
    for a, b, midi in notes:
        best, span = 0.0, None
        for pa, pb, ph in phones:
            ov = min(b, pb) - max(a, pa)
            if ph != "_" and ov > best:
                best, span = ov, (max(a, pa), min(b, pb))
        if span is None:
            continue
        m = (t >= span[0] + TRIM_S) & (t <= span[1] - TRIM_S)
        f0[m] = 440.0 * 2 ** ((midi - 69) / 12)
        scored |= m
    for pa, pb, ph in phones:
        if ph == "_":
            m = (t >= pa + TRIM_S) & (t <= pb - TRIM_S)
            f0[m] = 0.0
            scored |= m
    return f0, scored


def pick_files(root: Path, per_singer: int, max_files: int | None) -> list[Path]:
    """The first ``per_singer`` sung files of every singer (sorted), at most ``max_files``
    in all, spread evenly over the singers."""
    singers = sorted(d for d in root.iterdir() if d.is_dir())
    files = [w for d in singers for w in sorted(d.glob("sung_*.wav"))[:per_singer]
             if w.with_suffix(".notes.json").exists()]
    if max_files and len(files) > max_files:
        idx = np.linspace(0, len(files) - 1, max_files).round().astype(int)
        files = [files[i] for i in idx]
    return files


def scores(ref: np.ndarray, est: np.ndarray, tolerance: float = 50.0) -> dict[str, float]:
    """MIREX melody measures of pooled frames (``ref``/``est`` in Hz, 0 = unvoiced)."""
    import mir_eval

    ref_v = (ref > 0).astype(float)
    est_v = (est > 0).astype(float)
    ref_c = mir_eval.melody.hz2cents(ref)
    est_c = mir_eval.melody.hz2cents(est)
    vr, vfa = mir_eval.melody.voicing_measures(ref_v, est_v)
    return {
        "raw_pitch_accuracy": float(mir_eval.melody.raw_pitch_accuracy(ref_v, ref_c, est_v, est_c, tolerance)),
        "raw_chroma_accuracy": float(mir_eval.melody.raw_chroma_accuracy(ref_v, ref_c, est_v, est_c, tolerance)),
        "voicing_recall": float(vr), "voicing_false_alarm": float(vfa),
    }


def music_excerpts(music_dir: Path, n: int, seconds: list[float], seed: int = 0) -> list[np.ndarray]:
    """``n`` excerpts ``ndarray[T]`` (16 kHz mono) of the accompaniment stems under
    ``music_dir``, excerpt ``i`` ``seconds[i]`` long, songs taken in turn, start drawn with
    ``seed``."""
    from discovervoice import audio as dva

    songs = sorted(music_dir.glob("*/accompaniment.wav"))
    if not songs:
        raise SystemExit(f"no */accompaniment.wav under {music_dir}")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        y = dva.load(songs[i % len(songs)], SR, 1)[0]
        need = int(seconds[i] * SR)
        a = int(rng.integers(0, max(1, len(y) - need)))
        out.append(np.resize(y[a:a + need], need).astype(np.float32))
    return out


def with_music(x: np.ndarray, music: np.ndarray, snr_db: float) -> np.ndarray:
    """``x + g * music`` with ``g`` setting the voice-to-music RMS ratio to ``snr_db``."""
    music = np.resize(music, len(x))
    rx, rm = float(np.sqrt(np.mean(x ** 2))), float(np.sqrt(np.mean(music ** 2)))
    return (x + music * (rx / max(rm, 1e-9)) * 10 ** (-snr_db / 20)).astype(np.float32)


def run(files: list[Path], methods: list[str], music: list[np.ndarray] | None = None,
        snr_db: float = 10.0) -> dict:
    from discovervoice import audio as dva
    from discovervoice.convert import f0 as F

    clips = []
    for k, w in enumerate(files):
        x, sr = dva.read(w)
        x = np.asarray(x, np.float32)
        x = x.mean(axis=0) if x.ndim == 2 else x
        if sr != SR:
            raise SystemExit(f"{w}: {sr} Hz, expected {SR} Hz (the corpus' singers part)")
        if music is not None:
            x = with_music(x, music[k], snr_db)
        n = F.n_frames(len(x))
        ph = w.with_suffix(".phones.json")
        ref, scored = reference(json.loads(w.with_suffix(".notes.json").read_text()),
                                json.loads(ph.read_text()) if ph.exists() else None, n)
        clips.append((x, ref, scored))
    seconds = sum(len(c[0]) for c in clips) / SR
    ref_all = np.concatenate([c[1][c[2]] for c in clips])
    out: dict = {"files": len(files), "audio_seconds": round(seconds, 1),
                 "voiced_frames": int((ref_all > 0).sum()), "unvoiced_frames": int((ref_all == 0).sum()),
                 "methods": {}}
    for m in methods:
        try:
            F.extract_f0(clips[0][0][: SR], m)  # loads the model; not timed
        except Exception as exc:  # noqa: BLE001 - reported per method, the others still run
            out["methods"][m] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        est, spent = [], 0.0
        for x, _, scored in clips:
            t0 = time.perf_counter()
            f0 = F.extract_f0(x, m)
            spent += time.perf_counter() - t0
            est.append(f0[scored])
        row = scores(ref_all, np.concatenate(est))
        row["rtf"] = spent / seconds
        out["methods"][m] = row
        print(f"{m}: {json.dumps(row)}", file=sys.stderr, flush=True)
    return out


def markdown(res: dict) -> str:
    lines = ["| F0 method | raw pitch accuracy | raw chroma accuracy | voicing recall | voicing false alarm | RTF |",
             "|---|---|---|---|---|---|"]
    for m, r in res["methods"].items():
        if "error" in r:
            lines.append(f"| {m} | not run here: {r['error'].splitlines()[0][:120]} | | | | |")
        else:
            lines.append(f"| {m} | {r['raw_pitch_accuracy']:.3f} | {r['raw_chroma_accuracy']:.3f} | "
                         f"{r['voicing_recall']:.3f} | {r['voicing_false_alarm']:.3f} | {r['rtf']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="data/corpus-singers/singers/valid",
                    help="a split folder of the corpus' singers part")
    ap.add_argument("--per-singer", type=int, default=1)
    ap.add_argument("--max-files", type=int, default=None)
    ap.add_argument("--methods", default="harvest,dio,praat,crepe-tiny,rmvpe,fcpe",
                    help="comma-separated (crepe, the full model, is slow on a loaded CPU)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    ap.add_argument("--music", type=Path, default=None,
                    help="real-songs folder: add its accompaniment stems to every clip")
    ap.add_argument("--snr", type=float, default=10.0, help="voice-to-music ratio with --music, dB")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    root = Path(args.root)
    if "test" in root.parts:
        raise SystemExit("the test split is reserved (DESIGN.md); choosing an F0 method is tuning: "
                         "compare methods on valid")
    files = pick_files(root, args.per_singer, args.max_files)
    if not files:
        raise SystemExit(f"no sung_*.wav with .notes.json under {root}")
    music = None
    if args.music is not None:
        import soundfile as sf

        music = music_excerpts(args.music, len(files), [sf.info(str(w)).duration for w in files])
    res = run(files, [m.strip() for m in args.methods.split(",") if m.strip()], music, args.snr)
    res.update(root=str(root), threads=args.threads,
               music=str(args.music) if args.music else None, snr_db=args.snr if args.music else None)
    print(json.dumps(res, indent=1))
    if args.markdown:
        print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

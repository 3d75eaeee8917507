"""Pitch following of voice conversion against the source's *true* pitch, on real voices.

``benchmarks/eval_real_conversion.py`` scores pitch following on real speech, where no true
pitch exists: a tracker (harvest) reads both the source and the converted audio, so the
score mixes the conversion's errors with the tracker's own (harvest re-reading WORLD's output
differs from harvest reading a recording). Here the source has an exact pitch: real people's
recorded speech laid over melodies by WORLD resynthesis (the corpus' singers part built from
recorded speakers, :func:`discovervoice.corpus.synth.sing_recorded`; each note's frames after
the onset consonant carry the note's pitch, see :func:`bench_f0.reference`). Each clip is
converted into ``--voice`` (:func:`discovervoice.convert.api.convert`, transpose 0) with each
F0 method of ``--f0-methods``, and the converted audio's F0, read by each tracker of
``--judges``, is scored against the true notes: raw pitch / chroma accuracy (50 cents),
voicing recall and false alarm (mir_eval, pooled frames).

Usage (development speakers and the development target voice)::

    python benchmarks/eval_pitch_truth.py --root data/f0-real/singers/train --per-singer 2 \\
        --voice data/realconv/voices/klettres-ml --f0-methods harvest,fcpe --judges fcpe,harvest

Libraries: pyworld (harvest), torchfcpe (FCPE) through :mod:`discovervoice.convert.f0`;
mir_eval through :func:`bench_f0.scores`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_f0 as B  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from discovervoice import audio as dva
    from discovervoice.convert import api
    from discovervoice.convert import f0 as F
    from discovervoice.convert.voice import VoiceModel

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, required=True, help="a split folder of a singers part of recorded voices")
    ap.add_argument("--per-singer", type=int, default=2)
    ap.add_argument("--voice", type=Path, required=True, help="the target voice folder")
    ap.add_argument("--f0-methods", default="harvest,fcpe", help="F0 methods the conversion uses")
    ap.add_argument("--judges", default="fcpe,harvest", help="trackers that read the converted audio")
    ap.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    args = ap.parse_args(argv)
    if "test" in args.root.parts:
        raise SystemExit("the test split is reserved (DESIGN.md)")
    files = B.pick_files(args.root, args.per_singer, None)
    if not files:
        raise SystemExit(f"no sung_*.wav with .notes.json under {args.root}")
    voice = VoiceModel.load(args.voice)
    clips = [(dva.load(w, B.SR, 1)[0], json.loads(w.with_suffix(".notes.json").read_text())) for w in files]
    judges = [j for j in args.judges.split(",") if j]
    rows = {}
    for method in [m for m in args.f0_methods.split(",") if m]:
        ref: dict[str, list] = {j: [] for j in judges}
        est: dict[str, list] = {j: [] for j in judges}
        for x, notes in clips:
            y = api.convert(x, B.SR, voice, transpose=0, f0_method=method)[0]
            if voice.sample_rate != B.SR:
                y = dva.resample(y[None], voice.sample_rate, B.SR)[0]
            for j in judges:
                e = F.extract_f0(np.asarray(y, np.float32), j)
                r, scored = B.reference(notes, None, len(e))
                ref[j].append(r[scored])
                est[j].append(e[scored])
        for j in judges:
            rows[f"{method} / judged by {j}"] = B.scores(np.concatenate(ref[j]), np.concatenate(est[j]))
            print(f"{method} / judged by {j}: {json.dumps(rows[f'{method} / judged by {j}'])}",
                  file=sys.stderr, flush=True)
    print("| conversion F0 / judge | raw pitch accuracy | raw chroma accuracy | voicing recall | voicing false alarm |\n"
          "|---|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['raw_pitch_accuracy']:.3f} | {r['raw_chroma_accuracy']:.3f} | "
              f"{r['voicing_recall']:.3f} | {r['voicing_false_alarm']:.3f} |")
    if args.out:
        from discovervoice.fileio import write_json

        write_json(args.out, {"root": str(args.root), "voice": str(args.voice), "files": len(files),
                              "rows": rows}, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

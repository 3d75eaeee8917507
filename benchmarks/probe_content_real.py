"""Speaker information left in the content features, on real recorded speakers.

The linear speaker probe of ``voice evaluate``
(:func:`discovervoice.convert.evaluate.speaker_probe_report`: logistic regression on voiced
frames, half of each speaker's clips to train, half to score; lower = less speaker
information) on the recorded speakers of :mod:`discovervoice.corpus.voices` (Czech voice
acting from ``fillets-ng-data-cs``, KLettres native speakers; GPL-2+) instead of the corpus'
synthetic voices: the speakers of :func:`benchmarks.eval_real_speakers.real_speakers`
(no KLettres folder credited to two people). Clips are drawn as in
:func:`benchmarks.eval_real_speakers.speaker_clips` (recordings joined with 0.2 s pauses) and
written to ``--work`` as 16 kHz wav.

Usage::

    python benchmarks/probe_content_real.py --clips 8 --seconds 4 --work data/notes/probe-real

Libraries: scikit-learn (the probe), pyworld (voicing), soundfile through discovervoice.audio.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_real_speakers import real_speakers, speaker_clips  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from discovervoice import audio
    from discovervoice.convert.evaluate import speaker_probe_report

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=8, help="clips per speaker")
    ap.add_argument("--seconds", type=float, default=4.0, help="length of a clip")
    ap.add_argument("--content", default="dv-content-ppg", help="content encoder name or file")
    ap.add_argument("--work", type=Path, required=True, help="folder for the clips (one sub-folder per speaker)")
    args = ap.parse_args(argv)
    dirs = []
    for v in real_speakers("all"):   # recorded, not reserved, one person per voice
        d = args.work / v.id
        for i, clip in enumerate(speaker_clips(v, args.clips, args.seconds, seed=0)):
            audio.save(d / f"clip{i:02d}.wav", clip[0], 16000)
        if d.is_dir():
            dirs.append(d)
    r = speaker_probe_report(dirs, args.content, clips_per_voice=args.clips)
    print(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Speech / singing / music window classifier (``dv-prep-voicetype``) on real recordings.

The classifier was trained on synthetic voices and General-MIDI music only
(``weights/dv-prep-voicetype.md``). This scores its 2 s windows (hop 0.25 s, exactly as
segmentation analyses a track: :func:`discovervoice.prep.segmentation.analyse`) on material
with a known class that no one here made:

* **speech** -- every recorded speaker of :mod:`discovervoice.corpus.voices` (Czech voice
  acting from ``fillets-ng-data-cs``, KLettres native speakers from ``klettres-data``; GPL-2+),
  ``--clips`` clips of ``--seconds`` each, drawn as the real-voice benchmarks draw them
  (:func:`benchmarks.eval_real_speakers.speaker_clips`: recordings joined with 0.2 s pauses);
* **music** -- the accompaniment stems of the real-songs development set (recorded game
  music of hyperrogue / planetblupi, never trained on; ``data/corpus-realdev``).

There is no real singing with a known class here, so the singing row is absent. Reported:
per true class, the share of its windows given to each class (a confusion row) and the
window accuracy; per speaker, the share of windows called speech.

Usage::

    python benchmarks/eval_voicetype_real.py --songs data/corpus-realdev/real_songs/valid \\
        --clips 3 --seconds 6 --out data/notes/voicetype-real.json

Libraries: silero-vad, pyworld and numpy features through :mod:`discovervoice.prep`;
audio I/O through :mod:`discovervoice.audio`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_real_speakers import speaker_clips  # noqa: E402

SR = 16000


def window_classes(x: np.ndarray, clf) -> list[str]:
    """The predicted class of every analysed window of a mono 16 kHz signal ``ndarray[T]``."""
    from discovervoice.prep.segmentation import analyse
    from discovervoice.prep.voicetype import CLASSES

    an = analyse(x[None], SR)
    if an.feats is None or not len(an.feats):
        return []
    return [CLASSES[i] for i in np.argmax(clf.predict_proba(an.feats), axis=1)]


def main(argv: list[str] | None = None) -> int:
    from discovervoice import audio
    from discovervoice.corpus.voices import list_voices
    from discovervoice.prep.voicetype import CLASSES, get_classifier

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--songs", type=Path, default=Path("data/corpus-realdev/real_songs/valid"),
                    help="real-songs folder whose accompaniment stems are the music")
    ap.add_argument("--clips", type=int, default=3, help="speech clips per recorded speaker")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of a speech clip")
    ap.add_argument("--model", default=None, help="voicetype classifier (default: the shipped one)")
    ap.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    args = ap.parse_args(argv)

    clf = get_classifier(args.model)
    rows: dict[str, Counter] = {"speech": Counter(), "music": Counter()}
    per_speaker = {}
    for v in list_voices(kinds=("recorded",)):
        got = Counter()
        for clip in speaker_clips(v, args.clips, args.seconds, seed=0):
            got.update(window_classes(clip[0], clf))
        rows["speech"].update(got)
        per_speaker[v.id] = round(got["speech"] / max(1, sum(got.values())), 3)
    songs = sorted(d for d in args.songs.glob("*") if (d / "accompaniment.wav").is_file())
    for d in songs:
        rows["music"].update(window_classes(audio.load(d / "accompaniment.wav", SR, 1)[0], clf))
    table = {}
    for true, c in rows.items():
        n = sum(c.values())
        table[true] = {"windows": n, "accuracy": round(c[true] / max(1, n), 4),
                       **{f"as_{k}": round(c[k] / max(1, n), 4) for k in CLASSES}}
    result = {"speakers": len(per_speaker), "songs": len(songs), "clips": args.clips,
              "seconds": args.seconds, "table": table, "speech_share_by_speaker": per_speaker}
    print(f"| true class | windows | as speech | as singing | as music | accuracy |\n|---|---:|---:|---:|---:|---:|")
    for true, r in table.items():
        print(f"| {true} | {r['windows']} | {r['as_speech']:.3f} | {r['as_singing']:.3f} | "
              f"{r['as_music']:.3f} | {r['accuracy']:.3f} |")
    worst = sorted(per_speaker.items(), key=lambda kv: kv[1])[:5]
    print("lowest speech share by speaker: " + ", ".join(f"{k} {v:.2f}" for k, v in worst))
    if args.out:
        from discovervoice.fileio import write_json

        write_json(args.out, result, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

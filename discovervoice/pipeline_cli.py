"""``discovervoice studio``: the main job from the command line (song + your voice -> cover)."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from discovervoice.convert.f0 import DEFAULT_F0_METHOD, METHODS as F0_METHODS

    p = sub.add_parser(
        "studio", help="the main job: song + your voice -> stems, singers, voice model, cover, scores",
        description=("Separate SONG, tell which singers the VOICE recordings sound like, train a voice "
                     "model from them (or use --voice-model), sing the song's vocal line in that voice, "
                     "remix the cover and score it. Writes OUT/{stems,voice,cover}/ and OUT/report.{json,md}."))
    p.add_argument("song", help="the song (wav, flac, mp3, ogg, m4a ...)")
    p.add_argument("--voice", nargs="+", required=True, metavar="FILE",
                   help="recordings of your voice (at least 30 s of voiced audio in all)")
    p.add_argument("-o", "--out", required=True, help="output folder (must not exist unless --force)")
    p.add_argument("--voice-model", default=None, help="use this trained voice (folder or RVC .pth) instead of training")
    p.add_argument("--separation-model", default="default", help="registry name or checkpoint (default: embedded)")
    p.add_argument("--classifier", default="default", help="singer classifier name or folder")
    p.add_argument("--steps", type=int, default=None, help="voice training steps (default: the recipe's)")
    p.add_argument("--transpose", type=float, default=0.0, help="semitones")
    p.add_argument("--index-rate", type=float, default=0.75)
    p.add_argument("--protect", type=float, default=0.33)
    p.add_argument("--f0-method", default=DEFAULT_F0_METHOD, choices=F0_METHODS,
                   help="pitch tracker of the conversion (default %(default)s)")
    p.add_argument("--force", action="store_true", help="write into an existing output folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_studio)


def _studio(args: argparse.Namespace) -> int:
    from pathlib import Path

    from discovervoice import pipeline
    from discovervoice.errors import DiscoverVoiceError
    from discovervoice.progress import tqdm_bar

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise DiscoverVoiceError(f"{out}: output folder is not empty (use --force to write into it)")
    progress, bar = tqdm_bar("studio", leave=False)
    try:
        report = pipeline.run_main_job(
            args.song, args.voice, out, voice_model=args.voice_model, separation_model=args.separation_model,
            classifier=args.classifier, steps=args.steps, transpose=args.transpose, index_rate=args.index_rate,
            protect=args.protect, f0_method=args.f0_method, progress=progress)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print((out / "report.md").read_text())
    return 0

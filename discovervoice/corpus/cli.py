"""``discovervoice corpus ...``: build the offline corpus, list its voices.

    discovervoice corpus build -o data/corpus [--seed 0] [--songs 300] [--max-minutes M]
        [--voices us1,de2] [--pieces bwv66.6,...] [--splits train,valid]
        [--parts songs,singers,parallel,noisy,real-songs] [--snrs 15,20,25] [--include-reserved]
        [--music-root DIR --real-songs 120 --real-dev-songs 24]   (real-songs: recorded
        accompaniment from Debian music packages unpacked under DIR, see
        scripts/fetch-real-music.sh)
    discovervoice corpus voices [--include-reserved] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def _csv(s: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in s.split(",") if x.strip())


def _floats(s: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in _csv(s))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected numbers like 15,20,25: {s!r}") from exc


def register(subparsers) -> None:
    p = subparsers.add_parser("corpus", help="build the offline training/evaluation corpus",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="corpus_command", metavar="ACTION")
    sub.required = True

    b = sub.add_parser("build", help="build (or extend) a corpus folder")
    b.add_argument("-o", "--out", required=True, help="output folder")
    b.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    b.add_argument("--splits", type=_csv, default=None,
                   help="comma list of train,valid,test (default train,valid; test needs "
                        "--include-reserved and uses only reserved material)")
    b.add_argument("--parts", type=_csv, default=("songs", "singers", "parallel", "noisy"),
                   help="comma list of songs,singers,parallel,noisy,real-songs "
                        "(default all but real-songs)")
    b.add_argument("--include-reserved", action="store_true",
                   help="allow the evaluation-only material (needed for the test split)")
    b.add_argument("--songs", type=int, default=300, help="train+valid songs (default 300)")
    b.add_argument("--test-songs", type=int, default=60, help="test songs (default 60)")
    b.add_argument("--song-seconds", type=float, default=25.0,
                   help="maximum length of a song excerpt in seconds (default 25)")
    b.add_argument("--max-minutes", type=float, default=None,
                   help="cap on the minutes of song audio (upper bound: songs x song-seconds)")
    b.add_argument("--voices", type=_csv, default=None,
                   help="only these voices (ids like mbrola-us1 or us1)")
    b.add_argument("--pieces", type=_csv, default=None,
                   help="only these chorales (bach/bwv66.6 or bwv66.6)")
    b.add_argument("--singers", type=int, default=None,
                   help="number of singers in the singer dataset (default all)")
    b.add_argument("--sung-per-singer", type=int, default=16)
    b.add_argument("--spoken-per-singer", type=int, default=10)
    b.add_argument("--parallel-sets", type=int, default=24)
    b.add_argument("--parallel-train-seconds", type=float, default=150.0)
    b.add_argument("--noisy-pairs", type=int, default=600,
                   help="train noisy pairs (valid gets 1/10, test 1/5)")
    b.add_argument("--snrs", type=_floats, default=(15.0, 20.0, 25.0),
                   help="SNRs in dB for the noisy pairs (default 15,20,25)")
    b.add_argument("--noisy-recorded-share", type=float, default=0.3,
                   help="share of noisy pairs whose clean speech is a real recording (default 0.3; "
                        "1 = real speakers only)")
    b.add_argument("--no-recorded", action="store_true",
                   help="leave out the recorded (fillets-ng) speakers")
    b.add_argument("--real-songs", type=int, default=120,
                   help="real-songs train songs (default 120)")
    b.add_argument("--real-dev-songs", type=int, default=24,
                   help="real-songs valid songs: the real-material development set (default 24)")
    b.add_argument("--real-song-seconds", type=float, default=20.0)
    b.add_argument("--real-silent-share", type=float, default=0.2,
                   help="share of real-songs songs whose vocals are digital silence")
    b.add_argument("--music-root", default="/",
                   help="folder where the Debian music packages are unpacked (default /)")
    b.add_argument("--music-packages", type=_csv, default=None,
                   help="only these train music packages (reserved ones are refused)")
    b.add_argument("--real-voice-kinds", type=_csv, default=None,
                   help="real-songs vocals only from voices of these kinds (mbrola,festival,recorded)")
    b.add_argument("-j", "--workers", type=int, default=2, help="worker processes (default 2)")
    b.set_defaults(func=_build)

    v = sub.add_parser("voices", help="list the installed voices")
    v.add_argument("--include-reserved", action="store_true")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_voices)


def _build(args) -> int:
    from discovervoice.corpus.build import BuildConfig, build

    splits = args.splits or (("train", "valid", "test") if args.include_reserved
                             else ("train", "valid"))
    cfg = BuildConfig(out=args.out, seed=args.seed, splits=tuple(splits),
                      parts=tuple(args.parts), include_reserved=args.include_reserved,
                      songs=args.songs, test_songs=args.test_songs,
                      song_seconds=args.song_seconds, max_minutes=args.max_minutes,
                      voices=args.voices, pieces=args.pieces, singers=args.singers,
                      sung_per_singer=args.sung_per_singer,
                      spoken_per_singer=args.spoken_per_singer,
                      parallel_sets=args.parallel_sets,
                      parallel_train_seconds=args.parallel_train_seconds,
                      noisy_pairs=args.noisy_pairs, snrs=args.snrs,
                      noisy_recorded_share=args.noisy_recorded_share,
                      recorded_voices=not args.no_recorded, real_songs=args.real_songs,
                      real_dev_songs=args.real_dev_songs,
                      real_song_seconds=args.real_song_seconds,
                      real_silent_share=args.real_silent_share, music_root=args.music_root,
                      music_packages=args.music_packages,
                      real_voice_kinds=args.real_voice_kinds, workers=args.workers)
    log = logging.getLogger("discovervoice.corpus")
    m = build(cfg, progress=lambda s: print(s, file=sys.stderr, flush=True)
              if args.verbose or not s.startswith("[") else log.info(s))
    last = m["builds"][-1]
    print(json.dumps({"out": args.out, "items": last["items"], "seconds": last["seconds"]}))
    return 0


def _voices(args) -> int:
    from discovervoice.corpus.voices import list_voices

    vs = list_voices(include_reserved=args.include_reserved)
    if args.json:
        print(json.dumps([v.to_json() for v in vs], indent=1))
    else:
        for v in vs:
            print(f"{v.id:22s} {v.kind:9s} {v.language:6s} {v.sex or '?':7s}"
                  f"{' reserved' if v.reserved else ''}")
    return 0

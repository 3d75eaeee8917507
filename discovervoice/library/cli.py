"""Command line of the music library (registered by ``discovervoice.cli``).

Commands::

    discovervoice library index MUSIC_DIR... -o LIBRARY [--model dv-singer-ast]
        [--separation-model NAME] [--artists CSV] [--workers N] [--threads T]
        [--ray-address ADDR|local] [--max-minutes M] [--retry-failed] [--json]
    discovervoice library stats LIBRARY [--json]

Heavy imports (torch, transformers, ray) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    lb = subparsers.add_parser("library", help="index your own music library as the singer catalogue")
    sub = lb.add_subparsers(dest="library_command", metavar="COMMAND")
    sub.required = True
    ix = sub.add_parser(
        "index", help="separate, embed and catalogue every song of MUSIC_DIR into LIBRARY",
        description="Find the audio files under MUSIC_DIR (tags via mutagen; MUSIC_DIR/<Artist>/ "
                    "as fallback; --artists overrides), separate their vocals, embed the voiced "
                    "windows with the singer classifier and write LIBRARY: a classifier folder "
                    "for `which-singer --model LIBRARY` with one gallery singer per artist and "
                    "a catalogue of the songs. A second run processes only new or changed "
                    "files; failures are recorded in LIBRARY/library.json.")
    ix.add_argument("music_dir", nargs="+", help="folders (searched recursively) or files")
    ix.add_argument("-o", "--out", required=True, help="the LIBRARY folder (created or updated)")
    ix.add_argument("--model", default="default",
                    help="classifier whose AST embeds the vocals (default: dv-singer-ast)")
    ix.add_argument("--separation-model", default="default",
                    help="vocals separator (default: dv-mdx23c-real)")
    ix.add_argument("--artists", default=None, metavar="CSV",
                    help="CSV with columns path,artist[,title] overriding the tags")
    ix.add_argument("--workers", type=int, default=1,
                    help="parallel workers: processes, or Ray actors with --ray-address")
    ix.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    ix.add_argument("--ray-address", default=None, metavar="ADDR",
                    help="run on a Ray cluster with Ray Data: 'auto', 'HOST:6379', "
                         "'ray://HOST:10001', or 'local' for a local Ray instance")
    ix.add_argument("--max-minutes", type=float, default=30.0,
                    help="files longer than this are recorded as failed without decoding "
                         "(bounded memory; default 30)")
    ix.add_argument("--retry-failed", action="store_true", help="process failed files again")
    ix.add_argument("--json", action="store_true", help="print the run report as JSON")
    ix.set_defaults(func=_index)

    st = sub.add_parser("stats", help="artists, songs, hours and failures of a LIBRARY")
    st.add_argument("library")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_stats)


def _index(args: argparse.Namespace) -> int:
    from discovervoice.library.index import IndexConfig, index_library

    cfg = IndexConfig(model=args.model, separation_model=args.separation_model,
                      workers=max(1, args.workers), threads=max(1, args.threads),
                      max_minutes=args.max_minutes, ray_address=args.ray_address,
                      retry_failed=args.retry_failed)
    from discovervoice.progress import tqdm_bar

    cb, bar = (None, None) if args.json else tqdm_bar("indexing", leave=False, tty_only=True)
    try:
        r = index_library(args.music_dir, args.out, cfg, artists_csv=args.artists, progress=cb)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps({"library": str(r.library), "songs": r.songs, "artists": r.artists,
                          "processed": r.processed, "reused": r.reused, "failed": r.failed,
                          "duplicates": r.duplicates, "seconds": round(r.seconds, 3),
                          "mode": r.mode}, indent=2, ensure_ascii=False))
        return 0
    print(f"{r.library}: {r.songs} songs by {r.artists} artists ({r.processed} processed, "
          f"{r.reused} already indexed, {len(r.failed)} failed, {len(r.duplicates)} duplicates) "
          f"in {r.seconds:.1f} s [{r.mode}]")
    for f in r.failed:
        print(f"  failed: {f['path']}: {f['reason']}")
    print(f"use it: discovervoice which-singer VOICE_FILE --model {r.library}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from discovervoice.library.index import stats

    s = stats(args.library)
    if args.json:
        print(json.dumps(s, indent=2, ensure_ascii=False))
        return 0
    print(f"{args.library}: {s['artists']} artists, {s['songs']} songs, {s['hours']:.2f} hours "
          f"({s['voiced_hours']:.2f} h voiced), {s['failures']} failures, "
          f"{s['duplicates']} duplicates (updated {s['updated']})")
    for name, a in s["per_artist"].items():
        print(f"  {name:<28} {a['songs']:>5} songs {a['voiced_seconds'] / 60:8.1f} min voiced")
    for f in s["failed"]:
        print(f"  failed: {f['path']}: {f['reason']}")
    return 0

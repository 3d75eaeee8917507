"""``discovervoice weights list|fetch|verify``: inspect and download checkpoints."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="list, download and verify model checkpoints",
                       description="List, download and verify the checkpoints DiscoverVoice knows.")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION")
    wsub.required = True
    pl = wsub.add_parser("list", help="every registered model with its source and licence")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.set_defaults(func=_list)
    pf = wsub.add_parser("fetch", help="download published checkpoints into the cache")
    pf.add_argument("names", nargs="+", metavar="NAME")
    pf.set_defaults(func=_fetch)
    pv = wsub.add_parser("verify", help="check sizes and sha256 of cached/shipped files")
    pv.add_argument("names", nargs="*", metavar="NAME", help="default: every model")
    pv.set_defaults(func=_verify)


def _list(args: argparse.Namespace) -> int:
    from discovervoice import weights

    reg = weights.registry()
    if args.json:
        print(json.dumps([weights.spec_as_dict(s) for s in reg.values()], indent=2))
        return 0
    for spec in reg.values():
        kind = "embedded" if spec.embedded else "published"
        where = spec.shipped if spec.embedded else (spec.files[0].url if spec.files else "-")
        print(f"{spec.name:24s} {spec.task:22s} {spec.architecture:28s} {spec.sample_rate:>6d} Hz  "
              f"{kind:9s} licence: {spec.licence}")
        print(f"{'':24s} source: {where}")
    print(f"\ncache: {weights.cache_dir()}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from discovervoice import weights

    for name in args.names:
        path = weights.resolve(name, download_missing=True)
        print(f"{name}: {path}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from discovervoice import weights

    names = args.names or list(weights.registry())
    bad = 0
    for name in names:
        for path, state in weights.verify(name):
            if state not in ("ok", "missing"):
                bad += 1
            print(f"{name:24s} {state:8s} {path}" if state in ("ok", "missing") else f"{name:24s} BAD {state}")
    return 1 if bad else 0

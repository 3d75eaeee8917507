"""The ``discovervoice`` command line.

Thin by design (DESIGN.md habit 7): this module imports only argparse and the small
``register`` functions of each feature's ``cli`` module; every heavy import (torch,
transformers, gradio) happens inside a command handler. Logging is configured here and
nowhere else.

Each feature package adds its subcommands through a module listed in
:data:`COMMAND_MODULES` that defines ``register(subparsers)``. A handler receives the
parsed ``argparse.Namespace`` and returns an exit code (``0`` or ``None`` on success).

Errors: any :class:`discovervoice.errors.DiscoverVoiceError` (and ``OSError``,
``ValueError``) raised by a handler prints one line ``error: ...`` to stderr and exits with
status 1 (2 for usage errors); ``--debug`` prints the full traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Callable, Sequence

#: Modules that contribute subcommands. Each defines ``register(subparsers) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "discovervoice.weights_cli",
    "discovervoice.corpus.cli",
    "discovervoice.eval.cli",
    "discovervoice.separation.cli",
    "discovervoice.enhance.cli",
    "discovervoice.classify.cli",
    "discovervoice.library.cli",
    "discovervoice.convert.cli",
    "discovervoice.prep.cli",
    "discovervoice.prep.manifest",
    "discovervoice.pipeline_cli",
)

log = logging.getLogger("discovervoice")


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser (every registered subcommand)."""
    from discovervoice import __version__

    parser = argparse.ArgumentParser(
        prog="discovervoice",
        description=(
            "DiscoverVoice: separate songs into stems, find which singers you sound like, "
            "learn your voice and sing any vocal line in it, and score every stage."
        ),
    )
    parser.add_argument("--version", action="version", version=f"discovervoice {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v info, -vv debug)")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``discovervoice`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    handler: Callable[[argparse.Namespace], int | None] = args.func
    from discovervoice.errors import DiscoverVoiceError

    try:
        code = handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (DiscoverVoiceError, OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``python -m discovervoice`` runs the same command line as the ``discovervoice`` script."""

from discovervoice.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

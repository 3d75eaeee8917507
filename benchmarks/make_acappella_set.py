"""Build an a cappella evaluation set from a MUSDB-layout split: for every song whose vocals are
not digitally silent, a song folder with ``mixture.wav`` = ``vocals.wav`` (the voice alone) and a
silent ``accompaniment.wav``. ``discovervoice separation evaluate`` on it measures how whole a
separator leaves a clean voice (vocals uSDR / SI-SDR against the voice itself).

    python benchmarks/make_acappella_set.py data/corpus-realdev/real_songs/valid data/corpus-realdev-acappella/valid

Libraries: soundfile (float WAV I/O), numpy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="MUSDB-layout split (song folders with vocals.wav)")
    ap.add_argument("dst", type=Path, help="output split folder")
    args = ap.parse_args(argv)
    n = 0
    for song in sorted(p for p in args.src.iterdir() if (p / "vocals.wav").is_file()):
        v, sr = sf.read(song / "vocals.wav", dtype="float32")
        if not np.any(v):
            continue
        out = args.dst / song.name
        out.mkdir(parents=True, exist_ok=True)
        sf.write(out / "vocals.wav", v, sr, subtype="FLOAT")
        sf.write(out / "mixture.wav", v, sr, subtype="FLOAT")
        sf.write(out / "accompaniment.wav", np.zeros_like(v), sr, subtype="FLOAT")
        n += 1
    print(f"{n} a cappella songs in {args.dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Pack (and unpack) a compact excerpt set of separation training data, to carry training to
another machine (a lent GPU machine takes at most 64 MiB with the working tree).

``pack``: from each MUSDB18-HQ-layout root (``ROOT/train/<song>/``; four-stem songs are
summed to ``accompaniment``), draw ``--songs`` songs (seeded), cut ``--seconds`` from a
seeded offset and write two-stem excerpts ``OUT/<root-tag>/train/<song>/{vocals,
accompaniment}.ogg`` (Ogg Vorbis, ``--quality`` is libsndfile's compression level, 0 = best,
1 = smallest). ``--valid ROOT`` packs that root's ``valid/`` songs the same way into the
first root's tag. The mixture is not stored: the trainer sums the stems.

``unpack``: decode every ``.ogg`` under a folder to a ``.wav`` beside it (16-bit PCM) and
remove the ``.ogg``, so ``discovervoice separation train`` can read random excerpts by seeking.

Both stems of an excerpt go through the same lossy codec, so a mixture built from them is
still exactly the sum of its stems; the codec (as MUSDB18's AAC stems) band-limits the
material above ~16 kHz at the default quality.

Libraries: soundfile (libsndfile's Vorbis encoder and decoder, reads and writes), numpy.

Usage::

    python scripts/pack_separation_excerpts.py pack --out gpu/sepdata --songs 45 --seconds 10 \
        --valid data/corpus/real_songs --valid-songs 4 \
        data/corpus/real_songs data/corpus-realvox/real_songs data/corpus/songs
    python scripts/pack_separation_excerpts.py unpack gpu/sepdata
"""

from __future__ import annotations

import argparse
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from discovervoice.separation.train import scan_songs  # noqa: E402


def _tag(root: Path) -> str:
    return "-".join(root.parts[-2:]).replace("_", "-")


def _write_excerpt(song, out_dir: Path, seconds: float, quality: float, rng: random.Random) -> None:
    n = int(seconds * song.sample_rate)
    start = rng.randrange(0, max(1, song.frames - n))
    stems = {}
    for stem, path in song.files.items():
        x, _ = sf.read(str(path), start=start, frames=n, dtype="float32", always_2d=True)
        stems[stem] = x
    if "accompaniment" not in stems:
        stems["accompaniment"] = stems.pop("drums") + stems.pop("bass") + stems.pop("other")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stem in ("vocals", "accompaniment"):
        x = np.clip(stems[stem], -1.0, 1.0)
        sf.write(str(out_dir / f"{stem}.ogg"), x, song.sample_rate, format="OGG",
                 subtype="VORBIS", compression_level=quality)


def pack(args: argparse.Namespace) -> None:
    out = Path(args.out)
    rng = random.Random(args.seed)
    roots = [Path(r) for r in args.roots]
    for root in roots:
        songs = scan_songs(root / "train")
        pick = sorted(rng.sample(range(len(songs)), min(args.songs, len(songs))))
        for i in pick:
            _write_excerpt(songs[i], out / _tag(root) / "train" / songs[i].name, args.seconds,
                           args.quality, rng)
    if args.valid:
        songs = scan_songs(Path(args.valid) / "valid")[: args.valid_songs]
        for s in songs:
            _write_excerpt(s, out / _tag(roots[0]) / "valid" / s.name, args.valid_seconds,
                           args.quality, rng)
    size = sum(p.stat().st_size for p in out.rglob("*.ogg"))
    print(f"{out}: {size / 2**20:.1f} MiB")


def _decode(path: Path) -> None:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    sf.write(str(path.with_suffix(".wav")), x, sr, subtype="PCM_16")
    path.unlink()


def unpack(args: argparse.Namespace) -> None:
    files = sorted(Path(args.folder).rglob("*.ogg"))
    with ProcessPoolExecutor(args.jobs) as pool:
        list(pool.map(_decode, files))
    print(f"decoded {len(files)} files")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("roots", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--songs", type=int, default=45, help="songs drawn per root")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--valid", help="root whose valid/ songs are packed for validation")
    p.add_argument("--valid-songs", type=int, default=4)
    p.add_argument("--valid-seconds", type=float, default=12.0)
    p.add_argument("--quality", type=float, default=0.6)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=pack)
    u = sub.add_parser("unpack")
    u.add_argument("folder")
    u.add_argument("--jobs", type=int, default=8)
    u.set_defaults(func=unpack)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()

"""One-off conversion (issue 20): rewrite ``weights/dv-prep-sex.safetensors`` and
``weights/dv-prep-voicetype.safetensors`` from their first layout (``kind``, flat metadata
keys) into the :mod:`discovervoice.checkpoint` layout, with identical arrays.

    python3 scripts/convert_prep_checkpoints.py [WEIGHTS_DIR]

Files already in the new layout are left as they are. The arrays of every rewritten file
are read back and compared bit for bit before it replaces the old one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from discovervoice import checkpoint  # noqa: E402
from discovervoice.prep import sex, voicetype  # noqa: E402


def convert(path: Path, kind: str, fmt: str, config: dict) -> bool:
    arrays, meta = checkpoint.read_tensors(path, "numpy")
    if meta.get("format") == fmt:
        return False
    if meta.get("kind") != kind:
        raise SystemExit(f"{path}: neither the old {kind} layout nor {fmt}")
    for key, value in config.items():   # the old file was made for this code's config
        old = meta.get(key)
        want = ",".join(value) if isinstance(value, list) else str(value)
        if old != want:
            raise SystemExit(f"{path}: stored {key}={old!r}, this code has {want!r}")
    tmp = path.with_name(path.stem + ".converted.safetensors")
    checkpoint.save(tmp, arrays, format=fmt, config=config,
                    metadata=json.loads(meta.get("metadata", "{}")), architecture=kind)
    back = checkpoint.read_tensors(tmp, "numpy")[0]
    assert back.keys() == arrays.keys()
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v), k
    tmp.replace(path)
    return True


def main(weights_dir: Path) -> None:
    jobs = [(weights_dir / f"{sex.MODEL_NAME}.safetensors", "SexClassifier", sex.CHECKPOINT_FORMAT,
             {"n_ceps": sex.N_CEPS}),
            (weights_dir / f"{voicetype.MODEL_NAME}.safetensors", "VoiceTypeClassifier",
             voicetype.CHECKPOINT_FORMAT,
             {"classes": list(voicetype.CLASSES), "features": list(voicetype.FEATURE_NAMES)})]
    for path, kind, fmt, config in jobs:
        print(path, "converted" if convert(path, kind, fmt, config) else "already converted")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "weights")

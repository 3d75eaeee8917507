"""Noisy/clean pair folders for training and evaluating speech enhancement.

Layout (VoiceBank-DEMAND style, and the corpus' ``noisy_speech/<split>/``)::

    DIR/clean/<name>.wav
    DIR/noisy/<name>.wav          # same relative names (sub-folders allowed)

:func:`pair_dir` also accepts a corpus root (``DIR/noisy_speech/<split>``) or a
``noisy_speech`` folder (``DIR/<split>``). Optional transcripts for the robustness report
are looked up as ``DIR/text/<name>.txt``, ``DIR/clean/<name>.txt`` or a ``transcripts.json``
/ ``metadata.json`` / ``manifest.json(l)`` mapping names to ``text``.

Libraries: discovervoice.audio (decoding + resampling with soxr), numpy.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from discovervoice.errors import DataError

log = logging.getLogger(__name__)

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3")


@dataclass(frozen=True)
class Pair:
    """One noisy/clean pair: ``name`` is the path relative to ``clean/`` (no suffix)."""

    name: str
    clean: Path
    noisy: Path


def pair_dir(data: str | Path, split: str | None = None) -> Path:
    """The folder holding ``clean/`` and ``noisy/`` for ``data`` (and ``split``).

    Raises:
        DataError: no such folder, or no ``clean/`` + ``noisy/`` under any candidate.
    """
    root = Path(data).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    candidates = [root]
    if split:
        candidates = [root / split, root / "noisy_speech" / split, root]
    for c in candidates:
        if (c / "clean").is_dir() and (c / "noisy").is_dir():
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise DataError(f"{root}: no clean/ and noisy/ sub-folders (looked in {tried})")


def find_pairs(folder: str | Path) -> list[Pair]:
    """All pairs with the same relative name under ``folder/clean`` and ``folder/noisy``.

    Raises:
        DataError: missing sub-folders or no matching pairs.
    """
    folder = Path(folder)
    clean_dir, noisy_dir = folder / "clean", folder / "noisy"
    for d in (clean_dir, noisy_dir):
        if not d.is_dir():
            raise DataError(f"{folder}: missing sub-folder {d.name}/ (expected clean/ and noisy/)")

    def index(d: Path) -> dict[str, Path]:
        return {str(p.relative_to(d).with_suffix("")): p for p in sorted(d.rglob("*"))
                if p.suffix.lower() in AUDIO_EXTS and p.is_file()}

    clean, noisy = index(clean_dir), index(noisy_dir)
    names = sorted(set(clean) & set(noisy))
    unmatched = len(set(clean) ^ set(noisy))
    if not names:
        raise DataError(f"{folder}: no pairs with the same name in clean/ ({len(clean)} files) "
                        f"and noisy/ ({len(noisy)} files)")
    if unmatched:
        log.warning("%s: %d files have no partner and are skipped", folder, unmatched)
    return [Pair(n, clean[n], noisy[n]) for n in names]


def load_pair(pair: Pair, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """``(clean ndarray[T], noisy ndarray[T])`` mono float32 at ``sample_rate``.

    Raises:
        AudioLoadError: a file cannot be decoded. DataError: lengths differ by more than
        10 ms (then the pair is not aligned).
    """
    from discovervoice import audio

    c = audio.load(pair.clean, sample_rate, channels=1)[0]
    n = audio.load(pair.noisy, sample_rate, channels=1)[0]
    if abs(c.shape[0] - n.shape[0]) > sample_rate // 100:
        raise DataError(f"{pair.noisy}: {n.shape[0]} samples but its clean partner "
                        f"{pair.clean} has {c.shape[0]}; pairs must be aligned")
    t = min(c.shape[0], n.shape[0])
    return c[:t], n[:t]


def measured_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """SNR of a pair in dB, taking ``noisy - clean`` as the noise."""
    c = np.asarray(clean, np.float64)
    d = np.asarray(noisy, np.float64) - c
    return float(10 * np.log10((np.sum(c * c) + 1e-20) / (np.sum(d * d) + 1e-20)))


def snr_of(pair: Pair, clean: np.ndarray, noisy: np.ndarray,
           metadata: dict[str, dict] | None = None) -> float:
    """The pair's nominal SNR: from metadata (``snr_db``/``snr``) when given, else measured
    and rounded to the nearest dB."""
    m = (metadata or {}).get(pair.name) or {}
    for key in ("snr_db", "snr"):
        if key in m:
            return float(m[key])
    return float(round(measured_snr_db(clean, noisy)))


def load_metadata(folder: str | Path) -> dict[str, dict]:
    """Per-pair metadata ``{name: {...}}`` from a JSON/JSONL manifest in ``folder`` (or its
    parent), if there is one; ``{}`` otherwise. Entries are matched by ``name``, ``id``,
    ``file``, ``noisy`` or ``path`` (file stem)."""
    folder = Path(folder)
    out: dict[str, dict] = {}
    for d in (folder, folder.parent):
        for fname in ("metadata.json", "manifest.json", "transcripts.json", "metadata.jsonl",
                      "manifest.jsonl"):
            p = d / fname
            if not p.is_file():
                continue
            text = p.read_text(encoding="utf-8")
            if fname.endswith(".jsonl"):
                items = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                data = json.loads(text)
                if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
                    items = [{"name": k, **v} for k, v in data.items()]
                elif isinstance(data, dict):
                    items = data.get("items") or data.get("pairs") or data.get("files") or []
                    if not items and all(isinstance(v, str) for v in data.values()):
                        items = [{"name": k, "text": v} for k, v in data.items()]
                else:
                    items = data
            for it in items:
                if not isinstance(it, dict):
                    continue
                key = (it.get("name") or it.get("id") or it.get("file") or it.get("noisy")
                       or it.get("path"))
                if key:
                    out.setdefault(Path(str(key)).with_suffix("").name, {}).update(it)
                    out.setdefault(str(Path(str(key)).with_suffix("")), {}).update(it)
        if out:
            break
    return out


def transcript_of(folder: str | Path, pair: Pair, metadata: dict[str, dict]) -> str | None:
    """Reference text of a pair, if the data set has one (see the module docstring)."""
    folder = Path(folder)
    for p in (folder / "text" / f"{pair.name}.txt", pair.clean.with_suffix(".txt")):
        if p.is_file():
            return p.read_text(encoding="utf-8").strip()
    m = metadata.get(pair.name) or metadata.get(Path(pair.name).name) or {}
    for key in ("text", "transcript", "sentence"):
        if isinstance(m.get(key), str):
            return m[key]
    return None

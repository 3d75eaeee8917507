"""The one training-data manifest: *slice records* (prep's ``manifest.jsonl``), what the
corpus' ``manifest.json`` maps onto, and its export to lhotse.

A slice record is one JSON object per audio file (the fields of
:data:`discovervoice.prep.pipeline.MANIFEST_FIELDS`; docs/ARCHITECTURE.md, "Manifests")::

    file            audio path, relative to the dataset folder
    source          the recording it was cut from
    start, end      its place in the source, seconds
    duration        seconds
    label           "speech" | "singing"
    speaker         speaker / singer name (prep: diarization label within the source)
    sex_estimate    "male" | "female" | null;  sex_confidence: [0.5, 1] | null
    text            transcript or lyrics, or null
    loudness        integrated loudness, LUFS, or null

* :func:`read_records` reads either a prep dataset (its ``manifest.jsonl``) or a corpus
  (``manifest.json``: every item becomes a record — ``path`` -> ``file``, ``singer`` ->
  ``speaker``, ``kind`` sung/spoken -> ``label`` singing/speech, the true ``sex`` ->
  ``sex_estimate`` with confidence 1).
* :func:`to_lhotse` writes lhotse's ``RecordingSet`` and ``SupervisionSet``
  (``recordings.jsonl.gz``, ``supervisions.jsonl.gz``, the speech field's standard
  manifests; ``lhotse.load_manifest`` reads them): one recording per audio file, one
  supervision covering it, the record's other fields in ``custom``.
* :func:`voice_records` picks one voice's speech and singing records (a ``speaker``
  label, or each source's main speaker).
* :func:`discovervoice.classify.data.clips_from_manifest` turns a prep dataset into the
  clips ``classify train --manifest`` learns from; ``voice train --manifest`` trains a
  voice on :func:`voice_records` (:func:`discovervoice.convert.voice.manifest_files`).

Libraries: lhotse (Żelasko et al. 2021; the ``Recording``/``SupervisionSegment`` schema
and writers; it needs no torchaudio), soundfile (file headers, through lhotse).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from discovervoice.errors import DataError

LHOTSE_RECORDINGS = "recordings.jsonl.gz"
LHOTSE_SUPERVISIONS = "supervisions.jsonl.gz"
_LABEL_OF_KIND = {"sung": "singing", "spoken": "speech", "song": "singing"}


def read_records(path: str | os.PathLike) -> tuple[Path, list[dict[str, Any]]]:
    """``(root, records)`` of a prep dataset or a corpus; ``file`` paths are relative to
    ``root``.

    Args:
        path: a prep dataset folder or its ``manifest.jsonl``; a corpus folder or its
            ``manifest.json`` (every part and split).

    Raises:
        DataError: no manifest there, or one that cannot be read.
    """
    from discovervoice.prep.pipeline import MANIFEST_FIELDS, read_manifest

    p = Path(path)
    if p.is_dir():
        found = next((p / n for n in ("manifest.jsonl", "manifest.json") if (p / n).is_file()),
                     None)
        if found is None:
            raise DataError(f"{p}: no manifest.jsonl (a prep dataset) or manifest.json "
                            "(a corpus) in this folder")
        p = found
    if p.suffix == ".jsonl":
        return p.parent, read_manifest(p)
    if p.name != "manifest.json" or not p.is_file():
        raise DataError(f"{p}: not a prep manifest.jsonl or a corpus manifest.json")
    from discovervoice.corpus.build import read_manifest as read_corpus

    records = []
    for it in read_corpus(p.parent):
        dur = it.get("duration_s")
        records.append({k: None for k in MANIFEST_FIELDS} | {
            "file": it["path"], "source": it["path"], "start": 0.0, "end": dur, "duration": dur,
            "label": _LABEL_OF_KIND.get(it.get("kind", ""), it.get("kind")),
            "speaker": it.get("singer"), "sex_estimate": it.get("sex"),
            "sex_confidence": 1.0 if it.get("sex") else None, "text": it.get("text")})
    return p.parent, records


VOICE_LABELS = ("speech", "singing")


def voice_records(records: list[dict[str, Any]], speaker: str | None = None) -> list[dict[str, Any]]:
    """The speech and singing records of one voice.

    Args:
        records: slice records (:func:`read_records`).
        speaker: keep this ``speaker`` label's records (a diarization label of prep, or a
            singer of a corpus); ``None``: each source's main speaker (most seconds), so
            a second voice in a recording is left out.

    Returns:
        The chosen records, in manifest order (possibly none).
    """
    from collections import Counter

    voiced = [r for r in records if r.get("label") in VOICE_LABELS]
    if speaker is not None:
        return [r for r in voiced if r.get("speaker") == speaker]
    seconds: dict[Any, Counter] = {}
    for r in voiced:
        seconds.setdefault(r.get("source"), Counter())[r.get("speaker")] += float(r.get("duration") or 0)
    main = {src: c.most_common(1)[0][0] for src, c in seconds.items()}
    return [r for r in voiced if r.get("speaker") == main[r.get("source")]]


def to_lhotse(path: str | os.PathLike, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Export a prep dataset or a corpus (see :func:`read_records`) as lhotse manifests.

    Recording ids are the files' paths relative to the dataset (unique); each supervision
    (id ``<recording id>#0``) spans its whole recording, with ``speaker``, ``text``,
    ``gender`` (the sex estimate) and ``custom`` = ``label``, ``source``, ``start``,
    ``end``, ``sex_confidence``, ``loudness``. Audio paths are absolute.

    Returns:
        ``(recordings.jsonl.gz, supervisions.jsonl.gz)`` in ``out_dir``.

    Raises:
        DataError: no manifest, or a listed audio file that is missing or unreadable.
    """
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    root, records = read_records(path)
    recordings, supervisions = [], []
    for r in records:
        f = (root / r["file"]).resolve()
        try:
            rec = Recording.from_file(f, recording_id=str(r["file"]))
        except Exception as exc:  # lhotse / soundfile raise several types for a bad file
            raise DataError(f"{f}: listed in {root} but not readable ({exc})") from exc
        recordings.append(rec)
        custom = {k: r.get(k) for k in ("label", "source", "start", "end", "sex_confidence",
                                        "loudness") if r.get(k) is not None}
        supervisions.append(SupervisionSegment(
            id=f"{r['file']}#0", recording_id=rec.id, start=0.0, duration=rec.duration,
            channel=0, text=r.get("text"), speaker=r.get("speaker"),
            gender=r.get("sex_estimate"), custom=custom or None))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rp, sp = out / LHOTSE_RECORDINGS, out / LHOTSE_SUPERVISIONS
    RecordingSet.from_recordings(recordings).to_file(rp)
    SupervisionSet.from_segments(supervisions).to_file(sp)
    return rp, sp


def register(subparsers) -> None:
    """``discovervoice export-lhotse DATASET -o OUT``."""
    p = subparsers.add_parser(
        "export-lhotse", help="write a prep dataset or a corpus as lhotse manifests",
        description="Write lhotse's RecordingSet and SupervisionSet (recordings.jsonl.gz, "
                    "supervisions.jsonl.gz) for a prep dataset (manifest.jsonl) or a corpus "
                    "(manifest.json).")
    p.add_argument("dataset", help="prep dataset / corpus folder, or its manifest file")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.set_defaults(func=_export)


def _export(args) -> int:
    rp, sp = to_lhotse(args.dataset, args.out)
    with gzip.open(rp, "rt") as fh:
        n = sum(1 for _ in fh)
    print(json.dumps({"recordings": str(rp), "supervisions": str(sp), "recordings_count": n}))
    return 0

"""Intelligibility: character and word error rates (CER / WER) of transcripts.

Library: **jiwer** (minimum edit distance through RapidFuzz). Corpus-level rates are
``(S + D + I) / N`` summed over all utterances (jiwer's convention for lists), N the
number of reference characters (CER, spaces included) or words (WER). Transcripts come
from the transcription backends (``discovervoice.prep``: Whisper through the registry,
pocketsphinx offline); this module only compares text.

Normalisation (on by default, applied to both sides): lower case, punctuation removed,
runs of white space collapsed, ends stripped — so that "Hello, World!" equals
"hello world". Pass ``normalize=False`` for raw strings.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Mapping, Sequence

from discovervoice.errors import DataError


def normalize_text(text: str) -> str:
    """Lower case, no punctuation, single spaces, stripped (jiwer transforms)."""
    import jiwer

    t = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(),
                       jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    return t(text)


def error_rates(references: Sequence[str] | str, hypotheses: Sequence[str] | str, *,
                normalize: bool = True) -> dict[str, float]:
    """CER and WER of hypotheses against references (corpus level).

    Args:
        references, hypotheses: one string each, or equal-length lists.
        normalize: apply :func:`normalize_text` to both sides.

    Returns:
        ``cer``, ``wer`` (fractions, may exceed 1), and the character / word
        ``*_substitutions``, ``*_deletions``, ``*_insertions``, ``*_hits`` counts.

    Raises:
        DataError: list lengths differ.
    """
    import jiwer

    refs = [references] if isinstance(references, str) else list(references)
    hyps = [hypotheses] if isinstance(hypotheses, str) else list(hypotheses)
    if len(refs) != len(hyps):
        raise DataError(f"{len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise DataError("no transcripts to compare")
    if normalize:
        refs = [normalize_text(r) for r in refs]
        hyps = [normalize_text(h) for h in hyps]
    c = jiwer.process_characters(refs, hyps)
    w = jiwer.process_words(refs, hyps)
    return {
        "cer": float(c.cer), "wer": float(w.wer),
        "char_substitutions": int(c.substitutions), "char_deletions": int(c.deletions),
        "char_insertions": int(c.insertions), "char_hits": int(c.hits),
        "word_substitutions": int(w.substitutions), "word_deletions": int(w.deletions),
        "word_insertions": int(w.insertions), "word_hits": int(w.hits),
    }


def read_transcripts(path: str | Path) -> dict[str, str]:
    """Read transcripts keyed by utterance id.

    Accepted: a folder of ``<id>.txt`` files; a ``.json`` object ``{id: text}``; a
    ``.jsonl`` of ``{"id": ..., "text": ...}`` lines; a ``.tsv`` / ``.csv`` with ``id`` and
    ``text`` columns (or two columns without a header).

    Raises:
        DataError: missing path, unknown format, or malformed content (line named).
    """
    p = Path(path)
    if p.is_dir():
        out = {f.stem: f.read_text(encoding="utf-8").strip() for f in sorted(p.glob("*.txt"))}
        if not out:
            raise DataError(f"{p}: no .txt transcripts in this folder")
        return out
    if not p.is_file():
        raise DataError(f"{p}: transcript file or folder not found")
    suffix = p.suffix.lower()
    text = p.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}: not valid JSON ({exc})") from exc
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            raise DataError(f"{p}: expected a JSON object {{id: text}}")
        return {str(k): v for k, v in obj.items()}
    if suffix == ".jsonl":
        out = {}
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out[str(row["id"])] = str(row["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DataError(f"{p}:{n}: expected {{\"id\": ..., \"text\": ...}} ({exc})") from exc
        return out
    if suffix in (".tsv", ".csv", ".txt"):
        delim = "," if suffix == ".csv" else "\t"
        rows = list(csv.reader(text.splitlines(), delimiter=delim))
        rows = [r for r in rows if r]
        if rows and [c.strip().lower() for c in rows[0][:2]] == ["id", "text"]:
            rows = rows[1:]
        out = {}
        for n, r in enumerate(rows, 1):
            if len(r) < 2:
                raise DataError(f"{p}: row {n} has {len(r)} column(s), expected id and text")
            out[r[0].strip()] = delim.join(r[1:]).strip()
        return out
    raise DataError(f"{p}: unknown transcript format {suffix!r} (use a folder of .txt, "
                    ".json, .jsonl, .tsv or .csv)")


def score_transcripts(references: Mapping[str, str], hypotheses: Mapping[str, str], *,
                      normalize: bool = True) -> dict:
    """CER/WER over the utterance ids present in both mappings, plus per-utterance values.

    Returns:
        ``{"overall": error_rates(...), "utterances": {id: {"cer", "wer", "reference",
        "hypothesis"}}, "missing_hypotheses": [...], "extra_hypotheses": [...]}``.

    Raises:
        DataError: no id in common.
    """
    ids = sorted(set(references) & set(hypotheses))
    if not ids:
        raise DataError("no utterance id is shared by the references and the hypotheses")
    overall = error_rates([references[i] for i in ids], [hypotheses[i] for i in ids],
                          normalize=normalize)
    per = {}
    for i in ids:
        r = error_rates(references[i], hypotheses[i], normalize=normalize)
        per[i] = {"cer": r["cer"], "wer": r["wer"], "reference": references[i],
                  "hypothesis": hypotheses[i]}
    return {"kind": "cer", "normalize": normalize, "overall": overall, "utterances": per,
            "missing_hypotheses": sorted(set(references) - set(hypotheses)),
            "extra_hypotheses": sorted(set(hypotheses) - set(references))}

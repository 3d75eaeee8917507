"""Evaluate speech enhancement against baselines, per SNR, and ASR robustness.

One run scores, on every noisy/clean pair of a split and at each SNR:

* the methods: ``noisy`` (the input itself), ``noisereduce`` (spectral gating),
  ``mmse-stsa`` (Ephraim-Malah), ``wiener`` and ``crnn`` (the CRNN enhancer);
* the metrics: PESQ wide band, STOI, SI-SDR and its improvement over the noisy input
  (SI-SDRi, dB), DNSMOS P.835 overall; and the real-time factor of each method;
* optionally (``asr=...``) CER/WER of a recogniser on clean, noisy and enhanced speech
  against the pair's transcript (or, when the data set has none, against the recogniser's
  own transcript of the clean signal — the table says which); pairs in a language the
  recogniser does not support (metadata ``language``) are left out of that table.

The SNR of a pair comes from the data set's metadata when present, else it is measured
(``noisy - clean`` as the noise) and rounded to whole dB.

Libraries: pesq, pystoi, speechmos (through discovervoice.eval.mos), jiwer (through
discovervoice.eval.cer), noisereduce, numpy.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from discovervoice.enhance import data as pairdata
from discovervoice.enhance import metrics
from discovervoice.errors import DataError
from discovervoice.progress import Progress

log = logging.getLogger(__name__)

METHODS = ("noisy", "noisereduce", "mmse-stsa", "wiener", "crnn")
METRICS = ("pesq", "stoi", "si_sdr", "si_sdri", "dnsmos")


def _method_fns(methods: Sequence[str], enhancer) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    from discovervoice.enhance.baselines import BASELINES

    fns: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    for m in methods:
        if m == "noisy":
            fns[m] = lambda x: x
        elif m == "crnn":
            if enhancer is None:
                raise ValueError("method 'crnn' needs an enhancer")
            fns[m] = enhancer.enhance
        elif m in BASELINES:
            fns[m] = (lambda f: (lambda x: f(x, 16000)))(BASELINES[m])
        else:
            raise ValueError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    return fns


def _keep(pairs: list, meta: dict, field: str, accept: Callable[[str], bool], none_left: str) -> list:
    """The pairs whose manifest ``field`` (``""`` when missing) passes ``accept``.

    Raises:
        DataError: none does (``none_left`` names the filter).
    """
    kept = [p for p in pairs if accept(str((meta.get(p.name) or {}).get(field, "")))]
    if not kept:
        raise DataError(f"{none_left} (the {field} comes from the data set's manifest)")
    return kept


def evaluate(data: str | Path, split: str = "test", *, enhancer=None,
             methods: Sequence[str] = METHODS, use_dnsmos: bool = True,
             transcriber=None, max_files: int | None = None,
             languages: Sequence[str] | None = None,
             speakers: Sequence[str] | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Score methods on the pairs of ``data`` (``split``).

    Args:
        data: a pair folder, a ``noisy_speech`` folder or a corpus root
            (see :func:`discovervoice.enhance.data.pair_dir`).
        enhancer: an :class:`~discovervoice.enhance.apply.Enhancer` (for ``crnn``).
        transcriber: a transcriber (``discovervoice.transcribe``) for the ASR
            robustness table, or ``None``.
        max_files: score only the first N pairs (sorted by name).
        languages: keep only pairs whose metadata ``language`` has one of these base codes
            (``["en"]`` keeps ``en-us`` and ``en-uk``); pairs without one are dropped.
        speakers: keep only pairs whose metadata ``speaker`` starts with one of these
            prefixes (``["klettres-"]`` keeps the KLettres native speakers).

    Raises:
        DataError: no pair is left after the ``languages`` / ``speakers`` filters.

    Returns:
        ``{"data", "split", "files", "snrs", "methods", "table": {snr: {method: {metric:
        mean}}}, "overall": {method: {metric: mean}}, "rtf": {method: float}, "asr": {...}}``.
    """
    folder = pairdata.pair_dir(data, split)
    pairs = pairdata.find_pairs(folder)
    meta = pairdata.load_metadata(folder)
    if languages:
        keep = {lang.lower().split("-")[0] for lang in languages}
        pairs = _keep(pairs, meta, "language", lambda v: v.lower().split("-")[0] in keep,
                      f"{folder}: no pairs in the languages {sorted(keep)}")
    if speakers:
        pairs = _keep(pairs, meta, "speaker", lambda v: v.startswith(tuple(speakers)),
                      f"{folder}: no pairs by the speakers {list(speakers)}")
    pairs = pairs[: max_files or None]
    fns = _method_fns(methods, enhancer)
    rows: dict[float, dict[str, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list)))
    asr_rows: dict[float, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    timing = defaultdict(float)
    audio_seconds = 0.0
    ref_kind = "transcript"
    for i, pair in enumerate(pairs):
        clean, noisy = pairdata.load_pair(pair, 16000)
        snr = pairdata.snr_of(pair, clean, noisy, meta)
        audio_seconds += clean.size / 16000
        base = metrics.si_sdr(clean, noisy)
        outputs = {}
        for m, fn in fns.items():
            t0 = time.perf_counter()
            y = np.asarray(fn(noisy), np.float32)
            timing[m] += time.perf_counter() - t0
            outputs[m] = y
            r = rows[snr][m]
            r["pesq"].append(metrics.pesq_wb(clean, y))
            r["stoi"].append(metrics.stoi(clean, y))
            s = metrics.si_sdr(clean, y)
            r["si_sdr"].append(s)
            r["si_sdri"].append(s - base)
            if use_dnsmos:
                r["dnsmos"].append(metrics.dnsmos(y)["ovrl"])
        lang = (meta.get(pair.name) or {}).get("language")
        if transcriber is not None and _asr_language_ok(transcriber, lang):
            ref = pairdata.transcript_of(folder, pair, meta)
            clean_hyp = transcriber.transcribe(clean).text
            if ref is None:
                ref, ref_kind = clean_hyp, "asr-of-clean"
            else:
                asr_rows[snr]["clean"].append((ref, clean_hyp))
            for m, y in outputs.items():
                asr_rows[snr][m].append((ref, transcriber.transcribe(y).text))
        if progress is not None:
            progress((i + 1) / len(pairs), f"scored {i + 1}/{len(pairs)} ({pair.name})")
        log.info("%s snr %.0f dB done", pair.name, snr)
    table = {snr: {m: {k: _nanmean(v) for k, v in r.items()} for m, r in ms.items()}
             for snr, ms in sorted(rows.items())}
    overall: dict[str, dict[str, float]] = {}
    for m in fns:
        acc = defaultdict(list)
        for ms in rows.values():
            for k, v in ms[m].items():
                acc[k].extend(v)
        overall[m] = {k: _nanmean(v) for k, v in acc.items()}
    result: dict[str, Any] = {
        "data": str(folder), "split": split, "files": len(pairs),
        "languages": list(languages) if languages else None,
        "speakers": list(speakers) if speakers else None,
        "counts": {snr: len(ms[next(iter(fns))]["si_sdr"]) for snr, ms in sorted(rows.items())},
        "methods": list(fns), "table": table, "overall": overall,
        "rtf": {m: timing[m] / max(audio_seconds, 1e-9) for m in fns},
        "audio_seconds": audio_seconds,
    }
    if transcriber is not None:
        from discovervoice.eval.cer import error_rates

        asr: dict[Any, dict[str, dict[str, float]]] = {}
        for snr, ms in sorted(asr_rows.items()):
            asr[snr] = {}
            for m, pairs_ in ms.items():
                refs = [r for r, _ in pairs_ if r.strip()]
                hyps = [h for r, h in pairs_ if r.strip()]
                if refs:
                    e = error_rates(refs, hyps)
                    asr[snr][m] = {"cer": e["cer"], "wer": e["wer"], "n": len(refs)}
        result["asr"] = {"backend": getattr(transcriber, "backend", "?"),
                         "reference": ref_kind, "table": asr}
    return result


def _asr_language_ok(transcriber, language: str | None) -> bool:
    """Whether the recogniser handles the pair's language (unknown: assume yes)."""
    from discovervoice.transcribe.api import UnsupportedLanguageError

    if not language:
        return True
    try:
        transcriber.check_language(language)
    except UnsupportedLanguageError:
        return False
    return True


def _nanmean(v: list[float]) -> float:
    a = np.asarray(v, np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


_LABELS = {"pesq": "PESQ-WB", "stoi": "STOI", "si_sdr": "SI-SDR (dB)",
           "si_sdri": "SI-SDRi (dB)", "dnsmos": "DNSMOS OVRL"}


def _fmt(x: float, k: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.3f}" if k == "stoi" else f"{x:.2f}"


def to_markdown(result: dict[str, Any]) -> str:
    """Markdown tables (enhancement per SNR, overall, RTF, ASR robustness) of a result."""
    ms = result["methods"]
    keys = [k for k in METRICS if any(k in result["overall"][m] for m in ms)]
    langs = result.get("languages")
    lines = [f"Data: `{result['data']}` ({result['files']} pairs, "
             f"{result['audio_seconds'] / 60:.1f} min"
             + (f"; languages {', '.join(langs)}" if langs else "")
             + (f"; speakers {', '.join(result['speakers'])}*" if result.get("speakers") else "") + ")", "",
             "| SNR (dB) | method | " + " | ".join(_LABELS[k] for k in keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for snr, row in result["table"].items():
        n = result["counts"].get(snr, "")
        for m in ms:
            vals = [_fmt(row[m].get(k, float("nan")), k) for k in keys]
            lines.append(f"| {float(snr):g} (n={n}) | {m} | " + " | ".join(vals) + " |")
    for m in ms:
        vals = [_fmt(result["overall"][m].get(k, float("nan")), k) for k in keys]
        lines.append(f"| all | {m} | " + " | ".join(vals) + " |")
    lines += ["", "Real-time factor on this machine (processing time / audio duration): "
              + ", ".join(f"{m} {result['rtf'][m]:.3f}" for m in ms if m != "noisy"), ""]
    asr = result.get("asr")
    if asr:
        conds = ["clean"] + ms if asr["reference"] == "transcript" else ms
        lines += [f"ASR robustness ({asr['backend']}; reference: "
                  f"{'the transcripts' if asr['reference'] == 'transcript' else 'the recogniser output on the clean speech'}"
                  "), CER / WER:", "",
                  "| SNR (dB) | " + " | ".join(conds) + " |", "|---|" + "---|" * len(conds)]
        for snr, row in asr["table"].items():
            cells = [f"{row[c]['cer']:.3f} / {row[c]['wer']:.3f}" if c in row else "–"
                     for c in conds]
            n = max((c.get("n", 0) for c in row.values()), default=0)
            lines.append(f"| {float(snr):g} (n={n}) | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)

"""Evaluation reports: JSON (machine-readable), Markdown (model cards) and PNG figures.

JSON is written with NaN / inf as ``null`` (strict JSON); every file is written to a
temporary name and renamed. The Markdown builders turn the report dicts of
:mod:`~discovervoice.eval.separation`, :mod:`~discovervoice.eval.conversion`,
:mod:`~discovervoice.eval.cer`, :mod:`~discovervoice.eval.classification` and MOS
scoring into tables that model cards can paste.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from discovervoice.fileio import write_text

METRIC_LABELS = {
    "usdr": "uSDR (dB)", "si_sdr": "SI-SDR (dB)", "sdr": "SDR v4 (dB)", "isr": "ISR (dB)",
    "sir": "SIR (dB)", "sar": "SAR (dB)", "leakage": "leakage (dB, silent ref.)",
    "mcd": "MCD (dB)", "f0_rmse_cents": "F0 RMSE (cents)",
    "raw_pitch_accuracy": "RPA", "raw_chroma_accuracy": "RCA", "overall_accuracy": "OA",
    "voicing_recall": "VR", "voicing_false_alarm": "VFA", "voicing_error": "V/UV err",
    "speaker_similarity": "spk sim", "source_similarity": "spk sim to source",
    "dnsmos_ovrl": "DNSMOS OVRL", "dnsmos_sig": "DNSMOS SIG", "dnsmos_bak": "DNSMOS BAK",
    "dnsmos_p808": "DNSMOS P.808", "utmos": "UTMOS",
    "cer": "CER", "wer": "WER",
}


def _clean(obj: Any) -> Any:
    """Make ``obj`` strict-JSON ready: NaN/inf -> None, numpy -> python, Path -> str."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _write_text(path: Path, text: str) -> Path:
    return write_text(path, text)


def write_json(path: str | Path, report: Mapping) -> Path:
    """Write a report dict as indented strict JSON (NaN -> null)."""
    return _write_text(Path(path), json.dumps(_clean(report), indent=2, allow_nan=False) + "\n")


def fmt(v: Any, digits: int = 2) -> str:
    """A table cell: numbers rounded, None/NaN as an en dash."""
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "–" if not math.isfinite(f) else f"{f:.{digits}f}"


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 2) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(c, digits) if not isinstance(c, str) else c
                                         for c in r) + " |")
    return "\n".join(lines)


def _metric_order(keys: Iterable[str]) -> list[str]:
    order = list(METRIC_LABELS)
    ks = list(dict.fromkeys(keys))
    return sorted(ks, key=lambda k: order.index(k) if k in order else len(order))


def separation_markdown(report: Mapping, figures: Sequence[str | Path] = (),
                        title: str = "Separation evaluation") -> str:
    """Markdown for a separation report (mean and median tables, per-track table)."""
    mean, median, tracks = report["mean"], report["median"], report["tracks"]
    metrics = _metric_order(m for s in mean.values() for m in s)
    out = [f"# {title}", "",
           f"- reference: `{report['reference_dir']}`",
           f"- estimate: `{report['estimate_dir']}`",
           f"- tracks scored: {len(tracks)}", ""]
    for name, agg in (("Mean over tracks", mean), ("Median over tracks", median)):
        out += [f"## {name}", "", md_table(["stem"] + [METRIC_LABELS.get(m, m) for m in metrics],
                                            [[s] + [agg[s].get(m) for m in metrics]
                                             for s in sorted(agg)]), ""]
    out += ["## Per track", ""]
    rows = []
    for t, per in tracks.items():
        for s in sorted(per):
            rows.append([t, s] + [per[s].get(m) for m in metrics])
    out += [md_table(["track", "stem"] + [METRIC_LABELS.get(m, m) for m in metrics], rows), ""]
    if report.get("missing"):
        out += ["Stems with a reference but no estimate (not scored): " + "; ".join(
            f"{t}: {', '.join(v)}" for t, v in report["missing"].items()), ""]
    out += _settings_md(report.get("settings", {}))
    out += _figures_md(figures)
    return "\n".join(out)


def _settings_md(settings: Mapping) -> list[str]:
    if not settings:
        return []
    out = ["## Settings", ""]
    for k, v in settings.items():
        if isinstance(v, Mapping):
            out.append(f"- **{k}**: " + ", ".join(f"{a}={_clean(b)}" for a, b in v.items()))
        else:
            out.append(f"- **{k}**: {_clean(v)}")
    return out + [""]


def _figures_md(figures: Sequence[str | Path]) -> list[str]:
    if not figures:
        return []
    out = ["## Figures", ""]
    for f in figures:
        p = Path(f)
        out.append(f"![{p.stem}]({p.name})")
    return out + [""]


def per_item_markdown(report: Mapping, figures: Sequence[str | Path] = (), *, title: str,
                      items_key: str = "items", summary_key: str = "mean",
                      digits: int = 2) -> str:
    """Markdown for reports of ``{items: {name: {metric: v}}, mean: {metric: v}}``
    (conversion, MOS)."""
    items: Mapping[str, Mapping[str, Any]] = report.get(items_key, {})
    summary: Mapping[str, Any] = report.get(summary_key, {})
    metrics = _metric_order(k for v in items.values() for k, x in v.items()
                            if isinstance(x, (int, float, np.floating)) or x is None)
    out = [f"# {title}", ""]
    for k in ("reference_dir", "estimate_dir", "audio", "model"):
        if k in report:
            out.append(f"- {k.replace('_', ' ')}: `{report[k]}`")
    out += [f"- items: {len(items)}", "", "## Summary", "",
            md_table(["metric", summary_key], [[METRIC_LABELS.get(m, m), summary.get(m)]
                                              for m in metrics if m in summary], digits), "",
            "## Per item", "",
            md_table(["item"] + [METRIC_LABELS.get(m, m) for m in metrics],
                     [[n] + [v.get(m) for m in metrics] for n, v in items.items()], digits), ""]
    out += _settings_md(report.get("settings", {}))
    out += _figures_md(figures)
    return "\n".join(out)


def cer_markdown(report: Mapping, title: str = "Intelligibility (CER / WER)") -> str:
    o = report["overall"]
    out = [f"# {title}", "", f"- utterances: {len(report['utterances'])}",
           f"- normalised text: {report['normalize']}", "",
           md_table(["CER", "WER", "char S/D/I", "word S/D/I"],
                    [[o["cer"], o["wer"],
                      f"{o['char_substitutions']}/{o['char_deletions']}/{o['char_insertions']}",
                      f"{o['word_substitutions']}/{o['word_deletions']}/{o['word_insertions']}"]],
                    3), "", "## Per utterance", "",
           md_table(["id", "CER", "WER", "reference", "hypothesis"],
                    [[i, u["cer"], u["wer"], u["reference"].replace("|", "/"),
                      u["hypothesis"].replace("|", "/")]
                     for i, u in report["utterances"].items()], 3), ""]
    if report.get("missing_hypotheses"):
        out += [f"Missing hypotheses: {', '.join(report['missing_hypotheses'])}", ""]
    return "\n".join(out)


def classification_markdown(report: Mapping, figures: Sequence[str | Path] = (),
                            title: str = "Classification") -> str:
    out = [f"# {title}", "", f"- samples: {report['n']}", f"- classes: {len(report['class_names'])}",
           "", md_table(["accuracy"] + [f"top-{k}" for k in report["top_k_accuracy"]]
                        + ["cross-entropy (nats)"],
                        [[report["accuracy"]] + list(report["top_k_accuracy"].values())
                         + [report["cross_entropy"]]], 3), "",
           "## Recall per class", "",
           md_table(["class", "recall"], list(report["per_class_recall"].items()), 3), ""]
    out += _figures_md(figures)
    return "\n".join(out)


def human_mos_markdown(test: str, systems: Sequence[Any], figures: Sequence[str | Path] = ()) -> str:
    out = [f"# Listening test `{test}` (human MOS)", "",
           md_table(["system", "MOS", "95% CI ±", "ratings", "listeners", "std"],
                    [[s.system, s.mos, s.ci95, s.n, s.listeners, s.std] for s in systems]), ""]
    out += _figures_md(figures)
    return "\n".join(out)


def write_report(out_dir: str | Path, name: str, report: Mapping, markdown: str) -> tuple[Path, Path]:
    """Write ``<out_dir>/<name>.json`` and ``<out_dir>/<name>.md``; returns both paths."""
    d = Path(out_dir)
    return write_json(d / f"{name}.json", report), _write_text(d / f"{name}.md", markdown)

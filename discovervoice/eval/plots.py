"""PNG figures of evaluation reports (matplotlib, Agg canvas, no pyplot global state).

Each function draws one figure on a fresh :class:`matplotlib.figure.Figure` and writes it
atomically (temporary file, then rename). Spectrograms use librosa's STFT in dB.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from discovervoice.fileio import atomic_path


def new_figure(width: float = 8.0, height: float = 4.5, nrows: int = 1, ncols: int = 1,
               **kw):
    """A figure on an Agg canvas and its axes (``plt.subplots`` without pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=True, **kw)
    return fig, axes


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically; returns the path."""
    p = Path(path)
    with atomic_path(p) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return p


def plot_track_bars(tracks: Mapping[str, Mapping[str, Mapping[str, float]]], metric: str,
                    path: str | Path, *, title: str | None = None,
                    label: str | None = None) -> Path:
    """Grouped bars: one group per track, one bar per stem, height = ``metric``.

    Args:
        tracks: ``{track: {stem: {metric: value}}}`` (a separation report's ``tracks``).
        metric: e.g. ``"usdr"``, ``"sdr"``.
        label: y-axis label (default: the metric's name and unit).
    """
    from discovervoice.eval.report import METRIC_LABELS

    names = list(tracks)
    stems = sorted({s for t in tracks.values() for s in t if metric in t[s]})
    width = max(6.0, min(20.0, 1.0 + 0.45 * len(names) * max(1, len(stems))))
    fig, ax = new_figure(width, 4.8)
    bw = 0.8 / max(1, len(stems))
    x = np.arange(len(names))
    for i, s in enumerate(stems):
        vals = [tracks[n].get(s, {}).get(metric, np.nan) for n in names]
        vals = [np.nan if v is None else v for v in vals]
        ax.bar(x + (i - (len(stems) - 1) / 2) * bw, vals, bw, label=s)
        mean = np.nanmean(vals) if np.isfinite(vals).any() else np.nan
        if np.isfinite(mean):
            ax.axhline(mean, color=f"C{i}", lw=1, ls="--")
    ax.set_xticks(x, labels=names, rotation=45 if len(names) > 4 else 0, ha="right"
                  if len(names) > 4 else "center", fontsize=8)
    name = label or METRIC_LABELS.get(metric, metric)
    ax.set_ylabel(name)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_title(title or f"{name} per track (dashed: mean over tracks)")
    ax.grid(axis="y", alpha=0.3)
    if stems:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path)


def plot_metric_summary(summaries: Mapping[str, Mapping[str, Mapping[str, float]]], metric: str,
                        path: str | Path, *, title: str | None = None) -> Path:
    """Bars of mean ``metric`` per stem for several systems (``{system: {stem: {m: v}}}``)."""
    systems = list(summaries)
    stems = sorted({s for v in summaries.values() for s in v})
    fig, ax = new_figure(max(6.0, 1.5 + 1.2 * len(stems) * max(1, len(systems)) / 2), 4.5)
    bw = 0.8 / max(1, len(systems))
    x = np.arange(len(stems))
    for i, sysname in enumerate(systems):
        vals = [summaries[sysname].get(s, {}).get(metric, np.nan) for s in stems]
        vals = [np.nan if v is None else float(v) for v in vals]  # JSON null -> NaN
        bars = ax.bar(x + (i - (len(systems) - 1) / 2) * bw, vals, bw, label=sysname)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    from discovervoice.eval.report import METRIC_LABELS

    ax.set_xticks(x, labels=stems)
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.axhline(0, color="black", lw=0.6)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"mean {metric} per stem")
    return save_figure(fig, path)


def plot_f0_contours(contours: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path,
                     *, title: str = "F0 contours") -> Path:
    """F0 contours on a log-frequency axis; unvoiced frames (0 Hz) are gaps.

    Args:
        contours: ``{label: (times_s ndarray[N], f0_hz ndarray[N])}``.
    """
    styles = {"reference": dict(color="C0", lw=2.2, alpha=0.6),
              "converted": dict(color="C3", lw=1.0),
              "source": dict(color="0.45", lw=0.9, ls=":")}
    fig, ax = new_figure(9.0, 4.0)
    for i, (label, (t, f)) in enumerate(contours.items()):
        f = np.asarray(f, dtype=np.float64).copy()
        f[f <= 0] = np.nan
        style = styles.get(label, dict(lw=1.4 if i == 0 else 1.0, alpha=0.9))
        ax.plot(t, f, label=label, **style)
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("F0 (Hz)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return save_figure(fig, path)


def plot_spectrograms(signals: Mapping[str, tuple[np.ndarray, int]], path: str | Path, *,
                      title: str = "", n_fft: int = 2048, max_seconds: float | None = 30.0,
                      fmax: float | None = None) -> Path:
    """Stacked log-magnitude spectrograms (dB, common colour scale), one row per signal.

    Args:
        signals: ``{label: (audio ndarray[C, T] or [T], sample_rate)}``; channels averaged.
        max_seconds: only the first seconds are drawn.
        fmax: upper frequency shown (Hz); default Nyquist.
    """
    import librosa

    specs = []
    for label, (a, sr) in signals.items():
        x = np.asarray(a, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=0)
        if max_seconds is not None:
            x = x[: int(max_seconds * sr)]
        hop = n_fft // 4
        s = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop))
        specs.append((label, librosa.amplitude_to_db(s, ref=1.0, top_db=None), sr, hop))
    vmax = max(float(s.max()) for _, s, _, _ in specs) if specs else 0.0
    n = len(specs)
    fig, axes = new_figure(10.0, 2.4 * n + 0.6, nrows=n, ncols=1, sharex=True)
    axes = np.atleast_1d(axes)
    im = None
    for ax, (label, s, sr, hop) in zip(axes, specs):
        dur = s.shape[1] * hop / sr
        im = ax.imshow(s, origin="lower", aspect="auto", cmap="magma", vmin=vmax - 80, vmax=vmax,
                       extent=(0, dur, 0, sr / 2))
        ax.set_ylim(0, fmax or sr / 2)
        ax.set_ylabel("Hz")
        ax.set_title(label, fontsize=9)
    axes[-1].set_xlabel("time (s)")
    if im is not None:
        fig.colorbar(im, ax=list(axes), label="dB", fraction=0.03)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_mos(systems: Sequence[tuple[str, float, float]], path: str | Path, *,
             title: str = "MOS (95 % confidence interval)", ylim: tuple[float, float] = (1, 5),
             ylabel: str = "MOS") -> Path:
    """Bars with error bars: ``[(system, mean, ci95_half_width)]``."""
    fig, ax = new_figure(max(5.0, 1.0 + 0.9 * len(systems)), 4.0)
    names = [s[0] for s in systems]
    means = [s[1] for s in systems]
    cis = [0.0 if (s[2] is None or not math.isfinite(s[2])) else s[2] for s in systems]
    bars = ax.bar(range(len(names)), means, yerr=cis, capsize=4, color="C0")
    ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=8)
    ax.set_xticks(range(len(names)), labels=names, rotation=30 if len(names) > 4 else 0)
    ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title)
    return save_figure(fig, path)


def plot_values(values: Mapping[str, float], path: str | Path, *, ylabel: str,
                title: str = "") -> Path:
    """Simple bars of ``{label: value}`` (per-file MCD, CER...)."""
    fig, ax = new_figure(max(5.0, 1.0 + 0.5 * len(values)), 4.0)
    names = list(values)
    vals = [np.nan if values[k] is None else values[k] for k in names]
    ax.bar(range(len(names)), vals, color="C1")
    ax.set_xticks(range(len(names)), labels=names, rotation=45 if len(names) > 4 else 0,
                  ha="right" if len(names) > 4 else "center", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title)
    return save_figure(fig, path)

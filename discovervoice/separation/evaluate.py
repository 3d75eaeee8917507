"""Score separators on a MUSDB-layout split: vocals and accompaniment uSDR and SI-SDR.

Metrics come from :mod:`discovervoice.eval.separation` (uSDR of the MDX challenge, SI-SDR
of Le Roux et al. 2019, the oracle ideal ratio mask of sigsep-mus-oracle). Two baselines
frame the models: ``mixture`` (every stem estimated by the mixture: the floor) and ``irm``
(the oracle ideal ratio mask, IRM2 with a 4096-point STFT: what a perfect masking model
reaches). Each value is the mean over songs; the table also reports how far each model
goes from the mixture baseline to the oracle (``0 %`` = mixture, ``100 %`` = IRM).

Leakage (:func:`discovervoice.eval.separation.leakage_db`): songs whose vocals stem is
digital silence throughout (instrumentals) are left out of the uSDR / SI-SDR means (the
vocals' are undefined there, and the mixture itself would score ~100 dB as accompaniment)
and scored by ``vocals_leakage`` instead: the estimated vocals' energy
relative to the mixture, dB, mean over those songs (lower is better; the mixture scores
0 dB). ``vocals_passage_leakage`` is the same over the silent 1-s windows of the songs
that do have vocals (instrumental passages). NaN when a data set has no such song or
passage.

Songs: ``DATA/<song>/`` with ``vocals`` and ``drums``/``bass``/``other`` stems (the corpus'
``songs/test``) or ``vocals`` + ``accompaniment`` (the corpus' ``real_songs``); the mixture
is ``mixture.wav`` when present, else the sum of the stems; accompaniment = drums + bass +
other unless given.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from discovervoice.separation import repet

STEMS = ("vocals", "accompaniment")
BASELINES = ("mixture", "irm")
#: Training-free separators scored like models (``repet-sim``: :mod:`~discovervoice.separation.repet`).
TRAINING_FREE = (repet.NAME,)


@dataclass
class EvalTable:
    """``rows[model] = {"vocals_usdr", "vocals_si_sdr", "accompaniment_usdr", ...,
    "vocals_leakage", "vocals_passage_leakage", "rtf"}``; ``silent_songs``: the songs whose
    vocals are digital silence."""

    data: str
    songs: list[str]
    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    silent_songs: list[str] = field(default_factory=list)

    def progress_to_oracle(self, model: str, key: str = "vocals_usdr") -> float:
        lo, hi = self.rows["mixture"][key], self.rows["irm"][key]
        if lo != lo or hi != hi:
            return float("nan")
        return (self.rows[model][key] - lo) / (hi - lo) if hi != lo else float("nan")

    def markdown(self) -> str:
        have_base = all(b in self.rows for b in BASELINES)
        head = ("| estimate | vocals uSDR | vocals SI-SDR | accomp. uSDR | accomp. SI-SDR |"
                + (" mixture→IRM (vocals uSDR) |" if have_base else "")
                + " vocals leakage, vocal-free songs | vocals leakage, silent passages |"
                + " CPU RTF |")
        n_voc = len(self.songs) - len(self.silent_songs)
        lines = [f"{len(self.songs)} songs of `{self.data}` ({n_voc} with vocals, "
                 f"{len(self.silent_songs)} vocal-free); dB, mean over songs (uSDR / SI-SDR of "
                 "the vocals over the songs with vocals; leakage: estimated vocals' energy "
                 "relative to the mixture where the true vocals are digital silence, lower is "
                 "better).", "", head, "|---" * (head.count("|") - 1) + "|"]
        f2 = lambda v: "–" if v is None or v != v else f"{v:.2f}"  # noqa: E731
        for name, r in self.rows.items():
            cells = [f2(r.get('vocals_usdr')), f2(r.get('vocals_si_sdr')),
                     f2(r.get('accompaniment_usdr')), f2(r.get('accompaniment_si_sdr'))]
            if have_base:
                p = self.progress_to_oracle(name)
                cells.append("–" if p != p else f"{100 * p:.0f} %")
            cells += [f2(r.get("vocals_leakage")), f2(r.get("vocals_passage_leakage"))]
            cells.append(f"{r['rtf']:.3f}" if r.get("rtf") == r.get("rtf") and "rtf" in r else "–")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"data": self.data, "songs": self.songs, "silent_songs": self.silent_songs,
                "rows": self.rows}


def _load_refs(folder: Path, max_seconds: float | None) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    from discovervoice.eval.separation import load_reference_track

    ref = load_reference_track(folder)
    sr = ref.sample_rate
    n = ref.mixture.shape[1] if max_seconds is None else min(ref.mixture.shape[1], int(max_seconds * sr))
    stems = {k: v[:, :n].astype(np.float32) for k, v in ref.stems.items()}
    mix = ref.mixture[:, :n].astype(np.float32)
    if "accompaniment" not in stems:
        stems["accompaniment"] = sum(stems[k] for k in ("drums", "bass", "other") if k in stems)
    return mix, stems, sr


def evaluate_models(models: Sequence[Any], data: str | os.PathLike, *,
                    max_seconds: float | None = None,
                    progress: Callable[[float, str], None] | None = None,
                    separator_kwargs: dict | None = None, max_songs: int | None = None,
                    instrumental: bool = False) -> EvalTable:
    """Evaluate baselines and models on every song folder of ``data``.

    Args:
        models: names (``mixture``, ``irm``, ``repet-sim``, registry names, checkpoint
            paths, ``ensemble``, ``ensemble:METHOD``) or ready :class:`~discovervoice.separation.api.Separator`\\ s.
        data: folder of song folders.
        max_seconds: only the first seconds of each song.
        max_songs: only the first songs (sorted by name).
        instrumental: also score every song with its vocals taken out (mixture =
            accompaniment, vocals = digital silence; named ``<song>#instrumental``), so
            that data sets without vocal-free songs (the synthetic test split) get a
            vocals-leakage value.

    Returns:
        :class:`EvalTable`.

    Raises:
        DataError: no songs.
    """
    from discovervoice.eval.separation import (ideal_ratio_mask, leakage_db, list_tracks,
                                               reference_is_silent, si_sdr, usdr)
    from discovervoice.separation.api import Separator

    from discovervoice.separation.api import DEFAULT_ENSEMBLE
    from discovervoice.separation.ensemble import combine

    tracks = list_tracks(data)[:max_songs] if max_songs else list_tracks(data)
    jobs = [(t, False) for t in tracks] + ([(t, True) for t in tracks] if instrumental else [])
    table = EvalTable(str(data), [t.name + ("#instrumental" if i else "") for t, i in jobs])
    # member outputs and times, so that ensembles of already evaluated models are combined
    # from them instead of separating again (the same computation)
    cache: dict[tuple[str, str], tuple[dict[str, np.ndarray], float]] = {}
    for mi, m in enumerate(models):
        label = m if isinstance(m, str) else getattr(m, "name", str(m))
        sep = None
        method = None
        if isinstance(m, Separator):
            sep = m
        elif m not in BASELINES and m not in TRAINING_FREE:
            if isinstance(m, str) and m.startswith("ensemble"):
                method = m.split(":", 1)[1] if ":" in m else "average"
                if not all((mem, jobs[0][0].name) in cache for mem in DEFAULT_ENSEMBLE):
                    sep = Separator("ensemble", stems=("vocals",), method=method,
                                    **(separator_kwargs or {}))
            else:
                sep = Separator(m, stems=("vocals",), **(separator_kwargs or {}))
        acc: dict[str, list[float]] = {}
        elapsed, dur = 0.0, 0.0
        for ti, (t, instr) in enumerate(jobs):
            name = t.name + ("#instrumental" if instr else "")
            mix, refs, sr = _load_refs(t, max_seconds)
            if instr:
                mix = refs["accompaniment"].copy()
                refs = {k: v for k, v in refs.items() if k != "vocals"}
                refs["vocals"] = np.zeros_like(mix)
            t0 = time.perf_counter()
            if m == "mixture":
                est = {s: mix for s in STEMS}
            elif m == "irm":
                parts = {k: refs[k] for k in ("vocals", "drums", "bass", "other") if k in refs}
                if len(parts) == 1:   # a two-stem song (vocals + accompaniment)
                    parts["accompaniment"] = refs["accompaniment"]
                est = ideal_ratio_mask(parts, mix)
                if "accompaniment" not in est:
                    est["accompaniment"] = sum(est[k] for k in parts if k != "vocals")
            elif m == repet.NAME:
                est = repet.repet_sim(mix, sr)
            elif sep is None and method is not None:  # ensemble from cached members
                members = [cache[(mem, name)] for mem in DEFAULT_ENSEMBLE]
                est = {s: combine([mo[0][s] for mo in members], None, method, mix, sample_rate=sr)
                       for s in STEMS}
                elapsed += sum(mo[1] for mo in members)
            else:
                est = sep.separate(mix, sample_rate=sr)
                if isinstance(m, str):
                    cache[(m, name)] = (est, time.perf_counter() - t0)
            elapsed += time.perf_counter() - t0
            dur += mix.shape[1] / sr
            silent = reference_is_silent(refs["vocals"])
            if silent and mi == 0:
                table.silent_songs.append(name)
            for s in STEMS:
                if silent:   # vocals undefined; accompaniment = the mixture, uSDR ~100 dB
                    continue
                acc.setdefault(f"{s}_usdr", []).append(usdr(refs[s], est[s]))
                acc.setdefault(f"{s}_si_sdr", []).append(si_sdr(refs[s], est[s]))
            leak = leakage_db(refs["vocals"], est["vocals"], mix, sr)
            acc.setdefault("vocals_leakage" if silent else "vocals_passage_leakage",
                           []).append(leak)
            if progress is not None:
                progress((mi + (ti + 1) / len(jobs)) / len(models), f"{label}: {name}")
        row = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
               for k, v in acc.items()}
        for k in ("vocals_usdr", "vocals_si_sdr", "accompaniment_usdr", "accompaniment_si_sdr",
                  "vocals_leakage", "vocals_passage_leakage"):
            row.setdefault(k, float("nan"))
        row["rtf"] = elapsed / dur if m not in BASELINES else float("nan")
        table.rows[str(label)] = row
    return table

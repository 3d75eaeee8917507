"""The scoring of a voice conversion, and its evaluation over folders of recordings.

:func:`score_conversion` is the one scoring of a converted signal; every conversion score
in DiscoverVoice comes from it: :func:`evaluate_conversion` (``discovervoice eval
conversion``), :func:`discovervoice.convert.evaluate.evaluate_parallel` (``discovervoice
voice evaluate``) and :func:`discovervoice.pipeline.score_cover` (the app's main job).
The callers choose what they pass (a ground truth, the source, a target speaker) and
name the results in their own reports.

For each converted file ``ESTIMATE/<name>.<ext>`` whose reference ``REFERENCE/<name>.*``
exists (the target voice singing or speaking the same content — the corpus's parallel
voices), the metrics are:

* **MCD** (:mod:`discovervoice.eval.mcd`, DTW-aligned, c0 excluded by default);
* **F0** (:mod:`discovervoice.eval.f0`): RMSE in cents, raw pitch / chroma accuracy,
  voicing recall / false alarm / error, after an optional transposition of the reference;
* **speaker similarity** (:mod:`discovervoice.eval.speaker`): cosine between the
  converted file's embedding and the target speaker's (the reference file, or the mean
  embedding of every clip in ``speaker_reference``); with ``source_dir``, also the
  similarity to the *source* speaker, which a good conversion lowers;
* optionally a neural MOS (:mod:`discovervoice.eval.mos`, DNSMOS or UTMOS), always named
  by its model.

Files are matched by name without extension; audio is read at its own rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from discovervoice.errors import AudioError, DataError
from discovervoice.progress import Progress

log = logging.getLogger(__name__)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def audio_files(folder: str | Path) -> dict[str, Path]:
    """``{name without extension: path}`` of the audio files in ``folder`` (recursive;
    names are paths relative to the folder, ``/``-separated).

    A single file gives ``{stem: path}``.

    Raises:
        DataError: missing folder or no audio file.
    """
    p = Path(folder)
    if p.is_file():
        return {p.stem: p}
    if not p.is_dir():
        raise DataError(f"{p}: not a file or folder")
    out = {}
    for f in sorted(p.rglob("*")):
        if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES and not f.name.startswith("."):
            out.setdefault(f.relative_to(p).with_suffix("").as_posix(), f)
    if not out:
        raise DataError(f"{p}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return out


def _mean(items: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    keys = {k for v in items.values() for k, x in v.items() if isinstance(x, (int, float))}
    out = {}
    for k in sorted(keys):
        vals = np.array([float(v[k]) for v in items.values()
                         if isinstance(v.get(k), (int, float))], dtype=np.float64)
        out[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    return out


@dataclass
class ConversionScores:
    """What :func:`score_conversion` measured (absent entries were not asked for).

    Attributes:
        mcd: ``{"converted" | "source": MCDResult}`` — mel-cepstral distortion against the
            ground truth (dB, :func:`discovervoice.eval.mcd.mcd`).
        similarity: ``{"converted" | "source" | "truth": cosine}`` — speaker similarity of
            each signal to the target speaker.
        converted_to_source: cosine between the converted and the source speaker, or
            ``None``.
        f0: :func:`discovervoice.eval.f0.f0_metrics` of the converted F0 against the
            reference signal's F0 (transposed by ``shift_semitones``).
        mos: ``{"converted" | "source" | "truth": {metric: value}}`` — the MOS scorer's
            output per signal.
        reference_f0, converted_f0: the two contours compared.
    """

    mcd: dict[str, Any] = field(default_factory=dict)
    similarity: dict[str, float] = field(default_factory=dict)
    converted_to_source: float | None = None
    f0: dict[str, float] = field(default_factory=dict)
    mos: dict[str, dict[str, float]] = field(default_factory=dict)
    reference_f0: Any = None
    converted_f0: Any = None


def score_conversion(converted: np.ndarray, sample_rate: int, *, source: np.ndarray | None = None,
                     truth: np.ndarray | None = None, f0_reference: str = "truth",
                     f0_method: str = "harvest", shift_semitones: float = 0.0,
                     encoder: Any = None, target: np.ndarray | None = None, mos: Any = None,
                     baselines: Sequence[str] = (), similarity_to_source: bool = False,
                     mcd_mode: str = "default", include_c0: bool = False,
                     progress: Progress | None = None) -> ConversionScores:
    """Score one converted signal.

    Args:
        converted: the conversion, ``ndarray[T]`` or ``[C, T]`` at ``sample_rate`` Hz.
        sample_rate: the rate of every signal passed, Hz.
        source: the unconverted input at ``sample_rate`` (or ``None``).
        truth: the target voice's own rendition of the same content (or ``None``).
        f0_reference: whose F0 the converted F0 must follow, ``"source"`` or ``"truth"``.
        f0_method: ``"harvest"`` or ``"dio"`` (:func:`discovervoice.eval.f0.f0_contour`).
        shift_semitones: the conversion's transposition (the reference F0 is shifted).
        encoder: a speaker encoder (``.embed(audio, sr)``, :mod:`discovervoice.eval.speaker`)
            or ``None`` (no similarity).
        target: the target speaker's embedding; ``None``: the embedding of ``truth``.
        mos: a MOS scorer (``.score(audio, sr) -> dict``, :mod:`discovervoice.eval.mos`) or
            ``None``.
        baselines: which of ``"source"`` / ``"truth"`` are scored like the conversion
            (MCD against the truth for the source, similarity to the target, MOS).
        similarity_to_source: also the converted-to-source speaker similarity.
        mcd_mode, include_c0: see :func:`discovervoice.eval.mcd.mcd`.
        progress: called as ``progress(fraction, what)`` before each metric.

    Returns:
        :class:`ConversionScores`.

    Raises:
        DataError: ``f0_reference`` is not ``"source"`` / ``"truth"`` or names a signal
            that was not passed; an unknown baseline.
        AudioError: a signal of the wrong shape or with NaN / infinite samples.
    """
    from discovervoice.eval import f0 as f0m
    from discovervoice.eval import mcd as mcdm
    from discovervoice.eval import speaker as spk

    given = {"converted": converted, "source": source, "truth": truth}
    if f0_reference not in ("source", "truth") or given[f0_reference] is None:
        raise DataError(f"score_conversion: the F0 reference {f0_reference!r} must be 'source' or "
                        "'truth', and that signal must be passed")
    unknown = sorted(set(baselines) - {"source", "truth"})
    if unknown:
        raise DataError(f"score_conversion: unknown baselines {unknown}; use 'source' / 'truth'")
    names = ["converted"] + [b for b in baselines if given[b] is not None]
    say = progress or (lambda f, m: None)
    out = ConversionScores()
    if truth is not None:
        say(0.0, "MCD")
        for n in (n for n in names if n != "truth"):
            out.mcd[n] = mcdm.mcd(truth, given[n], sample_rate, mode=mcd_mode, include_c0=include_c0)
    if encoder is not None:
        say(0.1, "speaker similarity")
        t = target if target is not None else encoder.embed(truth, sample_rate)
        embs = {n: encoder.embed(given[n], sample_rate) for n in names}
        out.similarity = {n: spk.cosine_similarity(e, t) for n, e in embs.items()}
        if similarity_to_source and source is not None:
            out.converted_to_source = spk.cosine_similarity(
                embs["converted"], encoder.embed(source, sample_rate))
    say(0.4, "F0 accuracy")
    out.reference_f0 = f0m.f0_contour(given[f0_reference], sample_rate, method=f0_method)
    out.converted_f0 = f0m.f0_contour(converted, sample_rate, method=f0_method)
    out.f0 = f0m.f0_metrics(out.reference_f0, out.converted_f0, shift_semitones=shift_semitones)
    if mos is not None:
        say(0.7, "MOS")
        out.mos = {n: mos.score(given[n], sample_rate) for n in names}
    say(1.0, "scored")
    return out


def _score_item(ref_path: Path, est_path: Path, src_path: Path | None, *, encoder: Any,
                target_emb: np.ndarray | None, scorer: Any, mcd_mode: str, include_c0: bool,
                f0_method: str, shift_semitones: float,
                keep_contours: bool) -> tuple[dict[str, Any], dict]:
    """Every metric of one converted file (:func:`score_conversion` against the reference
    file as truth); returns ``(row, contours or {})``."""
    from discovervoice import audio as dva
    from discovervoice.eval import f0 as f0m

    r, sr = dva.read(ref_path)
    e, sr_e = dva.read(est_path)
    if sr_e != sr:
        e = dva.resample(e, sr_e, sr)
    src = dva.read(src_path) if src_path is not None else None
    src_at_sr = None
    if src is not None and encoder is not None:
        src_at_sr = src[0] if src[1] == sr else dva.resample(src[0], src[1], sr)
    s = score_conversion(e, sr, truth=r, source=src_at_sr, f0_reference="truth", f0_method=f0_method,
                         shift_semitones=shift_semitones, encoder=encoder, target=target_emb,
                         mos=scorer, similarity_to_source=src_at_sr is not None,
                         mcd_mode=mcd_mode, include_c0=include_c0)
    res = s.mcd["converted"]
    row: dict[str, Any] = {"mcd": res.mcd, "mcd_frames": res.frames,
                           "_mcd_settings": res.settings}
    row.update(s.f0)
    if encoder is not None:
        row["speaker_similarity"] = s.similarity["converted"]
        if s.converted_to_source is not None:
            row["source_similarity"] = s.converted_to_source
    if scorer is not None:
        row.update(s.mos["converted"])
    contours: dict = {}
    if keep_contours:
        cr, ce = s.reference_f0, s.converted_f0
        contours = {"reference": (cr.times, cr.f0 * 2 ** (shift_semitones / 12)),
                    "converted": (ce.times, ce.f0)}
        if src is not None:
            cs = f0m.f0_contour(src[0], src[1], method=f0_method)
            contours["source"] = (cs.times, cs.f0)
    return row, contours


def evaluate_conversion(reference: str | Path, estimate: str | Path, *,
                        source: str | Path | None = None,
                        speaker_reference: str | Path | None = None,
                        shift_semitones: float = 0.0, mcd_mode: str = "default",
                        include_c0: bool = False, f0_method: str = "harvest",
                        speaker_encoder: str | None = "resemblyzer",
                        mos_model: str | None = None, keep_contours: int = 0,
                        speaker_checkpoint: str | Path | None = None,
                        mos_checkpoint: str | Path | None = None,
                        progress: Progress | None = None) -> dict:
    """Score converted files against references.

    Args:
        reference: folder (or file) of target-voice recordings.
        estimate: folder (or file) of converted recordings, same names.
        source: optional folder of the source recordings (for source similarity).
        speaker_reference: optional folder of target-speaker clips for the speaker
            embedding (default: each reference file).
        shift_semitones: transposition applied by the conversion (reference F0 is shifted).
        mcd_mode, include_c0: see :func:`discovervoice.eval.mcd.mcd`.
        f0_method: ``"harvest"`` or ``"dio"``.
        speaker_encoder: ``"resemblyzer"``, ``"ecapa"`` or ``None`` (skip).
        mos_model: ``"dnsmos"``, ``"utmos"`` or ``None``.
        speaker_checkpoint, mos_checkpoint: local checkpoints for ECAPA / UTMOS instead of
            the registry cache.
        keep_contours: keep the F0 contours of the first N items (for plots) under
            ``"_contours"`` (not JSON; removed by the report writer).

    Returns:
        ``{"kind": "conversion", "items": {name: {metric: value}}, "mean": {...},
        "settings": {...}, "unmatched": [...]}``.

    Raises:
        DataError: no converted file matches a reference.
        WeightsError: the ECAPA / UTMOS weights cannot be loaded.
    """
    from discovervoice import audio as dva
    from discovervoice.eval import f0 as f0m
    from discovervoice.eval import speaker as spk

    refs = audio_files(reference)
    ests = audio_files(estimate)
    if Path(reference).is_file() and Path(estimate).is_file():
        refs = {"item": Path(reference)}
        ests = {"item": Path(estimate)}
    names = [n for n in ests if n in refs]
    if not names:
        raise DataError(f"{estimate}: no converted file has a reference of the same name in "
                        f"{reference}")
    srcs = audio_files(source) if source is not None else {}
    encoder = (spk.get_encoder(speaker_encoder, checkpoint=speaker_checkpoint)
               if speaker_encoder else None)
    target_emb = None
    if encoder is not None and speaker_reference is not None:
        clips = [dva.read(p) for p in audio_files(speaker_reference).values()]
        target_emb = encoder.embed_many(clips)
    scorer = None
    if mos_model:
        from discovervoice.eval.mos import get_scorer

        scorer = get_scorer(mos_model, checkpoint=mos_checkpoint)
    items: dict[str, dict[str, Any]] = {}
    contours: dict[str, dict] = {}
    mcd_settings: dict = {}
    for i, name in enumerate(names):
        try:
            row, c = _score_item(refs[name], ests[name], srcs.get(name), encoder=encoder,
                                 target_emb=target_emb, scorer=scorer, mcd_mode=mcd_mode,
                                 include_c0=include_c0, f0_method=f0_method,
                                 shift_semitones=shift_semitones,
                                 keep_contours=i < keep_contours)
        except AudioError as exc:
            if exc.path is not None:
                raise
            raise AudioError(f"{exc} (scoring {name})", ests[name]) from exc
        mcd_settings = row.pop("_mcd_settings")
        items[name] = row
        if c:
            contours[name] = c
        if progress is not None:
            progress((i + 1) / len(names), f"{name} ({i + 1}/{len(names)})")
    settings = {"mcd": mcd_settings,
                "f0": {"method": f"pyworld {f0_method}", "hop_s": f0m.DEFAULT_HOP_S,
                       "range_hz": [f0m.F0_FLOOR_HZ, f0m.F0_CEIL_HZ],
                       "shift_semitones": shift_semitones, "metrics": "mir_eval.melody",
                       "cent_tolerance": 50},
                "speaker": {"encoder": getattr(encoder, "name", None),
                            "target": "speaker_reference clips (mean embedding)"
                            if target_emb is not None else "each reference file"},
                "mos": getattr(scorer, "name", None)}
    out = {"kind": "conversion", "reference_dir": str(reference), "estimate_dir": str(estimate),
           "items": items, "mean": _mean(items), "settings": settings,
           "unmatched": sorted(set(ests) - set(refs))}
    if contours:
        out["_contours"] = contours
    return out


def score_mos(paths: Sequence[Path] | Mapping[str, Path], model: str = "dnsmos",
              progress: Progress | None = None,
              checkpoint: str | Path | None = None) -> dict:
    """Neural MOS of audio files: ``{"kind": "mos", "model", "items", "mean"}``.

    Args:
        paths: files, or ``{name: path}``.
        model: ``"dnsmos"`` or ``"utmos"`` (registry weights, or ``checkpoint``).

    Raises:
        WeightsUnavailableError: UTMOS weights missing offline.
    """
    from discovervoice import audio as dva
    from discovervoice.eval.mos import get_scorer

    files = dict(paths) if isinstance(paths, Mapping) else {Path(p).stem: Path(p) for p in paths}
    if not files:
        raise DataError("no audio files to score")
    scorer = get_scorer(model, checkpoint=checkpoint)
    items = {}
    for i, (name, p) in enumerate(files.items()):
        a, sr = dva.read(p)
        try:
            items[name] = scorer.score(a, sr)
        except AudioError as exc:
            raise AudioError(str(exc), p) from exc
        if progress is not None:
            progress((i + 1) / len(files), f"{name} ({i + 1}/{len(files)})")
    return {"kind": "mos", "model": scorer.name, "items": items, "mean": _mean(items),
            "settings": {"model": scorer.name,
                         "note": "DNSMOS P.835/P.808 (speechmos ONNX)" if model == "dnsmos"
                         else "UTMOS22 strong learner (registry utmos22_strong)"}}

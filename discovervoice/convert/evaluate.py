"""Evaluation of voice conversion on the corpus' parallel sets (the issue's done-when).

``discovervoice voice evaluate CORPUS --voices DIR`` (:func:`evaluate_parallel`):

1. a voice is trained (:func:`~discovervoice.convert.voice.train_voice`, default recipe)
   for every voice in ``CORPUS/parallel/<split>/voices/`` that ``DIR`` does not hold yet;
   its training time is recorded; voices trained before the GV post-filter or the envelope
   retrieval (:mod:`discovervoice.convert.world`) get their data from their cached features;
2. every set ``CORPUS/parallel/<split>/sets/<set>/`` holds the same phrase sung by several
   voices; each recording is converted into every *other* voice of the set with
   ``transpose`` = the difference of the two renditions' whole-octave transpositions
   (median MIDI pitch of their ``.notes.json``), and compared with the other voice's
   real rendition (the ground truth), scored by
   :func:`discovervoice.eval.conversion.score_conversion`:

   * **MCD** (``discovervoice.eval.mcd``, DTW, c1..c24 at 16 kHz) of converted vs truth and
     of the unconverted source vs truth;
   * **speaker similarity** (resemblyzer GE2E cosine, ``discovervoice.eval.speaker``) to
     the target voice's mean embedding over its training audio, for the converted audio,
     the source and the truth; ``gap_closed = (sim_conv - sim_src) / (sim_truth - sim_src)``;
   * **raw pitch accuracy** (``discovervoice.eval.f0.f0_metrics``, 50 cents) of the
     converted F0 against the source F0 transposed by ``transpose`` (both Harvest);
   * **DNSMOS** overall (``discovervoice.eval.mos.DNSMOS``) of converted and truth.

3. a linear speaker probe (:func:`~discovervoice.convert.content.speaker_probe`) on the
   content features vs log-mel frames of the evaluation voices' training audio.

The ``test`` split holds only voices reserved for evaluation, which no default model was
trained on.
"""

from __future__ import annotations

import json
import logging
import time
from itertools import permutations
from pathlib import Path
from typing import Any

import numpy as np

from discovervoice.convert.f0 import DEFAULT_F0_METHOD
from discovervoice.errors import DataError
from discovervoice.progress import Progress

log = logging.getLogger(__name__)


def _median_midi(path: Path) -> float | None:
    if not path.exists():
        return None
    notes = json.loads(path.read_text())
    return float(np.median([n[2] for n in notes])) if notes else None


def _set_transpose(src: Path, dst: Path) -> int:
    a, b = _median_midi(src.with_suffix(".notes.json")), _median_midi(dst.with_suffix(".notes.json"))
    if a is None or b is None:
        return 0
    return int(12 * round((b - a) / 12))


def speaker_probe_report(voice_dirs: list[Path], content: str, clips_per_voice: int = 8) -> dict[str, Any]:
    """Speaker-probe accuracy on voiced frames: content features, raw log-mel, and the
    utterance-mean-normalised log-mel that the PPG encoder takes as input."""
    from discovervoice import audio as dva
    from discovervoice.convert.content import load_content_encoder, log_mel, speaker_probe
    from discovervoice.convert.f0 import extract_f0

    enc = load_content_encoder(content)
    feats, mels, cmn, spk = [], [], [], []
    for d in voice_dirs:
        for wav in sorted(d.glob("*.wav"))[:clips_per_voice]:
            x = dva.load(wav, 16000, 1)[0]
            voiced = extract_f0(x, "dio") > 0
            c, m, mn = enc(x), log_mel(x, normalize=False), log_mel(x)
            n = min(len(c), len(m), len(voiced))
            if voiced[:n].sum() < 20:
                continue
            feats.append(c[:n][voiced[:n]])
            mels.append(m[:n][voiced[:n]])
            cmn.append(mn[:n][voiced[:n]])
            spk.append(d.name)
    if len(set(spk)) < 2:
        return {}
    return {"content": round(speaker_probe(feats, spk), 4), "log_mel": round(speaker_probe(mels, spk), 4),
            "log_mel_mean_normalised": round(speaker_probe(cmn, spk), 4),
            "chance": round(1 / len(set(spk)), 4), "voices": sorted(set(spk)), "clips": len(spk)}


def evaluate_parallel(corpus: str | Path, voices_dir: str | Path, *, split: str = "test",
                      f0_method: str = DEFAULT_F0_METHOD, index_rate: float = 0.75, protect: float = 0.33,
                      rms_mix_rate: float = 0.25, train_kwargs: dict | None = None, max_sets: int | None = None,
                      out_dir: str | Path | None = None, mos: bool = True, progress: Progress | None = None) -> dict:
    """Run the evaluation described in the module docstring.

    Args:
        corpus: corpus folder (``parallel/<split>/{sets,voices}``).
        voices_dir: where trained voices are kept (``<voices_dir>/<voice>/voice.json``).
        out_dir: where the converted files, ``results.json`` and ``results.md`` go (default
            ``voices_dir/eval-<split>``; the reports are written atomically by
            :func:`discovervoice.eval.report.write_report`).

    Returns:
        ``{"pairs": [...], "mean": {...}, "done_when": {...}, "training": {...}, "probe": {...}}``.

    Raises:
        DataError: the corpus has no parallel sets for ``split``.
    """
    from discovervoice import audio as dva
    from discovervoice.convert.api import convert
    from discovervoice.convert.voice import VoiceModel, VoiceModelError, add_postfilter_stats, train_voice
    from discovervoice.eval.conversion import score_conversion
    from discovervoice.eval.report import write_report
    from discovervoice.eval.speaker import ResemblyzerEncoder

    root = Path(corpus) / "parallel" / split
    sets = sorted(p for p in (root / "sets").glob("*") if p.is_dir())
    vdirs = sorted(p for p in (root / "voices").glob("*") if p.is_dir())
    if not sets or not vdirs:
        raise DataError(f"{root}: no parallel sets/voices (build the corpus with parallel sets)")
    if max_sets:
        sets = sets[:max_sets]
    vroot = Path(voices_dir)
    out = Path(out_dir) if out_dir else vroot / f"eval-{split}"
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda f, m: None)
    training: dict[str, Any] = {}
    voices: dict[str, Any] = {}
    for i, d in enumerate(vdirs):
        target = vroot / d.name
        if not (target / "voice.json").exists():
            t0 = time.time()
            train_voice(d, target, **(train_kwargs or {}),
                        progress=lambda f, m, i=i: say(0.5 * (i + f) / len(vdirs), f"{d.name}: {m}"))
            log.info("trained %s in %.0f s", d.name, time.time() - t0)
        try:  # voices trained here before the GV post-filter / envelope retrieval: from their cache
            add_postfilter_stats(target)
        except VoiceModelError as exc:
            log.warning("%s: converting without the GV post-filter and envelope retrieval (%s)", target, exc)
        voices[d.name] = VoiceModel.load(target)
        training[d.name] = {k: voices[d.name].meta["train"][k] for k in
                            ("seconds", "voiced_seconds", "steps", "best_step", "stopped", "train_seconds")}
    spk_enc = ResemblyzerEncoder()
    target_emb = {}
    for d in vdirs:
        embs = [spk_enc.embed(dva.load(w, 16000, 1)[0], 16000) for w in sorted(d.glob("*.wav"))]
        target_emb[d.name] = np.mean(embs, axis=0)
    dns = None
    if mos:
        from discovervoice.eval.mos import DNSMOS

        dns = DNSMOS()
    pairs = []
    todo = [(s, a, b) for s in sets for a, b in permutations(sorted(p.stem for p in s.glob("*.wav")), 2)
            if b in voices]
    conv_seconds = audio_seconds = 0.0
    for j, (s, a, b) in enumerate(todo):
        src_p, tru_p = s / f"{a}.wav", s / f"{b}.wav"
        src = dva.load(src_p, 16000, 1)[0]
        tru = dva.load(tru_p, 16000, 1)[0]
        k = _set_transpose(src_p, tru_p)
        t0 = time.time()
        conv = convert(src, 16000, voices[b], transpose=k, f0_method=f0_method, index_rate=index_rate,
                       protect=protect, rms_mix_rate=rms_mix_rate)[0]
        conv_seconds += time.time() - t0
        audio_seconds += len(src) / 16000
        conv16 = dva.resample(conv[None], voices[b].sample_rate, 16000)[0] if voices[b].sample_rate != 16000 else conv
        dva.save(out / s.name / f"{a}_to_{b}.wav", conv16, 16000)
        sc = score_conversion(conv16, 16000, source=src, truth=tru, f0_reference="source",
                              f0_method="harvest", shift_semitones=k, encoder=spk_enc,
                              target=target_emb[b], mos=dns, baselines=("source", "truth"))
        row: dict[str, Any] = {"set": s.name, "source": a, "target": b, "transpose": k}
        row["mcd_converted"] = sc.mcd["converted"].mcd
        row["mcd_source"] = sc.mcd["source"].mcd
        for n in ("converted", "source", "truth"):
            row[f"sim_{n}"] = sc.similarity[n]
        row["raw_pitch_accuracy"] = sc.f0["raw_pitch_accuracy"]
        row["voicing_recall"] = sc.f0["voicing_recall"]
        if dns is not None:
            for n in ("converted", "truth", "source"):
                row[f"dnsmos_{n}"] = sc.mos[n]["dnsmos_ovrl"]
        pairs.append(row)
        say(0.5 + 0.45 * (j + 1) / len(todo), f"{a} -> {b} ({s.name}): MCD {row['mcd_converted']:.2f} dB")
    keys = [k for k in pairs[0] if isinstance(pairs[0][k], float)]
    mean = {k: float(np.mean([p[k] for p in pairs])) for k in keys}
    gap = mean["sim_truth"] - mean["sim_source"]
    mean["similarity_gap_closed"] = (mean["sim_converted"] - mean["sim_source"]) / gap if gap > 0 else float("nan")
    done = {
        "mcd_2db_below_source": mean["mcd_source"] - mean["mcd_converted"] >= 2.0,
        "similarity_closes_half_gap": mean["sim_converted"] >= mean["sim_source"] + 0.5 * gap,
        "rpa_at_least_95": mean["raw_pitch_accuracy"] >= 0.95,
    }
    if dns is not None:
        done["dnsmos_within_0.5_of_truth"] = abs(mean["dnsmos_converted"] - mean["dnsmos_truth"]) <= 0.5
    content = next(iter(voices.values())).content
    probe = speaker_probe_report(vdirs, content)
    result = {"corpus": str(Path(corpus).resolve()), "split": split, "f0_method": f0_method,
              "index_rate": index_rate, "protect": protect, "rms_mix_rate": rms_mix_rate,
              "pairs": pairs, "n_pairs": len(pairs), "mean": mean, "done_when": done, "training": training,
              "conversion_rtf": conv_seconds / max(audio_seconds, 1e-9), "speaker_probe": probe}
    write_report(out, "results", result, markdown(result))
    say(1.0, "done")
    return result


def markdown(result: dict) -> str:
    """A Markdown table of :func:`evaluate_parallel`'s means and checks."""
    m = result["mean"]
    lines = [f"Parallel sets: `{result['corpus']}` split `{result['split']}`, {result['n_pairs']} conversions, "
             f"F0 `{result['f0_method']}`, index_rate {result['index_rate']}, protect {result['protect']}, "
             f"rms_mix_rate {result['rms_mix_rate']}.", "",
             "| metric | converted | unconverted source | ground truth |", "|---|---|---|---|",
             f"| MCD vs truth (dB, lower is better) | {m['mcd_converted']:.2f} | {m['mcd_source']:.2f} | 0 |",
             f"| speaker similarity to target (resemblyzer cosine) | {m['sim_converted']:.3f} | "
             f"{m['sim_source']:.3f} | {m['sim_truth']:.3f} |",
             f"| raw pitch accuracy vs transposed source F0 (50 cents) | {m['raw_pitch_accuracy']:.3f} | | |"]
    if "dnsmos_converted" in m:
        lines.append(f"| DNSMOS overall | {m['dnsmos_converted']:.2f} | {m['dnsmos_source']:.2f} | "
                     f"{m['dnsmos_truth']:.2f} |")
    lines += ["", f"Similarity gap closed: {m['similarity_gap_closed']:.2f} (target >= 0.5). "
              f"Conversion real-time factor during evaluation: {result['conversion_rtf']:.3f}.", "",
              "Done-when checks: " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in result["done_when"].items())]
    p = result.get("speaker_probe") or {}
    if p:
        lines += ["", f"Linear speaker probe on the evaluation voices ({len(p['voices'])} voices, chance "
                  f"{p['chance']:.2f}): content features {p['content']:.3f}, log-mel {p['log_mel']:.3f}"
                  + (f", mean-normalised log-mel {p['log_mel_mean_normalised']:.3f}"
                     if "log_mel_mean_normalised" in p else "") + "."]
    return "\n".join(lines)

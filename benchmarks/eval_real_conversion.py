"""Voice conversion into real people's voices (issue 16): speaker similarity, pitch, DNSMOS.

No parallel truth exists for real recordings, so a conversion is scored against the
target person's own **held-out** recordings (never in its training audio):

* target reference embedding ``E`` = mean resemblyzer (GE2E) embedding of the held-out
  clips **A** of the target (``--ref-clips`` clips of ~``--clip-seconds``);
* ``sim_converted`` = mean cosine of each converted clip's embedding with ``E``;
* ``sim_source`` = the same for the unconverted source clips;
* ``sim_truth`` = the same for the target's other held-out clips **B** (disjoint from A);
* **gap closed** = ``(sim_converted - sim_source) / (sim_truth - sim_source)``, computed
  on the means over a target's conversions (per target) and on the means over all
  conversions of the set (the "all" row, the issue's number). 1 = as close to the
  target as the target's own held-out recordings, 0 = no closer than the source.

Pitch following: harvest F0 (``discovervoice.eval.f0``) of the converted clip against the
source's F0 transposed by the octave the conversion applied; **octave-free pitch
following** = mir_eval raw chroma accuracy (50 cents), raw pitch accuracy next to it.
**DNSMOS** overall (``discovervoice.eval.mos.DNSMOS``) of converted and source clips.
Conversion is :func:`discovervoice.convert.api.convert` with ``auto_octave`` (the octave
that brings the source nearest the voice's median F0, as a person would choose it:
:func:`discovervoice.convert.api.octave_shift`, with the setting's own F0 method; with
``auto_step=1`` the nearest semitone instead, reported as such).

Real voices: ``discovervoice.corpus.voices`` (``fillets-ng-data-cs`` Czech voice acting
and ``klettres-data`` native speakers, both GPL-2+; none of them reserved by DESIGN.md).
Clips are drawn as in ``benchmarks/eval_real_speakers.py`` (:func:`speaker_clips`:
recordings joined with 0.2 s pauses, silence trimmed, 16 kHz). Two disjoint groups:

* ``dev`` (used to choose knobs): target ``klettres-ml`` (native Malayalam speaker, single
  letters and syllables), sources ``fillets-k1-pap``, ``klettres-en``, ``klettres-fr``,
  ``klettres-da`` -- all in :data:`discovervoice.corpus.realsongs.DEV_SPEAKERS`;
* ``eval`` (run after the choice): targets ``fillets-m`` (actress, small fish) and
  ``fillets-v`` (actor, big fish), sources ``klettres-de``, ``klettres-hu``,
  ``fillets-vit-hs``, ``klettres-ru``.

Each target's recordings are shuffled with a fixed seed; the first ones (enough for
``2 * --ref-clips`` clips) are held out, the next ones up to ``--train-seconds`` of file
duration are linked into ``OUT/../train/<target>/`` and a voice is trained on them with
:func:`discovervoice.convert.voice.train_voice` (kept in ``--voices``; trained only when
missing). ``--grid`` scores several conversion settings in one run, e.g.
``--grid index_rate=0.75,1 protect=0.33,0.5 f0_method=harvest,fcpe``; ``gv_strength``
(the GV post-filter of :mod:`discovervoice.convert.world`, 0 = off) and ``outlier_cents``
(:func:`discovervoice.convert.f0.median_filter`, ``none`` = RVC's plain median filter),
``subframes`` (:data:`discovervoice.convert.world.SYNTH_SUBFRAMES`, 1 = plain WORLD
synthesis on 10 ms frames) and ``auto_step`` (the automatic shift's grid: 12 = octaves,
1 = the nearest semitone to the target's median pitch; ``--auto-step``) and
``envelope_rate`` (the envelope retrieval of :mod:`discovervoice.convert.world`, 0 = off)
are settings too. Voices trained before the post-filter or the envelope retrieval get their
data from their cached features (:func:`discovervoice.convert.voice.add_postfilter_stats`).

``--target NAME=VOICE_DIR@CLIPS_DIR`` scores a voice trained elsewhere (a shipped voice, for
example) instead of the set's targets, with held-out recordings of its person in ``CLIPS_DIR``
as clips A and B; the set then only chooses the sources.

Usage (one thread, about 10 minutes per new voice on the shared machine)::

    python benchmarks/eval_real_conversion.py --set dev --voices data/realconv/voices \\
        --out data/realconv/dev-base
    python benchmarks/eval_real_conversion.py --set eval --voices data/realconv/voices \\
        --out data/realconv/eval-base

Libraries: resemblyzer (GE2E), speechmos (DNSMOS), pyworld + mir_eval (F0 metrics), all
through ``discovervoice.eval``; conversion and training through ``discovervoice.convert``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_real_speakers import speaker_clips  # noqa: E402  (the one home of real clips)

SR = 16000
SETS = {
    "dev": {"targets": ("klettres-ml",),
            "sources": ("fillets-k1-pap", "klettres-en", "klettres-fr", "klettres-da")},
    "eval": {"targets": ("fillets-m", "fillets-v"),
             "sources": ("klettres-de", "klettres-hu", "fillets-vit-hs", "klettres-ru")},
}


def _voice(vid: str):
    from discovervoice.corpus.voices import list_voices

    for v in list_voices(kinds=("recorded",)):
        if v.id == vid:
            return v
    raise SystemExit(f"{vid}: not an installed, non-reserved recorded voice "
                     "(apt-get install fillets-ng-data-cs klettres-data)")


def split_target(voice, train_seconds: float, n_ref: int, clip_seconds: float, seed: int):
    """``(train_files, clips_A, clips_B)`` of a target: held-out clips from the first
    shuffled recordings, training files from the rest (disjoint)."""
    import soundfile as sf

    files = sorted(voice.speaker_files)
    random.Random(f"{seed}-split-{voice.id}").shuffle(files)
    held, have, k = [], 0.0, 0
    while k < len(files) and have < 2 * n_ref * clip_seconds * 1.6:
        held.append(files[k])
        have += sf.info(files[k]).duration
        k += 1
    clips = speaker_clips(dataclasses.replace(voice, speaker_files=tuple(held)), 2 * n_ref,
                          clip_seconds, seed)
    if len(clips) < 2 * n_ref:
        raise SystemExit(f"{voice.id}: only {len(clips)} held-out clips")
    train, dur = [], 0.0
    for f in files[k:]:
        if dur >= train_seconds:
            break
        train.append(f)
        dur += sf.info(f).duration
    return train, clips[:n_ref], clips[n_ref:], dur


#: Settings that are not arguments of ``convert``: module constants and the shift's grid.
MODULE_SETTINGS = ("gv_strength", "outlier_cents", "subframes", "auto_step", "envelope_rate")


def _value(key: str, text: str):
    return text if key == "f0_method" else None if text == "none" else float(text)


def _settings(grid: list[str], base: dict) -> list[dict]:
    keys, values = [], []
    for g in grid:
        k, v = g.split("=", 1)
        keys.append(k)
        values.append([_value(k, x) for x in v.split(",")])
    return [dict(base, **dict(zip(keys, combo))) for combo in itertools.product(*values)] or [base]


def fcpe_contour(x: np.ndarray):
    """FCPE F0 (``discovervoice.convert.f0``, no median filter) as an eval contour."""
    from discovervoice.convert import f0 as F0
    from discovervoice.eval.f0 import F0Contour

    f = F0.extract_f0(x, "fcpe", filter_radius=0)
    return F0Contour(np.arange(len(f)) * F0.HOP / F0.SAMPLE_RATE, f)


def summarise(rows: list[dict], truth: dict[str, float]) -> dict:
    """Means and gap closed per target and over all rows (see the module docstring)."""
    def block(rs: list[dict], t: float) -> dict:
        m = {k: float(np.mean([r[k] for r in rs])) for k in
             ("sim_converted", "sim_source", "chroma_accuracy", "chroma_accuracy_fcpe", "raw_pitch_accuracy",
              "dnsmos_converted", "dnsmos_source")}
        m["sim_truth"] = t
        m["gap_closed"] = (m["sim_converted"] - m["sim_source"]) / (t - m["sim_source"])
        m["n"] = len(rs)
        return m
    out = {tg: block([r for r in rows if r["target"] == tg], truth[tg]) for tg in truth}
    out["all"] = block(rows, float(np.mean([truth[r["target"]] for r in rows])))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", choices=tuple(SETS), default="dev")
    ap.add_argument("--voices", type=Path, required=True, help="trained voices (missing ones are trained)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train-seconds", type=float, default=240.0, help="file duration per target voice")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--train-f0-method", default="harvest")
    ap.add_argument("--content-floor", type=float, default=None,
                    help="train with this PPG floor (default: the encoder's)")
    ap.add_argument("--ref-clips", type=int, default=5)
    ap.add_argument("--source-clips", type=int, default=3, help="clips per source speaker")
    ap.add_argument("--clip-seconds", type=float, default=4.0)
    ap.add_argument("--f0-method", default=None,
                    help="conversion F0 method (default: the product's, convert.f0.DEFAULT_F0_METHOD)")
    ap.add_argument("--index-rate", type=float, default=0.75)
    ap.add_argument("--protect", type=float, default=0.33)
    ap.add_argument("--rms-mix-rate", type=float, default=0.25)
    ap.add_argument("--gv-strength", type=float, default=None,
                    help="GV post-filter exponent (default: discovervoice.convert.world.GV_STRENGTH)")
    ap.add_argument("--auto-step", type=int, default=12,
                    help="grid of the automatic shift in semitones (12 = octaves, 1 = semitones)")
    ap.add_argument("--setting", action="append", default=[],
                    help="one explicit setting KEY=v,KEY=v (repeatable; instead of --grid)")
    ap.add_argument("--grid", nargs="*", default=[], help="KEY=v1,v2 ... (conversion settings)")
    ap.add_argument("--ceiling", action="store_true",
                    help="also score WORLD analysis/synthesis of the held-out B clips")
    ap.add_argument("--target", action="append", default=[], metavar="NAME=VOICE_DIR@CLIPS_DIR",
                    help="score this trained voice instead of the set's targets, against held-out "
                         "recordings of its person in CLIPS_DIR (*.wav; repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    given = []
    for t in a.target:
        name, _, rest = t.partition("=")
        vdir, _, cdir = rest.partition("@")
        if not (name and vdir and cdir):
            raise SystemExit(f"--target {t!r}: expected NAME=VOICE_DIR@CLIPS_DIR")
        given.append((name, Path(vdir), Path(cdir)))

    import torch

    from discovervoice import audio as dva
    from discovervoice.convert import f0 as F0
    from discovervoice.convert import world
    from discovervoice.convert.api import convert, octave_shift
    from discovervoice.convert.voice import VoiceModel, add_postfilter_stats, train_voice
    from discovervoice.eval.f0 import f0_contour, f0_metrics
    from discovervoice.eval.mos import DNSMOS
    from discovervoice.eval.speaker import ResemblyzerEncoder, cosine_similarity

    torch.set_num_threads(1)
    spec = SETS[a.set]
    a.out.mkdir(parents=True, exist_ok=True)
    enc, dns = ResemblyzerEncoder(), DNSMOS()
    sources = {}
    for sid in spec["sources"]:
        clips = speaker_clips(_voice(sid), a.source_clips, a.clip_seconds, a.seed)
        if len(clips) < a.source_clips:
            raise SystemExit(f"{sid}: only {len(clips)} source clips")
        sources[sid] = [c[0] for c in clips]
    src_emb = {(s, i): enc.embed(x, SR) for s, xs in sources.items() for i, x in enumerate(xs)}
    src_f0 = {(s, i): f0_contour(x, SR) for s, xs in sources.items() for i, x in enumerate(xs)}
    src_fcpe = {(s, i): fcpe_contour(x) for s, xs in sources.items() for i, x in enumerate(xs)}
    # how far harvest's own reference moves under -50 dB (re peak) of white noise
    rng = np.random.default_rng(a.seed)
    stab = [f0_metrics(src_f0[(s, i)], f0_contour(
        x + rng.normal(0, 10 ** (-50 / 20) * np.abs(x).max(), len(x)).astype(np.float32), SR))
        ["raw_chroma_accuracy"] for s, xs in sources.items() for i, x in enumerate(xs)]
    print(f"harvest reference vs itself + noise at -50 dB re peak: chroma {np.mean(stab):.3f}",
          file=sys.stderr, flush=True)
    src_dns = {(s, i): dns.score(x, SR)["dnsmos_ovrl"] for s, xs in sources.items() for i, x in enumerate(xs)}

    targets, truth, ref, info = {}, {}, {}, {}
    for tid, vdir, cdir in given:
        files = tuple(str(f) for f in sorted(cdir.glob("*.wav")))
        # seeded by the folder, so voices scored against one folder share clips A and B
        clips = speaker_clips(argparse.Namespace(id=str(cdir), speaker_files=files), 2 * a.ref_clips,
                              a.clip_seconds, a.seed)
        if len(clips) < 2 * a.ref_clips:
            raise SystemExit(f"{cdir}: only {len(clips)} held-out clips of ~{a.clip_seconds:g} s")
        targets[tid] = VoiceModel.load(vdir)
        A, B = clips[:a.ref_clips], clips[a.ref_clips:]
        ref[tid] = np.mean([enc.embed(c[0], SR) for c in A], axis=0)
        truth[tid] = float(np.mean([cosine_similarity(enc.embed(c[0], SR), ref[tid]) for c in B]))
        info[tid] = {"voice": str(vdir), "held_out": str(cdir), "sim_truth": round(truth[tid], 4),
                     "f0_median_hz": round(targets[tid].f0_median, 1)}
        print(f"{tid}: {info[tid]}", file=sys.stderr, flush=True)
    for tid in () if given else spec["targets"]:
        tv = _voice(tid)
        train, A, B, dur = split_target(tv, a.train_seconds, a.ref_clips, a.clip_seconds, a.seed)
        tdir = a.voices.parent / "train" / tid
        if not tdir.exists():
            tdir.mkdir(parents=True)
            for i, f in enumerate(train):
                os.symlink(f, tdir / f"{i:04d}-{Path(f).name}")
        vdir = a.voices / tid
        if not (vdir / "voice.json").exists():
            kw = dict(steps=a.steps, f0_method=a.train_f0_method, threads=1)
            if a.content_floor is not None:
                from discovervoice.convert.content import load_content_encoder
                # a floored copy of the default encoder, saved where train_voice can load it
                p = a.voices / f"content-floor{a.content_floor:g}.safetensors"
                if not p.exists():
                    a.voices.mkdir(parents=True, exist_ok=True)
                    load_content_encoder().with_floor(a.content_floor).save(p)
                kw["content"] = str(p)
            t0 = time.time()
            train_voice(tdir, vdir, **kw)
            print(f"trained {tid} in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
        add_postfilter_stats(vdir)   # voices trained before the GV post-filter / envelope retrieval
        targets[tid] = VoiceModel.load(vdir)
        E = np.mean([enc.embed(c[0], SR) for c in A], axis=0)
        ref[tid] = E
        truth[tid] = float(np.mean([cosine_similarity(enc.embed(c[0], SR), E) for c in B]))
        tm = targets[tid].meta["train"]
        info[tid] = {"train_files": len(train), "train_file_seconds": round(dur, 1),
                     "voiced_seconds": tm["voiced_seconds"], "slices": tm["slices"],
                     "best_step": tm["best_step"], "steps": tm["steps"], "f0_median_hz":
                     round(targets[tid].f0_median, 1), "sim_truth": round(truth[tid], 4)}
        if a.ceiling:
            from discovervoice.convert.world import analyze, synthesize
            sims = []
            for c in B:
                x = c[0].astype(np.float64)
                f0 = F0.extract_f0(c[0], "harvest")
                mc, bap = analyze(x, SR, f0, targets[tid].synth.order)
                y = synthesize(mc, bap, f0, SR)
                sims.append(cosine_similarity(enc.embed(y, SR), E))
            info[tid]["sim_world_resynthesis"] = round(float(np.mean(sims)), 4)
        print(f"{tid}: {info[tid]}", file=sys.stderr, flush=True)

    from discovervoice.convert.f0 import DEFAULT_F0_METHOD

    base = dict(f0_method=a.f0_method or DEFAULT_F0_METHOD, index_rate=a.index_rate,
                protect=a.protect, rms_mix_rate=a.rms_mix_rate,
                gv_strength=world.GV_STRENGTH if a.gv_strength is None else a.gv_strength,
                outlier_cents=F0.OUTLIER_CENTS, subframes=world.SYNTH_SUBFRAMES, auto_step=a.auto_step,
                envelope_rate=world.ENVELOPE_RATE)
    results = []
    settings = [dict(base, **{k: _value(k, v) for k, v in (kv.split("=", 1) for kv in s.split(","))})
                for s in a.setting] or _settings(a.grid, base)
    for si, st in enumerate(settings):
        rows = []
        for tid, voice in targets.items():
            for (sid, i), emb in src_emb.items():
                x = sources[sid][i]
                conv_kw = {k2: v2 for k2, v2 in st.items() if k2 not in MODULE_SETTINGS}
                F0.OUTLIER_CENTS = st["outlier_cents"]
                world.SYNTH_SUBFRAMES = int(st["subframes"])
                # the shift convert(..., auto_octave=True, auto_step=...) would choose
                k = octave_shift(x, voice, st["f0_method"], step=int(st["auto_step"]))
                if voice.kind == "world":
                    voice.synth.gv_strength = st.get("gv_strength", world.GV_STRENGTH)
                    voice.synth.envelope_rate = st.get("envelope_rate", world.ENVELOPE_RATE)
                y = convert(x, SR, voice, transpose=k, **conv_kw)[0]
                y16 = dva.resample(y[None], voice.sample_rate, SR)[0] if voice.sample_rate != SR else y
                dva.save(a.out / f"s{si}" / f"{sid}-{i}_to_{tid}.wav", y16, SR)
                fm = f0_metrics(src_f0[(sid, i)], f0_contour(y16, SR), shift_semitones=k)
                fc = f0_metrics(src_fcpe[(sid, i)], fcpe_contour(y16), shift_semitones=k)
                rows.append({"target": tid, "source": sid, "clip": i, "transpose": k,
                             "sim_converted": cosine_similarity(enc.embed(y16, SR), ref[tid]),
                             "sim_source": cosine_similarity(emb, ref[tid]),
                             "chroma_accuracy": fm["raw_chroma_accuracy"],
                             "raw_pitch_accuracy": fm["raw_pitch_accuracy"],
                             "voicing_recall": fm["voicing_recall"],
                             "chroma_accuracy_fcpe": fc["raw_chroma_accuracy"],
                             "dnsmos_converted": dns.score(y16, SR)["dnsmos_ovrl"],
                             "dnsmos_source": src_dns[(sid, i)]})
        s = summarise(rows, truth)
        results.append({"settings": st, "summary": s, "rows": rows})
        m = s["all"]
        print(f"{st}: gap {m['gap_closed']:.3f} sim {m['sim_source']:.3f}->{m['sim_converted']:.3f} "
              f"(truth {m['sim_truth']:.3f}) chroma {m['chroma_accuracy']:.3f} "
              f"RPA {m['raw_pitch_accuracy']:.3f} DNSMOS {m['dnsmos_source']:.2f}->"
              f"{m['dnsmos_converted']:.2f}", file=sys.stderr, flush=True)

    md = [f"Real-voice conversion, set `{a.set}` (targets {', '.join(targets)}; sources "
          f"{', '.join(spec['sources'])}; {a.source_clips} clips of ~{a.clip_seconds:g} s per source), "
          f"voices `{a.voices}`", "",
          "| settings | target | n | sim source -> converted (truth) | gap closed | octave-free pitch "
          "following (harvest) | same (FCPE contours) | raw pitch acc. | DNSMOS source -> converted |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        st = ", ".join(f"{k} {v}" for k, v in r["settings"].items())
        for tg, m in r["summary"].items():
            md.append(f"| {st} | {tg} | {m['n']} | {m['sim_source']:.3f} -> {m['sim_converted']:.3f} "
                      f"({m['sim_truth']:.3f}) | {m['gap_closed']:.3f} | {m['chroma_accuracy']:.3f} | "
                      f"{m['chroma_accuracy_fcpe']:.3f} | "
                      f"{m['raw_pitch_accuracy']:.3f} | {m['dnsmos_source']:.2f} -> "
                      f"{m['dnsmos_converted']:.2f} |")
    print("\n".join(md))
    md += ["", f"harvest reference against itself with white noise at -50 dB re peak added: "
           f"octave-free pitch following {np.mean(stab):.3f} (how stable the reference is)"]
    (a.out / "results.json").write_text(json.dumps({"set": a.set, "reference_stability": float(np.mean(stab)), "args": {k: str(v) for k, v in vars(a).items()},
                                                    "targets": info, "results": results}, indent=1))
    (a.out / "results.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

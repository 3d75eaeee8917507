"""``discovervoice eval ...``: score separation, conversion, MOS, CER, classifiers, listening tests.

Subcommands (heavy imports happen inside the handlers):

* ``separation --reference DIR --estimate DIR [--report DIR]`` — uSDR, SI-SDR, BSSEval v4
  over MUSDB-layout folders;
* ``oracle --reference DIR --out DIR [--method irm|mixture]`` — write oracle estimates
  (ideal ratio mask, or the mixture as every stem) to score as baselines / upper bounds;
* ``compare REPORT.json ... --out DIR`` — one table and bar chart of several systems;
* ``conversion --reference DIR --estimate DIR`` — MCD, F0, speaker similarity (+ MOS);
* ``mos FILES_OR_DIRS [--model dnsmos|utmos]`` — neural MOS, named by its model;
* ``cer --reference PATH --hypothesis PATH`` — CER / WER of transcripts;
* ``classification --predictions FILE`` — accuracy, top-k, cross-entropy, confusion matrix;
* ``listening create|add|rate|mos|export --db FILE`` — the human MOS store.

``--report DIR`` writes ``<kind>.json``, ``<kind>.md`` and PNG figures into DIR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from discovervoice.progress import tqdm_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score separation, conversion, MOS, CER and classifiers",
                       description="Evaluation suite: objective metrics, reports with plots, "
                                   "and the human MOS listening-test store.")
    es = p.add_subparsers(dest="eval_command", metavar="KIND")
    es.required = True

    s = es.add_parser("separation", help="uSDR, SI-SDR and BSSEval v4 over MUSDB-layout folders")
    s.add_argument("--reference", required=True, type=Path, help="root of <track>/<stem>.wav references")
    s.add_argument("--estimate", required=True, type=Path, help="root of <track>/<stem>.wav estimates")
    s.add_argument("--stems", nargs="+", help="only these stems (default: every estimated stem)")
    s.add_argument("--bss", choices=("full", "sdr", "none"), default="full",
                   help="BSSEval v4: full = SDR/ISR/SIR/SAR with museval (slow); sdr = the v4 "
                        "SDR only, closed form (fast); none = uSDR and SI-SDR only")
    s.add_argument("--jobs", type=int, default=1, help="tracks scored in parallel processes (1)")
    s.add_argument("--window", type=float, default=1.0, help="BSSEval window in seconds (1.0)")
    s.add_argument("--hop", type=float, default=1.0, help="BSSEval hop in seconds (1.0)")
    s.add_argument("--report", type=Path, help="write JSON, Markdown and PNG plots here")
    s.add_argument("--name", default="separation", help="file name stem of the report")
    s.set_defaults(func=_separation)

    o = es.add_parser("oracle", help="write oracle estimates (IRM or mixture) of a MUSDB folder")
    o.add_argument("--reference", required=True, type=Path)
    o.add_argument("--out", required=True, type=Path)
    o.add_argument("--method", choices=("irm", "mixture"), default="irm")
    o.add_argument("--power", type=float, default=2.0, help="IRM exponent (2 = IRM2, 1 = IRM1)")
    o.add_argument("--stems", nargs="+", help="only write these stems")
    o.set_defaults(func=_oracle)

    cp = es.add_parser("compare", help="table and bar chart of several separation reports")
    cp.add_argument("reports", nargs="+", type=Path, help="separation.json files")
    cp.add_argument("--labels", nargs="+", help="system names (default: the folder names)")
    cp.add_argument("--metric", nargs="+", default=["usdr", "sdr"],
                    help="metrics to chart (default: usdr sdr)")
    cp.add_argument("--out", required=True, type=Path, help="folder for compare.md and PNGs")
    cp.set_defaults(func=_compare)

    c = es.add_parser("conversion", help="MCD, F0 metrics and speaker similarity of converted voices")
    c.add_argument("--reference", required=True, type=Path, help="target-voice recordings (file or folder)")
    c.add_argument("--estimate", required=True, type=Path, help="converted recordings, same names")
    c.add_argument("--source", type=Path, help="source recordings (adds similarity to the source speaker)")
    c.add_argument("--speaker-reference", type=Path, help="folder of target-speaker clips for the embedding")
    c.add_argument("--shift", type=float, default=0.0, help="transposition of the conversion, semitones")
    c.add_argument("--mcd-mode", choices=("default", "pymcd"), default="default")
    c.add_argument("--include-c0", action="store_true", help="include c0 (energy) in MCD")
    c.add_argument("--f0-method", choices=("harvest", "dio"), default="harvest")
    c.add_argument("--speaker-encoder", choices=("resemblyzer", "ecapa", "none"), default="resemblyzer")
    c.add_argument("--mos", choices=("dnsmos", "utmos"), help="also predict MOS of the converted files")
    c.add_argument("--ecapa-checkpoint", type=Path, help="local ECAPA folder / embedding_model.ckpt")
    c.add_argument("--utmos-checkpoint", type=Path, help="local utmos22_strong .pt file")
    c.add_argument("--report", type=Path)
    c.add_argument("--name", default="conversion")
    c.set_defaults(func=_conversion)

    m = es.add_parser("mos", help="neural MOS of audio files (DNSMOS offline, UTMOS with weights)")
    m.add_argument("audio", nargs="+", type=Path, help="audio files or folders")
    m.add_argument("--model", choices=("dnsmos", "utmos"), default="dnsmos")
    m.add_argument("--utmos-checkpoint", type=Path, help="local utmos22_strong .pt file")
    m.add_argument("--report", type=Path)
    m.add_argument("--name", default="mos")
    m.set_defaults(func=_mos)

    e = es.add_parser("cer", help="character / word error rate of transcripts")
    e.add_argument("--reference", required=True, type=Path,
                   help="reference transcripts: folder of <id>.txt, .json, .jsonl, .tsv or .csv")
    e.add_argument("--hypothesis", required=True, type=Path, help="hypothesis transcripts, same ids")
    e.add_argument("--no-normalize", action="store_true", help="compare raw text (no lower-casing, punctuation kept)")
    e.add_argument("--report", type=Path)
    e.add_argument("--name", default="cer")
    e.set_defaults(func=_cer)

    k = es.add_parser("classification", help="accuracy, top-k, cross-entropy and confusion matrix")
    k.add_argument("--predictions", required=True, type=Path,
                   help=".npz with 'labels' [N], 'scores' [N, K] and optional 'class_names'")
    k.add_argument("--logits", action="store_true", help="scores are logits, not probabilities")
    k.add_argument("--report", type=Path)
    k.add_argument("--name", default="classification")
    k.set_defaults(func=_classification)

    lt = es.add_parser("listening", help="human MOS listening tests (SQLite store)")
    ls = lt.add_subparsers(dest="listening_command", metavar="ACTION")
    ls.required = True
    lc = ls.add_parser("create", help="create a test")
    lc.add_argument("--db", required=True, type=Path)
    lc.add_argument("test")
    lc.add_argument("--description", default="")
    lc.set_defaults(func=_lt_create)
    la = ls.add_parser("add", help="add stimuli of one system (files or folders)")
    la.add_argument("--db", required=True, type=Path)
    la.add_argument("test")
    la.add_argument("--system", required=True)
    la.add_argument("audio", nargs="+", type=Path)
    la.set_defaults(func=_lt_add)
    lr = ls.add_parser("rate", help="record a listener's score 1-5 for a stimulus id")
    lr.add_argument("--db", required=True, type=Path)
    lr.add_argument("--listener", required=True)
    lr.add_argument("stimulus", type=int)
    lr.add_argument("score", type=int)
    lr.set_defaults(func=_lt_rate)
    lm = ls.add_parser("mos", help="MOS with 95%% confidence intervals per system")
    lm.add_argument("--db", required=True, type=Path)
    lm.add_argument("test")
    lm.add_argument("--report", type=Path)
    lm.set_defaults(func=_lt_mos)
    lx = ls.add_parser("export", help="export every rating as CSV")
    lx.add_argument("--db", required=True, type=Path)
    lx.add_argument("test")
    lx.add_argument("--out", required=True, type=Path)
    lx.set_defaults(func=_lt_export)


# --------------------------------------------------------------------------- handlers

def _separation(args: argparse.Namespace) -> int:
    from discovervoice.eval import report as rep
    from discovervoice.eval import separation as sep

    cb, bar = tqdm_bar("separation", leave=False, tty_only=True)
    with bar:
        r = sep.evaluate_separation(args.reference, args.estimate, stems=args.stems,
                                    bss=args.bss, window_s=args.window, hop_s=args.hop,
                                    jobs=args.jobs, progress=cb)
    d = r.to_dict()
    figures = []
    if args.report:
        figures = separation_figures(d, args.report, args.name)
        rep.write_report(args.report, args.name, d, rep.separation_markdown(d, figures))
        print(f"report: {args.report / (args.name + '.md')}", file=sys.stderr)
    metrics = [m for m in sep.METRICS if any(m in v for v in d["mean"].values())]
    print(rep.md_table(["stem (mean)"] + [rep.METRIC_LABELS[m] for m in metrics],
                       [[s] + [d["mean"][s].get(m) for m in metrics] for s in sorted(d["mean"])]))
    return 0


def separation_figures(d: dict, out_dir: Path, name: str = "separation") -> list[Path]:
    """Per-track bar charts for each metric and spectrograms of the first track."""
    from discovervoice import audio as dva
    from discovervoice.eval import plots
    from discovervoice.eval.separation import MIXTURE

    figs = []
    metrics = [m for m in ("usdr", "si_sdr", "leakage", "sdr", "sir", "sar")
               if any(m in s for t in d["tracks"].values() for s in t.values())]
    for m in metrics:
        figs.append(plots.plot_track_bars(d["tracks"], m, Path(out_dir) / f"{name}_{m}_tracks.png"))
    if d["tracks"]:
        track = next(iter(d["tracks"]))
        stem = "vocals" if "vocals" in d["tracks"][track] else sorted(d["tracks"][track])[0]
        ref_dir = Path(d["reference_dir"]) / track
        est_dir = Path(d["estimate_dir"]) / track
        signals = {}
        for label, folder, stem_name in (("mixture", ref_dir, MIXTURE),
                                         (f"{stem} (reference)", ref_dir, stem),
                                         (f"{stem} (estimate)", est_dir, stem)):
            f = next((p for p in (folder / f"{stem_name}.wav", folder / f"{stem_name}.flac")
                      if p.exists()), None)
            if f is not None:
                signals[label] = dva.read(f)
        if signals:
            figs.append(plots.plot_spectrograms(
                signals, Path(out_dir) / f"{name}_{track}_{stem}_spectrogram.png",
                title=f"{track}: {stem}", fmax=8000))
    return figs


def _compare(args: argparse.Namespace) -> int:
    import json

    from discovervoice.errors import DataError
    from discovervoice.eval import plots
    from discovervoice.eval import report as rep

    if args.labels and len(args.labels) != len(args.reports):
        raise DataError(f"{len(args.labels)} labels for {len(args.reports)} reports")
    systems: dict[str, dict] = {}
    for i, path in enumerate(args.reports):
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: not a readable JSON report ({exc})") from exc
        if d.get("kind") != "separation":
            raise DataError(f"{path}: not a separation report (kind={d.get('kind')!r})")
        label = args.labels[i] if args.labels else path.parent.name
        systems[label] = d["mean"]
    figs = [plots.plot_metric_summary(systems, m, args.out / f"compare_{m}.png",
                                      title=f"mean {rep.METRIC_LABELS.get(m, m)} per stem")
            for m in args.metric]
    stems = sorted({s for v in systems.values() for s in v})
    metrics = [m for m in ("usdr", "si_sdr", "sdr", "isr", "sir", "sar")
               if any(m in v.get(s, {}) for v in systems.values() for s in stems)]
    lines = ["# Separation: systems compared (mean over tracks)", ""]
    for stem in stems:
        lines += [f"## {stem}", "", rep.md_table(
            ["system"] + [rep.METRIC_LABELS[m] for m in metrics],
            [[name] + [v.get(stem, {}).get(m) for m in metrics] for name, v in systems.items()]),
            ""]
    lines += [f"![{f.stem}]({f.name})" for f in figs]
    md = "\n".join(lines) + "\n"
    (args.out / "compare.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


def _oracle(args: argparse.Namespace) -> int:
    from discovervoice.eval.separation import write_oracle_estimates

    cb, bar = tqdm_bar(args.method, leave=False, tty_only=True)
    with bar:
        done = write_oracle_estimates(args.reference, args.out, method=args.method, power=args.power,
                                      stems=args.stems, progress=cb)
    print(f"wrote {args.method} estimates of {len(done)} tracks to {args.out}")
    return 0


def _conversion(args: argparse.Namespace) -> int:
    from discovervoice.eval import conversion, plots
    from discovervoice.eval import report as rep

    enc = None if args.speaker_encoder == "none" else args.speaker_encoder
    cb, bar = tqdm_bar("conversion", leave=False, tty_only=True)
    with bar:
        d = conversion.evaluate_conversion(
            args.reference, args.estimate, source=args.source,
            speaker_reference=args.speaker_reference, shift_semitones=args.shift,
            mcd_mode=args.mcd_mode, include_c0=args.include_c0, f0_method=args.f0_method,
            speaker_encoder=enc, mos_model=args.mos, keep_contours=3 if args.report else 0,
            speaker_checkpoint=args.ecapa_checkpoint, mos_checkpoint=args.utmos_checkpoint,
            progress=cb)
    contours = d.pop("_contours", {})
    if args.report:
        from discovervoice import audio as dva

        figs = [plots.plot_values({k: v["mcd"] for k, v in d["items"].items()},
                                  args.report / f"{args.name}_mcd.png", ylabel="MCD (dB)",
                                  title="MCD per item")]
        refs = conversion.audio_files(args.reference)
        ests = conversion.audio_files(args.estimate)
        for item, c in contours.items():
            safe = item.replace("/", "_")
            figs.append(plots.plot_f0_contours(c, args.report / f"{args.name}_{safe}_f0.png",
                                               title=f"F0: {item}"))
            if item in refs and item in ests:
                figs.append(plots.plot_spectrograms(
                    {"reference": dva.read(refs[item]), "converted": dva.read(ests[item])},
                    args.report / f"{args.name}_{safe}_spectrogram.png", title=item, fmax=8000))
        rep.write_report(args.report, args.name, d,
                         rep.per_item_markdown(d, figs, title="Voice conversion evaluation"))
    print(rep.md_table(["metric", "mean"], [[rep.METRIC_LABELS.get(k, k), v]
                                            for k, v in d["mean"].items()], 3))
    return 0


def _mos(args: argparse.Namespace) -> int:
    from discovervoice.eval import conversion, plots
    from discovervoice.eval import report as rep

    files: dict[str, Path] = {}
    for a in args.audio:
        for k, p in conversion.audio_files(a).items():
            if a.is_file() and len(args.audio) > 1:
                k = f"{a.parent.name}/{a.stem}"  # e.g. <track>/vocals for MUSDB files
            elif len(args.audio) > 1:
                k = f"{a.name}/{k}"
            files[k] = p
    cb, bar = tqdm_bar(args.model, leave=False, tty_only=True)
    with bar:
        d = conversion.score_mos(files, args.model, progress=cb, checkpoint=args.utmos_checkpoint)
    if args.report:
        key = "dnsmos_ovrl" if args.model == "dnsmos" else "utmos"
        figs = [plots.plot_values({k: v[key] for k, v in d["items"].items()},
                                  args.report / f"{args.name}_{key}.png",
                                  ylabel=rep.METRIC_LABELS[key], title=f"{d['model']} per file")]
        rep.write_report(args.report, args.name, d,
                         rep.per_item_markdown(d, figs, title=f"{d['model']} (neural MOS)"))
    print(f"model: {d['model']}")
    print(rep.md_table(["metric", "mean"], [[rep.METRIC_LABELS.get(k, k), v]
                                            for k, v in d["mean"].items()], 3))
    return 0


def _cer(args: argparse.Namespace) -> int:
    from discovervoice.eval import cer
    from discovervoice.eval import report as rep

    d = cer.score_transcripts(cer.read_transcripts(args.reference),
                              cer.read_transcripts(args.hypothesis),
                              normalize=not args.no_normalize)
    if args.report:
        rep.write_report(args.report, args.name, d, rep.cer_markdown(d))
    o = d["overall"]
    print(f"CER {o['cer']:.4f}  WER {o['wer']:.4f}  ({len(d['utterances'])} utterances)")
    if d["missing_hypotheses"]:
        print(f"missing hypotheses: {len(d['missing_hypotheses'])}", file=sys.stderr)
    return 0


def _classification(args: argparse.Namespace) -> int:
    import numpy as np

    from discovervoice.errors import DataError
    from discovervoice.eval import classification as cl
    from discovervoice.eval import report as rep

    try:
        z = np.load(args.predictions, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{args.predictions}: not a readable .npz ({exc})") from exc
    for key in ("labels", "scores"):
        if key not in z:
            raise DataError(f"{args.predictions}: missing array {key!r}")
    names = [str(n) for n in z["class_names"]] if "class_names" in z else None
    d = cl.classification_report(z["labels"], z["scores"], class_names=names,
                                 from_logits=args.logits)
    if args.report:
        fig = cl.plot_confusion_matrix(np.array(d["confusion_matrix"]), d["class_names"],
                                       args.report / f"{args.name}_confusion.png")
        rep.write_report(args.report, args.name, d, rep.classification_markdown(d, [fig]))
    print(f"accuracy {d['accuracy']:.4f}  cross-entropy {d['cross_entropy']:.4f} nats  "
          + "  ".join(f"top-{k} {v:.4f}" for k, v in d["top_k_accuracy"].items()))
    return 0


def _lt_create(args: argparse.Namespace) -> int:
    from discovervoice.eval.human_mos import ListeningTestStore

    tid = ListeningTestStore(args.db).create_test(args.test, args.description)
    print(f"test {args.test!r}: id {tid}")
    return 0


def _lt_add(args: argparse.Namespace) -> int:
    from discovervoice.eval.conversion import audio_files
    from discovervoice.eval.human_mos import ListeningTestStore

    store = ListeningTestStore(args.db)
    n = 0
    for a in args.audio:
        for item, p in audio_files(a).items():
            store.add_stimulus(args.test, args.system, p.resolve(), item=item)
            n += 1
    print(f"added {n} stimuli of system {args.system!r} to {args.test!r}")
    return 0


def _lt_rate(args: argparse.Namespace) -> int:
    from discovervoice.eval.human_mos import ListeningTestStore

    store = ListeningTestStore(args.db)
    store.add_listener(args.listener)
    store.add_rating(args.stimulus, args.listener, args.score)
    return 0


def _lt_mos(args: argparse.Namespace) -> int:
    from discovervoice.eval import plots
    from discovervoice.eval import report as rep
    from discovervoice.eval.human_mos import ListeningTestStore

    systems = ListeningTestStore(args.db).mos(args.test)
    if args.report:
        fig = plots.plot_mos([(s.system, s.mos, s.ci95) for s in systems],
                             args.report / "listening_mos.png",
                             title=f"Human MOS, test {args.test} (95% CI)")
        d = {"kind": "human_mos", "test": args.test,
             "systems": [s.__dict__ for s in systems]}
        rep.write_report(args.report, "listening", d, rep.human_mos_markdown(args.test, systems, [fig]))
    print(rep.human_mos_markdown(args.test, systems))
    return 0


def _lt_export(args: argparse.Namespace) -> int:
    from discovervoice.eval.human_mos import ListeningTestStore

    p = ListeningTestStore(args.db).export_csv(args.test, args.out)
    print(f"wrote {p}")
    return 0

"""``discovervoice separate`` and ``discovervoice separation train|prune|evaluate``.

Heavy imports (torch, demucs) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``separate`` and ``separation train|prune|export|interpolate|evaluate``."""
    _add_separate(subparsers)
    sp = subparsers.add_parser("separation", help="train, prune or evaluate separation models")
    sub = sp.add_subparsers(dest="separation_command", metavar="ACTION")
    sub.required = True
    _add_train(sub)
    _add_prune(sub)
    _add_export(sub)
    _add_interpolate(sub)
    _add_evaluate(sub)


def _add_separate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "separate", help="separate songs into stems (vocals, accompaniment / drums, bass, other)",
        description="Separate audio files (or every audio file in folders) into stems, written "
                    "as OUT/<track>/<stem>.<ext>. Bad files are reported and skipped.")
    p.add_argument("inputs", nargs="+", help="audio files or folders")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("-n", "--model", default="default",
                   help="model name from the weights registry (e.g. bs_roformer_viperx_1297, "
                        "mel_roformer_kim_vocals after `discovervoice weights fetch NAME`) or a "
                        "checkpoint path (default: the embedded default; 'ensemble' combines the "
                        "embedded models)")
    p.add_argument("--two-stems", metavar="STEM", default=None,
                   help="only STEM and its complement (e.g. vocals -> vocals + accompaniment)")
    p.add_argument("--format", choices=("wav", "flac", "mp3"), default="wav")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--segment", type=float, default=None, help="chunk length in seconds")
    p.add_argument("--overlap", type=float, default=None,
                   help="chunk overlap fraction (default: the checkpoint's own convention, "
                        "0.5 for the published RoFormers, else 0.25)")
    p.add_argument("--shifts", type=int, default=0, help="random shifts to average (shift trick)")
    p.add_argument("--wiener", type=int, default=None, metavar="N",
                   help="post-filter all stems with a multichannel Wiener filter, N EM iterations "
                        "(1: about +0.9 dB vocals on real songs with the default, twice the time)")
    p.add_argument("-j", "--jobs", type=int, default=0, help="parallel chunk workers (CPU)")
    p.add_argument("-d", "--device", default="cpu", help="cpu or cuda")
    p.add_argument("--ensemble-method", default="average",
                   help="for --model ensemble: average, median_mag, max_mag, min_mag, complex_avg")
    p.add_argument("--ensemble-weights", default=None,
                   help="for --model ensemble: comma-separated weights per member")
    p.add_argument("--ensemble-models", default=None,
                   help="for --model ensemble: comma-separated member model names")
    from discovervoice.separation.ensemble import PRESETS

    p.add_argument("--ensemble-preset", default=None, choices=sorted(PRESETS),
                   help="a named ensemble of published models and its combination: "
                        + "; ".join(f"{k}: {' + '.join(v.members)} ({v.method})" for k, v in PRESETS.items()))
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_separate)


def _add_train(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a separation network on a MUSDB18-HQ-layout folder")
    t.add_argument("--data", required=True,
                   help="dataset root with train/ (and optionally valid/) song folders; test/ is never read")
    t.add_argument("--out", required=True, help="run folder (checkpoint.pt, best.safetensors, log)")
    t.add_argument("--arch", choices=("htdemucs", "mdx23c"), default="htdemucs")
    t.add_argument("--size", choices=("small", "tiny"), default="small",
                   help="network configuration preset")
    t.add_argument("--four-stems", action="store_true",
                   help="learn drums/bass/other/vocals instead of vocals/accompaniment")
    t.add_argument("--model-kwargs", default=None, help="JSON overriding constructor kwargs")
    t.add_argument("--segment", type=float, default=None, help="example length (s)")
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 3e-4); on resume it replaces the stored one")
    t.add_argument("--silent-vocals", type=float, default=None,
                   help="probability that an example's vocals are digital silence (default 0; "
                        "on resume it replaces the stored one)")
    t.add_argument("--silent-accompaniment", type=float, default=None,
                   help="probability that an example with vocals has a digitally silent "
                        "accompaniment (a cappella; default 0; on resume it replaces the stored one)")
    t.add_argument("--patience", type=int, default=None,
                   help="stop after this many epochs without a better validation vocals uSDR "
                        "(default: never; a flat loss on small data ends early); on resume it "
                        "replaces the stored one")
    t.add_argument("--snapshots", action="store_true",
                   help="keep every epoch's network in OUT/snapshots/ (fp16 safetensors)")
    t.add_argument("--init", default=None,
                   help="start a new run from this embedded model (name or .safetensors); "
                        "its constructor kwargs are used unless --model-kwargs is given")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--epoch-steps", type=int, default=100)
    t.add_argument("--valid-songs", type=int, default=2)
    t.add_argument("--valid-seconds", type=float, default=30.0)
    t.add_argument("--save-every", type=int, default=50)
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    t.add_argument("--max-minutes", type=float, default=None, help="stop after this wall time")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("-d", "--device", default="cpu", help="cpu or cuda")
    t.set_defaults(func=_train)


def _add_prune(sub: argparse._SubParsersAction) -> None:
    pr = sub.add_parser("prune", help="iterative structured channel pruning with fine-tuning")
    pr.add_argument("--model", required=True, help="embedded model name or .safetensors path")
    pr.add_argument("--data", required=True,
                    help="MUSDB-layout dataset root for fine-tuning/validation; several comma-separated "
                         "roots train on all and validate on the first")
    pr.add_argument("--out", required=True, help="folder for pruned checkpoints and the table")
    pr.add_argument("--sparsities", default="0.25,0.5",
                    help="comma-separated channel sparsities reached step by step")
    pr.add_argument("--finetune-steps", type=int, default=100, help="fine-tuning steps after each step")
    pr.add_argument("--batch-size", type=int, default=4)
    pr.add_argument("--lr", type=float, default=1e-4)
    pr.add_argument("--valid-songs", type=int, default=2)
    pr.add_argument("--valid-seconds", type=float, default=30.0)
    pr.add_argument("--rtf-seconds", type=float, default=20.0, help="audio length for the RTF measurement")
    pr.add_argument("--silent-vocals", type=float, default=0.0,
                    help="probability that a fine-tuning example's vocals are digital silence")
    pr.add_argument("--distill", type=float, default=0.0,
                    help="weight in [0, 1] of distillation from the unpruned network in the "
                         "fine-tuning loss (0: the stems alone)")
    pr.add_argument("--teacher", default=None,
                    help="network to distil from (default: --model before pruning; give the "
                         "parent when --model is an already pruned child)")
    pr.add_argument("--threads", type=int, default=None)
    pr.add_argument("-d", "--device", default="cpu")
    pr.set_defaults(func=_prune)


def _add_export(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser("export", help="ship a trained checkpoint into weights/ with its manifest")
    ex.add_argument("checkpoint", help="DiscoverVoice .safetensors (e.g. RUN/best.safetensors)")
    ex.add_argument("--name", required=True, help="registry name, dv-...")
    ex.add_argument("--source", required=True, help="the recipe command and corpus")
    ex.add_argument("--licence", required=True, help="licence of the weights and training data")
    ex.add_argument("--weights-dir", default=None, help="default: the repository's weights/")
    ex.set_defaults(func=_export)


def _add_interpolate(sub: argparse._SubParsersAction) -> None:
    ip = sub.add_parser("interpolate", help="weight-space mix of a network and its fine-tuned copy",
                        description="theta = (1 - ALPHA) * BASE + ALPHA * TUNED (WiSE-FT): keeps most "
                                    "of what fine-tuning on new material gained and most of what "
                                    "the base did well, without training.")
    ip.add_argument("base", help="embedded checkpoint (registry name or .safetensors)")
    ip.add_argument("tuned", help="its fine-tuned copy (same architecture and kwargs)")
    ip.add_argument("--alpha", type=float, required=True, help="weight of TUNED in [0, 1]")
    ip.add_argument("-o", "--out", required=True, help="output .safetensors")
    ip.set_defaults(func=_interpolate)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evaluate", help="score models on a MUSDB-layout split (uSDR, SI-SDR)")
    ev.add_argument("--data", required=True, help="folder of song folders (e.g. corpus songs/test)")
    ev.add_argument("--models", required=True, help="comma-separated model names/paths; "
                    "'mixture' and 'irm' are the baselines, 'repet-sim' the training-free "
                    "REPET-SIM")
    ev.add_argument("--out", default=None, help="write the table as JSON (and .md next to it)")
    ev.add_argument("--max-seconds", type=float, default=None, help="first seconds of each song")
    ev.add_argument("--max-songs", type=int, default=None, help="first songs (by name)")
    ev.add_argument("--threads", type=int, default=None)
    ev.add_argument("--wiener", type=int, default=None, metavar="N",
                    help="Wiener post-filter (N EM iterations) for every model evaluated")
    ev.add_argument("--instrumental", action="store_true",
                    help="also score each song with its vocals taken out (vocal-free "
                         "references: vocals leakage on any data set)")
    ev.set_defaults(func=_evaluate)


def _progress_bar(enabled: bool):
    if not enabled:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=1000, unit="‰", leave=False, file=sys.stderr)

    def cb(frac: float, msg: str) -> None:
        bar.n = int(frac * 1000)
        bar.set_description(msg[:40])
        bar.refresh()

    return cb, bar


def _separate(args: argparse.Namespace) -> int:
    from discovervoice.separation.api import Separator, separate_files

    stems = None
    if args.two_stems:
        stems = (args.two_stems,)
    kw = {}
    if args.ensemble_preset:
        kw["preset"] = args.ensemble_preset
    elif args.model == "ensemble":
        if args.ensemble_models:
            kw["members"] = [m.strip() for m in args.ensemble_models.split(",") if m.strip()]
        if args.ensemble_weights:
            kw["weights"] = [float(w) for w in args.ensemble_weights.split(",")]
        kw["method"] = args.ensemble_method
    cb, bar = _progress_bar(not args.no_progress and sys.stderr.isatty())
    sep = Separator(model=args.model, device=args.device, segment=args.segment,
                    overlap=args.overlap, shifts=args.shifts, jobs=args.jobs, stems=stems,
                    progress=cb, wiener=args.wiener, **kw)
    try:
        report = separate_files(sep, args.inputs, args.out, fmt=args.format, force=args.force,
                                log_fn=lambda m: print(m, file=sys.stderr))
    finally:
        if bar is not None:
            bar.close()
    for r in report.written:
        print(f"ok\t{r}")
    for path, why in report.skipped:
        print(f"skipped\t{path}\t{why}", file=sys.stderr)
    for path, why in report.failed:
        print(f"failed\t{path}\t{why}", file=sys.stderr)
    print(f"{len(report.written)} separated, {len(report.skipped)} skipped (exists; --force), "
          f"{len(report.failed)} failed", file=sys.stderr)
    if report.failed and not report.written:
        return 1
    return 0 if not report.failed else 3


def _train(args: argparse.Namespace) -> int:
    from discovervoice.separation import models as M
    from discovervoice.separation.train import TrainConfig, train

    base = {("htdemucs", "small"): M.SMALL_HTDEMUCS, ("htdemucs", "tiny"): M.TINY_HTDEMUCS,
            ("mdx23c", "small"): M.SMALL_MDX23C, ("mdx23c", "tiny"): M.TINY_MDX23C}[(args.arch, args.size)]
    kw = dict(base)
    if args.init and not args.model_kwargs:
        from discovervoice.weights import resolve

        p = Path(args.init) if Path(args.init).is_file() else resolve(args.init)
        src = M.load_embedded(p)
        kw = M.init_kwargs(src)
        if M.architecture_of(src) != args.arch:
            raise SystemExit(f"--init {args.init} is a {M.architecture_of(src)} network; "
                             f"pass --arch {M.architecture_of(src)}")
    if args.four_stems:
        kw["sources"] = ["drums", "bass", "other", "vocals"]
    if args.model_kwargs:
        kw.update(json.loads(args.model_kwargs))
    if args.segment is not None:
        segment = args.segment
    elif args.arch == "htdemucs":
        segment = float(kw.get("segment", 4))
    else:
        segment = kw["chunk_size"] / kw["samplerate"]
    if args.arch == "htdemucs":
        kw["segment"] = segment
    else:
        hop = kw["hop_length"]
        kw["chunk_size"] = hop * (max(2, round(segment * kw["samplerate"] / hop) + 1) - 1)
        segment = kw["chunk_size"] / kw["samplerate"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fh = logging.FileHandler(out / "train.log")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("discovervoice").addHandler(fh)
    logging.getLogger("discovervoice").setLevel(logging.INFO)
    cfg = TrainConfig(data=str(args.data), out=str(out), architecture=args.arch, model_kwargs=kw,
                      segment=segment, batch_size=args.batch_size,
                      lr=3e-4 if args.lr is None else args.lr, epochs=args.epochs,
                      epoch_steps=args.epoch_steps, valid_songs=args.valid_songs,
                      valid_seconds=args.valid_seconds, seed=args.seed, save_every=args.save_every,
                      silent_vocals=args.silent_vocals or 0.0,
                      silent_accompaniment=args.silent_accompaniment or 0.0, init=args.init,
                      snapshots=args.snapshots, patience=args.patience or 0)
    from discovervoice.progress import tqdm_bar

    cb, bar = tqdm_bar("separation train") if sys.stderr.isatty() else (None, None)
    try:
        summary = train(cfg, device=args.device, resume=not args.no_resume,
                        max_minutes=args.max_minutes, threads=args.threads, progress=cb,
                        overrides={"lr": args.lr, "silent_vocals": args.silent_vocals,
                                   "silent_accompaniment": args.silent_accompaniment,
                                   "patience": args.patience})
    finally:
        if bar is not None:
            bar.close()
    summary = {k: v for k, v in summary.items() if k != "history"}
    print(json.dumps(summary, indent=2))
    return 0


def _prune(args: argparse.Namespace) -> int:
    from discovervoice.separation.prune import prune_iteratively

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fh = logging.FileHandler(out / "prune.log")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("discovervoice").addHandler(fh)
    logging.getLogger("discovervoice").setLevel(logging.INFO)
    sparsities = [float(s) for s in args.sparsities.split(",") if s.strip()]
    table = prune_iteratively(args.model, args.data, out, sparsities=sparsities,
                              finetune_steps=args.finetune_steps, batch_size=args.batch_size,
                              lr=args.lr, valid_songs=args.valid_songs,
                              valid_seconds=args.valid_seconds, rtf_seconds=args.rtf_seconds,
                              threads=args.threads, device=args.device,
                              silent_vocals=args.silent_vocals, distill=args.distill,
                              teacher=args.teacher)
    print(table.markdown())
    return 0


def _export(args: argparse.Namespace) -> int:
    from discovervoice.separation.models import export_embedded

    if not args.name.startswith("dv-"):
        print("note: embedded model names start with 'dv-'", file=sys.stderr)
    dest, manifest = export_embedded(args.checkpoint, args.name, weights_dir=args.weights_dir,
                                     source=args.source, licence=args.licence)
    print(f"{dest}\n{manifest}")
    return 0


def _interpolate(args: argparse.Namespace) -> int:
    from discovervoice.separation import models as M
    from discovervoice.weights import resolve

    def path(x: str) -> Path:
        return Path(x) if Path(x).is_file() else Path(resolve(x))

    net = M.interpolate_weights(path(args.base), path(args.tuned), args.alpha)
    out = M.save_embedded(net, args.out, extra={"interpolated": {
        "base": args.base, "tuned": args.tuned, "alpha": args.alpha}})
    print(out)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from discovervoice.separation.evaluate import evaluate_models

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    table = evaluate_models(names, args.data, max_seconds=args.max_seconds, max_songs=args.max_songs,
                            instrumental=args.instrumental,
                            separator_kwargs=None if args.wiener is None else {"wiener": args.wiener},
                            progress=lambda f, m: print(m, file=sys.stderr))
    print(table.markdown())
    if args.out:
        p = Path(args.out)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(table.to_dict(), indent=2))
        p.with_suffix(".md").write_text(table.markdown() + "\n")
    return 0

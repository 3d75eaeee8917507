"""Command line of speech enhancement and transcription.

::

    discovervoice enhance IN [IN ...] -o OUT [--model dv-enhance-crnn | --method mmse-stsa]
    discovervoice enhance train --data DIR --out RUN_DIR [--valid DIR] [--steps N] [--causal]
    discovervoice enhance evaluate --data DIR [--split test] [--asr pocketsphinx] [--report DIR]
    discovervoice transcribe IN [--backend whisper|pocketsphinx] [--language L]
                             [--reference TEXT] [--words] [--json] [--enhance]

``enhance IN`` and ``enhance train`` share one command: a first word that is not ``train``
or ``evaluate`` is an input file. Heavy imports happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from discovervoice.progress import tqdm_bar

_ENHANCE_SUBCOMMANDS = ("train", "evaluate")


class _DefaultSubcommand(argparse._SubParsersAction):  # noqa: SLF001 (argparse extension)
    """Sub-commands with a fallback: unknown first words go to the ``run`` parser."""

    class _AnyName(dict):
        def __contains__(self, key: object) -> bool:  # every word is a valid choice
            return True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.choices = self._AnyName()     # argparse's choice check accepts any word

    def __call__(self, parser, namespace, values, option_string=None):
        if values and values[0] not in _ENHANCE_SUBCOMMANDS:
            values = ["run", *values]
        super().__call__(parser, namespace, values, option_string)


def register(subparsers) -> None:
    """Add ``enhance`` (with ``train`` / ``evaluate``) and ``transcribe``."""
    enh = subparsers.add_parser(
        "enhance", help="remove noise from speech (CRNN or a classic baseline); train; evaluate",
        description="discovervoice enhance IN [IN ...] -o OUT  |  enhance train --data DIR "
                    "--out RUN  |  enhance evaluate --data DIR. Use `enhance run -h`, "
                    "`enhance train -h`, `enhance evaluate -h` for the options.")
    sub = enh.add_subparsers(dest="enhance_command", metavar="{IN,train,evaluate}",
                             action=_DefaultSubcommand)
    sub.required = True

    run = sub.add_parser("run", help="enhance files (the default: `enhance IN -o OUT`)")
    run.add_argument("inputs", nargs="+", type=Path, help="noisy speech files")
    run.add_argument("-o", "--output", type=Path, required=True,
                     help="output file (one input) or folder (several inputs)")
    run.add_argument("--model", default="dv-enhance-crnn",
                     help="registry name or checkpoint path (default dv-enhance-crnn)")
    run.add_argument("--method", default="crnn",
                     choices=("crnn", "noisereduce", "mmse-stsa", "wiener"),
                     help="crnn (default) or a classic baseline")
    run.add_argument("--chunk-seconds", type=float, default=10.0,
                     help="piece length for long inputs (seconds)")
    run.add_argument("--threads", type=int, default=None, help="torch threads")
    run.add_argument("--model-rate", action="store_true",
                     help="write at the model rate (16 kHz) instead of the input's rate")
    run.set_defaults(func=_run)

    tr = sub.add_parser("train", help="train a CRNN on noisy/clean pair folders")
    tr.add_argument("--data", required=True, type=Path,
                    help="folder with clean/ and noisy/ (or a corpus root / noisy_speech dir)")
    tr.add_argument("--valid", type=Path, default=None,
                    help="validation pairs (default: the 'valid' split next to --data, if any)")
    tr.add_argument("--out", required=True, type=Path,
                    help="run folder (checkpoint.pt, model.safetensors, train.log)")
    tr.add_argument("--steps", type=int, default=2000)
    tr.add_argument("--batch-size", type=int, default=8)
    tr.add_argument("--segment-seconds", type=float, default=2.0)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--remix-prob", type=float, default=0.5,
                    help="probability of re-mixing a crop with another pair's noise")
    tr.add_argument("--causal", action="store_true", help="streaming model (no look-ahead)")
    tr.add_argument("--hidden", type=int, default=128, help="GRU hidden size")
    tr.add_argument("--layers", type=int, default=2, help="GRU layers")
    tr.add_argument("--channels", default="16,32,32", help="encoder conv channels")
    tr.add_argument("--threads", type=int, default=1, help="torch threads")
    tr.add_argument("--checkpoint-every", type=int, default=50)
    tr.add_argument("--valid-every", type=int, default=100)
    tr.add_argument("--max-train-files", type=int, default=None)
    tr.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    tr.add_argument("--export", type=Path, default=None,
                    help="also copy the best model to this .safetensors path")
    tr.set_defaults(func=_train)

    ev = sub.add_parser("evaluate", help="score the CRNN and baselines per SNR")
    ev.add_argument("--data", required=True, type=Path)
    ev.add_argument("--split", default="test")
    ev.add_argument("--model", default="dv-enhance-crnn")
    ev.add_argument("--methods", default="noisy,noisereduce,mmse-stsa,wiener,crnn")
    ev.add_argument("--max-files", type=int, default=None)
    ev.add_argument("--no-dnsmos", action="store_true")
    ev.add_argument("--speakers", default=None,
                    help="comma list of speaker id prefixes: only their pairs (from the manifest), e.g. klettres-")
    ev.add_argument("--languages", default=None,
                    help="comma list: only pairs in these languages (from the manifest), e.g. en")
    ev.add_argument("--asr", choices=("none", "pocketsphinx", "whisper"), default="none",
                    help="also report CER/WER of this recogniser (robustness table)")
    ev.add_argument("--asr-model", default=None, help="Whisper checkpoint for --asr whisper")
    ev.add_argument("--threads", type=int, default=None)
    ev.add_argument("--report", type=Path, default=None,
                    help="folder for report.json + report.md")
    ev.set_defaults(func=_evaluate)

    ts = subparsers.add_parser(
        "transcribe", help="speech to text (Whisper or pocketsphinx), with CER/WER",
        description="Transcribe speech; word timestamps where the backend gives them.")
    ts.add_argument("inputs", nargs="+", type=Path)
    ts.add_argument("--backend", choices=("whisper", "pocketsphinx"), default="pocketsphinx",
                    help="pocketsphinx (offline, English) or whisper (registry checkpoint)")
    ts.add_argument("--model", default=None,
                    help="Whisper registry name or folder (default whisper_tiny)")
    ts.add_argument("--language", default=None, help="language code or name (e.g. en, German)")
    ts.add_argument("--reference", default=None, help="reference text: print CER / WER")
    ts.add_argument("--reference-file", type=Path, default=None,
                    help="reference text read from a file")
    ts.add_argument("--enhance", action="store_true",
                    help="denoise with the default CRNN first")
    ts.add_argument("--words", action="store_true", help="print word timestamps")
    ts.add_argument("--json", action="store_true", help="print JSON")
    ts.add_argument("--download", action="store_true",
                    help="download a missing Whisper checkpoint")
    ts.set_defaults(func=_transcribe)


# --------------------------------------------------------------------------- handlers

def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from discovervoice import audio

    inputs = list(args.inputs)
    for p in inputs:  # plainly bad files are refused before the model loads
        audio.preflight(p)
    many = len(inputs) > 1 or args.output.is_dir()
    if many:
        args.output.mkdir(parents=True, exist_ok=True)
    if args.method == "crnn":
        from discovervoice.enhance.apply import load

        enh = load(args.model, chunk_seconds=args.chunk_seconds, num_threads=args.threads)
        sr, fn = enh.sample_rate, None
    else:
        from discovervoice.enhance.baselines import BASELINES

        enh, sr = None, 16000
        base = BASELINES[args.method]
        fn = lambda x: base(x, sr)  # noqa: E731
    for i, p in enumerate(inputs):
        native, native_sr = audio.read(p)
        x = audio.resample(native, native_sr, sr) if native_sr != sr else native
        if enh is not None:
            cb, bar = tqdm_bar(p.name, leave=False)
            try:
                y = enh.enhance(x, progress=cb)
            finally:
                bar.close()
        else:
            y = fn(x)
        out_sr = sr
        if not args.model_rate and native_sr != sr:
            y = audio.resample(y, sr, native_sr)[:, : native.shape[1]]
            out_sr = native_sr
        dest = args.output / (p.stem + ".wav") if many else args.output
        audio.save(dest, np.asarray(y, np.float32), out_sr)
        print(dest)
    return 0


def _train(args: argparse.Namespace) -> int:
    import shutil

    from discovervoice.enhance import data as pairdata
    from discovervoice.enhance.train import TrainConfig, train
    valid = args.valid
    if valid is None:      # a 'valid' split next to the training pairs, if there is one
        train_dir = pairdata.pair_dir(args.data, "train").resolve()
        for cand in (args.data / "valid", args.data / "noisy_speech" / "valid",
                     train_dir.parent / "valid"):
            if ((cand / "clean").is_dir() and (cand / "noisy").is_dir()
                    and cand.resolve() != train_dir):
                valid = cand
                break
    cfg = TrainConfig(
        data=str(args.data), valid=None if valid is None else str(valid), out=str(args.out),
        steps=args.steps, batch_size=args.batch_size, segment_seconds=args.segment_seconds,
        lr=args.lr, seed=args.seed, remix_prob=args.remix_prob, threads=args.threads,
        checkpoint_every=args.checkpoint_every, valid_every=args.valid_every,
        max_train_files=args.max_train_files,
        model={"causal": args.causal, "hidden": args.hidden, "layers": args.layers,
               "channels": [int(c) for c in args.channels.split(",")]})
    cb, bar = tqdm_bar("training", leave=False)
    try:
        path = train(cfg, resume=args.resume, progress=cb)
    finally:
        bar.close()
    if args.export:
        args.export.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, args.export)
        path = args.export
    print(path)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from discovervoice.enhance.evaluate import evaluate, to_markdown
    from discovervoice.eval.report import write_report

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    enhancer = None
    if "crnn" in methods:
        from discovervoice.enhance.apply import load

        enhancer = load(args.model, num_threads=args.threads)
    transcriber = None
    if args.asr != "none":
        from discovervoice.transcribe.api import load_transcriber

        transcriber = load_transcriber(args.asr, model=args.asr_model)
    cb, bar = tqdm_bar("evaluating", leave=False)
    try:
        result = evaluate(args.data, args.split, enhancer=enhancer, methods=methods,
                          use_dnsmos=not args.no_dnsmos, transcriber=transcriber,
                          max_files=args.max_files, progress=cb,
                          languages=args.languages.split(",") if args.languages else None,
                          speakers=args.speakers.split(",") if args.speakers else None)
    finally:
        bar.close()
    result["model"] = str(args.model) if enhancer is not None else None
    if args.report:
        j, md = write_report(args.report, "report", result, to_markdown(result))
        print(f"wrote {j} and {md}", file=sys.stderr)
    print(to_markdown(result))
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    from discovervoice import audio
    from discovervoice.transcribe.api import error_rates, load_transcriber

    for p in args.inputs:  # plainly bad files are refused before the model loads
        audio.preflight(p)
    reference = args.reference
    if args.reference_file is not None:
        reference = args.reference_file.read_text(encoding="utf-8")
    t = load_transcriber(args.backend, model=args.model, language=args.language,
                         download_missing=args.download)
    enh = None
    if args.enhance:
        from discovervoice.enhance.apply import load

        enh = load()
    results = []
    for p in args.inputs:
        x = audio.load(p, t.sample_rate, channels=1)
        if enh is not None:
            x = enh.enhance(x)
        r = t.transcribe(x, language=args.language)
        d = {"file": str(p), **r.to_dict()}
        if reference is not None:
            d["scores"] = {k: v for k, v in error_rates(reference, r.text).items()
                           if k in ("cer", "wer")}
        results.append(d)
        if not args.json:
            prefix = f"{p}: " if len(args.inputs) > 1 else ""
            print(prefix + r.text)
            if args.words:
                for w in r.words:
                    s = "?" if w.start is None else f"{w.start:.2f}"
                    e = "?" if w.end is None else f"{w.end:.2f}"
                    print(f"  {s}\t{e}\t{w.text}")
                for seg in r.segments:
                    print(f"  {seg['start']}\t{seg['end']}\t{seg['text']}")
            if "scores" in d:
                print(f"CER {d['scores']['cer']:.3f}  WER {d['scores']['wer']:.3f}")
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    return 0

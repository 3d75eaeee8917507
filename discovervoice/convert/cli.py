"""``discovervoice voice train|train-content|evaluate``, ``discovervoice convert`` and
``discovervoice cover``.

``voice train DATA -o VOICE`` trains on a folder of recordings; ``voice train --manifest
DATASET [--speaker spkN] -o VOICE`` on the slices of a ``discovervoice prep`` dataset.

Heavy imports (torch, pyworld, faiss) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from discovervoice.progress import tqdm_bar


def register(subparsers: argparse._SubParsersAction) -> None:
    from discovervoice.convert.f0 import DEFAULT_F0_METHOD, METHODS

    voice = subparsers.add_parser("voice", help="train voices for conversion")
    vsub = voice.add_subparsers(dest="voice_command", metavar="VOICE_COMMAND")
    vsub.required = True
    t = vsub.add_parser("train", help="train a voice from a folder of recordings or a prep dataset (>= 10 s voiced)",
                        description="Train a voice from a folder of recordings (cut at pauses here) or, with "
                                    "--manifest, from the slices of a `discovervoice prep` dataset as they are.")
    t.add_argument("data", type=Path, nargs="?", default=None, help="folder of the voice's recordings")
    t.add_argument("--manifest", type=Path, default=None, metavar="DATASET",
                   help="a `discovervoice prep` output folder or its manifest.jsonl, instead of DATA")
    t.add_argument("--speaker", default=None,
                   help="with --manifest: the speaker label to train on (spk0, ...; default: each "
                        "recording's main speaker)")
    t.add_argument("-o", "--out", type=Path, required=True, help="voice folder to write")
    t.add_argument("--arch", choices=("world", "rvc"), default="world",
                   help="world: the 2-core CPU recipe (default); rvc: RVC v2 NSF-HiFiGAN, fine-tuned from the "
                        "pretrained base when it resolves (GPU recommended)")
    t.add_argument("--content", default=None,
                   help="content encoder (registry name or path; default dv-content-ppg, hubert_base_rvc for rvc)")
    t.add_argument("--f0-method", default="harvest", choices=METHODS,
                   help="F0 method for the training audio (default %(default)s)")
    t.add_argument("--sample-rate", type=int, default=None, help="output rate in Hz (default 16000/24000)")
    t.add_argument("--steps", type=int, default=1500, help="maximum steps (early stopping may end sooner)")
    t.add_argument("--denoise", action="store_true", help="denoise with discovervoice.enhance first")
    t.add_argument("--no-resume", action="store_true", help="start over instead of resuming")
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.set_defaults(func=_train)

    c = vsub.add_parser("train-content", help="train the PPG content encoder (dv-content-ppg recipe)")
    c.add_argument("roots", nargs="+", type=Path, help="folders of *.wav with .phones.json next to them")
    c.add_argument("-o", "--out", type=Path, required=True, help="safetensors file to write")
    c.add_argument("--exclude-voices", default="", help="comma-separated voices to leave out")
    c.add_argument("--steps", type=int, default=2000)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--cache", type=Path, default=None, help="feature cache .npz (read if present, else written)")
    c.add_argument("--device", default="cpu")
    c.add_argument("--channels", type=int, default=128)
    c.add_argument("--layers", type=int, default=5)
    c.add_argument("--batch", type=int, default=16)
    c.set_defaults(func=_train_content)

    e = vsub.add_parser("evaluate", help="MCD / similarity / RPA / DNSMOS on the corpus' parallel sets")
    e.add_argument("corpus", type=Path, help="corpus folder with parallel/<split>/{sets,voices}")
    e.add_argument("--voices", type=Path, required=True, help="folder of trained voices (missing ones are trained)")
    e.add_argument("--split", default="test")
    e.add_argument("--f0-method", default=DEFAULT_F0_METHOD, choices=METHODS,
                   help="F0 method of the conversions (default %(default)s)")
    e.add_argument("--index-rate", type=float, default=0.75)
    e.add_argument("--protect", type=float, default=0.33)
    e.add_argument("--rms-mix-rate", type=float, default=0.25)
    e.add_argument("--steps", type=int, default=1500, help="training steps for voices not yet trained")
    e.add_argument("--content", default="dv-content-ppg")
    e.add_argument("--max-sets", type=int, default=None)
    e.add_argument("--no-mos", action="store_true")
    e.add_argument("--out", type=Path, default=None,
                   help="folder for the converted files, results.json and results.md (default VOICES/eval-SPLIT)")
    e.add_argument("--threads", type=int, default=None)
    e.set_defaults(func=_evaluate)

    cv = subparsers.add_parser("convert", help="sing/speak a recording in another voice")
    cv.add_argument("input", type=Path)
    cv.add_argument("--voice", required=True, help="voice folder, RVC .pth, or registry name")
    cv.add_argument("--index", type=Path, default=None, help="faiss index for an RVC .pth")
    cv.add_argument("-o", "--out", type=Path, required=True)
    _conv_args(cv, METHODS)
    cv.add_argument("--auto-semitone", action="store_true",
                    help="shift to the nearest semitone of the voice's median pitch instead of whole "
                         "octaves (speech; implies --auto-octave)")
    cv.set_defaults(func=_convert)

    co = subparsers.add_parser("cover", help="separate a song, convert its vocals, remix")
    co.add_argument("song", type=Path)
    co.add_argument("--voice", required=True)
    co.add_argument("-o", "--out", type=Path, required=True)
    co.add_argument("--separation-model", default="default", help="separation model (registry name or path)")
    co.add_argument("--key-shift-accompaniment", action="store_true",
                    help="shift the accompaniment by --transpose too")
    _conv_args(co, METHODS)
    co.set_defaults(func=_cover)


def _conv_args(p: argparse.ArgumentParser, methods: tuple[str, ...]) -> None:
    from discovervoice.convert.f0 import DEFAULT_F0_METHOD

    p.add_argument("--transpose", type=float, default=0, help="semitones (+12 = one octave up)")
    p.add_argument("--auto-octave", action="store_true", help="add whole octaves into the voice's range")
    p.add_argument("--f0-method", default=DEFAULT_F0_METHOD, choices=methods,
                   help="pitch tracker (default %(default)s: the most accurate here on real voices)")
    p.add_argument("--index-rate", type=float, default=0.75)
    p.add_argument("--protect", type=float, default=0.33)
    p.add_argument("--rms-mix-rate", type=float, default=0.25)


def _train(args: argparse.Namespace) -> int:
    from discovervoice.convert.voice import train_voice

    if (args.data is None) == (args.manifest is None):
        raise ValueError("voice train needs DATA or --manifest DATASET (one of them)")
    if args.speaker is not None and args.manifest is None:
        raise ValueError("--speaker picks a voice in a --manifest dataset")
    if args.manifest is not None and args.arch == "rvc":
        raise ValueError("--manifest trains the world voice; --arch rvc reads a folder of recordings")
    cb, bar = tqdm_bar("voice train")
    if args.arch == "rvc":
        from discovervoice.convert.rvc_train import train_rvc

        try:
            out = train_rvc(args.data, args.out, sample_rate=args.sample_rate or 40000,
                            content=args.content or "hubert_base_rvc",
                            f0_method=args.f0_method, steps=args.steps, device=args.device,
                            resume=not args.no_resume, progress=cb)
        finally:
            bar.close()
        print(out)
        return 0
    try:
        v = train_voice(args.data, args.out, manifest=args.manifest, speaker=args.speaker,
                        content=args.content or "dv-content-ppg", f0_method=args.f0_method,
                        sample_rate=args.sample_rate, steps=args.steps, denoise=args.denoise,
                        resume=not args.no_resume, device=args.device, threads=args.threads, progress=cb)
    finally:
        bar.close()
    print(json.dumps({k: v.meta["train"][k] for k in ("seconds", "voiced_seconds", "steps", "best_step", "stopped",
                                                      "train_seconds")}, indent=1))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from discovervoice.convert.evaluate import evaluate_parallel, markdown

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cb, bar = tqdm_bar("evaluate")
    try:
        r = evaluate_parallel(args.corpus, args.voices, split=args.split, f0_method=args.f0_method,
                              index_rate=args.index_rate, protect=args.protect, rms_mix_rate=args.rms_mix_rate,
                              train_kwargs={"steps": args.steps, "content": args.content, "threads": args.threads},
                              max_sets=args.max_sets, out_dir=args.out, mos=not args.no_mos, progress=cb)
    finally:
        bar.close()
    print(markdown(r))
    return 0


def _train_content(args: argparse.Namespace) -> int:
    from discovervoice.convert.content import train_ppg

    cb, bar = tqdm_bar("content encoder")
    try:
        s = train_ppg(args.roots, args.out, exclude_voices=[v for v in args.exclude_voices.split(",") if v],
                      steps=args.steps, threads=args.threads, cache=args.cache, device=args.device,
                      channels=args.channels, n_layers=args.layers, batch=args.batch, progress=cb)
    finally:
        bar.close()
    print(json.dumps(s, indent=1))
    return 0


def _convert(args: argparse.Namespace) -> int:
    from discovervoice import audio as dva
    from discovervoice.convert.api import SR16, convert, save_converted
    from discovervoice.convert.voice import VoiceModel

    # loaded as convert() works on it (mono mean, then soxr to 16 kHz): no copy at the file's
    # rate stays alive for the whole conversion; a bad input is refused before the voice loads
    sr = SR16
    x = dva.load(args.input, sr, channels=1)
    v = VoiceModel.load(args.voice, index=args.index)
    cb, bar = tqdm_bar("convert")
    try:
        y = convert(x, sr, v, transpose=args.transpose, f0_method=args.f0_method, index_rate=args.index_rate,
                    protect=args.protect, rms_mix_rate=args.rms_mix_rate,
                    auto_octave=args.auto_octave or args.auto_semitone, auto_step=1 if args.auto_semitone else 12,
                    progress=cb)
    finally:
        bar.close()
    save_converted(args.out, y, v.sample_rate, f"AI-converted voice ({Path(str(v.path)).name})")
    print(args.out)
    return 0


def _cover(args: argparse.Namespace) -> int:
    from discovervoice.convert.api import make_cover

    cb, bar = tqdm_bar("cover")
    try:
        r = make_cover(args.song, args.voice, args.out, transpose=args.transpose,
                       key_shift_accompaniment=args.key_shift_accompaniment, f0_method=args.f0_method,
                       index_rate=args.index_rate, protect=args.protect, rms_mix_rate=args.rms_mix_rate,
                       auto_octave=args.auto_octave, separation_model=args.separation_model, progress=cb)
    finally:
        bar.close()
    print(r["path"])
    return 0

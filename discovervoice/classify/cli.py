"""Command line of the singer classifier (registered by ``discovervoice.cli``).

Commands::

    discovervoice which-singer VOICE_FILE [--model MODEL] [--top-k 5] [--json] [--song]
    discovervoice classify train (DATA_DIR | --manifest PREP_DATASET) -o MODEL_DIR [--init ...] ...
    discovervoice classify evaluate MODEL DATA_DIR -o OUT_DIR [--gallery-clips 3] ...
    discovervoice classify gallery add MODEL NAME CLIP [CLIP ...] [-o OUT_DIR] [--replace]
    discovervoice classify gallery remove MODEL NAME [-o OUT_DIR]
    discovervoice classify gallery list MODEL [--json]
    discovervoice classify catalogue MODEL (CATALOGUE_CSV | --from-corpus DIR) [-o OUT_DIR]

``which-singer --json`` prints the stable object documented in
:mod:`discovervoice.classify.classifier`: ``{"singers": [{"name", "probability"}...],
"recommendations": [{"singer", "title", "file_or_link", "probability"}...], ...}``.
Heavy imports (torch, transformers) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    ws = subparsers.add_parser(
        "which-singer", help="which singers does a voice recording sound like",
        description="Rank the singers a recording of speech or singing sounds like, with "
                    "calibrated probabilities aggregated over voiced windows, and recommend "
                    "songs by the top singers from the model's catalogue.")
    ws.add_argument("voice_file", help="speech or singing (any format); with --song a full song")
    ws.add_argument("--model", default="default",
                    help="classifier folder or registry name (default: the embedded dv-singer-ast)")
    ws.add_argument("--top-k", type=int, default=5, help="how many singers to list (default 5)")
    ws.add_argument("--json", action="store_true", help="print the stable JSON object")
    ws.add_argument("--song", action="store_true",
                    help="the file is a full song: separate its vocals first")
    ws.add_argument("--separation-model", default=None, help="separation model for --song")
    ws.add_argument("--scoring", choices=("auto", "head", "gallery"), default="auto",
                    help="head: trained classifier; gallery: embedding centroids (default auto)")
    ws.add_argument("--per-singer", type=int, default=3, help="songs recommended per singer")
    ws.set_defaults(func=_which_singer)

    cl = subparsers.add_parser("classify", help="train, evaluate and extend singer classifiers")
    sub = cl.add_subparsers(dest="classify_command", metavar="COMMAND")
    sub.required = True
    _register_train(sub)
    _register_evaluate(sub)
    _register_gallery(sub)
    _register_backend_fusion_catalogue(sub)


def _register_train(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("train", help="train an AST singer classifier on DATA_DIR/<singer>/...",
                        description="Train (fine-tune) an AST singer classifier. DATA_DIR holds "
                                    "one folder per singer with vocal clips; full songs go in "
                                    "DATA_DIR/<singer>/songs/ and are separated first. "
                                    "--manifest trains on a `discovervoice prep` dataset "
                                    "instead (its sources' folders name the singers).")
    tr.add_argument("data_dir", nargs="?", default=None)
    tr.add_argument("--manifest", default=None, metavar="DATASET",
                    help="a `discovervoice prep` output folder (or its manifest.jsonl) instead "
                         "of DATA_DIR: the singer is each source recording's folder name, the "
                         "source its song, its main speaker's slices the clips")
    tr.add_argument("-o", "--out", required=True, help="classifier folder to write")
    tr.add_argument("--init", default="auto",
                    help="auto (ast_audioset when available, else dv-singer-ast), scratch, "
                         "a registry name or a folder")
    tr.add_argument("--steps", type=int, default=3000)
    tr.add_argument("--batch-size", type=int, default=24)
    tr.add_argument("--lr", type=float, default=None)
    tr.add_argument("--warmup", type=int, default=200)
    tr.add_argument("--eval-every", type=int, default=150)
    tr.add_argument("--patience", type=int, default=6)
    tr.add_argument("--window-seconds", type=float, default=None,
                    help="window length (default: the initial model's; 4 s from scratch)")
    tr.add_argument("--val-fraction", type=float, default=0.15)
    tr.add_argument("--test-fraction", type=float, default=0.0,
                    help="share of each singer's songs held out for `classify evaluate`")
    tr.add_argument("--holdout-singers", type=int, default=0,
                    help="singers held out entirely (unseen-singer evaluation)")
    tr.add_argument("--freeze-encoder", action="store_true", help="train only the head")
    tr.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget")
    tr.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--fp16", action="store_true", help="store weights in float16")
    tr.add_argument("--vad", choices=("webrtc", "silero", "energy"), default="webrtc",
                    help="voice activity detector (silero: speech only; webrtc: speech and "
                         "singing)")
    tr.add_argument("--hidden-size", type=int, default=None, help="from scratch: hidden size")
    tr.add_argument("--layers", type=int, default=None, help="from scratch: transformer layers")
    tr.add_argument("--heads", type=int, default=None, help="from scratch: attention heads")
    tr.add_argument("--no-augment", action="store_true", help="disable augmentation")
    tr.add_argument("--loss", choices=("softmax", "aam"), default="softmax",
                    help="aam: additive angular margin (ArcFace) for embeddings that "
                         "separate unseen singers better (gallery)")
    tr.add_argument("--cross-modal", type=float, default=0.0, metavar="WEIGHT",
                    help="weight of a cross-modal prototypical loss that pulls each singer's "
                         "sung and spoken embeddings together (gallery: sung enrolment, "
                         "spoken queries); 0 = off")
    tr.add_argument("--cross-modal-scale", type=float, default=10.0,
                    help="cosine scale of the cross-modal loss")
    tr.add_argument("--cross-modal-crops", type=int, default=2,
                    help="sung (and spoken) crops per singer in a cross-modal batch")
    tr.add_argument("--aam-margin", type=float, default=0.2)
    tr.add_argument("--aam-scale", type=float, default=30.0)
    tr.add_argument("--cache", default=None, help="folder caching voiced audio between runs")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    tr.add_argument("--catalogue", default=None, help="catalogue.csv to ship with the model")
    tr.add_argument("--allow-reserved", action="store_true",
                    help="allow singer folders named after voices reserved for evaluation")
    tr.set_defaults(func=_train)


def _register_evaluate(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evaluate", help="top-1/top-3/cross-entropy vs a resemblyzer baseline",
                        description="Evaluate on held-out songs of the model's singers and on "
                                    "unseen singers enrolled from a few clips (gallery), for "
                                    "sung and spoken queries, against nearest-centroid on "
                                    "resemblyzer embeddings.")
    ev.add_argument("model")
    ev.add_argument("data_dir", nargs="+", help="one or more DATA_DIR/<singer>/... folders")
    ev.add_argument("--protocol", choices=("both", "seen", "unseen"), default="both",
                    help="seen: held-out songs of the model's singers; unseen: gallery "
                         "enrolment of singers the model was not trained on")
    ev.add_argument("-o", "--out", required=True)
    ev.add_argument("--gallery-clips", type=int, default=3)
    ev.add_argument("--gallery-seconds", type=float, default=6.0)
    ev.add_argument("--query-seconds", type=float, default=10.0)
    ev.add_argument("--max-queries", type=int, default=None, help="per singer and kind")
    ev.add_argument("--no-baseline", action="store_true")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--threads", type=int, default=1)
    ev.add_argument("--allow-reserved", action="store_true",
                    help="allow evaluation on the voices DESIGN.md reserves for evaluation")
    ev.add_argument("--write-enrolment", default=None, metavar="DIR",
                    help="save the unseen singers' enrolment clips here (DIR/<singer>/*.wav), "
                         "for fine-tuning on the same clips with `classify train DIR`")
    ev.set_defaults(func=_evaluate)


def _register_gallery(sub: argparse._SubParsersAction) -> None:
    ga = sub.add_parser("gallery", help="add singers to a classifier without retraining")
    gsub = ga.add_subparsers(dest="gallery_command", metavar="COMMAND")
    gsub.required = True
    add = gsub.add_parser("add", help="add a singer (or more clips of one) from a few clips")
    add.add_argument("model")
    add.add_argument("name")
    add.add_argument("clips", nargs="+")
    add.add_argument("-o", "--out", default=None,
                     help="write the extended classifier here (default: update MODEL in place; "
                          "required when MODEL is a registry name)")
    add.add_argument("--replace", action="store_true", help="replace the singer's centroid")
    add.set_defaults(func=_gallery_add)
    rm = gsub.add_parser("remove", help="remove a singer from the gallery")
    rm.add_argument("model")
    rm.add_argument("name")
    rm.add_argument("-o", "--out", default=None)
    rm.set_defaults(func=_gallery_remove)
    ls = gsub.add_parser("list", help="list the singers a classifier knows")
    ls.add_argument("model")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_gallery_list)


def _register_backend_fusion_catalogue(sub: argparse._SubParsersAction) -> None:
    bk = sub.add_parser("backend", help="fit the gallery's scoring backend (NAP + WCCN)",
                        description="Fit the gallery scoring backend of a trained classifier "
                                    "on windows of its training songs in DATA_DIR: nuisance "
                                    "attribute projection of the singing/speaking difference, "
                                    "then within-class covariance normalisation. Singers "
                                    "enrolled from sung clips are then also found from "
                                    "speech. `classify train` fits it already.")
    bk.add_argument("model")
    bk.add_argument("data_dir", help="the DATA_DIR the model was trained on")
    bk.add_argument("-o", "--out", default=None)
    bk.add_argument("--nap-dims", type=int, default=8,
                    help="singing/speaking directions projected out (0: none)")
    bk.add_argument("--wccn-reg", type=float, default=0.1,
                    help="WCCN regularisation (negative: no WCCN)")
    bk.add_argument("--remove", action="store_true", help="remove the backend instead")
    bk.add_argument("--cache", default=None, help="folder caching voiced audio between runs")
    bk.add_argument("--threads", type=int, default=1)
    bk.set_defaults(func=_backend)

    fu = sub.add_parser("fusion", help="fuse gallery scoring with a GE2E speaker encoder",
                        description="Give every gallery singer a GE2E (resemblyzer) speaker "
                                    "centroid from its clips in DATA_DIR and score the gallery "
                                    "by (1 - W) * AST cosine + W * GE2E cosine, times SCALE. "
                                    "Real people are then ranked far better than by the AST "
                                    "alone (weights/dv-singer-ast.md). W = 0 turns it off.")
    fu.add_argument("model")
    fu.add_argument("data_dir", nargs="+", help="DATA_DIR/<singer>/... with the gallery singers' clips")
    fu.add_argument("-o", "--out", default=None)
    fu.add_argument("--weight", type=float, required=True, help="GE2E weight W in [0, 1]")
    fu.add_argument("--scale", type=float, default=None,
                    help="scale of the fused similarities (default: the gallery's)")
    fu.add_argument("--clips-per-singer", type=int, default=8)
    fu.add_argument("--threads", type=int, default=1)
    fu.set_defaults(func=_fusion)

    ca = sub.add_parser("catalogue", help="set the songs a classifier recommends")
    ca.add_argument("model")
    ca.add_argument("catalogue", nargs="?", default=None,
                    help="CSV: singer,title,file_or_link")
    ca.add_argument("--from-corpus", default=None, metavar="CORPUS_DIR",
                    help="build the catalogue from the songs of a `discovervoice corpus build` "
                         "folder (mixture.wav paths relative to the model folder)")
    ca.add_argument("-o", "--out", default=None)
    ca.set_defaults(func=_catalogue)


def _which_singer(args: argparse.Namespace) -> int:
    import torch

    from discovervoice.classify.classifier import SingerClassifier, classify_file

    from discovervoice import audio

    audio.preflight(args.voice_file)  # a plainly bad file is refused before the model loads
    torch.set_num_threads(2)
    clf = SingerClassifier.load(args.model)
    x = classify_file(clf, args.voice_file, song=args.song, separator=args.separation_model)
    res = clf.which_singer(x, top_k=args.top_k, scoring=args.scoring, per_singer=args.per_singer,
                           name=str(args.voice_file))
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{args.voice_file}: {res['windows']} windows, {res['voiced_seconds']:.1f} s of voice "
          f"({res['scoring']} scoring)")
    for i, s in enumerate(res["singers"], 1):
        print(f"{i:>2}. {s['name']:<24} {100 * s['probability']:6.1f} %")
    if res["recommendations"]:
        print("recommended songs:")
        for r in res["recommendations"]:
            where = r["file_or_link"] if r.get("available") else "file unavailable"
            print(f"  - {r['singer']}: {r['title']}  ({where})")
    return 0


def _train(args: argparse.Namespace) -> int:
    from discovervoice.classify.features import AugmentConfig
    from discovervoice.classify.train import TrainConfig, train

    ast = {k: v for k, v in (("hidden_size", args.hidden_size), ("num_hidden_layers", args.layers),
                             ("num_attention_heads", args.heads)) if v is not None}
    if "hidden_size" in ast:
        ast["intermediate_size"] = 4 * ast["hidden_size"]
    aug = AugmentConfig(pitch_semitones=0, tempo=0, gain_db=0, noise_prob=0) \
        if args.no_augment else AugmentConfig()
    cfg = TrainConfig(init=args.init, ast=ast, window_seconds=args.window_seconds,
                      steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      warmup=args.warmup, eval_every=args.eval_every, patience=args.patience,
                      val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                      holdout_singers=args.holdout_singers, freeze_encoder=args.freeze_encoder,
                      max_minutes=args.max_minutes, threads=args.threads, seed=args.seed,
                      fp16=args.fp16, vad=args.vad, augment=aug, loss=args.loss,
                      aam_margin=args.aam_margin, aam_scale=args.aam_scale,
                      cross_modal=args.cross_modal, cross_modal_scale=args.cross_modal_scale,
                      cross_modal_crops=args.cross_modal_crops)
    from discovervoice.progress import tqdm_bar

    if (args.data_dir is None) == (args.manifest is None):
        raise ValueError("classify train needs DATA_DIR or --manifest DATASET (one of them)")
    clips = None
    if args.manifest is not None:
        from discovervoice.classify.data import clips_from_manifest

        clips = clips_from_manifest(args.manifest, allow_reserved=args.allow_reserved)
    cb, bar = tqdm_bar("training", leave=False, tty_only=True)
    try:
        res = train(args.data_dir or args.manifest, args.out, cfg, cache_dir=args.cache,
                    resume=args.resume, catalogue=args.catalogue,
                    allow_reserved=args.allow_reserved, progress=cb, clips=clips)
    finally:
        bar.close()
    s = res.summary
    print(f"saved {res.model_dir}: {len(s['singers'])} singers, {s['steps']} steps "
          f"(best {s['best_step']}, stopped: {s['stopped']}), temperature {s['temperature']:.3f}")
    if s["validation"]:
        print("validation: " + ", ".join(f"{k} {v:.3f}" for k, v in s["validation"].items()))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from discovervoice.classify.evaluate import evaluate, metrics_markdown

    torch.set_num_threads(max(1, args.threads))
    from discovervoice.progress import tqdm_bar

    cb, bar = tqdm_bar("evaluating", leave=False, tty_only=True)
    try:
        protocols = ("seen", "unseen") if args.protocol == "both" else (args.protocol,)
        res = evaluate(args.model, args.data_dir, args.out, protocols=protocols,
                       gallery_clips=args.gallery_clips,
                       gallery_seconds=args.gallery_seconds, query_seconds=args.query_seconds,
                       max_queries_per_singer=args.max_queries, baseline=not args.no_baseline,
                       seed=args.seed, allow_reserved=args.allow_reserved,
                       write_enrolment=args.write_enrolment, progress=cb)
    finally:
        bar.close()
    print(metrics_markdown(res), end="")
    print(f"wrote {Path(args.out) / 'metrics.json'}")
    return 0


def _writable_target(model: str, out: str | None) -> Path:
    from discovervoice.errors import DataError

    if out:
        return Path(out)
    p = Path(model)
    if not p.is_dir():
        raise DataError(f"{model!r} is not a classifier folder; pass -o OUT_DIR to write the "
                        "modified classifier to a new folder")
    return p


def _gallery_add(args: argparse.Namespace) -> int:
    from discovervoice.classify.classifier import SingerClassifier

    target = _writable_target(args.model, args.out)
    clf = SingerClassifier.load(args.model)
    n = clf.add_to_gallery(args.name, args.clips, replace=args.replace)
    clf.save(target)
    print(f"added {args.name!r} from {len(args.clips)} clip(s), {n} windows -> {target} "
          f"(scoring: {clf.scoring}, {len(clf.singers)} singers)")
    return 0


def _gallery_remove(args: argparse.Namespace) -> int:
    from discovervoice.classify.classifier import SingerClassifier

    target = _writable_target(args.model, args.out)
    clf = SingerClassifier.load(args.model)
    clf.remove_from_gallery(args.name)
    clf.save(target)
    print(f"removed {args.name!r} -> {target}")
    return 0


def _gallery_list(args: argparse.Namespace) -> int:
    from discovervoice.classify.classifier import SingerClassifier

    clf = SingerClassifier.load(args.model)
    rows = [{"name": n, "head": n in clf.labels, "gallery_windows": clf.gallery_counts.get(n, 0),
             "songs": sum(1 for e in clf.catalogue if e.singer == n)} for n in clf.singers]
    if args.json:
        print(json.dumps({"scoring": clf.scoring, "singers": rows}, indent=2))
    else:
        for r in rows:
            print(f"{r['name']:<24} {'head' if r['head'] else 'gallery':<8} "
                  f"{r['gallery_windows']:>6} windows {r['songs']:>4} songs")
    return 0


def _backend(args: argparse.Namespace) -> int:
    import torch

    from discovervoice.classify.classifier import SingerClassifier
    from discovervoice.classify.train import fit_gallery_backend

    torch.set_num_threads(max(1, args.threads))
    target = _writable_target(args.model, args.out)
    if args.remove:
        clf = SingerClassifier.load(args.model)
        clf.backend = None
        clf.default_scoring = "head"
        clf.info.pop("gallery_backend", None)
        clf.save(target)
        print(f"removed the gallery backend -> {target}")
        return 0
    clf = fit_gallery_backend(args.model, args.data_dir, target, nap_dims=args.nap_dims,
                              wccn_reg=None if args.wccn_reg < 0 else args.wccn_reg,
                              cache_dir=args.cache)
    b = clf.backend.info
    print(f"gallery backend {b['method']} (NAP {b['nap_dims']} dims, WCCN {b['wccn_reg']}) "
          f"from {b['windows']} windows of {b['singers']} singers; scale "
          f"{clf.gallery_scale:.2f}; default scoring {clf.default_scoring} -> {target}")
    return 0


def _fusion(args: argparse.Namespace) -> int:
    import torch

    from discovervoice.classify.train import fit_speaker_fusion

    torch.set_num_threads(max(1, args.threads))
    target = _writable_target(args.model, args.out)
    clf = fit_speaker_fusion(args.model, args.data_dir, target, weight=args.weight,
                             scale=args.scale, clips_per_singer=args.clips_per_singer)
    print(f"speaker fusion: weight {clf.speaker_weight:g}, scale {clf.speaker_scale:.2f}, "
          f"{len(clf.speaker_gallery)} speaker centroids -> {target}")
    return 0


def _catalogue(args: argparse.Namespace) -> int:
    from discovervoice.classify.classifier import SingerClassifier
    from discovervoice.classify.data import read_catalogue

    from discovervoice.classify.data import catalogue_from_corpus
    from discovervoice.errors import DataError

    if (args.catalogue is None) == (args.from_corpus is None):
        raise DataError("give either CATALOGUE_CSV or --from-corpus CORPUS_DIR")
    target = _writable_target(args.model, args.out)
    clf = SingerClassifier.load(args.model)
    if args.from_corpus:
        clf.catalogue = catalogue_from_corpus(args.from_corpus, target / "catalogue.csv")
    else:
        clf.catalogue = read_catalogue(args.catalogue)
    clf.save(target)
    unknown = sorted({e.singer for e in clf.catalogue} - set(clf.singers))
    print(f"{len(clf.catalogue)} songs -> {target}")
    if unknown:
        print(f"warning: catalogue singers unknown to the model: {', '.join(unknown)}",
              file=sys.stderr)
    return 0

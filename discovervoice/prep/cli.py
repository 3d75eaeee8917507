"""``discovervoice prep`` (dataset preparation), ``prep-eval``, ``prep-train-sex`` and
``prep-train-voicetype``.

Only argparse is imported here; the work happens in :mod:`discovervoice.prep.pipeline`,
:mod:`discovervoice.prep.evaluate` and :mod:`discovervoice.prep.train_sex`, imported
inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    """Add ``prep``, ``prep-eval`` and ``prep-train-sex`` to the ``discovervoice`` command."""
    p = subparsers.add_parser(
        "prep", help="make a training dataset from recordings or songs",
        description="Remove music, find speech/singing, diarize, slice at quiet points, "
                    "filter, normalise loudness, estimate voice sex and transcribe. Writes "
                    "DATASET/slices/, segments/*.csv, manifest.jsonl and summary.json. "
                    "Re-running resumes; bad files are reported and skipped.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="audio files or folders")
    p.add_argument("-o", "--out", required=True, metavar="DATASET", help="output folder")
    g = p.add_argument_group("cleaning")
    g.add_argument("--no-separate", dest="separate", action="store_false",
                   help="do not remove music with the separator (clean speech recordings)")
    g.add_argument("--separator", metavar="MODEL", help="separation model name or path")
    g.add_argument("--separate-speech", action="store_true",
                   help="use the separated vocals as the voice track even when the voice is "
                        "mostly speech (default: speech keeps its own signal; the separator "
                        "then only rejects instrumental runs)")
    g.add_argument("--denoise", action="store_true", help="denoise the voice with the enhancer")
    g.add_argument("--enhancer", metavar="MODEL", help="enhancement model name or path")
    g.add_argument("--highpass", type=float, metavar="HZ", help="high-pass cut-off, Hz")
    g.add_argument("--lowpass", type=float, metavar="HZ", help="low-pass cut-off, Hz")
    g.add_argument("--notch", action="append", default=[], metavar="HZ[:Q]",
                   help="notch filter at HZ with quality Q (default 30); repeatable, e.g. 50 or 60:20")
    g = p.add_argument_group("slicing")
    g.add_argument("--voice-classifier", default="default", metavar="MODEL",
                   help="speech/singing/music classifier: default (shipped), rule, or a file")
    g.add_argument("--labels", default="speech,singing",
                   help="segment labels to keep: speech, singing or both (default both)")
    g.add_argument("--min-seconds", type=float, default=2.0, help="shortest slice (default 2)")
    g.add_argument("--max-seconds", type=float, default=15.0, help="longest slice (default 15)")
    g.add_argument("--lufs", type=float, default=-23.0,
                   help="loudness of every slice, LUFS (default -23)")
    g.add_argument("--no-normalize", dest="normalize", action="store_false",
                   help="keep the original levels")
    g.add_argument("--sample-rate", type=int, default=44100, help="output rate, Hz (default 44100)")
    g.add_argument("--stereo", action="store_true", help="write stereo slices (default mono)")
    g.add_argument("--format", choices=("wav", "flac"), default="wav")
    g = p.add_argument_group("speakers and text")
    g.add_argument("--no-diarize", dest="diarize", action="store_false", help="skip diarization")
    g.add_argument("--speakers", type=int, metavar="N", help="number of speakers (default: automatic)")
    g.add_argument("--speaker-distance", type=float, metavar="D", default=None,
                   help="automatic speaker count: where the speaker tree (Ward linkage of unit-norm "
                        "GE2E embeddings) is cut (default 1.02, calibrated on real people; higher "
                        "finds fewer speakers)")
    g.add_argument("--keep-speaker", action="append", default=[], metavar="SPK",
                   help="keep only this speaker (spk0, spk1... or 'main' for the one who "
                        "talks most); repeatable")
    g.add_argument("--no-sex", dest="sex", action="store_false", help="skip the sex estimate")
    g.add_argument("--transcribe", action="store_true", help="transcribe every slice")
    g.add_argument("--asr", choices=("pocketsphinx", "whisper"), default="pocketsphinx",
                   help="transcription backend (default pocketsphinx: offline, English; "
                        "whisper needs `discovervoice weights fetch whisper_tiny` once)")
    g.add_argument("--asr-model", metavar="MODEL", help="Whisper model name or folder")
    g.add_argument("--language", help="language code for transcription")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_prep)

    e = subparsers.add_parser(
        "prep-eval", help="score segmentation, diarization and sex estimates on the corpus",
        description="Builds test material from the corpus test split (songs with true vocal "
                    "stems; conversations of two known voices with silences and music) and "
                    "reports segmentation F1 (0.5 s), DER and sex accuracy.")
    e.add_argument("--corpus", action="append",
                   help="corpus folder (data/corpus, corpus-small...); repeat to pool builds")
    e.add_argument("--real", choices=("calibration", "evaluation"),
                   help="instead of the corpus: conversations of 1-4 real people "
                        "(fillets-ng-data-cs, klettres-data) with instrumental music, run "
                        "through prep's default path (speaker count, DER, slices in music)")
    e.add_argument("--music-root", default="data/music-root",
                   help="unpacked Debian music packages for --real (scripts/fetch-real-music.sh)")
    e.add_argument("--thresholds", metavar="D,D,...",
                   help="--real: distance thresholds to score (calibration sweep)")
    e.add_argument("--no-separate", dest="separate", action="store_false",
                   help="--real: use the mixture as the voice track (prep --no-separate)")
    e.add_argument("--cache", metavar="DIR", help="--real: keep separated vocals here")
    e.add_argument("--separate-speech", action="store_true",
                   help="--real: diarize the separated vocals also for speech (prep --separate-speech)")
    e.add_argument("--split", default="test", help="corpus split to evaluate on (default test)")
    e.add_argument("--songs", type=int, default=8, help="number of songs")
    e.add_argument("--conversations", type=int, default=8, help="number of conversations")
    e.add_argument("--separator", metavar="MODEL",
                   help="also run songs through this separation model (default: true stems only)")
    e.add_argument("--out", metavar="JSON", help="write the report here")
    e.add_argument("--voice-classifier", default="default", metavar="MODEL",
                   help="speech/singing/music classifier: default, rule, or a file")
    e.add_argument("--distance-threshold", type=float, metavar="D",
                   help="diarization tree cut (default: the linkage's calibrated one, 1.02 Ward)")
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(func=_eval)

    t = subparsers.add_parser(
        "prep-train-sex", help="train the voice-sex classifier on the corpus (train split)",
        description="Fits the logistic-regression sex estimate on spoken and sung clips of "
                    "the corpus's non-reserved voices; writes weights/dv-prep-sex.*")
    t.add_argument("--corpus", required=True, help="corpus folder")
    t.add_argument("--out", metavar="DIR", help="weights folder (default: the shipped weights/)")
    t.add_argument("--max-clips", type=int, default=12, help="clips per voice and label")
    t.set_defaults(func=_train_sex)

    v = subparsers.add_parser(
        "prep-train-voicetype", help="train the speech/singing/music window classifier",
        description="Fits the window classifier of segmentation on the corpus train split "
                    "(spoken and sung clips, song stems and mixtures); writes "
                    "weights/dv-prep-voicetype.*")
    v.add_argument("--corpus", action="append", required=True,
                   help="corpus folder; repeat to combine builds")
    v.add_argument("--out", metavar="DIR", help="weights folder (default: the shipped weights/)")
    v.add_argument("--max-clips", type=int, default=4, help="clips per voice and kind")
    v.add_argument("--max-songs", type=int, default=40)
    v.set_defaults(func=_train_voicetype)


def _prep(args: argparse.Namespace) -> int:
    from discovervoice.prep.filters import FilterSpec, parse_notch
    from discovervoice.prep.pipeline import PrepOptions, prepare

    labels = tuple(x.strip() for x in args.labels.split(",") if x.strip())
    distance = {} if args.speaker_distance is None else {"speaker_distance": args.speaker_distance}
    opts = PrepOptions(
        sample_rate=args.sample_rate, channels=2 if args.stereo else 1, separate=args.separate,
        separate_speech=args.separate_speech,
        separator_model=args.separator, denoise=args.denoise, enhancer_model=args.enhancer,
        labels=labels, min_seconds=args.min_seconds, max_seconds=args.max_seconds,
        target_lufs=args.lufs if args.normalize else None,
        filters=FilterSpec(args.highpass, args.lowpass, tuple(parse_notch(n) for n in args.notch)),
        diarize=args.diarize, n_speakers=args.speakers, **distance,
        keep_speakers=tuple(args.keep_speaker),
        estimate_sex=args.sex, transcribe=args.transcribe, transcribe_backend=args.asr,
        transcribe_model=args.asr_model,
        language=args.language, audio_format=args.format,
        voice_classifier=args.voice_classifier)
    from discovervoice.progress import tqdm_bar

    cb, bar = tqdm_bar("prep", leave=False)
    try:
        summary = prepare(args.inputs, args.out, opts, progress=cb)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{summary['slices']} slices, {summary['minutes_kept']:.2f} of "
              f"{summary['minutes_in']:.2f} min kept ({summary['processed']} processed, "
              f"{summary['resumed']} resumed, {len(summary['failed'])} failed) -> {args.out}")
        for k, v in summary["minutes_by_label"].items():
            print(f"  {k:8s} {v:8.2f} min")
        for k, v in summary["minutes_by_speaker"].items():
            print(f"  {k:30s} {v:8.2f} min")
        for f in summary["failed"]:
            print(f"  failed: {f['file']}: {f['error']}", file=sys.stderr)
    return 1 if summary["failed"] and not summary["slices"] else 0


def _eval(args: argparse.Namespace) -> int:
    from discovervoice.prep.evaluate import evaluate, evaluate_real

    if args.real:
        ths = tuple(float(t) for t in args.thresholds.split(",")) if args.thresholds else None
        report = evaluate_real(args.real, args.conversations, music_root=args.music_root,
                               separator=(args.separator or "default") if args.separate else None,
                               thresholds=ths, voice_classifier=args.voice_classifier,
                               seed=args.seed, cache_dir=args.cache,
                               separate_speech=args.separate_speech, out=args.out)
        print(json.dumps(report["summary"], indent=1))
        return 0
    if not args.corpus:
        print("prep-eval: --corpus or --real is needed", file=sys.stderr)
        return 2
    report = evaluate(args.corpus, split=args.split, n_songs=args.songs,
                      n_conversations=args.conversations, separator=args.separator,
                      seed=args.seed, out=args.out, voice_classifier=args.voice_classifier,
                      distance_threshold=args.distance_threshold)
    print(json.dumps(report["summary"], indent=1))
    return 0


def _train_voicetype(args: argparse.Namespace) -> int:
    from discovervoice.prep.train_voicetype import train_voicetype

    info = train_voicetype(args.corpus, out_dir=args.out, max_clips_per_voice=args.max_clips,
                           max_songs=args.max_songs)
    print(json.dumps(info, indent=1))
    return 0


def _train_sex(args: argparse.Namespace) -> int:
    from discovervoice.prep.train_sex import train_sex

    info = train_sex(args.corpus, out_dir=args.out, max_clips=args.max_clips)
    print(json.dumps(info, indent=1))
    return 0

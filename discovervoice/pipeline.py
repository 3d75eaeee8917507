"""The main job and the steps the app and CLI call: song + voice -> stems, singers, cover, scores.

Data flow (DESIGN.md): song --load 44.1 kHz stereo--> separation --> stems;
vocals --16 kHz mono--> singer classifier --> ranking + recommendations;
user voice files --prep--> voice training --> voice model;
vocals --convert--> converted vocals --remix, loudness match--> cover; every stage --> eval.

Each function takes paths inside a :class:`~discovervoice.workspace.Workspace` (or any
folder for the CLI), reports progress through ``progress(fraction, message)``, resamples
between stages (never inside a model), writes outputs atomically with
:func:`discovervoice.audio.save`, and raises :class:`~discovervoice.errors.DiscoverVoiceError`
subclasses with readable messages. The stage packages are imported lazily (inside the
functions), so the app starts fast.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from discovervoice import audio
from discovervoice.convert.f0 import DEFAULT_F0_METHOD
from discovervoice.errors import DataError, DiscoverVoiceError
from discovervoice.progress import Progress

SONG_RATE = 44100
VOICE_RATE = 16000


@dataclass(frozen=True)
class Limits:
    """What the app accepts: upload size (bytes), song and voice durations (seconds)."""

    max_upload_bytes: int = 200 * 1024 * 1024
    max_song_seconds: float = 15 * 60.0
    max_voice_seconds: float = 30 * 60.0
    max_voice_files: int = 50


DEFAULT_LIMITS = Limits()


def _noop(fraction: float, message: str) -> None:
    return None


def _sub(progress: Progress | None, start: float, stop: float) -> Progress:
    """Map a sub-step's 0..1 progress into ``[start, stop]`` of the caller's."""
    p = progress or _noop
    return lambda f, m: p(start + (stop - start) * float(min(max(f, 0.0), 1.0)), m)


# --------------------------------------------------------------------------- choices

@dataclass(frozen=True)
class Choice:
    """One option of a stage that the app offers (built from the stage's own constants
    and the weights registry, never typed into the UI).

    Attributes:
        value: what the stage function takes (``model=`` / ``f0_method=`` / ``backend=``).
        label: what a person reads; says "needs a download" when ``ready`` is false.
        models: registry models the option needs.
        ready: every model in ``models`` is on this machine (embedded or cached).
        stems: stems the option's model makes (separation only).
    """

    value: str
    label: str
    models: tuple[str, ...] = ()
    ready: bool = True
    stems: tuple[str, ...] = ()


def model_ready(name: str) -> bool:
    """True when registry model ``name`` resolves without a download."""
    from discovervoice import weights
    from discovervoice.errors import WeightsError

    try:
        weights.resolve(name)
        return True
    except WeightsError:
        return False


def _download_note(names: tuple[str, ...]) -> str:
    from discovervoice import weights

    sizes = [weights.get_spec(n).size for n in names]
    mb = f", {sum(sizes) / 1e6:.0f} MB" if sizes and all(sizes) else ""
    return f"needs a download{mb}"


def _choice(value: str, label: str, models: tuple[str, ...], stems: tuple[str, ...] = ()) -> Choice:
    ready = all(model_ready(m) for m in models)
    if not ready:
        label = f"{label} — {_download_note(tuple(m for m in models if not model_ready(m)))}"
    return Choice(value, label, models, ready, stems)


def separation_choices() -> list[Choice]:
    """``default``, ``ensemble``, every separation model of the registry and the ensemble
    presets (:data:`discovervoice.separation.ensemble.PRESETS`)."""
    from discovervoice import weights
    from discovervoice.separation import api as sep_api

    reg = weights.registry()

    def stems(name: str) -> tuple[str, ...]:
        return tuple(reg[name].extra.get("stems") or ("vocals", "accompaniment"))

    out = [_choice("default", f"default ({sep_api.DEFAULT_MODEL}, built in)", (sep_api.DEFAULT_MODEL,),
                   stems(sep_api.DEFAULT_MODEL)),
           _choice("ensemble", "ensemble (" + " + ".join(sep_api.DEFAULT_ENSEMBLE) + ")",
                   tuple(sep_api.DEFAULT_ENSEMBLE), ("vocals", "accompaniment"))]
    for d in sep_api.describe():
        kind = "built in" if d["embedded"] else "published"
        out.append(_choice(d["name"], f"{d['name']} ({d['architecture']}, {kind})", (d["name"],), stems(d["name"])))
    from discovervoice.separation.ensemble import PRESETS

    for name, p in PRESETS.items():   # ensemble presets of published models (Separator(name))
        out.append(_choice(name, f"{name} ensemble ({' + '.join(p.members)}, {p.method})", p.members,
                           ("vocals", "accompaniment")))
    return out


def f0_choices() -> list[Choice]:
    """Every F0 method of :data:`discovervoice.convert.f0.METHODS`; a method named after a
    registry ``f0`` model (``rmvpe``) needs that model."""
    from discovervoice import weights
    from discovervoice.convert import f0 as F0

    reg = weights.registry()
    return [_choice(m, m, (m,) if m in reg and reg[m].task == "f0" else ()) for m in F0.METHODS]


def transcription_choices() -> list[Choice]:
    """Every backend of :data:`discovervoice.transcribe.api.BACKENDS` (Whisper needs its
    default checkpoint)."""
    from discovervoice.transcribe import api as tr

    return [_choice(b, b, (tr.DEFAULT_WHISPER,) if b == "whisper" else ()) for b in tr.BACKENDS]


def fetch_models(names: tuple[str, ...] | list[str]) -> list[Path]:
    """Download registry models with the registry's checksummed, atomic fetch (tqdm
    progress, which the app shows); models already here are only resolved.

    Raises:
        WeightsUnavailableError: offline or the source is unreachable (the message names
            the model and the ``discovervoice weights fetch`` command).
        ChecksumError: the downloaded bytes do not match the registry.
    """
    from discovervoice import weights

    return [weights.resolve(n, download_missing=True, progress=True) for n in names]


# --------------------------------------------------------------------------- separation

@dataclass
class SeparationResult:
    """Stem files (``{stem: path}``, 44.1 kHz, the song's channel count) and view PNGs."""

    stems: dict[str, Path]
    views: dict[str, Path] = field(default_factory=dict)
    model: str = "default"
    sample_rate: int = SONG_RATE


def separate(song: str | os.PathLike, out_dir: str | os.PathLike, *, model: str = "default",
             two_stems: bool = True, views: bool = True, limits: Limits = DEFAULT_LIMITS,
             wiener: int | None = None, progress: Progress | None = None) -> SeparationResult:
    """Separate a song into stems and write ``out_dir/<stem>.wav`` (+ ``<stem>.png`` views).

    Args:
        song: audio file (any format :func:`discovervoice.audio.load` reads).
        model: registry name or path (``default``, ``ensemble``, ``htdemucs`` ...).
        two_stems: vocals + accompaniment (``True``) or vocals, drums, bass, other.
        wiener: EM iterations of the multichannel Wiener post-filter (``None``: off;
            :class:`discovervoice.separation.api.Separator`'s ``wiener``).

    Raises:
        AudioLoadError / AudioError: unreadable, silent or too long song.
        WeightsError: the separation model cannot be loaded.
    """
    from discovervoice.separation import api as sep_api

    p = progress or _noop
    p(0.0, "loading the model")
    separator = sep_api.Separator(model=model, stems=("vocals",) if two_stems else None,
                                  wiener=wiener, progress=_sub(p, 0.05, 0.9))
    p(0.02, "loading the song")
    mix = audio.load(song, separator.sample_rate, max_seconds=limits.max_song_seconds, allow_silent=False)
    stems = separator.separate(mix, separator.sample_rate)
    rate = separator.sample_rate
    out = Path(out_dir)
    result = SeparationResult({}, {}, model, rate)
    for i, (name, x) in enumerate(stems.items()):
        x = np.asarray(x, dtype=np.float32)
        result.stems[name] = audio.save(out / f"{name}.wav", x, rate, clip="none")
        if views:
            from discovervoice.views import waveform_and_spectrogram

            result.views[name] = waveform_and_spectrogram(x, rate, out / f"{name}.png", title=name)
        p(0.9 + 0.1 * (i + 1) / len(stems), f"wrote {name}")
    return result


# --------------------------------------------------------------------------- singers

@dataclass
class SingerResult:
    """Ranked singers (``[(name, probability)]``) and recommended songs (dicts)."""

    singers: list[tuple[str, float]]
    recommendations: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"singers": [{"name": n, "probability": round(float(q), 6)} for n, q in self.singers],
                "recommendations": self.recommendations}


def which_singer(voice: str | os.PathLike, *, model: str = "default", top_k: int = 5,
                 limits: Limits = DEFAULT_LIMITS, progress: Progress | None = None) -> SingerResult:
    """Rank the singers a voice recording (speech or singing) sounds like.

    Raises:
        AudioError: unreadable or silent recording.
        WeightsError: the classifier cannot be loaded.
    """
    from discovervoice.classify import classifier as cls_mod

    p = progress or _noop
    p(0.0, "loading the recording")
    x = audio.load(voice, VOICE_RATE, channels=1, max_seconds=limits.max_voice_seconds,
                   allow_silent=False)
    p(0.2, "loading the classifier")
    clf = cls_mod.SingerClassifier.load(model)
    p(0.4, "listening")
    res = clf.which_singer(x, top_k=top_k)   # songs ranked by their own vocals when known
    ranking = [(s["name"], s["probability"]) for s in res["singers"]]
    recs = res["recommendations"]
    p(1.0, "done")
    return SingerResult([(str(n), float(q)) for n, q in ranking], list(recs))


_VOICE_KINDS = {"mbrola": "synthetic voice, MBROLA", "festival": "synthetic voice, Festival",
                "recorded": "recorded speaker"}


@functools.lru_cache(maxsize=1)
def _corpus_voices() -> dict[str, Any]:
    try:
        from discovervoice.corpus.voices import list_voices

        return {v.id: v for v in list_voices(include_reserved=True)}
    except Exception:  # noqa: BLE001 - descriptions are optional; names still show
        return {}


def singer_label(name: str) -> str:
    """What a singer name of the classifier is, for people: the embedded classifier knows
    the corpus' voices (``mbrola-es3`` -> ``mbrola-es3 (synthetic voice, MBROLA, es-es,
    female)``), not real singers; other names (a gallery's) are shown as they are."""
    v = _corpus_voices().get(name)
    if v is None:
        return name
    what = _VOICE_KINDS.get(v.kind, v.kind)
    return f"{name} ({what}, {v.language}" + (f", {v.sex})" if v.sex else ")")


_CORPUS_SONG = re.compile(r"^bach/bwv(?P<bwv>[0-9.]+) \((?P<id>[^)]+)\)$")


def song_row(rec: dict[str, Any]) -> list[str]:
    """``[singer, song, where to hear it]`` of one recommendation, for people: corpus ids
    become "Bach chorale BWV n (corpus song ...)", and a song missing on this machine says
    so and how to make it, instead of a dead link; no server path is shown."""
    title = str(rec.get("title", ""))
    m = _CORPUS_SONG.match(title)
    song = f"Bach chorale BWV {m['bwv']} (corpus song)" if m else title
    loc = str(rec.get("file_or_link", ""))
    if "://" in loc:
        where = loc
    elif rec.get("available") and loc:
        where = "on this machine (" + Path(loc).name + ")"
    elif m:
        where = "not on this machine (`discovervoice corpus build` makes the corpus songs)"
    else:
        where = "not on this machine (the file was moved or deleted since the library was indexed)"
    return [singer_label(str(rec.get("singer", ""))), song, where]


# --------------------------------------------------------------------------- voices

def train_voice(clips: list[str | os.PathLike], out_dir: str | os.PathLike, *, name: str = "my-voice",
                steps: int | None = None, preset: str | None = None, cancel: Callable[[], bool] | None = None,
                limits: Limits = DEFAULT_LIMITS, progress: Progress | None = None) -> Path:
    """Train a voice model from the user's recordings; returns the voice folder.

    The recordings are copied into the hidden ``<out_dir>/.recordings/<name>/`` (never listed
    as a voice) and trained with :func:`discovervoice.convert.train_voice` (VAD slicing,
    loudness normalisation, content features + F0, WORLD synthesizer, faiss index) into
    ``<out_dir>/<name>/``. ``preset`` is a name of :data:`discovervoice.convert.voice.PRESETS`
    (``quick``, ``good``, ``best``); ``steps`` overrides its length. ``cancel()`` is polled
    while training; a cancelled or failed training leaves neither a voice nor the copies.

    Raises:
        VoiceDataError: too little voiced audio (see ``MIN_VOICED_SECONDS``).
        TrainingCancelled: ``cancel()`` returned true.
        AudioLoadError: an unreadable recording (named in the message).
    """
    import shutil

    from discovervoice.convert import voice as conv

    if not clips:
        raise DiscoverVoiceError("add at least one recording of your voice")
    if len(clips) > limits.max_voice_files:
        raise DiscoverVoiceError(f"{len(clips)} files; at most {limits.max_voice_files} per voice")
    total = 0.0
    for c in clips:
        total += audio.info(c).duration  # readable (a clear AudioLoadError naming the file otherwise)
    if total > limits.max_voice_seconds:
        raise DiscoverVoiceError(f"{total / 60:.1f} minutes of recordings; at most "
                                 f"{limits.max_voice_seconds / 60:.0f} minutes per voice")
    out = Path(out_dir)
    data = out / ".recordings" / name
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    for i, c in enumerate(clips):
        shutil.copyfile(c, data / f"{i:03d}{Path(c).suffix.lower()}")
    kwargs: dict[str, Any] = {"progress": progress, "preset": preset, "cancel": cancel}
    if steps is not None:
        kwargs["steps"] = int(steps)
    try:
        conv.train_voice(data, out / name, **kwargs)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return out / name


@dataclass
class CoverResult:
    cover: Path
    converted_vocals: Path
    accompaniment: Path
    original_vocals: Path


def cover(song: str | os.PathLike, voice_model: str | os.PathLike, out_dir: str | os.PathLike, *,
          separation_model: str = "default", transpose: float = 0.0, index_rate: float = 0.75,
          protect: float = 0.33, f0_method: str = DEFAULT_F0_METHOD, stems: SeparationResult | None = None,
          limits: Limits = DEFAULT_LIMITS, progress: Progress | None = None) -> CoverResult:
    """Sing a song's vocal line in a trained voice and remix it with the accompaniment.

    Separates with :func:`separate` (its stem files are kept) unless ``stems`` from
    :func:`separate` are given, then hands the stems to
    :func:`discovervoice.convert.api.make_cover`, the one cover path (also the CLI's):
    converted vocals at the original vocals' loudness, the cover at the song's loudness,
    true peak <= -1 dBTP, both files tagged AI-generated.

    Raises:
        AudioError / AudioLoadError: bad song file.
        VoiceModelError / WeightsError: the voice or a model cannot be loaded.
    """
    from discovervoice.convert import api as conv

    p = progress or _noop
    out = Path(out_dir)
    sep = stems or separate(song, out / "stems", model=separation_model, two_stems=True, views=False,
                            limits=limits, progress=_sub(p, 0.0, 0.5))
    rate = sep.sample_rate
    mix = audio.load(song, rate, max_seconds=limits.max_song_seconds)
    parts = {"vocals": audio.load(sep.stems["vocals"], rate),
             "accompaniment": audio.load(sep.stems["accompaniment"], rate)}
    p(0.5, "converting the vocals")
    made = conv.make_cover(mix, voice_model, out / "cover.wav", sample_rate=rate, stems=parts,
                           vocals_out=out / "converted_vocals.wav", transpose=transpose,
                           f0_method=f0_method, index_rate=index_rate, protect=protect,
                           progress=_sub(p, 0.5, 0.98))
    p(1.0, "done")
    return CoverResult(cover=made["path"], converted_vocals=made["vocals_path"],
                       accompaniment=sep.stems["accompaniment"], original_vocals=sep.stems["vocals"])


# --------------------------------------------------------------------------- listening tests

#: What each of a cover job's files is called in a listening test made from a session.
SESSION_TEST_SYSTEMS = {"cover.wav": "cover", "converted_vocals.wav": "converted vocals",
                        "vocals.wav": "original vocals (reference)"}


def listening_test_from_folder(store: Any, folder: str | os.PathLike, name: str) -> tuple[str, int]:
    """Make (or extend) the listening test ``name`` in ``store`` from the covers found under
    ``folder`` (a session's workspace): every ``cover-*/`` job contributes its cover, its
    converted vocals and the song's original vocals (the reference), so a person can rate
    their own results from the app alone.

    Args:
        store: a :class:`discovervoice.eval.human_mos.ListeningTestStore`.
        folder: searched for ``cover-*/{cover,converted_vocals}.wav`` and the original
            vocals of the same job (``cover-*/**/vocals.wav``).

    Returns:
        ``(name, stimuli registered)``.

    Raises:
        DataError: no cover under ``folder`` (make a cover first).
    """
    root = Path(folder)
    stimuli = []
    for job in sorted(p for p in root.glob("cover-*") if p.is_dir()):
        for fname, system in SESSION_TEST_SYSTEMS.items():
            found = sorted(job.rglob(fname))
            if found:
                stimuli.append((system, found[0], job.name))
    if not any(s == "cover" for s, _, _ in stimuli):
        raise DataError("there is no cover to rate yet: make one on the Cover tab first")
    store.create_test(name, "covers, converted and original vocals of one app session")
    for system, path, item in stimuli:
        store.add_stimulus(name, system, path, item=item)
    return name, len(stimuli)


# --------------------------------------------------------------------------- speech tools

@dataclass
class TranscriptResult:
    enhanced: Path | None
    text: str
    cer: float | None = None
    wer: float | None = None


def clean_and_transcribe(recording: str | os.PathLike, out_dir: str | os.PathLike, *, denoise: bool = True,
                         backend: str = "pocketsphinx", language: str = "en", reference: str = "",
                         limits: Limits = DEFAULT_LIMITS, progress: Progress | None = None) -> TranscriptResult:
    """Denoise a recording (CRNN enhancer), transcribe it, and score it against a reference.

    Raises:
        AudioError: unreadable or silent recording.
        WeightsError: the enhancer or the transcriber cannot be loaded.
    """
    p = progress or _noop
    x = audio.load(recording, VOICE_RATE, channels=1, max_seconds=limits.max_voice_seconds,
                   allow_silent=False)
    enhanced_path = None
    if denoise:
        from discovervoice.enhance import apply as enh

        p(0.1, "removing noise")
        x = enh.load().enhance(x, progress=_sub(p, 0.1, 0.5))
        enhanced_path = audio.save(Path(out_dir) / "enhanced.wav", x, VOICE_RATE, clip="rescale")
    from discovervoice.transcribe import api as tr

    p(0.5, "transcribing")
    transcriber = tr.load_transcriber(backend, language=language)
    text = transcriber.transcribe(x, language, progress=_sub(p, 0.5, 0.95)).text
    cer = wer = None
    if reference.strip():
        rates = tr.error_rates(reference, text)
        cer, wer = float(rates["cer"]), float(rates["wer"])
    p(1.0, "done")
    return TranscriptResult(enhanced_path, text, cer, wer)


def write_report(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write a JSON report atomically."""
    from discovervoice.fileio import write_json

    out = Path(path)
    write_json(out, payload, indent=2, ensure_ascii=True, default=str)
    return out


# --------------------------------------------------------------------------- the main job

def score_cover(result: CoverResult, voice_clips: list[str | os.PathLike], *, transpose: float = 0.0,
                progress: Progress | None = None) -> dict[str, Any]:
    """Score a cover with the eval suite (no ground truth exists for a user's cover).

    * speaker similarity (resemblyzer cosine) of the original and the converted vocals to the
      user's voice: the conversion should raise it;
    * raw pitch accuracy and F0 RMSE (cents) of the converted vocals against the original
      vocals' F0 shifted by ``transpose`` semitones (mir_eval);
    * DNSMOS (SIG/BAK/OVRL) of the original and converted vocals — labelled DNSMOS.

    The scoring is :func:`discovervoice.eval.conversion.score_conversion` (the source is
    the original vocals, F0 by DIO); this function names its results for the report.
    """
    from discovervoice.eval.conversion import score_conversion
    from discovervoice.eval.mos import DNSMOS
    from discovervoice.eval.speaker import ResemblyzerEncoder

    orig = audio.load(result.original_vocals, VOICE_RATE, channels=1)
    conv = audio.load(result.converted_vocals, VOICE_RATE, channels=1)
    user = np.concatenate([audio.load(c, VOICE_RATE, channels=1) for c in voice_clips], axis=1)
    enc = ResemblyzerEncoder()
    s = score_conversion(conv, VOICE_RATE, source=orig, f0_reference="source", f0_method="dio",
                         shift_semitones=transpose, encoder=enc, target=enc.embed(user, VOICE_RATE),
                         mos=DNSMOS(), baselines=("source",), progress=progress)
    scores: dict[str, Any] = {"speaker_similarity_original": s.similarity["source"],
                              "speaker_similarity_converted": s.similarity["converted"]}
    scores.update({k if k.startswith("f0_") else f"f0_{k}": v for k, v in s.f0.items()})
    scores.update({f"original_{k}": v for k, v in s.mos["source"].items()})
    scores.update({f"converted_{k}": v for k, v in s.mos["converted"].items()})
    return scores


def run_main_job(song: str | os.PathLike, voice_clips: list[str | os.PathLike], out_dir: str | os.PathLike, *,
                 voice_model: str | os.PathLike | None = None, separation_model: str = "default",
                 classifier: str = "default", steps: int | None = None, transpose: float = 0.0,
                 index_rate: float = 0.75, protect: float = 0.33, f0_method: str = DEFAULT_F0_METHOD,
                 top_k: int = 5, progress: Progress | None = None) -> dict[str, Any]:
    """Song + the user's voice -> stems, singer ranking, voice model, cover, scores, report.

    Writes ``out_dir/{stems/, voice/, cover/, report.json, report.md}`` and returns the
    report dict. The song is separated once; the cover reuses those stems.

    Raises:
        AudioLoadError / AudioError: an unreadable or invalid song or voice file.
        VoiceDataError: less than 30 s of voiced audio when a voice must be trained.
    """
    p = progress or _noop
    out = Path(out_dir)
    report: dict[str, Any] = {"song": str(song), "voice_clips": [str(c) for c in voice_clips]}
    sep = separate(song, out / "stems", model=separation_model, two_stems=True, views=True,
                   progress=_sub(p, 0.0, 0.25))
    report["stems"] = {k: str(v) for k, v in sep.stems.items()}
    merged = out / "voice_input.wav"
    clips = [audio.load(c, VOICE_RATE, channels=1) for c in voice_clips]
    audio.save(merged, np.concatenate(clips, axis=1), VOICE_RATE)
    report["singers"] = which_singer(merged, model=classifier, top_k=top_k,
                                     progress=_sub(p, 0.25, 0.3)).to_json()
    if voice_model is None:
        voice_model = train_voice(list(voice_clips), out / "voice", steps=steps, progress=_sub(p, 0.3, 0.75))
    report["voice_model"] = str(voice_model)
    res = cover(song, voice_model, out / "cover", separation_model=separation_model, transpose=transpose,
                index_rate=index_rate, protect=protect, f0_method=f0_method, stems=sep,
                progress=_sub(p, 0.75, 0.92))
    report["cover"] = {k: str(v) for k, v in res.__dict__.items()}
    report["scores"] = score_cover(res, list(voice_clips), transpose=transpose, progress=_sub(p, 0.92, 1.0))
    write_report(out / "report.json", report)
    _write_markdown(out / "report.md", report)
    return report


def _write_markdown(path: Path, report: dict[str, Any]) -> Path:
    lines = ["# DiscoverVoice report", "", f"Song: `{report['song']}`", ""]
    singers = report.get("singers", {})
    if "singers" in singers:
        lines += ["## Which singers you sound like", "", "| singer | probability |", "| --- | --- |"]
        lines += [f"| {s['name']} | {s['probability']:.1%} |" for s in singers["singers"]]
        lines += [""]
    lines += ["## Cover", "", f"`{report['cover']['cover']}` (voice model `{report['voice_model']}`)", "",
              "## Scores", "", "| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |"
              for k, v in report.get("scores", {}).items()]
    path.write_text("\n".join(lines) + "\n")
    return path

"""DiscoverVoice web app (Gradio). Widgets only: every action calls discovervoice.pipeline.

Run ``python app.py`` (http://127.0.0.1:7860; the port also follows ``GRADIO_SERVER_PORT``).
Options: ``--host``, ``--port``, ``--share`` (off by default), ``--separation-model``,
``--classifier``, ``--max-upload-mb``, ``--workspace-root``, ``--max-workspace-mb``.

Privacy: each browser session works in its own :class:`discovervoice.workspace.Workspace`
(random token, under the system temp dir by default so that Gradio may serve its outputs;
deleted when the tab closes — ``demo.unload`` — and, as a fallback, when Gradio drops the
session state or the folder has been idle for hours). Gradio's own copies of served files
are aged out by ``delete_cache``, and all workspaces together are kept under
``--max-workspace-mb`` (the least recently used idle ones go first). Errors shown to users
name files by their base name only, never by a server path. Uploads are copied in under fresh names,
voice models are listed and chosen by name within the session only, and no path is built
from user text. Heavy jobs go through Gradio's queue, one at a time by default.
"""

from __future__ import annotations

import argparse
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gradio as gr  # the app's toolkit; module-level so handlers can be annotated gr.Request

from discovervoice import pipeline
from discovervoice.convert.f0 import DEFAULT_F0_METHOD
from discovervoice.errors import DiscoverVoiceError, StageUnavailableError
from discovervoice.workspace import Workspace, default_root, safe_name, served_by_default, sweep

log = logging.getLogger("discovervoice.app")

CONSENT = ("**Consent:** only record, upload and convert voices that you have the right to use — "
           "your own, or a voice whose owner agreed. Covers are tagged *AI-generated* in their "
           "file metadata.")


def _choices(fn: Any, extra: str | None = None) -> list[pipeline.Choice]:
    """A stage's options (:mod:`discovervoice.pipeline` builds them from the stage's
    constants and the registry); ``extra`` adds a value given on the command line."""
    try:
        out = list(fn())
    except StageUnavailableError:
        out = []
    if extra and extra not in {c.value for c in out}:
        out.append(pipeline.Choice(extra, Path(extra).name or extra))
    return out


def _model_picker(label: str, fn: Any, value: str, elem_id: str, info: str | None = None) -> Any:
    """A dropdown of a stage's options plus, for an option whose model is not on this machine,
    a note and a one-click download (the registry's checksummed atomic fetch, progress from
    its tqdm bar). Returns the dropdown and its live ``{value: Choice}`` map (re-read after a
    download)."""
    choices = _choices(fn, value)
    by_value = {c.value: c for c in choices}
    dd = gr.Dropdown([(c.label, c.value) for c in choices], value=value, label=label, info=info,
                     elem_id=elem_id)
    note = gr.Markdown(visible=False, elem_id=f"{elem_id}-note")
    fetch = gr.Button("Download this model", size="sm", visible=False, elem_id=f"{elem_id}-fetch")

    def on_change(v):
        c = by_value.get(v)
        if c is None or c.ready:
            return gr.update(visible=False), gr.update(visible=False)
        msg = (f"**{v}** {c.label.split(' — ')[-1]} ({', '.join(c.models)}); it is not on this machine yet. "
               "Press the button to download it (needs internet), or choose a built-in option.")
        return gr.update(value=msg, visible=True), gr.update(visible=True)

    def on_fetch(v, progress=gr.Progress(track_tqdm=True)):
        c = by_value.get(v)
        if c is None or c.ready:
            return gr.update(), gr.update(visible=False), gr.update(visible=False)
        try:
            pipeline.fetch_models(c.models)
        except DiscoverVoiceError as exc:
            log.warning("download of %s failed: %s", c.models, exc)
            return (gr.update(), gr.update(value=(
                f"Could not download **{', '.join(c.models)}**: this machine seems to be offline or the "
                f"source is unreachable. When online, press the button again, or run "
                f"`discovervoice weights fetch {' '.join(c.models)}`."), visible=True), gr.update(visible=True))
        fresh = _choices(fn, value)
        by_value.clear()
        by_value.update({x.value: x for x in fresh})
        return (gr.update(choices=[(x.label, x.value) for x in fresh], value=v),
                gr.update(value=f"**{v}** is downloaded and ready.", visible=True), gr.update(visible=False))

    dd.change(on_change, [dd], [note, fetch], queue=False)
    fetch.click(on_fetch, [dd], [dd, note, fetch], concurrency_id="download")
    return dd, by_value


def _require_ready(by_value: dict[str, pipeline.Choice], value: str) -> None:
    """Refuse, in words, an option whose model has not been downloaded yet."""
    c = by_value.get(value)
    if c is not None and not c.ready:
        raise gr.Error(f"“{value}” needs a download first: press “Download this model” under it "
                       "(needs internet), or choose a built-in option.", print_exception=False)


#: An absolute server path inside a message (not the ``//host/...`` part of a URL).
_SERVER_PATH = re.compile(r"(?<![\w:/.~])(?:~|/)[^\s:'\"(),;]*(?:/[^\s:'\"(),;]+)+/?")


def public_message(text: str) -> str:
    """``text`` with every absolute path replaced by its last part (``/srv/x/a.wav`` -> ``a.wav``)."""
    return _SERVER_PATH.sub(lambda m: Path(m.group(0).rstrip("/")).name or "file", str(text))


class _Sessions:
    """The workspaces of each live browser session (by Gradio's session hash), so that
    ``demo.unload`` can delete them when the tab closes."""

    def __init__(self, root: Path | None, max_bytes: int | None):
        self.root, self.max_bytes = root, max_bytes
        self.live: dict[str, set[str]] = {}
        self.stops: dict[str, threading.Event] = {}

    def cancel_event(self, request: Any = None, reset: bool = True) -> threading.Event:
        """The session's "cancel training" flag (cleared when a training starts)."""
        ev = self.stops.setdefault(getattr(request, "session_hash", None) or "", threading.Event())
        if reset:
            ev.clear()
        return ev

    def get(self, ws: Workspace | None, request: Any = None) -> Workspace:
        if ws is None or not ws.path.exists():
            sweep(self.root, max_idle_seconds=6 * 3600, max_bytes=self.max_bytes)
            ws = Workspace.create(self.root)
        key = getattr(request, "session_hash", None)
        if key:
            self.live.setdefault(key, set()).add(ws.token)
        return ws

    def close(self, request: Any = None) -> None:
        key = getattr(request, "session_hash", None) or ""
        if key in self.stops:
            self.stops.pop(key).set()  # a training still running for a closed tab stops
        for token in self.live.pop(key, set()):
            Workspace(self.root or default_root(), token).close()


def _close(ws: Workspace | None) -> None:
    if ws is not None:
        ws.close()


def _friendly(exc: BaseException) -> Exception:
    """A readable error for the UI, without server paths; unexpected ones are logged with
    their traceback and shown as one sentence."""
    import gradio as gr

    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, (DiscoverVoiceError, FileNotFoundError, ValueError)):
        return gr.Error(public_message(str(exc)), print_exception=False)
    log.exception("unexpected error in the app")
    return gr.Error(f"Something went wrong ({type(exc).__name__}). The job was stopped; "
                    "your other files are untouched.", print_exception=False)


def _progress(gr_progress: Any) -> pipeline.Progress:
    return lambda fraction, message: gr_progress(fraction, desc=message)


def _voice_names(ws: Workspace | None) -> list[str]:
    """The session's finished voices: folders with a ``voice.json`` (never the recordings'
    folder, a hidden one or a voice still training)."""
    if ws is None or not (ws.path / "voices").is_dir():
        return []
    return sorted(d.name for d in (ws.path / "voices").iterdir()
                  if d.is_dir() and not d.name.startswith(".") and (d / "voice.json").is_file())


def _demo_voices() -> list[str]:
    """The shipped ready-made voices (registry models of task ``voice`` whose folder ships in
    ``weights/``, e.g. ``dv-voice-jp1``): the Cover tab offers them after the session's own
    voices, so a cover can be made before training one."""
    from discovervoice import weights

    return sorted(n for n, spec in weights.registry().items()
                  if spec.task == "voice" and spec.shipped and (weights.SHIPPED_DIR / spec.shipped).is_dir())


def _cover_voices(ws: Workspace | None) -> list[str]:
    """The Cover tab's choices: the session's voices, then the shipped demo voices (a session
    voice of the same name wins)."""
    own = _voice_names(ws)
    return own + [d for d in _demo_voices() if d not in own]


def _examples(args: argparse.Namespace) -> dict[str, Path] | None:
    """Example inputs made on first run by the corpus builder (None without its tools)."""
    if args.no_examples:
        return None
    from discovervoice.examples import ensure_examples

    try:
        return ensure_examples()
    except DiscoverVoiceError as exc:
        log.warning("no example inputs: %s", exc)
        return None


@dataclass
class _Tab:
    """What every tab's handlers share: the command-line options, the sessions, the upload
    limits, the example inputs (None without them) and the session's workspace state."""

    args: argparse.Namespace
    sessions: _Sessions
    limits: pipeline.Limits
    examples: dict[str, Path] | None
    ws_state: Any


@dataclass
class _VoiceTab:
    """The "My voice" tab's training handler, its inputs and the outputs that the Cover tab
    wires it to (a finished training also offers the voice there)."""

    button: Any
    on_train: Callable[..., Any]
    inputs: list[Any]
    msg: Any
    voice_list: Any


def build_app(args: argparse.Namespace) -> Any:
    """Build the Gradio Blocks app (not launched)."""
    from discovervoice.feedback import FeedbackStore

    limits = pipeline.Limits(max_upload_bytes=int(args.max_upload_mb * 1024 * 1024))
    root = Path(args.workspace_root).expanduser() if args.workspace_root else default_root()
    sessions = _Sessions(root, int(args.max_workspace_mb * 1024 * 1024) if args.max_workspace_mb else None)
    feedback = FeedbackStore(args.feedback_db) if args.feedback_db else FeedbackStore()
    examples = _examples(args)

    # Gradio's copies of served files: checked every 30 min, removed 2 h after they were made
    with gr.Blocks(title="DiscoverVoice", delete_cache=(1800, 7200)) as demo:
        ws_state = gr.State(None, delete_callback=_close)
        demo.unload(sessions.close)
        gr.Markdown("# DiscoverVoice\nSeparate songs, find which singers you sound like, "
                    "learn your voice and sing any song in it.")
        tab = _Tab(args, sessions, limits, examples, ws_state)
        _separation_tab(tab, feedback)
        _singer_tab(tab)
        voice = _voice_tab(tab)
        _cover_tab(tab, voice)
        _clean_tab(tab)
        _listening_test_tab(gr, args, sessions, ws_state)

    return demo


def _separation_tab(tab: _Tab, feedback: Any) -> None:
    """Separate: a song -> stems (two or four, as the model makes), their views and
    downloads; feedback on the result into ``feedback`` (a FeedbackStore)."""
    sessions, limits, ws_state = tab.sessions, tab.limits, tab.ws_state
    with gr.Tab("Separate", id="separate"):
        with gr.Row():
            song = gr.Audio(label="Song", type="filepath", sources=["upload"], elem_id="sep-song")
            with gr.Column():
                sep_model, sep_options = _model_picker("Model", pipeline.separation_choices,
                                                       tab.args.separation_model, "sep-model")
                sep_stems = gr.Radio([("vocals + accompaniment", "two")], value="two", label="Stems",
                                     info="this model makes two stems", elem_id="sep-stems")

                def on_sep_model(v):
                    c = sep_options.get(v)
                    if c is not None and len(c.stems) >= 4:
                        return gr.update(choices=[("vocals + accompaniment", "two"),
                                                  ("vocals, drums, bass, other", "four")], info=None)
                    return gr.update(choices=[("vocals + accompaniment", "two")], value="two",
                                     info="this model makes two stems")

                sep_model.change(on_sep_model, [sep_model], [sep_stems], queue=False)
                sep_wiener = gr.Checkbox(False, label="Wiener post-filter",
                                         info="cleaner vocals and less instrument leakage on real songs; "
                                              "2-3 times the CPU time", elem_id="sep-wiener")
                sep_btn = gr.Button("Separate", variant="primary", elem_id="sep-run")
        if tab.examples:
            gr.Examples([[str(tab.examples["song"])]], [song], label="Example song (a Bach chorale, sung)")
        sep_audio = {name: gr.Audio(label=name, type="filepath", interactive=False, visible=(name in
                     ("vocals", "accompaniment")), elem_id=f"sep-out-{name}")
                     for name in ("vocals", "accompaniment", "drums", "bass", "other")}
        sep_gallery = gr.Gallery(label="Waveforms and spectrograms", columns=2, height=360)
        sep_files = gr.File(label="Download stems", file_count="multiple", interactive=False)
        with gr.Row():
            fb_good = gr.Radio([("yes", True), ("no", False)], label="Was this separated well?")
            fb_comment = gr.Textbox(label="Comment (optional)", max_lines=3)
            fb_btn = gr.Button("Send feedback")
        fb_msg = gr.Markdown()

        def on_separate(path, model, stems, wiener, ws, request: gr.Request, progress=gr.Progress()):
            if not path:
                raise gr.Error("Upload a song first.")
            ws = sessions.get(ws, request)
            _require_ready(sep_options, model)
            try:
                up = ws.import_upload(path, limits.max_upload_bytes)
                res = pipeline.separate(up, ws.new_job("separate"), model=model, two_stems=(stems == "two"),
                                        limits=limits, wiener=1 if wiener else None,
                                        progress=_progress(progress))
            except Exception as exc:
                raise _friendly(exc) from None
            outs = [gr.update(value=str(res.stems[n]) if n in res.stems else None, visible=n in res.stems)
                    for n in sep_audio]
            gallery = [(str(v), k) for k, v in res.views.items()]
            return (*outs, gallery, [str(p) for p in res.stems.values()], ws)

        sep_btn.click(on_separate, [song, sep_model, sep_stems, sep_wiener, ws_state],
                      [*sep_audio.values(), sep_gallery, sep_files, ws_state], concurrency_id="heavy",
                      api_name="separate")

        def on_feedback(good, comment, model, ws, request: gr.Request):
            ws = sessions.get(ws, request)
            try:
                feedback.add("separation", model, ws.token, good, comment)
            except Exception as exc:
                raise _friendly(exc) from None
            return "Thank you — your feedback was saved.", ws

        fb_btn.click(on_feedback, [fb_good, fb_comment, sep_model, ws_state], [fb_msg, ws_state],
                     api_name="feedback")


def _singer_tab(tab: _Tab) -> None:
    """Which singer: a voice clip -> the closest singers (probabilities) and their songs."""
    sessions, limits, ws_state = tab.sessions, tab.limits, tab.ws_state
    with gr.Tab("Which singer", id="singer"):
        gr.Markdown("Sing or speak for 5-30 seconds: DiscoverVoice tells you which singers you "
                    "sound like and recommends their songs.")
        with gr.Row():
            voice_in = gr.Audio(label="Your voice", type="filepath", sources=["upload", "microphone"],
                                elem_id="singer-voice")
            with gr.Column():
                top_k = gr.Slider(1, 10, value=5, step=1, label="How many singers")
                singer_btn = gr.Button("Which singer do I sound like?", variant="primary",
                                       elem_id="singer-run")
        if tab.examples:
            gr.Examples([[str(tab.examples["voice"])]], [voice_in], label="Example voice")
        singer_label = gr.Label(label="Singers (probability)", elem_id="singer-out")
        singer_recs = gr.Dataframe(headers=["singer", "song", "where to hear it"], label="Recommended songs",
                                   interactive=False)

        def on_singer(path, k, ws, request: gr.Request, progress=gr.Progress()):
            if not path:
                raise gr.Error("Record or upload your voice first.")
            ws = sessions.get(ws, request)
            try:
                up = ws.import_upload(path, limits.max_upload_bytes)
                res = pipeline.which_singer(up, model=tab.args.classifier, top_k=int(k), limits=limits,
                                            progress=_progress(progress))
            except Exception as exc:
                raise _friendly(exc) from None
            rows = [pipeline.song_row(r) for r in res.recommendations]
            return {pipeline.singer_label(n): q for n, q in res.singers}, rows, ws

        singer_btn.click(on_singer, [voice_in, top_k, ws_state], [singer_label, singer_recs, ws_state],
                         concurrency_id="heavy", api_name="which_singer")


def _voice_tab(tab: _Tab) -> _VoiceTab:
    """My voice: recordings -> a voice model in the session (preset, step cap, cancel).
    The training button is wired by :func:`_cover_tab`, whose voice list it updates."""
    sessions, limits = tab.sessions, tab.limits
    with gr.Tab("My voice", id="voice"):
        gr.Markdown(CONSENT)
        from discovervoice.convert.voice import MIN_VOICED_SECONDS, PRESETS

        gr.Markdown(f"Upload or record your voice speaking or singing. **The minimum is "
                    f"{MIN_VOICED_SECONDS:.0f} s of voiced sound** (vowels, singing — pauses and "
                    f"consonants do not count): about {3 * MIN_VOICED_SECONDS:.0f} s of talking, or a "
                    "minute of single words with pauses. One to three minutes make a better voice.")
        with gr.Row():
            voice_files = gr.File(label="Recordings", file_count="multiple", file_types=["audio"],
                                  elem_id="voice-files")
            voice_mic = gr.Audio(label="…or record / upload one clip", type="filepath",
                                 sources=["upload", "microphone"], elem_id="voice-mic")
        if tab.examples:
            gr.Examples([[str(tab.examples["voice"])]], [voice_mic], label="Example voice (70 s)")
        with gr.Row():
            voice_name = gr.Textbox(value="my-voice", label="Voice name", max_lines=1)
            voice_preset = gr.Radio([(pr.label, pr.name) for pr in PRESETS.values()], value="quick",
                                    label="Training", elem_id="voice-preset",
                                    info="times measured on a 2-core computer; it stops sooner once "
                                         "it no longer improves")
            with gr.Column():
                voice_btn = gr.Button("Train my voice", variant="primary", elem_id="voice-run")
                voice_cancel = gr.Button("Cancel training", variant="stop", size="sm", elem_id="voice-cancel")
        with gr.Accordion("Advanced", open=False):
            voice_steps = gr.Number(0, precision=0, minimum=0, maximum=20000, elem_id="voice-steps",
                                    label="Maximum training steps (0 = the preset's)")
        voice_msg = gr.Markdown(elem_id="voice-msg")
        voice_list = gr.Dropdown([], label="Your voice models", interactive=True)

        def on_train(files, mic, name, preset, steps, ws, request: gr.Request, progress=gr.Progress()):
            from discovervoice.convert.voice import TrainingCancelled

            paths = [f if isinstance(f, str) else getattr(f, "name", f) for f in (files or [])]
            if mic:
                paths.append(mic)
            if not paths:
                raise gr.Error("Add recordings of your voice first.")
            ws = sessions.get(ws, request)
            stop = sessions.cancel_event(request)
            try:
                ups = [ws.import_upload(p, limits.max_upload_bytes) for p in paths]
                model = pipeline.train_voice(ups, ws.subdir("voices"), name=safe_name(name, "my-voice"),
                                             preset=preset or "quick", steps=int(steps) if steps else None,
                                             cancel=stop.is_set, limits=limits, progress=_progress(progress))
            except TrainingCancelled:
                return "Training cancelled — no voice was saved.", gr.update(), gr.update(), ws
            except Exception as exc:
                raise _friendly(exc) from None
            mine = gr.update(choices=_voice_names(ws), value=model.name)
            for_cover = gr.update(choices=_cover_voices(ws), value=model.name)
            return f"Voice model **{model.name}** is ready — it is selected on the Cover tab.", mine, for_cover, ws

        def on_cancel(request: gr.Request):
            sessions.cancel_event(request, reset=False).set()
            return "Cancelling… the voice is not saved."

        voice_cancel.click(on_cancel, None, [voice_msg], queue=False, api_name="cancel_training")
    return _VoiceTab(voice_btn, on_train, [voice_files, voice_mic, voice_name, voice_preset, voice_steps],
                     voice_msg, voice_list)


def _cover_tab(tab: _Tab, voice_tab: _VoiceTab) -> None:
    """Cover: a song sung by one of the session's voices (transpose, index rate, protect,
    F0 method); also wires the "My voice" training, whose result it offers."""
    sessions, limits, ws_state = tab.sessions, tab.limits, tab.ws_state
    with gr.Tab("Cover", id="cover") as cover_tab:
        gr.Markdown(CONSENT)
        with gr.Row():
            cover_song = gr.Audio(label="Song", type="filepath", sources=["upload"], elem_id="cover-song")
            with gr.Column():
                cover_voice = gr.Dropdown(_demo_voices(), label="Voice model (from “My voice”, or a demo voice)",
                                          elem_id="cover-voice")
                refresh = gr.Button("Refresh voice list", size="sm")
                transpose = gr.Slider(-12, 12, value=0, step=1, label="Transpose (semitones)")
                index_rate = gr.Slider(0, 1, value=0.75, step=0.05, label="Index rate")
                protect = gr.Slider(0, 0.5, value=0.33, step=0.01, label="Protect (consonants, breaths)")
                f0_method, f0_options = _model_picker("F0 method (pitch tracker)", pipeline.f0_choices, DEFAULT_F0_METHOD,
                                                      "cover-f0")
                cover_btn = gr.Button("Make the cover", variant="primary", elem_id="cover-run")
        if tab.examples:
            gr.Examples([[str(tab.examples["song"])]], [cover_song], label="Example song")
        cover_out = gr.Audio(label="Cover", type="filepath", interactive=False, elem_id="cover-out")
        with gr.Row():
            cover_vocals = gr.Audio(label="Converted vocals", type="filepath", interactive=False)
            cover_acc = gr.Audio(label="Accompaniment", type="filepath", interactive=False)
        cover_files = gr.File(label="Download", file_count="multiple", interactive=False)

        # wired here so that a finished training also offers the voice on this tab
        voice_tab.button.click(voice_tab.on_train, [*voice_tab.inputs, ws_state],
                               [voice_tab.msg, voice_tab.voice_list, cover_voice, ws_state],
                               concurrency_id="heavy", api_name="train_voice")

        def on_refresh(ws):
            return gr.update(choices=_cover_voices(ws))

        refresh.click(on_refresh, [ws_state], [cover_voice], api_name="list_voices")

        def on_cover_tab(ws, trained, current):
            # a tab not yet shown can miss the training's update: offer the session's
            # voices on arrival, keeping a choice made here, else the one just trained
            own, names = _voice_names(ws), _cover_voices(ws)
            value = current if current in names else trained if trained in own else (
                own[-1] if own else names[0] if names else None)
            return gr.update(choices=names, value=value)

        cover_tab.select(on_cover_tab, [ws_state, voice_tab.voice_list, cover_voice], [cover_voice], queue=False)

        def on_cover(path, voice, tr, ir, pr, f0, ws, request: gr.Request, progress=gr.Progress()):
            if not path:
                raise gr.Error("Upload a song first.")
            ws = sessions.get(ws, request)
            own = _voice_names(ws)
            if not voice or voice not in own + _demo_voices():
                raise gr.Error("Choose one of your voice models (train one in “My voice”) or a demo voice.")
            _require_ready(f0_options, f0)
            try:
                up = ws.import_upload(path, limits.max_upload_bytes)
                model = ws.check(ws.path / "voices" / voice) if voice in own else voice  # a demo voice by name
                res = pipeline.cover(up, model, ws.new_job("cover"),
                                     separation_model=tab.args.separation_model, transpose=float(tr),
                                     index_rate=float(ir), protect=float(pr), f0_method=f0,
                                     limits=limits, progress=_progress(progress))
            except Exception as exc:
                raise _friendly(exc) from None
            files = [str(res.cover), str(res.converted_vocals), str(res.accompaniment)]
            return str(res.cover), str(res.converted_vocals), str(res.accompaniment), files, ws

        cover_btn.click(on_cover, [cover_song, cover_voice, transpose, index_rate, protect, f0_method,
                                   ws_state], [cover_out, cover_vocals, cover_acc, cover_files, ws_state],
                        concurrency_id="heavy", api_name="cover")


def _clean_tab(tab: _Tab) -> None:
    """Clean up & transcribe: a recording -> optionally denoised, transcribed, with CER / WER
    against a reference text."""
    sessions, limits, ws_state = tab.sessions, tab.limits, tab.ws_state
    with gr.Tab("Clean up & transcribe", id="clean"):
        with gr.Row():
            rec = gr.Audio(label="Recording", type="filepath", sources=["upload", "microphone"],
                           elem_id="clean-in")
            with gr.Column():
                denoise = gr.Checkbox(value=True, label="Remove noise first")
                backend, backend_options = _model_picker("Recogniser", pipeline.transcription_choices,
                                                         "pocketsphinx", "clean-backend")
                reference = gr.Textbox(label="Reference text (optional, for CER)", lines=2)
                clean_btn = gr.Button("Clean up and transcribe", variant="primary", elem_id="clean-run")
        clean_audio = gr.Audio(label="Cleaned recording", type="filepath", interactive=False)
        transcript = gr.Textbox(label="Transcript", interactive=False, elem_id="clean-text")
        scores = gr.Markdown()

        def on_clean(path, dn, be, ref, ws, request: gr.Request, progress=gr.Progress()):
            if not path:
                raise gr.Error("Record or upload a recording first.")
            ws = sessions.get(ws, request)
            _require_ready(backend_options, be)
            try:
                up = ws.import_upload(path, limits.max_upload_bytes)
                res = pipeline.clean_and_transcribe(up, ws.new_job("clean"), denoise=bool(dn), backend=be,
                                                    reference=ref or "", limits=limits,
                                                    progress=_progress(progress))
            except Exception as exc:
                raise _friendly(exc) from None
            md = "" if res.cer is None else f"**CER** {res.cer:.1%} · **WER** {res.wer:.1%}"
            return (str(res.enhanced) if res.enhanced else None), res.text, md, ws

        clean_btn.click(on_clean, [rec, denoise, backend, reference, ws_state],
                        [clean_audio, transcript, scores, ws_state], concurrency_id="heavy",
                        api_name="clean_and_transcribe")


#: Name prefix of listening tests made from one session's covers (listed to that session only).
SESSION_TEST_PREFIX = "session-"


def _listening_test_tab(gr: Any, args: argparse.Namespace, sessions: Any, ws_state: Any) -> None:
    """The human MOS listening test: randomised stimuli, 1-5 ratings, MOS with 95% CI; a
    session can make its own test from its covers."""
    import secrets

    with gr.Tab("Listen & rate", id="mos"):
        from discovervoice.eval import human_mos
        from discovervoice.feedback import default_path

        store = human_mos.ListeningTestStore(args.mos_db or default_path().with_name("listening_tests.sqlite"))
        gr.Markdown("Rate how natural each clip sounds: 1 = bad, 5 = excellent. Clips come in a "
                    "random order; use headphones if you can.")
        def shared_tests() -> list[str]:   # tests made from one session are that session's
            return [t["name"] for t in store.tests() if not t["name"].startswith(SESSION_TEST_PREFIX)]

        names = shared_tests()
        gr.Markdown("No test set up? Make one from your own results: your covers, their converted "
                    "vocals and the original vocals as the reference.")
        with gr.Row():
            test_choice = gr.Dropdown(names, label="Listening test", value=names[0] if names else None,
                                      elem_id="mos-test")
            make_btn = gr.Button("Make a test from my covers", elem_id="mos-make")
        listener = gr.State(None)
        current = gr.State(None)
        clip = gr.Audio(label="Clip", type="filepath", interactive=False, elem_id="mos-clip")
        rating = gr.Radio([("1 bad", 1), ("2 poor", 2), ("3 fair", 3), ("4 good", 4), ("5 excellent", 5)],
                          label="Naturalness")
        with gr.Row():
            start_btn = gr.Button("Start / next clip", elem_id="mos-start")
            rate_btn = gr.Button("Submit rating", variant="primary", elem_id="mos-rate")
        status = gr.Markdown()
        results = gr.Dataframe(headers=["system", "MOS", "95% CI ±", "ratings", "listeners"],
                               label="Results", interactive=False)
        results_btn = gr.Button("Show results")

        def _next(name, lst):
            todo = store.next_stimuli(name, lst, count=1000)
            if not todo:
                return None, "You have rated every clip — thank you!", None
            return str(todo[0]["path"]), f"{len(todo)} clip(s) left", int(todo[0]["id"])

        def on_start(name, lst):
            if not name:
                raise gr.Error("No listening test has been set up yet (discovervoice eval mos ...).")
            if lst is None:
                lst = f"listener-{secrets.token_hex(6)}"
                store.add_listener(lst)
            path, msg, sid = _next(name, lst)
            return path, msg, lst, sid

        def on_rate(name, lst, sid, score):
            if lst is None or sid is None:
                raise gr.Error("Press “Start / next clip” first.")
            if score is None:
                raise gr.Error("Choose a rating from 1 to 5.")
            try:
                store.add_rating(int(sid), lst, int(score))
            except Exception as exc:
                raise _friendly(exc) from None
            path, msg, sid = _next(name, lst)
            return path, "Saved. " + msg, sid, None

        def on_results(name):
            if not name:
                return []
            return [[r.system, round(r.mos, 3), round(r.ci95, 3), r.n, r.listeners] for r in store.mos(name)]

        def on_make(ws, request: gr.Request):
            ws = sessions.get(ws, request)
            try:
                name, n = pipeline.listening_test_from_folder(
                    store, ws.path, f"{SESSION_TEST_PREFIX}{ws.token[:8]}")
            except Exception as exc:
                raise _friendly(exc) from None
            return (gr.update(choices=shared_tests() + [name], value=name),
                    f"Your test has {n} clips. Press “Start / next clip”.", ws)

        make_btn.click(on_make, [ws_state], [test_choice, status, ws_state], api_name="mos_make")
        start_btn.click(on_start, [test_choice, listener], [clip, status, listener, current], api_name="mos_next")
        rate_btn.click(on_rate, [test_choice, listener, current, rating], [clip, status, current, rating], api_name="mos_rate")
        results_btn.click(on_results, [test_choice], [results], api_name="mos_results")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="DiscoverVoice web app")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None,
                   help="port (default: $GRADIO_SERVER_PORT, else 7860)")
    p.add_argument("--share", action="store_true", help="create a public Gradio share link (off by default)")
    p.add_argument("--separation-model", default="default", help="registry name or checkpoint path")
    p.add_argument("--classifier", default="default", help="singer classifier: registry name or folder")
    p.add_argument("--max-upload-mb", type=float, default=200.0)
    p.add_argument("--concurrency", type=int, default=1, help="heavy jobs at once")
    p.add_argument("--workspace-root", default=None,
                   help="where session folders live (default: the system temp dir; a folder elsewhere "
                        "is added to Gradio's allowed_paths)")
    p.add_argument("--max-workspace-mb", type=float, default=4096.0,
                   help="all session folders together; above it the least recently used idle ones go")
    p.add_argument("--feedback-db", default=None, help="SQLite file for separation feedback")
    p.add_argument("--mos-db", default=None, help="SQLite file for the listening tests")
    p.add_argument("--no-examples", action="store_true", help="do not make the example song and voice")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from an offline app
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    root = Path(args.workspace_root).expanduser() if args.workspace_root else default_root()
    sweep(root)
    demo = build_app(args)
    demo.queue(default_concurrency_limit=args.concurrency)
    # outputs are returned from session folders; Gradio serves the temp dir and cwd by itself
    allowed = [] if served_by_default(root) else [str(root)]
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                max_file_size=f"{int(args.max_upload_mb)}mb", allowed_paths=allowed)


if __name__ == "__main__":
    main()

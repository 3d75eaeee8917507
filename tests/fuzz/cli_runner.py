"""Run ``discovervoice`` commands in-process on fuzz inputs and judge the outcome (issue 18).

In-process through :func:`discovervoice.cli.main` (models stay loaded between calls, so a
thousand runs cost seconds each, not a process start-up each). One run is judged by
:func:`judge`:

* it returns an exit status (no exception escapes ``main``: an escaping one is what a user
  would see as a traceback), within a time limit (``SIGALRM``);
* status 0 is a result; anything else must come with a readable error on stderr that names
  the file, and no ``Traceback``;
* the process' peak RSS grows by less than a bound;
* for inputs the loader refuses, the command refuses them with the loader's own message and
  runs no network first (no torch module's forward is called: a global forward pre-hook counts them).
"""

from __future__ import annotations

import contextlib
import io
import resource
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

#: the embedded demo voice every conversion command uses
VOICE = "dv-voice-jp1"


@dataclass
class Run:
    command: str
    code: int | None
    stdout: str
    stderr: str
    seconds: float
    rss_growth_mb: float
    forwards: int
    escaped: BaseException | None = None
    hung: bool = False


def _voice_train_argv(path: Path, out: Path) -> list[str]:
    """``voice train`` takes a folder: one holding the fuzz clip (by a link of the same name,
    so the error names it), next to the clips of a real voice when ``out/voice-base/`` holds
    some (for the end-to-end runs)."""
    data = out / "voice-data"
    data.mkdir(parents=True, exist_ok=True)
    base = out / "voice-base"
    if base.is_dir():
        for f in base.iterdir():
            shutil.copyfile(f, data / f.name)
    (data / path.name).symlink_to(path.absolute())
    return ["voice", "train", str(data), "-o", str(out / "voice"), "--steps", "8", "--threads", "1"]


#: commands whose input may also be a folder of files (a folder input gets their own error)
FOLDER_COMMANDS = ("separate", "prep", "voice-train")

#: command -> argv builder ``(input path, scratch folder) -> argv``; inputs are absolute paths
COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "separate": lambda p, o: ["separate", str(p.absolute()), "-o", str(o / "sep"), "--no-progress", "-j", "1"],
    "which-singer": lambda p, o: ["which-singer", str(p.absolute()), "--json"],
    "convert": lambda p, o: ["convert", str(p.absolute()), "--voice", VOICE, "-o", str(o / "converted.wav")],
    "cover": lambda p, o: ["cover", str(p.absolute()), "--voice", VOICE, "-o", str(o / "cover.wav")],
    "enhance": lambda p, o: ["enhance", str(p.absolute()), "-o", str(o / "enhanced.wav")],
    "transcribe": lambda p, o: ["transcribe", str(p.absolute()), "--json"],
    "prep": lambda p, o: ["prep", str(p.absolute()), "-o", str(o / "dataset")],
    "voice-train": _voice_train_argv,
}


class _Hang(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise _Hang()


_FORWARDS = [0]
_HOOK = []


def _count_forwards() -> None:
    if _HOOK:
        return
    import torch

    def pre(module, args):  # noqa: ARG001
        _FORWARDS[0] += 1

    _HOOK.append(torch.nn.modules.module.register_module_forward_pre_hook(pre))


def run(command: str, path: Path, scratch: Path, limit_s: int) -> Run:
    """Run one command on one input in-process; never raises for the command's own failures."""
    import time

    from discovervoice.cli import main

    _count_forwards()
    scratch.mkdir(parents=True, exist_ok=True)
    argv = COMMANDS[command](path, scratch)
    out, err = io.StringIO(), io.StringIO()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    f0 = _FORWARDS[0]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit_s)
    t0 = time.monotonic()
    code, escaped, hung = None, None, False
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except _Hang:
        hung = True
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException as exc:  # noqa: BLE001 - what would be a traceback for a user
        escaped = exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return Run(command, code, out.getvalue(), err.getvalue(), time.monotonic() - t0,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0, _FORWARDS[0] - f0,
               escaped, hung)


def names_file(text: str, path: Path) -> bool:
    return path.name in text or str(path) in text or str(path.absolute()) in text


#: The loader's refusals of decoded sample values (:func:`discovervoice.audio.read`).
SAMPLE_VALUE_ERRORS = ("samples are NaN or infinite", "far above full scale")


def judge(r: Run, path: Path, *, limit_s: int, max_rss_growth_mb: float,
          loader_error: str | None, unstable_decode: bool = False) -> list[str]:
    """What is wrong with a run (empty when it is right). ``loader_error``: the first line of
    :func:`discovervoice.audio.load`'s message for this input, or ``None`` if it loads.

    ``unstable_decode``: the input is a corrupt lossy stream whose decoded samples are not the
    same from one decode to the next (libmpg123 after "dequantization failed" leaves buffer
    contents behind: in one process a bit-flipped MP3 decodes to NaN, to 1e38 or to 16383 at
    different times). For such an input a refusal of its sample values for either reason is
    right, and so is whatever the command does with a decode that happened to be finite and in
    range: a result, or a typed refusal of that audio's content naming the file (e.g. "only
    0.48 s of voice"), also after the network ran on it. Hangs, tracebacks, untyped errors,
    memory growth and errors that do not name the file are judged as for every input."""
    bad = []
    if r.hung:
        bad.append(f"{r.command}: ran past {limit_s} s")
    if r.escaped is not None:
        bad.append(f"{r.command}: untyped {type(r.escaped).__name__} escaped main(): {r.escaped}")
    if "Traceback" in r.stderr:
        bad.append(f"{r.command}: traceback on stderr: {r.stderr[-800:]}")
    if r.rss_growth_mb > max_rss_growth_mb:
        bad.append(f"{r.command}: peak RSS grew {r.rss_growth_mb:.0f} MiB")
    if r.code not in (0, None):
        msg = r.stderr
        if not (names_file(msg, path) or (r.command == "voice-train" and "voice-data" in msg)):
            bad.append(f"{r.command}: error does not name the file: {msg[-600:]!r}")
    if r.command in FOLDER_COMMANDS and not path.is_file():
        # a folder is a valid input there (its files are the inputs), and a missing path gets
        # the command's own "no such file or folder" / "no audio files": named, not the loader's words
        if not path.exists() and r.code == 0:
            bad.append(f"{r.command}: exit 0 for a missing input")
        loader_error = None
    value_error = any(v in (loader_error or "") for v in SAMPLE_VALUE_ERRORS)
    if loader_error is not None and not r.hung and r.escaped is None:
        if r.code == 0:
            if not (unstable_decode and value_error):
                bad.append(f"{r.command}: accepted an input the loader refuses ({loader_error})")
        elif unstable_decode and value_error:
            pass   # a sample-value refusal, or a content refusal of an in-range decode (named above)
        elif loader_error not in r.stderr:
            bad.append(f"{r.command}: not the loader's error {loader_error!r}: {r.stderr[-600:]!r}")
        if r.forwards and not (unstable_decode and value_error):
            bad.append(f"{r.command}: ran {r.forwards} network forward(s) before refusing the input")
    return bad


def check_result(command: str, scratch: Path, r: Run) -> list[str]:
    """A run that returned 0 left a usable result: audio outputs decode to finite samples,
    JSON outputs parse."""
    import json

    import numpy as np

    from discovervoice import audio

    if r.code != 0:
        return []
    bad = []
    files = {"separate": sorted((scratch / "sep").rglob("*.wav")),
             "convert": [scratch / "converted.wav"], "cover": [scratch / "cover.wav"],
             "enhance": [scratch / "enhanced.wav"]}.get(command, [])
    if command in files and not files:
        bad.append(f"{command}: exit 0 but no output file")
    for f in files:
        if not f.is_file():
            bad.append(f"{command}: exit 0 but {f.name} is missing")
            continue
        x = audio.load(f, None, max_seconds=None)
        if not np.isfinite(x).all():
            bad.append(f"{command}: {f.name} has non-finite samples")
    if command == "prep" and not (scratch / "dataset" / "summary.json").is_file():
        bad.append("prep: exit 0 but no summary.json")
    if command in ("which-singer", "transcribe"):
        try:
            json.loads(r.stdout[r.stdout.index("{"):] if "{" in r.stdout else r.stdout)
        except (ValueError, json.JSONDecodeError):
            bad.append(f"{command}: exit 0 but stdout is not JSON: {r.stdout[:300]!r}")
    if command == "voice-train" and not (scratch / "voice" / "voice.json").is_file():
        bad.append("voice-train: exit 0 but no voice.json")
    return bad

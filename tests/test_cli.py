"""The ``discovervoice`` entry point: help, lazy imports, one-line errors, --debug."""

from __future__ import annotations

import subprocess
import sys

import pytest

from discovervoice.cli import COMMAND_MODULES, build_parser, main


def test_help_lists_registered_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "weights" in out and "--verbose" in out and "--debug" in out


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sub.choices, "no subcommands registered"
    for name, p in sub.choices.items():
        text = p.format_help()
        assert text.startswith("usage: discovervoice " + name), name


def test_building_the_cli_imports_no_heavy_library():
    code = ("import sys, discovervoice.cli as c; c.build_parser(); "
            "heavy = [m for m in ('torch', 'transformers', 'gradio', 'demucs', 'faiss', 'librosa') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at CLI start-up: {out.stdout.strip()}"


def test_core_works_without_optional_extras():
    # audio + weights must not need torch, transformers, gradio or any extra
    code = ("import sys\n"
            "for m in ('torch', 'transformers', 'gradio', 'demucs', 'faiss'): sys.modules[m] = None\n"
            "import numpy as np\n"
            "from discovervoice import audio, weights\n"
            "x = audio.resample(np.zeros((2, 4410), np.float32), 44100, 16000)\n"
            "assert x.shape == (2, 1600)\n"
            "assert 'htdemucs' in weights.registry()\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_errors_are_one_line_and_debug_shows_traceback(tmp_path):
    cmd = [sys.executable, "-m", "discovervoice.cli", "weights", "fetch", "no-such-model"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith("error: unknown model 'no-such-model'")
    r = subprocess.run(cmd[:3] + ["--debug"] + cmd[3:], capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["weights", "explode"])
    assert e.value.code == 2


def test_command_modules_are_in_the_package():
    for name in COMMAND_MODULES:
        assert name.startswith("discovervoice.")

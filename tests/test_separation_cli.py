"""`discovervoice separate`: outputs per track, bad files skipped and reported, no overwrite."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from discovervoice.cli import main
from discovervoice.separation import models as M


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.manual_seed(0)
    net = M.build_model("mdx23c", M.TINY_MDX23C).eval()
    return M.save_embedded(net, tmp_path_factory.mktemp("w") / "tiny.safetensors")


def _song(path, seconds=0.4, channels=2, sr=44100):
    t = np.arange(int(seconds * sr)) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)])
    sf.write(path, x.T.astype(np.float32), sr)
    return x


def test_separate_writes_stems_and_reports_bad_files(tmp_path, tiny_model, capsys):
    src = tmp_path / "in"
    src.mkdir()
    _song(src / "good.wav")
    _song(src / "mono.flac", channels=1, sr=22050)
    (src / "broken.wav").write_bytes(b"RIFF\x00\x00garbage that is not audio")
    (src / "empty.mp3").write_bytes(b"")
    out = tmp_path / "out"
    code = main(["separate", str(src), str(tmp_path / "missing.wav"), "-o", str(out),
                 "-n", str(tiny_model), "--two-stems", "vocals", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 3  # some failed, some written
    for track, ch, n in (("good", 2, int(0.4 * 44100)), ("mono", 1, int(0.4 * 44100))):
        for stem in ("vocals", "accompaniment"):
            data, sr = sf.read(out / track / f"{stem}.wav", always_2d=True)
            assert sr == 44100 and data.shape == (n, ch)
    assert not (out / "broken").exists() and not (out / "empty").exists()
    assert "broken.wav" in captured.err and "empty.mp3" in captured.err
    assert "missing.wav" in captured.err
    assert "2 separated" in captured.err and "3 failed" in captured.err


def test_never_overwrites_without_force(tmp_path, tiny_model, capsys):
    _song(tmp_path / "a.wav")
    out = tmp_path / "out"
    args = ["separate", str(tmp_path / "a.wav"), "-o", str(out), "-n", str(tiny_model),
            "--no-progress", "--format", "flac"]
    assert main(args) == 0
    target = out / "a" / "vocals.flac"
    target.write_bytes(b"user's own file")
    assert main(args) == 0
    assert target.read_bytes() == b"user's own file"
    assert "skipped" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0
    data, sr = sf.read(target)
    assert sr == 44100 and data.shape[0] == int(0.4 * 44100)


def test_all_bad_inputs_exit_1_and_unknown_model_is_one_line(tmp_path, tiny_model, capsys):
    (tmp_path / "x.wav").write_bytes(b"nope")
    assert main(["separate", str(tmp_path / "x.wav"), "-o", str(tmp_path / "o"),
                 "-n", str(tiny_model), "--no-progress"]) == 1
    capsys.readouterr()
    assert main(["separate", str(tmp_path / "x.wav"), "-o", str(tmp_path / "o"),
                 "-n", "no-such-model"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "no-such-model" in err[0]

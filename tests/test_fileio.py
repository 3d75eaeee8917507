"""discovervoice.fileio: atomic output keeps old files intact, leaves no temporary file on
errors, and gives outputs ordinary permissions (umask), not mkstemp's private 0600."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from discovervoice import audio, fileio


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_error(tmp_path):
    dest = tmp_path / "sub" / "report.json"
    fileio.write_json(dest, {"a": 1})
    assert dest.read_text() == '{\n "a": 1\n}'
    with pytest.raises(RuntimeError):
        with fileio.atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert dest.read_text() == '{\n "a": 1\n}'
    assert sorted(p.name for p in dest.parent.iterdir()) == ["report.json"]


def test_temporary_names_are_hidden_unique_and_keep_the_extension(tmp_path):
    a, b = fileio.temporary_name(tmp_path / "x.flac"), fileio.temporary_name(tmp_path / "x.flac")
    assert a != b and a.parent == tmp_path
    assert a.name.startswith(".x.") and a.name.endswith(".flac.tmp")
    assert fileio.is_temporary(a) and not fileio.is_temporary(tmp_path / "x.flac")


def test_saved_audio_and_json_get_the_umask_permissions(tmp_path, umask_022):
    t = np.arange(4410) / 44100.0
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    wav = audio.save(tmp_path / "stem.wav", x, 44100)
    js = fileio.write_json(tmp_path / "m.json", [1, 2])
    assert _mode(wav) == 0o644
    assert _mode(js) == 0o644
    y, sr = audio.read(wav)
    assert sr == 44100 and np.allclose(y.reshape(-1), x, atol=1e-4)


def test_failed_audio_save_leaves_nothing(tmp_path):
    with pytest.raises(Exception):
        audio.save(tmp_path / "bad.wav", np.array([0.0, np.nan], np.float32), 44100)
    assert list(tmp_path.iterdir()) == []


def test_safetensors_checkpoints_and_voice_features_are_not_private(tmp_path, umask_022):
    from discovervoice import checkpoint

    p = checkpoint.write_tensors(tmp_path / "w.safetensors", {"a": np.zeros(3, np.float32)}, {"k": "v"})
    assert _mode(p) == 0o644          # safetensors' own writer creates 0600
    tensors, meta = checkpoint.read_tensors(p, framework="numpy")
    assert meta["k"] == "v" and tensors["a"].shape == (3,)
    assert [q.name for q in tmp_path.iterdir()] == ["w.safetensors"]

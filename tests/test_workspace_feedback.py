"""Session workspaces (privacy, cleanup), the feedback store and the waveform views."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from discovervoice.feedback import FeedbackError, FeedbackStore
from discovervoice.views import waveform_and_spectrogram
from discovervoice.workspace import Workspace, WorkspaceError, safe_name, sweep


def test_two_workspaces_are_private(tmp_path):
    a, b = Workspace.create(tmp_path), Workspace.create(tmp_path)
    assert a.token != b.token and len(a.token) == 32
    up = tmp_path / "my song.wav"
    up.write_bytes(b"RIFF....")
    mine = a.import_upload(up)
    assert a.contains(mine) and not b.contains(mine)
    with pytest.raises(WorkspaceError, match="does not belong to this session"):
        b.check(mine)
    with pytest.raises(WorkspaceError):
        a.check(a.path / ".." / b.token / "x.wav")
    with pytest.raises(WorkspaceError, match="invalid workspace token"):
        Workspace(tmp_path, "../" + a.token)


def test_upload_limit_and_names(tmp_path):
    ws = Workspace.create(tmp_path)
    big = tmp_path / "big.wav"
    big.write_bytes(b"0" * 2000)
    with pytest.raises(WorkspaceError, match="above the limit"):
        ws.import_upload(big, max_bytes=1000)
    assert not (ws.path / "uploads").exists() or not any((ws.path / "uploads").iterdir())
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("a b;rm -rf.wav") == "a_b_rm_-rf.wav"
    job = ws.new_job("separate")
    assert job.parent == ws.path and job.name.startswith("separate-")


def test_close_and_sweep(tmp_path):
    a, b = Workspace.create(tmp_path), Workspace.create(tmp_path)
    a.close()
    assert not a.path.exists() and b.path.exists()
    old = time.time() - 3 * 3600
    os.utime(b.path, (old, old))
    assert sweep(tmp_path, max_idle_seconds=3600) == 1 and not b.path.exists()


def test_feedback_store(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite")
    store.add("separation", "dv-htdemucs", "s1", True, "clean vocals")
    store.add("separation", "dv-htdemucs", "s2", False, "drums leak")
    store.add("separation", "ensemble", "s2", True)
    rows = {(s.stage, s.model): s for s in store.summary()}
    assert rows[("separation", "dv-htdemucs")].yes == 1 and rows[("separation", "dv-htdemucs")].no == 1
    assert rows[("separation", "ensemble")].share_yes == 1.0
    with pytest.raises(FeedbackError, match="choose yes or no"):
        store.add("separation", "m", "s", None)
    with pytest.raises(FeedbackError, match="limit is 2000"):
        store.add("separation", "m", "s", True, "x" * 2001)
    assert store.count() == 3


def test_views_png(tmp_path):
    sr = 16000
    t = np.arange(sr * 2) / sr
    x = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 880 * t)]).astype(np.float32)
    p = waveform_and_spectrogram(x, sr, tmp_path / "v" / "a.png", title="test")
    data = p.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000

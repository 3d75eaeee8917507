"""Three app sessions at once (the small version of ``benchmarks/load_app.py``, issue 18):
every session's separation and which-singer answer, outputs belong to the right session,
no errors, no cross-session reads, server memory bounded. Marked ``slow``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("gradio_client")
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("load_app", REPO / "benchmarks" / "load_app.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_three_sessions_at_once(app_server, tmp_path):
    b = _bench()
    songs = [b.song(tmp_path / f"song-{k}.wav", 4.0, k) for k in range(3)]
    res = b.run(app_server["url"], 3, songs, b.voice_clip(tmp_path / "voice"), app_server["proc"].pid,
                app_server["sessions"])
    assert res["errors"] == 0, res["error_list"]
    assert res["completed"] == 3
    assert res["cross_session_attempts"] > 0 and res["cross_session_reads"] == 0
    assert res["server_rss_mb"]["peak"] < 4096

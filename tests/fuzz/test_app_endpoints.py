"""The app's upload endpoints on fuzz inputs, through ``gradio_client`` (issue 18).

Each input is uploaded to ``/separate`` and ``/which_singer`` of the app started as the
README says (``python3 app.py``, the ``app_server`` fixture). Each call ends within
:data:`LIMIT_S` in a result or in a readable error: the ``gr.Error`` text, no traceback,
not the catch-all "Something went wrong" (an untyped failure), no server path. After the
inputs the server is still up, its RSS grew less than :data:`MAX_RSS_GROWTH_MB`, and a new
session separates a good song.

Limits the app enforces at its upload points (``app.py``, ``pipeline.Limits``): uploads
above ``--max-upload-mb`` (200 MB) are refused by Gradio's upload route; songs above
15 minutes and voice recordings above 30 minutes are refused from the file header, before
decoding (:func:`discovervoice.audio.check_header`).

* default suite: 6 inputs (:data:`FEW`) and the duration limit;
* ``-m fuzz``: :func:`app_cases` (48 inputs, every family).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.fuzz.inputs import FuzzCase, cases

gradio_client = pytest.importorskip("gradio_client")

LIMIT_S = 180
MAX_RSS_GROWTH_MB = 1500
ENDPOINTS = {"/separate": lambda f: (f, "default", "two"), "/which_singer": lambda f: (f, 3)}


def _uploadable(c: FuzzCase) -> bool:
    """Cases a browser can upload: regular files (not folders, dangling links, missing paths)."""
    return not any(k in c.name for k in ("dangling", "directory", "missing", "symlink-to-dir"))


def app_cases(n: int = 48) -> list[FuzzCase]:
    every = [c for c in cases() if _uploadable(c)]
    fams = list(dict.fromkeys(c.family for c in every))
    per = max(1, n // len(fams))
    out = []
    for fam in fams:
        members = [c for c in every if c.family == fam]
        out += members[:: max(1, len(members) // per)][:per]
    return out


def _few() -> list[FuzzCase]:
    """One input of six families (the default suite's share)."""
    out = {}
    for c in app_cases()[1::3]:
        if c.family in ("format", "nonfinite", "container", "truncated", "garbage", "path"):
            out.setdefault(c.family, c)
    return list(out.values())


FEW = _few()


def _rss_mb(pid: int) -> float:
    """Resident memory (MiB) of a process and its children: ``benchmarks/load_app.py``'s
    :func:`rss_mb` (the one reader of ``/proc``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "load_app", Path(__file__).resolve().parents[2] / "benchmarks" / "load_app.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.rss_mb(pid)


def call(url: str, endpoint: str, path: Path) -> tuple[str, str]:
    """``("result" | "error", message)`` of one call; fails the test for a hang."""
    client = gradio_client.Client(url, verbose=False)
    job = client.submit(*ENDPOINTS[endpoint](gradio_client.handle_file(str(path))), api_name=endpoint)
    t0 = time.monotonic()
    try:
        job.result(timeout=LIMIT_S)
        return "result", ""
    except TimeoutError:
        pytest.fail(f"{endpoint} on {path.name}: no answer within {LIMIT_S} s")
    except Exception as exc:  # noqa: BLE001 - the app's error, as a client sees it
        if time.monotonic() - t0 > LIMIT_S:
            pytest.fail(f"{endpoint} on {path.name}: no answer within {LIMIT_S} s")
        return "error", str(exc)


def readable(msg: str) -> str | None:
    """What is wrong with an error a user sees (``None``: fine)."""
    if not msg.strip():
        return "empty error"
    if "Traceback" in msg:
        return "traceback shown"
    if "Something went wrong" in msg:
        return "untyped failure (catch-all message)"
    if "/tmp/" in msg or "/root/" in msg or "/work/" in msg:
        return "server path shown"
    return None


def check_inputs(app_server, chosen: list[FuzzCase], folder: Path) -> dict[str, dict[str, int]]:
    pid = app_server["proc"].pid
    rss0 = _rss_mb(pid)
    counts = {e: {"result": 0, "error": 0} for e in ENDPOINTS}
    problems = []
    for c in chosen:
        path = c.make(folder / c.name)
        for endpoint in ENDPOINTS:
            outcome, msg = call(app_server["url"], endpoint, path)
            counts[endpoint][outcome] += 1
            if outcome == "error" and (why := readable(msg)):
                problems.append(f"{c.name} {endpoint}: {why}: {msg[:400]!r}")
            assert app_server["proc"].poll() is None, f"the app died on {c.name} ({endpoint})"
    grown = _rss_mb(pid) - rss0
    assert not problems, "\n".join(problems)
    assert grown < MAX_RSS_GROWTH_MB, f"server RSS grew {grown:.0f} MiB"
    return counts


def _good_song(path: Path) -> Path:
    from discovervoice import audio

    sr = 44100
    t = np.arange(4 * sr) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 55 * t)
    return audio.save(path, np.stack([x, 0.9 * x]).astype(np.float32), sr)


def _other_session_still_works(app_server, tmp_path):
    out = gradio_client.Client(app_server["url"], verbose=False).predict(
        gradio_client.handle_file(str(_good_song(tmp_path / "good.wav"))), "default", "two",
        api_name="/separate")
    assert out[0] and out[1], "a new session's separation returned no stems"


def test_app_few_bad_uploads(app_server, tmp_path):
    check_inputs(app_server, FEW, tmp_path)
    _other_session_still_works(app_server, tmp_path)


def test_long_song_refused_from_its_header(app_server, tmp_path):
    """A 16-minute song (above the 15-minute song limit; 30 MB as 8 kHz FLAC of quiet noise)
    is refused quickly, from its header, with the limit in the message."""
    import soundfile as sf

    p = tmp_path / "long song.flac"
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(p), "w", samplerate=8000, channels=1, format="FLAC", subtype="PCM_16") as f:
        block = (1e-3 * rng.standard_normal((8000 * 60, 1))).astype(np.float32)
        for _ in range(16):
            f.write(block)
    t0 = time.monotonic()
    outcome, msg = call(app_server["url"], "/separate", p)
    assert outcome == "error" and "above the limit" in msg, msg
    assert readable(msg) is None, msg
    assert time.monotonic() - t0 < 60


@pytest.mark.fuzz
def test_app_fuzz_sample(app_server, tmp_path):
    counts = check_inputs(app_server, app_cases(), tmp_path)
    _other_session_still_works(app_server, tmp_path)
    import json
    import os

    if os.environ.get("DISCOVERVOICE_FUZZ_REPORT"):
        with open(os.environ["DISCOVERVOICE_FUZZ_REPORT"], "a", encoding="utf-8") as f:
            f.write(json.dumps({"app": counts, "inputs": len(app_cases())}) + "\n")


@pytest.mark.fuzz
def test_upload_above_the_size_limit_is_refused(app_server, tmp_path):
    """A 201 MB upload (the app's default ``--max-upload-mb`` is 200) is refused by Gradio's
    upload route before any handler (or decoder) sees it; the app stays up."""
    big = tmp_path / "huge.wav"
    with open(big, "wb") as f:  # sparse: costs no disk until read
        f.truncate(201 * 1024 * 1024)
    outcome, msg = call(app_server["url"], "/separate", big)
    assert outcome == "error", "an upload above the limit was accepted"
    assert "Traceback" not in msg and ("large" in msg.lower() or "size" in msg.lower() or "413" in msg), msg[:300]
    assert app_server["proc"].poll() is None

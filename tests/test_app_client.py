"""The app's API driven headless with gradio_client, and session privacy.

Each ``Client`` is its own browser-like session with its own workspace. The tests check
that real audio comes back and that one session can neither see nor fetch another's files.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from discovervoice import audio

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """A 6-second stereo 'song': a sung-like harmonic line over a bass line and clicks."""
    sr = 44100
    t = np.arange(6 * sr) / sr
    f0 = 220 * 2 ** (np.floor(t / 0.75) % 5 / 12)
    voice = sum(0.2 / k * np.sin(2 * np.pi * k * np.cumsum(f0) / sr) for k in range(1, 8))
    bass = 0.3 * np.sin(2 * np.pi * 55 * t)
    clicks = 0.5 * (np.mod(t, 0.5) < 0.01) * np.random.default_rng(0).standard_normal(t.size)
    x = np.stack([voice + bass + 0.8 * clicks, 0.9 * voice + bass + 0.6 * clicks]).astype(np.float32)
    return audio.save(tmp_path_factory.mktemp("song") / "song.wav", 0.5 * x, sr)


def _client(app_server):
    return gradio_client.Client(app_server["url"], verbose=False)


def _sessions(app_server) -> set[str]:
    root = app_server["sessions"]
    return {d.name for d in root.iterdir()} if root.exists() else set()


def test_api_lists_named_endpoints(app_server):
    info = _client(app_server).view_api(print_info=False, return_format="dict")
    names = set(info["named_endpoints"])
    for n in ("/separate", "/which_singer", "/train_voice", "/cover", "/clean_and_transcribe", "/feedback",
              "/mos_next", "/mos_rate", "/mos_results", "/mos_make", "/list_voices"):
        assert n in names, n


def test_separate_returns_real_stems(app_server, song):
    c = _client(app_server)
    out = c.predict(gradio_client.handle_file(str(song)), "default", "two", api_name="/separate")
    vocals, accompaniment = out[0], out[1]
    mix = audio.load(song, None)
    for item in (vocals, accompaniment):
        path = item["value"] if isinstance(item, dict) and "value" in item else item
        path = path["path"] if isinstance(path, dict) else path
        x = audio.load(path, None)
        assert x.shape == mix.shape  # same channels and exact length
        assert audio.rms_db(x) > -60  # not silent


def _stem_path(item):
    path = item["value"] if isinstance(item, dict) and "value" in item else item
    return path["path"] if isinstance(path, dict) else path


def test_separate_with_the_wiener_filter_keeps_the_mixture_and_changes_the_stems(app_server, song):
    c = _client(app_server)
    plain = c.predict(gradio_client.handle_file(str(song)), "default", "two", False, api_name="/separate")
    filt = c.predict(gradio_client.handle_file(str(song)), "default", "two", True, api_name="/separate")
    mix = audio.load(song, None)
    v0, v1 = audio.load(_stem_path(plain[0]), None), audio.load(_stem_path(filt[0]), None)
    a1 = audio.load(_stem_path(filt[1]), None)
    assert v1.shape == mix.shape and np.abs(v1 - v0).max() > 1e-3
    # the filter takes both stems from the mixture: they add up to it again, to within the EM's
    # regularisation and the chunk cross-fades (about -25 dB on this song; -20 dB allowed)
    err = np.linalg.norm(v1 + a1 - mix) / np.linalg.norm(mix)
    assert err < 0.1, err


def test_two_sessions_never_see_each_others_files(app_server, song):
    a, b = _client(app_server), _client(app_server)
    before = _sessions(app_server)
    a.predict(gradio_client.handle_file(str(song)), "default", "two", api_name="/separate")
    after_a = _sessions(app_server) - before
    b.predict(gradio_client.handle_file(str(song)), "default", "two", api_name="/separate")
    after_b = _sessions(app_server) - before - after_a
    assert len(after_a) == 1 and len(after_b) == 1, "each session gets its own workspace"
    ws_a = app_server["sessions"] / after_a.pop()
    a_files = [p for p in ws_a.rglob("*.wav")]
    assert a_files, "session A wrote its stems into its workspace"
    # B's voice list is its own (nothing but the shipped demo voice), and the server will not
    # serve A's workspace files
    listed = b.predict(api_name="/list_voices")
    choices = listed.get("choices", []) if isinstance(listed, dict) else listed
    names = [c[0] if isinstance(c, (list, tuple)) else c for c in choices]
    assert names == ["dv-voice-jp1"], names
    for f in a_files[:2]:
        url = app_server["url"] + "gradio_api/file=" + urllib.parse.quote(str(f))
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=10)
        assert e.value.code in (403, 404)


def test_bad_upload_is_a_readable_error(app_server, tmp_path):
    bad = tmp_path / "lyrics.wav"
    bad.write_text("not audio at all\n" * 50)
    with pytest.raises(Exception) as e:
        _client(app_server).predict(gradio_client.handle_file(str(bad)), "default", "two", api_name="/separate")
    msg = str(e.value)
    assert "not a readable audio file" in msg and "Traceback" not in msg


def test_a_new_session_makes_a_cover_with_the_shipped_demo_voice(app_server, song):
    """Before training anything, the Cover tab offers dv-voice-jp1; the cover it makes is the
    song's length and not silent, and a name that is neither a session voice nor a demo is refused."""
    c = _client(app_server)
    out = c.predict(gradio_client.handle_file(str(song)), "dv-voice-jp1", 0, 0.75, 0.33, "fcpe",
                    api_name="/cover")
    mix, cover = audio.load(song, None), audio.load(_stem_path(out[0]), None)
    assert abs(cover.shape[-1] / mix.shape[-1] - 1) < 0.01
    assert audio.rms_db(cover) > -60
    with pytest.raises(Exception) as e:
        c.predict(gradio_client.handle_file(str(song)), "someone-elses-voice", 0, 0.75, 0.33, "fcpe",
                  api_name="/cover")
    msg = str(e.value)   # refused by the dropdown's own check or by the handler, readably
    assert ("not in the list of choices" in msg or "demo voice" in msg) and "Traceback" not in msg

"""discovervoice.audio on real files that the tests write (every load error path)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from discovervoice import audio
from discovervoice.errors import AudioError, AudioLoadError


def tone(freq=440.0, sr=44100, seconds=1.0, channels=2, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    x = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([x * (1 - 0.1 * c) for c in range(channels)]).astype(np.float32)


def test_wav_round_trip_exact(tmp_path):
    x = tone()
    p = audio.save(tmp_path / "a.wav", x, 44100)
    y = audio.load(p, 44100)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_array_equal(x, y)


def test_load_resamples_with_soxr_and_keeps_pitch(tmp_path):
    p = audio.save(tmp_path / "a.wav", tone(1000.0, sr=44100, seconds=2.0), 44100)
    y = audio.load(p, 16000, channels=1)
    assert y.shape == (1, 32000)
    spec = np.abs(np.fft.rfft(y[0]))
    assert abs(np.argmax(spec) * 16000 / y.shape[1] - 1000.0) < 2.0


@pytest.mark.parametrize("sr", [8000, 96000])
def test_extreme_but_valid_rates(tmp_path, sr):
    p = tmp_path / f"r{sr}.wav"
    sf.write(p, tone(300.0, sr=sr, seconds=0.5).T, sr)
    y = audio.load(p, 44100)
    assert y.shape == (2, 22050)
    native, native_sr = audio.read(p)
    assert native_sr == sr and native.shape == (2, sr // 2)


def test_rate_outside_range_is_refused(tmp_path):
    p = tmp_path / "low.wav"
    sf.write(p, tone(100.0, sr=4000, seconds=0.5).T, 4000)
    with pytest.raises(AudioError, match="4000 Hz is outside the supported range") as e:
        audio.load(p, 16000)
    assert "low.wav" in str(e.value)


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioLoadError, match="empty.wav: file is empty"):
        audio.load(p, 44100)


def test_text_file_named_wav_lists_every_backend(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("these are my lyrics, not audio\n" * 20)
    with pytest.raises(AudioLoadError) as e:
        audio.load(p, 44100)
    msg = str(e.value)
    assert "notes.wav" in msg and "not a readable audio file" in msg
    assert "soundfile:" in msg and "ffmpeg:" in msg
    assert set(e.value.failures) == {"soundfile", "ffmpeg"}


def test_truncated_wav(tmp_path):
    good = audio.save(tmp_path / "good.wav", tone(seconds=1.0), 44100, subtype="PCM_16")
    data = good.read_bytes()
    p = tmp_path / "truncated.wav"
    p.write_bytes(data[:30])  # header cut in the middle
    with pytest.raises(AudioLoadError, match="truncated.wav"):
        audio.load(p, 44100)


def test_truncated_data_chunk_loads_what_is_there(tmp_path):
    # libsndfile reads the samples present when only the data chunk is cut short
    good = audio.save(tmp_path / "good.wav", tone(seconds=1.0), 44100, subtype="PCM_16")
    data = good.read_bytes()
    p = tmp_path / "short.wav"
    p.write_bytes(data[: len(data) // 2])
    y = audio.load(p, 44100)
    assert 0 < y.shape[1] < 44100


def test_header_only_wav_is_zero_length(tmp_path):
    p = tmp_path / "nosamples.wav"
    sf.write(p, np.zeros((0, 2), dtype=np.float32), 44100)
    with pytest.raises(AudioLoadError, match="zero length"):
        audio.load(p, 44100)


def test_nan_samples(tmp_path):
    x = tone(seconds=0.5)
    x[0, 100] = np.nan
    x[1, 200] = np.inf
    p = tmp_path / "nan.wav"
    sf.write(p, x.T, 44100, subtype="FLOAT")
    with pytest.raises(AudioError, match="2 samples are NaN or infinite"):
        audio.load(p, 44100)


def test_three_channels_to_stereo_and_mono(tmp_path):
    x = np.stack([np.full(1000, 0.1), np.full(1000, 0.2), np.full(1000, 0.4)]).astype(np.float32)
    p = tmp_path / "three.wav"
    sf.write(p, x.T, 44100, subtype="FLOAT")
    st = audio.load(p, None, channels=2)
    centre = 0.4 * 10 ** (-3 / 20)
    np.testing.assert_allclose(st[:, 0], [0.1 + centre, 0.2 + centre], rtol=1e-5)
    mono = audio.load(p, None, channels=1)
    np.testing.assert_allclose(mono[0, 0], (0.1 + 0.2 + 0.4) / 3, rtol=1e-5)
    assert audio.load(p, None).shape == (3, 1000)


def test_mono_to_stereo_duplicates():
    m = tone(channels=1)
    s = audio.to_channels(m, 2)
    assert s.shape == (2, m.shape[1])
    np.testing.assert_array_equal(s[0], s[1])


@pytest.mark.parametrize("ext,tol", [(".ogg", 0.05), (".mp3", 0.05), (".flac", 1e-4)])
def test_lossy_and_lossless_round_trips(tmp_path, ext, tol):
    x = tone(440.0, seconds=1.0)
    p = audio.save(tmp_path / f"a{ext}", x, 44100)
    y = audio.load(p, 44100)
    assert y.shape[0] == 2
    # mp3 adds encoder delay/padding: compare a steady-state stretch by RMS level and pitch
    assert abs(y.shape[1] - x.shape[1]) < 4096
    assert abs(audio.rms(y) - audio.rms(x)) < tol * 10
    n = min(x.shape[1], y.shape[1])
    spec = np.abs(np.fft.rfft(y[0, :n]))
    assert abs(np.argmax(spec) * 44100 / n - 440.0) < 2.0


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_m4a_through_ffmpeg(tmp_path):
    src = audio.save(tmp_path / "src.wav", tone(440.0, seconds=1.0), 44100)
    m4a = tmp_path / "song.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(src), "-c:a", "aac", str(m4a)],
                   check=True)
    y = audio.load(m4a, 44100)
    assert y.shape[0] == 2 and abs(y.shape[1] - 44100) < 4096
    assert audio.info(m4a).backend == "ffmpeg"


def test_duration_limit(tmp_path):
    p = audio.save(tmp_path / "long.wav", tone(seconds=2.0), 44100)
    with pytest.raises(AudioError, match=r"duration 2.0 s is above the limit of 1.5 s"):
        audio.load(p, 44100, max_seconds=1.5)
    assert audio.load(p, 44100, max_seconds=None).shape[1] == 88200


def test_silent_input(tmp_path):
    p = audio.save(tmp_path / "silence.wav", np.zeros((2, 44100), np.float32), 44100)
    assert audio.load(p, 44100).shape == (2, 44100)  # allowed by default
    with pytest.raises(AudioError, match="silence.wav: audio is silent"):
        audio.load(p, 44100, allow_silent=False)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AudioLoadError, match="file not found"):
        audio.load(tmp_path / "nope.wav", 44100)
    with pytest.raises(AudioLoadError, match="is a folder"):
        audio.load(tmp_path, 44100)


def test_save_clip_modes(tmp_path):
    x = tone(amp=2.0)
    clamp = audio.load(audio.save(tmp_path / "c.wav", x, 44100, clip="clamp"), None)
    assert clamp.max() == pytest.approx(1.0)
    resc = audio.load(audio.save(tmp_path / "r.wav", x, 44100, clip="rescale"), None)
    assert np.abs(resc).max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(resc, x / np.abs(x).max(), atol=1e-6)
    raw = audio.load(audio.save(tmp_path / "n.wav", x, 44100, clip="none"), None)
    assert raw.max() == pytest.approx(2.0, rel=1e-6)


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    target = audio.save(tmp_path / "keep.wav", tone(seconds=0.2), 44100)
    before = target.read_bytes()

    def boom(self, data):
        raise OSError("disk full")

    monkeypatch.setattr(sf.SoundFile, "write", boom)
    with pytest.raises(OSError, match="disk full"):
        audio.save(target, tone(seconds=0.5, freq=880), 44100)
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.wav"]  # no temp left


def test_save_refuses_bad_audio_without_writing(tmp_path):
    bad = tone()
    bad[0, 5] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        audio.save(tmp_path / "bad.wav", bad, 44100)
    with pytest.raises(AudioError, match="unsupported output format .txt"):
        audio.save(tmp_path / "bad.txt", tone(), 44100)
    assert list(tmp_path.iterdir()) == []


def test_metadata_tags_round_trip(tmp_path):
    p = audio.save(tmp_path / "t.wav", tone(), 44100, metadata={"comment": "AI-generated", "title": "x"})
    tags = audio.read_metadata(p)
    assert tags["comment"] == "AI-generated" and tags["title"] == "x"


def test_loudness_helpers():
    sr = 48000
    x = tone(997.0, sr=sr, seconds=3.0, channels=1, amp=1.0)
    assert audio.rms(x) == pytest.approx(1 / np.sqrt(2), rel=1e-3)
    assert audio.rms_db(x) == pytest.approx(-3.01, abs=0.02)
    level = audio.lufs(x, sr)
    quiet = x * 0.1
    assert audio.lufs(quiet, sr) == pytest.approx(level - 20.0, abs=0.05)
    norm = audio.normalize_lufs(quiet, sr, target=-23.0)
    assert audio.lufs(norm, sr) == pytest.approx(-23.0, abs=0.05)
    matched = audio.match_loudness(quiet, x, sr)
    assert audio.lufs(matched, sr) == pytest.approx(level, abs=0.05)
    assert audio.lufs(np.zeros((1, sr)), sr) == -np.inf

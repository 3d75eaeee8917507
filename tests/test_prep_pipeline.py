"""prepare(): manifest schema, resume, bad-file skipping, separation/transcription hooks, CLI."""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from discovervoice.prep import pipeline as P
from discovervoice import testsignals as S
from discovervoice.prep.pipeline import MANIFEST_FIELDS, PrepOptions, prepare, read_manifest

SR = 16_000


def _song_like(notes_base: float) -> np.ndarray:
    phrase = S.sung_phrase([notes_base * r for r in (1, 9 / 8, 5 / 4, 4 / 3, 3 / 2, 4 / 3)], 0.5)
    return np.concatenate([S.silence(0.8), phrase, S.silence(1.0), phrase, phrase, S.silence(0.8)])


@pytest.fixture()
def inputs(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    sf.write(d / "low.wav", _song_like(150.0), SR)
    sf.write(d / "high.flac", _song_like(400.0), SR)
    (d / "broken.wav").write_bytes(b"RIFF\x00\x00not audio at all")
    (d / "notes.txt").write_text("not audio: ignored by folder search")
    return d


def _opts(**kw):
    base = dict(sample_rate=22_050, separate=False, min_seconds=1.0, max_seconds=4.0,
                voice_classifier="rule")
    base.update(kw)
    return PrepOptions(**base)


def test_prepare_writes_slices_manifest_and_summary(inputs, tmp_path):
    out = tmp_path / "ds"
    seen = []
    summary = prepare([inputs], out, _opts(), progress=lambda f, m: seen.append(f))
    assert summary["sources"] == 3 and summary["processed"] == 2
    assert [os.path.basename(f["file"]) for f in summary["failed"]] == ["broken.wav"]
    assert "not a readable audio file" in summary["failed"][0]["error"]
    assert seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    recs = read_manifest(out / "manifest.jsonl")
    assert len(recs) == summary["slices"] >= 4
    for r in recs:
        assert list(r) == list(MANIFEST_FIELDS)
        assert r["label"] == "singing" and r["speaker"] == "spk0" and r["text"] is None
        x, sr = sf.read(out / r["file"])
        assert sr == 22_050 and x.ndim == 1
        assert 1.0 <= r["duration"] <= 4.0 + 1e-6
        assert len(x) / sr == pytest.approx(r["duration"], abs=0.01)
        assert r["loudness"] == pytest.approx(-23.0, abs=0.5)
        assert r["sex_estimate"] in ("male", "female") and 0.5 <= r["sex_confidence"] <= 1
    by_src = {os.path.basename(r["source"]): r["sex_estimate"] for r in recs}
    assert by_src == {"low.wav": "male", "high.flac": "female"}
    saved = json.loads((out / "summary.json").read_text())
    assert saved["minutes_kept"] == summary["minutes_kept"] > 0
    assert sum(saved["minutes_by_speaker"].values()) == pytest.approx(summary["minutes_kept"], abs=1e-3)
    assert set(saved["minutes_by_label"]) == {"singing"}
    assert len(list((out / "segments").glob("*.csv"))) == 2


def test_rerun_resumes_and_option_change_redoes(inputs, tmp_path):
    out = tmp_path / "ds"
    prepare([inputs], out, _opts())
    files = sorted((out / "slices").rglob("*.wav"))
    stamps = [f.stat().st_mtime_ns for f in files]
    again = prepare([inputs], out, _opts())
    assert again["resumed"] == 2 and again["processed"] == 0 and len(again["failed"]) == 1
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert again["slices"] == len(read_manifest(out / "manifest.jsonl"))
    changed = prepare([inputs], out, _opts(target_lufs=-18.0))
    assert changed["processed"] == 2 and changed["resumed"] == 0
    assert all(r["loudness"] == pytest.approx(-18.0, abs=0.5) for r in read_manifest(out / "manifest.jsonl"))


def test_missing_file_is_reported_not_fatal(tmp_path):
    sf.write(tmp_path / "ok.wav", _song_like(200.0), SR)
    s = prepare([tmp_path / "ok.wav", tmp_path / "gone.wav"], tmp_path / "ds", _opts())
    assert s["processed"] == 1 and "file not found" in s["failed"][0]["error"]


def test_no_inputs_and_bad_options_raise(tmp_path):
    with pytest.raises(P.PrepError, match="no input files"):
        prepare([tmp_path], tmp_path / "ds", _opts())
    with pytest.raises(P.PrepError, match="min-seconds"):
        prepare([tmp_path], tmp_path / "ds", _opts(min_seconds=5, max_seconds=2))


def test_speaker_distance_sets_the_automatic_count(tmp_path):
    """The tree cut of the automatic speaker count (prep --speaker-distance) reaches the
    diarization: two voices an octave and more apart are one speaker at a cut above any Ward
    distance of a few unit vectors and two at a cut near zero; a cut <= 0 is refused."""
    low, high = _song_like(140.0), _song_like(420.0)
    sf.write(tmp_path / "two.wav", np.concatenate([low, high]), SR)

    def speakers(d):
        prepare([tmp_path / "two.wav"], tmp_path / f"ds{d}",
                _opts(speaker_distance=d, estimate_sex=False))
        return {r["speaker"] for r in read_manifest(tmp_path / f"ds{d}" / "manifest.jsonl")}

    assert len(speakers(50.0)) == 1
    assert len(speakers(0.02)) >= 2
    with pytest.raises(P.PrepError, match="speaker distance must be a positive number"):
        prepare([tmp_path / "two.wav"], tmp_path / "bad", _opts(speaker_distance=0.0))


class _FakeSeparator:
    """Returns the upper half of the spectrum as 'vocals' (a stand-in with the API)."""

    sample_rate = 44_100

    def __init__(self):
        self.calls = 0

    def separate(self, audio, sample_rate=None):
        assert sample_rate == self.sample_rate
        self.calls += 1
        assert audio.ndim == 2 and audio.shape[0] == 2
        return {"vocals": audio * 0.5, "accompaniment": audio * 0.5}


def test_separation_hook_is_used(monkeypatch, tmp_path):
    sf.write(tmp_path / "a.wav", _song_like(220.0), SR)
    fake = _FakeSeparator()
    monkeypatch.setattr(P, "_load_separator", lambda name: fake)
    monkeypatch.setattr(P._Stages, "separator", lambda self: fake)
    s = prepare([tmp_path / "a.wav"], tmp_path / "ds", _opts(separate=True))
    assert fake.calls == 1 and s["slices"] > 0
    part = json.loads(next((tmp_path / "ds" / "parts").glob("*.json")).read_text())
    assert part["separated"] is True


def test_denoise_hook_runs_at_the_enhancer_rate(monkeypatch, tmp_path):
    class Enh:
        sample_rate = 16_000
        calls = []

        def enhance(self, audio, progress=None):
            self.calls.append(audio.shape)
            return audio * 0.5
    enh = Enh()
    monkeypatch.setattr(P._Stages, "enhancer", lambda self: enh)
    sf.write(tmp_path / "a.wav", _song_like(220.0), SR)
    s = prepare([tmp_path / "a.wav"], tmp_path / "ds", _opts(denoise=True))
    assert s["slices"] > 0 and len(enh.calls) == 1
    assert enh.calls[0][1] == len(_song_like(220.0))  # 22.05 kHz work rate -> 16 kHz


def test_unavailable_stage_stops_the_run(monkeypatch, tmp_path):
    sf.write(tmp_path / "a.wav", _song_like(220.0), SR)

    def boom(self):
        raise P.StageUnavailableError("music removal needs the separator")
    monkeypatch.setattr(P._Stages, "separator", boom)
    with pytest.raises(P.StageUnavailableError):
        prepare([tmp_path / "a.wav"], tmp_path / "ds", _opts(separate=True))


def test_transcription_hook(monkeypatch, tmp_path):
    class T:
        sample_rate = 16_000

        def transcribe(self, audio, language=None):
            assert audio.ndim == 1
            return type("R", (), {"text": f" la la {len(audio) // 16000} "})()
    monkeypatch.setattr(P._Stages, "transcriber", lambda self: T())
    sf.write(tmp_path / "a.wav", _song_like(220.0), SR)
    prepare([tmp_path / "a.wav"], tmp_path / "ds", _opts(transcribe=True))
    texts = [r["text"] for r in read_manifest(tmp_path / "ds" / "manifest.jsonl")]
    assert texts and all(t.startswith("la la ") for t in texts)


def test_keep_regions_main_speaker_and_joining():
    from discovervoice.prep.segmentation import Segment

    segs = [Segment(0, 2, "speech", "spk0"), Segment(2.3, 4, "speech", "spk0"),
            Segment(5, 12, "speech", "spk1"), Segment(12, 13, "music"),
            Segment(13, 14, "singing", "spk0")]
    kept = P.keep_regions(segs, _opts(keep_speakers=("main",)))
    assert [(s.start, s.end, s.speaker) for s in kept] == [(5, 12, "spk1")]
    kept = P.keep_regions(segs, _opts(keep_speakers=("spk0",), labels=("speech",)))
    assert [(s.start, s.end) for s in kept] == [(0, 4)]


def test_cli_prep_runs_and_reports(inputs, tmp_path, capsys):
    from discovervoice.cli import main

    out = tmp_path / "ds"
    code = main(["prep", str(inputs / "low.wav"), str(inputs / "broken.wav"), "-o", str(out),
                 "--no-separate", "--min-seconds", "1", "--max-seconds", "4",
                 "--sample-rate", "16000", "--voice-classifier", "rule", "--highpass", "60", "--notch", "50:30", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["processed"] == 1 and len(summary["failed"]) == 1
    assert (out / "manifest.jsonl").is_file()
    assert main(["prep", str(inputs / "low.wav"), "-o", str(out), "--min-seconds", "3",
                 "--max-seconds", "1", "--no-separate"]) == 1
    assert "min-seconds" in capsys.readouterr().err


def test_default_path_keeps_speech_as_its_own_voice_track(monkeypatch, tmp_path):
    """With separation on, a real speech recording (KLettres syllables) stays its own voice
    track and a sung one takes the separator's stem; --separate-speech takes the stem for
    speech too (segment_auto)."""
    from tests.speech_clips import klettres_words

    try:
        (speech,) = klettres_words(tmp_path / "in", files=1, words_per_file=12, pause_seconds=0.3,
                                   sample_rate=SR)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    sf.write(tmp_path / "in" / "song.wav", _song_like(220.0), SR)
    fake = _FakeSeparator()
    monkeypatch.setattr(P._Stages, "separator", lambda self: fake)

    def tracks(out, **kw):
        prepare([tmp_path / "in"], out, _opts(separate=True, **kw))
        return {json.loads(p.read_text())["source"].rsplit("/", 1)[-1]: json.loads(p.read_text())
                for p in (out / "parts").glob("*.json")}

    parts = tracks(tmp_path / "ds")
    assert parts[speech.name]["voice_track"] == "mixture" and parts[speech.name]["records"]
    assert parts["song.wav"]["voice_track"] == "vocals" and parts["song.wav"]["records"]
    assert all(p["separated"] for p in parts.values()) and fake.calls == 2
    parts = tracks(tmp_path / "ds2", separate_speech=True)
    assert parts[speech.name]["voice_track"] == "vocals"

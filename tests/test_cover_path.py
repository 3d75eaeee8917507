"""One cover path: the main job separates a song once and hands those stems to
``convert.api.make_cover``, the one cover function behind the app (``pipeline.cover``) and
``discovervoice cover``; both write the same AI-generated tags and follow the same level rule
(cover at the song's loudness with true peak <= -1 dBTP, converted audio peak <= 0.99).

Real signals throughout: a WORLD-sung vocal line over a two-tone accompaniment, the embedded
default separator, a tiny voice trained here. Only the main job's singer ranking and scoring
(an AST classifier and DNSMOS, which say nothing about separation) are replaced by stubs.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from discovervoice import audio as dva
from discovervoice import pipeline
from discovervoice.convert import api
from discovervoice.separation.api import Separator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR16 = 16000
SONG_RATE = 44100


def _sing(seconds: float, seed: int, base: float = 220.0) -> np.ndarray:
    """Vowel-like WORLD synthesis on a stepwise melody with short pauses, 16 kHz mono."""
    import pyworld

    rng = np.random.default_rng(seed)
    n = int(seconds * 100)
    f = np.linspace(0, SR16 / 2, 513)
    f0 = np.zeros(n)
    sp = np.full((n, 513), 1e-6)
    i = 0
    while i < n:
        d = int(rng.integers(30, 60))
        formants = [(800, 1200, 2500), (300, 2300, 3000), (500, 1800, 2600)][int(rng.integers(0, 3))]
        env = (3e-2 + sum(np.exp(-0.5 * ((f - fm) / 90.0) ** 2) / (k + 1) for k, fm in enumerate(formants))) ** 2
        f0[i:i + d] = base * 2 ** (int(rng.integers(-4, 5)) / 12)
        sp[i:i + d] = env
        i += d + int(rng.integers(5, 15))
    ap = np.where(f0[:, None] > 0, 0.01, 0.99) * np.ones((n, 513))
    y = pyworld.synthesize(f0, sp, ap, SR16, 10.0)
    return (0.5 * y / np.abs(y).max() + 1e-4 * rng.standard_normal(len(y))).astype(np.float32)


@pytest.fixture(scope="module")
def voice(tmp_path_factory):
    """A tiny voice (PPG content encoder and synthesizer trained for a few steps)."""
    import torch

    from discovervoice.convert import content as C
    from discovervoice.convert.voice import train_voice

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("voice")
    ppg = C.PPGEncoder(C.build_ppg_net(channels=16, n_layers=2, n_phones=6),
                       list("_aeiu") + ["<other>"]).save(root / "ppg.safetensors")
    data = root / "takes"
    data.mkdir()
    for k in range(2):
        sf.write(data / f"take{k}.wav", _sing(9, seed=k, base=260), SR16)
    return train_voice(data, root / "me", content=str(ppg), f0_method="dio", steps=10, eval_every=10,
                       batch=4, channels=16, n_layers=1).path, data


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    vocals = dva.resample(_sing(4, seed=5, base=200)[None], SR16, SONG_RATE).repeat(2, 0)
    t = np.arange(vocals.shape[1]) / SONG_RATE
    acc = np.stack([0.2 * np.sin(2 * np.pi * 110 * t) + 0.1 * np.sin(2 * np.pi * 165 * t)] * 2)
    path = tmp_path_factory.mktemp("song") / "song.wav"
    sf.write(path, (0.6 * vocals + acc).T.astype(np.float32), SONG_RATE)
    return path


@pytest.fixture()
def separations(monkeypatch):
    """Count every ``Separator.separate`` call (the real separation still runs)."""
    calls = []
    real = Separator.separate

    def counted(self, *args, **kwargs):
        calls.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Separator, "separate", counted)
    return calls


@pytest.fixture()
def covers(monkeypatch):
    """Record every call of the one cover function (and run it)."""
    calls = []
    real = api.make_cover

    def recorded(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "make_cover", recorded)
    return calls


def _assert_cover_files(cover_path, vocals_path, song_path):
    """The tag set and the level rule every cover path writes."""
    mix, _ = dva.read(song_path)
    written, sr = dva.read(cover_path)
    assert abs(dva.lufs(written, sr) - dva.lufs(mix, sr)) < 1.5
    assert dva.true_peak(written).max() <= 10 ** (-1 / 20) + 1e-3
    for path in (cover_path,) + ((vocals_path,) if vocals_path else ()):
        tags = dva.read_metadata(path)
        assert tags.get("comment") == api.AI_TAG
        assert tags.get("software", "").startswith("DiscoverVoice")   # libsndfile appends its name
        assert tags.get("title", "").startswith("AI")
    if vocals_path:
        v, _ = dva.read(vocals_path)
        assert np.abs(v).max() <= api.PEAK_CEILING + 1e-4


def test_main_job_separates_once_and_the_cover_reuses_its_stems(voice, song, separations, covers,
                                                                monkeypatch, tmp_path):
    voice_dir, takes = voice
    monkeypatch.setattr(pipeline, "which_singer",
                        lambda *a, **k: pipeline.SingerResult([("stub", 1.0)], []))
    monkeypatch.setattr(pipeline, "score_cover", lambda *a, **k: {})
    report = pipeline.run_main_job(song, sorted(takes.glob("*.wav")), tmp_path / "job",
                                   voice_model=voice_dir, f0_method="dio")
    assert len(separations) == 1, "the main job separates the song exactly once"
    assert len(covers) == 1 and covers[0]["stems"] is not None, "the cover is made from given stems"
    sep_acc, sr = dva.read(report["stems"]["accompaniment"])
    np.testing.assert_allclose(covers[0]["stems"]["accompaniment"], sep_acc, atol=1e-6)
    np.testing.assert_allclose(covers[0]["stems"]["vocals"], dva.read(report["stems"]["vocals"])[0], atol=1e-6)
    assert report["cover"]["accompaniment"] == report["stems"]["accompaniment"]
    _assert_cover_files(report["cover"]["cover"], report["cover"]["converted_vocals"], song)


def test_app_and_cli_make_covers_with_the_same_function(voice, song, separations, covers, tmp_path):
    from discovervoice.cli import main

    voice_dir, _ = voice
    res = pipeline.cover(song, voice_dir, tmp_path / "app", f0_method="dio")   # the app's call
    assert len(covers) == 1 and len(separations) == 1
    _assert_cover_files(res.cover, res.converted_vocals, song)

    out = tmp_path / "cli.wav"
    assert main(["cover", str(song), "--voice", str(voice_dir), "-o", str(out), "--f0-method", "dio"]) == 0
    assert len(covers) == 2, "discovervoice cover calls convert.api.make_cover too"
    assert covers[1].get("stems") is None and len(separations) == 2   # it separated the song itself
    _assert_cover_files(out, None, song)
    app, _ = dva.read(res.cover)
    cli, _ = dva.read(out)
    # same separator, same voice, same mix rule: the two covers agree
    n = min(app.shape[1], cli.shape[1])
    assert abs(dva.lufs(app[:, :n], SONG_RATE) - dva.lufs(cli[:, :n], SONG_RATE)) < 0.5


def test_make_cover_separates_when_no_stems_are_given(voice, song, separations, tmp_path):
    voice_dir, _ = voice
    mix, sr = dva.read(song)
    r = api.make_cover(mix, voice_dir, tmp_path / "c.wav", sample_rate=sr, f0_method="dio",
                       vocals_out=tmp_path / "v.wav")
    assert len(separations) == 1
    assert r["cover"].shape == mix.shape and r["vocals_path"] == tmp_path / "v.wav"
    _assert_cover_files(r["path"], r["vocals_path"], song)


def test_score_cover_names_its_metrics_once_and_scores_an_unchanged_vocal_as_itself(tmp_path):
    """The studio report's scores: an identity "conversion" follows the original's pitch
    (raw pitch accuracy ~1, RMSE ~0 cents) and is as similar to the user as the original is;
    keys carry one ``f0_`` prefix (``f0_rmse_cents``, not ``f0_f0_rmse_cents``)."""
    from discovervoice.testsignals import sung_phrase

    x = sung_phrase([220.0, 247.0, 262.0, 294.0, 330.0], note_seconds=0.6)
    orig, conv = tmp_path / "orig.wav", tmp_path / "conv.wav"
    sf.write(orig, x, 16000)
    sf.write(conv, x, 16000)
    takes = []
    for k, notes in enumerate(([196.0, 220.0, 247.0], [262.0, 247.0, 220.0])):
        takes.append(tmp_path / f"take{k}.wav")
        sf.write(takes[-1], sung_phrase(notes, note_seconds=0.8), 16000)
    res = pipeline.CoverResult(cover=conv, converted_vocals=conv, accompaniment=orig, original_vocals=orig)
    s = pipeline.score_cover(res, takes)
    assert not any(k.startswith("f0_f0_") for k in s) and "f0_rmse_cents" in s
    assert s["f0_raw_pitch_accuracy"] > 0.95 and s["f0_rmse_cents"] < 10
    assert abs(s["speaker_similarity_converted"] - s["speaker_similarity_original"]) < 1e-4
    assert s["converted_dnsmos_ovrl"] == pytest.approx(s["original_dnsmos_ovrl"], abs=1e-3)

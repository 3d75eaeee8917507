"""Voice training (WORLD default), conversion, chunk joins, covers and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from discovervoice.convert import api, content as C
from discovervoice.convert.voice import VoiceDataError, VoiceModel, train_voice, vad_slices

SR = 16000
VOWELS = {"a": (800, 1200, 2500), "i": (300, 2300, 3000), "u": (320, 800, 2400), "e": (500, 1800, 2600)}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _envelope(formants, fft=1024, sr=SR, scale=1.0):
    f = np.linspace(0, sr / 2, fft // 2 + 1)
    env = 3e-2 + sum(np.exp(-0.5 * ((f - scale * fm) / 90.0) ** 2) / (i + 1) for i, fm in enumerate(formants))
    return env ** 2


def _sing(seconds, seed, scale=1.0, base=200.0):
    """A WORLD-rendered "singer": vowels on a melody with short pauses; ``scale`` moves the formants."""
    import pyworld

    rng = np.random.default_rng(seed)
    n = int(seconds * 100)
    f0 = np.zeros(n)
    sp = np.zeros((n, 513))
    i = 0
    while i < n:
        d = rng.integers(30, 60)
        v = VOWELS[rng.choice(list(VOWELS))]
        f0[i:i + d] = base * 2 ** (rng.integers(-4, 5) / 12)
        sp[i:i + d] = _envelope(v, scale=scale)
        i += d
        g = rng.integers(5, 15)
        sp[i:i + g] = _envelope(v, scale=scale) * 1e-3
        i += g
    ap = np.where(f0[:, None] > 0, 0.01, 0.99) * np.ones((n, 513))
    y = pyworld.synthesize(f0, sp[:n], ap, SR, 10.0)
    return (0.5 * y / np.abs(y).max() + 1e-4 * rng.standard_normal(len(y))).astype(np.float32)


@pytest.fixture(scope="module")
def ppg_path(tmp_path_factory):
    torch.manual_seed(0)
    enc = C.PPGEncoder(C.build_ppg_net(channels=16, n_layers=2, n_phones=6), list("_aeiu") + ["<other>"])
    return enc.save(tmp_path_factory.mktemp("ppg") / "ppg.safetensors")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, ppg_path):
    d = tmp_path_factory.mktemp("voice_data")
    for k in range(4):
        sf.write(d / f"take{k}.wav", _sing(12, seed=k, scale=1.15, base=260), SR)
    out = tmp_path_factory.mktemp("voices") / "me"
    msgs = []
    voice = train_voice(d, out, content=str(ppg_path), f0_method="dio", steps=40, eval_every=20, batch=4,
                        channels=32, n_layers=2, progress=lambda f, m: msgs.append((f, m)))
    return voice, out, d, msgs


def test_vad_slices_cut_at_pauses():
    x = np.concatenate([_sing(2, 1), np.zeros(SR), _sing(3, 2), np.zeros(SR)])
    sl = vad_slices(x)
    assert len(sl) >= 2
    assert all(0.5 * SR <= b - a <= 12 * SR for a, b in sl)
    assert not any(a < 2.5 * SR < b and b - a < 2 * SR for a, b in sl if a > 2.2 * SR and b < 2.9 * SR)


def test_training_writes_a_voice_and_resumes(trained, ppg_path):
    voice, out, data, msgs = trained
    assert {"voice.json", "model.safetensors", "added.index", "envelopes.npz"} <= {p.name for p in out.iterdir()}
    meta = json.loads((out / "voice.json").read_text())
    assert meta["kind"] == "world" and meta["sample_rate"] == 16000
    assert meta["train"]["voiced_seconds"] >= 30
    assert 200 < meta["f0"]["median_hz"] < 340
    assert msgs[-1][0] == 1.0 and all(0 <= f <= 1 for f, _ in msgs)
    assert voice.index is not None and voice.index.dim == 6
    # the voice records the content floor it was trained with; older voice.json files
    # (no key) were trained on log-posteriors floored at -12
    assert meta["content_floor"] == C.PPG_FLOOR == voice.content_encoder().floor
    legacy = json.loads((out / "voice.json").read_text())
    del legacy["content_floor"]
    old = out.parent / "old-voice"
    old.mkdir(exist_ok=True)
    (old / "added.index").write_bytes((out / "added.index").read_bytes())
    (old / "voice.json").write_text(json.dumps(legacy))
    # the synthesizer is a checkpoint file; voices written before it (no format key) still load
    from discovervoice import checkpoint
    from discovervoice.convert.voice import WORLD_NET_FORMAT

    ck = checkpoint.load(out / "model.safetensors", WORLD_NET_FORMAT)
    assert ck.config == meta["net"] and ck.architecture == "WorldNet"
    checkpoint.write_tensors(old / "model.safetensors", ck.tensors,
                             {"architecture": "WorldNet", "config": json.dumps(meta["net"])})
    older = VoiceModel.load(old)
    assert older.content_encoder().floor == -12.0
    z = torch.randn(1, meta["net"]["in_dim"], 50)
    with torch.inference_mode():
        assert torch.equal(older.synth.net(z), voice.synth.net(z))
    hist = meta["train"]["history"]
    assert hist[-1][1] < hist[0][1] * 1.5  # training loss does not blow up
    # resume: more steps continue from the checkpoint, features are not recomputed
    v2 = train_voice(data, out, content=str(ppg_path), f0_method="dio", steps=60, eval_every=20, batch=4,
                     channels=32, n_layers=2)
    log = (out / "train" / "train.log").read_text()
    assert "resumed features" in log and "resumed training at step 40" in log
    assert v2.meta["train"]["steps"] <= 60


def test_voice_stores_gv_stats_and_older_voices_get_them_from_their_cache(trained, tmp_path):
    import shutil

    from discovervoice.convert.voice import VoiceModelError, add_postfilter_stats

    voice, out, _, _ = trained
    gv = np.asarray(voice.meta["stats"]["gv"])
    assert gv.shape == (len(voice.meta["stats"]["y_std"]),) and np.all(gv > 0) and np.all(gv < 1.5)
    assert voice.synth.gv is not None
    old = tmp_path / "older"
    shutil.copytree(out, old)
    meta = json.loads((old / "voice.json").read_text())
    del meta["stats"]["gv"]
    (old / "voice.json").write_text(json.dumps(meta))
    assert VoiceModel.load(old).synth.gv is None  # converts as before
    assert add_postfilter_stats(old) is True and add_postfilter_stats(old) is False
    np.testing.assert_allclose(VoiceModel.load(old).synth.gv, gv, rtol=1e-5)
    # the envelope table: the training frames' z-scored c1..c_order and voicing, rebuilt the same
    table = voice.synth.envelopes
    z = np.load(out / "train" / "features.npz")
    assert table.mcep.shape == (len(table.voiced), voice.meta["order"])
    assert 0.5 * len(z["f0"]) < len(table.voiced) < len(z["f0"])  # the held-out slices are not in it
    assert abs(table.voiced.mean() - (z["f0"] > 0).mean()) < 0.1
    (old / "envelopes.npz").unlink()
    assert VoiceModel.load(old).synth.envelopes is None
    assert add_postfilter_stats(old) is True and add_postfilter_stats(old) is False
    again = VoiceModel.load(old).synth.envelopes
    np.testing.assert_array_equal(again.mcep, table.mcep)
    np.testing.assert_array_equal(again.voiced, table.voiced)
    shutil.rmtree(old / "train")
    (old / "voice.json").write_text(json.dumps(meta))
    with pytest.raises(VoiceModelError, match="features.npz"):
        add_postfilter_stats(old)


def test_convert_output_follows_source_pitch(trained):
    voice, *_ = trained
    src = _sing(3, seed=9, scale=0.9, base=150)
    y, f0_used = api.convert_segment(src, VoiceModel.load(voice.path), transpose=12, f0_method="dio",
                                     return_f0=True)
    assert y.shape == (len(src),)
    from discovervoice.convert.f0 import extract_f0

    est = extract_f0(y, "dio")
    v = (est > 0) & (f0_used > 0)
    assert v.mean() > 0.5
    assert np.mean(np.abs(1200 * np.log2(est[v] / f0_used[v])) < 50) > 0.8


def test_auto_octave_moves_into_voice_range(trained):
    voice, *_ = trained
    src = _sing(2, seed=3, base=110)
    _, f0_used = api.convert_segment(src, voice, f0_method="dio", auto_octave=True, return_f0=True)
    med = np.median(f0_used[f0_used > 0])
    assert 180 < med < 400  # 110 Hz source lifted by an octave toward the ~260 Hz voice


def test_convert_decides_the_octave_with_its_own_f0_method(trained, monkeypatch):
    """The whole-input octave probe uses the conversion's F0 method, not a fixed dio."""
    from discovervoice.convert import f0 as F0

    voice, *_ = trained
    src = _sing(2, seed=3, base=110)
    seen = []
    real = F0.extract_f0

    def spy(x, method, *a, **k):
        seen.append(method)
        return real(x, method, *a, **k)

    monkeypatch.setattr(F0, "extract_f0", spy)
    y = api.convert(src, SR, voice, f0_method="harvest", auto_octave=True)
    assert y.size and seen and set(seen) == {"harvest"}


class _PhaseySynth:
    """A synth whose every call starts a new random phase: the worst case for chunk seams."""

    sample_rate = SR

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def synthesize(self, content, f0):
        filled = np.array(f0, dtype=np.float64)
        for i in range(len(filled)):  # hold the last voiced F0 so the sine itself never jumps
            if filled[i] <= 0:
                filled[i] = filled[i - 1] if i else 200.0
        f = np.repeat(filled, 160)
        ph = self.rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(f) / SR
        return (0.5 * np.sin(ph)).astype(np.float32)


class _Enc:
    def __call__(self, x):
        return np.zeros((len(x) // 160 + 1, 4), np.float32)


def test_chunk_joins_have_no_clicks():
    v = VoiceModel("world", _PhaseySynth(), SR, "none", None, 200.0)
    v.content_encoder = lambda: _Enc()  # type: ignore[method-assign]
    x = np.concatenate([_sing(2.3, s, base=180) for s in range(4)])
    cuts = api.split_points(x, SR, chunk_seconds=2.0, search_seconds=0.5)
    assert len(cuts) >= 3
    y = api.convert(x, SR, v, f0_method="dio", rms_mix_rate=1.0, chunk_seconds=2.0, index_rate=0)[0]
    assert len(y) == len(x)
    jumps = np.abs(np.diff(y))
    bound = 0.5 * 2 * np.pi * 400 / SR * 1.5  # max slope of the synth's sine at <= 400 Hz, +50 %
    for c in cuts:
        assert jumps[c - 2000:c + 2000].max() < bound


def test_too_little_voiced_audio_is_a_clear_error(tmp_path, ppg_path):
    d = tmp_path / "short_voice"
    d.mkdir()
    sf.write(d / "a.wav", _sing(4, seed=1), SR)
    with pytest.raises(VoiceDataError, match=r"short_voice.*voiced sound.*at least 10 s"):
        train_voice(d, tmp_path / "v", content=str(ppg_path), f0_method="dio", steps=5)
    assert not (tmp_path / "v").exists(), "no half-made voice folder is left"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VoiceDataError, match="no audio files"):
        train_voice(empty, tmp_path / "v2", content=str(ppg_path))


def test_cancel_leaves_no_voice_and_presets_set_the_length(tmp_path, ppg_path):
    from discovervoice.convert.voice import PRESETS, TrainingCancelled

    d = tmp_path / "takes"
    d.mkdir()
    for k in range(2):
        sf.write(d / f"take{k}.wav", _sing(12, seed=k), SR)
    msgs = []

    def cancel() -> bool:  # a person presses "Cancel" once training has begun
        return any(m.startswith("Learning your voice") for _, m in msgs)

    out = tmp_path / "v"
    with pytest.raises(TrainingCancelled):
        train_voice(d, out, preset="quick", cancel=cancel, content=str(ppg_path), f0_method="dio", batch=4,
                    channels=16, n_layers=2, progress=lambda f, m: msgs.append((f, m)))
    assert not out.exists(), "a cancelled training leaves no voice folder"
    learning = [m for _, m in msgs if m.startswith("Learning your voice")]
    assert learning and f"of {PRESETS['quick'].steps}," in learning[0] and "left" in learning[0]
    assert all("L1" not in m for _, m in msgs), "progress is in words, not loss values"


def test_convert_rejects_bad_input(trained):
    from discovervoice.errors import AudioError, DiscoverVoiceError

    voice, *_ = trained
    with pytest.raises(AudioError):
        api.convert(np.array([np.nan, 0.0]), SR, voice)
    with pytest.raises(AudioError):
        api.convert(np.zeros((1, 0)), SR, voice)
    with pytest.raises(DiscoverVoiceError, match="protect"):
        api.convert(np.zeros(SR), SR, voice, protect=0.9)


def test_cover_remix_with_given_stems(trained, tmp_path):
    from discovervoice import audio as dva

    voice, *_ = trained
    sr = 44100
    vocals = dva.resample(_sing(3, seed=5, base=200)[None], SR, sr).repeat(2, 0)
    t = np.arange(vocals.shape[1]) / sr
    acc = np.stack([0.2 * np.sin(2 * np.pi * 110 * t)] * 2).astype(np.float32)
    r = api.make_cover(vocals + acc, voice, tmp_path / "cover.wav", sample_rate=sr, f0_method="dio",
                       stems={"vocals": vocals, "accompaniment": acc})
    assert r["cover"].shape == acc.shape
    # converted vocals sit in the mix at the original vocals' loudness relative to the accompaniment
    balance = dva.lufs(r["vocals"], sr) - dva.lufs(r["accompaniment"], sr)
    assert abs(balance - (dva.lufs(vocals, sr) - dva.lufs(acc, sr))) < 1.0
    assert "AI-generated" in dva.read_metadata(tmp_path / "cover.wav").get("comment", "")
    shifted = api.pitch_shift(acc, sr, 12)
    f = np.fft.rfftfreq(acc.shape[1], 1 / sr)
    assert abs(f[np.argmax(np.abs(np.fft.rfft(shifted[0])))] - 220) < 3


def test_loud_cover_keeps_the_songs_loudness_without_a_burst(trained, tmp_path):
    """A loud song (about -10 LUFS, peaks at full scale) with a burst in the vocals: the
    cover stays within 1.5 LU of the song (pyloudnorm), its true peak under -1 dBTP, and the
    accompaniment is not turned down to make room (the old whole-file rescale cost ~10 LU)."""
    from discovervoice import audio as dva

    voice, *_ = trained
    sr = 44100
    vocals = dva.resample(_sing(4, seed=6, base=220)[None], SR, sr).repeat(2, 0)
    vocals[:, sr:sr + 400] *= 2.0  # a full-scale burst
    t = np.arange(vocals.shape[1]) / sr
    acc = np.stack([0.3 * np.sin(2 * np.pi * 110 * t) + 0.15 * np.sin(2 * np.pi * 165 * t)] * 2).astype(np.float32)
    song = np.clip(vocals + acc, -0.99, 0.99)
    assert -12 < dva.lufs(song, sr) < -8  # as loud as a mastered song
    r = api.make_cover(song, voice, tmp_path / "cover.wav", sample_rate=sr, f0_method="dio",
                       stems={"vocals": vocals, "accompaniment": acc})
    written, _ = dva.read(tmp_path / "cover.wav")
    assert abs(dva.lufs(written, sr) - dva.lufs(song, sr)) < 1.5
    assert dva.true_peak(written).max() <= 10 ** (-1 / 20) + 1e-3
    assert dva.lufs(r["accompaniment"], sr) > dva.lufs(acc, sr) - 1.5


def test_cli_convert(trained, tmp_path):
    from discovervoice.cli import main

    voice, out, *_ = trained
    inp = tmp_path / "in.wav"
    sf.write(inp, _sing(2, seed=7), SR)
    code = main(["convert", str(inp), "--voice", str(out), "-o", str(tmp_path / "o.wav"), "--transpose", "2",
                 "--f0-method", "dio", "--index-rate", "0.5", "--protect", "0.4"])
    assert code == 0
    y, sr = sf.read(tmp_path / "o.wav")
    assert sr == 16000 and abs(len(y) - 2 * SR) < 10
    assert main(["convert", str(inp), "--voice", str(tmp_path / "nope"), "-o", str(tmp_path / "p.wav")]) == 1


def test_cli_convert_auto_semitone_moves_speech_to_the_voice_median(trained, tmp_path):
    """``--auto-semitone`` (speech): the input's median F0, ~4.5 semitones below the voice's
    (200 vs ~260 Hz, too little for a whole octave), lands within a semitone of the voice's."""
    from discovervoice.cli import main
    from discovervoice.convert import f0 as F0

    voice, out, *_ = trained
    inp = tmp_path / "in.wav"
    sf.write(inp, _sing(3, seed=8, base=200), SR)
    med = {}
    for name, extra in (("octave", ["--auto-octave"]), ("semitone", ["--auto-semitone"])):
        assert main(["convert", str(inp), "--voice", str(out), "-o", str(tmp_path / f"{name}.wav"),
                     "--f0-method", "dio", *extra]) == 0
        y, _ = sf.read(tmp_path / f"{name}.wav", dtype="float32")
        f = F0.extract_f0(y, "dio")
        med[name] = float(np.median(f[f > 0]))
    target = voice.f0_median
    assert abs(12 * np.log2(med["semitone"] / target)) < 1.0, (med, target)
    assert 12 * np.log2(med["semitone"] / med["octave"]) > 3.0, med


def test_changed_content_encoder_recomputes_cached_features(tmp_path):
    """The feature cache is keyed by the content encoder's weights, not only its name."""
    data = tmp_path / "data"
    data.mkdir()
    for k in range(3):
        sf.write(data / f"take{k}.wav", _sing(15, seed=10 + k, base=220), SR)
    ppg = tmp_path / "ppg.safetensors"
    kw = dict(content=str(ppg), f0_method="dio", steps=20, eval_every=10, batch=4, channels=16, n_layers=1)
    torch.manual_seed(1)
    C.PPGEncoder(C.build_ppg_net(channels=16, n_layers=2, n_phones=6), list("_aeiu") + ["<other>"]).save(ppg)
    train_voice(data, tmp_path / "v", **kw)
    first = np.load(tmp_path / "v" / "train" / "features.npz")["content"]
    torch.manual_seed(2)  # same file name, different weights
    C.PPGEncoder(C.build_ppg_net(channels=16, n_layers=2, n_phones=6), list("_aeiu") + ["<other>"]).save(ppg)
    C._CONTENT_CACHE.clear()
    train_voice(data, tmp_path / "v", **kw)
    log = (tmp_path / "v" / "train" / "train.log").read_text()
    assert "resumed features" not in log
    second = np.load(tmp_path / "v" / "train" / "features.npz")["content"]
    assert first.shape == second.shape and not np.allclose(first, second)
    train_voice(data, tmp_path / "v", **kw)  # unchanged weights: the cache is used
    assert "resumed features" in (tmp_path / "v" / "train" / "train.log").read_text()


def test_convert_scales_an_overshooting_output_below_full_scale(trained):
    """As RVC-WebUI: a converted peak above 0.99 scales the whole output down (no clipping)."""
    voice, *_ = trained
    src = 2.0 * _sing(3, seed=4, scale=0.9, base=180)  # loud input, its loudness imposed below
    kw = dict(f0_method="dio", rms_mix_rate=0.0, index_rate=0.5)
    raw = api.convert_segment(src, voice, **kw)
    assert np.abs(raw).max() > 1.0  # the synthesis does overshoot here
    out = api.convert(src, SR, voice, **kw)[0]
    assert np.abs(out).max() == pytest.approx(0.99, abs=1e-6)
    np.testing.assert_allclose(out, raw * (0.99 / np.abs(raw).max()), atol=1e-5)


def test_voice_train_reads_prep_output(tmp_path, ppg_path, capsys):
    """``voice train --manifest`` trains on the slices ``discovervoice prep`` wrote, as they
    are (one training slice per manifest line, no re-slicing)."""
    from discovervoice.cli import main
    from discovervoice.prep.pipeline import PrepOptions, prepare, read_manifest

    raw = tmp_path / "raw" / "me"
    raw.mkdir(parents=True)
    for k in range(3):
        sf.write(raw / f"take{k}.wav", _sing(14, seed=k, scale=1.15, base=260), SR)
    ds = tmp_path / "ds"
    prepare([tmp_path / "raw"], ds, PrepOptions(sample_rate=SR, separate=False, voice_classifier="rule",
                                                max_seconds=8.0))
    recs = read_manifest(ds / "manifest.jsonl")
    assert len(recs) >= 3 and {r["speaker"] for r in recs} == {"spk0"}
    out = tmp_path / "voice"
    args = ["voice", "train", "--manifest", str(ds / "manifest.jsonl"), "-o", str(out), "--content", str(ppg_path),
            "--f0-method", "dio", "--steps", "20"]
    assert main(args + ["--speaker", "spk0"]) == 0
    train = json.loads((out / "voice.json").read_text())["train"]
    assert train["manifest"] is True and train["speaker"] == "spk0"
    assert train["data"] == str((ds / "manifest.jsonl").resolve())
    assert train["slices"] == train["files"] == len(recs)
    assert train["seconds"] == pytest.approx(sum(r["duration"] for r in recs), abs=0.02 * len(recs))
    assert 200 < VoiceModel.load(out).f0_median < 340
    capsys.readouterr()
    assert main(["voice", "train", "--manifest", str(ds), "--speaker", "spk7", "-o", str(tmp_path / "v2")]) == 1
    assert "no speech or singing slices of speaker 'spk7' (speakers: spk0)" in capsys.readouterr().err
    assert not (tmp_path / "v2").exists()
    assert main(["voice", "train", str(raw), "--manifest", str(ds), "-o", str(tmp_path / "v3")]) == 1
    assert "DATA or --manifest" in capsys.readouterr().err


def test_manifest_files_pick_one_voice(tmp_path):
    """Each source's main speaker by default (a second voice in a recording is left out);
    ``speaker`` picks that label in every source; music and missing speakers are refused."""
    from discovervoice.convert.voice import manifest_files
    from discovervoice.prep.pipeline import MANIFEST_FIELDS

    rows = [("a.wav", "spk0", 6.0, "singing"), ("a.wav", "spk1", 2.0, "speech"), ("a.wav", "spk0", 3.0, "speech"),
            ("b.wav", "spk0", 1.0, "singing"), ("b.wav", "spk1", 5.0, "singing"), ("b.wav", "spk1", 9.0, "music")]
    lines = [dict.fromkeys(MANIFEST_FIELDS) | {"file": f"slices/{i}.wav", "source": src, "speaker": spk,
                                               "duration": d, "label": label}
             for i, (src, spk, d, label) in enumerate(rows)]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    names = lambda fs: [f.name for f in fs]  # noqa: E731
    assert names(manifest_files(tmp_path)) == ["0.wav", "2.wav", "4.wav"]
    assert names(manifest_files(tmp_path / "manifest.jsonl", "spk1")) == ["1.wav", "4.wav"]
    with pytest.raises(VoiceDataError, match=r"speaker 'spk3' \(speakers: spk0, spk1\)"):
        manifest_files(tmp_path, "spk3")


def test_cli_voice_evaluate_writes_its_report_where_asked(trained, tmp_path):
    """``voice evaluate --out``: the converted file, results.json and results.md land in the
    given folder (nothing in the voices folder), and the scores are those of a real conversion."""
    from discovervoice.cli import main

    voice, out, data, _ = trained
    vroot = tmp_path / "voices"
    vroot.mkdir()
    (vroot / "me").symlink_to(out, target_is_directory=True)
    par = tmp_path / "corpus" / "parallel" / "test"
    (par / "voices" / "me").mkdir(parents=True)
    sf.write(par / "voices" / "me" / "take0.wav", sf.read(next(iter(sorted(data.glob("*.wav")))))[0], SR)
    s0 = par / "sets" / "s0"
    s0.mkdir(parents=True)
    sf.write(s0 / "other.wav", _sing(3, seed=21, scale=0.85, base=200), SR)
    sf.write(s0 / "me.wav", _sing(3, seed=21, scale=1.15, base=200), SR)
    rep = tmp_path / "report"
    assert main(["voice", "evaluate", str(tmp_path / "corpus"), "--voices", str(vroot), "--out", str(rep),
                 "--no-mos", "--f0-method", "dio", "--threads", "1"]) == 0
    result = json.loads((rep / "results.json").read_text())
    assert result["n_pairs"] == 1 and result["pairs"][0]["source"] == "other"
    y, sr = sf.read(rep / "s0" / "other_to_me.wav")
    assert sr == SR and len(y) > 2 * SR and np.abs(y).max() > 1e-3
    m = result["mean"]
    assert np.isfinite(m["mcd_converted"]) and -1 <= m["sim_converted"] <= 1
    assert "MCD vs truth" in (rep / "results.md").read_text()
    assert not (vroot / "eval-test").exists()


def test_training_is_the_same_whether_the_content_encoder_was_cached_or_not(tmp_path, ppg_path):
    """Same data, same seed -> the same network, also when the first run loaded the content
    encoder from disk (which draws from torch's generator) and the second found it cached."""
    data = tmp_path / "data"
    data.mkdir()
    for k in range(2):
        sf.write(data / f"take{k}.wav", _sing(12, seed=30 + k, base=230), SR)
    kw = dict(content=str(ppg_path), f0_method="dio", steps=10, eval_every=10, batch=4, channels=16,
              n_layers=1, threads=1)
    C._CONTENT_CACHE.clear()
    torch.manual_seed(123)
    train_voice(data, tmp_path / "a", **kw)
    torch.manual_seed(456)
    train_voice(data, tmp_path / "b", **kw)
    from safetensors.numpy import load_file

    wa, wb = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_allclose(wa[k], wb[k], rtol=1e-5, atol=1e-6, err_msg=k)

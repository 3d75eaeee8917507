"""Unit tests of discovervoice.classify: features, windows, aggregation, calibration, data
layout errors, label map, catalogue. Synthetic signals only; no network."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from discovervoice.classify import data as D
from discovervoice.classify import features as F
from discovervoice.errors import AudioError, DataError

SR = 16000


def voice(f0: float, seconds: float, formants=((700, 80), (1200, 120), (2600, 200)),
          seed: int = 0, gate_hz: float = 0.0) -> np.ndarray:
    """A harmonic source through three resonators (a crude vowel), optional syllable gate."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f = f0 * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    ph = np.cumsum(f / SR)
    x = sum(np.sin(2 * np.pi * h * ph) / h * ((h * f) < 7500) for h in range(1, 30))
    for fc, bw in formants:
        r = np.exp(-np.pi * bw / SR)
        x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * fc / SR), r * r], x)
    if gate_hz:
        x = x * (np.sin(2 * np.pi * gate_hz * t) > 0)
    x = 0.3 * x / np.max(np.abs(x)) + 1e-4 * rng.standard_normal(n)
    return x.astype(np.float32)


# --------------------------------------------------------------------------- features

def test_logmel_matches_transformers_feature_extractor():
    from transformers import ASTFeatureExtractor

    fe = ASTFeatureExtractor(num_mel_bins=64, max_length=300)
    x = voice(180, 2.5)
    ref = fe(x, sampling_rate=SR, return_tensors="np")["input_values"][0]
    import torch

    ours = F.LogMel(fe)(torch.from_numpy(x)[None])[0].numpy()
    assert ours.shape == ref.shape == (300, 64)
    n = (len(x) - 400) // 160 + 1  # real frames; the rest is padding in both
    assert np.max(np.abs(ours[:n] - ref[:n])) < 2e-3
    assert np.allclose(ours[n:], ref[n:])


def test_cut_windows_cover_the_audio_and_pad_short_input():
    cfg = F.WindowConfig(window_seconds=1.0, hop_seconds=0.5)
    x = np.arange(int(2.3 * SR), dtype=np.float32)
    w = F.cut_windows(x, cfg)
    assert w.shape == (4, SR)  # starts 0, .5, 1.0 and one aligned to the end (1.3 s)
    assert w[0, 0] == 0 and w[-1, -1] == x[-1]
    short = F.cut_windows(x[: SR // 2], cfg)
    assert short.shape == (1, SR) and np.all(short[0, SR // 2:] == 0)
    assert F.cut_windows(np.zeros(0, np.float32), cfg).shape == (0, SR)


def test_vad_drops_silence_between_phrases():
    x = np.concatenate([voice(200, 1.5), np.zeros(2 * SR, np.float32), voice(200, 1.5, seed=1)])
    for backend in ("webrtc", "energy"):
        v = F.voiced_audio(x, SR, F.WindowConfig(vad=backend))
        assert 2.6 * SR < len(v) < 3.4 * SR, backend  # ~3 s of voice kept, 2 s silence gone
        rms_db = 10 * np.log10(np.mean(v.astype(np.float64) ** 2))
        assert abs(rms_db - F.WindowConfig().target_rms_db) < 0.5


def test_silent_input_raises_a_clear_error():
    with pytest.raises(AudioError, match="silent"):
        F.voiced_audio(np.zeros((1, 3 * SR), np.float32), SR, name="quiet.wav")
    # a click but no sustained voice: too little voice, named
    x = np.zeros(3 * SR, np.float32)
    x[SR:SR + 100] = 0.5
    with pytest.raises(AudioError, match="voice"):
        F.voiced_audio(x, SR, F.WindowConfig(vad="webrtc"), name="click.wav")
    with pytest.raises(AudioError, match="16000 Hz"):
        F.voiced_audio(voice(200, 2), 44100)


def test_aggregate_logits_is_the_tempered_softmax_of_the_mean():
    z = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [4.0, -2.0, 0.0]])
    p = F.aggregate_logits(z, temperature=2.0)
    m = z.mean(0) / 2.0
    assert np.allclose(p, np.exp(m) / np.exp(m).sum())
    assert p.argmax() == 0 and abs(p.sum() - 1) < 1e-12
    # one confident window outvoted by two others that agree
    w = F.aggregate_logits(z, weights=np.array([0.0, 1.0, 0.0]))
    assert w.argmax() == 1
    # higher temperature flattens
    assert F.aggregate_logits(z, 5.0).max() < F.aggregate_logits(z, 1.0).max()
    with pytest.raises(ValueError):
        F.aggregate_logits(np.zeros((0, 3)))
    with pytest.raises(ValueError):
        F.aggregate_logits(z, temperature=0)


def test_fit_temperature_recovers_the_generating_temperature():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, size=(4000, 6))
    t_true = 2.5
    p = np.exp(z / t_true)
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(6, p=row) for row in p])
    assert abs(F.fit_temperature(z, y) - t_true) < 0.25


def test_augmentation_shifts_pitch_and_keeps_the_window_length():
    import torch
    from transformers import ASTFeatureExtractor

    rng = np.random.default_rng(1)
    x = np.sin(2 * np.pi * 440 * np.arange(3 * SR) / SR).astype(np.float32) * 0.3
    aug = F.AugmentConfig(pitch_semitones=2.0, tempo=0.1, gain_db=0, noise_prob=0)
    lm = F.LogMel(ASTFeatureExtractor(num_mel_bins=64, max_length=100))
    for _ in range(5):
        wave, stretch = F.random_crop(x, SR, rng, aug)
        spec = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
        f_peak = np.argmax(spec) * SR / len(wave)
        semis = 12 * np.log2(f_peak / 440)
        assert abs(semis) <= 2.1
        # frames after stretching = the window's frame count
        feats = F.batch_features([(wave, stretch)], lm)
        assert feats.shape == (1, 100, 64) and torch.isfinite(feats).all()
        assert abs(len(wave) * stretch - SR) < 0.02 * SR


# --------------------------------------------------------------------------- data

def _write(path, x):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, SR)


def test_empty_singer_folder_is_named_in_the_error(tmp_path):
    _write(tmp_path / "alice" / "a.wav", voice(200, 1))
    (tmp_path / "bob").mkdir()
    with pytest.raises(DataError, match="bob"):
        D.scan_dataset(tmp_path)


def test_one_singer_dataset_is_refused_with_advice(tmp_path):
    _write(tmp_path / "alice" / "a.wav", voice(200, 1))
    with pytest.raises(DataError, match="at least 2 singer"):
        D.scan_dataset(tmp_path)
    assert len(D.scan_dataset(tmp_path, min_singers=1)) == 1
    with pytest.raises(DataError, match="not found"):
        D.scan_dataset(tmp_path / "missing")


def test_reserved_voices_are_refused_unless_allowed(tmp_path):
    _write(tmp_path / "mbrola-us2" / "a.wav", voice(200, 1))
    _write(tmp_path / "mbrola-us1" / "a.wav", voice(200, 1))
    with pytest.raises(DataError, match="reserved"):
        D.scan_dataset(tmp_path)
    assert len(D.scan_dataset(tmp_path, allow_reserved=True)) == 2


def test_layout_songs_kinds_and_corpus_manifest(tmp_path):
    _write(tmp_path / "a" / "ave_take1.wav", voice(200, 1))
    _write(tmp_path / "a" / "ave_take2.wav", voice(200, 1))
    _write(tmp_path / "a" / "spoken_001.wav", voice(200, 1))
    _write(tmp_path / "a" / "hymn" / "x.wav", voice(200, 1))
    _write(tmp_path / "a" / "songs" / "full.wav", voice(200, 1))
    _write(tmp_path / "b" / "sung_000.wav", voice(300, 1))
    _write(tmp_path / "b" / "sung_001.wav", voice(300, 1))
    items = [{"path": "singers/train/b/sung_000.wav", "kind": "sung", "piece": "bach/bwv1.6",
              "singer": "b", "melody": {"x": 1}},
             {"path": "singers/train/b/sung_001.wav", "kind": "sung", "piece": "bach/bwv1.6",
              "singer": "b"}]
    (tmp_path / "manifest.json").write_text(json.dumps(items))
    clips = {(c.singer, c.path.name): c for c in D.scan_dataset(tmp_path)}
    assert clips[("a", "ave_take1.wav")].song == clips[("a", "ave_take2.wav")].song == "ave"
    assert clips[("a", "spoken_001.wav")].kind == "spoken"
    assert clips[("a", "x.wav")].song == "hymn"
    assert clips[("a", "full.wav")].full_song and not clips[("a", "x.wav")].full_song
    assert clips[("b", "sung_000.wav")].song == clips[("b", "sung_001.wav")].song == "bach/bwv1.6"


def test_validation_split_never_shares_a_song_with_training():
    clips = [D.Clip(D.Path(f"/x/{s}/{k}_{t}.wav"), s, f"song{k}" if k < 8 else f"{s}-own{k}")
             for s in ("a", "b", "c") for k in range(10) for t in range(2)]
    train, valid = D.split_by_song(clips, 0.3, seed=3)
    assert valid and train
    assert not ({c.song for c in train} & {c.song for c in valid})
    assert {c.singer for c in train} == {"a", "b", "c"}
    assert len(train) + len(valid) == len(clips)
    # too few songs: everything trains, nothing validates
    few = [D.Clip(D.Path(f"/x/a/{k}.wav"), "a", str(k)) for k in range(2)]
    assert D.split_by_song(few, 0.5) == (few, [])


def test_catalogue_round_trip(tmp_path):
    entries = [D.CatalogueEntry("alice", "Song one", "https://example.org/1"),
               D.CatalogueEntry("bob", "Song, two", "songs/two.wav")]
    p = D.write_catalogue(tmp_path / "catalogue.csv", entries)
    back = D.read_catalogue(p)
    assert back[0] == entries[0]
    assert back[1].title == "Song, two" and back[1].location == str(tmp_path / "songs" / "two.wav")
    (tmp_path / "bad.csv").write_text("name,title\nx,y\n")
    with pytest.raises(DataError, match="columns"):
        D.read_catalogue(tmp_path / "bad.csv")


def test_catalogue_from_corpus_song_folders(tmp_path):
    for name in ("0000_bwv26.6_mbrola-de2", "0001_bwv66.6_mbrola-us1", "0002_bwv3.6_mbrola-de2"):
        d = tmp_path / "corpus" / "songs" / "train" / name
        d.mkdir(parents=True)
        sf.write(d / "mixture.wav", np.zeros((SR // 10, 2), np.float32), SR)
    cat = tmp_path / "model" / "catalogue.csv"
    entries = D.catalogue_from_corpus(tmp_path / "corpus", cat, singers=["mbrola-de2"])
    assert [e.title for e in entries] == ["bwv26.6 (0000_bwv26.6_mbrola-de2)",
                                          "bwv3.6 (0002_bwv3.6_mbrola-de2)"]
    back = D.read_catalogue(cat)  # relative paths resolve to the real files
    assert all(D.Path(e.location).is_file() for e in back)
    with pytest.raises(DataError, match="no corpus songs"):
        D.catalogue_from_corpus(tmp_path / "corpus", cat, singers=["nobody"])


def test_full_songs_are_reduced_to_their_vocals_stem(tmp_path):
    from discovervoice.classify.songs import vocals_of

    sr = 44100
    t = np.arange(2 * sr) / sr
    vocals = 0.3 * np.sin(2 * np.pi * 330 * t)
    mix = np.stack([vocals + 0.3 * np.sin(2 * np.pi * 55 * t)] * 2).astype(np.float32)
    sf.write(tmp_path / "song.wav", mix.T, sr)

    class FakeSeparator:  # the contract of discovervoice.separation.api.Separator
        sample_rate = sr

        def separate(self, audio, sample_rate=None):
            assert audio.shape == (2, 2 * sr) and sample_rate == sr
            return {"vocals": np.stack([vocals, vocals]).astype(np.float32),
                    "accompaniment": audio - vocals}

    v = vocals_of(tmp_path / "song.wav", separator=FakeSeparator())
    assert v.shape == (1, 2 * SR) and v.dtype == np.float32
    spec = np.abs(np.fft.rfft(v[0]))
    assert abs(np.argmax(spec) * SR / v.shape[1] - 330) < 2  # the vocals, not the bass

    class NoVocals(FakeSeparator):
        def separate(self, audio, sample_rate=None):
            return {"drums": audio}

    with pytest.raises(DataError, match="no vocals"):
        vocals_of(tmp_path / "song.wav", separator=NoVocals())


# --------------------------------------------------------------------------- gallery backend

def _two_modalities(rng, n_singers=12, per=20, h=24):
    """Unit-norm embeddings: singers differ strongly in two dimensions and weakly in the
    rest; speaking moves every singer by the same large offset in those two dimensions, so
    a spoken query lands near *another* singer's sung centroid (the nuisance that NAP
    projects out)."""
    singers = np.concatenate([rng.standard_normal((n_singers, 2)),
                              0.3 * rng.standard_normal((n_singers, h - 2))], axis=1)
    offset = np.zeros(h)
    offset[:2] = 2.0
    emb, names, kinds = [], [], []
    for i in range(n_singers):
        for kind, o in (("sung", 0.0), ("spoken", 1.0)):
            emb.append(singers[i] + o * offset + 0.3 * rng.standard_normal((per, h)))
            names += [f"s{i}"] * per
            kinds += [kind] * per
    e = np.concatenate(emb)
    return e / np.linalg.norm(e, axis=1, keepdims=True), np.array(names), np.array(kinds)


def test_gallery_backend_finds_spoken_queries_from_sung_enrolment():
    from discovervoice.classify.backend import _normalize, fit_backend

    rng = np.random.default_rng(0)
    e, y, k = _two_modalities(rng)
    b = fit_backend(e[:len(e) // 2], y[:len(e) // 2], k[:len(e) // 2], nap_dims=2)
    assert b.info["method"] == "nap+wccn" and b.info["nap_dims"] == 2
    assert b(e).shape == e.shape
    names = sorted(set(y[len(e) // 2:]))

    def accuracy(f):
        cents = np.stack([f(e[(y == s) & (k == "sung")].mean(0)) for s in names])
        q = (k == "spoken") & np.isin(y, names)
        return np.mean(np.array(names)[(f(e[q]) @ cents.T).argmax(1)] == y[q])

    # fitted on other singers, the backend helps on singers it never saw
    assert accuracy(_normalize) < 0.6 and accuracy(b) > 0.95
    with pytest.raises(DataError, match="both sung and spoken"):
        fit_backend(e[k == "sung"], y[k == "sung"], k[k == "sung"])
    assert fit_backend(e[k == "sung"], y[k == "sung"], k[k == "sung"], nap_dims=0).info[
        "method"] == "wccn"


def test_cross_modal_loss_is_low_when_singing_and_speech_agree():
    import torch

    from discovervoice.classify.train import _cross_modal_loss, _cross_modal_val_loss

    torch.manual_seed(0)
    base = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    ys = [0, 0, 1, 1, 2, 2, 3, 3]
    kinds = ["sung", "spoken"] * 4
    agree = base[ys] + 0.01 * torch.randn(8, 16)
    swapped = base[[0, 1, 1, 0, 2, 3, 3, 2]]  # speech of 0 looks like 1 and vice versa
    lo = _cross_modal_loss(agree, ys, kinds, 10.0)
    hi = _cross_modal_loss(swapped, ys, kinds, 10.0)
    assert float(lo) < 0.05 < 1.0 < float(hi)
    x = agree.clone().requires_grad_(True)
    _cross_modal_loss(x, ys, kinds, 10.0).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert float(_cross_modal_loss(agree, ys, ["sung"] * 8, 10.0)) == 0.0  # no speech
    v = _cross_modal_val_loss(agree.numpy(), np.array(ys), np.array(kinds), 10.0)
    assert abs(v - float(lo)) < 1e-4


def test_backend_of_a_registry_model_needs_an_output_folder(tmp_path, monkeypatch):
    """Refitting the shipped model's backend must not write a folder named after it into
    the working directory."""
    from discovervoice.classify.train import fit_gallery_backend

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="not a classifier folder"):
        fit_gallery_backend("dv-singer-ast", tmp_path)
    assert not (tmp_path / "dv-singer-ast").exists()

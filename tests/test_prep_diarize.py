"""Diarization: clustering on known embeddings, turn splitting, and a real GE2E run."""

import numpy as np
import pytest

from discovervoice.prep import diarization as D
from discovervoice import testsignals as S
from discovervoice.prep.metrics import diarization_error_rate
from discovervoice.prep.segmentation import Segment

SR = 16_000


def _two_groups(n=6, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=256), rng.normal(size=256)
    e = np.stack([(a if i % 2 == 0 else b) + 0.3 * rng.normal(size=256) for i in range(n)])
    return e / np.linalg.norm(e, axis=1, keepdims=True), np.arange(n) % 2


def test_cluster_finds_two_speakers_automatically():
    e, truth = _two_groups()
    lab = D.cluster(e)
    assert len(set(lab)) == 2 and ((lab == truth).all() or (lab == 1 - truth).all())


def test_cluster_keeps_one_speaker_when_no_split_is_convincing():
    rng = np.random.default_rng(3)
    a = rng.normal(size=256)
    e = np.stack([a + 0.6 * rng.normal(size=256) for _ in range(8)])
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    assert (D.cluster(e) == 0).all()
    # three well separated speakers are all found
    centres = rng.normal(size=(3, 256))
    e3 = np.stack([centres[i % 3] + 0.3 * rng.normal(size=256) for i in range(9)])
    e3 /= np.linalg.norm(e3, axis=1, keepdims=True)
    lab = D.cluster(e3)
    assert len(set(lab)) == 3 and all(len(set(lab[i::3])) == 1 for i in range(3))


def test_cluster_linkages_and_their_cuts():
    """Ward (the default) and average cosine linkage each cut at their own calibrated
    distance find the two groups; a linkage without a calibrated cut needs one; an unknown
    linkage is refused."""
    e, truth = _two_groups()
    for linkage in ("ward", "average"):
        lab = D.cluster(e, linkage=linkage)
        assert (lab == truth).all() or (lab == 1 - truth).all(), linkage
    # the cut is in the linkage's own distance: a Ward cut above every merge gives one speaker
    assert (D.cluster(e, linkage="ward", distance_threshold=1e3) == 0).all()
    with pytest.raises(ValueError, match="no calibrated cut"):
        D.cluster(e, linkage="single")
    lab = D.cluster(e, linkage="single", distance_threshold=0.5)
    assert (lab == truth).all() or (lab == 1 - truth).all()
    with pytest.raises(ValueError, match="unknown linkage"):
        D.cluster(e, linkage="median")


def test_cluster_respects_a_given_number_and_spectral():
    e, truth = _two_groups(8)
    assert len(set(D.cluster(e, 3))) == 3
    lab = D.cluster(e, 2, method="spectral")
    assert (lab == truth).all() or (lab == 1 - truth).all()
    assert (D.cluster(e, 1) == 0).all()
    with pytest.raises(ValueError):
        D.cluster(e, None, method="spectral")


def _fake_embedder(monkeypatch):
    """Embedding = speaker A where the excerpt is loud (0.3), B where it is soft (0.1)."""
    rng = np.random.default_rng(1)
    ea, eb = rng.normal(size=256), rng.normal(size=256)
    ea, eb = ea / np.linalg.norm(ea), eb / np.linalg.norm(eb)

    def fake(x16, rate=2.0):
        hop = int(SR / rate)
        starts = list(range(0, max(1, len(x16) - int(1.6 * SR)) + 1, hop))
        embs, centres = [], []
        for s in starts:
            w = x16[s:s + int(1.6 * SR)]
            peak = np.percentile(np.abs(w), 99) if len(w) else 0
            embs.append(ea if peak > 0.2 else eb)
            centres.append((s + min(len(x16) - s, int(1.6 * SR)) / 2) / SR)
        return np.stack(embs), np.array(centres)
    monkeypatch.setattr(D, "embed_windows", fake)


def test_diarize_labels_segments_and_splits_a_turn_change(monkeypatch):
    _fake_embedder(monkeypatch)
    loud = S.harmonic_tone(200, 3.0, SR, amplitude=0.3)
    soft = S.harmonic_tone(200, 3.0, SR, amplitude=0.1)
    x = np.concatenate([loud, S.silence(1.0), soft, S.silence(1.0), loud, soft])
    segs = [Segment(0, 3, "speech"), Segment(3, 4, "silence"), Segment(4, 7, "speech"),
            Segment(7, 8, "silence"), Segment(8, 14, "speech")]
    out = D.diarize(x, SR, segs)
    voice = [s for s in out if s.label == "speech"]
    assert [s.speaker for s in voice] == ["spk0", "spk1", "spk0", "spk1"]
    assert voice[2].end == pytest.approx(11.0, abs=0.6)
    assert out[1].speaker is None and out[-1].end == 14
    truth = [Segment(0, 3, "speech", "A"), Segment(4, 7, "speech", "B"),
             Segment(8, 11, "speech", "A"), Segment(11, 14, "speech", "B")]
    assert diarization_error_rate(truth, out, 14.0)["der"] < 0.05


def test_diarize_with_one_speaker_given(monkeypatch):
    _fake_embedder(monkeypatch)
    x = np.concatenate([S.harmonic_tone(200, 3.0, SR, amplitude=0.3), S.harmonic_tone(200, 3.0, SR, amplitude=0.1)])
    out = D.diarize(x, SR, [Segment(0, 3, "speech"), Segment(3, 6, "singing")], n_speakers=1)
    assert [s.speaker for s in out] == ["spk0", "spk0"]


def test_real_encoder_separates_two_synthetic_voices():
    """GE2E (resemblyzer's shipped weights) on two vowel-like voices, far apart in
    pitch and formants: same-voice windows must be closer than cross-voice ones."""
    a = S.harmonic_tone(110, 3.0, SR, formants=(600, 1000, 2400), vibrato_hz=4, vibrato_semitones=1)
    b = S.harmonic_tone(260, 3.0, SR, formants=(350, 2200, 3000), vibrato_hz=4, vibrato_semitones=1)
    ea, ca = D.embed_windows(a)
    eb, _ = D.embed_windows(b)
    assert ea.shape[1] == 256 and np.allclose(np.linalg.norm(ea, axis=1), 1, atol=1e-3)
    assert ca[0] == pytest.approx(0.8, abs=0.05)
    within = float(np.mean(ea @ ea.T))
    across = float(np.mean(ea @ eb.T))
    assert within > across + 0.05


def test_small_cluster_joins_the_nearest_large_one():
    """pyannote's min_cluster_size rule in seconds: a 1-s cluster near speaker B gives its
    unit to B; with no large cluster the longest one is kept."""
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=256), rng.normal(size=256)
    e = np.stack([a, a, a, b, b, b + 0.8 * rng.normal(size=256)])
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    lab = np.array([0, 0, 0, 1, 1, 2])
    dur = np.array([2.0, 2.0, 2.0, 2.0, 2.0, 1.0])
    assert D._dissolve_small(e, lab, dur, 2.0).tolist() == [0, 0, 0, 1, 1, 1]
    assert D._dissolve_small(e, lab, dur, 0.5).tolist() == lab.tolist()
    assert set(D._dissolve_small(e, lab, dur, 100.0).tolist()) == {0}


def test_pauses_split_units_and_stay_silence(monkeypatch):
    """A 0.5-s pause inside one voice segment is left out of the speaker turns; with
    trim_pauses=False it stays inside the joined segment."""
    _fake_embedder(monkeypatch)
    tone = S.harmonic_tone(200, 2.0, SR, amplitude=0.3)
    x = np.concatenate([tone, S.silence(0.5), tone])
    spans = D.split_at_pauses(D.F.to_mono_16k(x, SR), 0.0, 4.5, trim=True)
    assert len(spans) == 2
    assert spans[0][1] == pytest.approx(2.0, abs=0.05) and spans[1][0] == pytest.approx(2.5, abs=0.05)
    out = D.diarize(x, SR, [Segment(0, 4.5, "speech")])
    assert [s.label for s in out] == ["speech", "silence", "speech"]
    assert out[1].start == pytest.approx(2.0, abs=0.05) and out[1].speaker is None
    assert out[0].speaker == out[2].speaker == "spk0"
    out = D.diarize(x, SR, [Segment(0, 4.5, "speech")], trim_pauses=False)
    assert [(s.label, s.start, s.end) for s in out] == [("speech", 0, 4.5)]


def test_music_gate_fit_save_load_round_trip(tmp_path):
    from discovervoice.prep.musicgate import MusicGate

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=256), rng.normal(size=256)
    X = np.stack([v + 0.3 * rng.normal(size=256) for v in [a] * 20 + [b] * 20])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.r_[np.zeros(20), np.ones(20)]
    gate = MusicGate.fit(X, y, metadata={"note": "test"})
    assert gate.is_music(X[20:]).all() and not gate.is_music(X[:20]).any()
    back = MusicGate.load(gate.save(tmp_path / "g.safetensors"))
    np.testing.assert_allclose(back.probability(X), gate.probability(X), atol=1e-5)
    assert back.threshold == pytest.approx(gate.threshold)
    with pytest.raises(ValueError):
        MusicGate.fit(X, np.zeros(40))

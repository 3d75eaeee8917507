"""The speech/singing/music window classifier: features, training, file round trip."""

import numpy as np
import pytest

from discovervoice import testsignals as S
from discovervoice.prep.segmentation import analyse, segment
from discovervoice.prep.voicetype import (CLASSES, FEATURE_NAMES, RuleVoiceType,
                                          VoiceTypeClassifier, frame_probabilities, get_classifier,
                                          mfcc)

SR = 16_000


def _windows(x):
    an = analyse(x, SR)
    return an.feats


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X, y = [], []
    for i in range(3):
        for lab, x in (("singing", S.sung_phrase(list(rng.uniform(200, 400, 8)), 0.5)),
                       ("speech", S.speech_like(4.0, rng, f0=rng.uniform(100, 200))),
                       ("music", S.drum_loop(4.0, rng))):
            f = _windows(x)
            X.append(f)
            y += [lab] * len(f)
    return np.concatenate(X), y


def test_window_features_shape_and_meaning(data):
    X, y = data
    assert X.shape[1] == len(FEATURE_NAMES) and len(X) == len(y)
    vr = X[:, FEATURE_NAMES.index("voiced_ratio")]
    y = np.array(y)
    assert vr[y == "singing"].mean() > 0.9 > vr[y == "speech"].mean()
    assert vr[y == "music"].mean() < 0.5


def test_classifier_learns_and_round_trips(data, tmp_path):
    X, y = data
    clf = VoiceTypeClassifier.fit(X, y, metadata={"data": "synthetic"})
    p = clf.predict_proba(X)
    assert p.shape == (len(X), 3) and np.allclose(p.sum(1), 1)
    acc = np.mean([CLASSES[i] == t for i, t in zip(p.argmax(1), y)])
    assert acc > 0.95
    f = clf.save(tmp_path / "vt.safetensors")
    back = get_classifier(str(f))
    assert back.metadata == {"data": "synthetic"}
    assert np.allclose(back.predict_proba(X), p, atol=1e-4)
    # the trained classifier drives segmentation end to end
    rng = np.random.default_rng(5)
    x = np.concatenate([S.silence(1.0), S.drum_loop(3.0, rng), S.silence(1.0),
                        S.sung_phrase([220, 262, 294, 330, 294, 262], 0.5), S.silence(1.0)])
    labels = [s.label for s in segment(x, SR, classifier=back)]
    assert labels == ["silence", "music", "silence", "singing", "silence"]


def test_rule_and_interpolation():
    f = np.zeros((2, len(FEATURE_NAMES)))
    f[0, FEATURE_NAMES.index("voiced_ratio")] = 0.95
    f[0, FEATURE_NAMES.index("plateau")] = 0.9
    f[1, FEATURE_NAMES.index("vad")] = 0.9
    assert [CLASSES[i] for i in RuleVoiceType().predict_proba(f).argmax(1)] == ["singing", "speech"]
    probs = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    fp = frame_probabilities(probs, np.array([10, 20]), 30)
    assert fp[0].argmax() == 0 and fp[29].argmax() == 1 and fp[15, 0] == pytest.approx(0.5)
    assert frame_probabilities(np.zeros((0, 3)), np.zeros(0, int), 4)[:, 2].tolist() == [1.0] * 4


def test_mfcc_shape_and_tone_brightness():
    low = mfcc(S.harmonic_tone(150, 1.0, SR, n_harmonics=2))
    high = mfcc(S.harmonic_tone(150, 1.0, SR, n_harmonics=40))
    assert low.shape == (100, 13)
    assert low[20:80, 1].mean() > high[20:80, 1].mean()  # c1 falls as energy moves up


def test_foreign_file_is_a_weights_error(tmp_path):
    from discovervoice.errors import WeightsError

    p = tmp_path / "x.safetensors"
    p.write_bytes(b"nope")
    with pytest.raises(WeightsError):
        get_classifier(str(p))

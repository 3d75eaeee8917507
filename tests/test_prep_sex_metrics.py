"""Sex estimate on synthetic voices and the scoring functions on known answers."""

import numpy as np
import pytest

from discovervoice import testsignals as S
from discovervoice.prep.metrics import (boundary_f1, diarization_error_rate, frame_accuracy,
                                        segment_f1)
from discovervoice.prep.segmentation import Segment
from discovervoice.prep.sex import (F0SexEstimator, SexClassifier, estimate_sex, voice_features)

SR = 16_000


@pytest.mark.parametrize("f0,label,sex", [(105, "speech", "male"), (230, "speech", "female"),
                                          (180, "singing", "male"), (440, "singing", "female")])
def test_f0_rule(f0, label, sex):
    x = S.harmonic_tone(f0, 1.5, SR, vibrato_hz=5.0, vibrato_semitones=0.3)
    est = estimate_sex(x, SR, label, estimator=F0SexEstimator())
    assert est.sex == sex and est.method == "f0-rule"
    assert 0.5 <= est.confidence <= 1.0
    assert est.f0_median == pytest.approx(f0, rel=0.05)


def test_confidence_grows_with_distance_from_the_boundary():
    near = estimate_sex(S.harmonic_tone(180, 1.0, SR), SR, "speech", estimator=F0SexEstimator())
    far = estimate_sex(S.harmonic_tone(260, 1.0, SR), SR, "speech", estimator=F0SexEstimator())
    assert near.sex == far.sex == "female" and far.confidence > near.confidence


def test_unvoiced_excerpt_gives_no_estimate():
    rng = np.random.default_rng(0)
    est = estimate_sex(rng.normal(0, 0.1, SR).astype(np.float32) * 0, SR, "speech",
                       estimator=F0SexEstimator())
    assert est.sex is None and est.confidence is None


def test_classifier_learns_formants_and_round_trips(tmp_path):
    """Same F0 range for both classes; only the formants (vocal tract) differ."""
    rng = np.random.default_rng(0)
    feats, labels, sexes = [], [], []
    for i in range(16):
        f0 = rng.uniform(150, 250)
        for sex, formants in (("male", (500, 1100)), ("female", (700, 1500))):
            x = S.harmonic_tone(f0, 0.6, SR, formants=tuple(f * rng.uniform(0.95, 1.05) for f in formants))
            feats.append(voice_features(x))
            labels.append("speech")
            sexes.append(sex)
    clf = SexClassifier.fit(feats, labels, sexes, metadata={"data": "synthetic"})
    test_m = S.harmonic_tone(200, 0.6, SR, formants=(500, 1100))
    test_f = S.harmonic_tone(200, 0.6, SR, formants=(700, 1500))
    assert estimate_sex(test_m, SR, estimator=clf).sex == "male"
    assert estimate_sex(test_f, SR, estimator=clf).sex == "female"
    p = clf.save(tmp_path / "sex.safetensors")
    back = SexClassifier.load(p)
    assert back.metadata == {"data": "synthetic"}
    f = voice_features(test_f)
    assert back.predict(f, "speech")[1] == pytest.approx(clf.predict(f, "speech")[1], abs=1e-4)


def test_loading_a_foreign_file_is_a_weights_error(tmp_path):
    from discovervoice.errors import WeightsError

    p = tmp_path / "x.safetensors"
    p.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="x.safetensors"):
        SexClassifier.load(p)


def _segs(spec):
    return [Segment(a, b, lab, spk) for a, b, lab, spk in spec]


def test_segment_and_boundary_f1_known_answers():
    ref = _segs([(0, 1, "silence", None), (1, 5, "speech", "A"), (5, 6, "silence", None),
                 (6, 9, "music", None)])
    est = _segs([(0, 1.3, "silence", None), (1.3, 5.2, "speech", "x"), (5.2, 6.8, "silence", None),
                 (6.8, 9, "music", None)])
    s = segment_f1(ref, est, 0.5)
    # silence 0-1 vs 0-1.3 hit, speech hit, silence 5-6 vs 5.2-6.8 miss, music 6-9 vs 6.8-9 miss
    assert s["hits"] == 2 and s["f1"] == pytest.approx(0.5)
    assert segment_f1(ref, ref)["f1"] == 1.0
    b = boundary_f1(ref, est, 0.5)
    assert b["hits"] == 2 and b["n_ref"] == 3
    assert frame_accuracy(ref, est, 9.0) == pytest.approx((9 - 0.3 - 0.2 - 0.8) / 9, abs=0.01)


def test_der_known_answers():
    ref = _segs([(0, 4, "speech", "A"), (4, 5, "silence", None), (5, 9, "speech", "B")])
    perfect = _segs([(0, 4, "speech", "s1"), (4, 5, "silence", None), (5, 9, "speech", "s0")])
    assert diarization_error_rate(ref, perfect, 9.0)["der"] == 0.0
    # one speaker for everything: the 4 s of B are confusion -> DER 0.5
    one = _segs([(0, 4, "speech", "s"), (4, 5, "silence", None), (5, 9, "speech", "s")])
    d = diarization_error_rate(ref, one, 9.0)
    assert d["der"] == pytest.approx(0.5) and d["confusion"] == pytest.approx(0.5)
    # 1 s of speech missed, 1 s of silence called speech
    shifted = _segs([(1, 5, "speech", "s1"), (5, 9, "speech", "s0")])
    d = diarization_error_rate(ref, shifted, 9.0)
    assert d["missed"] == pytest.approx(1 / 8) and d["false_alarm"] == pytest.approx(1 / 8)
    assert diarization_error_rate(ref, shifted, 9.0, collar=0.5)["der"] < d["der"]

"""Conversion metrics: MCD (hand computation, identity, symmetry), F0 metrics on known
contours (mir_eval), speaker similarity, and the folder evaluation."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

from discovervoice import audio
from discovervoice.errors import AudioError, DataError
from discovervoice.eval import conversion, f0, mcd
from discovervoice.testsignals import harmonic_voice

SR = 16000


# --------------------------------------------------------------------------- MCD

def test_mcd_hand_computation_on_known_mel_cepstra():
    ref = np.array([[5.0, 0.1, 0.2], [3.0, 0.0, 0.0]])
    est = np.array([[1.0, 0.1, 0.0], [3.0, 0.3, 0.4]])
    k = 10 / math.log(10) * math.sqrt(2)
    # c0 excluded: frame distances sqrt(0.2^2) = 0.2 and sqrt(0.3^2 + 0.4^2) = 0.5
    assert mcd.mcd_from_mcep(ref, est) == pytest.approx(k * 0.35)
    # c0 included: sqrt(16 + 0.04) and 0.5
    assert mcd.mcd_from_mcep(ref, est, include_c0=True) == pytest.approx(
        k * (math.sqrt(16.04) + 0.5) / 2)
    # along a path (pairs (0,0), (1,0), (1,1))
    path = np.array([[0, 0], [1, 0], [1, 1]])
    d10 = math.sqrt(0.1 ** 2 + 0.0 ** 2)
    assert mcd.mcd_from_mcep(ref, est, path=path) == pytest.approx(k * (0.2 + d10 + 0.5) / 3)
    assert mcd.MCD_CONST == pytest.approx(6.141851463713754)


def test_mcd_from_mcep_rejects_mismatched_input():
    with pytest.raises(AudioError, match="orders differ"):
        mcd.mcd_from_mcep(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(AudioError, match="no alignment"):
        mcd.mcd_from_mcep(np.zeros((3, 4)), np.zeros((4, 4)))


def test_mcd_zero_for_identical_audio_and_symmetric():
    a = harmonic_voice(140.0, formant=600.0)
    b = harmonic_voice(230.0, formant=900.0, seed=1)
    for mode in ("default", "pymcd"):
        assert mcd.mcd(a, a, SR, mode=mode).mcd == pytest.approx(0.0, abs=1e-9)
        ab = mcd.mcd(a, b, SR, mode=mode).mcd
        ba = mcd.mcd(b, a, SR, mode=mode).mcd
        assert ab > 1.0
        assert ab == pytest.approx(ba, rel=1e-6)


def test_mcd_grows_with_spectral_difference_and_ignores_gain_without_c0():
    a = harmonic_voice(150.0, formant=700.0)
    near = harmonic_voice(150.0, formant=760.0)
    far = harmonic_voice(150.0, formant=1100.0)
    assert mcd.mcd(a, near, SR).mcd < mcd.mcd(a, far, SR).mcd
    # a gain change only moves c0: excluded by default, included by pymcd's recipe
    # (a gain g shifts the log envelope by ln g, i.e. c0 by ln g: MCD = const * |ln g|).
    quiet = 0.5 * a
    assert mcd.mcd(a, quiet, SR).mcd < 0.3
    assert mcd.mcd(a, quiet, SR, include_c0=True).mcd == pytest.approx(
        mcd.MCD_CONST * math.log(2.0), rel=0.05)
    assert mcd.mcd(a, quiet, SR, mode="pymcd").mcd > 3.0


def test_mcd_dtw_aligns_a_delayed_copy():
    a = harmonic_voice(150.0, formant=700.0)
    delayed = np.concatenate([np.zeros(int(0.15 * SR), np.float32), a])[: a.size + 2400]
    with_dtw = mcd.mcd(a, delayed, SR).mcd
    without = mcd.mcd(a, delayed, SR, align="none").mcd
    assert with_dtw < without
    r = mcd.mcd(a, delayed, SR)
    assert r.frames >= max(r.ref_frames, r.est_frames)
    assert r.settings["order"] == 24 and r.settings["alpha"] == pytest.approx(0.455)


def test_mel_cepstrum_sptk_analysis_runs_and_orders():
    a = harmonic_voice(150.0, formant=700.0)
    c = mcd.mel_cepstrum(a, SR, analysis="sptk", order=12, alpha=0.42)
    assert c.shape[1] == 13 and np.isfinite(c).all()
    with pytest.raises(ValueError, match="unknown analysis"):
        mcd.mel_cepstrum(a, SR, analysis="nope")


# --------------------------------------------------------------------------- F0

def _contour(values):
    return f0.F0Contour(np.arange(len(values)) * 0.01, np.asarray(values, dtype=float))


def test_f0_metrics_on_known_contours():
    ref = np.where(np.arange(100) < 50, 220.0, 0.0)
    est = np.zeros(100)
    est[:40] = 220.0 * 2 ** (10 / 1200)   # 10 cents sharp
    est[50:60] = 300.0                      # voiced where the reference is not
    m = f0.f0_metrics(_contour(ref), _contour(est))
    assert m["f0_rmse_cents"] == pytest.approx(10.0, abs=1e-6)
    assert m["raw_pitch_accuracy"] == pytest.approx(40 / 50)
    assert m["voicing_recall"] == pytest.approx(40 / 50)
    assert m["voicing_false_alarm"] == pytest.approx(10 / 50)
    assert m["voicing_error"] == pytest.approx(20 / 100)
    assert m["overall_accuracy"] == pytest.approx((40 + 40) / 100)
    assert m["voiced_frames_both"] == 40


def test_f0_octave_error_and_transposition():
    ref = np.where(np.arange(80) < 60, 200.0, 0.0)
    up = np.where(ref > 0, 400.0, 0.0)
    m = f0.f0_metrics(_contour(ref), _contour(up))
    assert m["raw_pitch_accuracy"] == 0.0
    assert m["raw_chroma_accuracy"] == 1.0          # an octave error keeps the chroma
    assert m["f0_rmse_cents"] == pytest.approx(1200.0)
    shifted = f0.f0_metrics(_contour(ref), _contour(up), shift_semitones=12)
    assert shifted["f0_rmse_cents"] == pytest.approx(0.0, abs=1e-6)
    assert shifted["raw_pitch_accuracy"] == 1.0


def test_f0_contour_finds_the_pitch_of_a_harmonic_signal():
    x = harmonic_voice(196.0, seconds=1.0)
    for method in ("harvest", "dio"):
        c = f0.f0_contour(x, SR, method=method)
        voiced = c.f0 > 0
        assert voiced.mean() > 0.8
        cents = 1200 * np.log2(np.median(c.f0[voiced]) / 196.0)
        assert abs(cents) < 15


# --------------------------------------------------------------------------- speaker

def test_cosine_similarity_maths():
    from discovervoice.eval.speaker import cosine_similarity

    assert cosine_similarity([1, 0], [0, 1]) == pytest.approx(0.0)
    assert cosine_similarity([1, 2], [2, 4]) == pytest.approx(1.0)
    assert cosine_similarity([1, 2], [-1, -2]) == pytest.approx(-1.0)
    with pytest.raises(AudioError):
        cosine_similarity([0, 0], [1, 1])


def _espeak(tmp_path, voice, text, name):
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed")
    out = tmp_path / f"{name}.wav"
    subprocess.run([exe, "-v", voice, "-w", str(out), text], check=True, capture_output=True)
    return audio.read(out)


def test_resemblyzer_prefers_the_same_voice(tmp_path):
    pytest.importorskip("resemblyzer")
    from discovervoice.eval.speaker import ResemblyzerEncoder, speaker_similarity

    a = _espeak(tmp_path, "en+m3", "Please call Stella and ask her to bring these things", "a")
    b = _espeak(tmp_path, "en+m3", "Six spoons of fresh snow peas and five thick slabs", "b")
    c = _espeak(tmp_path, "en+f4", "Six spoons of fresh snow peas and five thick slabs", "c")
    enc = ResemblyzerEncoder()
    assert speaker_similarity(*a, *a, encoder=enc) == pytest.approx(1.0, abs=1e-5)
    same = speaker_similarity(*a, *b, encoder=enc)
    other = speaker_similarity(*b, *c, encoder=enc)
    assert same > other + 0.1


def test_ecapa_registry_path_offline(tmp_path, monkeypatch):
    from discovervoice.errors import WeightsError, WeightsUnavailableError
    from discovervoice.eval.speaker import get_encoder

    monkeypatch.setenv("DISCOVERVOICE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsUnavailableError, match="weights fetch ecapa_voxceleb"):
        get_encoder("ecapa")
    with pytest.raises(WeightsError):
        get_encoder("nope")


class _EnvelopeEncoder:
    """A speaker "embedding" that is the mean log spectrum (formants tell the voices apart)."""

    def embed(self, x, sr):
        frames = np.lib.stride_tricks.sliding_window_view(np.ravel(x), 512)[::256]
        e = np.log(np.abs(np.fft.rfft(frames * np.hanning(512), axis=1)) + 1e-4).mean(0)
        return (e - e.mean()) / np.linalg.norm(e - e.mean())


class _LevelScorer:
    def score(self, x, sr):
        return {"rms": float(np.sqrt(np.mean(np.square(x))))}


def test_score_conversion_scores_every_signal_it_is_given():
    truth = harmonic_voice(220.0, formant=800.0, seed=0)
    source = harmonic_voice(110.0, formant=500.0, seed=1)   # another voice, an octave down
    converted = harmonic_voice(220.0, formant=790.0, seed=2)  # the target's voice and pitch
    s = conversion.score_conversion(converted, SR, source=source, truth=truth, f0_reference="source",
                                    f0_method="dio", shift_semitones=12, encoder=_EnvelopeEncoder(),
                                    mos=_LevelScorer(), baselines=("source", "truth"),
                                    similarity_to_source=True)
    assert set(s.mcd) == {"converted", "source"}
    assert s.mcd["converted"].mcd + 2 < s.mcd["source"].mcd
    assert s.similarity["truth"] == pytest.approx(1.0)  # the target defaults to the truth's embedding
    assert s.similarity["converted"] > s.similarity["source"] + 0.1
    assert s.converted_to_source == pytest.approx(s.similarity["source"], abs=0.1)
    assert s.f0["raw_pitch_accuracy"] > 0.9  # follows the source F0 one octave up
    assert set(s.mos) == {"converted", "source", "truth"}
    assert s.mos["converted"]["rms"] == pytest.approx(np.sqrt(np.mean(converted.astype(float) ** 2)))
    # against the truth without a transposition; nothing asked for is computed
    t = conversion.score_conversion(converted, SR, truth=truth, f0_method="dio")
    assert t.f0["raw_pitch_accuracy"] > 0.9 and set(t.mcd) == {"converted"}
    assert t.similarity == {} and t.mos == {} and t.converted_to_source is None
    with pytest.raises(DataError, match="F0 reference"):
        conversion.score_conversion(converted, SR, source=source)
    with pytest.raises(DataError, match="baselines"):
        conversion.score_conversion(converted, SR, truth=truth, baselines=("mixture",))


# --------------------------------------------------------------------------- folders

def test_evaluate_conversion_folder(tmp_path):
    ref, est = tmp_path / "ref", tmp_path / "est"
    ref.mkdir()
    est.mkdir()
    for i, f in enumerate((180.0, 240.0)):
        audio.save(ref / f"u{i}.wav", harmonic_voice(f, formant=800.0, seed=i), SR)
        # the "conversion": same melody an octave down... transposed back by --shift
        audio.save(est / f"u{i}.wav", harmonic_voice(f / 2, formant=820.0, seed=10 + i), SR)
    audio.save(est / "extra.wav", harmonic_voice(200.0), SR)
    d = conversion.evaluate_conversion(ref, est, shift_semitones=-12, speaker_encoder=None,
                                       f0_method="dio", keep_contours=1)
    assert set(d["items"]) == {"u0", "u1"}
    assert d["unmatched"] == ["extra"]
    for row in d["items"].values():
        assert row["mcd"] > 0
        assert row["f0_rmse_cents"] < 30
        assert row["raw_pitch_accuracy"] > 0.8
    assert d["mean"]["mcd"] == pytest.approx(np.mean([r["mcd"] for r in d["items"].values()]))
    assert "u0" in d["_contours"]
    with pytest.raises(DataError, match="no converted file"):
        conversion.evaluate_conversion(ref, tmp_path / "est" / "extra.wav", speaker_encoder=None)


def test_conversion_error_names_the_file(tmp_path):
    pytest.importorskip("speechmos")
    ref, est = tmp_path / "ref", tmp_path / "est"
    ref.mkdir()
    est.mkdir()
    audio.save(ref / "u1.wav", harmonic_voice(200.0), SR)
    audio.save(est / "u1.wav", np.zeros(SR, np.float32), SR)
    with pytest.raises(AudioError, match=r"est/u1\.wav.*silence"):
        conversion.evaluate_conversion(ref, est, speaker_encoder=None, f0_method="dio",
                                       mos_model="dnsmos")

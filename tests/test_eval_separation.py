"""Separation metrics against hand computations, museval and fast-bss-eval."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import lfilter

from discovervoice import audio
from discovervoice.errors import AudioError, DataError
from discovervoice.eval import separation as S


def _coloured(rng, shape, pole):
    return lfilter([1.0], [1.0, -pole], rng.standard_normal(shape), axis=-1)


# --------------------------------------------------------------------------- uSDR

def test_usdr_hand_computed_case():
    s = np.array([[1.0, -2.0, 3.0, 0.0]])
    e = np.array([[1.0, -1.0, 3.0, 1.0]])
    # sum s^2 = 14, sum (s - e)^2 = 1 + 1 = 2
    expected = 10 * math.log10((14 + 1e-7) / (2 + 1e-7))
    assert S.usdr(s, e) == pytest.approx(expected, abs=1e-12)


def test_usdr_sums_over_channels_not_mean_of_channels():
    s = np.array([[1.0, 1.0], [10.0, 10.0]])
    e = np.array([[0.0, 0.0], [10.0, 10.0]])
    # whole-track ratio: 202 / 2, not the mean of per-channel values (0 dB and +inf)
    assert S.usdr(s, e) == pytest.approx(10 * math.log10(202 / 2), abs=1e-6)


def test_usdr_perfect_estimate_and_silence_use_eps():
    s = np.ones((2, 100))
    assert S.usdr(s, s) == pytest.approx(10 * math.log10((200 + 1e-7) / 1e-7))
    z = np.zeros((1, 10))
    assert S.usdr(z, z) == pytest.approx(0.0)


def test_usdr_rejects_shape_mismatch_and_nan():
    with pytest.raises(AudioError, match="shape"):
        S.usdr(np.zeros((2, 10)), np.zeros((2, 11)))
    bad = np.zeros((1, 10))
    bad[0, 3] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        S.usdr(bad, np.zeros((1, 10)))


# --------------------------------------------------------------------------- SI-SDR

def test_si_sdr_is_scale_invariant_and_matches_hand_case():
    s = np.array([1.0, 2.0, -1.0, -2.0])          # zero mean
    n = np.array([1.0, -1.0, 1.0, -1.0])          # zero mean, orthogonal to s
    assert float(s @ n) == 0.0
    e = s + 0.5 * n
    # alpha = 1, target = s, noise = 0.5 n: 10 log10(10 / 1) = 10 dB
    assert S.si_sdr(s, e) == pytest.approx(10.0, abs=1e-9)
    assert S.si_sdr(s, 7.3 * e) == pytest.approx(10.0, abs=1e-9)
    # uSDR is not scale invariant
    assert S.usdr(s, 7.3 * e) < 0


def test_si_sdr_hand_case_with_projection():
    s = np.array([1.0, -1.0, 1.0, -1.0])
    e = np.array([2.0, -1.0, 1.0, -2.0])  # zero mean
    alpha = (e @ s) / (s @ s)  # 6 / 4
    target = alpha * s
    noise = e - target
    expected = 10 * math.log10((target @ target) / (noise @ noise))
    assert S.si_sdr(s, e) == pytest.approx(expected, abs=1e-9)


def test_si_sdr_averages_channels():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((2, 500))
    e = s + np.stack([0.1, 0.5])[:, None] * rng.standard_normal((2, 500))
    per = [S.si_sdr(s[c], e[c]) for c in range(2)]
    assert S.si_sdr(s, e) == pytest.approx(np.mean(per))


# --------------------------------------------------------------------------- BSSEval v4

def test_bss_eval_single_window_matches_closed_form_and_fast_bss_eval():
    fbe = pytest.importorskip("fast_bss_eval")
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    sr, t = 8000, 16000
    s = np.stack([_coloured(rng, t, 0.8), rng.standard_normal(t)])
    e = np.array([[1.0, 0.3], [0.4, 1.0]]) @ s + 0.05 * rng.standard_normal((2, t))
    r = S.bss_eval_v4(s[:, None, :], e[:, None, :], sr, window_s=2.0, hop_s=2.0)
    # BSSEval v4 (images) SDR allows no filter distortion: 10 log10(|s|^2 / |s - e|^2)
    closed = [10 * np.log10(np.sum(s[i] ** 2) / np.sum((s[i] - e[i]) ** 2)) for i in range(2)]
    np.testing.assert_allclose(r.sdr[:, 0], closed, atol=1e-3)  # 1e-3: the -80 dB dither
    # SIR and SAR equal BSSEval-sources values (512-tap filters) of fast-bss-eval
    _, sir, sar = fbe.bss_eval_sources(torch.from_numpy(s), torch.from_numpy(e),
                                       filter_length=512, compute_permutation=False)
    np.testing.assert_allclose(r.sir[:, 0], sir.numpy(), atol=1e-3)
    np.testing.assert_allclose(r.sar[:, 0], sar.numpy(), atol=1e-3)


def test_bss_eval_framewise_median_matches_museval_directly():
    museval = pytest.importorskip("museval")
    rng = np.random.default_rng(1)
    sr, t = 8000, 8000 * 4
    refs = np.stack([_coloured(rng, (2, t), 0.9), _coloured(rng, (2, t), -0.5)])
    refs[0, :, 8000:16000] = 0.0  # a silent second: NaN frame, skipped by the median
    ests = refs + 0.2 * refs[::-1] + 0.02 * rng.standard_normal(refs.shape)
    r = S.bss_eval_v4(refs, ests, sr, dither_db=None)
    sdr, isr, sir, sar = museval.evaluate(refs.transpose(0, 2, 1), ests.transpose(0, 2, 1),
                                          win=sr, hop=sr)
    assert r.sdr.shape == (2, 4)
    assert np.isnan(r.sdr[0, 1])
    med = r.median()
    np.testing.assert_allclose(med["sdr"], np.nanmedian(sdr, axis=1))
    np.testing.assert_allclose(med["sar"], np.nanmedian(sar, axis=1))
    # framewise SDR of the images model: energy ratio over both channels of the frame
    frame = slice(0, sr)
    closed = 10 * np.log10(np.sum(refs[1, :, frame] ** 2)
                           / np.sum((refs[1, :, frame] - ests[1, :, frame]) ** 2))
    assert r.sdr[1, 0] == pytest.approx(closed, abs=1e-6)
    # the default reference dither (-80 dB) leaves well-posed cases unchanged
    dithered = S.bss_eval_v4(refs, ests, sr).median()
    for m in ("sdr", "isr", "sir"):
        np.testing.assert_allclose(dithered[m], med[m] if m in med else np.nanmedian(
            {"isr": isr, "sir": sir}[m], axis=1), atol=0.01)


def test_bss_eval_panned_mono_stems_need_the_dither():
    """Stems whose channels are scaled copies make museval's Gram system singular."""
    rng = np.random.default_rng(7)
    sr, t = 8000, 8000 * 3
    v = _coloured(rng, t, 0.9)
    d = 0.5 * rng.standard_normal(t)
    refs = np.stack([np.stack([v, 0.8 * v]), np.stack([0.6 * d, d])])
    ests = np.stack([refs[0] + 0.1 * refs[1], refs[1] + 0.05 * refs[0]])
    r = S.bss_eval_v4(refs, ests, sr, window_s=3.0, hop_s=3.0).median()
    # interference is all the error: SIR = energy ratio of target and leaked source
    for i, j, g in ((0, 1, 0.1), (1, 0, 0.05)):
        expected = 10 * np.log10(np.sum(refs[i] ** 2) / np.sum((g * refs[j]) ** 2))
        assert r["sir"][i] == pytest.approx(expected, abs=0.5)
        assert r["sdr"][i] == pytest.approx(expected, abs=0.5)
        assert r["sar"][i] > 60


# --------------------------------------------------------------------------- IRM / oracle

def _track(rng, sr=8000, seconds=2.0):
    t = int(sr * seconds)
    return {"vocals": _coloured(rng, (2, t), 0.95) * 0.1,
            "drums": rng.standard_normal((2, t)) * 0.05,
            "bass": _coloured(rng, (2, t), 0.99) * 0.02,
            "other": _coloured(rng, (2, t), -0.7) * 0.05}


def test_ideal_ratio_mask_reconstructs_a_lone_source_and_beats_the_mixture():
    rng = np.random.default_rng(2)
    stems = _track(rng)
    mix = sum(stems.values())
    est = S.ideal_ratio_mask(stems, mix, n_fft=512, hop_length=128)
    assert set(est) == set(stems)
    assert all(v.shape == mix.shape and v.dtype == np.float32 for v in est.values())
    # masks sum to one: the estimates add up to the mixture
    np.testing.assert_allclose(sum(est.values()), mix, atol=1e-4)
    for k in stems:
        assert S.usdr(stems[k], est[k]) > S.usdr(stems[k], mix) + 3
    # one non-silent source: the mask is 1 where it lives, so the estimate is the mixture
    only = {"vocals": stems["vocals"], "accompaniment": np.zeros_like(mix)}
    e2 = S.ideal_ratio_mask(only, stems["vocals"], n_fft=512, hop_length=128)
    assert S.usdr(stems["vocals"], e2["vocals"]) > 60


def test_ideal_ratio_mask_adds_accompaniment_from_partition():
    rng = np.random.default_rng(3)
    stems = _track(rng)
    stems["accompaniment"] = stems["drums"] + stems["bass"] + stems["other"]
    est = S.ideal_ratio_mask(stems, n_fft=512, hop_length=128)
    np.testing.assert_allclose(est["accompaniment"], est["drums"] + est["bass"] + est["other"],
                               atol=1e-5)


def _write_track(root, name, stems, sr):
    d = root / name
    d.mkdir(parents=True)
    for k, v in stems.items():
        audio.save(d / f"{k}.wav", v.astype(np.float32), sr, clip="none")
    audio.save(d / "mixture.wav", sum(stems.values()).astype(np.float32), sr, clip="none")
    return d


def test_evaluate_folders_scores_only_given_stems(tmp_path):
    rng = np.random.default_rng(4)
    sr = 8000
    ref = tmp_path / "ref"
    tracks = {f"t{i}": _track(rng, sr) for i in range(2)}
    for name, stems in tracks.items():
        _write_track(ref, name, stems, sr)
    est = tmp_path / "est"
    for name, stems in tracks.items():
        (est / name).mkdir(parents=True)
        mix = sum(stems.values())
        # vocals estimate: the true vocals plus some accompaniment leak, slightly short
        v = stems["vocals"] + 0.1 * (mix - stems["vocals"])
        audio.save(est / name / "vocals.wav", v[:, :-10].astype(np.float32), sr, clip="none")
    rep = S.evaluate_separation(ref, est)
    d = rep.to_dict()
    assert set(d["tracks"]) == {"t0", "t1"}
    for name, stems in tracks.items():
        per = d["tracks"][name]
        assert set(per) == {"vocals"}
        assert set(per["vocals"]) == {"usdr", "si_sdr", "sdr", "isr", "sir", "sar"}
        mix = sum(stems.values())
        v = stems["vocals"] + 0.1 * (mix - stems["vocals"])
        v[:, -10:] = 0.0  # museval's rule: the short estimate is zero-padded
        v32 = v.astype(np.float32).astype(np.float64)
        assert per["vocals"]["usdr"] == pytest.approx(S.usdr(stems["vocals"].astype(np.float32), v32), abs=1e-3)
        assert d["missing"][name] == ["bass", "drums", "other"]
    assert d["mean"]["vocals"]["usdr"] == pytest.approx(
        np.mean([d["tracks"][t]["vocals"]["usdr"] for t in d["tracks"]]))
    json.dumps(d)  # JSON-ready


def test_oracle_writer_and_evaluation_order(tmp_path):
    rng = np.random.default_rng(5)
    sr = 8000
    ref = tmp_path / "ref"
    _write_track(ref, "song", _track(rng, sr, 1.5), sr)
    S.write_oracle_estimates(ref, tmp_path / "irm", method="irm")
    S.write_oracle_estimates(ref, tmp_path / "mix", method="mixture")
    assert sorted(p.name for p in (tmp_path / "irm" / "song").iterdir()) == [
        "bass.wav", "drums.wav", "other.wav", "vocals.wav"]
    irm = S.evaluate_separation(ref, tmp_path / "irm", bss=False).mean
    mix = S.evaluate_separation(ref, tmp_path / "mix", bss=False).mean
    for stem in ("vocals", "drums", "bass", "other"):
        assert irm[stem]["usdr"] > mix[stem]["usdr"]


def test_folder_errors_are_typed(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        S.evaluate_separation(tmp_path / "nope", tmp_path)
    (tmp_path / "ref" / "a").mkdir(parents=True)
    audio.save(tmp_path / "ref" / "a" / "vocals.wav", np.zeros((1, 800), np.float32), 8000)
    (tmp_path / "est" / "b").mkdir(parents=True)
    audio.save(tmp_path / "est" / "b" / "vocals.wav", np.zeros((1, 800), np.float32), 8000)
    with pytest.raises(DataError, match="matches a track"):
        S.evaluate_separation(tmp_path / "ref", tmp_path / "est")
    with pytest.raises(DataError, match="unknown oracle"):
        S.write_oracle_estimates(tmp_path / "ref", tmp_path / "o", method="ibm")


def test_evaluate_stems_in_memory_matches_folder_rules():
    rng = np.random.default_rng(6)
    stems = _track(rng)
    mix = sum(stems.values())
    est = {"vocals": stems["vocals"] + 0.1 * (mix - stems["vocals"])}
    r = S.evaluate_stems(stems, est, 8000, bss=False)
    assert set(r) == {"vocals"}
    assert r["vocals"]["usdr"] == pytest.approx(S.usdr(stems["vocals"], est["vocals"]))
    with pytest.raises(DataError, match="matches a reference"):
        S.evaluate_stems(stems, {"piano": mix}, 8000)


def test_closed_form_sdr_equals_museval_framewise():
    museval = pytest.importorskip("museval")
    rng = np.random.default_rng(8)
    sr, t = 8000, int(8000 * 4.5)  # a last, shorter frame as well
    refs = np.stack([_coloured(rng, (2, t), 0.9), _coloured(rng, (2, t), -0.5)])
    refs[0, :, 8000:16000] = 0.0      # silent reference second -> NaN frame for all
    ests = refs + 0.3 * refs[::-1] + 0.05 * rng.standard_normal(refs.shape)
    ests[1, :, 24000:32000] = 0.0     # silent estimate second -> NaN frame too
    fast = S.sdr_v4_framewise(refs, ests, sr)
    sdr, _, _, _ = museval.evaluate(refs.transpose(0, 2, 1), ests.transpose(0, 2, 1),
                                    win=sr, hop=sr)
    assert fast.shape == sdr.shape == (2, 4)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(sdr))
    np.testing.assert_allclose(fast[~np.isnan(fast)], sdr[~np.isnan(sdr)], atol=1e-6)


def test_bss_modes_in_track_scoring():
    rng = np.random.default_rng(9)
    stems = _track(rng)
    mix = sum(stems.values())
    est = {"vocals": stems["vocals"] + 0.2 * (mix - stems["vocals"])}
    full = S.evaluate_stems(stems, est, 8000, bss="full")["vocals"]
    fast = S.evaluate_stems(stems, est, 8000, bss="sdr")["vocals"]
    none = S.evaluate_stems(stems, est, 8000, bss=False)["vocals"]
    assert set(fast) == {"usdr", "si_sdr", "sdr"} and set(none) == {"usdr", "si_sdr"}
    assert fast["sdr"] == pytest.approx(full["sdr"], abs=1e-3)
    with pytest.raises(DataError, match="unknown BSSEval mode"):
        S.evaluate_stems(stems, est, 8000, bss="v3")


def test_parallel_jobs_give_the_same_report(tmp_path):
    rng = np.random.default_rng(10)
    sr = 8000
    ref, est = tmp_path / "ref", tmp_path / "est"
    for name in ("a", "b", "c"):
        stems = _track(rng, sr, 1.0)
        _write_track(ref, name, stems, sr)
        (est / name).mkdir(parents=True)
        v = stems["vocals"] + 0.1 * stems["drums"]
        audio.save(est / name / "vocals.wav", v.astype(np.float32), sr, clip="none")
    serial = S.evaluate_separation(ref, est, bss="sdr").to_dict()
    seen = []
    parallel = S.evaluate_separation(ref, est, bss="sdr", jobs=2,
                                     progress=lambda f, msg: seen.append(f)).to_dict()
    assert serial["tracks"] == parallel["tracks"]
    assert list(parallel["tracks"]) == ["a", "b", "c"]
    assert sorted(seen) == pytest.approx([1 / 3, 2 / 3, 1.0])


# --------------------------------------------------------------------------- leakage (issue 15)

MUSIC = Path("/usr/share/games/fillets-ng/music/menu.ogg")      # fillets-ng-data: real game music
SPEECH = Path("/usr/share/sounds/alsa/Front_Center.wav")       # alsa-utils: a recorded voice


def _real_pair(seconds=4.0):
    """Real recorded music (accompaniment) and a recorded voice, 44.1 kHz stereo."""
    from discovervoice import audio as dva

    if not MUSIC.is_file() or not SPEECH.is_file():
        pytest.skip("fillets-ng-data / alsa-utils not installed (scripts/install-system-deps.sh)")
    n = int(seconds * 44100)
    acc = dva.load(MUSIC, 44100, channels=2)[:, 44100:44100 + n]
    voc = dva.load(SPEECH, 44100, channels=2)[:, :n]
    voc = np.pad(voc, ((0, 0), (0, n - voc.shape[1])))
    return acc.astype(np.float64), voc.astype(np.float64)


def test_leakage_on_a_silent_vocals_reference_is_the_known_level():
    from discovervoice.eval.separation import leakage_db, score_track, TrackReference

    acc, _ = _real_pair()
    silent = np.zeros_like(acc)
    for level in (-10.0, -25.0):
        est = acc * 10 ** (level / 20)           # the instruments leak at a known level
        assert leakage_db(silent, est, acc, 44100) == pytest.approx(level, abs=0.01)
    assert leakage_db(silent, acc, acc, 44100) == pytest.approx(0.0, abs=1e-6)   # the mixture
    assert leakage_db(silent, silent, acc, 44100) < -90                        # perfect: ~-100
    # in a track report: leakage next to uSDR / SI-SDR, which are undefined (NaN) here
    ref = TrackReference("t", 44100, {"vocals": silent, "accompaniment": acc}, acc)
    sc = score_track(ref, {"vocals": acc * 0.1, "accompaniment": acc * 0.9}, bss="none")
    assert sc["vocals"]["leakage"] == pytest.approx(-20.0, abs=0.01)
    assert np.isnan(sc["vocals"]["usdr"]) and np.isnan(sc["vocals"]["si_sdr"])
    assert "leakage" not in sc["accompaniment"] and np.isfinite(sc["accompaniment"]["usdr"])


def test_leakage_counts_only_the_silent_passages_of_a_sung_track():
    from discovervoice.eval.separation import leakage_db

    acc, voc = _real_pair(4.0)
    voc[:, 2 * 44100:] = 0.0                     # the voice stops after 2 s (1-s windows)
    assert np.abs(voc[:, :2 * 44100]).max() > 1e-3
    mix = acc + voc
    est = voc + 0.1 * acc                        # -20 dB of the mixture where no one sings
    assert leakage_db(voc, est, mix, 44100) == pytest.approx(-20.0, abs=0.01)
    assert np.isnan(leakage_db(acc, est, mix, 44100))    # a reference with no silent window


def test_separation_evaluate_reports_leakage_of_vocal_free_songs(tmp_path):
    import soundfile as sf

    from discovervoice.separation.api import Separator
    from discovervoice.separation.evaluate import evaluate_models
    from torch import nn
    import torch

    acc, voc = _real_pair(3.0)
    for name, v in (("sung", voc), ("instrumental", np.zeros_like(voc))):
        d = tmp_path / name
        d.mkdir()
        for k, x in {"vocals": v, "accompaniment": acc, "mixture": v + acc}.items():
            sf.write(d / f"{k}.wav", x.T.astype(np.float32), 44100, subtype="FLOAT")

    class Tenth(nn.Module):   # vocals = a tenth of the mixture: -20 dB leakage
        sources = ["vocals", "accompaniment"]
        samplerate, audio_channels, segment = 44100, 2, 1.0

        def valid_length(self, n):
            return n

        def forward(self, x):
            return torch.stack([0.1 * x, 0.9 * x], 1)

    table = evaluate_models(["mixture", "irm", Separator(Tenth(), normalize=False)], tmp_path)
    assert table.silent_songs == ["instrumental"]
    r = table.rows
    assert r["Tenth"]["vocals_leakage"] == pytest.approx(-20.0, abs=0.05)
    assert r["mixture"]["vocals_leakage"] == pytest.approx(0.0, abs=1e-4)
    assert r["irm"]["vocals_leakage"] < -60
    assert np.isfinite(r["Tenth"]["vocals_usdr"])   # from the sung song only
    assert "vocals leakage, vocal-free songs" in table.markdown()
    # --instrumental: every song again without its vocals -> vocal-free references
    t2 = evaluate_models(["mixture", Separator(Tenth(), normalize=False)], tmp_path,
                         instrumental=True)
    assert t2.silent_songs == ["instrumental", "instrumental#instrumental", "sung#instrumental"]
    assert t2.rows["Tenth"]["vocals_leakage"] == pytest.approx(-20.0, abs=0.05)
    assert t2.rows["Tenth"]["vocals_usdr"] == pytest.approx(r["Tenth"]["vocals_usdr"], abs=1e-6)

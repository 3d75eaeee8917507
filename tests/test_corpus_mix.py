"""Mixing helpers and the reserved-material rule (no external programs needed)."""

from __future__ import annotations

import numpy as np
import pytest

from discovervoice.corpus import mix, reserved
from discovervoice.errors import AudioError


def _speechlike(n: int, rng) -> np.ndarray:
    t = np.arange(n) / 16000
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return env * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.standard_normal(n)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 15.0, 20.0, 25.0, 37.5])
def test_mix_at_snr_hits_the_requested_snr(snr):
    rng = np.random.default_rng(1)
    s = _speechlike(16000, rng)
    n = mix.coloured_noise(24000, "pink", rng) * 3.0
    noisy, scaled, gain = mix.mix_at_snr(s, n, snr)
    assert noisy.shape == scaled.shape == (16000,)       # the longer one is cut
    assert abs(mix.snr_db(s, scaled) - snr) < 0.01
    np.testing.assert_allclose(noisy, s + scaled, atol=1e-12)
    # the documented gain formula
    expect = mix.rms(s) / (mix.rms(n[:16000]) * 10 ** (snr / 20))
    assert gain == pytest.approx(expect, rel=1e-12)


def test_mix_at_snr_cuts_speech_when_noise_is_shorter_and_handles_stereo():
    rng = np.random.default_rng(2)
    s = rng.standard_normal((2, 5000))
    n = rng.standard_normal((2, 3000))
    noisy, scaled, _ = mix.mix_at_snr(s, n, 10.0)
    assert noisy.shape == (2, 3000)
    assert abs(mix.snr_db(s[:, :3000], scaled) - 10.0) < 0.01


def test_mix_at_snr_rejects_bad_input():
    with pytest.raises(AudioError, match="silent"):
        mix.mix_at_snr(np.zeros(100), np.ones(100), 10)
    with pytest.raises(AudioError, match="same C"):
        mix.mix_at_snr(np.ones((2, 100)), np.ones(100), 10)
    with pytest.raises(AudioError, match="empty"):
        mix.mix_at_snr(np.ones(0), np.ones(10), 10)


@pytest.mark.parametrize("colour,slope", [("white", 0), ("pink", -1), ("brown", -2),
                                          ("blue", 1)])
def test_coloured_noise_has_its_spectral_slope(colour, slope):
    x = mix.coloured_noise(2 ** 16, colour, np.random.default_rng(3))
    assert mix.rms(x) == pytest.approx(1.0, rel=1e-6)
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.arange(p.size)
    band = (f > 100) & (f < 20000)
    fit = np.polyfit(np.log10(f[band]), np.log10(p[band] + 1e-30), 1)[0]
    assert fit == pytest.approx(slope, abs=0.15)


def test_constant_power_pan():
    for pan in (-1, -0.3, 0, 0.5, 1):
        gl, gr = mix.pan_gains(pan)
        assert gl ** 2 + gr ** 2 == pytest.approx(1.0)
    assert mix.pan_gains(-1) == pytest.approx((1.0, 0.0), abs=1e-12)


def test_reverb_keeps_length_and_adds_a_decaying_tail():
    rng = np.random.default_rng(4)
    ir = mix.synthetic_ir(16000, 0.5, rng)
    x = np.zeros((2, 16000))
    x[:, 100] = 1.0
    y = mix.apply_reverb(x, ir, 0.5)
    assert y.shape == x.shape
    early = np.abs(y[:, 1000:3000]).mean()
    late = np.abs(y[:, 7000:9000]).mean()
    assert early > 10 * late > 0


@pytest.mark.parametrize("pid,res", [("bach/bwv10.7", True), ("bach/bwv245.15", True),
                                     ("bach/bwv26.6", False), ("bach/bwv66.6", False),
                                     ("bach/bwv1.6", False), ("bach/bwv5.7", True),
                                     ("essenFolksong/kinder#3", False)])
def test_reserved_pieces(pid, res):
    assert reserved.is_reserved_piece(pid) is res


def test_reserved_voices_and_soundfonts():
    for v in ("mbrola-us2", "mb-en1", "de4", "mbrola-fr3", "mbrola-nl2", "mbrola-it2",
              "mbrola-es2", "mbrola-pt1", "festival-kal", "festival-slt", "kal_diphone",
              "cmu_us_slt_arctic_hts"):
        assert reserved.is_reserved_voice(v), v
    for v in ("mbrola-us1", "mbrola-us3", "mbrola-de2", "festival-kdl", "fillets-m",
              "mbrola-es1", "mbrola-pt2"):
        assert not reserved.is_reserved_voice(v), v
    assert reserved.is_reserved_soundfont("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3")
    assert not reserved.is_reserved_soundfont("/usr/share/sounds/sf2/FluidR3_GM.sf2")


def test_check_split_keeps_reserved_material_out_of_training_and_in_test():
    reserved.check_split("train", piece="bach/bwv26.6", voices=("mbrola-us1",),
                         soundfont="FluidR3_GM.sf2")
    reserved.check_split("test", piece="bach/bwv10.7", voices=("mbrola-us2",),
                         soundfont="MuseScore_General_Lite.sf3")
    bad = [("train", "bach/bwv10.7", ("mbrola-us1",), None),
           ("valid", "bach/bwv26.6", ("mbrola-us2",), None),
           ("train", None, (), "MuseScore_General_Lite.sf3"),
           ("test", "bach/bwv26.6", ("mbrola-us2",), None),
           ("test", "bach/bwv10.7", ("mbrola-us1",), None),
           ("test", None, ("mbrola-us2",), "FluidR3_GM.sf2")]
    for split, piece, voices, sf in bad:
        with pytest.raises(reserved.ReservedMaterialError):
            reserved.check_split(split, piece=piece, voices=voices, soundfont=sf)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-9), (np.float32, 2e-5)])
def test_convolver_is_linear_convolution_cut_to_length(dtype, tol):
    rng = np.random.default_rng(5)
    ir = mix.synthetic_ir(8000, 0.3, rng)                 # [2, L], L < T
    xs = [rng.standard_normal((2, 5000)).astype(dtype) for _ in range(3)]
    conv = mix.Convolver(ir, 5000, dtype)                 # one IR spectrum, three stems
    for x in xs:
        ref = np.stack([np.convolve(x[c].astype(np.float64), ir[c])[:5000] for c in range(2)])
        y = conv(x)
        assert y.dtype == dtype and y.shape == x.shape
        assert np.abs(y - ref).max() < tol * np.abs(ref).max()
        wet = mix.apply_reverb(x, conv, 0.3)
        assert np.abs(wet - (0.7 * x + 0.3 * ref)).max() < tol * np.abs(ref).max()
    with pytest.raises(AudioError):
        conv(xs[0][:, :4000])


def test_synthetic_ir_tail_is_one_pole_low_passed_noise():
    # the tail is white noise through y[i] = 0.4 x[i] + 0.6 y[i-1]: its lag-1
    # autocorrelation is 0.6 (white noise: 0)
    ir = mix.synthetic_ir(16000, 2.0, np.random.default_rng(6), predelay=0.0)
    tail = ir[0, 1:4000]
    r1 = float(np.dot(tail[1:], tail[:-1]) / np.dot(tail, tail))
    assert r1 == pytest.approx(0.6, abs=0.05)

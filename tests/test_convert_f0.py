"""F0 extraction, editing and the RMVPE loading path."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from discovervoice.convert import f0 as F
from discovervoice.errors import WeightsError

SR = 16000


def _voice_like(f0_hz, seconds=1.5, seed=0):
    """A harmonic signal following ``f0_hz(t)`` plus a little noise (harvest dislikes pure tones)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    f = f0_hz(t)
    ph = 2 * np.pi * np.cumsum(f) / SR
    x = sum(0.3 / k * np.sin(k * ph) for k in range(1, 6))
    return (x + 0.003 * rng.standard_normal(len(t))).astype(np.float32), f


def _cents_ok(est, ref_fn, n):
    t = np.arange(n) * 0.01
    ref = ref_fn(t)
    v = est > 0
    return v.mean(), np.mean(np.abs(1200 * np.log2(est[v] / ref[v])) < 50)


@pytest.mark.parametrize("method", ["harvest", "dio", "praat"])
def test_extractors_follow_a_vibrato_melody(method):
    fn = lambda t: 220 * 2 ** ((0.3 * np.sin(2 * np.pi * 5.5 * t) + 2 * (t > 0.7)) / 12)  # noqa: E731
    x, _ = _voice_like(fn)
    f0 = F.extract_f0(x, method)
    assert len(f0) == len(x) // 160 + 1
    voiced, within = _cents_ok(f0[5:-5], lambda t: fn(t + 0.05), len(f0) - 10)
    assert voiced > 0.9 and within > 0.9


def test_crepe_tiny_without_torchaudio():
    fn = lambda t: 330 + 0 * t  # noqa: E731
    x, _ = _voice_like(fn, 0.6)
    f0 = F.extract_f0(x, "crepe-tiny")
    assert "torchaudio" not in sys.modules
    voiced, within = _cents_ok(f0[3:-3], fn, len(f0) - 6)
    assert voiced > 0.8 and within > 0.9


@pytest.mark.parametrize("name, fn", [
    ("220 Hz", lambda t: 220 + 0 * t),
    ("glide 150 -> 600 Hz", lambda t: 150 * 4 ** (t / 1.5)),
])
def test_fcpe_offline_without_torchaudio(name, fn):
    """FCPE's pretrained model ships in the torchfcpe wheel (no download); CI installs it from
    requirements-nodeps.txt, so a missing package fails here (F0Error) instead of skipping."""
    x, _ = _voice_like(fn)
    f0 = F.extract_f0(x, "fcpe")
    assert "torchaudio" not in sys.modules and "torchaudio.transforms" not in sys.modules
    assert len(f0) == len(x) // 160 + 1
    voiced, within = _cents_ok(f0[3:-3], lambda t: fn(t + 0.03), len(f0) - 6)
    assert voiced > 0.95 and within > 0.95, (name, voiced, within)
    assert np.all(F.extract_f0(np.zeros(SR, np.float32), "fcpe") == 0)


def test_fcpe_is_offered_by_cli_and_app():
    from discovervoice import pipeline
    from discovervoice.cli import build_parser

    assert "fcpe" in F.METHODS
    parser = build_parser()
    for argv in (["convert", "in.wav", "--voice", "v", "-o", "o.wav", "--f0-method", "fcpe"],
                 ["studio", "song.wav", "--voice", "me.wav", "-o", "out", "--f0-method", "fcpe"]):
        assert parser.parse_args(argv).f0_method == "fcpe"
    fcpe = [c for c in pipeline.f0_choices() if c.value == "fcpe"]
    assert len(fcpe) == 1 and fcpe[0].ready and not fcpe[0].models  # weights from the wheel


def test_shim_leaves_no_fake_torchaudio():
    F.import_torchfcpe()
    F.import_torchcrepe()
    assert "torchaudio" not in sys.modules
    with pytest.raises(F.F0Error, match="needs the nopackage_xyz package"):
        F.import_without_torchaudio("nopackage_xyz", "test")
    assert "torchaudio" not in sys.modules


def test_range_silence_and_errors():
    assert np.all(F.extract_f0(np.zeros(SR, np.float32), "dio") == 0)
    x, _ = _voice_like(lambda t: 30 + 0 * t, 0.5)  # below 50 Hz -> unvoiced
    assert np.mean(F.extract_f0(x, "dio") > 0) < 0.1
    with pytest.raises(F.F0Error, match="unknown F0 method"):
        F.extract_f0(x, "yin")
    with pytest.raises(F.F0Error, match="mono"):
        F.extract_f0(np.zeros((2, 100)), "dio")


def test_transpose_median_filter_and_auto_octave():
    f0 = np.array([0.0, 100.0, 200.0, 100.0, 100.0, 0.0])
    np.testing.assert_allclose(F.transpose(f0, 12), 2 * f0)
    np.testing.assert_allclose(F.transpose(f0, -7)[1], 100 * 2 ** (-7 / 12))
    assert F.transpose(f0, 5)[0] == 0
    assert F.median_filter(f0, 3)[2] == 100.0  # single-frame octave jump removed
    np.testing.assert_array_equal(F.median_filter(f0, 0), f0)


def test_median_filter_replaces_only_outliers_of_real_speech():
    """On a real speaker's harvest track the outlier rule leaves the uneven pitch movement of
    speech alone (RVC's plain median bends it), and still removes octave jumps, lone voiced
    blips and one-frame gaps."""
    from scipy.signal import medfilt

    from discovervoice import audio as dva
    from discovervoice.corpus.voices import KLETTRES_DIR

    files = sorted((KLETTRES_DIR / "fr" / "syllab").glob("*.ogg"))[:8]
    if len(files) < 8:
        pytest.skip("klettres-data not installed")
    x = np.concatenate([dva.load(f, 16000, 1)[0] for f in files])
    raw = F.extract_f0(x, "harvest", filter_radius=0)
    v = raw > 0

    def within_50_cents(a, b):
        ok = (a > 0) & (b > 0)
        return np.mean(np.abs(1200 * np.log2(a[ok] / b[ok])) < 50) * ok[v].mean()

    kept = within_50_cents(F.median_filter(raw, 3), raw)
    plain = F.median_filter(raw, 3, outlier_cents=None)
    np.testing.assert_array_equal(plain, medfilt(raw, 3))
    assert kept > within_50_cents(plain, raw) and kept > 0.97
    track = np.array([0, 100, 100, 200, 100, 100, 0, 0, 150, 0, 0, 100, 106, 99, 0, 101, 100, 0.0])
    out = F.median_filter(track, 3)
    assert out[3] == 100  # octave jump
    assert out[8] == 0  # lone voiced blip
    assert out[14] == 99  # one-frame gap filled
    np.testing.assert_array_equal(out[11:14], track[11:14])  # a 1-semitone zigzag is speech
    male = np.full(50, 110.0)
    assert F.auto_octave(male, 220.0) == 12
    assert F.auto_octave(male, 440.0) == 24
    assert F.auto_octave(male, 230.0, semitones=12) == 0
    assert F.auto_octave(np.zeros(10), 220.0) == 0


def test_auto_shift_in_semitones_and_the_whole_input_probe():
    """``step=1`` shifts to the nearest semitone of the voice's median pitch (speech), still
    bounded by ``max_octaves``; api.octave_shift probes the input with the conversion's own
    F0 method."""
    from types import SimpleNamespace

    from discovervoice.convert.api import octave_shift

    male = np.full(50, 110.0)
    assert F.auto_octave(male, 150.0, step=1) == 5  # 12 * log2(150 / 110) = 5.37 semitones
    assert F.auto_octave(male, 150.0) == 0  # whole octaves: the nearest is none
    assert F.auto_octave(male, 150.0, semitones=2, step=1) == 3
    assert F.auto_octave(male, 2000.0, step=1) == 24  # at most two octaves
    with pytest.raises(F.F0Error):
        F.auto_octave(male, 150.0, step=0)
    t = np.arange(32000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 110.0 * t) + 0.1 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    voice = SimpleNamespace(f0_median=230.0)
    assert octave_shift(tone, voice, "harvest") == 12
    assert octave_shift(tone, voice, "harvest", step=1) == 13  # 12.77 semitones
    assert octave_shift(tone, SimpleNamespace(f0_median=None), "harvest") == 0


def test_coarse_pitch_bins():
    c = F.coarse_pitch(np.array([0.0, 50.0, 1100.0, 5000.0, 220.0]))
    assert c[0] == 1 and c[1] == 1 and c[2] == 255 and c[3] == 255 and 1 < c[4] < 255


def test_rmvpe_checkpoint_built_in_test_loads_and_decodes(tmp_path):
    torch.manual_seed(0)
    net = F.build_rmvpe(n_blocks=1, en_de_layers=2, inter_layers=1, en_out_channels=4)
    path = tmp_path / "rmvpe.pt"
    torch.save({k: v.half() for k, v in net.state_dict().items()}, path)  # published file is fp16
    model = F.load_rmvpe(path)
    assert model.model.config == net.config
    x, _ = _voice_like(lambda t: 200 + 0 * t, 0.55)
    sal = model.salience(x)
    assert sal.shape == (len(x) // 160 + 1, 360)
    f0 = F.extract_f0(x, "rmvpe", model=model)
    assert f0.shape == (len(x) // 160 + 1,)
    # decoding maths: a one-hot salience at bin b gives 10 * 2 ** (cents[b] / 1200)
    s = np.zeros((2, 360), np.float32)
    s[0, 100] = 0.9
    dec = model.decode(s)
    assert dec[1] == 0 and abs(dec[0] - 10 * 2 ** ((20 * 100 + 1997.3794084376191) / 1200)) < 1e-6
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="not an RMVPE"):
        F.load_rmvpe(tmp_path / "other.pt")


def test_fcpe_reads_a_tone_above_full_scale_like_the_same_tone_below_it(capsys):
    """Recordings joined or mixed can exceed [-1, 1]; FCPE's mel front end wants [-1, 1]
    (torchfcpe prints an error for samples below -1). The F0 must not depend on the scale."""
    from discovervoice.convert import f0 as F
    from discovervoice.testsignals import harmonic_tone

    x = harmonic_tone(220.0, 1.0, 16000, amplitude=0.5).astype(np.float32)
    quiet, loud = F.extract_f0(x, "fcpe"), F.extract_f0(x * 3.0, "fcpe")
    assert "error" not in capsys.readouterr().out
    v = (quiet > 0) & (loud > 0)
    assert v.mean() > 0.8
    assert np.max(np.abs(1200 * np.log2(loud[v] / quiet[v]))) < 20
    assert abs(1200 * np.log2(np.median(loud[v]) / 220.0)) < 50

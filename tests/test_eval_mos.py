"""Neural MOS: DNSMOS orders clean above noisy speech; the UTMOS22 architecture loads its
state-dict format and its building blocks equal the fairseq / torch operations."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from discovervoice import audio
from discovervoice.errors import WeightsError, WeightsUnavailableError

SMALL = dict(conv_dim=32, dim=32, layers=2, ffn=64, heads=4, pos_kernel=16, pos_groups=4,
             domain_dim=8, judge_dim=8, rnn_hidden=16, proj_hidden=32)


def _speech(tmp_path, source):
    """espeak-ng speech (skipped when the binary is missing) or a harmonic speech-like
    signal, at 16 kHz."""
    if source == "espeak":
        exe = shutil.which("espeak-ng")
        if exe is None:
            pytest.skip("espeak-ng is not installed")
        out = tmp_path / "speech.wav"
        subprocess.run([exe, "-w", str(out), "The birch canoe slid on the smooth planks. "
                        "Glue the sheet to the dark blue background."], check=True,
                       capture_output=True)
        a, sr = audio.read(out)
        return audio.resample(a, sr, 16000)[0], 16000
    from discovervoice.testsignals import harmonic_voice

    return harmonic_voice(160.0, seconds=4.0), 16000


@pytest.mark.parametrize("source", ["espeak", "synthetic"])
def test_dnsmos_orders_clean_above_noisy(tmp_path, source):
    pytest.importorskip("speechmos")
    from discovervoice.eval.mos import DNSMOS

    x, sr = _speech(tmp_path, source)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(x.size).astype(np.float32)
    noise *= np.sqrt(np.mean(x ** 2) / np.mean(noise ** 2))  # 0 dB SNR
    scorer = DNSMOS()
    clean = scorer.score(x, sr)
    noisy = scorer.score(x + noise, sr)
    assert set(clean) == {"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"}
    assert all(1.0 <= v <= 5.5 for v in clean.values())
    assert clean["dnsmos_ovrl"] > noisy["dnsmos_ovrl"] + 0.3
    assert clean["dnsmos_bak"] > noisy["dnsmos_bak"] + 0.5
    # input at another rate and in stereo is accepted (resampled, channels averaged)
    st = np.stack([x, x])
    r44 = scorer.score(audio.resample(st, sr, 44100), 44100)
    assert r44["dnsmos_ovrl"] == pytest.approx(clean["dnsmos_ovrl"], abs=0.15)


def test_dnsmos_rejects_silence():
    pytest.importorskip("speechmos")
    from discovervoice.errors import AudioError
    from discovervoice.eval.mos import DNSMOS

    with pytest.raises(AudioError, match="silence"):
        DNSMOS().score(np.zeros(16000, np.float32), 16000)


def test_utmos_attention_equals_torch_multi_head_attention():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from discovervoice.eval.mos import utmos22_strong

    torch.manual_seed(0)
    m = utmos22_strong(**SMALL).eval()
    att = m.wav2vec2.encoder.layers[0].self_attn
    x = torch.randn(2, 7, 32)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[:, -1] = True
    for mask in (None, pad):
        ours = att(x, mask)
        ref = F.multi_head_attention_forward(
            x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), 32, 4,
            in_proj_weight=torch.empty([0]),
            in_proj_bias=torch.cat((att.q_proj.bias, att.k_proj.bias, att.v_proj.bias)),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=att.out_proj.weight, out_proj_bias=att.out_proj.bias,
            training=False, key_padding_mask=mask, need_weights=False,
            use_separate_proj_weight=True, q_proj_weight=att.q_proj.weight,
            k_proj_weight=att.k_proj.weight, v_proj_weight=att.v_proj.weight)[0]
        torch.testing.assert_close(ours, ref.transpose(0, 1), atol=1e-5, rtol=1e-5)


def test_utmos_position_conv_equals_weight_norm_conv():
    torch = pytest.importorskip("torch")
    from torch import nn

    from discovervoice.eval.mos import utmos22_strong

    torch.manual_seed(1)
    m = utmos22_strong(**SMALL).eval()
    pc = m.wav2vec2.encoder.pos_conv["0"]
    conv = nn.Conv1d(32, 32, kernel_size=16, padding=8, groups=4)
    conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
    wn = conv.parametrizations.weight
    with torch.no_grad():
        wn.original0.copy_(pc.weight_g * 1.3)   # g
        wn.original1.copy_(pc.weight_v)         # v
        conv.bias.copy_(torch.randn(32))
        pc.weight_g.mul_(1.3)
        pc.bias.copy_(conv.bias)
    x = torch.randn(2, 32, 11)
    ref = torch.nn.functional.gelu(conv(x)[:, :, :-1])  # fairseq SamePad drops the last frame
    torch.testing.assert_close(pc(x), ref, atol=1e-5, rtol=1e-5)
    # checkpoints saved with the parametrization names load as weight_g / weight_v
    from discovervoice.eval.mos import _normalise_state_dict

    sd = {f"wav2vec2.encoder.pos_conv.0.{k}": v for k, v in conv.state_dict().items()}
    keys = set(_normalise_state_dict(sd))
    assert {"wav2vec2.encoder.pos_conv.0.weight_g", "wav2vec2.encoder.pos_conv.0.weight_v",
            "wav2vec2.encoder.pos_conv.0.bias"} == keys


def test_utmos_published_layout_and_size():
    pytest.importorskip("torch")
    from discovervoice.eval.mos import utmos22_strong

    sd = utmos22_strong().state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["wav2vec2.encoder.pos_conv.0.weight_g"] == (1, 1, 128)
    assert shapes["wav2vec2.encoder.pos_conv.0.weight_v"] == (768, 48, 128)
    assert shapes["wav2vec2.feature_extractor.conv_layers.0.2.weight"] == (512,)
    assert shapes["wav2vec2.feature_extractor.conv_layers.6.0.weight"] == (512, 512, 2)
    assert shapes["wav2vec2.encoder.layers.11.final_layer_norm.bias"] == (768,)
    assert shapes["blstm.weight_ih_l0_reverse"] == (2048, 1024)
    assert shapes["projection.2.weight"] == (1, 2048)
    assert shapes["domain_emb"] == (1, 128) and shapes["judge_emb"] == (1, 128)
    n = sum(int(np.prod(s)) for s in shapes.values())
    assert 100e6 < n < 105e6  # wav2vec 2.0 base (~94 M) + BLSTM + projection


def test_utmos_checkpoint_round_trip(tmp_path):
    torch = pytest.importorskip("torch")
    from discovervoice.eval.mos import UTMOS, load_utmos, utmos22_strong

    torch.manual_seed(2)
    model = utmos22_strong(**SMALL).eval()
    with torch.no_grad():
        model.domain_emb.normal_()
        model.judge_emb.normal_()
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    with torch.inference_mode():
        expected = float(model(torch.from_numpy(wave)[None])[0])
    # the published format: a bare state dict (config passed by the caller)
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    s1 = load_utmos(tmp_path / "bare.pt", **SMALL)
    # a test checkpoint that carries its constructor arguments
    torch.save({"state_dict": model.state_dict(), "config": SMALL}, tmp_path / "cfg.pt")
    s2 = load_utmos(tmp_path / "cfg.pt")
    for scorer in (s1, s2):
        assert isinstance(scorer, UTMOS)
        assert scorer.score(wave, 16000)["utmos"] == pytest.approx(expected, abs=1e-5)
    # an odd number of frames exercises the padding mask
    odd = scorer.score(wave[:16000 - 400], 16000)["utmos"]
    assert np.isfinite(odd)
    torch.save({"foo": torch.zeros(1)}, tmp_path / "wrong.pt")
    with pytest.raises(WeightsError, match="not a UTMOS22"):
        load_utmos(tmp_path / "wrong.pt", **SMALL)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable"):
        load_utmos(tmp_path / "junk.pt")


def test_utmos_offline_without_weights_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("DISCOVERVOICE_CACHE", str(tmp_path / "cache"))
    from discovervoice.eval.mos import get_scorer

    with pytest.raises(WeightsUnavailableError, match="weights fetch utmos22_strong"):
        get_scorer("utmos")
    with pytest.raises(WeightsError, match="unknown MOS model"):
        get_scorer("pesq")


def test_utmos_wrong_configuration_is_a_weights_error(tmp_path):
    torch = pytest.importorskip("torch")
    from discovervoice.eval.mos import load_utmos, utmos22_strong

    torch.save(utmos22_strong(**SMALL).state_dict(), tmp_path / "small.pt")
    other = dict(SMALL, rnn_hidden=24)
    with pytest.raises(WeightsError, match="not a UTMOS22"):
        load_utmos(tmp_path / "small.pt", **other)


def test_utmos_local_checkpoint_through_cli(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from discovervoice.cli import main
    from discovervoice.eval.mos import utmos22_strong
    from discovervoice.testsignals import harmonic_voice

    torch.manual_seed(3)
    torch.save({"state_dict": utmos22_strong(**SMALL).state_dict(), "config": SMALL},
               tmp_path / "utmos_small.pt")
    audio.save(tmp_path / "clip.wav", harmonic_voice(180.0, seconds=1.0), 16000)
    rep = tmp_path / "rep"
    assert main(["eval", "mos", "--model", "utmos", "--utmos-checkpoint",
                 str(tmp_path / "utmos_small.pt"), str(tmp_path / "clip.wav"),
                 "--report", str(rep)]) == 0
    out = capsys.readouterr().out
    assert "model: UTMOS" in out and "DNSMOS" not in out
    assert (rep / "mos_utmos.png").exists()
    assert main(["eval", "mos", "--model", "utmos", "--utmos-checkpoint",
                 str(tmp_path / "missing.pt"), str(tmp_path / "clip.wav")]) == 1
    assert "missing.pt" in capsys.readouterr().err

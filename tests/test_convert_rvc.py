"""RVC v2 voice models: a checkpoint built here in RVC-WebUI's format loads and converts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from discovervoice.convert import rvc
from discovervoice.convert.index import FeatureIndex
from discovervoice.errors import WeightsError

# config list in RVC's order, tiny sizes; content dim 768 (v2) as the published models
TINY = [1025, 32, 8, 16, 32, 2, 2, 3, 0, "1", [3, 5], [[1, 3], [1, 3]], [10, 4], 32, [20, 8], 4, 8, 40000]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


_LAYER = {"attention.k_proj": "self_attn.k_proj", "attention.v_proj": "self_attn.v_proj",
          "attention.q_proj": "self_attn.q_proj", "attention.out_proj": "self_attn.out_proj",
          "layer_norm": "self_attn_layer_norm", "feed_forward.intermediate_dense": "fc1",
          "feed_forward.output_dense": "fc2", "final_layer_norm": "final_layer_norm"}


def _fairseq_name(k: str) -> str:
    """fairseq's name of a transformers HubertModel parameter (written out independently)."""
    if k == "masked_spec_embed":
        return "mask_emb"
    if k.startswith("feature_extractor.conv_layers."):
        i, kind, p = k.split(".")[2], k.split(".")[3], k.split(".")[-1]
        return f"feature_extractor.conv_layers.{i}.{'0' if kind == 'conv' else '2'}.{p}"
    if k.startswith("feature_projection."):
        return ("layer_norm." if ".layer_norm." in k else "post_extract_proj.") + k.split(".")[-1]
    if k.startswith("encoder.pos_conv_embed.conv."):
        return {"bias": "encoder.pos_conv.0.bias", "original0": "encoder.pos_conv.0.weight_g",
                "original1": "encoder.pos_conv.0.weight_v"}[k.split(".")[-1]]
    if k.startswith("encoder.layers."):
        parts = k.split(".")
        return f"encoder.layers.{parts[2]}.{_LAYER['.'.join(parts[3:-1])]}.{parts[-1]}"
    return k


def _hubert_768(tmp_path):
    """A one-layer HuBERT with RVC v2's 768-d output, in fairseq format."""
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(1)
    m = HubertModel(HubertConfig(hidden_size=768, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32, conv_dim=(8,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2),
                                 conv_stride=(5, 2, 2, 2, 2, 2, 2), num_conv_pos_embeddings=4,
                                 num_conv_pos_embedding_groups=2, conv_bias=False))
    state = {_fairseq_name(k): v for k, v in m.state_dict().items()}
    path = tmp_path / "hubert_base.pt"
    torch.save({"model": state, "cfg": {"model": {"conv_feature_layers": "[(8,10,5)] + [(8,3,2)] * 4 + [(8,2,2)] * 2",
                                                  "encoder_attention_heads": 2}}}, path)
    return path


@pytest.fixture()
def rvc_voice(tmp_path):
    torch.manual_seed(0)
    net = rvc.build_synthesizer(TINY)
    ckpt = {"weight": {k: v.half() for k, v in net.state_dict().items()}, "config": TINY, "f0": 1,
            "version": "v2", "sr": "40k", "info": "test"}
    folder = tmp_path / "voice"
    folder.mkdir()
    torch.save(ckpt, folder / "me.pth")
    FeatureIndex.build(np.random.default_rng(0).standard_normal((300, 768)).astype(np.float32)).save(
        folder / "added_IVF1_Flat_nprobe_1_me_v2.index")
    return folder / "me.pth", _hubert_768(tmp_path)


def test_network_shapes_and_determinism():
    torch.manual_seed(0)
    net = rvc.build_synthesizer(TINY).eval()
    model = rvc.RVCModel(net, "v2")
    content = np.random.default_rng(0).standard_normal((30, 768)).astype(np.float32)
    f0 = np.full(30, 220.0)
    f0[10:15] = 0
    a = model.synthesize(content, f0, seed=3)
    b = model.synthesize(content, f0, seed=3)
    assert a.shape == (30 * 40,) and model.hop == 40 and model.sample_rate == 40000
    np.testing.assert_array_equal(a, b)
    assert np.all(np.abs(a) <= 1) and np.std(a) > 0


def test_rvc_checkpoint_loads_and_converts(rvc_voice):
    from discovervoice.convert import VoiceModel, convert

    pth, hubert = rvc_voice
    voice = VoiceModel.load(pth, content=str(hubert))
    assert voice.kind == "rvc" and voice.sample_rate == 40000 and voice.index is not None
    assert voice.synth.net.emb_g.weight.shape[0] == 4  # speaker count from emb_g, as RVC
    sr = 22050
    t = np.arange(int(0.8 * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * 200 * t) + 0.01 * np.random.default_rng(0).standard_normal(len(t)))
    y = convert(x.astype(np.float32), sr, voice, transpose=3, f0_method="dio", index_rate=0.5)
    assert y.shape == (1, int(round(len(x) * 16000 / sr) * 40000 / 16000))
    assert np.isfinite(y).all() and np.std(y) > 0


def test_rvc_bad_checkpoints_give_clear_errors(tmp_path):
    net = rvc.build_synthesizer(TINY)
    torch.save({"weight": net.state_dict(), "config": TINY, "f0": 0, "version": "v2"}, tmp_path / "nof0.pth")
    with pytest.raises(WeightsError, match="without F0"):
        rvc.load_rvc_checkpoint(tmp_path / "nof0.pth")
    cfg = list(TINY)
    cfg[3] = 24  # hidden size that does not fit the weights
    torch.save({"weight": net.state_dict(), "config": cfg, "f0": 1}, tmp_path / "wrong.pth")
    with pytest.raises(WeightsError, match="wrong.pth"):
        rvc.load_rvc_checkpoint(tmp_path / "wrong.pth")
    torch.save({"hello": 1}, tmp_path / "x.pth")
    with pytest.raises(WeightsError, match="not an RVC"):
        rvc.load_rvc_checkpoint(tmp_path / "x.pth")


def test_save_rvc_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    net = rvc.build_synthesizer(TINY)
    path = rvc.save_rvc_checkpoint(net, TINY, tmp_path / "out.pth")
    ck = torch.load(path, weights_only=True)
    assert set(ck) >= {"weight", "config", "f0", "version"} and ck["f0"] == 1
    assert any(k.endswith("weight_g") for k in ck["weight"])  # RVC's weight-norm names
    back = rvc.load_rvc_checkpoint(path)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(back.net.state_dict()[k], v.half().float())


def test_default_configs_build_published_sizes():
    for sr, hop in ((40000, 400), (48000, 480), (32000, 320)):
        cfg = rvc.default_config(sr)
        assert len(cfg) == 18 and int(np.prod(cfg[12])) == hop and cfg[-1] == sr


# 8 kHz tiny config: hop 80 = 10 ms frames like the published 40k/48k models
TINY8K = [65, 8, 8, 16, 32, 2, 2, 3, 0, "1", [3], [[1, 3]], [10, 8], 32, [20, 16], 2, 8, 8000]


def test_rvc_training_step_from_pretrained_and_output_loads(tmp_path, monkeypatch):
    import soundfile as sf

    from discovervoice.convert import voice as voice_module

    monkeypatch.setattr(voice_module, "MIN_VOICED_SECONDS", 4.0)  # keep the test short

    from discovervoice.convert import VoiceModel, convert
    from discovervoice.convert import rvc_train as RT

    torch.manual_seed(0)
    g0, d0 = RT.TrainSynthesizer(TINY8K), RT.MultiPeriodDiscriminatorV2(div=16)
    gp, dp = tmp_path / "f0G.pth", tmp_path / "f0D.pth"
    torch.save({"model": g0.state_dict()}, gp)  # RVC pretrained-base layout
    torch.save({"model": d0.state_dict()}, dp)
    g1, d1 = RT.TrainSynthesizer(TINY8K), RT.MultiPeriodDiscriminatorV2(div=16)
    notes = RT.load_pretrained(g1, d1, gp, dp)
    assert notes[0].startswith(f"G: {len(g0.state_dict())}/")
    torch.testing.assert_close(g1.state_dict()["dec.conv_pre.weight"], g0.state_dict()["dec.conv_pre.weight"])
    assert "enc_q.enc.in_layers.0.weight_g" in g0.state_dict()

    data = tmp_path / "voice"
    data.mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    for k in range(2):
        f = 180 * 2 ** (rng.integers(-3, 4, size=len(t) // 8000 + 1) / 12)
        ph = 2 * np.pi * np.cumsum(np.repeat(f, 8000)[: len(t)]) / 16000
        x = sum(0.3 / h * np.sin(h * ph) for h in range(1, 12)) + 1e-3 * rng.standard_normal(len(t))
        sf.write(data / f"t{k}.wav", (0.5 * x / np.abs(x).max()).astype(np.float32), 16000)
    hubert = _hubert_768(tmp_path)
    out = RT.train_rvc(data, tmp_path / "rvcvoice", config=TINY8K, content=str(hubert), f0_method="dio",
                       pretrained=False, steps=2, batch=2, save_every=1, disc_div=16)
    assert (out / "model.pth").exists() and (out / "added.index").exists()
    assert (out / "train" / "rvc_checkpoint.pt").exists()
    voice = VoiceModel.load(out, content=str(hubert))
    assert voice.kind == "rvc" and voice.sample_rate == 8000
    y = convert(np.asarray(sf.read(data / "t0.wav")[0][:16000], np.float32), 16000, voice, f0_method="dio")
    assert y.shape == (1, 8000) and np.isfinite(y).all()
    # the same call again in this process (content encoder now cached) trains the same voice
    again = RT.train_rvc(data, tmp_path / "rvcvoice2", config=TINY8K, content=str(hubert), f0_method="dio",
                         pretrained=False, steps=2, batch=2, save_every=1, disc_div=16)
    w1 = torch.load(out / "model.pth", weights_only=True)["weight"]
    w2 = torch.load(again / "model.pth", weights_only=True)["weight"]
    assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)


def test_discriminator_and_losses():
    from discovervoice.convert import rvc_train as RT

    d = RT.MultiPeriodDiscriminatorV2(div=16)
    y = torch.randn(1, 1, 800)
    rs, gs, frs, fgs = d(y, y.clone())
    assert len(rs) == 9 and len(frs[1]) == 6
    assert float(RT.feature_loss(frs, fgs)) == 0.0
    assert float(RT.generator_loss([torch.ones(3)])) == 0.0
    assert float(RT.discriminator_loss([torch.ones(3)], [torch.zeros(3)])) == 0.0
    z = torch.zeros(1, 2, 5)
    # RVC's estimate: logs_p - logs_q - 1/2 + (z_p - m_p)^2 / (2 exp(2 logs_p)), summed over channels
    assert float(RT.kl_loss(z + 1, z, z, z, torch.ones(1, 1, 5))) == 0.0
    assert float(RT.kl_loss(z, z, z, z, torch.ones(1, 1, 5))) == -1.0

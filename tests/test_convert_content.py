"""Content encoders: HuBERT loading (fairseq and Hugging Face layouts), the PPG encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from discovervoice.convert import content as C
from discovervoice.errors import DataError, WeightsError

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
            conv_dim=(8,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2),
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2, conv_bias=False, feat_extract_norm="group")

# fairseq name for each transformers HubertModel name, written out independently of the loader
_LAYER = {"attention.k_proj": "self_attn.k_proj", "attention.v_proj": "self_attn.v_proj",
          "attention.q_proj": "self_attn.q_proj", "attention.out_proj": "self_attn.out_proj",
          "layer_norm": "self_attn_layer_norm", "feed_forward.intermediate_dense": "fc1",
          "feed_forward.output_dense": "fc2", "final_layer_norm": "final_layer_norm"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fairseq_name(k: str) -> str:
    if k == "masked_spec_embed":
        return "mask_emb"
    if k.startswith("feature_extractor.conv_layers."):
        i, kind, p = k.split(".")[2], k.split(".")[3], k.split(".")[-1]
        return f"feature_extractor.conv_layers.{i}.{'0' if kind == 'conv' else '2'}.{p}"
    if k.startswith("feature_projection.layer_norm."):
        return "layer_norm." + k.split(".")[-1]
    if k.startswith("feature_projection.projection."):
        return "post_extract_proj." + k.split(".")[-1]
    if k.startswith("encoder.pos_conv_embed.conv."):
        return {"bias": "encoder.pos_conv.0.bias", "original0": "encoder.pos_conv.0.weight_g",
                "original1": "encoder.pos_conv.0.weight_v"}[k.split(".")[-1]]
    if k.startswith("encoder.layers."):
        parts = k.split(".")
        return f"encoder.layers.{parts[2]}.{_LAYER['.'.join(parts[3:-1])]}.{parts[-1]}"
    return k


@pytest.fixture(scope="module")
def tiny_hubert():
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    model = HubertModel(HubertConfig(**TINY)).eval()
    return model


def _audio(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def test_fairseq_checkpoint_converts_on_load(tiny_hubert, tmp_path):
    state = {_fairseq_name(k): v.clone() for k, v in tiny_hubert.state_dict().items()}
    state["final_proj.weight"] = torch.randn(12, 32)
    state["final_proj.bias"] = torch.randn(12)
    state["label_embs_concat"] = torch.randn(504, 12)
    cfg = {"model": {"conv_feature_layers": "[(8,10,5)] + [(8,3,2)] * 4 + [(8,2,2)] * 2", "encoder_attention_heads": 2,
                     "conv_pos": 16, "conv_pos_groups": 2}}
    path = tmp_path / "hubert_base.pt"
    torch.save({"model": state, "cfg": cfg}, path)
    enc = C.load_hubert_checkpoint(path)
    x = _audio(1.0)
    feats = enc(x)
    assert feats.shape == (len(x) // 160 + 1, 32)
    with torch.inference_mode():
        ref = tiny_hubert(torch.from_numpy(x)[None], output_hidden_states=True).hidden_states[2][0].numpy()
    np.testing.assert_allclose(feats[0:-1:2][: len(ref)], ref[: len(feats[0:-1:2])], atol=1e-4)
    # v1 features: layer 1 through final_proj
    v1 = C.load_hubert_checkpoint(path, layer=1, use_final_proj=True)
    assert v1(x).shape[1] == 12


def test_fairseq_unknown_parameter_is_a_clear_error(tiny_hubert, tmp_path):
    state = {_fairseq_name(k): v for k, v in tiny_hubert.state_dict().items()}
    state["encoder.layers.0.mystery.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pt"
    torch.save({"model": state}, path)
    with pytest.raises(WeightsError, match="mystery"):
        C.load_hubert_checkpoint(path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pt"):
        C.load_hubert_checkpoint(tmp_path / "junk.pt")


def test_hf_folder_with_final_proj(tiny_hubert, tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "contentvec"
    tiny_hubert.config.save_pretrained(folder)
    state = {"hubert." + k: v.contiguous() for k, v in tiny_hubert.state_dict().items()}
    state["final_proj.weight"] = torch.randn(16, 32)
    state["final_proj.bias"] = torch.zeros(16)
    save_file(state, str(folder / "model.safetensors"))
    enc = C.load_hubert_checkpoint(folder)
    x = _audio(0.5)
    assert enc(x).shape == (len(x) // 160 + 1, 32)
    assert enc.with_layer(2, final_proj=True)(x).shape[1] == 16


def test_ppg_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    net = C.build_ppg_net(channels=16, n_layers=2, n_phones=5)
    enc = C.PPGEncoder(net, ["_", "a", "b", "c", "<other>"])
    path = enc.save(tmp_path / "ppg.safetensors")
    back = C.load_ppg_encoder(path)
    x = _audio(0.7)
    a, b = enc(x), back(x)
    assert a.shape == (len(x) // 160 + 1, 5)
    full = enc.with_floor(-50.0)(x)
    np.testing.assert_allclose(np.exp(full).sum(1), 1.0, atol=1e-3)  # log-posteriors
    np.testing.assert_allclose(a, b, atol=2e-2)  # fp16 storage
    assert back.phones == enc.phones and back.floor == enc.floor == C.PPG_FLOOR
    # the floor bounds the features from below and is stored with the weights
    np.testing.assert_allclose(a, np.maximum(full, C.PPG_FLOOR), atol=1e-5)
    other = C.PPG_FLOOR - 1.0  # not the default, so loading must read it from the file
    low = C.PPGEncoder(net, enc.phones, floor=other)
    assert low(x).min() >= other - 1e-6 and (low(x) == other).any()
    assert C.load_ppg_encoder(low.save(tmp_path / "low.safetensors")).floor == other


def test_ppg_file_is_a_checkpoint_and_the_shipped_first_layout_still_loads(tmp_path):
    """PPG files go through discovervoice.checkpoint (format discovervoice-content-ppg/1);
    the shipped dv-content-ppg (first layout: no format key, JSON strings) loads unchanged
    and gives the same features once rewritten in the new layout."""
    from pathlib import Path

    from discovervoice import checkpoint

    shipped = Path(__file__).resolve().parent.parent / "weights" / "dv-content-ppg.safetensors"
    meta = checkpoint.read_tensors(shipped)[1]
    assert "format" not in meta and meta["architecture"] == "PPGNet"  # the first layout
    old = C.load_ppg_encoder(shipped)
    assert len(old.phones) == old.net.config["n_phones"] == 65 and old.floor == C.PPG_FLOOR
    new = old.save(tmp_path / "ppg.safetensors", {"summary": {"clips": 3}})
    ck = checkpoint.load(new, C.PPG_FORMAT)
    assert ck.config == old.net.config and ck.metadata["phones"] == old.phones
    assert ck.metadata["summary"] == {"clips": 3} and ck.architecture == "PPGNet"
    back = C.load_ppg_encoder(new)
    x = _audio(0.6)
    np.testing.assert_array_equal(back(x), old(x))  # fp16 weights both times: identical
    assert (back(x) > C.PPG_FLOOR).any() and back.floor == old.floor
    other = checkpoint.save(tmp_path / "sep.safetensors", {"w": torch.ones(2)},
                            format="discovervoice-separation/1")
    with pytest.raises(WeightsError, match=r"sep\.safetensors: not a DiscoverVoice PPG"):
        C.load_ppg_encoder(other)
    foreign = checkpoint.write_tensors(tmp_path / "f.safetensors", {"w": torch.ones(2)},
                                       {"architecture": "WorldNet"})
    with pytest.raises(WeightsError, match=r"f\.safetensors: not a PPG content encoder"):
        C.load_ppg_encoder(foreign)


def test_log_mel_is_mean_normalised_and_gain_invariant():
    x = _audio(1.0)
    m1, m2 = C.log_mel(x), C.log_mel(4 * x)
    assert m1.shape == (101, 80)
    np.testing.assert_allclose(m1.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(m1, m2, atol=1e-3)


def test_phone_timings_read_and_framed(tmp_path):
    p = tmp_path / "clip.phones.json"
    p.write_text(json.dumps([[0.0, 0.1, "_"], [0.1, 0.25, "l"], [0.25, 0.6, "a:"]]))
    ph = C.read_phones(p)
    assert ph[2] == (0.25, 0.6, "a:")
    vocab = {"_": 0, "l": 1, "a": 2}
    lab = C.frame_labels(ph, 70, vocab, other=3)
    assert lab[5] == 0 and lab[12] == 1 and lab[40] == 2 and lab[65] == 0
    p.write_text(json.dumps({"phones": [{"start": 0, "end": 0.1, "phone": "x"}]}))
    assert C.read_phones(p) == [(0.0, 0.1, "x")]
    p.write_text("{broken")
    with pytest.raises(DataError, match="clip.phones.json"):
        C.read_phones(p)


def test_speaker_probe_separates_speakers_in_mel_but_not_in_noise():
    rng = np.random.default_rng(0)
    feats, spk = [], []
    for s in range(3):
        for clip in range(4):
            feats.append(rng.standard_normal((100, 8)) + (3.0 * s if True else 0))
            spk.append(f"s{s}")
    assert C.speaker_probe(feats, spk) > 0.95
    noise = [rng.standard_normal((100, 8)) for _ in feats]
    assert C.speaker_probe(noise, spk) < 0.6

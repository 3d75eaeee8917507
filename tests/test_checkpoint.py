"""The checkpoint module (one file layout for every model family), the manifests written
from ModelSpec, the cached registry and ``weights.load_model`` as the one way a name
becomes a model: a round trip per family that uses the layout."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from discovervoice import checkpoint, weights
from discovervoice.errors import WeightsError


def test_save_load_round_trip_torch_and_numpy(tmp_path):
    state = {"w": torch.randn(3, 4), "n": torch.arange(5)}
    p = checkpoint.save(tmp_path / "a" / "m.safetensors", state, format="discovervoice-x/1",
                        config={"size": [3, 4]}, metadata={"step": 7, "note": "ok"},
                        architecture="X", half=True)
    assert oct(os.stat(p).st_mode & 0o777) != oct(0o600)       # not the writer's 0600
    assert not list(p.parent.glob(".*.tmp"))
    ck = checkpoint.load(p, "discovervoice-x/1")
    assert ck.config == {"size": [3, 4]} and ck.metadata == {"step": 7, "note": "ok"}
    assert ck.architecture == "X" and ck.format == "discovervoice-x/1" and ck.path == p
    assert ck.tensors["w"].dtype == torch.float16 and ck.tensors["n"].dtype == torch.int64
    assert torch.allclose(ck.tensors["w"].float(), state["w"], atol=1e-3)
    assert torch.equal(ck.tensors["n"], state["n"])

    arrays = {"a": np.linspace(0, 1, 6, dtype=np.float32)}
    q = checkpoint.save(tmp_path / "n.safetensors", arrays, format="discovervoice-y/1")
    back = checkpoint.load(q, ("discovervoice-y/0", "discovervoice-y/1"), framework="numpy")
    assert np.array_equal(back.tensors["a"], arrays["a"]) and back.config == {}


def test_foreign_damaged_and_missing_files_are_weights_errors(tmp_path):
    p = checkpoint.save(tmp_path / "m.safetensors", {"w": torch.ones(2)}, format="discovervoice-x/1")
    with pytest.raises(WeightsError, match=r"m.safetensors: not a DiscoverVoice enhancer.*'discovervoice-x/1'"):
        checkpoint.load(p, "discovervoice-enhance-crnn/1", what="enhancer")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    with pytest.raises(WeightsError, match="bad.safetensors: not a readable safetensors file"):
        checkpoint.load(bad, "discovervoice-x/1")
    with pytest.raises(WeightsError, match="missing.safetensors: checkpoint file not found"):
        checkpoint.load(tmp_path / "missing.safetensors", "discovervoice-x/1")


def test_files_of_the_first_layouts_still_load(tmp_path):
    """Separation files named the JSON keys kwargs/extra; CRNN files kept flat strings."""
    from safetensors.torch import save_file

    sep = tmp_path / "sep.safetensors"
    save_file({"w": torch.ones(2)}, str(sep), metadata={
        "format": "discovervoice-separation/1", "architecture": "mdx23c",
        "kwargs": json.dumps({"dim": 8}), "extra": json.dumps({"step": 3})})
    ck = checkpoint.load(sep, "discovervoice-separation/1")
    assert ck.config == {"dim": 8} and ck.metadata == {"step": 3} and ck.architecture == "mdx23c"
    crnn = tmp_path / "crnn.safetensors"
    save_file({"w": torch.ones(2)}, str(crnn), metadata={
        "format": "discovervoice-enhance-crnn/1", "config": json.dumps({"hidden": 8}),
        "architecture": "CRNN", "step": "12"})
    ck = checkpoint.load(crnn, "discovervoice-enhance-crnn/1")
    assert ck.config == {"hidden": 8} and ck.metadata == {"step": "12"}
    # a file with no format key at all (the PPG content encoder's first layout): only
    # when the family accepts None, and then by its architecture
    ppg = tmp_path / "ppg.safetensors"
    save_file({"w": torch.ones(2)}, str(ppg), metadata={
        "architecture": "PPGNet", "config": json.dumps({"dim": 4}), "phones": '["a", "b"]'})
    with pytest.raises(WeightsError, match="metadata format None, expected 'discovervoice-content-ppg/1'"):
        checkpoint.load(ppg, "discovervoice-content-ppg/1")
    ck = checkpoint.load(ppg, ("discovervoice-content-ppg/1", None))
    assert ck.format == "" and ck.architecture == "PPGNet" and ck.config == {"dim": 4}
    assert json.loads(ck.metadata["phones"]) == ["a", "b"]


# --------------------------------------------------------------------------- families

def test_crnn_round_trip_keeps_config_weights_and_output(tmp_path):
    from discovervoice.enhance.model import CRNN, load_crnn, save_crnn

    torch.manual_seed(0)
    model = CRNN(channels=[4, 8], hidden=8, layers=1, causal=True).eval()
    p = save_crnn(model, tmp_path / "crnn.safetensors", half=False, metadata={"step": 5})
    back = load_crnn(p)
    assert back.config == model.config
    assert checkpoint.load(p, "discovervoice-enhance-crnn/1").metadata == {"step": 5}
    x = torch.from_numpy(np.sin(2 * np.pi * 220 * np.arange(8000) / 16000).astype(np.float32))[None]
    with torch.no_grad():
        assert torch.allclose(back(x), model(x), atol=1e-6)


def test_crnn_path_goes_through_load_model_with_its_family_spec(tmp_path):
    from discovervoice.enhance.apply import Enhancer, load
    from discovervoice.enhance.model import CRNN, save_crnn

    p = save_crnn(CRNN(channels=[4], hidden=4, layers=1, sample_rate=8000), tmp_path / "c.safetensors")
    enh = load(p)                  # a user's 8 kHz model is not held to the shipped 16 kHz
    assert isinstance(enh, Enhancer) and enh.sample_rate == 8000
    enh = weights.load_model(p, spec_name="dv-enhance-crnn")
    assert enh.sample_rate == 8000
    with pytest.raises(WeightsError, match="needs spec_name"):
        weights.load_model(p)


def test_prep_classifiers_round_trip_and_refuse_other_configs(tmp_path):
    from discovervoice.prep.sex import CHECKPOINT_FORMAT, SexClassifier
    from discovervoice.prep.voicetype import FEATURE_NAMES, VoiceTypeClassifier

    rng = np.random.default_rng(0)
    d = 25
    clf = SexClassifier(rng.normal(size=d), rng.uniform(1, 2, d), rng.normal(size=d), 0.3, {"k": 1})
    back = SexClassifier.load(clf.save(tmp_path / "sex.safetensors"))
    assert back.metadata == {"k": 1} and back.intercept == pytest.approx(0.3, abs=1e-6)
    assert np.allclose(back.coef, clf.coef, atol=1e-6)
    checkpoint.save(tmp_path / "sex8.safetensors", {"mean": np.zeros(3, np.float32)},
                    format=CHECKPOINT_FORMAT, config={"n_ceps": 8})
    with pytest.raises(WeightsError, match="8 cepstra"):
        SexClassifier.load(tmp_path / "sex8.safetensors")

    n = len(FEATURE_NAMES)
    vt = VoiceTypeClassifier(rng.normal(size=n), rng.uniform(1, 2, n), rng.normal(size=(3, n)),
                             rng.normal(size=3), {"windows": 9})
    vback = VoiceTypeClassifier.load(vt.save(tmp_path / "vt.safetensors"))
    X = rng.normal(size=(4, n))
    assert vback.metadata == {"windows": 9}
    assert np.allclose(vback.predict_proba(X), vt.predict_proba(X), atol=1e-5)
    with pytest.raises(WeightsError, match="sex.safetensors: not a DiscoverVoice voice-type"):
        VoiceTypeClassifier.load(tmp_path / "sex.safetensors")


def test_shipped_prep_classifiers_load_through_the_registry():
    from discovervoice.prep.sex import SexClassifier
    from discovervoice.prep.voicetype import VoiceTypeClassifier

    sex = weights.load_model("dv-prep-sex")
    vt = weights.load_model("dv-prep-voicetype")
    assert isinstance(sex, SexClassifier) and sex.metadata["clips"] == 689
    assert isinstance(vt, VoiceTypeClassifier) and vt.coef.shape == (3, vt.mean.shape[0])


def test_ast_folder_round_trip_keeps_the_hugging_face_layout(tmp_path):
    from transformers import ASTForAudioClassification

    from discovervoice.classify.model import build_ast, load_ast_folder, save_ast_folder

    torch.manual_seed(0)
    ck = build_ast(["a", "b"], hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                   intermediate_size=32, max_length=64)
    p = save_ast_folder(ck, tmp_path / "ast", fp16=False)
    assert checkpoint.read_tensors(p / "model.safetensors")[1]["format"] == "pt"
    back = load_ast_folder(p)
    assert back.labels == ["a", "b"]
    hf = ASTForAudioClassification.from_pretrained(str(p))   # transformers still opens it
    x = torch.randn(1, 64, 64)             # [B, frames, mel bins]
    with torch.no_grad():
        ref = ck.model(x).logits
        assert torch.allclose(back.model(x).logits, ref, atol=1e-5)
        assert torch.allclose(hf.eval()(x).logits, ref, atol=1e-5)


# --------------------------------------------------------------------------- registry

def _spec(name: str, **kw) -> weights.ModelSpec:
    return weights.ModelSpec(name, "enhancement", "CRNN", "safetensors", 16000, "MIT",
                             shipped=f"{name}.safetensors",
                             factory="discovervoice.enhance.apply:load_enhancer", **kw)


def test_manifest_written_from_a_spec_reads_back_equal(tmp_path):
    spec = _spec("dv-unit", source="recipe", extra={"steps": 3})
    path = weights.write_manifest(spec, tmp_path)
    assert path == tmp_path / "dv-unit.json" and "embedded" not in json.loads(path.read_text())
    assert weights.registry(tmp_path)["dv-unit"] == spec
    with pytest.raises(WeightsError, match="only embedded models"):
        weights.write_manifest(weights.ModelSpec("x", "t", "a", "f", 1, "l"), tmp_path)


def test_registry_is_parsed_once_and_reread_when_a_manifest_changes(tmp_path, monkeypatch):
    weights.write_manifest(_spec("dv-a"), tmp_path)
    calls = []
    real = weights.embedded_specs
    monkeypatch.setattr(weights, "embedded_specs", lambda d=None: calls.append(d) or real(d))
    weights.clear_registry_cache()
    assert "dv-a" in weights.registry(tmp_path)
    assert "dv-a" in weights.registry(tmp_path) and len(calls) == 1      # cached
    weights.write_manifest(_spec("dv-b"), tmp_path)                       # folder changed
    assert {"dv-a", "dv-b"} <= set(weights.registry(tmp_path)) and len(calls) == 2
    (tmp_path / "dv-b.json").write_text(json.dumps({**json.loads((tmp_path / "dv-b.json").read_text()),
                                                     "source": "edited in place, longer"}))
    assert weights.registry(tmp_path)["dv-b"].source == "edited in place, longer"
    assert len(calls) == 3
    weights.clear_registry_cache()
    weights.registry(tmp_path)
    assert len(calls) == 4
    reg = weights.registry(tmp_path)
    reg.pop("dv-a")                                                       # a copy
    assert "dv-a" in weights.registry(tmp_path)


def test_fit_state_names_the_file_and_the_mismatch(tmp_path):
    net = torch.nn.Linear(3, 2)
    same = {k: v.clone() for k, v in net.state_dict().items()}
    assert checkpoint.fit_state(torch.nn.Linear(3, 2), same, tmp_path / "m.pt", "x") is not None
    with pytest.raises(WeightsError, match=r"m.pt: not a tiny net; missing keys \['bias'\]"):
        checkpoint.fit_state(torch.nn.Linear(3, 2), {"weight": same["weight"]}, tmp_path / "m.pt",
                             "a tiny net")
    with pytest.raises(WeightsError, match=r"m.pt: not a tiny net \(.*size mismatch"):
        checkpoint.fit_state(torch.nn.Linear(4, 2), same, tmp_path / "m.pt", "a tiny net")


def test_every_shipped_model_builds_through_load_model():
    """The files in weights/ load unchanged through their registry factories (the
    checkpoint module reads the layouts they were written in)."""
    specs = weights.embedded_specs()
    assert len(specs) >= 9
    for spec in specs:
        model = weights.load_model(spec.name)
        assert model is not None, spec.name


class _NotAllowed:
    """A class outside torch's weights_only allow-list (pickled by reference)."""


def test_read_torch_unwraps_trainer_checkpoints_and_names_bad_files(tmp_path):
    import torch

    from discovervoice.checkpoint import read_torch
    from discovervoice.errors import WeightsError

    state = {"w": torch.arange(4.0)}
    torch.save({"epoch": 3, "state_dict": state}, tmp_path / "lightning.ckpt")
    got = read_torch(tmp_path / "lightning.ckpt", unwrap=("state_dict", "model"))
    assert torch.equal(got["w"], state["w"])
    # without unwrap the trainer's dict comes back as it is
    assert read_torch(tmp_path / "lightning.ckpt")["epoch"] == 3
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(WeightsError, match="list.pt: expected a state dict"):
        read_torch(tmp_path / "list.pt")
    (tmp_path / "junk.pth").write_bytes(b"not a pickle at all")
    with pytest.raises(WeightsError, match="junk.pth: not a readable torch checkpoint"):
        read_torch(tmp_path / "junk.pth")
    # objects outside weights_only's allow-list never run: refused with the file named
    torch.save({"x": _NotAllowed()}, tmp_path / "code.pt")
    with pytest.raises(WeightsError, match="code.pt"):
        read_torch(tmp_path / "code.pt")

"""Separation networks: tiny configs, save/load round trips, demucs and MDX23C file formats."""

from __future__ import annotations

import pytest
import torch

from discovervoice.errors import WeightsError
from discovervoice.separation import models as M
from discovervoice.weights import ModelSpec, RemoteFile


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny(arch: str, **over):
    kw = dict(M.TINY_HTDEMUCS if arch == "htdemucs" else M.TINY_MDX23C)
    kw.update(over)
    torch.manual_seed(0)
    return M.build_model(arch, kw).eval()


def _input(model, seconds=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = model.valid_length(int(seconds * model.samplerate))
    return torch.randn(1, model.audio_channels, n, generator=g) * 0.1


@pytest.mark.parametrize("arch", ["htdemucs", "mdx23c"])
def test_tiny_forward_shapes_and_gradients(arch):
    m = _tiny(arch).train()
    x = _input(m)
    y = m(x)
    assert y.shape == (1, 2, 2, x.shape[-1])
    y.abs().mean().backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_mdx23c_four_sources_and_target_instrument():
    m = _tiny("mdx23c", sources=["drums", "bass", "other", "vocals"])
    x = _input(m)
    assert m(x).shape == (1, 4, 2, x.shape[-1])
    t = _tiny("mdx23c", sources=["vocals", "other"], target_instrument="vocals")
    y = t(x)
    # with a target instrument the other source is the residual: the two sum to the mixture
    assert torch.allclose(y.sum(1), x, atol=1e-5)


def test_mdx23c_valid_length_is_accepted():
    m = _tiny("mdx23c")
    for n in (1, 63, 64 * 63, 5000, 12345):
        v = m.valid_length(n)
        assert v >= n
        frames = v // m.hop_length + 1
        assert frames % (2 ** m.num_scales) == 0
    with torch.no_grad():
        assert m(torch.zeros(1, 2, m.valid_length(777))).shape[-1] == m.valid_length(777)


@pytest.mark.parametrize("arch", ["htdemucs", "mdx23c"])
@pytest.mark.parametrize("half", [False, True])
def test_embedded_round_trip(tmp_path, arch, half):
    m = _tiny(arch)
    x = _input(m)
    with torch.no_grad():
        ref = m(x)
    path = M.save_embedded(m, tmp_path / "net.safetensors", half=half, extra={"note": "t"})
    m2 = M.load_embedded(path)
    assert type(m2) is type(m)
    assert m2.dv_metadata == {"note": "t"}
    with torch.no_grad():
        out = m2(x)
    tol = 2e-2 if half else 1e-6
    assert float((out - ref).abs().max()) <= tol * max(1.0, float(ref.abs().max()))


def test_load_embedded_rejects_foreign_safetensors(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(WeightsError, match="not a DiscoverVoice separation checkpoint"):
        M.load_embedded(tmp_path / "x.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a file at all")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        M.load_embedded(tmp_path / "bad.safetensors")


# --------------------------------------------------------------------------- demucs format

def _demucs_package(model) -> dict:
    """What demucs.states.serialize_model writes (klass, args, kwargs, state, training_args)."""
    args, kwargs = model._init_args_kwargs
    return {"klass": model.__class__, "args": args, "kwargs": kwargs,
            "state": {k: v.clone() for k, v in model.state_dict().items()},
            "training_args": {}}


def test_load_demucs_th_file(tmp_path):
    m = _tiny("htdemucs", sources=["drums", "bass", "other", "vocals"])
    path = tmp_path / "955717e8-deadbeef.th"
    torch.save(_demucs_package(m), path)
    loaded = M.load_demucs_checkpoint(path)
    x = _input(m)
    with torch.no_grad():
        assert torch.allclose(loaded(x), m(x), atol=1e-6)
    assert loaded.sources == ["drums", "bass", "other", "vocals"]


def test_load_demucs_bag_and_vocals_only_submodel(tmp_path):
    sources = ["drums", "bass", "other", "vocals"]
    files = []
    nets = []
    for i in range(4):
        torch.manual_seed(i)
        kw = dict(M.TINY_HTDEMUCS, sources=sources)
        net = M.build_model("htdemucs", kw).eval()
        name = f"sub{i}-0000000{i}.th"
        torch.save(_demucs_package(net), tmp_path / name)
        files.append(RemoteFile(name, f"https://example.invalid/{name}"))
        nets.append(net)
    spec = ModelSpec("ft", "separation", "HTDemucs", "demucs-th", 44100, "MIT", tuple(files),
                     extra={"sub_model_for_stem": {"drums": 0, "bass": 1, "other": 2, "vocals": 3}})
    bag = M.load_demucs_checkpoint(tmp_path, spec)
    assert len(bag.models) == 4
    assert bag.weights[3] == [0.0, 0.0, 0.0, 1.0]
    only = M.load_demucs_checkpoint(tmp_path, spec, stems=["vocals"])
    assert not hasattr(only, "models")
    for k, v in only.state_dict().items():
        assert torch.equal(v, nets[3].state_dict()[k])


def test_demucs_bad_files(tmp_path):
    (tmp_path / "x.th").write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="cannot read demucs checkpoint"):
        M.load_demucs_checkpoint(tmp_path / "x.th")
    torch.save({"state": {}}, tmp_path / "y.th")
    with pytest.raises(WeightsError, match="not a demucs package"):
        M.load_demucs_checkpoint(tmp_path / "y.th")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(WeightsError, match="no demucs .th"):
        M.load_demucs_checkpoint(tmp_path / "empty_dir")


# --------------------------------------------------------------------------- MDX23C format

_MSST_YAML = """audio:
  chunk_size: 4032
  dim_f: 128
  dim_t: 64
  hop_length: 64
  n_fft: 256
  num_channels: 2
  sample_rate: 44100
  min_mean_abs: 0.001
model:
  act: gelu
  bottleneck_factor: 2
  growth: 4
  norm: InstanceNorm
  num_blocks_per_scale: 1
  num_channels: 4
  num_scales: 2
  num_subbands: 2
  scale:
  - 2
  - 2
training:
  batch_size: 6
  instruments:
  - Vocals
  - Instrumental
  target_instrument: null
augmentations:
  mixup_probs: !!python/tuple
    - 0.2
    - 0.02
"""


@pytest.mark.parametrize("wrap", [None, "state_dict"])
def test_load_mdx23c_ckpt_and_yaml(tmp_path, wrap):
    from discovervoice.separation.mdx23c import MDX23C, config_to_kwargs

    cfg_path = tmp_path / "model_2_stem.yaml"
    cfg_path.write_text(_MSST_YAML)
    kwargs = config_to_kwargs(M.read_mdx23c_config(cfg_path))
    assert kwargs["sources"] == ["vocals", "instrumental"]
    torch.manual_seed(3)
    net = MDX23C(**kwargs).eval()
    state = net.state_dict()
    # reference key names (UVR / MSST): first_conv, encoder_blocks.N.tfc_tdf.blocks.M.tdf.2...
    assert "encoder_blocks.0.tfc_tdf.blocks.0.tdf.2.weight" in state
    assert "final_conv.2.weight" in state
    torch.save(state if wrap is None else {wrap: state, "epoch": 3}, tmp_path / "m.ckpt")
    loaded = M.load_mdx23c_checkpoint(tmp_path / "m.ckpt")  # finds the only yaml in the folder
    x = _input(net)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net(x), atol=1e-6)
    # the folder form works too
    assert isinstance(M.load_mdx23c_checkpoint(tmp_path), MDX23C)


def test_mdx23c_errors(tmp_path):
    from discovervoice.separation.mdx23c import MDX23C, config_to_kwargs

    (tmp_path / "a").mkdir()
    cfg = tmp_path / "a" / "c.yaml"
    cfg.write_text(_MSST_YAML)
    net = MDX23C(**config_to_kwargs(M.read_mdx23c_config(cfg)))
    torch.save(net.state_dict(), tmp_path / "a" / "m.ckpt")
    # a config that does not match the tensors
    bad = tmp_path / "a" / "wrong.yaml"
    bad.write_text(_MSST_YAML.replace("num_channels: 4", "num_channels: 8"))
    with pytest.raises(WeightsError, match="do not match"):
        M.load_mdx23c_checkpoint(tmp_path / "a" / "m.ckpt", config=bad)
    # no yaml next to the checkpoint
    (tmp_path / "b").mkdir()
    torch.save(net.state_dict(), tmp_path / "b" / "m.ckpt")
    with pytest.raises(WeightsError, match="no yaml config"):
        M.load_mdx23c_checkpoint(tmp_path / "b" / "m.ckpt")
    (tmp_path / "c.yaml").write_text("just: text\n")
    with pytest.raises(WeightsError, match="not an MDX23C config"):
        M.read_mdx23c_config(tmp_path / "c.yaml")


def test_save_mdx23c_pair_round_trip(tmp_path):
    m = _tiny("mdx23c")
    ckpt, yml = M.save_mdx23c_checkpoint(m, tmp_path / "dv.ckpt")
    m2 = M.load_mdx23c_checkpoint(ckpt, config=yml)
    x = _input(m)
    with torch.no_grad():
        assert torch.allclose(m(x), m2(x), atol=1e-6)


def test_unknown_architecture():
    with pytest.raises(WeightsError, match="unknown separation architecture"):
        M.build_model("convtasnet", {})
    with pytest.raises(WeightsError, match="cannot build"):
        M.build_model("mdx23c", {"no_such_arg": 1})


def test_export_writes_a_registry_manifest(tmp_path):
    from discovervoice import weights as W

    m = _tiny("mdx23c")
    src = M.save_embedded(m, tmp_path / "run" / "best.safetensors", half=False, extra={"step": 7})
    dest, manifest = M.export_embedded(src, "dv-unit-sep", weights_dir=tmp_path / "w",
                                       source="unit test", licence="test-only")
    spec = W.registry(tmp_path / "w")["dv-unit-sep"]
    assert spec.task == "separation" and spec.embedded and spec.sample_rate == 44100
    assert spec.extra["sha256"] == W.sha256_of(dest)
    assert W.verify("dv-unit-sep", tmp_path / "w")[0][1] == "ok"
    net = M.load_embedded(W.resolve("dv-unit-sep", shipped_dir=tmp_path / "w"))
    assert net.dv_metadata["step"] == 7
    x = _input(m)
    with torch.no_grad():
        assert torch.allclose(net(x), m(x), atol=2e-2)


def test_weight_interpolation_between_a_network_and_its_fine_tuned_copy(tmp_path):
    torch.manual_seed(0)
    base = M.build_model("mdx23c", M.TINY_MDX23C)
    torch.manual_seed(1)
    tuned = M.build_model("mdx23c", M.TINY_MDX23C)
    pa, pb = M.save_embedded(base, tmp_path / "a.safetensors", half=False), \
        M.save_embedded(tuned, tmp_path / "b.safetensors", half=False)
    sa, sb = M.load_embedded(pa).state_dict(), M.load_embedded(pb).state_dict()
    for alpha, want in ((0.0, sa), (1.0, sb)):
        got = M.interpolate_weights(pa, pb, alpha).state_dict()
        for k in sa:
            torch.testing.assert_close(got[k], want[k], msg=k)
    mid = M.interpolate_weights(pa, pb, 0.25)
    k = next(k for k, v in sa.items() if v.is_floating_point() and v.numel() > 1)
    torch.testing.assert_close(mid.state_dict()[k], 0.75 * sa[k] + 0.25 * sb[k])
    x = torch.randn(1, 2, M.TINY_MDX23C["chunk_size"])
    assert mid(x).shape[:2] == (1, 2)
    with pytest.raises(WeightsError, match="alpha"):
        M.interpolate_weights(pa, pb, 1.5)
    other = M.build_model("mdx23c", dict(M.TINY_MDX23C, num_channels=8))
    with pytest.raises(WeightsError, match="same architecture"):
        M.interpolate_weights(pa, other, 0.5)

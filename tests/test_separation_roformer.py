"""BS-RoFormer / Mel-RoFormer: published checkpoint format, registry path, chunked apply,
typed errors, ensemble presets. Every checkpoint is a tiny one the test writes in the
MSST/UVR layout (``.ckpt`` state dict + yaml with ``audio``/``model``/``training``/
``inference`` sections); downloads use ``file://`` URLs, so no test reaches the network."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import yaml

from discovervoice import weights
from discovervoice.cli import main
from discovervoice.errors import WeightsUnavailableError
from discovervoice.separation import roformer as RF
from discovervoice.separation.api import Separator, load_msst_checkpoint
from discovervoice.separation.apply import apply_model
from discovervoice.separation.ensemble import PRESETS, Preset

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SR = 44100
N_FFT, HOP = 256, 64


def tiny_config(kind: str, *, dim: int = 16, chunk_hops: int = 344) -> dict:
    """An MSST-layout config of a tiny network (same sections and key names as the
    published viperx / Kimberley Jensen yaml files)."""
    model = {"dim": dim, "depth": 1, "stereo": True, "num_stems": 1, "time_transformer_depth": 1,
             "freq_transformer_depth": 1, "linear_transformer_depth": 0, "dim_head": 8, "heads": 2,
             "attn_dropout": 0.1, "ff_dropout": 0.1, "flash_attn": True, "dim_freqs_in": N_FFT // 2 + 1,
             "stft_n_fft": N_FFT, "stft_hop_length": HOP, "stft_win_length": N_FFT,
             "stft_normalized": False, "mask_estimator_depth": 2,
             "multi_stft_resolution_loss_weight": 1.0,
             "multi_stft_resolutions_window_sizes": (4096, 2048, 1024, 512, 256),
             "multi_stft_hop_size": 147, "multi_stft_normalized": False}
    if kind == "bs_roformer":
        model["freqs_per_bands"] = (8,) * 16 + (1,)            # 129 bins
    else:
        model.update(num_bands=8, sample_rate=SR)
    # chunk and step on the hop grid, as in the published configs (352800 = 800 x 441)
    return {"audio": {"chunk_size": chunk_hops * HOP, "dim_f": 1024, "dim_t": 801,
                      "hop_length": HOP, "n_fft": N_FFT, "num_channels": 2, "sample_rate": SR,
                      "min_mean_abs": 0.0},
            "model": model,
            "training": {"batch_size": 2, "instruments": ["vocals", "other"], "target_instrument": "vocals",
                         "use_amp": True},
            "inference": {"batch_size": 1, "dim_t": 801, "num_overlap": 2}}


def write_pair(folder, name: str, kind: str, *, seed: int = 0, local: bool = False, **cfg_kw):
    """Write ``name.ckpt`` (plain state dict, random weights) + ``name.yaml`` like MSST does
    (yaml written with PyYAML's full dumper, so tuples are ``!!python/tuple``)."""
    cfg = tiny_config(kind, **cfg_kw)
    _, kw = RF.config_to_kwargs(cfg)
    torch.manual_seed(seed)
    net = RF.build_roformer(kind, kw)
    with torch.no_grad():
        for p in net.parameters():        # random, not the init's ones: every tensor matters
            p.add_(0.05 * torch.randn_like(p))
        if local:   # no attention along time: the output depends on nearby frames only
            for block in net.layers:
                for lyr in block[0].layers:
                    lyr[0].to_out[0].weight.zero_()
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = folder / f"{name}.ckpt"
    torch.save({k: v for k, v in net.state_dict().items()}, ckpt)
    (folder / f"{name}.yaml").write_text(yaml.dump(cfg, sort_keys=False))
    return ckpt, folder / f"{name}.yaml", net


def song(seconds: float, seed: int = 0) -> np.ndarray:
    """A stereo mixture: a vibrato 'voice' (harmonic, 220-440 Hz), a bass line and noise bursts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 220 * 2 ** (np.floor(t * 2) % 12 / 12) * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = sum(0.2 / h * np.sin(h * phase) for h in range(1, 6))
    bass = 0.2 * np.sin(2 * np.pi * 55 * t)
    drums = 0.2 * rng.standard_normal(t.size) * np.exp(-30 * (t % 0.5))
    mix = voice + bass + drums
    return np.stack([mix + 0.05 * voice, mix - 0.05 * voice]).astype(np.float32)


def snr_db(ref: torch.Tensor, est: torch.Tensor) -> float:
    return float(10 * torch.log10(ref.pow(2).sum() / (ref - est).pow(2).sum()))


# --------------------------------------------------------------------------- format

@pytest.mark.parametrize("kind", ["bs_roformer", "mel_band_roformer"])
def test_state_dict_uses_the_published_key_names(kind):
    _, kw = RF.config_to_kwargs(tiny_config(kind))
    keys = set(RF.build_roformer(kind, kw).state_dict())
    # names as in the published viperx / Kimberley Jensen checkpoints (MSST module layout)
    for k in ("layers.0.0.layers.0.0.norm.gamma", "layers.0.0.layers.0.0.to_qkv.weight",
              "layers.0.0.layers.0.0.to_gates.weight", "layers.0.0.layers.0.0.to_out.0.weight",
              "layers.0.0.layers.0.0.rotary_embed.freqs", "layers.0.1.layers.0.0.rotary_embed.freqs",
              "layers.0.0.layers.0.1.net.0.gamma", "layers.0.0.layers.0.1.net.1.weight",
              "layers.0.0.layers.0.1.net.4.bias", "band_split.to_features.0.0.gamma",
              "band_split.to_features.0.1.weight", "mask_estimators.0.to_freqs.0.0.0.weight",
              "mask_estimators.0.to_freqs.0.0.2.weight"):
        assert k in keys, k
    if kind == "bs_roformer":   # one final norm; mask MLPs with depth - 1 hidden layers
        assert "final_norm.gamma" in keys and "layers.0.0.norm.gamma" not in keys
        assert "mask_estimators.0.to_freqs.0.0.4.weight" not in keys
    else:                       # a norm after each transformer; depth hidden layers
        assert "final_norm.gamma" not in keys and "layers.0.0.norm.gamma" in keys
        assert "mask_estimators.0.to_freqs.0.0.4.weight" in keys


def test_mel_bands_overlap_and_cover_every_bin():
    _, kw = RF.config_to_kwargs(tiny_config("mel_band_roformer"))
    net = RF.build_roformer("mel_band_roformer", kw)
    per_freq = net.bands_per_freq.view(-1, 2)[:, 0]
    assert per_freq.min() >= 1 and per_freq.max() >= 2       # every bin covered, some shared
    assert net.overlapping


@pytest.mark.parametrize("kind", ["bs_roformer", "mel_band_roformer"])
def test_checkpoint_pair_loads_and_gives_stems_summing_to_the_mixture(tmp_path, kind):
    ckpt, yml, ref_net = write_pair(tmp_path / "m", "model", kind)
    net = load_msst_checkpoint(ckpt)                 # the yaml tells a RoFormer from an MDX23C
    assert isinstance(net, RF.ARCHITECTURES[kind])
    for k, v in ref_net.state_dict().items():
        assert torch.equal(net.state_dict()[k], v), k
    sep = Separator(str(ckpt))
    assert sep.sample_rate == SR and sep.stems == ["vocals", "accompaniment"]
    x = song(1.3)
    out = sep.separate(x, SR)
    assert out["vocals"].shape == x.shape and out["vocals"].dtype == np.float32
    assert np.isfinite(out["vocals"]).all()
    # target-instrument model: the second stem is mixture - vocals (MSST/UVR convention)
    assert np.allclose(out["vocals"] + out["accompaniment"], x, atol=1e-4)
    assert float(np.abs(out["vocals"]).max()) > 1e-4


def test_transformers_run_in_token_groups_with_the_same_result(tmp_path):
    ckpt, _, _ = write_pair(tmp_path, "m", "mel_band_roformer")
    net = RF.load_roformer_checkpoint(ckpt)
    x = torch.from_numpy(song(0.4, seed=2))[None]
    with torch.inference_mode():
        whole = net(x)
        net.max_tokens = 50          # a few sequences per call
        grouped = net(x)
    assert torch.allclose(whole, grouped, atol=1e-5)


def test_mismatch_between_config_and_state_dict_names_both_files(tmp_path):
    ckpt, yml, _ = write_pair(tmp_path, "model", "bs_roformer", dim=16)
    cfg = yaml.unsafe_load(yml.read_text())
    cfg["model"]["dim"] = 24
    other = tmp_path / "wrong.yaml"
    other.write_text(yaml.dump(cfg))
    with pytest.raises(RF.RoformerCheckpointError) as e:
        RF.load_roformer_checkpoint(ckpt, config=other)
    msg = str(e.value)
    assert str(ckpt) in msg and str(other) in msg and "shape mismatch" in msg
    # a Mel config for a BS checkpoint: missing and unexpected tensors, named
    mel = tmp_path / "mel.yaml"
    mel.write_text(yaml.dump(tiny_config("mel_band_roformer")))
    with pytest.raises(RF.RoformerCheckpointError, match=r"model\.ckpt does not fit its config .*mel\.yaml"):
        RF.load_roformer_checkpoint(ckpt, config=mel)
    # an option this implementation lacks is refused by name
    cfg["model"]["dim"] = 16
    cfg["model"]["use_pope"] = True
    pope = tmp_path / "pope.yaml"
    pope.write_text(yaml.dump(cfg))
    with pytest.raises(RF.RoformerCheckpointError, match="use_pope"):
        RF.load_roformer_checkpoint(ckpt, config=pope)


# --------------------------------------------------------------------------- registry

@pytest.fixture()
def tiny_registry(tmp_path, monkeypatch):
    """Two published-style registry entries whose files are served from ``file://`` URLs."""
    server = tmp_path / "server"
    wdir = tmp_path / "weights"
    wdir.mkdir()
    for name, kind in (("tiny_bs_roformer", "bs_roformer"), ("tiny_mel_roformer", "mel_band_roformer")):
        ckpt, yml, _ = write_pair(server / name, name, kind, seed=len(name))
        spec = {"name": name, "task": "separation", "architecture": kind, "file_format": "roformer-ckpt+yaml",
                "sample_rate": SR, "licence": "test", "factory": RF.__name__ + ":load_roformer_checkpoint",
                "files": [{"filename": ckpt.name, "url": ckpt.as_uri(), "sha256": weights.sha256_of(ckpt)},
                          {"filename": yml.name, "url": yml.as_uri()}],
                "extra": {"stems": ["vocals", "accompaniment"], "roformer": kind}}
        (wdir / f"{name}.json").write_text(json.dumps(spec))
    monkeypatch.setattr(weights, "SHIPPED_DIR", wdir)
    monkeypatch.setenv("DISCOVERVOICE_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_registry_entry_fetch_then_separate(tiny_registry, capsys):
    with pytest.raises(WeightsUnavailableError, match="discovervoice weights fetch tiny_mel_roformer"):
        Separator("tiny_mel_roformer")
    assert main(["weights", "fetch", "tiny_bs_roformer", "tiny_mel_roformer"]) == 0
    x = song(1.0, seed=3)
    for name in ("tiny_bs_roformer", "tiny_mel_roformer"):
        sep = Separator(name, stems=("vocals",))
        out = sep.separate(x, SR)
        assert set(out) == {"vocals", "accompaniment"} and out["vocals"].shape == x.shape
        assert np.allclose(out["vocals"] + out["accompaniment"], x, atol=1e-4)


def test_published_roformer_entries_and_their_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DISCOVERVOICE_CACHE", str(tmp_path / "empty"))
    reg = weights.registry()
    for name in ("bs_roformer_viperx_1297", "mel_roformer_kim_vocals"):
        spec = reg[name]
        assert spec.task == "separation" and spec.sample_rate == 44100 and spec.licence
        assert [f.filename.rsplit(".", 1)[1] for f in spec.files] == ["ckpt", "yaml"]
        assert all(f.url.startswith("https://") for f in spec.files)
        with pytest.raises(WeightsUnavailableError) as e:
            Separator(name)
        assert spec.files[0].filename in str(e.value) and f"weights fetch {name}" in str(e.value)
    for preset in PRESETS.values():
        assert all(m in reg for m in preset.members)


# --------------------------------------------------------------------------- chunking

@pytest.mark.parametrize("kind", ["bs_roformer", "mel_band_roformer"])
def test_chunked_equals_unchunked(tmp_path, kind):
    """With attention along time switched off the network only sees nearby STFT frames, so
    the chunked overlap-add (0.5-s chunks, MSST's num_overlap=2 and fades, every chunk on
    the song's frame grid) must give the one-pass result; only the frames at chunk borders
    (reflect-padded by the STFT, faded out) can differ."""
    ckpt, _, _ = write_pair(tmp_path, "m", kind, local=True)
    net = RF.load_roformer_checkpoint(ckpt)
    assert net.segment == pytest.approx(344 * HOP / SR) and net.num_overlap == 2
    x = torch.from_numpy(song(3.1, seed=1))
    whole = apply_model(net, x, split=False)
    chunked = apply_model(net, x)                       # the checkpoint's own conventions
    assert chunked.shape == whole.shape == (1, 2, 2, x.shape[-1])
    assert snr_db(whole[0, 0], chunked[0, 0]) > 40.0


def test_long_input_never_reaches_the_network_whole(tmp_path):
    ckpt, _, _ = write_pair(tmp_path, "m", "mel_band_roformer")
    net = RF.load_roformer_checkpoint(ckpt)
    seen = []
    net.register_forward_pre_hook(lambda m, a: seen.append(tuple(a[0].shape)))
    x = torch.from_numpy(song(6.0))
    apply_model(net, x)
    assert max(s[-1] for s in seen) == net.chunk_size and max(s[0] for s in seen) == 1
    assert len(seen) == pytest.approx(6.0 / (net.segment / 2), abs=1)   # step = chunk / num_overlap


# --------------------------------------------------------------------------- presets

def test_ensemble_preset_runs_its_members_with_its_method(tmp_path, monkeypatch):
    a, _, _ = write_pair(tmp_path / "a", "a", "bs_roformer", seed=1)
    b, _, _ = write_pair(tmp_path / "b", "b", "mel_band_roformer", seed=2)
    monkeypatch.setitem(PRESETS, "tiny_full", Preset((str(a), str(b)), "max_mag", "test"))
    monkeypatch.setitem(PRESETS, "tiny_avg", Preset((str(a), str(b)), "average", "test"))
    x = song(1.2, seed=5)
    full = Separator("tiny_full", stems=("vocals",)).separate(x, SR)["vocals"]
    avg = Separator(model="ensemble", preset="tiny_avg").separate(x, SR)["vocals"]
    va = Separator(str(a)).separate(x, SR)["vocals"]
    vb = Separator(str(b)).separate(x, SR)["vocals"]
    assert np.allclose(avg, (va + vb) / 2, atol=1e-5)
    # max of magnitudes per bin: at least as much energy as either member
    assert (full ** 2).sum() >= 0.99 * max((va ** 2).sum(), (vb ** 2).sum())
    out = tmp_path / "out"
    src = tmp_path / "song.wav"
    import soundfile as sf

    sf.write(src, x.T, SR, subtype="FLOAT")
    assert main(["separate", str(src), "-o", str(out), "--ensemble-preset", "tiny_avg",
                 "--no-progress"]) == 0
    got, sr = sf.read(out / "song" / "vocals.wav", dtype="float32", always_2d=True)
    assert sr == SR and np.allclose(got.T, avg, atol=1e-4)


def test_unknown_preset_is_a_clear_error():
    from discovervoice.separation.api import SeparationError

    with pytest.raises(SeparationError, match="unknown ensemble preset 'nope'.*vocal_balanced"):
        Separator(preset="nope")


def test_mdx23c_pair_still_loads_through_the_same_dispatch(tmp_path):
    from discovervoice.separation import models as M
    from discovervoice.separation.mdx23c import MDX23C

    torch.manual_seed(0)
    net = M.build_model("mdx23c", M.TINY_MDX23C)
    ckpt, _ = M.save_mdx23c_checkpoint(net, tmp_path / "mdx" / "m.ckpt")
    assert isinstance(load_msst_checkpoint(ckpt), MDX23C)
    assert copy.deepcopy(Separator(str(ckpt))).stems == ["vocals", "accompaniment"]

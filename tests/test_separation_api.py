"""Separator API: stems, two-stem mode, channel handling, exact lengths, ensembles."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from discovervoice.errors import AudioError, AudioLoadError, WeightsError
from discovervoice.separation import models as M
from discovervoice.separation.api import SeparationError, Separator
from discovervoice.separation.ensemble import EnsembleError, combine


pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR = 8000


class GainNet(nn.Module):
    """Context-free test network: source i = gains[i] * mixture (per channel)."""

    def __init__(self, sources, gains, channels=2):
        super().__init__()
        self.sources = list(sources)
        self.samplerate = SR
        self.audio_channels = channels
        self.segment = 0.5
        self.register_buffer("g", torch.tensor(gains, dtype=torch.float32))

    def valid_length(self, n):
        return n

    def forward(self, x):
        return self.g.view(1, -1, 1, 1) * x.unsqueeze(1)


def _sig(channels, n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)
    return np.stack([x * (1 + 0.1 * c) for c in range(channels)]).astype(np.float32)


FOUR = GainNet(["drums", "bass", "other", "vocals"], [0.1, 0.2, 0.3, 0.4])


def test_four_stems_and_exact_shape():
    sep = Separator(FOUR, normalize=False)
    assert sep.stems == ["drums", "bass", "other", "vocals"]
    assert sep.sample_rate == SR
    x = _sig(2, 12345)
    out = sep.separate(x)
    assert set(out) == set(sep.stems)
    for k, g in zip(sep.stems, [0.1, 0.2, 0.3, 0.4]):
        assert out[k].shape == x.shape and out[k].dtype == np.float32
        np.testing.assert_allclose(out[k], g * x, atol=1e-5)


def test_two_stem_mode_sums_the_other_stems():
    sep = Separator(FOUR, stems=("vocals",), normalize=False)
    assert sep.stems == ["vocals", "accompaniment"]
    x = _sig(2, 5000)
    out = sep.separate(x)
    np.testing.assert_allclose(out["accompaniment"], 0.6 * x, atol=1e-5)
    drums = Separator(FOUR, stems=("drums",), normalize=False).separate(x)
    assert set(drums) == {"drums", "no_drums"}
    np.testing.assert_allclose(drums["no_drums"], 0.9 * x, atol=1e-5)


def test_two_source_model_names_its_complement_accompaniment():
    net = GainNet(["vocals", "instrumental"], [0.25, 0.75])
    sep = Separator(net)
    assert sep.stems == ["vocals", "accompaniment"]
    with pytest.raises(SeparationError, match="cannot give"):
        Separator(net, stems=("vocals", "drums"))
    with pytest.raises(SeparationError, match="no stem 'drums'"):
        Separator(net, stems=("drums",))


@pytest.mark.parametrize("channels", [1, 2, 3, 5])
def test_any_channel_count_is_kept(channels):
    sep = Separator(FOUR, normalize=False)
    x = _sig(channels, 4001)
    out = sep.separate(x)
    for k, g in zip(sep.stems, [0.1, 0.2, 0.3, 0.4]):
        assert out[k].shape == (channels, 4001)
        np.testing.assert_allclose(out[k], g * x, atol=1e-5)


def test_one_dimensional_input_and_normalisation_is_undone():
    sep = Separator(FOUR, normalize=True)
    x = _sig(1, 3000)[0] + 0.2  # DC offset: normalisation subtracts and restores it
    out = sep.separate(x)
    assert out["vocals"].shape == (1, 3000)
    # gain nets commute with the affine normalisation except for the mean term
    np.testing.assert_allclose(out["vocals"][0], 0.4 * (x - x.mean()) + x.mean(), atol=1e-4)


def test_input_validation():
    sep = Separator(FOUR)
    with pytest.raises(AudioError, match="resample"):
        sep.separate(_sig(2, 100), sample_rate=44100)
    bad = _sig(2, 100)
    bad[0, 3] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        sep.separate(bad)
    with pytest.raises(AudioError):
        sep.separate(np.zeros((2, 0), dtype=np.float32))
    with pytest.raises(SeparationError):
        Separator(FOUR, overlap=1.5)


def test_path_input_is_loaded_at_the_model_rate(tmp_path):
    x = _sig(2, 16000)
    sf.write(tmp_path / "a.wav", x.T, 16000)  # resampled to 8 kHz on load
    out = Separator(FOUR, normalize=False).separate(tmp_path / "a.wav")
    assert out["vocals"].shape == (2, 8000)
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really")
    with pytest.raises(AudioLoadError):
        Separator(FOUR).separate(tmp_path / "bad.wav")


def test_real_tiny_networks_from_files(tmp_path):
    torch.manual_seed(0)
    net = M.build_model("mdx23c", M.TINY_MDX23C).eval()
    path = M.save_embedded(net, tmp_path / "dv-test.safetensors")
    sep = Separator(str(path), stems=("vocals",))
    assert sep.sample_rate == 44100
    progress = []
    sep.progress = lambda f, m: progress.append(f)
    x = _sig(1, 44100 // 2)
    out = sep.separate(x)
    assert out["vocals"].shape == (1, 22050)
    assert progress[0] == 0.0 and progress[-1] == 1.0
    with pytest.raises(WeightsError, match="unknown separation model"):
        Separator("no-such-model")


def test_progress_callback_and_shifts_keep_shape():
    seen = []
    sep = Separator(FOUR, shifts=2, progress=lambda f, m: seen.append((f, m)), normalize=False)
    x = _sig(2, 7000)
    out = sep.separate(x)
    np.testing.assert_allclose(out["vocals"], 0.4 * x, atol=1e-5)
    fr = [f for f, _ in seen]
    assert fr == sorted(fr) and fr[-1] == 1.0


# --------------------------------------------------------------------------- ensembles

def test_ensemble_waveform_average_is_weighted():
    a = GainNet(["vocals", "accompaniment"], [0.2, 0.8])
    b = GainNet(["vocals", "accompaniment"], [0.6, 0.4])
    sep = Separator("ensemble", members=[a, b], weights=[3, 1], method="average", normalize=False)
    x = _sig(2, 6000)
    out = sep.separate(x)
    np.testing.assert_allclose(out["vocals"], (0.75 * 0.2 + 0.25 * 0.6) * x, atol=1e-5)
    assert sep.stems == ["vocals", "accompaniment"]


@pytest.mark.parametrize("method", ["median_mag", "max_mag", "min_mag", "mask_avg"])
def test_spectral_methods_on_scaled_copies(method):
    # members that are scaled copies of one signal share its phase: max / min / median of
    # magnitudes are then the largest / smallest / middle copy
    x = _sig(2, 20000)
    ests = [0.2 * x, 0.5 * x, 0.3 * x]
    y = combine(ests, None, method, mixture=x, sample_rate=SR, n_fft=512, hop_length=128)
    expect = {"median_mag": 0.3, "max_mag": 0.5, "min_mag": 0.2,
              "mask_avg": (0.2 + 0.5 + 0.3) / 3}[method]
    err = np.sum((y - expect * x) ** 2) / np.sum((expect * x) ** 2)
    assert err < 1e-6, err


def test_spectral_method_differs_from_average_on_different_signals():
    rng = np.random.default_rng(1)
    ests = [rng.standard_normal((2, 20000)).astype(np.float32) for _ in range(2)]
    avg = combine(ests, None, "average")
    mx = combine(ests, None, "max_mag", sample_rate=SR, n_fft=512, hop_length=128)
    assert np.mean(mx ** 2) > np.mean(avg ** 2) * 1.5


def test_ensemble_errors():
    x = _sig(2, 100)
    with pytest.raises(EnsembleError, match="unknown ensemble method"):
        combine([x], None, "vote")
    with pytest.raises(EnsembleError, match="weights"):
        combine([x, x], [1.0], "average")
    with pytest.raises(EnsembleError, match="mixture"):
        combine([x, x], None, "mask_avg")
    a = GainNet(["vocals", "accompaniment"], [0.2, 0.8])
    b = GainNet(["vocals", "accompaniment"], [0.6, 0.4])
    b.samplerate = 16000
    with pytest.raises(EnsembleError, match="different rates"):
        Separator("ensemble", members=[a, b])


def _demucs_file(path, seed):
    torch.manual_seed(seed)
    net = M.build_model("htdemucs", dict(M.TINY_HTDEMUCS, sources=["drums", "bass", "other", "vocals"]))
    args, kwargs = net._init_args_kwargs
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"klass": net.__class__, "args": args, "kwargs": kwargs,
                "state": net.state_dict(), "training_args": {}}, path)
    return net


def test_registry_htdemucs_ft_loads_only_the_vocals_submodel_when_asked(tmp_path, monkeypatch):
    from discovervoice import weights as W

    monkeypatch.setenv("DISCOVERVOICE_CACHE", str(tmp_path / "cache"))
    spec = W.get_spec("htdemucs_ft")
    with pytest.raises(WeightsError, match="discovervoice weights fetch"):
        Separator("htdemucs_ft", stems=("vocals",))
    nets = [_demucs_file(tmp_path / "cache" / "htdemucs_ft" / f.filename, i)
            for i, f in enumerate(spec.files)]
    sep = Separator("htdemucs_ft", stems=("vocals",))
    assert sep.name == "htdemucs_ft_vocals" and sep.stems == ["vocals", "accompaniment"]
    assert not hasattr(sep.network, "models")
    assert torch.equal(sep.network.state_dict()["encoder.0.conv.weight"],
                       nets[3].state_dict()["encoder.0.conv.weight"])
    full = Separator("htdemucs_ft")
    assert len(full.network.models) == 4 and full.stems == ["drums", "bass", "other", "vocals"]
    out = full.separate(_sig(2, 44100 // 4))
    assert out["drums"].shape == (2, 44100 // 4)

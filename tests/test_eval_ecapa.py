"""ECAPA-TDNN in the SpeechBrain checkpoint format: layout, round trip, front end."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from discovervoice.errors import WeightsError  # noqa: E402
from discovervoice.eval import ecapa  # noqa: E402
from discovervoice.testsignals import harmonic_voice  # noqa: E402

SMALL = dict(input_size=24, channels=[16, 16, 16, 16, 48], kernel_sizes=[5, 3, 3, 3, 1],
             dilations=[1, 2, 3, 4, 1], attention_channels=8, res2net_scale=4,
             se_channels=8, lin_neurons=12)

HYPERPARAMS = """\
n_mels: 24
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [16, 16, 16, 16, 48]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 8
    res2net_scale: 4
    se_channels: 8
    lin_neurons: 12
"""


def test_published_layout():
    sd = ecapa.ecapa_tdnn(**ecapa.VOXCELEB_CONFIG).state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    # SpeechBrain names: Conv1d wraps nn.Conv1d as .conv, BatchNorm1d wraps .norm
    assert shapes["blocks.0.conv.conv.weight"] == (1024, 80, 5)
    assert shapes["blocks.0.norm.norm.running_var"] == (1024,)
    assert shapes["blocks.1.res2net_block.blocks.6.conv.conv.weight"] == (128, 128, 3)
    assert shapes["blocks.3.se_block.conv2.conv.weight"] == (1024, 128, 1)
    assert shapes["mfa.conv.conv.weight"] == (3072, 3072, 1)
    assert shapes["asp.tdnn.conv.conv.weight"] == (128, 9216, 1)
    assert shapes["asp_bn.norm.weight"] == (6144,)
    assert shapes["fc.conv.weight"] == (192, 6144, 1)
    assert not any(k.startswith("blocks.1.shortcut") for k in shapes)
    n = sum(int(np.prod(s)) for k, s in shapes.items() if not k.endswith("num_batches_tracked"))
    assert 20e6 < n < 22e6  # the published embedding model has about 20.8 M parameters


def test_checkpoint_round_trip_with_hyperparams(tmp_path):
    torch.manual_seed(0)
    model = ecapa.ecapa_tdnn(**SMALL)
    with torch.no_grad():  # non-trivial BatchNorm statistics, as a trained model has
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model.eval()
    folder = tmp_path / "ecapa_voxceleb"
    folder.mkdir()
    torch.save(model.state_dict(), folder / "embedding_model.ckpt")
    (folder / "hyperparams.yaml").write_text(HYPERPARAMS)
    enc = ecapa.load_ecapa(folder)
    assert enc.n_mels == 24
    x = harmonic_voice(140.0, seconds=1.5)
    with torch.inference_mode():
        expected = model(ecapa.fbank(x, 24))[0, 0].numpy()
    got = enc.embed(x, 16000)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert got.shape == (12,)
    # same clip at 44.1 kHz stereo: resampled and mixed down, nearly the same embedding
    from discovervoice.audio import resample

    st = np.stack([x, x])
    e44 = enc.embed(resample(st, 16000, 44100), 44100)
    cos = float(e44 @ got / np.linalg.norm(e44) / np.linalg.norm(got))
    assert cos > 0.99
    # the checkpoint file alone (no hyperparams next to it) needs the config
    solo = tmp_path / "solo.ckpt"
    torch.save(model.state_dict(), solo)
    with pytest.raises(WeightsError, match="not an ECAPA-TDNN state dict"):
        ecapa.load_ecapa(solo)
    np.testing.assert_allclose(ecapa.load_ecapa(solo, **SMALL).embed(x, 16000), expected,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(WeightsError, match="not found"):
        ecapa.load_ecapa(tmp_path / "missing")


def test_fbank_front_end():
    sr = 16000
    t = np.arange(sr) / sr
    tone = 0.5 * np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
    f = ecapa.fbank(tone, 80)
    assert tuple(f.shape) == (1, 101, 80)  # centred 10 ms frames
    # mean-normalised over time
    np.testing.assert_allclose(f.mean(dim=1).numpy(), 0.0, atol=1e-4)
    raw = f[0] + 0  # the loudest band is the one centred nearest 1 kHz
    mel = np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 82)
    centres = 700 * (10 ** (mel / 2595) - 1)[1:-1]
    mid = raw[50]
    assert int(mid.argmax()) == int(np.argmin(np.abs(centres - 1000.0)))
    # 80 dB dynamic range clip
    assert float(mid.max() - mid.min()) <= 80.0 + 1e-3


def test_ecapa_local_checkpoint_via_speaker_module(tmp_path):
    from discovervoice.eval.speaker import get_encoder, speaker_similarity

    torch.manual_seed(1)
    folder = tmp_path / "ecapa"
    folder.mkdir()
    torch.save(ecapa.ecapa_tdnn(**SMALL).state_dict(), folder / "embedding_model.ckpt")
    (folder / "hyperparams.yaml").write_text(HYPERPARAMS)
    enc = get_encoder("ecapa", checkpoint=folder)
    a = harmonic_voice(140.0, seconds=1.0)
    assert speaker_similarity(a, 16000, a, 16000, encoder=enc) == pytest.approx(1.0, abs=1e-6)

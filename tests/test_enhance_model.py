"""CRNN enhancer: training steps, checkpoint round-trip, lengths, chunking, causality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from discovervoice.corpus.mix import coloured_noise, mix_at_snr
from discovervoice.enhance.apply import Enhancer
from discovervoice.enhance.model import CRNN, load_crnn, save_crnn
from discovervoice.errors import AudioError, WeightsError

SR = 16000
TINY = {"channels": [4, 8], "hidden": 8, "layers": 1}


def _speechlike(seconds: float, rng: np.random.Generator, f0: float = 140.0) -> np.ndarray:
    """Harmonic tone with a syllable-rate envelope (a voiced-speech stand-in)."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 0.5
    return (0.05 * x * env).astype(np.float32)


def _write_pairs(root, n: int, rng: np.random.Generator, snrs=(15.0, 20.0, 25.0)):
    from discovervoice import audio

    for split in ("train", "valid"):
        for i in range(n):
            clean = _speechlike(1.5, rng, f0=110 + 20 * i)
            noisy, _, _ = mix_at_snr(clean, coloured_noise(clean.size, "pink", rng),
                                     snrs[i % len(snrs)])
            audio.save(root / split / "clean" / f"{i:03d}.wav", clean, SR)
            audio.save(root / split / "noisy" / f"{i:03d}.wav", noisy.astype(np.float32), SR)
    return root


def test_tiny_crnn_trains_two_steps_resumes_and_round_trips(tmp_path):
    from discovervoice.enhance.train import TrainConfig, train

    data = _write_pairs(tmp_path / "pairs", 3, np.random.default_rng(0))
    torch.manual_seed(0)
    init = CRNN(**TINY).state_dict()
    cfg = TrainConfig(data=str(data), valid=str(data / "valid"), out=str(tmp_path / "run"),
                      steps=2, batch_size=2, segment_seconds=0.5, valid_every=1,
                      checkpoint_every=1, model=TINY)
    path = train(cfg)
    assert path.exists() and (tmp_path / "run" / "checkpoint.pt").exists()
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 2
    changed = [k for k in init if not torch.equal(init[k], ck["model"][k])]
    assert changed, "two optimiser steps changed no weight"
    # resume continues from step 2 to step 3
    cfg.steps = 3
    train(cfg, resume=True)
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["step"] == 3
    assert "resuming from" in (tmp_path / "run" / "train.log").read_text()

    # round trip: the .pt checkpoint and an fp32 safetensors file rebuild the same network
    model = load_crnn(tmp_path / "run" / "checkpoint.pt")
    assert model.config.channels == (4, 8) and model.config.hidden == 8
    f32 = save_crnn(model, tmp_path / "m32.safetensors", half=False)
    again = load_crnn(f32)
    x = torch.from_numpy(_speechlike(0.7, np.random.default_rng(1)))[None]
    with torch.inference_mode():
        assert torch.allclose(model(x), again(x), atol=1e-6)
        # fp16 file: same network up to half precision
        half = load_crnn(save_crnn(model, tmp_path / "m16.safetensors"))
        assert torch.allclose(model(x), half(x), atol=2e-3)


@pytest.mark.parametrize("length", [1, 200, 511, 16000, 3 * SR + 17])
def test_output_length_equals_input_length(length):
    enh = Enhancer(CRNN(**TINY), chunk_seconds=1.0, overlap_seconds=0.25)
    rng = np.random.default_rng(length)
    x = (0.1 * rng.standard_normal((2, length))).astype(np.float32)
    y = enh.enhance(x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert enh.enhance(x[0]).shape == (length,)


def test_chunked_overlap_add_reconstructs_with_a_unit_mask():
    """With the mask forced to 1 the enhancer must give back its input, across chunk
    borders, cross-fades and level normalisation (checks the apply machinery)."""
    model = CRNN(**TINY)
    with torch.no_grad():
        model.decoder[-1].weight.zero_()
        model.decoder[-1].bias.fill_(30.0)
    enh = Enhancer(model, chunk_seconds=1.0, overlap_seconds=0.3, batch_size=3)
    x = _speechlike(3.7, np.random.default_rng(2))[None] * 3.0
    progress = []
    y = enh.enhance(x, progress=lambda f, m: progress.append(f))
    assert np.max(np.abs(y - x)) < 1e-4 * np.max(np.abs(x)) + 1e-6
    assert progress and progress[-1] == pytest.approx(1.0)


def test_causal_model_does_not_look_ahead():
    torch.manual_seed(0)
    model = CRNN(causal=True, **TINY).eval()
    rng = np.random.default_rng(3)
    a = torch.from_numpy((0.1 * rng.standard_normal(SR)).astype(np.float32))[None]
    b = a.clone()
    b[:, 12000:] = torch.from_numpy((0.1 * rng.standard_normal(SR - 12000)).astype(np.float32))
    with torch.inference_mode():
        ya, yb = model(a), model(b)
    # samples up to one STFT window before the change are identical
    cut = 12000 - model.config.n_fft
    assert torch.allclose(ya[:, :cut], yb[:, :cut], atol=1e-6)
    assert not torch.allclose(ya[:, 12000:], yb[:, 12000:])
    # the non-causal model does look ahead
    nc = CRNN(causal=False, **TINY).eval()
    with torch.inference_mode():
        assert not torch.allclose(nc(a)[:, :cut], nc(b)[:, :cut], atol=1e-6)


def test_bad_input_and_bad_checkpoint_raise_typed_errors(tmp_path):
    enh = Enhancer(CRNN(**TINY))
    with pytest.raises(AudioError, match="NaN"):
        enh.enhance(np.array([0.0, np.nan, 0.1], np.float32))
    with pytest.raises(AudioError, match="floating"):
        enh.enhance(np.zeros(100, np.int16))
    with pytest.raises(AudioError, match="shape"):
        enh.enhance(np.zeros((1, 2, 100), np.float32))
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(WeightsError, match="not a DiscoverVoice CRNN"):
        load_crnn(tmp_path / "other.safetensors")
    with pytest.raises(WeightsError, match="not found"):
        load_crnn(tmp_path / "missing.safetensors")


def test_silence_stays_silence():
    enh = Enhancer(CRNN(**TINY))
    y = enh.enhance(np.zeros((1, 4000), np.float32))
    assert np.all(y == 0.0)


@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None, reason="needs espeak-ng")
def test_shipped_default_enhancer_removes_noise_from_unseen_speech(tmp_path):
    """The embedded dv-enhance-crnn on espeak-ng speech (a synthesiser it was not trained
    on) with pink noise at 15 dB: SI-SDR must improve."""
    import subprocess

    from discovervoice import audio, weights
    from discovervoice.enhance.metrics import si_sdr

    wav = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav),
                    "The quick brown fox jumps over the lazy dog near the river bank."],
                   check=True)
    clean = audio.load(wav, SR, channels=1)[0].astype(np.float64)
    noisy, _, _ = mix_at_snr(clean, coloured_noise(clean.size, "pink",
                                                   np.random.default_rng(0)), 15.0)
    enh = weights.load_model("dv-enhance-crnn")
    assert enh.sample_rate == SR
    y = enh.enhance(noisy.astype(np.float32)[None])[0]
    assert y.shape == clean.shape
    assert si_sdr(clean, y) > si_sdr(clean, noisy) + 2.0

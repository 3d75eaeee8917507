"""The CRNN speech enhancer: a convolutional encoder over the STFT magnitude, recurrent
layers over time and a magnitude mask (Tan & Wang 2018, "A Convolutional Recurrent Neural
Network for Real-Time Speech Enhancement", Interspeech; mask estimation as in NSNet,
Xia et al. 2020, and Braun & Tashev 2021, "A consistency-aware compressed spectral loss").

Shapes (``B`` batch, ``T`` samples, ``N`` STFT frames, ``F = n_fft // 2 + 1`` bins):

* :meth:`CRNN.forward`: ``Tensor[B, T]`` noisy waveform -> ``Tensor[B, T]`` enhanced
  waveform (same length). Pure: no chunking, no level handling, no progress (those live in
  :class:`discovervoice.enhance.apply.Enhancer`, demucs ``apply.py`` style).
* :meth:`CRNN.estimate_mask`: ``Tensor[B, N, F]`` magnitude -> ``Tensor[B, N, F]`` mask in
  [0, 1].

``causal=True`` pads the convolutions only on the past side and uses a unidirectional GRU,
so a frame's mask depends on that frame and earlier ones only (streaming, latency = one
STFT window); ``causal=False`` sees the whole chunk (bidirectional GRU).

Checkpoints are :mod:`discovervoice.checkpoint` files (weights + constructor arguments +
metadata), so that a file rebuilds its own model (:func:`save_crnn`, :func:`load_crnn`);
the registry factory,
:func:`discovervoice.enhance.apply.load_enhancer`, wraps one in the stage object.

Libraries: torch (network, STFT), safetensors (checkpoint files).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from discovervoice.errors import WeightsError

#: ``format`` value written in the safetensors metadata of CRNN checkpoints.
CHECKPOINT_FORMAT = "discovervoice-enhance-crnn/1"


@dataclass
class CRNNConfig:
    """Constructor arguments of :class:`CRNN` (stored in every checkpoint).

    Attributes:
        sample_rate: rate the model was trained at, Hz.
        n_fft: STFT size in samples (window = ``n_fft``, Hann).
        hop: STFT hop in samples.
        channels: output channels of each encoder conv layer (each halves the bins).
        kernel: (time, frequency) kernel of the encoder convs.
        hidden: GRU hidden size (per direction when not causal).
        layers: GRU layers.
        causal: no look-ahead (unidirectional GRU, past-only time padding).
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop: int = 128
    channels: tuple[int, ...] = (16, 32, 32)
    kernel: tuple[int, int] = (3, 5)
    hidden: int = 128
    layers: int = 2
    causal: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CRNNConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise WeightsError(f"unknown CRNN config keys {sorted(unknown)}")
        d = dict(d)
        if "channels" in d:
            d["channels"] = tuple(int(c) for c in d["channels"])
        if "kernel" in d:
            d["kernel"] = tuple(int(k) for k in d["kernel"])  # type: ignore[assignment]
        return cls(**d)


class _ConvBlock(nn.Module):
    """Conv2d over ``[B, C, N, F]`` with stride 2 in frequency, ELU; causal time padding."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int], causal: bool):
        super().__init__()
        kt, kf = kernel
        self.pad_t = (kt - 1, 0) if causal else ((kt - 1) // 2, kt - 1 - (kt - 1) // 2)
        self.pad_f = (kf // 2, kf // 2)
        self.conv = nn.Conv2d(c_in, c_out, (kt, kf), stride=(1, 2))
        self.act = nn.ELU()

    def forward(self, x: Tensor) -> Tensor:
        x = nn.functional.pad(x, (*self.pad_f, *self.pad_t))
        return self.act(self.conv(x))


class CRNN(nn.Module):
    """Convolutional-recurrent magnitude-mask speech enhancer.

    Args: see :class:`CRNNConfig` (keyword arguments of the same names).

    Shape:
        forward: ``Tensor[B, T]`` -> ``Tensor[B, T]`` (float32 waveforms at
        ``sample_rate`` Hz).
    """

    def __init__(self, **kwargs: Any):
        super().__init__()
        self.config = CRNNConfig.from_dict(kwargs)
        cfg = self.config
        self.n_bins = cfg.n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        # per-bin input normalisation of the log magnitude (learned affine)
        self.in_shift = nn.Parameter(torch.full((self.n_bins,), 4.0))
        self.in_scale = nn.Parameter(torch.full((self.n_bins,), 0.3))
        blocks, c, f = [], 1, self.n_bins
        for ch in cfg.channels:
            blocks.append(_ConvBlock(c, ch, cfg.kernel, cfg.causal))
            c = ch
            f = (f + 2 * (cfg.kernel[1] // 2) - cfg.kernel[1]) // 2 + 1
        self.encoder = nn.Sequential(*blocks)
        self.enc_bins = f
        bidir = not cfg.causal
        self.rnn = nn.GRU(c * f, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                          bidirectional=bidir)
        rnn_out = cfg.hidden * (2 if bidir else 1)
        self.decoder = nn.Sequential(
            nn.Linear(rnn_out + self.n_bins, rnn_out), nn.ReLU(),
            nn.Linear(rnn_out, self.n_bins))

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def stft(self, wave: Tensor) -> Tensor:
        """``Tensor[B, T]`` -> complex ``Tensor[B, N, F]``."""
        cfg = self.config
        spec = torch.stft(wave, cfg.n_fft, cfg.hop, window=self.window, center=True,
                          return_complex=True)
        return spec.transpose(1, 2)

    def istft(self, spec: Tensor, length: int) -> Tensor:
        """complex ``Tensor[B, N, F]`` -> ``Tensor[B, length]``."""
        cfg = self.config
        return torch.istft(spec.transpose(1, 2), cfg.n_fft, cfg.hop, window=self.window,
                           center=True, length=length)

    def estimate_mask(self, mag: Tensor) -> Tensor:
        """Magnitude ``Tensor[B, N, F]`` -> mask ``Tensor[B, N, F]`` in [0, 1]."""
        feat = (torch.log(mag + 1e-5) + self.in_shift) * self.in_scale
        x = self.encoder(feat.unsqueeze(1))                     # [B, C, N, F']
        b, c, n, f = x.shape
        x = x.permute(0, 2, 1, 3).reshape(b, n, c * f)
        x, _ = self.rnn(x)
        return torch.sigmoid(self.decoder(torch.cat([x, feat], dim=-1)))

    def forward(self, wave: Tensor) -> Tensor:
        if wave.dim() != 2:
            raise ValueError(f"CRNN.forward expects Tensor[B, T], got shape {tuple(wave.shape)}")
        spec = self.stft(wave)
        mask = self.estimate_mask(spec.abs())
        return self.istft(spec * mask, wave.shape[-1])


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_crnn(model: CRNN, path: str | os.PathLike, *, half: bool = True,
              metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a safetensors file (fp16 by default) with its config, in the
    layout of :mod:`discovervoice.checkpoint` (written atomically).

    Args:
        metadata: JSON-serialisable facts stored with it (training step, metrics).
    """
    from discovervoice import checkpoint

    return checkpoint.save(path, model.state_dict(), format=CHECKPOINT_FORMAT,
                           config=asdict(model.config), metadata=metadata,
                           architecture="CRNN", half=half)


def load_crnn(path: str | os.PathLike) -> CRNN:
    """Rebuild a :class:`CRNN` from a file written by :func:`save_crnn` (float32, eval mode).

    Also accepts a training checkpoint (``.pt`` from ``enhance train``).

    Raises:
        WeightsError: missing file, not a CRNN checkpoint, or weights that do not fit.
    """
    from discovervoice import checkpoint

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: enhancer checkpoint not found")
    if path.suffix in (".pt", ".pth", ".ckpt"):
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            config, state = ckpt["config"], ckpt["model"]
        except (RuntimeError, KeyError, OSError, TypeError) as exc:
            raise WeightsError(f"{path}: not an enhancer training checkpoint ({exc})") from exc
    else:
        ck = checkpoint.load(path, CHECKPOINT_FORMAT, what="CRNN enhancer checkpoint")
        config, state = ck.config, ck.tensors
    model = CRNN(**config)
    checkpoint.fit_state(model, {k: v.float() for k, v in state.items()}, path,
                         "CRNN weights that fit the stored config")
    return model.eval()

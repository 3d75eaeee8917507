"""MDX23C: the TFC-TDF v3 network (Solovyev, Stempkovskiy, Habruseva 2023, "Benchmarks and
leaderboards for sound demixing tasks", the MDX23 winning architecture; reference
implementations: kuielab/sdx23 and ZFTurbo/Music-Source-Separation-Training
``models/mdx23c_tfc_tdf_v3.py``, also used by UVR / audio-separator).

This module is written for DiscoverVoice (audio-separator is not a dependency: it pulls
torchvision). Module and parameter names follow the reference exactly so that UVR / MSST
``.ckpt`` state dicts load without renaming (:func:`discovervoice.separation.models.
load_mdx23c_checkpoint` reads the ``.ckpt`` + yaml pair).

Structure: complex-as-channels STFT (``n_fft``, ``hop_length``, the lowest ``dim_f`` bins) ->
split into ``num_subbands`` bands stacked as channels -> 1x1 conv -> U-Net of ``num_scales``
TFC-TDF blocks (3x3 time-frequency convolutions with a time-distributed fully-connected
bottleneck over frequency) with strided down/up-sampling -> multiplied by the first conv's
output -> 1x1 convs to ``S x`` complex spectrograms -> iSTFT.

``forward`` is pure: ``Tensor[B, C, T] -> Tensor[B, S, C, T]`` for any ``T`` that
:meth:`MDX23C.valid_length` accepts; chunking and overlap-add live in
:mod:`discovervoice.separation.apply`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn


def _norm_factory(norm_type: str) -> Callable[[int], nn.Module]:
    def norm(c: int) -> nn.Module:
        if norm_type == "BatchNorm":
            return nn.BatchNorm2d(c)
        if norm_type == "InstanceNorm":
            return nn.InstanceNorm2d(c, affine=True)
        if "GroupNorm" in norm_type:
            return nn.GroupNorm(num_groups=int(norm_type.replace("GroupNorm", "")), num_channels=c)
        return nn.Identity()

    return norm


def _act(act_type: str) -> nn.Module:
    if act_type == "gelu":
        return nn.GELU()
    if act_type == "relu":
        return nn.ReLU()
    if act_type.startswith("elu"):
        return nn.ELU(float(act_type[3:] or 1.0))
    raise ValueError(f"unknown MDX23C activation {act_type!r} (gelu, relu, elu<alpha>)")


class FreqLinear(nn.Linear):
    """The TDF layer: a ``Linear`` applied over the frequency axis (the last one) of
    ``Tensor[B, C, T, F]``. Its own class so that structured channel pruning knows that
    it passes the channel axis through unchanged (see :mod:`discovervoice.separation.prune`);
    parameters are those of ``nn.Linear`` (same state-dict keys as the reference)."""


class _Upscale(nn.Module):
    def __init__(self, in_c: int, out_c: int, scale: Sequence[int], norm, act: str):
        super().__init__()
        self.conv = nn.Sequential(norm(in_c), _act(act),
                                  nn.ConvTranspose2d(in_c, out_c, kernel_size=tuple(scale),
                                                     stride=tuple(scale), bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class _Downscale(nn.Module):
    def __init__(self, in_c: int, out_c: int, scale: Sequence[int], norm, act: str):
        super().__init__()
        self.conv = nn.Sequential(norm(in_c), _act(act),
                                  nn.Conv2d(in_c, out_c, kernel_size=tuple(scale),
                                            stride=tuple(scale), bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class _TFCTDF(nn.Module):
    """``l`` residual blocks: TFC (3x3 conv) -> TDF (Linear over frequency, bottleneck ``bn``)
    -> TFC, plus a 1x1 shortcut. Input ``Tensor[B, in_c, T, f]``."""

    def __init__(self, in_c: int, c: int, l: int, f: int, bn: int, norm, act: str):
        super().__init__()
        self.blocks = nn.ModuleList()
        for _ in range(l):
            block = nn.Module()
            block.tfc1 = nn.Sequential(norm(in_c), _act(act), nn.Conv2d(in_c, c, 3, 1, 1, bias=False))
            block.tdf = nn.Sequential(norm(c), _act(act), FreqLinear(f, f // bn, bias=False),
                                      norm(c), _act(act), FreqLinear(f // bn, f, bias=False))
            block.tfc2 = nn.Sequential(norm(c), _act(act), nn.Conv2d(c, c, 3, 1, 1, bias=False))
            block.shortcut = nn.Conv2d(in_c, c, 1, 1, 0, bias=False)
            self.blocks.append(block)
            in_c = c

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            s = block.shortcut(x)
            x = block.tfc1(x)
            x = x + block.tdf(x)
            x = block.tfc2(x)
            x = x + s
        return x


class MDX23C(nn.Module):
    """TFC-TDF v3 separation network.

    Args:
        sources: instrument names in output order (MSST ``training.instruments``).
        target_instrument: when set (MSST ``training.target_instrument``), the network
            predicts only this source; with two ``sources`` the other one is returned as
            ``mixture - target`` (as MSST and UVR do).
        audio_channels: input channels (2 for stereo checkpoints).
        samplerate: Hz.
        n_fft, hop_length: STFT size and hop in samples (Hann window, centred).
        dim_f: number of low-frequency bins kept (``<= n_fft // 2 + 1``).
        chunk_size: training/inference chunk in samples (MSST ``audio.chunk_size``);
            gives :attr:`segment`.
        num_subbands, num_scales, scale, num_blocks_per_scale, num_channels, growth,
        bottleneck_factor, norm, act: the ``model:`` section of an MSST/UVR yaml.

    Shape:
        ``forward(mix: Tensor[B, audio_channels, T]) -> Tensor[B, len(sources), audio_channels, T]``
        with ``T == valid_length(T)``.
    """

    def __init__(self, sources: Sequence[str] = ("vocals", "accompaniment"), *,
                 target_instrument: str | None = None, audio_channels: int = 2,
                 samplerate: int = 44100, n_fft: int = 8192, hop_length: int = 1024,
                 dim_f: int = 4096, chunk_size: int = 261120, num_subbands: int = 4,
                 num_scales: int = 5, scale: Sequence[int] = (2, 2),
                 num_blocks_per_scale: int = 2, num_channels: int = 128, growth: int = 128,
                 bottleneck_factor: int = 4, norm: str = "InstanceNorm", act: str = "gelu"):
        super().__init__()
        #: constructor kwargs (saved with checkpoints so that a file rebuilds its model)
        self._dv_kwargs = dict(
            sources=[str(s) for s in sources], target_instrument=target_instrument,
            audio_channels=audio_channels, samplerate=samplerate, n_fft=n_fft,
            hop_length=hop_length, dim_f=dim_f, chunk_size=chunk_size, num_subbands=num_subbands,
            num_scales=num_scales, scale=[int(s) for s in scale],
            num_blocks_per_scale=num_blocks_per_scale, num_channels=num_channels, growth=growth,
            bottleneck_factor=bottleneck_factor, norm=norm, act=act)
        self.sources = [str(s) for s in sources]
        if target_instrument is not None and target_instrument not in self.sources:
            raise ValueError(f"target_instrument {target_instrument!r} not among {self.sources}")
        if target_instrument is not None and len(self.sources) > 2:
            raise ValueError("a target_instrument model can only give two sources (target, rest)")
        if dim_f > n_fft // 2 + 1 or dim_f % num_subbands:
            raise ValueError(f"dim_f={dim_f} must be <= n_fft//2+1 and divisible by num_subbands")
        self.target_instrument = target_instrument
        self.audio_channels = audio_channels
        self.samplerate = samplerate
        self.n_fft, self.hop_length, self.dim_f = n_fft, hop_length, dim_f
        self.chunk_size = chunk_size
        self.num_subbands = num_subbands
        self.scale = tuple(int(s) for s in scale)
        self.num_scales = num_scales
        self.num_target_instruments = 1 if target_instrument else len(self.sources)
        norm_f = _norm_factory(norm)
        dim_c = num_subbands * audio_channels * 2
        n, l, c, g, bn = num_scales, num_blocks_per_scale, num_channels, growth, bottleneck_factor
        f = dim_f // num_subbands
        if f % (self.scale[1] ** n):
            raise ValueError(f"dim_f/num_subbands={f} must be divisible by scale^num_scales")
        self.first_conv = nn.Conv2d(dim_c, c, 1, 1, 0, bias=False)
        self.encoder_blocks = nn.ModuleList()
        for _ in range(n):
            block = nn.Module()
            block.tfc_tdf = _TFCTDF(c, c, l, f, bn, norm_f, act)
            block.downscale = _Downscale(c, c + g, self.scale, norm_f, act)
            f //= self.scale[1]
            c += g
            self.encoder_blocks.append(block)
        self.bottleneck_block = _TFCTDF(c, c, l, f, bn, norm_f, act)
        self.decoder_blocks = nn.ModuleList()
        for _ in range(n):
            block = nn.Module()
            block.upscale = _Upscale(c, c - g, self.scale, norm_f, act)
            f *= self.scale[1]
            c -= g
            block.tfc_tdf = _TFCTDF(2 * c, c, l, f, bn, norm_f, act)
            self.decoder_blocks.append(block)
        self.final_conv = nn.Sequential(
            nn.Conv2d(c + dim_c, c, 1, 1, 0, bias=False), _act(act),
            nn.Conv2d(c, self.num_target_instruments * dim_c, 1, 1, 0, bias=False))
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    # ----------------------------------------------------------------- properties
    @property
    def segment(self) -> float:
        """Chunk length in seconds used by the chunked apply."""
        return self.chunk_size / self.samplerate

    def valid_length(self, length: int) -> int:
        """Smallest length ``>= length`` (samples) whose STFT frame count is divisible by
        ``scale[0] ** num_scales`` (the U-Net's time downsampling)."""
        m = self.scale[0] ** self.num_scales
        frames = max(1, -(-length // self.hop_length)) + 1
        frames = -(-frames // m) * m
        return self.hop_length * (frames - 1)

    # ----------------------------------------------------------------- STFT
    def _stft(self, x: Tensor) -> Tensor:
        b, c, t = x.shape
        spec = torch.stft(x.reshape(b * c, t), n_fft=self.n_fft, hop_length=self.hop_length,
                          window=self.window, center=True, return_complex=True)
        spec = torch.view_as_real(spec).permute(0, 3, 1, 2)  # [B*C, 2, F, N]
        spec = spec.reshape(b, c * 2, spec.shape[-2], spec.shape[-1])
        return spec[:, :, : self.dim_f, :]

    def _istft(self, x: Tensor, length: int) -> Tensor:
        # x: [B, S, C*2, dim_f, N]
        b, s, c2, f, n_frames = x.shape
        n = self.n_fft // 2 + 1
        x = torch.cat([x, x.new_zeros(b, s, c2, n - f, n_frames)], dim=-2)
        x = x.reshape(b * s * (c2 // 2), 2, n, n_frames).permute(0, 2, 3, 1).contiguous()
        wav = torch.istft(torch.view_as_complex(x), n_fft=self.n_fft, hop_length=self.hop_length,
                          window=self.window, center=True, length=length)
        return wav.reshape(b, s, c2 // 2, length)

    def _cac2cws(self, x: Tensor) -> Tensor:
        k = self.num_subbands
        b, c, f, t = x.shape
        return x.reshape(b, c * k, f // k, t)

    def _cws2cac(self, x: Tensor) -> Tensor:
        k = self.num_subbands
        b, c, f, t = x.shape
        return x.reshape(b, c // k, f * k, t)

    def forward(self, mix: Tensor) -> Tensor:
        """``Tensor[B, C, T] -> Tensor[B, S, C, T]`` (S = ``len(self.sources)``)."""
        length = mix.shape[-1]
        x = self._stft(mix)
        mix_spec = x = self._cac2cws(x)
        first = x = self.first_conv(x)
        x = x.transpose(-1, -2)
        skips = []
        for block in self.encoder_blocks:
            x = block.tfc_tdf(x)
            skips.append(x)
            x = block.downscale(x)
        x = self.bottleneck_block(x)
        for block in self.decoder_blocks:
            x = block.upscale(x)
            x = torch.cat([x, skips.pop()], 1)
            x = block.tfc_tdf(x)
        x = x.transpose(-1, -2)
        x = x * first
        x = self.final_conv(torch.cat([mix_spec, x], 1))
        x = self._cws2cac(x)
        b, c, f, t = x.shape
        x = x.reshape(b, self.num_target_instruments, -1, f, t)
        out = self._istft(x, length)
        if self.target_instrument is not None:
            if len(self.sources) == 1:
                return out
            rest = mix.unsqueeze(1) - out
            parts = [out if s == self.target_instrument else rest for s in self.sources]
            return torch.cat(parts, dim=1)
        return out


def config_to_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """Constructor kwargs of :class:`MDX23C` from an MSST/UVR yaml (as a nested dict).

    Raises:
        KeyError / ValueError: a required entry is missing.
    """
    audio, model, training = config["audio"], config["model"], config.get("training", {})
    instruments = list(training.get("instruments") or ["vocals", "instrumental"])
    target = training.get("target_instrument")
    return dict(
        sources=[str(s).lower() for s in instruments],
        target_instrument=str(target).lower() if target else None,
        audio_channels=int(audio.get("num_channels", 2)),
        samplerate=int(audio.get("sample_rate", 44100)),
        n_fft=int(audio["n_fft"]), hop_length=int(audio["hop_length"]), dim_f=int(audio["dim_f"]),
        chunk_size=int(audio.get("chunk_size") or audio["hop_length"] * (audio["dim_t"] - 1)),
        num_subbands=int(model["num_subbands"]), num_scales=int(model["num_scales"]),
        scale=[int(s) for s in model["scale"]],
        num_blocks_per_scale=int(model["num_blocks_per_scale"]),
        num_channels=int(model["num_channels"]), growth=int(model["growth"]),
        bottleneck_factor=int(model["bottleneck_factor"]), norm=str(model["norm"]),
        act=str(model["act"]),
    )


def kwargs_to_config(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`config_to_kwargs`: an MSST-style yaml dict for a model's kwargs."""
    k = dict(kwargs)
    return {
        "audio": {"chunk_size": k["chunk_size"], "dim_f": k["dim_f"],
                  "dim_t": k["chunk_size"] // k["hop_length"] + 1, "hop_length": k["hop_length"],
                  "n_fft": k["n_fft"], "num_channels": k["audio_channels"],
                  "sample_rate": k["samplerate"]},
        "model": {"act": k["act"], "bottleneck_factor": k["bottleneck_factor"],
                  "growth": k["growth"], "norm": k["norm"],
                  "num_blocks_per_scale": k["num_blocks_per_scale"],
                  "num_channels": k["num_channels"], "num_scales": k["num_scales"],
                  "num_subbands": k["num_subbands"], "scale": list(k["scale"])},
        "training": {"instruments": list(k["sources"]),
                     "target_instrument": k.get("target_instrument")},
    }


__all__ = ["MDX23C", "config_to_kwargs", "kwargs_to_config"]

"""Building blocks shared by the conversion networks (PyTorch).

:class:`DilatedResBlock` is the residual block of both the PPG content encoder
(:func:`discovervoice.convert.content.build_ppg_net`) and the content+F0 -> WORLD-feature
network (:func:`discovervoice.convert.world.build_world_net`): ``x + Dropout(GELU(
GroupNorm(1, c)(Conv1d(c, c, k, dilation=d)(x))))``, a WaveNet-style dilated convolution
(van den Oord et al. 2016) on ``Tensor[B, C, T]`` that keeps ``T`` ("same" padding for odd
``k``). Its parameter names (``conv``, ``norm``) are part of both checkpoint formats.
"""

from __future__ import annotations

from torch import Tensor, nn


class DilatedResBlock(nn.Module):
    """``Tensor[B, c, T] -> Tensor[B, c, T]``: residual dilated Conv1d (kernel ``kernel_size``,
    dilation ``dilation``) -> GroupNorm(1) -> GELU -> Dropout(``dropout``)."""

    def __init__(self, channels: int, dilation: int, kernel_size: int = 5, dropout: float = 0.0):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size,
                              padding=dilation * (kernel_size - 1) // 2, dilation=dilation)
        self.norm = nn.GroupNorm(1, channels)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop(self.act(self.norm(self.conv(x))))

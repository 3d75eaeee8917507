"""RVC v1/v2 voice models (``.pth`` from RVC-WebUI and Applio), inference network.

A re-implementation of RVC-WebUI's ``SynthesizerTrnMs768NSFsid`` (v2, 768-d HuBERT
features) and ``SynthesizerTrnMs256NSFsid`` (v1, 256-d) at inference, with the same
parameter names so their checkpoints load unchanged:

* ``enc_p``: ``TextEncoder`` (``emb_phone`` Linear of the content features +
  ``emb_pitch`` Embedding of RVC's 1..255 coarse pitch, a VITS relative-position
  Transformer encoder, ``proj`` to prior mean/log-scale);
* ``flow``: ``ResidualCouplingBlock`` (4 mean-only affine couplings over WaveNet ``WN``
  stacks, each followed by a channel flip), run in reverse;
* ``dec``: ``GeneratorNSF``, the NSF-HiFiGAN vocoder: a harmonic sine source from F0
  (``SineGen`` + ``SourceModuleHnNSF``) added at every upsampling stage of a HiFi-GAN V1
  generator (``ResBlock1``);
* ``emb_g``: the speaker embedding (``sid``).

Sources: Kim et al. 2021 (VITS), Kong et al. 2020 (HiFi-GAN), Wang et al. 2019 (NSF),
RVC-Project/Retrieval-based-Voice-Conversion-WebUI ``infer/lib/infer_pack``.

Checkpoint format (what RVC-WebUI's ``savee`` / ``extract_small_model`` write, and what
:func:`save_rvc_checkpoint` writes): ``torch.save({"weight": state_dict without enc_q,
"config": [spec_channels, segment_size, inter_channels, hidden_channels, filter_channels,
n_heads, n_layers, kernel_size, p_dropout, resblock, resblock_kernel_sizes,
resblock_dilation_sizes, upsample_rates, upsample_initial_channel, upsample_kernel_sizes,
spk_embed_dim, gin_channels, sr], "f0": 1, "version": "v2", "sr": "40k", "info": ...})``.
Weight-normalised layers store ``weight_g`` / ``weight_v`` (``torch.nn.utils.weight_norm``).
Models without F0 (``"f0": 0``) are refused with a clear error.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import weight_norm

from discovervoice.errors import WeightsError

LRELU_SLOPE = 0.1


def _pad(k: int, d: int = 1) -> int:
    return int((k * d - d) / 2)


# --------------------------------------------------------------------------- attention

class LayerNorm(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x):  # [B, C, T]
        x = x.transpose(1, -1)
        x = F.layer_norm(x, (x.shape[-1],), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class MultiHeadAttention(nn.Module):
    """VITS multi-head self-attention with relative-position keys and values."""

    def __init__(self, channels: int, out_channels: int, n_heads: int, window_size: int = 10):
        super().__init__()
        self.n_heads, self.window_size = n_heads, window_size
        self.k_channels = channels // n_heads
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        rel_stddev = self.k_channels ** -0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, window_size * 2 + 1, self.k_channels) * rel_stddev)
        self.emb_rel_v = nn.Parameter(torch.randn(1, window_size * 2 + 1, self.k_channels) * rel_stddev)

    def forward(self, x, c, attn_mask):
        q, k, v = self.conv_q(x), self.conv_k(c), self.conv_v(c)
        b, d, t_s = k.shape
        t_t = q.shape[2]
        q = q.view(b, self.n_heads, self.k_channels, t_t).transpose(2, 3)
        k = k.view(b, self.n_heads, self.k_channels, t_s).transpose(2, 3)
        v = v.view(b, self.n_heads, self.k_channels, t_s).transpose(2, 3)
        scores = torch.matmul(q / math.sqrt(self.k_channels), k.transpose(-2, -1))
        rel_k = self._rel_emb(self.emb_rel_k, t_s)
        rel_logits = torch.matmul(q / math.sqrt(self.k_channels), rel_k.unsqueeze(0).transpose(-2, -1))
        scores = scores + self._rel_to_abs(rel_logits)
        scores = scores.masked_fill(attn_mask == 0, -1e4)
        p = F.softmax(scores, dim=-1)
        out = torch.matmul(p, v)
        rel_v = self._rel_emb(self.emb_rel_v, t_s)
        out = out + torch.matmul(self._abs_to_rel(p), rel_v.unsqueeze(0))
        out = out.transpose(2, 3).contiguous().view(b, d, t_t)
        return self.conv_o(out)

    def _rel_emb(self, emb, length):
        pad_length = max(length - (self.window_size + 1), 0)
        start = max((self.window_size + 1) - length, 0)
        end = start + 2 * length - 1
        if pad_length > 0:
            emb = F.pad(emb, [0, 0, pad_length, pad_length, 0, 0])
        return emb[:, start:end]

    @staticmethod
    def _rel_to_abs(x):  # [b, h, l, 2l-1] -> [b, h, l, l]
        b, h, length, _ = x.size()
        x = F.pad(x, [0, 1, 0, 0, 0, 0, 0, 0])
        x_flat = x.view(b, h, length * 2 * length)
        x_flat = F.pad(x_flat, [0, length - 1, 0, 0, 0, 0])
        return x_flat.view(b, h, length + 1, 2 * length - 1)[:, :, :length, length - 1:]

    @staticmethod
    def _abs_to_rel(x):  # [b, h, l, l] -> [b, h, l, 2l-1]
        b, h, length, _ = x.size()
        x = F.pad(x, [0, length - 1, 0, 0, 0, 0, 0, 0])
        x_flat = x.view(b, h, length * length + length * (length - 1))
        x_flat = F.pad(x_flat, [length, 0, 0, 0, 0, 0])
        return x_flat.view(b, h, length, 2 * length)[:, :, :, 1:]


class FFN(nn.Module):
    def __init__(self, cin: int, cout: int, filter_channels: int, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(cin, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, cout, kernel_size)

    def _same(self, x):
        if self.kernel_size == 1:
            return x
        return F.pad(x, [(self.kernel_size - 1) // 2, self.kernel_size // 2])

    def forward(self, x, mask):
        x = torch.relu(self.conv_1(self._same(x * mask)))
        return self.conv_2(self._same(x * mask)) * mask


class Encoder(nn.Module):
    def __init__(self, hidden, filter_channels, n_heads, n_layers, kernel_size, window_size=10):
        super().__init__()
        self.attn_layers = nn.ModuleList()
        self.norm_layers_1 = nn.ModuleList()
        self.ffn_layers = nn.ModuleList()
        self.norm_layers_2 = nn.ModuleList()
        for _ in range(n_layers):
            self.attn_layers.append(MultiHeadAttention(hidden, hidden, n_heads, window_size))
            self.norm_layers_1.append(LayerNorm(hidden))
            self.ffn_layers.append(FFN(hidden, hidden, filter_channels, kernel_size))
            self.norm_layers_2.append(LayerNorm(hidden))

    def forward(self, x, x_mask):
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        x = x * x_mask
        for a, n1, f, n2 in zip(self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2):
            x = n1(x + a(x, x, attn_mask))
            x = n2(x + f(x, x_mask))
        return x * x_mask


class TextEncoder(nn.Module):
    """``TextEncoder768`` / ``TextEncoder256`` of RVC: content + coarse pitch -> prior."""

    def __init__(self, in_dim, out_channels, hidden, filter_channels, n_heads, n_layers, kernel_size,
                 f0: bool = True):
        super().__init__()
        self.hidden = hidden
        self.emb_phone = nn.Linear(in_dim, hidden)
        self.emb_pitch = nn.Embedding(256, hidden) if f0 else None
        self.encoder = Encoder(hidden, filter_channels, n_heads, n_layers, kernel_size)
        self.proj = nn.Conv1d(hidden, out_channels * 2, 1)
        self.out_channels = out_channels

    def forward(self, phone, pitch, lengths):
        x = self.emb_phone(phone)
        if self.emb_pitch is not None and pitch is not None:
            x = x + self.emb_pitch(pitch)
        x = F.leaky_relu(x * math.sqrt(self.hidden), 0.1).transpose(1, -1)
        mask = (torch.arange(x.shape[2])[None] < lengths[:, None]).unsqueeze(1).to(x.dtype)
        x = self.encoder(x * mask, mask)
        stats = self.proj(x) * mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        return m, logs, mask


# --------------------------------------------------------------------------- flow

class WN(nn.Module):
    """WaveNet-style gated dilated conv stack with global conditioning (VITS ``WN``)."""

    def __init__(self, hidden, kernel_size, dilation_rate, n_layers, gin_channels=0):
        super().__init__()
        self.hidden, self.n_layers = hidden, n_layers
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        self.cond_layer = weight_norm(nn.Conv1d(gin_channels, 2 * hidden * n_layers, 1)) if gin_channels else None
        for i in range(n_layers):
            d = dilation_rate ** i
            self.in_layers.append(weight_norm(nn.Conv1d(hidden, 2 * hidden, kernel_size, dilation=d,
                                                        padding=int((kernel_size * d - d) / 2))))
            ch = 2 * hidden if i < n_layers - 1 else hidden
            self.res_skip_layers.append(weight_norm(nn.Conv1d(hidden, ch, 1)))

    def forward(self, x, x_mask, g=None):
        out = torch.zeros_like(x)
        if g is not None and self.cond_layer is not None:
            g = self.cond_layer(g)
        for i in range(self.n_layers):
            x_in = self.in_layers[i](x)
            g_l = g[:, i * 2 * self.hidden:(i + 1) * 2 * self.hidden] if g is not None else torch.zeros_like(x_in)
            z = x_in + g_l
            acts = torch.tanh(z[:, :self.hidden]) * torch.sigmoid(z[:, self.hidden:])
            rs = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                x = (x + rs[:, :self.hidden]) * x_mask
                out = out + rs[:, self.hidden:]
            else:
                out = out + rs
        return out * x_mask


class ResidualCouplingLayer(nn.Module):
    def __init__(self, channels, hidden, kernel_size, dilation_rate, n_layers, gin_channels=0):
        super().__init__()
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.enc = WN(hidden, kernel_size, dilation_rate, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden, self.half, 1)

    def forward(self, x, x_mask, g=None, reverse=True):
        x0, x1 = torch.split(x, [self.half] * 2, 1)
        h = self.enc(self.pre(x0) * x_mask, x_mask, g=g)
        m = self.post(h) * x_mask
        x1 = (x1 - m) * x_mask if reverse else m + x1 * x_mask
        return torch.cat([x0, x1], 1)


class Flip(nn.Module):
    def forward(self, x, *args, **kwargs):
        return torch.flip(x, [1])


class ResidualCouplingBlock(nn.Module):
    def __init__(self, channels, hidden, kernel_size, dilation_rate, n_layers, n_flows=4, gin_channels=0):
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(ResidualCouplingLayer(channels, hidden, kernel_size, dilation_rate, n_layers,
                                                    gin_channels))
            self.flows.append(Flip())

    def forward(self, x, x_mask, g=None, reverse=True):
        flows = reversed(self.flows) if reverse else self.flows
        for f in flows:
            x = f(x, x_mask, g=g, reverse=reverse)
        return x


# --------------------------------------------------------------------------- NSF-HiFiGAN

class ResBlock1(nn.Module):
    def __init__(self, channels, kernel_size=3, dilation=(1, 3, 5)):
        super().__init__()
        self.convs1 = nn.ModuleList([weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                                                           padding=_pad(kernel_size, d))) for d in dilation])
        self.convs2 = nn.ModuleList([weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=1,
                                                           padding=_pad(kernel_size, 1))) for _ in dilation])

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
            x = xt + x
        return x


class ResBlock2(nn.Module):
    def __init__(self, channels, kernel_size=3, dilation=(1, 3)):
        super().__init__()
        self.convs = nn.ModuleList([weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                                                          padding=_pad(kernel_size, d))) for d in dilation])

    def forward(self, x):
        for c in self.convs:
            x = c(F.leaky_relu(x, LRELU_SLOPE)) + x
        return x


class SourceModuleHnNSF(nn.Module):
    """Harmonic-plus-noise source of NSF: a sine at F0 (random start phase), noise where
    unvoiced, merged by ``l_linear`` + tanh. ``harmonic_num=0`` as in RVC."""

    def __init__(self, sampling_rate: int, harmonic_num: int = 0, sine_amp: float = 0.1,
                 noise_std: float = 0.003):
        super().__init__()
        self.sr, self.harmonic_num = sampling_rate, harmonic_num
        self.sine_amp, self.noise_std = sine_amp, noise_std
        self.l_linear = nn.Linear(harmonic_num + 1, 1)

    def sine(self, f0, upp: int):  # f0 [B, T] -> [B, T*upp, H]
        f0_up = f0.repeat_interleave(upp, dim=1)[:, :, None]
        harm = f0_up * torch.arange(1, self.harmonic_num + 2, device=f0.device)[None, None]
        rad = (harm / self.sr).double()
        rand_ini = torch.rand(f0.shape[0], 1, rad.shape[2], dtype=rad.dtype)
        rand_ini[:, :, 0] = 0
        phase = torch.cumsum(rad, dim=1) + rand_ini
        sines = (torch.sin(2 * np.pi * (phase % 1.0)) * self.sine_amp).float()
        uv = (f0_up > 0).float()
        noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
        return sines * uv + noise_amp * torch.randn_like(sines)

    def forward(self, f0, upp: int):
        return torch.tanh(self.l_linear(self.sine(f0, upp)))


class GeneratorNSF(nn.Module):
    def __init__(self, initial_channel, resblock, resblock_kernel_sizes, resblock_dilation_sizes,
                 upsample_rates, upsample_initial_channel, upsample_kernel_sizes, gin_channels, sr):
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.num_upsamples = len(upsample_rates)
        self.upp = int(np.prod(upsample_rates))
        self.m_source = SourceModuleHnNSF(sampling_rate=sr, harmonic_num=0)
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        block = ResBlock1 if str(resblock) == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.noise_convs = nn.ModuleList()
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes)):
            c_cur = upsample_initial_channel // (2 ** (i + 1))
            self.ups.append(weight_norm(nn.ConvTranspose1d(upsample_initial_channel // (2 ** i), c_cur, k, u,
                                                           padding=(k - u) // 2)))
            if i + 1 < len(upsample_rates):
                s = int(np.prod(upsample_rates[i + 1:]))
                self.noise_convs.append(nn.Conv1d(1, c_cur, kernel_size=s * 2, stride=s, padding=s // 2))
            else:
                self.noise_convs.append(nn.Conv1d(1, c_cur, kernel_size=1))
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for i in range(len(self.ups)):
            ch = upsample_initial_channel // (2 ** (i + 1))
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(ch, k, d))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=False)
        self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1) if gin_channels else None

    def forward(self, x, f0, g=None):
        har = self.m_source(f0, self.upp).transpose(1, 2)
        x = self.conv_pre(x)
        if g is not None and self.cond is not None:
            x = x + self.cond(g)
        for i in range(self.num_upsamples):
            x = self.ups[i](F.leaky_relu(x, LRELU_SLOPE))
            x = x + self.noise_convs[i](har)[..., : x.shape[-1]]
            xs = sum(self.resblocks[i * self.num_kernels + j](x) for j in range(self.num_kernels))
            x = xs / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


# --------------------------------------------------------------------------- synthesizer

class SynthesizerTrnMsNSFsid(nn.Module):
    """RVC's ``SynthesizerTrnMs768NSFsid`` (``in_dim=768``, v2) / ``...256...`` (v1).

    Arguments are RVC's ``config`` list in order (see the module docstring).

    Shape: ``infer(phone: Tensor[B, T, in_dim], lengths: Tensor[B], pitch: LongTensor[B, T]
    (1..255), nsff0: Tensor[B, T] (Hz), sid: LongTensor[B]) -> Tensor[B, 1, T * prod(upsample_rates)]``.
    """

    def __init__(self, spec_channels, segment_size, inter_channels, hidden_channels, filter_channels,
                 n_heads, n_layers, kernel_size, p_dropout, resblock, resblock_kernel_sizes,
                 resblock_dilation_sizes, upsample_rates, upsample_initial_channel, upsample_kernel_sizes,
                 spk_embed_dim, gin_channels, sr, in_dim: int = 768):
        super().__init__()
        if isinstance(sr, str):
            sr = {"32k": 32000, "40k": 40000, "48k": 48000}[sr]
        self.sr = int(sr)
        self.in_dim = in_dim
        self.enc_p = TextEncoder(in_dim, inter_channels, hidden_channels, filter_channels, n_heads, n_layers,
                                 kernel_size)
        self.dec = GeneratorNSF(inter_channels, resblock, resblock_kernel_sizes, resblock_dilation_sizes,
                                upsample_rates, upsample_initial_channel, upsample_kernel_sizes,
                                gin_channels, self.sr)
        self.flow = ResidualCouplingBlock(inter_channels, hidden_channels, 5, 1, 3, gin_channels=gin_channels)
        self.emb_g = nn.Embedding(spk_embed_dim, gin_channels)
        self.hop = int(np.prod(upsample_rates))

    @torch.no_grad()
    def infer(self, phone, lengths, pitch, nsff0, sid, noise_scale: float = 0.66666):
        g = self.emb_g(sid).unsqueeze(-1)
        m_p, logs_p, x_mask = self.enc_p(phone, pitch, lengths)
        z_p = (m_p + torch.exp(logs_p) * torch.randn_like(m_p) * noise_scale) * x_mask
        z = self.flow(z_p, x_mask, g=g, reverse=True)
        return self.dec(z * x_mask, nsff0, g=g)


def build_synthesizer(config: list, in_dim: int = 768) -> SynthesizerTrnMsNSFsid:
    """Build the network from RVC's 18-element ``config`` list."""
    if len(config) != 18:
        raise WeightsError(f"RVC config must have 18 entries, got {len(config)}")
    import warnings

    with warnings.catch_warnings():
        # RVC checkpoints store weight_g/weight_v, the names of the (deprecated) weight_norm
        warnings.simplefilter("ignore", FutureWarning)
        return SynthesizerTrnMsNSFsid(*config, in_dim=in_dim)


class RVCModel:
    """A loaded RVC voice model.

    Attributes:
        sample_rate: output rate in Hz (32000, 40000, 48000).
        version: ``"v1"`` (256-d content) or ``"v2"`` (768-d).
        content_dim: 256 or 768.
        hop: output samples per 10 ms content frame.
    """

    def __init__(self, net: SynthesizerTrnMsNSFsid, version: str, info: str = ""):
        self.net = net.eval()
        self.version = version
        self.info = info
        self.sample_rate = net.sr
        self.content_dim = net.in_dim
        self.hop = net.hop

    def synthesize(self, content: np.ndarray, f0: np.ndarray, sid: int = 0, seed: int | None = 0) -> np.ndarray:
        """Content ``ndarray[T, D]`` (100 Hz) + F0 ``ndarray[T]`` (Hz, 0 = unvoiced) ->
        ``ndarray[float32, T * hop]`` at :attr:`sample_rate`."""
        from discovervoice.convert.f0 import coarse_pitch

        n = min(len(content), len(f0))
        if seed is not None:
            torch.manual_seed(seed)
        phone = torch.from_numpy(np.asarray(content[:n], dtype=np.float32))[None]
        pitch = torch.from_numpy(coarse_pitch(f0[:n]))[None]
        nsff0 = torch.from_numpy(np.asarray(f0[:n], dtype=np.float32))[None]
        out = self.net.infer(phone, torch.tensor([n]), pitch, nsff0, torch.tensor([sid]))
        return out[0, 0].numpy().astype(np.float32)


def save_rvc_checkpoint(net: SynthesizerTrnMsNSFsid, config: list, path: str | Path, version: str = "v2",
                        info: str = "") -> Path:
    """Write ``net`` in RVC-WebUI's small-model format (fp16 weights, ``enc_q`` dropped)."""
    state = {k: v.half() for k, v in net.state_dict().items() if "enc_q" not in k}
    sr = config[-1]
    ckpt = {"weight": state, "config": list(config), "f0": 1, "version": version, "info": info,
            "sr": f"{int(sr) // 1000}k" if not isinstance(sr, str) else sr}
    p = Path(path)
    torch.save(ckpt, str(p))
    return p


def load_rvc_checkpoint(path: str | Path, spec: Any = None, **_: Any) -> RVCModel:
    """Load an RVC v1/v2 voice model with F0 (``.pth`` from RVC-WebUI/Applio).

    As RVC does, the speaker count in ``config[-3]`` is taken from ``emb_g.weight``.
    Pretrained *generator* bases (``f0G40k.pth``: ``{"model": state}``) load too, with the
    config of their sample rate.

    Raises:
        WeightsError: unreadable, not an RVC model, a model without F0, or weights that
            do not fit.
    """
    from discovervoice.checkpoint import read_torch

    p = Path(path)
    ckpt = read_torch(p)
    if isinstance(ckpt, dict) and "weight" not in ckpt and "model" in ckpt:
        state = ckpt["model"]
        sr = int(spec.sample_rate) if spec is not None else 40000
        ckpt = {"weight": state, "config": default_config(sr), "f0": 1, "version": "v2"}
    if not isinstance(ckpt, dict) or "weight" not in ckpt or "config" not in ckpt:
        raise WeightsError(f"{p}: not an RVC voice model (expected keys 'weight' and 'config')")
    if int(ckpt.get("f0", 1)) != 1:
        raise WeightsError(f"{p}: RVC model without F0 ('f0': 0) is not supported; use a model trained with pitch")
    state = {k: v.float() for k, v in ckpt["weight"].items() if "enc_q" not in k}
    config = list(ckpt["config"])
    config[-3] = int(state["emb_g.weight"].shape[0])
    in_dim = int(state["enc_p.emb_phone.weight"].shape[1])
    version = ckpt.get("version", "v2" if in_dim == 768 else "v1")
    try:
        net = build_synthesizer(config, in_dim)
        missing, unexpected = net.load_state_dict(state, strict=False)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise WeightsError(f"{p}: RVC weights do not fit the config {config}: {str(exc)[:300]}") from exc
    if missing or unexpected:
        raise WeightsError(f"{p}: RVC weights do not fit the config: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")
    return RVCModel(net, version, str(ckpt.get("info", "")))


def default_config(sr: int = 40000) -> list:
    """RVC v2's config list for 32/40/48 kHz (``configs/v2/*.json``)."""
    base = [1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3]
    if sr == 48000:
        return base + [[12, 10, 2, 2], 512, [24, 20, 4, 4], 109, 256, 48000]
    if sr == 32000:
        return [513] + base[1:] + [[10, 8, 2, 2], 512, [20, 16, 4, 4], 109, 256, 32000]
    return base + [[10, 10, 2, 2], 512, [16, 16, 4, 4], 109, 256, 40000]

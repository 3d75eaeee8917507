"""BS-RoFormer and Mel-RoFormer, loading the published MSST / UVR checkpoints as they are.

Networks:
    * **BS-RoFormer** (Lu, Wang, Kong, Hung 2023, "Music Source Separation with Band-Split
      RoPE Transformer"): complex STFT -> fixed, contiguous frequency bands
      (``freqs_per_bands``) -> per-band RMSNorm + Linear to ``dim`` features -> ``depth``
      blocks of a time transformer then a frequency transformer (axial attention, rotary
      position embeddings) -> per-band MLP mask estimators with a GLU -> complex mask on the
      mixture STFT -> iSTFT. :class:`BSRoformer`.
    * **Mel-RoFormer** (Wang, Lu, Hung, Kong 2023, "Mel-Band RoFormer for Music Source
      Separation"): the same, with overlapping bands taken from a mel filterbank
      (``librosa.filters.mel``, every bin with a non-zero weight belongs to the band, as in
      the paper and MSST); masks of bins shared by several bands are averaged.
      :class:`MelBandRoformer`.

Checkpoint format (``roformer-ckpt+yaml``): a plain state dict (``.ckpt``, optionally wrapped
in ``{"state_dict": ...}``) next to an MSST/UVR yaml config with ``audio:``, ``model:``,
``training:`` and ``inference:`` sections. Module and parameter names follow
ZFTurbo/Music-Source-Separation-Training ``models/bs_roformer/bs_roformer.py`` and
``mel_band_roformer.py`` module by module, so the published state dicts load without
renaming: ``layers.{i}.{0: time, 1: freq}.layers.{j}.0.{norm.gamma, to_qkv.weight,
to_gates.*, to_out.0.weight, rotary_embed.freqs}``, ``layers.{i}.{k}.layers.{j}.1.net.{0.gamma,
1.*, 4.*}``, ``band_split.to_features.{b}.{0.gamma, 1.*}``,
``mask_estimators.{s}.to_freqs.{b}.0.{0, 2, ...}.*``, ``final_norm.gamma`` (BS only) and
``layers.{i}.{k}.norm.gamma`` (Mel only). :func:`load_roformer_checkpoint` reads the pair;
a config that does not fit the tensors raises :class:`RoformerCheckpointError` naming both
files.

Why not the PyPI ``bs-roformer`` package (lucidrains, the reference these checkpoints descend
from): its 1.2.x wraps every attention and feed-forward block in a ``hyper_connections``
residual (``layers.0.0.layers.0.branch.to_qkv.weight`` where the published files have
``layers.0.0.layers.0.0.to_qkv.weight``), adds value-residual and PoPE options, and
requires pope-pytorch, hyper-connections, torch-einops-utils, einx and beartype. So the
network is written here to the published key layout.

Libraries: ``rotary-embedding-torch`` (``RotaryEmbedding``, the class the checkpoints were
trained with; its ``freqs`` tensor is part of the state dicts), ``librosa.filters.mel``
(Mel-RoFormer bands), ``torch.nn.functional.scaled_dot_product_attention`` (attention
without materialising the score matrix where the backend allows), pyyaml (configs, read by
:func:`discovervoice.separation.models.read_mdx23c_config`).

Inference conventions (MSST ``utils/model_utils.py::demix``): chunks of
``inference.chunk_size`` (else ``audio.chunk_size``) samples, a step of
``chunk_size // inference.num_overlap``, a window with linear fades over a tenth of the
chunk; the network carries them as :attr:`RoformerBase.segment`, :attr:`~RoformerBase.num_overlap`
and :attr:`~RoformerBase.chunk_fade`, which :func:`discovervoice.separation.apply.apply_model`
uses. ``forward`` is pure: ``Tensor[B, C, T] -> Tensor[B, S, C, T]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from discovervoice.errors import WeightsError

#: MSST's default BS-RoFormer bands (62 bands over the 1025 bins of a 2048-point STFT).
DEFAULT_FREQS_PER_BANDS: tuple[int, ...] = (
    (2,) * 24 + (4,) * 12 + (12,) * 8 + (24,) * 8 + (48,) * 8 + (128, 129))
#: Config keys that only matter for training (accepted and ignored here).
_TRAINING_ONLY = {"attn_dropout", "ff_dropout", "flash_attn", "multi_stft_resolution_loss_weight",
                  "multi_stft_resolutions_window_sizes", "multi_stft_hop_size",
                  "multi_stft_normalized", "multi_stft_window_fn", "use_torch_checkpoint",
                  "match_input_audio_length", "dim_freqs_in", "sage_attention", "use_shared_bias"}


class RoformerCheckpointError(WeightsError):
    """A RoFormer ``.ckpt`` whose tensors do not fit its yaml config (or an option this
    implementation does not have); the message names both files."""


# --------------------------------------------------------------------------- blocks

class RMSNorm(nn.Module):
    """``x / ||x|| * sqrt(dim) * gamma`` over the last axis (MSST ``RMSNorm``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.scale = dim ** 0.5
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=-1) * self.scale * self.gamma


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0):
        super().__init__()
        inner = int(dim * mult)
        self.net = nn.Sequential(RMSNorm(dim), nn.Linear(dim, inner), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Attention(nn.Module):
    """Multi-head self-attention with rotary positions and per-head sigmoid gates."""

    def __init__(self, dim: int, heads: int = 8, dim_head: int = 64, dropout: float = 0.0,
                 rotary_embed: nn.Module | None = None):
        super().__init__()
        self.heads = heads
        inner = heads * dim_head
        self.rotary_embed = rotary_embed
        self.norm = RMSNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_gates = nn.Linear(dim, heads)
        self.to_out = nn.Sequential(nn.Linear(inner, dim, bias=False), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(x)
        b, n, _ = x.shape
        q, k, v = self.to_qkv(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        if self.rotary_embed is not None:
            q = self.rotary_embed.rotate_queries_or_keys(q)
            k = self.rotary_embed.rotate_queries_or_keys(k)
        out = F.scaled_dot_product_attention(q, k, v)              # [b, h, n, d]
        out = out * self.to_gates(x).transpose(1, 2).unsqueeze(-1).sigmoid()
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class _SplitHeads(nn.Module):
    """``b n (qkv h d) -> qkv b h d n`` (MSST's einops ``Rearrange`` in ``LinearAttention``)."""

    def __init__(self, heads: int):
        super().__init__()
        self.heads = heads

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, 3, self.heads, -1).permute(2, 0, 3, 4, 1)


class _MergeHeads(nn.Module):
    def forward(self, x: Tensor) -> Tensor:   # b h d n -> b n (h d)
        b, h, d, n = x.shape
        return x.permute(0, 3, 1, 2).reshape(b, n, h * d)


class LinearAttention(nn.Module):
    """Cross-covariance ("linear") attention over the feature axis (El-Nouby et al. 2021,
    XCiT), used by configs with ``linear_transformer_depth > 0``."""

    def __init__(self, dim: int, dim_head: int = 32, heads: int = 8, scale: float = 8.0):
        super().__init__()
        inner = dim_head * heads
        self.scale = scale
        self.norm = RMSNorm(dim)
        self.to_qkv = nn.Sequential(nn.Linear(dim, inner * 3, bias=False), _SplitHeads(heads))
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.to_out = nn.Sequential(_MergeHeads(), nn.Linear(inner, dim, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.to_qkv(self.norm(x))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        q = q * self.temperature.exp()
        return self.to_out(F.scaled_dot_product_attention(q, k, v, scale=self.scale))


class Transformer(nn.Module):
    def __init__(self, *, dim: int, depth: int, dim_head: int, heads: int, ff_mult: int = 4,
                 norm_output: bool = True, rotary_embed: nn.Module | None = None,
                 linear_attn: bool = False):
        super().__init__()
        self.layers = nn.ModuleList()
        for _ in range(depth):
            attn = (LinearAttention(dim, dim_head=dim_head, heads=heads) if linear_attn else
                    Attention(dim, heads=heads, dim_head=dim_head, rotary_embed=rotary_embed))
            self.layers.append(nn.ModuleList([attn, FeedForward(dim, mult=ff_mult)]))
        self.norm = RMSNorm(dim) if norm_output else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class BandSplit(nn.Module):
    def __init__(self, dim: int, dim_inputs: Sequence[int]):
        super().__init__()
        self.dim_inputs = tuple(int(d) for d in dim_inputs)
        self.to_features = nn.ModuleList(nn.Sequential(RMSNorm(d), nn.Linear(d, dim)) for d in self.dim_inputs)

    def forward(self, x: Tensor) -> Tensor:
        parts = x.split(self.dim_inputs, dim=-1)
        return torch.stack([f(p) for p, f in zip(parts, self.to_features)], dim=-2)


def _mlp(dim_in: int, dim_out: int, dim_hidden: int, hidden_layers: int) -> nn.Sequential:
    dims = (dim_in, *((dim_hidden,) * hidden_layers), dim_out)
    net: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        net.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            net.append(nn.Tanh())
    return nn.Sequential(*net)


class MaskEstimator(nn.Module):
    """Per band: MLP (``hidden_layers`` Tanh layers of ``dim * mlp_expansion_factor``) to
    twice the band's size, then a GLU."""

    def __init__(self, dim: int, dim_inputs: Sequence[int], hidden_layers: int, mlp_expansion_factor: int = 4):
        super().__init__()
        self.to_freqs = nn.ModuleList(
            nn.Sequential(_mlp(dim, d * 2, dim * mlp_expansion_factor, hidden_layers), nn.GLU(dim=-1))
            for d in dim_inputs)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([f(band) for band, f in zip(x.unbind(dim=-2), self.to_freqs)], dim=-1)


# --------------------------------------------------------------------------- networks

class RoformerBase(nn.Module):
    """The band-split RoPE transformer shared by :class:`BSRoformer` and
    :class:`MelBandRoformer`; subclasses give the band layout.

    Args (the ``model:`` section of an MSST yaml, plus where the outputs go):
        dim, depth, time_transformer_depth, freq_transformer_depth, linear_transformer_depth,
        dim_head, heads, mask_estimator_depth, mlp_expansion_factor, skip_connection,
        zero_dc: as in MSST.
        stereo: two input channels (else one).
        num_stems: mask estimators (outputs of the network proper).
        stft_n_fft, stft_hop_length, stft_win_length, stft_normalized: the STFT (Hann window,
            centred), in samples.
        sources: names of the outputs (MSST ``training.instruments``, lower case).
        target_instrument: when set (``training.target_instrument``) the network estimates
            only it, and a second source is ``mixture - target``.
        samplerate: Hz.
        chunk_size: inference chunk in samples; num_overlap: chunks covering each sample.

    Shape:
        ``forward(Tensor[B, C, T]) -> Tensor[B, len(sources), C, T]``, any ``T``.
    """

    final_norm_on = True          # BS-RoFormer: one RMSNorm after the last block
    transformer_norm_output = False
    #: hidden layers of a mask MLP = ``mask_estimator_depth + mask_hidden_offset`` (MSST's
    #: bs_roformer.py builds depth - 1 of them, mel_band_roformer.py depth)
    mask_hidden_offset = -1

    def __init__(self, *, dim: int, depth: int, stereo: bool = True, num_stems: int = 1,
                 time_transformer_depth: int = 1, freq_transformer_depth: int = 1,
                 linear_transformer_depth: int = 0, dim_head: int = 64, heads: int = 8,
                 stft_n_fft: int = 2048, stft_hop_length: int = 441, stft_win_length: int = 2048,
                 stft_normalized: bool = False, zero_dc: bool = True, mask_estimator_depth: int = 2,
                 mlp_expansion_factor: int = 4, skip_connection: bool = False,
                 sources: Sequence[str] = ("vocals", "other"), target_instrument: str | None = "vocals",
                 samplerate: int = 44100, chunk_size: int = 352800, num_overlap: int = 2,
                 band_kwargs: Mapping[str, Any] | None = None):
        super().__init__()
        self.sources = [str(s).lower() for s in sources]
        self.target_instrument = str(target_instrument).lower() if target_instrument else None
        if self.target_instrument is not None:
            if self.target_instrument not in self.sources:
                raise ValueError(f"target_instrument {self.target_instrument!r} not among {self.sources}")
            if len(self.sources) > 2 or num_stems != 1:
                raise ValueError("a target_instrument model has one mask estimator and at most two "
                                 f"sources, got num_stems={num_stems}, sources={self.sources}")
        elif num_stems != len(self.sources):
            raise ValueError(f"num_stems={num_stems} but {len(self.sources)} instruments {self.sources}")
        if num_overlap < 1 or chunk_size < stft_hop_length:
            raise ValueError(f"bad chunking: chunk_size={chunk_size}, num_overlap={num_overlap}")
        self.audio_channels = 2 if stereo else 1
        self.samplerate = int(samplerate)
        self.chunk_size, self.num_overlap = int(chunk_size), int(num_overlap)
        #: fraction of a chunk faded in and out when chunks are added back (MSST ``demix``)
        self.chunk_fade = 0.1
        self.num_stems = num_stems
        #: tokens per transformer call: the time (freq) transformer sees bands x frames
        #: independent sequences, run in groups of at most this many tokens, which bounds the
        #: activations of a chunk without changing the result
        self.max_tokens = 4096
        self.skip_connection = skip_connection
        self.zero_dc = zero_dc
        self.n_fft, self.hop_length, self.win_length = stft_n_fft, stft_hop_length, stft_win_length
        self.stft_normalized = stft_normalized
        self.register_buffer("window", torch.hann_window(stft_win_length), persistent=False)
        from rotary_embedding_torch import RotaryEmbedding

        time_rot, freq_rot = RotaryEmbedding(dim=dim_head), RotaryEmbedding(dim=dim_head)
        tkw = dict(dim=dim, dim_head=dim_head, heads=heads, norm_output=self.transformer_norm_output)
        self.layers = nn.ModuleList()
        for _ in range(depth):
            block = []
            if linear_transformer_depth > 0:
                block.append(Transformer(depth=linear_transformer_depth, linear_attn=True, **tkw))
            block.append(Transformer(depth=time_transformer_depth, rotary_embed=time_rot, **tkw))
            block.append(Transformer(depth=freq_transformer_depth, rotary_embed=freq_rot, **tkw))
            self.layers.append(nn.ModuleList(block))
        if self.final_norm_on:
            self.final_norm = RMSNorm(dim)
        n_bins = stft_n_fft // 2 + 1
        freq_indices, bands_per_freq, freqs_per_band = self._bands(n_bins, **dict(band_kwargs or {}))
        # stereo: bins interleaved by channel, (f s), as MSST's rearrange 'b s f t c -> b (f s) t c'
        c = self.audio_channels
        freq_indices = (freq_indices[:, None] * c + torch.arange(c)).reshape(-1)
        self.register_buffer("freq_indices", freq_indices, persistent=False)
        self.register_buffer("bands_per_freq", bands_per_freq.float().repeat_interleave(c),
                             persistent=False)
        self.overlapping = bool((bands_per_freq != 1).any())
        dims = tuple(2 * f * c for f in freqs_per_band)
        self.band_split = BandSplit(dim, dims)
        self.mask_estimators = nn.ModuleList(
            MaskEstimator(dim, dims, mask_estimator_depth + self.mask_hidden_offset, mlp_expansion_factor)
            for _ in range(num_stems))

    def _bands(self, n_bins: int, **kw: Any) -> tuple[Tensor, Tensor, list[int]]:
        """``(freq_indices[sum of band sizes], bands_per_freq[n_bins], band sizes)``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- chunking interface
    @property
    def segment(self) -> float:
        """Chunk length in seconds (``chunk_size / samplerate``)."""
        return self.chunk_size / self.samplerate

    @property
    def default_overlap(self) -> float:
        """Overlap fraction of consecutive chunks, ``1 - 1 / num_overlap``."""
        return 1.0 - 1.0 / self.num_overlap

    def valid_length(self, length: int) -> int:
        """Any length works (the STFT is centred)."""
        return length

    # ---------------------------------------------------------------- forward
    def _stft(self, x: Tensor) -> Tensor:
        b, c, t = x.shape
        spec = torch.stft(x.reshape(b * c, t), n_fft=self.n_fft, hop_length=self.hop_length,
                          win_length=self.win_length, window=self.window, normalized=self.stft_normalized,
                          center=True, return_complex=True)
        f, n = spec.shape[-2:]
        # [B, C, F, N] -> [B, F*C (bin-major), N]
        return spec.view(b, c, f, n).permute(0, 2, 1, 3).reshape(b, f * c, n)

    def _in_groups(self, fn: nn.Module, x: Tensor) -> Tensor:
        """``fn`` over independent sequences ``x[R, L, D]``, at most :attr:`max_tokens` tokens
        at a time (the same result as one call; less memory for the activations)."""
        rows = max(1, self.max_tokens // max(1, x.shape[1]))
        if x.shape[0] <= rows:
            return fn(x)
        out = torch.empty_like(x)
        for i in range(0, x.shape[0], rows):
            out[i:i + rows] = fn(x[i:i + rows])
        return out

    def forward(self, mix: Tensor) -> Tensor:
        """``Tensor[B, C, T] -> Tensor[B, S, C, T]``."""
        b, c, length = mix.shape
        if c != self.audio_channels:
            raise ValueError(f"the network takes {self.audio_channels} channels, got {c}")
        spec = self._stft(mix)                                       # [B, F*C, N] complex
        x = torch.view_as_real(spec[:, self.freq_indices])           # [B, sum(bands)*C, N, 2]
        x = x.permute(0, 2, 1, 3).reshape(b, x.shape[2], -1)         # [B, N, (f c)]
        x = self.band_split(x)                                       # [B, N, bands, dim]
        store: list[Tensor] = []
        for i, block in enumerate(self.layers):
            if len(block) == 3:
                lin, time_t, freq_t = block
                bb, n, k, d = x.shape
                x = lin(x.reshape(bb, n * k, d)).reshape(bb, n, k, d)
            else:
                time_t, freq_t = block
            if self.skip_connection:
                for prev in store:
                    x = x + prev
            bb, n, k, d = x.shape
            x = self._in_groups(time_t, x.transpose(1, 2).reshape(bb * k, n, d))
            x = x.reshape(bb, k, n, d).transpose(1, 2)
            x = self._in_groups(freq_t, x.reshape(bb * n, k, d)).reshape(bb, n, k, d)
            if self.skip_connection:
                store.append(x)
        if self.final_norm_on:
            x = self.final_norm(x)
        masks = torch.stack([est(x) for est in self.mask_estimators], dim=1)   # [B, S, N, (f c 2)]
        s, n = masks.shape[1], masks.shape[2]
        masks = torch.view_as_complex(masks.reshape(b, s, n, -1, 2).float().contiguous())
        masks = masks.transpose(2, 3)                                # [B, S, sum(bands)*C, N]
        if self.overlapping:   # average the masks of bins that several bands share
            full = masks.new_zeros(b, s, spec.shape[1], n)
            full.index_add_(2, self.freq_indices, masks)
            masks = full / self.bands_per_freq.clamp(min=1e-8)[:, None].to(full.real.dtype)
        else:
            full = masks.new_zeros(b, s, spec.shape[1], n)
            full[:, :, self.freq_indices] = masks
            masks = full
        est = spec.unsqueeze(1) * masks                              # [B, S, F*C, N]
        f = est.shape[2] // c
        est = est.view(b, s, f, c, n).permute(0, 1, 3, 2, 4).reshape(b * s * c, f, n)
        if self.zero_dc:
            est = est.index_fill(1, torch.tensor([0], device=est.device), 0.0)
        wav = torch.istft(est, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=self.window, normalized=self.stft_normalized, center=True, length=length)
        out = wav.view(b, s, c, length)
        if self.target_instrument is not None and len(self.sources) == 2:
            rest = mix.unsqueeze(1) - out
            out = torch.cat([out if name == self.target_instrument else rest for name in self.sources], 1)
        return out


class BSRoformer(RoformerBase):
    """BS-RoFormer: contiguous bands of ``freqs_per_bands`` bins (summing to
    ``stft_n_fft // 2 + 1``). Other args: :class:`RoformerBase`."""

    final_norm_on = True
    transformer_norm_output = False
    mask_hidden_offset = -1

    def __init__(self, *, freqs_per_bands: Sequence[int] = DEFAULT_FREQS_PER_BANDS, **kw: Any):
        super().__init__(band_kwargs={"freqs_per_bands": tuple(int(f) for f in freqs_per_bands)}, **kw)
        self._dv_kwargs = dict(kw, freqs_per_bands=[int(f) for f in freqs_per_bands])

    def _bands(self, n_bins: int, freqs_per_bands: tuple[int, ...] = DEFAULT_FREQS_PER_BANDS
               ) -> tuple[Tensor, Tensor, list[int]]:
        if len(freqs_per_bands) < 2 or sum(freqs_per_bands) != n_bins:
            raise ValueError(f"freqs_per_bands must have >= 2 bands summing to {n_bins} bins "
                             f"(stft_n_fft // 2 + 1), got {len(freqs_per_bands)} bands summing to "
                             f"{sum(freqs_per_bands)}")
        return torch.arange(n_bins), torch.ones(n_bins, dtype=torch.long), list(freqs_per_bands)


class MelBandRoformer(RoformerBase):
    """Mel-RoFormer: ``num_bands`` overlapping bands from a mel filterbank at ``sample_rate``
    Hz (``librosa.filters.mel``; a bin belongs to every band whose filter is non-zero there,
    the first bin to the first band and the last bin to the last). Transformers end in an
    RMSNorm each; there is no final norm. Other args: :class:`RoformerBase`."""

    final_norm_on = False
    transformer_norm_output = True
    mask_hidden_offset = 0

    def __init__(self, *, num_bands: int = 60, sample_rate: int = 44100, **kw: Any):
        super().__init__(band_kwargs={"num_bands": int(num_bands), "sample_rate": int(sample_rate)}, **kw)
        self._dv_kwargs = dict(kw, num_bands=int(num_bands), sample_rate=int(sample_rate))

    def _bands(self, n_bins: int, num_bands: int = 60, sample_rate: int = 44100
               ) -> tuple[Tensor, Tensor, list[int]]:
        import librosa

        fb = torch.from_numpy(librosa.filters.mel(sr=sample_rate, n_fft=self.n_fft, n_mels=num_bands))
        fb[0, 0] = 1.0      # as MSST: the DC bin has no mel weight otherwise
        fb[-1, -1] = 1.0    # and the Nyquist bin may round to 0
        member = fb > 0                                              # [bands, bins]
        if not bool(member.any(dim=0).all()):
            raise ValueError(f"{num_bands} mel bands leave some of the {n_bins} bins uncovered")
        freq_indices = torch.arange(n_bins).expand(num_bands, n_bins)[member]
        return freq_indices, member.sum(0), [int(v) for v in member.sum(1)]


ARCHITECTURES = {"bs_roformer": BSRoformer, "mel_band_roformer": MelBandRoformer}


# --------------------------------------------------------------------------- configs

def roformer_kind(config: Mapping[str, Any]) -> str | None:
    """``"bs_roformer"``, ``"mel_band_roformer"`` or ``None`` (not a RoFormer config), from
    the ``model:`` section (``num_bands`` -> Mel, ``freqs_per_bands`` or a ``dim``/``depth``
    transformer config -> BS, as UVR / audio-separator tell them apart)."""
    model = config.get("model") or {}
    if not isinstance(model, Mapping):
        return None
    if "num_bands" in model:
        return "mel_band_roformer"
    if "freqs_per_bands" in model or ({"dim", "depth"} <= set(model) and "num_subbands" not in model):
        return "bs_roformer"
    return None


def config_to_kwargs(config: Mapping[str, Any], kind: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(architecture, constructor kwargs)`` from an MSST/UVR yaml (a nested dict).

    Raises:
        KeyError / ValueError: a required entry is missing, or an option that this
            implementation does not have (PoPE, LoRA, Sage attention) is switched on.
    """
    kind = kind or roformer_kind(config)
    if kind not in ARCHITECTURES:
        raise ValueError(f"not a BS-/Mel-RoFormer config (model keys: {sorted(config.get('model') or {})})")
    audio, model = config["audio"], dict(config["model"])
    training, inference = config.get("training") or {}, config.get("inference") or {}
    for flag in ("use_pope", "sage_attention"):
        if model.get(flag):
            raise ValueError(f"model.{flag}: true is not supported by this implementation")
    instruments = [str(s).lower() for s in (training.get("instruments") or ["vocals", "other"])]
    target = training.get("target_instrument")
    kw: dict[str, Any] = {k: v for k, v in model.items() if k not in _TRAINING_ONLY}
    if kind == "bs_roformer":
        kw.pop("num_bands", None)
        kw.pop("sample_rate", None)
        if "freqs_per_bands" in kw:
            kw["freqs_per_bands"] = [int(f) for f in kw["freqs_per_bands"]]
    else:
        kw.pop("freqs_per_bands", None)
        kw.setdefault("sample_rate", int(audio.get("sample_rate", 44100)))
    allowed = {"dim", "depth", "stereo", "num_stems", "time_transformer_depth", "freq_transformer_depth",
               "linear_transformer_depth", "dim_head", "heads", "stft_n_fft", "stft_hop_length",
               "stft_win_length", "stft_normalized", "zero_dc", "mask_estimator_depth",
               "mlp_expansion_factor", "skip_connection", "freqs_per_bands", "num_bands", "sample_rate",
               "use_pope", "stft_window_fn"}
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise ValueError(f"model options not supported by this implementation: {unknown}")
    kw.pop("use_pope", None)
    kw.pop("stft_window_fn", None)
    kw.update(
        sources=instruments,
        target_instrument=str(target).lower() if target else None,
        samplerate=int(audio.get("sample_rate", 44100)),
        chunk_size=int(inference.get("chunk_size") or audio["chunk_size"]),
        num_overlap=int(inference.get("num_overlap") or 2),
    )
    if not kw["target_instrument"] and int(kw.get("num_stems", 1)) == 1 and len(instruments) == 2:
        kw["target_instrument"] = instruments[0]   # MSST: one stem estimates the first instrument
    return kind, kw


def build_roformer(kind: str, kwargs: Mapping[str, Any]) -> RoformerBase:
    """An untrained :class:`BSRoformer` / :class:`MelBandRoformer` (eval mode).

    Raises:
        WeightsError: unknown kind, or kwargs the network does not accept.
    """
    if kind not in ARCHITECTURES:
        raise WeightsError(f"unknown RoFormer kind {kind!r}; known: {', '.join(ARCHITECTURES)}")
    try:
        net = ARCHITECTURES[kind](**dict(kwargs))
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"cannot build {kind} from {dict(kwargs)}: {exc}") from exc
    net.dv_architecture = kind  # type: ignore[attr-defined]
    return net.eval()


def _ckpt_and_yaml(path: Path, spec: Any) -> tuple[Path, Path | None]:
    if path.is_dir():
        names = [f.filename for f in getattr(spec, "files", ())] if spec is not None else []
        ckpts = [path / n for n in names if n.endswith((".ckpt", ".pth", ".pt"))] or sorted(path.glob("*.ckpt"))
        ymls = [path / n for n in names if n.endswith((".yaml", ".yml"))] or sorted(
            list(path.glob("*.yaml")) + list(path.glob("*.yml")))
        if len(ckpts) != 1:
            raise WeightsError(f"{path}: expected one .ckpt file, found {len(ckpts)}")
        return ckpts[0], ymls[0] if len(ymls) == 1 else None
    return path, None


def load_roformer_checkpoint(path: str | os.PathLike, spec: Any = None, *,
                             config: str | os.PathLike | Mapping[str, Any] | None = None,
                             **_: Any) -> RoformerBase:
    """Load a published BS-/Mel-RoFormer: a ``.ckpt`` state dict and its MSST/UVR yaml.

    Args:
        path: the ``.ckpt``, or a folder holding it and its yaml (a registry cache folder).
        spec: the registry :class:`~discovervoice.weights.ModelSpec` (its ``files`` name the
            checkpoint and the config; ``extra["roformer"]`` may force the kind).
        config: the yaml path or a parsed dict (default: the yaml next to the checkpoint).

    Returns:
        the network in eval mode (fp32), with ``dv_files`` = ``(ckpt, yaml)``.

    Raises:
        WeightsError: missing or unreadable files.
        RoformerCheckpointError: the config is not a RoFormer config this code supports, or
            its tensors do not fit it (the message names both files and the first
            mismatching keys).
    """
    from discovervoice.separation.models import _find_yaml, read_mdx23c_config, read_msst_state_dict

    ckpt, yml = _ckpt_and_yaml(Path(path), spec)
    if not ckpt.is_file():
        raise WeightsError(f"{ckpt}: checkpoint not found")
    if isinstance(config, Mapping):
        cfg, cfg_name = dict(config), "<config dict>"
    else:
        yml = Path(config) if config is not None else (yml or _find_yaml(ckpt))
        cfg, cfg_name = read_mdx23c_config(yml), str(yml)
    kind = (getattr(spec, "extra", {}) or {}).get("roformer") if spec is not None else None
    try:
        kind, kwargs = config_to_kwargs(cfg, kind)
        net = ARCHITECTURES[kind](**kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise RoformerCheckpointError(f"{cfg_name} (config of {ckpt}): {exc}") from exc
    state = read_msst_state_dict(ckpt)
    own = net.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("rotary_embed.freqs")]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs config {tuple(own[k].shape)}"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("shape mismatch", shapes), ("missing in the checkpoint", missing),
                             ("not in the network the config describes", unexpected)):
            if items:
                parts.append(f"{len(items)} {label} (e.g. {', '.join(items[:3])})")
        raise RoformerCheckpointError(f"{ckpt} does not fit its config {cfg_name} ({kind}): "
                                      + "; ".join(parts))
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                        strict=False)
    net.dv_architecture = kind  # type: ignore[attr-defined]
    net.dv_files = (ckpt, cfg_name)  # type: ignore[attr-defined]
    return net.float().eval()


def save_roformer_checkpoint(model: RoformerBase, ckpt_path: str | os.PathLike,
                             config: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write a network as an MSST pair: ``<name>.ckpt`` (plain state dict) + ``<name>.yaml``
    (``config`` as given, e.g. the published config it was built from)."""
    import yaml

    ckpt = Path(ckpt_path)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, str(ckpt))
    yml = ckpt.with_suffix(".yaml")
    yml.write_text(yaml.safe_dump(_plain(config), sort_keys=False))
    return ckpt, yml


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["BSRoformer", "MelBandRoformer", "RoformerBase", "RoformerCheckpointError",
           "build_roformer", "config_to_kwargs", "load_roformer_checkpoint", "roformer_kind",
           "save_roformer_checkpoint"]

"""Neural MOS predictors: DNSMOS (offline) and UTMOS (registry weights).

Two different models, never confused in reports (each result names its model):

* **DNSMOS** P.835 + P.808 (Reddy et al., "DNSMOS P.835", ICASSP 2022; Microsoft's
  DNS-Challenge ONNX models, MIT) through **speechmos**, which ships the ONNX files, run
  with **onnxruntime**. 16 kHz mono; 9.01 s windows with 1 s hop (shorter clips are
  repeated to fill a window); outputs ``SIG`` (speech signal quality), ``BAK``
  (background noise), ``OVRL`` (overall) on the P.835 scale and ``P808`` (overall MOS of
  the P.808 model), each about 1-5. Built for noisy *speech*; singing scores lower.
* **UTMOS** (Saeki et al., "UTMOS: UTokyo-SaruLab system for VoiceMOS Challenge 2022"):
  the "strong learner" (wav2vec 2.0 base + data-domain and listener embeddings + BLSTM +
  frame projection), with the architecture and state-dict layout of tarepan/SpeechMOS
  ``utmos22_strong`` (MIT; its fairseq-derived wav2vec 2.0 port). Weights are the registry
  entry ``utmos22_strong`` (``discovervoice weights fetch utmos22_strong``); without them
  :class:`~discovervoice.errors.WeightsUnavailableError` says how to get them. 16 kHz
  mono input; predicted naturalness MOS ``mean_frames(proj) * 2 + 3``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from discovervoice.errors import AudioError, WeightsError
from discovervoice.signals import to_mono

DNSMOS_RATE = 16000


class DNSMOS:
    """DNSMOS P.835 / P.808 scorer (speechmos ONNX models, onnxruntime on CPU).

    ``score(audio, sample_rate) -> {"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl",
    "dnsmos_p808"}``; ``audio`` is ``ndarray[T]`` or ``[C, T]`` (channels averaged) at any
    rate (resampled to 16 kHz with soxr). Samples beyond [-1, 1] are scaled down to peak 1.

    Args:
        personalized: use the personalized-DNSMOS primary model (speechmos ``pdnsmos``).
    """

    name = "DNSMOS"

    def __init__(self, personalized: bool = False):
        import speechmos.dnsmos as sd

        base = Path(sd.__file__).resolve().parent
        primary = (base / "pdnsmos_models" / "sig_bak_ovr.onnx" if personalized
                   else base / "dnsmos_models" / "sig_bak_ovr.onnx")
        p808 = base / "dnsmos_models" / "model_v8.onnx"
        for f in (primary, p808):
            if not f.exists():
                raise WeightsError(f"{f}: DNSMOS ONNX model missing from the speechmos package")
        self.personalized = personalized
        self._model = sd.DNSMOS(str(primary), str(p808))

    def score(self, audio: np.ndarray, sample_rate: int) -> dict[str, float]:
        """DNSMOS values of one clip (each about 1-5, higher is better).

        Raises:
            AudioError: bad shape, NaN/inf, or silence.
        """
        x = to_mono(audio, sample_rate, DNSMOS_RATE, name="MOS input")
        peak = float(np.max(np.abs(x)))
        if peak < 1e-5:
            raise AudioError("DNSMOS cannot score silence (peak below -100 dBFS)")
        if peak > 1.0:
            x = x / peak
        r = self._model(x.astype(np.float32), DNSMOS_RATE, self.personalized)
        return {"dnsmos_sig": float(r["sig_mos"]), "dnsmos_bak": float(r["bak_mos"]),
                "dnsmos_ovrl": float(r["ovrl_mos"]), "dnsmos_p808": float(r["p808_mos"])}


# --------------------------------------------------------------------------- UTMOS

def _build_wav2vec2_layers():
    """The wav2vec 2.0 feature encoder and transformer layer of the UTMOS22 strong learner
    (torch imported lazily): ``(ConvFeatureExtraction, EncoderLayer)`` module classes."""
    import torch.nn.functional as F
    from torch import Tensor, nn

    class ConvFeatureExtraction(nn.Module):
        """wav2vec 2.0 feature encoder: 7 conv blocks, GroupNorm on the first."""

        def __init__(self, layers: list[tuple[int, int, int]]):
            super().__init__()
            self.conv_layers = nn.ModuleList()
            in_d = 1
            for i, (dim, k, stride) in enumerate(layers):
                mods: list[nn.Module] = [nn.Conv1d(in_d, dim, k, stride=stride, bias=False),
                                         nn.Dropout(p=0.0)]
                if i == 0:
                    mods.append(nn.GroupNorm(dim, dim, affine=True))
                mods.append(nn.GELU())
                self.conv_layers.append(nn.Sequential(*mods))
                in_d = dim

        def forward(self, x: Tensor) -> Tensor:  # (B, T) -> (B, C, F)
            x = x.unsqueeze(1)
            for conv in self.conv_layers:
                x = conv(x)
            return x

    class SelfAttention(nn.Module):
        def __init__(self, dim: int, heads: int):
            super().__init__()
            self.heads = heads
            self.q_proj = nn.Linear(dim, dim)
            self.k_proj = nn.Linear(dim, dim)
            self.v_proj = nn.Linear(dim, dim)
            self.out_proj = nn.Linear(dim, dim)

        def forward(self, x: Tensor, pad: Tensor | None) -> Tensor:  # (B, F, D)
            b, f, d = x.shape
            h = self.heads

            def split(t: Tensor) -> Tensor:
                return t.view(b, f, h, d // h).transpose(1, 2)

            q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
            mask = None if pad is None else ~pad[:, None, None, :]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            return self.out_proj(y.transpose(1, 2).reshape(b, f, d))

    class EncoderLayer(nn.Module):
        """Post-LN transformer layer of wav2vec 2.0 base."""

        def __init__(self, dim: int, ffn: int, heads: int):
            super().__init__()
            self.self_attn = SelfAttention(dim, heads)
            self.fc1 = nn.Linear(dim, ffn)
            self.fc2 = nn.Linear(ffn, dim)
            self.self_attn_layer_norm = nn.LayerNorm(dim)
            self.final_layer_norm = nn.LayerNorm(dim)

        def forward(self, x: Tensor, pad: Tensor | None) -> Tensor:
            x = self.self_attn_layer_norm(x + self.self_attn(x, pad))
            return self.final_layer_norm(x + self.fc2(F.gelu(self.fc1(x))))

    return ConvFeatureExtraction, EncoderLayer


def _build_wav2vec2_class():
    """Define the wav2vec 2.0 encoder of the UTMOS22 strong learner (torch imported
    lazily) on the layers of :func:`_build_wav2vec2_layers`; returns the ``Wav2Vec2``
    module class."""
    import torch
    import torch.nn.functional as F
    from torch import Tensor, nn

    ConvFeatureExtraction, EncoderLayer = _build_wav2vec2_layers()

    class PosConv(nn.Module):
        """Convolutional relative position embedding with weight norm over dim 2."""

        def __init__(self, dim: int, kernel: int, groups: int):
            super().__init__()
            self.kernel = kernel
            self.groups = groups
            w = torch.empty(dim, dim // groups, kernel)
            nn.init.normal_(w, std=math.sqrt(4.0 / (kernel * dim)))
            self.weight_v = nn.Parameter(w)
            self.weight_g = nn.Parameter(torch.linalg.vector_norm(w, dim=(0, 1), keepdim=True))
            self.bias = nn.Parameter(torch.zeros(dim))

        def forward(self, x: Tensor) -> Tensor:  # (B, D, F)
            v = self.weight_v
            w = v * (self.weight_g / torch.linalg.vector_norm(v, dim=(0, 1), keepdim=True))
            y = F.conv1d(x, w, self.bias, padding=self.kernel // 2, groups=self.groups)
            if self.kernel % 2 == 0:
                y = y[:, :, :-1]
            return F.gelu(y)

    class TransformerEncoder(nn.Module):
        def __init__(self, dim: int, layers: int, ffn: int, heads: int, pos_kernel: int,
                     pos_groups: int):
            super().__init__()
            self.pos_conv = nn.ModuleDict({"0": PosConv(dim, pos_kernel, pos_groups)})
            self.layer_norm = nn.LayerNorm(dim)
            self.layers = nn.ModuleList([EncoderLayer(dim, ffn, heads) for _ in range(layers)])

        def forward(self, x: Tensor) -> Tensor:  # (B, F, D)
            x = x + self.pos_conv["0"](x.transpose(1, 2)).transpose(1, 2)
            x = self.layer_norm(x)
            f = x.shape[1]
            pad = None
            if f % 2:  # fairseq pads to a multiple of 2 and masks the pad
                x = F.pad(x, (0, 0, 0, 1))
                pad = torch.zeros(x.shape[0], f + 1, dtype=torch.bool, device=x.device)
                pad[:, -1] = True
            for layer in self.layers:
                x = layer(x, pad)
            return x[:, :f]

    class Wav2Vec2(nn.Module):
        def __init__(self, conv_dim: int, dim: int, layers: int, ffn: int, heads: int,
                     pos_kernel: int, pos_groups: int):
            super().__init__()
            enc = [(conv_dim, 10, 5)] + [(conv_dim, 3, 2)] * 4 + [(conv_dim, 2, 2)] * 2
            self.feature_extractor = ConvFeatureExtraction(enc)
            self.layer_norm = nn.LayerNorm(conv_dim)
            self.post_extract_proj = nn.Linear(conv_dim, dim)
            self.encoder = TransformerEncoder(dim, layers, ffn, heads, pos_kernel, pos_groups)
            self.mask_emb = nn.Parameter(torch.zeros(dim))  # unused at inference, kept for the layout

        def forward(self, wave: Tensor) -> Tensor:  # (B, T) -> (B, F, D)
            f = self.feature_extractor(wave).transpose(1, 2)
            return self.encoder(self.post_extract_proj(self.layer_norm(f)))

    return Wav2Vec2


def _build_utmos_classes():
    """Define the UTMOS22 strong-learner module (torch imported lazily) on the wav2vec 2.0
    encoder of :func:`_build_wav2vec2_class`."""
    import torch
    from torch import Tensor, nn

    Wav2Vec2 = _build_wav2vec2_class()

    class UTMOS22Strong(nn.Module):
        """UTMOS22 strong learner (inference, no phoneme encoder).

        Shape: ``forward(wave: Tensor[B, T] at 16 kHz) -> Tensor[B]`` predicted MOS.
        """

        def __init__(self, conv_dim: int = 512, dim: int = 768, layers: int = 12,
                     ffn: int = 3072, heads: int = 12, pos_kernel: int = 128,
                     pos_groups: int = 16, domain_dim: int = 128, judge_dim: int = 128,
                     rnn_hidden: int = 512, proj_hidden: int = 2048):
            super().__init__()
            self.config = dict(conv_dim=conv_dim, dim=dim, layers=layers, ffn=ffn, heads=heads,
                               pos_kernel=pos_kernel, pos_groups=pos_groups,
                               domain_dim=domain_dim, judge_dim=judge_dim,
                               rnn_hidden=rnn_hidden, proj_hidden=proj_hidden)
            self.wav2vec2 = Wav2Vec2(conv_dim, dim, layers, ffn, heads, pos_kernel, pos_groups)
            self.domain_emb = nn.Parameter(torch.zeros(1, domain_dim), requires_grad=False)
            self.judge_emb = nn.Parameter(torch.zeros(1, judge_dim), requires_grad=False)
            self.blstm = nn.LSTM(dim + domain_dim + judge_dim, rnn_hidden, batch_first=True,
                                 bidirectional=True)
            self.projection = nn.Sequential(nn.Linear(2 * rnn_hidden, proj_hidden), nn.ReLU(),
                                            nn.Linear(proj_hidden, 1))

        def forward(self, wave: Tensor) -> Tensor:
            units = self.wav2vec2(wave)
            b, f, _ = units.shape
            cat = torch.cat([units, self.domain_emb.unsqueeze(1).expand(b, f, -1),
                             self.judge_emb.unsqueeze(1).expand(b, f, -1)], dim=2)
            score = self.projection(self.blstm(cat)[0])
            return score.mean(dim=1).squeeze(1) * 2 + 3

    return UTMOS22Strong


def utmos22_strong(**config: Any) -> Any:
    """A randomly initialised UTMOS22 strong learner (``torch.nn.Module``).

    Keyword arguments override the published configuration (wav2vec 2.0 base: conv 512,
    768-d, 12 layers, FFN 3072, 12 heads; 128-d domain and judge embeddings; BLSTM 512;
    projection 2048) — small values serve tests. The state-dict keys are those of
    tarepan/SpeechMOS ``utmos22_strong_step7459_v1.pt`` (``wav2vec2.encoder.pos_conv.0.
    weight_g`` / ``weight_v`` for the weight-normalised position convolution).
    """
    return _build_utmos_classes()(**config)


def _normalise_state_dict(state: dict) -> dict:
    """Accept the new parametrization names of weight norm as well as weight_g/weight_v."""
    out = {}
    for k, v in state.items():
        k = k.replace("pos_conv.0.parametrizations.weight.original0", "pos_conv.0.weight_g")
        k = k.replace("pos_conv.0.parametrizations.weight.original1", "pos_conv.0.weight_v")
        out[k] = v
    return out


def load_utmos(path: str | Path, spec: Any = None, **config: Any) -> "UTMOS":
    """Registry factory of ``utmos22_strong``: a :class:`UTMOS` scorer from a state dict.

    The file is a ``torch.save``-d state dict (tarepan/SpeechMOS release format); an
    optional ``"config"`` entry holds constructor keyword arguments (files written by
    tests with small configurations).

    Raises:
        WeightsError: the file is not a UTMOS22 state dict (keys listed).
    """

    from discovervoice.checkpoint import fit_state, read_torch

    p = Path(path)
    obj = read_torch(p)
    cfg = dict(config)
    if "state_dict" in obj:
        cfg = {**obj.get("config", {}), **cfg}
        obj = obj["state_dict"]

    model = fit_state(utmos22_strong(**cfg), _normalise_state_dict(obj), p,
                      "a UTMOS22 strong-learner state dict of this configuration")
    model.eval()
    return UTMOS(model)


class UTMOS:
    """UTMOS22 strong-learner scorer. ``score(audio, sample_rate) -> {"utmos": MOS}``."""

    name = "UTMOS"

    def __init__(self, model: Any):
        self.model = model

    @classmethod
    def from_registry(cls, checkpoint: str | Path | None = None) -> "UTMOS":
        """Load the registry checkpoint ``utmos22_strong`` (or a local file in its format).

        Raises:
            WeightsUnavailableError: not cached and offline (the message names the fetch
                command), or ``checkpoint`` does not exist.
        """
        from discovervoice import weights

        return weights.load_model(checkpoint or "utmos22_strong", spec_name="utmos22_strong")

    def score(self, audio: np.ndarray, sample_rate: int) -> dict[str, float]:
        """Predicted naturalness MOS (about 1-5) of ``ndarray[T]`` or ``[C, T]``."""
        import torch

        x = to_mono(audio, sample_rate, DNSMOS_RATE, name="MOS input")
        with torch.inference_mode():
            y = self.model(torch.from_numpy(x).unsqueeze(0))
        return {"utmos": float(y[0])}


def get_scorer(name: str, checkpoint: str | Path | None = None) -> Any:
    """``"dnsmos"`` -> :class:`DNSMOS`; ``"utmos"`` -> :class:`UTMOS` from the registry
    (or from ``checkpoint``, a local ``utmos22_strong`` file).

    Raises:
        WeightsUnavailableError: UTMOS weights not available offline.
        WeightsError: unknown name.
    """
    if name == "dnsmos":
        return DNSMOS()
    if name == "utmos":
        return UTMOS.from_registry(checkpoint)
    raise WeightsError(f"unknown MOS model {name!r}; use 'dnsmos' or 'utmos'")

"""ECAPA-TDNN speaker embeddings in the SpeechBrain checkpoint format (no SpeechBrain needed).

Sources: Desplanques et al., "ECAPA-TDNN: Emphasized Channel Attention, Propagation and
Aggregation in TDNN Based Speaker Verification", Interspeech 2020; the network, module
names and state-dict layout of SpeechBrain's ``speechbrain.lobes.models.ECAPA_TDNN``
(Apache-2.0) as published in ``speechbrain/spkrec-ecapa-voxceleb``
(``embedding_model.ckpt``, registry entry ``ecapa_voxceleb``), and its front end:

* ``Fbank``: ``torch.stft`` (n_fft 400, 25 ms Hamming window, 10 ms hop, centred, zero
  padding) -> power spectrum -> ``n_mels`` symmetric triangular filters equally spaced on
  the mel scale ``2595 log10(1 + f / 700)`` between 0 Hz and Nyquist -> ``10 log10``
  (floor 1e-10) clipped to 80 dB below the utterance maximum;
* sentence-level mean normalisation of the features (``InputNormalization(norm_type=
  "sentence", std_norm=False)``);
* convolutions with "same" reflect padding, BatchNorm in eval mode.

Shapes: ``forward(feats: Tensor[B, T, n_mels]) -> Tensor[B, 1, lin_neurons]``;
:class:`EcapaEncoder` ``.embed(audio ndarray[C, T] or [T], sample_rate) -> ndarray[D]``
(resampled to 16 kHz mono with soxr).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from discovervoice.errors import AudioError, WeightsError

ECAPA_RATE = 16000
#: Configuration of ``speechbrain/spkrec-ecapa-voxceleb`` (its hyperparams.yaml).
VOXCELEB_CONFIG = dict(input_size=80, channels=[1024, 1024, 1024, 1024, 3072],
                       kernel_sizes=[5, 3, 3, 3, 1], dilations=[1, 2, 3, 4, 1],
                       attention_channels=128, res2net_scale=8, se_channels=128,
                       lin_neurons=192)


def _build_blocks():
    """SpeechBrain's ECAPA-TDNN building blocks (torch imported lazily): ``(Conv, BN,
    TDNNBlock, SERes2NetBlock, AttentiveStatisticsPooling)`` module classes."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Conv(nn.Module):
        """SpeechBrain Conv1d (skip_transpose): "same" reflect padding, then ``conv``."""

        def __init__(self, cin: int, cout: int, k: int, dilation: int = 1):
            super().__init__()
            self.pad = dilation * (k - 1) // 2
            self.conv = nn.Conv1d(cin, cout, k, dilation=dilation)

        def forward(self, x):
            if self.pad:
                x = F.pad(x, (self.pad, self.pad), mode="reflect")
            return self.conv(x)

    class BN(nn.Module):
        def __init__(self, n: int):
            super().__init__()
            self.norm = nn.BatchNorm1d(n)

        def forward(self, x):
            return self.norm(x)

    class TDNNBlock(nn.Module):
        def __init__(self, cin, cout, k, dilation):
            super().__init__()
            self.conv = Conv(cin, cout, k, dilation)
            self.activation = nn.ReLU()
            self.norm = BN(cout)

        def forward(self, x):
            return self.norm(self.activation(self.conv(x)))

    class Res2NetBlock(nn.Module):
        def __init__(self, cin, cout, scale, k, dilation):
            super().__init__()
            self.scale = scale
            self.blocks = nn.ModuleList([TDNNBlock(cin // scale, cout // scale, k, dilation)
                                         for _ in range(scale - 1)])

        def forward(self, x):
            ys = []
            y = None
            for i, xi in enumerate(torch.chunk(x, self.scale, dim=1)):
                if i == 0:
                    y = xi
                elif i == 1:
                    y = self.blocks[0](xi)
                else:
                    y = self.blocks[i - 1](xi + y)
                ys.append(y)
            return torch.cat(ys, dim=1)

    class SEBlock(nn.Module):
        def __init__(self, cin, se, cout):
            super().__init__()
            self.conv1 = Conv(cin, se, 1)
            self.conv2 = Conv(se, cout, 1)

        def forward(self, x):
            s = x.mean(dim=2, keepdim=True)
            return torch.sigmoid(self.conv2(torch.relu(self.conv1(s)))) * x

    class SERes2NetBlock(nn.Module):
        def __init__(self, cin, cout, scale, se, k, dilation):
            super().__init__()
            self.tdnn1 = TDNNBlock(cin, cout, 1, 1)
            self.res2net_block = Res2NetBlock(cout, cout, scale, k, dilation)
            self.tdnn2 = TDNNBlock(cout, cout, 1, 1)
            self.se_block = SEBlock(cout, se, cout)
            self.shortcut = Conv(cin, cout, 1) if cin != cout else None

        def forward(self, x):
            res = self.shortcut(x) if self.shortcut is not None else x
            return self.se_block(self.tdnn2(self.res2net_block(self.tdnn1(x)))) + res

    class AttentiveStatisticsPooling(nn.Module):
        def __init__(self, channels, attention_channels):
            super().__init__()
            self.tdnn = TDNNBlock(channels * 3, attention_channels, 1, 1)
            self.conv = Conv(attention_channels, channels, 1)

        @staticmethod
        def _stats(x, w, eps=1e-12):
            mean = (w * x).sum(2)
            std = torch.sqrt((w * (x - mean.unsqueeze(2)).pow(2)).sum(2).clamp(eps))
            return mean, std

        def forward(self, x):
            t = x.shape[-1]
            mean, std = self._stats(x, torch.full_like(x[:, :1], 1.0 / t))
            ctx = torch.cat([x, mean.unsqueeze(2).expand(-1, -1, t),
                             std.unsqueeze(2).expand(-1, -1, t)], dim=1)
            attn = torch.softmax(self.conv(torch.tanh(self.tdnn(ctx))), dim=2)
            mean, std = self._stats(x, attn)
            return torch.cat([mean, std], dim=1).unsqueeze(2)

    return Conv, BN, TDNNBlock, SERes2NetBlock, AttentiveStatisticsPooling


def _build():
    """The ``ECAPA_TDNN`` module class on the blocks of :func:`_build_blocks`."""
    import torch
    from torch import nn

    Conv, BN, TDNNBlock, SERes2NetBlock, AttentiveStatisticsPooling = _build_blocks()

    class ECAPA_TDNN(nn.Module):
        """ECAPA-TDNN; ``forward(Tensor[B, T, F]) -> Tensor[B, 1, lin_neurons]``."""

        def __init__(self, input_size=80, channels=(512, 512, 512, 512, 1536),
                     kernel_sizes=(5, 3, 3, 3, 1), dilations=(1, 2, 3, 4, 1),
                     attention_channels=128, res2net_scale=8, se_channels=128,
                     lin_neurons=192):
            super().__init__()
            channels, kernel_sizes, dilations = list(channels), list(kernel_sizes), list(dilations)
            if not len(channels) == len(kernel_sizes) == len(dilations):
                raise WeightsError("ECAPA channels, kernel_sizes and dilations differ in length")
            self.config = dict(input_size=input_size, channels=channels,
                               kernel_sizes=kernel_sizes, dilations=dilations,
                               attention_channels=attention_channels,
                               res2net_scale=res2net_scale, se_channels=se_channels,
                               lin_neurons=lin_neurons)
            self.blocks = nn.ModuleList([TDNNBlock(input_size, channels[0], kernel_sizes[0],
                                                   dilations[0])])
            for i in range(1, len(channels) - 1):
                self.blocks.append(SERes2NetBlock(channels[i - 1], channels[i], res2net_scale,
                                                  se_channels, kernel_sizes[i], dilations[i]))
            self.mfa = TDNNBlock(channels[-2] * (len(channels) - 2), channels[-1],
                                 kernel_sizes[-1], dilations[-1])
            self.asp = AttentiveStatisticsPooling(channels[-1], attention_channels)
            self.asp_bn = BN(channels[-1] * 2)
            self.fc = Conv(channels[-1] * 2, lin_neurons, 1)

        def forward(self, feats):
            x = feats.transpose(1, 2)
            xl = []
            for layer in self.blocks:
                x = layer(x)
                xl.append(x)
            x = self.mfa(torch.cat(xl[1:], dim=1))
            x = self.fc(self.asp_bn(self.asp(x)))
            return x.transpose(1, 2)

    return ECAPA_TDNN


def ecapa_tdnn(**config: Any) -> Any:
    """A randomly initialised ECAPA-TDNN (``torch.nn.Module``, eval mode not set).

    Keyword arguments as SpeechBrain's ``ECAPA_TDNN`` (``input_size``, ``channels``,
    ``kernel_sizes``, ``dilations``, ``attention_channels``, ``res2net_scale``,
    ``se_channels``, ``lin_neurons``); :data:`VOXCELEB_CONFIG` is the published model's.
    """
    return _build()(**config)


def fbank(wave: np.ndarray, n_mels: int = 80, sample_rate: int = ECAPA_RATE,
          top_db: float = 80.0) -> Any:
    """SpeechBrain ``Fbank`` features of ``ndarray[T]`` (16 kHz): ``Tensor[1, frames, n_mels]``
    in dB, mean-normalised over the utterance (sentence-level ``InputNormalization``)."""
    import torch

    x = torch.as_tensor(np.asarray(wave, dtype=np.float32))[None]
    n_fft, hop = 400, int(round(sample_rate * 0.010))
    win = int(round(sample_rate * 0.025))
    spec = torch.stft(x, n_fft, hop, win, torch.hamming_window(win), center=True,
                      pad_mode="constant", normalized=False, onesided=True,
                      return_complex=True)
    power = spec.abs().pow(2).transpose(1, 2)  # [1, frames, n_fft/2 + 1]

    def to_mel(hz):
        return 2595 * math.log10(1 + hz / 700)

    mel = torch.linspace(to_mel(0.0), to_mel(sample_rate / 2), n_mels + 2)
    hz = 700 * (10 ** (mel / 2595) - 1)
    band = (hz[1:] - hz[:-1])[:-1]
    centre = hz[1:-1]
    freqs = torch.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    slope = (freqs[None, :] - centre[:, None]) / band[:, None]
    fb = torch.clamp(torch.minimum(slope + 1.0, 1.0 - slope), min=0.0).T  # [freq, mel]
    feats = 10.0 * torch.log10(torch.clamp(power @ fb, min=1e-10))
    feats = torch.maximum(feats, feats.amax(dim=(-2, -1), keepdim=True) - top_db)
    return feats - feats.mean(dim=1, keepdim=True)


class EcapaEncoder:
    """Speaker encoder around an ECAPA-TDNN: ``embed(audio, sample_rate) -> ndarray[D]``."""

    name = "ecapa-tdnn"

    def __init__(self, model: Any, n_mels: int = 80):
        self.model = model.eval()
        self.n_mels = n_mels

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Embedding (not normalised; compare with cosine similarity).

        Raises:
            AudioError: bad shape, NaN/inf, or shorter than 0.1 s.
        """
        import torch

        from discovervoice.signals import to_mono

        x = to_mono(audio, sample_rate, ECAPA_RATE, name="speaker embedding input",
                    allow_empty=True)
        if x.size < ECAPA_RATE // 10:
            raise AudioError("audio shorter than 0.1 s; cannot embed the speaker")
        with torch.inference_mode():
            e = self.model(fbank(x, self.n_mels))
        return e[0, 0].numpy().astype(np.float32)

    def embed_many(self, clips) -> np.ndarray:
        """Speaker embedding of several clips: mean of their unit-normalised embeddings."""
        if not clips:
            raise AudioError("no clips to embed")
        es = [self.embed(a, sr) for a, sr in clips]
        e = np.mean([v / np.linalg.norm(v) for v in es], axis=0)
        return e / np.linalg.norm(e)


def _read_hyperparams(path: Path) -> dict:
    """``embedding_model`` and ``n_mels`` of a SpeechBrain hyperparams.yaml (custom tags
    such as ``!new:`` / ``!ref`` are read as plain values)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def any_tag(loader, suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    Loader.add_multi_constructor("!", any_tag)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader) or {}
    except yaml.YAMLError as exc:
        raise WeightsError(f"{path}: not a readable hyperparams.yaml ({exc})") from exc
    emb = dict(doc.get("embedding_model") or {})
    n_mels = doc.get("n_mels", 80)
    out: dict[str, Any] = {}
    for k in VOXCELEB_CONFIG:
        v = emb.get(k)
        if isinstance(v, str) and re.fullmatch(r"<\w+>", v.strip()):
            v = doc.get(v.strip()[1:-1])
        if v is not None:
            out[k] = v
    out.setdefault("input_size", n_mels)
    return {"config": out, "n_mels": int(n_mels) if not isinstance(n_mels, str) else 80}


def load_ecapa(path: str | Path, spec: Any = None, **config: Any) -> EcapaEncoder:
    """Registry factory of ``ecapa_voxceleb``: an :class:`EcapaEncoder`.

    Args:
        path: the model folder (``hyperparams.yaml`` + ``embedding_model.ckpt``) or the
            ``embedding_model.ckpt`` file itself.
        config: constructor overrides (default: hyperparams.yaml, else
            :data:`VOXCELEB_CONFIG`).

    Raises:
        WeightsError: missing or unreadable checkpoint, or a state dict that does not fit
            the ECAPA-TDNN layout (first mismatching keys named).
    """

    p = Path(path)
    ckpt = p / "embedding_model.ckpt" if p.is_dir() else p
    if not ckpt.is_file():
        raise WeightsError(f"{ckpt}: ECAPA-TDNN checkpoint not found")
    hp = p / "hyperparams.yaml" if p.is_dir() else p.with_name("hyperparams.yaml")
    cfg = dict(VOXCELEB_CONFIG)
    n_mels = 80
    if hp.is_file():
        h = _read_hyperparams(hp)
        cfg.update(h["config"])
        n_mels = h["n_mels"]
    cfg.update(config)
    n_mels = int(cfg.get("input_size", n_mels))
    from discovervoice.checkpoint import fit_state, read_torch

    state = read_torch(ckpt)

    model = fit_state(ecapa_tdnn(**cfg), state, ckpt, "an ECAPA-TDNN state dict of this configuration")
    return EcapaEncoder(model, n_mels)

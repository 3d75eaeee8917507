"""Ensembles of separators: weighted waveform average and spectrogram-domain combinations.

Methods (the ones UVR's "Ensemble mode" and the MDX23 winners use):
    * ``average``: weighted average of the members' waveforms (MDX23 / MSST ``ensemble.py``
      "avg_wave").
    * ``median_mag`` / ``max_mag`` / ``min_mag``: per STFT bin, the median / maximum /
      minimum of the members' magnitudes (UVR "Max Spec", "Min Spec"; MSST "median_fft",
      "max_fft", "min_fft"); the phase is that of the members' weighted complex average.
      ``max_mag`` keeps more of a stem (fuller vocals, more bleed), ``min_mag`` less.
    * ``mask_avg``: the weighted average of the members' soft masks
      ``min(|S_i| / |X|, 1)`` applied to the mixture STFT ``X`` (mixture phase).

The spectrogram methods run on blocks of ``block_seconds`` with ``n_fft`` samples of margin
on each side, so memory stays bounded for long songs; the result equals a whole-signal STFT
away from the ends because every frame of a block's kept part sees the same samples.

STFT: torch, Hann window, ``n_fft=4096``, hop 1024 (the sigsep defaults at 44.1 kHz).

Presets (:data:`PRESETS`, after audio-separator's ``ensemble_presets.json``, whose
algorithms map to ours: ``avg_wave``/``avg_fft`` -> ``average`` (a complex average of STFTs
is the waveform average), ``max_fft`` -> ``max_mag``, ``min_fft`` -> ``min_mag``): named
member models of the weights registry and a method. ``Separator("vocal_balanced")`` or
``discovervoice separate --ensemble-preset vocal_balanced`` runs one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from discovervoice.errors import DiscoverVoiceError

METHODS = ("average", "median_mag", "max_mag", "min_mag", "mask_avg")


@dataclass(frozen=True)
class Preset:
    """A named ensemble: registry models, their combination and what it is for."""

    members: tuple[str, ...]
    method: str
    description: str
    weights: tuple[float, ...] | None = None


#: Ensemble presets (members: published checkpoints of the weights registry).
PRESETS: dict[str, Preset] = {
    "vocal_balanced": Preset(
        ("bs_roformer_viperx_1297", "mel_roformer_kim_vocals"), "average",
        "best-known BS-RoFormer + Mel-RoFormer vocals models, waveforms averaged"),
    "vocal_quality": Preset(
        ("bs_roformer_viperx_1297", "bs_roformer_viperx_1296", "mel_roformer_kim_vocals"), "average",
        "three RoFormer vocals models averaged (slower, steadier)"),
    "vocal_full": Preset(
        ("bs_roformer_viperx_1297", "mel_roformer_kim_vocals"), "max_mag",
        "per STFT bin the larger magnitude: fuller vocals and harmonies, more bleed"),
    "vocal_clean": Preset(
        ("bs_roformer_viperx_1297", "mel_roformer_kim_vocals"), "min_mag",
        "per STFT bin the smaller magnitude: least instrument bleed, thinner vocals"),
    "karaoke": Preset(
        ("mel_roformer_karaoke_aufr33_viperx", "mel_roformer_karaoke_gabox_v2",
         "mel_roformer_karaoke_becruily"), "average",
        "lead vocals vs. everything else (backing vocals stay in the accompaniment)"),
}


class EnsembleError(DiscoverVoiceError):
    """Members that cannot be combined (different rates, no common stem, bad weights)."""


def combine(estimates: Sequence[np.ndarray], weights: Sequence[float] | None = None,
            method: str = "average", mixture: np.ndarray | None = None, *, n_fft: int = 4096,
            hop_length: int = 1024, block_seconds: float = 30.0, sample_rate: int = 44100
            ) -> np.ndarray:
    """Combine estimates of one stem.

    Args:
        estimates: ``[ndarray[C, T]]`` from each member (same shape).
        weights: one non-negative weight per member (default equal); normalised to sum 1.
        method: one of :data:`METHODS`.
        mixture: ``ndarray[C, T]``, needed by ``mask_avg``.
        n_fft, hop_length: STFT size and hop (samples).
        block_seconds: block length of the spectrogram methods.

    Returns:
        ``ndarray[float32, C, T]``.

    Raises:
        EnsembleError: bad method, weights or shapes.
    """
    import torch

    if method not in METHODS:
        raise EnsembleError(f"unknown ensemble method {method!r}; use one of {', '.join(METHODS)}")
    if not estimates:
        raise EnsembleError("no estimates to combine")
    shape = estimates[0].shape
    if any(e.shape != shape for e in estimates):
        raise EnsembleError(f"estimates differ in shape: {[e.shape for e in estimates]}")
    w = np.ones(len(estimates)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(estimates),) or (w < 0).any() or w.sum() <= 0:
        raise EnsembleError(f"need {len(estimates)} non-negative weights with a positive sum, got {weights}")
    w = w / w.sum()
    if method == "average":
        return np.sum([wi * e for wi, e in zip(w, estimates)], axis=0).astype(np.float32)
    if method == "mask_avg" and mixture is None:
        raise EnsembleError("mask_avg needs the mixture")
    c, t = shape
    window = torch.hann_window(n_fft)
    # block and margin on the hop grid, so that every block's frames sit where a whole-signal
    # STFT puts them
    block = max(int(block_seconds * sample_rate), 4 * n_fft) // hop_length * hop_length
    margin = -(-n_fft // hop_length) * hop_length
    out = np.zeros(shape, dtype=np.float32)
    wt = torch.tensor(w, dtype=torch.float32).view(-1, 1, 1, 1)
    for start in range(0, t, block):
        a, b = max(0, start - margin), min(t, start + block + margin)
        seg = torch.from_numpy(np.stack([e[:, a:b] for e in estimates]).astype(np.float32))
        m, cc, n = seg.shape
        spec = torch.stft(seg.reshape(m * cc, n), n_fft, hop_length, window=window,
                          center=True, return_complex=True).reshape(m, cc, n_fft // 2 + 1, -1)
        mag = spec.abs()
        avg = (spec * wt).sum(0)
        if method == "mask_avg":
            mix = torch.from_numpy(np.ascontiguousarray(mixture[:, a:b], dtype=np.float32))
            X = torch.stft(mix, n_fft, hop_length, window=window, center=True, return_complex=True)
            masks = (mag / (X.abs().unsqueeze(0) + 1e-8)).clamp(max=1.0)
            res = (masks * wt).sum(0) * X
        else:
            if method == "median_mag":
                new_mag = mag.median(0).values if m % 2 else mag.sort(0).values[m // 2 - 1: m // 2 + 1].mean(0)
            elif method == "max_mag":
                new_mag = mag.max(0).values
            else:
                new_mag = mag.min(0).values
            res = torch.polar(new_mag, torch.angle(avg))
        y = torch.istft(res, n_fft, hop_length, window=window, center=True, length=n).numpy()
        keep_a, keep_b = start - a, start - a + min(block, t - start)
        out[:, start:start + (keep_b - keep_a)] = y[:, keep_a:keep_b]
    return out


class Ensemble:
    """Several :class:`~discovervoice.separation.api.Separator` combined stem by stem.

    Args:
        members: separators at one sample rate.
        weights: per-member weights (default equal).
        method: see :data:`METHODS`.

    Attributes:
        stems: the stems every member gives.
    """

    def __init__(self, members: Sequence[Any], weights: Sequence[float] | None = None,
                 method: str = "average"):
        if len(members) < 1:
            raise EnsembleError("an ensemble needs at least one member")
        rates = {m.sample_rate for m in members}
        if len(rates) != 1:
            raise EnsembleError(f"ensemble members work at different rates {sorted(rates)} Hz")
        if method not in METHODS:
            raise EnsembleError(f"unknown ensemble method {method!r}; use one of {', '.join(METHODS)}")
        if weights is not None and len(weights) != len(members):
            raise EnsembleError(f"{len(weights)} weights for {len(members)} members")
        self.members, self.weights, self.method = list(members), weights, method
        common = [s for s in members[0]._model_stems if all(s in m._model_stems for m in members)]
        if not common:
            raise EnsembleError("the members share no stem")
        self.stems = common

    def separate(self, audio: np.ndarray, progress: Callable[[float, str], None] | None = None
                 ) -> dict[str, np.ndarray]:
        """``{stem: ndarray[C, T]}`` for :attr:`stems` of ``audio`` ``[C, T]``."""
        outs = []
        n = len(self.members)
        for i, m in enumerate(self.members):
            def prog(f: float, msg: str, i: int = i) -> None:
                if progress is not None:
                    progress((i + f) / (n + 1), f"member {i + 1}/{n}: {msg}")
            outs.append(m._separate_array(audio, prog))
        res = {s: combine([o[s] for o in outs], self.weights, self.method, audio,
                          sample_rate=self.members[0].sample_rate) for s in self.stems}
        if progress is not None:
            progress(1.0, "ensemble combined")
        return res

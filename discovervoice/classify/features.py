"""Voice activity detection, analysis windows, AST log-mel features, augmentation.

Libraries:
    * VAD through :func:`discovervoice.signals.voiced_regions`: **webrtcvad** (GMM, the
      resemblyzer dependency; default) gated by level finds voice, sung or spoken;
      **silero-vad** (ships its model, MIT) is the choice for speech-only input — it misses
      most singing (measured here on MBROLA singing: 0.9 s of 14 s kept, webrtcvad
      13.2 s); a plain energy gate is the third backend.
    * **soxr** resamples (pitch/speed augmentation).
    * **transformers**' ``ASTFeatureExtractor`` is the reference of the features: the
      Kaldi-compatible log-mel filterbank of the AST paper (Gong et al. 2021: 25 ms Hann
      frames, 10 ms hop, pre-emphasis 0.97, DC removal, 512-point FFT, natural log,
      normalised with ``(x - mean) / (2 std)``). :class:`LogMel` computes the same features
      in torch, batched, from the extractor's own mel filters (a test checks they match);
      it is ~20x faster than the extractor's numpy loop on CPU.

Pipeline for one recording ``ndarray[C, T]`` at 16 kHz: mono -> VAD -> the voiced parts
concatenated (silence and pauses are never learned or scored) -> RMS normalised ->
windows of ``window_seconds`` with hop ``hop_seconds`` -> ``LogMel`` -> AST.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from discovervoice import signals
from discovervoice.errors import AudioError

SAMPLE_RATE = signals.ANALYSIS_RATE
VadBackend = signals.VadBackend


@dataclass(frozen=True)
class WindowConfig:
    """How a recording is cut into classifier windows.

    Attributes:
        window_seconds: window length in seconds (must match the AST's ``max_length``
            frames: ``max_length = window_seconds * 100``).
        hop_seconds: hop between windows at inference and validation, seconds.
        min_voiced_seconds: shortest total voiced audio accepted; shorter input raises.
        vad: ``webrtc`` (default: speech and singing) | ``silero`` (speech) | ``energy``.
        vad_threshold: silero speech probability threshold.
        pad_seconds: context kept around each voiced region, seconds.
        target_rms_db: the voiced audio is scaled to this RMS level (dBFS).
    """

    window_seconds: float = 4.0
    hop_seconds: float = 2.0
    min_voiced_seconds: float = 1.0
    vad: VadBackend = "webrtc"
    vad_threshold: float = 0.35
    pad_seconds: float = 0.05
    target_rms_db: float = -23.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WindowConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * SAMPLE_RATE))

    @property
    def hop_samples(self) -> int:
        return max(1, int(round(self.hop_seconds * SAMPLE_RATE)))


# --------------------------------------------------------------------------- VAD

def voiced_regions(x: np.ndarray, cfg: WindowConfig = WindowConfig()) -> list[tuple[int, int]]:
    """Sample ranges ``[(start, end)]`` with voice (speech or singing) in ``x``: the
    configured backend of :func:`discovervoice.signals.voiced_regions`.

    Args:
        x: ``ndarray[T]`` mono at 16 kHz.
        cfg: backend, threshold and padding.
    """
    return signals.voiced_regions(x, cfg.vad, threshold=cfg.vad_threshold,
                                  pad_seconds=cfg.pad_seconds)


def voiced_audio(audio: np.ndarray, sample_rate: int = SAMPLE_RATE,
                 cfg: WindowConfig = WindowConfig(), *, name: str = "input") -> np.ndarray:
    """The voiced parts of a recording, concatenated and RMS-normalised.

    Args:
        audio: ``ndarray[C, T]`` or ``[T]`` at 16 kHz.
        cfg: VAD backend, padding, level.
        name: used in error messages (a file name).

    Returns:
        ``ndarray[T']`` float32 at 16 kHz, ``T' <= T``.

    Raises:
        AudioError: silent input (peak below -100 dBFS), or less than
            ``cfg.min_voiced_seconds`` of voice found.
    """
    x = signals.to_mono(audio, sample_rate, SAMPLE_RATE, mismatch="refuse", name=name)
    peak = float(np.max(np.abs(x)))
    if peak < 1e-5:
        raise AudioError(f"{name}: the audio is silent (peak {20 * math.log10(peak + 1e-12):.0f} "
                         "dBFS); record a voice and try again")
    regs = voiced_regions(x, cfg)
    v = np.concatenate([x[s:e] for s, e in regs]) if regs else np.zeros(0, np.float32)
    if len(v) < cfg.min_voiced_seconds * SAMPLE_RATE:
        raise AudioError(
            f"{name}: only {len(v) / SAMPLE_RATE:.2f} s of voice found by the {cfg.vad} voice "
            f"activity detector in {len(x) / SAMPLE_RATE:.2f} s of audio; at least "
            f"{cfg.min_voiced_seconds:g} s of singing or speech is needed")
    rms = float(np.sqrt(np.mean(v.astype(np.float64) ** 2)))
    v = v * (10 ** (cfg.target_rms_db / 20) / max(rms, 1e-8))
    return np.clip(v, -1.0, 1.0).astype(np.float32)


def cut_windows(x: np.ndarray, cfg: WindowConfig = WindowConfig()) -> np.ndarray:
    """Cut voiced audio into overlapping windows.

    Windows start every ``hop_samples``; one more is aligned to the end so the tail is
    covered. Audio shorter than one window gives one zero-padded window.

    Args:
        x: ``ndarray[T]`` (output of :func:`voiced_audio`).

    Returns:
        ``ndarray[N, W]`` float32, ``W = window_samples``, ``N >= 1`` (``N = 0`` for empty).
    """
    w, h = cfg.window_samples, cfg.hop_samples
    if len(x) == 0:
        return np.zeros((0, w), np.float32)
    if len(x) <= w:
        out = np.zeros((1, w), np.float32)
        out[0, : len(x)] = x
        return out
    starts = list(range(0, len(x) - w + 1, h))
    if starts[-1] != len(x) - w:
        starts.append(len(x) - w)
    return np.stack([x[s:s + w] for s in starts]).astype(np.float32)


# --------------------------------------------------------------------------- features

class LogMel:
    """Batched torch implementation of ``ASTFeatureExtractor``'s features.

    Args:
        feature_extractor: a ``transformers.ASTFeatureExtractor`` (its ``num_mel_bins``,
            ``max_length``, ``mean``, ``std``, ``do_normalize`` and mel filters are used).

    Call with ``Tensor[B, T]`` waveforms at 16 kHz -> ``Tensor[B, max_length, n_mels]``
    (padded with zeros / truncated to ``max_length`` frames before normalisation, as the
    extractor does). :meth:`frames` returns the unpadded log-mel ``Tensor[B, F, n_mels]``.
    """

    frame_length = 400
    hop_length = 160
    n_fft = 512
    preemphasis = 0.97
    mel_floor = 1.192092955078125e-07

    def __init__(self, feature_extractor: Any):
        import torch
        from transformers.audio_utils import mel_filter_bank, window_function

        fe = feature_extractor
        if int(fe.sampling_rate) != SAMPLE_RATE:
            raise ValueError(f"AST features at {fe.sampling_rate} Hz are not supported "
                             f"(expected {SAMPLE_RATE})")
        self.n_mels = int(fe.num_mel_bins)
        self.max_length = int(fe.max_length)
        self.mean, self.std = float(fe.mean), float(fe.std)
        self.do_normalize = bool(fe.do_normalize)
        mel = getattr(fe, "mel_filters", None)
        if mel is None:
            mel = mel_filter_bank(num_frequency_bins=257, num_mel_filters=self.n_mels,
                                  min_frequency=20, max_frequency=SAMPLE_RATE // 2,
                                  sampling_rate=SAMPLE_RATE, norm=None, mel_scale="kaldi",
                                  triangularize_in_mel_space=True)
        self.mel = torch.tensor(np.asarray(mel), dtype=torch.float32)  # [257, n_mels]
        self.window = torch.tensor(window_function(400, "hann", periodic=False),
                                   dtype=torch.float32)

    def frames(self, wave: "torch.Tensor") -> "torch.Tensor":
        """``Tensor[B, T]`` -> unnormalised log-mel ``Tensor[B, F, n_mels]``,
        ``F = 1 + (T - 400) // 160``."""
        import torch

        if wave.shape[-1] < self.frame_length:
            wave = torch.nn.functional.pad(wave, (0, self.frame_length - wave.shape[-1]))
        fr = wave.float().unfold(-1, self.frame_length, self.hop_length)  # [B, F, 400]
        fr = fr - fr.mean(dim=-1, keepdim=True)
        fr = torch.cat([fr[..., :1] * (1 - self.preemphasis),
                        fr[..., 1:] - self.preemphasis * fr[..., :-1]], dim=-1)
        fr = fr * self.window
        spec = torch.fft.rfft(fr, n=self.n_fft).abs().pow(2)  # [B, F, 257]
        return torch.clamp(spec @ self.mel, min=self.mel_floor).log()

    def finish(self, logmel: "torch.Tensor") -> "torch.Tensor":
        """Pad/truncate ``Tensor[B, F, n_mels]`` to ``max_length`` frames and normalise."""
        import torch

        f = logmel.shape[1]
        if f < self.max_length:
            logmel = torch.nn.functional.pad(logmel, (0, 0, 0, self.max_length - f))
        else:
            logmel = logmel[:, : self.max_length]
        if self.do_normalize:
            logmel = (logmel - self.mean) / (self.std * 2)
        return logmel

    def __call__(self, wave: "torch.Tensor") -> "torch.Tensor":
        return self.finish(self.frames(wave))


# --------------------------------------------------------------------------- augmentation

@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation, each applied to every training window.

    Attributes:
        pitch_semitones: pitch shift drawn from ``U(-p, p)`` semitones (resampling; the
            duration change is undone on the frame axis, so tempo stays independent).
        tempo: tempo factor drawn from ``U(1 - t, 1 + t)`` (frame-axis interpolation of the
            log-mel, pitch unchanged).
        gain_db: gain drawn from ``U(-g, g)`` dB.
        noise_prob: probability of adding white or pink noise...
        snr_db: ...at an SNR drawn from this range, dB.
    """

    pitch_semitones: float = 1.0
    tempo: float = 0.1
    gain_db: float = 6.0
    noise_prob: float = 0.5
    snr_db: tuple[float, float] = (15.0, 40.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def random_crop(x: np.ndarray, window_samples: int, rng: np.random.Generator,
                aug: AugmentConfig | None) -> tuple[np.ndarray, float]:
    """Cut a random crop of voiced audio for one augmented window.

    Returns ``(wave, stretch)``: the waveform to featurise (pitch-shifted, gained, noised)
    and the factor by which its frame axis must be resampled to give the window's frames
    (``1.0`` without augmentation).
    """
    if aug is None:
        n = window_samples
        s = int(rng.integers(0, max(1, len(x) - n + 1)))
        w = x[s:s + n]
        return (np.pad(w, (0, n - len(w))) if len(w) < n else w).astype(np.float32), 1.0
    r = 2.0 ** (rng.uniform(-aug.pitch_semitones, aug.pitch_semitones) / 12.0)  # pitch ratio
    t = rng.uniform(1.0 - aug.tempo, 1.0 + aug.tempo)  # tempo ratio
    n_src = int(round(window_samples * t))
    s = int(rng.integers(0, max(1, len(x) - n_src + 1)))
    w = x[s:s + n_src].astype(np.float64)
    if abs(r - 1.0) > 1e-3 and len(w) > 32:
        import soxr

        # playing n_src samples back r times faster: pitch * r, duration / r
        w = soxr.resample(w, SAMPLE_RATE, SAMPLE_RATE / r, quality="LQ")
    w = w * 10 ** (rng.uniform(-aug.gain_db, aug.gain_db) / 20)
    if rng.random() < aug.noise_prob and len(w):
        noise = rng.standard_normal(len(w))
        if rng.random() < 0.5:  # pink: 1/f shaping in the frequency domain
            spec = np.fft.rfft(noise)
            spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
            noise = np.fft.irfft(spec, n=len(w))
        p_sig = np.mean(w * w) + 1e-12
        snr = rng.uniform(*aug.snr_db)
        w = w + noise * np.sqrt(p_sig / (np.mean(noise * noise) + 1e-12) / 10 ** (snr / 10))
    # the crop holds t * window of content in len(w) samples; its frames are stretched
    # so that the window's frame count results (tempo t, pitch r).
    stretch = (window_samples / SAMPLE_RATE) / max(len(w) / SAMPLE_RATE, 1e-3)
    return np.clip(w, -1, 1).astype(np.float32), stretch


def batch_features(crops: list[tuple[np.ndarray, float]], logmel: LogMel) -> "torch.Tensor":
    """Featurise random crops (see :func:`random_crop`) -> ``Tensor[B, max_length, n_mels]``."""
    import torch

    out = []
    for wave, stretch in crops:
        lm = logmel.frames(torch.from_numpy(wave)[None])  # [1, F, M]
        if abs(stretch - 1.0) > 1e-3:
            f_new = max(2, int(round(lm.shape[1] * stretch)))
            lm = torch.nn.functional.interpolate(lm.transpose(1, 2), size=f_new, mode="linear",
                                                 align_corners=False).transpose(1, 2)
        out.append(logmel.finish(lm))
    return torch.cat(out, 0)


# --------------------------------------------------------------------------- aggregation

def aggregate_logits(window_logits: np.ndarray, temperature: float = 1.0,
                     weights: np.ndarray | None = None) -> np.ndarray:
    """Clip-level probabilities from window logits.

    The (weighted) mean of the window logits is divided by ``temperature`` and soft-maxed:
    a normalised geometric mean of the windows' distributions (product-of-experts pooling),
    calibrated by temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural
    Networks").

    Args:
        window_logits: ``ndarray[N, K]``, ``N >= 1``.
        temperature: ``> 0``.
        weights: optional ``ndarray[N]`` non-negative window weights.

    Returns:
        ``ndarray[K]`` float64 probabilities summing to 1.

    Raises:
        ValueError: no windows, wrong shapes, non-positive temperature.
    """
    z = np.asarray(window_logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"window_logits must be [N>=1, K], got shape {z.shape}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if weights is None:
        m = z.mean(axis=0)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (z.shape[0],) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("weights must be [N], non-negative, with a positive sum")
        m = (w[:, None] * z).sum(axis=0) / w.sum()
    m = m / temperature
    m = m - m.max()
    p = np.exp(m)
    return p / p.sum()


def fit_temperature(clip_logits: np.ndarray, labels: np.ndarray, *,
                    t_min: float = 0.05, t_max: float = 20.0) -> float:
    """Temperature minimising the NLL of ``softmax(clip_logits / T)`` (Guo et al. 2017).

    Args:
        clip_logits: ``ndarray[M, K]`` mean window logits per validation clip (or cosine
            similarities, whose scale is ``1 / T``).
        labels: ``ndarray[M]`` true class indices.
        t_min, t_max: search range of ``T`` (similarities in ``[-1, 1]`` need a small
            ``t_min``: a scale of 60 is ``T`` = 0.017).

    Returns:
        ``T`` in ``[t_min, t_max]`` (golden-section search on ``log T``; the NLL is convex in
        ``1/T``).
    """
    z = np.asarray(clip_logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if len(z) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        s = z / math.exp(log_t)
        s = s - s.max(axis=1, keepdims=True)
        lse = np.log(np.exp(s).sum(axis=1))
        return float(np.mean(lse - s[np.arange(len(y)), y]))

    lo, hi = math.log(t_min), math.log(t_max)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(math.exp((lo + hi) / 2))

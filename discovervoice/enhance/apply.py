"""Apply a CRNN enhancer to audio of any length: level normalisation, chunking with
overlap-add, progress (the demucs ``apply.py`` split: the network's ``forward`` stays pure).

:class:`Enhancer` is the stage object the pipeline, app and CLI use::

    enh = discovervoice.weights.load_model("dv-enhance-crnn")
    clean = enh.enhance(noisy)          # ndarray[C, T] at enh.sample_rate -> ndarray[C, T]

Libraries: numpy (buffers), torch (inference).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from discovervoice.errors import AudioError, WeightsError
from discovervoice.progress import Progress

#: Working level of the network (RMS, dBFS): inputs are scaled to it and back.
WORK_LEVEL_DB = -25.0
DEFAULT_MODEL = "dv-enhance-crnn"


def _validate(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim not in (1, 2):
        raise AudioError(f"enhance expects ndarray[C, T] or ndarray[T], got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise AudioError(f"enhance expects floating-point samples, got dtype {a.dtype}")
    if a.shape[-1] == 0:
        raise AudioError("enhance got empty audio (0 samples)")
    if not np.all(np.isfinite(a)):
        raise AudioError("enhance got NaN or infinite samples")
    return a


class Enhancer:
    """Speech enhancement stage around a :class:`~discovervoice.enhance.model.CRNN`.

    Args:
        model: the network (moved to ``device``, put in eval mode).
        chunk_seconds: length of the pieces the input is cut into, seconds.
        overlap_seconds: cross-fade between pieces, seconds (linear fades, overlap-add).
        batch_size: pieces processed together.
        device: torch device string.
        num_threads: torch intra-op threads while enhancing (``None``: leave as is).

    Attributes:
        sample_rate: the rate :meth:`enhance` expects, Hz (16000 for the default model).
    """

    def __init__(self, model, *, chunk_seconds: float = 10.0, overlap_seconds: float = 0.5,
                 batch_size: int = 4, device: str = "cpu", num_threads: int | None = None):
        if overlap_seconds * 2 >= chunk_seconds:
            raise ValueError("overlap_seconds must be less than half of chunk_seconds")
        self.model = model.to(device).eval()
        self.device = device
        self.chunk = int(round(chunk_seconds * model.sample_rate))
        self.overlap = int(round(overlap_seconds * model.sample_rate))
        self.batch_size = int(batch_size)
        self.num_threads = num_threads

    @property
    def sample_rate(self) -> int:
        return int(self.model.sample_rate)

    @property
    def causal(self) -> bool:
        return bool(self.model.config.causal)

    def enhance(self, audio: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """Remove noise from speech.

        Args:
            audio: ``ndarray[C, T]`` (or ``ndarray[T]``) float samples at
                :attr:`sample_rate` Hz; each channel is enhanced on its own.
            progress: ``progress(fraction, message)`` callback.

        Returns:
            float32 array of the same shape (same length ``T``). The output level follows the
            input level (the network runs at -25 dBFS RMS and is scaled back).

        Raises:
            AudioError: wrong rank or dtype, empty, NaN/inf samples.
        """
        import torch

        a = _validate(audio)
        one_d = a.ndim == 1
        x = np.atleast_2d(a).astype(np.float32)
        c, t = x.shape
        rms = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=1))
        gains = np.where(rms > 1e-7, 10 ** (WORK_LEVEL_DB / 20) / np.maximum(rms, 1e-12), 1.0)
        x = x * gains[:, None].astype(np.float32)

        step = self.chunk - self.overlap
        n_chunks = max(1, int(np.ceil(max(t - self.overlap, 1) / step)))
        length = ((n_chunks - 1) * step + self.chunk if n_chunks > 1
                  else max(t, self.model.config.n_fft))   # reflect padding needs > n_fft/2
        padded = np.zeros((c, length), np.float32)
        padded[:, :t] = x
        pieces = [(ch, i * step) for ch in range(c) for i in range(n_chunks)]
        seg_len = self.chunk if n_chunks > 1 else length
        out = np.zeros((c, length), np.float32)
        weight = np.zeros((c, length), np.float32)
        fade = self._window(seg_len, n_chunks > 1)
        old_threads = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        try:
            with torch.inference_mode():
                for b0 in range(0, len(pieces), self.batch_size):
                    batch = pieces[b0:b0 + self.batch_size]
                    seg = np.stack([padded[ch, s:s + seg_len] for ch, s in batch])
                    y = self.model(torch.from_numpy(seg).to(self.device)).cpu().numpy()
                    for (ch, s), yi in zip(batch, y):
                        out[ch, s:s + seg_len] += yi * fade
                        weight[ch, s:s + seg_len] += fade
                    if progress is not None:
                        progress(min(1.0, (b0 + len(batch)) / len(pieces)), "enhancing")
        finally:
            if self.num_threads:
                torch.set_num_threads(old_threads)
        y = out[:, :t] / np.maximum(weight[:, :t], 1e-8)
        y = y / gains[:, None].astype(np.float32)
        return y[0] if one_d else y

    def _window(self, n: int, fades: bool) -> np.ndarray:
        w = np.ones(n, np.float32)
        if fades and self.overlap > 0:
            ramp = (np.arange(self.overlap, dtype=np.float32) + 0.5) / self.overlap
            w[:self.overlap] = ramp
            w[-self.overlap:] = ramp[::-1]
        return w


def load(name_or_path: str | os.PathLike = DEFAULT_MODEL, **kwargs) -> Enhancer:
    """An :class:`Enhancer` from a registry name (default ``dv-enhance-crnn``) or a
    checkpoint path (``.safetensors`` from ``enhance train`` or its ``.pt`` checkpoint).

    Raises:
        WeightsError / WeightsUnavailableError: see :func:`discovervoice.weights.resolve`.
    """
    from discovervoice import weights

    return weights.load_model(name_or_path, spec_name=DEFAULT_MODEL, **kwargs)


def load_enhancer(path: str | os.PathLike, spec: Any = None, **kwargs: Any) -> Enhancer:
    """Registry factory (``discovervoice.enhance.apply:load_enhancer``): a CRNN checkpoint
    (:func:`discovervoice.enhance.model.load_crnn`) -> :class:`Enhancer`; ``kwargs`` go to
    the Enhancer.

    Raises:
        WeightsError: not a CRNN checkpoint, or the registered file's sample rate differs
            from its manifest's.
    """
    from pathlib import Path

    from discovervoice.enhance.model import load_crnn

    model = load_crnn(path)
    registered = spec is not None and getattr(spec, "shipped", None) == Path(path).name
    if registered and spec.sample_rate != model.sample_rate:
        raise WeightsError(f"{path}: model sample rate {model.sample_rate} Hz does not match "
                           f"the registry's {spec.sample_rate} Hz for {spec.name!r}")
    return Enhancer(model, **kwargs)

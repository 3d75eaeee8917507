"""Waveform and spectrogram pictures of audio (PNG), for the app and reports.

matplotlib (Agg backend, no display) draws; librosa computes the log-magnitude STFT.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def waveform_and_spectrogram(audio: np.ndarray, sample_rate: int, path: str | os.PathLike,
                             title: str = "", n_fft: int = 2048, max_hz: float | None = 11025) -> Path:
    """Draw the waveform (top) and the log-magnitude spectrogram (bottom) of ``audio``.

    Args:
        audio: ``ndarray[C, T]`` or ``[T]``; channels are averaged for the spectrogram.
        sample_rate: Hz.
        path: PNG to write (parent folders created).
        max_hz: upper frequency shown, Hz (``None``: Nyquist).

    Returns:
        The PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import librosa
    import matplotlib.pyplot as plt

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    mono = x.mean(axis=0)
    # keep drawing cheap for long songs: at most ~4000 points per channel on the waveform
    step = max(1, x.shape[1] // 4000)
    t = np.arange(0, x.shape[1], step) / sample_rate
    hop = max(n_fft // 4, x.shape[1] // 2000)
    spec = librosa.amplitude_to_db(np.abs(librosa.stft(mono, n_fft=n_fft, hop_length=hop)), ref=np.max,
                                   top_db=80)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True,
                                 gridspec_kw={"height_ratios": [1, 2]})
    for c in range(x.shape[0]):
        a1.plot(t, x[c, ::step], lw=0.5, alpha=0.8, label=f"ch {c + 1}")
    a1.set_ylabel("amplitude")
    a1.set_ylim(-1.05, 1.05)
    if title:
        a1.set_title(title)
    extent = (0.0, x.shape[1] / sample_rate, 0.0, sample_rate / 2)
    im = a2.imshow(spec, origin="lower", aspect="auto", extent=extent, cmap="magma")
    a2.set_ylim(0, min(max_hz or sample_rate / 2, sample_rate / 2))
    a2.set_xlabel("time (s)")
    a2.set_ylabel("frequency (Hz)")
    fig.colorbar(im, ax=a2, format="%+.0f dB", pad=0.01)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out

"""REPET-SIM: a training-free vocals / accompaniment separator, the reference that the
embedded models are compared with on real recordings.

Rafii & Pardo, "Music/Voice Separation using the Similarity Matrix", ISMIR 2012, as in
librosa's "Vocal separation" example: the accompaniment is what repeats, so each
magnitude-spectrogram frame is replaced by the median of its most similar frames
(:func:`librosa.decompose.nn_filter`, cosine similarity, at least ``width_s`` apart);
a soft mask (:func:`librosa.util.softmask`, vocals margin 10, power 2) takes the vocals out
of the mixture STFT, inverted with the mixture's phase; the accompaniment is the mixture
minus the vocals (so the two stems sum to the mixture, like the two-stem models).
Every channel is processed on its own. Libraries: librosa (STFT, nn_filter, softmask),
numpy.
"""

from __future__ import annotations

import numpy as np

NAME = "repet-sim"


def repet_sim(mixture: np.ndarray, sample_rate: int, *, n_fft: int = 2048, hop: int = 512,
              width_s: float = 2.0, margin_vocals: float = 10.0, power: float = 2.0) -> dict[str, np.ndarray]:
    """Separate ``mixture`` (``ndarray[C, T]`` or ``[T]``, float) at ``sample_rate`` Hz.

    Returns:
        ``{"vocals": ndarray[C, T], "accompaniment": ndarray[C, T]}`` float32.
    """
    import librosa

    x = np.atleast_2d(np.asarray(mixture, dtype=np.float32))
    n = x.shape[1]
    width = max(1, int(librosa.time_to_frames(width_s, sr=sample_rate, hop_length=hop)))
    out = {"vocals": np.zeros_like(x), "accompaniment": np.zeros_like(x)}
    for c in range(x.shape[0]):
        spec = librosa.stft(x[c], n_fft=n_fft, hop_length=hop)
        mag, phase = np.abs(spec), np.exp(1j * np.angle(spec))
        width_c = min(width, max(1, (mag.shape[1] - 1) // 2 - 1))   # librosa: < (n-1)//2
        rep = librosa.decompose.nn_filter(mag, aggregate=np.median, metric="cosine",
                                          width=width_c)
        rep = np.minimum(mag, rep)
        mask_v = librosa.util.softmask(mag - rep, margin_vocals * rep, power=power)
        out["vocals"][c] = librosa.istft(mask_v * mag * phase, hop_length=hop, length=n)
        out["accompaniment"][c] = x[c] - out["vocals"][c]
    return out

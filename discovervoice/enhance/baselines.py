"""Classic speech-enhancement baselines, evaluated next to the CRNN.

* :func:`mmse_stsa` — the Ephraim-Malah MMSE short-time spectral amplitude estimator
  (Ephraim & Malah 1984, "Speech enhancement using a minimum mean-square error short-time
  spectral amplitude estimator", IEEE TASSP 32(6)), with the decision-directed a-priori
  SNR estimate (alpha = 0.98) and a VAD-gated recursive noise PSD update, following the
  reference MATLAB implementation in Loizou, "Speech Enhancement: Theory and Practice"
  (``mmse.m``). ``method="wiener"`` uses the Wiener gain ``xi / (1 + xi)`` with the same
  estimates (Scalart & Filho 1996); ``method="logmmse"`` the log-spectral amplitude gain
  (Ephraim & Malah 1985).
* :func:`spectral_gating` — noisereduce's spectral gating (Sainburg et al. 2020), the
  library's non-stationary mode by default.

All functions take ``ndarray[C, T]`` or ``ndarray[T]`` float audio and return the same
shape and length. Libraries: numpy/scipy (STFT, Bessel functions), noisereduce.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import istft, stft
from scipy.special import exp1, i0e, i1e

from discovervoice.errors import AudioError


def _as_2d(audio: np.ndarray, who: str) -> tuple[np.ndarray, bool]:
    a = np.asarray(audio, dtype=np.float64)
    if a.ndim not in (1, 2) or a.shape[-1] == 0:
        raise AudioError(f"{who} expects non-empty ndarray[C, T] or ndarray[T], got {a.shape}")
    return np.atleast_2d(a), a.ndim == 1


def _initial_noise_psd(power: np.ndarray, init_frames: int) -> np.ndarray:
    """Noise PSD ``[F]`` from the first frames, or, when those hold more energy than the
    quietest 10 % of the frames (speech from the first sample), from those quietest frames."""
    energy = power.sum(axis=0)
    n = power.shape[1]
    k = max(1, n // 10)
    quiet = np.argsort(energy)[:k]
    first = power[:, :min(init_frames, n)].mean(axis=1)
    q = power[:, quiet].mean(axis=1)
    return first if first.sum() <= 2.0 * q.sum() else q


def mmse_stsa(audio: np.ndarray, sample_rate: int, *, method: str = "mmse-stsa",
              frame_seconds: float = 0.032, alpha: float = 0.98, xi_min_db: float = -25.0,
              init_seconds: float = 0.12, vad_threshold: float = 0.15,
              noise_update: float = 0.98) -> np.ndarray:
    """Statistical-model speech enhancement (MMSE-STSA / Wiener / log-MMSE).

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]`` noisy speech.
        sample_rate: Hz.
        method: ``"mmse-stsa"`` (Ephraim-Malah 1984), ``"logmmse"`` (1985) or ``"wiener"``.
        frame_seconds: STFT window (Hann, 50 % overlap), seconds.
        alpha: decision-directed smoothing of the a-priori SNR.
        xi_min_db: floor of the a-priori SNR, dB.
        init_seconds: leading stretch assumed to be noise for the first PSD estimate.
        vad_threshold: frames whose mean ``gamma - log(gamma) - 1`` is below it update the
            noise PSD (Loizou's ``mmse.m`` VAD).
        noise_update: smoothing of the noise PSD update.

    Returns:
        Enhanced audio, same shape and length, float32.

    Raises:
        AudioError: wrong shape. ValueError: unknown ``method``.
    """
    if method not in ("mmse-stsa", "logmmse", "wiener"):
        raise ValueError(f"unknown method {method!r}; use mmse-stsa, logmmse or wiener")
    x, one_d = _as_2d(audio, "mmse_stsa")
    nper = int(round(frame_seconds * sample_rate))
    nper += nper % 2
    hop = nper // 2
    xi_min = 10 ** (xi_min_db / 10)
    init_frames = max(1, int(init_seconds * sample_rate / hop))
    out = np.empty_like(x)
    for c in range(x.shape[0]):
        _, _, spec = stft(x[c], nperseg=nper, noverlap=nper - hop, window="hann",
                          boundary="zeros", padded=True)
        power = np.abs(spec) ** 2                              # [F, N]
        noise = np.maximum(_initial_noise_psd(power, init_frames), 1e-12)
        gains = np.empty_like(power)
        prev_amp2 = np.zeros(power.shape[0])
        for n in range(power.shape[1]):
            gamma = np.minimum(power[:, n] / noise, 1e3)        # a-posteriori SNR
            if n == 0:
                xi = alpha + (1 - alpha) * np.maximum(gamma - 1, 0)
            else:
                xi = alpha * prev_amp2 / noise + (1 - alpha) * np.maximum(gamma - 1, 0)
            xi = np.maximum(xi, xi_min)
            # VAD-gated noise update (Loizou, mmse.m)
            log_sigma = gamma * xi / (1 + xi) - np.log1p(xi)
            if np.mean(log_sigma) < vad_threshold:
                noise = noise_update * noise + (1 - noise_update) * power[:, n]
                noise = np.maximum(noise, 1e-12)
            v = xi * gamma / (1 + xi)
            if method == "wiener":
                g = xi / (1 + xi)
            elif method == "logmmse":
                g = xi / (1 + xi) * np.exp(0.5 * exp1(np.maximum(v, 1e-10)))
            else:
                # G = sqrt(pi)/2 * sqrt(v)/gamma * exp(-v/2) [(1+v) I0(v/2) + v I1(v/2)]
                # with exp(-v/2) I_k(v/2) = i_ke(v/2) (exponentially scaled Bessel functions)
                g = (np.sqrt(np.pi) / 2 * np.sqrt(v) / np.maximum(gamma, 1e-10)
                     * ((1 + v) * i0e(v / 2) + v * i1e(v / 2)))
            g = np.minimum(g, 1.0)
            gains[:, n] = g
            prev_amp2 = (g ** 2) * power[:, n]
        _, y = istft(spec * gains, nperseg=nper, noverlap=nper - hop, window="hann",
                     boundary=True)
        y = y[: x.shape[1]]
        if y.shape[0] < x.shape[1]:
            y = np.pad(y, (0, x.shape[1] - y.shape[0]))
        out[c] = y
    out = out.astype(np.float32)
    return out[0] if one_d else out


def wiener(audio: np.ndarray, sample_rate: int, **kwargs) -> np.ndarray:
    """Decision-directed Wiener filter; see :func:`mmse_stsa` (``method="wiener"``)."""
    return mmse_stsa(audio, sample_rate, method="wiener", **kwargs)


def spectral_gating(audio: np.ndarray, sample_rate: int, *, stationary: bool = False,
                    prop_decrease: float = 1.0) -> np.ndarray:
    """noisereduce spectral gating (its defaults otherwise), same shape and length.

    Raises:
        AudioError: wrong shape.
    """
    import noisereduce

    x, one_d = _as_2d(audio, "spectral_gating")
    y = np.stack([noisereduce.reduce_noise(y=ch, sr=sample_rate, stationary=stationary,
                                           prop_decrease=prop_decrease, n_jobs=1)
                  for ch in x]).astype(np.float32)
    y = y[:, : x.shape[1]]
    return y[0] if one_d else y


#: Baselines by the names used in evaluation tables.
BASELINES = {
    "noisereduce": spectral_gating,
    "mmse-stsa": mmse_stsa,
    "wiener": wiener,
}

"""Speech-enhancement metrics, each on one mono signal at 16 kHz.

* :func:`si_sdr` — scale-invariant SDR in dB (Le Roux et al. 2019, "SDR — half-baked or
  well done?"), numpy.
* :func:`pesq_wb` — wide-band PESQ, ITU-T P.862.2 (library ``pesq``), MOS-LQO 1.04..4.64.
* :func:`stoi` — short-time objective intelligibility (Taal et al. 2011; ``pystoi``), 0..1.
* :func:`dnsmos` — DNSMOS P.835 (Reddy et al. 2022; ``speechmos``' ONNX models), the
  overall / signal / background MOS on 1..5, through the eval package's wrapper
  (``discovervoice.eval.mos.DNSMOS``), so every stage reports the same numbers.

All take ``ndarray[T]`` float arrays; reference first, estimate second.
"""

from __future__ import annotations

import numpy as np

from discovervoice.errors import AudioError

SAMPLE_RATE = 16000


def _pair(ref: np.ndarray, est: np.ndarray, who: str) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(ref, dtype=np.float64).reshape(-1)
    e = np.asarray(est, dtype=np.float64).reshape(-1)
    if r.shape != e.shape:
        raise AudioError(f"{who}: reference has {r.size} samples, estimate {e.size}")
    if r.size == 0:
        raise AudioError(f"{who}: empty signals")
    return r, e


def si_sdr(ref: np.ndarray, est: np.ndarray, eps: float = 1e-12) -> float:
    """Scale-invariant SDR in dB (zero-mean signals, optimal scaling of the reference)."""
    r, e = _pair(ref, est, "si_sdr")
    r = r - r.mean()
    e = e - e.mean()
    alpha = np.dot(e, r) / (np.dot(r, r) + eps)
    target = alpha * r
    noise = e - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def pesq_wb(ref: np.ndarray, est: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Wide-band PESQ (P.862.2). ``nan`` when PESQ finds no utterance in the reference."""
    from pesq import NoUtterancesError, pesq

    if sample_rate != 16000:
        raise AudioError(f"pesq_wb needs 16000 Hz audio, got {sample_rate} Hz")
    r, e = _pair(ref, est, "pesq_wb")
    try:
        return float(pesq(16000, r.astype(np.float32), e.astype(np.float32), "wb"))
    except NoUtterancesError:
        return float("nan")


def stoi(ref: np.ndarray, est: np.ndarray, sample_rate: int = SAMPLE_RATE,
         extended: bool = False) -> float:
    """STOI (or ESTOI with ``extended=True``), 0..1."""
    from pystoi import stoi as _stoi

    r, e = _pair(ref, est, "stoi")
    return float(_stoi(r, e, sample_rate, extended=extended))


_DNSMOS = None


def dnsmos(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
    """DNSMOS P.835 of one clip: ``{"ovrl", "sig", "bak", "p808"}`` (MOS, about 1..5),
    through the eval package's :class:`discovervoice.eval.mos.DNSMOS` (speechmos ONNX)."""
    global _DNSMOS
    from discovervoice.eval.mos import DNSMOS

    if _DNSMOS is None:
        _DNSMOS = DNSMOS()
    r = _DNSMOS.score(np.asarray(audio, np.float32), sample_rate)
    return {k.replace("dnsmos_", ""): float(v) for k, v in r.items()}

"""Speech enhancement: a CRNN denoiser, classic baselines, training and evaluation.

* :mod:`~discovervoice.enhance.model` — the CRNN (conv encoder over the STFT magnitude,
  GRU over time, magnitude mask; causal option) and its safetensors checkpoints.
* :mod:`~discovervoice.enhance.apply` — :class:`Enhancer`, the stage object
  (``.sample_rate`` = 16000 Hz, ``.enhance(ndarray[C, T]) -> ndarray[C, T]``, any length,
  chunked with overlap-add); :func:`load` builds one from ``dv-enhance-crnn`` or a path.
* :mod:`~discovervoice.enhance.baselines` — MMSE-STSA (Ephraim-Malah), Wiener, log-MMSE,
  noisereduce spectral gating.
* :mod:`~discovervoice.enhance.train` — ``discovervoice enhance train`` on noisy/clean pair
  folders (SNR re-mixing through :func:`discovervoice.corpus.mix.mix_at_snr`).
* :mod:`~discovervoice.enhance.evaluate` — PESQ-WB, STOI, SI-SDRi, DNSMOS per SNR against
  the baselines, and the ASR robustness (CER) table.

Transcription lives in :mod:`discovervoice.transcribe`. Nothing heavy is imported
here: ``from discovervoice.enhance import Enhancer, load`` imports torch on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Enhancer", "load"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from discovervoice.enhance import apply

        return getattr(apply, name)
    raise AttributeError(f"module 'discovervoice.enhance' has no attribute {name!r}")

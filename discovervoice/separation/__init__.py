"""Music source separation: vocals / accompaniment, or vocals, drums, bass, other.

Public API (imported lazily, so ``import discovervoice.separation`` stays light)::

    from discovervoice.separation import Separator
    sep = Separator("default", stems=("vocals",))      # or "htdemucs", "mdx23c_instvoc_hq",
    stems = sep.separate("song.wav")                   # "ensemble", a checkpoint path...
    stems["vocals"].shape                              # ndarray[C, T] at sep.sample_rate Hz

Modules:
    * :mod:`.api` — :class:`Separator` (after ``demucs.api.Separator``), batch separation of
      files (``discovervoice separate``).
    * :mod:`.apply` — chunked overlap-add application with shifts, jobs and progress.
    * :mod:`.models` — HTDemucs (demucs 4.1) and MDX23C networks; demucs ``.th``, UVR/MSST
      ``.ckpt`` + yaml and DiscoverVoice safetensors checkpoints.
    * :mod:`.mdx23c` — the TFC-TDF v3 network.
    * :mod:`.ensemble` — waveform and spectrogram-domain ensembles.
    * :mod:`.train` — training on MUSDB18-HQ-layout folders.
    * :mod:`.prune` — iterative structured channel pruning (torch-pruning) with fine-tuning.
    * :mod:`.evaluate` — uSDR / SI-SDR tables with mixture and oracle-IRM baselines.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Separator", "separate", "apply_model"]


def __getattr__(name: str) -> Any:
    if name in ("Separator", "separate"):
        from discovervoice.separation import api

        return getattr(api, name)
    if name == "apply_model":
        from discovervoice.separation.apply import apply_model

        return apply_model
    raise AttributeError(f"module 'discovervoice.separation' has no attribute {name!r}")

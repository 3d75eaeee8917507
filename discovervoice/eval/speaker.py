"""Speaker similarity: cosine similarity of speaker embeddings.

Libraries and sources:
    * **resemblyzer** (Resemble AI; the GE2E speaker encoder of Wan et al., "Generalized
      end-to-end loss for speaker verification", ICASSP 2018): 256-d L2-normalised
      utterance embeddings, weights shipped in the wheel, runs offline. Its
      ``preprocess_wav`` resamples to 16 kHz, normalises the volume and trims long
      silences (webrtcvad).
    * **ECAPA-TDNN** (Desplanques et al. 2020; SpeechBrain's ``spkrec-ecapa-voxceleb``)
      through the weights registry entry ``ecapa_voxceleb``
      (:mod:`discovervoice.eval.ecapa`, no SpeechBrain needed); offline without the
      checkpoint, :class:`~discovervoice.errors.WeightsUnavailableError` names the fetch
      command.

Similarity is ``cos(e_a, e_b) = <e_a, e_b> / (||e_a|| ||e_b||)`` in [-1, 1]; 1 for the same
embedding. A speaker's reference embedding from several clips is the normalised mean of
their embeddings (resemblyzer's ``embed_speaker``).
"""

from __future__ import annotations

import functools

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from discovervoice.errors import AudioError, WeightsError

RESEMBLYZER_RATE = 16000


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings ``ndarray[D]`` (in [-1, 1]).

    Raises:
        AudioError: dimensions differ or an embedding is all zeros.
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise AudioError(f"embedding sizes differ: {x.size} and {y.size}")
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0:
        raise AudioError("cannot compare an all-zero embedding")
    return float(np.dot(x, y) / (nx * ny))


class ResemblyzerEncoder:
    """GE2E speaker encoder (resemblyzer), CPU by default.

    ``embed(audio, sample_rate) -> ndarray[256]`` for ``ndarray[T]`` or ``[C, T]`` (channels
    averaged) at any rate (resampled to 16 kHz by resemblyzer).
    """

    name = "resemblyzer-ge2e"

    def __init__(self, device: str = "cpu"):
        from resemblyzer import VoiceEncoder

        self._encoder = VoiceEncoder(device, verbose=False)

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Utterance embedding ``ndarray[float32, 256]`` (unit norm).

        Raises:
            AudioError: the signal is empty or holds no speech after silence trimming.
        """
        from resemblyzer import preprocess_wav

        from discovervoice.signals import to_mono

        x = to_mono(audio, sample_rate, name="speaker embedding input")
        wav = preprocess_wav(x, source_sr=sample_rate)
        if wav.size < RESEMBLYZER_RATE // 4:
            raise AudioError("less than 0.25 s of speech left after silence trimming; "
                             "cannot embed the speaker")
        return self._encoder.embed_utterance(wav)

    def embed_many(self, clips: Sequence[tuple[np.ndarray, int]]) -> np.ndarray:
        """Speaker embedding of several clips: normalised mean of their embeddings."""
        if not clips:
            raise AudioError("no clips to embed")
        e = np.mean([self.embed(a, sr) for a, sr in clips], axis=0)
        return e / np.linalg.norm(e)


@functools.lru_cache(maxsize=1)
def shared_encoder() -> "ResemblyzerEncoder":
    """One :class:`ResemblyzerEncoder` per process (the weights load once, ~0.2 s)."""
    return ResemblyzerEncoder()


def get_encoder(name: str = "resemblyzer", device: str = "cpu",
                checkpoint: str | Path | None = None) -> Any:
    """A speaker encoder by name: ``"resemblyzer"`` (offline) or ``"ecapa"`` (registry
    ``ecapa_voxceleb``, or ``checkpoint``: a local folder / ``embedding_model.ckpt``).

    Raises:
        WeightsError: unknown name, or the ECAPA checkpoint cannot be resolved or loaded.
    """
    if name == "resemblyzer":
        return ResemblyzerEncoder(device)
    if name == "ecapa":
        from discovervoice import weights

        return weights.load_model(checkpoint or "ecapa_voxceleb", spec_name="ecapa_voxceleb")
    raise WeightsError(f"unknown speaker encoder {name!r}; use 'resemblyzer' or 'ecapa'")


def load_ecapa(path: Path, spec: Any = None, **kwargs: Any) -> Any:
    """Registry factory of ``ecapa_voxceleb``: see :func:`discovervoice.eval.ecapa.load_ecapa`.

    Raises:
        WeightsError: missing, unreadable or mismatching checkpoint.
    """
    from discovervoice.eval.ecapa import load_ecapa as _load

    return _load(path, spec, **kwargs)


def speaker_similarity(a: np.ndarray, sr_a: int, b: np.ndarray, sr_b: int,
                       encoder: Any | None = None) -> float:
    """Cosine similarity of the speaker embeddings of two signals (``[C, T]`` or ``[T]``)."""
    enc = encoder or ResemblyzerEncoder()
    return cosine_similarity(enc.embed(a, sr_a), enc.embed(b, sr_b))

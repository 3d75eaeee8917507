"""Voice activity detection with silero-vad (Silero Team, 2024; MIT licence).

The ``silero-vad`` pip package ships its model files inside the wheel
(``silero_vad/data/silero_vad.onnx``), so nothing is downloaded: :func:`load_vad` opens
that ONNX file with onnxruntime on the CPU (one thread). The network takes 512-sample
frames (32 ms) at 16 kHz, with 64 samples of context, and returns the probability that
the frame holds speech.

Note: silero-vad is a *speech* detector: it scores sustained sung vowels, and
instruments, low. Singing is found by :mod:`discovervoice.prep.segmentation` from pitch
features of the (separated) vocal track instead.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from discovervoice.prep.features import ANALYSIS_RATE, HOP, n_frames

#: silero-vad frame, in samples at 16 kHz (32 ms).
VAD_FRAME = 512

_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def load_vad():
    """The silero-vad ONNX model shipped in the ``silero-vad`` wheel (cached, no network).

    Raises:
        ImportError: silero-vad or onnxruntime is not installed.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        # silero_vad.model calls torch.set_num_threads(1) when imported; keep the
        # caller's setting.
        from silero_vad import load_silero_vad

        return load_silero_vad(onnx=True)
    finally:
        torch.set_num_threads(threads)


def speech_probability(x16: np.ndarray) -> np.ndarray:
    """Speech probability per 10 ms analysis frame, ``ndarray[N]`` in [0, 1].

    Args:
        x16: mono ``ndarray[T]`` at 16 kHz.

    Returns:
        silero-vad's 32 ms frame probabilities held on the 10 ms grid of
        :mod:`discovervoice.prep.features` (``N = ceil(T / 160)``).
    """
    import torch

    x = np.asarray(x16, dtype=np.float32)
    n = n_frames(len(x))
    if len(x) < VAD_FRAME:
        x = np.pad(x, (0, VAD_FRAME - len(x)))
    model = load_vad()
    with _lock:  # the wrapper keeps recurrent state between calls
        p = model.audio_forward(torch.from_numpy(x)[None], ANALYSIS_RATE)[0].numpy()
    idx = np.minimum((np.arange(n) * HOP + HOP // 2) // VAD_FRAME, len(p) - 1)
    return p[idx].astype(np.float64)

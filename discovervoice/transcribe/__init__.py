"""Speech recognition: speech to text with word timestamps, and CER / WER.

:mod:`~discovervoice.transcribe.api` holds the backends (Whisper through transformers,
PocketSphinx offline), :func:`load_transcriber` and :func:`error_rates` (jiwer through
:mod:`discovervoice.eval.cer`). Its own package because several stages use it — dataset
preparation (``prep --transcribe``), the enhancer's ASR-robustness table, the app's
"Clean up & transcribe" tab — and none of them should import another for it.

Python API (nothing heavy is imported until a backend is loaded)::

    from discovervoice.transcribe import load_transcriber, error_rates
    t = load_transcriber("pocketsphinx", language="en")   # or "whisper"
    text = t.transcribe(audio_16k_mono, "en").text         # ndarray[T] at t.sample_rate (16 kHz)
    error_rates("reference text", text)                     # {"cer": ..., "wer": ...}

The ``discovervoice transcribe`` command is registered by :mod:`discovervoice.enhance.cli`
(its ``--enhance`` option denoises first, so the command sits above both packages).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BACKENDS", "DEFAULT_WHISPER", "SAMPLE_RATE", "PocketSphinxTranscriber", "Transcriber", "Transcript",
           "UnsupportedLanguageError", "WhisperTranscriber", "Word", "error_rates", "load_transcriber",
           "load_whisper", "whisper_language_code"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from discovervoice.transcribe import api

        return getattr(api, name)
    raise AttributeError(f"module 'discovervoice.transcribe' has no attribute {name!r}")

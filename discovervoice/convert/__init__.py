"""Voice conversion (RVC-style) and covers.

Pipeline (RVC-WebUI's): content features (:mod:`.content`: HuBERT/ContentVec through
transformers, or the project's PPG encoder) + F0 (:mod:`.f0`: harvest, dio, praat, crepe, fcpe,
rmvpe) + feature-index retrieval (:mod:`.index`: faiss, ``index_rate``, ``protect``,
``rms_mix_rate``) + a synthesizer (:mod:`.rvc`: RVC v1/v2 NSF-HiFiGAN models unchanged;
:mod:`.world`: the offline default, WORLD features predicted from content + F0), voice
training (:mod:`.voice`), conversion and covers (:mod:`.api`).

Public API (imported lazily, so ``import discovervoice.convert`` stays light)::

    from discovervoice.convert import train_voice, VoiceModel, convert, make_cover
    voice = train_voice("my_voice/", "voices/me")          # or VoiceModel.load("model.pth")
    out = convert(audio, 44100, voice, transpose=0, f0_method="fcpe",
                  index_rate=0.75, protect=0.33, rms_mix_rate=0.25)   # ndarray[1, T] at voice.sample_rate
    make_cover("song.wav", voice, "cover.wav")
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "train_voice": "discovervoice.convert.voice",
    "VoiceModel": "discovervoice.convert.voice",
    "load_voice": "discovervoice.convert.voice",
    "VoiceDataError": "discovervoice.convert.voice",
    "convert": "discovervoice.convert.api",
    "convert_segment": "discovervoice.convert.api",
    "make_cover": "discovervoice.convert.api",
    "extract_f0": "discovervoice.convert.f0",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'discovervoice.convert' has no attribute {name!r}")

"""silero-vad speech probability for prep's segmentation: the implementation lives in
:mod:`discovervoice.signals` (:func:`~discovervoice.signals.speech_probability`,
:func:`~discovervoice.signals.load_vad`); this module names it for
:mod:`discovervoice.prep.segmentation`, whose tests replace ``prep.vad.speech_probability``.

Note: silero-vad is a *speech* detector: it scores sustained sung vowels, and
instruments, low. Singing is found by :mod:`discovervoice.prep.segmentation` from pitch
features of the (separated) vocal track instead.
"""

from __future__ import annotations

from discovervoice.signals import VAD_FRAME, load_vad, speech_probability

__all__ = ["VAD_FRAME", "load_vad", "speech_probability"]

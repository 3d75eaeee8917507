"""Singer classification: "which singers do I sound like", gallery, song recommendation.

An AST (Audio Spectrogram Transformer; Gong et al. 2021, transformers'
``ASTForAudioClassification``) over voiced windows of a vocals stem, speech or singing.

Modules:
    data        dataset scanning (``DATA_DIR/<singer>/...``), split by song, catalogue.csv
    features    VAD (silero-vad / webrtcvad / energy), windows, log-mel, augmentation,
                window aggregation and temperature scaling
    model       building / loading / adapting / saving the AST (published + embedded)
    classifier  :class:`SingerClassifier` (rank, recommend, gallery, which_singer JSON)
    backend     the gallery's scoring backend: NAP of the singing/speaking shift + WCCN
    train       ``discovervoice classify train`` (``from discovervoice.classify.train import train``)
    evaluate    ``discovervoice classify evaluate`` (vs a resemblyzer baseline;
                ``from discovervoice.classify.evaluate import evaluate``)
    songs       full songs -> vocals through ``discovervoice.separation``
    cli         the command-line commands

Python API::

    from discovervoice.classify import SingerClassifier
    clf = SingerClassifier.load("default")         # embedded dv-singer-ast
    clf.rank(audio_16k_CT, top_k=5)                 # [(name, probability)], best first
    clf.recommend(ranking)                          # songs from the model's catalogue
    clf.add_to_gallery("new singer", [clip1, clip2, clip3])

Nothing heavy is imported until an attribute is used. The package exports no name that is
also one of its submodules (``train``, ``evaluate`` are the modules), so
``discovervoice.classify.train`` means the same thing before and after any import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SingerClassifier", "load_singer_classifier", "TrainConfig", "WindowConfig", "AugmentConfig"]

_LAZY = {
    "SingerClassifier": "discovervoice.classify.classifier",
    "load_singer_classifier": "discovervoice.classify.classifier",
    "TrainConfig": "discovervoice.classify.train",
    "WindowConfig": "discovervoice.classify.features",
    "AugmentConfig": "discovervoice.classify.features",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'discovervoice.classify' has no attribute {name!r}")

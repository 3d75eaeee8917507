"""Your own music library as the singer catalogue.

``discovervoice library index MUSIC_DIR... -o LIBRARY`` separates the vocals of every song,
embeds their voiced windows with the singer classifier and writes LIBRARY: a classifier
folder (:mod:`discovervoice.classify.classifier`) whose gallery has one centroid per artist
and whose catalogue lists the songs, each with the embedding of its own vocals, so that
``discovervoice which-singer VOICE --model LIBRARY`` (and ``python3 app.py --classifier
LIBRARY``) name the library's artists and recommend their songs ranked by how close each
song's vocals are to the user's voice.

Who does what:
    * **mutagen** reads artist/title tags and stream lengths (:mod:`.scan`);
    * **Ray Data** (``Dataset.map_batches`` with an actor pool) distributes the songs over
      a Ray cluster (:mod:`.index`, ``--ray-address``); locally, plain processes;
    * :mod:`discovervoice.audio` decodes, :class:`discovervoice.separation.api.Separator`
      separates, :class:`discovervoice.classify.SingerClassifier` embeds and saves the
      gallery and catalogue.

LIBRARY layout (besides the classifier files: ``config.json``, ``model.safetensors``,
``discovervoice.json``, ``gallery.safetensors``, ``catalogue.csv``,
``catalogue_embeddings.safetensors``, ...)::

    library.json        format "discovervoice-library/1": artists {songs, seconds,
                        voiced_seconds, windows}, songs, hours, voiced_hours, failures
                        [{path, sha256, type, reason}], duplicates, settings, last run
    index/<sha256>.json one record per song content (embedding sums, or the failure)
    hashes.json         sha256 cache keyed by (path, size, mtime)

Modules: ``scan`` (discovery, tags, hashes), ``index`` (the job, workers, stats), ``cli``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IndexConfig", "index_library", "stats"]

_LAZY = {"IndexConfig": "discovervoice.library.index", "index_library": "discovervoice.library.index",
         "stats": "discovervoice.library.index"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'discovervoice.library' has no attribute {name!r}")

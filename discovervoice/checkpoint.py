"""Self-describing checkpoint files: weights + constructor arguments + metadata in one
safetensors file, so that a file rebuilds its own model.

One layout for every model family DiscoverVoice trains (the safetensors header holds
string metadata only, so structured values are stored as JSON)::

    format        "discovervoice-<family>/<version>"  (which loader reads it)
    architecture  the network's name (optional, informative)
    config        JSON: the constructor arguments of the model
    metadata      JSON: free-form facts (training step, recipe, metrics, ...)

:func:`save` writes that layout atomically (temporary file in the same folder, then
rename; a crash leaves no partial file) with a normal file mode (safetensors creates
files 0600); :func:`load` reads it back as a :class:`Checkpoint` and raises
:class:`~discovervoice.errors.WeightsError` naming the file for a missing, damaged or
foreign file. :func:`write_tensors` / :func:`read_tensors` are the raw layer under both,
used directly for layouts fixed by another library (the Hugging Face folder of an AST,
whose ``model.safetensors`` must say ``format: pt``).

Files written before this module keep loading: separation files (``discovervoice-
separation/1``) named the two JSON keys ``kwargs`` and ``extra`` (read here as ``config``
and ``metadata``), and CRNN files stored metadata as flat string keys (returned in
``metadata`` as they are).

Libraries: safetensors (file format; ``safetensors.torch`` for tensors,
``safetensors.numpy`` for arrays).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from discovervoice.errors import WeightsError
from discovervoice.fileio import atomic_path

#: Reserved metadata keys of the layout.
FORMAT_KEY, ARCHITECTURE_KEY, CONFIG_KEY, METADATA_KEY = "format", "architecture", "config", "metadata"
#: Key names of files written before this module (``discovervoice-separation/1``).
_LEGACY_KEYS = {"kwargs": CONFIG_KEY, "extra": METADATA_KEY}


@dataclass
class Checkpoint:
    """A loaded checkpoint file.

    Attributes:
        tensors: name -> ``torch.Tensor`` (``framework="pt"``) or ``numpy.ndarray``
            (``framework="numpy"``), as stored (fp16 stays fp16).
        format: the file's ``format`` value.
        config: constructor arguments (``{}`` when the file has none).
        metadata: free-form metadata (decoded JSON, plus any other string keys).
        architecture: the ``architecture`` value, or ``""``.
        path: the file read.
    """

    tensors: dict[str, Any]
    format: str
    config: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    architecture: str = ""
    path: Path | None = None


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch")


def write_tensors(path: str | os.PathLike, tensors: Mapping[str, Any],
                  metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``tensors`` (all torch tensors or all numpy arrays) as a safetensors file with
    string ``metadata``, atomically and with a normal file mode; parent folders are created.

    Returns:
        The path written.
    """
    p = Path(path)
    torch_tensors = any(_is_torch(v) for v in tensors.values())
    if torch_tensors:
        from safetensors.torch import save_file
        state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    else:
        import numpy as np
        from safetensors.numpy import save_file
        state = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    with atomic_path(p) as tmp:
        save_file(state, str(tmp), metadata=dict(metadata) if metadata else None)
    return p


def read_tensors(path: str | os.PathLike, framework: str = "pt") -> tuple[dict[str, Any], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file (``framework``: ``"pt"`` or ``"numpy"``).

    Raises:
        WeightsError: the file is missing or is not a readable safetensors file.
    """
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: checkpoint file not found")
    try:
        with safe_open(str(p), framework=framework) as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises several types for a damaged file
        raise WeightsError(f"{p}: not a readable safetensors file ({type(exc).__name__}: {exc})") from exc
    return tensors, meta


def read_torch(path: str | os.PathLike, *, unwrap: tuple[str, ...] = ()) -> dict[str, Any]:
    """A published PyTorch checkpoint (``.pt``/``.pth``/``.ckpt`` pickle) read with
    ``torch.load(weights_only=True)``: no code from the file runs.

    Args:
        path: the file.
        unwrap: keys under which trainers nest the state dict (e.g. Lightning's
            ``"state_dict"``, ``"model"``), tried in order, each level at most once.

    Returns:
        The loaded dict (unwrapped).

    Raises:
        WeightsError: naming the file: unreadable (corrupt, not a pickle, disallowed
            objects) or not a dict.
    """
    import torch

    p = Path(path)
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle error, missing file
        raise WeightsError(f"{p}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    for key in unwrap:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise WeightsError(f"{p}: expected a state dict, got {type(obj).__name__}")
    return obj


def fit_state(model: Any, state: Mapping[str, Any], path: str | os.PathLike, what: str) -> Any:
    """Load ``state`` into ``model`` (a ``torch.nn.Module``), every key and shape exactly.

    Returns:
        ``model``.

    Raises:
        WeightsError: naming ``path`` and ``what`` (e.g. "an ECAPA-TDNN state dict of this
            configuration"), with the missing / unexpected keys or the shape mismatch.
    """
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes that do not fit the configuration
        raise WeightsError(f"{path}: not {what} ({str(exc).splitlines()[-1].strip()})") from exc
    if missing or unexpected:
        raise WeightsError(f"{path}: not {what}; missing keys {list(missing)[:5]}, "
                           f"unexpected keys {list(unexpected)[:5]}")
    return model


def save(path: str | os.PathLike, tensors: Mapping[str, Any], *, format: str,
         config: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
         architecture: str = "", half: bool = False) -> Path:
    """Write a checkpoint in the layout of the module docstring.

    Args:
        path: destination ``.safetensors``.
        tensors: a state dict (torch) or a dict of numpy arrays.
        format: ``"discovervoice-<family>/<version>"``; :func:`load` checks it.
        config: JSON-serialisable constructor arguments.
        metadata: JSON-serialisable free-form facts.
        architecture: the network's name.
        half: store floating-point tensors as fp16 (torch tensors only).

    Returns:
        The path written.
    """
    if half:
        tensors = {k: v.half() if _is_torch(v) and v.is_floating_point() else v
                   for k, v in tensors.items()}
    meta = {FORMAT_KEY: format, CONFIG_KEY: json.dumps(dict(config or {})),
            METADATA_KEY: json.dumps(dict(metadata or {}))}
    if architecture:
        meta[ARCHITECTURE_KEY] = architecture
    return write_tensors(path, tensors, meta)


def load(path: str | os.PathLike, format: str | None | tuple[str | None, ...], *,
         framework: str = "pt", what: str = "checkpoint") -> Checkpoint:
    """Read a checkpoint written by :func:`save` (or an older file of the same family).

    Args:
        path: the ``.safetensors`` file.
        format: the accepted ``format`` value(s); ``None`` among them accepts a file with
            no ``format`` key (written before this module: the caller then checks its
            ``architecture``; such a file's ``Checkpoint.format`` is ``""``).
        framework: ``"pt"`` (torch tensors) or ``"numpy"``.
        what: how the error messages name the expected file ("enhancer checkpoint", ...).

    Raises:
        WeightsError: missing or damaged file, another format, or invalid JSON metadata.
    """
    tensors, meta = read_tensors(path, framework)
    p = Path(path)
    accepted = tuple(format) if isinstance(format, tuple) else (format,)
    got = meta.get(FORMAT_KEY)
    if got not in accepted:
        expected = " or ".join(repr(a) for a in accepted if a is not None)
        raise WeightsError(f"{p}: not a DiscoverVoice {what} (metadata format {got!r}, "
                           f"expected {expected})")
    for old, new in _LEGACY_KEYS.items():
        if old in meta and new not in meta:
            meta[new] = meta.pop(old)
    try:
        config = json.loads(meta.pop(CONFIG_KEY, "{}"))
        info = json.loads(meta.pop(METADATA_KEY, "{}"))
    except ValueError as exc:
        raise WeightsError(f"{p}: invalid JSON in the {what}'s metadata ({exc})") from exc
    fmt = meta.pop(FORMAT_KEY, None) or ""
    arch = meta.pop(ARCHITECTURE_KEY, "")
    return Checkpoint(tensors, fmt, dict(config), {**meta, **dict(info)}, arch, p)

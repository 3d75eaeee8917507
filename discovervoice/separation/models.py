"""Separation networks and their checkpoint formats.

Architectures:
    * **HTDemucs** (Rouard, Massa, Défossez 2023, "Hybrid Transformers for Music Source
      Separation"): the class of **demucs 4.1** (``demucs.htdemucs.HTDemucs``) is used as is.
    * **MDX23C / TFC-TDF v3**: :class:`discovervoice.separation.mdx23c.MDX23C`.

Checkpoint formats (every loader returns a model with ``.sources``, ``.samplerate``,
``.audio_channels``, ``.segment`` (s) and ``.valid_length(T)``, in eval mode):
    * ``demucs-th``: demucs' serialized package ``{"klass", "args", "kwargs", "state", ...}``
      read with ``demucs.states.load_model`` (demucs' ``get_model`` needs the network; a
      local file does not). A folder of several ``.th`` files (``htdemucs_ft``) becomes a
      ``demucs.apply.BagOfModels`` with one specialised model per stem.
      :func:`load_demucs_checkpoint`.
    * ``mdx23c-ckpt+yaml``: a UVR / Music-Source-Separation-Training state dict (``.ckpt``,
      optionally wrapped in ``{"state_dict": ...}`` or ``{"state": ...}``) next to its yaml
      config. :func:`load_mdx23c_checkpoint`.
    * ``safetensors`` (DiscoverVoice's embedded models): fp16 tensors, with the
      architecture and constructor kwargs in the file's metadata, so a file rebuilds its own
      model (the demucs ``states.py`` habit); pruned models keep their per-layer shapes in
      the tensors themselves and are rebuilt by shrinking the base architecture to them.
      :func:`save_embedded`, :func:`load_embedded`.

Libraries: torch, demucs (HTDemucs, BagOfModels, states), safetensors, pyyaml.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from discovervoice.errors import WeightsError

#: Embedded small HTDemucs (DESIGN.md: channels=16, depth=4, t_layers=2, 4 s segment).
SMALL_HTDEMUCS: dict[str, Any] = dict(
    sources=["vocals", "accompaniment"], audio_channels=2, samplerate=44100, segment=4,
    channels=16, depth=4, t_layers=2, nfft=4096, bottom_channels=0,
)
#: Embedded small MDX23C (TFC-TDF v3): 2048-point STFT, 3 scales, 16 channels.
SMALL_MDX23C: dict[str, Any] = dict(
    sources=["vocals", "accompaniment"], audio_channels=2, samplerate=44100, n_fft=2048,
    hop_length=512, dim_f=1024, chunk_size=512 * 255, num_subbands=4, num_scales=3,
    scale=[2, 2], num_blocks_per_scale=1, num_channels=16, growth=16, bottleneck_factor=4,
    norm="InstanceNorm", act="gelu",
)
#: Tiny configurations for tests (seconds to build and run).
TINY_HTDEMUCS: dict[str, Any] = dict(
    sources=["vocals", "accompaniment"], audio_channels=2, samplerate=44100, segment=1,
    channels=8, depth=2, t_layers=1, nfft=512, t_heads=2, bottom_channels=0,
)
TINY_MDX23C: dict[str, Any] = dict(
    sources=["vocals", "accompaniment"], audio_channels=2, samplerate=44100, n_fft=256,
    hop_length=64, dim_f=128, chunk_size=64 * 63, num_subbands=2, num_scales=2, scale=[2, 2],
    num_blocks_per_scale=1, num_channels=4, growth=4, bottleneck_factor=2,
    norm="InstanceNorm", act="gelu",
)

ARCHITECTURES = ("htdemucs", "mdx23c")


def build_model(architecture: str, kwargs: Mapping[str, Any]) -> nn.Module:
    """Build an untrained network.

    Args:
        architecture: ``"htdemucs"`` or ``"mdx23c"``.
        kwargs: constructor kwargs (see :data:`SMALL_HTDEMUCS`, :data:`SMALL_MDX23C`).

    Raises:
        WeightsError: unknown architecture or kwargs it does not accept.
    """
    kw = dict(kwargs)
    try:
        if architecture == "htdemucs":
            from demucs.htdemucs import HTDemucs

            return HTDemucs(**kw)
        if architecture == "mdx23c":
            from discovervoice.separation.mdx23c import MDX23C

            return MDX23C(**kw)
    except TypeError as exc:
        raise WeightsError(f"cannot build {architecture} from {kw}: {exc}") from exc
    raise WeightsError(f"unknown separation architecture {architecture!r}; "
                       f"known: {', '.join(ARCHITECTURES)}")


def architecture_of(model: nn.Module) -> str:
    """``"htdemucs"`` or ``"mdx23c"`` for a network (``WeightsError`` otherwise)."""
    from demucs.htdemucs import HTDemucs

    from discovervoice.separation.mdx23c import MDX23C

    if isinstance(model, HTDemucs):
        return "htdemucs"
    if isinstance(model, MDX23C):
        return "mdx23c"
    raise WeightsError(f"not a DiscoverVoice separation network: {type(model).__name__}")


def init_kwargs(model: nn.Module) -> dict[str, Any]:
    """The constructor kwargs a network was built with (demucs' ``capture_init`` /
    our ``_dv_kwargs``)."""
    kw = getattr(model, "_dv_kwargs", None)
    if kw is not None:
        return dict(kw)
    if hasattr(model, "_init_args_kwargs"):
        args, kwargs = model._init_args_kwargs
        out = dict(kwargs)
        if args:
            out["sources"] = list(args[0])
        return out
    raise WeightsError(f"{type(model).__name__}: constructor kwargs unknown")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- embedded

def _jsonable(v: Any) -> Any:
    from fractions import Fraction

    if isinstance(v, Fraction):
        return float(v)
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


#: ``format`` of DiscoverVoice's separation checkpoints (:mod:`discovervoice.checkpoint`).
CHECKPOINT_FORMAT = "discovervoice-separation/1"


def save_embedded(model: nn.Module, path: str | os.PathLike, *, half: bool = True,
                  extra: Mapping[str, Any] | None = None) -> Path:
    """Write a network as safetensors with its architecture and kwargs in the metadata.

    Written atomically (temporary file, then rename).

    Args:
        model: an HTDemucs or MDX23C (pruned or not).
        path: destination ``.safetensors``.
        half: store float tensors as fp16 (loaded back as fp32).
        extra: more JSON metadata (training recipe, metrics, pruning ratio...).

    Returns:
        The path written.
    """
    from discovervoice import checkpoint

    return checkpoint.save(path, model.state_dict(), format=CHECKPOINT_FORMAT,
                           config=_jsonable(init_kwargs(model)),
                           metadata=_jsonable(dict(extra or {})),
                           architecture=architecture_of(model), half=half)


def _shrink_to_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Resize the layers of a freshly built network to the tensor shapes of ``state``.

    Structured pruning removes channels, so a pruned checkpoint's convolutions, linear and
    normalisation layers are narrower than the architecture's defaults; their shapes are
    read from the tensors and the module attributes (``in_channels``, ``out_channels``,
    ``num_features``...) updated accordingly. Parameters are re-created empty (values are
    loaded right after).
    """
    own = model.state_dict()
    changed = {k for k, v in state.items() if k in own and tuple(own[k].shape) != tuple(v.shape)}
    if not changed:
        return
    modules = dict(model.named_modules())
    for key in sorted(changed):
        mod_name, _, attr = key.rpartition(".")
        mod = modules[mod_name]
        shape = tuple(state[key].shape)
        cur = getattr(mod, attr)
        if isinstance(cur, nn.Parameter):
            setattr(mod, attr, nn.Parameter(torch.empty(shape, dtype=cur.dtype),
                                            requires_grad=cur.requires_grad))
        else:
            mod.register_buffer(attr, torch.empty(shape, dtype=cur.dtype))
        if attr != "weight":
            continue
        if isinstance(mod, nn.modules.conv._ConvNd):
            if mod.transposed:
                mod.in_channels = shape[0]
                mod.out_channels = shape[1] * mod.groups
            else:
                mod.out_channels = shape[0]
                mod.in_channels = shape[1] * mod.groups
        elif isinstance(mod, nn.Linear):
            mod.out_features, mod.in_features = shape[0], shape[1]
        elif isinstance(mod, nn.GroupNorm):
            mod.num_channels = shape[0]
        elif isinstance(mod, nn.LayerNorm):
            mod.normalized_shape = (shape[0],)
        elif isinstance(mod, nn.modules.batchnorm._NormBase):
            mod.num_features = shape[0]
        elif isinstance(mod, nn.Embedding):
            mod.num_embeddings, mod.embedding_dim = shape


def interpolate_weights(base: str | os.PathLike | nn.Module, tuned: str | os.PathLike | nn.Module,
                        alpha: float) -> nn.Module:
    """Weight-space interpolation of a network and its fine-tuned copy:
    ``theta = (1 - alpha) * theta_base + alpha * theta_tuned`` (WiSE-FT, Wortsman et al. 2022,
    "Robust fine-tuning of zero-shot models"). Fine-tuning on a new domain (real recordings)
    moves the weights away from what served the old one (the synthetic corpus); a point on
    the line between them often keeps most of the new domain's gain and most of the old
    domain's accuracy, without training.

    Args:
        base, tuned: embedded checkpoints (paths, registry names resolved by the caller) or
            networks of the same architecture and constructor kwargs.
        alpha: weight of ``tuned`` in ``[0, 1]``.

    Returns:
        a new network (fp32, eval mode) with ``base``'s kwargs.

    Raises:
        WeightsError: ``alpha`` outside ``[0, 1]``, or networks of another architecture,
            kwargs or tensor names.
    """
    import copy

    if not 0.0 <= float(alpha) <= 1.0:
        raise WeightsError(f"alpha must be in [0, 1], got {alpha}")
    a = base if isinstance(base, nn.Module) else load_embedded(base)
    b = tuned if isinstance(tuned, nn.Module) else load_embedded(tuned)
    if architecture_of(a) != architecture_of(b) or init_kwargs(a) != init_kwargs(b):
        raise WeightsError("interpolation needs two networks of the same architecture and "
                           f"kwargs: {architecture_of(a)} {init_kwargs(a)} vs {architecture_of(b)} "
                           f"{init_kwargs(b)}")
    sa, sb = a.state_dict(), b.state_dict()
    if sa.keys() != sb.keys():
        raise WeightsError("interpolation needs the same tensors in both networks")
    out = copy.deepcopy(a)
    out.load_state_dict({k: ((1 - alpha) * v.float() + alpha * sb[k].float()).to(v.dtype)
                         if v.is_floating_point() else sb[k] for k, v in sa.items()})
    return out.eval()


def load_embedded(path: str | os.PathLike, spec: Any = None, **_: Any) -> nn.Module:
    """Factory for DiscoverVoice's embedded safetensors separation checkpoints.

    Returns:
        The network (fp32, eval mode) with ``.dv_metadata`` (the file's ``extra``).

    Raises:
        WeightsError: not a DiscoverVoice separation file, or tensors that do not fit.
    """
    from discovervoice import checkpoint

    p = Path(path)
    ck = checkpoint.load(p, CHECKPOINT_FORMAT, what="separation checkpoint")
    kwargs, state = ck.config, ck.tensors
    model = build_model(ck.architecture, kwargs)
    model._dv_kwargs = kwargs  # type: ignore[attr-defined]
    _shrink_to_state(model, state)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in state.items()})
    except RuntimeError as exc:
        raise WeightsError(f"{p}: tensors do not fit {ck.architecture}({kwargs}): {exc}") from exc
    model.dv_metadata = ck.metadata  # type: ignore[attr-defined]
    return model.eval()


# --------------------------------------------------------------------------- demucs

def _demucs_files(path: Path, spec: Any) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        names = [f.filename for f in getattr(spec, "files", ())] if spec is not None else []
        files = [path / n for n in names if (path / n).exists()] if names else []
        if not files:
            files = sorted(path.glob("*.th"))
        if not files:
            raise WeightsError(f"{path}: no demucs .th file in this folder")
        return files
    raise WeightsError(f"{path}: checkpoint not found")


def _load_one_demucs(path: Path) -> nn.Module:
    from demucs.htdemucs import HTDemucs
    from demucs.states import load_model

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            package = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # torch.load raises many types for corrupt files
        raise WeightsError(f"{path}: cannot read demucs checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(package, dict) or not {"klass", "kwargs", "state"} <= set(package):
        raise WeightsError(f"{path}: not a demucs package (expected keys klass, args, kwargs, state)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_model(package)
    except Exception as exc:
        raise WeightsError(f"{path}: demucs model could not be rebuilt ({exc})") from exc
    if not isinstance(model, HTDemucs):
        # Older demucs classes (Demucs, HDemucs) also carry sources/samplerate/segment.
        for attr in ("sources", "samplerate", "audio_channels"):
            if not hasattr(model, attr):
                raise WeightsError(f"{path}: {type(model).__name__} lacks {attr}")
    return model.float().eval()


def load_demucs_checkpoint(path: str | os.PathLike, spec: Any = None, *,
                           stems: Sequence[str] | None = None, **_: Any) -> nn.Module:
    """Load a demucs checkpoint (``.th``) or a folder of them (a bag such as htdemucs_ft).

    Args:
        path: a ``.th`` package or a folder of ``.th`` files.
        spec: the registry :class:`~discovervoice.weights.ModelSpec`; its
            ``extra["sub_model_for_stem"]`` maps a stem to its specialised sub-model, so that
            when ``stems`` is only ``("vocals",)`` only that file is loaded.
        stems: the stems the caller needs (``None``: all).

    Returns:
        An ``HTDemucs`` (eval mode), or a ``demucs.apply.BagOfModels``.

    Raises:
        WeightsError: missing, unreadable or non-demucs files.
    """
    from demucs.apply import BagOfModels

    p = Path(path)
    files = _demucs_files(p, spec)
    extra = dict(getattr(spec, "extra", {}) or {})
    sub = extra.get("sub_model_for_stem")
    if len(files) > 1 and sub and stems is not None:
        wanted = sorted({int(sub[s]) for s in stems if s in sub})
        if len(wanted) == 1:
            return _load_one_demucs(files[wanted[0]])
    models = [_load_one_demucs(f) for f in files]
    if len(models) == 1:
        return models[0]
    weights = None
    if sub:
        srcs = list(models[0].sources)
        weights = [[1.0 if int(sub.get(s, -1)) == i else 0.0 for s in srcs]
                   for i in range(len(models))]
    return BagOfModels(models, weights)


# --------------------------------------------------------------------------- MDX23C

def _find_yaml(ckpt: Path) -> Path:
    for cand in (ckpt.with_suffix(".yaml"), ckpt.with_suffix(".yml")):
        if cand.exists():
            return cand
    ymls = sorted(list(ckpt.parent.glob("*.yaml")) + list(ckpt.parent.glob("*.yml")))
    if len(ymls) == 1:
        return ymls[0]
    raise WeightsError(f"{ckpt}: no yaml config found next to it (expected {ckpt.with_suffix('.yaml').name} "
                       f"or a single .yaml in {ckpt.parent}); pass config=PATH")


def read_mdx23c_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read an MSST/UVR yaml config (their files use ``!!python/tuple``).

    Raises:
        WeightsError: unreadable or not a mapping with ``audio`` and ``model`` sections.
    """
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_constructor("tag:yaml.org,2002:python/tuple",
                            lambda loader, node: tuple(loader.construct_sequence(node)))
    p = Path(path)
    try:
        cfg = yaml.load(p.read_text(), Loader=_Loader)  # noqa: S506 (SafeLoader subclass)
    except (OSError, yaml.YAMLError) as exc:
        raise WeightsError(f"{p}: cannot read yaml config ({exc})") from exc
    if not isinstance(cfg, dict) or "audio" not in cfg or "model" not in cfg:
        raise WeightsError(f"{p}: not an MDX23C config (needs 'audio' and 'model' sections)")
    return cfg


def load_mdx23c_checkpoint(path: str | os.PathLike, spec: Any = None, *,
                           config: str | os.PathLike | Mapping[str, Any] | None = None,
                           **_: Any) -> nn.Module:
    """Load a UVR / MSST MDX23C checkpoint: a ``.ckpt`` state dict and its yaml config.

    Args:
        path: the ``.ckpt`` file, or a folder holding one ``.ckpt`` and one yaml.
        config: the yaml path or an already parsed dict (default: found next to the ckpt).

    Returns:
        :class:`~discovervoice.separation.mdx23c.MDX23C` in eval mode.

    Raises:
        WeightsError: missing files, unreadable config, or tensors that do not match it.
    """
    from discovervoice.separation.mdx23c import MDX23C, config_to_kwargs

    p = Path(path)
    if p.is_dir():
        ckpts = sorted(p.glob("*.ckpt"))
        if len(ckpts) != 1:
            raise WeightsError(f"{p}: expected one .ckpt file, found {len(ckpts)}")
        p = ckpts[0]
    if not p.is_file():
        raise WeightsError(f"{p}: checkpoint not found")
    cfg = dict(config) if isinstance(config, Mapping) else read_mdx23c_config(
        config if config is not None else _find_yaml(p))
    try:
        kwargs = config_to_kwargs(cfg)
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{p}: config lacks {exc}") from exc
    state = read_msst_state_dict(p)
    model = MDX23C(**kwargs)
    model._dv_kwargs = kwargs  # type: ignore[attr-defined]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsError(f"{p}: tensors do not match its config: {exc}") from exc
    return model.float().eval()


def read_msst_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """The tensors of an MSST/UVR ``.ckpt`` (a plain state dict, or one wrapped under
    ``state_dict``/``state``/``model`` as Lightning and MSST's trainers save it), with
    ``module.``/``model.`` prefixes removed: ``{key: Tensor}``.

    Raises:
        WeightsError: unreadable file (corrupt, pickle error) or no state dict of tensors.
    """

    from discovervoice.checkpoint import read_torch

    p = Path(path)
    state = read_torch(p, unwrap=("state_dict", "state", "model"))
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{p}: not a state dict of tensors")
    return {k.removeprefix("module.").removeprefix("model."): v for k, v in state.items()}


def save_mdx23c_checkpoint(model: nn.Module, ckpt_path: str | os.PathLike) -> tuple[Path, Path]:
    """Write an MDX23C as a UVR/MSST pair: ``<name>.ckpt`` (plain state dict) + ``<name>.yaml``."""
    import yaml

    from discovervoice.separation.mdx23c import kwargs_to_config

    ckpt = Path(ckpt_path)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, str(ckpt))
    yml = ckpt.with_suffix(".yaml")
    yml.write_text(yaml.safe_dump(kwargs_to_config(init_kwargs(model)), sort_keys=False))
    return ckpt, yml


def model_stems(model: nn.Module) -> list[str]:
    """The network's output source names (lower case)."""
    return [str(s).lower() for s in model.sources]


def export_embedded(src: str | os.PathLike, name: str, *, weights_dir: str | os.PathLike | None = None,
                    source: str = "", licence: str = "", extra: Mapping[str, Any] | None = None
                    ) -> tuple[Path, Path]:
    """Ship a trained (or pruned) network: ``weights/<name>.safetensors`` (fp16) plus its
    registry manifest ``weights/<name>.json`` (a ModelSpec as JSON, with the file's sha256).

    Args:
        src: a DiscoverVoice ``.safetensors`` separation checkpoint.
        name: registry name (``dv-...``).
        weights_dir: default: the repository's ``weights/``.
        source: the recipe (command + corpus) that made it.
        licence: licence of the weights and their training data.

    Returns:
        ``(weights_file, manifest_file)``.
    """
    from discovervoice import weights as W

    net = load_embedded(src)
    meta = dict(getattr(net, "dv_metadata", {}))
    meta.update(extra or {})
    d = Path(weights_dir) if weights_dir is not None else W.SHIPPED_DIR
    d.mkdir(parents=True, exist_ok=True)
    dest = save_embedded(net, d / f"{name}.safetensors", half=True, extra=meta)
    arch = architecture_of(net)
    spec = W.ModelSpec(
        name, "separation", {"htdemucs": "HTDemucs", "mdx23c": "TFC-TDF-v3 (MDX23C)"}[arch],
        "safetensors", int(net.samplerate), licence, shipped=dest.name,
        factory="discovervoice.separation.models:load_embedded", source=source,
        extra={"stems": model_stems(net), "parameters": count_parameters(net),
               "sha256": W.sha256_of(dest), "card": f"{name}.md"})
    manifest = W.write_manifest(spec, d)
    return dest, manifest

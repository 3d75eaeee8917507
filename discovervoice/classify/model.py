"""The AST network: build from a config, load published/embedded checkpoints, adapt, save.

The model is transformers' ``ASTForAudioClassification`` (Gong, Chung & Glass 2021, "AST:
Audio Spectrogram Transformer"; reference implementation YuanGongND/ast). Its pooled output
(mean of the CLS and distillation tokens after the final layer norm) is the singer
embedding used by the gallery; its MLP head gives the singer logits.

Checkpoint folder (the Hugging Face layout, so ``ASTForAudioClassification.from_pretrained``
also opens it)::

    config.json               ASTConfig, with id2label / label2id = the label map
    model.safetensors         state dict (fp16 or fp32); metadata carries the config JSON
                              (written with :func:`discovervoice.checkpoint.write_tensors`)
    preprocessor_config.json  ASTFeatureExtractor settings (mel bins, frames, mean, std)

``discovervoice.classify.classifier`` adds ``discovervoice.json`` (windows, calibration,
gallery) and ``gallery.safetensors`` to make a singer-classifier folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from discovervoice.checkpoint import fit_state, read_tensors, write_tensors
from discovervoice.errors import WeightsError

#: The embedded default's architecture: small enough to train on 2 CPU cores.
#: 64 mel bins x 400 frames (4 s), non-overlapping 16x16 patches -> 4 x 25 = 100 patches.
SMALL_AST_CONFIG: dict[str, Any] = dict(
    hidden_size=192, num_hidden_layers=4, num_attention_heads=3, intermediate_size=768,
    num_mel_bins=64, max_length=400, patch_size=16, frequency_stride=16, time_stride=16,
    hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
)
#: Names of the AST config keys that the feature extractor must agree with.
_FE_KEYS = ("num_mel_bins", "max_length")


@dataclass
class ASTCheckpoint:
    """A loaded AST: the network and its feature extractor.

    Attributes:
        model: ``transformers.ASTForAudioClassification`` (eval mode, float32).
        feature_extractor: ``transformers.ASTFeatureExtractor``.
        path: where it was loaded from (``None`` if built fresh).
    """

    model: Any
    feature_extractor: Any
    path: Path | None = None
    stored_fp16: bool = False

    @property
    def labels(self) -> list[str]:
        cfg = self.model.config
        return [cfg.id2label[i] for i in range(cfg.num_labels)]

    @property
    def sample_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)


def build_ast(labels: Sequence[str], **config: Any) -> ASTCheckpoint:
    """A randomly initialised AST classifier for ``labels``.

    Args:
        labels: class names, index order.
        **config: ``ASTConfig`` fields; defaults to :data:`SMALL_AST_CONFIG`.
    """
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    cfg = {**SMALL_AST_CONFIG, **config}
    labels = list(labels)
    ast_cfg = ASTConfig(**cfg, num_labels=len(labels),
                        id2label=dict(enumerate(labels)),
                        label2id={n: i for i, n in enumerate(labels)})
    fe = ASTFeatureExtractor(num_mel_bins=ast_cfg.num_mel_bins, max_length=ast_cfg.max_length,
                             sampling_rate=16000)
    model = ASTForAudioClassification(ast_cfg).eval()
    return ASTCheckpoint(model, fe)


def load_ast_folder(path: str | os.PathLike) -> ASTCheckpoint:
    """Load an AST checkpoint folder (``config.json`` + ``model.safetensors`` +
    ``preprocessor_config.json``) as float32, in eval mode.

    Raises:
        WeightsError: a file is missing or damaged, or the state dict does not fit the
            config (the message lists missing / unexpected keys).
    """
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    p = Path(path)
    if p.is_file():
        p = p.parent
    for name in ("config.json", "model.safetensors"):
        if not (p / name).is_file():
            raise WeightsError(f"{p}: not an AST checkpoint folder ({name} is missing)")
    try:
        cfg = ASTConfig.from_json_file(str(p / "config.json"))
    except (ValueError, OSError) as exc:
        raise WeightsError(f"{p / 'config.json'}: invalid AST config ({exc})") from exc
    if (p / "preprocessor_config.json").is_file():
        fe = ASTFeatureExtractor.from_pretrained(str(p), local_files_only=True)
    else:
        fe = ASTFeatureExtractor(num_mel_bins=cfg.num_mel_bins, max_length=cfg.max_length)
    for k in _FE_KEYS:
        if int(getattr(fe, k)) != int(getattr(cfg, k)):
            raise WeightsError(f"{p}: preprocessor {k}={getattr(fe, k)} does not match the "
                               f"model's {k}={getattr(cfg, k)}")
    model = ASTForAudioClassification(cfg)
    raw = read_tensors(p / "model.safetensors")[0]
    fp16 = any(v.dtype == torch.float16 for v in raw.values())
    state = {k: v.float() for k, v in raw.items()}
    fit_state(model, state, p / "model.safetensors", "an AST state dict that fits config.json")
    model.to(torch.float32).eval()
    return ASTCheckpoint(model, fe, p, stored_fp16=fp16)


def load_pretrained_ast(path: str | os.PathLike, spec: Any = None, **kw: Any) -> ASTCheckpoint:
    """Registry factory for AST checkpoints (``ast_audioset``: MIT's AudioSet AST, or an
    embedded ``dv-*`` AST folder): see :func:`load_ast_folder`.

    Keyword args ``labels`` (replace the head, see :func:`replace_head`) and
    ``max_length`` (frames; see :func:`resize_time_positions`) adapt it for fine-tuning.
    """
    ck = load_ast_folder(path)
    if kw.get("max_length") is not None:
        resize_time_positions(ck, int(kw["max_length"]))
    if kw.get("labels") is not None:
        replace_head(ck.model, kw["labels"])
    return ck


def replace_head(model: Any, labels: Sequence[str]) -> None:
    """Give ``model`` a freshly initialised classifier head for ``labels`` (in place);
    rows of labels the old head already had are copied over."""
    import torch

    labels = list(labels)
    old = [model.config.id2label[i] for i in range(model.config.num_labels)]
    dense = model.classifier.dense
    new = torch.nn.Linear(dense.in_features, len(labels))
    torch.nn.init.trunc_normal_(new.weight, std=model.config.initializer_range)
    torch.nn.init.zeros_(new.bias)
    with torch.no_grad():
        for i, name in enumerate(labels):
            if name in old:
                new.weight[i] = dense.weight[old.index(name)]
                new.bias[i] = dense.bias[old.index(name)]
    model.classifier.dense = new
    model.config.num_labels = len(labels)
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {n: i for i, n in enumerate(labels)}
    model.num_labels = len(labels)


def resize_time_positions(ck: ASTCheckpoint, max_length: int) -> None:
    """Change the window length (frames) of an AST in place.

    The position embeddings of the patch grid ``[F, T]`` are interpolated along time
    (bilinear), as the AST reference code adapts ImageNet/AudioSet models to other input
    sizes (YuanGongND/ast ``ASTModel.__init__``). The CLS/distillation positions are kept.
    """
    import torch

    from transformers import ASTFeatureExtractor

    cfg = ck.model.config
    if max_length == cfg.max_length:
        return
    if max_length < cfg.patch_size:
        raise ValueError(f"max_length {max_length} is shorter than one patch ({cfg.patch_size})")
    emb = ck.model.audio_spectrogram_transformer.embeddings
    f_dim = (cfg.num_mel_bins - cfg.patch_size) // cfg.frequency_stride + 1
    t_old = (cfg.max_length - cfg.patch_size) // cfg.time_stride + 1
    t_new = (max_length - cfg.patch_size) // cfg.time_stride + 1
    pos = emb.position_embeddings.data  # [1, 2 + F*T, H]
    head, grid = pos[:, :2], pos[:, 2:]
    h = grid.shape[-1]
    grid = grid.reshape(1, f_dim, t_old, h).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(grid, size=(f_dim, t_new), mode="bilinear",
                                           align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, f_dim * t_new, h)
    emb.position_embeddings = torch.nn.Parameter(torch.cat([head, grid], dim=1))
    cfg.max_length = max_length
    fe = ck.feature_extractor
    ck.feature_extractor = ASTFeatureExtractor(
        feature_size=fe.feature_size, sampling_rate=fe.sampling_rate,
        num_mel_bins=fe.num_mel_bins, max_length=max_length, padding_value=fe.padding_value,
        do_normalize=fe.do_normalize, mean=fe.mean, std=fe.std)


def save_ast_folder(ck: ASTCheckpoint, path: str | os.PathLike, *, fp16: bool | None = None
                    ) -> Path:
    """Write ``config.json``, ``model.safetensors`` (config JSON in its metadata) and
    ``preprocessor_config.json`` into ``path`` (created); ``fp16=None`` keeps the dtype the
    checkpoint was loaded with. Files are written to temporary
    names first and renamed, so an interrupted save leaves the old files intact."""
    import torch

    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    fp16 = ck.stored_fp16 if fp16 is None else fp16
    dtype = torch.float16 if fp16 else torch.float32
    state = {k: v.detach().to(dtype) for k, v in ck.model.state_dict().items()}
    cfg_json = ck.model.config.to_json_string()
    # transformers reads safetensors whose metadata says format "pt"; the config rides along
    write_tensors(p / "model.safetensors", state, {"format": "pt", "config": cfg_json,
                                                    "architecture": "ASTForAudioClassification"})
    (p / ".config.json.tmp").write_text(cfg_json)
    (p / ".config.json.tmp").replace(p / "config.json")
    ck.feature_extractor.save_pretrained(str(p))  # preprocessor_config.json
    return p

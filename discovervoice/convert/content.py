"""Content features: what is said or sung, without who says it.

Every content encoder here takes 16 kHz mono audio and returns one feature vector per
10 ms frame, aligned with the F0 frames of :mod:`discovervoice.convert.f0`
(``n_frames(T) = T // 160 + 1``): ``encoder(audio: ndarray[T]) -> ndarray[float32, frames, D]``.

Two families:

* **HuBERT / ContentVec** (published; Hsu et al. 2021, Qian et al. 2022) through
  transformers' ``HubertModel`` (:class:`HubertContent`). :func:`load_hubert_checkpoint`
  reads the three registry formats: RVC-WebUI's fairseq ``hubert_base.pt`` (its state dict
  is renamed on load with the mapping of transformers'
  ``convert_hubert_original_pytorch_checkpoint_to_pytorch.py``; fairseq itself is not
  needed, and unknown pickled classes in the file's config are read as plain stand-ins),
  a Hugging Face folder (``config.json`` + ``pytorch_model.bin`` / ``model.safetensors``,
  ContentVec's ``final_proj`` kept), or a folder with ``model.safetensors`` only. HuBERT
  runs at 50 Hz; features are repeated to 100 Hz as RVC does. ``layer=12`` without
  projection gives RVC v2's 768-d features; ``layer=9`` with ``final_proj`` gives v1's 256-d.
* **Phonetic posteriorgrams** (the offline default, ``dv-content-ppg``; Sun et al. 2016,
  "Phonetic posteriorgrams for many-to-one voice conversion"): :class:`PPGEncoder`, a small
  dilated 1-D CNN over utterance-normalised log-mel frames trained to predict the corpus'
  phone labels (MBROLA's phone timings, ``<clip>.phones.json``) on many voices, so the
  features keep the phone and lose the speaker. Its log-posteriors are the features.
  :func:`train_ppg` is the recipe (``discovervoice voice train-content``).

Libraries: torch (networks), transformers (HuBERT), librosa (mel filterbank), safetensors
(HuBERT folders; the PPG file through :mod:`discovervoice.checkpoint`), scikit-learn (the speaker probe in :func:`speaker_probe`).
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from discovervoice.errors import DataError, WeightsError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
HOP = 160
#: Name of the shipped default content encoder.
DEFAULT_CONTENT = "dv-content-ppg"
#: ``format`` of a PPG encoder's checkpoint file (:mod:`discovervoice.checkpoint`).
PPG_FORMAT = "discovervoice-content-ppg/1"

Progress = Callable[[float, str], None] | None


def _fit_frames(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) >= n:
        return x[:n]
    pad = np.repeat(x[-1:], n - len(x), axis=0) if len(x) else np.zeros((n, x.shape[1]), x.dtype)
    return np.concatenate([x, pad], axis=0)


# =========================================================================== HuBERT

class _Stub:
    """Stand-in for any class pickled inside a fairseq checkpoint's config."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _StubUnpickler(pickle.Unpickler):
    _SAFE = ("torch", "collections", "numpy", "builtins", "_codecs")

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] in self._SAFE:
            return super().find_class(module, name)
        return type(name, (_Stub,), {"__module__": module})


class _StubPickle:
    """A ``pickle_module`` for ``torch.load`` that reads fairseq files without fairseq."""

    Unpickler = _StubUnpickler
    load = staticmethod(pickle.load)
    __name__ = "discovervoice_stub_pickle"


def _cfg_dict(ckpt: dict) -> dict:
    cfg = ckpt.get("cfg") or ckpt.get("args") or {}
    if isinstance(cfg, _Stub):
        cfg = getattr(cfg, "state", None) or cfg.kwargs or {}
        if isinstance(cfg, dict) and "_content" in cfg:
            cfg = cfg["_content"]
    if hasattr(cfg, "__dict__") and not isinstance(cfg, dict):
        cfg = vars(cfg)
    model = cfg.get("model", cfg) if isinstance(cfg, dict) else {}
    if isinstance(model, _Stub):
        model = getattr(model, "state", {}) or {}
        model = model.get("_content", model) if isinstance(model, dict) else {}
    out = {}
    for k, v in (model.items() if isinstance(model, dict) else []):
        v = getattr(v, "state", v)
        if isinstance(v, dict) and "_val" in v:
            v = v["_val"]
        out[k] = v
    return out


def hubert_config_from_fairseq(state: dict, cfg: dict | None = None):
    """A transformers ``HubertConfig`` for a fairseq HuBERT state dict.

    Sizes come from the tensors; what tensors cannot tell (strides, heads, layer-norm
    order) comes from the checkpoint's ``cfg["model"]`` when present, else from the HuBERT
    base defaults (strides 5,2,2,2,2,2,2; 12 heads; post-norm).
    """
    from transformers import HubertConfig

    cfg = cfg or {}
    n_conv = len({k.split(".")[2] for k in state if k.startswith("feature_extractor.conv_layers.")})
    convs = [state[f"feature_extractor.conv_layers.{i}.0.weight"] for i in range(n_conv)]
    conv_dim = [int(w.shape[0]) for w in convs]
    conv_kernel = [int(w.shape[2]) for w in convs]
    if "conv_feature_layers" in cfg and isinstance(cfg["conv_feature_layers"], str):
        spec = eval(cfg["conv_feature_layers"], {"__builtins__": {}})  # noqa: S307 - literal list
        conv_stride = [int(s[2]) for s in spec]
    else:
        conv_stride = [5 if k == 10 else 2 for k in conv_kernel]
    hidden = int(state["encoder.layer_norm.weight"].shape[0])
    layers = len({k.split(".")[2] for k in state if k.startswith("encoder.layers.")})
    ffn = int(state["encoder.layers.0.fc1.weight"].shape[0])
    pos_key = "encoder.pos_conv.0.weight_v" if "encoder.pos_conv.0.weight_v" in state else "encoder.pos_conv.0.weight"
    pos = state[pos_key]
    heads = int(cfg.get("encoder_attention_heads", 12 if hidden % 64 == 0 and hidden >= 768 else max(1, hidden // 64)))
    group_norm = "feature_extractor.conv_layers.0.2.weight" in state and \
        "feature_extractor.conv_layers.1.2.weight" not in state and \
        "feature_extractor.conv_layers.1.2.1.weight" not in state
    layer_norm_first = bool(cfg.get("layer_norm_first", False))
    return HubertConfig(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=ffn, conv_dim=conv_dim, conv_kernel=conv_kernel, conv_stride=conv_stride,
        conv_bias="feature_extractor.conv_layers.0.0.bias" in state,
        feat_extract_norm="group" if group_norm else "layer",
        num_conv_pos_embeddings=int(cfg.get("conv_pos", pos.shape[2])),
        num_conv_pos_embedding_groups=int(cfg.get("conv_pos_groups", hidden // pos.shape[1])),
        do_stable_layer_norm=layer_norm_first, feat_proj_layer_norm=True,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        feat_proj_dropout=0.0, layerdrop=0.0)


_LAYER_MAP = {
    "self_attn.k_proj": "attention.k_proj", "self_attn.v_proj": "attention.v_proj",
    "self_attn.q_proj": "attention.q_proj", "self_attn.out_proj": "attention.out_proj",
    "self_attn_layer_norm": "layer_norm", "fc1": "feed_forward.intermediate_dense",
    "fc2": "feed_forward.output_dense", "final_layer_norm": "final_layer_norm",
}


def convert_fairseq_hubert_state(state: dict, hf_keys: Iterable[str]) -> tuple[dict, dict]:
    """Rename a fairseq HuBERT state dict to transformers' ``HubertModel`` names.

    The mapping is that of transformers'
    ``convert_hubert_original_pytorch_checkpoint_to_pytorch.py``: ``post_extract_proj`` ->
    ``feature_projection.projection``, top-level ``layer_norm`` ->
    ``feature_projection.layer_norm``, ``encoder.pos_conv.0`` ->
    ``encoder.pos_conv_embed.conv`` (weight-norm ``g``/``v`` to whichever names the installed
    transformers uses), ``encoder.layers.N.{self_attn.*, fc1, fc2, *_layer_norm}``,
    ``feature_extractor.conv_layers.N.0`` -> ``...conv``, ``.2`` -> ``...layer_norm``,
    ``mask_emb`` -> ``masked_spec_embed``.

    Returns:
        ``(hf_state, extra)``: ``extra`` holds what HubertModel has no place for
        (``final_proj.*``, ``label_embs_concat``).

    Raises:
        WeightsError: a parameter has no known mapping.
    """
    hf_keys = set(hf_keys)
    g_name = ("encoder.pos_conv_embed.conv.parametrizations.weight.original0"
              if "encoder.pos_conv_embed.conv.parametrizations.weight.original0" in hf_keys
              else "encoder.pos_conv_embed.conv.weight_g")
    v_name = g_name.replace("original0", "original1").replace("weight_g", "weight_v")
    out, extra = {}, {}
    for k, v in state.items():
        parts = k.split(".")
        if k.startswith(("final_proj.", "label_embs_concat")):
            extra[k] = v
            continue
        if k.startswith("post_extract_proj."):
            name = "feature_projection.projection." + parts[-1]
        elif k.startswith("layer_norm."):
            name = "feature_projection.layer_norm." + parts[-1]
        elif k == "mask_emb":
            name = "masked_spec_embed"
        elif k.startswith("encoder.pos_conv.0."):
            name = {"weight_g": g_name, "weight_v": v_name,
                    "bias": "encoder.pos_conv_embed.conv.bias",
                    "weight": "encoder.pos_conv_embed.conv.weight"}[parts[-1]]
        elif k.startswith("encoder.layer_norm."):
            name = k
        elif k.startswith("encoder.layers."):
            sub = ".".join(parts[3:-1])
            if sub not in _LAYER_MAP:
                raise WeightsError(f"fairseq HuBERT parameter {k!r} has no mapping")
            name = f"encoder.layers.{parts[2]}.{_LAYER_MAP[sub]}.{parts[-1]}"
        elif k.startswith("feature_extractor.conv_layers."):
            i, t = parts[2], parts[3]
            name = f"feature_extractor.conv_layers.{i}.{'conv' if t == '0' else 'layer_norm'}.{parts[-1]}"
        else:
            raise WeightsError(f"fairseq HuBERT parameter {k!r} has no mapping")
        out[name] = v
    return out, extra


class HubertContent:
    """HuBERT / ContentVec content features through transformers' ``HubertModel``.

    Args:
        model: a ``HubertModel`` (eval mode).
        layer: hidden state to return (``12`` = last layer of base, RVC v2; ``9`` for v1).
        final_proj: optional ``torch.nn.Linear`` applied after ``layer`` (RVC v1: 768 -> 256).

    ``__call__(audio: ndarray[T] at 16 kHz) -> ndarray[float32, T // 160 + 1, D]``.
    """

    sample_rate = SAMPLE_RATE
    frame_rate = 100

    def __init__(self, model: Any, layer: int | None = None, final_proj: Any = None):
        self.model = model.eval()
        n = model.config.num_hidden_layers
        # a layer beyond the model's depth means "the last one" (RVC asks for 12 / 9)
        self.layer = n if layer is None else min(int(layer), n)
        self.final_proj = final_proj

    @property
    def dim(self) -> int:
        if self.final_proj is not None:
            return int(self.final_proj.out_features)
        return int(self.model.config.hidden_size)

    def with_layer(self, layer: int, final_proj: bool = False) -> "HubertContent":
        """The same model returning another layer (with ``final_proj`` when asked and known)."""
        return HubertContent(self.model, layer, self.final_proj_module if final_proj else None)

    final_proj_module: Any = None

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.asarray(audio, dtype=np.float32).reshape(-1))[None]
        n = len(x[0]) // HOP + 1
        with torch.inference_mode():
            out = self.model(x, output_hidden_states=True)
            h = out.hidden_states[self.layer]
            if self.final_proj is not None:
                h = self.final_proj(h)
        feats = h[0].numpy().astype(np.float32)
        feats = np.repeat(feats, 2, axis=0)  # 50 Hz -> 100 Hz, as RVC's interpolate(scale=2)
        return _fit_frames(feats, n)


def load_hubert_checkpoint(path: str | Path, spec: Any = None, layer: int | None = None,
                           use_final_proj: bool = False, **_: Any) -> HubertContent:
    """Load HuBERT / ContentVec from a fairseq ``.pt`` file or a Hugging Face folder.

    Args:
        path: ``hubert_base.pt`` (fairseq, RVC-WebUI), or a folder with ``config.json`` and
            ``pytorch_model.bin`` / ``model.safetensors`` (ContentVec, hubert-base-ls960).
        layer: hidden state to return (default: the last layer).
        use_final_proj: apply the checkpoint's ``final_proj`` (RVC v1 features).

    Raises:
        WeightsError: unreadable file, unknown layout, or weights that do not fit.
    """
    import torch
    from transformers import HubertConfig, HubertModel

    p = Path(path)
    final_proj = None
    if p.is_dir():
        if not (p / "config.json").exists():
            raise WeightsError(f"{p}: HuBERT folder without config.json")
        config = HubertConfig.from_pretrained(str(p))
        model = HubertModel(config)
        if (p / "model.safetensors").exists():
            from safetensors.torch import load_file

            state = load_file(str(p / "model.safetensors"))
        elif (p / "pytorch_model.bin").exists():
            state = torch.load(str(p / "pytorch_model.bin"), map_location="cpu", weights_only=True)
        else:
            raise WeightsError(f"{p}: HuBERT folder without model.safetensors or pytorch_model.bin")
        state = {k[len("hubert."):] if k.startswith("hubert.") else k: v for k, v in state.items()}
        proj = {k: v for k, v in state.items() if k.startswith("final_proj.")}
        state = {k: v for k, v in state.items() if not k.startswith(("final_proj.", "label_embs"))}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [m for m in missing if m != "masked_spec_embed"]
        if missing or unexpected:
            raise WeightsError(f"{p}: HuBERT weights do not fit the config: missing {missing[:5]}, "
                               f"unexpected {unexpected[:5]}")
    else:
        try:
            ckpt = torch.load(str(p), map_location="cpu", weights_only=False, pickle_module=_StubPickle)
        except Exception as exc:  # noqa: BLE001 - re-raised typed, naming the file
            raise WeightsError(f"{p}: cannot read the fairseq HuBERT checkpoint ({exc})") from exc
        if not isinstance(ckpt, dict) or "model" not in ckpt:
            raise WeightsError(f"{p}: not a fairseq checkpoint (no 'model' state dict)")
        fstate = ckpt["model"]
        config = hubert_config_from_fairseq(fstate, _cfg_dict(ckpt))
        model = HubertModel(config)
        state, extra = convert_fairseq_hubert_state(fstate, model.state_dict().keys())
        proj = {k: v for k, v in extra.items() if k.startswith("final_proj.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [m for m in missing if m != "masked_spec_embed"]
        if missing or unexpected:
            raise WeightsError(f"{p}: converted HuBERT weights do not fit: missing {missing[:5]}, "
                               f"unexpected {unexpected[:5]}")
    if proj:
        w = proj["final_proj.weight"]
        final_proj = torch.nn.Linear(w.shape[1], w.shape[0])
        final_proj.load_state_dict({"weight": w, "bias": proj["final_proj.bias"]})
        final_proj.eval()
    enc = HubertContent(model.float(), layer, final_proj if use_final_proj else None)
    enc.final_proj_module = final_proj
    return enc


# =========================================================================== PPG encoder

def log_mel(audio: np.ndarray, n_mels: int = 80, normalize: bool = True) -> np.ndarray:
    """Log-mel frames of 16 kHz audio: ``ndarray[float32, T // 160 + 1, n_mels]``.

    512-point STFT, 25 ms Hann window, hop 10 ms, centred; Slaney mel filters 0-8 kHz
    (librosa); ``log(max(mel, 1e-5))``; with ``normalize``, each bin's utterance mean is
    removed (cepstral-mean-style normalisation against channel and speaker tilt).
    """
    import librosa

    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    spec = np.abs(librosa.stft(x, n_fft=512, hop_length=HOP, win_length=400, center=True)) ** 2
    fb = _mel_fb(n_mels)
    mel = np.log(np.maximum(fb @ spec, 1e-5)).T.astype(np.float32)
    if normalize and len(mel):
        mel = mel - mel.mean(axis=0, keepdims=True)
    return mel


_FB: dict[int, np.ndarray] = {}


def _mel_fb(n_mels: int) -> np.ndarray:
    if n_mels not in _FB:
        import librosa

        _FB[n_mels] = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=512, n_mels=n_mels, fmin=0, fmax=8000)
    return _FB[n_mels]


#: Default floor of the PPG log-posteriors (see :class:`PPGEncoder`).
PPG_FLOOR = -2.0


def build_ppg_net(n_mels: int = 80, channels: int = 192, n_layers: int = 6, n_phones: int = 64,
                  kernel_size: int = 5):
    """The PPG network: ``Tensor[B, n_mels, T] -> logits Tensor[B, n_phones, T]``.

    Conv1d in-projection, ``n_layers`` residual blocks (dilated conv, dilation cycling
    1, 2, 4, GELU, GroupNorm), 1x1 conv to phone logits. Receptive field ~ +-0.3 s.
    """
    import torch
    from torch import nn

    from discovervoice.convert.layers import DilatedResBlock

    class PPGNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = dict(n_mels=n_mels, channels=channels, n_layers=n_layers,
                               n_phones=n_phones, kernel_size=kernel_size)
            self.inp = nn.Conv1d(n_mels, channels, 3, padding=1)
            self.blocks = nn.Sequential(*[DilatedResBlock(channels, (1, 2, 4)[i % 3], kernel_size)
                                          for i in range(n_layers)])
            self.out = nn.Conv1d(channels, n_phones, 1)

        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            return self.out(self.blocks(self.inp(mel)))

    return PPGNet()


class PPGEncoder:
    """Phonetic-posteriorgram content encoder (the offline default).

    ``__call__(audio: ndarray[T] at 16 kHz) -> ndarray[float32, T // 160 + 1, n_phones]``:
    log-posteriors of the phone classes, floored at ``floor`` (natural log), one row per
    10 ms frame.

    The floor is part of the feature definition. The unlikely phones' log-posteriors
    (below -2, i.e. p < 14 %) vary with the voice more than with the content: on 6
    development voices (``corpus/parallel/valid``, see the model card of ``dv-voice-jp1``)
    the converted audio's MCD against the parallel truth was 7.98 dB with a floor of -12,
    7.16 at -4, 6.87 at -2 and 6.87 at -1, with nothing else changed.

    Attributes:
        phones: the phone labels, index-aligned with the feature dimensions.
        floor: lower bound of the log-posteriors (default :data:`PPG_FLOOR`).
    """

    sample_rate = SAMPLE_RATE
    frame_rate = 100

    def __init__(self, net: Any, phones: Sequence[str], floor: float | None = None):
        self.net = net.eval()
        self.phones = list(phones)
        self.floor = float(PPG_FLOOR if floor is None else floor)

    @property
    def dim(self) -> int:
        return len(self.phones)

    def with_floor(self, floor: float) -> "PPGEncoder":
        """The same network with another log-posterior floor (voices store the floor they
        were trained with; those trained before the floor was lowered used -12)."""
        return self if float(floor) == self.floor else PPGEncoder(self.net, self.phones, floor)

    def logits(self, audio: np.ndarray):
        import torch

        mel = log_mel(audio, self.net.config["n_mels"])
        with torch.inference_mode():
            return self.net(torch.from_numpy(mel.T)[None])[0].T  # [T, P]

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        import torch

        lp = torch.log_softmax(self.logits(audio), dim=-1).clamp(min=self.floor)
        return lp.numpy().astype(np.float32)

    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        """Write the encoder as a :mod:`discovervoice.checkpoint` file (format
        :data:`PPG_FORMAT`): fp16 weights, the network's constructor arguments as
        ``config``, and ``phones``, ``floor`` and ``metadata`` (JSON values) in its metadata.

        Returns:
            The path written.
        """
        from discovervoice import checkpoint

        return checkpoint.save(path, self.net.state_dict(), format=PPG_FORMAT, config=self.net.config,
                               metadata={"phones": self.phones, "floor": self.floor, **(metadata or {})},
                               architecture="PPGNet", half=True)


def load_ppg_encoder(path: str | Path, spec: Any = None, **_: Any) -> PPGEncoder:
    """Load a :class:`PPGEncoder` saved by :meth:`PPGEncoder.save`, or a file of the first
    layout (no ``format`` key, ``architecture: PPGNet``, each value a JSON string; the
    shipped ``dv-content-ppg`` and voices' encoders written before the checkpoint module).

    Raises:
        WeightsError: missing, damaged or not a PPG checkpoint (names the file).
    """
    from discovervoice import checkpoint

    p = Path(path)
    ck = checkpoint.load(p, (PPG_FORMAT, None), what="PPG content-encoder checkpoint")
    if not ck.format and ck.architecture != "PPGNet":
        raise WeightsError(f"{p}: not a PPG content encoder (architecture {ck.architecture!r})")

    def value(key: str) -> Any:  # the first layout stored each value as a JSON string
        v = ck.metadata.get(key)
        return json.loads(v) if isinstance(v, str) and not ck.format else v

    phones = value("phones")
    if not ck.config or not phones:
        raise WeightsError(f"{p}: PPG content-encoder checkpoint without its config or phone list")
    net = build_ppg_net(**ck.config)
    checkpoint.fit_state(net, {k: v.float() for k, v in ck.tensors.items()}, p,
                         "a PPG network of its stored configuration")
    return PPGEncoder(net, phones, value("floor"))


_CONTENT_CACHE: dict[str, Any] = {}


def load_content_encoder(name: str | Path | None = None) -> Any:
    """A content encoder by registry name or path (cached): ``dv-content-ppg`` (default),
    ``hubert_base_rvc``, ``contentvec_best``, ``hubert_base_ls960``, or a local file/folder.

    Raises:
        WeightsError / WeightsUnavailableError: see :func:`discovervoice.weights.resolve`.
    """
    key = str(name or DEFAULT_CONTENT)
    if key not in _CONTENT_CACHE:
        from discovervoice import weights

        path = weights.resolve(key)
        if path.is_file() and path.suffix == ".safetensors":
            enc = load_ppg_encoder(path)
        else:
            enc = load_hubert_checkpoint(path)
        _CONTENT_CACHE[key] = enc
    return _CONTENT_CACHE[key]


# --------------------------------------------------------------------------- phone labels

def read_phones(path: str | Path) -> list[tuple[float, float, str]]:
    """Read ``<clip>.phones.json``: ``[(start_s, end_s, phone), ...]``.

    Accepts a list (or ``{"phones": [...]}``) of ``[start, end, phone]`` triples or of
    dicts with ``start``/``end`` (seconds) and ``phone``/``label``.

    Raises:
        DataError: unreadable or of another layout.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: cannot read phone timings ({exc})") from exc
    if isinstance(data, dict):
        data = data.get("phones", data.get("segments"))
    out = []
    try:
        for e in data:
            if isinstance(e, dict):
                out.append((float(e["start"]), float(e["end"]), str(e.get("phone", e.get("label")))))
            else:
                nums = [float(v) for v in e if not isinstance(v, str)]
                lab = [v for v in e if isinstance(v, str)][0]
                out.append((nums[0], nums[1], lab))
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise DataError(f"{p}: phone timings are not [start, end, phone] entries ({exc})") from exc
    return out


SILENCE = "_"


def normalize_phone(ph: str) -> str:
    """Fold SAMPA variants: drop length/stress marks; ``_``/``sil``/``pau`` -> ``_``."""
    ph = ph.strip()
    if ph in ("", "_", "sil", "pau", "sp", "#"):
        return SILENCE
    for mark in (":", "'", '"', "%", "`", "~"):
        ph = ph.replace(mark, "")
    return ph or SILENCE


def frame_labels(phones: Sequence[tuple[float, float, str]], n: int, vocab: dict[str, int],
                 other: int) -> np.ndarray:
    """Phone index per 10 ms frame (frame ``i`` at ``i * 0.01`` s); silence where no phone."""
    lab = np.full(n, vocab[SILENCE], dtype=np.int64)
    for a, b, ph in phones:
        i0, i1 = max(0, int(round(a * 100))), min(n, int(round(b * 100)))
        if i1 > i0:
            lab[i0:i1] = vocab.get(normalize_phone(ph), other)
    return lab


# --------------------------------------------------------------------------- training

def find_labelled_clips(roots: Sequence[str | Path], exclude_voices: Iterable[str] = ()) -> list[tuple[Path, Path, str]]:
    """``(wav, phones_json, speaker)`` for every ``*.wav`` with a ``.phones.json`` next to it.

    The speaker is the wav's parent folder name (the corpus' ``singers/<singer>/``).
    Voices reserved for evaluation (:mod:`discovervoice.corpus.reserved`) and those in
    ``exclude_voices`` are skipped.
    """
    from discovervoice.corpus.reserved import RESERVED_VOICE_IDS, voice_base_id

    excl = {voice_base_id(v) for v in exclude_voices} | set(RESERVED_VOICE_IDS)
    out = []
    for root in roots:
        for wav in sorted(Path(root).rglob("*.wav")):
            js = wav.with_suffix(".phones.json")
            spk = wav.parent.name
            if js.exists() and voice_base_id(spk) not in excl:
                out.append((wav, js, spk))
    return out


def ppg_features(roots: Sequence[str | Path], *, exclude_voices: Iterable[str] = (), max_phones: int = 63,
                 progress: Progress = None) -> dict[str, np.ndarray]:
    """Log-mel frames and frame phone labels of every labelled clip (the PPG training set).

    Returns:
        ``{"mel": float16[N, 80], "labels": int16[N], "lengths": int[clips],
        "speakers": str[clips], "phones": str[P]}`` (clips concatenated in order).

    Raises:
        DataError: no labelled clips under ``roots``.
    """
    from collections import Counter

    from discovervoice import audio as dva

    clips = find_labelled_clips(roots, exclude_voices)
    if not clips:
        raise DataError(f"no *.wav with a .phones.json next to it under {', '.join(map(str, roots))}")
    mels, phs, spk = [], [], []
    counts: Counter = Counter()
    for i, (wav, js, s) in enumerate(clips):
        ph = read_phones(js)
        counts.update(normalize_phone(p) for _, _, p in ph)
        mels.append(log_mel(dva.load(wav, SAMPLE_RATE, 1)[0]))
        phs.append(ph)
        spk.append(s)
        if progress and i % 20 == 0:
            progress(i / len(clips), f"features {i}/{len(clips)}")
    counts.pop(SILENCE, None)
    phones = [SILENCE] + [p for p, _ in counts.most_common(max_phones)] + ["<other>"]
    vocab = {p: i for i, p in enumerate(phones)}
    labels = [frame_labels(ph, len(m), vocab, len(phones) - 1) for m, ph in zip(mels, phs)]
    return {"mel": np.concatenate(mels).astype(np.float16), "labels": np.concatenate(labels).astype(np.int16),
            "lengths": np.array([len(m) for m in mels]), "speakers": np.array(spk), "phones": np.array(phones)}


def save_feature_cache(path: str | Path, z: dict[str, np.ndarray]) -> Path:
    """Write :func:`ppg_features` output with the log-mel quantised to uint8 (steps of
    (max - min) / 255, ~0.08 for log-mel, well under the training augmentation's +-0.5)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    mel = z["mel"].astype(np.float32)
    lo, hi = float(mel.min()), float(mel.max())
    step = max((hi - lo) / 255.0, 1e-6)
    q = np.clip(np.round((mel - lo) / step), 0, 255).astype(np.uint8)
    rest = {k: v for k, v in z.items() if k != "mel"}
    np.savez(p, mel_q=q, mel_lo=np.float32(lo), mel_step=np.float32(step), **rest)
    return p


def load_feature_cache(path: str | Path) -> dict[str, np.ndarray]:
    """Read a cache written by :func:`save_feature_cache` (or an unquantised one)."""
    z = dict(np.load(path, allow_pickle=False))
    if "mel_q" in z:
        z["mel"] = (z.pop("mel_q").astype(np.float32) * z.pop("mel_step") + z.pop("mel_lo")).astype(np.float32)
    return z


def train_ppg(roots: Sequence[str | Path], out: str | Path, *, exclude_voices: Iterable[str] = (),
              cache: str | Path | None = None, steps: int = 2000, batch: int = 16, crop_s: float = 2.0,
              lr: float = 2e-3, channels: int = 128, n_layers: int = 5, max_phones: int = 63, seed: int = 0,
              threads: int | None = 1, device: str = "cpu", progress: Progress = None) -> dict:
    """Train the PPG content encoder on phone-labelled clips (the ``dv-content-ppg`` recipe).

    Phone inventory: the ``max_phones`` most frequent normalised phones plus ``_`` (silence)
    and ``<other>``. Augmentation against speaker cues: random gain and a random shift of
    the mel axis by -3..3 bins (a crude vocal-tract-length perturbation). One clip in ten
    is held out for the frame accuracy and the speaker probes.

    Args:
        roots: folders searched for ``*.wav`` + ``.phones.json`` (the corpus' ``singers/train``...).
        cache: ``.npz`` of :func:`ppg_features`; read when it exists, else written (so a GPU
            machine can train from it without the audio).
        device: ``"cpu"`` or ``"cuda"``.

    Returns:
        Summary dict (voices, minutes, held-out frame accuracy, speaker-probe accuracies on
        PPG and on log-mel features with chance level).

    Raises:
        DataError: no labelled clips under ``roots``.
    """
    import torch
    import torch.nn.functional as F

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    if cache is not None and Path(cache).exists():
        z = load_feature_cache(cache)
    else:
        z = ppg_features(roots, exclude_voices=exclude_voices, max_phones=max_phones,
                         progress=(lambda f, m: progress(0.1 * f, m)) if progress else None)
        if cache is not None:
            save_feature_cache(cache, z)
    phones = [str(p) for p in z["phones"]]
    bounds = np.concatenate([[0], np.cumsum(z["lengths"])])
    mel_all = z["mel"].astype(np.float32)
    lab_all = z["labels"].astype(np.int64)
    speakers = [str(s) for s in z["speakers"]]
    clips = [(mel_all[a:b], lab_all[a:b], s) for a, b, s in zip(bounds[:-1], bounds[1:], speakers)]
    valid = clips[::10]
    # crops lie inside one training clip; sampled on the device with tensor indexing
    crop = int(crop_s * 100)
    starts = [np.arange(a, b - crop + 1) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))
              if i % 10 and b - a >= crop]
    if not starts:
        raise DataError(f"no training clip is longer than {crop_s} s")
    starts_t = torch.from_numpy(np.concatenate(starts)).to(device)
    mel_t = torch.from_numpy(mel_all).to(device)
    lab_t = torch.from_numpy(lab_all).to(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    net = build_ppg_net(channels=channels, n_layers=n_layers, n_phones=len(phones)).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    t0 = time.time()
    ar = torch.arange(crop, device=device)
    bins = torch.arange(mel_t.shape[1], device=device)
    for step in range(steps):
        pick = starts_t[torch.randint(len(starts_t), (batch,), generator=gen, device=device)]
        idx = pick[:, None] + ar[None]
        x = mel_t[idx]  # [B, crop, n_mels]
        shift = torch.randint(-3, 4, (batch,), generator=gen, device=device)
        x = torch.gather(x, 2, ((bins[None] - shift[:, None]) % len(bins))[:, None, :].expand_as(x))
        x = x + (torch.rand(batch, 1, 1, generator=gen, device=device) - 0.5)
        logits = net(x.transpose(1, 2))
        loss = F.cross_entropy(logits, lab_t[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if progress and step % 20 == 0:
            progress(0.1 + 0.8 * step / steps, f"step {step}/{steps} loss {loss.item():.3f}")
        if step % 200 == 0:
            log.info("ppg step %d loss %.3f (%.0f s)", step, loss.item(), time.time() - t0)
    net = net.cpu().eval()
    enc = PPGEncoder(net, phones)
    correct = total = 0
    ppg_feats, mel_feats, spk = [], [], []
    with torch.inference_mode():
        for m, y, s in valid:
            logits = net(torch.from_numpy(m.T.copy())[None])[0]
            correct += int((logits.argmax(0).numpy() == y).sum())
            total += len(y)
            speech = y != 0
            if speech.sum() > 20:
                ppg_feats.append(torch.log_softmax(logits, 0).clamp(min=enc.floor).T.numpy()[speech])
                mel_feats.append(m[speech])  # the encoder's input: utterance-mean-normalised log-mel
                spk.append(s)
    summary = {"clips": len(clips), "voices": sorted(set(speakers)), "minutes": round(len(mel_all) / 6000, 1),
               "phones": len(phones), "steps": steps, "train_seconds": round(time.time() - t0),
               "device": device, "valid_frame_accuracy": round(correct / max(total, 1), 4)}
    if len(set(spk)) >= 2:
        summary["speaker_probe"] = {"ppg": round(speaker_probe(ppg_feats, spk), 4),
                                    "log_mel_mean_normalised": round(speaker_probe(mel_feats, spk), 4),
                                    "chance": round(1 / len(set(spk)), 4), "held_out_clips": len(spk)}
    enc.save(out, {"summary": summary})
    if progress:
        progress(1.0, "done")
    return summary


def speaker_probe(features: Sequence[np.ndarray], speakers: Sequence[str], *, frames_per_clip: int = 200,
                  seed: int = 0) -> float:
    """Accuracy of a linear (logistic-regression) speaker classifier on frame features.

    Clips are split in two halves per speaker (even/odd clip index): the probe trains on
    the first, is scored on the second. Chance level is ``1 / n_speakers``.

    Args:
        features: one ``ndarray[frames, D]`` per clip.
        speakers: the clip's speaker.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    seen: dict[str, int] = {}
    xs = {0: [], 1: []}
    ys = {0: [], 1: []}
    for f, s in zip(features, speakers):
        half = seen.get(s, 0) % 2
        seen[s] = seen.get(s, 0) + 1
        idx = rng.choice(len(f), size=min(frames_per_clip, len(f)), replace=False)
        xs[half].append(f[idx])
        ys[half].extend([s] * len(idx))
    Xtr, Xte = np.concatenate(xs[0]), np.concatenate(xs[1])
    sc = StandardScaler().fit(Xtr)
    clf = LogisticRegression(max_iter=300).fit(sc.transform(Xtr), ys[0])
    return float(clf.score(sc.transform(Xte), ys[1]))

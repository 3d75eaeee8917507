"""The weights registry: one :class:`ModelSpec` per checkpoint, resolved to a local file.

Every model DiscoverVoice can run is described once, with its sample rate, architecture,
file format, source, checksum and licence (the pattern of torchaudio's pipeline bundles).
Two kinds exist (DESIGN.md, "Weights"):

* **published** checkpoints (HTDemucs, MDX23C, AST, HuBERT/ContentVec, RVC bases, RMVPE,
  UTMOS, Whisper, ...): listed in :data:`PUBLISHED` below with their source URLs. Users who
  are online fetch them with ``discovervoice weights fetch NAME``; offline, asking for one
  raises :class:`WeightsUnavailableError` naming the file, its URL and that command.
* **embedded** defaults trained by this project: each described by ``weights/<name>.json``
  (the registry manifest, one file per model, a ModelSpec as JSON) and shipped next to it
  with its model card ``weights/<name>.md``.

Resolution order of :func:`resolve`: an explicit local path -> the file shipped in
``weights/`` -> the cache (``$DISCOVERVOICE_CACHE``, default ``~/.cache/discovervoice``)
-> a download (only when ``download=True``): streamed to a temporary file, checked against
its sha256 (or, for demucs files, the 8-hex-digit sha256 prefix in the file name, as
``demucs/repo.py`` checks it), then renamed into place, so a broken download never leaves
a file that looks complete.

Libraries: urllib (stdlib) downloads, hashlib checks, tqdm draws the progress bar.
``factory`` is a ``"module:function"`` string so that this module imports nothing heavy;
:func:`load_model` imports it on demand.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from discovervoice.errors import ChecksumError, WeightsError, WeightsUnavailableError
from discovervoice.fileio import atomic_path, write_json

#: Folder of the embedded checkpoints and their manifest (``weights/`` at the repo root).
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file of a checkpoint.

    Attributes:
        filename: name inside the model's cache folder.
        url: where it is published.
        sha256: full hex digest, or a prefix of it (demucs names carry 8 hex digits);
            empty when unknown (then only the size, if known, is checked).
        size: bytes, or ``None`` when unknown.
    """

    filename: str
    url: str
    sha256: str = ""
    size: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A registered checkpoint.

    Attributes:
        name: registry key (``htdemucs``, ``dv-htdemucs-small``...).
        task: ``separation``, ``singer-classification``, ``content``, ``f0``, ``voice``,
            ``mos``, ``asr``, ``speaker``, ``enhancement``.
        architecture: network family (``HTDemucs``, ``TFC-TDF-v3``, ``AST``, ...).
        file_format: ``demucs-th``, ``mdx23c-ckpt+yaml``, ``roformer-ckpt+yaml``, ``hf-safetensors``,
            ``fairseq-pt``, ``rvc-pth``, ``safetensors``...
        sample_rate: the rate the model expects, in Hz.
        licence: licence of the weights (and training data, for embedded ones).
        files: the remote files (published) — empty for embedded-only models.
        shipped: file or folder name under ``weights/`` for embedded models.
        factory: ``"module:function"`` that builds the model from the resolved path.
        source: human-readable origin (paper, repository, recipe command).
        extra: free-form options for the factory (stems, sub-model index, config).
    """

    name: str
    task: str
    architecture: str
    file_format: str
    sample_rate: int
    licence: str
    files: tuple[RemoteFile, ...] = ()
    shipped: str | None = None
    factory: str | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        return self.shipped is not None

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return sum(sizes) if sizes and all(s is not None for s in sizes) else None  # type: ignore[misc]


_DEMUCS = "https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/"
_RVC = "https://huggingface.co/lj1995/VoiceConversionWebUI/resolve/main/"
_UVR = "https://github.com/TRvlvr/model_repo/releases/download/all_public_uvr_models/"
_MSST = "https://github.com/ZFTurbo/Music-Source-Separation-Training/releases/download/"
_HF = "https://huggingface.co/"
_UVR_CFG = "https://raw.githubusercontent.com/TRvlvr/application_data/main/mdx_model_data/mdx_c_configs/"
_MSST_CFG = "https://raw.githubusercontent.com/ZFTurbo/Music-Source-Separation-Training/main/configs/"
_AS_CFG = "https://github.com/nomadkaraoke/python-audio-separator/releases/download/model-configs/"
_ROFORMER = "discovervoice.separation.roformer:load_roformer_checkpoint"


def _roformer(name: str, kind: str, ckpt_url: str, yaml_url: str, licence: str, source: str,
              **extra: object) -> "ModelSpec":
    """A published BS-/Mel-RoFormer: the ``.ckpt`` and its MSST/UVR yaml (no publisher
    gives a sha256 for these files; ``weights verify`` pins the first download)."""
    arch = {"bs_roformer": "BS-RoFormer", "mel_band_roformer": "Mel-RoFormer"}[kind]
    files = (RemoteFile(ckpt_url.rsplit("/", 1)[1], ckpt_url), RemoteFile(yaml_url.rsplit("/", 1)[1], yaml_url))
    return ModelSpec(name, "separation", arch, "roformer-ckpt+yaml", 44100, licence, files,
                     factory=_ROFORMER, source=source,
                     extra={"stems": ["vocals", "accompaniment"], "roformer": kind, **extra})


def _demucs_file(sig: str, hash8: str) -> RemoteFile:
    return RemoteFile(f"{sig}-{hash8}.th", f"{_DEMUCS}{sig}-{hash8}.th", sha256=hash8)


def _hf_files(repo: str, names: Iterable[str]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(n, f"{_HF}{repo}/resolve/main/{n}") for n in names)


#: Published checkpoints (DESIGN.md lists them). Hash prefixes of demucs files come from
#: demucs' ``remote/files.txt``; where a publisher gives no checksum, ``sha256`` is empty and
#: the first verified download is the user's to pin (``discovervoice weights verify``).
PUBLISHED: tuple[ModelSpec, ...] = (
    ModelSpec("htdemucs", "separation", "HTDemucs", "demucs-th", 44100, "MIT (demucs)",
              (_demucs_file("955717e8", "8726e21a"),),
              factory="discovervoice.separation.models:load_demucs_checkpoint",
              source="Rouard et al. 2023, Hybrid Transformers for Music Source Separation; facebookresearch/demucs",
              extra={"stems": ["drums", "bass", "other", "vocals"]}),
    ModelSpec("htdemucs_ft", "separation", "HTDemucs (bag of 4 fine-tuned)", "demucs-th", 44100,
              "MIT (demucs)",
              (_demucs_file("f7e0c4bc", "ba3fe64a"), _demucs_file("d12395a8", "e57c48e6"),
               _demucs_file("92cfc3b6", "ef3bcb9c"), _demucs_file("04573f0d", "f3cf25b2")),
              factory="discovervoice.separation.models:load_demucs_checkpoint",
              source="facebookresearch/demucs htdemucs_ft; one specialised sub-model per stem",
              extra={"stems": ["drums", "bass", "other", "vocals"],
                     "sub_model_for_stem": {"drums": 0, "bass": 1, "other": 2, "vocals": 3}}),
    ModelSpec("htdemucs_ft_vocals", "separation", "HTDemucs", "demucs-th", 44100, "MIT (demucs)",
              (_demucs_file("04573f0d", "f3cf25b2"),),
              factory="discovervoice.separation.models:load_demucs_checkpoint",
              source="facebookresearch/demucs htdemucs_ft, vocals sub-model only",
              extra={"stems": ["drums", "bass", "other", "vocals"], "only": "vocals"}),
    ModelSpec("mdx23c_instvoc_hq", "separation", "TFC-TDF-v3 (MDX23C)", "mdx23c-ckpt+yaml", 44100,
              "MIT (UVR model repository)",
              (RemoteFile("MDX23C-8KFFT-InstVoc_HQ.ckpt", _UVR + "MDX23C-8KFFT-InstVoc_HQ.ckpt"),
               RemoteFile("model_2_stem_full_band_8k.yaml",
                          "https://raw.githubusercontent.com/TRvlvr/application_data/main/"
                          "mdx_model_data/mdx_c_configs/model_2_stem_full_band_8k.yaml")),
              factory="discovervoice.separation.models:load_mdx23c_checkpoint",
              source="Solovyev et al. 2023 (MDX23 winner TFC-TDF v3); UVR/audio-separator",
              extra={"stems": ["vocals", "instrumental"]}),
    ModelSpec("mdx23c_msst_vocals", "separation", "TFC-TDF-v3 (MDX23C)", "mdx23c-ckpt+yaml", 44100,
              "MIT (ZFTurbo/Music-Source-Separation-Training)",
              (RemoteFile("model_vocals_mdx23c_sdr_10.17.ckpt",
                          _MSST + "v1.0.0/model_vocals_mdx23c_sdr_10.17.ckpt"),
               RemoteFile("config_vocals_mdx23c.yaml",
                          "https://raw.githubusercontent.com/ZFTurbo/Music-Source-Separation-Training/"
                          "main/configs/config_vocals_mdx23c.yaml")),
              factory="discovervoice.separation.models:load_mdx23c_checkpoint",
              source="ZFTurbo/Music-Source-Separation-Training v1.0.0",
              extra={"stems": ["vocals", "other"]}),
    # BS-/Mel-RoFormer vocals models: URLs from UVR's own download list
    # (TRvlvr/application_data filelists/download_checks.json) and MSST's
    # docs/pretrained_models.md; vocals SDR on MVSep's multisong set from MSST's table. Where
    # MSST lists a config it is used (inference num_overlap 2); UVR's configs of the same
    # files ask for num_overlap 4, twice the CPU time.
    _roformer("bs_roformer_viperx_1297", "bs_roformer",
              _UVR + "model_bs_roformer_ep_317_sdr_12.9755.ckpt",
              _MSST_CFG + "viperx/model_bs_roformer_ep_317_sdr_12.9755.yaml", "MIT (UVR model repository)",
              "Lu et al. 2023, BS-RoFormer; viperx's vocals model (UVR 'BS-Roformer-Viperx-1297'), "
              "vocals SDR 10.87 multisong (MSST pretrained_models.md)",
              config_dim=512, config_depth=12),
    _roformer("bs_roformer_viperx_1296", "bs_roformer",
              _UVR + "model_bs_roformer_ep_368_sdr_12.9628.ckpt",
              _UVR_CFG + "model_bs_roformer_ep_368_sdr_12.9628.yaml", "MIT (UVR model repository)",
              "Lu et al. 2023, BS-RoFormer; viperx's vocals model (UVR 'BS-Roformer-Viperx-1296')",
              config_dim=512, config_depth=12),
    _roformer("mel_roformer_viperx_1143", "mel_band_roformer",
              _UVR + "model_mel_band_roformer_ep_3005_sdr_11.4360.ckpt",
              _MSST_CFG + "viperx/model_mel_band_roformer_ep_3005_sdr_11.4360.yaml", "MIT (UVR model repository)",
              "Wang et al. 2023, Mel-RoFormer; viperx's vocals model (UVR 'Mel-Roformer-Viperx-1143'), "
              "vocals SDR 9.67 multisong (MSST pretrained_models.md)",
              config_dim=384, config_depth=12),
    _roformer("mel_roformer_kim_vocals", "mel_band_roformer",
              _HF + "KimberleyJSN/melbandroformer/resolve/main/MelBandRoformer.ckpt",
              _MSST_CFG + "KimberleyJensen/config_vocals_mel_band_roformer_kj.yaml",
              "as stated on huggingface.co/KimberleyJSN/melbandroformer (not given in UVR's or MSST's lists)",
              "Wang et al. 2023, Mel-RoFormer; Kimberley Jensen's vocals model, vocals SDR 10.98 "
              "multisong (MSST pretrained_models.md); the config is MSST's",
              config_dim=384, config_depth=6),
    _roformer("mel_roformer_karaoke_aufr33_viperx", "mel_band_roformer",
              _UVR + "mel_band_roformer_karaoke_aufr33_viperx_sdr_10.1956.ckpt",
              _UVR_CFG + "config_mel_band_roformer_karaoke.yaml", "MIT (UVR model repository)",
              "Mel-RoFormer karaoke model by aufr33 and viperx: lead vocals vs. instruments + "
              "backing vocals (UVR's download list)", config_dim=384, config_depth=6),
    _roformer("mel_roformer_karaoke_gabox_v2", "mel_band_roformer",
              _AS_CFG + "mel_band_roformer_karaoke_gabox_v2.ckpt",
              _AS_CFG + "config_mel_band_roformer_karaoke_gabox.yaml",
              "unstated by the author (Gabox); distributed by audio-separator",
              "Mel-RoFormer karaoke model by Gabox (audio-separator models.json, karaoke preset)"),
    _roformer("mel_roformer_karaoke_becruily", "mel_band_roformer",
              _AS_CFG + "mel_band_roformer_karaoke_becruily.ckpt",
              _AS_CFG + "config_mel_band_roformer_karaoke_becruily.yaml",
              "unstated by the author (becruily); distributed by audio-separator",
              "Mel-RoFormer karaoke model by becruily (audio-separator models.json, karaoke preset)"),
    ModelSpec("ast_audioset", "singer-classification", "AST", "hf-safetensors", 16000,
              "BSD-3-Clause (MIT/ast-finetuned-audioset-10-10-0.4593)",
              _hf_files("MIT/ast-finetuned-audioset-10-10-0.4593",
                        ("config.json", "model.safetensors", "preprocessor_config.json")),
              factory="discovervoice.classify.model:load_pretrained_ast",
              source="Gong et al. 2021, AST: Audio Spectrogram Transformer"),
    ModelSpec("hubert_base_rvc", "content", "HuBERT base", "fairseq-pt", 16000, "MIT (RVC-WebUI)",
              (RemoteFile("hubert_base.pt", _RVC + "hubert_base.pt"),),
              factory="discovervoice.convert.content:load_hubert_checkpoint",
              source="Hsu et al. 2021, HuBERT; RVC-WebUI's fairseq checkpoint (converted on load)"),
    ModelSpec("contentvec_best", "content", "HuBERT (ContentVec)", "hf-bin", 16000, "MIT (ContentVec)",
              _hf_files("lengyue233/content-vec-best", ("config.json", "pytorch_model.bin")),
              factory="discovervoice.convert.content:load_hubert_checkpoint",
              source="Qian et al. 2022, ContentVec"),
    ModelSpec("hubert_base_ls960", "content", "HuBERT base", "hf-safetensors", 16000, "Apache-2.0",
              _hf_files("facebook/hubert-base-ls960", ("config.json", "model.safetensors")),
              factory="discovervoice.convert.content:load_hubert_checkpoint",
              source="facebook/hubert-base-ls960"),
    ModelSpec("rvc_v2_f0G40k", "voice", "RVC v2 NSF-HiFiGAN generator", "rvc-pth", 40000, "MIT (RVC-WebUI)",
              (RemoteFile("f0G40k.pth", _RVC + "pretrained_v2/f0G40k.pth"),),
              factory="discovervoice.convert.rvc:load_rvc_checkpoint",
              source="RVC-Project/Retrieval-based-Voice-Conversion-WebUI pretrained_v2"),
    ModelSpec("rvc_v2_f0D40k", "voice", "RVC v2 multi-period discriminator", "rvc-pth", 40000,
              "MIT (RVC-WebUI)", (RemoteFile("f0D40k.pth", _RVC + "pretrained_v2/f0D40k.pth"),),
              source="RVC-Project/Retrieval-based-Voice-Conversion-WebUI pretrained_v2"),
    ModelSpec("rvc_v2_f0G48k", "voice", "RVC v2 NSF-HiFiGAN generator", "rvc-pth", 48000, "MIT (RVC-WebUI)",
              (RemoteFile("f0G48k.pth", _RVC + "pretrained_v2/f0G48k.pth"),),
              factory="discovervoice.convert.rvc:load_rvc_checkpoint",
              source="RVC-Project/Retrieval-based-Voice-Conversion-WebUI pretrained_v2"),
    ModelSpec("rvc_v2_f0D48k", "voice", "RVC v2 multi-period discriminator", "rvc-pth", 48000,
              "MIT (RVC-WebUI)", (RemoteFile("f0D48k.pth", _RVC + "pretrained_v2/f0D48k.pth"),),
              source="RVC-Project/Retrieval-based-Voice-Conversion-WebUI pretrained_v2"),
    ModelSpec("rmvpe", "f0", "RMVPE", "torch-pt", 16000, "MIT (RVC-WebUI)",
              (RemoteFile("rmvpe.pt", _RVC + "rmvpe.pt"),),
              factory="discovervoice.convert.f0:load_rmvpe",
              source="Wei et al. 2023, RMVPE: robust model for vocal pitch estimation in polyphonic music"),
    ModelSpec("utmos22_strong", "mos", "UTMOS22 strong learner", "torch-pt", 16000, "MIT (tarepan/SpeechMOS)",
              (RemoteFile("utmos22_strong_step7459_v1.pt",
                          "https://github.com/tarepan/SpeechMOS/releases/download/v1.0.0/"
                          "utmos22_strong_step7459_v1.pt"),),
              factory="discovervoice.eval.mos:load_utmos",
              source="Saeki et al. 2022, UTMOS (VoiceMOS Challenge 2022)"),
    ModelSpec("whisper_tiny", "asr", "Whisper tiny", "hf-safetensors", 16000, "MIT (openai/whisper)",
              _hf_files("openai/whisper-tiny",
                        ("config.json", "generation_config.json", "model.safetensors",
                         "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
                         "vocab.json", "merges.txt", "normalizer.json", "added_tokens.json",
                         "special_tokens_map.json")),
              factory="discovervoice.transcribe.api:load_whisper",
              source="Radford et al. 2022, Whisper"),
    ModelSpec("whisper_small", "asr", "Whisper small", "hf-safetensors", 16000, "MIT (openai/whisper)",
              _hf_files("openai/whisper-small",
                        ("config.json", "generation_config.json", "model.safetensors",
                         "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
                         "vocab.json", "merges.txt", "normalizer.json", "added_tokens.json",
                         "special_tokens_map.json")),
              factory="discovervoice.transcribe.api:load_whisper",
              source="Radford et al. 2022, Whisper"),
    ModelSpec("ecapa_voxceleb", "speaker", "ECAPA-TDNN", "speechbrain-ckpt", 16000, "Apache-2.0 (SpeechBrain)",
              _hf_files("speechbrain/spkrec-ecapa-voxceleb",
                        ("hyperparams.yaml", "embedding_model.ckpt")),
              factory="discovervoice.eval.speaker:load_ecapa",
              source="Desplanques et al. 2020, ECAPA-TDNN; speechbrain/spkrec-ecapa-voxceleb"),
)


# --------------------------------------------------------------------------- registry

def cache_dir() -> Path:
    """``$DISCOVERVOICE_CACHE`` or ``~/.cache/discovervoice`` (not created here)."""
    env = os.environ.get("DISCOVERVOICE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "discovervoice"


def _spec_from_json(entry: dict[str, Any]) -> ModelSpec:
    files = tuple(RemoteFile(**f) for f in entry.pop("files", []))
    return ModelSpec(files=files, **entry)


def embedded_specs(shipped_dir: Path | None = None) -> tuple[ModelSpec, ...]:
    """The embedded defaults described by ``weights/*.json`` (one ModelSpec per file).

    Raises:
        WeightsError: a manifest file is not valid JSON of a ModelSpec.
    """
    d = shipped_dir or SHIPPED_DIR
    specs = []
    for path in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            specs.append(_spec_from_json(dict(json.loads(path.read_text()))))
        except (ValueError, KeyError, TypeError) as exc:
            raise WeightsError(f"{path}: invalid weights manifest entry ({exc})") from exc
    return tuple(specs)


#: Parsed registries by manifest folder, with the folder's fingerprint when parsed.
_REGISTRY_CACHE: dict[Path, tuple[tuple, dict[str, ModelSpec]]] = {}


def _manifest_fingerprint(d: Path) -> tuple:
    """What must stay equal for a parsed registry to be reused: the folder's mtime (files
    added, removed or renamed into place) and each manifest's name, size and mtime."""
    if not d.is_dir():
        return ()
    files = []
    for p in sorted(d.glob("*.json")):
        try:
            st = p.stat()
        except OSError:
            continue
        files.append((p.name, st.st_size, st.st_mtime_ns))
    return (d.stat().st_mtime_ns, tuple(files))


def clear_registry_cache() -> None:
    """Forget the parsed registries (the next :func:`registry` call re-reads the manifests)."""
    _REGISTRY_CACHE.clear()


def registry(shipped_dir: Path | None = None) -> dict[str, ModelSpec]:
    """All known models by name: published ones, then the embedded manifest's.

    The manifests are parsed once per folder and re-read only when the folder or one of
    its ``*.json`` files changes (or after :func:`clear_registry_cache`). The returned
    dict is a copy; the specs are frozen.

    Raises:
        WeightsError: a manifest is invalid or redefines a published model.
    """
    d = Path(shipped_dir or SHIPPED_DIR)
    key = _manifest_fingerprint(d)
    hit = _REGISTRY_CACHE.get(d)
    if hit is not None and hit[0] == key:
        return dict(hit[1])
    specs = {s.name: s for s in PUBLISHED}
    for s in embedded_specs(d):
        if s.name in specs:
            raise WeightsError(f"weights manifest redefines the published model {s.name!r}")
        specs[s.name] = s
    _REGISTRY_CACHE[d] = (key, specs)
    return dict(specs)


def get_spec(name: str, shipped_dir: Path | None = None) -> ModelSpec:
    """Look up a model by name.

    Raises:
        WeightsError: unknown name (the message lists the known ones).
    """
    reg = registry(shipped_dir)
    if name not in reg:
        raise WeightsError(f"unknown model {name!r}; known models: {', '.join(sorted(reg))}")
    return reg[name]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _check(path: Path, rf: RemoteFile) -> None:
    if rf.size is not None and path.stat().st_size != rf.size:
        raise ChecksumError(f"{path}: size {path.stat().st_size} bytes, expected {rf.size} "
                            f"(from {rf.url})")
    if rf.sha256:
        digest = sha256_of(path)
        if not digest.startswith(rf.sha256.lower()):
            raise ChecksumError(f"{path}: sha256 {digest[:16]}... does not match the registered "
                                f"{rf.sha256[:16]}... (from {rf.url})")


def download(url: str, dest: Path, sha256: str = "", size: int | None = None,
             progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically and verify it.

    Streams into a temporary file next to ``dest``, checks size and sha256 (full digest or
    prefix), then renames. On any failure the temporary file is removed.

    Raises:
        WeightsUnavailableError: the URL cannot be reached (offline, HTTP error).
        ChecksumError: the bytes do not match.
    """
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as out:
            try:
                resp = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (http/https/file)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise WeightsUnavailableError(f"cannot download {url}: {exc}") from exc
            with resp:
                total = resp.headers.get("Content-Length")
                bar = None
                if progress:
                    from tqdm import tqdm

                    bar = tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                               desc=dest.name, leave=False)
                try:
                    for block in iter(lambda: resp.read(_CHUNK), b""):
                        out.write(block)
                        if bar is not None:
                            bar.update(len(block))
                finally:
                    if bar is not None:
                        bar.close()
        _check(tmp, RemoteFile(dest.name, url, sha256, size))
    return dest


def _fetch_hint(spec: ModelSpec) -> str:
    return f"run `discovervoice weights fetch {spec.name}` while online"


def fingerprint(name_or_path: str | os.PathLike) -> str:
    """A short sha256 (16 hex digits) of the weights behind a registry name or path (of the
    file names and sizes for a folder), so that caches keyed by it are rebuilt when the
    weights behind a name change.

    Raises:
        WeightsError / WeightsUnavailableError: see :func:`resolve`.
    """
    p = resolve(name_or_path)
    if p.is_file():
        return sha256_of(p)[:16]
    listing = ";".join(f"{q.relative_to(p)}:{q.stat().st_size}" for q in sorted(p.rglob("*")) if q.is_file())
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def resolve(name_or_path: str | os.PathLike, *, download_missing: bool = False,
            shipped_dir: Path | None = None, progress: bool = True) -> Path:
    """Resolve a model name (or a local path) to a file or folder on disk.

    Order: an existing local path -> ``weights/`` (embedded) -> the cache -> a download
    when ``download_missing`` is true. A model of one file resolves to that file; a model
    of several files resolves to its cache folder.

    Raises:
        WeightsError: unknown name.
        WeightsUnavailableError: a published checkpoint is not cached and may not or cannot
            be downloaded; the message names the file, its URL and the fetch command.
        ChecksumError: a cached or downloaded file does not match its sha256.
    """
    reg = registry(shipped_dir)
    if str(name_or_path) not in reg:
        p = Path(name_or_path).expanduser()
        if p.exists():
            return p.resolve()
        if p.suffix or os.sep in str(name_or_path):
            raise WeightsUnavailableError(f"{p}: checkpoint file not found")
    spec = get_spec(str(name_or_path), shipped_dir)
    if spec.embedded:
        shipped = (shipped_dir or SHIPPED_DIR) / spec.shipped  # type: ignore[operator]
        if shipped.exists():
            return shipped
        if not spec.files:
            raise WeightsUnavailableError(
                f"embedded model {spec.name!r} should be shipped as {shipped}, which is missing; "
                f"reinstall DiscoverVoice or retrain it ({spec.source})")
    folder = cache_dir() / spec.name
    missing = [rf for rf in spec.files if not (folder / rf.filename).exists()]
    if missing and not download_missing:
        rf = missing[0]
        raise WeightsUnavailableError(
            f"model {spec.name!r} needs {rf.filename} ({rf.url}), which is not in the cache "
            f"{folder}; {_fetch_hint(spec)}, or pass a local path to the checkpoint")
    for rf in missing:
        try:
            download(rf.url, folder / rf.filename, rf.sha256, rf.size, progress=progress)
        except WeightsUnavailableError as exc:
            raise WeightsUnavailableError(
                f"model {spec.name!r}: {exc}; {_fetch_hint(spec)}, or pass a local path") from exc
    return folder / spec.files[0].filename if len(spec.files) == 1 else folder


def verify(name: str, shipped_dir: Path | None = None) -> list[tuple[str, str]]:
    """Check every present file of a model; returns ``[(file, "ok"|"missing"|error)]``."""
    spec = get_spec(name, shipped_dir)
    rows: list[tuple[str, str]] = []
    if spec.embedded:
        shipped = (shipped_dir or SHIPPED_DIR) / spec.shipped  # type: ignore[operator]
        expected = spec.extra.get("sha256", "")
        if not shipped.exists():
            rows.append((str(shipped), "missing"))
        elif expected and not sha256_of(shipped).startswith(expected):
            rows.append((str(shipped), "sha256 mismatch"))
        else:
            rows.append((str(shipped), "ok"))
    folder = cache_dir() / spec.name
    for rf in spec.files:
        path = folder / rf.filename
        if not path.exists():
            rows.append((str(path), "missing"))
            continue
        try:
            _check(path, rf)
            rows.append((str(path), "ok"))
        except ChecksumError as exc:
            rows.append((str(path), str(exc)))
    return rows


def load_model(name_or_path: str | os.PathLike, *, spec_name: str | None = None,
               download_missing: bool = False, **kwargs: Any) -> Any:
    """Resolve a checkpoint and build its model through the spec's factory: the one way a
    registry name (or a local checkpoint of a registered family) becomes a model.

    Args:
        name_or_path: a registry name, or a local checkpoint file / folder.
        spec_name: the registry entry whose factory (and spec) builds a local path; ignored
            when ``name_or_path`` is itself a registry name (so a family's loader can pass
            its default model's name for both).
        download_missing: fetch a published checkpoint that is not cached.
        **kwargs: passed to the factory.

    Raises:
        WeightsError: unknown model, a path without ``spec_name``, or a spec without a
            factory.
        WeightsUnavailableError: see :func:`resolve`.
    """
    key = str(name_or_path)
    if key not in registry():
        if spec_name is None and Path(key).expanduser().exists():
            raise WeightsError(f"{key}: a local checkpoint needs spec_name (the registered "
                               f"model family that reads it)")
        key = spec_name or key
    spec = get_spec(key)
    if spec.factory is None:
        raise WeightsError(f"model {spec.name!r} ({spec.architecture}) has no loader; it is a "
                           f"training-only checkpoint")
    path = resolve(name_or_path, download_missing=download_missing)
    module_name, func_name = spec.factory.split(":")
    factory: Callable[..., Any] = getattr(importlib.import_module(module_name), func_name)
    return factory(path, spec=spec, **kwargs)


def spec_as_dict(spec: ModelSpec) -> dict[str, Any]:
    """A JSON-ready dict of a spec (for ``weights list --json`` and model cards)."""
    d = asdict(spec)
    d["embedded"] = spec.embedded
    return d


def write_manifest(spec: ModelSpec, weights_dir: Path | None = None) -> Path:
    """Write ``<weights_dir>/<spec.name>.json``, the registry manifest of an embedded model
    (the fields of :class:`ModelSpec`, read back by :func:`embedded_specs`), atomically.

    Raises:
        WeightsError: the spec is not an embedded one (``shipped`` is unset).
    """
    if not spec.embedded:
        raise WeightsError(f"model {spec.name!r}: only embedded models (with a shipped file) "
                           f"have a manifest in weights/")
    d = Path(weights_dir or SHIPPED_DIR)
    d.mkdir(parents=True, exist_ok=True)
    entry = spec_as_dict(spec)
    del entry["embedded"]               # derived from ``shipped``, not a field
    if not entry["files"]:
        del entry["files"]
    dest = d / f"{spec.name}.json"
    return write_json(dest, entry, ensure_ascii=True, trailing_newline=True)

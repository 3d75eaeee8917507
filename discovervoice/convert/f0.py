"""F0 (fundamental frequency) extraction and editing for voice conversion.

All extractors work on 16 kHz mono audio and return one F0 value per 10 ms frame
(hop 160 samples, frame ``i`` centred at ``i * 0.01`` s), in Hz, with ``0`` for unvoiced
frames and voiced values limited to :data:`F0_MIN`..:data:`F0_MAX` (50-1100 Hz, the range
RVC-WebUI and Applio use).

Methods (the names RVC-WebUI / Applio use):

* ``harvest`` and ``dio`` (+ StoneMask refinement): WORLD, through ``pyworld``
  (Morise et al. 2016/2017).
* ``praat``: Praat's autocorrelation pitch tracker through ``parselmouth``
  (Boersma 1993).
* ``crepe`` / ``crepe-tiny``: CREPE (Kim et al. 2018) through ``torchcrepe``, which ships
  the *full* and *tiny* weights.
* ``fcpe``: FCPE, Fast Context-based Pitch Estimation (CNChTu; an F0 method of RVC-WebUI
  and Applio), through ``torchfcpe``, whose wheel ships the official pretrained model
  (``torchfcpe/assets/fcpe_c_v001.pt``, MIT): offline, nothing to download.

  Both packages import ``torchaudio`` at import time, and torchaudio must not be installed
  here (DESIGN.md): ``torchcrepe`` only to offer ``torchcrepe.load.audio`` (file loading),
  ``torchfcpe`` only for ``torchaudio.transforms.Resample``, which it calls when the input
  rate differs from the model's 16 kHz (never here: every extractor gets 16 kHz). Neither
  path is used by DiscoverVoice. :func:`import_without_torchaudio` (the one home of this
  mechanism; :func:`import_torchcrepe` and :func:`import_torchfcpe` use it) therefore puts
  a minimal stand-in ``torchaudio`` (and ``torchaudio.transforms``) into ``sys.modules``
  for the duration of the import (``load`` and ``Resample`` raise), and removes it again
  right after, so no other library ever sees a fake torchaudio.
* ``rmvpe``: RMVPE (Wei et al. 2023), the architecture of RVC-WebUI's ``infer/lib/rmvpe.py``
  (:class:`RMVPE`: deep U-Net over a 128-band log-mel + BiGRU + 360 pitch bins), loading
  the published ``rmvpe.pt`` state dict from the registry (:func:`load_rmvpe`).

Post-processing: :func:`median_filter` (``filter_radius``, RVC's median smoothing),
:func:`transpose` (semitones), :func:`auto_octave` (octave choice into a target voice's
range), :func:`coarse_pitch` (RVC's 1..255 mel-scale pitch bins).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from discovervoice.errors import DiscoverVoiceError, WeightsError

#: Sample rate every extractor expects (Hz).
SAMPLE_RATE = 16000
#: Hop between F0 frames (samples at 16 kHz) = 10 ms.
HOP = 160
#: Lowest and highest voiced F0 (Hz).
F0_MIN = 50.0
F0_MAX = 1100.0
#: Every method :func:`extract_f0` knows.
METHODS = ("harvest", "dio", "praat", "crepe", "crepe-tiny", "rmvpe", "fcpe")

#: The F0 method of conversion when none is given (``convert``, ``cover``, ``studio``, the
#: app): FCPE, the most accurate here on real voices (real people's speech sung onto exact
#: notes: raw pitch accuracy 0.975 against harvest's 0.950, no false voicing, 0.832 against
#: 0.637 under real music at 10 dB; converted audio follows the true notes 0.990 / 0.986
#: judged by FCPE / harvest against 0.963 / 0.958 with harvest F0: README "F0 methods on real
#: voices", ``benchmarks/bench_f0.py``, ``benchmarks/eval_pitch_truth.py``), as RVC-WebUI and
#: Applio now default to it. Voice training keeps harvest (``voice train --f0-method``).
DEFAULT_F0_METHOD = "fcpe"


class F0Error(DiscoverVoiceError):
    """Unknown F0 method, bad input, or a pitch model that cannot be loaded."""


def n_frames(n_samples: int) -> int:
    """Number of 10 ms frames for ``n_samples`` at 16 kHz (``n_samples // 160 + 1``)."""
    return n_samples // HOP + 1


def _fit(f0: np.ndarray, n: int) -> np.ndarray:
    f0 = np.asarray(f0, dtype=np.float64).reshape(-1)
    if len(f0) >= n:
        return f0[:n]
    return np.pad(f0, (0, n - len(f0)))


def _limit(f0: np.ndarray, f0_min: float, f0_max: float) -> np.ndarray:
    f0 = np.nan_to_num(np.asarray(f0, dtype=np.float64))
    f0[(f0 < f0_min) | (f0 > f0_max)] = 0.0
    return f0


# --------------------------------------------------------------------------- WORLD, praat

def _world(audio: np.ndarray, method: str, f0_min: float, f0_max: float) -> np.ndarray:
    import pyworld

    x = np.ascontiguousarray(audio, dtype=np.float64)
    fn = pyworld.harvest if method == "harvest" else pyworld.dio
    f0, t = fn(x, SAMPLE_RATE, f0_floor=f0_min, f0_ceil=f0_max, frame_period=1000 * HOP / SAMPLE_RATE)
    if method == "dio":
        f0 = pyworld.stonemask(x, f0, t, SAMPLE_RATE)
    return f0


def _praat(audio: np.ndarray, f0_min: float, f0_max: float) -> np.ndarray:
    import parselmouth

    snd = parselmouth.Sound(np.asarray(audio, dtype=np.float64), SAMPLE_RATE)
    n = n_frames(len(audio))
    pitch = snd.to_pitch_ac(time_step=HOP / SAMPLE_RATE, voicing_threshold=0.6,
                            pitch_floor=max(f0_min, 30.0), pitch_ceiling=f0_max)
    values = pitch.selected_array["frequency"]
    times = pitch.xs()
    out = np.zeros(n)
    idx = np.round(times * SAMPLE_RATE / HOP).astype(int)
    ok = (idx >= 0) & (idx < n)
    out[idx[ok]] = values[ok]
    return out


# --------------------------------------------------------------------------- CREPE

def import_without_torchaudio(name: str, method: str) -> types.ModuleType:
    """Import the package ``name`` (a pitch model that declares torchaudio) without torchaudio.

    When torchaudio is not installed, a stand-in ``torchaudio`` + ``torchaudio.transforms``
    is in ``sys.modules`` only while ``name`` is imported; its ``load`` and ``Resample``
    raise :class:`F0Error` if anything ever calls them. When torchaudio is installed it is
    left alone.

    Args:
        name: the import name (``torchcrepe``, ``torchfcpe``).
        method: the F0 method that needs it (for the error message).

    Raises:
        F0Error: the package (or one of its own dependencies) is not installed.
    """
    if name in sys.modules:
        return sys.modules[name]
    stubs: dict[str, types.ModuleType] = {}
    if importlib.util.find_spec("torchaudio") is None:

        def _needs_torchaudio(what: str):
            def _raise(*_a: Any, **_k: Any) -> Any:
                raise F0Error(f"{name} called {what}, which needs torchaudio; DiscoverVoice does not "
                              "install it (load and resample audio with discovervoice.audio)")
            return _raise

        ta = types.ModuleType("torchaudio")
        tr = types.ModuleType("torchaudio.transforms")
        ta.load = _needs_torchaudio("torchaudio.load")  # type: ignore[attr-defined]
        tr.Resample = _needs_torchaudio("torchaudio.transforms.Resample")  # type: ignore[attr-defined]
        ta.transforms = tr  # type: ignore[attr-defined]
        stubs = {"torchaudio": ta, "torchaudio.transforms": tr}
        sys.modules.update(stubs)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise F0Error(f"f0 method {method!r} needs the {name} package, installed with "
                      f"`pip install --no-deps -r requirements-nodeps.txt` ({exc})") from exc
    finally:
        for key, stub in stubs.items():
            if sys.modules.get(key) is stub:
                del sys.modules[key]


def import_torchcrepe() -> types.ModuleType:
    """Import ``torchcrepe`` without torchaudio (see :func:`import_without_torchaudio`).

    Raises:
        F0Error: torchcrepe is not installed.
    """
    return import_without_torchaudio("torchcrepe", "crepe")


def _crepe(audio: np.ndarray, model: str, f0_min: float, f0_max: float, batch: int = 512) -> np.ndarray:
    import torch

    torchcrepe = import_torchcrepe()
    x = torch.from_numpy(np.asarray(audio, dtype=np.float32))[None]
    with torch.inference_mode():
        f0, pd = torchcrepe.predict(x, SAMPLE_RATE, HOP, f0_min, f0_max, model, batch_size=batch,
                                    device="cpu", return_periodicity=True, pad=True)
        pd = torchcrepe.filter.median(pd, 3)
        f0 = torchcrepe.filter.mean(f0, 3)
    f0 = f0[0].numpy().astype(np.float64)
    f0[pd[0].numpy() < 0.1] = 0.0
    return f0


# --------------------------------------------------------------------------- FCPE

#: FCPE's voicing threshold on its decoder's peak salience (torchfcpe's own default).
FCPE_THRESHOLD = 0.006


def import_torchfcpe() -> types.ModuleType:
    """Import ``torchfcpe`` without torchaudio (see :func:`import_without_torchaudio`).

    Raises:
        F0Error: torchfcpe (or its ``einops`` / ``local_attention``) is not installed.
    """
    return import_without_torchaudio("torchfcpe", "fcpe")


_FCPE_CACHE: dict[str, Any] = {}


def load_fcpe() -> Any:
    """The pretrained FCPE model that ships inside the ``torchfcpe`` wheel (CPU, eval mode,
    loaded once per process). 16 kHz, 128-band mel, hop 160: one frame per 10 ms, the
    frame grid of :func:`n_frames`.

    Raises:
        F0Error: torchfcpe is not installed.
    """
    if "bundled" not in _FCPE_CACHE:
        import contextlib
        import io

        torchfcpe = import_torchfcpe()
        with contextlib.redirect_stdout(io.StringIO()):  # it prints [INFO]/[WARN] lines
            model = torchfcpe.spawn_bundled_infer_model(device="cpu")
        cfg = model.args_dict["mel"]
        if cfg["sr"] != SAMPLE_RATE or cfg["hop_size"] != HOP:
            raise F0Error(f"torchfcpe's bundled model is {cfg['sr']} Hz / hop {cfg['hop_size']}; "
                          f"expected {SAMPLE_RATE} Hz / hop {HOP}")
        _FCPE_CACHE["bundled"] = model
    return _FCPE_CACHE["bundled"]


def _fcpe(audio: np.ndarray, f0_min: float, f0_max: float,
          threshold: float = FCPE_THRESHOLD) -> np.ndarray:
    import torch

    model = load_fcpe()
    a = np.asarray(audio, dtype=np.float32)
    peak = float(np.abs(a).max()) if a.size else 0.0
    if peak > 1.0:  # torchfcpe's mel front end expects [-1, 1] (it prints an error otherwise); F0 is scale-free
        a = a / peak
    x = torch.from_numpy(a)[None, :, None]
    with torch.inference_mode():
        f0 = model.infer(x, sr=SAMPLE_RATE, decoder_mode="local_argmax", threshold=threshold,
                         interp_uv=False,
                         output_interp_target_length=n_frames(len(audio)))
    return f0[0, :, 0].numpy().astype(np.float64)


# --------------------------------------------------------------------------- RMVPE

def _rmvpe_modules():  # noqa: C901 - the architecture, kept together
    import torch
    from torch import nn

    class ConvBlockRes(nn.Module):
        def __init__(self, cin: int, cout: int, momentum: float = 0.01):
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout, momentum=momentum),
                nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                nn.BatchNorm2d(cout, momentum=momentum), nn.ReLU())
            self.shortcut = nn.Conv2d(cin, cout, (1, 1)) if cin != cout else None

        def forward(self, x):
            return self.conv(x) + (self.shortcut(x) if self.shortcut is not None else x)

    class ResEncoderBlock(nn.Module):
        def __init__(self, cin, cout, kernel_size, n_blocks=1):
            super().__init__()
            self.conv = nn.ModuleList([ConvBlockRes(cin, cout)] +
                                      [ConvBlockRes(cout, cout) for _ in range(n_blocks - 1)])
            self.kernel_size = kernel_size
            self.pool = nn.AvgPool2d(kernel_size) if kernel_size is not None else None

        def forward(self, x):
            for c in self.conv:
                x = c(x)
            return (x, self.pool(x)) if self.pool is not None else x

    class Encoder(nn.Module):
        def __init__(self, cin, in_size, n_encoders, kernel_size, n_blocks, cout=16):
            super().__init__()
            self.bn = nn.BatchNorm2d(cin, momentum=0.01)
            self.layers = nn.ModuleList()
            for _ in range(n_encoders):
                self.layers.append(ResEncoderBlock(cin, cout, kernel_size, n_blocks))
                cin, cout, in_size = cout, cout * 2, in_size // 2
            self.out_size, self.out_channel = in_size, cout

        def forward(self, x):
            skips = []
            x = self.bn(x)
            for layer in self.layers:
                t, x = layer(x)
                skips.append(t)
            return x, skips

    class Intermediate(nn.Module):
        def __init__(self, cin, cout, n_inters, n_blocks):
            super().__init__()
            self.layers = nn.ModuleList([ResEncoderBlock(cin, cout, None, n_blocks)] +
                                        [ResEncoderBlock(cout, cout, None, n_blocks)
                                         for _ in range(n_inters - 1)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    class ResDecoderBlock(nn.Module):
        def __init__(self, cin, cout, stride, n_blocks=1):
            super().__init__()
            out_padding = (0, 1) if stride == (1, 2) else (1, 1)
            self.conv1 = nn.Sequential(
                nn.ConvTranspose2d(cin, cout, (3, 3), stride, (1, 1), out_padding, bias=False),
                nn.BatchNorm2d(cout, momentum=0.01), nn.ReLU())
            self.conv2 = nn.ModuleList([ConvBlockRes(cout * 2, cout)] +
                                       [ConvBlockRes(cout, cout) for _ in range(n_blocks - 1)])

        def forward(self, x, skip):
            x = torch.cat((self.conv1(x), skip), dim=1)
            for c in self.conv2:
                x = c(x)
            return x

    class Decoder(nn.Module):
        def __init__(self, cin, n_decoders, stride, n_blocks):
            super().__init__()
            self.layers = nn.ModuleList()
            for _ in range(n_decoders):
                self.layers.append(ResDecoderBlock(cin, cin // 2, stride, n_blocks))
                cin //= 2

        def forward(self, x, skips):
            for i, layer in enumerate(self.layers):
                x = layer(x, skips[-1 - i])
            return x

    class DeepUnet(nn.Module):
        def __init__(self, kernel_size, n_blocks, en_de_layers=5, inter_layers=4, cin=1, en_out=16):
            super().__init__()
            self.encoder = Encoder(cin, 128, en_de_layers, kernel_size, n_blocks, en_out)
            self.intermediate = Intermediate(self.encoder.out_channel // 2, self.encoder.out_channel,
                                             inter_layers, n_blocks)
            self.decoder = Decoder(self.encoder.out_channel, en_de_layers, kernel_size, n_blocks)

        def forward(self, x):
            x, skips = self.encoder(x)
            return self.decoder(self.intermediate(x), skips)

    class BiGRU(nn.Module):
        def __init__(self, n_in, n_hidden, n_layers):
            super().__init__()
            self.gru = nn.GRU(n_in, n_hidden, num_layers=n_layers, batch_first=True, bidirectional=True)

        def forward(self, x):
            return self.gru(x)[0]

    return DeepUnet, BiGRU


def build_rmvpe(n_blocks: int = 4, n_gru: int = 1, en_de_layers: int = 5, inter_layers: int = 4,
                en_out_channels: int = 16):
    """RMVPE's ``E2E`` network (RVC-WebUI ``infer/lib/rmvpe.py``), random init.

    The published checkpoint is ``build_rmvpe()`` (4 blocks, 5 encoder/decoder levels,
    4 intermediate layers, 16 first-level channels). Smaller arguments give tiny test
    configs with the same parameter names.

    Shape: ``forward(mel: Tensor[B, 128, T]) -> Tensor[B, T, 360]`` (pitch-bin salience in
    0..1); ``T`` must be a multiple of ``2 ** en_de_layers``.
    """
    import torch
    from torch import nn

    DeepUnet, BiGRU = _rmvpe_modules()

    class E2E(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = dict(n_blocks=n_blocks, n_gru=n_gru, en_de_layers=en_de_layers,
                               inter_layers=inter_layers, en_out_channels=en_out_channels)
            self.unet = DeepUnet((2, 2), n_blocks, en_de_layers, inter_layers, 1, en_out_channels)
            self.cnn = nn.Conv2d(en_out_channels, 3, (3, 3), padding=(1, 1))
            self.fc = nn.Sequential(BiGRU(3 * 128, 256, n_gru), nn.Linear(512, 360),
                                    nn.Dropout(0.25), nn.Sigmoid())

        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            x = mel.transpose(-1, -2).unsqueeze(1)
            x = self.cnn(self.unet(x)).transpose(1, 2).flatten(-2)
            return self.fc(x)

    return E2E()


def _rmvpe_config_from_state(state: dict) -> dict:
    enc = {int(k.split(".")[3]) for k in state if k.startswith("unet.encoder.layers.")}
    inter = {int(k.split(".")[3]) for k in state if k.startswith("unet.intermediate.layers.")}
    blocks = {int(k.split(".")[5]) for k in state if k.startswith("unet.encoder.layers.0.conv.")}
    gru = {k for k in state if k.startswith("fc.0.gru.weight_ih_l") and not k.endswith("reverse")}
    first = state["unet.encoder.layers.0.conv.0.conv.0.weight"]
    return dict(n_blocks=len(blocks), n_gru=len(gru), en_de_layers=len(enc),
                inter_layers=len(inter), en_out_channels=int(first.shape[0]))


class RMVPE:
    """RMVPE pitch estimator: mel front end + :func:`build_rmvpe` network + decoding.

    Front end and decoding follow RVC-WebUI: 128-band HTK mel (librosa filters) of a
    1024-point STFT (hop 160, Hann, centred) from 30 to 8000 Hz, ``log(max(mel, 1e-5))``;
    the 360 bins are 20 cents apart from 1997.38 cents (10 Hz reference); F0 is the
    salience-weighted mean of the 9 bins around the peak, unvoiced when the peak is below
    ``threshold``.

    Attributes:
        sample_rate: 16000 Hz.
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, model: Any, threshold: float = 0.03):
        import librosa
        import torch

        self.model = model.eval()
        self.threshold = threshold
        self.mel_basis = torch.from_numpy(librosa.filters.mel(
            sr=SAMPLE_RATE, n_fft=1024, n_mels=128, fmin=30, fmax=8000, htk=True)).float()
        self.cents = 20 * np.arange(360) + 1997.3794084376191

    def mel(self, audio: np.ndarray):
        """``ndarray[T]`` at 16 kHz -> log-mel ``Tensor[1, 128, frames]``."""
        import torch

        x = torch.from_numpy(np.asarray(audio, dtype=np.float32))[None]
        spec = torch.stft(x, 1024, HOP, 1024, torch.hann_window(1024), center=True, return_complex=True)
        return torch.log(torch.clamp(self.mel_basis @ spec.abs(), min=1e-5))

    def salience(self, audio: np.ndarray) -> np.ndarray:
        """Pitch-bin salience ``ndarray[frames, 360]`` of 16 kHz audio."""
        import torch
        import torch.nn.functional as F

        mel = self.mel(audio)
        n = mel.shape[-1]
        mult = 2 ** self.model.config["en_de_layers"]
        pad = (-n) % mult
        mel = F.pad(mel, (0, pad), mode="constant")
        with torch.inference_mode():
            return self.model(mel)[0, :n].numpy()

    def decode(self, salience: np.ndarray) -> np.ndarray:
        """Salience ``[frames, 360]`` -> F0 in Hz (0 = unvoiced), RVC's local average."""
        center = np.argmax(salience, axis=1)
        padded = np.pad(salience, ((0, 0), (4, 4)))
        cents = np.pad(self.cents, (4, 4))
        idx = center[:, None] + np.arange(9)[None]
        w = np.take_along_axis(padded, idx, axis=1)
        c = np.take_along_axis(np.broadcast_to(cents, padded.shape), idx, axis=1)
        avg = (w * c).sum(1) / np.maximum(w.sum(1), 1e-9)
        avg[salience.max(axis=1) <= self.threshold] = 0.0
        f0 = 10 * 2 ** (avg / 1200)
        f0[avg == 0] = 0.0
        return f0

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.decode(self.salience(audio))


def load_rmvpe(path: str | Path, spec: Any = None, threshold: float = 0.03, **_: Any) -> RMVPE:
    """Load an RMVPE state dict (``rmvpe.pt`` of RVC-WebUI, or a test-built one).

    The network's size is read from the state dict's parameter names and shapes.

    Raises:
        WeightsError: the file is not an RMVPE state dict.
    """
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised as a typed error naming the file
        raise WeightsError(f"{path}: cannot read the RMVPE checkpoint ({exc})") from exc
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or "unet.encoder.layers.0.conv.0.conv.0.weight" not in state:
        raise WeightsError(f"{path}: not an RMVPE state dict (no unet.encoder weights)")
    model = build_rmvpe(**_rmvpe_config_from_state(state))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: RMVPE state dict does not fit the architecture: {exc}") from exc
    return RMVPE(model.float(), threshold)


_RMVPE_CACHE: dict[str, RMVPE] = {}


def _rmvpe(audio: np.ndarray, model: str | Path | RMVPE | None) -> np.ndarray:
    if isinstance(model, RMVPE):
        return model(audio)
    key = str(model or "rmvpe")
    if key not in _RMVPE_CACHE:
        from discovervoice import weights

        path = weights.resolve(key)
        _RMVPE_CACHE[key] = load_rmvpe(path)
    return _RMVPE_CACHE[key](audio)


# --------------------------------------------------------------------------- API

def extract_f0(audio: np.ndarray, method: str = "harvest", *, f0_min: float = F0_MIN,
               f0_max: float = F0_MAX, filter_radius: int = 3, model: Any = None) -> np.ndarray:
    """F0 of 16 kHz mono audio, one value per 10 ms frame.

    Args:
        audio: ``ndarray[T]`` (or ``[1, T]``) at 16 kHz.
        method: one of :data:`METHODS`.
        f0_min, f0_max: voiced range in Hz (values outside become 0 = unvoiced).
        filter_radius: RVC's median smoothing; ``>= 3`` applies :func:`median_filter`.
        model: for ``rmvpe``, a registry name, a path or a loaded :class:`RMVPE`
            (default: the registry's ``rmvpe``).

    Returns:
        ``ndarray[float64, n_frames(T)]`` in Hz.

    Raises:
        F0Error: unknown method, or audio that is not 1-D.
        WeightsUnavailableError: ``rmvpe`` asked for and not available.
        F0Error: ``crepe`` / ``fcpe`` asked for and their package is not installed.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 1:
        raise F0Error(f"F0 extraction needs mono audio, got shape {x.shape}")
    n = n_frames(len(x))
    if len(x) < HOP:
        return np.zeros(n)
    if method in ("harvest", "dio"):
        f0 = _world(x, method, f0_min, f0_max)
    elif method == "praat":
        f0 = _praat(x, f0_min, f0_max)
    elif method in ("crepe", "crepe-full", "crepe-tiny"):
        f0 = _crepe(x, "tiny" if method == "crepe-tiny" else "full", f0_min, f0_max)
    elif method == "rmvpe":
        f0 = _rmvpe(x, model)
    elif method == "fcpe":
        f0 = _fcpe(x, f0_min, f0_max)
    else:
        raise F0Error(f"unknown F0 method {method!r}; choose one of {', '.join(METHODS)}")
    f0 = _limit(_fit(f0, n), f0_min, f0_max)
    if filter_radius >= 3:
        f0 = median_filter(f0, filter_radius)
    return f0


#: A frame differing from its neighbourhood's median by more than this (cents) is an outlier
#: (:func:`median_filter`); ``None`` = RVC's plain median filter. Read at call time.
OUTLIER_CENTS: float | None = 300.0
_MODULE_DEFAULT: Any = object()


def median_filter(f0: np.ndarray, filter_radius: int = 3, outlier_cents: Any = _MODULE_DEFAULT) -> np.ndarray:
    """Remove single-frame octave jumps and breathy blips from an F0 track.

    RVC-WebUI replaces the track by ``scipy.signal.medfilt(f0, 3)`` when
    ``filter_radius >= 3``; the kernel here is ``filter_radius`` samples (made odd). Unlike
    RVC, by default only **outliers** take the median's value: frames whose voicing differs
    from the median's (a lone voiced blip, a one-frame gap) or that lie more than
    ``outlier_cents`` (default :data:`OUTLIER_CENTS`) from it (octave and fifth jumps). Real speech moves its pitch quickly
    and unevenly; replacing every frame by the median bent ~6 % of voiced frames of real
    speakers by more than 50 cents (development speakers of
    ``benchmarks/eval_real_conversion.py``: 0.937 raw chroma accuracy of the filtered track
    against harvest's own, 0.994 with the outlier rule). ``outlier_cents=None`` is RVC's
    plain median filter.
    """
    from scipy.signal import medfilt

    k = int(filter_radius)
    f0 = np.asarray(f0, dtype=np.float64)
    if k < 3:
        return f0
    k += 1 - k % 2
    med = medfilt(f0, k)
    if outlier_cents is _MODULE_DEFAULT:
        outlier_cents = OUTLIER_CENTS
    if outlier_cents is None:
        return med
    both = (f0 > 0) & (med > 0)
    cents = np.zeros_like(f0)
    cents[both] = np.abs(1200.0 * np.log2(f0[both] / med[both]))
    out = f0.copy()
    swap = ((f0 > 0) != (med > 0)) | (cents > float(outlier_cents))
    out[swap] = med[swap]
    return out


def transpose(f0: np.ndarray, semitones: float) -> np.ndarray:
    """Shift voiced F0 by ``semitones`` (``f0 * 2 ** (semitones / 12)``); 0 stays 0."""
    return np.asarray(f0, dtype=np.float64) * 2.0 ** (float(semitones) / 12.0)


def median_log_f0(f0: np.ndarray) -> float | None:
    """Median F0 of the voiced frames in Hz, or ``None`` when nothing is voiced."""
    v = np.asarray(f0)[np.asarray(f0) > 0]
    return float(np.exp(np.median(np.log(v)))) if len(v) else None


def auto_octave(f0: np.ndarray, target_median_hz: float, semitones: float = 0.0,
                max_octaves: int = 2, step: int = 12) -> int:
    """Octave shift (in semitones: a multiple of ``step``, 12 by default) that puts ``f0``
    (after ``semitones``) closest to a target voice's median F0.

    Args:
        f0: source F0 track in Hz (0 = unvoiced).
        target_median_hz: the target voice's median F0 (stored in its voice model).
        semitones: the user's transpose, applied first.
        max_octaves: the largest shift considered, in octaves.
        step: the shift's grid in semitones: 12 = whole octaves (a song keeps its key), 1 =
            the nearest semitone (speech: the converted voice speaks at the target's own
            median pitch, the mean log-F0 conversion of speech voice conversion, rounded).

    Returns:
        ``step * k`` with ``|step * k| <= 12 * max_octaves`` (0 when ``f0`` has no voiced frame).

    Raises:
        F0Error: ``step`` is not one of 1..12.
    """
    if not 1 <= int(step) <= 12:
        raise F0Error(f"auto_octave step must be 1..12 semitones, got {step}")
    step = int(step)
    med = median_log_f0(f0)
    if med is None or target_median_hz <= 0:
        return 0
    dist = 12 * np.log2(target_median_hz / med) - semitones
    lim = (12 * max_octaves) // step
    k = int(np.clip(np.round(dist / step), -lim, lim))
    return step * k


def coarse_pitch(f0: np.ndarray, f0_min: float = F0_MIN, f0_max: float = F0_MAX) -> np.ndarray:
    """RVC's pitch bins: mel-scale F0 mapped to integers 1..255 (1 = unvoiced)."""
    f0 = np.asarray(f0, dtype=np.float64)
    mel_min = 1127 * np.log(1 + f0_min / 700)
    mel_max = 1127 * np.log(1 + f0_max / 700)
    mel = 1127 * np.log(1 + f0 / 700)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - mel_min) * 254 / (mel_max - mel_min) + 1
    mel[mel <= 1] = 1
    mel[mel > 255] = 255
    return np.rint(mel).astype(np.int64)

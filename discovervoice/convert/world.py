"""The offline default synthesizer: content + F0 -> WORLD features -> pyworld.

RVC v2's NSF-HiFiGAN learns well only from a pretrained base and many GPU hours. The
default DiscoverVoice voice instead predicts, per 10 ms frame, the target voice's
**mel-cepstrum** (spectral envelope, ``order + 1`` coefficients incl. energy ``c0``, SPTK
all-pass warping ``alpha``) and **band aperiodicity** (dB in mel-spaced bands, :func:`code_ap`) from
the content features and the (transposed) source F0, and renders them with the WORLD
vocoder (Morise et al. 2016) through ``pyworld``. It trains in minutes on a CPU; the
price is WORLD's buzzier, slightly muffled timbre compared with a neural vocoder, and no
modelling of breathiness beyond the aperiodicity bands (see the model card).

Network (:func:`build_world_net`): ``Tensor[B, D + 2, T] -> Tensor[B, order + 1 + n_bap, T]``,
in-projection, residual dilated 1-D conv blocks (GroupNorm, GELU), out-projection. Inputs
are the content features plus ``(log F0 - mean) / std`` of the target voice and a
voiced flag; outputs are z-scored targets (stats stored with the model).

**Post-filter** (:func:`postfilter`): a network trained with an L1 loss predicts
over-smoothed envelopes -- the per-utterance variance of its mel-cepstrum is well under that
of the voice's real recordings, which blurs formants and pulls every converted voice toward
an average timbre. The classic remedy of statistical parametric synthesis is global-variance
(GV) compensation (Toda & Tokuda 2007; the variance-scaling post-filter of Silen et al.
2012, "Ways to implement global variance in statistical speech synthesis"): each
mel-cepstral coefficient ``c1..c_order`` of an utterance is scaled about its utterance mean
so that its variance matches the voice's mean per-slice variance, measured on its training
slices at training time (``stats["gv"]``). Energy ``c0`` and aperiodicity are left alone.
Strength 1 closes the most of the similarity gap on real development voices
(``benchmarks/eval_real_conversion.py --set dev``: 0.17 -> 0.37 of the gap; 0.5: 0.26), but
on the synthetic parallel evaluation A (``weights/dv-voice-jp1.md``) it raises MCD against
the parallel truth from 6.60 to 7.35 dB, and the 2-dB-cut target fails. Half strength costs
about a quarter of that (evaluation A, 36 conversions: MCD 6.80 dB, cut 2.18; similarity gap
closed 0.58 -> 0.70), so :data:`GV_STRENGTH` is **0.5 by default**; 0 turns the post-filter
off, 1 trades evaluation A's MCD for similarity on real voices. Voices trained before
``stats["gv"]`` existed lack the statistics
(:func:`discovervoice.convert.voice.add_postfilter_stats` adds them from their cached features).

**Synthesis grid** (:func:`synthesize`): WORLD renders on sub-frames of 10 ms /
:data:`SYNTH_SUBFRAMES` (5: 2 ms) with the F0 held to the ends of voiced runs, instead of
WORLD's own glide towards 0 Hz over the half-frame at each voicing boundary, which stretched
the last period of every voiced run; octave-free pitch following on the real development
voices 0.862 -> 0.869 (with the post-filter), ~110 MB more peak memory per 30 s chunk.

**Envelope retrieval** (:func:`retrieve_envelopes`): even converting a voice's own held-out
recordings into itself, the network's envelopes lose most of the speaker: on the real
development target (``klettres-ml``) resemblyzer similarity to the voice is 0.81 for WORLD
analysis/synthesis of its clips, 0.70 with the network's mel-cepstrum in place of the true one;
the true frame-to-frame envelope with the network's per-utterance mean scores 0.81, the network's
frames with the true mean 0.70, a 5-frame moving average of the true mel-cepstrum 0.82, the
network's aperiodicity instead of the true one 0.81. What the network misses is the shape of each
frame's envelope, which phone posteriors and F0 do not determine. So each predicted frame is
replaced by (``ENVELOPE_RATE``) the ``1/d**2``-weighted mean of the voice's ``k = 8`` nearest
*training* frames (RVC's retrieval, :func:`discovervoice.convert.index.weighted_neighbours`),
found among the voice's voiced frames for a voiced frame and its unvoiced ones otherwise, by
distance on the z-scored ``c1..c{ENVELOPE_KEY_ORDER}`` (the broad envelope, 8) of the
prediction; ``c1..c_order`` are taken from the neighbours, ``c0`` and the aperiodicity stay the
network's; the GV post-filter follows. The voice's z-scored training frames are stored at
training time (``envelopes.npz``, float16) like the faiss index of its content features
(the kNN idea of kNN-VC, Baas et al. 2023, applied to the synthesizer's own target features).
Chosen on the real development target (``benchmarks/eval_real_conversion.py --set dev``, GV
post-filter at 0.5): similarity gap closed 0.272 -> 0.457 (8 clips per source, 32 conversions:
0.281 -> 0.430); key order 4 / 6 / 8 / 10 / 12 / 16 / 40 (32 conversions): 0.38 / 0.39 / 0.43 /
0.36 / 0.38 / 0.36 / 0.30; rate 0.5 / 0.75 / 1 at key order 12 (12 conversions): 0.33 / 0.37 /
0.40; k = 4 no better; without the GV post-filter 0.26, so the two go together; keys on the
content features or with log F0 added were worse. Confirmed once on the evaluation targets:
0.461 -> 0.542, pitch following 0.889 -> 0.890; synthetic evaluation A keeps its targets (MCD
6.80 -> 6.89 dB, cut 2.09; similarity 0.70 -> 0.80 of the gap). Numbers and commands:
``weights/dv-voice-jp1.md``.

Libraries: pyworld (CheapTrick, D4C, synthesis), pysptk (``sp2mc`` / ``mc2sp``), torch,
faiss (envelope retrieval).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from discovervoice.signals import mcep_alpha

FRAME_PERIOD_MS = 10.0
#: Exponent of the GV post-filter (0 = off, 1 = full variance matching); half by default, see
#: the module docstring for the measured trade-off.
GV_STRENGTH = 0.5
#: WORLD synthesis runs on sub-frames of 10 ms / SYNTH_SUBFRAMES (:func:`synthesize`).
SYNTH_SUBFRAMES = 5
#: Slices shorter than this many frames do not enter the GV statistics.
GV_MIN_FRAMES = 50
#: Share of each predicted frame's ``c1..c_order`` replaced by the voice's retrieved training
#: frames (:func:`retrieve_envelopes`; 0 = off, 1 by default).
ENVELOPE_RATE = 1.0
#: Retrieval key: the z-scored mel-cepstral coefficients ``c1..c{ENVELOPE_KEY_ORDER}``.
ENVELOPE_KEY_ORDER = 8


def n_bap(sample_rate: int) -> int:
    """Number of aperiodicity bands at ``sample_rate`` (8 up to 16 kHz, 10 above).

    WORLD's own ``code_aperiodicity`` keeps a single band at 16 kHz (bands every 3 kHz from
    3 kHz), too coarse for sung vowels whose highs are breathy and lows harmonic; the
    bands here are spaced evenly on the mel scale from 0 Hz to Nyquist.
    """
    return 8 if sample_rate <= 16000 else 10


def _mel(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def _band_matrices(sample_rate: int, fft: int) -> tuple[np.ndarray, np.ndarray]:
    """(coding matrix [bins, bands] = band means, decoding matrix [bands, bins] = linear
    interpolation between band centres on the mel scale)."""
    n = n_bap(sample_rate)
    freqs = np.linspace(0, sample_rate / 2, fft // 2 + 1)
    m = _mel(freqs)
    edges = np.linspace(0, m[-1], n + 1)
    band = np.clip(np.searchsorted(edges, m, side="right") - 1, 0, n - 1)
    code = np.zeros((len(freqs), n))
    code[np.arange(len(freqs)), band] = 1.0
    code /= code.sum(0, keepdims=True)
    centres = 0.5 * (edges[:-1] + edges[1:])
    dec = np.zeros((n, len(freqs)))
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        dec[j] = np.interp(m, centres, e)
    return code, dec


def code_ap(ap: np.ndarray, sample_rate: int) -> np.ndarray:
    """WORLD aperiodicity ``[frames, bins]`` (0..1) -> band aperiodicity in dB ``[frames, n_bap]``."""
    code, _ = _band_matrices(sample_rate, (ap.shape[1] - 1) * 2)
    return (20 * np.log10(np.clip(ap, 1e-6, 1.0)) @ code).astype(np.float32)


def decode_ap(bap: np.ndarray, sample_rate: int, fft: int) -> np.ndarray:
    """Band aperiodicity in dB ``[frames, n_bap]`` -> WORLD aperiodicity ``[frames, fft // 2 + 1]``."""
    _, dec = _band_matrices(sample_rate, fft)
    return np.clip(10 ** ((np.asarray(bap, dtype=np.float64) @ dec) / 20), 1e-6, 1.0)


def analyze(audio: np.ndarray, sample_rate: int, f0: np.ndarray, order: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """WORLD analysis on a given F0 track.

    Args:
        audio: mono ``ndarray[T]`` at ``sample_rate``.
        f0: ``ndarray[frames]`` in Hz at 10 ms frames (0 = unvoiced), e.g. from
            :func:`discovervoice.convert.f0.extract_f0`.
        order: mel-cepstrum order.

    Returns:
        ``(mcep ndarray[frames, order + 1], bap ndarray[frames, n_bap])``.
    """
    import pysptk
    import pyworld

    x = np.ascontiguousarray(audio, dtype=np.float64)
    f0 = np.ascontiguousarray(f0, dtype=np.float64)
    t = np.arange(len(f0)) * FRAME_PERIOD_MS / 1000.0
    fft = pyworld.get_cheaptrick_fft_size(sample_rate)
    sp = pyworld.cheaptrick(x, f0, t, sample_rate, fft_size=fft)
    ap = pyworld.d4c(x, f0, t, sample_rate, fft_size=fft)
    mcep = pysptk.sp2mc(sp, order=order, alpha=mcep_alpha(sample_rate))
    bap = code_ap(ap, sample_rate)
    return mcep.astype(np.float32), bap.astype(np.float32)


def upsample_frames(a: np.ndarray, factor: int) -> np.ndarray:
    """Frames ``ndarray[N, D]`` on a grid ``factor`` times finer, ``ndarray[float64,
    N * factor, D]``: linearly interpolated (what WORLD's synthesis does between frames
    itself), the last frame held for its own ``factor`` sub-frames (so a synthesis keeps its
    length); built one sub-frame phase at a time, so the only full-size array is the result."""
    a = np.asarray(a, dtype=np.float64)
    n = len(a)
    if factor <= 1 or n < 2:
        return np.ascontiguousarray(a)
    out = np.empty((n * factor,) + a.shape[1:])
    for j in range(factor):
        w = j / factor
        out[j:(n - 1) * factor:factor] = (1.0 - w) * a[:-1] + w * a[1:]
    out[(n - 1) * factor:] = a[-1]
    return out


def upsample_f0(f0: np.ndarray, factor: int) -> np.ndarray:
    """An F0 track (Hz, 0 = unvoiced) on a grid ``factor`` times finer, ``ndarray[float64,
    N * factor]`` (as :func:`upsample_frames`): a sub-frame is voiced where its nearest frame is (WORLD's own
    voicing boundary, half-way between frames), its F0 interpolated on log F0 between voiced
    frames and held at the ends of a voiced run (see :func:`synthesize`)."""
    f0 = np.asarray(f0, dtype=np.float64)
    n = len(f0)
    if factor <= 1 or n < 2:
        return f0.copy()
    t = np.minimum(np.arange(n * factor) / factor, n - 1)
    lo = np.minimum(np.floor(t).astype(int), n - 1)
    hi = np.minimum(lo + 1, n - 1)
    near = np.where(t - lo < 0.5, lo, hi)
    voiced = f0 > 0
    lf = np.log(np.where(voiced, f0, 1.0))
    w = t - lo
    inside = voiced[lo] & voiced[hi]
    val = np.where(inside, np.exp((1.0 - w) * lf[lo] + w * lf[hi]), f0[near])
    return np.where(voiced[near], val, 0.0)


def synthesize(mcep: np.ndarray, bap: np.ndarray, f0: np.ndarray, sample_rate: int,
               subframes: int | None = None) -> np.ndarray:
    """WORLD synthesis: mel-cepstrum + band aperiodicity + F0 -> ``ndarray[float32, T]``.

    Args:
        mcep: ``ndarray[N, order + 1]``; bap: ``ndarray[N, n_bap]`` (dB); f0:
            ``ndarray[N]`` in Hz (0 = unvoiced), all at 10 ms frames.
        subframes: synthesis grid = 10 ms / ``subframes`` (default :data:`SYNTH_SUBFRAMES`;
            1 = plain WORLD on the 10 ms frames).

    WORLD interpolates F0 linearly between frames, unvoiced ones counting as 0 Hz, so in
    the last (first) 5 ms of every voiced run the F0 it renders glides down towards half the
    edge frame's value, and the last period is stretched. Rendered on a finer grid with the
    edge F0 held (:func:`upsample_f0`; envelope and aperiodicity interpolated as WORLD
    would, :func:`upsample_frames`), the glide lasts ``5 / subframes`` ms. The voicing
    boundaries, durations and everything inside voiced runs are unchanged.
    """
    import pysptk
    import pyworld

    factor = int(SYNTH_SUBFRAMES if subframes is None else subframes)
    n = min(len(mcep), len(bap), len(f0))
    fft = pyworld.get_cheaptrick_fft_size(sample_rate)
    sp = pysptk.mc2sp(np.ascontiguousarray(mcep[:n], dtype=np.float64), alpha=mcep_alpha(sample_rate), fftlen=fft)
    ap = decode_ap(bap[:n], sample_rate, fft)
    f = np.ascontiguousarray(f0[:n], dtype=np.float64)
    if factor > 1 and n > 1:
        sp, ap, f = upsample_frames(sp, factor), upsample_frames(ap, factor), upsample_f0(f, factor)
    else:
        factor = 1
    y = pyworld.synthesize(f, sp, ap, sample_rate, FRAME_PERIOD_MS / factor)
    return y.astype(np.float32)


def build_world_net(in_dim: int, out_dim: int, channels: int = 192, n_layers: int = 6, kernel_size: int = 5,
                    dropout: float = 0.1):
    """The content+F0 -> WORLD-feature network (random init); see the module docstring."""
    import torch
    from torch import nn

    from discovervoice.convert.layers import DilatedResBlock

    class WorldNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = dict(in_dim=in_dim, out_dim=out_dim, channels=channels, n_layers=n_layers,
                               kernel_size=kernel_size, dropout=dropout)
            self.inp = nn.Conv1d(in_dim, channels, 3, padding=1)
            self.blocks = nn.Sequential(*[DilatedResBlock(channels, (1, 2, 4)[i % 3], kernel_size, dropout)
                                          for i in range(n_layers)])
            self.out = nn.Conv1d(channels, out_dim, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.blocks(self.inp(x)))

    return WorldNet()


def f0_inputs(f0: np.ndarray, lf0_mean: float, lf0_std: float) -> np.ndarray:
    """``ndarray[frames, 2]``: z-scored log F0 (0 where unvoiced) and the voiced flag."""
    f0 = np.asarray(f0, dtype=np.float64)
    v = f0 > 0
    z = np.zeros_like(f0)
    z[v] = (np.log(f0[v]) - lf0_mean) / max(lf0_std, 1e-3)
    return np.stack([z, v.astype(np.float64)], axis=1).astype(np.float32)


def slice_gv(y: np.ndarray, lengths: list[int] | np.ndarray) -> np.ndarray:
    """Global variance of a voice: the mean over slices of each dimension's variance within
    the slice (slices of at least :data:`GV_MIN_FRAMES` frames; all of ``y`` if none is).

    Args:
        y: ``ndarray[N, D]`` frames of all slices, one after another (z-scored targets).
        lengths: frames per slice (sum ``N``).

    Returns:
        ``ndarray[float32, D]``.
    """
    y = np.asarray(y, dtype=np.float64)
    b = np.concatenate([[0], np.cumsum(lengths)]).astype(int)
    v = [y[b[i]:b[i + 1]].var(0) for i in range(len(lengths)) if b[i + 1] - b[i] >= GV_MIN_FRAMES]
    return (np.mean(v, 0) if v else y.var(0)).astype(np.float32)


def postfilter(y: np.ndarray, gv: np.ndarray, dims: slice, strength: float = GV_STRENGTH) -> np.ndarray:
    """GV post-filter of one utterance (module docstring).

    Args:
        y: ``ndarray[T, D]`` predicted (z-scored) features of the utterance.
        gv: ``ndarray[D]`` the voice's per-slice variance of the same features.
        dims: the dimensions to filter (the mel-cepstrum without ``c0``).
        strength: exponent ``a``: each dimension is scaled about its utterance mean by
            ``(gv / var_utt) ** (a / 2)``; 0 returns ``y`` unchanged.

    Returns:
        ``ndarray[float32, T, D]``.
    """
    y = np.asarray(y, dtype=np.float32)
    if strength <= 0 or len(y) < 2:
        return y
    mu = y[:, dims].mean(0)
    var = np.maximum(y[:, dims].var(0), 1e-6)
    scale = (np.asarray(gv, dtype=np.float32)[dims] / var) ** (0.5 * strength)
    out = y.copy()
    out[:, dims] = mu + (y[:, dims] - mu) * scale
    return out


class EnvelopeTable:
    """A voice's z-scored training mel-cepstra ``c1..c_order`` for :func:`retrieve_envelopes`.

    Args:
        mcep: ``ndarray[N, order]`` z-scored ``c1..c_order`` of the voice's training frames
            (stored as float16; searched as float32).
        voiced: ``ndarray[bool, N]`` whether each frame was voiced (F0 > 0).

    Raises:
        ValueError: ``mcep`` and ``voiced`` of different lengths, or fewer key dimensions than
        :data:`ENVELOPE_KEY_ORDER`.
    """

    def __init__(self, mcep: np.ndarray, voiced: np.ndarray):
        self.mcep = np.asarray(mcep, dtype=np.float16)
        self.voiced = np.asarray(voiced, dtype=bool)
        if self.mcep.ndim != 2 or len(self.mcep) != len(self.voiced) or self.mcep.shape[1] < ENVELOPE_KEY_ORDER:
            raise ValueError(f"envelope table: mcep {self.mcep.shape}, voiced {self.voiced.shape}")
        self._groups: dict[bool, tuple[Any, np.ndarray]] = {}

    def group(self, voiced: bool) -> tuple[Any, np.ndarray] | None:
        """``(faiss index over the key dims, float32 rows)`` of the voiced or unvoiced frames
        (built once), or ``None`` when the voice has no such frames."""
        if voiced not in self._groups:
            import faiss

            rows = self.mcep[self.voiced == voiced].astype(np.float32)
            if not len(rows):
                return None
            index = faiss.IndexFlatL2(ENVELOPE_KEY_ORDER)
            index.add(np.ascontiguousarray(rows[:, :ENVELOPE_KEY_ORDER]))
            self._groups[voiced] = (index, rows)
        return self._groups[voiced]

    def save(self, path: str | Path) -> Path:
        """Write ``envelopes.npz`` (``mcep`` float16, ``voiced``) atomically."""
        from discovervoice.fileio import atomic_path

        p = Path(path)
        with atomic_path(p) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, mcep=self.mcep, voiced=self.voiced)
        return p

    @classmethod
    def load(cls, path: str | Path) -> "EnvelopeTable":
        """Read a table written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(z["mcep"], z["voiced"])


def retrieve_envelopes(y: np.ndarray, voiced: np.ndarray, table: EnvelopeTable, order: int,
                       rate: float = ENVELOPE_RATE) -> np.ndarray:
    """Envelope retrieval of one utterance (module docstring).

    Args:
        y: ``ndarray[T, D]`` predicted z-scored features (``c0..c_order``, then aperiodicity).
        voiced: ``ndarray[bool, T]`` voicing of each frame (F0 > 0).
        table: the voice's training frames (:class:`EnvelopeTable`, ``order`` columns).
        rate: share of the retrieved ``c1..c_order`` (0 returns ``y`` unchanged).

    Returns:
        ``ndarray[float32, T, D]``: ``c1..c_order`` mixed with the ``1/d**2``-weighted mean of
        the ``k = 8`` nearest training frames of the same voicing (keyed by
        ``c1..c{ENVELOPE_KEY_ORDER}``); ``c0`` and the aperiodicity unchanged.
    """
    from discovervoice.convert.index import K, weighted_neighbours

    y = np.asarray(y, dtype=np.float32)
    if rate <= 0 or not len(y):
        return y
    voiced = np.asarray(voiced, dtype=bool)[: len(y)]
    out = y.copy()
    dims = slice(1, order + 1)
    for v in (True, False):
        sel = voiced == v
        g = table.group(v) if sel.any() else None
        if g is None:
            continue
        index, rows = g
        score, ix = index.search(np.ascontiguousarray(y[sel, 1:ENVELOPE_KEY_ORDER + 1]), min(K, len(rows)))
        out[sel, dims] = (1.0 - rate) * y[sel, dims] + rate * weighted_neighbours(rows[:, :order], score, ix)
    return out


class WorldVoice:
    """A trained WORLD voice: network + normalisation stats.

    Attributes:
        sample_rate: output rate in Hz.
        order: mel-cepstrum order.
        stats: ``{"y_mean", "y_std"}`` (target z-scoring), ``{"lf0_mean", "lf0_std"}``,
            optionally ``"gv"`` (per-slice variance of the z-scored targets, :func:`slice_gv`).
        gv_strength: exponent of the GV post-filter (:func:`postfilter`; default
            :data:`GV_STRENGTH` at construction); used only when ``stats`` holds ``"gv"``.
        envelopes: the voice's training frames (:class:`EnvelopeTable`) or ``None`` (voices
            written before ``envelopes.npz`` existed: no retrieval).
        envelope_rate: share of retrieved envelopes (:func:`retrieve_envelopes`; default
            :data:`ENVELOPE_RATE` at construction); used only with ``envelopes``.
    """

    def __init__(self, net: Any, sample_rate: int, order: int, stats: dict[str, Any],
                 gv_strength: float | None = None, envelopes: EnvelopeTable | None = None,
                 envelope_rate: float | None = None):
        self.net = net.eval()
        self.sample_rate = int(sample_rate)
        self.order = int(order)
        self.stats = stats
        self.y_mean = np.asarray(stats["y_mean"], dtype=np.float32)
        self.y_std = np.asarray(stats["y_std"], dtype=np.float32)
        self.gv = np.asarray(stats["gv"], dtype=np.float32) if "gv" in stats else None
        self.gv_strength = float(GV_STRENGTH if gv_strength is None else gv_strength)
        self.envelopes = envelopes
        self.envelope_rate = float(ENVELOPE_RATE if envelope_rate is None else envelope_rate)

    def predict(self, content: np.ndarray, f0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mcep[T, order + 1], bap[T, n_bap])`` for content ``[T, D]`` and F0 ``[T]`` (Hz):
        the network, then envelope retrieval (with ``envelopes``), then the GV post-filter
        (with ``stats["gv"]``)."""
        import torch

        n = min(len(content), len(f0))
        x = np.concatenate([content[:n], f0_inputs(f0[:n], self.stats["lf0_mean"], self.stats["lf0_std"])], 1)
        with torch.inference_mode():
            y = self.net(torch.from_numpy(x.T.copy())[None].float())[0].numpy().T
        if self.envelopes is not None:
            y = retrieve_envelopes(y, np.asarray(f0[:n]) > 0, self.envelopes, self.order, self.envelope_rate)
        if self.gv is not None:
            y = postfilter(y, self.gv, slice(1, self.order + 1), self.gv_strength)
        y = y * self.y_std + self.y_mean
        return y[:, : self.order + 1], y[:, self.order + 1:]

    def synthesize(self, content: np.ndarray, f0: np.ndarray, **_: Any) -> np.ndarray:
        """Content ``[T, D]`` + F0 ``[T]`` (Hz) -> ``ndarray[float32, ~T * sample_rate / 100]``."""
        mcep, bap = self.predict(content, f0)
        return synthesize(mcep, bap, np.asarray(f0[: len(mcep)], dtype=np.float64), self.sample_rate)

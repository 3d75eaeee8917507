"""Source-separation metrics: uSDR, SI-SDR, BSSEval v4 SDR/ISR/SIR/SAR, oracle masks.

Libraries and sources:
    * **uSDR** ("utterance"/track SDR of the Music Demixing Challenge 2021, Mitsufuji et
      al., "Music Demixing Challenge 2021", Front. Signal Process. 2022; the ``new_sdr``
      of demucs): ``10 log10((sum s^2 + eps) / (sum (s - s_hat)^2 + eps))`` over all
      channels and samples of the track, ``eps = 1e-7``. Plain numpy.
    * **SI-SDR** (Le Roux et al., "SDR - half-baked or well done?", ICASSP 2019): the
      estimate is projected on the (zero-mean) reference, ``alpha = <s_hat, s> / ||s||^2``,
      ``SI-SDR = 10 log10(||alpha s||^2 / ||alpha s - s_hat||^2)``; computed per channel and
      averaged over channels. Plain numpy.
    * **BSSEval v4** (Vincent et al. 2006, as revised for SiSEC 2018 by Stöter et al., "The
      2018 Signal Separation Evaluation Campaign"): **museval** ``evaluate`` (multichannel
      image model, 512-tap distortion filters, 1 s windows and 1 s hop); a track's value is
      the median over its frames, frames where a reference is silent (NaN) left out — the
      ``museval`` / SiSEC convention. References get a -80 dB white dither first (see
      :func:`bss_eval_v4`): without it museval's projection breaks down on stems whose
      channels are scaled copies of each other (panned mono sources). When only the SDR
      is wanted, :func:`sdr_v4_framewise` gives museval's v4 SDR exactly in closed form,
      hundreds of times faster (``--bss sdr``).
    * **Leakage** (issue 15; the "vocals in instrumental passages" check that MUSDB18's
      silent vocal sections make possible): where the reference stem is digital silence
      (peak below :data:`discovervoice.audio.SILENCE_PEAK`, -100 dBFS), the estimated
      stem's energy relative to the mixture's over the same samples,
      ``10 log10((sum s_hat^2 + eps) / (sum x^2 + eps))`` in dB, lower is better (the
      mixture as estimate scores 0 dB, a perfect separator ``-inf``, held at about
      -100 dB by ``eps``). Computed over the 1-s windows (:data:`LEAKAGE_WINDOW_S`) where
      the reference is silent and the mixture is not (so a partly sung track contributes
      its instrumental passages); for a reference that is silent throughout, uSDR and
      SI-SDR are undefined and reported as NaN, and leakage is the track's score. Plain
      numpy.
    * **Oracle ideal ratio mask** (the IRM oracle of sigsep-mus-oracle, Stöter et al.):
      ``M_j = |S_j|^p / sum_k |S_k|^p`` on the STFT (librosa), applied to the mixture STFT
      and inverted. ``p = 2`` is "IRM2" (Wiener-like), ``p = 1`` "IRM1".

Shapes: audio is ``ndarray[C, T]`` (or ``ndarray[T]``, treated as one channel); sample
rates in Hz; every metric in dB, higher is better.

Folder evaluation follows the MUSDB18 layout: ``ROOT/<track>/<stem>.wav`` with a
``mixture.wav`` next to the stems (when it is absent, the mixture is the sum of the
source stems). An estimate folder may hold only some stems; those are scored.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from discovervoice.errors import AudioError, DataError
from discovervoice.progress import Progress

log = logging.getLogger(__name__)

#: Epsilon of the MDX-challenge uSDR (demucs ``new_sdr``).
USDR_EPS = 1e-7
ACCOMPANIMENT = "accompaniment"
MIXTURE = "mixture"
AUDIO_SUFFIXES = (".wav", ".flac")
METRICS = ("usdr", "si_sdr", "leakage", "sdr", "isr", "sir", "sar")
#: Window of the leakage metric, seconds (see :func:`leakage_db`).
LEAKAGE_WINDOW_S = 1.0
#: Reference dither of BSSEval (dB below each channel's power), see :func:`bss_eval_v4`.
BSS_DITHER_DB = -80.0
_DITHER_SEED = 20180417  # fixed: the dither is the same on every run
BSS_METRICS = ("sdr", "isr", "sir", "sar")



# --------------------------------------------------------------------------- helpers

def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise AudioError(f"{name}: expected shape [C, T] or [T], got {a.shape}")
    if a.shape[1] == 0:
        raise AudioError(f"{name}: zero-length signal")
    if not np.isfinite(a).all():
        raise AudioError(f"{name}: contains NaN or infinite samples")
    return a


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = _as_2d(reference, "reference")
    e = _as_2d(estimate, "estimate")
    if r.shape != e.shape:
        raise AudioError(f"reference shape {r.shape} and estimate shape {e.shape} differ")
    return r, e


def pad_or_trim(audio: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad or cut ``ndarray[C, T]`` along time to ``length`` samples (museval's rule)."""
    t = audio.shape[-1]
    if t == length:
        return audio
    if t > length:
        return audio[..., :length]
    pad = [(0, 0)] * (audio.ndim - 1) + [(0, length - t)]
    return np.pad(audio, pad)


# --------------------------------------------------------------------------- metrics

def usdr(reference: np.ndarray, estimate: np.ndarray, eps: float = USDR_EPS) -> float:
    """MDX-challenge SDR over a whole track, in dB.

    ``10 log10((sum s^2 + eps) / (sum (s - s_hat)^2 + eps))`` summed over every channel
    and sample (Mitsufuji et al. 2022; demucs ``evaluate.new_sdr``).

    Args:
        reference: ``ndarray[C, T]`` or ``[T]``, the true stem ``s``.
        estimate: same shape, the estimate ``s_hat``.
        eps: added to numerator and denominator (default ``1e-7``).

    Raises:
        AudioError: shapes differ, empty or non-finite input.
    """
    r, e = _pair(reference, estimate)
    num = float(np.sum(r * r)) + eps
    den = float(np.sum((r - e) ** 2)) + eps
    return 10.0 * math.log10(num / den)


def si_sdr(reference: np.ndarray, estimate: np.ndarray, *, zero_mean: bool = True,
           eps: float = 1e-12) -> float:
    """Scale-invariant SDR (Le Roux et al., ICASSP 2019), in dB, averaged over channels.

    For each channel: optionally remove the means, ``alpha = <s_hat, s> / ||s||^2``,
    ``target = alpha s``, ``SI-SDR = 10 log10(||target||^2 / ||s_hat - target||^2)``.

    Args:
        reference: ``ndarray[C, T]`` or ``[T]``.
        estimate: same shape.
        zero_mean: subtract each channel's mean first (as in the paper).
        eps: guards the divisions (a silent reference channel gives ``-inf``-like values).

    Raises:
        AudioError: shapes differ, empty or non-finite input.
    """
    r, e = _pair(reference, estimate)
    if zero_mean:
        r = r - r.mean(axis=1, keepdims=True)
        e = e - e.mean(axis=1, keepdims=True)
    alpha = np.sum(e * r, axis=1, keepdims=True) / (np.sum(r * r, axis=1, keepdims=True) + eps)
    target = alpha * r
    noise = e - target
    ratio = (np.sum(target ** 2, axis=1) + eps) / (np.sum(noise ** 2, axis=1) + eps)
    return float(np.mean(10.0 * np.log10(ratio)))


def reference_is_silent(reference: np.ndarray) -> bool:
    """True when a reference stem is digital silence throughout (peak below
    :data:`discovervoice.audio.SILENCE_PEAK`)."""
    from discovervoice.audio import is_silent

    return is_silent(np.asarray(reference))


def leakage_db(reference: np.ndarray, estimate: np.ndarray, mixture: np.ndarray,
               sample_rate: int, *, window_s: float = LEAKAGE_WINDOW_S,
               eps: float = USDR_EPS) -> float:
    """Energy of ``estimate`` relative to ``mixture`` where ``reference`` is silent, dB.

    The track is cut into ``window_s`` windows; a window counts when the reference's peak
    in it is below :data:`discovervoice.audio.SILENCE_PEAK` (digital silence) and the
    mixture's is not. Leakage = ``10 log10((sum s_hat^2 + eps) / (sum x^2 + eps))`` over
    the samples of those windows (all channels). Lower is better: 0 dB is the mixture
    itself, -20 dB leaves a hundredth of the mixture's energy.

    Args:
        reference: ``ndarray[C, T]`` true stem (e.g. vocals).
        estimate: ``ndarray[C, T]`` estimated stem.
        mixture: ``ndarray[C, T]``.
        sample_rate: Hz.

    Returns:
        dB, or NaN when no window is silent in the reference (and sounding in the mix).

    Raises:
        AudioError: shapes differ, empty or non-finite input.
    """
    from discovervoice.audio import SILENCE_PEAK

    r, e = _pair(reference, estimate)
    _, m = _pair(reference, mixture)
    win = max(1, int(round(window_s * sample_rate)))
    num = den = 0.0
    counted = 0
    for a in range(0, r.shape[1], win):
        sl = slice(a, a + win)
        if np.max(np.abs(r[:, sl])) >= SILENCE_PEAK or np.max(np.abs(m[:, sl])) < SILENCE_PEAK:
            continue
        num += float(np.sum(e[:, sl] ** 2))
        den += float(np.sum(m[:, sl] ** 2))
        counted += 1
    if not counted:
        return float("nan")
    return 10.0 * math.log10((num + eps) / (den + eps))


@dataclass
class BSSEvalResult:
    """Framewise BSSEval v4 values.

    Attributes:
        sdr, isr, sir, sar: ``ndarray[S, F]`` in dB (S sources, F frames), NaN where a
            frame's reference is silent.
        window_s, hop_s: frame length and hop in seconds.
    """

    sdr: np.ndarray
    isr: np.ndarray
    sir: np.ndarray
    sar: np.ndarray
    window_s: float
    hop_s: float

    def median(self) -> dict[str, np.ndarray]:
        """Per-source median over frames (NaN frames skipped): ``{metric: ndarray[S]}``."""
        out = {}
        for m in BSS_METRICS:
            v = getattr(self, m)
            with np.errstate(all="ignore"):
                med = np.array([np.nanmedian(row) if np.isfinite(row).any() else np.nan
                                for row in v])
            out[m] = med
        return out


def bss_eval_v4(references: np.ndarray, estimates: np.ndarray, sample_rate: int, *,
                window_s: float = 1.0, hop_s: float = 1.0,
                dither_db: float | None = BSS_DITHER_DB) -> BSSEvalResult:
    """BSSEval v4 SDR, ISR, SIR and SAR framewise with museval (SiSEC 2018 convention).

    museval projects the estimates on the span of every reference channel and its 512
    lags, solving the Gram system without regularisation; when a stem's channels are
    scaled copies of each other (a mono source panned into stereo, as synthetic stems
    often are) that system is singular and SIR / ISR / SAR come out meaningless. So by
    default each reference channel gets independent white noise ``dither_db`` dB below
    its own power (a fixed seed; samples that are silent stay silent) — diagonal loading,
    like fast-bss-eval's ``load_diag``;
    it caps every metric near ``-dither_db`` dB and changes typical values by < 0.001 dB.

    Args:
        references: ``ndarray[S, C, T]`` true sources (S sources, C channels, T samples).
        estimates: ``ndarray[S, C, T]`` estimates, in the same source order.
        sample_rate: Hz (sets the window and hop in samples).
        window_s, hop_s: window and hop in seconds (museval defaults: 1 s and 1 s).
        dither_db: level of the reference dither relative to each channel's power (dB);
            ``None`` passes the references to museval untouched.

    Returns:
        :class:`BSSEvalResult`; :meth:`BSSEvalResult.median` gives the track values.

    Raises:
        AudioError: shapes differ or are not 3-D.
    """
    import museval

    ref = np.asarray(references, dtype=np.float64)
    est = np.asarray(estimates, dtype=np.float64)
    if ref.ndim != 3 or ref.shape != est.shape:
        raise AudioError(
            f"BSSEval needs references and estimates of equal shape [S, C, T]; got "
            f"{ref.shape} and {est.shape}")
    if dither_db is not None:
        rng = np.random.default_rng(_DITHER_SEED)
        power = np.mean(ref ** 2, axis=2, keepdims=True)
        scale = np.sqrt(np.maximum(power, 1e-20) * 10.0 ** (dither_db / 10.0))
        # Samples where museval sees silence (channel sum exactly 0) stay silent, so its
        # NaN rule for silent frames is unchanged.
        live = np.sum(ref, axis=1, keepdims=True) != 0
        ref = ref + scale * rng.standard_normal(ref.shape) * live
    win = int(round(window_s * sample_rate))
    hop = int(round(hop_s * sample_rate))
    # museval wants [S, T, C].
    sdr, isr, sir, sar = museval.evaluate(np.transpose(ref, (0, 2, 1)),
                                          np.transpose(est, (0, 2, 1)),
                                          win=win, hop=hop, mode="v4", padding=True)
    return BSSEvalResult(np.atleast_2d(sdr), np.atleast_2d(isr), np.atleast_2d(sir),
                         np.atleast_2d(sar), window_s, hop_s)


def _frames(length: int, win: int, hop: int) -> list[slice]:
    """museval's ``Framing``: ``floor((T - win + hop) / hop)`` windows (one if win >= T)."""
    if win >= length:
        return [slice(0, length)]
    n = int(np.floor((length - win + hop) / hop))
    return [slice(i * hop, min(i * hop + win, length)) for i in range(n)]


def sdr_v4_framewise(references: np.ndarray, estimates: np.ndarray, sample_rate: int, *,
                     window_s: float = 1.0, hop_s: float = 1.0) -> np.ndarray:
    """BSSEval v4 SDR per frame in closed form, ``ndarray[S, F]`` dB — no projections.

    In the images model of BSSEval v4 the true-source component is the reference image
    itself, so ``s_true + e_spat + e_interf + e_artif = s_hat`` and
    ``SDR = 10 log10(sum_frame s^2 / sum_frame (s_hat - s)^2)`` over the frame and all
    channels (museval ``_bss_crit``); frames where any reference or estimate is silent
    (channel sum exactly 0 throughout) are NaN for every source, as in museval. Equal to
    museval's SDR (the tests check it) at a tiny fraction of the cost; ISR, SIR and SAR
    do need :func:`bss_eval_v4`.

    Args:
        references, estimates: ``ndarray[S, C, T]``.
        sample_rate: Hz; window_s, hop_s: seconds (museval: 1 s, 1 s).

    Raises:
        AudioError: shapes differ or are not 3-D.
    """
    ref = np.asarray(references, dtype=np.float64)
    est = np.asarray(estimates, dtype=np.float64)
    if ref.ndim != 3 or ref.shape != est.shape:
        raise AudioError(f"SDR needs references and estimates of equal shape [S, C, T]; got "
                         f"{ref.shape} and {est.shape}")
    win = int(round(window_s * sample_rate))
    hop = int(round(hop_s * sample_rate))
    frames = _frames(ref.shape[2], win, hop)
    out = np.full((ref.shape[0], len(frames)), np.nan)
    ref_live = np.sum(ref, axis=1) != 0  # [S, T], museval's silence rule
    est_live = np.sum(est, axis=1) != 0
    for f, sl in enumerate(frames):
        if not (ref_live[:, sl].any(axis=1).all() and est_live[:, sl].any(axis=1).all()):
            continue
        num = np.sum(ref[:, :, sl] ** 2, axis=(1, 2))
        den = np.sum((est[:, :, sl] - ref[:, :, sl]) ** 2, axis=(1, 2))
        with np.errstate(divide="ignore"):
            out[:, f] = np.where(den == 0, np.inf, 10 * np.log10(num / np.where(den == 0, 1, den)))
    return out


# --------------------------------------------------------------------------- oracle

def source_partition(stems: Iterable[str]) -> list[str]:
    """Stems that partition the mixture: MUSDB's four sources when present, else
    vocals + accompaniment, else all given stems (mixture excluded)."""
    names = [s for s in stems if s != MIXTURE]
    inst = [s for s in names if s != ACCOMPANIMENT]
    if ACCOMPANIMENT in names and len(inst) <= 1:
        return inst + [ACCOMPANIMENT]
    return inst


def ideal_ratio_mask(stems: Mapping[str, np.ndarray], mixture: np.ndarray | None = None, *,
                     power: float = 2.0, n_fft: int = 4096, hop_length: int = 1024,
                     eps: float = 1e-10) -> dict[str, np.ndarray]:
    """Oracle ideal-ratio-mask estimates of every stem (the upper bound of masking methods).

    ``M_j(f, t) = |S_j(f, t)|^p / sum_k |S_k(f, t)|^p`` over the sources that partition the
    mixture (see :func:`source_partition`); each estimate is ``iSTFT(M_j * X)`` with ``X``
    the mixture STFT (Hann window, ``n_fft``, ``hop_length``, librosa). When
    ``"accompaniment"`` is among ``stems`` but not in the partition, its estimate is the
    sum of the non-vocal estimates. Reference: sigsep-mus-oracle ``IRM.py``.

    Args:
        stems: ``{name: ndarray[C, T]}`` true stems (same shape).
        mixture: ``ndarray[C, T]``; default the sum of the partition's stems.
        power: ``p``; 2 = IRM2, 1 = IRM1.
        n_fft, hop_length: STFT size and hop in samples (sigsep: 4096 / 1024 at 44.1 kHz).

    Returns:
        ``{name: ndarray[float32, C, T]}`` for every name in ``stems`` (mixture excluded).

    Raises:
        AudioError: stems of different shapes, or no stems.
    """
    import librosa

    part = source_partition(stems)
    if not part:
        raise AudioError("ideal_ratio_mask needs at least one stem besides the mixture")
    arrs = {k: _as_2d(stems[k], k) for k in stems if k != MIXTURE}
    shape = arrs[part[0]].shape
    for k, a in arrs.items():
        if a.shape != shape:
            raise AudioError(f"stem {k!r} has shape {a.shape}, expected {shape}")
    mix = _as_2d(mixture, "mixture") if mixture is not None else sum(arrs[k] for k in part)
    if mix.shape != shape:
        raise AudioError(f"mixture has shape {mix.shape}, stems have {shape}")
    length = shape[1]

    def stft(x: np.ndarray) -> np.ndarray:
        return librosa.stft(x, n_fft=n_fft, hop_length=hop_length, window="hann", center=True)

    X = stft(mix)
    P = {k: np.abs(stft(arrs[k])) ** power for k in part}
    total = sum(P.values()) + eps
    out: dict[str, np.ndarray] = {}
    for k in part:
        y = librosa.istft(P[k] / total * X, hop_length=hop_length, window="hann",
                          center=True, length=length)
        out[k] = y.astype(np.float32)
    if ACCOMPANIMENT in arrs and ACCOMPANIMENT not in out:
        out[ACCOMPANIMENT] = sum(out[k] for k in part if k != "vocals").astype(np.float32)
    for k in arrs:
        if k not in out:  # a stem overlapping the partition (rare): mixture minus the rest
            out[k] = (mix - sum(out[j] for j in part if j != k)).astype(np.float32)
    return out


def mixture_estimates(stems: Iterable[str], mixture: np.ndarray) -> dict[str, np.ndarray]:
    """The "mixture as estimate" baseline (MUSDB's ``MIX`` oracle): every stem = mixture."""
    m = _as_2d(mixture, "mixture").astype(np.float32)
    return {k: m.copy() for k in stems if k != MIXTURE}


# --------------------------------------------------------------------------- folders

def _stem_files(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith("."):
            out.setdefault(p.stem, p)
    return out


def list_tracks(root: str | Path) -> list[Path]:
    """Track folders of a MUSDB-layout root (sub-folders that hold audio stems).

    Raises:
        DataError: the root is missing or holds no track folder.
    """
    r = Path(root)
    if not r.is_dir():
        raise DataError(f"{r}: not a folder")
    tracks = [p for p in sorted(r.iterdir()) if p.is_dir() and _stem_files(p)]
    if not tracks:
        raise DataError(f"{r}: no track folders with audio stems (expected <track>/<stem>.wav)")
    return tracks


@dataclass
class TrackReference:
    """A reference track: its stems (``ndarray[C, T]``), mixture and sample rate."""

    name: str
    sample_rate: int
    stems: dict[str, np.ndarray]
    mixture: np.ndarray
    mixture_is_sum: bool = False


def load_reference_track(folder: str | Path, stems: Sequence[str] | None = None) -> TrackReference:
    """Read a MUSDB-layout track folder.

    Raises:
        DataError: no stems; stems with different rates, channel counts or lengths.
        AudioLoadError: a file cannot be decoded.
    """
    from discovervoice import audio as dva

    f = Path(folder)
    files = _stem_files(f)
    names = [k for k in files if k != MIXTURE and (stems is None or k in stems)]
    if not names:
        raise DataError(f"{f}: no reference stems found")
    data: dict[str, np.ndarray] = {}
    sr0 = None
    for k in names + ([MIXTURE] if MIXTURE in files else []):
        a, sr = dva.read(files[k])
        if sr0 is None:
            sr0 = sr
        elif sr != sr0:
            raise DataError(f"{files[k]}: sample rate {sr} Hz differs from the track's {sr0} Hz")
        data[k] = a
    shapes = {k: a.shape for k, a in data.items()}
    if len(set(shapes.values())) != 1:
        raise DataError(f"{f}: stems differ in shape [C, T]: {shapes}")
    mixture_is_sum = MIXTURE not in data
    if mixture_is_sum:
        all_names = [k for k in files if k != MIXTURE]
        part = source_partition(all_names)
        for k in part:
            if k not in data:
                data[k] = dva.read(files[k])[0]
        mixture = sum(data[k] for k in part)
    else:
        mixture = data.pop(MIXTURE)
    stems_out = {k: data[k] for k in names}
    return TrackReference(f.name, int(sr0), stems_out, mixture, mixture_is_sum)


def _bss_groups(names: Sequence[str]) -> list[list[str]]:
    """Groups of estimated stems that do not overlap (accompaniment overlaps drums/bass/other)."""
    inst = [k for k in names if k != ACCOMPANIMENT]
    groups = []
    if inst:
        groups.append(inst)
    if ACCOMPANIMENT in names:
        groups.append((["vocals"] if "vocals" in names else []) + [ACCOMPANIMENT])
    return groups


def _bss_mode(bss: bool | str | None) -> str | None:
    if bss is True or bss == "full":
        return "full"
    if bss == "sdr":
        return "sdr"
    if bss in (False, None, "none"):
        return None
    raise DataError(f"unknown BSSEval mode {bss!r}; use 'full', 'sdr' or 'none'")


def score_track(ref: TrackReference, estimates: Mapping[str, np.ndarray], *,
                bss: bool | str = True, window_s: float = 1.0,
                hop_s: float = 1.0) -> dict[str, dict[str, float]]:
    """Every metric for each estimated stem of one track.

    BSSEval v4 needs the interference of the other sources: when the estimated stems do
    not cover the whole mixture, a complementary "rest" source (reference: mixture minus
    the estimated stems' references; estimate: mixture minus the estimates) joins the
    evaluation, as in SiSEC's vocals/accompaniment task; it is not reported.

    Args:
        ref: the reference track.
        estimates: ``{stem: ndarray[C, T]}`` at ``ref.sample_rate``; lengths are padded or
            cut to the reference (museval's rule).
        bss: ``"full"`` / ``True``: BSSEval v4 SDR, ISR, SIR, SAR (museval, slow);
            ``"sdr"``: only the v4 SDR, in closed form (:func:`sdr_v4_framewise`, fast);
            ``"none"`` / ``False``: uSDR and SI-SDR only.

    Returns:
        ``{stem: {"usdr", "si_sdr"[, "leakage"][, "sdr", "isr", "sir", "sar"]: dB}}``;
        ``leakage`` (:func:`leakage_db`) is there when the reference stem has silent
        windows; ``usdr`` and ``si_sdr`` are NaN when it is silent throughout.
    """
    length = ref.mixture.shape[1]
    est = {k: pad_or_trim(_as_2d(v, k), length) for k, v in estimates.items() if k in ref.stems}
    out: dict[str, dict[str, float]] = {}
    for k, e in est.items():
        silent = reference_is_silent(ref.stems[k])
        out[k] = {"usdr": float("nan") if silent else usdr(ref.stems[k], e),
                  "si_sdr": float("nan") if silent else si_sdr(ref.stems[k], e)}
        leak = leakage_db(ref.stems[k], e, ref.mixture, ref.sample_rate)
        if leak == leak:   # only where the reference has silent windows
            out[k]["leakage"] = leak
    mode = _bss_mode(bss)
    if mode and est:
        done: set[str] = set()
        for group in _bss_groups(list(est)):
            refs = [ref.stems[k] for k in group]
            ests = [est[k] for k in group]
            rest_ref = ref.mixture - sum(refs)
            if float(np.sum(rest_ref ** 2)) > 1e-8 * float(np.sum(ref.mixture ** 2)) + 1e-12:
                refs.append(rest_ref)
                ests.append(ref.mixture - sum(ests))
            if mode == "full":
                res = bss_eval_v4(np.stack(refs), np.stack(ests), ref.sample_rate,
                                  window_s=window_s, hop_s=hop_s).median()
            else:
                sdr = sdr_v4_framewise(np.stack(refs), np.stack(ests), ref.sample_rate,
                                       window_s=window_s, hop_s=hop_s)
                res = BSSEvalResult(sdr, sdr, sdr, sdr, window_s, hop_s).median()
            for i, k in enumerate(group):
                if k in done:
                    continue
                done.add(k)
                for m in (BSS_METRICS if mode == "full" else ("sdr",)):
                    out[k][m] = float(res[m][i])
    return out


def evaluate_stems(references: Mapping[str, np.ndarray], estimates: Mapping[str, np.ndarray],
                   sample_rate: int, *, mixture: np.ndarray | None = None,
                   bss: bool | str = True,
                   window_s: float = 1.0, hop_s: float = 1.0) -> dict[str, dict[str, float]]:
    """In-memory version of the folder evaluation, for training loops and the pipeline.

    Args:
        references: ``{stem: ndarray[C, T]}`` true stems (all of them, for BSSEval's
            interference terms).
        estimates: ``{stem: ndarray[C, T]}``; any subset of the reference stems.
        sample_rate: Hz, shared by all signals.
        mixture: ``ndarray[C, T]``; default the sum of the stems that partition the mix.
        bss: ``"full"`` (or ``True``), ``"sdr"`` or ``"none"`` (or ``False``), see
            :func:`score_track`.

    Returns:
        ``{stem: {"usdr", "si_sdr"[, "sdr", "isr", "sir", "sar"]: dB}}``.

    Raises:
        AudioError: shapes differ; DataError: no estimate matches a reference stem.
    """
    refs = {k: _as_2d(v, k) for k, v in references.items() if k != MIXTURE}
    if not refs:
        raise DataError("no reference stems")
    shape = next(iter(refs.values())).shape
    for k, v in refs.items():
        if v.shape != shape:
            raise AudioError(f"reference stem {k!r} has shape {v.shape}, expected {shape}")
    if mixture is None:
        mix = sum(refs[k] for k in source_partition(refs))
    else:
        mix = _as_2d(mixture, "mixture")
    if not any(k in refs for k in estimates):
        raise DataError(f"no estimated stem ({', '.join(estimates)}) matches a reference stem "
                        f"({', '.join(refs)})")
    track = TrackReference("track", int(sample_rate), refs, mix, mixture is None)
    return score_track(track, estimates, bss=bss, window_s=window_s, hop_s=hop_s)


@dataclass
class SeparationReport:
    """Scores of an estimate folder against a reference folder.

    Attributes:
        tracks: ``{track: {stem: {metric: dB}}}``.
        mean, median: ``{stem: {metric: dB}}`` over tracks (NaN values skipped).
        missing: ``{track: [stems with a reference but no estimate]}``.
        settings: how the numbers were computed.
    """

    reference_dir: str
    estimate_dir: str
    tracks: dict[str, dict[str, dict[str, float]]]
    mean: dict[str, dict[str, float]]
    median: dict[str, dict[str, float]]
    missing: dict[str, list[str]] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": "separation", "reference_dir": self.reference_dir,
                "estimate_dir": self.estimate_dir, "settings": self.settings,
                "mean": self.mean, "median": self.median, "tracks": self.tracks,
                "missing": self.missing}


def aggregate(tracks: Mapping[str, Mapping[str, Mapping[str, float]]],
              how: str = "mean") -> dict[str, dict[str, float]]:
    """Mean or median over tracks of ``{track: {stem: {metric: value}}}``, NaN skipped."""
    fn = np.nanmean if how == "mean" else np.nanmedian
    acc: dict[str, dict[str, list[float]]] = {}
    for per_stem in tracks.values():
        for stem, metrics in per_stem.items():
            for m, v in metrics.items():
                acc.setdefault(stem, {}).setdefault(m, []).append(float(v))
    out: dict[str, dict[str, float]] = {}
    for stem, metrics in acc.items():
        out[stem] = {}
        for m, vals in metrics.items():
            a = np.asarray(vals, dtype=np.float64)
            out[stem][m] = float(fn(a)) if np.isfinite(a).any() else float("nan")
    return out


def _score_track_dirs(ref_dir: Path, est_dir: Path, stems: tuple[str, ...] | None,
                      bss: bool | str, window_s: float, hop_s: float
                      ) -> tuple[dict | None, list[str]]:
    """Load and score one track folder pair (a top-level function: runs in workers)."""
    from discovervoice import audio as dva

    files = {k: p for k, p in _stem_files(est_dir).items()
             if k != MIXTURE and (stems is None or k in stems)}
    ref = load_reference_track(ref_dir)
    scored = {k: p for k, p in files.items() if k in ref.stems}
    if not scored:
        return None, []
    est = {k: dva.load(p, ref.sample_rate, channels=ref.mixture.shape[0], max_seconds=None)
           for k, p in scored.items()}
    scores = score_track(ref, est, bss=bss, window_s=window_s, hop_s=hop_s)
    return scores, sorted(set(ref.stems) - set(scored))


def evaluate_separation(reference_dir: str | Path, estimate_dir: str | Path, *,
                        stems: Sequence[str] | None = None, bss: bool | str = True,
                        window_s: float = 1.0, hop_s: float = 1.0, jobs: int = 1,
                        progress: Progress | None = None) -> SeparationReport:
    """Score every track of ``estimate_dir`` against ``reference_dir`` (MUSDB layout).

    Each ``estimate_dir/<track>/<stem>.wav`` whose track and stem exist in the reference
    is scored; estimates at another sample rate are resampled (soxr) to the reference's,
    and mapped to its channel count.

    Args:
        reference_dir, estimate_dir: MUSDB-layout roots.
        stems: restrict to these stem names (default: every estimated stem).
        bss: ``"full"`` (or ``True``): BSSEval v4 SDR/ISR/SIR/SAR with museval; ``"sdr"``:
            the v4 SDR only, in closed form (fast); ``"none"`` (or ``False``).
        jobs: tracks scored in parallel worker processes (full BSSEval is CPU-bound).
        progress: ``progress(fraction done, message)`` after each track.

    Raises:
        DataError: a folder is missing, has no tracks, or no estimate matches a reference.
        AudioLoadError, AudioError: an unreadable or invalid file (named in the message).
    """
    _bss_mode(bss)  # reject an unknown mode before any work
    ref_root, est_root = Path(reference_dir), Path(estimate_dir)
    ref_tracks = {p.name: p for p in list_tracks(ref_root)}
    est_tracks = list_tracks(est_root)
    matched = [p for p in est_tracks if p.name in ref_tracks]
    if not matched:
        raise DataError(
            f"{est_root}: none of its {len(est_tracks)} track folders matches a track of "
            f"{ref_root} (names must be equal)")
    tracks: dict[str, dict[str, dict[str, float]]] = {}
    missing: dict[str, list[str]] = {}
    jobs_args = [(ref_tracks[d.name], d, tuple(stems) if stems else None, bss, window_s, hop_s)
                 for d in matched]
    if jobs > 1 and len(matched) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=min(jobs, len(matched))) as pool:
            futures = {pool.submit(_score_track_dirs, *a): a[1].name for a in jobs_args}
            results = {}
            for n, fut in enumerate(as_completed(futures), 1):
                results[futures[fut]] = fut.result()
                if progress is not None:
                    progress(n / len(matched), f"{futures[fut]} ({n}/{len(matched)})")
        ordered = [(d.name, results[d.name]) for d in matched]
    else:
        ordered = []
        for i, a in enumerate(jobs_args):
            ordered.append((a[1].name, _score_track_dirs(*a)))
            if progress is not None:
                progress((i + 1) / len(matched), f"{a[1].name} ({i + 1}/{len(matched)})")
    for name, (scores, lacking) in ordered:
        if scores is None:
            log.warning("%s: no estimated stem matches a reference stem", est_root / name)
            continue
        tracks[name] = scores
        if lacking:
            missing[name] = lacking
    if not tracks:
        raise DataError(f"{est_root}: no estimated stem matches a reference stem")
    settings = {
        "usdr": {"eps": USDR_EPS, "source": "MDX Challenge 2021 (demucs new_sdr)",
                 "silent_reference": "NaN (left out of means)"},
        "leakage": {"window_s": LEAKAGE_WINDOW_S, "silence": "reference peak < -100 dBFS",
                    "value": "estimate energy / mixture energy over the silent windows, dB"},
        "si_sdr": {"zero_mean": True, "channels": "mean over channels",
                   "source": "Le Roux et al. 2019"},
    }
    mode = _bss_mode(bss)
    if mode == "sdr":
        settings["bss_eval"] = {"implementation": "closed-form SDR of the BSSEval v4 images "
                                "model (equal to museval's SDR; no ISR/SIR/SAR)",
                                "mode": "v4", "window_s": window_s, "hop_s": hop_s,
                                "track_value": "median over frames (NaN frames skipped)"}
    elif mode == "full":
        from importlib.metadata import version

        settings["bss_eval"] = {"implementation": f"museval {version('museval')}",
                                "mode": "v4", "window_s": window_s, "hop_s": hop_s,
                                "track_value": "median over frames (NaN frames skipped)",
                                "reference_dither_db": BSS_DITHER_DB,
                                "rest_source": "mixture minus estimated stems when they "
                                               "do not cover the mixture"}
    return SeparationReport(str(ref_root), str(est_root), tracks, aggregate(tracks, "mean"),
                            aggregate(tracks, "median"), missing, settings)


def write_oracle_estimates(reference_dir: str | Path, out_dir: str | Path, *,
                           method: str = "irm", power: float = 2.0,
                           stems: Sequence[str] | None = None,
                           progress: Progress | None = None) -> list[Path]:
    """Write oracle estimates for every track of a MUSDB-layout folder.

    Args:
        reference_dir: MUSDB-layout root with true stems.
        out_dir: where ``<track>/<stem>.wav`` estimates are written (float wav).
        method: ``"irm"`` (ideal ratio mask, :func:`ideal_ratio_mask`) or ``"mixture"``
            (every stem estimated by the mixture).
        power: IRM exponent (2 = IRM2).
        stems: which stems to write (default all reference stems).

    Returns:
        The track folders written.

    Raises:
        DataError: unknown method, missing folder.
    """
    from discovervoice import audio as dva

    if method not in ("irm", "mixture"):
        raise DataError(f"unknown oracle method {method!r}; use 'irm' or 'mixture'")
    written = []
    tracks = list_tracks(reference_dir)
    for i, tdir in enumerate(tracks):
        all_stems = [k for k in _stem_files(tdir) if k != MIXTURE]
        ref = load_reference_track(tdir, all_stems)
        if method == "irm":
            est = ideal_ratio_mask(ref.stems, ref.mixture, power=power)
        else:
            est = mixture_estimates(ref.stems, ref.mixture)
        dest = Path(out_dir) / tdir.name
        dest.mkdir(parents=True, exist_ok=True)
        for k, v in est.items():
            if stems is None or k in stems:
                dva.save(dest / f"{k}.wav", v, ref.sample_rate, clip="none")
        written.append(dest)
        if progress is not None:
            progress((i + 1) / len(tracks), f"{tdir.name} ({i + 1}/{len(tracks)})")
    return written

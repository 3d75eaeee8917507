"""Voice conversion and covers: the pipeline around a :class:`VoiceModel`.

:func:`convert_segment` is the pure conversion of one piece of audio (RVC-WebUI's
``pipeline.vc``): 16 kHz mono -> F0 (``f0_method``, ``filter_radius``) -> transpose and
optional automatic octave -> content features -> index retrieval (``index_rate``, k = 8,
``1/d**2``) -> ``protect`` -> synthesizer -> ``rms_mix_rate``.

:func:`convert` is the user-facing call: it validates input, splits long audio at quiet
points (:func:`split_points`: every ``chunk_seconds`` the quietest 10 ms frame within
``search_seconds`` is chosen, as RVC's ``t_max`` / ``t_query`` search), converts each chunk
with ``context_seconds`` of audio either side, and joins the chunks with a short
equal-gain crossfade over the overlap so seams have no clicks (:func:`join_chunks`).

:func:`make_cover` is the one cover path (the app's ``discovervoice.pipeline.cover``, the
main job and ``discovervoice cover`` all call it). It takes already separated stems (the
main job separates once and passes them; without them it separates with
``discovervoice.separation.Separator`` itself, :func:`separate_stems`), converts the vocals,
optionally shifts the accompaniment's key (phase-vocoder pitch shift from librosa), and
mixes at the song's loudness: the converted vocals are matched to the original vocals'
loudness (``discovervoice.audio.match_loudness``, pyloudnorm), so they sit against the
accompaniment as the singer did, with bursts more than 3 dB above the original vocals' true
peak limited; the sum is matched to the song's integrated loudness and true-peak limited at
-1 dBTP (``discovervoice.audio.limit_true_peak``) — the accompaniment is never turned down
to make room for a burst.

Every file written here goes through :func:`save_converted`: one "AI-generated" tag set
(comment, title, software) and RVC-WebUI / Applio's output rule, a whole-file scale down to
a peak of 0.99 when the peak is above it (:func:`peak_scale`), never hard clipping.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from discovervoice.convert.f0 import DEFAULT_F0_METHOD
from discovervoice.errors import AudioError, DiscoverVoiceError
from discovervoice.progress import Progress

log = logging.getLogger(__name__)

SR16 = 16000
AI_TAG = "AI-generated voice conversion (DiscoverVoice)"
#: Output peak ceiling of converted audio (RVC-WebUI's and Applio's ``audio_max / 0.99``).
PEAK_CEILING = 0.99
#: True-peak ceiling of a cover (dBTP), as streaming loudness guidelines ask.
COVER_CEILING_DB = -1.0
#: Headroom (dB) of the converted vocals over the original vocals' true peak before limiting.
VOCAL_BURST_DB = 3.0


def _voice(voice: Any):
    from discovervoice.convert.voice import VoiceModel

    return voice if isinstance(voice, VoiceModel) else VoiceModel.load(voice)


def convert_segment(audio16k: np.ndarray, voice: Any, *, transpose: float = 0.0, f0_method: str = DEFAULT_F0_METHOD,
                    index_rate: float = 0.75, protect: float = 0.33, rms_mix_rate: float = 0.25,
                    filter_radius: int = 3, auto_octave: bool = False, f0: np.ndarray | None = None,
                    content: np.ndarray | None = None, return_f0: bool = False):
    """Convert one piece of 16 kHz mono audio.

    Args:
        audio16k: ``ndarray[T]`` at 16 kHz.
        voice: a loaded :class:`~discovervoice.convert.voice.VoiceModel`.
        transpose: semitones added to the source F0.
        auto_octave: add the octave (multiple of 12 semitones) that brings the source's
            median F0 nearest the voice's (after ``transpose``).
        f0, content: precomputed source F0 (Hz, 10 ms frames) / content features.

    Returns:
        ``ndarray[float32, round(T * voice.sample_rate / 16000)]`` (and the F0 used, in Hz,
        when ``return_f0``).
    """
    from discovervoice.convert import f0 as F0
    from discovervoice.convert.index import mix_index, protect_mix, rms_mix

    x = np.asarray(audio16k, dtype=np.float32)
    n = F0.n_frames(len(x))
    src_f0 = F0.extract_f0(x, f0_method, filter_radius=filter_radius) if f0 is None else np.asarray(f0)
    shift = float(transpose)
    if auto_octave and voice.f0_median:
        shift += F0.auto_octave(src_f0, voice.f0_median, shift)
    f0_t = F0.transpose(src_f0, shift)
    f0_t[(f0_t > 0) & ((f0_t < F0.F0_MIN) | (f0_t > F0.F0_MAX))] = np.clip(
        f0_t[(f0_t > 0) & ((f0_t < F0.F0_MIN) | (f0_t > F0.F0_MAX))], F0.F0_MIN, F0.F0_MAX)
    feats = voice.content_encoder()(x) if content is None else np.asarray(content, dtype=np.float32)
    m = min(n, len(feats), len(f0_t))
    feats, f0_t = feats[:m], f0_t[:m]
    if voice.index is not None and index_rate > 0:
        original = feats
        feats = mix_index(feats, voice.index.retrieve(feats), index_rate)
        feats = protect_mix(feats, original, f0_t, protect)
    y = voice.synth.synthesize(feats, f0_t)
    want = int(round(len(x) * voice.sample_rate / SR16))
    y = np.pad(y, (0, max(0, want - len(y))))[:want]
    if rms_mix_rate < 1.0:
        y = rms_mix(x, SR16, y, voice.sample_rate, rms_mix_rate)
    return (y, f0_t) if return_f0 else y


def octave_shift(audio16k: np.ndarray, voice: Any, f0_method: str = DEFAULT_F0_METHOD, transpose: float = 0.0,
                 filter_radius: int = 3, step: int = 12) -> int:
    """The whole-input shift of ``convert(..., auto_octave=True)``: a multiple of ``step``
    semitones (12: whole octaves) that brings the input's median F0 (after ``transpose``)
    nearest the voice's median F0 (:func:`discovervoice.convert.f0.auto_octave`), decided
    once from the first 60 s so that chunks agree. The probe uses the conversion's own
    ``f0_method`` (dio read a real speaker at 353 Hz where harvest read 124 Hz, and the clip
    went two octaves down).

    Args:
        audio16k: ``ndarray[T]`` at 16 kHz.
        voice: a loaded :class:`~discovervoice.convert.voice.VoiceModel`.
        step: the shift's grid in semitones (12: whole octaves; 1: the nearest semitone).

    Returns:
        ``step * k`` semitones, at most two octaves (0 when the voice has no median F0 or
        nothing is voiced).

    Raises:
        F0Error: unknown ``f0_method``, or ``step`` outside 1..12.
    """
    from discovervoice.convert import f0 as F0

    if not voice.f0_median:
        return 0
    probe = F0.extract_f0(np.asarray(audio16k)[: 60 * SR16], f0_method, filter_radius=filter_radius)
    return F0.auto_octave(probe, voice.f0_median, float(transpose), step=step)


def split_points(audio: np.ndarray, sample_rate: int, chunk_seconds: float = 30.0,
                 search_seconds: float = 5.0) -> list[int]:
    """Cut positions (samples) for chunked conversion: near every multiple of
    ``chunk_seconds``, the centre of the quietest 10 ms frame within +-``search_seconds``."""
    x = np.asarray(audio)  # each searched window goes to float64, not the whole signal
    step, half = int(chunk_seconds * sample_rate), int(search_seconds * sample_rate)
    hop = max(1, sample_rate // 100)
    cuts, last = [], 0
    target = step
    while target < len(x) - half:
        lo, hi = max(last + hop, target - half), min(len(x) - hop, target + half)
        seg = np.asarray(x[lo:hi], dtype=np.float64)
        k = len(seg) // hop
        if k < 1:
            break
        en = np.sum(seg[: k * hop].reshape(k, hop) ** 2, axis=1)
        cut = lo + int(np.argmin(en)) * hop + hop // 2
        cuts.append(cut)
        last = cut
        target = cut + step
    return cuts


def join_chunks(pieces: list[np.ndarray], starts: list[int], total: int, fade: int) -> np.ndarray:
    """Overlap-add chunks placed at ``starts`` with raised-cosine crossfades of ``fade``
    samples where they overlap (the overlap must be at least ``fade``)."""
    out = np.zeros(total, dtype=np.float32)  # float32 and in place: an hour is 230 MB per buffer
    weight = np.zeros(total, dtype=np.float32)
    for i, (p, s) in enumerate(zip(pieces, starts)):
        w = np.ones(len(p))
        if i > 0 and fade > 0:
            w[:fade] = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
        if i < len(pieces) - 1 and fade > 0:
            w[-fade:] = np.minimum(w[-fade:], 0.5 + 0.5 * np.cos(np.pi * np.arange(fade) / fade))
        e = min(total, s + len(p))
        out[s:e] += p[: e - s] * w[: e - s]
        weight[s:e] += w[: e - s]
    return np.divide(out, np.maximum(weight, 1e-8, out=weight), out=out)


def convert(audio: np.ndarray, sample_rate: int, voice: Any, transpose: float = 0, f0_method: str = DEFAULT_F0_METHOD,
            index_rate: float = 0.75, protect: float = 0.33, rms_mix_rate: float = 0.25,
            progress: Progress | None = None, *, filter_radius: int = 3, auto_octave: bool = False,
            auto_step: int = 12, chunk_seconds: float = 30.0, context_seconds: float = 1.0,
            fade_seconds: float = 0.05) -> np.ndarray:
    """Sing/speak ``audio`` in ``voice``.

    Args:
        audio: ``ndarray[C, T]`` or ``[T]`` at ``sample_rate`` (channels are averaged).
        sample_rate: rate of ``audio`` in Hz.
        voice: a :class:`VoiceModel`, a voice folder, an RVC ``.pth`` or a registry name.
        transpose: semitones (e.g. +12 male -> female).
        f0_method: ``harvest``, ``dio``, ``praat``, ``crepe``, ``crepe-tiny``, ``rmvpe``, ``fcpe``
            (:data:`discovervoice.convert.f0.METHODS`).
        index_rate: 0..1, share of retrieved target features (RVC's meaning).
        protect: 0..0.5, protection of unvoiced consonants/breaths (0.5 = off).
        rms_mix_rate: 0..1, 1 keeps the output's loudness envelope, 0 the input's.
        progress: ``(fraction, message)`` callback.
        auto_octave: also shift by whole octaves into the voice's range (:func:`octave_shift`).
        auto_step: the automatic shift's grid in semitones: 12 (default) = whole octaves, a
            song keeps its key; 1 = the nearest semitone to the voice's median pitch, for
            speech (on real speakers it brings the converted voice closer to the target's:
            ``benchmarks/eval_real_conversion.py``).
        chunk_seconds: inputs longer than this are converted in chunks cut at quiet points.

    Returns:
        ``ndarray[float32, 1, T']`` at ``voice.sample_rate`` (``T' = T * voice_rate / sample_rate``),
        peak at most 0.99 (scaled down as a whole when the synthesis overshoots, as RVC-WebUI).

    Raises:
        AudioError: empty, non-finite or wrongly shaped audio; F0Error: unknown method;
        VoiceModelError / WeightsError: the voice cannot be loaded.
    """
    from discovervoice import audio as dva

    v = _voice(voice)
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] == 0:
        raise AudioError(f"convert needs audio shaped [C, T] or [T] with T > 0, got {np.shape(audio)}")
    if not np.all(np.isfinite(x)):
        raise AudioError("audio contains NaN or infinite samples")
    if not 0.0 <= index_rate <= 1.0 or not 0.0 <= protect <= 0.5 or not 0.0 <= rms_mix_rate <= 1.0:
        raise DiscoverVoiceError(f"index_rate and rms_mix_rate must be in [0, 1] and protect in [0, 0.5]; got "
                                 f"{index_rate}, {rms_mix_rate}, {protect}")
    mono = x[0] if x.shape[0] == 1 else x.mean(axis=0)
    x16 = dva.resample(mono[None], sample_rate, SR16)[0] if sample_rate != SR16 else mono
    kw = dict(transpose=transpose, f0_method=f0_method, index_rate=index_rate, protect=protect,
              rms_mix_rate=rms_mix_rate, filter_radius=filter_radius)
    if auto_octave:
        kw["transpose"] = float(transpose) + octave_shift(x16, v, f0_method, transpose, filter_radius, auto_step)
    cuts = split_points(x16, SR16, chunk_seconds) if len(x16) > chunk_seconds * SR16 * 1.2 else []
    bounds = [0] + cuts + [len(x16)]
    ratio = v.sample_rate / SR16
    ctx = int(context_seconds * SR16)
    fade = int(fade_seconds * v.sample_rate)
    pieces, starts = [], []
    for i in range(len(bounds) - 1):
        a, b = bounds[i], bounds[i + 1]
        lo, hi = max(0, a - ctx), min(len(x16), b + ctx)
        y = convert_segment(x16[lo:hi], v, **kw)
        # keep [a - fade/2, b + fade/2] of the converted context window
        ka = int(round(a * ratio)) - (fade // 2 if i > 0 else 0)
        kb = int(round(b * ratio)) + (fade - fade // 2 if i < len(bounds) - 2 else 0)
        off = int(round(lo * ratio))
        pieces.append(np.asarray(y[max(0, ka - off): kb - off], dtype=np.float32))
        starts.append(max(0, ka))
        if progress:
            progress((i + 1) / (len(bounds) - 1), f"converted chunk {i + 1}/{len(bounds) - 1}")
    total = int(round(len(x16) * ratio))
    out = join_chunks(pieces, starts, total, fade if len(pieces) > 1 else 0)
    # WORLD / NSF synthesis can overshoot full scale at onsets; clipping on save would click
    return peak_scale(out)[None]


def peak_scale(audio: np.ndarray, ceiling: float = PEAK_CEILING) -> np.ndarray:
    """``audio`` (any shape) scaled as a whole so its sample peak is at most ``ceiling``
    (linear, default 0.99); unchanged when already below. The output rule of RVC-WebUI's
    ``vc_single`` and Applio's pipeline (``audio /= max(1, peak / 0.99)``)."""
    x = np.asarray(audio, dtype=np.float32)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x * np.float32(ceiling / peak)).astype(np.float32) if peak > ceiling else x


def save_converted(path: str | Path, audio: np.ndarray, sample_rate: int, title: str) -> Path:
    """Write converted audio (a cover, converted vocals, a converted clip): peak-scaled to
    0.99 (:func:`peak_scale`) and tagged ``comment`` = :data:`AI_TAG`, ``title``,
    ``software`` = DiscoverVoice where the format has tags. Atomic (``audio.save``).

    Args:
        audio: ``ndarray[C, T]`` or ``[T]``, float, at ``sample_rate`` Hz.

    Raises:
        AudioError: invalid audio or an unsupported suffix.
    """
    from discovervoice import audio as dva

    return dva.save(path, peak_scale(audio), sample_rate,
                    metadata={"comment": AI_TAG, "title": title, "software": "DiscoverVoice"})


# =========================================================================== covers

def pitch_shift(audio: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """Key shift of ``ndarray[C, T]`` by ``semitones`` (librosa phase vocoder + resampling)."""
    import librosa

    if semitones == 0:
        return np.asarray(audio, dtype=np.float32)
    return np.stack([librosa.effects.pitch_shift(np.asarray(c, dtype=np.float32), sr=sample_rate,
                                                 n_steps=float(semitones)) for c in audio]).astype(np.float32)


def separate_stems(mix: np.ndarray, sample_rate: int, *, separator: Any = None,
                   separation_model: str = "default") -> tuple[np.ndarray, np.ndarray]:
    """``(vocals, accompaniment)``, both ``ndarray[C, T]`` at ``sample_rate``, of a song
    ``mix`` (``ndarray[C, T]``) by ``separator`` (default ``Separator(separation_model,
    stems=("vocals",))``, the two-stem mode), resampled to and from the separator's rate."""
    from discovervoice import audio as dva
    from discovervoice.separation import Separator

    sep = separator or Separator(separation_model, stems=("vocals",))
    sep_sr = int(getattr(sep, "sample_rate", sample_rate))
    res = sep.separate(dva.resample(mix, sample_rate, sep_sr) if sep_sr != sample_rate else mix, sep_sr)
    res = getattr(res, "stems", res)
    vocals = np.asarray(res["vocals"])
    acc = np.asarray(res["accompaniment"]) if "accompaniment" in res else \
        sum(np.asarray(v) for k, v in res.items() if k != "vocals")
    if sep_sr != sample_rate:
        vocals, acc = dva.resample(vocals, sep_sr, sample_rate), dva.resample(acc, sep_sr, sample_rate)
    return vocals, acc


def make_cover(song: str | Path | np.ndarray, voice: Any, out: str | Path | None = None, *,
               sample_rate: int | None = None, transpose: float = 0, key_shift_accompaniment: bool = False,
               f0_method: str = DEFAULT_F0_METHOD, index_rate: float = 0.75, protect: float = 0.33,
               rms_mix_rate: float = 0.25, auto_octave: bool = False, separator: Any = None,
               separation_model: str = "default", stems: dict[str, np.ndarray] | None = None,
               vocals_out: str | Path | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Make a cover: convert the vocals of already separated stems (or separate first), remix.

    Args:
        song: a song file, or ``ndarray[C, T]`` with ``sample_rate``; its loudness is the
            cover's target.
        voice: voice to sing in (:class:`VoiceModel`, folder, RVC ``.pth`` or registry name).
        out: cover file to write (wav/flac/...), through :func:`save_converted`.
        transpose: semitones for the vocals; with ``key_shift_accompaniment`` the
            accompaniment is shifted by the same amount so the cover stays in tune.
        separator: a ``discovervoice.separation.Separator`` used when ``stems`` is not given;
            default ``Separator(separation_model, stems=("vocals",))``.
        stems: already separated ``{"vocals": [C, T], "accompaniment": [C, T]}`` at the
            song's rate (no separation is run).
        vocals_out: also write the converted vocals (at the cover's level) here.

    Returns:
        ``{"cover": [C, T], "vocals": converted [C, T], "accompaniment": [C, T],
        "sample_rate": Hz, "path": out or None, "vocals_path": vocals_out or None}``.

    Raises:
        AudioError / AudioLoadError: an unreadable or invalid song; DiscoverVoiceError: an
        array song without ``sample_rate``; VoiceModelError / WeightsError: see :func:`convert`.
    """
    from discovervoice import audio as dva

    def step(f: float, msg: str) -> None:
        if progress:
            progress(f, msg)

    if isinstance(song, (str, Path)):
        mix = dva.load(song, 44100, 2)
        sr = 44100
    else:
        if sample_rate is None:
            raise DiscoverVoiceError("make_cover: pass sample_rate with an array song")
        mix, sr = dva.as_2d(np.asarray(song, dtype=np.float32)), int(sample_rate)
    if stems is None:
        step(0.0, "separating")
        vocals, acc = separate_stems(mix, sr, separator=separator, separation_model=separation_model)
    else:
        vocals, acc = dva.as_2d(stems["vocals"]), dva.as_2d(stems["accompaniment"])
    step(0.3, "converting vocals")
    v = _voice(voice)
    conv = convert(vocals, sr, v, transpose=transpose, f0_method=f0_method, index_rate=index_rate,
                   protect=protect, rms_mix_rate=rms_mix_rate, auto_octave=auto_octave,
                   progress=lambda f, m: step(0.3 + 0.6 * f, m))
    conv = dva.resample(conv, v.sample_rate, sr) if v.sample_rate != sr else conv
    conv = dva.to_channels(conv[:, : vocals.shape[1]], acc.shape[0])
    conv = np.pad(conv, ((0, 0), (0, max(0, vocals.shape[1] - conv.shape[1]))))
    # the converted vocals at the original vocals' loudness; a burst more than 3 dB above
    # the original vocals' true peak is limited (synthesis overshoots at onsets)
    conv = dva.match_loudness(conv, vocals, sr)
    vocal_peak = max(float(dva.true_peak(vocals).max()) if vocals.size else 0.0, 1e-3)
    conv = dva.limit_true_peak(conv, sr, ceiling_db=20 * np.log10(vocal_peak) + VOCAL_BURST_DB)
    if key_shift_accompaniment and transpose:
        step(0.9, "shifting the accompaniment's key")
        acc = pitch_shift(acc, sr, transpose)
    n = min(conv.shape[1], acc.shape[1])
    conv, acc = conv[:, :n], acc[:, :n]
    cover = conv + acc
    # at the song's loudness, true peak <= -1 dBTP; a second pass makes up what the
    # limiter took when the song itself is loud
    target = dva.lufs(mix, sr)
    for _ in range(2):
        level = dva.lufs(cover, sr)
        gain = np.float32(10 ** ((target - level) / 20) if np.isfinite(target) and np.isfinite(level) else 1.0)
        conv, acc = conv * gain, acc * gain
        cover = dva.limit_true_peak(cover * gain, sr, COVER_CEILING_DB)
    name = Path(str(v.path)).name
    path = None if out is None else save_converted(out, cover, sr, f"AI cover ({name})")
    vocals_path = None if vocals_out is None else save_converted(vocals_out, conv, sr,
                                                                 f"AI-converted vocals ({name})")
    step(1.0, "cover done")
    return {"cover": cover, "vocals": conv, "accompaniment": acc, "sample_rate": sr, "path": path,
            "vocals_path": vocals_path}

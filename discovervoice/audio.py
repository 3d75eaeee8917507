"""Audio I/O for every DiscoverVoice stage: load, save, resample, channel mapping, checks.

Libraries:
    * **soundfile** (libsndfile) decodes and encodes wav, flac, ogg/vorbis and mp3.
    * **ffmpeg** (the command-line program, when installed) decodes everything else
      (m4a/aac, webm/opus, ...) to 32-bit float wav through a pipe; no shell is used.
    * **soxr** resamples (VHQ), along the time axis.
    * **pyloudnorm** measures integrated loudness (ITU-R BS.1770-4, LUFS).
    * **scipy** (``signal.resample_poly``, ``ndimage`` min/mean filters) gives the 4x
      oversampled true peak and the limiter's gain curve (:func:`limit_true_peak`; no
      installed package ships a limiter that fits).

Conventions: audio is ``np.ndarray[float32]`` of shape ``[C, T]`` (channels first, as in
demucs and torchaudio), sample rates are integers in Hz, durations in seconds, levels in
dB. Every error raised for a file names the file (:class:`AudioLoadError`,
:class:`AudioError`). Writing is atomic: a temporary file in the destination folder is
renamed over the target only once it is complete, so a failed write never leaves a
half-written file (the pattern of demucs ``repo.py`` and encodec downloads).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from discovervoice.errors import AudioError, AudioLoadError
from discovervoice.fileio import atomic_path

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
#: Most channels a file may have (WAV allows up to 65535; 32 covers every real layout).
MAX_CHANNELS = 64
#: Seconds the ffmpeg decoder may run on one file before it is stopped.
FFMPEG_TIMEOUT = 900.0
#: Default maximum duration accepted by :func:`load`, in seconds (2 hours).
DEFAULT_MAX_SECONDS = 2 * 3600.0
#: Largest sample magnitude a decoded file may hold (+60 dBFS); float files far above full
#: scale are corrupt (a flipped exponent bit) and overflow to inf inside the models.
MAX_PEAK = 1e3
#: Peak amplitude below which a signal counts as silent (about -100 dBFS).
SILENCE_PEAK = 1e-5

SOUNDFILE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}
SUBTYPES = {".wav": "FLOAT", ".flac": "PCM_24", ".ogg": "VORBIS", ".mp3": "MPEG_LAYER_III"}

ClipMode = Literal["clamp", "rescale", "none"]


@dataclass(frozen=True)
class AudioInfo:
    """What a file header says. ``duration`` in seconds, ``sample_rate`` in Hz."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    backend: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


# --------------------------------------------------------------------------- decoding

#: Largest buffer (bytes) :func:`_read_soundfile` sizes from a header's frame count; a header
#: claiming more (a lying one, or a file beyond any limit) is read without preallocation.
_PREALLOCATE_MAX_BYTES = 4 * 2 ** 30
#: Frames per block when decoding, writing and checking long signals (~1.5 s at 44.1 kHz).
_BLOCK = 1 << 16


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    """Decode into one ``[C, T]`` buffer block by block: the peak is the signal plus one
    block, not twice the signal (libsndfile returns ``[T, C]``; a transposed copy of a whole
    hour of stereo would be another 635 MB)."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        sr, ch, frames = int(f.samplerate), int(f.channels), int(f.frames)
        if not 0 < frames * ch * 4 <= _PREALLOCATE_MAX_BYTES:
            data = f.read(dtype="float32", always_2d=True)
            return np.ascontiguousarray(data.T), sr
        out = np.empty((ch, frames), dtype=np.float32)
        n = 0
        for block in f.blocks(blocksize=_BLOCK, dtype="float32", always_2d=True):
            if n + block.shape[0] > frames:  # more audio than the header said
                rest = np.concatenate([block, f.read(dtype="float32", always_2d=True)])
                return np.concatenate([out[:, :n], rest.T], axis=1), sr
            out[:, n:n + block.shape[0]] = block.T
            n += block.shape[0]
    return (out if n == frames else out[:, :n].copy()), sr


def _read_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is not installed (apt-get install ffmpeg)")
    # ffmpeg writes a float wav to stdout; soundfile parses the header for rate/channels.
    cmd = [exe, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
           "-f", "wav", "-acodec", "pcm_f32le", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, check=False, timeout=FFMPEG_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"ffmpeg did not finish decoding within {FFMPEG_TIMEOUT:.0f} s") from None
    if proc.returncode != 0 or not proc.stdout:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(msg[-1] if msg else f"ffmpeg exited with status {proc.returncode}")
    import io

    import soundfile as sf

    data, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T), int(sr)


_BACKENDS = (("soundfile", _read_soundfile), ("ffmpeg", _read_ffmpeg))


def _probe_ffmpeg(path: Path) -> tuple[int, int, float]:
    """``(sample_rate, channels, duration_seconds)`` of the first audio stream, from ffprobe
    (the container header; nothing is decoded)."""
    import json

    exe = shutil.which("ffprobe")
    if exe is None:
        raise RuntimeError("ffprobe is not installed (apt-get install ffmpeg)")
    cmd = [exe, "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels,duration:format=duration", "-of", "json", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
    except subprocess.TimeoutExpired:
        raise RuntimeError("ffprobe did not answer within 60 s") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(msg[-1] if msg else f"ffprobe exited with status {proc.returncode}")
    meta = json.loads(proc.stdout or b"{}")
    streams = meta.get("streams") or []
    if not streams:
        raise RuntimeError("no audio stream")
    st = streams[0]
    duration = st.get("duration") or (meta.get("format") or {}).get("duration") or "nan"
    return int(st.get("sample_rate") or 0), int(st.get("channels") or 0), float(duration)


_HEADER_CACHE: dict[tuple, tuple[AudioInfo | None, dict[str, str]]] = {}


def _header(p: Path) -> tuple[AudioInfo | None, dict[str, str]]:
    """``(header or None, {backend: why it could not read one})`` from libsndfile, else ffprobe.

    Remembered per (path, size, mtime) for the last few files, so a command's
    :func:`preflight` and its :func:`read` of the same file start ffprobe once."""
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    hit = _HEADER_CACHE.get(key) if key is not None else None
    if hit is not None:
        return hit
    failures: dict[str, str] = {}
    hdr: AudioInfo | None = None
    try:
        import soundfile as sf

        i = sf.info(str(p))
        hdr = AudioInfo(p, int(i.samplerate), int(i.channels), int(i.frames), "soundfile")
    except Exception as exc:  # noqa: BLE001 - reported with the other backend's reason
        failures["soundfile"] = f"{type(exc).__name__}: {exc}".strip()
        try:
            sr, ch, dur = _probe_ffmpeg(p)
            if sr > 0 and np.isfinite(dur):
                hdr = AudioInfo(p, sr, ch, int(dur * sr), "ffmpeg")
            elif sr <= 0:
                failures["ffmpeg"] = "ffprobe reports no sample rate"
        except Exception as exc2:  # noqa: BLE001
            failures["ffmpeg"] = f"{type(exc2).__name__}: {exc2}".strip()
    if key is not None:
        if len(_HEADER_CACHE) >= 32:
            _HEADER_CACHE.clear()
        _HEADER_CACHE[key] = (hdr, failures)
    return hdr, failures


def check_header(path: str | os.PathLike, max_seconds: float | None) -> AudioInfo | None:
    """Refuse a file whose header already shows it is unusable, before decoding it.

    Reads the header only (libsndfile, else ffprobe): a duration above ``max_seconds``,
    a sample rate outside 8-192 kHz, or more than :data:`MAX_CHANNELS` channels. Files
    whose header neither backend can read return ``None`` (decoding then reports why).

    Raises:
        AudioError: the header shows a problem; the message names the file.
    """
    p = Path(path)
    hdr, _ = _header(p)
    if hdr is None:
        return None
    if not MIN_SAMPLE_RATE <= hdr.sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"sample rate {hdr.sample_rate} Hz is outside the supported range "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz", p)
    if hdr.channels > MAX_CHANNELS:
        raise AudioError(f"{hdr.channels} channels is above the limit of {MAX_CHANNELS}", p)
    if max_seconds is not None and hdr.frames / hdr.sample_rate > max_seconds:
        raise AudioError(f"duration {hdr.frames / hdr.sample_rate:.1f} s is above the limit of "
                         f"{max_seconds:.1f} s", p)
    return hdr


def _unreadable(p: Path) -> dict[str, str] | None:
    """Each backend's reason when neither reads ``p``'s header (both raised), else ``None``."""
    hdr, failures = _header(p)
    return failures if hdr is None and len(failures) == 2 else None


def _existing_file(path: str | os.PathLike) -> Path:
    """``Path(path)``, or :class:`AudioLoadError` when it is missing, a folder or empty."""
    p = Path(path)
    if not p.exists():
        raise AudioLoadError(p, "file not found")
    if p.is_dir():
        raise AudioLoadError(p, "is a folder, not an audio file")
    if p.stat().st_size == 0:
        raise AudioLoadError(p, "file is empty (0 bytes)")
    return p


def preflight(path: str | os.PathLike, max_seconds: float | None = DEFAULT_MAX_SECONDS) -> AudioInfo | None:
    """Refuse an input that is plainly unusable before a command loads its models: missing,
    a folder, empty, a header that no backend reads, or one out of bounds (:func:`check_header`).
    Nothing is decoded, so a file that passes can still fail :func:`read` (a corrupt body,
    NaN samples); the errors are the ones :func:`read` would raise.

    Returns:
        The header (:class:`AudioInfo`); ``None`` for a stream whose header gives no length.

    Raises:
        AudioLoadError: missing, a folder, empty, or no readable header (lists why per backend).
        AudioError: rate, channels or duration out of bounds.
    """
    p = _existing_file(path)
    hdr = check_header(p, max_seconds)
    failures = _unreadable(p)
    if failures is not None:
        raise AudioLoadError(p, "not a readable audio file", failures)
    return hdr  # type: ignore[return-value]  # a header without a duration passes as None


def read(path: str | os.PathLike, *, check: bool = True,
         max_seconds: float | None = DEFAULT_MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Decode a file at its native sample rate.

    Args:
        path: audio file (wav, flac, ogg, mp3 through libsndfile; m4a/aac/webm and others
            through ffmpeg when installed).
        check: run :func:`validate` on the result (finite samples, rate in range, peak at
            most :data:`MAX_PEAK`) and :func:`check_header` before decoding (rate, channels,
            ``max_seconds``).
        max_seconds: refuse files longer than this (seconds), from the header when it
            tells, else after decoding; ``None`` for no limit.

    Returns:
        ``(audio, sample_rate)``: ``ndarray[float32, C, T]`` and Hz.

    Raises:
        AudioLoadError: the file is missing, empty, or no backend can decode it; the
            message lists each backend's failure.
        AudioError: decoded, but invalid (see :func:`validate`), or the header shows a
            rate, channel count or duration out of bounds (:func:`check_header`).
    """
    p = _existing_file(path)
    if check:
        check_header(p, max_seconds)
        unreadable = _unreadable(p)  # neither header reads: the decoders would fail the same way
        if unreadable is not None:
            raise AudioLoadError(p, "not a readable audio file", unreadable)
    failures: dict[str, str] = {}
    for name, backend in _BACKENDS:
        try:
            audio, sr = backend(p)
        except Exception as exc:  # each backend's own failure is reported, none is hidden
            failures[name] = f"{type(exc).__name__}: {exc}".strip()
            continue
        if audio.shape[1] == 0:
            raise AudioLoadError(p, "contains no audio samples (zero length)")
        if check:
            validate(audio, sr, path=p)
            peak = max(float(np.max(np.abs(audio[:, i:i + _BLOCK * 16])))
                       for i in range(0, audio.shape[1], _BLOCK * 16))
            if peak > MAX_PEAK:
                raise AudioError(f"samples reach {peak:.3g} ({20 * np.log10(peak):+.0f} dBFS), far above "
                                 "full scale (1.0): a corrupt or mis-scaled float file", p)
            if max_seconds is not None and audio.shape[1] / sr > max_seconds:
                raise AudioError(f"duration {audio.shape[1] / sr:.1f} s is above the limit of "
                                 f"{max_seconds:.1f} s", p)
        return audio, sr
    raise AudioLoadError(p, "not a readable audio file", failures)


def info(path: str | os.PathLike) -> AudioInfo:
    """Header information without decoding the samples (libsndfile, else ffprobe; only a
    file whose header neither reads is decoded, to tell why it is unreadable).

    Raises:
        AudioLoadError: as :func:`read`.
    """
    p = Path(path)
    import soundfile as sf

    try:
        i = sf.info(str(p))
        return AudioInfo(p, int(i.samplerate), int(i.channels), int(i.frames), "soundfile")
    except Exception:
        pass
    if p.is_file() and p.stat().st_size > 0:
        try:
            sr, ch, dur = _probe_ffmpeg(p)
            if sr > 0 and ch > 0 and np.isfinite(dur):
                return AudioInfo(p, sr, ch, int(dur * sr), "ffmpeg")
        except Exception:
            pass
    audio, sr = read(p, check=False)
    return AudioInfo(p, sr, audio.shape[0], audio.shape[1], "ffmpeg")


def load(
    path: str | os.PathLike,
    sample_rate: int | None,
    channels: int | None = None,
    *,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    allow_silent: bool = True,
) -> np.ndarray:
    """Load a file as ``ndarray[float32, C, T]`` at ``sample_rate`` with ``channels``.

    Args:
        path: the audio file.
        sample_rate: target rate in Hz (resampled with soxr); ``None`` keeps the file's.
        channels: target channel count (see :func:`to_channels`); ``None`` keeps the file's.
        max_seconds: refuse files longer than this (seconds); ``None`` for no limit.
        allow_silent: when ``False``, an all-silent file raises :class:`AudioError`
            (for stages that cannot work on silence).

    Raises:
        AudioLoadError: not decodable (lists each backend's failure), missing, empty.
        AudioError: NaN/inf samples, rate outside 8-192 kHz, too long, or silent when
            ``allow_silent`` is false. Rate, channel count and duration are checked on the
            header first (:func:`check_header`), so an over-long file is refused without
            being decoded.
    """
    p = Path(path)
    audio, sr = read(p, max_seconds=max_seconds)
    if not allow_silent and is_silent(audio):
        raise AudioError("audio is silent (peak below -100 dBFS)", p)
    # fewer channels before resampling, more after: the resampler never works on copies
    if channels is not None and channels < audio.shape[0]:
        audio = to_channels(audio, channels)
    if sample_rate is not None and sample_rate != sr:
        audio = resample(audio, sr, sample_rate)
    if channels is not None and channels != audio.shape[0]:
        audio = to_channels(audio, channels)
    return audio


def validate(audio: np.ndarray, sample_rate: int, *, path: str | os.PathLike | None = None,
             expected_channels: int | None = None) -> None:
    """Check an ``ndarray[C, T]`` and its rate; raise :class:`AudioError` on the first problem.

    Checks: 2-D shape, at least one sample, finite values, ``8000 <= sample_rate <= 192000``
    Hz, and the channel count when ``expected_channels`` is given. Messages show expected
    against actual values.
    """
    if audio.ndim != 2:
        raise AudioError(f"expected audio of shape [channels, samples], got shape {audio.shape}", path)
    if audio.shape[1] == 0:
        raise AudioError("contains no audio samples (zero length)", path)
    if not MIN_SAMPLE_RATE <= int(sample_rate) <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"sample rate {sample_rate} Hz is outside the supported range "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz", path)
    if expected_channels is not None and audio.shape[0] != expected_channels:
        raise AudioError(f"expected {expected_channels} channels, got {audio.shape[0]}", path)
    for i in range(0, audio.shape[1], _BLOCK * 16):  # in blocks: no full-length mask of a long signal
        finite = np.isfinite(audio[:, i:i + _BLOCK * 16])
        if not finite.all():
            bad = int(sum(int(np.size(b) - np.isfinite(b).sum())
                          for b in (audio[:, j:j + _BLOCK * 16] for j in range(i, audio.shape[1], _BLOCK * 16))))
            first = i + int(np.argmax(~finite.all(axis=0)))
            raise AudioError(f"{bad} samples are NaN or infinite (first at {first / sample_rate:.3f} s)", path)


def is_silent(audio: np.ndarray, threshold: float = SILENCE_PEAK) -> bool:
    """True when the peak absolute amplitude is below ``threshold`` (linear, default -100 dBFS)."""
    return audio.size == 0 or float(np.max(np.abs(audio))) < threshold


# --------------------------------------------------------------------------- transforms

def resample(audio: np.ndarray, sr_in: int, sr_out: int, quality: str = "VHQ") -> np.ndarray:
    """Resample ``ndarray[..., T]`` from ``sr_in`` to ``sr_out`` Hz with soxr.

    Output length is ``round(T * sr_out / sr_in)``; dtype float32.
    """
    if sr_in == sr_out:
        return audio.astype(np.float32, copy=False)
    import soxr

    x = np.asarray(audio, dtype=np.float32)
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    out = soxr.resample(flat.T, sr_in, sr_out, quality=quality).T  # soxr wants [T, C]
    return np.ascontiguousarray(out.reshape(*lead, -1), dtype=np.float32)


def to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Map ``ndarray[C, T]`` to ``channels`` channels.

    mono -> N duplicates the channel; N -> mono averages all channels; stereo from more than
    two channels keeps the first two (front left/right in WAV/SMPTE order) and mixes the
    centre channel (index 2 of 3+ channel files) into both at -3 dB; other N -> M
    conversions repeat or truncate channels.
    """
    if audio.ndim == 1:
        audio = audio[None]
    c = audio.shape[0]
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    if c == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True).astype(np.float32)
    if c == 1:
        return np.repeat(audio, channels, axis=0)
    if channels == 2 and c > 2:
        centre = audio[2] * np.float32(10 ** (-3 / 20))
        return np.stack([audio[0] + centre, audio[1] + centre]).astype(np.float32)
    idx = np.arange(channels) % c
    return audio[idx]


def as_2d(audio: np.ndarray) -> np.ndarray:
    """``ndarray[T]`` -> ``ndarray[1, T]``; ``ndarray[C, T]`` unchanged."""
    a = np.asarray(audio)
    if a.ndim == 1:
        return a[None]
    if a.ndim != 2:
        raise AudioError(f"expected audio of shape [T] or [C, T], got {a.shape}")
    return a


# --------------------------------------------------------------------------- saving

def save(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    clip: ClipMode = "clamp",
    subtype: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``audio`` (``ndarray[C, T]`` or ``[T]``) to ``path`` atomically.

    The format follows the suffix (wav, flac, ogg, mp3). The file is written to a temporary
    name in the same folder and renamed over ``path`` only when complete.

    Args:
        clip: what to do with samples outside [-1, 1]: ``"clamp"`` clips them,
            ``"rescale"`` scales the whole signal down so its peak is 1.0 (never up),
            ``"none"`` writes them as they are (only float wav keeps them).
        subtype: libsndfile subtype; default float for wav, 24-bit for flac.
        metadata: text tags (``title``, ``artist``, ``comment``, ...) where the format
            supports them.

    Returns:
        The path written.

    Raises:
        AudioError: invalid audio (NaN/inf, bad shape, rate out of range), unknown suffix.
    """
    import soundfile as sf

    p = Path(path)
    ext = p.suffix.lower()
    if ext not in SOUNDFILE_FORMATS:
        raise AudioError(f"unsupported output format {ext or '(none)'}; use one of "
                         f"{', '.join(SOUNDFILE_FORMATS)}", p)
    x = as_2d(np.asarray(audio, dtype=np.float32))
    validate(x, sample_rate, path=p)
    if clip not in ("clamp", "rescale", "none"):
        raise ValueError(f"clip must be 'clamp', 'rescale' or 'none', got {clip!r}")
    scale = 1.0
    if clip == "rescale":
        peak = max(float(np.max(np.abs(x[:, i:i + _BLOCK * 16]))) for i in range(0, x.shape[1], _BLOCK * 16))
        scale = 1.0 / peak if peak > 1.0 else 1.0
    with atomic_path(p) as tmp:
        with sf.SoundFile(tmp, "w", samplerate=int(sample_rate), channels=x.shape[0],
                          format=SOUNDFILE_FORMATS[ext], subtype=subtype or SUBTYPES[ext]) as f:
            for key, value in (metadata or {}).items():
                try:
                    setattr(f, key, str(value))
                except (AttributeError, RuntimeError):
                    pass  # the format has no such tag; the audio is still written
            for i in range(0, x.shape[1], _BLOCK):  # block by block: no full-length copies
                b = x[:, i:i + _BLOCK].T
                if scale != 1.0:
                    b = b * np.float32(scale)
                if clip == "clamp":
                    b = np.clip(b, -1.0, 1.0)
                f.write(np.ascontiguousarray(b))
    return p


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Text tags of a file written by :func:`save` (soundfile's ``copy_metadata``)."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        return {k: v for k, v in f.copy_metadata().items() if v}


# --------------------------------------------------------------------------- loudness

def rms(audio: np.ndarray) -> float:
    """Root-mean-square amplitude over all channels and samples (linear)."""
    a = np.asarray(audio, dtype=np.float64)
    return float(np.sqrt(np.mean(a * a))) if a.size else 0.0


def rms_db(audio: np.ndarray, floor_db: float = -120.0) -> float:
    """RMS level in dBFS (``20 log10 rms``), not below ``floor_db``."""
    r = rms(audio)
    return max(floor_db, 20.0 * np.log10(r)) if r > 0 else floor_db


def lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4 via pyloudnorm).

    Returns ``-inf`` for silence. Signals shorter than the 400 ms gating block are padded
    with silence, which pyloudnorm requires.
    """
    import pyloudnorm

    x = as_2d(np.asarray(audio, dtype=np.float64))
    block = int(0.4 * sample_rate) + 1
    if x.shape[1] < block:
        x = np.pad(x, ((0, 0), (0, block - x.shape[1])))
    meter = pyloudnorm.Meter(sample_rate)
    return float(meter.integrated_loudness(x.T))


def normalize_lufs(audio: np.ndarray, sample_rate: int, target: float = -23.0,
                   max_gain_db: float = 40.0) -> np.ndarray:
    """Scale ``audio`` to ``target`` LUFS (gain limited to ``max_gain_db`` dB); silence unchanged."""
    level = lufs(audio, sample_rate)
    if not np.isfinite(level):
        return np.asarray(audio, dtype=np.float32)
    gain_db = float(np.clip(target - level, -max_gain_db, max_gain_db))
    return (np.asarray(audio, dtype=np.float32) * np.float32(10 ** (gain_db / 20))).astype(np.float32)


def match_loudness(audio: np.ndarray, reference: np.ndarray, sample_rate: int) -> np.ndarray:
    """Scale ``audio`` to the integrated loudness (LUFS) of ``reference``."""
    ref = lufs(reference, sample_rate)
    if not np.isfinite(ref):
        return np.asarray(audio, dtype=np.float32)
    return normalize_lufs(audio, sample_rate, ref)


def true_peak(audio: np.ndarray) -> np.ndarray:
    """Per-sample true-peak estimate of ``ndarray[C, T]`` (or ``[T]``): the largest
    magnitude over channels of the 4x oversampled signal (ITU-R BS.1770-4 Annex 2),
    ``ndarray[float64, T]`` (linear)."""
    from scipy.signal import resample_poly

    x = as_2d(np.asarray(audio, dtype=np.float64))
    if x.shape[1] == 0:
        return np.zeros(0)
    up = np.abs(resample_poly(x, 4, 1, axis=1))[:, : 4 * x.shape[1]]
    up = np.pad(up, ((0, 0), (0, 4 * x.shape[1] - up.shape[1])))
    return np.maximum(up.reshape(x.shape[0], x.shape[1], 4).max(axis=2).max(axis=0), np.abs(x).max(axis=0))


def limit_true_peak(audio: np.ndarray, sample_rate: int, ceiling_db: float = -1.0,
                    window_seconds: float = 0.02) -> np.ndarray:
    """Keep the true peak of ``ndarray[C, T]`` at or below ``ceiling_db`` dBTP with a smooth
    gain curve (a look-ahead limiter), instead of scaling the whole signal down.

    The gain each sample needs (``ceiling / true_peak``, at most 1) is spread by a minimum
    filter of ``2 * window_seconds`` and smoothed by two moving averages of
    ``window_seconds``: the smoothed gain is never above the needed one, and it moves in
    ~20 ms ramps, so a short burst is turned down around itself only. A last whole-signal
    trim catches the oversampling estimate's residue (a fraction of a dB at most).

    Returns:
        ``ndarray[float32, C, T]`` (the same shape as a 2-D input).
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    x = as_2d(np.asarray(audio, dtype=np.float32))
    if x.shape[1] == 0:
        return x
    ceiling = 10 ** (ceiling_db / 20)
    need = np.minimum(1.0, ceiling / np.maximum(true_peak(x), 1e-12))
    if need.min() >= 1.0:
        return x
    w = max(1, int(window_seconds * sample_rate))
    gain = minimum_filter1d(need, 2 * w + 1, mode="nearest")
    gain = uniform_filter1d(uniform_filter1d(gain, w, mode="nearest"), w, mode="nearest")
    y = (x * gain[None]).astype(np.float32)
    peak = float(true_peak(y).max())
    if peak > ceiling:
        y = (y * np.float32(ceiling / peak)).astype(np.float32)
    return y

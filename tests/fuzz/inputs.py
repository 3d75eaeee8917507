"""A generated fuzz corpus of odd and malformed audio inputs (issue 18).

Nothing here is committed as a binary: :func:`cases` lists ~1000 deterministic recipes and
:meth:`FuzzCase.make` writes one into a folder on demand. The families:

* ``format``: WAV files in every libsndfile PCM/float subtype (8/16/24/32-bit int, 32/64-bit
  float), 1-32 channels, 1 Hz to 384 kHz, with silence, DC, full-scale square waves,
  clipped sines, noise, mono-as-stereo (identical channels);
* ``nonfinite``: float WAVs carrying NaN / +Inf / -Inf samples;
* ``container``: FLAC, Ogg Vorbis, MP3 (libsndfile) and M4A/AAC, Opus (ffmpeg);
* ``truncated`` and ``bitflip``: valid files of each container cut at header and body
  offsets, or with bits flipped in the header and the body;
* ``garbage``: text, JSON, PNG, ZIP, ELF and random bytes renamed to audio suffixes;
* ``path``: names with spaces, unicode, leading dashes, long names, symlinks (valid and
  dangling), a folder named like an audio file, an empty file;
* ``length``: 1 sample to 2 hours of silence, and WAV headers that claim far more frames
  than the file holds.

Each case says what a correct loader must do: ``"ok"`` (decodes), ``"error"`` (refuses
with a typed error naming the file) or ``"any"`` (either, but nothing else). numpy's
seeded generator makes every byte reproducible; soundfile (libsndfile) and the ffmpeg
program write the containers.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

SUBTYPES = ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
CHANNELS = (1, 2, 3, 6, 8, 32)
RATES = (1, 100, 4000, 8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000, 384000)
CONTENTS = ("silence", "dc", "square", "noise", "clipped", "mono_as_stereo", "sine")
#: rates :func:`discovervoice.audio.load` accepts (Hz)
SUPPORTED = (8000, 192000)


@dataclass(frozen=True)
class FuzzCase:
    """One fuzz input: ``make(folder)`` writes it and returns its path."""

    name: str
    family: str
    expect: str  # "ok" | "error" | "any"
    builder: Callable[[Path, str], Path] = field(repr=False, compare=False)

    def make(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        return self.builder(folder, self.name)


# --------------------------------------------------------------------------- signals

def signal(content: str, sr: int, channels: int, seconds: float, seed: int) -> np.ndarray:
    """``ndarray[float32, T, C]`` (soundfile's layout) of a named test signal."""
    n = max(1, int(round(sr * seconds)))
    rng = np.random.default_rng(seed)
    t = np.arange(n) / max(sr, 1)
    f = min(440.0, sr / 4.0) if sr >= 4 else 0.0
    if content == "silence":
        x = np.zeros(n)
    elif content == "dc":
        x = np.full(n, 0.5)
    elif content == "square":
        x = np.sign(np.sin(2 * np.pi * f * t) + 1e-9)
    elif content == "noise":
        x = rng.uniform(-1, 1, n)
    elif content == "clipped":
        x = np.clip(3.0 * np.sin(2 * np.pi * f * t), -1.0, 1.0)
    else:
        x = 0.5 * np.sin(2 * np.pi * f * t)
    out = np.repeat(x[:, None], channels, axis=1)
    if content not in ("mono_as_stereo", "silence", "dc") and channels > 1:
        out *= np.linspace(1.0, 0.5, channels)[None, :]
    return out.astype(np.float32)


def _write_sf(path: Path, x: np.ndarray, sr: int, fmt: str, subtype: str) -> Path:
    sf.write(str(path), x, sr, format=fmt, subtype=subtype)
    return path


def _ffmpeg_encode(src: Path, dst: Path, codec_args: list[str]) -> Path:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is needed to build the m4a/opus fuzz inputs")
    subprocess.run([exe, "-nostdin", "-v", "error", "-y", "-i", str(src), *codec_args, str(dst)],
                   check=True, capture_output=True)
    return dst


def base_file(folder: Path, kind: str) -> Path:
    """A short valid file of a container kind: wav16, wavf, flac, ogg, mp3, m4a, opus."""
    x = signal("sine", 16000, 2, 0.5, seed=1)
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"base.{kind}"
    if kind == "wav16":
        return _write_sf(folder / "base16.wav", x, 16000, "WAV", "PCM_16")
    if kind == "wavf":
        return _write_sf(folder / "basef.wav", x, 16000, "WAV", "FLOAT")
    if kind == "flac":
        return _write_sf(p, x, 16000, "FLAC", "PCM_16")
    if kind == "ogg":
        return _write_sf(p, x, 16000, "OGG", "VORBIS")
    if kind == "mp3":
        return _write_sf(p, x, 16000, "MP3", "MPEG_LAYER_III")
    wav = _write_sf(folder / f"src-{kind}.wav", x, 16000, "WAV", "PCM_16")
    if kind == "m4a":
        out = _ffmpeg_encode(wav, p, ["-c:a", "aac", "-b:a", "64k"])
    elif kind == "opus":
        out = _ffmpeg_encode(wav, folder / "base.opus", ["-c:a", "libopus", "-ar", "48000"])
    else:
        raise ValueError(kind)
    wav.unlink()
    return out


SUFFIX = {"wav16": ".wav", "wavf": ".wav", "flac": ".flac", "ogg": ".ogg", "mp3": ".mp3",
          "m4a": ".m4a", "opus": ".opus"}


# --------------------------------------------------------------------------- families

def _format_cases() -> list[FuzzCase]:
    out = []
    i = 0
    for subtype in SUBTYPES:
        for ch in CHANNELS:
            for sr in RATES:
                content = CONTENTS[i % len(CONTENTS)]
                if content == "mono_as_stereo" and ch == 1:
                    content = "sine"
                i += 1
                ok = SUPPORTED[0] <= sr <= SUPPORTED[1]

                def build(folder, name, subtype=subtype, ch=ch, sr=sr, content=content, seed=i):
                    x = signal(content, sr, ch, 0.25, seed)
                    return _write_sf(folder / f"{name}.wav", x, sr, "WAV", subtype)

                out.append(FuzzCase(f"format-{subtype}-{ch}ch-{sr}Hz-{content}", "format",
                                    "ok" if ok else "error", build))
    return out


def _nonfinite_cases() -> list[FuzzCase]:
    out = []
    for subtype in ("FLOAT", "DOUBLE"):
        for value in ("nan", "inf", "-inf"):
            for where in ("first", "middle", "last", "all"):
                def build(folder, name, subtype=subtype, value=value, where=where):
                    x = signal("sine", 16000, 2, 0.25, 3).astype(np.float64)
                    v = float(value)
                    if where == "all":
                        x[:] = v
                    else:
                        k = {"first": 0, "middle": x.shape[0] // 2, "last": -1}[where]
                        x[k, 1] = v
                    sf.write(str(folder / f"{name}.wav"), x, 16000, subtype=subtype)
                    return folder / f"{name}.wav"

                out.append(FuzzCase(f"nonfinite-{subtype}-{value}-{where}", "nonfinite",
                                    "error", build))
    return out


def _container_cases() -> list[FuzzCase]:
    out = []
    specs = [("FLAC", "PCM_16", ".flac"), ("FLAC", "PCM_24", ".flac"), ("FLAC", "PCM_S8", ".flac"),
             ("OGG", "VORBIS", ".ogg"), ("MP3", "MPEG_LAYER_III", ".mp3")]
    rates = {"MP3": (8000, 16000, 22050, 44100, 48000)}
    for fmt, subtype, ext in specs:
        for sr in rates.get(fmt, (8000, 16000, 44100, 48000, 96000)):
            for ch in (1, 2):
                def build(folder, name, fmt=fmt, subtype=subtype, ext=ext, sr=sr, ch=ch):
                    x = signal("sine", sr, ch, 0.3, 5)
                    return _write_sf(folder / f"{name}{ext}", x, sr, fmt, subtype)

                out.append(FuzzCase(f"container-{fmt}-{subtype}-{sr}Hz-{ch}ch", "container", "ok",
                                    build))
    for kind, sr in (("m4a", 16000), ("m4a", 44100), ("opus", 48000)):
        for ch in (1, 2, 6):
            def build(folder, name, kind=kind, sr=sr, ch=ch):
                wav = _write_sf(folder / f"{name}-src.wav", signal("sine", sr, ch, 0.5, 6), sr,
                                "WAV", "PCM_16")
                args = ["-c:a", "aac", "-b:a", "96k"] if kind == "m4a" else ["-c:a", "libopus"]
                if kind == "opus" and ch == 6:
                    args += ["-mapping_family", "1"]
                out_path = _ffmpeg_encode(wav, folder / f"{name}{SUFFIX[kind]}", args)
                wav.unlink()
                return out_path

            out.append(FuzzCase(f"container-{kind}-{sr}Hz-{ch}ch", "container", "ok", build))
    return out


def _truncated_cases() -> list[FuzzCase]:
    out = []
    cuts = ("1", "4", "12", "20", "36", "43", "44", "45", "100", "0.25", "0.5", "0.9", "-1")
    for kind in SUFFIX:
        for cut in cuts:
            def build(folder, name, kind=kind, cut=cut):
                src = base_file(folder / f"{name}-base", kind)
                data = src.read_bytes()
                n = len(data)
                k = (n - 1) if cut == "-1" else (int(float(cut) * n) if "." in cut else int(cut))
                p = folder / f"{name}{SUFFIX[kind]}"
                p.write_bytes(data[:max(1, min(k, n - 1))])
                shutil.rmtree(src.parent)
                return p

            out.append(FuzzCase(f"truncated-{kind}-{cut}", "truncated", "any", build))
    return out


def _bitflip_cases(per_kind: int = 52) -> list[FuzzCase]:
    out = []
    for kind in SUFFIX:
        for j in range(per_kind):
            def build(folder, name, kind=kind, j=j):
                src = base_file(folder / f"{name}-base", kind)
                data = bytearray(src.read_bytes())
                rng = np.random.default_rng(1000 + j + 97 * len(kind))
                region = min(64, len(data)) if j % 2 == 0 else len(data)  # header, then anywhere
                for _ in range(1 + j % 8):
                    pos = int(rng.integers(0, region))
                    data[pos] ^= 1 << int(rng.integers(0, 8))
                p = folder / f"{name}{SUFFIX[kind]}"
                p.write_bytes(bytes(data))
                shutil.rmtree(src.parent)
                return p

            out.append(FuzzCase(f"bitflip-{kind}-{j:02d}", "bitflip", "any", build))
    return out


_PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
        b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
        b"\x00\x00\x00IEND\xaeB`\x82")
GARBAGE = {
    "text": "This is not audio.\nJust a line of text with ünïcode.\n".encode(),
    "json": b'{"title": "song", "samples": [0.1, 0.2]}',
    "png": _PNG,
    "zip": b"PK\x03\x04" + bytes(60),
    "elf": b"\x7fELF\x02\x01\x01" + bytes(120),
    "riff-only": b"RIFF\x24\x00\x00\x00WAVE",
    "riff-bad-fmt": b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + bytes(16) + b"data\x00\x00\x00\x00",
    "id3-only": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    "flac-magic": b"fLaC" + bytes(40),
    "ogg-magic": b"OggS" + bytes(60),
}


def _garbage_cases() -> list[FuzzCase]:
    out = []
    for kind, payload in GARBAGE.items():
        for ext in (".wav", ".mp3", ".flac", ".ogg", ".m4a"):
            def build(folder, name, payload=payload, ext=ext):
                p = folder / f"{name}{ext}"
                p.write_bytes(payload)
                return p

            out.append(FuzzCase(f"garbage-{kind}{ext}", "garbage", "error", build))
    for j, size in enumerate((1, 7, 44, 512, 4096, 65536)):
        for ext in (".wav", ".mp3", ".ogg"):
            def build(folder, name, size=size, ext=ext, j=j):
                p = folder / f"{name}{ext}"
                p.write_bytes(np.random.default_rng(j).integers(0, 256, size, dtype=np.uint8).tobytes())
                return p

            out.append(FuzzCase(f"garbage-random-{size}{ext}", "garbage", "any", build))
    return out


def _valid_wav(folder: Path, fname: str) -> Path:
    p = folder / fname
    sf.write(str(p), signal("sine", 16000, 2, 0.5, 9), 16000, format="WAV", subtype="PCM_16")
    return p


def _path_cases() -> list[FuzzCase]:
    names = {
        "space": "my song (final mix).wav",
        "unicode": "Ünïcødé – 歌声 ♪.wav",
        "dash": "-rf.wav",
        "dashdash": "--help.wav",
        "long": ("x" * 200) + ".wav",
        "upper-ext": "SONG.WAV",
        "no-ext": "song",
        "double-ext": "song.mp3.wav",
        "dot": ".hidden.wav",
        "quote": "it's \"quoted\" $HOME `x`.wav",
        "semicolon": "a;b&c|d.wav",
        "newline-free-tab": "tab\there.wav",
    }
    out = []
    for key, fname in names.items():
        def build(folder, name, fname=fname):
            d = folder / name
            d.mkdir(parents=True, exist_ok=True)
            return _valid_wav(d, fname)

        out.append(FuzzCase(f"path-{key}", "path", "ok", build))

    def symlink_ok(folder, name):
        target = _valid_wav(folder, f"{name}-target.wav")
        link = folder / f"{name}.wav"
        link.symlink_to(target)
        return link

    def symlink_dangling(folder, name):
        link = folder / f"{name}.wav"
        link.symlink_to(folder / "does-not-exist.wav")
        return link

    def directory(folder, name):
        d = folder / f"{name}.wav"
        d.mkdir()
        return d

    def empty(folder, name):
        p = folder / f"{name}.wav"
        p.write_bytes(b"")
        return p

    def missing(folder, name):
        return folder / f"{name}-missing.wav"

    def symlink_dir(folder, name):
        d = folder / f"{name}-dir"
        d.mkdir()
        link = folder / f"{name}.flac"
        link.symlink_to(d)
        return link

    for key, fn, expect in (("symlink", symlink_ok, "ok"), ("symlink-dangling", symlink_dangling, "error"),
                            ("directory", directory, "error"), ("empty", empty, "error"),
                            ("missing", missing, "error"), ("symlink-to-dir", symlink_dir, "error")):
        out.append(FuzzCase(f"path-{key}", "path", expect, fn))
    return out


def _lying_wav(folder: Path, name: str, frames_claimed: int, channels: int = 2, sr: int = 44100,
               body_frames: int = 1000) -> Path:
    """A PCM-16 WAV whose header claims ``frames_claimed`` frames but holds ``body_frames``."""
    block = 2 * channels
    data_bytes = min(frames_claimed * block, 0xFFFFFFFF - 36)
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sr, sr * block, block, 16)
    header += b"data" + struct.pack("<I", data_bytes)
    body = (np.sin(np.arange(body_frames * channels) / 10) * 8000).astype("<i2").tobytes()
    p = folder / f"{name}.wav"
    p.write_bytes(header + body)
    return p


def _length_cases() -> list[FuzzCase]:
    out = []
    for frames in (1, 2, 3, 10, 100, 399, 4000, 16000):
        def build(folder, name, frames=frames):
            p = folder / f"{name}.wav"
            x = signal("sine", 16000, 1, 1.0, 11)[:frames]
            sf.write(str(p), x, 16000, subtype="PCM_16")
            return p

        out.append(FuzzCase(f"length-{frames}-samples", "length", "ok", build))
    for minutes, expect in ((10, "ok"), (119, "ok"), (121, "error")):
        def build(folder, name, minutes=minutes):
            # FLAC of digital silence: a few hundred kB on disk for hours of audio
            p = folder / f"{name}.flac"
            block = np.zeros((8000 * 60, 1), dtype=np.float32)
            with sf.SoundFile(str(p), "w", samplerate=8000, channels=1, format="FLAC",
                              subtype="PCM_16") as f:
                for _ in range(minutes):
                    f.write(block)
            return p

        out.append(FuzzCase(f"length-silence-{minutes}min", "length", expect, build))
    for claimed, expect in ((10 ** 6, "any"), (10 ** 8, "any"), (2 ** 31, "any")):
        def build(folder, name, claimed=claimed):
            return _lying_wav(folder, name, claimed)

        out.append(FuzzCase(f"length-lying-header-{claimed}", "length", expect, build))
    return out


def cases() -> list[FuzzCase]:
    """Every fuzz case, in a fixed order (>= 1000)."""
    out = (_format_cases() + _nonfinite_cases() + _container_cases() + _truncated_cases()
           + _bitflip_cases() + _garbage_cases() + _path_cases() + _length_cases())
    names = [c.name for c in out]
    assert len(names) == len(set(names)), "fuzz case names must be unique"
    return out


def sample(n: int = 100) -> list[FuzzCase]:
    """A fixed, evenly spread subset of :func:`cases` for the default suite, every family in."""
    every = cases()
    step = max(1, len(every) // n)
    picked = every[::step][:n]
    seen = {c.family for c in picked}
    for c in every:  # make sure each family is represented
        if c.family not in seen:
            picked[-1 - len(seen) % len(picked)] = c
            seen.add(c.family)
    return picked

"""Separate a long file block by block, reading and writing as it goes (issue 18).

:meth:`Separator.separate <discovervoice.separation.api.Separator.separate>` holds the whole
song and every stem in memory: an hour of stereo at 44.1 kHz is 1.27 GB per signal, so a
two-stem separation of it needs ~4.5 GB. :func:`separate_file_streaming` reads the file in
blocks of ``block_seconds`` with ``context_seconds`` of the neighbouring audio on each side,
separates each extended block with the separator's own array path (its chunking, overlap
and ensembling unchanged inside the block), keeps the block's centre and appends it to
each stem's output file. Memory is one extended block and its stems, whatever the length.
The context makes every kept sample see the same amount of surrounding audio as in a
whole-file run except at the block edges' chunk grid, so the stems differ from the
whole-file ones only by the overlap-add pattern of the network's chunks.

Libraries: soundfile (libsndfile) reads the blocks (``SoundFile.seek``/``read``) and writes
the stems; :func:`discovervoice.audio.resample` (soxr) resamples a block whose file rate
differs from the separator's. Files libsndfile cannot read (m4a, opus) are not streamed:
:func:`can_stream` says so and the caller separates them whole.

Outputs are written under temporary names in the target folders and renamed over the
targets only when every stem is complete (as :func:`discovervoice.audio.save` does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from discovervoice import audio as dva
from discovervoice.errors import AudioError
from discovervoice.fileio import temporary_name

#: Files whose header gives more than this many seconds are separated block by block.
STREAM_ABOVE_SECONDS = 10 * 60.0


def can_stream(path: str | os.PathLike) -> bool:
    """True when libsndfile reads ``path``'s header and it is longer than
    :data:`STREAM_ABOVE_SECONDS`."""
    import soundfile as sf

    try:
        i = sf.info(str(path))
    except Exception:  # noqa: BLE001 - not a libsndfile file: separated whole
        return False
    return i.samplerate > 0 and i.frames / i.samplerate > STREAM_ABOVE_SECONDS


def separate_file_streaming(separator: Any, path: str | os.PathLike, targets: Mapping[str, str | os.PathLike],
                            *, clip: str = "none", block_seconds: float = 120.0,
                            context_seconds: float = 4.0) -> dict[str, Path]:
    """Separate ``path`` into ``targets`` (``{stem: output file}``) block by block.

    Args:
        separator: a :class:`~discovervoice.separation.api.Separator`.
        targets: one output file per stem of ``separator.stems`` (wav / flac / mp3 / ogg).
        clip: ``"none"`` (float wav keeps samples beyond full scale) or ``"clamp"``.
        block_seconds: audio kept per block (s); ``context_seconds`` more is read on each side.

    Returns:
        ``{stem: path written}``.

    Raises:
        AudioLoadError / AudioError: the file (named) is unreadable, out of the loader's
            limits, or holds NaN/inf or out-of-range samples.
    """
    import soundfile as sf

    p = Path(path)
    dva.preflight(p)  # missing, folder, empty, header out of bounds: the loader's errors
    sr = int(separator.sample_rate)
    outs: dict[str, tuple[Path, Path]] = {}
    writers: dict[str, Any] = {}
    try:
        with sf.SoundFile(str(p)) as f:
            sr_in, ch, total = int(f.samplerate), int(f.channels), int(f.frames)
            ratio = sr / sr_in
            for stem, target in targets.items():
                t = Path(target)
                t.parent.mkdir(parents=True, exist_ok=True)
                ext = t.suffix.lower()
                if ext not in dva.SOUNDFILE_FORMATS:
                    raise AudioError(f"unsupported output format {ext or '(none)'}", t)
                tmp = temporary_name(t)
                outs[stem] = (tmp, t)
                writers[stem] = sf.SoundFile(tmp, "w", samplerate=sr, channels=ch,
                                             format=dva.SOUNDFILE_FORMATS[ext], subtype=dva.SUBTYPES[ext])
            block, ctx = int(block_seconds * sr_in), int(context_seconds * sr_in)
            n_blocks = max(1, -(-total // block))
            for k, a in enumerate(range(0, total, block)):
                b = min(total, a + block)
                lo, hi = max(0, a - ctx), min(total, b + ctx)
                f.seek(lo)
                x = np.ascontiguousarray(f.read(hi - lo, dtype="float32", always_2d=True).T)
                if x.shape[1] < hi - lo:  # the header promised more frames than the body holds
                    hi = lo + x.shape[1]
                    b = min(b, hi)
                if b <= a:
                    break
                dva.validate(x, sr_in, path=p)
                peak = float(np.max(np.abs(x))) if x.size else 0.0
                if peak > dva.MAX_PEAK:
                    raise AudioError(f"samples reach {peak:.3g}, far above full scale (1.0): a corrupt "
                                     "or mis-scaled float file", p)
                if sr_in != sr:
                    x = dva.resample(x, sr_in, sr)
                # the centre [a, b) of the extended block [lo, hi), in output samples
                start = round(a * ratio) - round(lo * ratio)
                length = round(b * ratio) - round(a * ratio)
                stems = separator.separate(x, sr)
                for stem in targets:
                    y = stems[stem][:, start:start + length]
                    if y.shape[1] < length:
                        y = np.pad(y, ((0, 0), (0, length - y.shape[1])))
                    if clip == "clamp":
                        y = np.clip(y, -1.0, 1.0)
                    writers[stem].write(np.ascontiguousarray(y.T))
                if separator.progress is not None:
                    separator.progress((k + 1) / n_blocks, f"separated block {k + 1}/{n_blocks}")
        for w in writers.values():
            w.close()
        for tmp, target in outs.values():
            os.replace(tmp, target)
    except BaseException:
        for w in writers.values():
            try:
                w.close()
            except Exception:  # noqa: BLE001 - already failing; the temp file goes next
                pass
        for tmp, _ in outs.values():
            tmp.unlink(missing_ok=True)
        raise
    return {stem: target for stem, (_, target) in outs.items()}

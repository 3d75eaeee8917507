"""Block-by-block separation of long files (``discovervoice.separation.stream``, issue 18):
the same stems as a whole-file run up to the chunk grid at block edges, exact length, and
no output under the final names when the file turns out bad half-way."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from discovervoice import audio
from discovervoice.errors import AudioError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _song(path, seconds=14.0, sr=44100):
    t = np.arange(int(seconds * sr)) / sr
    f0 = 220 * 2 ** (np.floor(t / 0.5) % 7 / 12)
    voice = sum(0.2 / k * np.sin(2 * np.pi * k * np.cumsum(f0) / sr) for k in range(1, 8))
    bass = 0.3 * np.sin(2 * np.pi * 55 * t)
    clicks = 0.4 * (np.mod(t, 0.25) < 0.01) * np.random.default_rng(0).standard_normal(t.size)
    x = 0.5 * np.stack([voice + bass + clicks, 0.9 * voice + bass + 0.8 * clicks]).astype(np.float32)
    sf.write(str(path), x.T, sr, subtype="PCM_24")
    return path


def _sdr(ref, est):
    return 10 * np.log10(np.sum(ref ** 2) / (np.sum((ref - est) ** 2) + 1e-12) + 1e-12)


def test_streamed_stems_match_the_whole_file_run(tmp_path):
    from discovervoice.separation.api import Separator
    from discovervoice.separation.stream import separate_file_streaming

    song = _song(tmp_path / "song.flac")
    sep = Separator("default")
    whole = sep.separate(song)
    targets = {s: tmp_path / "out" / f"{s}.wav" for s in sep.stems}
    separate_file_streaming(sep, song, targets, block_seconds=5.0, context_seconds=2.0)
    for s, t in targets.items():
        y = audio.load(t, None)
        assert y.shape == whole[s].shape
        assert _sdr(whole[s], y) > 20.0, s  # differs only by the chunk grid near block edges
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left


def test_a_bad_block_leaves_no_output(tmp_path):
    from discovervoice.separation.api import Separator
    from discovervoice.separation.stream import separate_file_streaming

    sr = 44100
    x = 0.1 * np.random.default_rng(1).standard_normal((12 * sr, 2)).astype(np.float32)
    x[9 * sr, 0] = np.nan  # in the second block
    bad = tmp_path / "bad.wav"
    sf.write(str(bad), x, sr, subtype="FLOAT")
    sep = Separator("default")
    targets = {s: tmp_path / "out" / f"{s}.wav" for s in sep.stems}
    with pytest.raises(AudioError, match="bad.wav.*NaN"):
        separate_file_streaming(sep, bad, targets, block_seconds=5.0, context_seconds=1.0)
    assert not list((tmp_path / "out").iterdir())

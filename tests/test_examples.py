"""First-run example inputs: a real song with true stems and a long-enough voice clip."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from discovervoice import audio
from discovervoice.examples import ensure_examples

pytestmark = pytest.mark.skipif(shutil.which("mbrola") is None or shutil.which("espeak-ng") is None,
                                reason="corpus tools (mbrola, espeak-ng) not installed")


def test_examples_are_real_and_made_once(tmp_path):
    paths = ensure_examples(tmp_path)
    mix = audio.load(paths["song"], None)
    stems = [audio.load(tmp_path / "song" / f"{s}.wav", None) for s in ("vocals", "drums", "bass", "other")]
    assert mix.shape[0] == 2 and mix.shape[1] > 44100 * 8
    assert np.max(np.abs(mix - sum(stems))) < 1e-4
    assert audio.rms_db(stems[0]) > -40  # the vocals are there
    voice = audio.load(paths["voice"], None)
    assert voice.shape[0] == 1 and voice.shape[1] >= 16000 * 60
    before = {k: v.stat().st_mtime_ns for k, v in paths.items()}
    assert ensure_examples(tmp_path) == paths
    assert {k: v.stat().st_mtime_ns for k, v in paths.items()} == before

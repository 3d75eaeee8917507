"""REPET-SIM on real recordings: repeating real music + a recorded voice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from discovervoice.eval.separation import usdr
from discovervoice.separation.repet import repet_sim

MUSIC = Path("/usr/share/games/fillets-ng/music/menu.ogg")
SPEECH = Path("/usr/share/sounds/alsa/Front_Center.wav")


def test_repet_sim_pulls_a_voice_out_of_repeating_real_music():
    from discovervoice import audio

    if not MUSIC.is_file() or not SPEECH.is_file():
        pytest.skip("fillets-ng-data / alsa-utils not installed (scripts/install-system-deps.sh)")
    sr = 22050
    music = audio.load(MUSIC, sr, channels=1)[:, sr:13 * sr]        # 12 s of real music
    voice = audio.load(SPEECH, sr, channels=1)[0]
    voc = np.zeros_like(music)
    for start in (1.0, 4.5, 8.0):                                  # the voice, three times
        a = int(start * sr)
        voc[0, a:a + voice.size] = voice
    voc *= np.sqrt(np.mean(music ** 2) / np.mean(voc ** 2))
    mix = music + voc
    est = repet_sim(mix, sr)
    assert est["vocals"].shape == mix.shape == est["accompaniment"].shape
    # voice at the music's level (the mixture scores 0 dB for both); measured 4.2 dB
    assert usdr(voc, est["vocals"]) > usdr(voc, mix) + 2.5
    assert usdr(music, est["accompaniment"]) > usdr(music, mix) + 2.5
    np.testing.assert_allclose(est["vocals"] + est["accompaniment"], mix, atol=1e-5)

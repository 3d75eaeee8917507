"""Diarization and music/voice discrimination on recordings of real people (issue 16).

Speech: Czech voice acting of ``fillets-ng-data-cs`` (the small fish ``m``, a woman, and
the big fish ``v``, a man); music: the game music of ``fillets-ng-data`` (instrumental).
Both are installed by ``scripts/install-system-deps.sh``; without them the tests skip.
"""

import numpy as np
import pytest

from discovervoice.prep import evaluate as E
from discovervoice.prep.metrics import diarization_error_rate

SR = 16_000
MUSIC = "/usr/share/games/fillets-ng/music/rybky03.ogg"


def _voices(*ids):
    from discovervoice.corpus.voices import recorded_voices

    have = {v.id: v for v in recorded_voices()}
    if not all(i in have for i in ids):
        pytest.skip("fillets-ng-data-cs is not installed (scripts/install-system-deps.sh)")
    return [have[i] for i in ids]


def _issue_conversation(music: np.ndarray | None, seed: int = 16):
    """The issue's case: a woman and a man, three turns each, 0.8 s pauses, and 6 s of
    instrumental music after the third turn."""
    rng = np.random.default_rng(seed)
    va, vb = _voices("fillets-m", "fillets-v")
    cache: dict = {}
    parts = [(np.zeros(int(0.5 * SR), np.float32), "silence", None)]
    for k, v in enumerate([va, vb, va, vb, va, vb]):
        if k == 3 and music is not None:
            parts.append((E._music_stretch(music, 6.0, rng, 0.05), "music", None))
            parts.append((np.zeros(int(0.8 * SR), np.float32), "silence", None))
        c = E.speaker_utterance(v, rng, 1.5, 3.5, cache=cache)
        c = c / (np.sqrt(np.mean(c.astype(np.float64) ** 2)) + 1e-9) * 0.05
        parts.append((c.astype(np.float32), "speech", v.id))
        parts.append((np.zeros(int(0.8 * SR), np.float32), "silence", None))
    return E.assemble(parts)


def _music():
    from pathlib import Path

    from discovervoice.audio import load

    if not Path(MUSIC).is_file():
        pytest.skip("fillets-ng-data (game music) is not installed")
    return load(MUSIC, SR, 1)[0][: 40 * SR]


def test_two_real_speakers_are_counted_and_diarized():
    from discovervoice.prep.diarization import diarize
    from discovervoice.prep.segmentation import segment

    mix, _, truth = _issue_conversation(None)
    est = diarize(mix, SR, segment(mix, SR))
    der = diarization_error_rate(truth, est, len(mix) / SR, 0.25)
    assert der["n_est_speakers"] == 2
    assert der["der"] < 0.10


def test_instrumental_music_is_not_kept_as_voice_after_separation():
    """prep's default path (separator's vocal stem as the voice track): the music-only
    stretch yields no voice segment and no kept slice."""
    from discovervoice.prep.diarization import diarize
    from discovervoice.prep.pipeline import PrepOptions, _load_separator, keep_regions, separate_vocals
    from discovervoice.prep.segmentation import segment
    from discovervoice.prep.slicing import slice_at_quiet_points

    mix, _, truth = _issue_conversation(_music())
    vocals = separate_vocals(_load_separator(None), mix[None], SR)[0]
    segs = diarize(vocals, SR, segment(mix, SR, vocals=vocals))
    (m,) = [s for s in truth if s.label == "music"]
    inside = [s for s in segs if s.label in ("speech", "singing")
              and min(s.end, m.end) - max(s.start, m.start) > 0.3]
    assert not inside, inside
    cuts = slice_at_quiet_points(vocals, SR, regions=[(r.start, r.end) for r in
                                                       keep_regions(segs, PrepOptions())])
    assert all(min(b, m.end) - max(a, m.start) < 0.5 * (b - a) for a, b in cuts)
    # (the speaker count on the separated track is not asserted: the default separator
    # distorts these real voices and GE2E then finds 6 speakers; see diarization's notes)


def test_real_conversation_sets_are_disjoint_and_reproducible():
    groups = E.real_speaker_groups()
    if len(groups["evaluation"]) < 4 or len(groups["calibration"]) < 4:
        pytest.skip("fillets-ng-data-cs / klettres-data are not installed")
    cal, ev = {v.id for v in groups["calibration"]}, {v.id for v in groups["evaluation"]}
    assert not cal & ev
    a = next(E.real_conversations("calibration", 1, speakers=(3,), music_share=0.0, seed=3))
    b = next(E.real_conversations("calibration", 1, speakers=(3,), music_share=0.0, seed=3))
    assert np.array_equal(a["mixture"], b["mixture"]) and len(set(a["voices"])) == 3
    spk = [s for s in a["truth"] if s.label == "speech"]
    assert all(1.0 - 1e-3 <= s.duration <= 4.0 + 1e-3 for s in spk if "fillets" in s.speaker)
    assert all(x.speaker != y.speaker for x, y in zip(spk, spk[1:]))

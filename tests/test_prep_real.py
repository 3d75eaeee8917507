"""Diarization and music/voice discrimination on recordings of real people (issue 16).

Speech: Czech voice acting of ``fillets-ng-data-cs`` (the small fish ``m``, a woman, and
the big fish ``v``, a man); music: the game music of ``fillets-ng-data`` (instrumental).
Both are installed by ``scripts/install-system-deps.sh``; without them the tests skip.
"""

import numpy as np
import pytest

from discovervoice.corpus.voices import list_voices
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


def _inside(segs, m):
    return [s for s in segs if s.label in ("speech", "singing")
            and min(s.end, m.end) - max(s.start, m.start) > 0.3]


def test_instrumental_music_is_not_kept_as_voice_on_the_recording_itself():
    """prep --no-separate on the issue's conversation with game music: no voice segment
    inside the music, DER below 10 % given the two speakers."""
    from discovervoice.prep.diarization import diarize
    from discovervoice.prep.segmentation import segment

    mix, _, truth = _issue_conversation(_music())
    (m,) = [s for s in truth if s.label == "music"]
    segs = diarize(mix, SR, segment(mix, SR), n_speakers=2)
    assert not _inside(segs, m), _inside(segs, m)
    assert diarization_error_rate(truth, segs, len(mix) / SR, 0.25)["der"] < 0.10



def test_separator_evidence_rejects_music_the_classifier_calls_singing():
    """A Wesnoth fanfare (wesnoth-1.16-music, GPL-2+, unpacked by
    scripts/fetch-real-music.sh) between the turns: the window classifier keeps part of it
    as singing (shown with the silero check off); prep's default path (segment_auto) drops
    it, the separator's vocal stem lying far below the mixture there."""
    from pathlib import Path

    from discovervoice.audio import load
    from discovervoice.prep.pipeline import _load_separator, separate_vocals
    from discovervoice.prep.segmentation import SegmentOptions, segment, segment_auto

    f = Path("data/music-root/usr/share/games/wesnoth/1.16/data/core/music/victory2.ogg")
    if not f.is_file():
        pytest.skip("wesnoth-1.16-music is not unpacked (scripts/fetch-real-music.sh)")
    mix, _, truth = _issue_conversation(load(f, SR, 1)[0][int(4.74 * SR):int(11.74 * SR)])
    (m,) = [s for s in truth if s.label == "music"]
    assert _inside(segment(mix, SR, options=SegmentOptions(speechless_vad=0)), m)
    vocals = separate_vocals(_load_separator(None), mix[None], SR)[0]
    est, use_vocals = segment_auto(mix, SR, vocals)
    assert use_vocals is False and not _inside(est, m), _inside(est, m)


class _EverythingSung:
    """A window classifier that calls every window singing (instrumental music taken for
    a sung voice, as the default classifier does with some game music)."""

    method = "everything-sung"

    def predict_proba(self, feats):
        from discovervoice.prep.voicetype import CLASSES

        p = np.zeros((len(feats), len(CLASSES)))
        p[:, CLASSES.index("singing")] = 1.0
        return p


class _QuietIsSung:
    """A window classifier that calls a window speech where silero-vad hears speech and
    singing elsewhere (instrumental music taken for a sung voice)."""

    method = "quiet-is-sung"

    def predict_proba(self, feats):
        from discovervoice.prep.voicetype import CLASSES, FEATURE_NAMES

        speech = feats[:, FEATURE_NAMES.index("vad")] > 0.3
        p = np.zeros((len(feats), len(CLASSES)))
        p[speech, CLASSES.index("speech")] = 1.0
        p[~speech, CLASSES.index("singing")] = 1.0
        return p


def _spoken_kept(est, truth):
    spoken = [s for s in truth if s.label == "speech"]
    kept = sum(min(s.end, t.end) - max(s.start, t.start) for s in est
               if s.label in ("speech", "singing") for t in spoken
               if min(s.end, t.end) > max(s.start, t.start))
    return kept / sum(t.duration for t in spoken)


def test_speech_recording_drops_singing_where_silero_hears_no_speech():
    """On a speech recording (the recording itself the voice track, with at least
    ``speech_recording_ratio`` times more speech than singing) a 'singing' run where
    silero-vad on the recording stays below ``speechless_vad`` for ``speechless_seconds``
    is music; the spoken turns stay voice. A recording whose voice is mostly singing is not
    judged so (a song: silero-vad misses held notes)."""
    from discovervoice.prep.segmentation import SegmentOptions, segment

    mix, _, truth = _issue_conversation(_music())
    (m,) = [s for s in truth if s.label == "music"]
    quiet = _QuietIsSung()
    assert _inside(segment(mix, SR, classifier=quiet, options=SegmentOptions(speechless_vad=0)), m)
    for evidence in (None, mix):   # the recording alone; with a stem as evidence (no leakage)
        est = segment(mix, SR, classifier=quiet, separated=evidence)
        assert not _inside(est, m), _inside(est, m)
        assert _spoken_kept(est, truth) > 0.8
    assert _inside(segment(mix, SR, classifier=_EverythingSung()), m)   # a "song"


def test_default_path_keeps_speech_unseparated_and_music_out():
    """prep's default path (segment_auto): the recording's voice is speech, so it stays the
    voice track (the separator's stem only judges sung-looking runs): DER below 10 % given
    the two speakers, no voice segment and no kept slice inside the music-only stretch.
    With the separator's vocal stem as the voice track (--separate-speech) the music is
    not kept either."""
    from discovervoice.prep.diarization import diarize
    from discovervoice.prep.pipeline import PrepOptions, _load_separator, keep_regions, separate_vocals
    from discovervoice.prep.segmentation import segment, segment_auto
    from discovervoice.prep.slicing import slice_at_quiet_points

    mix, _, truth = _issue_conversation(_music())
    (m,) = [s for s in truth if s.label == "music"]
    vocals = separate_vocals(_load_separator(None), mix[None], SR)[0]
    est, use_vocals = segment_auto(mix, SR, vocals)
    assert use_vocals is False
    assert not _inside(est, m), _inside(est, m)
    segs = diarize(mix, SR, est, n_speakers=2)
    assert diarization_error_rate(truth, segs, len(mix) / SR, 0.25)["der"] < 0.10
    # (the automatic count gives 3 here: the first of the woman's three turns lies at an
    # average cosine distance of 0.33 from her other two, above the 0.30 cut)
    segs = diarize(mix, SR, est)
    cuts = slice_at_quiet_points(mix, SR, regions=[(r.start, r.end) for r in
                                                    keep_regions(segs, PrepOptions())])
    assert cuts and all(min(b, m.end) - max(a, m.start) < 0.5 * (b - a) for a, b in cuts)
    sep = diarize(vocals, SR, segment(mix, SR, vocals=vocals))
    assert not _inside(sep, m), _inside(sep, m)


def test_sung_voice_over_music_takes_the_separated_track():
    """segment_auto on a song-like input (a sung phrase over game music, the true vocal
    standing in for the separator's stem): singing dominates, so the vocal stem is the
    voice track."""
    from discovervoice import testsignals as T
    from discovervoice.prep.segmentation import segment_auto
    from discovervoice.prep.voicetype import RuleVoiceType

    music = _music()[: 8 * SR] * 0.3
    vocal = np.concatenate([T.silence(1.0), T.sung_phrase([220, 247, 262, 294, 330, 294], 0.5),
                            T.sung_phrase([262, 294, 330, 349, 392, 349], 0.5), T.silence(1.0)])
    n = min(len(music), len(vocal))
    segs, use_vocals = segment_auto(music[:n] + vocal[:n], SR, vocal[:n], classifier=RuleVoiceType())
    assert use_vocals is True
    assert any(s.label == "singing" and s.duration > 3 for s in segs)


def test_real_conversation_sets_are_disjoint_and_reproducible():
    groups = E.real_speaker_groups()
    if len(groups["evaluation"]) < 4 or len(groups["calibration"]) < 4:
        pytest.skip("fillets-ng-data-cs / klettres-data are not installed")
    cal, ev = {v.id for v in groups["calibration"]}, {v.id for v in groups["evaluation"]}
    assert not cal & ev
    # a KLettres folder that its credits give to two people is no one speaker
    assert not any(v.several_people for g in groups.values() for v in g)
    two = {v.id for v in list_voices(kinds=("recorded",)) if v.several_people}
    if any(v.startswith("klettres-") for v in cal | ev):
        assert {"klettres-pt-br", "klettres-es"} <= two and not two & (cal | ev)
    # the game's credits name a cast of nine for the Fish Fillets characters but not who voices
    # which: two characters other than the hero fish may be one person, so they never meet
    by_id = {v.id: v for g in groups.values() for v in g}
    if {"fillets-m", "fillets-v", "fillets-vit-hs"} <= set(by_id):
        m, v, hs = by_id["fillets-m"], by_id["fillets-v"], by_id["fillets-vit-hs"]
        assert not m.may_share_person(v) and m.may_share_person(hs) and v.may_share_person(hs)
    for group in ("calibration", "evaluation"):
        for c in E.real_conversations(group, 12, speakers=(2, 3, 4), music_share=0.0, seed=5):
            vs = [by_id[i] for i in c["voices"]]
            assert not any(x.may_share_person(y)
                           for j, x in enumerate(vs) for y in vs[j + 1:]), c["voices"]
    a = next(E.real_conversations("calibration", 1, speakers=(3,), music_share=0.0, seed=3))
    b = next(E.real_conversations("calibration", 1, speakers=(3,), music_share=0.0, seed=3))
    assert np.array_equal(a["mixture"], b["mixture"]) and len(set(a["voices"])) == 3
    spk = [s for s in a["truth"] if s.label == "speech"]
    assert all(1.0 - 1e-3 <= s.duration <= 4.0 + 1e-3 for s in spk if "fillets" in s.speaker)
    assert all(x.speaker != y.speaker for x, y in zip(spk, spk[1:]))


def test_music_gate_tells_real_speech_from_instrumental_music():
    """The shipped music gate (weights/dv-prep-musicgate) on GE2E embeddings: turns of two
    real speakers it was not fitted on (fillets-m, fillets-v) lie below its threshold,
    stretches of instrumental game music above it."""
    from discovervoice.prep.diarization import embed_windows
    from discovervoice.prep.musicgate import default_gate

    gate = default_gate()
    if gate is None:
        pytest.skip("weights/dv-prep-musicgate.safetensors is absent")
    rng = np.random.default_rng(3)
    cache: dict = {}

    def emb(x):
        m = embed_windows(x)[0].mean(axis=0)
        return m / np.linalg.norm(m)

    speech = [emb(E.speaker_utterance(v, rng, 1.5, 4.0, cache=cache))
              for v in _voices("fillets-m", "fillets-v") for _ in range(4)]
    music = _music()
    pieces = [emb(music[int(a * SR):int((a + 4) * SR)]) for a in (2.0, 12.0, 22.0, 32.0)]
    ps, pm = gate.probability(np.stack(speech)), gate.probability(np.stack(pieces))
    assert ps.max() < gate.threshold < pm.min(), (ps, pm)


def test_diarize_turns_a_music_cluster_into_music():
    """Instrumental music the segmenter took for speech (truth segments with the music
    stretch labelled speech): without the gate it becomes a speaker of its own; with it,
    it is music, one speaker fewer, and the speech turns keep their speakers."""
    from dataclasses import replace

    from discovervoice.prep.diarization import diarize
    from discovervoice.prep.musicgate import default_gate

    if default_gate() is None:
        pytest.skip("weights/dv-prep-musicgate.safetensors is absent")
    mix, _, truth = _issue_conversation(_music())
    (m,) = [s for s in truth if s.label == "music"]
    segs = [replace(s, label="speech") if s.label == "music" else s for s in truth]
    off = diarize(mix, SR, segs, music_gate=None)
    assert _inside(off, m) and _inside(off, m)[0].speaker is not None
    on = diarize(mix, SR, segs)
    assert not _inside(on, m), _inside(on, m)
    n_on, n_off = ({s.speaker for s in x if s.speaker} for x in (on, off))
    assert len(n_on) == len(n_off) - 1
    turns = [(s.start, s.end) for s in truth if s.label == "speech"]

    def who(segs):
        return [next(x.speaker for x in segs if x.start <= (a + b) / 2 < x.end) for a, b in turns]

    same = {(x, y) for x, y in zip(who(off), who(on))}
    assert len(same) == len({x for x, _ in same}) == len({y for _, y in same})

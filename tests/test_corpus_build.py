"""End-to-end corpus builds on tiny configurations: stems sum to the mixture, the sung line
follows the score, singers have sung and spoken clips, noisy pairs hit their SNR, builds
are reproducible, and reserved material stays out of train/valid (and is all of test).

Needs espeak-ng, MBROLA voices and FluidSynth + a GM soundfont; skipped with the reason
otherwise (CI installs them with scripts/install-system-deps.sh).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("fluidsynth")
pytest.importorskip("music21")

from discovervoice.corpus import accompaniment as acc  # noqa: E402
from discovervoice.corpus import reserved, voices  # noqa: E402
from discovervoice.corpus.build import BuildConfig, build  # noqa: E402

_missing = [p for p in ("espeak-ng", "mbrola") if shutil.which(p) is None]
pytestmark = pytest.mark.skipif(
    bool(_missing) or not voices.list_voices(kinds=("mbrola",)) or not acc.soundfonts(),
    reason=f"corpus tools missing ({', '.join(_missing) or 'MBROLA voices / GM soundfont'}); "
           "run scripts/install-system-deps.sh")

PIECES = ("bwv26.6", "bwv2.6", "bwv3.6", "bwv10.7", "bwv40.8")   # 10.7 and 40.8 reserved
TRAIN_VOICES = ("mbrola-us1", "mbrola-de2", "mbrola-fr1", "fillets-m")


def _cfg(out: Path, **kw) -> BuildConfig:
    base = dict(out=str(out), seed=7, songs=2, valid_fraction=0.5, song_seconds=6.0,
                pieces=PIECES, voices=TRAIN_VOICES, sung_per_singer=2, spoken_per_singer=2,
                parallel_sets=1, parallel_voices=2, parallel_train_seconds=3.0,
                noisy_pairs=4, snrs=(15.0, 20.0, 25.0), workers=1)
    base.update(kw)
    return BuildConfig(**base)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    return out, build(_cfg(out))


def _read(p: Path) -> np.ndarray:
    x, _ = sf.read(str(p), dtype="float32", always_2d=True)
    return x


def test_mixture_is_the_sum_of_the_stems(built):
    out, m = built
    songs = [it for it in m["items"] if it["part"] == "songs"]
    assert {it["split"] for it in songs} == {"train", "valid"}
    for it in songs:
        d = out / it["path"]
        mix = _read(d / "mixture.wav")
        stems = [_read(d / f"{s}.wav") for s in ("vocals", "drums", "bass", "other")]
        assert mix.shape[1] == 2 and sf.info(str(d / "mixture.wav")).samplerate == 44100
        assert all(s.shape == mix.shape for s in stems)
        total = np.sum([s.astype(np.float64) for s in stems], axis=0)
        assert np.abs(mix - total).max() < 1e-4
        assert np.abs(stems[0]).max() > 0.01 and np.abs(stems[2]).max() > 0.001
        assert -6.0 <= it["vocal_to_accompaniment_db"] <= 6.0


def test_song_vocals_follow_the_score(built):
    parselmouth = pytest.importorskip("parselmouth")
    out, m = built
    for it in (i for i in m["items"] if i["part"] == "songs"):
        d = out / it["path"]
        x = _read(d / "vocals.wav").mean(axis=1).astype(np.float64)
        notes = json.loads((d / "vocals.notes.json").read_text())
        phones = json.loads((d / "vocals.phones.json").read_text())
        assert phones and all(b >= a for a, b, _ in phones)
        p = parselmouth.Sound(x, 44100).to_pitch_ac(time_step=0.005, pitch_floor=60,
                                                    pitch_ceiling=1100)
        f0, t = p.selected_array["frequency"], p.xs()
        cents = []
        for a, b, midi in notes:
            sel = (t >= a + 0.08) & (t < b - 0.05) & (f0 > 0)
            cents += list(1200 * np.log2(f0[sel] / (440 * 2 ** ((midi - 69) / 12))))
        assert len(cents) > 100
        assert np.mean(np.abs(cents) < 50) >= 0.95, it["path"]


def test_every_singer_has_sung_and_spoken_clips_with_metadata(built):
    out, m = built
    items = [it for it in m["items"] if it["part"] == "singers"]
    singers = {it["singer"] for it in items}
    assert singers == set(TRAIN_VOICES)
    for s in singers:
        kinds = {it["kind"] for it in items if it["singer"] == s}
        assert kinds == {"sung", "spoken"}, s
    for it in items:
        x = _read(out / it["path"])
        assert x.shape[1] == 1 and sf.info(str(out / it["path"])).samplerate == 16000
        assert len(x) > 8000 and np.abs(x).max() > 0.05
        assert it["language"] and it["source"]
        if it["synth"] == "mbrola":   # synthetic clips carry exact phone timings
            ph = json.loads((out / Path(it["path"]).with_suffix(".phones.json")).read_text())
            assert ph[-1][1] <= len(x) / 16000 + 1e-3
            assert sum(p != "_" for _, _, p in ph) >= 3
        if it["kind"] == "sung":
            assert it["melody"]["piece"]


def test_parallel_sets_share_timing(built):
    out, m = built
    items = [it for it in m["items"] if it["part"] == "parallel" and it["kind"] == "parallel"]
    assert items
    by_set: dict = {}
    for it in items:
        by_set.setdefault((it["split"], it["set"]), []).append(it)
    for members in by_set.values():
        assert len(members) == 2
        notes = [json.loads((out / Path(it["path"]).with_suffix(".notes.json")).read_text())
                 for it in members]
        times = [[(a, b) for a, b, _ in n] for n in notes]
        assert times[0] == times[1]
        # pitches differ by whole octaves only
        d = {round(x[2] - y[2]) % 12 for x, y in zip(notes[0], notes[1])}
        assert d == {0}
    train = [it for it in m["items"] if it["part"] == "parallel" and
             it["kind"].startswith("train_")]
    assert {it["singer"] for it in train} >= {it["singer"] for it in items}


def test_noisy_pairs_hit_the_requested_snr(built):
    out, m = built
    items = [it for it in m["items"] if it["part"] == "noisy"]
    assert len(items) >= 4
    for it in items:
        clean = _read(out / it["clean"])[:, 0].astype(np.float64)
        noise = _read(out / it["noise_file"])[:, 0].astype(np.float64)
        noisy = _read(out / it["path"])[:, 0].astype(np.float64)
        assert clean.shape == noise.shape == noisy.shape
        snr = 20 * np.log10(np.sqrt(np.mean(clean ** 2)) / np.sqrt(np.mean(noise ** 2)))
        assert abs(snr - it["snr_db"]) < 0.1
        assert np.abs(noisy - clean - noise).max() < 1e-5
    assert {it["snr_db"] for it in items} <= {15.0, 20.0, 25.0}


def test_reserved_material_is_excluded_by_default(built):
    out, m = built
    for it in m["items"]:
        assert it["split"] in ("train", "valid")
        assert not any(reserved.is_reserved_voice(v) for v in it["voices"]), it["path"]
        if it.get("piece"):
            assert not reserved.is_reserved_piece(it["piece"]), it["path"]
        if it.get("soundfont"):
            assert not reserved.is_reserved_soundfont(it["soundfont"])
    assert not (out / "songs" / "test").exists()
    # every item's files exist
    for it in m["items"]:
        assert (out / it["path"]).exists()


def test_test_split_needs_the_flag_and_uses_only_reserved_material(tmp_path):
    with pytest.raises(reserved.ReservedMaterialError, match="include"):
        build(_cfg(tmp_path, splits=("test",)))
    if not voices.list_voices(only_reserved=True, kinds=("mbrola",)) or \
            not acc.soundfonts(only_reserved=True):
        pytest.skip("reserved voices or MuseScore General soundfont not installed")
    m = build(_cfg(tmp_path, splits=("test",), include_reserved=True, voices=None,
                   test_songs=1, singers=1, parts=("songs", "singers")))
    items = m["items"]
    assert items and {it["split"] for it in items} == {"test"}
    for it in items:
        assert all(reserved.is_reserved_voice(v) for v in it["voices"])
        assert reserved.is_reserved_piece(it["piece"]) if it.get("piece") else True
        if it.get("soundfont"):
            assert reserved.is_reserved_soundfont(it["soundfont"])
    assert any(it["part"] == "songs" for it in items)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".cache" not in p.parts
            and p.name != "manifest.json"}


def test_same_seed_gives_identical_files(tmp_path):
    kw = dict(parts=("songs", "singers", "noisy"), songs=1, valid_fraction=0.0,
              voices=("mbrola-us1", "mbrola-de2"), noisy_pairs=2, sung_per_singer=1,
              spoken_per_singer=1, splits=("train",))
    build(_cfg(tmp_path / "a", **kw))
    build(_cfg(tmp_path / "b", workers=2, **kw))      # worker count must not matter
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a and a == b
    build(_cfg(tmp_path / "c", seed=8, **kw))
    assert _digest(tmp_path / "c") != a


def test_a_second_run_resumes_instead_of_rebuilding(built):
    out, m = built
    said = []
    victim = next(it for it in m["items"] if it["part"] == "noisy")
    job_files = sorted((out / ".jobs").glob("noisy-*.json"))
    assert job_files
    job_files[0].unlink()                     # pretend that job had not finished
    m2 = build(_cfg(out), progress=said.append)
    assert any("already done" in s for s in said)
    ran = [s for s in said if s.startswith("[")]
    assert len(ran) == 1 and "noisy" in ran[0]
    assert [it["path"] for it in m2["items"]] == [it["path"] for it in m["items"]]
    assert (out / victim["path"]).exists()


def test_read_manifest_filters_items(built, tmp_path):
    from discovervoice.corpus import read_manifest
    from discovervoice.errors import DataError

    out, m = built
    songs = read_manifest(out, part="songs", split="train")
    assert songs and all(it["part"] == "songs" and it["split"] == "train" for it in songs)
    spoken = read_manifest(out, kind="spoken")
    assert spoken and {it["kind"] for it in spoken} == {"spoken"}
    with pytest.raises(DataError, match="no corpus manifest"):
        read_manifest(tmp_path)


@pytest.mark.skipif(not voices.list_voices(kinds=("recorded",)), reason="no recorded voices installed")
def test_noisy_recorded_share_one_gives_real_speakers_only(tmp_path):
    """``--noisy-recorded-share 1``: every clean clip is a real recording (the real-material
    rows of the enhancement card); 0 gives synthetic speech only; outside 0..1 is refused."""
    from discovervoice.errors import DataError

    kw = dict(parts=("noisy",), splits=("train",), noisy_pairs=6)
    real = build(_cfg(tmp_path / "real", noisy_recorded_share=1.0, **kw))
    synth = build(_cfg(tmp_path / "synth", noisy_recorded_share=0.0, **kw))
    kinds = {v.id: v.kind for v in voices.list_voices()}
    assert [kinds[it["speaker"]] for it in real["items"]] == ["recorded"] * 6
    assert all(kinds[it["speaker"]] != "recorded" for it in synth["items"]) and len(synth["items"]) == 6
    with pytest.raises(DataError, match="noisy_recorded_share"):
        build(_cfg(tmp_path / "bad", noisy_recorded_share=1.5, **kw))

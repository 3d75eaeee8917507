"""Prep's manifest as training input and as lhotse manifests: ``classify train --manifest``
and ``discovervoice export-lhotse`` on a dataset laid out as ``discovervoice prep`` writes
it, and on a corpus manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from discovervoice.cli import main
from discovervoice.errors import DataError
from discovervoice.classify.data import clips_from_manifest
from discovervoice.prep.manifest import read_records, to_lhotse
from discovervoice.prep.pipeline import MANIFEST_FIELDS
from tests.test_classify_pipeline import SINGERS, TINY
from tests.test_classify_units import SR, voice


def prep_dataset(root: Path, singers=SINGERS, songs: int = 4, seconds: float = 2.0) -> Path:
    """``root/raw/<singer>/song<k>.wav`` sources and ``root/ds`` as prep writes it: slices
    under ``slices/<source id>/`` and one ``manifest.jsonl`` line per slice. Source
    ``song0`` of each singer also has a short second speaker (``spk1``)."""
    ds = root / "ds"
    lines = []
    for s, (f0, fm) in singers.items():
        for k in range(songs):
            src = root / "raw" / s / f"song{k}.wav"
            src.parent.mkdir(parents=True, exist_ok=True)
            sf.write(src, np.zeros(SR, np.float32), SR)       # the source is not re-read
            spans = [("singing", "spk0", voice(f0 * (1 + 0.03 * k), seconds, fm, seed=k))]
            if k == 0:
                spans.append(("speech", "spk1", voice(110, 1.0, seed=7, gate_hz=3)))
            for i, (label, spk, x) in enumerate(spans):
                rel = Path("slices") / f"{s}-song{k}" / f"{i:04d}_{label}_{spk}.wav"
                (ds / rel).parent.mkdir(parents=True, exist_ok=True)
                sf.write(ds / rel, x, SR)
                d = round(len(x) / SR, 3)
                lines.append({"file": str(rel), "source": str(src), "start": 1.0 * i,
                              "end": 1.0 * i + d, "duration": d, "label": label, "speaker": spk,
                              "sex_estimate": "female" if f0 > 200 else "male",
                              "sex_confidence": 0.9, "text": None, "loudness": -23.0})
    assert set(lines[0]) == set(MANIFEST_FIELDS)
    (ds / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return ds


def test_singer_clips_name_singers_by_folder_and_keep_the_main_speaker(tmp_path):
    ds = prep_dataset(tmp_path)
    clips = clips_from_manifest(ds)
    assert sorted({c.singer for c in clips}) == sorted(SINGERS)
    assert len(clips) == 3 * 4 and all(c.kind == "sung" for c in clips)   # no spk1 slice
    assert all("spk1" not in c.path.name and c.path.is_file() for c in clips)
    assert {c.song for c in clips if c.singer == "ana"} == {
        str(tmp_path / "raw" / "ana" / f"song{k}.wav") for k in range(4)}
    with pytest.raises(DataError, match="manifest not found"):
        clips_from_manifest(tmp_path / "nothing")


def test_reserved_singer_folder_is_refused(tmp_path):
    ds = prep_dataset(tmp_path, singers={"us2": SINGERS["ana"], "ben": SINGERS["ben"]}, songs=1)
    with pytest.raises(DataError, match="'us2' is a voice reserved"):
        clips_from_manifest(ds)
    assert {c.singer for c in clips_from_manifest(ds, allow_reserved=True)} == {"us2", "ben"}


def test_classify_train_reads_prep_output(tmp_path):
    ds = prep_dataset(tmp_path)
    out = tmp_path / "model"
    rc = main(["classify", "train", "--manifest", str(ds), "-o", str(out), "--init", "scratch",
               *TINY, "--steps", "2", "--batch-size", "4", "--eval-every", "1", "--warmup", "1",
               "--window-seconds", "1.0", "--val-fraction", "0.25"])
    assert rc == 0
    info = json.loads((out / "discovervoice.json").read_text())
    assert info["labels"] == ["ana", "ben", "cleo"]
    assert info["info"]["train_files"] + info["info"]["valid_files"] == 12
    assert not set(info["info"]["train_songs"]) & set(info["info"]["valid_songs"])
    assert all(song.endswith(".wav") for song in info["info"]["train_songs"])


def test_classify_train_needs_exactly_one_input(tmp_path, capsys):
    assert main(["classify", "train", "-o", str(tmp_path / "m")]) == 1
    assert "DATA_DIR or --manifest" in capsys.readouterr().err


def test_lhotse_export_of_a_prep_dataset_round_trips(tmp_path):
    from lhotse import load_manifest

    ds = prep_dataset(tmp_path, songs=1)
    assert main(["export-lhotse", str(ds), "-o", str(tmp_path / "lh")]) == 0
    recs = load_manifest(tmp_path / "lh" / "recordings.jsonl.gz")
    sups = load_manifest(tmp_path / "lh" / "supervisions.jsonl.gz")
    _, records = read_records(ds)
    assert len(recs) == len(sups) == len(records) == 3 * 2       # spk0 + spk1 per singer
    for r in records:
        rec = recs[r["file"]]
        assert rec.sampling_rate == SR and rec.duration == pytest.approx(r["duration"], abs=1e-3)
        audio = rec.load_audio()
        ref, _ = sf.read(ds / r["file"], dtype="float32")
        np.testing.assert_allclose(audio[0], ref, atol=1e-4)
        sup = sups[f"{r['file']}#0"]
        assert sup.recording_id == rec.id and sup.speaker == r["speaker"]
        assert sup.gender == r["sex_estimate"] and sup.custom["label"] == r["label"]
        assert sup.custom["source"] == r["source"] and sup.duration == pytest.approx(rec.duration)


def test_lhotse_export_of_a_corpus_manifest(tmp_path):
    from lhotse import load_manifest

    items = []
    for i, (kind, text) in enumerate((("sung", "la la"), ("spoken", "hello there"))):
        rel = f"singers/train/v1/{kind}_{i:03d}.wav"
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / rel, voice(150, 1.5, seed=i), SR)
        items.append({"path": rel, "part": "singers", "split": "train", "kind": kind,
                      "singer": "v1", "sex": "male", "text": text, "duration_s": 1.5})
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "items": items}))
    root, records = read_records(tmp_path / "manifest.json")
    assert root == tmp_path and [r["label"] for r in records] == ["singing", "speech"]
    _, sp = to_lhotse(tmp_path, tmp_path / "lh")
    sups = list(load_manifest(sp))
    assert [s.text for s in sups] == ["la la", "hello there"]
    assert {s.speaker for s in sups} == {"v1"}
    with pytest.raises(DataError, match="no manifest.jsonl .a prep dataset. or manifest.json"):
        read_records(tmp_path / "singers")

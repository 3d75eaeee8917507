"""``discovervoice eval ...`` end to end on tiny folders: reports (JSON, Markdown, PNG)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from discovervoice import audio
from discovervoice.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def _stems(rng, sr, seconds):
    from scipy.signal import lfilter

    t = int(sr * seconds)
    return {"vocals": lfilter([1], [1, -0.95], rng.standard_normal((2, t))) * 0.05,
            "drums": rng.standard_normal((2, t)) * 0.05,
            "bass": lfilter([1], [1, -0.99], rng.standard_normal((2, t))) * 0.01,
            "other": lfilter([1], [1, 0.6], rng.standard_normal((2, t))) * 0.05}


def test_separation_oracle_and_report(tmp_path, capsys):
    rng = np.random.default_rng(0)
    sr = 8000
    ref = tmp_path / "ref"
    for name in ("song_a", "song_b"):
        d = ref / name
        d.mkdir(parents=True)
        stems = _stems(rng, sr, 1.5)
        for k, v in stems.items():
            audio.save(d / f"{k}.wav", v.astype(np.float32), sr, clip="none")
        audio.save(d / "mixture.wav", sum(stems.values()).astype(np.float32), sr, clip="none")
    assert main(["eval", "oracle", "--reference", str(ref), "--out", str(tmp_path / "irm"),
                 "--stems", "vocals"]) == 0
    assert sorted(p.name for p in (tmp_path / "irm" / "song_a").iterdir()) == ["vocals.wav"]
    rep = tmp_path / "report"
    assert main(["eval", "separation", "--reference", str(ref), "--estimate",
                 str(tmp_path / "irm"), "--report", str(rep)]) == 0
    out = capsys.readouterr().out
    assert "vocals" in out and "uSDR" in out
    d = json.loads((rep / "separation.json").read_text())
    assert set(d["tracks"]) == {"song_a", "song_b"}
    assert d["mean"]["vocals"]["usdr"] > 0 and d["mean"]["vocals"]["sdr"] is not None
    md = (rep / "separation.md").read_text()
    assert "| vocals |" in md and "![" in md
    pngs = sorted(p.name for p in rep.glob("*.png"))
    assert "separation_usdr_tracks.png" in pngs and "separation_sdr_tracks.png" in pngs
    assert any(n.endswith("_spectrogram.png") for n in pngs)
    assert all((rep / n).read_bytes()[:8] == PNG for n in pngs)


def test_separation_cli_error_is_one_line(tmp_path, capsys):
    assert main(["eval", "separation", "--reference", str(tmp_path / "nope"),
                 "--estimate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "not a folder" in err and err.count("\n") == 1


def test_cer_classification_and_listening_commands(tmp_path, capsys):
    (tmp_path / "ref.json").write_text(json.dumps({"a": "hello world", "b": "good morning"}))
    (tmp_path / "hyp.tsv").write_text("a\thello duck\nb\tgood morning\n")
    rep = tmp_path / "rep"
    assert main(["eval", "cer", "--reference", str(tmp_path / "ref.json"), "--hypothesis",
                 str(tmp_path / "hyp.tsv"), "--report", str(rep)]) == 0
    assert "CER 0.2174" in capsys.readouterr().out  # 5 edits / 23 characters
    assert json.loads((rep / "cer.json").read_text())["overall"]["wer"] == pytest.approx(0.25)

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 30)
    scores = np.eye(3)[y] * 2 + rng.standard_normal((30, 3))
    np.savez(tmp_path / "pred.npz", labels=y, scores=scores, class_names=np.array(["x", "y", "z"]))
    assert main(["eval", "classification", "--predictions", str(tmp_path / "pred.npz"),
                 "--logits", "--report", str(rep)]) == 0
    assert (rep / "classification_confusion.png").read_bytes()[:8] == PNG
    assert "accuracy" in (rep / "classification.md").read_text()

    db = str(tmp_path / "mos.sqlite")
    audio.save(tmp_path / "a.wav", np.zeros((1, 800), np.float32), 8000)
    assert main(["eval", "listening", "create", "--db", db, "t1"]) == 0
    assert main(["eval", "listening", "add", "--db", db, "t1", "--system", "gt",
                 str(tmp_path / "a.wav")]) == 0
    for who, s in (("ann", 4), ("bob", 5)):
        assert main(["eval", "listening", "rate", "--db", db, "--listener", who, "1", str(s)]) == 0
    assert main(["eval", "listening", "mos", "--db", db, "t1", "--report", str(rep)]) == 0
    assert "| gt | 4.50 |" in capsys.readouterr().out
    assert (rep / "listening_mos.png").read_bytes()[:8] == PNG
    assert main(["eval", "listening", "export", "--db", db, "t1", "--out",
                 str(tmp_path / "r.csv")]) == 0
    assert (tmp_path / "r.csv").read_text().count("\n") == 3
    assert main(["eval", "listening", "rate", "--db", db, "--listener", "ann", "1", "7"]) == 1


def test_conversion_command_writes_f0_and_spectrogram_plots(tmp_path, capsys):
    from discovervoice.testsignals import harmonic_voice

    ref, est = tmp_path / "ref", tmp_path / "est"
    ref.mkdir()
    est.mkdir()
    audio.save(ref / "u1.wav", harmonic_voice(200.0, formant=800.0), 16000)
    audio.save(est / "u1.wav", harmonic_voice(205.0, formant=850.0, seed=3), 16000)
    rep = tmp_path / "rep"
    assert main(["eval", "conversion", "--reference", str(ref), "--estimate", str(est),
                 "--speaker-encoder", "none", "--f0-method", "dio", "--report", str(rep)]) == 0
    d = json.loads((rep / "conversion.json").read_text())
    assert d["items"]["u1"]["raw_pitch_accuracy"] > 0.8
    assert d["settings"]["mcd"]["order"] == 24
    for name in ("conversion_mcd.png", "conversion_u1_f0.png", "conversion_u1_spectrogram.png"):
        assert (rep / name).read_bytes()[:8] == PNG
    assert "MCD (dB)" in capsys.readouterr().out


def test_compare_reports(tmp_path, capsys):
    for name, v in (("irm", 12.0), ("mix", -3.0)):
        d = tmp_path / name
        d.mkdir()
        (d / "separation.json").write_text(json.dumps({
            "kind": "separation", "mean": {"vocals": {"usdr": v, "sdr": v + 0.5},
                                           "drums": {"usdr": v - 2, "sdr": None}}}))
    out = tmp_path / "cmp"
    assert main(["eval", "compare", str(tmp_path / "irm" / "separation.json"),
                 str(tmp_path / "mix" / "separation.json"), "--labels", "IRM", "Mixture",
                 "--out", str(out)]) == 0
    md = (out / "compare.md").read_text()
    assert "| IRM | 12.00 | 12.50 |" in md and "| Mixture | -3.00 | -2.50 |" in md
    assert (out / "compare_usdr.png").read_bytes()[:8] == PNG
    (tmp_path / "bad.json").write_text(json.dumps({"kind": "cer"}))
    assert main(["eval", "compare", str(tmp_path / "bad.json"), "--out", str(out)]) == 1

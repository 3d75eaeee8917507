"""`discovervoice enhance` (run / train / evaluate) and `discovervoice transcribe`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from discovervoice import audio
from discovervoice.cli import main
from discovervoice.corpus.mix import coloured_noise, mix_at_snr

SR = 16000


def _pairs(root, n=3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.2 * SR)) / SR
    for split in ("train", "valid", "test"):
        for i in range(n):
            x = sum(np.sin(2 * np.pi * (120 + 15 * i) * k * t) / k for k in range(1, 10))
            clean = (0.05 * x * np.clip(np.sin(2 * np.pi * 2 * t), 0, None)).astype(np.float32)
            snr = (15.0, 20.0, 25.0)[i % 3]
            noisy, _, _ = mix_at_snr(clean, coloured_noise(clean.size, "white", rng), snr)
            audio.save(root / "noisy_speech" / split / "clean" / f"{i:03d}.wav", clean, SR)
            audio.save(root / "noisy_speech" / split / "noisy" / f"{i:03d}.wav",
                       noisy.astype(np.float32), SR)
    return root


def test_train_run_and_evaluate_from_the_command_line(tmp_path, capsys):
    corpus = _pairs(tmp_path / "corpus")
    run = tmp_path / "run"
    code = main(["enhance", "train", "--data", str(corpus), "--out", str(run), "--steps", "2",
                 "--batch-size", "2", "--segment-seconds", "0.5", "--hidden", "8",
                 "--layers", "1", "--channels", "4,8", "--valid-every", "1",
                 "--export", str(tmp_path / "dv-test.safetensors")])
    assert code == 0
    assert (tmp_path / "dv-test.safetensors").exists()
    log = (run / "train.log").read_text()
    assert "valid 3 pairs" in log          # found noisy_speech/valid next to train

    # enhance a 44.1 kHz stereo file: the output keeps the input's rate, channels and length
    src = tmp_path / "in.wav"
    stereo = np.stack([np.sin(np.arange(44100) / 20.0), np.cos(np.arange(44100) / 30.0)])
    audio.save(src, 0.1 * stereo.astype(np.float32), 44100)
    out = tmp_path / "out.wav"
    assert main(["enhance", str(src), "-o", str(out), "--model",
                 str(tmp_path / "dv-test.safetensors")]) == 0
    y, sr = audio.read(out)
    assert sr == 44100 and y.shape == (2, 44100)
    assert main(["enhance", str(src), "-o", str(tmp_path / "o16.wav"), "--model-rate",
                 "--method", "mmse-stsa"]) == 0
    y16, sr16 = audio.read(tmp_path / "o16.wav")
    assert sr16 == 16000 and y16.shape == (2, 16000)

    capsys.readouterr()
    rep = tmp_path / "report"
    assert main(["enhance", "evaluate", "--data", str(corpus), "--split", "test",
                 "--model", str(tmp_path / "dv-test.safetensors"), "--no-dnsmos",
                 "--methods", "noisy,mmse-stsa,crnn", "--report", str(rep)]) == 0
    md = capsys.readouterr().out
    assert "| 15 (n=1) | mmse-stsa |" in md and "| all | crnn |" in md
    result = json.loads((rep / "report.json").read_text())
    assert set(result["table"]) == {"15.0", "20.0", "25.0"}
    assert result["table"]["20.0"]["noisy"]["si_sdri"] == pytest.approx(0.0)
    assert result["table"]["20.0"]["noisy"]["si_sdr"] == pytest.approx(20.0, abs=0.1)


def test_enhance_errors_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "discovervoice.cli", "enhance",
                        str(tmp_path / "nope.wav"), "-o", str(tmp_path / "o.wav")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "nope.wav" in r.stderr
    r = subprocess.run([sys.executable, "-m", "discovervoice.cli", "enhance", "train", "--data",
                        str(tmp_path), "--out", str(tmp_path / "run")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "no clean/ and noisy/" in r.stderr


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_transcribe_command_prints_text_words_and_cer(tmp_path, capsys):
    wav = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "130", "-w", str(wav),
                    "one two three"], check=True)
    assert main(["transcribe", str(wav), "--reference", "one two three", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["backend"] == "pocketsphinx" and 0.0 <= d["scores"]["cer"] <= 1.0
    assert d["words"] and all(w["start"] < w["end"] for w in d["words"])
    r = subprocess.run([sys.executable, "-m", "discovervoice.cli", "transcribe", str(wav),
                        "--language", "de"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip() == ("error: pocketsphinx: unsupported language 'de'; this model "
                                "has en (use --backend whisper for other languages)")


def test_evaluate_reads_the_corpus_manifest_for_snr_text_and_language(tmp_path):
    from discovervoice.enhance import data as pairdata
    from discovervoice.enhance.evaluate import evaluate

    corpus = _pairs(tmp_path / "corpus")
    test = corpus / "noisy_speech" / "test"
    items = [{"path": f"noisy_speech/test/noisy/{i:03d}.wav", "snr_db": 99.0 + i,
              "language": lang, "text": f"sentence {i}"}
             for i, lang in enumerate(["en-us", "de", "en-uk"])]
    (test / "manifest.json").write_text(json.dumps(items))
    meta = pairdata.load_metadata(test)
    pairs = pairdata.find_pairs(test)
    assert pairdata.transcript_of(test, pairs[1], meta) == "sentence 1"
    r = evaluate(corpus, "test", methods=["noisy"], use_dnsmos=False, languages=["en"])
    assert r["files"] == 2 and set(r["table"]) == {99.0, 101.0}     # SNR from the manifest
    from discovervoice.errors import DataError

    with pytest.raises(DataError, match="no pairs in the languages"):
        evaluate(corpus, "test", methods=["noisy"], use_dnsmos=False, languages=["ja"])


def test_evaluate_keeps_the_pairs_of_the_speakers_asked_for(tmp_path):
    from discovervoice.enhance.evaluate import evaluate
    from discovervoice.errors import DataError

    corpus = _pairs(tmp_path / "corpus")
    test = corpus / "noisy_speech" / "test"
    items = [{"path": f"noisy_speech/test/noisy/{i:03d}.wav", "snr_db": 10.0 * i, "speaker": spk}
             for i, spk in enumerate(["klettres-de", "mbrola-us1", "klettres-ru"])]
    (test / "manifest.json").write_text(json.dumps(items))
    r = evaluate(corpus, "test", methods=["noisy"], use_dnsmos=False, speakers=["klettres-"])
    assert r["files"] == 2 and set(r["table"]) == {0.0, 20.0} and r["speakers"] == ["klettres-"]
    with pytest.raises(DataError, match="no pairs by the speakers"):
        evaluate(corpus, "test", methods=["noisy"], use_dnsmos=False, speakers=["fillets-"])

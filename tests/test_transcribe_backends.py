"""Transcription: CER/WER on known strings, language checks per backend, the Whisper
loading path on a tiny checkpoint built here (config + byte-level BPE tokenizer + feature
extractor, the Hugging Face folder format), pocketsphinx on synthetic speech."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from discovervoice.transcribe.api import (PocketSphinxTranscriber, Transcript,
                                          UnsupportedLanguageError, error_rates,
                                          load_transcriber, load_whisper,
                                          whisper_language_code)


def test_cer_and_wer_on_known_strings():
    r = error_rates("hello world", "hello word")
    assert r["cer"] == pytest.approx(1 / 11)          # one deletion over 11 characters
    assert r["wer"] == pytest.approx(1 / 2)
    assert error_rates("Hello, World!", "hello world")["cer"] == 0.0   # normalised
    assert error_rates("Hello, World!", "hello world", normalize=False)["cer"] > 0
    assert error_rates("abc", "xyz")["cer"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="empty"):
        error_rates("  ...  ", "anything")


def test_language_codes_and_unknown_languages():
    assert whisper_language_code("English") == "en"
    assert whisper_language_code("de-AT") == "de"
    assert whisper_language_code("fr") == "fr"
    with pytest.raises(UnsupportedLanguageError, match="whisper: unsupported language 'klingon'"):
        whisper_language_code("klingon")
    with pytest.raises(UnsupportedLanguageError, match="pocketsphinx: unsupported language 'de'"):
        load_transcriber("pocketsphinx", language="de")
    with pytest.raises(UnsupportedLanguageError, match="hmm/dict/lm"):
        PocketSphinxTranscriber(language="cs")
    with pytest.raises(ValueError, match="unknown transcription backend"):
        load_transcriber("kaldi")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-to-printable-character table (Whisper's BPE alphabet)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    """A randomly initialised 1-layer Whisper saved as a Hugging Face folder, knowing the
    languages en and de, with alignment heads (so word timestamps run)."""
    import torch
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperProcessor,
                              WhisperTokenizer)

    vocab = {c: i for i, c in enumerate(_bytes_to_unicode().values())}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    langs = ["en", "de"]
    specials = (["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{x}|>" for x in langs]
                + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
                   "<|nospeech|>", "<|notimestamps|>"]
                + [f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    tok = WhisperTokenizer(vocab=vocab, merges=merges)
    tok.add_tokens(specials, special_tokens=True)
    ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    cfg = WhisperConfig(vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2,
                        encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=80,
                        max_target_positions=64, pad_token_id=eot, bos_token_id=eot,
                        eos_token_id=eot, decoder_start_token_id=sot, suppress_tokens=[],
                        begin_suppress_tokens=[])
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot, bos_token_id=eot,
        lang_to_id={f"<|{x}|>": ids[f"<|{x}|>"] for x in langs},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], is_multilingual=True, max_length=12,
        alignment_heads=[[0, 0], [0, 1]], begin_suppress_tokens=[], suppress_tokens=[])
    d = tmp_path_factory.mktemp("tiny-whisper")
    model.save_pretrained(d)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(), tokenizer=tok).save_pretrained(d)
    return d


def test_tiny_whisper_loads_checks_languages_and_transcribes(tiny_whisper):
    t = load_whisper(tiny_whisper)
    assert t.sample_rate == 16000
    assert t.languages == ("de", "en") and t.word_timestamps
    # tokenizer round trip survives save/load
    tok = t.processor.tokenizer
    assert tok.decode(tok("hello the world")["input_ids"], skip_special_tokens=True) == \
        "hello the world"
    with pytest.raises(UnsupportedLanguageError, match="'French' \\(fr\\) is not in this checkpoint; it has: de, en"):
        t.check_language("French")
    with pytest.raises(UnsupportedLanguageError):
        t.transcribe(np.zeros(16000, np.float32), language="xx-unknown")
    x = (0.1 * np.random.default_rng(0).standard_normal((2, 24000))).astype(np.float32)
    r = t.transcribe(x, language="German")
    assert isinstance(r, Transcript) and r.backend == "whisper" and r.language == "de"
    assert isinstance(r.text, str)
    for w in r.words:
        assert 0.0 <= w.start <= w.end <= 1.5


def test_whisper_through_the_registry_factory(tiny_whisper):
    from discovervoice import weights

    t = weights.load_model(tiny_whisper, spec_name="whisper_tiny")
    assert t.name == "whisper_tiny" and "en" in t.languages
    t2 = load_transcriber("whisper", model=str(tiny_whisper), language="en")
    assert t2.languages == t.languages
    with pytest.raises(UnsupportedLanguageError):
        load_transcriber("whisper", model=str(tiny_whisper), language="ja")


def test_missing_whisper_checkpoint_names_the_fetch_command(tmp_path, monkeypatch):
    from discovervoice.errors import WeightsError

    monkeypatch.setenv("DISCOVERVOICE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsError, match="discovervoice weights fetch whisper_tiny"):
        load_transcriber("whisper")
    with pytest.raises(WeightsError, match="not a Whisper checkpoint folder"):
        load_whisper(tmp_path)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_pocketsphinx_transcribes_synthetic_speech_with_word_times(tmp_path):
    from discovervoice import audio

    wav = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "130", "-w", str(wav),
                    "one two three four five"], check=True)
    x = audio.load(wav, 16000, channels=1)
    dur = x.shape[1] / 16000
    t = load_transcriber("pocketsphinx", language="English")
    r = t.transcribe(x)
    assert r.backend == "pocketsphinx" and r.language == "en" and r.words
    starts = [w.start for w in r.words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start < w.end <= dur + 0.05 for w in r.words)
    assert r.text == " ".join(w.text for w in r.words)
    # numbers spoken slowly are within reach of the shipped US-English model
    assert error_rates("one two three four five", r.text)["wer"] <= 0.8

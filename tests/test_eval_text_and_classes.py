"""CER/WER against jiwer's documented examples and a hand Levenshtein; classifier metrics
against scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest

from discovervoice.errors import DataError
from discovervoice.eval import cer, classification as cl


def levenshtein(a, b) -> int:
    """Plain dynamic-programming edit distance (the independent reference)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


# --------------------------------------------------------------------------- CER / WER

def test_jiwer_documented_examples():
    # README: wer("hello world", "hello duck") == 0.5
    assert cer.error_rates("hello world", "hello duck")["wer"] == 0.5
    # README, empty references (jiwer >= 4): every hypothesis character / word is an insertion
    assert cer.error_rates("", "", normalize=False)["cer"] == 0
    assert cer.error_rates("", "a", normalize=False)["cer"] == 1
    assert cer.error_rates("", "abcde", normalize=False)["cer"] == 5
    assert cer.error_rates("", "peaceful silence", normalize=False)["wer"] == 2


def test_cer_matches_hand_levenshtein_over_a_corpus():
    refs = ["hello world", "the quick brown fox", "singing in the rain"]
    hyps = ["hello duck", "the quick brown box jumps", "sing in rain"]
    r = cer.error_rates(refs, hyps)
    edits = sum(levenshtein(a, b) for a, b in zip(refs, hyps))
    assert r["cer"] == pytest.approx(edits / sum(len(a) for a in refs))
    wedits = sum(levenshtein(a.split(), b.split()) for a, b in zip(refs, hyps))
    assert r["wer"] == pytest.approx(wedits / sum(len(a.split()) for a in refs))
    # "hello world" -> "hello duck": 4 substitutions and 1 deletion out of 11 characters
    one = cer.error_rates("hello world", "hello duck")
    assert one["cer"] == pytest.approx(5 / 11)
    assert (one["char_substitutions"], one["char_deletions"]) == (4, 1)


def test_normalisation_and_raw_mode():
    assert cer.error_rates("Hello, World!", "hello world")["cer"] == 0.0
    assert cer.error_rates("Hello, World!", "hello world", normalize=False)["cer"] > 0
    with pytest.raises(DataError, match="2 references but 1"):
        cer.error_rates(["a", "b"], ["a"])


@pytest.mark.parametrize("fmt", ["dir", "json", "jsonl", "tsv", "csv"])
def test_read_transcripts_formats(tmp_path, fmt):
    data = {"u1": "hello world", "u2": "good, morning"}
    if fmt == "dir":
        p = tmp_path / "t"
        p.mkdir()
        for k, v in data.items():
            (p / f"{k}.txt").write_text(v + "\n")
    elif fmt == "json":
        p = tmp_path / "t.json"
        p.write_text(json.dumps(data))
    elif fmt == "jsonl":
        p = tmp_path / "t.jsonl"
        p.write_text("\n".join(json.dumps({"id": k, "text": v}) for k, v in data.items()))
    elif fmt == "tsv":
        p = tmp_path / "t.tsv"
        p.write_text("id\ttext\n" + "\n".join(f"{k}\t{v}" for k, v in data.items()))
    else:
        p = tmp_path / "t.csv"
        p.write_text("\n".join(f'{k},"{v}"' for k, v in data.items()))
    assert cer.read_transcripts(p) == data


def test_score_transcripts_and_errors(tmp_path):
    r = cer.score_transcripts({"a": "one two", "b": "three", "c": "x"},
                              {"a": "one too", "b": "three", "z": "y"})
    assert set(r["utterances"]) == {"a", "b"}
    assert r["missing_hypotheses"] == ["c"] and r["extra_hypotheses"] == ["z"]
    assert r["utterances"]["b"]["cer"] == 0.0
    with pytest.raises(DataError, match="no utterance id"):
        cer.score_transcripts({"a": "x"}, {"b": "x"})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    with pytest.raises(DataError, match="bad.jsonl:1"):
        cer.read_transcripts(bad)
    xml = tmp_path / "x.xml"
    xml.write_text("<t/>")
    with pytest.raises(DataError, match="unknown transcript format"):
        cer.read_transcripts(xml)


# --------------------------------------------------------------------------- classification

def _predictions(seed=0, n=200, k=6):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.standard_normal((n, k)) + 2.0 * np.eye(k)[y] * rng.random((n, 1))
    return y, logits


def test_classification_metrics_match_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    y, logits = _predictions()
    p = cl.softmax(logits)
    pred = p.argmax(1)
    assert cl.accuracy(y, pred) == pytest.approx(sk.accuracy_score(y, pred))
    for k in (1, 2, 3, 5):
        assert cl.top_k_accuracy(y, p, k) == pytest.approx(
            sk.top_k_accuracy_score(y, p, k=k, labels=np.arange(6)))
    assert cl.cross_entropy(y, p) == pytest.approx(sk.log_loss(y, p, labels=np.arange(6)))
    assert cl.cross_entropy(y, logits, from_logits=True) == pytest.approx(
        sk.log_loss(y, p, labels=np.arange(6)), rel=1e-9)
    np.testing.assert_array_equal(cl.confusion_matrix(y, pred, 6),
                                  sk.confusion_matrix(y, pred, labels=np.arange(6)))


def test_cross_entropy_hand_case_and_top_k_ties():
    y = np.array([0, 1])
    p = np.array([[0.5, 0.5], [0.25, 0.75]])
    assert cl.cross_entropy(y, p) == pytest.approx(-(np.log(0.5) + np.log(0.75)) / 2)
    # a tie at the top counts for the true class when k allows both
    assert cl.top_k_accuracy(np.array([1]), np.array([[0.5, 0.5]]), 1) == 1.0
    assert cl.top_k_accuracy(np.array([2]), np.array([[0.5, 0.3, 0.2]]), 2) == 0.0


def test_classification_report_and_plot(tmp_path):
    y, logits = _predictions(1, 60, 4)
    r = cl.classification_report(y, logits, from_logits=True, class_names=list("abcd"))
    assert r["n"] == 60 and set(r["top_k_accuracy"]) == {"1", "3"}
    assert r["top_k_accuracy"]["1"] == pytest.approx(r["accuracy"])
    assert np.array(r["confusion_matrix"]).sum() == 60
    json.dumps(r)
    png = cl.plot_confusion_matrix(np.array(r["confusion_matrix"]), r["class_names"],
                                   tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_classification_errors():
    with pytest.raises(DataError, match="integer"):
        cl.accuracy(np.array([0.5]), np.array([0]))
    with pytest.raises(DataError, match=r"shape \[N=2, K\]"):
        cl.cross_entropy(np.array([0, 1]), np.ones((3, 2)) / 2)
    with pytest.raises(DataError, match="lie in"):
        cl.top_k_accuracy(np.array([3]), np.ones((1, 2)) / 2)
    with pytest.raises(DataError, match="logits"):
        cl.cross_entropy(np.array([0]), np.array([[-1.0, 2.0]]))


def test_expected_calibration_error_hand_computed():
    from discovervoice.eval.classification import expected_calibration_error

    y = np.array([0, 0, 1, 1])
    # confidences 0.9 (right), 0.9 (wrong), 0.6 (right), 0.6 (right)
    p = np.array([[0.9, 0.1], [0.1, 0.9], [0.4, 0.6], [0.4, 0.6]])
    # bin 0.9: accuracy 0.5 vs confidence 0.9 -> 0.4, weight 1/2; bin 0.6: 1.0 vs 0.6 -> 0.4
    assert expected_calibration_error(y, p) == pytest.approx(0.4)
    calibrated = np.array([[0.5, 0.5]] * 4)
    assert expected_calibration_error(np.array([0, 1, 0, 1]), calibrated) == pytest.approx(0.0)
    with pytest.raises(DataError):
        expected_calibration_error(y, p * 2)

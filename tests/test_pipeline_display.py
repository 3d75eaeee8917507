"""What the app shows people: no server paths, corpus ids explained, choices that work."""

import pytest

from discovervoice import pipeline


def test_corpus_voice_names_say_what_they_are():
    label = pipeline.singer_label("mbrola-es3")
    assert label.startswith("mbrola-es3 (synthetic voice")
    assert pipeline.singer_label("Some Artist") == "Some Artist"


def test_song_rows_never_show_a_server_path():
    here = {"singer": "mbrola-es3", "title": "bach/bwv66.6 (song-0001)",
            "file_or_link": "/srv/secret/lib/song-0001/mixture.wav", "available": True}
    row = pipeline.song_row(here)
    assert row[1].startswith("Bach chorale BWV 66.6")
    assert "/srv/secret" not in " ".join(row) and "mixture.wav" in row[2]
    gone = dict(here, title="Hello", available=False)
    assert "/srv" not in pipeline.song_row(gone)[2] and "not on this machine" in pipeline.song_row(gone)[2]
    corpus_gone = dict(here, available=False)
    assert "corpus build" in pipeline.song_row(corpus_gone)[2]
    link = dict(gone, file_or_link="https://example.org/a")
    assert pipeline.song_row(link)[2] == "https://example.org/a"


def test_every_offered_choice_works_offline_or_says_it_needs_a_download(monkeypatch, tmp_path):
    """The app's dropdowns (separation model, F0 method): a choice marked ready loads and
    runs here without the network; any other is labelled as needing a download."""
    import numpy as np

    monkeypatch.setenv("DISCOVERVOICE_CACHE", str(tmp_path / "empty-cache"))
    from discovervoice.convert import f0 as F0
    from discovervoice.separation.api import Separator

    sep = pipeline.separation_choices()
    assert any(c.value == "default" and c.ready for c in sep)
    for c in sep:
        if c.ready:
            Separator(c.value)                       # loads from weights/, no network
        else:
            assert "download" in c.label, c.label
    t = np.arange(16000) / 16000        # a 1-s harmonic tone at 220 Hz (a voice-like source)
    tone = sum(0.3 / h * np.sin(2 * np.pi * 220 * h * t) for h in range(1, 6)).astype(np.float32)
    for c in pipeline.f0_choices():
        if c.ready and c.value != "crepe":          # full CREPE is slow on CPU; tested elsewhere
            f = np.asarray(F0.extract_f0(tone, c.value))
            assert np.median(f[f > 0]) == pytest.approx(220, rel=0.05), c.value
        elif not c.ready:
            assert "download" in c.label, c.label

"""What the Which-singer tab shows people: no server paths, corpus ids explained."""

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

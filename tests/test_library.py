"""``discovervoice library``: a small real library (12 short corpus songs by 3 MBROLA voices,
tagged with mutagen in flac/ogg/mp3, plus untagged wavs in artist folders) indexed with the
embedded separator and classifier, locally and on a local Ray instance (identical outputs),
resumed after a killed run, updated incrementally, with the failure cases of issue 17 (an
undecodable file, silence, a 2-hour file, odd tag characters, two songs with one title, the
same bytes twice), and ``which-singer --model LIBRARY`` naming the right artist.

Needs espeak-ng, MBROLA voices and FluidSynth + a GM soundfont for the corpus songs (skipped
with the reason otherwise; CI installs them with scripts/install-system-deps.sh).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("mutagen")
pytest.importorskip("fluidsynth")
pytest.importorskip("music21")

from discovervoice.cli import main  # noqa: E402
from tests.library_music import ARTISTS, build_songs, missing_tools, tag as _tag  # noqa: E402
from tests.library_music import write_test_library  # noqa: E402

_missing = missing_tools()
pytestmark = [
    pytest.mark.skipif(bool(_missing), reason=f"corpus tools missing ({_missing}); run "
                                              "scripts/install-system-deps.sh"),
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.timeout(600),
]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_songs(tmp_path_factory.mktemp("corpus"), songs=12, seconds=5.0, seed=3)


@pytest.fixture(scope="module")
def music(corpus, tmp_path_factory):
    """MUSIC_DIR: 12 songs (9 tagged flac/ogg/mp3, 3 wav by folder or CSV), a corrupt mp3,
    a tagged silent flac, a 2-hour flac, and a byte-identical copy of one song
    (:func:`tests.library_music.write_test_library`)."""
    root = write_test_library(corpus, tmp_path_factory.mktemp("music"))
    assert len(list(root.rglob("track*"))) == 9
    return root


def _index(music: Path, out: Path, *extra: str) -> dict:
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["library", "index", str(music), "-o", str(out), "--artists",
                   str(music / "artists.csv"), "--json", *extra])
    assert rc == 0
    return json.loads(buf.getvalue())


@pytest.fixture(scope="module")
def local_lib(music, tmp_path_factory):
    out = tmp_path_factory.mktemp("lib") / "LIBRARY"
    t = time.perf_counter()
    rep = _index(music, out)
    rep["wall"] = time.perf_counter() - t
    return out, rep


def _gallery(lib: Path) -> tuple[list[str], np.ndarray, np.ndarray, str]:
    from safetensors.numpy import load_file

    meta = json.loads((lib / "discovervoice.json").read_text())
    return (meta["gallery"]["names"], load_file(str(lib / "gallery.safetensors"))["centroids"],
            load_file(str(lib / "catalogue_embeddings.safetensors"))["embeddings"],
            (lib / "catalogue.csv").read_text(encoding="utf-8"))


def test_library_index_writes_a_gallery_per_artist_and_records_failures(local_lib):
    lib, rep = local_lib
    assert rep["songs"] == 12 and rep["artists"] == 3 and rep["processed"] == 15
    names, cents, embs, cat = _gallery(lib)
    assert names == sorted(ARTISTS.values())             # odd characters kept, one per artist
    assert cents.shape == (3, 192) and embs.shape == (12, 192)
    assert np.allclose(np.linalg.norm(embs, axis=1), 1, atol=1e-4)
    assert cat.count("Same Title") == 3                   # songs sharing a title: all kept
    assert re.search(r"Chorale \d+ \(live\)", cat)       # newline in a tag collapsed
    assert "From the CSV" in cat
    why = {Path(f["path"]).name: f for f in rep["failed"]}
    assert set(why) == {"broken.mp3", "silence.flac", "dj set.flac"}
    assert why["broken.mp3"]["type"] == "AudioLoadError"
    assert "silent" in why["silence.flac"]["reason"]
    assert "longer than" in why["dj set.flac"]["reason"]
    # the same bytes twice: processed once, the first path (sorted) catalogued
    assert [sorted(Path(x).name for x in d) for d in rep["duplicates"]] == [
        ["copy of track01.ogg", "track01.ogg"]]
    meta = json.loads((lib / "library.json").read_text(encoding="utf-8"))
    for a in meta["artists"].values():
        assert a["songs"] == 4 and a["voiced_seconds"] > 5
    s = _stats(lib)
    assert s["artists"] == 3 and s["songs"] == 12 and s["failures"] == 3
    assert 12 * 4 / 3600 < s["hours"] < 12 * 8 / 3600


def _stats(lib: Path) -> dict:
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["library", "stats", str(lib), "--json"]) == 0
    return json.loads(buf.getvalue())


def test_which_singer_on_the_library_names_the_artist_and_ranks_their_songs(local_lib, corpus,
                                                                            capsys):
    lib, _ = local_lib
    for voice, artist in ARTISTS.items():
        clip = corpus / "singers" / "train" / voice / "sung_000.wav"
        capsys.readouterr()
        assert main(["which-singer", str(clip), "--model", str(lib), "--json",
                     "--per-singer", "4"]) == 0
        res = json.loads(capsys.readouterr().out)
        assert res["scoring"] == "gallery"
        assert res["singers"][0]["name"] == artist, res["singers"]
        recs = [r for r in res["recommendations"] if r["singer"] == artist]
        assert len(recs) == 4 and all(r["available"] for r in recs)
        sims = [r["similarity"] for r in recs]
        assert sims == sorted(sims, reverse=True)          # the song's own vocals decide order
        assert res["recommendations"][0]["singer"] == artist


def test_second_run_is_incremental(local_lib, music, tmp_path):
    lib, _ = local_lib
    work = tmp_path / "LIB"
    shutil.copytree(lib, work)
    rep = _index(music, work)
    assert rep["processed"] == 0 and rep["reused"] == 15
    assert _gallery(work)[:2][0] == _gallery(lib)[0]
    assert np.array_equal(_gallery(work)[1], _gallery(lib)[1])
    # a new song: only it is processed; a retagged-artist override needs no processing
    new = tmp_path / "more"
    shutil.copytree(music, new)
    x, sr = sf.read(music / "track00.flac", dtype="float32")
    sf.write(new / "remix.flac", x[: len(x) // 2] * 0.5, sr)
    _tag(new / "remix.flac", "Ada Quinn", "Remix")
    rep = _index(new, work)
    assert rep["processed"] == 1 and rep["songs"] == 13


@pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals")
def test_killed_run_resumes_where_it_stopped(local_lib, music, tmp_path):
    lib, _ = local_lib
    out = tmp_path / "LIB"
    cmd = [sys.executable, "-m", "discovervoice", "library", "index", str(music), "-o", str(out),
           "--artists", str(music / "artists.csv")]
    proc = subprocess.Popen(cmd, cwd=str(REPO), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and len(list((out / "index").glob("*.json"))) < 3:
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = len(list((out / "index").glob("*.json")))
    assert 3 <= done < 15 and not (out / "library.json").exists()
    rep = _index(music, out)
    assert rep["reused"] == done and rep["processed"] == 15 - done
    a, b = _gallery(out), _gallery(lib)
    assert a[0] == b[0] and a[3] == b[3]
    assert np.allclose(a[1], b[1], atol=1e-6) and np.allclose(a[2], b[2], atol=1e-6)


def test_ray_data_gives_the_same_library(local_lib, music, tmp_path):
    ray = pytest.importorskip("ray")
    lib, rep_local = local_lib
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        t = time.perf_counter()
        rep = _index(music, tmp_path / "LIB", "--workers", "2")
        wall = time.perf_counter() - t
    finally:
        ray.shutdown()
    assert rep["mode"] == "ray" and rep["processed"] == 15
    a, b = _gallery(tmp_path / "LIB"), _gallery(lib)
    assert a[0] == b[0] and a[3] == b[3]
    assert np.allclose(a[1], b[1], atol=1e-6) and np.allclose(a[2], b[2], atol=1e-6)
    assert sorted(f["reason"] for f in rep["failed"]) == sorted(
        f["reason"] for f in rep_local["failed"])
    print(f"ray {wall:.1f} s vs local {rep_local['wall']:.1f} s")


def test_scan_tags_folder_and_csv_fallbacks(music):
    from discovervoice.library.scan import clean_text, scan

    songs, problems = scan([music], artists_csv=music / "artists.csv")
    by = {Path(s.path).name: s for s in songs}
    assert by["track00.flac"].artist_source == "tag" and by["track00.flac"].title == "Same Title"
    assert by["take 3.wav"].artist == "Ada Quinn" and by["take 3.wav"].artist_source == "folder"
    csv_rows = [s for s in songs if s.artist_source == "csv"]
    assert csv_rows and all(s.title == "From the CSV" for s in csv_rows)
    assert by["dj set.flac"].duration == pytest.approx(7200, abs=1)
    assert by["copy of track01.ogg"].sha256 == by["track01.ogg"].sha256
    assert problems == []
    assert clean_text(" a\n\tb\x00  c ") == "a b c"


def test_not_a_library_is_refused_with_the_folder_named(tmp_path, music):
    from discovervoice.errors import DataError
    from discovervoice.library.index import index_library, stats

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    with pytest.raises(DataError, match="not a DiscoverVoice library"):
        index_library([music], tmp_path / "other")
    with pytest.raises(DataError, match="no library.json"):
        stats(tmp_path / "other")
    with pytest.raises(DataError, match="no audio files"):
        index_library([tmp_path / "other"], tmp_path / "new")


# --------------------------------------------------------------------------- failure policy
# One file's problem never stops a run: SongWorker.process returns a "failed" record with
# the reason. These use a worker without models (a separator that must not be reached), so
# they run in a second.

def _bare_worker(max_minutes: float = 30.0):
    from discovervoice.library.index import SongWorker

    class MustNotSeparate:
        sample_rate = 44100

        def separate(self, audio, sample_rate=None):
            raise AssertionError("this file should have been refused before separation")

    w = SongWorker.__new__(SongWorker)          # no models loaded
    w.sep, w.clf, w.max_minutes, w.settings = MustNotSeparate(), None, max_minutes, {}
    return w


def _song(path: Path, duration: float | None = None) -> dict:
    return {"path": str(path), "sha256": "0" * 64, "duration": duration}


def test_an_undecodable_file_is_recorded_with_every_backends_reason(tmp_path):
    bad = tmp_path / "not audio.flac"
    bad.write_bytes(b"fLaC" + os.urandom(4000))
    text = tmp_path / "notes.wav"
    text.write_text("this is a text file\n", encoding="utf-8")
    w = _bare_worker()
    for p in (bad, text):
        r = w.process(_song(p))
        assert r["status"] == "failed" and r["type"] == "AudioLoadError", r
        assert p.name in r["reason"] and "soundfile" in r["reason"]
        assert "\n" not in r["reason"]                    # one line in library.json / stats


def test_a_silent_file_is_refused_before_separation(tmp_path):
    p = tmp_path / "silence.flac"
    sf.write(p, np.zeros((44100 * 3, 2), np.float32), 44100)
    r = _bare_worker().process(_song(p, 3.0))
    assert r["status"] == "failed" and r["type"] == "AudioError"
    assert "silent" in r["reason"]


def test_a_two_hour_file_is_skipped_from_its_header_without_decoding(tmp_path, monkeypatch):
    from discovervoice import audio
    from tests.library_music import write_long_flac

    long = write_long_flac(tmp_path / "dj set.flac", hours=2.0)

    def no_decoding(*a, **k):
        raise AssertionError("decoded")

    monkeypatch.setattr(audio, "read", no_decoding)
    w = _bare_worker(max_minutes=30)
    # length from the tags' reader (mutagen), and, when it could not tell, from the audio
    # loader's header check (libsndfile / ffprobe)
    for dur in (7200.0, None):
        r = w.process(_song(long, dur))
        assert r["status"] == "failed" and r["type"] == "DataError"
        assert "120.0 minutes long, longer than the limit of 30 minutes" in r["reason"]


def test_odd_tag_characters_are_kept_and_one_artist_spelled_two_ways_is_one(tmp_path):
    import unicodedata

    from discovervoice.classify.data import CatalogueEntry, read_catalogue, write_catalogue
    from discovervoice.library.scan import scan

    t = np.arange(44100) / 44100
    x = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    artist = 'AC/DC & "Sigur Rós" — 東京 ✨'
    title = 'It\'s "Back", 100% / B-side\r\n\tlive\x00'
    for name, spelled in (("a.flac", artist), ("b.mp3", unicodedata.normalize("NFD", artist)),
                          ("c.ogg", artist + "\n")):
        sf.write(tmp_path / name, x, 44100, format=name.rsplit(".", 1)[1].upper())
        _tag(tmp_path / name, spelled, title)
    songs, problems = scan([tmp_path])
    assert problems == [] and len(songs) == 3
    assert {s.artist for s in songs} == {artist}           # NFC, trailing newline dropped
    assert {s.title for s in songs} == {'It\'s "Back", 100% / B-side live'}
    assert {s.artist_source for s in songs} == {"tag"}
    # the catalogue CSV keeps them exactly (quotes, commas, slashes)
    write_catalogue(tmp_path / "catalogue.csv",
                    [CatalogueEntry(s.artist, s.title, s.path) for s in songs])
    back = read_catalogue(tmp_path / "catalogue.csv")
    assert [(e.singer, e.title) for e in back] == [(s.artist, s.title) for s in songs]


def test_songs_with_one_title_stay_distinct_catalogue_entries(local_lib):
    from collections import Counter

    from discovervoice.classify.classifier import SingerClassifier
    from discovervoice.classify.data import read_catalogue

    lib, _ = local_lib
    cat = read_catalogue(lib / "catalogue.csv")
    same = [i for i, e in enumerate(cat) if e.title == "Same Title"]
    assert len(same) == 3 and len({cat[i].location for i in same}) == 3
    artist, n = Counter(cat[i].singer for i in same).most_common(1)[0]
    assert n == 2                                        # one artist, two songs, one title
    embs = _gallery(lib)[2]
    a, b = [i for i in same if cat[i].singer == artist]
    assert not np.allclose(embs[a], embs[b])             # each keeps its own vocals
    recs = SingerClassifier.load(lib).recommend([artist], per_singer=10)
    both = [r for r in recs if r["title"] == "Same Title"]
    assert len(both) == 2 and both[0]["file_or_link"] != both[1]["file_or_link"]

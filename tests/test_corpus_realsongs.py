"""The real-songs corpus part: real recorded accompaniment + the corpus' vocals.

Built on a tiny music root made in the test from real recordings that the setup script
installs (``fillets-ng-data``'s game music, itself one of the train packages); the
development-set packages are stood in for by copies of those files under their folders.
Checks: MUSDB-layout two-stem songs with mixture = vocals + accompaniment, the licence of
every file recorded (DEP-5 per-file stanzas read), vocal-free songs with digitally silent
vocals, the development set's speakers and packages kept apart from train, tracks named
as sung left out, and the reserved packages refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("music21")

from discovervoice.corpus import realsongs as rs  # noqa: E402
from discovervoice.corpus import reserved, voices  # noqa: E402
from discovervoice.corpus.build import BuildConfig, build, read_manifest  # noqa: E402

FILLETS_MUSIC = Path("/usr/share/games/fillets-ng/music")
pytestmark = pytest.mark.skipif(
    not FILLETS_MUSIC.is_dir() or shutil.which("espeak-ng") is None
    or not voices.list_voices(kinds=("mbrola",)),
    reason="fillets-ng-data / espeak-ng / MBROLA voices missing; run "
           "scripts/install-system-deps.sh")

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
License: GPL-2+

Files: music/hr3-special.ogg
License: CC-BY-SA-3.0

Files: debian/*
License: GPL-2+
"""


@pytest.fixture(scope="module")
def music_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    src = sorted(FILLETS_MUSIC.glob("*.ogg"))[:3]
    fil = root / "usr/share/games/fillets-ng/music"
    fil.mkdir(parents=True)
    for f in src[:2]:
        shutil.copy(f, fil / f.name)
    shutil.copy(src[0], fil / "choir_theme.ogg")            # named as sung: never used
    hyper = root / "usr/share/hyperrogue/music"              # a dev package, stood in for
    hyper.mkdir(parents=True)
    shutil.copy(src[2], hyper / "hr3-special.ogg")
    doc = root / "usr/share/doc/hyperrogue-music"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(DEP5)
    return root


def test_tracks_licences_and_name_screen(music_root):
    tr = rs.find_tracks(music_root, ("fillets-ng-data",))
    assert len(tr) == 2 and all(t.licence == "GPL-2+" for t in tr)
    assert not any("choir" in t.path for t in tr)
    assert any("choir_theme" in p for p in rs.excluded_by_name(music_root))
    (dev,) = rs.find_tracks(music_root, ("hyperrogue-music",))
    assert dev.licence == "CC-BY-SA-3.0"                     # the file's own DEP-5 stanza


def test_reserved_packages_are_refused(music_root):
    for pkg in sorted(reserved.RESERVED_PACKAGES):
        with pytest.raises(reserved.ReservedMaterialError, match=pkg):
            rs.find_tracks(music_root, (pkg,))
        with pytest.raises(reserved.ReservedMaterialError):
            BuildConfig(out=str(music_root / "x"), parts=("real-songs",),
                        music_packages=(pkg,)).validate()
        with pytest.raises(reserved.ReservedMaterialError):
            reserved.check_split("train", packages=(pkg,))
        with pytest.raises(reserved.ReservedMaterialError):   # not even for evaluation
            reserved.check_split("test", packages=(pkg,))


def test_real_songs_part_builds_musdb_songs(music_root, tmp_path):
    cfg = BuildConfig(out=str(tmp_path / "c"), seed=3, parts=("real-songs",),
                      splits=("train", "valid"), real_songs=3, real_dev_songs=1,
                      real_song_seconds=5.0, real_silent_share=0.5,
                      music_root=str(music_root), music_packages=("fillets-ng-data",),
                      workers=1)
    build(cfg)
    items = read_manifest(tmp_path / "c", part="real-songs")
    assert sorted(it["split"] for it in items) == ["train", "train", "train", "valid"]
    for it in items:
        folder = tmp_path / "c" / it["path"]
        x = {k: sf.read(folder / f"{k}.wav", dtype="float32", always_2d=True)
             for k in ("mixture", "vocals", "accompaniment")}
        assert all(sr == 44100 and a.shape == (int(5.0 * 44100), 2) for a, sr in x.values())
        np.testing.assert_allclose(x["mixture"][0], x["vocals"][0] + x["accompaniment"][0],
                                   atol=1e-6)
        assert np.abs(x["accompaniment"][0]).max() > 0.01
        assert it["accompaniment"]["licence"] and it["licences"]
        assert it["accompaniment"]["licence"] in it["licences"]
        if it["vocals_silent"]:
            assert not np.any(x["vocals"][0]) and it["voices"] == []
        else:
            assert np.abs(x["vocals"][0]).max() > 0.01 and it["phrases"]
        if it["split"] == "valid":
            assert it["packages"] == ["hyperrogue-music"]
            assert it["accompaniment"]["licence"] == "CC-BY-SA-3.0"
            assert set(it["voices"]) <= rs.DEV_SPEAKERS
        else:
            assert it["packages"] == ["fillets-ng-data"]
            assert not set(it["voices"]) & rs.DEV_SPEAKERS
            assert "choir" not in it["accompaniment"]["file"]
    assert any(it["vocals_silent"] for it in items)
    assert any(not it["vocals_silent"] for it in items)

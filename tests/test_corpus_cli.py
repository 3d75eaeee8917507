"""``discovervoice corpus``: argument handling and the reserved-split guard."""

from __future__ import annotations

import json
import shutil

import pytest

from discovervoice.cli import main


def test_test_split_without_flag_is_refused_with_one_line(tmp_path, capsys):
    code = main(["corpus", "build", "-o", str(tmp_path / "c"), "--splits", "test"])
    err = capsys.readouterr().err
    assert code == 1
    assert "--include-reserved" in err and err.count("\n") == 1
    assert not (tmp_path / "c" / "songs").exists()


def test_bad_snr_list_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["corpus", "build", "-o", str(tmp_path), "--snrs", "15,loud"])
    assert exc.value.code == 2
    assert "15,20,25" in capsys.readouterr().err


def test_unknown_part_is_refused(tmp_path, capsys):
    assert main(["corpus", "build", "-o", str(tmp_path), "--parts", "songs,karaoke"]) == 1
    assert "karaoke" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("mbrola") is None,
                    reason="espeak-ng / mbrola not installed (scripts/install-system-deps.sh)")
def test_voices_lists_reserved_only_on_request(capsys):
    assert main(["corpus", "voices", "--json"]) == 0
    free = json.loads(capsys.readouterr().out)
    assert free and not any(v["reserved"] for v in free)
    assert main(["corpus", "voices", "--json", "--include-reserved"]) == 0
    allv = json.loads(capsys.readouterr().out)
    res = {v["id"] for v in allv if v["reserved"]}
    assert res and res <= {"mbrola-us2", "mbrola-en1", "mbrola-de4", "mbrola-fr3",
                           "mbrola-nl2", "mbrola-it2", "mbrola-es2", "mbrola-pt1",
                           "festival-kal", "festival-slt"}
    assert {v["id"] for v in free} | res == {v["id"] for v in allv}

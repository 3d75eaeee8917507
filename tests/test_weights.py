"""The weights registry: resolution order, checksums, atomic downloads, offline errors.

Downloads use ``file://`` URLs to files the tests write: no test reaches the network.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from discovervoice import weights
from discovervoice.cli import main
from discovervoice.errors import ChecksumError, WeightsError, WeightsUnavailableError


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("DISCOVERVOICE_CACHE", str(d))
    return d


def _publish(tmp_path: Path, payload: bytes, name="model.bin") -> tuple[str, str]:
    src = tmp_path / "server" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(payload)
    return src.as_uri(), hashlib.sha256(payload).hexdigest()


def _shipped(tmp_path: Path, spec: dict) -> Path:
    d = tmp_path / "weights"
    d.mkdir(exist_ok=True)
    (d / f"{spec['name']}.json").write_text(json.dumps(spec))
    return d


def test_published_list_has_real_sources():
    reg = weights.registry()
    for name in ("htdemucs", "htdemucs_ft", "htdemucs_ft_vocals", "mdx23c_instvoc_hq", "ast_audioset",
                 "hubert_base_rvc", "contentvec_best", "rvc_v2_f0G40k", "rmvpe", "utmos22_strong",
                 "whisper_tiny"):
        spec = reg[name]
        assert spec.files and all(f.url.startswith("https://") for f in spec.files)
        assert spec.licence and spec.sample_rate in (16000, 40000, 44100, 48000)
    # demucs names carry the sha256 prefix that demucs' repo.py checks
    assert reg["htdemucs"].files[0].filename == "955717e8-8726e21a.th"
    assert reg["htdemucs"].files[0].sha256 == "8726e21a"
    assert reg["htdemucs_ft_vocals"].files[0].filename.startswith("04573f0d")


def test_offline_error_names_file_url_and_fetch_command(cache):
    with pytest.raises(WeightsUnavailableError) as e:
        weights.resolve("htdemucs")
    msg = str(e.value)
    assert "955717e8-8726e21a.th" in msg
    assert "https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/955717e8-8726e21a.th" in msg
    assert "discovervoice weights fetch htdemucs" in msg


def test_unknown_name_lists_known(cache):
    with pytest.raises(WeightsError, match="unknown model 'nope'.*htdemucs"):
        weights.resolve("nope")


def test_resolution_order_local_then_shipped_then_cache_then_download(tmp_path, cache):
    url, digest = _publish(tmp_path, b"remote-bytes")
    spec = {"name": "dv-test", "task": "separation", "architecture": "X", "file_format": "bin",
            "sample_rate": 44100, "licence": "MIT", "shipped": "dv-test.bin",
            "files": [{"filename": "dv-test.bin", "url": url, "sha256": digest}]}
    shipped = _shipped(tmp_path, spec)

    # 4. nothing local: download (only when allowed), verified, into the cache
    with pytest.raises(WeightsUnavailableError, match="dv-test.bin"):
        weights.resolve("dv-test", shipped_dir=shipped)
    got = weights.resolve("dv-test", shipped_dir=shipped, download_missing=True, progress=False)
    assert got == cache / "dv-test" / "dv-test.bin" and got.read_bytes() == b"remote-bytes"
    # 3. cache is used without downloading again (server file gone)
    Path(url[len("file://"):]).unlink()
    assert weights.resolve("dv-test", shipped_dir=shipped) == got
    # 2. a shipped file wins over the cache
    (shipped / "dv-test.bin").write_bytes(b"shipped")
    assert weights.resolve("dv-test", shipped_dir=shipped) == shipped / "dv-test.bin"
    # 1. an explicit local path wins over everything
    local = tmp_path / "mine.bin"
    local.write_bytes(b"mine")
    assert weights.resolve(local, shipped_dir=shipped) == local.resolve()
    with pytest.raises(WeightsUnavailableError, match="checkpoint file not found"):
        weights.resolve(tmp_path / "missing.bin", shipped_dir=shipped)


def test_checksum_failure_leaves_nothing(tmp_path, cache):
    url, _ = _publish(tmp_path, b"tampered")
    with pytest.raises(ChecksumError, match="does not match"):
        weights.download(url, cache / "m" / "file.bin", sha256="0" * 64, progress=False)
    assert not (cache / "m" / "file.bin").exists()
    assert list((cache / "m").iterdir()) == []  # no .part file either


def test_size_and_prefix_checks(tmp_path, cache):
    payload = b"x" * 1000
    url, digest = _publish(tmp_path, payload)
    with pytest.raises(ChecksumError, match="size 1000 bytes, expected 999"):
        weights.download(url, cache / "a.bin", size=999, progress=False)
    got = weights.download(url, cache / "a.bin", sha256=digest[:8], size=1000, progress=False)
    assert got.read_bytes() == payload


def test_unreachable_url_is_unavailable(tmp_path, cache):
    missing = (tmp_path / "server" / "gone.bin").as_uri()
    with pytest.raises(WeightsUnavailableError, match="cannot download"):
        weights.download(missing, cache / "gone.bin", progress=False)
    assert not (cache / "gone.bin").exists()


def test_verify_reports_bad_cached_file(tmp_path, cache):
    url, digest = _publish(tmp_path, b"good")
    spec = {"name": "dv-v", "task": "t", "architecture": "X", "file_format": "bin", "sample_rate": 16000,
            "licence": "MIT", "files": [{"filename": "f.bin", "url": url, "sha256": digest}]}
    shipped = _shipped(tmp_path, spec)
    assert weights.verify("dv-v", shipped_dir=shipped)[0][1] == "missing"
    (cache / "dv-v").mkdir(parents=True)
    (cache / "dv-v" / "f.bin").write_bytes(b"evil")
    state = weights.verify("dv-v", shipped_dir=shipped)[0][1]
    assert "does not match" in state


def test_invalid_manifest_is_a_clear_error(tmp_path):
    d = tmp_path / "weights"
    d.mkdir()
    (d / "broken.json").write_text("{not json")
    with pytest.raises(WeightsError, match="broken.json: invalid weights manifest"):
        weights.registry(d)


def test_embedded_specs_in_repo_are_valid_and_present():
    for spec in weights.embedded_specs():
        assert spec.name.startswith("dv-"), spec.name
        assert (weights.SHIPPED_DIR / spec.shipped).exists(), f"{spec.name}: {spec.shipped} missing"
        assert (weights.SHIPPED_DIR / f"{spec.name}.md").exists(), f"{spec.name}: model card missing"


def test_cli_weights_list_prints_every_model(capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    for name, spec in weights.registry().items():
        assert name in out and spec.licence in out
    assert "https://dl.fbaipublicfiles.com/demucs" in out


def test_cli_fetch_offline_is_one_line_error(cache, capsys, monkeypatch):
    def refuse(*a, **k):
        import urllib.error
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(weights.urllib.request, "urlopen", refuse)
    assert main(["weights", "fetch", "rmvpe"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "rmvpe" in err[0]
    assert not (cache / "rmvpe" / "rmvpe.pt").exists()


def test_fingerprint_follows_the_weights_behind_a_path(tmp_path):
    f = tmp_path / "net.safetensors"
    f.write_bytes(b"weights one")
    a = weights.fingerprint(f)
    assert len(a) == 16 and a == weights.fingerprint(f)
    f.write_bytes(b"weights two")
    assert weights.fingerprint(f) != a           # new weights behind the same name
    d = tmp_path / "voice"
    d.mkdir()
    (d / "model.safetensors").write_bytes(b"x" * 10)
    b = weights.fingerprint(d)
    (d / "added.index").write_bytes(b"y")
    assert weights.fingerprint(d) != b
    assert weights.fingerprint("dv-mdx23c-real") == weights.sha256_of(weights.resolve("dv-mdx23c-real"))[:16]

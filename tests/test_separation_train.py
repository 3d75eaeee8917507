"""Training data (MUSDB layout, augmentations, split safety), checkpoints/resume, pruning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from discovervoice.cli import main
from discovervoice.errors import DataError
from discovervoice.separation import models as M
from discovervoice.separation.train import RemixSampler, TrainConfig, scan_songs, split_dataset, train


pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR = 44100


def _make_song(folder, seed, seconds=1.5):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    folder.mkdir(parents=True)
    stems = {
        "vocals": 0.3 * np.sin(2 * np.pi * (300 + 40 * seed) * t),
        "drums": 0.2 * rng.standard_normal(n) * (np.sin(2 * np.pi * 2 * t) > 0.8),
        "bass": 0.3 * np.sin(2 * np.pi * 55 * t),
        "other": 0.1 * np.sin(2 * np.pi * 880 * t),
    }
    for k, v in stems.items():
        sf.write(folder / f"{k}.wav", np.stack([v, 0.7 * v], 1).astype(np.float32), SR)
    sf.write(folder / "mixture.wav", np.stack([sum(stems.values())] * 2, 1).astype(np.float32), SR)


@pytest.fixture(scope="module")
def musdb(tmp_path_factory):
    root = tmp_path_factory.mktemp("musdb")
    for i in range(4):
        _make_song(root / "train" / f"song{i}", i)
    _make_song(root / "valid" / "v0", 10)
    _make_song(root / "test" / "t0", 20)
    (root / "train" / "incomplete").mkdir()
    sf.write(root / "train" / "incomplete" / "vocals.wav", np.zeros((100, 2), np.float32), SR)
    return root


def test_split_uses_train_and_valid_never_test(musdb):
    train_songs, valid = split_dataset(musdb)
    assert sorted(s.name for s in train_songs) == ["song0", "song1", "song2", "song3"]
    assert [s.name for s in valid] == ["v0"]
    with pytest.raises(DataError, match="test"):
        split_dataset(musdb / "test")
    with pytest.raises(DataError, match="no song folders"):
        scan_songs(musdb / "test" / "t0")


@pytest.mark.parametrize("sources", [["vocals", "accompaniment"], ["drums", "bass", "other", "vocals"]])
def test_remix_examples_sum_to_the_mixture(musdb, sources):
    songs, _ = split_dataset(musdb)
    s = RemixSampler(songs, sources, 0.5, SR, seed=1)
    mix, tgt = s.batch(3)
    assert mix.shape == (3, 2, SR // 2) and tgt.shape == (3, len(sources), 2, SR // 2)
    np.testing.assert_allclose(tgt.sum(1), mix, atol=1e-5)
    # augmentations: the two channels of the sine stems keep their 0.7 ratio unless swapped
    ratios = set()
    for _ in range(20):
        _, t = s.example()
        v = t[sources.index("vocals")]
        if np.abs(v[1]).sum() > 0:
            ratios.add(round(float(np.abs(v[0]).sum() / np.abs(v[1]).sum()), 2))
    assert {0.7, round(1 / 0.7, 2)} <= ratios  # channel swap happens both ways


def test_train_checkpoint_resume_and_export(musdb, tmp_path):
    kw = dict(M.TINY_MDX23C)
    cfg = TrainConfig(data=str(musdb), out=str(tmp_path / "run"), architecture="mdx23c",
                      model_kwargs=kw, segment=kw["chunk_size"] / SR, batch_size=2, epochs=1,
                      epoch_steps=2, valid_songs=1, valid_seconds=1.0, save_every=1)
    res = train(cfg)
    assert res["step"] == 2 and res["epoch"] == 1
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert "optimizer" in ck and ck["optimizer"]["state"]  # Adam moments are stored
    assert np.isfinite(ck["history"][0]["valid_usdr"]["vocals"])
    cfg.epochs = 2
    res2 = train(cfg)
    assert res2["step"] == 4 and res2["epoch"] == 2  # continued, not restarted
    net = M.load_embedded(tmp_path / "run" / "last.safetensors")
    assert net.dv_metadata["step"] == 4


def test_train_cli_htdemucs_tiny(musdb, tmp_path, capsys):
    code = main(["separation", "train", "--data", str(musdb), "--out", str(tmp_path / "r"),
                 "--arch", "htdemucs", "--size", "tiny", "--epochs", "1", "--epoch-steps", "1",
                 "--batch-size", "1", "--valid-seconds", "1", "--segment", "1"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 1
    assert (tmp_path / "r" / "train.log").read_text().count("epoch 1 done") == 1


# --------------------------------------------------------------------------- pruning

def test_structured_pruning_shrinks_and_reloads(tmp_path):
    from discovervoice.separation.prune import PruningError, count_macs, prune_step

    torch.manual_seed(0)
    net = M.build_model("mdx23c", dict(M.TINY_MDX23C, num_channels=8, growth=8)).eval()
    x = torch.randn(1, 2, net.valid_length(8000))
    p0, macs0 = M.count_parameters(net), count_macs(net)
    prune_step(net, 0.5)
    p1, macs1 = M.count_parameters(net), count_macs(net)
    assert p1 < p0 and macs1 < 0.6 * macs0  # channels really removed: fewer operations
    assert net.first_conv.out_channels < 8
    assert net.final_conv[-1].out_channels == 2 * 2 * 2 * 2  # output layer untouched
    with torch.no_grad():
        y = net(x)
    assert y.shape == (1, 2, 2, x.shape[-1])
    path = M.save_embedded(net, tmp_path / "pruned.safetensors", half=False)
    back = M.load_embedded(path)
    with torch.no_grad():
        assert torch.allclose(back(x), y, atol=1e-6)
    with pytest.raises(PruningError, match="MDX23C"):
        prune_step(M.build_model("htdemucs", M.TINY_HTDEMUCS), 0.5)


def test_prune_cli_table(musdb, tmp_path, capsys):
    torch.manual_seed(0)
    net = M.build_model("mdx23c", dict(M.TINY_MDX23C, num_channels=8, growth=8)).eval()
    src = M.save_embedded(net, tmp_path / "base.safetensors")
    code = main(["separation", "prune", "--model", str(src), "--data", str(musdb),
                 "--out", str(tmp_path / "p"), "--sparsities", "0.25,0.5", "--finetune-steps", "1",
                 "--batch-size", "1", "--valid-seconds", "1", "--rtf-seconds", "1"])
    assert code == 0
    table = json.loads((tmp_path / "p" / "prune_table.json").read_text())
    rows = table["rows"]
    assert [r["sparsity"] for r in rows] == [0.0, 0.25, 0.5]
    assert rows[0]["params"] > rows[1]["params"] > rows[2]["params"]
    assert rows[0]["gmacs_per_s"] > rows[2]["gmacs_per_s"]
    for r in rows:
        assert M.load_embedded(r["path"]) is not None
    assert "| channel sparsity |" in capsys.readouterr().out


def test_prune_repeated_sparsity_fine_tunes_without_pruning(musdb, tmp_path):
    from discovervoice.separation.prune import PruningError, prune_iteratively

    torch.manual_seed(0)
    net = M.build_model("mdx23c", dict(M.TINY_MDX23C, num_channels=8, growth=8)).eval()
    src = M.save_embedded(net, tmp_path / "base.safetensors", half=False)
    table = prune_iteratively(src, musdb, tmp_path / "p", sparsities=[0.5, 0.5], finetune_steps=2,
                              batch_size=1, valid_seconds=1, rtf_seconds=1, lr=1e-2)
    rows = table.rows
    assert [r.sparsity for r in rows] == [0.0, 0.5, 0.5]
    assert rows[1].params == rows[2].params < rows[0].params   # the second 0.5 removed nothing
    # each stage keeps its own checkpoint (the second 0.5 does not overwrite the first)
    assert len({r.path for r in rows}) == 3
    a, b = M.load_embedded(rows[1].path), M.load_embedded(rows[2].path)
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(PruningError, match="must not decrease"):
        prune_iteratively(src, musdb, tmp_path / "q", sparsities=[0.5, 0.25], finetune_steps=1)


def test_evaluation_table_with_baselines(musdb):
    from torch import nn

    from discovervoice.separation.api import Separator
    from discovervoice.separation.evaluate import evaluate_models

    class Half(nn.Module):
        sources = ["vocals", "accompaniment"]
        samplerate, audio_channels, segment = SR, 2, 1.0

        def valid_length(self, n):
            return n

        def forward(self, x):
            return torch.stack([0.5 * x, 0.5 * x], 1)

    table = evaluate_models(["mixture", "irm", Separator(Half(), normalize=False)], musdb / "test")
    rows = table.rows
    assert set(rows) == {"mixture", "irm", "Half"}
    assert rows["irm"]["vocals_usdr"] > rows["Half"]["vocals_usdr"]
    assert table.progress_to_oracle("mixture") == 0.0 and table.progress_to_oracle("irm") == 1.0
    # half the mixture as vocals: uSDR computed here must match the definition
    from discovervoice.eval.separation import load_reference_track, usdr

    ref = load_reference_track(musdb / "test" / "t0")
    assert rows["Half"]["vocals_usdr"] == pytest.approx(usdr(ref.stems["vocals"], 0.5 * ref.mixture), abs=1e-3)
    assert "| Half |" in table.markdown() and rows["Half"]["rtf"] > 0


# --------------------------------------------------------------------------- issue 15

def _make_two_stem_song(folder, seed, seconds=1.5):
    """A real-songs-style folder: vocals + accompaniment (+ mixture = their sum)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    folder.mkdir(parents=True)
    v = 0.3 * np.sin(2 * np.pi * 220 * t)
    a = 0.2 * rng.standard_normal(n)
    for k, x in {"vocals": v, "accompaniment": a, "mixture": v + a}.items():
        sf.write(folder / f"{k}.wav", np.stack([x, x], 1).astype(np.float32), SR)


@pytest.fixture(scope="module")
def real_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    for i in range(2):
        _make_two_stem_song(root / "train" / f"r{i}", 30 + i)
    _make_two_stem_song(root / "valid" / "dev0", 40)
    return root


def test_two_stem_songs_and_several_roots(musdb, real_root):
    train_songs, valid = split_dataset(f"{musdb},{real_root}")
    names = sorted(s.name for s in train_songs)
    assert names == ["r0", "r1", "song0", "song1", "song2", "song3"]
    assert [s.name for s in valid] == ["v0"]   # validation: the first root only
    two = [s for s in train_songs if s.name.startswith("r")]
    assert all(set(s.files) == {"vocals", "accompaniment"} for s in two)
    s = RemixSampler(train_songs, ["vocals", "accompaniment"], 0.5, SR, seed=3)
    for _ in range(8):
        mix, tgt = s.example()
        np.testing.assert_allclose(tgt.sum(0), mix, atol=1e-5)
    with pytest.raises(DataError, match="two-stem"):
        RemixSampler(train_songs, ["drums", "bass", "other", "vocals"], 0.5, SR)
    with pytest.raises(DataError, match="test"):
        split_dataset(f"{musdb},{musdb / 'test'}")


def test_silent_vocals_share(musdb):
    songs, _ = split_dataset(musdb)
    s = RemixSampler(songs, ["vocals", "accompaniment"], 0.25, SR, silent_vocals=0.5, seed=0)
    silent = 0
    for _ in range(80):
        mix, tgt = s.example()
        if not np.any(tgt[0]):
            silent += 1
            np.testing.assert_array_equal(mix, tgt[1])   # mixture = accompaniment alone
    assert 25 <= silent <= 55            # binomial(80, 0.5): mean 40, sd 4.5
    with pytest.raises(DataError, match="probability"):
        RemixSampler(songs, ["vocals", "accompaniment"], 0.25, SR, silent_vocals=1.5)


def test_silent_accompaniment_share_and_exclusive_of_silent_vocals(musdb):
    songs, _ = split_dataset(musdb)
    s = RemixSampler(songs, ["vocals", "accompaniment"], 0.25, SR, silent_vocals=0.3,
                     silent_accompaniment=0.5, seed=1)
    counts = {"a cappella": 0, "instrumental": 0, "both": 0}
    for _ in range(120):
        mix, tgt = s.example()
        voc, acc = np.any(tgt[0]), np.any(tgt[1])
        assert voc or acc                                   # never a silent mixture
        if voc and not acc:
            counts["a cappella"] += 1
            np.testing.assert_array_equal(mix, tgt[0])      # mixture = the voice alone
        elif acc and not voc:
            counts["instrumental"] += 1
        else:
            counts["both"] += 1
    # shares 0.3 / 0.7 * 0.5 = 0.35 / 0.35 of 120 (mean 42 each, sd about 5)
    assert 24 <= counts["instrumental"] <= 60 and 24 <= counts["a cappella"] <= 60, counts
    with pytest.raises(DataError, match="silent_accompaniment"):
        RemixSampler(songs, ["vocals", "accompaniment"], 0.25, SR, silent_accompaniment=-0.1)
    # the default draws nothing more: the same examples as before the option existed
    a = RemixSampler(songs, ["vocals", "accompaniment"], 0.25, SR, silent_vocals=0.3, seed=2)
    b = RemixSampler(songs, ["vocals", "accompaniment"], 0.25, SR, silent_vocals=0.3,
                     silent_accompaniment=0.0, seed=2)
    for _ in range(5):
        np.testing.assert_array_equal(a.example()[0], b.example()[0])


def test_init_from_weights_and_lr_override_on_resume(musdb, tmp_path):
    kw = dict(M.TINY_MDX23C)
    base = dict(data=str(musdb), architecture="mdx23c", model_kwargs=kw,
                segment=kw["chunk_size"] / SR, batch_size=1, epochs=1, epoch_steps=1,
                valid_songs=1, valid_seconds=1.0, save_every=0)
    train(TrainConfig(out=str(tmp_path / "a"), **base))
    parent = M.load_embedded(tmp_path / "a" / "last.safetensors")
    # a new run that starts from those weights: before any step it equals the parent
    cfg = TrainConfig(out=str(tmp_path / "b"), init=str(tmp_path / "a" / "last.safetensors"),
                      lr=0.0, snapshots=True, silent_vocals=0.3, **base)
    train(cfg)
    child = M.load_embedded(tmp_path / "b" / "last.safetensors")
    for (k, a), b in zip(parent.state_dict().items(), child.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)       # lr 0: Adam moved nothing
    assert (tmp_path / "b" / "snapshots" / "step000001.safetensors").is_file()
    # resume with a new learning rate: the optimiser and the history use it
    cfg.epochs = 2
    train(cfg, overrides={"lr": 5e-4, "silent_vocals": 0.1, "silent_accompaniment": 0.2})
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert ck["config"]["lr"] == 5e-4 and ck["config"]["silent_vocals"] == 0.1
    assert ck["config"]["silent_accompaniment"] == 0.2
    assert all(g["lr"] == 5e-4 for g in ck["optimizer"]["param_groups"])
    assert [h["lr"] for h in ck["history"]] == [0.0, 5e-4]
    with pytest.raises(DataError, match="override"):
        train(cfg, overrides={"batch_size": 8})
    # CLI: --lr on resume replaces the stored one
    code = main(["separation", "train", "--data", str(musdb), "--out", str(tmp_path / "b"),
                 "--arch", "mdx23c", "--epochs", "3", "--lr", "2e-4"])
    assert code == 0
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert ck["history"][-1]["lr"] == 2e-4 and ck["step"] == 3


class _Oracle(torch.nn.Module):
    """'Separates' by returning fixed fractions of the mixture: vocals = 0.1 x, accomp. = 0.9 x."""

    sources = ["vocals", "accompaniment"]
    samplerate = SR
    audio_channels = 2
    segment = 1.0

    def forward(self, mix):
        return torch.stack([0.1 * mix, 0.9 * mix], dim=1)


def test_validation_scores_vocal_free_songs_by_leakage_not_usdr(tmp_path):
    from discovervoice.separation.train import scan_songs, validate

    _make_two_stem_song(tmp_path / "sung", 50)
    quiet = tmp_path / "quiet"
    _make_two_stem_song(quiet, 51)
    acc, _ = sf.read(quiet / "accompaniment.wav", dtype="float32")
    sf.write(quiet / "vocals.wav", np.zeros_like(acc), SR)
    sf.write(quiet / "mixture.wav", acc, SR)
    songs = scan_songs(tmp_path)
    both = validate(_Oracle(), songs, ["vocals", "accompaniment"], max_seconds=None)
    sung_only = validate(_Oracle(), [s for s in songs if s.name == "sung"],
                         ["vocals", "accompaniment"], max_seconds=None)
    # the vocal-free song does not enter the vocals uSDR (it would add ~-100 dB)...
    assert both["vocals"] == pytest.approx(sung_only["vocals"], abs=1e-6)
    # ...but its leakage does: 0.1 x the mixture is -20 dB of its energy
    assert both["vocals_leakage"] == pytest.approx(-20.0, abs=0.1)
    assert "vocals_leakage" not in sung_only


def test_training_stops_early_when_validation_is_flat(musdb, tmp_path):
    from discovervoice.separation.train import _epochs_since_best

    assert _epochs_since_best([{"valid_usdr": {"vocals": v}} for v in (1.0, 3.0, 2.0, 2.5)]) == 2
    assert _epochs_since_best([{"valid_usdr": {}}]) == 0
    kw = dict(M.TINY_MDX23C)
    # lr 0: the network never changes, so validation is flat after the first epoch
    cfg = TrainConfig(data=str(musdb), out=str(tmp_path / "flat"), architecture="mdx23c",
                      model_kwargs=kw, segment=kw["chunk_size"] / SR, batch_size=1, epochs=20,
                      epoch_steps=1, valid_songs=1, valid_seconds=1.0, save_every=0, lr=0.0,
                      patience=2)
    summary = train(cfg)
    assert summary["epoch"] == 3 and len(summary["history"]) == 3   # best at 1, then 2 flat


def test_prune_fine_tunes_with_silent_vocals(musdb, tmp_path):
    """``silent_vocals`` reaches the pruning fine-tune: with every example's vocals silent the
    pruned network learns to put (almost) nothing in its vocals stem, unlike without."""
    from discovervoice.separation.api import _load_network
    from discovervoice.separation.prune import prune_iteratively

    mix = sf.read(musdb / "valid" / "v0" / "mixture.wav", dtype="float32")[0].T[None]
    energy = {}
    for share in (0.0, 1.0):
        torch.manual_seed(0)
        net = M.build_model("mdx23c", dict(M.TINY_MDX23C, num_channels=8, growth=8)).eval()
        src = M.save_embedded(net, tmp_path / f"base{share}.safetensors", half=False)
        table = prune_iteratively(src, f"{musdb},{musdb}", tmp_path / f"p{share}", sparsities=[0.25],
                                  finetune_steps=12, batch_size=2, valid_seconds=1, rtf_seconds=1,
                                  lr=1e-2, silent_vocals=share)
        assert table.settings["silent_vocals"] == share
        pruned, _ = _load_network(table.rows[-1].path, None)
        with torch.no_grad():
            est = pruned.float().eval()(torch.from_numpy(mix[..., : int(pruned.segment * SR)]))
        v = est[0, list(pruned.sources).index("vocals")].numpy()
        energy[share] = float(np.mean(v ** 2))
    assert energy[1.0] < 0.1 * energy[0.0]


def test_prune_distillation_pulls_the_child_towards_its_parent(musdb, tmp_path):
    """``distill`` reaches the pruning fine-tune: trained on the unpruned network's estimates
    alone (w = 1), the pruned child ends closer to its parent's output than trained on the
    stems alone (w = 0); a weight outside [0, 1] is refused."""
    from discovervoice.separation.api import _load_network
    from discovervoice.separation.prune import PruningError, prune_iteratively

    mix = sf.read(musdb / "valid" / "v0" / "mixture.wav", dtype="float32")[0].T[None]
    torch.manual_seed(0)
    parent = M.build_model("mdx23c", dict(M.TINY_MDX23C, num_channels=8, growth=8)).eval()
    src = M.save_embedded(parent, tmp_path / "base.safetensors", half=False)
    x = torch.from_numpy(mix[..., : int(parent.segment * SR)])
    with torch.no_grad():
        ref = _load_network(src, None)[0].float().eval()(x)
    gap = {}
    for w in (0.0, 1.0):
        table = prune_iteratively(src, musdb, tmp_path / f"p{w}", sparsities=[0.25],
                                  finetune_steps=12, batch_size=2, valid_seconds=1, rtf_seconds=1,
                                  lr=1e-2, distill=w, seed=0)
        assert table.settings["distill"] == w
        child, _ = _load_network(table.rows[-1].path, None)
        with torch.no_grad():
            gap[w] = float((child.float().eval()(x) - ref).abs().mean())
    assert gap[1.0] < 0.7 * gap[0.0]
    # more recovery of the stems-trained child, distilled from the parent given as teacher
    child0 = tmp_path / "p0.0" / "base-s25.safetensors"
    more = prune_iteratively(child0, musdb, tmp_path / "r", sparsities=[0.0], finetune_steps=12,
                             batch_size=2, valid_seconds=1, rtf_seconds=1, lr=1e-2, distill=1.0,
                             teacher=src, seed=0)
    assert more.settings["teacher"] == str(src)
    with torch.no_grad():
        after = float((_load_network(more.rows[-1].path, None)[0].float().eval()(x) - ref).abs().mean())
    assert after < 0.7 * gap[0.0]
    with pytest.raises(PruningError, match="distill"):
        prune_iteratively(src, musdb, tmp_path / "q", sparsities=[0.25], finetune_steps=1, distill=1.5)


def test_packed_excerpts_train_as_two_stem_songs(musdb, real_root, tmp_path):
    """scripts/pack_separation_excerpts.py: four-stem songs become vocals + accompaniment (the
    sum of drums, bass, other), excerpts have the asked length, Vorbis round trip stays close,
    and the unpacked folder is a dataset the trainer reads (train from both roots, valid)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "pack_separation_excerpts.py"
    out = tmp_path / "packed"
    subprocess.run([sys.executable, str(script), "pack", "--out", str(out), "--songs", "3",
                    "--seconds", "1.0", "--valid", str(real_root), "--valid-songs", "1",
                    "--valid-seconds", "1.0", "--quality", "0.3", str(real_root), str(musdb)],
                   check=True, capture_output=True)
    oggs = sorted(out.rglob("*.ogg"))
    assert len(oggs) == 2 * (2 + 3 + 1)   # 2 real songs (all), 3 of the 4 musdb songs, 1 valid
    subprocess.run([sys.executable, str(script), "unpack", str(out), "--jobs", "1"],
                   check=True, capture_output=True)
    assert not list(out.rglob("*.ogg"))
    roots = sorted(out.iterdir(), key=lambda r: not (r / "valid").is_dir())  # validation root first
    train_songs, valid = split_dataset(",".join(str(r) for r in roots))
    assert len(train_songs) == 5 and len(valid) == 1
    for s in train_songs + valid:
        assert set(s.files) == {"vocals", "accompaniment"}
        assert abs(s.frames - SR) <= 2048   # 1 s excerpt (Vorbis may pad a frame)
    # a musdb excerpt: vocals stay a 300-460 Hz tone, accompaniment carries the 55 Hz bass
    song = next(s for s in train_songs if s.name.startswith("song"))
    acc, _ = sf.read(song.files["accompaniment"], always_2d=True)
    spec = np.abs(np.fft.rfft(acc[:, 0]))
    freqs = np.fft.rfftfreq(len(acc), 1 / SR)
    assert abs(freqs[np.argmax(spec)] - 55) < 5

"""End-to-end tests of the singer classifier on a tiny AST: train (CLI), save, load,
predict, which-singer JSON, gallery, fine-tuning from a published-format AST folder.
Synthetic voices (harmonic source + formant resonators), no network."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from discovervoice.cli import main
from tests.test_classify_units import SR, voice

TINY = ["--hidden-size", "32", "--layers", "1", "--heads", "2"]
SINGERS = {  # name: (f0 Hz, formants)
    "ana": (140, ((600, 80), (1000, 100), (2400, 150))),
    "ben": (240, ((350, 60), (2200, 150), (3000, 200))),
    "cleo": (330, ((800, 100), (1500, 120), (3300, 250))),
}


def make_dataset(root, singers=SINGERS, songs=4, seconds=3.0, spoken=True):
    for s, (f0, fm) in singers.items():
        for k in range(songs):
            sf.write(root / s / f"song{k}.wav" if (root / s).mkdir(parents=True, exist_ok=True)
                     is None else None, voice(f0 * (1 + 0.03 * k), seconds, fm, seed=k), SR)
        if spoken:
            sf.write(root / s / "spoken_1.wav", voice(f0 * 0.8, seconds, fm, seed=9, gate_hz=3), SR)
    return root


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("cls")
    data = make_dataset(root / "data")
    cat = root / "catalogue.csv"
    cat.write_text("singer,title,file_or_link\nana,Ana's song,https://example.org/ana\n"
                   "ben,Ben's song,ben.wav\n")
    out = root / "model"
    rc = main(["classify", "train", str(data), "-o", str(out), "--init", "scratch", *TINY,
               "--steps", "2", "--batch-size", "4", "--eval-every", "1", "--warmup", "1",
               "--window-seconds", "1.0", "--val-fraction", "0.25", "--catalogue", str(cat)])
    assert rc == 0
    return out, data


def test_train_two_steps_save_load_predict(tiny_model):
    from discovervoice.classify import SingerClassifier

    out, data = tiny_model
    for f in ("config.json", "model.safetensors", "preprocessor_config.json",
              "discovervoice.json", "gallery.safetensors", "catalogue.csv"):
        assert (out / f).is_file(), f
    meta = json.loads((out / "discovervoice.json").read_text())
    assert meta["labels"] == ["ana", "ben", "cleo"] and meta["info"]["steps"] == 2
    assert meta["window"]["window_seconds"] == 1.0 and meta["temperature"] > 0
    # no song in both train and validation
    assert meta["info"]["valid_songs"]
    assert not set(meta["info"]["train_songs"]) & set(meta["info"]["valid_songs"])

    clf = SingerClassifier.load(out)
    assert clf.sample_rate == 16000 and clf.labels == ["ana", "ben", "cleo"]
    x, _ = sf.read(data / "ben" / "song1.wav", dtype="float32")
    ranking = clf.rank(x[None], top_k=2)
    assert len(ranking) == 2 and ranking[0][1] >= ranking[1][1]
    r = clf.predict(x[None])
    assert r["windows"] >= 3 and abs(r["probabilities"].sum() - 1) < 1e-6
    # the folder opens with plain transformers too (Hugging Face layout)
    from transformers import ASTForAudioClassification

    hf = ASTForAudioClassification.from_pretrained(str(out))
    assert hf.config.id2label[1] == "ben"


def test_label_map_round_trip(tmp_path):
    from discovervoice.classify.model import build_ast, load_ast_folder, save_ast_folder

    labels = ["zoë", "ana maria", "mbrola-de2", "x"]
    ck = build_ast(labels, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                   intermediate_size=64, max_length=100)
    save_ast_folder(ck, tmp_path / "m", fp16=True)
    back = load_ast_folder(tmp_path / "m")
    assert back.labels == labels and back.stored_fp16
    assert back.model.config.label2id == {n: i for i, n in enumerate(labels)}
    assert back.feature_extractor.max_length == 100
    x = np.random.default_rng(0).standard_normal((2, 100, 64)).astype(np.float32)
    import torch

    with torch.no_grad():
        a = ck.model(input_values=torch.from_numpy(x)).logits
        b = back.model(input_values=torch.from_numpy(x)).logits
    assert torch.allclose(a, b, atol=2e-2)  # fp16 storage


def test_which_singer_json_is_stable_and_recommends(tiny_model, capsys):
    out, data = tiny_model
    assert main(["which-singer", str(data / "ana" / "song0.wav"), "--model", str(out),
                 "--top-k", "3", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) >= {"singers", "recommendations"}
    assert [set(s) for s in res["singers"]] == [{"name", "probability"}] * 3
    assert abs(sum(s["probability"] for s in res["singers"]) - 1) < 1e-4
    assert {r["singer"] for r in res["recommendations"]} <= {"ana", "ben"}
    for r in res["recommendations"]:
        assert set(r) == {"singer", "title", "file_or_link", "available", "probability"}


def test_which_singer_on_silence_is_a_one_line_error(tiny_model, tmp_path, capsys):
    out, _ = tiny_model
    sf.write(tmp_path / "quiet.wav", np.zeros(3 * SR, np.float32), SR)
    assert main(["which-singer", str(tmp_path / "quiet.wav"), "--model", str(out)]) == 1
    err = capsys.readouterr().err
    assert "quiet.wav" in err and "silent" in err and "Traceback" not in err


def test_gallery_adds_a_singer_without_retraining(tiny_model, tmp_path, capsys):
    from discovervoice.classify import SingerClassifier

    out, _ = tiny_model
    clips = []
    for k in range(3):
        p = tmp_path / f"dora{k}.wav"
        sf.write(p, voice(500, 2.0, ((900, 90), (1300, 100), (2900, 180)), seed=k), SR)
        clips.append(str(p))
    ext = tmp_path / "extended"
    assert main(["classify", "gallery", "add", str(out), "dora", *clips, "-o", str(ext)]) == 0
    assert "added 'dora'" in capsys.readouterr().out
    from safetensors.numpy import load_file

    clf = SingerClassifier.load(ext)
    assert clf.scoring == "gallery" and clf.singers[-1] == "dora"
    before, after = load_file(out / "model.safetensors"), load_file(ext / "model.safetensors")
    assert before.keys() == after.keys()  # the network is untouched
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert main(["classify", "gallery", "list", str(ext), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed["singers"]] == ["ana", "ben", "cleo", "dora"]
    # the enrolment clips themselves are closest to their own centroid
    x, _ = sf.read(clips[0], dtype="float32")
    assert clf.rank(x[None], top_k=1)[0][0] == "dora"
    clf.remove_from_gallery("dora")
    assert clf.scoring == "head"


def test_fine_tune_from_a_published_format_ast_with_another_window(tmp_path):
    """The ast_audioset path: an HF AST folder (config + safetensors + preprocessor) with
    other labels and window length becomes the initialisation of a singer classifier."""
    from discovervoice.classify import SingerClassifier
    from discovervoice.classify.model import build_ast, load_pretrained_ast, save_ast_folder

    pre = build_ast([f"audioset{i}" for i in range(7)], hidden_size=32, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=64, num_mel_bins=128,
                    max_length=300, frequency_stride=10, time_stride=10)
    save_ast_folder(pre, tmp_path / "ast_audioset")
    ck = load_pretrained_ast(tmp_path / "ast_audioset", labels=["a", "b"], max_length=100)
    assert ck.model.config.max_length == 100 and ck.labels == ["a", "b"]
    n_pos = ck.model.audio_spectrogram_transformer.embeddings.position_embeddings.shape[1]
    assert n_pos == 2 + 12 * 9  # (128-16)//10+1 = 12 freq x (100-16)//10+1 = 9 time patches

    data = make_dataset(tmp_path / "data", dict(list(SINGERS.items())[:2]), songs=2, spoken=False)
    out = tmp_path / "ft"
    assert main(["classify", "train", str(data), "-o", str(out), "--init",
                 str(tmp_path / "ast_audioset"), "--window-seconds", "1.0", "--steps", "2",
                 "--batch-size", "2", "--eval-every", "1", "--warmup", "1"]) == 0
    clf = SingerClassifier.load(out)
    assert clf.labels == ["ana", "ben"] and clf.info["init"] == str(tmp_path / "ast_audioset")
    assert clf.model.config.num_mel_bins == 128 and clf.window.window_seconds == 1.0


def test_training_learns_to_tell_synthetic_singers_apart(tmp_path):
    """A longer tiny run must beat chance clearly on songs it never saw."""
    from discovervoice.classify.train import TrainConfig, train
    from discovervoice.classify import SingerClassifier

    data = make_dataset(tmp_path / "data", songs=5, spoken=False)
    cfg = TrainConfig(init="scratch", ast=dict(hidden_size=32, num_hidden_layers=1,
                                               num_attention_heads=2, intermediate_size=64),
                      window_seconds=1.0, steps=60, batch_size=8, eval_every=20, warmup=10,
                      lr=2e-3, test_fraction=0.25, val_fraction=0.0)
    res = train(data, tmp_path / "m", cfg)
    clf = SingerClassifier.load(tmp_path / "m")
    test = [(s, p) for s in SINGERS for p in sorted((data / s).glob("*.wav"))
            if p.stem in res.summary["test_songs"]]
    assert test
    hits = [clf.rank(sf.read(p, dtype="float32")[0][None], 1)[0][0] == s for s, p in test]
    assert np.mean(hits) >= 0.66


def test_evaluate_writes_metrics_for_seen_and_unseen_singers(tiny_model, tmp_path):
    from discovervoice.classify.evaluate import evaluate

    out, _ = tiny_model
    more = {"ana": SINGERS["ana"], "dora": (500, ((900, 90), (1300, 100), (2900, 180))),
            "eve": (200, ((450, 60), (1800, 120), (2500, 150)))}
    data = make_dataset(tmp_path / "eval", more, songs=6, seconds=2.0)
    res = evaluate(out, data, tmp_path / "report", gallery_clips=3, gallery_seconds=1.5,
                   baseline=False, write_enrolment=tmp_path / "enrol")
    seen = res["seen"]["ast"]["sung"]
    assert seen["n"] == 2  # ana's song4 and song5: the only songs the model never used
    assert 0.0 <= seen["top1"] <= 1.0 and seen["cross_entropy"] > 0
    unseen = res["unseen"]
    assert unseen["singers"] == ["dora", "eve"] and unseen["ast"]["sung"]["n"] == 6
    assert (tmp_path / "report" / "confusion_unseen_sung.png").stat().st_size > 1000
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["seen"]
    assert len(list((tmp_path / "enrol").glob("*/*.wav"))) == 6


def test_aam_training_bakes_a_cosine_head(tmp_path):
    from discovervoice.classify import SingerClassifier
    from discovervoice.classify.train import TrainConfig, train

    data = make_dataset(tmp_path / "data", songs=2, spoken=False)
    train(data, tmp_path / "m", TrainConfig(
        init="scratch", ast=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64),
        window_seconds=1.0, steps=2, batch_size=4, eval_every=1, warmup=1, loss="aam"))
    head = SingerClassifier.load(tmp_path / "m").model.classifier.dense
    norms = head.weight.detach().norm(dim=1).numpy()
    assert np.allclose(norms, 30.0 / np.sqrt(32), rtol=1e-2)  # fp32 save
    assert float(head.bias.abs().max()) == 0.0


def test_embedded_default_loads_through_the_registry_and_ranks():
    from discovervoice import weights
    from discovervoice.classify import SingerClassifier

    clf = weights.load_model("dv-singer-ast")
    assert isinstance(clf, SingerClassifier) and len(clf.labels) >= 10
    assert clf.window.window_seconds == clf.model.config.max_length / 100
    x = voice(220, 5.0, gate_hz=0)[None]
    res = clf.which_singer(x, top_k=5)
    names = [s["name"] for s in res["singers"]]
    assert len(set(names)) == 5 and set(names) <= set(clf.labels)
    assert res["singers"][0]["probability"] >= res["singers"][-1]["probability"]
    assert all(r["singer"] in names[:3] for r in res["recommendations"])
    assert SingerClassifier.load("default").labels == clf.labels


def test_auto_init_falls_back_to_the_embedded_default(tmp_path, monkeypatch):
    """Offline (ast_audioset not cached) `--init auto` fine-tunes dv-singer-ast."""
    from discovervoice.classify import SingerClassifier

    monkeypatch.setenv("DISCOVERVOICE_CACHE", str(tmp_path / "empty-cache"))
    data = make_dataset(tmp_path / "data", dict(list(SINGERS.items())[:2]), songs=2,
                        seconds=3.5, spoken=False)
    assert main(["classify", "train", str(data), "-o", str(tmp_path / "ft"), "--steps", "2",
                 "--batch-size", "2", "--eval-every", "1", "--warmup", "1"]) == 0
    clf = SingerClassifier.load(tmp_path / "ft")
    assert clf.info["init"] == "dv-singer-ast" and clf.labels == ["ana", "ben"]
    assert clf.model.config.hidden_size == SingerClassifier.load("default").model.config.hidden_size


def test_recommendations_survive_a_catalogue_whose_files_are_missing(tiny_model, tmp_path,
                                                                      capsys):
    """A model folder moved to another machine: its catalogue's song files do not exist
    there. Songs are still recommended by singer and title, marked unavailable, with no
    path of the machine that built the catalogue; CLI, Python API and pipeline agree."""
    import shutil

    from discovervoice import pipeline
    from discovervoice.classify import SingerClassifier

    out, data = tiny_model
    build = tmp_path / "build"
    (build / "songs").mkdir(parents=True)
    sf.write(build / "songs" / "here.wav", voice(200, 0.5), SR)
    (build / "songs" / "gone.wav").write_bytes(b"")
    model = build / "weights" / "m"
    shutil.copytree(out, model)
    (model / "catalogue.csv").write_text(
        "singer,title,file_or_link\n"
        "ana,Gone song,../../songs/gone.wav\n"
        "ana,Online song,https://example.org/ana\n"
        "ana,Local song,../../songs/here.wav\n"
        "ben,Ben gone,../../songs/ben.wav\n"
        "cleo,Cleo gone,../../songs/cleo.wav\n")
    (build / "songs" / "gone.wav").unlink()
    user = tmp_path / "user" / "m"  # the folder on the user's machine: no songs beside it
    shutil.copytree(model, user)
    shutil.rmtree(build)

    clf = SingerClassifier.load(user)
    recs = clf.recommend([("ana", 0.7), ("ben", 0.2), ("cleo", 0.1)])
    assert [(r["singer"], r["title"], r["available"]) for r in recs] == [
        ("ana", "Gone song", False), ("ana", "Online song", True),
        ("ana", "Local song", False), ("ben", "Ben gone", False), ("cleo", "Cleo gone", False)]
    assert recs[1]["file_or_link"] == "https://example.org/ana"
    assert all(r["file_or_link"] == "" for r in recs if not r["available"])

    wav = str(data / "ana" / "song0.wav")
    assert main(["which-singer", wav, "--model", str(user), "--top-k", "3", "--json"]) == 0
    text = capsys.readouterr().out
    res = json.loads(text)
    assert str(build) not in text and len(res["recommendations"]) == 5
    assert all(r["title"] and r["singer"] for r in res["recommendations"])
    assert main(["which-singer", wav, "--model", str(user), "--top-k", "3"]) == 0
    text = capsys.readouterr().out
    assert "Gone song  (file unavailable)" in text and str(build) not in text

    got = pipeline.which_singer(wav, model=str(user), top_k=3)
    assert {r["title"] for r in got.recommendations} == {r["title"] for r in recs}
    assert json.dumps(got.to_json())  # plain JSON for the app
    # saving the moved model keeps the catalogue relative, not the user's absolute paths
    clf.save(tmp_path / "again")
    assert str(tmp_path) not in (tmp_path / "again" / "catalogue.csv").read_text()


def test_cross_modal_training_and_gallery_backend(tmp_path, capsys):
    """`--cross-modal` trains with the sung/spoken prototypical loss; `classify backend`
    adds a NAP + WCCN gallery backend that survives save/load and scores the gallery."""
    from discovervoice.classify import SingerClassifier

    data = make_dataset(tmp_path / "data", songs=3, seconds=2.5, spoken=False)
    for s, (f0, fm) in SINGERS.items():  # two spoken sentences per singer, none shared
        for j in range(2):
            sf.write(data / s / f"spoken_{s}{j}.wav",
                     voice(f0 * (0.75 + 0.05 * j), 2.5, fm, seed=8 + j, gate_hz=3), SR)
    out = tmp_path / "m"
    assert main(["classify", "train", str(data), "-o", str(out), "--init", "scratch", *TINY,
                 "--steps", "2", "--batch-size", "6", "--eval-every", "1", "--warmup", "1",
                 "--window-seconds", "1.0", "--val-fraction", "0.25", "--cross-modal", "1",
                 "--cross-modal-crops", "1"]) == 0
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert all(r["train_cross_modal"] > 0 for r in log)
    clf = SingerClassifier.load(out)
    assert clf.backend is None  # 3 singers: too few to fit a backend during training
    capsys.readouterr()
    assert main(["classify", "backend", str(out), str(data), "-o", str(tmp_path / "b")]) == 0
    assert "nap+wccn" in capsys.readouterr().out
    clf = SingerClassifier.load(tmp_path / "b")
    assert clf.backend is not None and clf.backend.info["nap_dims"] == 3
    assert (tmp_path / "b" / "gallery_backend.safetensors").is_file()
    umask = os.umask(0)
    os.umask(umask)
    for f in ("model.safetensors", "gallery.safetensors", "gallery_backend.safetensors"):
        assert (tmp_path / "b" / f).stat().st_mode & 0o777 == 0o666 & ~umask, f
    x, _ = sf.read(data / "ben" / "song0.wav", dtype="float32")
    r = clf.predict(x[None], scoring="gallery")
    assert abs(r["probabilities"].sum() - 1) < 1e-6 and r["scoring"] == "gallery"
    # the default scoring is the one with the better validation clip accuracy
    b = clf.backend.info
    assert clf.default_scoring == ("gallery" if b["validation_gallery_clip_acc"]
                                   > b["validation_head_clip_acc"] else "head")
    clf.default_scoring = "gallery"
    clf.save(tmp_path / "g")
    clf = SingerClassifier.load(tmp_path / "g")
    assert clf.scoring == "gallery" and clf.predict(x[None])["scoring"] == "gallery"
    clf.remove_from_gallery("ben")  # the gallery no longer covers the head: the head scores
    assert clf.scoring == "head"
    assert main(["classify", "backend", str(tmp_path / "b"), str(data), "--remove"]) == 0
    assert SingerClassifier.load(tmp_path / "b").backend is None
    assert SingerClassifier.load(tmp_path / "b").default_scoring == "head"
    assert not (tmp_path / "b" / "gallery_backend.safetensors").exists()


def test_speaker_fusion_round_trip_enrols_real_people_and_falls_back(tiny_model, tmp_path):
    """Real people (KLettres native speakers) enrolled with speaker fusion on: the GE2E
    centroid is stored, survives save/load, the fused score ranks each person's held-out
    words first; a singer without a speaker centroid turns fusion off (AST scale used)."""
    from discovervoice.classify import SingerClassifier
    from discovervoice.classify.train import fit_speaker_fusion
    from tests.speech_clips import klettres_words

    out, data = tiny_model
    fused = tmp_path / "fused"
    clf = fit_speaker_fusion(out, data, fused, weight=1.0, scale=30.0, clips_per_singer=2)
    assert sorted(clf.speaker_gallery) == ["ana", "ben", "cleo"]
    people = {}
    for lang in ("es", "fr"):
        try:
            people[lang] = klettres_words(tmp_path / lang, language=lang, files=2, words_per_file=8)
        except FileNotFoundError as exc:
            pytest.skip(str(exc))
    for lang, files in people.items():
        clf.add_to_gallery(f"speaker-{lang}", [str(files[0])])
    assert np.linalg.norm(clf.speaker_gallery["speaker-es"]) > 0.5
    clf.save(fused)
    back = SingerClassifier.load(fused)
    assert back.speaker_weight == 1.0 and back.speaker_scale == 30.0
    np.testing.assert_allclose(back.speaker_gallery["speaker-fr"], clf.speaker_gallery["speaker-fr"])
    assert back.fuses(sorted(back.gallery))
    for lang, files in people.items():
        x, sr = sf.read(files[1], dtype="float32")
        from discovervoice import audio as dv_audio

        x16 = dv_audio.resample(x[None], sr, 16000)
        assert back.rank(x16, top_k=1)[0][0] == f"speaker-{lang}"
    # an AST-only gallery entry: no speaker centroid, so fusion is off for the whole gallery
    back.speaker_weight = 0.0
    back.add_to_gallery("speaker-es", [str(people["es"][0])], replace=True)
    back.speaker_weight = 1.0
    assert "speaker-es" not in back.speaker_gallery and not back.fuses(sorted(back.gallery))
    r = back.predict(x16)
    assert r["scoring"] == "gallery"

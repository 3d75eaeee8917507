"""The app in a real browser (Debian chromium driven by Python playwright).

Screenshots of every tab go to ``$DV_ARTIFACTS`` (default ``<repo>/out/screenshots``), so a
person can open them after the run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")]
TABS = ["Separate", "Which singer", "My voice", "Cover", "Clean up & transcribe", "Listen & rate"]


@pytest.fixture(scope="module")
def artifacts() -> Path:
    d = Path(os.environ.get("DV_ARTIFACTS", Path(__file__).resolve().parent.parent / "out" / "screenshots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def page(app_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        pg = browser.new_page(viewport={"width": 1280, "height": 1000})
        pg.set_default_timeout(60_000)
        pg.goto(app_server["url"], wait_until="load")
        pg.get_by_role("tab", name="Separate").wait_for()
        yield pg
        browser.close()


def test_every_tab_renders(page, artifacts):
    for i, name in enumerate(TABS):
        page.get_by_role("tab", name=name).click()
        page.wait_for_timeout(300)
        shot = artifacts / f"tab{i + 1}-{name.split()[0].lower()}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
    assert shutil.which(CHROMIUM)


def _latest(ws_root: Path, pattern: str) -> list[Path]:
    found = sorted(ws_root.rglob(pattern), key=lambda p: p.stat().st_mtime)
    assert found, f"no {pattern} under {ws_root}"
    return found


def _real_audio(path: Path, seconds: float) -> None:
    from discovervoice import audio

    x, sr = audio.read(path)
    assert abs(x.shape[1] / sr - seconds) < 0.05, f"{path.name}: {x.shape[1] / sr:.2f} s, expected {seconds:.2f}"
    assert audio.rms_db(x) > -50, f"{path.name} is silent"


def test_main_job_end_to_end_in_the_browser(page, app_server, artifacts, tmp_path):
    """The main job as a newcomer does it, with a person's real recordings: upload a song ->
    stems; ask which singer with recorded speech; train a voice with the quick preset from
    ~1 minute of recorded single words with pauses; make a cover at the song's loudness;
    rate it on Listen & rate from the app alone."""
    from discovervoice import audio
    from discovervoice.examples import ensure_examples
    from tests.speech_clips import klettres_words

    try:
        ex = ensure_examples()   # the app's own example song (made at its start-up)
        words = klettres_words(tmp_path / "my-recordings")   # 3 files, ~56 s, ~20 s voiced
    except Exception as exc:  # corpus tools or klettres-data missing: nothing real to upload
        pytest.skip(f"example material unavailable: {exc}")
    song_seconds = audio.info(ex["song"]).duration
    sessions = app_server["sessions"]

    page.get_by_role("tab", name="Separate").click()
    page.locator("#sep-song input[type=file]").set_input_files(str(ex["song"]))
    page.locator("#sep-run").click()
    page.locator("#sep-out-vocals audio").first.wait_for(state="attached", timeout=300_000)
    page.screenshot(path=str(artifacts / "e2e-1-separate.png"), full_page=True)
    for stem in ("vocals", "accompaniment"):
        _real_audio(_latest(sessions, f"separate-*/{stem}.wav")[-1], song_seconds)

    page.get_by_role("tab", name="Which singer").click()
    page.locator("#singer-voice input[type=file]").set_input_files(str(words[0]))
    page.locator("#singer-run").click()
    # the ranking, with each corpus voice's name explained ("... synthetic voice ...")
    page.locator("#singer-out").get_by_text("synthetic voice").first.wait_for(timeout=300_000)
    page.screenshot(path=str(artifacts / "e2e-2-singer.png"), full_page=True)

    page.get_by_role("tab", name="My voice").click()
    page.locator("#voice-files input[type=file]").set_input_files([str(w) for w in words])
    page.locator("#voice-preset").get_by_text("quick", exact=False).first.click()
    page.locator("#voice-run").click()
    page.locator("#voice-msg").get_by_text("is ready").wait_for(timeout=600_000)
    page.screenshot(path=str(artifacts / "e2e-3-voice.png"), full_page=True)

    page.get_by_role("tab", name="Cover").click()
    page.locator("#cover-song input[type=file]").set_input_files(str(ex["song"]))
    # the voice just trained is already selected (the tab's select event fills the dropdown in a
    # round trip of its own: wait for it, as a user's eye does, instead of reading it at once)
    from playwright.sync_api import expect

    expect(page.locator("#cover-voice input")).to_have_value("my-voice", timeout=30_000)
    page.locator("#cover-run").click()
    page.locator("#cover-out audio").first.wait_for(state="attached", timeout=600_000)
    page.screenshot(path=str(artifacts / "e2e-4-cover.png"), full_page=True)
    cover = _latest(sessions, "cover-*/cover.wav")[-1]
    _real_audio(cover, song_seconds)
    assert "AI-generated" in audio.read_metadata(cover).get("comment", "")
    song, sr = audio.read(ex["song"])
    made, sr2 = audio.read(cover)
    assert abs(audio.lufs(made, sr2) - audio.lufs(song, sr)) <= 1.5   # at the song's loudness

    page.get_by_role("tab", name="Listen & rate").click()
    page.locator("#mos-make").click()
    page.get_by_text("Your test has").wait_for(timeout=60_000)
    page.locator("#mos-start").click()
    page.locator("#mos-clip audio").first.wait_for(state="attached", timeout=60_000)
    page.screenshot(path=str(artifacts / "e2e-5-rate.png"), full_page=True)

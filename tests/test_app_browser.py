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

"""Shared fixtures: a running app on a free loopback port (for browser and client tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """Start the app exactly as the README does — ``python3 app.py`` from the repository,
    no flags — on a free loopback port given by ``GRADIO_SERVER_PORT`` (the README's command
    stays valid: the port is the only difference). Yields its URL, the session root the app
    uses by default and the log; session folders live where a newcomer's would: the default
    root under the system temp dir, which is this server's own (``TMPDIR``), so that test runs
    side by side on one machine do not see each other's sessions.
    """
    logs = tmp_path_factory.mktemp("app-log")
    tmpdir = tmp_path_factory.mktemp("app-tmp")
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), TMPDIR=str(tmpdir))
    env.pop("DISCOVERVOICE_HOME", None)
    log = open(logs / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=str(REPO), env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited: {(logs / 'app.log').read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("app did not start within 300 s")
    yield {"url": url, "sessions": tmpdir / "discovervoice-sessions", "log": logs / "app.log", "proc": proc}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture()
def one_torch_thread():
    """One intra-op torch thread for the test: on a shared 2-core machine, two threads that
    wait on each other run tiny networks ~10x slower than one. Use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

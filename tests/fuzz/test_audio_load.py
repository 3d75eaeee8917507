"""``audio.load`` on the generated fuzz corpus (issue 18, first part: the loader).

Every input ends in a correct result (``ndarray[float32, C, T]``, finite, at the asked rate and
channel count) or in one typed :class:`~discovervoice.errors.DiscoverVoiceError` whose message
names the file; never another exception, a hang past :data:`LIMIT_S`, or memory beyond
:data:`MAX_RSS_GROWTH_MB` while loading.

* default suite: a fixed 100-input sample (every family represented);
* ``python3 -m pytest -m fuzz tests/fuzz``: the whole corpus (>= 1000 inputs).
"""

from __future__ import annotations

import resource
import signal

import numpy as np
import pytest

from tests.fuzz.inputs import FuzzCase, cases, sample

#: seconds one load may take before it counts as a hang
LIMIT_S = 60
#: growth of the process' peak RSS (MiB) one load may cause (a 2-hour file is refused from
#: its header, so nothing here should decode more than a few minutes of audio)
MAX_RSS_GROWTH_MB = 1500


class _Hang(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise _Hang()


def check_load(case: FuzzCase, folder) -> str:
    """Load one case as the voice stages do (16 kHz mono: resampling and downmixing run on
    every input; a 2-hour file is 460 MB there, 2.5 GB at 44.1 kHz stereo, which is what the
    streaming separation of long files is for); returns ``"ok"`` or ``"error"`` (typed) and
    fails the test for anything else."""
    from discovervoice import audio
    from discovervoice.errors import DiscoverVoiceError

    path = case.make(folder)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(LIMIT_S)
    try:
        x = audio.load(path, 16000, 1)
        outcome = "ok"
    except DiscoverVoiceError as exc:
        outcome = "error"
        msg = str(exc)
        assert path.name in msg or str(path) in msg, f"{case.name}: error does not name the file: {msg}"
        assert len(msg) < 2000, f"{case.name}: an error too long to read ({len(msg)} characters)"
    except _Hang:
        pytest.fail(f"{case.name}: audio.load ran past {LIMIT_S} s")
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{case.name}: untyped {type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0
    assert grown < MAX_RSS_GROWTH_MB, f"{case.name}: peak RSS grew {grown:.0f} MiB"
    if outcome == "ok":  # the commands' cheap check before their models load never refuses a good file
        audio.preflight(path)
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[0] == 1, f"{case.name}: {x.shape}"
        assert np.isfinite(x).all(), f"{case.name}: non-finite samples returned"
    if case.expect != "any":
        assert outcome == case.expect, f"{case.name}: expected {case.expect}, got {outcome}"
    return outcome


def test_the_corpus_is_big_and_varied():
    every = cases()
    assert len(every) >= 1000
    assert {c.family for c in every} >= {"format", "nonfinite", "container", "truncated",
                                          "bitflip", "garbage", "path", "length"}
    picked = sample(100)
    assert len(picked) == 100 and {c.family for c in picked} == {c.family for c in every}


@pytest.mark.parametrize("case", sample(100), ids=lambda c: c.name)
def test_load_sample(case, tmp_path):
    check_load(case, tmp_path)


@pytest.mark.fuzz
@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_load_full_corpus(case, tmp_path):
    check_load(case, tmp_path)

"""Every ``discovervoice`` command that takes audio, on the fuzz corpus (issue 18).

Commands: separate, which-singer, convert, cover, enhance, transcribe, prep, voice train
(see :data:`tests.fuzz.cli_runner.COMMANDS`), run in-process through
:func:`discovervoice.cli.main`. For each corpus input:

* the loader's verdict is taken first (:func:`discovervoice.audio.load` at the file's own
  rate);
* an input the loader refuses goes through **every** command, and each must refuse it with
  the loader's own message, exit status != 0, no traceback, and before any network runs;
* an input the loader accepts goes end to end through one command, picked in turn
  (:data:`E2E_CYCLE`: the seven quick commands in turn, ``voice train`` once per four
  rounds), so each command gets an even share across the families; the run ends in a result (outputs decode, JSON parses) or in
  one typed error naming the file. Inputs longer than :data:`E2E_MAX_SECONDS` (the
  hour-long silences) are left to ``benchmarks/bench_long_input.py``.

Every run: within a time limit, peak RSS growth below a bound.

* default suite: :func:`sample_cases` (16 inputs, every family);
* ``python3 -m pytest -m fuzz tests/fuzz``: the whole corpus, every third input (when
  accepted) end to end.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fuzz.cli_runner import COMMANDS, check_result, judge, run
from tests.fuzz.inputs import FuzzCase, cases, sample

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: seconds a command may take on a refused input, and end to end on a short accepted one
REFUSE_LIMIT_S = 60
E2E_LIMIT_S = 300
#: accepted inputs longer than this (s) are not run end to end here
E2E_MAX_SECONDS = 60.0
#: in the full run, every E2E_EVERY-th input of the corpus (when the loader accepts it) runs end to end
E2E_EVERY = 3
#: peak RSS growth (MiB) one run may cause
MAX_RSS_GROWTH_MB = 1500

ORDER = tuple(COMMANDS)
#: the end-to-end turn order: each command in turn, ``voice train`` (tens of seconds: it
#: prepares a real voice's recordings too) one cycle in four
E2E_CYCLE = tuple(c for c in ORDER if c != "voice-train") * 4 + ("voice-train",)


def sample_cases(per_family: int = 2) -> list[FuzzCase]:
    """A fixed small spread of the corpus: ``per_family`` inputs of each family, evenly
    spaced within it (16 inputs, about half of them refused by the loader)."""
    every = cases()
    out = []
    for fam in dict.fromkeys(c.family for c in every):
        members = [c for c in every if c.family == fam]
        for k in range(per_family):
            out.append(members[((2 * k + 1) * len(members) // (2 * per_family) + 7 * k) % len(members)])
    return list({c.name: c for c in out}.values())


def _loader_verdict(path: Path) -> tuple[str | None, float]:
    """``(first line of the loader's error without the path, or None; seconds of audio)``."""
    from discovervoice import audio
    from discovervoice.errors import DiscoverVoiceError

    try:
        x = audio.load(path, None)
    except DiscoverVoiceError as exc:
        first = str(exc).splitlines()[0]
        prefix = f"{getattr(exc, 'path', None)}: "
        return (first[len(prefix):] if first.startswith(prefix) else first), 0.0
    h = audio.info(path)
    return None, x.shape[1] / h.sample_rate


@pytest.fixture(scope="module")
def voice_base(tmp_path_factory) -> Path | None:
    """A real voice's clips (KLettres syllables, 2 files, ~37 s with ~13 s voiced: above the
    10 s minimum) for ``voice train`` end to end."""
    from tests.speech_clips import klettres_words

    try:
        return klettres_words(tmp_path_factory.mktemp("voice-base"), files=2)[0].parent
    except FileNotFoundError:
        return None


def _e2e_command(turn: int) -> str:
    return E2E_CYCLE[turn % len(E2E_CYCLE)]


def check_case(case: FuzzCase, tmp_path: Path, voice_base: Path | None, *, e2e: bool,
               turn: int) -> dict[str, str]:
    """Run ``case`` through the commands; returns ``{command: "result" | "error"}``."""
    path = case.make(tmp_path / "in")
    loader_error, seconds = _loader_verdict(path)
    if loader_error is not None:
        todo = list(ORDER)
    elif e2e and seconds <= E2E_MAX_SECONDS:
        todo = [_e2e_command(turn)]
    else:
        todo = []
    outcomes, problems = {}, []
    for cmd in todo:
        scratch = tmp_path / f"run-{cmd}"
        if cmd == "voice-train" and loader_error is None and voice_base is not None:
            shutil.copytree(voice_base, scratch / "voice-base")
        limit = REFUSE_LIMIT_S if loader_error is not None else E2E_LIMIT_S
        r = run(cmd, path, scratch, limit)
        problems += judge(r, path, limit_s=limit, max_rss_growth_mb=MAX_RSS_GROWTH_MB,
                          loader_error=loader_error,
                          unstable_decode=case.family == "bitflip" and path.suffix == ".mp3")
        problems += check_result(cmd, scratch, r)
        outcomes[cmd] = "result" if r.code == 0 else "error"
        shutil.rmtree(scratch, ignore_errors=True)
    _report(case, loader_error, outcomes, problems)
    assert not problems, f"{case.name}:\n" + "\n".join(problems)
    return outcomes


def _report(case: FuzzCase, loader_error: str | None, outcomes: dict[str, str], problems: list[str]) -> None:
    """Append one JSON line per input to ``$DISCOVERVOICE_FUZZ_REPORT`` when it is set (the
    README's table is counted from it)."""
    import json
    import os

    dest = os.environ.get("DISCOVERVOICE_FUZZ_REPORT")
    if dest:
        with open(dest, "a", encoding="utf-8") as f:
            f.write(json.dumps({"case": case.name, "family": case.family,
                                "loader": "error" if loader_error else "ok", "outcomes": outcomes,
                                "problems": problems}) + "\n")


def _accepted_index(case: FuzzCase, every: list[FuzzCase]) -> int:
    """Position of ``case`` among the corpus, used to deal the end-to-end commands in turn."""
    return [c.name for c in every].index(case.name)


_SAMPLE = sample_cases()


@pytest.mark.parametrize("case", _SAMPLE, ids=lambda c: c.name)
def test_cli_sample(case, tmp_path, voice_base):
    # the accepted ones run the quick commands in turn (voice train end to end is -m fuzz only)
    maybe_ok = [c for c in _SAMPLE if c.expect != "error"]
    check_case(case, tmp_path, voice_base, e2e=True, turn=maybe_ok.index(case) if case in maybe_ok else 0)


_EVERY = cases()


@pytest.mark.fuzz
@pytest.mark.parametrize("case", _EVERY, ids=lambda c: c.name)
def test_cli_full_corpus(case, tmp_path, voice_base):
    i = _accepted_index(case, _EVERY)
    check_case(case, tmp_path, voice_base, e2e=(i % E2E_EVERY == 0), turn=i // E2E_EVERY)

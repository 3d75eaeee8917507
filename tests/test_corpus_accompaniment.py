"""FluidSynth stems: one soundfont parse per process, yet every render is independent of
what the process rendered before (same notes -> same samples), and silent about it.

Needs pyfluidsynth + a GM soundfont (fluid-soundfont-gm); skipped otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fluidsynth")

from discovervoice.corpus import accompaniment as acc  # noqa: E402
from discovervoice.errors import DataError  # noqa: E402

pytestmark = pytest.mark.skipif(not acc.soundfonts(),
                                reason="no GM soundfont (scripts/install-system-deps.sh)")


def _tracks(seed: int) -> list[list[acc.Track]]:
    rng = np.random.default_rng(seed)

    def line(prog, lo, hi, drum=False):
        return acc.Track([(0.25 * i, 0.25 * i + 0.4, int(rng.integers(lo, hi)), 90)
                          for i in range(12)], prog, drum=drum, pan=0.3)
    return [[line(33, 36, 48)], [line(48, 55, 70), line(0, 50, 65)],
            [line(0, 36, 50, drum=True)]]


def test_renders_do_not_depend_on_what_was_rendered_before(capfd):
    sf2 = acc.soundfonts()[0].path
    shared = acc.FluidRenderer(sf2)
    sets = _tracks(0)
    first = [shared.render(t, 4.0) for t in sets]
    again = [shared.render(t, 4.0) for t in reversed(sets)][::-1]
    other = acc.FluidRenderer(sf2)            # its own parse of the soundfont
    alone = [other.render(t, 4.0) for t in sets]
    for a, b, c in zip(first, again, alone):
        assert a.shape == (2, 4 * acc.SR) and a.dtype == np.float32
        assert np.abs(a).max() > 1e-3                       # real sound
        assert np.array_equal(a, b) and np.array_equal(a, c)
    # the bass (pan 0.3) is louder on the right
    assert np.abs(first[0][1]).sum() > np.abs(first[0][0]).sum()
    assert "No preset found" not in capfd.readouterr().err
    other.close()
    with pytest.raises(RuntimeError):
        other.render(sets[0], 1.0)


def test_missing_soundfont_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        acc.FluidRenderer(str(tmp_path / "none.sf2"))
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF0000sfbk not a soundfont")
    with pytest.raises(DataError, match="cannot load"):
        acc.FluidRenderer(str(bad))


def test_renderer_is_shared_within_a_process_and_new_in_a_forked_child():
    import multiprocessing as mp

    sf2 = acc.soundfonts()[0].path
    r = acc.renderer(sf2)
    assert acc.renderer(sf2) is r
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    ref = r.render(_tracks(1)[1], 2.0)
    with mp.get_context("fork").Pool(1) as pool:
        same, child = pool.apply(_render_in_child, (sf2, id(r)))
    assert not same and np.array_equal(child, ref)


def _render_in_child(sf2: str, parent_id: int):
    r = acc.renderer(sf2)
    return id(r) == parent_id, r.render(_tracks(1)[1], 2.0)

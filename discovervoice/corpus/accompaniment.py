"""Accompaniment stems: FluidSynth (General MIDI soundfonts) and real drum samples.

* :class:`FluidRenderer` renders MIDI-like tracks to ``ndarray[2, T]`` float32 at 44.1 kHz
  through libfluidsynth in-process (pyfluidsynth's ctypes handle, ``fluid_synth_write_float``
  straight into numpy buffers: no ``fluidsynth`` process, no MIDI or WAV file), with
  FluidSynth's own reverb and chorus off (the corpus adds its own reverb per stem). The
  soundfont is parsed once per process; each render uses a fresh synth that borrows it
  (deterministic output), events on 64-sample blocks.
* :class:`DrumKit` plays drum patterns from Hydrogen drum kits (Debian
  ``hydrogen-drumkits``: real recorded samples, GPL-2+/CC licences per kit, see the
  package's copyright file) with numpy: kick, snare, hi-hat, optional crash/ride.
* :func:`drum_pattern` makes a groove for a metre and tempo as note events, played by
  either a DrumKit or FluidSynth's GM percussion (channel 10).

Soundfonts (:func:`soundfonts`): ``FluidR3_GM.sf2`` (fluid-soundfont-gm, MIT),
``TimGM6mb.sf2`` (timgm6mb-soundfont, GPL-2) for training; ``MuseScore_General*.sf3``
(musescore-general-soundfont-small, MIT) is reserved for the test split.
"""

from __future__ import annotations

import functools
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from discovervoice.corpus.reserved import is_reserved_soundfont
from discovervoice.errors import DataError

SR = 44100
_BLOCK = 64
_FLUID_WARN = 2   # fluid_log_level

SOUNDFONT_DIRS = (Path("/usr/share/sounds/sf2"), Path("/usr/share/sounds/sf3"))
SOUNDFONT_LICENCES = {
    "FluidR3_GM.sf2": "MIT (fluid-soundfont-gm, Frank Wen)",
    "TimGM6mb.sf2": "GPL-2 (timgm6mb-soundfont, Tim Brechbill)",
    "MuseScore_General_Lite.sf3": "MIT (musescore-general-soundfont-small, S. Christian Collins)",
    "MuseScore_General.sf3": "MIT (musescore-general-soundfont, S. Christian Collins)",
}
HYDROGEN_DIR = Path("/usr/share/hydrogen/data/drumkits")


@dataclass(frozen=True)
class SoundFont:
    path: str
    name: str
    licence: str
    reserved: bool


def soundfonts(*, include_reserved: bool = False, only_reserved: bool = False) -> list[SoundFont]:
    """Installed GM soundfonts (real files, symlinks resolved, duplicates dropped)."""
    seen, out = set(), []
    for d in SOUNDFONT_DIRS:
        for f in sorted(d.glob("*.sf[23]")):
            real = f.resolve()
            if not real.is_file() or real in seen or real.name not in SOUNDFONT_LICENCES:
                continue
            seen.add(real)
            res = is_reserved_soundfont(real.name)
            if (res and not (include_reserved or only_reserved)) or (only_reserved and not res):
                continue
            out.append(SoundFont(str(real), real.name, SOUNDFONT_LICENCES[real.name], res))
    return out


@dataclass
class Track:
    """A part for FluidSynth. ``notes``: ``[(start_s, end_s, midi_pitch, velocity)]``;
    ``program``: GM program 0..127; ``drum``: play on the percussion channel;
    ``pan``: -1..1; ``volume``: MIDI CC7 0..127."""

    notes: list[tuple[float, float, int, int]]
    program: int = 0
    drum: bool = False
    pan: float = 0.0
    volume: int = 100


class FluidRenderer:
    """Render :class:`Track` lists with one soundfont. Use :func:`renderer` to share.

    The soundfont is parsed once (``sfload`` of a 140 MB ``.sf2`` takes ~12 ms even with
    ``synth.dynamic-sample-loading``) by a holder synth that keeps it; every
    :meth:`render` runs on a fresh FluidSynth instance (FluidSynth keeps voice state
    between renders, which would make a file depend on what was rendered before it) that
    borrows the loaded soundfont (``fluid_synth_add_sfont``) and gives it back
    (``fluid_synth_remove_sfont``) before it is deleted. A fresh synth costs < 1 ms;
    only the presets played have their samples loaded.

    Raises:
        DataError: the soundfont is missing or FluidSynth cannot load it.
    """

    def __init__(self, soundfont: str, gain: float = 0.4):
        import fluidsynth  # pyfluidsynth
        from ctypes import c_int, c_void_p

        if not Path(soundfont).is_file():
            raise DataError(f"{soundfont}: soundfont not found (scripts/install-system-deps.sh)")
        self._fs = fluidsynth
        self._write = fluidsynth.cfunc(
            "fluid_synth_write_float", c_int, ("synth", c_void_p, 1), ("len", c_int, 1),
            ("lout", c_void_p, 1), ("loff", c_int, 1), ("lincr", c_int, 1),
            ("rout", c_void_p, 1), ("roff", c_int, 1), ("rincr", c_int, 1))
        get_sfont = fluidsynth.cfunc("fluid_synth_get_sfont_by_id", c_void_p,
                                     ("synth", c_void_p, 1), ("id", c_int, 1))
        self._add_sfont = fluidsynth.cfunc("fluid_synth_add_sfont", c_int,
                                           ("synth", c_void_p, 1), ("sfont", c_void_p, 1))
        self._remove_sfont = fluidsynth.cfunc("fluid_synth_remove_sfont", c_int,
                                              ("synth", c_void_p, 1), ("sfont", c_void_p, 1))
        self._set_log = fluidsynth.cfunc("fluid_set_log_function", c_void_p,
                                         ("level", c_int, 1), ("fun", c_void_p, 1),
                                         ("data", c_void_p, 1))
        self.soundfont = soundfont
        self.gain = gain
        self._holder = self._synth()
        sfid = self._holder.sfload(soundfont)
        self._sfont = get_sfont(self._holder.synth, sfid) if sfid >= 0 else None
        if not self._sfont:
            self.close()
            raise DataError(f"{soundfont}: FluidSynth cannot load this soundfont")

    def _synth(self):
        # effects off from the start (the corpus adds its own reverb per stem)
        return self._fs.Synth(samplerate=float(SR), gain=self.gain, channels=16,
                              **{"synth.dynamic-sample-loading": 1,
                                 "synth.reverb.active": 0, "synth.chorus.active": 0})

    def close(self) -> None:
        """Free the holder synth and the soundfont (the renderer is unusable after)."""
        if getattr(self, "_holder", None) is not None:
            self._holder.delete()
            self._holder, self._sfont = None, None

    def render(self, tracks: list[Track], duration: float) -> np.ndarray:
        """``ndarray[2, round(duration*44100)]`` float32 of all ``tracks`` together."""
        if self._holder is None:
            raise RuntimeError("FluidRenderer used after close()")
        s = self._synth()
        sfid = self._add_sfont(s.synth, self._sfont)
        try:
            if sfid < 0:
                raise DataError(f"{self.soundfont}: FluidSynth cannot add the loaded soundfont")
            return self._render(s, sfid, tracks, duration)
        finally:
            if sfid >= 0:
                # removing re-selects every channel's program, which warns "No preset
                # found" on all 16 channels of the synth about to be deleted: muted here
                prev = self._set_log(_FLUID_WARN, None, None)
                try:
                    self._remove_sfont(s.synth, self._sfont)
                finally:
                    self._set_log(_FLUID_WARN, prev, None)
            s.delete()

    def _render(self, s, sfid: int, tracks: list[Track], duration: float) -> np.ndarray:
        events = []  # (sample, order, kind, channel, a, b)
        ch_free = [c for c in range(16) if c != 9]
        for tr in tracks:
            if tr.drum:
                ch = 9
                s.program_select(9, sfid, 128, 0)
            else:
                if not ch_free:
                    raise ValueError("more than 15 melodic tracks in one render")
                ch = ch_free.pop(0)
                s.program_select(ch, sfid, 0, int(tr.program))
            s.cc(ch, 7, int(np.clip(tr.volume, 0, 127)))
            s.cc(ch, 10, int(np.clip(round(64 + 63 * tr.pan), 0, 127)))
            for st, en, p, v in tr.notes:
                a = int(round(st * SR / _BLOCK)) * _BLOCK
                b = max(a + _BLOCK, int(round(en * SR / _BLOCK)) * _BLOCK)
                events.append((a, 1, "on", ch, int(p), int(v)))
                events.append((b, 0, "off", ch, int(p), 0))
        events.sort()
        n = int(round(duration * SR))
        n_alloc = (max([n] + [e[0] for e in events]) // _BLOCK + 2) * _BLOCK
        out = np.zeros((2, n_alloc), np.float32)
        pos = 0
        for t, _, kind, ch, p, v in events:
            if t > pos:
                self._w(s, out, pos, t - pos)
                pos = t
            if kind == "on":
                s.noteon(ch, p, v)
            else:
                s.noteoff(ch, p)
        self._w(s, out, pos, n_alloc - pos)
        return out[:, :n]

    def _w(self, s, out: np.ndarray, pos: int, n: int) -> None:
        if n > 0:
            self._write(s.synth, n, out[0, pos:].ctypes.data, 0, 1, out[1, pos:].ctypes.data,
                        0, 1)


_RENDERERS: dict[tuple[int, str], FluidRenderer] = {}


def renderer(soundfont: str) -> FluidRenderer:
    """The per-process :class:`FluidRenderer` for ``soundfont`` (loaded once per process).

    Keyed by process id: a worker forked from a process that already rendered makes
    its own instead of using the parent's FluidSynth objects.
    """
    key = (os.getpid(), soundfont)
    r = _RENDERERS.get(key)
    if r is None:
        r = _RENDERERS[key] = FluidRenderer(soundfont)
    return r


# ------------------------------------------------------------------------ drums
_ROLES = (("kick", r"kick|bass ?drum|\bbd\b|kik"),
          ("snare", r"snare|\bsd\b"),
          ("hat", r"closed ?hh|closed hi|hat|\bhh\b|hihat"),
          ("crash", r"crash|ride|cymbal"))


@dataclass
class DrumKit:
    """A Hydrogen kit reduced to roles -> sample ``ndarray[2, T]`` at 44.1 kHz."""

    name: str
    samples: dict[str, np.ndarray]
    licence: str

    def play(self, hits: list[tuple[float, str, float]], duration: float) -> np.ndarray:
        """Mix ``hits`` = ``[(time_s, role, velocity 0..1)]`` into ``ndarray[2, T]``."""
        n = int(round(duration * SR))
        out = np.zeros((2, n), np.float32)
        for t, role, vel in hits:
            smp = self.samples.get(role)
            if smp is None:
                continue
            a = int(round(t * SR))
            if a >= n:
                continue
            m = min(smp.shape[1], n - a)
            out[:, a:a + m] += vel * smp[:, :m]
        return out


def hydrogen_kits() -> list[str]:
    """Names of installed Hydrogen kits that have at least kick, snare and hi-hat."""
    return [k for k in sorted(p.name for p in HYDROGEN_DIR.glob("*") if p.is_dir())
            if _kit_roles(k) is not None]


@functools.lru_cache(maxsize=None)
def _kit_roles(name: str) -> dict[str, str] | None:
    xml = HYDROGEN_DIR / name / "drumkit.xml"
    if not xml.is_file():
        return None
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError:
        return None
    found: dict[str, str] = {}
    for inst in root.iter():
        if not inst.tag.endswith("instrument"):
            continue
        nm = next((c.text or "" for c in inst if c.tag.endswith("name")), "")
        fn = next((e.text for e in inst.iter() if e.tag.endswith("filename") and e.text), None)
        if not fn or not (HYDROGEN_DIR / name / fn).is_file():
            continue
        for role, rx in _ROLES:
            if role not in found and re.search(rx, nm, re.IGNORECASE):
                found[role] = fn
                break
    if not {"kick", "snare", "hat"} <= set(found):
        return None
    return found


@functools.lru_cache(maxsize=16)
def load_kit(name: str) -> DrumKit:
    """Load a Hydrogen kit's role samples (resampled to 44.1 kHz stereo, peak 1)."""
    import soundfile as sf
    import soxr

    roles = _kit_roles(name)
    if roles is None:
        raise DataError(f"{HYDROGEN_DIR / name}: no usable kick/snare/hi-hat in drumkit.xml")
    samples = {}
    for role, fn in roles.items():
        x, sr = sf.read(str(HYDROGEN_DIR / name / fn), dtype="float32", always_2d=True)
        if sr != SR:
            x = soxr.resample(x, sr, SR)
        x = x.T[:, : int(1.5 * SR)]
        if x.shape[0] == 1:
            x = np.repeat(x, 2, axis=0)
        x = x[:2]
        peak = float(np.abs(x).max()) or 1.0
        samples[role] = (x / peak).astype(np.float32)
    return DrumKit(name, samples, "hydrogen-drumkits (GPL-2+ / CC, see Debian copyright)")


_GM_DRUM = {"kick": 36, "snare": 38, "hat": 42, "crash": 49}


def drum_pattern(duration: float, bpm: float, beats_per_bar: int, rng: np.random.Generator
                 ) -> list[tuple[float, str, float]]:
    """A groove ``[(time_s, role, velocity)]``: kick on 1 (and 3 in 4/4), snare on the
    backbeats, hi-hat eighths (or quarters), a crash on every 4th bar's downbeat;
    velocities jittered, variations drawn from ``rng``."""
    beat = 60.0 / bpm
    hat_div = int(rng.choice([1, 2, 2, 4]))
    kick_extra = rng.random() < 0.4
    hits = []
    t, b = 0.0, 0
    while t < duration:
        pos = b % beats_per_bar
        bar = b // beats_per_bar
        if pos == 0 or (beats_per_bar == 4 and pos == 2):
            hits.append((t, "kick", 0.9 + 0.1 * rng.random()))
        elif beats_per_bar == 3 or pos in (1, 3):
            hits.append((t, "snare", 0.75 + 0.2 * rng.random()))
        if kick_extra and pos == beats_per_bar - 1:
            hits.append((t + beat / 2, "kick", 0.6 + 0.1 * rng.random()))
        for k in range(hat_div):
            hits.append((t + k * beat / hat_div, "hat", (0.5 if k else 0.65) + 0.15 * rng.random()))
        if pos == 0 and bar % 4 == 0:
            hits.append((t, "crash", 0.6 + 0.2 * rng.random()))
        t += beat
        b += 1
    return [h for h in hits if h[0] < duration]


def gm_drum_track(hits: list[tuple[float, str, float]]) -> Track:
    """The same groove as a GM percussion :class:`Track` for FluidSynth."""
    notes = [(t, t + 0.1, _GM_DRUM[r], int(np.clip(v * 127, 1, 127))) for t, r, v in hits
             if r in _GM_DRUM]
    return Track(notes, 0, drum=True)

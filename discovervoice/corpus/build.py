"""Build the whole corpus: plan deterministic jobs, run them on worker processes, write
the manifest. See the package docstring for the layout.

Determinism: the plan (which piece, voice, soundfont... each job uses) is a pure function
of the :class:`BuildConfig`; every job then draws its own random choices from
``numpy.random.default_rng([seed, crc32(job key)])``, so the files do not depend on the
number of workers or the order in which jobs finish.

Workers: ``concurrent.futures.ProcessPoolExecutor``, forked when the calling process runs
no other thread (they share the modules imported once), spawned otherwise; each worker
keeps the garbage collector off what it starts with and reuses freed audio buffers
(glibc ``mallopt``), see :func:`_worker_init`. Speed: ``benchmarks/bench_corpus.py``.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from discovervoice.corpus import accompaniment as acc
from discovervoice.corpus import reserved as rsv
from discovervoice.corpus import scores as sc
from discovervoice.corpus.voices import Voice, list_voices, tool_versions
from discovervoice.errors import DataError
from discovervoice.fileio import write_json

log = logging.getLogger(__name__)

PARTS = ("songs", "singers", "parallel", "noisy", "real-songs")
#: Parts built when none are named (real-songs needs the music packages: opt-in).
DEFAULT_PARTS = ("songs", "singers", "parallel", "noisy")
#: Folder of each part under the corpus root.
PART_FOLDERS = {"songs": "songs", "singers": "singers", "parallel": "parallel",
                "noisy": "noisy_speech", "real-songs": "real_songs"}
MANIFEST_VERSION = 1
SINGER_SR = 16000


@dataclass
class BuildConfig:
    """Everything a build depends on (stored in the manifest).

    Counts are per build; ``songs`` is the number of train+valid songs (``valid_fraction``
    of them go to valid), ``test_songs`` the number of test songs (reserved material).
    ``real_songs`` / ``real_dev_songs``: train / valid (development set) songs of the
    real-songs part (:mod:`discovervoice.corpus.realsongs`), whose music packages lie
    unpacked under ``music_root`` (``music_packages``: only these train packages;
    ``real_voice_kinds``: only voices of these kinds, e.g. ``("recorded",)``).
    """

    out: str
    seed: int = 0
    splits: tuple[str, ...] = ("train", "valid")
    parts: tuple[str, ...] = DEFAULT_PARTS
    include_reserved: bool = False
    songs: int = 300
    test_songs: int = 60
    valid_fraction: float = 0.1
    song_seconds: float = 25.0
    max_minutes: float | None = None
    voices: tuple[str, ...] | None = None
    pieces: tuple[str, ...] | None = None
    singers: int | None = None
    sung_per_singer: int = 16
    spoken_per_singer: int = 10
    parallel_sets: int = 24
    parallel_voices: int = 3
    parallel_train_seconds: float = 150.0
    noisy_pairs: int = 600
    snrs: tuple[float, ...] = (15.0, 20.0, 25.0)
    noisy_recorded_share: float = 0.3
    recorded_voices: bool = True
    real_songs: int = 120
    real_dev_songs: int = 24
    real_song_seconds: float = 20.0
    real_silent_share: float = 0.2
    music_root: str = "/"
    music_packages: tuple[str, ...] | None = None
    real_voice_kinds: tuple[str, ...] | None = None
    workers: int = 2

    def validate(self) -> None:
        bad = [s for s in self.splits if s not in rsv.SPLITS]
        if bad:
            raise DataError(f"unknown split(s) {bad}; choose from {list(rsv.SPLITS)}")
        badp = [p for p in self.parts if p not in PARTS]
        if badp:
            raise DataError(f"unknown part(s) {badp}; choose from {list(PARTS)}")
        if "real-songs" in self.parts:
            from discovervoice.corpus.realsongs import check_packages
            check_packages(self.music_packages or ())
        if not 0.0 <= self.noisy_recorded_share <= 1.0:
            raise DataError(f"noisy_recorded_share must lie in 0..1, not {self.noisy_recorded_share}")
        if rsv.RESERVED_SPLIT in self.splits and not self.include_reserved:
            raise rsv.ReservedMaterialError(
                "the test split is built only from the material reserved for evaluation; "
                "pass include_reserved=True (--include-reserved) to build it")


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def _write_json(path: Path, obj) -> None:
    write_json(path, obj)


# --------------------------------------------------------------------------- material
@dataclass
class Material:
    """Pieces, voices and soundfonts allowed for one split."""

    split: str
    chorales: list[str]
    folk: list[str]
    voices: list[Voice]
    soundfonts: list[acc.SoundFont]


def _chorales(cfg: BuildConfig) -> list[str]:
    """Chorale ids (cheap: no parsing; unusable ones are skipped by the jobs)."""
    ids = sc.chorale_ids()
    if cfg.pieces:
        want = set(cfg.pieces)
        ids = [i for i in ids if i in want or i.split("/")[-1] in want]
        if not ids:
            raise DataError(f"none of the pieces {sorted(want)} is in music21's corpus "
                            "(ids look like bach/bwv66.6)")
    return ids


def material_for(split: str, cfg: BuildConfig, chorales: list[str], folk: list[str],
                 voices: list[Voice]) -> Material:
    """Material allowed in ``split``: reserved only for test, never for train/valid.

    train and valid share voices and soundfonts but not pieces: the non-reserved chorales
    are shuffled by the seed and ``valid_fraction`` of them go to valid.
    """
    test = split == rsv.RESERVED_SPLIT
    if test and not cfg.include_reserved:
        raise rsv.ReservedMaterialError("test split requested without include_reserved")
    ch = [c for c in chorales if rsv.is_reserved_piece(c) == test]
    if not test:
        order = _rng(cfg.seed, "valid-pieces").permutation(len(ch))
        n_valid = max(1, int(round(cfg.valid_fraction * len(ch)))) if len(ch) > 1 else 0
        valid = {ch[i] for i in order[:n_valid]}
        ch = [c for c in ch if (c in valid) == (split == "valid")]
    vs = [v for v in voices if v.reserved == test]
    sfs = acc.soundfonts(only_reserved=True) if test else acc.soundfonts()
    return Material(split, ch, [] if test else folk, vs, sfs)


# --------------------------------------------------------------------------- jobs
@dataclass
class Job:
    part: str
    split: str
    key: str
    args: dict = field(default_factory=dict)


def plan(cfg: BuildConfig, progress: Callable[[str], None] | None = None) -> list[Job]:
    """The list of jobs of a build (deterministic)."""
    cfg.validate()
    out = Path(cfg.out)
    cache = out / ".cache" / "scores"
    say = progress or (lambda s: None)
    voices = list_voices(include_reserved=cfg.include_reserved)
    if cfg.voices:
        want = set(cfg.voices)
        voices = [v for v in voices if v.id in want or v.id.split("-", 1)[-1] in want]
        if not voices:
            raise DataError(f"none of the voices {sorted(want)} is installed "
                            "(discovervoice corpus voices lists them)")
    if not cfg.recorded_voices:
        voices = [v for v in voices if v.kind != "recorded"]
    if not voices:
        raise DataError("no voices installed: run scripts/install-system-deps.sh")
    chorales = _chorales(cfg)
    folk: list[str] = []
    if not cfg.pieces and any(p in cfg.parts for p in ("singers", "parallel")):
        say("parsing folk melodies")
        for coll in sc.FOLK_COLLECTIONS:
            folk += [p.piece_id for p in sc.folk_pieces(coll, cache)]
    jobs: list[Job] = []
    for split in cfg.splits:
        m = material_for(split, cfg, chorales, folk, voices)
        if not m.voices:
            raise DataError(f"split {split}: no voices available")
        jobs += _plan_split(cfg, m)
    return jobs


def _song_count(cfg: BuildConfig, split: str) -> int:
    if split == "test":
        n = cfg.test_songs
    else:
        n_valid = int(round(cfg.songs * cfg.valid_fraction))
        n = n_valid if split == "valid" else cfg.songs - n_valid
    if cfg.max_minutes is not None:
        cap = int(cfg.max_minutes * 60 / cfg.song_seconds)
        share = {"train": 1 - cfg.valid_fraction, "valid": cfg.valid_fraction}.get(split, 1.0)
        if split == "test":
            share = 1.0
        n = min(n, max(1, int(cap * share)))
    return n


def _plan_split(cfg: BuildConfig, m: Material) -> list[Job]:
    jobs: list[Job] = []
    rng = _rng(cfg.seed, f"plan-{m.split}")
    sing_voices = [v for v in m.voices]
    song_voices = [v for v in sing_voices if v.kind != "recorded"]
    speak_voices = [v for v in sing_voices if v.kind != "recorded"]
    kits = acc.hydrogen_kits()
    if "songs" in cfg.parts and m.chorales and song_voices and m.soundfonts:
        n = _song_count(cfg, m.split)
        pieces = [m.chorales[i] for i in rng.permutation(len(m.chorales))]
        vorder = [song_voices[i] for i in rng.permutation(len(song_voices))]
        for i in range(n):
            p = pieces[i % len(pieces)]
            # the job takes the first usable chorale of this rotation (deterministic)
            cands = [pieces[(i + j) % len(pieces)] for j in range(min(8, len(pieces)))]
            v = vorder[i % len(vorder)]
            sfont = m.soundfonts[int(rng.integers(len(m.soundfonts)))]
            key = f"{m.split}-{i:04d}"
            jobs.append(Job("songs", m.split, key, {
                "candidates": cands, "voice": v, "soundfont": sfont, "kits": kits,
                "index": i}))
    melodies = m.chorales + m.folk
    if "singers" in cfg.parts and melodies:
        vs = sing_voices if cfg.singers is None else \
            [sing_voices[i] for i in sorted(rng.permutation(len(sing_voices))[:cfg.singers])]
        # valid shares the singers of train (classification needs them): one job per
        # singer writes its clips into train or valid
        if m.split != "valid":
            for v in vs:
                jobs.append(Job("singers", m.split, f"{m.split}-{v.id}",
                                {"voice": v, "melodies": melodies,
                                 "with_valid": m.split == "train" and "valid" in cfg.splits}))
    if "parallel" in cfg.parts and melodies and len(speak_voices) >= 2:
        n_sets = cfg.parallel_sets if m.split == "train" else max(2, cfg.parallel_sets // 4)
        set_pieces = [melodies[i] for i in rng.permutation(len(melodies))[:max(1, n_sets)]]
        used: set[str] = set()
        for i in range(n_sets):
            idx = rng.permutation(len(speak_voices))[:min(cfg.parallel_voices, len(speak_voices))]
            vs = [speak_voices[j] for j in sorted(idx)]
            used |= {v.id for v in vs}
            jobs.append(Job("parallel", m.split, f"{m.split}-set{i:03d}",
                            {"voices": vs, "pieces": set_pieces,
                             "name": f"set{i:03d}"}))
        train_pieces = [p for p in melodies if p not in set(set_pieces)] or melodies
        for v in speak_voices:
            if v.id in used:
                jobs.append(Job("parallel_train", m.split, f"{m.split}-ptrain-{v.id}",
                                {"voice": v, "melodies": train_pieces}))
    if "real-songs" in cfg.parts and m.split != rsv.RESERVED_SPLIT and m.chorales:
        jobs += _plan_real_songs(cfg, m)
    if "noisy" in cfg.parts and speak_voices:
        n = {"train": cfg.noisy_pairs, "valid": max(1, cfg.noisy_pairs // 10),
             "test": max(1, cfg.noisy_pairs // 5)}[m.split]
        rec = [v for v in m.voices if v.kind == "recorded"]
        chunk = 25
        for c in range(0, n, chunk):
            jobs.append(Job("noisy", m.split, f"{m.split}-noisy{c:05d}",
                            {"start": c, "count": min(chunk, n - c), "voices": speak_voices,
                             "recorded": rec, "others": speak_voices,
                             "recorded_share": cfg.noisy_recorded_share}))
    return jobs


def _plan_real_songs(cfg: BuildConfig, m: Material) -> list[Job]:
    """Jobs of the real-songs part: train from the train packages and voices, valid (the
    development set) from :data:`~discovervoice.corpus.realsongs.DEV_PACKAGES` and
    :data:`~discovervoice.corpus.realsongs.DEV_SPEAKERS` only.

    Raises:
        DataError: none of the packages' tracks is found under ``music_root``.
    """
    from discovervoice.corpus import realsongs as rs

    dev = m.split == "valid"
    pkgs = rs.DEV_PACKAGES if dev else (cfg.music_packages or rs.TRAIN_PACKAGES)
    tracks = rs.find_tracks(cfg.music_root, pkgs)
    if not tracks:
        raise DataError(f"real-songs: no track of {', '.join(pkgs)} under {cfg.music_root} "
                        "(unpack them with scripts/fetch-real-music.sh DIR and pass "
                        "--music-root DIR)")
    if dev:
        voices = [v for v in m.voices if v.id in rs.DEV_SPEAKERS]
    else:
        voices = [v for v in m.voices if v.id not in rs.DEV_SPEAKERS]
    if cfg.real_voice_kinds:
        voices = [v for v in voices if v.kind in cfg.real_voice_kinds]
    if not voices:
        raise DataError(f"real-songs {m.split}: no voices")
    n = cfg.real_dev_songs if dev else cfg.real_songs
    return [Job("real-songs", m.split, f"{m.split}-real{i:04d}",
                {"tracks": tracks, "voices": voices, "pieces": m.chorales, "index": i})
            for i in range(n)]


# --------------------------------------------------------------------------- run
def run_job(job: Job, cfg: BuildConfig) -> list[dict]:
    """Execute one job; returns its manifest items."""
    from discovervoice.corpus import parts, realsongs

    fn = {"songs": parts.song_job, "singers": parts.singer_job,
          "parallel": parts.parallel_job, "parallel_train": parts.parallel_train_job,
          "noisy": parts.noisy_job, "real-songs": realsongs.real_song_job}[job.part]
    rng = _rng(cfg.seed, f"{job.part}-{job.key}")
    items = fn(job, cfg, rng, Path(cfg.out))
    for it in items:   # the split rule, checked on every item written
        rsv.check_split(it["split"], piece=it.get("piece"), voices=tuple(it.get("voices", [])),
                        soundfont=it.get("soundfont"), packages=tuple(it.get("packages", [])))
    return items


# glibc mallopt parameters
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def _worker_init() -> None:
    """Worker set-up: one BLAS/FFT thread, die with the parent process (Linux
    ``PR_SET_PDEATHSIG``) so that a killed build leaves no orphan workers, keep the
    garbage collector off what the worker starts with (``gc.freeze``), and keep freed
    audio buffers for reuse (glibc ``mallopt``).

    A song allocates and frees a few dozen 10-20 MB arrays; by default glibc gives each
    back to the kernel (``munmap``) and the next one is page-faulted in again, which
    costs ~20 % of a song's CPU on a virtual machine. Blocks up to 32 MB (the glibc
    maximum) now come from the heap, which keeps up to 1 GB of free memory instead of
    trimming it. Only the build's own workers are tuned, never the calling process.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import ctypes
    import gc
    import signal
    import sys

    # what the worker inherited or imported is never garbage: keep the cyclic collector
    # off it (no scan of ~90k objects per full collection, no copy-on-write of the
    # pages a forked worker shares with its parent)
    gc.freeze()

    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError as exc:   # no glibc (e.g. musl): orphans then end with their job
            log.debug("prctl unavailable: %s", exc)
            return
        libc.prctl(1, int(signal.SIGTERM))   # 1 = PR_SET_PDEATHSIG
        mallopt = getattr(libc, "mallopt", None)
        if mallopt is not None:
            for param, value in ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 1 << 30),
                                 (_M_TOP_PAD, 64 << 20)):
                if mallopt(param, value) != 1:
                    log.debug("mallopt(%d, %d) refused", param, value)


def _mp_context():
    """``fork`` when this process runs no other Python thread, else ``spawn``.

    Forked workers share the modules the jobs need (numpy, scipy.fft, scipy.io.wavfile,
    pyfluidsynth, soxr: imported here first, once) instead of importing them again:
    a spawned worker spends ~0.5 CPU-s on that, as much as a song. Forking a process
    that runs threads can deadlock, so a threaded caller (a GUI, a server) gets
    ``spawn``. Nothing that holds a file or a library handle (a loaded soundfont) is
    created before the fork: every worker makes its own.
    """
    import multiprocessing as mp
    import threading

    if "fork" in mp.get_all_start_methods() and threading.active_count() == 1:
        import fluidsynth  # noqa: F401 - preloaded for the forked workers
        import scipy.fft  # noqa: F401
        import scipy.io.wavfile  # noqa: F401
        import soxr  # noqa: F401

        from discovervoice.corpus import parts  # noqa: F401
        return mp.get_context("fork")
    return mp.get_context("spawn")


def build(cfg: BuildConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Build the corpus described by ``cfg`` into ``cfg.out``; returns the manifest.

    An existing manifest in the folder is merged: items of the (part, split) pairs built
    now replace the old ones, others are kept (so ``train,valid`` and ``test`` can be
    built into one folder by two commands).

    Resumable: every finished job records its items in ``DIR/.jobs/``; running the same
    command again (same configuration) skips the jobs already done, so a stopped build
    continues where it was.
    """
    say = progress or (lambda s: None)
    t0 = time.time()
    cfg.validate()          # before anything is written
    code = _code_version()  # the code that runs this build, read before it starts
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = _interleave(plan(cfg, say))
    done_dir = out / ".jobs"
    done_dir.mkdir(exist_ok=True)
    chash = config_hash(cfg)
    items: list[dict] = []
    errors: list[str] = []
    todo = []
    for j in jobs:   # resume: jobs finished by an earlier run of the same config
        f = done_dir / f"{j.part}-{j.key}.json"
        if f.exists():
            rec = json.loads(f.read_text())
            if rec.get("config_hash") == chash:
                items += rec["items"]
                continue
        todo.append(j)
    say(f"{len(jobs)} jobs planned, {len(jobs) - len(todo)} already done")

    def finished(j: Job, its: list[dict]) -> None:
        _write_json(done_dir / f"{j.part}-{j.key}.json", {"config_hash": chash, "items": its})
        items.extend(its)
        finished.count += 1
        if finished.count % 25 == 0:   # usable while it grows ("in_progress": true)
            _merge_manifest(out, cfg, sorted(items, key=lambda it: it["path"]),
                            time.time() - t0, errors, final=False, code=code)

    finished.count = 0

    if cfg.workers <= 1:
        for i, j in enumerate(todo):
            try:
                finished(j, run_job(j, cfg))
            except Exception as exc:  # report every failed job, then fail the build
                errors.append(f"{j.part} {j.key}: {type(exc).__name__}: {exc}")
                log.error("job %s %s failed: %s", j.part, j.key, exc)
            say(f"[{i + 1}/{len(todo)}] {j.part} {j.key}")
    elif todo:
        with ProcessPoolExecutor(cfg.workers, mp_context=_mp_context(),
                                 initializer=_worker_init) as ex:
            futs = {ex.submit(run_job, j, cfg): j for j in todo}
            for i, f in enumerate(as_completed(futs)):
                j = futs[f]
                try:
                    finished(j, f.result())
                except Exception as exc:  # report every failed job, then fail the build
                    errors.append(f"{j.part} {j.key}: {type(exc).__name__}: {exc}")
                    log.error("job %s %s failed: %s", j.part, j.key, exc)
                say(f"[{i + 1}/{len(todo)}] {j.part} {j.key}")
    items.sort(key=lambda it: it["path"])
    manifest = _merge_manifest(out, cfg, items, time.time() - t0, errors, code=code)
    if errors:   # the manifest lists what was made; the build still fails loudly
        raise DataError(f"{len(errors)} corpus job(s) failed (the others were written and "
                        f"listed in {out / 'manifest.json'}):\n  " + "\n  ".join(errors[:20]))
    say(f"done in {time.time() - t0:.1f} s: {len(items)} files")
    return manifest


def config_hash(cfg: BuildConfig) -> str:
    """Hash of everything in ``cfg`` that changes the files (not ``out``/``workers``)."""
    import hashlib

    d = asdict(cfg)
    d.pop("out")
    d.pop("workers")
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _interleave(jobs: list[Job]) -> list[Job]:
    """Round-robin over the (part, split) groups, so that a build stopped early has some
    of everything; each group keeps its own order."""
    groups: dict[tuple[str, str], list[Job]] = {}
    for j in jobs:
        groups.setdefault((j.part, j.split), []).append(j)
    out: list[Job] = []
    queues = [list(g) for g in groups.values()]
    total = sum(len(q) for q in queues)
    while len(out) < total:
        for q in queues:
            # larger groups release proportionally more jobs per round
            k = max(1, round(len(q) * len(queues) / max(1, total - len(out)))) if q else 0
            out += q[:k]
            del q[:k]
    return out


def _built_pairs(cfg: BuildConfig) -> set[tuple[str, str]]:
    pairs = set()
    for p in cfg.parts:
        for s in cfg.splits:
            pairs.add((p, s))
            if p == "singers" and s == "train" and "valid" in cfg.splits:
                pairs.add((p, "valid"))
    return pairs


def _merge_manifest(out: Path, cfg: BuildConfig, items: list[dict], seconds: float,
                    errors: list[str] = (), final: bool = True,
                    code: str | None = None) -> dict:
    from discovervoice.corpus.voices import _all_voices

    path = out / "manifest.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    built = _built_pairs(cfg)
    kept = [it for it in old.get("items", []) if (it["part"], it["split"]) not in built]
    runs = [r for r in old.get("builds", []) if not r.get("in_progress")]
    runs.append({"config": _cfg_json(cfg), "code": code, "in_progress": not final,
                 "seconds": round(seconds, 1), "items": len(items),
                 "failed_jobs": list(errors),
                 "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    used_voices = sorted({v for it in kept + items for v in it.get("voices", [])})
    used_sf = sorted({it["soundfont"] for it in kept + items if it.get("soundfont")})
    manifest = {
        "version": MANIFEST_VERSION,
        "in_progress": not final,
        "layout": "see discovervoice.corpus (package docstring)",
        "tools": tool_versions(),
        "builds": runs,
        "voices": [v.to_json() for v in _all_voices() if v.id in used_voices],
        "soundfonts": [asdict(s) for s in acc.soundfonts(include_reserved=True)
                       if s.name in used_sf],
        "reserved": {"pieces": "Bach chorales whose BWV number ends in 0 or 5",
                     "voices": sorted(rsv.RESERVED_VOICE_IDS),
                     "soundfonts": "MuseScore General", "split": rsv.RESERVED_SPLIT},
        "licences": LICENCES,
        "items": sorted(kept + items, key=lambda it: it["path"]),
    }
    _write_json(path, manifest)
    if not final:
        return manifest
    # one manifest per part/split as well, for consumers that read one folder
    for part, split in sorted(built):
        sub = [it for it in items if it["part"] == part and it["split"] == split]
        if sub:
            folder = PART_FOLDERS[part]
            _write_json(out / folder / split / "manifest.json", sub)
    return manifest


def _code_version() -> str | None:
    """Git commit of the code that built the corpus (None outside a git checkout)."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        return None
    here = Path(__file__).resolve().parent
    r = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                       text=True, check=False)
    return r.stdout.strip() or None if r.returncode == 0 else None


def _cfg_json(cfg: BuildConfig) -> dict:
    d = asdict(cfg)
    d["out"] = str(Path(cfg.out).resolve())
    return d


LICENCES = {
    "mbrola": "MBROLA voice databases: non-commercial, non-military use only (Debian "
              "non-free). Audio sung or spoken by them inherits this restriction.",
    "festival": "festvox voices: free (CSTR/CMU licences, Debian main)",
    "fillets-ng-data-cs": "GPL-2+ (Fish Fillets NG, Czech voice acting)",
    "fillets-ng-data": "GPL-2+ (Fish Fillets NG game music, used as noise)",
    "klettres-data": "GPL-2+ (KDE KLettres recordings)",
    "music21 corpus": "Bach chorales and Essen folk songs: public domain encodings shipped "
                      "with music21 (BSD-3-Clause)",
    "FluidR3_GM.sf2": "MIT",
    "TimGM6mb.sf2": "GPL-2",
    "MuseScore_General": "MIT",
    "hydrogen-drumkits": "GPL-2+ / CC (per kit, see /usr/share/doc/hydrogen-drumkits/copyright)",
    "alsa-utils": "GPL-2+ (test sounds)",
}


def read_manifest(root: str | Path, *, part: str | None = None, split: str | None = None,
                  kind: str | None = None, allow_in_progress: bool = True) -> list[dict]:
    """Items of the corpus at ``root`` (``manifest.json``), optionally filtered.

    Args:
        part: ``songs``, ``singers``, ``parallel`` or ``noisy``.
        split: ``train``, ``valid`` or ``test``.
        kind: item kind (``song``, ``sung``, ``spoken``, ``parallel``, ``noisy``...).
        allow_in_progress: accept a manifest that a running build is still growing.

    Paths in the items are relative to ``root``.

    Raises:
        DataError: no manifest, an unreadable one, or a build in progress when not allowed.
    """
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise DataError(f"{path}: no corpus manifest (build one with "
                        "`discovervoice corpus build -o {root}`)")
    try:
        m = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable corpus manifest: {exc}") from exc
    if m.get("in_progress") and not allow_in_progress:
        raise DataError(f"{path}: the build is still running (in_progress)")
    return [it for it in m.get("items", [])
            if (part is None or it["part"] == part) and (split is None or it["split"] == split)
            and (kind is None or it["kind"] == kind)]

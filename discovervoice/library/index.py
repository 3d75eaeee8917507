"""``discovervoice library index``: a music library -> a singer gallery + catalogue.

For every song (see :mod:`discovervoice.library.scan` for discovery and tags):

1. decode at the separator's rate, stereo (:func:`discovervoice.audio.load` through
   :func:`discovervoice.classify.songs.vocals_of`), and separate the vocals with
   :class:`discovervoice.separation.api.Separator` (two-stem mode), mono at 16 kHz;
2. keep the voiced parts and cut windows (:func:`discovervoice.classify.features.voiced_audio`,
   :func:`~discovervoice.classify.features.cut_windows`, the classifier's own VAD settings);
3. embed every window with the classifier (:meth:`SingerClassifier.forward_windows`) and
   L2-normalise, exactly as :meth:`SingerClassifier.embed_clips` does;
4. write the song's record ``LIBRARY/index/<sha256>.json`` atomically: the sum and count of
   its window embeddings (the gallery's running mean), its own mean embedding (for
   per-song recommendations), duration and voiced seconds — or the failure and its reason.

Then the driver assembles the classifier folder from all records of the files found in this
scan: one gallery centroid per artist (mean of all its songs' window embeddings — the same
as :meth:`SingerClassifier.add_to_gallery` over those songs), the catalogue (artist, title,
absolute path) and one embedding per catalogue song, saved with
:meth:`SingerClassifier.save`; ``library.json`` (artists with their songs and voiced seconds,
failures, duplicates, settings) is written last. ``which-singer --model LIBRARY`` and the
app (``python3 app.py --classifier LIBRARY``) load the folder as any classifier. The gallery
holds only the library's artists (the base model's own gallery singers are dropped).

Resumable and incremental: a record is reused when its content hash and the settings
(classifier weights, separation model, window config) match, so a second run processes only
new or changed files, and a killed run loses only the songs in flight. Failed files are
recorded with their reason and not retried until ``retry_failed`` (the run goes on).
Identical bytes under two paths are processed once (the first path is catalogued, the
others are listed as duplicates); two different songs with the same title stay two songs.

Failure policy (each case tested in tests/test_library.py): a file that cannot be decoded
(``AudioLoadError``, every backend's reason), a silent file (refused after decoding, before
separation), a song with too little voice for the classifier, and a file longer than
``max_minutes`` (default 30) are recorded as failed with their reason; the run goes on and
stats list them. Long files are **skipped, not processed in pieces**: the length comes from
the file header — mutagen's stream length, else the audio loader's header check
(:func:`discovervoice.audio.check_header`: libsndfile, else ffprobe) — so a 2-hour file is
refused without being decoded, and memory stays bounded (a 30-minute stereo file at
44.1 kHz is about 0.6 GB of float32 through separation). A file whose header tells no length
is decoded and refused by the loader if it is longer (``max_seconds``). Tag text is
normalised (:func:`discovervoice.library.scan.clean_text`); songs sharing a title stay
distinct catalogue entries (they differ by path and keep their own embeddings).

Execution (outputs are identical, because every mode runs :class:`SongWorker` on the same
songs with the same torch thread count, and the driver assembles the records in path order):

* local, ``workers=1``: in this process;
* local, ``workers=N``: N processes (``concurrent.futures`` with the ``spawn`` start
  method), each loading the models once;
* Ray (``ray_address`` given, or ``"local"`` for a local Ray instance; or an already
  initialised Ray): **Ray Data** ``Dataset.map_batches`` with an actor pool
  (``ActorPoolStrategy(size=workers)``): each actor builds a :class:`SongWorker` once and
  is fed one song per batch; the driver streams the results (``iter_rows``) and writes each
  record as it arrives. The music files must be readable at the same path on every node
  (a shared mount), and discovervoice installed there.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from discovervoice.errors import DataError, DiscoverVoiceError
from discovervoice.fileio import write_json
from discovervoice.library.scan import HashCache, SongFile, scan
from discovervoice.progress import Progress

log = logging.getLogger(__name__)

LIBRARY_FORMAT = "discovervoice-library/1"
RECORD_FORMAT = "discovervoice-library-song/1"


@dataclass(frozen=True)
class IndexConfig:
    """Settings of an index run.

    Attributes:
        model: base classifier (registry name or folder) whose AST embeds the vocals.
        separation_model: separator for the vocals (``"default"``: dv-mdx23c-real).
        workers: parallel workers (processes, or Ray actors).
        threads: torch threads per worker.
        max_minutes: longer files are recorded as failed without decoding.
        ray_address: ``None`` local; ``"local"`` a local Ray instance; ``"auto"`` or
            ``"ray://host:10001"`` / ``"host:6379"`` an existing cluster.
        retry_failed: process files recorded as failed again.
    """

    model: str = "default"
    separation_model: str = "default"
    workers: int = 1
    threads: int = 1
    max_minutes: float = 30.0
    ray_address: str | None = None
    retry_failed: bool = False


@dataclass
class IndexReport:
    """What a run did. ``processed``: songs worked on this run; ``reused``: records kept
    from earlier runs; ``failed``: ``[{path, sha256, reason, type}]`` of every failed file
    of the library; ``duplicates``: ``[(path, same_as_path)]``."""

    library: Path
    songs: int = 0
    artists: int = 0
    processed: int = 0
    reused: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    mode: str = "local"


# --------------------------------------------------------------------------- worker

class SongWorker:
    """Loads the separator and classifier once; turns one song into a record.

    Args:
        model, separation_model, threads, max_minutes: see :class:`IndexConfig`.
        settings: the settings fingerprint stored in every record.

    Used directly (local mode) and as the callable class of Ray Data's ``map_batches``
    (:meth:`__call__`: a batch ``{"song": ndarray[B] of JSON str}`` ->
    ``{"record": ndarray[B] of JSON str}``).
    """

    def __init__(self, model: str, separation_model: str, threads: int, max_minutes: float,
                 settings: dict[str, Any]):
        import torch

        from discovervoice.classify.classifier import SingerClassifier
        from discovervoice.separation.api import Separator

        torch.set_num_threads(max(1, int(threads)))
        self.clf = SingerClassifier.load(model)
        self.sep = Separator(separation_model, stems=("vocals",))
        self.max_minutes = float(max_minutes)
        self.settings = settings

    def process(self, song: dict[str, Any]) -> dict[str, Any]:
        """One song -> its record (never raises for a problem of the file itself)."""
        from discovervoice.classify.features import SAMPLE_RATE, cut_windows, voiced_audio
        from discovervoice.audio import check_header
        from discovervoice.classify.songs import vocals_of

        t0, c0 = time.perf_counter(), time.process_time()
        rec: dict[str, Any] = {"format": RECORD_FORMAT, "sha256": song["sha256"],
                               "settings": self.settings, "path": song["path"]}
        try:
            limit = self.max_minutes * 60
            dur = song.get("duration")
            if dur is None:     # mutagen could not tell: the audio loader's header check
                hdr = check_header(song["path"], None)
                dur = hdr.frames / hdr.sample_rate if hdr is not None else None
            if dur is not None and dur > limit:
                raise DataError(f"{song['path']}: {dur / 60:.1f} minutes long, longer than the "
                                f"limit of {self.max_minutes:g} minutes (--max-minutes); skipped "
                                "without decoding")
            # a file whose header gave no length is refused by the loader once decoded;
            # silence is refused before separating it
            vocals = vocals_of(song["path"], separator=self.sep, max_seconds=limit,
                               allow_silent=False)                          # [1, T] at 16 kHz
            v = voiced_audio(vocals, SAMPLE_RATE, self.clf.window, name=song["path"])
            _, emb = self.clf.forward_windows(cut_windows(v, self.clf.window))
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-8)
            mean = emb.mean(axis=0)
            rec.update(status="ok", duration=vocals.shape[1] / SAMPLE_RATE,
                       voiced_seconds=len(v) / SAMPLE_RATE, windows=int(len(emb)),
                       window_sum=[float(x) for x in emb.sum(axis=0)],
                       embedding=[float(x) for x in mean / max(np.linalg.norm(mean), 1e-8)])
            if self.clf.speaker_weight > 0:   # GE2E speaker embedding for speaker fusion
                rec["speaker_embedding"] = [float(x) for x in self.clf.speaker_embedding(v)]
        except (DiscoverVoiceError, OSError, ValueError, RuntimeError, MemoryError) as exc:
            rec.update(status="failed", type=type(exc).__name__, reason=_reason(exc))
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        rec["cpu_seconds"] = round(time.process_time() - c0, 3)     # this worker process
        return rec

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = [json.dumps(self.process(json.loads(str(s)))) for s in batch["song"]]
        return {"record": np.array(out, dtype=object)}


def _reason(exc: BaseException) -> str:
    msg = str(exc).strip() or type(exc).__name__
    return " ".join(msg.split())[:500]


_WORKER: SongWorker | None = None


def _pool_init(kw: dict[str, Any]) -> None:
    global _WORKER
    _WORKER = SongWorker(**kw)


def _pool_process(song: dict[str, Any]) -> dict[str, Any]:
    assert _WORKER is not None
    return _WORKER.process(song)


# --------------------------------------------------------------------------- records

def settings_of(cfg: IndexConfig) -> dict[str, Any]:
    """The fingerprint that makes a stored record reusable: the classifier's weights
    (sha256 of its ``model.safetensors``) and window config, and the separation model
    (name, and the sha256 of its registry file when it is one)."""
    from discovervoice import weights
    from discovervoice.classify.classifier import DEFAULT_MODEL
    from discovervoice.separation.api import DEFAULT_MODEL as SEP_DEFAULT

    def file_sha(name: str, member: str | None) -> str | None:
        p = Path(name).expanduser()
        try:
            if not p.exists():
                p = weights.resolve(name)
        except DiscoverVoiceError:
            return None
        if p.is_dir() and member:
            p = p / member
        return weights.sha256_of(p) if p.is_file() else None

    m = DEFAULT_MODEL if cfg.model == "default" else cfg.model
    s = SEP_DEFAULT if cfg.separation_model == "default" else cfg.separation_model
    meta = None
    mp = Path(m).expanduser()
    try:
        folder = mp if mp.exists() else weights.resolve(m)
        folder = folder.parent if folder.is_file() else folder
        meta = json.loads((folder / "discovervoice.json").read_text()).get("window")
    except (DiscoverVoiceError, OSError, ValueError):
        pass
    return {"classifier_sha256": file_sha(m, "model.safetensors"), "window": meta,
            "separation_model": s, "separation_sha256": file_sha(s, None)}


def _write_json(path: Path, obj: Any) -> None:
    write_json(path, obj)


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        r = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None     # a damaged record is redone
    return r if r.get("format") == RECORD_FORMAT else None


# --------------------------------------------------------------------------- runners

def _run_local(todo: list[dict[str, Any]], kw: dict[str, Any], workers: int
               ) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        import torch

        n = torch.get_num_threads()
        try:
            w = SongWorker(**kw)
            for s in todo:
                yield w.process(s)
        finally:
            torch.set_num_threads(n)
        return
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_pool_init, initargs=(kw,)) as ex:
        futs = [ex.submit(_pool_process, s) for s in todo]
        for f in as_completed(futs):
            yield f.result()


def _run_ray(todo: list[dict[str, Any]], kw: dict[str, Any], cfg: IndexConfig
             ) -> Iterator[dict[str, Any]]:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise DataError("--ray-address needs Ray Data (pip install 'ray[data]==2.60.0')") from exc
    started = False
    if not ray.is_initialized():
        if cfg.ray_address in (None, "local"):
            ray.init(num_cpus=max(1, cfg.workers) * max(1, cfg.threads), include_dashboard=False,
                     log_to_driver=False)
        else:
            ray.init(address=cfg.ray_address, log_to_driver=False)
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ds = ray.data.from_items([{"song": json.dumps(s)} for s in todo],
                                 override_num_blocks=max(1, min(len(todo), 4 * max(1, cfg.workers))))
        ds = ds.map_batches(SongWorker, fn_constructor_kwargs=kw, batch_size=1,
                            batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=max(1, cfg.workers)),
                            num_cpus=max(1, cfg.threads))
        for row in ds.iter_rows():
            yield json.loads(row["record"])
    finally:
        if started:
            ray.shutdown()


# --------------------------------------------------------------------------- the job

def index_library(music_dirs: Sequence[str | os.PathLike], library: str | os.PathLike,
                  cfg: IndexConfig = IndexConfig(), *, artists_csv: str | os.PathLike | None = None,
                  use_ray: bool | None = None, progress: Progress | None = None) -> IndexReport:
    """Index music folders into the classifier folder ``library`` (module docstring).

    Args:
        music_dirs: folders (recursive) or files.
        library: the LIBRARY folder (created; an existing one is updated incrementally).
        cfg: models, workers, limits.
        artists_csv: ``path,artist[,title]`` overrides.
        use_ray: force the Ray path (``None``: when ``cfg.ray_address`` is given or Ray is
            already initialised in this process).
        progress: ``f(fraction, message)``.

    Returns:
        :class:`IndexReport`.

    Raises:
        DataError: no audio found at all, a bad artists CSV, or a LIBRARY folder that holds
            something other than a library. WeightsError: the models cannot be loaded.
    """
    t0 = time.perf_counter()
    lib = Path(library).expanduser()
    if lib.exists() and any(lib.iterdir()) and not (lib / "library.json").is_file() \
            and not (lib / "index").is_dir():
        raise DataError(f"{lib}: exists and is not a DiscoverVoice library; choose a new folder")
    (lib / "index").mkdir(parents=True, exist_ok=True)
    p = progress or (lambda f, m: None)
    p(0.0, "scanning")
    cache = HashCache(lib / "hashes.json")
    songs, problems = scan(music_dirs, artists_csv=artists_csv, hash_cache=cache)
    cache.save()
    if not songs:
        raise DataError("no audio files found in " + ", ".join(str(d) for d in music_dirs)
                        + "".join(f"\n  - {a}: {b}" for a, b in problems))
    settings = settings_of(cfg)
    first: dict[str, SongFile] = {}
    dups: list[tuple[str, str]] = []
    for s in songs:
        if s.sha256 in first:
            dups.append((s.path, first[s.sha256].path))
        else:
            first[s.sha256] = s
    records: dict[str, dict[str, Any]] = {}
    todo: list[dict[str, Any]] = []
    for h, s in first.items():
        if not s.artist:
            continue        # recorded as failed by _assemble, never separated
        r = _read_record(lib / "index" / f"{h}.json")
        if r is not None and r.get("settings") == settings and \
                (r.get("status") == "ok" or not cfg.retry_failed):
            records[h] = r
        else:
            todo.append(s.to_dict())
    report = IndexReport(lib, reused=len(records))
    use_ray = (cfg.ray_address is not None or _ray_initialised()) if use_ray is None else use_ray
    report.mode = "ray" if use_ray else "local"
    kw = dict(model=cfg.model, separation_model=cfg.separation_model, threads=cfg.threads,
              max_minutes=cfg.max_minutes, settings=settings)
    if todo:
        p(0.02, f"{len(todo)} songs to process ({len(records)} already indexed)")
        runner = _run_ray(todo, kw, cfg) if use_ray else _run_local(todo, kw, cfg.workers)
        for i, rec in enumerate(runner, 1):
            _write_json(lib / "index" / f"{rec['sha256']}.json", rec)
            records[rec["sha256"]] = rec
            report.processed += 1
            p(0.02 + 0.93 * i / len(todo), f"{i}/{len(todo)} {Path(rec['path']).name}: "
              f"{rec['status']}")
    p(0.96, "writing the gallery and catalogue")
    _assemble(lib, cfg, settings, first, records, dups, problems, report)
    report.seconds = time.perf_counter() - t0
    p(1.0, "done")
    return report


def _ray_initialised() -> bool:
    import sys

    return "ray" in sys.modules and bool(sys.modules["ray"].is_initialized())


def _assemble(lib: Path, cfg: IndexConfig, settings: dict[str, Any], first: dict[str, SongFile],
              records: dict[str, dict[str, Any]], dups: list[tuple[str, str]],
              problems: list[tuple[str, str]], report: IndexReport) -> None:
    from discovervoice.classify.classifier import SingerClassifier
    from discovervoice.classify.data import CatalogueEntry

    songs = sorted(first.values(), key=lambda s: s.path)
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    spk_sums: dict[str, np.ndarray | None] = {}   # GE2E sums per artist (None: incomplete)
    spk_counts: dict[str, int] = {}
    artists: dict[str, dict[str, Any]] = {}
    catalogue: list[CatalogueEntry] = []
    embs: list[list[float]] = []
    failed: list[dict[str, Any]] = []
    for s in songs:
        r = records.get(s.sha256)
        if not s.artist:
            failed.append({"path": s.path, "sha256": s.sha256, "type": "DataError",
                           "reason": "no artist: no artist tag, no MUSIC_DIR/<Artist>/ folder "
                                     "and no row in --artists"})
            continue
        if r is None:
            continue
        if r["status"] != "ok":
            failed.append({"path": s.path, "sha256": s.sha256, "type": r.get("type", ""),
                           "reason": r.get("reason", "")})
            continue
        ws = np.asarray(r["window_sum"], np.float64)
        if "speaker_embedding" in r and spk_sums.get(s.artist, 0) is not None:
            spk_sums[s.artist] = spk_sums.get(s.artist, 0) + np.asarray(r["speaker_embedding"])
            spk_counts[s.artist] = spk_counts.get(s.artist, 0) + 1
        else:   # one song without it: this artist is scored by the AST alone
            spk_sums[s.artist] = None
        sums[s.artist] = sums.get(s.artist, 0) + ws
        counts[s.artist] = counts.get(s.artist, 0) + int(r["windows"])
        a = artists.setdefault(s.artist, {"songs": 0, "seconds": 0.0, "voiced_seconds": 0.0,
                                          "windows": 0})
        a["songs"] += 1
        a["seconds"] += float(r["duration"])
        a["voiced_seconds"] += float(r["voiced_seconds"])
        a["windows"] += int(r["windows"])
        catalogue.append(CatalogueEntry(s.artist, s.title, s.path))
        embs.append(r["embedding"])
    failed += [{"path": a, "sha256": "", "type": "DataError", "reason": b} for a, b in problems]
    report.failed = failed
    report.duplicates = dups
    report.songs = len(catalogue)
    report.artists = len(artists)
    clf = SingerClassifier.load(cfg.model)
    clf.gallery = {n: (sums[n] / counts[n]).astype(np.float32) for n in sorted(sums)}
    clf.gallery_counts = {n: counts[n] for n in sorted(sums)}
    clf.speaker_gallery = {n: (v / spk_counts[n]).astype(np.float32)
                           for n, v in sorted(spk_sums.items()) if v is not None}
    clf.speaker_counts = {n: spk_counts[n] for n in clf.speaker_gallery}
    clf.catalogue = catalogue
    clf.song_embeddings = np.asarray(embs, np.float32).reshape(len(embs), clf.embedding_size)
    clf.default_scoring = "gallery"
    summary = {"format": LIBRARY_FORMAT, "artists": {n: _round(artists[n]) for n in sorted(artists)},
               "songs": len(catalogue), "hours": round(sum(a["seconds"] for a in artists.values())
                                                       / 3600, 4),
               "voiced_hours": round(sum(a["voiced_seconds"] for a in artists.values()) / 3600, 4)}
    clf.info = dict(clf.info, library=summary)
    if clf.gallery:
        clf.save(lib)
    meta = summary | {"settings": settings, "config": asdict(cfg),
                      "failures": failed, "duplicates": [list(d) for d in dups],
                      "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "last_run": {"processed": report.processed, "reused": report.reused,
                                   "mode": report.mode}}
    _write_json(lib / "library.json", meta)


def _round(a: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in a.items()}


def read_library(library: str | os.PathLike) -> dict[str, Any]:
    """``library.json`` of a LIBRARY folder.

    Raises:
        DataError: not a library folder (no or damaged ``library.json``).
    """
    p = Path(library).expanduser() / "library.json"
    if not p.is_file():
        raise DataError(f"{p.parent}: not a DiscoverVoice library (no library.json); make one "
                        "with `discovervoice library index MUSIC_DIR -o LIBRARY`")
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{p}: invalid JSON ({exc})") from exc
    if meta.get("format") != LIBRARY_FORMAT:
        raise DataError(f"{p}: format {meta.get('format')!r}, expected {LIBRARY_FORMAT!r}")
    return meta


def stats(library: str | os.PathLike) -> dict[str, Any]:
    """``{"artists": int, "songs": int, "hours": float, "voiced_hours": float,
    "failures": int, "failed": [...], "duplicates": int, "per_artist": {...},
    "updated": str}`` of a LIBRARY folder (from ``library.json``)."""
    m = read_library(library)
    return {"artists": len(m["artists"]), "songs": m["songs"], "hours": m["hours"],
            "voiced_hours": m["voiced_hours"], "failures": len(m["failures"]),
            "failed": m["failures"], "duplicates": len(m["duplicates"]),
            "per_artist": m["artists"], "updated": m.get("updated", "")}

"""Benchmark: separation speed, memory and the overhead of our chunked apply.

Three measurements (issue 4 budgets in brackets), each against an anchor in the same run so
that numbers from machines of other speeds compare:

1. **Real-time factor** of a Separator (default: the embedded default) on a 3-minute
   stereo 44.1 kHz song [<= 0.5 on 2 cores]: wall time / audio duration, best of
   ``--repeats``. Anchor: the same song through ``demucs.apply.apply_model`` when the model
   is an HTDemucs; with ``--anchor-model OLD`` (e.g. the previous default's weights,
   ``git show REV:weights/dv-mdx23c-small.safetensors > old.safetensors``) also that model
   on the same song, runs interleaved, ``ratio_to_anchor_model`` = best time / OLD's best
   time [issue 15: <= 1.2].
2. **Peak memory** on a 10-minute song [<= 2.5 GB]: a child process loads the model,
   reports its resident memory (the anchor), separates, and reports its peak resident
   memory (``VmHWM``, see :func:`_peak_rss_mb`); both are printed, and the difference is what separation costs.
3. **Overhead** of :func:`discovervoice.separation.apply.apply_model` against
   ``demucs.apply.apply_model`` on the same HTDemucs weights, same input, segment and
   overlap, no shifts, runs interleaved, best of ``--repeats`` [ratio <= 1.05]. Uses the
   model given by ``--overhead-model`` (default: the embedded small HTDemucs, or a random
   small HTDemucs when no embedded model is shipped).
4. **Pruning speed-up** (``--pruned CHILD --parent PARENT``) [>= 1.8x]: the pruned model and
   its unpruned parent through the same :class:`~discovervoice.separation.Separator` on the
   same song, runs interleaved (parent, child, parent, ...), best of ``--repeats`` each;
   the parent is the anchor; ``speedup`` = best parent time / best child time, and
   ``speedup_median_of_pairs`` = the median over the interleaved pairs of their ratio.

5. **RoFormers** (``--roformers``; issue 19): full-size BS-RoFormer and Mel-RoFormer with
   the published configs' sizes (random init: the cost does not depend on the weights) next
   to a full-size HTDemucs (demucs' defaults, 4 stems, 7.8-s segment as htdemucs) and the
   embedded default, in one run:

   * CPU time of one chunk of each network's own length (8 s for the RoFormers) through
     :class:`~discovervoice.separation.Separator`; ``song_rtf`` = chunk time x
     ``1 / (1 - overlap)`` / chunk length, the real-time factor of a whole song with the
     network's default overlap (0.5 for the RoFormers' ``num_overlap: 2``, 0.25 otherwise);
     ``ratio_to_htdemucs`` compares ``song_rtf``s.
   * Peak resident memory on a 10-minute song, in a child process per network: the whole
     Separator path (model, mixture, full-length output and normalisation buffers, the
     stems) with the first ``--mem-real-chunks`` chunks through the real network and the
     rest through a stand-in that returns zeros of the right shape: every chunk has the same
     size, so its activations peak in the first one, and a full run of a 10-minute song
     would take hours on one CPU.
   * A small Mel-RoFormer with about as many parameters as ``dv-mdx23c-small`` (0.38 M)
     against ``dv-mdx23c-small``: CPU seconds per minute of song, on the same
     ``--small-seconds`` excerpt, runs interleaved, best of ``--repeats``.

The song is built from the corpus' songs when ``--song-dir`` is given (concatenated to the
length), else it is a synthetic harmonic mixture.

    python benchmarks/bench_separation.py [--model default] [--threads 1] [--song-dir DIR]
    nice -n 10 python benchmarks/bench_separation.py --roformers --threads 1

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import best_of

SR = 44100
REPO = Path(__file__).resolve().parent.parent


def make_song(seconds: float, song_dir: str | None = None, seed: int = 0) -> np.ndarray:
    """``ndarray[2, T]``: corpus mixtures concatenated (or a synthetic mixture)."""
    n = int(seconds * SR)
    if song_dir:
        import soundfile as sf

        files = sorted(Path(song_dir).rglob("mixture.wav"))
        parts, total = [], 0
        i = 0
        while total < n and files:
            x, sr = sf.read(str(files[i % len(files)]), dtype="float32", always_2d=True)
            if sr == SR:
                parts.append(x.T)
                total += x.shape[0]
            i += 1
            if i > 10 * len(files):
                break
        if total >= n:
            return np.concatenate(parts, axis=1)[:, :n]
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    notes = 220.0 * 2 ** (rng.integers(0, 12, size=int(seconds) + 1) / 12)
    f0 = notes[(t).astype(int)]
    voice = 0.2 * np.sin(2 * np.pi * np.cumsum(f0) / SR) * (1 + 0.3 * np.sin(2 * np.pi * 5 * t))
    bass = 0.2 * np.sin(2 * np.pi * 55 * t)
    drums = 0.1 * rng.standard_normal(n) * (np.sin(2 * np.pi * 2 * t) > 0.95)
    mix = voice + bass + drums
    return np.stack([mix, 0.9 * mix + 0.1 * voice]).astype(np.float32)


_best = best_of


def bench_rtf(model: str, seconds: float, repeats: int, song_dir: str | None,
              anchor_model: str | None = None) -> dict:
    import torch

    from discovervoice.separation.api import Separator

    sep = Separator(model)
    song = make_song(seconds, song_dir)
    if anchor_model:   # interleaved: model, anchor, model, anchor, ...
        old = Separator(anchor_model)
        times: dict[str, list[float]] = {"model": [], "anchor": []}
        for _ in range(repeats):
            for k, sp in (("model", sep), ("anchor", old)):
                t0 = time.perf_counter()
                sp.separate(song)
                times[k].append(time.perf_counter() - t0)
        t, ta = min(times["model"]), min(times["anchor"])
        out = {"model": sep.name, "seconds": seconds, "wall_s": t, "rtf": t / seconds,
               "anchor_model": anchor_model, "anchor_model_rtf": ta / seconds,
               "ratio_to_anchor_model": t / ta,
               "ratio_median_of_pairs": float(np.median(
                   [a / b for a, b in zip(times["model"], times["anchor"])]))}
    else:
        t = _best(lambda: sep.separate(song), repeats)
        out = {"model": sep.name, "seconds": seconds, "wall_s": t, "rtf": t / seconds}
    net = sep.network
    if net is not None and hasattr(net, "use_train_segment"):
        from demucs.apply import apply_model as demucs_apply

        x = torch.from_numpy(song)[None]

        def anchor():
            with torch.no_grad():
                demucs_apply(net, x, shifts=0, split=True, overlap=0.25)

        ta = _best(anchor, repeats)
        out.update({"anchor": "demucs.apply.apply_model, same network", "anchor_rtf": ta / seconds,
                    "ratio_to_anchor": t / ta})
    return out


def bench_overhead(model: str | None, seconds: float, repeats: int, song_dir: str | None) -> dict:
    import torch
    from demucs.apply import apply_model as demucs_apply

    from discovervoice.separation import models as M
    from discovervoice.separation.api import _load_network
    from discovervoice.separation.apply import apply_model

    try:
        net, name = _load_network(model or "dv-htdemucs-small", None)
    except Exception as exc:  # no shipped model yet: a random small HTDemucs has the same cost
        print(f"note: {exc}; using a random small HTDemucs", file=sys.stderr)
        torch.manual_seed(0)
        net, name = M.build_model("htdemucs", M.SMALL_HTDEMUCS).eval(), "random SMALL_HTDEMUCS"
    if not hasattr(net, "use_train_segment"):
        raise SystemExit(f"--overhead-model must be an HTDemucs, got {type(net).__name__}")
    x = torch.from_numpy(make_song(seconds, song_dir))[None]
    ours_t, theirs_t = [], []
    for _ in range(repeats):  # interleaved, so load changes hit both
        t0 = time.perf_counter()
        a = apply_model(net, x, overlap=0.25, shifts=0)
        ours_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with torch.no_grad():
            b = demucs_apply(net, x, shifts=0, split=True, overlap=0.25)
        theirs_t.append(time.perf_counter() - t0)
    return {"model": name, "seconds": seconds, "ours_s": min(ours_t), "demucs_s": min(theirs_t),
            "ratio": min(ours_t) / min(theirs_t),
            "max_abs_diff": float((a - b).abs().max())}


def bench_pruned(child: str, parent: str, seconds: float, repeats: int, song_dir: str | None) -> dict:
    from discovervoice.separation.api import Separator

    seps = {"parent": Separator(parent), "pruned": Separator(child)}
    song = make_song(seconds, song_dir)
    times: dict[str, list[float]] = {"parent": [], "pruned": []}
    for _ in range(repeats):  # interleaved, so load changes hit both
        for k, sep in seps.items():
            t0 = time.perf_counter()
            sep.separate(song)
            times[k].append(time.perf_counter() - t0)
    tp, tc = min(times["parent"]), min(times["pruned"])
    paired = [a / b for a, b in zip(times["parent"], times["pruned"])]
    return {"parent": parent, "pruned": child, "seconds": seconds, "repeats": repeats,
            "parent_rtf": tp / seconds, "pruned_rtf": tc / seconds, "speedup": tp / tc,
            "speedup_median_of_pairs": float(np.median(paired)),
            "parent_times_s": times["parent"], "pruned_times_s": times["pruned"]}


# --------------------------------------------------------------------------- RoFormers

#: ``model:`` sections of the published configs (MSST configs/viperx/*.yaml,
#: configs/KimberleyJensen/config_vocals_mel_band_roformer_kj.yaml); BS uses MSST's default
#: 62 bands, which is what the viperx yaml lists.
_ROFORMER_COMMON = dict(stereo=True, num_stems=1, time_transformer_depth=1, freq_transformer_depth=1,
                        dim_head=64, heads=8, stft_n_fft=2048, stft_hop_length=441, stft_win_length=2048,
                        mask_estimator_depth=2, sources=["vocals", "other"], target_instrument="vocals",
                        samplerate=SR, chunk_size=352800, num_overlap=2)
FULL_ROFORMERS = {
    "BS-RoFormer 512x12 (bs_roformer_viperx_1297)": ("bs_roformer", dict(_ROFORMER_COMMON, dim=512, depth=12)),
    "Mel-RoFormer 384x6 (mel_roformer_kim_vocals)": (
        "mel_band_roformer", dict(_ROFORMER_COMMON, dim=384, depth=6, num_bands=60, sample_rate=SR)),
    "Mel-RoFormer 384x12 (mel_roformer_viperx_1143)": (
        "mel_band_roformer", dict(_ROFORMER_COMMON, dim=384, depth=12, num_bands=60, sample_rate=SR)),
}
#: A Mel-RoFormer about the size of dv-mdx23c-small (0.38 M parameters): 1024-point STFT,
#: 24 mel bands, dim 28, two axial blocks, one-hidden-layer mask MLPs of width 28 (0.386 M).
SMALL_MEL_ROFORMER = dict(stereo=True, num_stems=1, dim=28, depth=2, time_transformer_depth=1,
                          freq_transformer_depth=1, dim_head=12, heads=2, stft_n_fft=1024,
                          stft_hop_length=256, stft_win_length=1024, mask_estimator_depth=1,
                          mlp_expansion_factor=1, num_bands=24, sample_rate=SR,
                          sources=["vocals", "accompaniment"], target_instrument="vocals",
                          samplerate=SR, chunk_size=256 * 344, num_overlap=2)


def _network(name: str):
    """A random-init network by benchmark name (seed 0)."""
    import torch

    torch.manual_seed(0)
    if name == "HTDemucs (htdemucs size)":
        from demucs.htdemucs import HTDemucs

        return HTDemucs(sources=["drums", "bass", "other", "vocals"], samplerate=SR, segment=7.8).eval()
    if name == "Mel-RoFormer small":
        from discovervoice.separation.roformer import build_roformer

        return build_roformer("mel_band_roformer", SMALL_MEL_ROFORMER)
    from discovervoice.separation.roformer import build_roformer

    kind, kw = FULL_ROFORMERS[name]
    return build_roformer(kind, kw)


def _params(net) -> int:
    return sum(p.numel() for p in net.parameters())


def bench_roformer_rtf(names: list[str], song_dir: str | None, repeats: int) -> list[dict]:
    """One chunk of each network's own length through the Separator (see the module doc)."""
    from discovervoice.separation.api import Separator
    from discovervoice.separation.apply import default_overlap

    rows = []
    for name in names:
        sep = Separator(_network(name) if name != "default" else "default")
        net = sep.network
        seg = float(net.segment)
        overlap = default_overlap(net)
        song = make_song(seg, song_dir)[:, : int(round(seg * SR))]
        cpu, wall = [], []
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            sep.separate(song)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
        row = {"network": name if name != "default" else sep.name, "parameters": _params(net),
               "chunk_s": seg, "overlap": overlap, "chunk_cpu_s": min(cpu), "chunk_wall_s": min(wall),
               "song_rtf_cpu": min(cpu) / (1 - overlap) / seg}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        del sep, net
    anchor = next((r for r in rows if r["network"].startswith("HTDemucs")), None)
    if anchor:
        for r in rows:
            r["ratio_to_htdemucs"] = r["song_rtf_cpu"] / anchor["song_rtf_cpu"]
    return rows


def _roformer_memory_child(name: str, seconds: float, real_chunks: int, song_dir: str | None,
                           song_npy: str | None = None) -> None:
    import torch

    from discovervoice.separation.api import Separator

    # the song comes from the parent's .npy, so that making it (float64 temporaries) does not
    # set the high-water mark the baseline is read from
    song = np.load(song_npy) if song_npy else make_song(seconds, song_dir)
    sep = Separator(_network(name) if name != "default" else "default")
    net = sep.network
    calls = [0]
    real_forward = net.forward

    def forward(x):   # the first chunks for real, then zeros of the same shape (module doc)
        calls[0] += 1
        if calls[0] <= real_chunks:
            return real_forward(x)
        return torch.zeros(x.shape[0], len(net.sources), x.shape[1], x.shape[-1])

    net.forward = forward
    base = _peak_rss_mb()
    out = sep.separate(song)
    peak = _peak_rss_mb()
    print(json.dumps({"network": name, "after_load_and_song_mb": base, "peak_mb": peak,
                      "chunks": calls[0], "real_chunks": min(real_chunks, calls[0]),
                      "stems": list(out), "song_mb": song.nbytes / 2**20}))


def bench_roformer_memory(names: list[str], seconds: float, real_chunks: int, song_dir: str | None,
                          threads: int) -> list[dict]:
    import tempfile

    rows = []
    tmp = tempfile.TemporaryDirectory(prefix="bench-song-")
    song_npy = str(Path(tmp.name) / "song.npy")
    np.save(song_npy, make_song(seconds, song_dir))
    for name in names:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--roformer-memory-child", name,
               "--mem-seconds", str(seconds), "--threads", str(threads),
               "--mem-real-chunks", str(real_chunks), "--song-npy", song_npy]
        if song_dir:
            cmd += ["--song-dir", song_dir]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
        if proc.returncode != 0:
            raise SystemExit(f"memory child for {name} failed: {proc.stderr.strip()[-2000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["seconds"] = seconds
        row["separation_cost_mb"] = row["peak_mb"] - row["after_load_and_song_mb"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    tmp.cleanup()
    return rows


def bench_small_roformer(seconds: float, repeats: int, song_dir: str | None) -> dict:
    """CPU seconds per minute of song: the small Mel-RoFormer vs dv-mdx23c-small."""
    from discovervoice.separation.api import Separator

    seps = {"Mel-RoFormer small": Separator(_network("Mel-RoFormer small")),
            "dv-mdx23c-small": Separator("dv-mdx23c-small")}
    song = make_song(seconds, song_dir)
    cpu: dict[str, list[float]] = {k: [] for k in seps}
    for _ in range(repeats):   # interleaved
        for k, sp in seps.items():
            c0 = time.process_time()
            sp.separate(song)
            cpu[k].append(time.process_time() - c0)
    out = {k: {"parameters": _params(sp.network), "cpu_s_per_song_minute": min(cpu[k]) / seconds * 60}
           for k, sp in seps.items()}
    out["ratio_small_roformer_to_mdx23c_small"] = (out["Mel-RoFormer small"]["cpu_s_per_song_minute"]
                                                   / out["dv-mdx23c-small"]["cpu_s_per_song_minute"])
    out["seconds"] = seconds
    return out


def _peak_rss_mb() -> float:
    """Peak resident memory of this process image in MB: ``VmHWM`` of /proc/self/status
    (reset by exec), else ``ru_maxrss`` (which on Linux carries over from the forking parent
    across exec, so a child started from a big parent would report the parent's size)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_child(model: str, seconds: float, song_dir: str | None) -> None:
    from discovervoice.separation.api import Separator

    sep = Separator(model)
    song = make_song(seconds, song_dir)
    base = _peak_rss_mb()
    out = sep.separate(song)
    peak = _peak_rss_mb()
    print(json.dumps({"after_load_and_song_mb": base, "peak_mb": peak,
                      "stems": list(out), "song_mb": song.nbytes / 2**20}))


def bench_memory(model: str, seconds: float, song_dir: str | None, threads: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", "--model", model,
           "--mem-seconds", str(seconds), "--threads", str(threads)]
    if song_dir:
        cmd += ["--song-dir", song_dir]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    if proc.returncode != 0:
        raise SystemExit(f"memory child failed: {proc.stderr.strip()[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["seconds"] = seconds
    res["separation_cost_mb"] = res["peak_mb"] - res["after_load_and_song_mb"]
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--overhead-model", default=None)
    ap.add_argument("--anchor-model", default=None,
                    help="time --model against this model (e.g. the previous default) in the RTF run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rtf-seconds", type=float, default=180.0)
    ap.add_argument("--mem-seconds", type=float, default=600.0)
    ap.add_argument("--overhead-seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--song-dir", default=None, help="folder with <song>/mixture.wav files")
    ap.add_argument("--pruned", default=None, help="pruned model (name or .safetensors) to time against --parent")
    ap.add_argument("--parent", default=None, help="unpruned parent of --pruned")
    ap.add_argument("--pruned-seconds", type=float, default=60.0)
    ap.add_argument("--skip", default="", help="comma list of rtf,memory,overhead to skip")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--roformers", action="store_true",
                    help="only the RoFormer section: chunk RTF, 10-minute peak memory, small Mel-RoFormer")
    ap.add_argument("--roformer-nets", default=None,
                    help="comma list of networks for --roformers (default: all, with HTDemucs and default)")
    ap.add_argument("--mem-real-chunks", type=int, default=1,
                    help="chunks run through the real network in the memory children of --roformers")
    ap.add_argument("--small-seconds", type=float, default=60.0)
    ap.add_argument("--roformer-memory-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--song-npy", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.memory_child:
        _memory_child(args.model, args.mem_seconds, args.song_dir)
        return 0
    if args.roformer_memory_child:
        _roformer_memory_child(args.roformer_memory_child, args.mem_seconds, args.mem_real_chunks,
                               args.song_dir, args.song_npy)
        return 0
    if args.roformers:
        names = ([n.strip() for n in args.roformer_nets.split(",")] if args.roformer_nets else
                 ["HTDemucs (htdemucs size)", *FULL_ROFORMERS, "default"])
        skip = {s.strip() for s in args.skip.split(",") if s.strip()}
        result = {"threads": args.threads, "cpu_count": os.cpu_count(), "load_average": os.getloadavg()}
        if "rtf" not in skip:
            result["chunk_rtf"] = bench_roformer_rtf(names, args.song_dir, args.repeats)
        if "memory" not in skip:
            result["memory_10min"] = bench_roformer_memory(names, args.mem_seconds, args.mem_real_chunks,
                                                           args.song_dir, args.threads)
        if "small" not in skip:
            result["small_mel_roformer"] = bench_small_roformer(args.small_seconds, args.repeats,
                                                                args.song_dir)
        result["load_average_end"] = os.getloadavg()
        print(json.dumps(result, indent=2))
        return 0
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    result = {"threads": args.threads, "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg()}
    if args.pruned:
        if not args.parent:
            raise SystemExit("--pruned needs --parent")
        result["pruned"] = bench_pruned(args.pruned, args.parent, args.pruned_seconds,
                                        args.repeats, args.song_dir)
    if "overhead" not in skip:
        result["overhead"] = bench_overhead(args.overhead_model, args.overhead_seconds,
                                            args.repeats, args.song_dir)
    if "rtf" not in skip:
        result["rtf"] = bench_rtf(args.model, args.rtf_seconds, args.repeats, args.song_dir,
                                  args.anchor_model)
    if "memory" not in skip:
        result["memory"] = bench_memory(args.model, args.mem_seconds, args.song_dir, args.threads)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

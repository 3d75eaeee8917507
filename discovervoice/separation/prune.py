"""Iterative structured channel pruning of separation networks, with fine-tuning.

Library: **torch-pruning** (Fang et al. 2023, "DepGraph: Towards Any Structural Pruning"):
its dependency graph finds every group of coupled channels (a convolution's output, the
normalisations and convolutions that read it, skip connections, the ``x * first_conv``
product of MDX23C...) and removes whole channels, so the pruned network is genuinely
narrower and faster (unstructured zeroing gives no speed). Channel importance is the L1
norm of the group's weights (``MagnitudeImportance(p=1)``, Li et al. 2017, "Pruning
Filters for Efficient ConvNets").

Supported: MDX23C / TFC-TDF v3. Its TDF layers are ``Linear`` maps over the *frequency*
axis; they are registered with a pass-through pruner (:class:`_FreqLinearPruner`) so the
graph knows they keep the channel axis unchanged. The network's last 1x1 convolution (the
output spectrogram channels) is never pruned. HTDemucs is refused with a clear error: its
functional GLUs, frequency embedding and cross-domain transformer are outside what the
dependency graph of torch-pruning 1.6 traces correctly (measured: its importance
estimation indexes past the end of GLU-coupled groups).

Procedure (:func:`prune_iteratively`): for each target sparsity ``s`` (fraction of channels
removed, cumulative), prune the current network by the ratio that brings it from the
previous sparsity to ``s``, fine-tune it ``finetune_steps`` steps on the training data
(same remix sampler and L1 loss as training), then measure parameters, file size (fp16
safetensors), multiply-accumulates per second of audio, CPU real-time factor and
validation uSDR. Each step is saved as ``OUT/<name>-s<percent>.safetensors``; the table
goes to ``OUT/prune_table.{md,json}``. A sparsity equal to the previous one (or ``0`` as the
first) prunes nothing and fine-tunes ``finetune_steps`` more steps: a pruned model can be
given more recovery training with the same command.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from discovervoice.errors import DiscoverVoiceError

log = logging.getLogger(__name__)


class PruningError(DiscoverVoiceError):
    """A network the pruner cannot handle, or bad pruning settings."""


def _freq_linear_pruner():
    import torch_pruning as tp

    class _FreqLinearPruner(tp.pruner.function.BasePruningFunc):
        """The TDF ``Linear`` acts on frequency: pruning channels leaves it unchanged."""

        def prune_out_channels(self, layer, idxs):
            return layer

        prune_in_channels = prune_out_channels  # intra-layer dependency: channels pass through

        def get_out_channels(self, layer):
            return None

        def get_in_channels(self, layer):
            return None

    return _FreqLinearPruner()


def _example_input(model: Any):
    import torch

    return torch.randn(1, model.audio_channels, model.valid_length(model.chunk_size))


def prune_step(model: Any, ratio: float) -> Any:
    """Remove ``ratio`` of the prunable channels of every group of ``model`` (in place).

    Args:
        model: an :class:`~discovervoice.separation.mdx23c.MDX23C`.
        ratio: fraction in ``[0, 1)`` of the current channels to remove.

    Returns:
        The same network, narrower.

    Raises:
        PruningError: not an MDX23C, or a ratio outside ``[0, 1)``.
    """
    import torch_pruning as tp

    from discovervoice.separation.mdx23c import MDX23C, FreqLinear

    if not isinstance(model, MDX23C):
        raise PruningError(
            f"structured pruning supports MDX23C networks; got {type(model).__name__} "
            "(HTDemucs' functional GLUs and transformer are not traced correctly by torch-pruning)")
    if not 0.0 <= ratio < 1.0:
        raise PruningError(f"pruning ratio must be in [0, 1), got {ratio}")
    if ratio == 0.0:
        return model
    model.eval()
    pruner = tp.pruner.MagnitudePruner(
        model, _example_input(model), importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=ratio, ignored_layers=[model.final_conv[-1]],
        customized_pruners={FreqLinear: _freq_linear_pruner()}, iterative_steps=1)
    pruner.step()
    return model


def count_macs(model: Any, seconds: float = 1.0) -> float:
    """Multiply-accumulates per ``seconds`` of audio (torch-pruning's op counter), in G."""
    import torch
    import torch_pruning as tp

    n = model.valid_length(int(seconds * model.samplerate))
    macs, _ = tp.utils.count_ops_and_params(model, torch.randn(1, model.audio_channels, n))
    return float(macs) * (seconds * model.samplerate / n) / 1e9


def measure_rtf(model: Any, audio: np.ndarray, repeats: int = 2) -> float:
    """CPU real-time factor (processing time / audio duration) of the chunked apply,
    the best of ``repeats`` runs (the machine is shared, the minimum is the least noisy)."""
    import torch

    from discovervoice.separation.apply import apply_model

    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        apply_model(model, x)
        best = min(best, time.perf_counter() - t0)
    return best / (audio.shape[-1] / model.samplerate)


@dataclass
class PruneRow:
    sparsity: float
    params: int
    file_mb: float
    gmacs_per_s: float
    rtf: float
    speedup: float
    vocals_usdr: float
    accompaniment_usdr: float
    path: str = ""


@dataclass
class PruneTable:
    """Rows per sparsity (row 0 = the unpruned parent)."""

    model: str
    rows: list[PruneRow] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def markdown(self) -> str:
        lines = [f"Structured pruning of {self.model} "
                 f"({self.settings.get('finetune_steps')} fine-tuning steps per step; uSDR on "
                 f"{self.settings.get('valid_split', 'validation')} songs; RTF on "
                 f"{self.settings.get('rtf_seconds')} s, {self.settings.get('threads')} CPU thread(s))",
                 "",
                 "| channel sparsity | params | file (MB) | GMAC / s audio | CPU RTF | speed-up | vocals uSDR (dB) | accomp. uSDR (dB) |",
                 "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            lines.append(f"| {r.sparsity:.2f} | {r.params:,} | {r.file_mb:.2f} | {r.gmacs_per_s:.2f} | "
                         f"{r.rtf:.3f} | {r.speedup:.2f}x | {r.vocals_usdr:.2f} | {r.accompaniment_usdr:.2f} |")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"model": self.model, "settings": self.settings, "rows": [asdict(r) for r in self.rows]}


def prune_iteratively(model: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, *,
                      sparsities: Sequence[float] = (0.25, 0.5), finetune_steps: int = 100,
                      batch_size: int = 4, lr: float = 1e-4, valid_songs: int = 2,
                      valid_seconds: float = 30.0, rtf_seconds: float = 20.0,
                      threads: int | None = None, device: str = "cpu", silent_vocals: float = 0.0,
                      distill: float = 0.0, teacher: str | os.PathLike | None = None,
                      seed: int = 0) -> PruneTable:
    """Prune step by step to each sparsity, fine-tuning in between; see the module docstring.

    Args:
        model: embedded model name (``dv-mdx23c-small``) or ``.safetensors`` path.
        data: MUSDB-layout dataset root (``train/`` and optionally ``valid/``), or several
            comma-separated roots (trained on all, validated on the first; as ``separation train``).
        out: output folder.
        sparsities: non-decreasing cumulative channel sparsities in ``[0, 1)`` (a repeated
            value fine-tunes again without pruning).
        silent_vocals: probability that a fine-tuning example's vocals are digital silence
            (as ``separation train --silent-vocals``; keeps a parent trained with vocal-free
            examples from losing that).
        distill: weight ``w`` in ``[0, 1]`` of knowledge distillation from the unpruned
            network: the fine-tuning loss is ``(1 - w) L1(est, stems) + w L1(est,
            teacher(mixture))`` (Hinton et al. 2015; for pruning, e.g. Sanh et al. 2020);
            0 = the stems alone, as training.
        teacher: the network distilled from (name or ``.safetensors``; default ``model``
            itself before pruning). Give the original parent when ``model`` is an already
            pruned child that gets more recovery training.

    Returns:
        The :class:`PruneTable` (also written to ``out``).

    Raises:
        PruningError: unsupported network or bad sparsities.
        DataError: unusable dataset.
    """
    import torch

    from discovervoice.separation.api import _load_network
    from discovervoice.separation.models import count_parameters, save_embedded
    from discovervoice.separation.train import RemixSampler, load_song, split_dataset, validate

    if threads:
        torch.set_num_threads(threads)
    sp = [float(s) for s in sparsities]
    if not sp or any(not 0.0 <= s < 1.0 for s in sp) or sp != sorted(sp):
        raise PruningError(f"sparsities must not decrease and must lie in [0, 1), got {sparsities}")
    if not 0.0 <= distill <= 1.0:
        raise PruningError(f"distill is a loss weight in [0, 1], got {distill}")
    net, name = _load_network(model, None)
    net = net.float().cpu()
    teacher_net = None
    if distill > 0:
        import copy

        teacher_net = (copy.deepcopy(net) if teacher is None
                       else _load_network(teacher, None)[0].float())
        teacher_net = teacher_net.to(device).eval().requires_grad_(False)
    sources = list(net.sources)
    train_songs, valid_list = split_dataset(data, valid_songs)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    mix, _ = load_song(valid_list[0] if valid_list else train_songs[0], sources, rtf_seconds)
    table = PruneTable(name, settings={"sparsities": sp, "finetune_steps": finetune_steps,
                                       "lr": lr, "batch_size": batch_size, "rtf_seconds": rtf_seconds,
                                       "silent_vocals": silent_vocals, "distill": distill,
                                       "teacher": str(teacher or model) if distill > 0 else None,
                                       "threads": torch.get_num_threads(),
                                       "valid_split": f"{len(valid_list)} validation",
                                       "importance": "L1 magnitude (torch-pruning MagnitudeImportance p=1)"})

    def measure(s: float) -> PruneRow:
        # a repeated sparsity (fine-tuning again) gets its own file: -sNN, -sNN-2, -sNN-3...
        same = sum(1 for r in table.rows if abs(r.sparsity - s) < 1e-9)
        path = out_dir / (f"{name}-s{int(round(s * 100)):02d}"
                          + (f"-{same + 1}" if same else "") + ".safetensors")
        save_embedded(net, path, extra={"pruned_from": name, "channel_sparsity": s,
                                        "finetune_steps_per_step": finetune_steps})
        scores = validate(net, valid_list, sources, device=device, max_seconds=valid_seconds)
        rtf = measure_rtf(net, mix)
        row = PruneRow(s, count_parameters(net), path.stat().st_size / 1e6, count_macs(net), rtf,
                       table.rows[0].rtf / rtf if table.rows else 1.0,
                       scores.get("vocals", float("nan")),
                       scores.get("accompaniment", scores.get(sources[-1], float("nan"))), str(path))
        log.info("sparsity %.2f: %s", s, json.dumps(asdict(row)))
        return row

    table.rows.append(measure(0.0))
    prev = 0.0
    sampler = RemixSampler(train_songs, sources, net.segment, int(net.samplerate),
                           silent_vocals=silent_vocals, seed=seed)
    for s in sp:
        ratio = 1.0 - (1.0 - s) / (1.0 - prev)
        prune_step(net, ratio)
        net.to(device).train()
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        for step in range(finetune_steps):
            m, t = sampler.batch(batch_size)
            mt = torch.from_numpy(m).to(device)
            est = net(mt)
            loss = torch.nn.functional.l1_loss(est, torch.from_numpy(t).to(device))
            if teacher_net is not None:
                with torch.no_grad():
                    soft = teacher_net(mt)
                loss = (1 - distill) * loss + distill * torch.nn.functional.l1_loss(est, soft)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if (step + 1) % 10 == 0:
                log.info("sparsity %.2f fine-tune step %d loss %.5f", s, step + 1, float(loss))
        net.cpu().eval()
        table.rows.append(measure(s))
        prev = s
        (out_dir / "prune_table.md").write_text(table.markdown() + "\n")
        (out_dir / "prune_table.json").write_text(json.dumps(table.to_dict(), indent=2))
    return table

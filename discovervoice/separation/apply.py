"""Chunked overlap-add application of a separation network (after demucs ``apply.py``).

A network's ``forward`` stays pure (``Tensor[B, C, T] -> Tensor[B, S, C, T]`` on one
chunk). :func:`apply_model` cuts a mixture of any length into chunks of ``segment``
seconds that overlap by ``overlap``, runs the network on each (optionally several in one
batch, optionally on a thread pool of ``jobs`` workers), and adds the outputs back with a
triangular cross-fade window (demucs' ``transition_power`` window), normalised by the sum
of the windows. Only ``jobs * batch_size`` chunks are ever in the network at once, so the
memory of the activations does not grow with the length of the input; the output buffer
``[B, S, C, T]`` is the only full-length allocation.

Networks may carry their checkpoints' own chunking conventions: a ``num_overlap``
attribute (MSST: ``step = chunk // num_overlap``) gives the default overlap
(:func:`default_overlap`), and a ``chunk_fade`` attribute (a fraction of the chunk) selects
MSST's window, flat with linear fades at both ends (``utils/model_utils.py::demix``), in
place of the triangle (:func:`chunk_window`). The fades never reach 0, so the start and end
of a song (covered by one chunk) keep their full level after normalisation.

``shifts`` (demucs' "shift trick", Défossez et al. 2019): the input is shifted by a random
offset in ``[0, 0.5 s)`` ``shifts`` times, separated, shifted back and averaged, which
makes the estimate closer to time-equivariant. A ``demucs.apply.BagOfModels`` is applied
member by member and combined with its per-stem weights.

Shapes: ``mix`` is ``Tensor[C, T]`` or ``Tensor[B, C, T]``; the result is
``Tensor[B, S, C, T]`` (``S = len(model.sources)``), float32, on ``mix``'s device.
"""

from __future__ import annotations

import random
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ProgressFn = Callable[[float, str], None]
#: Maximum random shift of the shift trick, in seconds (demucs uses 0.5 s).
MAX_SHIFT_S = 0.5


def max_segment(model: nn.Module) -> float:
    """Longest chunk (seconds) the network accepts: HTDemucs only runs on its training
    length or less; other networks accept any length (``inf``)."""
    members = list(model.models) if hasattr(model, "models") else [model]
    best = float("inf")
    for m in members:
        if getattr(m, "use_train_segment", False):
            best = min(best, float(m.segment))
    return best


def default_segment(model: nn.Module) -> float:
    """The chunk length a network was trained on (seconds)."""
    members = list(model.models) if hasattr(model, "models") else [model]
    return min(float(m.segment) for m in members)


def default_overlap(model: nn.Module) -> float:
    """The overlap fraction a network's checkpoints were made to run with:
    ``1 - 1 / num_overlap`` for networks with a ``num_overlap`` (MSST configs), else 0.25
    (demucs' default)."""
    members = list(model.models) if hasattr(model, "models") else [model]
    n = getattr(members[0], "num_overlap", None)
    return 1.0 - 1.0 / int(n) if n else 0.25


def fade_window(length: int, fade: float, device: torch.device | None = None) -> Tensor:
    """MSST's chunk window ``Tensor[length]``: 1 in the middle, linear fades over
    ``fade * length`` samples at each end, strictly positive (``k / (n + 1)``, k = 1..n)."""
    n = min(max(1, int(length * fade)), length // 2)
    w = torch.ones(length, device=device)
    ramp = torch.arange(1, n + 1, device=device, dtype=torch.float32) / (n + 1)
    w[:n] = ramp
    w[length - n:] = ramp.flip(0)
    return w


def chunk_window(model: nn.Module, length: int, power: float = 1.0,
                 device: torch.device | None = None) -> Tensor:
    """The cross-fade window of a network's chunks: :func:`fade_window` for networks with a
    ``chunk_fade`` attribute, else :func:`transition_window`."""
    fade = getattr(model, "chunk_fade", None)
    if fade:
        return fade_window(length, float(fade), device=device)
    return transition_window(length, power, device=device)


def transition_window(length: int, power: float = 1.0, device: torch.device | None = None) -> Tensor:
    """Triangular cross-fade weights ``Tensor[length]`` in (0, 1] (demucs ``apply_model``)."""
    half = length // 2
    w = torch.cat([torch.arange(1, half + 1, device=device),
                   torch.arange(length - half, 0, -1, device=device)]).float()
    w = w / w.max()
    return w ** power


def _lead(model: nn.Module, delta: int) -> int:
    """Samples of context put before a chunk widened by ``delta``: half of it (demucs), or
    none for networks with MSST's conventions (``chunk_fade``), which pad after the chunk so
    that every chunk starts on the same STFT frame grid as the song (MSST ``demix``)."""
    return 0 if getattr(model, "chunk_fade", None) else delta // 2


def _padded_chunk(mix: Tensor, offset: int, length: int, target: int, lead: int | None = None,
                  reflect_end: bool = False) -> Tensor:
    """``mix[..., offset:offset+length]`` widened to ``target`` samples, ``lead`` of them
    before it (default: half, symmetrically), with the surrounding audio where it exists and
    zeros beyond the ends (demucs ``TensorChunk.padded``); ``reflect_end`` mirrors the audio
    past the song's end instead where it can (MSST pads its last chunk so; a centred STFT
    of the whole song sees the same samples there)."""
    total = mix.shape[-1]
    delta = target - length
    start = offset - (delta // 2 if lead is None else lead)
    end = start + target
    cs, ce = max(0, start), min(total, end)
    out = mix[..., cs:ce]
    right = end - ce
    if reflect_end and 0 < right < out.shape[-1]:
        out = F.pad(out, (0, right), mode="reflect")
        right = 0
    if cs - start or right:
        out = F.pad(out, (cs - start, right))
    return out


def _run(model: nn.Module, batch: Tensor, device: torch.device) -> Tensor:
    with torch.inference_mode():
        return model(batch.to(device)).to(batch.device)


def _apply_single(model: nn.Module, mix: Tensor, *, segment: float, overlap: float,
                  transition_power: float, device: torch.device, pool: Optional[ThreadPoolExecutor],
                  jobs: int, batch_size: int, progress: Optional[Callable[[float], None]]) -> Tensor:
    b, c, length = mix.shape
    sr = int(model.samplerate)
    n_src = len(model.sources)
    seg_len = max(1, int(round(segment * sr)))
    stride = max(1, int((1.0 - overlap) * seg_len))
    out = torch.zeros(b, n_src, c, length, dtype=torch.float32, device=mix.device)
    sum_w = torch.zeros(length, dtype=torch.float32, device=mix.device)
    weight = chunk_window(model, seg_len, transition_power, device=mix.device)
    offsets = list(range(0, length, stride)) if length > seg_len else [0]
    if length <= seg_len:
        seg_len_eff = length
    else:
        seg_len_eff = seg_len
    groups = [offsets[i:i + batch_size] for i in range(0, len(offsets), batch_size)]

    def work(group: list[int]) -> tuple[list[int], list[int], Tensor]:
        lens = [min(seg_len_eff, length - o) for o in group]
        target = model.valid_length(seg_len_eff) if hasattr(model, "valid_length") else seg_len_eff
        msst = bool(getattr(model, "chunk_fade", None))
        chunks = [_padded_chunk(mix, o, n, target, _lead(model, target - n), reflect_end=msst)
                  for o, n in zip(group, lens)]
        # chunks of one group share ``target``; batch them along B
        res = _run(model, torch.cat(chunks, dim=0), device)
        return group, lens, res

    def accumulate(group: list[int], lens: list[int], res: Tensor) -> None:
        target = res.shape[-1]
        for i, (o, n) in enumerate(zip(group, lens)):
            r = res[i * b:(i + 1) * b]
            delta = target - n
            lead = _lead(model, delta)
            r = r[..., lead: lead + n]
            w = weight[:n] if length > seg_len else torch.ones(n, device=mix.device)
            out[..., o:o + n] += r * w
            sum_w[o:o + n] += w

    done = 0
    if pool is None:
        for g in groups:
            accumulate(*work(g))
            done += 1
            if progress is not None:
                progress(done / len(groups))
    else:
        pending: list[Future] = []
        it = iter(groups)
        for g in it:
            pending.append(pool.submit(work, g))
            if len(pending) >= 2 * jobs:
                accumulate(*pending.pop(0).result())
                done += 1
                if progress is not None:
                    progress(done / len(groups))
        for fut in pending:
            accumulate(*fut.result())
            done += 1
            if progress is not None:
                progress(done / len(groups))
    out /= sum_w.clamp_min(1e-8)
    return out


def apply_model(model: nn.Module, mix: Tensor, *, segment: float | None = None,
                overlap: float | None = None, shifts: int = 0, transition_power: float = 1.0,
                device: str | torch.device | None = None, jobs: int = 0, batch_size: int = 1,
                split: bool = True, progress: ProgressFn | None = None,
                seed: int | None = 0) -> Tensor:
    """Separate ``mix`` with ``model`` chunk by chunk.

    Args:
        model: a network (``forward(Tensor[B, C, T]) -> Tensor[B, S, C, T]``, attributes
            ``sources``, ``samplerate``, ``segment``, ``valid_length``) or a
            ``demucs.apply.BagOfModels``.
        mix: ``Tensor[C, T]`` or ``Tensor[B, C, T]`` at ``model.samplerate`` Hz, with
            ``C == model.audio_channels``.
        segment: chunk length in seconds (default: the network's training segment; capped
            at what HTDemucs accepts).
        overlap: fraction of a chunk shared with the next, in ``[0, 1)`` (default: the
            network's convention, :func:`default_overlap`).
        shifts: number of random time shifts to average (0 = none).
        transition_power: exponent of the triangular cross-fade window.
        device: where the network runs (the mixture and output stay on ``mix.device``).
        jobs: worker threads processing chunks in parallel on CPU (0 = in this thread).
        batch_size: chunks stacked into one forward call.
        split: ``False`` runs the network once on the whole input (only for inputs the
            network accepts in one piece).
        progress: ``progress(fraction, message)``.
        seed: seed of the shift offsets (``None`` = nondeterministic).

    Returns:
        ``Tensor[B, S, C, T]``.

    Raises:
        ValueError: bad ``overlap`` / ``segment`` / ``shifts``, wrong channel count, or
            ``split=False`` on an input longer than HTDemucs accepts.
    """
    squeeze = mix.dim() == 2
    if squeeze:
        mix = mix.unsqueeze(0)
    if mix.dim() != 3:
        raise ValueError(f"mix must be Tensor[C, T] or Tensor[B, C, T], got shape {tuple(mix.shape)}")
    if overlap is None:
        overlap = default_overlap(model)
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if shifts < 0 or jobs < 0 or batch_size < 1:
        raise ValueError("shifts and jobs must be >= 0 and batch_size >= 1")
    if mix.shape[1] != model.audio_channels:
        raise ValueError(f"mix has {mix.shape[1]} channels, the model expects {model.audio_channels}")
    mix = mix.float()
    dev = torch.device(device) if device is not None else mix.device
    members = list(model.models) if hasattr(model, "models") else [model]
    weights = getattr(model, "weights", None) if hasattr(model, "models") else None
    if weights is None:
        weights = [[1.0] * len(model.sources) for _ in members]
    limit = max_segment(model)
    seg = float(segment) if segment is not None else default_segment(model)
    if seg <= 0:
        raise ValueError(f"segment must be > 0 seconds, got {seg}")
    if seg > limit + 1e-9:
        raise ValueError(f"segment {seg:.2f} s is longer than this model accepts ({limit:.2f} s)")
    length = mix.shape[-1]
    if not split:
        seg = length / float(model.samplerate)
        if seg > limit + 1e-9:
            raise ValueError(f"split=False: input of {seg:.2f} s is longer than the model's "
                             f"{limit:.2f} s limit")
        overlap = 0.0
    sr = int(model.samplerate)
    rng = random.Random(seed)
    n_passes = len(members) * max(1, shifts)
    pool = ThreadPoolExecutor(jobs) if jobs > 0 and dev.type == "cpu" else None
    # one full-length buffer: each pass is scaled and added in place (memory: the output,
    # plus one pass while it is being added)
    total: Tensor | None = None
    totals = [0.0] * len(model.sources)
    try:
        pass_i = 0
        for m, w in zip(members, weights):
            m.to(dev)
            if m.training:
                m.eval()
            wt = torch.tensor(w, dtype=torch.float32, device=mix.device).view(1, -1, 1, 1)
            wt = wt / max(1, shifts)
            for _ in range(max(1, shifts)):
                def prog(frac: float, k: int = pass_i) -> None:
                    if progress is not None:
                        progress((k + frac) / n_passes, f"separating, pass {k + 1}/{n_passes}")
                kw = dict(segment=seg, overlap=overlap, transition_power=transition_power,
                          device=dev, pool=pool, jobs=max(jobs, 1), batch_size=batch_size,
                          progress=prog)
                if shifts > 0:
                    max_shift = int(MAX_SHIFT_S * sr)
                    offset = rng.randint(0, max_shift - 1)
                    padded = F.pad(mix, (max_shift, max_shift))
                    shifted = padded[..., offset: offset + length + max_shift]
                    res = _apply_single(m, shifted, **kw)
                    res = res[..., max_shift - offset: max_shift - offset + length]
                else:
                    res = _apply_single(m, mix, **kw)
                if total is None:
                    total = res.mul_(wt) if res.is_contiguous() else (res * wt)
                else:
                    total.add_(res.mul_(wt))
                del res
                pass_i += 1
            for i, x in enumerate(w):
                totals[i] += float(x)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    assert total is not None
    if any(t != 1.0 for t in totals):
        norm = torch.tensor([t if t > 0 else 1.0 for t in totals], device=total.device).view(1, -1, 1, 1)
        total /= norm
    if progress is not None:
        progress(1.0, "separated")
    return total

"""Chunked overlap-add apply: equals unchunked, matches demucs, bounded chunks, progress."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from discovervoice.separation import models as M
from discovervoice.separation.apply import apply_model, transition_window


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class PointwiseNet(nn.Module):
    """A network without time context (1x1 conv): chunking must not change its output."""

    def __init__(self, sources=("vocals", "accompaniment"), segment=0.25, samplerate=8000):
        super().__init__()
        self.sources = list(sources)
        self.samplerate = samplerate
        self.audio_channels = 2
        self.segment = segment
        self.conv = nn.Conv1d(2, 2 * len(self.sources), 1)
        self.calls: list[tuple[int, ...]] = []

    def valid_length(self, n: int) -> int:
        return n + 7  # forces padding with context, as HTDemucs / MDX23C need

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        y = torch.tanh(self.conv(x))
        return y.view(x.shape[0], len(self.sources), 2, x.shape[-1])


def _signal(n, seed=0, channels=2):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(channels, n, generator=g) * 0.3


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5])
@pytest.mark.parametrize("batch_size,jobs", [(1, 0), (3, 0), (2, 2)])
def test_chunked_equals_unchunked_for_a_context_free_network(overlap, batch_size, jobs):
    torch.manual_seed(0)
    net = PointwiseNet().eval()
    x = _signal(8000 * 2 + 123)
    with torch.no_grad():
        whole = net(x[None])
    out = apply_model(net, x, overlap=overlap, batch_size=batch_size, jobs=jobs)
    assert out.shape == (1, 2, 2, x.shape[-1])
    assert torch.allclose(out, whole, atol=1e-5)


def test_shifts_keep_length_and_alignment():
    torch.manual_seed(0)
    net = PointwiseNet().eval()
    x = _signal(8000 + 77)
    with torch.no_grad():
        whole = net(x[None])
    out = apply_model(net, x, shifts=3, seed=1)
    assert out.shape[-1] == x.shape[-1]
    assert torch.allclose(out, whole, atol=1e-5)


def test_chunks_stay_bounded_for_long_inputs():
    net = PointwiseNet(segment=0.25).eval()
    x = _signal(8000 * 30)  # 30 s, 120x the segment
    apply_model(net, x, batch_size=2)
    longest = max(c[-1] for c in net.calls)
    assert longest == int(0.25 * 8000) + 7
    assert max(c[0] for c in net.calls) <= 2


def test_progress_is_monotonic_and_complete():
    net = PointwiseNet().eval()
    seen = []
    apply_model(net, _signal(8000 * 3), progress=lambda f, m: seen.append(f))
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(1.0)
    assert len(seen) > 5


def test_mdx23c_chunked_close_to_unchunked():
    # BatchNorm in eval mode is pointwise, so only the convolutions' context differs at
    # chunk borders; the cross-fade keeps the chunked result close to one pass.
    kw = dict(M.TINY_MDX23C, norm="BatchNorm")
    torch.manual_seed(0)
    net = M.build_model("mdx23c", kw).eval()
    n = net.chunk_size * 16  # whole-pass and chunk STFT frames on the same hop grid
    x = _signal(n, seed=2)
    whole = apply_model(net, x, split=False)
    # chunks long against the receptive field (4 training chunks), half overlapping
    chunked = apply_model(net, x, segment=4 * net.segment, overlap=0.5)
    assert chunked.shape == whole.shape
    err = (chunked - whole).pow(2).sum() / whole.pow(2).sum()
    assert float(10 * torch.log10(1 / err)) > 40.0  # > 40 dB agreement


def test_matches_demucs_apply_model_on_htdemucs():
    from demucs.apply import apply_model as demucs_apply

    kw = dict(M.TINY_HTDEMUCS)
    torch.manual_seed(0)
    net = M.build_model("htdemucs", kw).eval()
    x = _signal(int(44100 * 2.7), seed=3)
    ours = apply_model(net, x, overlap=0.25)
    with torch.no_grad():
        ref = demucs_apply(net, x[None], shifts=0, split=True, overlap=0.25, progress=False)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-5)


def test_htdemucs_segment_limit_and_errors():
    torch.manual_seed(0)
    net = M.build_model("htdemucs", M.TINY_HTDEMUCS).eval()
    x = _signal(44100 * 2)
    with pytest.raises(ValueError, match="longer than this model accepts"):
        apply_model(net, x, segment=5.0)
    with pytest.raises(ValueError, match="split=False"):
        apply_model(net, x, split=False)
    with pytest.raises(ValueError, match="overlap"):
        apply_model(net, x, overlap=1.0)
    with pytest.raises(ValueError, match="channels"):
        apply_model(net, x[:1])


def test_transition_window_shape():
    w = transition_window(10)
    assert w.shape == (10,) and float(w.max()) == 1.0 and float(w.min()) > 0
    assert torch.allclose(w, w.flip(0))

"""Training / fine-tuning RVC v2 voice models (the GPU path for the best quality).

RVC-WebUI's recipe (``infer/modules/train/train.py``), re-implemented on the networks of
:mod:`discovervoice.convert.rvc`:

* generator: ``SynthesizerTrnMs768NSFsid`` plus its training-only posterior encoder
  ``enc_q`` (WaveNet over the linear spectrogram, 16 layers); a random ``segment_size``
  slice of the latent is decoded by the NSF-HiFiGAN;
* discriminator: ``MultiPeriodDiscriminatorV2`` (one scale discriminator and periods
  2, 3, 5, 7, 11, 17, 23, 37), parameter names as RVC's ``f0D40k.pth``;
* losses: LSGAN adversarial, feature matching (x2), mel-spectrogram L1 (x45), KL between
  posterior and prior (x1);
* AdamW (lr 1e-4, betas 0.8/0.99, eps 1e-9), exponential lr decay 0.999875 per epoch;
* fine-tuning starts from the registry's pretrained bases ``rvc_v2_f0G40k`` /
  ``rvc_v2_f0D40k`` (or 48k) when they resolve (``discovervoice weights fetch ...``);
  without them training starts from random weights, which needs far more steps;
* content features: HuBERT base (``hubert_base_rvc``, 768-d, layer 12), as RVC v2.

Output: a voice folder with ``model.pth`` in RVC-WebUI's small-model format and
``added.index`` (faiss, content features), which RVC-WebUI/Applio and
:class:`~discovervoice.convert.voice.VoiceModel` both load. Checkpoints of G and D with
optimiser states go to ``out/train/`` for resuming.

This recipe is meant for a GPU (``device="cuda"``); on two CPU cores use the WORLD recipe of
:func:`discovervoice.convert.voice.train_voice`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import weight_norm

from discovervoice.convert.rvc import WN, SynthesizerTrnMsNSFsid, build_synthesizer, default_config, save_rvc_checkpoint
from discovervoice.checkpoint import read_torch
from discovervoice.errors import WeightsError
from discovervoice.fileio import atomic_path, write_json
from discovervoice.progress import Progress

LRELU = 0.1


class PosteriorEncoder(nn.Module):
    """VITS posterior encoder ``enc_q``: linear spectrogram -> latent ``z`` (training only)."""

    def __init__(self, in_channels, out_channels, hidden, kernel_size=5, dilation_rate=1, n_layers=16,
                 gin_channels=0):
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden, 1)
        self.enc = WN(hidden, kernel_size, dilation_rate, n_layers, gin_channels)
        self.proj = nn.Conv1d(hidden, out_channels * 2, 1)

    def forward(self, y, lengths, g=None):
        mask = (torch.arange(y.shape[2], device=y.device)[None] < lengths[:, None]).unsqueeze(1).to(y.dtype)
        x = self.enc(self.pre(y) * mask, mask, g=g)
        stats = self.proj(x) * mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        z = (m + torch.randn_like(m) * torch.exp(logs)) * mask
        return z, m, logs, mask


class TrainSynthesizer(nn.Module):
    """The generator with ``enc_q``; its state dict has RVC's names (``enc_p``, ``enc_q``,
    ``flow``, ``dec``, ``emb_g``)."""

    def __init__(self, config: list, in_dim: int = 768):
        super().__init__()
        base = build_synthesizer(config, in_dim)
        self.config = list(config)
        self.segment_size = int(config[1])
        self.enc_p, self.dec, self.flow, self.emb_g = base.enc_p, base.dec, base.flow, base.emb_g
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self.enc_q = PosteriorEncoder(config[0], config[2], config[3], 5, 1, 16, gin_channels=config[16])
        self.sr = base.sr
        self.hop = base.hop

    def forward(self, phone, phone_lengths, pitch, pitchf, spec, spec_lengths, sid):
        g = self.emb_g(sid).unsqueeze(-1)
        m_p, logs_p, x_mask = self.enc_p(phone, pitch, phone_lengths)
        z, m_q, logs_q, y_mask = self.enc_q(spec, spec_lengths, g=g)
        z_p = self.flow(z, y_mask, g=g, reverse=False)
        seg = min(self.segment_size, int(spec_lengths.min()))
        starts = (torch.rand(z.shape[0], device=z.device) * (spec_lengths - seg + 1).clamp(min=1)).long()
        idx = starts[:, None] + torch.arange(seg, device=z.device)[None]
        z_slice = torch.gather(z, 2, idx[:, None, :].expand(-1, z.shape[1], -1))
        f0_slice = torch.gather(pitchf, 1, idx)
        o = self.dec(z_slice, f0_slice, g=g)
        return o, starts, seg, (z_p, m_p, logs_p, logs_q, y_mask)

    def inference_net(self) -> SynthesizerTrnMsNSFsid:
        net = build_synthesizer(self.config, self.enc_p.emb_phone.in_features)
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("enc_q.")}
        net.load_state_dict(state)
        return net


def _pad(k, d=1):
    return int((k * d - d) / 2)


class DiscriminatorS(nn.Module):
    def __init__(self, div: int = 1):
        super().__init__()
        c = [16, 64 // div, 256 // div, 1024 // div]
        g = [max(1, 4 // div), max(1, 16 // div), max(1, 64 // div), max(1, 256 // div)]
        self.convs = nn.ModuleList([
            weight_norm(nn.Conv1d(1, c[0], 15, 1, padding=7)),
            weight_norm(nn.Conv1d(c[0], c[1], 41, 4, groups=g[0], padding=20)),
            weight_norm(nn.Conv1d(c[1], c[2], 41, 4, groups=g[1], padding=20)),
            weight_norm(nn.Conv1d(c[2], c[3], 41, 4, groups=g[2], padding=20)),
            weight_norm(nn.Conv1d(c[3], c[3], 41, 4, groups=g[3], padding=20)),
            weight_norm(nn.Conv1d(c[3], c[3], 5, 1, padding=2))])
        self.conv_post = weight_norm(nn.Conv1d(c[3], 1, 3, 1, padding=1))

    def forward(self, x):
        fmap = []
        for c in self.convs:
            x = F.leaky_relu(c(x), LRELU)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class DiscriminatorP(nn.Module):
    def __init__(self, period, kernel_size=5, stride=3, div: int = 1):
        super().__init__()
        self.period = period
        chans = [1, 32 // div, 128 // div, 512 // div, 1024 // div, 1024 // div]
        self.convs = nn.ModuleList([
            weight_norm(nn.Conv2d(chans[i], chans[i + 1], (kernel_size, 1), (stride if i < 4 else 1, 1),
                                  padding=(_pad(kernel_size, 1), 0))) for i in range(5)])
        self.conv_post = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x):
        fmap = []
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - (t % self.period)
            x = F.pad(x, (0, n_pad), "reflect")
            t = t + n_pad
        x = x.view(b, c, t // self.period, self.period)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class MultiPeriodDiscriminatorV2(nn.Module):
    """RVC v2's discriminator (``f0D40k.pth`` / ``f0D48k.pth`` parameter names).

    ``div`` divides every channel count (1 = the published size; tests use tiny ones).
    """

    PERIODS = (2, 3, 5, 7, 11, 17, 23, 37)

    def __init__(self, periods: tuple[int, ...] = PERIODS, div: int = 1):
        super().__init__()
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self.discriminators = nn.ModuleList([DiscriminatorS(div)] + [DiscriminatorP(p, div=div) for p in periods])

    def forward(self, y, y_hat):
        rs, gs, frs, fgs = [], [], [], []
        for d in self.discriminators:
            r, fr = d(y)
            g, fg = d(y_hat)
            rs.append(r); gs.append(g); frs.append(fr); fgs.append(fg)
        return rs, gs, frs, fgs


def feature_loss(fmap_r, fmap_g):
    return 2 * sum(torch.mean(torch.abs(rl.detach() - gl)) for dr, dg in zip(fmap_r, fmap_g)
                   for rl, gl in zip(dr, dg))


def discriminator_loss(real, fake):
    return sum(torch.mean((1 - r) ** 2) + torch.mean(g ** 2) for r, g in zip(real, fake))


def generator_loss(fake):
    return sum(torch.mean((1 - g) ** 2) for g in fake)


def kl_loss(z_p, logs_q, m_p, logs_p, mask):
    kl = logs_p - logs_q - 0.5 + 0.5 * ((z_p - m_p) ** 2) * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * mask) / torch.sum(mask)


class Spectra:
    """Linear and log-mel spectrograms as RVC computes them (Hann, centred=False with
    reflect padding of (n_fft - hop) / 2, magnitude ``sqrt(re^2 + im^2 + 1e-6)``)."""

    def __init__(self, sr: int, n_fft: int, hop: int, n_mels: int = 128):
        import librosa

        n_mels = min(n_mels, n_fft // 4)  # tiny test configs have short FFTs
        self.sr, self.n_fft, self.hop = sr, n_fft, hop
        self.window = torch.hann_window(n_fft)
        self.mel_basis = torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)).float()

    def linear(self, y):  # [B, T] -> [B, n_fft // 2 + 1, frames]
        p = (self.n_fft - self.hop) // 2
        y = F.pad(y[:, None], (p, p), mode="reflect")[:, 0]
        s = torch.stft(y, self.n_fft, self.hop, self.n_fft, self.window.to(y.device), center=False,
                       return_complex=True)
        return torch.sqrt(s.real ** 2 + s.imag ** 2 + 1e-6)

    def log_mel(self, y):
        return torch.log(torch.clamp(self.mel_basis.to(y.device) @ self.linear(y), min=1e-5))


def load_pretrained(gen: TrainSynthesizer, disc: MultiPeriodDiscriminatorV2, g_path: Path | None,
                    d_path: Path | None) -> list[str]:
    """Load RVC pretrained bases (``{"model": state_dict}``) non-strictly; returns notes."""
    notes = []
    for module, path, name in ((gen, g_path, "G"), (disc, d_path, "D")):
        if path is None:
            continue
        state = read_torch(path, unwrap=("model", "weight"))
        own = module.state_dict()
        fit = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        module.load_state_dict(fit, strict=False)
        notes.append(f"{name}: {len(fit)}/{len(own)} tensors from {Path(path).name}")
    return notes


def _slice_features(slices: list, enc, f0_method: str, hop: int, min_frames: int,
                    say: Progress) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], int]:
    """Content features, F0 and audio of each slice, cut to a common frame count.

    Returns:
        ``(content[N, 768], f0[N] (Hz, 0 unvoiced), audio[N * hop])`` per slice of at least
        ``min_frames`` frames, and the number of voiced frames (10 ms) in all of them.
    """
    from discovervoice.convert import f0 as F0

    items, voiced = [], 0
    for i, s in enumerate(slices):
        f0 = F0.extract_f0(s.audio16k, f0_method)
        c = enc(s.audio16k)
        n = min(len(f0), len(c), len(s.audio) // hop)
        if n < min_frames:
            continue
        voiced += int((f0[:n] > 0).sum())
        items.append((c[:n], f0[:n], s.audio[: n * hop]))
        say(0.05 + 0.15 * (i + 1) / len(slices), f"features {i + 1}/{len(slices)}")
    return items, voiced


def _load_bases(gen: TrainSynthesizer, disc: MultiPeriodDiscriminatorV2, sr: int) -> list[str]:
    """Load the registry's pretrained ``rvc_v2_f0G`` / ``rvc_v2_f0D`` for ``sr`` (40 or 48 kHz)
    when they resolve; returns notes (a missing base is a note, not an error)."""
    from discovervoice import weights

    tag = {40000: "40k", 48000: "48k"}.get(sr)
    try:
        g_path = weights.resolve(f"rvc_v2_f0G{tag}") if tag else None
        d_path = weights.resolve(f"rvc_v2_f0D{tag}") if tag else None
        return load_pretrained(gen, disc, g_path, d_path)
    except WeightsError as exc:
        return [f"pretrained base not available ({exc}); training from scratch"]


def _random_batch(items: list, rng: np.random.Generator, batch: int, seg_frames: int, hop: int,
                  device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``batch`` random excerpts of ``min(seg_frames, shortest item)`` frames.

    Returns:
        ``phone`` Tensor[B, L, 768], coarse ``pitch`` Tensor[B, L], ``pitchf`` Tensor[B, L]
        (Hz), ``wav`` Tensor[B, L * hop].
    """
    from discovervoice.convert.f0 import coarse_pitch

    sel = [items[j] for j in rng.integers(0, len(items), size=batch)]
    L = min(seg_frames, min(len(c) for c, _, _ in sel))
    cs, ps, pfs, ys = [], [], [], []
    for c, f0, y in sel:
        o = int(rng.integers(0, len(c) - L + 1))
        cs.append(c[o:o + L]); pfs.append(f0[o:o + L]); ps.append(coarse_pitch(f0[o:o + L]))
        ys.append(y[o * hop:(o + L) * hop])
    phone = torch.from_numpy(np.stack(cs)).float().to(device)
    pitch = torch.from_numpy(np.stack(ps)).to(device)
    pitchf = torch.from_numpy(np.stack(pfs)).float().to(device)
    wav = torch.from_numpy(np.stack(ys)).float().to(device)
    return phone, pitch, pitchf, wav


def _gan_step(gen: TrainSynthesizer, disc: MultiPeriodDiscriminatorV2, opt_g, opt_d, spectra: Spectra,
              phone, pitch, pitchf, wav, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One discriminator and one generator update on a batch; returns the mel, KL and
    discriminator losses."""
    batch, L, hop = phone.shape[0], phone.shape[1], gen.hop
    spec = spectra.linear(wav)[..., :L]
    lengths = torch.full((batch,), L, device=device)
    sid = torch.zeros(batch, dtype=torch.long, device=device)
    y_hat, starts, seg, (z_p, m_p, logs_p, logs_q, y_mask) = gen(phone, lengths, pitch, pitchf, spec, lengths, sid)
    idx = (starts[:, None] * hop + torch.arange(seg * hop, device=device)[None])
    y = torch.gather(wav, 1, idx)[:, None]
    y_hat = y_hat[..., : y.shape[-1]]
    rs, gs, _, _ = disc(y, y_hat.detach())
    loss_d = discriminator_loss(rs, gs)
    opt_d.zero_grad(); loss_d.backward(); opt_d.step()
    rs, gs, frs, fgs = disc(y, y_hat)
    loss_mel = F.l1_loss(spectra.log_mel(y[:, 0]), spectra.log_mel(y_hat[:, 0])) * 45
    loss_kl = kl_loss(z_p, logs_q, m_p, logs_p, y_mask)
    loss_g = generator_loss(gs) + feature_loss(frs, fgs) + loss_mel + loss_kl
    opt_g.zero_grad(); loss_g.backward(); opt_g.step()
    return loss_mel, loss_kl, loss_d


def train_rvc(data_dir: str | Path, out_dir: str | Path, *, sample_rate: int = 40000, content: str = "hubert_base_rvc",
              f0_method: str = "rmvpe", pretrained: bool = True, config: list | None = None, steps: int = 2000,
              batch: int = 4, lr: float = 1e-4, device: str = "cpu", save_every: int = 200, resume: bool = True,
              disc_div: int = 1,
              progress: Progress | None = None, seed: int = 0) -> Path:
    """Train (fine-tune) an RVC v2 voice; returns the voice folder (``model.pth`` + ``added.index``).

    Args:
        data_dir: the voice's recordings (prepared as :func:`~discovervoice.convert.voice.prepare_slices`).
        content: HuBERT checkpoint (registry name or path) giving 768-d features.
        pretrained: start from ``rvc_v2_f0G{40,48}k`` / ``rvc_v2_f0D...`` when they resolve.
        config: RVC config list (default: the published one for ``sample_rate``; tests pass tiny ones).
        disc_div: divide the discriminator's channels (1 = the published size, needed to load f0D).

    Raises:
        VoiceDataError: too little voiced audio; WeightsError: unusable content model.
    """
    from discovervoice.convert.content import load_content_encoder
    from discovervoice.convert.index import FeatureIndex
    from discovervoice.convert.voice import MIN_VOICED_SECONDS, VoiceDataError, prepare_slices

    say = progress or (lambda f, m: None)
    cfg = list(config or default_config(sample_rate))
    sr = int(cfg[-1])
    out = Path(out_dir)
    tdir = out / "train"
    tdir.mkdir(parents=True, exist_ok=True)
    slices = prepare_slices(data_dir, sr, progress=lambda f, m: say(0.05 * f, m))
    enc = load_content_encoder(content)
    if hasattr(enc, "with_layer"):
        enc = enc.with_layer(12)
    if getattr(enc, "dim", 768) != 768:
        raise WeightsError(f"{content}: RVC v2 needs 768-d content features, this encoder gives {enc.dim}")
    # seeded here, after the (cached) content encoder is loaded, so that a second call in the
    # same process draws the same initial weights and batches as the first
    torch.manual_seed(seed)
    gen = TrainSynthesizer(cfg).to(device)
    hop = gen.hop
    items, voiced = _slice_features(slices, enc, f0_method, hop, cfg[1] + 2, say)
    if voiced / 100 < MIN_VOICED_SECONDS:
        raise VoiceDataError(f"{data_dir}: only {voiced / 100:.1f} s of voiced audio; a voice needs at least "
                             f"{MIN_VOICED_SECONDS:.0f} s")
    disc = MultiPeriodDiscriminatorV2(div=disc_div).to(device)
    notes = _load_bases(gen, disc, sr) if pretrained else []
    opt_g = torch.optim.AdamW(gen.parameters(), lr, betas=(0.8, 0.99), eps=1e-9)
    opt_d = torch.optim.AdamW(disc.parameters(), lr, betas=(0.8, 0.99), eps=1e-9)
    ck_path = tdir / "rvc_checkpoint.pt"
    step = 0
    if resume and ck_path.exists():
        ck = torch.load(ck_path, map_location=device, weights_only=False)
        gen.load_state_dict(ck["G"]); disc.load_state_dict(ck["D"])
        opt_g.load_state_dict(ck["opt_g"]); opt_d.load_state_dict(ck["opt_d"]); step = ck["step"]
    spectra = Spectra(sr, (cfg[0] - 1) * 2, hop)
    rng = np.random.default_rng(seed)
    seg_frames = 2 * cfg[1]  # frames per training example (the decoder sees cfg[1] of them)
    t0 = time.time()
    history = []
    while step < steps:
        phone, pitch, pitchf, wav = _random_batch(items, rng, batch, seg_frames, hop, device)
        loss_mel, loss_kl, loss_d = _gan_step(gen, disc, opt_g, opt_d, spectra, phone, pitch, pitchf,
                                              wav, device)
        step += 1
        for o_ in (opt_g, opt_d):
            for g_ in o_.param_groups:
                g_["lr"] = lr * 0.999875 ** (step * batch / max(len(items), 1))
        if step % 10 == 0 or step == steps:
            history.append((step, loss_mel.item(), loss_kl.item(), loss_d.item()))
            say(0.2 + 0.75 * step / steps, f"step {step}/{steps} mel {loss_mel.item():.2f} kl {loss_kl.item():.2f}")
        if step % save_every == 0 or step == steps:
            with atomic_path(ck_path) as tmp:
                torch.save({"G": gen.state_dict(), "D": disc.state_dict(), "opt_g": opt_g.state_dict(),
                            "opt_d": opt_d.state_dict(), "step": step}, tmp)
    net = gen.cpu().inference_net()
    save_rvc_checkpoint(net, cfg, out / "model.pth", "v2",
                        info=json.dumps({"trained_by": "DiscoverVoice", "steps": step, "notes": notes}))
    FeatureIndex.build(np.concatenate([c for c, _, _ in items])).save(out / "added.index")
    write_json(tdir / "rvc_train.json", {"steps": step, "seconds": round(time.time() - t0, 1),
                                         "history": history, "notes": notes, "content": content,
                                         "f0_method": f0_method}, ensure_ascii=True)
    say(1.0, f"RVC voice written to {out}")
    return out

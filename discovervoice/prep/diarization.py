"""Speaker diarization: who speaks (or sings) when.

Recipe (the classic embedding + clustering pipeline, e.g. Wang et al. 2018,
"Speaker diarization with LSTM"):

1. **Embeddings** — resemblyzer's GE2E speaker encoder (Wan et al. 2018; the pretrained
   256-d model ships inside the ``resemblyzer`` wheel, no network) over sliding windows of
   1.6 s inside every voice segment (``rate`` windows per second). A segment's embedding
   is the normalised mean of its windows (segments shorter than a window are padded by
   resemblyzer).
2. **Clustering** — scikit-learn ``AgglomerativeClustering`` (average linkage, cosine
   distance) of the segment embeddings, with ``n_speakers`` clusters when given, else the
   number with the best silhouette (one speaker when no partition reaches
   ``min_silhouette``). With ``method="spectral"`` and a given
   number of speakers, ``SpectralClustering`` on the cosine affinity is used instead.
3. **Re-segmentation** — inside segments longer than ``2 * min_turn_seconds``, each window
   is assigned to the nearest cluster centroid; a run of at least ``min_turn_seconds``
   with another speaker splits the segment at the change.

Speakers are named ``spk0``, ``spk1``... in order of first appearance.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np

from discovervoice.prep import features as F
from discovervoice.prep.segmentation import VOICE_LABELS, Segment

#: Length (seconds) of resemblyzer's partial utterance window (160 mel frames).
WINDOW_SECONDS = 1.6


@functools.lru_cache(maxsize=1)
def load_encoder():
    """resemblyzer ``VoiceEncoder`` on the CPU (weights from the wheel; cached)."""
    import torch
    from resemblyzer import VoiceEncoder

    threads = torch.get_num_threads()
    try:
        return VoiceEncoder("cpu", verbose=False)
    finally:
        torch.set_num_threads(threads)


def _normalise_level(x: np.ndarray, target_rms: float = 0.05) -> np.ndarray:
    r = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0
    return (x * (target_rms / r)).astype(np.float32) if r > 0 else x.astype(np.float32)


def embed_windows(x16: np.ndarray, rate: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Speaker embeddings of sliding windows of a mono 16 kHz excerpt.

    Returns:
        ``(embeddings ndarray[W, 256], centres ndarray[W])`` — unit-norm GE2E embeddings and
        each window's centre in seconds from the excerpt start.
    """
    import torch

    enc = load_encoder()
    x = _normalise_level(np.asarray(x16, dtype=np.float32))
    min_len = int(0.2 * F.ANALYSIS_RATE)
    if len(x) < min_len:
        x = np.pad(x, (0, min_len - len(x)))
    threads = torch.get_num_threads()
    # the small LSTM runs fastest on one thread; more threads only contend on a busy CPU
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            _, partials, slices = enc.embed_utterance(x, return_partials=True, rate=rate)
    finally:
        torch.set_num_threads(threads)
    centres = np.array([min((s.start + s.stop) / 2, len(x16)) / F.ANALYSIS_RATE for s in slices])
    return partials.astype(np.float64), centres


def cluster(embeddings: np.ndarray, n_speakers: int | None = None, *,
            distance_threshold: float = 0.45, min_silhouette: float = 0.5,
            max_speakers: int = 8, method: str = "agglomerative") -> np.ndarray:
    """Cluster unit-norm embeddings ``ndarray[N, D]``; returns labels ``ndarray[N]``.

    Args:
        n_speakers: number of clusters, or ``None`` to choose it: for ``k = 2 ..
            max_speakers`` the average-linkage partition with the best (cosine) silhouette
            is kept when that silhouette reaches ``min_silhouette``, else one speaker.
            With fewer than 3 embeddings the tree is cut at ``distance_threshold``
            instead. (Both values were set on the corpus ``train`` split: one-speaker
            recordings peaked at silhouette 0.40, two-speaker conversations started at 0.59.)
        method: ``"agglomerative"`` or ``"spectral"`` (needs ``n_speakers``).
    """
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1 or n_speakers == 1:
        return np.zeros(n, dtype=np.int64)
    if n_speakers is not None and n_speakers >= n:
        return np.arange(n)
    if method == "spectral":
        if n_speakers is None:
            raise ValueError("spectral clustering needs n_speakers")
        from sklearn.cluster import SpectralClustering

        aff = np.clip(embeddings @ embeddings.T, 0.0, 1.0)
        return SpectralClustering(n_clusters=n_speakers, affinity="precomputed",
                                  random_state=0).fit_predict(aff).astype(np.int64)
    if method != "agglomerative":
        raise ValueError(f"unknown clustering method {method!r}; use agglomerative or spectral")
    from sklearn.cluster import AgglomerativeClustering

    if n_speakers is not None:
        model = AgglomerativeClustering(n_clusters=n_speakers, metric="cosine", linkage="average")
        return model.fit_predict(embeddings).astype(np.int64)
    if n < 3:
        model = AgglomerativeClustering(n_clusters=None, distance_threshold=distance_threshold,
                                        metric="cosine", linkage="average")
        return model.fit_predict(embeddings).astype(np.int64)
    from sklearn.metrics import silhouette_score

    best, best_lab = -1.0, np.zeros(n, dtype=np.int64)
    for k in range(2, min(max_speakers, n - 1) + 1):
        lab = AgglomerativeClustering(n_clusters=k, metric="cosine",
                                      linkage="average").fit_predict(embeddings)
        sil = float(silhouette_score(embeddings, lab, metric="cosine"))
        if sil > best:
            best, best_lab = sil, lab.astype(np.int64)
    return best_lab if best >= min_silhouette else np.zeros(n, dtype=np.int64)


def diarize(audio: np.ndarray, sample_rate: int, segments: list[Segment], *,
            n_speakers: int | None = None, distance_threshold: float = 0.45,
            min_silhouette: float = 0.5, method: str = "agglomerative", min_turn_seconds: float = 1.5,
            rate: float = 2.0, labels: tuple[str, ...] = VOICE_LABELS) -> list[Segment]:
    """Give every voice segment a speaker, splitting segments at speaker changes.

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]`` at ``sample_rate`` Hz — the voice track
            the segments were found on.
        segments: output of :func:`discovervoice.prep.segmentation.segment`.
        n_speakers: known number of speakers, or ``None`` for automatic.
        distance_threshold, min_silhouette: automatic speaker count (see :func:`cluster`).
        method: ``"agglomerative"`` (default) or ``"spectral"``.
        min_turn_seconds: shortest speaker turn found inside one segment.
        rate: embedding windows per second.
        labels: segment labels that are diarized (others keep ``speaker=None``).

    Returns:
        New segment list (same coverage) with ``speaker`` set on voice segments.
    """
    x16 = F.to_mono_16k(audio, sample_rate)
    voice = [i for i, s in enumerate(segments) if s.label in labels]
    if not voice:
        return [replace(s) for s in segments]
    seg_emb, win = [], []
    for i in voice:
        s = segments[i]
        a, b = int(s.start * F.ANALYSIS_RATE), int(s.end * F.ANALYSIS_RATE)
        e, c = embed_windows(x16[a:b], rate)
        m = e.mean(axis=0)
        seg_emb.append(m / (np.linalg.norm(m) + 1e-12))
        win.append((e, c + s.start))
    seg_emb = np.stack(seg_emb)
    lab = cluster(seg_emb, n_speakers, distance_threshold=distance_threshold,
                  min_silhouette=min_silhouette, method=method)
    k = int(lab.max()) + 1
    cent = np.stack([seg_emb[lab == j].mean(axis=0) for j in range(k)])
    cent /= np.linalg.norm(cent, axis=1, keepdims=True) + 1e-12

    out: list[Segment] = []
    pieces: dict[int, list[Segment]] = {}
    for idx, i in enumerate(voice):
        s = segments[i]
        e, c = win[idx]
        parts = [replace(s, speaker=str(lab[idx]))]
        if k > 1 and s.duration >= 2 * min_turn_seconds and len(e) >= 3:
            wl = np.argmax(e @ cent.T, axis=1)
            wl = _median3(wl)
            parts = _split_on_changes(s, wl, c, min_turn_seconds)
        pieces[i] = parts
    for i, s in enumerate(segments):
        out.extend(pieces.get(i, [replace(s)]))
    # rename clusters spk0, spk1... by first appearance
    names: dict[str, str] = {}
    for s in out:
        if s.speaker is not None and s.speaker not in names:
            names[s.speaker] = f"spk{len(names)}"
    for s in out:
        if s.speaker is not None:
            s.speaker = names[s.speaker]
    return out


def _median3(x: np.ndarray) -> np.ndarray:
    if len(x) < 3:
        return x
    y = x.copy()
    for i in range(1, len(x) - 1):
        a, b, c = x[i - 1], x[i], x[i + 1]
        if a == c and b != a:
            y[i] = a
    return y


def _split_on_changes(s: Segment, wl: np.ndarray, centres: np.ndarray,
                      min_turn: float) -> list[Segment]:
    """Split ``s`` where the window labels ``wl`` change for at least ``min_turn`` s."""
    # runs of equal labels, as (label, first centre, last centre)
    runs = []
    start = 0
    for j in range(1, len(wl) + 1):
        if j == len(wl) or wl[j] != wl[start]:
            runs.append([int(wl[start]), centres[start], centres[j - 1]])
            start = j
    # merge runs shorter than min_turn into the previous (or next) run
    merged: list[list] = []
    for r in runs:
        if merged and (r[2] - r[1] + 1.0 / 2.0 < min_turn or merged[-1][0] == r[0]):
            merged[-1][2] = r[2]
        else:
            merged.append(r)
    if len(merged) > 1 and merged[0][2] - merged[0][1] + 0.5 < min_turn:
        merged[1][1] = merged[0][1]
        merged.pop(0)
    parts = []
    t0 = s.start
    for j, r in enumerate(merged):
        t1 = s.end if j == len(merged) - 1 else round((r[2] + merged[j + 1][1]) / 2, 3)
        parts.append(replace(s, start=round(t0, 3), end=round(t1, 3), speaker=str(r[0])))
        t0 = t1
    return parts

"""Speaker diarization: who speaks (or sings) when.

Recipe (the classic embedding + clustering pipeline, e.g. Wang et al. 2018,
"Speaker diarization with LSTM"):

1. **Embeddings** — resemblyzer's GE2E speaker encoder (Wan et al. 2018; the pretrained
   256-d model ships inside the ``resemblyzer`` wheel, no network) over sliding windows of
   1.6 s inside every voice segment (``rate`` windows per second). A segment's embedding
   is the normalised mean of its windows (segments shorter than a window are padded by
   resemblyzer).
2. **Units and clustering** — every voice segment is cut at its pauses of at least
   ``min_pause_seconds`` (0.25 s; the segmenter bridges gaps up to 0.5 s, so one segment
   can hold two turns); the pauses themselves are left out (``trim_pauses``: they come
   back as silence, not as speech of anyone). Units of at least ``min_unit_seconds``
   (0.8 s) are clustered by scikit-learn ``AgglomerativeClustering`` (:data:`LINKAGE`:
   Ward's minimum-variance linkage on the unit-norm embeddings, Euclidean; cosine linkages
   on request) into ``n_speakers`` clusters when given, else by cutting the tree at
   :data:`DISTANCE_THRESHOLD` (the linkage's entry of :data:`THRESHOLDS`); then a cluster
   holding less than ``min_cluster_seconds`` (:data:`MIN_CLUSTER_SECONDS`, 2 s) of voice
   gives its units to the nearest larger cluster's centroid (pyannote.audio's
   ``min_cluster_size`` rule of its clustering step, Bredin 2023, counted in seconds here);
   shorter units join the nearest centroid. With ``method="spectral"`` and a given number of
   speakers, ``SpectralClustering`` on the cosine affinity is used instead.

   *Calibration of the linkage and the cut* (issue 16): real conversations of the
   calibration speakers only (:func:`discovervoice.prep.evaluate.real_conversations`; 1-4
   speakers, 2-3 turns of 1-4 s each, 0.3-1 s pauses, an instrumental stretch in half),
   drawn so that the credits rule out two voices being one person
   (:meth:`discovervoice.corpus.voices.Voice.may_share_person`: the Fish Fillets characters
   other than the hero fish come from a cast of nine, which one voices which is not said),
   prep's default path (``prep-eval --real calibration --conversations 24 --seed S
   --thresholds ...``, seeds 0-7, 192 conversations):

   * Ward, cut 1.00-1.12: count right 175, **175 at 1.02** (DER 9.3%), 173, 174, 174, 172,
     169/192; even / odd seeds alone 89-91 and 79-86 of 96 over the range;
     errors at 1.02: 4 extra speakers, 13 missing. Ward's merge cost grows with the sizes of
     the two clusters, so one far-off turn of a speaker still joins that speaker while two
     speakers of several turns each stay apart. On one-voice songs (an ad-hoc check, not a
     committed benchmark: the true vocal stem segmented with its mixture; the first 20 songs of ``data/corpus-realdev/real_songs/valid``
     and of ``data/corpus/songs/valid``, 32 with voice found) one speaker in 32/32, against
     31 and 29 with average linkage at 0.36 / 0.30.
   * Average cosine linkage (the earlier recipe), cut x minimum cluster seconds (1-4 s):
     count right at 2 s 149/192 at 0.30, 157 at 0.32, 160 at 0.34, 164 at 0.36 (DER 10.9%),
     153 at 0.38, 141 at 0.40; 1, 3 and 4 s minima no better. With Ward the minimum matters
     little (the units of these runs re-clustered offline by an ad-hoc script: 173-176 with none, 1 s or 2 s, 170-171 with 3 s).
   * Synthetic diphone voices lie closer together than real people: conversations of two
     non-reserved corpus voices (``prep-eval --corpus data/corpus-singers --split train
     --conversations 40``) were counted right in 36/40 with average linkage at 0.30 and
     25/40 at 0.36; with Ward, 36/40 at 1.02 (37/40 at 1.06). Tried to serve both with
     average linkage and not kept (recorded units, real 192 / synthetic 80): a cut that
     scales with the recording's median nearest-neighbour distance between units (real 151-160 with
     synthetic 72-58, the better the one the worse the other); a second merge stage up to
     0.36 allowed only below r times the clusters' inner spread (real 148-159, synthetic
     66-50); a long-term spectrum or MFCC-mean vector fused with GE2E (weights 0.2-1; true
     turns, seeds 0-3) moved the count by at most 2/48.

   The earlier draw let two Fish Fillets characters meet; the errors of such pairs (a merge
   that may have been right) had pulled the average-linkage cut down to 0.30. The analysis
   below was made on that draw, seeds 0 and 1, 48 conversations. Where the errors came from,
   with the true turns as segments (oracle
   segmentation): GE2E turn embeddings of one speaker lie at cosine distance 0.14 (median;
   95th percentile 0.34) and of two speakers at 0.46 (5th percentile 0.34; seed 0), both
   farther apart the shorter the turns, so a tree cut alone splits single turns off as
   extra speakers: count right 0.65 at 0.30, 0.83 with the 2-s cluster minimum (cuts at
   0.27 / 0.33: 0.75 / 0.83; a 3-s minimum: 0.81). The remaining oracle errors are close
   pairs of Fish Fillets characters (``dir-hs`` / ``dr-3`` / ``ch-r`` at 0.26-0.27 median
   distance, perhaps one actor) and speakers whose own turns spread widely (``k1-pap``,
   ``rand-0``, KLettres ``tn``). Tried and not kept, oracle segmentation unless said:
   re-assigning units to centroids until stable (no change), centroid linkage (count 0.69
   at best), resemblyzer's silence-trimmed utterance embedding per unit (0.77), mean + std
   of the window embeddings (0.83), 4 windows per second (0.81), and on the segmenter's
   output complete linkage (0.58) and no re-segmentation (no change); earlier an eigengap
   count (NME-SC). Embedding fusion as in which-singer
   (:mod:`discovervoice.classify.classifier`, ``(1 - w) cos_AST + w cos_GE2E`` as the
   cosine of the concatenated, weighted, unit-norm embeddings; AST window embeddings of
   each turn, zero-padded or tiled to its 3-s window, raw or through the gallery backend):
   the AST alone separates turns of one speaker from turns of two worse than GE2E (pair AUC
   0.93-0.94 vs 0.983; count 0.65 at best), fused at w = 0.8-0.9 the AUC rises to 0.987 but
   the count falls to 0.79 at best. Count rules: a logistic same-speaker score of distance
   and turn durations (short turns lie farther apart, one speaker's and two speakers'
   alike) cut by average linkage, fitted on one seed and tested on the other (0.67-0.83);
   small clusters joining the nearest only under a second cut of 0.35-0.6 (0.79-0.85, no
   better than the 2-s rule alone); merging clusters again by their window-mean centroids
   (a speaker split in two lies 0.33-0.48 apart, two speakers as close as 0.26: no cut
   helps); centring by the mean embedding of the calibration speakers outside the
   conversation, alone or with WCCN fitted on them (pair AUC 0.992-0.993 but count 0.85 at
   best; on prep's default path, 96 conversations of seeds 0-3, count 77 vs 75/96 and DER
   10.2% vs 11.4% at a cut of 0.60, yet as a shipped constant it takes the synthetic
   conversations of ``prep-eval --corpus`` from 3.4% to 7.9% DER, count 19 -> 17/20: the
   mean of two sources of real recordings does not carry to other voices). On the
   segmenter's output, instrumental music kept as speech or singing was the other error
   source (an extra "speaker", or a turn merged with the music after it), see
   :mod:`discovervoice.prep.segmentation`. Prep's default path (``prep-eval --real
   calibration --seed 0|1``) on the 48 conversations, with the default separator of
   that time: count right 0.83 (2-4 speakers: 29/36), DER 9.9%, 1 kept slice inside music;
   with ``dv-mdx23c-real``'s later weights and the music gate (step 4) see there; results
   on the evaluation speakers in the README.
3. **Re-segmentation** — inside segments longer than ``2 * min_turn_seconds``, each window
   is assigned to the nearest cluster centroid; a run of at least ``min_turn_seconds``
   with another speaker splits the segment at the change.
4. **Music gate** — on a speech recording (at least
   ``SegmentOptions.speech_recording_ratio`` times more speech than singing) with two or
   more clusters, a cluster whose duration-weighted centroid
   :class:`discovervoice.prep.musicgate.MusicGate` (logistic regression on GE2E
   embeddings, ``weights/dv-prep-musicgate``) calls music becomes ``music`` with no
   speaker: instrumental pieces the segmenter kept as speech or singing (silero-vad
   up to 0.99 on some) formed a speaker of their own. Calibration, prep's default path
   with the separator of ``dv-mdx23c-real`` (step 1600 of its second run): count 39 -> 41/48,
   DER 10.3% -> 9.3%, kept slices inside music 2 -> 0 (the two music clusters at gate
   probability 0.74 and 0.90, speech clusters at most 0.51; threshold 0.6; at 0.5 a
   speech cluster went too). Not applied to songs: the gate calls 21 of 60 synthetic sung
   clips music. Tried and not kept: the new separator's stem as evidence on speech runs
   too (the music piece kept as speech lies 26.6 dB below the mixture there, a real
   speaker's turns down to 34 dB below; music kept as singing 10.0 dB below, a real
   speaker's turn labelled singing 13.4 dB below: no level rule separates them).

*Other speaker encoders* (issue 16, checked on PyPI with ``pip download --no-deps``): none
ships its weights in the wheel. ``speakeronnx``, ``redimnet2-onnx``, ``voice-fingerprint``
(WeSpeaker ResNet34), ``wespeakerruntime``, ``wespeaker-unofficial``, ``diarize``,
``anime-speaker-embedding`` (ECAPA), ``vocalid`` (ECAPA), ``speakerlab`` (3D-Speaker,
CAM++), ``dguard``, ``daudio``, ``speaker-encoder-pipeline`` and ``whisper-speaker-id`` are
wheels of 6-125 KB of code (``dguard`` 1.1 MB, also without weights): their models come
from elsewhere; ``polyvoice`` is an sdist whose build needs crates.io.

*Adapting GE2E with other people's speech* (issue 16, tried and not kept). Speakers in
neither group: the Dutch Fish Fillets voice acting (``fillets-ng-data-nl``, GPL-2+; 5
characters with >= 10 lines), the Asterisk prompt voices (``asterisk-core-sounds-{en,es,fr,
it,ru}-wav``, ``asterisk-prompt-it-menardi-wav``, CC-BY-SA-3.0; 5 speakers, 8 kHz), the
LibriVox reader of ``pocketsphinx-testdata`` (GPL-2+) and the 64 non-reserved corpus voices
(spoken ``train`` clips). (a) resemblyzer's LSTM fine-tuned with the GE2E softmax loss (Wan
et al. 2018, exclusive centroids; Adam, lr 1e-5 to 1e-4, 6 real + 6 corpus speakers x 5
one-window utterances of 1-4 s per step, one CPU thread): with the true turns the
calibration count rose from 40 to 42-43/48 after 50-100 steps at lr 5e-5 (pair AUC 0.983 ->
0.987; lr 1e-5: 40-41), but on prep's default path (gate off, tree cut re-chosen: 0.38)
seeds 0+1 gave 38-39/48 against 39/48 and DER 9.5-9.7% against 10.3%, and seeds 2+3
(``--no-separate``, not used in the choice) 34/48 against 36/48, DER 13.7% against 13.0%;
without the 8-kHz voices no true-turn gain (40-41/48), and the fine-tuned and the wheel's
embeddings concatenated no more than the fine-tuned alone (42/48).
(b) WCCN of the same speakers' turn embeddings (regularised, with or without centring,
alone or with the calibration speakers outside the conversation): true-turn count 40 ->
41/48 at best. (c) a distance term for the turns' median F0 (pyworld DIO): no gain (one
speaker's turns differ by up to 0.64 octave, 90th percentile).

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
#: Linkage of the speaker tree (calibrated, module docstring): Ward's minimum variance on the
#: unit-norm embeddings (Euclidean), or a cosine linkage (``"average"``, ``"complete"``...).
LINKAGE = "ward"
#: Where each linkage's tree is cut, in its own distance (calibrated on real people, module
#: docstring): Ward distance on unit-norm embeddings; average cosine distance.
THRESHOLDS = {"ward": 1.02, "average": 0.36}
#: The default linkage's cut.
DISTANCE_THRESHOLD = THRESHOLDS[LINKAGE]
#: Pause (seconds) that cuts a voice segment into clustering units.
MIN_PAUSE_SECONDS = 0.25
#: Units shorter than this (seconds) join the nearest cluster instead of forming one.
MIN_UNIT_SECONDS = 0.8
#: A cluster with less voice than this (seconds) joins the nearest larger one (calibrated).
MIN_CLUSTER_SECONDS = 2.0


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
            distance_threshold: float | None = None, max_speakers: int = 8,
            method: str = "agglomerative", linkage: str = LINKAGE, **_ignored) -> np.ndarray:
    """Cluster unit-norm embeddings ``ndarray[N, D]``; returns labels ``ndarray[N]``.

    Args:
        n_speakers: number of clusters, or ``None`` to choose it: the tree is cut at
            ``distance_threshold`` (``None``: the linkage's calibrated cut,
            :data:`THRESHOLDS`; see the module docstring), with at most ``max_speakers``
            clusters.
        linkage: ``"ward"`` (Euclidean on the unit-norm embeddings; the default) or a
            scikit-learn linkage on cosine distance (``"average"``, ``"complete"``,
            ``"single"``).
        method: ``"agglomerative"`` or ``"spectral"`` (needs ``n_speakers``).

    Raises:
        ValueError: an unknown method or linkage, spectral without ``n_speakers``, or no
            threshold for a linkage that has no calibrated one.
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

    if linkage not in ("ward", "average", "complete", "single"):
        raise ValueError(f"unknown linkage {linkage!r}; use ward, average, complete or single")
    metric = "euclidean" if linkage == "ward" else "cosine"
    if n_speakers is not None:
        model = AgglomerativeClustering(n_clusters=n_speakers, metric=metric, linkage=linkage)
        return model.fit_predict(embeddings).astype(np.int64)
    if distance_threshold is None:
        if linkage not in THRESHOLDS:
            raise ValueError(f"no calibrated cut for {linkage!r} linkage; give distance_threshold")
        distance_threshold = THRESHOLDS[linkage]
    lab = AgglomerativeClustering(n_clusters=None, distance_threshold=distance_threshold,
                                  metric=metric, linkage=linkage).fit_predict(embeddings)
    if lab.max() + 1 > max_speakers:
        lab = AgglomerativeClustering(n_clusters=max_speakers, metric=metric,
                                      linkage=linkage).fit_predict(embeddings)
    return lab.astype(np.int64)


def split_at_pauses(x16: np.ndarray, start: float, end: float, *,
                    min_pause_seconds: float = MIN_PAUSE_SECONDS, range_db: float = 35.0,
                    trim: bool = False) -> list[tuple[float, float]]:
    """Cut the voice span ``[start, end)`` (seconds) of ``x16`` at its pauses.

    A pause is a run of at least ``min_pause_seconds`` of 10 ms frames more than
    ``range_db`` below the span's loud level (95th percentile); the span is cut in the
    middle of each. Speakers change at pauses in a conversation, and the segmenter bridges
    gaps up to ``merge_gap_seconds`` (0.5 s), so one voice segment may hold two turns.
    """
    a, b = int(start * F.ANALYSIS_RATE), int(end * F.ANALYSIS_RATE)
    e = F.energy_db(x16[a:b])
    if len(e) < 3:
        return [(start, end)]
    quiet = e < float(np.percentile(e, 95)) - range_db
    spans = []
    t0 = start
    for s, t in F.runs(quiet):
        if t - s >= min_pause_seconds * F.FRAME_RATE and s > 0 and t < len(e):
            if trim:
                spans.append((t0, round(start + s / F.FRAME_RATE, 3)))
                t0 = round(start + t / F.FRAME_RATE, 3)
            else:
                mid = round(start + (s + t) / 2 / F.FRAME_RATE, 3)
                spans.append((t0, mid))
                t0 = mid
    spans.append((t0, end))
    return spans


def diarize(audio: np.ndarray, sample_rate: int, segments: list[Segment], *,
            n_speakers: int | None = None, distance_threshold: float | None = None,
            method: str = "agglomerative", min_turn_seconds: float = 1.5,
            min_unit_seconds: float = MIN_UNIT_SECONDS,
            min_pause_seconds: float = MIN_PAUSE_SECONDS, rate: float = 2.0,
            labels: tuple[str, ...] = VOICE_LABELS, cache: dict | None = None,
            linkage: str = LINKAGE, min_cluster_seconds: float = MIN_CLUSTER_SECONDS,
            trim_pauses: bool = True, music_gate="default", **_ignored) -> list[Segment]:
    """Give every voice segment a speaker, splitting segments at speaker changes.

    Args:
        audio: ``ndarray[C, T]`` or ``ndarray[T]`` at ``sample_rate`` Hz — the voice track
            the segments were found on.
        segments: output of :func:`discovervoice.prep.segmentation.segment`.
        n_speakers: known number of speakers, or ``None`` for automatic.
        distance_threshold: automatic speaker count: where the tree is cut, in the
            linkage's distance (``None``: the calibrated one, :data:`THRESHOLDS`; see
            :func:`cluster`).
        method: ``"agglomerative"`` (default) or ``"spectral"``.
        min_turn_seconds: shortest speaker turn found inside one pause-free unit.
        min_unit_seconds: units (voice between pauses) shorter than this do not take part
            in the clustering; they join the nearest cluster.
        min_pause_seconds: pause that cuts a voice segment into units
            (:func:`split_at_pauses`).
        rate: embedding windows per second.
        linkage: linkage of the tree (:data:`LINKAGE`, ``"ward"``, calibrated; or a cosine
            linkage, see :func:`cluster`).
        min_cluster_seconds: automatic count only: clusters with less voice than this
            join the nearest larger cluster (:data:`MIN_CLUSTER_SECONDS`; 0 turns it off).
        trim_pauses: leave the pauses that cut units out of the speaker turns (they
            come back as ``silence`` segments).
        labels: segment labels that are diarized (others keep ``speaker=None``).
        cache: optional dict reused across calls on the same audio (embeddings per unit),
            for threshold sweeps.
        music_gate: :class:`discovervoice.prep.musicgate.MusicGate`, ``"default"`` (the
            shipped one, if present) or ``None``: on a speech recording (at least
            ``SegmentOptions.speech_recording_ratio`` times more speech than singing) with
            two or more clusters, a cluster whose centroid the gate calls music becomes
            ``music`` with no speaker.

    Returns:
        New segment list (same coverage) with ``speaker`` set on voice segments; pauses
        inside voice segments become ``silence`` when ``trim_pauses``, voice the music gate
        rejects becomes ``music``.
    """
    x16 = F.to_mono_16k(audio, sample_rate)
    cache = {} if cache is None else cache
    units: list[tuple[int, float, float]] = []   # (segment index, start, end)
    for i, s in enumerate(segments):
        if s.label in labels:
            units += [(i, a, b) for a, b in split_at_pauses(
                x16, s.start, s.end, min_pause_seconds=min_pause_seconds, trim=trim_pauses)]
    if not units:
        return [replace(s) for s in segments]
    u_emb, win = [], []
    for _, a, b in units:
        key = (round(a, 3), round(b, 3), rate)
        if key not in cache:
            e, c = embed_windows(x16[int(a * F.ANALYSIS_RATE):int(b * F.ANALYSIS_RATE)], rate)
            m = e.mean(axis=0)
            cache[key] = (m / (np.linalg.norm(m) + 1e-12), e, c + a)
        m, e, c = cache[key]
        u_emb.append(m)
        win.append((e, c))
    u_emb = np.stack(u_emb)
    dur = np.array([b - a for _, a, b in units])
    big = dur >= min_unit_seconds
    if big.sum() < 1:
        big = dur >= dur.max()
    lab = np.zeros(len(units), dtype=np.int64)
    lab[big] = cluster(u_emb[big], n_speakers, distance_threshold=distance_threshold,
                       method=method, linkage=linkage)
    if n_speakers is None and min_cluster_seconds > 0:
        lab[big] = _dissolve_small(u_emb[big], lab[big], dur[big], min_cluster_seconds)
    k = int(lab[big].max()) + 1
    cent = _centroids(u_emb[big], lab[big], dur[big], k)
    lab[~big] = np.argmax(u_emb[~big] @ cent.T, axis=1) if (~big).any() else lab[~big]
    music = _music_clusters(cent, music_gate, segments)

    pieces: dict[int, list[Segment]] = {}
    for idx, (i, a, b) in enumerate(units):
        s = replace(segments[i], start=a, end=b)
        e, c = win[idx]
        parts = [replace(s, speaker=str(lab[idx]))]
        if k > 1 and s.duration >= 2 * min_turn_seconds and len(e) >= 3:
            wl = np.argmax(e @ cent.T, axis=1)
            wl = _median3(wl)
            parts = _split_on_changes(s, wl, c, min_turn_seconds)
        pieces.setdefault(i, []).extend(
            replace(p, label="music", speaker=None) if p.speaker in music else p for p in parts)
    out: list[Segment] = []
    for i, s in enumerate(segments):
        t = s.start
        for p in pieces.get(i, [replace(s)]):
            if p.start > t + 1e-6:   # a pause left out of the units
                out.append(replace(s, start=t, end=p.start, label="silence", speaker=None))
            if (out and i in pieces and out[-1].speaker == p.speaker
                    and out[-1].label == p.label and abs(out[-1].end - p.start) < 1e-6):
                out[-1].end = p.end   # units of one segment, same speaker: join again
            else:
                out.append(p)
            t = p.end
        if t < s.end - 1e-6:
            out.append(replace(s, start=t, end=s.end, label="silence", speaker=None))
    # rename clusters spk0, spk1... by first appearance
    names: dict[str, str] = {}
    for s in out:
        if s.speaker is not None and s.speaker not in names:
            names[s.speaker] = f"spk{len(names)}"
    for s in out:
        if s.speaker is not None:
            s.speaker = names[s.speaker]
    return out


def _music_clusters(cent: np.ndarray, gate, segments: list[Segment]) -> set[str]:
    """Names (``"0"``, ``"1"``...) of the clusters whose centroid ``cent[k]`` the music gate
    calls music; none with a single cluster, never all of them, and only on a speech
    recording (``segments`` hold ``speech_recording_ratio`` times more speech than singing:
    the gate calls 21 of 60 synthetic sung clips of the corpus music, 0 of 60 spoken)."""
    from discovervoice.prep.segmentation import SegmentOptions

    spoken = sum(s.duration for s in segments if s.label == "speech")
    sung = sum(s.duration for s in segments if s.label == "singing")
    if spoken < SegmentOptions().speech_recording_ratio * sung:
        return set()
    if gate == "default":
        from discovervoice.prep.musicgate import default_gate

        gate = default_gate()
    if gate is None or len(cent) < 2:
        return set()
    flag = gate.is_music(cent)
    return set() if flag.all() else {str(k) for k in np.flatnonzero(flag)}


def _centroids(emb: np.ndarray, lab: np.ndarray, dur: np.ndarray, k: int) -> np.ndarray:
    """Duration-weighted, unit-norm centroid of each cluster ``0..k-1`` (``ndarray[k, D]``)."""
    cent = np.stack([(emb[lab == j] * dur[lab == j, None]).sum(axis=0) for j in range(k)])
    return cent / (np.linalg.norm(cent, axis=1, keepdims=True) + 1e-12)


def _dissolve_small(emb: np.ndarray, lab: np.ndarray, dur: np.ndarray,
                    min_seconds: float) -> np.ndarray:
    """Clusters holding less than ``min_seconds`` of voice give their units to the nearest
    larger cluster's centroid (pyannote.audio's ``min_cluster_size`` rule, in seconds);
    when no cluster is large enough, the longest one is kept. Labels renumbered 0..k-1."""
    k = int(lab.max()) + 1
    total = np.array([dur[lab == j].sum() for j in range(k)])
    large = total >= min_seconds
    if not large.any():
        large = total >= total.max()
    if large.all():
        return lab
    idx = np.flatnonzero(large)
    cent = _centroids(emb, lab, dur, k)[idx]
    out = lab.copy()
    small = ~large[lab]
    out[small] = idx[np.argmax(emb[small] @ cent.T, axis=1)]
    return np.searchsorted(idx, out)


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

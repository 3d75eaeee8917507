"""DiscoverVoice evaluation suite: the metrics every stage's model card reports.

Modules (each names its libraries and sources in its docstring):

* :mod:`~discovervoice.eval.separation` — uSDR (MDX), SI-SDR, BSSEval v4 (museval), the
  oracle ideal ratio mask, MUSDB-layout folder evaluation;
* :mod:`~discovervoice.eval.mcd` — mel-cepstral distortion with DTW (pyworld, pysptk);
* :mod:`~discovervoice.eval.f0` — F0 RMSE in cents, raw pitch accuracy, voicing (mir_eval);
* :mod:`~discovervoice.eval.speaker` — speaker similarity (resemblyzer; ECAPA via registry);
* :mod:`~discovervoice.eval.mos` — DNSMOS (speechmos, offline) and UTMOS (registry weights);
* :mod:`~discovervoice.eval.cer` — CER / WER (jiwer);
* :mod:`~discovervoice.eval.classification` — accuracy, top-k, cross-entropy, confusion;
* :mod:`~discovervoice.eval.human_mos` — SQLite listening-test store, MOS with 95 % CI;
* :mod:`~discovervoice.eval.conversion` — the scoring of a conversion
  (:func:`~discovervoice.eval.conversion.score_conversion`, used by every conversion
  evaluation and the app's cover scores) and folder evaluation of converted voices;
* :mod:`~discovervoice.eval.report` / :mod:`~discovervoice.eval.plots` — JSON, Markdown,
  PNG;
* :mod:`~discovervoice.eval.cli` — ``discovervoice eval ...``.

The names below are re-exported for convenience (the MCD of audio is
:func:`discovervoice.eval.mcd.mcd`); importing this package loads numpy
only (heavy libraries are imported inside the functions that use them).
"""

from discovervoice.eval.classification import (accuracy, classification_report, confusion_matrix,
                                               cross_entropy, top_k_accuracy)
from discovervoice.eval.cer import error_rates
from discovervoice.eval.f0 import f0_contour, f0_metrics
from discovervoice.eval.human_mos import ListeningTestStore
from discovervoice.eval.mcd import mcd_from_mcep
from discovervoice.eval.separation import (bss_eval_v4, evaluate_separation, evaluate_stems,
                                           ideal_ratio_mask, si_sdr, usdr)

__all__ = [
    "accuracy", "bss_eval_v4", "classification_report", "confusion_matrix", "cross_entropy",
    "error_rates", "evaluate_separation", "evaluate_stems", "f0_contour", "f0_metrics",
    "ideal_ratio_mask", "ListeningTestStore", "mcd_from_mcep", "si_sdr", "top_k_accuracy", "usdr",
]

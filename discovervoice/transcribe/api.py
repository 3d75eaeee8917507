"""Speech-to-text with word timestamps, and CER / WER against a reference.

Backends (both take 16 kHz mono; :attr:`sample_rate` says so, the caller resamples):

* **Whisper** (Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak
  Supervision") through transformers' ``WhisperForConditionalGeneration`` and its
  automatic-speech-recognition pipeline (30 s chunks; word timestamps from the
  cross-attention alignment heads when the checkpoint's generation config has them,
  segment timestamps otherwise). Published checkpoints come from the weights registry
  (``whisper_tiny``, ``whisper_small``; registry factory :func:`load_whisper`); any local
  Hugging Face Whisper folder works too. 99 languages, as far as the checkpoint has their
  language tokens (``*.en`` checkpoints: English only).
* **PocketSphinx** (CMU Sphinx; the ``pocketsphinx`` package ships a US-English acoustic
  model, dictionary and language model, so it runs offline). English only unless a model
  for another language is given (``hmm``, ``dict``, ``lm``). Speech regions are found with
  its ``Segmenter`` (WebRTC VAD); word timestamps come from the decoder's segmentation.

:func:`error_rates` scores a hypothesis with jiwer through the eval package (CER =
character edits / reference characters; WER likewise on words) after a light
normalisation (case, punctuation, white space), the usual practice for ASR tables.

Errors: :class:`UnsupportedLanguageError` (a :class:`DiscoverVoiceError`) names the backend,
the language asked for and the languages it has.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from discovervoice.errors import AudioError, DiscoverVoiceError, WeightsError
from discovervoice.progress import Progress
from discovervoice.signals import to_mono

SAMPLE_RATE = 16000
BACKENDS = ("whisper", "pocketsphinx")
DEFAULT_WHISPER = "whisper_tiny"


class UnsupportedLanguageError(DiscoverVoiceError):
    """The backend (or the checkpoint) cannot transcribe the requested language."""


@dataclass
class Word:
    """One recognised word; ``start``/``end`` in seconds from the start of the input."""

    text: str
    start: float | None = None
    end: float | None = None


@dataclass
class Transcript:
    """Result of a transcription.

    Attributes:
        text: the full text.
        words: words with timestamps (empty when the backend gives none).
        language: ISO 639-1 code the text was decoded in.
        backend: ``"whisper"`` or ``"pocketsphinx"``.
        segments: ``[{"text", "start", "end"}]`` (seconds) when the backend gives
            segment-level times only.
    """

    text: str
    words: list[Word] = field(default_factory=list)
    language: str = "en"
    backend: str = ""
    segments: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- scoring

def error_rates(reference: str, hypothesis: str, *, normalize: bool = True) -> dict[str, float]:
    """CER and WER of ``hypothesis`` against ``reference``: the eval package's
    :func:`discovervoice.eval.cer.error_rates` (jiwer; lower case, punctuation removed),
    so transcription and evaluation report the same numbers.

    Returns:
        ``{"cer", "wer", ...counts}``; rates are edits / reference length (may exceed 1).

    Raises:
        ValueError: the (normalised) reference is empty.
    """
    from discovervoice.eval.cer import error_rates as _rates, normalize_text

    ref = normalize_text(reference) if normalize else reference
    if not ref.strip():
        raise ValueError("error_rates: the reference text is empty")
    return _rates(reference, hypothesis, normalize=normalize)


# --------------------------------------------------------------------------- helpers

def whisper_language_code(language: str) -> str:
    """``"English"``, ``"en"``, ``"en-US"`` -> ``"en"`` (Whisper's language table).

    Raises:
        UnsupportedLanguageError: not one of Whisper's languages.
    """
    from transformers.models.whisper.tokenization_whisper import LANGUAGES, TO_LANGUAGE_CODE

    lang = language.strip().lower().replace("_", "-")
    if lang in LANGUAGES:
        return lang
    if lang in TO_LANGUAGE_CODE:
        return TO_LANGUAGE_CODE[lang]
    base = lang.split("-")[0]
    if base in LANGUAGES:
        return base
    raise UnsupportedLanguageError(
        f"whisper: unsupported language {language!r}; Whisper knows "
        f"{len(LANGUAGES)} languages ({', '.join(sorted(LANGUAGES))})")


# --------------------------------------------------------------------------- whisper

class Transcriber:
    """What every backend is: ``sample_rate`` (Hz), ``languages`` (ISO codes),
    ``check_language(language)`` and :meth:`transcribe`; a backend implements
    ``_transcribe(x, code, progress)`` on validated 16 kHz mono samples."""

    sample_rate = SAMPLE_RATE
    backend = ""
    languages: tuple[str, ...] = ()

    def check_language(self, language: str | None) -> str | None:
        raise NotImplementedError

    def transcribe(self, audio: np.ndarray, language: str | None = None, *,
                   progress: Progress | None = None) -> Transcript:
        """``ndarray[C, T]`` or ``ndarray[T]`` at 16 kHz -> :class:`Transcript`.

        Raises:
            AudioError: integer, empty, NaN or infinite samples, or a wrong shape.
            UnsupportedLanguageError: see ``check_language``.
        """
        if not np.issubdtype(np.asarray(audio).dtype, np.floating):
            raise AudioError(f"transcribe expects float samples, got dtype {np.asarray(audio).dtype}")
        x = to_mono(audio, self.sample_rate, name="transcribe input")
        return self._transcribe(x, self.check_language(language), progress)

    def _transcribe(self, x: np.ndarray, code: str | None, progress: Progress | None) -> Transcript:
        raise NotImplementedError


class WhisperTranscriber(Transcriber):
    """Whisper through transformers.

    Args:
        model: a ``WhisperForConditionalGeneration``.
        processor: its ``WhisperProcessor`` (feature extractor + tokenizer).
        device: torch device string.
        name: label used in messages.
    """

    backend = "whisper"

    def __init__(self, model, processor, *, device: str = "cpu", name: str = "whisper"):
        from transformers import pipeline

        self.model = model.to(device).eval()
        self.processor = processor
        self.name = name
        self._pipe = pipeline("automatic-speech-recognition", model=self.model,
                              tokenizer=processor.tokenizer,
                              feature_extractor=processor.feature_extractor, device=device)

    @property
    def languages(self) -> tuple[str, ...]:
        """ISO codes this checkpoint can transcribe."""
        gc = self.model.generation_config
        if not getattr(gc, "is_multilingual", True) or not getattr(gc, "lang_to_id", None):
            return ("en",)
        return tuple(sorted(k.strip("<|>") for k in gc.lang_to_id))

    @property
    def word_timestamps(self) -> bool:
        return bool(getattr(self.model.generation_config, "alignment_heads", None))

    def check_language(self, language: str | None) -> str | None:
        """The checkpoint's code for ``language`` (``None``: let Whisper detect it).

        Raises:
            UnsupportedLanguageError: unknown to Whisper or missing from this checkpoint.
        """
        if language is None:
            return None
        code = whisper_language_code(language)
        if code not in self.languages:
            raise UnsupportedLanguageError(
                f"whisper ({self.name}): language {language!r} ({code}) is not in this "
                f"checkpoint; it has: {', '.join(self.languages)}")
        return code

    def _transcribe(self, x: np.ndarray, code: str | None, progress: Progress | None) -> Transcript:
        gen: dict[str, Any] = {"task": "transcribe"}
        if code is not None and getattr(self.model.generation_config, "is_multilingual", True):
            gen["language"] = code
        stamps: Any = "word" if self.word_timestamps else (
            True if getattr(self.model.generation_config, "no_timestamps_token_id", None)
            else False)
        if progress is not None:
            progress(0.0, "transcribing (whisper)")
        kwargs: dict[str, Any] = {"return_timestamps": stamps, "generate_kwargs": gen}
        if x.size > 30 * SAMPLE_RATE:
            kwargs.update(chunk_length_s=30, stride_length_s=5)
        out = self._pipe({"raw": x, "sampling_rate": SAMPLE_RATE}, **kwargs)
        duration = x.size / SAMPLE_RATE
        words, segments = [], []
        for ch in out.get("chunks", []) or []:
            s, e = (ch.get("timestamp") or (None, None))
            s = None if s is None else float(min(s, duration))
            e = None if e is None else float(min(e, duration))
            if stamps == "word":
                if ch["text"].strip():
                    words.append(Word(ch["text"].strip(), s, e))
            else:
                segments.append({"text": ch["text"].strip(), "start": s, "end": e})
        if progress is not None:
            progress(1.0, "transcribed")
        return Transcript(out["text"].strip(), words, code or "auto", self.backend, segments)


def load_whisper(path: str | os.PathLike, spec: Any = None, *, device: str = "cpu",
                 **kwargs: Any) -> WhisperTranscriber:
    """Registry factory: a Hugging Face Whisper folder (config, weights, tokenizer, feature
    extractor) -> :class:`WhisperTranscriber`.

    Raises:
        WeightsError: the folder is missing or is not a loadable Whisper checkpoint.
    """
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    p = Path(path)
    if p.is_file():
        p = p.parent
    if not (p / "config.json").is_file():
        raise WeightsError(f"{p}: not a Whisper checkpoint folder (no config.json)")
    try:
        model = WhisperForConditionalGeneration.from_pretrained(str(p))
        processor = WhisperProcessor.from_pretrained(str(p))
    except (OSError, ValueError, KeyError) as exc:
        raise WeightsError(f"{p}: cannot load the Whisper checkpoint ({exc})") from exc
    name = getattr(spec, "name", None) or p.name
    return WhisperTranscriber(model, processor, device=device, name=name, **kwargs)


# --------------------------------------------------------------------------- pocketsphinx

_PS_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")


class PocketSphinxTranscriber(Transcriber):
    """CMU PocketSphinx, offline.

    Args:
        language: language of the model (``"en"`` for the shipped US-English model).
        hmm, dict, lm: paths of another acoustic model / dictionary / language model
            (then ``language`` names their language).
    """

    backend = "pocketsphinx"

    def __init__(self, language: str = "en", *, hmm: str | None = None,
                 dict: str | None = None, lm: str | None = None):  # noqa: A002
        from pocketsphinx import Decoder

        custom = {k: v for k, v in (("hmm", hmm), ("dict", dict), ("lm", lm)) if v}
        self.languages: tuple[str, ...] = (language.lower().split("-")[0],)
        if not custom and self.languages != ("en",):
            raise UnsupportedLanguageError(
                f"pocketsphinx: the shipped model is US English; for {language!r} pass "
                "hmm/dict/lm paths of a model for that language")
        self._decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", **custom)
        self.frame_rate = int(self._decoder.config["frate"])

    def check_language(self, language: str | None) -> str:
        if language is None:
            return self.languages[0]
        code = language.strip().lower().replace("_", "-")
        names = {"english": "en"}
        code = names.get(code, code).split("-")[0]
        if code not in self.languages:
            raise UnsupportedLanguageError(
                f"pocketsphinx: unsupported language {language!r}; this model has "
                f"{', '.join(self.languages)} (use --backend whisper for other languages)")
        return code

    def _transcribe(self, x: np.ndarray, code: str | None, progress: Progress | None) -> Transcript:
        from pocketsphinx import Segmenter

        peak = float(np.max(np.abs(x)))
        if peak > 1.0:
            x = x / peak
        pcm = (x * 32767.0).astype("<i2").tobytes()
        words: list[Word] = []
        total = x.size / SAMPLE_RATE
        for seg in Segmenter(sample_rate=SAMPLE_RATE).segment(io.BytesIO(pcm)):
            d = self._decoder
            d.start_utt()
            d.process_raw(seg.pcm, full_utt=True)
            d.end_utt()
            for w in d.seg():
                token = w.word
                if _PS_FILLER.match(token):
                    continue
                token = re.sub(r"\(\d+\)$", "", token)
                words.append(Word(token, seg.start_time + w.start_frame / self.frame_rate,
                                  seg.start_time + (w.end_frame + 1) / self.frame_rate))
            if progress is not None:
                progress(min(1.0, seg.end_time / max(total, 1e-9)), "transcribing (pocketsphinx)")
        return Transcript(" ".join(w.text for w in words), words, code, self.backend)


# --------------------------------------------------------------------------- entry point

def load_transcriber(backend: str = "pocketsphinx", *, model: str | os.PathLike | None = None,
                     language: str | None = None, device: str = "cpu",
                     download_missing: bool = False):
    """A transcriber by backend name.

    Args:
        backend: ``"whisper"`` or ``"pocketsphinx"``.
        model: Whisper registry name or local folder (default ``whisper_tiny``); ignored by
            pocketsphinx.
        language: checked against the backend early, so a bad language fails before any
            model loads where possible.

    Raises:
        ValueError: unknown backend. UnsupportedLanguageError. WeightsError /
        WeightsUnavailableError: the Whisper checkpoint is not available (offline: the
        message names the ``discovervoice weights fetch`` command).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown transcription backend {backend!r}; choose from "
                         f"{', '.join(BACKENDS)}")
    if backend == "pocketsphinx":
        t = PocketSphinxTranscriber()
        t.check_language(language)
        return t
    if language is not None:
        whisper_language_code(language)
    from discovervoice import weights

    t = weights.load_model(model or DEFAULT_WHISPER, spec_name=DEFAULT_WHISPER,
                           download_missing=download_missing, device=device)
    t.check_language(language)
    return t

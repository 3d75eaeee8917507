"""Typed errors shared by every DiscoverVoice module.

Each error names the file (when there is one) and the problem, so that the CLI can print
one clear line and the app can show a readable message.
"""

from __future__ import annotations

from pathlib import Path


class DiscoverVoiceError(Exception):
    """Base class of every error DiscoverVoice raises on purpose."""


class AudioError(DiscoverVoiceError):
    """Audio that cannot be used: wrong shape, rate, values or length."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class AudioLoadError(AudioError):
    """A file could not be decoded by any backend.

    Attributes:
        path: the file.
        failures: ``{backend_name: reason}`` for every backend that was tried.
    """

    def __init__(self, path: str | Path, message: str, failures: dict[str, str] | None = None):
        self.failures = dict(failures or {})
        detail = "".join(f"\n  - {name}: {why}" for name, why in self.failures.items())
        super().__init__(message + detail, path)


class WeightsError(DiscoverVoiceError):
    """A checkpoint could not be resolved, downloaded, verified or loaded."""


class ChecksumError(WeightsError):
    """A downloaded or cached file does not match its registered sha256."""


class WeightsUnavailableError(WeightsError):
    """A published checkpoint is not on disk and cannot be downloaded (offline)."""


class DataError(DiscoverVoiceError):
    """A dataset folder is missing, empty, or laid out wrongly."""


class SeparationError(DiscoverVoiceError):
    """A separation request that cannot be served (stems the model lacks, bad settings)."""


class StageUnavailableError(DiscoverVoiceError):
    """A stage that was asked for cannot run because its model cannot be loaded (missing,
    not downloaded, or unreadable); raised where retrying file after file would fail the
    same way (dataset preparation ends the run on it)."""

"""The errors vpnet raises on purpose: one small hierarchy, torch-free, imported by every layer.

Every problem a user can fix (a config, a file, a checkpoint, a run that cannot go on) is a
:class:`VpnetError`; the CLI turns each kind into its exit code in one place
(:mod:`vpnet.cli._errors`). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["VpnetError", "ConfigError", "DataError", "WeightsError", "DownloadError", "CheckpointError",
           "TrainingError"]


class VpnetError(Exception):
    """Base of every error vpnet raises for a problem the user can fix."""


class ConfigError(VpnetError, ValueError):
    """A config value that is missing, unknown, of the wrong type or contradicts another."""


class DataError(VpnetError, ValueError):
    """A file or an item that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)

    def __reduce__(self):
        # Rebuild from (path, problem) so the error crosses process boundaries (DataLoader
        # workers, prepare's process pool) intact; subclasses keep the same signature.
        return (type(self), (self.path, self.problem))


class WeightsError(DataError):
    """A checkpoint that cannot be used: wrong checksum, corrupt, or not fitting the model."""


class DownloadError(WeightsError):
    """The weights could not be downloaded (no network, no pip, unknown package)."""


class CheckpointError(VpnetError, ValueError):
    """A training checkpoint or run folder that cannot be used as asked."""


class TrainingError(VpnetError, RuntimeError):
    """Training cannot go on (non-finite loss, no usable data); the message says what was kept."""

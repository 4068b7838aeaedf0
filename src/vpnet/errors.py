"""The errors vpnet raises on purpose: one small hierarchy, torch-free, imported by every layer.

Every problem a user can fix (a config, a file, a checkpoint, an output that cannot be written, a run
that cannot go on) is a :class:`VpnetError`; anything else that escapes is a bug and keeps its
traceback. The CLI turns each kind into one ``error: ...`` line and an exit code in one place
(``vpnet.cli._errors.EXIT_CODES``, listed in docs/errors.md).

The classes keep the built-in base their predecessors had (``ValueError``, ``RuntimeError``,
``OSError``), so code that caught those still does.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["VpnetError", "ConfigError", "DataError", "WeightsError", "DownloadError", "CheckpointError",
           "TrainingError", "OutputError", "InferenceError", "is_worker_death", "is_input_error"]


class VpnetError(Exception):
    """Base of every error vpnet raises for a problem the user can fix."""


class ConfigError(VpnetError, ValueError):
    """A config or command-line value that is missing, unknown, of the wrong type or contradicts another;
    the message names the key and the problem."""


class OutputError(VpnetError, OSError):
    """An output location that cannot be written (a file in the way, a read-only file system, a full
    disk); checked before any work starts where possible."""


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
    """Pretrained weights that cannot be used: wrong checksum, corrupt, or not fitting the model."""


class DownloadError(WeightsError):
    """The weights could not be downloaded (no network, no pip, unknown package)."""


class CheckpointError(VpnetError, ValueError):
    """A training checkpoint or run folder that cannot be used as asked (keys, shapes, not a checkpoint)."""


class TrainingError(VpnetError, RuntimeError):
    """Training cannot go on (NaN loss, non-finite gradients with ``skip_nonfinite`` off, a dead data
    worker, a full disk); the message says what was kept and how to go on."""


class InferenceError(VpnetError, ValueError):
    """A model or an input that cannot be used for inference (a foreign ONNX file, a checkpoint without its
    config, poses of another skeleton); the message names the file and the fix."""


def is_worker_death(error: BaseException) -> bool:
    """Whether ``error`` is PyTorch's report of a DataLoader worker process that died (killed by a signal,
    e.g. the out-of-memory killer, or exited unexpectedly): a RuntimeError that only its text identifies."""
    return isinstance(error, RuntimeError) and not isinstance(error, VpnetError) and "DataLoader worker" in str(error)


def is_input_error(error: BaseException) -> bool:
    """Whether ``error`` is a problem of an input item, which batch commands (evaluate, prepare, training's
    data loading) skip and count: a :class:`DataError`, a file that cannot be read (``OSError``: missing,
    no permission) or a decoding error of PyAV/FFmpeg. Anything else is a bug in vpnet and stops the
    command: skipping it would score the rest and hide the bug."""
    if isinstance(error, (DataError, OSError)) and not isinstance(error, (OutputError, TrainingError)):
        return True
    return any(cls.__module__.split(".")[0] == "av" and cls.__name__ == "FFmpegError" for cls in type(error).__mro__)

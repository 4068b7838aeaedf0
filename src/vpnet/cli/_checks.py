"""Checks every command runs before working: outputs that would destroy an input, option values.

- :func:`check_outputs`: an output path that resolves to one of the command's inputs (a video, a pose
  file, a model file, a frame inside a frame folder), to a file of a run folder it reads (weights,
  checkpoints, config, logs), to vpnet's cache folder, or to another output of the same command, is
  refused with :class:`~vpnet.errors.OutputError` (exit 4) before any work. Symbolic links and ``..``
  are resolved first, so another spelling of the same file is caught too.
- :func:`check_device`, :func:`check_at_least`, :func:`check_suffix`: option values, refused with
  :class:`~vpnet.errors.ConfigError` (exit 2) naming the option.

Torch is imported only to check a device.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from vpnet.errors import ConfigError, OutputError

__all__ = ["check_outputs", "check_device", "check_at_least", "check_suffix", "RUN_FILES"]

#: what a run folder holds that commands read (weights, training state, config, logs): never an output.
RUN_FILES = ("*.safetensors", "config.yaml", "checkpoints/*", "steps.csv", "epochs.csv", "train.log",
             "events.out.tfevents.*", "train.lock")


def _media_suffixes() -> tuple[str, ...]:
    from vpnet.data.video import FRAME_SUFFIXES
    from vpnet.inference import VIDEO_SUFFIXES

    return (*FRAME_SUFFIXES, *VIDEO_SUFFIXES)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def _protected(inputs: Iterable[Path | None], runs: Iterable[Path | None]) -> list[tuple[Path, str]]:
    """(resolved path, what it is) of every file the command reads; a folder input protects its files."""
    out: list[tuple[Path, str]] = []
    for p in inputs:
        if p is None:
            continue
        real = _real(p)
        out.append((real, f"the input {p}"))
        if real.is_dir():  # a frame folder, a folder of videos: each file in it is an input
            out += [(f, f"the input {p / f.name}") for f in real.iterdir() if f.is_file()]
    for run in runs:
        if run is None:
            continue
        real = _real(run)
        if real.is_dir():
            for pattern in RUN_FILES:
                out += [(f, f"the run file {run / f.relative_to(real)}") for f in real.glob(pattern) if f.is_file()]
    return out


def check_outputs(outputs: Mapping[str, Path | None] | Iterable[tuple[str, Path | None]], *,
                  inputs: Iterable[Path | None] = (), runs: Iterable[Path | None] = (),
                  caches: Iterable[Path] = ()) -> None:
    """Refuse (:class:`OutputError`) an output that is an input, a run's own file, lies in a cache the
    command reads, or is another output. ``outputs``: (what it is, path) pairs, e.g. ``("--out", p)``;
    None entries are skipped. ``runs``: run folders read (their weights, config, checkpoints, logs)."""
    items = [(what, p) for what, p in (outputs.items() if isinstance(outputs, Mapping) else outputs)
             if p is not None]
    protected = _protected(inputs, runs)
    cache_roots = [_real(c) for c in caches]
    folders = [(_real(p), p) for p in inputs if p is not None and Path(p).is_dir()]
    seen: dict[Path, str] = {}
    for what, p in items:
        real = _real(p)
        for other, desc in protected:
            if real == other:
                raise OutputError(f"{what} {p} is {desc}: writing it would destroy it; choose another output path")
        for folder, given in folders:
            if folder in real.parents and real.suffix.lower() in _media_suffixes():
                raise OutputError(f"{what} {p} would add a frame or a video to the input folder {given}, changing "
                                  "what it holds; choose another output path")
        for root in cache_roots:
            if real == root or root in real.parents:
                raise OutputError(f"{what} {p} is inside vpnet's cache folder {root}, which the command reads; "
                                  "choose another output path")
        if real in seen:
            raise OutputError(f"{what} {p} is also {seen[real]}: two outputs cannot share one file")
        seen[real] = f"{what}"


def check_at_least(option: str, value: float | None, minimum: float) -> None:
    """Refuse (:class:`ConfigError`) an option value below ``minimum`` (None: not given, accepted)."""
    if value is not None and value < minimum:
        raise ConfigError(f"{option} must be at least {minimum}, got {value}")


def check_suffix(option: str, path: Path | None, suffixes: Iterable[str]) -> None:
    """Refuse (:class:`ConfigError`) an output file whose suffix is not one the command writes."""
    allowed = tuple(suffixes)
    if path is not None and path.suffix.lower() not in allowed:
        raise ConfigError(f"{option} {path}: the file name must end in {' or '.join(allowed)} "
                          f"(the format is chosen by it), got {path.suffix or 'no suffix'!r}")


def check_device(option: str, device: str) -> str:
    """``device`` if torch can use it here, else :class:`ConfigError` naming the option: an unknown device
    string, or CUDA / MPS / an index that this machine does not have."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"{option} {device!r} is not a device; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{option} {device!r}: CUDA is not available on this machine; use cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{option} {device!r}: this machine has {torch.cuda.device_count()} CUDA devices")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{option} {device!r}: MPS is not available on this machine; use cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{option} {device!r}: vpnet runs on cpu, cuda or mps")
    return device

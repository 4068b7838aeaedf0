"""File writes that never leave a half-written file behind (weights, checkpoints, run files).

Torch-free, so that anything may use it without loading torch.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "write_safetensors"]


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the complete new one.

    A temporary file beside ``path`` (same file system, so the rename is atomic), fsync, rename,
    fsync of the folder. Any error (ENOSPC included) removes the temporary file and re-raises;
    ``path`` is untouched. Missing parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name (O_EXCL: never someone else's file), created with mode 0o666 so that the user's
    # umask applies, as for any file they write (mkstemp would make it private).
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_safetensors(path: str | Path, tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> Path:
    """The one safetensors writer of vpnet: ``tensors`` (all numpy arrays, or all torch tensors, moved to
    the CPU) to ``path``, atomically (:func:`atomic_write_bytes`). Torch is imported only for tensors."""
    import numpy as np

    meta = {k: str(v) for k, v in (metadata or {}).items()}
    if all(isinstance(v, np.ndarray) for v in tensors.values()):
        from safetensors.numpy import save

        data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=meta)
    else:
        from safetensors.torch import save

        data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=meta)
    path = Path(path)
    atomic_write_bytes(path, data)
    return path

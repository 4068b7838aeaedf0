"""File writes that never leave a half-written file behind (weights, checkpoints, run files), and the one
check that an output location can be written, which every command that writes runs before working.

Torch-free, so that anything may use it without loading torch.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["CACHE_ENV", "RunLock", "atomic_write_bytes", "cache_dir", "check_writable", "sha256_file",
           "write_safetensors"]

#: environment variable that moves vpnet's cache folder (weights, pose caches).
CACHE_ENV = "VPNET_CACHE"


def cache_dir() -> Path:
    """``$VPNET_CACHE`` if set, else the user cache folder of ``vpnet`` (not created here)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("vpnet"))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes, read in chunks (weights checksums, cache keys)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the complete new one.

    A temporary file beside ``path`` (same file system, so the rename is atomic), fsync, rename,
    fsync of the folder. Any error (ENOSPC included) removes the temporary file and re-raises, an OSError
    naming ``path``; ``path`` is untouched. Missing parent folders are created.
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
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.filename is None:  # os.write / fsync name no file: name the one being written (a full disk)
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
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


def check_writable(path: str | Path, *, what: str = "output", folder: bool = True) -> Path:
    """``path`` if a command can write it, else an :class:`~vpnet.errors.OutputError` naming it and why.

    Run before any work, so that a long evaluation or preparation never ends in a traceback at its
    first write. ``folder``: ``path`` is a folder to write into (created later, with its parents);
    else a file. Writability is probed by creating (and removing) a file in the nearest folder that
    exists: permission bits say nothing for root, and ``os.access`` misses read-only mounts and
    pseudo file systems such as ``/proc``. Nothing is left behind.
    """
    from vpnet.errors import OutputError

    path = Path(path).expanduser()
    target = f"{what} {path}" if what else str(path)
    if path.exists():
        if folder and not path.is_dir():
            raise OutputError(f"cannot write {target}: it is a file, not a folder")
        if not folder and path.is_dir():
            raise OutputError(f"cannot write {target}: it is a folder; give a file name")
    existing = path if folder and path.is_dir() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write {target}: {existing} is a file, so nothing can be created under it")
    probe = existing / f".vpnet-write-probe-{uuid.uuid4().hex}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as e:
        raise OutputError(f"cannot write {target}: {existing} is not writable ({e.strerror})") from None
    probe.unlink(missing_ok=True)
    return path


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


class RunLock:
    """An exclusive lock on a folder that one process writes (a run folder): ``<folder>/<name>`` holds the
    owner's pid and an advisory ``flock`` while the lock is held.

    The operating system drops a ``flock`` when its process dies, however it dies (SIGKILL included), so
    a lock file left by a dead process is simply taken over. Where ``fcntl`` does not exist (Windows),
    nothing is locked. Use as a context manager, or :meth:`acquire` / :meth:`release`.
    """

    def __init__(self, folder: str | Path, name: str = "train.lock", *, what: str = "run folder"):
        self.path = Path(folder) / name
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock, or raise :class:`~vpnet.errors.OutputError` naming the folder and the live process
        that holds it."""
        from vpnet.errors import OutputError

        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 64, 0).decode(errors="replace").split()
            os.close(fd)
            pid = owner[0] if owner else "?"
            raise OutputError(f"{self.what} {self.path.parent} is in use by another vpnet process (pid {pid}, "
                              f"lock {self.path}); wait for it to finish or choose another {self.what}") from None
        previous = os.pread(fd, 64, 0).decode(errors="replace").split()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        self.previous_owner = previous[0] if previous else None
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

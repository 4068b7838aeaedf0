"""Small pieces shared by the dataset readers (``ntu``, ``smarthome``, ``nucla``, ``custom``)."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vpnet.data.types import DataError, SampleRecord
from vpnet.errors import ConfigError

log = logging.getLogger("vpnet.data")

SPLITS = ("train", "test", "all")


class Skipped(NamedTuple):
    """An item a scan left out, and why."""

    name: str
    reason: str


class Records(list):
    """The :class:`SampleRecord` list of one split, plus ``skipped``: the items left out and why.

    A plain ``list`` in every other respect, so it can be indexed, sliced and len()-ed.
    """

    def __init__(self, items: list[SampleRecord] = (), skipped: list[Skipped] = ()):
        super().__init__(items)
        self.skipped: list[Skipped] = list(skipped)

    def report(self, limit: int = 20) -> str:
        """A human-readable list of the skipped items (the first ``limit`` of them)."""
        lines = [f"{len(self)} items, {len(self.skipped)} skipped"]
        lines += [f"  {s.name}: {s.reason}" for s in self.skipped[:limit]]
        if len(self.skipped) > limit:
            lines.append(f"  ... and {len(self.skipped) - limit} more")
        return "\n".join(lines)


def finish(dataset: str, split: str, items: list[SampleRecord], skipped: list[Skipped]) -> Records:
    """Sort by name, log what was skipped (one warning, the first few reasons), wrap."""
    out = Records(sorted(items, key=lambda r: r.name), skipped)
    if skipped:
        first = "; ".join(f"{s.name}: {s.reason}" for s in skipped[:3])
        log.warning("%s %s: %d items used, %d skipped (%s%s); see Records.skipped",
                    dataset, split, len(out), len(skipped), first, ", ..." if len(skipped) > 3 else "")
    return out


def choice(value: str, allowed: Sequence[str], what: str, *, aliases: Mapping[str, str] | None = None,
           hint: str = "") -> str:
    """``value`` lower-cased (an alias replaced by its target) if it is one of ``allowed``.

    Raises ValueError ``"<what> are <allowed><hint>; got <value>"``, e.g. ``what="N-UCLA protocols"``.
    """
    v = value.lower()
    v = (aliases or {}).get(v, v)
    if v not in allowed:
        raise ConfigError(f"{what} are {', '.join(allowed)}{hint}; got {value!r}")
    return v


def strip_suffix(name: str | Path, suffixes: Sequence[str]) -> str:
    """The file name of ``name`` (a name, file name or path) without the first of ``suffixes`` it ends with."""
    stem = Path(str(name)).name
    for suffix in suffixes:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


@functools.lru_cache(maxsize=None)
def resource_lines(name: str) -> tuple[str, ...]:
    """Non-empty lines of ``vpnet/resources/<name>`` (read once per process: a tuple, so nobody edits the cache)."""
    text = resources.files("vpnet").joinpath("resources", name).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def read_bytes(path: str | Path, what: str = "file") -> bytes:
    """The bytes of ``path``; DataError naming it when it is absent or cannot be read."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise DataError(p, f"{what} not found") from None
    except OSError as e:
        raise DataError(p, f"cannot read {what}: {e}") from None


def read_text(path: str | Path, what: str = "file") -> str:
    """:func:`read_bytes` decoded as UTF-8 (DataError naming the first byte that is not)."""
    try:
        return read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(path, f"{what} is not UTF-8 text (byte {e.start})") from None


def load_json(path: str | Path) -> Any:
    """The parsed JSON of ``path``; DataError for anything that is not valid JSON, including nesting so
    deep (``[[[[...``) that the parser runs out of stack (a RecursionError otherwise)."""
    try:
        return json.loads(read_bytes(path))
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, an integer of over 4300 digits
        raise DataError(path, f"not valid JSON: {e}") from None
    except RecursionError:
        raise DataError(path, "not usable JSON: nested too deeply for the parser") from None


#: the largest float32. Readers return float32 arrays: a finite number beyond this (``1e39``) would
#: become inf there, so readers check values against it before the cast, as they check for NaN/inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_finite(path: str | Path, arr: np.ndarray, what: str, present: np.ndarray | None = None) -> None:
    """DataError naming the first frame/body with a NaN or inf in ``arr`` (T, M, ...) where present, or
    a value beyond float32's range (inf once stored as float32)."""
    with np.errstate(invalid="ignore"):
        ok = np.abs(np.asarray(arr, dtype=np.float64)) <= FLOAT32_MAX  # False for NaN too
    bad = ~ok.reshape(arr.shape[0], arr.shape[1], -1).all(axis=-1)
    if present is not None:
        bad &= present
    if bad.any():
        t, m = np.argwhere(bad)[0]
        values = np.asarray(arr[t, m], dtype=np.float64).ravel()
        first = values[~(np.abs(values) <= FLOAT32_MAX)][0]
        why = "is not finite (NaN or inf)" if not np.isfinite(first) else f"holds {first:g}, beyond float32's range"
        raise DataError(path, f"{what} of body {m} in frame {t} {why}")


def project(xyz: np.ndarray, camera: tuple[float, float, float]) -> np.ndarray:
    """Pinhole projection of camera-space points (..., 3) (x right, y up, z away) to pixels (..., 2),
    image y down; ``camera`` = (focal length px, centre x, centre y)."""
    f, cx, cy = camera
    z = xyz[..., 2]
    return np.stack([cx + f * xyz[..., 0] / z, cy - f * xyz[..., 1] / z], axis=-1)


# ---------------------------------------------------------------------------------------------
# finding each item's files


def scan(root: str | Path | None, suffixes: Sequence[str], what: str, *,
         folder_name: Callable[[Path, str], str | None] | None = None) -> dict[str, Path]:
    """Files under ``root`` (recursively) whose names end with one of ``suffixes`` (any case):
    ``{name without the suffix: path}``, in one walk of the folder tree.

    Sub-folders are followed because the owners ship some datasets split over several archives.
    A file's name loses the first of ``suffixes`` it ends with. ``folder_name(parent, folder)``, if
    given, names folders that are items too (frame folders), or returns None. A name found more than
    once keeps the file of the earliest suffix (folders after every suffix), then the first path in
    sorted order.
    """
    if root is None:
        return {}
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, f"{what} folder does not exist")
    low = [s.lower() for s in suffixes]
    best: dict[str, tuple[int, str]] = {}

    def offer(name: str, rank: int, path: str) -> None:
        if name not in best or (rank, path) < best[name]:
            best[name] = (rank, path)

    for dirpath, dirnames, filenames in os.walk(root):
        if folder_name is not None:
            for d in dirnames:
                name = folder_name(Path(dirpath), d)
                if name is not None:
                    offer(name, len(low), os.path.join(dirpath, d))
        for f in filenames:
            lf = f.lower()
            for rank, s in enumerate(low):
                if lf.endswith(s):
                    offer(f[: len(f) - len(s)], rank, os.path.join(dirpath, f))
                    break
    return {name: Path(path) for name, (_, path) in best.items()}


def pair(dataset: str, split: str, describe: Callable[[str], dict[str, Any] | None], *,
         video_dir: str | Path | None, video_suffixes: Sequence[str], video_file: str,
         pose_dir: str | Path | None, pose_suffixes: Sequence[str], pose_file: str,
         names: Iterable[str] | None = None, folder_name: Callable[[Path, str], str | None] | None = None,
         context: str = "") -> Records:
    """The records of one split: each item's video and pose files, found by :func:`scan`-ning the folders.

    Args:
        dataset: the dataset and protocol, for messages (``"NTU RGB+D 60"``).
        describe: ``describe(name)`` gives the :class:`SampleRecord` fields other than the name and
            files (``label``, ``subject``, ``camera``, ``meta``) of an item of this split, None for an
            item of another split (left out silently), or raises DataError for an item that cannot be
            used (skipped, with the reason).
        video_dir, pose_dir: the folders (None: not used; at least one is needed).
        video_suffixes, pose_suffixes, folder_name: what :func:`scan` looks for.
        video_file, pose_file: the file an item needs, for the message; ``{}`` stands for its name
            (``"skeleton {}.skeleton"``).
        names: the items, in order (repeats ignored); default: every name found, sorted.
        context: put before "no <file> under <folder>" in the reason of an item without a file.

    Returns:
        :class:`Records` sorted by name; ``.skipped`` has the items ``describe`` rejected and those
        without a file in a given folder.
    """
    if video_dir is None and pose_dir is None:
        raise ConfigError(f"{dataset} records need video_dir, pose_dir or both")
    videos = scan(video_dir, video_suffixes, f"{dataset} video", folder_name=folder_name)
    poses = scan(pose_dir, pose_suffixes, f"{dataset} pose")

    def path(name: str, found: dict[str, Path], root: str | Path | None, file: str) -> str | None:
        if root is None:
            return None
        if name not in found:
            raise DataError(None, f"{context}no {file.format(name)} under {root}")
        return str(found[name])

    items: list[SampleRecord] = []
    skipped: list[Skipped] = []
    for name in dict.fromkeys(sorted(videos.keys() | poses.keys()) if names is None else names):
        try:
            fields = describe(name)
            if fields is None:
                continue
            video = path(name, videos, video_dir, video_file)
            pose = path(name, poses, pose_dir, pose_file)
        except DataError as e:
            skipped.append(Skipped(name, e.problem))
            continue
        items.append(SampleRecord(name=name, video=video, poses=pose, **fields))
    return finish(dataset, split, items, skipped)

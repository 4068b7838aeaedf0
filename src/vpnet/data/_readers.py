"""Small pieces shared by the dataset readers (``ntu``, ``smarthome``, ``nucla``, ``custom``)."""

from __future__ import annotations

import json
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vpnet.data.types import DataError, SampleRecord

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


def check_split(split: str, allowed: tuple[str, ...] = SPLITS) -> str:
    s = split.lower()
    if s not in allowed:
        raise ValueError(f"split must be one of {', '.join(allowed)}; got {split!r}")
    return s


def resource_lines(name: str) -> list[str]:
    """Non-empty lines of ``vpnet/resources/<name>``."""
    text = resources.files("vpnet").joinpath("resources", name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def scan(root: str | Path | None, suffix: str, what: str) -> dict[str, Path]:
    """Files under ``root`` (recursively) whose names end with ``suffix``: ``{name without suffix: path}``.

    Sub-folders are followed because the owners ship some datasets split over several archives.
    A name found twice keeps its first path in sorted order.
    """
    if root is None:
        return {}
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, f"{what} folder does not exist")
    found: dict[str, Path] = {}
    low = suffix.lower()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            if f.lower().endswith(low):
                found.setdefault(f[: len(f) - len(suffix)], Path(dirpath) / f)
    return found


def locate(name: str, videos: dict[str, Path], video_dir: str | Path | None, video_file: str,
           poses: dict[str, Path], pose_dir: str | Path | None, pose_file: str, *,
           context: str = "") -> tuple[str | None, str | None]:
    """Paths of item ``name``'s video and pose files (None where that folder was not given).

    ``videos`` / ``poses`` are :func:`scan` results of ``video_dir`` / ``pose_dir``; ``video_file`` and
    ``pose_file`` describe the expected file for the message. Raises DataError (no path: the item,
    not a file, is the problem) with the reason when a folder was given but holds no file for ``name``.
    """
    out: list[str | None] = []
    for found, root, file in ((videos, video_dir, video_file), (poses, pose_dir, pose_file)):
        if root is None:
            out.append(None)
        elif name in found:
            out.append(str(found[name]))
        else:
            raise DataError(None, f"{context}no {file} under {root}")
    return out[0], out[1]


def load_json(path: str | Path) -> Any:
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise DataError(p, "file not found") from None
    except OSError as e:
        raise DataError(p, f"cannot read file: {e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(p, f"not valid JSON: {e}") from None


def check_finite(path: str | Path, arr: np.ndarray, what: str, present: np.ndarray | None = None) -> None:
    """DataError naming the first frame/body with a NaN or inf in ``arr`` (T, M, ...) where present."""
    bad = ~np.isfinite(arr).reshape(arr.shape[0], arr.shape[1], -1).all(axis=-1)
    if present is not None:
        bad &= present
    if bad.any():
        t, m = np.argwhere(bad)[0]
        raise DataError(path, f"{what} of body {m} in frame {t} is not finite (NaN or inf)")

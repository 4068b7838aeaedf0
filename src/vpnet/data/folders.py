"""Your own videos in class folders (``data.dataset=folders``): the layout users already have.

Two layouts under ``data.video_dir``::

    videos/<split>/<class>/<name>.mp4        the split is the first folder (train, test, val, ...)
    videos/<class>/<name>.mp4 + split file   ``data.split_file``: one line per video,
                                             ``<class>/<name>.mp4 <split>`` (space, tab or comma)

- **Classes** are the class folder names that hold at least one video, sorted (label = the index in
  that list); ``model.num_classes: 0`` (the ``*_custom`` presets) takes their count. A class folder
  without videos is reported (``Records.skipped``) and is not a class.
- **Names**: the video's path under ``video_dir`` without its suffix (``train/drink/a``), unique.
- **Poses**: with ``data.pose_dir``, ``<pose_dir>/<same relative path>.npz`` (generic or MediaPipe
  ``.npz``, :func:`vpnet.data.custom.read_poses`); without it, ``vpnet prepare`` extracts them with
  MediaPipe (the pose extra) into the store (``<store>/poses``), never next to the videos. Training
  then reads the store (``data.prepared_dir``); the raw folders alone serve only with ``pose_dir``.
- ``data.protocol`` is not used (one protocol: the folders or the split file say the splits).
- Video files are recognised by suffix (:data:`vpnet.data.video.VIDEO_SUFFIXES`); other files are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vpnet.data._readers import Records, Skipped, finish
from vpnet.data.registry import DatasetReader
from vpnet.data.types import DataError, PoseSequence, SampleRecord
from vpnet.data.video import VIDEO_SUFFIXES
from vpnet.errors import ConfigError

__all__ = ["FolderDataset", "FOLDERS", "scan"]


def _videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def _read_split_file(path: Path, root: Path) -> dict[str, list[Path]]:
    """{split: [video paths]} from a split file (see the module docstring)."""
    if not path.is_file():
        raise DataError(path, "split file not found (data.split_file)")
    out: dict[str, list[Path]] = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p for p in re.split(r"[,\t ]+", line) if p]
        if len(parts) != 2:
            raise DataError(path, f"line {i}: expected '<class>/<video file> <split>', got {line!r}")
        rel, split = parts
        if len(Path(rel).parts) != 2:
            raise DataError(path, f"line {i}: {rel!r} is not <class>/<video file>")
        out.setdefault(split, []).append(root / rel)
    if not out:
        raise DataError(path, "the split file names no video")
    return out


def scan(video_dir: str | Path, split_file: str | Path | None = None
         ) -> tuple[list[str], dict[str, list[Path]], list[Skipped]]:
    """(class names, {split: video paths}, class folders without videos) of a class-folder tree.

    Raises:
        DataError: the folder is missing, holds no split or class folder, or no video at all.
    """
    if not video_dir:
        raise ConfigError("class folders need data.video_dir (or data.prepared_dir: a store `vpnet prepare` wrote)")
    root = Path(video_dir)
    if not root.is_dir():
        raise DataError(root, "no such folder (data.video_dir)")
    empty: list[Skipped] = []
    if split_file:
        by_split = _read_split_file(Path(split_file), root)
        folders = [d for d in sorted(root.iterdir()) if d.is_dir()]
    else:
        splits = [d for d in sorted(root.iterdir()) if d.is_dir()]
        if not splits:
            raise DataError(root, "holds no folder: expected <split>/<class>/<video> (e.g. train/drink/a.mp4), or "
                                  "<class>/<video> with data.split_file")
        if any(_videos(d) for d in splits):
            raise DataError(root, "its folders hold videos directly: with <class>/<video> give data.split_file "
                                  "(lines '<class>/<video> <split>'), or arrange <split>/<class>/<video>")
        by_split = {d.name: [v for c in sorted(d.iterdir()) if c.is_dir() for v in _videos(c)] for d in splits}
        folders = [c for d in splits for c in sorted(d.iterdir()) if c.is_dir()]
    have = {v.parent.name for vs in by_split.values() for v in vs if v.is_file()}
    empty = [Skipped(str(c.relative_to(root)), "class folder holds no video file "
                                               f"({', '.join(VIDEO_SUFFIXES)})")
             for c in folders if not _videos(c)]
    if not have:
        raise DataError(root, f"no video files ({', '.join(VIDEO_SUFFIXES)}) in any class folder")
    return sorted(have), by_split, empty


class FolderDataset(DatasetReader):
    """``data.dataset=folders``: class folders of videos (see the module docstring)."""

    name = "folders"
    protocols = ()
    layout = "ntu25"
    t_p = 20
    path_keys = ("video_dir", "pose_dir")
    optional_paths = ("pose_dir",)
    extracts_poses = True  # no data.pose_dir: vpnet prepare runs MediaPipe
    description = "class folders of your videos"

    def classes_and_splits(self, cfg: Any) -> tuple[list[str], tuple[str, ...]]:
        names, by_split, _ = scan(cfg.video_dir, cfg.split_file)
        return names, tuple(by_split)

    def class_names(self, cfg: Any) -> list[str]:
        return self.classes_and_splits(cfg)[0]

    def splits(self, cfg: Any) -> tuple[str, ...]:
        return self.classes_and_splits(cfg)[1]

    def records(self, cfg: Any, split: str) -> Records:
        names, by_split, empty = scan(cfg.video_dir, cfg.split_file)
        if split not in by_split:
            raise ConfigError(f"split {split!r} is not a split of {cfg.video_dir} ({', '.join(by_split)})")
        root = Path(cfg.video_dir)
        items: list[SampleRecord] = []
        skipped = [s for s in empty if cfg.split_file or s.name.split("/")[0] == split]
        seen: dict[str, Path] = {}
        for video in by_split[split]:
            rel = video.relative_to(root)
            name = rel.with_suffix("").as_posix()
            if not video.is_file():
                skipped.append(Skipped(name, f"video not found: {video}"))
                continue
            if name in seen:
                skipped.append(Skipped(name, f"{video.name} has the name of {seen[name].name}: rename one"))
                continue
            seen[name] = video
            poses = None
            if cfg.pose_dir:
                poses = Path(cfg.pose_dir) / rel.with_suffix(".npz")
                if not poses.is_file():
                    skipped.append(Skipped(name, f"pose file not found: {poses}"))
                    continue
            items.append(SampleRecord(name=name, label=names.index(video.parent.name), video=str(video),
                                      poses=None if poses is None else str(poses)))
        return finish(f"class folders {root}", split, items, skipped)

    def read_poses(self, path: str | Path) -> PoseSequence:
        from vpnet.data.custom import read_poses

        return read_poses(path)


FOLDERS = FolderDataset()

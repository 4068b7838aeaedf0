"""Toyota Smarthome: LCR-Net pose JSON reader, sample names, split files and class names.

Videos are ``<name>.mp4`` (640x480, 20 fps), names ``Action.Sub_pXX_rXX_vXX_cXX`` (action with an
optional sub-action after a dot; subject p, repetition r, video v, camera c), 3D poses come from
LCR-Net++, one JSON per clip (``<name>_pose3d.json``; ``<name>.json`` is accepted too)::

    {"njts": 13, "K": ..., "frames": [[{"pose2d": [13 x, 13 y], "pose3d": [13 x, 13 y, 13 z],
                                        "cumscore": s}, ...detections], ...frames]}

``pose2d``/``pose3d`` may also be nested ((2, 13) / (3, 13), or joints first (13, 2) / (13, 3));
sizes are checked. A frame may have no detection. Joint order (layout ``lcrnet13``): Rank Lank
Rkne Lkne Rhip Lhip Rwri Lwri Relb Lelb Rsho Lsho head.

Conventions, and what we do about them:

- ``pose3d`` is root-relative (the pelvis at the origin of every detection) and in metres. LCR-Net
  regresses it aligned with the image axes, y pointing **down** like ``pose2d``; our convention is
  y up (:class:`vpnet.data.types.PoseSequence`), so y is negated. Which way a file points is
  checked, not assumed: over all detections, the image rows of the joints (``pose2d`` y) rise with
  ``pose3d`` y when it points down and fall when it points up (``y_down=None``, the default,
  decides by the median correlation; pass True/False to force).
- detections are not tracked across frames by LCR-Net; the reader links them into bodies greedily
  by the distance of their 2D joints to each body's last position, so that body slot ``m`` is the
  same person over the clip (``body_ids`` are ``"0"``, ``"1"``, ...).
- ``uv`` is ``pose2d``, in pixels of the video's frames (``image_size=None``: the video's size).

Protocols (split files ``{train,validation,test}_{CS,CV1,CV2}.txt`` in ``split_dir``, as the
authors ship them): ``cs`` with 31 classes, ``cv1``/``cv2`` with 19. The CS split files also name
14 clips of ``Pour.Fromcup``, a class outside the 31-class table: they are skipped and reported.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vpnet.data._readers import FLOAT32_MAX, Records, choice, load_json, pair, read_text, resource_lines, strip_suffix
from vpnet.data.registry import DatasetReader
from vpnet.data.types import DataError, PoseSequence
from vpnet.errors import ConfigError

LAYOUT = "lcrnet13"
NUM_JOINTS = 13
VIDEO_SUFFIX = ".mp4"
POSE_SUFFIXES = ("_pose3d.json", ".json")
PROTOCOLS = ("cs", "cv1", "cv2")
SPLITS = ("train", "validation", "test", "all")

_NAME = re.compile(r"([A-Za-z][A-Za-z.]*)_p(\d{2})_r(\d{2})_v(\d{2})_c(\d{2})")


class SmarthomeName(NamedTuple):
    action: str  # e.g. "Drink.Fromcup"
    subject: int
    repetition: int
    video: int
    camera: int

    def __str__(self) -> str:
        return (f"{self.action}_p{self.subject:02d}_r{self.repetition:02d}"
                f"_v{self.video:02d}_c{self.camera:02d}")


def parse_name(name: str | Path) -> SmarthomeName:
    """``Drink.Fromcup_p17_r02_v09_c01`` (also with ``.mp4`` / ``_pose3d.json`` / ``.json``, or a path)."""
    m = _NAME.fullmatch(strip_suffix(name, (VIDEO_SUFFIX, *POSE_SUFFIXES)))
    if m is None:
        raise DataError(name, "not a Toyota Smarthome clip name (expected Action.Sub_pXX_rXX_vXX_cXX, "
                              "e.g. Drink.Fromcup_p17_r02_v09_c01)")
    return SmarthomeName(m.group(1), *(int(g) for g in m.groups()[1:]))


def _protocol(protocol: str) -> str:
    return choice(protocol, PROTOCOLS, "Toyota Smarthome protocols")


def _classes(protocol: str) -> tuple[str, ...]:
    return resource_lines("smarthome_cs_classes.txt" if _protocol(protocol) == "cs" else "smarthome_cv_classes.txt")


def class_names(protocol: str = "cs") -> list[str]:
    """The 31 (``cs``) or 19 (``cv1``, ``cv2``) class names; index = 0-based label."""
    return list(_classes(protocol))


def label_of(name: str | SmarthomeName, protocol: str) -> int:
    """0-based label of a clip under ``protocol``; DataError if its action is not in that table."""
    parts = name if isinstance(name, SmarthomeName) else parse_name(name)
    names = _classes(protocol)
    try:
        return names.index(parts.action)
    except ValueError:
        raise DataError(str(name), f"action {parts.action!r} is not one of the {len(names)} classes of "
                                   f"protocol {protocol.upper()}") from None


# ---------------------------------------------------------------------------------------------
# the LCR-Net JSON reader


def _joints(path: Path, value, dims: int, what: str, where: str) -> np.ndarray:
    """A pose2d (dims=2) / pose3d (dims=3) value as (13, dims), from any of its layouts; finite."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond float64
        raise DataError(path, f"{where}: {what} is not a list of numbers") from None
    if arr.shape == (dims * NUM_JOINTS,):
        arr = arr.reshape(dims, NUM_JOINTS).T  # [13 x, 13 y(, 13 z)]
    elif arr.shape == (dims, NUM_JOINTS):
        arr = arr.T
    elif arr.shape != (NUM_JOINTS, dims):
        raise DataError(path, f"{where}: {what} has shape {arr.shape}; expected {dims * NUM_JOINTS} values "
                              f"([13 x, 13 y{', 13 z' if dims == 3 else ''}]) or ({dims}, 13)")
    if not (np.abs(arr) <= FLOAT32_MAX).all():  # False for NaN too
        bad = arr[~(np.abs(arr) <= FLOAT32_MAX)][0]
        why = "a value that is not finite (NaN or inf)" if not np.isfinite(bad) else f"{bad:g}, beyond float32's range"
        raise DataError(path, f"{where}: {what} has {why}")
    return arr


def _link(centres: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Slot of each detection per frame: greedy nearest match to each body's last 2D centre."""
    last: list[np.ndarray] = []
    slots: list[np.ndarray] = []
    for c in centres:
        slot = np.full(len(c), -1, dtype=np.int64)
        if len(c) and last:
            d = np.linalg.norm(c[:, None, :] - np.asarray(last)[None, :, :], axis=-1)
            taken: set[int] = set()
            for flat in np.argsort(d, axis=None):
                i, m = divmod(int(flat), d.shape[1])
                if slot[i] < 0 and m not in taken:
                    slot[i] = m
                    taken.add(m)
        for i in np.flatnonzero(slot < 0):
            slot[i] = len(last)
            last.append(c[i])
        for i, m in enumerate(slot):
            last[m] = c[i]
        slots.append(slot)
    return slots, len(last)


def read_poses(path: str | Path, *, y_down: bool | None = None) -> PoseSequence:
    """Read an LCR-Net JSON as a :class:`PoseSequence` (lcrnet13; uv in video pixels).

    Args:
        y_down: whether ``pose3d`` y points down (then it is negated); None decides from the data.

    Raises:
        DataError: invalid JSON, a missing ``frames`` list, wrong sizes, non-finite values, or no
            detection in any frame.
    """
    p = Path(path)
    doc = load_json(p)
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list):
        raise DataError(p, "not an LCR-Net pose file: expected a JSON object with a 'frames' list")
    njts = doc.get("njts", NUM_JOINTS)
    if njts != NUM_JOINTS:
        raise DataError(p, f"njts is {njts}; Toyota Smarthome poses have {NUM_JOINTS} joints")
    frames = doc["frames"]
    if not frames:
        raise DataError(p, "the 'frames' list is empty")
    xyz_f, uv_f = [], []
    for t, dets in enumerate(frames):
        if dets is None:
            dets = []
        if not isinstance(dets, list):
            raise DataError(p, f"frame {t}: expected a list of detections, got {type(dets).__name__}")
        xs, us = [], []
        for k, det in enumerate(dets):
            if not isinstance(det, dict) or "pose3d" not in det or "pose2d" not in det:
                raise DataError(p, f"frame {t}, detection {k}: needs 'pose2d' and 'pose3d'")
            xs.append(_joints(p, det["pose3d"], 3, "pose3d", f"frame {t}, detection {k}"))
            us.append(_joints(p, det["pose2d"], 2, "pose2d", f"frame {t}, detection {k}"))
        xyz_f.append(np.asarray(xs).reshape(-1, NUM_JOINTS, 3))
        uv_f.append(np.asarray(us).reshape(-1, NUM_JOINTS, 2))
    if not any(len(x) for x in xyz_f):
        raise DataError(p, f"no detection in any of the {len(frames)} frames")

    if y_down is None:
        y_down = _points_down(np.concatenate(uv_f)[..., 1], np.concatenate(xyz_f)[..., 1])
    slots, num = _link([u.mean(axis=1) for u in uv_f])
    xyz = np.full((len(frames), num, NUM_JOINTS, 3), np.nan, dtype=np.float32)
    uv = np.full((len(frames), num, NUM_JOINTS, 2), np.nan, dtype=np.float32)
    present = np.zeros((len(frames), num), dtype=bool)
    for t, slot in enumerate(slots):
        xyz[t, slot] = xyz_f[t]
        uv[t, slot] = uv_f[t]
        present[t, slot] = True
    if y_down:
        xyz[..., 1] *= -1
    return PoseSequence(xyz=xyz, uv=uv, present=present, layout=LAYOUT, source=str(p),
                        body_ids=tuple(str(m) for m in range(num)), image_size=None)


def _points_down(rows: np.ndarray, y3d: np.ndarray) -> bool:
    """Whether 3D y grows downwards: per detection, the sign of its correlation with the image rows."""
    r = rows - rows.mean(axis=1, keepdims=True)
    y = y3d - y3d.mean(axis=1, keepdims=True)
    corr = (r * y).sum(axis=1) / (np.linalg.norm(r, axis=1) * np.linalg.norm(y, axis=1) + 1e-12)
    return bool(np.median(corr) > 0)


# ---------------------------------------------------------------------------------------------
# split files and records


def _split(split: str) -> str:
    return choice(split, SPLITS, "Toyota Smarthome splits", aliases={"val": "validation"}, hint=" (or val)")


def split_file(split_dir: str | Path, protocol: str, split: str) -> Path:
    """``<split_dir>/<split>_<PROTOCOL>.txt`` (e.g. ``train_CV1.txt``)."""
    return Path(split_dir) / f"{_split(split)}_{_protocol(protocol).upper()}.txt"


def read_split(split_dir: str | Path, protocol: str, split: str) -> list[str]:
    """Clip names (without ``.mp4``) listed for ``split`` (``all``: train + validation + test)."""
    s = _split(split)
    parts = ("train", "validation", "test") if s == "all" else (s,)
    names: list[str] = []
    for part in parts:
        text = read_text(split_file(split_dir, protocol, part), "split file")
        names += [line.strip().removesuffix(VIDEO_SUFFIX) for line in text.splitlines() if line.strip()]
    return names


def records(*, video_dir: str | Path | None = None, pose_dir: str | Path | None = None, protocol: str,
            split: str, split_dir: str | Path | None = None) -> Records:
    """The clips of one split, as listed in the split files.

    Args:
        video_dir: folder with ``<name>.mp4`` (searched recursively); None for pose-only use.
        pose_dir: folder with ``<name>_pose3d.json`` (or ``<name>.json``); None for video-only use.
        protocol: ``cs``, ``cv1`` or ``cv2``.
        split: ``train``, ``validation`` (``val``), ``test`` or ``all``.
        split_dir: folder with the split files (required).

    Returns:
        :class:`Records`; ``.skipped`` names every listed clip left out: a name off the scheme,
        an action outside the protocol's label table, a missing video or pose file.
    """
    prot = _protocol(protocol)
    if split_dir is None:
        raise ConfigError("Toyota Smarthome records need split_dir (the folder of the split files)")

    def describe(name: str) -> dict:
        parts = parse_name(name)
        return dict(label=label_of(parts, prot), subject=parts.subject, camera=parts.camera,
                    meta={"repetition": parts.repetition, "video": parts.video, "action": parts.action})

    return pair(f"Toyota Smarthome {prot.upper()}", split, describe, names=read_split(split_dir, prot, split),
                video_dir=video_dir, video_suffixes=(VIDEO_SUFFIX,), video_file="{}" + VIDEO_SUFFIX,
                pose_dir=pose_dir, pose_suffixes=POSE_SUFFIXES, pose_file="{}_pose3d.json",
                context=f"listed in the {split} split file but ")


class SmarthomeDataset(DatasetReader):
    """Toyota Smarthome as a registered dataset (``data.dataset=smarthome``); ranked by mean per-class accuracy."""

    name = "smarthome"
    protocols = PROTOCOLS
    layout = LAYOUT
    t_p = 30
    primary_metric = "mean_class"
    path_keys = ("video_dir", "pose_dir", "split_dir")

    def class_names(self, cfg: Any) -> list[str]:
        return class_names(cfg.protocol)

    def splits(self, cfg: Any) -> tuple[str, ...]:
        return ("train", "validation", "test")

    def records(self, cfg: Any, split: str) -> Records:
        return records(protocol=cfg.protocol, split=split, **self.paths(cfg))

    def read_poses(self, path: str | Path) -> PoseSequence:
        return read_poses(path)


SMARTHOME = SmarthomeDataset()

"""Northwestern-UCLA Multiview Action 3D: skeleton JSON reader, names, the cross-view protocol.

Skeletons come one JSON per clip (the layout of the widely used CTR-GCN release)::

    {"file_name": "a01_s01_e00_v01", "skeletons": T x 20 x 3, "label": 1}

Kinect v1 joints (layout ``ucla20``) in metres, camera space with y up. Names are
``aAA_sSS_eEE_vVV`` (action, subject, environment/episode, view); the 10 actions a01-a06, a08,
a09, a11, a12 are labels 0-9. Protocol ``v3`` = V^3_{1,2}: train on views 1 and 2, test on view 3
(``v1``, ``v2`` test on view 1 / 2 and train on the others).

The JSON has no 2D joints. So that crops still follow the person, ``uv`` is the projection of the
3D joints with the Kinect v1 colour camera's nominal intrinsics at 640x480 (f = 531.15 px, centre
(320, 240); ``image_size=(640, 480)``). The depth and colour cameras sit a few centimetres apart,
so these points can be off by a few pixels: the crop margin covers that.

Videos: ``<name>.avi``/``.mp4``/``.mkv`` files, or frame folders named ``<name>``, anywhere under
``video_dir``; or the original release layout ``view_V/aAA_sSS_eEE/`` of ``frame_*_rgb.jpg``
images (the folders also hold depth images, which :class:`vpnet.data.video.FrameFolder` skips).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vpnet.data._readers import (
    SPLITS,
    Records,
    check_finite,
    choice,
    load_json,
    pair,
    project,
    resource_lines,
    strip_suffix,
)
from vpnet.data.registry import DatasetReader
from vpnet.data.types import DataError, PoseSequence

LAYOUT = "ucla20"
NUM_JOINTS = 20
#: the action ids of the 10 classes, in label order.
ACTIONS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
#: Kinect v1 colour camera, nominal: focal length (px), centre, at 640x480.
INTRINSICS = (531.15, 320.0, 240.0)
IMAGE_SIZE = (640, 480)
PROTOCOLS = ("v1", "v2", "v3")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv")

_NAME = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})")
_CLIP_DIR = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})")
_VIEW_DIR = re.compile(r"view_?(\d+)", re.IGNORECASE)


class NUCLAName(NamedTuple):
    action: int
    subject: int
    episode: int
    view: int

    @property
    def label(self) -> int:
        """0-based class index (DataError for an action outside the 10 classes)."""
        return label_of(self)

    def __str__(self) -> str:
        return f"a{self.action:02d}_s{self.subject:02d}_e{self.episode:02d}_v{self.view:02d}"


def parse_name(name: str | Path) -> NUCLAName:
    """``a01_s01_e00_v01`` (also as a ``.json``/video file name or path)."""
    m = _NAME.fullmatch(strip_suffix(name, (".json", *VIDEO_SUFFIXES)))
    if m is None:
        raise DataError(name, "not a Northwestern-UCLA clip name (expected aAA_sSS_eEE_vVV, e.g. a01_s01_e00_v01)")
    return NUCLAName(*(int(g) for g in m.groups()))


def label_of(name: str | NUCLAName) -> int:
    """0-based label (a01->0, ..., a12->9); DataError for an action outside the 10 classes."""
    parts = name if isinstance(name, NUCLAName) else parse_name(name)
    if parts.action not in ACTIONS:
        raise DataError(str(name), f"action a{parts.action:02d} is not one of the 10 N-UCLA classes "
                                   f"({', '.join(f'a{a:02d}' for a in ACTIONS)})")
    return ACTIONS.index(parts.action)


def class_names() -> list[str]:
    """The 10 action names; index = 0-based label."""
    return list(resource_lines("nucla_classes.txt"))


def read_poses(path: str | Path) -> PoseSequence:
    """Read a skeleton JSON as a :class:`PoseSequence` (ucla20, one body, uv projected).

    Frames whose 20 joints are all exactly zero (the Kinect's "not tracked") are absent.

    Raises:
        DataError: invalid JSON, ``skeletons`` not shaped (T, 20, 3), non-finite values, no
            tracked frame, joints at or behind the camera in most frames (a few are repaired:
            :func:`repair_joints`), or a ``label`` that contradicts the ``file_name``.
    """
    p = Path(path)
    doc = load_json(p)
    if not isinstance(doc, dict) or "skeletons" not in doc:
        raise DataError(p, "not an N-UCLA skeleton file: expected a JSON object with 'skeletons'")
    try:
        sk = np.asarray(doc["skeletons"], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond float64
        raise DataError(p, "'skeletons' is not a T x 20 x 3 list of numbers") from None
    if sk.ndim != 3 or sk.shape[1:] != (NUM_JOINTS, 3) or sk.shape[0] == 0:
        raise DataError(p, f"'skeletons' has shape {sk.shape}; expected (T, 20, 3) with T >= 1")
    check_finite(p, sk[:, None], "a joint coordinate")
    present = np.abs(sk).sum(axis=(1, 2)) > 0
    if not present.any():
        raise DataError(p, f"no tracked skeleton in any of the {len(sk)} frames (all zeros)")
    sk, notes = repair_joints(p, sk, present)
    if "label" in doc and "file_name" in doc:
        try:
            parts = parse_name(str(doc["file_name"]))
        except DataError:
            parts = None
        if parts is not None and parts.action in ACTIONS and doc["label"] != ACTIONS.index(parts.action) + 1:
            raise DataError(p, f"label {doc['label']} contradicts action a{parts.action:02d} of file_name "
                               f"{doc['file_name']} (expected {ACTIONS.index(parts.action) + 1})")
    xyz = np.where(present[:, None, None], sk, np.nan).astype(np.float32)[:, None]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        uv = project(xyz.astype(np.float64), INTRINSICS)
    check_finite(p, uv, "the pixel projection (depth z too close to 0?)", present[:, None])
    uv = uv.astype(np.float32)
    return PoseSequence(xyz=xyz, uv=uv, present=present[:, None].copy(), layout=LAYOUT, source=str(p),
                        body_ids=("0",), image_size=IMAGE_SIZE, notes=notes)


#: a clip is dropped when more than this share of its tracked frames has a joint at depth z <= 0.
MAX_BAD_SHARE = 0.5


def repair_joints(path: Path, sk: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Joints at depth z <= 0 (behind the camera: a tracking failure) in tracked frames, replaced by the
    same joint interpolated linearly in time between the nearest frames where it is good (held at the
    ends). ``sk`` (T, 20, 3) float64, ``present`` (T,). Returns the repaired array and a note saying what
    was repaired (none when nothing was).

    Two real clips have a few such joints; dropping the clip would lose a good sample for a few bad
    joints. A clip where more than :data:`MAX_BAD_SHARE` of the tracked frames have one is a DataError.
    """
    bad = present[:, None] & (sk[..., 2] <= 0)  # (T, J)
    if not bad.any():
        return sk, ()
    frames = np.flatnonzero(bad.any(axis=1))
    tracked = int(present.sum())
    if len(frames) > MAX_BAD_SHARE * tracked:
        raise DataError(path, f"{len(frames)} of {tracked} tracked frames have a joint at depth z <= 0 "
                              "(camera-space metres expected): too many to repair")
    sk = sk.copy()
    t = np.arange(len(sk))
    for j in np.flatnonzero(bad.any(axis=0)):
        good = present & ~bad[:, j]
        if not good.any():
            raise DataError(path, f"joint {j + 1} has depth z <= 0 in every tracked frame")
        for c in range(3):
            sk[bad[:, j], j, c] = np.interp(t[bad[:, j]], t[good], sk[good, j, c])
    note = (f"{int(bad.sum())} joint positions at depth z <= 0 in {len(frames)} of {tracked} frames "
            f"(first: frame {int(frames[0])}) repaired from neighbouring frames")
    return sk, (note,)


# ---------------------------------------------------------------------------------------------
# protocol and records


def _protocol(protocol: str) -> int:
    """The test view of ``protocol``."""
    return int(choice(protocol, PROTOCOLS, "N-UCLA protocols", hint=" (v3 = the standard V^3_{1,2})")[1])


def split_of(name: NUCLAName, test_view: int) -> str:
    """``test`` for a clip of the test view, else ``train``."""
    return "test" if name.view == test_view else "train"


def split_names(names: list[str], *, protocol: str = "v3") -> tuple[list[str], list[str]]:
    """(train, test) names: test = the protocol's view, train = the other views."""
    test_view = _protocol(protocol)
    out: dict[str, list[str]] = {"train": [], "test": []}
    for n in names:
        out[split_of(parse_name(n), test_view)].append(n)
    return out["train"], out["test"]


def _frame_folder(parent: Path, folder: str) -> str | None:
    """The clip a folder of frames holds: ``<name>/``, or ``view_V/aAA_sSS_eEE/`` of the release."""
    if _NAME.fullmatch(folder):
        return folder
    if _CLIP_DIR.fullmatch(folder) and (v := _VIEW_DIR.fullmatch(parent.name)):
        return f"{folder}_v{int(v.group(1)):02d}"
    return None


def records(*, video_dir: str | Path | None = None, pose_dir: str | Path | None = None, protocol: str = "v3",
            split: str) -> Records:
    """The clips of one split, found by scanning ``pose_dir`` (``<name>.json``) and ``video_dir``
    (video files or frame folders, the layouts of the module docstring).

    Args:
        protocol: ``v3`` (train views 1, 2; test view 3), or ``v1``/``v2``.
        split: ``train``, ``test`` or ``all``.

    Returns:
        :class:`Records`; ``.skipped`` lists clips left out (name off the scheme, action outside
        the 10 classes, missing video or skeleton).
    """
    test_view = _protocol(protocol)
    dataset = f"N-UCLA {protocol.upper()}"
    split = choice(split, SPLITS, f"{dataset} splits")

    def describe(name: str) -> dict | None:
        parts = parse_name(name)
        label = label_of(parts)
        if split not in ("all", split_of(parts, test_view)):
            return None
        return dict(label=label, subject=parts.subject, camera=parts.view, meta={"episode": parts.episode})

    return pair(dataset, split, describe, video_dir=video_dir, video_suffixes=VIDEO_SUFFIXES,
                video_file="video or frame folder for {}", folder_name=_frame_folder,
                pose_dir=pose_dir, pose_suffixes=(".json",), pose_file="skeleton {}.json")


class NUCLADataset(DatasetReader):
    """Northwestern-UCLA as a registered dataset (``data.dataset=nucla``)."""

    name = "nucla"
    protocols = ("v3", "v1", "v2")
    layout = LAYOUT
    t_p = 5

    def class_names(self, cfg: Any = None) -> list[str]:
        return class_names()

    def records(self, cfg: Any, split: str) -> Records:
        return records(protocol=cfg.protocol, split=split, **self.paths(cfg))

    def read_poses(self, path: str | Path) -> PoseSequence:
        return read_poses(path)


NUCLA = NUCLADataset()

"""NTU RGB+D 60 / 120: the ``.skeleton`` reader, sample names, protocols and class names.

The release ships ``nturgb+d_rgb/<name>_rgb.avi`` (1920x1080, 30 fps) and
``nturgb+d_skeletons/<name>.skeleton``; names are ``SsssCcccPpppRrrrAaaa`` (setup, camera,
performer, replication, action). Skeleton frame ``i`` is video frame ``i``.

``.skeleton`` text (CRLF): the frame count; per frame a body count; per body one line of 10 values
(:data:`BODY_FIELDS`, the first a 17-digit body id), a joint count (25), then 25 lines of 12 values
(:data:`JOINT_FIELDS`): x y z in metres (camera space: x right, y up, z away from the camera),
depthX/depthY in the 512x424 depth image, colorX/colorY in the 1920x1080 colour image.

Protocols: NTU-60 ``cs`` (cross-subject) and ``cv`` (cross-view), NTU-120
``csub`` and ``cset``. The official protocols also leave out the 302 (NTU-60) / 535 (NTU-120)
samples whose skeletons are missing or incomplete. The release ships a ``.skeleton`` file for them
too (empty or partial), and their videos, so pairing files keeps them: pass ``missing_list``, the
owners' list (:data:`MISSING_LISTS`, from the NTU RGB+D GitHub repository; vpnet does not ship it),
to exclude them; :func:`records` logs a warning without it. (A file with no body in any frame
fails when it is read, so such a sample is skipped and reported when the dataset loads it.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vpnet.data._readers import (
    FLOAT32_MAX,
    SPLITS,
    Records,
    choice,
    log,
    pair,
    read_bytes,
    read_text,
    resource_lines,
    strip_suffix,
)
from vpnet.data.registry import DatasetReader
from vpnet.data.types import DataError, PoseSequence
from vpnet.errors import ConfigError

try:  # the C reader (setup.py builds it when a compiler is found); without it, the numpy reader
    from vpnet.data._skeleton import parse as _fast_parse
except ImportError:
    _fast_parse = None

LAYOUT = "ntu25"
NUM_JOINTS = 25
#: (width, height) of the colour frames colorX/colorY refer to.
IMAGE_SIZE = (1920, 1080)
VIDEO_SUFFIX = "_rgb.avi"
SKELETON_SUFFIX = ".skeleton"

BODY_FIELDS = ("bodyID", "clippedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence",
               "handRightState", "isRestricted", "leanX", "leanY", "trackingState")
JOINT_FIELDS = ("x", "y", "z", "depthX", "depthY", "colorX", "colorY",
                "orientationW", "orientationX", "orientationY", "orientationZ", "trackingState")

#: NTU-60 cross-subject training performers (the rest test).
CS_TRAIN_PERFORMERS_60 = frozenset({1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38})
#: NTU-120 cross-subject training performers.
CS_TRAIN_PERFORMERS_120 = CS_TRAIN_PERFORMERS_60 | frozenset(
    {45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91,
     92, 93, 94, 95, 97, 98, 100, 103})
#: NTU-60 cross-view training cameras (camera 1 tests).
CV_TRAIN_CAMERAS = frozenset({2, 3})
#: NTU-60 is setups 1-17 of NTU-120, actions 1-60.
NTU60_SETUPS = 17

PROTOCOLS = {60: ("cs", "cv"), 120: ("csub", "cset")}
#: the owners' list of samples with missing or incomplete skeletons (file name, samples listed).
MISSING_LISTS = {60: ("NTU_RGBD_samples_with_missing_skeletons.txt", 302),
                 120: ("NTU_RGBD120_samples_with_missing_skeletons.txt", 535)}
_ALIASES = {"xsub": {60: "cs", 120: "csub"}, "xview": {60: "cv"}, "xset": {120: "cset"},
            "cs": {60: "cs", 120: "csub"}}

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


class NTUName(NamedTuple):
    """The parts of an NTU sample name (all 1-based as in the name)."""

    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        """0-based class index (action - 1)."""
        return self.action - 1

    def __str__(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}"
                f"R{self.replication:03d}A{self.action:03d}")


def parse_name(name: str | Path) -> NTUName:
    """``S001C002P003R002A013`` (also as a file name or path: ``..._rgb.avi``, ``.skeleton``)."""
    m = _NAME.fullmatch(strip_suffix(name, (VIDEO_SUFFIX, SKELETON_SUFFIX, ".npy", ".npz")))
    if m is None:
        raise DataError(name, "not an NTU RGB+D sample name (expected SsssCcccPpppRrrrAaaa, "
                              "e.g. S001C002P003R002A013)")
    parts = NTUName(*(int(g) for g in m.groups()))
    if min(parts) < 1:
        raise DataError(name, "NTU RGB+D name fields are 1-based; found a 000 field")
    return parts


def class_names(version: int | str = 60) -> list[str]:
    """The 60 or 120 action names; index = 0-based label (action ``A(i+1)``). ``version``: 60, 120, or
    the dataset names ``"ntu60"``/``"ntu120"`` (as in ``data.dataset``)."""
    return list(resource_lines("ntu120_classes.txt")[: _num_classes(version)])


def _num_classes(version: int | str) -> int:
    text = str(version).lower().removeprefix("ntu")
    if not text.isdigit() or int(text) not in PROTOCOLS:
        raise ConfigError(f"NTU RGB+D version must be 60 or 120 (or 'ntu60', 'ntu120'), got {version!r}")
    return int(text)


# ---------------------------------------------------------------------------------------------
# the .skeleton reader


@dataclass(frozen=True)
class NTUSkeleton:
    """Everything a ``.skeleton`` file holds, bodies in order of first appearance.

    Absent bodies (``present[t, m] == False``) are NaN in ``joints`` and ``bodies``.
    """

    #: (T, M, 25, 12) in :data:`JOINT_FIELDS` order.
    joints: np.ndarray
    #: (T, M, 10) the body lines in :data:`BODY_FIELDS` order; column 0 is float(bodyID), which
    #: a float cannot hold exactly: use ``body_ids``.
    bodies: np.ndarray
    #: (M,) body ids as written (17-digit integers, kept as text).
    body_ids: tuple[str, ...]
    #: (T, M) bool.
    present: np.ndarray
    source: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def num_bodies(self) -> int:
        return int(self.joints.shape[1])

    def to_pose_sequence(self) -> PoseSequence:
        """x y z as ``xyz``, colorX colorY as ``uv`` (1920x1080 pixels), layout ``ntu25``."""
        return PoseSequence(
            xyz=np.ascontiguousarray(self.joints[..., 0:3], dtype=np.float32),
            uv=np.ascontiguousarray(self.joints[..., 5:7], dtype=np.float32),
            present=self.present.copy(),
            layout=LAYOUT,
            source=self.source,
            body_ids=self.body_ids,
            image_size=IMAGE_SIZE,
        )


def read_skeleton(path: str | Path, *, dtype: np.dtype | type = np.float32) -> NTUSkeleton:
    """Parse an NTU ``.skeleton`` file (all 12 joint values of every body in every frame).

    Two readers give the same arrays, bit for bit: the C extension ``vpnet.data._skeleton`` (built
    at install when a C compiler is present; ``vpnet info`` says whether it is) parses the whole
    file in one pass, and the checking reader (numpy; any file the C reader does not accept, or
    every file without the extension) explains what is wrong with a bad file. Numbers are
    correctly rounded, as Python's ``float()`` rounds them, so ``dtype=np.float64`` keeps the
    values exactly as the dataset authors' own converter reads them.

    Raises:
        DataError: unreadable file, wrong counts (truncated, garbled), non-numeric or non-finite
            values, a trackingState outside 0-2, or no body in any frame. The message names the
            file and the line.
    """
    p = Path(path)
    data = read_bytes(p)
    parsed = _fast_parse(data) if _fast_parse is not None else None
    if parsed is None:
        num_frames, frames, header_lines, ids, body_vals, joint_vals = _parse_checked(p, data)
    else:
        num_frames, frames, header_lines, ids, body_vals, joint_vals = parsed
        frames, header_lines = np.frombuffer(frames, np.int64), np.frombuffer(header_lines, np.int64)
        body_vals = np.frombuffer(body_vals, np.float64).reshape(-1, len(BODY_FIELDS))
        joint_vals = np.frombuffer(joint_vals, np.float64).reshape(-1, NUM_JOINTS, len(JOINT_FIELDS))
    state = joint_vals[..., 11]
    bad = (state != 0) & (state != 1) & (state != 2)
    if bad.any():
        b, j = np.argwhere(bad)[0]
        raise DataError(p, f"line {header_lines[b] + 3 + j}: trackingState {state[b, j]:g} is not 0, 1 or 2 "
                           "(values shifted between lines?)")

    _check_range(p, header_lines, body_vals, joint_vals)

    # Bodies get slots in order of first appearance; a (rare) repeated id within one frame is a
    # second body, not an overwrite.
    slot_of = {bid: m for m, bid in enumerate(dict.fromkeys(ids))}
    slots = np.fromiter(map(slot_of.__getitem__, ids), np.int64, len(ids))
    if len(set(zip(frames.tolist(), ids))) < len(ids):
        slot_of, slots = _split_repeated_ids(frames, ids)
    m = len(slot_of)
    joints = np.full((num_frames, m, NUM_JOINTS, len(JOINT_FIELDS)), np.nan, dtype=dtype)
    joints[frames, slots] = joint_vals
    bodies = np.full((num_frames, m, len(BODY_FIELDS)), np.nan, dtype=dtype)
    bodies[frames, slots] = body_vals
    present = np.zeros((num_frames, m), dtype=bool)
    present[frames, slots] = True
    return NTUSkeleton(joints=joints, bodies=bodies, body_ids=tuple(slot_of), present=present, source=str(p))


def _check_range(p: Path, header_lines: np.ndarray, body_vals: np.ndarray, joint_vals: np.ndarray) -> None:
    """DataError naming the line of the first value beyond float32's range (``1e39``: finite as parsed,
    inf in the float32 arrays and in every PoseSequence), for the C and the numpy reader alike."""
    for vals, what in ((body_vals, "body line"), (joint_vals.reshape(len(joint_vals), -1), "joint line")):
        ok = np.abs(vals) <= FLOAT32_MAX
        if not ok.all():
            row, col = np.argwhere(~ok)[0]
            line = header_lines[row] + 1 if what == "body line" else header_lines[row] + 3 + col // len(JOINT_FIELDS)
            raise DataError(p, f"line {line}: {what} value {vals[row, col]:g} is beyond float32's range")


def _split_repeated_ids(frames: np.ndarray, ids: list[str]) -> tuple[dict[str, int], np.ndarray]:
    """Slots when an id repeats within a frame: the n-th repeat is the body ``"<id>#<n>"``."""
    slot_of: dict[str, int] = {}
    slots = np.empty(len(ids), dtype=np.int64)
    seen: set[tuple[int, str]] = set()
    for b, (t, bid) in enumerate(zip(frames.tolist(), ids)):
        key, n = bid, 2
        while (t, key) in seen:
            key, n = f"{bid}#{n}", n + 1
        seen.add((t, key))
        slots[b] = slot_of.setdefault(key, len(slot_of))
    return slot_of, slots


def _parse_checked(p: Path, data: bytes) -> tuple[int, np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
    """The numpy reader: what ``_skeleton.parse`` returns, as arrays, or a DataError naming the line.

    The text is walked once per frame and body header (to learn where each body's 25 joint lines
    are), and all joint lines are converted to numbers in one ``numpy.loadtxt`` call, which also
    checks that every joint line has exactly 12 numbers.
    """
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as e:
        raise DataError(p, f"not a text .skeleton file (byte {e.start} is not ASCII)") from None
    lines = text.split("\n")  # CRLF: the '\r' stays at the end of each line; int() and loadtxt ignore it

    def count(li: int, what: str) -> int:
        if li >= len(lines) or not lines[li].strip():
            raise DataError(p, f"file ends at line {li + 1} where the {what} should be (truncated?)")
        try:
            n = int(lines[li])
        except ValueError:
            raise DataError(
                p, f"line {li + 1}: expected the {what} (an integer), got {lines[li].strip()[:60]!r}") from None
        if n < 0:
            raise DataError(p, f"line {li + 1}: negative {what} {n}")
        return n

    num_frames = count(0, "frame count")
    if num_frames == 0:
        raise DataError(p, "the file declares 0 frames")
    header_lines: list[int] = []  # line index of each body line
    body_frame: list[int] = []  # frame of each body
    li = 1
    for t in range(num_frames):
        nb = count(li, f"body count of frame {t}")
        li += 1
        for _ in range(nb):
            header_lines.append(li)
            body_frame.append(t)
            nj = count(li + 1, f"joint count of frame {t}")
            if nj != NUM_JOINTS:
                raise DataError(p, f"line {li + 2}: frame {t} declares {nj} joints, NTU bodies have {NUM_JOINTS}")
            li += 2 + NUM_JOINTS
    if li > len(lines):
        raise DataError(p, f"file ends inside frame {body_frame[-1]} of {num_frames} (truncated?): "
                           f"the counts need {li} lines, the file has {len(lines)}")
    extra = [i for i in range(li, len(lines)) if lines[i].strip()]
    if extra:
        raise DataError(p, f"line {extra[0] + 1}: data after the last of the {num_frames} declared frames "
                           "(frame or body counts do not match the data)")
    num = len(header_lines)
    if num == 0:
        raise DataError(p, f"no body in any of the {num_frames} frames")

    hdr = np.asarray(header_lines)
    body_vals = _numbers(p, lines, hdr, len(BODY_FIELDS), "body line (bodyID + 9 values)")
    jl = (hdr[:, None] + 2 + np.arange(NUM_JOINTS)).ravel()
    joint_vals = _numbers(p, lines, jl, len(JOINT_FIELDS), "joint line").reshape(num, NUM_JOINTS, 12)
    ids = [lines[i].split(None, 1)[0] for i in header_lines]
    return num_frames, np.asarray(body_frame), hdr, ids, body_vals, joint_vals


def _numbers(path: Path, lines: list[str], idx: np.ndarray, width: int, what: str) -> np.ndarray:
    """The lines ``idx`` parsed as a (len(idx), width) float64 array, or a DataError at the first bad line."""
    chosen = itemgetter(*idx.tolist())(lines) if len(idx) > 1 else (lines[int(idx[0])],)
    try:
        vals = np.loadtxt(chosen, dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        vals = None
    if vals is None or vals.shape != (len(idx), width) or not np.isfinite(vals).all():
        for li, line in zip(idx.tolist(), chosen):  # find the first bad line (error path only)
            fields = line.split()
            if len(fields) != width:
                raise DataError(path, f"line {li + 1}: a {what} needs {width} numbers, found {len(fields)}: "
                                      f"{line.strip()[:80]!r}")
            try:  # loadtxt, not float(): float() also reads "1_000"
                nums = np.loadtxt([line], dtype=np.float64, comments=None, ndmin=2)
            except ValueError:
                raise DataError(path, f"line {li + 1}: non-numeric value in {what}: {line.strip()[:80]!r}") from None
            if not np.isfinite(nums).all():
                raise DataError(path, f"line {li + 1}: NaN or inf in {what}: {line.strip()[:80]!r}")
        raise DataError(path, f"cannot parse the {what}s")  # not reached: every line was checked above
    return vals


def read_poses(path: str | Path) -> PoseSequence:
    """The ``.skeleton`` file as a :class:`PoseSequence` (ntu25, uv in 1920x1080 pixels)."""
    return read_skeleton(path).to_pose_sequence()


# ---------------------------------------------------------------------------------------------
# protocols


def _resolve(version: int, protocol: str) -> str:
    _num_classes(version)
    aliases = {alias: to[version] for alias, to in _ALIASES.items() if version in to}
    return choice(protocol, PROTOCOLS[version], f"NTU RGB+D {version} protocols", aliases=aliases)


def version_of(protocol: str) -> int:
    """60 for ``cs``/``cv``, 120 for ``csub``/``cset`` (also ``xsub``->60, ``xview``, ``xset``)."""
    prot = protocol.lower()
    if prot in ("cs", "cv", "xsub", "xview"):
        return 60
    if prot in ("csub", "cset", "xset"):
        return 120
    raise ConfigError(f"unknown NTU RGB+D protocol {protocol!r}: NTU-60 has cs, cv; NTU-120 has csub, cset")


def is_train(name: NTUName, *, version: int, protocol: str) -> bool:
    """Whether ``name`` is a training sample of ``protocol`` (else a test sample)."""
    prot = _resolve(version, protocol)
    if prot == "cs":
        return name.performer in CS_TRAIN_PERFORMERS_60
    if prot == "csub":
        return name.performer in CS_TRAIN_PERFORMERS_120
    if prot == "cv":
        return name.camera in CV_TRAIN_CAMERAS
    return name.setup % 2 == 0  # cset: even setups train


def in_version(name: NTUName, version: int) -> bool:
    """Whether the sample belongs to NTU-60 (setups 1-17) / NTU-120 (all)."""
    if _num_classes(version) == 60:
        return name.setup <= NTU60_SETUPS and name.action <= 60
    return name.action <= 120


def split_of(name: NTUName, *, version: int, protocol: str) -> str | None:
    """``train`` or ``test`` under ``protocol``; None for a sample that is not part of ``version``."""
    if not in_version(name, version):
        return None
    return "train" if is_train(name, version=version, protocol=protocol) else "test"


def split_names(names: Iterable[str], *, version: int, protocol: str) -> tuple[list[str], list[str]]:
    """Split sample names into (train, test) by the official protocol, keeping their order.

    Raises DataError for a name that does not follow the scheme or is not part of ``version``.
    """
    _resolve(version, protocol)
    out: dict[str, list[str]] = {"train": [], "test": []}
    for name in names:
        parts = parse_name(name)
        split = split_of(parts, version=version, protocol=protocol)
        if split is None:
            raise DataError(name, f"not a sample of NTU RGB+D {version} (setup {parts.setup}, action {parts.action})")
        out[split].append(str(name))
    return out["train"], out["test"]


def read_missing_list(path: str | Path) -> set[str]:
    """Sample names in an official ``*_samples_with_missing_skeletons.txt`` (header lines ignored)."""
    p = Path(path)
    text = read_text(p, "missing-skeleton list")
    names = {line.strip() for line in text.splitlines() if _NAME.fullmatch(line.strip())}
    if not names:
        raise DataError(p, "no sample names (SsssCcccPpppRrrrAaaa) in the missing-skeleton list")
    return names


#: ``records(missing_list=...)`` not given (warns), as opposed to None (kept knowingly, no warning).
NOT_GIVEN: Any = object()


def records(*, video_dir: str | Path | None = None, pose_dir: str | Path | None = None, protocol: str,
            split: str, version: int | None = None, missing_list: str | Path | None = NOT_GIVEN) -> Records:
    """The samples of one split, found by scanning the folders as the release ships them.

    Args:
        video_dir: folder with ``<name>_rgb.avi`` (searched recursively); None for pose-only use.
        pose_dir: folder with ``<name>.skeleton``; None for video-only use.
        protocol: ``cs``/``cv`` (NTU-60) or ``csub``/``cset`` (NTU-120).
        split: ``train``, ``test`` or ``all``.
        version: 60 or 120; by default the protocol's. NTU-60 from an NTU-120 folder takes setups 1-17.
        missing_list: the official list of samples with missing or incomplete skeletons, excluded (and
            reported) as the protocols say. None keeps them (a knowing choice: no warning); not given,
            they are kept and a warning says so. (From a config, ``data.missing_list`` is always given:
            :func:`vpnet.engine.config_loader.load_config` warns when no layer of the config sets it.)

    Returns:
        :class:`Records` sorted by name; ``.skipped`` lists the items left out (a video without
        skeleton or the other way round, a name off the scheme, a listed missing sample).
    """
    version = version_of(protocol) if version is None else version
    prot = _resolve(version, protocol)
    dataset = f"NTU RGB+D {version}"
    split = choice(split, SPLITS, f"{dataset} splits")
    warn = missing_list is NOT_GIVEN
    missing_list = None if warn else missing_list
    missing = read_missing_list(missing_list) if missing_list is not None else set()

    def describe(name: str) -> dict | None:
        parts = parse_name(name)
        of = split_of(parts, version=version, protocol=prot)
        if of is None or split not in ("all", of):
            return None  # another split, or e.g. an NTU-120 sample in the folder of an NTU-60 run
        if name in missing:
            raise DataError(None, "in the official list of samples with missing skeletons")
        return dict(label=parts.label, subject=parts.performer, camera=parts.camera,
                    meta={"setup": parts.setup, "replication": parts.replication})

    out = pair(dataset, split, describe, video_dir=video_dir, video_suffixes=(VIDEO_SUFFIX,),
               video_file="video {}" + VIDEO_SUFFIX, pose_dir=pose_dir, pose_suffixes=(SKELETON_SUFFIX,),
               pose_file="skeleton {}" + SKELETON_SUFFIX)
    if warn:
        file, count = MISSING_LISTS[version]
        log.warning("%s %s: the official protocol excludes the %d samples listed in %s from the official "
                    "NTU RGB+D repository; without that list they are used (set data.missing_list=...)",
                    dataset, split, count, file)
    return out


class NTUDataset(DatasetReader):
    """NTU RGB+D 60 or 120 as a registered dataset (``data.dataset=ntu60|ntu120``)."""

    layout = LAYOUT
    t_p = 20
    path_keys = ("video_dir", "pose_dir", "missing_list")
    optional_paths = ("missing_list",)

    def __init__(self, version: int):
        self.version = version
        self.name = f"ntu{version}"
        self.protocols = PROTOCOLS[version]

    def class_names(self, cfg: Any = None) -> list[str]:
        return class_names(self.version)

    def records(self, cfg: Any, split: str) -> Records:
        return records(protocol=cfg.protocol, split=split, version=self.version, **self.paths(cfg))

    def read_poses(self, path: str | Path) -> PoseSequence:
        return read_poses(path)


NTU60 = NTUDataset(60)
NTU120 = NTUDataset(120)

"""Small synthetic datasets in the owners' real file formats, for tests, CI and the demo.

Each generator writes a folder laid out like the real release, with files the real readers read:

- :func:`make_ntu`: ``nturgb+d_skeletons/<name>.skeleton`` (the exact CRLF text layout) and
  ``nturgb+d_rgb/<name>_rgb.avi`` (H.264), names ``SsssCcccPpppRrrrAaaa``;
- :func:`make_smarthome`: ``mp4/<name>.mp4`` (H.264), LCR-Net ``json/<name>_pose3d.json`` and the
  split files ``splits/{train,validation,test}_{CS,CV1,CV2}.txt``;
- :func:`make_nucla`: ``skeletons/<name>.json`` and ``videos/<name>.avi`` (MPEG-4 Part 2);
- :func:`make_custom`: ``videos/<name>.mp4``, generic ``poses/<name>.npz`` and ``manifest.csv``.

:func:`random_skeleton_text` writes the ``.skeleton`` layout with random values (parser tests, benchmarks).

The people are stick figures drawn with OpenCV. Every class has its own motion (waving one arm,
squatting, kicking, turning, ...; :data:`MOTIONS`), so classes can be told apart from the video
and from the poses alike. The 3D joints are placed in front of a pinhole camera and the 2D joints
in the files are their projections, which is exactly where they are drawn: a crop box from the
2D joints contains the person. Everything is a pure function of ``seed`` (and of the sample), and
a demo-sized dataset (~60 clips) takes a few seconds.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vpnet.data._readers import project
from vpnet.skeletons import LCRNET13, NTU25, UCLA20

#: the motion of class k is MOTIONS[k % len(MOTIONS)], played faster for k >= len(MOTIONS).
MOTIONS = ("wave_right", "wave_left", "arms_up_down", "squat", "side_step", "bow", "kick_right",
           "punch", "turn", "clap")

# Pinhole camera of the NTU files: colorX = FX * x / z + CX in 1920x1080 pixels (fitted on the
# real sample S001C001P001R001A001: 1046 x/z + 976; -1056 y/z + 567), depth image 512x424.
NTU_COLOR = (1050.0, 960.0, 540.0)
NTU_DEPTH = (366.5, 256.0, 212.0)

_BODY_ID0 = 72057594037927936  # 2**56: real NTU body ids are 2**56 + a small counter


@dataclass(frozen=True)
class SyntheticDataset:
    """Where a generator wrote its dataset and what is in it."""

    root: Path
    video_dir: Path
    pose_dir: Path
    #: every sample written (videos; a sample in ``missing`` has no pose file).
    names: list[str]
    labels: list[int]  # 0-based, aligned with names
    class_names: list[str]
    split_dir: Path | None = None
    manifest: Path | None = None
    #: official-format list of samples written without a skeleton file (NTU), else None.
    missing_list: Path | None = None
    missing: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# the figure and its motions (NTU-25 joints, metres, body frame: x to the image right, y up,
# z away from the camera; NTU's "left" joints appear on the image left, as in the real data)

_REST = {
    "spine_base": (0.0, 0.0, 0.0), "spine_mid": (0.0, 0.30, 0.01), "spine_shoulder": (0.0, 0.52, 0.02),
    "neck": (0.0, 0.58, 0.02), "head": (0.0, 0.72, 0.0),
    "shoulder_l": (-0.18, 0.50, 0.02), "elbow_l": (-0.22, 0.24, 0.03), "wrist_l": (-0.24, 0.01, 0.02),
    "hand_l": (-0.245, -0.06, 0.01), "handtip_l": (-0.25, -0.14, 0.0), "thumb_l": (-0.21, -0.08, -0.01),
    "hip_l": (-0.09, -0.02, 0.0), "knee_l": (-0.10, -0.47, -0.02), "ankle_l": (-0.10, -0.88, 0.0),
    "foot_l": (-0.10, -0.93, -0.12),
}
for _k, (_x, _y, _z) in list(_REST.items()):
    if _k.endswith("_l"):
        _REST[_k[:-2] + "_r"] = (-_x, _y, _z)
REST_POSE = np.array([_REST[j] for j in NTU25.joints], dtype=np.float64)  # (25, 3)
#: height of spine_base above the floor at scale 1.
_PELVIS_HEIGHT = 0.95


def _idx(*names: str) -> list[int]:
    return [NTU25.index(n) for n in names]


_ARM = {s: _idx(f"shoulder_{s}", f"elbow_{s}", f"wrist_{s}", f"hand_{s}", f"handtip_{s}", f"thumb_{s}") for s in "lr"}
_FOREARM = {s: _idx(f"wrist_{s}", f"hand_{s}", f"handtip_{s}", f"thumb_{s}") for s in "lr"}
_LEG = {s: _idx(f"hip_{s}", f"knee_{s}", f"ankle_{s}", f"foot_{s}") for s in "lr"}
_SHIN = {s: _idx(f"ankle_{s}", f"foot_{s}") for s in "lr"}
_UPPER = _idx("spine_mid", "spine_shoulder", "neck", "head") + _ARM["l"] + _ARM["r"]
_LOWER_THAN_KNEE = _SHIN["l"] + _SHIN["r"]


def _rotation(angle: np.ndarray, axis: str) -> np.ndarray:
    """(T, 3, 3) rotations by ``angle`` (T,) radians about the x, y or z axis."""
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    rows = {"x": [[o, z, z], [z, c, -s], [z, s, c]],
            "y": [[c, z, s], [z, o, z], [-s, z, c]],
            "z": [[c, -s, z], [s, c, z], [z, z, o]]}[axis]
    return np.moveaxis(np.array(rows, dtype=np.float64), -1, 0)


def _rotate(pose: np.ndarray, joints: list[int], pivot: int, angle: np.ndarray, axis: str) -> None:
    """Rotate ``joints`` of ``pose`` (T, 25, 3) about joint ``pivot``, in place."""
    p = pose[:, pivot:pivot + 1, :]
    pose[:, joints] = np.einsum("tij,tnj->tni", _rotation(angle, axis), pose[:, joints] - p) + p


def _animate(motion: str, phase: np.ndarray, amp: float) -> np.ndarray:
    """(T, 25, 3) body-frame joints performing ``motion`` at phases ``phase`` (T,) radians."""
    pose = np.repeat(REST_POSE[None], len(phase), axis=0)
    sh = {s: NTU25.index(f"shoulder_{s}") for s in "lr"}
    el = {s: NTU25.index(f"elbow_{s}") for s in "lr"}
    hip = {s: NTU25.index(f"hip_{s}") for s in "lr"}
    kn = {s: NTU25.index(f"knee_{s}") for s in "lr"}
    up = (1 - np.cos(phase)) / 2  # 0 -> 1 -> 0 once per cycle
    if motion in ("wave_right", "wave_left"):
        s, sign = ("r", 1.0) if motion == "wave_right" else ("l", -1.0)
        _rotate(pose, _FOREARM[s], el[s], sign * amp * (0.4 + 0.5 * np.sin(phase)), "z")
        _rotate(pose, _ARM[s], sh[s], sign * amp * np.full_like(phase, 2.5), "z")
    elif motion == "arms_up_down":
        for s, sign in (("r", 1.0), ("l", -1.0)):
            _rotate(pose, _ARM[s], sh[s], sign * amp * 2.8 * up, "z")
    elif motion == "squat":
        depth = 0.35 * amp * up
        for s in "lr":  # knees forward, everything above the knees down
            _rotate(pose, _idx(f"knee_{s}"), NTU25.index(f"ankle_{s}"), -0.9 * amp * up, "x")
        above = [i for i in range(25) if i not in _LOWER_THAN_KNEE + _idx("knee_l", "knee_r")]
        pose[:, above, 1] -= depth[:, None]
        pose[:, above, 2] += 0.5 * depth[:, None]
    elif motion == "side_step":
        pose[..., 0] += 0.35 * amp * np.sin(phase)[:, None]
        for s, sign in (("r", 1.0), ("l", -1.0)):
            _rotate(pose, _LEG[s], hip[s], sign * 0.35 * amp * np.abs(np.sin(phase)), "z")
    elif motion == "bow":
        _rotate(pose, _UPPER, NTU25.index("spine_base"), -1.0 * amp * up, "x")
    elif motion == "kick_right":
        _rotate(pose, _SHIN["r"], kn["r"], 0.6 * amp * up, "x")
        _rotate(pose, _LEG["r"], hip["r"], -1.3 * amp * up, "x")
    elif motion == "punch":
        for s, wave in (("r", np.sin(phase)), ("l", -np.sin(phase))):
            _rotate(pose, _ARM[s], sh[s], -1.5 * amp * np.clip(wave, 0, None), "x")
    elif motion == "turn":
        c = pose[:, :1, :].copy()
        pose[:] = np.einsum("tij,tnj->tni", _rotation(math.pi * amp * up, "y"), pose - c) + c
    elif motion == "clap":
        for s, sign in (("r", 1.0), ("l", -1.0)):
            _rotate(pose, _ARM[s], sh[s], -sign * amp * (0.15 + 0.35 * up), "z")
            _rotate(pose, _ARM[s], sh[s], np.full_like(phase, -1.35 * amp), "x")
    else:
        raise ValueError(f"unknown motion {motion!r}; known: {', '.join(MOTIONS)}")
    return pose


@dataclass(frozen=True)
class _Person:
    """One figure of a clip: motion and placement."""

    motion: str
    freq: float  # cycles per second
    phase0: float
    amp: float
    scale: float
    x: float  # metres, camera space
    z: float
    yaw: float  # radians, rotation about the vertical axis (camera view)
    color: tuple[int, int, int]
    idle: bool = False  # a bystander: sways a little instead of performing


def _person_joints(person: _Person, num_frames: int, fps: float, floor_y: float,
                   rng: np.random.Generator) -> np.ndarray:
    """(T, 25, 3) camera-space joints (x right, y up, z away) of one figure."""
    t = np.arange(num_frames) / fps
    phase = 2 * math.pi * person.freq * t + person.phase0
    if person.idle:
        pose = np.repeat(REST_POSE[None], num_frames, axis=0)
        pose[..., 0] += 0.01 * np.sin(0.5 * phase)[:, None]
    else:
        pose = _animate(person.motion, phase, person.amp)
    pose = pose * person.scale
    pose = np.einsum("ij,tnj->tni", _rotation(np.array([person.yaw]), "y")[0], pose)
    pose += np.array([person.x, floor_y + _PELVIS_HEIGHT * person.scale, person.z])
    pose += rng.normal(0.0, 0.004, pose.shape)  # sensor noise, a few millimetres
    return pose


# ---------------------------------------------------------------------------------------------
# rendering and video writing


def _background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A room: wall gradient, floor, a few pieces of furniture. (H, W, 3) uint8 RGB."""
    import cv2

    w, h = size
    wall = rng.uniform(120, 220, 3)
    floor = rng.uniform(60, 140, 3)
    img = np.empty((h, w, 3), np.float32)
    ramp = np.linspace(0.85, 1.1, w, dtype=np.float32)[None, :, None]
    img[:] = wall[None, None] * ramp
    horizon = int(h * rng.uniform(0.55, 0.7))
    img[horizon:] = floor[None, None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 5))):
        x0, y0 = int(rng.integers(0, w - w // 6)), int(rng.integers(h // 5, horizon))
        x1, y1 = x0 + int(rng.integers(w // 12, w // 4)), y0 + int(rng.integers(h // 10, h // 3))
        cv2.rectangle(img, (x0, y0), (x1, y1), tuple(int(c) for c in rng.uniform(30, 230, 3)), -1)
    return img


def _draw(img: np.ndarray, uv: np.ndarray, depth: float, focal: float, color: tuple[int, int, int]) -> None:
    """Draw one NTU-25 stick figure whose joints are at pixels ``uv`` (25, 2), in place."""
    import cv2

    sub = 16  # cv2 fixed-point: 4 fractional bits, so joints land where uv says to 1/16 px
    pts = np.round(uv * sub).astype(np.int64)
    thick = max(2, int(round(0.06 * focal / depth)))
    for a, b in NTU25.bones:
        cv2.line(img, tuple(pts[a].tolist()), tuple(pts[b].tolist()), color, thick, cv2.LINE_AA, shift=4)
    head = NTU25.index("head")
    cv2.circle(img, tuple(pts[head].tolist()), int(round(0.09 * focal / depth * sub)), color, -1, cv2.LINE_AA, shift=4)
    dark = tuple(int(c * 0.5) for c in color)
    for p in pts:
        cv2.circle(img, tuple(p.tolist()), int(thick * sub * 0.6), dark, -1, cv2.LINE_AA, shift=4)


def write_video(path: str | Path, frames: Iterable[np.ndarray], *, fps: float = 30.0, codec: str = "libx264") -> int:
    """Encode RGB frames (H, W, 3) uint8 with PyAV; the container follows the suffix. Returns the count.

    ``codec``: ``libx264`` (H.264, with B-frames like the NTU videos) or ``mpeg4`` (MPEG-4 Part 2).
    One encoder thread; even so, libx264 may write different bytes for the same frames (the decoded
    frames differ by a fraction of a grey level on average): compare decoded frames, not files.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"libx264": {"preset": "veryfast", "crf": "18", "threads": "1"},
               "mpeg4": {"qscale": "3", "threads": "1"}}.get(codec, {"threads": "1"})
    n = 0
    with av.open(str(path), "w") as container:
        stream = None
        for rgb in frames:
            if stream is None:
                h, w = rgb.shape[:2]
                stream = container.add_stream(codec, rate=int(round(fps)), options=options)
                stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                container.mux(packet)
            n += 1
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in stream.encode():
            container.mux(packet)
    return n


def _render(bg: np.ndarray, people_uv: list[np.ndarray], people_depth: list[np.ndarray], focal: float,
            colors: list[tuple[int, int, int]]):
    """Yield one RGB frame per time step with every figure drawn (far ones first).

    ``people_uv``: per figure (T, 25, 2) pixels; ``people_depth``: per figure (T,) metres.
    """
    for t in range(people_uv[0].shape[0]):
        img = bg.copy()
        for k in sorted(range(len(people_uv)), key=lambda k: -float(people_depth[k][t])):
            _draw(img, people_uv[k][t], float(people_depth[k][t]), focal, colors[k])
        yield img


# ---------------------------------------------------------------------------------------------
# common sampling of a clip


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = int(size[0]), int(size[1])
    if w < 32 or h < 32 or w % 2 or h % 2:
        raise ValueError(f"frame size must be even and at least 32x32 (H.264/MPEG-4 4:2:0), got {w}x{h}")
    return w, h


_PALETTE = [(220, 60, 50), (40, 120, 220), (50, 170, 70), (230, 160, 30), (150, 60, 190), (30, 170, 170),
            (200, 80, 140), (120, 100, 40)]


def _people(rng: np.random.Generator, label: int, performer: int, yaw: float, *, two_body: bool,
            bystander: bool) -> list[_Person]:
    """The figures of one clip: the actor (performer-specific look), maybe a partner or bystander."""
    motion = MOTIONS[label % len(MOTIONS)]
    speed = 1.0 + 0.6 * (label // len(MOTIONS))
    look = np.random.default_rng(performer)  # the same performer looks the same in every clip
    scale = float(look.uniform(0.88, 1.1))
    color = _PALETTE[performer % len(_PALETTE)]

    def person(x: float, **kw) -> _Person:
        base = dict(motion=motion, freq=float(speed * rng.uniform(0.75, 1.05)),
                    phase0=float(rng.uniform(0, 0.6)), amp=float(rng.uniform(0.85, 1.0)), scale=scale,
                    x=x, z=float(rng.uniform(3.0, 3.6)), yaw=yaw + float(rng.uniform(-0.15, 0.15)), color=color)
        base.update(kw)
        return _Person(**base)

    if two_body:  # an interaction: both people perform, facing each other a little
        return [person(-0.45 + rng.uniform(-0.05, 0.05), yaw=yaw + 0.4),
                person(0.45 + rng.uniform(-0.05, 0.05), yaw=yaw - 0.4, scale=float(look.uniform(0.9, 1.05)),
                       color=_PALETTE[(performer + 3) % len(_PALETTE)])]
    people = [person(float(rng.uniform(-0.25, 0.25)))]
    if bystander:
        people.append(person(float(rng.choice([-1, 1]) * rng.uniform(0.8, 1.0)), idle=True,
                             z=float(rng.uniform(3.8, 4.3)), color=(90, 90, 90)))
    return people


@dataclass
class _Clip:
    """The people of one clip and their camera-space joints."""

    people: list[_Person]
    joints: np.ndarray  # (T, P, 25, 3) metres, camera space
    rng: np.random.Generator  # continues the clip's random stream (files, background)

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    def video(self, path: Path, uv: np.ndarray, focal: float, size: tuple[int, int], fps: float,
              codec: str = "libx264") -> None:
        """Render the clip with every person drawn at ``uv`` (T, P, 25, 2) frame pixels."""
        frames = _render(_background(self.rng, size), [uv[:, m] for m in range(uv.shape[1])],
                         [self.joints[:, m, 0, 2] for m in range(uv.shape[1])], focal,
                         [p.color for p in self.people])
        write_video(path, frames, fps=fps, codec=codec)


def _make_clip(seed: int, dataset: str, label: int, index: int, *, performer: int, yaw: float, frames: int,
               fps: float, two_body_every: int, bystander: float) -> _Clip:
    """A clip of class ``label``: its people and joints, a pure function of the arguments."""
    rng = np.random.default_rng([seed, sum(map(ord, dataset)), label, index])
    num_frames = max(8, int(round(frames * rng.uniform(0.85, 1.15))))
    two = two_body_every > 0 and label % two_body_every == two_body_every - 1
    people = _people(rng, label, performer, yaw, two_body=two, bystander=not two and rng.random() < bystander)
    floor_y = float(rng.uniform(-0.9, -0.8))
    joints = np.stack([_person_joints(p, num_frames, fps, floor_y, rng) for p in people], axis=1)
    return _Clip(people, joints, rng)


def _frame_camera(size: tuple[int, int]) -> tuple[float, float, float]:
    """A camera with the NTU (Kinect v2 colour) field of view for frames of ``size``."""
    return (NTU_COLOR[0] * size[0] / 1920, size[0] / 2, size[1] / 2)


# ---------------------------------------------------------------------------------------------
# NTU RGB+D

# Performer / camera / setup of sample i of a class, so that every protocol has train and test
# items from 2 samples per class on: cross-subject trains performers 1, 2, 4 and tests 3, 6, 7;
# cross-view trains cameras 2, 3 and tests 1; cross-setup trains even setups.
_NTU_PERFORMERS = (1, 3, 2, 6, 4, 7)
#: camera view angle about the vertical axis (NTU cameras stand at -45, 0, +45 degrees).
_NTU_CAMERA_YAW = {1: 0.0, 2: math.radians(45), 3: math.radians(-45)}


def _fmt(v: float) -> str:
    return f"{v:.7g}"


def _ntu_text(joints: np.ndarray, present: np.ndarray, ids: list[str], rng: np.random.Generator,
              state: np.ndarray | None = None) -> str:
    """The .skeleton text (CRLF) for camera-space joints (T, M, 25, 3) of bodies ``present`` (T, M);
    ``state`` (T, M, 25): the joints' tracking states (default 2, tracked; 1 is inferred)."""
    uv = project(joints, NTU_COLOR)
    duv = project(joints, NTU_DEPTH)
    lean = rng.uniform(-0.3, 0.3, (len(ids), 2))
    lines = [str(joints.shape[0])]
    for t in range(joints.shape[0]):
        bodies = np.flatnonzero(present[t])
        lines.append(str(len(bodies)))
        for m in bodies:
            lines.append(f"{ids[m]} 0 1 1 1 1 0 {_fmt(lean[m, 0])} {_fmt(lean[m, 1])} 2")
            lines.append("25")
            for j in range(25):
                x, y, z = joints[t, m, j]
                # orientation: the Kinect gives none (0 0 0 0) for end joints; identity elsewhere
                orient = "0 0 0 0" if j in (3, 15, 19, 21, 22, 23, 24) else "1 0 0 0"
                tracking = 2 if state is None else int(state[t, m, j])
                lines.append(f"{_fmt(x)} {_fmt(y)} {_fmt(z)} {_fmt(duv[t, m, j, 0])} {_fmt(duv[t, m, j, 1])} "
                             f"{_fmt(uv[t, m, j, 0])} {_fmt(uv[t, m, j, 1])} {orient} {tracking}")
    return "\r\n".join(lines) + "\r\n"


def random_skeleton_text(frames: Sequence[Sequence[str]], *, seed: int = 0) -> str:
    """``.skeleton`` text (CRLF) with the bodies ``frames[t]`` (body ids) in frame ``t``, every value
    random but of the release's magnitude and 7 significant digits: the exact layout without a
    figure behind it, for parser tests and benchmarks (:func:`make_ntu` writes real figures)."""
    rng = np.random.default_rng(seed)
    scale = np.array([0.5, 0.5, 3, 100, 100, 500, 300, 1, 1, 1, 1])  # x y z depthXY colorXY orientation
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for bid in bodies:
            lines += [f"{bid} 0 1 1 1 1 0 0.02764709 0.05745083 2", "25"]
            lines += [" ".join(map(_fmt, rng.normal(size=11) * scale)) + " 2" for _ in range(25)]
    return "\r\n".join(lines) + "\r\n"


def make_ntu(root: str | Path, *, num_classes: int = 5, per_class: int = 6, frames: int = 48,
             size: tuple[int, int] = (320, 180), fps: float = 30.0, seed: int = 0, version: int = 60,
             two_body_every: int = 4, bystander: float = 0.2, tracking_gaps: float = 0.2,
             missing_skeletons: int = 0, videos: bool = True) -> SyntheticDataset:
    """Write a small NTU RGB+D-format dataset under ``root``.

    Args:
        num_classes: actions A001..; class k moves as ``MOTIONS[k % 10]`` (faster for k >= 10).
        per_class: samples per class (2+ puts train and test items in every protocol; 6 covers
            every performer/camera combination used).
        frames: about this many frames per clip (each clip varies by +-15 %).
        size: (width, height) of the videos. colorX/colorY are written in 1920x1080 pixels like
            the real files; the video shows the same view scaled to ``size`` (use 16:9 to keep
            the aspect).
        version: 60 or 120 (only changes the class names; setups stay 1-2).
        two_body_every: every n-th class is an interaction of two people (0: none).
        bystander: fraction of one-person clips with an idle second person further back (the
            main actor is the one who moves).
        tracking_gaps: fraction of clips where the actor's skeleton is lost for a few frames in
            the middle (still drawn) and comes back under a new body id, as the Kinect does.
        missing_skeletons: this many samples get a video but no ``.skeleton``, and are listed in
            ``samples_with_missing_skeletons.txt`` (the official list's format). (The real release
            ships empty or partial ``.skeleton`` files for its listed samples; an absent file also
            exercises the pairing report.)
        videos: False writes the skeletons only (fast, for pose-only tests).

    Returns:
        :class:`SyntheticDataset` (``video_dir`` = ``nturgb+d_rgb``, ``pose_dir`` = ``nturgb+d_skeletons``).
    """
    from vpnet.data import ntu

    w, h = _check_size(size)
    if per_class < 1 or num_classes < 1:
        raise ValueError("num_classes and per_class must be >= 1")
    if num_classes > version:
        raise ValueError(f"NTU RGB+D {version} has {version} classes, asked for {num_classes}")
    root = Path(root)
    video_dir, pose_dir = root / "nturgb+d_rgb", root / "nturgb+d_skeletons"
    pose_dir.mkdir(parents=True, exist_ok=True)
    video_dir.mkdir(parents=True, exist_ok=True)
    names, labels = [], []
    for label in range(num_classes):
        for i in range(per_class):
            name = str(ntu.NTUName(setup=1 + i % 2, camera=1 + i % 3, performer=_NTU_PERFORMERS[i % 6],
                                   replication=1 + i // 6, action=label + 1))
            names.append(name)
            labels.append(label)
    # the samples without skeleton: spread over the classes, deterministic
    drop = set(np.random.default_rng([seed, 7]).permutation(len(names))[:missing_skeletons].tolist())
    missing = [names[k] for k in sorted(drop)]
    focal = NTU_COLOR[0] * w / 1920
    for k, (name, label) in enumerate(zip(names, labels)):
        parts = ntu.parse_name(name)
        clip = _make_clip(seed, "ntu", label, k, performer=parts.performer, yaw=_NTU_CAMERA_YAW[parts.camera],
                          frames=frames, fps=fps, two_body_every=two_body_every, bystander=bystander)
        rng, num_frames, joints = clip.rng, clip.num_frames, clip.joints
        present = np.ones((num_frames, len(clip.people)), dtype=bool)
        ids = [str(_BODY_ID0 + int(rng.integers(1000, 60000))) for _ in clip.people]
        if rng.random() < tracking_gaps and num_frames >= 16:
            # the actor's track is lost for a few frames, then comes back with a new id
            a = int(rng.integers(num_frames // 3, num_frames // 2))
            b = a + int(rng.integers(2, 5))
            joints = np.concatenate([joints, joints[:, :1]], axis=1)
            present = np.concatenate([present, present[:, :1]], axis=1)
            present[a:, 0] = False
            present[:b, -1] = False
            ids.append(str(int(ids[0]) + 1))
        if k not in drop:
            (pose_dir / f"{name}{ntu.SKELETON_SUFFIX}").write_bytes(
                _ntu_text(joints, present, ids, rng).encode("ascii"))
        if videos:
            # drawn at the projections written to the file (which keeps 7 significant digits:
            # < 0.001 px apart), tracked or not
            uv = project(clip.joints, NTU_COLOR) * np.array([w / 1920, h / 1080])
            clip.video(video_dir / f"{name}{ntu.VIDEO_SUFFIX}", uv, focal, (w, h), fps)
    missing_list = None
    if missing:
        missing_list = root / "samples_with_missing_skeletons.txt"
        missing_list.write_text(f"{len(missing)} of the captured samples in this synthetic NTU RGB+D dataset "
                                "have missing skeleton data.\nPlease ignore these files.\n\n"
                                + "\n".join(missing) + "\n")
    return SyntheticDataset(root=root, video_dir=video_dir, pose_dir=pose_dir, names=names, labels=labels,
                            class_names=ntu.class_names(version)[:num_classes], missing_list=missing_list,
                            missing=missing)



# ---------------------------------------------------------------------------------------------
# Toyota Smarthome

# Subjects of sample i: CS trains 3, 4, 6, validates 19, tests 2, 10 (the real split's sets);
# cameras: CV1 trains c01, validates c05, tests c02; CV2 also trains c03.
_SH_SUBJECTS = (3, 2, 4, 10, 19, 6)
_SH_CS = {"train": {3, 4, 6, 7, 9, 12, 13, 15, 17}, "validation": {19, 25}, "test": {2, 10, 11, 14, 16, 18, 20}}
_SH_CAMERAS = (1, 2, 5, 3)
_SH_CV = {"CV1": {"train": {1}, "validation": {5}, "test": {2}},
          "CV2": {"train": {1, 3, 4, 6, 7}, "validation": {5}, "test": {2}}}
_SH_CAMERA_YAW = {1: 0.0, 2: math.radians(60), 3: math.radians(-40), 5: math.radians(25)}


def _lcrnet_detection(xyz: np.ndarray, uv: np.ndarray, rng: np.random.Generator) -> dict:
    """One LCR-Net detection from NTU-25 joints: 13 joints, pose3d pelvis-relative with y down."""
    sel = [NTU25.index(j) for j in LCRNET13.joints]
    p3 = xyz[sel] - (xyz[NTU25.index("hip_l")] + xyz[NTU25.index("hip_r")]) / 2
    p3 = p3 * np.array([1.0, -1.0, 1.0])  # LCR-Net: image axes, y down
    p2 = uv[sel]
    return {"pose2d": [round(float(v), 2) for v in p2.T.ravel()],
            "pose3d": [round(float(v), 4) for v in p3.T.ravel()],
            "cumscore": round(float(rng.uniform(5, 25)), 3)}


def make_smarthome(root: str | Path, *, num_classes: int = 5, per_class: int = 6, frames: int = 48,
                   size: tuple[int, int] = (320, 240), fps: float = 20.0, seed: int = 0,
                   bystander: float = 0.3, empty_frames: float = 0.2, videos: bool = True) -> SyntheticDataset:
    """Write a small Toyota Smarthome-format dataset under ``root``.

    Classes are the first ``num_classes`` of the 19 cross-view classes (all of them also CS
    classes), so every protocol works; ``labels`` are the CS labels. Clips go to ``mp4/``
    (H.264), LCR-Net poses to ``json/<name>_pose3d.json`` (pose2d in video pixels, pose3d
    pelvis-relative in metres with y down, flat ``[13 x, 13 y, 13 z]``), and the split files
    ``{train,validation,test}_{CS,CV1,CV2}.txt`` to ``splits/`` (CS by subject, CV by camera, as
    in the real splits).

    Args:
        bystander: fraction of clips with a second, idle detection (listed in random order, so a
            reader must link detections over frames).
        empty_frames: fraction of clips whose first frames have no detection.
    """
    from vpnet.data import smarthome

    w, h = _check_size(size)
    cv_classes = smarthome.class_names("cv1")
    if not 1 <= num_classes <= len(cv_classes) or per_class < 1:
        raise ValueError(f"num_classes must be 1..{len(cv_classes)} and per_class >= 1")
    root = Path(root)
    video_dir, pose_dir, split_dir = root / "mp4", root / "json", root / "splits"
    for d in (video_dir, pose_dir, split_dir):
        d.mkdir(parents=True, exist_ok=True)
    cam = _frame_camera((w, h))
    names, labels = [], []
    splits: dict[str, list[str]] = {
        f"{s}_{p}": [] for p in ("CS", "CV1", "CV2") for s in ("train", "validation", "test")}
    for label in range(num_classes):
        action = cv_classes[label]
        for i in range(per_class):
            subject, camera = _SH_SUBJECTS[i % 6], _SH_CAMERAS[i % 4]
            name = str(smarthome.SmarthomeName(action, subject, i // 6, 1 + i, camera))
            clip = _make_clip(seed, "smarthome", label, i, performer=subject, yaw=_SH_CAMERA_YAW[camera],
                              frames=frames, fps=fps, two_body_every=0, bystander=bystander)
            uv = project(clip.joints, cam)
            rng = clip.rng
            first = int(rng.integers(2, 5)) if rng.random() < empty_frames else 0
            doc_frames = []
            for t in range(clip.num_frames):
                dets = [] if t < first else [_lcrnet_detection(clip.joints[t, m], uv[t, m], rng)
                                             for m in range(len(clip.people))]
                rng.shuffle(dets)  # LCR-Net lists detections by score, not by person
                doc_frames.append(dets)
            doc = {"njts": 13, "K": [[cam[0], 0, cam[1]], [0, cam[0], cam[2]], [0, 0, 1]], "frames": doc_frames}
            (pose_dir / f"{name}_pose3d.json").write_text(json.dumps(doc, separators=(",", ":")))
            if videos:
                clip.video(video_dir / f"{name}.mp4", uv, cam[0], (w, h), fps)
            names.append(name)
            labels.append(smarthome.label_of(name, "cs"))
            for split, subjects in _SH_CS.items():
                if subject in subjects:
                    splits[f"{split}_CS"].append(name)
            for prot, sets in _SH_CV.items():
                for split, cameras in sets.items():
                    if camera in cameras:
                        splits[f"{split}_{prot}"].append(name)
    for key, items in splits.items():
        (split_dir / f"{key}.txt").write_text("".join(f"{n}.mp4\n" for n in items))
    return SyntheticDataset(root=root, video_dir=video_dir, pose_dir=pose_dir, names=names, labels=labels,
                            class_names=cv_classes[:num_classes], split_dir=split_dir)


# ---------------------------------------------------------------------------------------------
# Northwestern-UCLA

_NUCLA_VIEW_YAW = {1: 0.0, 2: math.radians(50), 3: math.radians(-50)}


def make_nucla(root: str | Path, *, num_classes: int = 10, per_class: int = 6, frames: int = 32,
               size: tuple[int, int] = (320, 240), fps: float = 30.0, seed: int = 0,
               videos: bool = True) -> SyntheticDataset:
    """Write a small Northwestern-UCLA-format dataset under ``root``.

    Skeleton JSON ``{"file_name", "skeletons": T x 20 x 3, "label": 1..10}`` in ``skeletons/``
    and MPEG-4 Part 2 videos ``videos/<name>.avi``, drawn with the Kinect v1 nominal camera the
    reader projects with (so its uv are where the joints are drawn). Sample i of a class is
    seen from view ``1 + i % 3`` (view 3 tests in protocol v3) by subject ``1 + i // 3``.
    """
    from vpnet.data import nucla

    w, h = _check_size(size)
    if not 1 <= num_classes <= len(nucla.ACTIONS) or per_class < 1:
        raise ValueError(f"num_classes must be 1..{len(nucla.ACTIONS)} and per_class >= 1")
    root = Path(root)
    video_dir, pose_dir = root / "videos", root / "skeletons"
    for d in (video_dir, pose_dir):
        d.mkdir(parents=True, exist_ok=True)
    sel = [NTU25.index(j) for j in UCLA20.joints if j not in ("hip_center", "spine", "shoulder_center")]
    sel = [NTU25.index("spine_base"), NTU25.index("spine_mid"), NTU25.index("spine_shoulder")] + sel
    f, cx, cy = nucla.INTRINSICS
    scale = np.array([w / nucla.IMAGE_SIZE[0], h / nucla.IMAGE_SIZE[1]])
    names, labels = [], []
    for label in range(num_classes):
        for i in range(per_class):
            name = str(nucla.NUCLAName(nucla.ACTIONS[label], 1 + i // 3, 0, 1 + i % 3))
            clip = _make_clip(seed, "nucla", label, i, performer=1 + i // 3, yaw=_NUCLA_VIEW_YAW[1 + i % 3],
                              frames=frames, fps=fps, two_body_every=0, bystander=0.0)
            sk = np.round(clip.joints[:, 0][:, sel], 6)
            doc = {"file_name": name, "skeletons": sk.tolist(), "label": label + 1}
            (pose_dir / f"{name}.json").write_text(json.dumps(doc, separators=(",", ":")))
            if videos:
                uv = project(clip.joints, nucla.INTRINSICS) * scale
                clip.video(video_dir / f"{name}.avi", uv, f * scale[0], (w, h), fps, codec="mpeg4")
            names.append(name)
            labels.append(label)
    return SyntheticDataset(root=root, video_dir=video_dir, pose_dir=pose_dir, names=names, labels=labels,
                            class_names=nucla.class_names()[:num_classes])


# ---------------------------------------------------------------------------------------------
# own data: generic poses + manifest


def make_custom(root: str | Path, *, num_classes: int = 3, per_class: int = 4, frames: int = 40,
                size: tuple[int, int] = (320, 240), fps: float = 30.0, seed: int = 0,
                videos: bool = True) -> SyntheticDataset:
    """Write a small "own data" dataset: ``videos/<name>.mp4``, generic ``poses/<name>.npz``
    (``xyz``, ``uv`` in video pixels, ``present``, ``layout``, ``image_size``), ``manifest.csv``
    (name, video, poses, label by class name, subject, camera, split = train/test; relative
    paths) and ``classes.txt`` (class order). Every 4th sample of a class is a test item.
    """
    w, h = _check_size(size)
    if not 1 <= num_classes <= len(MOTIONS) or per_class < 1:
        raise ValueError(f"num_classes must be 1..{len(MOTIONS)} and per_class >= 1")
    root = Path(root)
    video_dir, pose_dir = root / "videos", root / "poses"
    for d in (video_dir, pose_dir):
        d.mkdir(parents=True, exist_ok=True)
    cam = _frame_camera((w, h))
    classes = list(MOTIONS[:num_classes])
    names, labels, rows = [], [], []
    for label in range(num_classes):
        for i in range(per_class):
            name = f"{classes[label]}_{i:03d}"
            clip = _make_clip(seed, "custom", label, i, performer=1 + i % 5, yaw=float(np.radians(30 * (i % 3 - 1))),
                              frames=frames, fps=fps, two_body_every=0, bystander=0.0)
            uv = project(clip.joints, cam)
            np.savez(pose_dir / f"{name}.npz", xyz=clip.joints.astype(np.float32), uv=uv.astype(np.float32),
                     present=np.ones(clip.joints.shape[:2], bool), layout=np.array("ntu25"),
                     image_size=np.array([w, h]))
            if videos:
                clip.video(video_dir / f"{name}.mp4", uv, cam[0], (w, h), fps)
            names.append(name)
            labels.append(label)
            rows.append({"name": name, "video": f"videos/{name}.mp4", "poses": f"poses/{name}.npz",
                         "label": classes[label], "subject": 1 + i % 5, "camera": 1 + i % 3,
                         "split": "test" if i % 4 == 3 else "train"})
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in classes))
    return SyntheticDataset(root=root, video_dir=video_dir, pose_dir=pose_dir, names=names, labels=labels,
                            class_names=classes, manifest=manifest)

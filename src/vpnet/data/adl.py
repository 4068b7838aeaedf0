"""vpnet-ADL: a procedural Activities-of-Daily-Living dataset in the NTU RGB+D file format.

The built-in benchmark of ``vpnet demo``: NTU, Smarthome and N-UCLA cannot ship with vpnet, so the
demo makes a small dataset whose classes need both modalities, as in the paper's Fig. 1:

- **object pairs** (same motion, different small object): *drink from a cup* / *drink from a bottle*,
  *phone call* / *comb hair*, *read a book* / *use a tablet*, *wipe face with a towel* / *fan oneself*,
  *use a remote control* / *shine a torch*. The actor holds **both** objects of the pair, one in each
  hand, and raises both hands together to mirrored places beside the head (the place moves from clip
  to clip); only the acting hand then uses its object (the class's own small motion), the other one, the
  decoy, holds still. The acting hand alternates between left and right within every class and camera.
  The poses say which hand acts but not what it holds (pose alone is at chance inside a pair); the
  frame shows both objects, each on either side equally often, so no fixed image region holds the used
  object: telling the pair apart takes looking where the poses say the action is, the pose-driven
  attention's job. Each sample's ``annotations/<name>.json`` records, per frame, the image boxes of the
  acting hand with its object and of the decoy hand with its object (ground truth for measuring the
  attention, never given to a model).
- **depth pairs** (alike in 2D, different in 3D): *bow* / *lean back* and *kick forward* /
  *kick backward*. Facing the camera, each pair foreshortens the body the same way; the 3D joints
  say which way it moved (the +-45 degree cameras show some of it in 2D too).

Everything is rendered here with OpenCV, no external assets; the skeletons and the frames are
deterministic from the seed (the H.264 bytes may differ from run to run, the decoded frames barely):
articulated people (shaded limbs, head and hair, per-subject clothing colours, skin tone and
proportions), the NTU Kinect v2 pinhole camera at three views (-45, 0, +45 degrees, as NTU's
cameras 2, 1, 3) with a per-setup height and tilt, rooms with furniture and shelf clutter, frame
noise, and Kinect-like skeleton noise (jitter; inferred joints, tracking state 1, off by centimetres).

Files follow the NTU RGB+D release (``nturgb+d_skeletons/<name>.skeleton``,
``nturgb+d_rgb/<name>_rgb.avi``, names ``SsssCcccPpppRrrrAaaa``, joints in metres, colorX/colorY in
1920x1080 pixels, consistent with the frames), so the NTU reader, ``vpnet prepare``, the crops and
the NTU-60 protocols read them unchanged: cross-subject (``cs``) trains performers 1, 2, 4, 5, 8, 9
and tests 3, 6, 7; cross-view (``cv``) trains cameras 2, 3 and tests camera 1.
``data.dataset=adl`` is that reader with this dataset's class names (:data:`CLASSES`).

Generation is resumable: every file is written to a temporary name and renamed when complete, so a
rerun after an interruption writes only the missing files and never reuses a half-written one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vpnet._io import atomic_write_bytes, check_writable
from vpnet.data import ntu
from vpnet.data._readers import Records, Skipped, project
from vpnet.data.synthetic import NTU_COLOR, REST_POSE, _ntu_text, _rotate, _rotation, write_video
from vpnet.data.types import PoseSequence
from vpnet.errors import ConfigError, OutputError
from vpnet.skeletons import NTU25

log = logging.getLogger(__name__)

__all__ = ["CLASSES", "ADLClass", "ADLDataset", "ADL", "ADLSpec", "make_adl"]


@dataclass(frozen=True)
class ADLClass:
    """One action: its motion and, for the object classes, the object used and the one only held."""

    name: str
    motion: str
    used: str | None = None  # object in the acting hand
    held: str | None = None  # the pair's other object, in the other hand
    kind: str = "object"  # "object" (needs RGB) or "depth" (needs 3D poses)


def _pair(motion: str, a: tuple[str, str], b: tuple[str, str]) -> list[ADLClass]:
    return [ADLClass(a[0], motion, a[1], b[1]), ADLClass(b[0], motion, b[1], a[1])]


#: the classes, label = index (action ``A(i+1)`` in the file names); consecutive entries are pairs.
CLASSES: tuple[ADLClass, ...] = (
    *_pair("to_mouth", ("drink from cup", "cup"), ("drink from bottle", "bottle")),
    *_pair("to_ear", ("phone call", "phone"), ("comb hair", "comb")),
    *_pair("read", ("read book", "book"), ("use tablet", "tablet")),
    *_pair("wipe", ("wipe face with towel", "towel"), ("fan oneself", "fan")),
    *_pair("point", ("use remote control", "remote"), ("shine a torch", "torch")),
    ADLClass("bow", "bow", kind="depth"), ADLClass("lean back", "lean_back", kind="depth"),
    ADLClass("kick forward", "kick_forward", kind="depth"), ADLClass("kick backward", "kick_backward", kind="depth"),
)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)

#: the performers, in the order each class's videos cycle through them; cross-subject as NTU-60's
#: lists (1, 2, 4, 5, 8, 9 train; 3, 6, 7 test), interleaved so that any 3 consecutive ones hold a test one.
PERFORMERS = (1, 3, 2, 6, 4, 7, 5, 8, 9)
#: camera -> yaw of the person relative to the camera (NTU: camera 1 frontal, 2 and 3 at -+45 degrees).
CAMERA_YAW = {1: 0.0, 2: math.radians(-45), 3: math.radians(45)}


# ---------------------------------------------------------------------------------------------
# the dataset reader: NTU-60 files and protocols, this dataset's classes


#: ``csval``: a validation protocol carved from the cross-subject training performers (never the test
#: ones): it trains on performers 1, 4, 5, 9 and tests on 2, 8. Every design and recipe setting of
#: ``vpnet demo`` is chosen on it (``vpnet demo --validation``), and the test performers are used once.
VALIDATION_PERFORMERS = (2, 8)


class ADLDataset(ntu.NTUDataset):
    """``data.dataset=adl``: the NTU RGB+D reader and NTU-60 protocols (``cs``, ``cv``), :data:`CLASSES`, and
    ``csval`` (:data:`VALIDATION_PERFORMERS`)."""

    generated = True
    description = "vpnet-ADL, generated videos of rendered people"

    def __init__(self) -> None:
        super().__init__(60)
        self.name = "adl"
        self.protocols = (*self.protocols, "csval")

    def class_names(self, cfg: Any = None) -> list[str]:
        return list(CLASS_NAMES)

    def records(self, cfg: Any, split: str) -> Records:
        if cfg.protocol == "csval":
            train = self.records(_Protocol(cfg, "cs"), "train")
            held = split == "test"
            return Records([r for r in train if (ntu.parse_name(r.name).performer in VALIDATION_PERFORMERS) == held],
                           list(train.skipped))
        out = super().records(cfg, split)
        keep = [r for r in out if r.label < len(CLASSES)]
        if len(keep) == len(out):
            return out
        # e.g. real NTU files in the folder: their actions are not ours
        return Records(keep, [*out.skipped, *(Skipped(r.name, f"action A{r.label + 1:03d} is not one of the "
                                                              f"{len(CLASSES)} vpnet-ADL classes")
                                              for r in out if r.label >= len(CLASSES))])

    def read_poses(self, path: str | Path) -> PoseSequence:
        return ntu.read_poses(path)


class _Protocol:
    """``cfg`` with another ``protocol`` (the reader's config view)."""

    def __init__(self, cfg: Any, protocol: str):
        self._cfg, self.protocol = cfg, protocol

    def __getattr__(self, key: str) -> Any:
        return getattr(self._cfg, key)


ADL = ADLDataset()


# ---------------------------------------------------------------------------------------------
# people: looks and proportions per performer


@dataclass(frozen=True)
class _Look:
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    scale: float  # body height factor
    shoulders: float  # shoulder width factor
    arms: float  # arm length factor


_SHIRTS = [(200, 60, 60), (60, 90, 180), (70, 150, 80), (220, 170, 60), (130, 70, 150), (60, 160, 160),
           (230, 230, 230), (90, 90, 90), (180, 110, 60)]
_SKINS = [(238, 200, 170), (200, 150, 110), (150, 100, 70), (225, 180, 140), (110, 75, 55)]


def _look(performer: int) -> _Look:
    rng = np.random.default_rng([performer, 11])
    shirt = _SHIRTS[performer % len(_SHIRTS)]
    return _Look(shirt=shirt, trousers=tuple(int(c) for c in rng.uniform(25, 110, 3)),
                 skin=_SKINS[int(rng.integers(len(_SKINS)))], hair=tuple(int(c) for c in rng.uniform(10, 90, 3)),
                 scale=float(rng.uniform(0.9, 1.08)), shoulders=float(rng.uniform(0.9, 1.12)),
                 arms=float(rng.uniform(0.94, 1.06)))


def _body(look: _Look) -> np.ndarray:
    """(25, 3) rest pose of one performer: the generic figure with their proportions."""
    pose = REST_POSE.copy()
    for s in "lr":
        arm = _ids(f"shoulder_{s}", f"elbow_{s}", f"wrist_{s}", f"hand_{s}", f"handtip_{s}", f"thumb_{s}")
        pose[arm, 0] *= look.shoulders
        sh = pose[arm[0]].copy()
        pose[arm[1:]] = sh + (pose[arm[1:]] - sh) * look.arms
    return pose * look.scale


def _ids(*names: str) -> list[int]:
    return [NTU25.index(n) for n in names]


_J = {n: NTU25.index(n) for n in NTU25.joints}
_UPPER = _ids("spine_mid", "spine_shoulder", "neck", "head", *(f"{p}_{s}" for s in "lr" for p in
                                                               ("shoulder", "elbow", "wrist", "hand", "handtip",
                                                                "thumb")))


# ---------------------------------------------------------------------------------------------
# motions (body frame: x right as seen by the camera, y up, z away from the camera; the body faces -z)


def _envelope(t: np.ndarray, rise: tuple[float, float], fall: tuple[float, float]) -> np.ndarray:
    """0 -> 1 (smoothly between rise[0] and rise[1]), held, 1 -> 0 between fall[0] and fall[1]; t in [0, 1]."""
    def smooth(x):
        x = np.clip(x, 0.0, 1.0)
        return x * x * (3 - 2 * x)
    return smooth((t - rise[0]) / (rise[1] - rise[0])) * (1 - smooth((t - fall[0]) / (fall[1] - fall[0])))


def _place_arm(pose: np.ndarray, side: str, wrist: np.ndarray, pole: np.ndarray) -> None:
    """Put the ``side`` arm's wrist at ``wrist`` (T, 3) by two-bone IK, elbow towards ``pole`` (3,); in place.

    The hand, hand tip and thumb follow the forearm's direction, bent a little."""
    sh, el, wr = _J[f"shoulder_{side}"], _J[f"elbow_{side}"], _J[f"wrist_{side}"]
    l1 = float(np.linalg.norm(pose[0, el] - pose[0, sh]))
    l2 = float(np.linalg.norm(pose[0, wr] - pose[0, el]))
    hand_len = [float(np.linalg.norm(pose[0, _J[f"{p}_{side}"]] - pose[0, wr])) for p in ("hand", "handtip", "thumb")]
    s = pose[:, sh]
    d = wrist - s
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    reach = np.clip(dist, 0.3 * (l1 + l2), 0.98 * (l1 + l2))
    u = d / np.maximum(dist, 1e-6)
    w = s + u * reach
    a = (l1 ** 2 - l2 ** 2 + reach ** 2) / (2 * reach)
    h = np.sqrt(np.clip(l1 ** 2 - a ** 2, 0.0, None))
    p = pole[None] - (pole[None] * u).sum(-1, keepdims=True) * u
    p /= np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-6)
    e = s + u * a + p * h
    fore = (w - e) / l2
    pose[:, el], pose[:, wr] = e, w
    down = np.array([0.0, -1.0, 0.0])
    bend = fore + 0.4 * down  # the hand droops a little from the forearm
    bend /= np.linalg.norm(bend, axis=-1, keepdims=True)
    pose[:, _J[f"hand_{side}"]] = w + bend * hand_len[0]
    pose[:, _J[f"handtip_{side}"]] = w + bend * hand_len[1]
    side_x = np.array([1.0 if side == "r" else -1.0, 0.0, 0.0])
    pose[:, _J[f"thumb_{side}"]] = w + bend * hand_len[2] * 0.6 - side_x * 0.03


#: where each object motion is done, relative to the head (body frame, metres for a 1.7 m performer;
#: x is mirrored for the left hand): beside the head, as far out as the decoy's mirror place is, so that
#: the two objects sit in different cells of a 4x4 attention grid.
_USE_PLACE = {"to_mouth": (0.34, -0.18, -0.25), "to_ear": (0.36, -0.1, -0.08), "read": (0.32, -0.36, -0.34),
              "wipe": (0.34, -0.14, -0.2), "point": (0.38, -0.26, -0.34)}
#: the acting hand's use of its object: an oscillation (amplitude per axis, metres), the class's own.
_USE_MOTION = {"to_mouth": (-0.05, 0.05, 0.0), "to_ear": (0.0, 0.04, 0.03), "read": (0.06, 0.0, 0.0),
               "wipe": (0.07, 0.0, 0.0), "point": (0.0, 0.05, -0.04)}


def _animate(cls: ADLClass, body: np.ndarray, num_frames: int, side: str, rng: np.random.Generator) -> np.ndarray:
    """(T, 25, 3) body-frame joints of one clip of ``cls``, the acting hand ``side`` (``l`` or ``r``)."""
    t = np.linspace(0.0, 1.0, num_frames)
    r0 = rng.uniform(0.05, 0.15)
    f1 = rng.uniform(0.72, 0.82)
    env = _envelope(t, (r0, r0 + rng.uniform(0.2, 0.3)), (f1, min(0.99, f1 + rng.uniform(0.12, 0.18))))
    amp = rng.uniform(0.85, 1.1)
    wobble = 2 * math.pi * rng.uniform(1.5, 2.5) * t + rng.uniform(0, 2 * math.pi)
    pose = np.repeat(body[None], num_frames, axis=0)
    sc = float(np.linalg.norm(body[_J["head"]] - body[_J["spine_base"]]) / 0.72)  # the performer's size
    sign = {"r": 1.0, "l": -1.0}
    rest = {s: pose[:, _J[f"wrist_{s}"]].copy() for s in "lr"}
    if cls.kind == "object":
        # Both hands rise together to mirrored places at the same height: the acting hand to where the
        # class uses its object, the other (the decoy) to the mirror place, with the pair's other object.
        # The place moves from clip to clip. Only the acting hand then *uses* its object (a motion of a
        # few centimetres, the class's own); the decoy hand holds still. So the poses say which hand
        # acts but not what it holds, and the image shows both objects, on either side at random: no
        # fixed image region holds the used object, and only attention steered by the poses finds it.
        head = body[_J["head"]]
        place = sc * (np.array(_USE_PLACE[cls.motion]) + np.array([rng.uniform(-0.04, 0.06), rng.uniform(-0.1, 0.05),
                                                                  rng.uniform(-0.08, 0.06)]))
        use = sc * np.array(_USE_MOTION[cls.motion])[None] * np.sin(wobble)[:, None] * amp
        for s in "lr":
            x = sign[s]
            target = head + place * np.array([x, 1.0, 1.0])
            if s == side:
                target = target + use * np.array([x, 1.0, 1.0])
            else:  # held, swaying by a centimetre
                target = target + sc * np.stack([0.01 * np.sin(0.7 * wobble), 0.01 * np.sin(0.5 * wobble + 1),
                                                 np.zeros(num_frames)], axis=-1)
            wrist = rest[s] + (target - rest[s]) * env[:, None]
            _place_arm(pose, s, wrist, np.array([x * 0.8, -1.0, 0.3]))
    else:
        for s in "lr":  # arms hang, swaying
            sway = rest[s] + sc * np.stack([0.02 * np.sin(wobble + (s == "l")), np.zeros(num_frames),
                                            0.02 * np.cos(wobble)], axis=-1)
            _place_arm(pose, s, sway, np.array([sign[s] * 1.0, 0.0, 0.3]))
        angle = 0.55 * amp * env
        if cls.motion in ("bow", "lean_back"):
            _rotate(pose, _UPPER, _J["spine_base"], -angle if cls.motion == "bow" else angle, "x")
        else:
            leg = _ids(f"knee_{side}", f"ankle_{side}", f"foot_{side}")
            kick = 1.4 * angle
            _rotate(pose, leg, _J[f"hip_{side}"], -kick if cls.motion == "kick_forward" else kick, "x")
            # the standing body leans against the kick
            _rotate(pose, _UPPER, _J["spine_base"], 0.15 * kick if cls.motion == "kick_forward" else -0.15 * kick,
                    "x")
    return pose


# ---------------------------------------------------------------------------------------------
# objects (metres; drawn in the image plane at the hand, scaled by the depth)


def _draw_object(img: np.ndarray, kind: str, uv: np.ndarray, up: np.ndarray, ppm: float) -> None:
    """Draw object ``kind`` centred at pixel ``uv`` (2,), its long axis along ``up`` (2,), ``ppm`` px per metre."""
    import cv2

    up = up / max(float(np.linalg.norm(up)), 1e-6)
    right = np.array([-up[1], up[0]])

    def box(w: float, h: float, color, centre=uv, fill=True) -> None:
        c = np.array(centre, dtype=np.float64)
        pts = [c + (sx * w / 2) * right * ppm + (sy * h / 2) * up * ppm for sx, sy in ((-1, -1), (1, -1), (1, 1),
                                                                                        (-1, 1))]
        pts = np.round(np.array(pts) * 16).astype(np.int32)
        if fill:
            cv2.fillConvexPoly(img, pts, color, cv2.LINE_AA, shift=4)
        else:
            cv2.polylines(img, [pts], True, color, max(1, int(round(0.01 * ppm))), cv2.LINE_AA, shift=4)

    def disc(r: float, color, centre=uv) -> None:
        c = np.round(np.array(centre) * 16).astype(np.int64)
        cv2.circle(img, tuple(c.tolist()), max(16, int(round(r * ppm * 16))), color, -1, cv2.LINE_AA, shift=4)

    if kind == "cup":
        box(0.13, 0.16, (200, 30, 30))
        disc(0.035, (200, 30, 30), uv + right * 0.08 * ppm)
        box(0.1, 0.02, (250, 240, 230), uv + up * 0.07 * ppm)
    elif kind == "bottle":
        box(0.1, 0.3, (30, 170, 70))
        box(0.05, 0.06, (240, 240, 240), uv + up * 0.18 * ppm)
    elif kind == "phone":
        box(0.11, 0.2, (20, 20, 25))
        box(0.09, 0.16, (120, 190, 240))
    elif kind == "comb":  # a hairbrush: a wide purple head with white bristles, a dark handle
        box(0.04, 0.14, (40, 25, 20), uv - up * 0.1 * ppm)
        box(0.12, 0.16, (130, 30, 210), uv + up * 0.04 * ppm)
        for k in range(-2, 3):
            box(0.012, 0.13, (250, 250, 250), uv + right * 0.022 * k * ppm + up * 0.04 * ppm)
    elif kind == "book":
        box(0.3, 0.36, (30, 50, 170))
        box(0.26, 0.32, (245, 245, 235))
        box(0.015, 0.34, (30, 50, 170))
    elif kind == "tablet":
        box(0.34, 0.26, (50, 50, 55))
        box(0.3, 0.22, (20, 220, 210))
    elif kind == "towel":
        box(0.3, 0.38, (245, 245, 245))
        for k in (-1, 1):
            box(0.3, 0.04, (230, 90, 160), uv + up * 0.13 * k * ppm)
    elif kind == "remote":
        box(0.07, 0.22, (30, 30, 35))
        for k in range(3):
            disc(0.012, ((230, 40, 40), (40, 200, 60), (60, 110, 240))[k], uv + up * (0.06 - 0.04 * k) * ppm)
    elif kind == "torch":
        box(0.08, 0.24, (250, 205, 25))
        disc(0.05, (255, 255, 215), uv + up * 0.12 * ppm)
    elif kind == "fan":
        disc(0.19, (250, 140, 20))
        box(0.03, 0.16, (120, 70, 20), uv - up * 0.14 * ppm)
    else:
        raise ValueError(f"unknown object {kind!r}")


# ---------------------------------------------------------------------------------------------
# rooms and people on screen


def _room(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """An indoor background: wall and floor, a window or picture, furniture, shelf clutter. (H, W, 3) uint8 RGB."""
    import cv2

    w, h = size
    img = np.empty((h, w, 3), np.float32)
    wall = rng.uniform(140, 225, 3)
    img[:] = wall * np.linspace(0.82, 1.08, w, dtype=np.float32)[None, :, None]
    horizon = int(h * rng.uniform(0.58, 0.7))
    floor = rng.uniform(70, 150, 3)
    img[horizon:] = floor * np.linspace(0.9, 1.1, h - horizon, dtype=np.float32)[:, None, None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(8, 14))):  # floor boards / carpet pattern
        y = int(rng.integers(horizon, h))
        cv2.line(img, (0, y), (w, y), tuple(int(c) for c in floor * 0.8), 1)
    for _ in range(int(rng.integers(3, 6))):  # furniture: cupboards, a table, a sofa
        x0 = int(rng.integers(0, w - w // 8))
        x1 = min(w, x0 + int(rng.integers(w // 10, w // 3)))
        y1 = int(rng.integers(horizon - h // 20, horizon + h // 6))
        y0 = y1 - int(rng.integers(h // 8, h // 2))
        color = tuple(int(c) for c in rng.uniform(40, 200, 3))
        cv2.rectangle(img, (x0, y0), (x1, y1), color, -1)
        cv2.rectangle(img, (x0, y0), (x1, y1), tuple(int(0.6 * c) for c in color), 1)
        for _ in range(int(rng.integers(0, 5))):  # clutter on it: boxes, pots, plants
            cw, ch = int(rng.integers(3, 10)), int(rng.integers(3, 12))
            cx = int(rng.integers(x0, max(x0 + 1, x1 - cw)))
            cv2.rectangle(img, (cx, y0 - ch), (cx + cw, y0), tuple(int(c) for c in rng.uniform(20, 240, 3)), -1)
    if rng.random() < 0.7:  # a window or a picture on the wall
        x0, y0 = int(rng.integers(0, w - w // 5)), int(rng.integers(h // 20, h // 4))
        cv2.rectangle(img, (x0, y0), (x0 + w // 6, y0 + h // 5), tuple(int(c) for c in rng.uniform(120, 250, 3)), -1)
        cv2.rectangle(img, (x0, y0), (x0 + w // 6, y0 + h // 5), (60, 50, 40), 2)
    return img


#: every object kind; the side tables carry random ones (distractors the attention has to look past).
OBJECTS = tuple(dict.fromkeys(k for c in CLASSES if c.kind == "object" for k in (c.used, c.held)))
_OBJECT_HEIGHT = {"cup": 0.16, "bottle": 0.3, "phone": 0.2, "comb": 0.26, "book": 0.36, "tablet": 0.26,
                  "towel": 0.38, "fan": 0.38, "remote": 0.22, "torch": 0.26}


def _side_table(img: np.ndarray, rng: np.random.Generator, joints: np.ndarray, floor_y: float, view: np.ndarray,
                focal: float) -> None:
    """A small table beside the person, a little behind, with 2 or 3 random objects on it; drawn into the
    background ``img`` in place. ``joints`` (T, 25, 3) camera metres place it; ``view`` (3, 3) is the camera's
    tilt (level camera frame -> camera frame).

    The objects are the classes' own (a cup, a book, ...): a whole-frame classifier sees them in every
    clip, whatever the action; only the object at the acting hand tells the class."""
    import cv2

    h, w = img.shape[:2]
    centre = view.T @ joints[0, _J["spine_base"]]  # back to the level camera frame
    side = 1.0 if rng.random() < 0.5 else -1.0
    x = centre[0] + side * rng.uniform(0.45, 0.7)
    z = centre[2] + rng.uniform(0.1, 0.35)
    top = floor_y + rng.uniform(0.7, 0.95)
    half = rng.uniform(0.2, 0.3)

    def px(p) -> np.ndarray:
        return project(view @ np.asarray(p, np.float64), (focal, w / 2, h / 2))

    color = tuple(int(c) for c in rng.uniform(60, 180, 3))
    corners = np.array([px((x - half, top, z - 0.2)), px((x + half, top, z - 0.2)), px((x + half, top, z + 0.2)),
                        px((x - half, top, z + 0.2))])
    for lx in (x - half + 0.03, x + half - 0.03):  # legs
        a, b = px((lx, top, z - 0.18)), px((lx, floor_y, z - 0.18))
        cv2.line(img, tuple(int(v) for v in a), tuple(int(v) for v in b), tuple(int(0.6 * c) for c in color),
                 max(1, int(0.03 * focal / z)))
    cv2.fillConvexPoly(img, np.round(corners * 16).astype(np.int32), color, cv2.LINE_AA, shift=4)
    kinds = rng.choice(len(OBJECTS), size=int(rng.integers(2, 4)), replace=False)
    for k, ox in zip(kinds, np.linspace(-half * 0.6, half * 0.6, len(kinds))):
        kind = OBJECTS[int(k)]
        centre_px = px((x + ox, top + _OBJECT_HEIGHT[kind] / 2, z))
        _draw_object(img, kind, centre_px, np.array([0.0, -1.0]), focal / z)


def _limb(img: np.ndarray, a: np.ndarray, b: np.ndarray, width: float, color) -> None:
    """A shaded limb from pixel ``a`` to ``b`` (``width`` px): dark rim, lit core offset towards the light."""
    import cv2

    def line(p, q, c, w):
        p16, q16 = np.round(p * 16).astype(np.int64), np.round(q * 16).astype(np.int64)
        cv2.line(img, tuple(p16.tolist()), tuple(q16.tolist()), c, max(1, int(round(w))), cv2.LINE_AA, shift=4)

    line(a, b, tuple(int(0.62 * c) for c in color), width)
    light = np.array([-0.18, -0.18]) * width
    line(a + light, b + light, color, 0.62 * width)
    line(a + 1.6 * light, b + 1.6 * light, tuple(min(255, int(1.18 * c + 20)) for c in color), 0.22 * width)


_LEGS = [("hip_{s}", "knee_{s}", 0.14), ("knee_{s}", "ankle_{s}", 0.11), ("ankle_{s}", "foot_{s}", 0.08)]
_ARMS = [("shoulder_{s}", "elbow_{s}", 0.095), ("elbow_{s}", "wrist_{s}", 0.08), ("wrist_{s}", "hand_{s}", 0.07)]


def _draw_person(img: np.ndarray, uv: np.ndarray, xyz: np.ndarray, focal: float, look: _Look,
                 objects: dict[str, str]) -> None:
    """Draw one person (joints ``uv`` (25, 2) px, ``xyz`` (25, 3) camera metres) and the objects in
    their hands (``objects``: side -> kind), far parts first."""
    import cv2

    def ppm(j: int) -> float:
        return focal / float(xyz[j, 2])

    parts: list[tuple[float, Callable[[], None]]] = []
    for s in "lr":
        for a, b, w in _LEGS:
            ja, jb = _J[a.format(s=s)], _J[b.format(s=s)]
            parts.append((max(xyz[ja, 2], xyz[jb, 2]) + 0.02,
                          lambda ja=ja, jb=jb, w=w: _limb(img, uv[ja], uv[jb], w * ppm(ja), look.trousers)))
        for k, (a, b, w) in enumerate(_ARMS):
            ja, jb = _J[a.format(s=s)], _J[b.format(s=s)]
            color = look.shirt if k == 0 else look.skin
            parts.append((min(xyz[ja, 2], xyz[jb, 2]) - 0.01 * k,
                          lambda ja=ja, jb=jb, w=w, c=color: _limb(img, uv[ja], uv[jb], w * ppm(ja), c)))
        if s in objects:
            hand, tip, wr = _J[f"hand_{s}"], _J[f"handtip_{s}"], _J[f"wrist_{s}"]
            parts.append((xyz[hand, 2] - 0.05, lambda hand=hand, tip=tip, wr=wr, kind=objects[s]: _draw_object(
                img, kind, (uv[hand] + uv[tip]) / 2, np.array([0.0, -1.0]) + 0.3 * (uv[tip] - uv[wr]) / max(
                    1e-6, float(np.linalg.norm(uv[tip] - uv[wr]))), ppm(hand))))

    def torso() -> None:
        quad = np.array([uv[_J["shoulder_l"]], uv[_J["shoulder_r"]], uv[_J["hip_r"]], uv[_J["hip_l"]]])
        centre = quad.mean(0)
        quad = centre + (quad - centre) * 1.18
        pts = np.round(quad * 16).astype(np.int32)
        cv2.fillConvexPoly(img, pts, tuple(int(0.8 * c) for c in look.shirt), cv2.LINE_AA, shift=4)
        inner = np.round((centre + (quad - centre) * 0.75 + np.array([-1.5, -1.5])) * 16).astype(np.int32)
        cv2.fillConvexPoly(img, inner, look.shirt, cv2.LINE_AA, shift=4)
        belt = (uv[_J["hip_l"]] + uv[_J["hip_r"]]) / 2
        _limb(img, uv[_J["hip_l"]] + (uv[_J["hip_l"]] - belt) * 0.2, uv[_J["hip_r"]] + (uv[_J["hip_r"]] - belt) * 0.2,
              0.1 * ppm(0), look.trousers)
        _limb(img, uv[_J["spine_shoulder"]], uv[_J["neck"]], 0.07 * ppm(2), look.skin)

    def head() -> None:
        c = uv[_J["head"]]
        r = 0.105 * ppm(_J["head"])
        c16 = np.round(c * 16).astype(np.int64)
        cv2.circle(img, tuple(c16.tolist()), int(r * 16), tuple(int(0.7 * v) for v in look.skin), -1, cv2.LINE_AA,
                   shift=4)
        cv2.circle(img, tuple(np.round((c - 0.12 * r) * 16).astype(np.int64).tolist()), int(0.82 * r * 16),
                   look.skin, -1, cv2.LINE_AA, shift=4)
        cv2.ellipse(img, tuple(c16.tolist()), (int(r * 16), int(0.75 * r * 16)), 0, 180, 360, look.hair, -1,
                    cv2.LINE_AA, shift=4)

    parts.append((float(xyz[_J["spine_mid"], 2]), torso))
    parts.append((float(xyz[_J["head"], 2]) - 0.005, head))
    for _, draw in sorted(parts, key=lambda p: -p[0]):
        draw()


# ---------------------------------------------------------------------------------------------
# one clip


@dataclass(frozen=True)
class ADLSpec:
    """What a generated dataset holds; its hash names the cache folder."""

    per_class: int = 27
    size: tuple[int, int] = (384, 216)  # (width, height) of the videos
    frames: int = 48  # frames per video (+- 10 %)
    fps: float = 30.0
    seed: int = 0
    classes: int = len(CLASSES)
    version: int = 9  # bump when the renderer changes, so old caches are not reused

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def _sample_names(spec: ADLSpec) -> list[tuple[str, int]]:
    """(name, label) of every sample: each class cycles through the performers and cameras."""
    out = []
    for label in range(spec.classes):
        for i in range(spec.per_class):
            # cycle c of the performers: each performer meets the 3 cameras in 3 cycles
            c, p = divmod(i, len(PERFORMERS))
            name = ntu.NTUName(setup=1 + i % 2, camera=1 + (c + p + label) % 3, performer=PERFORMERS[p],
                               replication=1 + c // 3, action=label + 1)
            out.append((str(name), label))
    return out


def acting_sides(spec: ADLSpec) -> dict[str, str]:
    """The acting hand (``r`` or ``l``) of every sample: alternating along each class's samples, which cycle
    through the performers and cameras, so that each side holds about half of every class in every view
    and in both protocols' splits (a fixed image region cannot stand in for the acting hand)."""
    out = {}
    for label in range(spec.classes):
        names = [n for n, lab in _sample_names(spec) if lab == label]
        out.update({n: "r" if (i + label) % 2 == 0 else "l" for i, n in enumerate(names)})
    return out


#: the largest side of each object (metres), for its ground-truth box.
_OBJECT_EXTENT = {"cup": 0.2, "bottle": 0.34, "phone": 0.2, "comb": 0.3, "book": 0.36, "tablet": 0.34,
                  "towel": 0.38, "fan": 0.38, "remote": 0.22, "torch": 0.3}


def _hand_boxes(uv: np.ndarray, xyz: np.ndarray, side: str, kind: str, focal: float) -> np.ndarray:
    """(T, 4) image boxes (x0, y0, x1, y1) of the ``side`` hand with the object ``kind`` it holds (drawn as
    :func:`_draw_person` draws it); ``uv`` (T, 25, 2) pixels, ``xyz`` (T, 25, 3) camera metres."""
    hand, tip = _J[f"hand_{side}"], _J[f"handtip_{side}"]
    joints = _ids(f"wrist_{side}", f"hand_{side}", f"handtip_{side}", f"thumb_{side}")
    centre = (uv[:, hand] + uv[:, tip]) / 2
    half = 0.5 * _OBJECT_EXTENT[kind] * focal / xyz[:, hand, 2]
    lo = np.minimum(centre - half[:, None], uv[:, joints].min(1))
    hi = np.maximum(centre + half[:, None], uv[:, joints].max(1))
    return np.concatenate([lo, hi], axis=1)


def _render_sample(spec: ADLSpec, name: str, label: int, side: str, video_path: Path, pose_path: Path,
                   annotation_path: Path) -> None:
    """Write one sample's ``.skeleton``, ground truth ``.json`` and ``_rgb.avi`` (each atomically)."""
    parts = ntu.parse_name(name)
    cls = CLASSES[label]
    rng = np.random.default_rng([spec.seed, label, parts.performer, parts.camera, parts.setup, parts.replication])
    look = _look(parts.performer)
    body = _body(look)
    num_frames = int(round(spec.frames * rng.uniform(0.9, 1.1)))
    other = "l" if side == "r" else "r"
    joints = _animate(cls, body, num_frames, side, rng)
    # place the body: the camera's view angle, a little turn of the person, on the floor in front of the camera
    yaw = CAMERA_YAW[parts.camera] + rng.uniform(-0.2, 0.2)
    joints = np.einsum("ij,tnj->tni", _rotation(np.array([yaw]), "y")[0], joints)
    cam_height = 0.9 + 0.25 * (parts.setup % 2)  # setups differ in camera height and tilt
    tilt = math.radians(6 + 4 * (parts.setup % 2))
    floor_y = -cam_height
    joints += np.array([rng.uniform(-0.3, 0.3), floor_y - body[_J["foot_l"], 1] + 0.03, rng.uniform(2.9, 3.4)])
    view = _rotation(np.array([-tilt]), "x")[0]  # the camera looks down a little: what is ahead rises in the image
    joints = np.einsum("ij,tnj->tni", view, joints)
    # Kinect-like skeleton: millimetre jitter; now and then an inferred joint (tracking state 1), centimetres off
    noisy = joints + rng.normal(0.0, 0.006, joints.shape)
    inferred = rng.random(joints.shape[:2]) < 0.01
    noisy[inferred] += rng.normal(0.0, 0.04, (int(inferred.sum()), 3))
    state = np.where(inferred, 1, 2)[:, None]
    body_id = str(72057594037927936 + int(rng.integers(1000, 60000)))
    text = _ntu_text(noisy[:, None], np.ones((num_frames, 1), bool), [body_id], rng, state=state)

    w, h = spec.size
    focal = NTU_COLOR[0] * w / 1920
    uv = project(joints, (focal, w / 2, h / 2))  # the true joints; the file's colorX/Y are the noisy ones
    room = _room(rng, spec.size)
    _side_table(room, rng, joints, floor_y, view, focal)
    objects = {side: cls.used, other: cls.held} if cls.kind == "object" else {}
    noise = rng.normal(0.0, 3.0, (4, h, w, 3)).astype(np.float32)  # sensor noise, a few frames cycled

    def frames():
        for t in range(num_frames):
            img = room.copy()
            _draw_person(img, uv[t], joints[t], focal, look, objects)
            yield np.clip(img.astype(np.float32) + noise[t % 4], 0, 255).astype(np.uint8)

    truth: dict[str, Any] = {"class": cls.name, "kind": cls.kind, "acting_side": side, "size": [w, h]}
    if cls.kind == "object":
        truth["objects"] = {"acting": cls.used, "decoy": cls.held}
        for role, s, kind in (("acting", side, cls.used), ("decoy", other, cls.held)):
            truth[role] = np.round(_hand_boxes(uv, joints, s, kind, focal), 2).tolist()
    atomic_write_bytes(annotation_path, json.dumps(truth).encode())
    atomic_write_bytes(pose_path, text.encode("ascii"))
    tmp = video_path.with_name(f".{video_path.stem}.partial{video_path.suffix}")
    try:
        write_video(tmp, frames(), fps=spec.fps)
        os.replace(tmp, video_path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# the dataset


@dataclass(frozen=True)
class ADLData:
    """A generated vpnet-ADL dataset."""

    root: Path
    video_dir: Path
    pose_dir: Path
    #: ``<name>.json`` per sample: the ground truth of where the action happens (never a model input):
    #: ``acting_side``, and for the object classes the per-frame image boxes (x0, y0, x1, y1), in the
    #: video's pixels, of the acting hand with its object (``acting``) and of the other hand with the
    #: pair's other object (``decoy``).
    annotation_dir: Path
    names: list[str]
    labels: list[int]
    class_names: list[str]
    generated: int  # samples written by this call (0: all were there)


#: bytes per video frame pixel of the H.264 files, measured (0.03-0.05); with margin, for the disk check.
_BYTES_PER_PIXEL_FRAME = 0.1


def make_adl(root: str | Path, spec: ADLSpec = ADLSpec(), *, workers: int = 1,
             progress: Callable[[int], None] | None = None) -> ADLData:
    """Write (or complete) the vpnet-ADL dataset ``spec`` under ``root``; see the module docstring.

    ``root`` holds ``spec.json``; a folder made with another spec is refused (use another folder).
    Files already there are complete (each is renamed into place when written) and are kept.
    ``progress(n)`` is called after each sample with the number written so far.

    Raises:
        ConfigError: a spec out of range, or ``root`` made with another spec.
        OutputError: ``root`` not writable, or too little free disk.
    """
    w, h = spec.size
    problems = [
        (not 2 <= spec.classes <= len(CLASSES), f"vpnet-ADL has {len(CLASSES)} classes; asked for {spec.classes}"),
        (spec.per_class < 1, f"per_class must be >= 1, got {spec.per_class}"),
        (spec.frames < 8, f"frames must be >= 8, got {spec.frames}"),
        (spec.fps <= 0, f"fps must be > 0, got {spec.fps}"),
        # H.264 wants even sides; the NTU colour camera is 16:9 and the 2D joints are scaled from it
        (w < 64 or w % 2 or h % 2 or w * 9 != h * 16, f"size must be 16:9, even, at least 64x36; got {w}x{h}"),
    ]
    for bad, message in problems:
        if bad:
            raise ConfigError(message)
    root = check_writable(Path(root), what="vpnet-ADL data folder")
    root.mkdir(parents=True, exist_ok=True)
    video_dir, pose_dir, annotation_dir = root / "nturgb+d_rgb", root / "nturgb+d_skeletons", root / "annotations"
    meta = root / "spec.json"
    want = json.dumps(asdict(spec), sort_keys=True, indent=1)
    if meta.exists():
        try:
            held = json.loads(meta.read_text())
            if not isinstance(held, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:  # damaged: what the folder holds is unknown, so it is made again
            log.warning("%s is damaged (%s); generating the dataset again", meta, e)
            meta.unlink()
            for folder in (video_dir, pose_dir, annotation_dir):
                shutil.rmtree(folder, ignore_errors=True)
        else:
            if held != json.loads(want):
                raise ConfigError(f"{root} holds a vpnet-ADL dataset made with other settings ({meta}); use "
                                  "another folder")
    samples = _sample_names(spec)
    todo = [(n, lab) for n, lab in samples
            if not _sample_ok(video_dir / f"{n}{ntu.VIDEO_SUFFIX}", pose_dir / f"{n}.skeleton",
                              annotation_dir / f"{n}.json")]
    # temporary files of an interrupted run: never complete, never read
    for f in [*video_dir.glob(".*.partial*"), *pose_dir.glob(".*.skeleton.*.tmp"), *annotation_dir.glob(".*.tmp")]:
        f.unlink(missing_ok=True)
    if todo:
        need = len(todo) * spec.size[0] * spec.size[1] * spec.frames * _BYTES_PER_PIXEL_FRAME + 50_000 * len(todo)
        free = shutil.disk_usage(root).free
        if free < need:
            raise OutputError(f"{root}: {free / 1e6:.0f} MB free, generating {len(todo)} videos needs about "
                              f"{need / 1e6:.0f} MB")
        for folder in (video_dir, pose_dir, annotation_dir):
            folder.mkdir(exist_ok=True)
        atomic_write_bytes(meta, want.encode())
        sides = acting_sides(spec)
        jobs = [(spec, n, lab, sides[n], video_dir / f"{n}{ntu.VIDEO_SUFFIX}", pose_dir / f"{n}.skeleton",
                 annotation_dir / f"{n}.json") for n, lab in todo]
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers) as pool:
                for k, _ in enumerate(pool.map(_render_job, jobs, chunksize=4), 1):
                    if progress:
                        progress(k)
        else:
            for k, job in enumerate(jobs, 1):
                _render_job(job)
                if progress:
                    progress(k)
    return ADLData(root=root, video_dir=video_dir, pose_dir=pose_dir, annotation_dir=annotation_dir,
                   names=[n for n, _ in samples],
                   labels=[lab for _, lab in samples], class_names=list(CLASS_NAMES[:spec.classes]),
                   generated=len(todo))


def _sample_ok(video: Path, skeleton: Path, annotation: Path) -> bool:
    """Whether a generated sample is whole: its video opens, with as many frames in its header as its
    skeleton file, which parses, and its annotation is a JSON object. A damaged one (truncated,
    overwritten) is generated again, with a warning. Cheap: container headers and two small text files,
    no frame decoded."""
    if not (video.is_file() and skeleton.is_file() and annotation.is_file()):
        return False
    import av

    try:
        with av.open(str(video)) as c:
            frames = c.streams.video[0].frames if c.streams.video else 0
        poses = ntu.read_poses(skeleton).num_frames
        if not isinstance(json.loads(annotation.read_text()), dict):
            raise ValueError(f"{annotation.name} is not a JSON object")
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as e:
        log.warning("%s: damaged generated sample (%s); generating it again", video.stem, e)
        return False
    if poses < 1 or (frames and frames != poses):  # 0: a container that does not say
        log.warning("%s: damaged generated sample (%d video frames, %d poses); generating it again",
                    video.stem, frames, poses)
        return False
    return True


def _render_job(job: tuple) -> None:
    _render_sample(*job)

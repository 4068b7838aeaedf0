"""Joint layouts, bones and the weighted adjacency of the pose graph.

One :class:`Layout` per skeleton format the datasets ship:

- ``ntu25``: Kinect v2 (NTU RGB+D 60/120 and our own videos after mapping MediaPipe onto it),
- ``lcrnet13``: LCR-Net++ 3D poses (Toyota Smarthome),
- ``ucla20``: Kinect v1 (Northwestern-UCLA),
- ``mediapipe33``: MediaPipe Pose landmarks (input only; map to ``ntu25`` with
  :func:`mediapipe_to_ntu25`).

The pose graph of the paper, eq. (1)::

    e_ij = 0      if i == j
           alpha  if i and j are joined by a bone
           beta   otherwise ("disconnected")
    A_hat = D^-1/2 (E + I) D^-1/2,   D_ii = sum_j (E_ij + I_ij)

``adjacency="paper"`` follows that text (every non-bone pair gets beta). ``adjacency="sparse"``
follows the authors' code, which gives beta only to a few extra long-range links between the
limbs (hand-ankle, elbow-knee, hand-hand, elbow-elbow) and 0 elsewhere. The links are named by
joint so that every layout gets the same six.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vpnet.config import ADJACENCIES
from vpnet.errors import ConfigError


@dataclass(frozen=True)
class Layout:
    """A skeleton format: joint names in file order and the bones between them (0-based)."""

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    #: joints whose mean is the body centre used to normalise poses (NTU: spine mid).
    center: tuple[int, ...]
    #: the six long-range links of the authors' code, used by ``adjacency="sparse"``.
    extra_links: tuple[tuple[int, int], ...] = field(default=())
    #: the joint the bone tree hangs from (:func:`bone_parents`): its bone vector is zero; -1: none
    #: (an input-only layout whose bones do not join every joint).
    root: int = -1

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"layout {self.name!r} has no joint {joint!r}; joints: {', '.join(self.joints)}") from None


def _layout(name: str, joints: list[str], bones: list[tuple[str, str]], center: list[str],
            extra: list[tuple[str, str]] = (), root: str | None = None) -> Layout:
    idx = {j: i for i, j in enumerate(joints)}
    return Layout(
        name=name,
        joints=tuple(joints),
        bones=tuple((idx[a], idx[b]) for a, b in bones),
        center=tuple(idx[c] for c in center),
        extra_links=tuple((idx[a], idx[b]) for a, b in extra),
        root=-1 if root is None else idx[root],
    )


# The authors' six extra links (NTU 1-based 12-19, 10-18, 6-14, 8-15, 12-8, 10-6), by name.
_EXTRA = [("hand_r", "ankle_r"), ("elbow_r", "knee_r"), ("elbow_l", "knee_l"),
          ("hand_l", "ankle_l"), ("hand_r", "hand_l"), ("elbow_r", "elbow_l")]

NTU25 = _layout(
    "ntu25",
    ["spine_base", "spine_mid", "neck", "head",
     "shoulder_l", "elbow_l", "wrist_l", "hand_l",
     "shoulder_r", "elbow_r", "wrist_r", "hand_r",
     "hip_l", "knee_l", "ankle_l", "foot_l",
     "hip_r", "knee_r", "ankle_r", "foot_r",
     "spine_shoulder", "handtip_l", "thumb_l", "handtip_r", "thumb_r"],
    # NTU 1-based: 1-2 2-21 3-21 4-3 5-21 6-5 7-6 8-7 9-21 10-9 11-10 12-11 13-1 14-13 15-14
    # 16-15 17-1 18-17 19-18 20-19 22-23 23-8 24-25 25-12
    [("spine_base", "spine_mid"), ("spine_mid", "spine_shoulder"), ("neck", "spine_shoulder"),
     ("head", "neck"), ("shoulder_l", "spine_shoulder"), ("elbow_l", "shoulder_l"),
     ("wrist_l", "elbow_l"), ("hand_l", "wrist_l"), ("shoulder_r", "spine_shoulder"),
     ("elbow_r", "shoulder_r"), ("wrist_r", "elbow_r"), ("hand_r", "wrist_r"),
     ("hip_l", "spine_base"), ("knee_l", "hip_l"), ("ankle_l", "knee_l"), ("foot_l", "ankle_l"),
     ("hip_r", "spine_base"), ("knee_r", "hip_r"), ("ankle_r", "knee_r"), ("foot_r", "ankle_r"),
     ("handtip_l", "thumb_l"), ("thumb_l", "hand_l"), ("handtip_r", "thumb_r"), ("thumb_r", "hand_r")],
    center=["spine_mid"],
    extra=_EXTRA,
    root="spine_mid",
)

# LCR-Net++ 13 joints, Toyota Smarthome order. No spine joints: the centre is the mean of the
# hips and shoulders (where the spine mid would be). The wrists stand in for the hands.
LCRNET13 = _layout(
    "lcrnet13",
    ["ankle_r", "ankle_l", "knee_r", "knee_l", "hip_r", "hip_l",
     "wrist_r", "wrist_l", "elbow_r", "elbow_l", "shoulder_r", "shoulder_l", "head"],
    [("ankle_r", "knee_r"), ("knee_r", "hip_r"), ("ankle_l", "knee_l"), ("knee_l", "hip_l"),
     ("hip_r", "hip_l"), ("wrist_r", "elbow_r"), ("elbow_r", "shoulder_r"),
     ("wrist_l", "elbow_l"), ("elbow_l", "shoulder_l"), ("shoulder_r", "shoulder_l"),
     ("shoulder_r", "hip_r"), ("shoulder_l", "hip_l"), ("head", "shoulder_r"), ("head", "shoulder_l")],
    center=["hip_r", "hip_l", "shoulder_r", "shoulder_l"],
    extra=[(a.replace("hand", "wrist"), b.replace("hand", "wrist")) for a, b in _EXTRA],
    root="head",  # the one joint on the body's midline
)

# Kinect v1, 20 joints (Northwestern-UCLA), 1-based: 1 hip centre, 2 spine, 3 shoulder centre,
# 4 head, 5-8 L shoulder/elbow/wrist/hand, 9-12 R ..., 13-16 L hip/knee/ankle/foot, 17-20 R ...
UCLA20 = _layout(
    "ucla20",
    ["hip_center", "spine", "shoulder_center", "head",
     "shoulder_l", "elbow_l", "wrist_l", "hand_l",
     "shoulder_r", "elbow_r", "wrist_r", "hand_r",
     "hip_l", "knee_l", "ankle_l", "foot_l",
     "hip_r", "knee_r", "ankle_r", "foot_r"],
    [("hip_center", "spine"), ("spine", "shoulder_center"), ("shoulder_center", "head"),
     ("shoulder_center", "shoulder_l"), ("shoulder_l", "elbow_l"), ("elbow_l", "wrist_l"),
     ("wrist_l", "hand_l"), ("shoulder_center", "shoulder_r"), ("shoulder_r", "elbow_r"),
     ("elbow_r", "wrist_r"), ("wrist_r", "hand_r"), ("hip_center", "hip_l"), ("hip_l", "knee_l"),
     ("knee_l", "ankle_l"), ("ankle_l", "foot_l"), ("hip_center", "hip_r"), ("hip_r", "knee_r"),
     ("knee_r", "ankle_r"), ("ankle_r", "foot_r")],
    center=["spine"],
    extra=_EXTRA,
    root="spine",
)

# MediaPipe Pose landmarks (33), in the model's order. Input format only.
MEDIAPIPE33 = _layout(
    "mediapipe33",
    ["nose", "eye_inner_l", "eye_l", "eye_outer_l", "eye_inner_r", "eye_r", "eye_outer_r",
     "ear_l", "ear_r", "mouth_l", "mouth_r", "shoulder_l", "shoulder_r", "elbow_l", "elbow_r",
     "wrist_l", "wrist_r", "pinky_l", "pinky_r", "index_l", "index_r", "thumb_l", "thumb_r",
     "hip_l", "hip_r", "knee_l", "knee_r", "ankle_l", "ankle_r", "heel_l", "heel_r",
     "foot_index_l", "foot_index_r"],
    [("shoulder_l", "shoulder_r"), ("shoulder_l", "elbow_l"), ("elbow_l", "wrist_l"),
     ("shoulder_r", "elbow_r"), ("elbow_r", "wrist_r"), ("shoulder_l", "hip_l"),
     ("shoulder_r", "hip_r"), ("hip_l", "hip_r"), ("hip_l", "knee_l"), ("knee_l", "ankle_l"),
     ("hip_r", "knee_r"), ("knee_r", "ankle_r")],
    center=["shoulder_l", "shoulder_r", "hip_l", "hip_r"],
)

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (NTU25, LCRNET13, UCLA20, MEDIAPIPE33)}


def get_layout(name: str) -> Layout:
    """The layout called ``name`` (``ntu25``, ``lcrnet13``, ``ucla20``, ``mediapipe33``)."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ConfigError(f"unknown skeleton layout {name!r}; known: {', '.join(LAYOUTS)}") from None


def adjacency(layout: Layout | str, *, alpha: float = 5.0, beta: float = 2.0,
              mode: str = "paper") -> np.ndarray:
    """The weighted adjacency E of the paper, (J, J) float64, symmetric, zero diagonal.

    ``mode``: one of :data:`vpnet.config.ADJACENCIES` (see the module docstring)."""
    lay = get_layout(layout) if isinstance(layout, str) else layout
    n = lay.num_joints
    if mode == "paper":
        e = np.full((n, n), float(beta))
    elif mode == "sparse":
        e = np.zeros((n, n))
        for i, j in lay.extra_links:
            e[i, j] = e[j, i] = beta
    else:
        raise ValueError(f"adjacency mode must be one of {', '.join(ADJACENCIES)}; got {mode!r}")
    for i, j in lay.bones:
        e[i, j] = e[j, i] = alpha
    np.fill_diagonal(e, 0.0)
    return e


def normalized_adjacency(e: np.ndarray) -> np.ndarray:
    """A_hat = D^-1/2 (E + I) D^-1/2 with D_ii = sum_j (E_ij + I_ij), eq. (1)."""
    a = np.asarray(e, dtype=np.float64) + np.eye(e.shape[0])
    d = a.sum(axis=1)
    if np.any(d <= 0):
        raise ValueError("adjacency has a joint with non-positive degree; weights must be >= 0")
    inv_sqrt = 1.0 / np.sqrt(d)
    return inv_sqrt[:, None] * a * inv_sqrt[None, :]


def bone_depths(layout: Layout) -> np.ndarray:
    """(J,) int: each joint's number of bones from ``layout.root`` (breadth first over the bones).

    ConfigError for a layout without a root or with joints no bone path reaches: such a layout has no
    bone vectors and no graph partition (``data.pose_stream=bone``, ``model.pose_backbone=ctrgcn``)."""
    if layout.root < 0:
        raise ConfigError(f"skeleton layout {layout.name} has no bone tree (no root joint): it is an input format "
                          "only; map it onto ntu25 (see mediapipe_to_ntu25)")
    depth = np.full(layout.num_joints, -1)
    depth[layout.root] = 0
    frontier = [layout.root]
    while frontier:
        nxt = []
        for i in frontier:
            for a, b in layout.bones:
                for u, v in ((a, b), (b, a)):
                    if u == i and depth[v] < 0:
                        depth[v] = depth[i] + 1
                        nxt.append(v)
        frontier = nxt
    unreached = [layout.joints[j] for j in np.flatnonzero(depth < 0)]
    if unreached:
        raise ConfigError(f"skeleton layout {layout.name}: no bone path joins {', '.join(unreached)} to the root "
                          f"{layout.joints[layout.root]}")
    return depth


def bone_parents(layout: Layout | str) -> np.ndarray:
    """(J,) int: each joint's parent in the bone tree rooted at ``layout.root`` (the root is its own
    parent, so its bone vector joint - parent is zero). Bones whose two ends are equally far from the root
    (a cycle: lcrnet13's hips and shoulders) are not tree bones. ConfigError as :func:`bone_depths`."""
    lay = get_layout(layout) if isinstance(layout, str) else layout
    depth = bone_depths(lay)
    parents = np.arange(lay.num_joints)
    for a, b in lay.bones:  # the first bone that reaches a joint from one step nearer the root
        for child, parent in ((a, b), (b, a)):
            if depth[child] == depth[parent] + 1 and parents[child] == child and child != lay.root:
                parents[child] = parent
    return parents


def graph_partition(layout: Layout | str) -> np.ndarray:
    """(3, J, J) float32: the spatial partition of ST-GCN (Yan et al. 2018) that ST-GCN++ and CTR-GCN
    start from: the joint itself, its neighbours nearer the root (centripetal) and those farther from it
    (centrifugal). Row ``i`` of each subset holds the weights joint i gathers its neighbours with,
    normalised to sum to 1 (``out[i] = sum_j A[i, j] x[j]``). A bone between joints equally far from the
    root joins them in the centripetal subset both ways. ConfigError as :func:`bone_depths`."""
    lay = get_layout(layout) if isinstance(layout, str) else layout
    depth = bone_depths(lay)
    n = lay.num_joints
    a = np.zeros((3, n, n))
    a[0] = np.eye(n)
    for i, j in lay.bones:
        for u, v in ((i, j), (j, i)):  # u gathers from v
            a[1 if depth[v] <= depth[u] else 2, u, v] = 1.0
    rows = a.sum(axis=2, keepdims=True)
    return (a / np.where(rows > 0, rows, 1.0)).astype(np.float32)


def _mediapipe_to_ntu25_matrix() -> np.ndarray:
    """(25, 33) weights: each NTU joint as a mean of MediaPipe landmarks, left and right swapped.

    Kinect names joints from the person's point of view in a mirrored image: on the NTU sample the
    joints NTU calls *left* project where MediaPipe puts its *right* landmarks (2-15 px apart), so
    NTU ``shoulder_l`` <- MediaPipe ``shoulder_r`` and so on. Joints MediaPipe lacks (spine, neck,
    hand) are means of neighbours.
    """
    mp = MEDIAPIPE33
    w = np.zeros((NTU25.num_joints, mp.num_joints))

    def put(ntu: str, parts: dict[str, float]) -> None:
        for name, weight in parts.items():
            w[NTU25.index(ntu), mp.index(name)] += weight

    swap = {"l": "r", "r": "l"}
    for side in ("l", "r"):
        o = swap[side]  # MediaPipe side that NTU's `side` corresponds to
        for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
            put(f"{j}_{side}", {f"{j}_{o}": 1.0})
        put(f"hand_{side}", {f"pinky_{o}": 0.5, f"index_{o}": 0.5})
        put(f"handtip_{side}", {f"index_{o}": 1.0})
        put(f"thumb_{side}", {f"thumb_{o}": 1.0})
        put(f"foot_{side}", {f"foot_index_{o}": 1.0})
    put("spine_base", {"hip_l": 0.5, "hip_r": 0.5})
    put("spine_shoulder", {"shoulder_l": 0.5, "shoulder_r": 0.5})
    put("spine_mid", {"hip_l": 0.25, "hip_r": 0.25, "shoulder_l": 0.25, "shoulder_r": 0.25})
    put("neck", {"shoulder_l": 0.25, "shoulder_r": 0.25, "mouth_l": 0.25, "mouth_r": 0.25})
    put("head", {"ear_l": 0.5, "ear_r": 0.5})
    return w


MEDIAPIPE33_TO_NTU25: np.ndarray = _mediapipe_to_ntu25_matrix()
MEDIAPIPE33_TO_NTU25.setflags(write=False)


def mediapipe_to_ntu25(landmarks: np.ndarray) -> np.ndarray:
    """Map MediaPipe landmarks (..., 33, C) onto the NTU-25 layout (..., 25, C).

    Works for world landmarks (metres) and image landmarks alike; C is usually 3 (x, y, z),
    drop the visibility channel first.
    """
    lm = np.asarray(landmarks)
    if lm.shape[-2] != MEDIAPIPE33.num_joints:
        raise ValueError(f"expected MediaPipe landmarks shaped (..., 33, C), got {lm.shape}")
    return np.einsum("kj,...jc->...kc", MEDIAPIPE33_TO_NTU25, lm).astype(lm.dtype, copy=False)

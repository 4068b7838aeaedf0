"""Joint layouts, the weighted adjacency of eq. (1) and the MediaPipe -> NTU-25 mapping, against hand-computed
numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vpnet.data.ntu import read_skeleton
from vpnet.skeletons import (
    LAYOUTS,
    LCRNET13,
    MEDIAPIPE33,
    MEDIAPIPE33_TO_NTU25,
    NTU25,
    UCLA20,
    adjacency,
    get_layout,
    mediapipe_to_ntu25,
    normalized_adjacency,
)

# The spec's NTU bones, 1-based.
NTU_BONES_1BASED = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10),
                    (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (22, 23),
                    (23, 8), (24, 25), (25, 12)]


def _is_tree(num_joints: int, bones) -> bool:
    parent = list(range(num_joints))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in bones:
        ra, rb = find(a), find(b)
        if ra == rb:
            return False
        parent[ra] = rb
    return len(bones) == num_joints - 1


# ---------------------------------------------------------------------------------------------- layouts

def test_ntu25_joint_names_and_bones_follow_the_spec():
    assert NTU25.num_joints == 25
    # 1-based numbers of the spec: 1 spine base, 2 spine mid, 8 L hand, 12 R hand, 21 spine shoulder, 25 R thumb
    for number, name in [(1, "spine_base"), (2, "spine_mid"), (4, "head"), (8, "hand_l"), (12, "hand_r"),
                         (15, "ankle_l"), (19, "ankle_r"), (21, "spine_shoulder"), (24, "handtip_r"), (25, "thumb_r")]:
        assert NTU25.joints[number - 1] == name
    assert sorted(tuple(sorted(b)) for b in NTU25.bones) == sorted(
        tuple(sorted((a - 1, b - 1))) for a, b in NTU_BONES_1BASED)
    assert _is_tree(25, NTU25.bones)
    assert NTU25.center == (1,)  # spine mid, used to normalise poses


def test_ntu25_extra_links_are_the_authors_six():
    expected = {(12, 19), (10, 18), (6, 14), (8, 15), (12, 8), (10, 6)}  # 1-based, official code
    assert {tuple(sorted((a + 1, b + 1))) for a, b in NTU25.extra_links} == {tuple(sorted(x)) for x in expected}


def test_other_layouts():
    assert LCRNET13.joints == ("ankle_r", "ankle_l", "knee_r", "knee_l", "hip_r", "hip_l", "wrist_r", "wrist_l",
                               "elbow_r", "elbow_l", "shoulder_r", "shoulder_l", "head")
    assert len(LCRNET13.bones) == 14 and len(LCRNET13.extra_links) == 6
    assert UCLA20.num_joints == 20 and len(UCLA20.bones) == 19 and _is_tree(20, UCLA20.bones)
    assert UCLA20.joints[2] == "shoulder_center" and UCLA20.joints[16] == "hip_r"
    assert MEDIAPIPE33.num_joints == 33
    assert get_layout("ntu25") is NTU25 and set(LAYOUTS) == {"ntu25", "lcrnet13", "ucla20", "mediapipe33"}
    with pytest.raises(ValueError, match="unknown skeleton layout 'coco'"):
        get_layout("coco")
    with pytest.raises(KeyError, match="no joint 'tail'"):
        NTU25.index("tail")


# ---------------------------------------------------------------------------------------------- adjacency

def test_ntu25_adjacency_paper_mode_hand_computed():
    e = adjacency("ntu25")  # alpha 5 on bones, beta 2 on every other pair, 0 on the diagonal
    assert e.shape == (25, 25) and np.array_equal(e, e.T) and np.all(np.diag(e) == 0)
    assert e[0, 1] == 5 and e[0, 12] == 5 and e[0, 16] == 5  # spine base: spine mid, both hips
    assert e[3, 4] == 2  # head - left shoulder: not a bone
    assert (e == 5).sum() == 2 * 24 and (e == 2).sum() == 25 * 24 - 2 * 24
    # degree of E + I: 1 + 5 b + 2 (24 - b) for a joint with b bones
    d = e.sum(1) + 1
    assert d[0] == 58  # spine base, 3 bones
    assert d[1] == 55  # spine mid, 2 bones
    assert d[3] == 52  # head, 1 bone
    assert d[20] == 61  # spine shoulder, 4 bones
    a = normalized_adjacency(e)
    assert a[0, 0] == pytest.approx(1 / 58, rel=1e-12)
    assert a[0, 1] == pytest.approx(5 / math.sqrt(58 * 55), rel=1e-12)
    assert a[3, 4] == pytest.approx(2 / math.sqrt(52 * 55), rel=1e-12)
    assert a[20, 2] == pytest.approx(5 / math.sqrt(61 * 55), rel=1e-12)  # spine shoulder - neck


def test_ntu25_adjacency_sparse_mode_hand_computed():
    e = adjacency("ntu25", mode="sparse")
    assert e[3, 4] == 0  # no long-range link: 0, not beta
    assert e[11, 18] == 2 and e[11, 7] == 2 and e[9, 5] == 2  # R hand-R ankle, R hand-L hand, R elbow-L elbow
    assert (e == 2).sum() == 2 * 6 and (e == 5).sum() == 2 * 24
    d = e.sum(1) + 1
    assert d[0] == 16  # spine base: 1 + 3 * 5
    assert d[11] == 15  # R hand: 2 bones, 2 extra links: 1 + 10 + 4
    assert d[13] == 13  # L knee: 2 bones, 1 extra link
    a = normalized_adjacency(e)
    assert a[11, 18] == pytest.approx(2 / math.sqrt(15 * 13), rel=1e-12)
    assert a[0, 0] == pytest.approx(1 / 16, rel=1e-12)
    assert a[3, 4] == 0


@pytest.mark.parametrize("mode", ["paper", "sparse"])
@pytest.mark.parametrize("layout", ["ntu25", "lcrnet13", "ucla20"])
def test_normalized_adjacency_is_symmetric_with_top_eigenvalue_one(layout, mode):
    a = normalized_adjacency(adjacency(layout, mode=mode, alpha=5.0, beta=2.0))
    assert np.allclose(a, a.T)
    eig = np.linalg.eigvalsh(a)
    assert eig.max() == pytest.approx(1.0, abs=1e-12)  # D^-1/2 (E+I) D^-1/2 has D^1/2 1 as eigenvector
    assert eig.min() > -1.0


def test_adjacency_weights_are_parameters():
    e = adjacency("ucla20", alpha=3.0, beta=0.5)
    assert set(np.unique(e)) == {0.0, 0.5, 3.0}
    with pytest.raises(ValueError, match="adjacency mode must be one of paper, sparse; got 'dense'"):
        adjacency("ntu25", mode="dense")


# ---------------------------------------------------------------------------------------------- MediaPipe

def test_mediapipe_matrix_rows_sum_to_one_and_swap_sides():
    w = MEDIAPIPE33_TO_NTU25
    assert w.shape == (25, 33)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert not w.flags.writeable
    mp = MEDIAPIPE33.index
    for ntu, media in [("shoulder_l", "shoulder_r"), ("elbow_r", "elbow_l"), ("hip_l", "hip_r"),
                       ("ankle_r", "ankle_l"), ("thumb_l", "thumb_r"), ("foot_r", "foot_index_l")]:
        row = w[NTU25.index(ntu)]
        assert row[mp(media)] == 1.0 and row.sum() == 1.0, ntu
    hand_l = w[NTU25.index("hand_l")]
    assert hand_l[mp("pinky_r")] == 0.5 and hand_l[mp("index_r")] == 0.5


def test_mediapipe_to_ntu25_maps_points():
    rng = np.random.default_rng(0)
    lm = rng.normal(size=(4, 33, 3)).astype(np.float32)
    out = mediapipe_to_ntu25(lm)
    assert out.shape == (4, 25, 3) and out.dtype == np.float32
    mp = MEDIAPIPE33.index
    assert np.allclose(out[:, NTU25.index("spine_base")], (lm[:, mp("hip_l")] + lm[:, mp("hip_r")]) / 2)
    assert np.allclose(out[:, NTU25.index("knee_l")], lm[:, mp("knee_r")])
    with pytest.raises(ValueError, match=r"\(\.\.\., 33, C\)"):
        mediapipe_to_ntu25(lm[:, :25])


def test_mediapipe_mapping_on_the_real_ntu_sample(shared_data):
    """On the real NTU sample, NTU's *left* joints lie where MediaPipe puts its *right* landmarks."""
    image = np.load(shared_data / "pose" / "S001C001P001R001A001_mediapipe0.10.21_pose_full.npz")["image"]
    skeleton = read_skeleton(shared_data / "ntu" / "skeletons" / "S001C001P001R001A001.skeleton")
    assert skeleton.num_bodies == 1 and skeleton.present.all()
    kinect = skeleton.to_pose_sequence().uv[:, 0]  # (T, 25, 2) colorX, colorY
    mapped = mediapipe_to_ntu25(image[..., :2]) * np.array([1920.0, 1080.0])
    assert mapped.shape == kinect.shape == (103, 25, 2)
    for joint in ("shoulder_l", "shoulder_r", "elbow_l", "hip_r"):
        j = NTU25.index(joint)
        other = NTU25.index(joint[:-1] + ("r" if joint.endswith("l") else "l"))
        right = np.median(np.linalg.norm(mapped[:, j] - kinect[:, j], axis=1))
        swapped = np.median(np.linalg.norm(mapped[:, other] - kinect[:, j], axis=1))
        assert right < 25 and swapped > 2 * right, (joint, right, swapped)

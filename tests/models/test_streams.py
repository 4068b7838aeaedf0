"""Pose streams: bone vectors are joint differences along the bone tree, motion is the difference of
consecutive poses, and the stream lives inside the model (joints in, no state-dict entries)."""

from __future__ import annotations

import pytest
import torch

from vpnet.config import ModelConfig
from vpnet.models import build_recognizer
from vpnet.models.streams import PoseStream
from vpnet.skeletons import bone_parents, get_layout


@pytest.mark.parametrize("layout", ["ntu25", "ucla20", "lcrnet13"])
def test_bone_vector_is_the_joint_minus_its_parent(layout):
    lay = get_layout(layout)
    x = torch.randn(2, 3, 5, lay.num_joints, dtype=torch.float64)
    bone = PoseStream("bone", bone_parents(lay))(x)
    for child, parent in lay.bones:  # every tree bone, by the layout's own bone list
        p = bone_parents(lay)
        if p[child] == parent:
            torch.testing.assert_close(bone[..., child], x[..., child] - x[..., parent])
        elif p[parent] == child:
            torch.testing.assert_close(bone[..., parent], x[..., parent] - x[..., child])
    assert torch.equal(bone[..., lay.root], torch.zeros_like(bone[..., lay.root]))


def test_ucla_bone_by_name():
    lay = get_layout("ucla20")
    x = torch.randn(1, 3, 4, 20)
    bone = PoseStream("bone", bone_parents(lay))(x)
    e, s = lay.index("elbow_l"), lay.index("shoulder_l")
    torch.testing.assert_close(bone[..., e], x[..., e] - x[..., s])


def test_motion_is_the_next_pose_minus_this_one_and_zero_at_the_end():
    x = torch.randn(2, 3, 6, 20, dtype=torch.float64)
    m = PoseStream("joint_motion")(x)
    for t in range(5):
        torch.testing.assert_close(m[:, :, t], x[:, :, t + 1] - x[:, :, t])
    assert torch.equal(m[:, :, 5], torch.zeros_like(m[:, :, 5]))
    parents = bone_parents("ucla20")
    bone_motion = PoseStream("bone_motion", parents)(x)
    torch.testing.assert_close(bone_motion, PoseStream("joint_motion")(PoseStream("bone", parents)(x)))
    assert torch.equal(PoseStream("joint")(x), x)


def test_streams_refuse_what_they_cannot_compute():
    with pytest.raises(ValueError, match="pose stream must be one of joint, bone"):
        PoseStream("speed")
    with pytest.raises(ValueError, match="needs the layout's bone parents"):
        PoseStream("bone")


@pytest.mark.parametrize("backbone", ["gcn", "ctrgcn"])
def test_the_recognizer_feeds_its_backbone_the_stream_and_keeps_its_state_dict(backbone):
    torch.manual_seed(0)
    cfg = ModelConfig(variant="pose_only", pose_backbone=backbone, skeleton="ntu25", t_p=8, num_classes=5)
    joint = build_recognizer(cfg)
    bone = build_recognizer(cfg, pose_stream="bone")
    assert joint.state_dict().keys() == bone.state_dict().keys()  # a stream adds no weights
    bone.load_state_dict(joint.state_dict())
    joint.eval(), bone.eval()
    x = torch.randn(2, 3, 8, 25)
    b = x - x[..., torch.as_tensor(bone_parents("ntu25"))]
    with torch.no_grad():
        torch.testing.assert_close(bone(None, x).logits, joint(None, b).logits)
        assert not torch.allclose(bone(None, x).logits, joint(None, x).logits)

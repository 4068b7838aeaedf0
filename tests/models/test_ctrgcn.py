"""The modern pose backbones (CTR-GCN class): the graph partition and bone tree, CTR-GC against its formula,
shapes on every layout, short sequences, and the registry's config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vpnet.config import ModelConfig
from vpnet.engine.config_loader import load_config
from vpnet.errors import ConfigError
from vpnet.models import build_recognizer
from vpnet.models.ctrgcn import CTRGC, CTRGCNPoseBackbone, MultiScaleTemporalConv
from vpnet.models.registry import get_pose_backbone, pose_backbone_names
from vpnet.skeletons import bone_depths, bone_parents, get_layout, graph_partition

LAYOUTS = ("ntu25", "ucla20", "lcrnet13")
MODERN = ("ctrgcn", "stgcnpp", "ctrgcn_large")


@pytest.mark.parametrize("name", LAYOUTS)
def test_bone_tree_and_partition(name):
    lay = get_layout(name)
    parents, depth = bone_parents(lay), bone_depths(lay)
    assert parents[lay.root] == lay.root and depth[lay.root] == 0
    bones = {frozenset(b) for b in lay.bones}
    for j, p in enumerate(parents):
        if j != lay.root:  # every other joint hangs from a bone one step nearer the root
            assert frozenset((j, p)) in bones and depth[p] == depth[j] - 1
    a = graph_partition(lay)
    assert a.shape == (3, lay.num_joints, lay.num_joints)
    np.testing.assert_array_equal(a[0], np.eye(lay.num_joints))
    rows = a[1:].sum(axis=2)
    assert np.allclose(rows[rows > 0], 1.0)  # each joint averages its neighbours in a subset
    joined = (a[1] + a[2] + a[1].T + a[2].T) > 0
    assert {frozenset((int(i), int(j))) for i, j in zip(*np.nonzero(np.triu(joined, 1)))} == bones
    # centripetal: from a joint no farther from the root; centrifugal: from one farther away
    for u, v in zip(*np.nonzero(a[1])):
        assert depth[v] <= depth[u]
    for u, v in zip(*np.nonzero(a[2])):
        assert depth[v] > depth[u]


def test_ucla_parents_by_name():
    lay = get_layout("ucla20")
    parents = bone_parents(lay)
    named = {lay.joints[j]: lay.joints[p] for j, p in enumerate(parents)}
    assert named["elbow_l"] == "shoulder_l" and named["hand_r"] == "wrist_r" and named["foot_l"] == "ankle_l"
    assert named["head"] == "shoulder_center" and named["hip_center"] == "spine" and named["spine"] == "spine"


def test_a_layout_without_a_bone_tree_has_no_parents():
    with pytest.raises(ConfigError, match="mediapipe33 has no bone tree"):
        bone_parents("mediapipe33")


def test_ctrgc_is_its_formula():
    """out[n, c, t, i] = sum_k sum_j (A_k[i, j] + alpha xi_k(tanh(phi_k(x)_i - psi_k(x)_j)))[c] x3_k[n, c, t, j]."""
    torch.manual_seed(0)
    part = graph_partition("lcrnet13")
    g = CTRGC(4, 6, part).double()
    with torch.no_grad():
        g.alpha.fill_(0.7)
        g.a.add_(0.1 * torch.randn_like(g.a))
    x = torch.randn(2, 4, 5, 13, dtype=torch.float64)
    out = g(x).detach().numpy()
    k, r, c = g.k, g.rel, g.out_channels
    pp = g.phi_psi(x).detach().numpy().mean(2)  # (N, 2*K*R, J)
    phi, psi = pp[:, :k * r], pp[:, k * r:]
    xi_w = g.xi.weight.detach().numpy()[:, :, 0, 0]  # (K*C, R)
    xi_b = g.xi.bias.detach().numpy()
    v = g.value(x).detach().numpy()  # (N, K*C, T, J)
    a = g.a.detach().numpy()
    expected = np.zeros_like(out)
    for n in range(2):
        for kk in range(k):
            rel = np.tanh(phi[n, kk * r:(kk + 1) * r, :, None] - psi[n, kk * r:(kk + 1) * r, None, :])  # (R, J, J)
            w, b = xi_w[kk * c:(kk + 1) * c], xi_b[kk * c:(kk + 1) * c]
            q = a[kk][None] + 0.7 * (np.einsum("cr,rij->cij", w, rel) + b[:, None, None])  # (C, J, J)
            expected[n] += np.einsum("cij,ctj->cti", q, v[n, kk * c:(kk + 1) * c])
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


def test_unrefined_graph_conv_shares_one_topology():
    torch.manual_seed(0)
    g = CTRGC(3, 8, graph_partition("ucla20"), refine=False).double()
    x = torch.randn(2, 3, 4, 20, dtype=torch.float64)
    v = g.value(x).view(2, 3, 8, 4, 20)
    expected = sum(torch.einsum("ij,nctj->ncti", g.a[k], v[:, k]) for k in range(3))
    torch.testing.assert_close(g(x), expected)


def test_temporal_branches_split_the_channels_and_stride():
    m = MultiScaleTemporalConv(16, 32, kernel_size=3, dilations=(1, 2, 3, 4), stride=2)
    assert [b[-1].num_features for b in m.branches] == [6, 6, 5, 5, 5, 5]
    assert m(torch.randn(2, 16, 9, 20)).shape == (2, 32, 5, 20)


@pytest.mark.parametrize("backbone", MODERN)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_modern_backbone_runs_on_every_layout(backbone, layout):
    torch.manual_seed(0)
    cfg = ModelConfig(variant="pose_only", pose_backbone=backbone, skeleton=layout, t_p=12, num_classes=7)
    model = build_recognizer(cfg).eval()
    j = get_layout(layout).num_joints
    with torch.no_grad():
        h = model.pose_backbone(torch.randn(3, 3, 12, j))
        logits = model(None, torch.randn(3, 3, 12, j)).logits
    assert h.shape == (3, 128) and logits.shape == (3, 7)
    assert torch.isfinite(h).all() and (h >= 0).all()  # h* after a ReLU, as the GCN's


@pytest.mark.parametrize("t_p", [1, 2, 3])
def test_sequences_shorter_than_the_receptive_field_stay_finite(t_p):
    """5 x 1 dilated convs and two time strides span far more than 3 poses: zero padding, never NaN, both in
    training (BatchNorm over a batch) and in evaluation, and the gradients too."""
    torch.manual_seed(0)
    net = CTRGCNPoseBackbone(partition=graph_partition("ntu25"), t_p=t_p)
    x = torch.randn(4, 3, t_p, 25)
    h = net(x)
    h.sum().backward()
    assert h.shape == (4, 128) and torch.isfinite(h).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    net.eval()
    with torch.no_grad():
        assert torch.isfinite(net(x[:1])).all()


def test_repeated_frames_give_a_zero_motion_stream_and_finite_output():
    """A 1-frame clip sampled to t_p poses is one pose repeated: its motion stream is zero everywhere."""
    cfg = ModelConfig(variant="pose_only", pose_backbone="ctrgcn", skeleton="ucla20", t_p=8, num_classes=10)
    model = build_recognizer(cfg, pose_stream="joint_motion")
    one = torch.randn(2, 3, 1, 20).expand(2, 3, 8, 20)
    assert torch.equal(model.pose_stream(one), torch.zeros_like(one))
    model.train()
    assert torch.isfinite(model(None, one).logits).all()


def test_registry_lists_the_pose_backbones():
    assert {"gcn", "lstm", "ctrgcn", "stgcnpp", "ctrgcn_large"} <= set(pose_backbone_names())
    assert get_pose_backbone("gcn").min_t_p == 4 and get_pose_backbone("ctrgcn").needs_bone_tree
    with pytest.raises(ConfigError, match="model.pose_backbone must be one of gcn, lstm"):
        get_pose_backbone("tcn")


def test_config_errors_name_the_backbone_the_stream_and_the_layout():
    with pytest.raises(ConfigError, match=r"model.pose_backbone='tcn' is not one of: gcn, lstm, ctrgcn"):
        load_config(None, ["model.pose_backbone=tcn"])
    with pytest.raises(ConfigError, match=r"model.pose_backbone=ctrgcn cannot work with model.skeleton=mediapipe33"):
        load_config(None, ["model.pose_backbone=ctrgcn", "model.skeleton=mediapipe33"])
    with pytest.raises(ConfigError, match=r"data.pose_stream=bone_motion cannot work with model.skeleton=mediapipe33"):
        load_config(None, ["data.pose_stream=bone_motion", "model.skeleton=mediapipe33"])
    with pytest.raises(ConfigError, match=r"model.pose_backbone=stgcnpp and data.pose_stream=bone cannot work"):
        load_config(None, ["model.pose_backbone=stgcnpp", "data.pose_stream=bone", "model.skeleton=mediapipe33"])
    with pytest.raises(ConfigError, match="model.t_p=3: model.pose_backbone=gcn needs t_p >= 4"):
        load_config(None, ["model.t_p=3"])
    with pytest.raises(ConfigError, match="data.pose_stream='velocity' is not one of"):
        load_config(None, ["data.pose_stream=velocity"])
    # what can work loads: joints of mediapipe33 with the paper's GCN, a short t_p with ctrgcn
    assert load_config(None, ["model.skeleton=mediapipe33"]).model.skeleton == "mediapipe33"
    assert load_config(None, ["model.pose_backbone=ctrgcn", "model.t_p=2"]).model.t_p == 2


@pytest.mark.parametrize("stream", ["joint", "bone_motion"])
def test_short_clips_are_padded_by_the_sampling_then_scored_finitely(tmp_path, stream):
    """N-UCLA has clips of 1-16 frames: the sampler repeats their poses to t_p (never zeros), and every stream of
    ctrgcn scores them with finite logits."""
    import json

    from vpnet.config import DataConfig
    from vpnet.data.registry import build_dataset

    rng = np.random.default_rng(0)
    for name, frames in (("a01_s01_e00_v01", 1), ("a02_s01_e00_v01", 3), ("a03_s01_e00_v01", 40)):
        sk = rng.uniform(-0.3, 0.3, (1, 20, 3)) + [0.4, 0.0, 3.0] + rng.normal(0, 0.02, (frames, 20, 3))
        (tmp_path / f"{name}.json").write_text(json.dumps({"file_name": name, "skeletons": sk.tolist()}))
    data = DataConfig(dataset="nucla", protocol="v3", pose_dir=str(tmp_path), t_p=24, clip_len=64, crop_size=224,
                      seed=0, pose_span="clip",
                      sampling="stretch", pose_stream=stream)
    ds = build_dataset(data, "train", mode="test", num_clips=2, load_video=False)
    model = build_recognizer(ModelConfig(variant="pose_only", pose_backbone="ctrgcn", skeleton="ucla20", t_p=24,
                                         num_classes=10), pose_stream=stream).eval()
    for i in range(len(ds)):
        poses = ds.load(i)["poses"]  # (clips, 3, t_p, J)
        frames = ds.load(i)["meta"]["pose_frames"]
        assert poses.shape == (2, 3, 24, 20) and torch.isfinite(poses).all()
        distinct = len(np.unique(frames))
        if distinct == 1:  # one frame repeated t_p times: every pose equal, not zero-filled
            assert torch.equal(poses[:, :, :1].expand_as(poses), poses)
        with torch.no_grad():
            assert torch.isfinite(model(None, poses).logits).all()


@pytest.mark.parametrize("backbone", ["ctrgcn", "stgcnpp"])
def test_vpn_takes_a_modern_pose_backbone_unchanged(backbone):
    """l3 (the full VPN) with the graph network as its pose backbone: its h* drives the coupler's A_S and A_T."""
    torch.manual_seed(0)
    cfg = ModelConfig(variant="l3", backbone="i3d", pose_backbone=backbone, skeleton="ntu25", t_p=8, clip_len=32,
                      crop_size=64, num_classes=4)
    model = build_recognizer(cfg, pose_stream="bone").eval()
    video, poses = torch.rand(2, 3, 32, 64, 64) * 2 - 1, torch.randn(2, 3, 8, 25)
    with torch.no_grad():
        out = model(video, poses)
        other = model(video, poses + torch.randn_like(poses))
    assert out.logits.shape == (2, 4) and out.a_s.shape == (2, 2, 2) and out.a_t.shape[0] == 2
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.l_e).all()
    assert not torch.allclose(out.a_s, other.a_s)  # the attention follows the poses through the new backbone

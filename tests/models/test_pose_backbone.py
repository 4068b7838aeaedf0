"""Pose backbones: eq. (1) batched over time with one W_t per step, shapes, the LSTM variant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vpnet.models.pose import GCNPoseBackbone, LSTMPoseBackbone
from vpnet.skeletons import adjacency, normalized_adjacency


@pytest.fixture()
def a_hat() -> np.ndarray:
    return normalized_adjacency(adjacency("ntu25"))


def test_graph_conv_is_eq1_for_every_time_step(a_hat):
    torch.manual_seed(0)
    gcn = GCNPoseBackbone(adjacency=a_hat, t_p=6).double()
    with torch.no_grad():
        gcn.bias.normal_()
    poses = torch.randn(2, 3, 6, 25, dtype=torch.float64)
    out = gcn.graph_conv(poses).detach().numpy()  # (N, 64, t_p, J)
    w, b, p, a = gcn.weight.detach().numpy(), gcn.bias.detach().numpy(), poses.numpy(), gcn.a_hat.numpy()
    for n in range(2):
        for t in range(6):
            f_t = a @ p[n, :, t, :].T @ w[t] + b[t]  # (J, 64): A_hat P_t W_t + b_t
            np.testing.assert_allclose(out[n, :, t, :], f_t.T, rtol=1e-12, atol=1e-12)


def test_each_time_step_has_its_own_weight(a_hat):
    torch.manual_seed(0)
    gcn = GCNPoseBackbone(adjacency=a_hat, t_p=8)
    poses = torch.randn(1, 3, 8, 25)
    before = gcn.graph_conv(poses).detach()
    with torch.no_grad():
        gcn.weight[3] += 1.0
    after = gcn.graph_conv(poses).detach()
    changed = (after - before).abs().amax(dim=(0, 1, 3))
    assert changed[3] > 0.1 and torch.all(changed[torch.arange(8) != 3] == 0)
    assert gcn.weight.shape == (8, 3, 64)


def test_gcn_backbone_output(a_hat):
    torch.manual_seed(0)
    gcn = GCNPoseBackbone(adjacency=a_hat, t_p=20)
    h = gcn(torch.randn(4, 3, 20, 25))
    assert h.shape == (4, 128) and gcn.out_features == 128
    assert (h >= 0).all()  # MLP ends with ReLU
    assert gcn.mlp[0].in_features == 128 * 5 * 6  # two 2x2 pools over the 20 x 25 grid
    assert gcn.convs[0].in_channels == 67  # 64 GCN features joined with the raw 3D pose
    assert [m.out_channels for m in gcn.convs if isinstance(m, torch.nn.Conv2d)] == [64, 64, 128]
    assert torch.equal(gcn.a_hat, torch.as_tensor(a_hat, dtype=torch.float32))


@pytest.mark.parametrize(("t_p", "layout"), [(5, "ucla20"), (30, "lcrnet13")])
def test_gcn_for_other_datasets(t_p, layout):
    gcn = GCNPoseBackbone(adjacency=normalized_adjacency(adjacency(layout)), t_p=t_p)
    j = gcn.num_joints
    assert gcn(torch.randn(2, 3, t_p, j)).shape == (2, 128)


def test_gcn_rejects_unusable_sizes(a_hat):
    with pytest.raises(ValueError, match="t_p and J must be >= 4, got t_p=3"):
        GCNPoseBackbone(adjacency=a_hat, t_p=3)
    with pytest.raises(ValueError, match=r"square \(J, J\) matrix, got \(25, 24\)"):
        GCNPoseBackbone(adjacency=a_hat[:, :24], t_p=8)


def test_lstm_backbone_reads_poses_in_time_order():
    torch.manual_seed(0)
    lstm = LSTMPoseBackbone(num_joints=25, t_p=20).eval()
    poses = torch.randn(3, 3, 20, 25)
    h = lstm(poses)
    assert h.shape == (3, 128) and lstm.out_features == 128
    assert lstm.lstm.input_size == 75 and lstm.lstm.num_layers == 3
    # the last hidden state depends on the last pose: change it and h* changes
    poses2 = poses.clone()
    poses2[:, :, -1] += 1
    assert not torch.allclose(lstm(poses2), h)
    # and the per-step input is the (J, 3) pose of that step, joint-major: x, y, z of joint 0, then joint 1, ...
    seq = torch.empty(3, 20, 75)
    for n in range(3):
        for t in range(20):
            for j in range(25):
                for c in range(3):
                    seq[n, t, 3 * j + c] = poses[n, c, t, j]
    _, (ref, _) = lstm.lstm(seq)
    torch.testing.assert_close(h, ref[-1])

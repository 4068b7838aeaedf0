"""Pose backbones: 3D poses P (N, 3, t_p, J) -> pose feature h* (N, 128). Paper 3.2(I)(A) and Table 2.

- :class:`GCNPoseBackbone` (the paper's): one graph convolution per time step with its own weight,
  eq. (1), joined with the raw pose, three 2D convolutions over the (t_p x J) grid, an MLP.
- :class:`LSTMPoseBackbone` (the Separable STA baseline of Table 2): an LSTM over the t_p poses.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vpnet.config import ModelConfig
from vpnet.skeletons import Layout, adjacency, normalized_adjacency

__all__ = ["GCNPoseBackbone", "LSTMPoseBackbone", "gcn", "lstm"]


class GCNPoseBackbone(nn.Module):
    """GCN pose backbone of the paper, fig. 4(I)(A).

    Eq. (1): f_t+ = A_hat P_t W_t for t = 1..t_p, with A_hat = D^-1/2 (E + I) D^-1/2 (J x J, from
    :func:`vpnet.skeletons.normalized_adjacency`) and a separate W_t (3 -> 64) per time step, all
    steps in one batched contraction. As in the authors' code, W_t has a bias and an ELU follows
    (eq. (1) writes the linear map only). The GCN output is concatenated with the raw pose (67
    channels over the t_p x J grid), then three 3x3 convs (64, 64, 128) each with BatchNorm and ReLU,
    2x2 max-pools after the 2nd and 3rd (authors' code), flatten, MLP 256 -> 128 with ReLU = h*.
    """

    def __init__(self, *, adjacency: np.ndarray | Tensor, t_p: int, in_channels: int = 3, gcn_channels: int = 64,
                 conv_channels: tuple[int, int, int] = (64, 64, 128), hidden: int = 256, out_features: int = 128,
                 bn_momentum: float = 0.1):
        super().__init__()
        a_hat = torch.as_tensor(np.asarray(adjacency), dtype=torch.float32)
        if a_hat.dim() != 2 or a_hat.shape[0] != a_hat.shape[1]:
            raise ValueError(f"adjacency must be a square (J, J) matrix, got {tuple(a_hat.shape)}")
        num_joints = a_hat.shape[0]
        if t_p < 4 or num_joints < 4:
            raise ValueError("the GCN pose backbone pools twice by 2: t_p and J must be >= 4, "
                             f"got t_p={t_p}, J={num_joints}")
        self.t_p, self.num_joints = t_p, num_joints
        self.out_features = out_features
        self.register_buffer("a_hat", a_hat)
        # W_t and b_t of eq. (1), one per time step: (t_p, 3, 64) and (t_p, 64).
        self.weight = nn.Parameter(torch.empty(t_p, in_channels, gcn_channels))
        self.bias = nn.Parameter(torch.zeros(t_p, gcn_channels))
        c1, c2, c3 = conv_channels

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, momentum=bn_momentum),
                    nn.ReLU(inplace=True)]

        self.convs = nn.Sequential(*block(gcn_channels + in_channels, c1), *block(c1, c2), nn.MaxPool2d(2),
                                   *block(c2, c3), nn.MaxPool2d(2))
        flat = c3 * (t_p // 4) * (num_joints // 4)
        self.mlp = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, out_features), nn.ReLU(inplace=True))
        for t in range(t_p):
            nn.init.xavier_uniform_(self.weight.data[t])

    def graph_conv(self, poses: Tensor) -> Tensor:
        """Eq. (1) for every time step at once: (N, 3, t_p, J) -> f+ (N, 64, t_p, J), before the ELU."""
        # out[n, d, t, j] = sum_k A_hat[j, k] sum_c P[n, c, t, k] W[t, c, d]
        x = torch.einsum("nctk,tcd->ndtk", poses, self.weight)
        x = torch.einsum("ndtk,jk->ndtj", x, self.a_hat)
        return x + self.bias.t()[None, :, :, None]

    def forward(self, poses: Tensor) -> Tensor:
        """(N, 3, t_p, J) metres -> h* (N, 128)."""
        x = torch.cat([F.elu(self.graph_conv(poses)), poses], dim=1)
        return self.mlp(self.convs(x).flatten(1))


class LSTMPoseBackbone(nn.Module):
    """LSTM over the t_p poses (each flattened to J*3 values, joint-major); h* = the last hidden state
    of the top layer (N, 128). The Separable STA pose branch, Table 2 rows l4 and l6."""

    def __init__(self, *, num_joints: int, t_p: int, in_channels: int = 3, hidden: int = 128, num_layers: int = 3):
        super().__init__()
        self.t_p, self.num_joints, self.in_channels = t_p, num_joints, in_channels
        self.out_features = hidden
        self.lstm = nn.LSTM(num_joints * in_channels, hidden, num_layers=num_layers, batch_first=True)

    def forward(self, poses: Tensor) -> Tensor:
        """(N, 3, t_p, J) -> h* (N, 128)."""
        n = poses.shape[0]
        seq = poses.permute(0, 2, 3, 1).reshape(n, self.t_p, self.num_joints * self.in_channels)
        _, (h, _) = self.lstm(seq)
        return h[-1]


def gcn(*, layout: Layout, cfg: ModelConfig) -> GCNPoseBackbone:
    """The paper's GCN on ``layout``'s graph (``model.adjacency``, ``alpha``, ``beta``)."""
    e = adjacency(layout, alpha=cfg.alpha, beta=cfg.beta, mode=cfg.adjacency)
    return GCNPoseBackbone(adjacency=normalized_adjacency(e), t_p=cfg.t_p)


def lstm(*, layout: Layout, cfg: ModelConfig) -> LSTMPoseBackbone:
    """The Separable STA LSTM over ``layout``'s joints."""
    return LSTMPoseBackbone(num_joints=layout.num_joints, t_p=cfg.t_p)

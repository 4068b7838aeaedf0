"""A channel-wise topology refinement graph network (CTR-GCN class), written from the papers:

- Chen et al., "Channel-wise Topology Refinement Graph Convolution for Skeleton-Based Action
  Recognition", ICCV 2021 (CTR-GC, the multi-scale temporal convolution, the 10-block layout);
- Duan et al., "PYSKL: Towards Good Practices for Skeleton Action Recognition", ACM MM 2022 (ST-GCN++:
  learnable adjacency initialised from the graph, multi-scale temporal branches, residual blocks).

Interface as the paper's GCN pose backbone: poses (N, 3, t_p, J) -> h* (N, 128) for VPN's coupler;
``pose_only`` puts the recognizer's head (dropout + linear, CTR-GCN's classifier) on h*.

One block (:class:`CTRGCNBlock`)::

    x -> CTR-GC over the K = 3 subsets of the spatial partition -> BN -> + res -> ReLU
      -> multi-scale temporal conv (two dilated k x 1 branches, a max-pool branch, a 1x1 branch) -> BN
      -> + residual(x) -> ReLU

CTR-GC (per subset k): a shared topology A_k (learned, initialised from
:func:`vpnet.skeletons.graph_partition`) refined per sample and channel,
Q_k = A_k + alpha * xi(tanh(phi(x)_i - psi(x)_j)) with phi, psi 1x1 convs to C/8 channels averaged over
time, xi a 1x1 conv back to C_out channels; out_c = sum_k Q_k,c x3_k,c with x3 = a 1x1 conv of x. The K
subsets' convs run as one conv each (grouped for xi) to keep CPU passes few.

``ctrgcn`` (sized for 2 CPU cores) has 6 blocks 32-32-64-64-128-128 with time strides 2 before the 64 and
128 stages; ``ctrgcn_large`` is the published 10 blocks 64 (x4) - 128 (x3) - 256 (x3); ``stgcnpp`` is
``ctrgcn``'s blocks without the per-sample refinement (one learned topology per subset, ST-GCN++'s) and with
ST-GCN++'s temporal branches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vpnet.config import ModelConfig
from vpnet.skeletons import Layout, graph_partition

__all__ = ["CTRGCNPoseBackbone", "CTRGC", "MultiScaleTemporalConv", "CTRGCNBlock", "ctrgcn", "ctrgcn_large", "stgcnpp",
           "SMALL", "LARGE"]

#: (out_channels, time stride) per block.
SMALL: tuple[tuple[int, int], ...] = ((32, 1), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1))
LARGE: tuple[tuple[int, int], ...] = ((64, 1), (64, 1), (64, 1), (64, 1), (128, 2), (128, 1), (128, 1),
                                      (256, 2), (256, 1), (256, 1))


def _bn(channels: int, momentum: float, *, zero: bool = False) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels, momentum=momentum)
    if zero:  # the last BN of a residual branch starts at zero: each block starts near its shortcut
        nn.init.zeros_(bn.weight)
    return bn


class CTRGC(nn.Module):
    """Channel-wise topology refinement graph convolution over K subsets: (N, C_in, T, J) -> (N, C_out, T, J)."""

    def __init__(self, in_channels: int, out_channels: int, partition: np.ndarray | Tensor, *, reduction: int = 8,
                 refine: bool = True):
        super().__init__()
        a = torch.as_tensor(np.asarray(partition), dtype=torch.float32)
        if a.dim() != 3 or a.shape[1] != a.shape[2]:
            raise ValueError(f"partition must be (K, J, J), got {tuple(a.shape)}")
        k = a.shape[0]
        rel = 8 if in_channels <= 16 else in_channels // reduction
        self.k, self.rel, self.out_channels, self.refine = k, rel, out_channels, refine
        self.a = nn.Parameter(a.clone())  # the shared topology, learned (ST-GCN++ and CTR-GCN)
        self.value = nn.Conv2d(in_channels, k * out_channels, 1)
        if refine:
            self.alpha = nn.Parameter(torch.zeros(1))  # refinement weight: starts at the shared topology
            self.phi_psi = nn.Conv2d(in_channels, 2 * k * rel, 1)
            self.xi = nn.Conv2d(k * rel, k * out_channels, 1, groups=k)

    def forward(self, x: Tensor) -> Tensor:
        n, _, t, j = x.shape
        k, r, c = self.k, self.rel, self.out_channels
        v = self.value(x).view(n, k, c, t, j)
        if not self.refine:  # ST-GCN++: one learned topology per subset, shared by samples and channels
            return torch.einsum("kij,nkctj->ncti", self.a, v)
        m = self.phi_psi(x).mean(2).view(n, 2, k * r, j)  # temporal mean: (N, 2, K*R, J)
        rel = torch.tanh(m[:, 0, :, :, None] - m[:, 1, :, None, :])  # (N, K*R, J, J): i minus j per channel
        # Q = A + alpha xi(rel), applied as A v + (alpha xi)(rel) v: alpha scales xi's weights rather than the
        # (N, K, C, J, J) tensor, and A is not broadcast over it (half the time of the block on a CPU)
        refined = F.conv2d(rel, self.xi.weight * self.alpha, self.xi.bias * self.alpha, groups=k).view(n, k, c, j, j)
        return torch.einsum("kij,nkctj->ncti", self.a, v) + torch.einsum("nkcij,nkctj->ncti", refined, v)


class MultiScaleTemporalConv(nn.Module):
    """Branches of about C_out / (len(dilations) + 2) channels each, concatenated: a k x 1 temporal conv at each
    of ``dilations`` (after a 1x1 conv, BN, ReLU), a 3 x 1 max-pool (after the same), and a 1x1 conv; CTR-GCN's
    is k = 5, dilations (1, 2), ST-GCN++'s k = 3, dilations (1, 2, 3, 4). (N, C, T, J) -> (N, C_out, T / stride,
    J)."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int = 5, stride: int = 1,
                 dilations: Sequence[int] = (1, 2), bn_momentum: float = 0.1):
        super().__init__()
        nb = len(dilations) + 2
        if out_channels < nb:
            raise ValueError(f"out_channels={out_channels} is fewer than the {nb} temporal branches")
        # C_out split over the branches, the first ones taking the remainder (6 branches of 32 channels)
        widths = [out_channels // nb + (i < out_channels % nb) for i in range(nb)]

        def entry(bc: int) -> list[nn.Module]:
            return [nn.Conv2d(in_channels, bc, 1), _bn(bc, bn_momentum), nn.ReLU(inplace=True)]

        branches: list[nn.Module] = []
        for d, bc in zip(dilations, widths):
            pad = (kernel_size - 1) * d // 2
            branches.append(nn.Sequential(
                *entry(bc), nn.Conv2d(bc, bc, (kernel_size, 1), stride=(stride, 1), padding=(pad, 0),
                                      dilation=(d, 1)),
                _bn(bc, bn_momentum)))
        bc = widths[-2]
        branches.append(nn.Sequential(*entry(bc), nn.MaxPool2d((3, 1), stride=(stride, 1), padding=(1, 0)),
                                      _bn(bc, bn_momentum)))
        bc = widths[-1]
        branches.append(nn.Sequential(nn.Conv2d(in_channels, bc, 1, stride=(stride, 1)), _bn(bc, bn_momentum)))
        self.branches = nn.ModuleList(branches)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


class CTRGCNBlock(nn.Module):
    """CTR-GC + BN (+ its shortcut), ReLU, multi-scale temporal conv, + the block's residual, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, partition: np.ndarray, *, stride: int = 1,
                 residual: bool = True, kernel_size: int = 5, dilations: Sequence[int] = (1, 2), refine: bool = True,
                 bn_momentum: float = 0.1):
        super().__init__()
        self.gcn = CTRGC(in_channels, out_channels, partition, refine=refine)
        self.gcn_bn = _bn(out_channels, bn_momentum, zero=True)
        self.gcn_res = (nn.Identity() if in_channels == out_channels else
                        nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), _bn(out_channels, bn_momentum)))
        self.tcn = MultiScaleTemporalConv(out_channels, out_channels, kernel_size=kernel_size, stride=stride,
                                          dilations=dilations, bn_momentum=bn_momentum)
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=(stride, 1)),
                                          _bn(out_channels, bn_momentum))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.gcn_bn(self.gcn(x)) + self.gcn_res(x))
        y = self.tcn(y)
        if self.residual is not None:
            y = y + self.residual(x)
        return self.relu(y)


class CTRGCNPoseBackbone(nn.Module):
    """Poses (N, 3, t_p, J) -> h* (N, 128): data BN over (channel, joint), the blocks, the mean over time and
    joints, and a linear map + ReLU to ``out_features`` when the last block is wider.

    Any t_p >= 1 runs: the temporal convs pad with zeros, so a sequence shorter than their receptive field
    still gives finite features (the sampler has already repeated the frames of a short clip to t_p).
    """

    def __init__(self, *, partition: np.ndarray | Tensor, t_p: int, in_channels: int = 3,
                 blocks: Sequence[tuple[int, int]] = SMALL, kernel_size: int = 5, dilations: Sequence[int] = (1, 2),
                 refine: bool = True, out_features: int = 128, bn_momentum: float = 0.1):
        super().__init__()
        partition = np.asarray(partition, dtype=np.float32)
        num_joints = partition.shape[-1]
        self.t_p, self.num_joints, self.out_features = t_p, num_joints, out_features
        self.data_bn = nn.BatchNorm1d(in_channels * num_joints, momentum=bn_momentum)
        layers = []
        c = in_channels
        for i, (out, stride) in enumerate(blocks):
            layers.append(CTRGCNBlock(c, out, partition, stride=stride, residual=i > 0, kernel_size=kernel_size,
                                      dilations=dilations, refine=refine, bn_momentum=bn_momentum))
            c = out
        self.blocks = nn.Sequential(*layers)
        self.proj = (nn.Identity() if c == out_features else
                     nn.Sequential(nn.Linear(c, out_features), nn.ReLU(inplace=True)))
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out")
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)

    def forward(self, poses: Tensor) -> Tensor:
        """(N, 3, t_p, J) -> h* (N, out_features)."""
        n, c, t, j = poses.shape
        x = self.data_bn(poses.permute(0, 1, 3, 2).reshape(n, c * j, t))  # per (channel, joint) statistics
        x = x.view(n, c, j, t).permute(0, 1, 3, 2).contiguous()
        x = self.blocks(x)
        return self.proj(x.mean(dim=(2, 3)))


def ctrgcn(*, layout: Layout, cfg: ModelConfig) -> CTRGCNPoseBackbone:
    """The compact CTR-GCN of the pose-only presets: 6 blocks, 32-32-64-64-128-128 (:data:`SMALL`)."""
    return CTRGCNPoseBackbone(partition=graph_partition(layout), t_p=cfg.t_p, blocks=SMALL, bn_momentum=0.1)


def ctrgcn_large(*, layout: Layout, cfg: ModelConfig) -> CTRGCNPoseBackbone:
    """CTR-GCN's published width and depth: 10 blocks, 64 (x4) - 128 (x3) - 256 (x3) (:data:`LARGE`)."""
    return CTRGCNPoseBackbone(partition=graph_partition(layout), t_p=cfg.t_p, blocks=LARGE, bn_momentum=0.1)


def stgcnpp(*, layout: Layout, cfg: ModelConfig) -> CTRGCNPoseBackbone:
    """ST-GCN++-like (PySKL): the blocks of :data:`SMALL` with one learned topology per subset (no per-sample
    refinement) and ST-GCN++'s temporal branches (k = 3, dilations 1-4, max-pool, 1x1)."""
    return CTRGCNPoseBackbone(partition=graph_partition(layout), t_p=cfg.t_p, blocks=SMALL, kernel_size=3,
                              dilations=(1, 2, 3, 4), refine=False, bn_momentum=0.1)

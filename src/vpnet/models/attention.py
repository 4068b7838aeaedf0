"""The spatio-temporal coupler, paper 3.2(I)(B): h* -> z1, z2 -> A_S, A_T -> A_ST -> f'.

Eq. (2): z_r = W_zr tanh(W_hr h* + b_hr) + b_zr (r = 1 spatial, hidden 256; r = 2 temporal, hidden 128),
A_S = sigmoid(z1) (an m x n map), A_T = softmax(z2) (t_c weights).

Coupled (the paper's): A_ST = inflate(A_S) o inflate(A_T), shape (t_c, m, n): the **same** m x n map
at every time step, each time slice scaled by its A_T, broadcast over channels; f' = A_ST * f + f.

Separable (Table 2, Separable STA of Das et al. 2019, "Toyota Smarthome"): the dissociated weights
modulate f separately, a spatially modulated map f_S = A_S * f + f and a temporally modulated map
f_T = A_T * f + f, and f' = (f_S + f_T) / 2 = f + (A_S + A_T) * f / 2. There is no A_S x A_T term:
that product is exactly what coupling adds, so the ablation keeps the two attentions apart. Separable
STA pools each modulated map and combines the pooled features; the head's global average pool is
linear, so pooling the mean of the two maps is the mean of their pools. The mean (rather than the
sum) keeps f' on the scale of f, as in the other couplers.

Spatial only (Table 4): A_ST = inflate(A_S).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vpnet.config import COUPLERS

__all__ = ["SpatioTemporalCoupler", "CouplerOutput", "COUPLERS"]


class CouplerOutput(NamedTuple):
    """The coupler's result; the fields in the order of ``VPNLayerOutput`` and ``VPNOutput``, read by name."""

    #: modulated feature map (N, C, t_c, m', n').
    f_prime: Tensor
    #: A_S as applied (N, m', n'): bilinearly resized when f's grid is not the trained m x n.
    a_s: Tensor
    #: A_T (N, t_c), or None for spatial-only attention.
    a_t: Tensor | None
    #: z1 (N, m*n), the latent spatial attention vector (pre-sigmoid) on the trained grid.
    z1: Tensor


def _mlp(in_features: int, hidden: int, out_features: int, init_std: float) -> nn.Sequential:
    mlp = nn.Sequential(nn.Linear(in_features, hidden), nn.Tanh(), nn.Linear(hidden, out_features))
    # The authors zero the last layer (A_S = 0.5, A_T uniform, for every pose). Near zero (0.01, the
    # default): the same start, but z1 != 0, so the pose side of the embedding (P_e = T_p z1) has a
    # direction. Larger (``vpnet demo``: 0.3): the attention depends on the pose from the first step.
    nn.init.normal_(mlp[2].weight, std=init_std)
    nn.init.zeros_(mlp[2].bias)
    return mlp


class SpatioTemporalCoupler(nn.Module):
    """Attention weights from h* and their application to the feature map f."""

    def __init__(self, *, in_features: int = 128, t_c: int, m: int, n: int, spatial_hidden: int = 256,
                 temporal_hidden: int = 128, coupler: str = "coupled", temporal: bool = True,
                 init_std: float = 0.01):
        super().__init__()
        if coupler not in COUPLERS:
            raise ValueError(f"coupler must be one of {', '.join(COUPLERS)}; got {coupler!r}")
        if not init_std >= 0:
            raise ValueError(f"init_std must be >= 0; got {init_std}")
        self.t_c, self.m, self.n = t_c, m, n
        self.coupler = coupler
        self.spatial = _mlp(in_features, spatial_hidden, m * n, init_std)  # -> z1
        self.temporal = _mlp(in_features, temporal_hidden, t_c, init_std) if temporal else None  # -> z2

    def attention(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Eq. (2): h* (N, 128) -> z1 (N, m*n), A_S (N, m, n), A_T (N, t_c) or None."""
        z1 = self.spatial(h)
        a_s = torch.sigmoid(z1).view(-1, self.m, self.n)
        a_t = torch.softmax(self.temporal(h), dim=1) if self.temporal is not None else None
        return z1, a_s, a_t

    def forward(self, f: Tensor, h: Tensor) -> CouplerOutput:
        """f (N, C, t_c, m', n'), h* (N, 128) -> f' (N, C, t_c, m', n') and the attention weights."""
        if f.shape[2] != self.t_c:
            raise ValueError(f"feature map has t_c={f.shape[2]} time steps, the attention was built for "
                             f"t_c={self.t_c} (feature map {tuple(f.shape)})")
        z1, a_s, a_t = self.attention(h)
        if a_s.shape[1:] != f.shape[3:]:
            # Fully convolutional inference on a larger crop: the same map, resized to f's grid.
            a_s = F.interpolate(a_s[:, None], size=tuple(f.shape[3:]), mode="bilinear", align_corners=False)[:, 0]
        a_s = a_s.to(f.dtype)
        inflated_s = a_s[:, None, None]  # (N, 1, 1, m, n): one map for every channel and time step
        if a_t is None:
            return CouplerOutput(f_prime=torch.addcmul(f, inflated_s, f), a_s=a_s, a_t=None, z1=z1)
        inflated_t = a_t.to(f.dtype)[:, None, :, None, None]  # (N, 1, t_c, 1, 1): whole time slices
        if self.coupler == "coupled":
            a_st = inflated_s * inflated_t  # A_ST = inflate(A_S) o inflate(A_T), (N, 1, t_c, m, n)
            f_prime = torch.addcmul(f, a_st, f)  # f' = A_ST * f + f
        else:
            # (f_S + f_T) / 2 with f_S = A_S * f + f, f_T = A_T * f + f: no A_S x A_T term
            f_prime = torch.addcmul(f, (inflated_s + inflated_t) / 2, f)
        return CouplerOutput(f_prime=f_prime, a_s=a_s, a_t=a_t, z1=z1)

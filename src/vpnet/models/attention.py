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

from vpnet.config import ATTENTION_SOURCES, COUPLERS, SPATIAL_ATTENTIONS

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
    """Attention weights from h* and their application to the feature map f.

    Beyond the paper (each a :class:`~vpnet.config.ModelConfig` field, the paper's form the default):

    - ``source``: ``pose`` (eq. 2), ``fixed`` (one learned z1 and z2 for every clip, no pose: a probe
      of what a pose-blind map can do) or ``given`` (A_S passed to :meth:`forward`, e.g. ground truth:
      an oracle probe; A_T one learned z2, no pose).
    - ``spatial``: ``sigmoid`` (eq. 2) or ``softmax`` over the m x n cells. With ``softmax`` the map
      redistributes instead of amplifying: A_S and A_T each sum to 1 and A_ST is applied scaled by
      t_c*m*n, so that its mean over the map is 1 (A_S as returned still sums to 1).
    - ``residual``: f' = A_ST f + f (the paper's) or f' = A_ST f; without the residual the head's
      global average pool becomes an attention-weighted pooling of f.
    """

    def __init__(self, *, in_features: int = 128, t_c: int, m: int, n: int, spatial_hidden: int = 256,
                 temporal_hidden: int = 128, coupler: str = "coupled", temporal: bool = True,
                 init_std: float = 0.01, source: str = "pose", spatial: str = "sigmoid", residual: bool = True):
        super().__init__()
        if coupler not in COUPLERS:
            raise ValueError(f"coupler must be one of {', '.join(COUPLERS)}; got {coupler!r}")
        if source not in ATTENTION_SOURCES:
            raise ValueError(f"source must be one of {', '.join(ATTENTION_SOURCES)}; got {source!r}")
        if spatial not in SPATIAL_ATTENTIONS:
            raise ValueError(f"spatial must be one of {', '.join(SPATIAL_ATTENTIONS)}; got {spatial!r}")
        if not init_std >= 0:
            raise ValueError(f"init_std must be >= 0; got {init_std}")
        self.t_c, self.m, self.n = t_c, m, n
        self.coupler, self.source, self.spatial_norm, self.residual = coupler, source, spatial, residual
        if source == "pose":
            self.spatial = _mlp(in_features, spatial_hidden, m * n, init_std)  # -> z1
            self.temporal = _mlp(in_features, temporal_hidden, t_c, init_std) if temporal else None  # -> z2
        else:  # no pose: one z2 for every clip, and z1 too for ``fixed``
            self.spatial = self.temporal = None
            self.z1 = nn.Parameter(torch.randn(m * n) * init_std) if source == "fixed" else None
            self.z2 = nn.Parameter(torch.randn(t_c) * init_std) if temporal else None
        self.has_temporal = temporal

    @property
    def uses_pose(self) -> bool:
        return self.source == "pose"

    def attention(self, h: Tensor | None, a_s: Tensor | None = None,
                  batch: int | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """Eq. (2): h* (N, 128) -> z1 (N, m*n), A_S (N, m, n), A_T (N, t_c) or None.

        ``a_s`` (N, m, n) >= 0: the given A_S of ``source="given"`` (a sigmoid map is clipped to [0, 1], a
        softmax map normalised to sum 1; an all-zero map becomes uniform); ``batch``: N without a pose.
        """
        if self.source == "pose":
            z1 = self.spatial(h)
            z2 = self.temporal(h) if self.temporal is not None else None
        else:
            n = batch if batch is not None else (len(a_s) if a_s is not None else 1)
            z2 = self.z2.expand(n, -1) if self.z2 is not None else None
            if self.source == "fixed":
                z1 = self.z1.expand(n, -1)
            else:
                if a_s is None:
                    raise ValueError("attention_source=given needs A_S with each clip (a_s (N, m, n))")
                if tuple(a_s.shape[1:]) != (self.m, self.n):
                    raise ValueError(f"given A_S must be (N, {self.m}, {self.n}), got {tuple(a_s.shape)}")
                given = a_s.float().flatten(1).clamp(min=0)
                given = torch.where(given.sum(1, keepdim=True) > 0, given, torch.ones_like(given))
                if self.spatial_norm == "softmax":
                    given = given / given.sum(1, keepdim=True)
                    z1 = given.clamp(min=1e-6).log()
                else:
                    given = given.clamp(max=1.0)
                    z1 = torch.logit(given, eps=1e-6)
        if self.spatial_norm == "softmax":
            a_s_out = torch.softmax(z1, dim=1)
        else:
            a_s_out = torch.sigmoid(z1)
        a_t = torch.softmax(z2, dim=1) if z2 is not None else None
        return z1, a_s_out.view(-1, self.m, self.n), a_t

    def forward(self, f: Tensor, h: Tensor | None, a_s: Tensor | None = None) -> CouplerOutput:
        """f (N, C, t_c, m', n'), h* (N, 128) (None without a pose), given ``a_s`` (N, m, n) (``given``) ->
        f' (N, C, t_c, m', n') and the attention weights."""
        if f.shape[2] != self.t_c:
            raise ValueError(f"feature map has t_c={f.shape[2]} time steps, the attention was built for "
                             f"t_c={self.t_c} (feature map {tuple(f.shape)})")
        z1, a_s, a_t = self.attention(h, a_s, batch=f.shape[0])
        softmax = self.spatial_norm == "softmax"
        w_s = a_s * (self.m * self.n) if softmax else a_s  # the weights applied: mean 1 over the map with softmax
        if w_s.shape[1:] != f.shape[3:]:
            # Fully convolutional inference on a larger crop: the same map, resized to f's grid.
            w_s = F.interpolate(w_s[:, None], size=tuple(f.shape[3:]), mode="bilinear", align_corners=False)[:, 0]
            a_s = w_s / (self.m * self.n) if softmax else w_s
        inflated_s = w_s.to(f.dtype)[:, None, None]  # (N, 1, 1, m, n): one map for every channel and time step
        if a_t is None:
            weights = inflated_s
        else:
            w_t = a_t * self.t_c if softmax else a_t
            inflated_t = w_t.to(f.dtype)[:, None, :, None, None]  # (N, 1, t_c, 1, 1): whole time slices
            if self.coupler == "coupled":
                weights = inflated_s * inflated_t  # A_ST = inflate(A_S) o inflate(A_T), (N, 1, t_c, m, n)
            else:
                # (f_S + f_T) / 2 with f_S = A_S * f + f, f_T = A_T * f + f: no A_S x A_T term
                weights = (inflated_s + inflated_t) / 2
        f_prime = torch.addcmul(f, weights, f) if self.residual else weights * f  # f' = A_ST * f (+ f)
        return CouplerOutput(f_prime=f_prime, a_s=a_s.to(f.dtype), a_t=a_t, z1=z1)

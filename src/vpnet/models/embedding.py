"""The spatial embedding of RGB and pose, paper 3.2(II), eq. (3)-(4), and its loss variants (Table 3).

f_s = sum_t f(t) flattened (D_v = C*m*n values, 50,176 for 1024 x 7 x 7); the pose side is z1
(m*n values; the authors' code feeds A_S = sigmoid(z1) instead: ``embed_pose_input="a_s"``).
Eq. (3): f_e = T_v f_s, P_e = T_p z1 with T_v (D_e x D_v), T_p (D_e x m*n), D_e = 256, and
||T_v||_2 = ||T_p||_2 = 1 held by spectral normalisation (:class:`SpectralNormLinear`).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vpnet.config import EMBED_POSE_INPUTS, EMBEDDING_LOSSES

__all__ = ["SpatialEmbedding", "SpectralNormLinear", "embedding_loss", "EMBEDDING_LOSSES", "EMBED_POSE_INPUTS"]


def _kl(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """KL(p || q) per row, p = softmax(p_logits), q = softmax(q_logits) over the D_e entries."""
    log_p, log_q = F.log_softmax(p_logits, dim=1), F.log_softmax(q_logits, dim=1)
    return F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(dim=1)


def embedding_loss(f_e: Tensor, p_e: Tensor, kind: str = "normalized_euclidean", *,
                   temperature: float = 0.1) -> Tensor:
    """L_e per sample (N,) between the video embedding f_e (N, D_e) and the pose embedding P_e (N, D_e).

    - ``normalized_euclidean`` (eq. 4, the paper's): || f_e/||f_e|| - P_e/||P_e|| ||^2, in [0, 4].
    - ``kl_fp`` = KL(f_e || P_e), ``kl_pf`` = KL(P_e || f_e), ``bi_kl`` = both (Table 3), the
      embeddings turned into distributions by a softmax over D_e. The paper explains why the one-way
      losses do worse: "the feedback is in one direction either towards RGB or poses". So each sends
      gradient to one side only, read as in distillation, KL(target || model): ``kl_fp`` holds f_e
      fixed (detached) and moves P_e towards it, feedback to the pose side (T_p, the attention
      network, the pose backbone); ``kl_pf`` holds P_e fixed and moves f_e, feedback to the RGB side
      (T_v, the visual backbone). ``bi_kl`` sends gradient to both, as eq. (4) does.
    - ``l1``: the authors' code, squared L1 distance (sum_d |f_e - P_e|)^2.
    - ``infonce`` (not in the paper): eq. (4)'s pull of matched pairs plus a push of the batch's other
      pairs, the symmetric InfoNCE of CLIP (Radford et al. 2021) over the cosine similarities divided
      by ``temperature``: row i is the cross-entropy of picking P_e(i) among the batch's P_e for f_e(i),
      and f_e(i) among the f_e for P_e(i), averaged. Eq. (4) is met by a constant f_e and a constant
      P_e (measured on vpnet-ADL: it falls to ~0 within the first epoch); this one is not, since a
      collapsed embedding cannot tell the batch's pairs apart (its value is then log N).
    Computed in float32 whatever the autocast dtype.
    """
    f_e, p_e = f_e.float(), p_e.float()
    if kind == "normalized_euclidean":
        return (F.normalize(f_e, dim=1) - F.normalize(p_e, dim=1)).pow(2).sum(dim=1)
    if kind == "kl_fp":
        return _kl(f_e.detach(), p_e)  # feedback towards the poses only
    if kind == "kl_pf":
        return _kl(p_e.detach(), f_e)  # feedback towards RGB only
    if kind == "bi_kl":
        return _kl(f_e, p_e) + _kl(p_e, f_e)
    if kind == "l1":
        return (f_e - p_e).abs().sum(dim=1).pow(2)
    if kind == "infonce":
        logits = F.normalize(f_e, dim=1) @ F.normalize(p_e, dim=1).t() / temperature  # (N, N)
        target = torch.arange(len(logits), device=logits.device)
        return (F.cross_entropy(logits, target, reduction="none")
                + F.cross_entropy(logits.t(), target, reduction="none")) / 2
    raise ValueError(f"embedding loss must be one of {', '.join(EMBEDDING_LOSSES)}; got {kind!r}")


class SpectralNormLinear(nn.Module):
    """A bias-free linear map with spectral norm 1: y = W x / sigma(W) (Miyato et al., ICLR 2018).

    The same function and gradient as ``torch.nn.utils.parametrizations.spectral_norm(nn.Linear(...,
    bias=False))`` (same power iteration, sigma = u^T W v with u, v held constant), but the (N, out)
    output is divided by sigma instead of materialising W / sigma every step. T_v is 256 x 50,176:
    that division and its backward were most of VPN's training overhead (benchmarks/bench_model.py
    times both).
    It runs in float32 even under autocast (the map is memory-bound, and bf16 would add a cast of W),
    or in float64 when the module was converted with ``.double()``.
    """

    def __init__(self, in_features: int, out_features: int, *, n_power_iterations: int = 1, eps: float = 1e-12):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.n_power_iterations, self.eps = n_power_iterations, eps
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)  # nn.Linear's init
        self.register_buffer("u", F.normalize(torch.randn(out_features), dim=0, eps=eps))
        self.register_buffer("v", F.normalize(torch.randn(in_features), dim=0, eps=eps))
        self._power_iteration(15)  # start from good singular vectors, as torch does

    @property
    def _dtype(self) -> torch.dtype:
        return torch.promote_types(self.weight.dtype, torch.float32)

    @torch.no_grad()
    def _power_iteration(self, steps: int) -> None:
        # In place, so that DataParallel replicas update the module's own buffers (as torch does).
        w = self.weight.to(self.u.dtype)
        for _ in range(steps):
            F.normalize(torch.mv(w, self.v), dim=0, eps=self.eps, out=self.u)
            F.normalize(torch.mv(w.t(), self.u), dim=0, eps=self.eps, out=self.v)

    def sigma(self) -> Tensor:
        """The current estimate of the largest singular value of W, differentiable in W."""
        # clone: the buffers change in place at the next training step, autograd must keep these.
        u, v = self.u.clone(), self.v.clone()
        return torch.dot(u, torch.mv(self.weight.to(u.dtype), v))

    def forward(self, x: Tensor) -> Tensor:
        """(N, in) -> (N, out) float32 (float64 for a ``.double()`` module)."""
        if self.training:
            self._power_iteration(self.n_power_iterations)
        device = x.device.type
        no_autocast = (torch.autocast(device, enabled=False) if torch.amp.is_autocast_available(device)
                       else contextlib.nullcontext())
        with no_autocast:
            dtype = self._dtype
            return F.linear(x.to(dtype), self.weight.to(dtype)) / self.sigma().to(dtype)


class SpatialEmbedding(nn.Module):
    """T_v and T_p of eq. (3) with spectral norm 1; ``forward`` gives L_e per sample (N,)."""

    def __init__(self, *, in_channels: int, m: int, n: int, embed_dim: int = 256,
                 loss: str = "normalized_euclidean", temperature: float = 0.1):
        super().__init__()
        if loss not in EMBEDDING_LOSSES:
            raise ValueError(f"embedding loss must be one of {', '.join(EMBEDDING_LOSSES)}; got {loss!r}")
        self.loss, self.temperature = loss, temperature
        self.in_channels, self.m, self.n = in_channels, m, n
        # Linear maps without bias, as eq. (3); ||T||_2 = 1 by power iteration (one per training step).
        self.t_v = SpectralNormLinear(in_channels * m * n, embed_dim)
        self.t_p = SpectralNormLinear(m * n, embed_dim)

    def embed(self, f: Tensor, pose_vec: Tensor) -> tuple[Tensor, Tensor]:
        """f (N, C, t_c, m, n), pose vector (N, m*n) -> f_e, P_e (N, D_e)."""
        f_s = f.sum(dim=2).flatten(1)  # f_s = sum over t_c of f(t), D_v = C*m*n
        return self.t_v(f_s), self.t_p(pose_vec)

    def forward(self, f: Tensor, pose_vec: Tensor) -> Tensor:
        """f (N, C, t_c, m, n), pose vector (N, m*n) -> L_e (N,)."""
        if f.shape[1] != self.in_channels or tuple(f.shape[3:]) != (self.m, self.n):
            raise ValueError(f"the embedding was built for feature maps (N, {self.in_channels}, t_c, {self.m}, "
                             f"{self.n}), got {tuple(f.shape)}")
        return embedding_loss(*self.embed(f, pose_vec), self.loss, temperature=self.temperature)

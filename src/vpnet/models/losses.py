"""The training loss, paper 3.3: eq. (5) L = lambda1 L_C + (1 - lambda1) L_e + lambda2 L_a, eq. (6) L_a."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from vpnet.models.vpn import VPNOutput

__all__ = ["LossTerms", "vpn_loss", "attention_regularizer"]


class LossTerms(NamedTuple):
    """Scalar loss terms; a term the model did not produce is a zero."""

    total: Tensor
    ce: Tensor
    embed: Tensor
    attn: Tensor


def attention_regularizer(a_s: Tensor, a_t: Tensor | None) -> Tensor:
    """Eq. (6) per sample (N,): L_a = sum_j |A_S(j)| + sum_j (1 - A_T(j))^2.

    a_s (N, m, n), a_t (N, t_c) or None (spatial-only attention). Per sample, then averaged by the
    caller: the authors' code summed A_T over the whole batch first, where the softmax makes each
    sample's sum 1 and the temporal term's gradient vanishes.
    """
    l_a = a_s.float().flatten(1).abs().sum(dim=1)
    if a_t is not None:
        l_a = l_a + (1.0 - a_t.float()).pow(2).sum(dim=1)
    return l_a


def vpn_loss(out: VPNOutput, labels: Tensor, *, lambda1: float = 0.8, lambda2: float = 1e-5) -> LossTerms:
    """Eq. (5) from a :class:`~vpnet.models.vpn.VPNOutput` and labels (N,) of class indices.

    ``ce`` is L_C (cross-entropy, batch mean), ``embed`` the batch mean of L_e, ``attn`` the batch
    mean of L_a. With L_e: total = lambda1 L_C + (1 - lambda1) L_e + lambda2 L_a. Without it (``l1``,
    ``l2``, ``pose_only``, or a feature map larger than the trained grid) lambda1 has nothing to trade
    against: total = L_C + lambda2 L_a, so the baselines train on the plain cross-entropy.
    """
    logits = out.logits
    if labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"labels must be (N,) = ({logits.shape[0]},) class indices, got {tuple(labels.shape)}")
    ce = F.cross_entropy(logits.float(), labels)
    zero = ce.new_zeros(())
    attn = attention_regularizer(out.a_s, out.a_t).mean() if out.a_s is not None else zero
    if out.l_e is not None:
        embed = out.l_e.float().mean()
        total = lambda1 * ce + (1.0 - lambda1) * embed + lambda2 * attn
    else:
        embed = zero
        total = ce + lambda2 * attn
    return LossTerms(total, ce, embed, attn)

"""Eq. (5)-(6): the total loss and the attention regulariser, by hand."""

from __future__ import annotations

import math

import pytest
import torch

from vpnet.models.losses import attention_regularizer, vpn_loss
from vpnet.models.vpn import VPNOutput


def test_attention_regularizer_per_sample():
    a_s = torch.tensor([[[0.5, 0.25], [0.0, 1.0]], [[0.1, 0.1], [0.1, 0.1]]])
    a_t = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    # sample 0: 1.75 + 0.25 + 0.25; sample 1: 0.4 + 0 + 1
    torch.testing.assert_close(attention_regularizer(a_s, a_t), torch.tensor([2.25, 1.4]))
    torch.testing.assert_close(attention_regularizer(a_s, None), torch.tensor([1.75, 0.4]))


def test_vpn_loss_is_eq5():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([0, 2])
    ce = (-math.log(math.exp(2) / (math.exp(2) + 2)) + math.log(3)) / 2
    out = VPNOutput(logits=logits, a_s=torch.full((2, 1, 2), 0.5), a_t=torch.tensor([[1.0, 0.0], [0.5, 0.5]]),
                    z1=torch.zeros(2, 2), l_e=torch.tensor([0.5, 1.5]))
    terms = vpn_loss(out, labels)
    l_a = ((1.0 + 1.0) + (1.0 + 0.5)) / 2  # per sample: sum |A_S| + sum (1 - A_T)^2, then the mean
    assert terms.ce.item() == pytest.approx(ce, rel=1e-6)
    assert terms.embed.item() == pytest.approx(1.0)
    assert terms.attn.item() == pytest.approx(l_a)
    assert terms.total.item() == pytest.approx(0.8 * ce + 0.2 * 1.0 + 1e-5 * l_a, rel=1e-6)
    custom = vpn_loss(out, labels, lambda1=0.5, lambda2=0.1)
    assert custom.total.item() == pytest.approx(0.5 * ce + 0.5 + 0.1 * l_a, rel=1e-6)


def test_absent_terms_are_zero_and_the_baselines_train_on_cross_entropy():
    logits = torch.randn(3, 4)
    labels = torch.tensor([0, 1, 3])
    terms = vpn_loss(VPNOutput(logits=logits), labels)
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert terms.embed.item() == 0 and terms.attn.item() == 0
    torch.testing.assert_close(terms.total, ce)
    # l2 (attention, no embedding): L_C + lambda2 L_a
    out = VPNOutput(logits=logits, a_s=torch.ones(3, 2, 2), a_t=torch.full((3, 4), 0.25))
    terms = vpn_loss(out, labels)
    torch.testing.assert_close(terms.total, ce + 1e-5 * (4 + 4 * 0.75 ** 2))


def test_temporal_term_has_a_gradient_per_sample_unlike_the_batch_sum():
    torch.manual_seed(0)
    z2 = torch.randn(4, 8, requires_grad=True)
    a_t = torch.softmax(z2, dim=1)
    attention_regularizer(torch.zeros(4, 2, 2), a_t).mean().backward()
    assert z2.grad.abs().sum() > 1e-3
    # The authors' code: (1 - sum over the whole batch of A_T)^2; each softmax row sums to 1, so it is
    # a constant and its gradient is zero.
    z2b = z2.detach().clone().requires_grad_()
    ((1 - torch.softmax(z2b, dim=1).sum()) ** 2).backward()
    assert z2b.grad.abs().max() < 1e-6


def test_labels_shape_is_checked():
    with pytest.raises(ValueError, match=r"labels must be \(N,\) = \(2,\) class indices, got \(2, 1\)"):
        vpn_loss(VPNOutput(logits=torch.zeros(2, 3)), torch.zeros(2, 1, dtype=torch.long))

"""Spatial embedding, eq. (3)-(4): the loss variants, spectral normalisation, f_s = sum over time."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from vpnet.models.embedding import EMBEDDING_LOSSES, SpatialEmbedding, SpectralNormLinear, embedding_loss


@pytest.mark.parametrize("kind", [k for k in EMBEDDING_LOSSES if k != "infonce"])
def test_losses_are_zero_for_identical_embeddings_and_positive_otherwise(kind):
    torch.manual_seed(0)
    a, b = torch.randn(5, 256), torch.randn(5, 256)
    assert torch.allclose(embedding_loss(a, a.clone(), kind), torch.zeros(5), atol=1e-6)
    loss = embedding_loss(a, b, kind)
    assert loss.shape == (5,) and (loss > 0).all()


def test_infonce_is_not_met_by_a_collapsed_embedding():
    torch.manual_seed(0)
    a = torch.randn(8, 32)
    # matched pairs that differ from the batch's others: near zero at a low temperature
    assert embedding_loss(a, a.clone(), "infonce", temperature=0.05).max() < 1e-3
    # one constant vector on each side satisfies eq. (4) exactly, but InfoNCE sits at log N
    const_f, const_p = torch.ones(8, 32), torch.ones(8, 32) * 3
    assert embedding_loss(const_f, const_p, "normalized_euclidean").abs().max() < 1e-6
    torch.testing.assert_close(embedding_loss(const_f, const_p, "infonce"), torch.full((8,), math.log(8)))
    # hand value, N = 2: similarities [[1, 0], [0, 1]] / 0.5 -> -log(e^2 / (e^2 + 1)) per row, both ways
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    torch.testing.assert_close(embedding_loss(f, f, "infonce", temperature=0.5), torch.full((2,), expected))


def test_normalized_euclidean_hand_values():
    f = torch.tensor([[1.0, 0.0], [1.0, 0.0], [3.0, 4.0], [2.0, 0.0]])
    p = torch.tensor([[0.0, 2.0], [-1.0, 0.0], [6.0, 8.0], [1.0, 1.0]])
    expected = torch.tensor([2.0, 4.0, 0.0, (1 - 1 / math.sqrt(2)) ** 2 + 0.5])  # orthogonal, opposite, same direction
    torch.testing.assert_close(embedding_loss(f, p, "normalized_euclidean"), expected)


def test_kl_variants_hand_values():
    f = torch.tensor([[0.0, math.log(3.0)]])  # softmax (1/4, 3/4)
    p = torch.tensor([[0.0, 0.0]])  # softmax (1/2, 1/2)
    kl_fp = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    kl_pf = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert embedding_loss(f, p, "kl_fp").item() == pytest.approx(kl_fp, rel=1e-6)
    assert embedding_loss(f, p, "kl_pf").item() == pytest.approx(kl_pf, rel=1e-6)
    assert embedding_loss(f, p, "bi_kl").item() == pytest.approx(kl_fp + kl_pf, rel=1e-6)
    assert embedding_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, -1.0]]), "l1").item() == 16.0  # (1 + 3)^2


#: loss -> (f_e gets a gradient, P_e gets a gradient): the one-way KL losses feed back to one side.
GRADIENT_SIDES = {"kl_fp": (False, True), "kl_pf": (True, False), "bi_kl": (True, True),
                  "normalized_euclidean": (True, True), "l1": (True, True), "infonce": (True, True)}


@pytest.mark.parametrize("kind", EMBEDDING_LOSSES)
def test_which_side_each_loss_sends_gradient_to(kind):
    torch.manual_seed(2)
    f_e, p_e = torch.randn(3, 16, requires_grad=True), torch.randn(3, 16, requires_grad=True)
    embedding_loss(f_e, p_e, kind).sum().backward()
    for grad, expected in zip((f_e.grad, p_e.grad), GRADIENT_SIDES[kind]):
        if expected:
            assert grad is not None and grad.abs().sum() > 1e-3
        else:
            assert grad is None  # detached: no gradient reaches this side at all


def test_one_way_kl_gradient_moves_the_free_side_towards_the_held_one():
    """KL(f_e || P_e) with f_e held: a small step of P_e against its gradient lowers the loss, and
    the value equals the two-sided one (detaching changes the gradient, not the loss)."""
    torch.manual_seed(3)
    f_e, p_e = torch.randn(2, 8), torch.randn(2, 8, requires_grad=True)
    loss = embedding_loss(f_e, p_e, "kl_fp")
    torch.testing.assert_close(loss, _reference_kl(f_e, p_e.detach()))
    loss.sum().backward()
    stepped = embedding_loss(f_e, p_e.detach() - 0.1 * p_e.grad, "kl_fp")
    assert (stepped < loss.detach()).all()


def _reference_kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    p, q = p_logits.softmax(1), q_logits.softmax(1)
    return (p * (p.log() - q.log())).sum(1)


@pytest.mark.parametrize("kind", ["kl_fp", "kl_pf", "bi_kl"])
def test_kl_is_non_negative(kind):
    torch.manual_seed(1)
    loss = embedding_loss(5 * torch.randn(100, 256), 5 * torch.randn(100, 256), kind)
    assert (loss >= 0).all()


def test_unknown_loss():
    with pytest.raises(ValueError, match="embedding loss must be one of"):
        embedding_loss(torch.zeros(1, 2), torch.zeros(1, 2), "cosine")


def test_spectral_norm_linear_equals_torch_parametrization():
    torch.manual_seed(0)
    ref = spectral_norm(nn.Linear(300, 16, bias=False))
    ours = SpectralNormLinear(300, 16)
    with torch.no_grad():
        ours.weight.copy_(ref.parametrizations.weight.original)
        ours.u.copy_(ref.parametrizations.weight[0]._u)
        ours.v.copy_(ref.parametrizations.weight[0]._v)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.5)
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.5)
    for _ in range(3):  # training steps: same outputs, same gradients, same power iteration
        x, g = torch.randn(4, 300), torch.randn(4, 16)
        y_ref, y_ours = ref(x), ours(x)
        torch.testing.assert_close(y_ours, y_ref, rtol=1e-5, atol=1e-6)
        (y_ref * g).sum().backward()
        (y_ours * g).sum().backward()
        torch.testing.assert_close(ours.weight.grad, ref.parametrizations.weight.original.grad, rtol=1e-4, atol=1e-6)
        opt_ref.step(), opt_ours.step(), opt_ref.zero_grad(), opt_ours.zero_grad()
    ref.eval(), ours.eval()
    x = torch.randn(2, 300)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)


def test_spectral_norm_is_one_after_power_iterations():
    torch.manual_seed(0)
    lin = SpectralNormLinear(500, 64)
    with torch.no_grad():  # a new weight (stale u, v) with a clear top singular value
        a, b = torch.randn(64, 1), torch.randn(1, 500)
        lin.weight.copy_(0.05 * a @ b + 0.01 * torch.randn(64, 500))
    for _ in range(20):  # one power iteration per training forward
        lin(torch.randn(1, 500))
    norm = torch.linalg.matrix_norm(lin.weight / lin.sigma(), ord=2)
    assert norm.item() == pytest.approx(1.0, abs=1e-4)


def test_embedding_runs_in_float32_under_autocast():
    lin = SpectralNormLinear(8, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = lin(torch.randn(2, 8, dtype=torch.bfloat16))
    assert y.dtype == torch.float32


def test_f_s_is_the_sum_over_time():
    torch.manual_seed(0)
    emb = SpatialEmbedding(in_channels=4, m=2, n=2, embed_dim=8).eval()
    f = torch.randn(3, 4, 2, 2, 2)
    collapsed = torch.zeros_like(f)
    collapsed[:, :, 0] = f.sum(dim=2)  # the same f_s = sum_t f(t)
    pose = torch.randn(3, 4)
    f_e, p_e = emb.embed(f, pose)
    f_e2, _ = emb.embed(collapsed, pose)
    torch.testing.assert_close(f_e, f_e2)
    assert f_e.shape == p_e.shape == (3, 8)
    assert emb.t_v.in_features == 4 * 2 * 2 and emb.t_p.in_features == 4  # D_v = C m n, D_p = m n
    torch.testing.assert_close(emb(f, pose), embedding_loss(f_e, p_e))


def test_embedding_shape_check():
    emb = SpatialEmbedding(in_channels=4, m=2, n=2)
    with pytest.raises(ValueError, match=r"built for feature maps \(N, 4, t_c, 2, 2\), got \(1, 4, 2, 3, 3\)"):
        emb(torch.zeros(1, 4, 2, 3, 3), torch.zeros(1, 4))


def test_spectral_norm_linear_converts_to_float64():
    """`.double()` moves W and the power-iteration vectors together; outputs stay float64 and norm 1."""
    torch.manual_seed(0)
    lin = SpectralNormLinear(40, 8).double().train()
    for _ in range(30):
        y = lin(torch.randn(5, 40, dtype=torch.float64))
    assert y.dtype == torch.float64 and lin.u.dtype == torch.float64
    w = lin.weight.detach() / lin.sigma().detach()
    assert abs(torch.linalg.matrix_norm(w, ord=2).item() - 1.0) < 1e-6

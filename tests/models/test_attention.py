"""The spatio-temporal coupler of eq. (2) on crafted inputs with known values."""

from __future__ import annotations

import math

import pytest
import torch

from vpnet.models.attention import SpatioTemporalCoupler

A_T = [0.2, 0.3, 0.5]
Z1 = [-1.0, 0.0, 0.5, 2.0, -3.0, 1.0]  # m x n = 2 x 3


def crafted(coupler: str = "coupled", temporal: bool = True, *, z1: list[float] = Z1,
            a_t: list[float] = A_T) -> SpatioTemporalCoupler:
    """A coupler whose last layers ignore h*: z1 = Z1, z2 = log(A_T), so A_S and A_T are known."""
    c = SpatioTemporalCoupler(in_features=4, t_c=3, m=2, n=3, coupler=coupler, temporal=temporal).double()
    with torch.no_grad():
        c.spatial[2].weight.zero_()
        c.spatial[2].bias.copy_(torch.tensor(z1))
        if temporal:
            c.temporal[2].weight.zero_()
            c.temporal[2].bias.copy_(torch.tensor(a_t, dtype=torch.float64).log())
    return c


def feature_map() -> torch.Tensor:
    """f[n, c, t, i, j] = 1 + c + 10 t + 100 (3 i + j): every cell different."""
    n, c, t, i, j = torch.meshgrid(*(torch.arange(s, dtype=torch.float64) for s in (2, 4, 3, 2, 3)), indexing="ij")
    return 1 + c + 10 * t + 100 * (3 * i + j) + 0 * n


def test_attention_weights_are_eq2():
    c = crafted()
    z1, a_s, a_t = c.attention(torch.randn(2, 4, dtype=torch.float64))
    sig = [1 / (1 + math.exp(-z)) for z in Z1]
    assert z1.shape == (2, 6) and torch.allclose(z1, torch.tensor(Z1, dtype=torch.float64).expand(2, 6))
    assert a_s.shape == (2, 2, 3) and torch.allclose(a_s, torch.tensor(sig, dtype=torch.float64).view(2, 3))
    assert a_t.shape == (2, 3) and torch.allclose(a_t, torch.tensor(A_T, dtype=torch.float64))


def test_coupled_a_s_is_the_same_map_at_every_time_step_and_a_t_scales_whole_slices():
    c = crafted()
    f = feature_map()
    out = c(f, torch.randn(2, 4, dtype=torch.float64))
    a_s = torch.sigmoid(torch.tensor(Z1, dtype=torch.float64)).view(2, 3)
    # f' = A_ST * f + f with A_ST[t, i, j] = A_T[t] * A_S[i, j], the same for every channel
    for t in range(3):
        expected = f[:, :, t] * (1 + A_T[t] * a_s)
        torch.testing.assert_close(out.f_prime[:, :, t], expected, rtol=1e-14, atol=0)
    a_st = out.f_prime / f - 1  # (N, C, t_c, m, n)
    for t in range(3):
        # the map at time t, divided by A_T[t], is A_S: one spatial map for all time steps
        torch.testing.assert_close(a_st[:, :, t] / A_T[t], a_s.expand(2, 4, 2, 3), rtol=1e-12, atol=0)
        # and A_T[t] scales the whole slice: its ratio to A_S is constant over the m x n cells
        ratio = a_st[:, :, t] / a_s
        assert torch.allclose(ratio, torch.full_like(ratio, A_T[t]), rtol=1e-12, atol=0)
    torch.testing.assert_close(out.a_s, a_s.expand(2, 2, 3))
    assert out.a_t.shape == (2, 3)


def test_separable_is_the_mean_of_the_spatially_and_the_temporally_modulated_maps():
    c = crafted("separable")
    f = feature_map()
    out = c(f, torch.zeros(2, 4, dtype=torch.float64))
    a_s = torch.sigmoid(torch.tensor(Z1, dtype=torch.float64)).view(2, 3)
    for t in range(3):
        f_s, f_t = f[:, :, t] * (1 + a_s), f[:, :, t] * (1 + A_T[t])  # A_S f + f, A_T f + f
        torch.testing.assert_close(out.f_prime[:, :, t], (f_s + f_t) / 2, rtol=1e-14, atol=0)
    torch.testing.assert_close(out.a_s, a_s.expand(2, 2, 3))
    torch.testing.assert_close(out.a_t, torch.tensor(A_T, dtype=torch.float64).expand(2, 3))


@pytest.mark.parametrize("coupler", ["coupled", "separable"])
def test_only_the_coupled_output_has_an_a_s_times_a_t_term(coupler):
    """Mixed second difference over (A_S, A_T): f'(S1, T1) - f'(S1, T0) - f'(S0, T1) + f'(S0, T0) is
    zero when f' is a sum of a function of A_S and a function of A_T (separable), and is the A_S x A_T
    interaction otherwise: for the coupled f' = f + A_S A_T f it is (A_S1 - A_S0)(A_T1 - A_T0) f."""
    f = feature_map()
    h = torch.zeros(2, 4, dtype=torch.float64)
    z1_alt, a_t_alt = [2.0, -1.0, 0.0, 1.5, 3.0, -2.0], [0.6, 0.1, 0.3]

    def f_prime(z1: list[float], a_t: list[float]) -> torch.Tensor:
        return crafted(coupler, z1=z1, a_t=a_t)(f, h).f_prime

    mixed = f_prime(z1_alt, a_t_alt) - f_prime(z1_alt, A_T) - f_prime(Z1, a_t_alt) + f_prime(Z1, A_T)
    if coupler == "separable":
        torch.testing.assert_close(mixed, torch.zeros_like(f), rtol=0, atol=1e-6)
    else:
        s0, s1 = (torch.sigmoid(torch.tensor(z, dtype=torch.float64)) for z in (Z1, z1_alt))
        t0, t1 = (torch.tensor(a, dtype=torch.float64) for a in (A_T, a_t_alt))
        expected = (s1 - s0).view(1, 1, 1, 2, 3) * (t1 - t0).view(1, 1, 3, 1, 1) * f
        torch.testing.assert_close(mixed, expected, rtol=1e-10, atol=1e-10)
        assert mixed.abs().max() > 1.0


def test_spatial_only_attention():
    c = crafted(temporal=False)
    f = feature_map()
    out = c(f, torch.zeros(2, 4, dtype=torch.float64))
    a_s = torch.sigmoid(torch.tensor(Z1, dtype=torch.float64)).view(2, 3)
    assert out.a_t is None and c.temporal is None
    torch.testing.assert_close(out.f_prime, f * (1 + a_s), rtol=1e-14, atol=0)


def test_initial_attention_is_near_uniform():
    torch.manual_seed(0)
    c = SpatioTemporalCoupler(t_c=8, m=7, n=7)
    _, a_s, a_t = c.attention(torch.rand(4, 128))
    assert torch.allclose(a_s, torch.full_like(a_s, 0.5), atol=0.05)  # authors: A_S = 0.5 at start
    assert torch.allclose(a_t, torch.full_like(a_t, 1 / 8), atol=0.01)  # and A_T uniform
    assert not torch.all(a_s == 0.5)  # but z1 != 0, so P_e = T_p z1 has a direction


def test_init_std_sets_how_much_the_initial_attention_depends_on_the_pose():
    torch.manual_seed(0)
    h = torch.rand(64, 128)
    zero = SpatioTemporalCoupler(t_c=4, m=4, n=4, init_std=0.0)  # the authors' start
    _, a_s, a_t = zero.attention(h)
    assert torch.equal(a_s, torch.full_like(a_s, 0.5)) and torch.allclose(a_t, torch.full_like(a_t, 0.25))
    wide = SpatioTemporalCoupler(t_c=4, m=4, n=4, init_std=0.3)
    assert wide.spatial[2].weight.std().item() == pytest.approx(0.3, rel=0.05)
    assert wide.temporal[2].weight.std().item() == pytest.approx(0.3, rel=0.1)
    assert torch.equal(wide.spatial[2].bias, torch.zeros(16))
    _, a_s, a_t = wide.attention(h)
    # every cell and step varies from pose to pose, far more than from the 0.01 default
    _, a_s_default, _ = SpatioTemporalCoupler(t_c=4, m=4, n=4).attention(h)
    assert a_s.std(0).min() > 10 * a_s_default.std(0).max()
    assert a_t.std(0).min() > 0.01


def test_negative_init_std_is_refused():
    with pytest.raises(ValueError, match="init_std must be >= 0; got -0.1"):
        SpatioTemporalCoupler(t_c=4, m=4, n=4, init_std=-0.1)


def test_a_s_is_resized_bilinearly_for_a_larger_map():
    c = crafted()
    f = torch.ones(1, 4, 3, 4, 6, dtype=torch.float64)
    out = c(f, torch.zeros(1, 4, dtype=torch.float64))
    a_s = torch.sigmoid(torch.tensor(Z1, dtype=torch.float64)).view(1, 1, 2, 3)
    resized = torch.nn.functional.interpolate(a_s, size=(4, 6), mode="bilinear", align_corners=False)[:, 0]
    assert out.a_s.shape == (1, 4, 6)
    torch.testing.assert_close(out.a_s, resized)
    torch.testing.assert_close(out.f_prime[0, 0, 2], 1 + A_T[2] * resized[0])
    assert out.z1.shape == (1, 6)  # z1 stays on the trained grid


def test_wrong_number_of_time_steps():
    with pytest.raises(ValueError, match="t_c=2 time steps, the attention was built for t_c=3"):
        crafted()(torch.ones(1, 4, 2, 2, 3, dtype=torch.float64), torch.zeros(1, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="coupler must be one of"):
        SpatioTemporalCoupler(t_c=2, m=2, n=2, coupler="joint")


# ---------------------------------------------------------------------------------------------
# beyond the paper: a softmax map, no residual, and the two probes (fixed map, given map)


def test_softmax_map_redistributes_and_averages_one_over_the_map():
    c = SpatioTemporalCoupler(in_features=4, t_c=3, m=2, n=3, spatial="softmax").double()
    with torch.no_grad():
        c.spatial[2].weight.zero_()
        c.spatial[2].bias.copy_(torch.tensor(Z1))
        c.temporal[2].weight.zero_()
        c.temporal[2].bias.copy_(torch.tensor(A_T, dtype=torch.float64).log())
    f = feature_map()
    out = c(f, torch.randn(2, 4, dtype=torch.float64))
    expected_s = torch.softmax(torch.tensor(Z1, dtype=torch.float64), 0).view(2, 3)
    torch.testing.assert_close(out.a_s[0], expected_s)
    assert torch.allclose(out.a_s.sum((1, 2)), torch.ones(2, dtype=torch.float64))
    # applied A_ST = A_S * A_T * t_c m n: mean 1 over the map; with the residual, f' = f + A_ST f
    w = expected_s[None, :, :] * torch.tensor(A_T, dtype=torch.float64)[:, None, None] * 18
    torch.testing.assert_close(w.mean(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(out.f_prime, f + w * f)


def test_without_the_residual_the_pooled_map_is_the_attention_weighted_mean():
    c = SpatioTemporalCoupler(in_features=4, t_c=3, m=2, n=3, spatial="softmax", residual=False).double()
    f = feature_map()
    out = c(f, torch.randn(2, 4, dtype=torch.float64))
    a_st = out.a_s[:, None, :, :] * out.a_t[:, :, None, None]  # (N, t_c, m, n), sums to 1
    pooled = out.f_prime.mean((2, 3, 4))
    torch.testing.assert_close(pooled, (f * a_st[:, None]).sum((2, 3, 4)))


def test_fixed_source_gives_one_map_for_every_clip_and_needs_no_pose():
    c = SpatioTemporalCoupler(in_features=4, t_c=3, m=2, n=3, source="fixed", init_std=0.5).double()
    assert c.spatial is None and not c.uses_pose
    out = c(feature_map(), None)
    assert torch.equal(out.a_s[0], out.a_s[1]) and torch.equal(out.a_t[0], out.a_t[1])
    assert out.a_s[0].std() > 0  # drawn with std 0.5: not uniform
    assert {n for n, _ in c.named_parameters()} == {"z1", "z2"}


@pytest.mark.parametrize("spatial", ["sigmoid", "softmax"])
def test_given_source_applies_the_given_map(spatial):
    c = SpatioTemporalCoupler(in_features=4, t_c=3, m=2, n=3, source="given", spatial=spatial).double()
    given = torch.zeros(2, 2, 3, dtype=torch.float64)
    given[0, 1, 2] = 1.0  # clip 0: one cell; clip 1: nothing given -> uniform
    assert not c.uses_pose and c.spatial is None and c.temporal is None
    out = c(feature_map(), None, given)
    assert torch.equal(out.a_t[0], out.a_t[1])  # one learned A_T: no pose
    if spatial == "softmax":
        expected = torch.stack([given[0], torch.full((2, 3), 1 / 6, dtype=torch.float64)])
        torch.testing.assert_close(out.a_s, expected, atol=1e-5, rtol=0)
    else:
        expected = torch.stack([given[0], torch.ones(2, 3, dtype=torch.float64)])
        torch.testing.assert_close(out.a_s, expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="needs A_S"):
        c(feature_map(), None)

"""I3D: TF "SAME" padding semantics, shapes, the Kinetics head, sizes against DeepMind's checkpoint."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from vpnet.models.i3d import KINETICS400, InceptionI3d, MaxPool3dSame, Unit3d, inception_i3d, same_padding


@pytest.mark.parametrize(("size", "kernel", "stride", "expected"), [
    (224, 7, 2, (2, 3)),  # out 112: (112-1)*2 + 7 - 224 = 5 -> 2 before, 3 after
    (225, 7, 2, (3, 3)),  # out 113: (113-1)*2 + 7 - 225 = 6
    (112, 3, 2, (0, 1)),  # the (1,3,3)/(1,2,2) max-pools on even sizes: all padding after
    (64, 1, 1, (0, 0)),
    (8, 2, 2, (0, 0)),
    (7, 2, 2, (0, 1)),
    (1, 7, 2, (3, 3)),
])
def test_same_padding_matches_tensorflow(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


def test_strided_conv_pads_like_tensorflow():
    torch.manual_seed(0)
    unit = Unit3d(3, 4, 7, 2, use_bn=False, activation=False)
    x = torch.randn(1, 3, 10, 12, 11)
    # TF SAME for (10, 12, 11) with k 7 s 2: totals 5, 5, 6 -> (2, 3), (2, 3), (3, 3)
    expected = F.conv3d(F.pad(x, (3, 3, 2, 3, 2, 3)), unit.conv3d.weight, stride=2)
    out = unit(x)
    assert out.shape == (1, 4, 5, 6, 6)
    torch.testing.assert_close(out, expected)


def test_max_pool_pads_with_minus_infinity():
    x = -1.0 - torch.rand(1, 2, 4, 6, 6)  # all negative: zero padding would win the max
    pool = MaxPool3dSame(3, 2)
    out = pool(x)
    expected = F.max_pool3d(F.pad(x, (0, 1, 0, 1, 0, 1), value=float("-inf")), 3, 2)
    assert out.shape == (1, 2, 2, 3, 3)
    torch.testing.assert_close(out, expected)
    assert (out < 0).all()
    # stride 1, odd kernel: static symmetric padding, also by -inf
    same = MaxPool3dSame(3, 1)(x)
    assert same.shape == x.shape and (same < 0).all()


def test_forward_features_shapes_small_and_odd_sizes():
    model = InceptionI3d(num_classes=7).eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(2, 3, 8, 64, 64)).shape == (2, 1024, 1, 2, 2)
        assert model.forward_features(torch.randn(1, 3, 10, 70, 33)).shape == (1, 1024, 2, 3, 2)  # ceil
        assert model(torch.randn(2, 3, 8, 64, 64)).shape == (2, 7)  # head pool clipped to a small map


def test_shapes_at_paper_size_on_meta():
    with torch.device("meta"):
        model = InceptionI3d()
        x = torch.empty(2, 3, 64, 224, 224)
        assert model.forward_features(x).shape == (2, 1024, 8, 7, 7)
        assert model(x).shape == (2, 400)


def test_kinetics_head_is_deepminds():
    """avg-pool (2, 7, 7) stride 1 VALID, 1x1x1 conv with bias, mean over the remaining time steps."""
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=5).eval()
    f = torch.randn(1, 1024, 8, 7, 7)
    pooled = torch.stack([f[:, :, t:t + 2].mean(dim=(2, 3, 4)) for t in range(7)], dim=2)  # (1, 1024, 7)
    w, b = model.logits.conv3d.weight.view(5, 1024), model.logits.conv3d.bias
    expected = (torch.einsum("kc,nct->nkt", w, pooled) + b[None, :, None]).mean(dim=2)
    model.forward_features = lambda x: f  # type: ignore[method-assign]
    torch.testing.assert_close(model(torch.empty(1, 3, 64, 224, 224)), expected, rtol=1e-5, atol=1e-5)


def test_backbone_without_classifier():
    model = inception_i3d(num_classes=0)
    assert model.logits is None and not any(k.startswith("logits.") for k in model.state_dict())
    with pytest.raises(RuntimeError, match="without a classifier"):
        model(torch.randn(1, 3, 8, 32, 32))


def test_bad_video_shape():
    with pytest.raises(ValueError, match=r"expects video shaped \(N, 3, T, H, W\), got \(3, 8, 64, 64\)"):
        InceptionI3d().forward_features(torch.randn(3, 8, 64, 64))


def test_bn_and_layout_conventions():
    model = inception_i3d(bn_momentum=0.01)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert len(bns) == 57 and all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)
    keys = model.state_dict().keys()
    for key in ("Conv3d_1a_7x7.conv3d.weight", "Mixed_3b.b1b.bn.running_mean", "Mixed_5c.b3b.conv3d.weight",
                "logits.conv3d.bias"):  # the pytorch-i3d layout
        assert key in keys


def test_size_matches_deepmind_checkpoint_and_metadata():
    model = InceptionI3d()
    params = sum(p.numel() for p in model.parameters())
    assert params == KINETICS400.num_params == 12_697_264
    # DeepMind's checkpoint holds 12,704,544 values: no BN scale, but running mean and variance.
    bn_scale = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d))
    stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    assert params - bn_scale + stats == 12_704_544
    with torch.device("meta"):
        meta = InceptionI3d()
        counter = FlopCounterMode(display=False)
        with counter:
            meta(torch.empty(1, *KINETICS400.macs_input))
    assert counter.get_total_flops() / 2e9 == pytest.approx(KINETICS400.gmacs, abs=0.01)


def test_kinetics_categories_resource():
    names = KINETICS400.categories
    assert len(names) == len(set(names)) == 400
    assert names[0] == "abseiling" and names[4] == "applying cream" and names[126] == "filling eyebrows"
    assert names[-1] == "zumba"
    assert KINETICS400.categories is names  # read once


def test_kinetics_categories_match_deepmind_label_map(shared_data):
    label_map = (shared_data / "kinetics" / "label_map_kinetics400.txt").read_text().splitlines()
    assert KINETICS400.categories == [line.strip() for line in label_map if line.strip()]

"""3D ResNeXt-101: shapes, size, Hara et al.'s checkpoint layout, input normalisation."""

from __future__ import annotations

import pytest
import torch

from vpnet.config import PIXEL_NORMS, ModelConfig
from vpnet.models import build_recognizer
from vpnet.models.resnext3d import HARA_ACTIVITYNET_NORM, PIXEL_NORM_STATS, ResNeXt3d, resnext3d_101
from vpnet.models.weights import WeightsError, save_safetensors


def test_shapes_small_and_at_paper_size():
    model = ResNeXt3d(layers=(1, 1, 1, 1), num_classes=5).eval()  # same strides, fewer blocks
    with torch.no_grad():
        assert model.forward_features(torch.randn(2, 3, 16, 64, 64)).shape == (2, 2048, 1, 2, 2)
        assert model(torch.randn(2, 3, 16, 64, 64)).shape == (2, 5)
    with torch.device("meta"):
        meta = resnext3d_101(num_classes=0)
        assert meta.forward_features(torch.empty(1, 3, 64, 224, 224)).shape == (1, 2048, 4, 7, 7)


def test_size_is_hara_resnext101():
    model = ResNeXt3d(num_classes=400)
    assert sum(p.numel() for p in model.parameters()) == 48_340_816  # Hara et al. 2018: 48.3 M
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 23, 3]
    assert model.layer2[0].conv2.groups == 32 and model.layer4[0].conv3.out_channels == 2048


def test_loads_a_checkpoint_in_hara_layout(tmp_path):
    torch.manual_seed(0)
    ref = ResNeXt3d(num_classes=400).eval()
    state = {f"module.{k}": v for k, v in ref.state_dict().items()}
    for key in ("module.conv1.weight", "module.layer1.0.downsample.0.weight",
                "module.layer1.0.downsample.1.running_var", "module.layer3.22.conv2.weight", "module.fc.bias"):
        assert key in state
    path = tmp_path / "resnext-101-kinetics.pth"
    torch.save({"epoch": 200, "arch": "resnext-101", "state_dict": state,
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}}, path)
    model = resnext3d_101(weights=path, num_classes=0).eval()
    assert model.fc is None
    for name in ("conv1.weight", "layer3.22.conv2.weight", "layer4.2.bn3.running_mean"):
        assert torch.equal(model.state_dict()[name], ref.state_dict()[name])
    del state["module.layer2.1.bn2.weight"]
    torch.save({"state_dict": state}, path)
    with pytest.raises(WeightsError,
                       match=r"does not fit ResNeXt3d:\n  missing from the checkpoint \(1\): layer2\.1\.bn2\.weight$"):
        resnext3d_101(weights=path)


def test_pixel_normalisation_for_hara_weights():
    mean, std = HARA_ACTIVITYNET_NORM
    model = ResNeXt3d(layers=(1, 1, 1, 1), num_classes=0, pixel_mean=mean, pixel_std=std).eval()
    seen = {}
    model.conv1.register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 3, 1, 1).expand(1, 3, 3, 32, 32)
    with torch.no_grad():
        model.forward_features(x)
    # [-1, 1] -> [0, 255] pixels minus the ActivityNet mean (std 1 in pixel units)
    for c, m255 in enumerate((114.7748, 107.7354, 99.4750)):
        got = seen["x"][0, c, :, 0, 0]
        torch.testing.assert_close(got, torch.tensor([0.0, 127.5, 255.0]) - m255, rtol=1e-5, atol=1e-3)
    plain = ResNeXt3d(layers=(1, 1, 1, 1), num_classes=0).eval()
    plain.conv1.register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    with torch.no_grad():
        plain.forward_features(x)
    assert torch.equal(seen["x"], x)  # identity by default


def _conv1_input(model: ResNeXt3d, x: torch.Tensor) -> torch.Tensor:
    seen = {}
    handle = model.conv1.register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    with torch.no_grad():
        model.forward_features(x)
    handle.remove()
    return seen["x"]


def test_pixel_norm_comes_from_the_config_and_must_match_the_weights(tmp_path):
    """model.pixel_norm reaches the ResNeXt (Hara's weights read [0, 255] - mean, not [-1, 1]), and a
    converted file that records another normalisation is refused."""
    assert set(PIXEL_NORM_STATS) == set(PIXEL_NORMS)
    torch.manual_seed(0)
    ref = ResNeXt3d(num_classes=0)
    path = save_safetensors(ref.state_dict(), tmp_path / "hara.safetensors",
                            metadata={"arch": "resnext101", "pixel_norm": "hara_kinetics"})
    cfg = ModelConfig(variant="l1", backbone="resnext101", backbone_weights=str(path), pixel_norm="hara_kinetics",
                      num_classes=3, clip_len=16, crop_size=32)
    backbone = build_recognizer(cfg).backbone.eval()
    assert torch.equal(backbone.layer4[2].conv3.weight, ref.layer4[2].conv3.weight)
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 3, 1, 1).expand(1, 3, 3, 32, 32)
    got = _conv1_input(backbone, x)[0, :, :, 0, 0]  # (3 channels, 3 values)
    for c, (mean, std) in enumerate(zip((0.4345, 0.4051, 0.3775), (0.2768, 0.2713, 0.2737))):
        torch.testing.assert_close(got[c], (torch.tensor([0.0, 0.5, 1.0]) - mean) / std)  # [0, 1] pixels, standardised
    with pytest.raises(WeightsError, match=r"hara\.safetensors: these weights were converted for "
                                           r"pixel_norm='hara_kinetics' input, but pixel_norm='none' was asked"):
        resnext3d_101(weights=path, num_classes=0)
    with pytest.raises(ValueError, match="pixel_norm must be one of none, hara_activitynet, hara_kinetics or "
                                         r"\(mean, std\), got 'imagenet'"):
        resnext3d_101(pixel_norm="imagenet")

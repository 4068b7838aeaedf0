"""3D ResNeXt-101 (Hara, Kataoka & Satoh, CVPR 2018), cardinality 32, shortcut type B.

The second visual backbone of the paper (Table 5, "VPN (RN3D101)"). Layer names follow Hara et al.'s
``3D-ResNets-PyTorch`` (``conv1``, ``bn1``, ``layer1.0.conv2``, ``layer1.0.downsample.0``, ``fc``), so
their checkpoints (``resnext-101-kinetics.pth``, ``{"state_dict": {"module.conv1.weight": ...}}``)
load as they are. Strides: conv1 (1, 2, 2), max-pool 2, layers 2-4 stride 2, so the last stage is
f = (N, 2048, T/16, H/32, W/32).

Hara's models read [0, 255] pixels minus a mean (and, in later releases, [0, 1] pixels standardised
by a mean and std), not [-1, 1]: build it with the ``pixel_norm`` its weights were trained with
(``model.pixel_norm``; :data:`PIXEL_NORM_STATS`) and it converts its [-1, 1] input. ``vpnet weights
convert --arch resnext101 --pixel-norm ...`` records the choice in the safetensors file, and loading
such a file with another ``pixel_norm`` is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from vpnet.models.weights import WeightsError, load_into, resolve

__all__ = ["ResNeXt3d", "resnext3d_101", "HARA_ACTIVITYNET_NORM", "HARA_KINETICS_NORM", "PIXEL_NORM_STATS"]

#: (mean, std) in [0, 1] pixel units of Hara et al.'s first releases (ActivityNet mean, ``norm_value=1``,
#: i.e. [0, 255] pixels minus the mean, std 1/255).
HARA_ACTIVITYNET_NORM = ((114.7748 / 255, 107.7354 / 255, 99.4750 / 255), (1 / 255, 1 / 255, 1 / 255))
#: (mean, std) of Hara et al.'s later releases (Kinetics statistics on [0, 1] pixels).
HARA_KINETICS_NORM = ((0.4345, 0.4051, 0.3775), (0.2768, 0.2713, 0.2737))
#: ``pixel_norm`` name (:data:`vpnet.config.PIXEL_NORMS`) -> (mean, std), None: [-1, 1] as it is.
PIXEL_NORM_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]] | None] = {
    "none": None, "hara_activitynet": HARA_ACTIVITYNET_NORM, "hara_kinetics": HARA_KINETICS_NORM,
}


class ResNeXtBottleneck(nn.Module):
    """1x1x1 -> grouped 3x3x3 (stride) -> 1x1x1 (x2 channels), plus the shortcut."""

    expansion = 2

    def __init__(self, inplanes: int, planes: int, cardinality: int, stride: int = 1,
                 downsample: nn.Module | None = None, *, bn_momentum: float = 0.1):
        super().__init__()
        mid = cardinality * (planes // 32)
        self.conv1 = nn.Conv3d(inplanes, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(mid, momentum=bn_momentum)
        self.conv2 = nn.Conv3d(mid, mid, 3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm3d(mid, momentum=bn_momentum)
        self.conv3 = nn.Conv3d(mid, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion, momentum=bn_momentum)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNeXt3d(nn.Module):
    """3D ResNeXt. ``forward_features`` -> (N, 2048, ceil(T/16), ceil(H/32), ceil(W/32)); ``forward`` -> logits."""

    out_channels = 2048
    temporal_stride = 16
    spatial_stride = 32

    def __init__(self, *, layers: Sequence[int] = (3, 4, 23, 3), cardinality: int = 32, num_classes: int = 400,
                 bn_momentum: float = 0.1, pixel_mean: Sequence[float] | None = None,
                 pixel_std: Sequence[float] | None = None):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv3d(3, 64, 7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64, momentum=bn_momentum)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, blocks) in enumerate(zip((128, 256, 512, 1024), layers)):
            stride = 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes * ResNeXtBottleneck.expansion:
                downsample = nn.Sequential(
                    nn.Conv3d(inplanes, planes * ResNeXtBottleneck.expansion, 1, stride=stride, bias=False),
                    nn.BatchNorm3d(planes * ResNeXtBottleneck.expansion, momentum=bn_momentum))
            stage = [ResNeXtBottleneck(inplanes, planes, cardinality, stride, downsample, bn_momentum=bn_momentum)]
            inplanes = planes * ResNeXtBottleneck.expansion
            stage += [ResNeXtBottleneck(inplanes, planes, cardinality, bn_momentum=bn_momentum)
                      for _ in range(1, blocks)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.fc = nn.Linear(self.out_channels, num_classes) if num_classes else None
        # [-1, 1] input -> the pixel normalisation the weights were trained with: x01 = (x + 1) / 2,
        # (x01 - mean) / std. Identity unless given; not in the state dict (a property of the weights).
        mean = torch.tensor(pixel_mean if pixel_mean is not None else (0.5, 0.5, 0.5))
        std = torch.tensor(pixel_std if pixel_std is not None else (0.5, 0.5, 0.5))
        self.register_buffer("input_scale", (0.5 / std).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("input_shift", ((0.5 - mean) / std).view(1, 3, 1, 1, 1), persistent=False)
        self._identity_input = pixel_mean is None and pixel_std is None
        for m in self.modules():  # He init of the convolutions; BatchNorm keeps PyTorch's (1, 0)
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, 3, T, H, W) in [-1, 1] -> (N, 2048, ceil(T/16), ceil(H/32), ceil(W/32))."""
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"ResNeXt3d expects video shaped (N, 3, T, H, W), got {tuple(x.shape)}")
        if not self._identity_input:
            x = x * self.input_scale + self.input_shift
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: Tensor) -> Tensor:
        if self.fc is None:
            raise RuntimeError("this ResNeXt3d was built without a classifier (num_classes=0); use forward_features")
        return self.fc(self.forward_features(x).mean(dim=(2, 3, 4)))


def resnext3d_101(*, weights: str | Path | None = None, num_classes: int = 400, bn_momentum: float = 0.1,
                  pixel_norm: str | tuple[Sequence[float], Sequence[float]] = "none") -> ResNeXt3d:
    """3D ResNeXt-101 (32 groups).

    Args:
        weights: ``None`` or a path to a checkpoint in Hara et al.'s layout (``torch.save`` file,
            optionally wrapped in ``{"state_dict": ...}`` with ``module.`` prefixes) or our safetensors;
            a classifier of another class count is left at its init.
        num_classes: size of the classifier; 0 builds no classifier (a backbone).
        bn_momentum: BatchNorm momentum, PyTorch convention.
        pixel_norm: the input the weights expect: a name of :data:`PIXEL_NORM_STATS` (``none``,
            ``hara_activitynet``, ``hara_kinetics``; see the module docstring) or (mean, std) in
            [0, 1] pixel units. A safetensors file that records another ``pixel_norm`` is refused.
    """
    if isinstance(pixel_norm, str):
        if pixel_norm not in PIXEL_NORM_STATS:
            raise ValueError(
                f"pixel_norm must be one of {', '.join(PIXEL_NORM_STATS)} or (mean, std), got {pixel_norm!r}")
        mean, std = PIXEL_NORM_STATS[pixel_norm] or (None, None)
    else:
        mean, std = pixel_norm
    if weights is not None:  # read (and check) the weights before building 48 M parameters
        state, meta, source = resolve(weights, arch="resnext101")
        recorded = meta.get("pixel_norm")
        if recorded is not None and isinstance(pixel_norm, str) and recorded != pixel_norm:
            raise WeightsError(source, f"these weights were converted for pixel_norm={recorded!r} input, "
                                       f"but pixel_norm={pixel_norm!r} was asked (set model.pixel_norm={recorded})")
    model = ResNeXt3d(num_classes=num_classes, bn_momentum=bn_momentum, pixel_mean=mean, pixel_std=std)
    if weights is not None:
        load_into(model, state, source=source, head_prefixes=("fc.",))
    return model

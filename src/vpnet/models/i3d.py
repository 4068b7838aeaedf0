"""Inception-v1 I3D (Carreira & Zisserman, CVPR 2017) with TensorFlow "SAME" padding.

The layers, names and padding follow DeepMind's model (``kinetics-i3d``), so their Kinetics-400
checkpoint reproduces their logits: convolutions and max-pools pad "SAME" (the extra pixel goes
after, max-pools pad with -inf), BatchNorm eps 1e-3. Submodule names follow the pytorch-i3d layout
(``Mixed_3b.b1b.conv3d.weight``, ``logits.conv3d.bias``), which is what most users already have.

Shapes: input (N, 3, T, H, W), RGB in [-1, 1]; ``Mixed_5c`` = (N, 1024, ceil(T/8), ceil(H/32), ceil(W/32)).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vpnet.models.weights import KINETICS400, load_into, resolve

__all__ = ["InceptionI3d", "inception_i3d", "KINETICS400", "same_padding"]

# Mixed blocks: (b0, b1a, b1b, b2a, b2b, b3b) output channels, DeepMind's InceptionI3d.
_MIXED: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def _triple(v: int | Sequence[int]) -> tuple[int, int, int]:
    return (v, v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF/XLA "SAME" padding of one dimension as (before, after); the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _Same(nn.Module):
    """Base for layers with "SAME" padding: static and symmetric when stride 1 and kernel odd,
    otherwise computed from the input size in ``forward`` (asymmetric for even sizes)."""

    def __init__(self, kernel_size: int | Sequence[int], stride: int | Sequence[int]):
        super().__init__()
        self.kernel_size = _triple(kernel_size)
        self.stride = _triple(stride)
        self.static = all(s == 1 and k % 2 == 1 for k, s in zip(self.kernel_size, self.stride))

    def _pad(self, x: Tensor, value: float) -> Tensor:
        pads: list[int] = []
        for size, k, s in zip(reversed(x.shape[2:]), reversed(self.kernel_size), reversed(self.stride)):
            pads.extend(same_padding(int(size), k, s))
        return F.pad(x, pads, value=value) if any(pads) else x


class MaxPool3dSame(_Same):
    """Max-pool with "SAME" padding by -inf (flax/TF semantics: padding never wins the max)."""

    def forward(self, x: Tensor) -> Tensor:
        if self.static:
            return F.max_pool3d(x, self.kernel_size, self.stride, padding=tuple(k // 2 for k in self.kernel_size))
        return F.max_pool3d(self._pad(x, float("-inf")), self.kernel_size, self.stride)


class Unit3d(_Same):
    """DeepMind's Unit3D: Conv3d ("SAME", zero padding) -> BatchNorm (eps 1e-3) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int] = 1,
                 stride: int | Sequence[int] = 1, *, use_bn: bool = True, use_bias: bool = False,
                 activation: bool = True, bn_momentum: float = 0.1):
        super().__init__(kernel_size, stride)
        padding = tuple(k // 2 for k in self.kernel_size) if self.static else 0
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel_size, self.stride, padding=padding,
                                bias=use_bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=bn_momentum) if use_bn else None
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        if not self.static:
            x = self._pad(x, 0.0)
        x = self.conv3d(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True) if self.activation else x


class InceptionModule(nn.Module):
    """Four branches: 1x1x1 | 1x1x1 -> 3x3x3 | 1x1x1 -> 3x3x3 | 3x3x3 max-pool -> 1x1x1, concatenated."""

    def __init__(self, in_channels: int, channels: Sequence[int], *, bn_momentum: float = 0.1):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = channels
        kw = {"bn_momentum": bn_momentum}
        self.b0 = Unit3d(in_channels, c0, **kw)
        self.b1a = Unit3d(in_channels, c1a, **kw)
        self.b1b = Unit3d(c1a, c1b, 3, **kw)
        self.b2a = Unit3d(in_channels, c2a, **kw)
        self.b2b = Unit3d(c2a, c2b, 3, **kw)
        self.b3a = MaxPool3dSame(3, 1)
        self.b3b = Unit3d(in_channels, c3, **kw)
        self.out_channels = c0 + c1b + c2b + c3

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class InceptionI3d(nn.Module):
    """Inception-v1 I3D. ``forward_features`` -> Mixed_5c (N, 1024, t_c, m, n); ``forward`` -> logits (N, K).

    ``num_classes=0`` builds it without the Kinetics head (as a backbone). The head is DeepMind's:
    average pool (2, 7, 7) stride 1 VALID (clipped to the map for inputs smaller than 64x224x224),
    dropout, 1x1x1 conv with bias, mean of the logits over the remaining time (and space) positions.
    """

    out_channels = 1024
    temporal_stride = 8
    spatial_stride = 32

    def __init__(self, *, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.5,
                 bn_momentum: float = 0.1):
        super().__init__()
        kw = {"bn_momentum": bn_momentum}
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.Conv3d_1a_7x7 = Unit3d(in_channels, 64, 7, 2, **kw)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3d(64, 64, **kw)
        self.Conv3d_2c_3x3 = Unit3d(64, 192, 3, **kw)
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        channels = 192
        for name, block in _MIXED.items():
            if name == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = MaxPool3dSame(3, 2)
            elif name == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = MaxPool3dSame(2, 2)
            module = InceptionModule(channels, block, **kw)
            setattr(self, name, module)
            channels = module.out_channels
        self.dropout = nn.Dropout(dropout)
        self.logits = (Unit3d(self.out_channels, num_classes, use_bn=False, use_bias=True, activation=False)
                       if num_classes else None)
        # DeepMind's order; every child except dropout/logits, as registered above.
        self._feature_layers = [name for name in self._modules if name not in ("dropout", "logits")]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He init of the convolutions (BatchNorm keeps PyTorch's: scale 1, shift 0)."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, 3, T, H, W) in [-1, 1] -> Mixed_5c (N, 1024, ceil(T/8), ceil(H/32), ceil(W/32))."""
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"InceptionI3d expects video shaped (N, {self.in_channels}, T, H, W), got {tuple(x.shape)}")
        for name in self._feature_layers:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        """(N, 3, T, H, W) -> logits (N, num_classes)."""
        if self.logits is None:
            raise RuntimeError("this InceptionI3d was built without a classifier (num_classes=0); "
                               "use forward_features")
        f = self.forward_features(x)
        kernel = (min(2, f.shape[2]), min(7, f.shape[3]), min(7, f.shape[4]))
        f = F.avg_pool3d(f, kernel, stride=1)
        return self.logits(self.dropout(f)).mean(dim=(2, 3, 4))


def inception_i3d(*, weights: str | Path | None = None, num_classes: int = 400, dropout: float = 0.5,
                  bn_momentum: float = 0.1) -> InceptionI3d:
    """Build an Inception-v1 I3D.

    Args:
        weights: ``None`` (random init), ``"kinetics400"`` (DeepMind's RGB checkpoint, fetched and
            cached on first use, see :func:`vpnet.models.weights.fetch`), or a path to a state dict in
            the pytorch-i3d layout / our safetensors / DeepMind's flax pickle.
        num_classes: size of the classifier; 0 builds no classifier (a backbone). With pretrained
            weights of another class count the classifier keeps its fresh init.
        dropout: before the classifier.
        bn_momentum: BatchNorm momentum, PyTorch convention. DeepMind trained with 0.001; 0.1 (the
            default) lets the running statistics follow a new dataset within short runs.
    """
    model = InceptionI3d(num_classes=num_classes, dropout=dropout, bn_momentum=bn_momentum)
    if weights is not None:
        state, _, source = resolve(weights, arch="i3d")
        load_into(model, state, source=source, head_prefixes=("logits.",))
    return model

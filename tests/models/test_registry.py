"""The backbone registry's data agrees with the modules it builds."""

from __future__ import annotations

import pytest
import torch

from vpnet.models.registry import backbone_names, get_backbone


@pytest.mark.parametrize("name", backbone_names())
def test_strides_as_data_match_the_module(name):
    """``BackboneSpec.strides`` lets a config be checked without building the model: it must be the module's."""
    spec = get_backbone(name)
    with torch.device("meta"):
        model = spec.build(num_classes=0, pixel_norm=spec.pixel_norms[0])
    assert spec.strides == (model.temporal_stride, model.spatial_stride)

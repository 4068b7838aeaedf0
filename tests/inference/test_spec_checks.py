"""The model description of an exported file is checked against the model before any work (issue 22):
a contradiction is one error naming the file and the field."""

from __future__ import annotations

import dataclasses
import json

import pytest

from vpnet.errors import InferenceError
from vpnet.inference import ModelSpec, OnnxBackend
from vpnet.spec_checks import check_spec

SPEC = ModelSpec(variant="l3", skeleton="ntu25", num_joints=25, clip_len=8, crop_size=64, t_p=4, frame_stride=2,
                 crop_margin=0.1, class_names=("a", "b"), outputs=("logits", "a_s", "a_t"), grid=(2, 2), t_c=2)


@pytest.mark.parametrize("change, field", [
    ({"class_names": tuple(f"c{i}" for i in range(30))}, "class_names lists 30 classes but the model scores 2"),
    ({"frame_stride": 0}, "frame_stride=0"),
    ({"clip_len": "8"}, "clip_len='8'"),
    ({"t_p": 0}, "t_p=0: must be an integer >= 1"),
    ({"num_joints": 13}, "num_joints=13 but skeleton ntu25 has 25"),
    ({"skeleton": "kinect99"}, "skeleton='kinect99'"),
    ({"variant": "l9"}, "variant='l9'"),
    ({"outputs": ("logits",)}, "outputs=['logits'] but variant l3"),
    ({"grid": (0, 2)}, "grid=[0, 2]"),
    ({"crop_margin": float("nan")}, "crop_margin=nan"),
    ({"pose_norm": "bogus"}, "pose_norm='bogus'"),
    ({"sampling": 3}, "sampling=3"),
    ({"class_names": ()}, "class_names: must be a non-empty list"),
    ({"pose_span": "auto"}, "pose_span='auto'"),
    ({"fps": 0.0}, "fps=0.0: must be a frame rate in [1, 1000]"),
    ({"fps": "30"}, "fps='30'"),
    ({"pixel_range": (1.0, -1.0)}, "pixel_range=[1.0, -1.0]"),
    ({"pixel_range": (0.0, float("inf"))}, "pixel_range=[0.0, inf]"),
    ({"amp": "int4"}, "amp='int4'"),
    ({"crop": "left"}, "crop='left'"),
    ({"crop": "centre"}, "crop='centre' but variant l3 reads poses"),
    ({"generated": "yes"}, "generated='yes'"),
])
def test_contradictions_are_refused_naming_the_field(change, field):
    check_spec(SPEC, "m.onnx", num_logits=2)  # the unchanged description passes
    with pytest.raises(InferenceError, match="m.onnx: its vpnet metadata is inconsistent") as e:
        check_spec(dataclasses.replace(SPEC, **change), "m.onnx", num_logits=2)
    assert field in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("change, field", [
    ({"class_names": [f"c{i}" for i in range(30)]}, "class_names lists 30 classes but the model scores 2"),
    ({"frame_stride": 0}, "frame_stride=0"),
])
def test_onnx_file_with_edited_metadata_is_refused(onnx_file, tmp_path, change, field):
    """The sweep's cases: 30 class names for 2 scores, frame_stride 0 in a real exported file."""
    import onnx

    proto = onnx.load(str(onnx_file))
    (entry,) = [p for p in proto.metadata_props if p.key == "vpnet"]
    entry.value = json.dumps({**json.loads(entry.value), **change})
    edited = tmp_path / "edited.onnx"
    onnx.save(proto, str(edited))
    with pytest.raises(InferenceError, match=f"{edited}: its vpnet metadata is inconsistent") as e:
        OnnxBackend(edited)
    assert field in str(e.value)
    assert OnnxBackend(onnx_file).spec.frame_stride >= 1  # the original still loads

"""Validation of the model description read from a model file (:class:`vpnet.inference.ModelSpec`, stored in
exported ONNX files): every field against its type and range and against the model itself (the class count
against the logits' width, the inputs against the skeleton, the outputs against the variant), before any
work. A contradiction is an :class:`~vpnet.errors.InferenceError` naming the file and the field.

A run folder's model is described by its config, which :func:`vpnet.engine.config_loader.load_config`
validates; a file's metadata could have been edited by hand or written by another program, so it is
checked here, field by field.
"""

from __future__ import annotations

import math
from typing import Any

from vpnet.config import AMPS, FPS_RANGE, POSE_NORMS, SAMPLINGS, VARIANTS
from vpnet.errors import InferenceError

__all__ = ["check_spec"]

#: where a window's poses come from, once resolved (``data.pose_span`` ``auto`` is resolved before storing).
POSE_SPANS = ("window", "clip")
#: how the person is cropped: around the people's joints, or the Kinetics centre square (no poses).
CROPS = ("people", "centre")

#: the outputs a variant's model may have, in order (A_T only with spatio-temporal attention,
#: ``model.attention``; the Table 2 ablations drop it).
VARIANT_OUTPUTS = {"l1": (("logits",),), "pose_only": (("logits",),),
                   "l2": (("logits", "a_s"), ("logits", "a_s", "a_t")),
                   "l3": (("logits", "a_s"), ("logits", "a_s", "a_t"))}


def _int(spec: Any, name: str, low: int) -> int:
    v = getattr(spec, name)
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ValueError(f"{name}={v!r}: must be an integer >= {low}")
    return v


def check_spec(spec: Any, source: str, *, num_logits: int | None = None) -> None:
    """Raise :class:`InferenceError` ("``source``: its vpnet metadata field X ...") when ``spec`` contradicts
    itself or the model: ``num_logits`` is the width of the model's logits output where the file states it."""
    try:
        _check(spec, num_logits)
    except ValueError as e:
        raise InferenceError(f"{source}: its vpnet metadata is inconsistent: {e}; export the model again with "
                             "`vpnet export`") from None


def _check(spec: Any, num_logits: int | None) -> None:
    from vpnet.skeletons import LAYOUTS

    if spec.variant not in VARIANTS:
        raise ValueError(f"variant={spec.variant!r}: not one of {', '.join(VARIANTS)}")
    if spec.skeleton not in LAYOUTS:
        raise ValueError(f"skeleton={spec.skeleton!r}: not one of {', '.join(LAYOUTS)}")
    joints = _int(spec, "num_joints", 1)
    if joints != LAYOUTS[spec.skeleton].num_joints:
        raise ValueError(f"num_joints={joints} but skeleton {spec.skeleton} has {LAYOUTS[spec.skeleton].num_joints}")
    for name in ("clip_len", "crop_size", "t_p", "frame_stride"):
        _int(spec, name, 1)
    margin = spec.crop_margin
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin) or margin < 0:
        raise ValueError(f"crop_margin={margin!r}: must be a finite number >= 0")
    names = spec.class_names
    if not names or not all(isinstance(n, str) for n in names):
        raise ValueError("class_names: must be a non-empty list of strings")
    if num_logits is not None and len(names) != num_logits:
        raise ValueError(f"class_names lists {len(names)} classes but the model scores {num_logits}")
    if tuple(spec.outputs) not in VARIANT_OUTPUTS[spec.variant]:
        raise ValueError(f"outputs={list(spec.outputs)} but variant {spec.variant} has "
                         + " or ".join(str(list(o)) for o in VARIANT_OUTPUTS[spec.variant]))
    if "a_s" in spec.outputs:
        grid = spec.grid
        if len(grid) != 2 or any(isinstance(g, bool) or not isinstance(g, int) or g < 1 for g in grid):
            raise ValueError(f"grid={list(grid)}: must be two integers >= 1 for a model with spatial attention")
    if "a_t" in spec.outputs:
        _int(spec, "t_c", 1)
    if spec.pose_norm not in POSE_NORMS:
        raise ValueError(f"pose_norm={spec.pose_norm!r}: not one of {', '.join(POSE_NORMS)}")
    if spec.sampling not in SAMPLINGS:
        raise ValueError(f"sampling={spec.sampling!r}: not one of {', '.join(SAMPLINGS)}")
    if spec.pose_span not in POSE_SPANS:
        raise ValueError(f"pose_span={spec.pose_span!r}: not one of {', '.join(POSE_SPANS)}")
    fps = spec.fps
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float))
                            or not FPS_RANGE[0] <= fps <= FPS_RANGE[1]):
        raise ValueError(f"fps={fps!r}: must be a frame rate in [{FPS_RANGE[0]:g}, {FPS_RANGE[1]:g}] or absent")
    low_high = spec.pixel_range
    if (len(low_high) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                                  for v in low_high) or low_high[0] >= low_high[1]):
        raise ValueError(f"pixel_range={list(low_high)}: must be two finite numbers, low < high")
    if spec.amp not in AMPS:
        raise ValueError(f"amp={spec.amp!r}: not one of {', '.join(AMPS)}")
    if spec.crop not in CROPS:
        raise ValueError(f"crop={spec.crop!r}: not one of {', '.join(CROPS)}")
    if spec.crop == "centre" and spec.uses_poses:
        raise ValueError(f"crop='centre' but variant {spec.variant} reads poses (the centre crop is for models "
                         "without poses)")
    if not isinstance(spec.trained_on, str) or not isinstance(spec.generated, bool):
        raise ValueError(f"trained_on={spec.trained_on!r}, generated={spec.generated!r}: must be a string and "
                         "true/false")

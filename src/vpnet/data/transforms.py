"""Input transforms that turn decoded frames into a model's input.

:func:`kinetics_preprocess` is the input transform of the Kinetics-400 I3D weights
(:data:`vpnet.models.weights.KINETICS400`'s ``transform``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vpnet.data.clips import to_model_range

__all__ = ["kinetics_preprocess", "to_model_range"]


def kinetics_preprocess(frames: np.ndarray) -> Tensor:
    """DeepMind's Kinetics-400 input: RGB uint8 frames (T, H, W, 3) -> (1, 3, T, 224, 224) float32 in
    [-1, 1]: short side resized to 256 (bilinear), centre crop 224.

    The frames should be at 25 fps, T = 64 as in training (any T works).
    """
    import cv2

    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (T, H, W, 3) uint8 RGB frames, got {frames.shape} {frames.dtype}")
    h, w = frames.shape[1:3]
    scale = 256 / min(h, w)
    width, height = round(w * scale), round(h * scale)
    top, left = (height - 224) // 2, (width - 224) // 2
    crops = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR)[top : top + 224, left : left + 224]
                      for f in frames])
    return torch.from_numpy(to_model_range(crops)[None])

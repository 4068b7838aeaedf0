"""Input transforms (``vpnet.data.transforms``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vpnet.data.transforms import kinetics_preprocess
from vpnet.models.weights import KINETICS400


def test_kinetics_weights_name_this_transform():
    assert KINETICS400.transform is kinetics_preprocess


def test_kinetics_preprocess_resizes_the_short_side_to_256_and_crops_the_centre():
    """240x320 frames -> 256x341 -> centre 224x224 at (16, 58), in [-1, 1], channels first, time kept.

    Channel 0 is 0 left of column 160 and 255 right of it: after the resize the edge is at 170.5,
    i.e. at 112.5 in the crop. Channel 1 is split at row 120: 128 after the resize, 112 in the crop.
    Channel 2 is 10 * t, constant in each frame."""
    t = 5
    frames = np.zeros((t, 240, 320, 3), np.uint8)
    frames[:, :, 160:, 0] = 255
    frames[:, 120:, :, 1] = 255
    frames[..., 2] = (10 * np.arange(t, dtype=np.uint8))[:, None, None]
    x = kinetics_preprocess(frames)
    assert x.shape == (1, 3, t, 224, 224) and x.dtype == torch.float32
    row, col = x[0, 0, 0, 100], x[0, 1, 0, :, 100]
    assert row[:112].eq(-1).all() and row[113:].eq(1).all() and -0.5 < row[112] < 0.5
    assert col[:111].eq(-1).all() and col[113:].eq(1).all()
    torch.testing.assert_close(x[0, 2, :, 50, 60], torch.arange(t) * 10 / 127.5 - 1)
    with pytest.raises(ValueError, match=r"expected \(T, H, W, 3\) uint8 RGB frames, got \(5, 240, 320, 3\) float32"):
        kinetics_preprocess(frames.astype(np.float32))

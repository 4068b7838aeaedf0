"""Pose streams: what a pose backbone reads, computed from the joint positions inside the model.

The multi-stream practice of skeleton recognition (2s-AGCN, CTR-GCN, PySKL): one network per input
stream, their scores fused. ``data.pose_stream``:

- ``joint``: the normalised joint positions as they are;
- ``bone``: b_j = x_j - x_parent(j), the parent in the layout's bone tree
  (:func:`vpnet.skeletons.bone_parents`; the root's bone is zero);
- ``joint_motion`` / ``bone_motion``: m_t = s_{t+1} - s_t of the joint / bone stream between consecutive
  sampled poses, zero at the last step (no later pose).

The model's input stays the joint positions (N, 3, t_p, J), so VPN's coupler, ``vpnet predict``, export
and the pose augmentation (applied to joints) are the same for every stream.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from vpnet.config import POSE_STREAMS

__all__ = ["PoseStream"]


class PoseStream(nn.Module):
    """(N, C, T, J) joint positions -> (N, C, T, J) of the stream; no parameters, nothing in the state dict."""

    def __init__(self, stream: str = "joint", parents: np.ndarray | None = None):
        super().__init__()
        if stream not in POSE_STREAMS:
            raise ValueError(f"pose stream must be one of {', '.join(POSE_STREAMS)}; got {stream!r}")
        self.stream = stream
        self.bone = stream.startswith("bone")
        self.motion = stream.endswith("motion")
        if self.bone:
            if parents is None:
                raise ValueError(f"the {stream} stream needs the layout's bone parents")
            # not persistent: a joint run's weights load into a bone run's model and vice versa
            self.register_buffer("parents", torch.as_tensor(np.asarray(parents), dtype=torch.long),
                                 persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.bone:
            x = x - x.index_select(-1, self.parents)
        if self.motion:
            x = torch.cat([x[:, :, 1:] - x[:, :, :-1], torch.zeros_like(x[:, :, :1])], dim=2)
        return x

    def extra_repr(self) -> str:
        return self.stream

"""DeepMind's flax I3D checkpoint -> :class:`~vpnet.models.i3d.InceptionI3d` (the pytorch-i3d key layout).

Named by :data:`vpnet.models.weights.KINETICS400` as its converter, and used by
:func:`vpnet.models.weights.read_checkpoint` for a DeepMind pickle given as a file. Builds no model:
whether every entry fits is checked where the state dict is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from vpnet.errors import WeightsError

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = ["convert_deepmind_i3d"]

_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "b0", "Branch_1/Conv3d_0a_1x1": "b1a", "Branch_1/Conv3d_0b_3x3": "b1b",
    "Branch_2/Conv3d_0a_1x1": "b2a", "Branch_2/Conv3d_0b_3x3": "b2b", "Branch_3/Conv3d_0b_1x1": "b3b",
}
_LEAVES = {
    ("params", "Conv_0/kernel"): "conv3d.weight",
    ("params", "Conv_0/bias"): "conv3d.bias",
    ("params", "BatchNorm_0/bias"): "bn.bias",
    ("params", "BatchNorm_0/scale"): "bn.weight",
    ("batch_stats", "BatchNorm_0/mean"): "bn.running_mean",
    ("batch_stats", "BatchNorm_0/var"): "bn.running_var",
}


_FLAX_KEY = re.compile(r"(params|batch_stats)/(.+)/((?:Conv_0|BatchNorm_0)/\w+)")


def _unit_name(path: str) -> str | None:
    """``Mixed_3b/Branch_1/Conv3d_0b_3x3`` -> ``Mixed_3b.b1b``; ``Logits/Conv3d_0c_1x1`` -> ``logits``."""
    if path == "Logits/Conv3d_0c_1x1":
        return "logits"
    block, _, branch = path.partition("/")
    if not branch:
        return block
    return f"{block}.{_BRANCHES[branch]}" if branch in _BRANCHES else None


def convert_deepmind_i3d(arrays: Mapping[str, np.ndarray], *, source: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """Flax I3D arrays (``params/...``, ``batch_stats/...``) -> an :class:`InceptionI3d` state dict.

    Conv kernels go from (kt, kh, kw, in, out) to (out, in, kt, kh, kw); BatchNorm statistics from
    (1, 1, 1, 1, C) to (C,). The DeepMind BatchNorm has no scale, so ``bn.weight`` is set to ones.
    Whether every entry of the model is there is checked by :func:`check_state_dict`.
    """
    import numpy as np
    import torch

    state: dict[str, torch.Tensor] = {}
    for key, value in arrays.items():
        match = _FLAX_KEY.fullmatch(key)
        target = _LEAVES.get((match[1], match[3])) if match else None
        unit = _unit_name(match[2]) if target else None
        if unit is None:
            raise WeightsError(source, f"unexpected entry {key!r} {tuple(value.shape)}: not part of the DeepMind I3D")
        arr = np.asarray(value, dtype=np.float32)
        if target == "conv3d.weight":
            if arr.ndim != 5:
                raise WeightsError(source, f"{key}: expected a 5-D conv kernel (kt, kh, kw, in, out), got {arr.shape}")
            arr = arr.transpose(4, 3, 0, 1, 2)
        else:
            arr = arr.reshape(-1)
        state[f"{unit}.{target}"] = torch.from_numpy(np.ascontiguousarray(arr))
    for name in [k for k in state if k.endswith(".bn.bias")]:
        weight = name.removesuffix("bias") + "weight"
        state.setdefault(weight, torch.ones_like(state[name]))
    return state

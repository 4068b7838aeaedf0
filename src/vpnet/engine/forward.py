"""The one forward path shared by video batches and cached-feature batches, and the eval-clip settings.

A batch is the dict of :func:`vpnet.data.collate` (keys of :data:`vpnet.data.types.SAMPLE_KEYS`):
``video`` (B, 3, T, H, W) or ``features`` (B, C, t_c, m, n), ``poses`` (B, 3, t_p, J), ``label`` (B,).
Test batches hold K clips per video: ``video`` (B, K, 3, T, H, W), ``features`` (B, K, C, t_c, m, n),
``poses`` (B, K, 3, t_p, J). :func:`forward_clips` flattens the clips and applies a function (the
model, or its backbone) to them in chunks, returning per-clip outputs (B, K, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

import torch

from vpnet.config import Config

__all__ = ["eval_clips", "describe_clips", "batch_size_of", "autocast", "model_inputs", "forward_clips"]


#: the paper's test short side over its training crop (256 / 224): ``eval.short_side``'s default ratio.
TEST_SCALE = 256 / 224


def eval_clips(cfg: Config) -> tuple[int, int | None]:
    """(clips per video, short side) of ``cfg.eval``: ``multi`` -> (eval.num_clips, eval.short_side, by
    default ``model.crop_size`` x 256/224 rounded to the backbone's spatial stride: the model's training
    size in the paper's proportion, 256 for 224, 64 for 64), ``single`` -> (1, None): one centre clip at
    the training crop size."""
    if cfg.eval.mode != "multi":
        return 1, None
    if cfg.eval.short_side:
        return cfg.eval.num_clips, cfg.eval.short_side
    from vpnet.models.registry import get_backbone

    strides = get_backbone(cfg.model.backbone).strides
    stride = strides[1] if strides else 1
    return cfg.eval.num_clips, max(stride, round(cfg.model.crop_size * TEST_SCALE / stride) * stride)


def describe_clips(num_clips: int, short_side: int | None) -> str:
    """``(10, 256)`` -> ``"10 clips, short side 256, max over clips"``; ``(1, None)`` -> ``"single centre clip"``."""
    if short_side is None:
        return "single centre clip" if num_clips == 1 else f"{num_clips} clips at the training size, max over clips"
    return f"{num_clips} clip{'s' * (num_clips != 1)}, short side {short_side}, max over clips"


def batch_size_of(batch: Any) -> int:
    """Items in a collated batch (0 for an empty or missing one: every item of it failed)."""
    if not batch:
        return 0
    label = batch.get("label")
    return 0 if label is None else len(label)


def autocast(device: torch.device, amp: str):
    """The autocast context of ``amp`` (``none``, ``bf16``, ``fp16``) on ``device``."""
    if amp == "none":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def _to(x: torch.Tensor | None, device: torch.device, channels_last: bool) -> torch.Tensor | None:
    if x is None:
        return None
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 5:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return x


def model_inputs(batch: Mapping[str, Any], *, device: torch.device, channels_last: bool = False) -> dict[str, Any]:
    """The keyword arguments of ``model(video=..., poses=..., features=...)`` for a batch of single clips:
    its tensors on ``device`` (None where absent), clips in ``channels_last_3d`` when asked."""
    out = {"video": _to(batch.get("video"), device, channels_last), "poses": _to(batch.get("poses"), device, False),
           "features": _to(batch.get("features"), device, channels_last)}
    if batch.get("a_s") is not None:  # a given A_S (feature caches with a_s.npy): only such batches pass it
        out["a_s"] = _to(batch["a_s"], device, False)
    return out


@torch.no_grad()
def forward_clips(
    fn: Callable[[dict[str, Any]], torch.Tensor],
    batch: Mapping[str, Any],
    *,
    device: torch.device,
    amp: str = "none",
    clip_batch: int = 10,
    channels_last: bool = False,
) -> torch.Tensor:
    """``fn`` over every clip of a batch, ``clip_batch`` clips at a time: (B, K, ...) float32 on ``device``.

    ``fn`` takes :func:`model_inputs` of a chunk of single clips and returns a tensor (n, ...): e.g.
    ``lambda x: model(**x).logits`` (per-clip logits) or ``lambda x: model.forward_features(x["video"])``
    (backbone maps). Test batches hold K clips per video; single-clip batches give K = 1.
    """
    video, poses, features, a_s = batch.get("video"), batch.get("poses"), batch.get("features"), batch.get("a_s")
    visual = features if features is not None else video
    if visual is None and poses is None:
        raise ValueError("a batch needs video, features or poses")
    multi = visual.dim() == 6 if visual is not None else poses.dim() == 5
    ref = visual if visual is not None else poses
    b = ref.shape[0]
    k = ref.shape[1] if multi else 1
    flat = {key: x.flatten(0, 1) if multi else x
            for key, x in (("video", video), ("poses", poses), ("features", features), ("a_s", a_s)) if x is not None}
    outs = []
    for i in range(0, b * k, clip_batch):
        part = {key: x[i : i + clip_batch] for key, x in flat.items()}
        with autocast(device, amp):
            outs.append(fn(model_inputs(part, device=device, channels_last=channels_last)).float())
    out = torch.cat(outs)
    return out.view(b, k, *out.shape[1:])

"""What the engine feeds the model: datasets of a config (raw, prepared or cached features), loaders,
and the one forward path shared by video batches and cached-feature batches.

A batch is the dict of :func:`vpnet.data.collate` (keys of :data:`vpnet.data.types.SAMPLE_KEYS`):
``video`` (B, 3, T, H, W) or ``features`` (B, C, t_c, m, n), ``poses`` (B, 3, t_p, J), ``label`` (B,).
Test batches hold K clips per video: ``video`` (B, K, 3, T, H, W), ``features`` (B, K, C, t_c, m, n),
``poses`` (B, K, 3, t_p, J). :func:`forward_clips` flattens the clips, runs
``model(video, poses, features=features)`` in chunks and returns per-clip logits (B, K, classes).
"""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from vpnet.config import Config, DataConfig
from vpnet.engine.config import ConfigError

_NEEDS_SPLIT_DIR = {"smarthome"}
_NEEDS_MANIFEST = {"custom"}


def check_data_paths(data: DataConfig) -> None:
    """Fail early, naming the config key and the missing path, when the data a config needs is absent.

    Which paths are needed: ``feature_dir`` alone when set; else ``prepared_dir`` when set; else the raw
    data (``video_dir`` and ``pose_dir``; ``split_dir`` for Smarthome; ``manifest`` for custom data).
    """
    if data.feature_dir:
        needed = ["feature_dir"]
    elif data.prepared_dir:
        needed = ["prepared_dir"]
    elif data.dataset in _NEEDS_MANIFEST:
        needed = ["manifest"]
    else:
        needed = ["video_dir", "pose_dir"] + (["split_dir"] if data.dataset in _NEEDS_SPLIT_DIR else [])
    problems = []
    for key in needed:
        value = getattr(data, key)
        if not value:
            problems.append(f"data.{key} is not set")
        elif not Path(value).exists():
            problems.append(f"data.{key}: {value} does not exist")
    if problems:
        hint = (
            f"Set the paths of your copy of the {data.dataset} data on the command line, e.g. "
            f"`data.video_dir=/path/to/videos data.pose_dir=/path/to/skeletons`, or point "
            f"data.prepared_dir at a folder written by `vpnet prepare` (or data.feature_dir at one written by "
            f"`vpnet extract-features`). Presets default to folders under $VPNET_DATA (else ./data)."
        )
        raise ConfigError("dataset files not found:\n  " + "\n  ".join(problems) + "\n" + hint)


def loading_config(data: DataConfig) -> DataConfig:
    """``data`` as the datasets should see it: with a prepared store, raw paths that do not exist (a
    preset's placeholders) are dropped, so the store's own records are used."""
    if not data.prepared_dir:
        return data
    missing = {k: None for k in ("video_dir", "pose_dir", "split_dir", "manifest")
               if getattr(data, k) and not Path(getattr(data, k)).exists()}
    return dataclasses.replace(data, **missing) if missing else data


def build_split(cfg: Config, split: str, *, mode: str, num_clips: int = 1, short_side: int | None = None) -> Dataset:
    """The dataset of one split: cached features when ``data.feature_dir`` is set, else video + poses."""
    if cfg.data.feature_dir:
        from vpnet.engine.features import FeatureDataset

        return FeatureDataset(cfg.data.feature_dir, split, mode=mode)
    from vpnet.data import build_dataset

    return build_dataset(loading_config(cfg.data), split, mode=mode, num_clips=num_clips, short_side=short_side)


def make_loader(
    dataset: Dataset, *, batch_size: int, sampler: Sampler[int], num_workers: int, device: torch.device
) -> DataLoader:
    """A DataLoader with the data package's collate (drops and reports failed items).

    Workers are not persistent: each epoch's iterator forks them after ``dataset.set_epoch``, so they
    see the current epoch.
    """
    from vpnet.data import collate

    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        drop_last=False,
        prefetch_factor=4 if num_workers > 0 else None,
    )


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


def forward_batch(model: nn.Module, batch: dict[str, Any], *, device: torch.device, channels_last: bool = False):
    """``model(video, poses, features=features)`` on a training batch (one clip per item)."""
    return model(
        _to(batch.get("video"), device, channels_last),
        _to(batch.get("poses"), device, False),
        features=_to(batch.get("features"), device, channels_last),
    )


@torch.no_grad()
def forward_clips(
    model: nn.Module,
    batch: dict[str, Any],
    *,
    device: torch.device,
    amp: str = "none",
    clip_batch: int = 10,
    channels_last: bool = False,
) -> torch.Tensor:
    """Per-clip logits (B, K, classes) of a test batch (K clips per video; K = 1 for single-clip batches)."""
    video, poses, features = batch.get("video"), batch.get("poses"), batch.get("features")
    visual = features if features is not None else video
    if visual is None and poses is None:
        raise ValueError("a batch needs video, features or poses")
    ref = visual if visual is not None else poses
    multi = ref.dim() == 6 if visual is not None else poses.dim() == 5
    b = ref.shape[0]
    k = ref.shape[1] if multi else 1

    def flat(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else (x.flatten(0, 1) if multi else x)

    video, poses, features = flat(video), flat(poses), flat(features)
    logits = []
    for i in range(0, b * k, clip_batch):
        part = slice(i, i + clip_batch)
        with autocast(device, amp):
            out = model(
                _to(video[part] if video is not None else None, device, channels_last),
                _to(poses[part] if poses is not None else None, device, False),
                features=_to(features[part] if features is not None else None, device, channels_last),
            )
        logits.append(out.logits.float())
    return torch.cat(logits).view(b, k, -1)

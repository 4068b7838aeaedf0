"""What the engine feeds the model: the checked dataset of a config (raw, prepared or cached features),
the model itself, loaders, and the one forward path shared by video batches and cached-feature batches.

A batch is the dict of :func:`vpnet.data.collate` (keys of :data:`vpnet.data.types.SAMPLE_KEYS`):
``video`` (B, 3, T, H, W) or ``features`` (B, C, t_c, m, n), ``poses`` (B, 3, t_p, J), ``label`` (B,).
Test batches hold K clips per video: ``video`` (B, K, 3, T, H, W), ``features`` (B, K, C, t_c, m, n),
``poses`` (B, K, 3, t_p, J). :func:`forward_clips` flattens the clips and applies a function (the
model, or its backbone) to them in chunks, returning per-clip outputs (B, K, ...).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from vpnet.config import Config, DataConfig
from vpnet.errors import ConfigError, DataError

if TYPE_CHECKING:
    from vpnet.data import DatasetInfo


def check_dataset(cfg: Config, splits: list[str] | tuple[str, ...] = ()) -> DatasetInfo:
    """Fail early on a config whose data cannot be used; returns the dataset's :class:`DatasetInfo`.

    Checks that the files the config needs exist (:func:`vpnet.data.check_paths` of :func:`loading_config`:
    the feature cache, the prepared store or the raw data, without videos for ``pose_only``), that each of
    ``splits`` is a split of the dataset and that ``model.num_classes`` is its class count.

    Raises:
        ConfigError: naming the key and the problem.
    """
    from vpnet.data import check_paths, dataset_info

    try:  # missing paths (DataError) or an unknown dataset: data.* values the user fixes in the config
        check_paths(loading_config(cfg), needs_video=cfg.model.variant != "pose_only")
    except ValueError as e:
        raise ConfigError(str(e)) from None
    info = dataset_info(cfg.data)
    for split in splits:
        if split not in info.splits:
            raise ConfigError(f"split {split!r} is not a split of {info.name} ({', '.join(info.splits)})")
    if info.num_classes != cfg.model.num_classes:
        if cfg.data.dataset == "custom" and _inferred_classes(cfg):
            # the count came from the labels in use, not from the user: the wrong number to copy blindly
            raise ConfigError(
                f"model.num_classes={cfg.model.num_classes} but the custom manifest names no class list, and its "
                f"labels give {info.num_classes} class{'es' * (info.num_classes != 1)}: list the class names, one "
                f"per line, in classes.txt beside the manifest (or under \"classes\" in a JSON manifest); set "
                f"model.num_classes={info.num_classes} only if that is really the number of classes")
        raise ConfigError(f"model.num_classes={cfg.model.num_classes} but {info.name} ({cfg.data.protocol}) has "
                          f"{info.num_classes} classes: set model.num_classes={info.num_classes}")
    return info


def require_items(cfg: Config, split: str, dataset: Dataset) -> Dataset:
    """``dataset`` (of ``split``) if it has items, else a DataError saying which split is empty and why.

    Every command builds the datasets of every split it needs and calls this before any work (a model
    built, an epoch trained, a file written), so an empty split never surfaces after an hour's work.
    """
    if len(dataset) > 0:
        return dataset
    where = f"the {split!r} split of {cfg.data.dataset} (protocol {cfg.data.protocol})"
    problems = getattr(dataset, "problems", None)
    if problems:
        first = "; ".join(f"{name}: {why}" for name, why in problems[:3])
        why = f"all {len(problems)} of its items were left out ({first}{'; ...' if len(problems) > 3 else ''})"
    elif cfg.data.feature_dir:
        why = f"the feature cache {cfg.data.feature_dir} holds no item of it (see its failed.json)"
    else:
        why = "no item of the data belongs to it (check data.protocol, the split files and the data folders)"
    raise DataError(None, f"{where} has no items: {why}")


def _inferred_classes(cfg: Config) -> bool:
    """Whether the custom dataset's class list was inferred from its labels (no classes.txt)."""
    from vpnet.data import _custom_paths, custom

    manifest = _custom_paths(loading_config(cfg))["manifest"]
    if manifest is None:
        return False
    try:
        return custom.read_manifest(manifest).inferred
    except ValueError:
        return False


def eval_clips(cfg: Config) -> tuple[int, int | None]:
    """(clips per video, short side) of ``cfg.eval``: ``multi`` -> (eval.num_clips, eval.short_side),
    ``single`` -> (1, None): one centre clip at the training crop size."""
    if cfg.eval.mode == "multi":
        return cfg.eval.num_clips, cfg.eval.short_side
    return 1, None


def describe_clips(num_clips: int, short_side: int | None) -> str:
    """``(10, 256)`` -> ``"10 clips, short side 256, max over clips"``; ``(1, None)`` -> ``"single centre clip"``."""
    if short_side is None:
        return "single centre clip" if num_clips == 1 else f"{num_clips} clips at the training size, max over clips"
    return f"{num_clips} clip{'s' * (num_clips != 1)}, short side {short_side}, max over clips"


def loading_config(cfg: Config) -> DataConfig:
    """``cfg.data`` as the datasets should see it: without ``video_dir`` for ``pose_only`` (it reads no
    video); with a prepared store, without the raw paths that do not exist (a preset's placeholders, the
    NTU missing-skeleton list included), so the store's own records are used."""
    data = cfg.data
    drop = {"video_dir"} if cfg.model.variant == "pose_only" else set()
    if data.prepared_dir:
        drop |= {k for k in ("video_dir", "pose_dir", "split_dir", "manifest", "missing_list")
                 if getattr(data, k) and not Path(getattr(data, k)).exists()}
    return dataclasses.replace(data, **dict.fromkeys(drop)) if drop else data


def build_split(cfg: Config, split: str, *, mode: str, clips: tuple[int, int | None] | None = (1, None)) -> Dataset:
    """The dataset of one split: cached features when ``data.feature_dir`` is set, else video + poses
    (poses alone for ``pose_only``: no video is decoded).

    Args:
        mode: ``train`` or ``test``.
        clips: (clips per video, short side) of test items (see :func:`eval_clips`). A feature cache
            holds the clips it was extracted with: a different request is a ConfigError. None: the
            cache's clips, or one centre clip from video (validation during training).
    """
    if cfg.data.feature_dir:
        from vpnet.engine.features import FeatureDataset

        return FeatureDataset(cfg.data.feature_dir, split, mode=mode, clips=clips if mode == "test" else None)
    from vpnet.data import build_dataset

    num_clips, short_side = clips or (1, None)
    return build_dataset(loading_config(cfg), split, mode=mode, num_clips=num_clips, short_side=short_side,
                         load_video=cfg.model.variant != "pose_only")


def build_model(
    cfg: Config,
    device: torch.device,
    *,
    checkpoint: str | Path | Mapping[str, torch.Tensor] | None = None,
    mode: str = "exact",
    source: str | None = None,
) -> nn.Module:
    """``cfg.model``'s recognizer on ``device`` (``channels_last_3d`` when ``train.channels_last``), with the
    tensors of ``checkpoint`` (a file or a state dict) loaded in ``mode`` (``exact`` or an ``init_mode``:
    see :func:`vpnet.engine.checkpoint.apply_state_dict`).

    Every mode takes the whole backbone from the checkpoint, so ``model.backbone_weights`` are not loaded
    when there is one: no download, and a run still loads after its pretraining file is gone.

    Raises:
        ConfigError: a ``model.*`` value the builder rejects (e.g. a ``backbone_weights`` file that does not
            exist); CheckpointError: a checkpoint that does not fit.
    """
    from vpnet.engine.checkpoint import apply_state_dict, load_state_dict
    from vpnet.models import build_recognizer

    model_cfg = cfg.model if checkpoint is None else dataclasses.replace(cfg.model, backbone_weights=None)
    try:
        model = build_recognizer(model_cfg)
    except DataError:  # an unreadable weights file: names the file
        raise
    except ValueError as e:  # a model.* value: clip_len vs the strides, a skeleton, a weights name or path
        raise ConfigError(str(e)) from None
    if checkpoint is not None:
        if isinstance(checkpoint, Mapping):
            state = checkpoint
        else:
            state, _ = load_state_dict(checkpoint)
            source = source or str(checkpoint)
        apply_state_dict(model, state, mode=mode, source=source or "checkpoint")
    model.to(device)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    return model


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask: a container's or a scheduler's share, not the
    machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def loader_workers(requested: int) -> int:
    """``data.num_workers`` capped at :func:`available_cpus` (more worker processes than CPUs only
    compete for them, and torch warns about it); the cap is logged once per process and value."""
    cpus = available_cpus()
    if requested <= cpus:
        return requested
    _say_capped(requested, cpus)
    return cpus


@functools.lru_cache(maxsize=None)
def _say_capped(requested: int, cpus: int) -> None:
    logging.getLogger(__name__).info("data.num_workers=%d capped at the %d CPUs available to this process",
                                     requested, cpus)


def make_loader(
    dataset: Dataset, *, batch_size: int, sampler: Sampler[int], num_workers: int, device: torch.device
) -> DataLoader:
    """A DataLoader with the data package's collate (drops and reports failed items).

    Workers are not persistent: each epoch's iterator forks them after ``dataset.set_epoch``, so they
    see the current epoch.
    """
    from vpnet.data import collate

    num_workers = loader_workers(num_workers)
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


def model_inputs(batch: Mapping[str, Any], *, device: torch.device, channels_last: bool = False) -> dict[str, Any]:
    """The keyword arguments of ``model(video=..., poses=..., features=...)`` for a batch of single clips:
    its tensors on ``device`` (None where absent), clips in ``channels_last_3d`` when asked."""
    return {"video": _to(batch.get("video"), device, channels_last), "poses": _to(batch.get("poses"), device, False),
            "features": _to(batch.get("features"), device, channels_last)}


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
    video, poses, features = batch.get("video"), batch.get("poses"), batch.get("features")
    visual = features if features is not None else video
    if visual is None and poses is None:
        raise ValueError("a batch needs video, features or poses")
    multi = visual.dim() == 6 if visual is not None else poses.dim() == 5
    ref = visual if visual is not None else poses
    b = ref.shape[0]
    k = ref.shape[1] if multi else 1
    flat = {key: x.flatten(0, 1) if multi else x
            for key, x in (("video", video), ("poses", poses), ("features", features)) if x is not None}
    outs = []
    for i in range(0, b * k, clip_batch):
        part = {key: x[i : i + clip_batch] for key, x in flat.items()}
        with autocast(device, amp):
            outs.append(fn(model_inputs(part, device=device, channels_last=channels_last)).float())
    out = torch.cat(outs)
    return out.view(b, k, *out.shape[1:])

"""What the engine builds from a config: the checked dataset of each split (raw, prepared or cached
features), the model with its checkpoint, and the loaders."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from vpnet.config import Config, DataConfig
from vpnet.engine.feature_store import FeatureDataset
from vpnet.errors import ConfigError, DataError

if TYPE_CHECKING:
    from vpnet.data import DatasetInfo

__all__ = ["check_dataset", "require_items", "loading_config", "build_split", "build_model", "make_loader",
           "available_cpus", "loader_workers"]


def check_dataset(cfg: Config, splits: list[str] | tuple[str, ...] = (), *, labels: bool = True) -> DatasetInfo:
    """Fail early on a config whose data cannot be used; returns the dataset's :class:`DatasetInfo`.

    Checks that the files the config needs exist (:func:`vpnet.data.check_paths` of :func:`loading_config`:
    the feature cache, the prepared store or the raw data, without videos for ``pose_only``), that each of
    ``splits`` is a split of the dataset and that ``model.num_classes`` is its class count (0: set to it
    here, in ``cfg``). ``labels=False``
    (evaluation) accepts a custom manifest without labels, whose items are only predicted.

    Raises:
        ConfigError: naming the key and the problem.
    """
    from vpnet.data import check_paths, dataset_info, get_dataset

    try:  # missing paths (DataError) or an unknown dataset: data.* values the user fixes in the config
        check_paths(loading_config(cfg), needs_video=cfg.model.variant != "pose_only")
    except ValueError as e:
        raise ConfigError(str(e)) from None
    info = dataset_info(cfg.data)
    reader = get_dataset(cfg.data.dataset)
    for split in splits:
        if split not in info.splits and not reader.has_split(cfg.data, split):
            raise ConfigError(f"split {split!r} is not a split of {info.name} ({', '.join(info.splits)})")
    if not reader.labelled(cfg.data):
        if labels:
            raise ConfigError("the manifest of data.manifest has no labels: it can be evaluated (predictions, no "
                              "accuracy) or predicted on, not trained on; add a 'label' column")
        return info
    if cfg.model.num_classes == 0:  # "from the data": filled in before any model is built or config saved
        cfg.model.num_classes = info.num_classes
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
    from vpnet.data import custom

    manifest = custom.CUSTOM.paths(loading_config(cfg))["manifest"]
    if manifest is None:
        return False
    try:
        return custom.read_manifest(manifest).inferred
    except ValueError:
        return False


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
    (poses alone for ``pose_only``: no video is decoded, the poses are drawn over the whole clip).

    Args:
        mode: ``train`` or ``test``.
        clips: (clips per video, short side) of test items (see :func:`vpnet.engine.forward.eval_clips`). A
            feature cache holds the clips it was extracted with: a different request is a ConfigError. None: the
            cache's clips, or one centre clip from video (validation during training).
    """
    if cfg.data.feature_dir:
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

    A mode that takes the backbone from the checkpoint (all but ``pose_backbone``) skips
    ``model.backbone_weights``: no download, and a run still loads after its pretraining file is gone.

    Raises:
        ConfigError: a ``model.*`` value the builder rejects (e.g. a ``backbone_weights`` file that does not
            exist); CheckpointError: a checkpoint that does not fit.
    """
    from vpnet.engine.checkpoint import INIT_PREFIXES, apply_state_dict, load_state_dict
    from vpnet.models import build_recognizer

    takes_backbone = checkpoint is not None and "backbone." in INIT_PREFIXES.get(mode, ("backbone.",))
    model_cfg = dataclasses.replace(cfg.model, backbone_weights=None) if takes_backbone else cfg.model
    try:
        model = build_recognizer(model_cfg, pose_stream=cfg.data.pose_stream)
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

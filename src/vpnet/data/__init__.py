"""The data side of vpnet: datasets as their owners ship them, turned into model-ready samples.

- Per dataset, a reader module (``ntu``, ``smarthome``, ``nucla``, ``custom``): pose files, sample
  names, protocols, class names, ``records()`` listing a split's items.
- :mod:`~vpnet.data.video` decodes videos, :mod:`~vpnet.data.clips` cuts samples (windows, main
  actor, poses, crop boxes), :mod:`~vpnet.data.prepared` is the store written by ``vpnet prepare``,
  :mod:`~vpnet.data.datasets` the torch Dataset.
- This module: the registry of datasets (:data:`DATASETS`), :func:`build_dataset`,
  :func:`dataset_info`, :func:`dataset_records` and :func:`collate`.

Adding a dataset: write its reader module (``LAYOUT``, ``read_poses``, ``class_names``,
``records``) and add one line to :data:`DATASETS`.

Importing this package is cheap: torch is loaded by the functions that need it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from vpnet.config import DataConfig
    from vpnet.data.datasets import VideoPoseDataset
    from vpnet.data.types import SampleRecord


@dataclass(frozen=True)
class DatasetEntry:
    """How vpnet uses one dataset: its reader module and the facts the engine needs."""

    #: the reader module (``LAYOUT``, ``read_poses``, ``class_names``, ``records``).
    module: str
    #: protocol names (the first is the usual one).
    protocols: tuple[str, ...]
    #: poses per clip in the paper (section 4.1).
    t_p: int
    #: the splits a protocol has.
    splits: tuple[str, ...] = ("train", "test")
    #: the metric the paper reports: ``top1`` or ``mean_class`` (mean per-class accuracy).
    primary_metric: str = "top1"
    #: extra keyword arguments of the module's ``records()``.
    records_kwargs: dict[str, Any] = field(default_factory=dict)
    #: the class names of a config (module, cfg) -> names; default ``module.class_names()``.
    class_names: Callable[[ModuleType, Any], list[str]] = lambda m, cfg: m.class_names()

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


def _custom_manifest(cfg: Any) -> str:
    from pathlib import Path

    if cfg.manifest:
        return cfg.manifest
    if cfg.split_dir:
        return str(Path(cfg.split_dir) / "manifest.csv")
    raise ValueError("the custom dataset needs data.manifest (a CSV/JSON manifest)")


DATASETS: dict[str, DatasetEntry] = {
    "ntu60": DatasetEntry("vpnet.data.ntu", ("cs", "cv"), t_p=20, records_kwargs={"version": 60},
                          class_names=lambda m, cfg: m.class_names(60)),
    "ntu120": DatasetEntry("vpnet.data.ntu", ("csub", "cset"), t_p=20, records_kwargs={"version": 120},
                           class_names=lambda m, cfg: m.class_names(120)),
    "smarthome": DatasetEntry("vpnet.data.smarthome", ("cs", "cv1", "cv2"), t_p=30,
                              splits=("train", "validation", "test"), primary_metric="mean_class",
                              class_names=lambda m, cfg: m.class_names(cfg.protocol)),
    "nucla": DatasetEntry("vpnet.data.nucla", ("v3", "v1", "v2"), t_p=5),
    # protocol = the manifest's split column; its values are the splits.
    "custom": DatasetEntry("vpnet.data.custom", ("split",), t_p=20,
                           class_names=lambda m, cfg: m.class_names(_custom_manifest(cfg))),
}


def get_entry(name: str) -> DatasetEntry:
    """The registry entry of dataset ``name``; ValueError listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r} (data.dataset); known: {', '.join(DATASETS)}") from None


@dataclass(frozen=True)
class DatasetInfo:
    """What the engine needs to know about the dataset of a config."""

    name: str
    num_classes: int
    class_names: list[str]
    #: joint layout of the poses (``ntu25``, ``lcrnet13``, ``ucla20``).
    layout: str
    #: poses per clip in the paper for this dataset.
    t_p: int
    #: ``mean_class`` (Smarthome) or ``top1``.
    primary_metric: str
    splits: tuple[str, ...]
    protocols: tuple[str, ...] = ()


def dataset_info(cfg: DataConfig) -> DatasetInfo:
    """:class:`DatasetInfo` of ``cfg.dataset`` under ``cfg.protocol`` (class names depend on it for
    Smarthome, on the manifest for custom data)."""
    entry = get_entry(cfg.dataset)
    module = entry.load()
    names = list(entry.class_names(module, cfg))
    splits = entry.splits
    if cfg.dataset == "custom":  # the splits are whatever the manifest's split column says
        rows = module.read_manifest(_custom_manifest(cfg)).rows
        splits = tuple(dict.fromkeys(str(r[cfg.protocol]).strip() for r in rows if r.get(cfg.protocol)))
    return DatasetInfo(name=cfg.dataset, num_classes=len(names), class_names=names, layout=module.LAYOUT,
                       t_p=entry.t_p, primary_metric=entry.primary_metric, splits=splits,
                       protocols=entry.protocols)


def dataset_records(cfg: DataConfig, split: str) -> list[SampleRecord]:
    """The records of ``split`` under ``cfg.protocol``.

    From the raw folders (``video_dir``, ``pose_dir``, ``split_dir``, ``manifest``) through the
    reader module; when only ``prepared_dir`` is set, from the records ``vpnet prepare`` saved.
    The result is a list whose ``skipped`` attribute lists the items left out and why.
    """
    from vpnet.data import prepared
    from vpnet.data._readers import Records

    entry = get_entry(cfg.dataset)
    # split_dir alone is raw data only without a store (Smarthome configs keep it next to one).
    raw = any(getattr(cfg, k) for k in ("video_dir", "pose_dir", "manifest"))
    raw = raw or bool(cfg.split_dir and not cfg.prepared_dir)
    if cfg.prepared_dir and not raw:
        return Records(prepared.read_records(cfg.prepared_dir, cfg.protocol, split))
    if not raw:
        raise ValueError(f"no data for {cfg.dataset}: set data.video_dir and data.pose_dir (raw data, "
                         "data.manifest for custom) or data.prepared_dir (a `vpnet prepare` store)")
    return entry.load().records(video_dir=cfg.video_dir, pose_dir=cfg.pose_dir, protocol=cfg.protocol,
                                split=split, split_dir=cfg.split_dir, manifest=cfg.manifest,
                                **entry.records_kwargs)


def _int(cfg: Any, key: str) -> int:
    value = getattr(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"data.{key} must be an integer, got {value!r} (an unresolved interpolation? "
                         "load configs with vpnet.engine.config.load_config, or set it)")
    return value


def build_dataset(cfg: DataConfig, split: str, *, mode: str, num_clips: int = 1, short_side: int | None = None,
                  load_video: bool | None = None) -> VideoPoseDataset:
    """The torch Dataset of ``split`` (see :mod:`vpnet.data.datasets` for the samples).

    Args:
        cfg: the data section of a resolved config.
        split: ``train``, ``test`` (``validation`` for Smarthome; any split value for custom).
        mode: ``train`` (one random window, crop jitter, frames ``crop_size``) or ``test``
            (``num_clips`` evenly spread windows, frames ``short_side`` or ``crop_size``).
        load_video: False gives poses only (pose-only models); default: whenever the config has
            videos (``video_dir``, a manifest or a prepared store).

    ``dataset.problems`` lists (name, reason) of every item left out at construction (missing
    files, items absent from the prepared store, ...), for the caller to print.
    """
    from vpnet.data.datasets import ClipSettings, VideoPoseDataset

    if mode not in ("train", "test"):
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    if mode == "train" and num_clips != 1:
        raise ValueError(f"training samples have one clip; num_clips={num_clips} is for mode='test'")
    entry = get_entry(cfg.dataset)
    records = dataset_records(cfg, split)
    settings = ClipSettings(
        mode=mode, clip_len=_int(cfg, "clip_len"),
        size=short_side if (mode == "test" and short_side) else _int(cfg, "crop_size"),
        t_p=_int(cfg, "t_p"), stride=_int(cfg, "frame_stride"), margin=float(cfg.crop_margin),
        jitter=float(cfg.crop_jitter) if mode == "train" else 0.0, num_clips=num_clips, seed=_int(cfg, "seed"),
    )
    if load_video is None:
        load_video = bool(cfg.prepared_dir or cfg.video_dir or cfg.manifest)
    ds = VideoPoseDataset(records, settings, read_poses=entry.load().read_poses, prepared_dir=cfg.prepared_dir,
                          load_video=load_video)
    ds.problems[:0] = [(s.name, s.reason) for s in getattr(records, "skipped", [])]
    return ds


_LAZY = {"collate": "vpnet.data.datasets", "VideoPoseDataset": "vpnet.data.datasets",
         "ClipSettings": "vpnet.data.datasets", "make_sample": "vpnet.data.datasets"}


def __getattr__(name: str):
    # torch-dependent names load on first use, so `import vpnet.data` stays cheap.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DATASETS", "DatasetEntry", "DatasetInfo", "build_dataset", "collate", "dataset_info",
           "dataset_records", "get_entry", *sorted(set(_LAZY) - {"collate"})]

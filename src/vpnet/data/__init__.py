"""The data side of vpnet: datasets as their owners ship them, turned into model-ready samples.

- Per dataset, a reader module (``ntu``, ``smarthome``, ``nucla``, ``custom``): pose files, sample
  names, protocols, class names, ``records()`` listing a split's items.
- :mod:`~vpnet.data.video` decodes videos, :mod:`~vpnet.data.clips` cuts samples (windows, main
  actor, poses, crop boxes), :mod:`~vpnet.data.prepared` is the store written by ``vpnet prepare``,
  :mod:`~vpnet.data.datasets` the torch Dataset.
- This module: the registry of datasets (:data:`DATASETS`), :func:`build_dataset`,
  :func:`dataset_info`, :func:`dataset_records`, :func:`check_paths` and :func:`collate`.

Adding a dataset: write its reader module (``LAYOUT``, ``read_poses``, ``class_names``,
``records``) and add one entry to :data:`DATASETS`.

Importing this package is cheap: torch is loaded by the functions that need it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

from vpnet.errors import ConfigError

if TYPE_CHECKING:
    from vpnet.config import DataConfig
    from vpnet.data.datasets import VideoPoseDataset
    from vpnet.data.types import SampleRecord


def _config_paths(*keys: str) -> Callable[[Any], dict[str, str | None]]:
    return lambda cfg: {k: getattr(cfg, k) for k in keys}


def _custom_paths(cfg: Any) -> dict[str, str | None]:
    """The manifest of custom data: ``data.manifest``, else ``data.split_dir/manifest.csv``."""
    from pathlib import Path

    if cfg.manifest or not cfg.split_dir:
        return {"manifest": cfg.manifest}
    return {"manifest": str(Path(cfg.split_dir) / "manifest.csv")}


_TRAIN_TEST = ("train", "test")


@dataclass(frozen=True)
class DatasetEntry:
    """How vpnet uses one dataset: its reader module and the facts the engine needs."""

    #: the reader module (``LAYOUT``, ``read_poses``, ``records``).
    module: str
    #: protocol names (the first is the usual one).
    protocols: tuple[str, ...]
    #: poses per clip in the paper (section 4.1).
    t_p: int
    #: (module, data config) -> (class names, split names) under the config's protocol.
    classes_and_splits: Callable[[ModuleType, Any], tuple[list[str], tuple[str, ...]]]
    #: data config -> the raw data's paths, keyed by their ``DataConfig`` field, which is also the
    #: keyword of the module's ``records()`` (None where unset).
    raw_paths: Callable[[Any], dict[str, str | None]] = _config_paths("video_dir", "pose_dir")
    #: keys of ``raw_paths`` that may be unset (``video_dir`` may be too, for pose-only use).
    optional: tuple[str, ...] = ()
    #: the metric the paper reports: ``top1`` or ``mean_class`` (mean per-class accuracy).
    primary_metric: str = "top1"
    #: extra keyword arguments of the module's ``records()``.
    records_kwargs: dict[str, Any] = field(default_factory=dict)

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


def _ntu(version: int, protocols: tuple[str, ...]) -> DatasetEntry:
    return DatasetEntry("vpnet.data.ntu", protocols, t_p=20,
                        classes_and_splits=lambda m, cfg: (m.class_names(version), _TRAIN_TEST),
                        raw_paths=_config_paths("video_dir", "pose_dir", "missing_list"), optional=("missing_list",),
                        records_kwargs={"version": version})


DATASETS: dict[str, DatasetEntry] = {
    "ntu60": _ntu(60, ("cs", "cv")),
    "ntu120": _ntu(120, ("csub", "cset")),
    "smarthome": DatasetEntry("vpnet.data.smarthome", ("cs", "cv1", "cv2"), t_p=30,
                              classes_and_splits=lambda m, cfg: (m.class_names(cfg.protocol),
                                                                 ("train", "validation", "test")),
                              raw_paths=_config_paths("video_dir", "pose_dir", "split_dir"),
                              primary_metric="mean_class"),
    "nucla": DatasetEntry("vpnet.data.nucla", ("v3", "v1", "v2"), t_p=5,
                          classes_and_splits=lambda m, cfg: (m.class_names(), _TRAIN_TEST)),
    # protocol = the manifest's split column; its values are the splits.
    "custom": DatasetEntry("vpnet.data.custom", ("split",), t_p=20, raw_paths=_custom_paths,
                           classes_and_splits=lambda m, cfg: m.classes_and_splits(_custom_paths(cfg)["manifest"],
                                                                                  cfg.protocol)),
}


def get_entry(name: str) -> DatasetEntry:
    """The registry entry of dataset ``name``; ValueError listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r} (data.dataset); known: {', '.join(DATASETS)}") from None


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
    names, splits = entry.classes_and_splits(module, cfg)
    return DatasetInfo(name=cfg.dataset, num_classes=len(names), class_names=names, layout=module.LAYOUT,
                       t_p=entry.t_p, primary_metric=entry.primary_metric, splits=splits,
                       protocols=entry.protocols)


def dataset_records(cfg: DataConfig, split: str) -> list[SampleRecord]:
    """The records of ``split`` under ``cfg.protocol``.

    From the raw data (the entry's :attr:`~DatasetEntry.raw_paths`: ``video_dir``, ``pose_dir``, and
    ``missing_list``, ``split_dir`` or ``manifest`` as the dataset has them) through the reader module; when only ``prepared_dir`` is set, from the records ``vpnet prepare`` saved.
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
        raise ConfigError(f"no data for {cfg.dataset}: set data.video_dir and data.pose_dir (raw data, "
                         "data.manifest for custom) or data.prepared_dir (a `vpnet prepare` store)")
    return entry.load().records(protocol=cfg.protocol, split=split, **entry.raw_paths(cfg), **entry.records_kwargs)


def check_paths(cfg: DataConfig, *, needs_video: bool = True) -> None:
    """Fail early, naming the config key and the path, when the data a config needs is absent.

    What is needed: ``feature_dir`` alone when set; else ``prepared_dir`` when set; else the raw data
    of the dataset (:attr:`DatasetEntry.raw_paths`: ``video_dir`` and ``pose_dir``, ``split_dir`` for
    Smarthome, the manifest for custom data; ``video_dir`` only when ``needs_video``). Optional paths
    (``missing_list``) must exist when set.

    Raises:
        DataError: listing every missing path as ``data.<key>: <path> does not exist`` or
            ``data.<key> is not set``; ValueError for an unknown dataset.
    """
    from pathlib import Path

    from vpnet.data.types import DataError

    entry = get_entry(cfg.dataset)
    if cfg.feature_dir:
        paths, optional = {"feature_dir": cfg.feature_dir}, ()
    elif cfg.prepared_dir:
        paths, optional = {"prepared_dir": cfg.prepared_dir}, ()
    else:
        paths, optional = entry.raw_paths(cfg), entry.optional + (() if needs_video else ("video_dir",))
    problems = []
    for key, value in paths.items():
        if not value:
            if key not in optional:
                problems.append(f"data.{key} is not set")
        elif not Path(value).exists():
            problems.append(f"data.{key}: {value} does not exist")
    if problems:
        raise DataError(None, f"{cfg.dataset} data not found:\n  " + "\n  ".join(problems) + "\n"
                        "Set the paths of your copy of the data on the command line (e.g. data.video_dir=... "
                        "data.pose_dir=...), or point data.prepared_dir at a folder written by `vpnet prepare` "
                        "(or data.feature_dir at one written by `vpnet extract-features`). Presets default to "
                        "folders under $VPNET_DATA (else ./data).")


def _int(cfg: Any, key: str) -> int:
    value = getattr(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"data.{key} must be an integer, got {value!r} (an unresolved interpolation? "
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


__all__ = ["DATASETS", "DatasetEntry", "DatasetInfo", "build_dataset", "check_paths", "collate", "dataset_info",
           "dataset_records", "get_entry", *sorted(set(_LAZY) - {"collate"})]

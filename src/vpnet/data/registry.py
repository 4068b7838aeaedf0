"""Datasets by name: the reader protocol every dataset implements, the registry, and what the engine
asks of a dataset (its facts, a split's records, its path checks, its torch Dataset).

Adding a dataset is one reader module plus presets: subclass :class:`DatasetReader`, fill in its facts
and its three methods, and register an instance (:func:`register_dataset`); ``data.dataset=<name>``
then works in configs, ``vpnet prepare``, training and evaluation. The built-in readers load on
first use, so ``import vpnet.data`` stays cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vpnet.errors import ConfigError, DataError

if TYPE_CHECKING:
    from vpnet.config import DataConfig
    from vpnet.data.datasets import VideoPoseDataset
    from vpnet.data.types import PoseSequence, SampleRecord

__all__ = ["DatasetReader", "DatasetInfo", "register_dataset", "get_dataset", "dataset_names", "dataset_info",
           "dataset_records", "check_paths", "build_dataset", "training_data"]


class DatasetReader:
    """What vpnet needs of one dataset. Subclass it in the dataset's module and register an instance.

    Facts (class attributes or instance fields): :attr:`name`, :attr:`protocols`, :attr:`layout`,
    :attr:`t_p`, :attr:`primary_metric`, :attr:`path_keys`. Methods: :meth:`class_names`,
    :meth:`records`, :meth:`read_poses`; :meth:`splits` defaults to ``("train", "test")``.
    """

    #: the ``data.dataset`` value.
    name: str = ""
    #: protocol names, the usual one first; empty: any ``data.protocol`` (custom data's split column).
    protocols: tuple[str, ...] = ()
    #: joint layout of its poses (:mod:`vpnet.skeletons`): ``ntu25``, ``lcrnet13``, ``ucla20``...
    layout: str = ""
    #: poses per clip in the paper (section 4.1).
    t_p: int = 20
    #: the metric the paper reports: ``top1`` or ``mean_class`` (mean per-class accuracy).
    primary_metric: str = "top1"
    #: the ``DataConfig`` fields holding the raw data's paths; :meth:`paths` passes them to :meth:`records`.
    path_keys: tuple[str, ...] = ("video_dir", "pose_dir")
    #: keys of :attr:`path_keys` that may be unset (``video_dir`` may always be, for pose-only use).
    optional_paths: tuple[str, ...] = ()
    #: True for generated data (vpnet-ADL): models trained on it warn in every prediction.
    generated: bool = False
    #: True when ``vpnet prepare`` extracts the poses its items have no file for (MediaPipe, into the store).
    extracts_poses: bool = False
    #: the data in a few words, for ``trained_on`` (default: the name).
    description: str = ""

    def paths(self, cfg: DataConfig) -> dict[str, str | None]:
        """The raw data's paths of ``cfg``, keyed by their ``DataConfig`` field (None where unset)."""
        return {k: getattr(cfg, k) for k in self.path_keys}

    def class_names(self, cfg: DataConfig) -> list[str]:
        """The class names under ``cfg.protocol``, in label order."""
        raise NotImplementedError

    def splits(self, cfg: DataConfig) -> tuple[str, ...]:
        """The split names under ``cfg.protocol``."""
        return ("train", "test")

    def has_split(self, cfg: DataConfig, split: str) -> bool:
        """Whether ``split`` can be read (evaluated, predicted on): one of :meth:`splits` by default."""
        return split in self.splits(cfg)

    def labelled(self, cfg: DataConfig) -> bool:
        """Whether the items carry labels (trainable, accuracy measurable); unlabelled data is only predicted."""
        return True

    def classes_and_splits(self, cfg: DataConfig) -> tuple[list[str], tuple[str, ...]]:
        """:meth:`class_names` and :meth:`splits` together (override when both read one file)."""
        return self.class_names(cfg), self.splits(cfg)

    def records(self, cfg: DataConfig, split: str) -> list[SampleRecord]:
        """The items of ``split`` under ``cfg.protocol`` from the raw data (``.skipped``: what was left out)."""
        raise NotImplementedError

    def read_poses(self, path: str | Path) -> PoseSequence:
        """One pose file -> a :class:`~vpnet.data.types.PoseSequence` in :attr:`layout`."""
        raise NotImplementedError


#: the built-in datasets: name -> ``"module:attribute"`` of their reader (imported on first use).
_BUILTIN = {
    "ntu60": "vpnet.data.ntu:NTU60", "ntu120": "vpnet.data.ntu:NTU120",
    "smarthome": "vpnet.data.smarthome:SMARTHOME", "nucla": "vpnet.data.nucla:NUCLA",
    "custom": "vpnet.data.custom:CUSTOM", "adl": "vpnet.data.adl:ADL", "folders": "vpnet.data.folders:FOLDERS",
}
_REGISTERED: dict[str, DatasetReader] = {}


def register_dataset(reader: DatasetReader) -> DatasetReader:
    """Make ``reader`` the dataset ``reader.name`` (``data.dataset=<name>``); returns it."""
    if not reader.name:
        raise ConfigError(f"{type(reader).__name__} has no name")
    known = _REGISTERED.get(reader.name)
    if reader.name in _BUILTIN or (known is not None and known is not reader):
        raise ConfigError(f"dataset {reader.name!r} is registered already")
    _REGISTERED[reader.name] = reader
    return reader


def dataset_names() -> list[str]:
    """Every dataset name ``data.dataset`` accepts."""
    return [*_BUILTIN, *_REGISTERED]


def get_dataset(name: str) -> DatasetReader:
    """The reader of dataset ``name``; ConfigError listing the known ones."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in _BUILTIN:
        raise ConfigError(f"unknown dataset {name!r} (data.dataset); known: {', '.join(dataset_names())}")
    module, _, attr = _BUILTIN[name].partition(":")
    return getattr(importlib.import_module(module), attr)


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
    Smarthome, on the manifest or the folders for own data). With a prepared store and none of the
    raw paths, the class names and splits the store recorded (``vpnet prepare`` writes them), so that
    own data trains from the store alone."""
    reader = get_dataset(cfg.dataset)
    stored = None
    if cfg.prepared_dir and not any(reader.paths(cfg).values()):
        import vpnet.data.prepared as prepared

        stored = prepared.read_classes(cfg.prepared_dir, cfg.protocol)
    names, splits = stored or reader.classes_and_splits(cfg)
    return DatasetInfo(name=cfg.dataset, num_classes=len(names), class_names=names, layout=reader.layout,
                       t_p=reader.t_p, primary_metric=reader.primary_metric, splits=splits,
                       protocols=tuple(reader.protocols))


def training_data(cfg: DataConfig) -> tuple[str, bool]:
    """(what a model trained with ``cfg`` was trained on, in words; whether that data was generated).

    Recorded in exported models and every prediction (``trained_on``): the dataset, its protocol and,
    for own data, where it lies (the manifest, the video folder or the prepared store)."""
    try:
        reader = get_dataset(cfg.dataset)
    except ConfigError:  # a reader registered in another process
        return f"{cfg.dataset} (protocol {cfg.protocol})", False
    where = next((str(getattr(cfg, k)) for k in ("manifest", "video_dir", "prepared_dir", "feature_dir")
                  if getattr(cfg, k, None)), "")
    text = f"{reader.description or cfg.dataset} (data.dataset={cfg.dataset}, protocol {cfg.protocol}"
    return text + (f", {where})" if where and not reader.generated else ")"), reader.generated


def dataset_records(cfg: DataConfig, split: str) -> list[SampleRecord]:
    """The records of ``split`` under ``cfg.protocol``.

    From the raw data (the reader's :meth:`~DatasetReader.paths`) through the reader; when only
    ``prepared_dir`` is set, from the records ``vpnet prepare`` saved. The result is a list whose
    ``skipped`` attribute lists the items left out and why.
    """
    import vpnet.data.prepared as prepared
    from vpnet.data._readers import Records

    reader = get_dataset(cfg.dataset)
    # split_dir alone is raw data only without a store (Smarthome configs keep it next to one).
    raw = any(getattr(cfg, k) for k in ("video_dir", "pose_dir", "manifest"))
    raw = raw or bool(cfg.split_dir and not cfg.prepared_dir)
    if cfg.prepared_dir and not raw:
        return Records(prepared.read_records(cfg.prepared_dir, cfg.protocol, split))
    if not raw:
        raise ConfigError(f"no data for {cfg.dataset}: set data.video_dir and data.pose_dir (raw data, "
                          "data.manifest for custom) or data.prepared_dir (a `vpnet prepare` store)")
    return reader.records(cfg, split)


def check_paths(cfg: DataConfig, *, needs_video: bool = True) -> None:
    """Fail early, naming the config key and the path, when the data a config needs is absent.

    What is needed: ``feature_dir`` alone when set; else ``prepared_dir`` when set; else the raw data
    of the dataset (the reader's :meth:`~DatasetReader.paths`; ``video_dir`` only when ``needs_video``).
    Optional paths (``missing_list``) must exist when set.

    Raises:
        DataError: listing every missing path as ``data.<key>: <path> does not exist`` or
            ``data.<key> is not set``; ConfigError for an unknown dataset.
    """
    reader = get_dataset(cfg.dataset)
    if cfg.feature_dir:
        paths, optional = {"feature_dir": cfg.feature_dir}, ()
    elif cfg.prepared_dir:
        paths, optional = {"prepared_dir": cfg.prepared_dir}, ()
    else:
        paths = reader.paths(cfg)
        optional = tuple(reader.optional_paths) + (() if needs_video else ("video_dir",))
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
                          "load configs with vpnet.engine.config_loader.load_config, or set it)")
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
    from vpnet.data.clips import PoseAugment
    from vpnet.data.datasets import VideoPoseDataset
    from vpnet.data.pipeline import ClipSettings, resolve_pose_span

    if mode not in ("train", "test"):
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    if mode == "train" and num_clips != 1:
        raise ValueError(f"training samples have one clip; num_clips={num_clips} is for mode='test'")
    reader = get_dataset(cfg.dataset)
    records = dataset_records(cfg, split)
    if load_video is None:
        load_video = bool(cfg.prepared_dir or cfg.video_dir or cfg.manifest)
    # Poses without videos have no RGB window: by default they are drawn over the whole clip.
    pose_span = resolve_pose_span(cfg.pose_span, uses_video=load_video)
    settings = ClipSettings(
        mode=mode, clip_len=_int(cfg, "clip_len"),
        size=short_side if (mode == "test" and short_side) else _int(cfg, "crop_size"),
        t_p=_int(cfg, "t_p"), stride=_int(cfg, "frame_stride"), margin=float(cfg.crop_margin),
        jitter=float(cfg.crop_jitter) if mode == "train" else 0.0, num_clips=num_clips, seed=_int(cfg, "seed"),
        sampling=cfg.sampling, pose_span=pose_span, pose_norm=cfg.pose_norm,
        pose_augment=PoseAugment(rotate=float(cfg.pose_rotate), scale=float(cfg.pose_scale),
                                 jitter=float(cfg.pose_jitter), crop=float(cfg.pose_crop)),
    )
    ds = VideoPoseDataset(records, settings, read_poses=reader.read_poses, prepared_dir=cfg.prepared_dir,
                          load_video=load_video)
    ds.problems[:0] = [(s.name, s.reason) for s in getattr(records, "skipped", [])]
    return ds

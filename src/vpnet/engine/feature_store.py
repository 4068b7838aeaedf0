"""The feature cache on disk: its format and the dataset that reads it (written by :mod:`vpnet.engine.features`).

``vpnet extract-features`` writes, per split, the backbone's feature maps f (``Mixed_5c`` for I3D:
(C, t_c, m, n) = (1024, 8, 7, 7) at 64x224x224) in half precision, with the poses sampled for the
same clips. :class:`FeatureDataset` reads them back as sample dicts with a ``features`` key, and the
engine calls the same ``model(None, poses, features=f)`` as in end-to-end training (the recognizer
skips its backbone when given ``features``), so the head, the ablations and evaluation share one
code path with end-to-end training.

Layout (numpy ``.npy`` files, memory-mapped for random access without loading the split)::

    <feature_dir>/<split>/
        meta.json      mode, views, shapes, dtype, backbone and data settings, complete flag
        features.npy   (N, V, C, t_c, m, n) uint16: the bits of float16 or bfloat16 values
        poses.npy      (N, V, 3, t_p, J) float32
        windows.npy    (N, V, T) int32: each clip's frames;  boxes.npy (N, V, 4) float32: its crop box
                       (x0, y0, x1, y1) in the video's pixels (where in the video the map comes from)
        a_s.npy        optional (N, V, m, n) float32: a given spatial attention per clip (e.g. the ground
                       truth of an oracle probe, ``model.attention_source=given``), read as the ``a_s`` key
        labels.npy     (N,) int64;  names.json: N names (both written once, from the split's records)
        done.npy       (N,) bool: items whose V clips are all written (extraction resumes from it)
        failed.json    items that could not be loaded, with the reason (not done: the next run retries them)

A training split (``train``) stores V = ``views`` random training clips per video (view v is the
dataset's sample at epoch v; epoch e of training reads view e mod V, so augmentation survives
caching); other splits store the test clips (V = ``eval.num_clips`` in ``multi`` mode at
``eval.short_side``, else 1 centre clip), and :class:`FeatureDataset` returns all of them for
max-over-clips inference. Evaluating a cache with other ``eval`` settings than it was extracted with
is an error naming both (its clips cannot be re-cut); validation during training uses what the cache
holds. bfloat16 keeps float32's range (no overflow on large activations); float16 keeps more
mantissa. Both are 0.8 MB per 1024x8x7x7 clip.

Extraction runs in one process on ``train.device`` (not sharded: under ``torchrun`` it refuses to start).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vpnet.data.types import DataError
from vpnet.engine.config_loader import ConfigError
from vpnet.engine.forward import describe_clips

log = logging.getLogger(__name__)

__all__ = ["DTYPES", "to_bits", "from_bits", "FeatureDataset", "cache_backbone"]


DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}
_ALIASES = {"fp16": "float16", "half": "float16", "bf16": "bfloat16"}


def _dtype_name(dtype: str) -> str:
    name = _ALIASES.get(dtype, dtype)
    if name not in DTYPES:
        raise ConfigError(f"feature dtype must be one of {', '.join([*DTYPES, *_ALIASES])}; got {dtype!r}")
    return name


def to_bits(x: torch.Tensor, dtype: str) -> np.ndarray:
    """float tensor -> uint16 array holding its float16/bfloat16 bits."""
    return x.to(DTYPES[dtype]).contiguous().view(torch.int16).numpy().view(np.uint16)


def from_bits(a: np.ndarray, dtype: str) -> torch.Tensor:
    """uint16 array of float16/bfloat16 bits -> a float16/bfloat16 tensor (a copy: memmaps are read-only)."""
    return torch.from_numpy(np.array(a).view(np.int16)).view(DTYPES[dtype])


class FeatureDataset(Dataset):
    """Sample dicts (``features``, ``poses``, ``label``, ``name``, ``meta``) from a feature cache split.

    Items that failed extraction are not in the dataset (they are listed in ``failed.json`` and
    reported when the split is opened).

    Args:
        mode: ``train`` (one cached training clip per item, view ``epoch mod V``) or ``test`` (every
            cached test clip of an item).
        clips: for ``test``: the (clips per video, short side) the caller wants
            (:func:`vpnet.engine.forward.eval_clips`); a cache holding others raises ConfigError. None
            accepts the cache's (see :attr:`clips`).
    """

    def __init__(self, root: str | Path, split: str, *, mode: str = "train",
                 clips: tuple[int, int | None] | None = None):
        self.dir = Path(root) / split
        meta_path = self.dir / "meta.json"
        if not meta_path.is_file():
            raise DataError(self.dir,
                            f"no feature cache for split {split!r} here (run `vpnet extract-features` for it)")
        try:
            self._load_index(split, mode, clips)
        except (OSError, ValueError, TypeError, KeyError, EOFError) as e:
            if isinstance(e, (DataError, ConfigError)):
                raise
            raise DataError(self.dir, f"the feature cache is damaged ({type(e).__name__}: {e}); run "
                                      "`vpnet extract-features` again: it extracts damaged splits again") from None
        self.epoch = 0
        self._features: np.ndarray | None = None
        self._poses: np.ndarray | None = None
        self._a_s: np.ndarray | None = None

    def _load_index(self, split: str, mode: str, clips: tuple[int, int | None] | None) -> None:
        """Read and check meta.json, done.npy, labels.npy, names.json and the arrays' headers (any of them
        damaged: an error of the caller's)."""
        meta_path = self.dir / "meta.json"
        self.meta = json.loads(meta_path.read_text())
        if not isinstance(self.meta, dict):
            raise ValueError("meta.json is not a JSON object")
        if not self.meta.get("complete"):
            raise DataError(self.dir, "feature extraction of this split did not finish; "
                                      "run `vpnet extract-features` again to complete it")
        if mode != self.meta["mode"]:
            held = "test clips" if self.meta["mode"] == "test" else "random training clips"
            use = "training" if mode == "train" else "evaluation"
            raise DataError(self.dir, f"split {split!r} holds {held}; {use} needs a split extracted in {mode} mode")
        self.views = int(self.meta["views"])
        #: (clips per video, short side) of a test split, as extracted.
        self.clips: tuple[int, int | None] = (self.views, self.meta["extra"].get("short_side"))
        if mode == "test" and clips is not None and tuple(clips) != self.clips:
            raise ConfigError(
                f"data.feature_dir: {self.dir} holds {describe_clips(*self.clips)} per video, but the eval settings "
                f"ask for {describe_clips(*clips)} (eval.mode, eval.num_clips, eval.short_side): set them to the "
                f"cache's, or extract the features again with them into another folder"
            )
        self.dtype = self.meta["dtype"]
        done = np.load(self.dir / "done.npy")
        self.index = np.flatnonzero(done)
        if len(self.index) < len(done):
            log.warning("%s: %d of %d items failed extraction and are left out (see failed.json)",
                        self.dir, len(done) - len(self.index), len(done))
        self.labels = np.load(self.dir / "labels.npy")
        self.names = json.loads((self.dir / "names.json").read_text())
        n = len(done)
        if done.dtype != np.bool_ or done.ndim != 1 or self.labels.shape != (n,) or len(self.names) != n:
            raise ValueError(f"done.npy {done.shape} {done.dtype}, labels.npy {self.labels.shape} and "
                             f"{len(self.names)} names disagree")
        for name, tail in (("features.npy", self.meta["feature_shape"]), ("poses.npy", self.meta["pose_shape"])):
            shape = np.load(self.dir / name, mmap_mode="r").shape  # header and file size, nothing read
            if shape != (n, self.views, *tail):
                raise ValueError(f"{name} holds {shape}, expected {(n, self.views, *tail)}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.index)

    def _open(self) -> None:
        # opened lazily, so each DataLoader worker maps the files itself
        self._features = np.load(self.dir / "features.npy", mmap_mode="r")
        self._poses = np.load(self.dir / "poses.npy", mmap_mode="r")
        given = self.dir / "a_s.npy"
        if given.is_file():
            self._a_s = np.load(given, mmap_mode="r", allow_pickle=False)
            if self._a_s.shape[:2] != self._features.shape[:2]:
                raise DataError(given, f"holds {self._a_s.shape[:2]} (items, clips), the features "
                                       f"{self._features.shape[:2]}")

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        """Several items with one read per array (the DataLoader calls this for a whole batch).

        ``features`` stay in the stored half precision (half the bytes to move between processes);
        the engine casts them to float32 on the device.
        """
        if self._features is None:
            self._open()
        assert self._features is not None and self._poses is not None
        items = self.index[np.asarray(indices, dtype=np.int64)]
        order = np.argsort(items, kind="stable")  # memmap fancy indexing reads in file order
        rows = items[order]
        if self.meta["mode"] == "train":
            view = self.epoch % self.views  # one training clip per epoch, cycling through the views
            pick: Any = (rows, view)
        else:
            view = None
            pick = rows  # (K, ...): every test clip
        f, p = self._features[pick], self._poses[pick]
        a_s = None if self._a_s is None else torch.from_numpy(np.array(self._a_s[pick], dtype=np.float32))
        feats = from_bits(f, self.dtype)
        poses = torch.from_numpy(np.array(p, dtype=np.float32))
        out: list[dict[str, Any]] = [{}] * len(rows)
        for j, (pos, item) in enumerate(zip(order, rows)):
            out[pos] = {
                "features": feats[j],
                "poses": poses[j],
                "label": int(self.labels[item]),
                "name": self.names[item],
                "meta": {"index": int(item), "view": view},
            }
            if a_s is not None:
                out[pos]["a_s"] = a_s[j]
        return out


def cache_backbone(root: str | Path) -> dict[str, Any]:
    """Where the cached maps' backbone came from: ``backbone``, ``backbone_weights``, ``checkpoint``
    (from the first split's meta.json; {} when there is none)."""
    for meta_path in sorted(Path(root).glob("*/meta.json")):
        try:
            extra = json.loads(meta_path.read_text()).get("extra", {})
            return {k: extra.get(k) for k in ("backbone", "backbone_weights", "checkpoint")}
        except (OSError, ValueError, AttributeError):  # a damaged split: the dataset reports it, naming it
            continue
    return {}

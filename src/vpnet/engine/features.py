"""Feature cache: run the frozen visual backbone once, then train and evaluate the VPN head on its maps.

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
        labels.npy     (N,) int64;  names.json: N names
        done.npy       (N,) bool: items written (extraction resumes from it)
        failed.json    items that could not be loaded, with the reason

A training split (``train``) stores V = ``views`` random training clips per video (view v is the
dataset's sample at epoch v; epoch e of training reads view e mod V, so augmentation survives
caching); other splits store the test clips (V = ``eval.num_clips`` in ``multi`` mode at
``eval.short_side``, else 1 centre clip), and :class:`FeatureDataset` returns all of them for
max-over-clips inference. bfloat16 keeps float32's range (no overflow on large activations);
float16 keeps more mantissa. Both are 0.8 MB per 1024x8x7x7 clip.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vpnet.config import Config
from vpnet.data.types import DataError
from vpnet.engine.config import ConfigError

log = logging.getLogger(__name__)

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
    """

    def __init__(self, root: str | Path, split: str, *, mode: str = "train"):
        self.dir = Path(root) / split
        meta_path = self.dir / "meta.json"
        if not meta_path.is_file():
            raise DataError(self.dir, f"no feature cache for split {split!r} here (run `vpnet extract-features` for it)")
        self.meta = json.loads(meta_path.read_text())
        if not self.meta.get("complete"):
            raise DataError(self.dir, "feature extraction of this split did not finish; run `vpnet extract-features` again to complete it")
        if mode == "train" and self.meta["mode"] != "train":
            raise DataError(self.dir, f"split {split!r} holds test clips; training needs a split extracted in train mode")
        self.mode = mode
        self.dtype = self.meta["dtype"]
        done = np.load(self.dir / "done.npy")
        self.index = np.flatnonzero(done)
        if len(self.index) < len(done):
            log.warning("%s: %d of %d items failed extraction and are left out (see failed.json)",
                        self.dir, len(done) - len(self.index), len(done))
        self.labels = np.load(self.dir / "labels.npy")
        self.names = json.loads((self.dir / "names.json").read_text())
        self.views = int(self.meta["views"])
        self.epoch = 0
        self._features: np.ndarray | None = None
        self._poses: np.ndarray | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.index)

    def _open(self) -> None:
        # opened lazily, so each DataLoader worker maps the files itself
        self._features = np.load(self.dir / "features.npy", mmap_mode="r")
        self._poses = np.load(self.dir / "poses.npy", mmap_mode="r")

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
            f, p = self._features[rows, view], self._poses[rows, view]
        else:
            view = None
            f, p = self._features[rows], self._poses[rows]  # (K, ...): every test clip
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
        return out


def cache_backbone(root: str | Path) -> dict[str, Any]:
    """Where the cached maps' backbone came from: ``backbone``, ``backbone_weights``, ``checkpoint``
    (from the first split's meta.json; {} when there is none)."""
    for meta_path in sorted(Path(root).glob("*/meta.json")):
        extra = json.loads(meta_path.read_text()).get("extra", {})
        return {k: extra.get(k) for k in ("backbone", "backbone_weights", "checkpoint")}
    return {}


def extract_features(
    cfg: Config,
    out_dir: str | Path,
    *,
    splits: list[str] | None = None,
    views: int = 1,
    dtype: str = "float16",
    checkpoint: str | Path | None = None,
    batch_size: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Write the feature cache of ``splits`` (default: every split of the dataset) to ``out_dir``.

    The backbone is ``cfg.model``'s (with ``model.backbone_weights``), or the backbone of
    ``checkpoint`` (e.g. an ``l1`` run fine-tuned on the target data). Resumable: items already written
    are skipped. Returns each split's meta.

    Args:
        views: training clips stored per video for the ``train`` split (epoch e reads view e mod V).
        dtype: ``float16`` or ``bfloat16`` on disk.
    """
    from tqdm import tqdm

    from vpnet.data import build_dataset, collate, dataset_info
    from vpnet.engine.checkpoint import load_model_weights
    from vpnet.engine.inputs import autocast, check_data_paths, loading_config
    from vpnet.models import build_recognizer

    dtype = _dtype_name(dtype)
    if views < 1:
        raise ConfigError(f"views must be >= 1, got {views}")
    if cfg.data.feature_dir:
        raise ConfigError("data.feature_dir is set: extraction reads videos (set data.feature_dir=null; "
                          "data.prepared_dir or the raw data paths say where they are)")
    check_data_paths(cfg.data)
    info = dataset_info(cfg.data)
    splits = list(splits or info.splits)
    for s in splits:
        if s not in info.splits:
            raise ConfigError(f"split {s!r} is not a split of {info.name} ({', '.join(info.splits)})")
    device = torch.device("cuda" if cfg.train.device != "cpu" and torch.cuda.is_available() else "cpu")
    model = build_recognizer(cfg.model)
    if checkpoint:
        load_model_weights(model, checkpoint, mode="backbone")
    model.eval().to(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bs = batch_size or cfg.data.batch_size
    multi = cfg.eval.mode == "multi"
    data = loading_config(cfg.data)
    results = {}
    for split in splits:
        train_mode = split == "train"
        if train_mode:
            ds = build_dataset(data, split, mode="train")
            nviews, clips = views, 1
        else:
            nclips = cfg.eval.num_clips if multi else 1
            ds = build_dataset(data, split, mode="test", num_clips=nclips,
                               short_side=cfg.eval.short_side if multi else None)
            nviews, clips = 1, nclips
        writer = _SplitWriter(out / split, num_items=len(ds), views=nviews if train_mode else clips,
                              mode="train" if train_mode else "test", dtype=dtype,
                              extra={"backbone": cfg.model.backbone, "backbone_weights": cfg.model.backbone_weights,
                                     "checkpoint": str(checkpoint) if checkpoint else None,
                                     "clip_len": cfg.data.clip_len, "crop_size": cfg.data.crop_size, "t_p": cfg.data.t_p,
                                     "dataset": cfg.data.dataset, "protocol": cfg.data.protocol, "split": split,
                                     "short_side": cfg.eval.short_side if (multi and not train_mode) else None})
        todo = writer.todo()
        bar = tqdm(total=len(todo) * nviews, desc=f"features {split}", unit="clip" if train_mode else "video",
                   disable=None, dynamic_ncols=True)
        for view in range(nviews):
            if hasattr(ds, "set_epoch"):
                ds.set_epoch(view)
            loader = torch.utils.data.DataLoader(
                _Indexed(ds, todo), batch_size=bs, num_workers=cfg.data.num_workers,
                collate_fn=_indexed_collate(collate), shuffle=False,
            )
            for batch, indices, failed in loader:
                for idx, reason in failed:
                    writer.fail(idx, reason)
                if batch is None:
                    bar.update(len(failed))
                    continue
                video = batch["video"]
                multi_clip = video.dim() == 6
                flat = video.flatten(0, 1) if multi_clip else video
                with torch.no_grad(), autocast(device, cfg.eval.amp):
                    f = torch.cat([model.forward_features(flat[i : i + cfg.eval.clip_batch].to(device))
                                   for i in range(0, len(flat), cfg.eval.clip_batch)]).float().cpu()
                f = f.view(len(indices), -1, *f.shape[1:])  # (B, K or 1, C, t_c, m, n)
                poses = batch["poses"]
                poses = poses if multi_clip else poses.unsqueeze(1)
                for j, idx in enumerate(indices):
                    writer.put(idx, view if train_mode else None, f[j], poses[j], int(batch["label"][j]), str(batch["name"][j]))
                bar.update(len(indices) + len(failed))
            writer.flush()
        bar.close()
        results[split] = writer.finish()
        log.info("%s: %d items cached in %s (%d failed)", split, results[split]["written"], out / split,
                 results[split]["failed"])
    return results


class _Indexed(Dataset):
    """(index, sample or None) for the given indices of a dataset (None: the item failed; the
    dataset logged why)."""

    def __init__(self, dataset: Dataset, indices: np.ndarray):
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[int, Any]:
        idx = int(self.indices[i])
        return idx, self.dataset[idx]


def _indexed_collate(collate):
    """Wrap the data package's collate: (batch or None, indices in the batch, [(index, reason)] failed)."""

    def fn(items: list[tuple[int, Any]]):
        ok = [(i, s) for i, s in items if s is not None]
        failed = [(i, "could not be loaded (see the warning logged for it)") for i, s in items if s is None]
        batch = collate([s for _, s in ok]) if ok else None
        return batch, [i for i, _ in ok], failed

    return fn


class _SplitWriter:
    def __init__(self, folder: Path, *, num_items: int, views: int, mode: str, dtype: str, extra: dict[str, Any]):
        self.dir = folder
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n, self.views, self.mode, self.dtype, self.extra = num_items, views, mode, dtype, extra
        meta_path = folder / "meta.json"
        self.meta = json.loads(meta_path.read_text()) if meta_path.is_file() else None
        if self.meta is not None:
            same = {k: self.meta.get(k) for k in ("num_items", "views", "mode", "dtype")} == {
                "num_items": num_items, "views": views, "mode": mode, "dtype": dtype}
            if not same or self.meta.get("extra") != extra:
                raise DataError(folder, "holds a feature cache made with other settings; use another output folder")
            self.done = np.load(folder / "done.npy")
        else:
            self.done = np.zeros(num_items, dtype=bool)
        self.failed: dict[int, str] = {}
        failed_path = folder / "failed.json"
        if failed_path.is_file():
            self.failed = {int(k): v for k, v in json.loads(failed_path.read_text()).items()}
        self.names = json.loads((folder / "names.json").read_text()) if (folder / "names.json").is_file() else [""] * num_items
        self.labels = np.load(folder / "labels.npy") if (folder / "labels.npy").is_file() else np.full(num_items, -1, np.int64)
        self._f: np.ndarray | None = None
        self._p: np.ndarray | None = None
        self._pending = 0

    def todo(self) -> np.ndarray:
        return np.flatnonzero(~self.done)

    def _arrays(self, f: torch.Tensor, p: torch.Tensor) -> None:
        if self._f is not None:
            return
        fshape = (self.n, self.views, *f.shape[1:])
        pshape = (self.n, self.views, *p.shape[1:])
        if self.meta is None:
            self._f = np.lib.format.open_memmap(self.dir / "features.npy", mode="w+", dtype=np.uint16, shape=fshape)
            self._p = np.lib.format.open_memmap(self.dir / "poses.npy", mode="w+", dtype=np.float32, shape=pshape)
            self.meta = {"num_items": self.n, "views": self.views, "mode": self.mode, "dtype": self.dtype,
                         "feature_shape": list(f.shape[1:]), "pose_shape": list(p.shape[1:]),
                         "extra": self.extra, "complete": False}
            self._save_meta()
        else:
            self._f = np.load(self.dir / "features.npy", mmap_mode="r+")
            self._p = np.load(self.dir / "poses.npy", mmap_mode="r+")

    def put(self, idx: int, view: int | None, f: torch.Tensor, p: torch.Tensor, label: int, name: str) -> None:
        """f (K, C, t_c, m, n), p (K, 3, t_p, J); ``view`` picks the slot of a training clip."""
        self._arrays(f, p)
        assert self._f is not None and self._p is not None
        if view is None:
            self._f[idx], self._p[idx] = to_bits(f, self.dtype), p.numpy()
        else:
            self._f[idx, view], self._p[idx, view] = to_bits(f[0], self.dtype), p[0].numpy()
        self.labels[idx], self.names[idx] = label, name
        if view is None or view == self.views - 1:
            self.done[idx] = True
        self.failed.pop(idx, None)
        self._pending += 1
        if self._pending >= 64:
            self.flush()

    def fail(self, idx: int, reason: str) -> None:
        self.failed[idx] = reason
        log.warning("feature extraction: item %d failed: %s", idx, reason)

    def flush(self) -> None:
        """Data first, then the index that says it is there (a crash leaves items to redo, never garbage)."""
        from vpnet.engine.checkpoint import atomic_write_bytes

        if self._f is not None:
            self._f.flush()
            self._p.flush()
        for name, arr in (("labels.npy", self.labels), ("done.npy", self.done)):
            tmp = self.dir / f".{name}.tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
            os.replace(tmp, self.dir / name)
        atomic_write_bytes(self.dir / "names.json", json.dumps(self.names).encode())
        atomic_write_bytes(self.dir / "failed.json", json.dumps({str(k): v for k, v in sorted(self.failed.items())}, indent=1).encode())
        self._pending = 0

    def _save_meta(self) -> None:
        from vpnet.engine.checkpoint import atomic_write_bytes

        atomic_write_bytes(self.dir / "meta.json", json.dumps(self.meta, indent=2).encode())

    def finish(self) -> dict[str, Any]:
        self.flush()
        if self.meta is None:
            raise DataError(self.dir, "no item of this split could be loaded (see failed.json)")
        self.meta["complete"] = True
        self.meta["written"] = int(self.done.sum())
        self.meta["failed"] = len(self.failed)
        self._save_meta()
        return self.meta

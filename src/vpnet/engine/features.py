"""Feature cache writer: run the frozen visual backbone once, then train and evaluate the VPN head on its maps.

``vpnet extract-features`` writes, per split, the backbone's feature maps f (``Mixed_5c`` for I3D:
(C, t_c, m, n) = (1024, 8, 7, 7) at 64x224x224) in half precision, with the poses sampled for the
same clips; :mod:`vpnet.engine.feature_store` holds the format and the dataset that reads it back.
Extraction runs in one process on ``train.device`` (not sharded: under ``torchrun`` it refuses to start).
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vpnet._io import RunLock, atomic_write_bytes, check_writable
from vpnet.config import Config
from vpnet.data.types import DataError
from vpnet.engine.builders import build_model, build_split, check_dataset, loader_workers, require_items
from vpnet.engine.feature_store import _dtype_name, to_bits
from vpnet.engine.forward import eval_clips, forward_clips
from vpnet.errors import ConfigError
from vpnet.progress import progress_bar

log = logging.getLogger(__name__)


def extract_features(
    cfg: Config,
    out_dir: str | Path,
    *,
    splits: list[str] | None = None,
    views: int = 1,
    dtype: str = "float16",
    checkpoint: str | Path | None = None,
    replace_other: bool = False,
) -> dict[str, dict[str, Any]]:
    """Write the feature cache of ``splits`` (default: every split of the dataset) to ``out_dir``.

    The backbone is ``cfg.model``'s (with ``model.backbone_weights``), or the backbone of
    ``checkpoint`` (e.g. an ``l1`` run fine-tuned on the target data). It runs on ``train.device`` in
    one process, ``data.batch_size`` videos and ``eval.clip_batch`` clips at a time, with ``eval.amp``.
    Resumable: items already written are skipped. Returns each split's meta.

    Args:
        views: training clips stored per video for the ``train`` split (epoch e reads view e mod V).
        dtype: ``float16`` or ``bfloat16`` on disk.
        replace_other: a split in ``out_dir`` made with other settings is extracted again (the demo, which
            owns its cache) instead of refused. A damaged split (unreadable ``meta.json``, ``done.npy``,
            truncated arrays) is always extracted again, with a warning.

    Raises:
        ConfigError: bad settings, or several processes (``torchrun``): extraction is not sharded.
    """
    from vpnet.data import collate
    from vpnet.engine.distributed import init_distributed, shutdown

    dtype = _dtype_name(dtype)
    if views < 1:
        raise ConfigError(f"views must be >= 1, got {views}")
    if cfg.data.feature_dir:
        raise ConfigError("data.feature_dir is set: extraction reads videos (set data.feature_dir=null; "
                          "data.prepared_dir or the raw data paths say where they are)")
    if cfg.model.variant == "pose_only":
        raise ConfigError("model.variant=pose_only has no visual backbone: there are no features to extract")
    out = check_writable(Path(out_dir), what="feature cache folder")
    info = check_dataset(cfg, splits or ())
    splits = list(splits or info.splits)
    num_clips, short_side = eval_clips(cfg)
    # every split's items before any work: an empty one fails now, not after the others were extracted
    datasets = {split: require_items(cfg, split, build_split(cfg, split, mode="train") if split == "train" else
                                     build_split(cfg, split, mode="test", clips=(num_clips, short_side)))
                for split in splits}
    ctx = init_distributed(cfg.train.device)
    lock = None
    try:
        if ctx.distributed:
            raise ConfigError(f"feature extraction runs in one process, but {ctx.world_size} were started "
                              "(torchrun): run `vpnet extract-features` without torchrun")
        model = build_model(cfg, ctx.device, checkpoint=checkpoint, mode="backbone").eval()
        out.mkdir(parents=True, exist_ok=True)
        lock = RunLock(out, "extract.lock", what="feature cache folder").acquire()  # one writer per cache
        results = {}
        for split in splits:
            train_mode = split == "train"
            ds, passes = datasets[split], views if train_mode else 1
            extra = {"backbone": cfg.model.backbone,
                     "backbone_weights": None if checkpoint else cfg.model.backbone_weights,
                     "checkpoint": str(checkpoint) if checkpoint else None,
                     "clip_len": cfg.data.clip_len, "crop_size": cfg.data.crop_size, "t_p": cfg.data.t_p,
                     "dataset": cfg.data.dataset, "protocol": cfg.data.protocol, "split": split,
                     "short_side": None if train_mode else short_side}
            for key in ("backbone_weights", "checkpoint"):
                digest = _file_sha256(extra[key])
                if digest:
                    extra[f"{key}_sha256"] = digest
            writer = _SplitWriter(out / split, names=[r.name for r in ds.records], labels=[r.label for r in ds.records],
                                  views=views if train_mode else num_clips, mode="train" if train_mode else "test",
                                  dtype=dtype, extra=extra, replace_other=replace_other)
            todo = writer.todo()
            bar = progress_bar(total=len(todo) * passes, desc=f"features {split}",
                               unit="clip" if train_mode else "video")
            for view in range(passes):
                ds.set_epoch(view)  # training view v = the dataset's sample at epoch v
                items = np.array([i for i in todo if i not in writer.failed], dtype=np.int64)
                bar.update(len(todo) - len(items))  # failed in an earlier view: not loaded again
                loader = torch.utils.data.DataLoader(
                    _Indexed(ds, items), batch_size=cfg.data.batch_size,
                    num_workers=loader_workers(cfg.data.num_workers), collate_fn=_indexed_collate(collate),
                    shuffle=False,
                )
                for batch, indices, failed in loader:
                    for idx, reason in failed:
                        writer.fail(idx, reason)
                    if batch is not None:
                        f = forward_clips(lambda x: model.forward_features(x["video"]), batch, device=ctx.device,
                                          amp=cfg.eval.amp, clip_batch=cfg.eval.clip_batch,
                                          channels_last=cfg.train.channels_last).cpu()  # (B, K or 1, C, t_c, m, n)
                        poses = batch["poses"] if batch["poses"].dim() == 5 else batch["poses"].unsqueeze(1)
                        for j, idx in enumerate(indices):
                            meta = batch["meta"][j]
                            writer.put(idx, view if train_mode else None, f[j], poses[j],
                                       np.asarray(meta["frames"]), np.asarray(meta["boxes"]))
                    bar.update(len(indices) + len(failed))
                writer.flush()
            bar.close()
            results[split] = writer.finish()
            log.info("%s: %d items cached in %s (%d failed)", split, results[split]["written"], out / split,
                     results[split]["failed"])
        return results
    finally:
        if lock is not None:
            lock.release()
        shutdown(ctx)


def _comparable(extra: Any) -> Any:
    """A split's settings as compared on resume: weights files by content (``*_sha256``), not by path, so
    that a moved or copied cache is still the same cache."""
    if not isinstance(extra, dict):
        return extra
    return {k: v for k, v in extra.items() if not (k in ("backbone_weights", "checkpoint") and f"{k}_sha256" in extra)}


def _file_sha256(value: Any) -> str | None:
    """The SHA-256 of ``value`` when it names a file (a weights path), else None (a registered name)."""
    if value is None or not Path(str(value)).is_file():
        return None
    from vpnet._io import sha256_file

    return sha256_file(Path(str(value)))


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


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


class _SplitWriter:
    """One split of the cache: :meth:`put` the clips of an item, :meth:`fail` an item, :meth:`finish`.

    An item is done (``done.npy``) once its ``views`` slots are written. An item that failed in any view
    of this extraction stays not done (never a slot of zeros) and is listed in ``failed.json``; the next
    extraction retries it. Names and labels are known up front (the split's records) and written once.
    """

    def __init__(self, folder: Path, *, names: list[str], labels: list[int], views: int, mode: str, dtype: str,
                 extra: dict[str, Any], replace_other: bool = False):
        self.dir = folder
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n, self.views, self.mode, self.dtype, self.extra = len(names), views, mode, dtype, extra
        existing = self._existing(names, replace_other)
        self.meta = None if existing is None else existing[0]
        if existing is not None:
            self.done = existing[1]
        else:  # meta.json comes last (with the first clip's shapes): once it exists, so do these
            self.done = np.zeros(self.n, dtype=bool)
            atomic_write_bytes(folder / "names.json", json.dumps(names).encode())
            atomic_write_bytes(folder / "labels.npy", _npy_bytes(np.asarray(labels, dtype=np.int64)))
            atomic_write_bytes(folder / "done.npy", _npy_bytes(self.done))
        #: failures of this extraction (earlier ones are not done, so they are retried).
        self.failed: dict[int, str] = {}
        self._f: np.ndarray | None = None
        self._p: np.ndarray | None = None
        self._w: np.ndarray | None = None
        self._b: np.ndarray | None = None
        self._pending = 0

    def _existing(self, names: list[str], replace_other: bool) -> tuple[dict[str, Any], np.ndarray] | None:
        """(meta, done) of the split already in the folder, checked: None when there is none, or when it is
        damaged (unreadable meta, names, index or arrays of the wrong shape) or, with ``replace_other``, made
        with other settings; such a split is removed, with a warning, and extracted again. A split of other
        settings is refused otherwise (it may be another cache the user wants to keep)."""
        folder = self.dir
        if not (folder / "meta.json").is_file():
            return None
        want = {"num_items": self.n, "views": self.views, "mode": self.mode, "dtype": self.dtype}
        try:
            meta = json.loads((folder / "meta.json").read_text())
            if not isinstance(meta, dict):
                raise ValueError("meta.json is not a JSON object")
            same = ({k: meta.get(k) for k in want} == want and _comparable(meta.get("extra")) == _comparable(self.extra)
                    and json.loads((folder / "names.json").read_text()) == names)
            if same:
                done = np.load(folder / "done.npy", allow_pickle=False)
                if done.dtype != np.bool_ or done.shape != (self.n,):
                    raise ValueError(f"done.npy holds {done.shape} {done.dtype}, expected ({self.n},) bool")
                if "feature_shape" in meta and not (folder / "windows.npy").is_file():
                    same = False  # a cache of an older vpnet (no windows.npy / boxes.npy)
                elif "feature_shape" in meta:  # the arrays exist: their headers and sizes must fit
                    for name, tail in (("features.npy", meta["feature_shape"]), ("poses.npy", meta["pose_shape"]),
                                       ("boxes.npy", [4])):
                        shape = np.load(folder / name, mmap_mode="r").shape
                        if shape != (self.n, self.views, *tail):
                            raise ValueError(f"{name} holds {shape}, expected {(self.n, self.views, *tail)}")
                    if np.load(folder / "windows.npy", mmap_mode="r").shape[:2] != (self.n, self.views):
                        raise ValueError("windows.npy does not hold a window per item and clip")
        except (OSError, ValueError, TypeError, KeyError, EOFError) as e:
            log.warning("%s: the feature cache is damaged (%s: %s); extracting this split again", folder,
                        type(e).__name__, e)
            self._clear()
            return None
        if not same:
            if not replace_other:
                raise DataError(folder, "holds a feature cache made with other settings or data, or by an older "
                                        "vpnet (no windows.npy / boxes.npy); use another output folder")
            log.warning("%s: the feature cache was made with other settings or data; extracting it again", folder)
            self._clear()
            return None
        return meta, done

    def _clear(self) -> None:
        """Remove the split's files, meta.json first (without it, nothing else is ever read)."""
        for name in ("meta.json", "done.npy", "names.json", "labels.npy", "features.npy", "poses.npy", "windows.npy",
                     "boxes.npy", "failed.json"):
            (self.dir / name).unlink(missing_ok=True)

    def todo(self) -> np.ndarray:
        return np.flatnonzero(~self.done)

    def _arrays(self, f: torch.Tensor, p: torch.Tensor, windows: np.ndarray) -> None:
        if self._f is not None:
            return
        fshape = (self.n, self.views, *f.shape[1:])
        pshape = (self.n, self.views, *p.shape[1:])
        if self.meta is None:
            self._f = np.lib.format.open_memmap(self.dir / "features.npy", mode="w+", dtype=np.uint16, shape=fshape)
            self._p = np.lib.format.open_memmap(self.dir / "poses.npy", mode="w+", dtype=np.float32, shape=pshape)
            self._w = np.lib.format.open_memmap(self.dir / "windows.npy", mode="w+", dtype=np.int32,
                                                shape=(self.n, self.views, windows.shape[-1]))
            self._b = np.lib.format.open_memmap(self.dir / "boxes.npy", mode="w+", dtype=np.float32,
                                                shape=(self.n, self.views, 4))
            self.meta = {"num_items": self.n, "views": self.views, "mode": self.mode, "dtype": self.dtype,
                         "feature_shape": list(f.shape[1:]), "pose_shape": list(p.shape[1:]),
                         "extra": self.extra, "complete": False}
            self._save_meta()
        else:
            self._f = np.load(self.dir / "features.npy", mmap_mode="r+")
            self._p = np.load(self.dir / "poses.npy", mmap_mode="r+")
            self._w = np.load(self.dir / "windows.npy", mmap_mode="r+")
            self._b = np.load(self.dir / "boxes.npy", mmap_mode="r+")

    def put(self, idx: int, view: int | None, f: torch.Tensor, p: torch.Tensor, windows: np.ndarray,
            boxes: np.ndarray) -> None:
        """f (K, C, t_c, m, n), p (K, 3, t_p, J), the clips' frames ``windows`` (K, T) and crop ``boxes`` (K, 4)
        (x0, y0, x1, y1 in the video's pixels) of item ``idx``; ``view`` picks the slot of a training clip
        (None: the K test clips). Ignored for an item that failed in an earlier view."""
        if idx in self.failed:
            return
        self._arrays(f, p, windows)
        assert self._f is not None and self._p is not None and self._w is not None and self._b is not None
        slot = idx if view is None else (idx, view)
        k = slice(None) if view is None else 0
        self._f[slot], self._p[slot] = to_bits(f[k], self.dtype), p[k].numpy()
        self._w[slot], self._b[slot] = windows[k], boxes[k]
        if view is None or view == self.views - 1:
            self.done[idx] = True
        self._pending += 1
        if self._pending >= 64:
            self.flush()

    def fail(self, idx: int, reason: str) -> None:
        self.failed[idx] = reason
        log.warning("feature extraction: item %d failed: %s", idx, reason)

    def flush(self) -> None:
        """Data first, then the index that says it is there (a crash leaves items to redo, never garbage)."""
        for a in (self._f, self._p, self._w, self._b):
            if a is not None:
                a.flush()
        atomic_write_bytes(self.dir / "done.npy", _npy_bytes(self.done))
        atomic_write_bytes(self.dir / "failed.json",
                           json.dumps({str(k): v for k, v in sorted(self.failed.items())}, indent=1).encode())
        self._pending = 0

    def _save_meta(self) -> None:
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

"""The prepared store written by ``vpnet prepare``: compact human-cropped frames plus the poses.

Why: a training clip from a raw 1080p NTU video means decoding up to ~130 full-HD H.264 frames
(sequential decoding is needed for exact frames) to keep 64 crops of a few hundred pixels. Preparing
once decodes every video a single time, crops the region where the people are and keeps it small.

Layout of a store folder::

    store.json                        format version and the options it was prepared with
    items/<name>.safetensors          one file per video (name URL-quoted if it holds odd characters)
    records/<protocol>-<split>.jsonl  the SampleRecords of each protocol split that was prepared
    records/<protocol>.classes.json   the class names and splits of that protocol (training from the
                                      store alone needs no raw folder, manifest or classes.txt)
    poses/<name>.npz                  poses ``vpnet prepare`` extracted with MediaPipe (data.dataset=folders
                                      without data.pose_dir), kept so a rerun does not extract again
    report[.shard-K-of-N].jsonl       every item that could not be used (and why), per run

Item file: a safetensors file (already a dependency; a documented, pickle-free container with a JSON
header and memory-mapped tensors, so a slice reads only its bytes):

- ``jpeg`` (B,) uint8: every frame as a JPEG, concatenated; ``offsets`` (F + 1,) int64: frame f is
  ``jpeg[offsets[f]:offsets[f + 1]]``. JPEG because an intra-only codec gives true random access
  (a clip reads only its own frames, any order) and OpenCV decodes a 256-pixel frame in ~0.3 ms;
  an all-intra video re-encode would add a demuxer and its seeking for the same pixels.
- ``xyz`` (F, M, J, 3) float32, ``present`` (F, M) bool and ``uv`` (F, M, J, 2) float32 (absent for
  formats without 2D joints): the parsed poses, the 2D joints mapped into the stored frame's pixels
  (:func:`stored_pixels`; :func:`source_pixels` maps back).
- metadata (strings): name, layout, body ids, fps, sizes, the stored region, notes, the record.

The stored region is the box around all people over the **whole** video with a margin (default 0.2
per side, more than the clips' 0.1, so that clip crops and their jitter have context), made square
and kept in the frame; it is scaled so that its short side is ``size`` (default 256; never enlarged).
The clip-level crop of the spec is then computed at load time from the stored 2D joints, exactly as
from a raw video, with the stored region playing the frame: a clip box that would reach past the
region is moved inside it (the people are always inside: the region holds every person of every
frame). Formats without 2D joints store the whole frame. Frames beyond the shorter of video and
skeleton are not stored (the item notes it; see :func:`vpnet.data.clips.common_frames`).

Writing is atomic (a temp file, fsync'ed, renamed into place), so a store is resumable: an item file
that exists and passes :func:`check_item` (a cheap whole-file check: a file truncated or overwritten
since fails it) is skipped; one that fails is prepared again and the report says so. (A killed run may leave
``items/.*.tmp`` files behind; they are never read and can be deleted when no prepare is running.)
"""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping
from urllib.parse import quote

import numpy as np

import vpnet.data.clips as clips
from vpnet._io import RunLock, atomic_write_bytes, check_writable, write_safetensors
from vpnet.data.types import DataError, PoseSequence, SampleRecord, VideoSource
from vpnet.data.video import FrameCollector, check_indices
from vpnet.errors import ConfigError, is_input_error

log = logging.getLogger(__name__)

STORE_FORMAT = 1
ITEM_FORMAT = "vpnet-prepared-item/1"


# ------------------------------------------------------------------------------------------------
# Paths


def item_path(root: str | Path, name: str) -> Path:
    """Where item ``name`` lives in the store at ``root``."""
    return Path(root) / "items" / f"{quote(name, safe='')}.safetensors"


def records_path(root: str | Path, protocol: str, split: str) -> Path:
    return Path(root) / "records" / f"{protocol}-{split}.jsonl"


def report_path(root: str | Path, shard: tuple[int, int] | None = None) -> Path:
    suffix = f".shard-{shard[0]}-of-{shard[1]}" if shard and shard[1] > 1 else ""
    return Path(root) / f"report{suffix}.jsonl"


def shard_of(name: str, num_shards: int) -> int:
    """The shard (0-based) an item belongs to: a hash of its name, so that machines whose item lists
    differ (a missing file here or there) still agree on every shared item."""
    return zlib.crc32(name.encode()) % num_shards


def write_records(root: str | Path, protocol: str, split: str, records: Iterable[SampleRecord]) -> Path:
    """Save a split's records (one JSON object per line) so training can run from the store alone."""
    path = records_path(root, protocol, split)
    atomic_write_bytes(path, "".join(json.dumps(asdict(r)) + "\n" for r in records).encode())
    return path


def pose_path(root: str | Path, name: str) -> Path:
    """Where ``vpnet prepare`` keeps the MediaPipe poses it extracted for item ``name``."""
    return Path(root) / "poses" / f"{quote(name, safe='')}.npz"


def write_classes(root: str | Path, protocol: str, class_names: list[str], splits: Iterable[str]) -> Path:
    """Save a protocol's class names and splits beside its records."""
    path = Path(root) / "records" / f"{protocol}.classes.json"
    atomic_write_bytes(path, (json.dumps({"classes": list(class_names), "splits": list(splits)}) + "\n").encode())
    return path


def read_classes(root: str | Path, protocol: str) -> tuple[list[str], tuple[str, ...]] | None:
    """(class names, splits) that :func:`write_classes` saved, or None (a store written before it existed)."""
    path = Path(root) / "records" / f"{protocol}.classes.json"
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    return [str(c) for c in d["classes"]], tuple(str(s) for s in d["splits"])


def read_records(root: str | Path, protocol: str, split: str) -> list[SampleRecord]:
    """The records :func:`write_records` saved; DataError if the store has none for this split."""
    path = records_path(root, protocol, split)
    if not path.is_file():
        have = sorted(p.stem for p in (Path(root) / "records").glob("*.jsonl"))
        raise DataError(path, f"the prepared store has no records for protocol {protocol!r} split {split!r} "
                              f"(it has: {', '.join(have) or 'none'}); prepare that protocol or set the raw "
                              "data folders (data.video_dir / data.pose_dir)")
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(path, "the records file is not UTF-8 text (damaged?); run `vpnet prepare` again to "
                              "rewrite it") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
            if not isinstance(fields, dict):
                raise TypeError(f"a JSON {type(fields).__name__}, not an object")
            records.append(SampleRecord(**fields))
        except (ValueError, TypeError) as e:
            raise DataError(path, f"line {number} is damaged ({e}); run `vpnet prepare` again to rewrite the "
                                  "records") from None
    return records


# ------------------------------------------------------------------------------------------------
# Reading


def stored_pixels(xy: np.ndarray, region: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pixel coordinates (..., 2) in the source video -> in the stored frames of ``size`` = (W, H)
    cut from its ``region`` = (x0, y0, x1, y1): shifted by the region's corner, scaled like the
    pixels. float64."""
    region = np.asarray(region, dtype=np.float64)
    return (np.asarray(xy, dtype=np.float64) - region[:2]) * (np.asarray(size) / (region[2:] - region[:2]))


def source_pixels(xy: np.ndarray, region: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The inverse of :func:`stored_pixels`: stored-frame pixel coordinates (..., 2) -> the source's."""
    region = np.asarray(region, dtype=np.float64)
    return np.asarray(xy, dtype=np.float64) * ((region[2:] - region[:2]) / np.asarray(size)) + region[:2]


class PreparedVideo:
    """The stored frames of one item, as a :class:`~vpnet.data.types.VideoSource`."""

    def __init__(self, handle, offsets: np.ndarray, fps: float, size: tuple[int, int], path: Path):
        self._handle = handle
        self._offsets = offsets
        self._fps = fps
        self._size = size
        self._path = path

    @property
    def num_frames(self) -> int:
        return len(self._offsets) - 1

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def read(self, indices: np.ndarray | list[int], *,
             transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """Frames at ``indices`` as (K, H, W, 3) uint8 RGB (``transform`` applied to each distinct
        frame once, as in :meth:`vpnet.data.video.VideoFile.read`)."""
        import cv2

        col = FrameCollector(check_indices(self._path, indices, self.num_frames), transform)
        w, h = self._size
        blob = self._handle.get_slice("jpeg")
        for k, f in enumerate(col.wanted):
            img = cv2.imdecode(blob[self._offsets[f]:self._offsets[f + 1]], cv2.IMREAD_COLOR_RGB)
            if img is None or img.shape != (h, w, 3):
                raise DataError(self._path, f"stored frame {f} is corrupt (its JPEG does not decode to {w}x{h})")
            col.put(k, img)
        return col.result((h, w, 3))


class PreparedItem:
    """One item of a prepared store: ``video`` (a VideoSource), ``poses`` (a PoseSequence whose uv
    are in stored pixels), ``record``, ``region`` and ``notes``. Use as a context manager (it keeps
    the file mapped until closed)."""

    def __init__(self, path: str | Path):
        from safetensors import safe_open

        self.path = str(path)
        try:
            self._handle = safe_open(self.path, framework="numpy")
            meta = self._handle.metadata() or {}
        except FileNotFoundError:
            raise DataError(self.path, "prepared item not found (was `vpnet prepare` run for it?)") from None
        except Exception as e:  # the safetensors error types are not public
            raise DataError(self.path, f"not a readable prepared item ({e})") from None
        if meta.get("format") != ITEM_FORMAT:
            raise DataError(self.path, f"not a vpnet prepared item (format {meta.get('format')!r}, "
                                       f"expected {ITEM_FORMAT!r})")
        self.meta = meta
        try:  # a header edited or damaged by hand: the item is unusable, never a traceback
            size = tuple(int(v) for v in json.loads(meta["size"]))
            self.region = np.array(json.loads(meta["region"]), dtype=np.float64)
            self.notes: list[str] = [str(n) for n in json.loads(meta["notes"])]
            self.record = SampleRecord(**json.loads(meta["record"]))
            keys = set(self._handle.keys())
            self.poses = PoseSequence(
                xyz=self._handle.get_tensor("xyz"),
                uv=self._handle.get_tensor("uv") if "uv" in keys else None,
                present=self._handle.get_tensor("present"),
                layout=meta["layout"],
                source=self.path,
                body_ids=tuple(json.loads(meta["body_ids"])),
                image_size=size,
            )
            self.video = PreparedVideo(self._handle, self._handle.get_tensor("offsets"), float(meta["fps"]),
                                       size, Path(self.path))
        except DataError:
            raise
        except Exception as e:  # KeyError, JSON and type errors, safetensors' own (not public) types
            raise DataError(self.path, f"damaged prepared item header ({type(e).__name__}: {e}); prepare it "
                                       "again (`vpnet prepare` rebuilds damaged items)") from None

    def close(self) -> None:
        self._handle.__exit__(None, None, None)

    def __enter__(self) -> PreparedItem:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_item(path: str | Path) -> str | None:
    """Why the item file at ``path`` cannot be used (truncated, overwritten, not an item), or None if
    it is whole: its header parses, its tensors fill the file, and frames, offsets and poses agree.
    Cheap (the header and two small tensors; no frame is decoded), so a rerun checks every item it skips."""
    try:
        with PreparedItem(path) as item:
            offsets = item.video._offsets
            jpeg = item._handle.get_slice("jpeg").get_shape()[0]
            if len(offsets) < 2 or offsets[0] != 0 or offsets[-1] != jpeg or (np.diff(offsets) <= 0).any():
                return f"frame offsets do not fit the {jpeg} bytes of frames"
            if item.poses.num_frames != item.video.num_frames:
                return f"{item.poses.num_frames} poses for {item.video.num_frames} frames"
    except DataError as e:
        return e.problem
    except Exception as e:  # a key missing from a damaged header, and the like
        return f"not a readable prepared item ({type(e).__name__}: {e})"
    return None


# ------------------------------------------------------------------------------------------------
# Writing one item


def write_item(path: str | Path, record: SampleRecord, video: VideoSource, seq: PoseSequence, *,
               size: int = 256, margin: float = 0.2, quality: int = 90) -> list[str]:
    """Crop, shrink and JPEG-encode every frame of ``video``; store them with ``seq``. Returns notes.

    The file appears at ``path`` only when complete (written to a temp file, then renamed).
    """
    import cv2

    path = Path(path)
    seq, note = clips.common_frames(video.num_frames, seq, what=record.video or "")
    n = seq.num_frames
    notes = list(seq.notes) + ([note] if note else [])
    src_w, src_h = video.size
    uv = clips.video_uv(seq, (src_w, src_h))
    region = clips.crop_box(uv, seq.present, (src_w, src_h), margin=margin)
    x0, y0, x1, y1 = (int(v) for v in region)
    scale = min(1.0, size / min(x1 - x0, y1 - y0))
    out_w, out_h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))

    chunks: list[bytes] = []
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]

    def encode(frame: np.ndarray) -> np.ndarray:
        # Encode as soon as decoded (frames come in order), so a long video is never held whole.
        crop = cv2.resize(frame[y0:y1, x0:x1], (out_w, out_h), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise DataError(record.video, f"JPEG encoding of frame {len(chunks)} failed")
        chunks.append(buf.tobytes())
        return np.zeros(1, np.uint8)

    video.read(np.arange(n), transform=encode)
    if len(chunks) != n:
        raise DataError(record.video, f"decoded {len(chunks)} frames, expected {n}")

    tensors = {
        "jpeg": np.frombuffer(b"".join(chunks), dtype=np.uint8),
        "offsets": np.concatenate([[0], np.cumsum([len(c) for c in chunks])]).astype(np.int64),
        "xyz": np.ascontiguousarray(seq.xyz, dtype=np.float32),
        "present": np.ascontiguousarray(seq.present, dtype=bool),
    }
    if uv is not None:
        tensors["uv"] = stored_pixels(uv, region, (out_w, out_h)).astype(np.float32)
    meta = {
        "format": ITEM_FORMAT,
        "name": record.name,
        "layout": seq.layout,
        "body_ids": json.dumps(list(seq.body_ids)),
        "fps": repr(float(video.fps)),
        "size": json.dumps([out_w, out_h]),
        "source_size": json.dumps([src_w, src_h]),
        "region": json.dumps([x0, y0, x1, y1]),
        "notes": json.dumps(notes),
        "record": json.dumps(asdict(record)),
    }
    write_safetensors(path, tensors, meta)
    return notes


# ------------------------------------------------------------------------------------------------
# The whole pass


@dataclass
class PrepareOptions:
    """What ``vpnet prepare`` stores; saved in ``store.json`` (a store keeps one set of options)."""

    dataset: str
    size: int = 256
    margin: float = 0.2
    quality: int = 90

    def __post_init__(self):
        if self.size < 16 or self.margin < 0 or not 1 <= self.quality <= 100:
            raise ConfigError(f"prepare options out of range: size {self.size} (>= 16), margin {self.margin} (>= 0), "
                             f"quality {self.quality} (1-100)")


@dataclass
class PrepareSummary:
    """What a :func:`prepare` run did; every list entry is also a line of the report file."""

    total: int = 0  # items of this shard
    done: int = 0  # written in this run
    skipped: int = 0  # already in the store
    #: {"name", "status": "left out", "reason"}: items the dataset scan could not pair with files.
    left_out: list[dict] = field(default_factory=list)
    #: {"name", "status": "failed", "video", "poses", "reason"}: items whose files are unusable.
    failed: list[dict] = field(default_factory=list)
    #: {"name", "status": "note", "note"}: items used with a remark (video and skeleton lengths).
    notes: list[dict] = field(default_factory=list)
    report: Path | None = None


#: errors of the store's disk (full, quota, read-only): they stop the pass instead of failing every item.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _prepare_one(record: SampleRecord, read_poses: Callable[[str], PoseSequence], out: str,
                 opts: PrepareOptions, threads: int) -> tuple[list[str], str | None]:
    """Worker: one item, decoded with ``threads`` decoder threads (0: FFmpeg's choice). Returns
    (notes, None) when done, ([], reason) when it cannot be used.

    Errors come back as text: any problem with one item is reported, never raised across the
    process boundary.
    """
    from vpnet.data.video import open_video

    try:
        if not record.video:
            raise DataError(None, "the record has no video file")
        if not record.poses:
            raise DataError(record.video, "the record has no pose file")
        seq = read_poses(record.poses)
        video = open_video(record.video, threads=threads)
        notes = write_item(item_path(out, record.name), record, video, seq,
                           size=opts.size, margin=opts.margin, quality=opts.quality)
        return notes, None
    except Exception as e:  # one bad input never stops the pass; a bug does (it crosses to the parent)
        if not is_input_error(e) or isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
            raise
        return [], str(e) if isinstance(e, DataError) else f"{type(e).__name__}: {e}"


def _init_worker(threads: int, parent: int) -> None:
    import cv2

    cv2.setNumThreads(threads)  # the cores are shared out between the processes already
    die_with_parent(parent)


def die_with_parent(parent: int) -> None:
    """End this (worker) process when process ``parent`` ends, however it ends (``kill -9`` included):
    a worker that outlives ``vpnet prepare`` would go on writing into the store.

    Linux: the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``). Elsewhere a
    daemon thread checks once a second that the parent is still this process's parent. Both then check
    the parent once more, in case it died before the request took effect.
    """
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        if libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:
                os._exit(1)
            return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="vpnet-parent-watch", daemon=True).start()


def _check_store_options(root: Path, opts: PrepareOptions) -> bool:
    """Refuse a store prepared with other options; True when its ``store.json`` was damaged (then the
    options its items were made with are unknown: every item is prepared again, with a warning)."""
    path = root / "store.json"
    want = {"format": STORE_FORMAT, **asdict(opts)}
    have = None
    if path.is_file():
        try:
            have = json.loads(path.read_text())
            if not isinstance(have, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            log.warning("%s is damaged (%s); preparing every item again with this run's options", path, e)
            atomic_write_bytes(path, (json.dumps(want, indent=1) + "\n").encode())
            return True
    if have is not None:
        if have != want:
            diff = ", ".join(f"{k}: store {have.get(k)!r} vs now {v!r}" for k, v in want.items() if have.get(k) != v)
            raise DataError(path, f"this store was prepared with other options ({diff}); "
                                  "use the same options to resume, or another folder")
    else:
        atomic_write_bytes(path, (json.dumps(want, indent=1) + "\n").encode())
    return False


def prepare(records: Iterable[SampleRecord], out: str | Path, *, read_poses: Callable[[str], PoseSequence],
            options: PrepareOptions, shard: tuple[int, int] = (0, 1), workers: int | None = None,
            left_out: Iterable[tuple[str, str]] = (), failed: Mapping[str, str] | None = None,
            progress: bool = True) -> PrepareSummary:
    """Prepare every record of shard ``shard`` = (K, N) (0 <= K < N) into the store at ``out``.

    Items already in the store are skipped (resume). Every item that cannot be used is reported:
    logged, and written to the report file (one JSON object per line, rewritten by each run) with
    its reason; it loses nothing else. ``left_out`` are (name, reason) of items the dataset scan
    already left out (missing files, ...): they go into the report too (status ``left out``).
    ``failed`` maps the names of items that already failed a step before this one (pose extraction)
    to the reason: they are reported as failed and not prepared. ``workers`` processes (default: all
    cores; 0 or 1: in this process). ``read_poses`` must be a module-level function (it is sent to the
    worker processes).
    """

    k, n_shards = shard
    if not (n_shards >= 1 and 0 <= k < n_shards):
        raise ConfigError(f"shard must be K/N with 0 <= K < N, got {k}/{n_shards}")
    root = check_writable(Path(out), what="store folder")
    root.mkdir(parents=True, exist_ok=True)
    # one process per shard: two preparing the same shard would write the same items and report
    with RunLock(root, f"prepare-{k}-of-{n_shards}.lock", what=f"store folder (shard {k}/{n_shards})"):
        return _prepare_shard(records, root, read_poses=read_poses, options=options, shard=shard, workers=workers,
                              left_out=left_out, failed=failed, progress=progress)


def _prepare_shard(records: Iterable[SampleRecord], root: Path, *, read_poses: Callable[[str], PoseSequence],
                   options: PrepareOptions, shard: tuple[int, int], workers: int | None,
                   left_out: Iterable[tuple[str, str]], failed: Mapping[str, str] | None,
                   progress: bool) -> PrepareSummary:
    """:func:`prepare`'s work, with the shard's lock held."""
    from vpnet.progress import progress_bar

    k, n_shards = shard
    rebuild = _check_store_options(root, options)

    unique = {r.name: r for r in records}
    mine = [r for name, r in sorted(unique.items()) if shard_of(name, n_shards) == k]
    summary = PrepareSummary(total=len(mine), report=report_path(root, shard))
    summary.left_out = [{"name": name, "status": "left out", "reason": reason}
                        for name, reason in dict(left_out).items() if shard_of(name, n_shards) == k]
    todo, redo = [], []
    for r in mine:  # an item file that exists is checked, not trusted: it may have been damaged since
        path = item_path(root, r.name)
        problem = ("made with unknown options (store.json was damaged)" if rebuild and path.is_file() else
                   check_item(path) if path.is_file() else "absent")
        if problem is not None:
            todo.append(r)
            if problem != "absent":
                log.warning("prepare: %s: the stored item is damaged (%s); preparing it again", r.name, problem)
                redo.append({"name": r.name, "status": "note", "note": f"stored item was damaged ({problem}); "
                                                                      "prepared again"})
                path.unlink()
    summary.skipped = len(mine) - len(todo)
    summary.notes += redo
    failed = dict(failed or {})
    failed_before = [r for r in todo if r.name in failed]
    todo = [r for r in todo if r.name not in failed]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = cpus if workers is None else workers

    with open(summary.report, "w") as report, progress_bar(total=len(todo) + len(failed_before),
                                                           desc=f"prepare {options.dataset}",
                                                           unit="video", enabled=progress) as bar:
        def write(entries: list[dict]) -> None:
            report.writelines(json.dumps(e) + "\n" for e in entries)
            report.flush()

        def finished(rec: SampleRecord, notes: list[str], reason: str | None) -> None:
            if reason is None:
                summary.done += 1
                entries = [{"name": rec.name, "status": "note", "note": note} for note in notes]
                summary.notes += entries
            else:
                entries = [{"name": rec.name, "status": "failed", "video": rec.video, "poses": rec.poses,
                            "reason": reason}]
                summary.failed += entries
                log.warning("prepare: skipped %s: %s", rec.name, reason)
            write(entries)
            bar.update()

        write(summary.left_out + redo)
        for rec in failed_before:
            finished(rec, [], failed[rec.name])
        if workers <= 1:
            for rec in todo:
                finished(rec, *_prepare_one(rec, read_poses, str(root), options, 0))
        else:
            # Each process gets its share of the cores (1 at the default, one process per core):
            # FFmpeg's own choice, a thread per core in every process, measured 7-10 % slower.
            threads = max(1, cpus // workers)
            # spawn, not fork: forking a process whose decoder/OpenCV threads hold locks can hang the child.
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_init_worker, initargs=(threads, os.getpid())) as pool:
                futures = {pool.submit(_prepare_one, rec, read_poses, str(root), options, threads): rec
                           for rec in todo}
                for fut in as_completed(futures):
                    try:
                        notes, reason = fut.result()
                    except BrokenProcessPool:
                        notes, reason = [], ("a worker process died (a crash in a decoder?) before this item "
                                             "finished; run prepare again to retry it")
                    finished(futures[fut], notes, reason)
    return summary

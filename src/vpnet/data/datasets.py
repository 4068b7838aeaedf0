"""The torch Dataset over any dataset's records: raw videos or a prepared store, same samples.

A sample is a dict (keys of :data:`vpnet.data.types.SAMPLE_KEYS`):

- ``video``: training (3, T, H, W) float32 RGB in [-1, 1]; test mode (K, 3, T, H, W) for K clips
  (always with the K axis, also for K = 1). H = W = ``size`` (training: ``crop_size``; test: the
  eval short side, fully convolutional inference).
- ``poses``: (3, t_p, J) float32 (test: (K, 3, t_p, J)), the main actor's poses sampled from the
  same frames as the clip (pose-only: over the whole clip), normalised as ``pose_norm`` says
  (default: metres relative to his layout centre in the first sampled pose).
- ``label`` int, ``name`` str, ``meta`` dict of plain values: ``frames`` (K, T) window indices,
  ``pose_frames`` (K, t_p), ``boxes`` (K, 4) crop boxes in the source video's pixels, ``actor``
  (ids of the bodies forming the main actor's track), ``num_frames``, ``notes``, ``subject``,
  ``camera``, ``source`` (``raw`` | ``prepared``) and the record's own meta.

A sample is cut by the steps of :mod:`vpnet.data.pipeline` (:func:`sample_steps`), in this order,
which is also the order of the training draws:

1. ``AlignFrames``: the skeleton cut to the frames the video has too (a note when the lengths differ);
2. ``SelectActor``: the main actor's track (the person who moves most);
3. ``SampleWindows``: one random window (training) or ``num_clips`` spread windows (test);
4. ``SamplePoseFrames``: t_p frames per window, from its frames or over the whole clip (``pose_span``);
5. ``GatherPoses``: the actor's poses there, normalised (and augmented in training);
6. with a video, ``CropBoxes`` (the people's box per window, jittered in training), ``ReadClips``
   (the windows' frames decoded and cut to the boxes) and ``ToModelRange``.

Bad items: a sample that cannot be built (unreadable video, no body, ...) is logged with its name,
files and reason, and ``__getitem__`` returns None, which :func:`collate` drops; the run never stops
and never sees a zero-filled sample. (Returning another item instead would double-count that item
at evaluation.) ``load(index)`` raises instead, for debugging.

Determinism: training randomness (window start, pose positions, crop jitter, pose augmentation) comes from a generator
seeded with (seed, epoch, index), so an item is the same whatever worker loads it and a resumed run
sees the same data. :meth:`VideoPoseDataset.set_epoch` writes the epoch into shared memory, so it
reaches DataLoader workers even when they are persistent.

Raw videos are opened for each sample: FFmpeg picks the decoder threads in the main process, a
DataLoader worker takes its share of the cores. Opening is not cached: it costs ~7 ms (counting a
1080p file's packets) of a ~300 ms sample, and a cache would not hit, since an epoch loads each item
once and the engine's workers are not persistent (each epoch starts from a fresh copy).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

import vpnet.data.clips as clips
import vpnet.data.pipeline as pipeline
from vpnet.data.prepared import PreparedItem, item_path, source_pixels
from vpnet.data.types import DataError, PoseSequence, SampleRecord, VideoSource
from vpnet.errors import is_input_error

log = logging.getLogger(__name__)

Mode = Literal["train", "test"]

#: parsed pose files a poses-only dataset keeps in memory, per process: all of N-UCLA's (13 MB for
#: subjects 1-5); of a larger dataset (NTU, Smarthome: several GB) the files read first.
POSE_CACHE_BYTES = 1 << 30


@dataclass(frozen=True)
class ClipSettings:
    """How samples are cut; built from a DataConfig by ``build_dataset``."""

    mode: Mode = "train"
    clip_len: int = 64
    #: output side: frames are H = W = size.
    size: int = 224
    t_p: int = 20
    stride: int = 2
    margin: float = 0.1
    #: training crop jitter (scale +-jitter, shift up to jitter/2 of the side); 0 at test.
    jitter: float = 0.1
    num_clips: int = 1
    seed: int = 0
    #: a video shorter than ``clip_len``: ``loop`` or ``stretch`` (:func:`vpnet.data.clips.train_window`).
    sampling: str = "loop"
    #: where the t_p poses come from: ``window`` (the RGB clip's frames) or ``clip`` (the whole clip:
    #: pose-only models, which have no RGB window).
    pose_span: str = "window"
    #: :func:`vpnet.data.clips.normalize_poses`.
    pose_norm: str = "translation"
    #: training pose augmentation (ignored at test).
    pose_augment: clips.PoseAugment = clips.PoseAugment()

    def __post_init__(self):
        if self.mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {self.mode!r}")
        if self.pose_span not in ("window", "clip"):
            raise ValueError(f"pose_span must be 'window' or 'clip', got {self.pose_span!r}")
        for name in ("clip_len", "size", "t_p", "stride", "num_clips"):
            if not isinstance(getattr(self, name), (int, np.integer)) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")


def sample_steps(settings: ClipSettings, *, video: bool = True) -> pipeline.Compose:
    """The steps of a sample cut as ``settings`` say (see the module docstring); ``video=False``: poses only."""
    s = settings
    train = s.mode == "train"
    steps: list[pipeline.Step] = [
        pipeline.AlignFrames(),
        pipeline.SelectActor(),
        pipeline.SampleWindows(s.clip_len, s.stride, how="train" if train else "spread", sampling=s.sampling,
                               num_clips=s.num_clips),
        pipeline.SamplePoseFrames(s.clip_len, s.t_p, span=s.pose_span, random=train, crop=s.pose_augment.crop),
        pipeline.GatherPoses(norm=s.pose_norm, augment=s.pose_augment if train else None),
    ]
    if video:
        steps += [pipeline.CropBoxes(margin=s.margin, jitter=s.jitter if train else 0.0),
                  pipeline.ReadClips(s.size), pipeline.ToModelRange()]
    return pipeline.Compose(steps)


def make_sample(video: VideoSource | None, seq: PoseSequence, settings: ClipSettings,
                rng: np.random.Generator | None) -> dict:
    """One sample from a video (None: poses only) and its poses: the arrays and the meta.

    Returns ``{"video": (K, 3, T, S, S) | absent, "poses": (K, 3, t_p, J), "meta": {...}}`` as numpy
    arrays (K = 1 in training). ``rng`` is required in training mode.
    """
    train = settings.mode == "train"
    if train and rng is None:
        raise ValueError("training samples need an rng")
    state = {"seq": seq, "notes": list(seq.notes), "rng": rng if train else None, "source": video,
             "video_frames": None if video is None else video.num_frames,
             "frame_size": None if video is None else video.size}
    state = sample_steps(settings, video=video is not None)(state)
    meta = {
        "frames": state["windows"].tolist(),
        "pose_frames": state["pose_frames"].tolist(),
        "actor": state["actor"],
        "num_frames": state["num_frames"],
        "notes": state["notes"],
    }
    out = {"poses": state["poses"], "meta": meta}
    if video is not None:
        out["video"] = state["video"]
        meta["boxes"] = state["boxes"].tolist()
    return out


def _decoder_threads() -> int:
    """FFmpeg decoder threads for a raw video: its own choice (about one per core) in the main
    process; in a DataLoader worker, the worker's share of the cores, as the workers decode in
    parallel (2 workers on 2 cores: 7 % faster with 1 thread each than with FFmpeg's choice; one
    process alone: 22 % slower with 1 thread)."""
    info = get_worker_info()
    return 0 if info is None else max(1, (os.cpu_count() or 1) // info.num_workers)


class VideoPoseDataset(Dataset):
    """Samples from a list of records, read from raw files (``read_poses`` + ``open_video``) or from a
    prepared store (``prepared_dir``). See the module docstring for the sample format."""

    def __init__(self, records: list[SampleRecord], settings: ClipSettings, *,
                 read_poses: Callable[[str], PoseSequence] | None = None, prepared_dir: str | Path | None = None,
                 load_video: bool = True):
        if prepared_dir is None and read_poses is None:
            raise ValueError("give read_poses (raw data) or prepared_dir (a prepared store)")
        self.settings = settings
        self.read_poses = read_poses
        self.prepared_dir = None if prepared_dir is None else Path(prepared_dir)
        self.load_video = load_video
        found = [(r, self._missing(r)) for r in records]
        #: (name, reason) of the records left out at construction (e.g. not in the prepared store).
        self.problems: list[tuple[str, str]] = [(r.name, why) for r, why in found if why]
        if self.problems:
            log.warning("%d items left out (first: %s: %s)", len(self.problems), *self.problems[0])
        self.records = [r for r, why in found if not why]
        # Shared memory: set_epoch in the main process reaches persistent DataLoader workers.
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._noted: set[str] = set()
        # Pose-only samples cost about as much to parse as to cut, so parsed files are kept (per
        # process, up to POSE_CACHE_BYTES); with videos, decoding dominates and nothing is kept.
        self._pose_cache: dict[str, PoseSequence] = {}
        self._pose_cache_bytes = 0

    def _missing(self, rec: SampleRecord) -> str | None:
        """Why ``rec`` cannot be loaded at all, or None."""
        if self.prepared_dir is not None:
            found = item_path(self.prepared_dir, rec.name).is_file()
            return None if found else f"not in the prepared store {self.prepared_dir}"
        if self.load_video and not rec.video:
            return "the record has no video file"
        return None if rec.poses else "the record has no pose file"

    def __len__(self) -> int:
        return len(self.records)

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Select the training randomness of ``epoch`` (a pure function of seed, epoch, index)."""
        self._epoch.fill_(int(epoch))

    def rng(self, index: int) -> np.random.Generator | None:
        if self.settings.mode != "train":
            return None
        return np.random.default_rng([self.settings.seed, self.epoch, index])

    def load(self, index: int) -> dict:
        """Sample ``index``; raises on a bad item (``__getitem__`` reports and returns None)."""
        rec = self.records[index]
        if self.prepared_dir is not None:
            with PreparedItem(item_path(self.prepared_dir, rec.name)) as item:
                arrays = make_sample(item.video if self.load_video else None, item.poses, self.settings,
                                     self.rng(index))
                # Boxes in the raw video's pixels, whatever the source.
                if "boxes" in arrays["meta"]:
                    corners = np.array(arrays["meta"]["boxes"]).reshape(-1, 2, 2)
                    boxes = source_pixels(corners, item.region, item.video.size).reshape(-1, 4)
                    arrays["meta"]["boxes"] = boxes.tolist()
                arrays["meta"]["notes"] += item.notes
            source = "prepared"
        else:
            from vpnet.data.video import open_video

            video = open_video(rec.video, threads=_decoder_threads()) if self.load_video else None
            arrays = make_sample(video, self._poses(rec.poses), self.settings, self.rng(index))
            source = "raw"
        if rec.name not in self._noted:  # once per item and process, not every epoch
            for note in arrays["meta"]["notes"]:
                log.warning("%s: %s", rec.name, note)
            self._noted.add(rec.name)
        meta = {**rec.meta, "subject": rec.subject, "camera": rec.camera, "source": source, **arrays["meta"]}
        train = self.settings.mode == "train"
        sample = {
            "poses": torch.from_numpy(arrays["poses"][0] if train else arrays["poses"]),
            "label": int(rec.label),
            "name": rec.name,
            "meta": meta,
        }
        if "video" in arrays:
            sample["video"] = torch.from_numpy(arrays["video"][0] if train else arrays["video"])
        return sample

    def _poses(self, path: str) -> PoseSequence:
        """The parsed pose file ``path``: from the cache when poses are all a sample reads."""
        if self.load_video:
            return self.read_poses(path)
        seq = self._pose_cache.get(path)
        if seq is None:
            seq = self.read_poses(path)
            size = seq.xyz.nbytes + (0 if seq.uv is None else seq.uv.nbytes)
            if self._pose_cache_bytes + size <= POSE_CACHE_BYTES:
                self._pose_cache[path] = seq
                self._pose_cache_bytes += size
        return seq

    def __getitem__(self, index: int) -> dict | None:
        try:
            return self.load(index)
        except Exception as e:  # one bad input must not stop a run: report it, collate drops it
            if not is_input_error(e):  # a bug: stop, never score the other items around it
                raise
            rec = self.records[index]
            reason = str(e) if isinstance(e, DataError) else f"{type(e).__name__}: {e}"
            log.warning("skipping %s (video %s, poses %s): %s", rec.name, rec.video, rec.poses, reason)
            log.debug("traceback of the skipped item %s", rec.name, exc_info=True)
            return None


def collate(batch: list[dict | None]) -> dict | None:
    """Stack samples into a batch, dropping the items that failed (None; they were reported).

    Tensors (``video``, ``features``, ``poses``, a given ``a_s``) are stacked, ``label`` becomes a (N,) LongTensor,
    ``name`` and ``meta`` stay lists. Returns None when every item of the batch failed: the caller
    skips such a batch.
    """
    items = [b for b in batch if b is not None]
    if not items:
        return None
    out: dict = {}
    for key in ("video", "features", "poses", "a_s"):
        if key in items[0]:
            out[key] = torch.stack([b[key] for b in items])
    out["label"] = torch.tensor([b["label"] for b in items], dtype=torch.long)
    out["name"] = [b["name"] for b in items]
    out["meta"] = [b["meta"] for b in items]
    return out

"""The sample path as a list of named steps over a sample state (a dict), composed with :class:`Compose`.

The training and test samples (:func:`vpnet.data.datasets.make_sample`, which the feature cache reads
through the dataset) and own-video prediction (:class:`vpnet.inference.Recognizer`) run the same
steps; each step is a thin frozen dataclass over the pure functions of :mod:`vpnet.data.clips`, and
returns a new state (the one it was given is left as it was).

State keys (a step reads the keys written before it and adds its own):

- ``seq`` (:class:`PoseSequence`): everybody's poses; :class:`AlignFrames` cuts it to the frames the
  video has too.
- ``video_frames`` (int | None): the video's frame count (None: poses only); ``frame_size`` (W, H):
  its frame size in pixels; ``source`` (:class:`VideoSource`): where :class:`ReadClips` reads frames.
- ``rng`` (``numpy.random.Generator`` | None): every random draw of a training sample comes from it,
  so a sample is a pure function of the generator's seed. The steps draw in their order in the list:
  window, pose frames, pose augmentation, crop jitter.
- ``notes`` (list of str): remarks on the input (e.g. frame counts that differ).
- ``num_frames`` (int): the usable length (:class:`AlignFrames`).
- ``track`` (T,) int: the main actor's body per frame, -1 where unseen; ``actor`` (list of str): the
  ids of the bodies of his track, in order of appearance (:class:`SelectActor`).
- ``windows`` (K, T) int64: the frames of the K RGB clips (:class:`SampleWindows`).
- ``pose_frames`` (K, t_p) int64: the frames of each clip's poses (:class:`SamplePoseFrames`).
- ``poses`` (K, 3, t_p, J) float32: the actor's normalised poses (:class:`GatherPoses`).
- ``boxes`` (K, 4) float64: each clip's crop box (x0, y0, x1, y1) in the video's pixels (:class:`CropBoxes`).
- ``clips`` (K, T, S, S, 3) uint8 RGB: the cropped frames (:class:`ReadClips`); :class:`ToModelRange`
  turns them into ``video`` (K, 3, T, S, S) float32 in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

import vpnet.data.clips as clips
from vpnet.data.video import read_clips

#: a sample state: see the module docstring for its keys.
State = dict[str, Any]
Step = Callable[[State], State]


def _rng(state: State, step: str) -> np.random.Generator:
    rng = state.get("rng")
    if rng is None:
        raise ValueError(f"{step} draws random numbers: the state needs an rng")
    return rng


@dataclass(frozen=True)
class Compose:
    """The steps applied in order: ``Compose([a, b])(state) == b(a(state))``."""

    steps: Sequence[Step]

    def __call__(self, state: State) -> State:
        for step in self.steps:
            state = step(state)
        return state


@dataclass(frozen=True)
class AlignFrames:
    """``seq`` cut to the frames it shares with the video, ``num_frames`` the usable length, and a note
    when the lengths differ (:func:`vpnet.data.clips.common_frames`). Poses only: all of ``seq``."""

    def __call__(self, state: State) -> State:
        seq = state["seq"]
        if state.get("video_frames") is None:
            return {**state, "num_frames": seq.num_frames}
        seq, note = clips.common_frames(state["video_frames"], seq)
        return {**state, "seq": seq, "num_frames": seq.num_frames,
                "notes": list(state.get("notes", [])) + ([note] if note else [])}


@dataclass(frozen=True)
class SelectActor:
    """``track`` and ``actor``: the main actor (:func:`vpnet.data.clips.actor_track`)."""

    def __call__(self, state: State) -> State:
        seq = state["seq"]
        track = clips.actor_track(seq)
        ids = [seq.body_ids[b] if b < len(seq.body_ids) else str(b)
               for b in dict.fromkeys(track[track >= 0].tolist())]
        return {**state, "track": track, "actor": ids}


@dataclass(frozen=True)
class SampleWindows:
    """``windows`` (K, T) over ``num_frames`` frames, T = ``clip_len``, at ``stride`` where it fits.

    ``how``: ``train`` one window from a random start (K = 1, :func:`~vpnet.data.clips.train_window`);
    ``spread`` K = ``num_clips`` windows spread evenly (:func:`~vpnet.data.clips.eval_windows`);
    ``slide`` windows every ``hop`` frames over the whole video (:func:`~vpnet.data.clips.sliding_windows`).
    ``sampling`` (``loop`` | ``stretch``) is how they treat a video shorter than a clip.
    """

    clip_len: int
    stride: int
    how: str = "train"
    sampling: str = "loop"
    num_clips: int = 1
    hop: int | None = None

    def __post_init__(self):
        if self.how not in ("train", "spread", "slide"):
            raise ValueError(f"how must be 'train', 'spread' or 'slide', got {self.how!r}")

    def __call__(self, state: State) -> State:
        n = state["num_frames"]
        if self.how == "train":
            windows = clips.train_window(n, self.clip_len, stride=self.stride, sampling=self.sampling,
                                         rng=_rng(state, "a training window"))[None]
        elif self.how == "spread":
            windows = clips.eval_windows(n, self.clip_len, stride=self.stride, num_clips=self.num_clips,
                                         sampling=self.sampling)
        else:
            windows = clips.sliding_windows(n, self.clip_len, stride=self.stride, hop=self.hop,
                                            sampling=self.sampling)
        return {**state, "windows": windows}


@dataclass(frozen=True)
class SamplePoseFrames:
    """``pose_frames`` (K, t_p): one frame per equal segment of each window (``span="window"``) or of
    the whole clip (``span="clip"``, pose-only models: after a temporal crop of up to ``crop`` in
    training). ``random``: a random frame inside each segment (training, from the state's rng); else
    the segment centres (over the clip: spread so that the K clips see different frames)."""

    clip_len: int
    t_p: int
    span: str = "window"
    random: bool = False
    crop: float = 0.0
    #: ``span="clip"`` with sliding windows (prediction): each window's frame range is a clip, its poses
    #: at the centres of t_p equal segments of it. A video no longer than a window is one clip, so its
    #: poses are exactly those of evaluation.
    per_window: bool = False

    def __call__(self, state: State) -> State:
        windows, n = state["windows"], state["num_frames"]
        rng = _rng(state, "random pose frames") if self.random else None
        if self.span == "clip" and self.per_window:
            frames = np.stack([_clip_range(w, n, self.t_p) for w in windows])
        elif self.span == "window":
            frames = np.stack([w[clips.pose_positions(self.clip_len, self.t_p, rng=rng)] for w in windows])
        elif rng is None:
            frames = clips.spread_positions(n, self.t_p, len(windows))
        else:
            start, length = clips.temporal_crop(n, self.crop, rng) if self.crop else (0, n)
            frames = start + clips.segment_positions(length, self.t_p, rng=rng)[None]
        return {**state, "pose_frames": frames}


def _clip_range(window: np.ndarray, num_frames: int, t_p: int) -> np.ndarray:
    """(t_p,) segment centres over the frames a sliding window spans (a looped or stretched window of a
    short video: the whole video, as :func:`vpnet.data.clips.spread_positions` with one clip)."""
    lo, hi = int(window.min()), int(window.max())
    return lo + clips.spread_positions(hi - lo + 1, t_p, 1)[0]


@dataclass(frozen=True)
class GatherPoses:
    """``poses`` (K, 3, t_p, J): the actor's poses at each clip's ``pose_frames``, normalised as ``norm``
    says and, in training, augmented by ``augment`` (:func:`vpnet.data.clips.actor_poses`)."""

    norm: str = "translation"
    augment: clips.PoseAugment | None = None

    def __call__(self, state: State) -> State:
        seq, track, rng = state["seq"], state["track"], state.get("rng")
        poses = np.stack([clips.actor_poses(seq, f, track, norm=self.norm, augment=self.augment, rng=rng)
                          for f in state["pose_frames"]])
        return {**state, "poses": poses}


@dataclass(frozen=True)
class CropBoxes:
    """``boxes`` (K, 4): per window the box around the people over its frames, grown by ``margin`` and
    squared, with training jitter ``jitter`` (:func:`vpnet.data.clips.crop_box`). A window where nobody
    is seen takes the box over the whole video; no 2D joints: the whole frame."""

    margin: float = 0.1
    jitter: float = 0.0

    def __call__(self, state: State) -> State:
        seq, size = state["seq"], state["frame_size"]
        rng = _rng(state, "crop jitter") if self.jitter else None
        uv = clips.video_uv(seq, size)
        whole = clips.people_box(uv, seq.present) if uv is not None else None
        boxes = np.stack([clips.crop_box(None if uv is None else uv[w], seq.present[w], size, margin=self.margin,
                                         jitter=self.jitter, rng=rng, fallback=whole)
                          for w in state["windows"]])
        return {**state, "boxes": boxes}


@dataclass(frozen=True)
class CentreBoxes:
    """``boxes`` (K, 4): the centre square of ``fraction`` of the frame's short side, for every window;
    224/256 is the Kinetics test crop (short side 256, centre 224), for models that read no poses."""

    fraction: float = 224 / 256

    def __call__(self, state: State) -> State:
        box = clips.centre_box(state["frame_size"], self.fraction)
        return {**state, "boxes": np.tile(box, (len(state["windows"]), 1))}


@dataclass(frozen=True)
class ReadClips:
    """``clips`` (K, T, size, size, 3) uint8: the windows' frames cut to their boxes, read from ``source``
    (:func:`vpnet.data.video.read_clips`)."""

    size: int

    def __call__(self, state: State) -> State:
        return {**state, "clips": read_clips(state["source"], state["windows"], state["boxes"], self.size)}


@dataclass(frozen=True)
class ToModelRange:
    """``video`` (K, 3, T, S, S) float32 in [-1, 1] from ``clips`` (:func:`vpnet.data.clips.to_model_range`),
    which it replaces."""

    def __call__(self, state: State) -> State:
        state = dict(state)
        state["video"] = clips.to_model_range(state.pop("clips"))
        return state


# ---------------------------------------------------------------------------------------------
# the sample steps of a dataset item and of a prediction: one composition


Mode = Literal["train", "test"]


def resolve_pose_span(pose_span: str, *, uses_video: bool) -> str:
    """``data.pose_span`` made concrete: ``auto`` is ``window`` for a model that reads video, ``clip`` for a
    pose-only model (it has no RGB window). Training, evaluation and prediction all call this."""
    if pose_span == "auto":
        return "window" if uses_video else "clip"
    if pose_span not in ("window", "clip"):
        raise ValueError(f"pose_span must be 'auto', 'window' or 'clip', got {pose_span!r}")
    return pose_span


@dataclass(frozen=True)
class ClipSettings:
    """How samples are cut: built from a DataConfig by ``build_dataset`` (training, evaluation) and from a
    :class:`vpnet.inference.ModelSpec` by prediction, so both cut a window the same way."""

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
    #: pose-only models, which have no RGB window). See :func:`resolve_pose_span`.
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


def sample_steps(settings: ClipSettings, *, video: bool = True, read: bool = True, poses: bool = True,
                 hop: int | None = None, slide: bool = False) -> Compose:
    """The steps of a sample cut as ``settings`` say (see :mod:`vpnet.data.datasets`).

    ``video=False``: poses only (no crop box). ``read=False``: the crop boxes but no frames (prediction
    streams them itself). ``poses=False``: no pose tensor (an ``l1`` model at prediction). ``slide``:
    windows every ``hop`` frames over the whole video (prediction) instead of the ``num_clips`` spread
    test windows; with ``pose_span=clip`` each window is then the clip its poses are spread over.
    """
    s = settings
    train = s.mode == "train"
    how = "train" if train else "slide" if slide else "spread"
    steps: list[Step] = [
        AlignFrames(),
        SelectActor(),
        SampleWindows(s.clip_len, s.stride, how=how, sampling=s.sampling, num_clips=s.num_clips, hop=hop),
        SamplePoseFrames(s.clip_len, s.t_p, span=s.pose_span, random=train, crop=s.pose_augment.crop,
                         per_window=slide),
    ]
    if poses:
        steps.append(GatherPoses(norm=s.pose_norm, augment=s.pose_augment if train else None))
    if video:
        steps.append(CropBoxes(margin=s.margin, jitter=s.jitter if train else 0.0))
        if read:
            steps += [ReadClips(s.size), ToModelRange()]
    return Compose(steps)

"""Live recognition: windows scored as frames arrive, in one decoding pass, the stages overlapped.

:meth:`vpnet.inference.Recognizer.stream` and ``vpnet predict SOURCE --live`` run this. Three threads
hand work on through small bounded queues, so the slowest stage sets the pace and memory stays flat:

1. **decoding** (PyAV, ``thread_type="AUTO"``): a file, a camera device (``/dev/video0``) or a network
   stream (``rtsp://``, ``http://``, ...), or frames given in memory. Frames of a PyAV source are held as
   YUV 4:2:0 planes (half the bytes of RGB, and no full-frame colour conversion); the crop's pixels are
   converted (OpenCV, BT.601) only where a window needs them.
2. **poses and crops**: MediaPipe Pose runs on the frames the windows sample for their ``t_p`` poses only
   (20 of a 64-frame window), not on every frame: the model reads no other pose, and the person box of a
   window is the box around the joints of these frames (decision, measured in ``benchmarks/RESULTS.md``:
   the boxes over all frames and over the sampled ones differ by a few pixels, and MediaPipe's cost falls
   2.6x on the NTU sample, 36 of its 103 frames). When a window's last frame is in, its box and poses are
   made and its frames cropped.
3. **the model** (any backend: PyTorch, onnxruntime, OpenVINO), one window at a time.

Windows: on the model's timeline (the video resampled by frame index to the model's training rate, as
``predict`` does). A source that declares its frame count (a file) gets exactly the windows ``predict``
cuts (:func:`vpnet.data.clips.sliding_windows`: the last one ends on the last frame); a live source one
window every ``hop`` frames at the training stride, as long as frames come. Each window is reported once,
in order, with ``latency_s``: wall-clock seconds from the arrival of its last frame to its result.

Poses in a window: a sampled frame where MediaPipe finds nobody takes the nearest sampled frame of the
window where it did (never zeros); a window where nobody is seen takes the actor's last pose and box from
earlier windows; a window before anybody was seen at all is reported without scores (``top_class``
null, ``note`` saying why). Nothing is skipped.

Bad input: a source that stalls (no frame for ``stall_timeout`` seconds), ends before the frame count it
declared, fails to decode mid-way or changes resolution: every window completed so far is reported, then
:class:`StreamError` names the source and what happened.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vpnet.data import clips
from vpnet.data.types import DataError, PoseSequence

__all__ = ["LiveWindow", "StreamError", "stream_windows", "open_frames", "is_stream_url"]

#: URL schemes that are network streams (PyAV/FFmpeg opens them): read with a timeout, never paced.
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
#: frames waiting between two stages: enough to smooth jitter, few enough that memory stays flat.
QUEUE_FRAMES = 8
_END = object()


class StreamError(DataError):
    """The source stalled, ended early, failed to decode or changed resolution (after the windows so far)."""


@dataclass
class LiveWindow:
    """One scored window of a stream: frames ``start_frame``..``end_frame`` of the source (inclusive)."""

    index: int
    start_frame: int
    end_frame: int
    #: wall-clock seconds from the arrival of the window's last frame to this result.
    latency_s: float
    #: (K,) softmax scores; None when the window could not be scored (``note`` says why).
    scores: np.ndarray | None
    fps: float
    box: np.ndarray | None = None
    note: str = ""
    #: (T,) the source frames of the clip and (t_p,) those of its poses.
    frames: np.ndarray | None = None
    pose_frames: np.ndarray | None = None
    #: (3, t_p, J) the normalised poses given to the model; (m, n) A_S and (t_c,) A_T where the model has them.
    poses: np.ndarray | None = None
    a_s: np.ndarray | None = None
    a_t: np.ndarray | None = None

    def to_dict(self, classes: tuple[str, ...]) -> dict[str, Any]:
        """The JSON line of ``vpnet predict --live``."""
        k = None if self.scores is None else int(self.scores.argmax())
        d: dict[str, Any] = {
            "start_frame": self.start_frame, "end_frame": self.end_frame,
            "start_time": round(self.start_frame / self.fps, 4), "end_time": round(self.end_frame / self.fps, 4),
            "latency_s": round(self.latency_s, 4), "top_class": None if k is None else classes[k],
            "score": None if k is None else round(float(self.scores[k]), 6),
            "scores": None if self.scores is None else [round(float(s), 6) for s in self.scores]}
        if self.note:
            d["note"] = self.note
        return d


# ---------------------------------------------------------------------------------------------
# frames


class _Frame:
    """A decoded frame: RGB (H, W, 3) or YUV 4:2:0 planes (H * 3 / 2, W) of even sides."""

    __slots__ = ("data", "yuv", "width", "height")

    def __init__(self, data: np.ndarray, yuv: bool):
        self.data, self.yuv = data, yuv
        self.height = data.shape[0] * 2 // 3 if yuv else data.shape[0]
        self.width = data.shape[1]

    def rgb(self) -> np.ndarray:
        if not self.yuv:
            return self.data
        import cv2

        return cv2.cvtColor(self.data, cv2.COLOR_YUV2RGB_I420)

    def crop(self, box: np.ndarray, size: int) -> np.ndarray:
        """(size, size, 3) uint8: :func:`vpnet.data.clips.crop_resize` of ``box``, converting only its pixels."""
        if not self.yuv:
            return clips.crop_resize(self.data[None], box, size)[0]
        import cv2

        x0, y0, x1, y1 = (int(v) for v in box)
        ex0, ey0 = x0 & ~1, y0 & ~1  # chroma is sampled per 2x2 pixels: cut on even pixels
        ex1, ey1 = min(self.width, (x1 + 1) & ~1), min(self.height, (y1 + 1) & ~1)
        h, w, ch = self.height, ex1 - ex0, ey1 - ey0
        y = self.data[ey0:ey1, ex0:ex1]
        u = self.data[h:h + h // 4].reshape(h // 2, self.width // 2)[ey0 // 2:ey1 // 2, ex0 // 2:ex1 // 2]
        v = self.data[h + h // 4:].reshape(h // 2, self.width // 2)[ey0 // 2:ey1 // 2, ex0 // 2:ex1 // 2]
        i420 = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(ch * 3 // 2, w)
        part = cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)
        return clips.crop_resize(part[None], np.array([x0 - ex0, y0 - ey0, x1 - ex0, y1 - ey0]), size)[0]


def is_stream_url(source: str | Path) -> bool:
    return str(source).lower().startswith(STREAM_SCHEMES)


def open_frames(source: str | Path, *, stall_timeout: float = 10.0, pace: bool = False,
                threads: int = 0) -> tuple[Iterator[_Frame], float, int | None, tuple[int, int]]:
    """(frames, fps, frame count or None, (width, height)) of a video file, camera device or stream URL, decoded by
    PyAV with frame and slice threads. ``pace``: deliver a file's frames at its own frame rate (a replay, as
    a camera would). A decoding error mid-way is a :class:`StreamError`; so is a file that ends before the
    frames its container holds."""
    import av

    name = str(source)
    options: dict[str, Any] = {}
    fmt = None
    if name.startswith("/dev/video"):
        fmt = "v4l2"
    try:
        container = av.open(name, format=fmt, options=options,
                            timeout=(stall_timeout, stall_timeout) if is_stream_url(name) else None)
    except (av.error.FFmpegError, OSError) as e:
        raise DataError(name, f"cannot open video source (not a video, a device or a reachable stream): {e}") from None
    if not container.streams.video:
        container.close()
        raise DataError(name, "the source has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    if threads:
        stream.thread_count = threads
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    declared = None
    if fmt is None and not is_stream_url(name):  # a file: its frames counted by demuxing (no decoding)
        from vpnet.data.video import open_video

        declared = open_video(name).num_frames

    def frames() -> Iterator[_Frame]:
        n = 0
        t0 = time.monotonic()
        try:
            for frame in container.decode(stream):
                if pace and fps > 0:
                    wait = t0 + n / fps - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                even = frame.width % 2 == 0 and frame.height % 2 == 0
                if even:
                    data = (frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p"))
                    yield _Frame(data.to_ndarray(), yuv=True)
                else:
                    yield _Frame(frame.to_ndarray(format="rgb24"), yuv=False)
                n += 1
        except av.error.FFmpegError as e:
            raise StreamError(name, f"decoding failed after {n} frames (a broken or cut stream): {e}") from None
        finally:
            container.close()
        if declared is not None and n < declared:
            raise StreamError(name, f"ended early: {n} of its {declared} frames decoded")

    return frames(), fps, declared, (int(stream.codec_context.width), int(stream.codec_context.height))


# ---------------------------------------------------------------------------------------------
# the pipeline


def _window_plan(num_frames: int | None, clip_len: int, stride: int, hop: int | None,
                 sampling: str) -> Iterator[np.ndarray]:
    """Windows (T,) on the model's timeline, in order of their first frame."""
    if num_frames is not None:
        yield from clips.sliding_windows(num_frames, clip_len, stride=stride, hop=hop, sampling=sampling)
        return
    span = (clip_len - 1) * stride + 1
    step = hop or span
    k = 0
    while True:
        yield k * step + np.arange(clip_len) * stride
        k += 1


@dataclass
class _Open:
    """A window in progress: its frames (model timeline), where they come from, what has arrived."""

    index: int
    frames: np.ndarray
    pose_frames: np.ndarray
    held: dict
    last: int


def stream_windows(frames: Iterable, *, spec, backend: Callable[[Mapping[str, np.ndarray]], dict],
                   source: str, fps: float, model_fps: float, num_frames: int | None = None,
                   hop: int | None = None, stall_timeout: float = 10.0,
                   pose_extractor: Callable[[], Any] | None = None) -> Iterator[LiveWindow]:
    """Score the windows of ``frames`` as they arrive (see the module docstring); yields :class:`LiveWindow`.

    ``frames``: :class:`_Frame` objects (from :func:`open_frames`) or (H, W, 3) uint8 RGB arrays. ``fps``:
    their rate; ``model_fps``: the rate the windows are cut at; ``num_frames``: the frame count the source
    declares (None: a live source). ``pose_extractor``: a factory of :class:`vpnet.poses.PoseExtractor`
    (None: MediaPipe, where the model needs poses). Closing the iterator (or Ctrl-C) stops every stage.
    """
    stop = threading.Event()
    q_frames: queue.Queue = queue.Queue(QUEUE_FRAMES)
    q_model: queue.Queue = queue.Queue(2)
    q_out: queue.Queue = queue.Queue()

    def put(q: queue.Queue, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def decode() -> None:
        try:
            for f in frames:
                if not put(q_frames, (_as_frame(f), time.monotonic())):
                    return
            put(q_frames, (_END, None))
        except Exception as e:  # noqa: BLE001 - handed to the consumer, which raises it after the windows so far
            put(q_frames, (e, None))

    centre = spec.crop == "centre" and not spec.uses_poses
    needs_poses = spec.uses_poses or not centre
    ratio = fps / model_fps
    n_model = None if num_frames is None else len(clips.resample_index(num_frames, fps, model_fps))

    def next_frame(i: int):
        """(frame, arrival time) from the decoder, None when stopped; a stall is a :class:`StreamError`."""
        since = time.monotonic()  # from when this stage waits (not while it waited on the model)
        while True:
            try:
                return q_frames.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return None
                if time.monotonic() - since > stall_timeout:
                    raise StreamError(source, f"stalled: no frame for {stall_timeout:g} s after frame {i}") from None

    def prepare() -> None:
        """Poses and crops: the coordinator between decoding and the model."""
        extractor = quiet = None
        try:
            if needs_poses:
                if pose_extractor is None:
                    from vpnet.poses import PoseExtractor, _NativeStderrFilter

                    # MediaPipe's graph threads print their chatter after a frame's call returns: the
                    # filter spans the stream (what else is written to stderr meanwhile comes at its end)
                    quiet = _NativeStderrFilter()
                    quiet.__enter__()
                    extractor = PoseExtractor()
                else:
                    extractor = pose_extractor()
            plan = _window_plan(n_model, spec.clip_len, spec.frame_stride, hop, spec.sampling)
            pending = next(plan, None)
            opened: list[_Open] = []
            landmarks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            last_seen: list = [None, None]  # the actor's last (world, image) landmarks and box
            k_next = j = i = 0
            size = None
            while True:
                got = next_frame(i)
                if got is None:
                    return
                item, arrival = got
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                frame = item
                if size is None:
                    size = (frame.width, frame.height)
                elif (frame.width, frame.height) != size:
                    raise StreamError(source, f"resolution changed from {size[0]}x{size[1]} to {frame.width}x"
                                              f"{frame.height} at frame {i}")
                # the model frames this video frame is (none when resampling drops it, several when it repeats)
                while _video_frame(j, ratio) <= i and (n_model is None or j < n_model):
                    while pending is not None and pending.min() <= j:
                        pf = _pose_frames(pending, spec)
                        opened.append(_Open(k_next, pending, pf, {}, int(pending.max())))
                        k_next += 1
                        pending = next(plan, None)
                    done = []
                    for w in opened:
                        if j in w.pose_frames and i not in landmarks and extractor is not None:
                            landmarks[i] = extractor.process(frame.rgb())
                        if j in w.frames:
                            w.held[j] = (i, frame if spec.uses_video else None)
                        if j == w.last:
                            done.append(w)
                    for w in done:
                        opened.remove(w)
                        job = _window_inputs(w, spec, landmarks, last_seen, size, centre, source, ratio)
                        if not put(q_model, (*job, arrival)):
                            return
                        used = {_video_frame(int(f), ratio) for o in opened for f in o.pose_frames}
                        for key in [key for key in landmarks if key not in used]:
                            del landmarks[key]
                    j += 1
                i += 1
            if n_model is not None and (opened or pending is not None):
                raise StreamError(source, f"ended early: the video ended after {i} frames, before its last "
                                          "window was complete")
            put(q_model, (_END,))
        except BaseException as e:  # noqa: BLE001 - the consumer raises it after the windows so far
            put(q_model, (e,))
        finally:
            if extractor is not None:
                extractor.close()
            if quiet is not None:
                quiet.__exit__(None, None, None)
                quiet.close()

    def score() -> None:
        try:
            while True:
                try:
                    job = q_model.get(timeout=0.1)
                except queue.Empty:
                    if stop.is_set():
                        return
                    continue
                if len(job) == 1:
                    q_out.put(job[0])
                    return
                window, feeds, arrival = job
                window.fps = fps
                if feeds is not None:
                    out = backend(feeds)
                    logits = out["logits"][0].astype(np.float64)
                    e = np.exp(logits - logits.max())
                    window.scores = (e / e.sum()).astype(np.float32)
                    window.a_s = out["a_s"][0] if "a_s" in out else None
                    window.a_t = out["a_t"][0] if "a_t" in out else None
                q_out.put((window, arrival))
        except BaseException as e:  # noqa: BLE001
            q_out.put(e)

    threads = [threading.Thread(target=t, name=f"vpnet-{t.__name__}", daemon=True) for t in (decode, prepare, score)]
    for t in threads:
        t.start()
    try:
        while True:
            item = q_out.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            window, arrival = item
            window.latency_s = time.monotonic() - arrival
            yield window
    finally:
        stop.set()
        for t in threads[1:]:
            t.join(timeout=5)


def _as_frame(f) -> _Frame:
    if isinstance(f, _Frame):
        return f
    f = np.asarray(f)
    if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
        raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {f.shape} {f.dtype}")
    return _Frame(f, yuv=False)


def _pose_frames(window: np.ndarray, spec) -> np.ndarray:
    """(t_p,) the model frames a window takes its poses from (as ``predict``: segment centres of the window,
    or of the frame range it spans for models trained on poses over whole clips)."""
    if spec.pose_span == "clip":
        lo, hi = int(window.min()), int(window.max())
        return lo + clips.spread_positions(hi - lo + 1, spec.t_p, 1)[0]
    return window[clips.pose_positions(spec.clip_len, spec.t_p)]


def _video_frame(j: int, ratio: float) -> int:
    """The source frame that model frame ``j`` shows (``ratio``: source over model frame rate)."""
    return int(np.floor(j * ratio + 0.5))


def _window_inputs(w: _Open, spec, landmarks: dict, last_seen: list, size: tuple[int, int], centre: bool,
                   source: str, ratio: float):
    """(window without scores, feeds or None): a complete window's model inputs."""
    frames = np.array([w.held[int(j)][0] for j in w.frames], dtype=np.int64)
    pose_frames = np.array([_video_frame(int(j), ratio) for j in w.pose_frames], dtype=np.int64)
    result = LiveWindow(w.index, int(frames.min()), int(frames.max()), 0.0, None, 0.0, frames=frames,
                        pose_frames=pose_frames)
    feeds: dict[str, np.ndarray] = {}
    box = None
    if centre:
        box = clips.centre_box(size)
    else:
        marks = [landmarks.get(int(f)) for f in pose_frames]
        marks = [m if m is not None and np.isfinite(m[0]).all() else None for m in marks]  # a person seen, or None
        found = [m for m in marks if m is not None]
        if not found and last_seen[0] is None:
            result.note = "no person seen yet: not scored"
            return result, None
        if found:
            unseen = np.full((33, 4), np.nan)
            world, image = (np.stack([unseen if m is None else m[k] for m in marks]).astype(np.float32)
                            for k in (0, 1))
            last_seen[0] = (found[-1][0][None], found[-1][1][None])
        else:
            world, image = last_seen[0]
        from vpnet.data.custom import mediapipe_sequence

        seq: PoseSequence = mediapipe_sequence(world, image, source=source, image_size=size)
        track = np.where(seq.present[:, 0], 0, -1)
        if spec.uses_poses:
            idx = np.arange(seq.num_frames) if found else np.zeros(len(w.pose_frames), dtype=np.int64)
            result.poses = clips.actor_poses(seq, idx, track, norm=spec.pose_norm)
            feeds["poses"] = result.poses[None]
        uv = clips.video_uv(seq, size)
        box = clips.crop_box(uv, seq.present, size, margin=spec.crop_margin, fallback=last_seen[1])
        if found:
            last_seen[1] = clips.people_box(uv, seq.present)
    if spec.uses_video:
        crops = np.stack([w.held[int(j)][1].crop(box, spec.crop_size) for j in w.frames])
        feeds["video"] = np.ascontiguousarray(clips.to_model_range(crops[None]))
    result.box = box
    return result, feeds



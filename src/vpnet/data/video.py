"""Frame-accurate video reading: video files through PyAV, or folders of numbered images.

:func:`open_video` returns a :class:`vpnet.data.types.VideoSource`:

- :class:`VideoFile` (any container/codec FFmpeg decodes; tested: AVI and MP4 with H.264 and
  MPEG-4 Part 2, Matroska) decodes **sequentially** and keeps the wanted frames, stopping after the
  last one. Reading frames one by one with a seek each is 10-25x slower (measured on NTU's AVI files). For
  containers whose timestamps identify frames (MP4/MOV, Matroska/WebM) it first jumps to the last
  keyframe before the first wanted frame and recognises frames by their timestamps, which is exact;
  AVI timestamps are decode-order counters (H.264 with B-frames comes out as pts 1, 3, 4, 2, ...),
  so AVI is always decoded from the start and frames are counted.
- :class:`FrameFolder` reads a folder of ``.jpg``/``.jpeg``/``.png`` frames ordered by the last
  number in their names (``frame_2.jpg`` before ``frame_10.jpg``). When some names end in ``_rgb``
  (colour frames beside depth images, as in the N-UCLA release) only those are frames. The numbers
  must run without gaps (from any start): a missing image is a DataError, never a silent shift of
  every later frame against the poses (no fill: a repeated frame would hide a damaged copy).

``num_frames`` is exact without decoding: the number of non-empty packets of the video stream
(container metadata can be wrong, or 0 as in Matroska). A file whose readable packets fall short of
the count its container declares by more than :data:`TRUNCATED_TOLERANCE` is a truncated file: a
DataError, not a shorter video (which would silently misalign every later pose). Frame ``i`` is the ``i``-th frame in
presentation order, the convention of NTU RGB+D, whose skeleton frame ``i`` is video frame ``i``.

:func:`read_clips` reads the crops of several windows, decoding each frame once.

Errors (unreadable or truncated files, out-of-range indices) raise
:class:`vpnet.data.types.DataError` naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vpnet.data.clips import crop_resize
from vpnet.data.types import DataError, VideoSource

#: image suffixes a frame folder may hold.
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
#: video files by suffix, for folders of videos (``vpnet predict DIR``, ``data.dataset=folders``).
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")
#: containers whose packet timestamps identify frames, so that seeking can be exact.
_PTS_RELIABLE_FORMATS = ("mov", "mp4", "matroska", "webm")

#: how far the readable frame count may fall short of the count the container declares (as a fraction)
#: before the file counts as truncated: headers and packets differ by a frame or two in sound files
#: (edit lists, a dropped last frame), a cut-off file misses a large part.
TRUNCATED_TOLERANCE = 0.05

#: called on each decoded (H, W, 3) uint8 RGB frame, e.g. to crop and resize it at once.
FrameTransform = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class VideoInfo:
    """What a video is, without decoding it."""

    path: str
    num_frames: int  # exact: counted packets (files) or images (folders)
    fps: float
    width: int
    height: int
    codec: str  # FFmpeg codec name (``h264``, ``mpeg4``) or ``images``
    container: str  # FFmpeg format name (``avi``, ``mov,mp4,...``) or ``folder``
    #: frame count claimed by the container (0 when it claims none); may disagree with num_frames.
    metadata_frames: int = 0


def open_video(path: str | Path, *, fps: float | None = None, threads: int = 0) -> VideoFile | FrameFolder:
    """A :class:`VideoSource` for a video file or a folder of frames.

    Args:
        path: a video file, or a folder of numbered ``.jpg``/``.png`` images.
        fps: frame rate of a frame folder (default 30); ignored for files, which know theirs.
        threads: decoder threads for files (0: FFmpeg's choice, about one per core).
    """
    p = Path(path)
    if p.is_dir():
        return FrameFolder(p, fps=30.0 if fps is None else fps)
    if not p.is_file():
        raise DataError(p, "no such video file or frame folder")
    return VideoFile(p, threads=threads)


def video_info(path: str | Path) -> VideoInfo:
    """:class:`VideoInfo` of a video file or frame folder (demuxes a file, decodes nothing)."""
    return open_video(path).info()


def check_indices(path: Path, indices: np.ndarray | Sequence[int], num_frames: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 1:
        raise DataError(path, f"frame indices must be a 1-D list, got shape {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        if not np.all(np.mod(idx, 1) == 0):
            raise DataError(path, f"frame indices must be integers, got {idx[:5]}...")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= num_frames):
        bad = idx[(idx < 0) | (idx >= num_frames)]
        raise DataError(path, f"frame index {int(bad[0])} out of range: the video has {num_frames} frames "
                              f"(valid 0..{num_frames - 1})")
    return idx


def read_clips(video: VideoSource, windows: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """The crops of K windows: (K, T, size, size, 3) uint8 RGB from windows (K, T) and boxes (K, 4).

    Every needed frame is decoded once (test windows overlap) and cut down as soon as it is decoded,
    so a 1080p clip never sits in memory whole: with one box straight to the output size; with
    several, to the union of the boxes, shrunk only as far as the smallest box allows.
    """
    if np.all(boxes == boxes[0]):
        frames = video.read(windows.ravel(), transform=lambda f: crop_resize(f[None], boxes[0], size)[0])
        return frames.reshape(*windows.shape, *frames.shape[1:])
    # Each distinct frame held once (union-sized, larger than the output), not once per window.
    needed, inverse = np.unique(windows, return_inverse=True)
    inverse = inverse.reshape(windows.shape)
    union = np.concatenate([boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)])
    scale = min(1.0, size / float((boxes[:, 2:] - boxes[:, :2]).min()))
    out_w, out_h = (max(1, round(float(v) * scale)) for v in union[2:] - union[:2])
    frames = video.read(needed, transform=lambda f: crop_resize(f[None], union, (out_h, out_w))[0])
    # The boxes in the shrunk union's pixels, rounded outwards.
    local = (boxes - np.tile(union[:2], 2)) * np.array([out_w, out_h, out_w, out_h]) / np.tile(union[2:] - union[:2], 2)
    local = np.concatenate([np.floor(local[:, :2]), np.minimum(np.ceil(local[:, 2:]), [out_w, out_h])], axis=1)
    return np.stack([crop_resize(frames[inv], box, size) for inv, box in zip(inverse, local)])


class FrameCollector:
    """Puts each wanted decoded frame into every output slot that asked for it."""

    def __init__(self, idx: np.ndarray, transform: FrameTransform | None):
        self.wanted, inverse = np.unique(idx, return_inverse=True)
        # slots[k] = positions in the output of the k-th wanted frame (repeats allowed)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(self.wanted) + 1))
        self.slots = [order[bounds[k]:bounds[k + 1]] for k in range(len(self.wanted))]
        self.n = len(idx)
        self.transform = transform
        self.out: np.ndarray | None = None

    def put(self, k: int, rgb: np.ndarray) -> None:
        img = self.transform(rgb) if self.transform is not None else rgb
        if self.out is None:
            self.out = np.empty((self.n, *img.shape), dtype=img.dtype)
        elif img.shape != self.out.shape[1:]:
            raise ValueError(f"frame transform returned shape {img.shape}, earlier frames {self.out.shape[1:]}")
        self.out[self.slots[k]] = img

    def result(self, empty_shape: tuple[int, ...]) -> np.ndarray:
        if self.out is None:  # no indices asked for
            return np.empty((0, *empty_shape), dtype=np.uint8)
        return self.out


class VideoFile:
    """A video file decoded with PyAV; see the module docstring for how frames are found.

    Holds no open file between calls, so it can be pickled into DataLoader workers.
    """

    def __init__(self, path: str | Path, *, threads: int = 0):
        self.path = Path(path)
        self.threads = threads
        self._index: _PacketIndex | None = None

    # -- metadata -------------------------------------------------------------------------
    def _open(self):
        import av

        try:
            container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as e:
            raise DataError(self.path, f"cannot open video: {e}") from None
        if not container.streams.video:
            container.close()
            raise DataError(self.path, "file has no video stream")
        return container

    def _get_index(self) -> _PacketIndex:
        if self._index is None:
            self._index = _PacketIndex.build(self)
        return self._index

    @property
    def num_frames(self) -> int:
        return self._get_index().num_frames

    @property
    def fps(self) -> float:
        return self._get_index().fps

    @property
    def size(self) -> tuple[int, int]:
        return self._get_index().size

    def info(self) -> VideoInfo:
        ix = self._get_index()
        return VideoInfo(str(self.path), ix.num_frames, ix.fps, ix.size[0], ix.size[1], ix.codec,
                         ix.container, ix.metadata_frames)

    def __repr__(self) -> str:
        return f"VideoFile({str(self.path)!r})"

    # -- decoding -------------------------------------------------------------------------
    def read(self, indices: np.ndarray | Sequence[int], *, transform: FrameTransform | None = None) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as (K, H, W, 3) uint8 RGB.

        ``transform`` is applied to each decoded frame as soon as it is decoded (e.g. crop and
        resize), so only the transformed frames are kept; they must all have one shape.
        """
        ix = self._get_index()
        idx = check_indices(self.path, indices, ix.num_frames)
        col = FrameCollector(idx, transform)
        if len(col.wanted):
            start = ix.seek_target(int(col.wanted[0]))
            if start is None or not self._decode(col, seek_pts=start):
                self._decode(col, seek_pts=None)
        return col.result((ix.size[1], ix.size[0], 3))

    def _decode(self, col: FrameCollector, *, seek_pts: int | None) -> bool:
        """Decode into ``col``; False if a keyframe seek could not find every frame exactly."""
        import av

        ix = self._get_index()
        wanted = col.wanted
        container = self._open()
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if self.threads:
                stream.thread_count = self.threads
            k = 0  # next wanted frame
            i = -1  # index of the frame just decoded
            if seek_pts is not None:
                container.seek(seek_pts, stream=stream, backward=True, any_frame=False)
            try:
                for frame in container.decode(stream):
                    if seek_pts is None:
                        i += 1
                    else:
                        i = ix.frame_of_pts.get(frame.pts, -1)
                        if i < 0:  # a timestamp we do not know: not exact, start over
                            return False
                    if i < wanted[k]:
                        continue
                    if i > wanted[k]:  # skipped past a wanted frame: only possible after a seek
                        return False
                    col.put(k, frame.to_ndarray(format="rgb24"))
                    k += 1
                    if k == len(wanted):
                        return True
            except av.error.FFmpegError as e:
                raise DataError(
                    self.path, f"decoding failed after {i + 1} frames (corrupt or truncated?): {e}") from None
            if seek_pts is not None:
                return False
            raise DataError(self.path, f"video ended after {i + 1} decodable frames, but it has "
                                       f"{ix.num_frames} packets and frame {int(wanted[k])} was asked "
                                       "for (truncated or corrupt file?)")
        finally:
            container.close()


@dataclass(frozen=True)
class _PacketIndex:
    """What demuxing (no decoding) tells about a file: exact frame count, timestamps, keyframes."""

    num_frames: int
    fps: float
    size: tuple[int, int]
    codec: str
    container: str
    metadata_frames: int
    #: pts -> frame index (presentation order); empty when pts cannot identify frames.
    frame_of_pts: dict[int, int]
    #: sorted pts of the keyframes (empty when seeking is not exact for this file).
    key_pts: np.ndarray
    #: pts of each frame in presentation order (empty when not seekable).
    pts: np.ndarray

    @classmethod
    def build(cls, video: VideoFile) -> _PacketIndex:
        import av

        container = video._open()
        try:
            stream = container.streams.video[0]
            cc = stream.codec_context
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            fmt = container.format.name
            packets: list[tuple[int | None, bool, bool]] = []  # (pts, keyframe, corrupt)
            try:
                for packet in container.demux(stream):
                    # the demuxer ends with an empty packet; discarded packets (edit lists) are
                    # dropped by the decoder, so neither is a frame.
                    if packet.size and not packet.is_discard:
                        packets.append((packet.pts, packet.is_keyframe, packet.is_corrupt))
            except av.error.FFmpegError as e:
                raise DataError(video.path, f"cannot read video packets (truncated or corrupt?): {e}") from None
            while packets and packets[-1][2]:  # a cut-off tail decodes to concealment, not frames
                packets.pop()
            count = len(packets)
            pts = [p for p, _, _ in packets if p is not None]
            keys = [p for p, key, _ in packets if key and p is not None]
            complete = len(pts) == count
            if count == 0:
                raise DataError(video.path, "video stream has no frames")
            if not cc.width or not cc.height:
                raise DataError(video.path, "video stream has no frame size")
            claimed = int(stream.frames or 0)
            if count < claimed * (1 - TRUNCATED_TOLERANCE) - 1:
                raise DataError(video.path, f"only {count} of the {claimed} frames the container declares can be "
                                            "read (truncated or corrupt file?)")
            seekable = (complete and any(f in fmt.split(",") for f in _PTS_RELIABLE_FORMATS)
                        and len(set(pts)) == len(pts) and bool(keys))
            spts = np.sort(np.asarray(pts, dtype=np.int64)) if seekable else np.empty(0, np.int64)
            return cls(
                num_frames=count, fps=fps, size=(int(cc.width), int(cc.height)), codec=cc.name,
                container=fmt, metadata_frames=claimed,
                frame_of_pts={int(p): i for i, p in enumerate(spts)},
                key_pts=np.sort(np.asarray(keys, dtype=np.int64)) if seekable else np.empty(0, np.int64),
                pts=spts,
            )
        finally:
            container.close()

    def seek_target(self, first: int) -> int | None:
        """pts of the last keyframe at or before frame ``first``, or None to decode from the start."""
        if not len(self.key_pts):
            return None
        k = int(np.searchsorted(self.key_pts, self.pts[first], side="right")) - 1
        if k <= 0 or self.key_pts[k] <= self.pts[0]:
            return None  # the first keyframe: decoding from the start is the same work
        return int(self.key_pts[k])


_NUMBER = re.compile(r"(\d+)")


class FrameFolder:
    """A folder of frame images, ordered by the last number in each file name."""

    def __init__(self, path: str | Path, *, fps: float = 30.0):
        self.path = Path(path)
        files = [f for f in self.path.iterdir() if f.suffix.lower() in FRAME_SUFFIXES and f.is_file()]
        if not files:
            raise DataError(self.path, f"frame folder has no images ({', '.join(FRAME_SUFFIXES)})")
        rgb = [f for f in files if f.stem.lower().endswith("_rgb")]
        if rgb:  # colour frames beside depth images (the N-UCLA release): the colour ones
            files = rgb
        keyed = []
        for f in files:
            nums = _NUMBER.findall(f.stem)
            if not nums:
                raise DataError(f, "frame image name has no frame number")
            keyed.append((int(nums[-1]), f.name, f))
        keyed.sort()
        numbers = [k[0] for k in keyed]
        if len(set(numbers)) != len(numbers):
            dup = next(n for n in numbers if numbers.count(n) > 1)
            raise DataError(self.path, f"two frame images carry the number {dup}")
        gaps = [i for i in range(1, len(numbers)) if numbers[i] != numbers[i - 1] + 1]
        if gaps:  # a missing frame would shift every later frame against the poses
            i = gaps[0]
            missing = numbers[i] - numbers[i - 1] - 1
            raise DataError(self.path, f"frame numbers jump from {numbers[i - 1]} ({keyed[i - 1][1]}) to "
                                       f"{numbers[i]} ({keyed[i][1]}): {missing} frame{'s' * (missing > 1)} missing; "
                                       "frames must be numbered without gaps")
        self.files: list[Path] = [k[2] for k in keyed]
        self._fps = float(fps)
        self._size: tuple[int, int] | None = None

    @property
    def num_frames(self) -> int:
        return len(self.files)

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the first frame, from its header (nothing decoded)."""
        if self._size is None:
            from PIL import Image

            f = self.files[0]
            try:
                with Image.open(f) as img:
                    w, h = img.size
                    # cv2.imread (in _load) turns an image by its EXIF orientation: 5-8 swap the sides.
                    # The EXIF block read at open, not getexif(), which decodes a PNG to look for it.
                    exif = Image.Exif()
                    if img.info.get("exif"):
                        exif.load(img.info["exif"])
                    self._size = (h, w) if exif.get(0x0112, 1) in (5, 6, 7, 8) else (w, h)
            except OSError as e:  # PIL.UnidentifiedImageError included
                raise DataError(f, f"cannot read frame image (corrupt or not an image): {e}") from None
        return self._size

    def info(self) -> VideoInfo:
        w, h = self.size
        return VideoInfo(str(self.path), self.num_frames, self.fps, w, h, "images", "folder", self.num_frames)

    def __repr__(self) -> str:
        return f"FrameFolder({str(self.path)!r}, {self.num_frames} frames)"

    def _load(self, i: int) -> np.ndarray:
        import cv2

        f = self.files[i]
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(f, "cannot decode frame image (corrupt or not an image)")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def read(self, indices: np.ndarray | Sequence[int], *, transform: FrameTransform | None = None) -> np.ndarray:
        """Frames at ``indices`` as (K, H, W, 3) uint8 RGB; ``transform`` as in :meth:`VideoFile.read`."""
        idx = check_indices(self.path, indices, self.num_frames)
        col = FrameCollector(idx, transform)
        w, h = self.size
        for k, i in enumerate(col.wanted):
            img = self._load(int(i))
            if img.shape[:2] != (h, w):
                raise DataError(self.files[int(i)], f"frame is {img.shape[1]}x{img.shape[0]}, the folder's "
                                                   f"first frame {w}x{h}")
            col.put(k, img)
        return col.result((h, w, 3))

"""Samples from one video and its poses: temporal windows, the main actor, aligned and normalised
poses, the crop box around the people, resize and the model's value range.

Everything here is a pure function of arrays (and of an explicit ``numpy.random.Generator`` where
training draws something); the steps of :mod:`vpnet.data.pipeline` (the sample path of the datasets
and of own-video prediction) and the prepared store compose them with the readers and the video
sources.

Conventions:

- A *window* is the (T,) array of frame indices of one RGB clip. Training takes T frames at stride
  ``stride`` from a random start when the video is long enough, stride 1 otherwise. A video shorter
  than T frames is either looped (``sampling="loop"``, the authors' loaders: the window runs forward,
  jumps back to frame 0 and runs again) or stretched (``sampling="stretch"``: T indices spread
  monotonically over the whole video, frames repeated as needed). Test mode spreads K windows evenly
  over the video (the paper's several clips; the engine takes the max over clips); prediction on
  one's own video slides windows over all of it (:func:`sliding_windows`).
- Poses are sampled from **the same window** as the RGB clip (``pose_span="window"``): the window's T
  positions are cut into t_p equal segments and one position is taken per segment (random inside it
  for training, its centre at test), so every pose is the pose of one of the clip's frames. A
  pose-only model has no RGB window and draws its t_p poses the same way over the whole clip
  (``pose_span="clip"``).
- Poses are normalised (:func:`normalize_poses`): translation to the body centre of the first sampled
  pose (the paper's), optionally rotation to a body frame and scale; training may augment them
  (:class:`PoseAugment`).
- Boxes are ``(x0, y0, x1, y1)`` float64 arrays in pixels of the frame they refer to, x1/y1
  exclusive.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from vpnet.config import POSE_NORMS, SAMPLINGS
from vpnet.data.types import DataError, PoseSequence
from vpnet.errors import ConfigError
from vpnet.skeletons import Layout, get_layout

# ------------------------------------------------------------------------------------------------
# Temporal sampling


def _window_stride(num_frames: int, clip_len: int, stride: int) -> int:
    """``stride`` when a window of ``clip_len`` frames at that stride fits in the video, else 1."""
    return stride if num_frames >= (clip_len - 1) * stride + 1 else 1


def _window(start: int, num_frames: int, clip_len: int, stride: int) -> np.ndarray:
    # The modulo only bites for videos shorter than clip_len, which are looped.
    return (start + stride * np.arange(clip_len, dtype=np.int64)) % num_frames


def _check_lengths(num_frames: int, clip_len: int) -> None:
    if num_frames < 1:
        raise ValueError(f"cannot sample a clip from a video with {num_frames} frames")
    if clip_len < 1:
        raise ValueError(f"clip_len must be >= 1, got {clip_len}")


def segment_positions(length: int, count: int, *, rng: np.random.Generator | None = None,
                      offset: float = 0.5) -> np.ndarray:
    """(count,) positions in ``range(length)``, one per equal segment, non-decreasing.

    The ``length`` positions are cut into ``count`` equal segments; each gives one position: at a
    random place inside the segment when ``rng`` is given (training), else at ``offset`` of it (0.5:
    its centre). With count > length, segments are shorter than a position and positions repeat.
    """
    if count < 1:
        raise ValueError(f"the number of positions must be >= 1, got {count}")
    if length < 1:
        raise ValueError(f"cannot take positions from a range of {length}")
    edges = np.linspace(0.0, length, count + 1)
    where = rng.random(count) if rng is not None else np.full(count, offset)
    return np.minimum(np.floor(edges[:-1] + where * np.diff(edges)), length - 1).astype(np.int64)


def train_window(num_frames: int, clip_len: int, *, stride: int = 2, sampling: str = "loop",
                 rng: np.random.Generator) -> np.ndarray:
    """A training window: (T,) frame indices, T = ``clip_len``, from a random start.

    Stride ``stride`` when the video is long enough, else 1. A video shorter than T frames is looped
    (``sampling="loop"``: started at a random frame, wrapping round to frame 0) or stretched
    (``"stretch"``: one random frame in each of T equal segments of the video, so the indices are
    monotonic and cover it).
    """
    _check_lengths(num_frames, clip_len)
    _check_sampling(sampling)
    if sampling == "stretch" and num_frames < clip_len:
        return segment_positions(num_frames, clip_len, rng=rng)
    s = _window_stride(num_frames, clip_len, stride)
    span = (clip_len - 1) * s + 1
    high = num_frames - span + 1 if span <= num_frames else num_frames
    return _window(int(rng.integers(0, high)), num_frames, clip_len, s)


def eval_windows(num_frames: int, clip_len: int, *, stride: int = 2, num_clips: int = 1,
                 sampling: str = "loop") -> np.ndarray:
    """K = ``num_clips`` windows spread evenly over the video: (K, T) frame indices.

    Window k starts at ``(2k + 1) / 2K`` of the free range (one window: the centre of the video).
    Same stride rule as :func:`train_window`; a short video is looped from evenly spread starts, or
    stretched (window k takes the frame at ``(2k + 1) / 2K`` of each of the T segments).
    """
    _check_lengths(num_frames, clip_len)
    _check_sampling(sampling)
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    if sampling == "stretch" and num_frames < clip_len:
        return spread_positions(num_frames, clip_len, num_clips)
    s = _window_stride(num_frames, clip_len, stride)
    span = (clip_len - 1) * s + 1
    free = num_frames - span if span <= num_frames else num_frames - 1
    starts = np.floor(free * (2 * np.arange(num_clips) + 1) / (2 * num_clips) + 0.5).astype(np.int64)
    return np.stack([_window(int(b), num_frames, clip_len, s) for b in starts])


def spread_positions(length: int, count: int, num_clips: int) -> np.ndarray:
    """(K, count) test positions for K = ``num_clips`` clips: clip k takes ``(2k + 1) / 2K`` of every
    segment of :func:`segment_positions` (one clip: the centres), so K clips see different frames."""
    return np.stack([segment_positions(length, count, offset=(2 * k + 1) / (2 * num_clips))
                     for k in range(num_clips)])


def sliding_windows(num_frames: int, clip_len: int, *, stride: int, hop: int | None = None,
                    sampling: str = "loop") -> np.ndarray:
    """(W, T) windows sliding over the whole video: T = ``clip_len`` frames at ``stride`` (1 where it does
    not fit), one window every ``hop`` frames (default: one window span, so the windows tile the
    video); the last one ends on the last frame. A video shorter than a clip: one window, looped or
    stretched as at evaluation (:func:`eval_windows`)."""
    _check_lengths(num_frames, clip_len)
    s = _window_stride(num_frames, clip_len, stride)
    span = (clip_len - 1) * s + 1
    if span > num_frames:
        return eval_windows(num_frames, clip_len, stride=stride, num_clips=1, sampling=sampling)
    hop = span if hop is None else int(hop)
    if hop < 1:
        raise ValueError(f"hop must be >= 1 frame, got {hop}")
    starts = list(range(0, num_frames - span + 1, hop))
    if starts[-1] != num_frames - span:
        starts.append(num_frames - span)
    return np.stack([_window(b, num_frames, clip_len, s) for b in starts])


def pose_positions(clip_len: int, t_p: int, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """(t_p,) positions in a window of ``clip_len`` frames, one per equal segment
    (:func:`segment_positions`): random inside each segment when ``rng`` is given (training), the
    segment centre otherwise. With t_p > clip_len positions repeat."""
    return segment_positions(clip_len, t_p, rng=rng)


def _check_sampling(sampling: str) -> None:
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLINGS)}; got {sampling!r}")


def temporal_crop(num_frames: int, crop: float, rng: np.random.Generator) -> tuple[int, int]:
    """A random sub-range ``(start, length)`` of a video of ``num_frames`` frames keeping at least
    ``1 - crop`` of it (uniformly drawn length, then start): a temporal crop augmentation."""
    if not 0.0 <= crop < 1.0:
        raise ValueError(f"the temporal crop must be in [0, 1), got {crop}")
    length = max(1, int(round(num_frames * rng.uniform(1.0 - crop, 1.0))))
    return int(rng.integers(0, num_frames - length + 1)), length


# ------------------------------------------------------------------------------------------------
# Poses


def resample_index(num_frames: int, fps: float, to_fps: float) -> np.ndarray:
    """(M,) the frames of a ``num_frames``-frame video at ``fps`` that a ``to_fps`` timeline shows: frame j
    of the new timeline (time j / to_fps) is the source frame nearest that time, ``round(j * fps /
    to_fps)``; M covers the source's duration. Resampling by frame index: frames are dropped or
    repeated, never blended."""
    if num_frames < 1:
        raise ValueError(f"cannot resample {num_frames} frames")
    m = int(np.floor((num_frames - 1) * to_fps / fps + 1e-9)) + 1
    return np.minimum(np.floor(np.arange(m) * (fps / to_fps) + 0.5), num_frames - 1).astype(np.int64)


def take_frames(seq: PoseSequence, frames: np.ndarray) -> PoseSequence:
    """``seq`` at ``frames`` (any int indices, repeats allowed), e.g. :func:`resample_index`'s."""
    return dataclasses.replace(seq, xyz=seq.xyz[frames], uv=None if seq.uv is None else seq.uv[frames],
                               present=seq.present[frames])


def common_frames(video_frames: int, seq: PoseSequence, *, what: str = "") -> tuple[PoseSequence, str | None]:
    """``seq`` cut to the frames it shares with a video of ``video_frames`` frames, and a note when
    their lengths differ.

    Frame i of the skeleton is frame i of the video (checked on the real NTU sample). When one is
    longer, the extra frames have no counterpart and are left out (the usable length is the
    returned sequence's ``num_frames``): the item is still usable, the note says so (datasets log
    it, ``prepare`` reports it, prediction returns it). ``what`` names the item in the error when
    nothing is left.
    """
    n_v, n_p = int(video_frames), seq.num_frames
    n = min(n_v, n_p)
    if n < 1:
        raise DataError(what or seq.source or None, f"nothing to sample: video has {n_v} frames, skeleton {n_p}")
    if n_v == n_p:
        return seq, None
    note = (f"video has {n_v} frames, skeleton {n_p}: using the first {n} of both "
            f"({'video' if n_v > n_p else 'skeleton'} longer by {abs(n_v - n_p)})")
    if n < n_p:
        seq = dataclasses.replace(seq, xyz=seq.xyz[:n], uv=None if seq.uv is None else seq.uv[:n],
                                  present=seq.present[:n])
    return seq, note


def motion(xyz: np.ndarray, present: np.ndarray) -> float:
    """The 3D motion of one person: the variance over time of each joint coordinate (over the frames
    where he is present), summed over joints and axes. ``xyz`` (T, J, 3), ``present`` (T,).

    Squared displacements favour a person who really moves over a static false detection whose
    joints only jitter (a path length would add the jitter up over the frames). A person seen in
    fewer than two frames has no motion.
    """
    pts = xyz[present]
    return float(pts.astype(np.float64).var(axis=0).sum()) if len(pts) >= 2 else 0.0


def _centres(seq: PoseSequence) -> np.ndarray:
    """(T, M, 3) the layout centre of every body (NaN where absent)."""
    return seq.xyz[:, :, list(get_layout(seq.layout).center)].astype(np.float64).mean(axis=2)


def person_tracks(seq: PoseSequence, *, max_jump: float = 0.5) -> list[np.ndarray]:
    """The people of ``seq``: per person a (T,) array of the body holding him in each frame (-1: unseen).

    The Kinect loses a person now and then and finds him again under a new body id. Bodies are
    taken longest first; a body joins an existing track when it is seen only in frames where that
    track has nobody and, at each junction with the track, its centre is within ``max_jump`` metres
    of the track's (the same person found again, not somebody else walking in); otherwise it starts
    a new track. Raises :class:`DataError` when no body is present in any frame.
    """
    counts = seq.present.sum(axis=0)
    if seq.num_bodies == 0 or counts.max() == 0:
        raise DataError(seq.source or None, "no body is present in any frame: there is no actor to sample")
    centres = _centres(seq)
    tracks: list[np.ndarray] = []
    for b in np.argsort(-counts, kind="stable"):
        seen = np.flatnonzero(seq.present[:, b])
        if len(seen) == 0:
            continue
        for track in tracks:
            if np.any(track[seen] >= 0):
                continue
            have = np.flatnonzero(track >= 0)
            before, after = have[have < seen[0]], have[have > seen[-1]]
            ends = ([(before[-1], seen[0])] if len(before) else []) + ([(after[0], seen[-1])] if len(after) else [])
            if all(np.linalg.norm(centres[t, track[t]] - centres[f, b]) <= max_jump for t, f in ends):
                track[seen] = b
                break
        else:
            tracks.append(np.where(seq.present[:, b], b, -1))
    return tracks


def actor_track(seq: PoseSequence, *, max_jump: float = 0.5) -> np.ndarray:
    """(T,) the body holding the main actor in each frame, -1 where he is not seen.

    The main actor is the person (:func:`person_tracks`) with the largest 3D :func:`motion`; ties go
    to the person seen in more frames, then to the first body of the file. His track keeps his id
    (and the ids he is found again under) over the whole video.
    """
    tracks = person_tracks(seq, max_jump=max_jump)
    frames = np.arange(seq.num_frames)

    def key(track: np.ndarray) -> tuple[float, int, int]:
        seen = track >= 0
        return motion(seq.xyz[frames, np.maximum(track, 0)], seen), int(seen.sum()), -int(track[seen].min())

    return max(tracks, key=key)


def nearest_present(frames: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Replace each frame index by the nearest frame where the body is present (itself if it is).

    ``present`` is the body's (T,) presence; ties between an earlier and a later frame go to the
    earlier one. This is the explicit fill for frames where the actor is missing: his closest real
    pose, never zeros. Raises ValueError if the body is never present.
    """
    where = np.flatnonzero(present)
    if len(where) == 0:
        raise ValueError("the body is never present")
    frames = np.asarray(frames, dtype=np.int64)
    i = np.searchsorted(where, frames)  # first present frame >= each frame
    before = where[np.maximum(i - 1, 0)]
    after = where[np.minimum(i, len(where) - 1)]
    return np.where(np.abs(frames - before) <= np.abs(after - frames), before, after)


def actor_poses(seq: PoseSequence, frames: np.ndarray, track: np.ndarray, *, norm: str = "translation",
                augment: PoseAugment | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
    """The actor's poses at ``frames``, normalised: (3, t_p, J) float32.

    ``track`` is the actor's body per frame (:func:`actor_track`). Frames where he is not seen take
    his pose from the nearest frame where he is (:func:`nearest_present`), never zeros. ``norm``:
    see :func:`normalize_poses`; ``augment`` (training, with ``rng``): see :class:`PoseAugment`.
    """
    try:
        src = nearest_present(frames, track >= 0)
    except ValueError:
        raise DataError(seq.source or None, "the actor is never present") from None
    xyz = normalize_poses(seq.xyz[src, track[src]].astype(np.float64), get_layout(seq.layout), norm)
    if augment is not None and augment.active:
        if rng is None:
            raise ValueError("pose augmentation needs an rng")
        xyz = augment(xyz, rng)
    return np.ascontiguousarray(xyz.astype(np.float32).transpose(2, 0, 1))


# ------------------------------------------------------------------------------------------------
# Pose normalisation and augmentation


def body_frame_joints(layout: Layout, norm: str) -> dict[str, list[int]]:
    """The joints ``norm`` needs in ``layout``: ``hips`` (left, right) for a rotation, ``shoulders``
    (left, right) too for a scale. ConfigError when the layout lacks them (or ``norm`` is unknown)."""
    if norm not in POSE_NORMS:
        raise ConfigError(f"data.pose_norm must be one of {', '.join(POSE_NORMS)}; got {norm!r}")
    need = {"translation": {}, "rotate": {"hips": ("hip_l", "hip_r")},
            "rotate_scale": {"hips": ("hip_l", "hip_r"), "shoulders": ("shoulder_l", "shoulder_r")}}[norm]
    missing = [j for pair in need.values() for j in pair if j not in layout.joints]
    if missing:
        raise ConfigError(f"data.pose_norm={norm} needs the joints {', '.join(missing)}, which skeleton layout "
                          f"{layout.name} does not have; use data.pose_norm=translation")
    return {k: [layout.index(j) for j in pair] for k, pair in need.items()}


def rotate_about_vertical(xyz: np.ndarray, cos: float | np.ndarray, sin: float | np.ndarray) -> np.ndarray:
    """``xyz`` (..., 3) rotated about the vertical y axis: x' = cos x + sin z, z' = cos z - sin x."""
    out = xyz.copy()
    out[..., 0] = cos * xyz[..., 0] + sin * xyz[..., 2]
    out[..., 2] = cos * xyz[..., 2] - sin * xyz[..., 0]
    return out


def normalize_poses(xyz: np.ndarray, layout: Layout, norm: str = "translation") -> np.ndarray:
    """One actor's sampled poses ``xyz`` (t_p, J, 3), camera space (y up), normalised.

    - ``translation`` (the paper's): the layout centre (NTU: spine mid) of the first pose is
      subtracted from every joint, so poses are relative to where the actor starts, in metres.
    - ``rotate``: then rotated about the vertical axis so that the hips of the first pose lie on the x
      axis (left hip towards +x): the body frame, the same whatever the camera's azimuth. A first
      pose whose hips are stacked vertically (no horizontal direction) is left unrotated.
    - ``rotate_scale``: then divided by the mean torso length (hip midpoint to shoulder midpoint over
      the poses): the poses are in torso lengths, the same for a child and an adult. A torso under
      1 mm long (a broken skeleton) leaves the scale as it is.
    """
    joints = body_frame_joints(layout, norm)
    xyz = xyz - xyz[0, list(layout.center)].mean(axis=0)
    if "hips" in joints:
        left, right = joints["hips"]
        dx, dz = xyz[0, left, 0] - xyz[0, right, 0], xyz[0, left, 2] - xyz[0, right, 2]
        length = math.hypot(dx, dz)
        if length > 1e-6:
            xyz = rotate_about_vertical(xyz, dx / length, dz / length)
    if "shoulders" in joints:
        hips, shoulders = xyz[:, joints["hips"]].mean(axis=1), xyz[:, joints["shoulders"]].mean(axis=1)
        torso = float(np.linalg.norm(shoulders - hips, axis=-1).mean())
        if torso > 1e-3:
            xyz = xyz / torso
    return xyz


@dataclasses.dataclass(frozen=True)
class PoseAugment:
    """Training augmentation of normalised poses, drawn from the sample's generator (so a sample stays a
    pure function of seed, epoch and index). All zero (the default, and the paper presets): none.

    Applied in this order: a rotation about the vertical axis by an angle uniform in +-``rotate``
    degrees, a scale uniform in [1 - ``scale``, 1 + ``scale``], Gaussian joint jitter of standard
    deviation ``jitter`` (in the poses' unit: metres, or torso lengths with ``rotate_scale``).
    ``crop`` is the random temporal crop (:func:`temporal_crop`), applied by the sampler before the
    pose frames are chosen, for poses drawn over the whole clip.
    """

    rotate: float = 0.0
    scale: float = 0.0
    jitter: float = 0.0
    crop: float = 0.0

    def __post_init__(self):
        for name in ("rotate", "scale", "jitter", "crop"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"pose augmentation {name} must be >= 0, got {getattr(self, name)!r}")
        if self.scale >= 1 or self.crop >= 1:
            raise ValueError(f"pose augmentation scale and crop must be < 1, got {self.scale}, {self.crop}")

    @property
    def active(self) -> bool:
        return bool(self.rotate or self.scale or self.jitter or self.crop)

    def __call__(self, xyz: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(t_p, J, 3) -> the augmented poses, same shape. Draws the same numbers whatever is enabled."""
        angle = math.radians(self.rotate) * rng.uniform(-1.0, 1.0)
        factor = 1.0 + self.scale * rng.uniform(-1.0, 1.0)
        noise = rng.standard_normal(xyz.shape)
        xyz = rotate_about_vertical(xyz, math.cos(angle), math.sin(angle)) * factor
        return xyz + self.jitter * noise


# ------------------------------------------------------------------------------------------------
# Crop boxes


def scale_uv(uv: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """2D joints given in pixels of a ``from_size`` = (W, H) frame, in pixels of a ``to_size`` frame.

    The videos of a dataset are sometimes shipped resized (e.g. NTU at 960x540) while the joints
    stay in the sensor's 1920x1080 pixels.
    """
    if tuple(from_size) == tuple(to_size):
        return uv
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return uv * np.array([sx, sy], dtype=uv.dtype)


def video_uv(seq: PoseSequence, video_size: tuple[int, int]) -> np.ndarray | None:
    """``seq``'s 2D joints in pixels of the video's frames (they may be given for another size), or None."""
    if seq.uv is None:
        return None
    return scale_uv(seq.uv, seq.image_size or video_size, video_size)


def people_box(uv: np.ndarray, present: np.ndarray) -> np.ndarray | None:
    """The tight box (x0, y0, x1, y1) around every present body's finite 2D joints, or None.

    ``uv`` (T, M, J, 2) and ``present`` (T, M) for the frames of interest.
    """
    pts = uv[present].reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return None
    return np.array([*pts.min(axis=0), *pts.max(axis=0)], dtype=np.float64)


def expand_box(box: np.ndarray, image_size: tuple[int, int], *, margin: float = 0.1,
               min_size: float = 16.0, jitter: float = 0.0,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """The crop box: ``box`` grown by ``margin`` of its size per side, made square, kept in the frame.

    The square's side is the longer side of the grown box; it is centred on the box and moved (not
    shrunk) to lie inside the frame, and only cut where the frame itself is smaller than the side.
    ``jitter`` > 0 (training, with ``rng``) scales the side by a factor in [1 - jitter, 1 + jitter]
    and moves the centre by up to ``jitter / 2`` of the side on each axis: a mild scale and
    translation augmentation, bounded so that ``box`` itself always stays inside the crop.
    Returns (x0, y0, x1, y1) float64, integral, 0 <= x0 < x1 <= W, 0 <= y0 < y1 <= H.
    """
    w_img, h_img = image_size
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    extent = max(x1 - x0, y1 - y0)
    side = extent * (1 + 2 * margin)
    if jitter > 0:
        if rng is None:
            raise ValueError("jitter needs an rng")
        side = max(side * (1 + rng.uniform(-jitter, jitter)), extent)
        shifts = rng.uniform(-jitter / 2, jitter / 2, size=2) * side
        room = (side - np.array([x1 - x0, y1 - y0])) / 2
        cx, cy = np.array([cx, cy]) + np.clip(shifts, -room, room)
    side = max(side, min_size)
    out = []
    for c, limit in ((cx, w_img), (cy, h_img)):
        s = min(side, limit)
        lo = min(max(c - s / 2, 0.0), limit - s)
        out.append((lo, lo + s))
    (bx0, bx1), (by0, by1) = out
    # Integral pixel bounds: outward rounding keeps the person inside.
    return np.array([math.floor(bx0), math.floor(by0), min(math.ceil(bx1), w_img), min(math.ceil(by1), h_img)],
                    dtype=np.float64)


def crop_box(uv: np.ndarray | None, present: np.ndarray, image_size: tuple[int, int], *,
             margin: float = 0.1, jitter: float = 0.0, rng: np.random.Generator | None = None,
             fallback: np.ndarray | None = None) -> np.ndarray:
    """The crop of one clip: the box around all people over the clip's frames.

    ``uv`` (T', M, J, 2) and ``present`` (T', M) are the clip's frames, in pixels of a frame of
    ``image_size`` = (W, H). Nobody visible in these frames: the box ``fallback`` (e.g. the box over
    the whole video) is used; no 2D joints at all (``uv`` None, or no fallback): the whole frame.
    """
    tight = people_box(uv, present) if uv is not None else None
    if tight is None:
        tight = fallback
    if tight is None:
        return np.array([0.0, 0.0, float(image_size[0]), float(image_size[1])])
    return expand_box(tight, image_size, margin=margin, jitter=jitter, rng=rng)


# ------------------------------------------------------------------------------------------------
# Pixels


def crop_resize(frames: np.ndarray, box: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Crop ``box`` from each frame and resize it: (K, H, W, 3) uint8 -> (K, h, w, 3) uint8.

    ``size`` is the output side (square) or (h, w). OpenCV resize (5-10x faster than torch
    interpolate on CPU): area averaging when shrinking by more than 1.5x (against aliasing),
    bilinear otherwise (5x faster than area averaging, and as good for mild scale changes).
    """
    import cv2

    h, w = (size, size) if isinstance(size, int) else size
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= frames.shape[2] and 0 <= y0 < y1 <= frames.shape[1]):
        raise ValueError(f"crop box {x0, y0, x1, y1} is not inside the {frames.shape[2]}x{frames.shape[1]} frames")
    shrink = (x1 - x0) > 1.5 * w and (y1 - y0) > 1.5 * h
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    out = np.empty((len(frames), h, w, 3), dtype=np.uint8)
    for k, frame in enumerate(frames):
        cv2.resize(frame[y0:y1, x0:x1], (w, h), dst=out[k], interpolation=interp)
    return out


def to_model_range(frames: np.ndarray) -> np.ndarray:
    """RGB uint8 frames (..., T, H, W, 3) -> the model's input (..., 3, T, H, W) float32 in [-1, 1]."""
    if frames.dtype != np.uint8 or frames.ndim < 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (..., T, H, W, 3) uint8 RGB frames, got {frames.shape} {frames.dtype}")
    lead = frames.ndim - 4
    # One copy, which keeps the channels-last memory order (channels-first by strides only, not
    # contiguous): the fastest variant measured; stacking a batch makes it contiguous.
    out = np.moveaxis(frames, -1, lead).astype(np.float32)
    out *= np.float32(1 / 127.5)
    out -= np.float32(1.0)
    return out


def centre_box(size: tuple[int, int], fraction: float = 224 / 256) -> np.ndarray:
    """(4,) x0, y0, x1, y1: the centre square of ``fraction`` of a (width, height) frame's short side;
    224/256 is the Kinetics test crop (short side 256, centre 224)."""
    w, h = size
    side = max(1, round(min(w, h) * fraction))
    x0, y0 = (w - side) // 2, (h - side) // 2
    return np.array([x0, y0, x0 + side, y0 + side], dtype=np.float64)

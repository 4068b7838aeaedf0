"""The data contracts between readers, sample building, datasets and the engine.

- Readers (``ntu.py``, ``smarthome.py``, ``nucla.py``, ``custom.py``) turn one file into a
  :class:`PoseSequence`; protocol functions turn a dataset folder into :class:`SampleRecord` lists.
- Video sources (``video.py``, ``prepared.py``) implement :class:`VideoSource`.
- The steps of ``pipeline.py`` (over the pure functions of ``clips.py``) turn (VideoSource,
  PoseSequence) into one training or test sample.
- Datasets return samples as a ``dict`` with the keys of :data:`SAMPLE_KEYS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from vpnet.errors import DataError  # re-exported: readers and users import it from here

__all__ = ["DataError", "PoseSequence", "SampleRecord", "VideoSource", "SAMPLE_KEYS"]


@dataclass(frozen=True)
class PoseSequence:
    """Everybody's poses over a whole video, in one joint layout (see :mod:`vpnet.skeletons`).

    Absent bodies have ``present[t, m] == False`` and NaN coordinates, so that an absent body can
    never pass for a pose at the origin. Present bodies have finite coordinates (readers reject
    NaN/inf).
    """

    #: (T, M, J, 3) float32, metres, camera space (x right, y up, z away from the camera).
    xyz: np.ndarray
    #: (T, M, J, 2) float32, pixel coordinates in the video frame, or None if the format has none.
    uv: np.ndarray | None
    #: (T, M) bool.
    present: np.ndarray
    #: joint layout name: ``ntu25``, ``lcrnet13``, ``ucla20``.
    layout: str
    #: the file this came from (for error messages).
    source: str = ""
    #: (M,) identifiers of the bodies (NTU body ids; detection slots elsewhere).
    body_ids: tuple[str, ...] = ()
    #: (width, height) of the frames ``uv`` refers to, if known.
    image_size: tuple[int, int] | None = None
    #: what the reader repaired (e.g. joints filled in from neighbouring frames), for the item's notes.
    notes: tuple[str, ...] = ()

    @property
    def num_frames(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def num_bodies(self) -> int:
        return int(self.xyz.shape[1])


@dataclass(frozen=True)
class SampleRecord:
    """One item of a dataset split: where its files are and what it is."""

    name: str
    label: int  # 0-based class index
    video: str | None  # path to the video file or frame folder (None for pose-only use)
    poses: str | None  # path to the pose file
    subject: int | None = None
    camera: int | None = None
    #: dataset-specific extras (setup, replication, frame range, ...).
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class VideoSource(Protocol):
    """Random access to the RGB frames of one video."""

    @property
    def num_frames(self) -> int: ...

    @property
    def fps(self) -> float: ...

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        ...

    def read(self, indices: np.ndarray | list[int], *,
             transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """Frames at ``indices`` (1-D, any order, repeats allowed) as (K, H, W, 3) uint8 RGB.

        ``transform`` is applied to each distinct frame once, as soon as it is decoded (e.g. crop and
        resize), so only transformed frames are ever held; the result is then (K, *its shape).
        """
        ...


#: Keys of a sample dict. ``video`` is (3, T, H, W) float32 in [-1, 1] (or (K, 3, T, H, W) for
#: K test clips); ``poses`` is (3, t_p, J) float32 metres (or (K, 3, t_p, J)); ``features`` is
#: (C, t_c, m, n) when the dataset reads a feature cache instead of video; ``label`` an int;
#: ``name`` a str; ``meta`` a dict of plain values (crop box, frame indices, subject, camera).
SAMPLE_KEYS = ("video", "features", "poses", "label", "name", "meta")

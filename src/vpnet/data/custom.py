"""Your own data: generic pose files, MediaPipe Pose output, and a CSV/JSON manifest.

Pose files (:func:`read_poses`):

- **generic** ``.npz``::

      xyz         (T, M, J, 3) or (T, J, 3) float, metres, camera space: x right, y up, z away
      uv          optional, same leading shape, (..., 2) pixels of the video frames
      present     optional, (T, M) or (T,) bool; default: bodies whose joints are all finite
      layout      optional str: ntu25 (default), lcrnet13, ucla20
      image_size  optional (width, height) that uv refers to; default: the video's own size
      body_ids    optional (M,) str

  Joints of absent bodies may be NaN; a present body must be finite.
- **generic** ``.npy``: just the ``xyz`` array above (layout from the ``layout`` argument).
- **MediaPipe Pose** ``.npz`` with ``world`` and ``image``, both (T, 33, 4) [x, y, z, visibility]
  (e.g. the output of MediaPipe 0.10.21 Pose, model_complexity=1). The 33 landmarks are mapped
  onto the 25 NTU joints with :func:`vpnet.skeletons.mediapipe_to_ntu25` (which swaps left and
  right: Kinect labels the mirror image). ``world`` is metres, hip-centred, **y down**: y is
  negated for our y-up convention (x right and z away already agree). ``image`` is normalised
  to [0, 1] of the frame width/height: ``uv`` keeps it so and says ``image_size=(1, 1)``, which
  scales it to any frame size (pass ``image_size`` to get pixels). Frames where MediaPipe found
  nobody (NaN or all-zero landmarks) are absent.

Manifest (:func:`read_manifest`, :func:`records`): a ``.csv`` with a header row, or a ``.json``
list of objects (or ``{"classes": [...], "items": [...]}``), with the fields

    video    path to a video file or frame folder   (at least one of video / poses)
    poses    path to a pose file (above)
    label    class name, or 0-based class index (a row without one is skipped and reported; a
             manifest where no row has one is for inference only: its items get label -1 and
             ``vpnet evaluate`` writes their predictions, no accuracy)
    subject, camera   optional ints
    name     optional (default: the video's, else the pose file's, file stem)
    <split>  any column naming the split of the item, e.g. ``split`` = train / val / test

Relative paths resolve against the manifest's folder. The class list is, in order of preference:
the JSON ``classes``; a ``classes.txt`` beside the manifest (one name per line); ``0..max`` when
every label is an index; else the sorted label names. ``protocol`` names the split column
(``records(protocol="split", split="train")``); the split ``all`` takes every row.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vpnet.data._readers import Records, Skipped, check_finite, finish, load_json, read_bytes, read_text
from vpnet.data.registry import DatasetReader
from vpnet.data.types import DataError, PoseSequence, SampleRecord
from vpnet.errors import ConfigError
from vpnet.skeletons import get_layout, mediapipe_to_ntu25

LAYOUT = "ntu25"
#: the label of every item of a manifest without labels (inference only: evaluate writes predictions).
UNLABELLED = -1
POSE_SUFFIXES = (".npz", ".npy")


def parse_name(name: str | Path) -> str:
    """Own data has no naming scheme: the name itself; DataError for an empty name, a path, or padding spaces."""
    text = str(name).strip()
    if not text or re.search(r"[/\\]", text) or text != str(name):
        raise DataError(str(name), "an item name must be non-empty, without surrounding spaces or / \\")
    return text


# ---------------------------------------------------------------------------------------------
# pose files


def read_poses(
    path: str | Path, *, layout: str | None = None, image_size: tuple[int, int] | None = None
) -> PoseSequence:
    """Read a generic ``.npz``/``.npy`` or a MediaPipe ``.npz`` (see the module docstring).

    Args:
        layout: joint layout of a generic file whose ``layout`` key is absent (default ntu25).
        image_size: for MediaPipe files, the frame (width, height) to turn ``image`` into pixels.
    """
    p = Path(path)
    if p.suffix.lower() not in POSE_SUFFIXES:
        raise DataError(p, "pose files must be .npz or .npy")
    fh = io.BytesIO(read_bytes(p))
    try:
        if p.suffix.lower() == ".npy":
            data: dict[str, np.ndarray] = {"xyz": np.load(fh, allow_pickle=False)}
        else:
            with np.load(fh, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # truncated, not numpy, or pickled objects
        raise DataError(p, f"cannot read numpy pose file: {e}") from None
    if "world" in data and "image" in data:
        if image_size is None and "meta" in data:  # written by vpnet.poses.save_poses: the frame size is there
            try:
                w, h = json.loads(str(data["meta"]))["size"]
                image_size = (int(w), int(h))
            except (ValueError, KeyError, TypeError):
                pass
        return _mediapipe(p, data["world"], data["image"], image_size)
    if "xyz" not in data:
        raise DataError(p, f"pose file has keys {sorted(data)}; "
                           "expected 'xyz' (generic) or 'world' + 'image' (MediaPipe)")
    return _generic(p, data, layout)


def _generic(p: Path, data: dict[str, np.ndarray], layout: str | None) -> PoseSequence:
    name = str(data["layout"]) if "layout" in data else (layout or LAYOUT)
    try:
        lay = get_layout(name)
    except ValueError as e:
        raise DataError(p, str(e)) from None
    if lay.name == "mediapipe33":
        raise DataError(p, "generic files hold ntu25, lcrnet13 or ucla20 joints; MediaPipe output needs "
                           "'world' and 'image' arrays")
    xyz = np.asarray(data["xyz"])
    if not np.issubdtype(xyz.dtype, np.number):
        raise DataError(p, f"xyz must be numeric, got {xyz.dtype}")
    if xyz.ndim == 3:
        xyz = xyz[:, None]
    if xyz.ndim != 4 or xyz.shape[2:] != (lay.num_joints, 3) or xyz.shape[0] == 0:
        raise DataError(p, f"xyz has shape {np.shape(data['xyz'])}; expected (T, M, {lay.num_joints}, 3) "
                           f"or (T, {lay.num_joints}, 3) for layout {lay.name}")
    t, m = xyz.shape[:2]
    uv = None
    if "uv" in data:
        uv = np.asarray(data["uv"], dtype=np.float64)  # range-checked below, before the float32 cast
        uv = uv[:, None] if uv.ndim == 3 else uv
        if uv.shape != (t, m, lay.num_joints, 2):
            raise DataError(p, f"uv has shape {data['uv'].shape}; expected {(t, m, lay.num_joints, 2)} like xyz")
    if "present" in data:
        present = np.asarray(data["present"]).astype(bool)
        present = present[:, None] if present.ndim == 1 else present
        if present.shape != (t, m):
            raise DataError(p, f"present has shape {data['present'].shape}; expected {(t, m)}")
    else:
        present = np.isfinite(xyz).all(axis=(2, 3))
    if not present.any():
        raise DataError(p, f"no body present in any of the {t} frames")
    check_finite(p, xyz, "xyz", present)
    if uv is not None:
        check_finite(p, uv, "uv", present)
    image_size = None
    if "image_size" in data:
        size = np.asarray(data["image_size"]).ravel()
        if size.shape != (2,) or not (size > 0).all():
            raise DataError(p, f"image_size must be (width, height) > 0, got {data['image_size']!r}")
        image_size = (int(size[0]), int(size[1]))
    if "body_ids" in data:
        ids = tuple(str(b) for b in np.asarray(data["body_ids"]).ravel())
    else:
        ids = tuple(map(str, range(m)))
    if len(ids) != m:
        raise DataError(p, f"body_ids has {len(ids)} entries for {m} bodies")
    xyz = np.where(present[..., None, None], xyz, np.nan).astype(np.float32)
    if uv is not None:
        uv = np.where(present[..., None, None], uv, np.nan).astype(np.float32)
    return PoseSequence(xyz=xyz, uv=uv, present=present, layout=lay.name, source=str(p), body_ids=ids,
                        image_size=image_size)


#: horizontal field of view assumed for a video of unknown camera when the root track is recovered: a
#: phone's main camera (about 65-70 degrees). It only sets the depth scale: lateral and vertical motion
#: do not depend on it (see :func:`mediapipe_root_track`).
DEFAULT_HFOV = 65.0
#: MediaPipe Pose's hip landmarks (LEFT_HIP, RIGHT_HIP): the world landmarks' origin is their midpoint.
_MP_HIPS = (23, 24)


def mediapipe_root_track(world: np.ndarray, image: np.ndarray, image_size: tuple[int, int], *,
                         hfov: float = DEFAULT_HFOV, smooth: int = 15) -> np.ndarray:
    """(T, 3) the hip centre in camera space (metres; x right, y up, z away from the camera), recovered
    for MediaPipe's world landmarks, which are re-centred on the hips in every frame.

    Per frame, a weak-perspective fit: the landmarks' pixel offsets from the hip centre against their
    world (x, y) offsets give the scale s (pixels per metre at the body's depth), least squares over
    the landmarks MediaPipe sees (visibility > 0.5). With a pinhole camera of focal length f (from
    ``hfov``) and its principal point at the image centre: Z = f / s, X = (u - c_x) / s,
    Y = -(v - c_y) / s. So X and Y, the body's path across the image, do not depend on f; Z scales
    with it. s is median-filtered over ``smooth`` frames (single-frame fits jitter with the limbs).

    Args:
        world, image: (T, 33, 3|4) MediaPipe world (metres, hip-centred, y down) and image (normalised)
            landmarks; rows without a detection are NaN (their root is NaN).
        image_size: the frames' (width, height) in pixels.
        hfov: horizontal field of view in degrees.
    """
    w_px, h_px = float(image_size[0]), float(image_size[1])
    f = (w_px / 2) / np.tan(np.radians(hfov) / 2)
    px = image[..., :2].astype(np.float64) * (w_px, h_px)
    hip = px[:, _MP_HIPS].mean(axis=1)  # (T, 2)
    d = px - hip[:, None]
    wxy = world[..., :2].astype(np.float64)
    vis = (image[..., 3] > 0.5) if image.shape[-1] > 3 else np.ones(image.shape[:2], bool)
    vis &= np.isfinite(d).all(-1) & np.isfinite(wxy).all(-1)
    num = np.where(vis, (d * wxy).sum(-1), 0.0).sum(1)
    den = np.where(vis, (wxy * wxy).sum(-1), 0.0).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(den > 1e-6, num / den, np.nan)
    s = np.where(s > 0, s, np.nan)
    if smooth > 1:
        half = smooth // 2
        padded = np.pad(s, half, mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, smooth)
        with np.errstate(all="ignore"):
            s = np.where(np.isfinite(s), np.nanmedian(np.where(np.isfinite(windows), windows, np.nan), axis=1), s)
    root = np.stack([(hip[:, 0] - w_px / 2) / s, -(hip[:, 1] - h_px / 2) / s, f / s], axis=1)
    return np.where(np.isfinite(root).all(1, keepdims=True), root, np.nan)


def mediapipe_sequence(world: np.ndarray, image: np.ndarray, *, source: str | Path = "",
                       image_size: tuple[int, int] | None = None, root_track: bool = True,
                       hfov: float = DEFAULT_HFOV) -> PoseSequence:
    """MediaPipe ``world`` and ``image`` arrays (T, 33, 3|4) as an NTU-25 :class:`PoseSequence`, exactly as
    :func:`read_poses` maps a MediaPipe file (``source`` names them in errors). With ``image_size`` and
    ``root_track`` the body keeps its path through the scene (:func:`mediapipe_root_track`)."""
    return _mediapipe(Path(source) if source else None, np.asarray(world), np.asarray(image), image_size,
                      root_track=root_track, hfov=hfov)


def _mediapipe(p: Path, world: np.ndarray, image: np.ndarray, image_size: tuple[int, int] | None, *,
               root_track: bool = True, hfov: float = DEFAULT_HFOV) -> PoseSequence:
    for key, arr in (("world", world), ("image", image)):
        if arr.ndim != 3 or arr.shape[1] != 33 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0:
            raise DataError(p, f"MediaPipe '{key}' has shape {arr.shape}; expected (T, 33, 4) [x, y, z, visibility]")
    if world.shape[0] != image.shape[0]:
        raise DataError(p, f"MediaPipe 'world' has {world.shape[0]} frames, 'image' {image.shape[0]}")
    w = world[..., :3].astype(np.float64)
    im = image[..., :2].astype(np.float64)
    # no detection: NaN or all-zero rows (both conventions occur in saved MediaPipe output)
    present = np.isfinite(w).all(axis=(1, 2)) & np.isfinite(im).all(axis=(1, 2)) & (np.abs(w).sum(axis=(1, 2)) > 0)
    if not present.any():
        raise DataError(p, f"MediaPipe found no person in any of the {len(w)} frames")
    bad = ~present & (np.isinf(w).any(axis=(1, 2)) | np.isinf(im).any(axis=(1, 2)))
    if bad.any():
        raise DataError(p, f"frame {int(np.flatnonzero(bad)[0])}: infinite landmark coordinates")
    xyz = mediapipe_to_ntu25(np.where(present[:, None, None], w, 0.0))
    xyz[..., 1] *= -1  # MediaPipe world y points down
    notes: tuple[str, ...] = ()
    if root_track and image_size is not None:
        # MediaPipe centres every frame on the hips; Kinect poses keep the body's path, which a
        # translation-normalised model reads: put it back (a frame without a fit takes the next fitted one).
        root = mediapipe_root_track(np.where(present[:, None, None], w, np.nan),
                                    np.where(present[:, None, None], image.astype(np.float64), np.nan),
                                    image_size, hfov=hfov)
        ok = np.isfinite(root).all(1)
        if ok.any():
            idx = np.flatnonzero(ok)
            root = root[idx[np.clip(np.searchsorted(idx, np.arange(len(root))), 0, len(idx) - 1)]]
            xyz = xyz + np.where(present[:, None, None], root[:, None], 0.0)
    elif root_track:
        notes = ("MediaPipe poses without the frame size: hip-centred in every frame (no root track)",)
    uv = mediapipe_to_ntu25(np.where(present[:, None, None], im, 0.0))
    size = (1, 1)
    if image_size is not None:
        uv = uv * np.asarray(image_size, dtype=np.float64)
        size = (int(image_size[0]), int(image_size[1]))
    nan = ~present[:, None, None]
    check_finite(p, xyz[:, None], "world landmarks", present[:, None])
    check_finite(p, uv[:, None], "image landmarks", present[:, None])
    xyz = np.where(nan, np.nan, xyz).astype(np.float32)[:, None]
    uv = np.where(nan, np.nan, uv).astype(np.float32)[:, None]
    return PoseSequence(xyz=xyz, uv=uv, present=present[:, None].copy(), layout="ntu25", source=str(p) if p else "",
                        body_ids=("0",), image_size=size, notes=notes)


# ---------------------------------------------------------------------------------------------
# manifest


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: its rows (paths already resolved) and the class list."""

    path: Path
    rows: list[dict[str, Any]]
    classes: list[str]
    #: False when no row has a label: an inference-only manifest (items get :data:`UNLABELLED`).
    labelled: bool = True
    #: True when the manifest names no class list (``classes.txt`` beside it, or ``classes`` in a JSON
    #: manifest) and ``classes`` was inferred from the labels it uses.
    inferred: bool = False


def read_manifest(path: str | Path | None) -> Manifest:
    """Read a CSV/JSON manifest (module docstring); paths resolve against its folder."""
    if path is None:
        raise ConfigError("custom data needs a manifest (a CSV/JSON file: data.manifest, or data.split_dir "
                         "holding manifest.csv)")
    p = Path(path)
    explicit: list[str] | None = None
    if p.suffix.lower() == ".json":
        doc = load_json(p)
        if isinstance(doc, dict):
            explicit = doc.get("classes")
            doc = doc.get("items")
        if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
            raise DataError(p, "a JSON manifest is a list of objects, or {\"classes\": [...], \"items\": [...]}")
        rows = [{k: v for k, v in r.items()} for r in doc]
    elif p.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(read_text(p, "manifest"), newline=""))
        try:
            rows = [dict(r) for r in reader]
        except csv.Error as e:
            raise DataError(p, f"cannot read CSV manifest: {e}") from None
        columns = reader.fieldnames or []
        if not ({"video", "poses"} & set(columns)):
            raise DataError(p, f"manifest columns are {columns}; it needs 'video' and/or 'poses' (and 'label' "
                               "for training and accuracy)")
    else:
        raise DataError(p, "a manifest is a .csv or .json file")
    if not rows:
        raise DataError(p, "manifest lists no items")
    if explicit is None and (p.parent / "classes.txt").is_file():
        explicit = [s.strip() for s in read_text(p.parent / "classes.txt", "class list").splitlines() if s.strip()]
    labels = [s for s in (_text(r.get("label")) for r in rows) if s]  # rows without one are skipped by records()
    if explicit is not None:
        classes = [str(c) for c in explicit]
    elif labels and all(re.fullmatch(r"\d+", s) for s in labels):
        classes = [f"class_{i}" for i in range(max(int(s) for s in labels) + 1)]
    else:
        classes = sorted({s for s in labels if not re.fullmatch(r"\d+", s)})
    for r in rows:
        for key in ("video", "poses"):
            v = _text(r.get(key))
            if v:
                q = Path(v).expanduser()
                r[key] = str(q if q.is_absolute() else (p.parent / q))
            else:
                r[key] = None
    return Manifest(path=p, rows=rows, classes=classes, labelled=bool(labels), inferred=explicit is None)


def class_names(manifest: str | Path) -> list[str]:
    """The class list of a manifest (module docstring)."""
    return read_manifest(manifest).classes


def _text(value: Any) -> str:
    """A manifest field as text: "" when absent (a short CSV row, a JSON null)."""
    return "" if value is None else str(value).strip()


def _label(value: Any, classes: list[str]) -> int:
    s = _text(value)
    if not s:
        raise DataError(None, "no label")
    if re.fullmatch(r"\d+", s):
        i = int(s)
        if i >= len(classes):
            raise DataError(None, f"label index {i} is out of range for {len(classes)} classes")
        return i
    if s not in classes:
        raise DataError(None, f"label {s!r} is not in the class list ({len(classes)} classes)")
    return classes.index(s)


def _opt_int(row: dict[str, Any], key: str) -> int | None:
    v = _text(row.get(key))
    if not v:
        return None
    try:
        return int(v)
    except ValueError:
        raise DataError(None, f"{key} must be an integer, got {row[key]!r}") from None


def classes_and_splits(manifest: str | Path | None, column: str) -> tuple[list[str], tuple[str, ...]]:
    """The class list of a manifest and the values of its split ``column`` (first-seen order), read once."""
    man = read_manifest(manifest)
    return man.classes, tuple(dict.fromkeys(v for v in (_text(r.get(column)) for r in man.rows) if v))


def records(*, manifest: str | Path | None, protocol: str = "split", split: str) -> Records:
    """The items of one split of a manifest.

    Args:
        manifest: the CSV/JSON manifest (required).
        protocol: the manifest column holding each item's split (default ``split``).
        split: the value of that column to keep (``train``, ``test``, ... as you wrote them), or
            ``all`` for every row.

    Returns:
        :class:`Records`; ``.skipped`` lists rows left out: no label or one not in the class list, a
        bad subject/camera, a missing video or pose file.
    """
    man = read_manifest(manifest)
    if split != "all" and not any(protocol in r for r in man.rows):
        raise ConfigError(f"manifest {man.path} has no split column {protocol!r}")
    items: list[SampleRecord] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for i, row in enumerate(man.rows):
        video, poses = row.get("video"), row.get("poses")
        name = _text(row.get("name")) or Path(video or poses or f"row{i + 1}").stem
        if split != "all" and _text(row.get(protocol)) != split:
            continue
        try:
            parse_name(name)
            if name in seen:
                raise DataError(None, f"name {name!r} appears twice in the manifest")
            label = _label(row.get("label"), man.classes) if man.labelled else UNLABELLED
            subject, camera = _opt_int(row, "subject"), _opt_int(row, "camera")
        except DataError as e:
            skipped.append(Skipped(name, f"row {i + 1}: {e.problem}"))
            continue
        if video is None and poses is None:
            skipped.append(Skipped(name, f"row {i + 1}: neither a video nor a pose file"))
            continue
        missing = [f for f in (video, poses) if f is not None and not Path(f).exists()]
        if missing:
            skipped.append(Skipped(name, f"row {i + 1}: file not found: {missing[0]}"))
            continue
        seen.add(name)
        meta = {k: v for k, v in row.items() if k not in ("video", "poses", "label", "subject", "camera", "name")}
        items.append(SampleRecord(name=name, label=label, video=video, poses=poses, subject=subject,
                                  camera=camera, meta=meta))
    return finish(f"custom manifest {man.path.name}", split, items, skipped)


class CustomDataset(DatasetReader):
    """Your own data, described by a manifest (``data.dataset=custom``): ``data.protocol`` names the
    manifest's split column, whose values are the splits."""

    name = "custom"
    protocols = ("split",)
    layout = LAYOUT
    t_p = 20
    path_keys = ("manifest",)

    def paths(self, cfg: Any) -> dict[str, str | None]:
        """The manifest: ``data.manifest``, else ``data.split_dir/manifest.csv``."""
        if cfg.manifest or not cfg.split_dir:
            return {"manifest": cfg.manifest}
        return {"manifest": str(Path(cfg.split_dir) / "manifest.csv")}

    def classes_and_splits(self, cfg: Any) -> tuple[list[str], tuple[str, ...]]:
        return classes_and_splits(self.paths(cfg)["manifest"], cfg.protocol)

    def class_names(self, cfg: Any) -> list[str]:
        return self.classes_and_splits(cfg)[0]

    def splits(self, cfg: Any) -> tuple[str, ...]:
        return self.classes_and_splits(cfg)[1]

    def has_split(self, cfg: Any, split: str) -> bool:
        return split == "all" or split in self.splits(cfg)  # all: every row of the manifest

    def labelled(self, cfg: Any) -> bool:
        if cfg.prepared_dir and not (cfg.manifest or cfg.split_dir):
            return True  # a prepared store keeps its records; labels were checked when it was written
        return read_manifest(self.paths(cfg)["manifest"]).labelled

    def records(self, cfg: Any, split: str) -> Records:
        return records(protocol=cfg.protocol, split=split, **self.paths(cfg))

    def read_poses(self, path: str | Path) -> PoseSequence:
        return read_poses(path)


CUSTOM = CustomDataset()

"""Own data: generic pose files, MediaPipe output mapped to NTU-25, CSV/JSON manifests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vpnet.data import custom, ntu
from vpnet.data.types import DataError
from vpnet.skeletons import MEDIAPIPE33, NTU25

MP_FILE = "pose/S001C001P001R001A001_mediapipe0.10.21_pose_full.npz"
# joints both skeletons put in the same place (MediaPipe has no spine; hands and feet differ)
COMMON = ["shoulder_l", "shoulder_r", "elbow_l", "elbow_r", "hip_l", "hip_r", "wrist_r"]


# ---------------------------------------------------------------------------------------------
# real files


def test_real_mediapipe_lands_near_the_kinect_joints(shared_data):
    mp = custom.read_poses(shared_data / MP_FILE, image_size=(1920, 1080))
    kin = ntu.read_poses(shared_data / "ntu" / "skeletons" / "S001C001P001R001A001.skeleton")
    assert mp.xyz.shape == (103, 1, 25, 3) and mp.layout == "ntu25" and mp.image_size == (1920, 1080)
    assert mp.present.all()
    dist = np.linalg.norm(mp.uv[:, 0] - kin.uv[:, 0], axis=-1)  # (T, 25) pixels
    for j in COMMON:
        assert np.median(dist[:, NTU25.index(j)]) < 16, j  # README: 2-15 px apart
    # without the left/right swap the shoulders would be a shoulder-width apart
    swapped = np.linalg.norm(mp.uv[:, 0, NTU25.index("shoulder_l")] - kin.uv[:, 0, NTU25.index("shoulder_r")], axis=-1)
    assert np.median(swapped) > 50
    # 3D: y up after the conversion, bones of human length
    head, foot = NTU25.index("head"), NTU25.index("foot_l")
    assert (mp.xyz[:, 0, head, 1] > mp.xyz[:, 0, foot, 1] + 1.0).all()
    # the root track puts the hips where the Kinect has them across the image (depth needs the camera's
    # focal length: benchmarks/RESULTS.md, bench_root_track.py); measured 9-10 cm mean, 13 cm max
    hips = [NTU25.index("hip_l"), NTU25.index("hip_r")]
    off = np.abs(mp.xyz[:, 0, hips].mean(1) - kin.xyz[:, 0, hips].mean(1))[:, :2]
    assert off.max() < 0.15
    # normalised uv by default: image_size (1, 1) scales to any frame
    norm = custom.read_poses(shared_data / MP_FILE)
    assert norm.image_size == (1, 1) and np.allclose(norm.uv * [1920, 1080], mp.uv, atol=1e-3)


# ---------------------------------------------------------------------------------------------
# generated files


def mediapipe_arrays(t: int = 4):
    """World (y down, hip-centred) and image landmarks with known positions per landmark."""
    rng = np.random.default_rng(0)
    world = np.zeros((t, 33, 4), np.float32)
    world[..., :3] = rng.normal(0, 0.3, (t, 33, 3))
    world[..., 3] = 0.9
    image = np.zeros((t, 33, 4), np.float32)
    image[..., :2] = rng.uniform(0.2, 0.8, (t, 33, 2))
    image[..., 3] = 0.9
    return world, image


def test_generated_mediapipe_mapping_axes_and_swap(tmp_path):
    world, image = mediapipe_arrays()
    world[1] = np.nan  # nobody found in frame 1 (NaN rows) ...
    image[1] = np.nan
    world[2] = 0.0  # ... or all zeros
    image[2] = 0.0
    np.savez(tmp_path / "mp.npz", world=world, image=image)
    seq = custom.read_poses(tmp_path / "mp.npz", image_size=(640, 480))
    assert seq.present[:, 0].tolist() == [True, False, False, True]
    t = 3
    # NTU's left shoulder is MediaPipe's right shoulder, y negated; uv scaled to pixels
    mp_r = MEDIAPIPE33.index("shoulder_r")
    assert np.allclose(seq.xyz[t, 0, NTU25.index("shoulder_l")], world[t, mp_r, :3] * [1, -1, 1], atol=1e-6)
    assert np.allclose(seq.uv[t, 0, NTU25.index("shoulder_l")], image[t, mp_r, :2] * [640, 480], atol=1e-3)
    assert np.isnan(seq.xyz[1]).all() and np.isnan(seq.uv[2]).all()
    world[:] = np.nan
    np.savez(tmp_path / "none.npz", world=world, image=image)
    with pytest.raises(DataError, match="no person in any of the 4 frames"):
        custom.read_poses(tmp_path / "none.npz")
    np.savez(tmp_path / "shape.npz", world=world[:, :17], image=image)
    with pytest.raises(DataError, match=r"'world' has shape \(4, 17, 4\)"):
        custom.read_poses(tmp_path / "shape.npz")


def test_generated_generic_files(tmp_path):
    rng = np.random.default_rng(1)
    xyz = rng.normal(0, 0.5, (6, 2, 25, 3)).astype(np.float32)
    xyz[..., 2] += 3
    uv = rng.uniform(0, 300, (6, 2, 25, 2)).astype(np.float32)
    present = np.ones((6, 2), bool)
    present[4:, 1] = False
    xyz[4:, 1] = np.nan
    np.savez(tmp_path / "g.npz", xyz=xyz, uv=uv, present=present, layout="ntu25", image_size=[320, 240],
             body_ids=np.array(["a", "b"]))
    seq = custom.read_poses(tmp_path / "g.npz")
    assert seq.body_ids == ("a", "b") and seq.image_size == (320, 240) and seq.layout == "ntu25"
    assert np.array_equal(seq.xyz[:4], xyz[:4]) and np.array_equal(seq.uv[:4], uv[:4])
    assert seq.present.tolist() == present.tolist() and np.isnan(seq.uv[5, 1]).all()
    # (T, J, 3) single body, layout from the argument; .npy
    np.save(tmp_path / "one.npy", xyz[:, 0, :13])
    one = custom.read_poses(tmp_path / "one.npy", layout="lcrnet13")
    assert one.xyz.shape == (6, 1, 13, 3) and one.uv is None and one.present.all()
    # present derived from finiteness when absent
    np.savez(tmp_path / "nopresent.npz", xyz=xyz)
    assert custom.read_poses(tmp_path / "nopresent.npz").present.tolist() == present.tolist()


def test_generated_generic_bad_files(tmp_path):
    good = np.zeros((3, 25, 3), np.float32) + [0, 0, 3]
    bad_nan = good.copy()
    bad_nan[1, 4, 0] = np.inf
    cases = {
        "shape.npz": (dict(xyz=np.zeros((3, 24, 3))), r"expected \(T, M, 25, 3\)"),
        "layout.npz": (dict(xyz=good, layout="coco17"), "unknown skeleton layout 'coco17'"),
        "present.npz": (dict(xyz=good, present=np.ones(4, bool)), "present has shape"),
        "inf.npz": (dict(xyz=bad_nan, present=np.ones(3, bool)), "body 0 in frame 1 is not finite"),
        "uv.npz": (dict(xyz=good, uv=np.zeros((3, 25, 3))), "uv has shape"),
        "empty.npz": (dict(xyz=np.full((3, 25, 3), np.nan)), "no body present"),
        "keys.npz": (dict(poses=good), "expected 'xyz'"),
        "size.npz": (dict(xyz=good, image_size=[0, 10]), "image_size"),
    }
    for name, (arrays, msg) in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(DataError, match=msg) as e:
            custom.read_poses(tmp_path / name)
        assert name in str(e.value)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="cannot read numpy pose file"):
        custom.read_poses(tmp_path / "junk.npz")
    with pytest.raises(DataError, match=".npz or .npy"):
        custom.read_poses(tmp_path / "poses.txt")


def _files(root: Path, names: list[str]) -> None:
    (root / "v").mkdir(exist_ok=True)
    (root / "p").mkdir(exist_ok=True)
    for n in names:
        (root / "v" / f"{n}.mp4").write_bytes(b"")
        np.savez(root / "p" / f"{n}.npz", xyz=np.zeros((2, 25, 3)) + [0, 0, 3])


def test_generated_csv_manifest(tmp_path):
    _files(tmp_path, ["a", "b", "c", "d"])
    (tmp_path / "m.csv").write_text(
        "video,poses,label,subject,split\n"
        "v/a.mp4,p/a.npz,wave,1,train\n"
        "v/b.mp4,p/b.npz,clap,2,test\n"
        "v/c.mp4,p/c.npz,jump,3,train\n"
        f"{tmp_path}/v/d.mp4,p/d.npz,clap,x,train\n"
        "v/e.mp4,p/e.npz,wave,1,train\n")
    assert custom.class_names(tmp_path / "m.csv") == ["clap", "jump", "wave"]  # sorted names
    r = custom.records(manifest=tmp_path / "m.csv", protocol="split", split="train")
    assert [(x.name, x.label, x.subject) for x in r] == [("a", 2, 1), ("c", 1, 3)]
    assert r[0].video == str(tmp_path / "v" / "a.mp4") and r[0].meta == {"split": "train"}
    reasons = dict(r.skipped)
    assert "subject must be an integer" in reasons["d"] and "file not found" in reasons["e"]
    assert [x.name for x in custom.records(manifest=tmp_path / "m.csv", split="all")] == ["a", "b", "c"]
    # an explicit class list beside the manifest: order from it, names outside it reported
    (tmp_path / "classes.txt").write_text("wave\nclap\n")
    r = custom.records(manifest=tmp_path / "m.csv", split="train")
    assert [(x.name, x.label) for x in r] == [("a", 0)]
    assert "label 'jump' is not in the class list" in dict(r.skipped)["c"]
    with pytest.raises(ValueError, match="no split column 'fold'"):
        custom.records(manifest=tmp_path / "m.csv", protocol="fold", split="train")


def test_generated_json_manifest_with_indices(tmp_path):
    _files(tmp_path, ["a", "b"])
    items = [{"name": "first", "poses": "p/a.npz", "label": 0, "fold": "tr"},
             {"name": "second", "video": "v/b.mp4", "label": 5, "fold": "te"},
             {"name": "third", "video": "v/b.mp4", "label": 1, "fold": "te", "camera": 2}]
    (tmp_path / "m.json").write_text(json.dumps({"classes": ["sit", "stand"], "items": items}))
    r = custom.records(manifest=tmp_path / "m.json", protocol="fold", split="te")
    assert [(x.name, x.label, x.camera, x.poses) for x in r] == [("third", 1, 2, None)]
    assert "label index 5 is out of range for 2 classes" in dict(r.skipped)["second"]
    (tmp_path / "bare.json").write_text(json.dumps(items[:1] + [dict(items[2], label=3)]))
    assert custom.class_names(tmp_path / "bare.json") == ["class_0", "class_1", "class_2", "class_3"]
    for text, msg in (("{}", "list of objects"), ("[]", "no items"), ("[1, 2]", "list of objects")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(DataError, match=msg):
            custom.read_manifest(tmp_path / "bad.json")
    (tmp_path / "cols.csv").write_text("file,class\nx,y\n")
    with pytest.raises(DataError, match="needs 'video' and/or 'poses'"):
        custom.read_manifest(tmp_path / "cols.csv")


def test_parse_name():
    assert str(custom.parse_name("my clip 1")) == "my clip 1"
    for bad in ("", "a/b", " padded"):
        with pytest.raises(DataError):
            custom.parse_name(bad)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_generated_row_without_label_is_skipped_not_a_class(tmp_path, fmt):
    # a short CSV row and a JSON null used to become a class named "None"
    _files(tmp_path, ["a", "b", "c"])
    if fmt == "csv":
        (tmp_path / "m.csv").write_text("video,label,split\nv/a.mp4,wave,train\nv/b.mp4,,train\nv/c.mp4\n")
    else:
        (tmp_path / "m.json").write_text(json.dumps([{"video": "v/a.mp4", "label": "wave", "split": "train"},
                                                     {"video": "v/b.mp4", "label": None, "split": "train"},
                                                     {"video": "v/c.mp4"}]))
    manifest = tmp_path / f"m.{fmt}"
    assert custom.class_names(manifest) == ["wave"]
    r = custom.records(manifest=manifest, split="all")
    assert [(x.name, x.label) for x in r] == [("a", 0)]
    assert dict(r.skipped) == {"b": "row 2: no label", "c": "row 3: no label"}
    assert custom.classes_and_splits(manifest, "split") == (["wave"], ("train",))
    # index labels with one row missing its label: still 0..max
    (tmp_path / "i.csv").write_text("video,label\nv/a.mp4,2\nv/b.mp4,\n")
    assert custom.class_names(tmp_path / "i.csv") == ["class_0", "class_1", "class_2"]


def _project(world: np.ndarray, root: np.ndarray, f: float, size: tuple[int, int]) -> np.ndarray:
    """Image landmarks (T, 33, 4) of MediaPipe-style world landmarks (hip-centred, y down) placed at
    ``root`` (T, 3; camera space, y down) and seen by a pinhole camera of focal ``f`` pixels."""
    p = world[..., :3] + root[:, None]
    uv = f * p[..., :2] / p[..., 2:3] + np.array(size) / 2
    image = np.ones(world.shape, np.float64)
    image[..., :2] = uv / size
    return image


def test_root_track_recovers_a_walk_across_the_room():
    """Generated twin of bench_root_track.py (real numbers in RESULTS.md): a body walking 2 m across and
    1 m towards a camera of known field of view; its hip-centred MediaPipe landmarks get the path back
    (the fit is weak-perspective: a few cm off), and poses without it would keep none."""
    rng = np.random.default_rng(0)
    t, size, hfov = 40, (1280, 720), 60.0
    f = size[0] / 2 / np.tan(np.radians(hfov) / 2)
    body = np.zeros((33, 4))
    body[:, 0] = rng.uniform(-0.25, 0.25, 33)
    body[:, 1] = rng.uniform(-0.8, 0.9, 33)  # y down: head negative
    body[:, 2] = rng.uniform(-0.1, 0.1, 33)
    body[:, 3] = 0.9
    body[[23, 24], :3] = [[0.1, 0, 0], [-0.1, 0, 0]]  # hips around the origin
    world = np.repeat(body[None], t, axis=0)
    s = np.linspace(0, 1, t)
    root_down = np.stack([-1 + 2 * s, 0.2 + 0 * s, 4.5 - s], axis=1)  # camera space, y down
    image = _project(world, root_down, f, size)
    got = custom.mediapipe_root_track(world, image, size, hfov=hfov)
    want = root_down * [1, -1, 1]  # y up
    assert np.abs(got - want).max() < 0.06 * 4.5  # weak perspective: within a few % of the depth
    np.testing.assert_allclose(got[:, 0], want[:, 0], atol=0.1)
    # lateral motion does not depend on the assumed focal length, depth scales with it
    wide = custom.mediapipe_root_track(world, image, size, hfov=90.0)
    np.testing.assert_allclose(wide[:, :2], got[:, :2], rtol=1e-9)
    assert (wide[:, 2] < got[:, 2]).all()
    # through the reader: the NTU-25 hip centre follows the path (y up); without the frame size, none
    seq = custom.mediapipe_sequence(world, image, image_size=size, hfov=hfov)
    hips = seq.xyz[:, 0, [NTU25.index("hip_l"), NTU25.index("hip_r")]].mean(1)
    np.testing.assert_allclose(hips, got, atol=1e-5)
    flat = custom.mediapipe_sequence(world, image)
    assert np.abs(flat.xyz[:, 0, [NTU25.index("hip_l"), NTU25.index("hip_r")]].mean(1)).max() < 1e-6
    assert "no root track" in flat.notes[0]

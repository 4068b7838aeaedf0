"""Northwestern-UCLA: skeleton JSON reader, names, labels, the view protocol."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vpnet.data import nucla
from vpnet.data._readers import project
from vpnet.data.types import DataError


def write(path: Path, skeletons, name: str = "a01_s01_e00_v01", label: int | None = 1) -> Path:
    doc = {"file_name": name, "skeletons": np.asarray(skeletons).tolist()}
    if label is not None:
        doc["label"] = label
    path.write_text(json.dumps(doc))
    return path


def standing(t: int = 10) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = np.zeros((20, 3))
    base[:, 1] = np.linspace(0.8, -0.8, 20)
    base[:, 0] = rng.uniform(-0.2, 0.2, 20)
    base[:, 2] = 3.0
    return base[None] + rng.normal(0, 0.01, (t, 20, 3))


# ---------------------------------------------------------------------------------------------
# real files


def test_real_labels_for_the_ten_actions(shared_data):
    files = sorted((shared_data / "nucla" / "skeletons_subset").glob("*.json"))
    assert len(files) == 30
    labels = {}
    for f in files:
        doc = json.loads(f.read_text())
        name = nucla.parse_name(f)
        assert doc["file_name"] == f.stem == str(name)
        assert nucla.label_of(name) == doc["label"] - 1  # JSON labels are 1-based
        labels[name.action] = nucla.label_of(name)
    assert labels == {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 8: 6, 9: 7, 11: 8, 12: 9}
    assert len(nucla.class_names()) == 10


def test_real_read_and_project(shared_data):
    f = shared_data / "nucla" / "skeletons_subset" / "a01_s01_e00_v01.json"
    seq = nucla.read_poses(f)
    assert seq.xyz.shape == (44, 1, 20, 3) and seq.layout == "ucla20" and seq.present.all()
    raw = np.asarray(json.loads(f.read_text())["skeletons"], dtype=np.float32)
    assert np.array_equal(seq.xyz[:, 0], raw)
    head, foot = 3, 15
    assert seq.xyz[0, 0, head, 1] > seq.xyz[0, 0, foot, 1] + 1.0  # y up (standing at the start)
    # projected joints inside the 640x480 frame, the head above the feet in the image
    assert seq.image_size == (640, 480)
    assert (seq.uv[..., 0] > 0).all() and (seq.uv[..., 0] < 640).all()
    assert (seq.uv[..., 1] > 0).all() and (seq.uv[..., 1] < 480).all()
    assert seq.uv[0, 0, head, 1] < seq.uv[0, 0, foot, 1] - 150


def test_real_protocol_views(shared_data):
    r = nucla.records(pose_dir=shared_data / "nucla" / "skeletons_subset", split="train")
    t = nucla.records(pose_dir=shared_data / "nucla" / "skeletons_subset", split="test")
    assert (len(r), len(t)) == (20, 10) and not r.skipped
    assert {x.camera for x in r} == {1, 2} and {x.camera for x in t} == {3}
    assert sorted({x.label for x in t}) == list(range(10))


# ---------------------------------------------------------------------------------------------
# generated files


def test_generated_read_and_untracked_frames(tmp_path):
    sk = standing(6)
    sk[2] = 0.0  # the Kinect's "not tracked"
    seq = nucla.read_poses(write(tmp_path / "a01_s01_e00_v01.json", sk))
    assert seq.present[:, 0].tolist() == [True, True, False, True, True, True]
    assert np.isnan(seq.xyz[2]).all() and np.isnan(seq.uv[2]).all()
    assert np.allclose(seq.uv[0, 0], project(sk[0], nucla.INTRINSICS), atol=1e-3)
    f, cx, cy = nucla.INTRINSICS
    assert np.allclose(seq.uv[0, 0, :, 0], cx + f * sk[0, :, 0] / sk[0, :, 2], atol=1e-3)


def test_generated_bad_files(tmp_path):
    sk = standing(4)
    cases = [
        ("shape.json", sk[:, :18], None, r"shape \(4, 18, 3\)"),
        ("nan.json", np.where(np.arange(4)[:, None, None] == 1, np.nan, sk), None, "in frame 1 is not finite"),
        ("zeros.json", np.zeros((4, 20, 3)), None, "no tracked skeleton"),
        ("behind.json", sk * [1, 1, -1], None, "depth z <= 0"),
        ("label.json", sk, 4, "label 4 contradicts action a01"),
    ]
    for name, arr, label, msg in cases:
        p = tmp_path / name
        doc = {"file_name": "a01_s01_e00_v01", "skeletons": np.asarray(arr).tolist(), "label": label or 1}
        p.write_text(json.dumps(doc, allow_nan=True))
        with pytest.raises(DataError, match=msg) as e:
            nucla.read_poses(p)
        assert name in str(e.value)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="'skeletons'"):
        nucla.read_poses(tmp_path / "list.json")


def test_a_few_joints_behind_the_camera_are_repaired_from_neighbouring_frames(tmp_path):
    sk = standing(6)
    sk[2, 7, 2] = -0.5  # one joint of frame 2 behind the camera
    sk[3, 7, 2] = 0.0
    seq = nucla.read_poses(write(tmp_path / "a01_s01_e00_v01.json", sk))
    expected = sk[1, 7] + (sk[4, 7] - sk[1, 7]) * np.array([[1 / 3], [2 / 3]])  # linear in time
    assert np.allclose(seq.xyz[2:4, 0, 7], expected, atol=1e-6)
    assert np.allclose(seq.xyz[[0, 1, 4, 5], 0], sk[[0, 1, 4, 5]], atol=1e-6)  # the rest untouched
    assert len(seq.notes) == 1 and "2 joint positions at depth z <= 0 in 2 of 6 frames" in seq.notes[0]
    assert nucla.read_poses(write(tmp_path / "a01_s01_e00_v02.json", standing(6))).notes == ()
    sk[:4, 3, 2] = -1.0  # now 4 of 6 frames are bad: the clip is dropped
    with pytest.raises(DataError, match="4 of 6 tracked frames .* too many to repair"):
        nucla.read_poses(write(tmp_path / "a01_s01_e00_v03.json", sk))


def test_real_clips_with_joints_behind_the_camera_are_repaired(shared_data):
    folder = shared_data / "nucla" / "all_s01-s05"
    for name in ("a04_s01_e01_v01", "a04_s04_e02_v01"):
        seq = nucla.read_poses(folder / f"{name}.json")
        assert len(seq.notes) == 1 and "repaired from neighbouring frames" in seq.notes[0]
        xyz = seq.xyz[seq.present[:, 0], 0]
        assert np.isfinite(xyz).all() and (xyz[..., 2] > 0).all()


def test_names_and_labels():
    n = nucla.parse_name("a12_s10_e04_v03.json")
    assert n == (12, 10, 4, 3) and n.label == 9 and str(n) == "a12_s10_e04_v03"
    with pytest.raises(DataError, match="aAA_sSS_eEE_vVV"):
        nucla.parse_name("a1_s01_e00_v01")
    with pytest.raises(DataError, match="a07 is not one of the 10"):
        nucla.label_of("a07_s01_e00_v01")
    tr, te = nucla.split_names(["a01_s01_e00_v01", "a01_s01_e00_v02", "a01_s01_e00_v03"], protocol="v3")
    assert (tr, te) == (["a01_s01_e00_v01", "a01_s01_e00_v02"], ["a01_s01_e00_v03"])
    _, te = nucla.split_names(["a01_s01_e00_v01", "a01_s01_e00_v02"], protocol="v1")
    assert te == ["a01_s01_e00_v01"]
    with pytest.raises(ValueError, match="v1, v2, v3"):
        nucla.split_names([], protocol="cs")


def test_generated_records_find_all_video_layouts(tmp_path):
    poses, videos = tmp_path / "skeletons", tmp_path / "videos"
    poses.mkdir()
    names = ["a01_s01_e00_v01", "a02_s01_e00_v02", "a03_s02_e01_v03", "a04_s01_e00_v01", "a05_s01_e00_v03"]
    for n in names + ["a07_s01_e00_v01"]:
        write(poses / f"{n}.json", standing(3), name=n, label=None)
    (videos / "mp4").mkdir(parents=True)
    (videos / "mp4" / f"{names[0]}.avi").write_bytes(b"")  # a file
    (videos / names[1]).mkdir()  # a frame folder named after the clip
    (videos / "view_3" / "a03_s02_e01").mkdir(parents=True)  # the original release layout
    (videos / "view_1" / "a04_s01_e00").mkdir(parents=True)
    r = nucla.records(video_dir=videos, pose_dir=poses, split="all")
    assert [x.name for x in r] == names[:4]
    assert r[0].video.endswith(".avi") and r[1].video.endswith(names[1])
    assert r[2].video.endswith("view_3/a03_s02_e01") and r[3].video.endswith("view_1/a04_s01_e00")
    reasons = dict(r.skipped)
    assert "no video" in reasons[names[4]] and "a07 is not one of the 10" in reasons["a07_s01_e00_v01"]
    assert [x.name for x in nucla.records(video_dir=videos, pose_dir=poses, split="test")] == [names[2]]

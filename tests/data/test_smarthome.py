"""Toyota Smarthome: LCR-Net JSON reader, names, split files, class tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vpnet.data import smarthome
from vpnet.data.types import DataError

SPLIT_LINES = {("train", "CS"): 8831, ("validation", "CS"): 1854, ("test", "CS"): 5444,
               ("train", "CV1"): 1877, ("validation", "CV1"): 3539, ("test", "CV1"): 1901,
               ("train", "CV2"): 7806, ("validation", "CV2"): 3539, ("test", "CV2"): 1901}


def pose(rng: np.random.Generator, centre=(300.0, 200.0), y_down: bool = True):
    """A standing person: 13 joints, pose2d (13, 2) pixels, pose3d (13, 3) metres root-relative."""
    height = np.array([0.0, 0.0, 0.45, 0.45, 0.9, 0.9, 1.0, 1.0, 1.25, 1.25, 1.5, 1.5, 1.7]) - 0.9
    side = np.array([1, -1] * 6 + [0]) * 0.15
    p3 = np.stack([side, height, rng.normal(0, 0.02, 13)], axis=1)
    p2 = np.stack([centre[0] + 100 * side, centre[1] - 100 * height], axis=1) + rng.normal(0, 1, (13, 2))
    if y_down:
        p3[:, 1] *= -1
    return p2, p3


def det(p2, p3, layout="flat", score=10.0):
    if layout == "flat":
        return {"pose2d": p2.T.ravel().tolist(), "pose3d": p3.T.ravel().tolist(), "cumscore": score}
    if layout == "nested":
        return {"pose2d": p2.T.tolist(), "pose3d": p3.T.tolist(), "cumscore": score}
    return {"pose2d": p2.tolist(), "pose3d": p3.tolist(), "cumscore": score}  # joints first


def write_json(path: Path, frames, **extra) -> Path:
    path.write_text(json.dumps({"njts": 13, "K": [[500, 0, 320], [0, 500, 240], [0, 0, 1]], "frames": frames, **extra}))
    return path


# ---------------------------------------------------------------------------------------------
# real files


def test_real_split_files_and_class_tables(shared_data):
    split_dir = shared_data / "smarthome" / "splits"
    for (split, prot), n in SPLIT_LINES.items():
        names = smarthome.read_split(split_dir, prot.lower(), split)
        assert len(names) == n == len(set(names))
        for name in names[:50]:
            smarthome.parse_name(name)
    cs_actions = {smarthome.parse_name(n).action for n in smarthome.read_split(split_dir, "cs", "all")}
    assert len(cs_actions) == 32 and cs_actions - set(smarthome.class_names("cs")) == {"Pour.Fromcup"}
    for prot in ("cv1", "cv2"):
        actions = {smarthome.parse_name(n).action for n in smarthome.read_split(split_dir, prot, "all")}
        assert actions == set(smarthome.class_names(prot))
    label_maps = (shared_data / "smarthome" / "smarthome_label_maps.tsv").read_text()
    table = [line.split("\t") for line in label_maps.splitlines()[1:]]
    for prot in ("CS", "CV1", "CV2"):
        rows = sorted((int(i), name) for p, i, name in table if p == prot)
        assert smarthome.class_names(prot.lower()) == [name for _, name in rows]
    assert (len(smarthome.class_names("cs")), len(smarthome.class_names("cv1"))) == (31, 19)


def test_real_split_names_missing_files_and_unknown_class(shared_data, tmp_path):
    split_dir = shared_data / "smarthome" / "splits"
    listed = smarthome.read_split(split_dir, "cs", "train")
    rng = np.random.default_rng(0)
    have = [n for n in listed if not n.startswith("Pour.Fromcup")][:3]
    for n in have:
        write_json(tmp_path / f"{n}_pose3d.json", [[det(*pose(rng))]])
    r = smarthome.records(pose_dir=tmp_path, split_dir=split_dir, protocol="cs", split="train")
    assert sorted(x.name for x in r) == sorted(have)
    assert len(r.skipped) == len(listed) - 3
    reasons = dict(r.skipped)
    fromcup = [n for n in listed if n.startswith("Pour.Fromcup")]
    assert len(fromcup) == 2 and all("not one of the 31 classes" in reasons[n] for n in fromcup)
    assert sum("no " in v and "_pose3d.json" in v for v in reasons.values()) == len(listed) - 5
    x = r[0]
    assert x.label == smarthome.class_names("cs").index(smarthome.parse_name(x.name).action)
    assert x.subject == smarthome.parse_name(x.name).subject and x.video is None


# ---------------------------------------------------------------------------------------------
# generated files


@pytest.mark.parametrize("layout", ["flat", "nested", "joints_first"])
def test_generated_json_layouts_read_alike(tmp_path, layout):
    rng = np.random.default_rng(1)
    frames = [[det(*pose(rng), layout=layout)] for _ in range(5)]
    seq = smarthome.read_poses(write_json(tmp_path / "a.json", frames))
    rng = np.random.default_rng(1)
    ref = [pose(rng) for _ in range(5)]
    assert seq.xyz.shape == (5, 1, 13, 3) and seq.uv.shape == (5, 1, 13, 2) and seq.layout == "lcrnet13"
    assert np.allclose(seq.uv[:, 0], [p2 for p2, _ in ref], atol=1e-4)
    flipped = [p3 * [1, -1, 1] for _, p3 in ref]  # written y down, read y up
    assert np.allclose(seq.xyz[:, 0], flipped, atol=1e-6)
    assert seq.image_size is None and seq.present.all()


def test_generated_y_direction_is_detected_not_assumed(tmp_path):
    rng = np.random.default_rng(2)
    down = smarthome.read_poses(write_json(tmp_path / "d.json", [[det(*pose(rng, y_down=True))]]))
    up = smarthome.read_poses(write_json(tmp_path / "u.json", [[det(*pose(rng, y_down=False))]]))
    for seq in (down, up):
        assert seq.xyz[0, 0, 12, 1] > seq.xyz[0, 0, 0, 1] + 1.0  # head above ankle either way
    forced = smarthome.read_poses(tmp_path / "u.json", y_down=True)
    assert forced.xyz[0, 0, 12, 1] < forced.xyz[0, 0, 0, 1]


def test_generated_detections_linked_into_bodies(tmp_path):
    rng = np.random.default_rng(3)
    frames = []
    for t in range(8):
        a = det(*pose(rng, centre=(150 + 3 * t, 200)), score=20)
        b = det(*pose(rng, centre=(450 - 3 * t, 220)), score=5)
        frames.append([a, b] if t % 2 else [b, a])  # order varies, as LCR-Net's does
    frames[3] = []  # nobody detected
    frames[5] = [frames[5][0]]  # one person missed
    seq = smarthome.read_poses(write_json(tmp_path / "two.json", frames))
    assert seq.num_bodies == 2 and seq.body_ids == ("0", "1")
    assert sorted(seq.present.sum(0).tolist()) == [6, 7]
    for m in range(2):
        track = seq.uv[seq.present[:, m], m, :, 0].mean(-1)
        assert np.abs(np.diff(track)).max() < 20  # each slot stays one person
    assert not seq.present[3].any() and np.isnan(seq.xyz[3]).all()


def test_generated_bad_json_files(tmp_path):
    rng = np.random.default_rng(4)
    p2, p3 = pose(rng)
    cases = {
        "empty.json": ({"frames": [[], [], []]}, "no detection in any of the 3 frames"),
        "nan.json": ({"frames": [[{"pose2d": p2.T.ravel().tolist(), "pose3d": [float("nan")] * 39}]]}, "not finite"),
        "short.json": ({"frames": [[{"pose2d": p2.T.ravel().tolist(), "pose3d": [0.0] * 36}]]}, r"shape \(36,\)"),
        "njts.json": ({"njts": 17, "frames": [[det(p2, p3)]]}, "njts is 17"),
        "noframes.json": ({"poses": []}, "'frames' list"),
        "nopose.json": ({"frames": [[{"pose2d": p2.T.ravel().tolist()}]]}, "needs 'pose2d' and 'pose3d'"),
        "text.json": ({"frames": [[{"pose2d": "x", "pose3d": p3.tolist()}]]}, "not a list of numbers"),
    }
    for name, (doc, msg) in cases.items():
        (tmp_path / name).write_text(json.dumps(doc, allow_nan=True))
        with pytest.raises(DataError, match=msg) as e:
            smarthome.read_poses(tmp_path / name)
        assert name in str(e.value)
    (tmp_path / "broken.json").write_text('{"frames": [[{"pose2d": [1, 2')
    with pytest.raises(DataError, match="not valid JSON"):
        smarthome.read_poses(tmp_path / "broken.json")
    with pytest.raises(DataError, match="not found"):
        smarthome.read_poses(tmp_path / "absent.json")


def test_names_labels_and_protocols():
    n = smarthome.parse_name("Drink.Fromcup_p17_r02_v09_c01.mp4")
    assert n == ("Drink.Fromcup", 17, 2, 9, 1) and str(n) == "Drink.Fromcup_p17_r02_v09_c01"
    assert smarthome.parse_name("Walk_p03_r01_v16_c06_pose3d.json").action == "Walk"
    for bad in ("Walk_p3_r01_v16_c06", "Walk_p03_r01_v16", "_p03_r01_v16_c06", "Walk p03"):
        with pytest.raises(DataError, match="Action.Sub_pXX_rXX_vXX_cXX"):
            smarthome.parse_name(bad)
    assert smarthome.label_of("Walk_p03_r01_v16_c06", "cs") == 29
    assert smarthome.label_of("Walk_p03_r01_v16_c06", "cv2") == 18
    with pytest.raises(DataError, match="'Cook.Cut' is not one of the 19 classes of protocol CV1"):
        smarthome.label_of("Cook.Cut_p03_r01_v16_c06", "cv1")
    with pytest.raises(ValueError, match="protocols are cs, cv1, cv2"):
        smarthome.class_names("cv3")


def test_generated_records_report_missing_files(tmp_path):
    rng = np.random.default_rng(5)
    (tmp_path / "splits").mkdir()
    (tmp_path / "videos").mkdir()
    (tmp_path / "poses").mkdir()
    names = ["Walk_p03_r01_v16_c06", "Readbook_p04_r00_v01_c01", "Eat.Snack_p06_r00_v02_c02",
             "Cook.Cut_p03_r00_v01_c01"]
    (tmp_path / "splits" / "train_CV1.txt").write_text("".join(f"{n}.mp4\n" for n in names) + "garbage line\n")
    for n in names[:2] + names[3:]:
        (tmp_path / "videos" / f"{n}.mp4").write_bytes(b"")
        write_json(tmp_path / "poses" / f"{n}.json", [[det(*pose(rng))]])
    (tmp_path / "videos" / f"{names[2]}.mp4").write_bytes(b"")  # video but no pose file
    r = smarthome.records(video_dir=tmp_path / "videos", pose_dir=tmp_path / "poses", split_dir=tmp_path / "splits",
                          protocol="CV1", split="train")
    assert [x.name for x in r] == sorted(names[:2])
    assert r[0].poses.endswith(".json") and r[0].camera == 1 and r[0].meta["action"] == "Readbook"
    reasons = dict(r.skipped)
    assert "no Eat.Snack_p06_r00_v02_c02_pose3d.json" in reasons[names[2]]
    assert "not one of the 19 classes" in reasons[names[3]]
    assert "Action.Sub" in reasons["garbage line"]
    with pytest.raises(DataError, match="split file not found"):
        smarthome.records(pose_dir=tmp_path / "poses", split_dir=tmp_path / "splits", protocol="cs", split="train")
    with pytest.raises(ValueError, match="split_dir"):
        smarthome.records(pose_dir=tmp_path / "poses", protocol="cs", split="train")

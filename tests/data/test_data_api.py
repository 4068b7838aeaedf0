"""The data package's entry points (check_paths, dataset_records, dataset_info) and the readers' shared pieces."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vpnet.config import DataConfig
from vpnet.data import _readers, check_paths, dataset_info, dataset_records, synthetic
from vpnet.data.types import DataError

# ---------------------------------------------------------------------------------------------
# check_paths


def _dirs(tmp_path: Path, *names: str) -> dict[str, str]:
    out = {}
    for n in names:
        (tmp_path / n).mkdir()
        out[n] = str(tmp_path / n)
    return out


def test_check_paths_raw_data_of_each_dataset(tmp_path):
    d = _dirs(tmp_path, "video_dir", "pose_dir", "split_dir")
    for dataset in ("ntu60", "ntu120", "nucla"):
        check_paths(DataConfig(dataset=dataset, video_dir=d["video_dir"], pose_dir=d["pose_dir"]))
    check_paths(DataConfig(dataset="smarthome", **d))
    with pytest.raises(DataError, match="data.split_dir is not set"):
        check_paths(DataConfig(dataset="smarthome", video_dir=d["video_dir"], pose_dir=d["pose_dir"]))
    with pytest.raises(DataError) as e:
        check_paths(DataConfig(dataset="ntu60", video_dir=str(tmp_path / "nowhere")))
    msg = str(e.value)
    assert f"data.video_dir: {tmp_path / 'nowhere'} does not exist" in msg and "data.pose_dir is not set" in msg
    assert "missing_list" not in msg  # optional
    # pose-only use needs no videos
    check_paths(DataConfig(dataset="ntu60", pose_dir=d["pose_dir"]), needs_video=False)
    with pytest.raises(DataError, match="data.video_dir is not set"):
        check_paths(DataConfig(dataset="ntu60", pose_dir=d["pose_dir"]))


def test_check_paths_missing_list_manifest_store_features(tmp_path):
    d = _dirs(tmp_path, "video_dir", "pose_dir", "store", "features")
    absent = str(tmp_path / "NTU_RGBD_samples_with_missing_skeletons.txt")
    with pytest.raises(DataError, match=f"data.missing_list: {absent} does not exist"):
        check_paths(DataConfig(dataset="ntu60", video_dir=d["video_dir"], pose_dir=d["pose_dir"], missing_list=absent))
    Path(absent).write_text("S001C001P001R001A001\n")
    check_paths(DataConfig(dataset="ntu60", video_dir=d["video_dir"], pose_dir=d["pose_dir"], missing_list=absent))
    # custom data: data.manifest, or manifest.csv in data.split_dir
    with pytest.raises(DataError, match="data.manifest is not set"):
        check_paths(DataConfig(dataset="custom", protocol="split"))
    with pytest.raises(DataError, match=f"data.manifest: {tmp_path / 'manifest.csv'} does not exist"):
        check_paths(DataConfig(dataset="custom", protocol="split", split_dir=str(tmp_path)))
    (tmp_path / "manifest.csv").write_text("video,label\n")
    check_paths(DataConfig(dataset="custom", protocol="split", split_dir=str(tmp_path)))
    # a prepared store or a feature cache stands in for the raw data (whose preset paths may be absent)
    raw_absent = dict(video_dir=str(tmp_path / "x"), pose_dir=str(tmp_path / "y"), missing_list=str(tmp_path / "z"))
    check_paths(DataConfig(dataset="ntu60", prepared_dir=d["store"], **raw_absent))
    check_paths(DataConfig(dataset="ntu60", feature_dir=d["features"], prepared_dir=str(tmp_path / "x")))
    with pytest.raises(DataError, match="data.prepared_dir: .* does not exist"):
        check_paths(DataConfig(dataset="ntu60", prepared_dir=str(tmp_path / "x")))
    with pytest.raises(ValueError, match="unknown dataset 'kinetics'"):
        check_paths(DataConfig(dataset="kinetics"))


# ---------------------------------------------------------------------------------------------
# dataset_records / dataset_info


def test_dataset_records_passes_the_missing_list_and_warns_only_when_unset(tmp_path, caplog):
    ds = synthetic.make_ntu(tmp_path, num_classes=2, per_class=6, frames=16, videos=False)
    listed = ds.names[:2]  # samples with a (here: complete) skeleton file, excluded by the list
    (tmp_path / "missing.txt").write_text("2 samples\n\n" + "\n".join(listed) + "\n")
    base = dict(dataset="ntu60", protocol="cs", pose_dir=str(ds.pose_dir))
    # not given at all (the reader called directly, or a config where no layer sets it): a warning
    from vpnet.data import ntu
    from vpnet.engine.config_loader import load_config

    for unset in (lambda: ntu.records(pose_dir=ds.pose_dir, protocol="cs", split="all"),
                  lambda: load_config(None, ["data.dataset=ntu60", f"data.pose_dir={ds.pose_dir}"])):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="vpnet.data"):
            unset()
        warnings = [r.getMessage() for r in caplog.records if "missing_list" in r.getMessage()]
        assert len(warnings) == 1
        assert "302 samples listed in NTU_RGBD_samples_with_missing_skeletons.txt" in warnings[0]
    # data.missing_list=null: kept knowingly, no warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vpnet.data"):
        every = dataset_records(DataConfig(**base, missing_list=None), "all")
    assert not [r for r in caplog.records if "missing_list" in r.getMessage()]
    assert [r.name for r in every] == sorted(ds.names) and not every.skipped
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vpnet.data"):
        used = dataset_records(DataConfig(**base, missing_list=str(tmp_path / "missing.txt")), "all")
    assert not [r for r in caplog.records if "missing_list" in r.getMessage()]
    assert [r.name for r in used] == sorted(set(ds.names) - set(listed))
    assert {s.name for s in used.skipped} == set(listed)


def test_dataset_info_of_custom_data_reads_splits_from_the_manifest(tmp_path):
    ds = synthetic.make_custom(tmp_path, num_classes=2, per_class=4, frames=10, videos=False)
    info = dataset_info(DataConfig(dataset="custom", protocol="split", manifest=str(ds.manifest)))
    assert info.class_names == ds.class_names and info.splits == ("train", "test")
    # the manifest found in data.split_dir
    assert dataset_info(DataConfig(dataset="custom", protocol="split", split_dir=str(tmp_path))) == info
    records = dataset_records(DataConfig(dataset="custom", protocol="split", split_dir=str(tmp_path)), "test")
    test_names = [n for i, n in enumerate(ds.names) if i % 4 == 3]
    assert [s.name for s in records.skipped] == test_names  # no videos written: listed, then reported
    with pytest.raises(ValueError, match="needs a manifest"):
        dataset_info(DataConfig(dataset="custom", protocol="split"))


# ---------------------------------------------------------------------------------------------
# shared reader pieces


def test_scan_one_walk_many_suffixes_and_folders(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "a").mkdir()
    for rel in ("x.json", "x_pose3d.json", "b/y.JSON", "a/y.json", "b/deep/z_pose3d.json", "a/z.json", "notes.txt"):
        (tmp_path / rel).write_text("{}")
    found = _readers.scan(tmp_path, ("_pose3d.json", ".json"), "pose")
    # the first suffix wins over the second; then the first path in sorted order (a/ before b/)
    assert found == {"x": tmp_path / "x_pose3d.json", "y": tmp_path / "a" / "y.json",
                     "z": tmp_path / "b" / "deep" / "z_pose3d.json"}
    (tmp_path / "clip").mkdir()
    (tmp_path / "b" / "clip.avi").write_text("")
    (tmp_path / "b" / "frames_of_w").mkdir()
    videos = _readers.scan(tmp_path, (".avi",), "video",
                           folder_name=lambda parent, d: d.removeprefix("frames_of_") if d != "a" else None)
    assert videos["clip"] == tmp_path / "b" / "clip.avi"  # a file wins over a folder of the same name
    assert videos["w"] == tmp_path / "b" / "frames_of_w" and "a" not in videos
    assert _readers.scan(None, (".avi",), "video") == {}
    with pytest.raises(DataError, match="video folder does not exist"):
        _readers.scan(tmp_path / "nowhere", (".avi",), "video")


def test_choice_strip_suffix_read_bytes_and_resources(tmp_path):
    assert _readers.choice("VAL", ("train", "validation"), "splits", aliases={"val": "validation"}) == "validation"
    with pytest.raises(ValueError, match="Smarthome protocols are cs, cv1, cv2 \\(hint\\); got 'cv3'"):
        _readers.choice("cv3", ("cs", "cv1", "cv2"), "Smarthome protocols", hint=" (hint)")
    assert _readers.strip_suffix("/d/S001C001P001R001A001_rgb.avi", ("_rgb.avi", ".avi")) == "S001C001P001R001A001"
    assert _readers.strip_suffix("name", (".json",)) == "name"
    with pytest.raises(DataError, match="split file not found"):
        _readers.read_bytes(tmp_path / "absent.txt", "split file")
    with pytest.raises(DataError, match="cannot read file"):
        _readers.read_bytes(tmp_path)  # a folder
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 text \\(byte 3\\)"):
        _readers.read_text(tmp_path / "latin1.txt")
    lines = _readers.resource_lines("nucla_classes.txt")
    assert isinstance(lines, tuple) and len(lines) == 10
    assert _readers.resource_lines("nucla_classes.txt") is lines  # read once

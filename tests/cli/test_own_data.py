"""Own videos in class folders, end to end through the documented commands only (docs/own-data.md):
``vpnet prepare`` (poses extracted with MediaPipe, none given), ``vpnet train`` (1 epoch),
``vpnet evaluate``, ``vpnet predict``; then the bad inputs of prepare and train.

The videos are vpnet-ADL's rendered people (MediaPipe finds them in every frame), tiny: 2 classes x
3 videos of 16 frames at 192x108."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vpnet.cli import app

REPO = Path(__file__).resolve().parents[2]
POSE_PRESET = REPO / "configs" / "pose_gcn_custom.yaml"
TINY = ["train.epochs=1", "train.global_batch=2", "data.batch_size=2", "data.num_workers=0"]


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def mediapipe():
    from vpnet.extras import MissingExtraError
    from vpnet.poses import _mediapipe

    try:
        _mediapipe()
    except MissingExtraError:
        pytest.skip("the pose extra is not installed (vpnet pose install)")


@pytest.fixture(scope="module")
def class_folders(tmp_path_factory) -> Path:
    """videos/<split>/<class>/<name>.avi of rendered people: train 2 per class, test 1 per class."""
    from vpnet.data.adl import ADLSpec, make_adl

    tmp = tmp_path_factory.mktemp("own")
    data = make_adl(tmp / "adl", ADLSpec(per_class=3, size=(192, 108), frames=16, classes=2))
    root = tmp / "videos"
    for i, (name, label) in enumerate(zip(data.names, data.labels)):
        dst = root / ("test" if i % 3 == 2 else "train") / data.class_names[label].replace(" ", "_") / f"{name}.avi"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data.video_dir / f"{name}_rgb.avi", dst)
    return root


def test_class_folders_prepare_train_evaluate_predict(mediapipe, class_folders, tmp_path):
    """No poses, no class list, no class count given: the documented commands give outputs named
    with the class folders' names."""
    classes = ["drink_from_bottle", "drink_from_cup"]
    store, runs = tmp_path / "store", tmp_path / "runs"
    res = run_cli("prepare", "-c", POSE_PRESET, f"data.video_dir={class_folders}", "--out", store, "-j", "1")
    assert res.exit_code == 0, res.output
    assert "6 items; prepared 6" in res.output
    assert len(list((store / "poses").glob("*.npz"))) == 6  # in the store, not next to the videos
    assert not list(class_folders.rglob("*.npz"))
    assert json.loads((store / "records" / "folders.classes.json").read_text()) == {
        "classes": classes, "splits": ["test", "train"]}

    res = run_cli("train", "-c", POSE_PRESET, f"data.prepared_dir={store}", f"output_dir={runs}", *TINY)
    assert res.exit_code == 0, res.output
    run = runs / "pose_gcn_custom"
    assert "num_classes: 2" in (run / "config.yaml").read_text()  # from the data (the preset says 0)

    res = run_cli("evaluate", "--run", run)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((run / "eval" / "test-multi" / "predictions.csv").open()))
    assert sorted(r["name"] for r in rows) == ["test/drink_from_bottle/S001C001P002R001A002",
                                               "test/drink_from_cup/S001C003P002R001A001"]
    assert {r["label_name"] for r in rows} == set(classes) and {r["prediction_name"] for r in rows} <= set(classes)
    assert all(r["label_name"] == r["name"].split("/")[1] for r in rows)

    video = class_folders / "test" / "drink_from_cup" / "S001C003P002R001A001.avi"
    res = run_cli("predict", video, "--run", run, "--out", tmp_path / "p.json")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["classes"] == classes and doc["top_class"] in classes
    assert "data.dataset=folders" in doc["trained_on"] and "warning" not in doc
    assert sum(doc["scores"]) == pytest.approx(1, abs=1e-4)


def test_prepare_reports_bad_items_and_prepares_the_rest(mediapipe, class_folders, tmp_path):
    """A class folder without videos, a file no decoder opens, a video with nobody in it: each reported
    with its reason, the other videos prepared, exit code 1."""
    from tests.inference.conftest import write_video

    root = tmp_path / "videos"
    shutil.copytree(class_folders, root)
    (root / "train" / "empty_class").mkdir()
    (root / "test" / "drink_from_cup" / "broken.mp4").write_bytes(b"not a video at all")
    write_video(root / "train" / "drink_from_cup" / "nobody.mp4", np.full((8, 96, 128, 3), 90, np.uint8))
    res = run_cli("prepare", "-c", POSE_PRESET, f"data.video_dir={root}", "--out", tmp_path / "store", "-j", "1")
    assert res.exit_code == 1, res.output
    assert "8 items; prepared 6, already done 0, failed 2; 1 left out by the scan" in res.output
    report = {e["name"]: e for e in map(json.loads, (tmp_path / "store" / "report.jsonl").read_text().splitlines())}
    assert report["train/empty_class"]["status"] == "left out"
    assert "class folder holds no video file" in report["train/empty_class"]["reason"]
    assert report["test/drink_from_cup/broken"]["reason"].startswith("pose extraction: cannot open video")
    assert "no person found in any of the 8 frames" in report["train/drink_from_cup/nobody"]["reason"]
    assert "Traceback" not in res.output


def test_zero_items_and_small_splits_are_errors_naming_why(tmp_path):
    """A prepare that would see nothing, and a train split smaller than a batch, stop with one line."""
    from tests.inference.conftest import make_data

    manifest = make_data(tmp_path / "data")  # a custom manifest whose split column is 'split'
    res = run_cli("prepare", "data.dataset=custom", f"data.manifest={manifest}", "--out", tmp_path / "s")
    assert res.exit_code == 2 and "data.protocol=cs gives no split, so nothing would be prepared" in res.output
    assert "data.protocol=split" in res.output

    empty = tmp_path / "videos"
    (empty / "train" / "a").mkdir(parents=True)
    res = run_cli("prepare", "-c", POSE_PRESET, f"data.video_dir={empty}", "--out", tmp_path / "s2")
    assert res.exit_code == 2 and "no video files" in res.output and str(empty) in res.output

    # 6 train items, a global batch of 8
    res = run_cli("train", "data.dataset=custom", "data.protocol=split", f"data.manifest={manifest}",
                  "model.variant=pose_only", "model.num_classes=0", "model.t_p=4", "train.global_batch=8",
                  "data.batch_size=8", "data.num_workers=0", "train.epochs=1", f"output_dir={tmp_path / 'runs'}")
    assert res.exit_code == 2 and "the train split has 6 items, fewer than one global batch" in res.output


def test_custom_presets_start_from_kinetics_and_take_the_classes_from_the_data():
    from vpnet.engine.config_loader import load_config

    vpn = load_config(REPO / "configs" / "vpn_i3d_custom.yaml")
    assert (vpn.data.dataset, vpn.model.variant, vpn.model.backbone_weights) == ("folders", "l3", "kinetics400")
    assert (vpn.model.num_classes, vpn.model.skeleton, vpn.model.clip_len, vpn.model.crop_size) == (0, "ntu25", 64, 224)
    pose = load_config(POSE_PRESET)
    assert (pose.data.dataset, pose.model.variant, pose.model.num_classes, pose.data.pose_norm) == (
        "folders", "pose_only", 0, "rotate")


@pytest.mark.slow
def test_vpn_preset_on_class_folders(mediapipe, class_folders, tmp_path):
    """The full VPN preset through the same commands (CI-sized: 8 frames of 64 pixels, a random-init I3D)."""
    preset = REPO / "configs" / "vpn_i3d_custom.yaml"
    store, runs = tmp_path / "store", tmp_path / "runs"
    res = run_cli("prepare", "-c", preset, f"data.video_dir={class_folders}", "--out", store, "-j", "1")
    assert res.exit_code == 0, res.output
    small = ["model.clip_len=8", "model.crop_size=64", "model.backbone_weights=null"]
    res = run_cli("train", "-c", preset, f"data.prepared_dir={store}", f"output_dir={runs}", *TINY, *small)
    assert res.exit_code == 0, res.output
    run = runs / "vpn_i3d_custom"
    res = run_cli("evaluate", "--run", run)
    assert res.exit_code == 0, res.output
    results = json.loads((run / "eval" / "test-multi" / "results.json").read_text())
    assert results["short_side"] == 64 and "top5" not in results  # the model's size; 2 classes: no top-5
    video = class_folders / "test" / "drink_from_bottle" / "S001C001P002R001A002.avi"
    res = run_cli("predict", video, "--run", run, "--out", tmp_path / "p.json")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["classes"] == ["drink_from_bottle", "drink_from_cup"]
    assert len(doc["windows"][0]["a_s"]) == 2 and len(doc["windows"][0]["a_t"]) == 1  # 64 px: 2x2, 8 frames: 1

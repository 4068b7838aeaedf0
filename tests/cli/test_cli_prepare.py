"""``vpnet prepare``: a whole store from generated NTU-format data, bad items, shards, resume, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vpnet.cli import app
from vpnet.config import DataConfig
from vpnet.data import build_dataset, ntu, prepared, synthetic
from vpnet.data.video import open_video


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> synthetic.SyntheticDataset:
    ds = synthetic.make_ntu(tmp_path_factory.mktemp("ntu"), num_classes=2, per_class=6, frames=20, size=(128, 72),
                            seed=2, missing_skeletons=1)
    return ds


def _run(data: synthetic.SyntheticDataset, out: Path, *args: str):
    result = CliRunner().invoke(app, ["prepare", "data.dataset=ntu60", f"data.video_dir={data.video_dir}",
                                      f"data.pose_dir={data.pose_dir}", "--out", str(out), "--size", "48",
                                      "--no-progress", *args])
    return result


def test_prepare_a_dataset_with_a_bad_item(data, tmp_path):
    bad = tmp_path / "bad"
    for sub in (data.video_dir, data.pose_dir):
        (bad / sub.name).mkdir(parents=True)
        for f in sub.iterdir():
            (bad / sub.name / f.name).symlink_to(f)
    broken = sorted((bad / data.video_dir.name).iterdir())[0]
    broken.unlink()
    broken.write_bytes(b"not a video at all")
    copy = synthetic.SyntheticDataset(root=bad, video_dir=bad / data.video_dir.name, pose_dir=bad / data.pose_dir.name,
                                      names=data.names, labels=data.labels, class_names=data.class_names)
    out = tmp_path / "store"
    result = _run(copy, out, "-j", "2")
    assert result.exit_code == 1, result.output
    n = len(data.names) - 1  # one sample ships without skeleton, like NTU's missing ones
    assert f"{n} items; prepared {n - 1}, already done 0, failed 1; 1 left out by the scan" in result.output
    report = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    by_status = {e["status"]: e for e in report}
    assert by_status["failed"]["name"] == broken.name.removesuffix("_rgb.avi")
    assert str(broken) in by_status["failed"]["reason"] and "cannot open video" in by_status["failed"]["reason"]
    assert by_status["left out"]["name"] == data.missing[0] and "no skeleton" in by_status["left out"]["reason"]
    assert len(list((out / "items").glob("*.safetensors"))) == n - 1
    # Every protocol split is recorded, with its class names, so training needs only the store.
    assert sorted(p.name for p in (out / "records").iterdir()) == [
        "cs-test.jsonl", "cs-train.jsonl", "cs.classes.json", "cv-test.jsonl", "cv-train.jsonl", "cv.classes.json"]
    cfg = DataConfig(dataset="ntu60", protocol="cv", prepared_dir=str(out), clip_len=8, crop_size=32, t_p=4, seed=0)
    ds = build_dataset(cfg, "train", mode="train")
    names = {r.name for r in ntu.records(video_dir=data.video_dir, pose_dir=data.pose_dir, protocol="cv",
                                         split="train")}
    assert {r.name for r in ds.records} | {p[0] for p in ds.problems} == names
    failed = by_status["failed"]["name"]
    assert [p[0] for p in ds.problems] == ([failed] if failed in names else [])
    assert ds[0]["video"].shape == (3, 8, 32, 32)


def test_shards_then_resume(data, tmp_path):
    out = tmp_path / "store"
    first = _run(data, out, "--shard", "0/2", "-j", "0")
    assert first.exit_code == 0, first.output
    assert (out / "report.shard-0-of-2.jsonl").is_file()
    half = {p.name for p in (out / "items").iterdir()}
    second = _run(data, out, "--shard", "1/2", "-j", "0")
    assert second.exit_code == 0, second.output
    everything = {p.name for p in (out / "items").iterdir()}
    expected = {f"{name}.safetensors" for name in data.names if name not in data.missing}
    assert everything == expected and 0 < len(half) < len(everything)
    # An interrupted run: one item lost; the rerun redoes only that one.
    victim = out / "items" / sorted(everything)[3]
    victim.unlink()
    again = _run(data, out, "-j", "0")
    assert again.exit_code == 0, again.output
    assert f"prepared 1, already done {len(expected) - 1}, failed 0" in again.output
    with prepared.PreparedItem(victim) as item:
        name = victim.name.removesuffix(".safetensors")
        assert item.record.name == name
        assert item.video.num_frames == open_video(data.video_dir / f"{name}_rgb.avi").num_frames
        np.testing.assert_array_equal(item.poses.xyz, ntu.read_poses(data.pose_dir / f"{name}.skeleton").xyz)


def test_prepare_usage_errors(data, tmp_path):
    runner = CliRunner()
    r = _run(data, tmp_path / "s", "--shard", "2/2")
    assert r.exit_code == 2 and "0 <= K < N" in r.output
    r = runner.invoke(app, ["prepare", "data.dataset=ntu61", "--out", str(tmp_path / "s")])
    assert r.exit_code == 2 and "unknown dataset 'ntu61'" in r.output
    r = runner.invoke(app, ["prepare", "data.dataset=ntu60", f"data.video_dir={data.video_dir}",
                            f"data.pose_dir={data.pose_dir}"])
    assert r.exit_code == 2 and "--out" in r.output
    # The raw folders are checked up front, not item by item.
    r = runner.invoke(app, ["prepare", "data.dataset=ntu60", "--out", str(tmp_path / "s")])
    assert r.exit_code == 2 and "set data.video_dir and data.pose_dir" in r.output
    r = runner.invoke(app, ["prepare", "data.dataset=ntu60", f"data.video_dir={data.video_dir}", "--out",
                            str(tmp_path / "s")])
    assert r.exit_code == 2 and "set data.pose_dir" in r.output and "video_dir" not in r.output
    assert not (tmp_path / "s").exists()
    r = _run(data, tmp_path / "s", "--protocol", "xyz")
    assert r.exit_code == 2 and "protocols are cs, cv" in r.output
    # A store keeps its options: resuming with others is refused.
    assert _run(data, tmp_path / "t", "--split", "test", "-j", "0").exit_code == 0
    r = _run(data, tmp_path / "t", "--split", "test", "--quality", "50")
    assert r.exit_code == 1 and "quality: store 90 vs now 50" in r.output

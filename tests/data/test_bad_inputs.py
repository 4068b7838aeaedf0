"""Silently wrong data must be an error: a truncated video, a frame folder with a gap and a damaged prepared
item are errors (or redone), never a shorter or shifted item that training uses as if it were whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vpnet.cli import app
from vpnet.data import prepared, synthetic
from vpnet.data.types import DataError
from vpnet.data.video import open_video

NAME = "S001C001P001R001A001"


def _ntu_folder(tmp: Path, skeleton: Path, video_bytes: bytes) -> tuple[Path, Path]:
    rgb, sk = tmp / "nturgb+d_rgb", tmp / "nturgb+d_skeletons"
    rgb.mkdir(parents=True)
    sk.mkdir(parents=True)
    shutil.copy(skeleton, sk / f"{NAME}.skeleton")
    (rgb / f"{NAME}_rgb.avi").write_bytes(video_bytes)
    return rgb, sk


def _prepare(rgb: Path, sk: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, ["prepare", "data.dataset=ntu60", f"data.video_dir={rgb}", f"data.pose_dir={sk}",
                                    "--out", str(out), "--size", "32", "--no-progress", "-j", "0",
                                    "--protocol", "cs", "--split", "train", *extra])


def _check_truncated_is_reported(rgb: Path, sk: Path, out: Path, declared: int) -> None:
    video = rgb / f"{NAME}_rgb.avi"
    with pytest.raises(DataError, match=rf"_rgb.avi: only \d+ of the {declared} frames the container declares"):
        _ = open_video(video).num_frames
    r = _prepare(rgb, sk, out)
    assert r.exit_code == 1, r.output
    assert "prepared 0, already done 0, failed 1" in r.output and "Traceback" not in r.output
    (entry,) = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    assert entry["status"] == "failed" and f"{video}: only" in entry["reason"] and "truncated" in entry["reason"]
    assert not list((out / "items").glob("*.safetensors"))  # nothing half-usable was stored


def test_real_truncated_video_is_an_unusable_item(shared_data, tmp_path):
    """Case 2 on the real NTU sample cut to 45 % of its bytes (it was prepared as a short item, exit 0)."""
    data = (shared_data / "ntu" / f"{NAME}_rgb.avi").read_bytes()
    skeleton = shared_data / "ntu" / "skeletons" / f"{NAME}.skeleton"
    rgb, sk = _ntu_folder(tmp_path, skeleton, data[: len(data) * 45 // 100])
    _check_truncated_is_reported(rgb, sk, tmp_path / "store", declared=103)


def test_generated_truncated_video_is_an_unusable_item(tmp_path):
    """Case 2, generated twin: an H.264 AVI of 30 frames cut in half."""
    ds = synthetic.make_ntu(tmp_path / "gen", num_classes=1, per_class=1, frames=30, size=(96, 54))
    (name,) = ds.names
    video = ds.video_dir / f"{name}_rgb.avi"
    frames = open_video(video).num_frames
    noise = np.random.default_rng(0).integers(0, 256, (frames, 54, 96, 3), dtype=np.uint8)  # large, even frames
    synthetic.write_video(video, noise, codec="mpeg4")
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    rgb, sk = ds.video_dir, ds.pose_dir
    (rgb / f"{name}_rgb.avi").rename(rgb / f"{NAME}_rgb.avi")
    (sk / f"{name}.skeleton").rename(sk / f"{NAME}.skeleton")
    _check_truncated_is_reported(rgb, sk, tmp_path / "store", declared=frames)


def test_frame_folder_with_a_gap_is_an_error(tmp_path):
    """Case 3: 00005.jpg absent from 00000..00009 used to give 9 frames, every later one shifted."""
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(10):
        if i != 5:
            cv2.imwrite(str(folder / f"{i:05d}.jpg"), np.full((8, 8, 3), i * 20, np.uint8))
    with pytest.raises(DataError, match=r"frames: frame numbers jump from 4 \(00004.jpg\) to 6 \(00006.jpg\): "
                                        r"1 frame missing"):
        open_video(folder)
    cv2.imwrite(str(folder / "00005.jpg"), np.zeros((8, 8, 3), np.uint8))
    assert open_video(folder).num_frames == 10
    # any start is fine (N-UCLA folders start at 1, others at 0), as long as the numbers run on
    (folder / "00000.jpg").unlink()
    assert open_video(folder).num_frames == 9


def test_prepare_rerun_redoes_a_damaged_item(tmp_path):
    """Case 4: an item file truncated after a run was counted as done (and skipped by training later)."""
    ds = synthetic.make_ntu(tmp_path / "gen", num_classes=1, per_class=2, frames=16, size=(96, 54))
    out = tmp_path / "store"

    def run():
        return CliRunner().invoke(app, ["prepare", "data.dataset=ntu60", f"data.video_dir={ds.video_dir}",
                                        f"data.pose_dir={ds.pose_dir}", "--out", str(out), "--size", "32",
                                        "--no-progress", "-j", "0"])

    assert run().exit_code == 0
    items = sorted((out / "items").glob("*.safetensors"))
    whole = items[0].read_bytes()
    assert all(prepared.check_item(p) is None for p in items)
    items[0].write_bytes(whole[: len(whole) * 2 // 3])  # truncated
    assert prepared.check_item(items[0]) is not None
    r = run()
    assert r.exit_code == 0, r.output
    assert f"prepared 1, already done {len(items) - 1}, failed 0" in r.output
    report = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    assert [e["name"] for e in report if "damaged" in e.get("note", "")] == [items[0].stem]
    assert prepared.check_item(items[0]) is None  # written again, whole
    # a file overwritten with something else entirely is redone too
    items[1].write_bytes(b"\0" * 100)
    assert "prepared 1," in run().output and prepared.check_item(items[1]) is None

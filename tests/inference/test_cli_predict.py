"""``vpnet predict`` / ``vpnet export`` end to end, and their errors on bad input."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from vpnet.cli import app

from .conftest import write_video

SAMPLE = "S001C001P001R001A001"


def run_cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def _frames(path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_predict_real_ntu_video(shared_data, tiny_run, onnx_file, has_mediapipe, tmp_path):
    """MediaPipe poses, the tiny checkpoint, the real 1080p NTU video: JSON, annotated video, the cache,
    and the ONNX export giving the same top class and scores within 1e-3."""
    if not has_mediapipe:
        pytest.skip("the pose extra is not installed (vpnet pose install)")
    video = shared_data / "ntu" / f"{SAMPLE}_rgb.avi"
    res = run_cli("predict", video, "--run", tiny_run, "--out", tmp_path / "p.json", "--video-out", tmp_path / "p.mp4")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["num_frames"] == 103 and doc["fps"] == 30 and doc["classes"] == ["left", "right"]
    assert doc["top_class"] in doc["classes"] and doc["top_score"] == max(doc["scores"])
    assert len(doc["windows"]) == 7 and doc["windows"][-1]["end_frame"] == 102  # span 15, tiles the video
    assert np.allclose(np.mean([w["scores"] for w in doc["windows"]], axis=0), doc["scores"], atol=1e-6)
    assert _frames(tmp_path / "p.mp4") == 103
    from vpnet.poses import cache_path, content_key, default_cache_dir

    # the pose cache: in $VPNET_CACHE/poses, keyed by the video's bytes, nothing beside the JSON
    assert cache_path(content_key(video), default_cache_dir()).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json", "p.mp4"]

    res = run_cli("predict", video, "--onnx", onnx_file, "--out", tmp_path / "o.json")
    assert res.exit_code == 0, res.output
    onnx_doc = json.loads((tmp_path / "o.json").read_text())
    assert onnx_doc["top_class"] == doc["top_class"]
    np.testing.assert_allclose(onnx_doc["scores"], doc["scores"], atol=1e-3)
    for a, b in zip(onnx_doc["windows"], doc["windows"]):
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-3)


def test_predict_with_pose_file_and_onnx(tiny_run, tiny_data, onnx_file, tmp_path):
    """Generated twin of the real-video test: --poses, --video-out, --onnx agreeing with PyTorch."""
    video, poses = tiny_data / "left1.mp4", tiny_data / "left1.npz"
    res = run_cli("predict", video, "--run", tiny_run, "--poses", poses, "--out", tmp_path / "p.json",
                  "--video-out", tmp_path / "p.mp4")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["poses"] == str(poses) and doc["num_frames"] == 20 and len(doc["windows"]) == 2
    assert {"start_frame", "end_frame", "top_class", "score"} <= set(doc["windows"][0])
    assert _frames(tmp_path / "p.mp4") == 20
    res = run_cli("predict", video, "--onnx", onnx_file, "--poses", poses, "--out", tmp_path / "o.json")
    assert res.exit_code == 0, res.output
    onnx_doc = json.loads((tmp_path / "o.json").read_text())
    assert onnx_doc["top_class"] == doc["top_class"]
    np.testing.assert_allclose(onnx_doc["scores"], doc["scores"], atol=1e-3)


def test_predict_folder_skips_bad_file(tiny_run, tiny_data, tmp_path):
    """A folder of videos: one JSON each; a file that is not a video is reported, skipped, exit code 1."""
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "a.mp4").write_bytes((tiny_data / "left0.mp4").read_bytes())
    (folder / "b.mp4").write_text("not a video")
    out = tmp_path / "out"
    # MediaPipe finds nobody in a generated square: a cached pose file (tied to a.mp4) stands in for it,
    # which also shows that a cached file is used instead of extracting again
    from vpnet.poses import MediaPipePoses, cache_path, content_key, default_cache_dir, save_poses

    cache = default_cache_dir()  # $VPNET_CACHE/poses: the test session's temporary cache (tests/conftest.py)
    rng = np.random.default_rng(0)
    world = np.concatenate([rng.normal(0, 0.3, (20, 33, 3)), np.ones((20, 33, 1))], axis=-1).astype(np.float32)
    image = np.concatenate([rng.uniform(0.3, 0.7, (20, 33, 3)), np.ones((20, 33, 1))], axis=-1).astype(np.float32)
    save_poses(cache_path(content_key(folder / "a.mp4"), cache),
               MediaPipePoses(world, image, fps=30.0, size=(128, 96)), video=folder / "a.mp4")
    res = run_cli("predict", folder, "--run", tiny_run, "--out", out)
    assert res.exit_code == 1
    assert "b.mp4" in res.output and "1 of 2 videos failed" in res.output
    assert json.loads((out / "a.mp4.json").read_text())["num_frames"] == 20
    assert not (out / "b.mp4.json").exists() and not any(out.glob("*.npz"))


@pytest.mark.parametrize("case", ["not_a_video", "no_person", "missing_extra", "other_layout"])
def test_bad_input_clear_error_no_output(case, tiny_run, tiny_data, tmp_path, monkeypatch, has_mediapipe):
    out, vout = tmp_path / "out" / "r.json", tmp_path / "out" / "r.mp4"
    video, extra = tiny_data / "left0.mp4", []
    if case == "not_a_video":
        video = tmp_path / "clip.mp4"
        video.write_text("hello")
        expect = "clip.mp4: cannot open video"
    elif case == "no_person":
        if not has_mediapipe:
            pytest.skip("the pose extra is not installed")
        video = tmp_path / "empty.mp4"
        write_video(video, np.full((6, 96, 128, 3), 90, np.uint8))
        expect = "empty.mp4: no person found"
    elif case == "missing_extra":
        monkeypatch.setitem(sys.modules, "mediapipe", None)
        expect = "vpnet pose install"
    else:
        xyz = np.random.default_rng(0).normal(size=(20, 13, 3)).astype(np.float32)
        np.savez(tmp_path / "lcr.npz", xyz=xyz, layout=np.array("lcrnet13"))
        extra = ["--poses", tmp_path / "lcr.npz"]
        expect = "trained on ntu25 skeletons"
    res = run_cli("predict", video, "--run", tiny_run, "--out", out, "--video-out", vout, *extra)
    assert res.exit_code == 1, res.output
    assert expect in res.output and "Traceback" not in res.output
    assert not out.exists() and not vout.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("command", [
    ["predict", "VIDEO", "--run", "MISSING", "--out", "OUT"],
    ["predict", "VIDEO", "--run", "MISSING", "--out", "{tmp}/ok.json", "--video-out", "OUT"],
    ["export", "--run", "MISSING", "--format", "onnx", "--out", "OUT"],
    ["pose", "extract", "VIDEO", "--out", "OUT"],
    ["viz", "attention", "VIDEO", "--run", "MISSING", "--out", "OUT"],
    ["viz", "class-diff", "MISSING", "MISSING", "--out", "OUT"],
    ["viz", "dynamicity", "-c", "MISSING", "--per-class", "MISSING", "--out", "OUT"],
], ids=["predict-out", "predict-video-out", "export", "pose-extract", "viz-attention", "viz-class-diff",
        "viz-dynamicity"])
def test_unwritable_output_is_checked_before_any_work(command, tiny_data, tmp_path):
    """An output under a file: exit 4 and one line naming it, before the model, the data or the video is read
    (the run, config and CSV files named here do not exist, and that error does not come first)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    out = blocker / "result.x"
    args = [str(a).replace("VIDEO", str(tiny_data / "left0.mp4")).replace("MISSING", str(tmp_path / "missing"))
            .replace("OUT", str(out)).replace("{tmp}", str(tmp_path)) for a in command]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 4, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines == [f"error: cannot write {lines[0].split('cannot write ')[1]}"] and str(out) in lines[0], res.output
    assert "a-file is a file, so nothing can be created under it" in lines[0] and "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]

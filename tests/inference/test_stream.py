"""The stream engine (``Recognizer.stream``, ``vpnet predict --live``): every window reported once, in order,
with the fields of its JSON line; bad sources (stalled, ended early, resolution changed) reported after the
windows so far; Ctrl-C writes everything so far.

Most tests use a tiny centre-crop RGB model (I3D ``l1``, 8 frames of 64x64, random weights: the windows,
not the scores, are what is tested) on generated H.264 videos; the MediaPipe path runs on the real NTU
sample where it is there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vpnet.cli import app
from vpnet.data import clips
from vpnet.stream import StreamError

from .conftest import write_video

FIELDS = {"start_frame", "end_frame", "latency_s", "top_class", "score", "scores"}
CLASSES = ("walk", "sit", "drink")


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def moving(n: int, w: int = 128, h: int = 96) -> np.ndarray:
    """(n, h, w, 3) frames of a bar moving right over a gradient."""
    frames = np.empty((n, h, w, 3), np.uint8)
    frames[...] = np.linspace(30, 200, w, dtype=np.uint8)[None, None, :, None]
    for t in range(n):
        x = (5 * t) % (w - 12)
        frames[t, :, x:x + 12] = (240, 80, 40)
    return frames


@pytest.fixture(scope="module")
def centre_model():
    """(model, spec): a tiny Kinetics-style RGB model (no poses, centre crop), 3 classes."""
    import torch

    from vpnet.config import DataConfig, ModelConfig
    from vpnet.inference import spec_of
    from vpnet.models import build_recognizer

    torch.manual_seed(0)
    cfg = ModelConfig(variant="l1", num_classes=3, clip_len=8, crop_size=64, t_p=4)
    model = build_recognizer(cfg).eval()
    spec = dataclasses.replace(spec_of(model, cfg, DataConfig(), CLASSES), crop="centre")
    return model, spec


@pytest.fixture(scope="module")
def centre_rec(centre_model):
    from vpnet.inference import Recognizer, TorchBackend

    model, spec = centre_model
    return Recognizer(TorchBackend(model, spec), spec, source="tiny-centre")


@pytest.fixture(scope="module")
def centre_onnx(centre_model, tmp_path_factory):
    """The tiny centre-crop model as an ONNX file, for the CLI."""
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    from vpnet.export import InferenceModel, _example, onnx_bytes

    model, spec = centre_model
    path = tmp_path_factory.mktemp("centre") / "centre.onnx"
    path.write_bytes(onnx_bytes(InferenceModel(model).eval(), spec, _example(spec)))
    return path


@pytest.fixture(scope="module")
def video90(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("videos") / "bar.mp4"
    write_video(path, moving(90))
    return path


def expected_windows(n: int, spec) -> list[tuple[int, int]]:
    return [(int(w.min()), int(w.max())) for w in clips.sliding_windows(n, spec.clip_len, stride=spec.frame_stride)]


def test_stream_gives_predicts_windows_in_order(centre_rec, video90):
    """A file: exactly the windows predict cuts (the last one ends on the last frame), in order, each
    scored once; the crops from YUV planes score as the RGB frames of the old whole-file path."""
    from vpnet.poses import iter_frames

    got = list(centre_rec.stream(video90))
    spec = centre_rec.spec
    assert spec.frame_stride == 2 and [(w.start_frame, w.end_frame) for w in got] == expected_windows(90, spec)
    assert [w.index for w in got] == list(range(len(got))) and len(got) == 6
    for w in got:
        assert w.latency_s >= 0 and abs(float(w.scores.sum()) - 1) < 1e-5
        np.testing.assert_array_equal(w.frames, np.arange(w.start_frame, w.end_frame + 1, 2))
    old = centre_rec.predict(list(iter_frames(video90)), fps=30)  # frames in memory: the two-pass path, RGB
    assert len(old.windows) == len(got)
    for w, o in zip(got, old.windows):
        np.testing.assert_array_equal(w.frames, o.frames)
        np.testing.assert_array_equal(w.box, o.box)
        np.testing.assert_allclose(w.scores, o.scores, atol=0.02)
    # predict on the file itself is the one-pass engine: the same windows and scores
    one = centre_rec.predict(video90)
    np.testing.assert_allclose(np.stack([w.scores for w in one.windows]), np.stack([w.scores for w in got]))


def test_yuv_crop_matches_rgb_crop():
    """A crop cut from the YUV planes (odd box edges included) is the crop of the RGB frame, within the
    rounding of two BT.601 converters."""
    import av

    from vpnet.stream import _Frame

    rgb = moving(1, 128, 96)[0]
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    yuv, ref = _Frame(frame.to_ndarray(), yuv=True), frame.to_ndarray(format="rgb24")
    assert (yuv.width, yuv.height) == (128, 96)
    for box in ([0, 0, 96, 96], [17, 3, 80, 66], [31, 0, 128, 96]):
        box = np.array(box, dtype=np.float64)
        a = yuv.crop(box, 32).astype(int)
        b = clips.crop_resize(ref[None], box, 32)[0].astype(int)
        assert np.abs(a - b).mean() < 2.0 and np.abs(a - b).max() <= 24
    assert np.abs(yuv.rgb().astype(int) - ref).mean() < 2.0


def test_live_cli_writes_one_json_line_per_window(centre_onnx, video90, tmp_path):
    out = tmp_path / "live.jsonl"
    res = run_cli("predict", video90, "--live", "--onnx", centre_onnx, "--out", out)
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(d["start_frame"], d["end_frame"]) for d in lines] == [(0, 14), (15, 29), (30, 44), (45, 59),
                                                                     (60, 74), (75, 89)]
    for d in lines:
        assert FIELDS <= set(d) and 0 <= d["latency_s"] < 30
        assert len(d["scores"]) == 3 and abs(sum(d["scores"]) - 1) < 1e-4
        assert d["top_class"] == CLASSES[int(np.argmax(d["scores"]))] and d["score"] == max(d["scores"])
        assert d["start_time"] == pytest.approx(d["start_frame"] / 30, abs=1e-3)
    assert f"{video90}: 6 windows" in res.output
    # stdout, and OpenVINO (in its own process: see test_backends.fresh): the same windows and classes
    backends = ["onnxruntime"] + (["openvino"] if _has("openvino") else [])
    for backend in backends:
        res = subprocess.run([sys.executable, "-m", "vpnet.cli", "predict", str(video90), "--live", "--onnx",
                              str(centre_onnx), "--backend", backend], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        std = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
        assert [d["top_class"] for d in std] == [d["top_class"] for d in lines]
        np.testing.assert_allclose([d["scores"] for d in std], [d["scores"] for d in lines], atol=1e-4)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None  # found, not imported (see test_backends.fresh)


def test_a_stalled_source_reports_the_windows_so_far(centre_rec):
    frames = moving(60)

    def camera():
        yield from frames[:40]
        time.sleep(3)  # the source hangs
        yield from frames[40:]

    got = []
    with pytest.raises(StreamError, match=r"^the frames: stalled: no frame for 0.5 s after frame 40$"):
        for w in centre_rec.stream(camera(), stall_timeout=0.5):
            got.append(w)
    # a live source: one window every span (15 frames) as long as frames come; 0-14 and 15-29 were complete
    assert [(w.start_frame, w.end_frame) for w in got] == [(0, 14), (15, 29)]


def test_a_source_that_ends_early_reports_the_windows_so_far(centre_rec):
    got = []
    with pytest.raises(StreamError, match="the frames: ended early: the video ended after 50 frames"):
        for w in centre_rec.stream(iter(moving(50)), num_frames=90):
            got.append(w)
    assert [(w.start_frame, w.end_frame) for w in got] == expected_windows(90, centre_rec.spec)[:3]


def test_resolution_change_mid_file(centre_onnx, tmp_path):
    """A real file whose second half is another resolution (two MPEG-TS segments, as a camera that switches
    mode): the windows before the change, then one error line naming the file and what happened."""
    a, b = tmp_path / "a.ts", tmp_path / "b.ts"
    write_video(a, moving(45))
    write_video(b, moving(45, 96, 64))
    video = tmp_path / "switch.ts"
    video.write_bytes(a.read_bytes() + b.read_bytes())
    out = tmp_path / "r.jsonl"
    res = run_cli("predict", video, "--live", "--onnx", centre_onnx, "--out", out)
    assert res.exit_code == 1
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(d["start_frame"], d["end_frame"]) for d in lines] == [(0, 14), (15, 29), (30, 44)]
    errors = [line for line in res.output.splitlines() if line.startswith("error")]
    assert errors == [f"error: {video}: resolution changed from 128x96 to 96x64 at frame 45"]


def test_resolution_change_in_memory(centre_rec):
    frames = list(moving(30)) + list(moving(30, 96, 64))
    got = []
    with pytest.raises(StreamError, match="resolution changed from 128x96 to 96x64 at frame 30"):
        for w in centre_rec.stream(frames):
            got.append(w)
    assert len(got) == 2


def test_ctrl_c_writes_every_window_so_far(centre_onnx, tmp_path):
    """SIGINT during a live run (a file replayed at its frame rate): exit 130, every line written whole, the
    last message counting them."""
    video = tmp_path / "long.mp4"
    # 30 s at 30 fps: a replay that falls behind (a slow first window on a loaded machine) catches up at full
    # speed, so a short video could end before the signal arrives
    write_video(video, moving(900))
    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "vpnet.cli", "predict", str(video), "--live", "--replay",
                             "--onnx", str(centre_onnx), "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.is_file() or len(out.read_text().splitlines()) < 2):
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert 2 <= len(lines) < 60  # stopped before the end (60 windows), all written
    assert [d["start_frame"] for d in lines] == [15 * k for k in range(len(lines))]
    assert all(FIELDS <= set(d) for d in lines)
    assert f"stopped by Ctrl-C after {len(lines)} windows, all written to {out}" in err


def test_live_on_the_real_ntu_video_with_mediapipe(shared_data, tiny_run, has_mediapipe):
    """MediaPipe on the frames the windows sample only: the windows of predict, and boxes that agree with
    the boxes of the reference poses of every frame (the MediaPipe file of the sample)."""
    if not has_mediapipe:
        pytest.skip("the pose extra is not installed")
    video = shared_data / "ntu" / "S001C001P001R001A001_rgb.avi"
    ref_poses = shared_data / "pose" / "S001C001P001R001A001_mediapipe0.10.21_pose_full.npz"
    if not video.is_file() or not ref_poses.is_file():
        pytest.skip("the NTU sample or its MediaPipe file is not in shared/data")
    from vpnet.inference import load_recognizer

    rec = load_recognizer(run=tiny_run)
    got = list(rec.stream(video))
    assert [(w.start_frame, w.end_frame) for w in got] == expected_windows(103, rec.spec)
    full = rec.predict(video, poses=ref_poses)  # the old path, poses of every frame
    for w, f in zip(got, full.windows, strict=True):
        assert w.poses.shape == (3, 4, 25) and np.isfinite(w.poses).all() and w.scores is not None
        np.testing.assert_array_equal(w.pose_frames, f.pose_frames)
        assert _iou(w.box, f.box) > 0.9


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

"""What predict sees is what evaluation saw: one raw video window through ``vpnet evaluate``'s path (the
dataset's test sample, :func:`vpnet.engine.evaluate.predict`) and through :meth:`Recognizer.predict`
(PyTorch and ONNX) gives the same crop box, the same pose tensor and the same scores, for ``l3`` and
for ``pose_only``; and the frame rate is resampled so that a 60 fps copy is cut like the original.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vpnet.inference import load_recognizer

from .conftest import write_video

#: the tiny runs' window: clip_len 8 at stride 2 spans 15 frames; a 15-frame video is one window for both.
SPAN = 15


@pytest.fixture(scope="module")
def one_window(tiny_data, tmp_path_factory) -> Path:
    """``right3`` cut to one window's 15 frames (video + poses) and a manifest of it (split test)."""
    from vpnet.poses import iter_frames

    root = tmp_path_factory.mktemp("one_window")
    frames = np.stack(list(iter_frames(tiny_data / "right3.mp4")))[:SPAN]
    write_video(root / "clip.mp4", frames)
    with np.load(tiny_data / "right3.npz") as z:
        np.savez(root / "clip.npz", xyz=z["xyz"][:SPAN], uv=z["uv"][:SPAN], image_size=z["image_size"])
    (root / "manifest.csv").write_text("video,poses,label,split\nclip.mp4,clip.npz,right,test\n"
                                       "clip.mp4,clip.npz,left,train\n")
    return root


def evaluate_path(run: Path, manifest: Path):
    """(the test sample, its scores (K,)) as ``vpnet evaluate`` builds and scores them (eval.mode=single)."""
    import torch

    from vpnet.engine.builders import build_model, build_split
    from vpnet.engine.config_loader import load_config
    from vpnet.engine.evaluate import find_weights, predict
    from vpnet.engine.forward import eval_clips

    cfg = load_config(run / "config.yaml", [f"data.manifest={manifest}", "eval.mode=single"])
    ds = build_split(cfg, "test", mode="test", clips=eval_clips(cfg))
    model = build_model(cfg, torch.device("cpu"), checkpoint=find_weights(run))
    return ds.load(0), predict(model, ds).scores[0]


def check_parity(run: Path, onnx: Path | None, clip: Path) -> None:
    sample, eval_scores = evaluate_path(run, clip / "manifest.csv")
    for rec in [load_recognizer(run=run)] + ([load_recognizer(onnx=onnx)] if onnx else []):
        pred = rec.predict(clip / "clip.mp4", poses=clip / "clip.npz")
        assert len(pred.windows) == 1
        w = pred.windows[0]
        assert w.frames.tolist() == sample["meta"]["frames"][0]
        assert w.pose_frames.tolist() == sample["meta"]["pose_frames"][0]
        np.testing.assert_array_equal(w.poses, sample["poses"][0].numpy())
        if rec.spec.uses_video:
            np.testing.assert_allclose(w.box, sample["meta"]["boxes"][0], atol=1e-9)
        np.testing.assert_allclose(w.scores, eval_scores, atol=1e-4)


def test_l3_parity(tiny_run, onnx_file, one_window):
    check_parity(tiny_run, onnx_file, one_window)


@pytest.fixture(scope="module")
def pose_only_run(tiny_data, tmp_path_factory) -> Path:
    """A pose-only GCN trained one epoch with ``vpnet train`` on the tiny data (poses over the whole clip)."""
    root = tmp_path_factory.mktemp("tiny_pose_only")
    cmd = [sys.executable, "-m", "vpnet.cli", "train", "name=p", f"output_dir={root}", "data.dataset=custom",
           "data.protocol=split", f"data.manifest={tiny_data / 'manifest.csv'}", "data.batch_size=2",
           "data.num_workers=0", "model.variant=pose_only", "model.num_classes=2", "model.clip_len=8",
           "model.t_p=4", "train.epochs=1", "train.global_batch=2", "train.ckpt_every_steps=0",
           "train.tensorboard=false", "eval.mode=single", "--run-dir", str(root / "run")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return root / "run"


def test_pose_only_parity(pose_only_run, one_window, tmp_path):
    """Poses drawn over the whole clip in training and evaluation are drawn the same way at prediction
    (a video no longer than a window is one clip), also from the exported ONNX file."""
    onnx = None
    try:
        import onnxruntime  # noqa: F401

        from vpnet.export import export_model

        onnx = export_model(out=tmp_path / "p.onnx", fmt="onnx", run=pose_only_run)
    except ImportError:
        pass
    rec = load_recognizer(run=pose_only_run)
    assert rec.spec.pose_span == "clip" and rec.spec.fps == 30.0
    check_parity(pose_only_run, onnx, one_window)


def test_a_60_fps_copy_is_cut_like_the_original(tiny_run, tiny_data, tmp_path):
    """Every frame written twice at 60 fps: resampled to the model's 30 fps, the windows are the same in
    seconds and the scores the same (the same decoded frames), with the resampling in the JSON."""
    from vpnet.poses import iter_frames

    frames = np.stack(list(iter_frames(tiny_data / "right3.mp4")))
    write_video(tmp_path / "fast.mp4", np.repeat(frames, 2, axis=0), fps=60)
    rec = load_recognizer(run=tiny_run)
    orig = rec.predict(tiny_data / "right3.mp4", poses=tiny_data / "right3.npz")
    fast = rec.predict(tmp_path / "fast.mp4", poses=tiny_data / "right3.npz", pose_fps=30)
    assert fast.fps == 60 and fast.model_fps == 30 and orig.to_dict()["resampled"] is False
    d = fast.to_dict()
    assert d["resampled"] is True and any("resampled from 60 to the model's 30 fps" in n for n in d["notes"])
    assert [(w.start_time, w.end_time) for w in fast.windows] == [(w.start_time, w.end_time) for w in orig.windows]
    assert [w.start_frame for w in fast.windows] == [2 * w.start_frame for w in orig.windows]
    for a, b in zip(fast.windows, orig.windows):
        np.testing.assert_array_equal(a.poses, b.poses)
        np.testing.assert_allclose(a.box, b.box)
    assert fast.top_class == orig.top_class
    np.testing.assert_allclose(fast.scores, orig.scores, atol=0.05)  # re-encoded pixels, same content


@pytest.mark.parametrize("fps", [0.0, 5000.0, float("nan")])
def test_an_absurd_frame_rate_falls_back_with_a_note(tiny_run, tiny_data, fps):
    from vpnet.poses import iter_frames

    frames = list(iter_frames(tiny_data / "right3.mp4"))
    pred = load_recognizer(run=tiny_run).predict(frames, poses=tiny_data / "right3.npz", fps=fps)
    assert pred.fps == 30.0 and not pred.to_dict()["resampled"]
    assert any("is missing or absurd; taken as 30 fps" in n for n in pred.notes)


def test_model_files_without_the_new_fields_load_as_before(tiny_run, onnx_file, tmp_path, caplog):
    """A run whose stored config predates ``data.fps`` and an ONNX file whose metadata predates
    ``pose_span`` and ``fps``: old behaviour (no resampling, poses inside each window), one warning line."""
    import json

    import onnx

    from vpnet.inference import ModelSpec

    old = tmp_path / "old_run"
    old.mkdir()
    (old / "config.yaml").write_text("\n".join(line for line in (tiny_run / "config.yaml").read_text().splitlines()
                                               if not line.strip().startswith("fps:")) + "\n")
    from safetensors.torch import load_file

    from vpnet.engine.checkpoint import save_tensors

    save_tensors(old / "final.safetensors", load_file(tiny_run / "final.safetensors"), {"format": "vpnet.weights.v1"})
    with caplog.at_level("WARNING", logger="vpnet.inference"):
        rec = load_recognizer(run=old)
    assert rec.spec.fps is None and rec.spec.pose_span == "window"
    assert [r.getMessage() for r in caplog.records if "written before" in r.getMessage()] == [
        f"{old / 'final.safetensors'}: written before vpnet stored fps: predicting as before (no frame-rate "
        "resampling); train or export it again to store them"]

    proto = onnx.load(str(onnx_file))
    meta = next(p for p in proto.metadata_props if p.key == "vpnet")
    d = json.loads(meta.value)
    for key in ("pose_span", "fps", "pixel_range", "amp"):
        d.pop(key)
    caplog.clear()
    with caplog.at_level("WARNING", logger="vpnet.inference"):
        spec = ModelSpec.from_json(json.dumps(d), "old.onnx")
    assert spec.fps is None and spec.pose_span == "window" and spec.amp == "none"
    assert "old.onnx: written before vpnet stored pose_span and fps" in caplog.text


@pytest.mark.slow
def test_a_60_fps_copy_of_the_real_ntu_video(tiny_run, shared_data, tmp_path):
    """The real NTU sample (30 fps, 103 frames, 1920x1080) and a 60 fps copy written here with PyAV
    (every frame twice; never kept): with its Kinect skeleton, the same windows in seconds and the same
    top class from the same run."""
    from vpnet.poses import iter_frames

    video = shared_data / "ntu" / "S001C001P001R001A001_rgb.avi"
    skeleton = shared_data / "ntu" / "skeletons" / "S001C001P001R001A001.skeleton"
    write_video(tmp_path / "ntu60.mp4", np.repeat(np.stack(list(iter_frames(video))), 2, axis=0), fps=60)
    rec = load_recognizer(run=tiny_run)
    orig = rec.predict(video, poses=skeleton)
    fast = rec.predict(tmp_path / "ntu60.mp4", poses=skeleton, pose_fps=30)
    assert orig.fps == 30 and fast.fps == 60 and fast.num_frames == 2 * orig.num_frames - 1
    assert len(orig.windows) == 7
    assert [(w.start_time, w.end_time) for w in fast.windows] == [(w.start_time, w.end_time) for w in orig.windows]
    assert fast.top_class == orig.top_class
    np.testing.assert_allclose(fast.scores, orig.scores, atol=0.05)

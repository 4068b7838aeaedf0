"""The Python inference API: windows, scores, poses from files, checks."""

from __future__ import annotations

import numpy as np
import pytest

from vpnet.data.clips import sliding_windows
from vpnet.inference import InferenceError, load_recognizer

from .conftest import FRAMES


def test_sliding_windows_tile_the_video():
    w = sliding_windows(100, 8, stride=2)  # span 15: starts 0, 15, ..., 75, then 85 so the last ends on 99
    assert w.shape == (7, 8) and w[:, 0].tolist() == [0, 15, 30, 45, 60, 75, 85] and w[-1, -1] == 99
    assert (w[:, 1] - w[:, 0] == 2).all()
    assert sliding_windows(10, 8, stride=2).tolist() == [list(range(8)), list(range(2, 10))]  # stride 1 fits
    # shorter than a clip: one window, looped or stretched as the model was trained
    assert sliding_windows(5, 8, stride=2).tolist() == [[2, 3, 4, 0, 1, 2, 3, 4]]
    assert sliding_windows(5, 8, stride=2, sampling="stretch").tolist() == [[0, 0, 1, 2, 2, 3, 4, 4]]
    assert sliding_windows(30, 8, stride=2, hop=5)[:, 0].tolist() == [0, 5, 10, 15]


def test_predict_file_and_frames_agree(tiny_run, tiny_data):
    """A video with its pose file: one result per window, the video's score is the max over windows of
    the softmax; frames held in memory give the same numbers as the file."""
    rec = load_recognizer(run=tiny_run)
    assert rec.class_names == ("left", "right")
    pred = rec.predict(tiny_data / "right3.mp4", poses=tiny_data / "right3.npz")
    assert pred.num_frames == FRAMES and pred.fps == 30 and pred.size == (128, 96)
    assert [(w.start_frame, w.end_frame) for w in pred.windows] == [(0, 14), (5, 19)]
    stacked = np.stack([w.scores for w in pred.windows])
    np.testing.assert_allclose(stacked.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(pred.scores, stacked.max(0))
    assert pred.windows[0].a_s.shape == (2, 2) and pred.windows[0].a_t.shape == (1,)
    d = pred.to_dict()
    assert d["top_class"] == pred.top_class and d["top_score"] == pytest.approx(float(pred.scores.max()))
    assert set(d["windows"][0]) >= {"start_frame", "end_frame", "top_class", "score"}

    from vpnet.poses import iter_frames

    frames = np.stack(list(iter_frames(tiny_data / "right3.mp4")))
    again = rec.predict(frames, poses=tiny_data / "right3.npz")
    np.testing.assert_allclose(again.scores, pred.scores, atol=1e-6)


def test_poses_of_another_skeleton_layout(tiny_run, tiny_data, tmp_path):
    """A model for ntu25 skeletons given ucla20 poses: an error naming the model and the fix."""
    rec = load_recognizer(run=tiny_run)
    xyz = np.random.default_rng(0).normal(size=(FRAMES, 20, 3)).astype(np.float32)
    np.savez(tmp_path / "u.npz", xyz=xyz, layout=np.array("ucla20"))
    with pytest.raises(InferenceError, match=r"trained on ntu25 skeletons \(25 joints\).*ucla20.*model\.skeleton="):
        rec.predict(tiny_data / "left0.mp4", poses=tmp_path / "u.npz")
    # a model for ucla20 on a video: refused before any pose extraction (MediaPipe gives NTU-25)
    import dataclasses

    from vpnet.inference import Recognizer

    other = Recognizer(rec.backend, dataclasses.replace(rec.spec, skeleton="ucla20", num_joints=20), source="m")
    with pytest.raises(InferenceError, match=r"m: this model was trained on ucla20.*MediaPipe.*ntu25"):
        other.predict(tiny_data / "left0.mp4")


def test_checkpoint_without_config(tiny_weights, tmp_path):
    """A bare state dict (no vpnet config inside) cannot be used alone: the error says to use --run."""
    from safetensors.torch import load_file, save_file

    save_file(load_file(tiny_weights), tmp_path / "bare.safetensors")
    with pytest.raises(InferenceError, match="has no model config.*--run"):
        load_recognizer(checkpoint=tmp_path / "bare.safetensors")


def test_evaluate_manifest_without_labels(tiny_run, tiny_data, tmp_path):
    """A manifest without labels: evaluate writes predictions and no accuracy; training refuses it."""
    from typer.testing import CliRunner

    from vpnet.cli import app

    rows = ["video,poses"] + [f"{tiny_data / n}.mp4,{tiny_data / n}.npz" for n in ("left3", "right3")]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    res = CliRunner().invoke(app, ["evaluate", "--run", str(tiny_run), f"data.manifest={tmp_path / 'm.csv'}",
                                   "--split", "all", "--out", str(tmp_path / "ev")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "2 videos without labels" in res.output
    lines = (tmp_path / "ev" / "predictions.csv").read_text().splitlines()
    assert lines[0] == "name,prediction,prediction_name,score" and len(lines) == 3
    assert lines[1].split(",")[0] == "left3" and lines[1].split(",")[2] in ("left", "right")
    import json

    doc = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert doc["labelled"] is False and "top1" not in doc
    assert not (tmp_path / "ev" / "confusion.csv").exists()

    from vpnet.engine.builders import check_dataset
    from vpnet.engine.config_loader import ConfigError, load_config

    cfg = load_config(tiny_run / "config.yaml", [f"data.manifest={tmp_path / 'm.csv'}"])
    with pytest.raises(ConfigError, match="has no labels.*not trained on"):
        check_dataset(cfg, ["all"])


def test_windows_are_scored_while_the_video_streams():
    """Each window is handed over as soon as its last frame is decoded: the video is never held."""
    from vpnet.inference import Window, stream_windows

    plan = sliding_windows(40, 4, stride=2)  # span 7: starts 0, 7, ..., 28, 33
    windows = [Window(int(w.min()), int(w.max()), w, w[:1], np.array([0, 0, 8, 8.0])) for w in plan]
    decoded = []

    def frames():
        for i in range(40):
            decoded.append(i)
            yield np.full((8, 8, 3), i, np.uint8)

    seen = []

    def on_window(k, crops):
        assert len(decoded) == windows[k].end_frame + 1  # nothing decoded past the window's last frame
        assert crops.shape == (4, 16, 16, 3) and crops[:, 0, 0, 0].tolist() == windows[k].frames.tolist()
        seen.append(k)

    stream_windows(frames(), windows, 16, on_window)
    assert seen == list(range(len(windows)))

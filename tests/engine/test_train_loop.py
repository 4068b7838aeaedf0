"""The training loop in-process on generated NTU-format data: outputs, bad input, NaN handling."""

from __future__ import annotations

import csv
import errno
import logging
from pathlib import Path

import pytest
import torch

from vpnet.engine.checkpoint import CheckpointManager, load_state_dict, load_train_state
from vpnet.engine.config_loader import ConfigError, load_config
from vpnet.engine.train import StepStats, TrainingError, resolve_grad_accum, train

REPO = Path(__file__).resolve().parents[2]


def test_tiny_run_writes_the_run_folder(tiny, tmp_path):
    # NTU has no validation split: selecting on test is asked for explicitly, and the best weights say so
    cfg = load_config(None, tiny(train__ckpt_every_steps=1, train__keep_checkpoints=3, train__tensorboard=True,
                                 train__val_split="test"))
    result = train(cfg)
    run = result.run_dir
    assert run == tmp_path / "runs" / "tiny" and not result.interrupted
    assert load_config(run / "config.yaml") == cfg  # the resolved config is saved with the run
    s = result.state
    assert s.epoch == 2 and s.step_in_epoch == 0 and s.global_step >= 4 and s.skipped_steps == 0
    steps = list(csv.DictReader(open(run / "steps.csv")))
    assert [int(r["global_step"]) for r in steps] == list(range(1, s.global_step + 1))  # log_every=1
    assert all(float(r["loss"]) > 0 and float(r["ce"]) > 0 and r["embed"] and r["attn"] for r in steps)
    epochs = list(csv.DictReader(open(run / "epochs.csv")))
    assert [int(r["epoch"]) for r in epochs] == [1, 2]
    assert all(0 <= float(r["val_top1"]) <= 1 for r in epochs)
    assert s.best_metric == pytest.approx(max(float(r["val_top1"]) for r in epochs), abs=1e-6)
    # weights: final, best (with its metric), training states (3 kept, the last at the end of epoch 2)
    final, meta = load_state_dict(result.final_weights)
    assert meta["format"] == "vpnet.weights.v1" and "head.fc.weight" in final
    _, best_meta = load_state_dict(result.best_weights)
    assert '"top1"' in best_meta["metrics"] and best_meta["primary_metric"] == "top1"
    assert best_meta["selected_on"] == "test" and "selected_on" not in meta
    ckpts = CheckpointManager(run / "checkpoints").list()
    assert len(ckpts) == 3
    last = load_train_state(ckpts[0])
    assert (last.state.epoch, last.state.step_in_epoch, last.state.global_step) == (2, 0, s.global_step)
    assert torch.equal(last.model["head.fc.weight"], final["head.fc.weight"])
    assert [h["epoch"] for h in last.state.history] == [1, 2]
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    # lr schedule: x0.1 after optim.lr_step epochs
    cfg2 = load_config(None, tiny(name="sched", optim__lr_step=1, train__epochs=2, train__val_split="null"))
    r2 = train(cfg2)
    lrs = [float(r["lr"]) for r in csv.DictReader(open(r2.run_dir / "epochs.csv"))]
    assert lrs == pytest.approx([0.01, 0.001]) and r2.best_weights is None


def test_a_finished_run_is_not_trained_again_and_fresh_start_is_refused(tiny):
    cfg = load_config(None, tiny(train__epochs=1))
    first = train(cfg)
    # train.val_split=auto on NTU (train and test only): no validation, so no checkpoint selected on test
    assert cfg.train.val_split == "auto" and first.best_weights is None and first.state.best_metric is None
    assert not (first.run_dir / "best.safetensors").exists() and first.final_weights.is_file()
    assert [r["val_top1"] for r in csv.DictReader(open(first.run_dir / "epochs.csv"))] == [""]
    again = train(cfg)  # auto-resume: nothing left to do
    assert again.state.global_step == first.state.global_step
    with pytest.raises(ConfigError, match="already has checkpoints"):
        train(cfg, resume=None)


def test_step_stats_pack_add_and_per_clip_means():
    a = StepStats(loss=6.0, ce=4.0, embed=2.0, attn=1.0, clips=2.0, nonfinite_grads=1.0)
    b = StepStats(loss=3.0, ce=2.0, embed=1.0, attn=0.5, clips=1.0, stop=1.0)
    packed = a.pack()
    assert packed.dtype == torch.float64 and packed.tolist() == [6.0, 4.0, 2.0, 1.0, 2.0, 0.0, 1.0, 0.0]
    assert StepStats.unpack(packed) == a
    total = a + b
    assert total == StepStats(loss=9.0, ce=6.0, embed=3.0, attn=1.5, clips=3.0, nonfinite_grads=1.0, stop=1.0)
    assert total.per_clip() == {"loss": 3.0, "ce": 2.0, "embed": 1.0, "attn": 0.5}
    assert StepStats().per_clip() == {"loss": 0.0, "ce": 0.0, "embed": 0.0, "attn": 0.0}  # no clip: no division by 0
    with pytest.raises(ValueError, match=r"StepStats.unpack expects \(8,\) values, got \(5,\)"):
        StepStats.unpack(torch.zeros(5))


def test_global_batch_must_add_up():
    # one process: caught when the config is loaded
    with pytest.raises(ConfigError, match=r"train.global_batch=16 is not a multiple of data.batch_size=3"):
        load_config(None, ["data.batch_size=3", "train.global_batch=16"])
    # several processes: known only when training starts
    cfg = load_config(None, ["data.batch_size=4", "train.global_batch=16"])
    with pytest.raises(ConfigError, match=r"global_batch=16 must equal data.batch_size \(4\) x processes \(3\)"):
        resolve_grad_accum(cfg, 3)
    assert resolve_grad_accum(load_config(None, ["data.batch_size=4"]), 2) == 2
    with pytest.raises(ConfigError, match="set train.grad_accum=4"):
        resolve_grad_accum(load_config(None, ["data.batch_size=4", "train.grad_accum=2"]), 1)


def test_missing_dataset_files_name_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("VPNET_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = load_config(REPO / "configs/vpn_i3d_ntu60-xsub.yaml", [f"output_dir={tmp_path}"])
    with pytest.raises(ConfigError) as e:
        train(cfg)
    assert "data.video_dir: data/ntu/nturgb+d_rgb does not exist" in str(e.value)
    assert "data.prepared_dir" in str(e.value)


def test_class_count_must_match_the_dataset(tiny):
    with pytest.raises(ConfigError, match="model.num_classes=10 but ntu60 .* has 60 classes"):
        train(load_config(None, tiny(model__num_classes=10)))


def test_nan_loss_stops_with_the_step(tiny):
    cfg = load_config(None, tiny(optim__lr=1e12, train__epochs=3, train__val_split="null"))
    with pytest.raises(TrainingError,
                       match=r"loss is not finite .* at epoch \d+, step \d+ of the epoch \(global step \d+\)"):
        train(cfg)


def test_nonfinite_gradients_are_skipped_and_counted(tiny, monkeypatch, vpnet_log):
    caplog = vpnet_log
    import vpnet.models

    real = vpnet.models.build_recognizer

    def build_with_a_nan_gradient(model_cfg, **kw):  # bf16 on CPU does this now and then
        model = real(model_cfg, **kw)
        calls = {"n": 0}

        def poison(grad):
            calls["n"] += 1
            return grad * float("nan") if calls["n"] == 3 else grad  # step 2 (2 micro-batches a step)

        model.head.fc.bias.register_hook(poison)
        return model

    monkeypatch.setattr(vpnet.models, "build_recognizer", build_with_a_nan_gradient)
    cfg = load_config(None, tiny(train__epochs=1, train__val_split="null"))
    with caplog.at_level(logging.WARNING, logger="vpnet"):
        result = train(cfg)
    assert result.state.skipped_steps == 1
    assert "non-finite gradients at global step 2: step skipped" in caplog.text
    assert all(torch.isfinite(t).all() for t in load_state_dict(result.final_weights)[0].values())
    with pytest.raises(TrainingError, match="non-finite gradients at global step 2"):
        train(load_config(None, tiny(name="strict", train__epochs=1, train__val_split="null",
                                     train__skip_nonfinite=False)))


def test_a_full_disk_keeps_the_previous_checkpoint_and_training_goes_on(tiny, monkeypatch, vpnet_log):
    caplog = vpnet_log
    from vpnet import _io

    real = _io.atomic_write_bytes

    def disk_full_for_step_3(path, data):
        if path.name == "step_000000003.safetensors":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(_io, "atomic_write_bytes", disk_full_for_step_3)
    cfg = load_config(None, tiny(train__ckpt_every_steps=1, train__keep_checkpoints=5, train__val_split="null"))
    with caplog.at_level(logging.ERROR, logger="vpnet"):
        result = train(cfg)
    assert "could not write a checkpoint at global step 3" in caplog.text
    assert "the previous one (step_000000002.safetensors) is intact" in caplog.text
    names = [p.name for p in CheckpointManager(result.run_dir / "checkpoints").list()]
    assert "step_000000003.safetensors" not in names and "step_000000002.safetensors" in names
    assert result.final_weights.is_file()


def test_a_corrupt_checkpoint_is_skipped_on_resume_and_the_user_told(tiny, vpnet_log):
    caplog = vpnet_log
    cfg = load_config(None, tiny(train__epochs=1, train__val_split="null", train__ckpt_every_steps=1,
                                 train__keep_checkpoints=3))
    first = train(cfg)
    ckpts = CheckpointManager(first.run_dir / "checkpoints").list()
    newest, previous = ckpts[0], ckpts[1]
    data = bytearray(newest.read_bytes())
    data[-64] ^= 0x01  # one flipped bit in the tensor data
    newest.write_bytes(bytes(data))
    longer = load_config(None, tiny(train__epochs=2, train__val_split="null", train__ckpt_every_steps=1,
                                    train__keep_checkpoints=3))
    with caplog.at_level(logging.INFO, logger="vpnet"):
        result = train(longer)
    assert f"skipping corrupt checkpoint: {newest}: checksum mismatch" in caplog.text
    assert f"resuming from {previous}" in caplog.text
    assert "resuming with config changes: train.epochs: 1 -> 2" in caplog.text
    assert result.state.epoch == 2 and result.state.global_step == 2 * first.state.global_step

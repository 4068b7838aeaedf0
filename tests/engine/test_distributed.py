"""Data sharding for DDP and the CPU SyncBatchNorm (2 real gloo processes)."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from vpnet.engine.distributed import CPUSyncBatchNorm, ShardSampler, TrainSampler, convert_sync_batchnorm


def _steps(n, *, b, w, a, seed=3, epoch=1, start=0):
    """{step: set of items} over every rank and micro-batch, plus per-rank lists."""
    per_rank = []
    for r in range(w):
        s = TrainSampler(n, batch_size=b, world_size=w, rank=r, grad_accum=a, seed=seed)
        s.set_epoch(epoch)
        s.set_start_step(start)
        idx = list(s)
        assert len(idx) == len(s)
        per_rank.append(idx)
    g = b * w * a
    steps = {}
    for idx in per_rank:
        for pos, item in enumerate(idx):
            step = start + pos // (b * a)
            steps.setdefault(step, set()).add(item)
    assert all(len(v) == g for v in steps.values())
    return steps, per_rank


def test_same_global_batches_whatever_the_split():
    ref, _ = _steps(37, b=4, w=1, a=1)
    assert len(ref) == 37 // 4  # the incomplete last global batch is dropped
    for b, w, a in ((2, 2, 1), (1, 2, 2), (1, 4, 1), (2, 1, 2)):
        steps, per_rank = _steps(37, b=b, w=w, a=a)
        assert steps == ref, (b, w, a)
        flat = [i for r in per_rank for i in r]
        assert len(flat) == len(set(flat))  # processes get disjoint items


def test_order_is_a_function_of_seed_and_epoch_and_resume_skips_done_steps():
    a, _ = _steps(40, b=2, w=2, a=1, epoch=1)
    b, _ = _steps(40, b=2, w=2, a=1, epoch=2)
    c, _ = _steps(40, b=2, w=2, a=1, epoch=1, seed=4)
    assert a != b and a != c
    resumed, _ = _steps(40, b=2, w=2, a=1, epoch=1, start=3)
    assert resumed == {k: v for k, v in a.items() if k >= 3}


def test_shard_sampler_covers_each_item_once():
    shards = [list(ShardSampler(11, world_size=3, rank=r)) for r in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(11))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sync_bn_worker(rank: int, port: int, x: torch.Tensor, w: torch.Tensor, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        bn = convert_sync_batchnorm(nn.Sequential(nn.BatchNorm3d(4, eps=1e-3, momentum=0.1)), torch.device("cpu"))
        assert isinstance(bn[0], CPUSyncBatchNorm)
        part = x[rank * 3 : (rank + 1) * 3].clone().requires_grad_(True)
        y = bn(part)
        # the loss of the global batch, as DDP forms it: mean over processes of each process's mean
        (y * w[rank * 3 : (rank + 1) * 3]).sum().backward()
        out[rank] = (y.detach(), part.grad, bn[0].weight.grad, bn[0].running_mean, bn[0].running_var)
    finally:
        dist.destroy_process_group()


def test_cpu_sync_batchnorm_matches_one_big_batch():
    torch.manual_seed(0)
    x = torch.randn(6, 4, 2, 3, 3) * 2 + 1
    w = torch.randn(6, 4, 2, 3, 3)
    ref_bn = nn.BatchNorm3d(4, eps=1e-3, momentum=0.1)
    xr = x.clone().requires_grad_(True)
    y_ref = ref_bn(xr)
    (y_ref * w).sum().backward()

    out = mp.Manager().dict()
    mp.spawn(_sync_bn_worker, args=(_free_port(), x, w, out), nprocs=2, join=True)
    y = torch.cat([out[0][0], out[1][0]])
    gx = torch.cat([out[0][1], out[1][1]])
    # activations and input gradients: those of one BatchNorm over the 6 clips (float32 rounding)
    torch.testing.assert_close(y, y_ref.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, xr.grad, rtol=1e-4, atol=1e-5)
    # parameter gradients: DDP would average the per-process ones; their sum is the big batch's
    torch.testing.assert_close(out[0][2] + out[1][2], ref_bn.weight.grad, rtol=1e-4, atol=1e-5)
    for r in (0, 1):  # running statistics: identical on both processes and equal to the big batch's
        torch.testing.assert_close(out[r][3], ref_bn.running_mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out[r][4], ref_bn.running_var, rtol=1e-5, atol=1e-6)


def test_cpu_sync_batchnorm_alone_is_batchnorm():
    torch.manual_seed(0)
    ref = nn.BatchNorm2d(3)
    ref.weight.data.uniform_()
    sync = convert_sync_batchnorm(nn.Sequential(ref), torch.device("cpu"))[0]
    assert isinstance(sync, CPUSyncBatchNorm) and sync.weight is ref.weight
    x = torch.randn(4, 3, 5, 5)
    torch.testing.assert_close(sync(x), nn.functional.batch_norm(x, None, None, ref.weight, ref.bias, training=True))
    with pytest.raises(ValueError, match="at least 2-D"):
        sync(torch.randn(3))
    assert np.isfinite(sync.running_var.numpy()).all()

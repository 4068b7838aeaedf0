"""DDP: 2 processes on CPU (gloo, torchrun) end with the same weights as 1 process with the same global batch.

BatchNorm, honestly: BN in training mode normalises each forward pass's batch with that batch's own
statistics, so "1 process x 4 clips" and "2 processes x 2 clips" differ by design. Two checks:

1. The DDP mechanics (sharding, gradient averaging, the global batch of 4): 2 processes x 2 clips vs
   1 process x 2 clips x 2 accumulation steps. The sampler puts the same 2 clips in process r's batch
   as in micro-batch r of the single process, so BN sees the same groups on both sides, and the
   parameters come out **bitwise equal** after 3 SGD steps (averaging over processes and over
   micro-batches both scale by 1/2, which is exact). The model is ``l2``: the spatial embedding of
   ``l3`` has spectrally normalised T_v, T_p whose power iteration advances once per forward pass,
   i.e. twice per step with 2 accumulation steps but once per process under DDP. BN running averages
   are not compared: the single process updates them after each micro-batch, DDP keeps (broadcasts)
   process 0's.
2. ``train.sync_bn``: vpnet's CPUSyncBatchNorm (torch's SyncBatchNorm is CUDA-only in torch 2.13) in the
   real recognizer (8x32x32 clips, float64) under DDP gives the gradients and running statistics of one
   big batch of 4. Compared in float64 (max error <= 1e-9 x the tensor's largest gradient; measured
   ~1e-12): in float32 a freshly initialised I3D at 8x64x64 is so ill-conditioned that plain
   single-process BatchNorm's gradients differ by up to ~20 % between float32 and float64 in a few
   layers, so a float32 comparison could not tell a bug from rounding.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from vpnet.config import ModelConfig
from vpnet.engine.checkpoint import load_state_dict
from vpnet.engine.config_loader import load_config
from vpnet.engine.distributed import convert_sync_batchnorm
from vpnet.engine.train import train


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one_process(tiny, tmp_path):
    common = dict(train__epochs=1, train__global_batch=4, data__batch_size=2, model__variant="l2")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun process: the conv kernels' summation order depends on it
    try:
        one = train(load_config(None, tiny(name="one", **common)))  # 2 clips x 2 accumulation steps
    finally:
        torch.set_num_threads(threads)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(_port()),
         "-m", "vpnet.cli", "train", *tiny(name="two", **common)],
        env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "(2 processes)" in r.stderr and "2 per process x 2 processes x 1 accumulation" in r.stderr

    runs = tmp_path / "runs"
    w1, _ = load_state_dict(one.final_weights)
    w2, _ = load_state_dict(runs / "two" / "final.safetensors")
    w0 = build_recognizer_l2_init()
    assert w1.keys() == w2.keys() == w0.keys()
    params = [k for k in w1 if "running_" not in k and "num_batches_tracked" not in k]
    assert len(params) > 100
    for k in params:
        assert torch.equal(w1[k], w2[k]), k
    assert not torch.equal(w1["head.fc.weight"], w0["head.fc.weight"])  # and training did move them
    rows1 = list(csv.DictReader(open(runs / "one" / "steps.csv")))
    rows2 = list(csv.DictReader(open(runs / "two" / "steps.csv")))
    assert len(rows1) == 3 and [r["loss"] for r in rows1] == [r["loss"] for r in rows2]  # step by step


def build_recognizer_l2_init() -> dict[str, torch.Tensor]:
    """The initial weights of the tiny l2 model (seed 0, as train() builds it)."""
    from vpnet.models import build_recognizer

    torch.manual_seed(0)
    cfg = ModelConfig(variant="l2", num_classes=60, clip_len=8, crop_size=64, dropout=0.0)
    return build_recognizer(cfg).state_dict()


def _model() -> nn.Module:
    from vpnet.models import build_recognizer

    torch.manual_seed(0)
    # l2: the spectral norm of l3's embedding keeps float32 power-iteration vectors (no .double())
    return build_recognizer(ModelConfig(variant="l2", num_classes=60, clip_len=8, crop_size=32, dropout=0.0)).double()


def _sync_worker(rank: int, port: int, x, p, y, out) -> None:
    from vpnet.models import vpn_loss

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        model = convert_sync_batchnorm(_model(), torch.device("cpu"))
        ddp = nn.parallel.DistributedDataParallel(model)
        part = slice(2 * rank, 2 * rank + 2)
        vpn_loss(ddp(x[part], p[part]), y[part]).total.backward()
        out[rank] = {k: q.grad for k, q in model.named_parameters() if q.grad is not None}
        out[f"bn{rank}"] = model.backbone.Mixed_5c.b1b.bn.running_var.clone()
    finally:
        dist.destroy_process_group()


def test_sync_batchnorm_under_ddp_gives_the_big_batch_gradients():
    from vpnet.models import vpn_loss

    torch.manual_seed(1)
    x = torch.randn(4, 3, 8, 32, 32, dtype=torch.float64)
    p = torch.randn(4, 3, 20, 25, dtype=torch.float64) * 0.3
    y = torch.tensor([0, 1, 2, 3])
    ref = _model()
    vpn_loss(ref(x, p), y).total.backward()
    shared = mp.Manager().dict()
    mp.spawn(_sync_worker, args=(_port(), x, p, y, shared), nprocs=2, join=True)
    out = dict(shared)  # one copy out of the manager (each proxy lookup would fetch every gradient again)
    for rank in (0, 1):
        for k, q in ref.named_parameters():  # relative to the tensor's largest gradient
            assert (out[rank][k] - q.grad).abs().max() <= 1e-9 * q.grad.abs().max(), k
        torch.testing.assert_close(out[f"bn{rank}"], ref.backbone.Mixed_5c.b1b.bn.running_var, rtol=1e-9, atol=1e-12)

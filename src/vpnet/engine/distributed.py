"""Processes, devices and data sharding: torchrun / torch.distributed (env://), gloo on CPU, NCCL on GPU.

One process per device. Under ``torchrun`` the environment names the rank and the world size
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); without it the run is a
single process. Multi-node runs are the same code with torchrun's ``--nnodes``/``--rdzv-*`` options.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from vpnet.engine.config_loader import ConfigError


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    #: ``gloo``, ``nccl`` or None (single process).
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group described by torchrun's environment (or run alone without one).

    Args:
        device: ``auto`` (CUDA device ``LOCAL_RANK`` when CUDA is available, else CPU), ``cpu``, ``cuda``.

    Raises:
        ConfigError: ``cuda`` without a usable CUDA device.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but CUDA is not available (torch.cuda.is_available() is False); "
                          "use train.device=auto or cpu")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    backend = None
    if world > 1:
        backend = "nccl" if use_cuda else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend=backend, init_method="env://")
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=dev, backend=backend)


def shutdown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Element-wise sum over processes of ``t`` (on the process's device), in place; returns ``t``."""
    if ctx.distributed:
        dist.all_reduce(t)
    return t


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every process's ``obj`` (picklable), in rank order."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


# --- samplers -------------------------------------------------------------------------------------


def epoch_permutation(num_items: int, *, seed: int, epoch: int) -> np.ndarray:
    """The item order of an epoch: a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(num_items)


class TrainSampler(Sampler[int]):
    """Item indices for one process, one epoch, laid out so that runs with different process counts
    and accumulation steps see the same **global** batches.

    With global batch G = b x W x A (per-process batch b, W processes, A micro-batches per step) and
    the epoch's permutation ``perm``, optimiser step s uses ``perm[s*G:(s+1)*G]``; micro-batch a of
    process r takes the b items starting at ``s*G + (a*W + r)*b``. So each process gets disjoint items,
    the union over processes and micro-batches of a step is the same set whatever (b, W, A) is, and the
    incomplete last global batch is dropped (every step has G items). ``set_start_step(k)`` skips the
    first k steps (an exact resume in the middle of an epoch).
    """

    def __init__(
        self,
        num_items: int,
        *,
        batch_size: int,
        world_size: int = 1,
        rank: int = 0,
        grad_accum: int = 1,
        seed: int = 0,
    ):
        self.num_items = num_items
        self.batch_size = batch_size
        self.world_size = world_size
        self.rank = rank
        self.grad_accum = grad_accum
        self.seed = seed
        self.epoch = 0
        self.start_step = 0

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size * self.grad_accum

    @property
    def steps_per_epoch(self) -> int:
        return self.num_items // self.global_batch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_start_step(self, step: int) -> None:
        self.start_step = step

    def _indices(self) -> np.ndarray:
        perm = epoch_permutation(self.num_items, seed=self.seed, epoch=self.epoch)
        b, w, a, g = self.batch_size, self.world_size, self.grad_accum, self.global_batch
        steps = perm[: self.steps_per_epoch * g].reshape(self.steps_per_epoch, a, w, b)
        return steps[self.start_step :, :, self.rank, :].reshape(-1)

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return max(0, self.steps_per_epoch - self.start_step) * self.grad_accum * self.batch_size


class ShardSampler(Sampler[int]):
    """Items ``rank, rank + W, rank + 2W, ...`` in order: disjoint shards covering every item once
    (evaluation; no padding, so no item is counted twice)."""

    def __init__(self, num_items: int, *, world_size: int = 1, rank: int = 0):
        self.indices = list(range(rank, num_items, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


# --- synchronised BatchNorm -----------------------------------------------------------------------


class _SyncBatchNormFn(torch.autograd.Function):
    """BatchNorm over the union of every process's batch, with BatchNorm's own backward formula.

    Forward: each process's per-channel (mean, biased var, count), from ``torch.var_mean``, are
    gathered and combined exactly (Chan's parallel variance), so no E[x^2] - E[x]^2 cancellation.
    Backward: sum(dy) and sum(dy * x_hat) are summed over processes and
    dx = w / sigma * (dy - sum(dy) / n - x_hat * sum(dy x_hat) / n), the global-batch gradient of the
    sum of the processes' losses (DDP's averaging of the parameter gradients then gives the mean).
    The weight and bias gradients are the process's own, which DDP averages.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float,
                running: tuple[torch.Tensor, torch.Tensor, float] | None) -> torch.Tensor:
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, c] + [1] * (x.dim() - 2)
        var_r, mean_r = torch.var_mean(x, dims, correction=0)
        n_r = torch.full((1,), float(x.numel() // c), dtype=torch.float64, device=x.device)
        mine = torch.cat([mean_r.double(), var_r.double(), n_r])
        every = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
        dist.all_gather(every, mine)
        stats = torch.stack(every)  # (W, 2C + 1)
        counts = stats[:, -1:]
        n = counts.sum()
        mean = (stats[:, :c] * counts).sum(0) / n
        var = ((stats[:, c : 2 * c] + (stats[:, :c] - mean) ** 2) * counts).sum(0) / n
        if running is not None:
            running_mean, running_var, momentum = running
            running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
            unbiased_var = var * n / max(float(n) - 1, 1.0)
            running_var.mul_(1 - momentum).add_(unbiased_var.to(running_var.dtype), alpha=momentum)
        invstd = torch.rsqrt(var + eps).to(x.dtype)
        x_hat = (x - mean.to(x.dtype).view(shape)) * invstd.view(shape)
        ctx.save_for_backward(x_hat, invstd, weight)
        ctx.n = float(n)
        ctx.has_bias = bias is not None
        y = x_hat.clone() if weight is None else x_hat * weight.view(shape)  # x_hat is saved: never hand it out
        return y if bias is None else y + bias.view(shape)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor):
        x_hat, invstd, weight = ctx.saved_tensors
        c = dy.shape[1]
        dims = [0, *range(2, dy.dim())]
        shape = [1, c] + [1] * (dy.dim() - 2)
        dy = dy.contiguous()
        sum_dy = dy.sum(dims)
        sum_dy_xhat = (dy * x_hat).sum(dims)
        dx = None
        if ctx.needs_input_grad[0]:
            both = torch.cat([sum_dy, sum_dy_xhat]).double()
            dist.all_reduce(both)
            g_dy, g_dy_xhat = (both[:c] / ctx.n).to(dy.dtype), (both[c:] / ctx.n).to(dy.dtype)
            scale = invstd if weight is None else invstd * weight
            dx = (dy - g_dy.view(shape) - x_hat * g_dy_xhat.view(shape)) * scale.view(shape)
        dw = sum_dy_xhat if weight is not None and ctx.needs_input_grad[1] else None
        db = sum_dy if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db, None, None


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are taken over the batches of all processes, on any device.

    ``torch.nn.SyncBatchNorm`` refuses CPU tensors (its kernels are CUDA-only), so CPU runs (gloo) use
    this (see :class:`_SyncBatchNormFn`). Eval mode and single-process runs are plain BatchNorm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (N, C, ...), got {input.dim()}-D")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        running = None
        if self.track_running_stats and self.running_mean is not None:
            self.num_batches_tracked.add_(1)
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            running = (self.running_mean, self.running_var, m)
        return _SyncBatchNormFn.apply(input, self.weight, self.bias, self.eps, running)


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm layer as a synchronised one: ``torch.nn.SyncBatchNorm`` on CUDA,
    :class:`CPUSyncBatchNorm` elsewhere. Parameters, buffers, eps, momentum and train/eval mode are kept."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_cpu(module)


def _convert_cpu(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CPUSyncBatchNorm):
        new = CPUSyncBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        if module.affine:
            with torch.no_grad():
                new.weight = module.weight
                new.bias = module.bias
        if module.track_running_stats:
            new.running_mean = module.running_mean
            new.running_var = module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        new_child = _convert_cpu(child)
        if new_child is not child:
            module.add_module(name, new_child)
    return module

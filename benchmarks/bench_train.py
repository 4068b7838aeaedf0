"""Training throughput: the VPN head on cached features vs end-to-end training, and the GPU section.

1. Head-only training on cached backbone maps (the feature cache, 1024x8x7x7 per clip, float16 on
   disk), batch 32, through the real ``vpnet.engine.train.train`` (DataLoader over the memory-mapped
   cache, forward with ``features=``, loss, backward, SGD): clips/s. Target: >= 150 clips/s.
2. End-to-end training steps of VPN-I3D (``l3``) at 64x224x224 on in-memory clips, batch 2: fp32 vs
   bf16 autocast vs channels_last_3d vs both, interleaved, median of the timed steps: clips/s and the
   speed-up over fp32. The head-only figure is also given as a ratio to end-to-end fp32.
3. GPU (when CUDA is available): backbone-only (``l1``) vs VPN (``l3``) training clips/s at 64x224x224,
   bf16 autocast + channels_last_3d, and whether a DataLoader over the prepared store keeps ahead.

Run: ``.venv/bin/python benchmarks/bench_train.py`` (about 3-4 minutes on 2 CPU cores). Writes the
``train`` section of RESULTS.md.
"""

from __future__ import annotations

import csv
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _results import write_section  # noqa: E402
from vpnet.config import ModelConfig  # noqa: E402
from vpnet.engine.config_loader import load_config  # noqa: E402
from vpnet.engine.features import _SplitWriter  # noqa: E402
from vpnet.engine.forward import autocast  # noqa: E402
from vpnet.engine.train import train  # noqa: E402
from vpnet.models import build_recognizer, vpn_loss  # noqa: E402

CACHED_ITEMS = 512
HEAD_BATCH = 32
E2E_BATCH = 2
E2E_REPEATS = 3


def make_cache(root: Path, n: int) -> None:
    """A train split of random 1024x8x7x7 maps (float16) with random NTU poses and labels."""
    rng = np.random.default_rng(0)
    names = [f"S001C001P001R001A{i % 60 + 1:03d}_{i}" for i in range(n)]
    w = _SplitWriter(root / "train", names=names, labels=rng.integers(60, size=n).tolist(), views=1, mode="train",
                     dtype="float16", extra={"backbone": "i3d", "backbone_weights": None, "checkpoint": None})
    for i in range(n):
        f = torch.from_numpy(rng.standard_normal((1, 1024, 8, 7, 7), dtype=np.float32)).relu_()
        p = torch.from_numpy(rng.standard_normal((1, 3, 20, 25), dtype=np.float32) * 0.3)
        w.put(i, 0, f, p)
    w.finish()


def head_only(tmp: Path, cache: Path, workers: int) -> float:
    """clips/s of the second epoch of ``train()`` on the cache (workers, page cache, allocator warm)."""
    steps = CACHED_ITEMS // HEAD_BATCH
    cfg = load_config(None, [
        f"name=head{workers}", f"output_dir={tmp / 'runs'}", "data.dataset=ntu60", "data.protocol=cs",
        f"data.feature_dir={cache}", f"data.batch_size={HEAD_BATCH}", f"data.num_workers={workers}",
        "model.variant=l3", "model.num_classes=60", f"train.global_batch={HEAD_BATCH}", "train.epochs=2",
        "train.val_split=null", "train.ckpt_every_steps=0", "train.tensorboard=false", f"train.log_every={steps}",
    ])
    train(cfg)
    rows = list(csv.DictReader(open(tmp / "runs" / f"head{workers}" / "steps.csv")))
    return float(rows[-1]["clips_per_s"])


def e2e_step_times() -> dict[str, float]:
    """Seconds per clip of one training step of VPN-I3D at 64x224x224, per setting (median)."""
    torch.manual_seed(0)
    model = build_recognizer(ModelConfig(variant="l3", num_classes=60))
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    video = torch.rand(E2E_BATCH, 3, 64, 224, 224) * 2 - 1
    poses = torch.randn(E2E_BATCH, 3, 20, 25) * 0.3
    labels = torch.randint(0, 60, (E2E_BATCH,))
    settings = {"fp32": ("none", False), "bf16": ("bf16", False), "channels_last": ("none", True),
                "bf16+channels_last": ("bf16", True)}
    device = torch.device("cpu")

    def step(amp: str, cl: bool) -> float:
        model.to(memory_format=torch.channels_last_3d if cl else torch.contiguous_format)
        x = video.contiguous(memory_format=torch.channels_last_3d) if cl else video
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast(device, amp):
            loss = vpn_loss(model(x, poses), labels).total
        loss.float().backward()
        opt.step()
        return (time.perf_counter() - t) / E2E_BATCH

    times: dict[str, list[float]] = {k: [] for k in settings}
    for amp, cl in settings.values():  # warm-up: oneDNN kernels, allocator
        step(amp, cl)
    for _ in range(E2E_REPEATS):  # interleaved, so load changes hit every setting alike
        for name, (amp, cl) in settings.items():
            times[name].append(step(amp, cl))
    return {k: statistics.median(v) for k, v in times.items()}


def gpu_section(tmp: Path) -> str:
    """clips/s of l1 vs l3 training on the GPU, and a prepared-store DataLoader's clips/s beside it."""
    device = torch.device("cuda")
    batch, out = 8, {}
    for variant in ("l1", "l3"):
        torch.manual_seed(0)
        model = build_recognizer(ModelConfig(variant=variant, num_classes=60)).to(device)
        model.to(memory_format=torch.channels_last_3d)
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        x = (torch.rand(batch, 3, 64, 224, 224, device=device) * 2 - 1).contiguous(memory_format=torch.channels_last_3d)
        p = torch.randn(batch, 3, 20, 25, device=device) * 0.3
        y = torch.randint(0, 60, (batch,), device=device)
        times = []
        for i in range(8):
            torch.cuda.synchronize()
            t = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            with autocast(device, "bf16"):
                loss = vpn_loss(model(x, p), y).total
            loss.float().backward()
            opt.step()
            torch.cuda.synchronize()
            if i >= 3:
                times.append(time.perf_counter() - t)
        out[variant] = batch / statistics.median(times)
        del model, opt, x
        torch.cuda.empty_cache()
    loader_rate = prepared_loader_rate(tmp)
    ahead = "yes" if loader_rate >= out["l3"] else "no: add workers or prepare at a smaller size"
    return (f"| backbone only (l1) | {out['l1']:.1f} clips/s |\n| VPN (l3) | {out['l3']:.1f} clips/s "
            f"({out['l3'] / out['l1']:.2f}x of l1) |\n| DataLoader over the prepared store | {loader_rate:.1f} clips/s "
            f"(keeps ahead of l3: {ahead}) |\n\nGPU: {torch.cuda.get_device_name(0)}; batch {batch}, bf16 autocast, "
            "channels_last_3d, no torch.compile; the loader reads generated NTU-format clips prepared at 256 px "
            "(64 frames, crop 224) with one worker per CPU core.")


def prepared_loader_rate(tmp: Path) -> float:
    import os

    from typer.testing import CliRunner

    from vpnet.cli import app
    from vpnet.data import build_dataset, collate
    from vpnet.data.synthetic import make_ntu

    data = make_ntu(tmp / "ntu", num_classes=4, per_class=16, frames=140, size=(640, 360))
    store = tmp / "store"
    r = CliRunner().invoke(app, ["prepare", "data.dataset=ntu60", f"data.video_dir={data.video_dir}",
                                 f"data.pose_dir={data.pose_dir}", "--out", str(store), "--protocol", "cs",
                                 "--no-progress"])
    assert r.exit_code == 0, r.output
    cfg = load_config(None, ["data.dataset=ntu60", f"data.prepared_dir={store}"]).data
    ds = build_dataset(cfg, "train", mode="train")
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=os.cpu_count() or 1, collate_fn=collate,
                                         shuffle=True)
    n, t = 0, time.perf_counter()
    for _ in range(2):
        for batch in loader:
            n += len(batch["label"])
    return n / (time.perf_counter() - t)


def loader_workers_sentence(head: dict[int, float], threads: int) -> str:
    """What this run's two head-only rates say about ``data.num_workers`` (page-cached features)."""
    ratio = head[2] / head[0]
    if abs(ratio - 1) < 0.05:
        return (f"2 loader workers and none gave the same rate within 5 % ({ratio:.2f}x) with {threads} torch "
                "threads: reading the page-cached cache is not the bottleneck.")
    if ratio < 1:
        return (f"`data.num_workers=0` was the faster setting in this run ({1 / ratio:.2f}x the rate with 2 "
                f"workers, {threads} torch threads), presumably because the workers share the cores with the "
                "training step and copy every batch between processes.")
    return (f"2 loader workers were {ratio:.2f}x faster than none in this run ({threads} torch threads): reading "
            "the cache overlaps with the training step.")


def main() -> None:
    logging.getLogger("vpnet").setLevel(logging.WARNING)
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="vpnet-bench-train-") as d:
        tmp = Path(d)
        make_cache(tmp / "features", CACHED_ITEMS)
        head = {w: head_only(tmp, tmp / "features", w) for w in (0, 2)}
        for w, rate in head.items():
            print(f"head-only on cached features, {w} loader workers: {rate:.1f} clips/s", flush=True)
        e2e = e2e_step_times()
        for k, v in e2e.items():
            print(f"end-to-end {k}: {1 / v:.3f} clips/s ({v:.2f} s/clip)", flush=True)
        gpu = gpu_section(tmp) if torch.cuda.is_available() else None

    fp32 = e2e["fp32"]
    best = max(head.values())
    target = "met" if best >= 150 else "**not met**"
    workers = loader_workers_sentence(head, threads)
    rows = "\n".join(
        f"| end to end, {k} | {1 / v:.3f} clips/s ({v:.2f} s/clip) | {fp32 / v:.2f}x |" for k, v in e2e.items())
    main_process_row = (f"| head only, on cached features, DataLoader in the main process | **{head[0]:.0f} clips/s** "
                        f"| {head[0] * fp32:.0f}x end-to-end fp32 |")
    gpu_note = "see below." if gpu else (
        "no GPU was available in this session; the script fills this table (backbone-only vs VPN training clips/s, "
        "and whether the DataLoader over the prepared store keeps ahead of the GPU) when run on a CUDA machine.")
    body = f"""Script: `benchmarks/bench_train.py`. CPU run with {threads} torch threads.

**Head-only training on cached features** (`vpnet extract-features` output, 1024x8x7x7 per clip,
float16 on disk, memory-mapped): the real `vpnet.engine.train.train` with `data.feature_dir`, VPN `l3`
(GCN pose backbone, coupler, spatial embedding, head; the frozen I3D is not run), batch {HEAD_BATCH},
fp32, SGD; {CACHED_ITEMS} random clips, the second epoch's rate (as logged in `steps.csv`).

| measurement | speed | ratio |
|---|---|---|
{main_process_row}
| head only, on cached features, 2 DataLoader workers | {head[2]:.0f} clips/s | {head[2] * fp32:.0f}x end-to-end fp32 |
{rows}

Target for the head: >= 150 clips/s: {target}. {workers}

**End to end** = one SGD step of VPN-I3D (`l3`, forward + L + backward + step) at 64x224x224 on
in-memory clips (no data loading), batch {E2E_BATCH}; the four settings interleaved, median of
{E2E_REPEATS} timed steps each after a warm-up step. Ratios are speed-ups over fp32 in this run. bf16 =
`torch.autocast("cpu", torch.bfloat16)`; channels_last = `torch.channels_last_3d` for the model and the
clip; no torch.compile (its first compile takes minutes here). Note: bf16 training on CPU produced NaN
gradients now and then, so `train.amp` defaults to fp32 on CPU and
`train.skip_nonfinite` skips such steps.

**GPU**: {gpu_note}
"""
    if gpu:
        body += "\n| GPU measurement | speed |\n|---|---|\n" + gpu + "\n"
    write_section("train", "Training throughput: cached features vs end to end (bench_train.py)", body)


if __name__ == "__main__":
    main()

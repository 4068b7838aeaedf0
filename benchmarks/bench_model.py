"""Size, compute and speed of VPN-I3D at the paper's input (64 x 224 x 224 clip, NTU-60, 20 NTU-25 poses).

1. Parameters, by part.
2. Multiply-accumulates of one forward pass (torch.utils.flop_counter on the meta device; it counts 2
   FLOPs per MAC), against the 107.9 G MACs the authors' comparison gives for VPN-I3D.
3. Training step (forward + backward) and inference time of VPN (``l3``) vs the bare I3D (``l1``:
   the same backbone with the GAP/dropout/linear head) on this CPU with bf16 autocast and
   channels_last_3d, interleaved in one run, median of several repeats; the ratio is the VPN overhead
   (budget: < 15 %).

Run: ``.venv/bin/python benchmarks/bench_model.py [--repeats 7]``; writes the ``model`` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from _results import write_section  # noqa: E402
from vpnet.config import ModelConfig  # noqa: E402
from vpnet.models import build_recognizer, vpn_loss  # noqa: E402

AUTHORS_GMACS = 107.9
BUDGET = 0.15


def count_params(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def gmacs_by_part(cfg: ModelConfig) -> dict[str, float]:
    """Forward MACs (G) of one clip, by top-level part, counted on the meta device."""
    with torch.device("meta"):
        model = build_recognizer(cfg).eval()
        video = torch.empty(1, 3, cfg.clip_len, cfg.crop_size, cfg.crop_size)
        poses = torch.empty(1, 3, cfg.t_p, 25)
        counter = FlopCounterMode(display=False)
        with counter:
            model(video, poses)
    counts = counter.get_flop_counts()
    parts = {}
    for part in ("backbone", "pose_backbone", "vpn", "head"):
        prefix = f"{type(model).__name__}.{part}"
        # a part called through forward_features has no entry of its own: sum its children
        keys = [prefix] if prefix in counts else [k for k in counts if k.startswith(prefix + ".")
                                                  and "." not in k[len(prefix) + 1:]]
        parts[part] = sum(sum(counts[k].values()) for k in keys) / 2e9
    parts["total"] = counter.get_total_flops() / 2e9
    return parts


def time_steps(models: dict[str, torch.nn.Module], video: torch.Tensor, poses: torch.Tensor, labels: torch.Tensor,
               repeats: int, train: bool) -> dict[str, list[float]]:
    """Seconds per step for each model, interleaved (one warm-up step each, not counted)."""
    times: dict[str, list[float]] = {name: [] for name in models}
    for rep in range(repeats + 1):
        for name, model in models.items():
            model.train(train)
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16), torch.set_grad_enabled(train):
                out = model(video, poses)
            if train:
                vpn_loss(out, labels).total.backward()
                model.zero_grad(set_to_none=True)
            if rep:
                times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    cfg = ModelConfig(variant="l3", num_classes=60)

    # 1. parameters
    with torch.device("meta"):
        vpn_model, i3d_model = build_recognizer(cfg), build_recognizer(ModelConfig(variant="l1", num_classes=60))
    vpn = vpn_model.vpn
    params = {
        "I3D backbone (to Mixed_5c)": count_params(vpn_model.backbone),
        "pose backbone (GCN)": count_params(vpn_model.pose_backbone),
        "coupler (z1, z2 MLPs)": count_params(vpn.coupler),
        "spatial embedding T_v (256 x 50,176)": count_params(vpn.embedding.t_v),
        "spatial embedding T_p (256 x 49)": count_params(vpn.embedding.t_p),
        "head (1024 -> 60)": count_params(vpn_model.head),
    }
    total_params = count_params(vpn_model)
    assert total_params == sum(params.values())

    # 2. compute
    macs = gmacs_by_part(cfg)
    macs_l1 = gmacs_by_part(ModelConfig(variant="l1", num_classes=60))
    ratio_macs = macs["total"] / AUTHORS_GMACS
    print(f"params: VPN-I3D {total_params / 1e6:.2f} M, bare I3D {count_params(i3d_model) / 1e6:.2f} M")
    print(f"GMACs: VPN-I3D {macs['total']:.2f} (backbone {macs['backbone']:.2f}), authors {AUTHORS_GMACS}: "
          f"{ratio_macs:.3f}x")

    # 3. speed
    threads = torch.get_num_threads()
    models = {"l1": build_recognizer(ModelConfig(variant="l1", num_classes=60)),
              "l3": build_recognizer(cfg), "l3_param": build_recognizer(cfg)}
    for name in ("l3", "l3_param"):
        models[name].load_state_dict(models["l1"].state_dict(), strict=False)
    # Reference: T_v, T_p with torch's spectral_norm parametrisation (W / sigma materialised every step).
    emb = models["l3_param"].vpn.embedding
    for attr in ("t_v", "t_p"):
        ours = getattr(emb, attr)
        ref = torch.nn.Linear(ours.in_features, ours.out_features, bias=False)
        ref.weight.data.copy_(ours.weight.data)
        setattr(emb, attr, torch.nn.utils.parametrizations.spectral_norm(ref))
    for m in models.values():
        m.to_channels_last()
    video = (torch.rand(1, 3, 64, 224, 224) * 2 - 1).contiguous(memory_format=torch.channels_last_3d)
    poses = torch.randn(1, 3, 20, 25) * 0.3
    labels = torch.tensor([7])
    results = {}
    for mode, train in (("train step (fwd + bwd)", True), ("inference (fwd)", False)):
        times = time_steps(models, video, poses, labels, args.repeats, train)
        med = {k: statistics.median(v) for k, v in times.items()}
        pair = {k: statistics.median(b / a for a, b in zip(times["l1"], times[k])) for k in ("l3", "l3_param")}
        results[mode] = (med, pair)
        print(f"{mode}: I3D {med['l1']:.3f} s, VPN {med['l3']:.3f} s (torch parametrisation {med['l3_param']:.3f} s), "
              f"median of paired ratios {pair['l3']:.3f} ({pair['l3_param']:.3f})")

    train_overhead = results["train step (fwd + bwd)"][1]["l3"] - 1
    param_overhead = results["train step (fwd + bwd)"][1]["l3_param"] - 1
    verdict = "within" if train_overhead < BUDGET else "OVER"
    print(f"VPN training overhead {train_overhead:+.1%}: {verdict} the {BUDGET:.0%} budget")

    rows = "\n".join(f"| {k} | {v / 1e6:.3f} M |" for k, v in params.items())
    speed_rows = "\n".join(
        f"| {mode} | {med['l1']:.3f} s | {med['l3']:.3f} s | {pair['l3']:.3f} | {med['l3_param']:.3f} s | "
        f"{pair['l3_param']:.3f} |" for mode, (med, pair) in results.items())
    macs_verdict = "within" if abs(ratio_macs - 1) <= 0.10 else "NOT within"
    speed_header = ("| | I3D (`l1`) median | VPN (`l3`) median | VPN / I3D (median of paired ratios) "
                    "| VPN with torch's spectral_norm, median | its ratio |")
    body = f"""
Script: `benchmarks/bench_model.py`. VPN-I3D = the `l3` recognizer (I3D to Mixed_5c, GCN pose backbone,
coupled attention, spatial embedding, head), NTU-60 (60 classes), one 64 x 224 x 224 clip with 20 NTU-25 poses.

**Parameters**: {total_params / 1e6:.2f} M in all (bare I3D recognizer `l1`: {count_params(i3d_model) / 1e6:.2f} M).

| part | parameters |
|---|---|
{rows}

T_v alone is as large as the whole I3D: eq. (3) maps the flattened f_s (D_v = 1024 x 7 x 7 = 50,176) to
D_e = 256. It costs few MACs but it is the bulk of VPN's extra memory traffic.

**Compute** (forward, one clip, multiply-accumulates; `torch.utils.flop_counter` counts 2 FLOPs per MAC
and was halved; convolutions and matrix products only, as fvcore counts them):

| | GMACs |
|---|---|
| I3D backbone | {macs['backbone']:.2f} |
| pose backbone | {macs['pose_backbone']:.4f} |
| VPN layer (coupler + embedding) | {macs['vpn']:.4f} |
| head | {macs['head']:.5f} |
| **VPN-I3D total** | **{macs['total']:.2f}** |
| bare I3D (`l1`) | {macs_l1['total']:.2f} |
| authors' figure for VPN-I3D | {AUTHORS_GMACS} |

Ours / authors' = {ratio_macs:.3f} ({(ratio_macs - 1):+.1%}): {macs_verdict} the
10 % asked. VPN itself adds {macs['total'] - macs_l1['total']:.3f} G (pose backbone {macs['pose_backbone']:.3f} G,
coupler and embedding {macs['vpn']:.3f} G); the gap is in the backbone: our I3D is {macs['backbone']:.2f} G, every
convolution counted at the output sizes of TF "SAME" padding (DeepMind's layout, which reproduces their Kinetics
predictions, see tests/models/test_weights.py). The authors' figure comes from another counter or I3D port, which we
do not have.

**Speed** on this CPU ({threads} threads), bf16 autocast + channels_last_3d (backbone weights and input), no
torch.compile, batch of one clip (the worst case for VPN: T_v's per-step cost does not grow with the
batch), {args.repeats} rounds after one warm-up, each round one step of each model in turn, same backbone weights:

{speed_header}
|---|---|---|---|---|---|
{speed_rows}

VPN training overhead: **{train_overhead:+.1%}**, {verdict} the {BUDGET:.0%} budget. Spectral normalisation of T_v
divides the (N, 256) output by sigma instead of the 256 x 50,176 weight (`vpnet.models.embedding.SpectralNormLinear`,
same function and gradient as torch's parametrisation, tested against it); with torch's parametrisation, measured in
the same run, the overhead is {param_overhead:+.1%}. Other engineers' jobs share this machine, so single steps vary;
the paired ratios (each VPN step over the I3D step of the same round) are steadier than either median.
"""
    write_section("model", "Model size, compute and VPN overhead (bench_model.py)", body)


if __name__ == "__main__":
    main()

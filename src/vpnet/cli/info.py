"""``vpnet info``: the environment a run would see (versions, devices, threads, caches)."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from typing import Any

import typer

PACKAGES = ("vpnet", "torch", "numpy", "av", "opencv-python-headless", "safetensors", "omegaconf", "typer",
            "tqdm", "platformdirs", "matplotlib", "tensorboard", "onnxruntime", "openvino")


def environment() -> dict[str, Any]:
    """Versions, devices, threads, cache folders and cached weights, as a JSON-able dict."""
    import torch

    from vpnet.data import ntu
    from vpnet.models import weights

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        import av

        versions["ffmpeg (libavcodec)"] = ".".join(map(str, av.library_versions.get("libavcodec", ())))
    except Exception:  # PyAV builds without library_versions
        pass

    devices: list[dict[str, Any]] = [{"type": "cpu", "name": platform.processor() or platform.machine()}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            devices.append({"type": "cuda", "index": i, "name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                            "capability": f"{p.major}.{p.minor}"})
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append({"type": "mps", "name": "Apple Metal"})
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()

    cached = {}
    for name, spec in weights.known_weights().items():
        path = weights.cached_path(spec)
        cached[name] = {"cached": path.is_file(), "path": str(path)}
    return {
        "versions": versions,
        "platform": platform.platform(),
        "executable": sys.executable,
        "devices": devices,
        "cuda": {"available": torch.cuda.is_available(), "torch_cuda": torch.version.cuda,
                 "nccl": torch.distributed.is_nccl_available() if torch.distributed.is_available() else False},
        "distributed": {"available": torch.distributed.is_available(),
                        "gloo": torch.distributed.is_available() and torch.distributed.is_gloo_available()},
        "threads": {"cpu_count": os.cpu_count(), "usable_cpus": usable, "torch_threads": torch.get_num_threads(),
                    "torch_interop_threads": torch.get_num_interop_threads(),
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "cache": {"dir": str(weights.cache_dir()), "weights_dir": str(weights.weights_dir()),
                  "VPNET_CACHE": os.environ.get("VPNET_CACHE")},
        "data": {"VPNET_DATA": os.environ.get("VPNET_DATA"),
                 "skeleton_reader": "C extension" if ntu._fast_parse is not None else "numpy"},
        "weights": cached,
    }


def info_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    presets: bool = typer.Option(False, "--presets", help="List the presets and the paper result each reproduces "
                                 "(configs/metafile.yaml) instead."),
) -> None:
    """Show versions, devices, threads, cache folders and whether the Kinetics-400 weights are cached."""
    if presets:
        _print_presets(as_json)
        return
    env = environment()
    if as_json:
        typer.echo(json.dumps(env, indent=2))
        return
    lines = ["versions:"]
    lines += [f"  {k:<24} {v if v is not None else '(not installed)'}" for k, v in env["versions"].items()]
    lines += [f"platform: {env['platform']}", f"python:   {env['executable']}", "devices:"]
    for d in env["devices"]:
        extra = f", {d['memory_gib']} GiB, capability {d['capability']}" if d["type"] == "cuda" else ""
        idx = f":{d['index']}" if "index" in d else ""
        lines.append(f"  {d['type']}{idx:<4} {d['name']}{extra}")
    if not env["cuda"]["available"]:
        lines.append(f"  (no CUDA: torch {env['versions']['torch']} runs on the CPU; DDP uses gloo)")
    t = env["threads"]
    lines.append(f"threads:  {t['torch_threads']} torch intra-op, {t['torch_interop_threads']} inter-op; "
                 f"{t['usable_cpus']} usable of {t['cpu_count']} CPUs; OMP_NUM_THREADS={t['OMP_NUM_THREADS']}")
    c = env["cache"]
    cache_note = " (from $VPNET_CACHE)" if c["VPNET_CACHE"] else " (set $VPNET_CACHE to move it)"
    lines.append(f"cache:    {c['dir']}{cache_note}")
    d = env["data"]
    lines.append(f"data:     $VPNET_DATA={d['VPNET_DATA']} (presets look for datasets under it, else ./data)")
    reader_note = "" if d["skeleton_reader"] == "C extension" else (
        " (slower: see benchmarks/RESULTS.md; reinstall with a C compiler for the C one)")
    lines.append(f"          .skeleton reader: {d['skeleton_reader']}{reader_note}")
    lines.append("weights:")
    for name, w in env["weights"].items():
        state = "cached" if w["cached"] else "not cached (vpnet weights fetch " + name + ")"
        lines.append(f"  {name:<14} {state}: {w['path']}")
    typer.echo("\n".join(lines))


def _print_presets(as_json: bool) -> None:
    from vpnet.cli._errors import user_errors
    from vpnet.presets import find_configs_dir, read_metafile

    with user_errors():
        entries = read_metafile(find_configs_dir())
    if as_json:
        typer.echo(json.dumps([{"name": e.name, "config": e.config,
                                "paper": None if e.paper is None else vars(e.paper),
                                "reference": None if e.reference is None else vars(e.reference)}
                               for e in entries], indent=2))
        return
    width = max(len(e.name) for e in entries)
    for e in entries:
        p = e.paper
        r = e.reference
        if p is None and r is not None:
            metric = "mean per-class" if r.metric == "mean_class" else "top-1"
            what = f"(ours; the design it follows: {r.value:.1f} % {metric}  {r.table}, {r.row}, {r.column})"
        elif p is None:
            what = "(our baseline: no paper number)"
        else:
            metric = "mean per-class" if p.metric == "mean_class" else "top-1"
            what = f"{p.value:5.1f} % {metric}  {p.table}, {p.row}, {p.column}"
        typer.echo(f"{e.name:<{width}}  {what}")

"""Fixtures of the inference tests: a tiny checkpoint trained through ``vpnet train`` on generated data.

The data is made here (not by the demo): a custom manifest of 2 classes x 4 short H.264 videos of
a moving square with NTU-25 poses (``.npz``, metres and pixels). Class ``left`` moves the square and
the skeleton left, ``right`` right. The run is a CPU-sized VPN (l3, 8 frames of 64x64, I3D from
scratch, one epoch): it only has to exist, be a real vpnet run folder and load.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FRAMES, W, H = 20, 128, 96


def write_video(path: Path, frames: np.ndarray, fps: int = 30) -> None:
    """(T, H, W, 3) uint8 RGB -> an H.264 (else MPEG-4) file."""
    import av

    with av.open(str(path), "w") as c:
        try:
            s = c.add_stream("libx264", rate=fps)
        except (av.error.FFmpegError, ValueError):
            s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def skeleton_track(direction: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A person of 25 joints walking sideways: xyz (T, 25, 3) metres and uv (T, 25, 2) pixels."""
    base = rng.normal(0, 0.15, size=(25, 3)).astype(np.float32)
    base[:, 2] += 3.0
    t = np.arange(FRAMES, dtype=np.float32)[:, None, None]
    xyz = base[None] + np.array([direction * 0.03, 0, 0], np.float32) * t
    uv = np.stack([W / 2 + 100 * xyz[..., 0] / xyz[..., 2], H / 2 - 100 * xyz[..., 1] / xyz[..., 2]], axis=-1)
    return xyz.astype(np.float32), uv.astype(np.float32)


def make_data(root: Path) -> Path:
    """Videos, poses and ``manifest.csv`` (split train/test) under ``root``; returns the manifest."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["video,poses,label,split"]
    for label, direction in (("left", -1), ("right", 1)):
        for i in range(4):
            xyz, uv = skeleton_track(direction, rng)
            frames = np.full((FRAMES, H, W, 3), 40, np.uint8)
            for t in range(FRAMES):
                x = int(np.clip(uv[t, :, 0].mean(), 10, W - 10))
                frames[t, H // 2 - 10:H // 2 + 10, x - 10:x + 10] = (220, 60 + 40 * i, 60)
            name = f"{label}{i}"
            write_video(root / f"{name}.mp4", frames)
            np.savez(root / f"{name}.npz", xyz=xyz, uv=uv, image_size=np.array([W, H]))
            rows.append(f"{name}.mp4,{name}.npz,{label},{'test' if i == 3 else 'train'}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def train_tiny(root: Path, *, skeleton: str = "ntu25") -> Path:
    """Train the tiny VPN with the ``vpnet train`` CLI; returns the run folder."""
    manifest = make_data(root / "data")
    run = root / "run"
    cmd = [sys.executable, "-m", "vpnet.cli", "train", "name=tiny", f"output_dir={root}",
           "data.dataset=custom", "data.protocol=split", f"data.manifest={manifest}", "data.batch_size=2",
           "data.num_workers=0", "model.variant=l3", "model.num_classes=2", "model.clip_len=8",
           "model.crop_size=64", "model.t_p=4", "model.dropout=0.0", f"model.skeleton={skeleton}",
           "train.epochs=1", "train.global_batch=2", "train.ckpt_every_steps=0", "train.tensorboard=false",
           "train.deterministic=true", "optim.lr=0.001", "eval.mode=single", "eval.clip_batch=4",
           "--run-dir", str(run)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"tiny training failed:\n{res.stdout}\n{res.stderr}"
    return run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run folder of the tiny VPN (config.yaml, final.safetensors) on ntu25 skeletons."""
    return train_tiny(tmp_path_factory.mktemp("tiny_vpn"))


@pytest.fixture(scope="session")
def tiny_data(tiny_run) -> Path:
    """The generated data folder of :func:`tiny_run` (videos, poses, manifest.csv)."""
    return tiny_run.parent / "data"


@pytest.fixture(scope="session")
def tiny_weights(tiny_run) -> Path:
    from vpnet.engine.evaluate import find_weights

    return find_weights(tiny_run)


@pytest.fixture(scope="session")
def has_mediapipe() -> bool:
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def onnx_file(tiny_run, tmp_path_factory) -> Path:
    """The tiny run exported to ONNX (once per session: the export takes ~15 s)."""
    pytest.importorskip("onnxruntime", reason="the export extra is not installed (pip install 'vpnet[export]')")
    from vpnet.export import export_model

    return export_model(out=tmp_path_factory.mktemp("onnx") / "tiny.onnx", fmt="onnx", run=tiny_run)

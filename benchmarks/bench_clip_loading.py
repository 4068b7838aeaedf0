"""Clip loading: a 64-frame training clip (crop around the person, resize to 224) from a 1080p NTU
video vs from the prepared store, and the store's overhead over decoding its JPEG frames from memory.

Uses the real NTU sample (../shared/data, 1920x1080 H.264, 103 frames) when present, else a
generated 1080p H.264 NTU-format video. Everything is measured in one run, interleaved, and the
ratios are reported (section ``clip_loading`` of RESULTS.md).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from _results import write_section  # noqa: E402
from vpnet.config import DataConfig  # noqa: E402
from vpnet.data import build_dataset, ntu, prepared, synthetic  # noqa: E402
from vpnet.data.video import FrameCollector  # noqa: E402

CLIP = dict(clip_len=64, crop_size=224, t_p=20, seed=0)
SHARED = Path(os.environ.get("VPNET_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def source(tmp: Path) -> tuple[Path, Path, str]:
    """(video_dir, pose_dir, description) holding one 1080p NTU sample."""
    real = SHARED / "ntu" / "S001C001P001R001A001_rgb.avi"
    if real.is_file():
        vdir, pdir = tmp / "rgb", tmp / "skeletons"
        vdir.mkdir()
        pdir.mkdir()
        (vdir / real.name).symlink_to(real)
        skeleton = SHARED / "ntu" / "skeletons" / "S001C001P001R001A001.skeleton"
        (pdir / skeleton.name).symlink_to(skeleton)
        return vdir, pdir, "the real NTU sample S001C001P001R001A001 (H.264 1920x1080, 103 frames)"
    ds = synthetic.make_ntu(tmp / "gen", num_classes=1, per_class=1, frames=103, size=(1920, 1080))
    return ds.video_dir, ds.pose_dir, "a generated NTU-format video (H.264 1920x1080, ~103 frames; real sample absent)"


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        vdir, pdir, what = source(tmp)
        store = tmp / "store"
        recs = ntu.records(video_dir=vdir, pose_dir=pdir, protocol="cs", split="all")
        t = time.perf_counter()
        s = prepared.prepare(recs, store, read_poses=ntu.read_poses, options=prepared.PrepareOptions("ntu60"),
                             workers=0, progress=False)
        prepare_s = time.perf_counter() - t
        assert s.done == 1, s.failed
        prepared.write_records(store, "cs", "all", recs)
        raw = build_dataset(DataConfig(dataset="ntu60", protocol="cs", video_dir=str(vdir), pose_dir=str(pdir),
                                       **CLIP), "all", mode="train")
        prep = build_dataset(DataConfig(dataset="ntu60", protocol="cs", prepared_dir=str(store), **CLIP), "all",
                             mode="train")
        item_file = prepared.item_path(store, recs[0].name)
        num_frames = raw[0]["meta"]["num_frames"]

        # The same training windows (epochs 0..E-1) from both sources, interleaved.
        raw_t, prep_t = [], []
        epochs = 8
        for epoch in range(epochs):
            raw.set_epoch(epoch)
            prep.set_epoch(epoch)
            raw_t += timed(lambda: raw[0], 1)
            prep_t += timed(lambda: prep[0], 5)
            assert raw[0]["meta"]["frames"] == prep[0]["meta"]["frames"]

        # Store overhead: the window's frames read from the item file (open, index, slice, decode)
        # vs the same JPEG bytes decoded from memory.
        window = np.array(prep[0]["meta"]["frames"][0])
        from safetensors import safe_open

        with safe_open(str(item_file), framework="numpy") as f:
            blob, offsets = f.get_tensor("jpeg"), f.get_tensor("offsets")
        jpegs = [blob[offsets[i]:offsets[i + 1]].copy() for i in np.unique(window)]

        def from_store() -> np.ndarray:
            with prepared.PreparedItem(item_file) as item:
                return item.video.read(window)

        def from_memory() -> np.ndarray:  # the store's own decode loop, minus the file
            col = FrameCollector(window, None)
            for k, b in enumerate(jpegs):
                col.put(k, cv2.imdecode(b, cv2.IMREAD_COLOR_RGB))
            return col.result(())

        np.testing.assert_array_equal(from_store(), from_memory())
        store_t, mem_t = [], []
        for _ in range(40):
            store_t += timed(from_store, 1)
            mem_t += timed(from_memory, 1)
        stored_size = prepared.PreparedItem(item_file).video.size
        file_mb = item_file.stat().st_size / 1e6

    med = statistics.median
    speedup = med(raw_t) / med(prep_t)
    relative = med(mem_t) / med(store_t)
    lines = [
        f"Clip: 64 frames (stride 2 when the video has >= 127 frames, else 1), crop around the person from "
        f"the skeleton's colorX/colorY, resize to 224x224, RGB float in [-1, 1], plus 20 poses: one "
        f"`VideoPoseDataset.__getitem__` in training mode, the same {epochs} random windows from both sources. "
        f"Source: {what}. Prepared store: `vpnet prepare` defaults (region around the people with 20 % margin, "
        f"short side 256, JPEG quality 90): {stored_size[0]}x{stored_size[1]} frames, {file_mb:.2f} MB for "
        f"{num_frames} frames; preparing the video took {prepare_s:.2f} s.",
        "",
        "| measurement | median | ratio | target |",
        "|---|---|---|---|",
        f"| clip from the raw 1080p video (decode + crop + resize) | {med(raw_t) * 1e3:.0f} ms | | |",
        f"| clip from the prepared store | {med(prep_t) * 1e3:.1f} ms | **{speedup:.1f}x faster** | >= 10x |",
        f"| 64 frames from the store (open file, index, slice, JPEG decode) | {med(store_t) * 1e3:.1f} ms | | |",
        f"| the same 64 JPEGs decoded from memory | {med(mem_t) * 1e3:.1f} ms | "
        f"**store at {relative * 100:.0f} %** of it | >= 80 % |",
        "",
        "Reading of the second target (lead's): loading a clip's frames from the store costs at most 1/0.8 of "
        "decoding the same stored frames from memory, i.e. the container adds at most 25 %; measured: "
        f"{(1 / relative - 1) * 100:+.1f} %. Data loading only: no bf16 autocast, channels_last_3d or "
        "torch.compile involved; OpenCV with its default threads.",
    ]
    text = "\n".join(lines)
    print(text)
    write_section("clip_loading", "Clip loading: raw 1080p video vs prepared store (bench_clip_loading.py)", text)
    if speedup < 10 or relative < 0.8:
        print("TARGET MISSED", file=sys.stderr)


if __name__ == "__main__":
    main()

"""The Datasets: samples from raw files and from the prepared store, determinism, workers, bad items,
and the checks on real NTU files (crop boxes, frame alignment, main actor)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vpnet.config import DataConfig
from vpnet.data import build_dataset, clips, collate, dataset_info, ntu, prepared, synthetic
from vpnet.data.video import open_video

SMALL = dict(clip_len=8, crop_size=48, t_p=4, seed=0)
RIGHT_HAND = [10, 11, 23, 24]  # wrist, hand, hand tip, thumb (0-based NTU joints)


@pytest.fixture(scope="module")
def ntu_data(tmp_path_factory) -> synthetic.SyntheticDataset:
    return synthetic.make_ntu(tmp_path_factory.mktemp("ntu"), num_classes=4, per_class=4, frames=30, size=(192, 108),
                              seed=1, bystander=0.5, tracking_gaps=0.3)


@pytest.fixture(scope="module")
def ntu_store(ntu_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("store")
    recs = ntu.records(video_dir=ntu_data.video_dir, pose_dir=ntu_data.pose_dir, protocol="cs", split="all")
    for split in ("train", "test"):
        prepared.write_records(out, "cs", split, ntu.records(video_dir=ntu_data.video_dir,
                                                             pose_dir=ntu_data.pose_dir, protocol="cs", split=split))
    s = prepared.prepare(recs, out, read_poses=ntu.read_poses, options=prepared.PrepareOptions("ntu60", size=64),
                         workers=0, progress=False)
    assert s.failed == []
    return out


def _raw(ds: synthetic.SyntheticDataset, **kw) -> DataConfig:
    return DataConfig(dataset="ntu60", protocol="cs", video_dir=str(ds.video_dir), pose_dir=str(ds.pose_dir),
                      **{**SMALL, **kw})


# ---------------------------------------------------------------------------------------------
# Samples


def test_training_sample_format(ntu_data):
    ds = build_dataset(_raw(ntu_data), "train", mode="train")
    assert len(ds) == 8 and ds.problems == []  # cs: performers 1, 2, 4 of 1, 3, 2, 6 train
    s = ds[0]
    assert set(s) == {"video", "poses", "label", "name", "meta"}
    assert s["video"].shape == (3, 8, 48, 48) and s["video"].dtype == torch.float32
    assert -1.0 <= s["video"].min() < 0.0 < s["video"].max() <= 1.0
    assert s["poses"].shape == (3, 4, 25) and s["poses"].dtype == torch.float32
    assert s["name"] == ds.records[0].name and s["label"] == ds.records[0].label
    meta = s["meta"]
    assert meta["source"] == "raw" and meta["subject"] == ds.records[0].subject
    frames, pose_frames = np.array(meta["frames"]), np.array(meta["pose_frames"])
    assert frames.shape == (1, 8) and pose_frames.shape == (1, 4)
    assert set(pose_frames[0]) <= set(frames[0])  # poses come from the clip's own frames
    # Normalised on the spine mid of the first pose.
    np.testing.assert_allclose(s["poses"][:, 0, 1], 0.0, atol=1e-6)


def test_poses_are_the_actor_at_the_sampled_frames(ntu_data):
    ds = build_dataset(_raw(ntu_data), "train", mode="train")
    for i in range(len(ds)):
        s = ds[i]
        seq = ntu.read_poses(ds.records[i].poses)
        track = clips.actor_track(seq)
        f = np.array(s["meta"]["pose_frames"][0])
        src = clips.nearest_present(f, track >= 0)
        xyz = seq.xyz[src, track[src]]
        np.testing.assert_allclose(s["poses"].numpy(), (xyz - xyz[0, 1]).transpose(2, 0, 1), atol=1e-5)


def test_test_mode_gives_k_clips_at_the_eval_size(ntu_data):
    ds = build_dataset(_raw(ntu_data), "test", mode="test", num_clips=3, short_side=56)
    s = ds[0]
    assert s["video"].shape == (3, 3, 8, 56, 56) and s["poses"].shape == (3, 3, 4, 25)
    starts = [w[0] for w in s["meta"]["frames"]]
    assert starts == sorted(starts) and len(set(starts)) == 3
    # No randomness at test: the same sample every time and every epoch.
    ds.set_epoch(5)
    torch.testing.assert_close(ds[0]["video"], s["video"], rtol=0, atol=0)
    with pytest.raises(ValueError, match="num_clips"):
        build_dataset(_raw(ntu_data), "train", mode="train", num_clips=2)


def test_read_clips_with_several_boxes_matches_cropping_each_window(ntu_data):
    video = open_video(sorted(ntu_data.video_dir.iterdir())[0])
    from vpnet.data.video import read_clips

    windows = np.array([[0, 2, 4], [3, 5, 7]])
    boxes = np.array([[40.0, 10.0, 120.0, 90.0], [60.0, 0.0, 140.0, 80.0]])
    got = read_clips(video, windows, boxes, 32)
    frames = video.read(np.arange(8))
    for k in range(2):
        ref = clips.crop_resize(frames[windows[k]], boxes[k], 32)
        assert np.abs(got[k].astype(int) - ref.astype(int)).mean() < 2.0


def test_same_seed_epoch_index_same_sample_and_epochs_differ(ntu_data):
    a = build_dataset(_raw(ntu_data), "train", mode="train")
    b = build_dataset(_raw(ntu_data), "train", mode="train")
    torch.testing.assert_close(a[3]["video"], b[3]["video"], rtol=0, atol=0)
    first = a[3]["meta"]
    a.set_epoch(1)
    assert a.epoch == 1
    second = a[3]["meta"]
    assert (first["frames"], first["boxes"]) != (second["frames"], second["boxes"])
    c = build_dataset(_raw(ntu_data, seed=7), "train", mode="train")
    assert c[3]["meta"]["boxes"] != first["boxes"]


def test_dataloader_workers_give_the_same_samples(ntu_data):
    ds = build_dataset(_raw(ntu_data), "train", mode="train")

    def run(workers: int) -> list[dict]:
        loader = DataLoader(ds, batch_size=3, num_workers=workers, collate_fn=collate,
                            persistent_workers=workers > 0)
        out = []
        for epoch in range(2):
            ds.set_epoch(epoch)  # reaches persistent workers through shared memory
            out += list(loader)
        return out

    alone, workers = run(0), run(2)
    assert len(alone) == len(workers) == 6
    for x, y in zip(alone, workers):
        assert x["name"] == y["name"]
        torch.testing.assert_close(x["video"], y["video"], rtol=0, atol=0)
        torch.testing.assert_close(x["poses"], y["poses"], rtol=0, atol=0)
    assert alone[0]["meta"][0]["frames"] != alone[3]["meta"][0]["frames"]  # epoch 1 differs from epoch 0


def test_prepared_store_gives_the_same_samples(ntu_data, ntu_store):
    raw = build_dataset(_raw(ntu_data), "train", mode="train")
    store = build_dataset(DataConfig(dataset="ntu60", protocol="cs", prepared_dir=str(ntu_store), **SMALL),
                          "train", mode="train")
    assert [r.name for r in raw.records] == [r.name for r in store.records]
    for i in range(len(raw)):
        x, y = raw[i], store[i]
        assert y["meta"]["source"] == "prepared"
        assert x["meta"]["frames"] == y["meta"]["frames"] and x["meta"]["pose_frames"] == y["meta"]["pose_frames"]
        torch.testing.assert_close(x["poses"], y["poses"], rtol=0, atol=0)
        # Boxes (in raw pixels) agree to a couple of pixels; frames to JPEG precision.
        np.testing.assert_allclose(x["meta"]["boxes"], y["meta"]["boxes"], atol=3)
        assert (x["video"] - y["video"]).abs().mean() < 0.05


def test_prepared_store_missing_items_are_reported(ntu_data, ntu_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(ntu_store, store)
    gone = prepared.item_path(store, ntu.records(video_dir=ntu_data.video_dir, pose_dir=ntu_data.pose_dir,
                                                 protocol="cs", split="train")[0].name)
    gone.unlink()
    ds = build_dataset(DataConfig(dataset="ntu60", protocol="cs", prepared_dir=str(store), **SMALL), "train",
                       mode="train")
    assert len(ds) == 7
    assert ds.problems == [(gone.name.removesuffix(".safetensors"), f"not in the prepared store {store}")]


# ---------------------------------------------------------------------------------------------
# Bad items


def _damage(src: synthetic.SyntheticDataset, dst: Path) -> tuple[synthetic.SyntheticDataset, dict[str, str]]:
    """A copy of ``src`` with a truncated video, a garbled skeleton, a video shorter than its
    skeleton and one longer. Returns the copy and {name: what was done} for the train items."""
    shutil.copytree(src.root, dst)
    ds = replace(src, root=dst, video_dir=dst / src.video_dir.name, pose_dir=dst / src.pose_dir.name)
    recs = ntu.records(video_dir=ds.video_dir, pose_dir=ds.pose_dir, protocol="cs", split="train")
    r = recs[:4]
    data = Path(r[0].video).read_bytes()
    Path(r[0].video).write_bytes(data[:2000])
    skeleton = Path(r[1].poses)
    skeleton.write_bytes(skeleton.read_bytes().replace(b"\r\n25\r\n", b"\r\n24\r\n", 1))
    n = ntu.read_skeleton(r[2].poses).num_frames
    synthetic.write_video(r[2].video, open_video(r[2].video).read(np.arange(n - 6)))
    frames = open_video(r[3].video).read(np.arange(n))
    synthetic.write_video(r[3].video, np.concatenate([frames, frames[-5:]]))
    return ds, {r[0].name: "truncated", r[1].name: "garbled", r[2].name: "short video", r[3].name: "long video"}


def test_bad_items_are_skipped_and_reported_without_losing_others(ntu_data, tmp_path, caplog):
    ds_files, damage = _damage(ntu_data, tmp_path / "data")
    ds = build_dataset(_raw(ds_files), "train", mode="train")
    assert len(ds) == 8
    with caplog.at_level(logging.WARNING, logger="vpnet.data"):
        samples = [ds[i] for i in range(len(ds))]
    bad = {ds.records[i].name for i, s in enumerate(samples) if s is None}
    assert bad == {n for n, what in damage.items() if what in ("truncated", "garbled")}
    text = caplog.text
    truncated = next(n for n, w in damage.items() if w == "truncated")
    garbled = next(n for n, w in damage.items() if w == "garbled")
    assert f"skipping {truncated}" in text and f"{truncated}_rgb.avi" in text
    assert f"skipping {garbled}" in text and "declares 24 joints" in text
    # Lengths that differ: the common frames are used, and that is said once per item.
    for i, s in enumerate(samples):
        what = damage.get(ds.records[i].name)
        if what in ("short video", "long video"):
            n = ntu.read_skeleton(ds.records[i].poses).num_frames
            assert s["meta"]["num_frames"] == (n - 6 if what == "short video" else n)
            assert max(s["meta"]["frames"][0]) < s["meta"]["num_frames"]
            longer = "skeleton longer" if what == "short video" else "video longer"
            assert len(s["meta"]["notes"]) == 1 and longer in s["meta"]["notes"][0]
            assert f"{ds.records[i].name}: {s['meta']['notes'][0]}" in text
    assert text.count("using the first") == 2
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vpnet.data"):
        [ds[i] for i in range(len(ds))]
    assert "using the first" not in caplog.text and "skipping" in caplog.text  # notes said once, failures each time
    # Through a DataLoader with workers: every good item arrives, the bad ones are dropped.
    names = [n for b in DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate) if b for n in b["name"]]
    assert sorted(names) == sorted(r.name for r in ds.records if r.name not in bad)
    assert collate([None, None]) is None


def test_a_split_naming_missing_files_is_reported_at_construction(tmp_path):
    sh = synthetic.make_smarthome(tmp_path / "sh", num_classes=2, per_class=2, frames=12, size=(64, 48))
    victim = sorted(sh.video_dir.iterdir())[0]
    victim.unlink()
    cfg = DataConfig(dataset="smarthome", protocol="cs", video_dir=str(sh.video_dir), pose_dir=str(sh.pose_dir),
                     split_dir=str(sh.split_dir), **SMALL)
    problems = [p for split in ("train", "validation", "test")
                for p in build_dataset(cfg, split, mode="test").problems]
    assert [name for name, _ in problems] == [victim.stem]
    assert "no " + victim.name in problems[0][1]


# ---------------------------------------------------------------------------------------------
# Main actor


def test_main_actor_is_the_performer_not_the_bystander(ntu_data):
    ds = build_dataset(_raw(ntu_data), "all", mode="train", load_video=False)
    checked = 0
    for i, rec in enumerate(ds.records):
        seq = ntu.read_poses(rec.poses)
        if seq.num_bodies < 2 or rec.label == 3:  # class 4 is an interaction of two performers
            continue
        s = ds[i]
        assert "video" not in s
        # The generator writes the performer first, then the idle bystander; when the performer's
        # track was lost, the id he is found again under joins him.
        found_again = [b for b in seq.body_ids[1:] if int(b) == int(seq.body_ids[0]) + 1]
        assert s["meta"]["actor"] == [seq.body_ids[0], *found_again]
        checked += 1
    assert checked >= 4


def test_two_body_real_file_main_actor(shared_data):
    cfg = DataConfig(dataset="ntu60", protocol="cs", pose_dir=str(shared_data / "ntu" / "skeletons"), **SMALL)
    ds = build_dataset(cfg, "all", mode="test", load_video=False)
    i = [r.name for r in ds.records].index("S001C003P008R002A058")
    seq = ntu.read_poses(ds.records[i].poses)
    assert seq.num_bodies == 2 and seq.present.all()
    # The definition, computed plainly: variance over time of every joint coordinate, summed.
    motion = [sum(float(np.var([seq.xyz[t, b, j, c] for t in range(seq.num_frames)]))
                  for j in range(25) for c in range(3)) for b in range(2)]
    main = int(np.argmax(motion))
    assert ds[i]["meta"]["actor"] == [seq.body_ids[main]] == ["72057594037944738"]
    # Both people shake hands, but the chosen one moves his right hand the most.
    arm_var = [seq.xyz[:, b, RIGHT_HAND].var(axis=0).sum() for b in range(2)]
    assert int(np.argmax(arm_var)) == main


# ---------------------------------------------------------------------------------------------
# Crop boxes and frame alignment on the real NTU sample (and on generated twins)


def _real_cfg(shared_data: Path, **kw) -> DataConfig:
    d = shared_data / "ntu"
    return DataConfig(dataset="ntu60", protocol="cs", video_dir=str(d), pose_dir=str(d / "skeletons"),
                      **{**dict(clip_len=64, crop_size=112, t_p=20, seed=0), **kw})


def _check_boxes_contain_people(ds, epochs=range(3)) -> None:
    for i in range(len(ds)):
        seq = ntu.read_poses(ds.records[i].poses)
        video = open_video(ds.records[i].video)
        w, h = video.size
        uv = clips.video_uv(seq, video.size)
        for epoch in epochs:
            ds.set_epoch(epoch)
            s = ds[i]
            for frames, (x0, y0, x1, y1) in zip(s["meta"]["frames"], s["meta"]["boxes"]):
                assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
                pts = uv[frames][seq.present[frames]].reshape(-1, 2)
                assert (pts[:, 0] >= x0).all() and (pts[:, 0] <= x1).all()
                assert (pts[:, 1] >= y0).all() and (pts[:, 1] <= y1).all()
                # Square unless the frame cuts it; the people fill a good part of it.
                assert x1 - x0 == pytest.approx(y1 - y0, abs=2) or y1 - y0 == h or x1 - x0 == w
                assert np.ptp(pts[:, 1]) > 0.4 * (y1 - y0)


def test_crop_boxes_contain_the_people_generated(ntu_data):
    _check_boxes_contain_people(build_dataset(_raw(ntu_data), "train", mode="train"))
    _check_boxes_contain_people(build_dataset(_raw(ntu_data), "test", mode="test", num_clips=2), epochs=[0])


def test_crop_boxes_contain_the_person_real_video(shared_data):
    ds = build_dataset(_real_cfg(shared_data), "train", mode="train")
    assert [r.name for r in ds.records] == ["S001C001P001R001A001"]
    _check_boxes_contain_people(ds, epochs=[0, 1])
    s = ds[0]
    assert s["video"].shape == (3, 64, 112, 112)
    # The person fills the crop: the middle is darker (black top, trousers) than the white wall at the edges.
    mean = s["video"].mean(dim=(0, 1))
    assert float(mean[20:92, 40:72].mean()) < float(mean[:, :16].mean()) - 0.2


def _lag_profile(video, seq, joints: list[int], lags: range, scale: float) -> np.ndarray:
    """Correlation, for each lag L, between the image change around ``joints`` in video frame i and
    the 2D speed of those joints in skeleton frame i + L. Peaks at L = 0 when frames are aligned."""
    n = min(video.num_frames, seq.num_frames)
    w, h = video.size
    size = (round(w * scale), round(h * scale))
    gray = video.read(np.arange(n), transform=lambda f: cv2.cvtColor(
        cv2.resize(f, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)).astype(np.float32)
    uv = clips.video_uv(seq, video.size)[:n, 0][:, joints] * scale
    r = max(2, round(0.02 * max(size)))
    change = np.abs(gray[2:] - gray[:-2])  # around frame i, for i = 1 .. n-2
    speed = np.linalg.norm(uv[2:] - uv[:-2], axis=-1).mean(axis=-1)
    energy = np.array([np.mean([change[i - 1, max(0, int(y) - r):int(y) + r, max(0, int(x) - r):int(x) + r].mean()
                                for x, y in uv[i]]) for i in range(1, n - 1)])
    out = []
    for lag in lags:
        i = np.arange(1 + max(0, -lag), n - 1 - max(0, lag))
        out.append(np.corrcoef(energy[i - 1], speed[i + lag - 1])[0, 1])
    return np.array(out)


def test_skeleton_frame_i_is_video_frame_i_real(shared_data):
    d = shared_data / "ntu"
    seq = ntu.read_poses(d / "skeletons" / "S001C001P001R001A001.skeleton")
    video = open_video(d / "S001C001P001R001A001_rgb.avi")
    assert video.num_frames == seq.num_frames == 103
    lags = range(-4, 5)
    profile = _lag_profile(video, seq, RIGHT_HAND, lags, scale=0.25)  # she drinks with her right hand
    assert int(np.argmax(profile)) == 4  # lag 0
    assert profile[4] > 0.6 and profile[4] - max(profile[0], profile[8]) > 0.1


def test_skeleton_frame_i_is_video_frame_i_generated(tmp_path):
    ds = synthetic.make_ntu(tmp_path, num_classes=2, per_class=1, frames=60, size=(320, 180), bystander=0,
                            tracking_gaps=0)
    for name, hand in zip(ds.names, (RIGHT_HAND, [6, 7, 21, 22])):  # waving right, then left
        seq = ntu.read_poses(ds.pose_dir / f"{name}.skeleton")
        profile = _lag_profile(open_video(ds.video_dir / f"{name}_rgb.avi"), seq, hand, range(-4, 5), scale=1.0)
        assert int(np.argmax(profile)) == 4 and profile[4] > 0.9


# ---------------------------------------------------------------------------------------------
# Other datasets and dataset_info


def test_dataset_info():
    ntu60 = dataset_info(DataConfig(dataset="ntu60"))
    assert (ntu60.num_classes, ntu60.layout, ntu60.t_p, ntu60.primary_metric) == (60, "ntu25", 20, "top1")
    assert ntu60.splits == ("train", "test") and ntu60.class_names[0] == ntu.class_names(60)[0]
    assert dataset_info(DataConfig(dataset="ntu120", protocol="csub")).num_classes == 120
    sh = dataset_info(DataConfig(dataset="smarthome", protocol="cs"))
    assert (sh.num_classes, sh.layout, sh.t_p, sh.primary_metric) == (31, "lcrnet13", 30, "mean_class")
    assert sh.splits == ("train", "validation", "test")
    assert dataset_info(DataConfig(dataset="smarthome", protocol="cv1")).num_classes == 19
    nucla = dataset_info(DataConfig(dataset="nucla", protocol="v3"))
    assert (nucla.num_classes, nucla.layout, nucla.t_p) == (10, "ucla20", 5)
    with pytest.raises(ValueError, match="unknown dataset 'ntu' .*known: ntu60, ntu120"):
        dataset_info(DataConfig(dataset="ntu"))


@pytest.mark.parametrize("name", ["smarthome", "nucla", "custom"])
def test_other_datasets_give_samples(name, tmp_path):
    make = getattr(synthetic, f"make_{name}")
    ds = make(tmp_path, num_classes=2, per_class=4, frames=16, size=(96, 64))
    protocol = {"smarthome": "cs", "nucla": "v3", "custom": "split"}[name]
    cfg = DataConfig(dataset=name, protocol=protocol, video_dir=str(ds.video_dir), pose_dir=str(ds.pose_dir),
                     split_dir=None if ds.split_dir is None else str(ds.split_dir),
                     manifest=None if ds.manifest is None else str(ds.manifest), **SMALL)
    info = dataset_info(cfg)
    data = build_dataset(cfg, "train", mode="train")
    assert len(data) > 0 and data.problems == []
    layout_joints = {"lcrnet13": 13, "ucla20": 20, "ntu25": 25}[info.layout]
    for i in range(len(data)):
        s = data[i]
        assert s is not None, data.records[i].name
        assert s["video"].shape == (3, 8, 48, 48) and s["poses"].shape == (3, 4, layout_joints)
        assert 0 <= s["label"] < info.num_classes
        x0, y0, x1, y1 = s["meta"]["boxes"][0]
        assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 64 and (x1 - x0) * (y1 - y0) < 96 * 64

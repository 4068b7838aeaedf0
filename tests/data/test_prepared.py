"""The prepared store: item files, the prepare pass (shards, resume, bad items), records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vpnet.data import clips, ntu, prepared, synthetic
from vpnet.data.types import DataError, SampleRecord
from vpnet.data.video import open_video

OPTS = prepared.PrepareOptions(dataset="ntu60", size=64, margin=0.2, quality=90)


@pytest.fixture(scope="module")
def ntu_data(tmp_path_factory) -> synthetic.SyntheticDataset:
    root = tmp_path_factory.mktemp("ntu")
    return synthetic.make_ntu(root, num_classes=2, per_class=4, frames=24, size=(192, 108), seed=3,
                              bystander=0.5, tracking_gaps=0.5)


def _records(ds: synthetic.SyntheticDataset) -> list[SampleRecord]:
    return list(ntu.records(video_dir=ds.video_dir, pose_dir=ds.pose_dir, protocol="cs", split="all"))


def _copy_dataset(ds: synthetic.SyntheticDataset, dst: Path) -> synthetic.SyntheticDataset:
    shutil.copytree(ds.root, dst)
    return synthetic.SyntheticDataset(root=dst, video_dir=dst / ds.video_dir.name, pose_dir=dst / ds.pose_dir.name,
                                      names=ds.names, labels=ds.labels, class_names=ds.class_names)


# ---------------------------------------------------------------------------------------------
# One item


def test_item_round_trip_keeps_poses_and_maps_2d_joints(ntu_data, tmp_path):
    rec = _records(ntu_data)[0]
    seq = ntu.read_poses(rec.poses)
    video = open_video(rec.video)
    path = tmp_path / "item.safetensors"
    notes = prepared.write_item(path, rec, video, seq, size=64, margin=0.2, quality=95)
    assert notes == []
    with prepared.PreparedItem(path) as item:
        assert item.record == rec
        assert item.video.num_frames == video.num_frames == seq.num_frames
        assert item.video.fps == pytest.approx(video.fps)
        np.testing.assert_array_equal(item.poses.xyz, seq.xyz)
        np.testing.assert_array_equal(item.poses.present, seq.present)
        assert item.poses.body_ids == seq.body_ids and item.poses.layout == "ntu25"
        # Region: everybody's joints over the whole video with a 20 % margin (of the longer side of
        # their box) per side, square, in the frame; a side where the frame stops it touches the frame.
        raw_uv = clips.video_uv(seq, video.size)
        pts = raw_uv[seq.present].reshape(-1, 2)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        side, m = 1.4 * (hi - lo).max(), 0.2 * (hi - lo).max()
        x0, y0, x1, y1 = item.region
        frame = video.size
        assert x0 == int(x0) and 0 <= x0 < x1 <= frame[0] and 0 <= y0 < y1 <= frame[1]
        for a, (r0, r1) in enumerate([(x0, x1), (y0, y1)]):
            assert r1 - r0 == pytest.approx(min(side, frame[a]), abs=2)
            assert r0 == 0 or r0 <= lo[a] - m + 1e-6
            assert r1 == frame[a] or r1 >= hi[a] + m - 1e-6
        w, h = item.video.size
        assert min(w, h) == 64 and item.poses.image_size == (w, h)
        # 2D joints in stored pixels map back onto the video's pixels.
        back = prepared.source_pixels(item.poses.uv, item.region, (w, h))
        np.testing.assert_allclose(back[seq.present], raw_uv[seq.present], atol=1e-3)
        # Stored frames: the region of the video frames, shrunk (JPEG q95: within a few levels).
        idx = np.array([5, 0, 5, 17])
        got = item.video.read(idx)
        assert got.shape == (4, h, w, 3) and got.dtype == np.uint8
        ref = clips.crop_resize(video.read(idx), item.region, (h, w))
        assert np.abs(got.astype(int) - ref.astype(int)).mean() < 3.0
        np.testing.assert_array_equal(got[0], got[2])
        with pytest.raises(DataError, match="out of range"):
            item.video.read([video.num_frames])
        with pytest.raises(DataError, match="1-D"):
            item.video.read(idx.reshape(2, 2))
        with pytest.raises(DataError, match="integers"):
            item.video.read([0.5])


def test_stored_and_source_pixels_are_inverse_maps():
    region, size = np.array([100.0, 50.0, 300.0, 250.0]), (64, 32)  # 200x200 stored as 64x32
    src = np.array([[100.0, 50.0], [300.0, 250.0], [200.0, 100.0]])
    stored = prepared.stored_pixels(src, region, size)
    np.testing.assert_allclose(stored, [[0, 0], [64, 32], [32, 8]])
    np.testing.assert_allclose(prepared.source_pixels(stored, region, size), src)


def test_item_with_a_video_shorter_than_its_skeleton_keeps_the_common_frames(ntu_data, tmp_path):
    rec = _records(ntu_data)[1]
    seq = ntu.read_poses(rec.poses)
    short = tmp_path / "short_rgb.avi"
    synthetic.write_video(short, open_video(rec.video).read(np.arange(seq.num_frames - 5)))
    notes = prepared.write_item(tmp_path / "i.safetensors", rec, open_video(short), seq, size=64)
    assert len(notes) == 1 and f"skeleton {seq.num_frames}" in notes[0] and "skeleton longer by 5" in notes[0]
    with prepared.PreparedItem(tmp_path / "i.safetensors") as item:
        assert item.video.num_frames == item.poses.num_frames == seq.num_frames - 5
        assert item.notes == notes


def test_not_an_item_and_a_truncated_item_are_clear_errors(ntu_data, tmp_path):
    with pytest.raises(DataError, match="not found"):
        prepared.PreparedItem(tmp_path / "missing.safetensors")
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(DataError, match="not a vpnet prepared item"):
        prepared.PreparedItem(tmp_path / "other.safetensors")
    rec = _records(ntu_data)[0]
    good = tmp_path / "good.safetensors"
    prepared.write_item(good, rec, open_video(rec.video), ntu.read_poses(rec.poses), size=64)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match="cut.safetensors: not a readable prepared item"):
        prepared.PreparedItem(cut)


def test_item_names_with_odd_characters_stay_in_the_items_folder(tmp_path):
    path = prepared.item_path(tmp_path, "../a b/c")
    assert path.parent == tmp_path / "items" and path.name == "..%2Fa%20b%2Fc.safetensors"


# ---------------------------------------------------------------------------------------------
# The pass


def test_shards_partition_the_items_and_a_rerun_resumes(ntu_data, tmp_path):
    recs = _records(ntu_data)
    seen = []
    for k in range(3):
        s = prepared.prepare(recs, tmp_path, read_poses=ntu.read_poses, options=OPTS, shard=(k, 3), workers=0,
                             progress=False)
        assert s.failed == [] and s.done == s.total
        assert s.report.name == f"report.shard-{k}-of-3.jsonl"
        seen += [r.name for r in recs if prepared.shard_of(r.name, 3) == k]
    assert sorted(seen) == sorted(r.name for r in recs)  # every item in exactly one shard
    items = sorted(p.name for p in (tmp_path / "items").iterdir())
    assert items == sorted(f"{r.name}.safetensors" for r in recs)
    # Resume: an interrupted run leaves a temp file, which does not count as done.
    victim = prepared.item_path(tmp_path, recs[2].name)
    victim.rename(victim.with_name(f".{victim.name}.tmp-999"))
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "items").glob("*.safetensors")}
    s = prepared.prepare(recs, tmp_path, read_poses=ntu.read_poses, options=OPTS, workers=0, progress=False)
    assert (s.total, s.done, s.skipped) == (len(recs), 1, len(recs) - 1)
    assert victim.is_file()
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())  # nothing else rewritten


def test_bad_items_are_reported_and_lose_nothing_else(ntu_data, tmp_path):
    ds = _copy_dataset(ntu_data, tmp_path / "data")
    recs = _records(ds)
    bad_video, garbled, no_body, short_video = recs[0], recs[1], recs[2], recs[3]
    data = Path(bad_video.video).read_bytes()
    Path(bad_video.video).write_bytes(data[: len(data) // 3])
    lines = Path(garbled.poses).read_bytes().split(b"\r\n")
    fields = lines[10].split(b" ")
    lines[10] = b" ".join([fields[0], b"abc", *fields[2:]])
    Path(garbled.poses).write_bytes(b"\r\n".join(lines))
    Path(no_body.poses).write_bytes(b"3\r\n0\r\n0\r\n0\r\n")
    n = ntu.read_skeleton(short_video.poses).num_frames
    synthetic.write_video(short_video.video, open_video(short_video.video).read(np.arange(n - 4)))

    out = tmp_path / "store"
    s = prepared.prepare(recs, out, read_poses=ntu.read_poses, options=OPTS, workers=2, progress=False,
                         left_out=[("S009C001P001R001A001", "no video S009C001P001R001A001_rgb.avi under x")])
    failed = {e["name"]: e["reason"] for e in s.failed}
    assert set(failed) == {bad_video.name, garbled.name, no_body.name}
    assert bad_video.video in failed[bad_video.name]
    assert "line 11" in failed[garbled.name] and "non-numeric" in failed[garbled.name]
    assert "no body in any of the 3 frames" in failed[no_body.name]
    assert s.done == len(recs) - 3
    assert [e["name"] for e in s.notes] == [short_video.name] and "video longer" not in s.notes[0]["note"]
    report = [json.loads(line) for line in s.report.read_text().splitlines()]
    assert {(e["name"], e["status"]) for e in report} == (
        {(k, "failed") for k in failed} | {(short_video.name, "note"), ("S009C001P001R001A001", "left out")})
    for rec in recs:
        assert prepared.item_path(out, rec.name).is_file() == (rec.name not in failed)
    # Failures are retried by the next run and stay in its report; done items are not redone.
    again = prepared.prepare(recs, out, read_poses=ntu.read_poses, options=OPTS, workers=0, progress=False)
    assert again.done == 0 and again.skipped == len(recs) - 3 and len(again.failed) == 3


def test_a_store_keeps_one_set_of_options(ntu_data, tmp_path):
    recs = _records(ntu_data)[:1]
    prepared.prepare(recs, tmp_path, read_poses=ntu.read_poses, options=OPTS, workers=0, progress=False)
    other = prepared.PrepareOptions(dataset="ntu60", size=128)
    with pytest.raises(DataError, match="size: store 64 vs now 128"):
        prepared.prepare(recs, tmp_path, read_poses=ntu.read_poses, options=other, workers=0, progress=False)
    with pytest.raises(ValueError, match="0 <= K < N"):
        prepared.prepare(recs, tmp_path, read_poses=ntu.read_poses, options=OPTS, shard=(2, 2), progress=False)


def test_a_shard_is_prepared_by_one_process_at_a_time(ntu_data, tmp_path):
    """A second process on the same shard of a store is refused naming the store, the shard and the live
    owner; another shard of the same store goes ahead (sharded preparation runs in parallel)."""
    from vpnet._io import RunLock
    from vpnet.errors import OutputError

    recs = _records(ntu_data)
    with RunLock(tmp_path, "prepare-0-of-2.lock"):  # an open file of its own: held as another process would
        with pytest.raises(OutputError, match=rf"store folder \(shard 0/2\) {tmp_path} is in use by another "
                                              r"vpnet process \(pid \d+"):
            prepared.prepare(recs, tmp_path, read_poses=ntu.read_poses, options=OPTS, shard=(0, 2), workers=0,
                             progress=False)
        s = prepared.prepare(recs, tmp_path, read_poses=ntu.read_poses, options=OPTS, shard=(1, 2), workers=0,
                             progress=False)
        assert s.done == s.total > 0
    shard0 = [r.name for r in recs if prepared.shard_of(r.name, 2) == 0]
    assert shard0 and not any(prepared.item_path(tmp_path, name).exists() for name in shard0)


def test_records_round_trip(ntu_data, tmp_path):
    recs = _records(ntu_data)
    prepared.write_records(tmp_path, "cs", "train", recs)
    assert prepared.read_records(tmp_path, "cs", "train") == recs
    with pytest.raises(DataError, match="no records for protocol 'cv' split 'test' .*has: cs-train"):
        prepared.read_records(tmp_path, "cv", "test")


# ---------------------------------------------------------------------------------------------
# The real sample


def test_real_ntu_video_prepared(shared_data, tmp_path):
    d = shared_data / "ntu"
    rec = SampleRecord(name="S001C001P001R001A001", label=0, video=str(d / "S001C001P001R001A001_rgb.avi"),
                       poses=str(d / "skeletons" / "S001C001P001R001A001.skeleton"))
    seq = ntu.read_poses(rec.poses)
    video = open_video(rec.video)
    path = tmp_path / "real.safetensors"
    assert prepared.write_item(path, rec, video, seq) == []
    with prepared.PreparedItem(path) as item:
        assert item.video.num_frames == 103
        x0, y0, x1, y1 = item.region
        # The person (all joints of all frames) is inside the region, which is inside the frame.
        uv = seq.uv[seq.present]
        assert 0 <= x0 and 0 <= y0 and x1 <= 1920 and y1 <= 1080
        assert (uv[..., 0].min() > x0 and uv[..., 0].max() < x1 and uv[..., 1].min() > y0 and uv[..., 1].max() < y1)
        assert min(item.video.size) == 256
        got = item.video.read([0, 50, 102])
        ref = clips.crop_resize(video.read([0, 50, 102]), item.region, item.video.size[::-1])
        assert np.abs(got.astype(int) - ref.astype(int)).mean() < 2.0
    # A whole 1080p video in well under a megabyte.
    assert path.stat().st_size < 1_200_000

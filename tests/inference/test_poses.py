"""Pose extraction (MediaPipe 0.10.21) and the MediaPipe -> NTU-25 mapping."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from vpnet.data.types import DataError
from vpnet.poses import MediaPipePoses, content_key, fill_gaps, load_or_extract, load_poses, save_poses
from vpnet.skeletons import MEDIAPIPE33, NTU25, mediapipe_to_ntu25

from .conftest import write_video

SAMPLE = "S001C001P001R001A001"
PAIRS = ["shoulder", "elbow", "hip", "knee", "ankle"]


def _swap_lr(ntu: np.ndarray) -> np.ndarray:
    """NTU joints with left and right exchanged (what an unswapped mapping would give)."""
    order = [NTU25.index(j[:-1] + {"l": "r", "r": "l"}[j[-1]]) if j[-2:] in ("_l", "_r") else i
             for i, j in enumerate(NTU25.joints)]
    return ntu[..., order, :]


def test_mapping_matches_kinect_skeleton(shared_data):
    """MediaPipe's image landmarks of the NTU sample, mapped onto NTU-25, land on the Kinect's own 2D
    joints: joint by joint in pixels of the 1920x1080 frame, and much closer than without the swap."""
    from vpnet.data import ntu
    from vpnet.data.custom import read_poses

    kinect = ntu.read_poses(shared_data / "ntu" / "skeletons" / f"{SAMPLE}.skeleton")
    mp = read_poses(shared_data / "pose" / f"{SAMPLE}_mediapipe0.10.21_pose_full.npz", image_size=(1920, 1080))
    assert kinect.image_size == (1920, 1080) and mp.num_frames == kinect.num_frames == 103
    dist = np.linalg.norm(kinect.uv[:, 0] - mp.uv[:, 0], axis=-1)  # (T, 25) pixels
    unswapped = np.linalg.norm(kinect.uv[:, 0] - _swap_lr(mp.uv[:, 0]), axis=-1)
    for part in PAIRS:
        for side in "lr":
            j = NTU25.index(f"{part}_{side}")
            # measured: 2-22 px medians; the swapped-out side is 2x (hips) to 10x further
            assert np.median(dist[:, j]) < 25, (part, side, np.median(dist[:, j]))
            assert np.median(unswapped[:, j]) > np.median(dist[:, j]), (part, side)
            if part in ("shoulder", "elbow", "hip"):  # the feet stand close together
                assert np.median(unswapped[:, j]) > 1.5 * np.median(dist[:, j]), (part, side)
    for j in ("head", "spine_shoulder", "spine_base", "neck", "spine_mid"):
        assert np.median(dist[:, NTU25.index(j)]) < 20, j


def test_mapping_swaps_left_and_right():
    """Twin of the Kinect test on made-up landmarks: each NTU joint takes MediaPipe's other side."""
    lm = np.zeros((33, 3))
    lm[:, 0] = np.arange(33)
    ntu = mediapipe_to_ntu25(lm)
    for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
        assert ntu[NTU25.index(f"{part}_l"), 0] == MEDIAPIPE33.index(f"{part}_r")
        assert ntu[NTU25.index(f"{part}_r"), 0] == MEDIAPIPE33.index(f"{part}_l")
    assert ntu[NTU25.index("spine_base"), 0] == (MEDIAPIPE33.index("hip_l") + MEDIAPIPE33.index("hip_r")) / 2


def test_extractor_reproduces_reference_landmarks(shared_data, has_mediapipe):
    """MediaPipe Pose 0.10.21, model_complexity=1, on the real 1080p NTU video gives the reference
    landmarks of the fixture (made with the mediapipe wheel)."""
    if not has_mediapipe:
        pytest.skip("the pose extra is not installed (vpnet pose install)")
    from vpnet.poses import extract_poses

    ref = np.load(shared_data / "pose" / f"{SAMPLE}_mediapipe0.10.21_pose_full.npz")
    got = extract_poses(shared_data / "ntu" / f"{SAMPLE}_rgb.avi")
    assert got.size == (1920, 1080) and got.fps == 30 and got.num_frames == 103
    np.testing.assert_allclose(got.world, ref["world"], atol=1e-5)
    np.testing.assert_allclose(got.image, ref["image"], atol=1e-5)


def test_video_without_person_is_reported_and_not_cached(tmp_path, has_mediapipe):
    """Generated twin of the extractor test: MediaPipe on a plain video finds nobody -> a clear error
    naming the file, and nothing is left in the cache folder."""
    if not has_mediapipe:
        pytest.skip("the pose extra is not installed (vpnet pose install)")
    video = tmp_path / "empty.mp4"
    write_video(video, np.full((6, 96, 128, 3), 90, np.uint8))
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"empty\.mp4: no person found in any of the 6 frames"):
        load_or_extract(video, cache_dir=cache)
    assert not cache.exists() or not any(cache.iterdir())


def _poses(found: list[bool]) -> MediaPipePoses:
    t = len(found)
    world = np.tile(np.arange(t, dtype=np.float32)[:, None, None], (1, 33, 4))
    world[~np.array(found)] = np.nan
    return MediaPipePoses(world, world * 2, fps=30.0, size=(64, 48), source="v.mp4")


def test_fill_gaps_interpolates_short_and_reports_long():
    found = [False, True, True, False, False, True] + [False] * 5 + [True, False]
    out = fill_gaps(_poses(found), max_gap=3)
    # frames 3-4 lie between 2 and 5 (values 2 and 5): linear -> 3, 4; frame 0 holds frame 1; 12 holds 11
    assert out.world[3, 0, 0] == 3 and out.world[4, 0, 0] == 4 and out.image[4, 5, 2] == 8
    assert out.world[0, 0, 0] == 1 and out.world[12, 0, 0] == 11
    assert out.filled == [(0, 1), (3, 5), (12, 13)] and out.missing == [(6, 11)]
    assert np.isnan(out.world[6:11]).all()
    seq = out.to_sequence()
    assert seq.present[:, 0].tolist() == [True] * 6 + [False] * 5 + [True, True]
    with pytest.raises(DataError, match="no person found in any of the 3 frames"):
        fill_gaps(_poses([False] * 3))


def test_cache_is_tied_to_the_video_content(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"0" * 10)
    poses = _poses([True] * 4)
    save_poses(tmp_path / "p.npz", poses, video=video)
    back = load_poses(tmp_path / "p.npz", key=content_key(video))
    np.testing.assert_array_equal(back.world, poses.world)
    assert back.size == (64, 48) and back.fps == 30
    moved = tmp_path / "moved.mp4"
    video.rename(moved)  # the same bytes elsewhere: the same key
    assert load_poses(tmp_path / "p.npz", key=content_key(moved)) is not None
    moved.write_bytes(b"1" * 10)  # other bytes under the same name, size and (possibly) time: a miss
    assert load_poses(tmp_path / "p.npz", key=content_key(moved)) is None


def test_frame_folder_key_follows_its_frames(tmp_path):
    """A rewritten frame changes the key even when the folder's path, size and time do not."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i:04d}.jpg").write_bytes(bytes([i]) * 20)
    (folder / "notes.txt").write_text("not a frame")
    key = content_key(folder)
    st = os.stat(folder)
    (folder / "0001.jpg").write_bytes(b"\xff" * 20)
    os.utime(folder, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert content_key(folder) != key
    (folder / "0001.jpg").write_bytes(bytes([1]) * 20)
    (folder / "notes.txt").write_text("edited")  # not a frame: the same key
    assert content_key(folder) == key


@pytest.mark.parametrize("damage", ["truncated", "garbage", "meta_list", "meta_fps_text", "foreign", "shape"])
def test_damaged_cache_entry_is_rebuilt_with_a_note(damage, tmp_path, monkeypatch):
    """Every kind of damaged or foreign entry is a miss: extracted again, replaced, noted; never a traceback,
    and the next call hits the rebuilt entry."""
    import io
    import json

    from vpnet import poses as mp

    video = tmp_path / "v.mp4"
    video.write_bytes(b"video bytes")
    cache = tmp_path / "cache"
    calls = []

    def fake_extract(v, **kw):
        calls.append(v)
        return _poses([True] * 5)

    monkeypatch.setattr(mp, "extract_poses", fake_extract)
    mp.load_or_extract(video, cache_dir=cache)
    (entry,) = cache.iterdir()
    good = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        entry.write_bytes(b"\x00garbage" * 10)
    else:
        z = dict(np.load(entry))
        meta = json.loads(str(z["meta"]))
        if damage == "meta_list":
            z["meta"] = np.array(json.dumps([1, 2]))
        elif damage == "meta_fps_text":
            z["meta"] = np.array(json.dumps({**meta, "fps": "fast"}))
        elif damage == "foreign":
            z["meta"] = np.array(json.dumps({**meta, "key": "0" * 64}))
        else:
            z["world"] = z["world"][:, :10]
        buf = io.BytesIO()
        np.savez(buf, **z)
        entry.write_bytes(buf.getvalue())
    notes: list[str] = []
    out = mp.load_or_extract(video, cache_dir=cache, notes=notes)
    assert out.num_frames == 5 and len(calls) == 2
    assert len(notes) == 1 and str(entry) in notes[0] and "extracted again" in notes[0]
    assert entry.read_bytes() == good  # rebuilt
    mp.load_or_extract(video, cache_dir=cache)
    assert len(calls) == 2  # and used again


def test_missing_pose_extra_names_the_fix(monkeypatch):
    from vpnet.extras import MissingExtraError
    from vpnet.poses import PoseExtractor

    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(MissingExtraError, match="vpnet pose install"):
        PoseExtractor()

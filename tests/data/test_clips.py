"""Sample building on arrays: windows, pose alignment, main actor, crop boxes, pixels."""

from __future__ import annotations

import numpy as np
import pytest

from vpnet.data import clips
from vpnet.data.types import DataError, PoseSequence
from vpnet.skeletons import NTU25


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------------------
# Windows


def test_train_window_long_video_uses_stride_two_and_random_start():
    starts = set()
    for seed in range(200):
        w = clips.train_window(300, 64, stride=2, rng=_rng(seed))
        assert w.shape == (64,) and w.dtype == np.int64
        assert np.all(np.diff(w) == 2)
        assert 0 <= w[0] and w[-1] <= 299
        starts.add(int(w[0]))
    # Starts range over [0, 300 - 127] (174 values), not a handful.
    assert min(starts) <= 5 and max(starts) >= 168 and len(starts) > 100
    np.testing.assert_array_equal(clips.train_window(300, 64, stride=2, rng=_rng(7)),
                                  clips.train_window(300, 64, stride=2, rng=_rng(7)))


def test_train_window_falls_back_to_stride_one_then_loops():
    # 103 frames (the real NTU sample): 64 frames at stride 2 need 127 -> stride 1.
    w = clips.train_window(103, 64, stride=2, rng=_rng(1))
    assert np.all(np.diff(w) == 1) and w[-1] <= 102
    # Exactly long enough for stride 2.
    w = clips.train_window(127, 64, stride=2, rng=_rng(1))
    np.testing.assert_array_equal(w, np.arange(0, 127, 2))
    # Shorter than the clip: loop, every frame used, consecutive modulo the length.
    w = clips.train_window(10, 64, stride=2, rng=_rng(3))
    assert set(w.tolist()) == set(range(10))
    np.testing.assert_array_equal(np.diff(w) % 10, np.ones(63))


def test_eval_windows_are_evenly_spread():
    one = clips.eval_windows(300, 64, stride=2, num_clips=1)
    assert one.shape == (1, 64)
    assert one[0, 0] == 87  # centre: (300 - 127) / 2 = 86.5 -> 87
    many = clips.eval_windows(300, 64, stride=2, num_clips=10)
    starts = many[:, 0]
    assert many.shape == (10, 64)
    np.testing.assert_array_equal(np.diff(many, axis=1), np.full((10, 63), 2))
    # Starts at (2k+1)/20 of the free range 173 (8.65, 25.95, ... 164.35, rounded): symmetric about the
    # centre, equal gaps (+-1).
    np.testing.assert_array_equal(starts, [9, 26, 43, 61, 78, 95, 112, 130, 147, 164])
    assert starts[0] + starts[-1] in (173, 174)
    assert many.max() <= 299
    loop = clips.eval_windows(5, 8, stride=2, num_clips=2)
    np.testing.assert_array_equal(loop[0], [1, 2, 3, 4, 0, 1, 2, 3])


def test_bad_lengths_raise():
    with pytest.raises(ValueError, match="0 frames"):
        clips.train_window(0, 8, rng=_rng())
    with pytest.raises(ValueError, match="num_clips"):
        clips.eval_windows(10, 8, num_clips=0)


def test_pose_positions_test_mode_are_segment_centres():
    np.testing.assert_array_equal(clips.pose_positions(8, 4), [1, 3, 5, 7])
    np.testing.assert_array_equal(clips.pose_positions(64, 20)[:3], [1, 4, 8])  # centres 1.6, 4.8, 8.0


def test_pose_positions_training_stay_in_their_segment():
    seen = np.zeros((20, 64), bool)
    for seed in range(300):
        pos = clips.pose_positions(64, 20, rng=_rng(seed))
        edges = np.linspace(0, 64, 21)
        assert np.all(pos >= np.floor(edges[:-1])) and np.all(pos < edges[1:])
        seen[np.arange(20), pos] = True
    # Every frame of the window is reachable by its segment.
    assert seen.any(axis=0).all()


# ---------------------------------------------------------------------------------------------
# Poses


def _seq(xyz: np.ndarray, present: np.ndarray, uv: np.ndarray | None = None, layout: str = "ntu25",
         size: tuple[int, int] | None = (640, 480)) -> PoseSequence:
    xyz = np.where(present[..., None, None], xyz, np.nan).astype(np.float32)
    if uv is not None:
        uv = np.where(present[..., None, None], uv, np.nan).astype(np.float32)
    return PoseSequence(xyz=xyz, uv=uv, present=present, layout=layout, source="synthetic.skeleton",
                        image_size=size)


def _three_bodies(t: int = 40) -> PoseSequence:
    rng = _rng(5)
    base = rng.normal(size=(1, 3, 25, 3)) + np.array([0.0, 0.0, 3.0])
    xyz = np.repeat(base, t, axis=0)
    xyz[:, 0] += rng.normal(scale=0.01, size=(t, 25, 3))  # body 0: static, sensor jitter
    xyz[:, 1, [5, 6, 7, 21, 22], 1] += np.sin(np.linspace(0, 3, t))[:, None] * 0.4  # body 1: raises an arm
    xyz[:, 1] += rng.normal(scale=0.01, size=(t, 25, 3))
    present = np.ones((t, 3), bool)
    present[:, 2] = False
    present[10, 2] = True  # body 2: a one-frame false detection
    return _seq(xyz, present)


def test_main_actor_is_the_body_that_moves():
    seq = _three_bodies()
    m = [clips.motion(seq.xyz[:, b], seq.present[:, b]) for b in range(3)]
    assert m[2] == 0.0 and m[1] > 5 * m[0]
    np.testing.assert_array_equal(clips.actor_track(seq), np.ones(40))


def test_main_actor_ties_go_to_the_most_present_body():
    xyz = np.zeros((4, 2, 25, 3))
    present = np.array([[False, True], [True, True], [False, True], [False, False]])
    np.testing.assert_array_equal(clips.actor_track(_seq(xyz, present)), [1, 1, 1, -1])


def test_main_actor_without_any_body_is_a_clear_error():
    seq = _seq(np.zeros((5, 1, 25, 3)), np.zeros((5, 1), bool))
    with pytest.raises(DataError, match="synthetic.skeleton: no body is present"):
        clips.actor_track(seq)


def test_nearest_present_fills_from_the_closest_real_frame():
    present = np.array([False, False, True, False, False, False, True, False])
    got = clips.nearest_present(np.arange(8), present)
    np.testing.assert_array_equal(got, [2, 2, 2, 2, 2, 6, 6, 6])  # frame 4: tie -> earlier
    with pytest.raises(ValueError):
        clips.nearest_present(np.arange(3), np.zeros(3, bool))


def test_actor_poses_normalised_on_first_spine_mid_and_filled_not_zeroed():
    t = 10
    xyz = np.zeros((t, 1, 25, 3))
    xyz[:, 0] = np.arange(25)[None, :, None] * 0.1 + np.arange(t)[:, None, None]  # frame f: +f metres
    present = np.ones((t, 1), bool)
    present[[3, 4], 0] = False
    seq = _seq(xyz, present)
    track = clips.actor_track(seq)
    np.testing.assert_array_equal(track, np.where(present[:, 0], 0, -1))
    p = clips.actor_poses(seq, np.array([2, 3, 4, 9]), track)
    assert p.shape == (3, 4, 25) and p.dtype == np.float32
    spine_mid = NTU25.index("spine_mid")
    np.testing.assert_allclose(p[:, 0, spine_mid], 0.0, atol=1e-6)
    # Frame 3 -> 2 (nearest present), frame 4 -> 5; offsets from frame 2's spine mid.
    np.testing.assert_allclose(p[0, :, spine_mid], [0.0, 0.0, 3.0, 7.0], atol=1e-5)
    assert np.isfinite(p).all()


def test_actor_track_joins_a_body_found_again_under_a_new_id():
    t = 30
    rng = _rng(1)
    person = np.cumsum(rng.normal(scale=0.02, size=(t, 25, 3)), axis=0) + [0.0, 0.0, 3.0]
    other = np.cumsum(rng.normal(scale=0.015, size=(t, 25, 3)), axis=0) + [0.8, 0.0, 3.0]
    xyz = np.zeros((t, 4, 25, 3))
    xyz[:, 0] = person  # the actor's track is lost at frame 12 ...
    xyz[:, 1] = person  # ... and found again at frame 15 as body 1
    xyz[:, 2] = person + [2.0, 0.0, 0.0]  # somebody else, 2 m away, in frames 12-14: not the actor
    xyz[:, 3] = other  # a second person, seen throughout, moving less than the actor in total
    present = np.zeros((t, 4), bool)
    present[:12, 0] = True
    present[15:, 1] = True
    present[12:15, 2] = True
    present[:, 3] = True
    seq = _seq(xyz, present)
    tracks = clips.person_tracks(seq)
    assert len(tracks) == 3
    np.testing.assert_array_equal(tracks[0], [3] * t)
    np.testing.assert_array_equal(tracks[1], [0] * 12 + [-1] * 3 + [1] * 15)
    np.testing.assert_array_equal(tracks[2], [-1] * 12 + [2] * 3 + [-1] * 15)
    track = clips.actor_track(seq)
    # Each of the actor's bodies moves less than the second person, together they move more.
    m = [clips.motion(xyz[:, b], present[:, b]) for b in range(4)]
    assert m[0] < m[3] and m[1] < m[3]
    np.testing.assert_array_equal(track, [0] * 12 + [-1] * 3 + [1] * 15)
    p = clips.actor_poses(seq, np.array([0, 13, 20]), track)
    np.testing.assert_allclose(p[:, 2] - p[:, 0], (person[20] - person[0]).T, atol=1e-5)
    np.testing.assert_allclose(p[:, 1] - p[:, 0], (person[11] - person[0]).T, atol=1e-5)  # 13 -> 11


def test_actor_poses_without_the_actor_is_a_data_error():
    seq = _seq(np.zeros((4, 2, 25, 3)), np.array([[True, False]] * 4))
    with pytest.raises(DataError, match="the actor is never present"):
        clips.actor_poses(seq, np.arange(4), np.full(4, -1))


def test_actor_poses_lcrnet_centre_is_hips_and_shoulders():
    xyz = _rng(2).normal(size=(3, 1, 13, 3))
    seq = _seq(xyz, np.ones((3, 1), bool), layout="lcrnet13")
    p = clips.actor_poses(seq, np.arange(3), clips.actor_track(seq))
    centre = xyz[0, 0, [4, 5, 10, 11]].mean(axis=0)
    np.testing.assert_allclose(p[:, 1], (xyz[1, 0] - centre).T, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Crop boxes


def test_people_box_covers_every_present_body():
    uv = np.zeros((3, 2, 25, 2))
    uv[:, 0] = [100, 200]
    uv[:, 1] = [400, 260]
    uv[1, 0, 3] = [90, 150]
    present = np.array([[True, True], [True, False], [True, True]])
    uv[1, 1] = [5000, 5000]  # absent body: ignored
    np.testing.assert_array_equal(clips.people_box(uv, present), [90, 150, 400, 260])
    assert clips.people_box(uv, np.zeros((3, 2), bool)) is None


def test_expand_box_margin_square_and_inside_frame():
    box = clips.expand_box(np.array([100.0, 100.0, 200.0, 300.0]), (640, 480), margin=0.1)
    # Longer side 200 * 1.2 = 240, centred on (150, 200): x 30..270, y 80..320.
    np.testing.assert_array_equal(box, [30, 80, 270, 320])
    # Near the left edge: moved inside, not cut.
    box = clips.expand_box(np.array([0.0, 100.0, 50.0, 300.0]), (640, 480), margin=0.1)
    np.testing.assert_array_equal(box, [0, 80, 240, 320])
    # Taller than the frame: cut to the frame height, still square where possible.
    box = clips.expand_box(np.array([300.0, 0.0, 340.0, 470.0]), (640, 480), margin=0.1)
    assert box[1] == 0 and box[3] == 480 and box[2] - box[0] == pytest.approx(564, abs=1)
    # Degenerate (one point) gets the minimum size.
    box = clips.expand_box(np.array([10.0, 10.0, 10.0, 10.0]), (640, 480), min_size=16)
    np.testing.assert_array_equal(box, [2, 2, 18, 18])


def test_expand_box_jitter_varies_but_keeps_the_person():
    tight = np.array([200.0, 150.0, 300.0, 350.0])
    boxes = np.stack([clips.expand_box(tight, (640, 480), margin=0.1, jitter=0.1, rng=_rng(s)) for s in range(200)])
    assert np.all(boxes[:, :2] <= tight[:2]) and np.all(boxes[:, 2:] >= tight[2:])
    assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= 640) and np.all(boxes[:, 3] <= 480)
    sides = boxes[:, 2] - boxes[:, 0]
    assert sides.min() < 230 and sides.max() > 250  # 240 +- 10 %
    assert len({tuple(b) for b in boxes}) > 100
    with pytest.raises(ValueError, match="rng"):
        clips.expand_box(tight, (640, 480), jitter=0.1)


def test_crop_box_fallbacks():
    present = np.zeros((2, 1), bool)
    uv = np.zeros((2, 1, 25, 2))
    np.testing.assert_array_equal(clips.crop_box(None, present, (320, 240)), [0, 0, 320, 240])
    np.testing.assert_array_equal(clips.crop_box(uv, present, (320, 240)), [0, 0, 320, 240])
    got = clips.crop_box(uv, present, (320, 240), margin=0.0, fallback=np.array([10.0, 10.0, 50.0, 50.0]))
    np.testing.assert_array_equal(got, [10, 10, 50, 50])


def test_scale_uv_maps_sensor_pixels_to_the_video_size():
    uv = np.array([[1920.0, 1080.0], [960.0, 540.0]], dtype=np.float32)
    np.testing.assert_allclose(clips.scale_uv(uv, (1920, 1080), (960, 540)), [[960, 540], [480, 270]])
    assert clips.scale_uv(uv, (1920, 1080), (1920, 1080)) is uv


# ---------------------------------------------------------------------------------------------
# Pixels


def test_crop_resize_takes_the_box_content():
    frames = np.zeros((2, 120, 160, 3), np.uint8)
    frames[:, 20:60, 40:80] = [200, 30, 10]
    out = clips.crop_resize(frames, np.array([40, 20, 80, 60]), 16)
    assert out.shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(out, np.broadcast_to(np.array([200, 30, 10], np.uint8), out.shape))
    up = clips.crop_resize(frames, np.array([40, 20, 80, 60]), (50, 60))
    assert up.shape == (2, 50, 60, 3) and np.all(up == [200, 30, 10])
    with pytest.raises(ValueError, match="not inside the 160x120"):
        clips.crop_resize(frames, np.array([100, 0, 200, 50]), 16)


def test_to_model_range_keeps_rgb_order_and_range():
    frames = np.zeros((4, 2, 3, 3), np.uint8)
    frames[..., 0] = 255
    frames[..., 2] = 0
    frames[1, ..., 1] = 128
    out = clips.to_model_range(frames)
    assert out.shape == (3, 4, 2, 3) and out.dtype == np.float32
    assert np.all(out[0] == 1.0) and np.all(out[2] == -1.0)
    np.testing.assert_allclose(out[1, 1], 128 / 127.5 - 1, atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        clips.to_model_range(frames.astype(np.float32))

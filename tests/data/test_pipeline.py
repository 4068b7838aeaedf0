"""The sample steps one by one, and make_sample as their composition drawing its randomness in a fixed order."""

from __future__ import annotations

import numpy as np
import pytest

from vpnet.data import clips, pipeline, synthetic
from vpnet.data.datasets import ClipSettings, make_sample
from vpnet.data.ntu import read_poses
from vpnet.data.types import PoseSequence
from vpnet.data.video import open_video, read_clips


def _seq(num_frames: int = 10, *, uv: bool = True) -> PoseSequence:
    """Two NTU-25 bodies: body 0 stands still at x = -1, body 1 walks along x (seen from frame 2 on,
    not in frame 5); their 2D joints lie around (20, 30) and (100 + 10 t, 40) in a 200x100 frame."""
    t = np.arange(num_frames, dtype=np.float32)
    xyz = np.zeros((num_frames, 2, 25, 3), np.float32)
    xyz[:, 0, :, 0] = -1.0
    xyz[:, 1, :, 0] = 0.1 * t[:, None]
    xyz[:, :, :, 2] = 3.0
    xyz[:, :, :, 1] = np.linspace(-0.8, 0.8, 25)
    present = np.ones((num_frames, 2), bool)
    present[:2, 1] = present[5, 1] = False
    xyz[~present] = np.nan
    uv_arr = None
    if uv:
        uv_arr = np.zeros((num_frames, 2, 25, 2), np.float32)
        uv_arr[:, 0] = [20.0, 30.0] + np.linspace(-5, 5, 25)[:, None]
        uv_arr[:, 1, :, 0] = 100.0 + 10 * t[:, None]
        uv_arr[:, 1, :, 1] = 40.0 + np.linspace(-10, 10, 25)
        uv_arr[~present] = np.nan
    return PoseSequence(xyz=xyz, uv=uv_arr, present=present, layout="ntu25", body_ids=("a", "b"),
                        image_size=(200, 100), notes=("a joint was filled",))


def _state(seq: PoseSequence, **kw) -> dict:
    return {"seq": seq, "notes": list(seq.notes), "video_frames": None, "frame_size": (200, 100), "rng": None, **kw}


# ---------------------------------------------------------------------------------------------
# steps


def test_align_frames_cuts_to_the_common_frames_and_notes_it():
    seq = _seq(10)
    state = _state(seq, video_frames=7)
    out = pipeline.AlignFrames()(state)
    assert out["num_frames"] == 7 and out["seq"].num_frames == 7 and out["seq"].uv.shape[0] == 7
    assert out["notes"] == ["a joint was filled", "video has 7 frames, skeleton 10: using the first 7 of both "
                            "(skeleton longer by 3)"]
    assert state["seq"] is seq and state["notes"] == ["a joint was filled"]  # the given state is left as it was
    same = pipeline.AlignFrames()(_state(seq))  # poses only: everything
    assert same["seq"] is seq and same["num_frames"] == 10 and same["notes"] == ["a joint was filled"]


def test_select_actor_takes_the_moving_body():
    out = pipeline.SelectActor()(pipeline.AlignFrames()(_state(_seq())))
    assert out["track"].tolist() == [-1, -1, 1, 1, 1, -1, 1, 1, 1, 1] and out["actor"] == ["b"]


def test_sample_windows_train_spread_and_slide():
    state = {"num_frames": 30, "rng": np.random.default_rng(3)}
    train = pipeline.SampleWindows(8, 2)(state)["windows"]
    ref = clips.train_window(30, 8, stride=2, rng=np.random.default_rng(3))
    assert train.shape == (1, 8) and train[0].tolist() == ref.tolist() and np.all(np.diff(train[0]) == 2)
    spread = pipeline.SampleWindows(8, 2, how="spread", num_clips=3)({"num_frames": 30})["windows"]
    assert spread[:, 0].tolist() == [3, 8, 13] and np.all(np.diff(spread, axis=1) == 2)  # 2.5, 7.5, 12.5 of 15, rounded
    slide = pipeline.SampleWindows(8, 2, how="slide", hop=5)({"num_frames": 30})["windows"]
    assert slide[:, 0].tolist() == [0, 5, 10, 15] and slide[-1, -1] == 29
    with pytest.raises(ValueError, match="needs an rng"):
        pipeline.SampleWindows(8, 2)({"num_frames": 30, "rng": None})
    with pytest.raises(ValueError, match="how must be"):
        pipeline.SampleWindows(8, 2, how="random")


def test_sample_pose_frames_window_and_clip_spans():
    windows = np.stack([np.arange(10, 18), np.arange(20, 28)])
    state = {"windows": windows, "num_frames": 40, "rng": None}
    assert pipeline.SamplePoseFrames(8, 4)(state)["pose_frames"].tolist() == [[11, 13, 15, 17], [21, 23, 25, 27]]
    # Over the whole clip at test: clip k takes (2k + 1) / 2K of each of the 10-frame segments.
    clip = pipeline.SamplePoseFrames(8, 4, span="clip")(state)["pose_frames"]
    assert clip.tolist() == [[2, 12, 22, 32], [7, 17, 27, 37]]
    # Training over the clip: one random frame per segment of a temporally cropped range.
    for seed in range(10):
        got = pipeline.SamplePoseFrames(8, 4, span="clip", random=True, crop=0.5)(
            {**state, "windows": windows[:1], "rng": np.random.default_rng(seed)})["pose_frames"]
        rng = np.random.default_rng(seed)
        start, length = clips.temporal_crop(40, 0.5, rng)
        assert got.tolist() == [(start + clips.segment_positions(length, 4, rng=rng)).tolist()]
        assert length >= 20 and np.all(np.diff(got[0]) >= 0)
    with pytest.raises(ValueError, match="needs an rng"):
        pipeline.SamplePoseFrames(8, 4, random=True)(state)


def test_gather_poses_normalises_and_fills_from_the_nearest_seen_frame():
    state = pipeline.SelectActor()(pipeline.AlignFrames()(_state(_seq())))
    out = pipeline.GatherPoses()({**state, "pose_frames": np.array([[2, 5, 9]])})["poses"]
    assert out.shape == (1, 3, 3, 25) and out.dtype == np.float32
    # Relative to the spine mid of the first pose (frame 2): frame 5 (unseen) takes frame 4, x + 0.2.
    np.testing.assert_allclose(out[0, 0, :, 0], [0.0, 0.2, 0.7], atol=1e-6)
    np.testing.assert_allclose(out[0, 2], 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="augmentation needs an rng"):
        pipeline.GatherPoses(augment=clips.PoseAugment(jitter=0.1))({**state, "pose_frames": np.array([[2]])})


def test_crop_boxes_around_the_people_or_the_whole_frame():
    seq = _seq()
    windows = np.array([[2, 3], [0, 1]])
    state = {"seq": seq, "windows": windows, "frame_size": (200, 100), "rng": None}
    boxes = pipeline.CropBoxes(margin=0.0)(state)["boxes"]
    # Frames 2-3: body 0 at x 15..25, body 1 up to x 130, y 25..50: a square of side 115, cut to the frame height.
    assert boxes[0].tolist() == [15.0, 0.0, 130.0, 100.0]
    assert boxes[1].tolist() == [12.0, 22.0, 28.0, 38.0]  # frames 0-1: body 0's 10x10 box, grown to 16 pixels
    whole = pipeline.CropBoxes()({**state, "seq": _seq(uv=False)})["boxes"]
    assert whole.tolist() == [[0.0, 0.0, 200.0, 100.0]] * 2
    with pytest.raises(ValueError, match="needs an rng"):
        pipeline.CropBoxes(jitter=0.1)(state)


def test_to_model_range_replaces_the_clips():
    frames = np.zeros((1, 2, 4, 4, 3), np.uint8)
    frames[..., 1] = 255
    out = pipeline.ToModelRange()({"clips": frames})
    assert set(out) == {"video"} and out["video"].shape == (1, 3, 2, 4, 4)
    assert out["video"][:, 0].max() == -1.0 and out["video"][:, 1].min() == 1.0


def test_compose_applies_the_steps_in_order():
    add = pipeline.Compose([lambda s: {**s, "x": s["x"] + 1}, lambda s: {**s, "x": s["x"] * 10}])
    assert add({"x": 1}) == {"x": 20}


# ---------------------------------------------------------------------------------------------
# make_sample


@pytest.fixture(scope="module")
def item(tmp_path_factory):
    ds = synthetic.make_ntu(tmp_path_factory.mktemp("ntu"), num_classes=1, per_class=1, frames=30, size=(192, 108),
                            seed=1, bystander=1.0)
    return open_video(sorted(ds.video_dir.iterdir())[0]), read_poses(sorted(ds.pose_dir.iterdir())[0])


def test_training_sample_draws_window_pose_frames_augmentation_then_jitter(item):
    """make_sample is the steps' composition; its draws from the one generator come in a fixed order,
    so a sample stays a pure function of (seed, epoch, index)."""
    video, seq = item
    aug = clips.PoseAugment(rotate=20, scale=0.1, jitter=0.01)
    s = ClipSettings(mode="train", clip_len=8, size=32, t_p=4, jitter=0.2, pose_augment=aug, pose_norm="rotate")
    got = make_sample(video, seq, s, np.random.default_rng(7))

    rng = np.random.default_rng(7)
    track = clips.actor_track(seq)
    window = clips.train_window(seq.num_frames, 8, stride=2, rng=rng)
    pose_frames = window[clips.pose_positions(8, 4, rng=rng)]
    poses = clips.actor_poses(seq, pose_frames, track, norm="rotate", augment=aug, rng=rng)
    uv = clips.video_uv(seq, video.size)
    box = clips.crop_box(uv[window], seq.present[window], video.size, margin=s.margin, jitter=0.2, rng=rng,
                         fallback=clips.people_box(uv, seq.present))
    assert got["meta"]["frames"] == [window.tolist()] and got["meta"]["pose_frames"] == [pose_frames.tolist()]
    assert np.array_equal(got["poses"], poses[None]) and got["meta"]["boxes"] == [box.tolist()]
    assert np.array_equal(got["video"], clips.to_model_range(read_clips(video, window[None], box[None], 32)))
    assert got["meta"]["num_frames"] == seq.num_frames and len(got["meta"]["actor"]) == 1
    # Poses only: the same window, pose frames and poses (the crop is drawn last).
    alone = make_sample(None, seq, s, np.random.default_rng(7))
    assert alone["meta"]["frames"] == got["meta"]["frames"] and np.array_equal(alone["poses"], got["poses"])


def test_pose_only_windows_at_prediction_are_clips():
    """``pose_span=clip`` with sliding windows (prediction): each window's span is a clip, its poses at
    the centres of t_p equal segments of it; a video no longer than a window gets evaluation's poses."""
    step = pipeline.SamplePoseFrames(8, 4, span="clip", per_window=True)
    windows = clips.sliding_windows(30, 8, stride=2)  # span 15: starts 0 and 15
    got = step({"windows": windows, "num_frames": 30})["pose_frames"]
    assert got.tolist() == [[1, 5, 9, 13], [16, 20, 24, 28]]
    short = clips.sliding_windows(6, 8, stride=2)  # looped over the whole video
    got = step({"windows": short, "num_frames": 6})["pose_frames"]
    assert got.tolist() == clips.spread_positions(6, 4, 1).tolist()

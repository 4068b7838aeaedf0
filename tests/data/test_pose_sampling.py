"""Temporal sampling of short clips (loop vs stretch), poses over the whole clip, pose normalisation
and pose augmentation, and the bad inputs around them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vpnet.config import DataConfig
from vpnet.data import clips
from vpnet.data.registry import build_dataset
from vpnet.data.types import PoseSequence
from vpnet.errors import ConfigError
from vpnet.skeletons import get_layout

UCLA = get_layout("ucla20")


def _rng(*seed: int) -> np.random.Generator:
    return np.random.default_rng(list(seed) or [0])


# ---------------------------------------------------------------------------------------------
# stretch vs loop


@pytest.mark.parametrize("num_frames", [1, 5, 31, 63])
def test_stretch_is_monotonic_and_covers_the_clip(num_frames):
    for seed in range(20):
        w = clips.train_window(num_frames, 64, stride=2, sampling="stretch", rng=_rng(seed))
        assert len(w) == 64 and np.all(np.diff(w) >= 0)
        assert w.min() >= 0 and w.max() < num_frames
        # covers the clip: from its first frame to its last, never skipping more than a frame
        assert w[0] <= 1 and w[-1] >= num_frames - 2 and np.diff(w).max(initial=0) <= 2
        if num_frames <= 32:  # segments of at most half a frame: every frame is used
            assert set(w.tolist()) == set(range(num_frames))
    tests = clips.eval_windows(num_frames, 64, stride=2, num_clips=3, sampling="stretch")
    assert tests.shape == (3, 64)
    for t in tests:
        assert np.all(np.diff(t) >= 0) and t[0] <= 1 and t[-1] >= num_frames - 2


def test_loop_jumps_back_where_stretch_does_not():
    w = clips.train_window(31, 64, stride=2, sampling="loop", rng=_rng(0))
    assert np.sum(np.diff(w) < 0) >= 2  # forward, back to frame 0, forward again...
    # long videos: both give the same strided window
    a = clips.train_window(200, 64, stride=2, sampling="loop", rng=_rng(3))
    b = clips.train_window(200, 64, stride=2, sampling="stretch", rng=_rng(3))
    assert np.array_equal(a, b) and np.all(np.diff(a) == 2)
    with pytest.raises(ValueError, match="sampling must be one of"):
        clips.train_window(10, 64, sampling="bounce", rng=_rng(0))


def test_segment_positions_test_clips_differ_and_repeat_when_the_clip_is_short():
    spread = clips.spread_positions(40, 4, 2)
    assert spread.tolist() == [[2, 12, 22, 32], [7, 17, 27, 37]]
    assert clips.segment_positions(3, 6).tolist() == [0, 0, 1, 1, 2, 2]  # t_p > frames: repeated


# ---------------------------------------------------------------------------------------------
# normalisation


def _body(t: int = 6, seed: int = 0) -> np.ndarray:
    """(t, 20, 3) a ucla20 body standing 3 m from the camera, turned 40 degrees, moving a little."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(-0.3, 0.3, (20, 3)) + [0.4, 0.0, 3.0]
    base[UCLA.index("hip_l")] = [0.55, -0.1, 3.1]
    base[UCLA.index("hip_r")] = [0.35, -0.1, 2.9]
    base[UCLA.index("shoulder_l")] = [0.6, 0.4, 3.1]
    base[UCLA.index("shoulder_r")] = [0.3, 0.4, 2.9]
    return base[None] + rng.normal(0, 0.02, (t, 20, 3))


def _rotate_y(xyz: np.ndarray, angle: float, about=(0.0, 0.0, 3.0)) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    r = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return (xyz - about) @ r.T + about


def test_translation_is_the_paper_normalisation():
    xyz = _body()
    out = clips.normalize_poses(xyz, UCLA, "translation")
    assert np.allclose(out, xyz - xyz[0, UCLA.index("spine")], atol=1e-12)


@pytest.mark.parametrize("norm", ["rotate", "rotate_scale"])
def test_rotation_makes_poses_invariant_to_a_rotation_about_the_vertical(norm):
    xyz = _body()
    ref = clips.normalize_poses(xyz, UCLA, norm)
    for angle in np.random.default_rng(1).uniform(-np.pi, np.pi, 10):
        turned = clips.normalize_poses(_rotate_y(xyz, angle), UCLA, norm)
        assert np.abs(turned - ref).max() < 1e-5
    # the hips of the first pose lie on the x axis, left hip towards +x
    hips = ref[0, UCLA.index("hip_l")] - ref[0, UCLA.index("hip_r")]
    assert abs(hips[2]) < 1e-9 and hips[0] > 0
    # translation alone is not invariant
    plain = clips.normalize_poses(_rotate_y(xyz, 1.0), UCLA, "translation")
    assert np.abs(plain - clips.normalize_poses(xyz, UCLA, "translation")).max() > 0.05


def test_scale_divides_by_the_torso_length():
    xyz = _body()
    one = clips.normalize_poses(xyz, UCLA, "rotate_scale")
    big = clips.normalize_poses(xyz * 1.7, UCLA, "rotate_scale")
    assert np.abs(one - big).max() < 1e-9
    hips = one[:, [UCLA.index("hip_l"), UCLA.index("hip_r")]].mean(axis=1)
    shoulders = one[:, [UCLA.index("shoulder_l"), UCLA.index("shoulder_r")]].mean(axis=1)
    assert np.linalg.norm(shoulders - hips, axis=1).mean() == pytest.approx(1.0)


def test_degenerate_bodies_give_finite_poses():
    xyz = np.repeat(_body(1), 5, axis=0)
    xyz[:, :] = xyz[0, 0]  # every joint at one point: no hip direction, no torso
    for norm in ("translation", "rotate", "rotate_scale"):
        out = clips.normalize_poses(xyz, UCLA, norm)
        assert np.isfinite(out).all() and np.abs(out).max() == 0


def test_a_normalisation_the_layout_cannot_support_is_a_config_error():
    from dataclasses import replace

    no_hips = replace(UCLA, name="nohips", joints=tuple(j.replace("hip_", "pelvis_") for j in UCLA.joints))
    with pytest.raises(ConfigError, match="needs the joints hip_l, hip_r.*nohips"):
        clips.normalize_poses(_body(), no_hips, "rotate")
    assert np.isfinite(clips.normalize_poses(_body(), no_hips, "translation")).all()
    with pytest.raises(ConfigError, match="pose_norm must be one of"):
        clips.body_frame_joints(UCLA, "spin")


# ---------------------------------------------------------------------------------------------
# augmentation


def test_augmentation_is_reproducible_and_bounded():
    aug = clips.PoseAugment(rotate=30, scale=0.2, jitter=0.01)
    xyz = clips.normalize_poses(_body(), UCLA, "rotate")
    a, b = aug(xyz, _rng(0, 3, 7)), aug(xyz, _rng(0, 3, 7))
    assert np.array_equal(a, b)
    assert not np.allclose(a, aug(xyz, _rng(0, 4, 7)))
    # without jitter: a rotation about the vertical and a scale, nothing else
    rs = clips.PoseAugment(rotate=30, scale=0.2)(xyz, _rng(1))
    ratio = np.linalg.norm(rs[..., [0, 2]], axis=-1).sum() / np.linalg.norm(xyz[..., [0, 2]], axis=-1).sum()
    assert 0.8 <= ratio <= 1.2
    assert np.allclose(rs[..., 1], xyz[..., 1] * ratio, rtol=1e-9, atol=1e-12)
    assert not clips.PoseAugment().active
    with pytest.raises(ValueError, match="must be < 1"):
        clips.PoseAugment(crop=1.0)


def test_temporal_crop_keeps_most_of_the_clip():
    for seed in range(50):
        start, length = clips.temporal_crop(40, 0.25, _rng(seed))
        assert 30 <= length <= 40 and 0 <= start and start + length <= 40


# ---------------------------------------------------------------------------------------------
# datasets: pose-only samples over the whole clip, reproducible, bad clips


def _write(folder: Path, name: str, sk: np.ndarray) -> None:
    (folder / f"{name}.json").write_text(json.dumps({"file_name": name, "skeletons": sk.tolist()}))


@pytest.fixture
def ucla_dir(tmp_path) -> Path:
    _write(tmp_path, "a01_s01_e00_v01", _body(40, 1))
    _write(tmp_path, "a02_s01_e00_v02", _body(1, 2))  # a 1-frame clip
    _write(tmp_path, "a03_s01_e00_v01", _body(3, 3))  # shorter than t_p
    _write(tmp_path, "a01_s01_e00_v03", _body(25, 4))
    return tmp_path


def _cfg(pose_dir: Path, **kw) -> DataConfig:
    base = dict(dataset="nucla", protocol="v3", pose_dir=str(pose_dir), clip_len=64, crop_size=224, t_p=8, seed=5)
    return DataConfig(**{**base, **kw})


def test_pose_only_samples_span_the_whole_clip_and_are_reproducible(ucla_dir):
    aug = dict(pose_rotate=20.0, pose_scale=0.1, pose_jitter=0.01, pose_crop=0.2, pose_norm="rotate")
    ds = build_dataset(_cfg(ucla_dir, **aug), "train", mode="train", load_video=False)
    assert ds.settings.pose_span == "clip"
    names = [r.name for r in ds.records]
    i = names.index("a01_s01_e00_v01")
    first = ds.load(i)
    frames = first["meta"]["pose_frames"][0]
    assert np.all(np.diff(frames) >= 0) and frames[-1] - frames[0] >= 20  # spread over most of 40 frames
    assert np.array_equal(first["poses"], ds.load(i)["poses"])  # a pure function of (seed, epoch, index)
    ds.set_epoch(1)
    assert not np.allclose(first["poses"], ds.load(i)["poses"])
    for k in range(len(ds)):  # 1 frame and 3 frames for t_p = 8: repeated poses, never NaN
        s = ds.load(k)
        assert s["poses"].shape == (3, 8, 20) and np.isfinite(s["poses"].numpy()).all()
    test = build_dataset(_cfg(ucla_dir), "test", mode="test", num_clips=3, load_video=False)
    t = test.load(0)
    assert t["poses"].shape == (3, 3, 8, 20)
    assert len({tuple(f) for f in t["meta"]["pose_frames"]}) == 3  # three clips, three sets of frames


def test_window_span_can_be_asked_for(ucla_dir):
    ds = build_dataset(_cfg(ucla_dir, pose_span="window", sampling="loop"), "train", mode="train",
                       load_video=False)
    s = ds.load([r.name for r in ds.records].index("a01_s01_e00_v01"))
    window = s["meta"]["frames"][0]
    assert set(s["meta"]["pose_frames"][0]) <= set(window)
    assert np.sum(np.diff(window) < 0) >= 1  # a 40-frame clip in a 64-frame window loops


def test_config_checks_the_pose_settings():
    from vpnet.engine.config_loader import load_config

    with pytest.raises(ConfigError, match="data.pose_norm='spin' is not one of"):
        load_config(None, ["data.pose_norm=spin"])
    with pytest.raises(ConfigError, match="pose_scale=1.5 must be < 1"):
        load_config(None, ["data.pose_scale=1.5"])
    cfg = load_config(None, ["data.pose_norm=rotate_scale", "model.skeleton=lcrnet13"])
    assert cfg.data.pose_norm == "rotate_scale"


def test_pose_sequence_with_one_frame_gives_finite_rotated_poses():
    xyz = _body(1)[:, None].astype(np.float32)
    seq = PoseSequence(xyz=xyz, uv=None, present=np.ones((1, 1), bool), layout="ucla20")
    track = clips.actor_track(seq)
    out = clips.actor_poses(seq, clips.segment_positions(1, 5), track, norm="rotate_scale")
    assert out.shape == (3, 5, 20) and np.isfinite(out).all()
    assert np.allclose(out[:, 0], out[:, 4])

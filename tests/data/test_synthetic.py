"""Synthetic datasets: real formats, protocols covered, 2D joints where the figures are drawn,
classes told apart by their motion, deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vpnet.data import custom, ntu, nucla, smarthome, synthetic
from vpnet.data.video import open_video


@pytest.fixture(scope="module")
def ntu_ds(tmp_path_factory):
    return synthetic.make_ntu(tmp_path_factory.mktemp("ntu"), num_classes=8, per_class=6, frames=40,
                              missing_skeletons=2, seed=1)


def _near(frame: np.ndarray, uv: np.ndarray, colour, tol: float = 45.0) -> np.ndarray:
    """Per joint: whether a pixel within 1 px of uv has ``colour`` (the drawn joint dot)."""
    h, w = frame.shape[:2]
    hits = []
    for u, v in uv:
        x, y = int(round(u)), int(round(v))
        patch = frame[max(0, y - 1):min(h, y + 2), max(0, x - 1):min(w, x + 2)].astype(float)
        hits.append(bool(patch.size) and np.abs(patch - np.asarray(colour, float)).max(axis=-1).min() < tol)
    return np.array(hits)


def test_ntu_files_follow_the_release(ntu_ds):
    assert ntu_ds.video_dir.name == "nturgb+d_rgb" and ntu_ds.pose_dir.name == "nturgb+d_skeletons"
    assert len(ntu_ds.names) == 48 and ntu_ds.labels[:7] == [0] * 6 + [1]
    assert ntu_ds.class_names == ntu.class_names(60)[:8]
    name = next(n for n in ntu_ds.names if n not in ntu_ds.missing)
    raw = (ntu_ds.pose_dir / f"{name}.skeleton").read_bytes()
    lines = raw.split(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert int(lines[0]) > 0 and int(lines[1]) >= 1
    body = lines[2].split()
    assert len(body) == 10 and len(body[0]) == 17 and int(body[0]) > 2 ** 56
    assert lines[3] == b"25" and len(lines[4].split()) == 12
    for n in ntu_ds.names:
        assert ntu.parse_name(n).action == ntu_ds.labels[ntu_ds.names.index(n)] + 1
        assert (ntu_ds.video_dir / f"{n}_rgb.avi").is_file()
        assert (ntu_ds.pose_dir / f"{n}.skeleton").is_file() == (n not in ntu_ds.missing)
    # the official missing-list format
    assert ntu.read_missing_list(ntu_ds.missing_list) == set(ntu_ds.missing)


@pytest.mark.parametrize("protocol", ["cs", "cv", "csub", "cset"])
def test_ntu_every_protocol_has_train_and_test_items_of_every_class(ntu_ds, protocol):
    version = ntu.version_of(protocol)
    for split in ("train", "test"):
        r = ntu.records(video_dir=ntu_ds.video_dir, pose_dir=ntu_ds.pose_dir, protocol=protocol, split=split,
                        version=version, missing_list=ntu_ds.missing_list)
        assert {x.label for x in r} == set(range(8)), (protocol, split)


def test_ntu_joints_are_where_the_figures_are_drawn(ntu_ds):
    name = ntu_ds.names[8]  # class 1, camera 3 (a side view)
    sk = ntu.read_skeleton(ntu_ds.pose_dir / f"{name}.skeleton", dtype=np.float64)
    video = open_video(ntu_ds.video_dir / f"{name}_rgb.avi")
    assert video.num_frames == sk.num_frames and video.size == (320, 180)
    # pinhole consistency of x y z with colorX/colorY and depthX/depthY
    j = sk.joints[sk.present]
    f, cx, cy = synthetic.NTU_COLOR
    assert np.allclose(j[..., 5], cx + f * j[..., 0] / j[..., 2], atol=2e-3)
    assert np.allclose(j[..., 6], cy - f * j[..., 1] / j[..., 2], atol=2e-3)
    f, cx, cy = synthetic.NTU_DEPTH
    assert np.allclose(j[..., 3], cx + f * j[..., 0] / j[..., 2], atol=2e-3)
    frames = video.read(np.arange(0, sk.num_frames, 5))
    performer = ntu.parse_name(name).performer
    dot = tuple(int(c * 0.5) for c in synthetic._PALETTE[performer % len(synthetic._PALETTE)])
    hits = []
    for k, t in enumerate(range(0, sk.num_frames, 5)):
        for m in np.flatnonzero(sk.present[t]):
            if m == 0 or sk.body_ids[m] == str(int(sk.body_ids[0]) + 1):  # the actor
                uv = sk.joints[t, m, :, 5:7] * np.array([320 / 1920, 180 / 1080])
                hits.append(_near(frames[k], uv, dot))
    assert np.mean(hits) > 0.9
    # and away from the joints, the frame is not the figure's colour
    far = sk.joints[0, 0, :, 5:7] * np.array([320 / 1920, 180 / 1080]) + np.array([60.0, 0.0])
    assert _near(frames[0], far, dot).mean() < 0.2


def test_ntu_tracking_gaps_bystanders_and_interactions(tmp_path):
    ds = synthetic.make_ntu(tmp_path, num_classes=4, per_class=6, frames=40, tracking_gaps=1.0, bystander=1.0,
                            videos=False)
    assert not any(ds.video_dir.iterdir())
    for name, label in zip(ds.names, ds.labels):
        sk = ntu.read_skeleton(ds.pose_dir / f"{name}.skeleton")
        assert sk.num_bodies == 3  # actor, partner/bystander, the actor again under a new id
        assert sk.body_ids[2] == str(int(sk.body_ids[0]) + 1)
        gap = ~sk.present[:, 0] & ~sk.present[:, 2]
        assert 2 <= gap.sum() <= 4 and not sk.present[:, 0][-1] and sk.present[:, 2][-1]
        actor = np.where(sk.present[:, 0, None, None], sk.joints[:, 0, :, :3], sk.joints[:, 2, :, :3])
        motion = [np.nanstd(x, axis=0).max() for x in (actor, sk.joints[:, 1, :, :3])]  # most-moving joint
        if label == 3:  # every 4th class: two people performing
            assert min(motion) > 0.5 * max(motion)
        else:  # the idle bystander barely moves
            assert motion[1] < 0.3 * motion[0]


def test_ntu_deterministic_from_seed(tmp_path):
    a = synthetic.make_ntu(tmp_path / "a", num_classes=2, per_class=2, frames=16)
    b = synthetic.make_ntu(tmp_path / "b", num_classes=2, per_class=2, frames=16)
    c = synthetic.make_ntu(tmp_path / "c", num_classes=2, per_class=2, frames=16, seed=5)
    assert a.names == b.names == c.names  # the seed changes the content, not which samples exist
    for n in a.names:
        for sub, suffix in (("nturgb+d_skeletons", ".skeleton"), ("nturgb+d_rgb", "_rgb.avi")):
            a_bytes, b_bytes, c_bytes = ((tmp_path / d / sub / f"{n}{suffix}").read_bytes() for d in "abc")
            assert a_bytes == b_bytes, (n, suffix)
            assert a_bytes != c_bytes, (n, suffix)


def _nearest_centroid_loo(x: np.ndarray, y: np.ndarray) -> float:
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    ok = 0
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        cents = np.array([x[keep & (y == c)].mean(0) for c in np.unique(y)])
        ok += np.argmin(((cents - x[i]) ** 2).sum(1)) == y[i]
    return ok / len(x)


def test_classes_are_told_apart_by_poses_and_by_video(ntu_ds):
    import cv2

    pose_f, video_f, labels = [], [], []
    for name, label in zip(ntu_ds.names, ntu_ds.labels):
        if name in ntu_ds.missing:
            continue
        sk = ntu.read_skeleton(ntu_ds.pose_dir / f"{name}.skeleton")
        x = sk.joints[sk.present[:, 0], 0, :, :3]
        x = x - x[:, :1]
        pose_f.append(np.concatenate([x.std(0).ravel(), np.ptp(x, axis=0).ravel()]))
        labels.append(label)
    assert _nearest_centroid_loo(np.array(pose_f), np.array(labels)) > 0.9  # chance: 0.125
    labels = []
    for name, label in zip(ntu_ds.names, ntu_ds.labels):
        if ntu.parse_name(name).replication > 1 or ntu.parse_name(name).performer > 6:
            continue  # 4 clips per class are enough here, and decoding is the slow part
        v = open_video(ntu_ds.video_dir / f"{name}_rgb.avi")
        grey = v.read(np.arange(v.num_frames)).astype(np.float32).mean(-1)
        energy = np.abs(np.diff(grey, axis=0)).mean(0)  # where and how much the picture moves
        ys, xs = np.nonzero(energy > 0.2 * energy.max())
        pad = np.pad(energy, 60)[int(ys.mean()):int(ys.mean()) + 120, int(xs.mean()):int(xs.mean()) + 120]
        video_f.append(cv2.resize(pad, (12, 12), interpolation=cv2.INTER_AREA).ravel())
        labels.append(label)
    assert _nearest_centroid_loo(np.array(video_f), np.array(labels)) > 0.5


def test_smarthome_dataset(tmp_path):
    ds = synthetic.make_smarthome(tmp_path, num_classes=4, per_class=6, frames=30, empty_frames=1.0, bystander=1.0)
    assert len(ds.names) == 24 and ds.class_names == smarthome.class_names("cv2")[:4]
    assert ds.labels[0] == smarthome.class_names("cs").index(ds.class_names[0])
    files = sorted(p.name for p in ds.split_dir.iterdir())
    assert files == sorted(f"{s}_{p}.txt" for s in ("train", "validation", "test") for p in ("CS", "CV1", "CV2"))
    for prot in ("cs", "cv1", "cv2"):
        sets = [set(smarthome.read_split(ds.split_dir, prot, s)) for s in ("train", "validation", "test")]
        assert all(sets) and not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
        r = smarthome.records(video_dir=ds.video_dir, pose_dir=ds.pose_dir, split_dir=ds.split_dir,
                              protocol=prot, split="train")
        assert not r.skipped and ({x.label for x in r} == set(range(4)) if prot == "cv2" else len(r) > 0)
    name = ds.names[1]
    doc = json.loads((ds.pose_dir / f"{name}_pose3d.json").read_text())
    assert doc["njts"] == 13 and doc["frames"][0] == [] and len(doc["frames"][-1][0]["pose3d"]) == 39
    seq = smarthome.read_poses(ds.pose_dir / f"{name}_pose3d.json")
    assert seq.num_bodies == 2 and not seq.present[0].any()
    head, ankle = 12, 0
    t = seq.num_frames - 1
    assert (seq.xyz[t, :, head, 1] > seq.xyz[t, :, ankle, 1] + 1.0).all()  # y up after the flip
    # linked over frames although the detections come shuffled: each slot moves smoothly
    jumps = np.nanmax(np.abs(np.diff(seq.uv[..., 0].mean(-1), axis=0)))
    assert jumps < 15
    video = open_video(ds.video_dir / f"{name}.mp4")
    assert video.num_frames == seq.num_frames and video.size == (320, 240)
    frame = video.read([t])[0]
    subject = smarthome.parse_name(name).subject
    dot = tuple(int(c * 0.5) for c in synthetic._PALETTE[subject % len(synthetic._PALETTE)])
    actor = int(np.argmax(np.nanstd(seq.uv[..., 0], axis=0).sum(-1)))
    assert _near(frame, seq.uv[t, actor], dot).mean() > 0.8


def test_nucla_dataset(tmp_path):
    ds = synthetic.make_nucla(tmp_path, num_classes=10, per_class=3, frames=20)
    assert len(ds.names) == 30
    train = nucla.records(video_dir=ds.video_dir, pose_dir=ds.pose_dir, split="train")
    test = nucla.records(video_dir=ds.video_dir, pose_dir=ds.pose_dir, split="test")
    assert (len(train), len(test)) == (20, 10) and not train.skipped
    assert {nucla.parse_name(r.name).view for r in test} == {3}
    r = test[4]
    doc = json.loads(Path(r.poses).read_text())
    assert doc["label"] == r.label + 1 and np.asarray(doc["skeletons"]).shape[1:] == (20, 3)
    seq = nucla.read_poses(r.poses)
    video = open_video(r.video)
    assert video.info().codec == "mpeg4" and video.num_frames == seq.num_frames
    frame = video.read([5])[0]
    uv = seq.uv[5, 0] * np.array([320 / 640, 240 / 480])
    dot = tuple(int(c * 0.5) for c in synthetic._PALETTE[nucla.parse_name(r.name).subject % 8])
    assert _near(frame, uv, dot).mean() > 0.8


def test_custom_dataset(tmp_path):
    ds = synthetic.make_custom(tmp_path, num_classes=3, per_class=4, frames=20)
    assert custom.class_names(ds.manifest) == list(synthetic.MOTIONS[:3])
    train = custom.records(manifest=ds.manifest, split="train")
    test = custom.records(manifest=ds.manifest, split="test")
    assert (len(train), len(test)) == (9, 3) and not train.skipped
    r = test[0]
    seq = custom.read_poses(r.poses)
    assert seq.layout == "ntu25" and seq.image_size == (320, 240)
    frame = open_video(r.video).read([3])[0]
    dot = tuple(int(c * 0.5) for c in synthetic._PALETTE[r.subject % 8])
    assert _near(frame, seq.uv[3, 0], dot).mean() > 0.8


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="even"):
        synthetic.make_ntu(tmp_path, size=(321, 180))
    with pytest.raises(ValueError, match="60 classes"):
        synthetic.make_ntu(tmp_path, num_classes=61)
    with pytest.raises(ValueError, match="num_classes"):
        synthetic.make_smarthome(tmp_path, num_classes=20)

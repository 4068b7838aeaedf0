"""vpnet-ADL: the procedural dataset in the NTU RGB+D format (``vpnet.data.adl``): files as the release
ships them, poses the NTU reader reads (metres, colorX/colorY where the figures are drawn), the NTU-60
protocols, deterministic, resumable and atomic generation, and the inputs it refuses."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vpnet.config import DataConfig
from vpnet.data import adl, ntu
from vpnet.data._readers import project
from vpnet.data.adl import ADL, CLASSES, ADLSpec, _sample_names, make_adl
from vpnet.data.registry import get_dataset
from vpnet.data.synthetic import NTU_COLOR, NTU_DEPTH
from vpnet.data.video import open_video
from vpnet.errors import ConfigError, OutputError

#: 14 classes x 3: every class has a train and a test sample under cs and under cv.
SPEC = ADLSpec(per_class=3, size=(160, 90), frames=12)
TOTAL = SPEC.classes * SPEC.per_class
CS_TRAIN, CS_TEST = {1, 2, 4, 5, 8, 9}, {3, 6, 7}


@pytest.fixture(scope="module")
def adl_ds(tmp_path_factory):
    """SPEC generated once (36 samples, under a second on one core); tests that change files use a copy."""
    return make_adl(tmp_path_factory.mktemp("adl") / "data", SPEC)


def _files(root: Path) -> dict[str, Path]:
    """Every file under ``root`` (hidden ones too: a leftover temporary file shows), by relative path."""
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def _same_video(a: Path, b: Path) -> bool:
    """The same frames, up to the encoder: libx264 (PyAV 18) does not always give the same bytes for the
    same frames, even with one thread; two encodes then differ by < 0.5 grey levels on average (two
    different samples by ~45)."""
    if a.read_bytes() == b.read_bytes():
        return True
    va, vb = open_video(a, threads=1), open_video(b, threads=1)
    if va.num_frames != vb.num_frames or va.size != vb.size:
        return False
    fa, fb = va.read(np.arange(va.num_frames)), vb.read(np.arange(vb.num_frames))
    return float(np.abs(fa.astype(np.int16) - fb).mean()) < 1.5


def _differences(a: Path, b: Path) -> list[str]:
    """Relative paths present in only one of the two folders, or with other contents: other bytes (skeletons,
    spec.json), other frames (videos)."""
    fa, fb = _files(a), _files(b)
    return sorted(set(fa) ^ set(fb)) + [
        k for k in sorted(set(fa) & set(fb))
        if not (_same_video(fa[k], fb[k]) if k.endswith(".avi") else fa[k].read_bytes() == fb[k].read_bytes())]


def _copy(data, dst: Path) -> Path:
    return Path(shutil.copytree(data.root, dst))


def _cfg(root: Path, protocol: str) -> DataConfig:
    return DataConfig(dataset="adl", protocol=protocol, video_dir=str(root / "nturgb+d_rgb"),
                      pose_dir=str(root / "nturgb+d_skeletons"))


def _hidden(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*"))


# ---------------------------------------------------------------------------------------------
# sample names (no rendering)


@pytest.mark.parametrize("per_class", [1, 3, 9, 27, 54])
def test_sample_names_are_unique_ntu_names_with_their_labels(per_class):
    spec = ADLSpec(per_class=per_class)
    samples = _sample_names(spec)
    names = [n for n, _ in samples]
    assert len(samples) == len(CLASSES) * per_class
    assert len(set(names)) == len(names)
    for name, label in samples:
        parts = ntu.parse_name(name)  # DataError if off the SsssCcccPpppRrrrAaaa scheme
        assert str(parts) == name
        assert parts.label == label and 0 <= label < len(CLASSES)
        assert parts.camera in (1, 2, 3) and parts.performer in CS_TRAIN | CS_TEST and parts.setup in (1, 2)
    assert [lab for _, lab in samples] == [k for k in range(len(CLASSES)) for _ in range(per_class)]
    if per_class >= 3:  # both protocols have train and test samples of every class
        for label in range(len(CLASSES)):
            parts = [ntu.parse_name(n) for n, lab in samples if lab == label]
            assert {p.performer in CS_TRAIN for p in parts} == {True, False}, label
            assert {p.camera == 1 for p in parts} == {True, False}, label
    if per_class == 27:  # the demo's "small" size: every performer meets every camera once per class
        for label in range(len(CLASSES)):
            assert len({(ntu.parse_name(n).performer, ntu.parse_name(n).camera)
                        for n, lab in samples if lab == label}) == 27


def test_fewer_classes_take_the_first_ones():
    samples = _sample_names(ADLSpec(per_class=2, classes=4))
    assert [lab for _, lab in samples] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert ADLSpec(per_class=2).key() == ADLSpec(per_class=2).key() != ADLSpec(per_class=3).key()
    assert re.fullmatch(r"[0-9a-f]{10}", ADLSpec().key())


# ---------------------------------------------------------------------------------------------
# files


def test_files_follow_the_ntu_release(adl_ds):
    assert adl_ds.generated == TOTAL
    assert adl_ds.video_dir == adl_ds.root / "nturgb+d_rgb" and adl_ds.pose_dir == adl_ds.root / "nturgb+d_skeletons"
    assert adl_ds.class_names == [c.name for c in CLASSES] and len(adl_ds.class_names) == len(CLASSES) == 14
    assert (adl_ds.names, adl_ds.labels) == tuple(map(list, zip(*_sample_names(SPEC))))
    videos = sorted(p.name for p in adl_ds.video_dir.iterdir())
    skeletons = sorted(p.name for p in adl_ds.pose_dir.iterdir())
    assert videos == sorted(f"{n}_rgb.avi" for n in adl_ds.names)
    assert skeletons == sorted(f"{n}.skeleton" for n in adl_ds.names)
    assert len(set(adl_ds.names)) == TOTAL
    for name, label in zip(adl_ds.names, adl_ds.labels):
        assert ntu.parse_name(name).action - 1 == label < len(CLASSES)
    assert {lab: adl_ds.labels.count(lab) for lab in set(adl_ds.labels)} == {k: 3 for k in range(len(CLASSES))}
    assert json.loads((adl_ds.root / "spec.json").read_text()) == json.loads(json.dumps(asdict(SPEC)))
    assert sorted(p.name for p in adl_ds.root.iterdir()) == ["annotations", "nturgb+d_rgb", "nturgb+d_skeletons",
                                                             "spec.json"]
    assert sorted(p.name for p in adl_ds.annotation_dir.iterdir()) == sorted(f"{n}.json" for n in adl_ds.names)
    # the release's text layout: CRLF, one body with a 17-digit id, 25 joints of 12 values
    raw = (adl_ds.pose_dir / f"{adl_ds.names[0]}.skeleton").read_bytes()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")
    assert lines[1] == b"1" and len(lines[2].split()) == 10 and len(lines[2].split()[0]) == 17
    assert lines[3] == b"25" and len(lines[4].split()) == 12


def test_ntu_reader_reads_every_skeleton_in_metres_matching_the_video(adl_ds):
    states = []
    for name in adl_ds.names:
        sk = ntu.read_skeleton(adl_ds.pose_dir / f"{name}.skeleton", dtype=np.float64)
        video = open_video(adl_ds.video_dir / f"{name}_rgb.avi", threads=1)
        assert sk.num_bodies == 1 and sk.present.all() and sk.joints.shape[2] == 25
        assert video.num_frames == sk.num_frames, name
        assert 11 <= sk.num_frames <= 13  # frames=12, +-10 %
        assert video.size == SPEC.size and video.fps == pytest.approx(SPEC.fps)
        j = sk.joints[:, 0]
        xyz = j[..., :3]
        # metres: a person about 1.5 m tall (first frame: at rest), 2-5 m in front of the camera
        height = np.linalg.norm(xyz[0, adl._J["head"]] - (xyz[0, adl._J["ankle_l"]] + xyz[0, adl._J["ankle_r"]]) / 2)
        assert 1.2 < height < 2.2, (name, height)
        assert 2.0 < xyz[..., 2].min() and xyz[..., 2].max() < 5.0, name
        # colorX/colorY and depthX/depthY: the Kinect's pinhole projections of the joints as written
        assert np.abs(j[..., 5:7] - project(xyz, NTU_COLOR)).max() < 5e-3, name
        assert np.abs(j[..., 3:5] - project(xyz, NTU_DEPTH)).max() < 5e-3, name
        u, v = j[..., 5], j[..., 6]
        upper = [adl._J[k] for k in ("head", "neck", "spine_shoulder", "spine_mid", "spine_base")]
        assert (u[:, upper] > 0).all() and (u[:, upper] < 1920).all(), name
        assert (v[:, upper] > 0).all() and (v[:, upper] < 1080).all(), name
        states.append(j[..., 11])
        seq = ADL.read_poses(adl_ds.pose_dir / f"{name}.skeleton")
        assert seq.layout == "ntu25" and seq.image_size == (1920, 1080)
        assert np.array_equal(seq.uv[:, 0], j[..., 5:7].astype(np.float32))
    states = np.concatenate([s.ravel() for s in states])
    assert set(np.unique(states).tolist()) == {1.0, 2.0}
    assert 0.002 < (states == 1).mean() < 0.05  # about 1 % inferred, most tracked


def test_2d_joints_are_where_the_figures_are_drawn(adl_ds):
    """The torso centre, scaled from 1920x1080 to the video, lands on the performer's shirt (its colour,
    or its shaded rim); a quarter of the frame away it does not."""
    w, h = SPEC.size
    torso = [adl._J[k] for k in ("spine_mid", "spine_base", "shoulder_l", "shoulder_r")]
    on, off = [], []
    for name in adl_ds.names:
        uv = ntu.read_skeleton(adl_ds.pose_dir / f"{name}.skeleton", dtype=np.float64).joints[:, 0, torso, 5:7]
        video = open_video(adl_ds.video_dir / f"{name}_rgb.avi", threads=1)
        frames = video.read(np.arange(video.num_frames)).astype(np.float64)
        shirt = np.asarray(adl._look(ntu.parse_name(name).performer).shirt, np.float64)
        for t, frame in enumerate(frames):
            cx, cy = uv[t].mean(0) * np.array([w / 1920, h / 1080])
            for dx, hits in ((0, on), (w // 4, off)):
                x, y = (int(round(cx)) + dx) % w, int(round(cy))
                patch = frame[max(0, y - 1):y + 2, max(0, x - 1):x + 2].reshape(-1, 3)
                hits.append(min(np.abs(patch - c).max(-1).min() for c in (shirt, 0.8 * shirt)) < 30)
    assert np.mean(on) > 0.8 and np.mean(off) < 0.3, (np.mean(on), np.mean(off))


def test_whole_body_in_the_colour_frame(adl_ds):
    for name in adl_ds.names:
        j = ntu.read_skeleton(adl_ds.pose_dir / f"{name}.skeleton", dtype=np.float64).joints[:, 0]
        assert (j[..., 5] >= 0).all() and (j[..., 5] < 1920).all(), name
        assert (j[..., 6] >= 0).all() and (j[..., 6] < 1080).all(), name


# ---------------------------------------------------------------------------------------------
# ground truth of where the action is


def _truth(adl_ds, name):
    return json.loads((adl_ds.annotation_dir / f"{name}.json").read_text())


def test_acting_side_alternates_within_every_class_and_camera():
    sides = adl.acting_sides(ADLSpec(per_class=27))
    count: dict = {}
    for name, side in sides.items():
        parts = ntu.parse_name(name)
        count.setdefault((parts.action, parts.camera), []).append(side)
    assert len(count) == 14 * 3
    for key, got in count.items():
        assert abs(got.count("r") - got.count("l")) <= 3, key  # 9 per class and camera: 4-5 or 3-6


def test_ground_truth_boxes_hold_the_hands_and_their_objects(adl_ds):
    """Per frame, the acting box holds the acting hand's 2D joints and the decoy box the other hand's;
    the boxes differ in their object's colour: the used object's colour is in the acting box."""
    w, h = SPEC.size
    for name, label in zip(adl_ds.names, adl_ds.labels):
        truth, cls = _truth(adl_ds, name), CLASSES[label]
        assert truth["class"] == cls.name and truth["size"] == [w, h] and truth["acting_side"] in ("l", "r")
        if cls.kind != "object":
            assert "acting" not in truth
            continue
        assert truth["objects"] == {"acting": cls.used, "decoy": cls.held}
        uv = ntu.read_skeleton(adl_ds.pose_dir / f"{name}.skeleton", dtype=np.float64).joints[:, 0, :, 5:7]
        uv = uv * np.array([w / 1920, h / 1080])
        acting, decoy = np.array(truth["acting"]), np.array(truth["decoy"])
        assert acting.shape == decoy.shape == (len(uv), 4)
        other = "l" if truth["acting_side"] == "r" else "r"
        for boxes, side in ((acting, truth["acting_side"]), (decoy, other)):
            hand = uv[:, adl._J[f"hand_{side}"]]  # the file's joints carry Kinect-like noise: a pixel of slack
            assert ((hand >= boxes[:, :2] - 2) & (hand <= boxes[:, 2:] + 2)).all(), name
            assert (boxes[:, 2:] > boxes[:, :2]).all()


def test_object_pairs_are_symmetric_in_the_image(adl_ds):
    """Over a class's clips the used object is left of the decoy about as often as right of it: no
    fixed image region holds it (per class at per_class=3: 1 or 2 of 3)."""
    for label, cls in enumerate(CLASSES):
        if cls.kind != "object":
            continue
        left = []
        for name in [n for n, lab in zip(adl_ds.names, adl_ds.labels) if lab == label]:
            truth = _truth(adl_ds, name)
            a, d = np.array(truth["acting"]), np.array(truth["decoy"])
            left.append(float(((a[:, 0] + a[:, 2]) < (d[:, 0] + d[:, 2])).mean() > 0.5))
        assert 0 < sum(left) < len(left), cls.name


@pytest.mark.parametrize("side", ["l", "r"])
def test_only_the_acting_hand_uses_its_object(side):
    """Both hands rise to mirrored places; once up (from half to 70 % of the clip), the acting wrist moves
    (its use of the object) several times more than the decoy's, which holds still."""
    body = adl._body(adl._look(1))
    other = "l" if side == "r" else "r"
    for cls in CLASSES:
        if cls.kind != "object":
            continue
        xyz = adl._animate(cls, body, 60, side, np.random.default_rng(0))
        mid = slice(30, 42)
        spread = {s: xyz[mid, adl._J[f"wrist_{s}"]].std(0).max() for s in (side, other)}
        assert spread[side] > 3 * spread[other], (cls.name, spread)
        # mirrored heights: the two wrists are up together, within a few centimetres of each other
        wrists = xyz[mid][:, [adl._J["wrist_l"], adl._J["wrist_r"]]]
        assert np.abs(wrists[:, 0, 1] - wrists[:, 1, 1]).max() < 0.12, cls.name


# ---------------------------------------------------------------------------------------------
# protocols


@pytest.mark.parametrize("protocol", ["cs", "cv"])
def test_ntu60_protocols_split_by_performer_and_camera(adl_ds, protocol):
    assert get_dataset("adl") is ADL and ADL.layout == "ntu25"
    assert ADL.class_names(_cfg(adl_ds.root, protocol)) == [
        "drink from cup", "drink from bottle", "phone call", "comb hair", "read book", "use tablet",
        "wipe face with towel", "fan oneself", "use remote control", "shine a torch",
        "bow", "lean back", "kick forward", "kick backward"]
    split = {}
    for part in ("train", "test"):
        recs = ADL.records(_cfg(adl_ds.root, protocol), part)
        assert recs.skipped == []
        for r in recs:
            parts = ntu.parse_name(r.name)
            assert r.label == parts.action - 1 and r.subject == parts.performer and r.camera == parts.camera
            assert r.video == str(adl_ds.video_dir / f"{r.name}_rgb.avi")
            assert r.poses == str(adl_ds.pose_dir / f"{r.name}.skeleton")
        assert {r.label for r in recs} == set(range(len(CLASSES))), part  # every class on both sides
        split[part] = recs
    if protocol == "cs":  # per_class=3: performers 1, 3, 2 (PERFORMERS' order)
        assert {r.subject for r in split["train"]} == {1, 2} and {r.subject for r in split["test"]} == {3}
        assert {r.subject for r in split["train"]} <= CS_TRAIN and {r.subject for r in split["test"]} <= CS_TEST
    else:
        assert {r.camera for r in split["train"]} == {2, 3}
        assert {r.camera for r in split["test"]} == {1}
    assert sorted(r.name for part in split.values() for r in part) == sorted(adl_ds.names)
    assert len(ADL.records(_cfg(adl_ds.root, protocol), "all")) == TOTAL


def test_ntu120_protocols_are_refused(adl_ds):
    with pytest.raises(ConfigError, match="csub"):
        ADL.records(_cfg(adl_ds.root, "csub"), "train")


def test_records_skip_ntu_files_of_other_actions(adl_ds, tmp_path):
    root = _copy(adl_ds, tmp_path / "d")
    src, extra = adl_ds.names[0], "S001C001P001R001A050"  # performer 1: cs train
    assert ntu.parse_name(src).performer == 1
    shutil.copy(root / "nturgb+d_rgb" / f"{src}_rgb.avi", root / "nturgb+d_rgb" / f"{extra}_rgb.avi")
    shutil.copy(root / "nturgb+d_skeletons" / f"{src}.skeleton", root / "nturgb+d_skeletons" / f"{extra}.skeleton")
    cfg = _cfg(root, "cs")
    recs = ADL.records(cfg, "train")
    assert sorted(r.name for r in recs) == sorted(r.name for r in ADL.records(_cfg(adl_ds.root, "cs"), "train"))
    assert [s.name for s in recs.skipped] == [extra]
    assert "A050" in recs.skipped[0].reason and f"{len(CLASSES)} vpnet-ADL classes" in recs.skipped[0].reason
    everything = ADL.records(cfg, "all")
    assert len(everything) == TOTAL and [s.name for s in everything.skipped] == [extra]
    assert ADL.records(cfg, "test").skipped == []  # another split's file is not reported there


# ---------------------------------------------------------------------------------------------
# deterministic, resumable, atomic


def test_same_spec_gives_the_same_files(adl_ds, tmp_path):
    calls = []
    again = make_adl(tmp_path / "again", SPEC, progress=calls.append)
    assert again.generated == TOTAL and calls == list(range(1, TOTAL + 1))
    assert _differences(adl_ds.root, again.root) == []
    skeletons = sorted(adl_ds.pose_dir.iterdir())
    assert [p.read_bytes() for p in skeletons] == [(again.pose_dir / p.name).read_bytes() for p in skeletons]


def test_parallel_workers_write_the_same_files(adl_ds, tmp_path):
    calls = []
    par = make_adl(tmp_path / "par", SPEC, workers=2, progress=calls.append)
    assert par.generated == TOTAL and calls == list(range(1, TOTAL + 1))
    assert _differences(adl_ds.root, par.root) == []


def test_the_seed_changes_the_data(adl_ds, tmp_path):
    spec = ADLSpec(per_class=1, classes=2, size=SPEC.size, frames=SPEC.frames, seed=1)
    other = make_adl(tmp_path / "seed1", spec)
    assert other.names == [adl_ds.names[0], adl_ds.names[SPEC.per_class]]  # same names, other content
    for name in other.names:
        skeleton = f"nturgb+d_skeletons/{name}.skeleton"
        assert (other.root / skeleton).read_bytes() != (adl_ds.root / skeleton).read_bytes()
        video = f"nturgb+d_rgb/{name}_rgb.avi"
        assert not _same_video(other.root / video, adl_ds.root / video)


def test_complete_dataset_is_kept_as_is(adl_ds):
    before = {k: p.stat().st_mtime_ns for k, p in _files(adl_ds.root).items()}
    calls = []
    again = make_adl(adl_ds.root, SPEC, progress=calls.append)
    assert again.generated == 0 and calls == []
    assert again.names == adl_ds.names and again.labels == adl_ds.labels
    assert {k: p.stat().st_mtime_ns for k, p in _files(adl_ds.root).items()} == before


def test_rerun_writes_only_what_is_missing_and_drops_partial_files(adl_ds, tmp_path):
    root = _copy(adl_ds, tmp_path / "d")
    videos, poses = root / "nturgb+d_rgb", root / "nturgb+d_skeletons"
    no_video, no_pose, stale, kept = adl_ds.names[0], adl_ds.names[5], adl_ds.names[10], adl_ds.names[20]
    (videos / f"{no_video}_rgb.avi").unlink()
    (poses / f"{no_pose}.skeleton").unlink()
    # what a killed run leaves: the deleted video half-written under its temporary name, a stale one
    (videos / f".{no_video}_rgb.partial.avi").write_bytes((adl_ds.video_dir / f"{no_video}_rgb.avi").read_bytes()[:700])
    (videos / f".{stale}_rgb.partial.avi").write_bytes(b"RIFF\x00\x01garbage")
    mtime = (videos / f"{kept}_rgb.avi").stat().st_mtime_ns
    calls = []
    out = make_adl(root, SPEC, progress=calls.append)
    assert out.generated == 2 and calls == [1, 2]
    assert _hidden(root) == []
    assert _differences(adl_ds.root, root) == []  # the same files as the first run
    assert (videos / f"{kept}_rgb.avi").stat().st_mtime_ns == mtime  # complete files are not rewritten


def test_damaged_samples_and_spec_are_generated_again(adl_ds, tmp_path):
    """Issue 22: a truncated video or skeleton in the cache is generated again (not prepared as is); a damaged
    spec.json is not "made with other settings": the folder is generated again."""
    root = _copy(adl_ds, tmp_path / "d")
    videos, poses = root / "nturgb+d_rgb", root / "nturgb+d_skeletons"
    cut_video, cut_pose = adl_ds.names[1], adl_ds.names[2]
    data = (videos / f"{cut_video}_rgb.avi").read_bytes()
    (videos / f"{cut_video}_rgb.avi").write_bytes(data[: len(data) // 2])
    text = (poses / f"{cut_pose}.skeleton").read_text()
    (poses / f"{cut_pose}.skeleton").write_text(text[: len(text) // 2])
    assert make_adl(root, SPEC).generated == 2
    assert _differences(adl_ds.root, root) == []
    (root / "spec.json").write_text('{"classes": 2')
    assert make_adl(root, SPEC).generated == len(adl_ds.names)
    assert _differences(adl_ds.root, root) == []


class _Crash(BaseException):
    """Stands for Ctrl-C or a killed worker: not an Exception, so no ``except Exception`` hides it."""


def test_interrupted_run_leaves_only_complete_files_and_resumes(adl_ds, tmp_path, monkeypatch):
    root = tmp_path / "d"
    real = adl.write_video
    done = []

    def crash_after_5(path, frames, **kw):
        if len(done) == 5:  # the 6th video: 3 of its frames written, then the run is interrupted
            it = iter(frames)
            real(path, [next(it) for _ in range(3)], **kw)
            raise _Crash
        done.append(Path(path))
        return real(path, frames, **kw)

    calls = []
    with monkeypatch.context() as m:
        m.setattr(adl, "write_video", crash_after_5)
        with pytest.raises(_Crash):
            make_adl(root, SPEC, progress=calls.append)
    assert calls == [1, 2, 3, 4, 5]
    assert all(p.name.startswith(".") and ".partial" in p.name for p in done)  # written under a temporary name
    videos, poses = root / "nturgb+d_rgb", root / "nturgb+d_skeletons"
    assert _hidden(root) == []  # the temporary files are gone
    assert sorted(p.name for p in videos.iterdir()) == sorted(f"{n}_rgb.avi" for n in adl_ds.names[:5])
    # the 6th sample's skeleton may be there (written atomically before its video): complete, but unpaired
    present = sorted(p.name[:-len(".skeleton")] for p in poses.iterdir())
    assert present in (sorted(adl_ds.names[:5]), sorted(adl_ds.names[:6]))
    for name in present:
        sk = ntu.read_skeleton(poses / f"{name}.skeleton")
        assert (poses / f"{name}.skeleton").read_bytes() == (adl_ds.pose_dir / f"{name}.skeleton").read_bytes()
        if name in adl_ds.names[:5]:
            video = open_video(videos / f"{name}_rgb.avi", threads=1)
            assert video.num_frames == sk.num_frames
            assert video.read(np.arange(video.num_frames)).shape == (sk.num_frames, 90, 160, 3)
    recs = ADL.records(_cfg(root, "cs"), "all")
    assert sorted(r.name for r in recs) == sorted(adl_ds.names[:5])
    assert [s.name for s in recs.skipped] == adl_ds.names[5:len(present)]
    # resumed: the rest, and the same dataset as an uninterrupted run
    out = make_adl(root, SPEC)
    assert out.generated == TOTAL - 5
    assert _differences(adl_ds.root, root) == []


# ---------------------------------------------------------------------------------------------
# refused inputs


def test_folder_made_with_another_spec_is_refused(adl_ds, tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    shutil.copy(adl_ds.root / "spec.json", root / "spec.json")
    before = (root / "spec.json").read_bytes()
    with pytest.raises(ConfigError) as e:
        make_adl(root, ADLSpec(per_class=2, size=SPEC.size, frames=SPEC.frames))
    assert str(root) in str(e.value) and "other settings" in str(e.value)
    assert sorted(os.listdir(root)) == ["spec.json"] and (root / "spec.json").read_bytes() == before


@pytest.mark.parametrize("how", ["file", "proc", "chmod"])
def test_unwritable_root_is_refused(tmp_path, how):
    if how == "file":
        root = tmp_path / "a-file"
        root.write_text("not a folder")
    elif how == "proc":
        if not sys.platform.startswith("linux"):
            pytest.skip("/proc is Linux's")
        root = Path("/proc") / "vpnet-adl-test"  # not writable, even for root
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        root = locked / "adl"
    try:
        with pytest.raises(OutputError) as e:
            make_adl(root, SPEC)
    finally:
        if how == "chmod":
            (tmp_path / "locked").chmod(0o700)
    assert str(root) in str(e.value)
    if how == "file":
        assert root.read_text() == "not a folder"


def test_too_little_disk_is_refused_before_writing(adl_ds, tmp_path, monkeypatch):
    free = 200_000  # bytes: enough for one 160x90 video, not for 36
    monkeypatch.setattr("vpnet.data.adl.shutil.disk_usage", lambda p: SimpleNamespace(total=10**12, used=0, free=free))
    root = tmp_path / "d"
    with pytest.raises(OutputError) as e:
        make_adl(root, SPEC)
    msg = str(e.value)
    assert str(root) in msg and f"{TOTAL} videos" in msg
    needed = re.search(r"needs about (\d+) MB", msg)
    assert needed, msg
    real = sum(p.stat().st_size for p in _files(adl_ds.root).values())
    assert int(needed.group(1)) + 0.5 >= real / 1e6  # the estimate covers what the files really take
    assert list(root.rglob("*")) == []  # no video, no skeleton, no spec.json
    # a nearly complete folder needs only the missing sample's space
    part = _copy(adl_ds, tmp_path / "part")
    (part / "nturgb+d_rgb" / f"{adl_ds.names[7]}_rgb.avi").unlink()
    assert make_adl(part, SPEC).generated == 1
    assert _differences(adl_ds.root, part) == []


@pytest.mark.parametrize("kw", [dict(classes=1), dict(classes=len(CLASSES) + 1), dict(per_class=0), dict(frames=0),
                                dict(fps=0.0), dict(size=(161, 91)), dict(size=(160, 100)), dict(size=(32, 18))])
def test_impossible_specs_are_refused(tmp_path, kw):
    root = tmp_path / "d"
    with pytest.raises(ConfigError, match="classes|per_class|frames|fps|size"):
        make_adl(root, ADLSpec(**{"size": SPEC.size, "frames": SPEC.frames, **kw}))
    assert not root.exists()


def test_validation_protocol_is_carved_from_the_training_performers(adl_ds):
    cfg = DataConfig(dataset="adl", protocol="cs", video_dir=str(adl_ds.video_dir), pose_dir=str(adl_ds.pose_dir),
                     missing_list=None)
    cs_train = {r.name for r in ADL.records(cfg, "train")}
    cs_test = {r.name for r in ADL.records(cfg, "test")}
    val = dataclasses.replace(cfg, protocol="csval")
    train, test = {r.name for r in ADL.records(val, "train")}, {r.name for r in ADL.records(val, "test")}
    assert train | test == cs_train and not train & test and not (train | test) & cs_test
    assert test and {ntu.parse_name(n).performer for n in test} <= set(adl.VALIDATION_PERFORMERS)  # 3 per class: 2
    assert "csval" in ADL.protocols

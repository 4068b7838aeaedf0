"""NTU RGB+D: .skeleton reader, names, protocols, records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vpnet.data import ntu
from vpnet.data.synthetic import random_skeleton_text as skeleton_text
from vpnet.data.types import DataError

REAL = "S001C001P001R001A001"


@pytest.fixture(params=["c", "numpy"])
def reader(request, monkeypatch):
    """Run a test with the C reader (``vpnet.data._skeleton``) and again with the numpy reader."""
    if request.param == "numpy":
        monkeypatch.setattr(ntu, "_fast_parse", None)
    elif ntu._fast_parse is None:
        pytest.fail("the C skeleton reader is not built (pip install -e . printed why; a C compiler is needed)")
    return request.param


def write(tmp_path: Path, text: str, name: str = "S001C001P001R001A001.skeleton") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("ascii") if isinstance(text, str) else text)
    return p


# ---------------------------------------------------------------------------------------------
# real files


def test_real_parse_reproduces_authors_npy_exactly(shared_data, reader):
    ref = np.load(shared_data / "ntu" / f"{REAL}.skeleton.npy", allow_pickle=True).item()
    sk64 = ntu.read_skeleton(shared_data / "ntu" / "skeletons" / f"{REAL}.skeleton", dtype=np.float64)
    assert sk64.joints.shape == (103, 1, 25, 12)
    assert sk64.body_ids == ("72057594037931101",)
    assert sk64.present.all()
    assert np.array_equal(sk64.joints[:, 0, :, :3], ref["skel_body0"])  # bit-exact
    assert list(sk64.present.sum(axis=1)) == list(ref["nbodys"])
    sk32 = ntu.read_skeleton(shared_data / "ntu" / "skeletons" / f"{REAL}.skeleton")
    assert sk32.joints.dtype == np.float32
    assert np.array_equal(sk32.joints[:, 0, :, :3], ref["skel_body0"].astype(np.float32))
    # the first body line and joint line as in the file
    assert sk64.bodies[0, 0, 1:].tolist() == [0, 1, 1, 1, 1, 0, 0.02764709, 0.05745083, 2]
    assert sk64.joints[0, 0, 0].tolist() == [0.2181153, 0.1725972, 3.785547, 277.419, 191.8218, 1036.233,
                                             519.1677, -0.2059419, 0.05349901, 0.9692109, -0.1239193, 2]


def test_real_two_body_file(shared_data, reader):
    sk = ntu.read_skeleton(shared_data / "ntu" / "skeletons" / "S001C003P008R002A058.skeleton")
    assert sk.joints.shape == (70, 2, 25, 12)
    assert sk.body_ids == ("72057594037944738", "72057594037944734")
    assert sk.present.all()
    assert np.isfinite(sk.joints).all()
    # two different people ~1 m apart, both tracked
    gap = np.linalg.norm(sk.joints[:, 0, 0, :3] - sk.joints[:, 1, 0, :3], axis=-1)
    assert (gap > 0.3).all()
    seq = sk.to_pose_sequence()
    assert seq.xyz.shape == (70, 2, 25, 3) and seq.uv.shape == (70, 2, 25, 2)
    assert seq.layout == "ntu25" and seq.image_size == (1920, 1080)
    assert np.array_equal(seq.uv, sk.joints[..., 5:7])


def test_real_class_names_match_label_maps(shared_data):
    for version in (60, 120):
        ref = (shared_data / "ntu" / f"label_map_ntu{version}.txt").read_text().splitlines()
        assert ntu.class_names(version) == [s.strip() for s in ref if s.strip()]
    assert ntu.class_names(60)[0] == "drink water"
    assert len(ntu.class_names(120)) == 120


@pytest.mark.parametrize("version,protocol,train,test", [
    (60, "cs", 40091, 16487), (60, "cv", 37646, 18932),
    (120, "csub", 63026, 50919), (120, "cset", 54468, 59477)])
def test_real_protocol_counts(shared_data, version, protocol, train, test):
    names = (shared_data / "ntu" / f"statistics_ntu{version}" / "skes_available_name.txt").read_text().split()
    tr, te = ntu.split_names(names, version=version, protocol=protocol)
    assert (len(tr), len(te)) == (train, test)


def test_real_missing_lists(shared_data):
    m60 = ntu.read_missing_list(shared_data / "ntu" / "NTU_RGBD_samples_with_missing_skeletons.txt")
    m120 = ntu.read_missing_list(shared_data / "ntu" / "NTU_RGBD120_samples_with_missing_skeletons.txt")
    assert (len(m60), len(m120)) == (302, 535)
    assert m60 <= m120
    available = set((shared_data / "ntu" / "statistics_ntu120" / "skes_available_name.txt").read_text().split())
    assert not (m120 & available)  # the statistics lists already exclude them


# ---------------------------------------------------------------------------------------------
# generated files (always run)


def test_generated_bodies_appear_vanish_and_keep_slots(tmp_path, reader):
    a, b, c = "72057594037931101", "72057594037931102", "72057594037931103"
    frames = [[a], [a, b], [b, a], [], [b], [c, b]]
    p = write(tmp_path, skeleton_text(frames))
    sk = ntu.read_skeleton(p, dtype=np.float64)
    assert sk.body_ids == (a, b, c)
    assert sk.present.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 0], [0, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert np.isnan(sk.joints[~sk.present]).all() and np.isfinite(sk.joints[sk.present]).all()
    # frame 2 lists b first: its values land in b's slot. Lines: frame count; frame 0: body count,
    # a (27 lines); frame 1: body count, a, b; frame 2: body count (line 84), b's body line, joint
    # count, b's 25 joint lines.
    lines = p.read_text().splitlines()
    assert lines[84] == "2" and lines[85].startswith(b) and lines[86] == "25"
    first_b_in_frame2 = np.array([[float(x) for x in ln.split()] for ln in lines[87:112]])
    assert np.array_equal(sk.joints[2, 1], first_b_in_frame2)
    seq = ntu.read_poses(p)
    assert seq.num_frames == 6 and seq.num_bodies == 3 and seq.body_ids == (a, b, c)


def test_generated_duplicate_id_in_a_frame_is_a_second_body(tmp_path, reader):
    p = write(tmp_path, skeleton_text([["7"], ["7", "7"]]))
    sk = ntu.read_skeleton(p)
    assert sk.body_ids == ("7", "7#2")
    assert sk.present.tolist() == [[True, False], [True, True]]


def test_generated_lf_line_endings_also_read(tmp_path, reader):
    text = skeleton_text([["1"], ["1"]])
    crlf = ntu.read_skeleton(write(tmp_path, text, "S001C001P001R001A001.skeleton"))
    lf = ntu.read_skeleton(write(tmp_path, text.replace("\r\n", "\n"), "S001C001P001R001A002.skeleton"))
    assert np.array_equal(crlf.joints, lf.joints)


@pytest.mark.parametrize("mutate,message", [
    (lambda t: t[: len(t) // 2], "truncated"),
    (lambda t: t.replace("\r\n2\r\n", "\r\n3\r\n", 1), "joint count"),  # more bodies declared than written
    (lambda t: "3" + t[1:], "ends"),  # frame count too high
    (lambda t: "1" + t[1:], "after the last"),  # frame count too low
    (lambda t: t.replace("\r\n25\r\n", "\r\n24\r\n", 1), "24 joints"),
    (lambda t: t.replace(" 2\r\n", " 2 0.5\r\n", 3), "numbers, found 11"),  # lines with an extra value
    (lambda t: t.replace("0.02764709", "abc", 1), "non-numeric"),
    (lambda t: t.replace("\r\n2\r\n", "\r\nx\r\n", 1), "body count"),
])
def test_generated_garbled_files_raise_dataerror_naming_the_file(tmp_path, reader, mutate, message):
    text = skeleton_text([["1", "2"], ["1", "2"]])
    p = write(tmp_path, mutate(text))
    with pytest.raises(DataError) as e:
        ntu.read_skeleton(p)
    assert str(p) in str(e.value)
    if message:
        assert message in str(e.value)


def test_generated_shifted_values_caught_by_tracking_state(tmp_path, reader):
    # one joint line loses a value and the next gains one: counts match, values shift
    text = skeleton_text([["1"]])
    lines = text.split("\r\n")
    a, b = lines[4].split(), lines[5].split()
    lines[4] = " ".join(a[:-1])
    lines[5] = " ".join([a[-1]] + b)
    with pytest.raises(DataError, match="12 numbers"):
        ntu.read_skeleton(write(tmp_path, "\r\n".join(lines)))
    lines = text.split("\r\n")
    lines[4] = " ".join(lines[4].split()[:11] + ["7"])
    with pytest.raises(DataError, match="trackingState 7"):
        ntu.read_skeleton(write(tmp_path, "\r\n".join(lines)))


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_generated_non_finite_values_rejected(tmp_path, reader, bad):
    lines = skeleton_text([["1"], ["1"]]).split("\r\n")
    vals = lines[10].split()
    vals[1] = bad
    lines[10] = " ".join(vals)
    with pytest.raises(DataError, match="line 11: NaN or inf"):
        ntu.read_skeleton(write(tmp_path, "\r\n".join(lines)))


def test_generated_zero_bodies_everywhere_and_other_bad_files(tmp_path, reader):
    with pytest.raises(DataError, match="no body in any of the 3 frames"):
        ntu.read_skeleton(write(tmp_path, "3\r\n0\r\n0\r\n0\r\n"))
    with pytest.raises(DataError, match="0 frames"):
        ntu.read_skeleton(write(tmp_path, "0\r\n"))
    with pytest.raises(DataError, match="not ASCII"):
        ntu.read_skeleton(write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00"))
    with pytest.raises(DataError, match="frame count"):
        ntu.read_skeleton(write(tmp_path, ""))
    with pytest.raises(DataError, match="not found"):
        ntu.read_skeleton(tmp_path / "nope.skeleton")


def test_parse_name_and_labels():
    n = ntu.parse_name("S017C003P020R002A060")
    assert n == (17, 3, 20, 2, 60) and n.label == 59 and str(n) == "S017C003P020R002A060"
    assert ntu.parse_name("/data/nturgb+d_rgb/S001C002P003R002A013_rgb.avi").action == 13
    assert ntu.parse_name("S001C002P003R002A013.skeleton").camera == 2
    for bad in ("S01C002P003R002A013", "S001C002P003R002A013_depth.avi", "hello", "S000C001P001R001A001"):
        with pytest.raises(DataError, match="SsssCcccPpppRrrrAaaa|000"):
            ntu.parse_name(bad)


def _grid(setups, cameras, performers, actions):
    return [f"S{s:03d}C{c:03d}P{p:03d}R001A{a:03d}"
            for s in setups for c in cameras for p in performers for a in actions]


def test_generated_protocol_rules():
    names = _grid(range(1, 18), [1, 2, 3], range(1, 41), [1])
    tr, te = ntu.split_names(names, version=60, protocol="cs")
    assert len(tr) == 17 * 3 * 20 and all(ntu.parse_name(n).performer in ntu.CS_TRAIN_PERFORMERS_60 for n in tr)
    tr, te = ntu.split_names(names, version=60, protocol="xview")
    assert {ntu.parse_name(n).camera for n in te} == {1} and len(tr) == 2 * len(te)
    names = _grid(range(1, 33), [1], range(1, 107), [61])
    tr, te = ntu.split_names(names, version=120, protocol="csub")
    assert len(tr) == 32 * 53
    tr, te = ntu.split_names(names, version=120, protocol="cset")
    assert {ntu.parse_name(n).setup % 2 for n in tr} == {0} and len(tr) == 16 * 106
    with pytest.raises(DataError, match="not a sample of NTU RGB\\+D 60"):
        ntu.split_names(["S018C001P001R001A001"], version=60, protocol="cs")
    with pytest.raises(ValueError, match="protocols are csub, cset"):
        ntu.split_names([], version=120, protocol="cv")
    assert ntu.version_of("cset") == 120 and ntu.version_of("CS") == 60


def test_generated_records_pair_files_and_report(tmp_path):
    vid, ske = tmp_path / "nturgb+d_rgb", tmp_path / "nturgb+d_skeletons" / "part1"
    vid.mkdir()
    ske.mkdir(parents=True)
    text = skeleton_text([["1"]])
    both = ["S001C001P001R001A001", "S001C002P003R001A002", "S001C003P002R002A005"]
    for n in both:
        (vid / f"{n}_rgb.avi").write_bytes(b"")
        (ske / f"{n}.skeleton").write_text(text)
    (vid / "S002C001P001R001A003_rgb.avi").write_bytes(b"")  # no skeleton (a "missing" sample)
    (ske / "S002C002P001R001A004.skeleton").write_text(text)  # no video
    (ske / "bogus_name.skeleton").write_text(text)
    (ske / "S018C001P001R001A061.skeleton").write_text(text)  # NTU-120 only
    (vid / "readme.txt").write_text("not a video")
    r = ntu.records(video_dir=vid, pose_dir=tmp_path / "nturgb+d_skeletons", protocol="cs", split="all")
    assert [x.name for x in r] == both
    assert r[1].label == 1 and r[1].subject == 3 and r[1].camera == 2 and r[1].meta == {"setup": 1, "replication": 1}
    assert r[0].video.endswith("S001C001P001R001A001_rgb.avi") and r[0].poses.endswith(".skeleton")
    reasons = dict(r.skipped)
    assert set(reasons) == {"S002C001P001R001A003", "S002C002P001R001A004", "bogus_name"}
    assert "no skeleton" in reasons["S002C001P001R001A003"] and "no video" in reasons["S002C002P001R001A004"]
    assert "3 items, 3 skipped" in r.report()

    train = ntu.records(video_dir=vid, pose_dir=ske, protocol="cs", split="train")
    test = ntu.records(video_dir=vid, pose_dir=ske, protocol="cs", split="test")
    assert [x.name for x in train] == ["S001C001P001R001A001", "S001C003P002R002A005"]
    assert [x.name for x in test] == ["S001C002P003R001A002"]
    # pose-only, NTU-120 sees the S018 file, the missing list excludes explicitly
    missing = tmp_path / "missing.txt"
    missing.write_text("header\nheader\n\nS001C001P001R001A001\n")
    r120 = ntu.records(pose_dir=ske, protocol="csub", split="all", missing_list=missing)
    assert [x.name for x in r120] == ["S001C002P003R001A002", "S001C003P002R002A005", "S002C002P001R001A004",
                                      "S018C001P001R001A061"]
    assert r120[0].video is None
    assert ("S001C001P001R001A001", "in the official list of samples with missing skeletons") in r120.skipped
    with pytest.raises(ValueError, match="splits are train, test, all; got 'val'"):
        ntu.records(pose_dir=ske, protocol="cs", split="val")
    with pytest.raises(DataError, match="does not exist"):
        ntu.records(pose_dir=tmp_path / "nowhere", protocol="cs", split="all")

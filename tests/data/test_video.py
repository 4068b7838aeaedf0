"""Video decoding: PyAV files (frame-accurate, sequential or keyframe seek), frame folders, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vpnet.data.synthetic import write_video
from vpnet.data.types import DataError, VideoSource
from vpnet.data.video import FrameFolder, VideoFile, open_video, video_info


def coded_frames(n: int, size=(96, 64), noise: bool = False):
    """Frame i shows i in binary as 6 black/white stripes on its top half: robust to lossy coding."""
    w, h = size
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if noise else np.zeros((h, w, 3), np.uint8)
        for b in range(6):
            img[: h // 2, b * w // 6:(b + 1) * w // 6] = 235 if i >> b & 1 else 16
        img[h // 2:, : w // 2] = (200, 40, 40)  # some colour, to check RGB order
        yield img


def frame_ids(frames: np.ndarray) -> list[int]:
    h, w = frames.shape[1:3]
    stripes = [frames[:, 2: h // 2 - 4, b * w // 6 + 3:(b + 1) * w // 6 - 3].mean(axis=(1, 2, 3)) for b in range(6)]
    return [int(sum(1 << b for b in range(6) if stripes[b][k] > 128)) for k in range(len(frames))]


def pyav_all(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


# ---------------------------------------------------------------------------------------------
# real files


def test_real_ntu_h264_avi(shared_data):
    path = shared_data / "ntu" / "S001C001P001R001A001_rgb.avi"
    v = open_video(path)
    assert isinstance(v, VideoSource)
    assert (v.num_frames, v.fps, v.size) == (103, 30.0, (1920, 1080))
    info = video_info(path)
    assert (info.codec, info.container, info.metadata_frames) == ("h264", "avi", 103)
    # AVI timestamps are decode order (B-frames): frames must be counted, not looked up by pts
    assert len(v._get_index().key_pts) == 0
    got = v.read([102, 0, 57, 57])
    assert got.shape == (4, 1080, 1920, 3) and got.dtype == np.uint8
    ref = pyav_all(path)
    assert len(ref) == 103
    assert np.array_equal(got, ref[[102, 0, 57, 57]])
    assert np.array_equal(v.read(np.arange(10, 20)), ref[10:20])


def test_real_mpeg4_part2_avi(shared_data):
    path = shared_data / "kinetics" / "ucf101_applyeyemakeup.avi"
    v = open_video(path)
    assert (v.num_frames, v.fps, v.size) == (164, 25.0, (320, 240))
    assert v.info().codec == "mpeg4"
    ref = pyav_all(path)
    idx = [163, 0, 81, 5, 6, 7]
    assert np.array_equal(v.read(idx), ref[idx])


# ---------------------------------------------------------------------------------------------
# generated files


@pytest.mark.parametrize("suffix,codec,seekable", [
    (".mp4", "libx264", True), (".mkv", "libx264", True), (".avi", "libx264", False),
    (".avi", "mpeg4", False), (".mp4", "mpeg4", True)])
def test_generated_frame_accurate(tmp_path, suffix, codec, seekable):
    import av

    path = tmp_path / f"v{suffix}"
    n = 45
    # short GOPs so that keyframe seeking has something to skip
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=25, options={"g": "8", "bf": "2", "threads": "1"})
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        for img in coded_frames(n):
            for pk in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    v = open_video(path)
    assert v.num_frames == n and v.size == (96, 64) and v.fps == 25.0
    assert (len(v._get_index().key_pts) > 1) == seekable
    ref = pyav_all(path)
    assert frame_ids(ref) == list(range(n))
    for idx in ([40, 41, 44], [17, 3, 17, 30], [0], [44], list(range(n))[::-1], [9, 10, 11, 12, 13]):
        got = v.read(idx)
        assert frame_ids(got) == idx
        assert np.array_equal(got, ref[idx])  # bit-identical to decoding everything
    red = v.read([5])[0, -10, 10]
    assert red[0] > 150 and red[2] < 90  # RGB order, not BGR


def test_generated_transform_and_empty(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, coded_frames(20), fps=10)
    v = VideoFile(path)
    small = v.read([3, 1, 3], transform=lambda f: f[::2, ::2].copy())
    assert small.shape == (3, 32, 48, 3)
    assert frame_ids(small) == [3, 1, 3]
    assert v.read([]).shape == (0, 64, 96, 3)
    rows = iter([5, 8])  # a transform whose output shape changes between frames
    with pytest.raises(ValueError, match="transform returned shape"):
        v.read([1, 2], transform=lambda f: f[: next(rows)])


def test_generated_bad_indices(tmp_path):
    path = tmp_path / "v.avi"
    write_video(path, coded_frames(12), codec="mpeg4")
    v = open_video(path)
    for idx, msg in (([12], "frame index 12 out of range: the video has 12 frames"), ([-1], "-1 out of range"),
                     ([[1, 2]], "1-D"), ([1.5], "integers")):
        with pytest.raises(DataError, match=msg) as e:
            v.read(idx)
        assert str(path) in str(e.value)
    assert frame_ids(v.read(np.array([2.0, 3.0]))) == [2, 3]


def test_generated_unreadable_and_truncated_files(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    for p in (garbage, empty):
        with pytest.raises(DataError) as e:
            open_video(p).read([0])
        assert str(p) in str(e.value)
    with pytest.raises(DataError, match="no such video"):
        open_video(tmp_path / "missing.avi")

    full = tmp_path / "full.avi"
    write_video(full, coded_frames(40, noise=True), codec="mpeg4")
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # the AVI index at the end is gone, and half the frames
    # the readable frames fall far short of the 40 the AVI header declares: truncated, not a shorter video
    # (it used to be read as a 4-frame video, misaligned with its 40 poses)
    with pytest.raises(DataError, match=r"cut.avi: only \d+ of the 40 frames the container declares can be read"):
        _ = open_video(cut).num_frames
    # MP4 keeps its index at the end: cut, the file cannot be opened at all
    mp4 = tmp_path / "full.mp4"
    write_video(mp4, coded_frames(40))
    cut_mp4 = tmp_path / "cut.mp4"
    cut_mp4.write_bytes(mp4.read_bytes()[:-200])
    with pytest.raises(DataError) as e:
        open_video(cut_mp4).read([0])
    assert "cut.mp4" in str(e.value)


def test_generated_frame_folder(tmp_path):
    import cv2

    d = tmp_path / "frames"
    d.mkdir()
    for i, img in enumerate(coded_frames(12)):
        cv2.imwrite(str(d / f"frame_{i + 1}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(d / f"frame_{i + 1}_depth.png"), np.zeros((8, 8), np.uint8))  # ignored?
    (d / "notes.txt").write_text("not a frame")
    # without _rgb names, depth images would count: rename colour frames *_rgb to select them
    for f in sorted(d.glob("frame_*[0-9].png")):
        f.rename(f.with_name(f.stem + "_rgb.png"))
    v = open_video(d, fps=15)
    assert isinstance(v, FrameFolder)
    assert (v.num_frames, v.fps, v.size) == (12, 15.0, (96, 64))
    got = v.read([11, 0, 9, 1])  # frame_10 sorts after frame_9, not after frame_1
    assert frame_ids(got) == [11, 0, 9, 1]
    assert np.array_equal(got[1, -1, 0], [200, 40, 40])  # RGB, lossless
    assert video_info(d).codec == "images"
    with pytest.raises(DataError, match="out of range"):
        v.read([12])

    bad = tmp_path / "bad"
    bad.mkdir()
    cv2.imwrite(str(bad / "1.jpg"), np.zeros((10, 10, 3), np.uint8))
    (bad / "2.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(bad / "3.jpg"), np.zeros((12, 10, 3), np.uint8))
    fb = open_video(bad)
    with pytest.raises(DataError, match="2.jpg: cannot decode"):
        fb.read([0, 1])
    with pytest.raises(DataError, match="3.jpg: frame is 10x12"):
        fb.read([0, 2])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images"):
        open_video(empty)
    dup = tmp_path / "dup"
    dup.mkdir()
    cv2.imwrite(str(dup / "a_1.png"), np.zeros((4, 4, 3), np.uint8))
    cv2.imwrite(str(dup / "b_1.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match="number 1"):
        open_video(dup)


def test_generated_frame_folder_size_from_the_header(tmp_path):
    import cv2
    from PIL import Image

    # frame 1's pixel data is cut off: its header still gives the size, decoding it fails
    d = tmp_path / "cut"
    d.mkdir()
    ok, png = cv2.imencode(".png", np.full((30, 50, 3), 90, np.uint8))
    (d / "1.png").write_bytes(png.tobytes()[:60])  # signature + IHDR, no image data
    cv2.imwrite(str(d / "2.png"), np.zeros((30, 50, 3), np.uint8))
    v = open_video(d)
    assert v.size == (50, 30)
    assert v.read([1]).shape == (1, 30, 50, 3)
    with pytest.raises(DataError, match="1.png: cannot decode"):
        v.read([0])
    # an EXIF-rotated JPEG: cv2 turns it upright, and the size says so
    r = tmp_path / "rotated"
    r.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    Image.fromarray(np.zeros((30, 50, 3), np.uint8)).save(r / "1.jpg", exif=exif.tobytes())
    rv = open_video(r)
    assert rv.size == (30, 50) and rv.read([0]).shape == (1, 50, 30, 3)
    # a first frame that is no image at all
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "1.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="1.jpg: cannot read frame image"):
        _ = open_video(bad).size


def test_video_file_pickles_without_open_handles(tmp_path):
    import pickle

    path = tmp_path / "v.mp4"
    write_video(path, coded_frames(10))
    v = open_video(path)
    assert v.num_frames == 10
    w = pickle.loads(pickle.dumps(v))
    assert frame_ids(w.read([7])) == [7]

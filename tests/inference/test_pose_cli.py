"""``vpnet pose extract`` over many videos in one process, and MediaPipe's stderr chatter filtered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vpnet.poses import NATIVE_NOISE


@pytest.fixture(scope="module")
def person_videos(tmp_path_factory) -> list[Path]:
    """Two short videos of a rendered person (vpnet-ADL), 16 frames at 192x108."""
    from vpnet.data.adl import ADLSpec, make_adl
    from vpnet.extras import MissingExtraError
    from vpnet.poses import _mediapipe

    try:
        _mediapipe()
    except MissingExtraError:
        pytest.skip("the pose extra is not installed (vpnet pose install)")
    data = make_adl(tmp_path_factory.mktemp("adl"), ADLSpec(per_class=1, size=(192, 108), frames=16, classes=2))
    return [data.video_dir / f"{n}_rgb.avi" for n in data.names]


def test_many_videos_one_process_bad_ones_reported_no_noise(person_videos, tmp_path):
    """Two good videos and one no decoder opens: two .npz written (readable as NTU-25 poses), the bad one
    named with its reason, exit code 1; stderr holds none of MediaPipe's start-up chatter."""
    from vpnet.data.custom import read_poses

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    out = tmp_path / "poses"
    r = subprocess.run([sys.executable, "-m", "vpnet.cli", "pose", "extract", *map(str, person_videos), str(bad),
                        "--out", str(out)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "VPNET_PROGRESS_INTERVAL": "0"})
    assert r.returncode == 1, r.stderr
    assert f"skipped {bad}: cannot open video" in r.stderr and "1 of 3 videos failed" in r.stderr
    written = sorted(out.glob("*.npz"))
    assert [p.name for p in written] == sorted(f"{v.stem}.npz" for v in person_videos)
    from vpnet.data.video import open_video

    seq = read_poses(written[0], image_size=(192, 108))
    n = open_video(person_videos[0]).num_frames
    assert seq.layout == "ntu25" and seq.num_frames == n and seq.present.all()
    assert np.isfinite(seq.xyz[seq.present]).all()
    noise = [n for n in NATIVE_NOISE if n in r.stderr] + [line for line in r.stderr.splitlines() if "W0000" in line]
    assert not noise, r.stderr
    assert "Traceback" not in r.stderr


def test_native_stderr_filter_keeps_real_errors(capfd):
    """What the filter holds is written back, less the known chatter: a real native error line stays."""
    from vpnet.poses import _NativeStderrFilter

    quiet = _NativeStderrFilter()
    with quiet:
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"E0000 calculator_graph.cc:887] a real MediaPipe failure\n")
    quiet.close()
    err = capfd.readouterr().err
    assert "a real MediaPipe failure" in err and "XNNPACK" not in err

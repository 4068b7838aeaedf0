"""The pose-only GCN and ST-GCN++-like presets on real Northwestern-UCLA skeletons, through the CLI (slow: ~2 and
~4 min)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vpnet.cli import app

REPO = Path(__file__).resolve().parents[2]
#: the lowest top-1 of 3 seeds measured with this preset on subjects 1-5 (benchmarks/RESULTS.md)
#: minus a margin for seed and platform variation.
REAL_FLOOR = 0.785
MARGIN = 0.03


#: the same for the pose_stgcnpp_nucla-v3 preset (joint stream; benchmarks/RESULTS.md, "Pose backbones and streams")
STGCNPP_FLOOR = 0.867


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "floor"), [("pose_gcn_nucla-v3", REAL_FLOOR),
                                               ("pose_stgcnpp_nucla-v3", STGCNPP_FLOOR)])
def test_pose_preset_on_real_nucla_subjects_1_to_5(shared_data, tmp_path, preset, floor):
    pose_dir = shared_data / "nucla" / "all_s01-s05"
    if not pose_dir.is_dir():
        pytest.skip(f"{pose_dir} is not there")
    run = CliRunner().invoke(app, ["train", "-c", str(REPO / "configs" / f"{preset}.yaml"),
                                   f"data.pose_dir={pose_dir}", f"output_dir={tmp_path}", "name=pose"])
    assert run.exit_code == 0, run.output
    assert (tmp_path / "pose" / "final.safetensors").is_file()
    assert not (tmp_path / "pose" / "best.safetensors").exists()  # no selection on the test split
    out = tmp_path / "eval"
    ev = CliRunner().invoke(app, ["evaluate", "--run", str(tmp_path / "pose"), "-o", str(out)])
    assert ev.exit_code == 0, ev.output
    results = json.loads((out / "results.json").read_text())
    assert results["num_samples"] == 219
    assert results["top1"] >= floor - MARGIN, results["top1"]

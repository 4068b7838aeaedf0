"""``vpnet demo`` with a modern pose backbone: VPN (``l3``) takes ``model.pose_backbone=stgcnpp`` unchanged,
end to end on the tiny demo (generated videos, random-init I3D, offline)."""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open
from typer.testing import CliRunner

from vpnet.cli import app
from vpnet.demo import SIZES, recipe_key


def test_tiny_demo_with_the_stgcnpp_pose_backbone(tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["demo", "--size", "tiny", "--no-kinetics", "--out", str(out), "--workers", "2",
                                 "--variants", "pose_only,l3", "model.pose_backbone=stgcnpp"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert list(summary["variants"]) == ["pose_only", "l3"] and summary["overrides"] == ["model.pose_backbone=stgcnpp"]
    assert summary["recipe"] == recipe_key(SIZES["tiny"], ["model.pose_backbone=stgcnpp"]) != recipe_key(SIZES["tiny"])
    for variant in ("pose_only", "l3"):
        for seed, top1 in enumerate(summary["variants"][variant]["seeds"]):
            run = out / "runs" / f"{variant}-seed{seed}"
            assert "pose_backbone: stgcnpp" in (run / "config.yaml").read_text()
            written = json.loads(next((run / "eval").glob("*/results.json")).read_text())
            assert top1 == pytest.approx(100 * written["top1"], abs=1e-9)
    # the l3 model keeps its weights: the graph network's blocks feed VPN's coupler
    with safe_open(str(out / "runs" / "l3-seed0" / "final.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert "pose_backbone.blocks.0.gcn.a" in keys and any(k.startswith("vpn.coupler.") for k in keys)
    assert summary["variants"]["l3"]["l_e_matched"] is not None  # the embedding of eq. (4) ran on its h*


def test_demo_refuses_a_bad_override_before_any_work(tmp_path):
    r = CliRunner().invoke(app, ["demo", "--size", "tiny", "--no-kinetics", "--out", str(tmp_path / "out"),
                                 "model.pose_backbone=transformer"])
    assert r.exit_code != 0 and "model.pose_backbone='transformer' is not one of" in r.output
    assert not (tmp_path / "out" / "cache").exists()

"""``vpnet demo`` end to end at ``--size tiny`` (36 generated videos, random-init I3D, offline): the report
folder exists and every number in it agrees with what the evaluations wrote; bad output folders fail
before any work with one line.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vpnet.cli import app
from vpnet.data.adl import CLASSES
from vpnet.demo import DEFAULT_VARIANTS, LATE_FUSION, SIZES, VARIANTS, DemoSize
from vpnet.errors import ConfigError

PNG = b"\x89PNG\r\n\x1a\n"


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(output folder, CLI result) of ``vpnet demo --size tiny --no-kinetics``."""
    out = tmp_path_factory.mktemp("demo") / "out"
    r = invoke("demo", "--size", "tiny", "--no-kinetics", "--out", out, "--workers", "2")
    assert r.exit_code == 0, r.output
    return out, r


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


def test_tiny_demo_report_agrees_with_the_evaluations(demo):
    out, r = demo
    size = SIZES["tiny"]
    report = out / "report"
    assert (report / "README.md").is_file()
    summary = json.loads((report / "summary.json").read_text())

    # the numbers: each seed's top-1 is the one its evaluation wrote (results.json, a fraction), not the in-memory one
    assert list(summary["variants"]) == list(DEFAULT_VARIANTS)
    fields = {"top1_mean", "top1_std", "seeds", "top1_object_pairs", "attention_precision", "attention_precision_seeds",
              "l_e_matched", "l_e_shuffled", "a_s_within_class", "a_s_between_classes"}
    for variant, v in summary["variants"].items():
        assert set(v) == fields, variant
        assert len(v["seeds"]) == size.seeds
        assert 0 <= v["top1_object_pairs"] <= 100
        attends = VARIANTS[variant].model in ("l2", "l3") if variant in VARIANTS else False
        assert (v["attention_precision"] is not None) == attends, variant
        if attends:
            assert len(v["attention_precision_seeds"]) == size.seeds
            assert all(0 <= p <= 1 for p in v["attention_precision_seeds"])
            assert v["a_s_within_class"] >= 0 and v["a_s_between_classes"] >= 0
        has_embedding = variant in VARIANTS and VARIANTS[variant].model == "l3"
        assert (v["l_e_matched"] is not None) == has_embedding == (v["l_e_shuffled"] is not None), variant
        if variant == LATE_FUSION:
            continue  # not trained: no run folder
        for seed, top1 in enumerate(v["seeds"]):
            evals = list((out / "runs" / f"{variant}-seed{seed}" / "eval").glob("*/results.json"))
            assert len(evals) == 1, evals
            written = json.loads(evals[0].read_text())
            assert written["num_samples"] > 0 and written["protocol"] == "cs"
            assert top1 == pytest.approx(100 * written["top1"], abs=1e-9), (variant, seed)
        mean = sum(v["seeds"]) / len(v["seeds"])
        std = math.sqrt(sum((s - mean) ** 2 for s in v["seeds"]) / (len(v["seeds"]) - 1))
        assert v["top1_mean"] == pytest.approx(mean, abs=1e-9) and v["top1_std"] == pytest.approx(std, abs=1e-9)
    assert summary["classes"] == [c.name for c in CLASSES] and len(summary["classes"]) == 14
    assert summary["attention_grid"] == [size.clip_len // 8, size.crop_size // 32, size.crop_size // 32]
    assert summary["wall_seconds"] > 0 and summary["size"] == "tiny" and summary["kinetics"] is False
    assert summary["protocol"] == "cs" and summary["fusion_weight"] == size.fusion_weight
    # the fixed map has one A_S for every clip: no spread between clips at all
    assert summary["variants"]["fixed_map"]["a_s_within_class"] == pytest.approx(0, abs=1e-6)
    assert summary["variants"]["fixed_map"]["a_s_between_classes"] == pytest.approx(0, abs=1e-6)
    for key in ("l3-l1", "l3-l2", "l3-late_fusion", "l2-l1"):
        c = summary["comparisons"][key]
        a, b = key.split("-", 1)
        means = {k: summary["variants"][k]["top1_mean"] for k in (a, b)}
        assert c["difference"] == pytest.approx(means[a] - means[b], abs=1e-6)
        assert c["ci95"][0] <= c["difference"] <= c["ci95"][1]
    probes = summary["probes"]
    for probe in ("oracle", "fixed_map"):
        assert probes[f"{probe}_minus_l1_object_pairs"] == pytest.approx(
            summary["variants"][probe]["top1_object_pairs"] - summary["variants"]["l1"]["top1_object_pairs"])

    # the l3 model stays where the report names it
    l3 = Path(summary["l3_run"])
    assert l3 == out / "runs" / "l3-seed0"
    assert (l3 / "config.yaml").is_file() and (l3 / "final.safetensors").is_file()
    page = (report / "README.md").read_text()
    assert str(l3) in page and "| variant |" in page
    for variant, v in summary["variants"].items():
        assert f"| `{variant}` |" in page and f"{v['top1_mean']:.1f} ± {v['top1_std']:.1f}" in page

    # the pictures, each linked from the page
    for name in ("confusion_l3.png", "curves.png", "attention.png", "attention_truth.png"):
        assert _is_png(report / name), name
        assert f"]({name})" in page, name
    singles = sorted((report / "attention").glob("*.png"))
    assert singles and all(_is_png(p) for p in singles)
    tested = {int(m.group(1)) - 1 for p in singles if (m := re.search(r"A(\d{3})\.png$", p.name))}
    assert len(tested) == len(singles)  # one clip per class of each confusable pair that has test videos

    # the console: the table, the report and the l3 run folder
    for line in ("[1/5]", "[4/5]", "[5/5] report", "top-1 % (mean ± std)", f"chance: {100 / len(CLASSES):.1f} %",
                 f"l3 model:  {l3}", f"report:    {report / 'README.md'}", "demo finished in"):
        assert line in r.output, line


def test_the_l3_run_reproduces_the_cached_maps_on_video(demo):
    """The saved l3 weights hold the I3D that made the feature cache: on a test clip read from the
    prepared store, its backbone gives the cached map back (bf16 storage: about 1 % off), so the run
    folder predicts on video as it was evaluated."""
    import dataclasses

    import torch

    from vpnet.engine.builders import build_split
    from vpnet.engine.config_loader import load_config
    from vpnet.engine.feature_store import FeatureDataset
    from vpnet.engine.forward import eval_clips
    from vpnet.inference import load_model

    out, _ = demo
    runs = sorted((out / "runs").glob("l3-seed*"))
    # seed 1 too: a run trained with seed 0 would draw the random-init I3D (--no-kinetics) again by chance
    assert len(runs) == SIZES["tiny"].seeds >= 2
    for run in runs:
        cfg = load_config(run / "config.yaml", [])
        model, _ = load_model(run=run)
        clips = eval_clips(cfg)
        feats = FeatureDataset(cfg.data.feature_dir, "test", mode="test", clips=clips)
        videos = build_split(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, feature_dir=None)), "test",
                             mode="test", clips=clips)
        item = feats[0]
        video = videos.load([r.name for r in videos.records].index(item["name"]))["video"]
        with torch.no_grad():
            f = model.eval().forward_features(video.float())
        cached = item["features"].float()
        assert float((f - cached).norm() / cached.norm()) < 0.05, run


def _one_line_error(r, *fragments: str) -> str:
    assert r.exit_code == 4, r.output  # OutputError
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    (line,) = [x for x in r.output.splitlines() if x.startswith("error: ")]
    for f in fragments:
        assert f in line, (f, line)
    return line


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into a 0o500 folder")
def test_demo_refuses_a_read_only_output_folder_before_any_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        r = invoke("demo", "--size", "tiny", "--no-kinetics", "--out", locked / "demo")
        _one_line_error(r, "cannot write output folder", "not writable")
        assert not any(locked.iterdir())
    finally:
        locked.chmod(0o700)


def test_demo_refuses_an_output_or_cache_folder_it_cannot_create(tmp_path):
    """Also as root: a folder under a file cannot be created by anyone."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    r = invoke("demo", "--size", "tiny", "--no-kinetics", "--out", blocker / "demo")
    _one_line_error(r, "cannot write output folder", "is a file")
    r = invoke("demo", "--size", "tiny", "--no-kinetics", "--out", tmp_path / "out", "--cache", blocker / "cache")
    _one_line_error(r, "cannot write cache folder", "is a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing written


@pytest.mark.parametrize("key, kw", [("clip_len", {"clip_len": 16}), ("crop_size", {"crop_size": 64}),
                                     ("crop_size", {"crop_size": 130})])
def test_a_size_with_an_attention_grid_under_4x4x4_is_refused(key, kw):
    base = dict(per_class=3, clip_len=32, crop_size=128, epochs=1, views=1)
    with pytest.raises(ConfigError, match=f"{key}=.*smaller than 4x4x4"):
        DemoSize(**{**base, **kw})


def test_demo_rejects_an_unknown_variant():
    r = invoke("demo", "--size", "tiny", "--no-kinetics", "--variants", "l1,l9")
    assert r.exit_code == 2 and "l9" in r.output and "Traceback" not in r.output


def test_demo_rejects_an_unknown_size():
    r = invoke("demo", "--size", "huge", "--no-kinetics")
    assert r.exit_code == 2 and "tiny, small, large" in r.output and "Traceback" not in r.output

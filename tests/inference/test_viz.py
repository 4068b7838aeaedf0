"""The paper's figures: image size, panels, content."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vpnet import viz


def _png(path):
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.std() > 10, f"{path} looks blank"
    return img


def test_attention_over_time(tmp_path):
    crops = np.random.default_rng(0).integers(0, 255, (8, 64, 64, 3), dtype=np.uint8)
    a_s = np.zeros((2, 2))
    a_s[0, 0] = 1
    fig = viz.plot_attention_over_time(crops, a_s, np.array([0.2, 0.5, 0.3]), tmp_path / "a.png")
    # 3 panels, their colour bar, the A_T bars labelled with their values
    assert [ax.get_title() for ax in fig.axes[:3]] == ["step t=0", "step t=1", "step t=2"]
    bar = next(ax for ax in fig.axes if "A_S x A_T" in ax.get_ylabel())
    assert bar.get_ylim() == (0, 1)
    steps = next(ax for ax in fig.axes if ax.get_ylabel() == "A_T")
    assert [t.get_text() for t in steps.texts] == ["0.200", "0.500", "0.300"]
    assert [round(p.get_height(), 2) for p in steps.patches] == [0.2, 0.5, 0.3]
    assert _png(tmp_path / "a.png").shape == (450, 890, 3)


def test_joint_activations_in_body_order(tiny_run, tmp_path):
    from vpnet.inference import load_model

    model, _ = load_model(run=tiny_run)
    act = viz.joint_activations(model.pose_backbone, np.random.default_rng(0).normal(size=(3, 4, 25)))
    assert act.shape == (4, 25) and (act >= 0).all() and act.std() > 0
    order = viz.body_order("ntu25")
    assert sorted(order) == list(range(25)) and order[:2] == [0, 1]  # spine first
    fig = viz.plot_joint_activations(act, tmp_path / "j.png")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:4] == ["spine base", "spine mid", "spine shoulder", "neck"] and labels[-1] == "right foot"
    assert all(t.get_fontsize() >= 9 for t in ax.get_yticklabels())
    assert list(ax.get_xticks()) == [0, 1, 2, 3]  # whole poses, no 2.5
    assert fig.axes[1].get_ylabel() == "mean |ELU(f+)| over channels"  # the colour bar says what it shows
    img = _png(tmp_path / "j.png")
    assert img.shape[1] == 600


def test_tsne_two_panels(tmp_path):
    pytest.importorskip("sklearn", reason="the viz extra is not installed")
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 15)
    feats = [rng.normal(size=(45, 16)) + labels[:, None] * s for s in (0.0, 5.0)]
    fig = viz.plot_tsne(feats, [labels, labels], ["a", "b", "c"], tmp_path / "t.png", titles=("I3D", "VPN"),
                        classes=[0, 2])
    assert [ax.get_title() for ax in fig.axes] == ["I3D", "VPN"]
    assert len(fig.axes[0].collections) == 2  # the two chosen classes
    assert _png(tmp_path / "t.png").shape == (450, 1000, 3)


def test_dynamicity_and_plot(tmp_path):
    pytest.importorskip("scipy", reason="the viz extra is not installed")
    rng = np.random.default_rng(0)
    still = np.repeat(rng.normal(size=(1, 25, 3)), 10, axis=0)
    moving = still + rng.normal(scale=0.2, size=still.shape)
    shifted = still + np.arange(10)[:, None, None] * 0.5  # translation only: Procrustes removes it
    assert viz.dynamicity(still) == pytest.approx(0, abs=1e-12)
    assert viz.dynamicity(shifted) == pytest.approx(0, abs=1e-12)
    assert viz.dynamicity(moving) > 0.01
    fig = viz.plot_accuracy_vs_dynamicity(np.array([0.1, 0.3, 0.2]), np.array([[0.9, 0.5, 0.7], [0.95, 0.8, 0.7]]),
                                          ["a", "b", "c"], tmp_path / "d.png", labels=("I3D", "VPN"))
    ax = fig.axes[0]
    assert not ax.lines and len(ax.collections) == 2  # a scatter per run, no zigzag line
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["I3D", "VPN"]
    assert _png(tmp_path / "d.png").shape == (500, 800, 3)
    # 15 crowded classes: no label overlaps another
    rng = np.random.default_rng(1)
    dyn, acc = rng.random(15) * 0.02, rng.random(15)
    dyn[3], acc[3] = dyn[4] + 1e-5, acc[4]  # two classes on one spot
    names = [f"class number {k}" for k in range(15)]
    fig = viz.plot_accuracy_vs_dynamicity(dyn, acc, names, tmp_path / "d2.png")
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts if t.get_text()]
    assert len(boxes) == 15
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]


def test_class_difference(tmp_path):
    head = "class_index,class_name,support,correct,accuracy\n"
    (tmp_path / "a.csv").write_text(head + "0,clapping,10,3,0.3\n1,drink,10,9,0.9\n2,none,0,0,\n")
    (tmp_path / "b.csv").write_text(head + "0,clapping,10,7,0.743\n1,drink,10,8,0.8\n2,none,0,0,\n")
    fig = viz.plot_class_difference(tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.png")
    bars = fig.axes[0].patches
    assert [round(b.get_width(), 1) for b in bars] == [-10.0, 44.3]
    assert _png(tmp_path / "c.png").shape[1] == 700


def test_viz_cli_attention_and_class_diff(tiny_run, tiny_data, tmp_path):
    from typer.testing import CliRunner

    from vpnet.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["viz", "attention", str(tiny_data / "left2.mp4"), "--run", str(tiny_run), "--poses",
                              str(tiny_data / "left2.npz"), "--out", str(tmp_path / "a.png"), "--joints-out",
                              str(tmp_path / "j.png")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert _png(tmp_path / "a.png").shape == (450, 500, 3)  # t_c = 1: one panel, its colour bar, one A_T bar
    _png(tmp_path / "j.png")
    res = runner.invoke(app, ["viz", "class-diff", str(tmp_path / "nope.csv"), str(tmp_path / "b.csv"), "--out",
                              str(tmp_path / "c.png")])
    assert res.exit_code == 1 and "nope.csv" in res.output and not (tmp_path / "c.png").exists()

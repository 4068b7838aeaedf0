"""Score fusion (``vpnet evaluate --ensemble``): the weighted mean of the saved scores, each run's metric and
the fusion's, and the runs that cannot be fused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vpnet.cli import app
from vpnet.engine.ensemble import ensemble, find_scores, fuse, load_scores
from vpnet.engine.evaluate import Predictions, save_scores
from vpnet.errors import ConfigError, DataError

CLASSES = ["drink", "eat", "walk"]
NAMES = ["v0", "v1", "v2", "v3"]
LABELS = np.array([0, 1, 2, 1])


def _run(tmp_path, name: str, scores, *, stream: str = "joint", names=NAMES, labels=LABELS, classes=CLASSES):
    """A run folder as vpnet leaves it: config.yaml and eval/test-multi/scores.npz."""
    run = tmp_path / name
    out = run / "eval" / "test-multi"
    out.mkdir(parents=True)
    (run / "config.yaml").write_text(f"data:\n  pose_stream: {stream}\n")
    save_scores(out / "scores.npz", Predictions(np.asarray(scores, np.float32), np.asarray(labels), list(names)),
                classes, primary_metric="top1", dataset="N-UCLA V3", protocol="v3", split="test")
    return run


# joint gets v0, v1 right; bone gets v2, v3 right; the fusion gets what the weights favour
JOINT = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4], [0.6, 0.3, 0.1]]
BONE = [[0.3, 0.4, 0.3], [0.1, 0.5, 0.4], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1]]


def test_fusion_is_the_weighted_mean_of_the_saved_scores(tmp_path):
    a, b = _run(tmp_path, "a", JOINT), _run(tmp_path, "b", BONE, stream="bone")
    sets = [load_scores(a), load_scores(b)]
    np.testing.assert_allclose(fuse(sets), (np.array(JOINT) + np.array(BONE)) / 2, rtol=1e-6)
    np.testing.assert_allclose(fuse(sets, [3, 1]), (3 * np.array(JOINT) + np.array(BONE)) / 4, rtol=1e-6)
    result = ensemble([a, b], weights=[0.6, 0.4], out_dir=tmp_path / "fused")
    assert result.rows == [("joint (a)", 0.5), ("bone (b)", 0.75), ("fusion", 1.0)]
    written = json.loads((tmp_path / "fused" / "results.json").read_text())
    assert written["top1"] == 1.0 and written["weights"] == [0.6, 0.4]
    assert [r["top1"] for r in written["ensemble"]] == [0.5, 0.75]
    fused = load_scores(tmp_path / "fused")  # the fusion's own scores.npz, fusable again
    np.testing.assert_allclose(fused.scores, 0.6 * np.array(JOINT) + 0.4 * np.array(BONE), rtol=1e-6)


def test_runs_of_other_videos_labels_or_classes_are_not_fused(tmp_path):
    a = _run(tmp_path, "a", JOINT)
    for name, kw, what in [("names", {"names": ["v0", "v1", "v2", "v9"]}, "other videos"),
                           ("labels", {"labels": [0, 1, 2, 2]}, "other labels"),
                           ("classes", {"classes": ["drink", "eat", "run"]}, "other classes")]:
        other = _run(tmp_path, name, BONE, **kw)
        with pytest.raises(DataError, match=what) as e:
            fuse([load_scores(a), load_scores(other)])
        assert str(other) in str(e.value)
    with pytest.raises(ConfigError, match="non-negative numbers"):
        fuse([load_scores(a)], [-1])


def test_finding_the_scores_of_a_run(tmp_path):
    run = _run(tmp_path, "a", JOINT)
    assert find_scores(run) == run / "eval" / "test-multi" / "scores.npz"
    assert find_scores(run / "eval" / "test-multi") == run / "eval" / "test-multi" / "scores.npz"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no saved scores .* evaluate it first"):
        find_scores(tmp_path / "empty")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a scores file written by vpnet evaluate"):
        load_scores(bad)


def test_cli_reports_each_run_and_the_fusion(tmp_path):
    a, b = _run(tmp_path, "a", JOINT), _run(tmp_path, "b", BONE, stream="bone")
    r = CliRunner().invoke(app, ["evaluate", "--ensemble", str(a), str(b), "--weights", "1,1", "-o",
                                 str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[1].split() == ["joint", "(a)", "50.00", "%"] and lines[2].split() == ["bone", "(b)", "75.00", "%"]
    assert lines[3].split() == ["fusion", "100.00", "%"]
    assert (tmp_path / "out" / "predictions.csv").is_file()
    r = CliRunner().invoke(app, ["evaluate", "--ensemble", str(a), str(b), "--weights", "1"])
    assert r.exit_code != 0 and "1 weights for 2 runs" in r.output
    r = CliRunner().invoke(app, ["evaluate", "--ensemble", str(a), str(tmp_path / "missing")])
    assert r.exit_code != 0 and "missing: not found" in r.output and "Traceback" not in r.output

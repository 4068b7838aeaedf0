"""Metrics against values computed by hand on imbalanced classes (top-1 and mean per-class differ)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from vpnet.engine.metrics import (
    classification_metrics,
    confusion_matrix,
    format_summary,
    topk_correct,
    write_metrics,
)

NAMES = ["drink", "eat", "read", "absent0", "absent1", "absent2", "absent3"]


def _scores() -> tuple[np.ndarray, np.ndarray]:
    """9 videos: 6 of class 0 (all right), 2 of class 1 (one right), 1 of class 2 (wrong, ranked 6th)."""
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])
    s = np.full((9, 7), 0.01)
    for i in range(6):
        s[i, 0] = 0.9
    s[6, 0], s[6, 1] = 0.6, 0.3  # class 1 video predicted as 0, label second
    s[7, 1] = 0.8  # right
    s[8] = [0.50, 0.20, 0.02, 0.10, 0.07, 0.06, 0.05]  # label 2 has the 6th score: outside the top 5
    return s, labels


def test_hand_computed_values():
    s, y = _scores()
    m = classification_metrics(s, y, class_names=NAMES)
    assert m.num_samples == 9
    assert m.top1 == pytest.approx(7 / 9)
    assert m.top5 == pytest.approx(8 / 9)
    # per class: 6/6, 1/2, 0/1; classes without videos have none and stay out of the mean
    assert m.per_class[:3] == pytest.approx([1.0, 0.5, 0.0])
    assert all(math.isnan(v) for v in m.per_class[3:])
    assert m.mean_class == pytest.approx((1.0 + 0.5 + 0.0) / 3)  # 0.5, while top-1 is 0.78
    assert m.support.tolist() == [6, 2, 1, 0, 0, 0, 0]
    expected = np.zeros((7, 7), dtype=np.int64)
    expected[0, 0] = 6
    expected[1, 0] = expected[1, 1] = 1
    expected[2, 0] = 1
    assert (m.confusion == expected).all()
    assert m.get("mean_class") == m.mean_class
    with pytest.raises(KeyError, match="unknown metric"):
        m.get("top3")


def test_topk_ties_follow_argmax():
    scores = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]])
    assert topk_correct(scores, np.array([1, 1]), 1).tolist() == [False, True]
    assert topk_correct(scores, np.array([1, 2]), 2).tolist() == [True, True]
    assert topk_correct(scores, np.array([2, 0]), 5).tolist() == [True, True]  # k capped at K


def test_confusion_matrix_checks_inputs():
    assert confusion_matrix(np.array([1, 1]), np.array([0, 1]), 2).tolist() == [[0, 1], [0, 1]]
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([2]), np.array([0]), 2)
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 2)
    with pytest.raises(ValueError, match="expected scores"):
        classification_metrics(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="class names"):
        classification_metrics(np.zeros((2, 3)), np.zeros(2), class_names=["a"])


def test_files(tmp_path):
    s, y = _scores()
    m = classification_metrics(s, y, class_names=NAMES)
    res = write_metrics(tmp_path, m, primary_metric="mean_class", extra={"split": "test"})
    data = json.loads((tmp_path / "results.json").read_text())
    assert data == json.loads(json.dumps(res))
    assert data["primary_metric"] == {"key": "mean_class", "name": "mean per-class accuracy",
                                      "value": pytest.approx(0.5)}
    assert data["per_class"]["eat"] == 0.5 and data["per_class"]["absent0"] is None
    assert data["split"] == "test" and data["top1"] == pytest.approx(7 / 9)
    rows = list(csv.reader(open(tmp_path / "confusion.csv")))
    assert rows[0] == ["true \\ predicted", *NAMES]
    assert rows[2] == ["eat", "1", "1", "0", "0", "0", "0", "0"]
    per_class = list(csv.DictReader(open(tmp_path / "per_class.csv")))
    assert per_class[1] == {"class_index": "1", "class_name": "eat", "support": "2", "correct": "1",
                            "accuracy": "0.500000"}
    assert per_class[3]["accuracy"] == ""
    assert (tmp_path / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = format_summary(m, "mean_class")
    assert "mean per-class accuracy:  50.00 %  <- primary metric" in text


def test_paired_bootstrap_interval_holds_the_difference_and_narrows_with_more_videos():
    from vpnet.engine.metrics import paired_bootstrap

    rng = np.random.default_rng(0)
    a = (rng.random((3, 400)) < 0.8).astype(float)
    b = (rng.random((3, 400)) < 0.6).astype(float)
    d, lo, hi = paired_bootstrap(a, b)
    assert d == pytest.approx(100 * (a.mean() - b.mean()))
    assert lo < d < hi and lo > 0  # a 20-point gap over 400 videos is resolved
    _, lo100, hi100 = paired_bootstrap(a[:, :100], b[:, :100])
    assert hi100 - lo100 > hi - lo
    # identical models: a zero-width interval at 0
    assert paired_bootstrap(a, a) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same N videos"):
        paired_bootstrap(a, b[:, :10])

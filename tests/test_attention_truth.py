"""Ground truth on the attention grid and the attention measures, on hand-made boxes and maps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vpnet.attention_truth import (
    a_s_spread,
    attention_precision,
    cell_coverage,
    clip_truth,
    embedding_distances,
    truth_maps,
)


def test_cell_coverage_is_the_covered_fraction_of_each_cell():
    crop = np.array([0.0, 0.0, 40.0, 40.0])  # 4 x 4 cells of 10 px
    cover = cell_coverage(np.array([5.0, 10.0, 20.0, 20.0]), crop, 4, 4)
    expected = np.zeros((4, 4))
    expected[1, 0], expected[1, 1] = 0.5, 1.0  # row 1 (y 10-20); x 5-10 is half of cell 0, 10-20 all of cell 1
    np.testing.assert_allclose(cover, expected)
    assert cell_coverage(np.array([50.0, 50.0, 60.0, 60.0]), crop, 4, 4).sum() == 0  # outside the crop
    # a crop that is not at the origin: the box is taken relative to it
    np.testing.assert_allclose(cell_coverage(np.array([105.0, 210.0, 120.0, 220.0]), crop + [100, 200, 100, 200], 4, 4),
                               expected)


def test_clip_truth_averages_the_frames_of_each_time_step():
    boxes = np.array([[0, 0, 10, 10], [30, 30, 40, 40]] * 4, np.float64)  # alternating corners, 8 frames
    crop = np.array([0.0, 0.0, 40.0, 40.0])
    t = clip_truth(boxes, np.arange(8), crop, 2, 4, 4)
    assert t.shape == (2, 4, 4)
    assert t[0, 0, 0] == pytest.approx(0.5) and t[0, 3, 3] == pytest.approx(0.5) and t[0].sum() == pytest.approx(1)
    # frames past the end are clipped to the last one
    assert clip_truth(boxes, np.array([7, 9, 9, 9]), crop, 1, 4, 4)[0, 3, 3] == pytest.approx(1.0)


def test_truth_maps_read_the_annotations(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"acting": [[0, 0, 10, 10]] * 4, "decoy": [[30, 30, 40, 40]] * 4}))
    (tmp_path / "b.json").write_text(json.dumps({"acting_side": "r"}))  # a depth class: no boxes
    windows = np.tile(np.arange(4), (2, 1, 1))
    crops = np.tile(np.array([0.0, 0.0, 40.0, 40.0]), (2, 1, 1))
    acting, decoy, has = truth_maps(tmp_path, ["a", "b"], windows, crops, (2, 4, 4))
    assert has.tolist() == [True, False] and acting.shape == (2, 1, 2, 4, 4)
    assert acting[0, 0, :, 0, 0].tolist() == [1, 1] and decoy[0, 0, :, 3, 3].tolist() == [1, 1]
    assert acting[1].sum() == decoy[1].sum() == 0


def test_attention_precision_separates_a_following_map_from_a_blind_one():
    acting = np.zeros((2, 1, 2, 2))
    decoy = np.zeros_like(acting)
    acting[0, 0, 0, 0] = decoy[0, 0, 1, 1] = 1  # clip 0: acting top left, decoy bottom right
    acting[1, 0, 1, 1] = decoy[1, 0, 0, 0] = 1  # clip 1: the other way round
    follows = np.stack([acting[0], acting[1]]) * 0.9 + 0.025
    np.testing.assert_allclose(attention_precision(follows, acting, decoy), [0.925 / 0.95] * 2)
    blind = np.full_like(acting, 0.25)
    np.testing.assert_allclose(attention_precision(blind, acting, decoy), [0.5, 0.5])
    assert np.isnan(attention_precision(blind, np.zeros_like(acting), np.zeros_like(acting))).all()


def test_a_s_spread_is_zero_for_one_map_and_positive_when_maps_follow_the_class():
    labels = np.array([0, 0, 1, 1])
    same = np.ones((4, 2, 2))
    assert a_s_spread(same, labels) == (0.0, 0.0)
    by_class = np.stack([np.eye(2), np.eye(2), 1 - np.eye(2), 1 - np.eye(2)])
    within, between = a_s_spread(by_class, labels)
    assert within == 0.0 and between == pytest.approx(0.25)  # shares 0.5 or 0 per cell: std 0.25


def test_embedding_distances_tell_a_collapsed_embedding():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(50, 16))
    matched, shuffled = embedding_distances(f, f + 0.01 * rng.normal(size=f.shape))
    assert matched < 0.01 and shuffled > 1.5  # random directions: about 2
    const = np.ones((50, 16))
    assert embedding_distances(const, const * 2) == (0.0, 0.0)

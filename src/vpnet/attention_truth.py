"""Where the attention should land, and how well it does: ground truth on the attention grid and its measures.

A dataset that records where its action happens (vpnet-ADL's ``annotations/<name>.json``: per frame the
image boxes of the acting hand with its object and of the other, decoy, hand with the other object) is
mapped onto each clip's attention grid (t_c x m x n cells) through the clip's frames and crop box (the
feature cache's ``windows.npy`` and ``boxes.npy``). Three measures of a trained model's attention follow:

- **attention precision** (:func:`attention_precision`): A_ST's mass on the acting hand's cells divided
  by its mass on the acting plus the decoy cells, each cell weighted by how much of it the box covers.
  A pose-blind map scores about 0.5 on data whose acting side is random; a map that follows the acting
  hand approaches 1.
- **A_S spread** (:func:`a_s_spread`): how much A_S (as a distribution over the m x n cells) varies
  between the clips of one class and between the classes' mean maps. A map that ignores the pose has
  zero spread.
- **L_e matched vs shuffled** (:func:`embedding_distances`): eq. (4)'s distance between f_e and P_e for
  each clip's own pose, and for another clip's pose. A collapsed embedding (constant f_e and P_e) scores
  both the same.

Nothing here is a model input: the ground truth only measures (and the ``oracle`` probe of ``vpnet demo``
is given it on purpose).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["cell_coverage", "clip_truth", "truth_maps", "attention_precision", "a_s_spread", "embedding_distances"]


def cell_coverage(box: np.ndarray, crop: np.ndarray, m: int, n: int) -> np.ndarray:
    """(m, n): the fraction of each cell of the ``crop`` (x0, y0, x1, y1), cut into m rows x n columns,
    that ``box`` (x0, y0, x1, y1) covers; both in the same pixels."""
    x0, y0, x1, y1 = (float(v) for v in crop)
    xs, ys = np.linspace(x0, x1, n + 1), np.linspace(y0, y1, m + 1)
    ox = np.clip(np.minimum(xs[1:], box[2]) - np.maximum(xs[:-1], box[0]), 0, None) / np.diff(xs)
    oy = np.clip(np.minimum(ys[1:], box[3]) - np.maximum(ys[:-1], box[1]), 0, None) / np.diff(ys)
    return oy[:, None] * ox[None, :]


def clip_truth(boxes: np.ndarray, window: np.ndarray, crop: np.ndarray, t_c: int, m: int, n: int) -> np.ndarray:
    """(t_c, m, n): the cell coverage of per-frame ``boxes`` (F, 4) over a clip's ``window`` (T,) of frame
    indices cut to ``crop``, averaged over the T / t_c frames of each feature time step."""
    frames = np.clip(np.asarray(window), 0, len(boxes) - 1)
    cover = np.stack([cell_coverage(boxes[f], crop, m, n) for f in frames])  # (T, m, n)
    return cover.reshape(t_c, -1, m, n).mean(1)


def truth_maps(annotation_dir: str | Path, names: list[str], windows: np.ndarray, crops: np.ndarray,
               grid: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The acting and decoy coverage of every cached clip: (N, V, t_c, m, n) float32 each, and ``has`` (N,)
    bool, the items whose annotation has boxes (the object classes; the others' maps are zero).

    ``windows`` (N, V, T) and ``crops`` (N, V, 4) are the feature cache's ``windows.npy`` and ``boxes.npy``;
    the annotation's boxes are in the same pixels as the crops (the source video's)."""
    t_c, m, n = grid
    num, views = windows.shape[:2]
    acting = np.zeros((num, views, t_c, m, n), np.float32)
    decoy = np.zeros_like(acting)
    has = np.zeros(num, bool)
    for i, name in enumerate(names):
        truth = json.loads((Path(annotation_dir) / f"{name}.json").read_text())
        if "acting" not in truth:
            continue
        has[i] = True
        boxes = {role: np.asarray(truth[role], np.float64) for role in ("acting", "decoy")}
        for v in range(views):
            acting[i, v] = clip_truth(boxes["acting"], windows[i, v], crops[i, v], t_c, m, n)
            decoy[i, v] = clip_truth(boxes["decoy"], windows[i, v], crops[i, v], t_c, m, n)
    return acting, decoy, has


def attention_precision(a_st: np.ndarray, acting: np.ndarray, decoy: np.ndarray) -> np.ndarray:
    """(N,): sum(A_ST * acting) / (sum(A_ST * acting) + sum(A_ST * decoy)) per clip; A_ST, acting and decoy
    (N, t_c, m, n) (A_ST = A_S x A_T, or A_S broadcast over time). NaN where both masses are zero."""
    on = (a_st * acting).reshape(len(a_st), -1).sum(1)
    off = (a_st * decoy).reshape(len(a_st), -1).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return on / (on + off)


def a_s_spread(a_s: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(within, between): A_S (N, m, n) as a distribution over the cells (each map divided by its sum); the
    per-cell standard deviation between the clips of a class, averaged over cells and classes, and between
    the classes' mean maps, averaged over cells."""
    p = a_s.reshape(len(a_s), -1).astype(np.float64)
    p = p / np.maximum(p.sum(1, keepdims=True), 1e-12)
    classes = np.unique(labels)
    within = float(np.mean([p[labels == c].std(0).mean() for c in classes]))
    means = np.stack([p[labels == c].mean(0) for c in classes])
    return within, float(means.std(0).mean())


def embedding_distances(f_e: np.ndarray, p_e: np.ndarray, *, seed: int = 0) -> tuple[float, float]:
    """(matched, shuffled): the mean of eq. (4), ||f_e/|f_e| - P_e/|P_e|||^2, over each clip's own pair and
    over pairs of a clip's f_e with another clip's P_e (a fixed random derangement); f_e, P_e (N, D_e)."""
    def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return ((a - b) ** 2).sum(1)

    n = len(f_e)
    shift = np.random.default_rng(seed).permutation(n)
    other = shift[(np.argsort(shift) + 1) % n]  # a cyclic shift in a random order: nobody keeps their own
    return float(dist(f_e, p_e).mean()), float(dist(f_e, p_e[other]).mean())

"""The paper's figures (matplotlib; each function writes a PNG and returns the Figure).

- :func:`plot_attention_over_time` (Fig. 5b): a window's frames with A_ST = A_S x A_T over the crop
  (:func:`attention_panels` and :func:`show_attention` draw the same panels into other figures).
- :func:`joint_activations` + :func:`plot_joint_activations` (Fig. 5a): the GCN's activation of each
  joint over the t_p poses, joints in body order (spine and head, arms, legs).
- :func:`plot_tsne` (Fig. 6b): t-SNE of the features of chosen classes for two checkpoints side by
  side (scikit-learn, the ``viz`` extra).
- :func:`dynamicity` + :func:`plot_accuracy_vs_dynamicity` (Fig. 6a): dynamicity = mean Procrustes
  distance between consecutive poses (:func:`scipy.spatial.procrustes`, which removes translation,
  scale and rotation); accuracy per class against it.
- :func:`plot_class_difference`: per-class accuracy of run B minus run A from their ``per_class.csv``
  (the paper's "+44.3 % clapping").
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vpnet.skeletons import get_layout

__all__ = ["plot_attention_over_time", "attention_panels", "show_attention", "joint_activations",
           "plot_joint_activations", "plot_tsne", "dynamicity", "plot_accuracy_vs_dynamicity", "plot_class_difference",
           "body_order", "place_labels"]


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=(width, height), dpi=100, squeeze=False)


def _save(fig, out: str | Path) -> None:
    import io

    from vpnet._io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(out, buf.getvalue())


def attention_panels(crops: np.ndarray, a_s: np.ndarray, a_t: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (frame, heat) of each feature step t of :func:`plot_attention_over_time`: the middle frame of step t
    and A_S (resized to the frame) x A_T[t], scaled by the largest step, in [0, 1]."""
    import cv2

    t_c = 1 if a_t is None else len(a_t)
    weights = np.ones(1) if a_t is None else np.asarray(a_t) / max(float(np.max(a_t)), 1e-8)
    size = crops.shape[1:3]
    heat = cv2.resize(np.asarray(a_s, np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return [(crops[min(int((t + 0.5) * len(crops) / t_c), len(crops) - 1)], heat * weights[t]) for t in range(t_c)]


def show_attention(ax, frame: np.ndarray, heat: np.ndarray, title: str = "", *, fontsize: float = 8) -> None:
    """One panel of :func:`attention_panels` on a matplotlib axis: the frame, the attention over it."""
    ax.imshow(frame)
    ax.imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    if title:
        ax.set_title(title, fontsize=fontsize)
    ax.axis("off")


def plot_attention_over_time(crops: np.ndarray, a_s: np.ndarray, a_t: np.ndarray | None, out: str | Path, *,
                             title: str = "") -> object:
    """Fig. 5b. ``crops`` (T, S, S, 3) uint8: a window's frames; ``a_s`` (m, n); ``a_t`` (t_c,) or None.

    One panel per feature step t (its middle frame), A_S x A_T[t] (scaled by the largest step) over it,
    with a colour bar of that scale; under the panels, A_T per step as bars labelled with their values.
    """
    import matplotlib.cm as cm
    from matplotlib.colors import Normalize

    panels = attention_panels(crops, a_s, a_t)
    n = len(panels)
    rows = 1 if a_t is None else 2
    fig, axes = _figure(max(5.0, 2.3 * n + 2.0), 2.9 + 1.6 * (rows - 1), ncols=n, nrows=rows)
    for t, (frame, heat) in enumerate(panels):
        show_attention(axes[0, t], frame, heat, f"step t={t}", fontsize=10)
    fig.colorbar(cm.ScalarMappable(Normalize(0, 1), cmap="jet"), ax=list(axes[0]), fraction=0.03, pad=0.02,
                 label="A_S x A_T (of the largest step)")
    if a_t is not None:
        for ax in axes[1, 1:]:
            ax.remove()
        ax = fig.add_subplot(2, 1, 2) if n > 1 else axes[1, 0]
        if n > 1:
            axes[1, 0].remove()
        bars = ax.bar(range(n), np.asarray(a_t, float), color="tab:orange", width=0.6)
        ax.bar_label(bars, labels=[f"{float(v):.3f}" for v in a_t], fontsize=9)
        ax.set_xticks(range(n), [f"t={t}" for t in range(n)], fontsize=9)
        ax.set_ylabel("A_T", fontsize=10)
        ax.set_ylim(0, max(float(np.max(a_t)) * 1.25, 1e-6))
        ax.set_title("temporal attention A_T per feature step", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, out)
    return fig


def body_order(layout: str = "ntu25") -> list[int]:
    """Joint indices in body order: spine and head, left arm, right arm, left leg, right leg."""
    lay = get_layout(layout)
    groups = [("spine", "neck", "head", "hip_center", "shoulder_center"), ("shoulder_l", "elbow_l", "wrist_l",
              "hand_l", "handtip_l", "thumb_l"), ("shoulder_r", "elbow_r", "wrist_r", "hand_r", "handtip_r", "thumb_r"),
              ("hip_l", "knee_l", "ankle_l", "foot_l"), ("hip_r", "knee_r", "ankle_r", "foot_r")]
    order: list[int] = []
    for group in groups:
        for prefix in group:
            order += [i for i, j in enumerate(lay.joints) if j.startswith(prefix) and i not in order]
    return order + [i for i in range(lay.num_joints) if i not in order]


def joint_label(name: str) -> str:
    """A joint's name for people: ``shoulder_l`` -> ``left shoulder``, ``spine_base`` -> ``spine base``."""
    side = {"l": "left", "r": "right"}
    base, _, last = name.rpartition("_")
    return f"{side[last]} {base.replace('_', ' ')}" if base and last in side else name.replace("_", " ")


def joint_activations(pose_backbone, poses: np.ndarray) -> np.ndarray:
    """The GCN's activation per pose and joint: mean over channels of ELU(f+) (eq. 1), (t_p, J).

    ``pose_backbone`` is a :class:`~vpnet.models.pose.GCNPoseBackbone`; ``poses`` (3, t_p, J) metres.
    """
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        x = torch.as_tensor(np.asarray(poses, np.float32))[None]
        f = F.elu(pose_backbone.graph_conv(x))[0]  # (64, t_p, J)
    return f.abs().mean(0).numpy()


def plot_joint_activations(act: np.ndarray, out: str | Path, *, layout: str = "ntu25", title: str = "") -> object:
    """Fig. 5a: ``act`` (t_p, J) as a heat map, joints (rows) in :func:`body_order`, poses as columns."""
    order = body_order(layout)
    names = [joint_label(get_layout(layout).joints[i]) for i in order]
    act = np.asarray(act)
    fig, axes = _figure(max(6.0, 0.35 * act.shape[0] + 3), 0.3 * len(order) + 1.4)
    ax = axes[0, 0]
    im = ax.imshow(act[:, order].T, aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(order)), names, fontsize=9)
    step = max(1, act.shape[0] // 10)  # whole poses only, at most ~10 ticks
    ax.set_xticks(range(0, act.shape[0], step))
    ax.set_xlabel("pose (time step)", fontsize=10)
    ax.set_title(title or "GCN joint activation", fontsize=10)
    fig.colorbar(im, ax=ax, label="mean |ELU(f+)| over channels")
    fig.tight_layout()
    _save(fig, out)
    return fig


def plot_tsne(features: Sequence[np.ndarray], labels: Sequence[np.ndarray], class_names: Sequence[str],
              out: str | Path, *, titles: Sequence[str] = ("A", "B"), classes: Sequence[int] | None = None,
              seed: int = 0) -> object:
    """Fig. 6b: t-SNE of (N_i, D) features with (N_i,) labels, one panel per model, chosen ``classes``."""
    from vpnet.extras import require

    manifold = require("sklearn.manifold", extra="viz", what="the t-SNE figure")
    fig, axes = _figure(5 * len(features), 4.5, ncols=len(features))
    for ax, feats, labs, title in zip(axes[0], features, labels, titles):
        feats, labs = np.asarray(feats, np.float64), np.asarray(labs)
        keep = np.isin(labs, classes) if classes is not None else np.ones(len(labs), bool)
        feats, labs = feats[keep], labs[keep]
        if len(feats) < 2:
            raise ValueError(f"t-SNE of {title}: {len(feats)} sample(s) of the chosen classes; it needs 2 or more")
        # scikit-learn's default 30 where there are enough samples; it must stay below their number
        perplexity = min(30.0, max(1.0, (len(feats) - 1) / 3))
        emb = manifold.TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(feats)
        for c in np.unique(labs):
            ax.scatter(*emb[labs == c].T, s=10, label=class_names[int(c)])
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, -1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    _save(fig, out)
    return fig


def dynamicity(xyz: np.ndarray) -> float:
    """Mean Procrustes distance between consecutive poses of one person, ``xyz`` (T, J, 3); 0 for T < 2."""
    from vpnet.extras import require

    spatial = require("scipy.spatial", extra="viz", what="dynamicity (Procrustes distance)")
    xyz = np.asarray(xyz, np.float64)
    xyz = xyz[np.isfinite(xyz).all(axis=(1, 2))]
    if len(xyz) < 2:
        return 0.0
    return float(np.mean([spatial.procrustes(a, b)[2] for a, b in zip(xyz[:-1], xyz[1:])]))


def plot_accuracy_vs_dynamicity(dyn: np.ndarray, acc: np.ndarray, class_names: Sequence[str], out: str | Path, *,
                                labels: Sequence[str] = ("accuracy",), title: str = "") -> object:
    """Fig. 6a: per-class accuracy (K,) or (R, K) for R runs against per-class dynamicity (K,)."""
    dyn = np.asarray(dyn, np.float64)
    acc = np.atleast_2d(np.asarray(acc, np.float64))
    fig, axes = _figure(8, 5)
    ax = axes[0, 0]
    markers = "os^Dv"
    for i, (row, label) in enumerate(zip(acc, labels)):  # a scatter: classes are not a sequence
        ax.scatter(dyn, 100 * row, marker=markers[i % len(markers)], s=36, label=label, zorder=3)
    ax.set_xlabel("dynamicity (mean Procrustes distance between consecutive poses)", fontsize=10)
    ax.set_ylabel("accuracy %", fontsize=10)
    ax.set_ylim(-5, 110)
    ax.legend(fontsize=9, loc="lower right")
    ax.set_title(title or "accuracy vs dynamicity", fontsize=10)
    fig.tight_layout()
    place_labels(ax, dyn, 100 * acc[0], list(class_names), fontsize=8)
    _save(fig, out)
    return fig


def place_labels(ax, x: np.ndarray, y: np.ndarray, texts: Sequence[str], *, fontsize: float = 8) -> list:
    """Label each point (x_k, y_k) with texts[k] where the label overlaps no label placed before it and
    no point: candidate offsets around the point, nearest first, else the free one found furthest out
    (then joined to its point by a thin line). Greedy, in display pixels; returns the Text objects."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pts = ax.transData.transform(np.column_stack([x, y]))
    taken: list = []  # Bbox of placed labels
    out = []
    ring = [(dx, dy) for r in (6, 14, 24, 36, 50, 66) for dx, dy in
            ((r, r // 2), (r, -r), (-r, r // 2), (-r, -r), (0, r), (0, -r - 6), (r, 0), (-r, 0))]
    for k in np.argsort(-np.asarray(y)):  # the top of the plot first
        text = ax.annotate(texts[k], (x[k], y[k]), xytext=(0, 0), textcoords="offset pixels", fontsize=fontsize)
        chosen = None
        for dx, dy in ring:
            text.set_position((dx, dy))
            text.set_horizontalalignment("left" if dx > 0 else "right" if dx < 0 else "center")
            box = text.get_window_extent(renderer).expanded(1.05, 1.1)
            hits_point = any(box.contains(px, py) for px, py in pts)
            if not hits_point and not any(box.overlaps(b) for b in taken) and \
                    ax.get_window_extent(renderer).contains(box.x0, box.y0):
                chosen = box
                break
        if chosen is None:
            chosen = text.get_window_extent(renderer)
        if abs(text.get_position()[0]) + abs(text.get_position()[1]) > 30:  # far out: a leader line
            ax.annotate("", (x[k], y[k]), xytext=text.get_position(), textcoords="offset pixels",
                        arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.5"})
        taken.append(chosen)
        out.append(text)
    return out


def read_per_class(path: str | Path) -> dict[str, float]:
    """``per_class.csv`` of ``vpnet evaluate`` -> {class name: accuracy} (classes without test items left out)."""
    from vpnet.errors import DataError

    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"class_name", "accuracy"} - set(reader.fieldnames or ())
            if missing:
                raise DataError(path, f"not a per_class.csv of vpnet evaluate: no column {', '.join(sorted(missing))}")
            out, line = {}, 1
            for line, r in enumerate(reader, start=2):
                if not r["accuracy"]:
                    continue
                acc = float(r["accuracy"])
                if not 0 <= acc <= 1:
                    raise DataError(path, f"line {line}: accuracy {acc} is not in [0, 1]")
                out[str(r["class_name"])] = acc
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(path, f"not a CSV text file ({type(e).__name__})") from None
    except (ValueError, TypeError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(path, f"line {line}: accuracy is not a number ({e})") from None
    if not out:
        raise DataError(path, "holds no class accuracy (an empty per_class.csv?)")
    return out


def plot_class_difference(a: str | Path, b: str | Path, out: str | Path, *, top: int = 20,
                          labels: Sequence[str] = ("A", "B")) -> object:
    """Per-class accuracy of B minus A (percentage points), the ``top`` largest changes, sorted."""
    acc_a, acc_b = read_per_class(a), read_per_class(b)
    common = [c for c in acc_a if c in acc_b]
    if not common:
        raise ValueError(f"{a} and {b} have no class in common")
    diff = sorted(((100 * (acc_b[c] - acc_a[c]), c) for c in common), key=lambda x: -abs(x[0]))[:top]
    diff.sort()
    fig, axes = _figure(7, 0.25 * len(diff) + 1.3)
    ax = axes[0, 0]
    ax.barh([c for _, c in diff], [d for d, _ in diff], color=["tab:green" if d >= 0 else "tab:red" for d, _ in diff])
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel(f"accuracy {labels[1]} - {labels[0]} (percentage points)")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    _save(fig, out)
    return fig

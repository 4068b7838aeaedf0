"""The built-in benchmark (``vpnet demo``, what ``make demo`` runs): its table, per class, into RESULTS.md.

    python benchmarks/bench_demo.py                     # runs `vpnet demo` into a temporary folder (~8 min)
    python benchmarks/bench_demo.py --from demo_out     # reads a finished demo's report instead

Every number above the history comes from the demo's ``report/summary.json`` and the evaluations'
``results.json``; a report made with another recipe (its ``recipe`` fingerprint,
:func:`vpnet.demo.recipe_key`, differs from the present one's: an edited size, generator or run config)
is refused, so an edited recipe reruns. The design history below the table (how vpnet-ADL got to its
present form, with the per-seed numbers of each step) is kept in :data:`HISTORY` and marked as history in
the section: this script does not recompute it, since those generator versions no longer exist.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from _results import write_section
from vpnet.demo import SIZES, recipe_key
from vpnet.demo_report import comparison_lines, markdown_table

HISTORY_ROWS = [  # (generator / recipe, pose_only, l1, l2, l3): top-1 %, per seed
    ('v2: 12 classes, actor holds both objects of the pair; AdamW lr 1e-3, 40 epochs', '73.1', '63.0', '65.7', '66.7'),
    ('v3: + a side table with random objects (distractors)', '72.2', '62.0', '', '63.0'),
    ('v3, AdamW lr 1e-2, 80 epochs', '50.0', '67.6', '', '64.8'),
    ('v4 (performers interleaved), AdamW lr 3e-3, weight decay 0.3, 80 epochs', '', '66.7', '', '69.4'),
    ('v4, same, attention regulariser lambda2 = 0.01 / 0.05', '', '', '', '70.4 / 66.7'),
    ("v4, same, l3's pose backbone from the pose_only run", '70.4', '', '', '69.4'),
    ("v4, the paper's SGD (lr 0.01, momentum 0.9), cosine, 80 epochs, pose backbone from pose_only, seed 0 "
     '/ seed 1',
     '68.5 / 71.3', '63.0 / 67.6', '81.5 / -', '74.1 / 71.3'),
    ('v5: brighter comb; SGD, 60 epochs, 3 seeds (the recipe since)',
     '70.4, 68.5, 68.5', '66.7, 66.7, 65.7', '75.9, 67.6, 72.2', '72.2, 72.2, 76.9'),
    ('v6: camera tilt fixed (it tilted up: feet left the frame), a 5th object pair (14 classes)',
     '67.5, 66.7, 60.3', '73.8, 69.0, 69.8', '76.2, 74.6, 74.6', '71.4, 69.8, 73.0'),
    ('v7: the comb becomes a hairbrush (a linear probe could not tell it from the phone)',
     '67.5, 66.7, 60.3', '69.0, 68.3, 66.7', '72.2, 72.2, 72.2', '69.8, 68.3, 73.0'),
    ('v7, lr 0.02 (2 seeds for l3)', '64.3, 65.1', '70.6, 72.2, 67.5', '', '73.0, 73.0'),
    ('v7, 120 epochs', '68.3, 65.9', '71.4, 69.8, 67.5', '', '73.8, 73.0'),
    ('v7, 36 videos per class (168 test), 1 cached view, 45 epochs', '64.9, 61.9', '74.4, 73.2', '', '77.4, 74.4'),
    ("v8 (tried, reverted): the idle hand holds the pair's other object in half the clips, another object "
     'in a quarter, nothing else',
     '67.5, 66.7, 60.3', '62.7, 62.7, 62.7', '65.1, 62.7, 64.3', '64.3, 61.1'),
    ('v7, seed 0, with temporary patches (not kept): the coupler at 10x the lr', '', '', '72.2', '70.6'),
    ('v7, seed 0, same, attention regulariser lambda2 = 0.01 / 0.001', '', '', '', '68.3 / 70.6'),
    ('v7, seed 0, a trainable 1x1x1 conv + BN + ReLU (256 channels) on the cached maps, for every RGB variant',
     '', '77.0', '74.6', '77.8'),
    ("v7, two-stage as the paper allows (\"the 3D ConvNet can be pre-trained for the action classification "
     "task\"): l2/l3 start from the l1 run's head and the pose_only run's pose backbone; l1 column: the l1 run "
     "trained 60 more epochs (the same total training)",
     '', '72.2, 69.8, 68.3', '-, 69.8, 72.2', '73.0, 73.0, 71.4'),
    ("v7, the attention's last layers start at std 0.3 instead of 0.01 (`model.attention_init_std`)",
     '67.5, 66.7, 60.3', '69.0, 68.3, 66.7', '81.0, 77.0, 73.8', '77.8, 74.6, 73.0'),
    ('v7, std 1.0', '', '', '81.7, 77.8, 69.8', '78.6, 72.2, 76.2'),
    ('v7, std 0.3, 30 epochs (the recipe since: 60 took 15 minutes on the 2 cores of the final run)',
     '64.3, 62.7, 62.7', '67.5, 65.9, 64.3', '78.6, 77.0, 70.6', '71.4, 70.6, 73.8'),
    ('v7, std 0.3, 30 epochs of batch 16 (as many steps as 60 of 32)',
     '61.9, 59.5, 55.6', '72.2, 69.0, 69.0', '77.0, 78.6, 76.2', '75.4, 70.6, 72.2'),
    ('v7, std 0.3, 30 epochs, 1 cached view', '58.7, 64.3, 60.3', '69.0, 65.1, 66.7', '77.8, 75.4, 73.8',
     '72.2, 65.1, 72.2'),
]


V9 = """
### v9: a dataset that only pose-guided attention can solve, and what VPN's attention does on it

Up to v7 a fixed map solved the object pairs: the used object always went to the head and the other stayed
at the hip. v9 (`ADLSpec.version = 9`) raises **both** hands together to mirrored places beside the head (the
place moves from clip to clip); only the acting hand then uses its object, with the class's own small motion,
while the decoy hand holds the pair's other object still. The acting hand alternates between left and right
along each class's samples (about half each per class and camera), and every sample's
`annotations/<name>.json` records per frame the image boxes of the acting and the decoy hand with their
objects (`tests/data/test_adl.py` checks the boxes hold the hands, the symmetry and that only the acting hand
moves). Every setting below was chosen on the validation performers (protocol `csval`, carved from the
training performers); the test performers are used once, by `make demo` (the section above).

{table}

What the table says:

- **The data is right.** The oracle (A_S from the ground truth) beats `l1` by 21.7 points on the object pairs
  and the fixed map gains nothing (-1.7): no single map solves them, and a map that follows the acting hand
  does (attention precision 0.87). pose_only is perfect on the depth pairs and at chance inside every object
  pair (35 % on them: it also mixes the motions).
- **VPN's attention does not follow the acting hand**, in the paper's form or in any of the mechanisms tried:
  attention precision 0.43-0.54 where the oracle has 0.87 and a pose-blind map 0.5, also with 90 epochs, a
  5x learning rate or a larger initial attention. The learned A_S differs between classes (spread between
  classes 0.01-0.07) but hardly between the clips of one class (0.000-0.019),
  so it codes the class's motion, which the poses know, not the side of the acting hand, which the poses also
  know (the acting wrist moves, the other holds still). Presumably because the label rewards looking at the
  acting hand only once the head tells the objects apart there, and the head learns that only from clips
  where the attention already looks there.
  Starting the head from `l1` (so that it knows the objects from the first step) lowered the precision
  (0.43); training the pose backbone from scratch gave one map for every clip.
- **The embedding cannot make it.** Eq. (4) falls to ~0 with a constant z1 and f_e (v7: 0.83 -> 0.002); the
  InfoNCE variant does not collapse (eq. 4 distance 0.67-1.02 matched against 1.77-2.00 shuffled) but pulls
  P_e towards what identifies a clip's video in its batch (the room, the performer, the class), not towards
  the acting hand's cell.
- **Late fusion is the baseline to beat**: 64.3 % against `l1` 48.8 and `pose_only` 53.6, well above every
  pose-driven attention variant here. The paper's claim that the attention adds what neither modality has
  alone is not shown on this data; what it shows is that the information is there (the oracle) and that a
  cue the label does not supervise directly is not learned from 168 training videos in 30 epochs.

The issue's targets (l3 >= l1 + 8, l3 >= late fusion + 3, precision >= 0.70) were out of reach in every
setting tried; the numbers above are what was measured.
"""

HISTORY = """
### History, not recomputed by this script: how vpnet-ADL got here (cs protocol)

Each step was measured with `vpnet demo`'s pipeline at the time; those generator versions and recipes no
longer exist, so `bench_demo.py` copies these rows and only the table above is recomputed. Top-1 % on the
held-out performers, per seed; `small` size unless said (27 videos per class, 32x128x128
clips, attention grid 4x4x4, frozen Kinetics-400 I3D). The changes are in `src/vpnet/data/adl.py`
(`ADLSpec.version`) and `src/vpnet/demo.py`.

{table}

What the attention did, read off the trained models (`vpnet.demo_report` draws it; the figures below from
the v7 runs, seed 0): from the near-zero start (the authors zero the coupler's last layers; vpnet's default
draws them with std 0.01) the attention settles within the first epochs on one map for every clip, blind to
the poses: A_T one-hot on the second time step and A_S at 1 in the top and bottom rows of the crop, for
every class alike (A_S's mean over the map differs by under 0.005 between classes). The coupler's output z1
is then about 6 in size and varies by 0.28 from clip to clip: the sigmoid and the softmax are saturated and
pass no gradient back to the pose, so nothing later makes the attention pose-dependent. Neither a 10x lr for
the coupler, nor the attention regulariser (lambda2 up to 0.05), nor a trainable layer on the frozen maps
changed that, and the embedding loss does not either: a constant z1 and a constant f_e satisfy it (L_e fell
from 0.83 to 0.002). Training the head first (the paper's two-stage option) adds about as much as training
`l1` 60 more epochs does. What changed it is the start: with the last layers drawn with std 0.3 the
attention depends on the pose from the first step, and the trained A_T codes what the poses tell apart (60
epochs: lean back on the third step, kick backward on the fourth, the other classes on the second; the
30-epoch `l3` of `make demo`, seed 0: lean back on the third). Per class (above), `l3` gains most over `l1`
on phone call, kick backward, lean back and drink from a cup. A_S still ends up one map for every clip: on
person-centred crops the hands and the objects are in much the same cells in every clip, so a pose-blind map
already selects them. A linear probe on the frozen v6 maps shows what selection could give: pooled f 76.2 %,
pooled f plus the top row 85.7 %; with the residual form f' = A_ST f + f and A_T summing to 1 over 4 steps,
the attention can raise a cell's share of the pooled map by at most a quarter, which bounds what the
frozen-backbone demo can take from A_S. v8 tested whether showing both objects of a pair in every clip kept
the attention from selecting (the pair's other object in half the clips only): every RGB variant got worse,
so vpnet-ADL stayed at v7 until v9 (above).
"""


#: v9, every setting on the validation protocol ``csval`` (train performers 1, 4, 5, 9; validation 2, 8: 84
#: videos), seed 0, 30 epochs: (variant and what changed, top-1, object pairs, depth pairs, attention precision,
#: A_S spread within / between classes, eq. (4) matched / shuffled). Measured with ``vpnet demo --validation``
#: and the same pipeline's functions on single variants.
V9_ROWS = [
    ("pose_only", "53.6", "35.0", "100.0", "", "", ""),
    ("l1", "48.8", "50.0", "45.8", "", "", ""),
    ("l2 (the paper's eq. 2: sigmoid A_S, f' = A_ST f + f)", "48.8", "", "", "0.49", "", ""),
    ("fixed_map (softmax A_S, f' = A_ST f, no pose)", "50.0", "", "", "0.49", "", ""),
    ("oracle (ground-truth A_S, A_T from the pose, softmax, f' = A_ST f)", "63.1", "", "", "0.87", "", ""),
    ("late fusion of l1 and pose_only (weight chosen here)", "64.3", "", "", "", "", ""),
    ("l2, softmax A_S, f' = A_ST f", "36.9", "", "", "0.54", "", ""),
    ("l2, softmax A_S, f' = A_ST f + f", "40.5", "41.7", "37.5", "0.49", "0.0000 / 0.057", ""),
    ("l2, softmax A_S, f' = A_ST f, pose backbone trained from scratch", "54.8", "50.0", "66.7", "0.50",
     "0.0000 / 0.0000", ""),
    ("l2, softmax A_S, f' = A_ST f, head from l1 and pose backbone from pose_only", "44.0", "38.3", "58.3", "0.43",
     "0.016 / 0.054", ""),
    ("l3, InfoNCE embedding (sigmoid A_S, f' = A_ST f + f)", "44.0", "40.0", "54.2", "0.49", "0.006 / 0.028",
     "0.99 / 1.96"),
    ("l3, InfoNCE, softmax A_S, f' = A_ST f + f", "50.0", "40.0", "75.0", "0.47", "0.013 / 0.068", "0.67 / 1.77"),
    ("l3, InfoNCE, softmax A_S, f' = A_ST f", "38.1", "38.3", "37.5", "0.45", "0.005 / 0.060", "0.73 / 1.89"),
    ("l3, InfoNCE, softmax A_S, f' = A_ST f, head from l1 and pose backbone from pose_only", "45.2", "38.3", "62.5",
     "0.48", "0.017 / 0.073", "0.85 / 1.92"),
    ("l2 (the paper's eq. 2), again on an idle machine", "48.8", "46.7", "54.2", "0.49", "0.001 / 0.013", ""),
    ("l2 (the paper's eq. 2), 90 epochs", "50.0", "45.0", "62.5", "0.49", "0.001 / 0.010", ""),
    ("l2 (the paper's eq. 2), attention_init_std 1.0", "56.0", "46.7", "79.2", "0.50", "0.001 / 0.010", ""),
    ("l2 (the paper's eq. 2), 90 epochs, pose backbone from scratch", "41.7", "43.3", "37.5", "0.49",
     "0.0000 / 0.0000", ""),
    ("l2, softmax A_S, f' = A_ST f, 90 epochs", "39.3", "38.3", "41.7", "0.54", "0.011 / 0.056", ""),
    ("l2, softmax A_S, f' = A_ST f + f, 90 epochs", "48.8", "51.7", "41.7", "0.50", "0.0000 / 0.0000", ""),
    ("l2, softmax A_S, f' = A_ST f + f, lr 0.05", "42.9", "41.7", "45.8", "0.50", "0.0000 / 0.0000", ""),
    ("l3, InfoNCE, softmax A_S, f' = A_ST f + f, 90 epochs", "57.1", "45.0", "87.5", "0.49", "0.019 / 0.075",
     "1.02 / 2.00"),
]


def _v9_table() -> str:
    rows = ["| variant / setting | top-1 | object pairs | depth pairs | attention precision | A_S spread within / "
            "between | L_e matched / shuffled |", "|---|---|---|---|---|---|---|"]
    return "\n".join(rows + ["| " + " | ".join(r) + " |" for r in V9_ROWS])


def _history_table() -> str:
    rows = ["| generator / recipe | pose_only | l1 | l2 | l3 |", "|---|---|---|---|---|"]
    return "\n".join(rows + ["| " + " | ".join(r) + " |" for r in HISTORY_ROWS])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="src", type=Path, help="a finished demo's --out folder (default: run one)")
    ap.add_argument("--size", default="small")
    args = ap.parse_args()
    if args.src is None:
        out = Path(tempfile.mkdtemp(prefix="vpnet-demo-"))
        subprocess.run([sys.executable, "-m", "vpnet.cli", "demo", "--out", str(out), "--size", args.size], check=True)
    else:
        out = args.src
    summary = json.loads((out / "report" / "summary.json").read_text())
    want = recipe_key(SIZES[summary["size"]])
    if summary.get("recipe") != want:
        sys.exit(f"{out}: this report was made with another demo recipe (fingerprint {summary.get('recipe')}, the "
                 f"present one is {want}); run the demo again (without --from) to measure the present recipe")
    classes = summary["classes"]
    t_c, m, n = summary["attention_grid"]
    spec = SIZES[summary["size"]]
    lines = [
        f"`vpnet demo --size {summary['size']}` (what `make demo` runs): {len(classes)} classes, "
        f"{summary.get('test_videos')} test videos of the held-out performers ({summary.get('protocol', 'cs')}), "
        f"attention grid {t_c}x{m}x{n}, I3D {'Kinetics-400' if summary.get('kinetics') else 'random init'} frozen "
        f"and its maps cached (extracted under bf16 autocast in channels_last_3d), the paper's SGD (lr {spec.lr:g}, "
        f"momentum {spec.momentum:g}) on a cosine schedule for {spec.epochs} epochs, the two-stage variants "
        f"starting from the `pose_only` run's pose backbone and with their attention's last layers drawn with std "
        f"{spec.attention_init_std:g}; late fusion weight {summary.get('fusion_weight')} "
        f"({summary.get('fusion_source')}). Wall time of the run that wrote this section (its cache may have been "
        f"reused): {summary['wall_seconds']:.0f} s.",
        "",
        *markdown_table(summary, describe=False),
        "",
        "Paired differences (95 % bootstrap intervals over the test videos, seeds pooled):",
        "",
        *comparison_lines(summary),
    ]
    l3, l1, pose = (summary["variants"].get(k, {}).get("top1_mean") for k in ("l3", "l1", "pose_only"))
    if None not in (l3, l1, pose):
        lines += ["", f"`l3` - `l1`: {l3 - l1:+.1f} points; `l3` - `pose_only`: {l3 - pose:+.1f} points; "
                      f"chance {100 / len(classes):.1f} %."]
    # per class, mean over seeds, from each evaluation's results.json
    trained = [v for v in summary["variants"] if summary["runs"].get(v)]
    lines += ["", "Per class (top-1 %, mean over seeds):", "",
              "| class | " + " | ".join(trained) + " |", "|---|" + "---|" * len(trained)]
    per = {}
    for name in trained:
        runs = summary["runs"][name]
        accs = []
        for r in runs:
            res = json.loads((Path(r["eval"]) / "results.json").read_text())
            accs.append([100 * (res["per_class"][c] or 0.0) for c in classes])
        per[name] = np.mean(accs, axis=0)
    for i, c in enumerate(classes):
        lines.append(f"| {c} | " + " | ".join(f"{per[v][i]:.0f}" for v in trained) + " |")
    write_section("demo", "Built-in benchmark: vpnet demo on vpnet-ADL (bench_demo.py)",
                  "\n".join(lines) + "\n" + V9.format(table=_v9_table()) + HISTORY.format(table=_history_table()))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""The built-in benchmark (``vpnet demo``, what ``make demo`` runs): its table, per class, into RESULTS.md.

    python benchmarks/bench_demo.py                     # runs `vpnet demo` into a temporary folder (~8 min)
    python benchmarks/bench_demo.py --from demo_out     # reads a finished demo's report instead

Every number comes from the demo's ``report/summary.json`` and the evaluations' ``results.json``. The
design history below the table (how vpnet-ADL got to its present form, with the per-seed numbers of
each step) is kept in :data:`HISTORY`, since those generator versions no longer exist.
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
from vpnet.demo_report import markdown_table

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
]


HISTORY = """
### How vpnet-ADL got here (each step measured with `vpnet demo`'s pipeline at the time; cs protocol)

Top-1 % on the held-out performers, per seed; `small` size unless said (27 videos per class, 32x128x128
clips, attention grid 4x4x4, frozen Kinetics-400 I3D). The changes are in `src/vpnet/data/adl.py`
(`ADLSpec.version`) and `src/vpnet/demo.py`.

{table}

What the attention did, read off the trained models (`vpnet.demo_report` draws it): with AdamW it
settled on one map for every clip (A_S near 1 everywhere and A_T one-hot on one step at lr 1e-2, a
single cell with lambda2 = 0.05), blind to the poses; with SGD it stays near that map but varies a
little with the poses, and A_T's step codes some of the depth classes (lean back on the last step),
which is where `l2`/`l3` gain over `l1` (kicks, bow / lean back). A linear probe on the frozen v6
maps shows what spatial selection could give: pooled f 76.2 %, pooled f plus the top row 85.7 %;
the trained attention did not learn that selection while every clip of both classes of a pair showed
both objects. v8 tested whether that symmetric start (the classifier cannot tell which object means
which class before the attention looks in the right place, and the reverse) was the cause, by showing
the pair's other object in half the clips only: every RGB variant got worse and the attention still
did not select, so vpnet-ADL stays at v7. The next candidates: train the top of the I3D (Mixed_5b/5c)
on cached Mixed_4f maps, so that f can become local; a larger crop (m = n = 7 at 224 px, about 3x the
extraction time).
"""


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
    classes = summary["classes"]
    t_c, m, n = summary["attention_grid"]
    lines = [
        f"`vpnet demo --size {summary['size']}` (what `make demo` runs): {len(classes)} classes, "
        f"{summary.get('test_videos')} test videos of the held-out performers (cs), attention grid "
        f"{t_c}x{m}x{n}, I3D {'Kinetics-400' if summary.get('kinetics') else 'random init'} frozen and its maps "
        f"cached, the paper's SGD (lr 0.01, momentum 0.9) on a cosine schedule, `l2`/`l3` starting from the "
        f"`pose_only` run's pose backbone. Wall time of the run that wrote this section (its cache may have "
        f"been reused): {summary['wall_seconds']:.0f} s.",
        "",
        *markdown_table(summary, describe=False),
    ]
    l3, l1, pose = (summary["variants"].get(k, {}).get("top1_mean") for k in ("l3", "l1", "pose_only"))
    if None not in (l3, l1, pose):
        lines += ["", f"`l3` - `l1`: {l3 - l1:+.1f} points; `l3` - `pose_only`: {l3 - pose:+.1f} points "
                      f"(the issue asks for at least +5 each); chance {100 / len(classes):.1f} %."]
    # per class, mean over seeds, from each evaluation's results.json
    lines += ["", "Per class (top-1 %, mean over seeds):", "",
              "| class | " + " | ".join(summary["variants"]) + " |", "|---|" + "---|" * len(summary["variants"])]
    per = {}
    for name, runs in summary["runs"].items():
        accs = []
        for r in runs:
            res = json.loads((Path(r["eval"]) / "results.json").read_text())
            accs.append([100 * (res["per_class"][c] or 0.0) for c in classes])
        per[name] = np.mean(accs, axis=0)
    for i, c in enumerate(classes):
        lines.append(f"| {c} | " + " | ".join(f"{per[v][i]:.0f}" for v in summary["variants"]) + " |")
    write_section("demo", "Built-in benchmark: vpnet demo on vpnet-ADL (bench_demo.py)",
                  "\n".join(lines) + "\n" + HISTORY.format(table=_history_table()))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

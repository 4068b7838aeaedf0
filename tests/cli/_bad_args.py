"""Generated bad command lines for every ``vpnet`` command, and the checks each must pass (issue 22).

A :class:`World` is a folder of real inputs (a trained pose-only run, a video, NTU skeletons, a per-class
CSV, damaged and foreign files). :func:`cases` draws command lines from it with a seeded generator: each
is a real command with one to three of its arguments replaced by a bad value (out of range, of the wrong
type, a missing file, a folder for a file, a damaged or foreign file, an output that is an input or that
lies under a file, an unknown option). :func:`check` runs one in-process and returns what went wrong:
an exit code outside the README's table, not exactly one ``error:`` line, a traceback or an internal
error, an input modified, or a file left behind.

Used by ``tests/cli/test_cli_property.py`` (a few dozen cases in CI) and ``benchmarks/bench_sweep.py``
(hundreds, with the interruption and concurrency cases).
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: exit codes a bad command line may end with (README: 1 input, 2 config/argument, 4 output).
ALLOWED_CODES = (1, 2, 4)


@dataclass
class World:
    root: Path
    run: Path
    video: Path
    skeleton: Path
    pose_dir: Path
    per_class: Path
    config: Path

    def files(self) -> dict[Path, str]:
        """Every file under the world and its SHA-256 (what must be byte-identical after a failed command)."""
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(self.root.rglob("*"))
                if p.is_file() and "vpnet-cache" not in p.parts}


def pose_run(data, root: Path, *extra: str, **overrides: object) -> list[str]:
    """``key=value`` overrides of a tiny pose-only run (NTU-60 cs, 4 poses, one epoch, no validation) named
    ``run`` under ``root`` on the generated skeletons ``data``; ``overrides`` spell a dot as ``__``
    (``train__epochs=2``), ``extra`` are more ``key=value`` strings."""
    base = {"name": "run", "output_dir": root, "data.dataset": "ntu60", "data.protocol": "cs",
            "data.pose_dir": data.pose_dir, "data.missing_list": "null", "data.batch_size": 2,
            "data.num_workers": 0, "model.variant": "pose_only", "model.num_classes": 60, "model.t_p": 4,
            "train.epochs": 1, "train.global_batch": 4, "train.tensorboard": "false", "train.val_split": "null",
            "eval.mode": "single"}
    base.update({k.replace("__", "."): v for k, v in overrides.items()})
    return [f"{k}={v}" for k, v in base.items()] + list(extra)


#: the ways :func:`damaged_feature_cache` damages a feature cache.
FEATURE_CACHE_DAMAGES = ("garbage done.npy", "truncated features.npy", "meta list", "names changed",
                         "done wrong length", "missing poses.npy", "moved")


def damaged_feature_cache(root: Path, damage: str) -> tuple[Path, dict]:
    """A feature cache of three items (split ``test``) written under ``root`` by the extractor's own writer
    with small random maps, then damaged as ``damage`` (one of :data:`FEATURE_CACHE_DAMAGES`; ``moved``
    renames the cache folder). Returns the cache's root (the new one when moved) and the writer's keyword
    arguments, with which ``_SplitWriter(root / "test", **kw).todo()`` says what would be extracted again."""
    import torch

    from vpnet.engine.features import _SplitWriter

    kw = dict(names=["a", "b", "c"], labels=[0, 1, 0], views=1, mode="test", dtype="float16",
              extra={"backbone": "i3d", "backbone_weights": None, "checkpoint": None, "short_side": None})
    writer = _SplitWriter(root / "test", **kw)
    for i in range(3):
        writer.put(i, None, torch.rand(1, 8, 2, 2, 2), torch.rand(1, 3, 4, 25), np.arange(8)[None],
                   np.zeros((1, 4)))
    writer.finish()
    split = root / "test"
    if damage == "garbage done.npy":
        (split / "done.npy").write_bytes(b"garbage")
    elif damage == "truncated features.npy":
        data = (split / "features.npy").read_bytes()
        (split / "features.npy").write_bytes(data[: len(data) // 2])
    elif damage == "meta list":
        (split / "meta.json").write_text("[1, 2]")
    elif damage == "names changed":
        (split / "names.json").write_text('["a", "b"]')
    elif damage == "done wrong length":
        np.save(split / "done.npy", np.ones(7, bool))
    elif damage == "missing poses.npy":
        (split / "poses.npy").unlink()
    elif damage == "moved":
        root = root.rename(root.parent / (root.name + "-moved"))
    else:
        raise ValueError(f"unknown damage {damage!r}; one of {FEATURE_CACHE_DAMAGES}")
    return root, kw


def make_world(root: Path) -> World:
    """Inputs for the generated command lines: a pose-only run trained for one step on generated NTU
    skeletons, a 24-frame video, a per-class CSV, and damaged files (truncated weights, garbage, empty)."""
    from vpnet.data import synthetic

    root.mkdir(parents=True, exist_ok=True)
    data = synthetic.make_ntu(root / "data", num_classes=2, per_class=6, frames=24, videos=False, seed=4)
    r = invoke(["train", *pose_run(data, root)])
    assert r.exit_code == 0, r.output
    video = root / "v.mp4"
    synthetic.write_video(video, [np.full((96, 128, 3), 5 * i, np.uint8) for i in range(24)])
    per_class = root / "per_class.csv"
    per_class.write_text("class,class_name,accuracy,support\n0,a,0.5,2\n1,b,1.0,2\n")
    weights = (root / "run" / "final.safetensors").read_bytes()
    (root / "truncated.safetensors").write_bytes(weights[: len(weights) // 3])
    (root / "garbage.bin").write_bytes(bytes(range(256)) * 4)
    (root / "empty.txt").write_text("")
    (root / "folder").mkdir()
    (root / "blocker").write_text("a file in the way")
    (root / "notes.json").write_text('{"top1": 0.5}')
    return World(root=root, run=root / "run", video=video, skeleton=sorted(Path(data.pose_dir).glob("*.skeleton"))[0],
                 pose_dir=Path(data.pose_dir), per_class=per_class, config=root / "run" / "config.yaml")


def _bad_files(w: World) -> list[str]:
    r = w.root
    return [str(r / "missing.x"), str(r / "folder"), str(r / "garbage.bin"), str(r / "empty.txt"),
            str(r / "truncated.safetensors"), str(r / "notes.json"), str(r / "blocker" / "x.y"), "", "-"]


def _bad_outputs(w: World, suffix: str) -> list[str]:
    """Outputs that must be refused: inputs, run files, under a file, a folder, a wrong suffix."""
    r = w.root
    return [str(w.video), str(w.skeleton), str(w.run / "final.safetensors"), str(w.run / "config.yaml"),
            str(w.run / ".." / "run" / "steps.csv"), str(r / "blocker" / f"x{suffix}"), str(r / "folder"),
            str(r / "out.txt"), str(w.per_class)]


BAD_INTS = ["0", "-5", "abc", "1e99", "", "nan", "3.5", "٣", "-0", "99999999999999999999999"]
BAD_WORDS = ["bogus", "", "ONNX ", "cuda:99", "../x", "--", "\u00e9\u00e8", "null"]


def _commands(w: World) -> list[tuple[list[str], dict[str, list[str]]]]:
    """(a valid command line with {slot} placeholders, bad values per slot). Every slot left alone is valid."""
    r = w.root
    bad_f, bad_ints = _bad_files(w), BAD_INTS
    return [
        (["predict", "{video}", "--run", "{run}", "--poses", "{poses}", "--out", "{out}", "--hop", "{hop}",
          "--max-gap", "{gap}", "--device", "{device}"],
         {"video": bad_f, "run": bad_f, "poses": bad_f, "out": _bad_outputs(w, ".json"), "hop": bad_ints,
          "gap": ["-1", "abc", "", "1.5"], "device": BAD_WORDS + ["cuda", "mps", "cpu:x"]}),
        (["predict", "{video}", "--onnx", "{onnx}", "--poses", "{poses}", "--out", "{out}"],
         {"onnx": bad_f + [str(w.run / "final.safetensors")], "poses": bad_f, "out": _bad_outputs(w, ".json"),
          "video": bad_f}),
        (["predict", "{video}", "--checkpoint", "{ckpt}", "--poses", "{poses}", "--video-out", "{vout}"],
         {"ckpt": bad_f, "vout": _bad_outputs(w, ".mp4") + [str(r / "x.txt")], "video": bad_f, "poses": bad_f}),
        (["export", "--run", "{run}", "--format", "{fmt}", "--out", "{out}"],
         {"run": bad_f, "fmt": BAD_WORDS, "out": _bad_outputs(w, ".pt") + [str(r / "m.onnx")]}),
        (["export", "--checkpoint", "{ckpt}", "--format", "onnx", "--out", "{out}"],
         {"ckpt": bad_f, "out": _bad_outputs(w, ".onnx")}),
        (["pose", "extract", "{video}", "--out", "{out}"],
         {"video": bad_f, "out": _bad_outputs(w, ".npz")}),
        (["viz", "class-diff", "{a}", "{b}", "--out", "{out}", "--top", "{top}", "--label", "A", "--label", "B"],
         {"a": bad_f, "b": bad_f, "out": _bad_outputs(w, ".png"), "top": ["0", "-1", "x"]}),
        (["viz", "dynamicity", "-c", "{config}", "--per-class", "{pc}", "--out", "{out}"],
         {"config": bad_f, "pc": bad_f, "out": _bad_outputs(w, ".png")}),
        (["viz", "attention", "{video}", "--run", "{run}", "--poses", "{poses}", "--out", "{out}", "--window",
          "{window}"],
         {"video": bad_f, "run": bad_f, "poses": bad_f, "out": _bad_outputs(w, ".png"), "window": ["-1", "x"]}),
        (["evaluate", "--run", "{run}", "--mode", "{mode}", "--split", "{split}", "-o", "{out}"],
         {"run": bad_f, "mode": BAD_WORDS, "split": BAD_WORDS, "out": [str(r / "blocker" / "e"), str(r / "blocker")]}),
        (["train", "{a}", "{b}", "--run-dir", "{rundir}"],
         {"a": ["model.t_p=abc", "train.epochs=-1", "unknown.key=1", "data.batch_size=0", "name=${bogus}",
                "model.variant=l9", "optim.lr=", "train.global_batch=x", "model"],
          "b": [f"data.pose_dir={r / 'missing'}", "data.dataset=bogus", "eval.mode=triple"],
          "rundir": [str(r / "blocker"), str(r / "blocker" / "run")]}),
        (["prepare", "{a}", "-o", "{out}", "--shard", "{shard}", "--workers", "{workers}"],
         {"a": ["data.dataset=bogus", "data.protocol=zz", f"data.video_dir={r / 'missing'}", "x=1"],
          "out": [str(r / "blocker"), str(r / "blocker" / "s")], "shard": ["5/2", "x", "1/0", "-1/2"],
          "workers": ["0", "-1", "x"]}),
        (["extract-features", "-c", "{config}", "-o", "{out}", "--views", "{views}", "--dtype", "{dtype}"],
         {"config": bad_f, "out": [str(r / "blocker"), str(r / "blocker" / "f")], "views": ["0", "-2", "x"],
          "dtype": BAD_WORDS}),
        (["weights", "convert", "{src}", "{dst}", "--arch", "{arch}"],
         {"src": bad_f, "dst": _bad_outputs(w, ".safetensors"), "arch": BAD_WORDS}),
        (["demo", "--size", "{size}", "--seeds", "{seeds}", "--out", "{out}"],
         {"size": BAD_WORDS, "seeds": ["0", "-1", "x"], "out": [str(r / "blocker"), str(r / "blocker" / "d")]}),
        (["{cmd}", "--{opt}"], {"cmd": ["info", "predict", "train", "weights", "viz", "pose", "export", "nonsense"],
                                "opt": ["bogus", "out=", "\u00e9", "x"]}),
    ]


def _valid(w: World) -> dict[str, str]:
    r = w.root
    return {"video": str(w.video), "run": str(w.run), "poses": str(w.skeleton), "out": str(r / "new" / "o.json"),
            "hop": "4", "gap": "15", "device": "cpu", "onnx": str(r / "missing.onnx"),
            "ckpt": str(w.run / "final.safetensors"), "vout": str(r / "new" / "o.mp4"), "fmt": "onnx",
            "a": str(w.per_class), "b": str(w.per_class), "top": "5", "config": str(w.config),
            "pc": str(w.per_class), "window": "0", "mode": "single", "split": "test", "rundir": str(r / "runs" / "x"),
            "shard": "0/1", "workers": "1", "views": "1", "dtype": "float16", "src": str(w.run / "final.safetensors"),
            "dst": str(r / "new" / "w.safetensors"), "arch": "i3d", "size": "tiny", "seeds": "1",
            "cmd": "info", "opt": "bogus"}


def cases(w: World, n: int, seed: int = 0) -> list[list[str]]:
    """``n`` command lines, each with 1-3 slots replaced by a bad value (drawn with ``seed``)."""
    rng = random.Random(seed)
    commands = _commands(w)
    valid = _valid(w)
    out = []
    while len(out) < n:
        template, slots = commands[len(out) % len(commands)] if len(out) < len(commands) else rng.choice(commands)
        chosen = rng.sample(sorted(slots), k=min(len(slots), rng.randint(1, 3)))
        values = {k: valid[k] for k in slots} | {k: rng.choice(slots[k]) for k in chosen}
        args = [a.format(**values) if "{" in a else a for a in template]
        out.append(args)
    return out


def invoke(args: list[str]):
    """``vpnet ARGS`` in this process (typer's CliRunner), without the log handlers it added: in real use each
    command is a process, and a handler left on CliRunner's closed stream (or a run's train.log) would
    write into the next command's output."""
    from typer.testing import CliRunner

    from vpnet.cli import app

    handlers = {name: list(logging.getLogger(name).handlers) for name in ("", "vpnet")}
    try:
        return CliRunner().invoke(app, args)
    finally:
        for name, kept in handlers.items():
            logger = logging.getLogger(name)
            for h in [h for h in logger.handlers if h not in kept]:
                logger.removeHandler(h)
                h.close()


def check(w: World, args: list[str]) -> list[str]:
    """Run ``vpnet ARGS`` in this process; the problems found (empty: clean)."""
    before = w.files()
    r = invoke(args)
    problems = []
    text = r.output
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        problems.append(f"traceback: {type(r.exception).__name__}: {r.exception}")
    if "Traceback" in text or "internal error" in text:
        problems.append("traceback: " + next((x for x in text.splitlines() if "error" in x.lower()), text[-200:]))
    if r.exit_code not in ALLOWED_CODES:
        problems.append(f"exit code {r.exit_code}")
    errors = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    if len(errors) != 1:
        problems.append(f"{len(errors)} error lines on stderr")
    if "Usage:" in text or "╭" in text:
        problems.append("usage panel")
    after = w.files()
    changed = [str(p) for p in before if after.get(p) != before[p]]
    if changed:
        problems.append(f"data loss: {', '.join(changed)}")
    new = [str(p) for p in after if p not in before]
    if new:
        problems.append(f"left behind: {', '.join(new)}")
    return problems

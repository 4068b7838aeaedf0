"""The bad-input, interruption and concurrency sweep of issue 22, rerun: every case is a real command (or
the library call a command makes) on generated data, judged clean or not; the summary (cases, tracebacks,
data losses, other problems) goes to ``benchmarks/RESULTS.md``.

    python benchmarks/bench_sweep.py [--generated 220] [--write]

Classes of cases (each a function below, named in the table):

- ``aliasing``: outputs that are inputs, run files, another output, another spelling (symlink, ``..``);
- ``collisions``: a folder holding ``clip.avi`` and ``clip.mp4``;
- ``pose cache``, ``feature cache``, ``prepared store``, ``records``, ``checkpoint metadata``: damaged and
  foreign entries (truncated, garbage, a list for an object, text for a number, another video's);
- ``onnx metadata``: an exported file whose vpnet metadata contradicts the model;
- ``counting``: a test item deleted from a prepared store, one unreadable;
- ``resume``: a changed ``optim.lr`` / ``train.epochs`` on resume, another optimiser;
- ``lock``: two ``vpnet train`` on one run folder at once, a stale lock;
- ``signals``: SIGTERM and SIGINT during an ONNX export and an evaluation;
- ``generated``: command lines of every command with one to three bad arguments
  (``tests/cli/_bad_args.py``, the property test's generator).

A case is clean when it exits with a code of the README's table, prints one ``error:`` line (or succeeds
where it should), shows no traceback and no internal error, and leaves every input byte-identical.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "tests" / "cli"))
from _bad_args import FEATURE_CACHE_DAMAGES, World, cases, check, damaged_feature_cache, make_world  # noqa: E402

from _results import write_section  # noqa: E402

VPNET = [sys.executable, "-m", "vpnet.cli"]
Case = tuple[str, str, list[str]]  # (class, description, problems)


def _cli(w: World, args: list[object]) -> list[str]:
    return check(w, [str(a) for a in args])


def _expect_ok(args: list[object], env: dict | None = None) -> tuple[list[str], subprocess.CompletedProcess]:
    r = subprocess.run([*VPNET, *map(str, args)], capture_output=True, text=True, env=env)
    problems = [] if r.returncode == 0 else [f"exit {r.returncode}: {r.stderr.strip().splitlines()[-1:]}"]
    if "Traceback" in r.stderr:
        problems.append("traceback")
    return problems, r


# --- classes --------------------------------------------------------------------------------------------


def aliasing(w: World) -> list[Case]:
    link = w.root / "link.mp4"
    if not link.exists():
        link.symlink_to(w.video)
    weights = w.run / "final.safetensors"
    pred = ["predict", w.video, "--run", w.run, "--poses", w.skeleton]
    lines = {
        "predict --out VIDEO": [*pred, "--out", w.video],
        "predict --video-out VIDEO": [*pred, "--out", w.root / "p.json", "--video-out", w.video],
        "predict --out POSES": [*pred, "--out", w.skeleton],
        "predict --out RUN/final.safetensors": [*pred, "--out", weights],
        "predict --out RUN/config.yaml": [*pred, "--out", w.config],
        "predict --out RUN/../RUN/steps.csv": [*pred, "--out", w.run / ".." / w.run.name / "steps.csv"],
        "predict LINK --out VIDEO": ["predict", link, "--run", w.run, "--poses", w.skeleton, "--out", w.video],
        "predict --out X --video-out X": [*pred, "--out", w.root / "x.mp4", "--video-out", w.root / "x.mp4"],
        "pose extract --out VIDEO": ["pose", "extract", w.video, "--out", w.video],
        "export --out RUN/final.safetensors": ["export", "--run", w.run, "--format", "torchscript", "--out", weights],
        "export --checkpoint W --out W": ["export", "--checkpoint", weights, "--format", "torchscript", "--out",
                                          weights],
        "export --out RUN/checkpoints/step": ["export", "--run", w.run, "--format", "torchscript", "--out",
                                              sorted((w.run / "checkpoints").iterdir())[0]],
        "weights convert W W": ["weights", "convert", weights, weights],
        "viz class-diff --out A": ["viz", "class-diff", w.per_class, w.per_class, "--out", w.per_class],
        "viz dynamicity --out CONFIG": ["viz", "dynamicity", "-c", w.config, "--per-class", w.per_class, "--out",
                                        w.config],
        "viz attention --out VIDEO": ["viz", "attention", w.video, "--run", w.run, "--out", w.video],
    }
    return [("aliasing", name, _cli(w, args)) for name, args in lines.items()]


def _seed_pose_cache(video: Path, frames: int) -> Path:
    from vpnet.poses import MediaPipePoses, cache_path, content_key, default_cache_dir, save_poses

    rng = np.random.default_rng(0)
    world = np.concatenate([rng.normal(0, 0.3, (frames, 33, 3)), np.ones((frames, 33, 1))], -1).astype(np.float32)
    image = np.concatenate([rng.uniform(0.3, 0.7, (frames, 33, 3)), np.ones((frames, 33, 1))], -1).astype(np.float32)
    path = cache_path(content_key(video), default_cache_dir())
    save_poses(path, MediaPipePoses(world, image, fps=30.0, size=(128, 96)), video=video)
    return path


def collisions(w: World) -> list[Case]:
    from vpnet.data import synthetic

    folder = w.root / "collide"
    folder.mkdir(exist_ok=True)
    (folder / "clip.mp4").write_bytes(w.video.read_bytes())
    synthetic.write_video(folder / "clip.avi", [np.full((96, 128, 3), 8 * i, np.uint8) for i in range(30)],
                          codec="mpeg4")
    _seed_pose_cache(folder / "clip.mp4", 24)
    _seed_pose_cache(folder / "clip.avi", 30)
    out = w.root / "collide_out"
    problems, _ = _expect_ok(["predict", folder, "--run", w.run, "--out", out])
    names = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if names != ["clip.avi.json", "clip.mp4.json"]:
        problems.append(f"data loss: outputs {names}")
    elif {json.loads((out / n).read_text())["num_frames"] for n in names} != {24, 30}:
        problems.append("data loss: one result overwrote the other")
    return [("collisions", "predict folder with clip.avi and clip.mp4", problems)]


def pose_cache(w: World) -> list[Case]:
    """Damaged entries of the content-keyed pose cache: predict re-extracts (MediaPipe finds nobody in the
    generated video: a clean error naming the video) and, for the library call, rebuilds with a note."""
    from vpnet import poses as mp

    out = []
    for damage in ("truncated", "garbage", "meta list", "fps text", "foreign", "wrong shape"):
        entry = _seed_pose_cache(w.video, 24)
        good = entry.read_bytes()
        if damage == "truncated":
            entry.write_bytes(good[: len(good) // 2])
        elif damage == "garbage":
            entry.write_bytes(b"\x00" * 100)
        else:
            z = dict(np.load(entry))
            meta = json.loads(str(z["meta"]))
            if damage == "meta list":
                z["meta"] = np.array("[1, 2]")
            elif damage == "fps text":
                z["meta"] = np.array(json.dumps({**meta, "fps": "fast"}))
            elif damage == "foreign":
                z["meta"] = np.array(json.dumps({**meta, "key": "0" * 64}))
            else:
                z["world"] = z["world"][:, :5]
            buf = io.BytesIO()
            np.savez(buf, **z)
            entry.write_bytes(buf.getvalue())
        problems = _cli(w, ["predict", w.video, "--run", w.run, "--out", w.root / "pc.json"])
        notes: list[str] = []
        real = mp.extract_poses
        # MediaPipe finds nobody in the generated video: the library call rebuilds with stand-in landmarks
        mp.extract_poses = lambda v, **kw: mp.MediaPipePoses(*_stub(), fps=30.0, size=(128, 96))
        try:
            mp.load_or_extract(w.video, cache_dir=mp.default_cache_dir(), notes=notes)
            if not notes:
                problems.append("damaged entry used without a note")
            if mp.load_poses(entry, key=mp.content_key(w.video)) is None:
                problems.append("not rebuilt")
        except Exception as e:  # noqa: BLE001 - any exception here is what the sweep counts
            problems.append(f"traceback: {type(e).__name__}: {e}")
        finally:
            mp.extract_poses = real
        out.append(("pose cache", damage, problems))
    return out


def _stub() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    world = np.concatenate([rng.normal(0, 0.3, (24, 33, 3)), np.ones((24, 33, 1))], -1).astype(np.float32)
    return world, world.copy()


def feature_cache(w: World) -> list[Case]:
    """A real feature cache written by the extractor's writer (small random maps), then damaged: the reader
    names the damage, the writer rebuilds the split."""
    from vpnet.engine.feature_store import FeatureDataset
    from vpnet.engine.features import _SplitWriter
    from vpnet.errors import VpnetError

    out = []
    for damage in FEATURE_CACHE_DAMAGES:
        root, kw = damaged_feature_cache(Path(tempfile.mkdtemp(dir=w.root, prefix="features-")), damage)
        split = root / "test"
        problems = []
        try:
            ds = FeatureDataset(root, "test", mode="test")
            if damage != "moved":
                problems.append(f"damaged cache read as {len(ds)} items")
        except VpnetError as e:
            if damage == "moved":
                problems.append(f"moved cache refused: {e}")
        except Exception as e:  # noqa: BLE001
            problems.append(f"traceback: {type(e).__name__}: {e}")
        try:
            again = _SplitWriter(split, **kw)
            if damage == "moved" and again.todo().size:
                problems.append("moved cache not reused")
            if damage not in ("moved", "names changed") and again.todo().size != 3:
                problems.append("damaged split not rebuilt")
        except VpnetError:
            if damage != "names changed":  # another item list: refused (another cache), by design
                problems.append("refused instead of rebuilt")
        except Exception as e:  # noqa: BLE001
            problems.append(f"traceback: {type(e).__name__}: {e}")
        out.append(("feature cache", damage, problems))
    return out


def checkpoint_metadata(w: World) -> list[Case]:
    import torch

    from vpnet.engine.checkpoint import FORMAT_TRAIN_STATE, CheckpointError, TrainState, load_train_state, save_tensors

    good = {"format": FORMAT_TRAIN_STATE, "state": TrainState().to_json(), "optim_scalars": "{}",
            "optim_param_groups": "[]", "scheduler": "null", "scaler": "null"}
    out = []
    for key, value in (("state", "[1, 2]"), ("state", json.dumps({**TrainState().__dict__, "epoch": "two"})),
                       ("state", "{"), ("optim_param_groups", '{"lr": 1}'), ("scheduler", "[]"),
                       ("optim_scalars", "[]"), ("world_size", "many")):
        path = w.root / "bad_state.safetensors"
        save_tensors(path, {"model.w": torch.zeros(2)}, {**good, key: value})
        try:
            load_train_state(path)
            problems = ["accepted"] if key != "world_size" else []
        except CheckpointError:
            problems = []
        except Exception as e:  # noqa: BLE001
            problems = [f"traceback: {type(e).__name__}: {e}"]
        out.append(("checkpoint metadata", f"{key}={value[:30]}", problems))
    # weights files through the CLI: truncated, garbage, a JSON config list
    from safetensors.torch import load_file, save_file

    state = load_file(str(w.run / "final.safetensors"))
    save_file(state, str(w.root / "cfg_list.safetensors"), metadata={"config": "[1, 2]"})
    save_file(state, str(w.root / "cfg_bad.safetensors"), metadata={"config": "model: {t_p: ${nope}}"})
    for name in ("truncated.safetensors", "garbage.bin", "cfg_list.safetensors", "cfg_bad.safetensors"):
        out.append(("checkpoint metadata", f"predict --checkpoint {name}",
                    _cli(w, ["predict", w.video, "--checkpoint", w.root / name, "--poses", w.skeleton, "--out",
                             w.root / "ck.json"])))
    return out


def onnx_metadata(w: World) -> list[Case]:
    try:
        import onnx
    except ImportError:
        return [("onnx metadata", "export extra missing", [])]
    path = w.root / "m.onnx"
    if not path.exists():
        problems, _ = _expect_ok(["export", "--run", w.run, "--format", "onnx", "--out", path])
        if problems:
            return [("onnx metadata", "export", problems)]
    proto = onnx.load(str(path))
    out = []
    for change in ({"class_names": [f"c{i}" for i in range(30)]}, {"frame_stride": 0}, {"clip_len": "8"},
                   {"t_p": 999}, {"skeleton": "kinect99"}, {"num_joints": 13}, {"crop_margin": -1},
                   {"pose_norm": "bogus"}, {"variant": "l3"}, {"class_names": "abc"}):
        edited = onnx.ModelProto()
        edited.CopyFrom(proto)
        (entry,) = [p for p in edited.metadata_props if p.key == "vpnet"]
        entry.value = json.dumps({**json.loads(entry.value), **change})
        bad = w.root / "edited.onnx"
        onnx.save(edited, str(bad))
        out.append(("onnx metadata", json.dumps(change)[:40],
                    _cli(w, ["predict", w.video, "--onnx", bad, "--poses", w.skeleton, "--out", w.root / "o.json"])))
        bad.unlink()
    return out


def counting_and_stores(w: World) -> list[Case]:
    """A prepared store (generated NTU with videos): an item deleted, a records line garbled, an item's header
    damaged; evaluate with the pose-only run."""
    from vpnet.data import synthetic

    data = synthetic.make_ntu(w.root / "vdata", num_classes=2, per_class=4, frames=16, size=(96, 54), seed=3)
    store = w.root / "store"
    problems, _ = _expect_ok(["prepare", "data.dataset=ntu60", f"data.video_dir={data.video_dir}",
                              f"data.pose_dir={data.pose_dir}", "data.missing_list=null", "-o", store, "-j", "1",
                              "--no-progress"])
    out = [("prepared store", "prepare", problems)]
    ev = ["evaluate", "--run", w.run, f"data.prepared_dir={store}", "data.pose_dir=null", "data.video_dir=null"]
    problems, r = _expect_ok([*ev, "-o", w.root / "ev0"])
    full = json.loads((w.root / "ev0" / "results.json").read_text()) if not problems else {}
    out.append(("counting", "evaluate, store whole", problems))
    items = sorted((store / "items").rglob("*.safetensors")) if (store / "items").is_dir() else sorted(
        p for p in store.rglob("*.safetensors"))
    test_names = set((w.root / "ev0" / "predictions.csv").read_text().split()) if not problems else set()
    victim = next((p for p in items if any(p.stem in line for line in test_names)), None)
    problems = []
    if victim is None:
        problems.append("no test item found in the store")
    else:
        victim.rename(victim.with_suffix(".gone"))
        p2, r = _expect_ok([*ev, "-o", w.root / "ev1"])
        problems += p2
        if not p2:
            res = json.loads((w.root / "ev1" / "results.json").read_text())
            n = full["items_expected"]
            if (res["items_expected"], res["items_evaluated"], res["videos_failed"]) != (n, n - 1, 1):
                problems.append(f"miscounted: {res['items_expected']}, {res['items_evaluated']}, "
                                f"{res['videos_failed']}")
            if f"evaluated {n - 1} of {n} items" not in r.stdout:
                problems.append("summary does not name the skipped item")
        victim.with_suffix(".gone").rename(victim)
    out.append(("counting", "evaluate, a test item deleted from the store", problems))
    if victim is not None:  # a damaged header: skipped and counted, never a traceback
        original = victim.read_bytes()
        header_len = int.from_bytes(original[:8], "little")
        header = json.loads(original[8:8 + header_len])
        header["__metadata__"]["size"] = "[1, 2, 3"
        text = json.dumps(header, separators=(",", ":")).encode().ljust(header_len)
        if len(text) == header_len:
            victim.write_bytes(original[:8] + text + original[8 + header_len:])
            p3, r = _expect_ok([*ev, "-o", w.root / "ev2"])
            if not p3 and "skipped 1" not in r.stdout:
                p3.append("damaged item not counted")
            out.append(("prepared store", "damaged item header", p3))
        victim.write_bytes(original)
    for rec in sorted((store / "records").glob("*test*.jsonl"))[:1]:
        original = rec.read_text()
        rec.write_text(original.replace('"name"', '"nam', 1))
        out.append(("records", "garbled line", _cli(w, [*ev, "-o", w.root / "ev3"])))
        rec.write_text("\x00\xff" * 10)
        out.append(("records", "binary file", _cli(w, [*ev, "-o", w.root / "ev4"])))
        rec.write_text(original)
    return out


def resume(w: World, pose_args: list[str]) -> list[Case]:
    import math

    root = w.root / "resume"
    args = [*pose_args, f"output_dir={root}", "optim.optimizer=sgd", "optim.schedule=cosine", "optim.lr=0.1"]
    problems, _ = _expect_ok(["train", *args])
    p2, _ = _expect_ok(["train", *args, "train.epochs=3", "optim.lr=0.01"])
    problems += p2
    if not problems:
        rows = (root / "run" / "epochs.csv").read_text().splitlines()
        col = rows[0].split(",").index("lr")
        lr = float(rows[2].split(",")[col])
        if abs(lr - 0.01 * (1 + math.cos(math.pi / 3)) / 2) > 1e-7:
            problems.append(f"schedule not applied: epoch 2 lr {lr}")
    out = [("resume", "changed optim.lr and train.epochs", problems)]
    r = subprocess.run([*VPNET, "train", *args, "train.epochs=3", "optim.optimizer=adamw"], capture_output=True,
                       text=True)
    ok = r.returncode == 1 and "optim.optimizer" in r.stderr and "Traceback" not in r.stderr
    out.append(("resume", "another optimiser", [] if ok else [f"exit {r.returncode}: {r.stderr[-200:]}"]))
    return out


def lock(w: World, pose_args: list[str]) -> list[Case]:
    root = w.root / "locked"
    args = [*VPNET, "train", *pose_args, f"output_dir={root}", "train.epochs=3"]
    a = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (root / "run" / "train.lock").exists():
        time.sleep(0.05)
    b = subprocess.run(args, capture_output=True, text=True)
    a_out, a_err = a.communicate()
    problems = []
    if a.returncode != 0:
        problems.append(f"first trainer exit {a.returncode}")
    if b.returncode == 0:  # the first one may have finished before the second started: then it resumed
        rows = (root / "run" / "steps.csv").read_text().splitlines()[1:]
        steps = [r.split(",")[0] for r in rows]
        if len(steps) != len(set(steps)):
            problems.append("data loss: duplicated steps.csv rows")
    elif not (b.returncode == 4 and f"pid {a.pid}" in b.stderr and "Traceback" not in b.stderr):
        problems.append(f"second trainer: exit {b.returncode}, {b.stderr.strip().splitlines()[-1:]}")
    how = "the second refused" if b.returncode == 4 else "the first finished before the second started"
    out = [("lock", f"two trainers on one run folder ({how})", problems)]
    (root / "run" / "train.lock").write_text("999999999\n")
    problems, _ = _expect_ok(args[len(VPNET):] + ["train.epochs=4"])
    out.append(("lock", "stale lock of a dead process", problems))
    return out


def signals(w: World) -> list[Case]:
    out = []
    for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
        for what, args, wait in (
                ("onnx export", ["export", "--run", w.run, "--format", "onnx", "--out", w.root / "sig" / "m.onnx"],
                 4.0),
                ("evaluate", ["evaluate", "--run", w.run, "-o", w.root / "sig" / "ev"], 3.0)):
            (w.root / "sig").mkdir(exist_ok=True)
            before = w.files()
            p = subprocess.Popen([*VPNET, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(wait)
            p.send_signal(sig)
            _, err = p.communicate()
            problems = []
            if "Traceback" in err:
                problems.append("traceback")
            if p.returncode not in (0, 130, 143):
                problems.append(f"exit {p.returncode}")
            hidden = [str(f) for f in (w.root / "sig").rglob(".*tmp*")]
            if hidden:
                problems.append(f"left behind: {hidden}")
            after = w.files()
            changed = [str(f) for f in before if after.get(f) != before[f]]
            if changed:
                problems.append(f"data loss: {changed}")
            out.append(("signals", f"{name} during {what}", problems))
    return out


def generated(w: World, n: int) -> list[Case]:
    return [("generated", " ".join(a)[:90], check(w, a)) for a in cases(w, n, seed=2022)]


# --- main -----------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generated", type=int, default=220, help="generated bad command lines")
    ap.add_argument("--write", action="store_true", help="write the section of benchmarks/RESULTS.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vpnet-sweep-") as tmp:
        os.environ["VPNET_CACHE"] = str(Path(tmp) / "vpnet-cache")
        w = make_world(Path(tmp) / "world")
        base = ["name=run", "data.dataset=ntu60", "data.protocol=cs", f"data.pose_dir={w.pose_dir}",
                "data.missing_list=null", "data.batch_size=2", "data.num_workers=0", "model.variant=pose_only",
                "model.num_classes=60", "model.t_p=4", "train.epochs=1", "train.global_batch=4",
                "train.tensorboard=false", "train.val_split=null", "eval.mode=single"]
        results: list[Case] = []
        for part in (aliasing, collisions, pose_cache, feature_cache, checkpoint_metadata, onnx_metadata,
                     counting_and_stores, lambda w: resume(w, base), lambda w: lock(w, base), signals,
                     lambda w: generated(w, args.generated)):
            got = part(w)
            results += got
            bad = sum(1 for c in got if c[2])
            print(f"{got[0][0] if got else '?':20s} {len(got):4d} cases, {bad} not clean", flush=True)
    seconds = time.perf_counter() - t0
    per_class: dict[str, Counter] = {}
    for cls, _, problems in results:
        c = per_class.setdefault(cls, Counter())
        c["cases"] += 1
        c["tracebacks"] += any(p.startswith("traceback") for p in problems)
        c["data losses"] += any(p.startswith("data loss") for p in problems)
        c["other problems"] += bool(problems) and not any(p.startswith(("traceback", "data loss")) for p in problems)
    total = sum(per_class.values(), Counter())
    lines = ["| class | cases | tracebacks | data losses | other problems |", "|---|---|---|---|---|"]
    lines += [f"| {cls} | {c['cases']} | {c['tracebacks']} | {c['data losses']} | {c['other problems']} |"
              for cls, c in per_class.items()]
    lines.append(f"| **all** | **{total['cases']}** | **{total['tracebacks']}** | **{total['data losses']}** | "
                 f"**{total['other problems']}** |")
    body = "\n".join(lines)
    failures = [(cls, what, problems) for cls, what, problems in results if problems]
    print(body, f"\n{len(results)} cases in {seconds:.0f} s")
    for cls, what, problems in failures:
        print(f"NOT CLEAN [{cls}] {what}: {problems}")
    named = {}
    for cls, what, _ in results:
        if cls != "generated":
            named.setdefault(cls, []).append(what)
    listing = "\n".join(f"- {cls}: " + "; ".join(f"`{w}`" for w in whats) for cls, whats in named.items())
    print(listing)
    if args.write:
        detail = "\n".join(f"- [{cls}] `{what}`: {'; '.join(problems)[:200]}" for cls, what, problems in failures)
        write_section("sweep", "Bad input, interruption and concurrency sweep (bench_sweep.py)", f"""
`python benchmarks/bench_sweep.py --generated {args.generated}`: {len(results)} cases in {seconds:.0f} s. A case
is clean when it ends with an exit code of the README's table and one `error:` line (or succeeds where it
should), shows no traceback or internal error, leaves every input byte-identical and nothing half-written.
The classes and their handling are listed in the README ("What vpnet refuses, and why").

{body}

The named cases (the generated ones are command lines of every command with one to three bad arguments,
drawn by `tests/cli/_bad_args.py` with seed 2022):

{listing}

{"Cases not clean:" if failures else "Every case was clean."}
{detail if failures else ""}
""")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

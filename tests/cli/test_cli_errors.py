"""Bad input and faults through the real ``vpnet`` CLI: every failure is one ``error:`` line with the exit code of
docs/errors.md's table, no traceback, nothing left behind; and the rough edges (progress, workers, hints).

Each test names the case of the issue it covers. Runs are pose-only on generated NTU-format skeletons
(no video decoding) unless a case needs video, so the whole file stays a few seconds of CPU.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vpnet.cli._errors import EXIT_CODES
from vpnet.data import ntu, synthetic
from vpnet.errors import CheckpointError, ConfigError, DataError, OutputError, TrainingError, WeightsError

from ._bad_args import pose_run
from .conftest import invoke, one_error

VPNET = [sys.executable, "-m", "vpnet.cli"]


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_exit_codes_are_one_table():
    """The documented table (docs/errors.md) is the CLI's: one place decides the code of each error class."""
    codes = {cls: code for cls, code in EXIT_CODES}
    assert codes[ConfigError] == 2 and codes[TrainingError] == 3 and codes[OutputError] == 4
    assert codes[DataError] == 1 and codes[CheckpointError] == 1 and issubclass(WeightsError, DataError)
    readme = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    for code in {*codes.values(), 130, 143}:
        assert f"\n| {code} |" in readme


# --- case 5: outputs that cannot be written -----------------------------------------------------------------


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only file system: a tmpfs mounted ro (root ignores permission bits, not a ro mount). Where
    mounting is not allowed (no root, a container without the capability), /proc, a pseudo file system
    where no file can be created, stands in."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        yield Path("/proc") / "vpnet-test"
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_case5_unwritable_outputs_fail_before_any_work(poses, trained, tmp_path, read_only_dir):
    """output_dir, --run-dir, prepare -o, evaluate -o, extract-features -o: a file, under a file, read-only."""
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    runs = tmp_path / "runs"
    before = listing(tmp_path)
    cases = [
        (["train", *pose_run(poses, blocker)], f"cannot write run folder {blocker / 'run'}: {blocker} is a file"),
        (["train", *pose_run(poses, runs), "--run-dir", blocker], f"cannot write run folder {blocker}: it is a file"),
        (["train", *pose_run(poses, runs), "--run-dir", read_only_dir / "run"],
         f"cannot write run folder {read_only_dir / 'run'}: "),
        (["prepare", "data.dataset=ntu60", "data.missing_list=null", f"data.pose_dir={poses.pose_dir}",
          f"data.video_dir={poses.pose_dir}",
          "--out", blocker / "store"], f"cannot write store folder {blocker / 'store'}: {blocker} is a file"),
        (["prepare", "data.dataset=ntu60", "data.missing_list=null", f"data.pose_dir={poses.pose_dir}",
          f"data.video_dir={poses.pose_dir}",
          "--out", read_only_dir], f"cannot write store folder {read_only_dir}: "),
        (["evaluate", "--run", trained, "-o", blocker / "eval"], f"cannot write output folder {blocker / 'eval'}"),
        (["evaluate", "--run", trained, "-o", read_only_dir / "eval"], "is not writable"),
        (["extract-features", "-c", trained / "config.yaml", "model.variant=l1", "-o", blocker],
         f"cannot write feature cache folder {blocker}: it is a file"),
    ]
    for args, message in cases:
        one_error(invoke(*args), 4, message)
    assert listing(tmp_path) == before  # nothing created: no run folder, no store, no eval folder


def test_check_writable_covers_each_kind(tmp_path, read_only_dir):
    from vpnet._io import check_writable

    assert check_writable(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # probing creates nothing
    with pytest.raises(OutputError, match="is not writable"):
        check_writable(read_only_dir / "x")
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputError, match="it is a folder; give a file name"):
        check_writable(tmp_path / "d", folder=False)
    assert not list((tmp_path / "d").iterdir())


# --- cases 6, 7, 16, 14: config problems at load time --------------------------------------------------------


def test_case6_contradicting_fields_fail_at_load(poses, tmp_path):
    r = invoke("train", *pose_run(poses, tmp_path / "runs", model__variant="l1", data__clip_len=8,
                                  model__clip_len=16, data__video_dir=poses.pose_dir))
    one_error(r, 2, "data.clip_len=8 but model.clip_len=16")
    r = invoke("train", *pose_run(poses, tmp_path / "runs", model__variant="l1", model__clip_len=12,
                                  data__video_dir=poses.pose_dir))
    one_error(r, 2, "model.clip_len=12 and model.crop_size=224 must be multiples of the i3d strides (8 in time")
    one_error(invoke("train", *pose_run(poses, tmp_path / "runs", train__global_batch=5)), 2,
              "train.global_batch=5 is not a multiple of data.batch_size=2")
    assert not (tmp_path / "runs").exists()


def test_case7_custom_without_manifest(tmp_path):
    one_error(invoke("train", "data.dataset=custom", f"output_dir={tmp_path}"), 2,
              "data.dataset=custom needs data.manifest")
    one_error(invoke("prepare", "data.dataset=custom", "-o", tmp_path / "s"), 2,
              "data.dataset=custom needs data.manifest")
    assert not list(tmp_path.iterdir())


def test_case16_the_right_fix_is_suggested(tmp_path):
    """A manifest without classes.txt: the hint is the class list, not model.num_classes=<labels seen>."""
    ds = synthetic.make_custom(tmp_path / "own", num_classes=2, per_class=2, frames=12, videos=False)
    (ds.root / "classes.txt").unlink()
    manifest = ds.root / "manifest.csv"
    rows = manifest.read_text().splitlines()
    header = rows[0].split(",")
    li = header.index("label")
    fixed = [rows[0]] + [",".join(v if i != li else "0" for i, v in enumerate(r.split(","))) for r in rows[1:]]
    manifest.write_text("\n".join(fixed) + "\n")  # numeric labels, all 0: one class seen
    r = invoke("train", "data.dataset=custom", "data.protocol=split", f"data.manifest={manifest}",
               "model.variant=pose_only", "model.num_classes=2", "model.t_p=4", f"output_dir={tmp_path / 'runs'}",
               "train.global_batch=4")
    line = one_error(r, 2, "the custom manifest names no class list", "classes.txt beside the manifest")
    assert "set model.num_classes=1 only if that is really the number of classes" in line
    assert ntu.class_names("ntu60") == ntu.class_names(60) == ntu.class_names("60")
    assert len(ntu.class_names("NTU120")) == 120
    with pytest.raises(ValueError, match="60 or 120"):
        ntu.class_names("ntu61")


def test_case14_missing_list_null_is_silent(tmp_path):
    def stderr(*args: str) -> str:
        r = subprocess.run([*VPNET, "train", "--print-config", "data.dataset=ntu60", *args], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stderr

    assert stderr().count("data.missing_list is not set, so they are used") == 1  # said once, at load
    assert "missing" not in stderr("data.missing_list=null")


# --- cases 8, 9, 11: a run that stops ----------------------------------------------------------------------------


def test_case8_full_disk_says_what_was_kept(poses, tmp_path, monkeypatch):
    from vpnet.engine import checkpoint

    def full(tensors, path, metadata=None):  # the checkpoints' writer, at its first write
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint, "save_safetensors", full)
    r = invoke("train", *pose_run(poses, tmp_path))
    line = one_error(r, 3, "could not write", "No space left on device", "no checkpoint was written yet")
    assert "Free space and run the same command again to resume" in line
    assert not list((tmp_path / "run").rglob("*.safetensors")) and not list((tmp_path / "run").rglob("*.tmp"))


def test_case8_real_full_disk(poses, tmp_path):
    """The same on a real 256 KiB tmpfs (skipped where mounting is not allowed)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root): the monkeypatched twin covers the message")
    try:
        r = invoke("train", *pose_run(poses, mnt))
        assert r.exit_code != 0, "the run fitted in 256 KiB"
        line = one_error(r, 3, "No space left on device", "Free space and run the same command again to resume")
        assert "no checkpoint was written yet" in line or "the newest checkpoint" in line
        assert not list(mnt.rglob(".*.tmp"))  # the atomic writes left no partial file
    finally:
        from vpnet.engine.logs import setup_logging

        setup_logging(None)  # closes the run's train.log, which the in-process run left open
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_case9_killed_worker_says_rerun_resumes(poses, tmp_path, monkeypatch):
    from torch.utils.data import get_worker_info

    import vpnet.data

    real = vpnet.data.collate
    run = tmp_path / "run"

    def collate_then_die(batch):
        if get_worker_info() is not None and list((run / "checkpoints").glob("*.safetensors")):
            os.kill(os.getpid(), signal.SIGKILL)  # the OOM killer's way
        return real(batch)

    monkeypatch.setattr(vpnet.data, "collate", collate_then_die)
    args = pose_run(poses, tmp_path, data__num_workers=1, train__epochs=2)
    line = one_error(invoke("train", *args), 3, "a data-loading worker process died at global step",
                     "Run the same command again to resume")
    assert "the newest checkpoint" in line and "step_" in line
    monkeypatch.setattr(vpnet.data, "collate", real)
    r = invoke("train", *args)
    assert r.exit_code == 0 and "trained 2 epochs" in r.output, r.output


def test_case11_nan_loss_names_what_exists(poses, tmp_path):
    line = one_error(invoke("train", *pose_run(poses, tmp_path, optim__lr=1e30, train__epochs=3)), 3,
                     "the loss is not finite")
    assert "checkpoints" not in line or (tmp_path / "run" / "checkpoints").is_dir()
    named = [w for w in line.replace(",", " ").split() if w.startswith(str(tmp_path))]
    assert named and all(Path(w.rstrip(".)")).exists() for w in named), line


# --- case 12: an empty split --------------------------------------------------------------------------------------


def test_case12_empty_split_is_named_before_work(tmp_path):
    ds = synthetic.make_ntu(tmp_path / "ntu", num_classes=2, per_class=6, frames=20, size=(64, 36), seed=5)
    test_names = {r.name for r in ntu.records(pose_dir=ds.pose_dir, protocol="cs", split="test")}
    for name in test_names:  # the test split's skeletons are gone; its videos stay
        (ds.pose_dir / f"{name}.skeleton").unlink()
    runs = tmp_path / "runs"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("name: run\n")
    # train validates on the test split (asked for: NTU has no validation split): refused before the first epoch
    r = invoke("train", *pose_run(ds, runs, train__val_split="test"))
    one_error(r, 1, "the 'test' split of ntu60 (protocol cs) has no items: no item of the data belongs to it")
    assert not runs.exists()
    video = ["model.variant=l1", f"data.video_dir={ds.video_dir}", "model.clip_len=8", "model.crop_size=32"]
    r = invoke("extract-features", "-c", cfg, *pose_run(ds, runs), *video, "-o", tmp_path / "feats")
    one_error(r, 1, "the 'test' split of ntu60 (protocol cs) has no items", f"all {len(test_names)} of its items "
              "were left out", "no skeleton")
    assert not (tmp_path / "feats").exists()
    (runs / "run").mkdir(parents=True)
    from vpnet.config import ModelConfig
    from vpnet.engine.checkpoint import save_weights
    from vpnet.models import build_recognizer

    save_weights(runs / "run" / "final.safetensors", build_recognizer(ModelConfig(variant="pose_only", t_p=4)))
    r = invoke("evaluate", "-c", cfg, "--run", runs / "run", *pose_run(ds, runs))
    one_error(r, 1, "the 'test' split of ntu60 (protocol cs) has no items")
    assert not (runs / "run" / "eval").exists()


# --- case 13: prepare's workers end with it ----------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_case13_prepare_workers_die_with_their_parent(tmp_path):
    ds = synthetic.make_ntu(tmp_path / "ntu", num_classes=2, per_class=6, frames=60, size=(320, 180), seed=6)
    out = tmp_path / "store"
    proc = subprocess.Popen([*VPNET, "prepare", "data.dataset=ntu60", f"data.video_dir={ds.video_dir}",
                             f"data.pose_dir={ds.pose_dir}", "data.missing_list=null", "-o", str(out), "-j", "2",
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and len(workers) < 2:
            workers = [c for c in _children(proc.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
            time.sleep(0.05)
        assert len(workers) == 2, "the workers did not start"
        proc.kill()  # kill -9: no cleanup code of the parent runs
        proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
            time.sleep(0.05)
        alive = [w for w in workers if Path(f"/proc/{w}").exists()
                 and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
        assert not alive, f"workers {alive} outlived prepare"
        settled = listing(out) if out.exists() else set()
        time.sleep(1.0)
        assert (listing(out) if out.exists() else set()) == settled  # nobody writes into the store any more
    finally:
        if proc.poll() is None:
            proc.kill()


# --- case 15: restricted loading -----------------------------------------------------------------------------------


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_case15_pickles_are_refused_with_vpnets_words(tmp_path):
    import torch

    evil = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(2), "x": _Evil()}, evil)
    line = one_error(invoke("weights", "convert", evil, tmp_path / "out.safetensors"), 1,
                     f"{evil}: holds Python objects besides tensors", "vpnet loads tensors only",
                     "If you trust the file, convert it once")
    assert "add_safe_globals" not in line and not (tmp_path / "out.safetensors").exists()


# --- cases 17, 18: progress and workers ---------------------------------------------------------------------------


def test_case17_progress_in_a_pipe_is_plain_lines(poses, tmp_path, monkeypatch):
    """The runner's stderr is not a terminal, like a log file or a pipe: plain lines, no carriage returns."""
    monkeypatch.setenv("VPNET_PROGRESS_INTERVAL", "0")
    r = invoke("train", *pose_run(poses, tmp_path))
    assert r.exit_code == 0, r.output
    assert "\r" not in r.output
    lines = [x for x in r.output.splitlines() if " epoch 1/1: " in x]
    assert lines and "100%" in lines[-1] and "clip/s" in lines[-1], r.output  # count, rate
    r = invoke("evaluate", "--run", tmp_path / "run")
    assert r.exit_code == 0, r.output
    assert "\r" not in r.output and any("evaluate: 100%" in x and "video/s" in x for x in r.output.splitlines())


def test_case17_a_terminal_gets_a_bar(monkeypatch):
    from tqdm import tqdm

    from vpnet import progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar = progress.progress_bar(total=3, desc="x", unit="video")
    assert type(bar) is tqdm and not bar.disable
    bar.close()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    bar = progress.progress_bar(total=3, desc="x", unit="video")
    assert isinstance(bar, progress.PlainLines)
    bar.close()


def test_case18_workers_capped_at_the_cpus_once(poses, tmp_path, monkeypatch):
    from vpnet.engine import builders

    monkeypatch.setattr(builders, "available_cpus", lambda: 1)
    builders._say_capped.cache_clear()
    r = invoke("train", *pose_run(poses, tmp_path, data__num_workers=64, train__epochs=2))
    assert r.exit_code == 0, r.output
    assert r.output.count("data.num_workers=64 capped at the 1 CPUs available") == 1, r.output  # 2 epochs, once
    assert builders.loader_workers(64) == 1 and builders.loader_workers(0) == 0

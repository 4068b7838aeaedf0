"""Every code block of the README and of docs/*.md runs as written, against generated data.

Each page names its workspace in a comment, ``<!-- docs-test: setup=NAME [train="OVERRIDES"] [bash=no] -->``:

- ``none``: an empty folder;
- ``reproduce``: ``D/`` holds a generated NTU RGB+D-format dataset (``nturgb+d_rgb``,
  ``nturgb+d_skeletons``), ``D/ntu60-prepared`` its prepared store and ``D/nucla/skeletons`` generated
  N-UCLA skeletons; ``rgb_imagenet.pt`` is an I3D state dict in pytorch-i3d's layout (random weights);
- ``own-data``: ``videos/<split>/<class>/<name>.avi`` of rendered people (vpnet-ADL, no poses);
- ``own-video``: ``kitchen.mp4`` (a rendered person), ``kitchen.npz`` (its MediaPipe poses), ``clips/``
  (two videos), ``runs/my_run`` (a tiny VPN of classes ``drink`` and ``clapping``), ``runs/i3d`` and
  ``runs/vpn`` (copies of it, evaluated: ``runs/*/eval/test-multi``; ``A`` = the evaluation of ``runs/vpn``),
  ``final.safetensors`` (the weights of ``runs/my_run``).

Every workspace links ``configs/`` of the repository. Python blocks run in a fresh interpreter in the
workspace. Bash blocks run line by line, ``vpnet`` being this checkout's; ``vpnet train`` lines get the
page's ``train`` overrides appended (tiny sizes and 1 epoch: the commands are the documented ones, the
run is CI-sized; ``vpnet extract-features`` lines get them too). Not run: ``make`` (the two commands
are CI itself), ``torchrun`` (several processes, one per device) and the bash blocks of a page that
says ``bash=no`` (none at present); their Python blocks run. A block that needs the Kinetics-400
weights uses the user's cache and is skipped when they are not there (``vpnet weights fetch
kinetics400``); it runs the full-size I3D, so it is ``slow``, as are the bash blocks (each an
end-to-end run through several commands) and the blocks of the ``own-video`` workspace (a run trained).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SETUP = re.compile(r"<!-- docs-test: setup=(\S+)(?: train=\"([^\"]*)\")?( bash=no)? -->")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    setup: str | None
    train: str
    bash: bool

    @property
    def id(self) -> str:
        return f"{self.page.stem}:{self.line}:{self.lang}"


def blocks() -> list[Block]:
    out = []
    for page in PAGES:
        text = page.read_text()
        m = SETUP.search(text)
        setup, train, bash = (m.group(1), m.group(2) or "", not m.group(3)) if m else (None, "", False)
        lines = text.splitlines()
        i = 0
        while i < len(lines):
            lang = lines[i].strip()[3:] if lines[i].strip().startswith("```") else None
            if lang is not None:
                j = i + 1
                while not lines[j].strip().startswith("```"):
                    j += 1
                if lang in ("python", "bash"):
                    out.append(Block(page, i + 1, lang, "\n".join(lines[i + 1:j]), setup, train, bash))
                i = j
            i += 1
    return out


def test_every_page_with_code_names_its_workspace():
    found = blocks()
    assert len([b for b in found if b.lang == "python"]) >= 6
    for b in found:
        if b.page.parent.name == "docs":
            assert b.setup is not None, f"{b.page}: add <!-- docs-test: setup=... -->"


# ------------------------------------------------------------------------------------------------ workspaces


def _ws_none(root: Path) -> None:
    pass


def _ws_reproduce(root: Path) -> None:
    import torch
    from typer.testing import CliRunner

    from vpnet.cli import app
    from vpnet.data.synthetic import make_ntu, make_nucla
    from vpnet.models.i3d import inception_i3d

    make_ntu(root / "D", num_classes=3, per_class=6, frames=24, size=(192, 108))
    make_nucla(root / "D" / "nucla", num_classes=10, per_class=6, frames=32, videos=False)
    torch.save(inception_i3d(num_classes=400).state_dict(), root / "rgb_imagenet.pt")  # pytorch-i3d's layout
    res = CliRunner().invoke(app, ["prepare", "data.dataset=ntu60", "data.video_dir=D/nturgb+d_rgb",
                                   "data.pose_dir=D/nturgb+d_skeletons", "--out", "D/ntu60-prepared", "-j", "1",
                                   "--no-progress"])
    assert res.exit_code == 0, res.output


def _adl(root: Path, per_class: int) -> tuple:
    from vpnet.data.adl import ADLSpec, make_adl

    return make_adl(root / ".adl", ADLSpec(per_class=per_class, size=(192, 108), frames=16, classes=2))


def _ws_own_data(root: Path) -> None:
    data = _adl(root, 3)
    for i, (name, label) in enumerate(zip(data.names, data.labels)):
        dst = root / "videos" / ("test" if i % 3 == 2 else "train") / data.class_names[label].replace(" ", "_")
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy(data.video_dir / f"{name}_rgb.avi", dst / f"{name}.avi")


def _ws_own_video(root: Path) -> None:
    from tests.inference.conftest import make_data
    from typer.testing import CliRunner

    from vpnet.cli import app
    from vpnet.poses import extract_many

    data = _adl(root, 1)
    videos = [data.video_dir / f"{n}_rgb.avi" for n in data.names]
    shutil.copy(videos[0], root / "kitchen.mp4")  # FFmpeg reads the container, not the suffix
    (root / "clips").mkdir()
    for v in videos:
        shutil.copy(v, root / "clips" / v.name)
    assert not extract_many([(root / "kitchen.mp4", root / "kitchen.npz")], progress=False)
    manifest = make_data(root / ".data")
    text = manifest.read_text().replace(",left,", ",drink,").replace(",right,", ",clapping,")
    manifest.write_text(text)
    cli = CliRunner()
    tiny = ["data.dataset=custom", "data.protocol=split", f"data.manifest={manifest}", "data.batch_size=2",
            "data.num_workers=0", "model.variant=l3", "model.num_classes=0", "model.clip_len=8",
            "model.crop_size=64", "model.t_p=4", "model.backbone_weights=null", "train.epochs=1",
            "train.global_batch=2", "train.tensorboard=false", "eval.num_clips=2"]
    res = cli.invoke(app, ["train", *tiny, "output_dir=runs", "name=my_run"])
    assert res.exit_code == 0, res.output
    for name in ("i3d", "vpn"):  # stand-ins for two runs to compare: copies of the one trained
        shutil.copytree(root / "runs" / "my_run", root / "runs" / name)
        res = cli.invoke(app, ["evaluate", "--run", f"runs/{name}"])
        assert res.exit_code == 0, res.output
    shutil.copytree(root / "runs" / "vpn" / "eval" / "test-multi", root / "A")
    shutil.copy(root / "runs" / "my_run" / "final.safetensors", root / "final.safetensors")


WORKSPACES = {"none": _ws_none, "reproduce": _ws_reproduce, "own-data": _ws_own_data, "own-video": _ws_own_video}


@pytest.fixture(scope="session")
def workspaces(tmp_path_factory):
    made: dict[str, Path] = {}

    def get(name: str | None) -> Path:
        name = name or "none"
        if name not in made:
            root = tmp_path_factory.mktemp(f"docs-{name}")
            (root / "configs").symlink_to(REPO / "configs")
            cwd = os.getcwd()
            os.chdir(root)
            try:
                WORKSPACES[name](root)
            finally:
                os.chdir(cwd)
            made[name] = root
        return made[name]

    return get


# ------------------------------------------------------------------------------------------------ running


def _env(monkeypatch, code: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(REPO),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if "kinetics400" in code or re.search(r"(^|\n)vpnet predict (?!.*--(run|checkpoint|onnx))", code):
        from vpnet.models import weights

        monkeypatch.delenv("VPNET_CACHE", raising=False)  # the user's cache, not the suite's empty one
        env.pop("VPNET_CACHE", None)
        if not weights.cached_path("kinetics400").is_file():
            pytest.skip("the block runs the Kinetics-400 I3D, not cached (vpnet weights fetch kinetics400)")
    return env


def _commands(block: Block) -> list[str]:
    """The block's command lines (comments dropped, ``\\`` continuations joined), train overrides added."""
    out, current = [], ""
    for raw in block.code.splitlines():
        line = raw.split("  #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        current = f"{current} {line.rstrip(chr(92)).strip()}".strip()
        if line.endswith("\\"):
            continue
        if current and not current.startswith(("make ", "torchrun ")):
            if current.startswith(("vpnet train", "vpnet extract-features")) and block.train:
                current = f"{current} {block.train}"
            out.append(current)
        current = ""
    return out


def _case(b: Block):
    slow = b.lang == "bash" or "kinetics400" in b.code or b.setup == "own-video"  # its workspace trains a run
    return pytest.param(b, id=b.id, marks=[pytest.mark.slow] if slow else [])


CASES = [_case(b) for b in blocks() if b.lang == "python" or b.bash]


@pytest.mark.parametrize("block", CASES)
def test_block_runs(block, workspaces, monkeypatch):
    cwd = workspaces(block.setup)
    env = _env(monkeypatch, block.code)
    where = f"{block.page.relative_to(REPO)} line {block.line}"
    if block.lang == "python":
        r = subprocess.run([sys.executable, "-c", block.code], cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"{where}:\n{r.stderr[-3000:]}"
        return
    for command in _commands(block):
        r = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{where}: {command}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
        assert "Traceback" not in r.stderr, f"{where}: {command}\n{r.stderr[-3000:]}"


def test_commands_are_split_and_get_the_page_overrides():
    code = "make demo   # the demo\nvpnet train -c a.yaml \\\n  x=1  # c\n# only a comment\nvpnet predict v.mp4"
    b = Block(Path("x.md"), 1, "bash", code, "own-data", "train.epochs=1", True)
    assert _commands(b) == ["vpnet train -c a.yaml x=1 train.epochs=1", "vpnet predict v.mp4"]
    assert shlex.split(_commands(b)[0])[-1] == "train.epochs=1"

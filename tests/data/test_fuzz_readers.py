"""Fuzzing the pose readers: damaged real-format files give a DataError or finite poses, nothing else.

Each mutant of a valid file (an NTU ``.skeleton``, an N-UCLA skeleton JSON, a Smarthome LCR-Net JSON) is
read; the only outcomes allowed are a :class:`DataError` or a :class:`PoseSequence` whose present
bodies are finite (float32: a value like ``1e39`` must not turn into inf). For ``.skeleton`` files the C
reader and the numpy reader must agree: the same arrays, or the same error.

Mutations: byte edits (delete, insert, replace, truncate, duplicate a span), line edits (drop,
duplicate, swap) and number edits (a number replaced by an extreme or malformed token: 1e39, -2.7e52,
nan, inf, 1e999, 1e-320, 400 digits, 0x1F, 1_000, JSON literals, deep ``[[[`` nesting).

The suite runs a bounded number of mutants per format (well under 20 s in all). The long run is the
same code with ``VPNET_FUZZ_MUTANTS=10000``::

    VPNET_FUZZ_MUTANTS=10000 .venv/bin/python -m pytest tests/data/test_fuzz_readers.py -q

Its result is in benchmarks/RESULTS.md ("Fuzzing the readers").
"""

from __future__ import annotations

import collections
import os
import random
import re
from pathlib import Path

import numpy as np
import pytest

from vpnet.data import ntu, nucla, smarthome
from vpnet.data.types import DataError, PoseSequence

#: mutants per format in the suite (the long run sets VPNET_FUZZ_MUTANTS).
MUTANTS = {"ntu": 150, "nucla": 400, "lcrnet": 400}
EXTREME = ["1e39", "-2.7e52", "nan", "NaN", "inf", "-Infinity", "1e999", "1e-320", "9" * 400, "0x1F", "1_000",
           "-0", "", " ", "null", "true", '"x"', "[]", "{}", "1e", "--1", ".", "3.4028236e38", "[" * 5000]
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three random edits of ``data``."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not out:
            break
        op = rng.randrange(9)
        i = rng.randrange(len(out))
        if op == 0:
            del out[i:i + rng.randint(1, 8)]
        elif op == 1:
            out[i:i] = bytes(rng.choices(b"0123456789 .-+eE\r\n\t[]{},:\"x\x00\xff", k=rng.randint(1, 4)))
        elif op == 2:
            out[i] = rng.randrange(256)
        elif op == 3:
            del out[rng.randrange(len(out)):]  # truncated
        elif op == 4:
            j = min(len(out), i + rng.randint(1, 200))
            out[j:j] = out[i:j]
        elif op in (5, 6):  # a number replaced by an extreme or malformed token
            nums = list(NUMBER.finditer(bytes(out)))
            if nums:
                m = rng.choice(nums)
                out[m.start():m.end()] = rng.choice(EXTREME).encode()
        else:  # line edits: drop, duplicate, swap
            lines = bytes(out).split(b"\n")
            a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
            if op == 7:
                del lines[a]
            elif rng.random() < 0.5:
                lines.insert(a, lines[b])
            else:
                lines[a], lines[b] = lines[b], lines[a]
            out = bytearray(b"\n".join(lines))
    return bytes(out)


def check_sequence(seq: PoseSequence) -> None:
    """The contract of every reader's output: float32, finite wherever a body is present."""
    assert seq.xyz.dtype == np.float32 and seq.present.shape == seq.xyz.shape[:2]
    assert np.isfinite(seq.xyz[seq.present]).all(), seq.source
    if seq.uv is not None:
        assert np.isfinite(seq.uv[seq.present]).all(), seq.source


def read_both(path: Path, monkeypatch) -> tuple[object, object]:
    """read_poses of a .skeleton with the C reader and with the numpy reader: arrays or the error text."""
    out = []
    for fast in (ntu._fast_parse, None):
        with monkeypatch.context() as m:
            m.setattr(ntu, "_fast_parse", fast)
            try:
                seq = ntu.read_poses(path)
            except DataError as e:
                out.append(str(e))
            else:
                check_sequence(seq)
                out.append(seq)
    return out[0], out[1]


def fuzz(base: bytes, path: Path, read, count: int, seed: int) -> collections.Counter:
    """Read ``count`` mutants of ``base`` written at ``path``; ``read(path)`` raises on a contract breach."""
    rng = random.Random(seed)
    outcomes: collections.Counter = collections.Counter()
    for k in range(count):
        path.write_bytes(mutate(base, rng))
        try:
            read(path)
        except DataError:
            outcomes["DataError"] += 1
        except Exception as e:  # anything else is the bug this test looks for
            raise AssertionError(f"mutant {k} (seed {seed}) of {path.name}: {type(e).__name__}: {e}") from e
        else:
            outcomes["read"] += 1
    return outcomes


def _count(fmt: str) -> int:
    return int(os.environ.get("VPNET_FUZZ_MUTANTS", MUTANTS[fmt]))


def _bases(kind: str, fmt: str, shared: Path | None, tmp: Path) -> list[bytes]:
    if kind == "real":
        if fmt == "ntu":
            return [(shared / "ntu" / "skeletons" / n).read_bytes()
                    for n in ("S001C001P001R001A001.skeleton", "S001C003P008R002A058.skeleton")]
        return [p.read_bytes() for p in sorted((shared / "nucla" / "skeletons_subset").glob("*.json"))[:3]]
    from vpnet.data import synthetic

    if fmt == "ntu":
        synthetic.make_ntu(tmp, num_classes=1, per_class=2, frames=24, videos=False)
        return [p.read_bytes() for p in sorted(tmp.rglob("*.skeleton"))]
    if fmt == "nucla":
        synthetic.make_nucla(tmp, num_classes=1, per_class=2, frames=16, videos=False)
        return [p.read_bytes() for p in sorted(tmp.rglob("*.json"))]
    synthetic.make_smarthome(tmp, num_classes=1, per_class=2, frames=16, videos=False, bystander=1.0)
    return [p.read_bytes() for p in sorted(tmp.rglob("*_pose3d.json"))]


@pytest.mark.parametrize("kind,fmt", [("real", "ntu"), ("generated", "ntu"), ("real", "nucla"),
                                      ("generated", "nucla"), ("generated", "lcrnet")])
def test_mutants_give_data_errors_or_finite_poses(kind, fmt, tmp_path, monkeypatch, request):
    """Real files where ../shared/data has them (no LCR-Net JSON there: the Smarthome format is generated)."""
    shared = request.getfixturevalue("shared_data") if kind == "real" else None
    bases = _bases(kind, fmt, shared, tmp_path / "base")
    assert bases
    count = max(1, _count(fmt) // len(bases))
    total: collections.Counter = collections.Counter()
    for i, base in enumerate(bases):
        if fmt == "ntu":
            path = tmp_path / "S001C001P001R001A001.skeleton"

            def read(p: Path) -> None:
                fast, slow = read_both(p, monkeypatch)
                if isinstance(slow, str):
                    assert fast == slow, (fast, slow)
                    raise DataError(p, slow)
                assert not isinstance(fast, str), fast
                for a, b in ((fast.xyz, slow.xyz), (fast.uv, slow.uv), (fast.present, slow.present)):
                    assert np.array_equal(a, b, equal_nan=True)
        elif fmt == "nucla":
            path = tmp_path / "a01_s01_e00_v01.json"

            def read(p: Path) -> None:
                check_sequence(nucla.read_poses(p))
        else:
            path = tmp_path / "Drink.Fromcup_p01_r01_v01_c01_pose3d.json"

            def read(p: Path) -> None:
                check_sequence(smarthome.read_poses(p))
        total += fuzz(base, path, read, count, seed=1000 * i + len(fmt))
    print(f"{kind} {fmt}: {sum(total.values())} mutants of {len(bases)} files: {dict(total)}")
    # both outcomes were exercised: the mutants are neither all fatal nor all harmless
    assert total["DataError"] > count // 10 and total["read"] > 0, total


def test_out_of_float32_range_values_are_data_errors_in_every_reader(tmp_path, monkeypatch):
    """1e39 (finite in float64, inf in float32) in a .skeleton (both readers), an
    N-UCLA JSON, an LCR-Net JSON and a custom .npz is a DataError naming the file, never an inf."""
    from vpnet.data import custom, synthetic

    text = synthetic.random_skeleton_text([["7"], ["7"]]).split("\r\n")
    fields = text[4].split()
    fields[1] = "1e39"  # frame 0, joint 0, y
    text[4] = " ".join(fields)
    sk = tmp_path / "S001C001P001R001A001.skeleton"
    sk.write_text("\r\n".join(text))
    fast, slow = read_both(sk, monkeypatch)
    assert fast == slow == f"{sk}: line 5: joint line value 1e+39 is beyond float32's range"

    js = tmp_path / "a01_s01_e00_v01.json"
    skel = [[[0.1, 0.2, 2.0]] * 20] * 3
    skel[1] = [[-2.7e52, 0.2, 2.0]] + [[0.1, 0.2, 2.0]] * 19
    js.write_text(__import__("json").dumps({"file_name": "a01_s01_e00_v01", "skeletons": skel, "label": 1}))
    with pytest.raises(DataError, match=r"a01_s01_e00_v01.json: .* frame 1 holds -2.7e\+52, beyond float32's range"):
        nucla.read_poses(js)

    synthetic.make_smarthome(tmp_path / "sh", num_classes=1, per_class=1, frames=4, videos=False)
    lcr = next((tmp_path / "sh").rglob("*_pose3d.json"))
    doc = __import__("json").loads(lcr.read_text())
    det = next(d for f in doc["frames"] for d in (f or []))
    det["pose3d"][0] = 1e39
    lcr.write_text(__import__("json").dumps(doc))
    with pytest.raises(DataError, match=r"pose3d has 1e\+39, beyond float32's range"):
        smarthome.read_poses(lcr)

    npz = tmp_path / "poses.npz"
    xyz = np.ones((4, 25, 3))
    xyz[2, 3, 0] = 1e39
    np.savez(npz, xyz=xyz)
    with pytest.raises(DataError, match=r"poses.npz: xyz of body 0 in frame 2 holds 1e\+39, beyond float32's range"):
        custom.read_poses(npz)
    np.savez(npz, xyz=np.ones((4, 25, 3)), uv=np.full((4, 25, 2), 1e39))
    with pytest.raises(DataError, match=r"uv of body 0 in frame 0 holds 1e\+39"):
        custom.read_poses(npz)


def test_deeply_nested_json_is_a_data_error(tmp_path):
    """``[`` x 100000 in a pose file (or a manifest) is a DataError, not a RecursionError."""
    for name, read in (("a01_s01_e00_v01.json", nucla.read_poses),
                       ("Walk_p03_r01_v16_c06_pose3d.json", smarthome.read_poses)):
        path = tmp_path / name
        path.write_text("[" * 100_000 + "]" * 100_000)
        with pytest.raises(DataError, match=f"{name}: not usable JSON: nested too deeply"):
            read(path)
        path.write_text('{"skeletons": ' + "[" * 100_000)
        with pytest.raises(DataError, match=f"{name}: not (usable|valid) JSON"):
            read(path)

"""The C reader of NTU ``.skeleton`` files (``vpnet.data._skeleton``).

It must read every number exactly as Python's ``float()`` does, accept only files the numpy reader
also accepts (with the same arrays), and hand everything else over (``None``) so that the numpy
reader can name the problem.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from vpnet.data import ntu
from vpnet.data.synthetic import random_skeleton_text
from vpnet.data.types import DataError

BODY_LINE = "72057594037931101 0 1 1 1 1 0 0.02764709 0.05745083 2"


@pytest.fixture(scope="module")
def parse():
    if ntu._fast_parse is None:
        pytest.fail("the C skeleton reader is not built (pip install -e . printed why; a C compiler is needed)")
    return ntu._fast_parse


def one_body(tokens: list[str], *, eol: str = "\r\n") -> bytes:
    """A 1-frame, 1-body file whose 25 joint lines hold ``tokens`` (300 of them), 12 per line."""
    assert len(tokens) == 300
    rows = [" ".join(tokens[i:i + 12]) for i in range(0, 300, 12)]
    return eol.join(["1", "1", BODY_LINE, "25", *rows, ""]).encode("ascii")


def joint_values(result) -> np.ndarray:
    return np.frombuffer(result[5], np.float64)


def bits(values) -> np.ndarray:
    return np.asarray(values, np.float64).view(np.uint64)


def random_token(rng: random.Random) -> str:
    """A decimal number as NTU writes them, or in any other form float() reads, finite."""
    kind = rng.randrange(6)
    if kind == 0:  # what the Kinect SDK writes: up to 7-9 significant digits, sometimes E notation
        return format(rng.uniform(-2000, 2000) * 10 ** rng.randint(-9, 3), f".{rng.randint(1, 9)}g").upper()
    if kind == 1:  # repr of a random double: 17 digits, the slow path
        return repr(rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30))
    if kind == 2:  # long digit strings around the 15-19 digit and 2^53 limits
        whole = "".join(rng.choices("0123456789", k=rng.randint(0, 20)))
        frac = "".join(rng.choices("0123456789", k=rng.randint(0, 20)))
        return rng.choice(["", "-", "+"]) + (whole or "0") + ("." + frac if frac or rng.random() < 0.3 else "")
    if kind == 3:  # exponents
        return f"{rng.choice(['', '-'])}{rng.randint(0, 99999)}.{rng.randint(0, 999)}" \
               f"{rng.choice('eE')}{rng.choice(['', '+', '-'])}{rng.randint(0, 40)}"
    if kind == 4:  # leading and trailing zeros, bare points
        return rng.choice(["0", "-0", "0.0", "-0.000", "000123.4500", ".5", "5.", "-.25", "0.08028003", "007"])
    return rng.choice(["9007199254740993", "9007199254740993.0", "9007199254740992.5", "123456789012345678901",
                       "1e22", "1e23", "4.9e-324", "2.2250738585072011e-308", "1.7976931348623157e308",
                       "0.1", "0.2", "0.30000000000000004", "1036.233", "-0.2830487", "72057594037931101"])


def test_numbers_bit_identical_to_python_float(parse):
    rng = random.Random(0)
    for _ in range(300):
        tokens = [random_token(rng) for _ in range(300)]
        for eol in ("\r\n", "\n"):
            got = parse(one_body(tokens, eol=eol))
            assert got is not None, tokens
            mismatch = np.flatnonzero(bits(joint_values(got)) != bits([float(t) for t in tokens]))
            assert not mismatch.size, [(tokens[i], joint_values(got)[i]) for i in mismatch[:5]]


def test_the_last_numbers_take_the_bounds_checked_path(parse):
    # the last 32 bytes are read one character at a time: the same values
    tokens = ["0.08028003", "-1036.233", "1E-05", "-0", "5.", ".5", "277.419", "2", "0.2181153", "12345678.9",
              "9007199254740993", "-0.2830487"] * 25
    for tail in ("\r\n", "", "\r\n\r\n  \r\n"):
        data = one_body(tokens)[:-2] + tail.encode()
        assert np.array_equal(bits(joint_values(parse(data))), bits([float(t) for t in tokens]))


def test_structure_and_ids(parse):
    text = random_skeleton_text([["a1"], ["a1", "b2"], [], ["b2"]]).replace("a1", "111").replace("b2", "222")
    num_frames, frames, lines, ids, bodies, joints = parse(text.encode())
    assert num_frames == 4
    assert np.frombuffer(frames, np.int64).tolist() == [0, 1, 1, 3]
    # line of each body line: frame count, body count, body 0 (27 lines), body count, ...
    assert np.frombuffer(lines, np.int64).tolist() == [2, 30, 57, 86]
    assert ids == ["111", "111", "222", "222"]
    rows = text.split("\r\n")
    assert np.array_equal(np.frombuffer(bodies).reshape(4, 10)[2], [float(v) for v in rows[57].split()])
    assert np.array_equal(np.frombuffer(joints).reshape(4, 25, 12)[3, 24], [float(v) for v in rows[86 + 26].split()])


@pytest.mark.parametrize("token", ["nan", "inf", "-inf", "1e400", "0x1p3", "1e", "e5", ".", "-", "+-1", "1.2.3",
                                   "1,5", "1_0", "--1", "1e+", "\u0661"])
def test_tokens_outside_the_grammar_are_handed_over(parse, token, tmp_path):
    data = one_body(["1.5"] * 150 + ["2.5"] + ["1.5"] * 149).replace(b"2.5", token.encode("utf-8"))
    assert parse(data) is None
    # the numpy reader then names the line (token 150 is on joint line 12, line 17 of the file)
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_bytes(data)
    expected = ("not ASCII" if not token.isascii() else
                "line 17: NaN or inf" if token.lstrip("-") in ("nan", "inf", "1e400") else "line 17: non-numeric")
    with pytest.raises(DataError, match=expected):
        ntu.read_skeleton(path)


@pytest.mark.parametrize("data", [
    b"", b"0\r\n", b"1\r\n0\r\n", b"3\r\n0\r\n0\r\n0\r\n",  # no frames, no bodies
    b"\x00" + one_body(["1"] * 300),  # a NUL
    one_body(["1"] * 300).replace(b"1 1 1", b"1 1\r1", 1),  # a lone CR
    one_body(["1"] * 300) + b"x\r\n",  # data after the last frame
    one_body(["1"] * 300)[:-40],  # truncated
    one_body(["1"] * 300).replace(b"\r\n25\r\n", b"\r\n24\r\n"),
    one_body(["1"] * 300).replace(b"\r\n25\r\n", b"\r\n+25\r\n"),
    one_body(["1"] * 299 + ["1 1"]),  # 13 numbers on a line
])
def test_files_outside_the_grammar_are_handed_over(parse, data):
    assert parse(data) is None


def test_odd_but_valid_layout_is_read(parse):
    tokens = [str(i % 3) for i in range(300)]
    plain = parse(one_body(tokens))
    for variant in (one_body(tokens).replace(b" ", b"\t"),  # tabs
                    one_body(tokens).replace(b"\r\n", b"  \r\n"),  # trailing blanks
                    one_body(tokens)[:-2],  # no final line end
                    one_body(tokens) + b"\r\n\r\n \t\r\n",  # blank lines at the end
                    b"  " + one_body(tokens)):  # blanks before a count
        got = parse(variant)
        assert got is not None and np.array_equal(joint_values(got), joint_values(plain))


def test_not_bytes_is_a_type_error(parse):
    with pytest.raises(TypeError, match="bytes"):
        parse(bytearray(b"1\r\n"))


def _read(path: Path, monkeypatch, fast) -> tuple | str:
    """read_skeleton's arrays, or its error message, with one reader."""
    with monkeypatch.context() as m:
        m.setattr(ntu, "_fast_parse", fast)
        try:
            sk = ntu.read_skeleton(path, dtype=np.float64)
        except DataError as e:
            return str(e)
    return sk.joints, sk.bodies, sk.present, sk.body_ids


def test_both_readers_agree_on_damaged_files(parse, tmp_path, monkeypatch):
    """Random byte edits of a valid file: the same arrays, or the same error, from both readers."""
    rng = random.Random(1)
    base = random_skeleton_text([["11", "22"], ["22"], ["11", "22"]]).encode()
    outcomes = {"same arrays": 0, "same error": 0}
    path = tmp_path / "S001C001P001R001A001.skeleton"
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(data))
            op = rng.randrange(3)
            if op == 0:
                del data[i:i + rng.randint(1, 3)]
            elif op == 1:
                data[i:i] = bytes(rng.choices(b"0123456789 .-+eE\r\n\tx", k=rng.randint(1, 2)))
            else:
                data[i] = rng.choice(b"0123456789 .-+eE\r\nx\t")
        path.write_bytes(bytes(data))
        fast, slow = _read(path, monkeypatch, parse), _read(path, monkeypatch, None)
        if isinstance(slow, str):
            assert fast == slow
            outcomes["same error"] += 1
        else:
            assert not isinstance(fast, str), fast
            assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(fast[:3], slow[:3])) and fast[3] == slow[3]
            outcomes["same arrays"] += 1
    assert min(outcomes.values()) > 20, outcomes  # both kinds were exercised

"""The long fuzz run of the pose readers: ``tests/data/test_fuzz_readers.py`` with 10,000 mutants per
format (the suite runs a few hundred), its outcome counts written to ``benchmarks/RESULTS.md``.

    python benchmarks/bench_fuzz.py [--mutants 10000] [--write]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# pytest's progress characters may precede a line ("Fgenerated ntu: ..."): no anchor
LINE = re.compile(r"((?:real|generated) \w+): (\d+) mutants of (\d+) files: (\{[^}]*\})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=int, default=10_000, help="mutants per format")
    ap.add_argument("--write", action="store_true", help="write the section of benchmarks/RESULTS.md")
    args = ap.parse_args()
    env = {**os.environ, "VPNET_FUZZ_MUTANTS": str(args.mutants)}
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                          str(REPO / "tests" / "data" / "test_fuzz_readers.py"), "-k", "mutants"],
                         cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    rows = LINE.findall(run.stdout)
    status = "passed" if run.returncode == 0 else f"FAILED (pytest exit code {run.returncode})"
    lines = ["| reader | mutants | of files | outcomes |", "|---|---|---|---|"]
    lines += [f"| {what} | {n} | {files} | {outcomes} |" for what, n, files, outcomes in rows]
    body = "\n".join(lines)
    print(body, f"\n{status} in {seconds:.0f} s")
    if run.returncode != 0:
        print(run.stdout[-3000:], run.stderr[-2000:])
    if args.write:
        write_section("fuzz", "Fuzzing the readers (bench_fuzz.py)", f"""
`tests/data/test_fuzz_readers.py` with `VPNET_FUZZ_MUTANTS={args.mutants}`: each mutant of a real-format
file (byte, line and number edits: extreme and malformed numbers, truncation, deep nesting) must give a
`DataError` or finite poses, and the C and numpy `.skeleton` readers the same arrays or the same error.
Outcomes: `DataError` (refused with a message naming the file) or `read` (a valid file that parsed to
finite poses). The run {status} in {seconds:.0f} s.

{body}
""")
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()

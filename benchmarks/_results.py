"""Write one benchmark's section of ``benchmarks/RESULTS.md`` without touching the others.

Each benchmark script owns a section delimited by ``<!-- section:KEY -->`` / ``<!-- /section:KEY -->``
and rewrites it whole, stamped with the machine it ran on and the date.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
_HEADER = """# Benchmark results

Every figure below comes from a script in `benchmarks/` (named in its section) and was written by
that script; rerun it to refresh its section (`make bench` runs them all). Speed figures are ratios
measured within one run (ours vs a baseline) unless stated; absolute times are for orientation on
the machine named in each section.
"""


def machine() -> str:
    """One line naming the machine: CPU model, cores, torch version, accelerator."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [cpu, f"{os.cpu_count()} logical cores"]
    try:
        import torch

        parts.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        if torch.cuda.is_available():
            parts.append(torch.cuda.get_device_name(0))
    except ImportError:
        pass
    return ", ".join(parts)


def write_section(key: str, title: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or append) section ``key`` of RESULTS.md with ``body`` under heading ``title``."""
    stamp = f"_Machine: {machine()}. Written {_dt.date.today().isoformat()}._"
    block = f"<!-- section:{key} -->\n## {title}\n\n{stamp}\n\n{body.strip()}\n<!-- /section:{key} -->"
    text = path.read_text() if path.exists() else _HEADER
    pattern = re.compile(rf"<!-- section:{re.escape(key)} -->.*?<!-- /section:{re.escape(key)} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)

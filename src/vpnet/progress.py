"""Progress of the long commands (train, evaluate, extract-features, prepare), one way for all of them.

On a terminal: a tqdm bar with count, rate and ETA. In a log file or a pipe (a scheduler's job, ``| tee``),
where a bar's carriage returns are garbage: a plain line with the same numbers (tqdm's own meter text)
at the start, every ``interval`` seconds, and at the end. Torch-free.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from tqdm import tqdm

__all__ = ["progress_bar", "PLAIN_INTERVAL_S"]

#: seconds between two plain progress lines (log or pipe); ``VPNET_PROGRESS_INTERVAL`` overrides it.
PLAIN_INTERVAL_S = 30.0


def progress_bar(*, total: int, desc: str, unit: str, enabled: bool = True, initial: int = 0,
                 interval: float | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar for a terminal, a :class:`PlainLines` meter otherwise, or a disabled bar.

    Args:
        enabled: False for a silent bar (other DDP ranks, ``--no-progress``).
        interval: seconds between plain lines (default :data:`PLAIN_INTERVAL_S`, or the
            ``VPNET_PROGRESS_INTERVAL`` environment variable).
        kwargs: more tqdm options (``unit_scale``...).
    """
    if not enabled:
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, **kwargs)
    if interval is None:
        interval = float(os.environ.get("VPNET_PROGRESS_INTERVAL", PLAIN_INTERVAL_S))
    return PlainLines(total=total, desc=desc, unit=unit, initial=initial, interval=interval, **kwargs)


class PlainLines(tqdm):
    """tqdm's counting and meter text, written as whole lines to stderr every ``interval`` seconds."""

    def __init__(self, *args: Any, interval: float = PLAIN_INTERVAL_S, **kwargs: Any):
        self._interval = interval
        self._last_line = -float("inf")
        self._last_n: int | None = None
        kwargs.update(file=open(os.devnull, "w"), mininterval=0.0, miniters=1, ascii=True, leave=True)
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:  # called by tqdm on refresh
        now = time.monotonic()
        done = self.total is not None and self.n >= self.total
        if self._last_n == self.n or (now - self._last_line < self._interval and not done):
            return True
        self._last_line, self._last_n = now, self.n
        meter = self.format_meter(**{**self.format_dict, "ncols": 0})  # no bar: count, percent, rate, ETA
        print(f"{time.strftime('%H:%M:%S')} {meter}", file=sys.stderr, flush=True)
        return True

    def close(self) -> None:
        if not self.disable:
            self.display()  # the final count, even between two intervals
        fp = self.fp
        super().close()
        fp.close()

"""A dependency-free progress line on stderr."""

from __future__ import annotations

import sys
import time


class Progress:
    """``extract  1234/10175  12.1%  7.5 img/s  ETA 19:52``.

    On a terminal the line is redrawn in place (at most 5 times a second); otherwise (a log
    file) a full line is written at most every ``log_every`` seconds, so logs stay short.

    The rate (and so the ETA) is measured from the first finished image on, not from the
    start: loading the models (seconds to a minute, once per worker) would otherwise make the
    first lines promise many times the real duration. Until a second image is done the rate
    reads ``starting``.
    """

    def __init__(self, total, *, label="extract", enabled=True, stream=None, log_every=30.0):
        self.total = int(total)
        self.label = label
        self.enabled = enabled and self.total > 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_gap = 0.2 if self.tty else log_every
        self.done = 0
        self.start = time.perf_counter()
        self._first = None  # (time, count) at the first update: the clock of the rate starts there
        self._last = 0.0

    def update(self, n=1):
        now = time.perf_counter()
        if self._first is None:
            self._first = (now, self.done)
        self.done += n
        if self.enabled and (now - self._last >= self.min_gap or self.done >= self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now):
        t0, n0 = self._first
        # images finished since the first one, over the time since the first one (start-up excluded)
        counted, elapsed = self.done - n0 - 1, now - t0
        rate = counted / elapsed if counted > 0 and elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = "--:--" if left == float("inf") else f"{int(left // 60):02d}:{int(left % 60):02d}"
        speed = f"{rate:6.1f} img/s" if rate > 0 else "  starting"
        line = (
            f"{self.label}  {self.done}/{self.total}  {100.0 * self.done / self.total:5.1f}%  "
            f"{speed}  ETA {eta}"
        )
        if self.tty:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()

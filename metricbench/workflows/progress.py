"""Progress hooks of the workflows: the library reports steps, the caller decides how to show them.

The library prints nothing. A workflow calls ``hook.start(description, total)`` before a step,
``hook.advance(n)`` while it runs (when the step has a size: pairs scored, queries searched) and
``hook.finish(seconds)`` after it. :class:`ProgressHook` does nothing; the CLI subclasses it with
rich progress bars.
"""

from __future__ import annotations

import contextlib
import time


class ProgressHook:
    """Receives a workflow's steps. The default does nothing; subclass it to show them.

    Steps never nest: ``start`` is followed by ``advance`` calls and one ``finish``.
    """

    def start(self, description: str, total: int | None = None) -> None:
        """A step begins; ``total`` is its size in units (None: unknown, a spinner)."""

    def advance(self, amount: int = 1) -> None:
        """``amount`` more units of the current step are done."""

    def finish(self, seconds: float, ok: bool = True) -> None:
        """The current step ended after ``seconds`` (``ok`` False when it raised)."""


class Step:
    """What :func:`step` yields: the running time of a step once it has finished."""

    seconds: float = 0.0

    def __init__(self, hook: ProgressHook):
        self._hook = hook

    def advance(self, amount: int = 1) -> None:
        self._hook.advance(amount)


@contextlib.contextmanager
def step(hook: ProgressHook | None, description: str, total: int | None = None):
    """Run a block as one step of ``hook`` and time it (``with step(h, "fitting") as s: ...; s.seconds``)."""
    hook = hook or ProgressHook()
    s = Step(hook)
    t0 = time.perf_counter()
    hook.start(description, total)
    ok = False
    try:
        yield s
        ok = True
    finally:
        s.seconds = time.perf_counter() - t0
        hook.finish(s.seconds, ok)


__all__ = ["ProgressHook", "Step", "step"]

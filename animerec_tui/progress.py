"""Step-by-step progress on stderr for long-running commands."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from rich.status import Status


class StepReporter:
    """A callable ``report(step, detail)`` that logs each finished step with its time.

    On a terminal a spinner shows the step in progress; lines are printed when stderr is a
    terminal or when ``verbose`` is set (large inputs), so small scripted runs stay quiet.
    """

    def __init__(self, verbose: bool = False) -> None:
        self.console = Console(stderr=True, highlight=False)
        self.verbose = verbose or self.console.is_terminal
        self._last = time.perf_counter()
        self._status: Status | None = None

    def __enter__(self) -> "StepReporter":
        if self.console.is_terminal:
            self._status = self.console.status("working…")
            self._status.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._status is not None:
            self._status.stop()

    def __call__(self, step: str, detail: str) -> None:
        now = time.perf_counter()
        if self.verbose:
            self.console.print(f"[green]✓[/] {step:<8} {detail}  [dim]{now - self._last:.1f} s[/]")
        self._last = now
        if self._status is not None:
            self._status.update(f"after {step}…")

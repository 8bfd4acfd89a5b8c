"""Step-by-step progress on stderr for long-running commands."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Callable

from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import TaskID
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


def clock(seconds: float) -> str:
    """A duration as a log shows it: ``42 s``, ``3:05``, ``1:02:09``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressLines:
    """Progress as plain lines, for a pipe, a log file or ``TERM=dumb``, where a bar cannot redraw.

    ``start(label, total, unit)`` begins a phase with one line; ``update(done)`` prints one when
    the phase passes another ``share`` of its total or when ``interval`` seconds went by without
    one (a slow phase still shows it is alive), never two within a sixth of the interval but
    the last, each with the phase's elapsed time and its ETA at the rate so far. No control
    characters: each line is a line, whatever reads it.
    """

    def __init__(self, write: Callable[[str], None], share: float = 0.1, interval: float = 60.0, now: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.share = share
        self.interval = interval
        self.now = now
        self.label, self.total, self.unit = "", 1, ""
        self._started = self._last_time = 0.0
        self._first = self._next = 0

    def start(self, label: str, total: int, unit: str, done: int = 0) -> None:
        """Begin a phase of ``total`` units, ``done`` of them already (a resumed epoch): one line says so."""
        self.label, self.total, self.unit = label, max(int(total), 1), unit
        self._started = self._last_time = self.now()
        self._first = done
        self._next = self._step_after(done)
        self.write(f"{label}: {done:,}/{self.total:,} {unit}" + (f" ({100 * done // self.total}%)" if done else ""))

    def _step_after(self, done: int) -> int:
        """The next count that is a whole ``share`` of the total past ``done``."""
        stride = self.total * self.share
        if stride <= 0:
            return self.total
        return min(self.total, math.ceil((math.floor(done / stride) + 1) * stride))

    def update(self, done: int, detail: str = "") -> None:
        now = self.now()
        since = now - self._last_time
        if done < self._next and since < self.interval:
            return
        self._next = self._step_after(done)
        if done < self.total and since < self.interval / 6:
            return  # a share passed seconds after the last line (the clock's): that line stands for it
        self._last_time = now
        elapsed = now - self._started
        ran = done - self._first  # the rate is this process's own: a resumed phase's earlier units took no time here
        left = "done" if done >= self.total else f"ETA {clock(elapsed / ran * (self.total - done))}" if ran > 0 else "ETA unknown"
        extra = f", {detail}" if detail else ""
        self.write(f"{self.label}: {done:,}/{self.total:,} {self.unit} ({100 * done // self.total}%){extra}, {clock(elapsed)} elapsed, {left}")


class CountProgress:
    """One counted phase on stderr, as ``progress(done, total, detail="")``: a transient rich bar
    where the terminal redraws, ``ProgressLines`` in a pipe, a log or ``TERM=dumb``."""

    def __init__(self, console: Console, label: str, unit: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.label, self.unit = label, unit
        self.redraws = console.is_interactive
        self.bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TextColumn(unit, markup=False),
                            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[detail]}", markup=False), console=console, transient=True)
        self.lines = ProgressLines(lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True))
        self._task: TaskID | None = None
        self._begun = False

    def __enter__(self) -> "CountProgress":
        if self.redraws:
            self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.redraws:
            self.bar.stop()

    def __call__(self, done: int, total: int, detail: str = "") -> None:
        if not self.redraws:
            if not self._begun:
                self._begun = True
                self.lines.start(self.label, total, self.unit, done)
            else:
                self.lines.update(done, detail)
        elif self._task is None:
            self._task = self.bar.add_task(self.label, total=total, completed=done, detail=detail)
        else:
            self.bar.update(self._task, completed=done, detail=detail)

"""Progress of long work over SSH: plain lines for a pipe or TERM=dumb, a bar that also follows validation."""

from __future__ import annotations

import io
import re

from rich.console import Console

from animerec_tui.progress import CountProgress, ProgressLines, clock

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_line_per_tenth_with_elapsed_and_eta():
    lines: list[str] = []
    now = Clock()
    report = ProgressLines(lines.append, now=now)
    report.start("epoch 1/1 training", 327, "steps")
    for step in range(1, 328):
        now.t += 1.0
        report.update(step, "loss 14.1")
    assert lines[0] == "epoch 1/1 training: 0/327 steps"
    assert len(lines) == 11, lines  # the start and one line per 10%
    assert lines[1] == "epoch 1/1 training: 33/327 steps (10%), loss 14.1, 33 s elapsed, ETA 4:54"
    assert lines[-1].startswith("epoch 1/1 training: 327/327 steps (100%)") and lines[-1].endswith("5:27 elapsed, done")


def test_a_slow_phase_still_says_it_is_alive_every_interval():
    lines: list[str] = []
    now = Clock()
    report = ProgressLines(lines.append, interval=60.0, now=now)
    report.start("validation", 1000, "users")
    for done in range(1, 51):  # 5% in 100 s: no tenth passed, but a minute did
        now.t += 2.0
        report.update(done)
    assert lines[1:] == ["validation: 30/1,000 users (3%), 1:00 elapsed, ETA 32:20"]
    now.t = 65.0
    report.update(100)
    assert len(lines) == 2, "no 10% line 5 s after the minute's"
    now.t = 110.0
    report.update(200)
    assert lines[2].startswith("validation: 200/1,000 users (20%)")


def test_a_resumed_phase_counts_its_rate_from_here():
    lines: list[str] = []
    now = Clock()
    report = ProgressLines(lines.append, now=now)
    report.start("epoch 2/3 training", 100, "steps", done=50)
    now.t = 10.0
    report.update(60)
    assert lines == ["epoch 2/3 training: 50/100 steps (50%)", "epoch 2/3 training: 60/100 steps (60%), 10 s elapsed, ETA 40 s"]


def test_clock():
    assert [clock(s) for s in (0.4, 42, 185, 3729)] == ["0 s", "42 s", "3:05", "1:02:09"]


def test_count_progress_in_a_pipe_is_lines_without_control_characters():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=40)
    with CountProgress(console, "ranking the test split", "users") as progress:
        for done in range(0, 5231, 256):
            progress(done, 5230)
        progress(5230, 5230)
    text = out.getvalue()
    assert not CONTROL.search(text), repr(text)
    lines = text.splitlines()
    assert lines[0] == "ranking the test split: 0/5,230 users" and lines[-1].startswith("ranking the test split: 5,230/5,230 users (100%)")
    assert all("elapsed" in line for line in lines[1:]) and len(lines) <= 12, lines  # at most one per ~10%, never one per batch


def test_count_progress_under_term_dumb_is_lines_too(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True)
    with CountProgress(console, "ranking", "users") as progress:
        progress(0, 10)
        progress(10, 10)
    assert not CONTROL.search(out.getvalue()) and out.getvalue().splitlines()[-1].startswith("ranking: 10/10 users (100%)")


def test_the_training_bar_shows_validation_and_then_drops_it():
    from animerec_tui.model_commands import TrainProgress

    console = Console(file=io.StringIO(), force_terminal=True, force_interactive=True, width=100)
    with TrainProgress(2, console) as progress:
        progress.begin()
        progress.step(0, 10, 10, 14.2, 300.0)
        progress.validation(0, 0, 5230)
        progress.validation(0, 2560, 5230)
        shown = {task.description: task.completed for task in progress.progress.tasks}
        assert shown == {"epoch 1/2": 10, "epoch 1 validation": 2560}
        progress.validation(0, 5230, 5230)
        assert [task.description for task in progress.progress.tasks] == ["epoch 1/2"]

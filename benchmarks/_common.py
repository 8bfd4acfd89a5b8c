"""Helpers shared by the benchmark scripts: run animerec commands and print what they measured."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def animerec(*args: str, capture: bool = False) -> tuple[float, str]:
    """Run ``animerec ARGS`` with this interpreter; return (seconds, stdout if captured)."""
    command = [sys.executable, "-m", "animerec_tui", *map(str, args)]
    print("$ animerec " + " ".join(map(str, args)), file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, check=True, text=True, stdout=subprocess.PIPE if capture else None)
    return time.perf_counter() - started, result.stdout if capture else ""


def eval_json(run: Path, *extra: str) -> dict:
    """``animerec eval --json`` as a dict."""
    _, out = animerec("eval", "--run", run, "--json", *extra, capture=True)
    return json.loads(out)


def hardware() -> str:
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, torch {torch.__version__}"


def print_table(title: str, rows: list[tuple[str, dict, str]], keys=("ndcg@10", "recall@10", "ndcg@100", "mrr")) -> None:
    """A markdown table (so it pastes into RESULTS.md) of models and metrics."""
    print(f"\n### {title}\n")
    print("| model | " + " | ".join(k.replace("ndcg", "NDCG").replace("recall", "Recall").replace("mrr", "MRR") for k in keys) + " | notes |")
    print("|---|" + "---|" * (len(keys) + 1))
    for name, metrics, note in rows:
        print(f"| {name} | " + " | ".join(f"{metrics[k]:.4f}" for k in keys) + f" | {note} |")


def gnu_time(report: str) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in bytes, user + system CPU seconds) from a ``/usr/bin/time -v`` report."""

    def field(label: str) -> str:
        return re.search(rf"{re.escape(label)}: (\S+)", report).group(1)  # type: ignore[union-attr]

    wall = sum(float(part) * 60**i for i, part in enumerate(reversed(field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"))))
    return wall, int(field("Maximum resident set size (kbytes)")) * 1024, float(field("User time (seconds)")) + float(field("System time (seconds)"))


def cpu_model() -> str:
    """The CPU's model name as lscpu gives it (platform.processor() is often empty on Linux)."""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or platform.machine()


class BusyCore:
    """A competing process that keeps one core busy while the block runs (``--busy``)."""

    def __init__(self, on: bool = True) -> None:
        self.on = on
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "BusyCore":
        if self.on:
            self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.5)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

"""The CLI starts without torch or textual, and the engine never imports textual."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

PROBE = """
import sys
from animerec_tui.cli import app
try:
    app({args!r}, prog_name="animerec")
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "textual", "polars", "numpy") if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


@pytest.mark.parametrize("args", [["--help"], ["preprocess", "--help"]])
def test_help_imports_no_heavy_module(args):
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in result.stdout, result.stdout


def test_help_answers_quickly():
    best = min(_time_help() for _ in range(3))
    assert best < 1.0, f"animerec --help took {best:.2f} s"


def _time_help() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "animerec_tui", "--help"], capture_output=True, check=True)
    return time.perf_counter() - started


def test_training_and_engine_modules_do_not_import_textual():
    code = "import sys, training.preprocess, training.catalog, animerec_tui.catalog; print('textual' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

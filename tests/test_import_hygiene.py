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
heavy = sorted(m for m in ("torch", "textual", "polars", "numpy", "rich.markdown") if m in sys.modules)
if {args!r} == ["--help"] and "importlib.metadata" in sys.modules:  # 50 ms; a subcommand's help pays it in typer's pydantic
    heavy.append("importlib.metadata")
print("HEAVY=" + ",".join(heavy))
"""


@pytest.mark.subprocess
@pytest.mark.parametrize("args", [["--help"], ["preprocess", "--help"], ["train", "--help"]])
def test_help_imports_no_heavy_module(args):
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in result.stdout, result.stdout


@pytest.mark.subprocess
def test_help_answers_quickly():
    best = min(_time_help() for _ in range(3))
    assert best < 1.0, f"animerec --help took {best:.2f} s"


def _time_help() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "animerec_tui", "--help"], capture_output=True, check=True)
    return time.perf_counter() - started


# Every module of the lower layer and the engine-side modules of the app.
CORE = [
    "training.averaging", "training.bundle", "training.catalog", "training.catalog_build", "training.charts", "training.checkpoint", "training.config", "training.data",
    "training.device", "training.distributed", "training.errors", "training.evaluate", "training.formats", "training.franchise", "training.fsutil",
    "training.genres", "training.itemitem", "training.model", "training.model_config", "training.model_files", "training.numpy_model", "training.peers", "training.preprocess",
    "training.run_folder", "training.sampled_loss", "training.scoring", "training.train",
]
ENGINE = ["animerec_tui.engine", "animerec_tui.search", "animerec_tui.favourites", "animerec_tui.catalog", "animerec_tui.recommend_command", "animerec_tui.titles"]


def _loaded_after_importing(modules: list[str]) -> set[str]:
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\nprint(' '.join(sys.modules))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


@pytest.mark.subprocess
def test_training_never_imports_the_app_or_textual():
    loaded = _loaded_after_importing(CORE)
    assert not {m for m in loaded if m.split(".")[0] in ("animerec_tui", "textual")}


@pytest.mark.subprocess
def test_the_engine_search_and_favourites_store_never_import_textual():
    loaded = _loaded_after_importing(ENGINE)
    assert not {m for m in loaded if m.split(".")[0] == "textual"}


def test_every_training_module_is_checked():
    from pathlib import Path

    found = {f"training.{p.stem}" for p in (Path(__file__).parents[1] / "training").glob("*.py") if p.stem != "__init__"}
    assert found == set(CORE)


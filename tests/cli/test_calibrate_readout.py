"""scripts/calibrate_readout.py: chooses the readout's temperature and bias weight on validation and stores them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from training.model_files import resolve_model_dir

pytestmark = pytest.mark.subprocess  # every test runs scripts/calibrate_readout.py in a child

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "calibrate_readout.py"


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_the_best_pair_on_validation_is_written_and_the_model_still_loads(tiny_run, toy_data, tmp_path):
    from training.checkpoint import load_model

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    folder = resolve_model_dir(run_dir)
    config = json.loads((folder / "meta.json").read_text())["model_config"]
    if config["readout"] != "items":  # ordered toy data trains the mask readout: refused in one line
        done = run(run_dir, "--data", toy_data)
        assert done.returncode == 1 and done.stderr.count("\n") == 1 and "items readout" in done.stderr
        return
    done = run(run_dir, "--data", toy_data, "--temperatures", "0.5,1", "--bias-weights", "1,2", "--write")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 4 and sum("(best)" in row for row in rows) == 1
    best = next(row for row in rows if "(best)" in row).split("|")
    written = json.loads((folder / "meta.json").read_text())["model_config"]
    assert (written["vote_temperature"], written["bias_weight"]) == (float(best[1]), float(best[2]))
    model, _ = load_model(run_dir)
    assert model.config.vote_temperature == float(best[1])


def test_bad_input_is_one_line(tmp_path):
    done = run(tmp_path / "nothing")
    assert done.returncode == 1 and done.stderr.startswith("calibrate_readout: ") and done.stderr.count("\n") == 1
    done = run(tmp_path, "--temperatures", "x")
    assert done.returncode == 2 and "not a comma-separated list" in done.stderr

"""Two CPU processes under torchrun (gloo): the loss falls, resume works, one process loads the result."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from training.checkpoint import load_model, read_run
from training.data import load_dataset
from training.evaluate import evaluate
from training.scoring import model_scorer

pytestmark = pytest.mark.subprocess


def _free_port() -> int:
    with socket.socket() as probe:  # a fixed port fails when something else (or a lingering run) holds it
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _torchrun(toy_data, run, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
        "-m", "animerec_tui", "train", "--data", str(toy_data), "--out", str(run),
        "--hidden", "16", "--heads", "2", "--layers", "1", "--max-len", "16", "--batch-size", "4", "--lr", "1e-2", "--val-users", "60", "--no-genres", *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)


def test_two_gloo_processes_train_resume_and_load_in_one(toy_data, tmp_path):
    run = tmp_path / "run"
    first = _torchrun(toy_data, run, "--epochs", "3")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "x 2 processes" in first.stderr
    resumed = _torchrun(toy_data, run, "--epochs", "6", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6]
    assert history[-1]["loss"] < history[0]["loss"]
    assert read_run(run)["latest"] == "e0006-s000000"
    model, meta = load_model(run)  # a single process reads what rank 0 wrote
    assert meta["epoch"] >= 1
    result = evaluate(model_scorer(model, False), load_dataset(toy_data), "test")
    assert 0.0 <= result["metrics"]["ndcg@10"] <= 1.0

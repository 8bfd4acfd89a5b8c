"""Ctrl-C, kill and a dropped SSH session during training save a resumable checkpoint and exit cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.subprocess


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["ctrl-c", "kill", "hang-up"])
def test_a_stop_signal_saves_a_checkpoint_that_resume_finishes(toy_data, tmp_path, sent, code):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "animerec_tui", "train", "--data", str(toy_data), "--out", str(run),
            "--hidden", "16", "--heads", "2", "--layers", "1", "--max-len", "16", "--batch-size", "4", "--val-users", "20", "--no-genres"]
    # A hang-up's default action restored: run under nohup (as a CI job may be), the child would
    # inherit SIG_IGN and rightly keep training (the test below).
    default_hup = lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL)
    process = subprocess.Popen([*args, "--epochs", "500"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=default_hup)
    deadline = time.monotonic() + 120
    for line in process.stderr:
        if line.startswith("epoch"):
            break
        assert time.monotonic() < deadline, "training never finished an epoch"
    process.send_signal(sent)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "resumable checkpoint" in err and "Traceback" not in err
    pointer = json.loads((run / "run.json").read_text())
    assert (run / "checkpoints" / pointer["latest"] / "train_state.safetensors").is_file()
    if sent != signal.SIGINT:  # the checkpoint is the same kind whatever stopped the run: resume it once
        return
    done_epochs = int(pointer["latest"][1:5])
    resumed = subprocess.run([*args, "--epochs", str(done_epochs + 1), "--resume"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "run.json").read_text())["latest"] == f"e{done_epochs + 1:04d}-s000000"


def test_under_nohup_a_hang_up_does_not_stop_training(toy_data, tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "animerec_tui", "train", "--data", str(toy_data), "--out", str(run), "--epochs", "4",
            "--hidden", "16", "--heads", "2", "--layers", "1", "--max-len", "16", "--batch-size", "4", "--val-users", "20", "--no-genres"]
    ignore_hup = lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)  # what nohup does
    process = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=ignore_hup)
    for line in process.stderr:
        if line.startswith("epoch"):  # inside the training loop, where the stop signals are watched
            break
    process.send_signal(signal.SIGHUP)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert json.loads((run / "run.json").read_text())["latest"] == "e0004-s000000"

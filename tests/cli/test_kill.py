"""A training run killed outright (SIGKILL, power cut) resumes from its last complete checkpoint.

No cleanup code runs on SIGKILL, so these tests check what is on disk at every kill point:
each visible checkpoint folder loads whole, ``run.json`` names complete ones, a half-written
write is a hidden temporary that load and resume ignore and the next run removes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from animerec_tui.catalog import load_catalog
from training import checkpoint, run_folder
from training.checkpoint import MODEL_FILE, STATE_FILE, load_model, load_optimizer_state, read_run
from training.config import TrainConfig, resolve_config
from training.data import load_dataset
from training.model import ModelConfig
from training.train import make_optimizer, train

pytestmark = pytest.mark.subprocess

SMALL = dict(max_len=16, hidden=16, heads=2, layers=1, dropout=0.1, genres=False, batch_size=8, lr=3e-3, seed=3, val_users=100)
EPOCHS = 3


class Killed(BaseException):
    """Stands for SIGKILL: raised at a kill point, caught by nothing in the code under test."""


def _train(data, run, stop_after=None, resume=False):
    config = resolve_config(data, epochs=EPOCHS, **SMALL)
    return train(data, run, config.model, config.train, resume=resume, stop_after=stop_after)


def _load_whole(folder: Path) -> dict:
    """Load a checkpoint folder completely (weights, meta, optimizer state); return its meta."""
    model, meta = load_model(folder)
    state = load_optimizer_state(folder, make_optimizer(model, TrainConfig(), "cpu"), "cpu")
    assert folder.name == f"e{state['epoch']:04d}-s{state['step_in_epoch']:06d}"
    return meta


def _check_run(run: Path) -> str | None:
    """Assert that what a kill left is resumable; return the latest checkpoint's name, if any."""
    checkpoints = run / "checkpoints"
    for folder in checkpoints.iterdir() if checkpoints.is_dir() else ():
        if not folder.name.startswith("."):  # hidden: a killed write or delete, ignored by everything
            _load_whole(folder)
    if not (run / "run.json").exists():
        return None
    pointer = read_run(run)
    for name in {pointer["latest"], pointer["best"]} - {None}:
        assert (checkpoints / name).is_dir(), f"run.json points to a missing {name}"
    assert load_model(run, which="latest")[0] is not None
    return pointer["latest"]


def _hidden(run: Path) -> list[str]:
    return sorted(p.name for p in [*run.iterdir(), *(run / "checkpoints").iterdir()] if p.name.startswith("."))


def _same_weights(a: Path, b: Path) -> None:
    left, right = load_model(a, which="latest")[0].state_dict(), load_model(b, which="latest")[0].state_dict()
    for key in left:
        assert torch.equal(left[key], right[key]), key


@pytest.fixture(scope="module")
def straight(toy_data, tmp_path_factory) -> Path:
    """The same run trained without interruption."""
    run = tmp_path_factory.mktemp("straight") / "run"
    _train(load_dataset(toy_data), run)
    return run


@contextmanager
def _killed_at(where: str, monkeypatch):
    """Make the next checkpoint write die at ``where``, leaving the disk as a SIGKILL would."""
    save_file, write_bytes = checkpoint.save_file, run_folder.atomic_write_bytes

    def save_dying(tensors, filename, metadata=None):
        save_file(tensors, filename, metadata)
        if Path(filename).name == {"weights": MODEL_FILE, "state": STATE_FILE}.get(where):
            data = Path(filename).read_bytes()
            Path(filename).write_bytes(data[: len(data) // 2])
            raise Killed

    def write_dying(path, data, mode=0o644):
        if where == "pointer" and Path(path).name == "run.json":
            (Path(path).parent / ".run.json.tmp-killed").write_bytes(data[: len(data) // 2])
            raise Killed
        write_bytes(path, data, mode)

    def rmtree_dying(path, *args, **kwargs):
        if where == "prune" and Path(path).parent.name == "checkpoints":
            min(Path(path).iterdir()).unlink()  # killed after deleting one file of an old checkpoint
            raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "save_file", save_dying)
        patch.setattr(run_folder, "atomic_write_bytes", write_dying)
        patch.setattr(shutil, "rmtree", rmtree_dying)  # a killed process cleans nothing up
        with pytest.raises(Killed):
            yield


@pytest.mark.parametrize(("where", "latest"), [
    ("weights", "e0000-s000005"), ("state", "e0000-s000005"), ("pointer", "e0000-s000005"), ("prune", "e0001-s000000"),
])
def test_a_checkpoint_write_killed_midway_leaves_the_previous_one_in_charge(toy_data, tmp_path, monkeypatch, straight, where, latest):
    data = load_dataset(toy_data)
    run = tmp_path / "run"
    _train(data, run, stop_after=lambda step: step == 5)
    before = {p.name: p.read_bytes() for p in (run / "checkpoints" / "e0000-s000005").iterdir()}
    with _killed_at(where, monkeypatch):
        _train(data, run, resume=True)  # dies writing e0001-s000000
    assert _check_run(run) == latest
    assert _hidden(run), "the killed write left nothing behind: the kill point was never reached"
    if latest == "e0000-s000005":
        assert {p.name: p.read_bytes() for p in (run / "checkpoints" / latest).iterdir()} == before
    _train(data, run, resume=True)
    assert read_run(run)["latest"] == f"e{EPOCHS:04d}-s000000"
    assert _hidden(run) == []
    _same_weights(run, straight)


@pytest.mark.parametrize("where", ["weights", "pointer"])
def test_resume_after_a_kill_at_the_first_checkpoint(toy_data, tmp_path, monkeypatch, straight, where):
    data = load_dataset(toy_data)
    run = tmp_path / "run"
    with _killed_at(where, monkeypatch):
        _train(data, run)
    assert not (run / "run.json").exists()
    assert _check_run(run) is None
    first = run / "checkpoints" / "e0001-s000000"
    saved = _load_whole(first)["history"] if first.is_dir() else None
    summary = _train(data, run, resume=True)
    if where == "weights":  # nothing was saved: --resume starts the run over, and says so
        assert summary["restarted"]
    else:  # the checkpoint was whole, only run.json was missing: resume from it, not from scratch
        assert summary["history"][:1] == saved
    assert read_run(run)["latest"] == f"e{EPOCHS:04d}-s000000"
    assert _hidden(run) == []
    _same_weights(run, straight)


def test_a_prune_killed_partway_deletes_the_newest_first(tmp_path, monkeypatch):
    # Each checkpoint names as best itself or an older one: deleting the newest first keeps,
    # at every kill point, the best that each checkpoint still on disk names.
    names = ["e0001-s000000", "e0002-s000000", "e0003-s000000", "e0004-s000000"]
    for name in names:
        (tmp_path / "checkpoints" / name).mkdir(parents=True)
    deleted, delete = [], run_folder._delete

    def delete_once(folder):
        if deleted:
            raise Killed
        deleted.append(folder.name)
        delete(folder)

    monkeypatch.setattr(run_folder, "_delete", delete_once)
    with pytest.raises(Killed):
        run_folder.prune(tmp_path, keep={"e0004-s000000"})
    assert deleted == ["e0003-s000000"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["e0001-s000000", "e0002-s000000", "e0004-s000000"]

def _latest(run: Path) -> str | None:
    try:
        return json.loads((run / "run.json").read_text())["latest"]
    except FileNotFoundError:
        return None


def _wait(process: subprocess.Popen, ready, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready() and process.poll() is None:
        assert time.monotonic() < deadline, "training never got going"
        time.sleep(0.002)


def test_sigkill_at_random_moments_always_resumes_and_finishes(toy_data, tmp_path):
    epochs, rng, run = 15, random.Random(7), tmp_path / "run"
    args = [sys.executable, "-m", "animerec_tui", "train", "--data", str(toy_data), "--out", str(run), "--epochs", str(epochs),
            "--hidden", "16", "--heads", "2", "--layers", "1", "--max-len", "16", "--batch-size", "4", "--val-users", "20", "--no-genres"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    progress, kills = None, 0
    for number in range(4):
        process = subprocess.Popen([*args, *(["--resume"] if number else [])], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if number == 0:  # somewhere in the first epoch (an epoch here takes about 0.15 s)
            _wait(process, lambda: (run / "checkpoints").is_dir())
        else:  # once the resumed run has saved a checkpoint: mid-epoch, mid-write or mid-prune
            _wait(process, lambda last=progress: _latest(run) not in {None, last})
        time.sleep(rng.uniform(0.0, 0.2))
        process.kill()
        process.wait(timeout=60)
        if process.returncode == 0:
            break  # it finished before the kill
        kills += 1
        latest = _check_run(run)
        if number:
            assert (latest or "") > (progress or ""), f"resumed from {progress}, yet killed at {latest}"
        progress = latest
    assert kills >= 3
    finished = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert read_run(run)["latest"] == f"e{epochs:04d}-s000000"
    meta = _load_whole(run / "checkpoints" / read_run(run)["latest"])
    assert len(meta["history"]) == epochs
    assert _hidden(run) == []
    # Killed and resumed, it ends with exactly the weights of a run never killed.
    reference, data = tmp_path / "reference", load_dataset(toy_data)
    config = resolve_config(data, load_catalog, hidden=16, heads=2, layers=1, max_len=16, batch_size=4, val_users=20, epochs=epochs, genres=False)
    assert config.model == ModelConfig.from_dict(meta["model_config"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the killed processes, so that sums add up in the same order
    try:
        train(data, reference, config.model, TrainConfig(**meta["train_config"]), item_genres=config.item_genres, genre_names=config.genre_names,
              item_ids=config.item_ids, prior_items=config.prior_items)
    finally:
        torch.set_num_threads(threads)
    _same_weights(run, reference)

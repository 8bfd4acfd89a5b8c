"""Where ``animerec train`` puts runs when not told, and how the bare commands find them.

Runs go under ``<animerec home>/runs/run-YYYYmmdd-HHMMSS`` (``ANIMEREC_HOME`` overrides the
home); the shipped model's training data is unpacked once under ``<home>/training-data``.
Never imports torch: finding a run, the latest one or the data it was trained on reads files only.
"""

from __future__ import annotations

import time
from pathlib import Path

from animerec_tui.paths import data_dir, home_dir
from training.errors import UserError

LATEST = "latest"
"""What ``--model`` takes for the newest run under the runs folder."""


def runs_dir() -> Path:
    return home_dir() / "runs"


def new_run_dir() -> Path:
    """A fresh run folder, named by the time it starts."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = runs_dir() / f"run-{stamp}"
    n = 1
    while folder.exists() or folder.is_symlink():  # a dangling symlink's name is taken too
        n += 1
        folder = runs_dir() / f"run-{stamp}-{n}"
    return folder


def latest_run() -> Path | None:
    """The newest run under the runs folder that has saved a checkpoint (run.json), if any.

    A run is known by its run.json's content (``fsutil.run_pointer``), so another program's
    folder with a ``run.json`` put there is never taken for the latest run.
    """
    from training.fsutil import run_pointer

    if not runs_dir().is_dir():
        return None
    runs = [p for p in runs_dir().iterdir() if p.is_dir() and run_pointer(p) is not None]
    return max(runs, key=lambda p: (p / "run.json").stat().st_mtime, default=None)


def resolve_model(model: Path | None) -> Path | None:
    """``--model``: a folder as given, ``latest`` for the newest run, None for the shipped model."""
    if model is None or str(model) != LATEST:
        return model
    run = latest_run()
    if run is None:
        raise UserError(f"no trained run under {runs_dir()} yet: train one with 'animerec train --epochs 5'")
    return run


def shipped_training_data() -> Path:
    """The shipped model's preprocessed training data, unpacked (once) under the home folder.

    ``unpack`` replaces only a copy it made there; a file, a symlink or a folder holding
    anything else at ``<home>/training-data`` is refused with one line, never deleted.
    """
    from training.bundle import ARRAYS, unpack

    bundle = data_dir() / "training"
    if not (bundle / ARRAYS).is_file():
        raise UserError(f"{bundle}: this install has no training data; pass --data (a folder made by animerec preprocess)")
    return unpack(bundle, home_dir() / "training-data")


def trained_on(run: Path) -> Path | None:
    """The data folder ``run``'s latest checkpoint names, if it names one that is still there."""
    from training.model_files import read_meta, resolve_model_dir  # not training.checkpoint, which imports torch

    try:
        saved = read_meta(resolve_model_dir(run, "latest")).get("data", {}).get("path")
    except UserError:  # nothing saved yet: the resume starts the run over
        return None
    return Path(saved) if saved and Path(saved).is_dir() else None

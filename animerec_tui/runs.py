"""Where ``animerec train`` puts runs when not told, and how the bare commands find them.

Runs go under ``<animerec home>/runs/run-YYYYmmdd-HHMMSS`` (``ANIMEREC_HOME`` overrides the
home); the shipped model's training data is unpacked once under ``<home>/training-data``.
Never imports torch: finding a run, the latest one or the data it was trained on reads files only.
"""

from __future__ import annotations

import os
import sys
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
    """``--model``: a folder as given, ``latest`` for the newest run, None for the shipped model.

    A run (or model) whose recorded validation is below the shipped model's on the same split
    is still used, with one line on stderr saying so (``weaker_than_shipped``).
    """
    if model is None:
        return model
    if str(model) == LATEST:
        run = latest_run()
        if run is None:
            raise UserError(f"no trained run under {runs_dir()} yet: train one with 'animerec train --epochs 5'")
        model = run
    warning = weaker_than_shipped(model)
    if warning:
        print(f"animerec: note: {warning}", file=sys.stderr)
    return model


SPLIT_FIELDS = ("input", "format", "params", "counts")
"""What a model's meta.json records of its data that decides the split (``training.checkpoint.SPLIT_FIELDS``,
which imports torch; a test holds the two equal)."""


def recorded_validation(model: Path) -> tuple[float, dict, Path, object] | None:
    """A run's (or model folder's) best validation NDCG@10, its data section, its checkpoint and the
    epoch of its best, as its meta.json records them; None when it records none or cannot be read
    (loading it says why)."""
    from training.fsutil import read_json_file
    from training.model_files import META_FILE, resolve_model_dir

    try:
        folder = resolve_model_dir(model, "best")
    except UserError:
        return None
    meta = read_json_file(folder / META_FILE)
    best = meta.get("best") if isinstance(meta, dict) else None
    data = meta.get("data") if isinstance(meta, dict) else None
    value = best.get("ndcg@10") if isinstance(best, dict) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1 or not isinstance(data, dict):
        return None
    return float(value), data, folder, best.get("epoch")  # type: ignore[union-attr]  # a dict when value is set


def weaker_than_shipped(model: Path) -> str | None:
    """One line when ``model``'s best validation NDCG@10 is below the shipped model's, on the same
    split (else the two numbers are of different users and say nothing of each other); else None."""
    from animerec_tui.options import printable

    shipped_folder = data_dir() / "model"
    mine = recorded_validation(model)
    if mine is None or Path(os.path.realpath(mine[2])) == Path(os.path.realpath(shipped_folder)):
        return None
    shipped = recorded_validation(shipped_folder)
    if shipped is None or any(mine[1].get(key) != shipped[1].get(key) for key in SPLIT_FIELDS) or mine[0] >= shipped[0]:
        return None
    def epoch(record: tuple) -> str:
        return f"best epoch {record[3]}" if isinstance(record[3], int) and not isinstance(record[3], bool) else record[2].name

    return (
        f"{printable(str(model))} has validation NDCG@10 {mine[0]:.4f} ({epoch(mine)}), below the shipped model's {shipped[0]:.4f} "
        f"({epoch(shipped)}) on the same split; leave out --model to use the shipped one"
    )


EVAL_FILE = "eval.json"
"""Where ``animerec eval`` keeps a run's last evaluation, beside its run.json."""


def evaluation_file(model: Path) -> tuple[Path | None, str]:
    """Where ``animerec eval`` saves the evaluation of ``model``, or None and why it does not.

    A run, or a checkpoint inside one: the run's ``eval.json`` (it records which checkpoint).
    The shipped model lives in the install, which may be read-only and is no place for a
    user's results: ``<home>/evaluations/shipped-model.json``. Another model folder (an
    export) holds exactly its weights and meta.json, which ``export --force`` checks before
    replacing it, so nothing is added to it.
    """
    from animerec_tui.options import printable
    from training.fsutil import run_pointer

    model = Path(model)
    if run_pointer(model) is not None:
        return model / EVAL_FILE, ""
    if model.parent.name == "checkpoints" and run_pointer(model.parent.parent) is not None:
        return model.parent.parent / EVAL_FILE, ""
    if Path(os.path.realpath(model)) == Path(os.path.realpath(data_dir() / "model")):
        return home_dir() / "evaluations" / "shipped-model.json", ""
    return None, f"{printable(str(model))} is a model folder, not a run, and a model folder holds only its weights and meta.json; --json prints the results"


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

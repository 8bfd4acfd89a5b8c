"""A training run's folder, from the first checkpoint to the last, so that nothing is ever lost.

A run folder holds ``checkpoints/<name>/`` (each written whole under a hidden name and
renamed) and ``run.json``, an atomically replaced pointer to the latest and the best.
``RunFolder`` owns its whole lifecycle:

- ``prepare``: where to start. It finishes what a killed ``--force`` left, finds the
  checkpoint ``--resume`` continues from, and refuses to replace anything but a run (see
  ``fsutil.check_replaceable``).
- ``guard``: while training, a new run that fails before its first checkpoint is removed,
  and a run it was replacing (set aside as ``.RUN.replaced``) is put back.
- ``save``: one checkpoint, then the pointer, then the garbage; the run it replaces goes
  only once the new one has a checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

from training.charts import training_chart
from training.checkpoint import (
    CHECKPOINT_NAME,
    META_FILE,
    MODEL_FILE,
    RUN_FILE,
    STATE_FILE,
    STATE_META_FILE,
    json_bytes,
    read_run,
    resolve_model_dir,
    write_checkpoint,
)
from training.errors import UserError
from training.fsutil import atomic_write_bytes, check_output, check_replaceable, fsync_dir, is_leftover, is_regular_file, make_folder, output_lock, run_pointer, shown
from training.model import BERT4Rec


class RunFolder:
    """The folder of one run; ``main`` is False on the ranks of a distributed run that never write."""

    def __init__(self, path: Path, main: bool = True) -> None:
        self.shown = Path(path)
        """The folder as the user named it, for messages."""
        self.path = Path(os.path.abspath(path))  # "." and "runs/x/.." have no name of their own to set a run aside by
        if self.path == self.path.parent:
            raise UserError(f"cannot write {path}: it is the root folder; choose another --out")
        self.main = main
        self._lock = ExitStack()
        self.replacing = False
        """A new run is replacing an old one (``--force``), set aside until the first checkpoint."""
        self.saved = False
        """The run has a checkpoint, so it is never removed on failure."""

    def __enter__(self) -> "RunFolder":
        if self.main:  # the other ranks of a distributed run never write
            self._lock.enter_context(output_lock(self.path, "train"))
        return self

    def __exit__(self, *exc) -> None:
        self._lock.close()

    @property
    def set_aside(self) -> Path:
        """Where ``--force`` keeps the run it replaces until the new run has a checkpoint."""
        return self.path.with_name(f".{self.path.name}.replaced")

    def prepare(self, data_folder: Path, resume: bool, force: bool, sync: Callable[[], None] = lambda: None) -> Path | None:
        """The checkpoint to resume from, or None for a new run; refuse what may not be replaced.

        ``sync`` (a barrier across the ranks of a distributed run) runs once rank 0 has put
        the folder in order, so that every rank finds the same resume point.
        """
        check_output(self.path, "train", [data_folder])
        if self.main:
            self._settle_set_aside()
        sync()
        start = self.resume_point() if resume else None
        if start is None and (self.path.exists() or self.path.is_symlink()):  # a new run would replace it
            check_replaceable(self.path, "train", [data_folder], foreign_in_run)
            if not (force or resume):
                raise UserError(f"{self.shown} already exists; pass --resume to continue it or --force to start over")
        self.saved = start is not None
        self.replacing = start is None and self.main and self.path.exists()
        if self.replacing:
            self._check_set_aside_free()  # now, before anything is loaded or printed
        if start is not None and self.main:
            remove_leftovers(self.path)
        return start

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Create the run (setting aside the one it replaces); on any failure before the first save, undo it."""
        if self.main and self.replacing:
            self._check_set_aside_free()
            try:
                self.path.rename(self.set_aside)
            except OSError as exc:
                raise UserError(f"cannot replace {self.shown}: {exc.strerror or exc}") from None
        try:
            if self.main and not self.saved:
                try:  # fail now, not after the first epoch, when the run cannot be written
                    make_folder(self.path / "checkpoints")
                except OSError as exc:
                    raise UserError(f"cannot write {self.shown}: {exc.strerror or exc}") from None
            yield
        except BaseException:
            # Undo only a run that never committed a checkpoint: once run.json exists (even if
            # a second Ctrl-C landed between its rename and anything after), the new run is safe
            # and a half-deleted set-aside run is left for _settle_set_aside to finish.
            if self.main and not self.saved and not (self.path / RUN_FILE).exists():
                shutil.rmtree(self.path, ignore_errors=True)
                if self.replacing and self.set_aside.exists():
                    self.set_aside.rename(self.path)
            raise

    def save(self, name: str, model: BERT4Rec, meta: dict, optimizer: torch.optim.Optimizer, state: dict, best: str | None,
             extra: dict[str, torch.Tensor] | None = None) -> None:
        """Write checkpoint ``name`` and point ``run.json`` at it (and at ``best``); ``extra``: more state tensors (the weight average's)."""
        if not self.main:
            return
        write_checkpoint(self.path / "checkpoints" / name, model, meta, optimizer, state, extra)
        try:
            # The replace of run.json is the commit: a kill before it leaves the previous
            # pointer, whose checkpoints are still all there; a kill after it only leaves garbage.
            atomic_write_bytes(self.path / RUN_FILE, json_bytes({"latest": name, "best": best}))
        except BaseException:
            if _latest(self.path) != name:  # run.json was not replaced: nothing may point at it
                shutil.rmtree(self.path / "checkpoints" / name, ignore_errors=True)
            raise
        first, self.saved = not self.saved, True
        prune(self.path, keep={name, best})
        if self.replacing and first:  # the new run is safe: the one it replaces can go
            shutil.rmtree(self.set_aside, ignore_errors=True)

    def finish(self, history: list[dict]) -> None:
        """Write the run's history and its loss / validation chart, once it has trained every epoch."""
        if not self.main:
            return
        try:
            atomic_write_bytes(self.path / "training_chart.txt", (training_chart(history) + "\n").encode())
            atomic_write_bytes(self.path / "history.json", (json.dumps(history, indent=1) + "\n").encode())
        except UserError as exc:
            raise UserError(f"{exc} (the checkpoints in {self.shown} are complete)") from None

    def _check_set_aside_free(self) -> None:
        """Refuse a ``--force`` whose set-aside name is taken: by an old run, or by something of the user's."""
        aside = self.set_aside
        if aside.exists() or aside.is_symlink():
            ours = aside.is_dir() and not aside.is_symlink() and not foreign_in_run(aside)
            what = "holds a run set aside by an earlier --force" if ours else "is in the way (--force sets the old run aside under that name)"
            raise UserError(f"{aside} {what}; move or delete it first")

    def _settle_set_aside(self) -> None:
        """Finish what a killed ``--force`` left: the run it was replacing waits in ``.RUN.replaced``.

        If the new run got as far as a complete checkpoint, the old one was due to go; if not,
        the new run is a husk and the old one goes back where it was, so a kill never costs a run.
        """
        run, old = self.path, self.set_aside
        if not old.is_dir() or old.is_symlink() or foreign_in_run(old):
            return  # no run of animerec's: a folder of the user's that only has the name, left alone
        if run.is_dir() and ((run / RUN_FILE).exists() or complete_checkpoints(run)):
            shutil.rmtree(old, ignore_errors=True)
            return
        if run.exists() and not _is_husk(run):
            return  # something else is at RUN now; leave both for the user
        shutil.rmtree(run, ignore_errors=True)
        old.rename(run)

    def resume_point(self) -> Path | None:
        """The checkpoint ``--resume`` continues from, or None when the run has none yet.

        ``run.json`` names it; a kill between the first checkpoint and the first ``run.json``
        leaves only the folder, so without ``run.json`` the newest complete one counts. Hidden
        temporary folders (a killed write) never do.
        """
        run = self.path
        # A folder holding only a checkpoints/ folder or hidden leftovers is a run killed early.
        killed_early = not run.exists() or (
            run.is_dir() and ((run / "checkpoints").is_dir() or all(p.name.startswith(".") for p in run.iterdir()))
        )
        if (run / RUN_FILE).exists() or not killed_early:
            return resolve_model_dir(run, "latest")  # a run, or something that is none: its own clear error
        complete = complete_checkpoints(run)
        return complete[-1] if complete else None


RUN_FILES = (RUN_FILE, "history.json", "training_chart.txt", "eval.json")
"""The files animerec writes at the top of a run, beside ``checkpoints/``: ``train``'s, and
``eval``'s record of the run's last evaluation (so ``--force`` may replace a run that was evaluated)."""
CHECKPOINT_FILES = (MODEL_FILE, META_FILE, STATE_FILE, STATE_META_FILE)


def _of_run(name: str) -> bool:
    return name in RUN_FILES


def _of_checkpoints(name: str) -> bool:
    return bool(CHECKPOINT_NAME.fullmatch(name))


def foreign_in_run(folder: Path) -> str | None:
    """What in ``folder`` ``train`` did not write (so ``--force`` may not delete it), or None.

    A run is known by content: a ``run.json`` of animerec's own fields (``fsutil.run_pointer``),
    or, for a run killed before its first ``run.json``, a ``checkpoints/`` folder alone. Its
    parts must be regular files and real folders with train's names: a symlink, or a folder
    where a file belongs, is the user's. Only hidden names that train's own writes leave count
    as leftovers.
    """
    names = sorted(p.name for p in folder.iterdir() if not is_leftover(p.name, _of_run))
    if not names:
        return None
    if RUN_FILE in names and run_pointer(folder) is None:
        return f"its {RUN_FILE} is not one animerec train wrote"
    if RUN_FILE not in names and names != ["checkpoints"]:
        return f"it is not a folder made by animerec train (it has no {RUN_FILE})"
    extra = [name for name in names if name not in (*RUN_FILES, "checkpoints")]
    if extra:
        return f"it holds {shown(extra[0])}, which animerec train did not write"
    for name in names:
        if name != "checkpoints" and not is_regular_file(folder / name):
            return f"it holds {name}, which is not a file animerec train wrote"
    return _foreign_in_checkpoints(folder / "checkpoints") if "checkpoints" in names else None


def _foreign_in_checkpoints(checkpoints: Path) -> str | None:
    """What in a run's ``checkpoints/`` is no checkpoint train wrote (or a leftover of one), or None."""
    if checkpoints.is_symlink() or not checkpoints.is_dir():
        return "it holds checkpoints, which is not a folder animerec train wrote"
    for checkpoint in sorted(checkpoints.iterdir()):
        if is_leftover(checkpoint.name, _of_checkpoints):
            continue
        where = f"checkpoints/{shown(checkpoint.name)}"
        if not CHECKPOINT_NAME.fullmatch(checkpoint.name) or checkpoint.is_symlink() or not checkpoint.is_dir():
            return f"it holds {where}, which is not a checkpoint animerec train wrote"
        for part in sorted(checkpoint.iterdir()):
            if part.name not in CHECKPOINT_FILES:
                return f"it holds {where}/{shown(part.name)}, which is not a checkpoint animerec train wrote"
            if not is_regular_file(part):
                return f"it holds {where}/{part.name}, which is not a file animerec train wrote"
    return None


def _is_husk(run: Path) -> bool:
    """A run folder that a new run left before its first checkpoint: train's own parts only, and no run.json.

    (The caller has found no complete checkpoint in it.) A folder holding anything of the
    user's, such as a ``.git``, is no husk, and is never removed to put a set-aside run back.
    """
    return run.is_dir() and not run.is_symlink() and not (run / RUN_FILE).exists() and foreign_in_run(run) is None


def _latest(run: Path) -> str | None:
    try:
        return read_run(run)["latest"]
    except UserError:
        return None


def prune(run: Path, keep: set[str | None]) -> None:
    """Delete the checkpoints ``run.json`` no longer names, once the new pointer is on disk."""
    fsync_dir(run)  # the new pointer is on disk before the checkpoints the old one named are deleted
    remove_leftovers(run)
    # Newest first: a checkpoint names as best itself or an older one, so a kill partway leaves
    # every checkpoint still visible with the best it names (a loadable, resumable folder).
    for folder in sorted((run / "checkpoints").iterdir(), reverse=True):
        if folder.name not in keep and CHECKPOINT_NAME.fullmatch(folder.name):  # nothing else is ours to delete
            _delete(folder)


def remove_leftovers(run: Path) -> None:
    """Delete what killed writes leave in a run: hidden temporary files and folders, by their exact names.

    A hidden file of the user's (``checkpoints/.notes.md``, ``.run.json.tmp-backup-2024``) only
    looks like one, and stays.
    """
    for path in Path(run).glob(".*"):
        if is_leftover(path.name, _of_run) and is_regular_file(path):
            path.unlink(missing_ok=True)
    checkpoints = Path(run) / "checkpoints"
    for path in checkpoints.glob(".*") if checkpoints.is_dir() else ():
        if not is_leftover(path.name, _of_checkpoints):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _delete(folder: Path) -> None:
    # Rename to a hidden name first, so a kill halfway through leaves a temporary folder
    # that everything ignores, never a checkpoint folder with some of its files gone.
    hidden = folder.with_name(f".{folder.name}.del-{os.getpid()}")
    try:
        os.replace(folder, hidden)
    except OSError:
        hidden = folder
    shutil.rmtree(hidden, ignore_errors=True)


def complete_checkpoints(run: Path) -> list[Path]:
    """A run's checkpoint folders that hold every file, oldest first (names sort in training order)."""
    checkpoints = Path(run) / "checkpoints"
    found = [
        folder for folder in (checkpoints.iterdir() if checkpoints.is_dir() else ())
        if CHECKPOINT_NAME.fullmatch(folder.name)
        and all((folder / name).is_file() for name in (MODEL_FILE, META_FILE, STATE_FILE, STATE_META_FILE))
    ]
    return sorted(found, key=lambda folder: folder.name)

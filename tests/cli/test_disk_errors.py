"""A full disk or a read-only output folder: one clear line, nothing half-written left behind.

The failures are real, not mocked: a file-size limit (RLIMIT_FSIZE: writes past it fail
with EFBIG), a tiny tmpfs (ENOSPC: by size, or by inode count) and a read-only tmpfs
(EROFS, which stops root too). The mounts live in a private mount namespace
(``unshare -rm``) that ends with the command; its contents are copied out for the asserts.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from animerec_tui.cli import app
from tests.conftest import REPO, toy_triples, write_lines

pytestmark = pytest.mark.subprocess

TINY = ["--hidden", "16", "--heads", "2", "--layers", "1", "--max-len", "16", "--batch-size", "4", "--val-users", "20", "--no-genres"]
PAGE = resource.getpagesize()

# Mount a tmpfs with options $1 on $2, run the command, copy what it left to $3.
IN_TMPFS = 'mount -t tmpfs -o "$1" tmpfs "$2" || exit 99; dir=$2 after=$3; shift 3; "$@"; rc=$?; cp -a "$dir/." "$after/" && exit $rc'


@pytest.fixture(scope="session")
def can_mount(tmp_path_factory) -> str | None:
    """None when this machine lets us mount a private tmpfs; otherwise why not."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = tmp_path_factory.mktemp("probe")
    try:
        done = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe}"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unshare failed: {exc}"
    return None if done.returncode == 0 else f"cannot mount a tmpfs in a private namespace: {done.stderr.strip()}"


def animerec(*args, fsize: int | None = None, tmpfs: str | None = None, folder: Path | None = None):
    """Run the CLI in a subprocess, under a file-size limit or with ``folder`` a fresh tmpfs.

    Returns the finished process and the folder to inspect afterwards (a copy, for a tmpfs).
    """
    command = [sys.executable, "-m", "animerec_tui", *map(str, args)]
    view = folder
    if tmpfs is not None:
        view = folder.with_name(folder.name + "-after")
        view.mkdir()
        command = ["unshare", "-rm", "sh", "-c", IN_TMPFS, "sh", tmpfs, str(folder), str(view), *command]
    limit = None if fsize is None else lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120", "NO_COLOR": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, cwd=REPO, preexec_fn=limit)
    assert done.returncode != 99, f"mount failed: {done.stderr}"
    return done, view


def assert_one_clear_line(done, *fragments: str) -> None:
    """Failed, no traceback, and one error line (after any progress lines) naming the problem."""
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith(("training on ", "epoch "))]
    assert len(lines) == 1 and lines[0].startswith("animerec: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], done.stderr


def hidden(folder: Path) -> list[str]:
    """Temporary leftovers (.NAME.tmp-*, .old-, .del-) anywhere under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def pages(folder: Path) -> int:
    return sum(-(-p.stat().st_size // PAGE) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def ratings(tmp_path_factory) -> Path:
    """About 7 KB of ratings whose preprocessed output is about 7 KB in 10 files of 0.4-1.6 KB."""
    folder = tmp_path_factory.mktemp("ratings")
    return write_lines(folder / "rating.csv", ["user_id,anime_id,rating", *[f"{u},{i},{r}" for u, i, r in toy_triples(60, 30)]])


PREPROCESS = ["--min-user-items", "3", "--min-item-users", "3"]


@pytest.fixture(scope="module")
def good_run(toy_data, tmp_path_factory) -> Path:
    """A one-epoch run made without trouble, to size the limits and to resume from."""
    run = tmp_path_factory.mktemp("good") / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(toy_data), "--out", str(run), "--epochs", "1", *TINY])
    assert result.exit_code == 0, result.output
    return run


def checkpoint_files(run: Path) -> list[Path]:
    (folder,) = (run / "checkpoints").iterdir()
    return sorted((p for p in folder.iterdir()), key=lambda p: p.stat().st_size)


# --- preprocess -------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [False, True], ids=["new", "force-over-existing"])
def test_preprocess_past_the_file_size_limit(tmp_path, ratings, existing):
    out = tmp_path / "out"
    if existing:  # an earlier output (only what preprocess made may be replaced)
        out.mkdir()
        (out / "train_items.npy").write_text("the earlier output\n")
        digest = hashlib.sha256((out / "train_items.npy").read_bytes()).hexdigest()  # animerec's own, by content
        (out / "manifest.json").write_text(json.dumps({"tool": "animerec", "manifest_version": 1, "files": {"train_items.npy": digest}}))
    done, _ = animerec("preprocess", ratings, "--out", out, *PREPROCESS, *(["--force"] if existing else []), fsize=1000)
    assert_one_clear_line(done, str(out), "File too large")
    assert done.stdout == ""
    if existing:  # --force replaces only once the new output is whole
        assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "train_items.npy"]
    else:
        assert not out.exists()
    assert hidden(tmp_path) == []


def test_preprocess_on_a_full_disk(tmp_path, ratings, can_mount):
    if can_mount:
        pytest.skip(can_mount)
    disk = tmp_path / "disk"
    disk.mkdir()
    done, after = animerec("preprocess", ratings, "--out", disk / "out", *PREPROCESS, tmpfs="size=4k", folder=disk)
    assert_one_clear_line(done, str(disk / "out"), "No space left on device")
    assert list(after.iterdir()) == []


def run_read_only(tmp_path: Path, can_mount: str | None, *args_before_out, out_name: str, args_after_out=()):
    """Run a command whose output goes into a read-only folder; return (process, folder to inspect, out)."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    out = folder / out_name
    args = [*args_before_out, out, *args_after_out]
    if os.geteuid() != 0:  # permissions stop an ordinary user
        folder.chmod(0o555)
        try:
            done, view = animerec(*args)
        finally:
            folder.chmod(0o755)
        return done, view, out, "Permission denied"
    if can_mount:
        pytest.skip(f"running as root, so only a read-only mount stops writes, and {can_mount}")
    done, view = animerec(*args, tmpfs="ro", folder=folder)
    return done, view, out, "Read-only file system"


def test_preprocess_into_a_read_only_folder(tmp_path, ratings, can_mount):
    done, view, out, reason = run_read_only(tmp_path, can_mount, "preprocess", ratings, *PREPROCESS, "--out", out_name="out")
    assert_one_clear_line(done, str(out.parent), reason)
    assert list(view.iterdir()) == []


# --- train --------------------------------------------------------------------------------


def test_train_whose_first_checkpoint_fails_leaves_no_run(tmp_path, toy_data, good_run):
    weights, state = (p.stat().st_size for p in checkpoint_files(good_run) if p.suffix == ".safetensors")
    assert weights < state
    run = tmp_path / "run"
    # The weights fit, the optimizer state does not: the checkpoint fails halfway through.
    done, _ = animerec("train", "--data", toy_data, "--out", run, "--epochs", "2", *TINY, fsize=(weights + state) // 2)
    assert_one_clear_line(done, str(run / "checkpoints"), "File too large")
    assert not run.exists()
    assert hidden(tmp_path) == []


def test_train_into_a_read_only_folder(tmp_path, toy_data, can_mount):
    done, view, out, reason = run_read_only(tmp_path, can_mount, "train", "--data", toy_data, "--out", out_name="run", args_after_out=["--epochs", "2", *TINY])
    assert_one_clear_line(done, str(out), reason)
    assert "epoch" not in done.stderr  # refused before any training, not after the first epoch
    assert list(view.iterdir()) == []


def test_disk_full_at_the_second_checkpoint_keeps_the_first(tmp_path, toy_data, good_run, can_mount):
    if can_mount:
        pytest.skip(can_mount)
    # Room for one checkpoint and run.json with a few pages to spare, not for two checkpoints.
    one = pages(good_run / "checkpoints")
    disk = tmp_path / "disk"
    disk.mkdir()
    done, after = animerec("train", "--data", toy_data, "--out", disk / "run", "--epochs", "2", *TINY, tmpfs=f"size={(one + 1 + one // 2) * PAGE}", folder=disk)
    assert_one_clear_line(done, str(disk / "run" / "checkpoints" / "e0002-s000000"), "No space left on device")
    run = after / "run"
    assert (run / "run.json").read_text().count("e0001-s000000") == 2  # latest and best
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["e0001-s000000"]
    assert [p.name for p in checkpoint_files(run)] == [p.name for p in checkpoint_files(good_run)]
    assert hidden(after) == []
    evaluated = CliRunner().invoke(app, ["eval", "--run", str(run), "--data", str(toy_data), "--split", "val"])
    assert evaluated.exit_code == 0, evaluated.output


def test_resume_whose_next_checkpoint_fails_keeps_the_run_as_it_was(tmp_path, toy_data, good_run):
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    before = digest(run)
    weights, state = (p.stat().st_size for p in checkpoint_files(good_run) if p.suffix == ".safetensors")
    done, _ = animerec("train", "--data", toy_data, "--out", run, "--epochs", "2", "--resume", *TINY, fsize=(weights + state) // 2)
    assert_one_clear_line(done, str(run / "checkpoints"), "File too large")
    assert digest(run) == before
    assert hidden(tmp_path) == []


def test_disk_full_when_writing_the_training_chart(tmp_path, toy_data, good_run, can_mount):
    if can_mount:
        pytest.skip(can_mount)
    # Inodes for the root, the run's lock, the run folder and everything in it but the chart
    # and history: the checkpoint and run.json fit, the chart's temporary file does not.
    kept = [p for p in good_run.rglob("*") if p.name not in ("training_chart.txt", "history.json")]
    disk = tmp_path / "disk"
    disk.mkdir()
    done, after = animerec("train", "--data", toy_data, "--out", disk / "run", "--epochs", "1", *TINY, tmpfs=f"nr_inodes={len(kept) + 3}", folder=disk)
    assert_one_clear_line(done, "training_chart.txt", "No space left on device", "checkpoints")
    run = after / "run"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "run.json"]
    assert [p.name for p in checkpoint_files(run)] == [p.name for p in checkpoint_files(good_run)]
    assert hidden(after) == []

"""animerec knows its own folders by what is in them, never by a file's name alone.

Each case here once lost a user's files: ``--force`` replaced a folder because it held a
``manifest.json`` or a ``run.json`` (another program's), a *folder* named like one of the
arrays, or a ``checkpoints/`` folder; ``train`` with no ``--data`` deleted whatever was in
``$ANIMEREC_HOME/training-data``; ``train --out`` wrote inside a model folder; and the
sweeps of what killed writes leave took hidden files of the user's that only looked like it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.conftest import TINY_TRAIN, assert_refused, invoke, toy_triples, tree, write_lines

KCORE = ["--min-user-items", "3", "--min-item-users", "3"]
DEAD_PID = 2**22 + 12345  # above Linux's largest pid, so never a live process
BROWSER_EXTENSION = {"manifest_version": 3, "name": "My tab sorter", "version": "1.2", "permissions": ["tabs"]}


@pytest.fixture
def ratings(tmp_path) -> Path:
    return write_lines(tmp_path / "ratings.csv", [f"{u},{i},{r}" for u, i, r in toy_triples(60, 30)])


def _preprocess_force(ratings: Path, out: Path):
    return invoke("preprocess", ratings, "--out", out, "--force", *KCORE)


def _train(data: Path, out: Path, *extra):
    return invoke("train", "--data", data, "--out", out, "--epochs", "1", *TINY_TRAIN, *extra)


def _folder(root: Path, files: dict[str, str | bytes]) -> Path:
    """A folder holding ``files`` (a name ending in / is a folder)."""
    root.mkdir(parents=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


# --- preprocess --force: a data folder is one by its manifest's schema and hashes -----------


def test_preprocess_force_refuses_a_folder_with_another_programs_manifest(tmp_path, ratings):
    _folder(tmp_path / "f2", {"manifest.json": json.dumps(BROWSER_EXTENSION)})
    before = tree(tmp_path)
    assert_refused(_preprocess_force(ratings, tmp_path / "f2"), "its manifest.json is not one animerec preprocess wrote")
    assert tree(tmp_path) == before


def test_preprocess_force_refuses_another_tools_manifest_beside_the_users_arrays(tmp_path, ratings):
    _folder(tmp_path / "f3", {"manifest.json": '{"tool": "other"}', "train_items.npy": b"my own array"})
    before = tree(tmp_path)
    assert_refused(_preprocess_force(ratings, tmp_path / "f3"), "its manifest.json is not one animerec preprocess wrote")
    assert tree(tmp_path) == before


def test_preprocess_force_refuses_animerecs_manifest_beside_arrays_it_does_not_record(toy_data, tmp_path, ratings):
    # A manifest copied from a real data folder says nothing about arrays it never hashed.
    manifest = (toy_data / "manifest.json").read_text()
    _folder(tmp_path / "f", {"manifest.json": manifest, "train_items.npy": b"mine", "item_ids.npy": b"mine too"})
    before = tree(tmp_path)
    assert_refused(_preprocess_force(ratings, tmp_path / "f"), "none of the arrays it holds matches the sha256 its manifest.json records")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("kind", ["folder", "symlink"])
def test_preprocess_force_refuses_a_data_folder_whose_array_is_no_regular_file(toy_data, tmp_path, ratings, kind):
    data = shutil.copytree(toy_data, tmp_path / "data")
    (data / "train_items.npy").unlink()
    if kind == "folder":
        (data / "train_items.npy").mkdir()
        (data / "train_items.npy" / "thesis.tex").write_text("\\chapter{Results}\n")
    else:
        (tmp_path / "thesis.tex").write_text("\\chapter{Results}\n")
        (data / "train_items.npy").symlink_to(tmp_path / "thesis.tex")
    before = tree(tmp_path)
    assert_refused(_preprocess_force(ratings, data), "it holds train_items.npy, which is not a file animerec preprocess wrote")
    assert tree(tmp_path) == before


def test_preprocess_force_refuses_a_symlinked_manifest(toy_data, tmp_path, ratings):
    data = shutil.copytree(toy_data, tmp_path / "data")
    (data / "manifest.json").rename(tmp_path / "kept.json")
    (data / "manifest.json").symlink_to(tmp_path / "kept.json")
    before = tree(tmp_path)
    assert_refused(_preprocess_force(ratings, data), "its manifest.json is not one animerec preprocess wrote")
    assert tree(tmp_path) == before


def test_preprocess_force_refuses_hidden_files_that_only_look_like_leftovers(toy_data, tmp_path, ratings):
    data = shutil.copytree(toy_data, tmp_path / "data")
    (data / ".notes.old-2").write_text("what I changed\n")  # preprocess never leaves anything hidden inside
    before = tree(tmp_path)
    assert_refused(_preprocess_force(ratings, data), "it holds .notes.old-2, which animerec preprocess did not write")
    assert tree(tmp_path) == before


def test_preprocess_force_still_replaces_its_own_folder_with_a_damaged_array(toy_data, tmp_path, ratings):
    data = shutil.copytree(toy_data, tmp_path / "data")
    (data / "val_items.npy").write_bytes(b"damaged")
    result = _preprocess_force(ratings, data)
    assert result.exit_code == 0, result.output
    assert (data / "val_items.npy").read_bytes() != b"damaged"


def test_an_odd_name_in_the_way_is_still_one_line(toy_data, tmp_path, ratings):
    data = shutil.copytree(toy_data, tmp_path / "data")
    (data / "notes\nanimerec: all good").write_text("x\n")
    before = tree(tmp_path)
    # shown escaped, not as a second "animerec:" line nor blurred into "notes animerec: all good"
    assert_refused(_preprocess_force(ratings, data), "it holds 'notes\\nanimerec: all good', which animerec preprocess did not write")
    assert tree(tmp_path) == before


# --- train --force: a run folder is one by run.json's own fields --------------------------


def test_train_force_refuses_a_folder_whose_run_json_is_another_programs(toy_data, tmp_path):
    _folder(tmp_path / "f4", {"run.json": '{"name": "x"}'})
    before = tree(tmp_path)
    assert_refused(_train(toy_data, tmp_path / "f4", "--force"), "its run.json is not one animerec train wrote")
    assert tree(tmp_path) == before


def test_train_force_refuses_checkpoints_and_history_without_a_run_json(toy_data, tmp_path):
    _folder(tmp_path / "f5", {"checkpoints/": "", "history.json": '{"my": "experiment log"}'})
    before = tree(tmp_path)
    assert_refused(_train(toy_data, tmp_path / "f5", "--force"), "it is not a folder made by animerec train (it has no run.json)")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("part", ["history.json", "checkpoints", "checkpoint", "checkpoint-file"])
def test_train_force_refuses_a_run_whose_parts_are_no_regular_files(toy_data, tiny_run, tmp_path, part):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    mine = _folder(tmp_path / "mine", {"thesis.tex": "x\n"})
    checkpoint = next((run / "checkpoints").iterdir())
    target = {
        "history.json": run / "history.json",
        "checkpoints": run / "checkpoints",
        "checkpoint": checkpoint,
        "checkpoint-file": checkpoint / "train_state.json",
    }[part]
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    target.symlink_to(mine)  # --force would delete the link, and the user would find it gone
    before = tree(tmp_path)
    result = _train(toy_data, run, "--force")
    assert_refused(result, "which is not" if part != "checkpoints" else "it holds checkpoints")
    assert tree(tmp_path) == before


def test_train_force_refuses_hidden_files_that_only_look_like_leftovers(toy_data, tiny_run, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    (run / ".thesis.tmp-backup").write_text("draft\n")
    before = tree(tmp_path)
    assert_refused(_train(toy_data, run, "--force"), "it holds .thesis.tmp-backup, which animerec train did not write")
    assert tree(tmp_path) == before


def test_train_force_still_replaces_a_run_with_its_own_leftovers(toy_data, tiny_run, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    (run / ".run.json.tmp-k3j_a9zq").write_text("{")  # what a kill in atomic_write_bytes leaves
    (run / "checkpoints" / f".e0002-s000000.tmp-{DEAD_PID}-abcd1234").mkdir()
    result = _train(toy_data, run, "--force")
    assert result.exit_code == 0, result.output


# --- train with no --data: $ANIMEREC_HOME/training-data -----------------------------------


def _bare_train(home: Path):
    return invoke("train", "--out", home / "runs" / "r", "--epochs", "1", *TINY_TRAIN)


@pytest.mark.parametrize("what", ["users-files", "users-files-and-an-old-copy"])
def test_bare_train_never_deletes_what_the_user_put_in_training_data(home, tiny_shipped, toy_data, what):
    folder = home / "training-data"
    if what == "users-files":
        _folder(folder, {"notes.md": "my notes\n"})
    else:
        shutil.copytree(toy_data, folder)
        (folder / "val_items.npy").write_bytes(b"damaged")
        (folder / "notes.md").write_text("my notes\n")
    before = tree(home)
    assert_refused(_bare_train(home), f"{folder}")
    assert tree(home) == before


@pytest.mark.parametrize("kind", ["symlink", "file", "dangling-symlink"])
def test_bare_train_with_training_data_no_folder_is_one_line(home, tiny_shipped, tmp_path, kind):
    folder = home / "training-data"
    home.mkdir()
    if kind == "file":
        folder.write_text("mine\n")
    else:
        mine = tmp_path / "mine"
        if kind == "symlink":
            _folder(mine, {"notes.md": "my notes\n"})
        folder.symlink_to(mine)
    before = tree(tmp_path)
    assert_refused(_bare_train(home), f"{folder}")
    assert tree(tmp_path) == before


def test_bare_train_replaces_a_damaged_copy_by_a_swap_with_ordinary_permissions(home, tiny_shipped, toy_data):
    from animerec_tui.runs import shipped_training_data

    folder = shutil.copytree(toy_data, home / "training-data")
    (folder / "val_items.npy").write_bytes(b"damaged")
    umask = os.umask(0o022)
    try:
        assert shipped_training_data() == folder
    finally:
        os.umask(umask)
    assert (folder / "val_items.npy").read_bytes() == (toy_data / "val_items.npy").read_bytes()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o644}
    assert sorted(p.name for p in home.iterdir()) == ["training-data"]  # nothing left beside it


def test_bare_train_reuses_a_symlinked_copy_that_is_whole(home, tiny_shipped, tmp_path):
    from animerec_tui.runs import shipped_training_data
    from training.bundle import unpack

    elsewhere = unpack(tiny_shipped / "training", tmp_path / "big-disk" / "training-data")
    home.mkdir()
    (home / "training-data").symlink_to(elsewhere)
    before = tree(tmp_path)
    assert shipped_training_data() == home / "training-data"
    assert tree(tmp_path) == before


# --- nothing is written inside a model folder ------------------------------------------------


@pytest.mark.parametrize("command", ["train", "preprocess"])
def test_no_output_inside_a_model_folder(toy_data, tiny_run, tmp_path, ratings, command):
    model = shutil.copytree(next((tiny_run / "checkpoints").iterdir()), tmp_path / "model")  # a model folder, as Data/model
    for extra in ("train_state.json", "train_state.safetensors"):
        (model / extra).unlink()
    out = model / "sub"
    before = tree(tmp_path)
    result = _train(toy_data, out) if command == "train" else invoke("preprocess", ratings, "--out", out, *KCORE)
    assert_refused(result, f"it is inside {model}, a folder made by animerec train (a model)")
    assert tree(tmp_path) == before


def test_a_folder_with_another_programs_meta_json_is_no_model_folder(tmp_path, ratings):
    _folder(tmp_path / "site", {"meta.json": '{"title": "my site"}', "model.safetensors": b"x"})
    result = invoke("preprocess", ratings, "--out", tmp_path / "site" / "data", *KCORE)
    assert result.exit_code == 0, result.output


# --- the sweeps and the lock touch only animerec's own names ---------------------------------


def test_the_sweep_next_to_an_output_keeps_a_users_file_that_only_looks_like_a_leftover(tmp_path, ratings):
    mine = tmp_path / f".out.tmp-{DEAD_PID}-my-notes.txt"
    mine.write_text("notes\n")
    result = invoke("preprocess", ratings, "--out", tmp_path / "out", *KCORE)
    assert result.exit_code == 0, result.output
    assert mine.read_text() == "notes\n"


def test_resume_keeps_hidden_files_of_the_users_in_checkpoints(tiny_run, tmp_path):
    from training.run_folder import remove_leftovers

    run = shutil.copytree(tiny_run, tmp_path / "run")
    (run / "checkpoints" / ".notes.md").write_text("which epoch was best\n")
    (run / ".run.json.tmp-backup-of-the-good-one").write_text("{}\n")
    ours = [run / "checkpoints" / f".e0002-s000000.tmp-{DEAD_PID}-abcd1234", run / "checkpoints" / f".e0001-s000000.del-{DEAD_PID}"]
    for path in ours:
        path.mkdir()
    remove_leftovers(run)
    assert (run / "checkpoints" / ".notes.md").is_file() and (run / ".run.json.tmp-backup-of-the-good-one").is_file()
    assert not any(path.exists() for path in ours)


@pytest.mark.parametrize("content", ["somebody's lock\n", "symlink"])
def test_a_lock_file_of_someone_elses_is_neither_used_nor_removed(tmp_path, ratings, content):
    lock = tmp_path / ".out.lock"
    if content == "symlink":
        lock.symlink_to(tmp_path / "target-of-mine")
    else:
        lock.write_text(content)
    before = tree(tmp_path)
    assert_refused(invoke("preprocess", ratings, "--out", tmp_path / "out", *KCORE), ".out.lock")
    assert tree(tmp_path) == before and lock.is_symlink() == (content == "symlink")
    assert not (tmp_path / "target-of-mine").exists()


def test_a_users_folder_named_like_a_set_aside_run_is_kept(toy_data, tiny_run, tmp_path):
    shutil.copytree(tiny_run, tmp_path / "run")
    _folder(tmp_path / ".run.replaced", {"thesis.tex": "x\n"})
    before = tree(tmp_path)
    assert_refused(_train(toy_data, tmp_path / "run"), "already exists")
    assert tree(tmp_path) == before


def test_a_run_set_aside_never_costs_the_users_hidden_files_in_its_place(toy_data, tiny_run, tmp_path):
    shutil.copytree(tiny_run, tmp_path / ".run.replaced")
    _folder(tmp_path / "run", {".git/HEAD": "ref: refs/heads/main\n"})  # not a husk a killed run left
    before = tree(tmp_path)
    assert_refused(_train(toy_data, tmp_path / "run"), "not a folder made by animerec train")
    assert tree(tmp_path) == before


# --- the runs folder: runs are known by content too ------------------------------------------


def test_latest_is_never_another_programs_folder_with_a_run_json(home, tiny_run):
    from animerec_tui.runs import latest_run

    run = shutil.copytree(tiny_run, home / "runs" / "run-20260101-000000")
    other = _folder(home / "runs" / "zz-notebook", {"run.json": '{"latest": "cell 4"}'})
    os.utime(other / "run.json", (os.path.getmtime(run / "run.json") + 60,) * 2)
    assert latest_run() == run


def test_a_new_run_never_takes_the_name_of_a_dangling_symlink(home, monkeypatch):
    from animerec_tui import runs

    monkeypatch.setattr(runs.time, "strftime", lambda _format: "20260101-000000")
    (home / "runs").mkdir(parents=True)
    (home / "runs" / "run-20260101-000000").symlink_to(home / "elsewhere")
    assert runs.new_run_dir() == home / "runs" / "run-20260101-000000-2"


def test_force_with_a_users_folder_named_like_a_set_aside_run_is_one_line(toy_data, tiny_run, tmp_path):
    shutil.copytree(tiny_run, tmp_path / "run")
    _folder(tmp_path / ".run.replaced", {"thesis.tex": "x\n"})
    before = tree(tmp_path)
    assert_refused(_train(toy_data, tmp_path / "run", "--force"), ".run.replaced is in the way (--force sets the old run aside under that name)")
    assert tree(tmp_path) == before

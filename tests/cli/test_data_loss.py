"""Nothing a user has is ever deleted: ``--force`` replaces only what the same command made.

Each case here once lost data or saved a broken model: ``train --force`` deleted the data
folder it was handed, ``preprocess --force`` the folder holding its own ratings, and a run
whose last step blew up kept NaN weights as its best checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from tests.conftest import TINY_TRAIN, assert_refused, invoke, toy_triples, tree, write_lines

runner = CliRunner()
TINY = TINY_TRAIN
KCORE = ["--min-user-items", "3", "--min-item-users", "3"]


def _train(data: Path, out: Path, *extra):
    return invoke("train", "--data", data, "--out", out, "--epochs", "1", *TINY, *extra)


@pytest.fixture
def ratings(tmp_path) -> Path:
    return write_lines(tmp_path / "ratings.csv", [f"{u},{i},{r}" for u, i, r in toy_triples(60, 30)])


@pytest.fixture
def run(tiny_run) -> Path:
    return tiny_run


# --- train --force ---------------------------------------------------------------------


def test_train_force_refuses_to_replace_its_own_data_folder(toy_data, tmp_path):
    data = shutil.copytree(toy_data, tmp_path / "datacopy")
    before = tree(tmp_path)
    assert_refused(_train(data, data, "--force"), f"refusing to replace {data}: it holds {data}")
    assert tree(tmp_path) == before


def test_train_force_refuses_a_folder_that_holds_the_data(toy_data, tmp_path):
    project = tmp_path / "proj"
    shutil.copytree(toy_data, project / "data")
    (project / "notes.txt").write_text("x\n")
    before = tree(tmp_path)
    assert_refused(_train(project / "data", project, "--force"), "an input of this command")
    assert tree(tmp_path) == before


def test_train_force_refuses_a_folder_that_is_no_run(toy_data, tmp_path):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("x\n")
    before = tree(tmp_path)
    assert_refused(_train(toy_data, mine, "--force"), "it is not a folder made by animerec train (it has no run.json)")
    assert tree(tmp_path) == before


def test_train_force_refuses_a_run_inside_the_data_folder(toy_data, run, tmp_path):
    data = shutil.copytree(toy_data, tmp_path / "data")
    shutil.copytree(run, data / "run")
    before = tree(tmp_path)
    assert_refused(_train(data, data / "run", "--force"), "is inside")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("out", [".", ".."])
def test_train_force_refuses_the_current_folder_and_its_parents(toy_data, run, tmp_path, monkeypatch, out):
    here = tmp_path / "parent" / "here"
    shutil.copytree(run, here)  # even a real run is not replaced while the user stands in it
    monkeypatch.chdir(here)
    before = tree(tmp_path)
    assert_refused(_train(toy_data, out, "--force"), "it holds the current folder")
    assert tree(tmp_path) == before


def test_train_resume_with_nothing_to_resume_does_not_take_over_a_folder(toy_data, tmp_path):
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    before = tree(tmp_path)
    assert_refused(_train(toy_data, project, "--resume"), "not a folder made by animerec train")
    assert tree(tmp_path) == before


def test_train_force_still_replaces_a_run(toy_data, run, tmp_path):
    copy = shutil.copytree(run, tmp_path / "run")
    (copy / "history.json").write_text("[]")
    result = _train(toy_data, copy, "--force")
    assert result.exit_code == 0, result.output
    assert len(json.loads((copy / "history.json").read_text())) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_force_killed_before_its_first_checkpoint_gives_the_old_run_back(toy_data, run, tmp_path):
    # What a kill -9 leaves: the old run set aside, the new one a folder with no checkpoint.
    shutil.copytree(run, tmp_path / ".run.replaced")
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    expected = {k.removeprefix(".run.replaced/"): v for k, v in tree(tmp_path).items() if k.startswith(".run.replaced/")}
    assert_refused(_train(toy_data, tmp_path / "run"), "already exists; pass --resume")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert tree(tmp_path / "run") == expected


def test_a_force_killed_after_its_first_checkpoint_lets_the_old_run_go(toy_data, run, tmp_path):
    shutil.copytree(run, tmp_path / ".run.replaced")
    shutil.copytree(run, tmp_path / "run")
    result = _train(toy_data, tmp_path / "run", "--resume", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# --- preprocess --force ----------------------------------------------------------------


def test_preprocess_force_refuses_the_folder_that_holds_its_input(tmp_path):
    userdir = tmp_path / "userdir"
    userdir.mkdir()
    ratings = write_lines(userdir / "ratings.csv", [f"{u},{i},{r}" for u, i, r in toy_triples(60, 30)])
    (userdir / "notes.txt").write_text("notes\n")
    before = tree(tmp_path)
    assert_refused(invoke("preprocess", ratings, "--out", userdir, "--force", *KCORE), f"it holds {ratings}, an input of this command")
    assert tree(tmp_path) == before


def test_preprocess_force_refuses_the_folder_that_holds_its_item_map(tmp_path, ratings):
    maps = tmp_path / "maps"
    maps.mkdir()
    item_map = write_lines(maps / "map.csv", ["100,1"])
    before = tree(tmp_path)
    assert_refused(invoke("preprocess", ratings, "--out", maps, "--item-map", item_map, "--force", *KCORE), "an input of this command")
    assert tree(tmp_path) == before


def test_preprocess_force_refuses_a_folder_it_did_not_make(tmp_path, ratings):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "cat.jpg").write_bytes(b"\xff\xd8")
    before = tree(tmp_path)
    assert_refused(invoke("preprocess", ratings, "--out", mine, "--force", *KCORE), "it has no manifest.json")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("out", [".", ".."])
def test_preprocess_force_refuses_the_current_folder(tmp_path, ratings, monkeypatch, out):
    here = tmp_path / "here"
    assert invoke("preprocess", ratings, "--out", here, *KCORE).exit_code == 0
    monkeypatch.chdir(here)
    before = tree(tmp_path)
    assert_refused(invoke("preprocess", ratings, "--out", out, "--force", *KCORE), "refusing to replace")
    assert tree(tmp_path) == before  # and no "..old-*" or "..tmp-*" folder left behind


def test_preprocess_force_into_an_empty_folder_works(tmp_path, ratings):
    (tmp_path / "empty").mkdir()
    result = invoke("preprocess", ratings, "--out", tmp_path / "empty", "--force", *KCORE)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty" / "manifest.json").is_file()


# --- leftovers of killed writes ----------------------------------------------------------

DEAD_PID = 2**22 + 12345  # above Linux's largest pid, so never a live process


def test_the_next_preprocess_sweeps_what_a_killed_one_left(tmp_path, ratings):
    out = tmp_path / "out"
    assert invoke("preprocess", ratings, "--out", out, *KCORE).exit_code == 0
    (tmp_path / f".out.tmp-{DEAD_PID}-abc").mkdir()
    (tmp_path / f".out.tmp-{DEAD_PID}-abc" / "train_items.npy").write_bytes(b"half")
    (tmp_path / f".out.old-{DEAD_PID}-def").mkdir()
    live = tmp_path / f".out.tmp-{os.getpid()}-ghi"  # another terminal's write in progress
    live.mkdir()
    result = invoke("preprocess", ratings, "--out", out, "--force", *KCORE)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", "ratings.csv", live.name])


def test_a_kill_between_the_two_renames_of_a_replace_loses_nothing(tmp_path, ratings):
    out = tmp_path / "out"
    assert invoke("preprocess", ratings, "--out", out, *KCORE).exit_code == 0
    before = tree(out)
    aside = tmp_path / f".out.old-{DEAD_PID}-xyz"
    aside.mkdir()
    out.rename(aside / "out")  # killed right here: the old output set aside, no new one yet
    assert_refused(invoke("preprocess", ratings, "--out", out, *KCORE), "already exists; pass --force")
    assert tree(out) == before  # put back, not swept away
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "ratings.csv"]


# --- a run that diverges never saves broken weights -------------------------------------


def _finite(folder: Path) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in load_file(str(folder / "model.safetensors")).values() if t.is_floating_point())


def test_a_blow_up_on_the_last_step_of_the_first_epoch_saves_nothing(toy_data, tmp_path):
    # One batch per epoch: the step that blows up is the last one, after its loss was checked.
    result = invoke("train", "--data", toy_data, "--out", tmp_path / "r", "--epochs", "2", "--lr", "1e30", "--batch-size", "1000", "--warmup", "0", *TINY[:6])
    assert result.exit_code == 2, result.output
    assert "training diverged at the end of epoch 1" in result.stderr.splitlines()[-1] and "had none to keep" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_blow_up_in_a_later_epoch_keeps_the_last_good_checkpoint_as_best(toy_data, tmp_path):
    result = invoke("train", "--data", toy_data, "--out", tmp_path / "r", "--epochs", "3", "--lr", "1e5", "--batch-size", "1000", "--warmup", "0", *TINY[:6])
    assert result.exit_code == 2 and "training diverged at the end of epoch 2" in result.stderr.splitlines()[-1], result.output
    pointer = json.loads((tmp_path / "r" / "run.json").read_text())
    checkpoints = list((tmp_path / "r" / "checkpoints").iterdir())
    assert checkpoints and all(_finite(c) for c in checkpoints)
    assert {pointer["latest"], pointer["best"]} <= {c.name for c in checkpoints}
    assert invoke("recommend", "--model", tmp_path / "r", "--mal-id", "101").exit_code == 0


# --- outputs inside other outputs, two commands at once ------------------------------------


def test_preprocess_force_refuses_a_data_folder_that_holds_a_run(toy_data, run, tmp_path, ratings):
    data = shutil.copytree(toy_data, tmp_path / "D2")
    shutil.copytree(run, data / "sub")  # put there by hand: train itself now refuses it
    before = tree(tmp_path)
    assert_refused(invoke("preprocess", ratings, "--out", data, "--force", *KCORE), "it holds sub, which animerec preprocess did not write")
    assert tree(tmp_path) == before


def test_train_force_refuses_a_run_that_holds_something_else(toy_data, run, tmp_path):
    copy = shutil.copytree(run, tmp_path / "run")
    (copy / "notes.md").write_text("why this run matters\n")
    before = tree(tmp_path)
    assert_refused(_train(toy_data, copy, "--force"), "it holds notes.md, which animerec train did not write")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("inside", ["data", "run-checkpoint"])
def test_an_output_inside_another_commands_output_is_refused(toy_data, run, tmp_path, inside):
    data = shutil.copytree(toy_data, tmp_path / "D")
    runs = shutil.copytree(run, tmp_path / "R")
    checkpoint = next((runs / "checkpoints").iterdir())
    out = data / "sub" if inside == "data" else checkpoint / "x"  # pruning would delete it
    before = tree(tmp_path)
    assert_refused(_train(data, out), "a folder made by animerec")
    assert tree(tmp_path) == before


def test_train_on_the_root_folder_is_one_line(toy_data):
    assert_refused(_train(toy_data, "/", "--force"), "cannot write /: it is the root folder")


@pytest.mark.parametrize("command", ["preprocess", "train"])
def test_a_second_command_on_the_same_output_is_refused(toy_data, ratings, tmp_path, command):
    from training.fsutil import output_lock

    out = tmp_path / "out"
    with output_lock(out, command):  # another process, as far as flock is concerned: another open file
        args = ["preprocess", ratings, "--out", out, *KCORE] if command == "preprocess" else ["train", "--data", toy_data, "--out", out, "--epochs", "1", *TINY]
        assert_refused(invoke(*args), f"is being written by another animerec {command} right now")
    assert not out.exists()
    assert invoke(*args).exit_code == 0  # and once it is done, the lock is gone
    assert not list(tmp_path.glob(".out.lock"))


def test_catalog_refuses_to_write_among_its_own_sources(tmp_path):
    sources = tmp_path / "sources"
    (sources / "reference_animerecbert_meta").mkdir(parents=True)
    target = sources / "reference_animerecbert_meta" / "animes.json"
    target.write_text("{}")
    before = tree(tmp_path)
    assert_refused(invoke("catalog", "--data", sources, "--out", target, "--force"), f"it is inside {sources}, an input of this command")
    assert tree(tmp_path) == before


def test_another_tools_manifest_or_run_json_above_the_output_is_no_animerec_folder(tmp_path, ratings):
    project = tmp_path / "webapp"
    project.mkdir()
    (project / "manifest.json").write_text('{"name": "my web app", "version": "1.0"}')
    (project / "run.json").write_text('["build", "test"]')
    result = invoke("preprocess", ratings, "--out", project / "data" / "pp", *KCORE)
    assert result.exit_code == 0, result.output


def test_a_symlink_to_an_output_shares_its_lock(toy_data, tiny_run, tmp_path):
    from training.fsutil import output_lock

    run = shutil.copytree(tiny_run, tmp_path / "run")
    (tmp_path / "alias").symlink_to(run)
    with output_lock(run, "train"):
        assert_refused(invoke("train", "--data", toy_data, "--out", tmp_path / "alias", "--resume", "--epochs", "2", *TINY), "is being written by another animerec train")

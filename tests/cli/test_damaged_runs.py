"""Flags out of range, models too large to build, and damaged runs: one line, never a traceback.

Every case once ended in a traceback, a five-line usage box, or a process that ate memory
until it was killed; each is refused before anything is allocated or written.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import TINY_TRAIN, assert_refused, invoke, tree

runner = CliRunner()
TINY = TINY_TRAIN


@pytest.fixture
def run(tiny_run) -> Path:
    return tiny_run


# --- flags -------------------------------------------------------------------------------

FLAGS = [
    (["train", "--seed", "-1"], "'--seed': Input should be greater than or equal to 0"),
    (["train", "--seed", str(10**23)], "'--seed': Input should be less than or equal to 4294967295"),
    (["train", "--lr", "nan"], "'--lr': nan is not a number above 0"),
    (["train", "--lr", "-1"], "'--lr': -1.0 is not a number above 0"),
    (["train", "--lr", "inf"], "'--lr': inf is not a number above 0"),
    (["train", "--dropout", "nan"], "'--dropout': nan is not a number at least 0, at most 0.9"),
    (["train", "--warmup", "2"], "'--warmup': 2.0 is not a number at least 0, at most 1"),
    (["train", "--weight-decay", "-inf"], "'--weight-decay': -inf is not a number at least 0"),
    (["train", "--mask-prob", "nan"], "'--mask-prob': nan is not a number at least 0.01, at most 1"),
    (["train", "--pop-debias", "3"], "'--pop-debias': 3.0 is not a number at least 0, at most 2"),
    (["train", "--pop-debias", "-0.5"], "'--pop-debias': -0.5 is not a number at least 0, at most 2"),
    (["train", "--layers", "1000000"], "'--layers': Input should be less than or equal to 1024"),
    (["train", "--hidden", "1000000000", "--heads", "1"], "'--hidden': Input should be less than or equal to 65536"),
    (["train", "--max-len", "100000"], "'--max-len': Input should be less than or equal to 4096"),
    (["train", "--no-such-flag"], "No such option: --no-such-flag"),
    (["preprocess", "r.csv", "--out", "o", "--seed", "-1"], "'--seed': Input should be greater than or equal to 0"),
    (["preprocess", "r.csv", "--out", "o", "--min-rating", "nan"], "'--min-rating': nan is not a finite number"),
    (["eval", "--run", "r", "--negatives", "10", "--seed", "-1"], "'--seed': Input should be greater than or equal to 0"),
    (["eval", "--run", "r", "--baselines", "--ease-lambda", "nan"], "'--ease-lambda': nan is not a number above 0"),
    (["eval", "--run", "r", "--ease-lambda", "0"], "'--ease-lambda': 0.0 is not a number above 0"),
    (["recommend", "-k", "0"], "'-k' / '--top': Input should be greater than or equal to 1"),
]


@pytest.mark.parametrize(("args", "fragment"), FLAGS, ids=[" ".join(a) for a, _ in FLAGS])
def test_a_bad_flag_is_one_line_naming_the_help(tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    if args[0] == "train":
        args = [*args[:1], "--data", "d", "--out", "o", *args[1:]]
    result = invoke(*args)
    assert_refused(result, fragment)
    assert f"(see 'animerec {args[0]} --help')" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_command_still_shows_the_help():
    result = invoke()
    assert result.exit_code == 2 and "Usage: animerec" in result.output and "animerec:" not in result.output


# --- a model too large to build ------------------------------------------------------------


def test_a_model_that_cannot_fit_in_memory_is_refused_before_it_is_built(toy_data, tmp_path):
    # 65,536 x 65,536 x 12 x 64 layers: half a trillion weights, terabytes before the first step
    result = invoke("train", "--data", toy_data, "--out", tmp_path / "r", "--hidden", "65536", "--heads", "1", "--layers", "64")
    assert_refused(result, "needs at least")
    assert "choose a smaller --hidden, --layers, --max-len or --batch-size" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_hidden_not_divisible_by_heads_is_one_line(toy_data, tmp_path):
    assert_refused(invoke("train", "--data", toy_data, "--out", tmp_path / "r", "--hidden", "64", "--heads", "3"), "--hidden 64 is not divisible by --heads 3")


# --- train --resume on a damaged run --------------------------------------------------------


def _checkpoint(run: Path) -> Path:
    return run / "checkpoints" / json.loads((run / "run.json").read_text())["latest"]


def _state(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = _checkpoint(run) / "train_state.json"
        state = json.loads(path.read_text())
        changed = change(state)  # None: ``state`` was edited in place; bytes: the file's new bytes
        path.write_bytes(changed if isinstance(changed, bytes) else json.dumps(state if changed is None else changed).encode())

    return damage


def _train_config(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = _checkpoint(run) / "meta.json"
        meta = json.loads(path.read_text())
        changed = change(meta["train_config"])
        if changed is not None:
            meta["train_config"] = changed
        path.write_text(json.dumps(meta))

    return damage


DAMAGED_RUNS = [
    pytest.param(_state(lambda s: s.pop("optimizer") and None), "train_state.json: damaged (the optimizer state is missing or malformed)", id="state-no-optimizer"),
    pytest.param(_state(lambda s: s.pop("epoch") and None), "train_state.json: damaged (epoch is None, not a whole number)", id="state-no-epoch"),
    pytest.param(_state(lambda s: [s]), "train_state.json: damaged (not an object)", id="state-a-list"),
    pytest.param(_state(lambda s: s.update(epoch="1")), "epoch is '1', not a whole number", id="state-epoch-text"),
    pytest.param(_state(lambda s: s.update(step_in_epoch=-4)), "step_in_epoch is -4, not a whole number", id="state-step-negative"),
    pytest.param(_state(lambda s: s.update(history={"epoch": 1})), "history is not a list of epochs", id="state-history-object"),
    pytest.param(_state(lambda s: s.update(best=[])), "best is malformed", id="state-best-a-list"),
    pytest.param(_state(lambda s: s["best"].update({"ndcg@10": "high"})), "best ndcg@10 is not a number", id="state-best-text"),
    pytest.param(_state(lambda s: s["optimizer"].update(param_groups=[{}])), "train_state.json: damaged", id="state-groups-empty"),
    pytest.param(_state(lambda s: s["optimizer"].update(scalars={"x.step": 1})), "train_state.json: damaged", id="state-bad-scalar-name"),
    pytest.param(_state(lambda s: b"[" * 100_000), "training state unreadable", id="state-nested-too-deep"),
    pytest.param(_train_config(lambda c: c.update(batch_size=0)), "train_config.batch_size is 0, not a whole number from 1", id="config-batch-0"),
    pytest.param(_train_config(lambda c: c.update(lr="0.003")), "train_config.lr is '0.003', not a number above 0", id="config-lr-text"),
    pytest.param(_train_config(lambda c: c.update(crop=7)), "train_config.crop is 7, not latest or random", id="config-crop-number"),
    pytest.param(_train_config(lambda c: [c]), "train_config is missing or not an object", id="config-a-list"),
]


@pytest.mark.parametrize(("damage", "fragment"), DAMAGED_RUNS)
def test_resuming_a_damaged_run_is_one_line_and_changes_nothing(run, toy_data, tmp_path, damage, fragment):
    copy = shutil.copytree(run, tmp_path / "run")
    damage(copy)
    before = tree(tmp_path)
    assert_refused(invoke("train", "--data", toy_data, "--out", copy, "--resume", "--epochs", "2"), fragment)
    assert tree(tmp_path) == before


# --- --model folders whose meta or genre table is out of range ------------------------------


def _edit_meta(model: Path, **config) -> None:
    meta = json.loads((model / "meta.json").read_text())
    meta["model_config"].update(config)
    (model / "meta.json").write_text(json.dumps(meta))


def _genre_out_of_range(model: Path) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(str(model / "model.safetensors"))
    weights["item_genres"][5, 0] = 10_000
    save_file(weights, str(model / "model.safetensors"), metadata={"format": "animerec-checkpoint"})


MODEL_FOLDERS = [
    pytest.param(lambda m: _edit_meta(m, max_len=10**11), "model_config.max_len is 100000000000 (must be from 2 to 4096)", id="max-len-huge"),
    pytest.param(lambda m: _edit_meta(m, max_len=1), "model_config.max_len is 1 (must be from 2 to 4096)", id="max-len-1"),
    pytest.param(_genre_out_of_range, "item_genres holds ids outside 0..", id="genre-id-out-of-range"),
]


@pytest.mark.parametrize("command", ["recommend", "eval"])
@pytest.mark.parametrize(("damage", "fragment"), MODEL_FOLDERS)
def test_a_model_folder_out_of_range_is_refused(tiny_model, tmp_path, home, command, damage, fragment):
    model = shutil.copytree(tiny_model, tmp_path / "model")
    damage(model)
    before = tree(tmp_path)
    args = ["recommend", "Death Note", "--model", model] if command == "recommend" else ["eval", "--run", model]
    assert_refused(invoke(*args), fragment)
    assert tree(tmp_path) == before


# --- flags that would be silently ignored -------------------------------------------------

IGNORED = [
    (["eval", "--run", "r", "--ease-lambda", "5"], "--ease-lambda has no effect without --baselines"),
    (["eval", "--run", "r", "--sampler", "popularity", "--seed", "5"], "--sampler, --seed have no effect without --negatives"),
    (["recommend", "--batch", "-", "--format", "table"], "--format has no effect with --batch"),
    (["train", "--data", "d", "--out", "o", "--resume", "--force"], "--resume continues the run in OUT and --force starts it over"),
    (["tui", "--model", "nowhere"], "nowhere: no such run or model folder"),
]


@pytest.mark.parametrize(("args", "fragment"), IGNORED, ids=[" ".join(a[:2] + a[-2:]) for a, _ in IGNORED])
def test_a_flag_that_would_be_ignored_is_refused(tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    assert_refused(invoke(*args), fragment)
    assert list(tmp_path.iterdir()) == []


def test_resume_refuses_a_setting_that_differs_and_accepts_the_same_one(run, toy_data, tmp_path):
    copy = shutil.copytree(run, tmp_path / "run")
    before = tree(tmp_path)
    result = invoke("train", "--data", toy_data, "--out", copy, "--resume", "--epochs", "2", "--hidden", "32", "--lr", "0.003")
    assert_refused(result, "leave out --hidden 32 (the run has 16)")
    assert tree(tmp_path) == before
    same = invoke("train", "--data", toy_data, "--out", copy, "--resume", "--epochs", "2", *TINY)
    assert same.exit_code == 0, same.output

"""Hand-edited state a user can hand over: train_state.json, meta.json, model folders, data.

Each case once resumed, evaluated or recommended with exit 0 and a wrong result (gradient
ascent, an epoch of no steps, a score on items the run trained on, the favourite ranked
first), or failed only after an epoch of training. Each is now one line, before any work.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_damaged_runs import _checkpoint, _state
from tests.conftest import TINY_TRAIN, assert_refused, invoke, tree


def _groups(**values) -> Callable[[Path], None]:
    return _state(lambda s: [group.update(values) for group in s["optimizer"]["param_groups"]] and None)


def _tensors(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """Edit the latest checkpoint's optimizer tensors (train_state.safetensors)."""

    def damage(run: Path) -> None:
        from safetensors.numpy import load_file, save_file

        path = _checkpoint(run) / "train_state.safetensors"
        tensors = load_file(str(path))
        change(tensors)
        save_file(tensors, str(path))

    return damage


def _history(change: Callable[[list], object]) -> Callable[[Path], None]:
    return _state(lambda s: change(s["history"]) and None)


def _pop(key: str) -> Callable[[dict], None]:
    return lambda t: t.__delitem__(key)


def _set(key: str, value) -> Callable[[dict], None]:
    return lambda t: t.update({key: value})


DAMAGED_STATES = [
    # the optimizer's settings: what make_optimizer builds for the run, nothing else
    pytest.param(_groups(eps="x"), 'eps is "x"', id="eps-text"),
    pytest.param(_groups(eps=0.0), "eps is 0.0", id="eps-zero"),
    pytest.param(_groups(amsgrad=True), "amsgrad is true", id="amsgrad"),
    pytest.param(_groups(maximize=True), "maximize is true", id="maximize"),
    pytest.param(_groups(betas=[2, 5]), "betas is [2, 5]", id="betas-out-of-range"),
    pytest.param(_groups(betas=[0.9]), "betas is [0.9]", id="betas-one"),
    pytest.param(_groups(foreach=True), "foreach is true", id="foreach"),
    pytest.param(_groups(differentiable=True), "differentiable is true", id="differentiable"),
    pytest.param(_groups(weight_decay=5.0), "weight_decay is 5.0", id="weight-decay-changed"),
    pytest.param(_groups(lr="x"), 'lr is "x"', id="lr-text"),
    pytest.param(_groups(lr=float("nan")), "lr is NaN", id="lr-nan"),
    pytest.param(_groups(lr=50.0), "lr is 50.0", id="lr-above-the-schedule"),
    pytest.param(_groups(momentum=0.9), "momentum", id="unknown-setting"),
    pytest.param(_groups(eps=None), "eps is null", id="eps-null"),
    pytest.param(_state(lambda s: s["optimizer"]["param_groups"][0].update(params=[0])), "parameter groups", id="params-cut"),
    pytest.param(_state(lambda s: s["optimizer"]["param_groups"].pop() and None), "parameter groups", id="a-group-missing"),
    pytest.param(_state(lambda s: s["optimizer"].update(scalars={"0.foo": 1})), "0.foo", id="unknown-scalar"),
    # the optimizer's tensors: each present, the parameter's shape, float32, finite
    pytest.param(_tensors(_pop("3.exp_avg")), "3.exp_avg is missing", id="tensor-missing"),
    pytest.param(_tensors(lambda t: [t.__delitem__(k) for k in ("5.step", "5.exp_avg", "5.exp_avg_sq")] and None), "5.exp_avg is missing", id="entry-missing"),
    pytest.param(_tensors(lambda t: t.update({"3.exp_avg": t["3.exp_avg"][:1]})), "3.exp_avg has shape", id="tensor-cut"),
    pytest.param(_tensors(lambda t: t.update({"3.exp_avg": t["3.exp_avg"].astype(np.float64)})), "3.exp_avg holds float64", id="tensor-float64"),
    pytest.param(_tensors(lambda t: t.update({"3.exp_avg": t["3.exp_avg"].astype(np.int32)})), "3.exp_avg holds int32", id="tensor-int32"),
    pytest.param(_tensors(lambda t: t["3.exp_avg"].__setitem__(0, np.nan)), "3.exp_avg holds NaN", id="tensor-nan"),
    pytest.param(_tensors(lambda t: t["3.exp_avg_sq"].__setitem__(0, -1.0)), "3.exp_avg_sq", id="second-moment-negative"),
    pytest.param(_tensors(_set("3.step", np.array(-2.0, dtype=np.float32))), "3.step", id="step-negative"),
    pytest.param(_tensors(_set("3.step", np.array(0.5, dtype=np.float32))), "3.step", id="step-fraction"),
    pytest.param(_tensors(_set("99.exp_avg", np.zeros(3, dtype=np.float32))), "99.exp_avg", id="tensor-of-no-parameter"),
    # progress: history, step_in_epoch, best
    pytest.param(_history(lambda h: h[0].update(epoch="x")), "history", id="history-epoch-text"),
    pytest.param(_history(lambda h: h[0].update(loss="x")), "history", id="history-loss-text"),
    pytest.param(_history(lambda h: h[0].pop("val_ndcg@10")), "history", id="history-no-ndcg"),
    pytest.param(_history(lambda h: h.clear() or True), "history has 0 epochs", id="history-short"),
    pytest.param(_history(lambda h: h.append(dict(h[0], epoch=2))), "history has 2 epochs", id="history-long"),
    pytest.param(_state(_set("step_in_epoch", 10**9)), "step_in_epoch is 1000000000", id="step-in-epoch-huge"),
    pytest.param(_state(lambda s: s["best"].update(epoch=7)), "best", id="best-epoch-not-trained"),
    pytest.param(_state(lambda s: s["best"].update(name="e0009-s000000")), "best", id="best-names-a-missing-checkpoint"),
    pytest.param(_state(lambda s: s["best"].update({"ndcg@10": 1e300})), "best", id="best-score-absurd"),
]


ON_THE_COMMAND_LINE = {"eps-text", "maximize", "betas-out-of-range", "tensor-missing", "tensor-cut", "history-epoch-text", "step-in-epoch-huge", "best-names-a-missing-checkpoint"}
"""The cases run through ``animerec train --resume`` (a model load and the catalogue's genre
table each, half a second); every case is checked in-process below."""


@pytest.mark.parametrize(("damage", "fragment"), [case for case in DAMAGED_STATES if case.id in ON_THE_COMMAND_LINE])
def test_resuming_a_hand_edited_train_state_is_one_line_and_changes_nothing(tiny_run, toy_data, tmp_path, damage, fragment):
    copy = shutil.copytree(tiny_run, tmp_path / "run")
    damage(copy)
    before = tree(tmp_path)
    result = invoke("train", "--data", toy_data, "--out", copy, "--resume", "--epochs", "2")
    assert_refused(result, fragment)
    assert "train_state" in result.stderr
    assert tree(tmp_path) == before


@pytest.mark.parametrize(("damage", "fragment"), [case for case in DAMAGED_STATES if case.id != "step-in-epoch-huge"])
def test_a_hand_edited_train_state_is_refused_before_the_first_step(tiny_run, tmp_path, damage, fragment):
    """What ``train._resumed_run`` does, without the CLI: the run's model, its optimizer, then the state."""
    from training.checkpoint import load_model, load_optimizer_state
    from training.config import saved_train_config
    from training.errors import UserError
    from training.train import make_optimizer

    copy = shutil.copytree(tiny_run, tmp_path / "run")
    folder = _checkpoint(copy)
    damage(copy)
    model, meta = load_model(folder)
    optimizer = make_optimizer(model, saved_train_config(meta, folder), "cpu")
    with pytest.raises(UserError) as refused:
        load_optimizer_state(folder, optimizer, "cpu")
    message = str(refused.value)
    assert fragment in message and "train_state" in message and "\n" not in message, message


def test_the_untouched_state_loads_in_process(tiny_run):
    from training.checkpoint import load_model, load_optimizer_state
    from training.config import saved_train_config
    from training.train import make_optimizer

    folder = _checkpoint(tiny_run)
    model, meta = load_model(folder)
    optimizer = make_optimizer(model, saved_train_config(meta, folder), "cpu")
    state = load_optimizer_state(folder, optimizer, "cpu")
    assert state["epoch"] == 1 and len(state["history"]) == 1 and optimizer.state_dict()["state"]


def test_a_run_trained_with_the_fused_optimizer_resumes_elsewhere(tiny_run, toy_data, tmp_path):
    """A run trained on CUDA saved fused=True; on the CPU the optimizer is built for the CPU."""
    copy = shutil.copytree(tiny_run, tmp_path / "run")
    _groups(fused=True)(copy)
    result = invoke("train", "--data", toy_data, "--out", copy, "--resume", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert len(json.loads((copy / "history.json").read_text())) == 2


def test_resume_with_a_damaged_train_config_and_a_typed_setting_is_one_line(tiny_run, toy_data, tmp_path):
    copy = shutil.copytree(tiny_run, tmp_path / "run")
    meta_path = _checkpoint(copy) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["train_config"] = [meta["train_config"]]
    meta_path.write_text(json.dumps(meta))
    before = tree(tmp_path)
    assert_refused(invoke("train", "--data", toy_data, "--out", copy, "--resume", "--epochs", "2", *TINY_TRAIN), "train_config is missing or not an object")
    assert tree(tmp_path) == before


# --- the data a run is evaluated on or resumed with ----------------------------------------


@pytest.fixture(scope="module")
def other_seed(toy_data, tmp_path_factory) -> Path:
    """The toy ratings preprocessed again with another seed: the same items, another split."""
    from training.preprocess import PreprocessParams, preprocess

    out = tmp_path_factory.mktemp("seed1") / "pp"
    preprocess(toy_data.parent / "r.csv", out, params=PreprocessParams(min_user_items=3, min_item_users=3, seed=1))
    assert np.array_equal(np.load(out / "item_ids.npy"), np.load(toy_data / "item_ids.npy"))
    return out


def _without_fingerprint(run: Path) -> None:
    """A run from before the split was recorded (like the shipped model): only the manifest's fields."""
    for meta_path in (run / "checkpoints").glob("*/meta.json"):
        meta = json.loads(meta_path.read_text())
        meta["data"].pop("splits_sha256", None)
        meta_path.write_text(json.dumps(meta))


@pytest.mark.parametrize("recorded", ["split hash", "manifest fields"])
def test_eval_on_another_split_of_the_same_ratings_is_refused(tiny_run, other_seed, tmp_path, recorded):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    if recorded == "manifest fields":
        _without_fingerprint(run)
    result = invoke("eval", "--run", run, "--data", other_seed)
    assert_refused(result, "is not the split the run was trained on")
    assert "held-out items may be ones it trained on" in result.stderr


@pytest.mark.parametrize("recorded", ["split hash", "manifest fields"])
def test_eval_on_a_copy_of_the_run_s_own_data_is_accepted(tiny_run, toy_data, tmp_path, recorded):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    if recorded == "manifest fields":
        _without_fingerprint(run)
    copy = shutil.copytree(toy_data, tmp_path / "elsewhere" / "data")
    result = invoke("eval", "--run", run, "--data", copy, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["models"]["bert4rec"]["ndcg@10"] >= 0


def test_eval_after_the_run_s_data_folder_was_preprocessed_again_with_another_seed_is_refused(tiny_run, other_seed, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    for meta_path in (run / "checkpoints").glob("*/meta.json"):  # as if `preprocess --force` had rewritten it in place
        meta = json.loads(meta_path.read_text())
        meta["data"]["path"] = str(other_seed)
        meta_path.write_text(json.dumps(meta))
    assert_refused(invoke("eval", "--run", run), "is not the split the run was trained on (preprocessed with seed 1, the run's with 0)")


def test_resume_on_another_split_of_the_same_ratings_is_refused(tiny_run, other_seed, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    before = tree(tmp_path)
    assert_refused(invoke("train", "--data", other_seed, "--out", run, "--resume", "--epochs", "2"), "is not the split the run was trained on")
    assert tree(tmp_path) == before


# --- model folders: vocabulary and weights ------------------------------------------------


def _vocab_repeats_an_id(model: Path) -> None:
    from training.model_files import vocab_hash

    meta = json.loads((model / "meta.json").read_text())
    ids = meta["vocab"]["item_ids"]
    ids[1] = ids[0]
    meta["vocab"]["sha256"] = vocab_hash(np.asarray(ids, dtype=np.int64))
    (model / "meta.json").write_text(json.dumps(meta))


def _weights(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(model: Path) -> None:
        from safetensors.numpy import load_file, save_file

        weights = load_file(str(model / "model.safetensors"))
        change(weights)
        save_file(weights, str(model / "model.safetensors"), metadata={"format": "animerec-checkpoint"})

    return damage


def _meta(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(model: Path) -> None:
        meta = json.loads((model / "meta.json").read_text())
        change(meta)
        (model / "meta.json").write_text(json.dumps(meta))

    return damage


MODEL_FOLDERS = [
    pytest.param(_meta(lambda m: m.update(data={"path": "/x", "splits_sha256": 5})), "its data section is malformed", id="split-hash-a-number"),
    pytest.param(_meta(lambda m: m.update(genres=5)), "genres is not a list of genre names", id="genres-a-number"),
    pytest.param(_vocab_repeats_an_id, "the vocabulary repeats", id="vocab-repeats-an-id"),
    pytest.param(_weights(lambda w: w["out_bias"].__setitem__(slice(None), 3e38)), "out_bias holds values as large as", id="out-bias-3e38"),
    pytest.param(_weights(lambda w: w["head.0.weight"].__setitem__(0, -2e7)), "head.0.weight holds values as large as", id="a-weight-2e7"),
    pytest.param(_weights(lambda w: w.update({"head.0.weight": w["head.0.weight"].astype(np.int32)})), "head.0.weight holds int32", id="weights-int32"),
    pytest.param(_weights(lambda w: w.update({"item_genres": w["item_genres"].astype(bool)})), "item_genres holds bool", id="genres-bool"),
]


@pytest.mark.parametrize("command", ["recommend", "eval"])
@pytest.mark.parametrize(("damage", "fragment"), MODEL_FOLDERS)
def test_a_model_folder_with_a_repeated_id_or_absurd_weights_is_refused(tiny_model, tmp_path, home, command, damage, fragment):
    model = shutil.copytree(tiny_model, tmp_path / "model")
    damage(model)
    before = tree(tmp_path)
    args = ["recommend", "--similar", "1535", "--model", model] if command == "recommend" else ["eval", "--run", model]
    result = invoke(*args)
    assert_refused(result, fragment)
    assert str(model) in result.stderr
    assert tree(tmp_path) == before


# --- flags that would be silently ignored -------------------------------------------------


def test_crop_random_on_unordered_data_is_refused(toy_data, tmp_path):
    assert_refused(invoke("train", "--data", toy_data, "--out", tmp_path / "r", "--crop", "random", *TINY_TRAIN), "--crop random")
    assert list(tmp_path.iterdir()) == []

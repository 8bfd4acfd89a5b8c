"""Training runs: checkpoints round-trip, resume is exact, bad inputs are refused."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from training.averaging import WeightAverage
from training.checkpoint import STATE_FILE, load_model, read_run, resolve_model_dir
from training.config import resolve_config
from training.data import load_dataset
from training.device import mixed_precision
from training.errors import UserError
from training.train import train

SMALL = dict(max_len=16, hidden=16, heads=2, layers=1, dropout=0.1, genres=False, batch_size=8, lr=3e-3, seed=3, val_users=100)


def _train(data, run, epochs=2, stop_after=None, resume=False, force=False, precision="auto", readout="mask", **settings):
    config = resolve_config(data, readout=readout, epochs=epochs, precision=precision, **SMALL, **settings)
    return train(data, run, config.model, config.train, resume=resume, force=force, stop_after=stop_after)


@pytest.fixture(scope="module")
def one_epoch(toy_data, tmp_path_factory):
    """A one-epoch run trained once for the module; tests damage copies of it."""
    run = tmp_path_factory.mktemp("one") / "run"
    _train(load_dataset(toy_data), run, epochs=1)
    return run


def _copy(run, tmp_path):
    return shutil.copytree(run, tmp_path / "run")


def _weights(run):
    model, _ = load_model(run, which="latest")
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_loss_falls_and_the_best_checkpoint_loads(toy_data, tmp_path):
    data = load_dataset(toy_data)
    summary = _train(data, tmp_path / "run", epochs=4)
    losses = [h["loss"] for h in summary["history"]]
    assert losses[-1] < losses[0]
    pointer = read_run(tmp_path / "run")
    assert pointer["best"] == summary["best"]["name"]
    model, meta = load_model(tmp_path / "run")
    assert meta["vocab"]["size"] == data.num_items
    assert meta["model_config"]["hidden"] == 16
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == sorted({pointer["best"], pointer["latest"]})


def test_bf16_on_cpu_trains_and_keeps_fp32_weights(toy_data, tmp_path):
    data = load_dataset(toy_data)
    summary = _train(data, tmp_path / "run", epochs=3, precision="bf16")
    losses = [h["loss"] for h in summary["history"]]
    assert losses[-1] < losses[0]
    assert _train_config(tmp_path / "run")["precision"] == "bf16"
    assert all(v.dtype in (torch.float32, torch.int64) for v in _weights(tmp_path / "run").values())


def test_pop_debias_is_saved_with_the_run_changes_the_training_and_is_checked(toy_data, one_epoch, tmp_path):
    data = load_dataset(toy_data)
    config = resolve_config(data, readout="mask", epochs=1, pop_debias=0.5, **SMALL)  # one_epoch's settings, debiased
    train(data, tmp_path / "run", config.model, config.train)
    assert _train_config(tmp_path / "run")["pop_debias"] == 0.5 and _train_config(one_epoch)["pop_debias"] == 0.0
    plain, debiased = _weights(one_epoch), _weights(tmp_path / "run")
    assert any(not torch.equal(plain[name], debiased[name]) for name in plain)
    for bad in (-0.1, 2.5, float("nan")):
        with pytest.raises(UserError, match=r"^--pop-debias is .*, not a number from 0 to 2$"):
            resolve_config(data, pop_debias=bad, **SMALL)


def test_precision_picks_the_autocast():
    with mixed_precision("cpu", "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    for device, precision in (("cpu", "auto"), ("cpu", "fp32"), ("mps", "auto")):
        assert not mixed_precision(device, precision)._enabled


def _train_config(run):
    return json.loads((resolve_model_dir(run, "latest") / "meta.json").read_text())["train_config"]


@pytest.mark.parametrize("readout", ["mask", "items"])
def test_interrupted_then_resumed_run_matches_an_uninterrupted_one(toy_data, tmp_path, readout):
    data = load_dataset(toy_data)
    _train(data, tmp_path / "straight", epochs=2, readout=readout)
    first = _train(data, tmp_path / "broken", epochs=2, stop_after=lambda step: step == 5, readout=readout)
    assert first["interrupted"]
    assert read_run(tmp_path / "broken")["latest"].endswith("s000005")
    _train(data, tmp_path / "broken", epochs=2, resume=True, readout=readout)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "broken")
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_the_weight_average_is_bias_corrected_and_leaves_the_live_weights_alone():
    param = torch.zeros(3)
    average = WeightAverage([param], horizon=2)  # decay 0.5: the last three steps weigh 4:2:1
    assert torch.equal(average.average()[0], param)  # before any step: the weights themselves
    for value in (1.0, 2.0, 3.0):
        param.fill_(value)
        average.update()
    assert torch.allclose(average.average()[0], torch.full((3,), (4 * 3 + 2 * 2 + 1 * 1) / 7))
    with average.applied():
        assert torch.allclose(param, torch.full((3,), 17 / 7))
        assert torch.equal(average.state()["live.0"], torch.full((3,), 3.0))  # a checkpoint keeps the live weights to resume from
    assert torch.equal(param, torch.full((3,), 3.0))


def test_an_averaging_run_saves_the_average_and_resumes_exactly(toy_data, tmp_path):
    data = load_dataset(toy_data)
    _train(data, tmp_path / "plain", epochs=2, readout="items")
    _train(data, tmp_path / "straight", epochs=2, readout="items", average_epochs=1)
    assert _train_config(tmp_path / "straight")["average_epochs"] == 1
    plain, averaged = _weights(tmp_path / "plain"), _weights(tmp_path / "straight")
    live = load_file(str(resolve_model_dir(tmp_path / "straight", "latest") / STATE_FILE))
    names = [name for name, _ in load_model(tmp_path / "plain")[0].named_parameters()]  # the order of the state's live.<i>
    # The live weights are those of the plain run (averaging changes no step); the model saved is their average.
    assert all(torch.equal(live[f"live.{i}"], plain[name]) for i, name in enumerate(names))
    assert any(not torch.equal(plain[name], averaged[name]) for name in names)
    assert _train(data, tmp_path / "broken", epochs=2, readout="items", average_epochs=1, stop_after=lambda step: step == 5)["interrupted"]
    _train(data, tmp_path / "broken", epochs=2, readout="items", average_epochs=1, resume=True)
    resumed = _weights(tmp_path / "broken")
    for key in averaged:
        assert torch.equal(averaged[key], resumed[key]), key


def test_an_averaging_run_without_its_average_is_refused_on_resume(toy_data, tmp_path):
    data = load_dataset(toy_data)
    _train(data, tmp_path / "run", epochs=1, average_epochs=1, stop_after=lambda step: step == 5)
    state = resolve_model_dir(tmp_path / "run", "latest") / STATE_FILE
    save_file({k: v for k, v in load_file(str(state)).items() if not k.startswith("live.")}, str(state))
    with pytest.raises(UserError, match=r"train_state.safetensors: damaged \(live\.0 is missing from the weight average's state\); cannot resume$"):
        _train(data, tmp_path / "run", epochs=1, average_epochs=1, resume=True)
    save_file({k: v for k, v in load_file(str(state)).items() if "." in k and k.split(".")[0].isdigit()}, str(state))
    with pytest.raises(UserError, match="averages its weights .* but its state has no weight average"):
        _train(data, tmp_path / "run", epochs=1, average_epochs=1, resume=True)


def test_existing_run_needs_resume_or_force(toy_data, tmp_path):
    data = load_dataset(toy_data)
    _train(data, tmp_path / "run", epochs=1)
    with pytest.raises(UserError, match="--resume"):
        _train(data, tmp_path / "run", epochs=1)
    with pytest.raises(UserError, match="already trained 1 epochs"):
        _train(data, tmp_path / "run", epochs=1, resume=True)
    _train(data, tmp_path / "run", epochs=1, force=True)


def test_resume_refuses_other_data(toy_data, one_epoch, tmp_path):
    data = load_dataset(toy_data)
    _copy(one_epoch, tmp_path)
    data.item_ids = data.item_ids + 1
    with pytest.raises(UserError, match="vocabulary"):
        _train(data, tmp_path / "run", epochs=2, resume=True)


def test_a_pickled_or_truncated_checkpoint_is_refused(one_epoch, tmp_path):
    _copy(one_epoch, tmp_path)
    folder = resolve_model_dir(tmp_path / "run")
    weights = folder / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(UserError, match="safetensors"):
        load_model(tmp_path / "run")
    weights.write_bytes(original[: len(original) // 2])
    with pytest.raises(UserError, match="safetensors"):
        load_model(tmp_path / "run")


def test_a_meta_with_a_wrong_vocabulary_hash_is_refused(one_epoch, tmp_path):
    _copy(one_epoch, tmp_path)
    meta_path = resolve_model_dir(tmp_path / "run") / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["vocab"]["sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match="damaged"):
        load_model(tmp_path / "run")


@pytest.mark.parametrize("damage", ["missing", "version"])
def test_a_broken_preprocessed_folder_is_refused(toy_data, tmp_path, damage):
    folder = tmp_path / "pp"
    shutil.copytree(toy_data, folder)
    if damage == "missing":
        (folder / "train_items.npy").unlink()
        match = "train_items.npy is missing"
    else:
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["manifest_version"] = 99
        (folder / "manifest.json").write_text(json.dumps(manifest))
        match = "incompatible version"
    with pytest.raises(UserError, match=match):
        load_dataset(folder)


@pytest.mark.parametrize("meta", ["[1, 2]", '{"format": "animerec-checkpoint", "version": 1}',
                                  '{"format": "animerec-checkpoint", "version": 1, "vocab": {"item_ids": ["x"]}, "model_config": {}}'])
def test_malformed_meta_is_one_clear_error(one_epoch, tmp_path, meta):
    _copy(one_epoch, tmp_path)
    (resolve_model_dir(tmp_path / "run") / "meta.json").write_text(meta)
    with pytest.raises(UserError, match="meta.json"):
        load_model(tmp_path / "run")


def test_a_stop_on_an_epochs_last_step_ends_the_epoch_and_resumes_cleanly(toy_data, tmp_path):
    from training.data import length_bucketed

    data = load_dataset(toy_data)
    offsets = data.splits["train"][0]
    users, lengths = np.flatnonzero(np.diff(offsets) > 0), np.diff(offsets)
    steps = len(length_bucketed(users, lengths, 8, np.random.default_rng(0)))
    first = _train(data, tmp_path / "run", epochs=3, stop_after=lambda step: step == steps)
    assert first["interrupted"] and [h["epoch"] for h in first["history"]] == [1]
    assert read_run(tmp_path / "run")["latest"] == "e0001-s000000"  # validated and saved, not a step-less epoch to come
    done = _train(data, tmp_path / "run", epochs=3, resume=True)
    assert [h["epoch"] for h in done["history"]] == [1, 2, 3] and all(h["loss"] is not None for h in done["history"])
    assert (tmp_path / "run" / "history.json").is_file()


def test_a_second_ctrl_c_while_the_replaced_run_is_deleted_keeps_the_new_run(toy_data, one_epoch, tmp_path, monkeypatch):
    from training import run_folder

    data = load_dataset(toy_data)
    run = _copy(one_epoch, tmp_path)
    real_rmtree = shutil.rmtree

    def interrupted(path, *args, **kwargs):
        if str(path).endswith(".run.replaced"):
            (next(Path(path).rglob("model.safetensors"))).unlink()  # half deleted when the Ctrl-C lands
            raise KeyboardInterrupt
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(run_folder.shutil, "rmtree", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _train(data, run, epochs=1, force=True)
    monkeypatch.setattr(run_folder.shutil, "rmtree", real_rmtree)
    load_model(run)  # the new run, whose first checkpoint was committed, is there and whole
    _train(data, run, epochs=2, resume=True)  # and the next command clears away what is left of the old one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_weights_past_the_bound_loading_refuses_count_as_diverged(toy_data, one_epoch):
    """A checkpoint is never saved that loading would refuse: finite scores are not enough."""
    from training.train import model_is_finite

    model, _ = load_model(one_epoch)
    data = load_dataset(toy_data)
    assert model_is_finite(model, data, "cpu")
    with torch.no_grad():
        model.head[0].weight[0, 0] = 2e7  # scores stay finite; loading refuses it
    assert not model_is_finite(model, data, "cpu")


def test_export_refuses_weights_that_float16_cannot_hold(one_epoch, tmp_path):
    """A weight past float16's 65,504 became infinity in the export, which loading then refused."""
    from safetensors.torch import load_file, save_file

    from training.checkpoint import export_model

    _copy(one_epoch, tmp_path)
    folder = resolve_model_dir(tmp_path / "run")
    weights = load_file(str(folder / "model.safetensors"))
    weights["head.0.weight"][0, 0] = 1e5
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "animerec-checkpoint"})
    with pytest.raises(UserError, match="head.0.weight holds values as large as 1e\\+05, past float16's 65504"):
        export_model(tmp_path / "run", tmp_path / "half")
    assert not (tmp_path / "half").exists()
    export_model(tmp_path / "run", tmp_path / "full", half=False)
    model, _ = load_model(tmp_path / "full")
    assert float(model.head[0].weight.detach()[0, 0]) == 1e5


def test_export_replaces_only_an_exported_model(one_epoch, tmp_path):
    """export_model replaced whatever folder it was given (it runs with force); now only an export's own two files."""
    from training.checkpoint import export_model

    _copy(one_epoch, tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.tex").write_text("mine")
    with pytest.raises(UserError, match="refusing to replace .*not a model folder made by animerec"):
        export_model(tmp_path / "run", notes)
    assert (notes / "thesis.tex").read_text() == "mine"
    export_model(tmp_path / "run", tmp_path / "model")
    export_model(tmp_path / "run", tmp_path / "model")  # an export of its own is replaced
    (tmp_path / "model" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="it holds notes.txt"):
        export_model(tmp_path / "run", tmp_path / "model")
    with pytest.raises(UserError, match="inside"):
        export_model(tmp_path / "run", tmp_path / "model" / "sub")


def _as_mal(toy_data):
    """The toy data, its item ids taken for MAL ids, so a run can know catalogue anime too."""
    data = load_dataset(toy_data)
    data.manifest = {**data.manifest, "item_id_space": "mal"}
    return data


def _toy_catalog(data, extra: dict[int, int]):
    """The data's anime (aired 2000-2009) and ``extra`` unrated ones (MAL id: year)."""
    from training.catalog import Catalog

    genres = ["Action", "Drama", "Comedy"]
    rated = [{"mal_id": int(m), "genres": [genres[i % 3]], "year": 2000 + i % 10} for i, m in enumerate(data.item_ids)]
    return Catalog(rated + [{"mal_id": m, "genres": ["Drama"], "year": y} for m, y in extra.items()])


def _catalogue_run(data, run, catalog, **kwargs):
    config = resolve_config(data, catalog, epochs=2, **{**SMALL, "genres": True})
    assert config.train.prior_weight > 0 and not config.prior_items.all()  # the prior loss is on and leaves some anime out
    return train(data, run, config.model, config.train, item_genres=config.item_genres, genre_names=config.genre_names, item_ids=config.item_ids, prior_items=config.prior_items, **kwargs)


@pytest.mark.parametrize("change", ["grown", "same size"])
def test_a_resumed_catalogue_run_keeps_its_own_catalogue(toy_data, tmp_path, change):
    """The catalogue updated between a stop and a resume: the run goes on exactly as if it had not been."""
    data = _as_mal(toy_data)
    before = _toy_catalog(data, {9001: 2005, 9002: 2030, 9003: 2031})
    after = {"grown": {9001: 2005, 9002: 2030, 9003: 2031, 9004: 2001, 9005: 2040},
             "same size": {9001: 2040, 9006: 2002, 9003: 2031}}[change]
    _catalogue_run(data, tmp_path / "straight", before)
    assert _catalogue_run(data, tmp_path / "broken", before, stop_after=lambda step: step == 5)["interrupted"]
    notes = []

    class Notes:
        def begin(self): pass
        def note(self, text): notes.append(text)
        def step(self, *args): pass
        def epoch_done(self, *args): pass

    _catalogue_run(data, tmp_path / "broken", _toy_catalog(data, after), resume=True, progress=Notes())
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "broken")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [n for n in notes if "the catalogue has changed since this run began" in n and "keeps its own" in n]
    meta = json.loads((resolve_model_dir(tmp_path / "broken", "latest") / "meta.json").read_text())
    assert meta["vocab"]["item_ids"][-3:] == [9001, 9002, 9003] and meta["prior_left_out"] == [data.num_items + 1, data.num_items + 2]


def test_an_older_catalogue_run_resumes_only_over_the_same_anime(toy_data, tmp_path):
    """A run saved before the prior was recorded: today's catalogue stands in if it has the run's anime, else one clear refusal."""
    data = _as_mal(toy_data)
    before = _toy_catalog(data, {9001: 2005, 9002: 2030})
    _catalogue_run(data, tmp_path / "run", before, stop_after=lambda step: step == 5)
    latest = resolve_model_dir(tmp_path / "run", "latest") / "meta.json"
    meta = json.loads(latest.read_text())
    del meta["prior_left_out"]
    latest.write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"does not record which anime its prior loss weighs .* \(.* anime then, .* now\); it cannot be resumed exactly: start it over with --force"):
        _catalogue_run(data, tmp_path / "run", _toy_catalog(data, {9001: 2005, 9002: 2030, 9003: 2001}), resume=True)
    assert _catalogue_run(data, tmp_path / "run", before, resume=True)["history"][-1]["epoch"] == 2


def test_a_damaged_prior_record_is_one_clear_error(toy_data, tmp_path):
    data = _as_mal(toy_data)
    catalog = _toy_catalog(data, {9001: 2005, 9002: 2030})
    _catalogue_run(data, tmp_path / "run", catalog, stop_after=lambda step: step == 5)
    latest = resolve_model_dir(tmp_path / "run", "latest") / "meta.json"
    latest.write_text(json.dumps({**json.loads(latest.read_text()), "prior_left_out": [10**6]}))
    with pytest.raises(UserError, match="prior_left_out is not a list of vocabulary positions"):
        _catalogue_run(data, tmp_path / "run", catalog, resume=True)

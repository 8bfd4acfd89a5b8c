"""``animerec train`` and ``animerec eval`` through the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from animerec_tui.cli import app
from tests.conftest import tree

runner = CliRunner()
TINY = ["--hidden", "16", "--heads", "2", "--layers", "1", "--max-len", "16", "--batch-size", "8", "--val-users", "100"]


@pytest.fixture(scope="module")
def trained(toy_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    result = runner.invoke(app, ["train", "--data", str(toy_data), "--out", str(run), "--epochs", "2", *TINY])
    assert result.exit_code == 0, result.output
    return run, result


def test_train_prints_and_saves_the_curves(trained):
    run, result = trained
    assert "validation NDCG@10" in result.output
    assert "best epoch" in result.output
    assert "validation NDCG@10" in (run / "training_chart.txt").read_text()
    assert len(json.loads((run / "history.json").read_text())) == 2


def test_eval_json_has_protocol_split_models_and_manifest_hash(trained, toy_data):
    run, _ = trained
    result = runner.invoke(app, ["eval", "--run", str(run), "--baselines", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["protocol"] == "full ranking" and document["split"] == "test"
    assert set(document["models"]) == {"bert4rec", "popularity", "ease", "itemknn", "rp3beta"}, "the cheap peers by default"
    assert {"recall@1", "ndcg@100", "mrr"} <= set(document["models"]["ease"])
    assert set(document["standard_errors"]) == set(document["models"]) and document["standard_errors"]["ease"]["ndcg@10"] > 0
    assert set(document["chosen"]) == {"popularity", "ease", "itemknn", "rp3beta"} and set(document["chosen"]["rp3beta"]) == {"alpha", "beta", "k"}
    ease = document["tuning"]["ease"]
    best = max(point["metrics"]["ndcg@10"] for point in ease)
    assert len(ease) > 1 and next(p for p in ease if p["metrics"]["ndcg@10"] == best)["params"] == document["chosen"]["ease"], "chosen on validation"
    assert len(document["data_manifest_sha256"]) == 64


def test_eval_table_shows_the_chosen_values_and_standard_errors(trained):
    run, _ = trained
    result = runner.invoke(app, ["eval", "--run", str(run), "--baselines", "--peers", "ease,itemknn", "--ease-lambda", "37"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "ease: lam=37 (chosen on validation NDCG@10)" in result.stdout, "a fixed --ease-lambda is the only grid point"
    assert "itemknn: k=" in result.stdout and "shrink=" in result.stdout
    assert "± SE" in result.stdout and "popularity" not in result.stdout


def test_eval_peer_flags_that_would_be_ignored_are_refused(trained):
    run, _ = trained
    for args, message in [
        (["--peers", "ease"], "--peers has no effect without --baselines"),
        (["--baselines", "--peers", "ease,knn"], "--peers takes a comma-separated list of popularity, ease, itemknn, rp3beta, vae"),
        (["--baselines", "--peers", "itemknn", "--ease-lambda", "5"], "--ease-lambda fixes EASE's lambda; add ease to --peers"),
    ]:
        result = runner.invoke(app, ["eval", "--run", str(run), *args])
        assert result.exit_code != 0 and message in result.stderr, (args, result.output)


def test_eval_table_names_the_sampled_protocol(trained):
    run, _ = trained
    result = runner.invoke(app, ["eval", "--run", str(run), "--negatives", "5", "--split", "val"])
    assert result.exit_code == 0, result.output
    assert "sampled: 1 positive vs 5 uniform negatives (seed 0)" in result.output
    assert "NDCG@10" in result.output


def test_eval_refuses_data_with_another_vocabulary(trained, toy_data, tmp_path):
    run, _ = trained
    other = tmp_path / "other"
    shutil.copytree(toy_data, other)
    ids = np.load(other / "item_ids.npy")
    np.save(other / "item_ids.npy", ids + 1000)
    result = runner.invoke(app, ["eval", "--run", str(run), "--data", str(other)])
    assert result.exit_code != 0
    assert "vocabulary" in result.output and "Traceback" not in result.output


def test_too_many_negatives_is_one_clear_line(trained):
    run, _ = trained
    result = runner.invoke(app, ["eval", "--run", str(run), "--negatives", "500"])
    assert result.exit_code != 0
    assert "ask for fewer" in result.output and "Traceback" not in result.output


def test_genres_need_mal_ids(tmp_path):
    lines = [f"{u} {i}" for u in range(1, 9) for i in range(1, 7)]
    (tmp_path / "seq.txt").write_text("\n".join(lines) + "\n")
    assert runner.invoke(app, ["preprocess", str(tmp_path / "seq.txt"), "--out", str(tmp_path / "pp"), "--min-user-items", "3", "--min-item-users", "3"]).exit_code == 0
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "pp"), "--out", str(tmp_path / "r"), "--genres", *TINY])
    assert result.exit_code != 0
    assert "MAL ids" in result.output


def test_sets_read_every_item_by_default_and_ordered_data_refuses_it(trained, tmp_path):
    run, _ = trained
    meta = json.loads((run / "checkpoints" / json.loads((run / "run.json").read_text())["best"] / "meta.json").read_text())
    assert meta["model_config"]["readout"] == "items"
    assert meta["train_config"]["mask_prob"] == 0.25  # the items readout's own default
    lines = [f"{u} {i}" for u in range(1, 9) for i in range(1, 7)]
    (tmp_path / "seq.txt").write_text("\n".join(lines) + "\n")
    assert runner.invoke(app, ["preprocess", str(tmp_path / "seq.txt"), "--out", str(tmp_path / "pp"), "--min-user-items", "3", "--min-item-users", "3"]).exit_code == 0
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "pp"), "--out", str(tmp_path / "r"), "--readout", "items", *TINY])
    assert result.exit_code != 0
    assert "--readout items" in result.output
    assert not (tmp_path / "r").exists()


def test_a_diverging_run_stops_with_one_line_and_leaves_nothing(toy_data, tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--data", str(toy_data), "--out", str(run), "--epochs", "2", "--lr", "1e30", "--warmup", "0", *TINY])
    assert result.exit_code != 0
    assert "training diverged at epoch 1" in result.output and "Traceback" not in result.output
    assert not run.exists()


def test_train_on_a_folder_that_is_not_preprocessed(tmp_path):
    result = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    assert result.exit_code != 0
    assert "manifest.json" in result.output and "Traceback" not in result.output


def test_help_shows_the_defaults_that_depend_on_the_data():
    # rich markup once swallowed every "[default: ...]" written in a help text
    result = runner.invoke(app, ["train", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())
    assert "[default: on for MAL ids]" in text
    assert "[default: 0.25 for the items readout, 0.5 for mask]" in text


def test_force_keeps_the_old_run_until_the_new_one_has_a_checkpoint(trained, toy_data, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained[0], run)
    before = tree(tmp_path)
    failed = runner.invoke(app, ["train", "--data", str(toy_data), "--out", str(run), "--epochs", "1", "--lr", "1e30", "--warmup", "0", "--force", *TINY])
    assert failed.exit_code != 0 and "diverged" in failed.output
    assert tree(tmp_path) == before  # the new run died before its first checkpoint: the old one is back
    done = runner.invoke(app, ["train", "--data", str(toy_data), "--out", str(run), "--epochs", "1", "--force", *TINY])
    assert done.exit_code == 0, done.output
    assert len(json.loads((run / "history.json").read_text())) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the old run is gone once replaced


def test_resume_with_nothing_saved_says_so_and_starts_over(toy_data, tmp_path):
    result = runner.invoke(app, ["train", "--data", str(toy_data), "--out", str(tmp_path / "r"), "--epochs", "1", "--resume", *TINY])
    assert result.exit_code == 0, result.output
    assert "nothing to resume in" in result.stderr and "starting a new run" in result.stderr
    assert json.loads((tmp_path / "r" / "run.json").read_text())["latest"] == "e0001-s000000"


def test_sampled_softmax_flags_that_cannot_apply_are_refused(toy_data, tmp_path):
    for args, message in [
        (["--negatives", "64", "--sampler", "uniform"], "--negatives, --sampler have no effect without --loss sampled"),
        (["--loss", "sampled", "--readout", "mask"], "--loss sampled is for the items readout"),
    ]:
        result = runner.invoke(app, ["train", "--data", str(toy_data), "--out", str(tmp_path / "r"), *args, *TINY])
        assert result.exit_code == 2 and message in result.stderr, (args, result.output)
        assert not (tmp_path / "r").exists()


def test_threads_default_to_one_unless_the_user_set_omp_num_threads(monkeypatch):
    import torch

    from animerec_tui.model_commands import use_threads
    from training.config import THREADS

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        torch.set_num_threads(2)
        assert use_threads(None) == THREADS and torch.get_num_threads() == THREADS
        assert use_threads(2) == 2 and torch.get_num_threads() == 2, "--threads is the user's, validation included"
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert use_threads(None) == 1 and torch.get_num_threads() == 2, "OMP_NUM_THREADS stays the user's; validation lowers itself to one"
    finally:
        torch.set_num_threads(before)

"""`animerec train --epochs N`, `animerec eval` and `--model latest` on a fresh install."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from tests.conftest import TINY_TRAIN, invoke

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_training_data_unpacks_to_the_model_s_own_and_checks_itself(home):
    from animerec_tui.runs import shipped_training_data
    from training.data import load_dataset

    folder = shipped_training_data()
    data = load_dataset(folder)
    meta = json.loads((REPO / "Data" / "model" / "meta.json").read_text())
    assert data.manifest["counts"] == meta["data"]["counts"] and data.manifest["input"] == meta["data"]["input"]
    assert folder == home / "training-data" and shipped_training_data() == folder  # the second time: reused
    (folder / "val_items.npy").write_bytes(b"damaged")
    assert load_dataset(shipped_training_data()).splits["val"][1].size == data.splits["val"][1].size, "a damaged copy is unpacked again"


def test_bare_train_then_eval_then_recommend_with_the_latest_run(home, tiny_shipped):
    trained = invoke("train", "--epochs", "1", *TINY_TRAIN)
    assert trained.exit_code == 0, trained.output
    runs = sorted((home / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "run.json").is_file()
    assert f"into {runs[0]}" in trained.stderr
    # Piped (CliRunner is no terminal): plain progress lines for the steps and the validation, no bar's control characters.
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", trained.stderr), repr(trained.stderr)
    lines = trained.stderr.splitlines()
    assert "epoch 1/1 training: 0/" in trained.stderr and any(re.fullmatch(r"epoch 1/1 training: [\d,]+/[\d,]+ steps \(100%\), loss [\d.]+, [\d,]+ seq/s, \d+ s elapsed, done", line) for line in lines), lines
    assert any(re.fullmatch(r"epoch 1/1 validation: [\d,]+/[\d,]+ users \(100%\), \d+ s elapsed, done", line) for line in lines), lines
    assert any(re.fullmatch(r"epoch +1  loss [\d.]+  val NDCG@10 [\d.]+  Recall@10 [\d.]+  \d+ s \(validation \d+ s\) ★ best", line) for line in lines), "one line, however narrow the pipe"
    evaluated = invoke("eval", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    document = json.loads(evaluated.stdout)
    assert Path(document["run"]) == runs[0] and {"bert4rec", "popularity", "ease"} <= set(document["models"]), "baselines beside it"
    assert "ranking the test split: 0/" in evaluated.stderr and f"saved the results in {runs[0] / 'eval.json'}" in evaluated.stderr
    assert re.search(r"^tuning ease on validation: (\d+)/\1 settings \(100%\), ease lam=", evaluated.stderr, re.M), evaluated.stderr
    saved = json.loads((runs[0] / "eval.json").read_text())
    assert saved["models"] == document["models"] and Path(saved["checkpoint"]).parent == runs[0] / "checkpoints"
    again = invoke("train", "--epochs", "1", *TINY_TRAIN)
    assert again.exit_code == 0 and len(list((home / "runs").iterdir())) == 2, "each bare train is a new run"
    resumed = invoke("train", "--epochs", "2", "--resume")
    assert resumed.exit_code == 0, resumed.output
    latest = max((home / "runs").iterdir(), key=lambda p: (p / "run.json").stat().st_mtime)
    assert len(json.loads((latest / "history.json").read_text())) == 2


def test_latest_without_runs_says_how_to_make_one(home):
    result = invoke("recommend", "Death Note", "--model", "latest")
    assert result.exit_code == 2 and "no trained run under" in result.stderr and "animerec train --epochs" in result.stderr


def test_bare_eval_without_runs_scores_the_shipped_model(home, monkeypatch):
    from animerec_tui import model_commands

    seen = {}

    def fake(run, data, **kwargs):
        seen.update(run=run, data=data, **kwargs)

    monkeypatch.setattr(model_commands, "eval_command", fake)
    result = invoke("eval")
    assert result.exit_code == 0, result.output
    assert seen["run"] == REPO / "Data" / "model" and seen["data"] == home / "training-data" and seen["baselines"] is True
    assert np.load(home / "training-data" / "train_items.npy").size > 400_000


def test_resume_without_data_takes_the_run_s_own(tiny_run, tmp_path, home):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    resumed = invoke("train", "--out", run, "--epochs", "2", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert len(json.loads((run / "history.json").read_text())) == 2
    assert not (home / "training-data").exists(), "the shipped data is not needed"


def test_resume_refuses_a_changed_catalogue(tiny_run, toy_data, tmp_path):
    """--catalogue is recorded as the model's metadata bias: another value is refused, not ignored."""
    import shutil

    from tests.conftest import assert_refused

    run = shutil.copytree(tiny_run, tmp_path / "run")
    assert_refused(invoke("train", "--data", toy_data, "--out", run, "--resume", "--epochs", "2", "--no-catalogue"), "leave out --catalogue False (the run has True)")


def test_finding_runs_and_their_data_never_imports_torch(tiny_run):
    """What `animerec_tui.runs` says of itself: the bare commands find runs without loading torch."""
    import subprocess
    import sys

    code = f"import sys\nfrom pathlib import Path\nfrom animerec_tui import runs\nassert runs.trained_on(Path({str(tiny_run)!r})) is not None\nruns.latest_run()\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", result.stdout + result.stderr

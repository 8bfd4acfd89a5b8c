"""`animerec eval --run` on a model whose recorded data folder is gone (the shipped model names
the folder it was built in): the install's own training data stands in when it is the same split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from animerec_tui.cli import app

runner = CliRunner()


def _moved(tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the run whose checkpoints name a data folder that does not exist."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for meta in run.rglob("meta.json"):
        document = json.loads(meta.read_text())
        if isinstance(document.get("data"), dict):
            document["data"]["path"] = str(tmp_path / "gone" / "data")
            meta.write_text(json.dumps(document))
    return run


def test_a_gone_data_folder_is_replaced_by_the_installs_same_data(tiny_run, tiny_shipped, home, tmp_path):
    result = runner.invoke(app, ["eval", "--run", str(_moved(tiny_run, tmp_path)), "--split", "val", "--no-baselines", "--json"])
    assert result.exit_code == 0, result.output
    assert "is gone; evaluating on the shipped training data" in " ".join(result.stderr.split())
    assert json.loads(result.stdout)["models"]["bert4rec"]["ndcg@10"] >= 0


def test_without_that_data_the_gone_folder_is_named(tiny_run, home, tmp_path, monkeypatch):
    monkeypatch.setattr("animerec_tui.runs.data_dir", lambda: tmp_path / "no-install")
    result = runner.invoke(app, ["eval", "--run", str(_moved(tiny_run, tmp_path)), "--split", "val", "--no-baselines"])
    assert result.exit_code == 2 and "is gone; name one with --data" in result.output and "Traceback" not in result.output

"""Where `animerec eval` keeps its results, and the line that says a chosen run is weaker than the shipped model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from animerec_tui import runs
from tests.conftest import invoke

REPO = Path(__file__).resolve().parents[2]
SHIPPED_META = json.loads((REPO / "Data" / "model" / "meta.json").read_text())


def _run_like_the_shipped_one(folder: Path, ndcg: float, data: dict | None = None) -> Path:
    """A run folder whose meta.json records the shipped model's split (or ``data``) and a best validation NDCG@10."""
    checkpoint = folder / "checkpoints" / "e0001-s000000"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.safetensors").write_bytes(b"")
    meta = {"format": "animerec-checkpoint", "data": data or SHIPPED_META["data"], "best": {"epoch": 1, "ndcg@10": ndcg, "name": "e0001-s000000"}}
    (checkpoint / "meta.json").write_text(json.dumps(meta))
    (folder / "run.json").write_text(json.dumps({"latest": "e0001-s000000", "best": "e0001-s000000"}))
    return folder


def test_latest_run_below_the_shipped_model_is_said_in_one_line(home, capsys):
    weak = _run_like_the_shipped_one(home / "runs" / "run-20260101-000000", 0.0884)
    assert runs.resolve_model(Path("latest")) == weak
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("animerec: note: ") and "validation NDCG@10 0.0884" in err
    assert f"below the shipped model's {SHIPPED_META['best']['ndcg@10']:.4f}" in err and "leave out --model" in err


def test_no_line_for_a_better_run_or_another_split(tmp_path, capsys):
    better = _run_like_the_shipped_one(tmp_path / "better", 0.30)
    other = _run_like_the_shipped_one(tmp_path / "other", 0.05, {**SHIPPED_META["data"], "params": {**SHIPPED_META["data"]["params"], "seed": 1}})
    assert runs.resolve_model(better) == better and runs.resolve_model(other) == other
    assert runs.resolve_model(REPO / "Data" / "model") == REPO / "Data" / "model"
    assert capsys.readouterr().err == "", "another split's users are no comparison"


def test_the_split_fields_are_the_checkpoint_s():
    from training.checkpoint import SPLIT_FIELDS

    assert runs.SPLIT_FIELDS == SPLIT_FIELDS


def test_where_evaluations_go(tiny_run, tmp_path, home):
    checkpoint = next((tiny_run / "checkpoints").iterdir())
    assert runs.evaluation_file(tiny_run) == (tiny_run / "eval.json", "")
    assert runs.evaluation_file(checkpoint) == (tiny_run / "eval.json", ""), "a checkpoint's evaluation goes to its run, which records which"
    assert runs.evaluation_file(REPO / "Data" / "model") == (home / "evaluations" / "shipped-model.json", ""), "never into the install"
    exported = shutil.copytree(checkpoint, tmp_path / "exported")
    path, why = runs.evaluation_file(exported)
    assert path is None and "not a run" in why


def test_an_evaluated_run_can_still_be_replaced_with_force(tiny_run, tmp_path):
    from training.run_folder import foreign_in_run

    run = shutil.copytree(tiny_run, tmp_path / "run")
    (run / "eval.json").write_text("{}")
    (run / ".eval.json.tmp-abc123de").write_text("")  # what a killed write leaves
    assert foreign_in_run(run) is None


def test_eval_of_an_unwritable_run_still_prints_its_results(tiny_run, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    (run / "eval.json").mkdir()  # in the way: the write fails
    result = invoke("eval", "--run", run, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["models"]["bert4rec"]["ndcg@10"] >= 0
    assert "the results are not saved: cannot write" in result.stderr

"""The RecBole comparison's file writers hold out the same items as animerec (no RecBole needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from training.data import Dataset

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "recbole_compare.py"


def _script():
    spec = importlib.util.spec_from_file_location("recbole_compare", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _csr(rows):
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    return offsets, np.array([i for r in rows for i in r], dtype=np.int32)


def _sets(tmp_path: Path) -> Dataset:
    """Two users of a set dataset: dense items 1..5 stand for MAL ids 10..50."""
    np.save(tmp_path / "user_ids.npy", np.array([7, 3]))
    splits = {"train": _csr([[1, 2, 3], [4, 5]]), "val": _csr([[4], [1]]), "test": _csr([[5], [2]])}
    return Dataset(tmp_path, {"ordered": False}, splits, np.array([10, 20, 30, 40, 50]))


def test_atomic_reader_orders_by_time_and_keeps_file_order_on_ties(tmp_path):
    rc = _script()
    inter = tmp_path / "x.inter"
    inter.write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                     "1\ta\t5\t30\n1\tb\t3\t10\n2\tc\t4\t5\n1\td\t1\t10\n")
    assert rc.read_atomic_inter(inter) == {"1": ["b", "d", "a"], "2": ["c"]}
    out = tmp_path / "atomic" / "y.inter"
    assert rc.write_inter({"1": ["b", "d", "a"], "2": ["c"]}, out) == 4
    assert out.read_text().splitlines() == ["user_id:token\titem_id:token\ttimestamp:float", "1\tb\t0", "1\td\t1", "1\ta\t2", "2\tc\t0"]


def test_set_lists_end_with_animerecs_validation_then_test_item(tmp_path):
    rc = _script()
    data = _sets(tmp_path)
    lists = rc.animerec_sequences(data, seed=0)
    assert sorted(lists) == ["3", "7"]
    assert lists["7"][-2:] == ["40", "50"] and sorted(lists["7"][:-2]) == ["10", "20", "30"]
    assert lists["3"][-2:] == ["10", "20"] and sorted(lists["3"][:-2]) == ["40", "50"]
    assert rc.check_same_holdout(lists, data) == 0
    lists["3"] = lists["3"][:-2] + ["20", "10"]  # validation and test swapped
    assert rc.check_same_holdout(lists, data) == 1


def test_missing_ml100k_is_one_line(tmp_path, capsys, monkeypatch):
    rc = _script()
    monkeypatch.setattr("sys.argv", ["recbole_compare.py", "--datasets", "ml-100k", "--ml100k", str(tmp_path), "--out", str(tmp_path / "out")])
    try:
        rc.main()
    except SystemExit as exc:
        assert exc.code == 1
    else:
        raise AssertionError("no exit")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "ml-100k.inter" in err[0]

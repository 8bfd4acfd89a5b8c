"""``animerec preprocess`` through the CLI: summary, exit codes, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from animerec_tui.cli import app
from tests.conftest import write_lines

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert fragment in lines[0], result.output


@pytest.fixture
def ratings(tmp_path, toy_rows) -> Path:
    return write_lines(tmp_path / "rating.csv", ["user_id,anime_id,rating", *[f"{u},{i},{r}" for u, i, r in toy_rows]])


def test_preprocess_prints_a_summary(tmp_path, ratings):
    result = _run("preprocess", ratings, "--out", tmp_path / "out", "--min-user-items", 3, "--min-item-users", 3)
    assert result.exit_code == 0, result.output
    assert "users" in result.output and "median" in result.output
    assert (tmp_path / "out" / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "missing.csv", "no such file"),
        (lambda d: d, "is a directory"),
        (lambda d: write_lines(d / "x.csv", ["a|b|c|d|e", "1|2|3|4|5"]), "cannot tell the format"),
        (lambda d: write_lines(d / "x.csv", ["user_id,anime_id,rating", "1,two,8"]), "cannot read"),
        (lambda d: write_lines(d / "x.csv", ["user_id,anime_id,stars", "1,2,8"]), "no rating column"),
        (lambda d: (d / "x.csv").write_bytes(b"user_id,anime_id,rating\n1,2,\xff8\n") and d / "x.csv", "x.csv"),
        (lambda d: (d / "x.csv").write_bytes(b"") or d / "x.csv", "empty"),
        (lambda d: write_lines(d / "x.csv", ["1,1,2", "2,2,3"]), "--min-rating"),
        (lambda d: write_lines(d / "x.csv", ["1,1,9", "2,2,9"]), "k-core"),
    ],
)
def test_bad_input_gets_one_line_and_nothing_written(tmp_path, make, fragment):
    source = tmp_path / "in"
    source.mkdir()
    path = make(source)
    out = tmp_path / "out"
    _assert_one_line_error(_run("preprocess", path, "--out", out), fragment)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_existing_output_is_refused_without_force(tmp_path, ratings):
    out = tmp_path / "out"
    out.mkdir()
    _assert_one_line_error(_run("preprocess", ratings, "--out", out), "--force")


def test_unknown_format_name_is_a_usage_error(tmp_path, ratings):
    result = _run("preprocess", ratings, "--out", tmp_path / "o", "--format", "xml")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_wrong_explicit_format_is_explained(tmp_path):
    path = write_lines(tmp_path / "seq.txt", ["1 2", "1 3"])
    _assert_one_line_error(_run("preprocess", path, "--out", tmp_path / "o", "--format", "cooperunion"), "needs 3 columns")

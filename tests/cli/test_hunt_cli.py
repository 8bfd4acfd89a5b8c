"""What a second hunt for issue 26's kind of defect found in the CLI: each test failed before its fix."""

from __future__ import annotations

import codecs
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, assert_refused, invoke


def _animerec(home: Path, *args, env: dict | None = None, **kwargs) -> subprocess.Popen:
    environment = {**os.environ, "ANIMEREC_HOME": str(home), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "animerec_tui", *map(str, args)], env=environment, cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )


@pytest.mark.parametrize("form", ["csv", "markdown"])
def test_batch_refuses_a_format_it_would_ignore(tmp_path, home, form):
    # `--batch F --format csv` answered JSON lines with exit 0: the csv asked for never came.
    batch = tmp_path / "requests.jsonl"
    batch.write_text('{"favourites": [1535]}\n')
    assert_refused(invoke("recommend", "--batch", batch, "--format", form), "--format has no effect with --batch")


def test_a_rich_table_whose_reader_left_is_the_reader_gone(monkeypatch):
    # rich's Console.on_broken_pipe ends with SystemExit(1) ("partly done"); a reader that left is 141.
    from animerec_tui.cli import user_errors
    from animerec_tui.streams import ReaderGone

    @user_errors
    def command() -> None:
        try:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        except BrokenPipeError:
            raise SystemExit(1)  # noqa: B904  (as rich does: the context is what tells)

    with pytest.raises(ReaderGone):
        command()


def test_the_escape_handler_keeps_json_strict():
    from animerec_tui.streams import _ESCAPE, _json_escape

    codecs.register_error(_ESCAPE, _json_escape)
    text = json.dumps({"title": "Yu☆Gi☆Oh! 😀"}, ensure_ascii=False)
    assert json.loads(text.encode("ascii", _ESCAPE).decode("ascii")) == {"title": "Yu☆Gi☆Oh! 😀"}


@pytest.mark.subprocess
def test_a_favourites_table_whose_reader_left_exits_141(home):
    # `animerec favourites list | head -0`: rich's own handler exited 1, which says "partly done".
    assert invoke("favourites", "add", "--mal-id", 1535).exit_code == 0
    child = _animerec(home, "favourites", "list")
    child.stdout.close()  # the reader leaves before the first byte
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 141, (child.returncode, stderr)
    assert stderr == ""


@pytest.mark.subprocess
def test_an_ascii_stdout_gets_escapes_not_a_traceback(home):
    # PYTHONIOENCODING=ascii: 'Onegai☆Teacher' raised UnicodeEncodeError (a traceback, exit 1).
    assert invoke("favourites", "add", "--mal-id", 195).exit_code == 0
    child = _animerec(home, "favourites", "list", env={"PYTHONIOENCODING": "ascii"})
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    assert "Onegai\\u2606Teacher" in stdout and "Traceback" not in stderr


def test_import_mal_shows_a_file_name_as_written(tmp_path, home):
    # A file named '[red]list.xml' lost its '[red]' to rich markup in the summary line.
    export = tmp_path / "[red]list.xml"
    export.write_text(
        "<myanimelist><anime><series_animedb_id>1535</series_animedb_id><my_score>9</my_score>"
        "<my_status>Completed</my_status></anime></myanimelist>"
    )
    result = invoke("import-mal", export)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("[red]list.xml: 1 anime"), result.stdout


def _ratings(tmp_path: Path) -> Path:
    from tests.conftest import toy_triples

    path = tmp_path / "r.csv"
    path.write_text("user_id,anime_id,rating\n" + "".join(f"{u},{i},{r}\n" for u, i, r in toy_triples()))
    return path


def test_a_file_on_the_way_to_out_is_named(tmp_path):
    # `preprocess r.csv --out afile/sub` said 'cannot write afile/sub: File exists', of a folder that does not exist.
    (tmp_path / "afile").write_text("mine")
    out = tmp_path / "afile" / "sub"
    result = invoke("preprocess", _ratings(tmp_path), "--out", out, "--min-user-items", 2, "--min-item-users", 2)
    assert_refused(result, f"{tmp_path / 'afile'} is a file, not a folder")
    assert (tmp_path / "afile").read_text() == "mine"


def test_make_folder_names_the_file_in_the_way(tmp_path):
    from training.fsutil import make_folder

    (tmp_path / "runs").write_text("")
    with pytest.raises(NotADirectoryError, match="runs is a file, not a folder"):
        make_folder(tmp_path / "runs" / "run-1" / "checkpoints")
    make_folder(tmp_path / "a" / "b")
    make_folder(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


@pytest.mark.parametrize("width", [30, 60])
def test_a_narrow_terminal_still_shows_every_title(home, monkeypatch, width):
    # At 30 columns rich squeezed the title column to nothing (ranks and scores, no titles, exit 0);
    # at 60 it cropped the table's right edge.
    asked = ("recommend", "--mal-id", 1535, "-k", 5, "--type", "TV")
    titles = [r["title"] for r in json.loads(invoke(*asked, "--format", "json").stdout)["recommendations"]]
    monkeypatch.setenv("COLUMNS", str(width))
    result = invoke(*asked)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= width for line in lines), lines
    assert all(row.rstrip().endswith("│") for row in lines if row.startswith("│")), result.stdout  # not cropped
    rows = [line for line in lines if line.startswith("│")]
    for title in titles:
        assert any(title.split()[0] in row for row in rows), (title, result.stdout)


def test_columns_zero_is_no_width(monkeypatch):
    # COLUMNS=0 made rich print nothing at all: recommendations and error lines alike, exit 0 or 2.
    from rich.console import Console

    from animerec_tui.streams import _drop_zero_columns

    monkeypatch.setenv("COLUMNS", "0")
    _drop_zero_columns()
    assert "COLUMNS" not in os.environ and Console(file=open(os.devnull, "w")).width > 0  # noqa: SIM115


@pytest.mark.subprocess
def test_columns_zero_still_prints_the_error_line(home):
    child = _animerec(home, "favourites", "add", "--mal-id", 0, env={"COLUMNS": "0"})
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 2 and stderr.startswith("animerec: nothing added: MAL id 0 is not in the catalogue"), (child.returncode, stderr)


def test_no_home_folder_is_one_line(monkeypatch):
    # A container's user: no HOME, no passwd entry. platformdirs raised RuntimeError, a traceback from
    # every command that reads the home (favourites, recommend with saved favourites, train without --out).
    import pwd

    def no_entry(uid):
        raise KeyError(uid)

    for name in ("ANIMEREC_HOME", "HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    assert_refused(invoke("favourites", "list", "--json"), "no home folder can be found")

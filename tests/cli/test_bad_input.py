"""Bad files through the real commands: one clear line, a non-zero exit, nothing written.

The corpus is ``tests/data/bad/``; what is binary or large (pickles, .npy arrays, damaged
checkpoints, a 5,000-digit id) is made here from the shipped model or on the fly. Each bad
ratings file is a good one (4 users x 3 liked anime) plus one flaw, so when a file is
refused it is for that flaw and not by accident.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import REPO, assert_refused, invoke, tree, write_lines

BAD = REPO / "tests" / "data" / "bad"
SHIPPED_MODEL = REPO / "Data" / "model"
KCORE = ["--min-user-items", "3", "--min-item-users", "1"]
runner = CliRunner()


def _source(tmp_path: Path, source: str | Callable[[Path], Path]) -> Path:
    return BAD / source if isinstance(source, str) else source(tmp_path)


def _folder(d: Path) -> Path:
    (d / "ratings").mkdir()
    return d / "ratings"


def _npy(array: np.ndarray, **kwargs) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        np.save(d / "ratings.npy", array, **kwargs)
        return d / "ratings.npy"

    return make


GOOD = np.array([(u, i, 8) for u in range(1, 5) for i in (101, 102, 103)], dtype=np.float64)


# --- animerec preprocess -------------------------------------------------------------

REFUSED_RATINGS = [
    ("truncated.csv", "1 row has an empty or missing field"),
    ("semicolon_rows.csv", "the rows do not all have the 3 fields of the first line"),
    ("tab_rows.csv", "the rows do not all have the 3 fields of the first line"),
    ("semicolons_no_header.csv", "cannot tell the format"),
    ("header_only.csv", "has a header but no rows"),
    ("non_numeric_ids.csv", "could not parse `abc`"),
    ("negative_ids.csv", "negative user id -3"),
    ("huge_ids.csv", "could not parse `99999999999999999999`"),
    ("big_ids.csv", "item id 3000000000 is larger than 2,147,483,647"),
    ("nan_ratings.csv", "2 rows have a rating that is not a number (NaN or inf)"),
    ("latin1.csv", "not UTF-8 text"),
    ("empty.csv", "the file is empty"),
    ("separators_only.csv", "the file is empty"),
    (_folder, "is a directory"),
    (lambda d: (os.mkfifo(d / "r.csv"), d / "r.csv")[1], "is a pipe, not a file"),  # would block, or read once
    (_npy(np.vstack([GOOD, [5, 101, np.nan]])), "some ratings are not numbers (NaN or inf)"),
    (_npy(np.vstack([GOOD, [5, 2.0**40, 8]])), "an id is larger than 2,147,483,647"),
    (_npy(np.vstack([GOOD, [np.inf, 101, 8]])), "ids are not finite numbers"),
    (_npy(GOOD.astype(np.uint64) + np.uint64(2**63)), "an id is larger than 2,147,483,647"),
    (_npy(np.array([{"user": 1}, {"user": 2}], dtype=object), allow_pickle=True), "not a readable .npy array"),
    (lambda d: (d / "r.npy").write_bytes(pickle.dumps(GOOD.tolist())) and d / "r.npy", "not a readable .npy array (it has no .npy header"),
    (lambda d: (d / "r.npy").write_text("1,101,8\n") and d / "r.npy", "not a readable .npy array (it has no .npy header"),
]


@pytest.mark.parametrize(("source", "fragment"), REFUSED_RATINGS)
def test_bad_ratings_file_is_refused_and_nothing_is_written(tmp_path, source, fragment):
    path = _source(tmp_path, source)
    before = tree(tmp_path)
    assert_refused(invoke("preprocess", path, "--out", tmp_path / "out", *KCORE), fragment)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.tmp-*"))
    assert tree(tmp_path) == before


@pytest.mark.parametrize("name", ["semicolons_header.csv", "bom.csv"])
def test_separator_named_by_the_header_and_a_byte_order_mark_are_read(tmp_path, name):
    result = invoke("preprocess", BAD / name, "--out", tmp_path / "out", *KCORE)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["format"] == "cooperunion"
    assert manifest["counts"]["rows_read"] == 12
    assert (manifest["counts"]["users"], manifest["counts"]["items"], manifest["counts"]["interactions"]) == (4, 3, 12)
    assert np.load(tmp_path / "out" / "item_ids.npy").tolist() == [101, 102, 103]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("item_map_header_only.csv", "the item map has a header but no rows"), ("item_map_negative.csv", "MAL ids in the item map must be from 1")],
)
def test_bad_item_map_is_refused(tmp_path, name, fragment):
    rows = [f"{u}\t{i}\t8" for u in range(1, 5) for i in (101, 102, 103)]
    ratings = write_lines(tmp_path / "anime_ratings.dat", ["User_ID\tAnime_ID\tFeedback", *rows])
    before = tree(tmp_path)
    assert_refused(invoke("preprocess", ratings, "--out", tmp_path / "out", "--item-map", BAD / name, *KCORE), fragment)
    assert tree(tmp_path) == before


def test_an_item_map_that_is_a_pipe_is_refused_without_blocking(tmp_path):
    rows = [f"{u}\t{i}\t8" for u in range(1, 5) for i in (101, 102, 103)]
    ratings = write_lines(tmp_path / "anime_ratings.dat", ["User_ID\tAnime_ID\tFeedback", *rows])
    os.mkfifo(tmp_path / "map.csv")
    assert_refused(invoke("preprocess", ratings, "--out", tmp_path / "out", "--item-map", tmp_path / "map.csv", *KCORE), "is a pipe, not a file")
    assert not (tmp_path / "out").exists()


# --- animerec import-mal -------------------------------------------------------------

SAVED = b'{"version": 1, "favourites": [1535], "excluded": []}\n'


def _huge_id(d: Path) -> Path:
    path = d / "animelist.xml"
    path.write_text(f"<myanimelist><anime><series_animedb_id>{'9' * 5000}</series_animedb_id><my_score>9</my_score></anime></myanimelist>")
    return path


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("not_xml.xml", "not valid XML"),
        ("truncated.xml", "not valid XML"),
        ("empty.csv", "not valid XML"),
        ("billion_laughs.xml", "refused, the XML declares a DTD or entities"),
        ("external_entity.xml", "refused, the XML declares a DTD or entities"),
        ("unknown_encoding.xml", "unknown encoding: klingon"),
        ("utf7.xml", "multi-byte encodings are not supported"),
        ("damaged.xml.gz", "damaged gzip file"),
        ("score_out_of_range.xml", "invalid my_score '11'"),
        (_huge_id, "invalid series_animedb_id '999999999999999999999999'"),
        (_folder, "is a folder"),
    ],
)
def test_bad_mal_export_is_refused_and_favourites_are_untouched(tmp_path, home, source, fragment):
    path = _source(tmp_path, source)
    home.mkdir()
    (home / "favourites.json").write_bytes(SAVED)
    before = tree(tmp_path)
    assert_refused(invoke("import-mal", path), fragment)
    assert tree(tmp_path) == before


def test_import_mal_without_favourites_creates_none_on_failure(tmp_path, home):
    assert_refused(invoke("import-mal", BAD / "billion_laughs.xml"), "DTD or entities")
    assert not home.exists()


# --- animerec recommend --model / animerec eval --run --------------------------------


def _copy(d: Path) -> Path:
    folder = d / "model"
    shutil.copytree(SHIPPED_MODEL, folder)
    return folder


def _weights(data: Callable[[bytes], bytes]) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        folder = _copy(d)
        path = folder / "model.safetensors"
        path.write_bytes(data(path.read_bytes()))
        return folder

    return make


def _meta(change: Callable[[dict], bytes | None]) -> Callable[[Path], Path]:
    """A copy whose meta.json is ``change(meta)``'s bytes, or the meta it edited in place."""

    def make(d: Path) -> Path:
        folder = _copy(d)
        meta = json.loads((folder / "meta.json").read_text())
        changed = change(meta)
        (folder / "meta.json").write_bytes(changed if changed is not None else json.dumps(meta).encode())
        return folder

    return make


def _pickle_file(name: str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        (d / name).write_bytes(pickle.dumps({"state_dict": {"item_emb.weight": [[0.0] * 4] * 3}}))
        return d / name

    return make


def _run_pointing_to(name: str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        _copy(d)
        run = d / "run"
        (run / "checkpoints").mkdir(parents=True)
        (run / "run.json").write_text(json.dumps({"latest": name, "best": name}))
        return run

    return make


def _garbage_run(d: Path) -> Path:
    run = _run_pointing_to("x")(d)
    (run / "run.json").write_text("{latest")
    return run


def _without_data(meta: dict) -> None:
    del meta["data"]


BAD_MODELS = [
    pytest.param(_weights(lambda b: pickle.dumps({"item_emb.weight": [0.5] * 64})), "not a readable safetensors file", id="weights-are-a-pickle"),
    pytest.param(_weights(lambda b: b[: len(b) // 2]), "not a readable safetensors file", id="truncated-weights"),
    pytest.param(_weights(lambda b: b[:6]), "not a readable safetensors file", id="weights-cut-in-the-header"),
    pytest.param(_weights(lambda b: b""), "not a readable safetensors file", id="empty-weights"),
    pytest.param(_meta(lambda m: m["vocab"].update(sha256="0" * 64)), "does not match its own hash", id="wrong-vocab-hash"),
    pytest.param(_meta(lambda m: m["vocab"]["item_ids"].__setitem__(0, 99_999_999)), "does not match its own hash", id="vocab-edited"),
    pytest.param(_meta(lambda m: b"[" * 100_000), "meta.json: unreadable", id="meta-nested-too-deep"),
    pytest.param(_meta(lambda m: pickle.dumps(m)), "meta.json: unreadable", id="meta-is-a-pickle"),
    pytest.param(_meta(lambda m: m["model_config"].update(hidden=400_000_000)), "model_config.hidden is 400000000 (must be from 1 to 65536)", id="meta-hidden-huge"),
    pytest.param(_meta(lambda m: m["model_config"].update(heads=0)), "model_config.heads is 0", id="meta-zero-heads"),
    pytest.param(_meta(lambda m: m["model_config"].update(layers="2")), "model_config.layers is '2'", id="meta-layers-text"),
    pytest.param(_meta(lambda m: m["model_config"].update(readout="sideways")), "model_config.readout is 'sideways'", id="meta-readout-unknown"),
    pytest.param(_pickle_file("model.pt"), "is a file; expected a run folder or a model folder", id="pt-pickle"),
    pytest.param(_pickle_file("model.pkl"), "is a file; expected a run folder or a model folder", id="pkl-pickle"),
    pytest.param(_run_pointing_to("../../model"), "points to a missing checkpoint", id="run-json-escapes"),
    pytest.param(_garbage_run, "run.json: unreadable", id="run-json-garbage"),
]


@pytest.mark.parametrize("command", ["recommend", "eval"])
@pytest.mark.parametrize(("make", "fragment"), BAD_MODELS)
def test_bad_checkpoint_is_refused_and_left_byte_identical(tmp_path, home, command, make, fragment):
    model = make(tmp_path)
    before = tree(tmp_path)
    args = ["recommend", "Death Note", "--model", model] if command == "recommend" else ["eval", "--run", model]
    assert_refused(invoke(*args), fragment)
    assert tree(tmp_path) == before


def test_eval_of_a_model_that_names_no_data_asks_for_it(tmp_path):
    model = _meta(_without_data)(tmp_path)
    before = tree(tmp_path)
    assert_refused(invoke("eval", "--run", model), "does not say what data it was trained on; name it with --data")
    assert tree(tmp_path) == before


# --- names the system refuses, and a bad ANIMEREC_HOME -------------------------------

LONG = "a" * 300
"""A name over the 255 bytes a file name may have: every system call on it fails with ENAMETOOLONG."""


@pytest.mark.parametrize(
    "args",
    [
        ["preprocess", LONG, "--out", "out"],
        ["preprocess", BAD / "semicolons_header.csv", "--out", LONG],
        ["train", "--data", LONG, "--out", "run"],
        ["eval", "--run", LONG],
        ["recommend", "Death Note", "--model", LONG],
        ["tui", "--model", LONG],
        ["import-mal", LONG],
    ],
    ids=["preprocess", "preprocess-out", "train-data", "eval-run", "recommend-model", "tui-model", "import-mal"],
)
def test_a_name_too_long_for_the_system_is_one_line(tmp_path, home, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    assert_refused(invoke(*args), "File name too long")
    assert tree(tmp_path) == {}


@pytest.mark.parametrize(
    ("value", "args", "fragment"),
    [
        ("~nosuchuser26/x", ["favourites", "list"], "ANIMEREC_HOME=~nosuchuser26/x: no such user"),
        ("file", ["train", "--epochs", "1"], "is a file, not a folder"),
        (f"{LONG}/x", ["eval"], "File name too long"),
        ("dangling", ["favourites", "add", "Death Note"], "a symlink to nowhere, which does not exist"),  # was "cannot lock ...: File exists"
    ],
    ids=["no-such-user", "a-file", "too-long", "dangling-symlink"],
)
def test_a_bad_animerec_home_is_one_line(tmp_path, monkeypatch, value, args, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("mine\n")
    (tmp_path / "dangling").symlink_to("nowhere")
    monkeypatch.setenv("ANIMEREC_HOME", value)
    before = tree(tmp_path)
    result = invoke(*args)
    assert_refused(result, fragment)
    assert "ANIMEREC_HOME" in result.stderr
    assert tree(tmp_path) == before


def test_tui_refuses_a_bad_animerec_home_before_it_starts(tmp_path, monkeypatch):
    import sys
    import types

    stub = types.ModuleType("animerec_tui.tui.app")
    stub.run = lambda *a: pytest.fail("the app started")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "animerec_tui.tui.app", stub)
    (tmp_path / "file").write_text("mine\n")
    monkeypatch.setenv("ANIMEREC_HOME", str(tmp_path / "file"))
    assert_refused(invoke("tui"), "is a file, not a folder")


def test_import_mal_shows_a_file_name_with_control_characters_escaped(tmp_path, home):
    path = tmp_path / "list\x1b[2J.xml"
    shutil.copy(REPO / "tests" / "data" / "mal_export_small.xml", path)
    result = invoke("import-mal", path)
    assert result.exit_code == 0, result.output
    assert "list\\x1b[2J.xml: " in result.stdout and "\x1b" not in result.stdout


def test_a_relative_animerec_home_is_made_absolute_once(tmp_path, monkeypatch):
    # Relative, it named another folder after every chdir (and in every message a bare "home/...").
    from animerec_tui.paths import home_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANIMEREC_HOME", "home")
    assert home_dir() == tmp_path / "home"

"""Damaged preprocessed folders and odd ratings files through the real commands.

A folder made by ``animerec preprocess`` is a manifest plus CSR arrays; each case here is
a good copy of the session's toy folder with one flaw, so when ``train`` or ``eval``
refuses it, it is for that flaw: one line, exit 2, no traceback, nothing written.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format
import polars as pl
import pytest
from typer.testing import CliRunner

from tests.conftest import assert_refused, invoke, tree, write_lines

runner = CliRunner()
TINY = ["--hidden", "16", "--heads", "2", "--layers", "1", "--max-len", "16", "--batch-size", "8", "--val-users", "100", "--epochs", "1"]
KCORE = ["--min-user-items", "3", "--min-item-users", "1"]


@pytest.fixture
def model(tiny_run) -> Path:
    """A one-epoch run on the toy data, to evaluate on damaged copies of the data."""
    return tiny_run


# --- a damaged preprocessed folder ---------------------------------------------------


def _manifest(change: Callable[[dict], object]) -> Callable[[Path], None]:
    """The manifest becomes ``change(manifest)``, or the manifest it edited in place when that is None."""

    def damage(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        changed = change(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest if changed is None else changed))

    return damage


def _without(key: str) -> Callable[[Path], None]:
    def change(manifest: dict) -> None:
        del manifest[key]

    return _manifest(change)


def _set(key: str, value) -> Callable[[Path], None]:
    return _manifest(lambda m: m.update({key: value}))


def _manifest_bytes(data: bytes) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / "manifest.json").write_bytes(data)

    return damage


def _array(name: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / name
        np.save(path, change(np.load(path)), allow_pickle=True)

    return damage


def _bytes(name: str, change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / name
        path.write_bytes(change(path.read_bytes()))

    return damage


def _huge_header(folder: Path) -> None:
    # 8 TB promised by the header, 64 bytes present: loading it whole would ask for all 8 TB.
    with (folder / "train_items.npy").open("wb") as handle:
        npy_format.write_array_header_1_0(handle, {"descr": "<i8", "fortran_order": False, "shape": (10**12,)})
        handle.write(b"\0" * 64)


def _npz_named_npy(folder: Path) -> None:
    items = np.load(folder / "train_items.npy")
    with (folder / "train_items.npy").open("wb") as handle:
        np.savez(handle, train_items=items)


def _no_users(folder: Path) -> None:
    for split in ("train", "val", "test"):
        np.save(folder / f"{split}_offsets.npy", np.zeros(1, dtype=np.int64))
        np.save(folder / f"{split}_items.npy", np.zeros(0, dtype=np.int32))
    np.save(folder / "user_ids.npy", np.zeros(0, dtype=np.int64))
    _manifest(lambda m: m["counts"].update(users=0))(folder)


def _no_test_items(folder: Path) -> None:
    offsets = np.load(folder / "test_offsets.npy")
    np.save(folder / "test_offsets.npy", np.zeros_like(offsets))
    np.save(folder / "test_items.npy", np.zeros(0, dtype=np.int32))


def _with(position: int, value: int) -> Callable[[np.ndarray], np.ndarray]:
    def change(array: np.ndarray) -> np.ndarray:
        array = array.copy()
        array[position] = value
        return array

    return change


def _swap_first_two(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[1::-1], a[2:]])


DAMAGES = [
    pytest.param(_manifest(lambda m: [m]), "expected a JSON object, found [{", id="manifest-list"),
    pytest.param(_manifest(lambda m: "animerec"), "expected a JSON object, found 'animerec'", id="manifest-string"),
    pytest.param(_manifest(lambda m: 3), "expected a JSON object, found 3;", id="manifest-number"),
    pytest.param(_manifest_bytes(b"[" * 100_000), "manifest.json: unreadable", id="manifest-nested-too-deep"),
    pytest.param(_manifest_bytes(b"\xff\xfe{}"), "manifest.json: unreadable", id="manifest-not-utf8"),
    *[pytest.param(_without(key), f"manifest.json: '{key}' is missing", id=f"manifest-without-{key}")
      for key in ("counts", "ordered", "format", "input", "params", "item_id_space")],
    pytest.param(_set("ordered", "yes"), "'ordered' is 'yes'", id="ordered-text"),
    pytest.param(_set("format", 3), "'format' is 3", id="format-number"),
    pytest.param(_set("format", "excel"), "'format' is 'excel'", id="format-unknown"),
    pytest.param(_set("item_id_space", "martian"), "'item_id_space' is 'martian'", id="id-space-unknown"),
    pytest.param(_set("input", "r.csv"), "'input' is 'r.csv'", id="input-text"),
    pytest.param(_set("params", None), "'params' is None", id="params-null"),
    pytest.param(_set("counts", [30]), "'counts' is [30]", id="counts-list"),
    pytest.param(_manifest(lambda m: m["counts"].update(items="30")), "'counts.items' is '30'", id="counts-items-text"),
    pytest.param(_manifest(lambda m: m["counts"].update(items=True)), "'counts.items' is True", id="counts-items-bool"),
    pytest.param(_manifest(lambda m: m["counts"].__delitem__("items")), "'counts.items' is missing", id="counts-items-missing"),
    pytest.param(_manifest(lambda m: m["counts"].update(items=31)), "item_ids.npy has 30 items, the manifest says 31", id="counts-items-wrong"),
    pytest.param(_manifest(lambda m: m["counts"].update(users=61)), "the arrays have 60 users, the manifest says 61", id="counts-users-wrong"),
    pytest.param(_array("train_items.npy", lambda a: a.astype(np.float32)), "train_items.npy: holds float32 values, expected integers", id="items-float"),
    pytest.param(_array("val_items.npy", lambda a: a.astype(np.complex64)), "val_items.npy: holds complex64 values", id="items-complex"),
    pytest.param(_array("test_items.npy", lambda a: a > 5), "test_items.npy: holds bool values", id="items-bool"),
    pytest.param(_array("train_items.npy", lambda a: a.astype(str)), "train_items.npy: holds <U11 values", id="items-text"),
    pytest.param(_array("train_items.npy", lambda a: a.astype(object)), "train_items.npy: unreadable", id="items-pickled"),
    pytest.param(_array("train_items.npy", _with(3, 31)), "train_items.npy: item ids must be from 1 to 30, found 31", id="items-too-big"),
    pytest.param(_array("test_items.npy", _with(0, 0)), "test_items.npy: item ids must be from 1 to 30, found 0", id="items-padding"),
    pytest.param(_array("val_items.npy", _with(5, -2)), "val_items.npy: item ids must be from 1 to 30, found -2", id="items-negative"),
    pytest.param(_array("test_items.npy", lambda a: a.astype(np.int64) + 2**32), "test_items.npy: item ids must be from 1 to 30", id="items-wrap-int32"),
    pytest.param(_array("train_items.npy", lambda a: a.reshape(-1, 1)), "train_items.npy: has shape (366, 1), expected a 1-D array", id="items-2d"),
    pytest.param(_array("train_offsets.npy", lambda a: np.stack([a, a])), "train_offsets.npy: has shape (2, 61)", id="offsets-2d"),
    pytest.param(_array("train_offsets.npy", lambda a: a[0]), "train_offsets.npy: has shape (), expected a 1-D array", id="offsets-scalar"),
    pytest.param(_array("train_offsets.npy", lambda a: a.astype(np.float64)), "train_offsets.npy: holds float64 values", id="offsets-float"),
    pytest.param(_array("train_offsets.npy", _with(1, -5)), "train_offsets.npy: offsets must start at 0, never decrease", id="offsets-negative"),
    pytest.param(_array("train_offsets.npy", _swap_first_two), "train_offsets.npy: offsets must start at 0, never decrease", id="offsets-start"),
    pytest.param(_array("val_offsets.npy", _with(10, 0)), "val_offsets.npy: offsets must start at 0, never decrease", id="offsets-decrease"),
    pytest.param(_array("test_offsets.npy", lambda a: a[:-1]), "the test arrays do not fit together", id="offsets-short"),
    pytest.param(_array("item_ids.npy", lambda a: a.reshape(5, 6)), "item_ids.npy: has shape (5, 6)", id="item-ids-2d"),
    pytest.param(_array("item_ids.npy", lambda a: a.astype(np.float64)), "item_ids.npy: holds float64 values", id="item-ids-float"),
    pytest.param(_array("item_ids.npy", _swap_first_two), "item_ids.npy: ids must be unique and in increasing order", id="item-ids-unsorted"),
    pytest.param(_array("item_ids.npy", _with(1, 100)), "item_ids.npy: ids must be unique and in increasing order", id="item-ids-repeated"),
    pytest.param(_array("item_ids.npy", lambda a: a - 200), "item_ids.npy: ids must be from 0 to 2,147,483,647", id="item-ids-negative"),
    pytest.param(_array("user_ids.npy", lambda a: a[:-1]), "user_ids.npy: has 59 ids for 60 users", id="user-ids-short"),
    pytest.param(_bytes("train_items.npy", lambda b: b[:-40]), "train_items.npy: unreadable", id="items-truncated"),
    pytest.param(_huge_header, "train_items.npy: unreadable", id="items-header-promises-8tb"),
    pytest.param(_npz_named_npy, "train_items.npy: unreadable (it has no .npy header", id="items-npz"),
    pytest.param(_no_users, "has no users", id="no-users"),
    pytest.param(_no_test_items, "no user has a held-out test item", id="no-test-items"),
]


@pytest.mark.parametrize("command", ["train", "eval"])
@pytest.mark.parametrize(("damage", "fragment"), DAMAGES)
def test_damaged_data_folder_is_refused_and_nothing_is_written(command, damage, fragment, toy_data, model, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(toy_data, data)
    damage(data)
    before = tree(tmp_path)
    if command == "train":
        result = invoke("train", "--data", data, "--out", tmp_path / "run", *TINY)
    else:
        result = invoke("eval", "--run", model, "--data", data)
    assert_refused(result, fragment)
    assert "run animerec preprocess again" in result.stderr
    assert tree(tmp_path) == before


# --- ratings files that are fine, or refused with one line ---------------------------

ROWS = [(u, i, 8) for u in range(1, 5) for i in (101, 102, 103)]
CSV = [f"{u},{i},{r}" for u, i, r in ROWS]
FLOATS = np.array(ROWS, dtype=np.float64)


def _preprocess(path: Path, out: Path, *extra):
    return invoke("preprocess", path, "--out", out, *KCORE, *extra)


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        pytest.param("r.csv", "\n".join(CSV) + "\n\n", "cooperunion", id="blank-line-at-the-end"),
        pytest.param("r.csv", "\r\n".join(CSV) + "\r\n\r\n", "cooperunion", id="blank-crlf-line-at-the-end"),
        pytest.param("r.csv", "\n \n" + "\n".join(CSV[:5]) + "\n\n\t\n" + "\n".join(CSV[5:]) + "\n\n\n", "cooperunion", id="blank-lines-everywhere"),
        pytest.param("r.csv", "\n\nuser_id,anime_id,rating\n" + "\n".join(CSV) + "\n\n", "cooperunion", id="blank-lines-around-a-header"),
        pytest.param("r.csv", "\n".join(CSV[:5]) + "\n,,\n" + "\n".join(CSV[5:]) + "\n,,\n", "cooperunion", id="rows-of-separators-only"),
        pytest.param("anime_ratings.dat", "User_ID\tAnime_ID\tFeedback\r\n" + "\r\n".join(c.replace(",", "\t") for c in CSV) + "\r\n\r\n", "caserec", id="caserec-blank-line"),
        pytest.param("ml.txt", "\n".join(f"{u} {i}" for u, i, _ in ROWS) + "\n\n", "sequence", id="sequence-blank-line"),
        pytest.param("r.csv", '"user_id","anime_id","rating"\n' + "\n".join(CSV) + "\n", "cooperunion", id="quoted-header"),
        pytest.param("r.csv", '"","user_id","anime_id","rating"\n' + "".join(f'"{n}",{c}\n' for n, c in enumerate(CSV, 1)), "mal2020", id="r-write-csv"),
    ],
)
def test_blank_lines_and_quoted_headers_are_read(tmp_path, name, content, fmt):
    path = tmp_path / name
    path.write_bytes(content.encode())
    result = _preprocess(path, tmp_path / "out")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["format"] == fmt
    assert (manifest["counts"]["rows_read"], manifest["counts"]["interactions"]) == (12, 12)
    assert np.load(tmp_path / "out" / "item_ids.npy").tolist() == [101, 102, 103]


def test_an_item_map_with_blank_lines_and_padded_ids_is_read(tmp_path):
    ratings = write_lines(tmp_path / "anime_ratings.dat", ["User_ID\tAnime_ID\tFeedback", *[c.replace(",", "\t") for c in CSV]])
    mapping = tmp_path / "map.csv"
    mapping.write_bytes(b"caserec_item_id,mal_id\r\n101, 5114\r\n 102 ,1535\r\n\r\n103,9253 \r\n\r\n\r\n")
    result = _preprocess(ratings, tmp_path / "out", "--item-map", mapping)
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "out" / "item_ids.npy").tolist() == [1535, 5114, 9253]


def test_a_float16_ratings_array_is_read_without_a_warning(tmp_path):
    np.save(tmp_path / "ratings.npy", FLOATS.astype(np.float16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow RuntimeWarning would end the command
        result = _preprocess(tmp_path / "ratings.npy", tmp_path / "out")
    assert result.exit_code == 0, (result.output, repr(result.exception))
    assert result.stderr == ""
    assert np.load(tmp_path / "out" / "item_ids.npy").tolist() == [101, 102, 103]


def _file(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name

    return make


def _npy(array: np.ndarray) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        np.save(d / "ratings.npy", array)
        return d / "ratings.npy"

    return make


def _truncated_npy(d: Path) -> Path:
    path = _npy(FLOATS)(d)
    path.write_bytes(path.read_bytes()[:-20])  # memory-mapped, it would read past the end
    return path


def _npz_as_npy(d: Path) -> Path:
    with (d / "ratings.npy").open("wb") as handle:
        np.savez(handle, ratings=FLOATS)
    return d / "ratings.npy"


def _parquet(**columns) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        pl.DataFrame(columns).write_parquet(d / "ratings.parquet")
        return d / "ratings.parquet"

    return make


HEADED = "user_id,anime_id,rating\n" + "\n".join(CSV) + "\n"
USERS, ITEMS, SCORES = (list(c) for c in zip(*ROWS))

REFUSED_FILES = [
    pytest.param(_file("r.csv", ("user_id,anime_id,rating,rating\n" + "\n".join(f"{c},8" for c in CSV)).encode()), "the header names the column 'rating' twice", id="column-named-twice"),
    pytest.param(_file("ml.txt", b"1 101\n1 102\n   \n2 101\n"), "the rows do not all have the 2 fields of the first line", id="sequence-line-of-spaces"),
    pytest.param(_truncated_npy, "not a readable .npy array", id="npy-truncated"),
    pytest.param(_file("r.csv", HEADED.encode("utf-16")), "UTF-16 text or a binary file", id="utf16-with-bom"),
    pytest.param(_file("r.csv", HEADED.encode("utf-16-le")), "UTF-16 text or a binary file", id="utf16-without-bom"),
    pytest.param(_file("r.csv", HEADED.replace("\n", "\r").encode()), "lines end in a bare carriage return", id="old-mac-line-ends"),
    pytest.param(_npz_as_npy, "not a readable .npy array", id="npz-named-npy"),
    pytest.param(_npy(np.vstack([FLOATS, [5, 2048, 8]]).astype(np.float16)), "ids stored as float16 are exact only below 2,048", id="float16-id-2048"),
    pytest.param(_npy(np.vstack([FLOATS, [5, 4097, 8]]).astype(np.float16)), "it may have been rounded", id="float16-id-rounded"),
    pytest.param(_npy(np.vstack([FLOATS, [2**24 + 1, 101, 8]]).astype(np.float32)), "ids stored as float32 are exact only below 16,777,216", id="float32-id-rounded"),
    pytest.param(_parquet(user=[{"id": u} for u in USERS], anime=ITEMS, rating=SCORES), "the user column holds Struct", id="parquet-struct-ids"),
    pytest.param(_parquet(user=[str(u) for u in USERS], anime=ITEMS, rating=SCORES), "the user column holds String", id="parquet-text-ids"),
    pytest.param(_parquet(user=pl.Series([], dtype=pl.Int64), anime=pl.Series([], dtype=pl.Int64), rating=pl.Series([], dtype=pl.Int64)), "has no rows", id="parquet-no-rows"),
]


@pytest.mark.parametrize(("make", "fragment"), REFUSED_FILES)
def test_an_odd_ratings_file_is_refused_and_nothing_is_written(tmp_path, make, fragment):
    path = make(tmp_path)
    before = tree(tmp_path)
    assert_refused(_preprocess(path, tmp_path / "out"), fragment)
    assert tree(tmp_path) == before


def test_a_refusal_quotes_a_huge_field_in_short(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(HEADED + f"5,{'1' * 70_000},8\n")
    result = _preprocess(path, tmp_path / "out")
    assert_refused(result, "could not parse `111")
    assert len(result.stderr) < 400


def test_an_item_map_in_utf16_is_refused(tmp_path):
    ratings = write_lines(tmp_path / "anime_ratings.dat", ["User_ID\tAnime_ID\tFeedback", *[c.replace(",", "\t") for c in CSV]])
    mapping = tmp_path / "map.csv"
    mapping.write_bytes("caserec_item_id,mal_id\n101,5114\n102,1535\n103,9253\n".encode("utf-16"))
    before = tree(tmp_path)
    assert_refused(_preprocess(ratings, tmp_path / "out", "--item-map", mapping), "UTF-16 text or a binary file")
    assert tree(tmp_path) == before


# --- eval settings the library refuses (cli.py may refuse them first) ----------------


@pytest.mark.parametrize("lam", ["nan", "-inf"])
def test_eval_refuses_an_ease_lambda_that_is_not_a_positive_number(model, toy_data, lam):
    result = invoke("eval", "--run", model, "--data", toy_data, "--baselines", "--ease-lambda", lam, "--json")
    # Today EASE with NaN scored everything NaN and printed zeros with exit 0.
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "ease-lambda" in result.stderr and "Traceback" not in result.output
    assert result.stdout == ""

"""Each supported ratings format is detected and read to the same liked pairs."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tests.conftest import write_lines
from training.errors import UserError
from training.formats import apply_item_map, detect_format, read_interactions, read_item_map

ROWS = [(1, 10, 8), (1, 11, -1), (1, 12, 7), (2, 10, 6), (2, 13, 9), (3, 11, 10)]
LIKED = {(1, 10), (1, 12), (2, 13), (3, 11)}


def _pairs(data) -> set[tuple[int, int]]:
    return set(zip(data.users.tolist(), data.items.tolist()))


def test_cooperunion_with_and_without_header(tmp_path):
    body = [f"{u},{i},{r}" for u, i, r in ROWS]
    with_header = write_lines(tmp_path / "rating.csv", ["user_id,anime_id,rating", *body])
    without = write_lines(tmp_path / "rating_23.csv", body)
    for path in (with_header, without):
        assert detect_format(path) == "cooperunion"
        data = read_interactions(path, "auto", 7)
        assert _pairs(data) == LIKED
        assert data.rows_read == len(ROWS)
        assert not data.ordered


def test_unrated_rows_are_dropped_even_with_a_low_threshold(tmp_path):
    path = write_lines(tmp_path / "r.csv", [f"{u},{i},{r}" for u, i, r in ROWS])
    data = read_interactions(path, "cooperunion", -5)
    assert (1, 11) not in _pairs(data)
    assert len(_pairs(data)) == 5


def test_caserec_tsv_with_item_map(tmp_path):
    ratings = write_lines(tmp_path / "anime_ratings.dat", ["User_ID\tAnime_ID\tFeedback", *[f"{u}\t{i}\t{r}" for u, i, r in ROWS]])
    mapping = write_lines(tmp_path / "map.csv", ["caserec_item_id,mal_id,name", "10,5114,FMA", "11,1535,Death Note", "12,9253,Steins", "13,1,Bebop"])
    assert detect_format(ratings) == "caserec"
    data = read_interactions(ratings, "auto", 7)
    keys, values = read_item_map(mapping)
    mal = apply_item_map(data.items, keys, values, mapping)
    assert set(zip(data.users.tolist(), mal.tolist())) == {(1, 5114), (1, 9253), (2, 1), (3, 1535)}


def test_item_map_refuses_unknown_ids(tmp_path):
    mapping = write_lines(tmp_path / "map.csv", ["a,b", "10,5114"])
    keys, values = read_item_map(mapping)
    with pytest.raises(UserError, match="not in the map"):
        apply_item_map(np.array([10, 99]), keys, values, mapping)


def test_mal2020_score_column_and_extra_columns(tmp_path):
    lines = ["user_id,anime_id,score,watching_status,watched_episodes"]
    lines += [f"{u},{i},{max(r, 0)},2,12" for u, i, r in ROWS]
    path = write_lines(tmp_path / "animelist.csv", lines)
    assert detect_format(path) == "mal2020"
    assert _pairs(read_interactions(path, "auto", 7)) == LIKED


def test_reference_npy_parquet_and_csv(tmp_path):
    array = np.array(ROWS, dtype=np.int32)
    np.save(tmp_path / "ratings.npy", array)
    pl.DataFrame({"user": array[:, 0], "anime": array[:, 1], "rating": array[:, 2]}).write_parquet(tmp_path / "ratings.parquet")
    write_lines(tmp_path / "ratings.csv", ["user,anime,rating", *[f"{u},{i},{r}" for u, i, r in ROWS]])
    for name in ("ratings.npy", "ratings.parquet", "ratings.csv"):
        path = tmp_path / name
        assert detect_format(path) == "reference"
        assert _pairs(read_interactions(path, "auto", 7)) == LIKED, name


def test_float_npy_ids_must_be_whole(tmp_path):
    np.save(tmp_path / "r.npy", np.array([[1.5, 2, 8]], dtype=np.float32))
    with pytest.raises(UserError, match="whole numbers"):
        read_interactions(tmp_path / "r.npy", "auto", 7)


def test_sequence_file_keeps_order_and_every_row(tmp_path):
    path = write_lines(tmp_path / "ml.txt", ["1 5", "1 3", "1 9", "2 3", "2 4"])
    assert detect_format(path) == "sequence"
    data = read_interactions(path, "auto", 7)
    assert data.ordered
    assert data.items.tolist() == [5, 3, 9, 3, 4]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"user_id,anime_id,rating\n", "no rows"),
        (b"user_id,anime_id,rating\n1,abc,8\n", "cannot read"),
        (b"user_id,anime_id,rating\n1,2,8\n\xff\xfe,3,9\n", "not UTF-8|cannot read"),
        (b"a;b;c;d\n1;2;3;4\n", "cannot tell the format"),
        (b"user_id,title\n1,abc\n", "cannot tell the format"),
        (b"user_id,anime_id,rating\n-1,2,8\n", "negative user id"),
        (b"user_id,anime_id,rating\n1,99999999999,8\n", "larger than"),
        (b"user_id,anime_id,rating\n1,2,8\n3\n", "missing field|cannot read"),
        (b"user_id,anime_id,rating\n1,2,8\n1,3\n", "missing field|cannot read"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_interactions(path, "auto", 7)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_interactions(tmp_path / "nope.csv", "auto", 7)
    with pytest.raises(UserError, match="is a directory"):
        read_interactions(tmp_path, "auto", 7)


def test_forced_format_with_too_few_columns(tmp_path):
    path = write_lines(tmp_path / "seq.txt", ["1,2", "1,3"])
    with pytest.raises(UserError, match="needs 3 columns"):
        read_interactions(path, "cooperunion", 7)


def test_pickled_npy_is_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="not a readable .npy"):
        read_interactions(tmp_path / "obj.npy", "auto", 7)

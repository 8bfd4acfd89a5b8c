"""Random bytes and random rows for every reader: a clean UserError or a right answer, never a crash.

Hypothesis runs many examples inside one test call, so function-scoped fixtures such as
``tmp_path`` would be shared between examples: each example makes its own temporary folder.
"""

from __future__ import annotations

import gzip
import io
import json
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.torch import save_file

from animerec_tui.engine import Filters, Picks
from animerec_tui.favourites import Favourites, FavouritesStore
from animerec_tui.malimport import MAX_ANIME_ID, parse_mal_export
from animerec_tui.recommend_command import run_batch
from training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    META_FILE,
    MODEL_FILE,
    load_model,
    read_meta,
    vocab_hash,
)
from training.errors import UserError
from training.formats import FORMATS, read_interactions, read_item_map
from training.model import BERT4Rec, ModelConfig

FUZZ = settings(max_examples=60, deadline=None)
MAX_ID = 2**31 - 1
DEEP = b"[" * 100_000  # json.loads raises RecursionError, not ValueError, on this

# Bytes that look like text tables more often than uniform random bytes do.
TABLE_TEXT = st.text(alphabet="0123456789,;\t -.eE+nafiNIrsuc_\"'\n\r#\x1c\xe9\ufeff", max_size=160).map(str.encode)
RAW = st.one_of(st.binary(max_size=200), TABLE_TEXT)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _one_line(exc: UserError) -> None:
    message = str(exc)
    assert message.strip() and "\n" not in message, repr(message)


def _write(folder: str, name: str, data: bytes) -> Path:
    path = Path(folder) / name
    path.write_bytes(data)
    return path


# --- ratings files -------------------------------------------------------------------


def _read(path: Path, fmt: str, min_rating: float = 7):
    try:
        return read_interactions(path, fmt, min_rating)
    except UserError as exc:
        _one_line(exc)
        return None


def _check_interactions(got) -> None:
    assert got.users.dtype == np.int64 and got.items.dtype == np.int64
    assert got.users.shape == got.items.shape and got.users.ndim == 1
    if got.users.size:
        assert 0 <= min(got.users.min(), got.items.min()) and max(got.users.max(), got.items.max()) <= MAX_ID
    assert got.rows_read >= got.users.size
    assert got.ordered == (got.format == "sequence")


@FUZZ
@given(data=RAW, suffix=st.sampled_from([".csv", ".dat", ".txt", ".npy", ".parquet"]), fmt=st.sampled_from(["auto", *FORMATS]))
@example(data=b"\x1c\x1d\n\xc2\x85\n", suffix=".csv", fmt="auto")
@example(data=b"user_id,anime_id,rating\n1;2;8\n", suffix=".csv", fmt="auto")
@example(data=b"1,2,nan\n", suffix=".csv", fmt="cooperunion")
def test_ratings_readers_never_crash_on_random_bytes(data, suffix, fmt):
    with tempfile.TemporaryDirectory() as folder:
        got = _read(_write(folder, f"ratings{suffix}", data), fmt)
        if got is not None:
            _check_interactions(got)


RATING = st.one_of(st.integers(-1, 10), st.floats(-2, 11).map(lambda x: round(x, 2)))


@FUZZ
@given(
    rows=st.lists(st.tuples(st.integers(0, MAX_ID), st.integers(0, MAX_ID), RATING), min_size=1, max_size=25),
    header=st.booleans(),
    separator=st.sampled_from([",", "\t", ";"]),
    min_rating=st.sampled_from([0.5, 5, 7, 9.5]),
)
def test_well_formed_rows_give_exactly_the_liked_pairs(rows, header, separator, min_rating):
    separator = separator if header else ","  # without a header only commas say "user,anime,rating"
    lines = ([separator.join(["user_id", "anime_id", "rating"])] if header else []) + [separator.join(map(str, row)) for row in rows]
    with tempfile.TemporaryDirectory() as folder:
        got = read_interactions(_write(folder, "rating.csv", "\n".join(lines).encode() + b"\n"), "auto", min_rating)
    liked = [(u, i) for u, i, r in rows if r >= min_rating and r > 0]
    assert got.format == "cooperunion" and got.rows_read == len(rows)
    assert list(zip(got.users.tolist(), got.items.tolist())) == liked


@FUZZ
@given(pairs=st.lists(st.tuples(st.integers(0, MAX_ID), st.integers(0, MAX_ID)), min_size=1, max_size=25))
def test_sequence_pairs_keep_file_order(pairs):
    with tempfile.TemporaryDirectory() as folder:
        got = read_interactions(_write(folder, "ml.txt", "".join(f"{u} {i}\n" for u, i in pairs).encode()), "auto", 7)
    assert got.format == "sequence" and got.ordered
    assert list(zip(got.users.tolist(), got.items.tolist())) == pairs


NPY_DTYPES = [np.int8, np.int32, np.int64, np.uint64, np.float16, np.float32, np.float64, np.bool_, np.complex64]


@FUZZ
@given(array=hnp.arrays(st.sampled_from(NPY_DTYPES), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)))
@example(array=np.array([[1, 2, np.nan]]))
@example(array=np.array([[2**64 - 1, 2, 8]], dtype=np.uint64))
def test_npy_reader_reads_exactly_or_refuses(array):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ratings.npy"
        np.save(path, array)
        got = _read(path, "auto")
    plain = array.ndim == 2 and array.shape[0] > 0 and array.shape[1] >= 3 and array.dtype.kind in "iu"
    if plain and 0 <= array[:, :2].min() and array[:, :2].max() <= MAX_ID:
        assert got is not None, "a plain integer array in range must be read"
    if got is not None:
        _check_interactions(got)
        keep = (array[:, 2] >= 7) & (array[:, 2] > 0)
        assert got.users.tolist() == array[keep, 0].astype(np.int64).tolist()
        assert got.items.tolist() == array[keep, 1].astype(np.int64).tolist()


@FUZZ
@given(data=RAW)
@example(data=b"a,b\n")
@example(data=b"a,b\n1,-5\n")
def test_item_map_reader_never_crashes(data):
    with tempfile.TemporaryDirectory() as folder:
        try:
            keys, values = read_item_map(_write(folder, "map.csv", data))
        except UserError as exc:
            _one_line(exc)
            return
    assert keys.size == values.size > 0 and np.unique(keys).size == keys.size
    assert values.min() >= 1 and values.max() <= MAX_ID


@FUZZ
@given(mapping=st.dictionaries(st.integers(0, 10**9), st.integers(1, MAX_ID), min_size=1, max_size=20))
def test_well_formed_item_map_reads_exactly(mapping):
    text = "file_id,mal_id\n" + "".join(f"{k},{v}\n" for k, v in mapping.items())
    with tempfile.TemporaryDirectory() as folder:
        keys, values = read_item_map(_write(folder, "map.csv", text.encode()))
    assert dict(zip(keys.tolist(), values.tolist())) == mapping


# --- MyAnimeList export --------------------------------------------------------------

ANIME_ID = st.one_of(st.integers(-3, 2**32).map(str), st.text(max_size=6), st.just("9" * 5000))
SCORE = st.one_of(st.integers(-1, 12).map(str), st.text(max_size=4))
STATUS = st.sampled_from(["Completed", "Watching", "Plan to Watch", ""])


def _export(entries) -> bytes:
    body = "".join(
        f"<anime><series_animedb_id>{escape(i)}</series_animedb_id><my_score>{escape(s)}</my_score><my_status>{st_}</my_status></anime>"
        for i, s, st_ in entries
    )
    return f"<myanimelist><myinfo/>{body}</myanimelist>".encode()


def _digits(text: str, most: int) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= most


def _parse(path: Path, **kwargs) -> list[int] | None:
    try:
        ids = parse_mal_export(path, **kwargs)
    except UserError as exc:
        _one_line(exc)
        return None
    assert len(set(ids)) == len(ids) and all(isinstance(i, int) and 1 <= i <= MAX_ANIME_ID for i in ids)
    return ids


@FUZZ
@given(data=st.one_of(RAW, RAW.map(gzip.compress)))
@example(data=b'<?xml version="1.0" encoding="cp932"?><myanimelist/>')
@example(data=b'<?xml version="1.0" encoding="nope"?><myanimelist/>')
def test_mal_parser_never_crashes_on_random_bytes(data):
    with tempfile.TemporaryDirectory() as folder:
        _parse(_write(folder, "animelist.xml", data))


@FUZZ
@given(entries=st.lists(st.tuples(ANIME_ID, SCORE, STATUS), max_size=8), unscored=st.booleans())
def test_mal_parser_reads_exactly_or_refuses(entries, unscored):
    with tempfile.TemporaryDirectory() as folder:
        got = _parse(_write(folder, "animelist.xml", _export(entries)), include_unscored_completed=unscored)
    valid = all(_digits(i, 10) and 1 <= int(i) <= MAX_ANIME_ID and _digits(s, 2) and int(s) <= 10 for i, s, _ in entries)
    if valid:
        expected = [int(i) for i, s, status in entries if int(s) >= 7 or (unscored and int(s) == 0 and status == "Completed")]
        assert got == list(dict.fromkeys(expected))


# --- checkpoints ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[dict, bytes]:
    """A 5-item model's meta and weights, written the way checkpoints are."""
    ids = np.arange(10, 15, dtype=np.int64)
    config = ModelConfig(num_items=5, max_len=4, hidden=8, layers=1, heads=2, genres=False)
    meta = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "model_config": config.to_dict(),
        "vocab": {"size": 5, "sha256": vocab_hash(ids), "item_ids": ids.tolist()},
    }
    path = tmp_path_factory.mktemp("tiny") / MODEL_FILE
    save_file({k: v.contiguous() for k, v in BERT4Rec(config).state_dict().items()}, str(path))
    return meta, path.read_bytes()


def _model_folder(folder: str, meta: bytes, weights: bytes) -> Path:
    _write(folder, META_FILE, meta)
    _write(folder, MODEL_FILE, weights)
    return Path(folder)


def _load(folder: Path):
    try:
        return load_model(folder)
    except UserError as exc:
        _one_line(exc)
        return None


def test_the_tiny_checkpoint_loads(tiny):
    meta, weights = tiny
    with tempfile.TemporaryDirectory() as folder:
        model, loaded = load_model(_model_folder(folder, json.dumps(meta).encode(), weights))
    assert loaded == meta and model.config.num_items == 5


@FUZZ
@given(data=st.one_of(RAW, JSON_VALUE.map(lambda v: json.dumps(v).encode())))
@example(data=DEEP)
def test_meta_reader_never_crashes(tiny, data):
    with tempfile.TemporaryDirectory() as folder:
        folder = _model_folder(folder, data, tiny[1])
        try:
            assert isinstance(read_meta(folder), dict)
        except UserError as exc:
            _one_line(exc)


CONFIG_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-2, 10**12), st.floats(), st.text(max_size=3), st.lists(st.integers(), max_size=2))


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(list(ModelConfig.__dataclass_fields__)), CONFIG_VALUE, min_size=1, max_size=3))
@example(changes={"hidden": 400_000_000, "heads": 2})
@example(changes={"layers": 10**9})
@example(changes={"genres": True, "genres_per_item": 10**9})
def test_damaged_model_config_is_refused_before_anything_is_built(tiny, changes):
    meta, weights = tiny
    damaged = {**meta, "model_config": {**meta["model_config"], **changes}}
    with tempfile.TemporaryDirectory() as folder:
        got = _load(_model_folder(folder, json.dumps(damaged).encode(), weights))
    if got is not None:
        model, _ = got
        assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in BERT4Rec(ModelConfig(**meta["model_config"])).parameters())


def _safetensors(header: dict, payload: bytes) -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + payload


TENSOR_HEADER = st.fixed_dictionaries({
    "dtype": st.sampled_from(["F32", "F16", "BF16", "I64", "I8", "BOOL", "U8", "F64", "X9"]),
    "shape": st.lists(st.integers(0, 50), max_size=3),
    "data_offsets": st.lists(st.integers(0, 400), min_size=2, max_size=2),
})


@FUZZ
@given(
    weights=st.one_of(
        st.binary(max_size=300),
        st.builds(_safetensors, st.dictionaries(st.sampled_from(["item_emb.weight", "out_bias", "__metadata__", "x"]), TENSOR_HEADER, max_size=3), st.binary(max_size=400)),
    )
)
@example(weights=b"")
@example(weights=b"\x80\x04\x95pickle")
def test_weights_loader_never_crashes(tiny, weights):
    with tempfile.TemporaryDirectory() as folder:
        assert _load(_model_folder(folder, json.dumps(tiny[0]).encode(), weights)) is None


# --- favourites file -----------------------------------------------------------------

FAVOURITES_DOC = st.fixed_dictionaries(
    {}, optional={"version": st.one_of(st.integers(-1, 3), JSON_VALUE), "favourites": st.one_of(st.lists(st.integers(-2, 10**6), max_size=4), JSON_VALUE), "excluded": JSON_VALUE}
).map(lambda d: json.dumps(d).encode())


@FUZZ
@given(data=st.one_of(RAW, FAVOURITES_DOC))
@example(data=DEEP)
@example(data=b'{"version": 1, "favourites": [5114, 1535], "excluded": [21]}')
def test_favourites_load_reads_or_moves_a_damaged_file_aside(data):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, "favourites.json", data)
        store = FavouritesStore(path)
        try:
            got = store.load()
        except UserError as exc:  # a newer version: kept where it is
            _one_line(exc)
            assert path.read_bytes() == data
            return
        if store.last_warning:
            assert got == Favourites() and not path.exists()
            [aside] = Path(folder).glob("favourites.json.corrupt-*")
            assert aside.read_bytes() == data
        else:
            assert path.read_bytes() == data
            assert all(isinstance(i, int) and i >= 1 for i in got.favourites + got.excluded)


# --- recommend --batch lines ---------------------------------------------------------


class _Echo:
    """Stands in for the engine: knows the odd ids, answers every well-formed request with nothing."""

    by_id = range(1, 10**21, 2)

    def knows(self, mal_id):
        return mal_id % 2 == 1

    def split_known(self, ids):
        return [i for i in ids if i % 2], [i for i in ids if not i % 2]

    def pick_many(self, requests, k):
        return [Picks([], []) for _ in requests]


REQUEST = st.fixed_dictionaries({}, optional={"id": JSON_VALUE, "favourites": st.one_of(st.lists(st.integers(-2, 10**20), max_size=3), JSON_VALUE), "exclude": JSON_VALUE})


@FUZZ
@given(lines=st.lists(st.one_of(st.binary(max_size=40), JSON_VALUE.map(lambda v: json.dumps(v).encode()), REQUEST.map(lambda v: json.dumps(v).encode())), max_size=6))
@example(lines=[DEEP, b'{"favourites": [1]}'])
@example(lines=[b'{"id": "\\ud800", "favourites": [1]}'])
def test_batch_answers_every_line_with_a_result_or_an_error(lines):
    text = b"".join(line + b"\n" for line in lines)
    out = io.BytesIO()
    sink = io.TextIOWrapper(out, encoding="utf-8", newline="\n")  # strict, like stdout
    bad = run_batch(_Echo(), io.BytesIO(text), sink, 3, Filters())
    sink.flush()
    answers = [json.loads(line) for line in out.getvalue().decode().split("\n")[:-1]]
    assert len(answers) == sum(1 for line in text.split(b"\n") if line.strip())
    assert bad == sum("error" in a for a in answers)
    assert all("recommendations" in a or "error" in a for a in answers)

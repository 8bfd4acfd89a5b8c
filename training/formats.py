"""Readers for the ratings files animerec understands.

Every reader returns the *liked* interactions only (rating >= min_rating, unrated rows
dropped) as two int64 arrays of raw ids, so a 148M-row file never materialises its
unliked rows: CSV filters are pushed into polars' multi-threaded scan, and ``.npy``
arrays are memory-mapped and filtered in chunks.

A file with a damaged row (an empty field, a NaN or infinite rating, an id that is not a
whole number from 0 to 2**31 - 1) is refused as a whole: such a row means a broken
export, and dropping it quietly would train on data the user never meant. A text line
with no values at all (blank, or only separators) is no row and is skipped anywhere.
Float ids must be exact: float16 holds every whole number only below 2,048 and float32
below 2**24, so an id at or above that may be another id rounded, and is refused.
"""

from __future__ import annotations

import codecs
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.errors import UserError

FORMATS = ("cooperunion", "caserec", "mal2020", "reference", "sequence")
"""Names accepted by ``--format`` (besides ``auto``)."""

FORMAT_HELP = {
    "cooperunion": "CooperUnion MAL rating.csv: user_id,anime_id,rating (header optional, -1 = unscored)",
    "caserec": "tab-separated User_ID Anime_ID Feedback with a header (caserec anime_ratings.dat)",
    "mal2020": "MAL 2020 rating_complete.csv / animelist.csv: user_id,anime_id,rating|score,...",
    "reference": "the reference system's ratings array: .npy (N, 3) user, anime, rating, or .parquet/.csv",
    "sequence": "one 'user item' pair per line in time order, no ratings (ml-1m.txt)",
}

_USER_NAMES = ("user_id", "user", "userid", "uid")
_ITEM_NAMES = ("anime_id", "anime", "item_id", "item", "animeid", "iid")
_RATING_NAMES = ("rating", "score", "feedback")
MAX_ID = 2**31 - 1
"""Largest user or item id accepted (ids must fit a signed 32-bit int)."""
_NPY_CHUNK_ROWS = 1 << 24
_SNIFF_BYTES = 1 << 16
_QUOTED_CHARS = 200


@dataclass
class Interactions:
    """Liked (user, item) pairs as read from a file, in file order."""

    users: np.ndarray
    items: np.ndarray
    format: str
    ordered: bool
    rows_read: int


@dataclass(frozen=True)
class _TextLayout:
    separator: str
    has_header: bool
    columns: list[str]
    skip: int
    """Lines before the first row: blank ones, then the header if there is one."""


def _first_lines(path: Path) -> tuple[list[str], int]:
    """Up to five non-blank lines from the start of ``path``, and how many blank lines precede them."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    # UTF-16 text of ASCII digits is half NUL bytes, and often passes as UTF-8.
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\0" in head:
        raise UserError(f"{path}: UTF-16 text or a binary file (it has NUL bytes); save it as UTF-8 text")
    if len(head) == _SNIFF_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n")]
    if b"\r" in head and b"\n" not in head:
        raise UserError(f"{path}: lines end in a bare carriage return (old Mac text); save it with \\n or \\r\\n line ends")
    try:
        # utf-8-sig: spreadsheets save "CSV UTF-8" with a byte-order mark (polars skips it too).
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    lines = text.split("\n")  # as polars counts lines (str.splitlines also splits at \x1c, \x85...)
    blank = next((n for n, line in enumerate(lines) if line.strip()), None)
    if blank is None:
        raise UserError(f"{path}: the file is empty")
    return [line for line in lines[blank:] if line.strip()][:5], blank


def _clip(text: str) -> str:
    """``text`` cut to a length that fits in a one-line message."""
    return text if len(text) <= _QUOTED_CHARS else text[:_QUOTED_CHARS] + "..."


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _sniff_text(path: Path) -> _TextLayout:
    lines, blank = _first_lines(path)
    first = lines[0]
    if "\t" in first:
        separator = "\t"
    elif "," in first:
        separator = ","
    elif ";" in first:
        separator = ";"
    else:
        separator = " "
    fields = [f.strip().strip('"').strip() for f in first.split(separator)]  # R and pandas may quote the header
    has_header = not all(_is_number(f) for f in fields if f)
    columns = [f.lower() for f in fields] if has_header else [f"column_{i + 1}" for i in range(len(fields))]
    return _TextLayout(separator, has_header, columns, blank + has_header)


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    return next((c for c in columns if c in names), None)


def detect_format(path: Path) -> str:
    """Guess the format of ``path`` from its suffix and first line, or explain why not."""
    suffix = path.suffix.lower()
    if suffix in (".npy", ".parquet"):
        return "reference"
    layout = _sniff_text(path)
    cols = layout.columns
    if layout.has_header:
        user, item, rating = _find(cols, _USER_NAMES), _find(cols, _ITEM_NAMES), _find(cols, _RATING_NAMES)
        if user and item and rating:
            if layout.separator == "\t" and rating == "feedback":
                return "caserec"
            if cols == ["user_id", "anime_id", "rating"]:
                return "cooperunion"
            if user == "user_id" and item == "anime_id":
                return "mal2020"
            return "reference"
        if user and item and len(cols) == 2:
            return "sequence"
        if user and item:
            raise UserError(f"{path}: no rating column (looked for {', '.join(_RATING_NAMES)}); columns are {_clip(', '.join(cols))}")
    else:
        if len(cols) == 3 and layout.separator == ",":
            return "cooperunion"
        if len(cols) == 2 and layout.separator in (" ", "\t"):
            return "sequence"
    shown = layout.separator if layout.separator != "\t" else "\\t"
    raise UserError(
        f"{path}: cannot tell the format ({len(cols)} columns separated by '{shown}', "
        f"{'header ' + _clip(','.join(cols)) if layout.has_header else 'no header'}); "
        f"name it with --format ({', '.join(FORMATS)})"
    )


def check_regular_file(path: Path, what: str) -> None:
    """Refuse anything but a regular file (a symlink to one is fine), before it is opened.

    A pipe (``preprocess <(zcat r.csv.gz)``) or a FIFO can be read only once, and the input
    is read more than once (sniffed, parsed, hashed for the manifest); opening a FIFO with no
    writer would also block for good. A device or a socket is no ratings file either.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{path}: is a directory, expected {what}")
    if not stat.S_ISREG(mode):
        kind = "a pipe" if stat.S_ISFIFO(mode) else "a device or socket"
        raise UserError(f"{path}: is {kind}, not a file; save it to a file first and give that")


def read_interactions(path: Path, fmt: str, min_rating: float) -> Interactions:
    """Read the liked interactions of ``path`` in format ``fmt`` (or ``auto``)."""
    check_regular_file(path, "a ratings file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty")
    if fmt == "auto":
        fmt = detect_format(path)
    elif fmt not in FORMATS:
        raise UserError(f"unknown format '{fmt}'; choose auto or one of {', '.join(FORMATS)}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if fmt != "reference":
            raise UserError(f"{path}: a .npy file can only be --format reference")
        users, items, rows = _read_npy(path, min_rating)
    elif suffix == ".parquet":
        users, items, rows = _read_polars(path, None, fmt, min_rating)
    else:
        users, items, rows = _read_polars(path, _sniff_text(path), fmt, min_rating)
    _check_ids(path, users, "user")
    _check_ids(path, items, "item")
    return Interactions(users, items, fmt, ordered=fmt == "sequence", rows_read=rows)


def _check_ids(path: Path, ids: np.ndarray, what: str) -> None:
    if ids.size == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0:
        raise UserError(f"{path}: negative {what} id {low}")
    if high > MAX_ID:
        raise UserError(f"{path}: {what} id {high} is larger than {MAX_ID:,}")


def _polars_error(path: Path, exc: Exception) -> UserError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UserError(f"{path}: cannot read it as a ratings table: {_clip(first)}")


def _read_polars(path: Path, layout: _TextLayout | None, fmt: str, min_rating: float) -> tuple[np.ndarray, np.ndarray, int]:
    import polars as pl

    try:
        if layout is None:
            lf = pl.scan_parquet(path)
            columns = [c.lower() for c in lf.collect_schema().names()]
            lf = lf.rename({old: new for old, new in zip(lf.collect_schema().names(), columns)})
        else:
            columns = layout.columns
        user, item, rating = _find(columns, _USER_NAMES), _find(columns, _ITEM_NAMES), _find(columns, _RATING_NAMES)
        if layout is not None and not layout.has_header:
            need = 2 if fmt == "sequence" else 3
            if len(columns) < need:
                raise UserError(f"{path}: --format {fmt} needs {need} columns, the file has {len(columns)}")
            user, item, rating = columns[0], columns[1], (columns[2] if fmt != "sequence" else None)
        if fmt == "sequence":
            rating = None
        elif rating is None:
            raise UserError(f"{path}: no rating column (looked for {', '.join(_RATING_NAMES)}); columns are {_clip(', '.join(columns))}")
        if user is None or item is None:
            raise UserError(f"{path}: needs a user and an anime column; columns are {_clip(', '.join(columns))}")
        if layout is None:
            schema = lf.collect_schema()
            for column in (user, item):
                if not (schema[column].is_integer() or schema[column].is_float()):
                    raise UserError(f"{path}: the {column} column holds {_clip(str(schema[column]))}, not numbers")
            blank = pl.lit(False)
        else:
            repeated = next((c for c in columns if columns.count(c) > 1), None)
            if repeated is not None:
                raise UserError(f"{path}: the header names the column '{_clip(repeated)}' twice")
            types: dict[str, type[pl.DataType]] = {c: pl.String for c in columns}
            types.update({user: pl.Int64, item: pl.Int64})
            if rating is not None:
                types[rating] = pl.Float64
            lf = pl.scan_csv(
                path,
                has_header=False,
                skip_lines=layout.skip,
                separator=layout.separator,
                schema=types,
                infer_schema=False,
                encoding="utf8",
                raise_if_empty=False,
            )
            blank = pl.all_horizontal(*(pl.col(c).is_null() for c in columns))
        needed = [user, item] if rating is None else [user, item, rating]
        incomplete = pl.any_horizontal(*(pl.col(c).is_null() for c in needed)) & ~blank
        if rating is None:
            liked, odd = pl.lit(True), pl.lit(False)
        else:
            score = pl.col(rating).cast(pl.Float64)
            liked, odd = (score >= min_rating) & (score > 0), ~score.is_finite().fill_null(True)
        picked = lf.filter(~blank & (liked | incomplete | odd)).select(
            pl.col(user).alias("u"), pl.col(item).alias("i"), incomplete.alias("bad"), odd.alias("odd")
        )
        counted = lf.filter(~blank).select(pl.len().alias("n"))
        frame, count = pl.collect_all([picked, counted])
    except UserError:
        raise
    except pl.exceptions.PolarsError as exc:
        ragged = isinstance(exc, pl.exceptions.SchemaError) or "more fields than defined" in str(exc)
        if layout is None or not ragged:
            raise _polars_error(path, exc) from None
        # polars' own text suggests scan_csv arguments, which mean nothing to a user.
        raise UserError(f"{path}: the rows do not all have the {len(columns)} fields of the first line (ragged lines, or another separator?)") from None
    except (OSError, ValueError) as exc:
        raise _polars_error(path, exc) from None
    bad = int(frame["bad"].sum())
    if bad:
        raise UserError(f"{path}: {_rows(bad)} an empty or missing field (truncated or ragged lines?)")
    odd_rows = int(frame["odd"].sum())
    if odd_rows:
        raise UserError(f"{path}: {_rows(odd_rows)} a rating that is not a number (NaN or inf); use -1 or leave such rows out")
    rows = int(count["n"][0])
    if rows == 0:
        raise UserError(f"{path}: has {'a header but ' if layout is not None else ''}no rows")
    return _as_ids(path, frame["u"].to_numpy()), _as_ids(path, frame["i"].to_numpy()), rows


def _rows(count: int) -> str:
    return "1 row has" if count == 1 else f"{count:,} rows have"


def map_npy(path: Path) -> np.ndarray:
    """Memory-map a .npy array; ValueError (or OSError, EOFError) says why a file is not one.

    Mapped, not read: a header promising more bytes than the file holds fails here instead
    of allocating what it promises. The header is checked first, because numpy calls
    anything without one (text, a .npz archive) pickled data and suggests loading it.
    """
    with open(path, "rb") as handle:
        if handle.read(6) != b"\x93NUMPY":
            raise ValueError("it has no .npy header: text, a pickle, a .npz archive or something else under a .npy name")
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _read_npy(path: Path, min_rating: float) -> tuple[np.ndarray, np.ndarray, int]:
    try:
        array = map_npy(path)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{path}: not a readable .npy array ({exc})") from None
    if array.ndim != 2 or array.shape[1] < 3:
        raise UserError(f"{path}: expected an array of shape (N, 3) = user, anime, rating; got {array.shape}")
    if array.dtype.kind not in "iuf":
        raise UserError(f"{path}: expected a numeric array, got dtype {array.dtype}")
    if array.shape[0] == 0:
        raise UserError(f"{path}: the array has no rows")
    users, items = [], []
    for start in range(0, array.shape[0], _NPY_CHUNK_ROWS):
        block = np.asarray(array[start : start + _NPY_CHUNK_ROWS, :3])
        # float64 whatever the file's type: min_rating cast to float16 could overflow.
        rating = block[:, 2].astype(np.float64)
        if array.dtype.kind == "f" and not np.isfinite(rating).all():
            raise UserError(f"{path}: some ratings are not numbers (NaN or inf); use -1 for unrated rows")
        keep = (rating >= min_rating) & (rating > 0)
        users.append(_as_ids(path, block[keep, 0]))
        items.append(_as_ids(path, block[keep, 1]))
    return np.concatenate(users), np.concatenate(items), int(array.shape[0])


def _as_ids(path: Path, ids: np.ndarray) -> np.ndarray:
    """int64 ids from a numeric column; float ids must be finite whole numbers (parquet, .npy)."""
    if ids.dtype.kind not in "iuf":
        raise UserError(f"{path}: user and anime ids must be numbers, not {ids.dtype}")
    if ids.dtype.kind == "f":
        if not np.isfinite(ids).all():
            raise UserError(f"{path}: user or anime ids are not finite numbers")
        if (ids != np.floor(ids)).any():
            raise UserError(f"{path}: user or anime ids are not whole numbers")
        exact = 2 ** (np.finfo(ids.dtype).nmant + 1)
        high = np.abs(ids).max().item() if ids.size else 0
        if high >= exact:
            raise UserError(
                f"{path}: ids stored as {ids.dtype} are exact only below {exact:,}, and this file has {high:,.0f}; "
                "it may have been rounded: save the ids as integers"
            )
    # Before the cast: a huge uint64 or float would wrap around to a plausible int64.
    # .item(): compared as a numpy scalar, MAX_ID would first be cast (and overflow) to float16.
    if ids.dtype.kind in "uf" and ids.size and np.abs(ids).max().item() > MAX_ID:
        raise UserError(f"{path}: an id is larger than {MAX_ID:,}")
    return ids.astype(np.int64)


def read_item_map(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a two-column id map (file id -> MAL id), e.g. DERIVED_caserec_item_to_mal_id.csv."""
    import polars as pl

    if not path.exists():
        raise UserError(f"{path}: item map not found")
    check_regular_file(path, "an item map file")
    _first_lines(path)  # an empty, UTF-16 or non-UTF-8 file gets its own clear line
    try:
        frame = pl.read_csv(path, infer_schema=False)
        source, target = frame.columns[0], frame.columns[1]
        frame = frame.filter(~pl.all_horizontal(pl.all().is_null()))  # blank lines
        frame = frame.select(pl.col(c).str.strip_chars().cast(pl.Int64) for c in (source, target))
    except (pl.exceptions.PolarsError, IndexError, OSError) as exc:
        raise UserError(f"{path}: not an item map (two integer columns: file id, MAL id): {_clip(str(exc).splitlines()[0] if str(exc) else repr(exc))}") from None
    if frame.height == 0:
        raise UserError(f"{path}: the item map has a header but no rows")
    if frame.null_count().sum_horizontal()[0]:
        raise UserError(f"{path}: the item map has empty ids")
    keys, values = frame[source].to_numpy(), frame[target].to_numpy()
    if np.unique(keys).size != keys.size:
        raise UserError(f"{path}: the item map lists a file id twice")
    if values.min() < 1 or values.max() > MAX_ID:
        raise UserError(f"{path}: MAL ids in the item map must be from 1 to {MAX_ID:,}")
    return keys, values


def apply_item_map(items: np.ndarray, keys: np.ndarray, values: np.ndarray, map_path: Path) -> np.ndarray:
    """Translate file item ids to MAL ids; refuse ids the map does not know."""
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    pos = np.searchsorted(keys, items)
    pos = np.minimum(pos, keys.size - 1)
    known = keys[pos] == items
    if not known.all():
        missing = np.unique(items[~known])
        raise UserError(f"{map_path}: {missing.size} item ids of the ratings file are not in the map (e.g. {missing[0]})")
    return values[pos]

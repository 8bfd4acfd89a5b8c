"""The linear item-item model (EASE, Steck 2019) the engine blends into the set model's scores.

EASE fits B = argmin ||X - XB||^2 + lambda ||B||^2 with diag(B) = 0 on the users' training
rows X (users x rated anime, 0/1), in closed form: P = (X'X + lambda I)^-1,
B = -P / diag(P). A request's EASE score of anime j is sum over its favourites f of B[f, j].

Shipped pruned: each favourite's row keeps its ``keep`` largest weights by magnitude, as
column indices (int16 while the rated anime fit, else int32) and float16 values, in
``itemitem.safetensors`` beside the model, with ``itemitem.json`` (lambda, keep, the data
manifest's hash, the rated anime's MAL ids in the model's column order). numpy only: the
recommend path never imports torch. ``read_itemitem`` checks shapes, dtypes, finite values
and the id order, each failure one line.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.errors import UserError

ITEMITEM_FILE, ITEMITEM_META = "itemitem.safetensors", "itemitem.json"
ITEMITEM_FORMAT = "animerec-itemitem"


def gram(offsets: np.ndarray, items: np.ndarray, num_items: int) -> np.ndarray:
    """X'X (num_items, num_items, float64) of CSR rows over dense ids 1..num_items (each user's items distinct)."""
    users = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    x = np.zeros((offsets.size - 1, num_items), dtype=np.float32)
    x[users, np.asarray(items, dtype=np.int64) - 1] = 1.0
    return (x.T @ x).astype(np.float64)


def fit_ease(g: np.ndarray, lam: float, name: str = "EASE's lambda") -> np.ndarray:
    """EASE's B (Steck 2019: B = I - P / diag(P), P = (X'X + lam I)^-1; float32, zero diagonal)
    from the Gram matrix ``g`` = X'X (its dtype is the inverse's) and the ridge ``lam``: the one
    EASE solver, for the engine's table, the peers and ``evaluate.ease_scorer``. ``name``: what
    the one-line errors call ``lam``."""
    if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam > 0):  # NaN would score every item NaN
        raise UserError(f"{name} must be a finite number above 0, not {lam}")
    p = g.copy()
    p[np.diag_indices_from(p)] += lam
    try:
        p = np.linalg.inv(p)
    except np.linalg.LinAlgError:
        p = np.full(1, np.nan)
    if not np.isfinite(p).all():
        raise UserError(f"{name} {lam:g} is too small: the item-item matrix cannot be inverted; use a larger one")
    b = p / (-np.diag(p))[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)


@dataclass(frozen=True)
class ItemItem:
    """A pruned EASE table: row f holds the ``keep`` largest weights B[f, indices[f]]."""

    indices: np.ndarray
    """(rated, keep) column indices, int16 or int32."""
    values: np.ndarray
    """(rated, keep) weights, float16 or float32."""
    meta: dict

    @classmethod
    def prune(cls, b: np.ndarray, keep: int, meta: dict) -> ItemItem:
        """Each row's ``keep`` largest weights by magnitude (all of them when ``keep`` >= its width - 1)."""
        n = b.shape[0]
        keep = min(keep, n - 1)
        top = np.argpartition(-np.abs(b), keep - 1, axis=1)[:, :keep]
        top.sort(axis=1)
        kind = np.int16 if n <= np.iinfo(np.int16).max else np.int32
        values = np.take_along_axis(b, top, axis=1).astype(np.float16)
        return cls(top.astype(kind), values, {**meta, "keep": int(keep), "rated": int(n)})

    @property
    def rated(self) -> int:
        return int(self.indices.shape[0])

    def scores(self, favourites: np.ndarray) -> np.ndarray:
        """EASE scores (rated,) float32 of a request's favourites (columns, 0-based; any not rated is skipped)."""
        favourites = np.asarray(favourites, dtype=np.int64)
        favourites = favourites[favourites < self.rated]
        return np.bincount(self.indices[favourites].ravel(), weights=self.values[favourites].ravel(), minlength=self.rated).astype(np.float32)

    def parts(self, favourites: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Each favourite's weight on each of ``columns``: (len(columns), len(favourites)); 0 where pruned or unrated."""
        favourites = np.asarray(favourites, dtype=np.int64)
        columns = np.asarray(columns, dtype=np.int64)
        out = np.zeros((columns.size, favourites.size), dtype=np.float32)
        place = np.full(self.rated + 1, -1, dtype=np.int64)  # each rated column's row in ``out``; -1 elsewhere
        wanted = columns < self.rated
        place[columns[wanted]] = np.flatnonzero(wanted)
        mine = np.flatnonzero(favourites < self.rated)
        rows = place[self.indices[favourites[mine]].astype(np.int64)]  # (favourites, keep)
        hit = rows >= 0
        out[rows[hit], np.broadcast_to(mine[:, None], rows.shape)[hit]] = self.values[favourites[mine]][hit]
        return out

    def full(self) -> np.ndarray:
        """The pruned table as a dense (rated, rated) float32 matrix (for evaluation)."""
        b = np.zeros((self.rated, self.rated), dtype=np.float32)
        np.put_along_axis(b, self.indices.astype(np.int64), self.values.astype(np.float32), axis=1)
        return b


def manifest_hash(data_folder: Path) -> str:
    """sha256 of a preprocessed folder's manifest.json (which names its input and parameters)."""
    return hashlib.sha256((Path(data_folder) / "manifest.json").read_bytes()).hexdigest()


def write_itemitem(folder: Path, table: ItemItem) -> None:
    """Save ``table`` in a model folder (both files written whole, then renamed)."""
    from safetensors.numpy import save_file

    from training.fsutil import atomic_write_bytes
    from training.model_files import json_bytes

    folder = Path(folder)
    tmp = folder / (ITEMITEM_FILE + ".tmp")
    save_file({"indices": np.ascontiguousarray(table.indices), "values": np.ascontiguousarray(table.values)}, str(tmp))
    tmp.chmod(0o644)
    tmp.replace(folder / ITEMITEM_FILE)
    atomic_write_bytes(folder / ITEMITEM_META, json_bytes({"format": ITEMITEM_FORMAT, **table.meta}))


def read_itemitem(folder: Path, item_ids: np.ndarray) -> ItemItem | None:
    """The item-item table in model folder ``folder``, None when it has none; ``item_ids``:
    the model's rated anime's MAL ids in column order, which the table's must equal."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path, meta_path = Path(folder) / ITEMITEM_FILE, Path(folder) / ITEMITEM_META
    if not path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict) or meta.get("format") != ITEMITEM_FORMAT:
            raise ValueError(f"not an {ITEMITEM_FORMAT} file")
        ids = np.asarray(meta["item_ids"], dtype=np.int64)
        keep, rated = int(meta["keep"]), int(meta["rated"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise UserError(f"{meta_path}: unreadable ({exc}); rebuild it with scripts/calibrate_blend.py") from None
    try:
        arrays = load_file(str(path))
    except (OSError, SafetensorError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: not a readable safetensors file ({exc})") from None
    indices, values = arrays.get("indices"), arrays.get("values")
    if indices is None or values is None or set(arrays) != {"indices", "values"}:
        raise UserError(f"{path}: must hold exactly 'indices' and 'values', not {sorted(arrays)}")
    if indices.dtype not in (np.int16, np.int32) or values.dtype not in (np.float16, np.float32):
        raise UserError(f"{path}: indices must be int16/int32 and values float16/float32, not {indices.dtype}/{values.dtype}")
    if indices.shape != (rated, keep) or values.shape != (rated, keep):
        raise UserError(f"{path}: indices {indices.shape} and values {values.shape} must both be ({rated}, {keep}) as {ITEMITEM_META} says")
    if rated and (indices.min() < 0 or indices.max() >= rated):
        raise UserError(f"{path}: column indices must be from 0 to {rated - 1}")
    if not np.isfinite(values).all():
        raise UserError(f"{path}: holds NaN or infinite weights")
    if not np.array_equal(ids, np.asarray(item_ids, dtype=np.int64)):
        raise UserError(f"{meta_path}: its anime are not the model's rated anime in the model's order; rebuild it for this model")
    return ItemItem(indices, values, meta)

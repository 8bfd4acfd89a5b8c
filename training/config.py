"""A run's configuration from one place: the data decides the defaults, the user overrides them.

``resolve_config`` is the only function that turns a dataset and a user's choices into a
``ModelConfig`` and a ``TrainConfig``; the CLI, the benchmarks, the default-model build and
the test fixtures all call it, so none of them can drift to another model than the one
that ships. The defaults, measured on the anime data (benchmarks/RESULTS.md section 1):
a set (no positional embedding) read by the ``items`` readout with a quarter of each set
masked, the hybrid genre input whenever items are MAL ids; ordered data (ml-1m) gets the
positional embedding and the classic ``mask`` readout with half of each sequence masked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from training.catalog import Catalog
from training.data import Dataset
from training.errors import UserError
from training.genres import genre_table
from training.model import ModelConfig, Readout

Crop = Literal["latest", "random"]
Precision = Literal["auto", "fp32", "bf16"]
MASK_PROB: dict[Readout, float] = {"items": 0.25, "mask": 0.5}
"""Share of each sequence masked in training, by readout: what each learns best with."""
SEED_MAX = 2**32 - 1
POP_DEBIAS_MAX = 2.0
"""Largest ``pop_debias``: 1 already hands the training softmax each anime's whole log popularity."""


def _whole(value, low: int, high: float = math.inf) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _number(value, low: float, high: float = math.inf, above: bool = False) -> bool:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return ok and (value > low if above else value >= low) and value <= high


# Each field: (a test of its value, what it must be).
_RULES = {
    "epochs": (lambda v: _whole(v, 1), "a whole number of at least 1"),
    "batch_size": (lambda v: _whole(v, 1, 1 << 20), "a whole number from 1 to 1,048,576"),
    "lr": (lambda v: _number(v, 0, above=True), "a number above 0"),
    "weight_decay": (lambda v: _number(v, 0), "a number of at least 0"),
    "warmup": (lambda v: _number(v, 0, 1), "a number from 0 to 1"),
    "mask_prob": (lambda v: _number(v, 0, 1, above=True), "a number above 0, at most 1"),
    "mask_last": (lambda v: _number(v, 0, 1), "a number from 0 to 1"),
    "id_dropout": (lambda v: _number(v, 0, 1) and v < 1, "a number from 0 to below 1"),
    "prior_weight": (lambda v: _number(v, 0), "a number of at least 0"),
    "pop_debias": (lambda v: _number(v, 0, POP_DEBIAS_MAX), f"a number from 0 to {POP_DEBIAS_MAX:g}"),
    "crop": (lambda v: v in ("latest", "random"), "latest or random"),
    "clip": (lambda v: _number(v, 0, above=True), "a number above 0"),
    "seed": (lambda v: _whole(v, 0, SEED_MAX), f"a whole number from 0 to {SEED_MAX}"),
    "val_users": (lambda v: _whole(v, 1), "a whole number of at least 1"),
    "compile": (lambda v: isinstance(v, bool), "true or false"),
    "precision": (lambda v: v in ("auto", "fp32", "bf16"), "auto, fp32 or bf16"),
}


@dataclass
class TrainConfig:
    """Optimisation settings; saved with the run. Checks itself like ``ModelConfig``."""

    epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    mask_prob: float = MASK_PROB["items"]
    mask_last: float = 0.0
    id_dropout: float = 0.0
    """Share of rated items whose per-anime part each step drops, so metadata learns to stand in."""
    prior_weight: float = 0.0
    """Weight of the prior loss over the biases of rated and era-matched unrated anime (``cloze_loss``)."""
    pop_debias: float = 0.0
    """Popularity-debiased loss: beta * log(training count) is added to every training logit (``model.popularity_adjustment``); 0: off."""
    crop: Crop = "latest"
    clip: float = 1.0
    seed: int = 0
    val_users: int = 10_000
    compile: bool = False
    precision: Precision = "auto"
    """auto: bf16 autocast on CUDA, fp32 elsewhere."""

    def __post_init__(self) -> None:
        for name, (ok, rule) in _RULES.items():
            value = getattr(self, name)
            if not ok(value):
                raise ValueError(f"{name} is {value!r:.40}, not {rule}")


ID_DROPOUT = 0.25
"""Default ``id_dropout`` of a whole-catalogue model (RESULTS.md section 9)."""
PRIOR_WEIGHT = 1.0
"""Default ``prior_weight`` of a whole-catalogue model (RESULTS.md section 9)."""


@dataclass
class RunConfig:
    """Everything ``train()`` needs besides the data: both configurations, the metadata input
    and the model's vocabulary (the data's items, then any catalogue anime the data lacks)."""

    model: ModelConfig
    train: TrainConfig
    genre_names: list[str]
    item_genres: np.ndarray | None
    item_ids: np.ndarray
    prior_items: np.ndarray | None = None
    """Over the vocabulary: the anime the prior loss weighs (rated, or unrated but aired no later
    than the newest rated anime, or of unknown year); None without the catalogue."""


_MODEL_FIELDS = {f.name for f in fields(ModelConfig)} - {"num_items", "num_genres", "genres_per_item", "positional", "genres", "readout", "num_rated", "meta_bias", "pooling"}
_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)} - {"mask_prob", "id_dropout", "prior_weight"}


def resolve_config(
    data: Dataset,
    catalog: Catalog | Callable[[], Catalog] | None = None,
    *,
    genres: bool | None = None,
    positional: bool | None = None,
    readout: Readout | None = None,
    mask_prob: float | None = None,
    catalogue: bool | None = None,
    id_dropout: float | None = None,
    prior_weight: float | None = None,
    **overrides,
) -> RunConfig:
    """The configuration of a new run on ``data``: the product's defaults, then ``overrides``.

    None means "the default for this data". ``overrides`` are any other ``ModelConfig`` or
    ``TrainConfig`` field by name (``hidden=128``, ``epochs=5``); an unknown name is a
    ``TypeError``, a bad value a ``UserError`` naming the flag. The genre input needs the
    catalogue that maps MAL ids to genres: the catalogue itself, or a function that loads
    it, called only when the genre input is on.

    ``catalogue`` (default: on with the metadata input) makes the model know every catalogue
    anime, those the data has no ratings of from their metadata alone, trained with
    ``id_dropout`` (default ``ID_DROPOUT`` then, else 0) and the prior loss (``prior_weight``,
    default ``PRIOR_WEIGHT`` then, else 0).
    """
    unknown = set(overrides) - _MODEL_FIELDS - _TRAIN_FIELDS
    if unknown:
        raise TypeError(f"resolve_config() got unknown settings: {', '.join(sorted(unknown))}")
    if overrides.get("crop") == "random" and not data.ordered:
        raise UserError("--crop random picks a window of ordered data; this data is unordered (sets), where a long list is cut to a random subset anyway: leave out --crop")
    mal_ids = data.manifest.get("item_id_space") == "mal"
    genres = mal_ids if genres is None else genres
    if genres and not mal_ids:
        raise UserError("--genres needs anime data with MAL ids (this data has raw item ids); use --no-genres")
    if genres and catalog is None:
        raise UserError("the genre input needs the anime catalogue; use --no-genres")
    if genres and callable(catalog):  # loaded only when it is needed
        catalog = catalog()
    catalogue = genres if catalogue is None else catalogue
    if catalogue and not genres:
        raise UserError("--catalogue knows unrated anime from their metadata; it needs --genres")
    item_ids, prior_items = data.item_ids, None
    if catalogue and isinstance(catalog, Catalog):
        extra = np.setdiff1d(np.fromiter(catalog.by_id, dtype=np.int64, count=len(catalog)), data.item_ids)
        item_ids = np.concatenate([data.item_ids, extra])
        prior_items = _aired_with_the_data(item_ids, data.num_items, catalog)
    names, table = genre_table(item_ids, catalog, unknown=bool(catalogue)) if genres and isinstance(catalog, Catalog) else ([], None)
    positional = data.ordered if positional is None else positional
    readout = readout or ("mask" if positional else "items")
    try:
        model = ModelConfig(
            num_items=int(item_ids.size), num_rated=data.num_items if item_ids.size > data.num_items else 0,
            positional=positional, genres=genres, readout=readout, meta_bias=bool(catalogue), pooling="fields" if catalogue else "mean",
            num_genres=len(names), genres_per_item=0 if table is None else table.shape[1],
            **{k: v for k, v in overrides.items() if k in _MODEL_FIELDS},
        )
        train = TrainConfig(
            mask_prob=MASK_PROB[readout] if mask_prob is None else mask_prob,
            id_dropout=(ID_DROPOUT if catalogue else 0.0) if id_dropout is None else id_dropout,
            prior_weight=(PRIOR_WEIGHT if catalogue else 0.0) if prior_weight is None else prior_weight,
            **{k: v for k, v in overrides.items() if k in _TRAIN_FIELDS},
        )
    except ValueError as exc:
        raise UserError(_as_flags(str(exc))) from None
    return RunConfig(model, train, names, table, item_ids, prior_items)


def _aired_with_the_data(item_ids: np.ndarray, rated: int, catalog: Catalog) -> np.ndarray:
    """Rated anime, and unrated ones that first aired no later than the newest rated anime
    (or whose year is unknown): those the data's users could have liked and did not."""
    years = np.asarray([catalog.by_id.get(int(m), {}).get("year") or 0 for m in item_ids])
    newest = int(years[:rated].max(initial=0)) or 9999
    return (np.arange(item_ids.size) < rated) | (years <= newest)


def _as_flags(message: str) -> str:
    """'hidden 64 is not divisible by heads 3' -> '--hidden 64 is not divisible by --heads 3'."""
    words = message.split(" ")
    names = {f.name for f in fields(ModelConfig)} | {f.name for f in fields(TrainConfig)}
    return " ".join(f"--{w.replace('_', '-')}" if w in names else w for w in words)


def saved_train_config(meta: dict, folder: Path, **overrides) -> TrainConfig:
    """A resumed run's own ``TrainConfig`` from its meta.json, checked, with ``overrides`` applied."""
    saved = meta.get("train_config")
    where = folder / "meta.json"
    if not isinstance(saved, dict):
        raise UserError(f"{where}: train_config is missing or not an object; the run is damaged and cannot be resumed")
    known = {k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__}
    try:
        return TrainConfig(**{**known, **overrides})
    except ValueError as exc:
        raise UserError(f"{where}: train_config.{exc}; the run is damaged and cannot be resumed") from None

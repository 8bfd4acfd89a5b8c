"""A run's configuration from one place: the data decides the defaults, the user overrides them.

``resolve_config`` is the only function that turns a dataset and a user's choices into a
``ModelConfig`` and a ``TrainConfig``; the CLI, the benchmarks, the default-model build and
the test fixtures all call it, so none of them can drift to another model than the one
that ships. The defaults, measured on the anime data (benchmarks/RESULTS.md, "Design choices, measured on the earlier split"):
a set (no positional embedding) read by the ``items`` readout with a quarter of each set
masked, the hybrid genre input whenever items are MAL ids; ordered data (ml-1m) gets the
positional embedding and the classic ``mask`` readout with half of each sequence masked.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal

from training.errors import UserError
from training.model_config import ModelConfig, Range, Readout, defaults_of, setting

if TYPE_CHECKING:  # numpy, the data and the catalogue load when a run is resolved: the CLI's --help reads this module
    import numpy as np

    from training.catalog import Catalog
    from training.data import Dataset

Crop = Literal["latest", "random"]
Loss = Literal["full", "sampled"]
NegativeSampler = Literal["uniform", "popularity"]
Precision = Literal["auto", "fp32", "bf16"]
MASK_PROB: dict[Readout, float] = {"items": 0.25, "mask": 0.5}
"""Share of each sequence masked in training, by readout: what each learns best with."""
SEED_MAX = 2**32 - 1
POP_DEBIAS_MAX = 2.0
"""Largest ``pop_debias``: 1 already hands the training softmax each anime's whole log popularity."""
ID_DROPOUT = 0.25
"""Default ``id_dropout`` of a whole-catalogue model (RESULTS.md, "The shipped model on the anime data")."""
PRIOR_WEIGHT = 1.0
"""Default ``prior_weight`` of a whole-catalogue model (RESULTS.md, "The shipped model on the anime data")."""

THREADS = 1
"""torch's intra-op threads for ``animerec train`` and ``animerec eval`` when neither ``--threads``
nor an ``OMP_NUM_THREADS`` the user set says otherwise. A training step of the shipped recipe is
many small products, each a parallel region that waits for all its threads: on the 2-core
machine shared with other jobs a second thread is off its core at most of them, and a step took
about three times as long with two threads as with one (``benchmarks/train_threads.py``; the
machine was never idle, so the idle case is unmeasured)."""

_POSITIVE = Range(0, above=True)
_SHARE = Range(0, 1)
_CHOICES = {"loss": ("full", "sampled"), "sampler": ("popularity", "uniform"), "crop": ("latest", "random"), "precision": ("auto", "fp32", "bf16"), "compile": (False, True)}
"""The fields that take one of a few values, and the values (their help lives in the field too)."""


@dataclass
class TrainConfig:
    """Optimisation settings; saved with the run. Checks itself like ``ModelConfig``.

    Each field's default, range and help are declared here once (``setting``): the CLI's
    options, their bounds and help are made from them. None of ``mask_prob``, ``id_dropout``
    and ``prior_weight``'s defaults here is what a run gets: ``resolve_config`` picks them by
    the data (``MASK_PROB``, ``ID_DROPOUT``, ``PRIOR_WEIGHT``)."""

    epochs: int = setting(30, "Epochs to train (in total, when resuming).", Range(1, whole=True))
    batch_size: int = setting(16, "Users per batch.", Range(1, 1 << 20, whole=True))
    lr: float = setting(3e-3, "Peak learning rate (AdamW).", _POSITIVE)
    weight_decay: float = setting(0.01, "AdamW weight decay.", Range(0))
    warmup: float = setting(0.05, "Share of steps spent warming up.", _SHARE)
    mask_prob: float = setting(MASK_PROB["items"], "Share of items masked per sequence.", Range(0.01, 1))
    mask_last: float = setting(0.0, "Share of sequences that mask a single item (the last one of ordered data): the inference task.", _SHARE)
    id_dropout: float = setting(0.0, "Share of rated anime whose own embedding each step drops, so metadata learns to stand in.", Range(0, 0.99))
    prior_weight: float = setting(0.0, "Weight of the prior loss that teaches the output bias which anime of the data's years no one liked.", Range(0))
    """Weight of the prior loss over the biases of rated and era-matched unrated anime (``cloze_loss``)."""
    pop_debias: float = setting(
        0.0,
        "Popularity-debiased loss: training adds BETA x log(how many training lists hold the anime, at least 1) to each anime's logit, "
        "so the scores served (nothing is added then) need not carry popularity; 0 is off.",
        Range(0, POP_DEBIAS_MAX),
    )
    """Popularity-debiased loss: beta * log(training count) is added to every training logit (``model.popularity_adjustment``); 0: off."""
    loss: Loss = setting(
        "full",
        "The items readout's training softmax: full (over every rated anime: votes of batch x length x catalogue) or sampled "
        "(over --negatives anime drawn each step, with the log-Q correction: an estimate of the full softmax in a fraction of the time and memory on a large catalogue).",
    )
    """``sampled``: ``BERT4Rec.sampled_items_loss``, for the items readout only; ``full`` is the loss as it always was."""
    negatives: int = setting(1024, "With --loss sampled: anime drawn as negatives each step (all of them when it is more than the rated anime); "
        "more come nearer the full softmax, at more time and memory.", Range(1, whole=True))
    sampler: NegativeSampler = setting(
        "popularity",
        "With --loss sampled: how the negatives are drawn: by popularity (how many training lists hold each anime, with replacement), "
        "or uniformly; each is weighted so the estimate of the full softmax's sum is unbiased.",
    )
    crop: Crop = setting("latest", "Ordered data longer than --max-len: the latest items, or a random window each epoch.")
    average_epochs: float = setting(
        0.0,
        "Validate, save and export a moving average of the weights over about this many epochs (an exponential one, bias-corrected) "
        "instead of the last step's; training goes on from the live weights. 0 is off.",
        Range(0, 1000),
    )
    """``training.averaging.WeightAverage``: its horizon in steps is this times the epoch's steps."""
    clip: float = setting(1.0, "Gradient norm clip.", _POSITIVE)
    seed: int = setting(0, "Seed for initialisation, batches and masks.", Range(0, SEED_MAX, whole=True))
    val_users: int = setting(10_000, "Validation users checked after each epoch (a seeded sample).", Range(1, whole=True))
    compile: bool = setting(False, "torch.compile the training step.")
    """Worth it on GPUs (benchmarks/RESULTS.md)."""
    precision: Precision = setting("auto", "Arithmetic of the training step: auto is bf16 on CUDA, fp32 elsewhere.")
    """bf16 also pays on CPUs with AMX for large models (benchmarks/RESULTS.md)."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value, bounds = getattr(self, item.name), item.metadata.get("range")
            if bounds is not None and not bounds.holds(value):
                raise ValueError(f"{item.name} is {value!r:.40}, not {bounds.rule()}")
            choices = _CHOICES.get(item.name)
            if choices is not None and not any(value is c if isinstance(c, bool) else value == c for c in choices):
                words = "true or false" if item.name == "compile" else ", ".join(map(str, choices[:-1])) + f" or {choices[-1]}"
                raise ValueError(f"{item.name} is {value!r:.40}, not {words}")


@dataclass(frozen=True)
class PreprocessParams:
    """Everything that changes ``preprocess``'s output besides the input bytes."""

    min_rating: float = setting(7.0, "Ratings at or above this count as liked.", Range())
    min_user_items: int = setting(10, "k-core: keep users with at least this many liked anime.", Range(1, whole=True))
    min_item_users: int = setting(10, "k-core: keep anime liked by at least this many users.", Range(1, whole=True))
    holdout: str = setting("auto", "Held-out items: random (unordered data) or last (ordered); auto picks.")
    seed: int = setting(0, "Seed of the random hold-out.", Range(0, SEED_MAX, whole=True))


EASE_LAMBDA = 500.0
"""EASE's L2 weight where one fixed value is wanted (``training.evaluate.ease_scorer``'s default);
``animerec eval --baselines`` chooses it on validation instead (``training.peers.EASE_GRID``)."""
PEER_NAMES = ("popularity", "ease", "itemknn", "rp3beta", "vae")
"""Every peer ``animerec eval --baselines`` can score (``training.peers.PEERS``)."""


@dataclass(frozen=True)
class EvalConfig:
    """``animerec eval``'s settings: how the held-out items are ranked, and the peers scored beside the model."""

    split: str = setting("test", "Which held-out item to rank.")
    negatives: int = setting(0, "0 = full ranking; N = rank against N sampled negatives.", Range(0, whole=True))
    sampler: str = setting("uniform", "How sampled negatives are drawn.")
    peers: str = setting(
        "popularity,ease,itemknn,rp3beta",
        f"With --baselines: the peers to score, comma-separated, from {', '.join(PEER_NAMES)}; each is tuned on validation "
        "(by NDCG@10, full ranking), then fitted once on the split's inputs. vae (Mult-VAE) trains a network: many minutes on a CPU, so it is left out unless named.",
    )
    ease_lambda: float | None = setting(None, "EASE regularisation, one fixed value instead of the validation grid.", _POSITIVE)
    seed: int = setting(0, "Seed of the sampled negatives.", Range(0, SEED_MAX, whole=True))


@dataclass(frozen=True)
class Recipe:
    """A model's recipe by name: how its ratings were preprocessed and what its training changes
    from ``TrainConfig``'s defaults (the rest is ``resolve_config``'s, by the data)."""

    name: str
    preprocess: PreprocessParams
    train: dict
    """``TrainConfig`` or ``ModelConfig`` fields by name."""

    def __post_init__(self) -> None:
        TrainConfig(**{k: v for k, v in self.train.items() if k in _TRAIN_FIELDS})  # a typo here fails at import, not at the build's end
        unknown = set(self.train) - _TRAIN_FIELDS - _MODEL_FIELDS
        if unknown:
            raise TypeError(f"recipe {self.name}: unknown settings {sorted(unknown)}")


TRAIN_DEFAULTS = defaults_of(TrainConfig)
"""Every training setting's default (what a run gets unless the data or the user says otherwise)."""
MODEL_DEFAULTS = defaults_of(ModelConfig)


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


SHIPPED = Recipe("shipped", PreprocessParams(min_rating=7.0, min_user_items=5, min_item_users=5), {"epochs": 25, "average_epochs": 2.0})
"""The shipped model's recipe (``scripts/build_default_model.py``; Data/MODEL_CARD.md): the real
MAL ratings at 7 or more in a 5-core, 25 epochs, the weights averaged over about 2 epochs
(``--average-epochs``: chosen on validation, benchmarks/RESULTS.md), every other setting the
default. A bare ``animerec train`` (no ``--data``) trains on that data with it."""


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
    import numpy as np

    from training.catalog import Catalog
    from training.genres import genre_table

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
    if overrides.get("loss") == "sampled" and readout != "items":
        raise UserError("--loss sampled is for the items readout; the mask readout's full softmax is already cheap: leave out --loss")
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
    import numpy as np

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
    known.setdefault("average_epochs", 0.0)  # a run saved before weight averaging existed never averaged, whatever today's default
    try:
        return TrainConfig(**{**known, **overrides})
    except ValueError as exc:
        raise UserError(f"{where}: train_config.{exc}; the run is damaged and cannot be resumed") from None

"""The model's architecture as data (``ModelConfig``), and the sizes it implies, without torch.

Saved in every checkpoint's meta.json; read by the training code and by the torch-free
inference path (``numpy_model``) alike.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any, Literal

Readout = Literal["items", "mask"]
READOUTS: tuple[Readout, ...] = ("items", "mask")
Pooling = Literal["mean", "fields"]
POOLINGS: tuple[Pooling, ...] = ("mean", "fields")
MAX_LEN_LIMIT = 4096
"""Longest input a model may take: attention is quadratic in it, and inference pads to it."""


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take: ``low`` to ``high``, ``low`` itself left out when ``above``.

    One rule for the dataclass that checks itself and for the command-line option made from
    the field (``animerec_tui.options.config_option``)."""

    low: float = -math.inf
    high: float = math.inf
    above: bool = False
    whole: bool = False

    def holds(self, value: object) -> bool:
        """Whether ``value`` is such a number (never a bool; NaN and infinity never are)."""
        if isinstance(value, bool) or not isinstance(value, int if self.whole else (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return (value > self.low if self.above else value >= self.low) and value <= self.high

    def rule(self) -> str:
        """What a value must be, in words: 'a whole number from 1 to 1,048,576', 'a number above 0'."""
        kind = "a whole number" if self.whole else "a number"
        if self.high == math.inf:
            return f"{kind} above {self.low:,g}" if self.above else f"{kind} of at least {self.low:,g}"
        if self.above:
            return f"{kind} above {self.low:,g}, at most {self.high:,g}"
        return f"{kind} from {self.low:,g} to {self.high:,g}" if not self.whole else f"{kind} from {int(self.low):,} to {int(self.high):,}"


def setting(default: Any = MISSING, help: str = "", range: Range | None = None) -> Any:
    """A configuration field with its default, its help and its range: the one place each is written."""
    return field(default=default, metadata={"help": help, "range": range})


def setting_of(cls: type, name: str) -> Field:
    """``cls``'s field ``name`` (a KeyError names an unknown one)."""
    found = {f.name: f for f in fields(cls)}
    return found[name]


def defaults_of(cls: type) -> dict[str, Any]:
    """Every field of ``cls`` that has a default, with it."""
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def range_of(cls: type, name: str) -> Range | None:
    return setting_of(cls, name).metadata.get("range")


def _whole(low: int, high: int) -> Range:
    return Range(low, high, whole=True)


@dataclass
class ModelConfig:
    """Architecture; saved with every checkpoint. Defaults are the shipped model's (a set of MAL anime).

    It checks itself on construction: a ``ValueError`` whose message starts with the field's
    name says which field no model can be built from (a bad flag or a damaged meta.json).
    """

    num_items: int = setting(range=_whole(1, 1 << 31))
    max_len: int = setting(128, "Longest input; longer lists are subsampled each epoch.", _whole(2, MAX_LEN_LIMIT))
    hidden: int = setting(64, "Hidden size.", _whole(1, 1 << 16))
    layers: int = setting(2, "Transformer blocks.", _whole(1, 1024))
    heads: int = setting(4, "Attention heads.", _whole(1, 1 << 16))
    dropout: float = setting(0.1, "Dropout.", Range(0, 0.9))
    positional: bool = False
    genres: bool = True
    num_genres: int = setting(0, range=_whole(0, 1 << 16))
    genres_per_item: int = setting(0, range=_whole(0, 1 << 10))
    readout: Readout = "items"
    """items: every item of the set votes (sets only); mask: the mask token's vector (classic BERT4Rec)."""
    num_rated: int = setting(0, range=_whole(0, 1 << 31))
    """Items 1..num_rated have a learnt per-anime part; the rest are known from metadata only. 0: all."""
    meta_bias: bool = False
    """An output bias from the metadata tokens too (needs genres), so unrated items get a prior."""
    pooling: Pooling = "mean"
    """How metadata tokens pool: mean of all, or per-field means summed (``genres.token_weights``)."""
    vote_temperature: float = setting(1.0, "Items readout at inference: a score is T x logsumexp(votes / T); below 1 it leans toward a candidate's strongest votes.", Range(0.05, 20.0))
    """Items readout at inference: a score is T * logsumexp(votes / T) (and a vote's share its
    softmax weight at T); below 1 it leans toward a candidate's strongest votes. Training is at
    1; ``scripts/calibrate_readout.py`` chooses it on the validation split."""
    bias_weight: float = setting(1.0, "At inference the output bias (the popularity prior) counts this many times.", Range(0.0, 20.0))
    """At inference the output bias (the popularity prior) counts this many times; chosen with
    ``vote_temperature``."""

    def __post_init__(self) -> None:
        # Bounded so that a damaged meta.json cannot ask for a model that would allocate without limit.
        for item in fields(self):
            bounds, value = item.metadata.get("range"), getattr(self, item.name)
            if bounds is not None and bounds.whole and not bounds.holds(value):
                raise ValueError(f"{item.name} is {value!r:.40} (must be from {int(bounds.low)} to {int(bounds.high)})")
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not divisible by heads {self.heads}")
        for name in ("dropout", "vote_temperature", "bias_weight"):
            bounds, number = range_of(ModelConfig, name), getattr(self, name)
            if bounds is not None and not bounds.holds(number):
                raise ValueError(f"{name} is {number!r:.40} (must be from {bounds.low:g} to {bounds.high:g})")
        for name in ("positional", "genres"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} is {getattr(self, name)!r:.40} (must be true or false)")
        if self.readout not in READOUTS:
            raise ValueError(f"readout is {self.readout!r:.40} (must be items or mask)")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling is {self.pooling!r:.40} (must be mean or fields)")
        if self.num_rated > self.num_items:
            raise ValueError(f"num_rated is {self.num_rated} (must be at most num_items {self.num_items})")
        if self.meta_bias and not self.genres:
            raise ValueError("meta_bias needs the metadata input (genres)")
        if self.rated < self.num_items and not self.genres:
            raise ValueError("items beyond num_rated are known from metadata only; they need the metadata input (genres)")
        if self.readout != "items" and (self.vote_temperature != 1.0 or self.bias_weight != 1.0):
            raise ValueError("vote_temperature and bias_weight are for the items readout only (must be 1 with readout mask)")
        if self.readout == "items" and self.positional:
            raise ValueError("readout items reads a set; it cannot go with positional (use readout mask)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def mask_id(self) -> int:
        return self.num_items + 1

    @property
    def vocab_size(self) -> int:
        return self.num_items + 2

    @property
    def rated(self) -> int:
        """How many items (ids 1..rated) have a learnt per-anime part."""
        return self.num_rated or self.num_items


def parameter_count(config: ModelConfig) -> int:
    """Parameters of a model built from ``config``, computed without building it."""
    h = config.hidden
    count = config.vocab_size * h + config.num_items + 2 * h  # items, output bias, embedding norm
    count += config.max_len * h if config.positional else 0
    count += (config.num_genres + 1) * h if config.genres else 0
    count += config.num_genres + 1 if config.meta_bias else 0
    count += config.layers * (12 * h * h + 13 * h)  # qkv, projection, feed-forward, two norms
    return count + h * h + 5 * h  # final norm and head


def training_bytes(config: ModelConfig, batch_size: int) -> int:
    """A lower bound on the memory a training step needs, in bytes (fp32).

    Weights, gradients and AdamW's two moments, the activations the backward pass keeps
    (about 16 floats per token and hidden unit per block, plus the attention weights), and
    the catalogue scores: one row per masked item, or, for the items readout, one per item.
    """
    tokens = batch_size * config.max_len
    activations = config.layers * (16 * tokens * config.hidden + batch_size * config.heads * config.max_len**2)
    scores = (3 * tokens if config.readout == "items" else tokens) * config.rated
    return 4 * (4 * parameter_count(config) + activations + scores)

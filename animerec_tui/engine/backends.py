"""A trained model loaded as something that scores requests: numpy for the models it can run
(set models with the items readout: the shipped one), torch for the rest.

Both give the one interface the engine ranks with (``RequestScorer``): encode requests once,
then bounds of their scores, exact scores of the few columns that can make a list, the reasons'
vote shares, and the output table. The numpy path never imports torch: a process that
imports it takes 1.4 to 1.6 s, one with numpy alone 0.08 (the project's 2-core AMD EPYC).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from animerec_tui.engine.runtime import limit_blas_threads

if TYPE_CHECKING:
    from training.model import BERT4Rec
    from training.model_config import ModelConfig


class RequestScorer(Protocol):
    """What the engine asks of a model: encode requests once, then their scores and the reasons' vote shares."""

    def encode(self, rows: list[list[int]]) -> Any:
        """Requests (favourites as dense ids, each list non-empty) after the model's forward pass."""
        ...

    def scores(self, encoded: Any, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Exact scores (len(users), len(columns)) of encoded requests ``users`` (sorted) for output ``columns`` (sorted)."""
        ...

    def bounds(self, encoded: Any, users: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper and lower bounds of ``scores`` (the lower one need not hold for a user's own favourites)."""
        ...

    def shares(self, encoded: Any, user: int, favourites: np.ndarray, columns: np.ndarray) -> np.ndarray | None:
        """Each favourite's share of each column's score (len(columns), len(favourites)); None where the readout has no such split."""
        ...


@dataclass(frozen=True)
class Backend:
    """A loaded model: its scorer, its meta (vocabulary, configuration), its output table (weights, bias) in numpy."""

    scorer: RequestScorer
    meta: dict
    table: tuple[np.ndarray, np.ndarray]
    config: ModelConfig


def load_backend(model_dir: Path, device: str = "cpu", threads: int | None = None) -> Backend:
    """The model in ``model_dir`` on ``device``: numpy where it can run it on the CPU, else torch."""
    from training.numpy_model import NumpyScorer, load_numpy_model

    loaded = load_numpy_model(model_dir) if device == "cpu" else None
    if loaded is None:
        return _load_torch(model_dir, device, threads)
    limit_blas_threads(threads)
    model, meta = loaded
    table = model.output_table()
    return Backend(NumpyScorer(model, table), meta, table, model.config)


def _load_torch(model_dir: Path, device: str, threads: int | None) -> Backend:
    import torch

    from training.checkpoint import load_model

    if threads is not None:
        torch.set_num_threads(threads)
    model, meta = load_model(model_dir, device)
    with torch.no_grad():
        table = model.output_table()
    numpy_table = (table[0].float().cpu().numpy(), table[1].float().cpu().numpy())
    return Backend(TorchScorer(model, table, device), meta, numpy_table, model.config)


@dataclass(frozen=True)
class _Scored:
    """Requests scored in full by ``TorchScorer.encode``."""

    scores: np.ndarray
    """(requests, every column)."""


class TorchScorer:
    """A torch model's full scores behind ``RequestScorer``, for the models the numpy path does
    not take (the mask readout, positional models) and for devices other than the CPU. The
    scores are exact, so the bounds are the scores themselves; the ranking is the same."""

    def __init__(self, model: BERT4Rec, table: Any, device: str) -> None:
        self.model = model
        self.table = table
        self.device = device

    def encode(self, rows: list[list[int]]) -> _Scored:
        """Every column's score of each request (the cloze query the model was trained for)."""
        from training.scoring import score_users

        counts = [len(r) for r in rows]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        items = np.asarray([i for r in rows for i in r], dtype=np.int64)
        return _Scored(score_users(self.model, offsets, items, np.arange(len(rows)), False, self.device, self.table).cpu().numpy())

    def scores(self, encoded: _Scored, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return encoded.scores[np.ix_(np.asarray(users), np.asarray(columns))]

    def bounds(self, encoded: _Scored, users: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = self.scores(encoded, users, columns)
        return scores, scores.copy()

    def shares(self, encoded: _Scored, user: int, favourites: np.ndarray, columns: np.ndarray) -> np.ndarray | None:
        """The items readout's vote shares (one more forward pass); None for the mask readout."""
        if self.model.config.readout != "items":
            return None
        from training.scoring import vote_shares

        return vote_shares(self.model, np.asarray(favourites, dtype=np.int64), np.asarray(columns), self.device, self.table)

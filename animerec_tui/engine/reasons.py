"""Why each anime is on a list: the favourites that make up most of its score."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LIST_REASON = "your whole list"
"""The reason of a result that no single favourite carries: the model's vote of the whole
list (its mask token), shown without a share."""
SHOWN = 0.01
"""The least share a favourite needs to be a reason: below it the share would read "0%"."""

Shares = Callable[[np.ndarray], "np.ndarray | None"]
"""A request's vote shares of some columns: (len(columns), favourites); None where the readout has no such split."""


class Reasons:
    """For each result, the favourites that make up most of its score, with their shares.

    With the items readout the score is the log-sum-exp of every favourite's vote, so a
    favourite's share of it is exact (``vote_shares``): these are the model's own reasons.
    With the mask readout no such split exists; the reasons are then the favourites nearest
    to the result in the model's item space, without a share.

    What a row of shares leaves (1 - its sum) is the list as a whole's: the vote of the
    model's mask token, which stands for the whole list (and, with the item-item blend, the
    part of the score no favourite's own weight explains). It competes with the favourites
    as one more reason, shown as ``LIST_REASON`` without a share; a part under ``SHOWN`` is
    never a reason (so none reads "0%"), and every result has at least one.
    """

    def __init__(self, weights: np.ndarray, title: Callable[[int], str], per_item: int = 2) -> None:
        self._weights = weights
        self._unit: np.ndarray | None = None
        self.title = title
        """A dense id's title."""
        self.per_item = per_item

    @property
    def unit(self) -> np.ndarray:
        """The output table's rows at unit length (made when first asked: the shipped model never needs them)."""
        if self._unit is None:
            self._unit = self._weights / np.maximum(np.linalg.norm(self._weights, axis=1, keepdims=True), 1e-12)
        return self._unit

    def of(self, known: list[int], top: np.ndarray, shares: Shares | None) -> list[list[tuple[str, float | None]]]:
        """Reasons for the columns ``top`` of a request with favourites ``known`` (dense ids); none without ``shares``."""
        if not known or shares is None:
            return [[] for _ in top]
        split = shares(np.asarray(top))
        if split is not None:
            whole = np.clip(1.0 - split.sum(axis=1, keepdims=True), 0.0, 1.0)
            split = np.concatenate([split, whole], axis=1)  # the list as a whole: the last "favourite"
            best = np.argsort(-split, axis=1, kind="stable")[:, : self.per_item]
            out: list[list[tuple[str, float | None]]] = []
            for row, cols in enumerate(best):
                chosen = [c for c in cols.tolist() if split[row, c] >= SHOWN]
                if not chosen:  # every favourite under SHOWN: the list's part is then all but a few percent
                    chosen = [len(known)]
                out.append([(LIST_REASON, None) if c == len(known) else (self.title(known[c]), float(split[row, c])) for c in chosen])
            return out
        similarity = self.unit[np.asarray(top)] @ self.unit[np.asarray(known) - 1].T
        best = np.argsort(-similarity, axis=1)[:, : self.per_item]
        return [[(self.title(known[c]), None) for c in row] for row in best]

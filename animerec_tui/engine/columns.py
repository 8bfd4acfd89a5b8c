"""The catalogue as columns of the model's output (column j is dense id j + 1): each anime's
type, sequel and adult flags, year, franchise and genres as arrays, and which pass a request's
filters (``Columns.allowed``)."""

from __future__ import annotations

import numpy as np

from animerec_tui.engine.types import Filters


class Columns:
    """Per-column catalogue facts, built once from the catalogue entries of the model's anime."""

    def __init__(self, item_ids: np.ndarray, entries: list[dict]) -> None:
        self.item_ids = item_ids
        self.entries = entries
        """Each column's catalogue entry."""
        self.type_of = np.asarray([e.get("type") or "" for e in entries])
        self.sequel = np.asarray([bool(e.get("is_sequel")) for e in entries])
        self.adult = np.asarray([bool(e.get("is_adult")) for e in entries])
        # 0 stands for an unknown year: no range (years 1900..2100 at the CLI) ever includes it.
        self.year_of = np.asarray([e.get("year") or 0 for e in entries], dtype=np.int32)
        # A catalogue without franchises (an older one) makes every anime its own.
        self.franchise_of = np.asarray([e.get("franchise") or e["mal_id"] for e in entries], dtype=np.int64)
        """Each column's franchise, as the MAL id of its first entry."""
        self.first_of_franchise = self.franchise_of == self.item_ids
        _, self.franchise_index = np.unique(self.franchise_of, return_inverse=True)
        """Each column's franchise as 0..F-1, for counting per franchise without sorting."""
        self.franchise_count = int(self.franchise_index.max()) + 1 if self.franchise_index.size else 0
        self._by_franchise = np.argsort(self.franchise_index, kind="stable")
        self._franchise_start = np.searchsorted(self.franchise_index[self._by_franchise], np.arange(self.franchise_count + 1))
        """Columns by franchise: franchise f's columns are ``_by_franchise[_franchise_start[f]:_franchise_start[f + 1]]``."""
        self.largest_franchise = int(np.diff(self._franchise_start).max(initial=1))
        self.franchise_head = np.full(self.franchise_count, -1, dtype=np.int64)
        """Each franchise's first entry (the column whose MAL id names the franchise), -1 where the model lacks it."""
        self.franchise_head[self.franchise_index[self.first_of_franchise]] = np.flatnonzero(self.first_of_franchise)
        self.genre_names = sorted({g for e in entries for g in e.get("genres", [])})
        index = {g: i for i, g in enumerate(self.genre_names)}
        self.genre_matrix = np.zeros((len(entries), len(self.genre_names)), dtype=bool)
        genres = [entry.get("genres", ()) for entry in entries]
        columns = [index[g] for names in genres for g in names]  # flat ints: (row, column) tuples took 0.1 s of every start
        rows = np.repeat(np.arange(len(entries)), [len(names) for names in genres])
        self.genre_matrix[rows, np.asarray(columns, dtype=np.intp)] = True

    def allowed(self, filters: Filters, dense: dict[int, int]) -> np.ndarray:
        """Boolean mask over the columns that pass ``filters`` (``dense``: MAL id to dense id, for ``exclude``)."""
        ok = ~self.adult if filters.hide_adult else np.ones(self.item_ids.size, dtype=bool)
        if filters.types:
            ok &= np.isin(self.type_of, list(filters.types))
        if filters.hide_sequels:
            ok &= ~self.sequel & self.first_of_franchise
        if filters.years:
            ok &= self.year_of > 0
            if filters.year_from is not None:
                ok &= self.year_of >= filters.year_from
            if filters.year_to is not None:
                ok &= self.year_of <= filters.year_to
        for genres, want in ((filters.include_genres, True), (filters.exclude_genres, False)):
            columns = [self.genre_names.index(g) for g in genres if g in self.genre_names]
            if genres and not columns and want:
                return np.zeros_like(ok)
            if columns:
                hit = self.genre_matrix[:, columns].any(axis=1)
                ok &= hit if want else ~hit
        excluded = [dense[m] - 1 for m in filters.exclude if m in dense]
        ok[excluded] = False
        return ok

    def members(self, franchises: np.ndarray) -> np.ndarray:
        """Every column of ``franchises`` (franchise indices, without repeats)."""
        start, stop = self._franchise_start[franchises], self._franchise_start[franchises + 1]
        sizes = stop - start
        return self._by_franchise[np.repeat(start - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))]

    def franchise(self, column: int) -> np.ndarray:
        """The columns of ``column``'s franchise (itself included), by column."""
        return np.flatnonzero(self.franchise_of == self.franchise_of[column])


class FranchiseRuns:
    """Allowed columns grouped by franchise, per span of them (each grouping made when first asked)."""

    def __init__(self, kinds: np.ndarray) -> None:
        self.kinds = kinds
        """Each allowed column's franchise index."""
        self._spans: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    @staticmethod
    def of_columns(columns: Columns, allowed: np.ndarray) -> FranchiseRuns | None:
        """The runs of ``allowed`` (sorted columns); None when no two of them share a franchise."""
        kinds = columns.franchise_index[allowed]
        return None if np.bincount(kinds, minlength=1).max(initial=0) <= 1 else FranchiseRuns(kinds)

    def of(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Columns ``start:stop`` (as positions from ``start``) by franchise, and where each franchise's run begins."""
        if (start, stop) not in self._spans:
            kinds = self.kinds[start:stop]
            order = np.argsort(kinds, kind="stable")
            ordered = kinds[order]
            self._spans[start, stop] = (order, np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])))
        return self._spans[start, stop]


def positions(columns: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where those of ``wanted`` that ``columns`` (sorted) holds are in it."""
    at = positions_of(columns, wanted)
    return at[at >= 0]


def positions_of(columns: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` is in ``columns`` (sorted); -1 where it is not."""
    at = np.searchsorted(columns, wanted)
    found = at < columns.size
    found[found] = columns[at[found]] == wanted[found]
    return np.where(found, at, -1)

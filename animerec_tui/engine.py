"""The inference engine: a trained model plus the catalogue, answering recommendation requests.

Loads once, then each request is one small forward pass (favourites + a mask token, read
at the mask, exactly the cloze query the model was trained for), a masked top-k over the
catalogue, and a short reason per result. Never imports Textual.
"""

from __future__ import annotations

import bisect
import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

import numpy as np

from animerec_tui.catalog import load_catalog
from animerec_tui.paths import data_dir
from training.catalog import Catalog, as_catalog
from training.errors import UserError

if TYPE_CHECKING:
    from training.model import BERT4Rec
    from training.numpy_model import NumpyModel


class RequestScorer(Protocol):
    """What the engine asks of a scorer (``numpy_model.NumpyScorer`` or ``scoring.SetScorer``):
    encode requests once, then their scores and the reasons' vote shares."""

    def encode(self, rows: list[list[int]]) -> Any: ...

    exact_bounds: bool
    """Whether ``bounds`` returns the scores themselves."""

    def scores(self, encoded: Any, users: np.ndarray, columns: np.ndarray) -> np.ndarray: ...

    def bounds(self, encoded: Any, users: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper and lower bounds of ``scores`` (the lower one need not hold for a user's own favourites)."""
        ...

    def shares(self, encoded: Any, user: int, favourites: np.ndarray, columns: np.ndarray) -> np.ndarray: ...


class FranchiseRuns:
    """Allowed columns grouped by franchise, per span of them (each grouping made when first asked)."""

    def __init__(self, kinds: np.ndarray) -> None:
        self.kinds = kinds
        """Each allowed column's franchise index."""
        self._spans: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def of(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Columns ``start:stop`` (as positions from ``start``) by franchise, and where each franchise's run begins."""
        if (start, stop) not in self._spans:
            kinds = self.kinds[start:stop]
            order = np.argsort(kinds, kind="stable")
            ordered = kinds[order]
            self._spans[start, stop] = (order, np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])))
        return self._spans[start, stop]


def _no_reasons(columns: np.ndarray) -> np.ndarray:
    """A ``shares`` for requests answered without reasons: never called (``_reasons`` checks for it)."""
    raise AssertionError("reasons were not asked for")


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector off for a batch. A batch allocates a few containers per
    request and no cycles (reference counting frees them all), but each of the collector's
    full passes walks every object the process holds, the catalogue's 130,000 among them:
    two passes took 0.2 s of a 2,000-request batch's 3.6 (6%). Whoever paused it turns it back on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def limit_blas_threads(threads: int | None) -> None:
    """Hold numpy's BLAS (OpenBLAS in the numpy wheels) to ``threads`` for this process (None: leave it).

    On a busy 2-core machine a second BLAS thread waits on the busy core: one thread gave
    torch a p99 three to four times lower there (benchmarks/RESULTS.md, section 3)."""
    if threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")


def default_model_dir() -> Path:
    """The model shipped in ``Data/model``."""
    return data_dir() / "model"


@lru_cache(maxsize=64)
def _first_places(share: float, size: int) -> tuple[int, ...]:
    """For each n, the first place (from 1) whose first places may hold n + 1 new anime; size + 1 if none."""
    may_hold = [math.ceil(share * place - 1e-9) for place in range(1, size + 1)]
    return tuple(bisect.bisect_left(may_hold, n + 1) + 1 for n in range(size))


def spread_order(is_new: np.ndarray, share: float) -> np.ndarray:
    """An order of a best-first list, ``is_new`` marking its anime without ratings, in which
    every first n places hold at most ``ceil(share * n)`` of them (1 of the first 5, 2 of the
    first 10 at 0.2), each taking the first place the rule allows; once the rated ones run
    out, the rest follow.

    New one n (from 0, at ``new[n]``) goes to the first place after new one n - 1's that is
    past its own (every rated one before it comes first) and that the rule allows, or,
    sooner, where the rated ones run out: one step per new anime, not per place."""
    flags = is_new.tolist()
    size = len(flags)
    new = [at for at, flag in enumerate(flags) if flag]
    if not new:
        return np.arange(size)
    first = _first_places(float(share), size)
    rated_count = size - len(new)
    placed: dict[int, int] = {}
    last = 0  # the place (from 1) of the previous new one
    for n, at in enumerate(new):
        last = max(last + 1, at + 1, min(first[n], rated_count + n + 1))
        placed[last - 1] = at
    rated = iter([at for at, flag in enumerate(flags) if not flag])
    return np.asarray([placed[place] if place in placed else next(rated) for place in range(size)], dtype=np.int64)


def nth_largest(values: np.ndarray, n: int) -> float:
    """The ``n``-th largest of ``values`` (1 <= n <= values.size), by way of group maxima: the
    values go in g groups (value i in group i mod g, which is a max down the columns of a
    (rows, g) view), and the n best group maxima are n values at least as large as their
    least, t. The answer is among the values >= t, usually a few dozen: on 9,700 values
    14 us against np.partition's 55 (AMD EPYC)."""
    g = max(64, 4 * n)
    rows = values.size // g
    if rows >= 4:
        maxima = values[: rows * g].reshape(rows, g).max(axis=0)
        above = values[values >= np.partition(maxima, g - n)[g - n]]  # the last partial row's too
        if above.size >= n:  # else a NaN got in the way: the whole partition sorts it
            return float(np.partition(above, above.size - n)[above.size - n])
    return float(np.partition(values, values.size - n)[values.size - n])


@dataclass(frozen=True)
class Filters:
    """What may come back. Favourites and ``exclude`` never do."""

    types: frozenset[str] = frozenset()
    """Allowed types (TV, Movie, ...); empty means all."""
    hide_sequels: bool = False
    """Leave out every entry of a favourite's franchise, and every entry but the first of any franchise."""
    one_per_franchise: bool = True
    """Show only the best-scored entry of each franchise (the rest are counted in ``franchise_more``)."""
    hide_adult: bool = True
    include_genres: frozenset[str] = frozenset()
    """If set, a result must have at least one of these genres."""
    exclude_genres: frozenset[str] = frozenset()
    """A result must have none of these genres."""
    exclude: frozenset[int] = frozenset()
    """MAL ids never to recommend (already watched, not interested)."""
    novelty: float = 0.0
    """Not a filter but a lean, 0 to 1: how much of the model's popularity prior (its output
    bias) is taken out of every score. 0 is the model as trained, 1 ranks by fit to the
    favourites alone (benchmarks/RESULTS.md section 11 measures what it costs and gives)."""
    new_share: float = 0.2
    """At most this share of the results (rounded up) are anime without ratings, known from
    their metadata alone, and of every first n results at most ``ceil(new_share * n)`` (1 of
    the first 5, 2 of the first 10 at 0.2), unless too few rated anime pass the filters to
    fill the list; 1 ranks them freely among the rest. Their scores run high (nothing in the
    data holds them down): left free they take 13% of the test users' top-10 places and cost
    8% of NDCG@10 (benchmarks/RESULTS.md section 9 measures the trade)."""
    year_from: int | None = None
    """If set, a result must have started in this year or later."""
    year_to: int | None = None
    """If set, a result must have started in this year or earlier.

    With either bound set, anime whose year the catalogue does not know are left out: a
    range asks for anime known to be in it.
    """

    @property
    def years(self) -> bool:
        """Whether a year range is set."""
        return self.year_from is not None or self.year_to is not None


@dataclass
class Recommendation:
    """One recommended anime, with what a person needs to judge it."""

    mal_id: int
    title: str
    title_english: str | None
    type: str | None
    episodes: int | None
    genres: list[str]
    members: int | None
    score: float
    because: list[str] = field(default_factory=list)
    """The favourites that make up most of its score (items readout; see ``Engine._reasons``)."""
    url: str = ""
    year: int | None = None
    """The year it started, when the catalogue knows it."""
    rated: bool = True
    """Whether the model learnt it from ratings; False: known from its genres, studio and year only."""
    franchise_more: int = 0
    """Other entries of its franchise that passed the filters but were folded under it."""
    because_share: list[float | None] = field(default_factory=list)
    """Each ``because`` favourite's share of the score (0-1); None where the readout has no such split."""
    mal_score: float | None = None
    """Its mean score on MyAnimeList (1-10), when the catalogue has it."""

    def reasons(self) -> str:
        """``because`` as one line: titles with their shares, joined by " · " (no title contains it)."""
        return " · ".join(title if share is None else f"{title} {share:.0%}" for title, share in zip(self.because, self.because_share))

    def to_dict(self) -> dict:
        keys = ("mal_id", "title", "title_english", "type", "episodes", "year", "genres", "members", "mal_score", "score", "rated", "because", "because_share", "franchise_more", "url")
        return {k: getattr(self, k) for k in keys}


@dataclass
class Result:
    """Recommendations plus the favourites the model could not use."""

    items: list[Recommendation]
    unknown: list[int]


class Engine:
    """A loaded model and catalogue. Build once; ``recommend`` and ``similar`` are cheap."""

    def __init__(self, model_dir: Path | None = None, catalog: Catalog | list[dict] | None = None, device: str = "cpu", threads: int | None = None) -> None:
        """``threads``: the threads of this process's matrix arithmetic (None leaves the libraries'
        choice); the CLI and the TUI pass 1 unless told otherwise (see ``options.Threads``).

        On the CPU a set model with the items readout (the shipped one) runs in numpy
        (``training.numpy_model``), so answering never imports torch: about 1.2 s of every
        start. Other models (the mask readout, positional ones) and other devices use torch.
        """
        from training.numpy_model import NumpyScorer, load_numpy_model

        self.device = device
        self.model_dir = model_dir or default_model_dir()
        loaded = load_numpy_model(self.model_dir) if device == "cpu" else None
        self.scorer: RequestScorer | None
        self.model: NumpyModel | BERT4Rec
        if loaded is not None:
            limit_blas_threads(threads)
            self.model, self.meta = loaded
            self.table = self.model.output_table()
            self.scorer = NumpyScorer(self.model, self.table)
        else:
            self._load_torch(device, threads)
        self.catalog = load_catalog() if catalog is None else as_catalog(catalog)
        self.by_id = self.catalog.by_id
        vocab = self.meta["vocab"]
        if vocab.get("id_space") != "mal":
            raise UserError("this model was trained on raw item ids, not MyAnimeList ids; it cannot recommend anime")
        self.item_ids = np.asarray(vocab["item_ids"], dtype=np.int64)
        missing = [int(i) for i in self.item_ids if int(i) not in self.by_id]
        if missing:
            raise UserError(f"the model knows {len(missing):,} anime the catalogue lacks (e.g. MAL id {missing[0]}); model and catalogue do not match")
        self.dense = {int(mal): dense for dense, mal in enumerate(self.item_ids, start=1)}
        weights = self.table[0]
        self._unit = weights / np.maximum(np.linalg.norm(weights, axis=1, keepdims=True), 1e-12)
        self.num_rated = self.model.config.rated
        self.prior = self.table[1] * np.float32(self.model.config.bias_weight)
        """The popularity prior in every score: the output bias (per anime and from metadata), as weighted at inference."""
        self.chunk = 64
        """Requests answered together in ``recommend_many`` (64: the bounds of a chunk stay in cache; 256 ran 10% slower)."""
        self.shortlist = (200, 50)
        """How many rated and new columns the choice of a list walks at first (``_shortlisted``)."""
        self._attributes()

    def _load_torch(self, device: str, threads: int | None) -> None:
        """The model as a torch module, for what the numpy path does not take."""
        import torch

        from training.checkpoint import load_model
        from training.scoring import SetScorer

        if threads is not None:
            torch.set_num_threads(threads)
        self._torch_model, self.meta = load_model(self.model_dir, device)
        self.model = self._torch_model
        with torch.no_grad():
            self._torch_table = self._torch_model.output_table()
        self.table = (self._torch_table[0].float().cpu().numpy(), self._torch_table[1].float().cpu().numpy())
        self.scorer = SetScorer(self._torch_model, self._torch_table) if self._torch_model.config.readout == "items" else None

    def _attributes(self) -> None:
        entries = self._entries = [self.by_id[i] for i in self.item_ids.tolist()]
        self._fields: dict[int, tuple] = {}
        self.type_of = np.asarray([e.get("type") or "" for e in entries])
        self.sequel = np.asarray([bool(e.get("is_sequel")) for e in entries])
        self.adult = np.asarray([bool(e.get("is_adult")) for e in entries])
        # 0 stands for an unknown year: no range (years 1900..2100 at the CLI) ever includes it.
        self.year_of = np.asarray([e.get("year") or 0 for e in entries], dtype=np.int32)
        # A catalogue without franchises (an older one) makes every anime its own.
        self.franchise_of = np.asarray([e.get("franchise") or e["mal_id"] for e in entries], dtype=np.int64)
        self.first_of_franchise = self.franchise_of == self.item_ids
        _, self.franchise_index = np.unique(self.franchise_of, return_inverse=True)
        self.franchise_count = int(self.franchise_index.max()) + 1 if self.franchise_index.size else 0
        """Each column's franchise as 0..F-1, for counting per franchise without sorting."""
        self._by_franchise = np.argsort(self.franchise_index, kind="stable")
        self._franchise_start = np.searchsorted(self.franchise_index[self._by_franchise], np.arange(self.franchise_count + 1))
        """Columns by franchise: franchise f's columns are ``_by_franchise[_franchise_start[f]:_franchise_start[f + 1]]``."""
        self._largest_franchise = int(np.diff(self._franchise_start).max(initial=1))
        self._franchise_head = np.full(self.franchise_count, -1, dtype=np.int64)
        self._franchise_head[self.franchise_index[self.first_of_franchise]] = np.flatnonzero(self.first_of_franchise)
        """Each franchise's first entry (the column whose MAL id names the franchise), -1 where the model lacks it."""
        self.genre_names = sorted({g for e in entries for g in e.get("genres", [])})
        index = {g: i for i, g in enumerate(self.genre_names)}
        self.genre_matrix = np.zeros((len(entries), len(self.genre_names)), dtype=bool)
        genres = [entry.get("genres", ()) for entry in entries]
        columns = [index[g] for names in genres for g in names]  # flat ints: (row, column) tuples took 0.1 s of every start
        rows = np.repeat(np.arange(len(entries)), [len(names) for names in genres])
        self.genre_matrix[rows, np.asarray(columns, dtype=np.intp)] = True

    def knows(self, mal_id: int) -> bool:
        """Whether the model can use (and recommend) this anime: with a whole-catalogue model, every catalogue anime."""
        return int(mal_id) in self.dense

    def rated(self, mal_id: int) -> bool:
        """Whether the model learnt this anime from ratings (else it knows it from its metadata only)."""
        return self.dense.get(int(mal_id), self.num_rated + 1) <= self.num_rated

    def allowed(self, filters: Filters) -> np.ndarray:
        """Boolean mask over the model's items (column j = dense id j+1) that pass ``filters``."""
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
        excluded = [self.dense[m] - 1 for m in filters.exclude if m in self.dense]
        ok[excluded] = False
        return ok

    def _scores(self, dense_rows: list[list[int]]) -> np.ndarray:
        """Scores (rows, every column) of favourite lists as dense ids."""
        if self.scorer is not None:
            return self.scorer.scores(self.scorer.encode(dense_rows), np.arange(len(dense_rows)), np.arange(self.item_ids.size))
        from training.scoring import score_users

        counts = [len(r) for r in dense_rows]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        items = np.asarray([i for r in dense_rows for i in r], dtype=np.int64)
        users = np.arange(len(dense_rows))
        return score_users(self._torch_model, offsets, items, users, False, self.device, self._torch_table).cpu().numpy()

    def split_known(self, favourites: Iterable[int]) -> tuple[list[int], list[int]]:
        """Favourites as dense ids (duplicates dropped, order kept) and the MAL ids the model lacks."""
        known: list[int] = []
        unknown: list[int] = []
        seen: set[int] = set()
        for mal in favourites:
            mal = int(mal)
            if mal in seen:
                continue
            seen.add(mal)
            (known if mal in self.dense else unknown).append(self.dense.get(mal, mal))
        return known, unknown

    def recommend(self, favourites: Iterable[int], k: int = 20, filters: Filters = Filters()) -> Result:
        """Top ``k`` anime for a set of favourite MAL ids (order does not matter)."""
        return self.recommend_many([(list(favourites), filters)], k)[0]

    def recommend_many(self, requests: list[tuple[list[int], Filters]], k: int = 20, reasons: bool = True) -> list[Result]:
        """Answer many requests with batched forward passes.

        Requests of similar lengths go in chunks (``chunk``, 64): each chunk is encoded once, and its
        requests with the same filters are scored together, only over the anime their
        filters let through. ``reasons=False`` leaves every ``because`` empty: a program that
        reads only the picks (``recommend --batch``) saves their cost."""
        parsed = [self.split_known(favs) for favs, _ in requests]
        results: list[Result | None] = [None] * len(requests)
        # Chunks of similar lengths: a forward pass pads every row to its longest.
        rows = sorted((i for i, (known, _) in enumerate(parsed) if known), key=lambda i: len(parsed[i][0]))
        for i, (known, unknown) in enumerate(parsed):
            if not known:
                results[i] = Result(self._popular(k, requests[i][1], []), unknown)
        with cyclic_gc_paused():
            for start in range(0, len(rows), self.chunk):
                self._answer(requests, parsed, results, k, reasons, rows[start : start + self.chunk])
        return results  # type: ignore[return-value]

    def _answer(self, requests: list[tuple[list[int], Filters]], parsed: list[tuple[list[int], list[int]]], results: list[Result | None], k: int, reasons: bool, batch: list[int]) -> None:
        """Fill ``results`` for the requests ``batch`` (indices; each with a favourite the model knows)."""
        if self.scorer is None:
            scores = self._scores([parsed[i][0] for i in batch])
            for row, i in enumerate(batch):
                results[i] = self._result(scores[row], parsed[i], k, requests[i][1], shares=None if reasons else _no_reasons)
            return
        encoded = self.scorer.encode([parsed[i][0] for i in batch])
        groups: dict[Filters, list[int]] = {}
        for row, i in enumerate(batch):  # novelty and new_share change the ranking, not what may be shown
            groups.setdefault(replace(requests[i][1], novelty=0.0, new_share=0.0), []).append(row)
        for members in groups.values():
            allowed = self.allowed(requests[batch[members[0]]][1])
            columns = np.flatnonzero(allowed)
            # Bounds of every allowed column's score; the exact scores of the few that can
            # make the list (``_shortlisted``): the bounds skip the exps of every vote.
            upper, lower = self.scorer.bounds(encoded, np.asarray(members), columns)
            kinds = self.franchise_index[columns]
            runs = None if np.bincount(kinds, minlength=1).max(initial=0) <= 1 else FranchiseRuns(kinds)
            for n, row in enumerate(members):
                i = batch[row]
                shares = partial(self.scorer.shares, encoded, row, np.asarray(parsed[i][0])) if reasons else _no_reasons
                exact = partial(self._exact, encoded, row, columns, upper[n])
                top = self._shortlisted(columns, upper[n], lower[n], exact, parsed[i][0], k, requests[i][1], shares, runs)
                if top is None:  # too few rated anime pass for the quick walk's new-anime rule
                    full = np.full(allowed.size, -np.inf)
                    full[columns] = exact(np.arange(columns.size))
                    top = self._result(full, parsed[i], k, requests[i][1], allowed, shares).items
                results[i] = Result(top, parsed[i][1])

    def _exact(self, encoded: Any, row: int, columns: np.ndarray, upper: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Encoded request ``row``'s exact scores of ``columns[positions]`` (``upper``: its bounds of ``columns``)."""
        assert self.scorer is not None
        if self.scorer.exact_bounds:
            return upper[positions]
        return self.scorer.scores(encoded, np.asarray([row]), columns[positions])[0]

    def _result(self, scores: np.ndarray, parsed: tuple[list[int], list[int]], k: int, filters: Filters, allowed: np.ndarray | None = None, shares=None) -> Result:
        known, unknown = parsed
        leaned = scores - filters.novelty * self.prior if filters.novelty else scores
        return Result(self._top(leaned, known, k, filters, allowed, shares), unknown)

    def _popular(self, k: int, filters: Filters, known: list[int]) -> list[Recommendation]:
        """With no usable favourites: the model's learned popularity (its output bias)."""
        bias = self.prior.astype(np.float64)
        return self._top(bias, known, k, filters)

    def _top(self, scores: np.ndarray, known: list[int], k: int, filters: Filters, allowed: np.ndarray | None = None, shares=None) -> list[Recommendation]:
        """The top ``k`` of ``scores`` that pass ``filters`` (``allowed``, when the caller has
        it), in the order shown; ``shares(top)``: the favourites' vote shares of those columns,
        when the caller already has the request encoded."""
        allowed = self.allowed(filters) if allowed is None else allowed
        finite = np.isfinite(scores)
        if allowed.any() and not (finite & allowed).any():
            raise self._broken()
        # An overflowed score is no recommendation, and +inf would top every list.
        scores = np.where(allowed & finite, scores, -np.inf)
        if known:
            scores[np.asarray(known) - 1] = -np.inf
            if filters.hide_sequels:  # nothing more of what the user already knows
                scores[np.isin(self.franchise_of, self.franchise_of[np.asarray(known) - 1])] = -np.inf
        passing = np.isfinite(scores)
        k = min(k, int(passing.sum()))
        if k <= 0:
            return []
        some_new = filters.new_share < 1 and self.num_rated < scores.size
        if some_new:
            scores = self._few_new(scores, k, filters)
        available = int(np.isfinite(scores).sum())
        if filters.one_per_franchise:
            top = self._best_per_franchise(scores, k, available)
            more = np.bincount(self.franchise_index[passing], minlength=self.franchise_count)[self.franchise_index[top]] - 1
        else:
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.lexsort((top, -scores[top]))]
            more = np.zeros(top.size, dtype=np.int64)
        return self._shown(top, scores[top], more, known, filters, some_new, shares)

    def _broken(self) -> UserError:
        return UserError(f"{self.model_dir}: the model's scores are all NaN or infinite; it is broken, retrain or re-export it")

    def _shown(self, top: np.ndarray, values: np.ndarray, more: np.ndarray, known: list[int], filters: Filters, some_new: bool, shares=None) -> list[Recommendation]:
        """The chosen columns ``top`` (best first, with their scores and franchise counts) as
        recommendations, in the order shown and with their reasons."""
        if some_new:
            order = spread_order(top >= self.num_rated, filters.new_share)
            top, values, more = top[order], values[order], more[order]
        reasons = self._reasons(known, top, shares)
        return [self._recommendation(j, value, because, extra) for j, value, because, extra in zip(top.tolist(), values.tolist(), reasons, more.tolist())]

    def _members(self, franchises: np.ndarray) -> np.ndarray:
        """Every column of ``franchises`` (franchise indices, without repeats)."""
        start, stop = self._franchise_start[franchises], self._franchise_start[franchises + 1]
        sizes = stop - start
        return self._by_franchise[np.repeat(start - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))]

    @staticmethod
    def _positions(columns: np.ndarray, wanted: np.ndarray) -> np.ndarray:
        """Where those of ``wanted`` that ``columns`` (sorted) holds are in it."""
        at = np.searchsorted(columns, wanted)
        inside = at < columns.size
        at = at[inside]
        return at[columns[at] == wanted[inside]]

    def _shortlisted(self, columns: np.ndarray, upper: np.ndarray, lower: np.ndarray, exact: Callable[[np.ndarray], np.ndarray], known: list[int], k: int, filters: Filters, shares=None, runs: FranchiseRuns | None = None) -> list[Recommendation] | None:
        """``_top`` for the columns ``filters`` allow (``columns``, sorted), the same answer
        without passes over the whole catalogue per step, nor exact scores of all of them.
        ``upper``, ``lower``: bounds of each column's score (the lower one may fail for the
        user's favourites, which are never shown; both are written to); ``exact(positions)``: the scores of
        ``columns[positions]``; ``runs``: the columns by franchise, None when no two share one.

        The choice walks the columns whose upper bounds reach the k-th best lower bound (the
        k best scores are at least that), in order of their exact scores, and is final once
        its ``k`` places are filled by scores above every bound left out; else more columns
        are taken. None when too few rated anime (or franchises) pass for the new-anime
        rule's short form (``_few_new`` then decides)."""
        if filters.novelty:
            lean = np.float32(filters.novelty) * self.prior[columns]
            upper, lower = upper - lean, lower - lean
        finite = np.isfinite(upper)
        if not finite.all():  # an overflowed bound: no recommendation
            if columns.size and not finite.any():
                raise self._broken()
            upper[~finite] = lower[~finite] = -np.inf
        if known:
            seen = np.asarray(known) - 1
            # Nothing the user already knows, nor (hiding sequels) more of its franchises.
            # Hiding sequels lets only a franchise's first entry through: its head is all there is to hide.
            hidden = self._franchise_head[self.franchise_index[seen]] if filters.hide_sequels else seen
            at = self._positions(columns, hidden)
            upper[at] = lower[at] = -np.inf
        passing = upper > -np.inf
        count = int(np.count_nonzero(passing))
        k = min(k, count)
        if k <= 0:
            return []
        opf = filters.one_per_franchise
        some_new = filters.new_share < 1 and self.num_rated < self.item_ids.size
        split = int(np.searchsorted(columns, self.num_rated)) if some_new else columns.size
        in_rated = int(np.count_nonzero(passing[:split])) if some_new else count
        quota = k
        if some_new:
            rated = in_rated
            if opf and runs is not None and rated < k * self._largest_franchise:  # else there are k franchises for sure
                rated = int(np.unique(self.franchise_index[columns[:split][passing[:split]]]).size)
            if rated < k:
                return None
            quota = math.ceil(filters.new_share * k - 1e-9)
        scored = np.full(columns.size, np.nan)  # exact (leaned) scores, as they are needed
        # Rated and new columns are shortlisted apart (new ones score high, and but a few of them count).
        spans = [(0, split, k), (split, columns.size, quota)]
        reach = [self._reach(columns, lower, start, stop, need, runs if opf else None, available) for (start, stop, need), available in zip(spans, (in_rated, count - in_rated))]
        want = [max(4 * k, self.shortlist[0]), max(4 * quota, self.shortlist[1])]
        while True:
            lists, bounds = [], []
            for n, (start, stop, _) in enumerate(spans):
                span = upper[start:stop]
                if reach[n] > -np.inf:  # every column whose bound reaches it, and the best bound left out
                    taken = np.flatnonzero(span >= reach[n])
                    lists.append(start + taken)
                    rest = span.copy()  # a masked max (where=) takes 4x as long
                    rest[taken] = -np.inf
                    bounds.append(float(rest.max(initial=-np.inf)))
                elif want[n] < np.count_nonzero(span > -np.inf):
                    part = start + np.argpartition(-span, want[n])
                    lists.append(np.sort(part[: want[n]]))
                    bounds.append(float(upper[part[want[n]]]))  # every column left out scores at most this
                else:
                    lists.append(start + np.flatnonzero(span > -np.inf))
                    bounds.append(-np.inf)
            shortlist = np.concatenate(lists)
            todo = np.sort(shortlist[np.isnan(scored[shortlist])])
            if todo.size:
                fresh = exact(todo).astype(np.float64)
                if filters.novelty:
                    fresh -= filters.novelty * self.prior[columns[todo]]
                scored[todo] = np.where(np.isfinite(fresh), fresh, -np.inf)  # an overflowed score is no recommendation
            shortlist = shortlist[scored[shortlist] > -np.inf]
            shortlist = shortlist[np.argsort(-scored[shortlist], kind="stable")]  # best first; ties by column (it was sorted by column)
            if some_new:  # the walk takes the first ``quota`` new ones (one per franchise) and skips every later one
                new = np.flatnonzero(shortlist >= split)
                if opf and runs is not None:
                    firsts = np.sort(np.unique(self.franchise_index[columns[shortlist[new]]], return_index=True)[1])
                else:
                    firsts = np.arange(new.size)
                if firsts.size > quota:
                    shortlist = np.delete(shortlist, new[firsts[quota]:])
            values = scored[shortlist]
            chosen = self._walk(columns[shortlist], values, bounds[0], bounds[1], k, quota, opf, some_new)
            if isinstance(chosen, np.ndarray):
                break
            # Rare: the bounds were too loose for the rules (franchises, new anime) to fill the list.
            reach[chosen] = -np.inf
            want[chosen] = max(4 * want[chosen], 4 * lists[chosen].size)
        if not chosen.size:  # every column was scored, and not one score is finite
            raise self._broken()
        top = columns[shortlist[chosen]]
        more = np.zeros(top.size, dtype=np.int64)
        if opf and runs is not None:  # how many more of each one's franchise pass the filters
            kinds, which = np.unique(self.franchise_index[top], return_inverse=True)
            at = self._positions(columns, self._members(kinds))
            alive = self.franchise_index[columns[at[passing[at]]]]
            more = np.bincount(np.searchsorted(kinds, alive), minlength=kinds.size)[which.reshape(-1)] - 1
        return self._shown(top, values[chosen], more, known, filters, some_new, shares)

    def _reach(self, columns: np.ndarray, lower: np.ndarray, start: int, stop: int, need: int, runs: FranchiseRuns | None, available: int) -> float:
        """The ``need``-th best lower bound of ``columns[start:stop]`` (``available`` of them
        may be shown; one per franchise with ``runs``): the ``need`` best scores there are at
        least that. -inf when there are too few."""
        span = lower[start:stop]
        if need <= 0 or available < need:
            return -np.inf
        if runs is None:
            return nth_largest(span, need)
        if need <= 8:  # a few maxima (one per franchise) cost less than a partition of the span
            kinds: set[int] = set()
            taken: list[tuple[int, float]] = []
            while len(kinds) < need and len(taken) < min(available, 8 * need):  # else -inf: the walk widens
                place = int(np.argmax(span))
                taken.append((place, span[place]))
                kinds.add(int(self.franchise_index[columns[start + place]]))
                span[place] = -np.inf
            for place, value in taken:
                span[place] = value
            return float(taken[-1][1]) if len(kinds) >= need else -np.inf
        order, starts = runs.of(start, stop)  # each franchise's best lower bound
        span = np.maximum.reduceat(span[order], starts)
        if np.count_nonzero(span > -np.inf) < need:
            return -np.inf
        return nth_largest(span, need)

    def _walk(self, order: np.ndarray, values: np.ndarray, bound: float, new_bound: float, k: int, quota: int, opf: bool, some_new: bool) -> np.ndarray | int:
        """Positions in ``order`` (columns best first, scored ``values``) of the first ``k``
        that ``_top``'s rules take: at most ``quota`` anime without ratings (with ``some_new``;
        only the best of a franchise's new entries counts), one per franchise (``opf``).

        ``order`` holds every rated column scored above ``bound`` and every new one above
        ``new_bound`` (-inf: all of them). Where the walk would have to go past a score that
        a left-out column could beat, it stops and says which list is short: 0 the rated
        (or, without ``some_new``, the only) one, 1 the new one.
        """
        franchise = self.franchise_index[order].tolist()
        new = (order >= self.num_rated).tolist() if some_new else [False] * order.size
        picked: list[int] = []
        shown: set[int] = set()
        new_seen: set[int] = set()
        new_taken = 0
        for n, value in enumerate(values.tolist()):
            if value <= bound:
                return 0
            if new_taken < quota and value <= new_bound:  # a left-out new one could still take a place
                return 1
            f = franchise[n]
            if new[n]:
                if opf:
                    if f in new_seen:
                        continue
                    new_seen.add(f)
                new_taken += 1
                if new_taken > quota:
                    continue
            if opf:
                if f in shown:
                    continue
                shown.add(f)
            picked.append(n)
            if len(picked) == k:
                break
        if len(picked) < k and bound > -np.inf:
            return 0
        if len(picked) < k and new_taken < quota and new_bound > -np.inf:
            return 1
        return np.asarray(picked, dtype=np.int64)

    def _few_new(self, scores: np.ndarray, k: int, filters: Filters) -> np.ndarray:
        """``scores`` with all but the best ``ceil(new_share * k)`` anime without ratings set to
        -inf; more of them stay when too few rated anime (or, one per franchise, too few
        franchises) are left to fill ``k`` places."""
        rated, new = scores[: self.num_rated], scores[self.num_rated :]
        group = self.franchise_of if filters.one_per_franchise else np.arange(scores.size)
        finite = np.flatnonzero(np.isfinite(new))
        m = min(finite.size, max(4 * k, 200))  # the best m are enough unless a franchise repeats a lot
        while True:
            order = finite if m == finite.size else finite[np.argpartition(-new[finite], m - 1)[:m]]
            order = order[np.lexsort((order, -new[order]))]  # best first; ties by column, as a stable sort would
            if filters.one_per_franchise:  # only a franchise's best new entry can be shown
                _, first = np.unique(group[self.num_rated + order], return_index=True)
                order = order[np.sort(first)]
            if order.size >= k or m == finite.size:
                break
            m = min(finite.size, 4 * m)
        groups = self.franchise_index if filters.one_per_franchise else np.arange(scores.size)
        has_rated = np.bincount(groups[: self.num_rated][np.isfinite(rated)], minlength=groups.max() + 1) > 0
        rated_groups = int(np.count_nonzero(has_rated))
        quota = max(math.ceil(filters.new_share * k - 1e-9), k - rated_groups)
        while True:
            keep = order[:quota]
            if quota >= order.size or rated_groups >= k:
                break
            kept = np.unique(groups[self.num_rated + keep])
            if rated_groups + np.count_nonzero(~has_rated[kept]) >= k:
                break
            quota += 1
        capped = np.concatenate([rated, np.full(new.size, -np.inf)])
        capped[self.num_rated + keep] = new[keep]
        return capped

    def _best_per_franchise(self, scores: np.ndarray, k: int, available: int) -> np.ndarray:
        """The ``k`` best columns, at most one per franchise, best first."""
        m = min(available, max(4 * k, 200))
        while True:
            candidates = np.argpartition(-scores, m - 1)[:m]
            candidates = candidates[np.lexsort((candidates, -scores[candidates]))]  # ties by column, whatever the partition gave
            _, first = np.unique(self.franchise_of[candidates], return_index=True)
            if first.size >= k or m == available:
                return candidates[np.sort(first)[:k]]
            m = min(available, 4 * m)

    def franchise(self, mal_id: int) -> list[int]:
        """Every entry of ``mal_id``'s franchise the model knows (itself included), by year then MAL id."""
        column = self.dense.get(int(mal_id))
        if column is None:
            return [int(mal_id)]
        members = np.flatnonzero(self.franchise_of == self.franchise_of[column - 1])
        return sorted((int(self.item_ids[j]) for j in members), key=lambda m: (self.by_id[m].get("year") or 9999, m))

    def _reasons(self, known: list[int], top: np.ndarray, shares=None, per_item: int = 2) -> list[list[tuple[str, float | None]]]:
        """For each result, the favourites that make up most of its score, with their shares.

        With the items readout the score is the log-sum-exp of every favourite's vote, so a
        favourite's share of it is exact (``vote_shares``): these are the model's own reasons.
        With the mask readout no such split exists; the reasons are then the favourites
        nearest to the result in the model's item space, without a share.
        """
        if not known or shares is _no_reasons:
            return [[] for _ in top]
        if self.scorer is not None:
            if shares is None:
                shares = partial(self.scorer.shares, self.scorer.encode([known]), 0, np.asarray(known))
            split = shares(np.asarray(top))
            best = np.argsort(-split, axis=1, kind="stable")[:, :per_item]
            return [[(self._title(known[c]), float(split[row, c])) for c in cols] for row, cols in enumerate(best)]
        similarity = self._unit[np.asarray(top)] @ self._unit[np.asarray(known) - 1].T
        best = np.argsort(-similarity, axis=1)[:, :per_item]
        return [[(self._title(known[c]), None) for c in row] for row in best]

    def _title(self, dense: int) -> str:
        return self.by_id[int(self.item_ids[dense - 1])]["title"]

    def _recommendation(self, column: int, score: float, because: list[tuple[str, float | None]], franchise_more: int = 0) -> Recommendation:
        fields = self._fields.get(column)
        if fields is None:  # its catalogue fields, once per anime shown
            entry = self._entries[column]
            fields = self._fields[column] = (entry["mal_id"], entry["title"], entry.get("title_english"), entry.get("type"), entry.get("episodes"),
                                             tuple(entry.get("genres", [])), entry.get("members"), entry.get("url", ""), entry.get("year"), entry.get("score"))
        mal_id, title, english, kind, episodes, genres, members, url, year, mal_score = fields
        names, shares = ([name for name, _ in because], [None if share is None else round(share, 4) for _, share in because]) if because else ([], [])
        return Recommendation(
            mal_id=mal_id, title=title, title_english=english, type=kind, episodes=episodes, genres=list(genres), members=members, score=round(score, 4),
            because=names, url=url, year=year, rated=column < self.num_rated, franchise_more=franchise_more, because_share=shares, mal_score=mal_score,
        )

    def similar(self, mal_id: int, k: int = 10, filters: Filters = Filters()) -> list[Recommendation]:
        """Anime that people who liked ``mal_id`` also liked: the cloze query with it alone."""
        if int(mal_id) not in self.dense:
            where = "is not in the catalogue" if int(mal_id) not in self.by_id else "is not in this model (one trained on part of the catalogue)"
            raise UserError(f"MAL id {mal_id} {where}, so there are no similar anime for it")
        return self.recommend_many([([int(mal_id)], replace(filters, novelty=0.0))], k)[0].items

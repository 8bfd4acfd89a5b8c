"""The engine: a loaded model and the catalogue, answering recommendation requests.

Loads once (``backends``); then each chunk of requests is one forward pass, bounds of every
allowed anime's score, the exact scores of the few that can make each list, the list rules
(``ranking``) and a short reason per result (``reasons``). Never imports Textual.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from animerec_tui.catalog import load_catalog
from animerec_tui.defaults import RECOMMEND_TOP, SIMILAR_BLEND, SIMILAR_METADATA, SIMILAR_TOP
from animerec_tui.engine.backends import OffsetScorer, RequestScorer, blend_times, load_backend, runs_in_numpy
from animerec_tui.engine.columns import Columns, FranchiseRuns, positions_of
from animerec_tui.engine.news import NEW_SINCE, FranchiseIndex, FranchiseNews
from animerec_tui.engine.ranking import Candidates, Ranked, Ranking
from animerec_tui.engine.reasons import Reasons
from animerec_tui.engine.runtime import cyclic_gc_paused, default_model_dir
from animerec_tui.engine.types import Filters, Pick, Picks, Recommendation, Result
from training.catalog import Catalog, as_catalog
from training.errors import UserError


class Engine:
    """A loaded model and catalogue. Build once; ``recommend`` and ``similar`` are cheap."""

    def __init__(self, model_dir: Path | None = None, catalog: Catalog | list[dict] | None = None, device: str = "cpu", threads: int | None = None) -> None:
        """``threads``: the threads of this process's matrix arithmetic (None leaves the libraries'
        choice); the CLI and the TUI pass 1 unless told otherwise (see ``options.Threads``).

        On the CPU a set model with the items readout (the shipped one) runs in numpy
        (``training.numpy_model``), so answering never imports torch. Other models (the mask
        readout, positional ones) and other devices use torch (``backends``).
        """
        self.model_dir = model_dir or default_model_dir()
        backend = load_backend(self.model_dir, device, threads)
        self.scorer = backend.scorer
        self.similar_scorer: RequestScorer | None = blend_times(backend.scorer, SIMILAR_BLEND)
        """What ``similar`` ranks with: the item-item part ``SIMILAR_BLEND`` times as strong (None: the model has no blend, ``scorer`` then)."""
        self.similar_metadata = SIMILAR_METADATA
        """How far ``similar`` leans on metadata for an anime without ratings (``defaults.SIMILAR_METADATA``; 0: not at all)."""
        self.vectors = backend.table[0]
        """The output table (num_items, H): each anime's vector, from its metadata alone for one without ratings."""
        self._lengths: np.ndarray | None = None
        """Each vector's length (``_metadata_alike``)."""
        self.meta = backend.meta
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
        self.num_rated = backend.config.rated
        self.prior = backend.table[1] * np.float32(backend.config.bias_weight)
        """The popularity prior in every score: the output bias (per anime and from metadata), as weighted at inference."""
        self.chunk = 64
        """Requests answered together in ``recommend_many`` (64: the bounds of a chunk stay in cache; 256 ran 15% slower)."""
        self.columns = Columns(self.item_ids, [self.by_id[i] for i in self.item_ids.tolist()])
        self.franchise_of, self.first_of_franchise, self.year_of = self.columns.franchise_of, self.columns.first_of_franchise, self.columns.year_of
        self.genre_names = self.columns.genre_names
        self.ranking = Ranking(self.columns, self.num_rated, self._broken)
        self.reasons = Reasons(backend.table[0], self.title)
        self._fields: dict[int, tuple] = {}
        self._franchises: FranchiseIndex | None = None

    def knows(self, mal_id: int) -> bool:
        """Whether the model can use (and recommend) this anime: with a whole-catalogue model, every catalogue anime."""
        return int(mal_id) in self.dense

    def rated(self, mal_id: int) -> bool:
        """Whether the model learnt this anime from ratings (else it knows it from its metadata only)."""
        return self.dense.get(int(mal_id), self.num_rated + 1) <= self.num_rated

    def allowed(self, filters: Filters) -> np.ndarray:
        """Boolean mask over the model's items (column j = dense id j+1) that pass ``filters``."""
        return self.columns.allowed(filters, self.dense)

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

    def recommend(self, favourites: Iterable[int], k: int = RECOMMEND_TOP, filters: Filters = Filters()) -> Result:
        """Top ``k`` anime for a set of favourite MAL ids (order does not matter)."""
        return self.recommend_many([(list(favourites), filters)], k)[0]

    def recommend_many(self, requests: list[tuple[list[int], Filters]], k: int = RECOMMEND_TOP, reasons: bool = True, scorer: RequestScorer | None = None) -> list[Result]:
        """Answer many requests with batched forward passes.

        Requests of similar lengths go in chunks (``chunk``, 64): each chunk is encoded once, and its
        requests with the same filters are scored together, only over the anime their
        filters let through. ``reasons=False`` leaves every ``because`` empty: a program that
        reads only the picks saves their cost. A request with no
        favourite the model knows gets the model's learned popularity (its prior). ``scorer``:
        another scorer of the same model to rank with (``similar``'s); default ``self.scorer``."""
        return [Result(items, unknown) for items, unknown in self._many(requests, k, self._shown, reasons, scorer or self.scorer)]

    def pick_many(self, requests: list[tuple[list[int], Filters]], k: int = RECOMMEND_TOP) -> list[Picks]:
        """``recommend_many`` without reasons, each list as (MAL id, title, score) alone: the same
        lists, for a program that reads no more (``recommend --batch``), without building a
        full ``Recommendation`` per result."""
        return [Picks(items, unknown) for items, unknown in self._many(requests, k, self._picks, False, self.scorer)]

    def _many(self, requests: list[tuple[list[int], Filters]], k: int, shown: Callable[..., list[Any]], reasons: bool, scorer: RequestScorer) -> list[tuple[list[Any], list[int]]]:
        """Each request's list (``shown`` makes it from a ranked list, the favourites and the vote
        shares) and the favourites the model lacks; see ``recommend_many``."""
        parsed = [self.split_known(favs) for favs, _ in requests]
        results: list[tuple[list[Any], list[int]] | None] = [None] * len(requests)
        # Chunks of similar lengths: a forward pass pads every row to its longest.
        rows = sorted((i for i, (known, _) in enumerate(parsed) if known), key=lambda i: len(parsed[i][0]))
        for i, (known, unknown) in enumerate(parsed):
            if not known:
                results[i] = (shown(self._popular_ranked(k, requests[i][1]), [], None), unknown)
        with cyclic_gc_paused():
            for start in range(0, len(rows), self.chunk):
                self._answer(requests, parsed, results, k, reasons, rows[start : start + self.chunk], scorer, shown)
        return results  # type: ignore[return-value]

    def _answer(self, requests: list[tuple[list[int], Filters]], parsed: list[tuple[list[int], list[int]]], results: list[Any], k: int, reasons: bool, batch: list[int],
                scorer: RequestScorer, shown: Callable[..., list[Any]]) -> None:
        """Fill ``results`` for the requests ``batch`` (indices; each with a favourite the model knows)."""
        encoded = scorer.encode([parsed[i][0] for i in batch])
        groups: dict[Filters, list[int]] = {}
        for row, i in enumerate(batch):  # novelty and new_share change the ranking, not what may be shown
            groups.setdefault(replace(requests[i][1], novelty=0.0, new_share=0.0), []).append(row)
        for members in groups.values():
            columns = np.flatnonzero(self.allowed(requests[batch[members[0]]][1]))
            # Bounds of every allowed column's score; the exact scores of the few that can
            # make the list: the bounds skip the exps of every vote.
            upper, lower = self._bounds(scorer, encoded, np.asarray(members), columns, [parsed[batch[row]][0] for row in members], k)
            runs = FranchiseRuns.of_columns(self.columns, columns)
            for n, row in enumerate(members):
                i = batch[row]
                known, unknown = parsed[i]
                filters = requests[i][1]
                exact = partial(self._exact, scorer, encoded, row, columns)
                ranked = self.ranking.rank(Candidates(columns, upper[n], lower[n], exact, runs), known, k, filters, filters.novelty, self.prior)
                shares = partial(scorer.shares, encoded, row, np.asarray(known)) if reasons else None
                results[i] = (shown(ranked, known, shares), unknown)

    def _bounds(self, scorer: RequestScorer, encoded: Any, users: np.ndarray, columns: np.ndarray, favourites: list[list[int]], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of the scores of ``columns`` (sorted, the allowed ones) for encoded requests
        ``users``: ``scorer.bounds``, but for most anime without ratings. Those score far
        below the rated anime a list is sure to hold, and a cheap upper bound (no vote
        computed, ``cheap_upper``) shows it: the ones whose cheap bound stays below every
        user's ``reach_rank * k``-th best rated lower bound (favourites left out) keep it,
        with no lower bound (-inf); the rest get full bounds. With no more than a few rated
        anime allowed, every column gets full bounds. Right whatever the threshold: the
        ranking scores exactly every column whose upper bound reaches a list; the threshold
        only decides how many columns' votes are computed here (about half the distinct
        vectors of anime without ratings)."""
        split = int(np.searchsorted(columns, self.num_rated))
        rank = self.reach_rank * k
        if split < rank or columns.size - split < self.fewest_new:
            return scorer.bounds(encoded, users, columns)
        upper = np.empty((users.size, columns.size), dtype=np.float32)
        lower = np.full((users.size, columns.size), -np.inf, dtype=np.float32)
        upper[:, :split], lower[:, :split] = scorer.bounds(encoded, users, columns[:split])
        rated = lower[:, :split].copy()
        owner = np.repeat(np.arange(len(favourites)), [len(f) for f in favourites])
        at = positions_of(columns[:split], np.asarray([j for f in favourites for j in f], dtype=np.int64) - 1)
        rated[owner[at >= 0], at[at >= 0]] = -np.inf  # a favourite's lower bound need not hold
        reach = np.partition(rated, split - rank, axis=1)[:, split - rank]
        upper[:, split:] = scorer.cheap_upper(encoded, users, columns[split:])
        wanted = split + np.flatnonzero((upper[:, split:] >= reach[:, None]).any(axis=0))
        if wanted.size:
            upper[:, wanted], lower[:, wanted] = scorer.bounds(encoded, users, columns[wanted])
        return upper, lower

    reach_rank = 2
    """``_bounds``: anime without ratings whose cheap upper bound stays below the ``reach_rank * k``-th
    best rated lower bound of every request asked keep their cheap bound (a list of k may skip
    rated anime of a franchise already in it)."""
    fewest_new = 256
    """``_bounds``: with fewer anime without ratings allowed, all get full bounds."""

    def scores(self, rows: list[list[int]]) -> np.ndarray:
        """Every column's exact score (len(rows), columns) for favourite lists as dense ids, without any list rule."""
        return self.scorer.scores(self.scorer.encode(rows), np.arange(len(rows)), np.arange(self.item_ids.size))

    def title(self, dense: int) -> str:
        """The title of the anime with dense id ``dense``."""
        return self.by_id[int(self.item_ids[dense - 1])]["title"]

    def _exact(self, scorer: RequestScorer, encoded: Any, row: int, columns: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Encoded request ``row``'s exact scores of ``columns[positions]``."""
        return scorer.scores(encoded, np.asarray([row]), columns[positions])[0]

    def _popular_ranked(self, k: int, filters: Filters) -> Ranked:
        """With no usable favourites: the model's learned popularity (its output bias), by the same rules."""
        columns = np.flatnonzero(self.allowed(filters))
        prior = self.prior.astype(np.float64)[columns]
        candidates = Candidates(columns, prior.copy(), prior.copy(), prior.__getitem__, FranchiseRuns.of_columns(self.columns, columns))
        return self.ranking.rank(candidates, [], k, filters, 0.0, self.prior)

    def _broken(self) -> UserError:
        return UserError(f"{self.model_dir}: the model's scores are all NaN or infinite; it is broken, retrain or re-export it")

    def _shown(self, ranked: Ranked, known: list[int], shares: Any) -> list[Recommendation]:
        """A ranked list as recommendations, with their reasons."""
        because = self.reasons.of(known, ranked.columns, shares)
        return [self._recommendation(j, value, why, extra) for j, value, why, extra in zip(ranked.columns.tolist(), ranked.scores.tolist(), because, ranked.franchise_more.tolist())]

    def _picks(self, ranked: Ranked, known: list[int], shares: Any) -> list[Pick]:
        """A ranked list as picks (``pick_many``): the scores rounded as a ``Recommendation``'s."""
        entries = self.columns.entries
        return [Pick(entries[j]["mal_id"], entries[j]["title"], round(value, 4)) for j, value in zip(ranked.columns.tolist(), ranked.scores.tolist())]

    def _recommendation(self, column: int, score: float, because: list[tuple[str, float | None]], franchise_more: int = 0) -> Recommendation:
        fields = self._fields.get(column)
        if fields is None:  # its catalogue fields, once per anime shown
            entry = self.columns.entries[column]
            fields = self._fields[column] = (entry["mal_id"], entry["title"], entry.get("title_english"), entry.get("type"), entry.get("episodes"),
                                             tuple(entry.get("genres", [])), entry.get("members"), entry.get("url", ""), entry.get("year"), entry.get("score"))
        mal_id, title, english, kind, episodes, genres, members, url, year, mal_score = fields
        names, shares = ([name for name, _ in because], [None if share is None else round(share, 4) for _, share in because]) if because else ([], [])
        return Recommendation(
            mal_id=mal_id, title=title, title_english=english, type=kind, episodes=episodes, genres=list(genres), members=members, score=round(score, 4),
            because=names, url=url, year=year, rated=column < self.num_rated, franchise_more=franchise_more, because_share=shares, mal_score=mal_score,
        )

    def franchise(self, mal_id: int) -> list[int]:
        """Every entry of ``mal_id``'s franchise the model knows (itself included), by year then MAL id."""
        column = self.dense.get(int(mal_id))
        if column is None:
            return [int(mal_id)]
        members = self.columns.franchise(column - 1)
        return sorted((int(self.item_ids[j]) for j in members), key=lambda m: (self.by_id[m].get("year") or 9999, m))

    @property
    def forkable(self) -> bool:
        """Whether copies of this engine may be forked (``recommend --batch --jobs``): its model runs in numpy."""
        return runs_in_numpy(self.scorer)

    def similar(self, mal_id: int, k: int = SIMILAR_TOP, filters: Filters = Filters()) -> list[Recommendation]:
        """Anime that people who liked ``mal_id`` also liked: the cloze query with it alone, its
        item-item part ``SIMILAR_BLEND`` times as strong (``similar_scorer``), so the list is
        about that anime rather than what every fan likes. An anime without ratings has no
        item-item part: its metadata stands in (``_metadata_alike``)."""
        if int(mal_id) not in self.dense:
            where = "is not in the catalogue" if int(mal_id) not in self.by_id else "is not in this model (one trained on part of the catalogue)"
            raise UserError(f"MAL id {mal_id} {where}, so there are no similar anime for it")
        scorer = self.similar_scorer or self.scorer
        dense = self.dense[int(mal_id)]
        if dense > self.num_rated and self.similar_metadata > 0:
            scorer = OffsetScorer(scorer, self._metadata_alike(scorer, dense))
        return self.recommend_many([([int(mal_id)], replace(filters, novelty=0.0))], k, scorer=scorer)[0].items

    def _metadata_alike(self, scorer: RequestScorer, dense: int) -> np.ndarray:
        """What ``similar`` adds to each column's score for anime ``dense`` (one without ratings):
        ``similar_metadata`` standard deviations of its scores of the rated anime times the
        cosine of that anime's vector (its metadata alone) and each column's, standardised over
        the rated anime. Zeros where either spread is nil (no rated anime, no metadata)."""
        rated, nothing = self.num_rated, np.zeros(self.vectors.shape[0], dtype=np.float32)
        if not rated:
            return nothing
        if self._lengths is None:  # once, on first use
            self._lengths = np.sqrt(np.einsum("nh,nh->n", self.vectors, self.vectors))
        lengths = self._lengths * self._lengths[dense - 1]
        alike = np.divide(self.vectors @ self.vectors[dense - 1], lengths, out=nothing.copy(), where=lengths > 0).astype(np.float64)
        scores = scorer.scores(scorer.encode([[dense]]), np.zeros(1, dtype=np.int64), np.arange(rated))[0]
        spread, scale = float(np.std(alike[:rated])), float(np.std(scores))
        if not (spread > 0 and np.isfinite(scale) and scale > 0):
            return nothing
        return (self.similar_metadata * scale * (alike - alike[:rated].mean()) / spread).astype(np.float32)

    def new_in_franchises(self, favourites: Iterable[int], since: int = NEW_SINCE, filters: Filters = Filters()) -> list[FranchiseNews]:
        """What continues the favourites: per favourite franchise, the entries not among them that
        started in ``since`` or later or are announced, first aired first (``news`` states the
        rule). ``filters``: only its adult flag, types and ``exclude`` apply. No scores: the
        catalogue alone, with whether the model learnt each entry from ratings."""
        if self._franchises is None:  # once, on first use: the recommendations never need it
            self._franchises = FranchiseIndex(self.catalog)
        return self._franchises.news(favourites, self.rated, since, filters)

"""The list rules, each written once: what a request's list holds and in what order.

From a request's allowed columns (those its filters pass), with bounds of their scores and a
way to their exact scores:

- never a favourite, nor (hiding sequels) more of a favourite's franchise; an overflowed
  (NaN or infinite) score is no recommendation, and a model whose scores all overflow is broken;
- the novelty lean: ``novelty`` times the popularity prior taken out of every score;
- one per franchise (``one_per_franchise``) in any ``spacing`` places in a row
  (``defaults.FRANCHISE_SPACING``): its best-scored entry first, and a later entry no sooner
  than ``spacing`` places after the one before, each with how many more of its franchise
  passed and are not in the list (``franchise_more``); the spread of anime without ratings
  (below) comes after, and moves a rated entry up by as many places as it moves new ones
  down past it, so that gap can shrink by as much;
- at most ``ceil(new_share * k)`` anime without ratings, only a franchise's best new entry
  counting, unless too few rated anime (or franchises) pass to fill ``k`` places: then the
  best new ones are taken until they can (the one quota rule, ``_Quota``);
- spread so every first n places hold at most ``ceil(new_share * n)`` of them (``spread_order``).

The choice walks a shortlist of the columns whose upper bounds reach the k-th best lower
bound, in order of exact score, and is final once its places are filled by scores above
every bound left out; else the shortlist widens. Scores known in full (the popularity prior,
a torch model's) come as bounds equal to the scores.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from animerec_tui.defaults import FRANCHISE_SPACING
from animerec_tui.engine.columns import Columns, FranchiseRuns, positions
from animerec_tui.engine.types import Filters


@lru_cache(maxsize=64)
def _first_places(share: float, size: int) -> tuple[int, ...]:
    """For each n, the first place (from 1) whose first places may hold n + 1 new anime; size + 1 if none."""
    may_hold = [math.ceil(share * place - 1e-9) for place in range(1, size + 1)]
    return tuple(bisect.bisect_left(may_hold, n + 1) + 1 for n in range(size))


def spread_order(is_new: np.ndarray, share: float) -> np.ndarray:
    """An order of a list (best first, but for a franchise's spaced later entries), ``is_new``
    marking its anime without ratings, in which every first n places hold at most
    ``ceil(share * n)`` of them (1 of the first 5, 2 of the first 10 at 0.2), each taking the
    first place the rule allows; once the rated ones run out, the rest follow.

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
    least, t. The answer is among the values >= t, usually a few dozen, which a partition of
    them all would not know."""
    g = max(64, 4 * n)
    rows = values.size // g
    if rows >= 4:
        maxima = values[: rows * g].reshape(rows, g).max(axis=0)
        above = values[values >= np.partition(maxima, g - n)[g - n]]  # the last partial row's too
        if above.size >= n:  # else a NaN got in the way: the whole partition sorts it
            return float(np.partition(above, above.size - n)[above.size - n])
    return float(np.partition(values, values.size - n)[values.size - n])


@dataclass(frozen=True)
class Candidates:
    """One request's allowed columns and what is known of their scores."""

    columns: np.ndarray
    """The columns the request's filters pass, sorted."""
    upper: np.ndarray
    """An upper bound of each one's score (float; written to)."""
    lower: np.ndarray
    """A lower bound of each one's score; it need not hold for the request's own favourites (written to)."""
    exact: Callable[[np.ndarray], np.ndarray]
    """The exact scores of ``columns[positions]``, positions sorted."""
    runs: FranchiseRuns | None
    """``columns`` by franchise; None when no two of them share one."""


@dataclass(frozen=True)
class Ranked:
    """A list as shown: columns, their (leaned) scores, and how many more of each one's franchise passed."""

    columns: np.ndarray
    scores: np.ndarray
    franchise_more: np.ndarray


@dataclass(frozen=True)
class _Quota:
    """How many anime without ratings a list takes: the best ``first`` of them (a franchise's
    best new entry counting for it), and then more while fewer than ``short`` of those taken
    are of a franchise no rated candidate is in (places no rated anime can fill)."""

    first: int
    short: int

    def takes(self, taken: int, alone: int) -> bool:
        """Whether the next new one is taken, after ``taken`` new ones of which ``alone`` fill a place of their own."""
        return taken < self.first or alone < self.short


class Ranking:
    """The list rules over a catalogue's columns (``num_rated`` of them rated, those first)."""

    def __init__(self, catalogue: Columns, num_rated: int, broken: Callable[[], Exception]) -> None:
        self.catalogue = catalogue
        self.num_rated = num_rated
        self.broken = broken
        """The error for a model whose scores are all NaN or infinite."""
        self.shortlist = (200, 50)
        """How many rated and new columns the choice walks at least, when the bounds do not say."""
        self.spacing = FRANCHISE_SPACING
        """With one per franchise, the fewest places from a franchise's entry to its next."""

    def rank(self, candidates: Candidates, known: list[int], k: int, filters: Filters, novelty: float, prior: np.ndarray) -> Ranked:
        """The list for a request with favourites ``known`` (dense ids): at most ``k`` of the
        candidates by the rules, in the order shown, scores leaned by ``novelty`` times ``prior``."""
        cat = self.catalogue
        columns, upper, lower = candidates.columns, candidates.upper, candidates.lower
        if novelty:
            lean = np.float32(novelty) * prior[columns]
            upper, lower = upper - lean, lower - lean
        finite = np.isfinite(upper)
        if not finite.all():  # an overflowed bound: no recommendation
            if columns.size and not finite.any():
                raise self.broken()
            upper[~finite] = lower[~finite] = -np.inf
        if known:
            seen = np.asarray(known) - 1
            # Nothing the user already knows, nor (hiding sequels) more of its franchises.
            # Hiding sequels lets only a franchise's first entry through: its head is all there is to hide.
            hidden = cat.franchise_head[cat.franchise_index[seen]] if filters.hide_sequels else seen
            at = positions(columns, hidden)
            upper[at] = lower[at] = -np.inf
        passing = upper > -np.inf
        count = int(np.count_nonzero(passing))
        k = min(k, count)
        if k <= 0:
            return Ranked(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64))
        runs = candidates.runs if filters.one_per_franchise else None
        some_new = filters.new_share < 1 and self.num_rated < cat.item_ids.size
        split = int(np.searchsorted(columns, self.num_rated)) if some_new else columns.size
        in_rated = int(np.count_nonzero(passing[:split])) if some_new else count
        quota = _Quota(k, 0)
        if some_new:
            rated = in_rated
            if runs is not None and rated < k * cat.largest_franchise:  # else there are k franchises for sure
                rated = int(np.unique(cat.franchise_index[columns[:split][passing[:split]]]).size)
            quota = _Quota(math.ceil(filters.new_share * k - 1e-9), max(0, k - rated))
        chosen, values = self._choose(candidates, upper, lower, novelty, prior, k, quota, runs, split, (in_rated, count - in_rated))
        top = columns[chosen]
        more = np.zeros(top.size, dtype=np.int64)
        if runs is not None:  # how many more of each one's franchise pass the filters and are not in the list
            kinds, which = np.unique(cat.franchise_index[top], return_inverse=True)
            at = positions(columns, cat.members(kinds))
            alive = cat.franchise_index[columns[at[passing[at]]]]
            listed = np.bincount(which.reshape(-1), minlength=kinds.size)
            more = (np.bincount(np.searchsorted(kinds, alive), minlength=kinds.size) - listed)[which.reshape(-1)]
        if some_new:
            order = spread_order(top >= self.num_rated, filters.new_share)
            top, values, more = top[order], values[order], more[order]
        return Ranked(top, values, more)

    def _choose(self, candidates: Candidates, upper: np.ndarray, lower: np.ndarray, novelty: float, prior: np.ndarray, k: int, quota: _Quota,
                runs: FranchiseRuns | None, split: int, available: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Positions in the candidates of the ``k`` (or fewer) the rules take, best first, and their exact leaned scores.

        Rated (before ``split``) and new columns are shortlisted apart: new ones score high,
        and but a few of them count. When the quota may have to grow (``quota.short``) every
        allowed column is scored, in one call: that happens only when few rated ones pass."""
        columns = candidates.columns
        size = columns.size
        scored = np.full(size, np.nan)  # exact (leaned) scores, as they are needed

        def score(todo: np.ndarray) -> None:
            fresh = candidates.exact(todo).astype(np.float64)
            if novelty:
                fresh -= novelty * prior[columns[todo]]
            scored[todo] = np.where(np.isfinite(fresh), fresh, -np.inf)  # an overflowed score is no recommendation

        spans = [(0, split, k), (split, size, quota.first)]
        if quota.short:
            score(np.arange(size))
            reach, want = [-np.inf, -np.inf], [size, size]
        else:
            reach = [self._reach(columns, lower, start, stop, need, runs, free) for (start, stop, need), free in zip(spans, available)]
            # A new one scoring below the rated reach cannot make the list: the rated ones above
            # it fill every place first. So new columns below it stay out of the shortlist
            # (their bounds may be the cheap ones, ``Engine._bounds``, far above their scores).
            reach[1] = max(reach[1], reach[0])
            want = [max(4 * k, self.shortlist[0]), max(4 * quota.first, self.shortlist[1])]
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
                score(todo)
            shortlist = shortlist[scored[shortlist] > -np.inf]
            shortlist = shortlist[np.argsort(-scored[shortlist], kind="stable")]  # best first; ties by column (it was sorted by column)
            if split < size and not quota.short:  # the walk takes the first new ones (one per franchise) and skips every later one
                new = np.flatnonzero(shortlist >= split)
                if runs is not None:
                    firsts = np.sort(np.unique(self.catalogue.franchise_index[columns[shortlist[new]]], return_index=True)[1])
                else:
                    firsts = np.arange(new.size)
                if firsts.size > quota.first:
                    shortlist = np.delete(shortlist, new[firsts[quota.first]:])
            values = scored[shortlist]
            chosen = self._walk(columns[shortlist], values, bounds[0], bounds[1], k, quota, runs is not None, split < size)
            if isinstance(chosen, np.ndarray):
                break
            # Rare: the bounds were too loose for the rules (franchises, new anime) to fill the list.
            reach[chosen] = -np.inf
            want[chosen] = max(4 * want[chosen], 4 * lists[chosen].size)
        if not chosen.size:  # every column was scored, and not one score is finite
            raise self.broken()
        return shortlist[chosen], values[chosen]

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
                kinds.add(int(self.catalogue.franchise_index[columns[start + place]]))
                span[place] = -np.inf
            for place, value in taken:
                span[place] = value
            return float(taken[-1][1]) if len(kinds) >= need else -np.inf
        order, starts = runs.of(start, stop)  # each franchise's best lower bound
        span = np.maximum.reduceat(span[order], starts)
        if np.count_nonzero(span > -np.inf) < need:
            return -np.inf
        return nth_largest(span, need)

    def _walk(self, order: np.ndarray, values: np.ndarray, bound: float, new_bound: float, k: int, quota: _Quota, one_per_franchise: bool, some_new: bool) -> np.ndarray | int:
        """Positions in ``order`` (columns best first, scored ``values``) of the ``k`` the
        rules take, in the order shown: new ones (with ``some_new``) as ``quota`` says, only
        the best of a franchise's new entries counting. With ``one_per_franchise`` each one
        taken goes to the first free place at least ``spacing`` after its franchise's previous
        one (none within k places: it is left out), and the list is final once its k places
        are filled; without, places are filled in order.

        ``order`` holds every rated column scored above ``bound`` and every new one above
        ``new_bound`` (-inf: all of them). Where the walk would have to go past a score that
        a left-out column could beat, it stops and says which list is short: 0 the rated
        (or, without ``some_new``, the only) one, 1 the new one.
        """
        cat = self.catalogue
        franchise = cat.franchise_index[order].tolist()
        new = (order >= self.num_rated).tolist() if some_new else [False] * order.size
        rated_kinds = set(cat.franchise_index[order[~np.asarray(new, dtype=bool)]].tolist()) if quota.short and one_per_franchise else set()
        places: list[int] = [-1] * k  # the position in ``order`` at each place
        filled = free = 0  # how many places are filled, and the first free one
        last: dict[int, int] = {}  # each franchise's latest place
        spacing = self.spacing
        new_seen: set[int] = set()
        taken = alone = 0
        for n, value in enumerate(values.tolist()):
            if value <= bound:
                return 0
            if value <= new_bound and quota.takes(taken, alone):  # a left-out new one could still take a place
                return 1
            f = franchise[n]
            if new[n]:
                if one_per_franchise:
                    if f in new_seen:
                        continue
                    new_seen.add(f)
                keep = quota.takes(taken, alone)
                taken += 1
                alone += f not in rated_kinds
                if not keep:
                    continue
            place = free
            if one_per_franchise and f in last:
                place = max(free, last[f] + spacing)
                while place < k and places[place] >= 0:
                    place += 1
                if place >= k:
                    continue
            places[place] = n
            filled += 1
            if one_per_franchise:
                last[f] = place
            while free < k and places[free] >= 0:
                free += 1
            if filled == k:
                break
        if filled < k and bound > -np.inf:
            return 0
        if filled < k and quota.takes(taken, alone) and new_bound > -np.inf:
            return 1
        return np.asarray([n for n in places if n >= 0], dtype=np.int64)

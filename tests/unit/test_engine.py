"""The inference engine on a tiny model: filters, exclusions, unknown ids, order, similar."""

from __future__ import annotations

import gc
import json
import math
import shutil

import numpy as np
import pytest

from animerec_tui.defaults import FRANCHISE_SPACING
from animerec_tui.engine import Engine, Filters, cyclic_gc_paused, nth_largest, spread_order
from animerec_tui.engine.reasons import LIST_REASON
from animerec_tui.search import TitleIndex
from tests.conftest import ATTACK_ON_TITAN, DEATH_NOTE, FMA_B, NARUTO, STEINS_GATE, YOUR_NAME
from training.errors import UserError


@pytest.fixture(scope="module")
def engine(tiny_model, catalog) -> Engine:
    return Engine(tiny_model, catalog)


def _ids(result):
    return [r.mal_id for r in (result.items if hasattr(result, "items") else result)]


def test_favourites_never_come_back_and_scores_are_ranked(engine):
    result = engine.recommend([DEATH_NOTE, STEINS_GATE], k=30)
    ids = _ids(result)
    assert len(ids) == 30 and DEATH_NOTE not in ids and STEINS_GATE not in ids
    scores = [r.score for r in result.items]
    assert scores[:FRANCHISE_SPACING] == sorted(scores[:FRANCHISE_SPACING], reverse=True)
    # further down, a franchise's later entry may come after lower scores: spaced from its previous one
    franchise = [int(engine.franchise_of[engine.dense[m] - 1]) for m in ids]
    late = [n for n in range(len(ids)) if any(franchise[m] == franchise[n] for m in range(n))]
    assert late, "no franchise came back: this test proves nothing of the spacing"
    assert [s for n, s in enumerate(scores) if n not in late] == sorted((s for n, s in enumerate(scores) if n not in late), reverse=True)
    for n in late:
        assert n - max(m for m in range(n) if franchise[m] == franchise[n]) >= FRANCHISE_SPACING
    assert all(r.because and set(r.because) <= {"Death Note", "Steins;Gate", LIST_REASON} for r in result.items)


def test_order_of_favourites_does_not_matter(engine):
    a = engine.recommend([DEATH_NOTE, STEINS_GATE, FMA_B, NARUTO], k=15)
    b = engine.recommend([NARUTO, FMA_B, STEINS_GATE, DEATH_NOTE], k=15)
    assert _ids(a) == _ids(b)
    np.testing.assert_allclose([r.score for r in a.items], [r.score for r in b.items], rtol=1e-5)


def test_long_lists_are_chunked_deterministically_and_all_count(engine):
    many = [int(i) for i in engine.item_ids[:40]]  # max_len is 8: five chunks
    a, b = engine.recommend(many, k=10), engine.recommend(list(reversed(many)), k=10)
    assert _ids(a) == _ids(b)
    assert not set(_ids(a)) & set(many)


def test_unknown_favourites_are_reported_not_dropped(engine):
    result = engine.recommend([DEATH_NOTE, 99999999, 1], k=5)
    assert 99999999 in result.unknown
    assert len(result.items) == 5


def test_no_known_favourite_falls_back_to_popularity(engine):
    result = engine.recommend([99999999], k=5)
    assert result.unknown == [99999999] and len(result.items) == 5


def test_filters(engine):
    by_id = engine.by_id
    movies = engine.recommend([DEATH_NOTE], k=20, filters=Filters(types=frozenset({"Movie"})))
    assert movies.items and all(by_id[i]["type"] == "Movie" for i in _ids(movies))
    everything = _ids(engine.recommend([DEATH_NOTE], k=400, filters=Filters(hide_adult=False)))
    assert any(by_id[i]["is_adult"] for i in everything)
    default = _ids(engine.recommend([DEATH_NOTE], k=400))
    assert not any(by_id[i]["is_adult"] for i in default), "adult titles are hidden by default"
    no_sequels = _ids(engine.recommend([DEATH_NOTE], k=400, filters=Filters(hide_sequels=True)))
    assert not any(by_id[i]["is_sequel"] for i in no_sequels)
    romance = _ids(engine.recommend([DEATH_NOTE], k=50, filters=Filters(include_genres=frozenset({"Romance"}))))
    assert romance and all("Romance" in by_id[i]["genres"] for i in romance)
    no_action = _ids(engine.recommend([DEATH_NOTE], k=50, filters=Filters(exclude_genres=frozenset({"Action"}))))
    assert no_action and not any("Action" in by_id[i]["genres"] for i in no_action)


def test_exclude_list(engine):
    first = _ids(engine.recommend([DEATH_NOTE], k=3))
    after = _ids(engine.recommend([DEATH_NOTE], k=3, filters=Filters(exclude=frozenset(first[:2]))))
    assert not set(first[:2]) & set(after)


def test_batch_matches_single_requests(engine):
    # Requests sharing what their filters allow are scored together (novelty and new_share
    # only re-rank), interleaved with others; each must come back as it would alone.
    requests = [
        ([DEATH_NOTE], Filters()), ([STEINS_GATE, FMA_B], Filters(hide_sequels=True)), ([99999999], Filters()),
        ([FMA_B, YOUR_NAME, NARUTO], Filters(novelty=0.5)), ([STEINS_GATE], Filters(hide_sequels=True, new_share=1.0)),
    ]
    batch = engine.recommend_many(requests, k=7)
    for (favs, filters), result in zip(requests, batch):
        alone = engine.recommend(favs, 7, filters)
        assert _ids(result) == _ids(alone)
        assert [(r.score, r.because, r.because_share) for r in result.items] == [(r.score, r.because, r.because_share) for r in alone.items]


def test_picks_are_the_lists_without_reasons(catalogue_engine):
    requests = _requests(catalogue_engine, 40, seed=11)
    picks = catalogue_engine.pick_many(requests, 9)
    full = catalogue_engine.recommend_many(requests, 9, reasons=False)
    assert all(p.items for p in picks) and any(len(p.items) == 9 for p in picks)  # the popularity list too
    for pick, result in zip(picks, full):
        assert pick.items == [(r.mal_id, r.title, r.score) for r in result.items]
        assert pick.unknown == result.unknown


def _rules(engine: Engine, favourites: list[int], k: int, filters: Filters) -> list[tuple[int, float, int]]:
    """The list rules stated plainly over every column's exact score: (MAL id, score, franchise_more) as shown."""
    known, _ = engine.split_known(favourites)
    if known:
        scores = engine.scores([known])[0].astype(np.float64)
        if filters.novelty:
            scores = scores - filters.novelty * engine.prior
    else:  # the popularity list: the prior, with no lean
        scores = engine.prior.astype(np.float64)
    ok = engine.allowed(filters) & np.isfinite(scores)
    franchise = engine.franchise_of
    if known:
        ok[np.asarray(known) - 1] = False
        if filters.hide_sequels:
            ok &= ~np.isin(franchise, franchise[np.asarray(known) - 1])
    candidates = sorted(np.flatnonzero(ok).tolist(), key=lambda c: (-scores[c], c))
    k = min(k, len(candidates))
    opf = filters.one_per_franchise
    group = (lambda c: int(franchise[c])) if opf else (lambda c: c)
    some_new = filters.new_share < 1 and engine.num_rated < engine.item_ids.size
    rated_groups = {group(c) for c in candidates if c < engine.num_rated}
    first = math.ceil(filters.new_share * k - 1e-9)
    short = max(0, k - len(rated_groups)) if some_new else 0
    spacing = engine.ranking.spacing
    places: list[int | None] = [None] * k  # with one per franchise: each goes to the first free place spacing after its franchise's previous one
    last: dict[int, int] = {}
    new_seen, taken, alone = set(), 0, 0
    for c in candidates:
        if None not in places:
            break
        g = group(c)
        if some_new and c >= engine.num_rated:
            if g in new_seen:
                continue  # only a franchise's best new entry counts
            new_seen.add(g)
            keep = taken < first or alone < short  # the quota, raised while the rated ones cannot fill the list
            taken, alone = taken + 1, alone + (g not in rated_groups)
            if not keep:
                continue
        free = [p for p in range(last[g] + spacing if g in last else 0, k) if places[p] is None]
        if not free:
            continue
        places[free[0]] = c
        last[g] = free[0]
    picked = [c for c in places if c is not None]
    more = [int(np.count_nonzero(ok & (franchise == franchise[c]))) - sum(franchise[x] == franchise[c] for x in picked) if opf else 0 for c in picked]
    order = spread_order(np.asarray(picked) >= engine.num_rated, filters.new_share) if some_new else np.arange(len(picked))
    return [(int(engine.item_ids[picked[i]]), round(float(scores[picked[i]]), 4), more[i]) for i in order.tolist()]


def _requests(engine: Engine, count: int, seed: int) -> list[tuple[list[int], Filters]]:
    rng = np.random.default_rng(seed)
    every = [Filters(), Filters(hide_sequels=True), Filters(one_per_franchise=False), Filters(novelty=0.7, new_share=0.5),
             Filters(new_share=1.0), Filters(new_share=0.0), Filters(types=frozenset({"Movie"}), hide_sequels=True),
             Filters(year_from=2020, one_per_franchise=False), Filters(include_genres=frozenset({"Comedy"}), new_share=0.3),
             Filters(year_from=2022, new_share=0.2), Filters(year_from=2015, new_share=0.0, novelty=1.0), Filters(hide_adult=False, novelty=0.5)]
    requests = []
    for n in range(count):
        size = int(rng.integers(0, 12)) if n % 7 else 0  # some without favourites: the popularity list
        requests.append((rng.choice(engine.item_ids, size=size, replace=False).tolist(), every[n % len(every)]))
    return requests


@pytest.mark.parametrize(("shortlist", "spacing", "cheap"), [((200, 50), 20, False), ((3, 1), 20, False), ((200, 50), 3, False), ((3, 1), 2, False), ((200, 50), 20, True), ((3, 1), 2, True)])
def test_every_list_is_what_the_rules_say_over_every_exact_score(catalogue_engine, shortlist, spacing, cheap):
    # The engine scores a shortlist chosen by bounds (widened until its walk is final); the
    # rules here read every exact score. A shortlist of (3, 1) makes the walk widen often; a
    # small spacing puts a franchise's later entries into short lists. ``cheap``: anime
    # without ratings get a cheap upper bound (Engine._bounds) however few they are, and more
    # of them keep it (below the k-th best rated lower bound, not the 2k-th).
    engine = catalogue_engine
    engine.ranking.shortlist = shortlist
    engine.ranking.spacing = spacing
    if cheap:  # and requests in chunks of 3: a column keeps its cheap bounds only if every request of its chunk lets it
        engine.fewest_new, engine.reach_rank, engine.chunk = 0, 1, 3
        kept = _count_cheap(engine)
    try:
        requests = _requests(engine, 72, seed=7)
        for k in (1, 5, 20, 60):
            answers = engine.recommend_many(requests, k)
            for (favourites, filters), answer in zip(requests, answers):
                assert [(r.mal_id, r.score, r.franchise_more) for r in answer.items] == _rules(engine, favourites, k, filters), (favourites, filters, k)
    finally:
        engine.ranking.shortlist = (200, 50)
        engine.ranking.spacing = FRANCHISE_SPACING
        if cheap:
            del engine.fewest_new, engine.reach_rank  # the class's values again
            engine.scorer, engine.chunk = engine.scorer._inner, 64
    assert any(len(r.items) < 60 for r in answers) and any(any(not x.rated for x in r.items) for r in answers)
    if cheap:
        assert kept[0] > 0, "no column kept its cheap bound: this test proves nothing of them"


def _count_cheap(engine: Engine) -> list[int]:
    """Cheap upper bounds that hold and are loose by up to 2 (drawn from the exact scores; the
    catalogue model is untrained, so its own Cauchy-Schwarz bounds are too loose to keep any),
    and a running count of the columns whose cheap bound ``Engine._bounds`` kept: those it
    asked a cheap bound of, less those it then asked full bounds of (only anime without ratings)."""
    kept = [0]
    scorer = engine.scorer
    full = scorer.bounds
    rng = np.random.default_rng(3)

    def cheap_upper(encoded, users, columns):
        kept[0] += len(columns)
        exact = scorer.scores(encoded, users, columns)
        return exact + rng.uniform(0, 2, exact.shape).astype(np.float32)

    def bounds(encoded, users, columns):
        if len(columns) and np.min(columns) >= engine.num_rated:
            kept[0] -= len(columns)
        return full(encoded, users, columns)

    engine.scorer = _Spy(scorer, cheap_upper=cheap_upper, bounds=bounds)
    return kept


class _Spy:
    def __init__(self, inner, **methods):
        self.__dict__.update(methods)
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_loose_bounds_only_widen_the_shortlist(catalogue_engine):
    # The walk stops where a column left out of the shortlist could still beat the scores it
    # walks, and the shortlist widens: bounds far from the scores (and a first shortlist of
    # one) change how much is scored exactly, never the list.
    from animerec_tui.engine.columns import FranchiseRuns
    from animerec_tui.engine.ranking import Candidates, Ranking

    engine = catalogue_engine
    ranking = Ranking(engine.columns, engine.num_rated, lambda: UserError("broken"))
    ranking.shortlist = (1, 1)
    rng = np.random.default_rng(11)
    for favourites, filters in _requests(engine, 48, seed=5):
        known, _ = engine.split_known(favourites)
        if not known:
            continue
        columns = np.flatnonzero(engine.allowed(filters))
        exact = engine.scores([known])[0][columns].astype(np.float64)
        runs = FranchiseRuns.of_columns(engine.columns, columns)
        k = int(rng.choice([1, 5, 20]))
        slack = rng.uniform(0, 3, size=(2, columns.size))
        lower = exact - slack[1] if rng.random() < 0.5 else np.full(columns.size, -np.inf)  # no lower bound: the shortlist starts at its first size
        loose = Candidates(columns, exact + slack[0], lower, exact.__getitem__, runs)
        tight = Candidates(columns, exact.copy(), exact.copy(), exact.__getitem__, runs)
        ours, theirs = (ranking.rank(c, known, k, filters, filters.novelty, engine.prior) for c in (loose, tight))
        assert ours.columns.tolist() == theirs.columns.tolist() and ours.scores.tolist() == theirs.scores.tolist()
        assert ours.franchise_more.tolist() == theirs.franchise_more.tolist()


def _is_new(engine: Engine, items) -> np.ndarray:
    return np.asarray([not engine.rated(r.mal_id) for r in items])


@pytest.mark.parametrize("share", [0.0, 0.2, 0.5])
def test_anime_without_ratings_take_at_most_their_share_of_every_first_places(catalogue_engine, share):
    engine = catalogue_engine
    free = _is_new(engine, engine.recommend([DEATH_NOTE, NARUTO], k=30, filters=Filters(new_share=1.0, year_from=2017)).items).sum()
    items = engine.recommend([DEATH_NOTE, NARUTO], k=30, filters=Filters(new_share=share, year_from=2017)).items
    new = _is_new(engine, items)
    assert len(items) == 30 and free > 6 and new.sum() == min(math.ceil(share * 30), free)
    assert all(new[:n].sum() <= math.ceil(share * n - 1e-9) for n in range(1, 31))


def test_with_too_few_rated_anime_the_new_ones_fill_the_list(catalogue_engine):
    engine = catalogue_engine
    filters = Filters(year_from=2022, new_share=0.2, one_per_franchise=False)
    passing = engine.allowed(filters)
    rated = int(passing[: engine.num_rated].sum())
    items = engine.recommend([DEATH_NOTE], k=20, filters=filters).items
    assert rated < 20 and len(items) == min(20, int(passing.sum()))
    assert _is_new(engine, items).sum() == len(items) - rated  # every rated one, and new ones for the rest


def test_without_a_share_new_anime_rank_freely_and_the_novelty_lean_is_in_the_score(catalogue_engine):
    engine = catalogue_engine
    known, _ = engine.split_known([DEATH_NOTE])
    exact = engine.scores([known])[0]
    for novelty in (0.0, 1.0):
        items = engine.recommend([DEATH_NOTE], k=40, filters=Filters(new_share=1.0, novelty=novelty, one_per_franchise=False, year_from=2015)).items
        scores = [r.score for r in items]
        assert scores == sorted(scores, reverse=True) and _is_new(engine, items).any()
        expected = [round(float(exact[engine.dense[r.mal_id] - 1] - np.float32(novelty) * engine.prior[engine.dense[r.mal_id] - 1]), 4) for r in items]
        np.testing.assert_allclose(scores, expected, atol=2e-4)


def test_one_per_franchise_counts_the_rest_and_hiding_sequels_hides_the_favourites_franchises(catalogue_engine):
    engine = catalogue_engine
    franchise = {int(m): int(f) for m, f in zip(engine.item_ids, engine.franchise_of)}
    folded = engine.recommend([DEATH_NOTE], k=200, filters=Filters(new_share=1.0)).items
    every = engine.recommend([DEATH_NOTE], k=1000, filters=Filters(new_share=1.0, one_per_franchise=False)).items
    spaced = [franchise[r.mal_id] for r in folded]
    assert all(len(set(spaced[n : n + FRANCHISE_SPACING])) == len(spaced[n : n + FRANCHISE_SPACING]) for n in range(len(spaced)))
    assert len(set(spaced)) < len(spaced), "no franchise came back further down: the spacing is not tested"
    assert any(r.franchise_more for r in folded)
    for r in folded:  # how many more of its franchise passed and are not in the list
        assert r.franchise_more == sum(franchise[x.mal_id] == franchise[r.mal_id] for x in every) - spaced.count(franchise[r.mal_id])
    favourites = [m for m in franchise if franchise[m] != m][:3]  # sequels: their franchises are hidden whole
    hidden = engine.recommend(favourites, k=1000, filters=Filters(hide_sequels=True, new_share=1.0)).items
    assert hidden and not {franchise[r.mal_id] for r in hidden} & {franchise[m] for m in favourites}
    assert not any(engine.by_id[r.mal_id]["is_sequel"] for r in hidden)


def test_the_popularity_list_follows_the_same_rules(catalogue_engine):
    engine = catalogue_engine
    items = engine.recommend([], k=30, filters=Filters(new_share=0.2, novelty=1.0)).items
    new = _is_new(engine, items)
    assert len(items) == 30 and all(new[:n].sum() <= math.ceil(0.2 * n - 1e-9) for n in range(1, 31))
    assert [r.score for r in items] == [round(float(engine.prior[engine.dense[r.mal_id] - 1]), 4) for r in items]  # no lean without favourites
    assert all(not r.because for r in items)


def _spread_by_places(is_new, share):
    """spread_order's rule, place by place (as it was first written)."""
    rated, new = np.flatnonzero(~is_new).tolist(), np.flatnonzero(is_new).tolist()
    order, r, n = [], 0, 0
    for place in range(1, is_new.size + 1):
        allowed = n < len(new) and n + 1 <= math.ceil(share * place - 1e-9)
        if r < len(rated) and not (allowed and new[n] < rated[r]):
            order.append(rated[r])
            r += 1
        else:
            order.append(new[n])
            n += 1
    return order


def test_the_new_anime_rule_spreads_them_as_the_place_by_place_rule_does():
    rng = np.random.default_rng(3)
    assert spread_order(np.asarray([True, True, False, False, False, False, False]), 0.2).tolist() == [0, 2, 3, 4, 5, 1, 6]
    for _ in range(3000):
        size = int(rng.integers(0, 40))
        is_new = rng.random(size) < rng.random()
        share = float(rng.choice([0.0, 0.1, 0.2, 1 / 3, 0.5, 0.9, 1.0, rng.random()]))
        assert spread_order(is_new, share).tolist() == _spread_by_places(is_new, share), (is_new.astype(int).tolist(), share)


def test_the_nth_largest_by_block_maxima_is_the_partitions():
    rng = np.random.default_rng(5)
    for _ in range(2000):
        n = int(rng.integers(1, 30))
        values = rng.standard_normal(int(rng.integers(n, 4000))).astype(np.float32)
        if rng.random() < 0.3:
            values[rng.random(values.size) < 0.7] = -np.inf
        if rng.random() < 0.3:
            values = np.round(values)  # ties
        if rng.random() < 0.2:
            values[: values.size // 2] = values.max()  # the best ones in the first blocks
        assert nth_largest(values, n) == np.partition(values, values.size - n)[values.size - n]


def test_a_batch_pauses_the_cycle_collector_and_leaves_it_as_it_was(engine, monkeypatch):
    seen = []
    encode = engine.scorer.encode
    monkeypatch.setattr(engine.scorer, "encode", lambda *args: seen.append(gc.isenabled()) or encode(*args))
    assert gc.isenabled()
    engine.recommend_many([([DEATH_NOTE], Filters()), ([NARUTO, FMA_B], Filters())], 5)
    assert seen and not any(seen) and gc.isenabled()
    gc.disable()
    try:
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # off before, so off after: whoever paused it turns it on
    finally:
        gc.enable()
    with pytest.raises(ValueError), cyclic_gc_paused():
        raise ValueError
    assert gc.isenabled()


def test_similar(engine):
    similar = engine.similar(YOUR_NAME, k=5)
    assert len(similar) == 5 and YOUR_NAME not in _ids(similar)
    with pytest.raises(UserError, match="MAL id 99999999 is not in the catalogue"):
        engine.similar(99999999)


# --- years and anime known from metadata only ------------------------------------------


@pytest.fixture(scope="module")
def catalogue_engine(catalogue_model, catalog) -> Engine:
    return Engine(catalogue_model, catalog)


def _years(engine, filters, k=400):
    return [engine.by_id[i].get("year") for i in _ids(engine.recommend([DEATH_NOTE], k=k, filters=filters))]


def test_a_year_range_keeps_only_anime_known_to_be_in_it(catalogue_engine):
    engine = catalogue_engine
    everything = _years(engine, Filters(one_per_franchise=False))
    assert None in everything, "the model has anime of unknown year, or this test proves nothing"
    inside = _years(engine, Filters(year_from=2010, year_to=2015, one_per_franchise=False))
    assert inside and all(2010 <= y <= 2015 for y in inside)
    assert len(inside) == sum(y is not None and 2010 <= y <= 2015 for y in everything)
    later, earlier = _years(engine, Filters(year_from=2016)), _years(engine, Filters(year_to=2000))
    assert later and earlier and all(y is not None and y >= 2016 for y in later) and all(y is not None and y <= 2000 for y in earlier)


def test_a_one_year_range_and_an_empty_one(engine):
    one = engine.recommend([DEATH_NOTE], k=400, filters=Filters(year_from=2011, year_to=2011)).items
    assert one and {r.year for r in one} == {2011}
    assert engine.recommend([DEATH_NOTE], k=5, filters=Filters(year_from=2100)).items == []


def test_a_recommendation_carries_its_year_and_whether_it_was_rated(engine):
    item = engine.recommend([DEATH_NOTE], k=1).items[0]
    document = item.to_dict()
    assert document["year"] == engine.by_id[item.mal_id].get("year") and document["rated"] is True
    assert {"mal_id", "title", "type", "episodes", "year", "genres", "members", "score", "rated", "because", "url"} <= set(document)


def test_anime_known_from_metadata_only_are_usable_and_marked(catalogue_engine):
    engine = catalogue_engine
    unrated = [int(m) for m in engine.item_ids if not engine.rated(int(m))]
    assert len(unrated) == 40 and all(engine.knows(m) for m in unrated) and engine.rated(DEATH_NOTE)
    result = engine.recommend([unrated[0], DEATH_NOTE], k=200, filters=Filters(year_from=2022, one_per_franchise=False))
    assert not result.unknown, "a metadata-only favourite is used, not reported unknown"
    assert all(r.rated == engine.rated(r.mal_id) and r.year >= 2022 for r in result.items)
    assert {r.mal_id for r in result.items if not r.rated} == set(unrated[1:]), "every other metadata-only anime can be recommended"
    assert len(engine.similar(unrated[0], k=5)) == 5


def test_anime_like_one_without_ratings_lean_on_its_metadata(catalogue_model, catalog):
    engine = Engine(catalogue_model, catalog)
    rated = engine.num_rated
    unrated = next(int(m) for m in engine.item_ids if not engine.rated(int(m)))
    dense = engine.dense[unrated]
    filters = Filters(one_per_franchise=False, hide_adult=False)
    model = engine.scores([[dense]])[0]
    # Written out here apart from the engine: the model's scores plus SIMILAR_METADATA standard
    # deviations of them (over the rated anime) times the standardised cosine of the vectors.
    vectors = engine.vectors.astype(np.float64)
    cosine = vectors @ vectors[dense - 1] / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(vectors[dense - 1]))
    lean = engine.similar_metadata
    assert lean > 0
    expected = model + lean * model[:rated].std() * (cosine - cosine[:rated].mean()) / cosine[:rated].std()
    top = [j for j in np.argsort(-expected, kind="stable") if j != dense - 1][:10]
    similar = engine.similar(unrated, 10, filters)
    assert [r.mal_id for r in similar] == [int(engine.item_ids[j]) for j in top]
    np.testing.assert_allclose([r.score for r in similar], expected[top], atol=2e-4)
    alike = np.mean([cosine[engine.dense[r.mal_id] - 1] for r in similar])
    engine.similar_metadata = 0.0  # the model's vote alone: the recommendation for it, as before
    plain = engine.similar(unrated, 10, filters)
    assert [r.mal_id for r in plain] == [r.mal_id for r in engine.recommend([unrated], 10, filters).items]
    assert alike > np.mean([cosine[engine.dense[r.mal_id] - 1] for r in plain]), "the lean brings anime nearer in metadata"
    engine.similar_metadata = lean
    # A rated anime has its item-item part (or the model alone): no metadata term.
    assert [r.mal_id for r in engine.similar(DEATH_NOTE, 10, filters)] == [r.mal_id for r in engine.recommend([DEATH_NOTE], 10, filters).items]


def test_an_offset_moves_scores_and_bounds_alike(catalogue_engine):
    from animerec_tui.engine.backends import OffsetScorer

    engine = catalogue_engine
    offset = np.random.default_rng(3).normal(0, 2, engine.item_ids.size).astype(np.float32)
    shifted = OffsetScorer(engine.scorer, offset)
    rows = [[engine.dense[DEATH_NOTE], engine.dense[NARUTO]], [engine.dense[STEINS_GATE]]]
    columns = np.arange(0, engine.item_ids.size, 3)
    users = np.arange(2)
    encoded = shifted.encode(rows)
    scores = shifted.scores(encoded, users, columns)
    np.testing.assert_allclose(scores, engine.scorer.scores(engine.scorer.encode(rows), users, columns) + offset[columns], rtol=1e-6, atol=1e-5)
    upper, lower = shifted.bounds(encoded, users, columns)
    assert (lower <= scores + 1e-5).all() and (scores <= upper + 1e-5).all()
    assert (shifted.cheap_upper(encoded, users, columns) >= upper - 1e-5).all()


def test_a_model_with_a_foreign_vocabulary_is_refused(tiny_model, tmp_path, catalog):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["vocab"]["id_space"] = "raw"
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="raw item ids"):
        Engine(folder, catalog)
    with pytest.raises(UserError, match="catalogue lacks"):
        Engine(tiny_model, [e for e in catalog if e["mal_id"] != DEATH_NOTE])


def test_title_resolution(catalog):
    index = TitleIndex(catalog)
    assert index.resolve("death note").mal_id == DEATH_NOTE
    assert index.resolve("Steins;Gate").mal_id == STEINS_GATE
    assert index.resolve("Your Name.").mal_id == YOUR_NAME  # English title
    assert index.resolve("shingeki no kyojin").mal_id == ATTACK_ON_TITAN
    assert index.resolve("narto").mal_id == NARUTO  # a typo, clearly ahead of the rest
    with pytest.raises(UserError, match="ambiguous"):
        index.resolve("fullmetal")
    with pytest.raises(UserError, match="no anime title"):
        index.resolve("zzzzqqqqxxxx")
    assert index.search("fullmet")[0].mal_id in (FMA_B, 121)
    assert index.resolve("86").title.startswith("86")  # one- and two-character titles can be named
    assert index.resolve("K").title == "K"
    # A title two anime share: the TV series (708k members) over its PV collection (14k), said as a near match
    taken = index.resolve("Jujutsu Kaisen")
    assert taken.mal_id == 40748 and taken.score < 200


def test_the_shipped_model_loads_and_recommends(catalog):
    from animerec_tui.engine import default_model_dir

    engine = Engine(default_model_dir(), catalog)
    assert engine.meta["dtype"] == "float16"
    assert engine.item_ids.size > 4000
    result = engine.recommend([DEATH_NOTE, STEINS_GATE, FMA_B], k=10)
    assert len(result.items) == 10 and not result.unknown
    assert not {DEATH_NOTE, STEINS_GATE, FMA_B} & set(_ids(result))
    # a trained model ranks popular, well-liked shows for these favourites, not obscure ones
    assert np.median([r.members or 0 for r in result.items]) > 100_000


def _damaged(tiny_model, folder, change):
    from safetensors.torch import load_file, save_file

    shutil.copytree(tiny_model, folder)
    weights = load_file(folder / "model.safetensors")
    change(weights)
    save_file(weights, folder / "model.safetensors")
    return folder


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda w: w["item_emb.weight"][7].fill_(float("nan")), id="one-nan-row"),
        pytest.param(lambda w: w["out_bias"].__setitem__(3, float("inf")), id="one-inf-bias"),
        pytest.param(lambda w: w["blocks.1.qkv.weight"].__setitem__((0, 0), float("-inf")), id="one-minus-inf"),
    ],
)
def test_a_model_with_any_nan_or_infinite_weight_is_refused_at_load(tiny_model, tmp_path, catalog, change):
    folder = _damaged(tiny_model, tmp_path / "model", change)
    with pytest.raises(UserError, match="NaN or infinite") as error:
        Engine(folder, catalog)
    assert str(folder) in str(error.value)


def test_scores_that_overflow_never_come_back(engine, monkeypatch):
    def overflowing(encoded, users, columns):
        scores = np.zeros((len(users), len(columns)))
        for column, value in zip((0, 1, 2), (np.inf, np.nan, -np.inf)):  # hide_adult off: columns 0..2 are scored
            scores[:, columns == column] = value
        return scores

    def broken(encoded, users, columns):
        return np.full((len(users), len(columns)), np.nan)

    # Bounds and exact scores that overflow alike, and exact scores that overflow within finite bounds.
    for scores, bounds in ((overflowing, lambda *a: (overflowing(*a), overflowing(*a))), (overflowing, None)):
        with monkeypatch.context() as patch:
            patch.setattr(engine.scorer, "scores", scores)
            if bounds is not None:
                patch.setattr(engine.scorer, "bounds", bounds)
            items = engine.recommend([DEATH_NOTE], k=1000, filters=Filters(hide_adult=False)).items
        assert items and all(np.isfinite(r.score) for r in items)
        assert not {int(i) for i in engine.item_ids[:3]} & set(_ids(items))
    for scores, bounds in ((broken, lambda *a: (broken(*a), broken(*a))), (broken, None)):
        with monkeypatch.context() as patch:
            patch.setattr(engine.scorer, "scores", scores)
            if bounds is not None:
                patch.setattr(engine.scorer, "bounds", bounds)
            with pytest.raises(UserError, match="scores are all NaN or infinite; it is broken"):
                engine.recommend([DEATH_NOTE], k=5)


@pytest.mark.parametrize("config", [{"readout": "mask"}, {"readout": "mask", "positional": True}], ids=["mask readout", "positional"])
def test_models_numpy_cannot_run_answer_through_torch_by_the_same_rules(catalogue_model, catalog, tmp_path, config):
    from tests.random_model import write_random_model

    meta = json.loads((catalogue_model / "meta.json").read_text())
    rated = meta["vocab"]["item_ids"][: meta["model_config"]["num_rated"]]
    folder = write_random_model(tmp_path / "model", rated, catalog, unrated=meta["vocab"]["item_ids"][len(rated) :], hidden=16, heads=2, max_len=8, **config)
    engine = Engine(folder, catalog)
    assert type(engine.scorer).__name__ == "TorchScorer"
    requests = _requests(engine, 24, seed=3)
    for k in (5, 30):
        for (favourites, filters), answer in zip(requests, engine.recommend_many(requests, k)):
            assert [(r.mal_id, r.score, r.franchise_more) for r in answer.items] == _rules(engine, favourites, k, filters)
    reasons = engine.recommend([DEATH_NOTE, NARUTO], 5).items
    assert all(r.because and all(share is None for share in r.because_share) for r in reasons)  # the mask readout has no vote shares


def test_the_torch_scorer_of_an_items_model_answers_as_numpy_does(catalogue_model, catalog):
    # What a GPU runs for the shipped kind of model, on the CPU: full torch scores through the same ranking.
    import torch

    from animerec_tui.engine.backends import TorchScorer
    from training.checkpoint import load_model

    ours, theirs = Engine(catalogue_model, catalog), Engine(catalogue_model, catalog)
    model, _ = load_model(catalogue_model)
    with torch.no_grad():
        theirs.scorer = TorchScorer(model, model.output_table(), "cpu")
    requests = _requests(ours, 24, seed=3)
    for mine, reference in zip(ours.recommend_many(requests, 15), theirs.recommend_many(requests, 15)):
        assert [r.mal_id for r in mine.items] == [r.mal_id for r in reference.items]
        np.testing.assert_allclose([r.score for r in mine.items], [r.score for r in reference.items], atol=2e-3)
        assert [r.because for r in mine.items] == [r.because for r in reference.items]
        np.testing.assert_allclose([-1 if s is None else s for r in mine.items for s in r.because_share], [-1 if s is None else s for r in reference.items for s in r.because_share], atol=2e-3)

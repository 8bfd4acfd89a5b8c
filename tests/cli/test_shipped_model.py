"""The model that ships in Data/model, as a fresh install uses it: the whole catalogue, recent anime included."""

from __future__ import annotations

import json
import math

import typer

from animerec_tui.catalog import load_catalog
from animerec_tui.engine import Engine
from tests.conftest import invoke

FRIEREN, JUJUTSU_KAISEN, CHAINSAW_MAN = 52991, 40748, 44511


def test_recent_favourites_count_and_recent_anime_come_back(home):
    result = invoke("recommend", "Sousou no Frieren", "Jujutsu Kaisen (TV)", "Chainsaw Man", "-k", "20", "--year-from", "2017", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["favourites"] == [FRIEREN, JUJUTSU_KAISEN, CHAINSAW_MAN] and document["unknown"] == []
    assert len(document["recommendations"]) == 20
    assert all(r["year"] >= 2017 for r in document["recommendations"])
    # Frieren (2023) is known from its metadata alone; the other two were rated in the 2023 crawl
    assert "Sousou no Frieren" in result.stderr and "no ratings yet" in result.stderr


def test_the_shipped_model_scores_every_catalogue_anime():
    catalog = load_catalog()
    engine = Engine(catalog=catalog)
    assert all(engine.knows(mal_id) for mal_id in catalog.by_id)
    assert engine.rated(JUJUTSU_KAISEN) and engine.rated(CHAINSAW_MAN) and not engine.rated(FRIEREN)
    similar = engine.similar(FRIEREN, k=10)
    assert len(similar) == 10 and FRIEREN not in {r.mal_id for r in similar}
    # Anime like it lean on its metadata: not the popularity prior that recommending for it gives.
    recommended = engine.recommend([FRIEREN], k=10).items
    assert len({r.mal_id for r in similar} & {r.mal_id for r in recommended}) <= 3
    assert sum(r.year is not None and r.year >= 2015 for r in similar) > sum(r.year is not None and r.year >= 2015 for r in recommended)


def test_similar_says_when_an_anime_has_no_ratings(home):
    result = invoke("recommend", "--similar", "Sousou no Frieren", "-k", "3")
    assert result.exit_code == 0 and "anime like Sousou no Frieren (no ratings yet" in result.stdout
    result = invoke("recommend", "--similar", "Chainsaw Man", "-k", "3")
    assert result.exit_code == 0 and "anime like Chainsaw Man" in result.stdout and "no ratings yet" not in result.stdout


def test_anime_without_ratings_take_at_most_their_share_unless_nothing_else_passes():
    from dataclasses import replace

    from animerec_tui.engine import Filters

    engine = Engine(catalog=load_catalog())
    favourites = [FRIEREN, CHAINSAW_MAN, 49387]  # Vinland Saga Season 2: two of three known from metadata only
    free = engine.recommend(favourites, k=10, filters=Filters(new_share=1.0)).items
    default = engine.recommend(favourites, k=10).items
    assert len(default) == 10 and sum(not r.rated for r in default) <= 2
    # calibrated (meta.json's new_calibration), their scores no longer crowd the list when left free
    assert sum(not r.rated for r in free) <= 2
    # the ones shown are the best-scored of them, in their place
    assert [r.mal_id for r in default if not r.rated] == [r.mal_id for r in free if not r.rated][: sum(not r.rated for r in default)]
    assert all(r.rated for r in engine.recommend(favourites, k=10, filters=Filters(new_share=0.0)).items)
    # spread through the list, not bunched at its top: a list of 50 opens as a list of 10 would
    longer = engine.recommend(favourites, k=50).items
    assert sum(not r.rated for r in longer) <= 10 and [r.mal_id for r in longer[:10]] == [r.mal_id for r in default]
    for n in range(1, 51):
        assert sum(not r.rated for r in longer[:n]) <= math.ceil(0.2 * n - 1e-9)
    # when too few rated anime pass the filters, anime without ratings fill the list
    few = int((engine.year_of[: engine.num_rated] >= 2023).sum())
    assert few < 8
    recent = engine.recommend(favourites, k=10, filters=replace(Filters(), year_from=2023)).items
    assert len(recent) == 10 and sum(r.rated for r in recent) <= few and sum(not r.rated for r in recent) >= 10 - few


def test_the_cli_default_share_is_the_engine_default():
    from animerec_tui.cli import app
    from animerec_tui.engine import Filters

    command = typer.main.get_command(app).commands["recommend"]  # type: ignore[attr-defined]
    assert next(p.default for p in command.params if p.name == "new_share") == Filters.new_share


def test_no_shipped_recommendation_for_one_to_three_favourites_gives_a_reason_at_zero_percent():
    """A "0%" reason says a favourite carries a result it does not: the list as a whole is named instead."""
    import re

    import numpy as np

    engine = Engine()
    rng = np.random.default_rng(0)
    popular = sorted((int(m) for m in engine.item_ids[: engine.num_rated]), key=lambda m: -(engine.by_id[m].get("members") or 0))[:300]
    requests = [rng.choice(popular, size=n, replace=False).tolist() for n in (1, 2, 3) for _ in range(20)]
    requests += [[52991], [47917], [457]]  # Frieren (no ratings), Bocchi the Rock!, Mushishi
    for favourites in requests:
        for rec in engine.recommend(favourites, 20).items:
            assert rec.because, (favourites, rec.title)
            assert not re.search(r"(^|\s)0%", rec.reasons()), (favourites, rec.title, rec.reasons())
            assert all(share is None or share >= 0.01 for share in rec.because_share)


BOCCHI = 47917
MIXED = [1, 457, 19, 5114, 9253, 20583, 32182, 38000, JUJUTSU_KAISEN, CHAINSAW_MAN, BOCCHI, 50265, 46102, 34599, 33352, 37521, 37999, 41457]
"""Eighteen favourites of a fan of today: 2000s classics and 2020s hits."""


def test_a_fan_of_today_sees_no_sparse_anime_first_and_no_ties_by_genre_set():
    """Issue 29: no anime with a sparse description (fewer than three of: two or more genres, a
    studio, episodes, members, a MAL score) in the top 5, and no two of the top 10 tied on score
    with the same genres (what an uncalibrated metadata-only score gave)."""
    engine = Engine(catalog=load_catalog())

    def known_fields(mal_id: int) -> int:
        e = engine.by_id[mal_id]
        return sum([len(e.get("genres") or []) >= 2, bool(e.get("studios")), bool(e.get("episodes")), bool(e.get("members")), e.get("score") is not None])

    for favourites in ([BOCCHI], [FRIEREN], MIXED):
        items = engine.recommend(favourites, k=10).items
        assert len(items) == 10
        assert all(known_fields(r.mal_id) >= 3 for r in items[:5]), [r.title for r in items[:5]]
        seen = {(r.score, tuple(sorted(r.genres))) for r in items}
        assert len(seen) == len(items)

"""Title search: what a fan types, and what must (not) come back."""

from __future__ import annotations

import pytest

from animerec_tui.search import TitleIndex


@pytest.fixture(scope="module")
def index(catalog) -> TitleIndex:
    return TitleIndex(catalog)


def test_adult_titles_are_left_out_when_asked(index, catalog):
    adult = next(e for e in sorted(catalog, key=lambda e: -(e.get("members") or 0)) if e["is_adult"])
    query = adult["title"]
    assert adult["mal_id"] in [m.mal_id for m in index.search(query, limit=30)]
    hidden = index.search(query, limit=30, hide_adult=True)
    assert adult["mal_id"] not in [m.mal_id for m in hidden]
    for query in ("demon slayer", "kimetsu", "love", "sister", "ta"):
        assert not any(catalog.by_id[m.mal_id]["is_adult"] for m in index.search(query, limit=30, hide_adult=True))

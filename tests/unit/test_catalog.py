"""The shipped catalogue and its reproducible build."""

from __future__ import annotations

import pytest

from animerec_tui.catalog import default_catalog_path, load_catalog
from tests.conftest import ANIME_DATA, needs_shared_data
from training.catalog import TYPES, catalog_bytes
from training.catalog_build import _python_list, build_catalog
from training.errors import UserError


def test_shipped_catalogue_has_what_the_app_needs():
    entries = load_catalog()
    assert len(entries) > 15_000
    by_id = {e["mal_id"]: e for e in entries}
    assert by_id[32281]["title_english"] == "Your Name."
    assert by_id[1535]["type"] == "TV" and by_id[1535]["url"] == "https://myanimelist.net/anime/1535"
    assert {e["type"] for e in entries} <= set(TYPES) | {None}
    assert sum(e["is_adult"] for e in entries) > 1000
    assert all("&#039;" not in (e["title"] or "") for e in entries)
    assert sum(bool(e["genres"]) for e in entries) / len(entries) > 0.99


@needs_shared_data("anime", "reference_animerecbert_meta", "animes.json")
def test_rebuild_matches_the_shipped_bytes():
    assert catalog_bytes(build_catalog(ANIME_DATA)) == default_catalog_path().read_bytes()


def test_python_list_parsing_does_not_evaluate():
    assert _python_list("['Action', \"Kid's\", '__import__(\"os\")']") == ["Action", "Kid's", '__import__("os")']


def test_a_corrupt_catalogue_is_one_clear_error(tmp_path):
    path = tmp_path / "catalog.json.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(UserError, match="not a readable animerec catalogue"):
        load_catalog(path)
    with pytest.raises(UserError, match="not found"):
        load_catalog(tmp_path / "missing.json.gz")

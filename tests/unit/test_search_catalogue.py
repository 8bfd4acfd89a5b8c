"""Search over the shipped catalogue: members counted after airing keep the right anime first."""

from __future__ import annotations

from animerec_tui.catalog import load_catalog
from animerec_tui.search import TitleIndex


def test_bocchi_finds_bocchi_the_rock_first():
    # Hitoribocchi no Marumaru Seikatsu also matches; Bocchi the Rock! had 468 members, counted before it aired
    assert TitleIndex(load_catalog()).search("bocchi", limit=3)[0].title == "Bocchi the Rock!"

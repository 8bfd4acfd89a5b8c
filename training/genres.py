"""Per-item metadata tokens for the hybrid input, from a catalogue.

An anime is known from what it is: its genres and themes, studios, type, era of first
airing, length, popularity on MAL and whether it is a sequel or adult. Each of those is a
token (``genre:Action``, ``studio:Madhouse``, ``era:2019-2020``, ...) with a learnt
embedding; an item's metadata vector is the mean of its tokens' embeddings. Numbers go into
coarse buckets so that every bucket is shared by many anime, rated ones included: the newest
era bucket holds 2021 and everything after it, so an anime of 2025 shares its era with the
2021-2022 anime the 2023 crawl rated, instead of having an era no training ever saw.
"""

from __future__ import annotations

import bisect

import numpy as np

from training.catalog import Catalog, as_catalog

KINDS = ("genre", "studio", "type", "era", "episodes", "members", "flag")
"""Every kind of token; ``genre`` alone gives the reference system's genre-only input."""
# Bucket edges: a value v falls in the bucket whose lower edge is the largest edge <= v.
_ERAS = (1900, 1980, 1990, 2000, 2005, 2009, 2011, 2013, 2015, 2017, 2019, 2021)
_EPISODES = (1, 2, 7, 14, 27, 53)
_MEMBERS = (0, 1_000, 10_000, 50_000, 200_000, 500_000)


def _bucket(value: int | None, edges: tuple[int, ...]) -> str | None:
    if value is None or value < edges[0]:
        return None
    at = bisect.bisect_right(edges, value) - 1
    return f"{edges[at]}+" if at == len(edges) - 1 else f"{edges[at]}-{edges[at + 1] - 1}"


def item_tokens(entry: dict, kinds: tuple[str, ...] = KINDS) -> list[str]:
    """The metadata tokens of one catalogue record (an empty record has none)."""
    tokens: list[str] = []
    if "genre" in kinds:
        tokens += [f"genre:{g}" for g in entry.get("genres", [])]
    if "studio" in kinds:
        tokens += [f"studio:{s}" for s in entry.get("studios", [])]
    if "type" in kinds and entry.get("type"):
        tokens.append(f"type:{entry['type']}")
    for kind, value, edges in (("era", entry.get("year"), _ERAS), ("episodes", entry.get("episodes"), _EPISODES), ("members", entry.get("members"), _MEMBERS)):
        bucket = _bucket(value, edges) if kind in kinds else None
        if bucket is not None:
            tokens.append(f"{kind}:{bucket}")
    if "flag" in kinds:
        tokens += [f"flag:{flag}" for flag in ("is_sequel", "is_adult") if entry.get(flag)]
    return list(dict.fromkeys(tokens))


def genre_table(item_ids: np.ndarray, catalog: Catalog | list[dict], kinds: tuple[str, ...] = KINDS) -> tuple[list[str], np.ndarray]:
    """Token vocabulary (names, id = index + 1) and an (n + 2, G) table of token ids per item.

    Row 0 (padding), row n + 1 (mask) and items the catalogue does not know have no tokens;
    ``G`` is the largest token count of any item, and unused slots are 0.
    """
    by_id = as_catalog(catalog).by_id
    item_tokens_ = [item_tokens(by_id.get(int(mal_id), {}), kinds) for mal_id in item_ids]
    names = sorted({t for tokens in item_tokens_ for t in tokens})
    index = {name: i + 1 for i, name in enumerate(names)}
    width = max(1, max((len(t) for t in item_tokens_), default=1))
    table = np.zeros((len(item_ids) + 2, width), dtype=np.int64)
    for row, tokens in enumerate(item_tokens_, start=1):
        table[row, : len(tokens)] = [index[t] for t in tokens]
    return names, table

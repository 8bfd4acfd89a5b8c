"""Per-item metadata tokens for the hybrid input, from a catalogue.

An anime is known from what it is: its genres and themes, studios, type, era of first
airing, length, popularity on MAL and whether it is a sequel or adult. Each of those is a
token (``genre:Action``, ``studio:Madhouse``, ``era:2019-2020``, ...) with a learnt
embedding. A field the catalogue lacks is a token too (``members:unknown``): an anime with
few known fields must not look like one whose every field is average.

How tokens pool into an item's vector (``token_weights``): by field, the mean of the
tokens within a field (genres, studios) summed over the fields, so each field counts once
however many genres an anime has. (The first models took the plain mean of all tokens,
which let an anime with one known field score like one with seven.) Numbers go into
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
_ALWAYS = ("genre", "studio", "type", "era", "episodes", "members")
"""Fields every item has a token for: ``kind:unknown`` when the catalogue lacks it."""
# Bucket edges: a value v falls in the bucket whose lower edge is the largest edge <= v.
_ERAS = (1900, 1980, 1990, 2000, 2005, 2009, 2011, 2013, 2015, 2017, 2019, 2021)
_EPISODES = (1, 2, 7, 14, 27, 53)
_MEMBERS = (0, 1_000, 10_000, 50_000, 200_000, 500_000)


def _bucket(value: int | None, edges: tuple[int, ...]) -> str | None:
    if value is None or value < edges[0]:
        return None
    at = bisect.bisect_right(edges, value) - 1
    return f"{edges[at]}+" if at == len(edges) - 1 else f"{edges[at]}-{edges[at + 1] - 1}"


def item_tokens(entry: dict, kinds: tuple[str, ...] = KINDS, unknown: bool = False) -> list[str]:
    """The metadata tokens of one catalogue record; with ``unknown``, a ``kind:unknown`` token
    for every field of ``_ALWAYS`` the record lacks (else an empty record has none)."""
    found: dict[str, list[str]] = {
        "genre": list(entry.get("genres", [])),
        "studio": list(entry.get("studios", [])),
        "type": [entry["type"]] if entry.get("type") else [],
        "flag": [flag for flag in ("is_sequel", "is_adult") if entry.get(flag)],
    }
    for kind, value, edges in (("era", entry.get("year"), _ERAS), ("episodes", entry.get("episodes"), _EPISODES), ("members", entry.get("members"), _MEMBERS)):
        bucket = _bucket(value, edges)
        found[kind] = [] if bucket is None else [bucket]
    tokens: list[str] = []
    for kind in KINDS:
        if kind in kinds:
            values = found[kind] or (["unknown"] if unknown and kind in _ALWAYS else [])
            tokens += [f"{kind}:{value}" for value in values]
    return list(dict.fromkeys(tokens))


def genre_table(item_ids: np.ndarray, catalog: Catalog | list[dict], kinds: tuple[str, ...] = KINDS, unknown: bool = False) -> tuple[list[str], np.ndarray]:
    """Token vocabulary (names, id = index + 1) and an (n + 2, G) table of token ids per item.

    Row 0 (padding), row n + 1 (mask) and items the catalogue does not know have no tokens
    (``unknown`` ones aside); ``G`` is the largest token count of any item, and unused slots are 0.
    """
    by_id = as_catalog(catalog).by_id
    item_tokens_ = [item_tokens(by_id.get(int(mal_id), {}), kinds, unknown) for mal_id in item_ids]
    names = sorted({t for tokens in item_tokens_ for t in tokens})
    index = {name: i + 1 for i, name in enumerate(names)}
    width = max(1, max((len(t) for t in item_tokens_), default=1))
    table = np.zeros((len(item_ids) + 2, width), dtype=np.int64)
    for row, tokens in enumerate(item_tokens_, start=1):
        table[row, : len(tokens)] = [index[t] for t in tokens]
    return names, table


def token_weights(names: list[str], table: np.ndarray) -> np.ndarray:
    """Per-slot pooling weights for ``table`` (from ``genre_table``): 1 / (the item's tokens of
    the slot's field), 0 for empty slots, so a weighted sum is the per-field mean summed over fields."""
    fields = {kind: number for number, kind in enumerate(sorted({name.split(":", 1)[0] for name in names}), start=1)}
    kind_of = np.asarray([0] + [fields[name.split(":", 1)[0]] for name in names], dtype=np.int64)
    kinds = kind_of[table]
    same = (kinds[:, :, None] == kinds[:, None, :]) & (table[:, None, :] > 0)
    weights = np.where(table > 0, 1.0 / np.maximum(same.sum(axis=2), 1), 0.0)
    return weights.astype(np.float32)

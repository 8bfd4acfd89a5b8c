"""Per-item genre ids for the hybrid input, from a catalogue."""

from __future__ import annotations

import numpy as np

from training.catalog import Catalog, as_catalog


def genre_table(item_ids: np.ndarray, catalog: Catalog | list[dict]) -> tuple[list[str], np.ndarray]:
    """Genre vocabulary (names, id = index + 1) and an (n + 2, G) table of genre ids per token.

    Row 0 (padding), row n + 1 (mask) and items the catalogue does not know have no genres;
    ``G`` is the largest genre count of any item, and unused slots are 0.
    """
    by_id = as_catalog(catalog).by_id
    item_genres = [by_id.get(int(mal_id), {}).get("genres", []) for mal_id in item_ids]
    names = sorted({g for genres in item_genres for g in genres})
    index = {name: i + 1 for i, name in enumerate(names)}
    width = max(1, max((len(g) for g in item_genres), default=1))
    table = np.zeros((len(item_ids) + 2, width), dtype=np.int64)
    for row, genres in enumerate(item_genres, start=1):
        table[row, : len(genres)] = [index[g] for g in genres]
    return names, table

"""Fuzzy title search over every title variant of the catalogue (rapidfuzz).

Used as-you-type by the TUI and to resolve the titles given to ``animerec recommend``.
A query matches a title variant by, in order of strength: equality, prefix, whole-word
substring, substring, then typo-tolerant similarity (``fuzz.ratio`` against the whole
variant and against its first ``len(query)`` characters, so a typo in a half-typed title
still matches). One- and two-character queries match title starts only. Ties go to the
more popular anime (MAL members).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from training.catalog import Catalog, as_catalog
from training.errors import UserError


@dataclass(frozen=True)
class Match:
    """One anime found by a query, with the title variant that matched best."""

    mal_id: int
    title: str
    matched: str
    score: float


class TitleIndex:
    """All title variants of a catalogue, normalised once, searchable in a few milliseconds."""

    def __init__(self, catalog: Catalog | list[dict]) -> None:
        catalog = as_catalog(catalog)
        self.by_id = catalog.by_id
        variants, owners, shown = [], [], []
        for entry in catalog:
            seen = set()
            for title in (entry.get("title"), entry.get("title_english"), *entry.get("titles_alt", [])):
                key = default_process(title or "")
                if key and key not in seen:
                    seen.add(key)
                    variants.append(key)
                    owners.append(entry["mal_id"])
                    shown.append(title)
        self.variants = variants
        self.shown = shown
        self.owners = np.asarray(owners, dtype=np.int64)
        self.lengths = np.asarray([len(v) for v in variants])
        members = np.asarray([math.log1p(self.by_id[o].get("members") or 0) for o in owners])
        self.popularity = members / (members.max() or 1.0)
        self.adult = np.asarray([bool(self.by_id[o].get("is_adult")) for o in owners])
        self._joined = "\n".join(variants)
        self._starts = np.cumsum([0] + [len(v) + 1 for v in variants[:-1]])
        self._heads: dict[int, list[str]] = {}
        self._short_prefix: dict[str, list[int]] = {}
        for i, variant in enumerate(variants):
            for n in (1, 2):
                if len(variant) >= n:
                    self._short_prefix.setdefault(variant[:n], []).append(i)
        self._short_exact = {v: [i for i in idx if variants[i] == v] for v, idx in self._short_prefix.items()}

    def search(self, query: str, limit: int = 20, hide_adult: bool = False) -> list[Match]:
        """The best ``limit`` anime for ``query`` (one row per anime), adult titles left out with ``hide_adult``."""
        q = default_process(query or "")
        if not q:
            return []
        if len(q) <= 2:
            scores = np.zeros(len(self.variants), dtype=np.float32)
            scores[self._short_prefix.get(q, [])] = 150
            scores[self._short_exact.get(q, [])] = 200
        else:
            scores = self._fuzzy(q)
            self._mark_substrings(q, scores)
        if hide_adult:
            scores[self.adult] = 0
        return self._ranked(scores, limit)

    def _fuzzy(self, q: str) -> np.ndarray:
        """Typo-tolerant similarity: against whole variants, and against their first len(q) characters."""
        whole = process.cdist([q], self.variants, scorer=fuzz.ratio, dtype=np.float32, workers=1, score_cutoff=75)[0]
        heads = self._heads.get(len(q))
        if heads is None:
            heads = self._heads[len(q)] = [v[: len(q)] for v in self.variants]
        head = process.cdist([q], heads, scorer=fuzz.ratio, dtype=np.float32, workers=1, score_cutoff=80)[0]
        return np.maximum(whole, 0.95 * head)

    def _mark_substrings(self, q: str, scores: np.ndarray) -> None:
        """Exact, prefix, word and plain substring matches, found in one pass over the joined variants."""
        for hit in re.finditer(re.escape(q), self._joined):
            i = int(np.searchsorted(self._starts, hit.start(), side="right")) - 1
            offset = hit.start() - self._starts[i]
            variant = self.variants[i]
            if offset == 0:
                score = 200 if len(variant) == len(q) else 150
            elif variant[offset - 1] == " ":
                end = offset + len(q)
                score = 130 if end == len(variant) or variant[end] == " " else 120
            else:
                score = 110
            scores[i] = max(scores[i], score)

    def _ranked(self, scores: np.ndarray, limit: int) -> list[Match]:
        candidates = np.flatnonzero(scores >= 60)
        order = candidates[np.argsort(-(scores[candidates] + 5.0 * self.popularity[candidates]), kind="stable")]
        out, taken = [], set()
        for i in order:
            owner = int(self.owners[i])
            if owner in taken:
                continue
            taken.add(owner)
            out.append(Match(owner, self.by_id[owner]["title"], self.shown[i], float(scores[i])))
            if len(out) == limit:
                break
        return out

    def resolve(self, query: str) -> Match:
        """The one anime ``query`` names, or a UserError listing the closest candidates.

        Accepted: a title variant equal to the query (after normalisation) that belongs to a
        single anime, or a clear best fuzzy match (a typo) well ahead of the next one.
        """
        matches = self.search(query, limit=6)
        if not matches:
            raise UserError(f"no anime title looks like '{query}'")
        exact = [m for m in matches if m.score >= 200]
        if len(exact) == 1:
            return exact[0]
        best = matches[0]
        runner_up = matches[1].score if len(matches) > 1 else 0.0
        if not exact and best.score < 110 and best.score >= 85 and best.score - runner_up >= 8:
            return best
        listed = "; ".join(f"{m.title} (--mal-id {m.mal_id})" for m in matches[:5])
        raise UserError(f"'{query}' is ambiguous or unknown; closest: {listed}")

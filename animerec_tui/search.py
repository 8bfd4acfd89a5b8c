"""Fuzzy title search over every title variant of the catalogue (rapidfuzz).

Used as-you-type by the TUI and to resolve the titles given to ``animerec recommend``.
A query matches a title variant by, in order of strength: equality, prefix, whole-word
substring, substring, then typo-tolerant similarity (``fuzz.ratio`` against the whole
variant and ``fuzz.partial_ratio`` against variants at least as long as the query). Ties
go to the more popular anime (MAL members).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from animerec_tui.errors import UserError


@dataclass(frozen=True)
class Match:
    """One anime found by a query, with the title variant that matched best."""

    mal_id: int
    title: str
    matched: str
    score: float


class TitleIndex:
    """All title variants of a catalogue, normalised once, searchable in a few milliseconds."""

    def __init__(self, catalog: list[dict]) -> None:
        self.by_id = {entry["mal_id"]: entry for entry in catalog}
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

    def search(self, query: str, limit: int = 20) -> list[Match]:
        """The best ``limit`` anime for ``query`` (one row per anime)."""
        q = default_process(query or "")
        if not q:
            return []
        scores = np.asarray(process.cdist([q], self.variants, scorer=fuzz.ratio, dtype=np.float32, workers=1)[0])
        partial = np.asarray(process.cdist([q], self.variants, scorer=fuzz.partial_ratio, dtype=np.float32, workers=1, score_cutoff=75)[0])
        partial[self.lengths < len(q)] = 0
        scores = np.maximum(scores, partial * 0.9)
        for i, variant in enumerate(self.variants):
            if q in variant:
                if variant == q:
                    scores[i] = 200
                elif variant.startswith(q):
                    scores[i] = 150
                elif f" {q}" in f" {variant} " or variant.startswith(q + " "):
                    scores[i] = max(scores[i], 130 if f" {q} " in f" {variant} " else 120)
                else:
                    scores[i] = max(scores[i], 110)
        ranking = scores + 5.0 * self.popularity
        order = np.argsort(-ranking, kind="stable")
        out, taken = [], set()
        for i in order:
            if scores[i] < 60:
                break
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

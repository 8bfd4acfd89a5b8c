"""Fuzzy title search over every title variant of the catalogue (rapidfuzz).

Used as-you-type by the TUI and to resolve the titles given to ``animerec recommend``.
A query matches a title variant by, in order of strength: a fan abbreviation from the
curated table (``fmab``, ``jjk``), equality, the initials of the variant's words (``snk``,
``aot``, ``kny``), a prefix of the variant, a whole word of it, or a prefix of it with the
spaces left out (``rezero``, ``konosuba``); then a word's start, the end of a compound word
(``monogatari`` in Bakemonogatari), any substring, and last typo-tolerant similarity
(``fuzz.ratio`` against the whole variant and against its first ``len(query)`` characters,
so a typo in a half-typed title still matches). One- and two-character queries match title
starts only. Popularity (MAL members) adds a bonus: among matches of one strength the
more popular comes first, and a famous anime can pass a little-known one that matched a
step or two stronger (Bakemonogatari over "X Monogatari"), but never an exact title.
"""

from __future__ import annotations

import bisect
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


DOMINANT = 10
"""A title several anime share names the one with this many times the MAL members of any other."""

ALIASES: dict[str, tuple[int, ...]] = {
    "fmab": (5114,), "fma": (121, 5114), "jjk": (40748,), "csm": (44511,), "mha": (31964,), "bnha": (31964,),
    "aot": (16498,), "snk": (16498,), "kny": (38000,), "hxh": (11061,), "ttgl": (2001,), "opm": (30276,),
    "dbz": (813,), "jojo": (14719,), "rezero": (31240,), "konosuba": (30831,), "oregairu": (14813,), "toradora": (4224,),
}
"""Fan abbreviations the title rules below do not find on their own (MAL ids, best first).
Checked by ``tests/unit/test_search.py`` against the catalogue's titles."""

EXACT, ALIAS, INITIALS, PREFIX, WORD, WORD_START, COMPOUND, SUBSTRING = 200, 205, 170, 150, 150, 140, 145, 110
"""Match strengths (see the module docstring); fuzzy similarity scores at most 100."""
POPULARITY = 40.0
"""The most popular anime's bonus (log members, scaled to 0-1, times this): enough for a
famous anime to pass a little-known one a step or two stronger, never an exact title."""


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
        self._codes = np.frombuffer(self._joined.encode("utf-32-le"), dtype=np.uint32)
        """The joined variants as code points: the characters around a hit, looked up at once."""
        self._starts = np.cumsum([0] + [len(v) + 1 for v in variants[:-1]])
        self._initials: dict[str, list[int]] = {}
        compact = []
        for i, variant in enumerate(variants):
            words = variant.split()
            if len(words) >= 2:
                self._initials.setdefault("".join(w[0] for w in words), []).append(i)
            compact.append("".join(words))
        self._compact_order = sorted(range(len(variants)), key=compact.__getitem__)
        self._compact_sorted = [compact[i] for i in self._compact_order]
        self._position: dict[int, int] = {}
        for i, owner in enumerate(owners):
            self._position.setdefault(owner, i)  # an anime's first variant: its main title
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
            self._mark_short_forms(q, scores)
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
        """Exact, prefix, word, compound-end and plain substring matches: every occurrence of
        ``q`` in the joined variants, classified by the characters around it, all at once."""
        hits = np.fromiter((m.start() for m in re.finditer(re.escape(q), self._joined)), dtype=np.int64)
        if not hits.size:
            return
        variant = np.searchsorted(self._starts, hits, side="right") - 1
        offset = hits - self._starts[variant]
        end = hits + len(q)
        codes = self._codes
        before = np.where(offset > 0, codes[np.maximum(hits - 1, 0)], 10)  # 10: the start of a variant, like a "\n"
        after = np.where(end < codes.size, codes[np.minimum(end, codes.size - 1)], 10)
        word_start = (offset == 0) | (before == 32)
        word_end = (after == 32) | (after == 10)
        strength = np.full(hits.size, SUBSTRING, dtype=np.float32)
        if len(q) >= 4 and " " not in q:  # the end of a compound word ("k on" in "attack on" is no word)
            strength[word_end & ~word_start] = COMPOUND
        strength[word_start] = WORD_START
        strength[word_start & word_end] = WORD
        strength[offset == 0] = PREFIX
        strength[(offset == 0) & (after == 10)] = EXACT
        np.maximum.at(scores, variant, strength)

    def _mark_short_forms(self, q: str, scores: np.ndarray) -> None:
        """Curated abbreviations, initials, and prefixes with the spaces left out."""
        for mal_id in ALIASES.get(q.replace(" ", ""), ()):
            if mal_id in self._position:
                scores[self._position[mal_id]] = max(scores[self._position[mal_id]], ALIAS)
        if len(q) >= 3 and " " not in q:
            hit = self._initials.get(q, [])
            scores[hit] = np.maximum(scores[hit], INITIALS)
        packed = q.replace(" ", "")
        if len(packed) >= 4:
            first = bisect.bisect_left(self._compact_sorted, packed)
            last = bisect.bisect_left(self._compact_sorted, packed + "\uffff")
            hit = self._compact_order[first:last]
            scores[hit] = np.maximum(scores[hit], PREFIX)

    def _ranked(self, scores: np.ndarray, limit: int) -> list[Match]:
        candidates = np.flatnonzero(scores >= 60)
        order = candidates[np.argsort(-(scores[candidates] + POPULARITY * self.popularity[candidates]), kind="stable")]
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

        Accepted, in turn (a score below 200 tells the caller to say which anime it took):

        - a title variant equal to the query (after normalisation) that belongs to a single anime;
        - several such anime: the one ten times as watched as any other, else, when they are
          one franchise's entries ("Gintama", "Spy x Family"), the first aired of them;
        - no equal variant: a clear best fuzzy match (a typo) well ahead of the next one, or
          the first aired entry when every best match is of one franchise ("Frieren",
          "Demon Slayer", "Fullmetal Alchemist Brotherhood").
        """
        matches = self.search(query, limit=6)
        if not matches:
            raise UserError(f"no anime title looks like '{query}'")
        exact = [m for m in matches if m.score >= 200]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:  # one title, several anime: a fan means the one ten times as watched as any other
            members = sorted(((self.by_id[m.mal_id].get("members") or 0, m) for m in exact), key=lambda pair: -pair[0])
            if members[0][0] >= DOMINANT * max(members[1][0], 1):
                top = members[0][1]
                return Match(top.mal_id, top.title, top.matched, 199.0)  # below 200: the caller says which it took
            first = self._first_of_one_franchise(exact)
            if first is not None:
                return first
        best = matches[0]
        runner_up = matches[1].score if len(matches) > 1 else 0.0
        if not exact and best.score < 110 and best.score >= 85 and best.score - runner_up >= 8:
            return best
        if not exact:
            best_score = max(m.score for m in matches)
            first = self._first_of_one_franchise([m for m in matches if m.score >= best_score])
            if first is not None:
                return first
        listed = "; ".join(f"{m.title} (--mal-id {m.mal_id})" for m in matches[:5])
        raise UserError(f"'{query}' is ambiguous or unknown; closest: {listed}")

    def _first_of_one_franchise(self, matches: list[Match]) -> Match | None:
        """The first aired of ``matches`` when they are all one franchise's entries (else None), scored below 200."""
        entries = [self.by_id[m.mal_id] for m in matches]
        if len({e.get("franchise") or e["mal_id"] for e in entries}) != 1:
            return None
        seasons = {"Winter": 0, "Spring": 1, "Summer": 2, "Fall": 3}
        first = min(matches, key=lambda m: (self.by_id[m.mal_id].get("year") or 10_000, seasons.get(self.by_id[m.mal_id].get("season") or "", 4), m.mal_id))
        return Match(first.mal_id, first.title, first.matched, min(first.score, 199.0))

"""Fuzzy title search over every title variant of the catalogue (rapidfuzz).

Used as-you-type by the TUI and to resolve the titles given to ``animerec recommend``.
A query matches a title variant by, in order of strength: a fan abbreviation from the
curated table (``fmab``, ``jjk``), equality, the initials of the variant's words (``snk``,
``aot``, ``kny``), a prefix of the variant, a whole word of it, or a prefix of it with the
spaces left out (``rezero``, ``konosuba``); then a word's start, the end of a compound word
(``monogatari`` in Bakemonogatari, as strong as a word), any substring, and last typo-tolerant
similarity (``fuzz.ratio`` against the whole variant and against its first ``len(query)``
characters, so a typo in a half-typed title still matches). One- and two-character queries
match title starts only. Titles and queries are compared in lower case without punctuation
and with one space between words ("Cyberpunk Edgerunners" is "Cyberpunk: Edgerunners").

Popularity (MAL members) adds a bonus: among matches of one strength the more popular comes
first, and a famous anime can pass a little-known one that matched a step or two stronger,
but never an exact title. An anime without a count (aired after the ratings end) counts as
its type's median, not as unknown. A franchise's first entry rises to the strength of a
sequel of its that matched better ("spy family" finds Spy x Family before its Season 2).

A query that ends in a season ("jjk 2", "apothecary season 2", "yuru camp s2", "aot final",
"x part 2") puts the entries of that season, in the franchises the rest of it finds, above
every other match: a season's later parts a step below its first, other parts further down.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, replace

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
    how: str = ""
    """How ``TitleIndex.resolve`` chose it, in words for the user (empty from ``search``)."""


DOMINANT = 10
"""A title several anime share names the one with this many times the MAL members of any other."""

ALIASES: dict[str, tuple[int, ...]] = {
    "fmab": (5114,), "fma": (121, 5114), "jjk": (40748,), "csm": (44511,), "mha": (31964,), "bnha": (31964,),
    "aot": (16498,), "snk": (16498,), "kny": (38000,), "hxh": (11061,), "ttgl": (2001,), "opm": (30276,),
    "dbz": (813,), "jojo": (14719,), "rezero": (31240,), "konosuba": (30831,), "oregairu": (14813,), "toradora": (4224,),
}
"""Fan abbreviations the title rules below do not find on their own (MAL ids, best first).
Checked by ``tests/unit/test_search.py`` against the catalogue's titles."""

EXACT, ALIAS, INITIALS, PREFIX, WORD, WORD_START, COMPOUND, SUBSTRING = 200, 205, 170, 150, 150, 140, 150, 110
"""Match strengths (see the module docstring); fuzzy similarity scores at most 100. The end of
a compound word counts as a word: "monogatari" is one in Bakemonogatari as in Ore Monogatari."""
SEASON, OTHER_PART = 198, 180
"""The strengths of a franchise's entries of the season a query names ("jjk 2": Jujutsu Kaisen 2nd
Season) and of its other numbered parts ("Spy x Family Part 2"): above any prefix, below an
exact title; below 200, so ``resolve`` says which it took."""
MAIN_TYPES = frozenset({"TV", "Movie", "ONA"})
"""The types of a franchise's own instalments; OVAs, specials and music videos are its extras."""
HEAD_LEAD = 1.5
"""How many times the MAL members of any other franchise's first entry (at equal strength) the
best match of a franchise's name needs for ``resolve`` to take it ("Bocchi": Bocchi the Rock!
has 1.9 times Hitoribocchi no Marumaru Seikatsu's)."""
POPULARITY = 40.0
"""The most popular anime's bonus (log members, scaled to 0-1, times this): enough for a
famous anime to pass a little-known one a step or two stronger, never an exact title."""


def _key(text: str) -> str:
    """A title or query as compared: lower case, punctuation gone, one space between words."""
    return " ".join(default_process(text or "").split())


_ORDINALS = {1: "1st", 2: "2nd", 3: "3rd"}
_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}
_ROMAN = {"ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6}
_SEASON_QUERY = re.compile(
    r"(?P<base>.+?) (?:(?P<final>final)(?: season)?|(?P<part>part|cour) (?P<pn>\d{1,2})|(?:season|s) ?(?P<sn>\d{1,2})"
    r"|(?P<on>\d{1,2})(?:st|nd|rd|th)?(?: season)?|(?P<roman>ii|iii|iv|v|vi)(?: season)?|(?P<word>"
    + "|".join(_WORDS.values()) + r") season)"
)
_NOTHING = re.compile(r"(?!)")
_LATER_PART = re.compile(r"\b(?:part|cour) (?:[2-9]|ii|iii)\b")


def season_query(q: str) -> tuple[str, re.Pattern, re.Pattern | None] | None:
    """For a normalised query that ends in a season ("jjk 2", "x 2nd season", "x s2", "x part 2",
    "x final"): the rest of the query, a pattern for the titles of that season, and one for
    the other parts of that number (None where the query names a part; never matching for
    "final"); else None."""
    m = _SEASON_QUERY.fullmatch(q)
    if m is None:
        return None
    if m["final"]:
        return m["base"], re.compile(r"\bfinal\b"), _NOTHING
    number = int(m["pn"] or m["sn"] or m["on"] or 0) or _ROMAN.get(m["roman"] or "", 0) or {w: n for n, w in _WORDS.items()}.get(m["word"] or "", 0)
    if not number:
        return None
    part = rf"\b(?:part|cour) {number}\b"
    if m["part"]:
        return m["base"], re.compile(part), None
    roman = {n: r for r, n in _ROMAN.items()}.get(number, "-")
    names = [f"season {number}", f"{_ORDINALS.get(number, f'{number}th')} season", f"s{number}", roman, str(number)]
    if number in _WORDS:
        names.append(f"{_WORDS[number]} season")
    season = rf"(?<!part )(?<!cour )\b(?:{'|'.join(names)})\b"
    return m["base"], re.compile(season), re.compile(part)


def _popularity(catalog: Catalog, owners: list[int]) -> tuple[np.ndarray, float]:
    """Each variant's anime's log MAL members, scaled to 0-1 (and the scale); an anime without a
    count (aired after the ratings end, or announced) counts as the median of its type's."""
    by_type: dict[str | None, list[float]] = {}
    for entry in catalog:
        if entry.get("members"):
            by_type.setdefault(entry.get("type"), []).append(math.log1p(entry["members"]))
    median = {kind: float(np.median(values)) for kind, values in by_type.items()}
    overall = float(np.median([v for values in by_type.values() for v in values])) if by_type else 0.0
    by_id = catalog.by_id
    logs = np.asarray([
        math.log1p(by_id[o]["members"]) if by_id[o].get("members") else median.get(by_id[o].get("type"), overall) for o in owners
    ])
    scale = float(logs.max()) or 1.0
    return logs / scale, scale


class TitleIndex:
    """All title variants of a catalogue, normalised once, searchable in a few milliseconds."""

    def __init__(self, catalog: Catalog | list[dict]) -> None:
        catalog = as_catalog(catalog)
        self.by_id = catalog.by_id
        variants, owners, shown = [], [], []
        for entry in catalog:
            seen = set()
            for title in (entry.get("title"), entry.get("title_english"), *entry.get("titles_alt", [])):
                key = _key(title or "")
                if key and key not in seen:
                    seen.add(key)
                    variants.append(key)
                    owners.append(entry["mal_id"])
                    shown.append(title)
        self.variants = variants
        self.shown = shown
        self.owners = np.asarray(owners, dtype=np.int64)
        self.lengths = np.asarray([len(v) for v in variants])
        self.popularity, scale = _popularity(catalog, owners)
        self.head_margin = POPULARITY * math.log(HEAD_LEAD) / scale
        """``HEAD_LEAD`` in rank: how far a franchise's name must put its first entry ahead of any other."""
        self.sequel = np.asarray([bool(self.by_id[o].get("is_sequel")) for o in owners])
        self.franchise = np.asarray([self.by_id[o].get("franchise") or o for o in owners], dtype=np.int64)
        self._of_franchise: dict[int, list[int]] = {}
        for i, franchise in enumerate(self.franchise.tolist()):
            self._of_franchise.setdefault(franchise, []).append(i)
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
        best, strength, _ = self._found(query, hide_adult)
        out = []
        for i, score in zip(best[:limit].tolist(), strength[:limit].tolist()):
            owner = int(self.owners[i])
            out.append(Match(owner, self.by_id[owner]["title"], self.shown[i], float(score)))
        return out

    def _found(self, query: str, hide_adult: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``_best_per_anime`` for ``query``, with the season it ends in, if any."""
        q = _key(query)
        scores = self._scores(q) if q else np.zeros(len(self.variants), dtype=np.float32)
        season = season_query(q) if len(q) > 2 else None
        if season is not None:
            self._mark_season(*season, scores)
        if hide_adult:
            scores[self.adult] = 0
        return self._best_per_anime(scores)

    def _scores(self, q: str) -> np.ndarray:
        """Every variant's strength of match with the normalised query ``q``."""
        if len(q) <= 2:
            scores = np.zeros(len(self.variants), dtype=np.float32)
            scores[self._short_prefix.get(q, [])] = PREFIX
            scores[self._short_exact.get(q, [])] = EXACT
            return scores
        scores = self._fuzzy(q)
        self._mark_substrings(q, scores)
        self._mark_short_forms(q, scores)
        return scores

    def _mark_season(self, base: str, season: re.Pattern, other: re.Pattern | None, scores: np.ndarray) -> None:
        """The entries of the season the query ends in, of the franchises that the rest of it finds
        (those within a step of the best), raised above every other match."""
        best, strength, rank = self._best_per_anime(self._scores(base))
        if not best.size or strength.max() < 75:  # the rest of the query finds nothing much
            return
        franchises = set(self.franchise[best[rank >= rank[0] - 10]].tolist())
        for franchise in franchises:
            for i in self._of_franchise.get(franchise, []):
                if season.search(self.variants[i]):  # a season's later part a step below its first, unless asked for
                    scores[i] = max(scores[i], SEASON - (3 if other is not None and _LATER_PART.search(self.variants[i]) else 0))
                elif other is not None and other.search(self.variants[i]):
                    scores[i] = max(scores[i], OTHER_PART)

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

    def _best_per_anime(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each matching anime's best variant (an index), its strength and its rank value
        (strength, popularity, a sequel's step down; a franchise's first entry raised to the
        strength of a sequel of its that matched a title better), best rank first."""
        candidates = np.flatnonzero(scores >= 60)
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
        _, first = np.unique(self.owners[candidates], return_index=True)
        best = candidates[np.sort(first)]
        strength = scores[best].astype(np.float64)
        lifted = strength.copy()
        where = {int(o): n for n, o in enumerate(self.owners[best].tolist())}
        for n in np.flatnonzero(self.sequel[best] & (strength >= WORD_START) & (strength <= PREFIX)).tolist():
            head = where.get(int(self.franchise[best[n]]))
            if head is not None and strength[head] >= 75:
                lifted[head] = max(lifted[head], strength[n])
        rank = lifted + POPULARITY * self.popularity[best]
        order = np.argsort(-rank, kind="stable")
        return best[order], lifted[order], rank[order]

    def resolve(self, query: str) -> Match:
        """The one anime ``query`` names, or a UserError listing the closest candidates.

        Taken, in turn (``how`` says which; a score below 200 tells the caller to say what it took):

        - a fan abbreviation from ``ALIASES`` ("aot");
        - a title equal to the query, ignoring case, punctuation and spacing, of a single anime;
        - several such anime: the one ten times as watched as any other, else, when they are
          one franchise's entries ("Gintama", "Spy x Family", "Dungeon Meshi"), the first aired;
        - a clear best typo-tolerant match well ahead of the next one ("Cowboy Beebop");
        - the first aired of the best matches when they are all one franchise's entries
          ("Frieren", "Demon Slayer", "jjk 2", "aot final");
        - the first match, when the query names it by words of its title, it is no sequel, its
          franchise's first entry does not match as well ("fullmetal": Fullmetal Alchemist and
          Brotherhood are refused), and it ranks ahead of every other franchise's entries that
          are no sequels by ``HEAD_LEAD`` times the MAL members at equal strength ("Code Geass",
          "Monogatari", "Bocchi").
        """
        best, strength, rank = self._found(query)
        matches = [Match(int(self.owners[i]), self.by_id[int(self.owners[i])]["title"], self.shown[i], float(s))
                   for i, s in zip(best[:8].tolist(), strength[:8].tolist())]
        if not matches:
            raise UserError(f"no anime title looks like '{query}'")
        top = matches[0]
        if top.score == ALIAS:
            return replace(top, score=199.0, how="a fan abbreviation")
        exact = [m for m in matches if m.score == EXACT]
        if len(exact) == 1:
            return replace(exact[0], how="its title")
        if len(exact) > 1:  # one title, several anime: a fan means the one ten times as watched as any other
            members = sorted(((self.by_id[m.mal_id].get("members") or 0, m) for m in exact), key=lambda pair: -pair[0])
            if all(count for count, _ in members) and members[0][0] >= DOMINANT * members[1][0]:
                return replace(members[0][1], score=199.0, how=f"the most watched of {len(exact)} anime of that title")
            first = self._first_of_one_franchise(exact, f"the first aired of {len(exact)} entries of that title")
            if first is not None:
                return first
        runner_up = matches[1].score if len(matches) > 1 else 0.0
        if not exact and 85 <= top.score < SUBSTRING and top.score - runner_up >= 8:
            return replace(top, how="the closest title")
        if not exact and top.score >= WORD_START:
            strongest = [m for m in matches if m.score >= top.score]
            season = top.score == SEASON
            if len(strongest) > 1:
                how = f"the first aired of {len(strongest)} {'entries of that season' if season else 'entries of one franchise that match'}"
            else:
                how = "its franchise's entry of that season" if season else "the only close match"
            first = self._first_of_one_franchise(strongest, how)
            if first is not None:
                return first
            head = self._head(best, strength, rank)
            if head is not None:
                return head
        listed = "; ".join(f"{m.title} (--mal-id {m.mal_id})" for m in matches[:5])
        raise UserError(f"'{query}' is ambiguous or unknown; closest: {listed}")

    def _head(self, best: np.ndarray, strength: np.ndarray, rank: np.ndarray) -> Match | None:
        """The first match as a franchise's name (see ``resolve``), or None."""
        top = int(best[0])
        if strength[0] < WORD_START or strength[0] >= EXACT or self.sequel[top]:
            return None
        owner, franchise = int(self.owners[top]), int(self.franchise[top])
        if owner != franchise and (self.owners[best] == franchise).any():
            return None  # its franchise's first entry matches too ("fullmetal": Fullmetal Alchemist, and Brotherhood)
        others = (self.franchise[best] != franchise) & ~self.sequel[best]
        if others.any() and rank[0] - rank[others].max() < self.head_margin:
            return None
        how = "by its initials" if strength[0] == INITIALS else "the best known anime of that name"
        return Match(owner, self.by_id[owner]["title"], self.shown[top], float(strength[0]), how)

    def _first_of_one_franchise(self, matches: list[Match], how: str) -> Match | None:
        """The first aired of ``matches`` (a series or film before an OVA, special or music video)
        when they are all one franchise's entries (else None), scored below 200."""
        entries = [self.by_id[m.mal_id] for m in matches]
        if len({e.get("franchise") or e["mal_id"] for e in entries}) != 1:
            return None
        seasons = {"Winter": 0, "Spring": 1, "Summer": 2, "Fall": 3}

        def aired(m: Match) -> tuple:
            entry = self.by_id[m.mal_id]
            return (entry.get("type") not in MAIN_TYPES, entry.get("year") or 10_000, seasons.get(entry.get("season") or "", 4), m.mal_id)

        first = min(matches, key=aired)
        return Match(first.mal_id, first.title, first.matched, min(first.score, 199.0), how)

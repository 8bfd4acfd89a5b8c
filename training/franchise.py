"""Franchises from titles: sequels, movies, specials and recaps grouped with the anime they follow.

No source here lists MAL's related-anime links, so a franchise is found from titles: anime B
joins anime A's franchise when A's title (main or English) begins B's and what follows in
B reads as a continuation: a colon, dash, bracket or punctuation (``Cowboy Bebop:
Tengoku no Tobira``, ``Baccano! Specials``), a sequel word or number (``... Kai``,
``... 2nd Season``, ``... Movie``, ``... 2``), or, after a title of two words or more, any
further word (``Higurashi no Naku Koro ni Rei``). A one-word title followed by another word
is not enough (``Air`` and ``Air Gear`` are not one franchise). Groups are closed under
these links (union-find); each franchise is named by its first entry: the earliest year,
then the lowest MAL id.
"""

from __future__ import annotations

import re

_SEQUEL_WORDS = re.compile(
    r"^\s(\d|(1st|2nd|3rd|\d+th|final)\b|season|movie|movies|film|the movie|gekijouban|ova|ovas|ona|special|specials|recap|recaps|"
    r"picture drama|kai|zoku|shin|r2|ii|iii|iv|v|vi|part|chapter|episode|prologue|epilogue|zero|0)\b",
    re.IGNORECASE,
)
_CONTINUATION = re.compile(r"^\s?[:\-–(\[!?.~]")


def _continues(rest: str, root_words: int) -> bool:
    """Whether ``rest`` (what follows a root title) reads as another entry of its franchise."""
    if not rest:
        return False
    if _CONTINUATION.match(rest) or _SEQUEL_WORDS.match(rest):
        return True
    return root_words >= 2 and rest[0] == " "


def franchises(entries: list[dict]) -> dict[int, int]:
    """``{mal_id: franchise}`` for every record, a franchise being its first entry's MAL id."""
    titles: dict[str, list[int]] = {}
    for entry in entries:
        for title in {t for t in (entry.get("title"), entry.get("title_english")) if isinstance(t, str) and t}:
            titles.setdefault(title.casefold(), []).append(entry["mal_id"])
    parent = {entry["mal_id"]: entry["mal_id"] for entry in entries}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for title, owners in titles.items():
        # every shorter title that begins this one at a word or punctuation boundary
        for end in range(1, len(title)):
            if title[end] not in " :-–([!?.~" or title[end - 1] == " ":
                continue
            root = title[:end].rstrip()
            if root in titles and _continues(title[len(root):], len(root.split())):
                for a in titles[root]:
                    for b in owners:
                        parent[find(b)] = find(a)
    groups: dict[int, list[dict]] = {}
    for entry in entries:
        groups.setdefault(find(entry["mal_id"]), []).append(entry)
    out = {}
    for members in groups.values():
        first = min(members, key=lambda e: (e.get("year") or 9999, e["mal_id"]))["mal_id"]
        out.update({e["mal_id"]: first for e in members})
    return out

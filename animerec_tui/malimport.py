"""Read a MyAnimeList list export (``animelist_*.xml`` or ``.xml.gz``) into MAL anime ids.

The file comes from the user and from the internet, so it is parsed with defusedxml:
DTDs, entity declarations (billion laughs) and external entities are all refused, and a
gzip file may not inflate past :data:`MAX_XML_BYTES`.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as SafeET

from training.errors import UserError

MAX_XML_BYTES = 200 * 1024 * 1024
MAX_ANIME_ID = 2**31 - 1
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Entry:
    """One anime of a MyAnimeList export."""

    anime_id: int
    score: int
    """The user's score, 0 for none."""
    status: str
    """``my_status`` lower-cased: completed, watching, dropped, on-hold, plan to watch."""


def read_mal_export(path: Path) -> list[Entry]:
    """Every entry of the export, in file order; any unreadable or unsafe file raises UserError."""
    path = Path(path)
    root = _parse_root(path, _read_xml_bytes(path))
    entries = []
    for number, element in enumerate(root.findall("anime"), start=1):
        anime_id = _anime_id(path, number, element)
        entries.append(Entry(anime_id, _score(path, anime_id, element), (element.findtext("my_status") or "").strip().lower()))
    return entries


def liked(entries: list[Entry], min_score: int = 7, include_unscored_completed: bool = False) -> list[int]:
    """MAL ids of the anime the user liked, in file order, without repeats.

    An anime is kept when its score is at least ``min_score`` (1-10), or, with
    ``include_unscored_completed``, when it is unscored (0) and its status is Completed.
    """
    _check_min_score(min_score)
    kept = (e.anime_id for e in entries if e.score >= min_score or (include_unscored_completed and e.score == 0 and e.status == "completed"))
    return list(dict.fromkeys(kept))


def watched(entries: list[Entry]) -> list[int]:
    """MAL ids of every entry but those planned to watch, in file order, without repeats."""
    return list(dict.fromkeys(e.anime_id for e in entries if e.status != "plan to watch"))


def parse_mal_export(path: Path, min_score: int = 7, include_unscored_completed: bool = False) -> list[int]:
    """``liked`` of the export at ``path`` (a valid export with nothing that qualifies gives ``[]``)."""
    _check_min_score(min_score)  # before the file is read
    return liked(read_mal_export(path), min_score, include_unscored_completed)


def _check_min_score(min_score: int) -> None:
    if isinstance(min_score, bool) or not isinstance(min_score, int) or not 1 <= min_score <= 10:
        raise UserError(f"minimum score must be a whole number from 1 to 10, not {min_score!r}")


def _read_xml_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise UserError(f"{path} is a folder; give the animelist_*.xml or .xml.gz file inside it")
    try:
        with open(path, "rb") as handle:
            gzipped = handle.read(2) == _GZIP_MAGIC
            handle.seek(0)
            if not gzipped:
                data = handle.read(MAX_XML_BYTES + 1)
            else:
                # Read through the decompressor with a cap: a small gzip bomb must not
                # fill memory before we notice.
                try:
                    with gzip.GzipFile(fileobj=handle) as unzipped:
                        data = unzipped.read(MAX_XML_BYTES + 1)
                except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                    raise UserError(f"{path}: damaged gzip file ({str(exc) or type(exc).__name__})") from None
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_XML_BYTES:
        raise UserError(f"{path}: larger than {MAX_XML_BYTES // 2**20} MB of XML; not a MyAnimeList export")
    return data


def _parse_root(path: Path, data: bytes):
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        # DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden: MAL exports have none.
        raise UserError(f"{path}: refused, the XML declares a DTD or entities ({type(exc).__name__})") from None
    except SafeET.ParseError as exc:
        raise UserError(f"{path}: not valid XML ({exc}); expected a MyAnimeList export") from None
    except (LookupError, ValueError) as exc:
        # expat's answer to an encoding it cannot use: encoding="foo", "utf-7", "cp932".
        raise UserError(f"{path}: not readable XML ({exc}); expected a MyAnimeList export") from None
    if root.tag != "myanimelist":
        raise UserError(f"{path}: not a MyAnimeList export (root element is <{root.tag}>, expected <myanimelist>)")
    return root


def _anime_id(path: Path, number: int, entry) -> int:
    raw = (entry.findtext("series_animedb_id") or "").strip()
    value = _whole_number(raw)
    if value is None or not 1 <= value <= MAX_ANIME_ID:
        title = (entry.findtext("series_title") or "").strip() or "untitled"
        raise UserError(f"{path}: anime entry {number} ({title}) has an invalid series_animedb_id {raw[:24]!r}")
    return value


def _score(path: Path, anime_id: int, entry) -> int:
    raw = (entry.findtext("my_score") or "0").strip() or "0"
    value = _whole_number(raw)
    if value is None or value > 10:
        raise UserError(f"{path}: anime {anime_id} has an invalid my_score {raw[:24]!r}")
    return value


def _whole_number(raw: str) -> int | None:
    """``raw`` as a non-negative int, or None when it is not ASCII digits or too long for an id.

    The length check comes first: ``int()`` refuses strings of over 4,300 digits with a
    ValueError, and nothing that long is an id or a score anyway.
    """
    if not raw.isascii() or not raw.isdigit() or len(raw.lstrip("0")) > 10:
        return None
    return int(raw)

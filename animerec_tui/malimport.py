"""Read a MyAnimeList list export (``animelist_*.xml`` or ``.xml.gz``) into MAL anime ids.

The file comes from the user and from the internet, so it is parsed with defusedxml:
DTDs, entity declarations (billion laughs) and external entities are all refused, and a
gzip file may not inflate past :data:`MAX_XML_BYTES` (counted as it streams).

Only a regular file is read (a symlink to one is fine): a pipe or a device in its place is
refused before it is opened, and it is opened non-blocking and checked again, so a FIFO
cannot hang the CLI or the TUI. The XML is parsed as a stream (``iterparse``), each entry
dropped once read, so a 1.3-million-entry export takes little memory.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

import defusedxml
import defusedxml.ElementTree as SafeET

from animerec_tui.defaults import MAL_MIN_SCORE
from training.errors import UserError
from training.fsutil import NotRegularFile, open_regular_file

MAX_XML_BYTES = 200 * 1024 * 1024
MAX_ANIME_ID = 2**31 - 1
PROGRESS_EVERY = 5000
"""Entries between two calls of ``read_mal_export``'s progress callback (about: it is
called between chunks of :data:`CHUNK_BYTES`)."""
CHUNK_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Entry:
    """One anime of a MyAnimeList export."""

    anime_id: int
    score: int
    """The user's score, 0 for none."""
    status: str
    """``my_status`` lower-cased: completed, watching, dropped, on-hold, plan to watch."""


def read_mal_export(path: Path, progress: Callable[[int], None] | None = None) -> list[Entry]:
    """Every entry of the export, in file order; any unreadable or unsafe file raises UserError.

    ``progress``, if given, is called with the number of entries read so far about every
    :data:`PROGRESS_EVERY` entries and once at the end; whatever it raises (to cancel)
    propagates as it is, and the file is closed.
    """
    path = Path(path)
    collector = _Collector(path)
    next_report = PROGRESS_EVERY
    with _open_regular(path) as handle:
        for _ in _parse(path, handle, collector):
            if progress is not None and len(collector.entries) >= next_report:
                next_report = (len(collector.entries) // PROGRESS_EVERY + 1) * PROGRESS_EVERY
                progress(len(collector.entries))
    if progress is not None:
        progress(len(collector.entries))
    return collector.entries


class _Collector:
    """The parser's target: keeps the fields of each ``<anime>`` child of the root and turns
    each complete entry into an :class:`Entry`, so no element tree is ever built.

    A field's text is its text before any child element of its own (``findtext``'s), and
    the first of two fields of one name counts, as ``findtext`` would have it.
    """

    FIELDS = frozenset({"series_animedb_id", "series_title", "my_score", "my_status"})

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[Entry] = []
        self.depth = 0
        self.in_entry = False
        self.fields: dict[str, str] = {}
        self.field: str | None = None
        self.text: list[str] = []
        self.statuses: dict[str, str] = {}

    def start(self, tag: str, attrib: object) -> None:
        self.depth += 1
        if self.depth == 1:
            if tag != "myanimelist":
                raise UserError(f"{self.path}: not a MyAnimeList export (root element is <{tag}>, expected <myanimelist>)")
        elif self.depth == 2:
            self.in_entry, self.fields = tag == "anime", {}
        elif self.depth == 3 and self.in_entry and tag in self.FIELDS and tag not in self.fields:
            self.field, self.text = tag, []
        elif self.depth == 4 and self.field is not None:
            self._close_field()  # text after a child element is not the field's text

    def data(self, text: str) -> None:
        if self.field is not None and self.depth == 3:
            self.text.append(text)

    def end(self, tag: str) -> None:
        if self.depth == 3 and self.field is not None:
            self._close_field()
        elif self.depth == 2 and self.in_entry:
            self._add_entry()
            self.in_entry = False
        self.depth -= 1

    def _close_field(self) -> None:
        assert self.field is not None
        self.fields[self.field] = "".join(self.text)
        self.field, self.text = None, []

    def _add_entry(self) -> None:
        raw_id = self.fields.get("series_animedb_id", "").strip()
        anime_id = _whole_number(raw_id)
        if anime_id is None or not 1 <= anime_id <= MAX_ANIME_ID:
            title = self.fields.get("series_title", "").strip() or "untitled"
            raise UserError(f"{self.path}: anime entry {len(self.entries) + 1} ({title}) has an invalid series_animedb_id {raw_id[:24]!r}")
        raw_score = self.fields.get("my_score", "0").strip() or "0"
        score = _whole_number(raw_score)
        if score is None or score > 10:
            raise UserError(f"{self.path}: anime {anime_id} has an invalid my_score {raw_score[:24]!r}")
        status = self.fields.get("my_status", "").strip().lower()
        status = self.statuses.setdefault(status, status)  # one string per status, not per entry
        self.entries.append(Entry(anime_id, score, status))


def liked(entries: list[Entry], min_score: int = MAL_MIN_SCORE, include_unscored_completed: bool = False) -> list[int]:
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


def parse_mal_export(path: Path, min_score: int = MAL_MIN_SCORE, include_unscored_completed: bool = False) -> list[int]:
    """``liked`` of the export at ``path`` (a valid export with nothing that qualifies gives ``[]``)."""
    _check_min_score(min_score)  # before the file is read
    return liked(read_mal_export(path), min_score, include_unscored_completed)


def _check_min_score(min_score: int) -> None:
    if isinstance(min_score, bool) or not isinstance(min_score, int) or not 1 <= min_score <= 10:
        raise UserError(f"minimum score must be a whole number from 1 to 10, not {min_score!r}")


def _open_regular(path: Path) -> IO[bytes]:
    """``path`` opened for reading, if it is a regular file (or a symlink to one): never a FIFO."""
    try:
        return os.fdopen(open_regular_file(path), "rb")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; give the animelist_*.xml or .xml.gz file inside it") from None
    except NotRegularFile:
        raise UserError(f"{path}: not a regular file (a pipe, socket or device); give the animelist_*.xml or .xml.gz file") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise UserError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


class _TooLarge(Exception):
    pass


class _DamagedGzip(Exception):
    pass


class _Capped:
    """A binary stream that raises :class:`_TooLarge` once more than ``MAX_XML_BYTES`` came out
    of it, and :class:`_DamagedGzip` for a broken gzip stream."""

    def __init__(self, stream: IO[bytes] | gzip.GzipFile) -> None:
        self.stream = stream
        self.left = MAX_XML_BYTES

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.stream.read(size if 0 <= size <= self.left + 1 else self.left + 1)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise _DamagedGzip(str(exc) or type(exc).__name__) from None
        self.left -= len(data)
        if self.left < 0:
            raise _TooLarge
        return data


def _parse(path: Path, handle: IO[bytes], target: _Collector) -> Iterator[None]:
    """Feed the export to a defusedxml parser chunk by chunk, yielding after each chunk; the
    parser's and the stream's errors come out as UserError. What the caller does between
    two chunks (the progress callback) is not caught here: its errors propagate as they are.
    """
    try:
        gzipped = handle.read(2) == _GZIP_MAGIC
        handle.seek(0)
        stream = _Capped(gzip.GzipFile(fileobj=handle, mode="rb") if gzipped else handle)
        parser = SafeET.DefusedXMLParser(target=target, forbid_dtd=True)
        # defusedxml's refusals are handlers of their own (DTD, entity declarations, external
        # references) and stay; the element handlers go straight to the collector, skipping
        # ElementTree's namespace and attribute work that an export does not need (a third
        # less time on a large export).
        parser.parser.StartElementHandler = target.start
        parser.parser.EndElementHandler = target.end
        while data := stream.read(CHUNK_BYTES):
            parser.feed(data)
            yield
        parser.close()
    except _TooLarge:
        raise UserError(f"{path}: larger than {MAX_XML_BYTES // 2**20} MB of XML; not a MyAnimeList export") from None
    except _DamagedGzip as exc:
        raise UserError(f"{path}: damaged gzip file ({exc})") from None
    except defusedxml.DefusedXmlException as exc:
        # DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden: MAL exports have none.
        raise UserError(f"{path}: refused, the XML declares a DTD or entities ({type(exc).__name__})") from None
    except SafeET.ParseError as exc:
        raise UserError(f"{path}: not valid XML ({exc}); expected a MyAnimeList export") from None
    except (LookupError, ValueError) as exc:
        # expat's answer to an encoding it cannot use: encoding="foo", "utf-7", "cp932".
        raise UserError(f"{path}: not readable XML ({exc}); expected a MyAnimeList export") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None


def _whole_number(raw: str) -> int | None:
    """``raw`` as a non-negative int, or None when it is not ASCII digits or too long for an id.

    The length check comes first: ``int()`` refuses strings of over 4,300 digits with a
    ValueError, and nothing that long is an id or a score anyway.
    """
    if not raw.isascii() or not raw.isdigit() or len(raw.lstrip("0")) > 10:
        return None
    return int(raw)

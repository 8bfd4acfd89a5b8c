"""The catalogue format (``Data/catalog.json.gz``) in one place: what is written and what is read.

A catalogue is gzip'd JSON, ``{"catalog_version": 1, "count": n, "anime": [record, ...]}``,
one record per MAL id (see ``catalog_build.py`` for the fields and their sources). Reading
checks the version, so a catalogue from a newer animerec is refused rather than misread.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

from training.errors import UserError

CATALOG_VERSION = 1
TYPES = ("TV", "Movie", "OVA", "ONA", "Special", "Music")


class Catalog:
    """The anime records in MAL id order, with their id index built once."""

    def __init__(self, entries: list[dict]) -> None:
        self.entries = entries
        self.by_id: dict[int, dict] = {entry["mal_id"]: entry for entry in entries}

    def __iter__(self) -> Iterator[dict]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, mal_id: object) -> bool:
        return mal_id in self.by_id

    def title(self, mal_id: int) -> str:
        """The main title, or "MAL id N" for an id the catalogue does not know."""
        return self.by_id.get(mal_id, {}).get("title") or f"MAL id {mal_id}"


def as_catalog(records: Catalog | list[dict]) -> Catalog:
    """A ``Catalog`` from a catalogue or a plain list of records (tests, fixtures)."""
    return records if isinstance(records, Catalog) else Catalog(list(records))


def catalog_bytes(entries: list[dict]) -> bytes:
    """Serialise records to gzip'd JSON with no timestamp, so rebuilds are byte-identical."""
    document = {"catalog_version": CATALOG_VERSION, "count": len(entries), "anime": entries}
    raw = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as handle:
        handle.write(raw)
    return buffer.getvalue()


def read_catalog(path: Path) -> Catalog:
    """Read a catalogue file; a missing, damaged or newer one is a ``UserError`` naming it."""
    path = Path(path)
    try:
        document = json.loads(gzip.decompress(path.read_bytes()))
    except FileNotFoundError:
        raise UserError(f"{path}: catalogue not found") from None
    except (OSError, EOFError, zlib.error, ValueError, RecursionError) as exc:
        raise UserError(f"{path}: not a readable animerec catalogue ({type(exc).__name__})") from None
    version = document.get("catalog_version") if isinstance(document, dict) else None
    if version != CATALOG_VERSION:
        raise UserError(f"{path}: not an animerec catalogue of version {CATALOG_VERSION} (it says {version!r:.20}); rebuild it with animerec catalog")
    entries = document.get("anime")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("mal_id"), int) for e in entries):
        raise UserError(f"{path}: not a readable animerec catalogue (its records are malformed)")
    return Catalog(entries)

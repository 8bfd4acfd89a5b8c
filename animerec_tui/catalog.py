"""The anime catalogue the app ships (``Data/catalog.json.gz``), read without heavy imports."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

from animerec_tui.errors import UserError
from animerec_tui.paths import data_dir


def default_catalog_path() -> Path:
    """The shipped catalogue."""
    return data_dir() / "catalog.json.gz"


def load_catalog(path: Path | None = None) -> list[dict]:
    """Read the catalogue records (one dict per MAL id, sorted by id)."""
    path = Path(path) if path is not None else default_catalog_path()
    try:
        document = json.loads(gzip.decompress(path.read_bytes()))
        return document["anime"]
    except FileNotFoundError:
        raise UserError(f"{path}: catalogue not found") from None
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a readable animerec catalogue ({type(exc).__name__})") from None

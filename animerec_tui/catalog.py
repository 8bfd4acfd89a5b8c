"""The catalogue the app ships, read once per process, without heavy imports."""

from __future__ import annotations

import functools
from pathlib import Path

from animerec_tui.paths import data_dir
from training.catalog import Catalog, read_catalog


def default_catalog_path() -> Path:
    """The shipped catalogue."""
    return data_dir() / "catalog.json.gz"


@functools.cache
def _shipped() -> Catalog:
    return read_catalog(default_catalog_path())


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalogue at ``path``, or the shipped one (read on first use, then shared)."""
    return _shipped() if path is None else read_catalog(path)

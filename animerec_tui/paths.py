"""Where animerec finds what it ships and where it keeps what the user makes."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The shipped ``Data/`` folder: inside the wheel, or at the top of a checkout."""
    bundled = _PACKAGE_DIR / "_data"
    if bundled.is_dir():
        return bundled
    return _PACKAGE_DIR.parent / "Data"


def home_dir() -> Path:
    """The user's animerec folder (favourites, settings); ``ANIMEREC_HOME`` overrides."""
    override = os.environ.get("ANIMEREC_HOME")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("animerec", appauthor=False))

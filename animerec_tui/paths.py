"""Where animerec finds what it ships and where it keeps what the user makes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from training.errors import UserError

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The shipped ``Data/`` folder: inside the wheel, or at the top of a checkout."""
    bundled = _PACKAGE_DIR / "_data"
    if bundled.is_dir():
        return bundled
    return _PACKAGE_DIR.parent / "Data"


def home_dir() -> Path:
    """The user's animerec folder (favourites, settings, runs); ``ANIMEREC_HOME`` overrides (empty: unset).

    A home that cannot be one (``~nosuchuser/x``, a file, a name the system refuses) is a
    ``UserError`` naming it; a relative ``ANIMEREC_HOME`` is taken from the current folder.
    It need not exist yet: whatever writes there first makes it.
    """
    from animerec_tui.options import printable

    override = os.environ.get("ANIMEREC_HOME")
    if override:
        shown = f"ANIMEREC_HOME={printable(override)}"
        try:
            path = Path(override).expanduser().absolute()
        except RuntimeError:  # "~nosuchuser/x"
            raise UserError(f"{shown}: no such user, so '~' cannot be expanded; give the folder's full path") from None
        except OSError as exc:  # the current folder was deleted
            raise UserError(f"{shown}: relative, and the current folder is unreadable ({exc.strerror})") from None
    else:
        from platformdirs import user_data_dir

        try:
            path = Path(user_data_dir("animerec", appauthor=False))
        except RuntimeError:  # no HOME and no passwd entry (a container's user): nowhere to put it
            raise UserError(
                "no home folder can be found (HOME is unset or relative, and this user has no passwd entry); "
                "set ANIMEREC_HOME (or HOME) to a folder"
            ) from None
        shown = f"{printable(str(path))} (the animerec home; ANIMEREC_HOME names another)"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if path.is_symlink():  # a dangling link: mkdir would fail with "File exists" at the first save
            raise UserError(f"{shown}: a symlink to {printable(os.readlink(path))}, which does not exist; make that folder or point the link elsewhere") from None
        return path
    except OSError as exc:  # ENAMETOOLONG, ENOTDIR (a file on the way), ELOOP, EACCES
        raise UserError(f"{shown}: {exc.strerror}") from None
    if not stat.S_ISDIR(mode):
        raise UserError(f"{shown}: is a file, not a folder")
    return path

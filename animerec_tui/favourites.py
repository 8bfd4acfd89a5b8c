"""The user's favourites and "not interested" list, kept in one JSON file.

``favourites.json`` under :func:`animerec_tui.paths.home_dir` holds
``{"version": 1, "favourites": [ids...], "excluded": [ids...]}`` with MAL anime ids,
favourites in the order they were added.

Two terminals may edit the list at once, so every change is a read-modify-write done
under an exclusive ``fcntl.flock`` on the sibling ``favourites.json.lock`` and written
atomically. Where ``fcntl`` does not exist (Windows) there is no lock: writes stay atomic,
but concurrent writers can lose each other's changes.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from animerec_tui.paths import home_dir
from training.errors import UserError
from training.fsutil import atomic_write_bytes

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, see the module docstring.
    fcntl = None  # type: ignore[assignment]

FILE_NAME = "favourites.json"
VERSION = 1


@dataclass
class Favourites:
    """A snapshot of the store: favourites in the order added, and excluded ids."""

    favourites: list[int] = field(default_factory=list)
    excluded: list[int] = field(default_factory=list)


class _Corrupt(Exception):
    """The file exists but is not a favourites file we can trust."""


def validate_ids(ids: Iterable[int]) -> list[int]:
    """Return ``ids`` as plain ints, or raise UserError naming the first bad one.

    Integers from numpy pass; bools, strings, floats and ids below 1 do not. A bare
    string is refused as a whole, since iterating it would give its characters.
    """
    if isinstance(ids, (str, bytes)):
        raise UserError(f"anime ids must be a list of numbers, not the text {ids!r}")
    checked: list[int] = []
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise UserError(f"invalid anime id {value!r}: MAL ids are positive whole numbers")
        checked.append(int(value))
    return checked


def _decode(data: bytes) -> Favourites:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested too deep
        raise _Corrupt(f"not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise _Corrupt("not a JSON object")
    version = document.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        # A newer animerec wrote it: moving it aside would throw away the user's data.
        raise UserError(
            f"favourites file is version {version}; this animerec reads version {VERSION}. Upgrade animerec"
        )
    if version != VERSION:
        raise _Corrupt(f"unknown version {version!r}")
    lists = []
    for key in ("favourites", "excluded"):
        value = document.get(key, [])
        if not isinstance(value, list):
            raise _Corrupt(f"{key!r} is not a list")
        try:
            lists.append(list(dict.fromkeys(validate_ids(value))))
        except UserError as exc:
            raise _Corrupt(str(exc)) from None
    return Favourites(*lists)


def _encode(state: Favourites) -> bytes:
    document = {"version": VERSION, "favourites": state.favourites, "excluded": state.excluded}
    return (json.dumps(document, indent=1) + "\n").encode("utf-8")


class FavouritesStore:
    """Read and change ``favourites.json`` (default: under the animerec home folder)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else home_dir() / FILE_NAME
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.last_warning: str | None = None
        """Set when a load found a corrupt file and moved it aside; says where it went."""

    def load(self) -> Favourites:
        """The current favourites; a missing file reads as empty.

        A corrupt or unreadable file is renamed to ``favourites.json.corrupt-<time>``
        (never deleted or overwritten), the store starts empty and ``last_warning`` says
        where the old file went.
        """
        try:
            return self._read()
        except _Corrupt:
            pass
        # Decide under the lock: another process may have just replaced the file.
        with self._locked():
            return self._read_or_quarantine()

    def add(self, ids: Iterable[int]) -> list[int]:
        """Append ids to the favourites; returns those that were not there already.

        An added id leaves the excluded list: one cannot love and dismiss the same show.
        """
        new = list(dict.fromkeys(validate_ids(ids)))

        def change(state: Favourites) -> list[int]:
            added = [i for i in new if i not in state.favourites]
            state.favourites.extend(added)
            _drop(state.excluded, set(new))
            return added

        return self._update(change)

    def remove(self, ids: Iterable[int]) -> list[int]:
        """Drop ids from the favourites; returns those that were there."""
        gone = set(validate_ids(ids))
        return self._update(lambda state: _drop(state.favourites, gone))

    def clear(self) -> list[int]:
        """Empty the favourites (the excluded list stays); returns what was removed."""
        return self._update(lambda state: _drop(state.favourites, set(state.favourites)))

    def restore(self, ids: Iterable[int]) -> list[int]:
        """Undo a removal: ``ids`` (the favourites as they were) come back in that order, with
        any added since after them; an id marked "not interested" since stays out. Returns
        the ids put back."""
        before = list(dict.fromkeys(validate_ids(ids)))

        def change(state: Favourites) -> list[int]:
            back = [i for i in before if i not in state.favourites and i not in state.excluded]
            kept = [i for i in before if i not in state.excluded]
            state.favourites[:] = kept + [i for i in state.favourites if i not in set(kept)]
            return back

        return self._update(change)

    def exclude(self, ids: Iterable[int]) -> list[int]:
        """Mark ids "not interested" (and drop them from favourites); returns the newly excluded."""
        new = list(dict.fromkeys(validate_ids(ids)))

        def change(state: Favourites) -> list[int]:
            added = [i for i in new if i not in state.excluded]
            state.excluded.extend(added)
            _drop(state.favourites, set(new))
            return added

        return self._update(change)

    def unexclude(self, ids: Iterable[int]) -> list[int]:
        """Take ids off the excluded list; returns those that were on it."""
        gone = set(validate_ids(ids))
        return self._update(lambda state: _drop(state.excluded, gone))

    def _update(self, change: Callable[[Favourites], list[int]]) -> list[int]:
        # Re-read inside the lock so a change made by another process since our last
        # load is kept rather than overwritten.
        with self._locked():
            state = self._read_or_quarantine()
            result = change(state)
            atomic_write_bytes(self.path, _encode(state), mode=0o600)
            return result

    def _read(self) -> Favourites:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Favourites()
        except OSError as exc:
            # Permission denied, a folder in its place, an I/O error: the file may be fine,
            # so it is not moved aside; the user has to fix access first.
            raise UserError(f"{self.path}: cannot read the favourites ({exc.strerror or exc})") from None
        return _decode(data)

    def _read_or_quarantine(self) -> Favourites:
        try:
            return self._read()
        except _Corrupt as exc:
            aside = self._move_aside()
            self.last_warning = f"{self.path} was damaged ({exc}); kept it as {aside} and started an empty list"
            return Favourites()

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        aside, n = base, 1
        while aside.exists() or aside.is_symlink():  # never overwrite an earlier one
            aside, n = base.with_name(f"{base.name}-{n}"), n + 1
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            raise UserError(f"{self.path} is damaged and could not be moved aside: {exc.strerror or exc}") from None
        return aside

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # The lock file is never deleted: unlinking it would let two writers lock
            # different inodes of the same name.
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise UserError(f"cannot lock {self.lock_path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock


def _drop(ids: list[int], gone: set[int]) -> list[int]:
    """Remove ``gone`` from ``ids`` in place; return what was removed, in list order."""
    removed = [i for i in ids if i in gone]
    ids[:] = [i for i in ids if i not in gone]
    return removed

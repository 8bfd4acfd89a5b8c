"""The user's favourites, "not interested", watched and plan-to-watch lists, kept in one JSON file.

``favourites.json`` under :func:`animerec_tui.paths.home_dir` holds
``{"version": 1, "favourites": [ids...], "excluded": [ids...], "watched": [ids...],
"plan": [ids...]}`` with MAL anime ids, each list in the order added. ``watched`` and
``plan`` are the anime marked watched or plan-to-watch in the app (a file without them, from
before they were kept, loads with both empty); the watched list of a MyAnimeList import
lives in ``settings.json``. An animerec from before them would leave them out when it writes.

Two terminals may edit the list at once, so every change is a read-modify-write done
under an exclusive ``fcntl.flock`` on the sibling ``favourites.json.lock`` and written
atomically. Where ``fcntl`` does not exist (Windows) there is no lock: writes stay atomic,
but concurrent writers can lose each other's changes.

Every change is a diff applied to the file as it is now (add these, remove those), never
the screen's copy written back: "clear all" in the TUI removes the ids its question named,
and undo puts back only what the undone change removed (:meth:`FavouritesStore.restore`).

A symlinked ``favourites.json`` stays a symlink: writes (and the lock, and a corrupt file
set aside) go to its target. A folder, pipe or device in its place is refused, not read.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from animerec_tui.paths import home_dir
from training.errors import UserError
from training.fsutil import atomic_write_bytes, open_regular_file

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, see the module docstring.
    fcntl = None  # type: ignore[assignment]

FILE_NAME = "favourites.json"
VERSION = 1
LISTS = ("favourites", "excluded", "watched", "plan")
"""The file's lists, in the order of :class:`Favourites`' fields; each may be missing (empty)."""
MARKS = ("watched", "plan")
"""The lists :meth:`FavouritesStore.mark` and :meth:`FavouritesStore.unmark` change."""


@dataclass
class Favourites:
    """A snapshot of the store: favourites in the order added, and excluded ids."""

    favourites: list[int] = field(default_factory=list)
    excluded: list[int] = field(default_factory=list)
    watched: list[int] = field(default_factory=list)
    """Marked watched in the app: they leave the recommendations."""
    plan: list[int] = field(default_factory=list)
    """Marked plan-to-watch in the app: the export lists them."""


def counted(n: int, noun: str = "favourite") -> str:
    """``n`` of ``noun`` as a reader writes it: "1 favourite", "2 favourites", "1,200 new favourites"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


class _Corrupt(Exception):
    """The file exists but is not a favourites file we can trust."""


class UnreadableState(Exception):
    """A state file exists but cannot be read as a file: permission, a folder or a pipe in its place, an I/O error."""


def read_state_bytes(path: Path) -> bytes:
    """The bytes of the regular file ``path`` (a symlink to one is followed).

    Raises FileNotFoundError when nothing is there (or a dangling symlink), and
    UnreadableState for anything that is not a readable regular file: a FIFO in its place
    is refused, never opened in a way that could hang the app (``open_regular_file``).
    """
    try:
        fd = open_regular_file(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise UnreadableState(getattr(exc, "strerror", None) or str(exc)) from None
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise UnreadableState(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def write_target(path: Path) -> Path:
    """Where writing ``path`` must go: a symlink's final target (so the link stays a link
    and its target is updated), else ``path`` itself."""
    if os.path.islink(path):
        return Path(os.path.realpath(path))
    return Path(path)


def refuse_read_only(target: Path, what: str) -> None:
    """A state file the user made read-only (``chmod a-w``) is not replaced behind their back.

    The atomic rename needs only the folder to be writable, so without this check a file
    protected by its mode would still change. The mode is read, not ``os.access``: root may
    write anything, and the user's intent is in the mode.
    """
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserError(f"{target}: cannot check the {what} ({exc.strerror or exc})") from None
    if stat.S_ISREG(mode) and not mode & 0o222:
        raise UserError(f"{target} is read-only, so the {what} were not changed; make it writable (chmod u+w) to change them")


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """An exclusive ``fcntl.flock`` on ``lock_path`` (created if needed, never deleted:
    unlinking it would let two writers lock different inodes of the same name)."""
    if fcntl is None:
        yield
        return
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise UserError(f"cannot lock {lock_path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


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
    for key in LISTS:
        value = document.get(key, [])
        if not isinstance(value, list):
            raise _Corrupt(f"{key!r} is not a list")
        try:
            lists.append(list(dict.fromkeys(validate_ids(value))))
        except UserError as exc:
            raise _Corrupt(str(exc)) from None
    return Favourites(*lists)


def _encode(state: Favourites) -> bytes:
    document: dict = {"version": VERSION, "favourites": state.favourites, "excluded": state.excluded}
    # Only when there are some: a file that never had them stays as older versions wrote it.
    document.update({key: getattr(state, key) for key in MARKS if getattr(state, key)})
    return (json.dumps(document, indent=1) + "\n").encode("utf-8")


class FavouritesStore:
    """Read and change ``favourites.json`` (default: under the animerec home folder)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else home_dir() / FILE_NAME
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
        target = write_target(self.path)
        with locked(lock_of(target)):
            return self._read_or_quarantine(target)

    @property
    def lock_path(self) -> Path:
        """The lock file, beside the file actually written (a symlink's target)."""
        return lock_of(write_target(self.path))

    def add(self, ids: Iterable[int]) -> list[int]:
        """Append ids to the favourites; returns those that were not there already.

        An added id leaves the excluded list: one cannot love and dismiss the same show.
        """
        new = list(dict.fromkeys(validate_ids(ids)))

        def change(state: Favourites) -> list[int]:
            present = set(state.favourites)  # a set: an import of 20,000 ids into as many took 1.7 s as a list
            added = [i for i in new if i not in present]
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

    def restore(self, ids: Iterable[int], order_hint: Iterable[int] | None = None) -> list[int]:
        """Undo a removal: put back ``ids``, the favourites that removal took away (what
        :meth:`remove` or :meth:`clear` returned), and nothing else, so a favourite another
        terminal removed since stays removed. One that is a favourite again, or was marked
        "not interested" since, is left as it is.

        ``order_hint`` is the favourites as they were before the removal: each id comes back
        right after the nearest id that preceded it there and is still a favourite (at the
        front when none is), so an undone removal restores the old order around whatever
        changed since. Without it the ids are appended. Returns the ids put back.
        """
        removed = list(dict.fromkeys(validate_ids(ids)))
        hint = list(dict.fromkeys(validate_ids(order_hint))) if order_hint is not None else []

        def change(state: Favourites) -> list[int]:
            present, excluded = set(state.favourites), set(state.excluded)
            back = [i for i in removed if i not in present and i not in excluded]
            going_back = set(back)
            # Each hinted id goes right after the nearest earlier id of the hint that is still a
            # favourite (the front when none is); ids sharing that anchor keep the hint's order.
            # One pass, not a search of the list per id (clear all of 20,000 and u took 2.2 s).
            after: dict[int | None, list[int]] = {}
            anchor: int | None = None
            for mal_id in hint:
                if mal_id in going_back:
                    after.setdefault(anchor, []).append(mal_id)
                elif mal_id in present:
                    anchor = mal_id
            placed = {i for ids in after.values() for i in ids}
            merged = list(after.get(None, []))
            for mal_id in state.favourites:
                merged.append(mal_id)
                merged.extend(after.get(mal_id, []))
            state.favourites[:] = merged
            state.favourites.extend(i for i in back if i not in placed)
            return back

        return self._update(change)

    def exclude(self, ids: Iterable[int]) -> list[int]:
        """Mark ids "not interested" (and drop them from favourites); returns the newly excluded."""
        return self.dismiss(ids)[0]

    def dismiss(self, ids: Iterable[int]) -> tuple[list[int], list[int]]:
        """:meth:`exclude`, telling also which of ``ids`` it took off the favourites (in their
        order): (newly excluded, removed from the favourites), so that the removal can be told
        and undone (:meth:`unexclude`, then :meth:`restore`)."""
        new = list(dict.fromkeys(validate_ids(ids)))
        removed: list[int] = []

        def change(state: Favourites) -> list[int]:
            added = [i for i in new if i not in state.excluded]
            state.excluded.extend(added)
            removed.extend(_drop(state.favourites, set(new)))
            return added

        return self._update(change), removed

    def unexclude(self, ids: Iterable[int]) -> list[int]:
        """Take ids off the excluded list; returns those that were on it."""
        gone = set(validate_ids(ids))
        return self._update(lambda state: _drop(state.excluded, gone))

    def mark(self, which: str, ids: Iterable[int]) -> list[int]:
        """Add ids to the ``watched`` or ``plan`` list (MARKS); returns those not on it already.
        Marked watched, an anime leaves the plan-to-watch list (and :meth:`unmark` does not put it back)."""
        if which not in MARKS:
            raise ValueError(f"mark() takes one of {MARKS}, not {which!r}")
        new = list(dict.fromkeys(validate_ids(ids)))

        def change(state: Favourites) -> list[int]:
            marked: list[int] = getattr(state, which)
            present = set(marked)
            added = [i for i in new if i not in present]
            marked.extend(added)
            if which == "watched":
                _drop(state.plan, set(new))
            return added

        return self._update(change)

    def unmark(self, which: str, ids: Iterable[int]) -> list[int]:
        """Take ids off the ``watched`` or ``plan`` list; returns those that were on it."""
        if which not in MARKS:
            raise ValueError(f"unmark() takes one of {MARKS}, not {which!r}")
        gone = set(validate_ids(ids))
        return self._update(lambda state: _drop(getattr(state, which), gone))

    def _update(self, change: Callable[[Favourites], list[int]]) -> list[int]:
        # Re-read inside the lock so a change made by another process since our last
        # load is kept rather than overwritten. The path is resolved once: the lock, the
        # read and the write all go to a symlink's target.
        target = write_target(self.path)
        with locked(lock_of(target)):
            state = self._read_or_quarantine(target)
            result = change(state)
            refuse_read_only(target, "favourites")
            atomic_write_bytes(target, _encode(state), mode=0o600)
            return result

    def _read(self, path: Path | None = None) -> Favourites:
        try:
            data = read_state_bytes(path or self.path)
        except FileNotFoundError:
            return Favourites()
        except UnreadableState as exc:
            # Permission denied, a folder or a pipe in its place, an I/O error: the file may
            # be fine, so it is not moved aside; the user has to fix access first.
            raise UserError(f"{self.path}: cannot read the favourites ({exc})") from None
        return _decode(data)

    def _read_or_quarantine(self, target: Path) -> Favourites:
        try:
            return self._read(target)
        except _Corrupt as exc:
            aside = self._move_aside(target)
            self.last_warning = f"{self.path} was damaged ({exc}); kept it as {aside} and started an empty list"
            return Favourites()

    def _move_aside(self, target: Path) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = target.with_name(f"{target.name}.corrupt-{stamp}")
        aside, n = base, 1
        while aside.exists() or aside.is_symlink():  # never overwrite an earlier one
            aside, n = base.with_name(f"{base.name}-{n}"), n + 1
        try:
            os.replace(target, aside)
        except OSError as exc:
            raise UserError(f"{self.path} is damaged and could not be moved aside: {exc.strerror or exc}") from None
        return aside


def lock_of(target: Path) -> Path:
    """The lock file of the state file ``target`` (both state files lock a sibling of this name)."""
    return target.with_name(target.name + ".lock")


def _drop(ids: list[int], gone: set[int]) -> list[int]:
    """Remove ``gone`` from ``ids`` in place; return what was removed, in list order."""
    removed = [i for i in ids if i in gone]
    ids[:] = [i for i in ids if i not in gone]
    return removed

"""File-system helpers: outputs appear whole or not at all."""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from training.errors import UserError


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_error_reason(exc: BaseException) -> str | None:
    """Why a write failed ("No space left on device"), or None when ``exc`` is no I/O error.

    Rust-backed writers (safetensors) raise their own exception types for I/O errors,
    with "(os error N)" in the message; those count too.
    """
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    found = re.search(r"\(os error (\d+)\)", str(exc))
    if found and int(found.group(1)) in errno.errorcode:
        return os.strerror(int(found.group(1)))
    return None


def make_folder(folder: Path) -> None:
    """``mkdir -p folder``; a file on the way is named (mkdir alone says 'File exists' of the folder to make)."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = next((p for p in (Path(folder), *Path(folder).parents) if p.exists() and not p.is_dir()), None)
        if blocker is None:
            raise
        raise NotADirectoryError(errno.ENOTDIR, f"{blocker} is a file, not a folder", str(folder)) from exc


class NotRegularFile(OSError):
    """A pipe, socket or device where a file is read (``open_regular_file``)."""


def open_regular_file(path: Path) -> int:
    """A read-only descriptor of the regular file ``path`` (a symlink to one is followed).

    Anything else is refused before it is opened (IsADirectoryError for a folder,
    NotRegularFile for a pipe, socket or device: opening a FIFO with no writer would block
    for good), and checked again on the descriptor, which is opened non-blocking, so a FIFO
    swapped in after the check cannot hang the caller either. FileNotFoundError when nothing
    is there; ValueError for a NUL in the name.
    """

    def check(mode: int) -> None:
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "a folder, not a file", str(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file (a pipe, socket or device)", str(path))

    check(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        check(os.fstat(fd).st_mode)
    except OSError:
        os.close(fd)
        raise
    return fd


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (renames, deletions) to disk, so a power cut cannot reorder them."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    fsync_dir(folder)


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


_RANDOM = r"[a-z0-9_]+"  # tempfile.mkstemp / mkdtemp add 8 of these to a prefix (no dot, no dash)
_LEFTOVER_NAME = re.compile(rf"\.(?P<of>.+?)\.(?:(?P<kind>tmp|old)-(?P<pid>\d+)-{_RANDOM}|del-\d+|tmp-{_RANDOM})")
"""The hidden names animerec's own writes use, each naming what it was a write of:
``.NAME.tmp-XXXXXXXX`` (``atomic_write_bytes``), ``.NAME.tmp-PID-XXXXXXXX`` and
``.NAME.old-PID-XXXXXXXX`` (``atomic_output_dir``), ``.NAME.del-PID`` (a checkpoint being deleted)."""
_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_leftover(name: str, of: Callable[[str], object]) -> bool:
    """Whether ``name`` is what a killed write of animerec's left, and a write of a name ``of`` accepts.

    Both halves matter: a user's ``.notes.tmp-2`` or ``.thesis.old-1-draft`` is no leftover,
    so it is neither swept away nor let through as one when ``--force`` checks a folder.
    """
    found = _LEFTOVER_NAME.fullmatch(name)
    return bool(found and of(found.group("of")))


def shown(name: str) -> str:
    """A file name as a one-line message can show it: escaped and quoted when it holds a newline or other control."""
    return name if name.isprintable() else ascii(name)


def is_regular_file(path: Path) -> bool:
    """A regular file itself: not a folder, not a symlink (whose target ``--force`` would not be replacing)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def read_json_file(path: Path, limit: int = 64 << 20) -> object | None:
    """The JSON in ``path`` when it is a regular file of at most ``limit`` bytes that parses, else None."""
    try:
        if not is_regular_file(path) or path.lstat().st_size > limit:
            return None
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def data_manifest(folder: Path) -> dict | None:
    """``folder``'s manifest.json when it is one animerec preprocess wrote, by its content, else None.

    Another program's ``manifest.json`` (a browser extension's, ``{"tool": "other"}``) is none:
    animerec's names itself as ``"tool": "animerec"``, has a whole-number version and records
    a SHA-256 for every array it lists.
    """
    document = read_json_file(Path(folder) / "manifest.json")
    if not isinstance(document, dict) or document.get("tool") != "animerec":
        return None
    version, files = document.get("manifest_version"), document.get("files")
    if not isinstance(version, int) or isinstance(version, bool) or not isinstance(files, dict) or not files:
        return None
    return document if all(isinstance(digest, str) and _SHA256.fullmatch(digest) for digest in files.values()) else None


def run_pointer(folder: Path) -> dict | None:
    """``folder``'s run.json when it is one animerec train wrote, by its content, else None.

    animerec's is ``{"latest": CHECKPOINT, "best": CHECKPOINT or null}`` and nothing else, each
    a checkpoint's name (``e0001-s000000``); ``{"name": "x"}`` or a build tool's list is none.
    """
    from training.model_files import CHECKPOINT_NAME, RUN_FILE  # not at the top: it brings numpy, and --help stays light

    document = read_json_file(Path(folder) / RUN_FILE, 1 << 20)
    if not isinstance(document, dict) or set(document) - {"latest", "best"}:
        return None
    latest, best = document.get("latest"), document.get("best")
    named = isinstance(latest, str) and CHECKPOINT_NAME.fullmatch(latest)
    return document if named and (best is None or isinstance(best, str) and CHECKPOINT_NAME.fullmatch(best)) else None


def is_model_folder(folder: Path) -> bool:
    """A model folder of animerec's (a checkpoint, or an export such as Data/model): its own meta.json beside the weights."""
    from training.model_files import CHECKPOINT_FORMAT, META_FILE, MODEL_FILE

    document = read_json_file(Path(folder) / META_FILE)
    return isinstance(document, dict) and document.get("format") == CHECKPOINT_FORMAT and is_regular_file(Path(folder) / MODEL_FILE)


def made_by(folder: Path) -> str | None:
    """What ``folder`` is when animerec made it, known by content ("a folder made by animerec train"), else None."""
    if run_pointer(folder) is not None:
        return "a folder made by animerec train"
    if data_manifest(folder) is not None:
        return "a folder made by animerec preprocess"
    if is_model_folder(folder):
        return "a folder made by animerec train (a model)"
    return None


def check_output(out: Path, command: str, inputs: Iterable[Path] = ()) -> None:
    """Refuse an output folder inside another command's output or inside one of the inputs.

    ``preprocess --force`` replaces a whole data folder, ``train`` prunes its checkpoints
    folder and a model folder is read as a whole, so whatever was written inside them would
    go with them. Those folders are known by content (``made_by``), not by a file's name.
    """
    where = Path(os.path.abspath(out))
    if where == where.parent:
        raise UserError(f"cannot write {out}: it is the root folder; choose another --out")
    for folder in Path(os.path.realpath(where)).parents:
        maker = made_by(folder)
        if maker:
            raise UserError(f"cannot write {out}: it is inside {folder}, {maker}; choose another --out")
    for given in inputs:
        source = Path(given).resolve()
        if source != where.resolve() and _is_within(where.resolve(), source):
            raise UserError(f"cannot write {out}: it is inside {given}, an input of this command; choose another --out")


def check_replaceable(out: Path, command: str, inputs: Iterable[Path], foreign: Callable[[Path], str | None]) -> None:
    """Refuse to let ``--force`` replace ``out`` unless ``command`` made it and it holds no input.

    ``--force`` replaces a whole folder, so it may only ever replace an empty one or one that
    holds nothing but what the same command writes: ``foreign(out)`` names the first thing
    in it that does not belong (or says the folder is not the command's at all). A folder
    that holds one of the command's inputs is refused too, and so is the current folder or
    one above it. Call ``check_output`` first: it refuses an ``out`` inside an input.
    """
    out = Path(out)
    where = out.resolve()
    for given in inputs:  # (an out inside an input, check_output has refused already)
        if _is_within(Path(given).resolve(), where):
            raise UserError(f"refusing to replace {out}: it holds {given}, an input of this command; choose another --out")
    if _is_within(Path.cwd().resolve(), where):
        raise UserError(f"refusing to replace {out}: it holds the current folder; choose another --out")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UserError(f"refusing to replace {out}: it is not a folder made by animerec {command} ({'a symlink' if out.is_symlink() else 'a file'})")
    problem = foreign(out) if out.exists() else None
    if problem:
        raise UserError(f"refusing to replace {out}: {problem}; remove it yourself or choose another --out")


@contextmanager
def output_lock(out: Path, command: str) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` for one command, so two never write it at once.

    The lock is ``fcntl.flock`` on a hidden sibling file, released (and removed) at the end
    or when the process dies. Where ``fcntl`` does not exist (Windows) there is no lock.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    out = Path(os.path.realpath(out))  # a symlink and its target are one output, with one lock
    path = out.with_name(f".{out.name}.lock")
    while True:
        fd = _open_lock_file(out, path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UserError(f"{out} is being written by another animerec {command} right now; wait for it to finish or choose another --out") from None
        try:  # the holder before us may have removed the file after we opened it: lock the one at the path
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        try:  # only the file locked: one put there meanwhile is someone else's
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                path.unlink()
        except OSError:
            pass
        os.close(fd)


def _open_lock_file(out: Path, path: Path) -> int:
    """Open (or create) the lock file ``path`` of ``out``; refuse anything at that name but an empty regular file.

    The lock file is empty and removed afterwards, so a file with something in it, a
    folder or a symlink there is someone else's: it is neither written through nor removed.
    """
    try:
        make_folder(out.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR) or path.is_symlink():
            raise UserError(f"cannot write {out}: {path} is in the way of its lock file (animerec's is an empty file); move it away or choose another --out") from None
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size:
        os.close(fd)
        raise UserError(f"cannot write {out}: {path} is in the way of its lock file (animerec's is an empty file); move it away or choose another --out")
    return fd


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def sweep_leftovers(out: Path) -> None:
    """Remove what killed writes of ``out`` left next to it (``.NAME.tmp-*``, ``.NAME.old-*``).

    Only leftovers of processes that are gone are touched, so a write running in another
    terminal keeps its temporary folder. A kill between the two renames of a replace leaves
    the previous ``out`` inside ``.NAME.old-*`` and no ``out``: it is put back, not deleted.
    """
    out = Path(out)
    if not out.name or not out.parent.is_dir():
        return
    for path in sorted(out.parent.glob(f".{glob.escape(out.name)}.*-*")):
        found = _LEFTOVER_NAME.fullmatch(path.name)  # the whole name: ".out.tmp-PID-my-notes.txt" is the user's
        if found is None or found.group("of") != out.name or found.group("pid") is None or _alive(int(found.group("pid"))):
            continue
        kept = path / out.name
        if found.group("kind") == "old" and kept.is_dir() and not out.exists():
            try:
                os.replace(kept, out)
            except OSError:
                continue  # leave it for the user rather than lose it
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _sibling(out: Path, kind: str) -> Path:
    """A fresh hidden folder next to ``out`` whose name says which process made it."""
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.{kind}-{os.getpid()}-", dir=out.parent))


@contextmanager
def atomic_output_dir(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``out`` in one rename.

    On any error (disk full, Ctrl-C, a bug) the temporary folder is removed and ``out``
    is left exactly as it was. Whether ``out`` may be replaced at all is the caller's
    question (``check_replaceable``); leftovers of earlier killed writes are swept first.
    """
    shown, out = Path(out), Path(os.path.abspath(out))  # abspath: "." and "x/.." name real folders
    if out.exists() and not out.is_dir():
        raise UserError(f"{shown} exists and is not a folder")
    if out.exists() and not force:
        raise UserError(f"{shown} already exists; pass --force to replace it")
    if out == out.parent:
        raise UserError(f"cannot write {shown}: it is the root folder")
    try:
        make_folder(out.parent)
        sweep_leftovers(out)
        tmp = _sibling(out, "tmp")
    except OSError as exc:
        raise UserError(f"cannot write to {shown.parent}: {exc.strerror or exc}") from None
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
        for path in tmp.iterdir():
            if path.is_file():
                os.chmod(path, 0o666 & ~umask)
        _fsync_tree(tmp)
        if out.exists():
            old = _sibling(out, "old")
            os.replace(out, old / out.name)
            try:
                os.replace(tmp, out)
            except BaseException:
                os.replace(old / out.name, out)  # put the old folder back
                os.rmdir(old)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = write_error_reason(exc)
        if reason is None:
            raise
        raise UserError(f"cannot write {shown}: {reason}") from None


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename."""
    path = Path(path)
    try:
        make_folder(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        reason = write_error_reason(exc)
        if reason is None:
            raise
        raise UserError(f"cannot write {path}: {reason}") from None

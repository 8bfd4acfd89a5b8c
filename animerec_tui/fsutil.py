"""File-system helpers: outputs appear whole or not at all."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from animerec_tui.errors import UserError


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


@contextmanager
def atomic_output_dir(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``out`` in one rename.

    On any error (disk full, Ctrl-C, a bug) the temporary folder is removed and ``out``
    is left exactly as it was.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    if out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        raise UserError(f"cannot write to {out.parent}: {exc.strerror or exc}") from None
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
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
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
        raise UserError(f"cannot write {out}: {reason}") from None


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
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

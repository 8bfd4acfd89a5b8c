"""The standard streams as the CLI meets them: closed, full, a pipe whose reader left, an
encoding that lacks a title's characters, a terminal width of 0.

:func:`guard_streams` runs first in ``main()``; ``cli.user_errors`` turns what these make
reportable into one ``animerec:`` line (or exit 141 for a reader that went away).
"""

from __future__ import annotations

import errno
import io
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

STDOUT = "<stdout>"
"""The file name an ``OSError`` of writing to stdout carries (see :class:`_NamedStdout`)."""


class ReaderGone(Exception):
    """stdout was a pipe and its reader went away (``animerec ... | head -1``).

    Not an ``OSError``: Click's own handler of EPIPE would exit 1 with it.
    """


def os_error_line(exc: OSError) -> str:
    """One line for an ``OSError`` that names its file: which file, and the system's reason."""
    reason = exc.strerror or str(exc)
    if exc.filename == STDOUT:
        return f"cannot write to stdout ({'it is closed, or not open for writing' if exc.errno == errno.EBADF else reason})"
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return f"{' -> '.join(names)}: {reason}"


def silence_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so that the flush at exit has somewhere to put what is left."""
    silence(sys.stdout)


def silence(stream: Any) -> None:
    """Point ``stream``'s descriptor at /dev/null, so that the flush at exit has somewhere to put what is left."""
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, OSError):  # None, or a test runner's in-memory stream
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


class _NamedStdout(io.FileIO):
    """stdout's descriptor, whose write errors name stdout (an ``OSError`` alone names no file)."""

    def write(self, data: ReadableBuffer) -> int:
        try:
            return super().write(data)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, STDOUT) from None


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


_ESCAPE = "animerec-escape"
"""The error handler of stdout's encoder: what the encoding cannot hold is written as JSON escapes."""


def _json_escape(exc: UnicodeError) -> tuple[str, int]:
    """``\\uXXXX`` (a surrogate pair above the BMP) for each character the encoding lacks: still strict JSON."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    parts = []
    for char in exc.object[exc.start : exc.end]:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            parts.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            parts.append(f"\\u{code:04x}")
    return "".join(parts), exc.end


def _guard_std_streams() -> None:
    """Standard streams the shell closed (``>&-``, ``<&-``) and stdout's errors, made reportable.

    A closed descriptor gets /dev/null opened the wrong way round (reading fails on stdin,
    writing on stdout and stderr, with EBADF, as on the closed descriptor), so no file the
    command opens later lands on it. stdout becomes a stream whose write errors name it.
    stdin stays None when it was closed: ``--batch -`` says so.
    """
    for fd, flags in ((0, os.O_WRONLY), (1, os.O_RDONLY), (2, os.O_RDONLY)):
        if _closed(fd):
            null = os.open(os.devnull, flags)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    old = sys.stdout
    errors = old.errors if old is not None else "strict"
    if errors == "strict":  # PYTHONIOENCODING=ascii: a title it cannot encode is escaped, not a traceback
        import codecs

        codecs.register_error(_ESCAPE, _json_escape)
        errors = _ESCAPE
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(_NamedStdout(1, "w", closefd=False)),
        encoding=old.encoding if old is not None else "utf-8",
        errors=errors,
        line_buffering=bool(old.line_buffering) if old is not None else False,
        write_through=getattr(old, "write_through", False),  # TextIOWrapper's; a TextIO need not have it
    )


def _drop_zero_columns() -> None:
    """``COLUMNS=0`` (some CI runners and editors' shells set it) is no width: rich printed nothing at all,
    error lines included, under it; without it rich asks the terminal, or takes 80."""
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit() and int(columns) == 0:
        del os.environ["COLUMNS"]


def guard_streams() -> None:
    """Everything above, once, before a command runs."""
    _guard_std_streams()
    _drop_zero_columns()

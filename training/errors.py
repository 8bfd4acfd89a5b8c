"""The one exception type that reaches the user as a single line."""

from __future__ import annotations


class UserError(Exception):
    """A problem with what the user gave us (a file, a flag, a title).

    The CLI prints ``str(error)`` on one line of stderr and exits with ``exit_code``;
    it never shows a traceback for these.
    """

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(" ".join(message.split()))
        if exit_code is not None:
            self.exit_code = exit_code

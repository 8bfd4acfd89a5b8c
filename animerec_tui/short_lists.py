"""The note a list of one or two favourites gets, in the CLI (stderr) and the app (over the results).

Shared by ``recommend_command`` and the TUI; it imports nothing, so the app does not pull in
the CLI's command bodies for it, and the engine side never meets Textual through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from animerec_tui.engine import Engine

SHORT_LIST = 2
"""Up to this many favourites the model knows, a list leans on what most fans loved (``short_list_note``)."""

CLI_LEAN = "add a few more favourites, or --novelty 0.5"
"""How ``animerec recommend`` is told to lean nearer to the favourites."""


def short_list_note(engine: Engine, favourites: Iterable[int], novelty: float, lean: str = CLI_LEAN) -> str | None:
    """One line for a list too short to say much about a taste (at no novelty lean); None otherwise.
    ``lean``: what to do about it, as the caller's user does it (the CLI's option, the app's F5).

    With one or two favourites the model's vote of the whole list, popularity included, carries
    most top places (a Mushishi fan is offered Death Note first): the best guess at what a
    random fan with that favourite liked, which is what the held-out metrics reward, but not a
    list about the favourite. The lean that makes it one costs accuracy (benchmarks/RESULTS.md,
    "Short lists"), so it is the user's to ask for."""
    known = [m for m in dict.fromkeys(favourites) if engine.knows(m)]
    if not known or len(known) > SHORT_LIST or novelty > 0:
        return None
    count = "1 favourite" if len(known) == 1 else f"{len(known)} favourites"
    return f"With {count} the list leans on what most fans loved; {lean} for picks nearer to yours"

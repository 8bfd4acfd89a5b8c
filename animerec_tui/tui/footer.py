"""The main screen's footer, and the line of F-keys over it where a terminal is too narrow for both.

At 80 columns one footer line holds the focused pane's keys, Quit, Help and Search, and no
F-key after them: the F-key bar then gives F2–F9 a line of their own, with short labels.
Both are Textual's Footer, filtered (its keys are FooterKey widgets, clickable as ever).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

BAR_KEYS = tuple(f"f{n}" for n in range(2, 10))
"""The keys of the F-key bar."""
SHORT = {"f8": "Import", "f9": "Seasons"}
"""Labels shortened for the bar (the rest keep the binding's description): eight must fit 80 columns."""


FIRST_KEYS = ("f1", "ctrl+q")
"""Help and Quit, first on a narrow footer: the focused pane's keys after them may not all fit."""


class MainFooter(Footer):
    """The footer; ``narrow``, it leaves F2–F9 to the F-key bar, puts Help and Quit first and packs the keys closer."""

    narrow = reactive(False, recompose=True)
    """Whether the F-key bar shows (the screen is narrower than 100 columns)."""

    def compose(self) -> ComposeResult:
        if not self.narrow:
            yield from super().compose()
            return
        self.compact = True
        widgets = [w for w in super().compose() if not (isinstance(w, FooterKey) and w.key in BAR_KEYS)]
        first = [w for w in widgets if isinstance(w, FooterKey) and w.key in FIRST_KEYS]
        yield from first
        yield from (w for w in widgets if w not in first)


class FKeyBar(Footer):
    """F2–F9 with short labels, on the line above the footer (shown on narrow screens only, by the stylesheet)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, show_command_palette=False, compact=True)

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.key in BAR_KEYS:
                widget.description = SHORT.get(widget.key, widget.description)
                yield widget

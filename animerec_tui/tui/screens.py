"""Modal dialogs: anime details, filters, the not-interested list, and a yes/no question.

Each dismisses with its answer (the opener passes a callback to ``push_screen``); the two
that act while staying open (details, not-interested list) post requests to their opener.
None of them reaches into the app or the engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.markup import escape
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.style import Style
from textual.widgets import Button, Checkbox, Footer, Input, Label, OptionList, SelectionList, Static
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection

from animerec_tui.defaults import METADATA_ONLY, YEAR_MAX, YEAR_MIN
from animerec_tui.engine import Filters
from animerec_tui.tui.formatting import mal_id_of, members_text, similar_text, started_text
from animerec_tui.tui.inputs import OrderedInput
from animerec_tui.tui.messages import AddFavourites, MarkAnime, ShowDetails, SimilarDone
from training.catalog import TYPES

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

SAFE_URL_PREFIX = "https://myanimelist.net/"


def parse_years(start: str, end: str) -> tuple[int | None, int | None]:
    """The year range typed in the filters (blank = open); ValueError with a message a user can act on."""
    years: list[int | None] = []
    for text, which in ((start.strip(), "from"), (end.strip(), "to")):
        if not text:
            years.append(None)
            continue
        if not (text.isascii() and text.isdigit()) or not YEAR_MIN <= int(text) <= YEAR_MAX:
            raise ValueError(f"year {which}: {text[:12]!r} is not a year from {YEAR_MIN} to {YEAR_MAX}")
        years.append(int(text))
    if years[0] is not None and years[1] is not None and years[0] > years[1]:
        raise ValueError(f"year from {years[0]} is after year to {years[1]}; for one year, type it in both")
    return years[0], years[1]


TICK, NO_TICK = "✓", " "
"""What a checked and an unchecked box show (not one glyph in two colours)."""


# Enter in a dialog means "apply", and it has to reach the dialog in the order it was typed.
# A priority binding would run it the moment the app reads the key, ahead of characters and
# toggles typed just before it that are still on their way to the focused widget ("path
# Enter" in one burst exported to the old path). So the dialogs bind Enter plainly, and the
# widgets in them pass it on behind their other keys: the boxes leave Enter unbound and the
# text boxes submit (which the dialog answers), showing the dialog's action in the footer.


class LeavesEnter:
    """Mixin for a widget in a dialog: Enter is not its key (Textual's boxes toggle on it),
    so it goes on to the dialog, behind the keys typed before it."""

    @classmethod
    def _merge_bindings(cls) -> BindingsMap:
        bindings: BindingsMap = super()._merge_bindings()  # type: ignore[misc]  # a mixin: super() is the widget it is mixed into, unseen by mypy
        bindings.key_to_bindings.pop("enter", None)
        return bindings


class TickBox(LeavesEnter, Checkbox):
    """A checkbox whose mark says whether it is checked, in any theme or without colour.

    Space toggles it; Enter is left to the dialog it sits in.
    """

    @property
    def _button(self) -> Content:
        button_style = self.get_visual_style("toggle--button")
        side_style = Style(foreground=button_style.background, background=self.background_colors[1])
        return Content.assemble((self.BUTTON_LEFT, side_style), (TICK if self.value else NO_TICK, button_style), (self.BUTTON_RIGHT, side_style))


class TickList(LeavesEnter, SelectionList[str]):
    """A selection list whose boxes show ✓ when selected and nothing when not.

    Space toggles the highlighted choice; Enter is left to the dialog it sits in.
    """

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        index = self.scroll_offset.y + y
        if len(segments) > 3 and index < self.option_count:
            selected = self.get_option_at_index(index).value in self._selected
            segments[1] = Segment(TICK if selected else NO_TICK, segments[1].style)
        return Strip(segments, strip.cell_length)


APPLY = Binding("enter", "apply", "Apply", tooltip="Apply the choices (space toggles one)")


class YearBox(OrderedInput):
    """A year in the filters; Enter (after the digits typed before it) submits, and the dialog applies."""

    BINDINGS = [replace(APPLY, action="submit")]  # the footer names the dialog's Enter


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True only on an explicit yes.

    The question is plain text, never markup: it names titles and paths the user chose."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, markup=False)  # titles and paths: "[Oshi no Ko]", a folder "a[" are text
            with Horizontal(id="buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class FiltersScreen(ModalScreen[Filters | None]):
    """Types, genres, years, sequels and adult titles; ctrl+j/F10 applies, Escape cancels.

    A year range that is not one (a word, 1850, from after to) is named beside the buttons
    and the dialog stays open, so the filters in force do not change.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without changing the filters"),
        APPLY,
        Binding("ctrl+j,f10", "apply", "Apply", show=False, tooltip="Apply the choices, from anywhere in the dialog"),
    ]

    YEARS_HINT = "[dim]blank = any; a range leaves out anime of unknown year[/dim]"
    """Beside the buttons until a bad year range is named there instead."""

    def __init__(self, filters: Filters, genres: list[str]) -> None:
        super().__init__()
        self.filters = filters
        self.genres = genres

    def compose(self) -> ComposeResult:
        f = self.filters
        with Vertical(id="dialog", classes="wide"):
            yield Label("[b]Filters[/b]  space toggles, Enter applies, Escape cancels")
            # Scrolls where the terminal is too short for it (the focused control scrolls into view).
            with Horizontal(id="filters-body"):
                with Vertical(classes="column"):
                    yield Label("Types (none = all)")
                    yield TickList(*(Selection(t, t, t in f.types) for t in TYPES), id="types")
                    yield TickBox("Hide sequels", f.hide_sequels, id="sequels")
                    yield TickBox("Hide adult titles", f.hide_adult, id="adult")
                    with Horizontal(id="years"):
                        yield Label("Years ")
                        yield YearBox(str(f.year_from or ""), placeholder="from", max_length=4, id="year-from")
                        yield Label(" to ")
                        yield YearBox(str(f.year_to or ""), placeholder="to", max_length=4, id="year-to")
                with Vertical(classes="column"):
                    yield Label("Genres (none = all)")
                    yield TickList(*(Selection(g, g, g in f.include_genres) for g in self.genres), id="genres")
            with Horizontal(id="buttons"):
                yield Static(self.YEARS_HINT, id="year-error")
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")
        yield Footer()

    @on(Button.Pressed, "#apply")
    @on(Input.Submitted, "#year-from")
    @on(Input.Submitted, "#year-to")
    def action_apply(self) -> None:
        if self.focused is not None and self.focused.id == "cancel":
            self.dismiss(None)  # Enter on Cancel cancels
            return
        try:
            year_from, year_to = parse_years(self.query_one("#year-from", Input).value, self.query_one("#year-to", Input).value)
        except ValueError as error:
            self.query_one("#year-error", Static).update(Text(str(error), style="bold red"))
            return
        self.dismiss(  # what this screen does not edit (novelty, the new-anime share, ...) stays
            replace(
                self.filters,
                types=frozenset(self.query_one("#types", SelectionList).selected),
                hide_sequels=self.query_one("#sequels", Checkbox).value,
                hide_adult=self.query_one("#adult", Checkbox).value,
                include_genres=frozenset(self.query_one("#genres", SelectionList).selected),
                year_from=year_from,
                year_to=year_to,
            )
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class DetailsScreen(ModalScreen[int | None]):
    """Everything about one anime, its MAL link, similar anime and the actions on it.

    Dismisses with the anime's MAL id when marked "not interested", else with None. Adding
    it and opening a similar anime are posted to ``opener``; the similar anime arrive as a
    SimilarDone message.
    """

    BINDINGS = [
        Binding("escape,q", "close", "Close", tooltip="Back to where you were"),
        Binding("a", "add", "Add to favourites", tooltip="Add this anime to your favourites"),
        Binding("n", "not_interested", "Not interested", tooltip="Never recommend it (undo: command palette)"),
        Binding("w", "mark('watched')", "Watched", tooltip="Mark it watched: it leaves the results (u undoes it)"),
        Binding("p", "mark('plan')", "Plan", tooltip="Put it on your plan-to-watch list, which F7 exports (u undoes it)"),
        Binding("o", "open_url", "Open MAL page", tooltip="Open its MyAnimeList page (only https://myanimelist.net/ links)"),
        Binding("c", "copy_url", "Copy MAL URL", tooltip="Copy its MyAnimeList URL"),
    ]

    KEYS_HINT = "a add · w watched · p plan · n not interested · o open MAL · c copy URL · Esc close"
    """The keys, under the text (a test checks it against BINDINGS)."""

    FRANCHISE_SHOWN = 10
    """Entries of the franchise listed (year, type, title) around this one; the rest are counted."""

    def __init__(self, entry: dict, known: bool | None, opener: MessagePump, rated: bool = True, franchise: list[dict] | None = None, marked: str = "") -> None:
        """``known``: whether the model knows the anime (None while the model is loading); ``rated``: whether it learnt it
        from ratings; ``franchise``: the other entries of its franchise, first aired first; ``marked``: what
        the user marked it, said under its title ("on your plan-to-watch list")."""
        super().__init__()
        self.marked = marked
        self.entry = entry
        self.franchise = franchise or []
        self.known = known
        self.rated = rated
        self.opener = opener
        """Where requests go: the screen that opened this one."""

    def compose(self) -> ComposeResult:
        e: dict[str, Any] = {k: escape(v) if isinstance(v, str) else v for k, v in self.entry.items()}  # text escaped for markup
        e["studios"] = [escape(x) for x in self.entry.get("studios", [])]
        titles = [escape(t) for t in (self.entry.get("title_english"), *self.entry.get("titles_alt", [])) if t]
        model_note = {
            True: "" if self.rated else f"[i]{METADATA_ONLY[0].upper()}{METADATA_ONLY[1:]}.[/i]",
            False: "[i]This model was trained on part of the catalogue and does not know this anime: it cannot be used as a favourite.[/i]",
            None: "[i]The model is still loading: similar anime appear once it is ready (reopen this view).[/i]",
        }[self.known]
        started = started_text(self.entry)
        episodes = e.get("episodes")
        facts = [e.get("type") or "?", f"{episodes} episode{'' if episodes == 1 else 's'}" if episodes else "? episodes", escape(started) if started else "", ", ".join(e["studios"])]
        audience = [f"MAL score {e['score']:.2f}" if e.get("score") else "", f"{members_text(e.get('members'))} members"]
        lines = [
            f"[b]{e['title']}[/b]",
            *(f"  also: {t}" for t in titles),
            *([f"[i]{self.marked}[/i]"] if self.marked else []),
            "",
            " · ".join(f for f in facts if f),
            " · ".join(a for a in audience if a),
            f"genres: {', '.join(e.get('genres', [])) or '?'}",
            ("flags: " + ", ".join(f for f, on in (("sequel", e.get("is_sequel")), ("adult", e.get("is_adult"))) if on)) if (e.get("is_sequel") or e.get("is_adult")) else "",
            f"MAL: {e.get('url', '')}",
            *self._franchise_lines(),
            model_note,
        ]
        with Vertical(id="dialog", classes="wide"):
            # The text scrolls in at most half the dialog, so a long franchise never takes the
            # similar anime's rows (at 80x24 it left them none).
            with VerticalScroll(id="details-body"):
                yield Static("\n".join(line for line in lines if line), id="details-text")
            yield Label("[b]Similar anime[/b]" if self.known else "", id="similar-label")
            yield OptionList(id="similar")
            yield Static(self.KEYS_HINT, id="details-keys")
        yield Footer()

    def _franchise_lines(self) -> list[str]:
        """The franchise, first aired first, this anime marked ▸: its year, type and title, at most
        ``FRANCHISE_SHOWN`` entries around this one, the rest counted; nothing for an anime on its own."""
        if not self.franchise:
            return []
        ordered = sorted([*self.franchise, self.entry], key=lambda x: (x.get("year") or 9999, x["mal_id"]))
        at = next(n for n, x in enumerate(ordered) if x["mal_id"] == self.entry["mal_id"])
        start = max(0, min(at - self.FRANCHISE_SHOWN // 3, len(ordered) - self.FRANCHISE_SHOWN))
        shown = ordered[start : start + self.FRANCHISE_SHOWN]
        kind = max(len(x.get("type") or "?") for x in shown)
        lines = ["", f"[b]Franchise[/b] ({len(ordered)} entries, first aired first)"]
        if start:
            lines.append(f"  … {start} earlier")
        for x in shown:
            mark = "▸" if x["mal_id"] == self.entry["mal_id"] else " "
            lines.append(f"{mark} {x.get('year') or '?':<4}  {x.get('type') or '?':<{kind}}  {escape(x['title'])}")
        if (later := len(ordered) - start - len(shown)) > 0:
            lines.append(f"  … {later} later")
        return lines

    def on_mount(self) -> None:
        similar = self.query_one("#similar", OptionList)
        if self.known:
            similar.loading = True  # until SimilarDone
            similar.focus()  # ↓ and Enter go straight to the similar anime
        else:
            similar.display = False

    @on(SimilarDone)
    def show_similar(self, message: SimilarDone) -> None:
        similar = self.query_one("#similar", OptionList)
        similar.loading = False
        similar.clear_options()
        similar.add_options(Option(similar_text(r), id=str(r.mal_id)) for r in message.items)
        if message.items:
            similar.highlighted = 0
            if self.focused is None or self.focused is similar or self.focused.id == "details-body":
                similar.focus()  # a list that was loading may not have taken the focus at mount

    @on(OptionList.OptionSelected, "#similar")
    def open_similar(self, event: OptionList.OptionSelected) -> None:
        self.opener.post_message(ShowDetails(mal_id_of(event.option.id)))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_add(self) -> None:
        self.opener.post_message(AddFavourites([self.entry["mal_id"]]))

    def action_not_interested(self) -> None:
        self.dismiss(self.entry["mal_id"])

    def action_mark(self, which: str) -> None:
        self.opener.post_message(MarkAnime(self.entry["mal_id"], which))

    def action_open_url(self) -> None:
        url = self.entry.get("url", "")
        if not url.startswith(SAFE_URL_PREFIX):
            self.notify(f"not opening {url!r}: only {SAFE_URL_PREFIX} links are opened", severity="warning", markup=False)
            return
        self.app.open_url(url)
        self.notify(f"opening {url} (if no browser opens, press c to copy it)", markup=False)

    def action_copy_url(self) -> None:
        url = self.entry.get("url", "")
        self.app.copy_to_clipboard(url)  # an OSC 52 request: the terminal decides whether it lands
        where = " (in tmux it arrives only with `set -g set-clipboard on`)" if os.environ.get("TMUX") else ""
        self.notify(f"sent {url} to the terminal's clipboard{where}; if nothing pastes, select the MAL line above", markup=False, timeout=8)


class NotInterestedScreen(ModalScreen[None]):
    """The anime marked "not interested"; Enter lets the highlighted one be recommended again."""

    BINDINGS = [Binding("escape,q", "close", "Close", tooltip="Back to the main screen")]

    def __init__(self, entries: list[tuple[int, str]], unhide: Callable[[int], bool]) -> None:
        """``entries``: (MAL id, title) pairs, in the order they were marked. ``unhide(mal_id)``
        takes one off the list in the favourites file and says whether it is off it now (False:
        the file could not be changed, and the user was told)."""
        super().__init__()
        self.entries = entries
        self.unhide = unhide

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label("[b]Not interested[/b]  Enter lets the highlighted one be recommended again · Esc closes")
            yield OptionList(*(Option(Text(title), id=str(mal_id)) for mal_id, title in self.entries), id="not-interested")
        yield Footer()

    @on(OptionList.OptionSelected, "#not-interested")
    def undo(self, event: OptionList.OptionSelected) -> None:
        if not self.unhide(int(event.option.id or 0)):
            return  # still marked in the file: it stays in the list
        event.option_list.remove_option(event.option.id or "")
        if event.option_list.option_count == 0:
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)

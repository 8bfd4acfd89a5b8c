"""Modal screens: anime details, filters, help, and a yes/no confirmation."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, OptionList, SelectionList, Static
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection
from rich.text import Text
from textual.markup import escape

from animerec_tui.engine import Filters
from training.catalog import TYPES
from animerec_tui.tui.messages import SimilarDone

SAFE_URL_PREFIX = "https://myanimelist.net/"


def members_text(members: int | None) -> str:
    """1234567 -> '1.2M', 45600 -> '45.6k'."""
    if not members:
        return "?"
    if members >= 1_000_000:
        return f"{members / 1_000_000:.1f}M"
    if members >= 1_000:
        return f"{members / 1_000:.1f}k"
    return str(members)


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True only on an explicit yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question)
            with Horizontal(id="buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class FiltersScreen(ModalScreen[Filters | None]):
    """Types, genres, sequels and adult titles; Enter/ctrl+j applies, Escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+j,f10", "apply", "Apply"),
    ]

    def __init__(self, filters: Filters, genres: list[str]) -> None:
        super().__init__()
        self.filters = filters
        self.genres = genres

    def compose(self) -> ComposeResult:
        f = self.filters
        with Vertical(id="dialog", classes="wide"):
            yield Label("[b]Filters[/b]  space toggles, ctrl+j or F10 applies, Escape cancels")
            with Horizontal():
                with Vertical(classes="column"):
                    yield Label("Types (none = all)")
                    yield SelectionList[str](*(Selection(t, t, t in f.types) for t in TYPES), id="types")
                    yield Checkbox("Hide sequels", f.hide_sequels, id="sequels")
                    yield Checkbox("Hide adult titles", f.hide_adult, id="adult")
                with Vertical(classes="column"):
                    yield Label("Genres (none = all)")
                    yield SelectionList[str](*(Selection(g, g, g in f.include_genres) for g in self.genres), id="genres")
            with Horizontal(id="buttons"):
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        self.dismiss(
            Filters(
                types=frozenset(self.query_one("#types", SelectionList).selected),
                hide_sequels=self.query_one("#sequels", Checkbox).value,
                hide_adult=self.query_one("#adult", Checkbox).value,
                include_genres=frozenset(self.query_one("#genres", SelectionList).selected),
                exclude_genres=self.filters.exclude_genres,
                exclude=self.filters.exclude,
            )
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class DetailsScreen(ModalScreen[None]):
    """Everything about one anime, its MAL link, similar anime and the actions on it."""

    BINDINGS = [
        Binding("escape,q", "dismiss_details", "Close"),
        Binding("a", "add", "Add to favourites"),
        Binding("n", "not_interested", "Not interested"),
        Binding("o", "open_url", "Open MAL page"),
        Binding("c", "copy_url", "Copy MAL URL"),
    ]

    def __init__(self, entry: dict, known: bool | None) -> None:
        """``known``: whether the model knows the anime; None while the model is loading."""
        super().__init__()
        self.entry = entry
        self.known = known

    def compose(self) -> ComposeResult:
        e = {k: escape(v) if isinstance(v, str) else v for k, v in self.entry.items()}
        e["studios"] = [escape(x) for x in self.entry.get("studios", [])]
        titles = [escape(t) for t in (self.entry.get("title_english"), *self.entry.get("titles_alt", [])) if t]
        model_note = {
            True: "",
            False: "[i]The model does not know this anime: it cannot be used as a favourite for recommendations.[/i]",
            None: "[i]The model is still loading: similar anime appear once it is ready (reopen this view).[/i]",
        }[self.known]
        lines = [
            f"[b]{e['title']}[/b]",
            *(f"  also: {t}" for t in titles),
            "",
            f"type: {e.get('type') or '?'}   episodes: {e.get('episodes') or '?'}   members: {members_text(e.get('members'))}"
            + (f"   MAL score: {e['score']:.2f}" if e.get("score") else ""),
            f"genres: {', '.join(e.get('genres', [])) or '?'}",
            *( [f"premiered: {e['premiered']}"] if e.get("premiered") else []),
            *( [f"studios: {', '.join(e['studios'])}"] if e.get("studios") else []),
            ("flags: " + ", ".join(f for f, on in (("sequel", e.get("is_sequel")), ("adult", e.get("is_adult"))) if on)) if (e.get("is_sequel") or e.get("is_adult")) else "",
            f"MAL: {e.get('url', '')}",
            model_note,
        ]
        with Vertical(id="dialog", classes="wide"):
            with VerticalScroll(id="details-body"):
                yield Static("\n".join(line for line in lines if line), id="details-text")
                yield Label("[b]Similar anime[/b]" if self.known else "")
                yield OptionList(id="similar")
            yield Static("a add to favourites · n not interested · o open MAL · c copy URL · Esc close", id="details-keys")

    def on_mount(self) -> None:
        if self.known:
            self.query_one("#similar", OptionList).loading = True
            self.load_similar()
        else:
            self.query_one("#similar", OptionList).display = False

    @work(thread=True, exclusive=True, group="similar", exit_on_error=False)
    def load_similar(self) -> None:
        items: list = []
        try:
            items = self.app.engine.similar(self.entry["mal_id"], 10, self.app.request_filters())
        finally:  # on an error the app's worker handler notifies; the spinner must stop either way
            self.post_message(SimilarDone(self.entry["mal_id"], items))

    @on(SimilarDone)
    def show_similar(self, message: SimilarDone) -> None:
        option_list = self.query_one("#similar", OptionList)
        option_list.loading = False
        option_list.clear_options()
        option_list.add_options(
            Option(Text.assemble(r.title + "  ", (f"{r.type or '?'} · {members_text(r.members)}", "dim")), id=str(r.mal_id)) for r in message.items
        )

    @on(OptionList.OptionSelected, "#similar")
    def open_similar(self, event: OptionList.OptionSelected) -> None:
        self.app.show_details(int(event.option.id))

    def action_dismiss_details(self) -> None:
        self.dismiss(None)

    def action_add(self) -> None:
        self.app.add_favourites([self.entry["mal_id"]])

    def action_not_interested(self) -> None:
        self.app.exclude(self.entry["mal_id"])
        self.dismiss(None)

    def action_open_url(self) -> None:
        url = self.entry.get("url", "")
        if not url.startswith(SAFE_URL_PREFIX):
            self.notify(f"not opening {url!r}: only {SAFE_URL_PREFIX} links are opened", severity="warning", markup=False)
            return
        self.app.open_url(url)
        self.notify(f"opening {url} (if no browser opens, press c to copy it)", markup=False)

    def action_copy_url(self) -> None:
        self.app.copy_to_clipboard(self.entry.get("url", ""))
        self.notify(f"copied {self.entry.get('url', '')}", markup=False)


class HelpScreen(ModalScreen[None]):
    """Every key of the app, in one place."""

    BINDINGS = [Binding("escape,f1,q", "close", "Close")]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        width = max(len(k) for k, _ in self.rows)
        text = "\n".join(f"[b]{key:<{width}}[/b]  {what}" for key, what in self.rows)
        with Vertical(id="dialog", classes="wide"):
            yield Label("[b]animerec keys[/b]  (Esc closes)")
            with VerticalScroll():
                yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)


class HiddenScreen(ModalScreen[None]):
    """The anime marked "not interested"; Enter shows one in recommendations again."""

    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, entries: list[tuple[int, str]]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label("[b]Not interested[/b]  Enter lets the highlighted one be recommended again · Esc closes")
            yield OptionList(*(Option(Text(title), id=str(mal_id)) for mal_id, title in self.entries), id="hidden")

    @on(OptionList.OptionSelected, "#hidden")
    def unhide(self, event: OptionList.OptionSelected) -> None:
        self.app.unhide(int(event.option.id))
        event.option_list.remove_option(event.option.id)
        if event.option_list.option_count == 0:
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)

"""The F1 help is made from the bindings: it lists every key of the app, and so does the README."""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
import re
from pathlib import Path

import pytest
from rich.console import Console
from textual.binding import Binding
from textual.widgets import Static

import animerec_tui.tui
from animerec_tui.tui.app import AnimeRecApp
from animerec_tui.tui.help import HelpScreen, key_label, key_reference, key_sections, markdown_table
from animerec_tui.tui.main_screen import MainScreen
from animerec_tui.tui.screens import DetailsScreen
from animerec_tui.tui.testing import settle

README = Path(__file__).resolve().parents[2] / "README.md"


def declared_bindings() -> list[tuple[str, object]]:
    """(class name, binding) for every binding any class of the TUI package declares."""
    found = []
    for info in pkgutil.iter_modules(animerec_tui.tui.__path__):
        module = importlib.import_module(f"animerec_tui.tui.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                found += [(cls.__name__, binding) for binding in vars(cls).get("BINDINGS", [])]
    return found


def test_every_binding_has_a_description():
    bindings = declared_bindings()
    assert len(bindings) > 20
    for owner, binding in bindings:
        assert isinstance(binding, Binding) and binding.description, f"{owner}: {binding!r} needs a description"


@pytest.mark.asyncio
async def test_f1_lists_every_binding_and_closes(tiny_model, home):
    app = AnimeRecApp(tiny_model)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        assert type(app.focused).__name__ == "VerticalScroll", "the keys scroll at once (↓, PgDn, End), to the last row"
        console = Console(width=300, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#keys", Static).content)
        lines = console.export_text().splitlines()
        for owner, binding in declared_bindings():
            row = re.compile(rf"^{re.escape(key_label(binding.key))} +{re.escape(binding.description)}( +{re.escape(binding.tooltip)})? *$")
            assert any(row.match(line) for line in lines), f"{owner}'s {binding.key!r} is not in the help"
        await pilot.press("f1")
        assert isinstance(app.screen, MainScreen)


def test_key_labels_read_as_in_the_readme():
    assert key_label("slash,ctrl+f") == "/ or ctrl+f"
    assert key_label("delete,x") == "Delete or x"
    assert key_label("escape,f1,q") == "Esc or F1 or q"
    assert key_label("right") == "→" and key_label("C") == "C" and key_label("shift+tab") == "shift+Tab"


def test_the_details_key_hint_names_the_details_keys():
    hinted = {part.split()[0] for part in DetailsScreen.KEYS_HINT.split(" · ")}
    assert hinted == {key_label(b.key).split(" or ")[0] for b in DetailsScreen.BINDINGS}


def test_readme_key_table_is_the_help():
    section = README.read_text(encoding="utf-8").split("## The terminal app", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("|")]
    expected = markdown_table(key_sections(AnimeRecApp)).splitlines()
    assert table == expected, "update README.md with the output of: python -m animerec_tui.tui.help"


def test_on_a_narrow_terminal_what_a_key_does_goes_under_it():
    sections = key_sections(AnimeRecApp)
    console = Console(width=66, record=True, file=io.StringIO())
    console.print(key_reference(sections, narrow=True))
    lines = console.export_text().splitlines()
    at = 0
    for _, bindings in sections:
        for binding in bindings:  # in order: a key of two sections (j, Esc) is found in each
            at = next(i for i, line in enumerate(lines) if i > at and re.match(rf"^{re.escape(key_label(binding.key))} +{re.escape(binding.description)} *$", line))
            if binding.tooltip:
                assert lines[at + 1].strip() and binding.tooltip.startswith(lines[at + 1].strip().split("  ")[-1][:12]), (binding.key, lines[at + 1])

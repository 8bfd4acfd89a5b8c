"""``animerec favourites add/remove`` take titles as ``recommend`` does, and the franchise view's
plain lines (issue 30): what each title was taken for on stderr, every refused title of a call
in one line, and nothing written when any is refused."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from animerec_tui.cli import app
from tests.conftest import DEATH_NOTE, STEINS_GATE, tree

runner = CliRunner()
BOX = set("┏┳┓┃┡╇┩│└┴┘━─┌┐├┤┼")


def _favourites() -> list[int]:
    return json.loads(runner.invoke(app, ["favourites", "list", "--json"]).stdout)["favourites"]


def test_add_says_what_each_title_was_taken_for_as_recommend_does(home):
    result = runner.invoke(app, ["favourites", "add", "aot", "Gintama", "Death Note", "--mal-id", str(STEINS_GATE)])
    assert result.exit_code == 0, result.output
    said = result.stderr.splitlines()
    assert said == [
        "'aot' → Shingeki no Kyojin (MAL id 16498): a fan abbreviation",
        "'Gintama' → Gintama (MAL id 918): the first aired of 4 entries of that title",
    ], "an exact title ('Death Note') is not said"
    assert result.stdout.startswith("added: Shingeki no Kyojin, Gintama, Death Note, Steins;Gate")
    assert _favourites() == [16498, 918, DEATH_NOTE, STEINS_GATE]


def test_every_refused_title_and_id_is_told_in_one_line_and_nothing_is_written(home):
    assert runner.invoke(app, ["favourites", "add", "--mal-id", str(DEATH_NOTE)]).exit_code == 0
    before = tree(home)
    result = runner.invoke(app, ["favourites", "add", "aot", "Fate", "zzqqxx", "Steins;Gate", "--mal-id", "99999999"])
    assert result.exit_code == 2 and "Traceback" not in result.output and result.stdout == ""
    refusal = [line for line in result.stderr.splitlines() if line.startswith("animerec: ")]
    assert len(refusal) == 1, result.stderr
    assert refusal[0].startswith("animerec: nothing added: 'Fate' is ambiguous")
    assert "'zzqqxx'" in refusal[0] and "MAL id 99999999 is not in the catalogue" in refusal[0]
    assert tree(home) == before, "not even the titles that resolved were added"
    assert _favourites() == [DEATH_NOTE]


def test_remove_says_what_a_title_was_taken_for_and_removes_all_or_nothing(home):
    assert runner.invoke(app, ["favourites", "add", "--mal-id", "16498", "--mal-id", str(DEATH_NOTE)]).exit_code == 0
    refused = runner.invoke(app, ["favourites", "remove", "aot", "zzqqxx"])
    assert refused.exit_code == 2 and "animerec: nothing removed: no anime title looks like 'zzqqxx'" in refused.stderr
    assert _favourites() == [16498, DEATH_NOTE]
    removed = runner.invoke(app, ["favourites", "remove", "aot"])
    assert removed.exit_code == 0 and removed.stderr.splitlines() == ["'aot' → Shingeki no Kyojin (MAL id 16498): a fan abbreviation"]
    assert _favourites() == [DEATH_NOTE]


def test_an_empty_title_is_refused_as_recommend_refuses_it(home):
    result = runner.invoke(app, ["favourites", "add", "Death Note", " "])
    assert result.exit_code == 2 and "a title cannot be empty" in result.stderr
    assert not home.exists() or _favourites() == []


def _news(monkeypatch, capsys, env: dict[str, str | None]) -> str:
    """The franchise view as ``recommend --new-in-franchises`` prints it, on stdout (a pipe here)."""
    from animerec_tui.engine.news import FranchiseNews, NewEntry
    from animerec_tui.recommend_command import print_news

    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    def entry(mal_id: int, title: str, kind: str, year: int | None, season: str | None) -> NewEntry:
        return NewEntry(mal_id, title, None, kind, year, season, year is None, False, False, f"https://myanimelist.net/anime/{mal_id}")

    news = [
        FranchiseNews(52991, "Sousou no Frieren", [(52991, "Sousou no Frieren")], [entry(59978, "Sousou no Frieren 2nd Season", "TV", 2026, "Winter")]),
        FranchiseNews(47917, "Bocchi the Rock!", [(47917, "Bocchi the Rock!")], [
            entry(55357, "Bocchi the Rock! Movie", "Movie", None, None), entry(61006, "Bocchi the Rock! 2nd Season", "TV", None, None)]),
    ]
    print_news(news, 2023)
    return capsys.readouterr().out


def test_the_franchise_view_piped_is_plain_lines(monkeypatch, capsys):
    """Issue 30: piped, the franchise view drew boxes padded to 80 columns, as the recommendations did."""
    out = _news(monkeypatch, capsys, {"COLUMNS": None, "TERM": "xterm"})
    lines = out.splitlines()
    assert not BOX & set(out) and all(line == line.rstrip() for line in lines)
    assert lines[0] == "new in your favourites' franchises: aired from 2023 on, or announced"
    assert lines[1:5] == [
        "continues          aired        type   title",
        "Sousou no Frieren  Winter 2026  TV     Sousou no Frieren 2nd Season (new)",
        "Bocchi the Rock!   announced    Movie  Bocchi the Rock! Movie (new)",
        "                   announced    TV     Bocchi the Rock! 2nd Season (new)",
    ]
    assert any(line.endswith("--year-from 2023 (without --new-in-franchises). The ratings end in January 2023: newer anime are known from "
                             "their genres, studio and year only, so their scores are less sure.") for line in lines), "a note is one line"


def test_the_franchise_view_on_a_dumb_terminal_keeps_within_its_width(monkeypatch, capsys):
    out = _news(monkeypatch, capsys, {"COLUMNS": "50", "TERM": "dumb"})
    lines = out.splitlines()
    assert not BOX & set(out) and all(len(line) <= 50 for line in lines), lines
    assert lines[2].split() == ["continues", "aired", "title"], "the heading takes two lines, and the type goes first"
    assert "--new-in-franchises" in out, "an option's name is not broken at its hyphens"


def test_the_franchise_view_on_a_terminal_is_still_boxed(monkeypatch, capsys):
    out = _news(monkeypatch, capsys, {"COLUMNS": "100", "TERM": "xterm"})
    assert BOX & set(out) and "Bocchi the Rock! 2nd Season" in out

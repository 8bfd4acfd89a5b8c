"""``animerec recommend --new-in-franchises``: the table, the JSON, and the flags it refuses."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from animerec_tui.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "120", "NO_COLOR": "1"}


def test_the_table_lists_each_franchise_by_air_date_and_points_to_the_ranking(tiny_model):
    result = runner.invoke(app, ["recommend", "Sousou no Frieren", "Kusuriya no Hitorigoto", "--new-in-franchises", "--model", str(tiny_model)], env=WIDE)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Sousou no Frieren 2nd Season" in out and "Winter 2026" in out
    assert "Kusuriya no Hitorigoto 2nd Season" in out and "Winter 2025" in out
    assert out.index("Sousou no Frieren 2nd Season") < out.index("Kusuriya no Hitorigoto 2nd Season")  # in the favourites' order
    assert "--year-from 2023" in out and "January 2023" in out  # the ranking of recent anime, and what the data cannot say
    assert "top " not in out and "match" not in out  # no recommendations


def test_json_and_a_later_cut_off(tiny_model):
    args = ["recommend", "--mal-id", "54492", "--mal-id", "47917", "--new-in-franchises", "--format", "json", "--model", str(tiny_model)]
    document = json.loads(runner.invoke(app, args).stdout)
    assert document["since"] == 2023 and document["favourites"] == [54492, 47917] and document["unknown"] == []
    apothecary, bocchi = document["franchises"]
    assert apothecary["continues"] == [{"mal_id": 54492, "title": "Kusuriya no Hitorigoto"}]
    assert {(e["mal_id"], e["aired"], e["rated"]) for e in apothecary["entries"]} == {(58514, "Winter 2025", False)}
    assert {e["mal_id"] for e in bocchi["entries"] if e["announced"]} >= {55357, 61006}
    later = json.loads(runner.invoke(app, [*args, "--year-from", "2026"]).stdout)
    assert later["since"] == 2026 and [f["franchise"] for f in later["franchises"]] == [47917]  # the 2025 season is before it


@pytest.mark.parametrize(("extra", "message"), [
    (["-k", "5"], "--top has no effect with --new-in-franchises"),
    (["--genre", "Drama", "--novelty", "0.5"], "--genre, --novelty have no effect with --new-in-franchises"),
    (["--format", "csv"], "--new-in-franchises prints a table or JSON, not csv"),
])
def test_options_it_cannot_use_are_refused_in_one_line(tiny_model, extra, message):
    result = runner.invoke(app, ["recommend", "Sousou no Frieren", "--new-in-franchises", *extra, "--model", str(tiny_model)], env=WIDE)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_title_is_one_line(tiny_model):
    result = runner.invoke(app, ["recommend", "zzqqxxyy no such anime", "--new-in-franchises", "--model", str(tiny_model)], env=WIDE)
    assert result.exit_code == 2 and result.stderr.startswith("animerec:") and len(result.stderr.strip().splitlines()) == 1

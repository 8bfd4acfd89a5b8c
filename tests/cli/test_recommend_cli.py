"""``animerec recommend``, ``favourites`` and ``import-mal`` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from animerec_tui.cli import app
from tests.conftest import DEATH_NOTE, STEINS_GATE

runner = CliRunner()
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "mal_export_small.xml"


def test_table_for_titles(tiny_model):
    result = runner.invoke(app, ["recommend", "Death Note", "Steins;Gate", "-k", "5", "--model", str(tiny_model)])
    assert result.exit_code == 0, result.output
    assert "because you liked" in result.output and "top 5 for 2 favourites" in result.output


def test_json_output(tiny_model):
    result = runner.invoke(app, ["recommend", "--mal-id", str(DEATH_NOTE), "-k", "3", "--format", "json", "--type", "tv", "--model", str(tiny_model)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["favourites"] == [DEATH_NOTE]
    assert len(document["recommendations"]) == 3
    assert all(r["type"] == "TV" and r["url"].startswith("https://myanimelist.net/anime/") for r in document["recommendations"])


def test_markdown_and_csv_output(tiny_model):
    import csv
    import io

    args = ["recommend", "Death Note", "Steins;Gate", "-k", "4", "--model", str(tiny_model)]
    ids = [r["mal_id"] for r in json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)["recommendations"]]
    markdown = runner.invoke(app, [*args, "--format", "markdown"])
    assert markdown.exit_code == 0, markdown.output
    assert "- [Death Note](https://myanimelist.net/anime/1535) (2006)" in markdown.stdout
    assert "- [Steins;Gate](https://myanimelist.net/anime/9253) (2011)" in markdown.stdout
    rows = [line for line in markdown.stdout.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert [int(r.split("/anime/")[1].split(")")[0]) for r in rows] == ids
    table = list(csv.DictReader(io.StringIO(runner.invoke(app, [*args, "--format", "csv"]).stdout)))
    assert [(r["list"], int(r["mal_id"])) for r in table] == [("favourite", DEATH_NOTE), ("favourite", STEINS_GATE)] + [("recommendation", i) for i in ids]


def test_a_year_range_shows_only_its_years_with_a_year_column(tiny_model, catalog):
    args = ["recommend", "--mal-id", str(DEATH_NOTE), "-k", "8", "--year-from", "2009", "--year-to", "2011", "--model", str(tiny_model)]
    document = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)
    years = [r["year"] for r in document["recommendations"]]
    assert len(years) == 8 and all(2009 <= y <= 2011 for y in years)
    assert all(r["rated"] is True and r["year"] == catalog.by_id[r["mal_id"]]["year"] for r in document["recommendations"])
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    header = next(line for line in table.stdout.splitlines() if "title" in line)
    assert header.split("┃")[3:5] == [" type  ", " year "]
    rows = [line.split("│") for line in table.stdout.splitlines() if line.startswith("│")]
    rows = [row for row in rows if row[1].strip()]  # a long reason folds onto a line of its own
    assert [int(row[4]) for row in rows] == years, "the table shows the same years as the JSON"


def test_anime_known_from_metadata_only_are_marked(catalogue_model, catalog):
    meta = json.loads((catalogue_model / "meta.json").read_text())
    unrated = meta["vocab"]["item_ids"][meta["model_config"]["num_rated"] :]
    base = ["recommend", "--mal-id", str(unrated[0]), "-k", "5", "--year-from", "2022", "--model", str(catalogue_model)]
    result = runner.invoke(app, [*base, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"1 favourite has no ratings yet: known from its genres, studio and year: {catalog.by_id[unrated[0]]['title']}"
    document = json.loads(result.stdout)
    assert document["unknown"] == [] and document["recommendations"]
    for r in document["recommendations"]:
        assert r["rated"] is (r["mal_id"] not in unrated) and r["year"] >= 2022
    table = runner.invoke(app, [*base, "--type", "TV", "--type", "ONA", "--type", "Movie", "-k", "60"]).stdout
    assert "(new)" in table and "(new) = no ratings yet: known from its genres, studio and year" in table


def test_ambiguous_title_lists_candidates_and_fails(tiny_model):
    result = runner.invoke(app, ["recommend", "Fate", "--model", str(tiny_model)])
    assert result.exit_code != 0
    assert "--mal-id 10087" in result.output and "Traceback" not in result.output


def test_every_refused_title_of_a_call_is_told_at_once(tiny_model):
    result = runner.invoke(app, ["recommend", "Death Note", "Fate", "zzqqxx", "precure", "--model", str(tiny_model)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    line = [row for row in result.output.splitlines() if "'Fate'" in row]
    assert len(line) == 1 and "zzqqxx" in line[0] and "'precure'" in line[0]


def test_each_title_is_said_on_stderr_unless_exact_and_shown_in_the_json(tiny_model):
    """Issue 30: "Gintama" is MAL 918's own title (its sequels' normalise to it too): the first aired of
    them is taken; a franchise's name its first entry, an abbreviation its anime; each said with why."""
    args = ["recommend", "Gintama", "Code Geass", "aot", "Cyberpunk Edgerunners", "Death Note", "-k", "3", "--model", str(tiny_model)]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    said = result.stderr.splitlines()
    assert "'Gintama' → Gintama (MAL id 918): the first aired of 4 entries of that title" in said
    assert "'Code Geass' → Code Geass: Hangyaku no Lelouch (MAL id 1575): the best known anime of that name" in said
    assert "'aot' → Shingeki no Kyojin (MAL id 16498): a fan abbreviation" in said
    assert not any(line.startswith(("'Cyberpunk Edgerunners' →", "'Death Note' →")) for line in said), "its own title is not said"
    document = json.loads(result.stdout)
    assert document["favourites"] == [918, 1575, 16498, 42310, DEATH_NOTE]
    assert [(r["query"], r["mal_id"], r["how"]) for r in document["resolved"]][3:] == [
        ("Cyberpunk Edgerunners", 42310, "its title"), ("Death Note", DEATH_NOTE, "its title")]
    assert set(document) == {"favourites", "unknown", "recommendations", "resolved"}


def test_bad_type_and_genre_are_one_line(tiny_model):
    for args, fragment in ((["--type", "Cartoon"], "unknown type"), (["--genre", "Cooking Show"], "unknown genre")):
        result = runner.invoke(app, ["recommend", "Death Note", *args, "--model", str(tiny_model)])
        assert result.exit_code != 0 and fragment in result.output


def test_batch_answers_every_line_and_survives_a_bad_one(tiny_model, tmp_path):
    lines = [
        json.dumps({"id": "a", "favourites": [DEATH_NOTE, STEINS_GATE]}),
        "{not json",
        json.dumps({"id": "b", "favourites": "1535"}),
        json.dumps({"id": "c", "favourites": [99999999, DEATH_NOTE], "exclude": [STEINS_GATE]}),
    ]
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["recommend", "--batch", str(path), "-k", "4", "--model", str(tiny_model)])
    assert result.exit_code == 1, "a batch with bad lines answers them all, then exits 1"
    answers = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [a.get("id") for a in answers] == ["a", None, "b", "c"]
    assert len(answers[0]["recommendations"]) == 4 and "error" in answers[1] and "error" in answers[2]
    assert answers[3]["unknown"] == [99999999]
    assert STEINS_GATE not in [r["mal_id"] for r in answers[3]["recommendations"]]


def test_a_year_range_applies_to_every_batch_line(tiny_model, tmp_path, catalog):
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "favourites": [f]}) for i, f in enumerate([DEATH_NOTE, STEINS_GATE])) + "\n")
    result = runner.invoke(app, ["recommend", "--batch", str(path), "-k", "5", "--year-to", "2005", "--model", str(tiny_model)])
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    years = [catalog.by_id[r["mal_id"]]["year"] for a in answers for r in a["recommendations"]]
    assert len(years) == 10 and all(y <= 2005 for y in years)


def test_batch_from_stdin(tiny_model):
    result = runner.invoke(app, ["recommend", "--batch", "-", "-k", "2", "--model", str(tiny_model)], input=json.dumps({"id": 1, "favourites": [DEATH_NOTE]}) + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["id"] == 1


def test_similar(tiny_model):
    result = runner.invoke(app, ["recommend", "--similar", "Death Note", "-k", "3", "--model", str(tiny_model)])
    assert result.exit_code == 0, result.output
    assert "anime like Death Note" in result.output
    by_id = runner.invoke(app, ["recommend", "--similar", str(DEATH_NOTE), "-k", "3", "--model", str(tiny_model)])
    assert by_id.exit_code == 0 and "anime like Death Note" in by_id.output


def test_batch_with_bad_utf8_is_an_error_line_not_a_traceback(tiny_model, tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_bytes(b'{"id": 1, "favourites": [1535]}\n{"id": "\xff\xfe", "favourites": []}\n')
    result = runner.invoke(app, ["recommend", "--batch", str(path), "-k", "2", "--model", str(tiny_model)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    answers = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert answers[0]["id"] == 1 and "error" in answers[1]


def test_saved_favourites_are_used_when_no_titles(tiny_model, home):
    assert runner.invoke(app, ["recommend", "--model", str(tiny_model)]).exit_code != 0
    assert runner.invoke(app, ["favourites", "add", "Death Note", "--mal-id", str(STEINS_GATE)]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["favourites", "list", "--json"]).output)
    assert listed["favourites"] == [DEATH_NOTE, STEINS_GATE]
    result = runner.invoke(app, ["recommend", "--format", "json", "-k", "3", "--model", str(tiny_model)])
    assert json.loads(result.output)["favourites"] == [DEATH_NOTE, STEINS_GATE]
    assert runner.invoke(app, ["favourites", "remove", "Death Note"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["favourites", "list", "--json"]).output)["favourites"] == [STEINS_GATE]
    assert runner.invoke(app, ["favourites", "clear"]).exit_code != 0, "clear without --yes and no terminal asks for --yes"
    assert runner.invoke(app, ["favourites", "clear", "--yes"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["favourites", "list", "--json"]).output)["favourites"] == []


def test_import_mal_export(home):
    result = runner.invoke(app, ["import-mal", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    assert json.loads(runner.invoke(app, ["favourites", "list", "--json"]).output)["favourites"]
    bad = runner.invoke(app, ["import-mal", str(FIXTURE.parent)])
    assert bad.exit_code != 0 and "Traceback" not in bad.output


def test_unhide_and_removing_a_favourite_missing_from_the_catalogue(home):
    from animerec_tui.favourites import FavouritesStore

    store = FavouritesStore()
    store.add([DEATH_NOTE, 99999999])
    store.exclude([STEINS_GATE])
    assert runner.invoke(app, ["favourites", "remove", "--mal-id", "99999999"]).exit_code == 0
    assert runner.invoke(app, ["favourites", "unhide", "--mal-id", str(STEINS_GATE)]).exit_code == 0
    assert store.load().favourites == [DEATH_NOTE] and store.load().excluded == []
    assert runner.invoke(app, ["favourites", "add", "--mal-id", "99999999"]).exit_code != 0


def test_novelty_leans_away_from_the_prior(tiny_model, catalog, monkeypatch):
    from animerec_tui import engine as engine_module

    original = engine_module.Engine.__init__

    def with_a_popularity_prior(self, *args, **kwargs):  # the random model's prior is flat
        original(self, *args, **kwargs)
        self.prior = np.log1p([catalog.by_id[int(i)].get("members") or 0 for i in self.item_ids])

    monkeypatch.setattr(engine_module.Engine, "__init__", with_a_popularity_prior)
    answers = {}
    for novelty in ("0", "1"):
        result = runner.invoke(app, ["recommend", "--mal-id", str(DEATH_NOTE), "-k", "10", "--format", "json", "--novelty", novelty, "--model", str(tiny_model)])
        assert result.exit_code == 0, result.output
        answers[novelty] = [r["members"] or 0 for r in json.loads(result.output)["recommendations"]]
    assert sum(answers["1"]) < sum(answers["0"])


def test_scoring_uses_one_thread_unless_told(tiny_model, monkeypatch):
    import threadpoolctl

    asked = []
    monkeypatch.setattr(threadpoolctl, "threadpool_limits", lambda limits, user_api: asked.append((limits, user_api)))
    assert runner.invoke(app, ["recommend", "Death Note", "-k", "2", "--model", str(tiny_model)]).exit_code == 0
    assert runner.invoke(app, ["recommend", "Death Note", "-k", "2", "--threads", "2", "--model", str(tiny_model)]).exit_code == 0
    assert asked == [(1, "blas"), (2, "blas")]
    refused = runner.invoke(app, ["recommend", "Death Note", "--threads", "0", "--model", str(tiny_model)])
    assert refused.exit_code == 2


BOX = set("┏┳┓┃┡╇┩│└┴┘━─")


def _table(tiny_model, monkeypatch, env: dict[str, str | None], k: int = 6) -> list[str]:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["recommend", "Death Note", "Steins;Gate", "-k", str(k), "--model", str(tiny_model)])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_piped_the_table_is_plain_lines_one_a_result(tiny_model, monkeypatch):
    """Issue 30: piped, the table drew boxes padded to 80 columns."""
    lines = _table(tiny_model, monkeypatch, {"COLUMNS": None, "TERM": "xterm"})
    assert not BOX & set("".join(lines)) and all(line == line.rstrip() for line in lines)
    assert lines[0] == "top 6 for 2 favourites" and lines[1].split() == ["#", "title", "type", "year", "eps", "match", "because", "you", "liked"]
    rows = lines[2:8]
    assert [row.split()[0] for row in rows] == [str(n) for n in range(1, 7)] and "because you liked" not in "".join(lines[8:])
    assert len({len(row) for row in rows}) > 1, "no row padded to a width"


def test_a_dumb_terminal_gets_plain_lines_within_its_width(tiny_model, monkeypatch):
    lines = _table(tiny_model, monkeypatch, {"COLUMNS": "50", "TERM": "dumb"})
    assert not BOX & set("".join(lines)) and all(len(line) <= 50 for line in lines), lines
    assert lines[1].split()[:4] == ["#", "title", "match", "because"]
    assert [row.split()[0] for row in lines[2:8]] == [str(n) for n in range(1, 7)]


def test_a_50_column_table_keeps_the_match_and_reasons_on_one_line_a_result(tiny_model, monkeypatch):
    """Issue 30: at 50 columns the match and reason columns were dropped and every row took 4-5 lines."""
    lines = _table(tiny_model, monkeypatch, {"COLUMNS": "50", "TERM": "xterm"})
    assert all(len(line) <= 50 for line in lines), lines
    header = next(line for line in lines if line.startswith("┃"))
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == ["#", "title", "match", "because"]
    rows = [line for line in lines if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == [str(n) for n in range(1, 7)], "one line a result"
    assert all(row.split("│")[3].strip() and row.split("│")[4].strip() for row in rows)

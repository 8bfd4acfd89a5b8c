"""What a careless or hostile user can hand ``animerec recommend``: one clear line or an error object, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from animerec_tui.cli import app
from tests.conftest import DEATH_NOTE, STEINS_GATE, assert_refused
from tests.unit.test_engine import _damaged

runner = CliRunner()


def _recommend(model: Path, *args):
    return runner.invoke(app, ["recommend", *[str(a) for a in args], "--model", str(model)])


def _strict(line: str):
    """Parse ``line`` as a strict parser (serde_json, Go) would: no NaN/Infinity, no lone surrogates."""

    def refuse(name):
        raise AssertionError(f"{name} is not JSON: {line[:200]}")

    value = json.loads(line, parse_constant=refuse)
    json.dumps(value, ensure_ascii=False).encode("utf-8")
    return value


# --- titles and --similar ------------------------------------------------------------


def test_empty_similar_is_refused_not_swapped_for_the_saved_favourites(tiny_model, home):
    assert runner.invoke(app, ["favourites", "add", "--mal-id", str(DEATH_NOTE)]).exit_code == 0
    for similar in ("", "   "):
        assert_refused(_recommend(tiny_model, "--similar", similar), "--similar needs a title or MAL id")


@pytest.mark.parametrize("title", ["", "   ", "\t\n"])
def test_empty_title_is_refused(tiny_model, home, title):
    assert_refused(_recommend(tiny_model, "Death Note", title), "a title cannot be empty")


@pytest.mark.parametrize(("similar", "fragment"), [("²", "no anime title looks like '²'"), ("1" * 5000, "5,000 characters")])
def test_similar_that_only_looks_like_a_number_is_a_title(tiny_model, similar, fragment):
    # "²".isdigit() and a 5,000-digit number both made int() raise: a traceback
    assert_refused(_recommend(tiny_model, "--similar", similar), fragment)


def test_a_title_longer_than_any_anime_is_refused_in_a_short_line(tiny_model):
    result = _recommend(tiny_model, "x" * 100_000)
    assert_refused(result, "100,000 characters")
    assert len(result.stderr) < 300


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["Death Note", "--batch", "-"], "--batch reads its favourites from the file"),
        (["--mal-id", DEATH_NOTE, "--batch", "-"], "--batch reads its favourites from the file"),
        (["--similar", "Death Note", "--mal-id", STEINS_GATE], "--similar takes one title"),
        (["--mal-id", DEATH_NOTE, "--exclude", "-1"], "invalid anime id -1"),
        (["--mal-id", DEATH_NOTE, "--exclude", "0"], "invalid anime id 0"),
        (["--mal-id", DEATH_NOTE, "--jobs", "2"], "--jobs"),
        (["--batch", "-", "--jobs", "0"], "--jobs"),
    ],
)
def test_options_that_would_be_silently_ignored_or_meaningless_are_refused(tiny_model, args, fragment):
    assert_refused(_recommend(tiny_model, *args), fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--mal-id", "0"], "MAL id 0 is not in the catalogue"),
        (["--mal-id", "-5"], "MAL id -5 is not in the catalogue"),
        (["--mal-id", str(10**30)], f"MAL id {10**30} is not in the catalogue"),
        (["Death Note", "--type", ""], "unknown type ''"),
        (["Death Note", "--genre", "Cooking"], "unknown genre 'Cooking'"),
        (["Death Note", "--year-from", "2020", "--year-to", "2019"], "--year-from 2020 is after --year-to 2019"),
        (["Death Note", "--year-from", "1899"], "'--year-from'"),
        (["Death Note", "--year-to", "2101"], "'--year-to'"),
        (["Death Note", "--year-from", "2k"], "'--year-from'"),
        (["Death Note", "--year-to", "2000.5"], "'--year-to'"),
        (["Death Note", "--novelty", "1.5"], "'--novelty'"),
        (["Death Note", "--novelty", "-0.1"], "'--novelty'"),
        (["Death Note", "--novelty", "nan"], "'--novelty'"),
        (["--batch", "."], "cannot read the batch file"),
    ],
)
def test_other_bad_values_stay_one_line(tiny_model, args, fragment):
    assert_refused(_recommend(tiny_model, *args), fragment)


# --- a broken model ------------------------------------------------------------------


def test_a_model_of_nan_weights_is_called_broken(tiny_model, tmp_path, home):
    folder = _damaged(tiny_model, tmp_path / "nan", lambda w: [t.fill_(float("nan")) for t in w.values() if t.is_floating_point()])
    result = _recommend(folder, "Death Note")
    assert_refused(result, "holds NaN or infinite values; the model is broken")
    assert result.exit_code == 2 and str(folder) in result.stderr


# --- unknown favourites --------------------------------------------------------------


def _unknown_to(model: Path, catalog: list[dict], n: int) -> list[int]:
    known = set(json.loads((model / "meta.json").read_text())["vocab"]["item_ids"])
    return [e["mal_id"] for e in catalog if e["mal_id"] not in known][:n]


@pytest.mark.parametrize("output", ["table", "json"])
def test_many_unknown_favourites_are_summarised_on_one_line(tiny_model, catalog, output):
    unknown = _unknown_to(tiny_model, catalog, 1000)
    args = [a for m in unknown for a in ("--mal-id", m)]
    result = _recommend(tiny_model, "Death Note", *args, "-k", "3", "--format", output)
    assert result.exit_code == 0, result.output
    [line] = result.stderr.splitlines()
    assert "1,000 favourites are not known to the model and were left out" in line and "(and 995 more)" in line
    if output == "json":
        assert _strict(result.stdout)["unknown"] == unknown, "the data on stdout stays complete"
    else:
        assert "because you liked" in result.stdout


# --- --batch -------------------------------------------------------------------------


def _batch(tiny_model: Path, tmp_path: Path, data: bytes):
    path = tmp_path / "requests.jsonl"
    path.write_bytes(data)
    result = _recommend(tiny_model, "--batch", path, "-k", "2")
    return result, [_strict(line) for line in result.stdout.splitlines()]


def test_batch_writes_only_strict_json_and_refuses_ids_that_are_not(tiny_model, tmp_path):
    ids = ["NaN", "Infinity", "-Infinity", "[1, NaN]", '{"a": Infinity}', "1e400", '"\\ud800"']
    lines = [f'{{"id": {i}, "favourites": [{DEATH_NOTE}]}}' for i in ids] + [json.dumps({"id": "ok", "favourites": [DEATH_NOTE]})]
    result, answers = _batch(tiny_model, tmp_path, "\n".join(lines).encode() + b"\n")
    assert result.exit_code == 1
    assert [a["id"] for a in answers] == [None] * len(ids) + ["ok"]
    assert all("cannot be echoed" in a["error"] for a in answers[:-1])
    assert [a["line"] for a in answers[:-1]] == list(range(1, len(ids) + 1))
    assert len(answers[-1]["recommendations"]) == 2


def test_a_bad_batch_ends_with_one_line_on_stderr(tiny_model, tmp_path):
    result, answers = _batch(tiny_model, tmp_path, b'[1535]\n"x"\n5\nnull\n{"id": 1, "favourites": [true]}\n')
    assert result.exit_code == 1 and len(answers) == 5 and all("error" in a for a in answers)
    [line] = result.stderr.splitlines()
    assert line.startswith("animerec: 5 lines of the batch could not be answered")


def test_a_batch_line_too_long_is_an_error_object_and_the_next_line_is_answered(tiny_model, tmp_path, monkeypatch):
    import animerec_tui.recommend_command as command

    monkeypatch.setattr(command, "MAX_LINE_BYTES", 1000)
    long = json.dumps({"id": "long", "favourites": [DEATH_NOTE] * 500}).encode()
    result, answers = _batch(tiny_model, tmp_path, long + b"\n" + json.dumps({"id": "next", "favourites": [DEATH_NOTE]}).encode() + b"\n")
    assert result.exit_code == 1
    assert answers[0] == {"id": None, "line": 1, "error": "the line is longer than 1,000 bytes"}
    assert answers[1]["id"] == "next" and len(answers[1]["recommendations"]) == 2


def test_a_batch_file_saved_with_a_byte_order_mark_is_read(tiny_model, tmp_path):
    result, answers = _batch(tiny_model, tmp_path, b"\xef\xbb\xbf" + json.dumps({"id": 1, "favourites": [DEATH_NOTE]}).encode() + b"\r\n")
    assert result.exit_code == 0, result.output
    assert answers[0]["id"] == 1 and len(answers[0]["recommendations"]) == 2


def test_a_batch_line_with_an_unknown_key_is_a_bad_line(home, tmp_path):
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"id": 1, "favourites": [1535], "exlude": [9253]}\n{"id": 2, "favourites": [1535]}\n')
    result = runner.invoke(app, ["recommend", "--batch", str(batch)])
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["line"] == 1 and "unknown key 'exlude'" in first["error"]
    assert second["id"] == 2 and second["recommendations"]


def test_genres_match_without_regard_to_case(home):
    lower = runner.invoke(app, ["recommend", "--mal-id", "1535", "--genre", "mystery", "--format", "json"])
    proper = runner.invoke(app, ["recommend", "--mal-id", "1535", "--genre", "Mystery", "--format", "json"])
    assert lower.exit_code == 0, lower.output
    assert json.loads(lower.stdout)["recommendations"] == json.loads(proper.stdout)["recommendations"]


def test_a_batch_file_that_cannot_be_read_is_one_line(home, tiny_model):
    # /proc/self/mem opens, and its first read fails with EIO: a traceback before
    if not Path("/proc/self/mem").exists():
        pytest.skip("no /proc")
    assert_refused(_recommend(tiny_model, "--batch", "/proc/self/mem"), "/proc/self/mem: cannot read the batch file (Input/output error)")


# --- favourites the model cannot use -------------------------------------------------


def test_a_batch_line_without_a_usable_favourite_is_a_bad_line(tiny_model, tmp_path, catalog):
    # They were answered with the popularity list, where the single request refuses the same input.
    [outside] = _unknown_to(tiny_model, catalog, 1)
    requests = [
        {"id": "empty", "favourites": []},
        {"id": "not-in-catalogue", "favourites": [99_999_999, 99_999_998]},
        {"id": "not-in-model", "favourites": [outside]},
        {"id": "ok", "favourites": [DEATH_NOTE, 99_999_999]},
    ]
    result, answers = _batch(tiny_model, tmp_path, "".join(json.dumps(r) + "\n" for r in requests).encode())
    assert result.exit_code == 1
    assert [a["id"] for a in answers] == ["empty", "not-in-catalogue", "not-in-model", "ok"]
    assert [a.get("line") for a in answers] == [1, 2, 3, None]
    assert "'favourites' is empty" in answers[0]["error"]
    assert "none of its favourites is in the catalogue: MAL ids 99999999, 99999998" in answers[1]["error"]
    assert f"none of its favourites is known to the model: MAL id {outside}" in answers[2]["error"]
    assert len(answers[3]["recommendations"]) == 2 and answers[3]["unknown"] == [99_999_999]
    assert "3 lines of the batch could not be answered" in result.stderr


def test_favourites_the_model_cannot_use_at_all_are_refused(tiny_model, catalog, home):
    # As the batch: not a popularity list passed off as recommendations for them.
    unknown = _unknown_to(tiny_model, catalog, 2)
    assert_refused(_recommend(tiny_model, "--mal-id", unknown[0], "--mal-id", unknown[1]), "none of the favourites is known to the model")


# --- what is echoed back to the terminal ---------------------------------------------


def test_control_characters_in_a_title_are_shown_escaped(tiny_model):
    result = _recommend(tiny_model, "\x1b[31mfoo\x07\u202e")
    assert_refused(result, "\\x1b[31mfoo\\x07\\u202e")
    assert not any(c in result.stderr for c in "\x1b\x07\u202e")


def test_control_characters_in_a_fuzzy_match_are_shown_escaped(tiny_model):
    result = _recommend(tiny_model, "Cowboy Beebop\x1b", "-k", "1", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "'Cowboy Beebop\\x1b' → Cowboy Bebop" in result.stderr and "\x1b" not in result.stderr


def test_control_characters_in_favourites_messages_are_shown_escaped(home):
    result = runner.invoke(app, ["favourites", "add", "\x1b]0;pwned\x07"])
    assert_refused(result, "\\x1b]0;pwned\\x07")

"""Each default is declared once: the CLI's options take theirs, their ranges and their help from
the configuration dataclasses (and ``animerec_tui.defaults``), and a bare train is the shipped recipe."""

from __future__ import annotations

import ast
import inspect
import json
import math
from pathlib import Path

import pytest
import typer

from tests.conftest import TINY_TRAIN, invoke
from training.config import SHIPPED, EvalConfig, PreprocessParams, TrainConfig
from training.model_config import ModelConfig, defaults_of, range_of

REPO = Path(__file__).resolve().parents[2]
COMMAND_MODULES = ["cli.py", "model_commands.py", "recommend_command.py", "favourites_command.py", "options.py"]


def _numeric(node: ast.expr) -> bool:
    """A number written out: ``20``, ``0.2``, ``-1``, ``1 << 20`` (True and False are not numbers here)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _numeric(node.operand)
    if isinstance(node, ast.BinOp):
        return _numeric(node.left) and _numeric(node.right)
    return False


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_no_number_is_written_out_as_a_default(module):
    """A number as a parameter's default in the command modules is a second declaration of it."""
    tree = ast.parse((REPO / "animerec_tui" / module).read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            for default in [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]:
                if _numeric(default):
                    found.append(f"{module}:{default.lineno} {node.name}(... = {ast.unparse(default)})")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and len(node.args) == 2 and _numeric(node.args[1]):
            found.append(f"{module}:{node.lineno} .get(..., {ast.unparse(node.args[1])})")
    assert not found, "declare these defaults once (a config field or animerec_tui.defaults) and read them: " + "; ".join(found)


def _options():
    """Every (command, click parameter) of the CLI."""
    from typer.main import get_command

    from animerec_tui.cli import app

    group = get_command(app)

    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")
        for param in command.params:
            yield path, param

    return list(walk(group, "animerec"))


COMMAND_CONFIGS = {"animerec train": (TrainConfig, ModelConfig), "animerec preprocess": (PreprocessParams,), "animerec eval": (EvalConfig,)}


def _field_of(command: str, name: str):
    """The configuration whose field the option ``name`` of ``command`` sets, if any."""
    return next((config for config in COMMAND_CONFIGS.get(command, ()) if name in config.__dataclass_fields__), None)


def test_every_option_of_a_config_field_has_its_default_range_and_help():
    checked = 0
    for command, param in _options():
        config = _field_of(command, param.name)
        if config is None or param.name == "data":
            continue
        checked += 1
        default = defaults_of(config)[param.name]
        if param.default is not None:
            value = getattr(param.default, "value", param.default)
            assert value == default and type(value) is type(default), f"{command} --{param.name}: {param.default!r}, the field's {default!r}"
        bounds = range_of(config, param.name)
        if bounds is None:
            continue
        if bounds.whole:
            assert (param.min, param.max) == (bounds.low if math.isfinite(bounds.low) else None, bounds.high if math.isfinite(bounds.high) else None), f"{command} --{param.name}"
        else:
            def check(value, param=param):
                return param.callback(None, param, value)  # typer's wrapper of number_in's check

            for inside in [v for v in (bounds.low, bounds.high) if math.isfinite(v) and not (v == bounds.low and bounds.above)]:
                assert check(inside) == inside, f"{command} --{param.name} refuses {inside}"
            outside = [bounds.low - 1e-6] if math.isfinite(bounds.low) else []
            outside += [bounds.high + 1e-6] if math.isfinite(bounds.high) else []
            outside += [bounds.low] if bounds.above else []
            for value in [*outside, math.nan]:
                with pytest.raises(typer.BadParameter):
                    check(value)
                assert not bounds.holds(value), f"the dataclass takes {value}, the flag does not"
        field_help = config.__dataclass_fields__[param.name].metadata["help"]
        assert param.help.startswith(field_help), f"{command} --{param.name}"
    assert checked >= 25


def test_the_app_s_own_defaults_agree_with_the_engine_and_the_mal_import():
    """Two defaults the engine and the MAL import declare, and --help must read without numpy: held to one value."""
    from animerec_tui import defaults, settings
    from animerec_tui.engine import Filters
    from animerec_tui.malimport import liked, parse_mal_export

    assert (Filters().new_share, Filters().novelty) == (defaults.NEW_SHARE, defaults.NOVELTY)
    for function in (liked, parse_mal_export):
        assert inspect.signature(function).parameters["min_score"].default == defaults.MAL_MIN_SCORE
    assert settings.YEARS == (defaults.YEAR_MIN, defaults.YEAR_MAX)


def test_a_bare_train_is_the_shipped_recipe_and_a_given_flag_still_counts(home, tiny_shipped, monkeypatch):
    """Without --data: the shipped model's data and its recipe (25 epochs where the default is 30)."""
    calls = []
    monkeypatch.setattr("animerec_tui.model_commands.train_command", lambda *args, **kwargs: calls.append(kwargs))
    assert invoke("train").exit_code == 0
    assert invoke("train", "--epochs", "3", "--hidden", "32").exit_code == 0
    assert invoke("train", "--data", home).exit_code == 0
    assert SHIPPED.train["epochs"] != defaults_of(TrainConfig)["epochs"], "else this test proves nothing"
    assert calls[0]["epochs"] == SHIPPED.train["epochs"] and "hidden" not in calls[0], "untyped settings are the configuration's"
    assert calls[1]["epochs"] == 3 and calls[1]["hidden"] == 32
    assert all("epochs" not in call for call in calls[2:]), "with --data, the defaults"


def test_the_shipped_model_was_made_by_the_shipped_recipe():
    meta = json.loads((REPO / "Data" / "model" / "meta.json").read_text())
    recipe = SHIPPED.preprocess
    params = meta["data"]["params"]
    assert (params["min_rating"], params["min_user_items"], params["min_item_users"]) == (recipe.min_rating, recipe.min_user_items, recipe.min_item_users)
    assert {name: meta["train_config"][name] for name in SHIPPED.train} == SHIPPED.train


def test_a_resume_without_epochs_trains_to_the_run_s_own_end(toy_data, tmp_path):
    """Not to the default's 30: a run of 2 epochs stopped in its first resumes to its second."""
    from animerec_tui.catalog import load_catalog
    from training.config import resolve_config
    from training.data import load_dataset
    from training.train import train

    data = load_dataset(toy_data)
    flags = dict(zip(TINY_TRAIN[::2], TINY_TRAIN[1::2]))
    settings = {name.removeprefix("--").replace("-", "_"): int(value) for name, value in flags.items()}
    config = resolve_config(data, load_catalog, epochs=2, **settings)  # as the CLI resolves it
    run = tmp_path / "run"
    resolved = dict(item_genres=config.item_genres, genre_names=config.genre_names, item_ids=config.item_ids, prior_items=config.prior_items)
    assert train(data, run, config.model, config.train, stop_after=lambda step: step == 2, **resolved)["interrupted"]
    resumed = invoke("train", "--data", toy_data, "--out", run, "--resume", *TINY_TRAIN)
    assert resumed.exit_code == 0, resumed.output
    assert len(json.loads((run / "history.json").read_text())) == 2


def test_the_train_help_says_what_a_bare_train_does():
    text = invoke("train", "--help").stdout
    assert "shipped model's recipe" in text and f"--epochs {SHIPPED.train['epochs']}" in " ".join(text.split())

"""Shared fixtures: small real-format ratings files written on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
ANIME_DATA = SHARED_DATA / "anime"

os.environ.setdefault("COLUMNS", "120")
os.environ.setdefault("NO_COLOR", "1")
# One thread: the tests' tensors are tiny, so torch's default of a thread per core only
# oversubscribes a shared machine (the suite took twice as long with it). Set before torch
# is imported, and inherited by the tests' subprocesses.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def needs_shared_data(*parts: str):
    """Skip a test when a file of ../shared/data is absent (e.g. outside the project's machines)."""
    path = SHARED_DATA.joinpath(*parts)
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is not here")


def toy_triples(n_users: int = 30, n_items: int = 20, seed: int = 0) -> list[tuple[int, int, int]]:
    """A dense-ish random ratings table: every user rates 12 distinct items with scores 1..10 or -1."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, n_users + 1):
        for item in rng.choice(np.arange(100, 100 + n_items), size=12, replace=False):
            rows.append((user * 7, int(item), int(rng.choice([-1, 3, 7, 8, 9, 10]))))
    return rows


@pytest.fixture
def toy_rows() -> list[tuple[int, int, int]]:
    return toy_triples()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An isolated ANIMEREC_HOME."""
    path = tmp_path / "home"
    monkeypatch.setenv("ANIMEREC_HOME", str(path))
    return path


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for folders), to prove nothing changed."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> Path:
    """A preprocessed folder of 60 toy users (raw item ids), made once per session."""
    from training.preprocess import PreprocessParams, preprocess

    folder = tmp_path_factory.mktemp("toy")
    ratings = write_lines(folder / "r.csv", [f"{u},{i},{r}" for u, i, r in toy_triples(60, 30)])
    preprocess(ratings, folder / "pp", params=PreprocessParams(min_user_items=3, min_item_users=3))
    return folder / "pp"


# Anime every engine test can count on: popular, a sequel, an adult title, a movie.
DEATH_NOTE, STEINS_GATE, FMA_B, YOUR_NAME, ATTACK_ON_TITAN, NARUTO = 1535, 9253, 5114, 32281, 16498, 20


@pytest.fixture(scope="session")
def catalog() -> list[dict]:
    from animerec_tui.catalog import load_catalog

    return load_catalog()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, catalog) -> Path:
    """An untrained 2-layer model over 150 popular anime plus a few adult and sequel titles."""
    from tests.random_model import write_random_model

    ranked = sorted(catalog, key=lambda e: -(e.get("members") or 0))
    ids = {e["mal_id"] for e in ranked[:150]}
    ids |= {e["mal_id"] for e in [x for x in ranked if x["is_adult"]][:5]}
    ids |= {e["mal_id"] for e in [x for x in ranked if x["is_sequel"]][:10]}
    ids |= {DEATH_NOTE, STEINS_GATE, FMA_B, YOUR_NAME, ATTACK_ON_TITAN, NARUTO}
    return write_random_model(tmp_path_factory.mktemp("tiny") / "model", ids, catalog, hidden=16, heads=2, max_len=8)


@pytest.fixture(scope="session")
def catalogue_model(tiny_model, tmp_path_factory, catalog) -> Path:
    """The tiny model's anime and 10 of unknown year rated, plus 40 recent anime known from their metadata only."""
    import json

    from tests.random_model import write_random_model

    rated = json.loads((tiny_model / "meta.json").read_text())["vocab"]["item_ids"]
    rated += [e["mal_id"] for e in sorted(catalog, key=lambda e: -(e.get("members") or 0)) if e.get("year") is None and not e["is_adult"] and e["mal_id"] not in rated][:10]
    recent = [e["mal_id"] for e in catalog if (e.get("year") or 0) >= 2022 and not e["is_adult"] and e["mal_id"] not in rated][:40]
    return write_random_model(tmp_path_factory.mktemp("catalogue") / "model", rated, catalog, unrated=recent, hidden=16, heads=2, max_len=8)


TINY_TRAIN = ["--hidden", "16", "--heads", "2", "--layers", "1", "--max-len", "16", "--batch-size", "8", "--val-users", "100"]
"""`animerec train` flags for a model that trains on the toy data in a second."""


@pytest.fixture
def tiny_shipped(toy_data, tmp_path, monkeypatch) -> Path:
    """The toy data packed as the install's training data (the real one takes a minute an epoch)."""
    from training.bundle import pack

    shipped = tmp_path / "Data"
    pack(toy_data, shipped / "training")
    monkeypatch.setattr("animerec_tui.runs.data_dir", lambda: shipped)
    return shipped


@pytest.fixture(scope="session")
def tiny_run(toy_data, tmp_path_factory) -> Path:
    """A finished one-epoch run on the toy data, trained once: tests copy it before changing anything."""
    from typer.testing import CliRunner

    from animerec_tui.cli import app

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(toy_data), "--out", str(out), "--epochs", "1", *TINY_TRAIN])
    assert result.exit_code == 0, result.output
    return out


def invoke(*args):
    """Run the CLI in-process with every argument as text; the result keeps stdout and stderr apart."""
    from typer.testing import CliRunner

    from animerec_tui.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def assert_refused(result, fragment: str) -> None:
    """The command refused: exit 2, one ``animerec:`` line on stderr naming ``fragment``, nothing on stdout."""
    assert result.exit_code == 2, (result.exit_code, result.output, repr(result.exception))
    # A UserError ends in typer.Exit; anything else is a crash that CliRunner swallowed.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("animerec: "), result.stderr
    assert fragment in lines[0], lines[0]
    assert result.stdout == ""

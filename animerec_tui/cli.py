"""The ``animerec`` command line: a thin Typer shell over ``training`` and the engine.

Each command imports its heavy modules (numpy, polars, torch, textual) inside its body,
so ``animerec --help`` starts in a blink.
"""

from __future__ import annotations

import functools
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from animerec_tui.errors import UserError

app = typer.Typer(
    name="animerec",
    help="Personalised anime recommendations in your terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _fail(message: str, code: int) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]animerec:[/] {message}", markup=True)
    raise typer.Exit(code)


def user_errors(command: Callable) -> Callable:
    """Turn a ``UserError`` into one line on stderr and its exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            _fail(str(exc).replace("[", "\\["), exc.exit_code)

    return wrapper


class InputFormat(str, Enum):
    auto = "auto"
    cooperunion = "cooperunion"
    caserec = "caserec"
    mal2020 = "mal2020"
    reference = "reference"
    sequence = "sequence"


class Holdout(str, Enum):
    auto = "auto"
    random = "random"
    last = "last"


@app.command()
@user_errors
def preprocess(
    ratings: Annotated[Path, typer.Argument(help="Ratings file (.csv, .dat, .txt, .npy or .parquet).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the splits.", show_default=False)],
    format: Annotated[InputFormat, typer.Option("--format", "-f", help="Input format; auto detects it.")] = InputFormat.auto,
    item_map: Annotated[
        Optional[Path], typer.Option("--item-map", help="CSV mapping the file's item ids to MAL ids (file id, MAL id).")
    ] = None,
    min_rating: Annotated[float, typer.Option(help="Ratings at or above this count as liked.")] = 7,
    min_user_items: Annotated[int, typer.Option(help="k-core: keep users with at least this many liked anime.")] = 10,
    min_item_users: Annotated[int, typer.Option(help="k-core: keep anime liked by at least this many users.")] = 10,
    holdout: Annotated[Holdout, typer.Option(help="Held-out items: random (unordered data) or last (ordered); auto picks.")] = Holdout.auto,
    seed: Annotated[int, typer.Option(help="Seed of the random hold-out.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
) -> None:
    """Turn a ratings file into train/validation/test splits for training and evaluation."""
    from animerec_tui.progress import StepReporter
    from training.preprocess import PreprocessParams, preprocess as run

    params = PreprocessParams(min_rating, min_user_items, min_item_users, holdout.value, seed)
    size = ratings.stat().st_size if ratings.is_file() else 0
    with StepReporter(verbose=size > 50_000_000) as report:
        manifest = run(ratings, out, format.value, item_map, params, force, report)
    _print_summary(manifest, out)


def _print_summary(manifest: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    c = manifest["counts"]
    table = Table(title=f"{out}  ({manifest['format']}, hold-out {c['holdout']})", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in [
        ("rows read", f"{c['rows_read']:,}"),
        ("liked rows", f"{c['rows_liked']:,}"),
        ("users", f"{c['users']:,}"),
        ("items", f"{c['items']:,}"),
        ("interactions", f"{c['interactions']:,}"),
        ("density", f"{c['density']:.4%}"),
        ("median anime per user", f"{c['median_items_per_user']:g}"),
        ("train / val / test", f"{c['train']:,} / {c['val']:,} / {c['test']:,}"),
    ]:
        table.add_row(label, value)
    Console().print(table)


@app.command()
@user_errors
def catalog(
    data: Annotated[Path, typer.Option(help="Folder with the anime metadata sources.")] = Path("../shared/data/anime"),
    out: Annotated[Path, typer.Option(help="Catalogue file to write.")] = Path("Data/catalog.json.gz"),
) -> None:
    """Rebuild the anime catalogue from the metadata sources (see Data/SOURCES.md)."""
    from training.catalog import build_catalog, write_catalog

    entries = build_catalog(data)
    write_catalog(entries, out)
    typer.echo(f"{out}: {len(entries):,} anime")


def _not_built(name: str, issue: int) -> None:
    _fail(f"'animerec {name}' is not built yet (tracked in issue {issue}).", 3)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train() -> None:
    """Train the hybrid BERT4Rec model (not built yet)."""
    _not_built("train", 3)


@app.command(name="eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def evaluate() -> None:
    """Evaluate a trained run with full-ranking metrics (not built yet)."""
    _not_built("eval", 3)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def recommend() -> None:
    """Recommend anime for a list of favourites (not built yet)."""
    _not_built("recommend", 4)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def tui() -> None:
    """Open the terminal app (not built yet)."""
    _not_built("tui", 5)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="animerec")


if __name__ == "__main__":
    sys.exit(main())

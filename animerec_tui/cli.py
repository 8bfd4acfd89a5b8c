"""The ``animerec`` command line: a thin Typer shell over ``training`` and the engine.

Each command imports its heavy modules (numpy, polars, torch, textual) inside its body,
so ``animerec --help`` starts in a blink.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from typer.core import TyperGroup

from animerec_tui.defaults import JOBS_LIMIT, MAL_MIN_SCORE, NEW_SHARE, NOVELTY, RECOMMEND_TOP, THREADS, TOP_LIMIT
from animerec_tui.options import (
    Crop,
    Device,
    Holdout,
    InputFormat,
    Loss,
    MalIds,
    ModelDir,
    OutputFormat,
    Precision,
    Readout,
    Sampler,
    Split,
    Threads,
    Titles,
    TorchThreads,
    config_option,
    number_in,
    printable,
    year_option,
)
from animerec_tui.streams import STDOUT, ReaderGone, guard_streams, os_error_line, silence, silence_stdout
from training.config import ID_DROPOUT, MASK_PROB, PRIOR_WEIGHT, SHIPPED, EvalConfig, PreprocessParams, TrainConfig
from training.errors import UserError
from training.model_config import ModelConfig, defaults_of

# The defaults of every option made from a configuration field: the dataclasses', never restated.
TRAIN, MODEL, PREPROCESS, EVAL = (defaults_of(c) for c in (TrainConfig, ModelConfig, PreprocessParams, EvalConfig))
HOLDOUT, CROP, PRECISION, LOSS = Holdout(PREPROCESS["holdout"]), Crop(TRAIN["crop"]), Precision(TRAIN["precision"]), Loss(TRAIN["loss"])
NEGATIVE_SAMPLER = Sampler(TRAIN["sampler"])
SPLIT, SAMPLER = Split(EVAL["split"]), Sampler(EVAL["sampler"])

# Typer re-exports only BadParameter of click's exceptions (and vendors click from 0.22 on):
# its base class is the one every usage error derives from.
ClickException: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class OneLineErrors(TyperGroup):
    """Usage errors (a bad flag, a value out of range) end as one ``animerec:`` line, like every other error.

    Click would print a usage box of five lines or more; the help is one ``--help`` away.
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # "animerec" alone: the help, as git does
                typer.echo(exc.ctx.get_help())
            else:
                where = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
                _print_error(f"{exc.format_message()}{where}")
            sys.exit(exc.exit_code)
        except typer.Abort:
            _print_error("aborted")
            sys.exit(1)
        except OSError as exc:  # the help, or a usage line, into a full or closed stdout
            if exc.filename != STDOUT:
                raise
            silence_stdout()
            _print_error(os_error_line(exc))
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    name="animerec",
    help=(
        "Personalised anime recommendations in your terminal.\n\n"
        "The ratings the model learnt from end in January 2023: anime from 2023 on are known from their "
        "metadata only (genres, studio, year), so their scores are less sure. 'recommend --new-in-franchises' "
        "lists what continues your favourites."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_error(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    try:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]animerec:[/] {escape(printable(message))}", markup=True)
        sys.stderr.flush()
    except OSError:  # stderr full or closed: the exit code is all that can still say it
        silence(sys.stderr)  # else the flush at exit fails again and turns the code into 120


def _fail(message: str, code: int) -> None:
    _print_error(message)
    raise typer.Exit(code)


def given(ctx: typer.Context, *names: str) -> list[str]:
    """The parameters among ``names`` that were typed on the command line (not left at their default)."""
    return [n for n in names if getattr(ctx.get_parameter_source(n), "name", "") == "COMMANDLINE"]


def refuse_ignored(names: list[str], why: str) -> None:
    """A flag that would be silently ignored is refused instead, with the reason."""
    if names:
        flags = ", ".join("--" + n.replace("_", "-") for n in names)
        raise UserError(f"{flags} {'has' if len(names) == 1 else 'have'} no effect {why}; leave {'it' if len(names) == 1 else 'them'} out")


def user_errors(command: Callable) -> Callable:
    """Turn a ``UserError`` into one line on stderr and its exit code, never a traceback.

    So is an ``OSError`` that names a file (the last line of defence for a name the system
    refuses, a folder where a file should be, stdout on a full disk or closed): exit 2.
    Other exceptions are bugs and keep their traceback. Output still buffered is written
    before the command counts as done, so that a failure to write it is reported here too.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            try:
                return command(*args, **kwargs)
            finally:  # also before an error's line: a full stdout is the first thing to report
                if sys.stdout is not None:
                    sys.stdout.flush()
        except UserError as exc:
            _fail(str(exc), exc.exit_code)
        except BrokenPipeError:
            raise ReaderGone() from None
        except SystemExit as exc:
            # rich's Console.on_broken_pipe ends a table whose reader left (`recommend | head -1`)
            # with SystemExit(1), which would say "partly done": it is the reader that went away.
            if exc.code == 1 and isinstance(exc.__context__, BrokenPipeError):
                raise ReaderGone() from None
            raise
        except OSError as exc:
            if exc.filename is None:
                raise
            if exc.filename == STDOUT:
                silence_stdout()
            _fail(os_error_line(exc), 2)

    return wrapper


@app.command()
@user_errors
def preprocess(
    ratings: Annotated[Path, typer.Argument(help="Ratings file (.csv, .dat, .txt, .npy or .parquet).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the splits.", show_default=False)],
    format: Annotated[InputFormat, typer.Option("--format", "-f", help="Input format; auto detects it.")] = InputFormat.auto,
    item_map: Annotated[
        Optional[Path], typer.Option("--item-map", help="CSV mapping the file's item ids to MAL ids (file id, MAL id).")
    ] = None,
    min_rating: Annotated[float, config_option(PreprocessParams, "min_rating")] = PREPROCESS["min_rating"],
    min_user_items: Annotated[int, config_option(PreprocessParams, "min_user_items")] = PREPROCESS["min_user_items"],
    min_item_users: Annotated[int, config_option(PreprocessParams, "min_item_users")] = PREPROCESS["min_item_users"],
    holdout: Annotated[Holdout, config_option(PreprocessParams, "holdout")] = HOLDOUT,
    seed: Annotated[int, config_option(PreprocessParams, "seed")] = PREPROCESS["seed"],
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
) -> None:
    """Turn a ratings file into train/validation/test splits for training and evaluation."""
    from animerec_tui.progress import StepReporter
    from training.preprocess import preprocess as run

    params = PreprocessParams(min_rating, min_user_items, min_item_users, holdout.value, seed)
    size = ratings.stat().st_size if ratings.is_file() else 0
    with StepReporter(verbose=size > 50_000_000) as report:
        manifest = run(ratings, out, format.value, item_map, params, force, report)
    _print_summary(manifest, out)


def _print_summary(manifest: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    c = manifest["counts"]
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in [
        ("rows read", f"{c['rows_read']:,}"),
        ("liked rows", f"{c['rows_liked']:,}"),
        ("users", f"{c['users']:,}"),
        ("items", f"{c['items']:,}"),
        ("interactions", f"{c['interactions']:,}"),
        ("density", f"{c['density']:.4%}"),
        ("median items per user", f"{c['median_items_per_user']:g}"),
        ("train / val / test", f"{c['train']:,} / {c['val']:,} / {c['test']:,}"),
    ]:
        table.add_row(label, value)
    console = Console(highlight=False)
    console.print(f"{printable(str(out))}  ({manifest['format']}, hold-out {c['holdout']})", markup=False)  # a title would wrap to the table's width
    console.print(table)


@app.command()
@user_errors
def catalog(
    data: Annotated[Path, typer.Option(help="Folder with the anime metadata sources.")] = Path("../shared/data/anime"),
    out: Annotated[Path, typer.Option(help="Catalogue file to write.")] = Path("Data/catalog.json.gz"),
    force: Annotated[bool, typer.Option("--force", help="Replace OUT even if it is no catalogue, or the new one lacks more than 5% of its anime.")] = False,
    report: Annotated[bool, typer.Option("--report", help="Only print, per field and air year, how many anime have it and how many conflicts each rule settled; OUT is not written.")] = False,
) -> None:
    """Rebuild the anime catalogue from the metadata sources (see Data/SOURCES.md)."""
    from training.catalog_build import build_with_report, report_lines, write_catalog
    from training.fsutil import check_output

    if report:  # a look at the build before writing it: OUT is neither read nor written
        entries, settled = build_with_report(data)
        typer.echo("\n".join([f"{printable(str(data))}: {len(entries):,} anime", *report_lines(entries, settled)]))
        return
    check_output(out, "catalog", [data])  # never a file among the sources it reads
    entries, _ = build_with_report(data)
    write_catalog(entries, out, force)
    typer.echo(f"{printable(str(out))}: {len(entries):,} anime")


def _recipe_words() -> str:
    """The shipped recipe as a bare train's --help states it: what differs from the defaults, and the data."""
    kcore = SHIPPED.preprocess
    changed = ", ".join(f"--{name.replace('_', '-')} {value}" for name, value in SHIPPED.train.items())
    return f"{changed}, on ratings of {kcore.min_rating:g} or more in a {kcore.min_user_items}/{kcore.min_item_users} k-core; a flag you give still counts"


@app.command()
@user_errors
def train(
    data: Annotated[Optional[Path], typer.Option("--data", "-d", help=f"Folder made by animerec preprocess [default: the shipped model's training data, trained with the shipped model's recipe: {_recipe_words()}].", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder for checkpoints and charts [default: a new one under the animerec home's runs/; with --resume, the latest].", show_default=False)] = None,
    epochs: Annotated[int, config_option(TrainConfig, "epochs", default_note=f"{TRAIN['epochs']}; without --data, the shipped model's {SHIPPED.train['epochs']}; with --resume, the run's own")] = TRAIN["epochs"],
    batch_size: Annotated[int, config_option(TrainConfig, "batch_size")] = TRAIN["batch_size"],
    lr: Annotated[float, config_option(TrainConfig, "lr")] = TRAIN["lr"],
    hidden: Annotated[int, config_option(ModelConfig, "hidden")] = MODEL["hidden"],
    layers: Annotated[int, config_option(ModelConfig, "layers")] = MODEL["layers"],
    heads: Annotated[int, config_option(ModelConfig, "heads")] = MODEL["heads"],
    max_len: Annotated[int, config_option(ModelConfig, "max_len")] = MODEL["max_len"],
    mask_prob: Annotated[Optional[float], config_option(TrainConfig, "mask_prob", default_note=f"{MASK_PROB['items']:g} for the items readout, {MASK_PROB['mask']:g} for mask")] = None,
    mask_last: Annotated[float, config_option(TrainConfig, "mask_last")] = TRAIN["mask_last"],
    crop: Annotated[Crop, config_option(TrainConfig, "crop")] = CROP,
    loss: Annotated[Loss, config_option(TrainConfig, "loss")] = LOSS,
    negatives: Annotated[int, config_option(TrainConfig, "negatives")] = TRAIN["negatives"],
    sampler: Annotated[Sampler, config_option(TrainConfig, "sampler")] = NEGATIVE_SAMPLER,
    dropout: Annotated[float, config_option(ModelConfig, "dropout")] = MODEL["dropout"],
    weight_decay: Annotated[float, config_option(TrainConfig, "weight_decay")] = TRAIN["weight_decay"],
    warmup: Annotated[float, config_option(TrainConfig, "warmup")] = TRAIN["warmup"],
    average_epochs: Annotated[float, config_option(TrainConfig, "average_epochs", metavar="EPOCHS")] = TRAIN["average_epochs"],
    genres: Annotated[Optional[bool], typer.Option("--genres/--no-genres", help="Hybrid metadata input: genres, studios, type, era, length, popularity [default: on for MAL ids].")] = None,
    catalogue: Annotated[Optional[bool], typer.Option("--catalogue/--no-catalogue", help="Know every catalogue anime, those without ratings from their metadata alone [default: on with --genres].")] = None,
    id_dropout: Annotated[Optional[float], config_option(TrainConfig, "id_dropout", default_note=f"{ID_DROPOUT:g} with --catalogue, else {TRAIN['id_dropout']:g}")] = None,
    prior_weight: Annotated[Optional[float], config_option(TrainConfig, "prior_weight", default_note=f"{PRIOR_WEIGHT:g} with --catalogue, else {TRAIN['prior_weight']:g}")] = None,
    pop_debias: Annotated[float, config_option(TrainConfig, "pop_debias", metavar="BETA")] = TRAIN["pop_debias"],
    positional: Annotated[Optional[bool], typer.Option("--positional/--no-positional", help="Positional embedding [default: on for ordered data].")] = None,
    readout: Annotated[Optional[Readout], typer.Option(help="How scores are read: items (every favourite votes; sets only) or mask (the mask token, classic BERT4Rec) [default: items for sets, mask for ordered data].", show_default=False)] = None,
    val_users: Annotated[int, config_option(TrainConfig, "val_users")] = TRAIN["val_users"],
    device: Annotated[Device, typer.Option(help="Where to train.")] = Device.auto,
    precision: Annotated[Precision, config_option(TrainConfig, "precision")] = PRECISION,
    compile: Annotated[bool, config_option(TrainConfig, "compile", "--compile")] = TRAIN["compile"],
    seed: Annotated[int, config_option(TrainConfig, "seed")] = TRAIN["seed"],
    threads: TorchThreads = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in OUT from its latest checkpoint with its own settings, vocabulary and catalogue (only --epochs, --device, --precision and --compile may change; another value of a setting it records is refused); starts it over when nothing was saved yet.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Start OUT over if it exists.")] = False,
    ctx: typer.Context = None,  # type: ignore[assignment]  # Typer passes it
) -> None:
    """Train the hybrid BERT4Rec model on preprocessed data; Ctrl-C saves a resumable checkpoint.

    Without --data it trains on the shipped model's data with the shipped model's recipe (its settings, as scripts/build_default_model.py trains it).
    """
    from animerec_tui.model_commands import train_command

    if resume and force:
        raise UserError("--resume continues the run in OUT and --force starts it over; pass one of them")
    from animerec_tui.runs import latest_run, new_run_dir, shipped_training_data, trained_on

    if out is None:
        out = latest_run() if resume else new_run_dir()
        if out is None:
            raise UserError("--resume without --out continues the latest run, and there is none yet")
    recipe = data is None and not resume
    if recipe:
        data = shipped_training_data()
        typer.echo(f"training on the shipped model's data ({printable(str(data))}) with its recipe into {printable(str(out))}", err=True)
    elif data is None:  # resuming: the data the run was trained on
        data = trained_on(out) or shipped_training_data()

    values = {
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "hidden": hidden, "layers": layers, "heads": heads, "max_len": max_len, "mask_prob": mask_prob,
        "mask_last": mask_last, "crop": crop.value, "loss": loss.value, "negatives": negatives, "sampler": sampler.value, "dropout": dropout, "weight_decay": weight_decay, "warmup": warmup, "average_epochs": average_epochs, "genres": genres, "catalogue": catalogue,
        "id_dropout": id_dropout, "prior_weight": prior_weight, "pop_debias": pop_debias, "positional": positional, "readout": readout.value if readout else None,
        "val_users": val_users, "precision": precision.value, "compile": compile, "seed": seed,
    }
    # Only what was typed goes on: the rest is the configuration's default (by the data), or the recipe's.
    chosen = {name: values[name] for name in given(ctx, *values)}
    if recipe:
        chosen = {**SHIPPED.train, **chosen}
    settings = [name for name in given(ctx, *values) if name not in ("epochs", "precision", "compile")]  # what a resumed run may not change
    if chosen.get("loss", TRAIN["loss"]) != "sampled" and not resume:
        refuse_ignored(given(ctx, "negatives", "sampler"), "without --loss sampled")
    train_command(data, out, resume=resume, force=force, device=device.value, typed=settings, threads=threads, **chosen)


@app.command(name="eval")
@user_errors
def evaluate(
    run: Annotated[Optional[Path], typer.Option("--run", "-r", help="Run, checkpoint or model folder to evaluate [default: the latest run under the animerec home's runs/, else the shipped model].", show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Option("--data", "-d", help="Preprocessed folder [default: the one the run was trained on; for the shipped model, its training data].")] = None,
    split: Annotated[Split, config_option(EvalConfig, "split")] = SPLIT,
    negatives: Annotated[int, config_option(EvalConfig, "negatives")] = EVAL["negatives"],
    sampler: Annotated[Sampler, config_option(EvalConfig, "sampler")] = SAMPLER,
    baselines: Annotated[Optional[bool], typer.Option("--baselines/--no-baselines", help="Also score the peers (--peers), each tuned on validation, on the same split [default: on without --run].", show_default=False)] = None,
    peers: Annotated[str, config_option(EvalConfig, "peers")] = EVAL["peers"],
    ease_lambda: Annotated[Optional[float], config_option(EvalConfig, "ease_lambda", default_note="chosen on validation")] = EVAL["ease_lambda"],
    seed: Annotated[int, config_option(EvalConfig, "seed")] = EVAL["seed"],
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object on stdout instead of a table.")] = False,
    device: Annotated[Device, typer.Option(help="Where to score.")] = Device.auto,
    threads: TorchThreads = None,
    ctx: typer.Context = None,  # type: ignore[assignment]  # Typer passes it
) -> None:
    """Evaluate a run: full-ranking Recall@K, NDCG@K and MRR (or sampled, with --negatives)."""
    from animerec_tui.model_commands import eval_command
    from animerec_tui.paths import data_dir
    from animerec_tui.runs import latest_run, shipped_training_data

    if baselines is None:
        baselines = run is None
    if run is None:
        run = latest_run()
        if run is None:
            run = data_dir() / "model"
            data = data if data is not None else shipped_training_data()
        typer.echo(f"evaluating {printable(str(run))}", err=True)
    if not baselines:
        refuse_ignored(given(ctx, "peers", "ease_lambda"), "without --baselines")
    if negatives == 0:
        refuse_ignored(given(ctx, "sampler", "seed"), "without --negatives (they choose the sampled negatives)")

    eval_command(
        run, data, split=split.value, negatives=negatives, sampler=sampler.value, baselines=baselines,
        peers=peers, ease_lambda=ease_lambda, seed=seed, json_output=json_output, device=device.value, threads=threads,
    )


@app.command()
@user_errors
def recommend(
    titles: Annotated[Optional[list[str]], typer.Argument(help="Favourite titles (fuzzy); none = your saved favourites.", show_default=False)] = None,
    mal_id: MalIds = None,
    top: Annotated[int, typer.Option("-k", "--top", min=1, max=TOP_LIMIT, help="How many recommendations.")] = RECOMMEND_TOP,
    type_: Annotated[Optional[list[str]], typer.Option("--type", "-t", help="Only these types: TV, Movie, OVA, ONA, Special, Music (repeatable).", show_default=False)] = None,
    hide_sequels: Annotated[bool, typer.Option("--hide-sequels", help="Leave out every entry of your favourites' franchises, and every entry but the first of any franchise.")] = False,
    every_entry: Annotated[bool, typer.Option("--every-entry", help="Show every entry of a franchise as it scores (default: its best-scored one, with how many more it has; in lists past 20, later entries at least 20 places apart).")] = False,
    show_adult: Annotated[bool, typer.Option("--show-adult", help="Include adult titles (hidden by default).")] = False,
    genre: Annotated[Optional[list[str]], typer.Option("--genre", "-g", help="Only anime with one of these genres (repeatable).", show_default=False)] = None,
    exclude_genre: Annotated[Optional[list[str]], typer.Option("--exclude-genre", help="No anime with these genres (repeatable).", show_default=False)] = None,
    exclude: Annotated[Optional[list[int]], typer.Option("--exclude", help="Never recommend this MAL id (repeatable).", show_default=False)] = None,
    year_from: Annotated[Optional[int], year_option("--year-from", "Only anime that started in this year or later; anime of unknown year are then left out.")] = None,
    year_to: Annotated[Optional[int], year_option("--year-to", "Only anime that started in this year or earlier; anime of unknown year are then left out.")] = None,
    novelty: Annotated[float, typer.Option(callback=number_in(0, 1), help="From 0 (what fans of your favourites loved most) to 1 (hidden gems): how much of the model's popularity prior leaves the scores.")] = NOVELTY,
    new_share: Annotated[float, typer.Option(callback=number_in(0, 1), help="At most this share of the results are anime without ratings yet (known from metadata), unless too few rated anime pass the filters; 1 ranks them freely.")] = NEW_SHARE,
    similar: Annotated[Optional[str], typer.Option("--similar", help="List anime like this one title instead.", show_default=False)] = None,
    new_in_franchises: Annotated[bool, typer.Option("--new-in-franchises", help="Instead of recommendations: the new seasons, films and spin-offs of your favourites' franchises, aired from --year-from (default: the year the ratings end) or announced, by air date.")] = False,
    batch: Annotated[Optional[Path], typer.Option("--batch", help="JSONL requests, one per line ('-' = stdin); answers JSONL.", show_default=False)] = None,
    format: Annotated[OutputFormat, typer.Option("--format", help="table, json, markdown (with MAL links) or csv.")] = OutputFormat.table,
    model: ModelDir = None,
    threads: Threads = THREADS,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, max=JOBS_LIMIT, show_default=False, help="With --batch: how many processes answer it, each with --threads threads [default: one per CPU core this process may use, divided by --threads].")] = None,
    ctx: typer.Context = None,  # type: ignore[assignment]  # Typer passes it
) -> None:
    """Recommend anime for favourite titles, for your saved favourites, or for a JSONL batch."""
    from animerec_tui.recommend_command import run_recommend
    from animerec_tui.runs import resolve_model

    if batch is not None and format != OutputFormat.json:  # table, csv and markdown alike
        refuse_ignored(given(ctx, "format"), "with --batch, which always answers JSON lines")
    if batch is None:
        refuse_ignored(given(ctx, "jobs"), "without --batch: one request is answered by one process")
    if new_in_franchises:  # a list of the catalogue's entries, not a ranking: the list's options would do nothing
        refuse_ignored(given(ctx, "top", "hide_sequels", "every_entry", "genre", "exclude_genre", "year_to", "novelty", "new_share", "similar", "batch"), "with --new-in-franchises, which lists every new entry of the favourites' franchises")
        if format in (OutputFormat.markdown, OutputFormat.csv):
            raise UserError(f"--new-in-franchises prints a table or JSON, not {format.value}; use --format table or --format json")

    run_recommend({
        "titles": titles or [], "mal_id": mal_id or [], "top": top, "type": type_ or [], "hide_sequels": hide_sequels,
        "show_adult": show_adult, "genre": genre or [], "exclude_genre": exclude_genre or [], "exclude": exclude or [],
        "year_from": year_from, "year_to": year_to, "novelty": novelty, "every_entry": every_entry, "new_share": new_share, "similar": similar, "batch": batch, "new_in_franchises": new_in_franchises, "format": format.value, "model": resolve_model(model), "threads": threads,
        "jobs": jobs,
    })


favourites_app = typer.Typer(help="Your saved favourites (used when recommend gets no titles).", no_args_is_help=True)
app.add_typer(favourites_app, name="favourites")


@favourites_app.command("list")
@user_errors
def favourites_list(json_output: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False) -> None:
    """Show your favourites."""
    from animerec_tui.favourites_command import list_favourites

    list_favourites(json_output)


@favourites_app.command("add")
@user_errors
def favourites_add(
    titles: Titles = None,
    mal_id: MalIds = None,
) -> None:
    """Add anime to your favourites."""
    from animerec_tui.favourites_command import change_favourites

    change_favourites("add", titles or [], mal_id or [])


@favourites_app.command("remove")
@user_errors
def favourites_remove(
    titles: Titles = None,
    mal_id: MalIds = None,
) -> None:
    """Remove anime from your favourites."""
    from animerec_tui.favourites_command import change_favourites

    change_favourites("remove", titles or [], mal_id or [])


@favourites_app.command("unhide")
@user_errors
def favourites_unhide(
    titles: Annotated[Optional[list[str]], typer.Argument(help="Titles marked not interested.", show_default=False)] = None,
    mal_id: MalIds = None,
) -> None:
    """Undo 'not interested': let these anime be recommended again."""
    from animerec_tui.favourites_command import change_favourites

    change_favourites("unhide", titles or [], mal_id or [])


@favourites_app.command("clear")
@user_errors
def favourites_clear(yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False) -> None:
    """Remove every favourite (asks first)."""
    from animerec_tui.favourites_command import clear_favourites

    clear_favourites(yes)


@app.command("import-mal")
@user_errors
def import_mal(
    export: Annotated[Path, typer.Argument(help="MyAnimeList export (animelist_*.xml or .xml.gz).", show_default=False)],
    min_score: Annotated[int, typer.Option(min=1, max=10, help="Scores at or above this become favourites.")] = MAL_MIN_SCORE,
    include_unscored_completed: Annotated[bool, typer.Option("--include-unscored-completed", help="Also add completed anime you did not score.")] = False,
) -> None:
    """Turn a MyAnimeList list export into favourites."""
    from animerec_tui.favourites_command import import_mal as run

    run(export, min_score, include_unscored_completed)


@app.command()
@user_errors
def tui(
    model: ModelDir = None,
    threads: Threads = THREADS,
) -> None:
    """Open the terminal app: search, favourites and live recommendations."""
    # A folder that cannot be a model is refused here, in a line; a damaged one (which takes
    # torch to tell) is reported inside the app, which is up before the model loads.
    from animerec_tui.paths import home_dir
    from animerec_tui.runs import resolve_model

    home_dir()  # a home that cannot be one is refused here, not inside the app at its first save
    model = resolve_model(model)
    if model is not None and not (model.is_dir() and any((model / name).is_file() for name in ("run.json", "meta.json"))):
        raise UserError(f"{model}: no such run or model folder (a run has run.json, a model meta.json)")
    from animerec_tui.tui.app import run

    run(model, threads)


def main() -> None:
    """Console-script entry point."""
    guard_streams()
    try:
        app(prog_name="animerec")
    except (ReaderGone, BrokenPipeError):
        # The reader went away (`animerec recommend ... | head`): stop quietly with 128 + SIGPIPE, as cat
        # does; what is left in stdout's buffer goes to /dev/null, not to an "Exception ignored" at exit.
        silence_stdout()
        sys.exit(141)


if __name__ == "__main__":
    main()

"""Bodies of ``animerec train`` and ``animerec eval``: wiring plus what they print.

Imported only when one of those commands runs, since it pulls in torch.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from training.errors import UserError
from training.fsutil import atomic_write_bytes, sha256_file

# Measured on the anime data (benchmarks/RESULTS.md section 1): the items readout learns
# best with a quarter of each set masked, the mask token's readout with half.
MASK_PROB = {"items": 0.25, "mask": 0.5}


class TrainProgress:
    """A rich progress bar on stderr: epoch, step, loss, sequences/s and ETA for the whole run."""

    def __init__(self, epochs: int, console: Console, banner: str = "") -> None:
        self.epochs = epochs
        self.console = console
        self.banner = banner
        self.started = False
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}  {task.fields[rate]:,.0f} seq/s"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = None

    def __enter__(self) -> "TrainProgress":
        return self

    def begin(self) -> None:
        """Called once the run's folder and model are settled: errors before it stay one line."""
        if self.banner:
            self.console.print(self.banner)
        self.progress.start()
        self.started = True

    def __exit__(self, *exc) -> None:
        if self.started:  # stopping a display that never started would still print a blank line
            self.progress.stop()

    def step(self, epoch: int, step: int, steps: int, loss: float, rate: float) -> None:
        if self.task is None:
            self.task = self.progress.add_task("train", total=steps * self.epochs, completed=epoch * steps + step - 1, epoch=epoch + 1, epochs=self.epochs, loss=loss, rate=rate)
        self.progress.update(self.task, completed=epoch * steps + step, epoch=epoch + 1, loss=loss, rate=rate)

    def epoch_done(self, record: dict, improved: bool) -> None:
        mark = "[green]★ best[/]" if improved else ""
        self.console.print(
            f"epoch {record['epoch']:>3}  loss {record['loss']:.4f}  val NDCG@10 {record['val_ndcg@10']:.4f}  "
            f"Recall@10 {record['val_recall@10']:.4f}  {record['seconds']:.0f} s {mark}"
        )


def train_command(opts: dict) -> None:
    """Load the data, build or resume the model, train, and print the curves."""
    from training import distributed
    from training.data import load_dataset
    from training.train import pick_device

    data = load_dataset(opts["data"])
    context, device = distributed.setup(pick_device(opts["device"].value))
    try:
        _train(opts, data, context, device)
    except BrokenPipeError:
        raise  # the reader of stdout went away; main() ends quietly
    except OSError as exc:  # a write the training code did not expect to fail
        where = f"{exc.filename}: " if exc.filename else ""
        raise UserError(f"training stopped: {where}{exc.strerror or exc}") from None
    finally:
        distributed.teardown(context)


def _train(opts: dict, data, context, device: str) -> None:
    from animerec_tui.catalog import load_catalog
    from training.charts import training_chart
    from training.genres import genre_table
    from training.model import ModelConfig
    from training.train import TrainConfig, train

    mal_ids = data.manifest.get("item_id_space") == "mal"
    use_genres = mal_ids if opts["genres"] is None else opts["genres"]
    if use_genres and not mal_ids:
        raise UserError("--genres needs anime data with MAL ids (this data has raw item ids); use --no-genres")
    names, table = genre_table(data.item_ids, load_catalog()) if use_genres else ([], None)
    positional = data.ordered if opts["positional"] is None else opts["positional"]
    model_config = ModelConfig(
        num_items=data.num_items,
        max_len=opts["max_len"],
        hidden=opts["hidden"],
        layers=opts["layers"],
        heads=opts["heads"],
        dropout=opts["dropout"],
        positional=positional,
        genres=use_genres,
        num_genres=len(names),
        genres_per_item=0 if table is None else table.shape[1],
        readout=opts["readout"].value if opts["readout"] else ("mask" if positional else "items"),
    )
    if model_config.hidden % model_config.heads:
        raise UserError(f"--hidden {model_config.hidden} must be divisible by --heads {model_config.heads}")
    if model_config.readout == "items" and positional:
        raise UserError("--readout items reads a set; it cannot go with the positional embedding (use --readout mask)")
    config = TrainConfig(
        epochs=opts["epochs"], batch_size=opts["batch_size"], lr=opts["lr"], weight_decay=opts["weight_decay"],
        warmup=opts["warmup"], mask_prob=MASK_PROB[model_config.readout] if opts["mask_prob"] is None else opts["mask_prob"], mask_last=opts["mask_last"], crop=opts["crop"].value, seed=opts["seed"], val_users=opts["val_users"], compile=opts["compile"], precision=opts["precision"].value,
    )
    err = Console(stderr=True, highlight=False, quiet=not context.main)
    ranks = f" x {context.world} processes" if context.enabled else ""
    banner = f"training on {device}{ranks}: {data.num_users:,} users, {data.num_items:,} items, genres {'on' if use_genres else 'off'}, positional {'on' if model_config.positional else 'off'}"
    started = time.perf_counter()
    with TrainProgress(config.epochs, err, banner) as progress:
        summary = train(data, opts["out"], model_config, config, device, table, names, opts["resume"], opts["force"], progress, context=context)
    run = Path(opts["out"])
    if not context.main:
        return
    if summary["interrupted"]:
        err.print(f"interrupted: saved a resumable checkpoint in {run}; continue with --resume")
        raise SystemExit(130)
    chart = training_chart(summary["history"])
    try:
        atomic_write_bytes(run / "training_chart.txt", (chart + "\n").encode())
        atomic_write_bytes(run / "history.json", (json.dumps(summary["history"], indent=1) + "\n").encode())
    except UserError as exc:
        raise UserError(f"{exc} (the checkpoints in {run} are complete)") from None
    print(chart)
    best = summary["best"]
    Console(highlight=False).print(
        f"best epoch {best['epoch']}: val NDCG@10 {best['ndcg@10']:.4f}; {time.perf_counter() - started:.0f} s on {device}; run in {run}"
    )


def eval_command(opts: dict) -> None:
    """Score the run (and optionally the baselines) and print a table, bars, or JSON."""
    from training.charts import metrics_bars
    from training.checkpoint import check_vocab, load_model
    from training.data import load_dataset
    from training.evaluate import ease_scorer, evaluate, popularity_scorer
    from training.scoring import model_scorer
    from training.train import pick_device

    device = pick_device(opts["device"].value)
    model, meta = load_model(opts["run"], device)
    saved = meta.get("data", {}).get("path")  # a random or hand-made model names no data
    if not opts["data"] and not saved:
        raise UserError(f"{opts['run']} does not say what data it was trained on; name it with --data")
    folder = opts["data"] or Path(saved)
    if not opts["data"] and not folder.is_dir():
        raise UserError(f"the run's data folder {folder} is gone; name one with --data")
    data = load_dataset(folder)
    check_vocab(meta, data.item_ids, f"the data in {folder}")
    split, kwargs = opts["split"].value, {"negatives": opts["negatives"], "sampler": opts["sampler"].value, "seed": opts["seed"]}
    results = {"bert4rec": evaluate(model_scorer(model, data.ordered, device), data, split, **kwargs)}
    if opts["baselines"]:
        if data.num_items > 20_000:
            raise UserError(f"EASE needs a {data.num_items:,}² matrix inverse; run --baselines on data with at most 20,000 items")
        results["popularity"] = evaluate(popularity_scorer(data, split), data, split, **kwargs)
        results["ease"] = evaluate(ease_scorer(data, split, opts["ease_lambda"]), data, split, **kwargs)
    first = results["bert4rec"]
    document = {
        "protocol": first["protocol"],
        "split": split,
        "users": first["users"],
        "run": str(opts["run"]),
        "data_manifest_sha256": sha256_file(Path(folder) / "manifest.json"),
        "ease_lambda": opts["ease_lambda"] if opts["baselines"] else None,
        "models": {name: r["metrics"] for name, r in results.items()},
    }
    if opts["json_output"]:
        sys.stdout.write(json.dumps(document, indent=1) + "\n")
        return
    _print_eval(document, metrics_bars)


def _print_eval(document: dict, bars) -> None:
    console = Console(highlight=False)
    models = document["models"]
    console.print(f"[bold]{document['split']} split[/], {document['users']:,} users, [bold]{document['protocol']}[/]")
    table = Table()
    table.add_column("metric")
    for name in models:
        table.add_column(name, justify="right")
    for key in next(iter(models.values())):
        values = [models[n][key] for n in models]
        best = max(values)
        label = key.replace("ndcg", "NDCG").replace("recall", "Recall").replace("mrr", "MRR")
        table.add_row(label, *[f"[bold]{v:.4f}[/]" if v == best and len(values) > 1 else f"{v:.4f}" for v in values])
    console.print(table)
    console.print(bars(models), markup=False)

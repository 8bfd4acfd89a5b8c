"""Bodies of ``animerec train`` and ``animerec eval``: wiring plus what they print.

Imported only when one of those commands runs, since it pulls in torch.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from animerec_tui.options import printable
from animerec_tui.progress import CountProgress, ProgressLines
from training.errors import UserError
from training.fsutil import sha256_file


class TrainProgress:
    """Training's progress on stderr: where the terminal redraws, a rich bar (epoch, step, loss,
    sequences/s, ETA for the whole run) and a second one while an epoch validates; in a pipe,
    a log or ``TERM=dumb``, plain lines (``ProgressLines``) for each epoch's steps and its validation."""

    def __init__(self, epochs: int, console: Console, banner: str = "") -> None:
        self.epochs = epochs
        self.console = console
        self.banner = banner
        self.started = False
        self.redraws = console.is_interactive  # a terminal, and not TERM=dumb
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task: TaskID | None = None
        self.validating: TaskID | None = None
        self.lines = ProgressLines(lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True))
        self.phase: tuple[int, str] | None = None
        """The epoch and phase the plain lines follow."""

    def __enter__(self) -> "TrainProgress":
        return self

    def begin(self) -> None:
        """Called once the run's folder and model are settled: errors before it stay one line."""
        if self.banner:
            self.console.print(self.banner, soft_wrap=True)  # a log's line is one line, whatever its width
        if self.redraws:
            self.progress.start()
            self.started = True

    def note(self, text: str) -> None:
        """A line for the user above the progress bar (training goes on)."""
        self.console.print(text, markup=False)

    def __exit__(self, *exc) -> None:
        if self.started:  # stopping a display that never started would still print a blank line
            self.progress.stop()

    def step(self, epoch: int, step: int, steps: int, loss: float, rate: float) -> None:
        if not self.redraws:
            if self.phase != (epoch, "train"):
                self.phase = (epoch, "train")
                self.lines.start(f"epoch {epoch + 1}/{self.epochs} training", steps, "steps", done=step - 1)
            self.lines.update(step, f"loss {loss:.3f}, {rate:,.0f} seq/s")
            return
        description, detail = f"epoch {epoch + 1}/{self.epochs}", f"loss {loss:.3f}  {rate:,.0f} seq/s"
        if self.task is None:
            self.task = self.progress.add_task(description, total=steps * self.epochs, completed=epoch * steps + step - 1, detail=detail)
        self.progress.update(self.task, description=description, completed=epoch * steps + step, detail=detail)

    def validation(self, epoch: int, done: int, total: int) -> None:
        """The epoch's validation: ``done`` of ``total`` users ranked over the whole catalogue."""
        if not self.redraws:
            if self.phase != (epoch, "val"):
                self.phase = (epoch, "val")
                self.lines.start(f"epoch {epoch + 1}/{self.epochs} validation", total, "users", done=done)
            else:
                self.lines.update(done)
            return
        if self.validating is None:
            self.validating = self.progress.add_task(f"epoch {epoch + 1} validation", total=total, completed=done, detail="users")
        self.progress.update(self.validating, completed=done)
        if done >= total:
            self.progress.remove_task(self.validating)
            self.validating = None

    def epoch_done(self, record: dict, improved: bool) -> None:
        mark = "[green]★ best[/]" if improved else ""
        loss = "   —  " if record["loss"] is None else f"{record['loss']:.4f}"  # an epoch resumed at its last step
        spent = f"{record['seconds']:.0f} s" + (f" (validation {record['val_seconds']:.0f} s)" if "val_seconds" in record else "")
        self.console.print(
            f"epoch {record['epoch']:>3}  loss {loss}  val NDCG@10 {record['val_ndcg@10']:.4f}  "
            f"Recall@10 {record['val_recall@10']:.4f}  {spent} {mark}",
            soft_wrap=True,
        )


def use_threads(threads: int | None) -> int:
    """Set torch's intra-op threads for the command: ``--threads`` when given, else
    ``training.config.THREADS`` unless the user set ``OMP_NUM_THREADS`` (then torch's own count,
    which follows it, stays). Returns the threads the scoring of a split may use (``scoring_threads``)."""
    import os

    import torch

    from training.config import THREADS

    if threads is None and os.environ.get("OMP_NUM_THREADS"):
        return 1  # scoring_threads keeps the user's OMP_NUM_THREADS
    torch.set_num_threads(THREADS if threads is None else threads)
    return threads or THREADS


def train_command(data_folder: Path, out: Path, *, resume: bool, force: bool, device: str, typed: tuple[str, ...] | list[str] = (), threads: int | None = None,
                  **choices) -> None:
    """Load the data, build or resume the model, train, and print the curves.

    ``choices`` are the user's settings for ``training.config.resolve_config`` (those left
    out, or None: the data's default); an unknown one is a programming error there, not
    silently dropped. Resuming without ``epochs`` trains to the run's own last epoch.
    ``typed`` names the settings typed on the command line: with ``--resume`` one that
    differs from the run's own is refused rather than silently ignored. ``threads``: ``use_threads``.
    """
    from training import distributed
    from training.data import load_dataset
    from training.device import pick_device

    scoring = use_threads(threads)
    data = load_dataset(data_folder)
    context, device = distributed.setup(pick_device(device))
    finished = False
    try:
        report = _train(data, Path(out), resume, force, choices, typed, context, device, scoring)
        finished = True
    except BrokenPipeError:
        raise  # the reader of stdout went away; main() ends quietly
    except OSError as exc:  # a write the training code did not expect to fail
        where = f"{exc.filename}: " if exc.filename else ""
        raise UserError(f"training stopped: {where}{exc.strerror or exc}") from None
    finally:
        distributed.teardown(context, together=finished)
    report()


def _train(data, run: Path, resume: bool, force: bool, choices: dict, typed, context, device: str, scoring: int) -> Callable[[], None]:
    from animerec_tui.catalog import load_catalog
    from training.config import resolve_config
    from training.model_config import Range
    from training.train import train

    saved = _saved_settings(run) if resume else None
    if saved is not None and "epochs" not in choices and Range(1, whole=True).holds(saved[1].get("epochs")):
        choices = {**choices, "epochs": saved[1]["epochs"]}  # a resumed run trains to its own end unless told another
    resolved = resolve_config(data, load_catalog, **choices)
    model_config, config = resolved.model, resolved.train
    if saved is not None and typed:
        _refuse_changed_settings(saved, typed, {**model_config.to_dict(), **asdict(config), "catalogue": model_config.meta_bias})
    shown = model_config.to_dict() if saved is None else saved[0]  # a resumed run is its own model, whatever the catalogue is now
    err = Console(stderr=True, highlight=False, quiet=not context.main)
    ranks = f" x {context.world} processes" if context.enabled else ""
    extra = shown.get("num_items", data.num_items) - data.num_items
    known = f" (+{extra:,} known from metadata only)" if extra > 0 else ""
    banner = f"training on {device}{ranks}: {data.num_users:,} users, {data.num_items:,} items{known}, genres {'on' if shown.get('genres') else 'off'}, positional {'on' if shown.get('positional') else 'off'}"
    started = time.perf_counter()
    with TrainProgress(config.epochs, err, banner) as progress:
        summary = train(data, run, model_config, config, device, resolved.item_genres, resolved.genre_names, resume, force, progress, context=context, item_ids=resolved.item_ids, prior_items=resolved.prior_items,
                        validation_threads=scoring)

    def report() -> None:
        """What rank 0 prints once every process has left the process group."""
        if not context.main:
            return
        if summary["interrupted"]:
            err.print(f"interrupted: saved a resumable checkpoint in {printable(str(run))}; continue with --resume", markup=False)
            raise SystemExit(128 + summary["signal"] if summary["signal"] else 130)
        print((run / "training_chart.txt").read_text(), end="")
        best = summary["best"]
        Console(highlight=False).print(
            f"best epoch {best['epoch']}: val NDCG@10 {best['ndcg@10']:.4f}; {time.perf_counter() - started:.0f} s on {device}; run in {printable(str(run))}",
            markup=False,  # a folder named "[red]x" is a name, not markup
            soft_wrap=True,  # one line in a log, however long the run's path
        )

    return report


def _saved_settings(run: Path) -> tuple[dict, dict] | None:
    """The model and training configurations of the checkpoint a resume of ``run`` starts from
    (run.json's, or the newest complete one without it); None when there is none, or when it
    is damaged in a way ``train`` itself reports."""
    from training.checkpoint import read_meta
    from training.run_folder import RunFolder

    try:
        start = RunFolder(run).resume_point()
        meta = read_meta(start) if start is not None else {}
    except UserError:
        return None
    model_config, train_config = meta.get("model_config"), meta.get("train_config")
    if not isinstance(model_config, dict) or not isinstance(train_config, dict):
        return None
    return model_config, train_config


def _refuse_changed_settings(saved: tuple[dict, dict], typed, wanted: dict) -> None:
    """A resumed run keeps its own settings: refuse a typed one that differs (the same value is fine)."""
    own = {**saved[0], **saved[1], "catalogue": saved[0].get("meta_bias")}  # --catalogue is what gave the model its metadata bias
    changed = [f"--{name.replace('_', '-')} {wanted[name]!r} (the run has {own[name]!r})" for name in typed if name in own and own[name] != wanted[name]]
    if changed:
        raise UserError(f"a resumed run keeps its own settings, and only --epochs, --device, --precision and --compile may change: leave out {', '.join(changed)}")


def eval_command(
    run: Path, data_folder: Path | None, *, split: str, negatives: int, sampler: str, baselines: bool,
    peers: str, ease_lambda: float | None, seed: int, json_output: bool, device: str, threads: int | None = None,
) -> None:
    """Score the run (and optionally its peers, each tuned on validation) and print a table, bars, or JSON.

    ``threads``: ``use_threads``."""
    from training.charts import metrics_bars
    from training.checkpoint import check_split, check_vocab, load_model, resolve_model_dir
    from training.data import load_dataset
    from training.device import pick_device
    from training.evaluate import evaluate
    from training.peers import PEERS, compare, describe, parse_peers
    from training.scoring import model_scorer
    from training.train import scoring_threads

    scoring = use_threads(threads)
    names = parse_peers(peers) if baselines else []
    if ease_lambda is not None and baselines and "ease" not in names:
        raise UserError("--ease-lambda fixes EASE's lambda; add ease to --peers, or leave it out")
    device = pick_device(device)
    model, meta = load_model(run, device)
    saved = meta.get("data", {}).get("path")  # a random or hand-made model names no data
    if not data_folder and not saved:
        raise UserError(f"{run} does not say what data it was trained on; name it with --data")
    folder = data_folder or Path(saved)
    gone = f"the run's data folder {folder} is gone; name one with --data"
    shipped = not data_folder and not folder.is_dir()
    if shipped:  # the shipped model names the folder it was built in; the install carries the same data
        from animerec_tui.runs import shipped_training_data

        try:
            folder = shipped_training_data()
        except UserError:
            raise UserError(gone) from None
    data = load_dataset(folder)
    try:
        check_vocab(meta, data.item_ids, f"the data in {folder}")
        check_split(meta, data, "evaluate it on the data it was trained on")
    except UserError:
        if shipped:  # not the data it was trained on: say what is missing, not why another folder does not fit
            raise UserError(gone) from None
        raise
    if shipped:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"the run's data folder {saved} is gone; evaluating on the shipped training data, the same split ({folder})")
    kwargs: dict[str, Any] = {"negatives": negatives, "sampler": sampler, "seed": seed}
    err = Console(stderr=True, highlight=False)
    scorer = model_scorer(model, data.ordered, device, columns=data.num_items)
    with CountProgress(err, f"ranking the {split} split", "users") as progress, scoring_threads(scoring):
        results = {"bert4rec": evaluate(scorer, data, split, progress=progress, **kwargs)}
    for name in names:
        grid = [{"lam": ease_lambda}] if name == "ease" and ease_lambda is not None else None
        started = time.perf_counter()
        with CountProgress(err, f"tuning {name} on validation", "settings") as tuning:
            points = len(PEERS[name].grid if grid is None else grid)
            tuning(0, points)
            follow = _tuned(tuning, points)
            results[name] = compare(PEERS[name], data, split, grid, progress=follow, **kwargs)
        err.print(f"{name}: chose {describe(results[name]['chosen'])} on validation NDCG@10 in {time.perf_counter() - started:.0f} s", markup=False)
    first = results["bert4rec"]
    document = {
        "protocol": first["protocol"],
        "split": split,
        "users": first["users"],
        "run": str(run),
        "checkpoint": str(resolve_model_dir(run)),
        "data_manifest_sha256": sha256_file(Path(folder) / "manifest.json"),
        "models": {name: r["metrics"] for name, r in results.items()},
        "standard_errors": {name: r["standard_errors"] for name, r in results.items()},
        "chosen": {name: results[name]["chosen"] for name in names},
        "tuning": {name: results[name]["tuning"] for name in names},
    }
    _save_evaluation(run, document, err)
    if json_output:
        sys.stdout.write(json.dumps(document, indent=1) + "\n")
        return
    _print_eval(document, metrics_bars, describe)


def _tuned(tuning: CountProgress, points: int) -> Callable[[str], None]:
    """``peers.tune``'s callback (a line per grid point tried) as a count of the grid's points."""
    done = 0

    def follow(line: str) -> None:
        nonlocal done
        done += 1
        tuning(done, points, line)

    return follow


def _save_evaluation(run: Path, document: dict, err: Console) -> None:
    """Keep the evaluation (``runs.evaluation_file``), written atomically; say where on stderr, or why not.

    It took minutes to compute, so a file that cannot be written costs a line, not the results."""
    from animerec_tui.runs import evaluation_file
    from training.fsutil import atomic_write_bytes

    try:
        path, why_not = evaluation_file(run)  # the shipped model's goes under the home, which may be refused
    except UserError as exc:
        path, why_not = None, str(exc)
    if path is None:
        err.print(f"the results are not saved: {why_not}", markup=False, soft_wrap=True)
        return
    try:
        atomic_write_bytes(path, (json.dumps({**document, "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=1) + "\n").encode())
    except UserError as exc:
        err.print(f"the results are not saved: {exc}", markup=False, soft_wrap=True)
        return
    err.print(f"saved the results in {printable(str(path))}", markup=False, soft_wrap=True)


def _print_eval(document: dict, bars, describe) -> None:
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
        if key == "ndcg@10":  # the metric the peers are tuned by: its standard error says which gaps are noise
            table.add_row("  ± SE", *[f"{document['standard_errors'][n].get(key, float('nan')):.4f}" for n in models])
    console.print(table)
    for name, params in document["chosen"].items():
        console.print(f"{name}: {describe(params)} (chosen on validation NDCG@10)", markup=False)
    console.print(bars(models), markup=False)

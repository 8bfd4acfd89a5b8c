"""The training loop: cloze objective, AdamW with warm-up and cosine decay, resumable.

``train()`` reads top to bottom: where the run starts (new, or resumed from a checkpoint),
the schedule, then epochs of steps, each epoch ending in validation and a checkpoint. The
run folder's lifecycle (what ``--force`` may replace, what a failure removes) is
``run_folder.RunFolder``; the configuration comes from ``config.resolve_config``.

Every random draw is seeded by (seed, epoch, step), so a run resumed from any checkpoint,
even one saved mid-epoch by Ctrl-C, continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import math
import os
import signal
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from training import distributed
from training.averaging import WeightAverage
from training.checkpoint import (
    AVERAGING_KEY,
    SPLIT_FIELDS,
    STATE_FILE,
    STATE_META_FILE,
    WEIGHT_BOUND,
    check_split,
    check_vocab,
    checkpoint_meta,
    load_model,
    load_optimizer_state,
    read_meta,
    split_hash,
)
from training.config import TrainConfig, saved_train_config
from training.data import BatchBuilder, Dataset, length_bucketed, mask_tokens
from training.device import check_fits, mixed_precision
from training.errors import UserError
from training.evaluate import evaluate
from training.genres import token_weights
from training.model import BERT4Rec, ModelConfig, popularity_adjustment
from training.run_folder import RunFolder
from training.sampled_loss import sample_negatives
from training.scoring import model_scorer, score_users


@dataclass
class Start:
    """Where a run begins: its model, optimizer, settings and progress so far."""

    model: BERT4Rec
    optimizer: torch.optim.AdamW
    config: TrainConfig
    genre_names: list[str]
    item_ids: np.ndarray
    prior_items: np.ndarray | None
    """The anime the prior loss weighs (over ``item_ids``), or None: the run's own, kept in its checkpoints."""
    epoch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"epoch": None, "ndcg@10": -1.0, "name": None})
    averaging: dict[str, torch.Tensor] | None = None
    """A resumed run's weight average (its sums and live weights, ``WeightAverage.state``); None for a new run."""


def _new_run(data: Dataset, model_config: ModelConfig, config: TrainConfig, device: str, item_genres: np.ndarray | None, genre_names: list[str],
             item_ids: np.ndarray, prior_items: np.ndarray | None) -> Start:
    """A fresh model whose output bias starts at each rated item's log popularity."""
    if prior_items is not None and prior_items.shape != (model_config.num_items,):
        raise ValueError(f"prior_items has shape {prior_items.shape}; the model knows {model_config.num_items} items")
    torch.manual_seed(config.seed)
    genres = torch.from_numpy(item_genres) if item_genres is not None and model_config.genres else None
    weights = None
    if genres is not None and model_config.pooling == "fields":
        weights = torch.from_numpy(token_weights(genre_names, item_genres))  # type: ignore[arg-type]  # not None here
    model = BERT4Rec(model_config, genres, weights)
    with torch.no_grad():
        counts = np.bincount(data.splits["train"][1], minlength=data.num_items + 1)[1:]
        log_pop = np.log1p(counts)
        model.out_bias[: data.num_items].copy_(torch.from_numpy(log_pop - log_pop.mean()).float())
    model = model.to(device)
    prior = np.asarray(prior_items, dtype=bool) if prior_items is not None and config.prior_weight else None
    return Start(model, make_optimizer(model, config, device), config, genre_names, item_ids, prior)


def _resumed_run(folder: Path, data: Dataset, config: TrainConfig, device: str, item_ids: np.ndarray, prior_items: np.ndarray | None) -> Start:
    """A checkpoint's model, optimizer and progress; the run keeps its own settings but the epochs.

    Everything the catalogue decided when the run began is the run's own too: its vocabulary,
    metadata table and genre names (in the weights and meta.json) and the anime its prior
    loss weighs (``PRIOR_KEY``), so a catalogue updated since changes nothing. ``item_ids``
    and ``prior_items`` (today's catalogue's) stand in only for a run saved before the prior
    was recorded, and only when they are the run's own vocabulary.
    """
    meta = read_meta(folder)
    check_vocab(meta, data.item_ids, f"the data in {data.folder}")
    check_split(meta, data, "resume with the data it was trained on")
    config = saved_train_config(meta, folder, epochs=config.epochs, compile=config.compile, precision=config.precision)
    model, _ = load_model(folder, device)
    model.train()
    optimizer = make_optimizer(model, config, device)
    state = load_optimizer_state(folder, optimizer, device)
    if state["epoch"] >= config.epochs:
        raise UserError(f"{folder.parent.parent} has already trained {state['epoch']} epochs; pass a larger --epochs to go on")
    own_ids = np.asarray(meta["vocab"]["item_ids"], dtype=np.int64)
    if PRIOR_KEY in meta:
        prior = _recorded_prior(meta[PRIOR_KEY], folder, own_ids.size)
    elif not config.prior_weight:
        prior = None
    elif prior_items is not None and np.array_equal(item_ids, own_ids):
        prior = np.asarray(prior_items, dtype=bool)  # a run saved before the prior was recorded, over the same anime
    else:
        raise UserError(
            f"{folder / 'meta.json'}: the run does not record which anime its prior loss weighs (an older animerec saved it), "
            f"and the catalogue has changed since it began ({own_ids.size:,} anime then, {item_ids.size:,} now); "
            "it cannot be resumed exactly: start it over with --force"
        )
    averaging = state.get(AVERAGING_KEY)
    if bool(config.average_epochs) != (averaging is not None):
        has = "has no" if averaging is None else "has a"
        raise UserError(f"{folder / STATE_FILE}: the run averages its weights (--average-epochs {config.average_epochs:g}) but its state {has} weight average"
                        if config.average_epochs else f"{folder / STATE_FILE}: the run does not average its weights, but its state {has} weight average; it is damaged and cannot be resumed")
    return Start(model, optimizer, config, meta.get("genres", []), own_ids, prior, state["epoch"], state["step_in_epoch"], state["history"], state["best"], averaging)


PRIOR_KEY = "prior_left_out"
"""meta.json's record of the prior loss: the vocabulary positions (from 0) it leaves out, or
null when the run has no prior loss. Usually a short list: the unrated anime newer than the data."""


def _prior_record(prior: np.ndarray | None) -> list[int] | None:
    return None if prior is None else np.flatnonzero(~prior).tolist()


def _recorded_prior(record, folder: Path, size: int) -> np.ndarray | None:
    """The prior mask a checkpoint recorded (``PRIOR_KEY``), checked: a damaged one is one line."""
    if record is None:
        return None
    ok = isinstance(record, list) and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < size for i in record)
    if not ok:
        raise UserError(f"{folder / 'meta.json'}: {PRIOR_KEY} is not a list of vocabulary positions from 0 to {size - 1}; the run is damaged and cannot be resumed")
    mask = np.ones(size, dtype=bool)
    mask[np.asarray(record, dtype=np.int64)] = False
    return mask


def _step_seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint64)[0] >> 1)


def lr_factor(step: int, total: int, warmup_steps: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0.1."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total - warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: BERT4Rec, config: TrainConfig, device: str) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98), fused=device == "cuda")


def validation_users(data: Dataset, limit: int, seed: int) -> Dataset:
    """The dataset with at most ``limit`` validation users (a seeded sample), for per-epoch checks."""
    offsets, items = data.splits["val"]
    users = np.flatnonzero(np.diff(offsets) > 0)
    if users.size <= limit:
        return data
    keep = np.zeros(offsets.size - 1, dtype=bool)
    keep[np.random.default_rng(seed).choice(users, size=limit, replace=False)] = True
    counts = np.where(keep, np.diff(offsets), 0)
    new_offsets = np.concatenate([[0], np.cumsum(counts)])
    sub = Dataset(data.folder, data.manifest, dict(data.splits), data.item_ids)
    sub.splits["val"] = (new_offsets, items[np.repeat(keep, np.diff(offsets))])
    return sub


# Ctrl-C, `kill`, and the hang-up an SSH session sends when its connection drops.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class _Interrupt:
    """A stop signal sets a flag; the loop saves a resumable checkpoint at the next step and stops.

    A second Ctrl-C while that happens stops at once (the last complete checkpoint stays).
    """

    def __init__(self) -> None:
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def __enter__(self):
        # A signal the process was told to ignore stays ignored: `nohup animerec train` must
        # go on when the SSH session that started it hangs up.
        watched = [number for number in STOP_SIGNALS if signal.getsignal(number) is not signal.SIG_IGN]
        self._previous = {number: signal.signal(number, self._handle) for number in watched}
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)


def model_is_finite(model: BERT4Rec, data: Dataset, device: str, probe_users: int = 64) -> bool:
    """True when no weight, and no score of the first ``probe_users`` users, is NaN or infinite,
    and no weight is past ``WEIGHT_BOUND`` (loading would refuse the checkpoint).

    Weights can stay finite and still be useless: after a step with a huge learning rate
    they sit near 1e30 and every score overflows. The probe runs in eval mode (no dropout),
    so it draws no random numbers and an exact resume stays exact.
    """
    with torch.no_grad():  # a weight past the bound loading refuses is as broken as NaN
        if not all(float(p.abs().max()) <= WEIGHT_BOUND for p in model.parameters() if p.numel()):  # False for NaN and inf too
            return False
    offsets, items = data.splits["train"]
    users = np.flatnonzero(np.diff(offsets) > 0)[:probe_users]
    was_training = model.training
    model.eval()
    try:
        return bool(torch.isfinite(score_users(model, offsets, items, users, data.ordered, device)).all())
    finally:
        model.train(was_training)


def _data_section(data: Dataset) -> dict:
    """What a checkpoint records of the data it was trained on."""
    manifest = data.manifest
    return {"path": str(data.folder.resolve()), **{key: manifest[key] for key in SPLIT_FIELDS}, "splits_sha256": split_hash(data)}


def _objective(model: BERT4Rec, context: distributed.Context, device: str, compile: bool) -> Callable[..., torch.Tensor]:
    objective = distributed.wrap(model, context, device)
    # Batches differ in length, so let the compiler treat the sequence length as dynamic.
    return torch.compile(objective, dynamic=True) if compile else objective


def train(
    data: Dataset,
    run: Path,
    model_config: ModelConfig,
    config: TrainConfig,
    device: str = "cpu",
    item_genres: np.ndarray | None = None,
    genre_names: list[str] | None = None,
    resume: bool = False,
    force: bool = False,
    progress=None,
    stop_after: Callable[[int], bool] | None = None,
    context: distributed.Context = distributed.Context(),
    item_ids: np.ndarray | None = None,
    prior_items: np.ndarray | None = None,
    validation_threads: int = 1,
) -> dict:
    """Train (or resume) a run; return a summary with the history and the best epoch.

    ``progress`` (optional) gets ``begin()``, ``note(text)``, ``step(...)``,
    ``validation(epoch, users done, users)`` (if it has one: from 0 before the first user, then
    after each batch) and ``epoch_done(record, improved)``. Under torchrun (``context.enabled``) each rank trains
    on its share of every epoch's batches; only rank 0 validates, reports progress and
    writes checkpoints. ``item_ids``: the model's vocabulary when it knows more anime than the
    data rates (``RunConfig.item_ids``); default the data's items. ``prior_items``: the anime
    the prior loss weighs (``RunConfig.prior_items``; with ``config.prior_weight``).
    ``validation_threads``: at most this many torch threads score the validation (``scoring_threads``).
    """
    item_ids = data.item_ids if item_ids is None else item_ids
    with RunFolder(run, context.main) as folder:  # one command at a time writes a run
        return _run(folder, data, model_config, config, device, item_genres, genre_names, item_ids, prior_items, resume, force, progress, stop_after, context,
                    validation_threads)


def _run(folder: RunFolder, data: Dataset, model_config: ModelConfig, config: TrainConfig, device: str, item_genres: np.ndarray | None,
         genre_names: list[str] | None, item_ids: np.ndarray, prior_items: np.ndarray | None, resume: bool, force: bool, progress, stop_after: Callable[[int], bool] | None, context: distributed.Context,
         validation_threads: int = 1) -> dict:
    # --- where the run starts
    resume_from = folder.prepare(data.folder, resume, force, sync=lambda: distributed.barrier(context))
    if resume_from is None:
        check_fits(model_config, min(config.batch_size, data.num_users), device)  # a batch is never larger than the users
        start = _new_run(data, model_config, config, device, item_genres, genre_names or [], item_ids, prior_items)
    else:
        start = _resumed_run(resume_from, data, config, device, item_ids, prior_items)
    model, optimizer, config, history, best = start.model, start.optimizer, start.config, start.history, start.best
    meta = checkpoint_meta(model.config, asdict(config), start.item_ids, data.manifest.get("item_id_space", "raw"), start.genre_names, _data_section(data))
    meta[PRIOR_KEY] = _prior_record(start.prior_items)

    # --- the schedule: every rank takes the same number of steps an epoch
    offsets, items = data.splits["train"]
    users, lengths = np.flatnonzero(np.diff(offsets) > 0), np.diff(offsets)
    steps_per_epoch = math.ceil(len(length_bucketed(users, lengths, config.batch_size, np.random.default_rng(0))) / context.world)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = max(1, int(config.warmup * total_steps))
    # --average-epochs: what validation, the checkpoints and the export see is the weights' moving average
    average = WeightAverage(list(model.parameters()), max(1.0, config.average_epochs * steps_per_epoch)) if config.average_epochs else None
    if average is not None and start.averaging is not None and resume_from is not None:  # (a resumed run has its average)
        try:
            average.restore(start.averaging, start.epoch * steps_per_epoch + start.step)
        except ValueError as exc:
            raise UserError(f"{resume_from / STATE_FILE}: damaged ({exc}); cannot resume") from None
    averaged = average.applied if average is not None else nullcontext
    if resume_from is not None and start.step >= steps_per_epoch:  # a hand-edited state: an epoch of no steps
        raise UserError(f"{resume_from / STATE_META_FILE}: damaged (step_in_epoch is {start.step}, and an epoch of this run has {steps_per_epoch} steps); cannot resume")
    builder = BatchBuilder(offsets, items, model.config.max_len, data.ordered, config.crop)
    val_data = validation_users(data, config.val_users, config.seed)
    autocast = mixed_precision(device, config.precision)
    objective = _objective(model, context, device, config.compile)
    prior = None if start.prior_items is None else (torch.from_numpy(start.prior_items).to(device), config.prior_weight)
    # --pop-debias: every training logit gets beta * log(training count), as computed from the data the run trains on
    adjust = popularity_adjustment(np.bincount(items, minlength=data.num_items + 1)[1:], config.pop_debias, model.config.num_items)
    adjust = None if adjust is None else adjust.to(device)
    # --sampler popularity: how many training lists hold each rated anime (at least 1), the sampled softmax's Q
    popularity = None
    if config.loss == "sampled" and config.sampler == "popularity":
        popularity = torch.from_numpy(np.maximum(np.bincount(items, minlength=model.config.rated + 1)[1 : model.config.rated + 1], 1)).to(device)
    progress = progress if context.main else None
    if progress is not None:
        progress.begin()
        if resume and resume_from is None:
            progress.note(f"nothing to resume in {folder.path} (no checkpoint was saved yet): starting a new run")
        elif resume_from is not None and not np.array_equal(item_ids, start.item_ids):
            progress.note(f"the catalogue has changed since this run began ({start.item_ids.size:,} anime then, {item_ids.size:,} now): "
                          "the resumed run keeps its own; a new run (--force) would learn the new ones")

    def diverged(where: str) -> UserError:
        kept = "earlier checkpoints are kept" if folder.saved else "the new run had none to keep" + (" (the run it replaced is back)" if folder.replacing else "")
        return UserError(f"training diverged {where}; these weights are not saved and {kept}: try a lower --lr")

    def save(epoch: int, step: int, is_best: bool = False) -> None:
        if not model_is_finite(model, data, device):  # the last update blew up: nothing broken is ever saved, let alone as best
            raise diverged(f"at epoch {epoch + 1}, step {step}" if step else f"at the end of epoch {epoch}")
        name = f"e{epoch:04d}-s{step:06d}"
        if is_best:
            best["name"] = name
        state = {"epoch": epoch, "step_in_epoch": step, "history": history, "best": best}
        folder.save(name, model, {**meta, **state}, optimizer, state, best["name"], None if average is None else average.state())
        distributed.barrier(context)

    # --- epochs of steps, each epoch ending in validation and a checkpoint
    interrupted = stopping = False
    global_step = start.epoch * steps_per_epoch + start.step
    with _Interrupt() as interrupt, folder.guard():
        for epoch in range(start.epoch, config.epochs):
            model.train()
            batches = length_bucketed(users, lengths, config.batch_size, np.random.default_rng([config.seed, epoch]))
            losses, seen, started = [], 0, time.perf_counter()
            for step in range(start.step if epoch == start.epoch else 0, steps_per_epoch):
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * lr_factor(global_step, total_steps, warmup_steps)
                batch_users = batches[(step * context.world + context.rank) % len(batches)]
                # A single process keeps the seeds of earlier versions; ranks add their number.
                where = [config.seed, epoch, step] + ([context.rank] if context.enabled else [])
                tokens = torch.from_numpy(builder(batch_users, np.random.default_rng(where)))
                losses.append(_step(objective, model, optimizer, tokens, config, data.ordered, where, autocast, device, prior, adjust, popularity))
                if average is not None:
                    average.update()
                global_step += 1
                seen += len(batch_users)
                if progress is not None:
                    progress.step(epoch, step + 1, steps_per_epoch, losses[-1], seen / (time.perf_counter() - started))
                blew_up = not math.isfinite(losses[-1])
                stop = blew_up or interrupt.requested or (stop_after is not None and stop_after(global_step))
                if distributed.any_rank(context, stop, device):
                    if distributed.any_rank(context, blew_up, device):  # these weights are NaN: never save them
                        raise diverged(f"at epoch {epoch + 1}, step {step + 1} (the loss is {losses[-1]})")
                    stopping = True
                    if step + 1 < steps_per_epoch:  # mid-epoch: save where it stands
                        with averaged():
                            save(epoch, step + 1)
                        interrupted = True
                    break  # on an epoch's last step, the epoch ends as usual first
            if interrupted:
                break
            with averaged():
                record, metrics = _validate(model, data, val_data, losses, started, epoch, context, device, _validation_report(progress, epoch),
                                            validation_threads)
                history.append(record)
                improved = math.isfinite(record["val_ndcg@10"]) and record["val_ndcg@10"] > best["ndcg@10"]
                if improved:
                    best.update({"epoch": epoch + 1, "ndcg@10": record["val_ndcg@10"], "val": metrics})
                save(epoch + 1, 0, is_best=improved)
            if progress is not None:
                progress.epoch_done(record, improved)
            if stopping or distributed.any_rank(context, interrupt.requested, device):  # a signal during validation
                interrupted = epoch + 1 < config.epochs
                break
        if not interrupted:
            folder.finish(history)
    return {
        "run": str(folder.path), "interrupted": interrupted, "signal": interrupt.signal, "history": history, "best": best,
        "device": device, "restarted": resume and resume_from is None,
    }


def _step(objective, model: BERT4Rec, optimizer, tokens: torch.Tensor, config: TrainConfig, ordered: bool, where: list[int], autocast, device: str,
          prior: tuple[torch.Tensor, float] | None = None, adjust: torch.Tensor | None = None, popularity: torch.Tensor | None = None) -> float:
    """One optimisation step on a batch of token rows: mask, forward, backward, clip, update; the loss.

    ``popularity``: the sampled softmax's Q with ``--sampler popularity`` (``sample_negatives``)."""
    if device.startswith("cuda"):  # copy once, then mask on the GPU
        tokens = tokens.pin_memory().to(device, non_blocking=True)
    generator = torch.Generator(device=tokens.device).manual_seed(_step_seed(*where, 1))
    inputs, positions, labels = mask_tokens(tokens, config.mask_prob, model.config.mask_id, model.config.rated, generator, config.mask_last, ordered)
    keep = model.id_keep(config.id_dropout, generator)
    # Drawn after everything the full loss draws, so choosing it changes none of their draws.
    negatives = sample_negatives(model.config.rated, config.negatives, generator, popularity) if config.loss == "sampled" else None
    torch.manual_seed(_step_seed(*where, 2))
    with autocast:
        loss = objective(inputs, positions, labels, keep, prior, adjust, negatives)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
    optimizer.step()
    return float(loss.detach())


@contextmanager
def scoring_threads(threads: int = 1) -> Iterator[None]:
    """Hold torch to ``threads`` intra-op threads while a split is scored, then give back the count it had.

    Scoring is thousands of small products and exps (``model.vote_logsumexp`` goes a cache-sized
    slice at a time), each a parallel region that waits for all its threads: on a 2-core machine
    with anything else running, a second thread is off its core at most of them. 512 validation
    users of the shipped model, load 7: 6.5 s with 1 thread, 74.7 s with 2 (1.6 s of CPU against
    21 s). An ``OMP_NUM_THREADS`` the user set is theirs, and kept; so is a count already lower.
    """
    before = torch.get_num_threads()
    if os.environ.get("OMP_NUM_THREADS") or threads >= before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _validation_report(progress, epoch: int) -> Callable[[int, int], None] | None:
    """``evaluate``'s progress callback for the epoch's validation: ``progress.validation(epoch, done, total)``.

    Optional on a progress object, so one that only follows the steps still works."""
    report = getattr(progress, "validation", None)
    return None if report is None else lambda done, total: report(epoch, done, total)


def _validate(model: BERT4Rec, data: Dataset, val_data: Dataset, losses: list[float], started: float, epoch: int, context, device: str,
              report: Callable[[int, int], None] | None = None, threads: int = 1) -> tuple[dict, dict]:
    """The epoch's history record (mean loss over ranks, validation NDCG@10 and Recall@10, the
    epoch's seconds and how many of them validation took) and every validation metric (rank
    0's; empty on the other ranks). ``report(users done, users)`` follows the validation."""
    validating = time.perf_counter()
    if context.main:
        with scoring_threads(threads):
            metrics = evaluate(model_scorer(model, data.ordered, device, columns=data.num_items), val_data, "val", progress=report)["metrics"]
    else:  # only rank 0 validates; the others learn its verdict
        metrics = {"ndcg@10": 0.0, "recall@10": 0.0}
    val_seconds = time.perf_counter() - validating
    mean_loss = distributed.mean(context, float(np.mean(losses)) if losses else 0.0, device)
    record = {
        "epoch": epoch + 1,
        "loss": mean_loss if losses else None,
        "val_ndcg@10": distributed.from_main(context, metrics["ndcg@10"], device),
        "val_recall@10": metrics["recall@10"],
        "seconds": round(time.perf_counter() - started, 2),
        "val_seconds": round(val_seconds, 2),
    }
    return record, metrics if context.main else {}

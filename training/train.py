"""The training loop: cloze objective, AdamW with warm-up and cosine decay, resumable.

Every random draw is seeded by (seed, epoch, step), so a run resumed from any checkpoint,
even one saved mid-epoch by Ctrl-C, continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from training.errors import UserError
from training.fsutil import check_replaceable
from training.checkpoint import (
    RUN_FILE,
    check_vocab,
    complete_checkpoints,
    load_model,
    load_optimizer_state,
    read_meta,
    read_run,
    remove_leftovers,
    resolve_model_dir,
    update_run,
    versions,
    vocab_hash,
    write_checkpoint,
)
from training import distributed
from training.config import TrainConfig, saved_train_config
from training.data import BatchBuilder, Dataset, length_bucketed, mask_tokens
from training.evaluate import evaluate
from training.model import BERT4Rec, ModelConfig, parameter_count, training_bytes
from training.scoring import model_scorer, score_users


def free_memory(device: str) -> int | None:
    """Bytes free for a training run on ``device`` (memory available on a CPU), or None if unknown."""
    if device.startswith("cuda"):
        return torch.cuda.mem_get_info(torch.device(device))[0]
    if device.startswith("mps"):
        return None
    try:
        with open("/proc/meminfo") as handle:
            fields = dict(line.split(":", 1) for line in handle)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None


def check_fits(model_config: ModelConfig, batch_size: int, device: str) -> None:
    """Refuse, before anything is allocated, a model whose training cannot fit in memory."""
    need, free = training_bytes(model_config, batch_size), free_memory(device)
    if free is not None and need > free:
        raise UserError(
            f"this model ({parameter_count(model_config):,} parameters, batch {batch_size:,}) needs at least "
            f"{need / 2**30:,.1f} GiB to train and {device} has {free / 2**30:,.1f} GiB free; "
            "choose a smaller --hidden, --layers, --max-len or --batch-size"
        )


def pick_device(name: str = "auto") -> str:
    """cuda, then mps, then cpu, unless named."""
    if name != "auto":
        if name == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available")
        if name == "mps" and not torch.backends.mps.is_available():
            raise UserError("--device mps: MPS is not available")
        return name
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def mixed_precision(device: str, precision: str = "auto") -> torch.autocast:
    """The autocast context for a training step: bf16 on CUDA by default, or where asked.

    On CPUs with AMX or AVX-512 BF16, bf16 speeds up large models (hidden 256: 1.4-1.6x a step measured);
    small ones lose to the casts, hence fp32 by default off CUDA. Weights stay fp32 either way.
    """
    kind = device.split(":")[0]
    if precision == "bf16" or (precision == "auto" and kind == "cuda"):
        return torch.autocast(kind, dtype=torch.bfloat16)
    return torch.autocast(kind if kind in ("cuda", "cpu") else "cpu", enabled=False)


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


class _Interrupt:
    """Ctrl-C sets a flag; the loop saves a resumable checkpoint at the next step and stops."""

    def __init__(self) -> None:
        self.requested = False

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)


def _set_aside(run: Path) -> Path:
    """Where ``--force`` keeps the run it replaces until the new run has a checkpoint."""
    return run.with_name(f".{run.name}.replaced")


def _settle_set_aside(run: Path) -> None:
    """Finish what a killed ``--force`` left: the run it was replacing waits in ``.RUN.replaced``.

    If the new run got as far as a complete checkpoint, the old one was due to go; if not,
    the new run is a husk and the old one goes back where it was, so a kill never costs a run.
    """
    old = _set_aside(run)
    if not old.is_dir():
        return
    if run.is_dir() and ((run / RUN_FILE).exists() or complete_checkpoints(run)):
        shutil.rmtree(old, ignore_errors=True)
        return
    if run.exists() and not _is_husk(run):
        return  # something else is at RUN now; leave both for the user
    shutil.rmtree(run, ignore_errors=True)
    old.rename(run)


def _is_husk(run: Path) -> bool:
    """A run folder that a new run left before its first checkpoint: only checkpoints/ and hidden leftovers."""
    return run.is_dir() and all(p.name.startswith(".") or (p.name == "checkpoints" and p.is_dir()) for p in run.iterdir())


@contextmanager
def _no_half_made_run(run: Path, unsaved: Callable[[], bool], replace: bool):
    """On any failure (disk full, Ctrl-C twice, a bug) a new run with no checkpoint yet is removed.

    With ``replace`` (``--force`` over an existing run) the old run is set aside rather than
    deleted (the first checkpoint deletes it); a failure before that puts it back, so a new
    run that dies early loses nothing.
    """
    old = _set_aside(run)
    if replace:
        if old.exists():
            raise UserError(f"{old} holds a run set aside by an earlier --force; move or delete it first")
        try:
            run.rename(old)
        except OSError as exc:
            raise UserError(f"cannot replace {run}: {exc.strerror or exc}") from None
    try:
        yield
    except BaseException:
        if unsaved():
            shutil.rmtree(run, ignore_errors=True)
            if replace and old.exists():
                old.rename(run)
        raise


def model_is_finite(model: BERT4Rec, data: Dataset, device: str, probe_users: int = 64) -> bool:
    """True when no weight, and no score of the first ``probe_users`` users, is NaN or infinite.

    Weights can stay finite and still be useless: after a step with a huge learning rate
    they sit near 1e30 and every score overflows. The probe runs in eval mode (no dropout),
    so it draws no random numbers and an exact resume stays exact.
    """
    with torch.no_grad():
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            return False
    offsets, items = data.splits["train"]
    users = np.flatnonzero(np.diff(offsets) > 0)[:probe_users]
    was_training = model.training
    model.eval()
    try:
        return bool(torch.isfinite(score_users(model, offsets, items, users, data.ordered, device)).all())
    finally:
        model.train(was_training)


def _latest(run: Path) -> str | None:
    try:
        return read_run(run)["latest"]
    except UserError:
        return None


def _resume_point(run: Path) -> Path | None:
    """The checkpoint ``--resume`` continues from, or None when the run has none yet.

    ``run.json`` names it; a kill between the first checkpoint and the first ``run.json``
    leaves only the folder, so without ``run.json`` the newest complete one counts. Hidden
    temporary folders (a killed write) never do.
    """
    # A folder holding only a checkpoints/ folder or hidden leftovers is a run killed early.
    killed_early = not run.exists() or (
        run.is_dir() and ((run / "checkpoints").is_dir() or all(p.name.startswith(".") for p in run.iterdir()))
    )
    if (run / RUN_FILE).exists() or not killed_early:
        return resolve_model_dir(run, "latest")  # a run, or something that is none: its own clear error
    complete = complete_checkpoints(run)
    return complete[-1] if complete else None


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
) -> dict:
    """Train (or resume) a run; return a summary with the history and the best epoch.

    Under torchrun (``context.enabled``) each rank trains on its share of every epoch's
    batches; only rank 0 validates, reports progress and writes checkpoints.
    """
    run = Path(os.path.abspath(run))  # "." and "runs/x/.." have no name of their own to set a run aside by
    if context.main:
        _settle_set_aside(run)
    distributed.barrier(context)
    start_epoch, start_step, history, best = 0, 0, [], {"epoch": None, "ndcg@10": -1.0, "name": None}
    folder = _resume_point(run) if resume else None
    replace = False
    if folder is None and (run.exists() or run.is_symlink()):  # a new run would replace it
        check_replaceable(run, (RUN_FILE, "checkpoints"), "train", [data.folder])
        if not (force or resume):
            raise UserError(f"{run} already exists; pass --resume to continue it or --force to start over")
    if resume and folder is None and context.main:
        print(f"nothing to resume in {run} (no checkpoint was saved yet): starting a new run", file=sys.stderr)
    resume = folder is not None
    if resume:
        meta = read_meta(folder)
        check_vocab(meta, data.item_ids, f"the data in {data.folder}")
        # A resumed run keeps its own settings; only the number of epochs (and compiling) may change.
        config = saved_train_config(meta, folder, epochs=config.epochs, compile=config.compile, precision=config.precision)
        model, _ = load_model(folder, device)
        model_config = model.config
        model.train()
        optimizer = make_optimizer(model, config, device)
        state = load_optimizer_state(folder, optimizer, device)
        start_epoch, start_step, history = state["epoch"], state["step_in_epoch"], state["history"]
        best, genre_names = state["best"], meta.get("genres", [])
        if start_epoch >= config.epochs:
            raise UserError(f"{run} has already trained {start_epoch} epochs; pass a larger --epochs to go on")
        if context.main:
            remove_leftovers(run)
    else:
        check_fits(model_config, config.batch_size, device)
        replace = run.exists() and context.main
        distributed.barrier(context)
        torch.manual_seed(config.seed)
        genres = torch.from_numpy(item_genres) if item_genres is not None and model_config.genres else None
        model = BERT4Rec(model_config, genres)
        with torch.no_grad():  # start from popularity: the bias is the log of each item's training count
            counts = np.bincount(data.splits["train"][1], minlength=data.num_items + 1)[1:]
            log_pop = np.log1p(counts)
            model.out_bias.copy_(torch.from_numpy(log_pop - log_pop.mean()).float())
        model = model.to(device)
        optimizer = make_optimizer(model, config, device)

    offsets, items = data.splits["train"]
    users = np.flatnonzero(np.diff(offsets) > 0)
    lengths = np.diff(offsets)
    all_batches = len(length_bucketed(users, lengths, config.batch_size, np.random.default_rng(0)))
    steps_per_epoch = math.ceil(all_batches / context.world)  # every rank takes the same number of steps
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = max(1, int(config.warmup * total_steps))
    builder = BatchBuilder(offsets, items, model_config.max_len, data.ordered, config.crop)
    val_data = validation_users(data, config.val_users, config.seed)
    autocast = mixed_precision(device, config.precision)
    base_meta = {
        "format": "animerec-checkpoint",
        "version": 1,
        "model_config": model_config.to_dict(),
        "train_config": asdict(config),
        "vocab": {"size": data.num_items, "sha256": vocab_hash(data.item_ids), "item_ids": data.item_ids.tolist(), "id_space": data.manifest.get("item_id_space", "raw")},
        "genres": genre_names or [],
        "data": {"path": str(data.folder.resolve()), "input": data.manifest["input"], "format": data.manifest["format"], "params": data.manifest["params"], "counts": data.manifest["counts"]},
        "versions": versions(),
    }

    checkpointed = [resume]  # a run with a checkpoint is never removed on failure

    def divergence(where: str) -> UserError:
        kept = "earlier checkpoints are kept" if checkpointed[0] else "the new run had none to keep" + (" (the run it replaced is back)" if replace else "")
        return UserError(f"training diverged {where}; these weights are not saved and {kept}: try a lower --lr")

    def save(epoch: int, step: int, is_best: bool = False) -> None:
        if not model_is_finite(model, data, device):  # the last update blew up: nothing broken is ever saved, let alone as best
            when = f"epoch {epoch + 1}, step {step}" if step else f"the end of epoch {epoch}"
            raise divergence(f"at {when}: the model's weights or scores hold NaN or infinity")
        name = f"e{epoch:04d}-s{step:06d}"
        if is_best:
            best["name"] = name
        if context.main:
            state = {"epoch": epoch, "step_in_epoch": step, "history": history, "best": best}
            write_checkpoint(run / "checkpoints" / name, model, {**base_meta, **state}, optimizer, state)
            try:
                update_run(run, name, best["name"])
            except BaseException:
                if _latest(run) != name:  # run.json was not replaced: nothing may point at it
                    shutil.rmtree(run / "checkpoints" / name, ignore_errors=True)
                raise
            if replace and not checkpointed[0]:  # the new run is safe: the one it replaces can go
                shutil.rmtree(_set_aside(run), ignore_errors=True)
            checkpointed[0] = True
        distributed.barrier(context)

    objective = distributed.wrap(model, context, device)
    if config.compile:
        # Batches differ in length, so let the compiler treat the sequence length as dynamic.
        objective = torch.compile(objective, dynamic=True)
    if not context.main:
        progress = None
    elif progress is not None and hasattr(progress, "begin"):
        progress.begin()

    interrupted = False
    global_step = start_epoch * steps_per_epoch + start_step
    with _Interrupt() as interrupt, _no_half_made_run(run, lambda: context.main and not checkpointed[0], replace):
        if context.main and not resume:
            try:  # fail now, not after the first epoch, when the run cannot be written
                (run / "checkpoints").mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"cannot write {run}: {exc.strerror or exc}") from None
        for epoch in range(start_epoch, config.epochs):
            model.train()
            batches = length_bucketed(users, lengths, config.batch_size, np.random.default_rng([config.seed, epoch]))
            losses, seen, started = [], 0, time.perf_counter()
            for step in range(start_step if epoch == start_epoch else 0, steps_per_epoch):
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * lr_factor(global_step, total_steps, warmup_steps)
                batch_users = batches[(step * context.world + context.rank) % len(batches)]
                # A single process keeps the seeds of earlier versions; ranks add their number.
                where = [config.seed, epoch, step] + ([context.rank] if context.enabled else [])
                tokens = torch.from_numpy(builder(batch_users, np.random.default_rng(where)))
                if device.startswith("cuda"):  # copy once, then mask on the GPU
                    tokens = tokens.pin_memory().to(device, non_blocking=True)
                generator = torch.Generator(device=tokens.device).manual_seed(_step_seed(*where, 1))
                inputs, positions, labels = mask_tokens(tokens, config.mask_prob, model_config.mask_id, model_config.num_items, generator, config.mask_last, data.ordered)
                torch.manual_seed(_step_seed(*where, 2))
                with autocast:
                    loss = objective(inputs, positions, labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
                optimizer.step()
                global_step += 1
                losses.append(float(loss.detach()))
                seen += len(batch_users)
                if progress is not None:
                    progress.step(epoch, step + 1, steps_per_epoch, losses[-1], seen / (time.perf_counter() - started))
                diverged = not math.isfinite(losses[-1])
                stop = diverged or interrupt.requested or (stop_after is not None and stop_after(global_step))
                if distributed.any_rank(context, stop, device):
                    if distributed.any_rank(context, diverged, device):  # these weights are NaN: never save them
                        raise divergence(f"at epoch {epoch + 1}, step {step + 1} (the loss is {losses[-1]})")
                    save(epoch, step + 1)
                    interrupted = True
                    break
            if interrupted:
                break
            if context.main:
                result = evaluate(model_scorer(model, data.ordered, device), val_data, "val")
            else:  # only rank 0 validates; the others learn its verdict below
                result = {"metrics": {"ndcg@10": 0.0, "recall@10": 0.0}}
            ndcg = distributed.from_main(context, result["metrics"]["ndcg@10"], device)
            mean_loss = distributed.mean(context, float(np.mean(losses)) if losses else 0.0, device)
            history.append({
                "epoch": epoch + 1,
                "loss": mean_loss if losses else None,
                "val_ndcg@10": ndcg,
                "val_recall@10": result["metrics"]["recall@10"],
                "seconds": round(time.perf_counter() - started, 2),
            })
            improved = math.isfinite(ndcg) and ndcg > best["ndcg@10"]
            if improved:
                best.update({"epoch": epoch + 1, "ndcg@10": ndcg, "val": result["metrics"] if context.main else {}})
            save(epoch + 1, 0, is_best=improved)
            if progress is not None:
                progress.epoch_done(history[-1], improved)
    return {"run": str(run), "interrupted": interrupted, "history": history, "best": best, "device": device}

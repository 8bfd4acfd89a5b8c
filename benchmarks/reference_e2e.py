"""The reference's size end to end: generate, preprocess, train a share, each stage timed with its peak memory,
then a projection of one full epoch for this CPU, one H100 and 8 GPUs under torchrun.

Stages, in order, each in its own process under ``/usr/bin/time -v`` (so its peak RSS is its
own), into ``--work`` (a temporary folder under /tmp unless given; removed at the end unless
``--keep``):

1. generate: ``generate_reference_scale.py`` at the reference's size (1.77M users, 148M
   ratings, 17,000 anime; ``--scale`` shrinks both counts for a quick run);
2. preprocess: the real ``animerec preprocess`` of its ``ratings.npy`` (as ``preprocess_scale.py``);
3. share: a seeded ``--share`` of the preprocessed users, written as a data folder with the
   full item vocabulary (so the catalogue, and the softmax, stay the reference's size);
4. train (share): the real ``animerec train`` for one whole epoch on that share, at the
   reference's model size (hidden 256, 2 blocks, 4 heads, length 128, batch 128) with the
   sampled softmax (``--loss sampled --negatives 1024``), validation included;
5. train (full data): the real ``animerec train`` on the whole preprocessed folder, stopped
   with SIGINT (as Ctrl-C: a resumable checkpoint is saved) once its progress line reports a
   rate (about a minute of steps): loading 1.5M users' splits and the first steps at full size;
6. train (full loss), unless ``--no-full-loss``: the same on the share with ``--loss full``,
   stopped the same way, to compare a step of the full softmax;
7. batch build: the host's part of a GPU step, ``BatchBuilder`` for batches of ``--gpu-batch``
   (and 128) users of the full data, timed on this CPU.

At full size it takes about 6-7 minutes on 2 busy cores (generation and preprocessing peak at
2.4 and 5.0 GB, training at 2.3 GB); ``--scale 0.01 --share 0.05`` is a 2-3 minute check.

The projection's arithmetic is in this file: each batch's FLOPs from the model's shape and the
batch's (rows, padded length), counted over an epoch's real batches (``length_bucketed`` on the
data's list lengths, as training draws them); the CPU's achieved FLOP/s is measured, and the GPU
times are FLOPs / (peak x an assumed achieved fraction) plus the measured host time per batch and
an assumed per-step overhead. The GPU figures are a projection on paper, not a measurement.

    python benchmarks/reference_e2e.py [--work DIR] [--keep] [--scale 1.0] [--share 0.002] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import REPO, cpu_model, gnu_time

# The reference's model (AnimeRecBERT-Hybrid) and batch, as train_throughput.py uses them.
HIDDEN, LAYERS, HEADS, MAX_LEN, BATCH = 256, 2, 4, 128, 128
MASK_PROB = 0.25  # animerec's default for the items readout
FULL_USERS, FULL_RATINGS = 1_770_000, 148_000_000

# Stated GPU assumptions (the projection's only hand-typed numbers; all are options).
H100_BF16_TFLOPS = 989.0  # H100 SXM, dense bf16 tensor cores, peak
H100_FP32_TFLOPS = 67.0  # H100 SXM, fp32 without tensor cores, peak
NVLINK_BUS_GBPS = 350.0  # NCCL all-reduce bus bandwidth over NVLink 4 (8x H100 SXM), large messages


@dataclass
class Stage:
    name: str
    input: str
    wall: float
    peak_gb: float
    cpu: float
    notes: str = ""


def run_stage(name: str, what: str, command: list[str], log: Path, ok=(0,), watch=None) -> Stage:
    """Run ``command`` under GNU time into ``log``; ``watch(process, log)`` may stop it early."""
    timing = log.with_suffix(".time")
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(map(str, command))}", file=sys.stderr, flush=True)
    with open(log, "w") as out:
        # SIGINT back to its default: a script started in the background (``cmd &``) inherits it ignored,
        # and animerec train keeps an ignored signal ignored, so the stop below would do nothing.
        process = subprocess.Popen(["/usr/bin/time", "-v", "-o", str(timing), *map(str, command)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        if watch is not None:
            watch(process, log)
        code = process.wait()
    if code not in ok:
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"{name} failed (exit {code}); log in {log}")
    seconds, peak_bytes, cpu = gnu_time(timing.read_text())
    peak = peak_bytes / 1e9
    print(f"    {seconds:.1f} s, {peak:.2f} GB peak RSS, {cpu:.1f} s CPU", file=sys.stderr, flush=True)
    return Stage(name, what, seconds, peak, cpu)


PROGRESS = re.compile(r"epoch 1/1 training: ([\d,]+)/([\d,]+) steps \(\d+%\), loss ([\d.naif]+), ([\d,.]+) seq/s")
EPOCH = re.compile(r"epoch\s+1\s+loss ([\d.]+)\s+val NDCG@10 ([\d.]+)\s+Recall@10 ([\d.]+)\s+(\d+) s \(validation (\d+) s\)")


def progress_lines(log: Path) -> list[tuple[int, int, float]]:
    """(steps done, steps in the epoch, sequences/s) of each of a training log's progress lines."""
    return [(int(a.replace(",", "")), int(b.replace(",", "")), float(r.replace(",", ""))) for a, b, _, r in PROGRESS.findall(log.read_text())]


def stop_at_first_rate(limit: float):
    """A ``watch`` that sends SIGINT (Ctrl-C) once the log has a progress line with a rate, or after ``limit`` s."""

    def watch(process: subprocess.Popen, log: Path) -> None:
        started = time.monotonic()
        while process.poll() is None:
            if progress_lines(log) or time.monotonic() - started > limit:
                os.killpg(process.pid, signal.SIGINT)  # GNU time ignores it; animerec train saves a checkpoint and stops
                return
            time.sleep(1.0)

    return watch


# --- stage 3: a share of the users as a data folder ------------------------------------------------


def write_share(source: Path, out: Path, share: float, seed: int) -> None:
    """``share`` of ``source``'s users (seeded), every split, the full item vocabulary."""
    from training.fsutil import sha256_file

    manifest = json.loads((source / "manifest.json").read_text())
    arrays = {name: np.load(source / f"{name}.npy") for name in ("train_offsets", "val_offsets", "test_offsets", "user_ids")}
    users = arrays["user_ids"].size
    keep = np.sort(np.random.default_rng(seed).choice(users, size=max(1, round(users * share)), replace=False))
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in ("train", "val", "test"):
        offsets, items = arrays[f"{split}_offsets"], np.load(source / f"{split}_items.npy", mmap_mode="r")
        lengths = offsets[keep + 1] - offsets[keep]
        index = np.repeat(offsets[keep] - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
        np.save(out / f"{split}_offsets.npy", np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
        np.save(out / f"{split}_items.npy", np.asarray(items[index]))
        counts[split] = int(lengths.sum())
    np.save(out / "user_ids.npy", arrays["user_ids"][keep])
    shutil.copy(source / "item_ids.npy", out / "item_ids.npy")
    manifest["counts"] = {**manifest["counts"], "users": int(keep.size), "interactions": sum(counts.values()), **counts}
    manifest["input"] = {**manifest.get("input", {}), "share": share, "share_seed": seed}
    manifest["files"] = {name: sha256_file(out / name) for name in manifest.get("files", {})}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(json.dumps({"users": int(keep.size), **counts}))


# --- stage 7: the host's part of a GPU step --------------------------------------------------------


def time_builder(folder: Path, sizes: list[int], batches: int) -> None:
    """Seconds a batch of each of ``sizes`` users takes ``BatchBuilder`` (and the copy to torch), median of ``batches``."""
    import torch

    from training.data import BatchBuilder, length_bucketed

    offsets, items = np.load(folder / "train_offsets.npy"), np.load(folder / "train_items.npy")
    lengths = np.diff(offsets)
    users = np.flatnonzero(lengths > 0)
    builder = BatchBuilder(offsets, items, MAX_LEN, ordered=False)
    result = {}
    for batch in sizes:
        order = length_bucketed(users, lengths, batch, np.random.default_rng([0, 0]))
        times = []
        for step, chosen in enumerate(order[:batches]):
            started = time.perf_counter()
            torch.from_numpy(builder(chosen, np.random.default_rng([0, 0, step])))
            times.append(time.perf_counter() - started)
        result[str(batch)] = {"median_s": float(np.median(times)), "mean_s": float(np.mean(times)), "batches": len(times)}
    print(json.dumps(result))


# --- the FLOP count ----------------------------------------------------------------------------------


def step_flops(rows: np.ndarray, length: np.ndarray, items: int, negatives: float, loss: str) -> np.ndarray:
    """Multiply-add FLOPs (2 per MAC) of training steps with ``rows`` sequences padded to ``length``.

    Forward, per block (T = rows x length tokens, H hidden): qkv 6TH^2, attention scores and
    their use 4 rows L^2 H, projection 2TH^2, feed-forward 16TH^2; then the head 2TH^2. The
    sampled softmax: every position votes for the N' distinct negatives, 2 T N' H, and for its
    row's own targets, 2 T K H with K = mask share x L. The full softmax: 2 T C H over the C
    rated anime. Backward is twice the forward for every product, and the sampled softmax's
    votes are computed once more in the backward pass (``column_logsumexp`` recomputes them), so
    a step is 3 x (encoder + head + targets) + 4 x votes (sampled) or 3 x everything (full).
    Embedding look-ups, layer norms, GELU, softmaxes and AdamW are left out (O(T H) or O(params)).
    """
    rows, length = rows.astype(np.float64), length.astype(np.float64)
    tokens = rows * length
    encoder = LAYERS * (24 * tokens * HIDDEN**2 + 4 * rows * length**2 * HIDDEN) + 2 * tokens * HIDDEN**2
    if loss == "full":
        return 3 * (encoder + 2 * tokens * items * HIDDEN)
    targets = 2 * tokens * (MASK_PROB * length) * HIDDEN
    return 3 * (encoder + targets) + 4 * (2 * tokens * negatives * HIDDEN)


def epoch_batches(lengths: np.ndarray, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(rows, padded length) of each batch of an epoch, drawn as training draws them."""
    from training.data import length_bucketed

    users = np.flatnonzero(lengths > 0)
    batches = length_bucketed(users, lengths, batch, np.random.default_rng([seed, 0]))
    rows = np.array([b.size for b in batches])
    padded = np.array([min(int(lengths[b].max()), MAX_LEN) for b in batches])
    return rows, padded


def distinct_negatives(train_items: np.ndarray, items: int, draws: int) -> float:
    """Expected distinct anime among ``draws`` popularity draws with replacement (the sampler's Q)."""
    counts = np.maximum(np.bincount(train_items, minlength=items + 1)[1:], 1).astype(np.float64)
    q = counts / counts.sum()
    return float(np.sum(-np.expm1(draws * np.log1p(-q))))


# --- the report --------------------------------------------------------------------------------------


def clock(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="working folder [default: a new temporary one under /tmp]")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--scale", type=float, default=1.0, help="share of the reference's users and ratings to generate")
    parser.add_argument("--share", type=float, default=0.002, help="share of the preprocessed users trained for one epoch")
    parser.add_argument("--threads", type=int, default=1, help="animerec train --threads")
    parser.add_argument("--negatives", type=int, default=1024)
    parser.add_argument("--val-users", type=int, default=10_000, help="animerec train --val-users (the share's users, at most)")
    parser.add_argument("--full-loss", action=argparse.BooleanOptionalAction, default=True, help="also time the full softmax's first steps on the share")
    parser.add_argument("--stop-after", type=float, default=900, help="stop an interrupted training stage after this many seconds even without a rate")
    parser.add_argument("--gpu-batch", type=int, default=1024, help="per-GPU batch of the projection (bf16)")
    parser.add_argument("--mfu", default="0.15,0.30,0.40", help="achieved shares of the GPU's peak to project with")
    parser.add_argument("--overhead-ms", type=float, default=3.0, help="assumed per-step GPU overhead: kernel launches and the step's host syncs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--_share", nargs=2, metavar=("SOURCE", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--_builder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._share:
        write_share(Path(args._share[0]), Path(args._share[1]), args.share, args.seed)
        return
    if args._builder:
        time_builder(args._builder, sorted({BATCH, args.gpu_batch}), 20)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="reference-e2e-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    python, here = sys.executable, Path(__file__).resolve()
    users, ratings = round(FULL_USERS * args.scale), round(FULL_RATINGS * args.scale)
    try:
        report(args, work, logs, python, here, users, ratings)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)


def report(args, work: Path, logs: Path, python: str, here: Path, users: int, ratings: int) -> None:
    stages: list[Stage] = []
    started_all, load_before = time.perf_counter(), os.getloadavg()[0]
    stages.append(run_stage("generate", f"{users:,} users, {ratings:,} ratings", [python, REPO / "benchmarks/generate_reference_scale.py", "--out", work,
                                                                                   "--users", users, "--ratings", ratings, "--seed", args.seed], logs / "generate.log"))
    npy = work / "ratings.npy"
    full = work / "pp"
    stages.append(run_stage("preprocess", f"ratings.npy, {npy.stat().st_size / 1e9:.2f} GB", [python, "-m", "animerec_tui", "preprocess", npy, "--out", full, "--force"],
                            logs / "preprocess.log"))
    manifest = json.loads((full / "manifest.json").read_text())["counts"]
    n_users, n_items = manifest["users"], manifest["items"]
    stages[-1].notes = f"{n_users:,} users, {n_items:,} items, {manifest['interactions']:,} interactions ({manifest['train']:,} train)"
    npy.unlink()  # 1.8 GB not needed any more

    share = work / "share"
    stages.append(run_stage("share", f"{args.share:g} of {n_users:,} users", [python, here, "--_share", full, share, "--share", args.share, "--seed", args.seed],
                            logs / "share.log"))
    picked = json.loads((logs / "share.log").read_text().splitlines()[-1])
    stages[-1].notes = f"{picked['users']:,} users, {picked['train']:,} train items"

    model = ["--no-genres", "--hidden", HIDDEN, "--layers", LAYERS, "--heads", HEADS, "--max-len", MAX_LEN, "--batch-size", BATCH, "--threads", args.threads,
             "--val-users", args.val_users, "--epochs", 1, "--force"]
    sampled = ["--loss", "sampled", "--negatives", args.negatives]
    train = [python, "-m", "animerec_tui", "train"]
    env_note = f"{args.threads} thread{'s' if args.threads > 1 else ''}"

    # 4. one whole epoch on the share
    log = logs / "train-share.log"
    stages.append(run_stage("train, 1 epoch on the share (sampled)", f"{picked['users']:,} users", [*train, "--data", share, "--out", work / "run-share", *model, *sampled], log))
    lines, epoch = progress_lines(log), EPOCH.search(log.read_text())
    steps, _, share_rate = lines[-1]
    epoch_s, val_s = float(epoch.group(4)), float(epoch.group(5))
    val_users = min(args.val_users, picked["users"])
    stages[-1].notes = (f"{steps} steps, {share_rate:.1f} seq/s, {(epoch_s - val_s) / steps:.2f} s/step; validation {val_s:.0f} s for {val_users:,} users; "
                        f"loss {epoch.group(1)}, val NDCG@10 {epoch.group(2)}")
    share_train_s = epoch_s - val_s

    # 5. the full data, stopped after its first rate
    log = logs / "train-full.log"
    stages.append(run_stage("train on the full data (sampled), stopped by SIGINT", f"{n_users:,} users",
                            [*train, "--data", full, "--out", work / "run-full", *model, *sampled], log, ok=(0, 130), watch=stop_at_first_rate(args.stop_after)))
    full_stage, lines = stages[-1], progress_lines(log)
    full_rate = lines[-1][2] if lines else float("nan")
    full_steps_epoch = lines[-1][1] if lines else math.ceil(n_users / BATCH)
    stages[-1].notes = (f"{lines[-1][0]} steps of {full_steps_epoch:,}, {full_rate:.1f} seq/s" if lines else "no rate before the stop") + "; the load, the first steps and a checkpoint"

    # 6. the full softmax's first steps on the share
    full_loss_rate = None
    if args.full_loss:
        log = logs / "train-full-loss.log"
        stages.append(run_stage("train on the share (full softmax), stopped by SIGINT", f"{picked['users']:,} users",
                                [*train, "--data", share, "--out", work / "run-full-loss", *model, "--loss", "full"], log, ok=(0, 130),
                                watch=stop_at_first_rate(args.stop_after)))
        lines = progress_lines(log)
        full_loss_rate = lines[-1][2] if lines else None
        stages[-1].notes = f"{lines[-1][0]} steps, {full_loss_rate:.1f} seq/s" if lines else "no rate before the stop"

    # 7. the host's part of a GPU step
    stages.append(run_stage(f"batch build ({args.gpu_batch:,} users)", "full data", [python, here, "--_builder", full, "--gpu-batch", args.gpu_batch], logs / "builder.log"))
    built = json.loads((logs / "builder.log").read_text().splitlines()[-1])
    host_s, host_128 = built[str(args.gpu_batch)]["median_s"], built[str(BATCH)]["median_s"]
    stages[-1].notes = (f"median of {built[str(BATCH)]['batches']} batches (BatchBuilder + torch.from_numpy), one process: {host_s * 1e3:.1f} ms for {args.gpu_batch:,} users, "
                        f"{host_128 * 1e3:.1f} ms for {BATCH}")

    # --- FLOPs of the epochs
    train_offsets = np.load(full / "train_offsets.npy")
    lengths = np.diff(train_offsets)
    train_items = np.load(full / "train_items.npy", mmap_mode="r")
    n_neg = distinct_negatives(np.asarray(train_items), n_items, args.negatives)
    share_lengths = np.diff(np.load(share / "train_offsets.npy"))
    rows, padded = epoch_batches(share_lengths, BATCH)
    share_flops = float(step_flops(rows, padded, n_items, n_neg, "sampled").sum())
    cpu_flops_s = share_flops / share_train_s
    rows, padded = epoch_batches(lengths, BATCH)
    epoch_flops_128 = float(step_flops(rows, padded, n_items, n_neg, "sampled").sum())
    ref_step = float(step_flops(np.array([BATCH]), np.array([MAX_LEN]), n_items, n_neg, "sampled")[0])
    ref_step_full = float(step_flops(np.array([BATCH]), np.array([MAX_LEN]), n_items, n_neg, "full")[0])
    gpu_rows, gpu_padded = epoch_batches(lengths, args.gpu_batch)
    gpu_flops = step_flops(gpu_rows, gpu_padded, n_items, n_neg, "sampled")
    epoch_users = int((lengths > 0).sum())

    # --- the table
    print(f"\n### The reference's size end to end — {cpu_model()}, {os.cpu_count()} cores, {env_note} for training; {time.strftime('%Y-%m-%d')}\n")
    print("Model: BERT4Rec items readout, hidden 256, 2 blocks, 4 heads, length 128, batch 128, --no-genres (synthetic ids), "
          f"sampled softmax of {args.negatives:,} popularity draws ({n_neg:.0f} distinct expected). Peak RSS per stage from `/usr/bin/time -v`.\n")
    print("| stage | input size | wall | peak RSS | CPU | notes |")
    print("|---|---|---|---|---|---|")
    for s in stages:
        print(f"| {s.name} | {s.input} | {clock(s.wall)} | {s.peak_gb:.2f} GB | {clock(s.cpu)} | {s.notes} |")
    print(f"\nwhole script: {clock(time.perf_counter() - started_all)}; load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
          "(CPU below wall: the stage shared the 2 cores with other work)")

    # --- the projection
    print("\n### Projection of one full epoch (sampled softmax)\n")
    print(f"Training set: {epoch_users:,} users, {int(lengths.sum()):,} train items; an epoch at batch 128 is {rows.size:,} steps, "
          f"mean padded length {np.average(padded, weights=rows):.1f} (length-bucketed batches).\n")
    print(f"FLOPs (formula in `step_flops`: 3 x (2 blocks x (24 T H^2 + 4 B L^2 H) + 2 T H^2 + 2 T K H) + 4 x 2 T N' H, T = B L, K = {MASK_PROB} L, "
          f"N' = {n_neg:.0f}): a full step (B 128, L 128) {ref_step / 1e9:.0f} GFLOP sampled, {ref_step_full / 1e9:.0f} GFLOP with the full softmax; "
          f"one epoch {epoch_flops_128 / 1e12:.1f} TFLOP at batch 128, {gpu_flops.sum() / 1e12:.1f} TFLOP at batch {args.gpu_batch:,}.\n")
    print(f"Measured on this CPU: the share's epoch {share_flops / 1e12:.2f} TFLOP in {share_train_s:.0f} s of steps = {cpu_flops_s / 1e9:.1f} GFLOP/s achieved "
          f"({env_note}, the machine shared with other work).\n")
    print("| where | how | one epoch | basis |")
    print("|---|---|---|---|")
    print(f"| this CPU, {env_note} | users / measured seq/s on the share | {clock(epoch_users / share_rate)} | {share_rate:.1f} seq/s (share epoch) |")
    if math.isfinite(full_rate):
        print(f"| this CPU, {env_note} | users / measured seq/s on the full data | {clock(epoch_users / full_rate)} | {full_rate:.1f} seq/s (first steps at full size) |")
    print(f"| this CPU, {env_note} | epoch FLOPs / measured FLOP/s | {clock(epoch_flops_128 / cpu_flops_s)} | {cpu_flops_s / 1e9:.1f} GFLOP/s |")
    if full_loss_rate:
        print(f"| this CPU, {env_note}, full softmax | users / measured seq/s | {clock(epoch_users / full_loss_rate)} | {full_loss_rate:.1f} seq/s (first steps, share) |")

    overhead = args.overhead_ms / 1e3
    from training.model_config import ModelConfig, parameter_count

    # as animerec train builds it here: no genres, no positional embedding (unordered data)
    params = parameter_count(ModelConfig(num_items=n_items, max_len=MAX_LEN, hidden=HIDDEN, layers=LAYERS, heads=HEADS, genres=False, positional=False, readout="items"))
    allreduce = 2 * 7 / 8 * 4 * params / (NVLINK_BUS_GBPS * 1e9) + 2 * 30e-6  # fp32 gradients, ring; plus two small all-reduces a step (any_rank)
    steps_1 = gpu_flops.size
    per_rank = math.ceil(steps_1 / 8)
    # rank r takes batches r, r + 8, ...: its FLOPs are its share of the epoch's
    rank_flops = max(float(gpu_flops[r::8].sum()) for r in range(8))
    for mfu in (float(m) for m in args.mfu.split(",")):
        rate = H100_BF16_TFLOPS * 1e12 * mfu
        one = gpu_flops.sum() / rate + steps_1 * (host_s + overhead)
        eight = rank_flops / rate + per_rank * (host_s + overhead + allreduce)
        print(f"| 1 H100, bf16, batch {args.gpu_batch:,} | {mfu:.0%} of {H100_BF16_TFLOPS:.0f} TFLOPS + host + overhead | **{clock(one)}** (projected) | "
              f"{steps_1:,} steps; compute {clock(gpu_flops.sum() / rate)}, host {clock(steps_1 * host_s)}, overhead {clock(steps_1 * overhead)} |")
        print(f"| 8 H100, torchrun DDP, bf16, batch {args.gpu_batch:,} per GPU | same, + all-reduce | **{clock(eight)}** (projected) | "
              f"{per_rank:,} steps a rank; compute {clock(rank_flops / rate)}, host {clock(per_rank * host_s)}, all-reduce {clock(per_rank * allreduce)}; "
              f"speed-up {one / eight:.1f}x |")
    rate = H100_BF16_TFLOPS * 1e12 * 0.30
    print(f"| 1 H100, bf16, batch {BATCH} (the reference's) | 30% of {H100_BF16_TFLOPS:.0f} TFLOPS + host + overhead | "
          f"{clock(epoch_flops_128 / rate + rows.size * (host_128 + overhead))} (projected) | {rows.size:,} steps; compute {clock(epoch_flops_128 / rate)}, "
          f"host {clock(rows.size * host_128)}, overhead {clock(rows.size * overhead)} |")
    rate = H100_FP32_TFLOPS * 1e12 * 0.30
    print(f"| 1 H100, fp32 (no tensor cores), batch {args.gpu_batch:,} | 30% of {H100_FP32_TFLOPS:.0f} TFLOPS + host + overhead | "
          f"{clock(gpu_flops.sum() / rate + steps_1 * (host_s + overhead))} (projected) | |")
    print(f"""
The GPU rows are a projection on paper, not a measurement (no GPU in this session). Assumptions:
- peak: H100 SXM {H100_BF16_TFLOPS:.0f} TFLOPS dense bf16, {H100_FP32_TFLOPS:.0f} TFLOPS fp32; achieved share {args.mfu} of it for the products
  counted (hidden 256 makes every product thin: K = 256 keeps them near the memory-bandwidth limit, and the
  uncounted element-wise work (layer norms, GELU, dropout, the votes' masks and log-sum-exps) costs time, not FLOPs);
- host: the training loop builds each batch on the CPU before its step and `float(loss)` waits for the GPU every
  step, so nothing overlaps: the measured BatchBuilder time ({host_s * 1e3:.1f} ms for {args.gpu_batch:,} users, this CPU) is added to every step;
- overhead: {args.overhead_ms:g} ms a step for kernel launches and the step's host syncs (an assumption);
- 8 GPUs: each rank takes every 8th batch (training/train.py), so steps a rank = ceil(steps / 8); DDP all-reduces
  {params / 1e6:.2f}M fp32 gradients ({4 * params / 1e6:.0f} MB) a step, ring over NVLink at {NVLINK_BUS_GBPS:.0f} GB/s bus bandwidth
  ({allreduce * 1e3:.2f} ms a step with the two small all-reduces of the stop check), not overlapped with the backward pass;
  every rank loads the whole data: host memory of about 8 x {full_stage.peak_gb:.2f} GB (the full-data stage's peak RSS) = {8 * full_stage.peak_gb:.0f} GB;
- left out: validation ({min(args.val_users, epoch_users):,} users, rank 0 only, after each epoch; measured here at {val_s:.0f} s for {val_users:,} users on this CPU),
  the checkpoint, process start-up and the data load (in the full-data stage's wall above).""")


if __name__ == "__main__":
    main()

"""Training-step throughput: animerec's step against the naive formulation, same model, same batch.

Naive (as the reference does it): a Python loop over every item of every sequence to mask
it, and logits for every position of every sequence (batch x length x catalogue) fed to a
cross-entropy that ignores unmasked positions. Ours: vectorised masking and the shipped
model's loss: with ``--readout items`` (the default for sets, as shipped) every item of a
row votes for each candidate, a batch x length x catalogue tensor of votes per step; with
``--readout mask`` (classic BERT4Rec) scores only at masked positions, computed once per
row. ``--loss sampled`` (the items readout) trains ours with the sampled softmax of
``--negatives`` anime a step (``BERT4Rec.sampled_items_loss``): no batch x length x catalogue
votes. Each runs in its own process so peak memory is its own; ``--rounds 2`` alternates them
(naive, ours, naive, ours) so a drift of the machine's speed falls on both.

``--lengths full`` (the default): one batch of random tokens filling every position of every
row, timed ``--steps`` times. ``--lengths reference``: the list lengths users have. ``--users``
users are drawn from the training lists of a preprocessed folder (``--lengths-from``; by default
``generate_reference_scale.py --scale`` of the reference's size, through ``animerec preprocess``,
cached under the temporary folder: the same shape of length distribution as the full size), with
their own anime (ids above ``--items`` folded into range). Naive, as the reference's BERT4Rec
code does it: random batches of ``--batch`` of those users, every row padded to ``--length``
(``--naive-steps`` of them timed, 0 = all: every naive step has the same shape). Ours, as
``animerec train`` batches them: ``length_bucketed`` batches of the same users (similar lengths
together) built by ``BatchBuilder`` (padding only to the batch's longest row, lists longer than
``--length`` cut to a random subset), every batch of the epoch timed. Building the batch is
inside the timed step for both. ``--busy`` keeps one core busy with a competing process meanwhile.

    python benchmarks/train_throughput.py [--readout items|mask] [--loss full|sampled] [--negatives 1024] [--items 16358] [--hidden 256] [--batch 128] [--length 128] [--steps 3] [--rounds 1] [--threads N] [--precision auto|fp32|bf16]
        [--lengths full|reference] [--lengths-from PREPROCESSED] [--scale 0.01] [--users 8192] [--naive-steps 0] [--busy]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from _common import REPO, BusyCore, cpu_model, hardware

from training.config import TrainConfig
from training.data import BatchBuilder, length_bucketed, mask_tokens, pad_rows
from training.device import mixed_precision
from training.model import READOUTS, BERT4Rec, ModelConfig
from training.sampled_loss import sample_negatives


def naive_mask(tokens: torch.Tensor, prob: float, mask_id: int, num_items: int, rng: random.Random):
    """The per-item Python loop of the reference (80/10/10), labels 0 where not masked."""
    inputs, labels = tokens.clone().tolist(), [[0] * tokens.shape[1] for _ in range(tokens.shape[0])]
    for row in range(len(inputs)):
        for col, item in enumerate(inputs[row]):
            if item != 0 and rng.random() < prob:
                labels[row][col] = item
                roll = rng.random()
                if roll < 0.8:
                    inputs[row][col] = mask_id
                elif roll < 0.9:
                    inputs[row][col] = rng.randint(1, num_items)
    return torch.tensor(inputs), torch.tensor(labels)


def reference_folder(scale: float, seed: int) -> Path:
    """A preprocessed copy of ``generate_reference_scale.py`` at ``scale``, made once and cached."""
    cache = Path(tempfile.gettempdir()) / f"animerec-throughput-lengths-{scale:g}-{seed}"
    folder = cache / "pp"
    if (folder / "manifest.json").is_file():
        return folder
    users, ratings = round(1_770_000 * scale), round(148_000_000 * scale)  # the reference's size, as reference_e2e.py
    cache.mkdir(parents=True, exist_ok=True)
    print(f"generating {users:,} users, {ratings:,} ratings into {cache} (once; cached)", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, REPO / "benchmarks/generate_reference_scale.py", "--out", cache, "--users", str(users), "--ratings", str(ratings),
                    "--seed", str(seed)], check=True, cwd=REPO, stdout=sys.stderr)
    subprocess.run([sys.executable, "-m", "animerec_tui", "preprocess", cache / "ratings.npy", "--out", folder, "--force"], check=True, cwd=REPO, stdout=sys.stderr)
    (cache / "ratings.npy").unlink()
    return folder


def reference_lists(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, items, lengths, users): the folder's training lists (ids folded into 1..--items) and ``--users`` users drawn from them."""
    folder = Path(args.lengths_from)
    offsets, items = np.load(folder / "train_offsets.npy").astype(np.int64), np.load(folder / "train_items.npy").astype(np.int64)
    items = (items - 1) % args.items + 1
    lengths = np.diff(offsets)
    pool = np.flatnonzero(lengths > 0)
    users = np.random.default_rng(args.seed).choice(pool, size=args.users, replace=args.users > pool.size)
    return offsets, items, lengths, users


def reference_batches(kind: str, args) -> tuple[list[np.ndarray], Callable[[np.ndarray, np.random.Generator], np.ndarray], torch.Tensor]:
    """The batches of users ``kind`` trains on, a function building a batch's tokens, and the sampler's popularity."""
    offsets, items, lengths, users = reference_lists(args)
    popularity = torch.from_numpy(np.maximum(np.bincount(items, minlength=args.items + 1)[1:], 1))  # as training/train.py
    if kind == "naive":  # random batches, every row padded to the full length
        order = np.random.default_rng([args.seed, 1]).permutation(users)
        batches = [order[i : i + args.batch] for i in range(0, order.size, args.batch)]
        batches = batches[: args.naive_steps] if args.naive_steps else batches

        def build(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            return pad_rows(offsets, items, batch, args.length, False, rng, width=args.length)

        return batches, build, popularity
    # ours: animerec train's own batching (training/train.py): length-bucketed users, BatchBuilder rows trimmed to the longest
    return length_bucketed(users, lengths, args.batch, np.random.default_rng([args.seed, 0])), BatchBuilder(offsets, items, args.length, ordered=False), popularity


def run(kind: str, args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = ModelConfig(num_items=args.items, max_len=args.length, hidden=args.hidden, layers=2, heads=4, dropout=0.1, genres=False, readout=args.readout)
    device = args.device
    model = BERT4Rec(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device == "cuda")
    generator, rng = torch.Generator(device=device).manual_seed(0), random.Random(0)
    autocast = mixed_precision(device, args.precision)
    if args.lengths == "full":
        tokens = torch.randint(1, args.items + 1, (args.batch, args.length))
        popularity = torch.bincount(tokens.flatten(), minlength=args.items + 1)[1:].clamp_min(1)
        batches, build = [None] * args.steps, lambda batch, np_rng: tokens
    else:
        batches, build, popularity = reference_batches(kind, args)
    popularity = popularity if args.sampler == "popularity" else None

    def step(tokens: torch.Tensor) -> None:
        with autocast:
            if kind == "naive":
                inputs, labels = naive_mask(tokens, 0.2, config.mask_id, args.items, rng)
                hidden = model.encode(inputs.to(device))
                logits = model.score(hidden)  # batch x length x catalogue
                loss = F.cross_entropy(logits.view(-1, args.items).float(), (labels.to(device) - 1).view(-1), ignore_index=-1)
            else:
                inputs, positions, labels = mask_tokens(tokens.to(device, non_blocking=True), 0.2, config.mask_id, args.items, generator)
                negatives = sample_negatives(args.items, args.negatives, generator, popularity) if args.loss == "sampled" else None
                loss = model.cloze_loss(inputs, positions, labels, negatives=negatives)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def tokens_of(index: int) -> torch.Tensor:
        return torch.as_tensor(build(batches[index], np.random.default_rng([args.seed, 2, index])))

    step(tokens_of(0))  # warm-up
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    rows = widths = 0
    started = time.perf_counter()
    for index in range(len(batches)):
        tokens = tokens_of(index)  # built inside the timed step, as the training loop does
        step(tokens)
        rows, widths = rows + tokens.shape[0], widths + tokens.shape[0] * tokens.shape[1]
    sync()
    elapsed = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 1024**3 if device == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {"seq_per_s": rows / elapsed, "step_s": elapsed / len(batches), "peak_rss_gb": peak, "steps": len(batches), "rows": rows, "mean_padded": widths / rows}


def describe_lengths(args) -> str:
    """The length distribution drawn from, and the users drawn: mean, quantiles, share of lists past --length."""
    _, _, lengths, users = reference_lists(args)
    pool = lengths[lengths > 0]

    def summary(values: np.ndarray) -> str:
        q = np.percentile(values, [10, 25, 50, 75, 90, 99])
        return (f"mean {values.mean():.1f} (capped at {args.length}: {np.minimum(values, args.length).mean():.1f}), "
                f"p10/25/50/75/90/99 {'/'.join(f'{v:.0f}' for v in q)}, {(values > args.length).mean():.1%} longer than {args.length}")

    return (f"training lists of {args.lengths_from}: {pool.size:,} users, {int(pool.sum()):,} items; {summary(pool)}\n\n"
            f"the {users.size:,} users drawn (seed {args.seed}): {summary(lengths[users])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=16_358)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--kind", choices=["naive", "ours"])
    parser.add_argument("--readout", choices=READOUTS, default=ModelConfig.readout, help="our formulation's readout (the naive one reads every position)")
    parser.add_argument("--loss", choices=["full", "sampled"], default=TrainConfig.loss, help="our formulation's softmax (the items readout)")
    parser.add_argument("--negatives", type=int, default=TrainConfig.negatives, help="with --loss sampled: negatives a step")
    parser.add_argument("--sampler", choices=["popularity", "uniform"], default=TrainConfig.sampler, help="with --loss sampled: how negatives are drawn")
    parser.add_argument("--rounds", type=int, default=1, help="alternate naive and ours this many times, each in a fresh process")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own count)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="both formulations: auto = bf16 on CUDA, fp32 on CPU")
    parser.add_argument("--lengths", choices=["full", "reference"], default="full",
                        help="full: random tokens in every position of every row; reference: users' real list lengths (see above)")
    parser.add_argument("--lengths-from", help="with --lengths reference: a preprocessed folder whose training lists are drawn from [default: the reference's data at --scale, cached]")
    parser.add_argument("--scale", type=float, default=0.01, help="with --lengths reference and no --lengths-from: share of the reference's users and ratings to generate")
    parser.add_argument("--users", type=int, default=8192, help="with --lengths reference: users drawn (one epoch of them; 8,192 = one length_bucketed window of 64 batches of 128)")
    parser.add_argument("--naive-steps", type=int, default=0, help="with --lengths reference: time only the first N of naive's random batches (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--busy", action="store_true", help="keep one core busy with a competing process meanwhile")
    args = parser.parse_args()
    if args.kind:
        print(json.dumps(run(args.kind, args)))
        return
    if args.lengths == "reference" and not args.lengths_from:
        args.lengths_from = str(reference_folder(args.scale, args.seed))
    results: dict[str, list[dict]] = {"naive": [], "ours": []}
    with BusyCore(args.busy):
        for _ in range(args.rounds):
            for kind in ("naive", "ours"):
                options = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("kind", "rounds", "busy") and v is not None]
                command = [sys.executable, __file__, "--kind", kind, *options]
                before = os.getloadavg()
                results[kind].append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
                results[kind][-1]["load"] = f"{before[0]:.2f} -> {os.getloadavg()[0]:.2f}"
    threads = args.threads or torch.get_num_threads()
    ours = f"the {args.readout} readout" + (f", {args.loss} softmax" + (f" of {args.negatives:,} {args.sampler} negatives" if args.loss == "sampled" else "") if args.readout == "items" else "")
    busy = "one core kept busy by a competing process" if args.busy else "no competing process"
    print(f"\n### Training step, {args.items:,} items, hidden {args.hidden}, 2 blocks, 4 heads, length {args.length}, batch {args.batch}, ours with {ours} — "
          f"{cpu_model()}, {hardware()}, {threads} threads, {busy}\n")
    print(f"device {args.device}, precision {args.precision}; peak memory is {'GPU memory allocated' if args.device == 'cuda' else 'process RSS'}; rounds in order; "
          "load: the 1-minute load average before -> after each process\n")
    if args.lengths == "reference":
        print(describe_lengths(args) + "\n")
        print(f"naive: random batches of {args.batch} of these users, every row padded to {args.length}; ours: the same users in animerec train's "
              f"length-bucketed batches (BatchBuilder, padded to each batch's longest row); sequences/s = rows trained / seconds of the timed steps\n")
    else:
        print(f"lengths full: one batch of random tokens, all {args.length} positions of every row real, {args.steps} timed steps after a warm-up\n")
    print("| round | formulation | steps timed | sequences/s | s/step | mean padded length | peak GB | load |")
    print("|---|---|---|---|---|---|---|---|")
    for round_ in range(args.rounds):
        for kind in ("naive", "ours"):
            r = results[kind][round_]
            print(f"| {round_ + 1} | {kind} | {r['steps']} | {r['seq_per_s']:.1f} | {r['step_s']:.2f} | {r['mean_padded']:.1f} | {r['peak_rss_gb']:.2f} | {r['load']} |")
    ratios = [o["seq_per_s"] / n["seq_per_s"] for n, o in zip(results["naive"], results["ours"])]
    print(f"\nratio (ours / naive, by round): {' / '.join(f'{r:.1f}x' for r in ratios)}")

if __name__ == "__main__":
    main()

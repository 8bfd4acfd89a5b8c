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

    python benchmarks/train_throughput.py [--readout items|mask] [--loss full|sampled] [--negatives 1024] [--items 16358] [--hidden 256] [--batch 128] [--length 128] [--steps 3] [--rounds 1] [--threads N] [--precision auto|fp32|bf16]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from _common import hardware

from training.config import TrainConfig
from training.data import mask_tokens
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


def run(kind: str, args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = ModelConfig(num_items=args.items, max_len=args.length, hidden=args.hidden, layers=2, heads=4, dropout=0.1, genres=False, readout=args.readout)
    device = args.device
    model = BERT4Rec(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device == "cuda")
    tokens = torch.randint(1, args.items + 1, (args.batch, args.length))
    generator, rng = torch.Generator(device=device).manual_seed(0), random.Random(0)
    autocast = mixed_precision(device, args.precision)
    popularity = torch.bincount(tokens.flatten(), minlength=args.items + 1)[1:].clamp_min(1) if args.sampler == "popularity" else None

    def step() -> None:
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

    step()  # warm-up
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    seconds = (time.perf_counter() - started) / args.steps
    peak = torch.cuda.max_memory_allocated() / 1024**3 if device == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {"seq_per_s": args.batch / seconds, "step_s": seconds, "peak_rss_gb": peak}


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
    args = parser.parse_args()
    if args.kind:
        print(json.dumps(run(args.kind, args)))
        return
    results: dict[str, list[dict]] = {"naive": [], "ours": []}
    for _ in range(args.rounds):
        for kind in ("naive", "ours"):
            command = [sys.executable, __file__, "--kind", kind, *[f"--{k}={v}" for k, v in vars(args).items() if k not in ("kind", "rounds")]]
            results[kind].append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
    threads = args.threads or torch.get_num_threads()
    ours = f"the {args.readout} readout" + (f", {args.loss} softmax" + (f" of {args.negatives:,} {args.sampler} negatives" if args.loss == "sampled" else "") if args.readout == "items" else "")
    print(f"\n### Training step, {args.items:,} items, hidden {args.hidden}, 2 blocks, 4 heads, length {args.length}, batch {args.batch}, ours with {ours} — {hardware()}, {threads} threads\n")
    print(f"device {args.device}, precision {args.precision}; peak memory is {'GPU memory allocated' if args.device == 'cuda' else 'process RSS'}; rounds in order\n")
    print("| round | formulation | sequences/s | s/step | peak GB |")
    print("|---|---|---|---|---|")
    for round_ in range(args.rounds):
        for kind in ("naive", "ours"):
            r = results[kind][round_]
            print(f"| {round_ + 1} | {kind} | {r['seq_per_s']:.1f} | {r['step_s']:.2f} | {r['peak_rss_gb']:.2f} |")
    ratios = [o["seq_per_s"] / n["seq_per_s"] for n, o in zip(results["naive"], results["ours"])]
    print(f"\nratio (ours / naive, by round): {' / '.join(f'{r:.1f}x' for r in ratios)}")

if __name__ == "__main__":
    main()

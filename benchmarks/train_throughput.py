"""Training-step throughput: animerec's step against the naive formulation, same model, same batch.

Naive (as the reference does it): a Python loop over every item of every sequence to mask
it, and logits for every position of every sequence (batch x length x catalogue) fed to a
cross-entropy that ignores unmasked positions. Ours: vectorised masking and the shipped
model's loss: with ``--readout items`` (the default for sets, as shipped) every item of a
row votes for each candidate, a batch x length x catalogue tensor of votes per step; with
``--readout mask`` (classic BERT4Rec) scores only at masked positions, computed once per
row. Each runs in its own process so peak memory is its own.

    python benchmarks/train_throughput.py [--readout items|mask] [--items 16358] [--hidden 256] [--batch 128] [--length 128] [--steps 3] [--precision auto|fp32|bf16]
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

from training.data import mask_tokens
from training.device import mixed_precision
from training.model import READOUTS, BERT4Rec, ModelConfig


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
    torch.manual_seed(0)
    config = ModelConfig(num_items=args.items, max_len=args.length, hidden=args.hidden, layers=2, heads=4, dropout=0.1, genres=False, readout=args.readout)
    device = args.device
    model = BERT4Rec(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device == "cuda")
    tokens = torch.randint(1, args.items + 1, (args.batch, args.length))
    generator, rng = torch.Generator(device=device).manual_seed(0), random.Random(0)
    autocast = mixed_precision(device, args.precision)

    def step() -> None:
        with autocast:
            if kind == "naive":
                inputs, labels = naive_mask(tokens, 0.2, config.mask_id, args.items, rng)
                hidden = model.encode(inputs.to(device))
                logits = model.score(hidden)  # batch x length x catalogue
                loss = F.cross_entropy(logits.view(-1, args.items).float(), (labels.to(device) - 1).view(-1), ignore_index=-1)
            else:
                inputs, positions, labels = mask_tokens(tokens.to(device, non_blocking=True), 0.2, config.mask_id, args.items, generator)
                loss = model.cloze_loss(inputs, positions, labels)
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
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="both formulations: auto = bf16 on CUDA, fp32 on CPU")
    args = parser.parse_args()
    if args.kind:
        print(json.dumps(run(args.kind, args)))
        return
    results = {}
    for kind in ("naive", "ours"):
        command = [sys.executable, __file__, "--kind", kind, *[f"--{k}={v}" for k, v in vars(args).items() if k != "kind"]]
        results[kind] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    print(f"\n### Training step, {args.items:,} items, hidden {args.hidden}, 2 blocks, 4 heads, length {args.length}, batch {args.batch}, ours with the {args.readout} readout — {hardware()}, {torch.get_num_threads()} threads\n")
    print(f"device {args.device}, precision {args.precision}; peak memory is {'GPU memory allocated' if args.device == 'cuda' else 'process RSS'}\n")
    print("| formulation | sequences/s | s/step | peak GB |")
    print("|---|---|---|---|")
    for kind, r in results.items():
        print(f"| {kind} | {r['seq_per_s']:.1f} | {r['step_s']:.2f} | {r['peak_rss_gb']:.2f} |")
    print(f"\nratio: {results['ours']['seq_per_s'] / results['naive']['seq_per_s']:.1f}x")


if __name__ == "__main__":
    main()

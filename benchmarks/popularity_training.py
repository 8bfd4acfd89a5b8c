"""Popularity bias from the training side (issue 16, part 3): the tables of
benchmarks/RESULTS.md, section 11, from runs already trained and evaluated.

    python benchmarks/popularity_training.py --data runs/fields/data --eval runs/pop-eval \\
        NAME=RUN_DIR[:LABEL] ...

Each NAME must have NAME-val.json and NAME-test.json in ``--eval``, written by
``benchmarks/novelty.py --json`` at settings 0 (the model as served) and 1 (its output bias
taken out at inference). Besides those figures, for each run this reads, from the checkpoint
``novelty.py`` scored (the best epoch by validation NDCG@10):

- the best epoch and the mean seconds per epoch (the run's history);
- the bias slope: the least-squares slope of the learnt output bias of the rated anime on
  log(1 + training count). 1 means the bias carries an anime's whole log popularity (the
  initialisation sets it to exactly that); the popularity-debiased loss should lower it by
  about its BETA.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.checkpoint import load_model, read_meta, resolve_model_dir  # noqa: E402
from training.data import load_dataset  # noqa: E402


def bias_slope(run: Path, counts: np.ndarray) -> float:
    model, _ = load_model(run)
    with torch.no_grad():
        bias = model.output_bias(count=counts.size).numpy().astype(np.float64)
    x = np.log1p(counts)
    return float(np.polyfit(x, bias, 1)[0])


def run_facts(run: Path) -> tuple[int, float, dict]:
    meta = read_meta(resolve_model_dir(run, "best"))
    history = json.loads((run / "history.json").read_text())
    seconds = float(np.mean([h["seconds"] for h in history]))
    return int(meta["best"]["epoch"]), seconds, meta["train_config"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--eval", type=Path, required=True, help="Folder of novelty.py --json outputs (NAME-val.json, NAME-test.json).")
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR or NAME=RUN_DIR:LABEL")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset(args.data)
    counts = np.bincount(data.splits["train"][1], minlength=data.num_items + 1)[1:]
    rows = []
    for spec in args.runs:
        name, _, rest = spec.partition("=")
        path, _, label = rest.partition(":")
        run = Path(path)
        best, seconds, config = run_facts(run)
        found = {split: json.loads((args.eval / f"{name}-{split}.json").read_text()) for split in ("val", "test")}
        rows.append((label or name, best, config, seconds, bias_slope(run, counts), found))
    print(f"# python {' '.join(sys.argv)}\n")
    print("| variant | epochs (best) | s/epoch | bias slope | val NDCG@10 | test NDCG@10 (± se) | test Recall@10 | top-10 popularity percentile | coverage@10 | long-tail share |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, best, config, seconds, slope, found in rows:
        val, test = (next(r for r in found[s]["rows"] if r["novelty"] == 0.0) for s in ("val", "test"))
        print(f"| {label} | {config['epochs']} ({best}) | {seconds:.0f} | {slope:.2f} | {val['ndcg@10']:.4f} | {test['ndcg@10']:.4f} (± {test['ndcg@10_se']:.4f}) | "
              f"{test['recall@10']:.4f} | {test['popularity_percentile']:.1f} | {test['coverage@10']:.3f} ({test['distinct@10']:,}) | {test['long_tail_share']:.3f} |")
    print("\nThe same runs with the output bias taken out at inference (novelty 1):\n")
    print("| variant | val NDCG@10 | test NDCG@10 (± se) | test Recall@10 | top-10 popularity percentile | coverage@10 | long-tail share |")
    print("|---|---|---|---|---|---|---|")
    for label, _, _, _, _, found in rows:
        zero = [next((r for r in found[s]["rows"] if r["novelty"] == 1.0), None) for s in ("val", "test")]
        if None in zero:
            continue
        val, test = zero
        print(f"| {label}, bias out | {val['ndcg@10']:.4f} | {test['ndcg@10']:.4f} (± {test['ndcg@10_se']:.4f}) | {test['recall@10']:.4f} | "
              f"{test['popularity_percentile']:.1f} | {test['coverage@10']:.3f} ({test['distinct@10']:,}) | {test['long_tail_share']:.3f} |")


if __name__ == "__main__":
    main()

"""Choose the items readout's vote temperature and bias weight on the validation split.

    python scripts/calibrate_readout.py MODEL [--data DATA] [--temperatures 0.6,0.7,...] [--bias-weights 1,1.1,...] [--write]

A score is T * logsumexp(votes / T) + w * bias (``ModelConfig.vote_temperature`` and
``bias_weight``); training is at T = 1, w = 1. For every pair of the grid this scores the
validation users (full ranking over the data's anime, each user's inputs left out, as
`animerec eval` does) and prints NDCG@10 and Recall@10; the best NDCG@10 wins (the model's
current pair on a tie). ``--write`` stores it in MODEL's meta.json (a model folder, or a
run's best checkpoint), written atomically; nothing else in the folder changes. The test
split is never read.

Written into a run, the pair goes to its best checkpoint: a later `train --resume` of that
run validates at the new readout while its saved history is at T 1; calibrate exported model
folders (such as Data/model) rather than runs you mean to go on training.

MODEL: a run or model folder with the items readout. DATA: the preprocessed data it was
trained on (default: the data its meta.json names, else the shipped training data).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.data import load_dataset  # noqa: E402
from training.errors import UserError  # noqa: E402
from training.evaluate import full_ranks, metrics_from_ranks, split_inputs  # noqa: E402
from training.fsutil import atomic_write_bytes  # noqa: E402
from training.model_config import ModelConfig, range_of  # noqa: E402
from training.model_files import META_FILE, json_bytes, read_meta, resolve_model_dir  # noqa: E402
from training.numpy_model import NumpyScorer, Voters, load_numpy_model, vote_logsumexp  # noqa: E402


def numbers(field: str):
    """An argparse type: a comma-separated list of numbers in ModelConfig's range for ``field``."""
    bounds = range_of(ModelConfig, field)
    assert bounds is not None
    low, high = bounds.low, bounds.high

    def parse(text: str) -> list[float]:
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
        if not values:
            raise argparse.ArgumentTypeError("the list is empty")
        for value in values:
            if not low <= value <= high:  # NaN fails this too
                raise argparse.ArgumentTypeError(f"{value} is not from {low} to {high}")
        return values

    return parse


def grid_metrics(folder: Path, data_dir: Path, temperatures: list[float], weights: list[float], split: str = "val") -> dict[tuple[float, float], dict]:
    """NDCG@10 and Recall@10 on ``split`` for every (temperature, bias weight) pair."""
    loaded = load_numpy_model(folder)
    if loaded is None:
        raise UserError(f"{folder}: the readout temperature applies to set models with the items readout only")
    model, _ = loaded
    data = load_dataset(data_dir)
    n = data.num_items
    if n > model.config.num_items:
        raise UserError(f"{data_dir}: its {n:,} anime are more than the model knows ({model.config.num_items:,}); use the data it was trained on")
    model.config.vote_temperature, model.config.bias_weight = 1.0, 1.0  # votes at T = 1, scaled below
    scorer = NumpyScorer(model)
    bias = scorer.bias[:n]
    users, offsets, items, targets = split_inputs(data, split)
    columns = np.arange(n)
    ranks: dict[tuple[float, float], list[np.ndarray]] = {(t, w): [] for t in temperatures for w in weights}
    for start in range(0, users.size, 256):  # ranks per batch: a users x anime matrix per pair would not fit
        batch = users[start : start + 256]
        rows = [items[offsets[u] : offsets[u + 1]].tolist() for u in batch]
        encoded = scorer.encode(rows)
        voters = encoded.voters
        chunks = np.bincount(encoded.owner, minlength=batch.size)[:, None].astype(np.float32)
        for t in temperatures:
            per_row = vote_logsumexp(Voters(voters.vectors / np.float32(t), voters.row, voters.own, voters.rows), scorer.weights, model.config.mask_id, columns) * t
            total = np.zeros((batch.size, n), dtype=np.float32)
            np.add.at(total, encoded.owner, per_row)
            total /= chunks
            for w in weights:  # ranked as `animerec eval` ranks
                ranks[(t, w)].append(full_ranks(total + np.float32(w) * bias, batch, offsets, items, targets[start : start + 256]))
    return {pair: metrics_from_ranks(np.concatenate(parts)) for pair, parts in ranks.items()}


def write_choice(folder: Path, temperature: float, weight: float) -> None:
    """Store the pair in ``folder``'s meta.json, replacing the file atomically."""
    path = folder / META_FILE
    meta = json.loads(path.read_text())
    meta["model_config"]["vote_temperature"] = temperature
    meta["model_config"]["bias_weight"] = weight
    try:
        ModelConfig.from_dict(meta["model_config"])  # checked before anything is replaced
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: would not be a valid model with these values ({exc}); nothing written") from None
    atomic_write_bytes(path, json_bytes(meta), path.stat().st_mode & 0o777)  # the file's own mode kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--temperatures", type=numbers("vote_temperature"), default=[0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0])
    parser.add_argument("--bias-weights", type=numbers("bias_weight"), default=[0.9, 1.0, 1.1, 1.2])
    parser.add_argument("--write", action="store_true", help="Store the best pair in the model's meta.json.")
    args = parser.parse_args()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, "blas")
        folder = resolve_model_dir(args.model)
        meta = read_meta(folder)
        data = args.data
        if data is None:
            named = meta.get("data", {}).get("path")
            if named and Path(named).is_dir():
                data = Path(named)
            else:
                from animerec_tui.runs import shipped_training_data

                data = shipped_training_data()
        results = grid_metrics(folder, data, args.temperatures, args.bias_weights)
        current = (float(meta["model_config"].get("vote_temperature", 1.0)), float(meta["model_config"].get("bias_weight", 1.0)))
        best = max(results, key=lambda pair: (results[pair]["ndcg@10"], pair == current))
        print(f"# python {' '.join(sys.argv)}\n# validation split of {data}\n")
        print("| temperature | bias weight | val NDCG@10 | val Recall@10 |\n|---|---|---|---|")
        for (t, w), m in sorted(results.items()):
            mark = " (best)" if (t, w) == best else ""
            print(f"| {t:g} | {w:g} | {m['ndcg@10']:.4f}{mark} | {m['recall@10']:.4f} |")
        if args.write:
            write_choice(folder, *best)
            print(f"\nwrote vote_temperature {best[0]:g} and bias_weight {best[1]:g} to {folder / META_FILE}")
    except UserError as error:
        print(f"calibrate_readout: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train RecBole 1.2.1's BERT4Rec for a wall-clock budget, evaluating at marks along the way.

Run by benchmarks/recbole_compare.py with the python of RecBole's own virtual environment
(it imports nothing from animerec):

    runs/recbole-venv/bin/python benchmarks/recbole_runner.py SPEC.json

SPEC.json: {"data_path", "dataset", "config": {RecBole settings}, "marks": [seconds...],
"out": results.jsonl}. Training seconds exclude evaluation: the clock stops while the
model is evaluated at a mark. At each mark the valid and test users are ranked against the
full catalogue, twice from the same scores: with the user's earlier items excluded
(animerec's protocol, training/evaluate.py) and without (RecBole's own protocol for
sequential models, whose full-sort evaluation masks no history). One JSON line per mark
goes to ``out`` as soon as it is known.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
from collections import defaultdict


class _Done(Exception):
    """The last mark has been evaluated: training stops."""


def _ranks(scores, targets, masks):
    """0-based ranks of ``targets`` (the target loses ties), with and without ``masks``."""
    import torch

    rows = torch.arange(scores.size(0))
    scores = scores.clone()
    scores[:, 0] = -math.inf  # padding
    target_scores = scores[rows, targets].clone()
    scores[rows, targets] = -math.inf
    native = (scores >= target_scores[:, None]).sum(dim=1)
    for row, seen in enumerate(masks):
        scores[row, seen] = -math.inf
    masked = (scores >= target_scores[:, None]).sum(dim=1)
    return masked, native


def _metrics(ranks) -> dict:
    import torch

    ranks = ranks.double()
    hit = ranks < 10
    return {"ndcg@10": float(torch.where(hit, 1.0 / torch.log2(ranks + 2.0), torch.zeros_like(ranks)).mean()),
            "recall@10": float(hit.double().mean())}


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import BERT4Rec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    started = time.perf_counter()
    config = Config(model="BERT4Rec", dataset=spec["dataset"], config_dict={"data_path": spec["data_path"], **spec["config"]})
    init_seed(config["seed"], config["reproducibility"])
    torch.set_num_threads(threads)  # after RecBole's own set-up, in case it changed it
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = BERT4Rec(config, train_data._dataset).to(config["device"])
    trainer = Trainer(config, model)
    prepared = time.perf_counter() - started

    # Each user's items in time order (internal ids): build() sorted the dataset by time.
    uid_field, iid_field = dataset.uid_field, dataset.iid_field
    users = dataset.inter_feat[uid_field].numpy()
    items = dataset.inter_feat[iid_field].numpy()
    times = dataset.inter_feat[dataset.time_field].numpy()
    order = np.lexsort((times, users))
    sequences: dict[int, list[int]] = defaultdict(list)
    for u, i in zip(users[order].tolist(), items[order].tolist()):
        sequences[u].append(i)

    def evaluate(loader, split: str) -> dict:
        """Full ranking of each user's held-out item: last (test) or second-to-last (valid)."""
        model.eval()
        masked_all, native_all, wrong = [], [], 0
        with torch.no_grad():
            for interaction, _history, _positive_u, _positive_i in loader:
                interaction = interaction.to(config["device"])
                scores = model.full_sort_predict(interaction).view(len(interaction), -1).float()
                targets = interaction[iid_field].long()
                masks = []
                for u, t in zip(interaction[uid_field].tolist(), targets.tolist()):
                    seq = sequences[u]
                    cut = len(seq) - (1 if split == "test" else 2)
                    wrong += seq[cut] != t
                    masks.append(torch.tensor(seq[:cut], dtype=torch.long))
                masked, native = _ranks(scores, targets, masks)
                masked_all.append(masked)
                native_all.append(native)
        model.train()
        masked, native = torch.cat(masked_all), torch.cat(native_all)
        return {"users": int(masked.numel()), "not_last": int(wrong), "masked": _metrics(masked), "native": _metrics(native)}

    marks = sorted(float(m) for m in spec["marks"])
    out = open(spec["out"], "a")
    state = {"eval_s": 0.0, "next": 0, "epoch": 0, "steps": 0, "t0": None}

    def train_seconds() -> float:
        return time.perf_counter() - state["t0"] - state["eval_s"]

    def checkpoint(now: float) -> None:
        tick = time.perf_counter()
        valid, test = evaluate(valid_data, "valid"), evaluate(test_data, "test")
        state["eval_s"] += time.perf_counter() - tick
        record = {"mark_s": marks[state["next"]], "train_s": round(now, 2), "epoch": state["epoch"], "steps": state["steps"],
                  "valid": valid, "test": test, "eval_s": round(time.perf_counter() - tick, 2),
                  "load": [round(x, 2) for x in os.getloadavg()], "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
        out.write(json.dumps(record) + "\n")
        out.flush()
        print(f"recbole  {record['train_s']:7.1f} s  epoch {state['epoch']} step {state['steps']}  "
              f"valid NDCG@10 {valid['masked']['ndcg@10']:.4f}  test NDCG@10 {test['masked']['ndcg@10']:.4f}  "
              f"(RecBole protocol {test['native']['ndcg@10']:.4f})  load {record['load'][0]}", flush=True)
        state["next"] += 1
        if state["next"] == len(marks):
            raise _Done

    class Clocked:
        """The training loader, stopping the clock at each mark to evaluate."""

        def __init__(self, loader) -> None:
            self.loader = loader

        def __len__(self) -> int:
            return len(self.loader)

        def __getattr__(self, name):
            return getattr(self.loader, name)

        def __iter__(self):
            for batch in self.loader:  # a batch's masking (RecBole's transform) counts as training
                now = train_seconds()
                while state["next"] < len(marks) and now >= marks[state["next"]]:
                    checkpoint(now)
                state["steps"] += 1
                yield batch

    print(f"recbole  prepared in {prepared:.1f} s: {len(train_data.dataset):,} training sequences, batch {config['train_batch_size']}, "
          f"{len(train_data)} steps per epoch, torch threads {torch.get_num_threads()}", flush=True)
    state["t0"] = time.perf_counter()
    try:
        while True:
            trainer._train_epoch(Clocked(train_data), state["epoch"], show_progress=False)
            state["epoch"] += 1
    except _Done:
        pass
    print(json.dumps({"done": True, "prepared_s": round(prepared, 1), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}), flush=True)


if __name__ == "__main__":
    main()

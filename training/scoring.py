"""Scoring users with a trained model: the cloze query it was trained for."""

from __future__ import annotations

import numpy as np
import torch

from training.data import chunked_queries, trim_padding
from training.model import BERT4Rec, OutputTable


@torch.no_grad()
def score_users(model: BERT4Rec, offsets: np.ndarray, items: np.ndarray, users: np.ndarray, ordered: bool, device: str = "cpu", table: OutputTable | None = None) -> torch.Tensor:
    """Scores (len(users), n) for each user's items + a mask token, read at the mask.

    Long unordered rows are scored in chunks (see ``chunked_queries``) whose scores are
    averaged, so every favourite counts and the result does not depend on their order.
    """
    config = model.config
    tokens, owner = chunked_queries(offsets, items, users, config.max_len, ordered, config.mask_id)
    tokens = trim_padding(tokens, ordered)
    tokens_t = torch.from_numpy(tokens).to(device)
    if config.readout == "items":
        scores = model.set_scores(tokens_t, table)
    else:
        scores = model.score(model.encode(tokens_t, torch.nonzero(tokens_t == config.mask_id)), table).float()
    if owner.size == len(users):
        return scores
    owner_t = torch.from_numpy(owner).to(device)
    total = torch.zeros(len(users), scores.shape[1], device=scores.device).index_add_(0, owner_t, scores)
    return total / torch.bincount(owner_t, minlength=len(users)).unsqueeze(1)


def model_scorer(model: BERT4Rec, ordered: bool, device: str = "cpu", batch_rows: int = 256, columns: int | None = None):
    """An ``evaluate.Scorer`` over a model (eval mode, output table computed once).

    ``columns``: score items 1..columns only (the data's items: a whole-catalogue model
    also knows anime the data has none of, which a split's ranking leaves out). Default: all.
    """
    model.eval()
    with torch.no_grad():
        table = model.output_table(count=columns)

    def score(users, offsets, items):
        parts = [
            score_users(model, offsets, items, users[i : i + batch_rows], ordered, device, table).cpu().numpy()
            for i in range(0, len(users), batch_rows)
        ]
        return np.concatenate(parts)

    return score

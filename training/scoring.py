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


@torch.no_grad()
def vote_shares(model: BERT4Rec, favourites: np.ndarray, columns: np.ndarray, device: str = "cpu", table: OutputTable | None = None) -> np.ndarray:
    """Each favourite's share of the items readout's score for each candidate: (len(columns), F).

    A candidate's score is the log-sum-exp of the votes of the user's items in context and of
    the mask token; a favourite's share is its vote's softmax weight among them (the mask
    token's share, "the list as a whole", is left out, so a row sums to at most 1). Rows of
    more than ``max_len - 1`` favourites are scored in chunks whose scores are averaged, so
    shares are divided by the number of chunks. ``favourites``: dense ids; ``columns``:
    candidates as output columns (item id - 1).
    """
    config = model.config
    if config.readout != "items":
        raise ValueError("vote shares exist for the items readout only")
    weights = (model.output_table() if table is None else table)[0][torch.as_tensor(columns, device=device)]
    favourites = np.asarray(favourites, dtype=np.int64)
    tokens, _ = chunked_queries(np.asarray([0, favourites.size]), favourites, np.asarray([0]), config.max_len, False, config.mask_id)
    tokens_t = torch.from_numpy(trim_padding(tokens, False)).to(device)
    hidden = model.encode(tokens_t)
    is_mask = tokens_t == config.mask_id
    voters = (tokens_t != 0) & (~is_mask | (torch.cumsum(is_mask, dim=1) == 1))
    row, position = torch.nonzero(voters, as_tuple=True)
    own = tokens_t[row, position]
    votes = hidden[row, position].float() @ weights.float().T  # (voters, candidates)
    votes[own[:, None] == torch.as_tensor(columns + 1, device=device)[None, :]] = -torch.inf  # no vote for oneself
    shares = torch.zeros_like(votes)
    for chunk in range(tokens.shape[0]):
        mine = row == chunk
        shares[mine] = torch.softmax(votes[mine], dim=0) / tokens.shape[0]
    slot = {int(item): i for i, item in enumerate(favourites)}
    out = np.zeros((len(columns), favourites.size), dtype=np.float32)
    for voter, item in enumerate(own.tolist()):
        if item != config.mask_id:
            out[:, slot[item]] = shares[voter].cpu().numpy()
    return out

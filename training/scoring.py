"""Scoring users with a trained torch model: the cloze query it was trained for.

Evaluation and training score whole splits here (``model_scorer``); the app's engine uses
``score_users`` and ``vote_shares`` for the models its numpy path does not take
(``training.numpy_model``, which computes the same for the shipped kind of model).
"""

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
    candidates as output columns (item id - 1). ``numpy_model.shares_from_voters`` is its numpy twin.
    """
    if model.config.readout != "items":
        raise ValueError("vote shares exist for the items readout only")
    weights = (model.output_table() if table is None else table)[0]
    favourites = np.asarray(favourites, dtype=np.int64)
    tokens, _ = chunked_queries(np.asarray([0, favourites.size]), favourites, np.asarray([0]), model.config.max_len, False, model.config.mask_id)
    voters = model.voters(torch.from_numpy(trim_padding(tokens, False)).to(device))
    columns_t = torch.as_tensor(columns, device=weights.device)
    votes = voters.vectors @ weights[columns_t].float().T  # (voters, candidates)
    votes[voters.own[:, None] == (columns_t + 1)[None, :]] = -torch.inf  # no vote for oneself
    shares = torch.zeros_like(votes)
    for chunk in range(voters.rows):
        mine = voters.row == chunk
        shares[mine] = torch.softmax(votes[mine], dim=0) / voters.rows
    own = voters.own.cpu().numpy()
    voting = np.flatnonzero(own != model.config.mask_id)
    by_id = np.argsort(favourites, kind="stable")
    out = np.zeros((len(columns), favourites.size), dtype=np.float32)
    out[:, by_id[np.searchsorted(favourites, own[voting], sorter=by_id)]] = shares[torch.from_numpy(voting)].T.cpu().numpy()
    return out

"""Scoring users with a trained model: the cloze query it was trained for."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from training.data import chunked_queries, trim_padding
from training.model import BERT4Rec, OutputTable, Voters, vote_logsumexp


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
    if model.config.readout != "items":
        raise ValueError("vote shares exist for the items readout only")
    weights = (model.output_table() if table is None else table)[0]
    favourites = np.asarray(favourites, dtype=np.int64)
    tokens, _ = chunked_queries(np.asarray([0, favourites.size]), favourites, np.asarray([0]), model.config.max_len, False, model.config.mask_id)
    voters = model.voters(torch.from_numpy(trim_padding(tokens, False)).to(device))
    return shares_of(voters, weights, favourites, columns, model.config.mask_id)


def shares_of(voters: Voters, weights: torch.Tensor, favourites: np.ndarray, columns: np.ndarray, mask_id: int) -> np.ndarray:
    """``vote_shares`` from one user's encoded voters (all their rows): (len(columns), F)."""
    columns_t = torch.as_tensor(columns, device=weights.device)
    votes = voters.vectors @ weights[columns_t].float().T  # (voters, candidates)
    votes[voters.own[:, None] == (columns_t + 1)[None, :]] = -torch.inf  # no vote for oneself
    shares = torch.zeros_like(votes)
    for chunk in range(voters.rows):
        mine = voters.row == chunk
        shares[mine] = torch.softmax(votes[mine], dim=0) / voters.rows
    own = voters.own.cpu().numpy()
    voting = np.flatnonzero(own != mask_id)
    by_id = np.argsort(favourites, kind="stable")
    out = np.zeros((len(columns), favourites.size), dtype=np.float32)
    out[:, by_id[np.searchsorted(favourites, own[voting], sorter=by_id)]] = shares[torch.from_numpy(voting)].T.cpu().numpy()
    return out


class SetScorer:
    """The items readout for an app that answers many requests of a few favourites each.

    Keeps the output table as scoring wants it (float32, with its largest norm), encodes each
    request once and keeps its voters, so the reasons (``shares``) need no second forward pass,
    and scores only the columns a request can show (``columns``: those its filters pass).
    """

    def __init__(self, model: BERT4Rec, table: OutputTable | None = None) -> None:
        if model.config.readout != "items":
            raise ValueError("SetScorer is for the items readout")
        weights, bias = model.output_table() if table is None else table
        self.model = model
        self.weights = weights.detach().float().contiguous()
        self.bias = bias.detach().float() * model.config.bias_weight
        self.largest = float(self.weights.norm(dim=1).max()) if len(self.weights) else 0.0
        self.bunch = 64
        """Token rows per transformer pass in ``encode``."""

    @torch.no_grad()
    def encode(self, rows: list[list[int]]) -> Encoded:
        """Encode requests (favourites as dense ids, each list non-empty): their token rows go
        through the transformer in bunches of similar length."""
        config = self.model.config
        counts = [len(r) for r in rows]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        items = np.asarray([i for r in rows for i in r], dtype=np.int64)
        tokens, owner = chunked_queries(offsets, items, np.arange(len(rows)), config.max_len, False, config.mask_id)
        tokens = trim_padding(tokens, False)
        # Rows of similar length go through the transformer together, each bunch as wide as
        # its longest row: a bunch of mixed lengths spends most of its work on padding.
        by_length = np.argsort((tokens != 0).sum(axis=1), kind="stable")
        parts = []
        for start in range(0, by_length.size, self.bunch):
            picked = by_length[start : start + self.bunch]
            voters = self.model.voters(torch.from_numpy(trim_padding(tokens[picked], False)).to(self.weights.device))
            parts.append(Voters(voters.vectors, torch.from_numpy(picked).to(voters.row.device)[voters.row], voters.own, voters.rows))
        order = torch.sort(torch.cat([p.row for p in parts]), stable=True).indices  # by row; a row's voters keep their order
        voters = Voters(torch.cat([p.vectors for p in parts])[order], torch.cat([p.row for p in parts])[order], torch.cat([p.own for p in parts])[order], len(tokens))
        return Encoded(owner, voters)

    @torch.no_grad()
    def scores(self, encoded: Encoded, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Scores (len(users), len(columns)) of the encoded requests ``users`` (sorted indices
        into the encoded list) for output columns ``columns`` (sorted): each chunk's log-sum-exp of votes plus the bias, averaged over a
        user's chunks."""
        users = np.asarray(users, dtype=np.int64)
        if users.size == 1:
            voters = encoded.of_user(int(users[0]))
            owner = torch.zeros(voters.rows, dtype=torch.long)
        else:
            rows = np.flatnonzero(np.isin(encoded.owner, users))
            voters = encoded.voters.of_rows(torch.from_numpy(rows).to(self.weights.device))
            owner = torch.from_numpy(np.searchsorted(users, encoded.owner[rows]))
        columns_t = torch.from_numpy(np.asarray(columns, dtype=np.int64)).to(self.weights.device)
        config = self.model.config
        per_row = vote_logsumexp(voters, self.weights, config.mask_id, columns_t, largest=self.largest) * config.vote_temperature + self.bias[columns_t]
        if voters.rows == users.size:  # one row each
            return per_row.cpu().numpy()
        total = torch.zeros(users.size, per_row.shape[1]).index_add_(0, owner, per_row.cpu())
        return (total / torch.bincount(owner, minlength=users.size).unsqueeze(1)).numpy()

    exact_bounds = True
    """``bounds`` are the scores: on a GPU the exact scores cost no more than bounds would."""

    def bounds(self, encoded: Encoded, users: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of ``scores`` as ``NumpyScorer.bounds`` gives them: here the scores themselves."""
        scores = self.scores(encoded, users, columns)
        return scores, scores

    @torch.no_grad()
    def shares(self, encoded: Encoded, user: int, favourites: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """``vote_shares`` for encoded request ``user``: (len(columns), len(favourites))."""
        return shares_of(encoded.of_user(user), self.weights, np.asarray(favourites, dtype=np.int64), columns, self.model.config.mask_id)


@dataclass(frozen=True)
class Encoded:
    """Requests after the forward pass: each token row's request, and the voters."""

    owner: np.ndarray
    """Each token row's request: a request's rows are consecutive."""
    voters: Voters

    def of_user(self, user: int) -> Voters:
        """Request ``user``'s voters, its rows renumbered from 0 (a slice: voters come sorted by row)."""
        first, stop = np.searchsorted(self.owner, [user, user + 1])
        start, end = torch.searchsorted(self.voters.row, torch.tensor([first, stop], device=self.voters.row.device)).tolist()
        return Voters(self.voters.vectors[start:end], self.voters.row[start:end] - int(first), self.voters.own[start:end], int(stop - first))

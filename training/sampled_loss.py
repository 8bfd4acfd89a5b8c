"""The items readout's sampled softmax: its training loss without batch x length x catalogue votes.

The full loss (``BERT4Rec._cloze_loss``) scores every rated anime for every row: each of a
row's voters votes for each anime, a batch x length x catalogue tensor (5.4 GB at the
reference's 16,358 anime, batch 128, length 128), whose products cost as much as the naive
formulation's logits. Here each step draws N anime (``sample_negatives``: uniformly, or by
popularity), shared by the batch; a row's voters vote for those and, per label, for its own target, and the votes
go through ``column_logsumexp`` a block of columns at a time, recomputed in the backward pass
instead of kept. The log-Q correction (each drawn anime's log weight) makes the estimate of
the softmax's sum unbiased; with all R rated anime drawn it is the full softmax, exactly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from training.model import BERT4Rec

FLOOR = torch.finfo(torch.float32).min / 2
"""A vetoed vote: finite, as in the full loss, so a row of nothing but vetoes stays finite."""


def sample_negatives(rated: int, count: int, generator: torch.Generator, popularity: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's negatives: sorted distinct columns of the ``rated`` anime, and each one's log
    weight in the estimate of the softmax's sum (the log-Q correction).

    Uniform (``popularity`` None): ``count`` distinct columns, each weighing R/N. By popularity
    (``popularity``, (rated,) positive: how many training lists hold each anime, at least 1):
    ``count`` draws with replacement from Q ∝ popularity, a column drawn m times weighing
    m / (N Q), so the popular anime that dominate the sum are drawn often. Either way the weighted
    sum's expectation is the sum over every anime. With ``count >= rated`` every anime comes, each
    weighing 1 (the full softmax), and no random number is drawn.
    """
    device = generator.device
    if count >= rated:
        return torch.arange(rated, device=device), torch.zeros(rated, device=device)
    if popularity is None:
        columns = torch.randperm(rated, generator=generator, device=device)[:count].sort().values
        return columns, torch.full((count,), math.log(rated / count), device=device)
    q = popularity.to(device=device, dtype=torch.float64) / popularity.sum()
    columns, times = torch.unique(torch.multinomial(q, count, replacement=True, generator=generator), return_counts=True)
    return columns, (times.double().log() - (count * q[columns]).log()).float()


def _block_votes(hidden: torch.Tensor, weights: torch.Tensor, silent: torch.Tensor, vetoes: torch.Tensor, start: int, dtype: torch.dtype) -> torch.Tensor:
    """The votes (R, L, c) of every position for the columns ``weights`` (c, H) (from column
    ``start``), float32, with silent positions and vetoed (row, position, column) triples at ``FLOOR``."""
    votes = (hidden.to(dtype) @ weights.to(dtype).T).float()
    votes.masked_fill_(silent.unsqueeze(2), FLOOR)
    inside = (vetoes[2] >= start) & (vetoes[2] < start + weights.shape[0])
    votes[vetoes[0, inside], vetoes[1, inside], vetoes[2, inside] - start] = FLOOR
    return votes


class _ColumnLogSumExp(torch.autograd.Function):
    """``column_logsumexp``'s forward and backward: each block of columns is multiplied, reduced and
    dropped; the backward pass multiplies it again rather than keeping it (rows x length x block
    at a time, never rows x length x columns)."""

    @staticmethod
    def forward(ctx, hidden, weights, silent, vetoes, block, dtype):
        out = torch.empty(hidden.shape[0], weights.shape[0], device=hidden.device)
        for start in range(0, weights.shape[0], block):
            out[:, start : start + block] = torch.logsumexp(_block_votes(hidden, weights[start : start + block], silent, vetoes, start, dtype), dim=1)
        ctx.save_for_backward(hidden, weights, silent, vetoes, out)
        ctx.block, ctx.dtype = block, dtype
        return out

    @staticmethod
    def backward(ctx, grad):
        hidden, weights, silent, vetoes, out = ctx.saved_tensors
        block, dtype = ctx.block, ctx.dtype
        grad_hidden = torch.zeros(hidden.shape, dtype=torch.float32, device=hidden.device)
        grad_weights = torch.empty(weights.shape, dtype=torch.float32, device=weights.device)
        flat = hidden.reshape(-1, hidden.shape[-1]).to(dtype)
        for start in range(0, weights.shape[0], block):
            stop = min(start + block, weights.shape[0])
            votes = _block_votes(hidden, weights[start:stop], silent, vetoes, start, dtype)
            # d logsumexp / d vote = the vote's softmax weight over the row's voters; none for a vetoed one
            share = votes.sub_(out[:, None, start:stop]).exp_().mul_(grad[:, None, start:stop])
            share.masked_fill_(silent.unsqueeze(2), 0.0)
            inside = (vetoes[2] >= start) & (vetoes[2] < stop)
            share[vetoes[0, inside], vetoes[1, inside], vetoes[2, inside] - start] = 0.0
            share = share.to(dtype)
            grad_hidden += share @ weights[start:stop].to(dtype)
            grad_weights[start:stop] = share.reshape(-1, stop - start).T @ flat
        return grad_hidden.to(hidden.dtype), grad_weights.to(weights.dtype), None, None, None, None


def column_logsumexp(hidden: torch.Tensor, weights: torch.Tensor, silent: torch.Tensor, vetoes: torch.Tensor, block: int = 256) -> torch.Tensor:
    """Each row's log-sum-exp over its voting positions of their votes ``hidden @ weights.T``: (R, C).

    ``hidden`` (R, L, H), ``weights`` (C, H); ``silent`` (R, L) marks the positions that do not
    vote, ``vetoes`` (3, V) the (row, position, column) votes that do not count (an item never
    votes for itself). The same value and gradients as ``torch.logsumexp`` of the masked votes,
    in the memory of ``block`` columns. Under autocast the products run in its dtype, the
    log-sum-exp in float32.
    """
    kind = hidden.device.type
    dtype = torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else torch.float32
    return _ColumnLogSumExp.apply(hidden, weights, silent, vetoes, block, dtype)


def sampled_items_loss(model: BERT4Rec, tokens: torch.Tensor, positions: torch.Tensor, labels: torch.Tensor, negatives: tuple[torch.Tensor, torch.Tensor],
                       keep: torch.Tensor | None = None, adjust: torch.Tensor | None = None) -> torch.Tensor:
    """The items readout's cross-entropy (``BERT4Rec.cloze_loss``) with a sampled softmax.

    ``negatives``: ``sample_negatives``' columns (shared by the batch) and their log weights. A
    row's voters vote for those and, per label, for its own target. Each label's normaliser is
    its target's exp score plus the weighted sum over the negatives other than the target (a
    negative that is the label's target is dropped, not counted twice), whose expectation is the
    full softmax's sum. With every rated anime at weight 1 it is the full softmax exactly; the
    vetoes and the unreachable targets left out are the full loss's.
    """
    from training.model import query_slots

    config = model.config
    columns, log_weight = negatives
    rows, inverse = torch.unique(positions[:, 0], return_inverse=True)
    tokens = tokens[rows]
    targets = labels - 1
    is_mask = tokens == config.mask_id
    silent = ~((tokens != 0) & (~is_mask | (torch.cumsum(is_mask, dim=1) == 1)))
    hidden = model.encode(tokens, keep=keep)  # (rows, L, H)

    # The negatives' scores, per row: (rows, N).
    weights, bias = model.candidate_table(columns + 1, keep)
    lookup = torch.full((config.vocab_size,), -1, dtype=torch.long, device=tokens.device)
    lookup[columns + 1] = torch.arange(columns.numel(), device=tokens.device)
    own = torch.where(is_mask, -1, lookup[tokens])
    row, col = torch.nonzero(own >= 0, as_tuple=True)
    negative = column_logsumexp(hidden, weights, silent, torch.stack([row, col, own[row, col]])) + bias.float()
    if adjust is not None:
        negative = negative + adjust[columns].float()
    negative = negative + log_weight

    # Each label's target score: its row's voters' votes for it alone, (labels,).
    index, slot = query_slots(torch.stack([inverse, targets], dim=1), rows.numel())
    target_weights, target_bias = model.candidate_table(index + 1, keep)  # (rows, K, H), (rows, K)
    target_votes = (hidden @ target_weights.transpose(1, 2)).float()  # (rows, L, K)
    target_votes = target_votes.masked_fill((tokens.unsqueeze(2) == index.unsqueeze(1) + 1) | silent.unsqueeze(2), FLOOR)
    target = (torch.logsumexp(target_votes, dim=1) + target_bias.float())[inverse, slot]
    if adjust is not None:
        target = target + adjust[targets].float()

    others = negative[inverse].masked_fill(columns.unsqueeze(0) == targets.unsqueeze(1), -torch.inf)
    losses = torch.logaddexp(target, torch.logsumexp(others, dim=1)) - target
    # As in the full loss: a target no voter may vote for teaches nothing, and is left out.
    reachable = target > torch.finfo(torch.float32).min / 4
    return losses[reachable].mean() if bool(reachable.any()) else (negative.sum() + target.sum()) * 0.0

"""The hybrid BERT4Rec model: a bidirectional transformer over a set (or sequence) of items.

Token ids: 0 = padding, 1..n = items, n+1 = mask. Each item's input vector is its own
embedding plus, when genres are on, its metadata-token embeddings (genres and themes,
studios, type, era, length, popularity: see ``genres.py``) pooled as ``pooling`` says:
``fields``, each field's mean summed over the fields (the shipped model), or ``mean``, the
mean of them all. The output layer is tied to that same input table (plus a bias). Two
readouts (``readout``): ``items`` (the shipped one) scores an anime by the log-sum-exp of
the votes of every item of the set, in context, and of the mask token (``set_scores``);
``mask`` reads the hidden state at the positions asked for. Neither builds batch x length
x catalogue scores outside training.

Items ``1..num_rated`` are the rated ones: they have a learnt per-anime part (embedding row
and bias). Items above ``num_rated`` (anime no one in the data rated: recent ones, rare
ones) have only their metadata part, and so does a rated item whose per-anime part a
training step drops (``id_keep``, as DropoutNet does), which teaches the metadata part to
stand in for the whole. ``meta_bias`` adds an output bias computed from the metadata tokens,
so an anime no one rated still gets a prior from what it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.model_config import (  # noqa: F401  (re-exported: the model's configuration lives with it)
    MAX_LEN_LIMIT,
    POOLINGS,
    READOUTS,
    ModelConfig,
    Pooling,
    Readout,
    parameter_count,
    training_bytes,
)
from training.numpy_model import EXP_SAFE  # the one definition, in a module without torch
from training.sampled_loss import sampled_items_loss


class Block(nn.Module):
    """Pre-norm transformer encoder block using scaled_dot_product_attention."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None, index: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, H) -> (B, L, H); with ``index`` (B, Q) only those positions come out, (B, Q, H).

        Every position still serves as a key and value, but the query side (attention output,
        projection, feed-forward) runs only where a later layer or the loss will look.
        """
        batch, length, hidden = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
        if index is not None:
            q = q.gather(2, index[:, None, :, None].expand(-1, self.heads, -1, q.shape[-1]))
            x = x.gather(1, index[:, :, None].expand(-1, -1, hidden))
        # No dropout on the attention weights: on CPU drawing a (B, heads, L, L) mask cost a
        # fifth of each step; dropout on the residual branches regularises well enough.
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        x = x + self.drop(self.proj(attn.transpose(1, 2).reshape(batch, x.shape[1], hidden)))
        return x + self.drop(self.ffn(self.norm2(x)))


def query_slots(queries: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lay (M, 2) (row, position) pairs out as a (batch, Q) position index, padded with 0.

    Returns the index and each pair's slot in its row, so ``out[rows, slot]`` reads them back.
    """
    rows = queries[:, 0]
    order = torch.argsort(rows, stable=True)
    counts = torch.bincount(rows, minlength=batch)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(rows)
    slot[order] = torch.arange(rows.numel(), device=rows.device) - starts[rows[order]]
    index = torch.zeros(batch, max(int(counts.max()), 1) if rows.numel() else 1, dtype=torch.long, device=rows.device)
    index[rows, slot] = queries[:, 1]
    return index, slot


OutputTable = tuple[torch.Tensor, torch.Tensor]
"""The output layer of items 1..k: weights (k, H) and bias (k,)."""


@dataclass(frozen=True)
class Voters:
    """The items readout's voters of some rows: what each votes with, and for whom it cannot.
    ``numpy_model.Voters`` is its numpy twin (the same fields, as arrays), for inference without torch."""

    vectors: torch.Tensor
    """(V, H) float32: each voter's hidden vector."""
    row: torch.Tensor
    """(V,): the row each voter belongs to."""
    own: torch.Tensor
    """(V,): each voter's token: its item id (it never votes for itself), or the mask id."""
    rows: int
    """How many rows there are (a row may have no voters only if it is empty)."""

    def of_rows(self, rows: torch.Tensor) -> Voters:
        """The voters of ``rows`` (sorted row ids), renumbered 0..len(rows)-1 in that order."""
        position = torch.full((self.rows,), -1, dtype=torch.long, device=self.row.device)
        position[rows] = torch.arange(rows.numel(), device=rows.device)
        mine = position[self.row] >= 0
        return Voters(self.vectors[mine], position[self.row[mine]], self.own[mine], int(rows.numel()))


def vote_logsumexp(voters: Voters, weights: torch.Tensor, mask_id: int, columns: torch.Tensor | None = None, block: int = 1024, group: int = 512,
                   largest: float | None = None) -> torch.Tensor:
    """Each row's log-sum-exp of its voters' votes, for every output column (item j+1 is column
    j of ``weights``, float32 (n, H)) or only ``columns`` (sorted): (rows, C). A voter never
    votes for its own item. Voters come sorted by row (as ``BERT4Rec.voters`` gives them).
    ``numpy_model.vote_logsumexp`` is its numpy twin, for inference without torch.

    The votes go through ``block`` columns by about ``group`` voters (whole rows) at a time,
    so each slice is multiplied, exponentiated and summed into its rows while it is still in
    cache: for a long list that is twice as fast as one (V, n) pass, whose votes spill to
    memory between the steps, and a batch of many requests costs what they cost alone. Where
    every vote of a group is bounded by ``EXP_SAFE`` (|h . w| <= max |h| * max |w|) the exps
    are summed as they are, without the max and subtraction passes; otherwise that group
    takes them. ``largest``: max |w| over ``weights``, when the caller keeps it.
    """
    count = weights.shape[0] if columns is None else int(columns.numel())
    out = torch.empty(voters.rows, count, device=weights.device)
    items = voters.own - 1
    voter = torch.nonzero((voters.own != mask_id) & (items < weights.shape[0]), as_tuple=True)[0]
    slot = items[voter]  # the column of each voter's own item, in the output
    if columns is not None:
        found = torch.searchsorted(columns, slot).clamp_max_(max(count - 1, 0))
        kept = columns[found] == slot if count else torch.zeros_like(slot, dtype=torch.bool)
        voter, slot = voter[kept], found[kept]
    # Row r's voters are first[r]:first[r + 1]; groups of whole rows of about ``group`` voters.
    first = torch.searchsorted(voters.row, torch.arange(voters.rows + 1, device=voters.row.device)).tolist()
    groups, r0 = [], 0
    for r1 in range(1, voters.rows + 1):
        if r1 == voters.rows or first[r1 + 1] - first[r0] > group:
            groups.append((r0, r1))
            r0 = r1
    norms = voters.vectors.norm(dim=1)
    if largest is None:
        largest = float(weights.norm(dim=1).max()) if len(weights) else 0.0
    safe = [first[r1] == first[r0] or float(norms[first[r0] : first[r1]].max()) * largest <= EXP_SAFE for r0, r1 in groups]
    for start in range(0, count, block):
        stop = min(start + block, count)
        part = (weights[start:stop] if columns is None else weights[columns[start:stop]]).T
        in_block = (slot >= start) & (slot < stop)
        for (r0, r1), bounded in zip(groups, safe):
            v0, v1 = first[r0], first[r1]
            votes = voters.vectors[v0:v1] @ part
            own = in_block & (voter >= v0) & (voter < v1)
            if bounded:
                votes.exp_()[voter[own] - v0, slot[own] - start] = 0.0
                sums = votes.sum(0, keepdim=True) if r1 - r0 == 1 else torch.zeros(r1 - r0, stop - start, device=votes.device).index_add_(0, voters.row[v0:v1] - r0, votes)
                out[r0:r1, start:stop] = sums.clamp_min_(torch.finfo(torch.float32).tiny).log_()
            else:  # rare: a row at a time
                votes[voter[own] - v0, slot[own] - start] = -torch.inf
                for r in range(r0, r1):
                    out[r, start:stop] = torch.logsumexp(votes[first[r] - v0 : first[r + 1] - v0], dim=0)
    return out


def popularity_adjustment(counts: np.ndarray, beta: float, size: int) -> torch.Tensor | None:
    """The popularity-debiased loss's shift of each item's training logit: ``beta * log(count)``
    over items 1..size (None when ``beta`` is 0: the loss stays exactly the plain one).

    ``counts[j]`` is how many training lists hold item j+1; an item held by none (every anime
    without ratings) gets the floor of 1, log 1 = 0. Adding the log popularity to the logits
    the softmax is trained on (logit adjustment, Menon et al. 2021) hands each anime its
    popularity for free during training, so the model's own scores, the ones served, need
    not carry it: with only the output bias to learn, ``bias_j`` settles at
    ``log p_j - beta * log count_j``, which for ``beta`` 1 is flat. (Subtracting it instead,
    the logQ correction of a *sampled* softmax, would in this full softmax make the model
    push popular anime harder.)
    """
    if not beta:
        return None
    shift = np.zeros(size, dtype=np.float64)
    counts = np.asarray(counts[:size], dtype=np.float64)
    shift[: counts.size] = beta * np.log(np.maximum(counts, 1.0))
    return torch.from_numpy(shift).float()


class BERT4Rec(nn.Module):
    """Cloze-trained item transformer; ``score`` returns catalogue scores at chosen positions."""

    item_genres: torch.Tensor  # a buffer when genres are on: (vocab, genres per item) genre ids
    genre_weights: torch.Tensor  # a buffer with field pooling: each slot's weight in the sum

    def __init__(self, config: ModelConfig, item_genres: torch.Tensor | None = None, genre_weights: torch.Tensor | None = None, init: bool = True) -> None:
        """``init=False`` leaves the weights as torch makes them, for a caller about to load
        every one of them (a checkpoint): the truncated-normal pass costs most of a build."""
        super().__init__()
        self.config = config  # it checked itself when it was made
        self.item_emb = nn.Embedding(config.vocab_size, config.hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(config.max_len, config.hidden) if config.positional else None
        if config.genres:
            if item_genres is None:
                item_genres = torch.zeros(config.vocab_size, max(config.genres_per_item, 1), dtype=torch.long)
            self.genre_emb = nn.Embedding(config.num_genres + 1, config.hidden, padding_idx=0)
            self.register_buffer("item_genres", item_genres.long(), persistent=True)
            if config.pooling == "fields":
                weights = torch.zeros(item_genres.shape, dtype=torch.float32) if genre_weights is None else genre_weights.float()
                self.register_buffer("genre_weights", weights, persistent=True)
        else:
            self.genre_emb = None  # type: ignore[assignment]  # no genre input
        self.genre_bias = nn.Embedding(config.num_genres + 1, 1, padding_idx=0) if config.meta_bias else None
        self.emb_norm = nn.LayerNorm(config.hidden)
        self.emb_drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config.hidden, config.heads, config.dropout) for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(config.hidden)
        self.head = nn.Sequential(nn.Linear(config.hidden, config.hidden), nn.GELU(), nn.LayerNorm(config.hidden))
        self.out_bias = nn.Parameter(torch.zeros(config.num_items))
        if not init:
            return
        self.apply(self._init)
        if self.genre_bias is not None:
            nn.init.zeros_(self.genre_bias.weight)
        with torch.no_grad():  # unrated items have no per-anime part: their rows stay zero
            self.item_emb.weight[config.rated + 1 : config.num_items + 1].zero_()

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.trunc_normal_(module.weight, std=0.02, a=-0.04, b=0.04)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()

    def id_keep(self, drop: float, generator: torch.Generator) -> torch.Tensor | None:
        """A (vocab,) mask for one training step: False for the rated items whose per-anime
        part the step drops (each with probability ``drop``), True elsewhere; None for none."""
        if drop <= 0:
            return None
        keep = torch.rand(self.config.vocab_size, generator=generator, device=generator.device) >= drop
        keep[0] = keep[self.config.mask_id] = True
        return keep.to(self.item_emb.weight.device)

    def _has_id(self, ids: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor | None:
        """Which ``ids`` use their per-anime part (None: all of them)."""
        config = self.config
        on = None if config.rated == config.num_items else (ids <= config.rated) | (ids == config.mask_id)
        if keep is not None:
            on = keep[ids] if on is None else on & keep[ids]
        return on

    def _pooled(self, ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """``table``'s rows pooled over each id's metadata tokens: (ids.numel(), table width)."""
        flat = ids.reshape(-1)
        if self.config.pooling == "fields":
            weights = self.genre_weights[flat].to(table.dtype)
            return F.embedding_bag(self.item_genres[flat], table, mode="sum", per_sample_weights=weights)
        return F.embedding_bag(self.item_genres[flat], table, mode="mean", padding_idx=0)

    def embed_items(self, ids: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Input vectors of token ids (any shape): per-anime embedding (where it has one and
        ``keep`` keeps it) + pooled metadata-token embeddings (``_pooled``)."""
        vectors = self.item_emb(ids)
        on = self._has_id(ids, keep)
        if on is not None:
            vectors = vectors * on.unsqueeze(-1).to(vectors.dtype)
        if self.genre_emb is not None:
            vectors = vectors + self._pooled(ids, self.genre_emb.weight).view(*ids.shape, -1)
        return vectors

    def encode(self, tokens: torch.Tensor, queries: torch.Tensor | None = None, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states (B, L, H) for token ids (B, L); with ``queries`` (M, 2) only theirs, (M, H).

        Asking for the positions that are read (the masks) lets the last block skip the rest.
        """
        x = self.embed_items(tokens, keep)
        if self.pos_emb is not None:
            x = x + self.pos_emb.weight[: tokens.shape[1]]
        x = self.emb_drop(self.emb_norm(x))
        keep_tokens = tokens != 0
        # Without padding no mask is needed, and SDPA can take its fused kernel instead of
        # the masked math path.
        mask = None if bool(keep_tokens.all()) else keep_tokens[:, None, None, :]
        if queries is None:
            for block in self.blocks:
                x = block(x, mask)
            return self.head(self.final_norm(x))
        for block in self.blocks[:-1]:
            x = block(x, mask)
        index, slot = query_slots(queries, tokens.shape[0])
        x = self.blocks[-1](x, mask, index)[queries[:, 0], slot]
        return self.head(self.final_norm(x))

    def output_table(self, keep: torch.Tensor | None = None, count: int | None = None) -> OutputTable:
        """The output layer for items 1..count (default: all), tied to the input table.

        Training passes ``count = rated``: an anime no one rated is no evidence against itself,
        so it never competes in the training softmax (else "first aired 2024" would learn
        "never liked"); it is scored only at inference, from its metadata.
        """
        count = self.config.num_items if count is None else count
        ids = torch.arange(1, count + 1, device=self.item_emb.weight.device)
        return self.embed_items(ids, keep), self.output_bias(keep, count)

    def output_bias(self, keep: torch.Tensor | None = None, count: int | None = None) -> torch.Tensor:
        """The bias of items 1..count: per anime (where it has a part and ``keep`` keeps it) + from metadata."""
        count = self.config.num_items if count is None else count
        ids = torch.arange(1, count + 1, device=self.item_emb.weight.device)
        bias = self.out_bias[:count]
        on = self._has_id(ids, keep)
        if on is not None:
            bias = bias * on.to(bias.dtype)
        if self.genre_bias is not None:
            bias = bias + self._pooled(ids, self.genre_bias.weight).squeeze(1)
        return bias

    def candidate_table(self, ids: torch.Tensor, keep: torch.Tensor | None = None) -> OutputTable:
        """The output layer of the items ``ids`` alone (any order, repeats allowed): what
        ``output_table`` gives for them, without computing the rest of the catalogue."""
        bias = self.out_bias[ids - 1]
        on = self._has_id(ids, keep)
        if on is not None:
            bias = bias * on.to(bias.dtype)
        if self.genre_bias is not None:
            bias = bias + self._pooled(ids, self.genre_bias.weight).view(ids.shape)
        return self.embed_items(ids, keep), bias

    def score(self, hidden: torch.Tensor, table: OutputTable | None = None) -> torch.Tensor:
        """Scores over the table's items (column j is item j+1) for hidden vectors (..., H)."""
        weights, bias = self.output_table() if table is None else table
        return hidden @ weights.T + bias

    def set_scores(self, tokens: torch.Tensor, table: OutputTable | None = None, rows_at_once: int = 32, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Scores (B, n) of each row as a whole, for the ``items`` readout.

        Every item of the set, in context, and the row's first mask token each give a vector;
        an item's score is the log-sum-exp of its dot products with all of them, so it scores
        high when it sits close to any one facet of the user's taste (a rank-64 dot product
        with one user vector cannot say "like this one OR like that one"). An item never
        votes for itself. Outside training, rows go ``rows_at_once`` at a time to bound the
        (rows, L, n) scratch.
        """
        table = self.output_table(keep) if table is None else table
        if self.training:
            return self._set_scores(tokens, table, keep)
        # Rows of similar length go together and each group drops its all-padding columns:
        # the votes tensor grows with the longest row, so this saves most of the work.
        used = tokens != 0
        ends = (used * torch.arange(1, tokens.shape[1] + 1, device=tokens.device)).amax(dim=1)
        order = torch.argsort(ends)
        out = torch.empty(tokens.shape[0], table[0].shape[0], device=tokens.device)
        for start in range(0, tokens.shape[0], rows_at_once):
            rows = order[start : start + rows_at_once]
            out[rows] = self._set_scores_eval(tokens[rows, : max(int(ends[rows].max()), 1)], table)
        return out

    def voters(self, tokens: torch.Tensor) -> Voters:
        """The items readout's voters in rows of tokens, encoded (no autograd needed).

        Every item of a row, in context, and the row's first mask token vote; the last block
        runs only at their positions. The vectors come divided by ``vote_temperature`` (votes
        at T): scores are then T times their log-sum-exp, and shares their softmax."""
        is_mask = tokens == self.config.mask_id
        voting = (tokens != 0) & (~is_mask | (torch.cumsum(is_mask, dim=1) == 1))
        where = torch.nonzero(voting)
        vectors = self.encode(tokens, where).float()
        if self.config.vote_temperature != 1.0:
            vectors = vectors / self.config.vote_temperature
        return Voters(vectors, where[:, 0], tokens[where[:, 0], where[:, 1]], tokens.shape[0])

    def _set_scores_eval(self, tokens: torch.Tensor, table: OutputTable) -> torch.Tensor:
        """``_set_scores`` without autograd (``vote_logsumexp``): only real voters vote, and the
        votes go a cache-sized slice at a time."""
        weights, bias = table
        config = self.config
        return vote_logsumexp(self.voters(tokens), weights.float(), config.mask_id) * config.vote_temperature + bias.float() * config.bias_weight

    def _set_scores(self, tokens: torch.Tensor, table: OutputTable, keep: torch.Tensor | None) -> torch.Tensor:
        weights, bias = table
        is_mask = tokens == self.config.mask_id
        voters = (tokens != 0) & (~is_mask | (torch.cumsum(is_mask, dim=1) == 1))
        votes = self.encode(tokens, keep=keep) @ weights.T  # (B, L, n)
        row, col = torch.nonzero((tokens != 0) & ~is_mask & (tokens <= weights.shape[0]), as_tuple=True)
        floor = torch.finfo(votes.dtype).min / 2  # finite, so a row of nothing but vetoes stays finite
        votes.index_put_((row, col, tokens[row, col] - 1), torch.tensor(floor, dtype=votes.dtype, device=votes.device))
        votes.masked_fill_(~voters.unsqueeze(2), floor)
        return torch.logsumexp(votes.float(), dim=1) + bias

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Scores (M, n) at the (batch, position) pairs in ``positions`` (M, 2)."""
        if self.config.readout == "items":
            return self.set_scores(tokens)[positions[:, 0]]
        return self.score(self.encode(tokens, positions))

    def cloze_loss(self, tokens: torch.Tensor, positions: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor | None = None,
                   prior: tuple[torch.Tensor, float] | None = None, adjust: torch.Tensor | None = None,
                   negatives: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Cross-entropy over the full catalogue at masked positions only (labels are item ids).

        Without positions the model reads a set, so every mask token of a row sees the same
        input and (up to dropout) yields the same scores: they are computed once per row and
        shared by that row's mask-token labels, which cuts the output layer's work several-fold.
        The softmax runs over the rated items only; ``keep`` drops per-anime parts (``id_keep``).

        ``prior`` = (a (num_items,) mask, weight) adds ``weight`` times a cross-entropy of the
        labels over the output biases alone, among the masked-in items: rated anime and the
        unrated ones that aired while the users' lists were made. That an anime existed then
        and no one here liked it is evidence against it, which the main softmax (rated anime
        only) never sees; without it the metadata bias of an unrated anime is fitted only to
        rated anime that look like it, which are the popular ones.

        ``adjust`` (a (num_items,) float tensor, ``popularity_adjustment``) is added to every
        training logit of both softmaxes, never at inference: the popularity-debiased loss
        (``--pop-debias``). None leaves the loss exactly as it was.

        ``negatives`` (the items readout only: ``sampled_loss.sample_negatives``' columns and
        their log weights) makes the main softmax a sampled one (``sampled_loss.sampled_items_loss``);
        None is the full softmax.
        """
        if negatives is not None:
            if self.config.readout != "items":
                raise ValueError("a sampled softmax is for the items readout (the mask readout's full softmax is cheap)")
            loss = sampled_items_loss(self, tokens, positions, labels, negatives, keep, adjust)
        else:
            loss = self._cloze_loss(tokens, positions, labels, keep, adjust)
        if prior is None or not prior[1]:
            return loss
        mask, weight = prior
        bias = self.output_bias(keep).float()
        if adjust is not None:
            bias = bias + adjust
        pool = torch.logsumexp(bias.masked_fill(~mask, -torch.inf), dim=0)
        return loss + weight * (pool - bias[labels - 1]).mean()

    def _cloze_loss(self, tokens: torch.Tensor, positions: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor | None,
                    adjust: torch.Tensor | None = None) -> torch.Tensor:
        table = self.output_table(keep, self.config.rated)
        if adjust is not None:  # a shifted bias is a shifted logit, in every readout
            table = (table[0], table[1] + adjust[: self.config.rated].to(table[1].dtype))
        targets = labels - 1
        if self.config.readout == "items":
            rows, inverse = torch.unique(positions[:, 0], return_inverse=True)
            logits = self.set_scores(tokens[rows], table, keep=keep)
            target = logits[inverse, targets]
            # A target no voter may vote for (the row's only item, left in place by the 80/10/10
            # draw, cannot vote for itself) sits at the veto floor: it teaches nothing and would
            # add ~1e38 to the loss, so it is left out.
            reachable = target > torch.finfo(torch.float32).min / 4
            losses = torch.logsumexp(logits, dim=1)[inverse] - target
            return losses[reachable].mean() if bool(reachable.any()) else logits.sum() * 0.0
        if self.pos_emb is not None:
            return F.cross_entropy(self.score(self.encode(tokens, positions, keep), table).float(), targets)
        is_mask = tokens[positions[:, 0], positions[:, 1]] == self.config.mask_id
        rows, inverse = torch.unique(positions[is_mask, 0], return_inverse=True)
        column = torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device)
        column[positions[is_mask, 0]] = positions[is_mask, 1]
        other = positions[~is_mask]
        hidden = self.encode(tokens, torch.cat([torch.stack([rows, column[rows]], dim=1), other]), keep)
        logits = self.score(hidden, table).float()
        shared, other_logits = logits[: rows.numel()], logits[rows.numel() :]
        shared_loss = torch.logsumexp(shared, dim=1)[inverse] - shared[inverse, targets[is_mask]]
        other_loss = F.cross_entropy(other_logits, targets[~is_mask], reduction="none")
        return torch.cat([shared_loss, other_loss]).mean()

"""The hybrid BERT4Rec model: a bidirectional transformer over a set (or sequence) of items.

Token ids: 0 = padding, 1..n = items, n+1 = mask. Each item's input vector is its own
embedding plus, when genres are on, the mean of its genre embeddings. The output layer is
tied to that same input table (plus a per-item bias), and scores are only ever computed at
the positions asked for, never batch x length x catalogue.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Readout = Literal["items", "mask"]
READOUTS: tuple[Readout, ...] = ("items", "mask")
MAX_LEN_LIMIT = 4096
"""Longest input a model may take: attention is quadratic in it, and inference pads to it."""
# Whole-number fields: (lowest, highest). Bounded so that a damaged meta.json cannot ask for
# a model that would allocate without limit.
_INT_RANGES = {
    "num_items": (1, 1 << 31), "max_len": (2, MAX_LEN_LIMIT), "hidden": (1, 1 << 16), "layers": (1, 1024),
    "heads": (1, 1 << 16), "num_genres": (0, 1 << 16), "genres_per_item": (0, 1 << 10),
}


@dataclass
class ModelConfig:
    """Architecture; saved with every checkpoint. Defaults are the shipped model's (a set of MAL anime).

    It checks itself on construction: a ``ValueError`` whose message starts with the field's
    name says which field no model can be built from (a bad flag or a damaged meta.json).
    """

    num_items: int
    max_len: int = 128
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    positional: bool = False
    genres: bool = True
    num_genres: int = 0
    genres_per_item: int = 0
    readout: Readout = "items"
    """items: every item of the set votes (sets only); mask: the mask token's vector (classic BERT4Rec)."""

    def __post_init__(self) -> None:
        for name, (low, high) in _INT_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} is {value!r:.40} (must be from {low} to {high})")
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not divisible by heads {self.heads}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout is {self.dropout!r:.40} (must be from 0 to below 1)")
        for name in ("positional", "genres"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} is {getattr(self, name)!r:.40} (must be true or false)")
        if self.readout not in READOUTS:
            raise ValueError(f"readout is {self.readout!r:.40} (must be items or mask)")
        if self.readout == "items" and self.positional:
            raise ValueError("readout items reads a set; it cannot go with positional (use readout mask)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def mask_id(self) -> int:
        return self.num_items + 1

    @property
    def vocab_size(self) -> int:
        return self.num_items + 2


def parameter_count(config: ModelConfig) -> int:
    """Parameters of a model built from ``config``, computed without building it."""
    h = config.hidden
    count = config.vocab_size * h + config.num_items + 2 * h  # items, output bias, embedding norm
    count += config.max_len * h if config.positional else 0
    count += (config.num_genres + 1) * h if config.genres else 0
    count += config.layers * (12 * h * h + 13 * h)  # qkv, projection, feed-forward, two norms
    return count + h * h + 5 * h  # final norm and head


def training_bytes(config: ModelConfig, batch_size: int) -> int:
    """A lower bound on the memory a training step needs, in bytes (fp32).

    Weights, gradients and AdamW's two moments, the activations the backward pass keeps
    (about 16 floats per token and hidden unit per block, plus the attention weights), and
    the catalogue scores: one row per masked item, or, for the items readout, one per item.
    """
    tokens = batch_size * config.max_len
    activations = config.layers * (16 * tokens * config.hidden + batch_size * config.heads * config.max_len**2)
    scores = (3 * tokens if config.readout == "items" else tokens) * config.num_items
    return 4 * (4 * parameter_count(config) + activations + scores)


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


class BERT4Rec(nn.Module):
    """Cloze-trained item transformer; ``score`` returns catalogue scores at chosen positions."""

    item_genres: torch.Tensor  # a buffer when genres are on: (vocab, genres per item) genre ids

    def __init__(self, config: ModelConfig, item_genres: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config  # it checked itself when it was made
        self.item_emb = nn.Embedding(config.vocab_size, config.hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(config.max_len, config.hidden) if config.positional else None
        if config.genres:
            if item_genres is None:
                item_genres = torch.zeros(config.vocab_size, max(config.genres_per_item, 1), dtype=torch.long)
            self.genre_emb = nn.Embedding(config.num_genres + 1, config.hidden, padding_idx=0)
            self.register_buffer("item_genres", item_genres.long(), persistent=True)
        else:
            self.genre_emb = None  # type: ignore[assignment]  # no genre input
        self.emb_norm = nn.LayerNorm(config.hidden)
        self.emb_drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config.hidden, config.heads, config.dropout) for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(config.hidden)
        self.head = nn.Sequential(nn.Linear(config.hidden, config.hidden), nn.GELU(), nn.LayerNorm(config.hidden))
        self.out_bias = nn.Parameter(torch.zeros(config.num_items))
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.trunc_normal_(module.weight, std=0.02, a=-0.04, b=0.04)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()

    def embed_items(self, ids: torch.Tensor) -> torch.Tensor:
        """Input vectors of token ids (any shape): item embedding + mean genre embedding."""
        vectors = self.item_emb(ids)
        if self.genre_emb is not None:
            genres = self.item_genres[ids.reshape(-1)]
            pooled = F.embedding_bag(genres, self.genre_emb.weight, mode="mean", padding_idx=0)
            vectors = vectors + pooled.view(*ids.shape, -1)
        return vectors

    def encode(self, tokens: torch.Tensor, queries: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states (B, L, H) for token ids (B, L); with ``queries`` (M, 2) only theirs, (M, H).

        Asking for the positions that are read (the masks) lets the last block skip the rest.
        """
        x = self.embed_items(tokens)
        if self.pos_emb is not None:
            x = x + self.pos_emb.weight[: tokens.shape[1]]
        x = self.emb_drop(self.emb_norm(x))
        keep = tokens != 0
        # Without padding no mask is needed, and SDPA can take its fused kernel instead of
        # the masked math path.
        mask = None if bool(keep.all()) else keep[:, None, None, :]
        if queries is None:
            for block in self.blocks:
                x = block(x, mask)
            return self.head(self.final_norm(x))
        for block in self.blocks[:-1]:
            x = block(x, mask)
        index, slot = query_slots(queries, tokens.shape[0])
        x = self.blocks[-1](x, mask, index)[queries[:, 0], slot]
        return self.head(self.final_norm(x))

    def output_table(self) -> torch.Tensor:
        """(n, H) output weights for items 1..n, tied to the input table."""
        ids = torch.arange(1, self.config.num_items + 1, device=self.item_emb.weight.device)
        return self.embed_items(ids)

    def score(self, hidden: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """Scores over items 1..n (column j is item j+1) for hidden vectors (..., H)."""
        table = self.output_table() if table is None else table
        return hidden @ table.T + self.out_bias

    def set_scores(self, tokens: torch.Tensor, table: torch.Tensor | None = None, rows_at_once: int = 32) -> torch.Tensor:
        """Scores (B, n) of each row as a whole, for the ``items`` readout.

        Every item of the set, in context, and the row's first mask token each give a vector;
        an item's score is the log-sum-exp of its dot products with all of them, so it scores
        high when it sits close to any one facet of the user's taste (a rank-64 dot product
        with one user vector cannot say "like this one OR like that one"). An item never
        votes for itself. Outside training, rows go ``rows_at_once`` at a time to bound the
        (rows, L, n) scratch.
        """
        table = self.output_table() if table is None else table
        if self.training:
            return self._set_scores(tokens, table)
        # Rows of similar length go together and each group drops its all-padding columns:
        # the votes tensor grows with the longest row, so this saves most of the work.
        used = tokens != 0
        ends = (used * torch.arange(1, tokens.shape[1] + 1, device=tokens.device)).amax(dim=1)
        order = torch.argsort(ends)
        out = torch.empty(tokens.shape[0], table.shape[0], device=tokens.device)
        for start in range(0, tokens.shape[0], rows_at_once):
            rows = order[start : start + rows_at_once]
            out[rows] = self._set_scores(tokens[rows, : max(int(ends[rows].max()), 1)], table)
        return out

    def _set_scores(self, tokens: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        is_mask = tokens == self.config.mask_id
        voters = (tokens != 0) & (~is_mask | (torch.cumsum(is_mask, dim=1) == 1))
        votes = self.encode(tokens) @ table.T  # (B, L, n)
        row, col = torch.nonzero((tokens != 0) & ~is_mask, as_tuple=True)
        floor = torch.finfo(votes.dtype).min / 2  # finite, so a row of nothing but vetoes stays finite
        votes.index_put_((row, col, tokens[row, col] - 1), torch.tensor(floor, dtype=votes.dtype, device=votes.device))
        votes.masked_fill_(~voters.unsqueeze(2), floor)
        return torch.logsumexp(votes.float(), dim=1) + self.out_bias

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Scores (M, n) at the (batch, position) pairs in ``positions`` (M, 2)."""
        if self.config.readout == "items":
            return self.set_scores(tokens)[positions[:, 0]]
        return self.score(self.encode(tokens, positions))

    def cloze_loss(self, tokens: torch.Tensor, positions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over the full catalogue at masked positions only (labels are item ids).

        Without positions the model reads a set, so every mask token of a row sees the same
        input and (up to dropout) yields the same scores: they are computed once per row and
        shared by that row's mask-token labels, which cuts the output layer's work several-fold.
        """
        table = self.output_table()
        targets = labels - 1
        if self.config.readout == "items":
            rows, inverse = torch.unique(positions[:, 0], return_inverse=True)
            logits = self.set_scores(tokens[rows], table)
            target = logits[inverse, targets]
            # A target no voter may vote for (the row's only item, left in place by the 80/10/10
            # draw, cannot vote for itself) sits at the veto floor: it teaches nothing and would
            # add ~1e38 to the loss, so it is left out.
            reachable = target > torch.finfo(torch.float32).min / 4
            losses = torch.logsumexp(logits, dim=1)[inverse] - target
            return losses[reachable].mean() if bool(reachable.any()) else logits.sum() * 0.0
        if self.pos_emb is not None:
            return F.cross_entropy(self.score(self.encode(tokens, positions), table).float(), targets)
        is_mask = tokens[positions[:, 0], positions[:, 1]] == self.config.mask_id
        rows, inverse = torch.unique(positions[is_mask, 0], return_inverse=True)
        column = torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device)
        column[positions[is_mask, 0]] = positions[is_mask, 1]
        other = positions[~is_mask]
        hidden = self.encode(tokens, torch.cat([torch.stack([rows, column[rows]], dim=1), other]))
        logits = self.score(hidden, table).float()
        shared, other_logits = logits[: rows.numel()], logits[rows.numel() :]
        shared_loss = torch.logsumexp(shared, dim=1)[inverse] - shared[inverse, targets[is_mask]]
        other_loss = F.cross_entropy(other_logits, targets[~is_mask], reduction="none")
        return torch.cat([shared_loss, other_loss]).mean()

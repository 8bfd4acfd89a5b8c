"""The items readout in numpy: a trained model's inference without torch.

``animerec recommend`` and the TUI answer a few favourites at a time; importing torch cost
them about 1.4 s of every start (on the project's 2-core AMD EPYC), more than everything
else they do before the first answer. This module computes what ``model.BERT4Rec`` computes
in eval mode for the items readout (no dropout; float32): the input vectors (per-anime part
plus pooled metadata), the transformer over each set, the voters, and their votes, from the
same safetensors + JSON files. ``tests/unit/test_numpy_model.py`` holds it to the torch
model's scores (``scoring.score_users``), shares (``scoring.vote_shares``) and output table on
scrambled models of every pooling and bias variant.

Only what inference needs is here: training, the mask readout and positional models stay
with torch (``NumpyModel.supports`` says which models this path can take).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from training.data import chunked_queries, trim_padding
from training.model_config import ModelConfig
from training.model_files import read_meta, read_weights, resolve_model_dir

EXP_SAFE = 75.0
"""|vote| bound below which exp() needs no shift: exp(75) times 4,096 voters stays finite in
fp32, and exp(-75) is no denormal. The one definition: ``model.py`` takes it from here (this
module never imports torch)."""
LAYER_NORM_EPS = 1e-5
"""torch.nn.LayerNorm's default, which the model uses."""
ATTENTION_SAFE = 60.0
"""|attention logit| bound below which the softmax needs no max-shift (``NumpyModel.shift_free``):
exp(60) times 4,096 keys stays finite in fp32, and exp(-60) is far from a denormal."""


def standardise(x: np.ndarray) -> np.ndarray:
    """A layer norm without its scale and shift (``NumpyModel`` folds those into the linear
    layer that follows): each row centred, times the reciprocal of its standard deviation."""
    rows = x.reshape(-1, x.shape[-1])
    centred = rows - rows @ np.full((x.shape[-1], 1), 1 / x.shape[-1], dtype=np.float32)  # the means: a product takes half the time of .mean
    scale = np.einsum("nh,nh->n", centred, centred)[:, None]
    scale *= np.float32(1 / x.shape[-1])
    scale += np.float32(LAYER_NORM_EPS)
    np.sqrt(scale, out=scale)
    np.divide(np.float32(1.0), scale, out=scale)
    centred *= scale  # in place from here: each step is a pass over the tokens
    return centred.reshape(x.shape)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    out = standardise(x)
    out *= weight
    out += bias
    return out


ERF_P = 0.3275911
ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
"""Abramowitz and Stegun 7.1.26: erf(z) = 1 - (a1 t + a2 t^2 + ... + a5 t^5) exp(-z^2), t = 1 / (1 + p z), z >= 0."""


GELU_TILE = 1 << 16
"""Values per pass of ``gelu`` (65,536: its three arrays, 768 KB, stay in a core's L2 cache). An
(800, 256) array, a bunch's feed-forward layer, took 1.67-1.78 ms at once and 0.76-0.80 in
tiles of 200 rows; the transformer runs 6-9% faster for it (2^17 the same, 2^18 no faster)."""


def gelu(x: np.ndarray) -> np.ndarray:
    """``gelu_tile`` over ``x``, ``GELU_TILE`` values (whole rows) at a time, in place."""
    if not x.flags.c_contiguous:  # a reshape would copy it: then the array at once
        return gelu_tile(x)
    rows = x.reshape(-1, x.shape[-1])
    step = max(1, GELU_TILE // max(rows.shape[1], 1))
    for start in range(0, rows.shape[0], step):
        gelu_tile(rows[start : start + step])
    return x


def gelu_tile(x: np.ndarray) -> np.ndarray:
    """The exact GELU, x (1 + erf(x / sqrt 2)) / 2, in place (``x`` is overwritten and returned).

    With A&S 7.1.26 (``ERF_A``) for erf(z), z = |x| / sqrt 2 >= 0 (within 1.5e-7), this is max(x, 0) - |x| Q(t) exp(-x^2 / 2),
    Q the polynomial halved: 20 passes over the array (the direct form took 23). Where x is very
    large the second term is 0 (exp underflows), where it is 0 so is the term."""
    a = np.abs(x)
    t = a * np.float32(ERF_P / math.sqrt(2))
    t += np.float32(1.0)
    np.divide(np.float32(1.0), t, out=t)
    poly = t * np.float32(ERF_A[4] / 2)
    for c in ERF_A[3::-1]:  # Horner, in place
        poly += np.float32(c / 2)
        poly *= t
    np.multiply(x, x, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    poly *= t
    poly *= a
    np.maximum(x, np.float32(0.0), out=x)
    x -= poly
    return x


def dense(x: np.ndarray, weight_t: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x (N, in) @ W.T (in, out) + b: a linear layer over rows."""
    out = x @ weight_t
    out += bias
    return out


@dataclass(frozen=True)
class Voters:
    """The voters of some token rows: the numpy twin of ``model.Voters`` (same fields, same
    meaning; numpy arrays instead of tensors): vectors (V, H), each one's row (sorted), its
    token (its item id, or the mask id), and how many rows there are."""

    vectors: np.ndarray
    row: np.ndarray
    own: np.ndarray
    rows: int


class NumpyModel:
    """A trained items-readout model's forward pass, from its weights as numpy arrays."""

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray]) -> None:
        if not self.supports(config):
            raise ValueError("the numpy path takes set models with the items readout only")
        self.config = config
        self.w = weights
        self.rated = config.rated
        self._inputs: np.ndarray | None = None

    @staticmethod
    def supports(config: ModelConfig) -> bool:
        return config.readout == "items" and not config.positional

    def _pooled(self, ids: np.ndarray, table: np.ndarray) -> np.ndarray:
        """``table``'s rows pooled over each id's metadata tokens (as ``BERT4Rec._pooled``)."""
        tokens = self.w["item_genres"][ids]  # (n, slots)
        if self.config.pooling == "fields":
            weights = self.w["genre_weights"][ids]
        else:  # the mean of the real (non-zero) tokens; none: zeros
            weights = (tokens != 0).astype(np.float32)
            weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1.0)
        # A slot at a time, skipping the padding: (n, slots, width) at once would be the
        # catalogue's 20,812 x 25 x 64 floats, 130 MB, to read once.
        out = np.zeros((ids.size, table.shape[1]), dtype=np.float32)
        for slot in range(tokens.shape[1]):
            used = np.flatnonzero(weights[:, slot])
            if used.size:
                out[used] += weights[used, slot, None] * table[tokens[used, slot]]
        return out

    def _has_id(self, ids: np.ndarray) -> np.ndarray | None:
        config = self.config
        return None if config.rated == config.num_items else (ids <= config.rated) | (ids == config.mask_id)

    def embed_items(self, ids: np.ndarray) -> np.ndarray:
        """Input vectors of token ids (any shape): per-anime part where it has one + pooled metadata."""
        if self._inputs is not None:
            return self._inputs[ids]
        return self._embed(ids)

    def input_table(self) -> np.ndarray:
        """Every token's input vector (ids 0 to the mask id), computed once: ``embed_items``
        then looks them up (pooling a request's metadata took a sixth of its forward pass)."""
        if self._inputs is None:
            self._inputs = np.ascontiguousarray(self._embed(np.arange(self.w["item_emb.weight"].shape[0])))
        return self._inputs

    def _embed(self, ids: np.ndarray) -> np.ndarray:
        flat = ids.reshape(-1)
        vectors = self.w["item_emb.weight"][flat]
        on = self._has_id(flat)
        if on is not None:
            vectors = vectors * on[:, None]
        if self.config.genres:
            vectors = vectors + self._pooled(flat, self.w["genre_emb.weight"])
        return vectors.reshape(*ids.shape, -1).astype(np.float32, copy=False)

    def output_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Weights (num_items, H) and bias (num_items,) of items 1..num_items (as ``BERT4Rec.output_table``)."""
        ids = np.arange(1, self.config.num_items + 1)
        bias = self.w["out_bias"][: self.config.num_items].copy()
        on = self._has_id(ids)
        if on is not None:
            bias *= on
        if self.config.meta_bias:
            bias += self._pooled(ids, self.w["genre_bias.weight"])[:, 0]
        return self.input_table()[ids], bias.astype(np.float32, copy=False)

    def _folded(self, norm: str, name: str, scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Linear layer ``name``'s (W.T, b) with the layer norm ``norm`` before it folded in:
        LN(x) W.T + b = s(x) (gamma W).T + (W beta + b), s the standardised x; then its output
        columns times ``scale``."""
        weight, bias = self.w[f"{name}.weight"], self.w[f"{name}.bias"]
        folded = weight * self.w[f"{norm}.weight"][None, :]
        shift = bias + weight @ self.w[f"{norm}.bias"]
        if scale is not None:
            folded, shift = folded * scale[:, None], shift * scale
        return np.ascontiguousarray(folded.T, dtype=np.float32), shift.astype(np.float32)

    @cached_property
    def _layers(self) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Each block's linear layers as (W.T, b), the layer norms before them folded in and
        the queries already divided by sqrt(head width)."""
        hidden, heads = self.config.hidden, self.config.heads
        queries = np.ones(3 * hidden, dtype=np.float32)
        queries[:hidden] = np.float32(1 / math.sqrt(hidden // heads))
        w = self.w
        return [
            {
                "qkv": self._folded(f"blocks.{i}.norm1", f"blocks.{i}.qkv", queries),
                "proj": (np.ascontiguousarray(w[f"blocks.{i}.proj.weight"].T), w[f"blocks.{i}.proj.bias"]),
                "ffn.0": self._folded(f"blocks.{i}.norm2", f"blocks.{i}.ffn.0"),
                "ffn.2": (np.ascontiguousarray(w[f"blocks.{i}.ffn.2.weight"].T), w[f"blocks.{i}.ffn.2.bias"]),
            }
            for i in range(self.config.layers)
        ]

    @cached_property
    def _head(self) -> tuple[np.ndarray, np.ndarray]:
        return self._folded("final_norm", "head.0")

    @cached_property
    def attention_bound(self) -> float:
        """No attention logit can be larger in size, whatever the tokens: a standardised row is
        at most sqrt(hidden) long, so a head's query is at most |Wq| sqrt(hidden) + |bq| long
        (|Wq| its spectral norm, the layer norm folded in, the scale too), and likewise its key
        (the shipped model: 39)."""
        hidden, heads = self.config.hidden, self.config.heads
        width = hidden // heads
        largest = 0.0
        for layer in self._layers:
            weight_t, bias = (a.astype(np.float64) for a in layer["qkv"])
            for head in range(heads):
                q, k = slice(head * width, (head + 1) * width), slice(hidden + head * width, hidden + (head + 1) * width)
                longest_q = np.linalg.norm(weight_t[:, q], 2) * math.sqrt(hidden) + np.linalg.norm(bias[q])
                longest_k = np.linalg.norm(weight_t[:, k], 2) * math.sqrt(hidden) + np.linalg.norm(bias[k])
                largest = max(largest, float(longest_q * longest_k))
        return largest

    @cached_property
    def shift_free(self) -> bool:
        """Whether the softmax may skip its max-shift (``_attend``): every logit within +-``ATTENTION_SAFE``."""
        return self.attention_bound <= ATTENTION_SAFE

    def _attend(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
        """Softmax attention of (B, heads, L, width) queries (scaled), keys and values, keys
        where ``keep`` (B, L) is False left out: (B, L, heads, width).

        With ``shift_free`` the weights are exp(logit) with no max-shift, and their row sums come
        out of the value product itself, from a column of ones appended to the values; keys left
        out have their values and that one zeroed. That is three passes over the (B, heads, L, L)
        logits (product, exp, product) instead of eight."""
        batch, heads, length, width = q.shape
        logits = q @ k.transpose(0, 1, 3, 2)  # (B, heads, L, L)
        out = np.empty((batch, length, heads, width), dtype=np.float32)
        if self.shift_free:
            np.exp(logits, out=logits)
            values = np.empty((batch, heads, length, width + 1), dtype=np.float32)
            values[..., :width] = v
            values[..., width] = 1.0
            if keep is not None:
                values *= keep[:, None, :, None]
            summed = logits @ values
            np.divide(summed[..., :width], summed[..., width:], out=out.transpose(0, 2, 1, 3))
            return out
        if keep is not None:
            logits += np.where(keep, np.float32(0), np.float32(-np.inf))[:, None, None, :]
        logits -= logits.max(axis=-1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=-1, keepdims=True)
        np.matmul(logits, v, out=out.transpose(0, 2, 1, 3))
        return out

    def _block(self, i: int, x: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
        """One pre-norm block, in place on ``x`` (B, L, H)."""
        layer, heads = self._layers[i], self.config.heads
        batch, length, hidden = x.shape
        flat = x.reshape(-1, hidden)
        qkv = dense(standardise(flat), *layer["qkv"])
        q, k, v = qkv.reshape(batch, length, 3, heads, hidden // heads).transpose(2, 0, 3, 1, 4)
        flat += dense(self._attend(q, k, v, keep).reshape(-1, hidden), *layer["proj"])
        flat += dense(gelu(dense(standardise(flat), *layer["ffn.0"])), *layer["ffn.2"])
        return x

    def encode(self, tokens: np.ndarray) -> np.ndarray:
        """Hidden states (B, L, H) of token rows (B, L), as ``BERT4Rec.encode`` in eval mode."""
        w = self.w
        x = layer_norm(self.embed_items(tokens), w["emb_norm.weight"], w["emb_norm.bias"])
        keep = tokens != 0
        mask = None if bool(keep.all()) else keep
        for i in range(self.config.layers):
            x = self._block(i, x, mask)
        x = dense(standardise(x.reshape(-1, x.shape[-1])), *self._head)
        return layer_norm(gelu(x), w["head.2.weight"], w["head.2.bias"]).reshape(tokens.shape[0], tokens.shape[1], -1)

    def voters(self, tokens: np.ndarray) -> Voters:
        """Every item of a row, in context, and the row's first mask token (as ``BERT4Rec.voters``)."""
        is_mask = tokens == self.config.mask_id
        voting = (tokens != 0) & (~is_mask | (np.cumsum(is_mask, axis=1) == 1))
        rows, positions = np.nonzero(voting)
        vectors = np.ascontiguousarray(self.encode(tokens)[rows, positions])
        if self.config.vote_temperature != 1.0:  # votes at T (as BERT4Rec.voters)
            vectors /= np.float32(self.config.vote_temperature)
        return Voters(vectors, rows, tokens[rows, positions], tokens.shape[0])


def row_groups(first: np.ndarray, group: int) -> list[tuple[int, int]]:
    """Consecutive rows (row r's voters are ``first[r]:first[r + 1]``) in runs of about
    ``group`` voters: whole rows, a longer row alone."""
    rows = first.size - 1
    groups, r0 = [], 0
    for r1 in range(1, rows + 1):
        if r1 == rows or first[r1 + 1] - first[r0] > group:
            groups.append((r0, r1))
            r0 = r1
    return groups


def vote_max(
    voters: Voters, weights: np.ndarray, columns: np.ndarray, parts: int = 1, block: int = 1024, group: int = 512, transposed: np.ndarray | None = None
) -> tuple[np.ndarray, Iterator[tuple[int, int, np.ndarray]]]:
    """The largest vote for each of ``columns`` among each of ``parts`` sets of each row's
    voters (voter j of a row in set j mod parts), ``block`` columns at a time: how many voters
    each set has (rows, parts), and an iterator of (start, stop, maxima), the maxima
    (rows, parts, stop - start) of ``columns[start:stop]``, -inf for a set without voters (one
    array, refilled for each block: use it before the next). A voter's vote for its own item
    counts here: this is for bounds (``NumpyScorer.bounds``).

    Rows of about the same length go together, ``group`` voters at a time, each row padded to
    the group's longest with copies of its own voters (place p copies voter p mod parts, of
    the same set, so no set's maximum changes): a group's maxima are then one reduction per
    block, not one per row. Groups of few voters (a single request) take wider blocks, as many
    columns as keep a block's votes within ``block`` x ``group`` floats: fewer passes, the
    same cache footprint. ``transposed``: ``weights[columns].T`` already laid out (H, len(columns))
    C-contiguous (``NumpyScorer`` keeps it per set of columns), else each block gathers its own."""
    count = columns.size
    first = np.searchsorted(voters.row, np.arange(voters.rows + 1))
    lengths = np.diff(first)
    sizes = lengths[:, None] // parts + (np.arange(parts)[None, :] < (lengths % parts)[:, None])
    no_voter = sizes == 0
    width = -(-lengths // parts) * parts
    order = np.argsort(width, kind="stable")
    order = order[width[order] > 0]
    groups: list[tuple[np.ndarray, np.ndarray, int]] = []  # (rows, their padded voters, the width)
    g0 = 0
    while g0 < order.size:
        g1 = g0 + 1
        while g1 < order.size and (g1 + 1 - g0) * width[order[g1]] <= group:
            g1 += 1
        rows = order[g0:g1]
        wide = int(width[rows[-1]])
        places = np.arange(wide)[None, :]
        have = lengths[rows][:, None]
        copies = np.minimum(np.where(places < have, places, places % parts), have - 1)  # fewer voters than sets: the empty sets are -inf
        groups.append((rows, voters.vectors[(first[rows][:, None] + copies).ravel()], wide))
        g0 = g1

    widest = max((g[1].shape[0] for g in groups), default=1)
    block = max(block, (block * group) // max(widest, 1))

    def blocks() -> Iterator[tuple[int, int, np.ndarray]]:
        most = min(block, count)
        maxima = np.empty((voters.rows, parts, most), dtype=np.float32)
        scratch = np.empty((max((g[1].shape[0] for g in groups), default=0), most), dtype=np.float32)
        best = np.empty((max((g[0].size for g in groups), default=0), parts, most), dtype=np.float32)
        for start in range(0, count, block):
            stop = min(start + block, count)
            out = maxima[:, :, : stop - start]
            part = transposed[:, start:stop] if transposed is not None else np.ascontiguousarray(weights[columns[start:stop]].T)
            for rows, vectors, wide in groups:
                votes = np.matmul(vectors, part, out=scratch[: vectors.shape[0], : stop - start])
                out[rows] = votes.reshape(rows.size, wide // parts, parts, stop - start).max(axis=1, out=best[: rows.size, :, : stop - start])
            if no_voter.any():
                out[no_voter] = -np.inf
            yield start, stop, out

    return sizes, blocks()


def vote_logsumexp(voters: Voters, weights: np.ndarray, mask_id: int, columns: np.ndarray, block: int = 1024, group: int = 512, owned: bool = True) -> np.ndarray:
    """Each row's log-sum-exp of its voters' votes for ``columns`` (sorted output columns):
    (rows, len(columns)); a voter never votes for its own item. The numpy twin of
    ``model.vote_logsumexp``, with its own blocking. ``block`` columns by about
    ``group`` voters (whole rows) at a time, while they are in cache. Without the max-shift
    where a row's votes for a column are all within ``EXP_SAFE`` (in practice every one: the
    shipped model's lie within -21..39); with it elsewhere. Each (row, column) is decided by
    its own votes, whichever other columns come with it (a product's last bit may still
    depend on its place in the matrix product: ``NumpyScorer.scores`` sees to ties).
    ``owned=False``: the caller knows no voter's item is among ``columns``."""
    count = columns.size
    out = np.empty((voters.rows, count), dtype=np.float32)
    voter = slot = np.zeros(0, dtype=np.int64)
    if owned:  # each voter's own column, where it is among them
        items = voters.own - 1
        voter = np.flatnonzero((voters.own != mask_id) & (items < weights.shape[0]))
        slot = items[voter]
        found = np.searchsorted(columns, slot).clip(max=max(count - 1, 0))
        kept = columns[found] == slot if count else np.zeros(slot.shape, dtype=bool)
        voter, slot = voter[kept], found[kept]
    tiny = np.finfo(np.float32).tiny
    if voters.rows == 1 and 0 < count <= block and voters.vectors.shape[0]:  # one row (most requests): the same steps, less setup
        votes = voters.vectors @ np.ascontiguousarray(weights[columns].T)
        if votes.max() <= EXP_SAFE and votes.min() >= -EXP_SAFE:
            np.exp(votes, out=votes)
            votes[voter, slot] = 0.0
            votes.sum(axis=0, out=out[0])
            return np.log(np.maximum(out, tiny, out=out), out=out)
    first = np.searchsorted(voters.row, np.arange(voters.rows + 1))
    out[first[1:] == first[:-1]] = -np.inf  # a row without voters
    groups = [(r0, r1) for r0, r1 in row_groups(first, group) if first[r1] > first[r0]]
    scratch = np.empty((max((first[r1] - first[r0] for r0, r1 in groups), default=0), min(block, count)), dtype=np.float32)
    for start in range(0, count, block):
        stop = min(start + block, count)
        part = np.ascontiguousarray(weights[columns[start:stop]].T)
        in_block = (slot >= start) & (slot < stop)
        for r0, r1 in groups:
            v0, v1 = first[r0], first[r1]
            votes = np.matmul(voters.vectors[v0:v1], part, out=scratch[: v1 - v0, : stop - start])
            own = in_block & (voter >= v0) & (voter < v1)
            own_at = (voter[own] - v0, slot[own] - start)
            shifted: list[tuple[int, np.ndarray, np.ndarray]] = []
            if not (votes.max(initial=-np.inf) <= EXP_SAFE and votes.min(initial=np.inf) >= -EXP_SAFE):
                votes[own_at] = -np.inf  # rare: the columns with a vote out of range, with the max-shift
                for r in range(r0, r1):
                    mine = votes[first[r] - v0 : first[r + 1] - v0]
                    if mine.shape[0]:
                        wild = np.flatnonzero((mine.max(axis=0) > EXP_SAFE) | (mine.min(axis=0) < -EXP_SAFE))
                        if wild.size:
                            top = mine[:, wild].max(axis=0)
                            top = np.where(np.isfinite(top), top, 0.0)
                            shifted.append((r, wild, np.log(np.exp(mine[:, wild] - top).sum(axis=0)) + top))
            if shifted:  # their exps here overflow; their sums are replaced below
                with np.errstate(over="ignore"):
                    np.exp(votes, out=votes)
            else:
                np.exp(votes, out=votes)
            votes[own_at] = 0.0
            sums = out[r0:r1, start:stop]
            for r in range(r0, r1):  # a sum per row: 30x faster than np.add.reduceat down the rows
                if first[r + 1] > first[r]:
                    votes[first[r] - v0 : first[r + 1] - v0].sum(axis=0, out=sums[r - r0])
            for r in range(r0, r1):
                if first[r + 1] > first[r]:
                    np.log(np.maximum(sums[r - r0], tiny, out=sums[r - r0]), out=sums[r - r0])
            for r, wild, value in shifted:
                sums[r - r0, wild] = value
    return out


def shares_from_voters(voters: Voters, weights: np.ndarray, favourites: np.ndarray, columns: np.ndarray, mask_id: int) -> np.ndarray:
    """Each favourite's share of a candidate's score, from one user's voters (all their rows):
    (len(columns), F), as ``scoring.vote_shares`` computes it from a torch model and favourites."""
    columns = np.asarray(columns, dtype=np.int64)
    votes = voters.vectors @ weights[columns].T  # (voters, candidates)
    votes[voters.own[:, None] == (columns + 1)[None, :]] = -np.inf  # no vote for oneself
    shares = np.zeros_like(votes)
    for chunk in range(voters.rows):
        mine = voters.row == chunk
        part = votes[mine]
        part = np.exp(part - part.max(axis=0, keepdims=True))
        shares[mine] = part / part.sum(axis=0, keepdims=True) / voters.rows
    voting = np.flatnonzero(voters.own != mask_id)
    by_id = np.argsort(favourites, kind="stable")
    out = np.zeros((len(columns), favourites.size), dtype=np.float32)
    out[:, by_id[np.searchsorted(favourites, voters.own[voting], sorter=by_id)]] = shares[voting].T
    return out


@dataclass(frozen=True)
class Encoded:
    """Requests after the forward pass: each token row's request (consecutive), and the voters."""

    owner: np.ndarray
    voters: Voters

    @cached_property
    def _starts(self) -> tuple[list[int], list[int]]:
        """Where each request's token rows start, and each row's voters (with the ends)."""
        requests = int(self.owner[-1]) + 1 if self.owner.size else 0
        return np.searchsorted(self.owner, np.arange(requests + 1)).tolist(), np.searchsorted(self.voters.row, np.arange(self.voters.rows + 1)).tolist()

    def of_user(self, user: int) -> Voters:
        """Request ``user``'s voters, its rows renumbered from 0."""
        rows, voters = self._starts
        first, stop = rows[user], rows[user + 1]
        start, end = voters[first], voters[stop]
        v = self.voters
        return Voters(v.vectors[start:end], v.row[start:end] - first, v.own[start:end], int(stop - first))

    def of_users(self, users: np.ndarray) -> tuple[Voters, np.ndarray]:
        """The voters of requests ``users`` (sorted), rows renumbered in order, and each row's index into ``users``."""
        rows = np.flatnonzero(np.isin(self.owner, users))
        position = np.full(self.voters.rows, -1, dtype=np.int64)
        position[rows] = np.arange(rows.size)
        mine = position[self.voters.row] >= 0
        v = self.voters
        return Voters(v.vectors[mine], position[v.row[mine]], v.own[mine], int(rows.size)), np.searchsorted(users, self.owner[rows])


class NumpyScorer:
    """The items readout for an app that answers many requests of a few favourites each: encode
    requests once, score only the columns they may show (or bound those scores cheaply), and
    the reasons' vote shares from the same voters."""

    def __init__(self, model: NumpyModel, table: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.model = model
        self.weights, bias = model.output_table() if table is None else table
        self.bias = bias * np.float32(model.config.bias_weight)
        self.norms = np.sqrt(np.einsum("nh,nh->n", self.weights, self.weights))
        """Each output vector's length (``cheap_upper``)."""
        self.largest = float(self.norms.max(initial=0.0))
        """The output table's largest norm (for the bounds' rounding room)."""
        self.bunch = 16
        """Token rows per transformer pass in ``encode`` (16: its arrays stay in cache; 64 took 10% longer)."""
        self._first_alike: np.ndarray | None = None
        self._tables: list[tuple[np.ndarray, np.ndarray]] = []
        self._tables_lock = threading.Lock()
        """(columns, ``weights[columns].T``) of the latest sets ``bounds`` was asked for twice, newest first."""
        self._seen: list[np.ndarray] = []
        """The latest sets of columns ``bounds`` was asked for once."""

    kept_tables = 4
    """How many sets of columns keep their transposed output table (``_transposed``)."""
    exact_bounds = False
    """``bounds`` are bounds, not the scores themselves."""
    bound_parts = 4
    """Sets of voters whose largest votes ``bounds`` keeps apart: more is tighter and dearer
    (on the shipped model 4 leave about 390 columns to score exactly, 1 about 900)."""

    def encode(self, rows: list[list[int]]) -> Encoded:
        """Encode requests (favourites as dense ids, each list non-empty), their token rows in
        bunches of similar length (a bunch is as wide as its longest row)."""
        config = self.model.config
        counts = [len(r) for r in rows]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        items = np.asarray([i for r in rows for i in r], dtype=np.int64)
        tokens, owner = chunked_queries(offsets, items, np.arange(len(rows)), config.max_len, False, config.mask_id)
        tokens = trim_padding(tokens, False)
        by_length = np.argsort((tokens != 0).sum(axis=1), kind="stable")
        parts = []
        for start in range(0, by_length.size, self.bunch):
            picked = by_length[start : start + self.bunch]
            voters = self.model.voters(trim_padding(tokens[picked], False))
            parts.append(Voters(voters.vectors, picked[voters.row], voters.own, voters.rows))
        row = np.concatenate([p.row for p in parts])
        order = np.argsort(row, kind="stable")  # by row; a row's voters keep their order
        voters = Voters(np.concatenate([p.vectors for p in parts])[order], row[order], np.concatenate([p.own for p in parts])[order], len(tokens))
        return Encoded(owner, voters)

    def _voters(self, encoded: Encoded, users: np.ndarray) -> tuple[Voters, np.ndarray]:
        """The voters of requests ``users`` (sorted) and each of their rows' index into ``users``."""
        if users.size == 1:
            voters = encoded.of_user(int(users[0]))
            return voters, np.zeros(voters.rows, dtype=np.int64)
        return encoded.of_users(users)

    def _per_user(self, per_row: np.ndarray, columns: np.ndarray, owner: np.ndarray, users: int) -> np.ndarray:
        """Per-row log-sum-exps (or their bounds) as scores: times the temperature, plus the bias, averaged over a user's rows."""
        if self.model.config.vote_temperature != 1.0:
            per_row *= np.float32(self.model.config.vote_temperature)
        per_row += self.bias[columns]
        if per_row.shape[0] == users:  # one row each
            return per_row
        total = np.zeros((users, per_row.shape[1]), dtype=np.float32)
        for row, user in enumerate(owner):  # rows come by user, most users have one
            total[user] += per_row[row]
        return total / np.bincount(owner, minlength=users)[:, None].astype(np.float32)

    def scores(self, encoded: Encoded, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Scores (len(users), len(columns)) of encoded requests ``users`` (sorted) for output
        ``columns`` (sorted): each chunk's log-sum-exp of votes plus the bias, averaged over a user's chunks."""
        users = np.asarray(users, dtype=np.int64)
        columns = np.asarray(columns, dtype=np.int64)
        voters, owner = self._voters(encoded, users)
        # Once per distinct vector: a product's last bit can depend on where its column falls
        # in the matrix product, and anime with the same vector must tie (and then go by
        # column). Each vector is scored at a column no voter owns; a favourite's own column,
        # which leaves its own vote out, is scored apart and taken for its own rows only.
        mask_id = self.model.config.mask_id
        marked = np.zeros(self.weights.shape[0], dtype=bool)
        marked[voters.own[voters.own != mask_id] - 1] = True
        own = marked[columns]
        keys = self._alike()[columns]
        if not own.any() and not marked[keys].any():  # the usual case: each vector at its first column, which no voter owns
            if keys.size < 2 or bool((keys[1:] > keys[:-1]).all()):
                per_row = vote_logsumexp(voters, self.weights, mask_id, keys, owned=False)
            else:
                firsts, where = np.unique(keys, return_inverse=True)
                per_row = vote_logsumexp(voters, self.weights, mask_id, firsts, owned=False)[:, where.reshape(-1)]
            return self._per_user(per_row, columns, owner, users.size)
        if own.any():
            alone = own & ~np.isin(keys, keys[~own])  # no column of the same vector that no voter owns
            keys[alone] = -1 - columns[alone]
        else:  # no favourite among the columns, but a vector's first column is one
            alone = own
        free = np.flatnonzero(~own | alone)
        vectors, first = np.unique(keys[free], return_index=True)
        order = np.argsort(first)
        rank = np.empty(first.size, dtype=np.int64)
        rank[order] = np.arange(first.size)
        picked = free[first[order]]  # sorted: columns' positions, one per vector
        per_row = vote_logsumexp(voters, self.weights, mask_id, columns[picked])[:, rank[np.searchsorted(vectors, keys)]]
        mine = np.flatnonzero(own & ~alone)
        if mine.size:  # a favourite's own column, for the rows it votes in
            apart = vote_logsumexp(voters, self.weights, mask_id, columns[mine])
            voting = np.flatnonzero(np.isin(voters.own - 1, columns[mine]) & (voters.own != mask_id))
            at = np.searchsorted(columns[mine], voters.own[voting] - 1)
            per_row[voters.row[voting], mine[at]] = apart[voters.row[voting], at]
        return self._per_user(per_row, columns, owner, users.size)

    def _alike(self) -> np.ndarray:
        """Each output column's first column with the same vector and the same bias."""
        if self._first_alike is None:
            table = np.ascontiguousarray(np.concatenate([self.weights, self.bias[:, None]], axis=1))
            rows = table.view(np.dtype((np.void, table.shape[1] * table.itemsize))).ravel()
            _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
            self._first_alike = first[inverse.reshape(-1)]
        return self._first_alike

    def _transposed(self, columns: np.ndarray) -> np.ndarray:
        """``weights[columns].T``, C-contiguous, for ``columns`` (sorted): kept for the last few
        sets asked twice (a set per filter choice), so a request does not gather and transpose
        the output table (3.4 MB for the default filters' columns) again. A set asked once (the
        few columns whose cheap bound was not enough, ``Engine._bounds``) is not kept."""
        with self._tables_lock:  # the app's worker threads share the scorer
            for i, (kept, table) in enumerate(self._tables):
                if kept.size == columns.size and np.array_equal(kept, columns):
                    if i:
                        self._tables.insert(0, self._tables.pop(i))
                    return table
            table = np.ascontiguousarray(self.weights[columns].T)
            for i, seen in enumerate(self._seen):
                if seen.size == columns.size and np.array_equal(seen, columns):
                    del self._seen[i]
                    self._tables.insert(0, (columns.copy(), table))
                    del self._tables[self.kept_tables :]
                    return table
            self._seen.insert(0, columns.copy())
            del self._seen[2 * self.kept_tables :]
            return table

    def _distinct(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``columns`` as the distinct output vectors among them (sorted columns, one per
        vector and bias) and where each column's vector is in that list. Anime without ratings
        whose metadata match have one: 15,152 of them have 8,482 in the shipped model."""
        alike = self._alike()[columns]
        used = np.zeros(self.weights.shape[0], dtype=bool)
        used[alike] = True
        return np.flatnonzero(used), (np.cumsum(used) - 1)[alike]

    def bounds(self, encoded: Encoded, users: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper and lower bounds (len(users), len(columns)) of ``scores(encoded, users, columns)``,
        at about a third of its cost. A row's voters are split in ``bound_parts`` sets (voter
        j in set j mod parts); with M_g the largest vote of set g (n_g voters, at most n), the log-sum-exp of all the
        votes lies between log sum_g exp(M_g) and log sum_g n_g exp(M_g), at most that plus log n
        (the sets' sizes differ by one at most, so little is lost). So the votes are reduced to
        a few maxima before any exp (which would cost a third of ``scores``), and once per
        distinct output vector. The lower bound holds for every column but a user's own
        favourites (their own votes count in the maxima). The engine picks a list's
        candidates by these and scores only those exactly (on the shipped model, with sequels
        hidden, 222 columns a request on average of the 12,516 allowed, and 304 of 19,146 with
        the default filters: benchmark workloads of 512 requests, 2026-12-07)."""
        users = np.asarray(users, dtype=np.int64)
        columns = np.asarray(columns, dtype=np.int64)
        voters, owner = self._voters(encoded, users)
        distinct, where = self._distinct(columns)
        sizes, blocks = vote_max(voters, self.weights, distinct, self.bound_parts, block=512, group=256, transposed=self._transposed(distinct))
        widest = np.log(np.maximum(sizes.max(axis=1), 1)).astype(np.float32)[:, None]  # log of each row's largest set
        lower_rows = np.empty((voters.rows, distinct.size), dtype=np.float32)
        upper_rows = np.empty((voters.rows, distinct.size), dtype=np.float32)
        largest_vote = 0.0
        for start, stop, runs in blocks:  # a block at a time, while its maxima are in cache
            top = runs.max(axis=1)  # (rows, block)
            empty = ~np.isfinite(top)  # a row without voters (or a broken vote): no bound
            top[empty] = 0.0
            largest = float(np.abs(top).max(initial=0))
            largest_vote = max(largest_vote, largest)
            lower, upper = lower_rows[:, start:stop], upper_rows[:, start:stop]
            if largest <= EXP_SAFE:  # in practice always: no shift (a set without voters is -inf, exp 0)
                np.exp(runs, out=runs)
                np.log(runs.sum(axis=1), out=lower)
            else:
                runs -= top[:, None, :]
                np.exp(runs, out=runs)
                np.log(runs.sum(axis=1), out=lower)
                lower += top
            np.add(lower, widest, out=upper)
            if empty.any():
                lower[empty] = upper[empty] = -np.inf
        lower = self._per_user(lower_rows, distinct, owner, users.size)
        upper = self._per_user(upper_rows, distinct, owner, users.size)
        lengths = np.sqrt(np.einsum("vh,vh->v", voters.vectors, voters.vectors))
        slack = self._slack(voters, lengths, owner, users.size, largest_vote, int(sizes.max(initial=1)), distinct)
        lower -= slack
        upper += slack
        # np.take gives rows in order: upper[:, where] would lay them out column by column, and
        # every later pass over a user's row would then read one float in 64 (5-10x slower).
        return np.take(upper, where, axis=1), np.take(lower, where, axis=1)

    def _slack(self, voters: Voters, lengths: np.ndarray, owner: np.ndarray, users: int, largest_vote: float, most_voters: int, columns: np.ndarray) -> np.ndarray:
        """(users, 1): the room both bounds leave for rounding. Float32 products (|error| <= 64 *
        2^-24 * |x| |w| each), exps and logs round; so does the exact path."""
        rounding = np.zeros(users, dtype=np.float32)  # each user's largest, over its rows
        np.maximum.at(rounding, owner[voters.row], lengths * np.float32(1e-5 * self.largest))
        temperature = float(self.model.config.vote_temperature)
        spread = float(np.log(max(most_voters, 1)))
        margin = np.float32(1e-4 * (1 + temperature * (largest_vote + spread) + float(np.abs(self.bias[columns]).max(initial=0))))
        return (np.float32(temperature) * rounding + margin)[:, None]

    def cheap_upper(self, encoded: Encoded, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """An upper bound of ``scores`` without a vote: far looser than ``bounds``', at a small
        part of its cost. Each of a row's n votes v.w is at most max |v| |w| (Cauchy-Schwarz),
        so their log-sum-exp is at most log n + max |v| |w|: a product of two lengths per row
        and column. For the many columns whose bound here is already too low for any list
        (``Engine._bounds``)."""
        users = np.asarray(users, dtype=np.int64)
        columns = np.asarray(columns, dtype=np.int64)
        voters, owner = self._voters(encoded, users)
        first = np.searchsorted(voters.row, np.arange(voters.rows + 1))
        counts = np.diff(first)
        has = counts > 0
        lengths = np.sqrt(np.einsum("vh,vh->v", voters.vectors, voters.vectors))
        longest = np.zeros(voters.rows, dtype=np.float32)
        if has.any():
            longest[has] = np.maximum.reduceat(lengths, first[:-1][has])
        upper_rows = longest[:, None] * self.norms[columns][None, :]
        upper_rows += np.log(np.maximum(counts, 1)).astype(np.float32)[:, None]
        upper_rows[~has] = -np.inf
        upper = self._per_user(upper_rows, columns, owner, users.size)
        upper += self._slack(voters, lengths, owner, users.size, float(longest.max(initial=0)) * self.largest, int(counts.max(initial=1)), columns)
        return upper

    def shares(self, encoded: Encoded, user: int, favourites: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Vote shares of encoded request ``user``: (len(columns), len(favourites))."""
        return shares_from_voters(encoded.of_user(user), self.weights, np.asarray(favourites, dtype=np.int64), columns, self.model.config.mask_id)


def load_numpy_model(path: Path, which: str = "best") -> tuple[NumpyModel, dict] | None:
    """The model in a run or model folder for the numpy path, with its meta; None when the
    numpy path cannot take it (the mask readout, a positional model): use torch then."""
    folder = resolve_model_dir(path, which)
    meta = read_meta(folder)
    config = ModelConfig.from_dict(meta["model_config"])
    if not NumpyModel.supports(config):
        return None
    return NumpyModel(config, read_weights(folder, config)), meta

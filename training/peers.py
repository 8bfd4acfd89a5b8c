"""The model's peers, each tuned on validation as the model is: popularity, EASE, ItemKNN, RP3beta, Mult-VAE.

A peer is fitted on the input rows of a split (``split_inputs``: for ``val`` every user's
training items, for ``test`` training + validation items), so it never sees the held-out
item of the split it is scored on, exactly as the model is trained. ``tune`` picks a peer's
parameters by validation NDCG@10 (full ranking); ``compare`` then fits the chosen
parameters once on the asked split's inputs and scores it there.

    peer = PEERS["ease"]
    best, points = tune(peer, data)
    scorer = peer.fit(data, "test", **best)
    result = evaluate(scorer, data, "test")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from training.data import Dataset
from training.errors import UserError
from training.evaluate import Scorer, evaluate, split_inputs
from training.itemitem import fit_ease

TUNE_METRIC = "ndcg@10"
"""What ``tune`` maximises on the validation split."""
MAX_ITEMS = 20_000
"""The item-item peers hold a few dense items x items matrices: more items than this do not fit a laptop."""

EASE_GRID = tuple({"lam": float(lam)} for lam in (10, 20, 50, 100, 200, 500, 1000, 2000))
"""Log-spaced, 10 to 2000: on the shipped data an earlier sweep of 20-500 found 100 best at validation NDCG@10."""
ITEMKNN_GRID = tuple({"k": k, "shrink": s} for k in (5, 10, 20, 50, 100, 200, 400, 0) for s in (0, 10, 50))
"""k = 0: every neighbour. On the shipped data fewer neighbours and less shrink did better
all the way down to k=50, shrink 0 of a first grid (k 50-all, shrink 0-100), hence k down to 5."""
RP3BETA_GRID = tuple({"alpha": a, "beta": b, "k": k} for a in (0.5, 1.0, 1.5) for b in (0.4, 0.6, 0.8, 1.0) for k in (100, 400))
"""On the shipped data a first grid (alpha 0.5-1, beta 0-0.6) chose its corner alpha 1, beta 0.6, k 400: this one goes past it."""
VAE_GRID = tuple({"epochs": e, "beta": b} for b in (0.2, 0.5) for e in (10, 20, 40))
"""Liang et al. 2018 anneal to 0.2; 0.5 for the small data here, where more regularisation may pay.
In this order each beta's runs continue one another: the grid trains 80 epochs, not 140."""


def input_matrix(data: Dataset, split: str) -> np.ndarray:
    """Every user's input items of ``split`` as a 0/1 (users x items) float32 matrix: what a peer may fit on."""
    _, in_off, in_items, _ = split_inputs(data, split)
    x = np.zeros((in_off.size - 1, data.num_items), dtype=np.float32)
    x[np.repeat(np.arange(in_off.size - 1), np.diff(in_off)), in_items - 1] = 1.0
    return x


def _rows_scorer(x: np.ndarray, weights: np.ndarray) -> Scorer:
    """Users' rows of ``x`` times an item-item matrix (row i: how much input item i votes for each item).

    Rows are read from ``x`` when called (a caller may write other lists into it), and each is
    summed over its few input items rather than multiplied densely: a user holds about 1-2% of
    the catalogue, so this does that share of a matrix product's work."""

    def score(users, offsets, items):
        out = np.empty((len(users), weights.shape[1]), dtype=np.float32)
        for row, user in enumerate(users):
            weights[np.flatnonzero(x[user])].sum(axis=0, out=out[row])
        return out

    return score


def _keep_top(weights: np.ndarray, k: int, axis: int) -> np.ndarray:
    """``weights`` with all but the ``k`` largest of each column (axis 0) or row (axis 1) set to 0, in place."""
    if 0 < k < weights.shape[axis]:
        cut = np.partition(weights, -k, axis=axis).take([-k], axis=axis)
        weights[weights < cut] = 0.0
    return weights


def _gram(prepared: dict) -> np.ndarray:
    """X'X of the split's inputs, computed once for every grid point."""
    if "gram" not in prepared:
        prepared["gram"] = prepared["x"].T @ prepared["x"]
    return prepared["gram"]


def _popularity(x: np.ndarray) -> Scorer:
    counts = x.sum(axis=0)

    def score(users, offsets, items):
        return np.broadcast_to(counts, (len(users), counts.size)).copy()

    return score


def _ease(prepared: dict, lam: float) -> Scorer:
    """EASE (Steck 2019): B = I - P / diag(P), P = (X'X + lam I)^-1, diagonal forced to 0."""
    weights = fit_ease(_gram(prepared), lam)  # float32: 2x faster than float64, and lambda >= 10 keeps it well conditioned
    return _rows_scorer(prepared["x"], weights)


def _itemknn(prepared: dict, k: int, shrink: float) -> Scorer:
    """Cosine item-item similarity with shrinkage, co(i,j) / (|i| |j| + shrink), keeping each item's ``k`` nearest (0: all)."""
    gram = _gram(prepared)
    norms = np.sqrt(np.diag(gram)).astype(np.float32)
    weights = gram / (np.outer(norms, norms) + shrink + 1e-6)
    np.fill_diagonal(weights, 0.0)
    return _rows_scorer(prepared["x"], _keep_top(weights, k, axis=0))


def _rp3beta(prepared: dict, alpha: float, beta: float, k: int) -> Scorer:
    """RP3beta (Paudel et al. 2017): the 3-step random walk item -> user -> item with each
    probability raised to ``alpha``, divided by the target's popularity to the ``beta``;
    each item keeps its ``k`` strongest successors (as Dacrema et al. 2019 run it)."""
    x = prepared["x"]
    cache = prepared.setdefault("walks", {})
    if alpha not in cache:
        user_degree = np.maximum(x.sum(axis=1), 1.0)
        cache[alpha] = x.T @ (x * (user_degree ** -alpha)[:, None])  # sum over users of P(u|i)^a P(j|u)^a, before P(u|i)'s 1/deg(i)
    item_degree = np.maximum(x.sum(axis=0), 1.0)
    weights = cache[alpha] * (item_degree ** -alpha)[:, None] * (item_degree ** -beta)[None, :]
    np.fill_diagonal(weights, 0.0)
    return _rows_scorer(x, _keep_top(weights.astype(np.float32), k, axis=1))


def _vae(prepared: dict, epochs: int, beta: float, hidden: int = 600, latent: int = 200, dropout: float = 0.5, batch: int = 128, lr: float = 1e-3, anneal_epochs: int = 10, seed: int = 0) -> Scorer:
    """Mult-VAE (Liang et al. 2018): a multinomial-likelihood VAE over each user's row, its KL
    weight annealed linearly from 0 to ``beta`` over the first ``anneal_epochs``. Seeded.

    A grid's longer runs continue its shorter ones with the same other settings (the anneal
    does not depend on the total), so a grid over epochs costs its longest run only."""
    import copy

    import torch
    from torch import nn

    x = torch.from_numpy(prepared["x"])
    n = x.shape[1]
    torch.manual_seed(seed)  # the layers' initialisation and the dropout masks
    encoder = nn.Sequential(nn.Linear(n, hidden), nn.Tanh(), nn.Linear(hidden, 2 * latent))
    decoder = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, n))
    drop = nn.Dropout(dropout)
    modules = nn.ModuleList([encoder, decoder])
    optimiser = torch.optim.Adam(modules.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(x.shape[0] / batch)
    anneal_steps = max(1, anneal_epochs * steps_per_epoch)
    key = (beta, hidden, latent, dropout, batch, lr, anneal_epochs, seed)
    done, state = prepared.setdefault("vae_runs", {}).get(key, (0, None))
    if state is not None and done <= epochs:
        modules.load_state_dict(state["modules"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["rng"])
    else:
        done = 0

    def encode(rows: torch.Tensor, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        rows = nn.functional.normalize(rows, dim=1)
        out = encoder(drop(rows) if train else rows)
        return out[:, :latent], out[:, latent:]

    modules.train()
    drop.train()
    step = done * steps_per_epoch
    for _ in range(done, epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], batch):
            rows = x[order[start : start + batch]]
            mu, logvar = encode(rows, True)
            z = mu + torch.randn(mu.shape, generator=generator) * torch.exp(0.5 * logvar)
            likelihood = (torch.log_softmax(decoder(z), dim=1) * rows).sum(dim=1).mean()
            kl = (0.5 * (-logvar + logvar.exp() + mu.pow(2) - 1).sum(dim=1)).mean()
            loss = -likelihood + beta * min(1.0, step / anneal_steps) * kl
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            step += 1
    state = {"modules": modules.state_dict(), "optimiser": optimiser.state_dict(), "generator": generator.get_state(), "rng": torch.get_rng_state()}
    prepared["vae_runs"][key] = (epochs, copy.deepcopy(state))  # a copy: a later, longer run must not move this scorer's weights
    modules.eval()
    drop.eval()

    def score(users, offsets, items):
        with torch.no_grad():
            mu, _ = encode(x[torch.from_numpy(np.asarray(users))], False)
            return decoder(mu).numpy()

    return score


@dataclass(frozen=True)
class Peer:
    """A peer: ``build(prepared, **params)`` makes its scorer from the split's input matrix
    (``prepared`` also holds what every grid point of that split can share: X'X, the walks)."""

    name: str
    build: Callable[..., Scorer]
    grid: tuple[dict, ...]

    def prepare(self, data: Dataset, split: str) -> dict:
        """What ``build`` starts from for ``split``: its input matrix, and a cache for its grid."""
        if self.name != "popularity" and data.num_items > MAX_ITEMS:
            raise UserError(f"{self.name} needs {data.num_items:,}² item-item matrices; score peers on data with at most {MAX_ITEMS:,} items")
        return {"x": input_matrix(data, split)}

    def fit(self, data: Dataset, split: str, **params: Any) -> Scorer:
        """The peer fitted with ``params`` on ``split``'s inputs, as a ``training.evaluate`` scorer."""
        return self.build(self.prepare(data, split), **params)


PEERS = {
    "popularity": Peer("popularity", lambda prepared: _popularity(prepared["x"]), ({},)),
    "ease": Peer("ease", _ease, EASE_GRID),
    "itemknn": Peer("itemknn", _itemknn, ITEMKNN_GRID),
    "rp3beta": Peer("rp3beta", _rp3beta, RP3BETA_GRID),
    "vae": Peer("vae", _vae, VAE_GRID),
}
"""Every peer by the name ``--peers`` takes."""


def tune(peer: Peer, data: Dataset, grid: tuple[dict, ...] | list[dict] | None = None, progress: Callable[[str], None] | None = None) -> tuple[dict, list[dict]]:
    """(best parameters, every grid point's validation result) for ``peer``, chosen by validation
    NDCG@10 under full ranking; the first of equal points wins. The test split is never read."""
    grid = list(peer.grid if grid is None else grid)
    if not grid:
        raise UserError(f"{peer.name}: an empty grid has nothing to choose from")
    prepared = peer.prepare(data, "val")
    points = []
    for params in grid:
        result = evaluate(peer.build(prepared, **params), data, "val")
        points.append({"params": dict(params), "metrics": result["metrics"], "standard_errors": result["standard_errors"]})
        if progress is not None:
            progress(f"{peer.name} {describe(params)}: val NDCG@10 {result['metrics'][TUNE_METRIC]:.4f}")
    best = max(range(len(points)), key=lambda i: (points[i]["metrics"][TUNE_METRIC], -i))
    return dict(grid[best]), points


def compare(peer: Peer, data: Dataset, split: str, grid: tuple[dict, ...] | list[dict] | None = None, progress: Callable[[str], None] | None = None, **eval_kwargs: Any) -> dict:
    """``peer`` tuned on validation, then fitted once with the chosen parameters on ``split``'s
    inputs and scored on ``split`` (``evaluate``'s result, plus ``chosen`` and the ``tuning`` points)."""
    chosen, points = tune(peer, data, grid, progress)
    result = evaluate(peer.fit(data, split, **chosen), data, split, **eval_kwargs)
    return {**result, "chosen": chosen, "tuning": points}


def parse_peers(text: str) -> list[str]:
    """'ease,itemknn' -> ['ease', 'itemknn'], every name checked against ``PEERS``."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PEERS]
    if unknown or not names:
        raise UserError(f"--peers takes a comma-separated list of {', '.join(PEERS)}; not {text!r}")
    return list(dict.fromkeys(names))


def describe(params: dict) -> str:
    """A peer's parameters as one short line: ``lam=100``, ``k=200 shrink=10``."""
    return " ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in params.items()) or "(no parameters)"


"""A trained model loaded as something that scores requests: numpy for the models it can run
(set models with the items readout: the shipped one), torch for the rest.

Both give the one interface the engine ranks with (``RequestScorer``): encode requests once,
then bounds of their scores, exact scores of the few columns that can make a list, the reasons'
vote shares, and the output table. The numpy path never imports torch: a process that
imports it takes 1.4 to 1.6 s, one with numpy alone 0.08 (the project's 2-core AMD EPYC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from animerec_tui.defaults import SHORT_LIST_BLEND
from animerec_tui.engine.columns import positions_of
from animerec_tui.engine.runtime import limit_blas_threads

if TYPE_CHECKING:
    from training.model import BERT4Rec
    from training.model_config import ModelConfig


class RequestScorer(Protocol):
    """What the engine asks of a model: encode requests once, then their scores and the reasons' vote shares."""

    def encode(self, rows: list[list[int]]) -> Any:
        """Requests (favourites as dense ids, each list non-empty) after the model's forward pass."""
        ...

    def scores(self, encoded: Any, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Exact scores (len(users), len(columns)) of encoded requests ``users`` (sorted) for output ``columns`` (sorted)."""
        ...

    def bounds(self, encoded: Any, users: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper and lower bounds of ``scores`` (the lower one need not hold for a user's own favourites)."""
        ...

    def cheap_upper(self, encoded: Any, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """An upper bound of ``scores``, maybe far looser than ``bounds``', at a small part of its cost (or the scores themselves)."""
        ...

    def shares(self, encoded: Any, user: int, favourites: np.ndarray, columns: np.ndarray) -> np.ndarray | None:
        """Each favourite's share of each column's score (len(columns), len(favourites)); None where the readout has no such split."""
        ...


@dataclass(frozen=True)
class Backend:
    """A loaded model: its scorer, its meta (vocabulary, configuration), its output table (weights, bias) in numpy."""

    scorer: RequestScorer
    meta: dict
    table: tuple[np.ndarray, np.ndarray]
    config: ModelConfig


def load_backend(model_dir: Path, device: str = "cpu", threads: int | None = None) -> Backend:
    """The model in ``model_dir`` on ``device``: numpy where it can run it on the CPU, else torch."""
    from training.numpy_model import NumpyScorer, load_numpy_model

    loaded = load_numpy_model(model_dir) if device == "cpu" else None
    if loaded is None:
        backend = _load_torch(model_dir, device, threads)
    else:
        limit_blas_threads(threads)
        model, meta = loaded
        table = model.output_table()
        backend = Backend(NumpyScorer(model, table), meta, table, model.config)
    return with_new_calibration(with_blend(backend, model_dir), model_dir)


def runs_in_numpy(scorer: RequestScorer) -> bool:
    """Whether ``scorer`` (with its blend and calibration) computes in numpy alone: a process holding it
    may fork (``batch_workers``), which torch's thread pools and devices do not allow."""
    from training.numpy_model import NumpyScorer

    while not isinstance(scorer, NumpyScorer) and hasattr(scorer, "inner"):
        scorer = scorer.inner
    return isinstance(scorer, NumpyScorer)


def with_blend(backend: Backend, model_dir: Path) -> Backend:
    """``backend`` with the item-item blend when its folder holds the table (``training.itemitem``), else itself."""
    from training.errors import UserError
    from training.itemitem import ITEMITEM_FILE, read_itemitem
    from training.model_files import resolve_model_dir

    folder = resolve_model_dir(model_dir)
    rated = backend.config.rated
    table = read_itemitem(folder, np.asarray(backend.meta["vocab"]["item_ids"][:rated], dtype=np.int64))
    blend: Any = backend.meta.get("blend")
    if table is None:
        if blend is not None:
            raise UserError(f"{folder}: meta.json names an item-item blend but {ITEMITEM_FILE} is missing")
        return backend
    try:
        weight, scale = float(blend["weight"]), float(blend["scale"])
        if not (np.isfinite(weight) and np.isfinite(scale) and weight >= 0 and scale > 0):
            raise ValueError("weight must be >= 0 and scale > 0")
        level = float(blend.get("new_level", 0.0))
        if not 0.0 <= level <= 1.0:
            raise ValueError("new_level must be from 0 to 1")
    except (TypeError, KeyError, ValueError) as exc:
        raise UserError(f"{folder}: meta.json's blend is missing or bad ({exc}); run scripts/calibrate_blend.py --write") from None
    scorer = BlendedScorer(backend.scorer, table, weight * scale, float(backend.config.vote_temperature), level, SHORT_LIST_BLEND)
    return Backend(scorer, backend.meta, backend.table, backend.config)


def blend_times(scorer: RequestScorer, times: float) -> RequestScorer | None:
    """``scorer`` (an engine's) with its item-item part ``times`` as strong for every request,
    whatever its length, its calibration of anime without ratings kept; None when it has no
    blend. ``Engine.similar`` asks with ``defaults.SIMILAR_BLEND``; benchmarks/short_lists.py
    measures what each multiple trades."""
    calibrated = scorer if isinstance(scorer, CalibratedScorer) else None
    blend = calibrated.inner if calibrated is not None else scorer
    if not isinstance(blend, BlendedScorer):
        return None
    scaled = BlendedScorer(blend.inner, blend.table, blend.coefficient * times, blend.temperature, blend.new_level)
    return calibrated.around(scaled) if calibrated is not None else scaled


def _quantile(row: np.ndarray, q: int) -> float:
    """``np.partition(row, q)[q]``, which on a row of mostly zeros (a short list's item-item
    scores: ties) takes 1 ms; the few positive values, then zero, then the rest, in turn."""
    above = row.size - q  # the answer is the ``above``-th largest
    positive = row[row > 0]
    if positive.size >= above:
        return float(np.partition(positive, positive.size - above)[positive.size - above])
    if np.count_nonzero(row >= 0) >= above:
        return 0.0
    return float(np.sort(row)[q])


class _Moved:
    """A scorer whose scores are another's (``inner``) moved by what it knows exactly: the
    same move (``_move``, in place) is made on the exact scores and on both bounds, so bounds
    stay bounds and the list rules (``ranking``) see one score. A subclass says where the
    inner scorer's encoding is (``_within``) and how it moves the scores."""

    inner: RequestScorer

    def _within(self, encoded: Any) -> Any:
        return encoded.inner

    def _move(self, encoded: Any, users: np.ndarray, columns: np.ndarray, *into: np.ndarray) -> None:
        raise NotImplementedError

    def scores(self, encoded: Any, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        scores = np.array(self.inner.scores(self._within(encoded), users, columns), dtype=np.float32)
        self._move(encoded, users, columns, scores)
        return scores

    def bounds(self, encoded: Any, users: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        upper, lower = self.inner.bounds(self._within(encoded), users, columns)  # each scorer's bounds are new arrays: moved in place
        upper, lower = np.asarray(upper, dtype=np.float32), np.asarray(lower, dtype=np.float32)
        self._move(encoded, users, columns, upper, lower)
        return upper, lower

    def cheap_upper(self, encoded: Any, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        upper = np.array(self.inner.cheap_upper(self._within(encoded), users, columns), dtype=np.float32)
        self._move(encoded, users, columns, upper)
        return upper

    def shares(self, encoded: Any, user: int, favourites: np.ndarray, columns: np.ndarray) -> np.ndarray | None:
        """The inner scorer's shares: the move changes a score, not who voted for it."""
        return self.inner.shares(self._within(encoded), user, favourites, columns)


@dataclass(frozen=True)
class _Blend:
    """Requests encoded by the model, and their item-item scores over the rated columns."""

    inner: Any
    ease: np.ndarray
    """(requests, rated) float32: the blend's part, coefficient times the sum over a request's favourites of B[f, j]."""
    level: np.ndarray
    """(requests,) float32: the blend's part given to every anime without ratings."""
    coefficient: np.ndarray
    """(requests,) float32: each request's coefficient (``BlendedScorer.short`` by its length)."""


class BlendedScorer(_Moved):
    """A model's scores plus ``coefficient`` times the item-item (EASE) score, exact for every
    rated column (anime without ratings have no item-item weights: their part is 0).

    The item-item part is known exactly and cheaply (a scatter of each favourite's kept
    weights), so it is added to the model's bounds as well as its exact scores: the list
    rules (``ranking``) see one score and stay written once. ``coefficient`` is the blend
    weight times the scale that makes the parts comparable (meta.json's ``blend``,
    chosen on validation by scripts/calibrate_blend.py).

    Anime without ratings have no item-item weights. Given 0 they would lose to every rated
    anime the favourites' weights lift, whatever the model thinks of them (at w 0.05 their
    share of top-10 places fell from 3.7% to 1.3%), and validation cannot say what that
    costs: every held-out anime there is a rated one. So each request gives them the
    ``new_level`` quantile of its own rated anime's item-item scores, a level chosen to keep
    their share of top-10 places where the model alone puts it.

    ``short``: multiples of the coefficient for requests of so few favourites (by how many the
    model knows). The item-item part is each favourite's own; at one or two favourites the
    model's vote of the list as a whole, popularity included, otherwise carries most of the
    list (``defaults.SHORT_LIST_BLEND`` says what the multiple trades)."""

    def __init__(self, inner: RequestScorer, table: Any, coefficient: float, temperature: float, new_level: float = 0.0, short: Mapping[int, float] | None = None) -> None:
        self.inner = inner
        self.table = table
        self.coefficient = coefficient
        self.temperature = temperature
        self.new_level = new_level
        self.short = dict(short or {})

    def encode(self, rows: list[list[int]]) -> _Blend:
        rated = self.table.rated
        # Every request's item-item scores in one scatter: favourite f of request n adds its kept weights to row n.
        owner = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
        favourites = np.asarray([i for r in rows for i in r], dtype=np.int64) - 1
        mine = favourites < rated  # anime without ratings have no weights
        owner, favourites = owner[mine], favourites[mine]
        at = (owner[:, None] * rated + self.table.indices[favourites]).ravel()
        sums = np.bincount(at, weights=self.table.values[favourites].ravel().astype(np.float64), minlength=len(rows) * rated)
        ease: np.ndarray = sums.reshape(len(rows), rated).astype(np.float32)
        coefficient = np.asarray([self.coefficient * self.short.get(len(r), 1.0) for r in rows], dtype=np.float32)
        ease *= coefficient[:, None]
        level = np.zeros(len(rows), dtype=np.float32)
        if self.new_level and rated:
            q = min(rated - 1, int(round(self.new_level * (rated - 1))))
            level = np.asarray([_quantile(row, q) for row in ease], dtype=np.float32)
        return _Blend(self.inner.encode(rows), ease, level, coefficient)

    def _move(self, encoded: _Blend, users: np.ndarray, columns: np.ndarray, *into: np.ndarray) -> None:
        """Add the blend's part of ``columns`` (sorted: those without ratings last, at the request's level) to each of ``into``."""
        columns = np.asarray(columns, dtype=np.int64)
        users = np.asarray(users, dtype=np.int64)
        rated = int(np.searchsorted(columns, self.table.rated))
        # One request (each list's exact scores): its row's columns alone, not a copy of the row first.
        part = encoded.ease[users[0]].take(columns[:rated])[None, :] if users.size == 1 else np.take(encoded.ease[users], columns[:rated], axis=1)
        level = encoded.level[users][:, None]
        for array in into:
            array[:, :rated] += part
            array[:, rated:] += level

    def shares(self, encoded: _Blend, user: int, favourites: np.ndarray, columns: np.ndarray) -> np.ndarray | None:
        """Each favourite's share of what the request adds to a column's score over its prior
        (len(columns), F); the rest of each row (1 - its sum) is the list as a whole's.

        The votes add V = -T log p_list over the list as a whole's vote alone (p_list: that
        vote's softmax weight; exact for a request of one token row), split by the vote shares
        p_f; the item-item part adds E = the positive parts of c B[f, j], split by each
        favourite's own. A favourite's share is lambda p_f + (1 - lambda) c B[f, j]+ / E with
        lambda = V / (V + E), so the list as a whole keeps lambda p_list; with no item-item
        part (E = 0) these are the model's vote shares unchanged."""
        votes = self.inner.shares(encoded.inner, user, favourites, columns)
        if votes is None:
            return None
        own = np.maximum(self.table.parts(np.asarray(favourites) - 1, columns) * encoded.coefficient[user], 0.0)
        ease = own.sum(axis=1, keepdims=True)
        listed = np.clip(1.0 - votes.sum(axis=1, keepdims=True), 1e-12, 1.0)
        v = -self.temperature * np.log(listed)
        whole = v + ease
        with np.errstate(invalid="ignore", divide="ignore"):
            by_votes = np.where(whole > 0, v / whole, 1.0)
            from_ease = np.where(ease > 0, own / ease, 0.0)
        return (by_votes * votes + (1.0 - by_votes) * from_ease).astype(np.float32)


NEW_CALIBRATION = "new_calibration"
"""meta.json's key for the calibration of the scores of anime without ratings (``CalibratedScorer``)."""


def with_new_calibration(backend: Backend, model_dir: Path) -> Backend:
    """``backend`` with its scores of anime without ratings calibrated when meta.json holds
    ``new_calibration`` (scripts/calibrate_new.py --write), else itself."""
    from training.errors import UserError
    from training.model_files import resolve_model_dir

    spec: Any = backend.meta.get(NEW_CALIBRATION)
    if spec is None:
        return backend
    rated, size = int(backend.config.rated), int(len(backend.meta["vocab"]["item_ids"]))
    try:
        a, weight = float(spec["a"]), float(spec.get("anchor_weight", 0.0))
        b = np.asarray(spec["b"], dtype=np.float64)
        if b.ndim == 0:
            b = np.full(size - rated, float(b))
        if not (np.isfinite(a) and np.isfinite(weight) and np.isfinite(b).all() and (b > 0).all() and weight >= 0):
            raise ValueError("a must be finite, b (a number or one per anime without ratings) > 0 and anchor_weight >= 0")
        offset = np.asarray(spec["offset"], dtype=np.float64)
        anchor = np.asarray(spec.get("anchor", [-1] * (size - rated)), dtype=np.float64)
        if offset.shape != (size - rated,) or anchor.shape != (size - rated,) or b.shape != (size - rated,):
            raise ValueError(f"offset, anchor and a list b must hold one value per anime without ratings ({size - rated:,})")
        if not np.isfinite(offset).all():
            raise ValueError("an offset is not a finite number")
        if not (np.all(anchor == np.round(anchor)) and np.all((anchor >= -1) & (anchor < rated))):
            raise ValueError(f"an anchor is not -1 or a rated column (0 to {rated - 1})")
    except (TypeError, KeyError, ValueError) as exc:
        raise UserError(f"{resolve_model_dir(model_dir)}: meta.json's {NEW_CALIBRATION} is bad ({exc}); rerun scripts/calibrate_new.py --write") from None
    scorer = CalibratedScorer(backend.scorer, rated, a, b.astype(np.float32), offset.astype(np.float32), anchor.astype(np.int64), weight)
    return Backend(scorer, backend.meta, backend.table, backend.config)


@dataclass
class _Anchored:
    """Requests encoded by the inner scorer, and the anchors' scores last computed for them
    (``CalibratedScorer._anchor_scores``): (requests, anchors, scores), or None."""

    inner: Any
    anchored: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


class CalibratedScorer(_Moved):
    """Scores of anime without ratings (columns >= ``rated``) on the rated anime's scale: column
    j's score s becomes ``a + b[j] * s + offset[j] + anchor_weight * s(anchor[j])``, where the
    anchor is the rated entry of j's franchise the fit chose (none: -1) and s(anchor) its exact
    score for the same request. Rated columns keep their scores.

    The parameters come from a fit on held-out anime (scripts/calibrate_new.py: a model that
    knows a tenth of the rated anime from metadata only), so that an anime without ratings
    scores what a rated one as likely to be the user's next liked anime scores. ``offset`` is
    the fitted per-anime part from the catalogue (members, MAL score, how complete the
    description is: a sparse one is pushed down), which also parts anime whose metadata tokens,
    and so raw scores, are the same; ``b[j]``, the slope, is smaller the sparser j's description
    (its raw score says less). The map is increasing in s (b > 0) and in the anchor's
    score (anchor_weight >= 0), and the anchors' scores are exact, so mapped bounds are bounds
    and the list rules (``ranking``) see one score."""

    def __init__(self, inner: RequestScorer, rated: int, a: float, b: np.ndarray | float, offset: np.ndarray, anchor: np.ndarray, anchor_weight: float = 0.0) -> None:
        self.inner = inner
        self.rated = rated
        self.a = np.float32(a)
        self.b = np.broadcast_to(np.asarray(b, dtype=np.float32), offset.shape)
        self.offset = offset
        self.anchor = anchor if anchor_weight > 0 else np.full_like(anchor, -1)
        self.anchor_weight = np.float32(anchor_weight)

    def around(self, inner: RequestScorer) -> CalibratedScorer:
        """The same calibration around another scorer of the same model (a blend being chosen)."""
        return CalibratedScorer(inner, self.rated, float(self.a), self.b, self.offset, self.anchor, float(self.anchor_weight))

    def encode(self, rows: list[list[int]]) -> _Anchored:
        return _Anchored(self.inner.encode(rows))

    def _anchor_scores(self, encoded: _Anchored, users: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """The inner scores (len(users), len(anchors)) of ``anchors`` (sorted rated columns),
        taken from the last ones computed for these requests where those cover them: a chunk's
        bounds ask for the anchors of every allowed anime without ratings first (the cheap
        bounds), and its later calls (full bounds, each list's exact scores) for some of them."""
        kept = encoded.anchored
        if kept is not None:
            rows, cols = positions_of(kept[0], users), positions_of(kept[1], anchors)
            if (rows >= 0).all() and (cols >= 0).all():
                return kept[2][np.ix_(rows, cols)]
        scores = np.asarray(self.inner.scores(encoded.inner, users, anchors), dtype=np.float32)
        if kept is None or users.size >= kept[0].size:
            encoded.anchored = (users.copy(), anchors.copy(), scores)
        return scores

    def _move(self, encoded: _Anchored, users: np.ndarray, columns: np.ndarray, *into: np.ndarray) -> None:
        """Map the parts of ``into`` (each (len(users), len(columns))) that are columns without ratings."""
        columns = np.asarray(columns, dtype=np.int64)
        first = int(np.searchsorted(columns, self.rated))
        if first == columns.size:
            return
        new = columns[first:] - self.rated
        extra = self.offset[new][None, :] + self.a
        slope = self.b[new][None, :]
        anchors = self.anchor[new]
        has = np.flatnonzero(anchors >= 0)
        if has.size:
            distinct, where = np.unique(anchors[has], return_inverse=True)
            anchored = self.anchor_weight * self._anchor_scores(encoded, np.asarray(users, dtype=np.int64), distinct)[:, where]
        for array in into:
            part = array[:, first:]
            part *= slope
            part += extra
            if has.size:
                part[:, has] += anchored



class OffsetScorer(_Moved):
    """``inner``'s scores plus a fixed amount per column, the same for every request.
    ``Engine.similar`` adds this way how alike an anime without ratings and each candidate are
    from their metadata."""

    def __init__(self, inner: RequestScorer, offset: np.ndarray) -> None:
        self.inner = inner
        self.offset = np.asarray(offset, dtype=np.float32)

    def encode(self, rows: list[list[int]]) -> Any:
        return self.inner.encode(rows)

    def _within(self, encoded: Any) -> Any:
        return encoded

    def _move(self, encoded: Any, users: np.ndarray, columns: np.ndarray, *into: np.ndarray) -> None:
        offset = self.offset[np.asarray(columns, dtype=np.int64)]
        for array in into:
            array += offset


def _load_torch(model_dir: Path, device: str, threads: int | None) -> Backend:
    import torch

    from training.checkpoint import load_model

    if threads is not None:
        torch.set_num_threads(threads)
    model, meta = load_model(model_dir, device)
    with torch.no_grad():
        table = model.output_table()
    numpy_table = (table[0].float().cpu().numpy(), table[1].float().cpu().numpy())
    return Backend(TorchScorer(model, table, device), meta, numpy_table, model.config)


@dataclass(frozen=True)
class _Scored:
    """Requests scored in full by ``TorchScorer.encode``."""

    scores: np.ndarray
    """(requests, every column)."""


class TorchScorer:
    """A torch model's full scores behind ``RequestScorer``, for the models the numpy path does
    not take (the mask readout, positional models) and for devices other than the CPU. The
    scores are exact, so the bounds are the scores themselves; the ranking is the same."""

    def __init__(self, model: BERT4Rec, table: Any, device: str) -> None:
        self.model = model
        self.table = table
        self.device = device

    def encode(self, rows: list[list[int]]) -> _Scored:
        """Every column's score of each request (the cloze query the model was trained for)."""
        from training.scoring import score_users

        counts = [len(r) for r in rows]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        items = np.asarray([i for r in rows for i in r], dtype=np.int64)
        return _Scored(score_users(self.model, offsets, items, np.arange(len(rows)), False, self.device, self.table).cpu().numpy())

    def scores(self, encoded: _Scored, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return encoded.scores[np.ix_(np.asarray(users), np.asarray(columns))]

    def bounds(self, encoded: _Scored, users: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = self.scores(encoded, users, columns)
        return scores, scores.copy()

    cheap_upper = scores

    def shares(self, encoded: _Scored, user: int, favourites: np.ndarray, columns: np.ndarray) -> np.ndarray | None:
        """The items readout's vote shares (one more forward pass); None for the mask readout."""
        if self.model.config.readout != "items":
            return None
        from training.scoring import vote_shares

        return vote_shares(self.model, np.asarray(favourites, dtype=np.int64), np.asarray(columns), self.device, self.table)

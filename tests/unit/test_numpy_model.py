"""The numpy inference path computes what the torch model computes (items readout, eval mode).

Models here get weights far from their initial ones (normal, std 0.3), so attention,
layer norms and GELU all shape the result; lists are long enough to be cut into chunks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training.checkpoint import checkpoint_meta, load_model, write_checkpoint
from training.errors import UserError
from training.model import BERT4Rec, ModelConfig
from training.numpy_model import ATTENTION_SAFE, NumpyScorer, gelu, gelu_tile, load_numpy_model
from training.scoring import score_users, vote_shares

REPO = Path(__file__).resolve().parents[2]


def scrambled_model(folder: Path, seed: int = 0, num_items: int = 60, rated: int = 0, **config) -> Path:
    """A model with random metadata tokens and every float weight drawn afresh (std 0.3)."""
    generator = torch.Generator().manual_seed(seed)
    settings = {"num_genres": 9, "genres_per_item": 4, "hidden": 16, "heads": 2, "max_len": 8, **config}
    model_config = ModelConfig(num_items=num_items, num_rated=rated, **settings)
    genres = torch.randint(0, 10, (num_items + 2, 4), generator=generator)
    genres[0] = 0
    weights = torch.rand(genres.shape, generator=generator) * (genres != 0)
    model = BERT4Rec(model_config, genres, weights if model_config.pooling == "fields" else None)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3 + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
    ids = np.arange(1000, 1000 + num_items, dtype=np.int64)
    write_checkpoint(folder, model, checkpoint_meta(model_config, None, ids, "mal", [f"g{i}" for i in range(9)]))
    return folder


def torch_scores(model: BERT4Rec, rows: list[list[int]], columns: np.ndarray) -> np.ndarray:
    """The torch model's scores of favourite lists (the cloze query, as evaluation runs it) at ``columns``."""
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    return score_users(model.eval(), offsets, np.concatenate(rows), np.arange(len(rows)), False).numpy()[:, columns]


def requests(num_items: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(np.arange(1, num_items + 1), size=n, replace=False).tolist()) for n in (1, 2, 5, 7, 8, 20, 33, 3)]


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"pooling": "fields", "meta_bias": True, "rated": 45},
        {"pooling": "mean", "rated": 30, "layers": 1},
        {"genres": False, "num_genres": 0, "genres_per_item": 0},
        {"pooling": "fields", "meta_bias": True, "rated": 45, "vote_temperature": 0.7, "bias_weight": 1.1},
    ],
    ids=["mean pooling", "fields, metadata bias, unrated anime", "one block, unrated", "no metadata", "calibrated readout"],
)
def test_scores_shares_and_table_match_the_torch_model(tmp_path, config):
    folder = scrambled_model(tmp_path / "model", **config)
    numpy_model, meta = load_numpy_model(folder)
    torch_model, _ = load_model(folder)
    assert meta["model_config"] == torch_model.config.to_dict()
    with torch.no_grad():
        weights, bias = torch_model.output_table()
    mine = NumpyScorer(numpy_model)
    np.testing.assert_allclose(mine.weights, weights.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mine.bias, bias.detach().numpy() * torch_model.config.bias_weight, rtol=1e-5, atol=1e-5)
    rows = requests(torch_model.config.num_items)
    columns = np.arange(0, torch_model.config.num_items, 2)
    ours, reference = mine.encode(rows), torch_scores(torch_model, rows, columns)
    users = np.arange(len(rows))
    np.testing.assert_allclose(mine.scores(ours, users, columns), reference, rtol=1e-4, atol=1e-4)
    for user in (0, 5, 6):  # one favourite; 20 and 33 favourites: three and five chunks of 7
        np.testing.assert_allclose(mine.scores(ours, np.asarray([user]), columns), reference[[user]], rtol=1e-4, atol=1e-4)
        favourites = np.asarray(rows[user])
        np.testing.assert_allclose(mine.shares(ours, user, favourites, columns), vote_shares(torch_model, favourites, columns), rtol=1e-4, atol=1e-5)


def test_large_votes_take_the_shifted_log_sum_exp(tmp_path):
    """Votes beyond exp's safe range go through the max-shifted path and stay finite and equal."""
    folder = scrambled_model(tmp_path / "model", seed=3)
    numpy_model, _ = load_numpy_model(folder)
    torch_model, _ = load_model(folder)
    with torch.no_grad():
        torch_model.item_emb.weight.mul_(6.0)
        torch_model.head[2].weight.mul_(60.0)
    numpy_model.w["item_emb.weight"] *= 6.0
    numpy_model.w["head.2.weight"] *= 60.0
    mine = NumpyScorer(numpy_model)
    rows = requests(60, seed=1)
    columns = np.arange(60)
    encoded = mine.encode(rows)
    votes = encoded.voters.vectors @ mine.weights.T
    assert (np.abs(votes) > 75).any() and (np.abs(votes) <= 75).any()  # some past the unshifted path's range, some within
    got = mine.scores(encoded, np.arange(len(rows)), columns)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, torch_scores(torch_model, rows, columns), rtol=1e-4, atol=1e-3)
    for user in range(len(rows)):  # the shifted path is decided per row and column: any columns with it give the same
        np.testing.assert_allclose(mine.scores(encoded, np.asarray([user]), columns[user::3])[0], got[user, user::3], rtol=1e-6)
    _assert_bounds_hold(mine, encoded, rows, columns)


def _assert_bounds_hold(scorer: NumpyScorer, encoded, rows: list[list[int]], columns: np.ndarray) -> None:
    users = np.arange(len(rows))
    exact = scorer.scores(encoded, users, columns)
    upper, lower = scorer.bounds(encoded, users, columns)
    assert upper.shape == lower.shape == exact.shape
    assert (exact <= upper).all()
    favourite = np.zeros(exact.shape, dtype=bool)
    for user, row in enumerate(rows):
        favourite[user] = np.isin(columns, np.asarray(row) - 1)
    assert (lower[~favourite] <= exact[~favourite]).all()  # the lower bound may fail for a favourite only
    alone_upper, alone_lower = scorer.bounds(encoded, users[2:3], columns)  # a request's bounds alone hold too
    assert (exact[2] <= alone_upper[0]).all() and (alone_lower[0][~favourite[2]] <= exact[2][~favourite[2]]).all()
    assert (exact <= scorer.cheap_upper(encoded, users, columns)).all()  # looser, and a bound all the same


@pytest.mark.parametrize("seed", range(4))
def test_bounds_hold_on_every_column(tmp_path, seed):
    folder = scrambled_model(tmp_path / "model", seed=seed, pooling="fields", meta_bias=True, rated=30, vote_temperature=0.7, bias_weight=1.1, num_items=80)
    scorer = NumpyScorer(load_numpy_model(folder)[0])
    rows = requests(80, seed=seed)
    _assert_bounds_hold(scorer, scorer.encode(rows), rows, np.arange(0, 80))
    _assert_bounds_hold(scorer, scorer.encode(rows), rows, np.arange(3, 80, 3))


def test_gelu_is_the_exact_one():
    x = torch.linspace(-8, 8, 4001)
    np.testing.assert_allclose(gelu(x.numpy().copy()), torch.nn.functional.gelu(x).numpy(), rtol=1e-6, atol=2e-6)  # float32 steps at 8: 1e-6 (gelu works in place)


def test_models_the_numpy_path_does_not_take_go_to_torch(tmp_path):
    assert load_numpy_model(scrambled_model(tmp_path / "mask", readout="mask")) is None


def test_a_damaged_weights_file_is_one_clear_error(tmp_path):
    folder = scrambled_model(tmp_path / "model")
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(UserError, match="not a readable safetensors file"):
        load_numpy_model(folder)


def test_the_engine_answers_without_importing_torch():
    code = (
        "import sys\n"
        "from animerec_tui.engine import Engine\n"
        "engine = Engine(threads=1)\n"
        "result = engine.recommend([1535, 9253, 5114], 10)\n"
        "assert len(result.items) == 10 and all(r.because for r in result.items), result\n"
        "assert engine.similar(1535, 5)\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_the_readout_temperature_and_bias_weight_are_what_the_scores_say(tmp_path):
    """T * logsumexp(votes / T) + weight * bias, by hand, for one request; the torch eval path agrees."""
    config = {"pooling": "fields", "meta_bias": True, "rated": 45, "vote_temperature": 0.6, "bias_weight": 1.3}
    folder = scrambled_model(tmp_path / "model", seed=5, **config)
    numpy_model, _ = load_numpy_model(folder)
    plain, _ = load_numpy_model(scrambled_model(tmp_path / "plain", seed=5, **{**config, "vote_temperature": 1.0, "bias_weight": 1.0}))
    favourites = [3, 9, 14, 30]
    tokens = np.asarray([favourites + [numpy_model.config.mask_id]])
    votes = plain.voters(tokens).vectors @ plain.output_table()[0].T  # (5 voters, items)
    votes[np.arange(4), np.asarray(favourites) - 1] = -np.inf  # no vote for oneself
    weights, bias = plain.output_table()
    top = votes.max(axis=0)
    expected = 0.6 * (np.log(np.exp((votes - top) / 0.6).sum(axis=0)) + top / 0.6) + 1.3 * bias
    mine = NumpyScorer(numpy_model)
    columns = np.arange(60)
    np.testing.assert_allclose(mine.scores(mine.encode([favourites]), np.asarray([0]), columns)[0], expected, rtol=1e-4, atol=1e-4)
    torch_model, _ = load_model(folder)
    with torch.no_grad():
        got = torch_model.set_scores(torch.from_numpy(tokens))[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_a_weights_file_missing_a_tensor_is_one_clear_error(tmp_path):
    from safetensors.numpy import load_file, save_file

    folder = scrambled_model(tmp_path / "model")
    weights = load_file(str(folder / "model.safetensors"))
    del weights["blocks.0.ffn.2.bias"]
    save_file(weights, str(folder / "model.safetensors"))
    with pytest.raises(UserError, match="blocks.0.ffn.2.bias is None"):
        load_numpy_model(folder)


def test_anime_with_the_same_vector_tie_wherever_they_are_scored(tmp_path):
    """Anime without ratings whose metadata match have one vector and must get one score (the
    list then orders them by column): a product's last bit can depend on where its column
    falls in the matrix product, so the scorer computes each distinct vector once."""
    folder = scrambled_model(tmp_path / "model", seed=5, num_items=400, rated=100, hidden=64, heads=2, pooling="fields", meta_bias=True)
    numpy_model, _ = load_numpy_model(folder)
    twins = np.asarray([150, 233, 301, 302, 377, 399])  # dense ids, all without ratings
    for name in ("item_genres", "genre_weights"):
        numpy_model.w[name][twins] = numpy_model.w[name][twins[0]]
    scorer = NumpyScorer(numpy_model)
    assert (scorer.weights[twins - 1] == scorer.weights[twins[0] - 1]).all()
    rows = requests(400, seed=2)
    encoded = scorer.encode(rows)
    rng = np.random.default_rng(0)
    for size in (6, 17, 40, 100, 250, 394):
        columns = np.sort(np.concatenate([twins - 1, rng.choice(np.setdiff1d(np.arange(400), twins - 1), size, replace=False)]))
        at = np.searchsorted(columns, twins - 1)
        scores = scorer.scores(encoded, np.arange(len(rows)), columns)
        for user, row in enumerate(rows):
            mine = scores[user, at[~np.isin(twins, row)]]  # a favourite's own column leaves its own vote out
            assert (mine == mine[0]).all()


def _repeat_an_id(folder: Path) -> None:
    import json

    from training.model_files import vocab_hash

    meta = json.loads((folder / "meta.json").read_text())
    meta["vocab"]["item_ids"][3] = meta["vocab"]["item_ids"][0]
    meta["vocab"]["sha256"] = vocab_hash(np.asarray(meta["vocab"]["item_ids"], dtype=np.int64))
    (folder / "meta.json").write_text(json.dumps(meta))


def _retype(name: str, change) -> object:
    def damage(folder: Path) -> None:
        from safetensors.numpy import load_file, save_file

        weights = load_file(str(folder / "model.safetensors"))
        weights[name] = change(weights[name])
        save_file(weights, str(folder / "model.safetensors"))

    return damage


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (_repeat_an_id, "the vocabulary repeats item 1000"),
        (_retype("out_bias", lambda a: np.full_like(a, 3e38)), "out_bias holds values as large as 3e+38"),
        (_retype("blocks.0.qkv.weight", lambda a: (a * 10).astype(np.int32)), "blocks.0.qkv.weight holds int32 values"),
        (_retype("item_emb.weight", lambda a: a.astype(np.int64)), "item_emb.weight holds int64 values"),
        (_retype("item_genres", lambda a: a.astype(np.float32)), "item_genres holds float32 values"),
    ],
    ids=["repeated id", "out_bias 3e38", "int32 weights", "int64 embedding", "float genre ids"],
)
def test_both_paths_refuse_the_same_model_folders(tmp_path, damage, fragment):
    """The numpy path (recommend, the TUI) and torch (eval, training) read the same checks."""
    folder = scrambled_model(tmp_path / "model")
    damage(folder)
    with pytest.raises(UserError, match=fragment.replace("+", r"\+")):
        load_numpy_model(folder)
    with pytest.raises(UserError, match=fragment.replace("+", r"\+")):
        load_model(folder)


def test_vote_max_is_the_brute_force_maxima_whatever_the_blocks_and_layout():
    from training.numpy_model import Voters, vote_max

    rng = np.random.default_rng(0)
    weights = rng.normal(size=(3000, 16)).astype(np.float32)
    columns = np.sort(rng.choice(3000, 2500, replace=False))
    lengths = [1, 3, 9, 40, 2, 17]  # rows of few voters take wider blocks than rows of many
    row = np.repeat(np.arange(len(lengths)), lengths)
    voters = Voters(rng.normal(size=(row.size, 16)).astype(np.float32), row, np.ones(row.size, dtype=np.int64), len(lengths))
    parts = 4
    votes = voters.vectors @ weights[columns].T
    expected = np.full((len(lengths), parts, columns.size), -np.inf, dtype=np.float32)
    for v in range(row.size):
        j = v - int(np.searchsorted(row, row[v]))
        expected[row[v], j % parts] = np.maximum(expected[row[v], j % parts], votes[v])
    for transposed in (None, np.ascontiguousarray(weights[columns].T)):
        for block, group in ((64, 8), (512, 256), (4096, 64)):
            sizes, blocks = vote_max(voters, weights, columns, parts, block=block, group=group, transposed=transposed)
            got = np.concatenate([maxima.copy() for _, _, maxima in blocks], axis=2)
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
            assert sizes.tolist() == [[(n + parts - 1 - p) // parts for p in range(parts)] for n in lengths]


def test_the_transposed_output_table_is_kept_for_the_latest_sets_of_columns_asked_twice(tmp_path):
    scorer = NumpyScorer(load_numpy_model(scrambled_model(tmp_path / "model", seed=0, num_items=80))[0])
    once = scorer._transposed(np.arange(0, 80, 2))
    np.testing.assert_array_equal(once, scorer.weights[np.arange(0, 80, 2)].T)
    assert once.flags.c_contiguous and not scorer._tables  # a set asked once is not kept
    first = scorer._transposed(np.arange(0, 80, 2))
    assert scorer._transposed(np.arange(0, 80, 2)) is first  # asked twice: kept
    for _ in range(3):
        for start in range(1, 40):  # sets asked once each (Engine._bounds' columns left to refine) push nothing out
            scorer._transposed(np.arange(start, 80, 41 - start))
    assert scorer._transposed(np.arange(0, 80, 2)) is first
    for start in range(1, scorer.kept_tables + 1):  # as many other sets asked twice as are kept push the first out
        scorer._transposed(np.arange(start, 80, 3))
        scorer._transposed(np.arange(start, 80, 3))
    assert scorer._transposed(np.arange(0, 80, 2)) is not first and len(scorer._tables) == scorer.kept_tables


def _token_rows(num_items: int, mask_id: int, seed: int = 0) -> np.ndarray:
    """Rows of distinct items, each ending in the mask token, the shorter ones padded with 0."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((6, 12), dtype=np.int64)
    for r, n in enumerate((11, 3, 7, 1, 11, 5)):
        rows[r, :n] = rng.choice(np.arange(1, num_items + 1), size=n, replace=False)
        rows[r, n] = mask_id
    return rows


@pytest.mark.parametrize("shift_free", [True, False], ids=["no max-shift", "max-shift"])
def test_attention_with_or_without_the_max_shift_is_the_torch_models(tmp_path, shift_free):
    folder = scrambled_model(tmp_path / "model", hidden=32, heads=4, max_len=12)
    numpy_model, _ = load_numpy_model(folder)
    torch_model, _ = load_model(folder)
    numpy_model.shift_free = shift_free  # the cached property, overridden
    tokens = _token_rows(60, numpy_model.config.mask_id)
    with torch.no_grad():
        expected = torch_model.eval().encode(torch.from_numpy(tokens)).numpy()
    real = tokens != 0  # what padded positions hold is never read
    np.testing.assert_allclose(numpy_model.encode(tokens)[real], expected[real], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(numpy_model.encode(tokens[real.all(axis=1)])[:, :], expected[real.all(axis=1)], rtol=1e-4, atol=1e-4)  # no padding: no mask


@pytest.mark.parametrize("std", [0.3, 3.0])
def test_the_attention_bound_holds_and_decides_the_max_shift(tmp_path, std):
    folder = scrambled_model(tmp_path / "model", max_len=12)  # hidden 16: a bound of 37 at std 0.3
    numpy_model, _ = load_numpy_model(folder)
    for name in list(numpy_model.w):
        if ".qkv." in name:
            numpy_model.w[name] = numpy_model.w[name] * np.float32(std / 0.3)
    bound = numpy_model.attention_bound
    assert numpy_model.shift_free == (bound <= ATTENTION_SAFE)
    assert numpy_model.shift_free == (std == 0.3)  # a far larger one needs the shift
    tokens = _token_rows(60, numpy_model.config.mask_id, seed=1)
    largest = []
    original = numpy_model._attend

    def spy(q, k, v, keep):
        largest.append(float(np.abs(q @ k.transpose(0, 1, 3, 2)).max()))
        return original(q, k, v, keep)

    numpy_model._attend = spy
    numpy_model.encode(tokens)
    assert 0 < max(largest) <= bound


def test_gelu_in_tiles_is_gelu_at_once_in_place_whatever_the_layout():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((700, 256), dtype=np.float32) * 3  # several tiles of GELU_TILE values
    expected = torch.nn.functional.gelu(torch.from_numpy(x.copy())).numpy()
    tiled = x.copy()
    assert gelu(tiled) is tiled
    np.testing.assert_allclose(tiled, expected, rtol=1e-6, atol=2e-6)
    np.testing.assert_array_equal(tiled, gelu_tile(x.copy()))
    strided = x.copy().T  # not C-contiguous: still in place
    gelu(strided)
    np.testing.assert_array_equal(strided, tiled.T)

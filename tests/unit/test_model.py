"""The transformer: cloze loss, masking, set semantics, genre fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.data import chunked_queries, mask_tokens, pad_rows
from training.model import EXP_SAFE, BERT4Rec, ModelConfig, popularity_adjustment, vote_logsumexp


def _model(positional=False, genres=False, num_items=30, readout="mask", **kw) -> BERT4Rec:
    torch.manual_seed(0)
    config = ModelConfig(num_items=num_items, max_len=12, hidden=32, heads=2, layers=2, dropout=0.0, positional=positional, genres=genres, num_genres=4 if genres else 0, genres_per_item=2 if genres else 0, readout=readout, **kw)
    table = None
    if genres:
        table = torch.zeros(num_items + 2, 2, dtype=torch.long)
        table[1:num_items + 1, 0] = torch.arange(num_items) % 4 + 1
    return BERT4Rec(config, table).eval()


@pytest.mark.parametrize("positional", [False, True])
def test_asking_for_some_positions_gives_exactly_their_hidden_states(positional):
    model = _model(positional=positional)
    generator = torch.Generator().manual_seed(4)
    tokens = torch.randint(1, 32, (6, 10), generator=generator)
    tokens[1, 7:] = 0  # padding on the right
    tokens[4, :3] = 0  # and on the left
    queries = torch.tensor([[5, 2], [0, 9], [0, 1], [4, 3], [1, 6], [5, 2], [3, 0]])  # unsorted, repeated, rows missing
    with torch.no_grad():
        full = model.encode(tokens)
        some = model.encode(tokens, queries)
    torch.testing.assert_close(some, full[queries[:, 0], queries[:, 1]], rtol=1e-5, atol=1e-5)


def test_cloze_loss_matches_scores_read_off_the_full_output():
    model = _model()
    generator = torch.Generator().manual_seed(5)
    tokens = torch.randint(1, 31, (8, 10), generator=generator)
    inputs, positions, labels = mask_tokens(tokens, 0.4, 31, 30, generator)
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model.score(model.encode(inputs)[positions[:, 0], positions[:, 1]]), labels - 1)
        torch.testing.assert_close(model.cloze_loss(inputs, positions, labels), expected, rtol=1e-5, atol=1e-5)


def test_order_does_not_matter_without_positions():
    model = _model()
    tokens = torch.tensor([[3, 7, 9, 12, 31, 0, 0]])
    permuted = torch.tensor([[12, 9, 31, 3, 7, 0, 0]])
    with torch.no_grad():
        a = model.score(model.encode(tokens)[0, 4])
        b = model.score(model.encode(permuted)[0, 2])
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_order_matters_with_positions():
    model = _model(positional=True)
    with torch.no_grad():
        a = model.score(model.encode(torch.tensor([[3, 7, 9, 31]]))[0, 3])
        b = model.score(model.encode(torch.tensor([[9, 3, 7, 31]]))[0, 3])
    assert not torch.allclose(a, b)


def test_padding_does_not_change_scores():
    model = _model()
    with torch.no_grad():
        a = model.score(model.encode(torch.tensor([[3, 7, 31]]))[0, 2])
        b = model.score(model.encode(torch.tensor([[3, 7, 31, 0, 0, 0]]))[0, 2])
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_scores_are_computed_only_at_masked_positions():
    model = _model()
    seen_shapes = []
    original = model.score
    model.score = lambda hidden, table=None: seen_shapes.append(tuple(hidden.shape)) or original(hidden, table)
    tokens = torch.randint(1, 31, (4, 10))
    positions = torch.tensor([[0, 1], [2, 5], [3, 9]])
    logits = model(tokens, positions)
    assert logits.shape == (3, 30)
    assert seen_shapes == [(3, 32)]


def test_genres_change_the_item_vectors_and_the_output_table():
    plain, hybrid = _model(), _model(genres=True)
    ids = torch.tensor([1, 2, 5])
    with torch.no_grad():
        hybrid.genre_emb.weight.normal_()
        fused = hybrid.embed_items(ids)
        assert not torch.allclose(fused, hybrid.item_emb(ids))
        # items 1 and 5 share genre 1: the genre part of their vectors is the same
        torch.testing.assert_close(fused[0] - hybrid.item_emb.weight[1], fused[2] - hybrid.item_emb.weight[5])
    assert plain.output_table()[0].shape == hybrid.output_table()[0].shape == (30, 32)


def test_masking_statistics():
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 101, (400, 50))
    tokens[:, 40:] = 0
    inputs, positions, labels = mask_tokens(tokens, 0.2, 102, 101, generator)
    chosen = torch.zeros_like(tokens, dtype=torch.bool)
    chosen[positions[:, 0], positions[:, 1]] = True
    assert not chosen[:, 40:].any(), "padding is never masked"
    assert abs(chosen[:, :40].float().mean().item() - 0.2) < 0.01
    masked = inputs[chosen] == 102
    kept = inputs[chosen] == tokens[chosen]
    assert abs(masked.float().mean().item() - 0.8) < 0.02
    assert 0.08 < (kept & ~masked).float().mean().item() < 0.14  # 10% unchanged (+ random hits of the same item)
    assert torch.equal(labels, tokens[chosen])
    assert torch.equal(inputs[~chosen], tokens[~chosen])


def test_every_row_gets_at_least_one_mask():
    generator = torch.Generator().manual_seed(1)
    tokens = torch.zeros(200, 8, dtype=torch.long)
    tokens[:, :2] = 5
    _, positions, _ = mask_tokens(tokens, 0.01, 9, 8, generator)
    assert set(positions[:, 0].tolist()) == set(range(200))


def test_long_unordered_rows_are_subsampled_afresh_and_ordered_rows_keep_the_latest():
    offsets, items = np.array([0, 10]), np.arange(1, 11)
    rng = np.random.default_rng(0)
    draws = [set(pad_rows(offsets, items, np.array([0]), 4, False, rng, 4)[0].tolist()) for _ in range(20)]
    assert all(len(d) == 4 for d in draws) and len({frozenset(d) for d in draws}) > 1
    assert set().union(*draws) == set(range(1, 11))
    latest = pad_rows(offsets, items, np.array([0]), 4, True, None, 4)[0]
    assert latest.tolist() == [7, 8, 9, 10]


def test_random_windows_cover_a_long_ordered_history_in_order():
    offsets, items = np.array([0, 10, 13]), np.arange(1, 14)
    rng = np.random.default_rng(0)
    rows = [pad_rows(offsets, items, np.array([0, 1]), 4, True, rng, 4, random_window=True) for _ in range(40)]
    windows = {tuple(r[0].tolist()) for r in rows}
    assert all(w == tuple(range(w[0], w[0] + 4)) for w in windows), "a window is a contiguous, ordered stretch"
    assert {w[0] for w in windows} == set(range(1, 8)), "every start point comes up"
    assert all(r[1].tolist() == [0, 11, 12, 13] for r in rows), "short rows are untouched"


def test_mask_last_masks_only_the_last_item_of_the_chosen_rows():
    generator = torch.Generator().manual_seed(2)
    tokens = torch.randint(1, 51, (600, 12))
    tokens[:300, :5] = 0  # right-aligned rows of 7
    tokens[300:, 9:] = 0  # left-aligned rows of 9
    inputs, positions, labels = mask_tokens(tokens, 1.0, 52, 50, generator, last_prob=0.25)  # other rows mask all
    per_row = torch.bincount(positions[:, 0], minlength=600)
    single = per_row == 1
    last = torch.where(torch.arange(600) < 300, 11, 8)
    only_last = single & torch.zeros(600, dtype=torch.bool).index_put_((positions[:, 0],), positions[:, 1] == last[positions[:, 0]], accumulate=True)
    assert 0.2 < only_last.float().mean().item() < 0.32
    rows = only_last.nonzero().squeeze(1)
    assert (inputs[rows, last[rows]] == 52).all(), "the last item is always replaced by the mask token"
    assert torch.equal(labels, tokens[positions[:, 0], positions[:, 1]])


def test_mask_last_on_sets_masks_one_random_item():
    generator = torch.Generator().manual_seed(3)
    tokens = torch.randint(1, 51, (800, 6))
    tokens[:, 4:] = 0
    inputs, positions, _ = mask_tokens(tokens, 1.0, 52, 50, generator, last_prob=0.5, ordered=False)
    per_row = torch.bincount(positions[:, 0], minlength=800)
    single = positions[per_row[positions[:, 0]] == 1]
    assert 0.4 < len(single) / 800 < 0.6
    assert (torch.bincount(single[:, 1], minlength=4) > 60).all(), "any of the 4 items, not only the last"
    assert (inputs[single[:, 0], single[:, 1]] == 52).all()


def test_inference_uses_every_favourite_of_a_long_list():
    offsets, items = np.array([0, 10]), np.arange(1, 11)
    tokens, owner = chunked_queries(offsets, items, [0], 5, False, 99)
    assert owner.tolist() == [0, 0, 0]
    assert sorted(t for t in tokens.ravel().tolist() if 0 < t < 99) == list(range(1, 11))
    assert ((tokens == 99).sum(axis=1) == 1).all()


@pytest.mark.parametrize("readout", ["mask", "items"])
def test_a_tiny_model_overfits_a_handful_of_users(readout):
    torch.manual_seed(0)
    users = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    model = _model(num_items=12, readout=readout)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    tokens = torch.tensor(users)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(300):
        inputs, positions, labels = mask_tokens(tokens, 0.25, 13, 12, generator)
        loss = model.cloze_loss(inputs, positions, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-20:]) < 0.6 * np.mean(losses[:20])  # masking 2 of a set leaves ln 2 of ambiguity
    model.eval()
    with torch.no_grad():
        query = torch.tensor([[1, 2, 3, 13], [5, 6, 7, 13], [9, 10, 11, 13]])
        scores = model(query, torch.tensor([[0, 3], [1, 3], [2, 3]]))
        scores[torch.arange(3)[:, None], query[:, :3] - 1] = -float("inf")  # inputs are never recommended
        top = scores.argmax(dim=1) + 1
    assert top.tolist() == [4, 8, 12]


def test_heads_must_divide_hidden():
    with pytest.raises(ValueError, match="divisible"):
        BERT4Rec(ModelConfig(num_items=5, hidden=30, heads=4, genres=False))


def test_items_readout_is_the_log_sum_exp_of_every_other_voter():
    model = _model(readout="items")
    tokens = torch.tensor([[3, 7, 31, 31, 0]])  # two items, two masks (only the first votes), padding
    with torch.no_grad():
        hidden, (table, bias) = model.encode(tokens)[0], model.output_table()
        scores = model.set_scores(tokens)[0]
        votes = hidden @ table.T
        for item, voters in ((3, [1, 2]), (7, [0, 2]), (12, [0, 1, 2])):
            expected = torch.logsumexp(votes[voters, item - 1], dim=0) + bias[item - 1]
            torch.testing.assert_close(scores[item - 1], expected, rtol=1e-5, atol=1e-5)


def test_items_readout_ignores_order_and_padding_and_chunks_rows_the_same():
    model = _model(readout="items")
    tokens = torch.tensor([[3, 7, 9, 12, 31, 0, 0], [12, 9, 31, 3, 7, 0, 0]] * 20)
    with torch.no_grad():
        scores = model.set_scores(tokens, rows_at_once=7)
        whole = model.set_scores(tokens, rows_at_once=64)
        trimmed = model.set_scores(tokens[:1, :5])
    torch.testing.assert_close(scores, whole)
    torch.testing.assert_close(scores[0], scores[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(scores[0], trimmed[0], rtol=1e-5, atol=1e-5)


def test_items_cloze_loss_matches_the_scores_it_serves():
    model = _model(readout="items")
    generator = torch.Generator().manual_seed(5)
    tokens = torch.randint(1, 31, (8, 10), generator=generator)
    inputs, positions, labels = mask_tokens(tokens, 0.4, 31, 30, generator)
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model(inputs, positions), labels - 1)
        torch.testing.assert_close(model.cloze_loss(inputs, positions, labels), expected, rtol=1e-5, atol=1e-5)


def test_items_readout_needs_a_set():
    with pytest.raises(ValueError, match="readout"):
        _model(positional=True, readout="items")


def test_items_readout_leaves_out_a_target_no_voter_may_vote_for():
    # Row 0 holds one item, left in place by the 80/10/10 draw: it cannot vote for itself and
    # nothing else votes, so its score sits at the veto floor (once a loss of ~1e38).
    model = _model(readout="items").train()
    tokens = torch.tensor([[5, 0, 0], [7, 31, 9]])  # 31 is the mask token of 30 items
    positions, labels = torch.tensor([[0, 0], [1, 1]]), torch.tensor([5, 12])
    both = model.cloze_loss(tokens, positions, labels)
    assert torch.isfinite(both) and both.item() < 20
    torch.testing.assert_close(both, model.cloze_loss(tokens[1:], positions[1:] - torch.tensor([1, 0]), labels[1:]))
    only = model.cloze_loss(tokens[:1], positions[:1], labels[:1])
    assert only.item() == 0.0 and only.requires_grad


def test_the_blocked_exp_sums_equal_the_log_sum_exp_path_for_any_columns_and_rows():
    model = _model(readout="items", num_items=300)
    generator = torch.Generator().manual_seed(3)
    tokens = torch.zeros(5, 12, dtype=torch.long)
    for row, length in enumerate([1, 4, 11, 7, 2]):
        tokens[row, :length] = torch.randperm(300, generator=generator)[:length] + 1
        tokens[row, length] = 301  # the mask token
    with torch.no_grad():
        table = model.output_table()
        expected = model._set_scores(tokens, table, None)  # the training path: vetoes, then log-sum-exp
        voters = model.voters(tokens)
        columns = torch.tensor(sorted({0, 1, 299} | set(tokens[tokens <= 300].tolist()) - {0}))  # own items included
        for block, group in ((1, 512), (7, 1), (1024, 9)):  # one row per group, several, all
            lse = vote_logsumexp(voters, table[0], model.config.mask_id, columns, block=block, group=group)
            torch.testing.assert_close(lse + table[1][columns], expected[:, columns], rtol=1e-5, atol=1e-5)
        big = (table[0] * 400, table[1])  # votes far beyond exp's safe range: those groups shift by their max
        assert float(voters.vectors.norm(dim=1).max() * big[0].norm(dim=1).max()) > EXP_SAFE
        expected_big = model._set_scores(tokens, big, None)
        for group in (1, 512):
            torch.testing.assert_close(vote_logsumexp(voters, big[0], model.config.mask_id, group=group) + big[1], expected_big, rtol=1e-5, atol=1e-3)
        some = voters.of_rows(torch.tensor([1, 3]))
        torch.testing.assert_close(vote_logsumexp(some, table[0], model.config.mask_id, block=64) + table[1], expected[[1, 3]], rtol=1e-5, atol=1e-5)


# --- the popularity-debiased loss (--pop-debias) ----------------------------------------------


def test_the_popularity_adjustment_is_beta_log_count_with_a_floor_of_one_and_nothing_at_zero():
    counts = np.array([0, 1, 10, 100])  # items 1..4; items 5 and 6 are in no training list
    assert popularity_adjustment(counts, 0.0, 6) is None  # off: the loss takes the plain path
    expected = torch.tensor([0.0, 0.0, 0.5 * np.log(10), 0.5 * np.log(100), 0.0, 0.0], dtype=torch.float32)
    torch.testing.assert_close(popularity_adjustment(counts, 0.5, 6), expected)


@pytest.mark.parametrize(("readout", "positional"), [("items", False), ("mask", False), ("mask", True)])
def test_the_debiased_loss_is_the_cross_entropy_of_the_served_scores_plus_the_adjustment(readout, positional):
    model = _model(readout=readout, positional=positional)
    generator = torch.Generator().manual_seed(5)
    tokens = torch.randint(1, 31, (8, 10), generator=generator)
    inputs, positions, labels = mask_tokens(tokens, 0.4, 31, 30, generator, ordered=positional)
    adjust = popularity_adjustment(np.arange(30) ** 2, 0.5, 30)
    with torch.no_grad():
        served = model(inputs, positions)  # what inference ranks by: nothing added
        plain = model.cloze_loss(inputs, positions, labels)
        debiased = model.cloze_loss(inputs, positions, labels, adjust=adjust)
        torch.testing.assert_close(plain, torch.nn.functional.cross_entropy(served, labels - 1), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(debiased, torch.nn.functional.cross_entropy(served + adjust, labels - 1), rtol=1e-5, atol=1e-5)
        assert abs(float(debiased - plain)) > 1e-3
        assert torch.equal(model.cloze_loss(inputs, positions, labels, adjust=torch.zeros(30)), plain)


def test_the_debiased_loss_pushes_a_popular_target_up_less_and_a_rare_one_up_more():
    def bias_grad(label: int, counts: np.ndarray, beta: float) -> torch.Tensor:
        model = _model(readout="items").train()  # dropout 0: the same forward each call
        model.cloze_loss(torch.tensor([[3, 7, 31]]), torch.tensor([[0, 2]]), torch.tensor([label]), adjust=popularity_adjustment(counts, beta, 30)).backward()
        return model.out_bias.grad

    counts = np.ones(30)
    counts[11] = 1000  # item 12 is in a thousand training lists, every other in one
    # Target 12 (popular): the adjusted softmax already gives it most of the mass, so its bias
    # gets a smaller push up (the gradient is -(1 - p), p larger).
    plain, debiased = bias_grad(12, counts, 0.0), bias_grad(12, counts, 1.0)
    assert plain[11] < debiased[11] < 0
    # Target 20 (rare) beside popular 12: 20 is pushed up harder and 12 pushed down harder.
    plain, debiased = bias_grad(20, counts, 0.0), bias_grad(20, counts, 1.0)
    assert debiased[19] < plain[19] < 0 and debiased[11] > plain[11] > 0

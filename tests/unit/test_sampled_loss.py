"""The items readout's sampled softmax: exact where it must be, a sample elsewhere."""

from __future__ import annotations

import pytest
import torch

from training.config import TrainConfig, saved_train_config
from training.data import mask_tokens
from training.model import BERT4Rec, ModelConfig
from training.sampled_loss import FLOOR, column_logsumexp, sample_negatives

RATED = 30


def _catalogue_model() -> BERT4Rec:
    """Items readout over 30 rated anime and 10 known from metadata only, as the shipped kind."""
    torch.manual_seed(0)
    config = ModelConfig(num_items=40, num_rated=RATED, max_len=12, hidden=32, heads=2, layers=2, dropout=0.0, genres=True, num_genres=4,
                         genres_per_item=2, readout="items", meta_bias=True, pooling="fields")
    table = torch.zeros(42, 2, dtype=torch.long)
    table[1:41, 0] = torch.arange(40) % 4 + 1
    table[1:41:3, 1] = 2
    return BERT4Rec(config, table, (table > 0).float()).train()


def _loss_and_grads(model: BERT4Rec, *args, **kwargs) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = model.cloze_loss(*args, **kwargs)
    loss.backward()
    return loss.detach(), [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()]


def test_every_rated_anime_as_negatives_is_the_full_softmax_value_and_gradients():
    model = _catalogue_model()
    generator = torch.Generator().manual_seed(5)
    tokens = torch.randint(1, RATED + 1, (8, 10), generator=generator)
    tokens[2, 6:] = 0  # padding
    inputs, positions, labels = mask_tokens(tokens, 0.4, model.config.mask_id, RATED, generator)
    # a row of one item left in place: its target is unreachable, and both losses leave it out
    inputs = torch.cat([inputs, torch.tensor([[5] + [0] * 9])])
    positions, labels = torch.cat([positions, torch.tensor([[8, 0]])]), torch.cat([labels, torch.tensor([5])])
    keep = model.id_keep(0.25, generator)
    adjust = torch.rand(model.config.num_items, generator=generator)
    prior = (torch.rand(model.config.num_items, generator=generator) > 0.2, 1.0)
    full, full_grads = _loss_and_grads(model, inputs, positions, labels, keep, prior, adjust)
    everything = sample_negatives(RATED, RATED + 5, generator, torch.arange(1, RATED + 1))
    assert torch.equal(everything[0], torch.arange(RATED)) and not everything[1].any(), "every rated anime, each weighing 1"
    sampled, sampled_grads = _loss_and_grads(model, inputs, positions, labels, keep, prior, adjust, negatives=everything)
    torch.testing.assert_close(sampled, full, rtol=1e-6, atol=1e-6)
    for (name, _), a, b in zip(model.named_parameters(), full_grads, sampled_grads):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=name)


def test_a_sample_is_a_different_but_finite_loss_that_trains_every_part():
    model = _catalogue_model()
    generator = torch.Generator().manual_seed(7)
    inputs, positions, labels = mask_tokens(torch.randint(1, RATED + 1, (6, 10), generator=generator), 0.3, model.config.mask_id, RATED, generator)
    full, _ = _loss_and_grads(model, inputs, positions, labels)
    sampled, grads = _loss_and_grads(model, inputs, positions, labels, negatives=sample_negatives(RATED, 8, generator))
    assert torch.isfinite(sampled) and sampled != full
    trained = {name for (name, _), g in zip(model.named_parameters(), grads) if g.abs().sum() > 0}
    assert {"item_emb.weight", "genre_emb.weight", "out_bias", "blocks.0.qkv.weight", "head.0.weight"} <= trained


def test_column_logsumexp_matches_the_dense_masked_votes_across_blocks():
    generator = torch.Generator().manual_seed(3)
    hidden = torch.randn(3, 5, 4, generator=generator, requires_grad=True)
    weights = torch.randn(11, 4, generator=generator, requires_grad=True)
    silent = torch.zeros(3, 5, dtype=torch.bool)
    silent[1, 3:] = True
    silent[2, 1:] = True  # one voter left
    vetoes = torch.tensor([[0, 0, 2, 1], [1, 4, 0, 2], [2, 9, 6, 10]])  # (row, position, column); row 2's only voter vetoed at column 6
    grad = torch.randn(3, 11, generator=generator)
    out = column_logsumexp(hidden, weights, silent, vetoes, block=4)  # three blocks, the last one short
    out.backward(grad)
    mine = hidden.grad.clone(), weights.grad.clone()
    hidden.grad = weights.grad = None
    votes = (hidden @ weights.T).masked_fill(silent.unsqueeze(2), FLOOR).index_put(tuple(vetoes), torch.tensor(FLOOR))
    dense = torch.logsumexp(votes, dim=1)
    dense.backward(grad)
    torch.testing.assert_close(out, dense)
    torch.testing.assert_close(mine[0], hidden.grad)
    torch.testing.assert_close(mine[1], weights.grad)


def test_negatives_are_distinct_sorted_rated_columns_drawn_from_the_generator():
    popularity = torch.arange(1, 1001) ** 2
    for weights in (None, popularity):
        columns, log_weight = sample_negatives(1000, 50, torch.Generator().manual_seed(1), weights)
        assert columns.unique().numel() == columns.numel() == log_weight.numel() and torch.equal(columns, columns.sort().values)
        assert 0 <= int(columns.min()) and int(columns.max()) < 1000
        assert torch.equal(columns, sample_negatives(1000, 50, torch.Generator().manual_seed(1), weights)[0])
        assert not torch.equal(columns, sample_negatives(1000, 50, torch.Generator().manual_seed(2), weights)[0])
    assert float(columns.float().median()) > 700, "by popularity, the popular are drawn"


@pytest.mark.parametrize("by_popularity", [False, True])
def test_the_weighted_sample_estimates_the_whole_sum(by_popularity):
    # The log-Q correction: over many draws, sum(exp(score + log weight)) averages the sum over every anime.
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(200, generator=generator, dtype=torch.float64) * 2
    popularity = (scores.exp() * 10).ceil().long() if by_popularity else None  # Q near the softmax, as popularity is to the model's
    estimates = []
    for _ in range(500):
        columns, log_weight = sample_negatives(200, 20, generator, popularity)
        estimates.append(float((scores[columns] + log_weight.double()).exp().sum()))
    assert sum(estimates) / len(estimates) == pytest.approx(float(scores.exp().sum()), rel=0.05)


def test_the_loss_is_a_checked_setting_and_old_runs_train_with_the_full_softmax(tmp_path):
    with pytest.raises(ValueError, match="loss is 'fast', not full or sampled"):
        TrainConfig(loss="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negatives"):
        TrainConfig(negatives=0)
    old = saved_train_config({"train_config": {"epochs": 3, "lr": 0.001}}, tmp_path)  # saved before --loss existed
    assert old.loss == "full" and old.epochs == 3


def test_the_mask_readout_refuses_negatives():
    model = BERT4Rec(ModelConfig(num_items=10, hidden=8, heads=1, layers=1, readout="mask"))
    with pytest.raises(ValueError, match="items readout"):
        model.cloze_loss(torch.tensor([[11, 2]]), torch.tensor([[0, 0]]), torch.tensor([3]), negatives=torch.arange(4))


def test_a_training_step_draws_its_negatives_after_everything_else():
    # With every rated anime drawn the sampled step is the full step: same masks, same loss.
    from training.distributed import ClozeObjective
    from training.train import _step

    losses = {}
    for loss, negatives in [("full", 1024), ("sampled", RATED), ("sampled", 4)]:
        model = _catalogue_model()
        config = TrainConfig(loss=loss, negatives=negatives, id_dropout=0.25, mask_prob=0.3)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        tokens = torch.randint(1, RATED + 1, (6, 10), generator=torch.Generator().manual_seed(2))
        losses[loss, negatives] = _step(ClozeObjective(model), model, optimizer, tokens, config, False, [0, 0, 0], torch.autocast("cpu", enabled=False), "cpu")
    assert losses["sampled", RATED] == pytest.approx(losses["full", 1024], rel=1e-6)
    assert losses["sampled", 4] != pytest.approx(losses["full", 1024], rel=1e-3)

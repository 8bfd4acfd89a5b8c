"""A model over the whole catalogue: anime no one rated are known from their metadata alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.catalog import Catalog
from training.checkpoint import check_vocab, checkpoint_meta
from training.config import ID_DROPOUT, resolve_config
from training.data import Dataset
from training.errors import UserError
from training.genres import genre_table, item_tokens, token_weights
from training.model import BERT4Rec, ModelConfig


def test_metadata_tokens_put_numbers_in_shared_buckets():
    entry = {"genres": ["Action", "Drama"], "studios": ["Madhouse"], "type": "TV", "year": 2025, "episodes": 12, "members": 250_000, "is_sequel": True}
    assert item_tokens(entry) == [
        "genre:Action", "genre:Drama", "studio:Madhouse", "type:TV", "era:2021+", "episodes:7-13", "members:200000-499999", "flag:is_sequel",
    ]
    # 2022 and 2026 share the newest era: a recent anime's era is one the 2023 crawl's ratings trained
    assert item_tokens({"year": 2022}) == item_tokens({"year": 2026}) == ["era:2021+"]
    assert item_tokens({"year": 1998, "episodes": 1}) == ["era:1990-1999", "episodes:1-1"]
    assert item_tokens({}) == [] and item_tokens({"year": None, "members": None}) == []
    assert item_tokens(entry, kinds=("genre",)) == ["genre:Action", "genre:Drama"]
    assert item_tokens({"genres": ["Kids"]}, unknown=True) == [
        "genre:Kids", "studio:unknown", "type:unknown", "era:unknown", "episodes:unknown", "members:unknown",
    ]


def test_field_pooling_counts_each_field_once():
    names, table = genre_table(np.asarray([1, 2]), [{"mal_id": 1, "genres": ["A", "B", "C"], "type": "TV"}, {"mal_id": 2, "type": "TV"}])
    weights = token_weights(names, table)
    assert weights[1][table[1] > 0].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 1.0])  # three genres share one field
    assert weights[2][table[2] > 0].tolist() == [1.0] and weights[0].sum() == weights[3].sum() == 0
    config = ModelConfig(num_items=2, hidden=4, heads=1, layers=1, num_genres=len(names), genres_per_item=table.shape[1], pooling="fields")
    model = BERT4Rec(config, torch.from_numpy(table), torch.from_numpy(weights))
    with torch.no_grad():
        model.item_emb.weight.zero_()
        emb = model.genre_emb.weight
        index = {name: i + 1 for i, name in enumerate(names)}
        expected = (emb[index["genre:A"]] + emb[index["genre:B"]] + emb[index["genre:C"]]) / 3 + emb[index["type:TV"]]
        torch.testing.assert_close(model.embed_items(torch.tensor([1]))[0], expected)


def _catalog() -> Catalog:
    genres = [["Action"], ["Romance"], ["Action", "Drama"], ["Romance", "Comedy"], ["Action"], ["Comedy"]]
    return Catalog([{"mal_id": 10 * (i + 1), "genres": g, "year": 2010 + i} for i, g in enumerate(genres)])


def _data(item_ids) -> Dataset:
    ids = np.asarray(item_ids, dtype=np.int64)
    empty = (np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int32))
    train = (np.asarray([0, 2], dtype=np.int64), np.asarray([1, 2], dtype=np.int32))
    manifest = {"ordered": False, "item_id_space": "mal", "counts": {"items": ids.size, "users": 1}}
    return Dataset(None, manifest, {"train": train, "val": empty, "test": empty}, ids)  # type: ignore[arg-type]


def test_the_vocabulary_is_the_data_then_every_other_catalogue_anime():
    config = resolve_config(_data([20, 40]), _catalog())
    assert config.item_ids.tolist() == [20, 40, 10, 30, 50, 60]
    assert (config.model.num_items, config.model.num_rated, config.model.rated) == (6, 2, 2)
    assert config.model.meta_bias and config.train.id_dropout == ID_DROPOUT
    names = config.genre_names
    assert [names[t - 1] for t in config.item_genres[3] if t] == [  # MAL id 10, unrated: every missing field says so
        "genre:Action", "studio:unknown", "type:unknown", "era:2009-2010", "episodes:unknown", "members:unknown",
    ]
    assert config.model.pooling == "fields"
    plain = resolve_config(_data([20, 40]), _catalog(), catalogue=False)
    assert plain.item_ids.tolist() == [20, 40] and plain.model.rated == 2 and not plain.model.meta_bias
    assert plain.train.id_dropout == 0.0
    with pytest.raises(UserError, match="--genres"):
        resolve_config(_data([20, 40]), _catalog(), genres=False, catalogue=True)


def _model(**config) -> BERT4Rec:
    catalog = _catalog()
    ids = np.asarray([20, 40, 10, 30, 50, 60])
    names, table = genre_table(ids, catalog)
    torch.manual_seed(0)
    model_config = ModelConfig(num_items=6, num_rated=2, meta_bias=True, hidden=8, heads=2, layers=1, max_len=8,
                               num_genres=len(names), genres_per_item=table.shape[1], **config)
    return BERT4Rec(model_config, torch.from_numpy(table))


def test_unrated_anime_are_their_metadata_and_nothing_else():
    model = _model()
    with torch.no_grad():
        model.item_emb.weight.normal_()  # as if trained: only rated rows may ever count
        model.out_bias.normal_()
        model.genre_bias.weight[1:].normal_()
        weights, bias = model.output_table()
        metadata_only = model.genre_emb.weight[model.item_genres[3:7]].sum(1) / (model.item_genres[3:7] > 0).sum(1, keepdim=True)
        torch.testing.assert_close(weights[2:], metadata_only)
        assert not torch.allclose(weights[:2], model.genre_emb.weight[model.item_genres[1:3]].sum(1) / (model.item_genres[1:3] > 0).sum(1, keepdim=True))
        genre_bias = model.genre_bias.weight[model.item_genres[3:7]].squeeze(-1).sum(1) / (model.item_genres[3:7] > 0).sum(1)
        torch.testing.assert_close(bias[2:], genre_bias)  # no per-anime bias for anime no one rated
        assert model.output_table(count=2)[0].shape == (2, 8)  # what training's softmax runs over


def test_a_dropped_per_anime_part_leaves_the_metadata_part():
    model = _model()
    keep = torch.ones(model.config.vocab_size, dtype=torch.bool)
    keep[1] = False  # drop rated item 1's own embedding and bias for this step
    with torch.no_grad():
        model.item_emb.weight.normal_()
        model.out_bias.normal_()
        full, dropped = model.output_table(), model.output_table(keep)
        tokens = model.item_genres[1]
        torch.testing.assert_close(dropped[0][0], model.genre_emb.weight[tokens[tokens > 0]].mean(0))
        assert not torch.allclose(full[0][0], dropped[0][0])
        torch.testing.assert_close(full[0][1:], dropped[0][1:])
        torch.testing.assert_close(dropped[1][0], full[1][0] - model.out_bias[0])
    generator = torch.Generator().manual_seed(0)
    drawn = model.id_keep(0.5, generator)
    assert drawn[0] and drawn[model.config.mask_id] and 0 < int((~drawn).sum()) < model.config.vocab_size
    assert model.id_keep(0.0, generator) is None


def test_training_scores_only_the_rated_anime_and_trains_nothing_unrated():
    model = _model(readout="items")
    model.train()
    tokens = torch.tensor([[1, 7, 0], [2, 7, 1]])  # 7 = mask
    positions, labels = torch.tensor([[0, 1], [1, 1]]), torch.tensor([2, 2])
    loss = model.cloze_loss(tokens, positions, labels, model.id_keep(0.25, torch.Generator().manual_seed(1)))
    loss.backward()
    assert torch.isfinite(loss)
    # the unrated rows of the item table never get a gradient: nothing trains what does not exist
    assert model.item_emb.weight.grad[3:7].abs().sum() == 0
    assert model.out_bias.grad[2:].abs().sum() == 0


def test_a_whole_catalogue_checkpoint_matches_its_data_by_the_rated_part():
    config = resolve_config(_data([20, 40]), _catalog())
    meta = checkpoint_meta(config.model, None, config.item_ids, "mal", config.genre_names)
    check_vocab(meta, np.asarray([20, 40]), "the data")
    with pytest.raises(UserError, match="does not match"):
        check_vocab(meta, np.asarray([20, 40, 10]), "the data")


def test_num_rated_is_checked():
    with pytest.raises(ValueError, match="num_rated"):
        ModelConfig(num_items=3, num_rated=4)
    with pytest.raises(ValueError, match="metadata"):
        ModelConfig(num_items=3, num_rated=2, genres=False)
    with pytest.raises(ValueError, match="meta_bias"):
        ModelConfig(num_items=3, genres=False, meta_bias=True)


@pytest.mark.parametrize("readout", ["items", "mask"])
def test_both_readouts_train_and_score_the_whole_catalogue(readout):
    from training.scoring import score_users

    model = _model(readout=readout)
    model.train()
    tokens = torch.tensor([[1, 7, 0], [2, 7, 1]])
    loss = model.cloze_loss(tokens, torch.tensor([[0, 1], [1, 1]]), torch.tensor([2, 2]), model.id_keep(0.25, torch.Generator().manual_seed(0)))
    loss.backward()
    assert torch.isfinite(loss) and model.item_emb.weight.grad[3:7].abs().sum() == 0
    # at inference every catalogue anime gets a finite score; a favourite known from metadata only counts
    scores = score_users(model.eval(), np.asarray([0, 2]), np.asarray([1, 4]), np.asarray([0]), ordered=False)
    assert scores.shape == (1, 6) and bool(torch.isfinite(scores).all())
    without = score_users(model, np.asarray([0, 1]), np.asarray([1]), np.asarray([0]), ordered=False)
    assert not torch.allclose(scores, without)


def test_the_prior_loss_weighs_unrated_anime_of_the_data_years_only():
    catalog = Catalog([*_catalog().entries, {"mal_id": 70, "genres": ["Action"], "year": 2030}])
    config = resolve_config(_data([20, 40]), catalog)
    # rated 20, 40 (years 2011, 2013): unrated anime up to 2013 count, the one of 2030 does not
    assert dict(zip(config.item_ids.tolist(), config.prior_items.tolist())) == {20: True, 40: True, 10: True, 30: True, 50: False, 60: False, 70: False}
    assert config.train.prior_weight == 1.0 and resolve_config(_data([20, 40]), catalog, catalogue=False).prior_items is None


def test_the_prior_loss_pushes_the_bias_of_unliked_unrated_anime_down():
    model = _model(readout="items")
    model.train()
    tokens, positions, labels = torch.tensor([[1, 7, 0], [2, 7, 1]]), torch.tensor([[0, 1], [1, 1]]), torch.tensor([2, 2])
    prior = torch.tensor([True, True, True, True, False, False])
    plain = model.cloze_loss(tokens, positions, labels)
    with_prior = model.cloze_loss(tokens, positions, labels, prior=(prior, 1.0))
    assert with_prior > plain
    with_prior.backward()
    # the bias of an unrated anime in the prior pool gets pushed down through its metadata tokens
    grad = model.genre_bias.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0

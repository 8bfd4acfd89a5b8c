"""An untrained model saved exactly like a trained one: for speed benchmarks and tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from training.checkpoint import checkpoint_meta, write_checkpoint
from training.genres import genre_table
from training.model import BERT4Rec, ModelConfig


def write_random_model(folder: Path, item_ids, catalog, seed: int = 0, unrated=(), **config) -> Path:
    """Save a randomly initialised hybrid model over ``item_ids`` (MAL ids) to ``folder``.

    ``unrated`` MAL ids come after them, known from their metadata only, as in a whole-catalogue model.
    """
    rated = sorted(int(i) for i in item_ids)
    item_ids = np.asarray(rated + sorted(int(i) for i in set(unrated) - set(rated)), dtype=np.int64)
    names, table = genre_table(item_ids, catalog)
    if item_ids.size > len(rated):
        config = {"num_rated": len(rated), "meta_bias": True, **config}
    model_config = ModelConfig(num_items=item_ids.size, num_genres=len(names), genres_per_item=table.shape[1], **config)
    torch.manual_seed(seed)
    model = BERT4Rec(model_config, torch.from_numpy(table))
    meta = checkpoint_meta(model_config, None, item_ids, "mal", names)
    write_checkpoint(folder, model, meta)
    return folder

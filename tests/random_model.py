"""An untrained model saved exactly like a trained one: for speed benchmarks and tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from training.checkpoint import checkpoint_meta, write_checkpoint
from training.genres import genre_table
from training.model import BERT4Rec, ModelConfig


def write_random_model(folder: Path, item_ids, catalog, seed: int = 0, **config) -> Path:
    """Save a randomly initialised hybrid model over ``item_ids`` (MAL ids) to ``folder``."""
    item_ids = np.asarray(sorted(int(i) for i in item_ids), dtype=np.int64)
    names, table = genre_table(item_ids, catalog)
    model_config = ModelConfig(num_items=item_ids.size, num_genres=len(names), genres_per_item=table.shape[1], **config)
    torch.manual_seed(seed)
    model = BERT4Rec(model_config, torch.from_numpy(table))
    meta = checkpoint_meta(model_config, None, item_ids, "mal", names)
    write_checkpoint(folder, model, meta)
    return folder

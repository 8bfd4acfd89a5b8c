"""CUDA path (bf16 autocast, fused AdamW, GPU masking): run by benchmarks/gpu_check.sh on a GPU machine."""

from __future__ import annotations

import pytest
import torch

from training.checkpoint import load_model
from training.config import TrainConfig
from training.data import load_dataset
from training.model import BERT4Rec, ModelConfig
from training.scoring import score_users
from training.train import train

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_training_on_cuda_learns_and_loads_on_cpu(toy_data, tmp_path):
    data = load_dataset(toy_data)
    config = ModelConfig(num_items=data.num_items, max_len=16, hidden=32, heads=2, layers=1, genres=False)
    summary = train(data, tmp_path / "run", config, TrainConfig(epochs=4, batch_size=8, lr=5e-3, val_users=100), device="cuda")
    losses = [h["loss"] for h in summary["history"]]
    assert losses[-1] < losses[0]
    model, _ = load_model(tmp_path / "run", device="cpu")
    assert next(model.parameters()).device.type == "cpu"


def test_cuda_scores_match_cpu(toy_data):
    data = load_dataset(toy_data)
    torch.manual_seed(0)
    model = BERT4Rec(ModelConfig(num_items=data.num_items, max_len=16, hidden=32, heads=2, genres=False)).eval()
    offsets, items = data.splits["train"]
    users = torch.arange(20).numpy()
    cpu = score_users(model, offsets, items, users, False, "cpu")
    gpu = score_users(model.to("cuda"), offsets, items, users, False, "cuda").cpu()
    torch.testing.assert_close(cpu, gpu, rtol=1e-3, atol=1e-3)

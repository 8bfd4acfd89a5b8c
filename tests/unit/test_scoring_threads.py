"""Validation and eval score with one torch thread: on a busy 2-core machine a second one waits at every slice."""

from __future__ import annotations

import torch

from training.train import scoring_threads


def test_one_thread_while_scoring_and_the_count_given_back(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with scoring_threads():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        with scoring_threads():
            assert torch.get_num_threads() == 2, "a count the user set is kept"
    finally:
        torch.set_num_threads(before)

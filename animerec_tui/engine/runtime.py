"""The process-wide switches a batch of requests wants: the cycle collector paused, BLAS held to a
few threads; and where the shipped model lives."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from animerec_tui.paths import data_dir


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector off for a batch. A batch allocates a few containers per
    request and no cycles (reference counting frees them all), but each of the collector's
    full passes walks every object the process holds, the catalogue's 130,000 among them.
    Whoever paused it turns it back on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def limit_blas_threads(threads: int | None) -> None:
    """Hold numpy's BLAS (OpenBLAS in the numpy wheels) to ``threads`` for this process (None: leave it).

    On a busy 2-core machine a second BLAS thread waits on the busy core (benchmarks/RESULTS.md,
    section 3, measured it with the torch engine of the time)."""
    if threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")


def default_model_dir() -> Path:
    """The model shipped in ``Data/model``."""
    return data_dir() / "model"

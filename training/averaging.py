"""Weight averaging (``--average-epochs``): the model the run validates, saves and exports is an
exponential moving average of its recent weights, not the last step's.

With a few hundred users an epoch is a few dozen steps and one epoch's weights are a noisy
draw: the 415-user cross-group model's validation NDCG@10 swung between 0.097 and 0.114 from
one epoch to the next. An average over the last epochs stands for many such draws at the cost
of one model (RESULTS.md, "Unseen user groups"). The optimizer goes on from the live weights.

The average is bias-corrected, as Adam's moments are: after ``n`` steps it is
``sums / (1 - decay**n)``, so the first epochs are not pulled toward zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

AVERAGE_PREFIX = "average."
"""The training state's tensors of the running sums (``average.<parameter index>``)."""
LIVE_PREFIX = "live."
"""The training state's tensors of the live weights (``live.<parameter index>``): the checkpoint's model holds the average."""


class WeightAverage:
    """An exponential moving average of ``params`` over about ``horizon`` steps."""

    def __init__(self, params: list[torch.Tensor], horizon: float) -> None:
        if not horizon >= 1:
            raise ValueError(f"the average's horizon is {horizon!r} steps; it must be at least one")
        self.params = params
        self.decay = 1 - 1 / horizon
        self.sums = [torch.zeros_like(p) for p in params]
        self.steps = 0
        self._live: list[torch.Tensor] | None = None

    @torch.no_grad()
    def update(self) -> None:
        """Take in the weights after an optimizer step."""
        self.steps += 1
        for total, param in zip(self.sums, self.params):
            total.mul_(self.decay).add_(param.detach(), alpha=1 - self.decay)

    def average(self) -> list[torch.Tensor]:
        """The bias-corrected average (the live weights themselves before the first step)."""
        if not self.steps:
            return [p.detach().clone() for p in self.params]
        correction = 1 - self.decay**self.steps
        return [total / correction for total in self.sums]

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The average in the parameters for the block (validation, a checkpoint), then the live weights back."""
        live = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for param, value in zip(self.params, self.average()):
                param.copy_(value)
        self._live = live
        try:
            yield
        finally:
            with torch.no_grad():
                for param, value in zip(self.params, live):
                    param.copy_(value)
            self._live = None

    def state(self) -> dict[str, torch.Tensor]:
        """The tensors a checkpoint keeps to resume: the sums and the live weights (the model file holds the average)."""
        live = self._live if self._live is not None else [p.detach() for p in self.params]
        out = {f"{AVERAGE_PREFIX}{i}": total.detach().contiguous().cpu() for i, total in enumerate(self.sums)}
        out.update({f"{LIVE_PREFIX}{i}": value.contiguous().cpu() for i, value in enumerate(live)})
        return out

    @torch.no_grad()
    def restore(self, tensors: dict[str, torch.Tensor], steps: int) -> None:
        """Resume: the sums and the live weights from ``state()``'s tensors; ValueError if they are not this model's."""
        names = {f"{prefix}{i}" for prefix in (AVERAGE_PREFIX, LIVE_PREFIX) for i in range(len(self.params))}
        if set(tensors) != names:
            extra, missing = sorted(set(tensors) - names), sorted(names - set(tensors))
            raise ValueError(f"{(extra or missing)[0]} is {'no part of' if extra else 'missing from'} the weight average's state")
        for i, param in enumerate(self.params):
            for prefix, target in ((AVERAGE_PREFIX, self.sums[i]), (LIVE_PREFIX, param)):
                value = tensors[f"{prefix}{i}"]
                if value.shape != param.shape or value.dtype != param.dtype:
                    raise ValueError(f"{prefix}{i} has shape {tuple(value.shape)} ({value.dtype}), its parameter {tuple(param.shape)} ({param.dtype})")
                if not bool(torch.isfinite(value).all()):
                    raise ValueError(f"{prefix}{i} holds NaN or infinite values")
                target.copy_(value)
        self.steps = steps


def split_state(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A training state's tensors as (the optimizer's, the weight average's)."""
    averaging = {k: v for k, v in tensors.items() if k.startswith((AVERAGE_PREFIX, LIVE_PREFIX))}
    return {k: v for k, v in tensors.items() if k not in averaging}, averaging

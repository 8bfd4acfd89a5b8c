"""Helpers for driving the app headless (tests, screenshots)."""

from __future__ import annotations

from textual.worker import WorkerFailed


async def settle(pilot, rounds: int = 3) -> None:
    """Let every worker finish and the messages it posted be handled.

    Failed workers are not re-raised: the app reports them itself, and callers check what it shows.
    """
    for _ in range(rounds):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerFailed:
            pass
        await pilot.pause()

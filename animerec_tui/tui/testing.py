"""Helpers for driving the app headless (tests, screenshots)."""

from __future__ import annotations

from textual.app import App
from textual.worker import WorkerCancelled, WorkerFailed


async def settle(pilot, rounds: int = 3) -> None:
    """Let every worker finish and the messages it posted be handled.

    Failed and cancelled workers are not re-raised: the app reports failures itself, and
    callers check what it shows.
    """
    for _ in range(rounds):
        try:
            await pilot.app.workers.wait_for_complete()
        except (WorkerFailed, WorkerCancelled):
            pass
        await pilot.pause()


def toasts(app: App) -> list[str]:
    """The notifications on screen, as the user reads them: title (if any) and message."""
    return [str(toast.render()) for toast in app.screen.query("Toast")]

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


def burst(app: App, *keys: str) -> None:
    """Send ``keys`` as a terminal delivers a paste or ``tmux send-keys``: all at once.

    Pilot's ``press`` lets the app catch up after each key, which hides keys handled out of
    order; this queues every key before the app reads the first. A key is a character or a
    Textual key name ("enter", "ctrl+u", "left").
    """
    from textual import events
    from textual.keys import _character_to_key

    driver = app._driver
    assert driver is not None
    for key in keys:
        if len(key) == 1:
            event = events.Key(key if key.isalnum() else _character_to_key(key), key)
        else:
            event = events.Key(key, "\r" if key == "enter" else None)
        event.set_sender(app)
        driver.send_message(event)

"""A text box that acts on every key in the order it was typed.

Textual runs a widget's key bindings only once the key has bubbled up to the app, queue by
queue, while the box goes on inserting the characters typed after it. Typed in one burst (a
paste, tmux send-keys, a fast typist), "ctrl+u /tmp/x" cleared the path after typing it and
"xyz ← q" put the q at the end. This box runs its bindings (its own and Input's: cursor
moves, deletions, Enter) as it reads each key, so a burst does what the keys would one by one.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class OrderedInput(Input):
    """An Input whose bindings run in the order of the keys, between the characters typed."""

    async def _on_key(self, event: events.Key) -> None:
        for key in dict.fromkeys([event.key, *event.aliases]):  # its aliases too (ctrl+h is backspace)
            for binding in self._bindings.key_to_bindings.get(key, ()):
                if await self.app.run_action(binding.action, self):  # an action that skips passes the key on
                    event.stop()
                    event.prevent_default()
                    return
        await super()._on_key(event)

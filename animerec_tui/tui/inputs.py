"""Keys acted on in the order they were typed: by the app, and by its text boxes.

Textual hands each key to the widget focused when the app reads it, and runs the bindings of
the screen and the app only once the key has bubbled back up, queue by queue. Typed in one
burst (a paste, tmux send-keys, a fast typist), the keys behind a key were already on their
way to the old widget when it acted: "Tab j j" typed "jj" into the search box and then moved
the focus, and "x x x" in the favourites removed the same one twice, the list not yet
rebuilt. :class:`InOrderApp` hands a key (or a paste) to the focused widget only once the one
before has been handled all the way up; :class:`OrderedInput` runs a text box's own bindings
(cursor moves, deletions, Enter) as it reads each key, between the characters typed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TypeVar

from textual import events
from textual.app import App
from textual.binding import BindingsMap
from textual.message_pump import MessagePump
from textual.timer import Timer
from textual.widgets import Input

ReturnType = TypeVar("ReturnType")

InputEvent = events.Key | events.Paste


class InOrderApp(App[ReturnType]):
    """An app that handles one key (or paste) at a time, each to its end, in the order typed.

    A key goes to the widget focused once the key before it is done: stopped by a widget on
    its way up (a character typed into a box), or back at the app with its binding run (the
    focus moved, a dialog opened, a request posted). Messages that binding posted travel the
    same queues as the next key, ahead of it, so it finds the list they rebuilt."""

    KEY_STUCK_S = 2.0
    """Hand on the next key anyway if one is not done after this long (a key lost on a closing
    screen): a late key is better than a dead keyboard."""

    def __init__(self) -> None:
        super().__init__()
        self._typed: deque[InputEvent] = deque()
        """Keys and pastes read but not yet handed to a widget."""
        self._in_flight: InputEvent | None = None
        """The key or paste on its way through the widgets now."""
        self._stuck: Timer | None = None
        self._holds: set[object] = set()
        """Holds on the keys (:meth:`hold_keys`): none are handed on while any is held."""

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.Paste)):
            if not event.is_forwarded:  # read from the terminal: its turn comes
                self._typed.append(event)
                await self._hand_on()
                return
            await super().on_event(event)  # back from the focused widget: the bindings run now
            if event is self._in_flight:
                self._done(event)
                await self._hand_on()
            return
        await super().on_event(event)

    async def _hand_on(self) -> None:
        """Hand the typed keys to the focused widget, one at a time."""
        while self._in_flight is None and not self._holds and self._typed:
            event = self._typed.popleft()
            await super().on_event(event)  # a priority binding (ctrl+q, ctrl+k) acts here; else it is forwarded
            if not event.is_forwarded:
                continue
            target: MessagePump = self.focused or self.screen  # where App.on_event forwarded it
            self._in_flight = event
            self._stuck = self.set_timer(self.KEY_STUCK_S, lambda event=event: self.call_later(self._unstick, event))
            self._follow(event, target)

    def _follow(self, event: InputEvent, node: MessagePump) -> None:
        """Look again once ``node`` has handled ``event`` (its queue is first in, first out)."""
        if not node.call_later(self._handled_by, event, node):
            self.call_later(self._finish, event)  # the node is closing: the key goes no further

    def _handled_by(self, event: InputEvent, node: MessagePump) -> None:
        if event is not self._in_flight:
            return
        parent = node._parent
        if parent is self:
            # A screen stops what it passes to the app (its sender): whether it did pass it is
            # known once the app's queue has reached this point.
            self.call_later(self._finish, event)
        elif parent is None or event._stop_propagation or not event.bubble or not (node.is_parent_active and node.is_attached):
            self.call_later(self._finish, event)  # a widget took it (a character typed)
        else:
            self._follow(event, parent)

    async def _finish(self, event: InputEvent) -> None:
        if event is self._in_flight:
            self._done(event)
            await self._hand_on()

    async def _unstick(self, event: InputEvent) -> None:
        if event is self._in_flight:
            self.log.warning(f"{event!r} not handled within {self.KEY_STUCK_S} s: handing on the next key")
            await self._finish(event)

    def hold_keys(self) -> Callable[[], None]:
        """See :func:`hold_keys`."""
        token = object()
        self._holds.add(token)

        def release() -> None:
            if token in self._holds:
                self._holds.discard(token)
                timer.stop()
                self.call_later(self._hand_on)

        timer = self.set_timer(self.KEY_STUCK_S, release)
        return release

    def _done(self, event: InputEvent) -> None:
        self._in_flight = None
        if self._stuck is not None:
            self._stuck.stop()
            self._stuck = None


def hold_keys(app: App) -> Callable[[], None]:
    """Keep the keys typed from now on from the widgets until the function returned is called
    (or ``InOrderApp.KEY_STUCK_S`` have passed): a dialog checking or reading the name typed
    before Enter decides first whether they go to it or to the screen under it."""
    if not isinstance(app, InOrderApp):
        return lambda: None
    return app.hold_keys()


class OrderedInput(Input):
    """An Input whose bindings run in the order of the keys, between the characters typed.

    ctrl+k is left to the app (the command palette, from every box as from everywhere else):
    Input's "delete all to the right" on it never ran, yet the footer of a dialog offered it.
    """

    @classmethod
    def _merge_bindings(cls) -> BindingsMap:
        bindings = super()._merge_bindings()
        bindings.key_to_bindings.pop("ctrl+k", None)
        return bindings

    async def _on_key(self, event: events.Key) -> None:
        for key in dict.fromkeys([event.key, *event.aliases]):  # its aliases too (ctrl+h is backspace)
            for binding in self._bindings.key_to_bindings.get(key, ()):
                if await self.app.run_action(binding.action, self):  # an action that skips passes the key on
                    event.stop()
                    event.prevent_default()
                    return
        await super()._on_key(event)

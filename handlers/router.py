"""Routing a turn to a handler: commands, button actions, text inside a flow, and the fallback.

Each feature module exports a `ROUTES` table; `bot/features.py` composes them in one visible order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

from content.text import fold
from handlers.actions import SEPARATOR, Payload
from handlers.states import State
from handlers.turn import Handler, NotThisStep, OutOfFlow, StaleAction, Turn
from handlers.types import Button, Reply
from handlers.words import CANCEL, is_one_of, words

CHOICES_KEY = "_choices"
MISSES_KEY = "_misses"
MAX_PART_WORDS = 4
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
MAX_ACTION = 64
NUMBERED = re.compile(r"^\d{1,2}\. ")  # the number ask_again puts before a label
K = TypeVar("K", bound=str)
V = TypeVar("V")


@dataclass(frozen=True)
class Action:
    """A button action route and the states where it is valid (None: any).

    Tables key routes by a payload class (`FeedbackKind`: every "fb:kind:…") or by one value
    (`Menu("help")`: just "menu:help"); the handler reads the value with `turn.pressed_as`.
    """

    handler: Handler
    states: frozenset[State] | None = None


ActionKey = type[Payload] | Payload


@dataclass(frozen=True)
class Routes:
    """One feature's entry points."""

    commands: Mapping[str, Handler] = field(default_factory=dict)
    actions: Mapping[ActionKey, Action] = field(default_factory=dict)
    text: Mapping[State, Handler] = field(default_factory=dict)
    media: Mapping[State, Handler] = field(default_factory=dict)


@dataclass(frozen=True)
class Fallbacks:
    """Handlers for what no route claims: a message outside any flow (`question`), text or media
    at a step of a flow that has no handler of its own for it (`in_flow`, `in_flow_media`), an
    unknown command, a stale button, media outside any flow, and a cancel word typed in a flow."""

    question: Handler
    unknown_command: Handler
    stale: Handler
    media: Handler
    in_flow: Handler
    in_flow_media: Handler
    cancel: Handler


def parse_command(text: str) -> tuple[str, list[str]] | None:
    """Split "/start area_1" into ("start", ["area_1"]); None when it is not a command."""
    match = _COMMAND.match(text.strip())
    if not match:
        return None
    return match.group(1).lower(), (match.group(2) or "").split()


def stored_choice(button: Button) -> list:
    """A button as the conversation keeps it: [label, action] or [label, action, [keys…]]."""
    return [button.label, button.action, sorted(button.keys)] if button.keys else [button.label, button.action]


def choice_buttons(choices: list[list]) -> list[Button]:
    """The offered choices as buttons again (keys included)."""
    return [Button(row[0], row[1], frozenset(row[2]) if len(row) > 2 else frozenset()) for row in choices]


def ask_again(turn: Turn, text: str) -> Reply:
    """The choices offered last, numbered (in the labels where the channel shows buttons)."""
    buttons = choice_buttons(turn.data.get(CHOICES_KEY, []))
    if not buttons:
        return Reply(turn._("Please go on, or type /huy to stop."))
    if turn.capabilities.buttons:  # numbered once: asked again, the stored labels carry their numbers already
        buttons = [
            Button(f"{number}. {NUMBERED.sub('', button.label)}", button.action, button.keys)
            for number, button in enumerate(buttons, 1)
        ]
    return Reply(text, buttons=tuple((button,) for button in buttons))


def choice_for(text: str, choices: list[list], *, partial: bool = False) -> str | None:
    """The action of the offered choice that `text` names: its number ("2"), its label, one of
    its keys (a short answer such as "có", "ko", "bỏ qua", without diacritics or with), or, with
    `partial`, a few words found in exactly one label ("khiếu nại" for "⚖️ Khiếu nại về …")."""
    stripped = text.strip().rstrip(".)")
    if stripped.isdigit():
        index = int(stripped) - 1
        return choices[index][1] if 0 <= index < len(choices) else None
    key = fold(text)
    if not key:
        return None
    buttons = choice_buttons(choices)
    for button in buttons:
        if fold(button.label) == key or fold(NUMBERED.sub("", button.label)) == key:
            return button.action
    short = words(text)
    for says in (_says_exactly, _says_in_words):
        keyed = list(
            dict.fromkeys(button.action for button in buttons if button.keys and says(short, key, button.keys))
        )
        if len(keyed) == 1:
            return keyed[0]
        if keyed:
            break
    if partial and short and len(short.split()) <= MAX_PART_WORDS:
        found = list(
            dict.fromkeys(
                button.action
                for button in buttons
                if f" {short} " in f" {fold(button.label)} " or f" {key} " in f" {fold(button.label)} "
            )
        )
        if len(found) == 1:
            return found[0]
    return None


def _says_exactly(short: str, key: str, keys: frozenset[str]) -> bool:
    """Whether a short answer is one of `keys`."""
    return short in keys or key in keys


def _says_in_words(short: str, key: str, keys: frozenset[str]) -> bool:
    """Whether a short answer is made only of one-word keys ("ok gửi đi" for "ok" and "gửi")."""
    typed = short.split()
    return 1 < len(typed) <= MAX_PART_WORDS and all(word in keys for word in typed)


@dataclass(frozen=True)
class _ActionRoute:
    """An action route as the router keeps it: what parses the string, the one value it is limited
    to (a route keyed by a value), and the route."""

    kind: type[Payload]
    exact: Payload | None
    action: Action


def _action_routes(actions: Mapping[ActionKey, Action]) -> dict[str, _ActionRoute]:
    """A feature's action table keyed by strings: a class by its prefix, a value by its packed form."""
    table = {}
    for key, action in actions.items():
        if isinstance(key, Payload):
            table[key.pack()] = _ActionRoute(type(key), key, action)
        else:
            table[key.prefix] = _ActionRoute(key, None, action)
    return table


class Router:
    """All routes of the bot, merged from the feature modules in the given order."""

    def __init__(self, features: Iterable[Routes], fallbacks: Fallbacks) -> None:
        self.commands: dict[str, Handler] = {}
        self.actions: dict[str, _ActionRoute] = {}
        self.text: dict[State, Handler] = {}
        self.media: dict[State, Handler] = {}
        for routes in features:
            _join(self.commands, routes.commands)
            _join(self.actions, _action_routes(routes.actions))
            _join(self.text, routes.text)
            _join(self.media, routes.media)
        self.fallbacks = fallbacks

    async def dispatch(self, turn: Turn) -> list[Reply]:
        """Run the handler this turn belongs to."""
        incoming = turn.incoming
        action = incoming.action
        if action is None and turn.text:
            command = parse_command(turn.text)
            if command is not None:
                name, turn.args = command
                handler = self.commands.get(name, self.fallbacks.unknown_command)
                return await handler(turn)
            in_flow = turn.state is not State.idle
            # Inside a flow a few words may name a choice, unless the step reads text itself.
            partial = in_flow and turn.state not in self.text
            action = choice_for(turn.text, turn.data.get(CHOICES_KEY, []), partial=partial)
            if action is not None:  # a typed choice counts as the press of its button
                turn.incoming = replace(incoming, action=action)
                turn.data.pop(MISSES_KEY, None)
            elif in_flow and is_one_of(turn.text, CANCEL):
                return await self.fallbacks.cancel(turn)
        if action is not None:
            return await self._action(turn, action)
        if turn.state is State.idle:
            return await (self.fallbacks.question if turn.text else self.fallbacks.media)(turn)
        if turn.text:
            try:
                return await self.text.get(turn.state, self.fallbacks.in_flow)(turn)
            except NotThisStep:
                return await self.fallbacks.in_flow(turn)
            except OutOfFlow as out:
                turn.reset()
                return [Reply(out.note), *await self.fallbacks.question(turn)]
        return await self.media.get(turn.state, self.fallbacks.in_flow_media)(turn)

    def _route(self, action: str) -> _ActionRoute | None:
        """The route of the longest key an action starts with: the whole action, or a prefix of its parts."""
        parts = action.split(SEPARATOR)
        for count in range(len(parts), 0, -1):
            route = self.actions.get(SEPARATOR.join(parts[:count]))
            if route is not None:
                return route
        return None

    async def _action(self, turn: Turn, action: str) -> list[Reply]:
        """Run a button action, or answer that the menu has expired (an old, unknown or mangled payload)."""
        action = action[:MAX_ACTION]
        route = self._route(action)
        turn.pressed = route.kind.unpack(action) if route is not None else None
        if route is None or turn.pressed is None or (route.exact is not None and turn.pressed != route.exact):
            return await self.fallbacks.stale(turn)
        if route.action.states is not None and turn.state not in route.action.states:
            return await self.fallbacks.stale(turn)
        try:
            return await route.action.handler(turn)
        except StaleAction:
            return await self.fallbacks.stale(turn)


def _join(table: dict[K, V], new: Mapping[K, V]) -> None:
    """Add `new` routes to `table`; ValueError when one is there already."""
    clash = set(table) & set(new)
    if clash:
        raise ValueError(f"route defined twice: {sorted(clash)}")
    table.update(new)

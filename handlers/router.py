"""Routing a turn to a handler: commands, button actions, text inside a flow, and the fallback.

Each feature module exports a `ROUTES` table; `bot/features.py` composes them in one visible order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from content.text import fold
from handlers.states import State
from handlers.turn import Handler, StaleAction, Turn
from handlers.types import Reply

CHOICES_KEY = "_choices"
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
MAX_ACTION = 64


@dataclass(frozen=True)
class Action:
    """A button action route and the states where it is valid (None: any).

    Tables key routes by the whole action ("menu:help") or by its verb ("area" for "area:24175").
    """

    handler: Handler
    states: frozenset[State] | None = None


@dataclass(frozen=True)
class Routes:
    """One feature's entry points."""

    commands: Mapping[str, Handler] = field(default_factory=dict)
    actions: Mapping[str, Action] = field(default_factory=dict)
    text: Mapping[State, Handler] = field(default_factory=dict)
    media: Mapping[State, Handler] = field(default_factory=dict)


@dataclass(frozen=True)
class Fallbacks:
    """Handlers for what no route claims."""

    question: Handler
    unknown_command: Handler
    stale: Handler
    media: Handler


def parse_command(text: str) -> tuple[str, list[str]] | None:
    """Split "/start area_1" into ("start", ["area_1"]); None when it is not a command."""
    match = _COMMAND.match(text.strip())
    if not match:
        return None
    return match.group(1).lower(), (match.group(2) or "").split()


def parse_action(action: str) -> tuple[str, list[str]]:
    """Split "area:24175" into ("area", ["24175"])."""
    verb, *args = action.split(":")
    return verb, args


def choice_for(text: str, choices: list[list[str]]) -> str | None:
    """The action of the offered choice that `text` names, by number ("2") or by label."""
    stripped = text.strip().rstrip(".)")
    if stripped.isdigit():
        index = int(stripped) - 1
        return choices[index][1] if 0 <= index < len(choices) else None
    key = fold(text)
    if not key:
        return None
    for label, action in choices:
        if fold(label) == key:
            return action
    return None


class Router:
    """All routes of the bot, merged from the feature modules in the given order."""

    def __init__(self, features: Iterable[Routes], fallbacks: Fallbacks) -> None:
        self.commands: dict[str, Handler] = {}
        self.actions: dict[str, Action] = {}
        self.text: dict[State, Handler] = {}
        self.media: dict[State, Handler] = {}
        for routes in features:
            tables = ((self.commands, routes.commands), (self.actions, routes.actions), (self.text, routes.text), (self.media, routes.media))
            for table, new in tables:
                clash = set(table) & set(new)
                if clash:
                    raise ValueError(f"route defined twice: {sorted(clash)}")
                table.update(new)  # type: ignore[attr-defined]
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
            action = choice_for(turn.text, turn.data.get(CHOICES_KEY, []))
            if action is not None:  # a typed choice counts as the press of its button
                turn.incoming = replace(incoming, action=action)
        if action is not None:
            return await self._action(turn, action)
        if turn.text:
            return await self.text.get(turn.state, self.fallbacks.question)(turn)
        return await self.media.get(turn.state, self.fallbacks.media)(turn)

    async def _action(self, turn: Turn, action: str) -> list[Reply]:
        """Run a button action, or answer that the menu has expired."""
        action = action[:MAX_ACTION]
        route = self.actions.get(action)
        if route is None:
            verb, turn.args = parse_action(action)
            route = self.actions.get(verb)
        if route is None or (route.states is not None and turn.state not in route.states):
            return await self.fallbacks.stale(turn)
        try:
            return await route.handler(turn)
        except StaleAction:
            return await self.fallbacks.stale(turn)

"""The conversation engine: one transaction per incoming message, state kept in the database."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import KW_ONLY, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from content.text import clean_input
from handlers import observe
from handlers.render import number_choices
from handlers.router import CHOICES_KEY, Router, stored_choice
from handlers.states import State
from handlers.turn import Services, Turn
from handlers.types import Capabilities, Incoming, Reply
from storage import repo, sqlite_driver
from storage.core import id_of
from storage.db import SessionFactory

log = logging.getLogger(__name__)

MAX_INPUT = 4096
MAX_NAME = 200
# last_seen_at moves in steps: most turns of a conversation then write no citizen row. It only
# opens reply windows (Zalo OA's 48 hours), which a minute's lag closes early, never late.
LAST_SEEN_STEP = timedelta(minutes=1)
Clock = Callable[[], datetime]


class Throttle(Protocol):
    """Flood control per citizen (`bot.flood.FloodGate`): "ok", "notice" or "quiet" for a message."""

    def admit(self, key: Hashable) -> str: ...


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(eq=False)
class Engine:
    """Turns an `Incoming` into replies. Callers must serialise messages of one citizen."""

    sessions: SessionFactory
    router: Router
    services: Services
    _: KW_ONLY
    clock: Clock = utc_now
    conversation_ttl: timedelta = timedelta(hours=72)
    flood: Throttle | None = None

    async def handle(self, incoming: Incoming, capabilities: Capabilities = Capabilities()) -> list[Reply]:
        """Handle one message and commit; on any failure roll back and apologise."""
        observe.UPDATES_RECEIVED.labels(incoming.channel).inc()
        started = time.perf_counter()
        request_id = observe.REQUEST_ID.set(observe.REQUEST_ID.get() or f"{incoming.channel}-{observe.new_id()}")
        try:
            pace = self.flood.admit((incoming.channel, incoming.user_id)) if self.flood is not None else "ok"
            with sqlite_driver.inline():  # a turn's statements are short: no trips to SQLite's thread
                async with self.sessions() as session:
                    replies = await self._turn(session, incoming, capabilities, pace)
                    await session.commit()
            observe.UPDATES_HANDLED.labels(incoming.channel, "ok").inc()
            return replies
        except Exception:
            observe.UPDATES_HANDLED.labels(incoming.channel, "error").inc()
            log.exception("turn failed: channel=%s action=%r", incoming.channel, incoming.action)
            translator = self.services.catalogs.get(None)
            return [Reply(translator.gettext("Sorry, something went wrong on our side. Please try again in a moment."))]
        finally:
            observe.TURN_SECONDS.labels(incoming.channel).observe(time.perf_counter() - started)
            observe.REQUEST_ID.reset(request_id)

    async def _turn(self, session, incoming: Incoming, capabilities: Capabilities, pace: str = "ok") -> list[Reply]:
        """Load the citizen and their state, route, then save the new state."""
        now = self.clock()
        incoming, cut = _cleaned(incoming)
        citizen, conversation, stored = await repo.citizen_for_turn(
            session, incoming.channel, incoming.user_id, now=now
        )
        if now - citizen.last_seen_at >= LAST_SEEN_STEP:
            citizen.last_seen_at = now
        turn = Turn(
            incoming=incoming,
            citizen=citizen,
            session=session,
            services=self.services,
            # The platform's language hint is not used: Telegram has no Vietnamese interface, so
            # most Vietnamese users report "en". Vietnamese until the citizen picks a language.
            translator=self.services.catalogs.get(citizen.locale),
            now=now,
            capabilities=capabilities,
            state=_state(conversation.state if conversation else None),
            data=dict(conversation.data) if conversation else {},
        )
        replies = await self.router.dispatch(turn)
        if cut:
            replies.insert(
                0,
                Reply(turn._("Your message was very long; I read only its first {limit} characters.", limit=MAX_INPUT)),
            )
        if pace != "ok":  # handled and saved as usual; only the reply gives way to the notice or to silence
            replies = (
                [Reply(turn._("You are sending messages very fast. Please wait a moment, then go on."))]
                if pace == "notice"
                else []
            )
        if turn.delete_citizen:
            await repo.delete_citizen(session, id_of(citizen))
            return replies
        offered = next((reply for reply in reversed(replies) if reply.buttons), None)
        data = dict(turn.data)
        data.pop(CHOICES_KEY, None)
        if offered is not None:
            data[CHOICES_KEY] = [stored_choice(button) for button in offered.all_buttons()]
        if conversation is not None or turn.state is not State.idle or data:
            repo.put_conversation(session, stored, id_of(citizen), turn.state, data, now=now, ttl=self.conversation_ttl)
        if not capabilities.buttons:
            replies = [number_choices(reply, turn._("Reply with a number to choose.")) for reply in replies]
        return replies


def _state(name: str | None) -> State:
    """The stored state, or idle for none or a state this version no longer has."""
    try:
        return State(name) if name else State.idle
    except ValueError:
        return State.idle


def _cleaned(incoming: Incoming) -> tuple[Incoming, bool]:
    """The incoming message with its text and sender's name cleaned, the text cut to MAX_INPUT;
    whether it was cut."""
    name = (clean_input(incoming.display_name)[:MAX_NAME] or None) if incoming.display_name else None
    if incoming.text is None:
        return replace(incoming, display_name=name), False
    text = clean_input(incoming.text)
    cut = len(text) > MAX_INPUT
    return replace(incoming, text=text[:MAX_INPUT] if cut else text, display_name=name), cut

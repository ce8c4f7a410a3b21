"""The channel seam: what every channel is (`Channel`), and what the registry knows of each kind of
channel before it runs (`Kind`): whether the settings switch it on, what it is built from, the
routes it serves, its secrets, the rules over its settings and what /healthz says of it while it is off.

A channel converts its platform's messages to `Incoming` at the edge, runs the engine, and sends the
replies back; messages sent outside a turn (notices, staff replies) reach a push channel through
its outbox sender (`deliver`, within `limits`) and a pull channel through its own routes (the web chat).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from handlers.types import Capabilities, Reply

if TYPE_CHECKING:
    from pydantic import SecretStr
    from yarl import URL

    from bot.config import Settings
    from bot.media_links import MediaLinks
    from bot.ordering import KeyedLocks
    from content.i18n import Catalogs
    from handlers.engine import Engine
    from storage.outbox import ReplyWindow


@dataclass(frozen=True)
class SendLimits:
    """How fast the outbox sender may deliver: messages a second overall and per chat, and the reply
    window of a platform that allows messages only for a while after the citizen's last one."""

    rate: float
    per_chat: float = 1.0
    window: ReplyWindow | None = None


class Channel(Protocol):
    """A running channel. `webhook`: it receives through the web server (so in serving processes);
    otherwise it polls (in working ones)."""

    webhook: bool

    @property
    def name(self) -> str:
        """The channel's name, as stored with its citizens and outbox messages."""

    @property
    def capabilities(self) -> Capabilities:
        """What the platform can show (buttons, photos, …)."""

    async def start(self, *, receive: bool = True) -> None:
        """Connect; with `receive`, take the platform's updates too (else only send)."""

    async def stop(self) -> None:
        """Stop receiving, let what is being handled finish, close the connections."""

    def health(self) -> dict[str, str]:
        """What GET /healthz says of the channel while it runs."""


@runtime_checkable
class PushChannel(Channel, Protocol):
    """A channel the bot writes to first: an outbox sender delivers its notices and staff replies,
    within `send_limits`. (A pull channel, the web chat, hands them over when its page asks.)"""

    send_limits: SendLimits

    async def deliver(self, chat_id: str, replies: list[Reply]) -> None:
        """Send an outbox message, raising the sender's errors (`bot.sender.SendError`)."""


@dataclass(frozen=True)
class Parts:
    """What the app gives a channel to be built from."""

    settings: Settings
    engine: Engine
    locks: KeyedLocks
    catalogs: Catalogs
    links: MediaLinks
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class Route:
    """A route of a channel: `method path`, answered by the running channel's method `call` (404
    while the channel is off), or, with `folder`, the files in it (GET `path`/…)."""

    method: str
    path: str
    name: str
    call: str = ""
    folder: Path | None = None


def _nothing(settings: Settings) -> Iterable[str]:
    return ()


def token_key(token: SecretStr) -> tuple[str, ...]:
    """A bot token's key part ("id:key"), masked alone too (the settings' own secrets are masked whole
    by `Settings.secrets`)."""
    return (token.get_secret_value().partition(":")[2],)


def webhook_secret_rules(prefix: str, url: URL | None, secret: SecretStr, shortest: int) -> Iterator[str]:
    """{prefix}_WEBHOOK_SECRET: shortest-256 characters the platform sends back as they are, and
    required with {prefix}_WEBHOOK_URL."""
    value = secret.get_secret_value()
    if value and not (shortest <= len(value) <= 256 and re.fullmatch(r"[A-Za-z0-9_-]+", value)):
        yield f"{prefix}_WEBHOOK_SECRET: must be {shortest}-256 characters of A-Z, a-z, 0-9, _ and -"
    if url is not None and not value:
        yield f"{prefix}_WEBHOOK_SECRET: required when {prefix}_WEBHOOK_URL is set"


@dataclass(frozen=True)
class Kind:
    """A kind of channel, as the registry lists it (`bot/channels/registry.py`)."""

    name: str
    build: Callable[[Parts], Channel]
    enabled: Callable[[Settings], bool] = lambda settings: True
    routes: tuple[Route, ...] = ()
    secrets: Callable[[Settings], Iterable[str]] = _nothing  # written as *** in the logs
    # What is wrong with its settings, as "VARIABLE: what is wrong" (checked as the settings load).
    check: Callable[[Settings], Iterable[str]] = _nothing
    health_off: Mapping[str, str] = field(default_factory=dict)  # what /healthz says while it is off
    off_note: str = ""  # logged at start-up while it is off

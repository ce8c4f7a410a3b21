"""The channels the bot has, in one list, and what the app does with each: build and start it while
the app runs (with its outbox sender), serve its routes, report it in /healthz, mask its secrets.

A new channel is a module that exports a `KIND` (`bot/channels/base.py`) and one entry in `KINDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime

from aiohttp import web

from bot import keys
from bot.channels import background, telegram, webchat, zalo_bot, zalo_oa
from bot.channels.base import Channel, Kind, Parts, PushChannel, Route
from bot.config import Settings
from bot.sender import QuietHours, Sender

log = logging.getLogger(__name__)

# In this order they start (and stop in reverse), and their routes are added.
KINDS: tuple[Kind, ...] = (webchat.KIND, telegram.KIND, zalo_bot.KIND, zalo_oa.KIND)


def lifecycle(kind: Kind, settings: Settings, clock: Callable[[], datetime]):
    """The `cleanup_ctx` of one kind of channel: built and started when its settings switch it on,
    its outbox sender running in the processes whose role sends; stopped with the app."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if not kind.enabled(settings):
            if kind.off_note:
                log.info("%s", kind.off_note)
            yield
            return
        parts = Parts(
            settings, app[keys.ENGINE], app[keys.LOCKS], app[keys.SERVICES].catalogs, app[keys.MEDIA_LINKS], clock
        )
        channel = kind.build(parts)
        app[keys.CHANNELS][kind.name] = channel
        await channel.start(receive=app[keys.ROLE].receives(webhook=channel.webhook))
        async with _sending(app, channel, settings, clock):
            yield
        await channel.stop()

    return ctx


@contextlib.asynccontextmanager
async def _sending(app: web.Application, channel: Channel, settings: Settings, clock) -> AsyncIterator[None]:
    """Run a push channel's outbox sender while the app runs, in the processes whose role sends."""
    if not isinstance(channel, PushChannel) or not app[keys.ROLE].works:
        yield
        return
    limits = channel.send_limits
    sender = Sender(
        app[keys.SESSIONS],
        channel.name,
        channel.deliver,
        clock,
        rate=limits.rate,
        per_chat=limits.per_chat,
        quiet=QuietHours.of(settings.quiet_hours, settings.tz),
        window=limits.window,
    )
    task = asyncio.create_task(sender.run(), name=f"outbox:{sender.channel}")
    try:
        yield
    finally:
        await background.cancel(task)


def routes(kinds: Iterable[Kind]) -> list[web.AbstractRouteDef]:
    """The channels' routes, whether they are on or not (a route of a channel that is off answers 404)."""
    table: list[web.AbstractRouteDef] = []
    for kind in kinds:
        for route in kind.routes:
            if route.folder is not None:
                table.append(web.static(route.path, route.folder, name=route.name))
            else:
                table.append(web.route(route.method, route.path, _handler(kind.name, route), name=route.name))
    return table


def _handler(name: str, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        channel = request.app[keys.CHANNELS].get(name)
        if channel is None:
            raise web.HTTPNotFound()
        return await getattr(channel, route.call)(request)

    handle.__doc__ = f"{route.method} {route.path} ({name})."
    return handle


def health(app: web.Application) -> dict[str, str]:
    """What /healthz says of the channels: of each one running, its own words; of one off, its `health_off`."""
    running = app[keys.CHANNELS]
    said: dict[str, str] = {}
    for kind in app[keys.CHANNEL_KINDS]:
        channel = running.get(kind.name)
        said.update(channel.health() if channel is not None else kind.health_off)
    return said


def secrets(kinds: Iterable[Kind], settings: Settings) -> Iterable[str]:
    """The channels' secrets, for the logs to mask."""
    for kind in kinds:
        yield from kind.secrets(settings)

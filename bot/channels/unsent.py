"""Replies a platform refused for a while (an outage, a timeout, a rate limit) go out through the
outbox instead, with its retries, so that an outage does not swallow what the bot answered.

Each queued reply is keyed by the update it answers and its place among that turn's replies, so
that handling the same update again (a redelivery after a crash) does not queue it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from handlers.render import reply_payload
from handlers.types import Reply
from storage import outbox
from storage.db import SessionFactory

log = logging.getLogger(__name__)


async def queue_unsent(
    sessions: SessionFactory,
    *,
    channel: str,
    chat_id: str,
    replies: list[Reply],
    first: int,
    update_key: str | None,
    now: datetime,
    error: Exception,
) -> None:
    """Queue `replies`, the turn's replies from its `first` on; without an `update_key` there is
    nothing to recognise a second queueing by."""
    log.warning(
        "%s: reply to update %s failed (%s); %d message(s) go through the outbox",
        channel,
        update_key,
        error,
        len(replies),
    )
    async with sessions() as session:
        for index, reply in enumerate(replies, start=first):
            await outbox.enqueue(
                session,
                channel=channel,
                chat_id=chat_id,
                payload=reply_payload(reply),
                now=now,
                priority=outbox.PRIORITY_REPLY,
                dedupe_key=f"{channel}:reply:{update_key}:{index}" if update_key else None,
            )
        await session.commit()


async def send_in_turn(
    sessions: SessionFactory,
    *,
    channel: str,
    chat_id: str,
    replies: list[Reply],
    update_key: str | None,
    send: Callable[[Reply], Awaitable[object]],
    for_a_while: Callable[[Exception], bool],
    clock: Callable[[], datetime],
) -> None:
    """Send a turn's replies one by one; from the first one the platform refuses `for_a_while` on,
    the outbox sends them. Any other error is raised."""
    for index, reply in enumerate(replies):
        try:
            await send(reply)
        except Exception as exc:
            if not for_a_while(exc):
                raise
            await queue_unsent(
                sessions,
                channel=channel,
                chat_id=chat_id,
                replies=replies[index:],
                first=index,
                update_key=update_key,
                now=clock(),
                error=exc,
            )
            return

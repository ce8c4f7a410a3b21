"""Notices (broadcasts): queueing those whose time has come, in every recipient's language."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from content.i18n import N_, SUPPORTED
from handlers.turn import Services
from storage import broadcasts

log = logging.getLogger(__name__)

STOP_LABEL = N_("🔕 Stop notices")


def stop_labels(services: Services) -> dict[str, str]:
    """The "stop notices" button in each language."""
    return {locale: services.catalogs.get(locale).gettext(STOP_LABEL) for locale in SUPPORTED}


async def queue_due(session: AsyncSession, services: Services, now: datetime) -> int:
    """Fan every broadcast whose time has come out into the outbox; return how many messages."""
    total = 0
    for broadcast in await broadcasts.claim_due(session, now):
        count = await broadcasts.fan_out(
            session, broadcast, now=now, default_locale=services.catalogs.default_locale, stop_labels=stop_labels(services)
        )
        log.info("broadcast %s queued for %d citizens", broadcast.id, count)
        total += count
    await broadcasts.finish_done(session)
    return total

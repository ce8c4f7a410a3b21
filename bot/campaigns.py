"""Recurring campaigns at run time: one scheduler job per campaign, and catch-up at start-up.

Each occurrence becomes one scheduled Broadcast whose `occurrence_key` is unique in the database,
so a job that runs twice, a catch-up that overlaps the job, or two processes at once still make one
broadcast. The job that queues due broadcasts fans it out; nothing here sends anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from content.campaigns import Campaign, last_occurrence_before, occurrence_key, render_texts, trigger
from storage.broadcasts import create_broadcast
from storage.db import SessionFactory
from storage.models import Broadcast

log = logging.getLogger(__name__)

DEFAULT_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
Clock = Callable[[], datetime]


async def fire(
    sessions: SessionFactory, campaign: Campaign, occurrence: datetime, now: datetime, *, tz: ZoneInfo = DEFAULT_TZ
) -> bool:
    """Create the broadcast of one occurrence, due at `occurrence`; False if it already exists."""
    key = occurrence_key(campaign, occurrence)
    async with sessions() as session:
        try:
            await create_broadcast(
                session,
                texts=render_texts(campaign, occurrence, tz),
                target=campaign.target,
                send_at=occurrence,
                now=now,
                urgent=campaign.urgent,
                author="campaign",
                campaign=campaign.id,
                occurrence_key=key,
            )
            await session.commit()
        except IntegrityError:
            # Another job, catch-up or process created it first: that one stands.
            await session.rollback()
            return False
    log.info("campaign %s: broadcast for %s created", campaign.id, occurrence.isoformat())
    return True


def schedule(
    scheduler: BaseScheduler,
    sessions: SessionFactory,
    campaigns: Sequence[Campaign],
    tz: ZoneInfo,
    clock: Clock,
    grace: timedelta,
) -> list[Job]:
    """Add one job per campaign (id "campaign:<id>") that creates each occurrence's broadcast."""
    return [
        scheduler.add_job(
            run_occurrence,
            trigger(campaign, tz),
            args=[sessions, campaign, tz, clock, grace],
            id=f"campaign:{campaign.id}",
            name=f"campaign {campaign.id}",
            replace_existing=True,
            misfire_grace_time=max(1, int(grace.total_seconds())),
            coalesce=True,
        )
        for campaign in campaigns
    ]


async def run_occurrence(
    sessions: SessionFactory, campaign: Campaign, tz: ZoneInfo, clock: Clock, grace: timedelta
) -> bool:
    """The job: create the broadcast of the occurrence that is due now, unless it is too late."""
    now = clock()
    occurrence = last_occurrence_before(campaign, now, tz)
    if occurrence is None or now - occurrence >= grace:
        log.warning("campaign %s: no occurrence within %s of %s; nothing sent", campaign.id, grace, now.isoformat())
        return False
    return await fire(sessions, campaign, occurrence, now, tz=tz)


async def catch_up(
    sessions: SessionFactory, campaigns: Sequence[Campaign], tz: ZoneInfo, now: datetime, grace: timedelta
) -> list[str]:
    """At start-up, fire each campaign's latest occurrence if it was missed by less than `grace`;
    older misses are skipped (sending last week's notice would confuse). Returns one line per
    occurrence fired ("fired <key>") or skipped ("skipped <key>: <lateness> late")."""
    report: list[str] = []
    for campaign in campaigns:
        occurrence = last_occurrence_before(campaign, now, tz)
        if occurrence is None:
            continue
        key = occurrence_key(campaign, occurrence)
        if await _exists(sessions, key):
            continue
        late = now - occurrence
        if late < grace:
            if await fire(sessions, campaign, occurrence, now, tz=tz):
                report.append(f"fired {key}")
                log.warning(
                    "campaign %s: occurrence %s missed while stopped, sent %s late",
                    campaign.id,
                    occurrence.isoformat(),
                    late,
                )
        else:
            report.append(f"skipped {key}: {late} late")
            log.info(
                "campaign %s: occurrence %s missed by %s (grace %s); skipped",
                campaign.id,
                occurrence.isoformat(),
                late,
                grace,
            )
    return report


async def _exists(sessions: SessionFactory, key: str) -> bool:
    async with sessions() as session:
        found = await session.exec(select(Broadcast.id).where(Broadcast.occurrence_key == key))
        return found.first() is not None

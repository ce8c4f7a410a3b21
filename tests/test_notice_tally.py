"""Notice delivery counters (storage/tally.py): kept by database triggers in the same transaction as
each outbox change, folded by the scheduler, and at every moment equal to counting the outbox.

Each test runs on SQLite and on PostgreSQL. The random runs drive the real outbox functions
(claim, sent, retry, failed, skipped, cancel, release after a crash, a citizen deleting their data)
and abandon some transactions half-way, as a killed process does.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, text
from sqlmodel import col, select

from storage import broadcasts, outbox, stats, tally
from storage.db import SessionFactory
from storage.models import Broadcast, Citizen, NoticeTallyChange, OutboxMessage, OutboxStatus

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
AREAS = ("24175", "24133", "24169")  # Hòa Phú, Buôn Ma Thuột, Ea Kao
LABELS = {"vi": "Dừng nhận tin", "en": "Stop"}


async def add_citizens(sessions: SessionFactory, count: int, first: int, now: datetime) -> list[int]:
    """Subscribed, consenting citizens spread over the communes (one in ten with no commune)."""
    async with sessions() as session:
        people = [
            Citizen(channel="telegram", channel_user_id=str(first + n), locale="vi", subscribed=True, consent_at=now,
                    created_at=now, last_seen_at=now, area_code=None if n % 10 == 9 else AREAS[n % len(AREAS)])
            for n in range(count)
        ]
        session.add_all(people)
        await session.commit()
        return [person.id for person in people if person.id is not None]


async def notice(sessions: SessionFactory, now: datetime, label: str) -> int:
    """A province-wide notice, queued now."""
    async with sessions() as session:
        made = await broadcasts.create_broadcast(session, texts={"vi": label}, target={}, send_at=now, now=now, author="t")
        await broadcasts.fan_out(session, made, now=now, default_locale="vi", stop_labels=LABELS)
        await session.commit()
        assert made.id is not None
        return made.id


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


async def counted_from_outbox(sessions: SessionFactory) -> dict[tuple, int]:
    """The outbox's own GROUP BY, the truth the counters must equal."""
    async with sessions() as session:
        rows = (await session.exec(
            select(OutboxMessage).where(col(OutboxMessage.broadcast_id).is_not(None))
        )).all()
    found: Counter[tuple] = Counter()
    for row in rows:
        assert row.area_code is not None, "a notice message without the commune it was queued for"
        found[(row.broadcast_id, row.area_code, hour_of(row.created_at), row.status, row.reason or "")] += 1
    return dict(found)


async def counted(sessions: SessionFactory, **filters) -> dict[tuple, int]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return await tally.counts(session, tally.DIMENSIONS, **filters)


async def agree(sessions: SessionFactory) -> None:
    assert await counted(sessions) == await counted_from_outbox(sessions)


@pytest.mark.parametrize("seed", range(6))
async def test_the_counters_equal_the_outbox_through_any_run_of_changes_crashes_and_folds(
    db_sessions: SessionFactory, seed: int
) -> None:
    rng = random.Random(seed)
    now = T0
    people = await add_citizens(db_sessions, 24, 900_000, now)
    notices = [await notice(db_sessions, now, "một"), await notice(db_sessions, now + timedelta(hours=3), "hai")]
    await agree(db_sessions)
    for step in range(40):
        now += timedelta(minutes=rng.randint(1, 50))
        action = rng.choice(["claim", "finish", "finish", "finish_many", "cancel", "release", "delete", "move",
                             "fold", "newcomers"])
        abandon = rng.random() < 0.25  # the process dies before it commits
        async with db_sessions() as session:
            if action == "claim":
                await outbox.claim(session, "telegram", now + timedelta(hours=1), limit=rng.randint(1, 8),
                                   window=outbox.ReplyWindow(timedelta(days=1), "window", timedelta(hours=2), "charged")
                                   if rng.random() < 0.3 else None)
            elif action in ("finish", "finish_many"):
                sending = list((await session.exec(
                    select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.sending))).all())
                chosen = rng.sample(sending, min(len(sending), rng.randint(1, 5)))
                if action == "finish_many":
                    await outbox.mark_sent_many(session, [m.id for m in chosen if m.id], now)
                for message in chosen if action == "finish" else []:
                    fate = rng.choice(["sent", "retry", "failed", "skipped"])
                    if fate == "sent":
                        outbox.mark_sent(message, now)
                    elif fate == "retry":
                        outbox.mark_retry(message, now, timedelta(seconds=1), "429")
                    else:
                        outbox.mark_failed(message, rng.choice(["blocked", "error"]), "x", skipped=fate == "skipped")
            elif action == "cancel":
                await broadcasts.cancel(session, await session.get(Broadcast, rng.choice(notices)))
            elif action == "release":
                await outbox.release_in_flight(session, now + timedelta(hours=1))
            elif action == "delete" and people:
                gone = people.pop(rng.randrange(len(people)))
                await session.exec(delete(Citizen).where(col(Citizen.id) == gone))  # type: ignore[call-overload]
            elif action == "move" and people:
                person = await session.get(Citizen, rng.choice(people))
                person.area_code = rng.choice(AREAS)  # counts stay with the commune the notice was queued for
            elif action == "fold":
                abandon = False
                await tally.fold(session, limit=rng.randint(1, 30))
            elif action == "newcomers":
                abandon = False
                people += await add_citizens(db_sessions, 3, 910_000 + step * 10, now)
                await broadcasts.fan_out(session, await session.get(Broadcast, notices[0]), now=now,
                                         default_locale="vi", stop_labels=LABELS)
            if abandon:
                await session.rollback()
            else:
                await session.commit()
        await agree(db_sessions)
    # Folding everything leaves the journal empty and the counters unchanged.
    async with db_sessions() as session:
        await tally.fold_all(session, limit=7)
        assert (await session.exec(select(NoticeTallyChange))).all() == []
    await agree(db_sessions)
    # Filters give the part of the truth they select.
    truth = await counted_from_outbox(db_sessions)
    start, end = hour_of(T0) + timedelta(hours=2), hour_of(T0) + timedelta(hours=30)
    expected = {key: n for key, n in truth.items()
                if start <= key[2] < end and key[1] in AREAS[:2] and key[3] == "sent" and n}
    assert await counted(db_sessions, start=start, end=end, areas=AREAS[:2], statuses=["sent"]) == expected
    assert await counted(db_sessions, broadcast_ids=[]) == {}
    assert await counted(db_sessions, areas=[]) == {}


async def test_two_processes_folding_at_once_count_each_change_once(db_sessions: SessionFactory, db_url: str) -> None:
    from storage.db import create_engine, session_factory

    await add_citizens(db_sessions, 40, 920_000, T0)
    broadcast_id = await notice(db_sessions, T0, "một")
    async with db_sessions() as session:
        claimed = await outbox.claim(session, "telegram", T0, limit=25)
        for message in claimed:
            outbox.mark_sent(message, T0)
        await session.commit()
    other = create_engine(db_url)  # a second process: its own engine and connections
    try:
        async def fold(sessions: SessionFactory) -> int:
            async with sessions() as session:
                return await tally.fold_all(session, limit=3)

        moved = await asyncio.gather(fold(db_sessions), fold(session_factory(other)), fold(db_sessions))
    finally:
        await other.dispose()
    assert sum(moved) == 40 + 25  # queued, then sent (claimed and sent in one transaction): each folded once
    async with db_sessions() as session:
        assert await broadcasts.status_counts(session, broadcast_id) == {"pending": 15, "sent": 25}
        assert (await session.exec(select(NoticeTallyChange))).all() == []
    await agree(db_sessions)


async def test_citizens_reached_count_each_citizen_once_in_the_period_and_commune(db_sessions: SessionFactory) -> None:
    first = await add_citizens(db_sessions, 6, 930_000, T0)
    early = await notice(db_sessions, T0, "một")
    await notice(db_sessions, T0 + timedelta(days=10), "hai")
    later = T0 + timedelta(days=20)
    newcomers = await add_citizens(db_sessions, 3, 931_000, later)
    async with db_sessions() as session:  # the first notice goes to newcomers too, in a later period
        await broadcasts.fan_out(session, await session.get(Broadcast, early), now=later, default_locale="vi",
                                 stop_labels=LABELS)
        await session.execute(text("UPDATE outbox SET status = 'sent'"))
        await session.execute(text("UPDATE outbox SET status = 'failed' WHERE citizen_id = :id AND broadcast_id = :b"),
                              {"id": first[0], "b": early})
        await session.commit()

    async def reached(start: datetime, end: datetime, areas=None) -> int:  # type: ignore[no-untyped-def]
        async with db_sessions() as session:
            return await tally.citizens_reached(session, start, end, areas)

    assert await reached(T0 - timedelta(days=1), T0 + timedelta(days=15)) == 6  # the first got only the second notice
    assert await reached(T0 - timedelta(days=1), T0 + timedelta(days=5)) == 5  # the first's only one failed
    assert await reached(T0 + timedelta(days=15), T0 + timedelta(days=25)) == len(newcomers)
    assert await reached(T0 - timedelta(days=1), T0 + timedelta(days=30)) == 9
    assert await reached(T0 - timedelta(days=1), T0 + timedelta(days=30), {AREAS[1]}) == 3
    assert await reached(T0 + timedelta(days=30), T0 + timedelta(days=40)) == 0
    # The report's totals read the same.
    async with db_sessions() as session:
        totals = await stats.notice_totals(session, stats.Scope(T0 - timedelta(days=1), T0 + timedelta(days=30)))
    assert (totals.queued, totals.sent, totals.failed, totals.citizens_reached) == (15, 14, 1, 9)

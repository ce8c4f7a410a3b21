"""The storage layer on both backends, SQLite and PostgreSQL: migrations, the outbox contract,
broadcast fan-out, tickets; and, on PostgreSQL only, several claimers draining one outbox
(FOR UPDATE SKIP LOCKED) as parallel sessions and as separate sender processes.

The PostgreSQL cases need TEST_POSTGRES_URL (see tests/postgres.py; `.ci/run` sets it).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, select

from storage import broadcasts, content, holders, outbox, repo, telegram_inbox, ticket_rules, tickets, zalo_oa
from storage.db import SessionFactory, create_engine, session_factory
from storage.migrate import MIGRATIONS, alembic_config, downgrade, upgrade
from storage.models import (
    Broadcast, BroadcastStatus, Citizen, FaqUsageRow, OutboxMessage, OutboxStatus, StaffRole, TelegramInboxRow, Ticket,
    ZaloOAToken,
)
from storage.holders import Holder
from storage.staff import create_staff
from tests.outbox_rows import T0, load, queue
from tests.postgres import BACKENDS

ROOT = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HOA_PHU, EA_KAO = "24175", "24169"
STOP = {"vi": "🔕 Ngừng nhận thông báo", "en": "🔕 Stop notices"}


# ---------------------------------------------------------------- helpers


async def add_citizens(sessions: SessionFactory, people: list[tuple[str, str, str | None, bool, bool]]) -> list[int]:
    """Citizens (chat id, commune, locale, subscribed, consented), as onboarding leaves them; their ids."""
    async with sessions() as session:
        rows = [
            Citizen(channel="telegram", channel_user_id=chat, area_code=area, household_status="poor", locale=locale,
                    subscribed=subscribed, consent_at=T0 if consented else None, created_at=T0, last_seen_at=T0)
            for chat, area, locale, subscribed, consented in people
        ]
        session.add_all(rows)
        await session.commit()
    return [row.id for row in rows if row.id is not None]


async def claim(sessions: SessionFactory, now: datetime = T0, limit: int = 20, **options: bool) -> list[int]:
    """Claim and commit, as a sender does; the claimed ids in claim order."""
    async with sessions() as session:
        claimed = await outbox.claim(session, "telegram", now, limit, **options)
        await session.commit()
    return [message.id for message in claimed if message.id is not None]


async def fill_outbox(sessions: SessionFactory, count: int) -> list[int]:
    """`count` due Telegram messages to distinct chats, inserted in one go; their ids."""
    async with sessions() as session:
        rows = [OutboxMessage(channel="telegram", chat_id=str(100_000 + n), payload={"text": f"tin {n}"},
                              next_attempt_at=T0, created_at=T0) for n in range(count)]
        session.add_all(rows)
        await session.commit()
    return [row.id for row in rows if row.id is not None]


# ---------------------------------------------------------------- migrations


@pytest.fixture(params=BACKENDS)
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables, on each backend."""
    if request.param == "postgres":
        return str(request.getfixturevalue("empty_postgres_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"


async def _schema(url: str) -> tuple[set[str], list, str | None]:
    """(tables, differences from the models, revision) of a database."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            def look(sync):  # type: ignore[no-untyped-def]
                context = MigrationContext.configure(sync, opts={"compare_type": True})
                differences = compare_metadata(context, SQLModel.metadata)
                return set(inspect(sync).get_table_names()), differences, context.get_current_revision()
            return await connection.run_sync(look)
    finally:
        await engine.dispose()


def test_migrations_upgrade_to_head_downgrade_to_base_and_up_again(blank_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(blank_url)).get_current_head()
    models = set(SQLModel.metadata.tables)
    upgrade(blank_url)
    tables, differences, revision = asyncio.run(_schema(blank_url))
    assert (tables - {"alembic_version"}, differences, revision) == (models, [], head)

    downgrade(blank_url, "base")
    tables, _, revision = asyncio.run(_schema(blank_url))
    assert (tables, revision) == ({"alembic_version"}, None)

    upgrade(blank_url)
    tables, differences, revision = asyncio.run(_schema(blank_url))
    assert (tables - {"alembic_version"}, differences, revision) == (models, [], head)


def test_every_migration_steps_down_and_up_one_at_a_time(blank_url: str) -> None:
    revisions = [script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()]
    upgrade(blank_url)
    for _ in revisions:
        downgrade(blank_url, "-1")
    for revision in reversed(revisions):
        upgrade(blank_url, revision)
    assert asyncio.run(_schema(blank_url))[1:] == ([], revisions[0])


async def test_faq_totals_made_before_dated_counts_survive_dropping_faq_stat(blank_url: str) -> None:
    """0013 drops faq_stat: what its totals held beyond faq_usage's dated rows moves to an undated row
    of faq_usage; going back rebuilds faq_stat from the sums; going up again adds nothing twice."""
    await asyncio.to_thread(upgrade, blank_url, "0012")
    engine = create_engine(blank_url)
    sessions = session_factory(engine)

    async def read(statement: str) -> list[tuple]:
        async with sessions() as session:
            return [tuple(row) for row in (await session.exec(text(statement))).all()]  # type: ignore[call-overload]

    async def usage() -> list[tuple]:
        async with sessions() as session:
            rows = (await session.exec(select(FaqUsageRow).order_by(col(FaqUsageRow.faq_id), col(FaqUsageRow.hour)))).all()
            return [(row.faq_id, row.hour, row.area_code, row.shown, row.helpful, row.unhelpful) for row in rows]

    undated = datetime(1970, 1, 1, tzinfo=UTC)
    try:
        async with sessions() as session:
            await session.exec(text(  # type: ignore[call-overload]
                "INSERT INTO faq_stat VALUES ('poverty-line', 10, 3, 1), ('loans', 2, 0, 0), ('health', 0, 0, 0)"))
            session.add(FaqUsageRow(hour=T0, area_code=HOA_PHU, faq_id="poverty-line", shown=4, helpful=1))
            await session.commit()
        await engine.dispose()
        await asyncio.to_thread(upgrade, blank_url, "0013")
        after = [("loans", undated, "", 2, 0, 0), ("poverty-line", undated, "", 6, 2, 1), ("poverty-line", T0, HOA_PHU, 4, 1, 0)]
        assert await usage() == after
        await engine.dispose()
        await asyncio.to_thread(downgrade, blank_url, "0012")
        assert await read("SELECT * FROM faq_stat ORDER BY faq_id") == [("loans", 2, 0, 0), ("poverty-line", 10, 3, 1)]
        await engine.dispose()
        await asyncio.to_thread(upgrade, blank_url, "0013")
        assert await usage() == after
    finally:
        await engine.dispose()


async def test_no_index_sequence_or_type_outlives_its_table_on_postgres(empty_postgres_url: str) -> None:
    """PostgreSQL keeps indexes, sequences and types as objects of their own: downgrading drops them all."""
    await asyncio.to_thread(upgrade, empty_postgres_url)
    await asyncio.to_thread(downgrade, empty_postgres_url, "base")
    engine = create_engine(empty_postgres_url)
    async with engine.connect() as connection:
        left = (await connection.execute(text(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relname NOT LIKE 'alembic_version%' ORDER BY relname"
        ))).scalars().all()
        types = (await connection.execute(text(
            "SELECT typname FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typname NOT LIKE '%alembic_version'"
        ))).scalars().all()
    await engine.dispose()
    assert (left, types) == ([], [])


# ---------------------------------------------------------------- the outbox contract


async def test_enqueue_keeps_json_and_aware_times_and_dedupes(db_sessions: SessionFactory) -> None:
    payload = {"text": "Họp thôn lúc 8 giờ", "image": None, "n": 3, "ok": True,
               "buttons": [[{"label": "🔕", "action": "menu:unsubscribe"}]]}
    local = datetime(2026, 3, 2, 8, 0, tzinfo=TZ)  # the same instant as T0, written in local time
    first = await queue(db_sessions, "501", now=local, payload=payload, dedupe_key="reminder:1:2026-03-02")
    again = await queue(db_sessions, "501", payload={"text": "khác"}, dedupe_key="reminder:1:2026-03-02")
    assert first is not None and again is None
    stored = await load(db_sessions, first)
    assert stored.payload == payload
    assert (stored.created_at, stored.next_attempt_at) == (T0, T0)
    assert stored.created_at.utcoffset() == timedelta(0) and stored.sent_at is None
    assert (stored.status, stored.attempts, stored.priority, stored.bulk) == ("pending", 0, outbox.PRIORITY_BULK, False)


async def test_claim_takes_due_rows_of_its_channel_by_priority_then_queue_order(db_sessions: SessionFactory) -> None:
    bulk = [await queue(db_sessions, f"51{n}") for n in range(3)]
    reply = await queue(db_sessions, "520", priority=outbox.PRIORITY_REPLY)
    reminder = await queue(db_sessions, "521", priority=outbox.PRIORITY_REMINDER)
    later = await queue(db_sessions, "522", now=T0 + timedelta(minutes=1), priority=outbox.PRIORITY_REPLY)
    webchat = await queue(db_sessions, "visitor", channel="webchat")

    assert await claim(db_sessions, limit=3) == [reply, reminder, bulk[0]]
    assert await claim(db_sessions) == bulk[1:]
    assert await claim(db_sessions) == []
    assert await claim(db_sessions, T0 + timedelta(minutes=1)) == [later]  # the others' leases still run
    claimed = await load(db_sessions, reply)
    assert (claimed.status, claimed.attempts) == (OutboxStatus.sending, 1)
    assert (await load(db_sessions, webchat)).status == OutboxStatus.pending


async def test_quiet_hours_leave_bulk_rows_waiting(db_sessions: SessionFactory) -> None:
    bulk, reply = await queue(db_sessions, "530"), await queue(db_sessions, "531", priority=outbox.PRIORITY_REPLY)
    async with db_sessions() as session:
        row = await session.get(OutboxMessage, bulk)
        row.bulk = True
        await session.commit()
    assert await claim(db_sessions, include_bulk=False) == [reply]
    assert await claim(db_sessions, include_bulk=True) == [bulk]


async def test_outcomes_are_stored_and_a_retry_waits_its_delay(db_sessions: SessionFactory) -> None:
    sent, retried, failed, waited = [await queue(db_sessions, f"54{n}") for n in range(4)]
    await claim(db_sessions)
    async with db_sessions() as session:
        rows = {row.id: row for row in (await session.exec(select(OutboxMessage))).all()}
        outbox.mark_sent(rows[sent], T0 + timedelta(seconds=1))
        outbox.mark_retry(rows[retried], T0, timedelta(seconds=2), "Timed out")
        outbox.mark_failed(rows[failed], "blocked", "Forbidden: bot was blocked by the user")
        outbox.mark_retry(rows[waited], T0, timedelta(seconds=30), "Flood control", count_attempt=False)
        await session.commit()

    stored = {message_id: await load(db_sessions, message_id) for message_id in (sent, retried, failed, waited)}
    assert (stored[sent].status, stored[sent].sent_at, stored[sent].error) == ("sent", T0 + timedelta(seconds=1), None)
    retry = stored[retried]
    assert (retry.status, retry.attempts, retry.next_attempt_at) == ("pending", 1, T0 + timedelta(seconds=2))
    assert (stored[failed].status, stored[failed].reason) == (OutboxStatus.failed, "blocked")
    assert (stored[waited].attempts, stored[waited].error) == (0, "Flood control")
    assert await claim(db_sessions, T0 + timedelta(seconds=1)) == []
    assert await claim(db_sessions, T0 + timedelta(seconds=2)) == [retried]
    assert await claim(db_sessions, T0 + timedelta(seconds=30)) == [waited]


async def test_rows_left_sending_go_back_to_pending(db_sessions: SessionFactory) -> None:
    first, second, done = [await queue(db_sessions, f"55{n}") for n in range(3)]
    await claim(db_sessions)
    async with db_sessions() as session:
        outbox.mark_sent(await session.get(OutboxMessage, done), T0)
        await session.commit()
    async with db_sessions() as session:
        assert await outbox.release_in_flight(session, T0 + outbox.IN_FLIGHT_LEASE) == 2
        await session.commit()
    assert await claim(db_sessions, T0 + outbox.IN_FLIGHT_LEASE) == [first, second]
    assert (await load(db_sessions, first)).attempts == 2


async def test_a_claim_whose_lease_ended_can_be_claimed_again(db_sessions: SessionFactory) -> None:
    """A process that died mid-send leaves `sending` rows; once their lease ends any sender takes them."""
    message = await queue(db_sessions, "5601")
    assert await claim(db_sessions) == [message]
    assert await claim(db_sessions, T0 + outbox.IN_FLIGHT_LEASE - timedelta(seconds=1)) == []
    assert await claim(db_sessions, T0 + outbox.IN_FLIGHT_LEASE) == [message]
    assert (await load(db_sessions, message)).attempts == 2


async def test_a_pull_channel_lists_one_chats_due_messages(db_sessions: SessionFactory) -> None:
    mine = [await queue(db_sessions, "visitor-a", channel="webchat") for _ in range(2)]
    await queue(db_sessions, "visitor-b", channel="webchat")
    await queue(db_sessions, "visitor-a", channel="webchat", now=T0 + timedelta(hours=1))
    async with db_sessions() as session:
        assert [m.id for m in await outbox.pending_for(session, "webchat", "visitor-a", T0)] == mine


# ---------------------------------------------------------------- broadcasts


async def new_broadcast(sessions: SessionFactory, target: dict, **options: object) -> int:
    """A broadcast in Vietnamese and English, due at T0; its id."""
    async with sessions() as session:
        broadcast = await broadcasts.create_broadcast(
            session, texts={"vi": "Họp thôn lúc 8 giờ sáng Chủ nhật.", "en": "Village meeting on Sunday at 8."},
            target=target, send_at=T0, now=T0, author="test", **options,  # type: ignore[arg-type]
        )
        await session.commit()
    assert broadcast.id is not None
    return broadcast.id


async def queue_broadcast(sessions: SessionFactory, now: datetime = T0) -> dict[int, int]:
    """What the scheduler does: claim the due broadcasts and fan each out; {broadcast id: rows queued}."""
    async with sessions() as session:
        queued = {b.id: await broadcasts.fan_out(session, b, now=now, default_locale="vi", stop_labels=STOP)
                  for b in await broadcasts.claim_due(session, now)}
        await session.commit()
    return queued  # type: ignore[return-value]


async def test_fan_out_queues_one_row_per_recipient_in_their_language(db_sessions: SessionFactory) -> None:
    vi, en, unknown, _, _, elsewhere = await add_citizens(db_sessions, [
        ("801", EA_KAO, "vi", True, True), ("802", EA_KAO, "en", True, True), ("803", EA_KAO, None, True, True),
        ("804", EA_KAO, "vi", False, True), ("805", EA_KAO, "vi", True, False), ("806", HOA_PHU, "vi", True, True),
    ])
    button = {"labels": {"vi": "❓ Chuẩn nghèo", "en": "❓ Poverty line"}, "action": "faq:show:x"}
    broadcast_id = await new_broadcast(db_sessions, {"areas": [EA_KAO]}, buttons=[[button]])
    local_now = (T0 + timedelta(seconds=5)).astimezone(TZ)  # any zone: stored in UTC
    assert await queue_broadcast(db_sessions, local_now) == {broadcast_id: 3}

    async with db_sessions() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        rows = {row.citizen_id: row for row in (await session.exec(select(OutboxMessage))).all()}
    assert broadcast is not None and (broadcast.status, broadcast.recipients) == (BroadcastStatus.queued, 3)
    assert broadcast.queued_at == T0 + timedelta(seconds=5)
    assert set(rows) == {vi, en, unknown} and elsewhere not in rows
    assert rows[vi].payload == broadcasts.payload(broadcast, "vi", STOP["vi"]) == rows[unknown].payload
    assert rows[en].payload == broadcasts.payload(broadcast, "en", STOP["en"])
    assert rows[en].payload["buttons"][0] == [{"label": "❓ Poverty line", "action": "faq:show:x"}]
    for citizen_id, row in rows.items():
        assert row.dedupe_key == f"broadcast:{broadcast_id}:{citizen_id}"
        assert (row.status, row.attempts, row.priority, row.bulk) == (OutboxStatus.pending, 0, outbox.PRIORITY_BULK, True)
        assert (row.next_attempt_at, row.created_at) == (T0 + timedelta(seconds=5), T0 + timedelta(seconds=5))
        assert row.next_attempt_at.utcoffset() == timedelta(0)
        assert (row.channel, row.broadcast_id) == ("telegram", broadcast_id)


async def test_a_broadcast_is_queued_once_per_citizen_whatever_happens(db_sessions: SessionFactory) -> None:
    first, second = await add_citizens(db_sessions, [("811", EA_KAO, "vi", True, True), ("812", HOA_PHU, "en", True, True)])
    broadcast_id = await new_broadcast(db_sessions, {"areas": ["66"]}, urgent=True)
    assert await queue_broadcast(db_sessions) == {broadcast_id: 2}
    assert await queue_broadcast(db_sessions) == {}

    async with db_sessions() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        assert await broadcasts.fan_out(session, broadcast, now=T0, default_locale="vi", stop_labels=STOP) == 0
        await session.commit()
        rows = (await session.exec(select(OutboxMessage))).all()
        assert broadcast.recipients == 2 and len(rows) == 2
        assert {(row.priority, row.bulk) for row in rows} == {(outbox.PRIORITY_REPLY, False)}

    async with db_sessions() as session:  # the unique key holds even against a direct insert
        session.add(OutboxMessage(citizen_id=first, channel="telegram", chat_id="811", payload={}, next_attempt_at=T0,
                                  created_at=T0, dedupe_key=f"broadcast:{broadcast_id}:{first}", broadcast_id=broadcast_id))
        with pytest.raises(IntegrityError):
            await session.flush()
    assert second


async def test_an_occurrence_key_makes_one_broadcast(db_sessions: SessionFactory) -> None:
    await new_broadcast(db_sessions, {}, campaign="peak-month", occurrence_key="peak-month:2026-10-01")
    with pytest.raises(IntegrityError):
        await new_broadcast(db_sessions, {}, campaign="peak-month", occurrence_key="peak-month:2026-10-01")
    await new_broadcast(db_sessions, {}, campaign="peak-month", occurrence_key="peak-month:2027-10-01")
    async with db_sessions() as session:
        keys = (await session.exec(select(Broadcast.occurrence_key).order_by(col(Broadcast.id)))).all()
    assert keys == ["peak-month:2026-10-01", "peak-month:2027-10-01"]


async def test_opt_out_after_queueing_is_skipped_at_claim_and_cancel_stops_the_rest(db_sessions: SessionFactory) -> None:
    stays, leaves, _ = await add_citizens(db_sessions, [(f"82{n}", EA_KAO, "vi", True, True) for n in range(3)])
    broadcast_id = await new_broadcast(db_sessions, {})
    await queue_broadcast(db_sessions)
    async with db_sessions() as session:
        citizen = await session.get(Citizen, leaves)
        citizen.subscribed = False
        await session.commit()
    claimed = await claim(db_sessions, limit=2)
    async with db_sessions() as session:
        assert [(await session.get(OutboxMessage, i)).citizen_id for i in claimed] == [stays]
        broadcast = await session.get(Broadcast, broadcast_id)
        assert await broadcasts.cancel(session, broadcast) == 1
        assert await broadcasts.finish_done(session) == 0
        await session.commit()
        counts = await broadcasts.status_counts(session, broadcast_id)
    assert counts == {"sending": 1, "skipped": 2, "skipped:unsubscribed": 1, "skipped:cancelled": 1}


async def test_a_broadcast_is_done_when_nothing_is_left_to_send(db_sessions: SessionFactory) -> None:
    await add_citizens(db_sessions, [("831", EA_KAO, "vi", True, True)])
    broadcast_id = await new_broadcast(db_sessions, {})
    await queue_broadcast(db_sessions)
    [message_id] = await claim(db_sessions)
    async with db_sessions() as session:
        assert await broadcasts.finish_done(session) == 0
        outbox.mark_sent(await session.get(OutboxMessage, message_id), T0)
        await session.flush()
        assert await broadcasts.finish_done(session) == 1
        await session.commit()
        assert (await session.get(Broadcast, broadcast_id)).status == BroadcastStatus.done


async def test_recipients_are_counted_by_area_status_and_language(db_sessions: SessionFactory) -> None:
    await add_citizens(db_sessions, [("841", EA_KAO, "vi", True, True), ("842", EA_KAO, "en", True, True),
                                     ("843", HOA_PHU, None, True, True), ("844", HOA_PHU, "vi", True, False)])
    async with db_sessions() as session:
        assert await broadcasts.count_recipients(session, {}, "vi") == 3
        assert await broadcasts.count_recipients(session, {"areas": ["66"]}, "vi") == 3
        assert await broadcasts.count_recipients(session, {"areas": [HOA_PHU], "statuses": ["poor"]}, "vi") == 1
        assert await broadcasts.count_recipients(session, {"locales": ["vi"]}, "vi") == 2
        assert await broadcasts.count_recipients(session, {"locales": ["vi"]}, "en") == 1


# ---------------------------------------------------------------- tickets


async def make_ticket(session, citizen_id: int | None = None, **overrides: object) -> Ticket:  # type: ignore[no-untyped-def]
    """A feedback ticket from Hòa Phú."""
    fields: dict = dict(citizen_id=citizen_id, kind="feedback", topic="roads", body="Đường liên thôn bị sạt lở",
                        area_code=HOA_PHU, anonymous=False, reporter_name="Nguyễn Văn A", locale="vi", now=T0,
                        due_at=T0 + timedelta(days=14), latitude=12.71, longitude=108.24)
    fields.update(overrides)
    return await tickets.create_ticket(session, **fields)


async def test_tickets_get_unique_codes_and_round_trip(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session:
        citizen, _ = await repo.get_or_create_citizen(session, "telegram", "901", now=T0)
        made = [await make_ticket(session, citizen.id, attachments=[("photo", f"media/{n}.jpg", "image/jpeg", 10)])
                for n in range(200)]
        await session.commit()
    codes = [ticket.code for ticket in made]
    assert len(set(codes)) == 200 and all(ticket_rules.CODE_PATTERN.match(code) for code in codes)
    async with db_sessions() as session:
        stored = await tickets.get_by_code(session, codes[7].lower().replace("-", " "))
        assert stored is not None and stored.id == made[7].id
        assert (stored.created_at, stored.due_at) == (T0, T0 + timedelta(days=14))
        assert (stored.anonymous, stored.resolved) == (False, None)
        assert (stored.latitude, stored.longitude) == (12.71, 108.24)
        [event] = await tickets.timeline(session, stored.id, public_only=True)
        assert (event.kind, event.public, event.from_citizen, event.new_status) == ("created", True, True, "new")
        assert [a.path for a in await tickets.attachments(session, stored.id)] == ["media/7.jpg"]
        assert len(await tickets.tickets_of_citizen(session, citizen.id, limit=500)) == 200


async def test_a_code_already_taken_is_never_given_again(
    db_sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db_sessions() as session:
        taken = (await make_ticket(session)).code
        await session.commit()
    codes = iter([taken, taken, "PA-7K3M9Q"])
    monkeypatch.setattr(ticket_rules, "new_code", lambda: next(codes))
    async with db_sessions() as session:
        assert (await make_ticket(session)).code == "PA-7K3M9Q"
        await session.commit()
    async with db_sessions() as session:  # and the database itself refuses a duplicate
        session.add(Ticket(code=taken, kind="question", body="x", created_at=T0, due_at=T0, updated_at=T0))
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_ticket_life_cycle_and_scope(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session:
        officer = await create_staff(session, "canbo.hoaphu", StaffRole.commune, HOA_PHU, None, T0)
        other = await create_staff(session, "canbo.eakao", StaffRole.commune, EA_KAO, None, T0)
        ticket = await make_ticket(session)
        late = await make_ticket(session, due_at=T0 - timedelta(hours=1))
        await tickets.assign(session, ticket, officer, officer, T0 + timedelta(minutes=1))
        await tickets.add_note(session, ticket, officer, "Đã gọi điện", T0 + timedelta(minutes=2))
        await tickets.reply(session, ticket, officer, "Xã sẽ sửa trong tuần", T0 + timedelta(minutes=3))
        await tickets.rate(session, ticket, 2, False, T0 + timedelta(minutes=4))
        await session.commit()
    async with db_sessions() as session:
        stored = await tickets.get_for_staff(session, officer, ticket.code)
        assert stored is not None and (stored.status, stored.rating, stored.resolved) == ("in_progress", 2, False)
        assert stored.answered_at == T0 + timedelta(minutes=3)
        public = [(e.kind, e.new_status) for e in await tickets.timeline(session, stored.id, public_only=True)]
        assert public == [("created", "new"), ("status", "assigned"), ("reply", None), ("status", "answered"),
                          ("rating", None), ("status", "in_progress")]
        assert len(await tickets.timeline(session, stored.id, public_only=False)) == len(public) + 2
        assert await tickets.get_for_staff(session, other, ticket.code) is None
        assert [t.code for t in await tickets.list_for_staff(session, officer, now=T0)] == [late.code, ticket.code]
        assert [t.code for t in await tickets.list_for_staff(session, officer, overdue_only=True, now=T0)] == [late.code]


async def test_count_today_starts_at_local_midnight(db_sessions: SessionFactory) -> None:
    midnight = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 00:00 on 1 December in Việt Nam
    async with db_sessions() as session:
        citizen, _ = await repo.get_or_create_citizen(session, "telegram", "902", now=T0)
        await make_ticket(session, citizen.id, now=midnight - timedelta(minutes=30))
        await make_ticket(session, citizen.id, now=midnight + timedelta(minutes=30))
        await session.commit()
        assert await tickets.count_today(session, citizen.id, midnight - timedelta(minutes=1), TZ) == 1
        assert await tickets.count_today(session, citizen.id, midnight + timedelta(hours=1), TZ) == 1
        assert await tickets.count_today(session, citizen.id, midnight + timedelta(hours=1), ZoneInfo("UTC")) == 2


async def test_forgetting_a_citizen_keeps_their_tickets_without_them(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session:
        citizen, _ = await repo.get_or_create_citizen(session, "telegram", "903", now=T0)
        await repo.save_conversation(session, citizen.id, "feedback.body", {"kind": "feedback", "photos": []}, now=T0,
                                     ttl=timedelta(hours=72))
        ticket = await make_ticket(session, citizen.id)
        await session.commit()
    async with db_sessions() as session:
        assert await tickets.forget_citizen(session, citizen.id) == 1
        await repo.delete_citizen(session, citizen.id)
        await session.commit()
    async with db_sessions() as session:
        stored = await session.get(Ticket, ticket.id)
        assert stored is not None and (stored.citizen_id, stored.reporter_name) == (None, None)
        assert await repo.load_conversation(session, citizen.id, now=T0) is None


# ---------------------------------------------------------------- several claimers (PostgreSQL)


async def test_parallel_enqueues_of_one_key_queue_one_message_and_fail_nobody(db_sessions: SessionFactory) -> None:
    ids = await asyncio.gather(*(queue(db_sessions, "555", dedupe_key="reminder:7:2026-03-02") for _ in range(6)))
    assert len([found for found in ids if found is not None]) == 1
    async with db_sessions() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    assert [(row.chat_id, row.dedupe_key, row.status) for row in rows] == [("555", "reminder:7:2026-03-02", "pending")]


async def test_faq_counts_add_up_per_hour_and_commune_even_from_parallel_sessions(db_sessions: SessionFactory) -> None:
    async def count(field: content.FaqCounter, now: datetime, area: str | None) -> None:
        async with db_sessions() as session:
            await content.count_faq(session, "poverty-line", field, now=now, area_code=area)
            await session.commit()

    await asyncio.gather(*(count("shown", T0 + timedelta(minutes=minute), HOA_PHU) for minute in range(6)))
    await count("helpful", T0 + timedelta(minutes=59), HOA_PHU)
    await count("shown", T0 + timedelta(hours=1), HOA_PHU)
    await count("unhelpful", T0, None)
    async with db_sessions() as session:
        rows = (await session.exec(select(FaqUsageRow).order_by(col(FaqUsageRow.hour), col(FaqUsageRow.area_code)))).all()
    assert [(row.hour, row.area_code, row.shown, row.helpful, row.unhelpful) for row in rows] == [
        (T0, "", 0, 0, 1), (T0, HOA_PHU, 6, 1, 0), (T0 + timedelta(hours=1), HOA_PHU, 1, 0, 0),
    ]


async def test_a_pooled_connection_the_server_closed_is_replaced_before_use(postgres_url: str) -> None:
    """No pre-ping round trips: a connection the server ended while it sat in the pool is noticed
    from the driver's state at checkout and replaced, so the next turn does not fail."""
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        admin = create_engine(postgres_url)
        async with admin.connect() as other:
            assert (await other.execute(text(f"SELECT pg_terminate_backend({int(pid)})"))).scalar_one()
        await admin.dispose()
        await asyncio.sleep(0.2)  # the server's goodbye reaches the pooled connection
        async with session_factory(engine)() as session:
            again = (await session.exec(text("SELECT pg_backend_pid()"))).one()[0]  # type: ignore[call-overload]
        assert again != pid
        assert engine.pool.size() == 10 and engine.pool.overflow() <= 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_concurrent_claimers_take_every_row_exactly_once(postgres_url: str) -> None:
    """Two engines, four claim loops each, 2,000 rows: each row is claimed by one loop, once."""
    engines = [create_engine(postgres_url), create_engine(postgres_url)]
    factories = [session_factory(engine) for engine in engines]
    ids = await fill_outbox(factories[0], 2000)
    claimed: list[list[int]] = [[] for _ in engines]

    async def loop(which: int) -> None:
        sessions = factories[which]
        while True:
            async with sessions() as session:
                batch = await outbox.claim(session, "telegram", T0, 25)
                await asyncio.sleep(0.005)  # hold the row locks a moment, as a real sender would
                await session.commit()
            if not batch:
                async with sessions() as session:
                    left = (await session.exec(select(func.count()).select_from(OutboxMessage)
                                               .where(OutboxMessage.status == OutboxStatus.pending))).one()
                if not left:
                    return
                await asyncio.sleep(0.005)
                continue
            claimed[which].extend(message.id for message in batch if message.id is not None)
            async with sessions() as session:
                for message in batch:
                    outbox.mark_sent(await session.get(OutboxMessage, message.id), T0)
                await session.commit()

    try:
        await asyncio.gather(*(loop(which) for which in (0, 1) for _ in range(4)))
        async with factories[0]() as session:
            rows = (await session.exec(select(OutboxMessage))).all()
    finally:
        for engine in engines:
            await engine.dispose()
    everything = claimed[0] + claimed[1]
    assert len(everything) == len(set(everything)) == 2000 and set(everything) == set(ids)
    assert claimed[0] and claimed[1]
    assert {(row.status, row.attempts) for row in rows} == {(OutboxStatus.sent, 1)}


async def test_one_due_broadcast_is_claimed_by_one_of_two_schedulers(postgres_url: str) -> None:
    engines = [create_engine(postgres_url), create_engine(postgres_url)]
    factories = [session_factory(engine) for engine in engines]
    await add_citizens(factories[0], [(str(850 + n), EA_KAO, "vi", True, True) for n in range(50)])
    broadcast_id = await new_broadcast(factories[0], {})
    try:
        results = await asyncio.gather(*(queue_broadcast(sessions) for sessions in factories))
        async with factories[0]() as session:
            rows = (await session.exec(select(OutboxMessage))).all()
    finally:
        for engine in engines:
            await engine.dispose()
    assert sorted(results, key=len) == [{}, {broadcast_id: 50}]
    assert len(rows) == 50


async def test_a_sender_starting_up_leaves_the_messages_another_process_has_in_flight(postgres_url: str) -> None:
    from bot.sender import Sender

    engine = create_engine(postgres_url)
    sessions = session_factory(engine)
    [message_id] = await fill_outbox(sessions, 1)
    assert await claim(sessions) == [message_id]  # another process is sending it right now
    delivered: list[str] = []

    async def deliver(chat_id: str, replies: list) -> None:
        delivered.append(chat_id)

    task = asyncio.create_task(Sender(sessions, "telegram", deliver, lambda: T0, idle=0.05).run())
    await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await engine.dispose()
    assert delivered == []


SENDER_PROCESS = """
import asyncio, sys
from pathlib import Path

from bot.sender import Sender
from handlers.engine import utc_now
from storage.db import create_engine, session_factory


async def main(url: str, out: str, ready: str, go: str) -> None:
    engine = create_engine(url)
    delivered = open(out, "w", buffering=1)

    async def deliver(chat_id, replies):
        delivered.write(chat_id + "\\n")

    sender = Sender(session_factory(engine), "telegram", deliver, utc_now, rate=100_000, per_chat=1_000)
    Path(ready).touch()
    while not Path(go).exists():
        await asyncio.sleep(0.01)
    idle = 0
    while idle < 5:  # the other process may still hold the last rows: look a few times
        idle = 0 if await sender.drain_once(limit=20) else idle + 1
        if idle:
            await asyncio.sleep(0.1)
    await engine.dispose()


asyncio.run(main(*sys.argv[1:]))
"""


def test_two_sender_processes_deliver_every_message_exactly_once(postgres_url: str, tmp_path: Path) -> None:
    """Two OS processes run the real Sender's claim loop on one outbox of 2,000 messages."""
    engine = create_engine(postgres_url)
    chat_ids = [f"{100_000 + n}" for n in range(2000)]

    async def fill() -> None:
        await fill_outbox(session_factory(engine), 2000)
        await engine.dispose()

    asyncio.run(fill())
    go = tmp_path / "go"
    workers = []
    for n in range(2):
        args = [postgres_url, str(tmp_path / f"delivered{n}"), str(tmp_path / f"ready{n}"), str(go)]
        workers.append(subprocess.Popen([sys.executable, "-c", SENDER_PROCESS, *args], cwd=ROOT,
                                        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}))
    try:
        deadline = asyncio.run(_wait_for_files([tmp_path / f"ready{n}" for n in range(2)], 60))
        assert deadline, "the sender processes did not start"
        go.touch()
        for worker in workers:
            assert worker.wait(timeout=120) == 0
    finally:
        for worker in workers:
            worker.kill()
    delivered = [(tmp_path / f"delivered{n}").read_text().split() for n in range(2)]
    assert delivered[0] and delivered[1], "both processes should have sent part of the outbox"
    assert sorted(delivered[0] + delivered[1]) == chat_ids

    async def statuses() -> set[tuple[str, int]]:
        engine = create_engine(postgres_url)
        async with session_factory(engine)() as session:
            rows = (await session.exec(select(OutboxMessage.status, OutboxMessage.attempts))).all()
        await engine.dispose()
        return set(rows)

    assert asyncio.run(statuses()) == {(OutboxStatus.sent, 1)}


async def _wait_for_files(paths: list[Path], timeout: float) -> bool:
    """True once every file exists, False after `timeout` seconds."""
    for _ in range(int(timeout * 20)):
        if all(path.exists() for path in paths):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_dead_processs_leases_are_taken_over_at_once_and_a_running_ones_are_left(postgres_url: str) -> None:
    """Two processes' lease holders (storage.holders): while A runs, its inbox row, its message in
    flight and its token refresh lease stand; once A's lock is gone with its connection, B takes all
    three over at once, minutes before the leases would have run out."""
    engine = create_engine(postgres_url)
    a, b = Holder(engine), Holder(engine)  # each locks on a connection of its own, as two processes do
    await a.start()
    await b.start()
    as_a, as_b = session_factory(engine, a.info), session_factory(engine, b.info)
    try:
        assert a.number and b.number and a.number != b.number
        message = await queue(as_a, "5701")
        async with as_a() as session:
            assert [m.id for m in await outbox.claim(session, "telegram", T0)] == [message]
            assert await telegram_inbox.take(session, [(9001, {"update_id": 9001})], T0) == [9001]
            assert await zalo_oa.seed_pair(session, "app", "access", "refresh", T0, clear_lease=False) == "stored"
            await session.commit()
        async with as_a() as session:
            assert await zalo_oa.take_lease(session, "app", "refresh", T0, T0 + timedelta(minutes=1))
            await session.commit()

        async def b_starts() -> tuple[int, list[int], datetime | None]:
            """What B does at its start: outbox, inbox and token leases a dead process left."""
            async with as_b() as session:
                released = await outbox.release_in_flight(session, T0)
                rows = await telegram_inbox.unfinished(session, T0, starting=True)
                await zalo_oa.seed_pair(session, "app", "access", "refresh", T0, clear_lease=False)
                token = await session.get(ZaloOAToken, "app")
                await session.commit()
            assert token is not None
            return released, [row.update_id for row in rows], token.lease_until

        assert await b_starts() == (0, [], T0 + timedelta(minutes=1))  # A is running: its leases stand
        assert (await load(as_b, message)).holder == a.number
        await a.stop()  # A's process ends, and its lock with it
        assert await b_starts() == (1, [9001], None)
        async with as_b() as session:
            [row] = (await session.exec(select(TelegramInboxRow))).all()
        assert (row.holder, row.lease_until) == (b.number, T0 + telegram_inbox.LEASE)
        assert await claim(as_b) == [message]  # B's sender sends it
        assert (await load(as_b, message)).holder == b.number
    finally:
        await a.stop()
        await b.stop()
        await engine.dispose()


async def test_a_holder_locks_again_after_the_database_dropped_its_connection(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without its lock (the server ended the connection) the process writes no number on new
    leases, which then simply run out, and it locks the same number again once it can."""
    monkeypatch.setattr(holders, "CHECK_SECONDS", 0.1)
    engine = create_engine(postgres_url)
    holder = Holder(engine)
    await holder.start()
    try:
        number = holder.number
        async with session_factory(engine)() as session:
            assert number in await holders.running(session)
            await session.exec(text(  # type: ignore[call-overload]
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
                f" AND ((classid::bigint << 32) | objid::bigint) = {int(number)}"))  # type: ignore[arg-type]
        for _ in range(200):
            async with session_factory(engine, holder.info)() as session:
                if number in await holders.running(session) and holders.mine(session) == number:
                    break
                assert holders.mine(session) in (None, number)
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the holder did not lock its number again")
        assert holder.number == number
    finally:
        await holder.stop()
        await engine.dispose()

"""Ticket repository on a real migrated SQLite file: codes, timeline, life-cycle, scoping, privacy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import outbox, repo, ticket_rules, tickets
from storage.db import SessionFactory
from storage.models import EventKind, OutboxMessage, Staff, StaffRole, Ticket, TicketKind, TicketStatus, ZaloInboxRow
from storage.staff import create_staff
from storage.ticket_rules import InvalidTransition

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # Monday 10:00 in Vietnam
HOA_PHU, TAN_AN = "24175", "24163"


async def make_ticket(session: AsyncSession, citizen_id: int | None = None, **overrides: object) -> Ticket:
    """A feedback ticket from Hòa Phú with sensible defaults."""
    fields: dict = dict(
        citizen_id=citizen_id, kind=TicketKind.feedback, topic="roads", body="Đường liên thôn bị sạt lở",
        area_code=HOA_PHU, anonymous=False, reporter_name="Nguyễn Văn A", locale="vi", now=NOW,
        due_at=ticket_rules.add_working_days(NOW, 10, tz=TZ, holidays=frozenset()),
    )
    fields.update(overrides)
    return await tickets.create_ticket(session, **fields)


async def make_citizen(session: AsyncSession, user: str = "1") -> int:
    """A citizen id."""
    citizen, _ = await repo.get_or_create_citizen(session, "test", user, now=NOW)
    assert citizen.id is not None
    return citizen.id


async def make_staff(session: AsyncSession, username: str, role: StaffRole, area: str | None = None) -> Staff:
    """A staff account without a password."""
    return await create_staff(session, username, role, area, None, NOW)


async def test_create_writes_code_event_and_attachments(sessions: SessionFactory) -> None:
    async with sessions() as session:
        citizen_id = await make_citizen(session)
        ticket = await make_ticket(session, citizen_id, attachments=[("photo", "media/a.jpg", "image/jpeg", 1234)])
        await session.commit()
    async with sessions() as session:
        stored = await tickets.get_by_code(session, ticket.code.lower().replace("-", " "))
        assert stored is not None and stored.status == TicketStatus.new and stored.created_at == NOW
        assert ticket_rules.CODE_PATTERN.match(stored.code)
        events = await tickets.timeline(session, stored.id, public_only=True)
        files = await tickets.attachments(session, stored.id)
    assert [event.kind for event in events] == [EventKind.created]
    assert [(f.kind, f.path, f.size, f.event_id) for f in files] == [("photo", "media/a.jpg", 1234, events[0].id)]


async def test_codes_stay_unique_when_the_generator_repeats_itself(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with sessions() as session:
        first = await make_ticket(session)
        await session.commit()
    replies = iter([first.code, first.code, "PA-22222A"])
    monkeypatch.setattr(ticket_rules, "new_code", lambda: next(replies))
    async with sessions() as session:
        second = await make_ticket(session)
        await session.commit()
    assert second.code == "PA-22222A"


async def test_public_timeline_hides_notes_and_assignments(sessions: SessionFactory) -> None:
    async with sessions() as session:
        officer = await make_staff(session, "officer", StaffRole.commune, HOA_PHU)
        admin = await make_staff(session, "admin", StaffRole.admin)
        ticket = await make_ticket(session)
        await tickets.assign(session, ticket, admin, officer, NOW)
        await tickets.add_note(session, ticket, officer, "gọi cho thôn trưởng", NOW)
        await tickets.reply(session, ticket, officer, "Đã báo đội sửa đường", NOW + timedelta(hours=1))
        public = await tickets.timeline(session, ticket.id, public_only=True)
        everything = await tickets.timeline(session, ticket.id, public_only=False)
    assert [e.kind for e in public] == ["created", "status", "reply", "status"]
    assert [e.kind for e in everything] == ["created", "assignment", "status", "note", "reply", "status"]
    assert ticket.status == TicketStatus.answered and ticket.answered_at == NOW + timedelta(hours=1)
    assert ticket.assignee_id == officer.id
    assert [(e.old_status, e.new_status) for e in public if e.kind == "status"] == [("new", "assigned"), ("assigned", "answered")]


async def test_not_resolved_rating_and_new_message_reopen_an_answered_ticket(sessions: SessionFactory) -> None:
    async with sessions() as session:
        officer = await make_staff(session, "officer", StaffRole.commune, HOA_PHU)
        ticket = await make_ticket(session)
        with pytest.raises(InvalidTransition):
            await tickets.rate(session, ticket, 4, True, NOW)
        await tickets.reply(session, ticket, officer, "Đã xử lý", NOW)
        await tickets.rate(session, ticket, 2, False, NOW)
        assert (ticket.status, ticket.rating, ticket.resolved) == (TicketStatus.in_progress, 2, False)
        await tickets.reply(session, ticket, officer, "Đã xử lý lại", NOW)
        await tickets.add_citizen_message(session, ticket, "Vẫn chưa sửa", [("photo", "media/b.jpg", "image/jpeg", 9)], NOW)
        assert ticket.status == TicketStatus.in_progress
        await tickets.reply(session, ticket, officer, "Xong", NOW)
        await tickets.rate(session, ticket, 5, True, NOW)
        assert ticket.status == TicketStatus.answered
        await tickets.change_status(session, ticket, officer, TicketStatus.closed, NOW)
        assert ticket.closed_at == NOW
        with pytest.raises(InvalidTransition):
            await tickets.add_citizen_message(session, ticket, "thêm", [], NOW)
        with pytest.raises(ValueError):
            await tickets.rate(session, ticket, 6, True, NOW)
        assert len(await tickets.attachments(session, ticket.id)) == 1


async def test_reject_needs_a_reason_and_is_final(sessions: SessionFactory) -> None:
    async with sessions() as session:
        officer = await make_staff(session, "officer", StaffRole.commune, HOA_PHU)
        ticket = await make_ticket(session)
        with pytest.raises(ValueError, match="reason"):
            await tickets.change_status(session, ticket, officer, TicketStatus.rejected, NOW, reason="  ")
        assert ticket.status == TicketStatus.new
        event = await tickets.change_status(session, ticket, officer, "rejected", NOW, reason="Không thuộc thẩm quyền xã")
        assert event.public and event.text == ticket.reject_reason == "Không thuộc thẩm quyền xã"
        with pytest.raises(InvalidTransition):
            await tickets.change_status(session, ticket, officer, TicketStatus.in_progress, NOW)
        with pytest.raises(InvalidTransition):
            await tickets.assign(session, ticket, officer, officer, NOW)


async def test_commune_staff_see_only_their_commune(sessions: SessionFactory) -> None:
    async with sessions() as session:
        here = await make_staff(session, "here", StaffRole.commune, HOA_PHU)
        there = await make_staff(session, "there", StaffRole.commune, TAN_AN)
        province = await make_staff(session, "province", StaffRole.province)
        admin = await make_staff(session, "admin", StaffRole.admin)
        gone = await make_staff(session, "gone", StaffRole.admin)
        gone.active = False
        ticket = await make_ticket(session)
        unplaced = await make_ticket(session, area_code=None)
        late = await make_ticket(session, due_at=NOW - timedelta(hours=1))
        await session.commit()
    async with sessions() as session:
        assert {t.code for t in await tickets.list_for_staff(session, here, now=NOW)} == {ticket.code, late.code}
        assert await tickets.list_for_staff(session, there, now=NOW) == []
        assert await tickets.get_for_staff(session, there, ticket.code) is None
        assert (await tickets.get_for_staff(session, here, ticket.code)) is not None
        assert len(await tickets.list_for_staff(session, province, now=NOW)) == 3
        assert {t.code for t in await tickets.list_for_staff(session, admin, now=NOW)} == {ticket.code, unplaced.code, late.code}
        assert await tickets.list_for_staff(session, gone, now=NOW) == []
        assert await tickets.get_for_staff(session, gone, ticket.code) is None
        assert [t.code for t in await tickets.list_for_staff(session, admin, overdue_only=True, now=NOW)] == [late.code]
        assert await tickets.list_for_staff(session, admin, statuses=[TicketStatus.answered], now=NOW) == []
        with pytest.raises(ValueError, match="cannot see"):
            await tickets.assign(session, ticket, admin, there, NOW)


async def test_anonymous_sender_is_shown_to_admins_only(sessions: SessionFactory) -> None:
    async with sessions() as session:
        commune = await make_staff(session, "commune", StaffRole.commune, HOA_PHU)
        province = await make_staff(session, "province", StaffRole.province)
        admin = await make_staff(session, "admin", StaffRole.admin)
        hidden = await make_ticket(session, anonymous=True, reporter_name="Trần Thị B")
        open_ = await make_ticket(session)
    assert tickets.reporter_for(hidden, commune) == tickets.reporter_for(hidden, province) == "Ẩn danh"
    assert tickets.reporter_for(hidden, admin) == "Trần Thị B"
    assert tickets.reporter_for(open_, commune) == "Nguyễn Văn A"


async def test_forget_citizen_keeps_the_tickets_without_the_person(sessions: SessionFactory) -> None:
    async with sessions() as session:
        citizen_id = await make_citizen(session)
        other_id = await make_citizen(session, "2")
        mine = await make_ticket(session, citizen_id)
        theirs = await make_ticket(session, other_id)
        await session.commit()
    async with sessions() as session:
        assert await tickets.forget_citizen(session, citizen_id) == 1
        await repo.delete_citizen(session, citizen_id)
        await session.commit()
    async with sessions() as session:
        rows = {t.code: t for t in (await session.exec(select(Ticket))).all()}
        assert await tickets.tickets_of_citizen(session, citizen_id) == []
    assert (rows[mine.code].citizen_id, rows[mine.code].reporter_name, rows[mine.code].body) == (None, None, mine.body)
    assert (rows[theirs.code].citizen_id, rows[theirs.code].reporter_name) == (other_id, "Nguyễn Văn A")


async def test_deleting_a_citizen_leaves_their_chat_id_nowhere(sessions: SessionFactory) -> None:
    """/xoadulieu: outbox rows of the chat, also those queued without a citizen (unsent replies), and
    Zalo inbox rows of the chat lose the chat id; other chats keep theirs."""
    async with sessions() as session:
        citizen_id = await make_citizen(session, "chat-42")
        await outbox.enqueue(session, channel="test", chat_id="chat-42", payload={"text": "notice"}, now=NOW, citizen_id=citizen_id)
        await outbox.enqueue(session, channel="test", chat_id="chat-42", payload={"text": "unsent reply"}, now=NOW)
        await outbox.enqueue(session, channel="test", chat_id="chat-7", payload={"text": "someone else"}, now=NOW)
        for key, chat_id, done in (("done", "chat-42", NOW), ("pending", "chat-42", None), ("other", "chat-7", NOW)):
            session.add(ZaloInboxRow(key=key, channel="test", chat_id=chat_id, payload={"text": "x"}, received_at=NOW, done_at=done))
        await session.commit()
    async with sessions() as session:
        await tickets.forget_citizen(session, citizen_id)
        await repo.delete_citizen(session, citizen_id)
        await session.commit()
    async with sessions() as session:
        queued = [(m.chat_id, m.payload["text"]) for m in (await session.exec(select(OutboxMessage))).all()]
        inbox = {row.key: (row.chat_id, row.payload) for row in (await session.exec(select(ZaloInboxRow))).all()}
    assert queued == [("chat-7", "someone else")]
    assert inbox == {"pending": ("", {"text": "x"}), "other": ("chat-7", {"text": "x"})}


async def test_count_today_starts_at_local_midnight(sessions: SessionFactory) -> None:
    midnight_utc = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 00:00 on 1 December in Vietnam
    async with sessions() as session:
        citizen_id = await make_citizen(session)
        await make_ticket(session, citizen_id, now=midnight_utc - timedelta(minutes=30))
        await make_ticket(session, citizen_id, now=midnight_utc + timedelta(minutes=30))
        await make_ticket(session, await make_citizen(session, "2"), now=midnight_utc + timedelta(minutes=40))
        assert await tickets.count_today(session, citizen_id, midnight_utc - timedelta(minutes=1), TZ) == 1
        assert await tickets.count_today(session, citizen_id, midnight_utc + timedelta(hours=1), TZ) == 1
        assert await tickets.count_today(session, citizen_id, midnight_utc + timedelta(hours=1), ZoneInfo("UTC")) == 2


async def test_citizen_tickets_newest_first(sessions: SessionFactory) -> None:
    async with sessions() as session:
        citizen_id = await make_citizen(session)
        made = [await make_ticket(session, citizen_id, now=NOW + timedelta(minutes=m)) for m in range(3)]
        listed = await tickets.tickets_of_citizen(session, citizen_id, limit=2)
    assert [t.code for t in listed] == [made[2].code, made[1].code]


async def test_ticket_work_is_not_committed_by_the_repository(sessions: SessionFactory) -> None:
    async with sessions() as session:
        await make_ticket(session)
        await session.rollback()
    async with sessions() as session:
        assert (await session.exec(select(Ticket))).all() == []

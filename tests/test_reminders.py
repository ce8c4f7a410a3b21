"""Daily reminders for linked officers: counts scoped to their area, at most one a local day, and the
scheduler job that queues them every morning at 07:30 in Vietnam."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from pytest_aiohttp import AiohttpClient
from sqlmodel import col, select

from bot import keys
from bot.app import create_app
from bot.config import Settings
from handlers.engine import utc_now
from handlers.officer import daily_reminders
from handlers.turn import Services
from storage import outbox
from storage import staff as staff_repo
from storage import tickets as ticket_repo
from storage.db import SessionFactory
from storage.models import OutboxMessage, Staff, TicketStatus
from tests.conftest import telegram_settings
from tests.fakes.telegram import FakeTelegram

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
EA_KAO, HOA_PHU, TAN_AN = "24169", "24175", "24163"
MORNING = datetime(2026, 3, 2, 7, 30, tzinfo=VIETNAM).astimezone(UTC)  # a Monday, 00:30 UTC


async def officer(
    sessions: SessionFactory, username: str, role: str, area: str | None, chat_user_id: str | None, now: datetime = MORNING,
) -> Staff:
    """A staff account, linked to a Telegram chat with a one-time code unless `chat_user_id` is None."""
    async with sessions() as session:
        staff = await staff_repo.create_staff(session, username, role, area, None, now)
        code = await staff_repo.new_link_code(session, staff, now)
        if chat_user_id is not None:
            assert await staff_repo.redeem_link_code(session, code, "telegram", chat_user_id, now) is staff
        await session.commit()
    return staff


async def ticket(
    sessions: SessionFactory, area: str | None, *, overdue: bool = False, status: TicketStatus = TicketStatus.new,
    now: datetime = MORNING,
) -> None:
    """A ticket sent two weeks ago, due yesterday (overdue) or next week, moved on to `status`."""
    created = now - timedelta(days=14)
    async with sessions() as session:
        stored = await ticket_repo.create_ticket(
            session, citizen_id=None, kind="feedback", topic="other", body="Đường vào thôn bị ngập.",
            area_code=area, anonymous=True, reporter_name=None, locale="vi", now=created,
            due_at=now - timedelta(days=1) if overdue else now + timedelta(days=7),
        )
        path = {
            TicketStatus.new: [],
            TicketStatus.in_progress: [TicketStatus.in_progress],
            TicketStatus.answered: [TicketStatus.answered],
            TicketStatus.closed: [TicketStatus.answered, TicketStatus.closed],
        }[status]
        for step in path:
            await ticket_repo.change_status(session, stored, None, step, created + timedelta(days=1))
        await session.commit()


async def remind(sessions: SessionFactory, services: Services, now: datetime) -> int:
    """Run the daily reminders in one transaction, as the scheduler job does."""
    async with sessions() as session:
        count = await daily_reminders(session, services, now)
        await session.commit()
    return count


async def reminders(sessions: SessionFactory) -> dict[str, list[OutboxMessage]]:
    """Queued reminder rows by Telegram chat id."""
    async with sessions() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    found: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        found.setdefault(row.chat_id, []).append(row)
    return found


async def test_each_officer_gets_one_reminder_with_the_counts_of_their_area(sessions, services) -> None:  # type: ignore[no-untyped-def]
    """Counts are scoped to the officer; nothing to report means no message; unlinked staff get none."""
    eakao = await officer(sessions, "canbo.eakao", "commune", EA_KAO, "7001")
    await officer(sessions, "canbo.hoaphu", "commune", HOA_PHU, "7002")
    await officer(sessions, "canbo.tanan", "commune", TAN_AN, "7003")
    await officer(sessions, "canbo.chualienket", "commune", EA_KAO, None)
    await officer(sessions, "tinh.daklak", "province", None, "7004")
    for _ in range(2):
        await ticket(sessions, EA_KAO)
    await ticket(sessions, EA_KAO, overdue=True)
    await ticket(sessions, EA_KAO, overdue=True, status=TicketStatus.in_progress)
    await ticket(sessions, EA_KAO, overdue=True, status=TicketStatus.answered)
    await ticket(sessions, EA_KAO, overdue=True, status=TicketStatus.closed)
    await ticket(sessions, HOA_PHU)
    await ticket(sessions, TAN_AN, overdue=True, status=TicketStatus.answered)

    assert await remind(sessions, services, MORNING) == 3
    queued = await reminders(sessions)
    assert sorted(queued) == ["7001", "7002", "7004"]
    texts = {chat: [row.payload["text"] for row in rows] for chat, rows in queued.items()}
    assert texts["7001"] == ["Chào buổi sáng! Phản ánh trong địa bàn: 3 mới, 2 quá hạn. Gửi /canbo để xử lý."]
    assert texts["7002"] == ["Chào buổi sáng! Phản ánh trong địa bàn: 1 mới, 0 quá hạn. Gửi /canbo để xử lý."]
    assert texts["7004"] == ["Chào buổi sáng! Phản ánh trong địa bàn: 4 mới, 2 quá hạn. Gửi /canbo để xử lý."]
    [row] = queued["7001"]
    assert (row.channel, row.priority, row.status, row.citizen_id) == ("telegram", outbox.PRIORITY_REMINDER, "pending", None)
    assert row.payload["buttons"] == [[{"label": "📥 Phản ánh", "action": "of:home"}]]
    assert row.dedupe_key == f"reminder:{eakao.id}:2026-03-02" and row.next_attempt_at == MORNING


async def test_reminders_go_at_most_once_per_local_day(sessions, services) -> None:  # type: ignore[no-untyped-def]
    """A second run the same Vietnamese day queues nothing; just after local midnight it queues again."""
    await officer(sessions, "canbo.eakao", "commune", EA_KAO, "7001")
    await ticket(sessions, EA_KAO)
    late_evening = datetime(2026, 3, 2, 23, 30, tzinfo=VIETNAM)  # 16:30 UTC, the same local day
    next_day = datetime(2026, 3, 3, 0, 30, tzinfo=VIETNAM)  # 17:30 UTC: still 2 March in UTC

    assert await remind(sessions, services, MORNING) == 1
    assert await remind(sessions, services, MORNING) == 0
    assert await remind(sessions, services, late_evening.astimezone(UTC)) == 0
    assert await remind(sessions, services, next_day.astimezone(UTC)) == 1
    assert await remind(sessions, services, (next_day + timedelta(hours=7)).astimezone(UTC)) == 0
    [first, second] = (await reminders(sessions))["7001"]
    assert first.dedupe_key is not None and first.dedupe_key.endswith(":2026-03-02")
    assert second.dedupe_key is not None and second.dedupe_key.endswith(":2026-03-03")


async def test_the_job_is_scheduled_daily_at_half_past_seven_in_vietnam(settings: Settings, aiohttp_client: AiohttpClient) -> None:
    """The app's scheduler holds "officer-reminders" on a 07:30 Asia/Ho_Chi_Minh cron trigger."""
    client = await aiohttp_client(create_app(settings))
    job = client.server.app[keys.SCHEDULER].get_job("officer-reminders")
    assert job is not None
    trigger = job.trigger
    assert isinstance(trigger, CronTrigger) and str(trigger.timezone) == "Asia/Ho_Chi_Minh"
    fields = {field.name: str(field) for field in trigger.fields}
    assert (fields["hour"], fields["minute"], fields["second"], fields["day"], fields["day_of_week"]) == ("7", "30", "0", "*", "*")
    local = job.next_run_time.astimezone(VIETNAM)
    assert (local.hour, local.minute, local.second) == (7, 30, 0)
    assert utc_now() < job.next_run_time <= utc_now() + timedelta(days=1)
    following = trigger.get_next_fire_time(job.next_run_time, job.next_run_time + timedelta(seconds=1))
    assert following - job.next_run_time == timedelta(days=1)


async def test_the_scheduled_job_reaches_the_officer_on_telegram(settings, tg: FakeTelegram, sessions, aiohttp_client: AiohttpClient) -> None:  # type: ignore[no-untyped-def]
    """Running the job now queues the reminder, and the outbox sender delivers it to the officer."""
    client = await aiohttp_client(create_app(telegram_settings(settings, tg)))
    await officer(sessions, "canbo.hoaphu", "commune", HOA_PHU, "7002", now=utc_now())
    await ticket(sessions, HOA_PHU, overdue=True, now=utc_now())
    job = client.server.app[keys.SCHEDULER].get_job("officer-reminders")
    assert job is not None
    job.modify(next_run_time=datetime.now(VIETNAM))
    sent = await tg.wait_for(lambda s: s.method == "sendMessage" and str(s.chat_id) == "7002", timeout=5)
    assert sent.text == "Chào buổi sáng! Phản ánh trong địa bàn: 1 mới, 1 quá hạn. Gửi /canbo để xử lý."
    assert tg.buttons(sent) == [("📥 Phản ánh", "of:home")]

"""Notices: exact targeting, languages, opt-out, quiet hours, scheduling once, cancel, the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import create_app
from handlers.engine import utc_now
from handlers.notices import queue_due
from storage import broadcasts
from storage.models import Broadcast, Citizen, OutboxMessage
from tests.conftest import telegram_settings

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = [
    # chat id, commune, household, locale, subscribed, consented
    (801, "24169", "poor", "vi", True, True),
    (802, "24169", "poor", "en", True, True),
    (803, "24169", "near_poor", "vi", True, True),
    (804, "24175", "poor", None, True, True),
    (805, "24169", "poor", "vi", False, True),
    (806, "24169", "poor", "vi", True, False),
]


async def add_people(sessions, people=PEOPLE) -> None:  # type: ignore[no-untyped-def]
    """Citizens as onboarding would leave them."""
    now = utc_now()
    async with sessions() as session:
        for chat, area, status, locale, subscribed, consented in people:
            session.add(Citizen(
                channel="telegram", channel_user_id=str(chat), area_code=area, household_status=status, locale=locale,
                subscribed=subscribed, consent_at=now if consented else None, created_at=now, last_seen_at=now,
            ))
        await session.commit()


async def settled(sessions, broadcast_id: int, timeout: float = 10.0) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The broadcast's counts once nothing is pending or in flight."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with sessions() as session:
            counts = await broadcasts.status_counts(session, broadcast_id)
        if not counts.get("pending") and not counts.get("sending") or asyncio.get_running_loop().time() > deadline:
            return counts
        await asyncio.sleep(0.1)


async def new_broadcast(sessions, target: dict, *, send_at=None, urgent=False) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        broadcast = await broadcasts.create_broadcast(
            session, texts={"vi": "Họp thôn lúc 8 giờ sáng Chủ nhật.", "en": "Village meeting on Sunday at 8."},
            target=target, send_at=send_at or utc_now(), now=utc_now(), urgent=urgent, author="test",
        )
        await session.commit()
        return broadcast.id  # type: ignore[return-value]


def test_buttons_are_labelled_in_each_recipients_language() -> None:
    from storage.models import Broadcast

    broadcast = Broadcast(texts={"vi": "Tin", "en": "News"}, send_at=utc_now(), created_at=utc_now(),
                          buttons=[[{"labels": {"vi": "❓ Chuẩn nghèo", "en": "❓ Poverty line"}, "action": "faq:show:x"}]])
    english = broadcasts.payload(broadcast, "en", "🔕 Stop notices")
    assert english["text"] == "News" and english["buttons"][0] == [{"label": "❓ Poverty line", "action": "faq:show:x"}]
    assert broadcasts.payload(broadcast, "vi", "🔕")["buttons"][-1] == [{"label": "🔕", "action": "menu:unsubscribe"}]


async def test_preview_counts_exactly_who_is_targeted(sessions) -> None:
    await add_people(sessions)
    async with sessions() as session:
        assert await broadcasts.count_recipients(session, {}, "vi") == 4
        assert await broadcasts.count_recipients(session, {"areas": ["66"]}, "vi") == 4
        assert await broadcasts.count_recipients(session, {"areas": ["24169"], "statuses": ["poor"]}, "vi") == 2
        assert await broadcasts.count_recipients(session, {"locales": ["vi"]}, "vi") == 3
        assert await broadcasts.count_recipients(session, {"areas": ["24175", "24169"], "statuses": ["near_poor"]}, "vi") == 1


async def test_a_notice_reaches_exactly_its_target_in_each_language_with_a_stop_button(settings, tg, aiohttp_client, sessions) -> None:
    await add_people(sessions)
    broadcast_id = await new_broadcast(sessions, {"areas": ["24169"], "statuses": ["poor"]})
    await aiohttp_client(create_app(telegram_settings(settings, tg, quiet_hours="")))
    await tg.wait_for_messages(801, 1, timeout=15)
    await tg.wait_for_messages(802, 1, timeout=15)
    reached = sorted({int(s.chat_id) for s in tg.calls("sendMessage")})
    assert reached == [801, 802]
    assert tg.messages_to(801)[0].text.startswith("Họp thôn") and tg.messages_to(802)[0].text.startswith("Village meeting")
    assert ("🔕 Ngừng nhận thông báo", "menu:unsubscribe") in tg.buttons(tg.messages_to(801)[0])
    assert await settled(sessions, broadcast_id) == {"sent": 2}


async def test_opt_out_after_queueing_is_respected(settings, tg, aiohttp_client, sessions) -> None:
    await add_people(sessions)
    broadcast_id = await new_broadcast(sessions, {})
    async with sessions() as session:
        await queue_due(session, _services(), utc_now())
        citizen = (await session.exec(select(Citizen).where(Citizen.channel_user_id == "803"))).one()
        citizen.subscribed = False
        await session.commit()
    await aiohttp_client(create_app(telegram_settings(settings, tg, quiet_hours="")))
    await tg.wait_for_messages(804, 1, timeout=15)
    counts = await settled(sessions, broadcast_id)
    assert counts.get("skipped:unsubscribed") == 1 and tg.messages_to(803) == []


async def test_quiet_hours_hold_bulk_notices_but_not_urgent_ones(settings, tg, aiohttp_client, sessions) -> None:
    await add_people(sessions)
    night = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 22:00 in Việt Nam
    await new_broadcast(sessions, {"areas": ["24175"]}, send_at=night - timedelta(minutes=5))
    await new_broadcast(sessions, {"areas": ["24169"], "locales": ["en"]}, send_at=night - timedelta(minutes=5), urgent=True)
    await aiohttp_client(create_app(telegram_settings(settings, tg), clock=lambda: night))
    await tg.wait_for_messages(802, 1, timeout=15)
    assert tg.messages_to(804) == []
    async with sessions() as session:
        waiting = (await session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == "804"))).one()
    assert waiting.status == "pending" and waiting.bulk


async def test_a_scheduled_notice_is_queued_once_at_its_time(sessions) -> None:
    await add_people(sessions)
    later = utc_now() + timedelta(hours=2)
    broadcast_id = await new_broadcast(sessions, {}, send_at=later)
    async with sessions() as session:
        assert await queue_due(session, _services(), utc_now()) == 0
        assert await queue_due(session, _services(), later) == 4
        assert await queue_due(session, _services(), later + timedelta(minutes=1)) == 0
        await session.commit()
        broadcast = await session.get(Broadcast, broadcast_id)
        rows = (await session.exec(select(OutboxMessage))).all()
    assert broadcast.status == "queued" and broadcast.recipients == 4 and len(rows) == 4


async def test_cancel_stops_what_has_not_gone(sessions) -> None:
    await add_people(sessions)
    broadcast_id = await new_broadcast(sessions, {})
    async with sessions() as session:
        await queue_due(session, _services(), utc_now())
        broadcast = await session.get(Broadcast, broadcast_id)
        assert await broadcasts.cancel(session, broadcast) == 4
        await session.commit()
        counts = await broadcasts.status_counts(session, broadcast_id)
    assert counts == {"skipped": 4, "skipped:cancelled": 4}


def _services():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    from content.areas import AreaDirectory
    from content.i18n import Catalogs
    from content.library import Library
    from content.model import ContentBundle
    from handlers.turn import Services

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    return Services(areas=AreaDirectory.load(), catalogs=Catalogs(tz), library=Library(ContentBundle()), tz=tz)


def test_cli_preview_send_status_cancel(settings) -> None:
    env = {"PYTHONPATH": str(ROOT), "DATABASE_URL": settings.database_url, "DATA_DIR": str(settings.data_dir), "PATH": "/usr/bin:/bin"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", "broadcast", *args], env=env, cwd=settings.data_dir,
                              capture_output=True, text=True, timeout=60)

    preview = cli("send", "--text", "Thông báo", "--area", "24169", "--preview")
    assert preview.returncode == 0 and preview.stdout.strip() == "0 citizen(s) would receive it"
    sent = cli("send", "--text", "Thông báo họp", "--area", "24169", "--status", "poor", "--at", "2030-01-01 08:00")
    assert sent.returncode == 0, sent.stderr
    broadcast_id = sent.stdout.strip()
    status = cli("status", broadcast_id, "--json")
    assert '"status": "scheduled"' in status.stdout
    cancelled = cli("cancel", broadcast_id)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    bad = cli("send", "--text", "x", "--status", "rich")
    assert bad.returncode == 2 and "unknown --status rich" in bad.stderr
    missing = cli("send", "--text", "x", "--faq", "no-such-entry")
    assert missing.returncode == 2 and "no FAQ entry" in missing.stderr
    linked = cli("send", "--text", "Xem chuẩn nghèo", "--faq", "poverty-line-2022-2026", "--at", "2030-01-01 08:00")
    assert linked.returncode == 0, linked.stderr


@pytest.mark.parametrize("value", ["21:00-06:30", "00:00-00:00"])
def test_quiet_hours_wrap_midnight(value: str) -> None:
    from zoneinfo import ZoneInfo

    from bot.sender import QuietHours

    quiet = QuietHours.parse(value, ZoneInfo("Asia/Ho_Chi_Minh"))
    evening = datetime(2026, 11, 28, 14, 30, tzinfo=UTC)  # 21:30 local
    morning = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)  # 07:00 local
    assert (evening in quiet) is (value == "21:00-06:30")
    assert morning not in quiet


async def test_a_commune_officer_sends_a_notice_to_their_commune_from_the_phone(settings, tg, aiohttp_client, sessions) -> None:
    from storage import audit
    from tests.drivers import TelegramDriver
    from tests.test_feedback import make_officer

    await add_people(sessions)
    await aiohttp_client(create_app(telegram_settings(settings, tg, quiet_hours="")))
    officer = TelegramDriver(tg, user_id=7801)
    await officer.send(f"/link {await make_officer(sessions, 'canbo.eakao.tb', 'commune', '24169')}")
    await officer.send("/thongbao")
    assert "phường Ea Kao" in officer.last[-1].text
    await officer.send("Mời bà con dự họp bình xét hộ nghèo lúc 8 giờ sáng thứ Bảy tại nhà văn hoá.")
    assert "3 hộ" in officer.last[-1].text
    await officer.press("Gửi ngay")
    for chat in (801, 802, 803):
        [notice] = await tg.wait_for_messages(chat, 1, timeout=20)
        assert notice.text.startswith("Mời bà con dự họp")
    assert tg.messages_to(804) == []
    async with sessions() as session:
        [entry] = await audit.entries(session, action="broadcast.create")
    assert entry.actor == "canbo.eakao.tb" and entry.detail["target"] == {"areas": ["24169"]}


async def test_a_citizen_cannot_send_notices(engine) -> None:
    from tests.channel import InMemoryChannel

    citizen = InMemoryChannel(engine)
    await citizen.send("/thongbao")
    assert "dành cho cán bộ" in citizen.text()
    await citizen.act("notice:send")
    assert "hết hạn" in citizen.text()


async def test_a_notice_with_a_photo_is_uploaded_once_then_sent_by_file_id(settings, tg, aiohttp_client, sessions) -> None:
    await add_people(sessions)
    image = settings.data_dir / "media" / "broadcasts" / "poster.jpg"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"\xff\xd8\xff\xe0" + b"poster" * 100)
    async with sessions() as session:
        await broadcasts.create_broadcast(session, texts={"vi": "Lịch họp"}, target={"areas": ["24169"]},
                                          send_at=utc_now(), now=utc_now(), image="media/broadcasts/poster.jpg")
        await session.commit()
    await aiohttp_client(create_app(telegram_settings(settings, tg, quiet_hours="")))
    await tg.wait_for(lambda s: len(tg.calls("sendPhoto")) >= 3, timeout=20)
    photos = [call.params["photo"] for call in tg.calls("sendPhoto")]
    uploads = [p for p in photos if not isinstance(p, str)]
    assert len(uploads) == 1 and all(isinstance(p, str) for p in photos if p not in uploads)
    assert all(call.text == "Lịch họp" for call in tg.calls("sendPhoto"))

"""Polls ("Ý kiến của bà con"): created in the dashboard, delivered as a notice, answered once per
citizen and changed, closed with results sent back; free-text polls; targets; the dashboard's
scope, roles, CSRF and validation; the storage on both backends."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.app import create_app
from bot.features import build_router
from handlers import polls as poll_flow
from handlers.engine import Engine
from handlers.types import Capabilities
from storage import polls as poll_repo
from storage.db import SessionFactory
from storage.models import AuditEntry, Broadcast, Citizen, OutboxMessage, Poll, PollAnswer, PollStatus, StaffRole
from tests.channel import InMemoryChannel
from tests.conftest import telegram_settings
from tests.dashboard import COMMUNE, OTHER_COMMUNE, add_staff, sign_in
from tests.drivers import TelegramDriver
from tests.statements import reading, recorded

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 in Đắk Lắk, no campaign running
PEOPLE = [
    # chat id, commune, household, locale, subscribed
    (9101, COMMUNE, "poor", "vi", True),
    (9102, COMMUNE, "near_poor", "en", True),
    (9103, COMMUNE, "poor", "vi", False),
    (9104, OTHER_COMMUNE, "poor", "vi", True),
    (9105, OTHER_COMMUNE, "escaped", "vi", True),
]
QUESTION = "Bà con muốn họp bình xét hộ nghèo vào buổi nào?"
FORM = {
    "text_vi": QUESTION, "text_en": "When should the poverty review meeting be held?",
    "choice_vi_1": "Buổi sáng", "choice_en_1": "Morning", "choice_vi_2": "Buổi tối", "choice_en_2": "Evening",
    "when": "now", "close_day": "2026-03-09", "close_time": "17:00", "action": "create",
}


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def add_people(sessions: SessionFactory, people=PEOPLE, channel: str = "telegram") -> dict[int, int]:  # type: ignore[no-untyped-def]
    """Consenting citizens; their ids by chat id."""
    async with sessions() as session:
        rows = {chat: Citizen(channel=channel, channel_user_id=str(chat), area_code=area, household_status=status, locale=locale,
                              subscribed=subscribed, consent_at=T0, created_at=T0, last_seen_at=T0)
                for chat, area, status, locale, subscribed in people}
        session.add_all(rows.values())
        await session.commit()
    return {chat: row.id for chat, row in rows.items()}  # type: ignore[misc]


async def new_poll(sessions: SessionFactory, *, target: dict | None = None, free_text: bool = False,
                   opens_at: datetime = T0, closes_at: datetime = T0 + timedelta(days=7)) -> int:
    async with sessions() as session:
        poll = await poll_repo.create_poll(
            session, texts={"vi": QUESTION, "en": "When should the meeting be held?"},
            choices=[] if free_text else [{"vi": "Buổi sáng", "en": "Morning"}, {"vi": "Buổi tối", "en": "Evening"}],
            free_text=free_text, target=target if target is not None else {"areas": ["66"]},
            opens_at=opens_at, closes_at=closes_at, now=T0, author="lan",
        )
        await session.commit()
        return poll.id  # type: ignore[return-value]


async def get_poll(sessions: SessionFactory, poll_id: int) -> Poll:
    async with sessions() as session:
        return await session.get(Poll, poll_id)  # type: ignore[return-value]


async def answers(sessions: SessionFactory, poll_id: int) -> list[PollAnswer]:
    async with sessions() as session:
        return list((await session.exec(select(PollAnswer).where(PollAnswer.poll_id == poll_id).order_by(col(PollAnswer.id)))).all())


async def tick(sessions: SessionFactory, services, now: datetime) -> None:  # type: ignore[no-untyped-def]
    await poll_flow.tick(sessions, services, lambda: now)


def error_text(html: str) -> str:
    found = re.search(r'<div class="error" role="alert">(.*?)</div>', html, re.S)
    return found[1] if found else ""


# --- storage, on SQLite and PostgreSQL ---------------------------------------------------------------


async def test_a_poll_opens_and_closes_once_when_two_workers_race(db_sessions: SessionFactory) -> None:
    poll_id = await new_poll(db_sessions, opens_at=T0 + timedelta(hours=1))
    async with db_sessions() as session:
        assert await poll_repo.claim_to_open(session, T0) == []  # not yet
    for claim, at in ((poll_repo.claim_to_open, T0 + timedelta(hours=1)), (poll_repo.claim_to_close, T0 + timedelta(days=7))):
        async with db_sessions() as first, db_sessions() as second:
            won = await claim(first, at)
            # The other worker looks while the first has not committed; its update must find nothing to change.
            racing = asyncio.create_task(claim(second, at))
            await asyncio.sleep(0.2)
            await first.commit()
            lost = await racing
            await second.commit()
        assert [poll.id for poll in won] == [poll_id] and lost == []
    poll = await get_poll(db_sessions, poll_id)
    assert poll.status == PollStatus.closed and poll.opened_at == T0 + timedelta(hours=1)


async def test_a_draft_whose_time_passed_closes_without_opening(db_sessions: SessionFactory) -> None:
    poll_id = await new_poll(db_sessions, opens_at=T0, closes_at=T0 + timedelta(hours=1))
    async with db_sessions() as session:
        closed = await poll_repo.claim_to_close(session, T0 + timedelta(hours=2))
        assert await poll_repo.claim_to_open(session, T0 + timedelta(hours=2)) == []
        await session.commit()
    assert [poll.id for poll in closed] == [poll_id]
    assert (await get_poll(db_sessions, poll_id)).opened_at is None


async def test_one_answer_per_citizen_changed_in_place_and_counted_by_each_dimension(db_sessions: SessionFactory) -> None:
    ids = await add_people(db_sessions)
    poll_id = await new_poll(db_sessions)
    async with db_sessions() as session:
        poll = await session.get(Poll, poll_id)
        people = {chat: await session.get(Citizen, ids[chat]) for chat in ids}
        for chat, choice in ((9101, 0), (9102, 1), (9104, 1), (9105, 1)):
            await poll_repo.record_answer(session, poll, people[chat], now=T0, choice=choice)  # type: ignore[arg-type]
        people[9101].household_status = "near_poor"  # type: ignore[union-attr]
        await poll_repo.record_answer(session, poll, people[9101], now=T0 + timedelta(hours=1), choice=1)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await poll_repo.record_answer(session, poll, people[9103], now=T0, choice=2)  # type: ignore[arg-type]
        await session.commit()
    stored = await answers(db_sessions, poll_id)
    assert len(stored) == 4
    first = stored[0]
    assert (first.choice, first.household_status, first.channel, first.area_code) == (1, "near_poor", "telegram", COMMUNE)
    assert first.answered_at == T0 and first.updated_at == T0 + timedelta(hours=1)
    async with db_sessions() as session:
        assert (await poll_repo.tally(session, poll_id)).overall() == {1: 4}
        by_area = await poll_repo.tally(session, poll_id, "area_code")
        by_status = await poll_repo.tally(session, poll_id, "household_status")
        by_channel = await poll_repo.tally(session, poll_id, "channel")
        assert await poll_repo.answer_counts(session, [poll_id]) == {poll_id: 4}
    assert by_area.groups == {COMMUNE: {1: 2}, OTHER_COMMUNE: {1: 2}}
    assert by_status.groups == {"near_poor": {1: 2}, "poor": {1: 1}, "escaped": {1: 1}}
    assert by_channel.groups == {"telegram": {1: 4}}


async def test_results_are_queued_once_per_reachable_participant(db_sessions: SessionFactory, services) -> None:  # type: ignore[no-untyped-def]
    ids = await add_people(db_sessions)
    poll_id = await new_poll(db_sessions)
    async with db_sessions() as session:
        assert await poll_flow.open_due(session, services, T0) == 1
        poll = await session.get(Poll, poll_id)
        for chat, choice in ((9101, 0), (9102, 1), (9104, 1)):
            await poll_repo.record_answer(session, poll, await session.get(Citizen, ids[chat]), now=T0, choice=choice)  # type: ignore[arg-type]
        (await session.get(Citizen, ids[9104])).unreachable_at = T0  # type: ignore[union-attr]
        await session.commit()
    for _ in range(2):
        async with db_sessions() as session:
            await poll_flow.close_due(session, services, T0 + timedelta(days=8))
            await session.commit()
    async with db_sessions() as session:
        queued = list((await session.exec(
            select(OutboxMessage).where(col(OutboxMessage.dedupe_key).like(f"poll:{poll_id}:results:%")).order_by(col(OutboxMessage.chat_id))
        )).all())
        again = await poll_flow.queue_results(session, services, await session.get(Poll, poll_id), T0)  # type: ignore[arg-type]
    assert [m.chat_id for m in queued] == ["9101", "9102"] and again == 0
    assert all(m.bulk and m.broadcast_id is None for m in queued)
    assert queued[0].payload["text"].startswith("Dạ, đây là kết quả ý kiến của bà con xã Hòa Phú")
    assert "• Buổi sáng: 50% (1)" in queued[0].payload["text"] and "Cả tỉnh (3 người trả lời):" in queued[0].payload["text"]
    assert queued[1].payload["text"].startswith("Here are the results of the people of xã Hòa Phú")
    assert (await get_poll(db_sessions, poll_id)).results_sent_at == T0 + timedelta(days=8)


# --- citizens answering (the engine, no network) -------------------------------------------------------


def chat(engine: Engine, user: int, *, buttons: bool = True) -> InMemoryChannel:
    """A citizen seeded by add_people(channel="test")."""
    return InMemoryChannel(engine, user_id=str(user), capabilities=Capabilities(buttons=buttons))


async def opened(sessions: SessionFactory, services, **options) -> int:  # type: ignore[no-untyped-def]
    poll_id = await new_poll(sessions, **options)
    await tick(sessions, services, T0)
    return poll_id


def engine_at(sessions: SessionFactory, services, when: datetime = T0) -> Engine:  # type: ignore[no-untyped-def]
    """The conversation engine with its clock at `when`."""
    return Engine(sessions, build_router(), services, clock=lambda: when)


async def test_a_choice_is_stored_changed_and_refused_once_closed(sessions, services) -> None:  # type: ignore[no-untyped-def]
    await add_people(sessions, channel="test")
    poll_id = await opened(sessions, services)
    lan = chat(engine_at(sessions, services), 9101)
    await lan.act(f"poll:pick:{poll_id}:0")
    assert "Dạ, cảm ơn bà con! Bà con đã chọn “Buổi sáng” — đổi ý thì bấm lựa chọn khác trước 10:00 09/03/2026." in lan.text()
    assert "✅ Buổi sáng" in lan.labels() and "Buổi tối" in lan.labels()
    await lan.press("Buổi tối")
    assert "Dạ, đã đổi: bà con đã chọn “Buổi tối” (thay cho “Buổi sáng”)" in lan.text()
    [answer] = await answers(sessions, poll_id)
    assert (answer.choice, answer.area_code, answer.household_status, answer.channel) == (1, COMMUNE, "poor", "test")
    late = chat(engine_at(sessions, services, T0 + timedelta(days=7)), 9101)
    await late.act(f"poll:pick:{poll_id}:0")  # its time is up, though the job has not closed it yet
    assert "Dạ, câu hỏi này đã khép lại nên không nhận thêm ý kiến nữa." in late.text()
    await tick(sessions, services, T0 + timedelta(days=7))
    english = chat(engine_at(sessions, services, T0 + timedelta(days=7)), 9102)
    await english.act(f"poll:pick:{poll_id}:0")
    assert english.text().startswith("This poll has closed, so it takes no more answers.")
    assert [a.choice for a in await answers(sessions, poll_id)] == [1]


async def test_a_free_text_answer_is_the_next_message_and_can_be_skipped_or_replaced(sessions, services) -> None:  # type: ignore[no-untyped-def]
    await add_people(sessions, channel="test")
    poll_id = await opened(sessions, services, free_text=True)
    engine = engine_at(sessions, services)
    lan = chat(engine, 9101)
    await lan.act(f"poll:reply:{poll_id}")
    assert "Dạ, bà con gõ ý kiến của mình trong một tin nhắn" in lan.text() and lan.labels() == ["Bỏ qua"]
    await lan.press("Bỏ qua")
    assert lan.text().startswith("Dạ, chưa gửi gì cả.")
    await lan.send("chuan ngheo la bao nhieu")  # not answering any more: an ordinary question
    assert await answers(sessions, poll_id) == [] and "1.500.000" in lan.text()
    await lan.act(f"poll:reply:{poll_id}")
    await lan.send("Đường vào thôn 3 lầy lội mùa mưa, xin làm lại trước.")
    assert lan.text().startswith("Dạ, cảm ơn bà con! Ý kiến của bà con đã được ghi nhận.")
    await lan.act(f"poll:reply:{poll_id}")
    assert "Ý kiến hiện tại của bà con: “Đường vào thôn 3 lầy lội mùa mưa, xin làm lại trước.”" in lan.text()
    await lan.send("Cần làm lại đường thôn 3 và thôn 5.")
    [answer] = await answers(sessions, poll_id)
    assert answer.text == "Cần làm lại đường thôn 3 và thôn 5." and answer.choice is None
    await lan.send("chuan ngheo la bao nhieu")  # the answer is in: typing is asking again
    assert "1.500.000" in lan.text() and len(await answers(sessions, poll_id)) == 1


async def test_on_a_channel_without_buttons_the_choices_are_numbered(sessions, services) -> None:  # type: ignore[no-untyped-def]
    await add_people(sessions, channel="test")
    await opened(sessions, services)
    zalo = chat(engine_at(sessions, services), 9101, buttons=False)
    await zalo.send("/ykien")
    assert QUESTION in zalo.text() and "1. Buổi sáng" in zalo.text() and "2. Buổi tối" in zalo.text()
    await zalo.send("2")
    assert "Bà con đã chọn “Buổi tối”" in zalo.text()


async def test_only_the_target_is_asked_and_answers_need_consent(sessions, services) -> None:  # type: ignore[no-untyped-def]
    ids = await add_people(sessions, channel="test")
    near_poor = await opened(sessions, services, target={"areas": [COMMUNE], "statuses": ["near_poor"]})
    commune = await opened(sessions, services, target={"areas": [COMMUNE]})
    engine = engine_at(sessions, services)
    other = chat(engine, 9104)  # another commune
    await other.act(f"poll:pick:{commune}:0")
    assert "Dạ, câu hỏi này dành cho các hộ khác" in other.text()
    await other.act("menu:polls")
    assert "Dạ, hiện chưa có câu hỏi nào đang mở cho bà con." in other.text()
    poor = chat(engine, 9101)
    await poor.act(f"poll:pick:{near_poor}:0")
    assert "dành cho các hộ khác" in poor.text()
    await poor.press("Ý kiến của bà con")
    assert QUESTION in poor.text() and "Buổi sáng" in poor.labels()  # the one poll open for them, at once
    assert "🗳 Ý kiến của bà con" in poor.last[0].text
    near = chat(engine, 9102)  # English
    await near.send("/polls")  # two open for them: a list
    assert near.text() == "Polls open for you — choose one:"
    assert near.labels() == ["🗳 When should the meeting be held?"] * 2 + ["‹ Main menu"]
    await near.send("1")
    assert "When should the meeting be held?" in near.text() and near.labels()[:2] == ["Morning", "Evening"]
    async with sessions() as session:
        (await session.get(Citizen, ids[9101])).consent_at = None  # type: ignore[union-attr]
        await session.commit()
    await poor.act(f"poll:pick:{commune}:0")
    assert "bà con vui lòng đồng ý cho lưu xã và diện hộ" in poor.text() and "Đồng ý lưu dữ liệu" in poor.labels()
    assert await answers(sessions, commune) == [] and await answers(sessions, near_poor) == []
    await poor.act("poll:pick:999999:0")
    assert "hết hạn" in poor.text()


# --- end to end: dashboard → Telegram → results -------------------------------------------------------


async def staff_client(settings, aiohttp_client, sessions, username, role, area=None, clock=None):  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(settings, **({"clock": clock} if clock else {})))
    await add_staff(sessions, username, role, area)
    return await sign_in(client, username)


async def test_a_poll_from_the_dashboard_is_delivered_answered_changed_and_its_results_come_back(
    settings, tg, aiohttp_client, sessions, services,  # type: ignore[no-untyped-def]
) -> None:
    from handlers.notices import queue_due
    from tests.drivers import Shown

    await add_people(sessions)
    clock = Clock()
    lan = await staff_client(telegram_settings(settings, tg, quiet_hours=""), aiohttp_client, sessions, "lan",
                             StaffRole.province, clock=clock)
    response = await lan.post("/admin/polls/new", {**FORM, "province": "1"})
    assert response.status == 303, await response.text()
    async with sessions() as session:
        [poll] = (await session.exec(select(Poll))).all()
    assert response.headers["Location"] == f"/admin/polls/{poll.id}?created=1"
    assert poll.closes_at == datetime(2026, 3, 9, 17, 0, tzinfo=TZ) and poll.status == PollStatus.draft
    assert poll.choices == [{"vi": "Buổi sáng", "en": "Morning"}, {"vi": "Buổi tối", "en": "Evening"}]
    await tick(sessions, services, clock.now)  # the scheduler's job, without waiting for it
    async with sessions() as session:
        await queue_due(session, services, clock.now)
        await session.commit()

    delivered = {chat: (await tg.wait_for_messages(chat, 1, timeout=20))[0] for chat in (9101, 9102, 9104, 9105)}
    assert delivered[9101].text.startswith(f"🗳 Ý kiến của bà con\n\n{QUESTION}\n\nBà con bấm một lựa chọn bên dưới.")
    assert tg.buttons(delivered[9101]) == [(f"Buổi sáng", f"poll:pick:{poll.id}:0"), ("Buổi tối", f"poll:pick:{poll.id}:1"),
                                           ("🔕 Ngừng nhận thông báo", "menu:unsubscribe")]
    assert delivered[9102].text.startswith("🗳 Your opinion\n\nWhen should the poverty review meeting be held?")
    assert tg.messages_to(9103) == []  # not subscribed

    async def press(chat: int, label: str) -> str:
        citizen = TelegramDriver(tg, user_id=chat)
        citizen.last = [Shown(delivered[chat].text, tg.buttons(delivered[chat]), delivered[chat].result)]
        return "\n".join(shown.text for shown in await citizen.press(label))

    assert "Bà con đã chọn “Buổi sáng”" in await press(9101, "Buổi sáng")
    assert "Dạ, đã đổi: bà con đã chọn “Buổi tối” (thay cho “Buổi sáng”)" in await press(9101, "Buổi tối")
    assert "You chose “Morning”" in await press(9102, "Morning")
    assert "Bà con đã chọn “Buổi tối”" in await press(9104, "Buổi tối")
    unsubscribed = TelegramDriver(tg, user_id=9103)
    await unsubscribed.send("/ykien")  # not sent to them, but asked: answers from the menu
    await unsubscribed.press("Buổi sáng")
    assert "Bà con đã chọn “Buổi sáng”" in unsubscribed.last[-1].text

    page = await lan.page(f"/admin/polls/{poll.id}")
    assert "Đang mở" in page and '<svg' in page and "xã Hòa Phú" in page
    clock.now = T0 + timedelta(days=8)
    await tick(sessions, services, clock.now)
    before = {9101: 3, 9102: 2, 9103: 2, 9104: 2}  # the poll and the answers' replies (9103: the menu's)
    results = {chat: (await tg.wait_for_messages(chat, count + 1, timeout=20))[-1].text for chat, count in before.items()}
    assert results[9101] == (
        f"Dạ, đây là kết quả ý kiến của bà con xã Hòa Phú về câu hỏi “{QUESTION}” (3 người trả lời):\n"
        "• Buổi sáng: 67% (2)\n• Buổi tối: 33% (1)\n\nCả tỉnh (4 người trả lời):\n• Buổi sáng: 50% (2)\n• Buổi tối: 50% (2)\n\n"
        "Cảm ơn bà con đã tham gia!"
    )
    assert results[9102].startswith("Here are the results of the people of xã Hòa Phú for “When should the poverty review")
    assert "• Morning: 67% (2)" in results[9102] and "The whole province (4 answer(s)):" in results[9102]
    assert results[9104].startswith("Dạ, đây là kết quả ý kiến của bà con phường Buôn Ma Thuột") and "• Buổi tối: 100% (1)" in results[9104]
    await asyncio.sleep(0.5)
    assert len(tg.messages_to(9105)) == 1  # did not answer: no results
    late = TelegramDriver(tg, user_id=9105)
    late.last = [Shown(delivered[9105].text, tg.buttons(delivered[9105]), delivered[9105].result)]
    await late.press("Buổi sáng")
    assert "Dạ, câu hỏi này đã khép lại" in late.last[-1].text
    lan = await sign_in(lan.client, "lan")  # a week later: a new sign-in
    page = await lan.page(f"/admin/polls/{poll.id}")
    assert "Đã gửi kết quả" in page and "Khép lại ngay" not in page


# --- the dashboard: scope, roles, CSRF, validation, export ------------------------------------------------


async def audit_of(sessions: SessionFactory, action: str) -> list[AuditEntry]:
    async with sessions() as session:
        return list((await session.exec(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_a_commune_officer_asks_only_their_commune_and_sees_only_its_polls(settings, aiohttp_client, sessions) -> None:  # type: ignore[no-untyped-def]
    await add_people(sessions)
    xa = await staff_client(settings, aiohttp_client, sessions, "hoaphu", StaffRole.commune, COMMUNE, clock=Clock())
    html = await xa.page("/admin/polls/new")
    assert f'name="area" value="{COMMUNE}"' in html and 'name="province"' not in html and 'src="/admin/static/broadcasts.js"' in html
    counted = await xa.post("/admin/polls/new", {**FORM, "action": "count", "area": COMMUNE})
    assert counted.status == 200 and "Số người nhận: 2 người dân đã đăng ký nhận tin" in await counted.text()
    for sneaky in ({"area": OTHER_COMMUNE}, {"province": "1"}):
        response = await xa.post("/admin/polls/new", {**FORM, **sneaky})
        assert response.status == 400 and "chỉ được gửi thông báo tới xã của mình" in error_text(await response.text())
    response = await xa.post("/admin/polls/new", {**FORM, "area": COMMUNE, "status": "poor"})
    assert response.status == 303
    other = await new_poll(sessions, target={"areas": [OTHER_COMMUNE]})
    province = await new_poll(sessions)
    async with sessions() as session:
        mine = (await session.exec(select(Poll).where(Poll.author == "hoaphu"))).one()
    assert mine.target == {"areas": [COMMUNE], "statuses": ["poor"], "locales": []}
    [entry] = await audit_of(sessions, "poll.create")
    assert entry.actor == "hoaphu" and entry.object_id == str(mine.id) and entry.detail["recipients_now"] == 1
    listing = await xa.page("/admin/polls")
    assert f'href="/admin/polls/{mine.id}"' in listing and f'href="/admin/polls/{other}"' not in listing
    assert f'href="/admin/polls/{province}"' not in listing
    for poll_id in (other, province):
        for path in (f"/admin/polls/{poll_id}", f"/admin/polls/{poll_id}/results.csv"):
            assert (await xa.get(path)).status == 404, path
    assert (await xa.get("/admin/polls/99999999999")).status == 404
    page = await xa.page(f"/admin/polls/{mine.id}")
    assert "Khép lại ngay" not in page  # closing early is for provincial staff
    refused = await xa.post(f"/admin/polls/{mine.id}/close")
    assert refused.status == 403 and (await get_poll(sessions, mine.id)).closes_at > T0  # type: ignore[arg-type, operator]


async def test_bad_input_is_explained_and_nothing_is_saved(settings, aiohttp_client, sessions) -> None:  # type: ignore[no-untyped-def]
    lan = await staff_client(settings, aiohttp_client, sessions, "lan", StaffRole.province, clock=Clock())
    cases = [
        ({"text_vi": ""}, "Hãy viết câu hỏi bằng tiếng Việt"),
        ({"choice_vi_2": "", "choice_en_2": ""}, "Hãy cho từ 2 đến 6 lựa chọn"),
        ({"choice_vi_2": ""}, "Mỗi lựa chọn cần có nội dung tiếng Việt"),
        ({"choice_vi_1": "x" * 61}, "tối đa 60 ký tự"),
        ({"close_day": "2026-03-01"}, "Thời điểm khép lại phải sau thời điểm mở"),
        ({"close_day": ""}, "Hãy cho ngày giờ khép lại"),
        ({"close_day": "2026-09-01"}, "tối đa 92 ngày"),
        ({"when": "later", "open_day": "2026-03-01", "open_time": "08:00"}, "Thời điểm mở đã qua"),
        ({"status": "rich"}, "Không rõ diện hộ"),
        ({"province": "", "area": "99999"}, "Không rõ xã"),
    ]
    for change, message in cases:
        response = await lan.post("/admin/polls/new", {"province": "1", **FORM, **change})
        assert response.status == 400 and message in error_text(await response.text()), change
    free = await lan.post("/admin/polls/new", {**FORM, "province": "1", "kind": "free"})
    assert free.status == 303  # the choices typed before switching to free text are dropped
    async with sessions() as session:
        [poll] = (await session.exec(select(Poll))).all()
    assert poll.free_text and poll.choices == []
    without = await lan.post("/admin/polls/new", {**FORM, "province": "1", "csrf": "forged"})
    assert without.status == 403


async def test_results_by_commune_status_and_channel_with_csv_and_free_texts_without_names(
    settings, aiohttp_client, sessions, services,  # type: ignore[no-untyped-def]
) -> None:
    ids = await add_people(sessions)
    choice_poll = await opened(sessions, services)
    text_poll = await opened(sessions, services, free_text=True)
    async with sessions() as session:
        polls_ = {poll_id: await session.get(Poll, poll_id) for poll_id in (choice_poll, text_poll)}
        people = {chat: await session.get(Citizen, ids[chat]) for chat in ids}
        people[9104].display_name = "Nguyễn Thị Bí Mật"  # type: ignore[union-attr]
        for chat, choice in ((9101, 0), (9102, 1), (9104, 1)):
            await poll_repo.record_answer(session, polls_[choice_poll], people[chat], now=T0, choice=choice)  # type: ignore[arg-type]
        await poll_repo.record_answer(session, polls_[text_poll], people[9104], now=T0, text="Xin mở lớp dạy nghề may <b>cho</b> phụ nữ.")  # type: ignore[arg-type]
        await session.commit()
    boss = await staff_client(settings, aiohttp_client, sessions, "boss", StaffRole.admin, clock=Clock())
    page = await boss.page(f"/admin/polls/{choice_poll}")
    for part in ("Theo xã", "Theo diện hộ", "Theo kênh", "xã Hòa Phú", "phường Buôn Ma Thuột", "Hộ nghèo", "Hộ cận nghèo", "Telegram",
                 'id="table-area_code"', "<svg", "67%"):
        assert part in page, part
    response = await boss.get(f"/admin/polls/{choice_poll}/results.csv")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0] == ["Nhóm theo", "Nhóm", "Buổi sáng", "Buổi tối", "Tổng cộng"]
    assert rows[1] == ["Tất cả câu trả lời", "", "1", "2", "3"]
    assert ["Theo xã, phường", "xã Hòa Phú", "1", "1", "2"] in rows and ["Theo kênh", "Telegram", "1", "2", "3"] in rows
    [export] = await audit_of(sessions, "export.poll")
    assert export.object_id == str(choice_poll) and export.actor == "boss"
    free = await boss.page(f"/admin/polls/{text_poll}")
    assert "Xin mở lớp dạy nghề may &lt;b&gt;cho&lt;/b&gt; phụ nữ." in free and "Bí Mật" not in free and "9104" not in free
    closing = await boss.post(f"/admin/polls/{choice_poll}/close")
    assert closing.status == 303 and closing.headers["Location"] == f"/admin/polls/{choice_poll}?closing=1"
    await tick(sessions, services, T0 + timedelta(seconds=1))
    assert (await get_poll(sessions, choice_poll)).status == PollStatus.closed
    [entry] = await audit_of(sessions, "poll.close")
    assert entry.actor == "boss" and entry.object_id == str(choice_poll)
    async with sessions() as session:
        notice = (await session.exec(select(Broadcast).where(Broadcast.occurrence_key == f"poll:{choice_poll}"))).one()
    assert notice.target == {"areas": ["66"], "statuses": [], "locales": []}


async def test_the_results_by_every_dimension_are_counted_in_one_pass_over_the_answers(db_sessions: SessionFactory) -> None:
    ids = await add_people(db_sessions)
    poll_id = await new_poll(db_sessions)
    async with db_sessions() as session:
        poll = await session.get(Poll, poll_id)
        for chat, choice in ((9101, 0), (9102, 1), (9103, 0), (9104, 1), (9105, 0)):
            await poll_repo.record_answer(session, poll, await session.get(Citizen, ids[chat]), now=T0, choice=choice)  # type: ignore[arg-type]
        await session.commit()
    async with db_sessions() as session:
        with recorded() as statements:
            together = await poll_repo.tallies(session, poll_id)
        assert len(reading(statements, "poll_answer")) == 1
        for dimension in poll_repo.DIMENSIONS:
            assert together[dimension] == await poll_repo.tally(session, poll_id, dimension)
        assert together["area_code"].overall() == (await poll_repo.tally(session, poll_id)).overall() == {0: 3, 1: 2}
    assert together["household_status"].groups == {"poor": {0: 2, 1: 1}, "near_poor": {1: 1}, "escaped": {0: 1}}
    assert together["area_code"].groups == {COMMUNE: {0: 2, 1: 1}, OTHER_COMMUNE: {0: 1, 1: 1}}
    with pytest.raises(ValueError):
        await poll_repo.tallies(session, poll_id, ["citizen_id"])


async def test_the_results_page_reads_the_answers_once(settings, aiohttp_client, sessions) -> None:  # type: ignore[no-untyped-def]
    ids = await add_people(sessions)
    poll_id = await new_poll(sessions)
    async with sessions() as session:
        poll = await session.get(Poll, poll_id)
        for chat in ids:
            await poll_repo.record_answer(session, poll, await session.get(Citizen, ids[chat]), now=T0, choice=chat % 2)  # type: ignore[arg-type]
        await session.commit()
    await add_staff(sessions, "lan", StaffRole.province)
    lan = await sign_in(await aiohttp_client(create_app(settings)), "lan")
    with recorded() as statements:
        html = await lan.page(f"/admin/polls/{poll_id}")
    assert len(reading(statements, "poll_answer")) == 1
    assert "<dd>5</dd>" in html and "Buổi sáng" in html and "Buổi tối" in html

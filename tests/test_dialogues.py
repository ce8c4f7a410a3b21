"""Policy dialogues: announcing, questions in advance, upvotes by the area, ranking, answers sent back."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.app import create_app
from bot.features import build_router
from handlers.engine import Engine, utc_now
from storage import dialogues
from storage import tickets as ticket_repo
from storage.models import (
    AuditEntry,
    Broadcast,
    Citizen,
    Dialogue,
    DialogueQuestion,
    DialogueStatus,
    OutboxMessage,
    StaffRole,
    Ticket,
    TicketStatus,
)
from tests.channel import InMemoryChannel
from tests.conftest import telegram_settings
from tests.dashboard import COMMUNE, OTHER_COMMUNE, add_staff, sign_in
from tests.drivers import TelegramDriver, joined

PROVINCE = "66"


async def _citizen(session, user_id: str, area: str | None) -> Citizen:  # type: ignore[no-untyped-def]
    now = utc_now()
    citizen = Citizen(channel="telegram", channel_user_id=user_id, area_code=area, consent_at=now, created_at=now,
                      last_seen_at=now, display_name=f"Nguyễn Văn {user_id}")
    session.add(citizen)
    await session.flush()
    return citizen


async def _question(session, dialogue: Dialogue, citizen: Citizen, text: str) -> DialogueQuestion:  # type: ignore[no-untyped-def]
    now = utc_now()
    ticket = await ticket_repo.create_ticket(
        session, citizen_id=citizen.id, kind="question", topic=dialogues.TICKET_TOPIC, body=text,
        area_code=citizen.area_code, anonymous=False, reporter_name=citizen.display_name, locale="vi",
        now=now, due_at=now + timedelta(days=3),
    )
    return await dialogues.add_question(session, dialogue, ticket)


async def _dialogue(session, area: str | None, topic: str, *, days: int = 7, close_days: int | None = None) -> Dialogue:  # type: ignore[no-untyped-def]
    now = utc_now()
    close_days = days - 1 if close_days is None else close_days
    return await dialogues.create_dialogue(
        session, topics={"vi": topic}, held_at=now + timedelta(days=days), questions_close_at=now + timedelta(days=close_days),
        area_code=area, officials="Chủ tịch UBND xã", place="Hội trường xã", now=now,
    )


# --- storage, on SQLite and PostgreSQL --------------------------------------------------------------


async def test_upcoming_dialogues_for_the_public_and_by_area(db_sessions) -> None:
    now = utc_now()
    async with db_sessions() as session:
        own = await _dialogue(session, COMMUNE, "own", days=3)
        wide = await _dialogue(session, PROVINCE, "province", days=5)
        await _dialogue(session, OTHER_COMMUNE, "other", days=4)
        past = await _dialogue(session, COMMUNE, "past", days=-1, close_days=-2)
        done = await _dialogue(session, COMMUNE, "answered", days=6)
        done.status = DialogueStatus.answered
        asker = await _citizen(session, "1", COMMUNE)
        hidden = await _question(session, own, asker, "ẩn")
        hidden.published = False
        await _question(session, own, asker, "hiện")
        await session.commit()
    async with db_sessions() as session:
        public = await dialogues.upcoming_public(session, now)
        assert [d.topic("en") for d in public] == ["own", "other", "province"]
        assert public[0].questions == 1 and public[0].officials == "Chủ tịch UBND xã"
        assert not any("Nguyễn" in repr(d) for d in public)
        assert [d.topics["vi"] for d in await dialogues.upcoming_for_area(session, COMMUNE, now)] == ["own", "province"]
        assert [d.topics["vi"] for d in await dialogues.upcoming_for_area(session, None, now)] == ["province"]
        assert await dialogues.get_for_area(session, own.id, OTHER_COMMUNE) is None
        assert (await dialogues.get_for_area(session, wide.id, OTHER_COMMUNE)).id == wide.id
        assert dialogues.is_open(own, now) and not dialogues.is_open(past, now)


async def test_one_upvote_per_citizen_and_questions_ranked(db_sessions) -> None:
    now = utc_now()
    async with db_sessions() as session:
        dialogue = await _dialogue(session, COMMUNE, "own")
        first, second, third = [await _citizen(session, str(n), COMMUNE) for n in (1, 2, 3)]
        stranger = await _citizen(session, "4", OTHER_COMMUNE)
        early = await _question(session, dialogue, first, "câu hỏi sớm")
        late = await _question(session, dialogue, second, "câu hỏi được ủng hộ")
        await session.commit()
    async with db_sessions() as session:
        assert await dialogues.vote(session, late.ticket_id, first.id, now) is True
        assert await dialogues.vote(session, late.ticket_id, third.id, now) is True
        assert await dialogues.vote(session, late.ticket_id, third.id, now) is False
        assert await dialogues.vote(session, early.ticket_id, third.id, now) is True
        await session.commit()
    async with db_sessions() as session:
        ranked = await dialogues.ranked_questions(session, dialogue.id)
        assert [(r.ticket.body, r.question.votes) for r in ranked] == [("câu hỏi được ủng hộ", 2), ("câu hỏi sớm", 1)]
        assert await dialogues.voters(session, late.ticket_id) == [first.id, third.id]
        seen = await dialogues.questions_for_citizen(session, dialogue.id, COMMUNE, first.id)
        assert [(q.text, q.votes, q.mine) for q in seen] == [("câu hỏi được ủng hộ", 2, False), ("câu hỏi sớm", 1, True)]
        assert await dialogues.questions_for_citizen(session, dialogue.id, OTHER_COMMUNE, stranger.id) == []
        ranked[0].question.answer = "Trả lời"
        assert [r.ticket.body for r in await dialogues.answered_questions(session, dialogue.id)] == ["câu hỏi được ủng hộ"]


# --- citizens -----------------------------------------------------------------------------------


async def _stored_dialogue(sessions, area: str | None, topic: str = "Vay vốn cho hộ cận nghèo", **kwargs) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        dialogue = await _dialogue(session, area, topic, **kwargs)
        await session.commit()
        return dialogue.id


async def test_a_question_is_sent_in_advance_on_every_channel(driver, sessions) -> None:
    dialogue_id = await _stored_dialogue(sessions, PROVINCE, "Chính sách y tế cho hộ nghèo")
    await driver.send("/doithoai")
    assert "Đối thoại chính sách" in joined(driver.last)
    await driver.press("Chính sách y tế")
    text = joined(driver.last)
    assert "Chính sách y tế cho hộ nghèo" in text and "Hội trường xã" in text and "Nhận câu hỏi đến" in text
    await driver.press("Gửi câu hỏi")
    assert "mời bà con gõ câu hỏi" in driver.last[-1].text
    await driver.send("Hộ cận nghèo có được hỗ trợ thẻ BHYT không?")
    assert "đã được tiếp nhận" in joined(driver.last) and "Mã theo dõi: PA-" in joined(driver.last)
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket))).one()
        question = (await session.exec(select(DialogueQuestion))).one()
    assert (ticket.kind, ticket.topic, ticket.status, ticket.body) == (
        "question", "dialogue", "new", "Hộ cận nghèo có được hỗ trợ thẻ BHYT không?")
    assert question.ticket_id == ticket.id and question.dialogue_id == dialogue_id
    assert ticket.code in joined(driver.last)
    await driver.send("chuan ngheo hien nay la bao nhieu")  # the next text is a question to the bot again
    assert "1.500.000" in driver.last[-1].text
    async with sessions() as session:
        assert len((await session.exec(select(Ticket))).all()) == 1


async def _telegram_citizen(sessions, user_id: int, area: str | None, name: str) -> None:  # type: ignore[no-untyped-def]
    now = utc_now()
    async with sessions() as session:
        session.add(Citizen(channel="telegram", channel_user_id=str(user_id), area_code=area, consent_at=now, locale="vi",
                            display_name=name, subscribed=True, created_at=now, last_seen_at=now))
        await session.commit()


async def test_asked_supported_ranked_answered_and_delivered(settings, tg, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(telegram_settings(settings, tg)))
    dialogue_id = await _stored_dialogue(sessions, COMMUNE)
    for user_id, area, name in ((501, COMMUNE, "Nguyễn Thị Hỏi"), (502, COMMUNE, "Trần Văn Ủng"), (503, OTHER_COMMUNE, "Lê Văn Khác")):
        await _telegram_citizen(sessions, user_id, area, name)
    asker, supporter, stranger = TelegramDriver(tg, user_id=501), TelegramDriver(tg, user_id=502), TelegramDriver(tg, user_id=503)

    await asker.send("/doithoai")
    await asker.press("Vay vốn cho hộ cận nghèo")
    await asker.press("Gửi câu hỏi")
    await asker.send("Khi nào xã rà soát lại hộ cận nghèo?")
    await supporter.send("/doithoai")
    await supporter.act(f"dlg:ask:{dialogue_id}")
    await supporter.send("Thủ tục vay vốn làm ở đâu?")
    await asker.act(f"dlg:ask:{dialogue_id}")
    await asker.send("Có lớp học nghề miễn phí không?")

    await supporter.send("/doithoai")
    await supporter.press("Vay vốn cho hộ cận nghèo")
    await supporter.press("Câu hỏi của bà con")
    listing = supporter.last[-1].text
    assert "Khi nào xã rà soát lại hộ cận nghèo?" in listing and "(câu hỏi của bà con)" in listing
    assert "Nguyễn Thị Hỏi" not in joined(supporter.last)
    await supporter.press("Ủng hộ câu 1")
    assert "đã ghi nhận" in supporter.last[-1].text
    ranked = supporter.last[-1].text
    assert ranked.index("Khi nào xã rà soát") < ranked.index("Thủ tục vay vốn")
    await supporter.press("Ủng hộ câu 1")
    assert "đã ủng hộ câu hỏi này rồi" in supporter.last[-1].text

    await stranger.send("/doithoai")
    assert "chưa có buổi đối thoại" in joined(stranger.last)
    await stranger.act(f"dlg:questions:{dialogue_id}")
    assert "Khi nào xã" not in joined(stranger.last) and "hết hạn" in joined(stranger.last)

    await add_staff(sessions, "hoaphu", StaffRole.commune, COMMUNE)
    xa = await sign_in(client, "hoaphu")
    html = await xa.page(f"/admin/dialogues/{dialogue_id}")
    assert html.index("Khi nào xã rà soát") < html.index("Thủ tục vay vốn") < html.index("Có lớp học nghề")
    async with sessions() as session:
        tickets = {t.body: t for t in (await session.exec(select(Ticket))).all()}
    first, hidden = tickets["Khi nào xã rà soát lại hộ cận nghèo?"], tickets["Có lớp học nghề miễn phí không?"]
    assert (await xa.post(f"/admin/dialogues/{dialogue_id}/questions/{hidden.id}/visibility", {"published": "0"})).status == 303
    await supporter.act(f"dlg:questions:{dialogue_id}")
    assert "Có lớp học nghề" not in joined(supporter.last) and "Thủ tục vay vốn" in joined(supporter.last)

    answer = "Xã rà soát hộ cận nghèo từ tháng 9 đến tháng 12 hằng năm."
    assert (await xa.post(f"/admin/dialogues/{dialogue_id}/questions/{first.id}/answer", {"answer": answer})).status == 303
    start = tg.mark()
    published = await xa.post(f"/admin/dialogues/{dialogue_id}/publish", {"summary": "Buổi đối thoại trả lời 1 câu hỏi.", "voters": "1"})
    assert published.status == 303
    to_asker = await tg.wait_for(lambda s: str(s.chat_id) == "501" and answer in (s.text or ""), timeout=15, start=start)
    assert first.code in to_asker.text and "Khi nào xã rà soát" in to_asker.text
    to_supporter = await tg.wait_for(lambda s: str(s.chat_id) == "502" and answer in (s.text or ""), timeout=15, start=start)
    assert "đã ủng hộ" in to_supporter.text
    assert not [s for s in tg.sent[start:] if str(s.chat_id) == "503"]
    async with sessions() as session:
        dialogue = await session.get(Dialogue, dialogue_id)
        statuses = {t.body: t.status for t in (await session.exec(select(Ticket))).all()}
        actions = [e.action for e in (await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()]
    assert dialogue.status == DialogueStatus.answered and dialogue.summary == "Buổi đối thoại trả lời 1 câu hỏi."
    assert statuses == {first.body: TicketStatus.answered, "Thủ tục vay vốn làm ở đâu?": "new", hidden.body: "new"}
    assert actions[-3:] == ["dialogue.question.hide", "dialogue.answer", "dialogue.publish"]
    again = await xa.post(f"/admin/dialogues/{dialogue_id}/publish", {"summary": "lần hai"})
    assert again.headers["Location"].endswith("message=published")


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


async def test_after_the_deadline_questions_are_politely_refused(sessions, services) -> None:
    clock = Clock()
    citizen = InMemoryChannel(Engine(sessions, build_router(), services, clock=clock))
    dialogue_id = await _stored_dialogue(sessions, PROVINCE, days=3, close_days=1)
    await citizen.act(f"dlg:ask:{dialogue_id}")
    assert "gõ câu hỏi" in citizen.text()
    clock.now += timedelta(days=2)
    await citizen.send("Câu hỏi gửi muộn")
    assert "đã hết hạn nhận câu hỏi" in citizen.text()
    await citizen.act(f"dlg:show:{dialogue_id}")
    assert "Gửi câu hỏi" not in citizen.labels() and "đã hết hạn nhận câu hỏi" in citizen.text()
    await citizen.act(f"dlg:ask:{dialogue_id}")
    assert "đã hết hạn nhận câu hỏi" in citizen.text()
    async with sessions() as session:
        assert (await session.exec(select(Ticket))).all() == []


async def test_cancel_and_a_stale_prompt_send_nothing(citizen, sessions) -> None:
    dialogue_id = await _stored_dialogue(sessions, PROVINCE)
    await citizen.act(f"dlg:ask:{dialogue_id}")
    await citizen.press("✖")
    assert "chưa được gửi" in citizen.text()
    await citizen.act(f"dlg:ask:{dialogue_id}")
    await citizen.act("menu:stories")  # other buttons in between: the next text is a question to the bot
    await citizen.send("chuan ngheo hien nay la bao nhieu")
    assert "1.500.000" in citizen.text()
    await citizen.act("dlg:show:999999")
    assert "hết hạn" in citizen.text()
    async with sessions() as session:
        assert (await session.exec(select(Ticket))).all() == []


# --- dashboard ------------------------------------------------------------------------------------


def _form(**changes: str) -> dict[str, str]:
    later = utc_now() + timedelta(days=10)
    form = {"topic_vi": "Chính sách nhà ở cho hộ nghèo", "topic_en": "Housing support for poor households",
            "day": later.date().isoformat(), "time": "08:00", "close_day": (later - timedelta(days=2)).date().isoformat(),
            "close_time": "17:00", "officials": "Phó Chủ tịch UBND xã", "place": "Hội trường UBND xã", "area": COMMUNE,
            "announce": "1"}
    form.update(changes)
    return form


async def test_announcing_scope_csrf_and_bad_input(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "hoaphu", StaffRole.commune, COMMUNE)
    xa = await sign_in(client, "hoaphu")
    assert "Thông báo buổi đối thoại" in await xa.page("/admin/dialogues/new")
    assert (await xa.post("/admin/dialogues/new", _form(), csrf=False)).status == 403

    for changes, message in (
        ({"topic_vi": " "}, "Hãy nhập chủ đề bằng tiếng Việt"),
        ({"day": "2020-01-01"}, "phải ở tương lai"),
        ({"close_day": "nope"}, "hết hạn nhận câu hỏi"),
        ({"close_day": (utc_now() + timedelta(days=30)).date().isoformat()}, "không muộn hơn giờ bắt đầu"),
        ({"place": "", "online_url": ""}, "địa điểm hoặc đường dẫn"),
        ({"online_url": "javascript:alert(1)"}, "https://"),
        ({"area": "66"}, "chỉ được thông báo đối thoại cho xã của mình"),
    ):
        response = await xa.post("/admin/dialogues/new", _form(**changes))
        assert response.status == 400 and message in await response.text(), changes
    async with sessions() as session:
        assert (await session.exec(select(Dialogue))).all() == []

    created = await xa.post("/admin/dialogues/new", _form())
    assert created.status == 303
    page = await xa.page(created.headers["Location"])
    assert "Chính sách nhà ở cho hộ nghèo" in page and "Đã thông báo buổi đối thoại" in page
    async with sessions() as session:
        dialogue = (await session.exec(select(Dialogue))).one()
        notice = (await session.exec(select(Broadcast))).one()
        audit = [(e.action, e.object_id) for e in (await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()]
    assert (dialogue.area_code, dialogue.officials, dialogue.author) == (COMMUNE, "Phó Chủ tịch UBND xã", "hoaphu")
    assert notice.target["areas"] == [COMMUNE] and notice.buttons[0][0]["action"] == f"dlg:ask:{dialogue.id}"
    assert notice.buttons[0][0]["labels"] == {"vi": "✍️ Gửi câu hỏi", "en": "✍️ Send a question"}
    assert "Chính sách nhà ở cho hộ nghèo" in notice.texts["vi"] and "Housing support" in notice.texts["en"]
    assert ("dialogue.create", str(dialogue.id)) in audit and ("broadcast.create", str(notice.id)) in audit


async def test_other_communes_staff_get_404_and_province_staff_announce_province_wide(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    dialogue_id = await _stored_dialogue(sessions, COMMUNE)
    async with sessions() as session:
        asker = await _citizen(session, "77", COMMUNE)
        dialogue = await session.get(Dialogue, dialogue_id)
        question = await _question(session, dialogue, asker, "Câu hỏi của xã Hòa Phú")
        await session.commit()
    await add_staff(sessions, "bmt", StaffRole.commune, OTHER_COMMUNE)
    other = await sign_in(client, "bmt")
    assert (await other.get(f"/admin/dialogues/{dialogue_id}")).status == 404
    assert "Vay vốn cho hộ cận nghèo" not in await other.page("/admin/dialogues")
    base = f"/admin/dialogues/{dialogue_id}"
    for path, form in ((f"{base}/questions/{question.ticket_id}/visibility", {"published": "0"}),
                       (f"{base}/questions/{question.ticket_id}/answer", {"answer": "x"}),
                       (f"{base}/publish", {"summary": "x"})):
        assert (await other.post(path, form)).status == 404, path
    async with sessions() as session:
        row = await session.get(DialogueQuestion, question.ticket_id)
    assert row.published and row.answer is None

    await add_staff(sessions, "lan", StaffRole.province)
    lan = await sign_in(client, "lan")
    listing = await lan.page("/admin/dialogues")
    assert "Vay vốn cho hộ cận nghèo" in listing
    html = await lan.page(base)
    assert "Câu hỏi của xã Hòa Phú" in html and "Nguyễn Văn 77" not in html
    assert (await lan.post("/admin/dialogues/new", _form(area="99999"))).status == 400
    assert (await lan.post("/admin/dialogues/new", _form(area=PROVINCE, announce=""))).status == 303
    assert (await lan.post(f"{base}/publish", {"summary": "Tóm tắt"})).headers["Location"].endswith("message=incomplete")
    too_long = await lan.post(f"{base}/questions/{question.ticket_id}/answer", {"answer": "x" * 5000})
    assert too_long.headers["Location"].endswith("message=too-long")
    async with sessions() as session:
        wide = (await session.exec(select(Dialogue).where(Dialogue.area_code == PROVINCE))).one()
        assert (await session.exec(select(Broadcast))).all() == []
        assert (await session.exec(select(OutboxMessage))).all() == []
    assert wide.topics["en"] == "Housing support for poor households"

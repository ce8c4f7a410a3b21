"""Web chat identities issued by the server (signed, renewed with use, ended by inactivity), the old
unsigned cookies of known citizens, and the limits per client address that stop one client posing as
many visitors: the attack of 7 reports, 15 supports and 12 votes, replayed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import ClientResponse, FormData
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from bot.app import create_app
from bot.channels.webchat import COOKIE
from storage import address_limits, dialogues
from storage import tickets as ticket_repo
from storage.db import SessionFactory
from storage.models import AddressCount, Citizen, DialogueQuestion, OutboxMessage, PollAnswer, StaffRole, Ticket
from tests.dashboard import COMMUNE, add_staff, sign_in
from tests.test_polls import Clock, new_poll, tick
from tests.test_webchat_media import png

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 in Đắk Lắk
ATTACKER = "203.0.113.7"
NEIGHBOUR = "198.51.100.9"
SECRET = b"test-secret-key"  # the settings fixture's SECRET_KEY


def legacy_user_id(token: str) -> str:
    """What the unsigned cookies of earlier versions were stored as: a keyed hash of the token."""
    return hmac.new(SECRET, token.encode(), hashlib.sha256).hexdigest()[:40]


async def post(client: TestClient, body: dict, *, cookie: str | None = None, address: str = ATTACKER) -> ClientResponse:
    """One post to the web chat with exactly this cookie (or none), from this client address."""
    client.session.cookie_jar.clear()
    headers = {"X-Forwarded-For": address, "Accept-Language": "vi"}
    if cookie is not None:
        headers["Cookie"] = f"{COOKIE}={cookie}"
    return await client.post("/chat/api/messages", json=body, headers=headers)


def issued(response: ClientResponse) -> str | None:
    """The identity cookie the response sets, if any."""
    morsel = response.cookies.get(COOKIE)
    return morsel.value if morsel is not None else None


async def text_of(response: ClientResponse) -> str:
    data = await response.json()
    return "\n".join(reply["text"] for reply in data["replies"]) if "replies" in data else data["error"]


async def webchat_citizens(sessions: SessionFactory) -> list[Citizen]:
    async with sessions() as session:
        return list((await session.exec(select(Citizen).where(Citizen.channel == "webchat").order_by(col(Citizen.id)))).all())


async def known_citizens(sessions: SessionFactory, count: int, *, consent: bool = True) -> list[str]:
    """Web chat citizens of COMMUNE from before cookies were signed: their old cookie values."""
    tokens = [secrets.token_urlsafe(24) for _ in range(count)]
    async with sessions() as session:
        session.add_all(Citizen(channel="webchat", channel_user_id=legacy_user_id(token), area_code=COMMUNE, locale="vi",
                                consent_at=T0 if consent else None, created_at=T0, last_seen_at=T0) for token in tokens)
        await session.commit()
    return tokens


# --- identities ----------------------------------------------------------------------------------


async def test_a_forged_tampered_unknown_or_expired_cookie_gets_a_new_identity(settings, aiohttp_client, sessions) -> None:
    clock = Clock(T0)
    client = await aiohttp_client(create_app(settings, clock=clock))
    first = await post(client, {"text": "/menu"})
    cookie = issued(first)
    assert cookie is not None and cookie.count(".") == 2
    again = await post(client, {"text": "/menu"}, cookie=cookie)
    assert again.status == 200 and issued(again) is None  # a valid cookie, not yet due for renewal
    assert len(await webchat_citizens(sessions)) == 1

    token, stamp, signature = cookie.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    forged = [
        f"{token}.{stamp}.{flipped}",  # a changed signature
        f"{secrets.token_urlsafe(24)}.{stamp}.{signature}",  # another token under this signature
        f"{token}.{int(stamp) + 86400 * 30}.{signature}",  # a later stamp
        secrets.token_urlsafe(24),  # an unsigned value no citizen has
        "x" * 150,
        "",
    ]
    for value in forged:
        for _ in range(2):  # the same made-up value twice is two strangers, never one identity the server did not issue
            response = await post(client, {"text": "/menu"}, cookie=value)
            assert response.status == 200, value
            new = issued(response)
            assert new is not None and new != value and new.split(".")[0] != token, value
    people = await webchat_citizens(sessions)
    assert len(people) == 1 + 2 * len(forged) and len({p.channel_user_id for p in people}) == len(people)
    assert all(person.channel_user_id not in {legacy_user_id(value) for value in forged} for person in people)

    async with sessions() as session:
        session.add(OutboxMessage(citizen_id=people[0].id, channel="webchat", chat_id=people[0].channel_user_id,
                                  payload={"text": "Cán bộ xã đã trả lời"}, next_attempt_at=T0, created_at=T0))
        await session.commit()
    clock.now = T0 + timedelta(days=settings.webchat_identity_idle_days)  # never used since
    updates = await client.post("/chat/api/updates", json={}, headers={"Cookie": f"{COOKIE}={cookie}"})
    assert (await updates.json())["replies"] == [], "an expired cookie reads nobody's messages"
    expired = await post(client, {"text": "/menu"}, cookie=cookie)
    assert expired.status == 200 and issued(expired) not in (None, cookie)
    assert len(await webchat_citizens(sessions)) == len(people) + 1


async def test_the_cookie_is_renewed_with_use_and_the_citizen_keeps_their_conversation(settings, aiohttp_client, sessions) -> None:
    clock = Clock(T0)
    client = await aiohttp_client(create_app(settings, clock=clock))
    cookie = issued(await post(client, {"text": "/start"}))
    assert cookie is not None
    assert "ngôn ngữ nào" in await text_of(await post(client, {"action": "consent:yes"}, cookie=cookie))
    values = [cookie]
    for days in (2, 150, 300, 450):  # each use within WEBCHAT_IDENTITY_IDLE_DAYS (180) of the last renewal
        clock.now = T0 + timedelta(days=days)
        response = await post(client, {"text": "/menu"}, cookie=values[-1])
        renewed = issued(response)
        assert response.status == 200 and renewed is not None and renewed != values[-1], days
        assert renewed.split(".")[0] == cookie.split(".")[0]
        values.append(renewed)
    [citizen] = await webchat_citizens(sessions)
    assert citizen.consent_at is not None and cookie.split(".")[0] not in citizen.channel_user_id
    page = await client.get("/chat", headers={"Cookie": f"{COOKIE}={values[-1]}"})
    assert issued(page) is None, "renewed at most once a day"
    clock.now += timedelta(days=1, minutes=1)
    page = await client.get("/chat", headers={"Cookie": f"{COOKIE}={values[-1]}"})
    assert issued(page) not in (None, values[-1]), "the page renews it too"
    assert len(await webchat_citizens(sessions)) == 1


async def test_an_old_cookie_of_an_existing_citizen_keeps_working_and_an_unknown_one_does_not(settings, aiohttp_client, sessions) -> None:
    [token] = await known_citizens(sessions, 1)
    [citizen] = await webchat_citizens(sessions)
    async with sessions() as session:
        session.add(OutboxMessage(citizen_id=citizen.id, channel="webchat", chat_id=citizen.channel_user_id,
                                  payload={"text": "Cán bộ xã đã trả lời"}, next_attempt_at=T0, created_at=T0))
        await session.commit()
    client = await aiohttp_client(create_app(settings, clock=Clock(T0)))
    updates = await client.post("/chat/api/updates", json={}, headers={"Cookie": f"{COOKIE}={token}"})
    assert [reply["text"] for reply in (await updates.json())["replies"]] == ["Cán bộ xã đã trả lời"]
    upgraded = issued(updates)
    assert upgraded is not None and upgraded.startswith(token + "."), "re-issued signed, same token"
    response = await post(client, {"text": "/menu"}, cookie=token)
    assert response.status == 200 and (issued(response) or "").startswith(token + ".")
    assert (await post(client, {"text": "/menu"}, cookie=upgraded)).status == 200
    assert [c.id for c in await webchat_citizens(sessions)] == [citizen.id]

    stranger = secrets.token_urlsafe(24)
    response = await post(client, {"text": "/menu"}, cookie=stranger)
    assert response.status == 200 and not (issued(response) or stranger).startswith(stranger)
    people = await webchat_citizens(sessions)
    assert len(people) == 2 and legacy_user_id(stranger) not in {p.channel_user_id for p in people}
    quiet = await client.post("/chat/api/updates", json={}, headers={"Cookie": f"{COOKIE}={stranger}"})
    assert (await quiet.json())["replies"] == []


async def test_photo_uploads_read_the_identity_the_same_way(settings, aiohttp_client, sessions) -> None:
    [token] = await known_citizens(sessions, 1)
    client = await aiohttp_client(create_app(settings, clock=Clock(T0)))

    async def upload(cookie: str) -> ClientResponse:
        client.session.cookie_jar.clear()
        form = FormData()
        form.add_field("photo", png(), filename="photo.png", content_type="image/png")
        return await client.post("/chat/api/messages", data=form, headers={
            "X-Requested-With": "fetch", "X-Forwarded-For": ATTACKER, "Cookie": f"{COOKIE}={cookie}"})

    kept = await upload(token)
    assert kept.status == 200 and (issued(kept) or "").startswith(token + ".")
    assert len(await webchat_citizens(sessions)) == 1
    forged = await upload(f"{token}.{int(T0.timestamp())}.{'A' * 43}")
    assert forged.status == 200 and not (issued(forged) or token).startswith(token)
    assert len(await webchat_citizens(sessions)) == 2


# --- limits per client address ------------------------------------------------------------------


async def test_a_client_changing_its_cookie_cannot_start_more_identities_than_its_address_may(settings, aiohttp_client, sessions) -> None:
    clock = Clock(T0)
    limited = settings.model_copy(update={"webchat_identities_per_hour": 4, "webchat_identities_per_day": 6, "flood_burst": 0})
    client = await aiohttp_client(create_app(limited, clock=clock))
    statuses = [(await post(client, {"text": "/menu"}, cookie=secrets.token_urlsafe(24))).status for _ in range(6)]
    assert statuses == [200] * 4 + [429] * 2
    refused = await post(client, {"text": "xin chào"})
    assert refused.status == 429 and issued(refused) is None
    assert "cùng mạng Internet" in await text_of(refused) and "Thử lại" in await text_of(refused)
    assert len(await webchat_citizens(sessions)) == 4
    assert (await post(client, {"text": "/menu"}, address=NEIGHBOUR)).status == 200, "other addresses are not held back"
    for address in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2::77"):  # one IPv6 household, /64
        await post(client, {"text": "/menu"}, address=address)
    assert (await post(client, {"text": "/menu"}, address="2001:db8:1:2::5")).status == 200
    assert (await post(client, {"text": "/menu"}, address="2001:db8:1:2::6")).status == 429

    clock.now = T0 + timedelta(hours=1)  # the next hour has room, up to the day's limit of 6
    statuses = [(await post(client, {"text": "/menu"})).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert len(await webchat_citizens(sessions)) == 4 + 1 + 4 + 2


async def report(client: TestClient, cookie: str | None, address: str = ATTACKER) -> tuple[str | None, str]:
    """A whole report to Hòa Phú's inbox, under this cookie (a new identity when None): the cookie
    used and the last answer."""
    response = await post(client, {"text": "/phananh"}, cookie=cookie, address=address)
    cookie = issued(response) or cookie
    for step in ({"action": "fb:kind:complaint"}, {"action": "fb:topic:other"},
                 {"text": "Nhà tôi thiếu 3 chỉ số nhưng không được đưa vào danh sách hộ nghèo năm nay."},
                 {"action": "fb:photos:done"}, {"action": "fb:location:skip"}, {"action": f"fb:area:{COMMUNE}"},
                 {"action": "fb:identity:anonymous"}, {"action": "fb:submit"}):
        response = await post(client, step, cookie=cookie, address=address)
        assert response.status == 200, (step, await response.text())
    return cookie, await text_of(response)


async def tickets_of(sessions: SessionFactory) -> list[Ticket]:
    async with sessions() as session:
        return list((await session.exec(select(Ticket).order_by(col(Ticket.id)))).all())


async def test_seven_reports_from_one_client_with_a_new_cookie_each_stop_at_the_address_limit(settings, aiohttp_client, sessions) -> None:
    clock = Clock(T0)
    client = await aiohttp_client(create_app(settings.model_copy(update={"flood_burst": 0}), clock=clock))
    answers = [await report(client, None) for _ in range(7)]
    assert all("Mã tra cứu: PA-" in text for _, text in answers[:5])
    held_cookie, held = answers[5]
    assert "cùng mạng Internet" in held and "UBND xã" in held and "📨 Gửi" in held and "Mã tra cứu" not in held
    assert "Nhà tôi thiếu 3 chỉ số" in held, "the report is kept, its summary shown again"
    found = await tickets_of(sessions)
    assert len(found) == 5 and {t.area_code for t in found} == {COMMUNE}
    assert "Mã tra cứu: PA-" in (await report(client, None, NEIGHBOUR))[1], "another address is not held back"

    clock.now = T0 + timedelta(hours=1)
    resent = await post(client, {"action": "fb:submit"}, cookie=held_cookie)
    assert "Mã tra cứu: PA-" in await text_of(resent), "sent as it was, an hour later"
    assert len(await tickets_of(sessions)) == 7


async def test_fifteen_supports_of_one_question_stop_at_the_address_limit_and_the_dashboard_marks_them(
    settings, aiohttp_client, sessions,
) -> None:
    clock = Clock(T0)
    client = await aiohttp_client(create_app(settings, clock=clock))
    async with sessions() as session:
        dialogue = await dialogues.create_dialogue(
            session, topics={"vi": "Vay vốn cho hộ cận nghèo"}, held_at=T0 + timedelta(days=7),
            questions_close_at=T0 + timedelta(days=6), area_code=COMMUNE, officials="Chủ tịch UBND xã", place="Hội trường", now=T0,
        )
        asker = Citizen(channel="telegram", channel_user_id="77", area_code=COMMUNE, consent_at=T0, created_at=T0, last_seen_at=T0)
        supporter = Citizen(channel="telegram", channel_user_id="78", area_code=COMMUNE, consent_at=T0, created_at=T0, last_seen_at=T0)
        session.add_all([asker, supporter])
        await session.flush()
        ticket = await ticket_repo.create_ticket(
            session, citizen_id=asker.id, kind="question", topic=dialogues.TICKET_TOPIC, body="Vay bao nhiêu?",
            area_code=COMMUNE, anonymous=False, reporter_name=None, locale="vi", now=T0, due_at=T0 + timedelta(days=3),
        )
        await dialogues.add_question(session, dialogue, ticket)
        await dialogues.vote(session, ticket.id, supporter.id, T0)  # type: ignore[arg-type]
        await session.commit()
        dialogue_id, ticket_id = dialogue.id, ticket.id
    texts = [await text_of(await post(client, {"action": f"dlg:vote:{dialogue_id}:{ticket_id}"}, cookie=token))
             for token in await known_citizens(sessions, 15)]
    assert sum("đã ghi nhận sự ủng hộ" in text for text in texts) == 5
    assert all("lượt ủng hộ từ cùng mạng Internet" in text for text in texts[5:])
    async with sessions() as session:
        assert (await session.get(DialogueQuestion, ticket_id)).votes == 1 + 5  # type: ignore[union-attr]

    await add_staff(sessions, "lan", StaffRole.admin)
    staff = await sign_in(client, "lan")
    page = await staff.page(f"/admin/dialogues/{dialogue_id}")
    assert "👍 6</strong>" in page and "trong đó 5 từ trò chuyện trên web (ẩn danh)" in page


async def test_twelve_votes_in_one_poll_stop_at_the_address_limit_and_the_dashboard_marks_them(
    settings, aiohttp_client, sessions, services,
) -> None:
    clock = Clock(T0)
    client = await aiohttp_client(create_app(settings, clock=clock))
    poll_id = await new_poll(sessions)
    await tick(sessions, services, T0)
    tokens = await known_citizens(sessions, 12)
    texts = [await text_of(await post(client, {"action": f"poll:pick:{poll_id}:1"}, cookie=token)) for token in tokens]
    assert sum("Bà con đã chọn “Buổi tối”" in text for text in texts) == 5
    assert all("nhiều ý kiến từ cùng mạng Internet" in text for text in texts[5:])
    changed = await text_of(await post(client, {"action": f"poll:pick:{poll_id}:0"}, cookie=tokens[0]))
    assert "đã đổi" in changed, "changing one's answer is not a new vote"
    async with sessions() as session:
        rows = (await session.exec(select(PollAnswer).where(PollAnswer.poll_id == poll_id))).all()
    assert len(rows) == 5 and {row.channel for row in rows} == {"webchat"}

    await add_staff(sessions, "lan", StaffRole.admin)
    staff = await sign_in(client, "lan")
    page = await staff.page(f"/admin/polls/{poll_id}")
    assert "trong đó 5 từ trò chuyện trên web (ẩn danh)" in page
    assert "một người có thể được tính nhiều lần" in page
    english = await staff.page(f"/admin/polls/{poll_id}?lang=en")
    assert "of which 5 from the web chat (anonymous)" in english


async def test_a_question_held_back_by_the_address_limit_is_kept_and_sent_again_later(settings, aiohttp_client, sessions) -> None:
    clock = Clock(T0)
    limited = settings.model_copy(update={"webchat_reports_per_hour": 1})
    client = await aiohttp_client(create_app(limited, clock=clock))
    async with sessions() as session:
        dialogue = await dialogues.create_dialogue(
            session, topics={"vi": "Vay vốn"}, held_at=T0 + timedelta(days=7), questions_close_at=T0 + timedelta(days=6),
            area_code=COMMUNE, now=T0,
        )
        await session.commit()
    first, second = await known_citizens(sessions, 2)
    for token, question in ((first, "Hộ cận nghèo vay được bao nhiêu?"), (second, "Lãi suất cho hộ mới thoát nghèo là bao nhiêu?")):
        await post(client, {"action": f"dlg:ask:{dialogue.id}"}, cookie=token)
        answer = await text_of(await post(client, {"text": question}, cookie=token))
    assert "Câu hỏi vẫn được giữ" in answer and "📨 Gửi lại" in answer
    assert [t.body for t in await tickets_of(sessions)] == ["Hộ cận nghèo vay được bao nhiêu?"]
    clock.now = T0 + timedelta(hours=1)
    answer = await text_of(await post(client, {"action": f"dlg:resend:{dialogue.id}"}, cookie=second))
    assert "đã được tiếp nhận" in answer
    assert [t.body for t in await tickets_of(sessions)][-1] == "Lãi suất cho hộ mới thoát nghèo là bao nhiêu?"


# --- the counts, on SQLite and PostgreSQL ---------------------------------------------------------


async def test_counts_per_hour_and_day_never_pass_the_limit_and_are_pruned(db_sessions: SessionFactory) -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    limit = address_limits.Limit(per_hour=2, per_day=3)

    async def take(at: datetime, address: str = "a1") -> bool:
        async with db_sessions() as session:
            taken = await address_limits.take(session, address, address_limits.REPORT, limit, now=at, tz=tz)
            await session.commit()
            return taken

    assert [await take(T0) for _ in range(3)] == [True, True, False]
    assert await take(T0, "a2"), "another address has its own count"
    assert [await take(T0 + timedelta(hours=1)) for _ in range(2)] == [True, False], "the day's limit of 3"
    async with db_sessions() as session:
        rows = {(row.period, row.count) for row in (await session.exec(select(AddressCount).where(AddressCount.address == "a1"))).all()}
    assert rows == {("h2026030203", 2), ("h2026030204", 1), ("d20260302", 3)}, "a refusal counts nothing"
    next_day = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # midnight in Đắk Lắk
    assert await take(next_day)
    async with db_sessions() as session:
        await address_limits.prune(session, next_day)
        await session.commit()
        left = {row.period for row in (await session.exec(select(AddressCount).where(AddressCount.address == "a1"))).all()}
    assert left == {"h2026030217", "d20260303"}


async def test_a_self_check_request_counts_as_a_report_of_its_address_and_waits_when_over(settings, aiohttp_client, sessions) -> None:
    clock = Clock(T0)
    client = await aiohttp_client(create_app(settings.model_copy(update={"webchat_reports_per_hour": 1}), clock=clock))
    first, second = await known_citizens(sessions, 2)
    answers = []
    for token in (first, second):
        for text in ("/tukiemtra", "ea kao", "4 người", "ca nha mot thang", "3tr2", "de nghi ra soat", "gui"):
            response = await post(client, {"text": text}, cookie=token)
        answers.append(await text_of(response))
    assert "Mã tra cứu: PA-" in answers[0]
    assert "cùng mạng Internet" in answers[1] and "📨 Gửi đề nghị" in answers[1] and "Mã tra cứu" not in answers[1]
    assert len(await tickets_of(sessions)) == 1
    clock.now = T0 + timedelta(hours=1)
    assert "Mã tra cứu: PA-" in await text_of(await post(client, {"text": "gui"}, cookie=second)), "kept, sent later"
    assert len(await tickets_of(sessions)) == 2

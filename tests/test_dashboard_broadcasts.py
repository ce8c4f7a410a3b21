"""Dashboard notices: compose with a live count, area scope, validation, progress, cancel, campaigns."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import FormData
from sqlmodel import select

from bot.app import create_app
from handlers.engine import utc_now
from handlers.notices import queue_due
from storage import broadcasts
from storage.models import AuditEntry, Broadcast, Citizen, OutboxMessage, StaffRole
from tests.dashboard import COMMUNE, OTHER_COMMUNE, add_staff, sign_in

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PEOPLE = [
    # chat id, commune, household, locale, subscribed
    (901, COMMUNE, "poor", "vi", True),
    (902, COMMUNE, "poor", "en", True),
    (903, COMMUNE, "near_poor", "vi", True),
    (904, COMMUNE, "poor", "vi", False),
    (905, OTHER_COMMUNE, "poor", "vi", True),
    (906, OTHER_COMMUNE, "escaped", None, True),
]
NOTICE = {"text_vi": "Họp dân lúc 8 giờ sáng Chủ nhật tại nhà văn hóa thôn.", "action": "send", "when": "now"}


async def add_people(sessions, people=PEOPLE) -> None:  # type: ignore[no-untyped-def]
    """Consenting citizens on Telegram."""
    now = utc_now()
    async with sessions() as session:
        for chat, area, status, locale, subscribed in people:
            session.add(Citizen(channel="telegram", channel_user_id=str(chat), area_code=area, household_status=status,
                                locale=locale, subscribed=subscribed, consent_at=now, created_at=now, last_seen_at=now))
        await session.commit()


async def signed_in(settings, aiohttp_client, sessions, username, role, area=None, clock=utc_now):  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(settings, clock=clock))
    await add_staff(sessions, username, role, area)
    return await sign_in(client, username)


async def stored(sessions) -> list[Broadcast]:  # type: ignore[no-untyped-def]
    """Broadcasts written by staff (not those a campaign catching up at start-up made)."""
    async with sessions() as session:
        return list((await session.exec(select(Broadcast).where(Broadcast.campaign == None).order_by(Broadcast.id))).all())  # noqa: E711


async def audit_of(sessions, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return list((await session.exec(select(AuditEntry).where(AuditEntry.action == action))).all())


def with_photo(fields: dict, photo: bytes) -> FormData:
    """A multipart form with a photo file."""
    form = FormData()
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            form.add_field(name, item)
    form.add_field("photo", photo, filename="photo.png", content_type="image/png")
    return form


def error_text(html: str) -> str:
    found = re.search(r'<div class="error" role="alert">(.*?)</div>', html, re.S)
    return found[1] if found else ""


async def test_the_count_follows_the_target_exactly(settings, aiohttp_client, sessions) -> None:
    await add_people(sessions)
    lan = await signed_in(settings, aiohttp_client, sessions, "lan", StaffRole.province)
    cases = [
        ("province=1", 5),
        (f"area={COMMUNE}", 3),
        (f"area={COMMUNE}&status=poor", 2),
        (f"area={COMMUNE}&status=poor&locale=en", 1),
        (f"area={COMMUNE}&area={OTHER_COMMUNE}&status=poor&status=escaped", 4),
        ("group=Th%C3%A0nh%20ph%E1%BB%91%20Bu%C3%B4n%20Ma%20Thu%E1%BB%99t&locale=vi", 4),  # both communes were in it
        ("group=Huy%E1%BB%87n%20L%E1%BA%AFk", 0),
        ("area=24169&status=poor", 0),
    ]
    for query, expected in cases:
        response = await lan.get(f"/admin/broadcasts/count?{query}")
        body = await response.json()
        assert response.status == 200 and body["count"] == expected, (query, body)
    assert body["text"] == "Số người nhận: 0 người dân đã đăng ký nhận tin"


async def test_the_count_explains_a_bad_target(settings, aiohttp_client, sessions) -> None:
    lan = await signed_in(settings, aiohttp_client, sessions, "lan", StaffRole.province)
    for query, message in [("", "Hãy chọn cả tỉnh"), ("area=99999", "Không rõ xã"), ("status=rich", "Không rõ diện hộ"),
                           ("group=Nowhere", "Không rõ xã")]:
        response = await lan.get(f"/admin/broadcasts/count?{query}")
        body = await response.json()
        assert response.status == 400 and body["count"] is None and message in body["error"], (query, body)


async def test_a_commune_officer_counts_and_sends_only_to_their_commune(settings, aiohttp_client, sessions) -> None:
    await add_people(sessions)
    xa = await signed_in(settings, aiohttp_client, sessions, "hoaphu", StaffRole.commune, COMMUNE)
    html = await xa.page("/admin/broadcasts/new")
    assert f'name="area" value="{COMMUNE}"' in html and 'name="province"' not in html and "Hòa Phú" in html
    assert (await (await xa.get("/admin/broadcasts/count")).json())["count"] == 3
    refused = await xa.get(f"/admin/broadcasts/count?area={OTHER_COMMUNE}")
    assert refused.status == 400 and "chỉ được gửi thông báo tới xã của mình" in (await refused.json())["error"]
    for sneaky in ({"area": OTHER_COMMUNE}, {"province": "1"}, {"group": "Thành phố Buôn Ma Thuột"}):
        response = await xa.post("/admin/broadcasts/new", {**NOTICE, **sneaky})
        assert response.status == 400 and "chỉ được gửi thông báo tới xã của mình" in error_text(await response.text())
    assert await stored(sessions) == []
    response = await xa.post("/admin/broadcasts/new", {**NOTICE, "area": COMMUNE, "status": "poor"})
    assert response.status == 303
    [broadcast] = await stored(sessions)
    assert response.headers["Location"] == f"/admin/broadcasts/{broadcast.id}?created=1"
    assert broadcast.target == {"areas": [COMMUNE], "statuses": ["poor"], "locales": []}
    assert broadcast.author == "hoaphu" and broadcast.author_staff_id is not None and broadcast.status == "scheduled"
    [entry] = await audit_of(sessions, "broadcast.create")
    assert entry.actor == "hoaphu" and entry.object_id == str(broadcast.id)
    assert entry.detail["target"]["areas"] == [COMMUNE] and entry.detail["recipients_now"] == 2
    detail = await xa.page(f"/admin/broadcasts/{broadcast.id}?created=1")
    assert "Họp dân lúc 8 giờ" in detail and "Hộ nghèo" in detail and "đang được gửi" in detail


async def test_a_province_officer_schedules_a_notice_with_english_photo_and_buttons(settings, aiohttp_client, sessions) -> None:
    now = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # 10:00 in Đắk Lắk
    lan = await signed_in(settings, aiohttp_client, sessions, "lan", StaffRole.province, clock=lambda: now)
    html = await lan.page("/admin/broadcasts/new")
    faq_id = re.search(r'<option value="([^"]+)"', html.split('name="faq"')[1])[1]  # type: ignore[index]
    story_id = re.search(r'<option value="([^"]+)"', html.split('name="story"')[1])[1]  # type: ignore[index]
    form = {**NOTICE, "text_en": "Village meeting on Sunday at 8.", "province": "1", "when": "later",
            "day": "2026-11-03", "time": "07:30", "urgent": "1", "faq": faq_id, "story": story_id, "locale": "vi"}
    response = await lan.client.post("/admin/broadcasts/new", data=with_photo({**form, "csrf": lan.csrf}, PNG), allow_redirects=False)
    assert response.status == 303, await response.text()
    [broadcast] = await stored(sessions)
    assert broadcast.send_at == datetime(2026, 11, 3, 7, 30, tzinfo=TZ)
    assert broadcast.urgent and broadcast.texts["en"] == "Village meeting on Sunday at 8."
    assert broadcast.target == {"areas": ["66"], "statuses": [], "locales": ["vi"]}
    assert [row[0]["action"] for row in broadcast.buttons] == [f"faq:show:{faq_id}", f"story:{story_id}"]
    assert broadcast.image and broadcast.image.startswith("media/broadcasts/")
    assert (settings.data_dir / broadcast.image).read_bytes() == PNG
    detail = await lan.page(f"/admin/broadcasts/{broadcast.id}?created=1")
    assert "07:30 03/11/2026" in detail and "Toàn tỉnh" in detail and "Đã hẹn giờ" in detail
    photo = await lan.get(f"/admin/broadcasts/{broadcast.id}/photo")
    assert photo.status == 200 and await photo.read() == PNG


async def test_bad_input_gets_a_clear_message_and_nothing_is_saved(settings, aiohttp_client, sessions) -> None:
    now = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
    lan = await signed_in(settings, aiohttp_client, sessions, "lan", StaffRole.province, clock=lambda: now)
    cases = [
        ({"text_vi": ""}, "Hãy viết thông báo bằng tiếng Việt"),
        ({"text_vi": "x" * 1501}, "tối đa 1.500 ký tự"),
        ({"when": "later", "day": "2026-11-01", "time": "08:00"}, "Thời điểm đó đã qua"),
        ({"when": "later", "day": "", "time": ""}, "Hãy cho biết ngày giờ gửi"),
        ({"when": "later", "day": "2028-01-01", "time": "08:00"}, "tối đa một năm"),
        ({"faq": "no-such-entry"}, "không còn nữa"),
        ({"status": "rich"}, "Không rõ diện hộ"),
        ({"province": ""}, "Hãy chọn cả tỉnh"),
    ]
    for change, message in cases:
        response = await lan.post("/admin/broadcasts/new", {**NOTICE, "province": "1", **change})
        html = await response.text()
        assert response.status == 400 and message in error_text(html), (change, error_text(html))
    too_many = {**NOTICE, "province": "1", "story": ["a", "b"], "faq": ["c", "d"]}
    response = await lan.post("/admin/broadcasts/new", too_many)
    assert "tối đa 3 nút" in error_text(await response.text())
    response = await lan.client.post("/admin/broadcasts/new", allow_redirects=False,
                                     data=with_photo({**NOTICE, "province": "1", "csrf": lan.csrf}, b"GIF89a not a photo"))
    assert response.status == 400 and "JPEG hoặc PNG" in error_text(await response.text())
    assert await stored(sessions) == []


async def test_a_photo_larger_than_a_request_may_be_is_refused_before_reading(settings, aiohttp_client, sessions) -> None:
    lan = await signed_in(settings, aiohttp_client, sessions, "lan", StaffRole.province)
    html = await lan.page("/admin/broadcasts/new")
    limit = int(re.search(r'data-max-bytes="(\d+)"', html)[1])  # type: ignore[index]
    assert 0 < limit <= settings.media_max_bytes
    response = await lan.client.post("/admin/broadcasts/new", allow_redirects=False, data=with_photo(
        {**NOTICE, "province": "1", "csrf": lan.csrf}, PNG + b"\x00" * (limit + 1)))
    assert response.status in (400, 413)
    if response.status == 400:
        assert "Ảnh quá lớn" in error_text(await response.text())
    assert await stored(sessions) == []


async def test_counting_without_javascript_keeps_what_was_typed(settings, aiohttp_client, sessions) -> None:
    await add_people(sessions)
    lan = await signed_in(settings, aiohttp_client, sessions, "lan", StaffRole.province)
    response = await lan.post("/admin/broadcasts/new", {**NOTICE, "action": "count", "area": COMMUNE, "status": "near_poor"})
    html = await response.text()
    assert response.status == 200 and "Số người nhận: 1" in html and "Họp dân lúc 8 giờ" in html
    assert f'value="{COMMUNE}" checked' in html and 'value="near_poor" checked' in html
    assert await stored(sessions) == []


async def test_commune_officers_see_only_notices_aimed_at_their_commune(settings, aiohttp_client, sessions) -> None:
    ids = {}
    async with sessions() as session:
        for name, areas in [("own", [COMMUNE]), ("other", [OTHER_COMMUNE]), ("province", ["66"]), ("both", [COMMUNE, OTHER_COMMUNE])]:
            made = await broadcasts.create_broadcast(session, texts={"vi": f"Tin {name}"}, target={"areas": areas},
                                                     send_at=utc_now(), now=utc_now(), author="lan")
            ids[name] = made.id
        await session.commit()
    xa = await signed_in(settings, aiohttp_client, sessions, "hoaphu", StaffRole.commune, COMMUNE)
    html = await xa.page("/admin/broadcasts")
    assert "Tin own" in html and "Tin other" not in html and "Tin province" not in html and "Tin both" not in html
    await xa.page(f"/admin/broadcasts/{ids['own']}")
    for name in ("other", "province", "both"):
        assert (await xa.get(f"/admin/broadcasts/{ids[name]}")).status == 404
        assert (await xa.get(f"/admin/broadcasts/{ids[name]}/photo")).status == 404
        assert (await xa.post(f"/admin/broadcasts/{ids[name]}/cancel")).status == 404
    for missing in ("99999", "9" * 30):
        assert (await xa.get(f"/admin/broadcasts/{missing}")).status == 404
    assert (await xa.get(f"/admin/broadcasts?before={'9' * 30}")).status == 200
    assert await audit_of(sessions, "broadcast.cancel") == []
    lan_client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "lan", StaffRole.province)
    lan = await sign_in(lan_client, "lan")
    html = await lan.page("/admin/broadcasts")
    assert all(f"Tin {name}" in html for name in ids)


async def test_progress_counts_and_cancel(settings, aiohttp_client, sessions, services) -> None:
    await add_people(sessions)
    lan = await signed_in(settings, aiohttp_client, sessions, "lan", StaffRole.province)
    assert (await lan.post("/admin/broadcasts/new", {**NOTICE, "area": COMMUNE})).status == 303
    [broadcast] = await stored(sessions)
    async with sessions() as session:
        await queue_due(session, services, utc_now() + timedelta(seconds=1))
        first = (await session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast.id))).first()
        first.status = "sent"  # type: ignore[union-attr]
        session.add(first)
        await session.commit()
    html = await lan.page("/admin/broadcasts")
    assert re.search(r'class="s-sent">[^<:]+: 1<', html) and re.search(r'class="s-pending">[^<:]+: 2<', html)
    assert 'max="3" value="1"' in html
    response = await lan.post(f"/admin/broadcasts/{broadcast.id}/cancel")
    assert response.status == 303 and response.headers["Location"].endswith("?cancelled=2")
    html = await lan.page(response.headers["Location"])
    assert "Đã hủy" in html and "2 tin chưa đi sẽ không được gửi" in html and "Không gửi (đã hủy): 2" in html
    assert 'action="/admin/broadcasts/%d/cancel"' % broadcast.id not in html
    [entry] = await audit_of(sessions, "broadcast.cancel")
    assert entry.actor == "lan" and entry.detail["dropped"] == 2
    again = await lan.post(f"/admin/broadcasts/{broadcast.id}/cancel")
    assert "message=not-cancellable" in again.headers["Location"]
    assert "đã xong hoặc đã bị hủy" in await lan.page(again.headers["Location"])


async def test_the_list_pages_through_older_notices(settings, aiohttp_client, sessions) -> None:
    async with sessions() as session:
        for n in range(35):
            await broadcasts.create_broadcast(session, texts={"vi": f"Tin số {n:02}"}, target={"areas": [COMMUNE]},
                                              send_at=utc_now(), now=utc_now(), author="lan")
        await session.commit()
    xa = await signed_in(settings, aiohttp_client, sessions, "hoaphu", StaffRole.commune, COMMUNE)
    first = await xa.page("/admin/broadcasts")
    assert "Tin số 34" in first and "Tin số 04" not in first
    older = re.search(r'href="(\?before=\d+)"', first)[1]  # type: ignore[index]
    second = await xa.page("/admin/broadcasts" + older)
    assert "Tin số 04" in second and "Tin số 00" in second and "Tin số 34" not in second


async def test_campaigns_show_their_next_occurrences(settings, aiohttp_client, sessions) -> None:
    now = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)
    lan = await signed_in(settings, aiohttp_client, sessions, "lan", StaffRole.province, clock=lambda: now)
    html = await lan.page("/admin/campaigns")
    assert "Tháng cao điểm Vì người nghèo" in html and "Rà soát hộ nghèo, hộ cận nghèo hằng năm" in html
    # peak month: Mondays from 17/10; the review: the 1st and the 15th from 1/9
    assert "08:00 19/10/2026" in html and "08:00 26/10/2026" in html and "08:00 01/10/2026" in html
    assert "08:00 15/10/2026" in html and "từ 17/10 đến 18/11" in html
    english = await lan.page("/admin/campaigns?lang=en")
    assert "Peak Month for the Poor" in english and "Whole province" in english
    xa = await signed_in(settings, aiohttp_client, sessions, "hoaphu", StaffRole.commune, COMMUNE, clock=lambda: now)
    assert "Tháng cao điểm" in await xa.page("/admin/campaigns")


async def test_the_views_query_the_same_on_every_backend(db_sessions) -> None:
    from storage import broadcast_views

    now = utc_now()
    async with db_sessions() as session:
        made = {}
        for name, areas, campaign in [("own", [COMMUNE], None), ("other", [OTHER_COMMUNE], None), ("all", ["66"], "peak-month"),
                                      ("both", [COMMUNE, OTHER_COMMUNE], None), ("later", [COMMUNE], "peak-month")]:
            made[name] = await broadcasts.create_broadcast(session, texts={"vi": name}, target={"areas": areas}, send_at=now,
                                                           now=now, campaign=campaign)
        session.add(Citizen(channel="telegram", channel_user_id="1", area_code=COMMUNE, subscribed=True, consent_at=now,
                            created_at=now, last_seen_at=now))
        await session.flush()
        await broadcasts.fan_out(session, made["own"], now=now, default_locale="vi", stop_labels={"vi": "x", "en": "x"})
        await session.commit()
    async with db_sessions() as session:
        mine = await broadcast_views.list_broadcasts(session, {COMMUNE})
        assert [b.texts["vi"] for b in mine] == ["later", "own"]
        assert len(await broadcast_views.list_broadcasts(session, None)) == 5
        assert await broadcast_views.list_broadcasts(session, set()) == []
        assert [b.texts["vi"] for b in await broadcast_views.list_broadcasts(session, None, before=made["both"].id, limit=2)] == ["all", "other"]
        counts = await broadcast_views.counts_by_broadcast(session, [made["own"].id, made["other"].id])
        assert counts == {made["own"].id: {"pending": 1}, made["other"].id: {}}
        assert broadcast_views.progress(counts[made["own"].id]) == (0, 1)
        latest = await broadcast_views.latest_of_campaigns(session, ["peak-month", "poverty-review"])
        assert list(latest) == ["peak-month"] and latest["peak-month"].texts["vi"] == "later"

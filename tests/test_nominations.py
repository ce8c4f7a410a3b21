"""Nominating a real story in the chat, by typing only, on every channel: who, commune, story, two
photos, consent, name or anonymous, a code; the photos kept like report media; /huy drops it."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from sqlmodel import select

from bot.app import create_app
from storage.db import SessionFactory
from storage.models import AuditEntry, Nomination, OutboxMessage, StaffRole, UnansweredQuestion
from tests.conftest import telegram_settings
from tests.dashboard import StaffClient, add_staff, sign_in
from tests.drivers import TelegramDriver, ZaloOADriver, joined
from tests.test_typing import seen

CODE = re.compile(r"GT-[A-Z0-9]{6}")
JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 200
STORY = "nha anh Y Bloa nuoi bo sinh san bang von vay, sau ba nam co them 4 con be va da thoat ngheo"


async def rows(sessions: SessionFactory, model, *where):  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return (await session.exec(select(model).where(*where))).all()


async def test_a_nomination_with_two_photos_by_typing_only(driver, sessions) -> None:
    await driver.send("/gioithieu")
    assert "hộ gia đình" in seen(driver.last[-1])
    await driver.send("ho gia dinh")
    assert "xã/phường nào" in driver.last[-1].text
    await driver.send("ea kao")
    assert "làm gì" in driver.last[-1].text
    await driver.send(STORY)
    assert "ảnh" in driver.last[-1].text
    await driver.send_photo(JPEG)
    await driver.send_photo(JPEG)
    assert "2 ảnh" in driver.last[-1].text
    await driver.send("xong")
    assert "đồng ý" in driver.last[-1].text
    await driver.send("ho khac")
    assert "không bao giờ liên hệ" in "\n".join(message.text for message in driver.last)
    await driver.send("an danh")
    assert "Ẩn danh" in driver.last[-1].text or "ẩn danh" in driver.last[-1].text
    await driver.send("gui")
    match = CODE.search(driver.last[-1].text)
    assert match, driver.last[-1].text
    [nomination] = await rows(sessions, Nomination)
    assert nomination.code == match.group(0)
    assert (nomination.nominee, nomination.area_code, nomination.consent, nomination.anonymous) == (
        "household", "24169", "ask_commune", True)
    assert nomination.body == STORY and nomination.nominator_name is None
    assert [file["kind"] for file in nomination.files] == ["photo", "photo"]
    assert await rows(sessions, UnansweredQuestion) == []


def gps_photo(width: int = 1800, height: int = 1200) -> bytes:
    """A real JPEG larger than a phone needs, carrying a GPS position and a camera name in its EXIF."""
    image = Image.new("RGB", (width, height), (150, 200, 235))  # sky
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height * 3 // 5, width, height), fill=(80, 150, 70))  # pasture
    draw.ellipse((width // 3, height // 2, width // 3 + width // 5, height // 2 + height // 6), fill=(140, 90, 50))  # a cow
    draw.rectangle((width // 2 + width // 10, height * 2 // 5, width - width // 8, height * 3 // 5), fill=(170, 120, 70))  # a shed
    exif = Image.Exif()
    exif[0x010F] = "PhoneCam"  # Make
    exif[0x8825] = {1: "N", 2: (12.0, 40.0, 5.0), 3: "E", 4: (108.0, 3.0, 7.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def nominate_by_typing(driver) -> str:  # type: ignore[no-untyped-def]
    """Type a whole nomination with two photos (it is someone else's household, sender named); its code."""
    photo = gps_photo()
    for text in ("/gioithieu", "hop tac xa", "ea kao", STORY):
        await driver.send(text)
    await driver.send_photo(photo)
    await driver.send_photo(photo)
    for text in ("xong", "ho khac"):
        await driver.send(text)
    await driver.send("ghi ten")
    if "tên" in driver.last[-1].text and "Người gửi" not in driver.last[-1].text:
        await driver.send("Nguyen Van Ba")
    await driver.send("gui")
    match = CODE.search(driver.last[-1].text)
    assert match, driver.last[-1].text
    return match.group(0)


async def review_and_publish(staff: StaffClient, sessions: SessionFactory, code: str) -> str:
    """Open the nomination from the inbox, mark it checking, preview, publish; the story's id."""
    [nomination] = await rows(sessions, Nomination, Nomination.code == code)
    listing = await staff.page("/admin/nominations")
    assert code in listing
    page = f"/admin/nominations/{nomination.id}"
    assert "Hợp tác xã" in await staff.page(page) or "hợp tác xã" in await staff.page(page)
    photo = await staff.get(f"{page}/files/0")
    assert photo.status == 200 and photo.headers["Content-Type"] == "image/jpeg"
    assert (await staff.post(f"{page}/status", {"status": "checking"})).status == 303
    story = {
        "title": "HTX Ea Kao nuôi bò sinh sản", "body": STORY_TEXT, "lesson": "Làm cùng nhau thì vững hơn.",
        "commune": "24169", "topic": "", "consent_day": CONSENT_DAY.isoformat(), "consent_by": "chủ hộ, anh Y Bloa", "photo": ["0", "1"],
    }
    preview = await staff.post(f"{page}/story", {**story, "action": "preview"})
    assert preview.status == 200
    shown = await preview.text()
    assert "Câu chuyện thật" in shown and "anh Y Bloa" in shown
    published = await staff.post(f"{page}/story", {**story, "action": "publish"})
    assert published.status == 303, await published.text()
    return code.lower()


async def check_published(client, sessions: SessionFactory, data_dir: Path, story_id: str) -> None:  # type: ignore[no-untyped-def]
    """The public page shows the story first, labelled real, with photos resized and without EXIF."""
    listing = await (await client.get("/cau-chuyen")).text()
    assert listing.index("HTX Ea Kao nuôi bò sinh sản") < listing.index("Ví dụ minh họa")
    page = await (await client.get(f"/cau-chuyen/{story_id}")).text()
    assert "Câu chuyện thật" in page and f"{CONSENT_DAY:%d/%m/%Y}" in page
    for number in (1, 2):
        response = await client.get(f"/cau-chuyen/{story_id}/anh/{number}.jpg")
        assert response.status == 200 and response.headers["Content-Type"] == "image/jpeg"
        image = Image.open(io.BytesIO(await response.read()))
        assert max(image.size) <= 1280 and not image.getexif() and "exif" not in image.info
    assert (await client.get(f"/cau-chuyen/{story_id}/anh/3.jpg")).status == 404
    [nomination] = await rows(sessions, Nomination, Nomination.story_id == story_id)
    assert nomination.status == "published"
    told = await rows(sessions, OutboxMessage, OutboxMessage.citizen_id == nomination.citizen_id)
    assert any("đã được đăng" in message.payload["text"] for message in told)
    audit = await rows(sessions, AuditEntry, AuditEntry.action == "nomination.publish")
    assert [entry.object_id for entry in audit] == [nomination.code]
    for original in nomination.files:  # the originals stay private, with their metadata, where they were
        assert (data_dir / original["path"]).stat().st_mode & 0o077 == 0


CONSENT_DAY = date.today() - timedelta(days=5)
STORY_TEXT = ("Năm 2022, năm hộ ở buôn Ea Kao góp vốn lập hợp tác xã nuôi bò sinh sản, vay thêm vốn Ngân hàng Chính sách "
              "xã hội. Sau ba năm, đàn bò tăng từ 10 lên 24 con, ba hộ đã thoát nghèo.")


async def test_nominated_on_telegram_reviewed_and_published(settings, tg, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(telegram_settings(settings, tg)))
    driver = TelegramDriver(tg)
    code = await nominate_by_typing(driver)
    await add_staff(sessions, "hoaphu", StaffRole.commune, "24169")
    staff = await sign_in(client, "hoaphu")
    story_id = await review_and_publish(staff, sessions, code)
    await tg.wait_for(lambda sent: "đã được đăng" in (sent.text or ""), timeout=10)  # the nominator is told in the chat
    await driver.send("/chuyen")
    assert driver.last[-1].buttons[0][0] == "HTX Ea Kao nuôi bò sinh sản"  # real stories come first
    await driver.press("HTX Ea Kao")
    told = joined(driver.last)
    assert any("photo" in (shown.raw or {}) for shown in driver.last)  # sent with its first photo
    assert "Câu chuyện thật" in told and "anh Y Bloa" in told, [(s.method, s.text) for s in driver.last]
    await check_published(client, sessions, settings.data_dir, story_id)


async def test_nominated_on_zalo_oa_reviewed_and_published(settings, aiohttp_client, sessions) -> None:
    driver = await ZaloOADriver.start(settings, aiohttp_client)
    code = await nominate_by_typing(driver)
    await add_staff(sessions, "province", StaffRole.province)
    staff = await sign_in(driver.client, "province")
    story_id = await review_and_publish(staff, sessions, code)
    for _ in range(100):  # the nominator is told in the chat, by the outbox sender
        if any("đã được đăng" in (sent.text or "") for sent in driver.zalo.sent):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the nominator was not told on Zalo")
    await driver.send("/chuyen")
    assert "HTX Ea Kao nuôi bò sinh sản" in driver.last[-1].text.split("\n2.")[0]  # number 1: the real story
    await driver.send("1")
    assert "Câu chuyện thật" in driver.last[0].text
    await check_published(driver.client, sessions, settings.data_dir, story_id)


async def stored_nomination(sessions: SessionFactory, data_dir: Path, *, area: str = "24169", anonymous: bool = False,
                            photos: list[bytes] | None = None) -> Nomination:
    """A nomination from a Telegram citizen with photos (with GPS; one by default) kept under DATA_DIR/media."""
    from handlers.engine import utc_now
    from storage import nominations as nomination_repo
    from storage import repo

    files = []
    for data in photos or [gps_photo(400, 300)]:
        relative = f"media/2026/nm-{area}-{len(files)}.jpg"
        (data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / relative).write_bytes(data)
        files.append({"kind": "photo", "path": relative, "mime": "image/jpeg", "size": len(data)})
    async with sessions() as session:
        citizen, _ = await repo.get_or_create_citizen(session, "telegram", "4242", now=utc_now())
        nomination = await nomination_repo.create(
            session, citizen_id=citizen.id, nominee="household", area_code=area, body=STORY, consent="self",
            anonymous=anonymous, nominator_name="Nguyễn Văn Ba", locale="vi",
            files=files, now=utc_now(),
        )
        await session.commit()
    return nomination


async def test_commune_staff_see_and_publish_only_their_communes_nominations(settings, aiohttp_client, sessions) -> None:
    mine = await stored_nomination(sessions, settings.data_dir)
    theirs = await stored_nomination(sessions, settings.data_dir, area="24133")
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "eakao", StaffRole.commune, "24169")
    staff = await sign_in(client, "eakao")
    listing = await staff.page("/admin/nominations")
    assert mine.code in listing and theirs.code not in listing
    for path in ("", "/files/0"):
        assert (await staff.get(f"/admin/nominations/{theirs.id}{path}")).status == 404
    assert (await staff.post(f"/admin/nominations/{theirs.id}/status", {"status": "checking"})).status == 404
    story = {"title": "Một câu chuyện", "body": STORY_TEXT, "commune": "24133", "consent_day": CONSENT_DAY.isoformat(),
             "consent_by": "chủ hộ", "action": "publish"}
    refused = await staff.post(f"/admin/nominations/{mine.id}/story", story)  # another commune's story: refused
    assert refused.status == 400 and "xã mà bạn được phép đăng" in await refused.text()
    assert (await rows(sessions, Nomination, Nomination.id == mine.id))[0].status == "new"


async def test_publishing_needs_consent_and_a_short_text_and_not_used_tells_the_reason(settings, aiohttp_client, sessions) -> None:
    nomination = await stored_nomination(sessions, settings.data_dir, anonymous=True)
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "tinh", StaffRole.province)
    staff = await sign_in(client, "tinh")
    page = f"/admin/nominations/{nomination.id}"
    assert "Nguyễn Văn Ba" not in await staff.page(page)  # anonymous: the name was never kept
    base = {"title": "Một câu chuyện", "body": STORY_TEXT, "commune": "24169", "photo": ["0"], "action": "publish"}
    for changes, message in (
        ({}, "Ghi ngày hộ gia đình đồng ý"),
        ({"consent_day": (date.today() + timedelta(days=2)).isoformat(), "consent_by": "chủ hộ"}, "không thể ở tương lai"),
        ({"consent_day": CONSENT_DAY.isoformat(), "consent_by": ""}, "Ghi ai đã đồng ý"),
        ({"consent_day": CONSENT_DAY.isoformat(), "consent_by": "chủ hộ", "body": "x" * 1201}, "từ 50 đến 1.200 ký tự"),
        ({"consent_day": CONSENT_DAY.isoformat(), "consent_by": "chủ hộ", "photo": ["5"]}, "không thuộc lời giới thiệu"),
    ):
        refused = await staff.post(f"{page}/story", {**base, **changes})
        assert refused.status == 400 and message in await refused.text(), changes
    assert (await rows(sessions, Nomination, Nomination.id == nomination.id))[0].status == "new"
    assert (await staff.post(f"{page}/status", {"status": "not_used"})).headers["Location"].endswith("error=reason")
    done = await staff.post(f"{page}/status", {"status": "not_used", "reason": "Hộ chưa đồng ý nêu tên."})
    assert done.status == 303
    [stored] = await rows(sessions, Nomination, Nomination.id == nomination.id)
    assert (stored.status, stored.reason) == ("not_used", "Hộ chưa đồng ý nêu tên.")
    [told] = await rows(sessions, OutboxMessage, OutboxMessage.citizen_id == stored.citizen_id)
    assert "chưa sử dụng được" in told.payload["text"] and "Hộ chưa đồng ý nêu tên." in told.payload["text"]
    refused = await staff.post(f"{page}/story", {**base, "consent_day": CONSENT_DAY.isoformat(), "consent_by": "chủ hộ"})
    assert refused.status == 303 and refused.headers["Location"].endswith("error=status")  # not used: cannot be published
    assert [entry.action for entry in await rows(sessions, AuditEntry, AuditEntry.object_id == stored.code)] == ["nomination.status"]


async def test_cancel_drops_a_nomination_and_nothing_is_stored(driver, sessions) -> None:
    await driver.send("/nominate")
    await driver.send("sang kien")
    await driver.send("huy")
    assert "không lưu" in driver.last[-1].text
    assert await rows(sessions, Nomination) == []


async def test_the_report_counts_nominations_and_published_stories_per_commune(sessions) -> None:
    from zoneinfo import ZoneInfo

    from openpyxl import load_workbook

    from bot.report import Period, ReportInput, report_bytes
    from content.areas import AreaDirectory
    from content.i18n import Catalogs
    from storage import nominations as nomination_repo

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    when = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    async with sessions() as session:
        made = []
        for area, days in (("24169", 0), ("24169", 1), ("24175", 2), ("24169", 400)):  # the last one long before the period
            made.append(await nomination_repo.create(
                session, citizen_id=None, nominee="household", area_code=area, body=STORY, consent="self",
                anonymous=True, nominator_name=None, locale="vi", files=[], now=when - timedelta(days=days)))
        nomination_repo.mark_published(made[1], "gt-x", when)
        await session.commit()
    period = Period(date(2026, 1, 1), date(2026, 6, 30))

    async def block(area: str | None) -> dict[str, list[object]]:
        report = ReportInput(period, area, tz, when, AreaDirectory.load(), Catalogs(tz).get("en"))
        async with sessions() as session:
            sheet = load_workbook(io.BytesIO(await report_bytes(session, report)))["Summary"]
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        start = next(n for n, row in enumerate(rows) if row[0] == "Model households and initiatives (real stories) by commune")
        assert rows[start][1:3] == ["Nominations received", "Stories published"]
        found = {}
        for row in rows[start + 1:]:
            found[row[0]] = row[1:3]
            if row[0] == "Total":
                return found
        raise AssertionError("no total row")

    assert await block(None) == {"phường Ea Kao": [2, 1], "xã Hòa Phú": [1, 0], "Total": [3, 1]}
    assert await block("24175") == {"xã Hòa Phú": [1, 0], "Total": [1, 0]}


async def test_a_published_real_story_goes_with_a_notice_for_its_commune_or_the_province_only(settings, aiohttp_client, sessions) -> None:
    from storage.models import Broadcast

    nomination = await stored_nomination(sessions, settings.data_dir)
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "tinh", StaffRole.province)
    staff = await sign_in(client, "tinh")
    story = {"title": "Một câu chuyện thật", "body": STORY_TEXT, "commune": "24169", "photo": ["0"],
             "consent_day": CONSENT_DAY.isoformat(), "consent_by": "chủ hộ", "action": "publish"}
    assert (await staff.post(f"/admin/nominations/{nomination.id}/story", story)).status == 303
    story_id = nomination.code.lower()
    assert f'value="{story_id}"' in await staff.page("/admin/broadcasts/new")
    notice = {"text_vi": "Mời bà con đọc câu chuyện của xã mình.", "action": "send", "when": "now", "story": story_id}
    refused = await staff.post("/admin/broadcasts/new", {**notice, "area": "24175"})
    assert refused.status == 400 and "chính xã của câu chuyện" in await refused.text()
    for target in ({"area": "24169"}, {"province": "1"}):
        assert (await staff.post("/admin/broadcasts/new", {**notice, **target})).status == 303, target
    sent = await rows(sessions, Broadcast)
    assert len(sent) == 2 and all(broadcast.buttons[0][0]["action"] == f"story:{story_id}" for broadcast in sent)


async def test_a_nomination_sent_as_a_voice_message_is_tracked_by_its_code(driver, sessions) -> None:
    if not hasattr(driver, "send_voice"):
        pytest.skip("this driver sends no voice messages")
    for text in ("/gioithieu", "sang kien", "ea kao"):
        await driver.send(text)
    await driver.send_voice(b"OggS" + b"\0" * 400)
    assert "thoại" in joined(driver.last)
    for text in ("bo qua", "dong y", "an danh", "gui"):
        await driver.send(text)
    code = CODE.search(driver.last[-1].text)
    assert code, driver.last[-1].text
    [nomination] = await rows(sessions, Nomination)
    assert nomination.consent == "self" and [file["kind"] for file in nomination.files] == ["voice"]
    await driver.send(f"/tracuu {code.group(0).lower()}")
    assert "chưa đọc" in driver.last[-1].text
    await driver.send("/tracuu GT-2345AB")
    assert "Không tìm thấy" in driver.last[-1].text


async def test_deleting_ones_data_unlinks_ones_nominations_and_drops_the_name(settings, tg, aiohttp_client, sessions) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    driver = TelegramDriver(tg)
    await driver.send("/start")
    nomination = await stored_nomination(sessions, settings.data_dir)  # from this same Telegram user
    await driver.send("/xoadulieu")
    await driver.send("co")
    assert "đã xoá" in joined(driver.last) and "không còn tên" in joined(driver.last)
    [kept] = await rows(sessions, Nomination, Nomination.id == nomination.id)
    assert (kept.citizen_id, kept.nominator_name) == (None, None)


async def test_the_list_counts_every_nomination_and_filters_a_status_beyond_the_newest_shown(settings, aiohttp_client, sessions) -> None:
    from bot.dashboard.nominations import LIST_LIMIT
    from handlers.engine import utc_now

    oldest = await stored_nomination(sessions, settings.data_dir)
    async with sessions() as session:
        (await session.get(Nomination, oldest.id)).status = "checking"  # type: ignore[union-attr]
        now = utc_now()
        session.add_all([Nomination(code=f"GT-N{n:05d}", nominee="household", area_code="24169", body=STORY, consent="self",
                                    locale="vi", files=[], created_at=now + timedelta(seconds=n), updated_at=now)
                         for n in range(LIST_LIMIT + 1)])
        await session.commit()
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "lan", StaffRole.province)
    staff = await sign_in(client, "lan")
    listing = await staff.page("/admin/nominations")
    assert f'<span class="badge">{LIST_LIMIT + 2}</span>' in listing and 'Đang xác minh <span class="badge">1</span>' in listing
    assert oldest.code not in listing and listing.count('href="/admin/nominations/') == LIST_LIMIT
    checking = await staff.page("/admin/nominations?status=checking")
    assert oldest.code in checking and checking.count('href="/admin/nominations/') == 1

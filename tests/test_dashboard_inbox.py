"""Dashboard inbox and ticket screens: filters, search without diacritics, scope, actions, files, exports."""

from __future__ import annotations

import csv
import io
import math
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import update
from sqlmodel import col, select

from bot.app import create_app
from handlers.engine import utc_now
from storage import inbox as inbox_repo
from storage import tickets as ticket_repo
from storage.db import SessionFactory
from storage.models import AuditEntry, Citizen, OutboxMessage, Staff, StaffRole, Ticket, TicketStatus
from tests.dashboard import COMMUNE, OTHER_COMMUNE, StaffClient, add_staff, sign_in
from tests.statements import reading, recorded

def picture(width: int = 360, height: int = 240) -> bytes:
    """A small real PNG (sky, hills and a brown track), so a photo is visible in screenshots."""
    def pixel(x: int, y: int) -> bytes:
        if abs(x - width // 2 - (y - height) // 2) < (y - height // 2) // 2:
            return bytes((150, 105, 60))
        if y > height // 2 + 20 * math.sin(x / 30):
            return bytes((70, 140, 70))
        return bytes((150, 200, 235))
    raw = b"".join(b"\0" + b"".join(pixel(x, y) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


PNG = picture()


async def make_ticket(
    sessions: SessionFactory, data_dir: Path | None = None, *, area: str = COMMUNE, body: str = "Đường vào thôn bị sạt lở",
    kind: str = "problem", anonymous: bool = False, reporter: str | None = "Nguyễn Văn Ba", chat_id: str = "4242",
    age: timedelta = timedelta(hours=1), due_in: timedelta = timedelta(days=3), photo: bool = False, voice: bool = False,
    location: tuple[float, float] | None = None, topic: str = "other",
) -> str:
    """A ticket from a Telegram citizen (with a photo and a voice message stored under DATA_DIR if asked)."""
    now = utc_now() - age
    files = []
    for wanted, name, mime, content in ((photo, "p.png", "image/png", PNG), (voice, "v.ogg", "audio/ogg", b"OggS fake voice")):
        if wanted:
            assert data_dir is not None
            relative = Path("media") / "2026" / f"{chat_id}-{name}"
            (data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            (data_dir / relative).write_bytes(content)
            files.append((name.split(".")[0] == "p" and "photo" or "voice", str(relative), mime, len(content)))
    async with sessions() as session:
        citizen = (await session.exec(select(Citizen).where(Citizen.channel_user_id == chat_id))).first()
        if citizen is None:
            citizen = Citizen(channel="telegram", channel_user_id=chat_id, locale="vi", area_code=area, created_at=now, last_seen_at=now)
            session.add(citizen)
            await session.flush()
        ticket = await ticket_repo.create_ticket(
            session, citizen_id=citizen.id, kind=kind, topic=topic, body=body, area_code=area, anonymous=anonymous,
            reporter_name=reporter, locale="vi", latitude=location[0] if location else None,
            longitude=location[1] if location else None, attachments=files, now=now, due_at=now + due_in,
        )
        await session.commit()
        return ticket.code


@pytest.fixture
def signed_in(settings, aiohttp_client, sessions):  # type: ignore[no-untyped-def]
    """Create a staff account and sign it in on its own client (its own cookies)."""
    async def make(username: str, role: StaffRole, area: str | None = None) -> StaffClient:
        await add_staff(sessions, username, role, area)
        return await sign_in(await aiohttp_client(create_app(settings)), username)
    return make


async def audit_actions(sessions: SessionFactory) -> list[tuple[str, str]]:
    async with sessions() as session:
        return [(e.action, e.object_id) for e in (await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()]


async def test_commune_officers_see_their_commune_and_counts_per_status(signed_in, sessions) -> None:
    mine = await make_ticket(sessions, body="Xin hỏi về hộ nghèo")
    theirs = await make_ticket(sessions, area=OTHER_COMMUNE, chat_id="77", body="Đèn đường hỏng")
    xa = await signed_in("hoaphu", StaffRole.commune, COMMUNE)
    html = await xa.page("/admin/inbox")
    assert mine in html and theirs not in html
    assert "Xã Hòa Phú" not in html.split("<form")[1].split("</form>")[0]  # no commune filter for a commune officer
    province = await signed_in("lan", StaffRole.province)
    html = await province.page("/admin/inbox")
    assert mine in html and theirs in html and 'name="area"' in html
    assert 'Đang mở <span class="badge">2</span>' in html and 'Mới <span class="badge">2</span>' in html
    html = await province.page(f"/admin/inbox?area={OTHER_COMMUNE}")
    assert theirs in html and mine not in html
    html = await xa.page(f"/admin/inbox?area={OTHER_COMMUNE}")  # a filter never widens the scope
    assert theirs not in html


async def test_search_ignores_diacritics_and_finds_codes(signed_in, sessions) -> None:
    poor = await make_ticket(sessions, body="Nhà tôi là hộ nghèo nhưng chưa được cấp thẻ BHYT")
    road = await make_ticket(sessions, body="Đường vào thôn bị sạt lở", chat_id="5")
    lan = await signed_in("lan", StaffRole.province)
    html = await lan.page("/admin/inbox?q=ho+ngheo")
    assert poor in html and road not in html
    html = await lan.page("/admin/inbox?q=ĐƯỜNG+sat+lo")
    assert road in html and poor not in html
    html = await lan.page(f"/admin/inbox?q={road.lower()}")
    assert road in html and poor not in html
    html = await lan.page("/admin/inbox?q=%25_%25")  # only punctuation: no search words, no error
    assert poor in html and road in html
    html = await lan.page("/admin/inbox?q=nghèo+sạt")  # every word must match
    assert poor not in html and road not in html


async def test_filters_overdue_dates_kind_assignee_and_bad_input(signed_in, sessions) -> None:
    late = await make_ticket(sessions, age=timedelta(days=6), due_in=timedelta(days=5), kind="complaint")
    fresh = await make_ticket(sessions, chat_id="9", kind="question")
    lan = await signed_in("lan", StaffRole.province)
    html = await lan.page("/admin/inbox?overdue=1")
    assert late in html and fresh not in html and 'class="late"' in html
    html = await lan.page("/admin/inbox?kind=question")
    assert fresh in html and late not in html
    today = utc_now().date()
    html = await lan.page(f"/admin/inbox?from={today - timedelta(days=7)}&to={today - timedelta(days=3)}")
    assert late in html and fresh not in html
    html = await lan.page("/admin/inbox?assignee=none")
    assert late in html and fresh in html
    html = await lan.page("/admin/inbox?from=31/12/2026&status=nonsense&kind=x&page=abc")
    assert "Không đọc được ngày" in html and "Trạng thái không rõ" in html and late in html and fresh in html


async def test_pages_of_25(signed_in, sessions) -> None:
    for n in range(27):
        await make_ticket(sessions, chat_id=f"c{n}", body=f"phản ánh số {n}", age=timedelta(minutes=n + 1))
    lan = await signed_in("lan", StaffRole.province)
    first = await lan.page("/admin/inbox?status=all")
    second = await lan.page("/admin/inbox?status=all&page=2")
    assert first.count("/admin/tickets/") == 25 and second.count("/admin/tickets/") == 2
    assert "Trang 1/2" in first and 'rel="next"' in first and 'rel="prev"' in second


async def test_ticket_page_shows_the_timeline_files_and_location(signed_in, sessions, settings) -> None:
    code = await make_ticket(sessions, settings.data_dir, photo=True, voice=True, location=(12.68, 108.05))
    xa = await signed_in("hoaphu", StaffRole.commune, COMMUNE)
    html = await xa.page(f"/admin/tickets/{code}")
    assert "Đường vào thôn bị sạt lở" in html and "Nguyễn Văn Ba" in html
    assert "<img src=\"/admin/tickets/" in html and "<audio controls" in html
    assert "https://www.openstreetmap.org/?mlat=12.680000&amp;mlon=108.050000" in html and 'rel="noopener noreferrer"' in html
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket).where(Ticket.code == code))).one()
        files = await ticket_repo.attachments(session, ticket.id)
    photo = await xa.get(f"/admin/tickets/{code}/attachments/{files[0].id}")
    assert photo.status == 200 and photo.headers["Content-Type"] == "image/png"
    assert photo.headers["X-Content-Type-Options"] == "nosniff" and await photo.read() == PNG
    voice = await xa.get(f"/admin/tickets/{code}/attachments/{files[1].id}")
    assert voice.status == 200 and voice.headers["Content-Type"] == "audio/ogg"
    assert (await xa.get(f"/admin/tickets/{code}/attachments/999999")).status == 404


async def test_another_communes_ticket_and_its_files_are_404(signed_in, sessions, settings) -> None:
    code = await make_ticket(sessions, settings.data_dir, area=OTHER_COMMUNE, photo=True)
    xa = await signed_in("hoaphu", StaffRole.commune, COMMUNE)
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket).where(Ticket.code == code))).one()
        photo_id = (await ticket_repo.attachments(session, ticket.id))[0].id
    for path in (f"/admin/tickets/{code}", f"/admin/tickets/{code}/attachments/{photo_id}", "/admin/tickets/PA-AAAAAA"):
        response = await xa.get(path)
        assert response.status == 404 and code not in await response.text()
    for action, form in (("reply", {"text": "x"}), ("note", {"text": "x"}), ("status", {"status": "in_progress"}), ("assign", {"assignee": "1"})):
        assert (await xa.post(f"/admin/tickets/{code}/{action}", form)).status == 404
    async with sessions() as session:
        assert (await session.exec(select(OutboxMessage))).all() == []
        assert (await session.get(Ticket, ticket.id)).status == TicketStatus.new


async def test_reply_is_queued_to_the_citizen_and_shown_as_waiting(signed_in, sessions) -> None:
    code = await make_ticket(sessions)
    xa = await signed_in("hoaphu", StaffRole.commune, COMMUNE)
    response = await xa.post(f"/admin/tickets/{code}/reply", {"text": "Xã sẽ cử người kiểm tra vào thứ Hai."})
    assert response.status == 303 and response.headers["Location"].endswith("done=reply")
    html = await xa.page(response.headers["Location"])
    assert "Xã sẽ cử người kiểm tra vào thứ Hai." in html and "đang chờ gửi" in html and "Đã trả lời" in html
    async with sessions() as session:
        message = (await session.exec(select(OutboxMessage))).one()
    assert message.chat_id == "4242" and "Xã sẽ cử người kiểm tra" in message.payload["text"] and code in message.payload["text"]
    assert ("ticket.reply", code) in await audit_actions(sessions)
    async with sessions() as session:
        stored = await session.get(OutboxMessage, message.id)
        stored.status = "sent"
        await session.commit()
    assert "Gửi người dân: đã gửi" in await xa.page(f"/admin/tickets/{code}")
    empty = await xa.post(f"/admin/tickets/{code}/reply", {"text": "   "})
    assert "Vui lòng viết nội dung" in await xa.page(empty.headers["Location"])
    long = await xa.post(f"/admin/tickets/{code}/reply", {"text": "x" * 4000})
    assert long.headers["Location"].endswith("error=too_long")


async def test_note_assign_and_status_with_reason(signed_in, sessions) -> None:
    code = await make_ticket(sessions)
    await add_staff(sessions, "other", StaffRole.commune, OTHER_COMMUNE)
    await add_staff(sessions, "colleague", StaffRole.commune, COMMUNE)
    xa = await signed_in("hoaphu", StaffRole.commune, COMMUNE)
    async with sessions() as session:
        ids = {s.username: s.id for s in (await session.exec(select(Staff))).all()}
    assert (await xa.post(f"/admin/tickets/{code}/note", {"text": "Gọi lại cho bà con chiều nay"})).status == 303
    html = await xa.page(f"/admin/tickets/{code}")
    assert "Gọi lại cho bà con chiều nay" in html and "nội bộ" in html
    assert f'value="{ids["other"]}"' not in html and f'value="{ids["colleague"]}"' in html
    refused = await xa.post(f"/admin/tickets/{code}/assign", {"assignee": str(ids["other"])})
    assert refused.headers["Location"].endswith("error=assignee")
    assert (await xa.post(f"/admin/tickets/{code}/assign", {"assignee": "abc"})).headers["Location"].endswith("error=assignee")
    assert (await xa.post(f"/admin/tickets/{code}/assign", {"assignee": str(ids["colleague"])})).headers["Location"].endswith("done=assign")
    no_reason = await xa.post(f"/admin/tickets/{code}/status", {"status": "rejected", "reason": " "})
    assert no_reason.headers["Location"].endswith("error=reason")
    wrong = await xa.post(f"/admin/tickets/{code}/status", {"status": "closed"})
    assert wrong.headers["Location"].endswith("error=status")
    done = await xa.post(f"/admin/tickets/{code}/status", {"status": "rejected", "reason": "Không thuộc thẩm quyền của xã"})
    assert done.headers["Location"].endswith("done=status")
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket).where(Ticket.code == code))).one()
        message = (await session.exec(select(OutboxMessage))).one()
    assert ticket.status == TicketStatus.rejected and ticket.assignee_id == ids["colleague"]
    assert "Không thuộc thẩm quyền của xã" in message.payload["text"]
    actions = await audit_actions(sessions)
    for action in ("ticket.note", "ticket.assign", "ticket.status"):
        assert (action, code) in actions
    closed = await xa.post(f"/admin/tickets/{code}/reply", {"text": "muộn"})
    assert closed.headers["Location"].endswith("error=closed")


async def test_anonymous_senders_only_admins_see_them_and_each_view_is_logged(signed_in, sessions) -> None:
    code = await make_ticket(sessions, anonymous=True, reporter="Trần Thị Bí Mật")
    xa = await signed_in("hoaphu", StaffRole.commune, COMMUNE)
    html = await xa.page(f"/admin/tickets/{code}")
    assert "Ẩn danh" in html and "Bí Mật" not in html
    province = await signed_in("lan", StaffRole.province)
    assert "Bí Mật" not in await province.page(f"/admin/tickets/{code}")
    assert ("ticket.identity_view", code) not in await audit_actions(sessions)
    boss = await signed_in("boss", StaffRole.admin)
    assert "Trần Thị Bí Mật" in await boss.page(f"/admin/tickets/{code}")
    assert ("ticket.identity_view", code) in await audit_actions(sessions)
    exported = await boss.get("/admin/inbox/export?format=csv&status=all")
    assert "Bí Mật" not in (await exported.read()).decode("utf-8-sig")


async def test_exports_follow_the_filters_and_the_scope(signed_in, sessions) -> None:
    mine = await make_ticket(sessions, body="=HYPERLINK(\"x\") hộ nghèo")
    theirs = await make_ticket(sessions, area=OTHER_COMMUNE, chat_id="77")
    xa = await signed_in("hoaphu", StaffRole.commune, COMMUNE)
    response = await xa.get("/admin/inbox/export?format=csv&status=all")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert [row["code"] for row in rows] == [mine] and rows[0]["body"].startswith("'=")
    lan = await signed_in("lan", StaffRole.province)
    response = await lan.get("/admin/inbox/export?format=xlsx&status=all&q=ho+ngheo")
    sheet = load_workbook(io.BytesIO(await response.read())).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [mine]
    response = await lan.get("/admin/inbox/export?format=xlsx&status=all")
    codes = {row[0] for row in load_workbook(io.BytesIO(await response.read())).active.iter_rows(min_row=2, values_only=True)}
    assert codes == {mine, theirs}
    bad = await lan.get("/admin/inbox/export?format=pdf")
    assert bad.status == 400 and "CSV" in await bad.text()
    assert ("export.tickets", "csv") in await audit_actions(sessions)


async def test_reply_templates_per_kind_in_the_citizens_language(signed_in, sessions) -> None:
    complaint = await make_ticket(sessions, kind="complaint")
    lan = await signed_in("lan", StaffRole.province)
    html = await lan.page(f"/admin/tickets/{complaint}?lang=en")
    assert "Reply templates" in html and complaint in html.split('id="templates"')[1]
    assert "khiếu nại" in html.split('id="templates"')[1]  # the citizen writes Vietnamese
    assert '<script src="/admin/static/inbox.js"' in html and "style=" not in html


async def test_a_ticket_is_searchable_from_its_creation_and_older_ones_are_caught_up(signed_in, sessions) -> None:
    poor = await make_ticket(sessions, body="Nhà tôi là hộ nghèo nhưng chưa được cấp thẻ BHYT")
    old = await make_ticket(sessions, body="Hộ nghèo ở thôn 3 chưa nhận gạo", chat_id="6")
    async with sessions() as session:
        stored = (await session.exec(select(Ticket).where(Ticket.code == poor))).one()
        assert stored.search_text == f"{poor.lower().replace('-', ' ')} other nha toi la ho ngheo nhung chua duoc cap the bhyt"
        assert not await inbox_repo.search_pending(session)
        await session.exec(update(Ticket).where(col(Ticket.code) == old).values(search_text=None))  # type: ignore[call-overload]
        await session.commit()
        assert await inbox_repo.search_pending(session)
    lan = await signed_in("lan", StaffRole.province)
    html = await lan.page("/admin/inbox?q=ho+ngheo")  # the older ticket is given its search text first
    assert poor in html and old in html
    with recorded() as statements:
        html = await lan.page("/admin/inbox?q=ho+ngheo")
    assert poor in html and old in html
    assert not [text for text in statements if text.upper().startswith("UPDATE TICKET")]


async def test_the_inbox_counts_the_tickets_once_and_its_total_matches_each_status_filter(signed_in, sessions) -> None:
    for n, kind in enumerate(("question", "question", "complaint", "problem")):
        await make_ticket(sessions, chat_id=f"t{n}", kind=kind, body=f"hộ nghèo số {n}", age=timedelta(days=n))
    lan = await signed_in("lan", StaffRole.province)
    first = await lan.page("/admin/inbox?status=all")
    code = first.split('href="/admin/tickets/')[1].split('"')[0]
    assert (await lan.post(f"/admin/tickets/{code}/reply", {"text": "Dạ, xã đã kiểm tra."})).status == 303
    for query, found in (("status=all", 4), ("status=open", 3), ("status=answered", 1), ("status=closed", 0),
                         ("status=open&q=ngheo", 3), ("status=all&kind=question&q=ngheo", 2), ("q=zzz", 0)):
        with recorded() as statements:
            html = await lan.page(f"/admin/inbox?{query}")
        assert f"Số phản ánh tìm thấy: {found}" in html and html.count("/admin/tickets/") == found, query
        counted = [text for text in reading(statements, "ticket") if "count(" in text.lower()]
        assert len(counted) == 1, (query, counted)
    html = await lan.page("/admin/inbox?status=all")
    assert 'Đang mở <span class="badge">3</span>' in html and 'Đã trả lời <span class="badge">1</span>' in html


async def test_the_overview_counts_open_and_overdue_tickets_in_one_pass(signed_in, sessions) -> None:
    await make_ticket(sessions, age=timedelta(days=6), due_in=timedelta(days=5))  # overdue
    await make_ticket(sessions, chat_id="8")
    await make_ticket(sessions, area=OTHER_COMMUNE, chat_id="9", age=timedelta(days=9), due_in=timedelta(days=1))  # overdue
    closed = await make_ticket(sessions, chat_id="10", age=timedelta(days=9), due_in=timedelta(days=1))
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket).where(Ticket.code == closed))).one()
        await ticket_repo.change_status(session, ticket, None, TicketStatus.rejected, utc_now(), reason="Trùng phản ánh")
        await session.commit()
    province = await signed_in("lan", StaffRole.province)
    with recorded() as statements:
        html = await province.page("/admin")
    assert '<strong>3</strong>' in html.split('href="/admin/inbox?status=open"')[1].split("</a>")[0]
    assert '<strong>2</strong>' in html.split('href="/admin/inbox?overdue=1"')[1].split("</a>")[0]
    assert len(reading(statements, "ticket")) == 1
    xa = await signed_in("hoaphu", StaffRole.commune, COMMUNE)
    html = await xa.page("/admin")
    assert '<strong>2</strong>' in html.split('href="/admin/inbox?status=open"')[1].split("</a>")[0]
    assert '<strong>1</strong>' in html.split('href="/admin/inbox?overdue=1"')[1].split("</a>")[0]

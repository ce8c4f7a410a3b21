"""Staff passwords: changing one's own (the current one required), one-time passwords after an
admin's reset or a new account, and the policy (length, common passwords)."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from bot.app import create_app
from handlers.engine import utc_now
from storage.models import AuditEntry, Staff, StaffRole
from storage.staff import StaffError, create_staff, password_problem
from tests.dashboard import COMMUNE, PASSWORD, add_staff, sign_in

NEW = "mưa rừng Buôn Đôn 2026"


@pytest.mark.parametrize(("password", "problem"), [
    ("short", "too_short"), ("password", "common"), ("Password123", "common"), ("qwertyuiop", "common"),
    ("iloveyou!", "common"), ("SUNSHINE", "common"), (PASSWORD, None), (NEW, None),
])
def test_the_password_policy(password: str, problem: str | None) -> None:
    assert password_problem(password) == problem


async def test_accounts_cannot_be_made_with_a_common_password(sessions) -> None:
    async with sessions() as session:
        with pytest.raises(StaffError, match="most common"):
            await create_staff(session, "lan", StaffRole.province, None, "password1", utc_now())


async def change(staff, current: str, new: str, again: str | None = None):  # type: ignore[no-untyped-def]
    return await staff.post("/admin/password", {"current": current, "new": new, "again": new if again is None else again})


async def test_staff_change_their_own_password(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "lan", StaffRole.province)
    lan = await sign_in(client, "lan")
    elsewhere = await sign_in(await aiohttp_client(create_app(settings)), "lan")
    assert "Mật khẩu hiện tại" in await lan.page("/admin/password")
    for current, new, again, expected in [
        ("wrong password", NEW, None, "Mật khẩu hiện tại không đúng"),
        (PASSWORD, NEW, NEW + "x", "Hai lần nhập mật khẩu mới không giống nhau"),
        (PASSWORD, PASSWORD, None, "Mật khẩu mới phải khác"),
        (PASSWORD, "sunshine1", None, "quá phổ biến"),
        (PASSWORD, "abc", None, "ít nhất 8 ký tự"),
    ]:
        response = await change(lan, current, new, again)
        assert response.status == 400 and expected in await response.text(), (new, expected)
    response = await change(lan, PASSWORD, NEW)
    assert response.status == 303
    assert "Đã đổi mật khẩu" in await lan.page(response.headers["Location"])
    assert (await lan.get("/admin")).status == 200  # this session goes on
    assert (await elsewhere.get("/admin")).status == 302  # the others ended
    other = await aiohttp_client(create_app(settings))
    assert (await sign_in(other, "lan", NEW)).csrf
    async with sessions() as session:
        actions = [e.action for e in (await session.exec(select(AuditEntry).where(AuditEntry.actor == "lan"))).all()]
    assert actions.count("password.change") == 1 and actions.count("password.change_failed") == 1


async def test_a_wrong_current_password_counts_as_a_failed_sign_in(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"login_pair_limit": 2})))
    await add_staff(sessions, "lan", StaffRole.province)
    lan = await sign_in(client, "lan")
    assert [(await change(lan, "guess", NEW)).status for _ in range(3)] == [400, 400, 429]
    assert (await change(lan, PASSWORD, NEW)).status == 429


async def test_a_reset_by_an_admin_is_a_one_time_password(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "boss", StaffRole.admin)
    await add_staff(sessions, "hoa", StaffRole.commune, COMMUNE)
    boss = await sign_in(client, "boss")
    response = await boss.post("/admin/staff/hoa", {"action": "reset"})
    one_time = re.search(r'<code class="secret">([^<]+)</code>', await response.text())[1]  # type: ignore[index]
    assert "phải tự đặt mật khẩu mới" in await response.text()
    hoa = await sign_in(await aiohttp_client(create_app(settings)), "hoa", one_time)
    for path in ("/admin", "/admin/inbox", "/admin/broadcasts"):
        response = await hoa.get(path)
        assert (response.status, response.headers.get("Location")) == (302, "/admin/password"), path
    assert "do quản trị viên đặt" in await hoa.page("/admin/password")
    assert (await hoa.post("/admin/broadcasts", {"text": "x"})).status == 403
    assert (await change(hoa, one_time, NEW)).status == 303
    assert (await hoa.get("/admin/inbox")).status == 200
    async with sessions() as session:
        staff = (await session.exec(select(Staff).where(Staff.username == "hoa"))).one()
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.object_id == "hoa"))).all()
    assert not staff.must_change_password
    assert [(e.actor, e.detail) for e in entries if e.action == "staff.reset"] == [("boss", {"one_time_password": True})]
    assert [(e.actor, e.detail) for e in entries if e.action == "password.change"] == [("hoa", {"one_time_replaced": True})]


async def test_a_new_account_chooses_its_own_password_at_the_first_sign_in(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "boss", StaffRole.admin)
    boss = await sign_in(client, "boss")
    response = await boss.post("/admin/staff", {"username": "hoa", "role": "commune", "area": COMMUNE})
    first = re.search(r'<code class="secret">([^<]+)</code>', await response.text())[1]  # type: ignore[index]
    hoa = await sign_in(await aiohttp_client(create_app(settings)), "hoa", first)
    assert (await hoa.get("/admin")).headers.get("Location") == "/admin/password"

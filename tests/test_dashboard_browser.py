"""The dashboard in real headless Chromium: sign in, the overview, the staff screen, a wrong password."""

from __future__ import annotations

import pytest

from storage.models import StaffRole
from tests.browser import serve, sign_in_page
from tests.dashboard import PASSWORD, add_staff


@pytest.fixture
async def server(settings):  # type: ignore[no-untyped-def]
    async for live in serve(settings):
        yield live


async def test_sign_in_and_the_staff_screen_in_chromium(server, page, sessions) -> None:
    await add_staff(sessions, "boss", StaffRole.admin)
    await page.goto(server.url("/admin"))
    assert "/admin/login" in page.url
    await page.fill("input[name=username]", "boss")
    await page.fill("input[name=password]", "not the password")
    await page.click("button.primary")
    assert "Sai tên đăng nhập hoặc mật khẩu" in await page.text_content("[role=alert]")
    await sign_in_page(page, server, "boss", PASSWORD)
    assert await page.text_content("h1") == "Tổng quan"
    await page.click("text=Cán bộ")
    await page.fill("input[name=username]", "hoaphu")
    await page.select_option("select[name=role]", "commune")
    await page.select_option("select[name=area]", "24175")
    await page.click("text=Tạo")
    secret = await page.text_content("code.secret")
    assert secret and len(secret) >= 8
    await page.click("text=Đăng xuất")
    await page.wait_for_url("**/admin/login")

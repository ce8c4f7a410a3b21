"""Helpers for dashboard tests: staff accounts, signing in, and form posts that carry the CSRF token."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from handlers.engine import utc_now
from storage.db import SessionFactory
from storage.models import StaffRole
from storage.staff import create_staff

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
COMMUNE = "24175"  # Xã Hòa Phú
OTHER_COMMUNE = "24133"  # Phường Buôn Ma Thuột


async def add_staff(sessions: SessionFactory, username: str, role: StaffRole | str, area: str | None = None,
                    password: str = PASSWORD) -> None:
    """Create a staff account in the test database."""
    async with sessions() as session:
        await create_staff(session, username, role, area, password, utc_now(), display_name=username.title())
        await session.commit()


@dataclass
class StaffClient:
    """A test client signed in as one staff member."""

    client: TestClient
    csrf: str
    set_cookie: str = ""

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        """GET without following redirects."""
        return await self.client.get(path, allow_redirects=False, **kwargs)

    async def page(self, path: str) -> str:
        """GET a page that must answer 200; its HTML."""
        response = await self.get(path)
        assert response.status == 200, (path, response.status, await response.text())
        return await response.text()

    async def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any) -> ClientResponse:
        """POST a form with this session's CSRF token, without following redirects."""
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        return await self.client.post(path, data=form, allow_redirects=False, **kwargs)


async def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> StaffClient:
    """Sign in through the login form; the returned client carries the session cookie and CSRF token."""
    form = await (await client.get("/admin/login")).text()
    login_csrf = CSRF_FIELD.search(form)
    assert login_csrf, form
    response = await client.post(
        "/admin/login", data={"username": username, "password": password, "csrf": login_csrf[1], "next": "/admin"},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    home = await (await client.get("/admin")).text()
    csrf = CSRF_FIELD.search(home)
    assert csrf, home
    return StaffClient(client, csrf[1], response.headers.get("Set-Cookie", ""))


def figure(html: str, ident: str) -> str:
    """The text of the element with id `ident` in a statistics page (the dashboard's or the public one)."""
    found = re.search(rf'id="{ident}">([^<]*)<', html)
    assert found, ident
    return found[1]

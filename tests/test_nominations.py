"""Nominating a real story in the chat, by typing only, on every channel: who, commune, story, two
photos, consent, name or anonymous, a code; the photos kept like report media; /huy drops it."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from storage.db import SessionFactory
from storage.models import Nomination, UnansweredQuestion
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

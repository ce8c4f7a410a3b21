"""Dated content: an entry waiting for review is never stated to citizens (bot, search, topics,
public pages)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import escape
from sqlalchemy import update

from bot.app import create_app
from bot.features import build_router
from content.areas import AreaDirectory
from content.i18n import Catalogs
from content.importer import load_bundle
from content.library import Library
from content.model import ContentBundle, FaqEntry, FaqText, Source, Topic
from content.search import FaqIndex, Status
from handlers.engine import Engine
from handlers.turn import Services
from storage.db import SessionFactory
from storage.models import FaqRow, StaffRole
from tests.channel import InMemoryChannel
from tests.dashboard import add_staff, sign_in

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = date(2026, 12, 6)


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A moment given in Việt Nam time."""
    return datetime(year, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


def entry(entry_id: str, topic: str = "t", **fields: object) -> FaqEntry:
    """A small FAQ entry with sensible defaults."""
    text = FaqText(f"Câu hỏi về {entry_id}?", f"Dạ, đây là câu trả lời về {entry_id}.")
    return FaqEntry(id=entry_id, topic=topic, texts={"vi": text, "en": text}, sources=(Source("Nghị định 1/2026/NĐ-CP"),),
                    **fields)  # type: ignore[arg-type]


def answered_entry(faqs: tuple[FaqEntry, ...], day: date) -> FaqEntry:
    """A served entry the search answers when asked its own question, in a topic with other entries
    (so the topic stays listed without it). Found, not named: the shipped content changes."""
    index = FaqIndex(faqs)
    for candidate in faqs:
        others = [other for other in faqs if other.topic == candidate.topic and other.id != candidate.id and other.is_served_on(day)]
        result = index.search(candidate.text("vi").question, on=day)
        if candidate.is_served_on(day) and others and result.status is Status.answer and result.best.entry.id == candidate.id:  # type: ignore[union-attr]
            return candidate
    raise AssertionError("no entry is answered by its own question")


def waiting(bundle: ContentBundle, entry_id: str) -> ContentBundle:
    """The bundle with one entry marked needs_review."""
    return dataclasses.replace(bundle, faqs=tuple(
        dataclasses.replace(item, needs_review=True) if item.id == entry_id else item for item in bundle.faqs
    ))


# --- needs_review is never stated -----------------------------------------------------------------


def test_served_means_published_in_force_and_not_waiting_for_review() -> None:
    assert entry("a").is_served_on(TODAY)
    assert not entry("a", needs_review=True).is_served_on(TODAY)
    assert entry("a", needs_review=True).is_valid_on(TODAY), "still in force: the dashboard shows it so"
    assert not entry("a", published=False).is_served_on(TODAY)
    assert not entry("a", valid_until=TODAY - timedelta(days=1)).is_served_on(TODAY)
    assert not entry("a", valid_from=TODAY + timedelta(days=1)).is_served_on(TODAY)


def test_an_entry_waiting_for_review_is_never_answered_suggested_or_listed(bundle) -> None:
    chosen = answered_entry(bundle.faqs, TODAY)
    library = Library(waiting(bundle, chosen.id))
    text = chosen.text("vi")
    for question in (text.question, *text.alternatives, *chosen.text("en").alternatives):
        result = library.index.search(question, on=TODAY)
        assert chosen.id not in {match.entry.id for match in result.matches}, question
    assert chosen.id not in {item.id for item in library.in_topic(chosen.topic, TODAY)}
    assert chosen.id not in {item.id for item in library.served(TODAY)}
    assert library.faq(chosen.id) is not None, "still there for the dashboard"
    alone = Library(ContentBundle(topics=(Topic("t", {"vi": "T", "en": "T"}),), faqs=(entry("a", needs_review=True),)))
    assert alone.topics(TODAY) == [] and alone.in_topic("t", TODAY) == []


async def test_the_bot_neither_shows_nor_lists_an_entry_waiting_for_review(bundle, sessions: SessionFactory) -> None:
    chosen = answered_entry(bundle.faqs, TODAY)
    services = Services(areas=AreaDirectory.load(), catalogs=Catalogs(TZ), library=Library(waiting(bundle, chosen.id)), tz=TZ)
    engine = Engine(sessions, build_router(), services, conversation_ttl=timedelta(hours=72), clock=lambda: local(2026, 12, 6))
    citizen = InMemoryChannel(engine)
    await citizen.send(chosen.text("vi").question)
    assert chosen.text("vi").answer not in citizen.text()
    assert f"faq:show:{chosen.id}" not in {button.action for reply in citizen.last for button in reply.all_buttons()}
    await citizen.act(f"topic:{chosen.topic}")
    assert f"faq:show:{chosen.id}" not in {button.action for reply in citizen.last for button in reply.all_buttons()}
    await citizen.act(f"faq:show:{chosen.id}")  # an old button, or a notice's
    assert "hết hạn" in citizen.text() and chosen.text("vi").answer not in citizen.text()


async def test_public_pages_treat_an_entry_waiting_for_review_as_unknown(settings, sessions, aiohttp_client) -> None:
    async with sessions() as session:
        stored = await load_bundle(session)
        chosen = answered_entry(stored.faqs, TODAY)
        await session.exec(update(FaqRow).where(FaqRow.id == chosen.id).values(needs_review=True))  # type: ignore[call-overload]
        await session.commit()
    client = await aiohttp_client(create_app(settings, clock=lambda: local(2026, 12, 6)))
    answer = chosen.text("vi").answer.split("\n")[0]
    response = await client.get(f"/hoi-dap/cau/{chosen.id}")
    assert response.status == 404 and str(escape(answer)) not in await response.text()
    topic = await (await client.get(f"/hoi-dap/{chosen.topic}")).text()
    assert f'id="{chosen.id}"' not in topic and str(escape(answer)) not in topic
    found = await (await client.get("/hoi-dap", params={"q": chosen.text("vi").question})).text()
    assert f"/hoi-dap/cau/{chosen.id}" not in found and str(escape(answer)) not in found
    chat = await client.post("/chat/api/messages", json={"text": chosen.text("vi").question})
    assert answer not in "\n".join(reply["text"] for reply in (await chat.json())["replies"])
    staff = await _editor(client, sessions)
    edit = await staff.page(f"/admin/content/faq/{chosen.id}")
    assert str(escape(chosen.text("vi").question)) in edit, "staff still see and edit it"


async def _editor(client, sessions):  # type: ignore[no-untyped-def]
    await add_staff(sessions, "lan", StaffRole.province)
    return await sign_in(client, "lan")

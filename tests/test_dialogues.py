"""Policy dialogues: announcing, questions in advance, upvotes by the area, ranking, answers sent back."""

from __future__ import annotations

from datetime import timedelta

from handlers.engine import utc_now
from storage import dialogues
from storage import tickets as ticket_repo
from storage.models import Citizen, Dialogue, DialogueQuestion, DialogueStatus
from tests.dashboard import COMMUNE, OTHER_COMMUNE

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

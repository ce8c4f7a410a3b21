"""The end of a quiz contest: a notice announcing the top communes, created once when it ends.

The scheduler runs `announce_finished` every few minutes in every worker process. The notice is a
Broadcast with a unique `occurrence_key`, inserted in the same transaction that links it to the
contest: whichever process commits first makes it, the other's insert fails and is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from sqlalchemy.exc import IntegrityError

from content.areas import PROVINCE_CODE
from content.i18n import N_, SUPPORTED, Translator
from handlers.quiz import broadcast_button, contest_title
from handlers.turn import Services
from storage import broadcasts
from storage import quiz as quiz_repo
from storage.db import SessionFactory
from storage.models import QuizContest
from storage.quiz import ROUND, CommuneResult

log = logging.getLogger(__name__)

TOP = 3
ANNOUNCE_WITHIN = timedelta(days=14)  # a contest that ended longer ago (say, before an upgrade) is not announced late
SEND_AT = time(8, 0)
MEDALS = ("🥇", "🥈", "🥉")
RESULTS = N_(
    "🏆 The contest “{title}” ({start}–{end}) has ended. Thank you to everyone who took part!\n\n"
    "Communes with the most players:\n{lines}\n\nThe quiz goes on: play any time to learn the policies."
)
LINE = N_("{medal} {commune}: {share}% of subscribers took part, average score {average}/{total}")


def occurrence_key(contest_id: int) -> str:
    """The unique key of a contest's results notice."""
    return f"quiz-contest:{contest_id}:results"


def results_text(contest: QuizContest, top: list[CommuneResult], services: Services, translator: Translator) -> str:
    """The results notice in one language: the top communes, never a person."""
    lines = []
    for medal, result in zip(MEDALS, top, strict=False):
        area = services.areas.get(result.area_code)
        lines.append(
            translator.gettext(LINE).format(
                medal=medal,
                commune=area.label if area else result.area_code,
                share=round(result.share * 100),
                average=translator.format_number(round(result.average, 1)),
                total=ROUND,
            )
        )
    return translator.gettext(RESULTS).format(
        title=contest_title(contest, translator.locale),
        start=translator.format_day(contest.starts_on),
        end=translator.format_day(contest.ends_on),
        lines="\n".join(lines),
    )


def send_time(ends_on: date, now: datetime, services: Services) -> datetime:
    """The morning after the last day, local time (or now, if that has passed)."""
    morning = datetime.combine(ends_on + timedelta(days=1), SEND_AT, tzinfo=services.tz)
    return max(morning, now)


async def announce(sessions: SessionFactory, services: Services, contest_id: int, now: datetime) -> int | None:
    """Create the results notice of one ended contest; its id, or None when there is nothing to
    announce or another process made it first."""
    async with sessions() as session:
        contest = await session.get(QuizContest, contest_id)
        if contest is None or contest.announce_broadcast_id is not None:
            return None
        top = (await quiz_repo.leaderboard(session, contest_id))[:TOP]
        if not top:
            return None
        texts = {locale: results_text(contest, top, services, services.catalogs.get(locale)) for locale in SUPPORTED}
        try:
            notice = await broadcasts.create_broadcast(
                session,
                texts=texts,
                target={"areas": [PROVINCE_CODE]},
                send_at=send_time(contest.ends_on, now, services),
                now=now,
                author="quiz",
                occurrence_key=occurrence_key(contest_id),
                buttons=[broadcast_button(services.catalogs)],
            )
            contest.announce_broadcast_id = notice.id
            session.add(contest)
            await session.commit()
        except IntegrityError:
            await session.rollback()
            return None
    log.info("quiz contest %s ended: results notice %s created", contest_id, notice.id)
    return notice.id


async def announce_finished(sessions: SessionFactory, services: Services, clock: Callable[[], datetime]) -> int:
    """The scheduler job: create the results notice of every contest that has just ended."""
    now = clock()
    today = now.astimezone(services.tz).date()
    async with sessions() as session:
        due = [contest.id for contest in await quiz_repo.to_announce(session, today, today - ANNOUNCE_WITHIN)]
    made = [await announce(sessions, services, contest_id, now) for contest_id in due if contest_id is not None]
    return sum(1 for notice in made if notice is not None)

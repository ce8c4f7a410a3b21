"""Aggregate figures for the statistics screen and the report, always within a period and an area scope.

Queries stay portable (SQLite and PostgreSQL): they select plain columns or GROUP BY counts; anything
that needs calendar arithmetic (weeks in the local zone, medians) is done in Python on the rows.
Never commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import faq_summary, tally
from storage.models import (
    Broadcast, Citizen, FaqRow, OutboxStatus, Ticket, TicketKind, UnansweredQuestion,
)
from storage.ticket_rules import OPEN

KINDS = tuple(TicketKind)
OUTBOX_STATES = ("sent", "failed", "skipped", "pending")


@dataclass(frozen=True)
class Scope:
    """A period [start, end) in UTC and the area codes to count (None: every area)."""

    start: datetime
    end: datetime
    areas: frozenset[str] | None = None


@dataclass(frozen=True)
class TicketFact:
    """The fields of one ticket the figures need (no text, no identity)."""

    kind: str
    area_code: str | None
    status: str
    created_at: datetime
    due_at: datetime
    answered_at: datetime | None
    rating: int | None
    resolved: bool | None

    @property
    def on_time(self) -> bool:
        """Answered no later than its due date."""
        return self.answered_at is not None and self.answered_at <= self.due_at

    def open_late(self, now: datetime) -> bool:
        """Still open and past its due date."""
        return self.status in OPEN and self.due_at < now


@dataclass
class TicketCounts:
    """Received / answered / answered on time / still open and late, for one group of tickets."""

    received: int = 0
    answered: int = 0
    on_time: int = 0
    open_late: int = 0
    ratings: list[int] = field(default_factory=list)

    def add(self, fact: TicketFact, now: datetime) -> None:
        """Count one ticket."""
        self.received += 1
        if fact.answered_at is not None:
            self.answered += 1
            self.on_time += fact.on_time
        self.open_late += fact.open_late(now)
        if fact.rating is not None:
            self.ratings.append(fact.rating)

    @property
    def on_time_share(self) -> float | None:
        """Share of answered tickets answered on time (None when nothing was answered)."""
        return self.on_time / self.answered if self.answered else None

    @property
    def mean_rating(self) -> float | None:
        """Average rating 1–5 (None without ratings)."""
        return sum(self.ratings) / len(self.ratings) if self.ratings else None


@dataclass(frozen=True)
class TicketSummary:
    """Everything the screens show about tickets of one scope."""

    total: TicketCounts
    by_kind: dict[str, TicketCounts]
    by_area: dict[str, TicketCounts]
    weeks: list[date]
    per_week: dict[str, list[int]]
    median_hours: float | None
    median_hours_per_week: list[float | None]
    ratings: dict[int, int]
    resolved: dict[bool, int]


def week_start(moment: datetime, tz: ZoneInfo) -> date:
    """The Monday (local time) of the week a moment falls in."""
    day = moment.astimezone(tz).date()
    return day - timedelta(days=day.weekday())


def weeks_between(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    """Every week (its Monday) that overlaps [start, end)."""
    first, last = week_start(start, tz), week_start(end - timedelta(microseconds=1), tz)
    return [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]


def summarize(facts: Sequence[TicketFact], scope: Scope, tz: ZoneInfo, now: datetime) -> TicketSummary:
    """Count tickets by kind, area and week; median hours to the first answer; ratings."""
    total = TicketCounts()
    by_kind = {str(kind): TicketCounts() for kind in KINDS}
    by_area: dict[str, TicketCounts] = {}
    weeks = weeks_between(scope.start, scope.end, tz)
    index = {week: n for n, week in enumerate(weeks)}
    per_week = {str(kind): [0] * len(weeks) for kind in KINDS}
    waits: list[float] = []
    waits_per_week: list[list[float]] = [[] for _ in weeks]
    for fact in facts:
        total.add(fact, now)
        by_kind.setdefault(fact.kind, TicketCounts()).add(fact, now)
        by_area.setdefault(fact.area_code or "", TicketCounts()).add(fact, now)
        slot = index.get(week_start(fact.created_at, tz))
        if slot is not None:
            per_week.setdefault(fact.kind, [0] * len(weeks))[slot] += 1
        if fact.answered_at is not None:
            hours = (fact.answered_at - fact.created_at).total_seconds() / 3600
            waits.append(hours)
            if slot is not None:
                waits_per_week[slot].append(hours)
    ratings = Counter(fact.rating for fact in facts if fact.rating is not None)
    resolved = Counter(fact.resolved for fact in facts if fact.resolved is not None)
    return TicketSummary(
        total=total, by_kind=by_kind, by_area=dict(sorted(by_area.items())), weeks=weeks, per_week=per_week,
        median_hours=median(waits) if waits else None,
        median_hours_per_week=[median(hours) if hours else None for hours in waits_per_week],
        ratings={score: ratings.get(score, 0) for score in range(1, 6)},
        resolved={True: resolved.get(True, 0), False: resolved.get(False, 0)},
    )


def _in_areas(column: object, areas: frozenset[str] | None) -> ColumnElement[bool]:
    return true() if areas is None else col(column).in_(sorted(areas))  # type: ignore[arg-type]


async def ticket_facts(session: AsyncSession, scope: Scope) -> list[TicketFact]:
    """The tickets created in the period and scope, oldest first."""
    rows = (await session.exec(
        select(Ticket.kind, Ticket.area_code, Ticket.status, Ticket.created_at, Ticket.due_at, Ticket.answered_at,
               Ticket.rating, Ticket.resolved)
        .where(col(Ticket.created_at) >= scope.start, col(Ticket.created_at) < scope.end,
               _in_areas(Ticket.area_code, scope.areas))
        .order_by(col(Ticket.created_at), col(Ticket.id))
    )).all()
    return [TicketFact(*row) for row in rows]


async def ticket_summary(session: AsyncSession, scope: Scope, tz: ZoneInfo, now: datetime) -> TicketSummary:
    """`summarize` over the tickets of the scope."""
    return summarize(await ticket_facts(session, scope), scope, tz, now)


def _reachable() -> list[ColumnElement[bool]]:
    return [col(Citizen.subscribed).is_(True), col(Citizen.consent_at).is_not(None), col(Citizen.unreachable_at).is_(None)]


async def subscribers_by_area(session: AsyncSession, areas: frozenset[str] | None) -> dict[str, int]:
    """Citizens who receive notices now (subscribed, consenting, reachable), per commune code."""
    rows = (await session.exec(
        select(Citizen.area_code, func.count()).where(*_reachable(), _in_areas(Citizen.area_code, areas))
        .group_by(Citizen.area_code)
    )).all()
    return {code or "": int(count) for code, count in rows}


async def new_citizens_by_area(session: AsyncSession, scope: Scope) -> dict[str, int]:
    """Citizens who first wrote to the bot in the period, per commune code ("" when unknown)."""
    rows = (await session.exec(
        select(Citizen.area_code, func.count())
        .where(col(Citizen.created_at) >= scope.start, col(Citizen.created_at) < scope.end,
               _in_areas(Citizen.area_code, scope.areas))
        .group_by(Citizen.area_code)
    )).all()
    return {code or "": int(count) for code, count in rows}


@dataclass(frozen=True)
class FaqUsage:
    """How often one FAQ entry was shown and rated in the period and areas."""

    faq_id: str
    topic: str
    question: str
    shown: int
    helpful: int
    unhelpful: int


async def faq_usage(session: AsyncSession, scope: Scope, locale: str = "vi") -> list[FaqUsage]:
    """Every FAQ entry with its counters in the scope (an answer counts in the commune of the citizen
    who read it; with no area filter, citizens of unknown commune count too), most shown first. The
    sums come from the day and month summaries where they cover the period (storage/faq_summary.py)."""
    sums = await faq_summary.usage_sums(session, scope.start, scope.end, scope.areas, by="faq_id")
    found = [
        FaqUsage(entry.id, entry.topic, str((entry.texts.get(locale) or entry.texts.get("vi") or {}).get("question", "")),
                 *sums.get(entry.id, (0, 0, 0)))
        for entry in (await session.exec(select(FaqRow))).all()
    ]
    return sorted(found, key=lambda usage: (-usage.shown, usage.faq_id))


@dataclass(frozen=True)
class TopicUsage:
    """The counters of a topic's FAQ entries added up."""

    topic: str
    shown: int
    helpful: int
    unhelpful: int

    @property
    def helpful_share(self) -> float | None:
        """Helpful votes among all votes (None without votes)."""
        votes = self.helpful + self.unhelpful
        return self.helpful / votes if votes else None


def by_topic(usages: Iterable[FaqUsage]) -> list[TopicUsage]:
    """Add the entries' counters up per topic, most shown first."""
    sums: dict[str, list[int]] = {}
    for usage in usages:
        total = sums.setdefault(usage.topic, [0, 0, 0])
        total[0] += usage.shown
        total[1] += usage.helpful
        total[2] += usage.unhelpful
    return sorted((TopicUsage(topic, *counts) for topic, counts in sums.items()), key=lambda t: (-t.shown, t.topic))


@dataclass(frozen=True)
class BroadcastReach:
    """One notice and what became of its messages within the scope."""

    broadcast: Broadcast
    counts: dict[str, int]

    @property
    def queued(self) -> int:
        """Messages queued for it (in the scope)."""
        return sum(self.counts.values())


def _state(status: str) -> str:
    """pending and sending both count as waiting."""
    return "pending" if status in (OutboxStatus.pending, OutboxStatus.sending) else status


async def _notice_counts(session: AsyncSession, scope: Scope, by: tuple[str, ...]) -> dict[tuple, int]:
    """Notice messages queued in the period, for citizens of the scope's communes (when they were
    queued), counted by `by` (storage/tally.py: counters, never the outbox)."""
    return await tally.counts(session, by, start=scope.start, end=scope.end, areas=scope.areas)


async def broadcast_reach(session: AsyncSession, scope: Scope) -> list[BroadcastReach]:
    """Notices with messages queued in the period and scope, newest first, with sent/failed/skipped/pending counts.

    A notice to the whole province counts, for a commune, only the messages to that commune's citizens.
    """
    counts: dict[int, dict[str, int]] = {}
    for (broadcast_id, status), count in (await _notice_counts(session, scope, ("broadcast_id", "status"))).items():
        per = counts.setdefault(int(broadcast_id), dict.fromkeys(OUTBOX_STATES, 0))
        per[_state(status)] = per.get(_state(status), 0) + count
    if not counts:
        return []
    broadcasts = (await session.exec(select(Broadcast).where(col(Broadcast.id).in_(sorted(counts))))).all()
    found = [BroadcastReach(broadcast, counts[broadcast.id or 0]) for broadcast in broadcasts]
    return sorted(found, key=lambda reach: (reach.broadcast.send_at, reach.broadcast.id or 0), reverse=True)


@dataclass(frozen=True)
class NoticeTotals:
    """All notice messages of the scope: queued, delivered, failed, skipped, waiting; distinct citizens reached."""

    queued: int
    sent: int
    failed: int
    skipped: int
    pending: int
    citizens_reached: int


async def notice_totals(session: AsyncSession, scope: Scope) -> NoticeTotals:
    """Totals over every notice message of the period and scope."""
    per: Counter[str] = Counter()
    for (status,), count in (await _notice_counts(session, scope, ("status",))).items():
        per[_state(status)] += count
    citizens = await tally.citizens_reached(session, scope.start, scope.end, scope.areas)
    return NoticeTotals(sum(per.values()), per["sent"], per["failed"], per["skipped"], per["pending"], citizens)


async def delivered_by_area(session: AsyncSession, scope: Scope) -> dict[str, int]:
    """Notice messages delivered in the period, per commune of the recipient."""
    found = await tally.counts(session, ("area_code",), start=scope.start, end=scope.end, areas=scope.areas,
                               statuses=[OutboxStatus.sent])
    return {code or "": count for (code,), count in found.items()}


async def top_unanswered(session: AsyncSession, scope: Scope, limit: int = 10) -> list[UnansweredQuestion]:
    """The questions the bot could not answer, last asked in the period, most asked first.

    These are not tied to a commune: the bot does not record who asked.
    """
    query = (
        select(UnansweredQuestion)
        .where(col(UnansweredQuestion.last_asked_at) >= scope.start, col(UnansweredQuestion.last_asked_at) < scope.end)
        .order_by(col(UnansweredQuestion.count).desc(), col(UnansweredQuestion.id))
        .limit(limit)
    )
    return list((await session.exec(query)).all())

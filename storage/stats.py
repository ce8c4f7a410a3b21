"""Aggregate figures for the statistics screen and the report, always within a period and an area scope.

Queries stay portable (SQLite and PostgreSQL) and the database does the counting: tickets are
counted in GROUP BYs, their local week given by the zone's week boundaries (computed here, passed as
UTC instants); a median reads two numbers per answered ticket, its week and its wait. Never commits.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Integer, case, cast, extract, false, func, literal_column, null, true
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import faq_summary, tally
from storage.models import (
    Broadcast,
    Citizen,
    FaqRow,
    OutboxStatus,
    Ticket,
    TicketKind,
    UnansweredQuestion,
)
from storage.ticket_rules import OPEN

KINDS = tuple(TicketKind)
OUTBOX_STATES = ("sent", "failed", "skipped", "pending")
SCORES = range(1, 6)


@dataclass(frozen=True)
class Scope:
    """A period [start, end) in UTC and the area codes to count (None: every area)."""

    start: datetime
    end: datetime
    areas: frozenset[str] | None = None


@dataclass
class TicketCounts:
    """Received / answered / answered on time / still open and late, for one group of tickets."""

    received: int = 0
    answered: int = 0
    on_time: int = 0
    open_late: int = 0
    rating_sum: int = 0
    rating_count: int = 0

    def add(self, other: TicketCounts) -> None:
        """Count another group's tickets in this one."""
        self.received += other.received
        self.answered += other.answered
        self.on_time += other.on_time
        self.open_late += other.open_late
        self.rating_sum += other.rating_sum
        self.rating_count += other.rating_count

    @property
    def on_time_share(self) -> float | None:
        """Share of answered tickets answered on time (None when nothing was answered)."""
        return self.on_time / self.answered if self.answered else None

    @property
    def mean_rating(self) -> float | None:
        """Average rating 1–5 (None without ratings)."""
        return self.rating_sum / self.rating_count if self.rating_count else None


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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OFFSET_STEP = timedelta(hours=3)  # the zone's offset changes are looked for this far apart (tzdata's are months apart)


def _offset(moment: datetime, tz: ZoneInfo) -> timedelta | None:
    return moment.astimezone(tz).utcoffset()


def _offset_changes(start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """The instants in (start, end) where the zone's UTC offset changes, to the microsecond."""
    found: list[datetime] = []
    left, before = start, _offset(start, tz)
    while left < end:
        right = min(left + _OFFSET_STEP, end)
        if _offset(right, tz) == before:
            left = right
            continue
        low, high = (left - _EPOCH) // timedelta(microseconds=1), (right - _EPOCH) // timedelta(microseconds=1)
        while high - low > 1:  # offset(low) == before != offset(high)
            middle = (low + high) // 2
            if _offset(_EPOCH + timedelta(microseconds=middle), tz) == before:
                low = middle
            else:
                high = middle
        left = _EPOCH + timedelta(microseconds=high)
        if left >= end:
            break
        found.append(left)
        before = _offset(left, tz)
    return found


@lru_cache(maxsize=64)
def week_changes(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[tuple[datetime, int | None], ...]:
    """Where the local week changes on the UTC time line of [start, end): (from this instant on, the
    week's index in `weeks_between`, None for a week outside it), the first at `start`.

    Computed with the zone, so that comparing a UTC column with these instants gives exactly the
    week `week_start` gives, for any zone: between two offset changes local time is UTC plus a fixed
    offset, so a week begins at its local Monday midnight minus that offset; an offset change may
    itself move local time into another week (forwards or, where clocks go back over midnight,
    backwards).
    """
    index = {week: n for n, week in enumerate(weeks_between(start, end, tz))}
    cuts = [start, *_offset_changes(start, end, tz), end]
    found: list[tuple[datetime, int | None]] = []
    for left, right in itertools.pairwise(cuts):
        offset = _offset(left, tz) or timedelta(0)
        monday = week_start(left, tz)
        found.append((left, index.get(monday)))
        while (moment := datetime.combine(monday + timedelta(weeks=1), time(), UTC) - offset) < right:
            monday += timedelta(weeks=1)
            found.append((moment, index.get(monday)))
    return tuple(change for n, change in enumerate(found) if n == 0 or change[1] != found[n - 1][1])


def _week_of(column: Any, changes: Sequence[tuple[datetime, int | None]]) -> ColumnElement[Any]:
    """The week index of a UTC column as SQL: nested CASEs over the changes, halving (log₂ comparisons a row)."""
    if len(changes) == 1:
        index = changes[0][1]
        return null() if index is None else literal_column(str(int(index)))
    middle = len(changes) // 2
    return case(
        (column < changes[middle][0], _week_of(column, changes[:middle])), else_=_week_of(column, changes[middle:])
    )


def _wait_microseconds(session: AsyncSession) -> ColumnElement[int]:
    """answered_at − created_at in whole microseconds, exactly, on either database."""
    answered, created = col(Ticket.answered_at), col(Ticket.created_at)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return cast(extract("epoch", answered - created) * 1_000_000, BigInteger)
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' text: whole seconds without the fraction (which
    # strftime would round to milliseconds), then the microseconds.

    def seconds(column: Any) -> ColumnElement[Any]:
        return cast(func.strftime("%s", func.substr(column, 1, 19)), BigInteger)

    def micros(column: Any) -> ColumnElement[Any]:
        return cast(func.substr(column, 21, 6), BigInteger)

    return (seconds(answered) - seconds(created)) * 1_000_000 + micros(answered) - micros(created)


def _hours(microseconds: int) -> float:
    """Hours as `timedelta.total_seconds() / 3600` gives them (the same float)."""
    return microseconds / 10**6 / 3600


def _in_areas(column: object, areas: frozenset[str] | None) -> ColumnElement[bool]:
    return true() if areas is None else col(column).in_(sorted(areas))


def _in_scope(scope: Scope) -> list[ColumnElement[bool]]:
    return [
        col(Ticket.created_at) >= scope.start,
        col(Ticket.created_at) < scope.end,
        _in_areas(Ticket.area_code, scope.areas),
    ]


async def _counts(
    session: AsyncSession, scope: Scope, now: datetime
) -> list[tuple[str, str | None, TicketCounts, list[int]]]:
    """The tickets of the scope counted by kind and commune in one GROUP BY: the counts, and how
    many were rated 1, 2, … 5 and said resolved or not resolved."""
    one, zero = literal_column("1", Integer), literal_column("0", Integer)

    def how_many(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((condition, one), else_=zero))

    rating = col(Ticket.rating)
    query = (
        select_columns(
            col(Ticket.kind),
            col(Ticket.area_code),
            func.count(),
            func.count(col(Ticket.answered_at)),
            how_many(col(Ticket.answered_at) <= col(Ticket.due_at)),
            how_many(col(Ticket.status).in_(sorted(OPEN)) & (col(Ticket.due_at) < now)),
            func.coalesce(func.sum(rating), 0),
            func.count(rating),
            *(how_many(rating == literal_column(str(score))) for score in SCORES),
            how_many(col(Ticket.resolved).is_(True)),
            how_many(col(Ticket.resolved).is_(False)),
        )
        .where(*_in_scope(scope))
        .group_by(col(Ticket.kind), col(Ticket.area_code))
    )
    return [
        (kind, area, TicketCounts(*(int(number) for number in numbers[:6])), [int(n) for n in numbers[6:]])
        for kind, area, *numbers in (await (await session.connection()).execute(query)).all()
    ]


async def _received_per_week(
    session: AsyncSession, scope: Scope, changes: Sequence[tuple[datetime, int | None]]
) -> list[tuple[str, int | None, int]]:
    """The tickets of the scope counted by kind and local week (its index; None outside the weeks)."""
    rows = (
        select(Ticket.kind, _week_of(col(Ticket.created_at), changes).label("week")).where(*_in_scope(scope)).subquery()
    )
    query = select(rows.c.kind, rows.c.week, func.count()).group_by(rows.c.kind, rows.c.week)
    return [(kind, week, int(count)) for kind, week, count in (await (await session.connection()).execute(query)).all()]


def _answered_waits(scope: Scope, changes: Sequence[tuple[datetime, int | None]], session: AsyncSession) -> Any:
    """Per answered ticket of the scope, its local week (index; None without `changes`) and its wait in microseconds."""
    week = _week_of(col(Ticket.created_at), changes) if changes else null()
    return (
        select_columns(week.label("week"), _wait_microseconds(session).label("wait"))
        .where(*_in_scope(scope), col(Ticket.answered_at).is_not(None))
        .subquery()
    )


async def _median_waits(
    session: AsyncSession, scope: Scope, changes: Sequence[tuple[datetime, int | None]]
) -> list[tuple[bool, int | None, int]]:
    """Waits (microseconds) whose median is the median of the scope's answered tickets, per local
    week (its index; none without `changes`) and over all, as (over all?, week, wait).

    PostgreSQL ranks them and sends only the one or two middle waits of each; SQLite sends every
    wait (ranking with window functions is slower there than sorting in Python). Either way the
    median is taken here, so it is exactly the float `statistics.median` gives.
    """
    waits = _answered_waits(scope, changes, session)
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        rows = (await connection.execute(select_columns(waits.c.week, waits.c.wait))).all()
        return [(overall, week, int(wait)) for week, wait in rows for overall in (False, True)]
    weekly = [
        func.row_number().over(partition_by=waits.c.week, order_by=waits.c.wait).label("in_week"),
        func.count().over(partition_by=waits.c.week).label("of_week"),
    ]
    ranked = select_columns(
        waits.c.week,
        waits.c.wait,
        *(weekly if changes else ()),
        func.row_number().over(order_by=waits.c.wait).label("in_all"),
        func.count().over().label("of_all"),
    ).subquery()

    def middle(rank: Any, of: Any) -> ColumnElement[bool]:
        # The (n+1)/2-th and (n+2)/2-th in whole numbers: the middle one, or the middle two.
        return rank.in_([(of + 1) // 2, (of + 2) // 2])

    in_all = middle(ranked.c.in_all, ranked.c.of_all)
    in_week = middle(ranked.c.in_week, ranked.c.of_week) if changes else false()
    query = select_columns(in_week, in_all, ranked.c.week, ranked.c.wait).where(in_week | in_all)
    found: list[tuple[bool, int | None, int]] = []
    for week_middle, overall_middle, week, wait in (await connection.execute(query)).all():
        found += [
            (overall, week, int(wait)) for overall, keep in ((False, week_middle), (True, overall_middle)) if keep
        ]
    return found


def _medians(waits: list[tuple[bool, int | None, int]], weeks: int) -> tuple[float | None, list[float | None]]:
    """The median hours over all and per week, from `_median_waits`."""
    hours: dict[tuple[bool, int | None], list[float]] = {}
    for overall, week, wait in waits:
        hours.setdefault((overall, None if overall else week), []).append(_hours(wait))

    def median_of(key: tuple[bool, int | None]) -> float | None:
        return median(hours[key]) if key in hours else None

    return median_of((True, None)), [median_of((False, week)) for week in range(weeks)]


async def ticket_summary(
    session: AsyncSession, scope: Scope, tz: ZoneInfo, now: datetime, *, weekly: bool = True
) -> TicketSummary:
    """Tickets created in the period and scope, counted by kind, commune and local week by the database;
    median hours to the first answer (over all, per week); the ratings and "resolved" answers given.
    With `weekly` false nothing is counted per week (no weeks, lists and medians per week empty)."""
    weeks = weeks_between(scope.start, scope.end, tz) if weekly else []
    changes = week_changes(scope.start, scope.end, tz) if weekly else ()
    total = TicketCounts()
    by_kind = {str(kind): TicketCounts() for kind in KINDS}
    by_area: dict[str, TicketCounts] = {}
    per_week = {str(kind): [0] * len(weeks) for kind in KINDS}
    ratings = [0] * (len(SCORES) + 2)  # each score, then resolved, not resolved
    for kind, area, counts, given in await _counts(session, scope, now):
        for group in (total, by_kind.setdefault(kind, TicketCounts()), by_area.setdefault(area or "", TicketCounts())):
            group.add(counts)
        ratings = [sum(pair) for pair in zip(ratings, given, strict=True)]
        per_week.setdefault(kind, [0] * len(weeks))
    for kind, week, count in await _received_per_week(session, scope, changes) if weekly else ():
        if week is not None:
            per_week.setdefault(kind, [0] * len(weeks))[int(week)] += count
    median_hours, median_hours_per_week = _medians(await _median_waits(session, scope, changes), len(weeks))
    return TicketSummary(
        total=total,
        by_kind=by_kind,
        by_area=dict(sorted(by_area.items())),
        weeks=weeks,
        per_week=per_week,
        median_hours=median_hours,
        median_hours_per_week=median_hours_per_week,
        ratings=dict(zip(SCORES, ratings, strict=False)),
        resolved={True: ratings[-2], False: ratings[-1]},
    )


def _reachable() -> list[ColumnElement[bool]]:
    return [
        col(Citizen.subscribed).is_(True),
        col(Citizen.consent_at).is_not(None),
        col(Citizen.unreachable_at).is_(None),
    ]


async def subscribers_by_area(session: AsyncSession, areas: frozenset[str] | None) -> dict[str, int]:
    """Citizens who receive notices now (subscribed, consenting, reachable), per commune code."""
    rows = (
        await session.exec(
            select(Citizen.area_code, func.count())
            .where(*_reachable(), _in_areas(Citizen.area_code, areas))
            .group_by(Citizen.area_code)
        )
    ).all()
    return {code or "": int(count) for code, count in rows}


async def new_citizens_by_area(session: AsyncSession, scope: Scope) -> dict[str, int]:
    """Citizens who first wrote to the bot in the period, per commune code ("" when unknown)."""
    rows = (
        await session.exec(
            select(Citizen.area_code, func.count())
            .where(
                col(Citizen.created_at) >= scope.start,
                col(Citizen.created_at) < scope.end,
                _in_areas(Citizen.area_code, scope.areas),
            )
            .group_by(Citizen.area_code)
        )
    ).all()
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
        FaqUsage(
            entry.id,
            entry.topic,
            str((entry.texts.get(locale) or entry.texts.get("vi") or {}).get("question", "")),
            *sums.get(entry.id, (0, 0, 0)),
        )
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
    found = await tally.counts(
        session, ("area_code",), start=scope.start, end=scope.end, areas=scope.areas, statuses=[OutboxStatus.sent]
    )
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

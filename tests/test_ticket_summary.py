"""Ticket figures counted by the database (storage/stats.py `ticket_summary`) equal the same figures
computed in plain Python over every ticket, on SQLite and on PostgreSQL: random tickets around the
edges of the period and of its local weeks, in zones with whole, half and three-quarter hour offsets
and daylight saving time, with every mix of open, late, answered, rated and resolved."""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from storage import stats
from storage.db import SessionFactory
from storage.models import Ticket, TicketKind, TicketStatus
from storage.ticket_rules import OPEN

ZONES = ("Asia/Ho_Chi_Minh", "UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Australia/Lord_Howe",
         "Pacific/Chatham", "Europe/Berlin", "America/Asuncion", "America/Santiago")
AREAS = ("24175", "24133", "24169")  # Hòa Phú, Buôn Ma Thuột, Ea Kao
KIND_NAMES = (*(str(kind) for kind in TicketKind), "petition")  # and one the code does not know
MICRO = timedelta(microseconds=1)


def expected(tickets: list[Ticket], scope: stats.Scope, tz: ZoneInfo, now: datetime) -> stats.TicketSummary:
    """The figures, ticket by ticket in Python: the definition the SQL must reproduce."""
    chosen = [t for t in tickets if scope.start <= t.created_at < scope.end
              and (scope.areas is None or t.area_code in scope.areas)]
    weeks = stats.weeks_between(scope.start, scope.end, tz)
    index = {week: n for n, week in enumerate(weeks)}
    total = stats.TicketCounts()
    by_kind = {str(kind): stats.TicketCounts() for kind in TicketKind}
    by_area: dict[str, stats.TicketCounts] = {}
    per_week = {str(kind): [0] * len(weeks) for kind in TicketKind}
    waits: list[float] = []
    waits_per_week: list[list[float]] = [[] for _ in weeks]
    for ticket in chosen:
        one = stats.TicketCounts(
            received=1, answered=ticket.answered_at is not None,
            on_time=ticket.answered_at is not None and ticket.answered_at <= ticket.due_at,
            open_late=ticket.status in OPEN and ticket.due_at < now,
            rating_sum=ticket.rating or 0, rating_count=ticket.rating is not None)
        for group in (total, by_kind.setdefault(ticket.kind, stats.TicketCounts()),
                      by_area.setdefault(ticket.area_code or "", stats.TicketCounts())):
            group.add(one)
        slot = index.get(stats.week_start(ticket.created_at, tz))
        if slot is not None:
            per_week.setdefault(ticket.kind, [0] * len(weeks))[slot] += 1
        if ticket.answered_at is not None:
            hours = (ticket.answered_at - ticket.created_at).total_seconds() / 3600
            waits.append(hours)
            if slot is not None:
                waits_per_week[slot].append(hours)
    ratings = Counter(t.rating for t in chosen if t.rating is not None)
    resolved = Counter(t.resolved for t in chosen if t.resolved is not None)
    return stats.TicketSummary(
        total=total, by_kind=by_kind, by_area=dict(sorted(by_area.items())), weeks=weeks, per_week=per_week,
        median_hours=median(waits) if waits else None,
        median_hours_per_week=[median(hours) if hours else None for hours in waits_per_week],
        ratings={score: ratings.get(score, 0) for score in range(1, 6)},
        resolved={True: resolved.get(True, 0), False: resolved.get(False, 0)},
    )


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tz).astimezone(UTC)


@st.composite
def cases(draw: st.DrawFn) -> tuple[stats.Scope, ZoneInfo, datetime, list[Ticket]]:
    """A period of whole local days (or one cut inside a day), an area scope, a clock and tickets
    created near its edges and near the local Mondays inside it."""
    tz = ZoneInfo(draw(st.sampled_from(ZONES)))
    first = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)))
    start, end = local_midnight(first, tz), local_midnight(first + timedelta(days=draw(st.integers(1, 120))), tz)
    if draw(st.booleans()):
        start += timedelta(minutes=draw(st.integers(0, 24 * 60)))
        end = max(start + MICRO, end - timedelta(minutes=draw(st.integers(0, 24 * 60))))
    areas = draw(st.one_of(st.none(), st.sets(st.sampled_from(AREAS), min_size=1).map(frozenset)))
    mondays = [local_midnight(week, tz) for week in stats.weeks_between(start, end, tz)]
    edges = [start, end, *mondays]
    near = st.builds(lambda edge, delta: edge + timedelta(microseconds=delta), st.sampled_from(edges),
                     st.one_of(st.integers(-2, 2), st.integers(-3 * 86_400 * 10**6, 3 * 86_400 * 10**6)))
    waits = st.one_of(st.integers(0, 2), st.integers(0, 40 * 86_400).map(lambda s: s * 10**6),
                      st.integers(0, 40 * 86_400 * 10**6))
    tickets: list[Ticket] = []
    for n in range(draw(st.integers(0, 30))):
        created = draw(near)
        due = created + timedelta(microseconds=draw(st.one_of(st.sampled_from([0, 1]), st.integers(0, 30 * 86_400 * 10**6))))
        status = draw(st.sampled_from(list(TicketStatus)))
        answered = None
        if status not in OPEN or draw(st.integers(0, 4)) == 0:  # an answered ticket may be open again
            answered = None if status == TicketStatus.rejected and draw(st.booleans()) else created + timedelta(
                microseconds=draw(waits))
        tickets.append(Ticket(
            code=f"PA-T{n:04d}", kind=draw(st.sampled_from(KIND_NAMES)), area_code=draw(st.sampled_from((None, *AREAS))),
            status=status, body="…", created_at=created, due_at=due, answered_at=answered, updated_at=created,
            rating=draw(st.one_of(st.none(), st.integers(1, 5))), resolved=draw(st.sampled_from((None, True, False)))))
    now = draw(st.sampled_from(edges)) + timedelta(microseconds=draw(st.integers(-86_400 * 10**6, 86_400 * 10**6)))
    if draw(st.booleans()) and tickets:  # the very moment a ticket falls due
        now = draw(st.sampled_from(tickets)).due_at
    return stats.Scope(start, end, areas), tz, now, tickets


@given(case=cases())
@hypothesis_settings(max_examples=60, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                            HealthCheck.data_too_large])
async def test_the_database_counts_what_python_counts(db_sessions: SessionFactory, case) -> None:
    scope, tz, now, tickets = case
    plain = expected(tickets, scope, tz, now)
    async with db_sessions() as session:
        session.add_all(tickets)
        await session.flush()
        try:
            assert await stats.ticket_summary(session, scope, tz, now) == plain
            # Without the weeks (the public figures): the same counts and median, nothing per week.
            assert await stats.ticket_summary(session, scope, tz, now, weekly=False) == dataclasses.replace(
                plain, weeks=[], per_week={kind: [] for kind in plain.per_week}, median_hours_per_week=[])
        finally:
            await session.rollback()


async def test_weeks_medians_and_counts_at_the_edges(db_sessions: SessionFactory) -> None:
    """Kathmandu (UTC+5:45): a ticket a microsecond before local Monday midnight is in the week before;
    medians of an even number of waits with fractions of a second are exact."""
    tz = ZoneInfo("Asia/Kathmandu")
    start, monday, end = (local_midnight(day, tz) for day in (date(2026, 3, 4), date(2026, 3, 9), date(2026, 3, 16)))
    now = monday + timedelta(days=2)

    def ticket(n: int, created: datetime, wait: timedelta | None, status: str, **extra: Any) -> Ticket:
        return Ticket(code=f"PA-E{n}", kind="question", area_code=AREAS[n % 2], status=status, body="…",
                      created_at=created, due_at=created + timedelta(days=1),
                      answered_at=None if wait is None else created + wait, updated_at=created, **extra)

    tickets = [
        ticket(1, monday - MICRO, timedelta(hours=1, microseconds=1), "answered", rating=5),
        ticket(2, monday, timedelta(hours=3, microseconds=500_000), "closed", rating=2, resolved=True),
        ticket(3, monday + timedelta(hours=1), timedelta(days=2), "answered", resolved=False),
        ticket(4, monday + timedelta(hours=2), None, "new"),  # open and late
        ticket(5, end - timedelta(hours=1), None, "in_progress"),  # open, not yet due
        ticket(6, start - MICRO, timedelta(hours=1), "answered"),  # before the period
        ticket(7, end, timedelta(hours=1), "answered"),  # after it
    ]
    async with db_sessions() as session:
        session.add_all(tickets)
        await session.commit()
        summary = await stats.ticket_summary(session, stats.Scope(start, end), tz, now)
        commune = await stats.ticket_summary(session, stats.Scope(start, end, frozenset({AREAS[0]})), tz, now)
    hours = [(ticket.answered_at - ticket.created_at).total_seconds() / 3600 for ticket in tickets[:3] if ticket.answered_at]
    assert summary.weeks == [date(2026, 3, 2), date(2026, 3, 9)]  # the period ends on Sunday 15 March
    assert summary.per_week["question"] == [1, 4] and summary.per_week["complaint"] == [0, 0]
    assert summary.median_hours_per_week == [hours[0], (hours[1] + hours[2]) / 2]
    assert summary.median_hours == hours[1] == 3 + 0.5 / 3600
    total = summary.total
    assert (total.received, total.answered, total.on_time, total.open_late) == (5, 3, 2, 1)
    assert (total.mean_rating, summary.ratings, summary.resolved) == (3.5, {1: 0, 2: 1, 3: 0, 4: 0, 5: 1},
                                                                      {True: 1, False: 1})
    assert set(summary.by_area) == set(AREAS[:2]) and summary.by_kind["question"] == total
    assert commune.total.received == 2 and commune.by_area.keys() == {AREAS[0]}
    assert summary == expected(tickets, stats.Scope(start, end), tz, now)


@pytest.mark.parametrize("zone", ZONES)
def test_week_changes_give_the_local_week_of_every_instant(zone: str) -> None:
    """Checked at and around every local midnight and every hour of two years, including the days
    clocks change (some zones change at midnight, going back into the day before)."""
    tz = ZoneInfo(zone)
    start, end = datetime(2025, 1, 1, 7, 13, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    changes = stats.week_changes(start, end, tz)
    index = {week: n for n, week in enumerate(stats.weeks_between(start, end, tz))}
    assert changes[0][0] == start and all(a[0] < b[0] for a, b in zip(changes, changes[1:], strict=False))

    starts = [at for at, _ in changes]

    def by_changes(moment: datetime) -> int | None:
        return changes[bisect_right(starts, moment) - 1][1]

    day = start.astimezone(tz).date()
    moments = [start, end - MICRO, *(at + d for at in starts for d in (-MICRO, timedelta(0), MICRO))]
    while (midnight := local_midnight(day, tz)) < end:
        moments += [midnight + timedelta(hours=h) + d for h in range(25) for d in (-MICRO, timedelta(0), MICRO)]
        day += timedelta(days=1)
    for moment in sorted(m for m in moments if start <= m < end):
        assert by_changes(moment) == index.get(stats.week_start(moment, tz)), moment

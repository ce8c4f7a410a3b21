"""FAQ counters summed per local day and per local month, so that the figures of a period add up a
few rows per commune and entry instead of one row per hour (`faq_usage`).

- `refresh` (a scheduler job) sums each local day, in the province's time zone, once it has ended
  and SETTLE has passed (a turn counts in the hour it began, so by then nothing writes into the
  day any more), then each month once its last day is summed. Days are summed in order, each from
  where the last one ended, so spans never overlap, even if the time zone is changed. Each span is
  listed in `faq_usage_span` with its bounds in UTC.
- `usage_sums` (the readers) takes the months, then the days, that lie wholly inside the period,
  and the hourly rows for the rest of it: the same sums as the hourly rows alone, whether the days
  are summed yet or not, for any period.
- `roll_up_hours` (retention) deletes the hourly rows of summed days older than a date: their counts
  live on in the day's and the month's rows.

Portable SQL (SQLite and PostgreSQL); never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, delete, func, insert, literal, or_, select, true, tuple_, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import FaqUsageRow, FaqUsageSpan, FaqUsageSummary

DAY, MONTH = "day", "month"
SETTLE = timedelta(hours=1)
Counts = tuple[int, int, int]  # shown, helpful, unhelpful
Interval = tuple[datetime, datetime]

_span = FaqUsageSpan.__table__  # type: ignore[attr-defined]
_summary = FaqUsageSummary.__table__  # type: ignore[attr-defined]
_hourly = FaqUsageRow.__table__  # type: ignore[attr-defined]


def midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant the local `day` begins."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _previous_month(first: date) -> date:
    """The first day of the month before the one `first` begins."""
    return (first - timedelta(days=1)).replace(day=1)


# --- reading --------------------------------------------------------------------------------------


async def usage_sums(
    session: AsyncSession, start: datetime, end: datetime, areas: frozenset[str] | None,
    by: Literal["faq_id", "area_code"],
) -> dict[str, Counts]:
    """(shown, helpful, unhelpful) in [start, end) per FAQ entry or per commune code ("" unknown),
    only for `areas` unless None: exactly the sums of the hourly rows of the period, read from the
    summed months and days lying wholly inside it and from the hourly rows for the rest."""
    spans = (await session.exec(  # type: ignore[call-overload]
        select(_span.c.span, _span.c.day, _span.c.starts_at, _span.c.ends_at)
        .where(_span.c.starts_at >= start, _span.c.ends_at <= end).order_by(_span.c.starts_at)
    )).all()
    months = [(day, begins, ends) for span, day, begins, ends in spans if span == MONTH]
    taken: list[Interval] = [(begins, ends) for _, begins, ends in months]
    days = [(day, begins, ends) for span, day, begins, ends in spans
            if span == DAY and not any(begins < other_end and other_start < ends for other_start, other_end in taken)]
    taken = sorted(taken + [(begins, ends) for _, begins, ends in days])
    parts = [
        _summed(kind, found, by, areas) for kind, found in ((MONTH, months), (DAY, days)) if found
    ]
    hours = _gaps(start.astimezone(UTC), end.astimezone(UTC), taken)
    if hours:
        parts.append(
            select(_hourly.c[by].label("key"), _hourly.c.shown, _hourly.c.helpful, _hourly.c.unhelpful)
            .where(or_(*(and_(_hourly.c.hour >= a, _hourly.c.hour < b) for a, b in hours)), _in(_hourly.c.area_code, areas))
        )
    if not parts:
        return {}
    rows = union_all(*parts).subquery()
    found = (await session.exec(  # type: ignore[call-overload]
        select(rows.c.key, func.sum(rows.c.shown), func.sum(rows.c.helpful), func.sum(rows.c.unhelpful)).group_by(rows.c.key)
    )).all()
    return {str(key or ""): (int(shown or 0), int(helpful or 0), int(unhelpful or 0)) for key, shown, helpful, unhelpful in found}


def _in(column: ColumnElement, areas: frozenset[str] | None) -> ColumnElement[bool]:
    return true() if areas is None else column.in_(sorted(areas))


def _summed(kind: str, spans: Sequence[tuple[date, datetime, datetime]], by: str, areas: frozenset[str] | None):  # type: ignore[no-untyped-def]
    """The summary rows of these spans of one kind, as runs of consecutive days (or months)."""
    runs: list[list[date]] = []
    previous_end: datetime | None = None
    for day, begins, ends in spans:
        if runs and begins == previous_end:
            runs[-1][1] = day
        else:
            runs.append([day, day])
        previous_end = ends
    return (
        select(_summary.c[by].label("key"), _summary.c.shown, _summary.c.helpful, _summary.c.unhelpful)
        .where(_summary.c.span == kind, or_(*(_summary.c.day.between(first, last) for first, last in runs)),
               _in(_summary.c.area_code, areas))
    )


def _gaps(start: datetime, end: datetime, taken: Sequence[Interval]) -> list[Interval]:
    """The parts of [start, end) outside the sorted, non-overlapping intervals `taken`."""
    gaps, at = [], start
    for begins, ends in taken:
        if begins > at:
            gaps.append((at, begins))
        at = max(at, ends)
    if at < end:
        gaps.append((at, end))
    return gaps


# --- summing --------------------------------------------------------------------------------------


async def refresh(session: AsyncSession, tz: ZoneInfo, now: datetime, limit: int = 4) -> int:
    """Sum up to `limit` more local days that ended at least SETTLE ago (and each month whose last
    day that was); return how many days were summed (0: up to date). A process that finds a day
    already summed by another stops there."""
    made = 0
    day = await _next_day(session, tz)
    while day is not None and made < limit:
        begins, ends = midnight(day, tz), midnight(day + timedelta(days=1), tz)
        if ends + SETTLE > now:
            break
        if not await _claim(session, DAY, day, begins, ends, now):
            break
        await session.exec(insert(_summary).from_select(  # type: ignore[call-overload]
            ["span", "day", "area_code", "faq_id", "shown", "helpful", "unhelpful"],
            select(literal(DAY), literal(day), _hourly.c.area_code, _hourly.c.faq_id, func.sum(_hourly.c.shown),
                   func.sum(_hourly.c.helpful), func.sum(_hourly.c.unhelpful))
            .where(_hourly.c.hour >= begins, _hourly.c.hour < ends).group_by(_hourly.c.area_code, _hourly.c.faq_id),
        ))
        made += 1
        day += timedelta(days=1)
        if day.day == 1:
            await _sum_month(session, _previous_month(day), day - timedelta(days=1), now)
            day = await _next_day(session, tz)  # empty months are skipped
    return made


async def _next_day(session: AsyncSession, tz: ZoneInfo) -> date | None:
    """The local day to sum next: the first one beginning where the last summed day ended; from a
    month's first day on, the first day of the month of the next hourly row (empty months are
    skipped); None when there is nothing to sum."""
    last = (await session.exec(select(func.max(_span.c.ends_at)).where(_span.c.span == DAY))).one()[0]  # type: ignore[call-overload]
    after = (_hourly.c.hour >= last,) if last is not None else ()
    following = (await session.exec(select(func.min(_hourly.c.hour)).where(*after))).one()[0]  # type: ignore[call-overload]
    if last is None:
        return None if following is None else _local_day(following, tz).replace(day=1)
    last = last.astimezone(UTC) if last.tzinfo else last.replace(tzinfo=UTC)
    day = _local_day(last, tz)
    if midnight(day, tz) < last:
        day += timedelta(days=1)
    if day.day != 1:
        return day
    if following is None:
        return None
    return max(day, _local_day(following, tz).replace(day=1))


def _local_day(moment: datetime, tz: ZoneInfo) -> date:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).date()


async def _claim(session: AsyncSession, kind: str, day: date, begins: datetime, ends: datetime, now: datetime) -> bool:
    """List a span as summed; False when it already is (another process got there first)."""
    dialect = postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite
    result = await session.exec(  # type: ignore[call-overload]
        dialect.insert(_span).values(span=kind, day=day, starts_at=begins, ends_at=ends, made_at=now)
        .on_conflict_do_nothing(index_elements=["span", "day"])
    )
    return bool(result.rowcount)


async def _sum_month(session: AsyncSession, first: date, last: date, now: datetime) -> None:
    """Sum a month from its days, when every one of them is summed, one after the other."""
    days = (await session.exec(  # type: ignore[call-overload]
        select(_span.c.day, _span.c.starts_at, _span.c.ends_at)
        .where(_span.c.span == DAY, _span.c.day >= first, _span.c.day <= last).order_by(_span.c.day)
    )).all()
    whole = len(days) == (last - first).days + 1 and all(a[2] == b[1] for a, b in zip(days, days[1:], strict=False))
    if not whole or not await _claim(session, MONTH, first, days[0][1], days[-1][2], now):
        return
    await session.exec(insert(_summary).from_select(  # type: ignore[call-overload]
        ["span", "day", "area_code", "faq_id", "shown", "helpful", "unhelpful"],
        select(literal(MONTH), literal(first), _summary.c.area_code, _summary.c.faq_id, func.sum(_summary.c.shown),
               func.sum(_summary.c.helpful), func.sum(_summary.c.unhelpful))
        .where(_summary.c.span == DAY, _summary.c.day >= first, _summary.c.day <= last)
        .group_by(_summary.c.area_code, _summary.c.faq_id),
    ))


# --- retention ------------------------------------------------------------------------------------


async def roll_up_hours(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to `limit` hourly rows of summed local days that ended by `before` (oldest first);
    return how many. Hours of days not summed yet, or not wholly before `before`, stay. Idempotent:
    it only removes what the day summaries already hold."""
    spans = (await session.exec(  # type: ignore[call-overload]
        select(_span.c.starts_at, _span.c.ends_at).where(_span.c.span == DAY, _span.c.ends_at <= before)
        .order_by(_span.c.starts_at)
    )).all()
    runs: list[list[datetime]] = []
    for begins, ends in spans:
        if runs and runs[-1][1] == begins:
            runs[-1][1] = ends
        else:
            runs.append([begins, ends])
    if not runs or limit <= 0:
        return 0
    key = (_hourly.c.hour, _hourly.c.area_code, _hourly.c.faq_id)
    oldest = (
        select(*key).where(or_(*(and_(_hourly.c.hour >= a, _hourly.c.hour < b) for a, b in runs)))
        .order_by(*key).limit(limit)
    )
    result = await session.exec(delete(_hourly).where(tuple_(*key).in_(oldest)))  # type: ignore[call-overload]
    return int(result.rowcount or 0)


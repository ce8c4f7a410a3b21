"""FAQ counters summed per local day and per local month, so that the figures of a period add up a
few rows per commune and entry instead of one row per hour (`faq_usage`).

- A scheduler job sums each local day, in the province's time zone, once it has ended and SETTLE
  has passed (a turn counts in the hour it began, so by then nothing writes into the day any
  more), then each month with its last day. Days are summed in order, each from where the last
  one ended, so spans never overlap, even if the time zone is changed. Each span is listed in
  `faq_usage_span` with its bounds in UTC. `due` says what to sum, `sums` reads the sums (on a
  read connection: a month takes a second on SQLite, and the connection citizens' turns use stays
  free), `store` writes them; `refresh` does the three in one session.
- `usage_sums` (the readers) takes the months, then the days, that lie wholly inside the period,
  and the hourly rows for the rest of it: the same sums as the hourly rows alone, whether the days
  are summed yet or not, for any period. Besides a row per commune and entry, each span has a row
  per entry for every commune together (area_code ALL) and one per commune for every entry
  together (faq_id ALL): province-wide figures and figures per commune read a few dozen rows a span,
  not thousands.
- `roll_up_hours` (retention) deletes the hourly rows of days older than a date once the day and its
  month are summed: their counts live on in the day's and the month's rows.

Portable SQL (SQLite and PostgreSQL); never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, true, tuple_, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.core import run, table_of
from storage.models import FaqUsageRow, FaqUsageSpan, FaqUsageSummary

DAY, MONTH = "day", "month"
ALL = "*"  # in faq_usage_summary: the row of every commune (area_code) or of every entry (faq_id)
SETTLE = timedelta(hours=1)
Counts = tuple[int, int, int]  # shown, helpful, unhelpful
Interval = tuple[datetime, datetime]

_span = table_of(FaqUsageSpan)
_summary = table_of(FaqUsageSummary)
_hourly = table_of(FaqUsageRow)


def midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant the local `day` begins."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _previous_month(first: date) -> date:
    """The first day of the month before the one `first` begins."""
    return (first - timedelta(days=1)).replace(day=1)


def _next_month(first: date) -> date:
    """The first day of the month after the one `first` begins."""
    return (first + timedelta(days=32)).replace(day=1)


# --- reading --------------------------------------------------------------------------------------


async def usage_sums(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    areas: frozenset[str] | None,
    by: Literal["faq_id", "area_code"],
) -> dict[str, Counts]:
    """(shown, helpful, unhelpful) in [start, end) per FAQ entry or per commune code ("" unknown),
    only for `areas` unless None: exactly the sums of the hourly rows of the period, read from the
    summed months and days lying wholly inside it and from the hourly rows for the rest."""
    spans = (
        await run(
            session,
            select(_span.c.span, _span.c.day, _span.c.starts_at, _span.c.ends_at)
            .where(_span.c.starts_at >= start, _span.c.ends_at <= end)
            .order_by(_span.c.starts_at),
        )
    ).all()
    months = [(day, begins, ends) for span, day, begins, ends in spans if span == MONTH]
    taken: list[Interval] = [(begins, ends) for _, begins, ends in months]
    days = [
        (day, begins, ends)
        for span, day, begins, ends in spans
        if span == DAY and not any(begins < other_end and other_start < ends for other_start, other_end in taken)
    ]
    taken = sorted(taken + [(begins, ends) for _, begins, ends in days])
    parts = [_summed(kind, found, by, areas) for kind, found in ((MONTH, months), (DAY, days)) if found]
    hours = _gaps(start.astimezone(UTC), end.astimezone(UTC), taken)
    if hours:
        parts.append(
            select(_hourly.c[by].label("key"), _hourly.c.shown, _hourly.c.helpful, _hourly.c.unhelpful).where(
                or_(*(and_(_hourly.c.hour >= a, _hourly.c.hour < b) for a, b in hours)), _in(_hourly.c.area_code, areas)
            )
        )
    if not parts:
        return {}
    rows = union_all(*parts).subquery()
    found = (
        await run(
            session,
            select(rows.c.key, func.sum(rows.c.shown), func.sum(rows.c.helpful), func.sum(rows.c.unhelpful)).group_by(
                rows.c.key
            ),
        )
    ).all()
    return {
        str(key or ""): (int(shown or 0), int(helpful or 0), int(unhelpful or 0))
        for key, shown, helpful, unhelpful in found
    }


def _in(column: ColumnElement, areas: frozenset[str] | None) -> ColumnElement[bool]:
    return true() if areas is None else column.in_(sorted(areas))


def _summed(kind: str, spans: Sequence[tuple[date, datetime, datetime]], by: str, areas: frozenset[str] | None):
    """The summary rows of these spans of one kind (as runs of consecutive days, or months) that
    hold the sums per `by` for `areas`: per commune, the rows of every entry together; per entry,
    the rows of every commune together, or of each commune of `areas`."""
    runs: list[list[date]] = []
    previous_end: datetime | None = None
    for day, begins, ends in spans:
        if runs and begins == previous_end:
            runs[-1][1] = day
        else:
            runs.append([day, day])
        previous_end = ends
    rows: tuple[ColumnElement[bool], ...]
    if by == "area_code":
        rows = (_summary.c.faq_id == ALL, _in(_summary.c.area_code, areas))
    elif areas is None:
        rows = (_summary.c.area_code == ALL,)
    else:
        rows = (_summary.c.faq_id != ALL, _in(_summary.c.area_code, areas))
    return select(_summary.c[by].label("key"), _summary.c.shown, _summary.c.helpful, _summary.c.unhelpful).where(
        _summary.c.span == kind, or_(*(_summary.c.day.between(first, last) for first, last in runs)), *rows
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


@dataclass(frozen=True)
class Span:
    """A local day, or month, to sum: its kind, its (first) day and its bounds in UTC."""

    kind: str
    day: date
    starts_at: datetime
    ends_at: datetime


async def due(session: AsyncSession, tz: ZoneInfo, now: datetime, limit: int = 4) -> list[Span]:
    """The next spans to sum, in order: up to `limit` local days that ended at least SETTLE ago,
    each beginning where the last summed one ended, and after a month's last day the month, when
    every one of its days is summed by then. Reads only the list of spans and two hourly keys."""
    last = (await run(session, select(func.max(_span.c.ends_at)).where(_span.c.span == DAY))).one()[0]
    found: list[Span] = []
    days: list[Span] = []
    day = await _next_day(session, tz, last)
    while day is not None and len(days) < limit:
        span = Span(DAY, day, midnight(day, tz), midnight(day + timedelta(days=1), tz))
        if span.ends_at + SETTLE > now:
            break
        found.append(span)
        days.append(span)
        day += timedelta(days=1)
        if day.day == 1:
            month = await _whole_month(session, _previous_month(day), days)
            found += [month] if month is not None else []
            day = await _next_day(session, tz, span.ends_at)  # empty months are skipped
    return found


async def sums(session: AsyncSession, span: Span) -> list[dict]:
    """A span's rows: the sums of the hourly rows in its bounds per commune and entry, per entry for
    every commune together (ALL), per commune for every entry together (ALL). Only reads: it may
    run on a read-only connection."""
    hourly = (_hourly.c.hour >= span.starts_at, _hourly.c.hour < span.ends_at)
    counters = (func.sum(_hourly.c.shown), func.sum(_hourly.c.helpful), func.sum(_hourly.c.unhelpful))
    area, entry = _hourly.c.area_code, _hourly.c.faq_id
    rows = []
    for keys in ((area, entry), (entry,), (area,)):
        for *key, shown, helpful, unhelpful in (
            await run(session, select(*keys, *counters).where(*hourly).group_by(*keys))
        ).all():
            named = dict(zip([column.name for column in keys], key, strict=True))
            rows.append(
                {
                    "span": span.kind,
                    "day": span.day,
                    "area_code": named.get("area_code", ALL),
                    "faq_id": named.get("faq_id", ALL),
                    "shown": int(shown or 0),
                    "helpful": int(helpful or 0),
                    "unhelpful": int(unhelpful or 0),
                }
            )
    return rows


async def store(session: AsyncSession, spans: Sequence[Span], rows: Sequence[list[dict]], now: datetime) -> int:
    """List each span as summed and write its rows (`sums`), in order, stopping at one another
    process listed first; return how many days were stored."""
    days = 0
    for span, found in zip(spans, rows, strict=True):
        if not await _claim(session, span, now):
            break
        if found:
            await session.exec(insert(_summary), params=found)
        days += span.kind == DAY
    return days


async def refresh(
    session: AsyncSession,
    tz: ZoneInfo,
    now: datetime,
    limit: int = 4,
    read: AsyncSession | None = None,
) -> int:
    """`due`, `sums` (on `read` when given) and `store` in one go: sum up to `limit` more days (and
    the months they complete); return how many days were summed (0: up to date)."""
    spans = await due(session, tz, now, limit)
    return await store(session, spans, [await sums(read or session, span) for span in spans], now)


async def _next_day(session: AsyncSession, tz: ZoneInfo, last: datetime | None) -> date | None:
    """The local day to sum after the summed days that end at `last`: the first one beginning there;
    from a month's first day on, the first day of the month of the next hourly row (empty months
    are skipped); None when there is nothing to sum."""
    after = (_hourly.c.hour >= last,) if last is not None else ()
    following = (await run(session, select(func.min(_hourly.c.hour)).where(*after))).one()[0]
    if last is None:
        return None if following is None else _local_day(following, tz).replace(day=1)
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


async def _whole_month(session: AsyncSession, first: date, planned: Sequence[Span]) -> Span | None:
    """The month beginning on `first` when its days, summed or `planned`, are all there, one after
    the other; else None (a month the time zone changed in stays in days)."""
    last = _next_month(first) - timedelta(days=1)
    stored = (
        await run(
            session,
            select(_span.c.day, _span.c.starts_at, _span.c.ends_at).where(
                _span.c.span == DAY, _span.c.day >= first, _span.c.day <= last
            ),
        )
    ).all()
    days = sorted(
        {(day, begins, ends) for day, begins, ends in stored}
        | {(span.day, span.starts_at, span.ends_at) for span in planned if first <= span.day <= last}
    )
    whole = len(days) == (last - first).days + 1 and all(a[2] == b[1] for a, b in zip(days, days[1:], strict=False))
    return Span(MONTH, first, days[0][1], days[-1][2]) if whole else None


async def _claim(session: AsyncSession, span: Span, now: datetime) -> bool:
    """List a span as summed; False when it already is (another process got there first)."""
    dialect = postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite
    result = await session.exec(
        dialect.insert(_span)
        .values(span=span.kind, day=span.day, starts_at=span.starts_at, ends_at=span.ends_at, made_at=now)
        .on_conflict_do_nothing(index_elements=["span", "day"])
    )
    return bool(result.rowcount)


# --- retention ------------------------------------------------------------------------------------


async def roll_up_hours(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to `limit` hourly rows (oldest first) of local days that ended by `before` and are
    summed, day and month (a month's sums are made from its hours: they stay until then); return
    how many. Hours of days not summed yet, or not wholly before `before`, stay. Idempotent: it only
    removes what the summaries already hold."""
    cut = (
        await run(session, select(func.max(_span.c.ends_at)).where(_span.c.span == DAY, _span.c.ends_at <= before))
    ).one()[0]
    months = (
        (
            await run(
                session,
                select(_span.c.starts_at, _span.c.ends_at)
                .where(_span.c.span == MONTH, _span.c.starts_at < before)
                .order_by(_span.c.starts_at),
            )
        ).all()
        if cut is not None
        else []
    )
    runs: list[list[datetime]] = []
    for begins, ends in months:
        ends = min(ends, cut)
        if ends <= begins:
            continue
        if runs and runs[-1][1] == begins:
            runs[-1][1] = ends
        else:
            runs.append([begins, ends])
    if not runs or limit <= 0:
        return 0
    key = (_hourly.c.hour, _hourly.c.area_code, _hourly.c.faq_id)
    oldest = (
        select(*key)
        .where(or_(*(and_(_hourly.c.hour >= a, _hourly.c.hour < b) for a, b in runs)))
        .order_by(*key)
        .limit(limit)
    )
    result = await session.exec(delete(_hourly).where(tuple_(*key).in_(oldest)))
    return int(result.rowcount or 0)

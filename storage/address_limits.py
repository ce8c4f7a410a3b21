"""Per-address limits: how often one client address may do one thing (start a web chat identity, send
a report, answer one poll, support one question) per hour and per day. Never commits.

The web chat lets anyone start a conversation without an account, so its per-citizen limits (five
reports a day, one vote per poll) do not hold against a client that starts a new identity for each
request; these limits count per address instead. The counts live in the database (`address_count`),
so that every web process sees the same ones, in fixed periods: the hour (UTC) and the local day.

Taking a slot is one conditional upsert per period: the count goes up only while it is under the
limit, so two requests at once (or two processes) never both take the last slot. A refusal counts
nothing, so someone told to wait gets in as soon as the period turns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.core import table_of
from storage.models import AddressCount

IDENTITY = "identity"
REPORT = "report"


@dataclass(frozen=True)
class Limit:
    """At most `per_hour` in one hour and `per_day` in one local day."""

    per_hour: int
    per_day: int


@dataclass(frozen=True)
class AddressLimits:
    """The limits per client address (WEBCHAT_*_PER_HOUR / _PER_DAY): new web chat identities,
    reports (tickets, dialogue questions included), and votes (answers to one poll, supports of one
    question)."""

    identities: Limit = field(default_factory=lambda: Limit(60, 300))
    reports: Limit = field(default_factory=lambda: Limit(5, 20))
    votes: Limit = field(default_factory=lambda: Limit(5, 20))


def poll_answer(poll_id: int) -> str:
    """The action of answering one poll."""
    return f"poll:{poll_id}"


def support(ticket_id: int) -> str:
    """The action of supporting one dialogue question."""
    return f"support:{ticket_id}"


def _periods(now: datetime, tz: ZoneInfo, limit: Limit) -> list[tuple[str, datetime, int]]:
    """(period key, when it ends, limit) for the hour and the local day of `now`."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    local_day = now.astimezone(tz).date()
    day_end = datetime.combine(local_day + timedelta(days=1), time(), tzinfo=tz)
    return [
        (f"h{hour:%Y%m%d%H}", hour + timedelta(hours=1), limit.per_hour),
        (f"d{local_day:%Y%m%d}", day_end, limit.per_day),
    ]


async def take(session: AsyncSession, address: str, action: str, limit: Limit, *, now: datetime, tz: ZoneInfo) -> bool:
    """Count one `action` from `address` and return True, or return False (counting nothing) when the
    address already reached the limit of this hour or of this day."""
    if limit.per_hour < 1 or limit.per_day < 1:
        return False
    dialect = postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite
    table = table_of(AddressCount)
    taken: list[str] = []
    for period, ends, most in _periods(now, tz, limit):
        insert = dialect.insert(table).values(address=address, action=action, period=period, count=1, expires_at=ends)
        counted = (
            await session.exec(
                insert.on_conflict_do_update(
                    index_elements=["address", "action", "period"],
                    set_={"count": table.c.count + 1},
                    where=table.c.count < most,
                ).returning(table.c.count)
            )
        ).first()
        if counted is None:
            break
        taken.append(period)
    else:
        return True
    if taken:  # the hour had room, the day had none: give the hour's slot back
        await session.exec(
            update(AddressCount)
            .where(
                col(AddressCount.address) == address,
                col(AddressCount.action) == action,
                col(AddressCount.period).in_(taken),
            )
            .values(count=AddressCount.count - 1)
        )
    return False


async def prune(session: AsyncSession, now: datetime) -> None:
    """Forget the counts of periods that have ended."""
    await session.exec(delete(AddressCount).where(col(AddressCount.expires_at) <= now))

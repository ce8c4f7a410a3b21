"""Nominations of real stories: create, list for staff (scoped to their commune), change status,
mark published, count per commune for the report. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, true, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import ticket_rules
from storage.models import Nomination, NominationStatus, Staff, StaffRole

CODE_PREFIX = "GT-"  # giới thiệu
_CODE_ATTEMPTS = 20
NOMINEES = ("household", "group", "cooperative", "initiative")
CONSENTS = ("self", "self_unnamed", "ask_commune")
# Which status may follow which; `published` is reached only by publishing a story.
NEXT = {
    NominationStatus.new: frozenset({NominationStatus.checking, NominationStatus.not_used}),
    NominationStatus.checking: frozenset({NominationStatus.new, NominationStatus.not_used}),
    NominationStatus.not_used: frozenset({NominationStatus.checking}),
    NominationStatus.published: frozenset(),
}


class InvalidNominationStatus(ValueError):
    """A status change the nomination's life does not allow."""


async def create(
    session: AsyncSession,
    *,
    citizen_id: int | None,
    nominee: str,
    area_code: str | None,
    body: str,
    consent: str,
    anonymous: bool,
    nominator_name: str | None,
    locale: str,
    files: Sequence[dict],
    now: datetime,
) -> Nomination:
    """Store a new nomination under a fresh unique code."""
    if nominee not in NOMINEES or consent not in CONSENTS:
        raise ValueError(f"unknown nominee {nominee!r} or consent {consent!r}")
    nomination = Nomination(
        code=await _unused_code(session),
        citizen_id=citizen_id,
        nominee=nominee,
        area_code=area_code,
        body=body,
        consent=consent,
        anonymous=anonymous,
        nominator_name=None if anonymous else nominator_name,
        locale=locale,
        files=list(files),
        created_at=now,
        updated_at=now,
    )
    session.add(nomination)
    await session.flush()
    return nomination


async def _unused_code(session: AsyncSession) -> str:
    """A code no stored nomination has (checked by query, as storage.tickets does for tickets)."""
    for _ in range(_CODE_ATTEMPTS):
        code = CODE_PREFIX + ticket_rules.random_symbols(ticket_rules.CODE_LENGTH)
        if (await session.exec(select(Nomination.id).where(Nomination.code == code))).first() is None:
            return code
    raise RuntimeError(f"no unused nomination code after {_CODE_ATTEMPTS} attempts")


def visible_to(staff: Staff) -> ColumnElement[bool]:
    """The condition limiting nominations to what `staff` may see: commune staff their commune only."""
    if staff.role == StaffRole.commune:
        return col(Nomination.area_code) == staff.area_code
    return true()


async def list_for(
    session: AsyncSession, staff: Staff, *, status: str | None = None, limit: int = 200
) -> list[Nomination]:
    """The nominations `staff` may see, newest first, optionally of one status."""
    query = select(Nomination).where(visible_to(staff))
    if status:
        query = query.where(Nomination.status == status)
    query = query.order_by(col(Nomination.created_at).desc(), col(Nomination.id).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def status_counts(session: AsyncSession, staff: Staff) -> dict[str, int]:
    """How many nominations `staff` may see in each status (counted by the database)."""
    counts = {str(status): 0 for status in NominationStatus}
    query = select(Nomination.status, func.count()).where(visible_to(staff)).group_by(Nomination.status)
    for status, count in (await session.exec(query)).all():
        counts[str(status)] = int(count)
    return counts


async def get_for(session: AsyncSession, staff: Staff, nomination_id: int) -> Nomination | None:
    """One nomination, if `staff` may see it."""
    query = select(Nomination).where(Nomination.id == nomination_id, visible_to(staff))
    return (await session.exec(query)).first()


async def by_code(session: AsyncSession, citizen_id: int, code: str) -> Nomination | None:
    """A citizen's own nomination by its code."""
    query = select(Nomination).where(Nomination.code == code.strip().upper(), Nomination.citizen_id == citizen_id)
    return (await session.exec(query)).first()


def set_status(nomination: Nomination, status: NominationStatus, reason: str | None, now: datetime) -> None:
    """Move to `status` (not `published`: see `mark_published`); `not_used` needs a reason."""
    if status not in NEXT[NominationStatus(nomination.status)]:
        raise InvalidNominationStatus(f"{nomination.status} → {status}")
    if status == NominationStatus.not_used and not (reason or "").strip():
        raise InvalidNominationStatus("a nomination not used needs a reason")
    nomination.status = status
    nomination.reason = (reason or "").strip()[:1000] or None if status == NominationStatus.not_used else None
    nomination.updated_at = now


def mark_published(nomination: Nomination, story_id: str, now: datetime) -> None:
    """The nomination became the published story `story_id`."""
    if nomination.status not in (NominationStatus.new, NominationStatus.checking):
        raise InvalidNominationStatus(f"{nomination.status} → published")
    nomination.status = NominationStatus.published
    nomination.story_id = story_id
    nomination.reason = None
    nomination.published_at = nomination.updated_at = now


async def counts_by_area(session: AsyncSession, start: datetime, end: datetime) -> dict[str | None, tuple[int, int]]:
    """Per commune (None: not known): (nominations received, nominations published) in [start, end)."""
    received = await session.exec(
        select(Nomination.area_code, func.count())
        .where(Nomination.created_at >= start, Nomination.created_at < end)
        .group_by(Nomination.area_code)
    )
    published = await session.exec(
        select(Nomination.area_code, func.count())
        .where(
            col(Nomination.published_at).is_not(None),
            col(Nomination.published_at) >= start,
            col(Nomination.published_at) < end,
        )
        .group_by(Nomination.area_code)
    )
    counts: dict[str | None, list[int]] = {}
    for area, count in received.all():
        counts.setdefault(area, [0, 0])[0] = count
    for area, count in published.all():
        counts.setdefault(area, [0, 0])[1] = count
    return {area: (pair[0], pair[1]) for area, pair in counts.items()}


async def forget_citizen(session: AsyncSession, citizen_id: int) -> int:
    """Unlink a citizen who deletes their data from their nominations and drop their name (as
    storage.tickets does for tickets); call before deleting the citizen. Returns the count."""
    result = await session.exec(
        update(Nomination).where(col(Nomination.citizen_id) == citizen_id).values(citizen_id=None, nominator_name=None)
    )
    return int(result.rowcount)

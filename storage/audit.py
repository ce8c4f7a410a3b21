"""The audit log: one row per staff action and per view of an anonymous complainant's identity."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEntry, Staff


async def record(
    session: AsyncSession,
    staff: Staff | None,
    action: str,
    *,
    now: datetime,
    object_type: str = "",
    object_id: str = "",
    actor: str = "",
    **detail: object,
) -> AuditEntry:
    """Add an audit row (the caller commits it with the action itself)."""
    entry = AuditEntry(
        at=now,
        staff_id=staff.id if staff else None,
        actor=staff.username if staff else actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        detail=dict(detail),
    )
    session.add(entry)
    return entry


async def entries(session: AsyncSession, *, action: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """The newest audit rows, optionally of one action."""
    statement = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    return list((await session.exec(statement)).all())

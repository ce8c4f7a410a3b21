"""Repository of the Zalo Official Account channel: its token pair, and what an event tells about a
citizen (its webhook events are in storage.zalo_inbox). Never commits: the caller owns the transaction.

The pair is guarded for several processes by compare-and-swap updates, portable to SQLite and
PostgreSQL: a process takes the refresh lease only while nobody holds it and the stored refresh
token is still the one it read, and saves the new pair only over the refresh token it spent.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import or_, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import holders, repo
from storage.models import Citizen, ZaloOAToken

CHANNEL = "zalo_oa"


def seed_hash(refresh_token: str) -> str:
    """What identifies the environment's first pair without storing it twice."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()


async def load_pair(session: AsyncSession, app_id: str) -> ZaloOAToken | None:
    """The stored pair, read afresh from the database."""
    row = await session.get(ZaloOAToken, app_id, populate_existing=True)
    return row


async def seed_pair(
    session: AsyncSession, app_id: str, access_token: str, refresh_token: str, now: datetime, *, clear_lease: bool
) -> str:
    """Store the environment's pair unless the database holds one grown from it; return what
    happened: "stored" (first start), "replaced" (new tokens in the environment) or "kept".
    `clear_lease` drops any refresh lease (one process: it was left by a killed run); otherwise a
    lease whose holder is gone is dropped (PostgreSQL, storage.holders)."""
    wanted = seed_hash(refresh_token)
    row = await session.get(ZaloOAToken, app_id)
    if row is None:
        session.add(
            ZaloOAToken(
                app_id=app_id, access_token=access_token, refresh_token=refresh_token, seed_hash=wanted, updated_at=now
            )
        )
        return "stored"
    if clear_lease or (
        row.lease_until is not None and row.holder is not None and row.holder not in await holders.running(session)
    ):
        row.lease_until = None
    if row.seed_hash != wanted:
        row.access_token, row.refresh_token, row.seed_hash = access_token, refresh_token, wanted
        row.expires_at, row.lease_until, row.updated_at = None, None, now
        return "replaced"
    return "kept"


async def take_lease(session: AsyncSession, app_id: str, refresh_token: str, now: datetime, until: datetime) -> bool:
    """Become the one process refreshing: only if no lease runs and the pair is still the one read."""
    result = await session.exec(
        update(ZaloOAToken)
        .where(
            col(ZaloOAToken.app_id) == app_id,
            col(ZaloOAToken.refresh_token) == refresh_token,
            or_(col(ZaloOAToken.lease_until).is_(None), col(ZaloOAToken.lease_until) <= now),
        )
        .values(lease_until=until, holder=holders.mine(session))
    )
    return bool(result.rowcount)


async def save_refreshed(
    session: AsyncSession,
    app_id: str,
    spent: str,
    access_token: str,
    refresh_token: str,
    expires_at: datetime | None,
    now: datetime,
) -> bool:
    """Store the new pair over the refresh token just spent, and end the lease."""
    result = await session.exec(
        update(ZaloOAToken)
        .where(col(ZaloOAToken.app_id) == app_id, col(ZaloOAToken.refresh_token) == spent)
        .values(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=expires_at,
            lease_until=None,
            updated_at=now,
        )
    )
    return bool(result.rowcount)


async def end_lease(session: AsyncSession, app_id: str) -> None:
    """Give the lease up (the refresh failed; the pair is unchanged)."""
    await session.exec(update(ZaloOAToken).where(col(ZaloOAToken.app_id) == app_id).values(lease_until=None))


async def interacted(session: AsyncSession, user_id: str, now: datetime, *, unfollowed: bool = False) -> Citizen:
    """Record that a user did something (their 48-hour window starts again): following makes them
    reachable again, unfollowing unsubscribes them and makes them unreachable."""
    citizen, _created = await repo.get_or_create_citizen(session, CHANNEL, user_id, now=now)
    citizen.last_seen_at = now
    if unfollowed:
        citizen.subscribed = False
        citizen.unreachable_at = now
    else:
        citizen.unreachable_at = None
    return citizen

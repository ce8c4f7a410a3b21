"""Failed dashboard sign-ins, per account name and client address: what login throttling counts and
what the dashboard warns admins about. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, distinct, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import LoginFailure, Staff


@dataclass(frozen=True)
class Failures:
    """Failures since a moment: of one account name from one address, and from that address in all."""

    pair: int
    address: int


@dataclass(frozen=True)
class Guessed:
    """An existing account with failed sign-ins lately: how many, from how many addresses."""

    username: str
    failures: int
    addresses: int


def record_failure(session: AsyncSession, username: str, address: str, now: datetime) -> None:
    """Count one failed sign-in of `username` (existing or not) from `address`."""
    session.add(LoginFailure(at=now, username=username[:64], address=address[:64]))


async def failures_since(session: AsyncSession, username: str, address: str, since: datetime) -> Failures:
    """How often this pair, and this address, failed since `since`."""
    recent = (
        select(func.count())
        .select_from(LoginFailure)
        .where(col(LoginFailure.at) >= since, LoginFailure.address == address[:64])
    )
    from_address = int((await session.exec(recent)).one())
    pair = int((await session.exec(recent.where(LoginFailure.username == username[:64]))).one())
    return Failures(pair, from_address)


async def guessed_accounts(session: AsyncSession, since: datetime, at_least: int) -> list[Guessed]:
    """Existing accounts with at least `at_least` failed sign-ins since `since`, most failures first."""
    failures = func.count(col(LoginFailure.id))
    query = (
        select(col(LoginFailure.username), failures, func.count(distinct(col(LoginFailure.address))))
        .join(Staff, col(Staff.username) == col(LoginFailure.username))
        .where(col(LoginFailure.at) >= since)
        .group_by(col(LoginFailure.username))
        .having(failures >= at_least)
        .order_by(failures.desc(), col(LoginFailure.username))
    )
    return [
        Guessed(username, int(count), int(addresses))
        for username, count, addresses in (await session.exec(query)).all()
    ]


async def purge_failures(session: AsyncSession, before: datetime) -> None:
    """Forget failures older than `before`."""
    await session.exec(delete(LoginFailure).where(col(LoginFailure.at) < before))

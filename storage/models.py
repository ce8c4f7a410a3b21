"""Database tables (SQLModel). Times are stored as aware UTC datetimes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _utc_column(nullable: bool = True, index: bool = False) -> Any:
    """A timezone-aware datetime column."""
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class AreaLevel(StrEnum):
    """Administrative level of an area."""

    province = "province"
    commune = "commune"


class HouseholdStatus(StrEnum):
    """What the citizen said about their household (hộ nghèo, hộ cận nghèo, …)."""

    poor = "poor"
    near_poor = "near_poor"
    escaped = "escaped"
    other = "other"
    unknown = "unknown"


class Area(SQLModel, table=True):
    """An administrative unit: the province, or a commune (xã) or ward (phường)."""

    code: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=120)
    level: str = Field(max_length=16, index=True)
    kind: str = Field(default="", max_length=16)
    parent_code: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("area.code"), nullable=True, index=True)
    )
    former_district: str = Field(default="", max_length=200)


class Citizen(SQLModel, table=True):
    """One person on one channel. Personal fields stay empty until consent."""

    __table_args__ = (UniqueConstraint("channel", "channel_user_id", name="uq_citizen_channel_user"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    channel_user_id: str = Field(max_length=128)
    display_name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, max_length=8)
    area_code: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("area.code"), nullable=True, index=True)
    )
    household_status: str = Field(default=HouseholdStatus.unknown, max_length=16)
    subscribed: bool = Field(default=False)
    consent_at: datetime | None = _utc_column()
    unreachable_at: datetime | None = _utc_column()
    created_at: datetime = _utc_column(nullable=False)
    last_seen_at: datetime = _utc_column(nullable=False)


class Conversation(SQLModel, table=True):
    """Where a citizen is in a multi-step flow: a named state and a small JSON payload."""

    citizen_id: int = Field(
        sa_column=Column(ForeignKey("citizen.id", ondelete="CASCADE"), primary_key=True)
    )
    state: str = Field(max_length=64)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _utc_column(nullable=False)
    expires_at: datetime | None = _utc_column()

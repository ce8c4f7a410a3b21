"""Importing the shipped content into the database (idempotent: re-import updates, never duplicates)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from content.areas import AreaRecord, read_area_records
from storage import repo
from storage.models import Area


def area_rows(records: list[AreaRecord]) -> list[Area]:
    """Area table rows for the records."""
    return [
        Area(
            code=r.code, name=r.name, level=r.level, kind=r.kind,
            parent_code=r.parent_code, former_district=r.former_district,
        )
        for r in records
    ]


async def import_areas(session: AsyncSession, records: list[AreaRecord] | None = None) -> int:
    """Write the administrative areas; return how many. The caller commits."""
    return await repo.upsert_areas(session, area_rows(records or read_area_records()))

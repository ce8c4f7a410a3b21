"""Storage: migrations match the models, SQLite runs in WAL mode, repositories never commit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel, select

from content.areas import AreaDirectory, read_area_records
from content.importer import import_areas
from storage import repo
from storage.db import create_engine
from storage.migrate import downgrade, upgrade
from storage.models import Area, Citizen

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def test_migrations_match_the_models_and_downgrade_cleanly(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    upgrade(url)

    async def diff() -> list:
        engine = create_engine(url)
        async with engine.connect() as connection:
            result = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
            )
        await engine.dispose()
        return result

    assert asyncio.run(diff()) == []
    downgrade(url, "base")
    upgrade(url)


@pytest.mark.sqlite_only
async def test_sqlite_runs_in_wal_mode_with_foreign_keys(sessions) -> None:
    async with sessions() as session:
        assert (await session.exec(text("PRAGMA journal_mode"))).one()[0] == "wal"  # type: ignore[call-overload]
        assert (await session.exec(text("PRAGMA foreign_keys"))).one()[0] == 1  # type: ignore[call-overload]


async def test_repositories_do_not_commit(sessions) -> None:
    async with sessions() as session:
        await repo.get_or_create_citizen(session, "test", "1", now=NOW)
        await repo.save_conversation(session, 1, "idle", {}, now=NOW, ttl=timedelta(hours=1))
        await session.rollback()
    async with sessions() as session:
        assert (await session.exec(select(Citizen))).all() == []


async def test_citizen_is_unique_per_channel_user(sessions) -> None:
    async with sessions() as session:
        first, created = await repo.get_or_create_citizen(session, "telegram", "42", now=NOW)
        again, created_again = await repo.get_or_create_citizen(session, "telegram", "42", now=NOW)
        other, _ = await repo.get_or_create_citizen(session, "webchat", "42", now=NOW)
        await session.commit()
    assert created and not created_again and first.id == again.id != other.id
    assert first.created_at == NOW and first.created_at.tzinfo is not None


async def test_conversation_expires(sessions) -> None:
    async with sessions() as session:
        citizen, _ = await repo.get_or_create_citizen(session, "test", "7", now=NOW)
        await repo.save_conversation(session, citizen.id, "onboarding.area", {"mode": "settings"}, now=NOW, ttl=timedelta(hours=2))
        await session.commit()
    async with sessions() as session:
        live = await repo.load_conversation(session, citizen.id, now=NOW + timedelta(hours=1))
        gone = await repo.load_conversation(session, citizen.id, now=NOW + timedelta(hours=2))
    assert live is not None and live.data == {"mode": "settings"} and gone is None


async def test_area_import_is_idempotent_and_complete(sessions) -> None:
    async with sessions() as session:
        await import_areas(session)
        await import_areas(session)
        await session.commit()
        areas = (await session.exec(select(Area))).all()
    communes = [a for a in areas if a.level == "commune"]
    assert len(communes) == 102
    assert sum(a.kind == "phường" for a in communes) == 14
    assert all(a.parent_code == "66" for a in communes)


def test_area_directory_matches_names_typed_without_diacritics() -> None:
    directory = AreaDirectory(read_area_records())
    assert [m.area.code for m in directory.match_commune("ea kao")] == ["24169"]
    assert [m.area.code for m in directory.match_commune("Xã Hòa Phú")] == ["24175"]
    assert [m.area.code for m in directory.match_commune("PHUONG TAN AN")] == ["24163"]
    assert "24265" in [m.area.code for m in directory.match_commune("ea kiet")]
    assert directory.match_commune("") == [] and directory.match_commune("zzzzqqq") == []
    assert len(directory.groups()) >= 20


def test_keyed_locks_serialise_one_key_and_free_the_others() -> None:
    from bot.ordering import KeyedLocks

    async def scenario() -> list[str]:
        locks, events = KeyedLocks(), []

        async def work(key: str, name: str, delay: float) -> None:
            async with locks.hold(key):
                events.append(f"start {name}")
                await asyncio.sleep(delay)
                events.append(f"end {name}")

        await asyncio.gather(work("a", "a1", 0.05), work("a", "a2", 0), work("b", "b1", 0.01))
        assert len(locks) == 0
        return events

    events = asyncio.run(scenario())
    assert events.index("end a1") < events.index("start a2")
    assert events.index("start b1") < events.index("end a1")


async def test_content_import_is_idempotent_and_round_trips(sessions, bundle) -> None:
    from content.importer import import_content, load_bundle
    from storage.models import FaqRow, StoryRow

    async with sessions() as session:
        await import_content(session, bundle, now=NOW)
        await import_content(session, bundle, now=NOW)
        await session.commit()
        assert len((await session.exec(select(FaqRow))).all()) == len(bundle.faqs)
        assert len((await session.exec(select(StoryRow))).all()) == len(bundle.stories)
        stored = await load_bundle(session)
    assert stored.faqs == bundle.faqs
    assert stored.stories == bundle.stories
    assert stored.topics == bundle.topics


async def test_campaigns_live_in_the_database_after_import(sessions) -> None:
    from content.importer import import_all, stored_campaigns
    from storage.models import CampaignRow

    codes = [record.code for record in read_area_records()]
    async with sessions() as session:
        await import_all(session, now=NOW)
        await session.commit()
        stored = await stored_campaigns(session, codes)
        assert {c.id for c in stored} == {"peak-month", "poverty-review"}
        row = await session.get(CampaignRow, "peak-month")
        row.active = False
        await session.commit()
        assert [c.id for c in await stored_campaigns(session, codes)] == ["poverty-review"]

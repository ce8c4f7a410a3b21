"""Apply Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database schema up to `revision`. Call from synchronous code only."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Take the database schema back to `revision`."""
    command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> None:
    """Print the database's current revision."""
    command.current(alembic_config(database_url))


class SchemaNotCurrent(RuntimeError):
    """The database is not at the schema revision this release was written for."""


@functools.cache
def known() -> tuple[str, ...]:
    """The schema revisions this release knows, newest first."""
    return tuple(
        script.revision for script in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()
    )


def head() -> str:
    """The newest schema revision this release knows."""
    return known()[0]


async def check_current(engine: AsyncEngine) -> None:
    """Raise SchemaNotCurrent, saying what to do, unless the database is at `head()`: a process
    started before `db upgrade` (or on a newer release's database) would otherwise fail on every
    request with a missing column."""

    def applied(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        current = await connection.run_sync(applied)
    wanted = head()
    if current == wanted:
        return
    if current is None:
        raise SchemaNotCurrent("the database has no tables yet: run `python -m bot db upgrade` first")
    if current in known():
        raise SchemaNotCurrent(
            f"the database schema is at revision {current}, this release needs {wanted}: "
            "back the database up, then run `python -m bot db upgrade`"
        )
    raise SchemaNotCurrent(
        f"the database schema is at revision {current}, which this release does not know "
        f"(made by a newer release?); this release needs {wanted}"
    )

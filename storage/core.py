"""Core (table-level) statements in a SQLModel session, typed: the tables the models map, and running
statements SQLModel's `exec()` has no overload for (SQLAlchemy's own `select()`, text, upserts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast

from sqlalchemy import Result, Table, inspect
from sqlalchemy.sql.base import Executable
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


def table_of(model: type[SQLModel]) -> Table:
    """The Core `Table` a table model maps (its `__table__`, which SQLModel sets without a type)."""
    return cast(Table, inspect(model).local_table)


async def run(
    session: AsyncSession, statement: Executable, params: Mapping[str, Any] | None = None
) -> Result[*tuple[Any, ...]]:
    """Execute a Core statement in the session's transaction, flushing pending objects first like `exec()`."""
    return await session.exec(statement, params=params)  # type: ignore[call-overload]  # SQLModel's exec() is typed only for its own select() and DML


class _Stored(Protocol):
    @property
    def id(self) -> int | None: ...


def id_of(row: _Stored) -> int:
    """A row's id typed `int`: SQLModel types every id `int | None`, None only before the row is first
    flushed, and the callers pass rows read from or flushed to the database (nothing is checked)."""
    return cast(int, row.id)

"""The SQL statements a piece of code runs, for tests that a page reads its data in one pass."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def recorded() -> Iterator[list[str]]:
    """Every statement any engine of this process runs inside the block, in order."""
    seen: list[str] = []

    def note(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)


def reading(statements: list[str], table: str) -> list[str]:
    """The SELECTs among `statements` that read `table` (FROM or JOIN)."""
    pattern = re.compile(rf"\b(FROM|JOIN) {re.escape(table)}\b", re.IGNORECASE)
    return [text for text in statements if text.upper().startswith("SELECT") and pattern.search(text)]

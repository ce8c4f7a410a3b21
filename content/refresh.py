"""Keeping a process's FAQ search in step with the content stored in the database.

The process that saves an edit rebuilds its library at once (`rebuild`). Every other process
compares the stored content version (newest `updated_at` and row count of the FAQ entries and
stories, one cheap query) with the one its library was built from, every few seconds (`watch`),
and rebuilds when they differ.
"""

from __future__ import annotations

import asyncio
import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from content.importer import load_bundle
from content.library import Library
from storage.content_edit import content_version
from storage.db import SessionFactory

log = logging.getLogger(__name__)
CHECK_SECONDS = 5.0


async def rebuild(session: AsyncSession, library: Library) -> str:
    """Load the stored content into `library` (index included); return its version."""
    version = await content_version(session)
    library.replace(await load_bundle(session), version)
    return version


async def refresh_if_changed(session: AsyncSession, library: Library) -> bool:
    """Rebuild `library` when the stored content changed since it was built; whether it did."""
    version = await content_version(session)
    if version == library.version:
        return False
    library.replace(await load_bundle(session), version)
    log.info("content changed in the database (version %s): search index rebuilt", version)
    return True


async def watch(sessions: SessionFactory, library: Library, *, every: float = CHECK_SECONDS) -> None:
    """Check for changed content every `every` seconds until cancelled (one task per process)."""
    while True:
        await asyncio.sleep(every)
        try:
            async with sessions() as session:
                await refresh_if_changed(session, library)
        except Exception:
            log.exception("content refresh failed; trying again in %s s", every)

"""Keeping media that platforms hand over as links (Zalo): download with a size cap, check the
type by the file's first bytes, store under DATA_DIR/media. Links from Zalo do not last, and
staff must see the photos and voice messages later in the dashboard."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from handlers.types import Attachment
from storage.files import write_private

DOWNLOAD_TIMEOUT = 60
PHOTO_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg", ".jpg"), (b"\x89PNG\r\n\x1a\n", "image/png", ".png"))
AUDIO_SIGNATURES = (
    (b"OggS", "audio/ogg", ".ogg"),
    (b"ID3", "audio/mpeg", ".mp3"),
    (b"\xff\xfb", "audio/mpeg", ".mp3"),
    (b"\xff\xf3", "audio/mpeg", ".mp3"),
    (b"\xff\xf1", "audio/aac", ".aac"),
    (b"\xff\xf9", "audio/aac", ".aac"),
    (b"#!AMR", "audio/amr", ".amr"),
)


def sniff(data: bytes, kind: str) -> tuple[str, str] | None:
    """(MIME type, file extension) of a photo or voice message recognised by its first bytes, or None."""
    if kind == "photo":
        return next(((mime, ext) for magic, mime, ext in PHOTO_SIGNATURES if data.startswith(magic)), None)
    if data[4:8] == b"ftyp":  # MP4 container: m4a, what phones record most
        return "audio/mp4", ".m4a"
    return next(((mime, ext) for magic, mime, ext in AUDIO_SIGNATURES if data.startswith(magic)), None)


async def fetch(session: aiohttp.ClientSession, url: str, limit: int) -> bytes | None:
    """The bytes at a URL, or None when they exceed `limit` (stops reading as soon as they do)."""
    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT)
    async with session.get(url, timeout=timeout, raise_for_status=True) as response:
        if (response.content_length or 0) > limit:
            return None
        data = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            data += chunk
            if len(data) > limit:
                return None
    return bytes(data)


async def keep(
    session: aiohttp.ClientSession, data_dir: Path, limit: int, attachments: tuple[Attachment, ...]
) -> tuple[Attachment, ...]:
    """Download each attachment (its `file_id` is a URL) into DATA_DIR/media, or say why not
    (`problem`: "too_large", "type"). Network failures raise: the turn apologises, nothing is saved."""
    kept = []
    for attachment in attachments:
        data = await fetch(session, attachment.file_id, limit)
        found = sniff(data, attachment.kind) if data else None
        if data is None:
            kept.append(replace(attachment, problem="too_large"))
        elif found is None:
            kept.append(replace(attachment, problem="type"))
        else:
            mime, extension = found
            relative = Path("media") / f"{datetime.now(UTC):%Y/%m}" / f"{uuid.uuid4().hex}{extension}"
            target = data_dir / relative
            write_private(target, data)
            kept.append(replace(attachment, mime_type=mime, path=str(relative), size=len(data)))
    return tuple(kept)

"""Keeping media that platforms hand over as links (Zalo): download with a size cap, check the
type by the file's first bytes, store under DATA_DIR/media. Links from Zalo do not last, and
staff must see the photos and voice messages later in the dashboard.

A link is followed only to the platform's own hosts (`MediaSource`), and each hop of a redirect is
checked again: its host must be the platform's, and every address it resolves to public (no
loopback, private, link-local or cloud metadata address), and the connection goes to an address
that was checked, so a name that resolves again differently cannot lead inside the network. Only
the platform's API address as configured (a test server on loopback) is exempt from the address check."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
from yarl import URL

from bot.channels.bodies import read_capped
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


MAX_REDIRECTS = 3
ZALO_MEDIA_DOMAINS = ("zdn.vn", "zadn.vn", "zalo.me", "zaloapp.com", "zalo.vn")  # where Zalo's CDN serves files
Resolver = Callable[[str, int], Awaitable[list[str]]]


class MediaRefused(aiohttp.ClientError):
    """A media link (or a hop of its redirects) to a host or address the platform does not use."""


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


@dataclass(frozen=True)
class MediaSource:
    """Where one platform's media may come from: its domains (and their subdomains) on public
    addresses, and the API addresses configured for it ("host:port", checked as they are)."""

    domains: tuple[str, ...]
    configured: frozenset[str] = frozenset()
    resolver: Resolver = field(default=resolve, compare=False)

    def allows(self, url: URL) -> bool:
        """Whether the link's host is the platform's."""
        host = (url.host or "").lower().rstrip(".")
        return any(host == domain or host.endswith("." + domain) for domain in self.domains)


def zalo_source(*api_urls: str | URL) -> MediaSource:
    """Zalo's CDN domains, and the configured API address(es) (the fake server's in tests)."""
    return MediaSource(ZALO_MEDIA_DOMAINS, frozenset(_netloc(URL(url)) for url in api_urls))


def _netloc(url: URL) -> str:
    return f"{(url.host or '').lower()}:{url.port}"


async def _target(source: MediaSource, url: URL) -> tuple[URL, dict[str, str], str | None]:
    """Where to connect for one hop: (URL, extra headers, TLS server name); MediaRefused when the
    host is not the platform's or resolves to an address that is not public."""
    if url.scheme not in ("http", "https") or not url.host:
        raise MediaRefused(f"not a web link: {url.scheme}")
    if _netloc(url) in source.configured:
        return url, {}, None
    if not source.allows(url):
        raise MediaRefused(f"{url.host} is not one of the platform's hosts")
    addresses = await source.resolver(url.host, url.port or 443)
    parsed = [ipaddress.ip_address(address.split("%")[0]) for address in addresses]
    if not parsed or not all(address.is_global for address in parsed):
        raise MediaRefused(f"{url.host} resolves to an address that is not public")
    pinned = url.with_host(str(parsed[0]))  # connect to the address just checked, not to a new lookup
    host_header = url.host if url.is_default_port() else f"{url.host}:{url.port}"
    return pinned, {"Host": host_header}, url.host if url.scheme == "https" else None


async def fetch(session: aiohttp.ClientSession, url: str, limit: int, source: MediaSource) -> bytes | None:
    """The bytes at a URL, or None when they exceed `limit` (stops reading as soon as they do).
    Redirects are followed by hand, at most MAX_REDIRECTS, each hop checked (MediaRefused)."""
    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT)
    current = URL(url)
    for _hop in range(MAX_REDIRECTS + 1):
        target, headers, server_name = await _target(source, current)
        async with session.get(
            target,
            timeout=timeout,
            allow_redirects=False,
            headers=headers,
            server_hostname=server_name,
        ) as response:
            if response.status in (301, 302, 303, 307, 308):
                current = URL(urljoin(str(current), response.headers.get("Location", "")))
                continue
            response.raise_for_status()
            return await read_capped(response, limit, 64 * 1024)
    raise MediaRefused(f"more than {MAX_REDIRECTS} redirects")


async def keep(
    session: aiohttp.ClientSession,
    data_dir: Path,
    limit: int,
    attachments: tuple[Attachment, ...],
    source: MediaSource,
) -> tuple[Attachment, ...]:
    """Download each attachment (its `file_id` is a URL) into DATA_DIR/media, or say why not
    (`problem`: "too_large", "type"). Network failures and refused links (MediaRefused) raise: the turn
    apologises, nothing is saved."""
    kept = []
    for attachment in attachments:
        data = await fetch(session, attachment.file_id, limit, source)
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

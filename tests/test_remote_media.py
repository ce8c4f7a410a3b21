"""Media links from a platform (Zalo) are followed only to the platform's hosts: every hop of a
redirect checked, never to loopback, private or metadata addresses, whatever a name resolves to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from bot.channels.remote_media import MediaRefused, MediaSource, fetch, zalo_source

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


async def server(routes: dict[str, bytes | str], hits: list[str]) -> TestServer:
    """A loopback server: a path answers bytes, or redirects to the URL given as a string."""
    async def handle(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        answer = routes[request.path]
        if isinstance(answer, str):
            raise web.HTTPFound(answer)
        return web.Response(body=answer)
    app = web.Application()
    for path in routes:
        app.router.add_get(path, handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    return test_server


@pytest.fixture
async def servers() -> AsyncIterator[tuple[TestServer, TestServer, list[str], list[str]]]:
    """The platform's (configured) server and another one on loopback, with the paths each was asked."""
    other_hits: list[str] = []
    other = await server({"/photo.jpg": JPEG}, other_hits)
    platform_hits: list[str] = []
    platform = await server({
        "/photo.jpg": JPEG,
        "/moved": "/photo.jpg",
        "/elsewhere": str(other.make_url("/photo.jpg")),
        "/metadata": "http://169.254.169.254/latest/meta-data/",
        "/private-name": "https://photo.zdn.vn/private.jpg",
        "/lookalike": "http://zdn.vn.evil.example/photo.jpg",
        "/loop": "/loop",
    }, platform_hits)
    yield platform, other, platform_hits, other_hits
    await platform.close()
    await other.close()


def platform_source(platform: TestServer, addresses: list[str] | None = None) -> MediaSource:
    async def resolver(host: str, port: int) -> list[str]:
        return addresses or ["127.0.0.1"]
    source = zalo_source(str(platform.make_url("/api")))
    return MediaSource(source.domains, source.configured, resolver)


async def test_the_platform_and_its_own_redirects_are_followed(servers) -> None:
    platform, _other, hits, _ = servers
    async with aiohttp.ClientSession() as session:
        assert await fetch(session, str(platform.make_url("/photo.jpg")), 10_000, platform_source(platform)) == JPEG
        assert await fetch(session, str(platform.make_url("/moved")), 10_000, platform_source(platform)) == JPEG
        assert await fetch(session, str(platform.make_url("/photo.jpg")), 10, platform_source(platform)) is None  # too large
    assert hits == ["/photo.jpg", "/moved", "/photo.jpg", "/photo.jpg"]


@pytest.mark.parametrize("path", ["/elsewhere", "/metadata", "/private-name", "/lookalike", "/loop"])
async def test_redirects_to_other_hosts_or_private_addresses_are_refused(servers, path: str) -> None:
    platform, _other, _hits, other_hits = servers
    async with aiohttp.ClientSession() as session:
        with pytest.raises(MediaRefused):
            await fetch(session, str(platform.make_url(path)), 10_000, platform_source(platform))
    assert other_hits == []  # the other server was never asked


@pytest.mark.parametrize(("url", "addresses"), [
    ("https://photo.zdn.vn/a.jpg", ["127.0.0.1"]),
    ("https://photo.zdn.vn/a.jpg", ["10.1.2.3"]),
    ("https://photo.zdn.vn/a.jpg", ["93.184.216.34", "192.168.1.1"]),  # one private address is enough
    ("https://photo.zdn.vn/a.jpg", ["::1"]),
    ("https://photo.zdn.vn/a.jpg", ["169.254.169.254"]),
    ("http://evilzdn.vn/a.jpg", ["93.184.216.34"]),
    ("https://example.com/a.jpg", ["93.184.216.34"]),
    ("file:///etc/passwd", ["127.0.0.1"]),
])
async def test_links_off_the_platform_or_onto_private_addresses_are_refused(servers, url: str, addresses: list[str]) -> None:
    platform, *_ = servers
    async with aiohttp.ClientSession() as session:
        with pytest.raises(MediaRefused):
            await fetch(session, url, 10_000, platform_source(platform, addresses))


def test_zalo_media_domains_and_the_configured_api_address() -> None:
    source = zalo_source("https://openapi.zalo.me")
    assert source.allows(URL("https://photo-stal-9.zdn.vn/x.jpg")) and source.allows(URL("https://zalo.me/x"))
    assert not source.allows(URL("https://zdn.vn.evil.example/x")) and not source.allows(URL("https://evilzdn.vn/x"))
    assert source.configured == frozenset({"openapi.zalo.me:443"})

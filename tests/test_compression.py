"""Gzip for text when the client accepts it (pages at least 2.5 times smaller), plain otherwise;
images, tiny bodies, byte ranges and the dashboard's no-store pages never compressed; static files
keep their caching and ETags (weak when gzipped)."""

from __future__ import annotations

import gzip
import re

import pytest

from bot.routes import accepts_gzip
from tests.test_public import app_at

GZIP = {"Accept-Encoding": "gzip, deflate, br"}
PLAIN = {"Accept-Encoding": "identity"}


@pytest.fixture
async def raw(settings, aiohttp_client):  # type: ignore[no-untyped-def]
    """A client that shows the bytes as sent (no automatic decompression)."""
    public = settings.model_copy(update={"public_base_url": "https://caunoi.example.vn"})  # so that /qr/web.svg exists
    return await aiohttp_client(app_at(public), auto_decompress=False)


def varies(response) -> bool:  # type: ignore[no-untyped-def]
    """The response tells caches that it depends on Accept-Encoding."""
    return "accept-encoding" in response.headers.get("Vary", "").lower()


async def css_path(raw) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'href="(/static/public\.css\?v=[0-9a-f]+)"', await (await raw.get("/", headers=PLAIN)).text())
    assert found
    return found[1]


async def test_text_is_gzipped_when_accepted_and_plain_otherwise(raw) -> None:
    for path in ("/", "/hoi-dap/credit", await css_path(raw), "/chat/static/chat.js"):
        packed = await raw.get(path, headers=GZIP)
        plain = await raw.get(path, skip_auto_headers=["Accept-Encoding"])  # no Accept-Encoding at all
        body, text = await packed.read(), await plain.read()
        assert packed.headers["Content-Encoding"] == "gzip", path
        assert varies(packed) and varies(plain), path  # caches keep the two apart
        assert "Content-Encoding" not in plain.headers and text.startswith((b"<!doctype", b"/*")), path
        assert gzip.decompress(body) == text, path
        assert len(text) / len(body) >= 2.5, (path, len(text), len(body))
    assert (await raw.get("/chat", headers=GZIP)).headers["Content-Encoding"] == "gzip"
    assert (await raw.get("/qr/web.svg", headers=GZIP)).headers["Content-Encoding"] == "gzip"
    refused = await raw.get("/", headers={"Accept-Encoding": "gzip;q=0, deflate"})
    assert "Content-Encoding" not in refused.headers  # only gzip is offered, and this client refuses it


async def test_images_tiny_bodies_ranges_and_private_pages_stay_plain(raw) -> None:
    for path in ("/favicon.ico", "/favicon.svg", "/healthz", "/admin/login"):
        response = await raw.get(path, headers=GZIP)
        assert response.status == 200 and "Content-Encoding" not in response.headers, path
    assert (await raw.get("/admin/login", headers=GZIP)).headers["Cache-Control"] == "no-store"  # why it stays plain
    part = await raw.get(await css_path(raw), headers={**GZIP, "Range": "bytes=0-99"})
    assert part.status == 206 and "Content-Encoding" not in part.headers and len(await part.read()) == 100


async def test_static_files_keep_their_caching_and_etags(raw) -> None:
    path = await css_path(raw)
    packed, plain = await raw.get(path, headers=GZIP), await raw.get(path, headers=PLAIN)
    await packed.read(), await plain.read()
    assert packed.headers["Cache-Control"] == plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    strong = plain.headers["ETag"]
    assert strong.startswith('"') and packed.headers["ETag"] == f"W/{strong}"  # another representation
    for headers, etag in ((GZIP, packed.headers["ETag"]), (PLAIN, strong)):
        again = await raw.get(path, headers={**headers, "If-None-Match": etag})
        assert again.status == 304 and await again.read() == b"", headers
        assert varies(again) and again.headers["Cache-Control"].endswith("immutable")
    changed = await raw.get(path, headers={**GZIP, "If-None-Match": '"something-else"'})
    assert changed.status == 200 and await changed.read() == await (await raw.get(path, headers=PLAIN)).read()


def test_accept_encoding_is_read_with_its_weights() -> None:
    assert accepts_gzip("gzip, deflate, br") and accepts_gzip("br;q=1.0, gzip;q=0.8") and accepts_gzip("*")
    assert not accepts_gzip("") and not accepts_gzip("identity") and not accepts_gzip("deflate")
    assert not accepts_gzip("gzip;q=0") and not accepts_gzip("*, gzip;q=0") and not accepts_gzip("gzip;q=nonsense")
    assert accepts_gzip("x-gzip")

"""The site's icon: /favicon.ico (PNG images in an ICO file) and /favicon.svg, drawn in code, cached
with an ETag, and linked from every public page and the chat."""

from __future__ import annotations

import struct
import zlib
from xml.etree import ElementTree

from tests.test_public import app_at


def png_pixels(png: bytes) -> tuple[int, list[bytes]]:
    """Size and RGBA rows of one of our PNG images (8-bit RGBA, filter 0 on every row)."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, at = {}, 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        data = png[at + 8:at + 8 + length]
        assert struct.unpack(">I", png[at + 8 + length:at + 12 + length])[0] == zlib.crc32(kind + data)
        chunks[kind] = data
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert width == height and (depth, colour) == (8, 6)
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[y * (4 * width + 1):(y + 1) * (4 * width + 1)] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, [row[1:] for row in rows]


async def test_the_icon_is_served_cached_and_linked(settings, aiohttp_client) -> None:
    client = await aiohttp_client(app_at(settings))
    ico = await client.get("/favicon.ico")
    assert ico.status == 200 and ico.content_type == "image/vnd.microsoft.icon"
    assert ico.headers["Cache-Control"] == "public, max-age=86400"
    body = await ico.read()
    reserved, kind, count = struct.unpack("<HHH", body[:6])
    assert (reserved, kind, count) == (0, 1, 3) and len(body) < 5_000
    sizes = []
    for n in range(count):
        width, height, _colours, _zero, _planes, _bits, length, offset = struct.unpack("<BBBBHHII", body[6 + 16 * n:22 + 16 * n])
        size, rows = png_pixels(body[offset:offset + length])
        assert size == width == height
        sizes.append(size)
        if size == 32:  # the drawing: a transparent rounded corner, the white road, green under it
            assert rows[0][0:4] == b"\0\0\0\0"
            assert rows[20][16 * 4:17 * 4] == b"\xff\xff\xff\xff"
            assert rows[28][16 * 4:17 * 4] == b"\x1d\x6b\x57\xff"
    assert sizes == [16, 32, 48]
    again = await client.get("/favicon.ico", headers={"If-None-Match": ico.headers["ETag"]})
    assert again.status == 304 and await again.read() == b""

    svg = await client.get("/favicon.svg")
    assert svg.status == 200 and svg.content_type == "image/svg+xml" and svg.headers["Cache-Control"] == "public, max-age=86400"
    assert ElementTree.fromstring(await svg.text()).tag == "{http://www.w3.org/2000/svg}svg"

    for page in ("/", "/hoi-dap", "/thong-ke?lang=en", "/hoi-dap/nothing", "/chat"):
        html = await (await client.get(page)).text()
        assert '<link rel="icon" href="/favicon.ico" sizes="32x32">' in html, page
        assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in html, page

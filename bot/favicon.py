"""The site's icon: a white arch bridge (cầu) on the brand's green, drawn from a few shapes.

The same shapes give the SVG that pages link to (`<link rel="icon">`) and the PNG images inside
/favicon.ico, for the browsers, bookmarks and feed readers that ask for that path; both are made in
memory when first asked for, so no binary file is kept in the repository.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from functools import cache

GREEN = (0x1D, 0x6B, 0x57)
WHITE = (0xFF, 0xFF, 0xFF)
BOX = 32  # the drawing's side, in SVG units
CORNER = 7  # radius of the green tile's corners
ARCH = (16, 19, 10.5, 8)  # centre x, centre y, outer and inner radius of the arch (its upper half)
HANGERS = ((10.5, 12), (16, 10), (21.5, 12))  # centre x and top of each hanger, down to the road
HANGER_WIDTH = 1.6
DECK = (3, 19, 26, 3.5)  # x, y, width, height of the road
ICO_SIZES = (16, 32, 48)
SAMPLES = 4  # per pixel side, for smooth edges


@dataclass(frozen=True)
class Icon:
    """One form of the icon, ready to serve."""

    body: bytes
    content_type: str
    etag: str


def _in_tile(x: float, y: float) -> bool:
    """Inside the green tile with rounded corners."""
    if not (0 <= x <= BOX and 0 <= y <= BOX):
        return False
    cx = min(max(x, CORNER), BOX - CORNER)
    cy = min(max(y, CORNER), BOX - CORNER)
    return (x - cx) ** 2 + (y - cy) ** 2 <= CORNER**2


def _in_bridge(x: float, y: float) -> bool:
    """Inside the white arch, a hanger or the road."""
    cx, cy, outer, inner = ARCH
    if y <= cy and inner**2 <= (x - cx) ** 2 + (y - cy) ** 2 <= outer**2:
        return True
    if any(abs(x - middle) <= HANGER_WIDTH / 2 and top <= y <= cy for middle, top in HANGERS):
        return True
    left, top, width, height = DECK
    return left <= x <= left + width and top <= y <= top + height


def svg() -> str:
    """The icon as SVG text."""
    cx, cy, outer, inner = ARCH
    left, top, width, height = DECK
    hangers = "".join(
        f'<rect x="{middle - HANGER_WIDTH / 2:g}" y="{high}" width="{HANGER_WIDTH}" height="{cy - high}" fill="#fff"/>'
        for middle, high in HANGERS
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {BOX} {BOX}">'
        f'<rect width="{BOX}" height="{BOX}" rx="{CORNER}" fill="#{bytes(GREEN).hex()}"/>'
        f'<path d="M{cx - outer} {cy}A{outer} {outer} 0 0 1 {cx + outer} {cy}H{cx + inner}'
        f'A{inner} {inner} 0 0 0 {cx - inner} {cy}Z" fill="#fff"/>{hangers}'
        f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="#fff"/></svg>\n'
    )


def _pixels(size: int) -> bytes:
    """RGBA rows of the icon at `size` × `size`, each pixel the average of SAMPLES² points."""
    scale, rows = BOX / size, bytearray()
    offsets = [(n + 0.5) / SAMPLES for n in range(SAMPLES)]
    for py in range(size):
        rows.append(0)  # PNG filter: none
        for px in range(size):
            green = white = 0
            for dy in offsets:
                for dx in offsets:
                    x, y = (px + dx) * scale, (py + dy) * scale
                    if _in_tile(x, y):
                        if _in_bridge(x, y):
                            white += 1
                        else:
                            green += 1
            covered = green + white
            if not covered:
                rows += b"\0\0\0\0"
                continue
            rows += bytes(round((g * green + w * white) / covered) for g, w in zip(GREEN, WHITE, strict=True))
            rows.append(round(255 * covered / SAMPLES**2))
    return bytes(rows)


def _png(size: int) -> bytes:
    """The icon as a PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(_pixels(size), 9))
        + chunk(b"IEND", b"")
    )


def ico() -> bytes:
    """The icon as an ICO file holding one PNG image per size in ICO_SIZES."""
    images = [_png(size) for size in ICO_SIZES]
    offset = 6 + 16 * len(images)
    directory = bytearray(struct.pack("<HHH", 0, 1, len(images)))
    for size, image in zip(ICO_SIZES, images, strict=True):
        directory += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(image), offset)
        offset += len(image)
    return bytes(directory) + b"".join(images)


def _icon(body: bytes, content_type: str) -> Icon:
    return Icon(body, content_type, hashlib.sha256(body).hexdigest()[:16])


@cache
def icons() -> dict[str, Icon]:
    """{file name: icon}, drawn once per process."""
    return {
        "favicon.svg": _icon(svg().encode(), "image/svg+xml"),
        "favicon.ico": _icon(ico(), "image/vnd.microsoft.icon"),
    }

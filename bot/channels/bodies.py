"""Reading a body that may be no longer than a limit: what citizens post to the web chat, what a
platform's media link serves."""

from __future__ import annotations

import aiohttp
from aiohttp import web


async def read_capped(message: web.BaseRequest | aiohttp.ClientResponse, limit: int, chunk: int) -> bytes | None:
    """A request's or response's body, or None when it is longer than `limit` bytes: as its
    Content-Length says, or as it comes (a chunked body has none), reading no further."""
    if (message.content_length or 0) > limit:
        return None
    data = bytearray()
    async for part in message.content.iter_chunked(chunk):
        data += part
        if len(data) > limit:
            return None
    return bytes(data)

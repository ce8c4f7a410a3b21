"""Requests that reach us through a reverse proxy (nginx, deploy/nginx/caunoi.conf).

The proxy connects from its own address and tells who the visitor is in `X-Forwarded-For`, whether
they came over https in `X-Forwarded-Proto`, and the name and port they asked for in
`X-Forwarded-Host`. Anyone can send those headers, so they are believed only from a peer in
TRUSTED_PROXIES; then the request is cloned with the visitor's own address, scheme and host, and
everything after (logs, flood control, login throttling, Secure cookies, the web chat's
same-origin check) sees the visitor instead of the proxy.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import TypedDict

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

Network = IPv4Network | IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SCHEMES = ("http", "https")
# A name or an address, and a port: what may stand after "https://" in an origin.
_HOST = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?")


def trusts(networks: Sequence[Network], address: str | None) -> bool:
    """Whether `address` (a peer or an X-Forwarded-For entry) is one of the trusted proxies."""
    found = _address(address)
    return found is not None and any(found in network for network in networks)


def client_address(peer: str, forwarded_for: Sequence[str], networks: Sequence[Network]) -> str:
    """The visitor behind a trusted `peer`: the right-most address of X-Forwarded-For that is not a
    trusted proxy. Entries to its left were written by the visitor and prove nothing; when every entry
    is a trusted proxy, the left-most one; an entry that is not an address ends the search at the
    trusted hop to its right."""
    found = peer
    for value in reversed([part.strip() for header in forwarded_for for part in header.split(",")]):
        address = _address(value)
        if address is None:
            break
        found = str(address)
        if not any(address in network for network in networks):
            break
    return found


def forwarded(networks: Sequence[Network]) -> Middleware:
    """A middleware that believes X-Forwarded-For, -Proto and -Host from the trusted proxies only."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not trusts(networks, request.remote):
            return await handler(request)
        return await handler(request.clone(**_forwarded_fields(request, networks)))

    return middleware


class _Visitor(TypedDict, total=False):
    """What `web.Request.clone` is given of the visitor."""

    remote: str
    scheme: str
    host: str


def _forwarded_fields(request: web.Request, networks: Sequence[Network]) -> _Visitor:
    """What a trusted proxy says of the visitor: remote, scheme and host, each only when sane."""
    headers = request.headers
    fields = _Visitor(remote=client_address(request.remote or "", headers.getall(hdrs.X_FORWARDED_FOR, []), networks))
    proto = _last(headers.getall(hdrs.X_FORWARDED_PROTO, [])).lower()
    if proto in SCHEMES:
        fields["scheme"] = proto
    host = _last(headers.getall(hdrs.X_FORWARDED_HOST, []))
    if _HOST.fullmatch(host):
        fields["host"] = host
    return fields


def _last(values: Sequence[str]) -> str:
    """The right-most entry of a comma-separated header: the one the nearest proxy wrote."""
    return ",".join(values).rsplit(",", 1)[-1].strip()


def _address(value: str | None) -> IPv4Address | IPv6Address | None:
    """An address, IPv4 also when written as IPv6 (::ffff:127.0.0.1, as a dual-stack socket reports it)."""
    try:
        found = ip_address(value) if value else None
    except ValueError:
        return None
    return found.ipv4_mapped or found if isinstance(found, IPv6Address) else found


def keep_forwarded(request: web.Request, *, client_max_size: int) -> web.Request:
    """`request.clone(client_max_size=…)` that keeps the visitor's address, scheme and host: a plain
    clone forgets them and goes back to the proxy's."""
    kept = _Visitor(scheme=request.scheme, host=request.host)
    if request.remote:
        kept["remote"] = request.remote
    return request.clone(**kept, client_max_size=client_max_size)


def same_origin(request: web.Request, origin: str) -> bool:
    """Whether a browser's Origin header names this site as the visitor reached it: scheme, host and
    port (a default port written or not)."""
    scheme, _, authority = origin.partition("://")
    return _origin(scheme, authority) == _origin(request.scheme, request.host)


def _origin(scheme: str, authority: str) -> str:
    scheme = scheme.lower()
    return f"{scheme}://{authority.lower()}".removesuffix({"http": ":80", "https": ":443"}.get(scheme, ""))

"""Web chat identities: issued by the server in a signed cookie, renewed with use, ended by inactivity.

The cookie holds `token.stamp.signature`: a random token, when the cookie was last issued (Unix
seconds), and an HMAC of both with a key derived from SECRET_KEY. The stored identity
(`Citizen.channel_user_id`) is a keyed hash of the token alone, so the cookie can be issued again
with a fresh stamp (at most once a day, when used) and the citizen keeps their conversation. A value
the server did not sign, a changed one, or one not renewed for WEBCHAT_IDENTITY_IDLE_DAYS is unknown:
whoever sends it gets a new identity, never an error.

Cookies issued before they were signed hold the bare token. One is accepted only when a citizen with
its hash exists (so the server issued it) and is then issued again, signed; any other is unknown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv6Address, ip_address, ip_network

RENEW_AFTER = timedelta(days=1)
CLOCK_SKEW = timedelta(minutes=5)  # a stamp a little ahead of this clock was issued by another process
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
_SIGNED = re.compile(r"([A-Za-z0-9_-]{20,100})\.(\d{1,12})\.([A-Za-z0-9_-]{43})")
IPV6_PREFIX = 64  # one household's IPv6 network: its devices (and a script) pick any address in it


@dataclass(frozen=True)
class Identity:
    """Who the visitor is: the cookie's token and its stored hash. `new`: no valid cookie came, the
    identity was made now; `issue`: the cookie must be set (new, renewed, or upgraded)."""

    token: str
    user_id: str
    new: bool = False
    issue: bool = False


@dataclass(frozen=True)
class Found:
    """What a cookie value says: a valid signed identity, an old-format token to look up, or nothing."""

    identity: Identity | None = None
    legacy_token: str | None = None


class Identities:
    """Issues and checks the web chat's identity cookies (no database: the caller looks up old tokens)."""

    def __init__(self, secret: bytes, idle: timedelta) -> None:
        self.secret = secret
        self.signing_key = hmac.new(secret, b"webchat identity cookie", hashlib.sha256).digest()
        self.idle = idle

    def user_id(self, token: str) -> str:
        """The stored identity: a keyed hash of the token (the same as before cookies were signed)."""
        return hmac.new(self.secret, token.encode(), hashlib.sha256).hexdigest()[:40]

    def new(self) -> Identity:
        """A fresh identity, its cookie to be set."""
        token = secrets.token_urlsafe(24)
        return Identity(token, self.user_id(token), new=True, issue=True)

    def cookie(self, token: str, now: datetime) -> str:
        """The signed cookie value for `token`, stamped `now`."""
        stamp = str(int(now.timestamp()))
        return f"{token}.{stamp}.{self._signature(token, stamp)}"

    def read(self, value: str | None, now: datetime) -> Found:
        """What the cookie `value` says at `now`: a signed identity still in use (to be issued again
        when its stamp is older than RENEW_AFTER), an old-format token, or nothing usable."""
        if not value:
            return Found()
        signed = _SIGNED.fullmatch(value)
        if signed is None:
            return Found(legacy_token=value) if _TOKEN.fullmatch(value) else Found()
        token, stamp, signature = signed.groups()
        if not hmac.compare_digest(signature, self._signature(token, stamp)):
            return Found()
        age = now - datetime.fromtimestamp(int(stamp), tz=now.tzinfo)
        if age >= self.idle or age < -CLOCK_SKEW:
            return Found()
        return Found(Identity(token, self.user_id(token), issue=age >= RENEW_AFTER))

    def upgraded(self, token: str) -> Identity:
        """An old-format token of a known citizen: the same identity, its cookie to be issued signed."""
        return Identity(token, self.user_id(token), issue=True)

    def address(self, remote: str | None) -> str:
        """A keyed hash of the client's address (personal data, never stored as such): an IPv6
        address counts as its /64 network."""
        text = remote or ""
        try:
            found = ip_address(text)
        except ValueError:
            pass
        else:
            if isinstance(found, IPv6Address):
                mapped = found.ipv4_mapped
                text = str(mapped) if mapped else str(ip_network(f"{found}/{IPV6_PREFIX}", strict=False))
        return hmac.new(self.signing_key, b"address:" + text.encode(), hashlib.sha256).hexdigest()[:32]

    def _signature(self, token: str, stamp: str) -> str:
        digest = hmac.new(self.signing_key, f"{token}.{stamp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

"""Unguessable, expiring links to stored photos, for platforms that fetch media by URL (Zalo).

A link is `<PUBLIC_BASE_URL>/media/<token>`: the token names a file under DATA_DIR and its expiry,
signed with a key derived from SECRET_KEY. Nothing is stored; a link cannot be forged or extended,
and only photos are served.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta
from pathlib import Path

from yarl import URL

DEFAULT_TTL = timedelta(hours=24)
PHOTO_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
_SIGNATURE_BYTES = 20


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class MediaLinks:
    """Signs and checks links to photos kept under the data folder."""

    def __init__(
        self, secret_key: str, data_dir: Path, public_base_url: URL | str | None, *, ttl: timedelta = DEFAULT_TTL
    ) -> None:
        # A key of its own, so a media token can never pass as any other signed value.
        self._key = hmac.new(secret_key.encode(), b"caunoi:media-links", hashlib.sha256).digest()
        self.root = data_dir.resolve()
        self.base_url = str(public_base_url or "").rstrip("/")
        self.ttl = ttl

    @property
    def enabled(self) -> bool:
        """Whether links can be made (PUBLIC_BASE_URL is set)."""
        return bool(self.base_url)

    def url_for(self, relative: str, now: datetime) -> str | None:
        """A public link to a photo of the data folder, valid for `ttl`; None when that is impossible."""
        if not self.enabled or self.file(relative) is None:
            return None
        return f"{self.base_url}/media/{self.token(relative, now + self.ttl)}"

    def path_for(self, relative: str, now: datetime) -> str | None:
        """The same link without the site's address, for pages of this site (the web chat)."""
        if self.file(relative) is None:
            return None
        return f"/media/{self.token(relative, now + self.ttl)}"

    def token(self, relative: str, expires: datetime) -> str:
        """The signed token for a file and an expiry."""
        body = f"{int(expires.timestamp())}:{relative}".encode()
        return f"{_b64(body)}.{_b64(self._sign(body))}"

    def resolve(self, token: str, now: datetime) -> Path | None:
        """The file a token names, if its signature is right, it has not expired and it is a photo."""
        body_part, _, signature_part = token.partition(".")
        try:
            body, signature = _unb64(body_part), _unb64(signature_part)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        expires, _, relative = body.decode(errors="replace").partition(":")
        if not expires.isdigit() or int(expires) < now.timestamp():
            return None
        return self.file(relative)

    def file(self, relative: str) -> Path | None:
        """The photo file under the data folder a relative path names, or None."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or path.suffix.lower() not in PHOTO_TYPES or not path.is_file():
            return None
        return path

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

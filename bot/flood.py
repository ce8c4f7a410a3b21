"""Flood control: a token bucket per citizen, so that one citizen sending very fast is slowed down
politely without losing what they send and without delaying anyone else.

Every message is still handled in order (a complaint typed during a burst reaches its draft, a
question is still counted); only the replies are held back. The first message over the limit is
answered with a notice to slow down instead of its usual reply; after that the bot stays silent
(repeating the notice at most once a minute) until the citizen's rate has fallen, that is until
half of the bucket has filled again. Each held-back reply is counted and logged.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum

log = logging.getLogger(__name__)

NOTICE_EVERY = 60.0
MAX_KEYS = 100_000


class Pace(StrEnum):
    """What to do with the reply to one message."""

    ok = "ok"  # answer as usual
    notice = "notice"  # over the limit: answer with the slow-down notice instead
    quiet = "quiet"  # over the limit, already told: handle the message, hold the reply back


@dataclass
class _Bucket:
    tokens: float
    seen: float
    throttled: bool = False
    told: float = float("-inf")


class FloodGate:
    """At most `burst` messages at once per key, refilled at `burst / window` per second.

    Memory is bounded: a key idle for a whole window (its bucket full again) is forgotten, and
    past `max_keys` the longest idle key is dropped.
    """

    def __init__(
        self,
        burst: int = 20,
        window: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
        notice_every: float = NOTICE_EVERY,
    ) -> None:
        if burst < 1 or window <= 0:
            raise ValueError("burst must be at least 1 and window positive")
        self.burst = burst
        self.window = window
        self.rate = burst / window
        self.clock = clock
        self.max_keys = max_keys
        self.notice_every = notice_every
        self.held = 0
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()

    def admit(self, key: Hashable) -> Pace:
        """Count one message of `key`; whether to answer it."""
        now = self.clock()
        self._forget_idle(now)
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        self._buckets[key] = bucket
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.seen) * self.rate)
        bucket.seen = now
        if bucket.throttled and bucket.tokens >= self.burst / 2:
            bucket.throttled = False
        pace = Pace.ok
        if bucket.throttled or bucket.tokens < 1:
            bucket.throttled = True
            pace = Pace.notice if now - bucket.told >= self.notice_every else Pace.quiet
            if pace is Pace.notice:
                bucket.told = now
                log.info(
                    "flood: %s sends faster than %d messages in %.0f s; replies held back", key, self.burst, self.window
                )
            else:
                self.held += 1
        bucket.tokens = max(0.0, bucket.tokens - 1)
        return pace

    def _forget_idle(self, now: float) -> None:
        """Drop keys whose bucket has filled up again, oldest first; keep at most `max_keys`."""
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if now - oldest.seen < self.window and len(self._buckets) < self.max_keys:
                break
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


def flood_gate(burst: int, window: float) -> FloodGate | None:
    """The gate for FLOOD_BURST and FLOOD_WINDOW_SECONDS; None when FLOOD_BURST is 0 (off)."""
    return FloodGate(burst, window) if burst > 0 else None

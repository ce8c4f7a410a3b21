"""What one process of the bot does, when it runs as several (`python -m bot run --role`).

`web` processes serve people and platforms over HTTP (web chat, dashboard, webhooks); `worker`
processes do the work nobody waits on (outbox senders, the scheduler) and long polling, and serve
only /healthz and /metrics; `all` is both, the single-process default. docs/deploy.md shows a layout.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The part of the bot a process runs."""

    all = "all"
    web = "web"
    worker = "worker"

    @property
    def serves(self) -> bool:
        """Serves the web chat, the dashboard and the webhooks."""
        return self is not Role.worker

    @property
    def works(self) -> bool:
        """Runs the outbox senders and the scheduler."""
        return self is not Role.web

    def receives(self, *, webhook: bool) -> bool:
        """Takes a channel's updates: from its webhook in a serving process, by polling in a working one."""
        return self.serves if webhook else self.works

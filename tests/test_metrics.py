"""/metrics (Prometheus text format) and the request ids in the logs (text and LOG_FORMAT=json)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.app import create_app
from bot.logs import JsonFormatter, install_request_ids
from handlers.engine import Engine
from handlers.types import Incoming
from storage import outbox
from storage.models import Ticket

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client) -> dict:  # type: ignore[no-untyped-def]
    response = await client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    return samples(await response.text())


async def test_metrics_count_turns_faq_outcomes_queue_and_tickets(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    before = await scrape(client)
    await client.post("/chat/api/messages", json={"text": "/start"})
    await client.post("/chat/api/messages", json={"text": "/huy"})  # out of onboarding: a question there is not a FAQ turn
    await client.post("/chat/api/messages", json={"text": "chuan ho ngheo la bao nhieu"})
    await client.post("/chat/api/messages", json={"text": "giá vé máy bay đi Hà Nội"})
    async with sessions() as session:
        for chat in ("1", "2", "3"):
            await outbox.enqueue(session, channel="telegram", chat_id=chat, payload={"text": "x"}, now=T0)
        session.add(Ticket(code="PA-MTRCS2", kind="question", body="?", created_at=T0, due_at=T0, updated_at=T0))
        await session.commit()
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("caunoi_updates_received_total", channel="webchat") == 4
    assert grew("caunoi_updates_handled_total", channel="webchat", outcome="ok") == 4
    assert grew("caunoi_handler_seconds_count", channel="webchat") == 4
    assert grew("caunoi_faq_outcomes_total", outcome="answer") == 1
    assert grew("caunoi_faq_outcomes_total", outcome="none") == 1
    assert value(after, "caunoi_outbox_queue", channel="telegram", status="pending") == 3
    assert value(after, "caunoi_tickets", status="new") == 1
    assert value(after, "caunoi_scheduler_runs_total", job="broadcasts", outcome="ok") >= 1


async def test_metrics_list_every_registered_channel_and_its_empty_queue(settings, tg, aiohttp_client) -> None:
    from bot.channels import zalo_oa
    from bot.channels.registry import KINDS
    from tests.conftest import telegram_settings
    on = telegram_settings(settings, tg)
    found = await scrape(await aiohttp_client(create_app(on)))
    assert {kind.name: value(found, "caunoi_channel_on", channel=kind.name) for kind in KINDS} == {
        kind.name: (1.0 if kind.enabled(on) else 0.0) for kind in KINDS}
    assert value(found, "caunoi_channel_on", channel="telegram") == 1 == value(found, "caunoi_channel_on", channel="webchat")
    off = zalo_oa.KIND.name
    assert ("caunoi_channel_on", (("channel", off),)) in found and value(found, "caunoi_channel_on", channel=off) == 0
    # A channel that is on has its queue series at 0 before anything waits; one that is off has none.
    assert ("caunoi_outbox_queue", (("channel", "telegram"), ("status", "pending"))) in found
    assert value(found, "caunoi_outbox_queue", channel="telegram", status="sending") == 0
    assert not [key for key in found if key[0] == "caunoi_outbox_queue" and ("channel", off) in key[1]]


async def test_delivery_results_are_counted_per_channel(settings, tg, aiohttp_client, sessions) -> None:
    from tests.conftest import telegram_settings

    client = await aiohttp_client(create_app(telegram_settings(settings, tg)))
    before = await scrape(client)
    tg.block("902")
    async with sessions() as session:
        for chat in ("901", "902"):
            await outbox.enqueue(session, channel="telegram", chat_id=chat, payload={"text": "Thông báo"}, now=T0)
        await session.commit()

    def counted(result: str) -> float:
        return value(after, "caunoi_outbox_results_total", channel="telegram", result=result) - value(
            before, "caunoi_outbox_results_total", channel="telegram", result=result)

    for _ in range(200):
        after = await scrape(client)
        if counted("sent") and counted("unreachable"):
            break
        await asyncio.sleep(0.05)
    assert counted("sent") == 1 and counted("unreachable") == 1
    assert any(str(sent.chat_id) == "901" for sent in tg.sent)


async def test_a_failed_turn_is_counted_and_logged_with_its_id(engine: Engine, caplog, monkeypatch) -> None:
    install_request_ids()

    async def broken(turn):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(engine.router, "dispatch", broken)
    before = samples_of_registry()
    with caplog.at_level(logging.ERROR, logger="handlers.engine"):
        replies = await engine.handle(Incoming(channel="telegram", user_id="77", text="hi"))
    assert "gặp sự cố" in replies[0].text
    failed = [record for record in caplog.records if record.getMessage().startswith("turn failed")]
    assert len(failed) == 1 and str(failed[0].request_id).startswith("telegram-")  # type: ignore[attr-defined]
    after = samples_of_registry()
    key = ("caunoi_updates_handled_total", (("channel", "telegram"), ("outcome", "error")))
    assert after.get(key, 0) - before.get(key, 0) == 1


def samples_of_registry() -> dict:
    from prometheus_client import REGISTRY, generate_latest

    return samples(generate_latest(REGISTRY).decode())


async def test_a_web_request_keeps_the_proxys_id_in_logs_and_response(settings, aiohttp_client, caplog) -> None:
    install_request_ids()
    app = create_app(settings)
    log = logging.getLogger("tests.request")

    async def logs_something(request: web.Request) -> web.Response:
        log.warning("inside the request")
        return web.Response(text="ok")

    app.router.add_get("/test-log", logs_something)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.WARNING, logger="tests.request"):
        given = await client.get("/test-log", headers={"X-Request-ID": "proxy-42.a"})
        made = await client.get("/test-log", headers={"X-Request-ID": "bad id <script>"})
    assert given.headers["X-Request-ID"] == "proxy-42.a"
    assert made.headers["X-Request-ID"].startswith("web-")  # an unsafe id is replaced, not echoed
    ids = [record.request_id for record in caplog.records if record.name == "tests.request"]  # type: ignore[attr-defined]
    assert ids == ["proxy-42.a", made.headers["X-Request-ID"]]
    missing = await client.get("/nowhere", headers={"X-Request-ID": "proxy-43"})
    assert missing.status == 404 and missing.headers["X-Request-ID"] == "proxy-43"


def test_json_logs_are_one_object_per_line_with_the_id_and_the_traceback() -> None:
    install_request_ids()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.json")
    log.addHandler(handler)
    log.propagate = False
    try:
        from handlers.observe import REQUEST_ID

        token = REQUEST_ID.set("upd-1")
        try:
            raise ValueError("bad\nline")
        except ValueError:
            log.exception("cannot do it: %s", "Hòa Phú")
        finally:
            REQUEST_ID.reset(token)
        log.error("outside")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "cannot do it: Hòa Phú" and first["level"] == "ERROR" and first["request_id"] == "upd-1"
    assert "ValueError: bad" in first["exception"] and first["logger"] == "tests.json"
    assert second["message"] == "outside" and "request_id" not in second


async def test_metrics_are_for_this_machine_or_a_token_holder(settings, aiohttp_client) -> None:
    open_app = create_app(settings)

    @web.middleware
    async def from_afar(request: web.Request, handler):  # type: ignore[no-untyped-def]
        return await handler(request.clone(remote="203.0.113.5"))

    open_app.middlewares.insert(0, from_afar)
    remote = await aiohttp_client(open_app)
    assert (await remote.get("/metrics")).status == 404

    locked = await aiohttp_client(create_app(settings.model_copy(update={"metrics_token": "s3cret-token"})))
    assert (await locked.get("/metrics")).status == 404
    assert (await locked.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 404
    response = await locked.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert response.status == 200 and "caunoi_updates_received_total" in await response.text()


def test_configured_secrets_are_masked_in_messages_and_tracebacks(caplog) -> None:
    from bot.logs import hide_secrets

    install_request_ids()
    hide_secrets("tok-123456:ABCDEF-secret", "short")
    log = logging.getLogger("tests.secrets")
    with caplog.at_level(logging.INFO, logger="tests.secrets"):
        log.info("calling https://api.telegram.org/bot%s/getMe", "tok-123456:ABCDEF-secret")
        try:
            raise RuntimeError("refused tok-123456:ABCDEF-secret")
        except RuntimeError:
            log.exception("failed")
        log.info("a short value stays: %s", "short")
    text = caplog.text
    assert "ABCDEF-secret" not in text and "bot***/getMe" in text and "refused ***" in text
    assert "a short value stays: short" in text

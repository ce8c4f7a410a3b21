"""Several real `python -m bot run` processes on one PostgreSQL database, as docs/deploy.md lays
them out: two `--role web` processes taking Telegram webhooks and the web chat, two `--role worker`
processes sending the outbox and running the scheduler.

Telegram's part is played by the test: every update is POSTed to one web process and, at the same
moment, the very same update to the other one (a redelivery, or a proxy retrying elsewhere). Each
citizen's next step goes to the other process than the last one. Needs TEST_POSTGRES_URL.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.config import Settings
from storage import content_edit
from storage.db import create_engine, session_factory
from storage.models import Broadcast, Citizen, OutboxMessage, TelegramInboxRow
from tests.fakes.telegram import FakeTelegram, Sent, buttons
from tests.test_metrics import samples
from tests.browser import free_port
from tests.test_crash import ROOT, BotProcess

SECRET = "multi-process-webhook-secret"
USERS = [7101, 7102, 7103, 7104, 7105, 7106]
NOTICE = "Họp bình xét hộ nghèo quý IV tại nhà văn hoá thôn"
MARKER = "(đã cập nhật nhiều tiến trình)"
FAQ_ID = "poverty-line-2022-2026"
QUESTION = "chuan ho ngheo hien nay la bao nhieu"


class Cluster:
    """The processes, the fake Telegram server and a way to reach the database."""

    def __init__(self, tg: FakeTelegram, webs: list[BotProcess], workers: list[BotProcess], env: dict[str, str],
                 database_url: str) -> None:
        self.tg = tg
        self.webs = webs
        self.workers = workers
        self.env = env
        self.database_url = database_url

    @property
    def everyone(self) -> list[BotProcess]:
        return [*self.webs, *self.workers]

    def output(self) -> str:
        return "\n".join(process.output() for process in self.everyone)

    async def deliver(self, update: dict[str, Any], first: int) -> None:
        """POST one update to web process `first` and the same update to the other, together;
        both must answer 200 (one handles it, the other recognises it)."""
        async def post(process: BotProcess) -> int:
            url = f"http://127.0.0.1:{process.port}/webhook/telegram"
            async with aiohttp.ClientSession() as http, http.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            ) as response:
                return response.status

        ordered = [self.webs[first % 2], self.webs[(first + 1) % 2]]
        statuses = await asyncio.gather(*(post(process) for process in ordered))
        assert statuses == [200, 200], f"webhook answers {statuses}\n{self.output()}"


@pytest.fixture
async def cluster(tmp_path: Path, postgres_url: str, tg: FakeTelegram) -> AsyncIterator[Cluster]:
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    web_ports = [free_port(), free_port()]
    env.update(
        PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", DATABASE_URL=postgres_url, DATA_DIR=str(tmp_path / "data"),
        SECRET_KEY="multi-process-secret-key", WEB_HOST="127.0.0.1", TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_BASE_URL=tg.base_url, TELEGRAM_BASE_FILE_URL=tg.base_file_url, TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{web_ports[0]}/webhook/telegram", QUIET_HOURS="", LOG_LEVEL="INFO",
    )

    def process(name: str, role: str, port: int) -> BotProcess:
        return BotProcess(tmp_path, {**env, "WEB_PORT": str(port)}, port, args=("--role", role),
                          healthy=f'"role": "{role}"', name=name)

    webs = [process(f"web{n}", "web", port) for n, port in enumerate(web_ports, start=1)]
    workers = [process(f"worker{n}", "worker", free_port()) for n in (1, 2)]
    try:
        await asyncio.gather(*(member.start(timeout=60) for member in [*webs, *workers]))
        yield Cluster(tg, webs, workers, env, postgres_url)
    finally:
        for member in [*webs, *workers]:
            member.kill_now()


async def scrape(process: BotProcess) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{process.port}/metrics") as response:
        assert response.status == 200
        return samples(await response.text())


def to_chat(tg: FakeTelegram, user: int) -> list[Sent]:
    return [sent for sent in tg.sent if sent.method in ("sendMessage", "sendPhoto") and str(sent.chat_id) == str(user)]


def label_data(tg: FakeTelegram, user: int, label: str) -> str:
    """The callback data of the button with `label` on the bot's last message to `user`."""
    last = to_chat(tg, user)[-1]
    found = [data for text, data in buttons(last) if label in text]
    assert found, f"no button {label!r} on {last}"
    return found[0]


async def wait_until(check, timeout: float, what: str, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f}s\n{cluster.output()}")
        await asyncio.sleep(0.2)


async def onboard(cluster: Cluster, user: int, index: int) -> None:
    """The whole onboarding of one citizen, each step to the other web process, each twice."""
    tg = cluster.tg
    steps: list[tuple[str, str]] = [("text", "/start"), ("press", "Đồng ý"), ("press", "Tiếng Việt"),
                                    ("text", "ea kao"), ("press", "Hộ cận nghèo")]
    for step, (kind, value) in enumerate(steps):
        seen = len(to_chat(tg, user))
        if kind == "text":
            update = tg.make_message_update(user, value)
        else:
            update = tg.make_callback_update(user, label_data(tg, user, value))
        update = {"update_id": 500_000 + user * 10 + step, **update}
        await cluster.deliver(update, index + step)

        async def answered() -> bool:
            return len(to_chat(tg, user)) > seen

        await wait_until(answered, 20, f"no answer to step {step} of {user}", cluster)


async def test_two_web_processes_and_two_workers_on_one_database(cluster: Cluster, tg: FakeTelegram) -> None:
    # Every update reaches both web processes; each is handled once, and each citizen's steps
    # alternate between processes without losing the conversation.
    await asyncio.gather(*(onboard(cluster, user, index) for index, user in enumerate(USERS)))
    await asyncio.sleep(1.0)  # a second handling would have answered by now
    engine = create_engine(cluster.database_url)
    sessions = session_factory(engine)
    try:
        for user in USERS:
            texts = [sent.text or "" for sent in to_chat(tg, user)]
            assert sum("đã cài đặt xong" in text for text in texts) == 1, texts
            assert sum("ngôn ngữ nào" in text for text in texts) == 1, texts
            assert all(a != b for a, b in zip(texts, texts[1:])), f"a reply was sent twice: {texts}"
        async with sessions() as session:
            citizens = (await session.exec(select(Citizen).where(col(Citizen.channel_user_id).in_([str(u) for u in USERS])))).all()
            handled = (await session.exec(select(func.count()).select_from(TelegramInboxRow)
                                          .where(col(TelegramInboxRow.done_at).is_not(None)))).one()
        assert sorted((c.channel_user_id, c.locale, c.area_code, c.household_status, c.subscribed) for c in citizens) == [
            (str(user), "vi", "24169", "near_poor", True) for user in USERS
        ]
        assert handled == len(USERS) * 5

        # A notice for everyone: both workers' schedulers see it due, one queues it, the two
        # senders share the outbox, and every citizen gets it exactly once.
        sent = subprocess.run([sys.executable, "-m", "bot", "broadcast", "send", "--text", NOTICE],
                              cwd=ROOT, env=cluster.env, capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr

        async def delivered() -> bool:
            return all(any(NOTICE in (s.text or "") for s in to_chat(tg, user)) for user in USERS)

        await wait_until(delivered, 40, "the notice did not reach everyone", cluster)
        await asyncio.sleep(2.0)
        assert Counter(str(s.chat_id) for s in tg.sent if NOTICE in (s.text or "")) == {str(u): 1 for u in USERS}
        async with sessions() as session:
            assert len((await session.exec(select(Broadcast))).all()) == 1
            statuses = (await session.exec(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all()
        assert dict(statuses) == {"sent": len(USERS)}
        # Only workers sent and ran schedules (their /metrics say so).
        figures = {process.name: await scrape(process) for process in cluster.everyone}
        sent_by = {name: found.get(("caunoi_outbox_results_total", (("channel", "telegram"), ("result", "sent"))), 0)
                   for name, found in figures.items()}
        assert sent_by["web1"] == sent_by["web2"] == 0 and sent_by["worker1"] + sent_by["worker2"] == len(USERS)
        assert not any(key[0] == "caunoi_scheduler_runs_total" for name in ("web1", "web2") for key in figures[name])
        assert any(key[0] == "caunoi_scheduler_runs_total" for key in figures["worker1"])

        # A content edit made through one connection reaches the search index of every process.
        async with sessions() as session:
            row = await content_edit.get_faq(session, FAQ_ID)
            assert row is not None
            texts = {locale: dict(values) for locale, values in row.texts.items()}
            texts["vi"]["answer"] = f"{texts['vi']['answer']} {MARKER}"
            row.texts = texts
            await content_edit.save_faq(session, row, datetime.now(UTC))
            await session.commit()

        async def ask(process: BotProcess) -> str:
            async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{process.port}/chat/api/messages", json={"text": QUESTION}
            ) as response:
                assert response.status == 200
                return " ".join(reply["text"] for reply in (await response.json())["replies"])

        async def everywhere() -> bool:
            answers = await asyncio.gather(*(ask(process) for process in cluster.webs))
            return all(MARKER in answer for answer in answers)

        await wait_until(everywhere, 30, "the edited answer did not reach both web processes", cluster)
        for process in cluster.everyone:
            assert process.running, process.output()
    finally:
        await engine.dispose()


async def test_a_worker_serves_only_health_and_metrics_and_a_web_process_sends_nothing(cluster: Cluster) -> None:
    async with aiohttp.ClientSession() as http:
        worker = f"http://127.0.0.1:{cluster.workers[0].port}"
        for path in ("/chat", "/admin/login"):
            async with http.get(worker + path, allow_redirects=False) as response:
                assert response.status == 404, path
        async with http.post(worker + "/webhook/telegram", json={}) as response:
            assert response.status == 404
        async with http.get(worker + "/metrics") as response:
            assert response.status == 200
        web = f"http://127.0.0.1:{cluster.webs[0].port}"
        async with http.get(web + "/chat") as response:
            assert response.status == 200
    # Only the web processes registered the webhook; nothing deleted it or polled.
    calls = cluster.tg.requests
    assert (calls["setWebhook"], calls["deleteWebhook"], calls["getUpdates"]) == (2, 0, 0)


async def test_each_role_starts_only_its_part(settings: Settings, tg: FakeTelegram, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    from bot import keys
    from bot.app import create_app
    from bot.roles import Role
    from tests.conftest import telegram_settings

    polling = telegram_settings(settings, tg)
    web = await aiohttp_client(create_app(polling, role=Role.web))
    assert (await web.get("/chat")).status == 200
    assert (await (await web.get("/healthz")).json())["role"] == "web"
    await asyncio.sleep(0.5)
    assert keys.SCHEDULER not in web.app and (tg.requests["getUpdates"], tg.requests["deleteWebhook"]) == (0, 0)
    await web.close()

    worker = await aiohttp_client(create_app(polling, role=Role.worker))
    assert (await worker.get("/chat")).status == 404 and (await worker.get("/admin/login")).status == 404
    assert (await (await worker.get("/healthz")).json())["role"] == "worker"
    assert keys.SCHEDULER in worker.app
    for _ in range(100):
        if tg.requests["getUpdates"]:
            break
        await asyncio.sleep(0.05)
    assert tg.requests["getUpdates"] > 0 and tg.requests["deleteWebhook"] == 1

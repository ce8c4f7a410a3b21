"""The documented deployment, run as it is documented: Debian's nginx with deploy/nginx/caunoi.conf
(only the values on its "# site" lines changed: loopback ports, a self-signed certificate made here
with openssl) in front of two web processes and a worker started from the ExecStart and Environment
of deploy/systemd/*.service, on PostgreSQL. Real Chromium completes onboarding and asks a question in
the web chat and signs in to the dashboard over https; a signed Zalo OA event posted through nginx
is answered.

nginx runs as a foreground process with its own prefix, pid, logs and temporary files in the test's
directory. Without nginx or openssl the test is skipped, unless REQUIRE_NGINX=1 (set by `.ci/run`);
it also needs TEST_POSTGRES_URL (REQUIRE_POSTGRES=1) and Chromium (REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.config import Settings
from tests.browser import bot_says, free_port, press, type_and_send
from tests.dashboard import PASSWORD
from tests.fakes.zalo_oa import FakeZaloOA
from tests.test_crash import ROOT, BotProcess
from tests.test_webchat_media import png

DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "caunoi.conf"
WEB_UNIT = DEPLOY / "systemd" / "caunoi-web@.service"
WORKER_UNIT = DEPLOY / "systemd" / "caunoi-worker.service"
MARK = "# site"
NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {site};
}}
"""


def tool(name: str) -> str:
    """The path of nginx or openssl; the test is skipped without it (failed with REQUIRE_NGINX=1)."""
    found = shutil.which(name) or next((path for path in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(path, os.X_OK)), None)
    if found is None:
        if os.environ.get("REQUIRE_NGINX") == "1":
            pytest.fail(f"REQUIRE_NGINX=1 but {name} is missing (apt-get install nginx openssl)", pytrace=False)
        pytest.skip(f"no {name} here: install Debian's nginx and openssl to run the deployment test")
    return found


def render_site(text: str, values: dict[tuple[str, str], str]) -> str:
    """The site file with the value of each "# site" line replaced, found by (directive, value). A
    marked line the test does not know, or a known value the file no longer has, fails: the file and
    this test cannot drift apart. Nothing else in the file changes."""
    used = set()
    lines = []
    for line in text.splitlines():
        if line.rstrip().endswith(MARK):
            found = re.fullmatch(r"(\s*)(\S+)(\s+)(\S+?)(;|\s.*;)(\s*#.*)", line)
            assert found, f"a {MARK!r} line must read `directive value …;  {MARK}`: {line!r}"
            indent, directive, space, value, rest, comment = found.groups()
            key = (directive, value)
            assert key in values, f"{SITE.name}: the test does not know the site value {key}"
            used.add(key)
            line = f"{indent}{directive}{space}{values[key]}{rest}{comment}"
        lines.append(line)
    assert used == set(values), f"{SITE.name} no longer has the site values {set(values) - used}"
    return "\n".join(lines) + "\n"


def unit_command(unit: Path, instance: str = "") -> tuple[list[str], dict[str, str]]:
    """ExecStart and Environment of a systemd unit's [Service], with %i as `instance`."""
    command: list[str] = []
    environment = {}
    for line in unit.read_text().splitlines():
        key, _, value = line.partition("=")
        value = value.replace("%i", instance)
        if key == "ExecStart":
            command = shlex.split(value)
        elif key == "Environment":
            name, _, setting = value.partition("=")
            environment[name] = setting
    return command, environment


@dataclass
class Deployment:
    """The running set: nginx's https address, the processes and the fake Zalo OA platform."""

    base_url: str
    http_url: str
    processes: list[BotProcess]
    env: dict[str, str]
    zalo: FakeZaloOA
    prefix: Path

    def output(self) -> str:
        logs = "\n".join(process.output() for process in self.processes)
        nginx = (self.prefix / "error.log").read_text(errors="replace")[-3000:] if (self.prefix / "error.log").exists() else ""
        return f"{logs}\n--- nginx error.log ---\n{nginx}"


def certificate(directory: Path, openssl: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for a day."""
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    return cert, key


@contextlib.contextmanager
def nginx(binary: str, prefix: Path, site: str) -> Iterator[subprocess.Popen[bytes]]:
    """Debian's nginx in the foreground with everything of its own under `prefix`; stopped after."""
    (prefix / "caunoi.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""  # as root, workers would be `nobody`, shut out of `prefix`
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, prefix=prefix, site=prefix / "caunoi.conf"))
    checked = subprocess.run([binary, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, f"nginx -t refuses the site:\n{checked.stderr}"
    process = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: the workers finish what they serve
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


async def wait_healthy(url: str, what: str, deployment_output) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
        while True:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"{what} did not answer {url}\n{deployment_output()}")
            await asyncio.sleep(0.1)


@pytest.fixture
async def deployment(tmp_path: Path, postgres_url: str) -> AsyncIterator[Deployment]:
    nginx_binary, openssl = tool("nginx"), tool("openssl")
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    cert, key = certificate(prefix, openssl)
    https, http, web_ports = free_port(), free_port(), [str(free_port()), str(free_port())]
    base_url = f"https://127.0.0.1:{https}"
    letsencrypt = "/etc/letsencrypt/live/caunoi.example.gov.vn"
    site = render_site(SITE.read_text(), {
        ("server", "127.0.0.1:8081"): f"127.0.0.1:{web_ports[0]}", ("server", "127.0.0.1:8082"): f"127.0.0.1:{web_ports[1]}",
        ("listen", "80"): f"127.0.0.1:{http}", ("listen", "443"): f"127.0.0.1:{https}",
        ("server_name", "caunoi.example.gov.vn"): "127.0.0.1",
        ("ssl_certificate", f"{letsencrypt}/fullchain.pem"): str(cert), ("ssl_certificate_key", f"{letsencrypt}/privkey.pem"): str(key),
    })
    async with FakeZaloOA() as zalo:
        # What /etc/caunoi/env holds (docs/deploy.md), pointed at this test's database and fakes.
        env = {name: value for name, value in os.environ.items() if name.lower() not in Settings.model_fields}
        env.update(
            PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", DATABASE_URL=postgres_url, DATA_DIR=str(tmp_path / "data"),
            SECRET_KEY="deployment-test-secret-key", PUBLIC_BASE_URL=base_url, QUIET_HOURS="", LOG_LEVEL="INFO",
            ADMIN_PASSWORD="deployment-admin-password",
        )
        env.update({name.upper(): str(value) for name, value in zalo.settings().items()})
        # The OA secret key checks the webhook's signatures; the app's secret refreshes the access token.
        env.update(ZALO_OA_SECRET_KEY=zalo.secret_key, ZALO_OA_APP_SECRET=zalo.app_secret)
        processes = []
        for name, unit, instance in (("web1", WEB_UNIT, web_ports[0]), ("web2", WEB_UNIT, web_ports[1]),
                                     ("worker", WORKER_UNIT, "")):
            command, unit_env = unit_command(unit, instance)
            assert command[0].endswith("/python") and command[1:4] == ["-m", "bot", "run"], command
            if not instance:  # the worker's fixed port, taken by whatever else runs here
                unit_env["WEB_PORT"] = str(free_port())
            role = command[command.index("--role") + 1]
            processes.append(BotProcess(tmp_path, {**env, **unit_env}, int(unit_env["WEB_PORT"]), args=tuple(command[4:]),
                                        healthy=f'"role": "{role}"', name=name))
        deployed = Deployment(base_url, f"http://127.0.0.1:{http}", processes, env, zalo, prefix)
        try:
            await asyncio.gather(*(process.start(timeout=60) for process in processes), add_staff(env))
            with nginx(nginx_binary, prefix, site):
                await wait_healthy(f"{base_url}/healthz", "nginx", deployed.output)
                yield deployed
        finally:
            for process in processes:
                process.kill_now()


async def add_staff(env: dict[str, str]) -> None:
    """`python -m bot staff add lan --role admin --password-stdin`, as docs/deploy.md has it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "staff", "add", "lan", "--role", "admin", "--password-stdin", cwd=ROOT, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(f"{PASSWORD}\n".encode()), 60)
    assert process.returncode == 0, (out, err)


async def test_the_documented_deployment_behind_nginx_over_https(deployment: Deployment, browser) -> None:  # type: ignore[no-untyped-def]
    base = deployment.base_url
    context = await browser.new_context(ignore_https_errors=True, locale="vi-VN", viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    try:
        # The web chat: onboarding, then a question, each post checked against the page's https origin.
        chat = await context.new_page()
        await chat.goto(f"{base}/chat")
        await bot_says(chat, "đồng ý")
        await press(chat, "Đồng ý")
        await bot_says(chat, "ngôn ngữ nào")
        await press(chat, "Tiếng Việt")
        await bot_says(chat, "xã/phường nào")
        await type_and_send(chat, "ea kao")
        await bot_says(chat, "thuộc diện nào")
        await press(chat, "Hộ cận nghèo")
        await bot_says(chat, "đã cài đặt xong")
        await type_and_send(chat, "Chuẩn nghèo hiện nay là bao nhiêu?")
        await bot_says(chat, "đồng")

        # The dashboard, signed in over https.
        admin = await context.new_page()
        await admin.goto(f"{base}/admin/login")
        await admin.fill("input[name=username]", "lan")
        await admin.fill("input[name=password]", PASSWORD)
        await admin.click("button.primary")
        await admin.wait_for_url(f"{base}/admin")
        assert await admin.locator("nav").count() > 0
        cookies = {cookie["name"]: cookie for cookie in await context.cookies()}
        assert cookies["caunoi_chat"]["secure"] and cookies["caunoi_staff"]["secure"], cookies
    finally:
        await context.close()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
        # A Zalo OA event, signed as Zalo signs it, through nginx: answered by a web process.
        zalo = deployment.zalo
        event = zalo.text_event("zalo-citizen-1", "xin chào")
        raw = json.dumps(event, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "X-ZEvent-Signature": zalo.sign(raw, str(event["timestamp"]))}
        async with http.post(f"{base}/webhook/zalo-oa", data=raw, headers=headers) as response:
            assert response.status == 200, f"{response.status} {await response.text()}\n{deployment.output()}"
        [reply, *_] = await zalo.wait_for_messages("zalo-citizen-1", 1, timeout=15)
        assert "chào bà con" in (reply.text or ""), reply

        # Photos larger than the dashboard's 12 MB in all reach the web chat; /metrics stays inside.
        photos = aiohttp.FormData()
        for number in (1, 2):
            photos.add_field("photo", png(8, 8) + bytes(7_000_000), filename=f"{number}.png", content_type="image/png")
        upload = {"X-Requested-With": "fetch", "Origin": base}
        async with http.post(f"{base}/chat/api/messages", data=photos, headers=upload) as response:
            assert response.status == 200, f"{response.status} {await response.text()}"
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 404
        async with http.get(f"{deployment.http_url}/chat", allow_redirects=False) as response:
            assert response.status == 301 and response.headers["Location"].startswith("https://")
    for process in deployment.processes:
        assert process.running, deployment.output()


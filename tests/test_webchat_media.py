"""The web chat's photos, voice messages and location, through the real aiohttp app: kept with the
report like on the other channels, refused with a clear answer when too large or of another type,
and only from the chat page itself."""

from __future__ import annotations

import struct
import zlib

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlmodel import select

from bot.app import create_app
from storage.models import Conversation, Ticket, TicketAttachment
from tests.drivers import WebChatDriver, joined

UPLOAD = {"X-Requested-With": "fetch", "Accept-Language": "vi"}
# The start of what Chromium's MediaRecorder writes: an EBML header whose DocType is "webm".
WEBM = b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm" + b"\x00" * 400


def png(width: int = 8, height: int = 8, colour: tuple[int, int, int] = (29, 107, 87)) -> bytes:
    """A small, valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(colour) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def files(kind: str, *contents: bytes, content_type: str = "application/octet-stream") -> FormData:
    """A multipart body as the chat page sends it: one field per file, named by its kind."""
    form = FormData()
    for number, data in enumerate(contents):
        form.add_field(kind, data, filename=f"{kind}-{number}", content_type=content_type)
    return form


async def upload(client: TestClient, form: FormData, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """Post files to the chat endpoint; the status and the JSON answer."""
    response = await client.post("/chat/api/messages", data=form, headers=headers or UPLOAD)
    return response.status, await response.json()


def texts(answer: dict) -> str:
    return "\n".join(reply["text"] for reply in answer.get("replies", []))


async def start_report(client: TestClient) -> WebChatDriver:
    """A visitor of the page who has started a report of a problem, on the step that asks for it."""
    await (await client.get("/chat")).release()
    citizen = WebChatDriver(client)
    await citizen.send("/phananh")
    await citizen.act("fb:kind:problem")
    await citizen.act("fb:topic:other")
    assert "tin nhắn thoại" in joined(citizen.last)
    return citizen


def kept_files(settings) -> list:  # type: ignore[no-untyped-def]
    """Every file under DATA_DIR/media (also any left waiting by an upload)."""
    return sorted(path for path in (settings.data_dir / "media").rglob("*") if path.is_file())


async def test_a_voice_message_a_photo_and_a_location_reach_the_ticket(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    citizen = await start_report(client)
    status, answer = await upload(client, files("voice", WEBM))
    assert status == 200 and "ảnh" in texts(answer), answer
    status, answer = await upload(client, files("photo", png(), png(colour=(200, 30, 30))))
    assert status == 200 and "2 ảnh" in texts(answer), answer
    citizen.last = []
    await citizen._post({"location": {"latitude": 12.6675, "longitude": 108.0383}})
    await citizen.act("fb:photos:done")
    await citizen.send("ea kao")
    await citizen.press("Gửi ẩn danh")
    summary = joined(citizen.last)
    assert "Ảnh: 2" in summary and "12.66750, 108.03830" in summary, summary
    await citizen.press("Gửi")
    assert "PA-" in joined(citizen.last)

    async with sessions() as session:
        ticket = (await session.exec(select(Ticket))).one()
        attached = (await session.exec(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id))).all()
    assert (ticket.latitude, ticket.longitude, ticket.area_code) == (12.6675, 108.0383, "24169")
    assert sorted((a.kind, a.mime_type) for a in attached) == [("photo", "image/png"), ("photo", "image/png"), ("voice", "audio/webm")]
    for attachment in attached:
        stored = settings.data_dir / attachment.path
        assert attachment.path.startswith("media/") and stored.stat().st_size == attachment.size
    assert (settings.data_dir / next(a.path for a in attached if a.kind == "voice")).read_bytes() == WEBM
    assert len(kept_files(settings)) == 3, "nothing left waiting"


async def test_too_large_and_wrong_files_get_a_clear_answer_and_the_report_goes_on(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"media_max_bytes": 2000})))
    citizen = await start_report(client)
    await citizen.send("Cống ở đầu thôn 3 bị vỡ, nước tràn ra đường.")

    status, answer = await upload(client, files("photo", png() + b"\x00" * 5000))
    assert status == 200 and "lớn quá" in texts(answer), answer
    status, answer = await upload(client, files("photo", b"GIF89a" + b"\x00" * 100, content_type="image/gif"))
    assert status == 200 and "chỉ nhận ảnh (JPEG, PNG)" in texts(answer) and "chưa được lưu" in texts(answer), answer
    status, answer = await upload(client, files("voice", b"RIFF\x00\x00\x00\x00AVI " + b"\x00" * 100))
    assert status == 200 and "chưa được lưu" in texts(answer), answer
    assert kept_files(settings) == [], "nothing refused is stored, nothing is left waiting"

    status, answer = await upload(client, files("photo", png() + b"\x00" * 200_000))
    assert status == 413, answer
    assert answer["error"] == "Dạ, tệp này lớn quá nên chưa gửi được: mỗi ảnh hoặc tin nhắn thoại chỉ tối đa 0,002 MB."
    status, answer = await upload(client, files("photo", *[png()] * 6))
    assert status == 413 and "tối đa 5 ảnh" in answer["error"], answer
    assert kept_files(settings) == []

    status, answer = await upload(client, files("photo", png()))
    assert status == 200 and "1 ảnh" in texts(answer), answer
    async with sessions() as session:
        conversation = (await session.exec(select(Conversation))).one()
    draft = conversation.data["draft"]
    assert draft["body"] == "Cống ở đầu thôn 3 bị vỡ, nước tràn ra đường." and len(draft["photos"]) == 1, "the report lost nothing"


async def test_uploads_and_locations_only_from_the_chat_page(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    await start_report(client)
    refused = [
        ({"Accept-Language": "vi"}, 403),  # a plain form post: no custom header
        ({**UPLOAD, "Origin": "https://evil.example"}, 403),
        ({**UPLOAD, "Sec-Fetch-Site": "cross-site"}, 403),
    ]
    for headers, expected in refused:
        status, answer = await upload(client, files("photo", png()), headers)
        assert status == expected and answer["error"], headers
    status, answer = await upload(client, files("document", png()))
    assert status == 400 and answer["error"]
    response = await client.post("/chat/api/messages", data=b"--x\r\nbroken", headers={
        **UPLOAD, "Content-Type": "multipart/form-data; boundary=x"})
    assert response.status == 400 and (await response.json())["error"]
    for location in ({"latitude": 200, "longitude": 108}, {"latitude": "12", "longitude": 108}, [12, 108],
                     {"latitude": True, "longitude": 108}, {"latitude": float("nan"), "longitude": 1}):
        response = await client.post("/chat/api/messages", data=_json({"location": location}),
                                      headers={"Content-Type": "application/json"})
        assert response.status == 400, location
    assert kept_files(settings) == []


def _json(value: object) -> bytes:
    import json

    return json.dumps(value, allow_nan=True).encode()

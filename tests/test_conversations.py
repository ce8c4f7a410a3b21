"""Onboarding, menu, cancel and stale buttons, run end to end on Telegram and on the web chat."""

from __future__ import annotations

from sqlmodel import select

from storage.db import SessionFactory
from storage.models import Citizen, Conversation
from tests.drivers import Driver, TelegramDriver, joined


async def only_citizen(sessions: SessionFactory) -> Citizen:
    """The one citizen the test created."""
    async with sessions() as session:
        citizens = (await session.exec(select(Citizen))).all()
    assert len(citizens) == 1, citizens
    return citizens[0]


async def agree_in_vietnamese(driver: Driver, start: str = "/start") -> None:
    """Send `start`, agree to the terms and choose Vietnamese (the bot then asks for the commune)."""
    await driver.send(start)
    await driver.press("Đồng ý")
    await driver.press("Tiếng Việt")


async def test_onboarding_consent_language_commune_status_menu(driver, sessions) -> None:
    shown = await driver.send("/start")
    assert "Xin chào bà con" in joined(shown)
    assert "Bà con có đồng ý không" in shown[-1].text
    await driver.press("Đồng ý")
    assert "ngôn ngữ nào" in driver.last[-1].text
    await driver.press("Tiếng Việt")
    assert "xã/phường nào" in driver.last[-1].text
    await driver.send("ea kao")
    assert "đã lưu: phường Ea Kao" in joined(driver.last)
    assert "thuộc diện nào" in driver.last[-1].text
    await driver.press("Hộ cận nghèo")
    assert "đã cài đặt xong" in driver.last[-1].text
    assert any("Hỏi đáp chính sách" in label for label, _ in driver.last[-1].buttons)

    citizen = await only_citizen(sessions)
    assert citizen.consent_at is not None
    assert (citizen.locale, citizen.area_code, citizen.household_status) == ("vi", "24169", "near_poor")
    assert citizen.subscribed is True


async def test_refusing_consent_stores_nothing_personal_and_questions_still_work(driver, sessions) -> None:
    await driver.send("/start")
    await driver.press("chỉ hỏi đáp")
    assert "không lưu tên" in joined(driver.last)
    await driver.press("English")
    assert "you are all set" in driver.last[-1].text
    assert ("❓ Policy Q&A", "menu:faq") in driver.last[-1].buttons
    await driver.send("What is the current poverty line?")
    assert "Source: Nghị định 07/2021/NĐ-CP" in driver.last[-1].text

    citizen = await only_citizen(sessions)
    assert citizen.consent_at is None and citizen.display_name is None and citizen.area_code is None
    assert citizen.subscribed is False and citizen.locale == "en"


async def test_question_before_any_onboarding_is_answered(driver) -> None:
    shown = await driver.send("chuan ngheo hien nay la bao nhieu")
    assert "1.500.000" in shown[-1].text and "Nguồn: Nghị định 07/2021/NĐ-CP (27/01/2021)" in shown[-1].text


async def test_deep_link_preselects_the_commune(driver, sessions) -> None:
    await agree_in_vietnamese(driver, "/start area_24175")
    assert "Bà con ở xã Hòa Phú phải không" in driver.last[-1].text
    await driver.press("Đúng, xã Hòa Phú")
    assert "đã lưu: xã Hòa Phú" in joined(driver.last)
    await driver.press("Không muốn trả lời")
    citizen = await only_citizen(sessions)
    assert (citizen.area_code, citizen.household_status) == ("24175", "unknown")


async def test_deep_link_to_an_unknown_code_is_ignored(driver) -> None:
    await agree_in_vietnamese(driver, "/start area_99999")
    assert "xã/phường nào" in driver.last[-1].text


async def test_choosing_the_commune_through_former_districts(driver, sessions) -> None:
    await driver.send("/start")  # then page on and back through the communes, to a former district
    for label in ("Đồng ý", "Bỏ qua", "Xem thêm", "Xem thêm", "Quay lại", "Krông Pắc"):
        await driver.press(label)
    assert "Huyện Krông Pắc cũ" in driver.last[-1].text
    await driver.press("xã Krông Pắc")
    await driver.press("Hộ nghèo")
    citizen = await only_citizen(sessions)
    assert citizen.area_code is not None
    assert (await _area_name(sessions, citizen.area_code)) == "Krông Pắc"


async def _area_name(sessions: SessionFactory, code: str) -> str:
    from storage.models import Area

    async with sessions() as session:
        area = await session.get(Area, code)
    assert area is not None
    return area.name


async def test_typed_commune_with_a_typo_offers_choices(driver) -> None:
    await agree_in_vietnamese(driver)
    await driver.send("krong pak")
    assert "Có phải bà con ở" in driver.last[-1].text
    await driver.press("xã Krông Pắc")
    assert "đã lưu: xã Krông Pắc" in joined(driver.last)


async def test_unknown_commune_name_asks_again(driver) -> None:
    await agree_in_vietnamese(driver)
    await driver.send("Hà Nội xyz")
    assert "chưa tìm thấy xã/phường “Hà Nội xyz”" in joined(driver.last)
    assert "xã/phường nào" in driver.last[-1].text


async def test_cancel_mid_flow_then_old_button_has_expired(driver, sessions) -> None:
    await agree_in_vietnamese(driver)
    before = driver.last
    await driver.send("/huy")
    assert "đã dừng" in driver.last[-1].text
    driver.last = before
    await driver.press("Bỏ qua")
    assert "menu này đã hết hạn" in driver.last[-1].text
    async with sessions() as session:
        conversation = (await session.exec(select(Conversation))).one()
    assert conversation.state == "idle"


async def test_unknown_button_data_gets_expired_menu(driver) -> None:
    await driver.send("/menu")
    for data in ("consent:yes", "nonsense", "area:24169", "apage:x", "lang:fr", "x" * 300):
        shown = await driver.act(data)
        assert "menu này đã hết hạn" in shown[-1].text, data
        assert shown[-1].buttons


async def test_unknown_command_is_explained(driver) -> None:
    shown = await driver.send("/abcxyz")
    assert "không hiểu lệnh /abcxyz" in shown[-1].text


async def test_numbers_and_labels_typed_work_as_buttons(driver) -> None:
    await driver.send("/start")
    await driver.send("1")
    assert "ngôn ngữ nào" in driver.last[-1].text
    await driver.send("english")
    assert "Which commune" in driver.last[-1].text


async def test_settings_change_commune_and_language(driver, sessions) -> None:
    await agree_in_vietnamese(driver)
    await driver.send("ea kao")
    await driver.press("Hộ nghèo")
    await driver.send("/caidat")
    assert "Xã/phường: phường Ea Kao" in driver.last[-1].text
    await driver.press("Đổi xã/phường")
    await driver.send("Tân An")
    assert "Xã/phường: phường Tân An" in driver.last[-1].text
    await driver.press("Đổi ngôn ngữ")
    await driver.press("English")
    assert "Commune: phường Tân An" in driver.last[-1].text
    citizen = await only_citizen(sessions)
    assert (citizen.area_code, citizen.locale) == ("24163", "en")


async def test_subscribe_and_unsubscribe(driver, sessions) -> None:
    await driver.send("/dangky")
    assert "Bà con có đồng ý không" in driver.last[-1].text
    await driver.press("Đồng ý")
    await driver.send("Hòa Phú")
    assert "nhận thông báo của xã Hòa Phú" in driver.last[-1].text
    assert (await only_citizen(sessions)).subscribed is True
    await driver.send("/huydangky")
    assert "không nhận thông báo nữa" in driver.last[-1].text
    assert (await only_citizen(sessions)).subscribed is False
    await driver.press("Bật nhận thông báo")
    assert (await only_citizen(sessions)).subscribed is True


async def test_delete_my_data(driver, sessions) -> None:
    await agree_in_vietnamese(driver)
    await driver.send("ea kao")
    await driver.press("Hộ nghèo")
    await driver.send("/xoadulieu")
    await driver.press("Không xoá")
    assert (await only_citizen(sessions)).area_code == "24169"
    await driver.send("/xoadulieu")
    await driver.press("Đồng ý xoá")
    text = driver.last[-1].text
    for item in ("xã/phường", "tình trạng hộ", "ngôn ngữ", "đăng ký nhận thông báo", "thông tin đồng ý"):
        assert item in text
    if isinstance(driver, TelegramDriver):
        assert "tên hiển thị" in text
    async with sessions() as session:
        assert (await session.exec(select(Citizen))).all() == []
        assert (await session.exec(select(Conversation))).all() == []


async def test_help_lists_vietnamese_commands(driver) -> None:
    shown = await driver.send("/trogiup")
    assert "/xoadulieu" in shown[0].text and "/caidat" in shown[0].text

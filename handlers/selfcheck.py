"""The household self-check ("🧮 Tự kiểm tra hộ nghèo", /tukiemtra): where the household lives, how
many people, its income in the person's own terms, then the indicator questions staff confirmed;
the result says which line applies and what it means, with sources, and offers to ask the commune
for a review. The flow is drawn in `selfcheck.mmd`.

Privacy: answers live only in the conversation state while the flow runs; a finished self-check
is counted by day, commune and outcome with no identity. Only a request the person agrees to send
keeps the answers, with the ticket.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from functools import cache

from pydantic import ValidationError

from content.i18n import N_
from content.income import Income, Period, parse_income, parse_people, per_person_month
from content.selfcheck import (
    REVIEW_SOURCE,
    Outcome,
    Question,
    SelfCheck,
    Verdict,
    Zone,
    assess,
    in_review_season,
    load_selfcheck,
    question_from,
    zone_of,
)
from content.text import normalize
from handlers.actions import (
    Menu,
    SelfCheckAnswer,
    SelfCheckArea,
    SelfCheckBasis,
    SelfCheckCancel,
    SelfCheckDone,
    SelfCheckRequest,
    SelfCheckSend,
    SelfCheckStart,
    SelfCheckZone,
)
from handlers.menu import main_menu
from handlers.profile import area_label
from handlers.router import Action, Routes
from handlers.states import State, flow_states
from handlers.turn import NotThisStep, StaleAction, Turn
from handlers.types import Button, Reply
from handlers.words import CANCEL, NO, SEND, YES
from storage import address_limits
from storage import selfcheck as selfcheck_repo
from storage import tickets as ticket_repo
from storage.core import id_of
from storage.models import TicketKind
from storage.ticket_rules import add_working_days

MENU_LABEL = N_("🧮 Household self-check")
OFFER_LABEL = N_("🧮 Check my household")
REQUEST_LABEL = N_("📨 Ask the commune to review my household")
REVIEW_TOPIC = "review"
MAX_BODY = 4000
RURAL_KEYS = frozenset({"nong thon", "o que", "que", "xa", "o xa", "vung que", "rural", "countryside", "village"})
URBAN_KEYS = frozenset(
    {"thanh thi", "thanh pho", "pho", "phuong", "o phuong", "thi tran", "o pho", "urban", "city", "town"}
)
ANSWER_YES = YES - {"da", "dung", "duoc", "chac chan"} | frozenset(
    {"co nguoi", "co ai", "co chau", "co con", "phai", "dung roi"}
)
ANSWER_NO = NO - {"chua", "khong can", "thoi", "khong muon"} | frozenset(
    {"khong co", "khong ai", "khong phai", "da co", "co het", "du het", "co du", "chua co ai", "khong co ai", "deu co"}
)
ANSWER_UNKNOWN = frozenset(
    {"khong biet", "chua biet", "khong ro", "khong chac", "bo qua", "skip", "dont know", "not sure"}
)
BASIS_KEYS = {
    "month": frozenset(
        {
            "ca nha mot thang",
            "mot thang",
            "thang",
            "hang thang",
            "moi thang",
            "month",
            "monthly",
            "whole household a month",
        }
    ),
    "year": frozenset(
        {
            "ca nha mot nam",
            "mot nam",
            "nam",
            "ca nam",
            "hang nam",
            "moi nam",
            "year",
            "yearly",
            "whole household a year",
        }
    ),
    "person": frozenset(
        {"moi nguoi", "tung nguoi", "binh quan", "dau nguoi", "per person", "each person", "each person a month"}
    ),
}
POVERTY_WORDS = ("ngheo", "can ngheo", "chuan ngheo", "xet", "poor", "poverty")
INCOME_WORDS = ("thu nhap", "kiem duoc", "kiem", "lam ra", "luong", "thu", "income", "earn", "earns")
NOT_INCOME_WORDS = (
    "vay",
    "lai",
    "lai suat",
    "ho tro",
    "tro cap",
    "tien dien",
    "xay nha",
    "sua nha",
    "hoc phi",
    "bhyt",
    "bao hiem",
    "loan",
    "interest",
    "support",
    "allowance",
)
FLOW_STATES = flow_states("selfcheck")


@cache
def _selfcheck() -> SelfCheck:
    """The standards of content/selfcheck.yaml (read once; the questions come from the database)."""
    return load_selfcheck()


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(turn._("✖ Cancel"), SelfCheckCancel().pack(), CANCEL),)


def offer_button(turn: Turn) -> Button:
    """The button under answers about the line and income questions."""
    return Button(turn._(OFFER_LABEL), SelfCheckStart().pack())


def is_income_question(text: str) -> bool:
    """Whether a message asks whether an income makes a household poor ("1tr2 một tháng có được xét
    hộ nghèo không?"), not about a loan, a benefit or a house that names an amount."""
    key = f" {normalize(text)} "
    income = parse_income(text)
    if income is None or not any(f" {word} " in key for word in POVERTY_WORDS):
        return False
    if any(f" {word} " in key for word in NOT_INCOME_WORDS):
        return False
    return (
        income.period is not None or income.per_person is not None or any(f" {word} " in key for word in INCOME_WORDS)
    )


async def start(turn: Turn) -> list[Reply]:
    """/tukiemtra, /selfcheck, the menu or an offer: begin with where the household lives."""
    turn.goto(State.selfcheck_area, sc={})
    intro = turn._(
        "🧮 Let us estimate together whether your household is under the poverty line. It takes about a minute; "
        "nothing you answer is kept with your name unless you ask the commune for a review."
    )
    return [Reply(intro), *_next(turn, {})]


async def from_question(turn: Turn) -> list[Reply]:
    """An income question typed outside any flow: the self-check, with what the message already says."""
    sc: dict = {}
    income = parse_income(turn.text)
    key = f" {normalize(turn.text)} "
    for zone, keys in ((Zone.rural, RURAL_KEYS - {"xa", "pho", "que"}), (Zone.urban, URBAN_KEYS - {"pho", "phuong"})):
        if any(f" {word} " in key for word in keys):
            sc["zone"] = zone.value
    named = turn.services.areas.named_in(turn.text)
    named_zone = zone_of(named.kind) if named is not None else None
    if named is not None and named_zone is not None:  # "ở xã Hòa Phú": the commune decides, and receives a request
        sc.update(area=named.code, zone=named_zone.value)
    people = parse_people(turn.text, strict=True)
    if people:
        sc["people"] = people
    if income is not None:
        sc = with_income(sc, income)
    turn.goto(State.selfcheck_area, sc=sc)
    return [Reply(turn._("🧮 Let me work it out with you.")), *await _advance(turn, sc)]


def _sc(turn: Turn) -> dict:
    sc = turn.data.get("sc")
    if not isinstance(sc, dict):
        raise StaleAction
    return dict(sc)


def _next(turn: Turn, sc: dict) -> list[Reply]:
    """Ask what is still missing, or give the result."""
    if "zone" not in sc:
        area = turn.citizen.area_code
        record = turn.services.areas.get(area) if area else None
        zone = zone_of(record.kind) if record is not None else None
        if zone is not None:
            sc.update(area=area, zone=zone.value)
        else:
            turn.goto(State.selfcheck_area, sc=sc)
            return [_ask_area(turn)]
    if "people" not in sc and sc.get("basis") != "person":
        turn.goto(State.selfcheck_people, sc=sc)
        # no buttons here: a number typed must be the count, never the number of a choice
        return [Reply(turn._("How many people live and eat together in your household? Type a number, for example: 5"))]
    if "dong" not in sc or "basis" not in sc:
        if "basis" not in sc:
            turn.goto(State.selfcheck_basis, sc=sc)
            return [_ask_basis(turn, sc)]
        turn.goto(State.selfcheck_income, sc=sc)
        return [_ask_income(turn, sc)]
    return []


def _ask_area(turn: Turn) -> Reply:
    return Reply(
        turn._(
            "Where does your household live? Type the name of your commune or ward (for example: Ea Kao), or choose:"
        ),
        buttons=(
            (Button(turn._("🌾 Countryside (a xã)"), SelfCheckZone(Zone.rural).pack(), RURAL_KEYS),),
            (Button(turn._("🏙 Town (a phường)"), SelfCheckZone(Zone.urban).pack(), URBAN_KEYS),),
            _cancel_row(turn),
        ),
    )


def _ask_basis(turn: Turn, sc: dict) -> Reply:
    amount = sc.get("dong")
    text = (
        turn._(
            "Is {amount} the income of the whole household for a month, for a year, or of each person for a month?",
            amount=turn.translator.format_money(amount),
        )
        if amount
        else turn._("How would you like to give your income? Or simply type it (for example: “15 triệu một năm”).")
    )
    return Reply(
        text,
        buttons=(
            (Button(turn._("Whole household, a month"), SelfCheckBasis("month").pack(), BASIS_KEYS["month"]),),
            (
                Button(
                    turn._("Whole household, a year (harvest, wages…)"),
                    SelfCheckBasis("year").pack(),
                    BASIS_KEYS["year"],
                ),
            ),
            (Button(turn._("Each person, a month"), SelfCheckBasis("person").pack(), BASIS_KEYS["person"]),),
            _cancel_row(turn),
        ),
    )


def _ask_income(turn: Turn, sc: dict) -> Reply:
    texts = {
        "month": turn._(
            "How much does the whole household earn in a month, all together? Type it as you like, "
            "for example: 3 triệu, 3tr5, 3.500.000"
        ),
        "year": turn._(
            "How much does the whole household earn in a year: the harvest sold (rice, coffee…), wages, "
            "and other money, all together? For example: 40 triệu, 40tr"
        ),
        "person": turn._("How much does each person earn in a month, on average? For example: 1tr2, 1.200.000"),
    }
    return Reply(texts.get(sc.get("basis", "month"), texts["month"]))  # no buttons: "3" is an amount


async def on_zone(turn: Turn) -> list[Reply]:
    """sc:zone:rural|urban — the household chose countryside or town."""
    sc = {**_sc(turn), "zone": turn.pressed_as(SelfCheckZone).zone.value}
    sc.pop("area", None)
    return await _advance(turn, sc)


async def on_area(turn: Turn) -> list[Reply]:
    """sc:area:CODE — a commune chosen from "did you mean"."""
    record = turn.services.areas.get(turn.pressed_as(SelfCheckArea).code)
    zone = zone_of(record.kind) if record is not None and record.level == "commune" else None
    if record is None or zone is None:
        raise StaleAction
    sc = _sc(turn)
    if turn.state is State.selfcheck_request_area:
        return _confirm(turn, {**sc, "area": record.code})
    return await _advance(turn, {**sc, "area": record.code, "zone": zone.value})


async def on_area_text(turn: Turn) -> list[Reply]:
    """A commune typed where the household lives (or, for a request, which commune to send it to)."""
    matches = turn.services.areas.match_commune(turn.text, limit=5)
    if not matches and turn.state is State.selfcheck_request_area:  # a name is all this step asks for
        return [
            Reply(
                turn._("I could not find a commune called “{name}”. Please type the name again.", name=turn.text[:60]),
                buttons=(_cancel_row(turn),),
            )
        ]
    if not matches:
        raise NotThisStep  # the countryside / town choice, or something else altogether
    sc = _sc(turn)
    if len(matches) == 1 and matches[0].score >= 100:
        record = matches[0].area
        if turn.state is State.selfcheck_request_area:
            return _confirm(turn, {**sc, "area": record.code})
        zone = zone_of(record.kind)
        return await _advance(turn, {**sc, "area": record.code, **({"zone": zone.value} if zone else {})})
    return [
        Reply(
            turn._("Did you mean one of these?"),
            buttons=(
                *(
                    (
                        Button(
                            match.area.label,
                            SelfCheckArea(match.area.code).pack(),
                            YES if len(matches) == 1 else frozenset(),
                        ),
                    )
                    for match in matches
                ),
                _cancel_row(turn),
            ),
        )
    ]


async def on_people(turn: Turn) -> list[Reply]:
    """The number of people, typed."""
    people = parse_people(turn.text)
    if people is None:
        income = parse_income(turn.text)
        if income is not None and (income.per_person or not turn.text.strip().isdigit()):  # the income, typed early
            return await _advance(turn, with_income(_sc(turn), income))
        return [Reply(turn._("Please type just the number of people, for example: 5"))]
    return await _advance(turn, {**_sc(turn), "people": people})


async def on_basis(turn: Turn) -> list[Reply]:
    """sc:basis:month|year|person."""
    basis = turn.pressed_as(SelfCheckBasis).basis
    sc = {**_sc(turn), "basis": basis, "period": Period.year.value if basis == "year" else Period.month.value}
    return await _advance(turn, sc)


async def on_income_text(turn: Turn) -> list[Reply]:
    """An amount typed at the basis or the income step; what it says of period and person wins."""
    income = parse_income(turn.text)
    if income is None:
        if turn.state is State.selfcheck_basis:
            raise NotThisStep
        return [
            Reply(
                turn._(
                    "Sorry, I did not understand the amount. Please type it like this: 1tr2, 15 triệu một năm, "
                    "2.000.000"
                )
            )
        ]
    return await _advance(turn, with_income(_sc(turn), income))


def with_income(sc: dict, income: Income) -> dict:
    """The answers with a typed amount: what the text says of person and period wins over the
    choice made; an amount that says neither keeps the choice (or leaves it to be asked)."""
    sc = {**sc, "dong": income.dong}
    if income.per_person:
        sc.update(basis="person", period=(income.period or Period.month).value)
    elif income.period is Period.year:
        sc.update(basis="year", period=Period.year.value)
    elif income.period is Period.month and (income.per_person is False or sc.get("basis") in ("month", "year")):
        sc.update(basis="month", period=Period.month.value)
    elif income.per_person is False and sc.get("basis") == "person":
        sc.pop("basis")
    return sc


async def _advance(turn: Turn, sc: dict) -> list[Reply]:
    """Go on to what is missing, then the indicator questions, then the result."""
    asked = _next(turn, sc)
    if asked:
        return asked
    questions = await _asked_questions(turn)
    answers = sc.setdefault("answers", {})
    pending = [question for question in questions if question.id not in answers]
    if _under_any_line(turn, sc) and pending:
        turn.goto(State.selfcheck_indicator, sc=sc)
        return [_ask_question(turn, pending[0], len(answers) + 1, len(questions))]
    return await _result(turn, sc, questions)


async def _asked_questions(turn: Turn) -> list[Question]:
    """The indicator questions staff confirmed, in force today (those under review are not asked)."""
    asked = []
    for row in await selfcheck_repo.questions(turn.session):
        try:
            question = question_from(row.data)
        except ValidationError:
            continue
        if question.asked_on(turn.today):
            asked.append(question)
    return asked


def _income(sc: dict) -> Fraction:
    period = Period(sc.get("period", Period.month.value))
    return per_person_month(
        int(sc["dong"]), period=period, per_person=sc.get("basis") == "person", people=int(sc.get("people") or 1)
    )


def _under_any_line(turn: Turn, sc: dict) -> bool:
    zone = Zone(sc["zone"])
    return any(_income(sc) <= standard.line(zone) for standard in _selfcheck().standards_on(turn.today))


def _ask_question(turn: Turn, question: Question, number: int, total: int) -> Reply:
    return Reply(
        turn._(
            "Question {number}/{total}: {question}",
            number=number,
            total=total,
            question=question.text(turn.locale).question,
        ),
        buttons=(
            (
                Button(turn._("Yes"), SelfCheckAnswer(question.id, "yes").pack(), ANSWER_YES),
                Button(turn._("No"), SelfCheckAnswer(question.id, "no").pack(), ANSWER_NO),
            ),
            (Button(turn._("I do not know"), SelfCheckAnswer(question.id, "skip").pack(), ANSWER_UNKNOWN),),
            _cancel_row(turn),
        ),
    )


async def on_answer(turn: Turn) -> list[Reply]:
    """sc:ans:QUESTION:yes|no|skip."""
    pressed = turn.pressed_as(SelfCheckAnswer)
    sc = _sc(turn)
    sc.setdefault("answers", {})[pressed.question] = pressed.answer
    return await _advance(turn, sc)


def _deficits(questions: list[Question], answers: dict) -> tuple[str, ...]:
    """The questions whose answer means the household lacks the indicator."""
    return tuple(
        question.id
        for question in questions
        if answers.get(question.id) in ("yes", "no") and (answers[question.id] == "yes") == question.deficit_if
    )


async def _result(turn: Turn, sc: dict, questions: list[Question]) -> list[Reply]:
    """The result, counted without identity, with the offer to ask the commune for a review."""
    zone, income = Zone(sc["zone"]), _income(sc)
    standards = _selfcheck().standards_on(turn.today)
    deficits = _deficits(questions, sc.get("answers", {})) if questions else None
    verdicts = [
        assess(standard, zone, income, deficits if standard.applies_on(turn.today) else None) for standard in standards
    ]
    current = next((verdict for verdict in verdicts if verdict.standard.applies_on(turn.today)), verdicts[0])
    await selfcheck_repo.count(turn.session, turn.today, sc.get("area"), current.outcome.value)
    sc.update(
        outcome=current.outcome.value, standard=current.standard.id, income=int(income), deficits=list(deficits or ())
    )
    turn.goto(State.selfcheck_result, sc=sc)
    names = {question.id: question.text(turn.locale).indicator for question in questions}
    unknown = sum(1 for answer in sc.get("answers", {}).values() if answer == "skip")
    text = "\n\n".join(
        [
            _summary(turn, sc, income),
            *(_verdict_text(turn, verdict, names, bool(questions)) for verdict in verdicts),
            *(
                [turn._("{count} question(s) answered “I do not know” were not counted.", count=unknown)]
                if unknown
                else []
            ),
            turn._(
                "Only the commune's review decides: there the household's income is estimated from the review "
                "questionnaire, "
                "not from what the household says. If you think your household was missed, you can ask the commune "
                "to review it."
            ),
        ]
    )
    return [
        Reply(
            text,
            buttons=(
                (
                    Button(
                        turn._(REQUEST_LABEL),
                        SelfCheckRequest().pack(),
                        frozenset({"de nghi", "de nghi ra soat", "gui de nghi", "ra soat", "co", "gui"}),
                    ),
                ),
                (
                    Button(
                        turn._("🔁 Check again"),
                        SelfCheckStart().pack(),
                        frozenset({"lai", "lam lai", "kiem tra lai", "again"}),
                    ),
                ),
                (
                    Button(
                        turn._("No, thank you"),
                        SelfCheckDone().pack(),
                        frozenset({"khong", "khong can", "thoi", "cam on", "no"}),
                    ),
                ),
            ),
        )
    ]


def _zone_name(turn: Turn, zone: Zone) -> str:
    return turn._("countryside (xã)") if zone is Zone.rural else turn._("town (phường)")


def _summary(turn: Turn, sc: dict, income: Fraction) -> str:
    zone = Zone(sc["zone"])
    where = area_label(turn, sc["area"]) + f" – {_zone_name(turn, zone)}" if sc.get("area") else _zone_name(turn, zone)
    lines = [turn._("🧮 Self-check result (an estimate)"), turn._("Where: {where}", where=where)]
    if sc.get("people"):
        lines.append(turn._("People in the household: {count}", count=sc["people"]))
    lines.append(
        turn._("Income per person per month: about {amount}", amount=turn.translator.format_money(int(income)))
    )
    return "\n".join(lines)


def _verdict_text(turn: Turn, verdict: Verdict, names: dict[str, str], asked: bool) -> str:
    standard, line = verdict.standard, turn.translator.format_money(verdict.line)
    zone = _zone_name(turn, verdict.zone)
    if standard.applies_on(turn.today):
        head = (
            turn._(
                "• The poverty line in force now (until {until}): {line} per person per month in the {zone}.",
                until=turn.translator.format_day(standard.valid_until),
                line=line,
                zone=zone,
            )
            if standard.valid_until
            else turn._(
                "• The poverty line in force now: {line} per person per month in the {zone}.", line=line, zone=zone
            )
        )
    else:
        head = turn._(
            "• From {start} a new poverty line applies: {line} per person per month in the {zone}.",
            start=turn.translator.format_day(standard.valid_from),
            line=line,
            zone=zone,
        )
    return "\n".join(
        [head, "  " + _meaning(turn, verdict, names, asked), "  " + turn._("Source: {source}", source=standard.cite())]
    )


def _meaning(turn: Turn, verdict: Verdict, names: dict[str, str], asked: bool) -> str:
    outcome = verdict.outcome
    if outcome is Outcome.above:
        return turn._("Your income is above this line: by income, your household is not poor or near-poor.")
    if outcome is Outcome.average:
        band = verdict.standard.average_band(verdict.zone) or 0
        return turn._(
            "Your income is above this line but not above {band}: your household may be an average-living-standard "
            "household, which is not poor or near-poor.",
            band=turn.translator.format_money(band),
        )
    rule = verdict.standard.poor_if_deficits_at_least
    if outcome is Outcome.under_line:
        text = turn._(
            "Your income is at or below this line: your household may be poor or near-poor, depending on the "
            "indicators "
            "of access to basic social services (employment, health, education, housing, water and sanitation, "
            "information): lacking {rule} or more makes a poor household, fewer a near-poor one.",
            rule=rule,
        )
        if not asked and verdict.standard.applies_on(turn.today):
            text += " " + turn._(
                "The questions on these indicators are still being checked by staff, so this result counts income only."
            )
        return text
    lacking = ", ".join(names.get(d, d) for d in verdict.deficits or ()) or turn._("none")
    sentence = (
        N_(
            "Your income is at or below this line and, from your answers, your household lacks {count} indicators "
            "({names}): {rule} or more, so it may be a poor household."
        )
        if outcome is Outcome.poor
        else N_(
            "Your income is at or below this line and, from your answers, your household lacks {count} indicator(s) "
            "({names}): fewer than {rule}, so it may be a near-poor household."
        )
    )
    return turn._(sentence, count=len(verdict.deficits or ()), names=lacking, rule=rule)


async def on_request(turn: Turn) -> list[Reply]:
    """sc:request — ask the commune to review the household: which commune, then what will be sent."""
    sc = _sc(turn)
    if "outcome" not in sc:
        raise StaleAction
    limit = turn.services.tickets.daily_limit
    if await ticket_repo.count_today(turn.session, id_of(turn.citizen), turn.now, turn.services.tz) >= limit:
        turn.reset()
        return [
            main_menu(
                turn,
                turn._(
                    "You have already sent {count} reports today. To keep the line open for everyone, "
                    "please send more tomorrow.",
                    count=limit,
                ),
            )
        ]
    if not sc.get("area"):
        turn.goto(State.selfcheck_request_area, sc=sc)
        return [
            Reply(
                turn._("Which commune or ward should review your household? Type its name (for example: Ea Kao)."),
                buttons=(_cancel_row(turn),),
            )
        ]
    return _confirm(turn, sc)


def _body(turn: Turn, sc: dict) -> str:
    """The request as the commune staff read it: the answers and the result the household saw."""
    basis = {"month": "cả hộ / tháng", "year": "cả hộ / năm", "person": "mỗi người / tháng"}.get(
        sc.get("basis", ""), ""
    )
    answers = sc.get("answers", {})
    lines = [
        "Đề nghị rà soát hộ nghèo, hộ cận nghèo (gửi sau khi tự kiểm tra trên Cầu Nối)",
        f"Khu vực: {'nông thôn (xã)' if sc['zone'] == 'rural' else 'thành thị (phường)'}",
        f"Số người trong hộ: {sc.get('people') or '—'}",
        f"Thu nhập hộ tự khai: {sc['dong']:,} đ ({basis})".replace(",", "."),
        f"Ước tính bình quân: {int(sc['income']):,} đ/người/tháng".replace(",", "."),
        f"Kết quả tự kiểm tra: {OUTCOME_VI.get(sc['outcome'], sc['outcome'])} (theo {_document(sc['standard'])})",
    ]
    if answers:
        lines.append(
            "Trả lời các chỉ số: "
            + "; ".join(f"{key}: {ANSWER_VI.get(value, value)}" for key, value in answers.items())
        )
    return "\n".join(lines)[:MAX_BODY]


def _document(standard_id: str) -> str:
    """The decree of a standard, by its id in content/selfcheck.yaml."""
    return next((s.source.document for s in _selfcheck().standards if s.id == standard_id), standard_id)


OUTCOME_VI = {
    "poor": "có thể là hộ nghèo",
    "near_poor": "có thể là hộ cận nghèo",
    "under_line": "thu nhập bằng hoặc dưới chuẩn nghèo (chưa xét chỉ số)",
    "average": "có thể là hộ có mức sống trung bình",
    "above": "thu nhập trên chuẩn nghèo",
}
ANSWER_VI = {"yes": "có", "no": "không", "skip": "không biết"}


def _confirm(turn: Turn, sc: dict) -> list[Reply]:
    turn.goto(State.selfcheck_confirm, sc=sc)
    name = turn.incoming.display_name or turn.citizen.display_name
    who = (
        turn._(
            "The commune staff will see your name ({name}), these answers and the result, and will reply to you here.",
            name=name,
        )
        if name
        else turn._("The commune staff will see these answers and the result, and will reply to you here.")
    )
    return [
        Reply(
            "\n".join(
                [
                    turn._("I will send this request to {commune}:", commune=area_label(turn, sc["area"])),
                    "",
                    _body(turn, sc),
                    "",
                    who,
                    turn._("Do you agree to send it?"),
                ]
            ),
            buttons=((Button(turn._("📨 Send the request"), SelfCheckSend().pack(), SEND | YES),), _cancel_row(turn)),
        )
    ]


async def on_send(turn: Turn) -> list[Reply]:
    """sc:send — with the person's agreement, file the ticket and attach the self-check."""
    sc = _sc(turn)
    if "outcome" not in sc or not sc.get("area"):
        raise StaleAction
    if not await turn.address_allows(address_limits.REPORT, turn.services.address_limits.reports):
        return [
            Reply(
                turn._(
                    "Sorry, many reports have been sent from your network lately, so I cannot send your request "
                    "right now. "
                    "It is kept here: press “📨 Send the request” again in about an hour, or call your commune's "
                    "office."
                )
            ),
            *_confirm(turn, sc),
        ]
    policy = turn.services.tickets
    kind = TicketKind.question
    due = add_working_days(turn.now, policy.due_days.get(kind, 10), tz=turn.services.tz, holidays=policy.holidays)
    name = (turn.incoming.display_name or turn.citizen.display_name or "")[:200] or None
    ticket = await ticket_repo.create_ticket(
        turn.session,
        citizen_id=turn.citizen.id,
        kind=kind,
        topic=REVIEW_TOPIC,
        body=_body(turn, sc),
        area_code=sc["area"],
        anonymous=False,
        reporter_name=name,
        locale=turn.locale,
        now=turn.now,
        due_at=due,
    )
    answers = {
        key: sc[key]
        for key in ("zone", "people", "basis", "period", "dong", "income", "standard", "answers", "deficits")
        if key in sc
    }
    await selfcheck_repo.add_request(
        turn.session, id_of(ticket), area_code=sc["area"], outcome=sc["outcome"], answers=answers, now=turn.now
    )
    turn.reset()
    lines = [
        turn._(
            "Your request has been sent to {commune}.\nTracking code: {code}\nExpected answer by: {due}",
            commune=area_label(turn, sc["area"]),
            code=ticket.code,
            due=turn.translator.format_date(due),
        ),
        turn._(
            "To be reviewed, the household also fills in Form No. 01 (Giấy đề nghị rà soát hộ nghèo, hộ cận nghèo) "
            "and submits it to the commune People's Committee, in person, by post or online. The form is at the "
            "commune office; bring the applicant's ID card. The officer will tell you if anything else is needed."
        ),
        _season_note(turn, turn.today),
        turn._("Source: {source}", source=REVIEW_SOURCE.cite()),
        turn._("To check it, send /tracuu {code}. You will get a message here when staff answer.", code=ticket.code),
    ]
    return [main_menu(turn, "\n\n".join(lines))]


def _season_note(turn: Turn, today: date) -> str:
    if in_review_season(today):
        return turn._("The annual review runs from 1/9 to 14/12: your request arrives during it.")
    return turn._(
        "The annual review runs from 1/9 to 14/12, but the commune also considers a household's request during "
        "the rest of the year."
    )


async def on_done(turn: Turn) -> list[Reply]:
    """sc:done — no request: the answers are dropped."""
    turn.reset()
    return [
        main_menu(
            turn, turn._("All right. Your answers were not kept. You can check again at any time with /tukiemtra.")
        )
    ]


async def on_cancel(turn: Turn) -> list[Reply]:
    """sc:cancel — leave the self-check."""
    turn.reset()
    return [main_menu(turn, turn._("OK, stopped. Your answers were not kept."))]


ROUTES = Routes(
    commands={"tukiemtra": start, "selfcheck": start},
    actions={
        Menu("selfcheck"): Action(start),
        SelfCheckStart: Action(start),
        SelfCheckZone: Action(on_zone, FLOW_STATES),
        SelfCheckArea: Action(on_area, FLOW_STATES),
        SelfCheckBasis: Action(on_basis, FLOW_STATES),
        SelfCheckAnswer: Action(on_answer, FLOW_STATES),
        SelfCheckRequest: Action(on_request, FLOW_STATES),
        SelfCheckSend: Action(on_send, FLOW_STATES),
        SelfCheckDone: Action(on_done, FLOW_STATES),
        SelfCheckCancel: Action(on_cancel, FLOW_STATES),
    },
    text={
        State.selfcheck_area: on_area_text,
        State.selfcheck_people: on_people,
        State.selfcheck_basis: on_income_text,
        State.selfcheck_income: on_income_text,
        State.selfcheck_request_area: on_area_text,
    },
)

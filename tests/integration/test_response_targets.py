"""Response targets (SPEC §7.2) over real SMTP, the clock moved with
`mailgate scheduler run-once --now`. The "urgent" queue works one shift a
week, Roistat's way (Moscow time, high priority answered within an hour),
and that shift closes ten minutes after the test starts: a mail now is the
mail at 18:50 on Friday, and its answer is due at the next shift."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.support.mail import client_reply, message

MOSCOW = ZoneInfo("Europe/Moscow")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
GIULIA, LEAD, CUSTOMER = "giulia@example.com", "lead@example.com", "ivanov@klient.example"
OLGA = "olga@example.com"                                  # the urgent queue's supervisor
OPEN_HOURS = timedelta(hours=2)


def this_shift() -> tuple[datetime, datetime]:
    """(opens, closes) of a shift that closes in ten minutes or a little less."""
    closes = (datetime.now(MOSCOW) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    return closes - OPEN_HOURS, closes


@pytest.fixture
def shift() -> tuple[datetime, datetime]:
    return this_shift()


@pytest.fixture
def escalation() -> list[str]:
    return [LEAD]


@pytest.fixture
def helpdesk_document(helpdesk_document, shift, escalation):
    opens, closes = shift
    day = DAYS[opens.weekday()]
    helpdesk_document["queues"] = [{
        "name": "urgent", "addresses": ["urgent@example.com"], "priority": "high",
        "timezone": "Europe/Moscow", "hours": f"{day}-{day} {opens:%H:%M}-{closes:%H:%M}",
        "escalation": escalation}] + helpdesk_document["queues"]
    helpdesk_document["agents"].append({"name": "Olga Petrova", "address": OLGA, "queues": ["urgent"],
                                        "role": "supervisor"})
    return helpdesk_document


def run_at(helpdesk, instant: datetime, *flags: str) -> list[tuple[int, str]]:
    done = helpdesk.cli.json_lines("scheduler", "run-once", "--json", "--now", instant.isoformat(), *flags)
    return [(item["ticket"], item["action"]) for item in done]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def business_instant(shift, since: datetime, minutes: int) -> datetime:
    """`minutes` of working time after `since`, in a weekly shift (by hand)."""
    opens, closes = shift
    left_today = max(closes - since, timedelta(0))
    if timedelta(minutes=minutes) <= left_today:
        return since + timedelta(minutes=minutes)
    return opens + timedelta(days=7) + timedelta(minutes=minutes) - left_today


def test_an_urgent_mail_before_closing_warns_and_breaches_at_the_next_shift(helpdesk, shift):
    first = message(sender=f"Ivan Ivanov <{CUSTOMER}>", to="urgent@example.com",
                    body="Здравствуйте, не работает оплата на сайте.\n")
    helpdesk.send(first)
    [ticket] = helpdesk.cli.tickets()
    number, created = ticket["number"], instant(ticket["created_at"])
    warn_at, due = business_instant(shift, created, 48), business_instant(shift, created, 60)
    assert due > shift[1] + timedelta(days=6)                           # Friday's mail is Monday's work
    assert abs(instant(helpdesk.cli.ticket(number)["first_response_due"]) - due) < timedelta(seconds=1)

    second = timedelta(seconds=1)
    assert run_at(helpdesk, warn_at - second) == []
    assert run_at(helpdesk, warn_at + second) == [(number, "warning")]
    assert run_at(helpdesk, warn_at + second) == []                    # once only
    helpdesk.drain_outbox()
    [warning] = [m for m in helpdesk.sink.messages(GIULIA) if "due soon" in m["Subject"]]
    assert "80%" in warning.get_body(("plain",)).get_content()
    assert helpdesk.sink.messages(LEAD) == []
    [row] = helpdesk.cli.json_lines("sla", "report", "--json", "--now", (warn_at + second).isoformat())
    assert (row["number"], row["state"], row["target"]) == (number, "warned", "first")

    assert run_at(helpdesk, due - second) == []
    assert run_at(helpdesk, due + second) == [(number, "breach")]
    assert run_at(helpdesk, due + timedelta(hours=1)) == []
    helpdesk.drain_outbox()
    [escalation] = helpdesk.sink.messages(LEAD)
    assert escalation["Subject"].startswith(f"[#{number}] Answer overdue")
    assert "breached" in helpdesk.cli.ticket(number)["flags"]
    assert not [m for m in helpdesk.sink.messages(OLGA) if "overdue" in m["Subject"]]

    # The agent answers: the target is met, nothing is due while the customer is asked.
    notice = next(m for m in helpdesk.sink.messages(GIULIA) if "due soon" not in m["Subject"])
    helpdesk.send(client_reply(notice, GIULIA, "Добрый день, проверьте, пожалуйста, ещё раз."),
                  rcpt=notice["Reply-To"])
    answered = helpdesk.cli.ticket(number)
    assert (answered["status"], answered["first_response_due"], answered["sla"]) == ("pending", None, None)
    # Nothing more of the response clock; only the inactivity closure would come.
    assert run_at(helpdesk, due + timedelta(days=7), "--dry-run") == [(number, "close")]
    assert helpdesk.cli.json_lines("sla", "report", "--json") == []
    shown = helpdesk.cli.run("tickets", "show", str(number)).stdout.decode()
    history = [line.split("sla: ")[1].split(",")[0] for line in shown.splitlines() if "sla: " in line]
    assert history == ["first answer started", "first answer warned", "first answer breached",
                       "first answer met"]

    # The customer writes again: the next answer is awaited, an hour of working time from now.
    helpdesk.drain_outbox()
    answer = helpdesk.sink.messages(CUSTOMER)[-1]
    helpdesk.send(client_reply(answer, CUSTOMER, "Всё равно не работает."), rcpt=answer["Reply-To"])
    reopened = helpdesk.cli.ticket(number)
    next_due = business_instant(shift, instant(reopened["updated_at"]), 60)
    assert reopened["status"] == "open" and reopened["sla"]["target"] == "next"
    assert abs(instant(reopened["next_response_due"]) - next_due) < timedelta(seconds=1)
    assert run_at(helpdesk, next_due + second) == [(number, "breach")]


def test_an_agent_setting_pending_pauses_the_clock_and_the_customer_resumes_it(helpdesk, shift):
    first = message(sender=CUSTOMER, to="urgent@example.com", body="Не приходит письмо с кодом.\n")
    helpdesk.send(first)
    [ticket] = helpdesk.cli.tickets()
    number = ticket["number"]
    helpdesk.cli.run("tickets", "set", str(number), "--status", "pending")
    paused = helpdesk.cli.ticket(number)
    assert paused["first_response_due"] is None and paused["sla"]["running"] is False
    used = paused["sla"]["used_seconds"]
    assert run_at(helpdesk, shift[1] + timedelta(days=8), "--dry-run") == [(number, "close")]   # no warning

    helpdesk.drain_outbox()
    ack = helpdesk.sink.messages(CUSTOMER)[-1]
    helpdesk.send(client_reply(ack, CUSTOMER, "Код так и не пришёл."), rcpt=ack["Reply-To"])
    resumed = helpdesk.cli.ticket(number)
    assert (resumed["status"], resumed["sla"]["target"], resumed["sla"]["running"]) == ("open", "first", True)
    expected = business_instant(shift, instant(resumed["updated_at"]), 60 - used // 60)
    assert abs(instant(resumed["first_response_due"]) - expected) < timedelta(seconds=61)


@pytest.mark.parametrize("escalation", [[]])
def test_without_escalation_addresses_a_breach_goes_to_the_queues_supervisors(helpdesk, escalation):
    helpdesk.send(message(sender=CUSTOMER, to="urgent@example.com", subject="Вход",
                          body="Срочно, не работает вход!\n"))
    number = helpdesk.cli.tickets()[0]["number"]
    due = instant(helpdesk.cli.ticket(number)["first_response_due"])
    assert run_at(helpdesk, due + timedelta(seconds=1)) == [(number, "breach")]
    helpdesk.drain_outbox()
    assert [m["Subject"] for m in helpdesk.sink.messages(OLGA) if "overdue" in m["Subject"]] == [
        f"[#{number}] Answer overdue: Вход"]
    assert not [m for m in helpdesk.sink.messages(GIULIA) if "overdue" in m["Subject"]]

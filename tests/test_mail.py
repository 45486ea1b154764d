"""E-mail invitations: booked, moved and cancelled through the API, received by a real SMTP server on a
local port (aiosmtpd), parsed with the email package (the calendar file with icalendar); the patient's
address checked at the edge."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import re
import socket
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar
from icalendar import Component
from sqlalchemy import select

from visitt import demo
from visitt.messaging import mail, outbox
from visitt.store.models import OutboxMessage, OutboxState
from visitt.testing import InProcess

from .conftest import make_settings

pytestmark = pytest.mark.in_process  # only HTTP: Visitt in process, without a server (tests/conftest.py)

FROM = "video@sykehuset.example"
PATIENT = "pasient@example.no"
UNKNOWN = "finnes.ikke@example.no"


class Mailbox:
    """The SMTP server's side: accepts every recipient but :data:`UNKNOWN`, and keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address == UNKNOWN:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def wait(self, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return [email.message_from_bytes(content, policy=email.policy.default)  # type: ignore[misc]
                for _, content in self.received]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def smtp_server(tmp_path: Path, smtp: tuple[Mailbox, int]) -> Iterator[InProcess]:
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp[1], smtp_starttls=False,
                             smtp_from=FROM, clinic_name="Sykehuset Østfold")
    live = InProcess(settings).start()
    yield live
    live.stop()


def _api(server: InProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return server.request(method, f"{server.url}/api/v1{path}", headers={"Authorization": f"Bearer {server.token}"},
                          **kwargs)


def _book(server: InProcess, **fields: object) -> httpx.Response:
    return _api(server, "POST", "/appointments", json={
        "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": "2031-03-04T09:30",
        "duration_minutes": 30, "language": "en", "patient_email": PATIENT, **fields})


def _calendar(message: EmailMessage) -> tuple[str, Calendar, Component]:
    """The attached .ics, read with icalendar's parser: its Content-Type's method, the calendar and its one event."""
    (part,) = [part for part in message.iter_attachments() if part.get_content_type() == "text/calendar"]
    raw = part.get_payload(decode=True)
    assert isinstance(raw, bytes) and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    calendar = Calendar.from_ical(raw)
    (event,) = calendar.walk("VEVENT")
    return str(part.get_param("method")), calendar, event


def test_invitation_move_and_cancel_arrive_over_smtp(smtp_server: InProcess, smtp: tuple[Mailbox, int]) -> None:
    mailbox, _ = smtp
    booked = _book(smtp_server)
    assert booked.status_code == 201, booked.text
    body = booked.json()

    (invitation,) = mailbox.wait(1)
    assert mailbox.received[0][0] == [PATIENT]
    assert invitation["To"] == PATIENT and FROM in invitation["From"]
    assert invitation["Subject"] == "Video consultation 04.03.2031 at 09:30"
    text_part = invitation.get_body(("plain",))
    assert text_part is not None
    text = text_part.get_content()
    assert body["join_url"] in text and body["code"] in text and "+47 69 86 00 00" in text
    assert "Kari" not in invitation.as_string()  # no name, no health data: just the time, the link, the code

    method, calendar, event = _calendar(invitation)
    assert method == "REQUEST" and calendar["METHOD"] == "REQUEST"
    uid = str(event["UID"])
    assert re.fullmatch(r"[0-9a-f]{32}@visitt", uid)
    assert event.decoded("SEQUENCE") == 0
    assert event.decoded("DTSTART") == dt.datetime(2031, 3, 4, 8, 30, tzinfo=dt.timezone.utc)  # 09:30 in Oslo
    assert event.decoded("DTEND") == dt.datetime(2031, 3, 4, 9, 0, tzinfo=dt.timezone.utc)
    assert body["join_url"] in str(event["DESCRIPTION"]) and str(event["URL"]) == body["join_url"]
    assert str(event["SUMMARY"]) == "Video consultation – Sykehuset Østfold"
    assert str(event["ATTENDEE"]) == f"mailto:{PATIENT}"

    moved = _api(smtp_server, "PATCH", f"/appointments/{body['id']}", json={"starts_at": "2031-03-05T10:00"})
    assert moved.status_code == 200, moved.text
    update = mailbox.wait(2)[1]
    assert update["Subject"] == "Moved: video consultation 05.03.2031 at 10:00"
    method, calendar, event = _calendar(update)
    assert method == "REQUEST" and str(event["UID"]) == uid and event.decoded("SEQUENCE") == 1
    assert event.decoded("DTSTART") == dt.datetime(2031, 3, 5, 9, 0, tzinfo=dt.timezone.utc)
    assert body["code"] in str(event["DESCRIPTION"])

    cancelled = _api(smtp_server, "POST", f"/appointments/{body['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    cancellation = mailbox.wait(3)[2]
    method, calendar, event = _calendar(cancellation)
    assert method == "CANCEL" and calendar["METHOD"] == "CANCEL" and event["STATUS"] == "CANCELLED"
    assert str(event["UID"]) == uid and event.decoded("SEQUENCE") == 2

    with smtp_server.database.session() as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "email")
                                    .order_by(OutboxMessage.id)))
    assert [row.state for row in rows] == [OutboxState.sent] * 3
    assert [row.provider_id for row in rows] == [m["Message-ID"] for m in mailbox.wait(3)]
    assert {row.body for row in rows} == {""}  # the link is not kept once the e-mail is out


def test_the_invitation_is_in_the_patients_language(smtp_server: InProcess, smtp: tuple[Mailbox, int]) -> None:
    assert _book(smtp_server, language="nb").status_code == 201
    (invitation,) = smtp[0].wait(1)
    assert invitation["Subject"] == "Videokonsultasjon 04.03.2031 kl. 09:30"
    assert invitation["Content-Language"] == "nb"
    text = invitation.get_body(("plain",))
    assert text is not None and "Åpne denne lenken litt før timen" in text.get_content()
    _, _, event = _calendar(invitation)
    assert str(event["SUMMARY"]) == "Videokonsultasjon – Sykehuset Østfold"


@contextlib.contextmanager
def _client(server: InProcess) -> Iterator[httpx.Client]:
    """The first demo clinician, signed in to the staff pages."""
    with server.client(headers={"Accept-Language": "en"}) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/login").text)
        assert csrf
        signed_in = client.post("/staff/login", data={"email": demo.PEOPLE[0][0], "password": demo.PASSWORD,
                                                      "csrf": csrf.group(1)})
        assert signed_in.status_code == 303
        yield client


def test_an_unknown_address_is_shown_to_the_clinician(smtp_server: InProcess) -> None:
    booked = _book(smtp_server, patient_email=UNKNOWN)
    assert booked.status_code == 201
    appointment_id = booked.json()["id"]
    deadline = time.monotonic() + 15
    while True:
        with smtp_server.database.session() as session:
            row = session.scalar(select(OutboxMessage).where(OutboxMessage.channel == "email"))
            assert row is not None
        if row.state is OutboxState.failed or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert row.state is OutboxState.failed and row.failure_reason == "invalid_address"
    assert row.last_error.startswith("SMTP 550") and UNKNOWN not in row.last_error  # no address in the detail

    warning = ("The e-mail to the patient could not be delivered: the e-mail address does not exist — "
               "call the patient")
    with _client(smtp_server) as client:
        page = client.get(f"/staff/appointments/{appointment_id}").text
        assert warning in page and 'href="tel:+4741234567"' in page
        dashboard = client.get("/staff").text
        assert warning in dashboard
        assert "The SMS to the patient could not be delivered" not in dashboard  # the SMS went out


def test_without_an_smtp_server_the_mail_is_written_to_files(server: InProcess) -> None:
    booked = server.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                         json={"patient_name": "Kari Nordmann", "patient_phone": "41234567",
                               "starts_at": "2031-03-04T09:30", "patient_email": "  Pasient@Example.NO "})
    assert booked.status_code == 201
    (message,) = server.mail()
    assert message["To"] == "Pasient@example.no"
    assert booked.json()["join_url"] in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert oct((server.settings.data_dir / "mail").glob("*.eml").__next__().stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("address", ["kari", "kari@", "@example.no", "kari@example", "kari@@example.no",
                                     "kari nordmann@example.no", "kari@example.no\r\nBcc: x@y.no", "kari@-x.no",
                                     "kari@example.123", ".kari@example.no", "a" * 65 + "@example.no",
                                     "kåri@example.no", '"kari"@example.no', "kari@[192.0.2.1]",
                                     "Kari <kari@example.no>", "kari@localhost", "kari@mac.local"])
def test_addresses_that_cannot_be_used(address: str) -> None:
    assert mail.normalise_address(address) is None


def test_addresses_that_can() -> None:
    assert mail.normalise_address("kari.nordmann+video@Sykehus.Example.NO") == "kari.nordmann+video@sykehus.example.no"
    assert mail.normalise_address("ola@blåbær.no") == "ola@blåbær.no"


def test_a_bad_address_gets_a_clear_error_in_the_api_and_the_form(server: InProcess) -> None:
    response = server.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                           json={"patient_name": "Kari Nordmann", "patient_phone": "41234567",
                                 "starts_at": "2031-03-04T09:30", "patient_email": "kari@example"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed" and list(error["fields"]) == ["patient_email"]
    assert "valid e-mail address" in error["fields"]["patient_email"]

    with _client(server) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/book").text)
        assert csrf
        page = client.post("/staff/book", data={
            "csrf": csrf.group(1), "patient_name": "Kari Nordmann", "patient_phone": "41234567",
            "patient_email": "kari(at)example.no", "date": "2031-03-04", "time": "09:30", "duration_minutes": "30"})
        assert page.status_code == 422
        assert "Enter a valid e-mail address" in page.text and 'value="kari(at)example.no"' in page.text
        assert 'aria-describedby="patient_email-error"' in page.text
    assert server.sms(wait=0.3) == [] and server.mail(wait=0.1) == []


def test_smtp_failures_are_sorted_into_temporary_and_permanent(tmp_path: Path) -> None:
    clinic = mail.Clinic("Visitt", FROM, dt.timezone.utc)  # type: ignore[arg-type]
    letter = mail.Letter(kind="invitation", language="en", starts_at=dt.datetime(2031, 3, 4, 8, 30, tzinfo=dt.timezone.utc),
                         minutes=30, code="123456", phone="+47 22 00 00 00", address="https://v.example", uid="u@visitt",
                         sequence=0, url="https://v.example/v/abc")
    message = OutboxMessage(id=1, channel="email", recipient=PATIENT, body=letter.to_json())
    nobody_listens = mail.SmtpBackend("127.0.0.1", _free_port(), clinic, starttls=False, timeout=5)
    with pytest.raises(outbox.SendFailed) as down:
        asyncio.run(nobody_listens.send(message))
    assert not down.value.permanent and down.value.code == "unavailable"
    broken = OutboxMessage(id=2, channel="email", recipient=PATIENT, body="{not json")
    with pytest.raises(outbox.SendFailed) as unreadable:
        asyncio.run(nobody_listens.send(broken))
    assert unreadable.value.permanent
    with pytest.raises(ValueError, match="VISITT_SMTP_FROM"):
        mail.backend_from_settings(make_settings(tmp_path, smtp_host="smtp.example"))


@pytest.mark.parametrize(("language", "subject", "summary", "line"), [
    ("nn", "Videokonsultasjon 04.03.2031 kl. 09:30", "Videokonsultasjon – Visitt", "Opne denne lenka litt før timen"),
    ("pl", "Wideokonsultacja 04.03.2031, godz. 09:30", "Wideokonsultacja – Visitt",
     "Prosimy otworzyć ten link chwilę przed wizytą"),
])
def test_the_e_mail_and_calendar_file_come_in_nynorsk_and_polish(language: str, subject: str, summary: str,
                                                                  line: str) -> None:
    clinic = mail.Clinic("Visitt", FROM, dt.timezone.utc)  # type: ignore[arg-type]
    letter = mail.Letter(kind="invitation", language=language,
                         starts_at=dt.datetime(2031, 3, 4, 9, 30, tzinfo=dt.timezone.utc), minutes=30, code="123456",
                         phone="+47 22 00 00 00", address="https://v.example", uid="u@visitt", sequence=0,
                         url="https://v.example/v/abc")
    message = mail.compose(letter, PATIENT, clinic)
    assert message["Subject"] == subject and message["Content-Language"] == language
    text = message.get_body(("plain",))
    assert text is not None and line in text.get_content() and "https://v.example/v/abc" in text.get_content()
    _, _, event = _calendar(message)
    assert str(event["SUMMARY"]) == summary


@pytest.mark.parametrize("helpdesk", ["", "+47 55 97 65 51"])
def test_the_invitation_carries_the_help_pages_essentials(helpdesk: str) -> None:
    """What to have ready, how to prepare, privacy, the help page in the patient's language, and the IT
    helpdesk's number when the clinic has one (seeds 000-004)."""
    clinic = mail.Clinic("Visitt", FROM, dt.timezone.utc, helpdesk)  # type: ignore[arg-type]
    letter = mail.Letter(kind="invitation", language="en",
                         starts_at=dt.datetime(2031, 3, 4, 9, 30, tzinfo=dt.timezone.utc), minutes=30, code="123456",
                         phone="+47 22 00 00 00", address="https://v.example", uid="u@visitt", sequence=0,
                         url="https://v.example/v/abc")
    body = mail.compose(letter, PATIENT, clinic).get_body(("plain",))
    assert body is not None
    text = " ".join(body.get_content().split())
    for words in ("a camera and a microphone", "charged battery", "not in a public place or on open Wi-Fi",
                  "Have photo ID ready", "Nothing is recorded", "withdraw your consent",
                  "Help, step by step: https://v.example/help/en"):
        assert words in text, words
    assert ("Call the IT helpdesk at +47 55 97 65 51." in text) == bool(helpdesk)

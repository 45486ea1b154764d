"""E-mail to patients: the invitation with a calendar file, its updates, and the backends that send it.

An e-mail waits in the outbox like an SMS (channel ``email``). Its row holds a :class:`Letter` - the
facts, as JSON - rather than the finished message: the backend composes the subject, the text and the
``.ics`` in the patient's language when it sends, with its own sender address. Like an SMS body, the
letter holds the invitation link and is blanked once sent.

With ``VISITT_SMTP_HOST`` set, :class:`SmtpBackend` hands the message to that server (smtplib, in a
thread); without it :class:`MailFileBackend` writes each message as an ``.eml`` file instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
import re
import smtplib
import ssl
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from visitt.messaging import ics, outbox
from visitt.web.help_page import address as help_address
from visitt import phones
from visitt.web.i18n import translations
from visitt.store.models import Appointment, Meeting, OutboxMessage, utcnow
from visitt.messaging.outbox import Backend, SendFailed
from visitt.settings import Settings

log = logging.getLogger("visitt.mail")
# meeting, meeting_update, meeting_cancel: to a staff meeting's guest (visitt.meetings)
KINDS = ("invitation", "update", "cancel", "meeting", "meeting_update", "meeting_cancel")
_ADDRESS_IN_TEXT = re.compile(r"<?[^\s<>@]+@[^\s<>@]+>?")


def normalise_address(value: str) -> str | None:
    """``value`` as an e-mail address (domain in lower case), or None if it cannot be one.

    Checked by ``email-validator`` for syntax only (no DNS look-up) and deliberately plain: an ASCII
    local part of at most 64 characters (``strict``; no SMTPUTF8, which not every SMTP server offers),
    no quoted local parts, no IP literals, no display names - nothing a patient types. A domain may be
    internationalised (``blåbær.no``) but must be one a message can reach (not ``localhost`` or
    ``.local``).
    """
    try:
        checked = validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False, strict=True)
    except EmailNotValidError:
        return None
    return checked.normalized


@dataclass(frozen=True)
class Letter:
    """What one e-mail to a patient says; stored as JSON in the outbox row's body until it is sent."""

    kind: str  # invitation, update, cancel or meeting
    language: str
    starts_at: dt.datetime  # UTC
    minutes: int
    code: str
    phone: str  # whom to call
    address: str  # where the six-digit code can be typed (Visitt's front page)
    uid: str  # the calendar event's UID: the same for every e-mail about one appointment
    sequence: int
    url: str = ""  # the invitation link; only the first e-mail has it (Visitt keeps just its hash)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind of e-mail {self.kind!r}")

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "starts_at": self.starts_at.isoformat()}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Letter":
        data = json.loads(text)
        data["starts_at"] = dt.datetime.fromisoformat(data["starts_at"])
        return cls(**data)


def calendar_uid(appointment: Appointment) -> str:
    """A UID stable for the appointment's whole life, derived from its room's random id (never the
    appointment's number, which would tell how many consultations the clinic holds)."""
    return hashlib.sha256(f"visitt-calendar:{appointment.room.public_id}".encode()).hexdigest()[:32] + "@visitt"


def queue(session: Session, appointment: Appointment, kind: str, *, code: str, phone: str, address: str,
          url: str = "") -> OutboxMessage | None:
    """Queue the e-mail of ``kind`` if the patient gave an address. A move or a cancellation raises the
    calendar SEQUENCE, so the patient's calendar replaces the event it already has."""
    if not appointment.patient_email:
        return None
    sequence = appointment.calendar_sequence or 0
    if kind != "invitation":
        sequence += 1
    appointment.calendar_sequence = sequence
    letter = Letter(kind=kind, language=appointment.language, starts_at=appointment.starts_at,
                    minutes=appointment.duration_minutes, code=code, phone=phone, address=address,
                    uid=calendar_uid(appointment), sequence=sequence, url=url)
    return outbox.enqueue(session, recipient=appointment.patient_email, body=letter.to_json(),
                          appointment_id=appointment.id, channel="email")


def queue_meeting(session: Session, meeting: Meeting, recipient: str, *, language: str, code: str, phone: str,
                  address: str, url: str = "", kind: str = "meeting") -> OutboxMessage:
    """Queue a staff meeting's e-mail to a guest (``visitt.meetings``): its invitation (``meeting``), or the
    notice that it moved (``meeting_update``) or was cancelled (``meeting_cancel``) with the meeting's current
    calendar SEQUENCE. Neutral: it never names the meeting's title, which is for staff only."""
    uid = hashlib.sha256(f"visitt-calendar:{meeting.room.public_id}".encode()).hexdigest()[:32] + "@visitt"
    letter = Letter(kind=kind, language=language, starts_at=meeting.starts_at, minutes=meeting.duration_minutes,
                    code=code, phone=phone, address=address, uid=uid, sequence=meeting.calendar_sequence or 0,
                    url=url)
    return outbox.enqueue(session, recipient=recipient, body=letter.to_json(), channel="email", room_id=meeting.room_id)


@dataclass(frozen=True)
class Clinic:
    """Who the e-mail is from, and the time zone its times are written in."""

    name: str
    mailbox: str
    tz: ZoneInfo
    helpdesk: str = ""  # the IT helpdesk's number (VISITT_HELPDESK_PHONE), named in the invitation if set

    @classmethod
    def from_settings(cls, settings: Settings) -> "Clinic":
        return cls(settings.clinic_name, settings.smtp_from or "visitt@localhost", ZoneInfo(settings.timezone),
                   settings.helpdesk_phone)


def compose(letter: Letter, recipient: str, clinic: Clinic, *, now: dt.datetime | None = None) -> EmailMessage:
    """The e-mail itself: plain text in the patient's language and the ``.ics`` as an attachment."""
    now = now or utcnow()
    _ = translations(letter.language).gettext
    local = letter.starts_at.astimezone(clinic.tz)
    values = {"date": local.strftime("%d.%m.%Y"), "time": local.strftime("%H:%M"), "url": letter.url,
              "address": letter.address, "code": letter.code, "phone": phones.written(letter.phone), "clinic": clinic.name,
              "help": help_address(letter.address, letter.language), "helpdesk": clinic.helpdesk}
    call = _("Questions, or cannot attend? Call {phone}.")
    if letter.kind == "invitation":
        subject = _("Video consultation {date} at {time}")
        opening = _("You have a video consultation on {date} at {time}.")
        details = [_("Open this link shortly before the appointment: {url}"),
                   _("If the link does not work, go to {address} and enter the code {code}."), call]
        # The essentials of the help page (seeds 000-004): what you need, how to prepare, privacy, whom to call.
        guide = [_("What you need: a phone, tablet or PC with a camera and a microphone, a stable internet "
                   "connection (your own Wi-Fi or 4G) and a charged battery. Use Chrome, Edge, Firefox, or Safari "
                   "on iPhone and iPad; you do not need an app."),
                 _("How to prepare: be alone in a room where nobody can hear you, not in a public place or on open "
                   "Wi-Fi, with no bright light behind you. Have photo ID ready. If someone else is to take part, "
                   "agree this with the clinic in advance."),
                 _("Nothing is recorded. Joining is voluntary: you can withdraw your consent at any time by "
                   "calling the clinic."),
                 _("Help, step by step: {help}")]
        if clinic.helpdesk:
            guide.append(_("Technical problems? Call the IT helpdesk at {helpdesk}."))
        closing = "\n\n".join(text.format(**values) for text in guide) + "\n\n" + _(
            "The attached calendar file puts the appointment in your calendar.")
    elif letter.kind == "meeting":
        subject = _("Video meeting {date} at {time}")
        opening = _("You are invited to a video meeting on {date} at {time}.")
        details = [_("Open this link shortly before the meeting: {url}"),
                   _("If the link does not work, go to {address} and enter the code {code}."), call]
        closing = _("Patient information may be discussed in the meeting. Sit where nobody can overhear you or "
                    "see your screen. Nothing is recorded.") + "\n\n" + _(
            "The attached calendar file puts the meeting in your calendar.")
    elif letter.kind == "meeting_update":
        subject = _("Moved: video meeting {date} at {time}")
        opening = _("The video meeting has been moved to {date} at {time}.")
        details = [_("Use the link from the first e-mail, or go to {address} and enter the code {code}."), call]
        closing = _("The attached calendar file moves the meeting in your calendar.")
    elif letter.kind == "meeting_cancel":
        subject = _("Cancelled: video meeting {date} at {time}")
        opening = _("The video meeting on {date} at {time} has been cancelled.")
        details = [_("Questions? Call {phone}.")]
        closing = _("The attached calendar file removes the meeting from your calendar.")
    elif letter.kind == "update":
        subject = _("Moved: video consultation {date} at {time}")
        opening = _("Your video consultation has been moved to {date} at {time}.")
        details = [_("Use the link from the first e-mail, or go to {address} and enter the code {code}."), call]
        closing = _("The attached calendar file moves the appointment in your calendar.")
    else:
        subject = _("Cancelled: video consultation {date} at {time}")
        opening = _("Your video consultation on {date} at {time} has been cancelled.")
        details = [_("Questions? Call {phone}.")]
        closing = _("The attached calendar file removes the appointment from your calendar.")
    details = [text.format(**values) for text in details]
    paragraphs = [opening.format(**values), *details, closing, _("Replies to this e-mail are not read.")]

    event = ics.Event(uid=letter.uid, sequence=letter.sequence, starts_at=letter.starts_at,
                      ends_at=letter.starts_at + dt.timedelta(minutes=letter.minutes),
                      summary=(_("Video meeting – {clinic}") if letter.kind.startswith("meeting")
                               else _("Video consultation – {clinic}")).format(**values),
                      description="\n\n".join(details), stamp=now,
                      url=letter.url or (letter.address if letter.kind in ("update", "meeting_update") else ""),
                      organizer=clinic.mailbox, organizer_name=clinic.name, attendee=recipient)
    method = "CANCEL" if letter.kind in ("cancel", "meeting_cancel") else "REQUEST"

    message = EmailMessage()
    message["From"] = formataddr((clinic.name, clinic.mailbox))
    message["To"] = recipient
    message["Subject"] = subject.format(**values)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=clinic.mailbox.rpartition("@")[2] or "visitt")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office answers, please
    message.set_content("\n\n".join(paragraphs) + "\n")
    # bytes in base64, so the calendar's CRLF line ends and folding arrive exactly as written
    message.add_attachment(ics.calendar(event, method).encode(), maintype="text", subtype="calendar",
                           filename="cancellation.ics" if method == "CANCEL" else "invitation.ics",
                           params={"method": method, "charset": "utf-8"})
    message["Content-Language"] = letter.language  # after add_attachment, which moves Content-* headers inward
    return message


def preview(body: str, clinic: Clinic) -> str:
    """The subject and text of a queued e-mail, for the demo's Outbox page."""
    try:
        message = compose(Letter.from_json(body), "", clinic)
    except (ValueError, KeyError, TypeError):
        return body
    text = message.get_body(("plain",))
    return f"{message['Subject']}\n\n{text.get_content() if text is not None else ''}"


def _letter(message: OutboxMessage) -> Letter:
    try:
        return Letter.from_json(message.body)
    except (ValueError, KeyError, TypeError):
        raise SendFailed("the queued e-mail cannot be read", permanent=True, code="configuration") from None


class MailFileBackend:
    """Writes each e-mail to ``<directory>/<outbox id>.eml`` instead of sending it (no SMTP server set)."""

    name = "mail-file"

    def __init__(self, directory: Path, clinic: Clinic) -> None:
        self.directory, self.clinic = directory, clinic

    async def send(self, message: OutboxMessage) -> str:
        email = compose(_letter(message), message.recipient, self.clinic)
        await asyncio.to_thread(self._write, f"{message.id}.eml", email.as_bytes())
        log.info("e-mail %s written to the mail directory", message.id)
        return str(email["Message-ID"])

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def _failure(code: int, text: bytes | str, plain: str) -> SendFailed:
    """An SMTP reply as a failure: 4xx is worth another try, 5xx is not. Addresses are cut out of the
    server's words (they often quote the recipient)."""
    words = text.decode(errors="replace") if isinstance(text, bytes) else text
    words = _ADDRESS_IN_TEXT.sub("<address>", " ".join(words.split()))
    return SendFailed(f"SMTP {code}: {words}"[:500], permanent=500 <= code < 600,
                      code=plain if 500 <= code < 600 else None)


def _recipient_reason(code: int, text: bytes | str) -> str:
    words = text.decode(errors="replace") if isinstance(text, bytes) else text
    if code == 552 or "5.2.2" in words:
        return "mailbox_full"
    if code in (550, 551, 553) or "5.1." in words:
        return "invalid_address"
    return "rejected"


class SmtpBackend:
    """Sends through an SMTP server with smtplib, in a worker thread: STARTTLS unless turned off, TLS from
    the first byte on port 465, and a login when a user is set."""

    name = "smtp"

    def __init__(self, host: str, port: int, clinic: Clinic, *, user: str = "", password: str = "",
                 starttls: bool = True, timeout: float = 30.0) -> None:
        if not host or not clinic.mailbox:
            raise ValueError("the SMTP backend needs VISITT_SMTP_HOST and VISITT_SMTP_FROM")
        self.host, self.port, self.clinic = host, port, clinic
        self.user, self.password, self.starttls, self.timeout = user, password, starttls, timeout

    async def send(self, message: OutboxMessage) -> str:
        email = compose(_letter(message), message.recipient, self.clinic)
        await asyncio.to_thread(self._deliver, email)
        log.info("e-mail %s accepted by the SMTP server", message.id)
        return str(email["Message-ID"])

    def _deliver(self, email: EmailMessage) -> None:
        try:
            client: smtplib.SMTP
            if self.port == 465:
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                          context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.starttls and self.port != 465:
                    client.starttls(context=ssl.create_default_context())
                if self.user:
                    client.login(self.user, self.password)
                client.send_message(email)
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise _failure(code, text, _recipient_reason(code, text)) from None
        except smtplib.SMTPAuthenticationError as error:
            raise SendFailed(f"SMTP {error.smtp_code}: login refused", permanent=True, code="configuration") from None
        except smtplib.SMTPSenderRefused as error:
            raise _failure(error.smtp_code, error.smtp_error, "configuration") from None
        except smtplib.SMTPResponseException as error:
            raise _failure(error.smtp_code, error.smtp_error, "rejected") from None
        except smtplib.SMTPNotSupportedError:
            raise SendFailed("the SMTP server does not offer STARTTLS", permanent=True, code="configuration") from None
        except (smtplib.SMTPException, OSError) as error:  # refused, timed out, dropped: try again later
            raise SendFailed(f"{type(error).__name__} talking to the SMTP server") from None


def backend_from_settings(settings: Settings) -> Backend:
    """SMTP when ``VISITT_SMTP_HOST`` is set, else ``.eml`` files in ``<data dir>/mail``."""
    clinic = Clinic.from_settings(settings)
    if not settings.smtp_host:
        return MailFileBackend(settings.data_dir / "mail", clinic)
    if not settings.smtp_from:
        raise ValueError("VISITT_SMTP_HOST is set: VISITT_SMTP_FROM must be set too")
    return SmtpBackend(settings.smtp_host, settings.smtp_port, clinic, user=settings.smtp_user,
                       password=settings.smtp_password, starttls=settings.smtp_starttls)

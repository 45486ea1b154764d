"""Database tables. Alembic owns the schema (``visitt/store/migrations``); these classes mirror it."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Role(str, enum.Enum):
    clinician = "clinician"
    secretary = "secretary"
    admin = "admin"
    department_admin = "department_admin"  # the admin console for their own departments only (``access.py``)


class AppointmentState(str, enum.Enum):
    booked = "booked"
    in_progress = "in_progress"
    completed = "completed"
    no_show = "no_show"
    technical_failure = "technical_failure"
    cancelled = "cancelled"


class RoomState(str, enum.Enum):
    open = "open"
    locked = "locked"
    ended = "ended"


class IdentityMethod(str, enum.Enum):
    """How the clinician established who a participant is (002, 003 §2.3–2.4)."""

    photo_id = "photo_id"  # photo ID held up to the camera
    known = "known"  # personally known to the clinician
    other = "other"  # described in the check's note


class ParticipantState(str, enum.Enum):
    invited = "invited"
    waiting = "waiting"
    admitted = "admitted"
    denied = "denied"
    left = "left"
    removed = "removed"


class OutboxState(str, enum.Enum):
    pending = "pending"
    sent = "sent"
    failed = "failed"


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class Base(DeclarativeBase):
    pass


class Department(Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    phone: Mapped[str] = mapped_column(String(40), default="")
    # Not every department offers video consultations (seed 000): booking for one that does not is refused.
    offers_video: Mapped[bool] = mapped_column(default=True)
    # Single sign-on may make an account for someone the provider places here (visitt/web/sso.py).
    sso_auto_create: Mapped[bool] = mapped_column(default=False)


class Staff(Base):
    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role))
    password_hash: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Listed on the portal: a clinician who takes unscheduled video visitors (``portal.py``).
    portal: Mapped[bool] = mapped_column(default=False)
    # The training gate (``training.py``): when the training was recorded, and how ("course", "recorded by
    # <admin>", "before the training gate"); null until then. The three steps of the built-in course.
    trained_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    training_source: Mapped[str] = mapped_column(String(300), default="")
    course_read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    quiz_passed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    test_call_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The TOTP second factor (``second_factor.py``): the base32 secret once enrolled, and the last
    # time step a code was accepted for, so the same code cannot be used twice.
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The value of VISITT_OIDC_CLAIM that names this person at the identity provider, when that claim is
    # not ``email`` (HelseID's HPR number, Entra's oid); unique, so one person is one account.
    sso_id: Mapped[str | None] = mapped_column(String(254), unique=True, nullable=True)

    # ``department`` is the home department (an appointment's, the portal's, the queue's); ``departments``
    # every department the account belongs to, the home one included (``staff_admin.set_departments``).
    department: Mapped[Department | None] = relationship()
    departments: Mapped[list[Department]] = relationship(secondary="staff_departments", order_by=Department.name)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    name: Mapped[str] = mapped_column(String(100), default="")  # what it is for: "Booking system"

    staff: Mapped[Staff] = relationship()


class WebSession(Base):
    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # ``full``: signed in; ``second_factor``: the password was right, the code is still to come;
    # ``enrol``: an administrator who must set up a second factor before anything else (``sessions.py``)
    stage: Mapped[str] = mapped_column(String(16), default="full", server_default="full")
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    idle_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no idle time-out
    # A session opened by single sign-on: the provider's ID token, the hint for signing out there too.
    id_token: Mapped[str | None] = mapped_column(Text, nullable=True)

    staff: Mapped[Staff] = relationship()


class Appointment(Base):
    __tablename__ = "appointments"
    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    clinician_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    booked_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    patient_name: Mapped[str] = mapped_column(String(200))
    patient_phone: Mapped[str] = mapped_column(String(32))
    state: Mapped[AppointmentState] = mapped_column(_enum(AppointmentState), default=AppointmentState.booked)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    language: Mapped[str] = mapped_column(String(8), default="nb")  # of the SMS the patient gets
    reminder_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # when the reminder was queued
    patient_email: Mapped[str] = mapped_column(String(254), default="")  # empty: no e-mail invitation
    calendar_sequence: Mapped[int] = mapped_column(Integer, default=0)  # SEQUENCE of the last .ics sent
    # The record (issue 19, docs/record.md). The patient, when known; the hospital's own reference.
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    external_ref: Mapped[str | None] = mapped_column(String(64))
    video_suitable_confirmed: Mapped[bool] = mapped_column(default=False)
    exemption: Mapped[str | None] = mapped_column(String(32))  # a CopaymentExemption code
    exemption_reason: Mapped[str] = mapped_column(String(200), default="")
    # The outcome (outcomes.py): chosen by the host, or Visitt's suggestion while outcome_confirmed is false.
    outcome: Mapped[str | None] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(String(32))
    outcome_confirmed: Mapped[bool] = mapped_column(default=False)
    outcome_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    outcome_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    follow_up: Mapped[bool | None] = mapped_column(Boolean)
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    # What the live room saw: media flowing both ways at least once; the call's first and last moment.
    media_flowed: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # "consultation" (on the mesh) or "group": up to VISITT_MAX_GROUP_PARTICIPANTS through Janus (visitt.groups)
    kind: Mapped[str] = mapped_column(String(16), default="consultation", server_default="consultation")

    clinician: Mapped[Staff] = relationship(foreign_keys=[clinician_id])
    department: Mapped[Department] = relationship()
    room: Mapped["Room"] = relationship(back_populates="appointment", uselist=False)
    patient: Mapped["Patient | None"] = relationship()


class Room(Base):
    __tablename__ = "rooms"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), unique=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    state: Mapped[RoomState] = mapped_column(_enum(RoomState), default=RoomState.open)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The privacy pause, kept apart from ``state``: it stops the media, not who may come in. All
    # three are set while paused and null otherwise (see rooms.set_paused).
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paused_by: Mapped[str | None] = mapped_column(String(64))  # the peer id of who pressed Pause
    pause_reason: Mapped[str | None] = mapped_column(String(32))

    appointment: Mapped[Appointment | None] = relationship(back_populates="room")
    meeting: Mapped["Meeting | None"] = relationship(back_populates="room", uselist=False)
    host: Mapped[Staff] = relationship()
    participants: Mapped[list["Participant"]] = relationship(back_populates="room", order_by="Participant.id")


class Meeting(Base):
    """A staff collaboration room (issue 20 §1, routine 003): health personnel discussing patients with
    no patient present (``meetings.py``). Its room has no appointment; the title is for staff only."""

    __tablename__ = "meetings"
    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # raised by each move or cancellation, so a guest's calendar replaces the event it has (RFC 5546)
    calendar_sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # its room is ended too

    room: Mapped[Room] = relationship(back_populates="meeting")


class Participant(Base):
    """Someone invited into a room by link: the patient, or a companion, interpreter or colleague
    (``kind``; see :mod:`visitt.invites`). A colleague's invitation may name their staff account
    (``staff_id``): signed in as that account, they join as co-host."""

    __tablename__ = "participants"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="patient")
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code: Mapped[str] = mapped_column(String(6), index=True)
    phone: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # the language of their messages, and a staff meeting's guest's e-mail address: what a later notice (the
    # meeting moved or cancelled) is written in and sent to
    language: Mapped[str] = mapped_column(String(8), default="", server_default="")
    email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    state: Mapped[ParticipantState] = mapped_column(_enum(ParticipantState), default=ParticipantState.invited)
    # SHA-256 of the place key: the secret handed to the page whose knock holds the invitation's place,
    # so that only that browser takes the place back without being admitted again (``hub.rejoin``)
    place_key_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    room: Mapped[Room] = relationship(back_populates="participants")


class PatientOutcome(Base):
    """One patient's outcome in a group consultation (issue 20 §2), recorded by the host for each patient
    separately (:func:`visitt.outcomes.record_for_patient`); the appointment's own outcome stays the group's."""

    __tablename__ = "patient_outcomes"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(String(32))
    follow_up: Mapped[bool | None] = mapped_column()
    note: Mapped[str] = mapped_column(String(500), default="", server_default="")  # never sent anywhere
    exemption: Mapped[str | None] = mapped_column(String(32))  # a CopaymentExemption code
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    participant: Mapped[Participant] = relationship()


class IdentityCheck(Base):
    """How a participant's identity was established, recorded by the clinician during the call.

    Rows are only added: the newest one for a participant is the current check.
    """

    __tablename__ = "identity_checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    method: Mapped[IdentityMethod] = mapped_column(_enum(IdentityMethod))
    note: Mapped[str] = mapped_column(String(200), default="")  # only with method "other"; never health data
    checked_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), default="sms")
    recipient: Mapped[str] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState), default=OutboxState.pending, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), index=True)
    # a staff meeting's invitation (visitt.meetings): no appointment, so its room, for retention to find it
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the operator said about it (visitt/messaging/delivery.py): its own id for the message, the last status
    # it reported and when, and - for a message that failed, at sending or later - the reason as a code.
    provider_id: Mapped[str | None] = mapped_column(String(128), index=True)
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_status_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failure_reason: Mapped[str | None] = mapped_column(String(32))


class AuditEvent(Base):
    """Append-only: rows are inserted, never updated or deleted. No personal data in ``detail``."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32), index=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    subject: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class GuestPass(Base):
    """What a correct six-digit code earns: a cookie standing in for the link's token (``joining.py``)."""

    __tablename__ = "guest_passes"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)

    participant: Mapped[Participant] = relationship()


class CodeAttempt(Base):
    """One try at a six-digit code, kept only as long as the attempt limits look back (``code_entry.py``).

    The address and the code are kept as SHA-256 hashes, which keeps them out of sight in a dump but
    is no real protection: both come from small sets. That is why the rows live for minutes only.
    """

    __tablename__ = "code_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    address_hash: Mapped[str] = mapped_column(String(64), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    ok: Mapped[bool] = mapped_column(default=False)


class PortalVisit(Base):
    """One visitor entry made on the portal, kept only as long as the per-address limit looks back
    (``portal.py``). The address is a SHA-256 hash, as in :class:`CodeAttempt`, for the same reasons."""

    __tablename__ = "portal_visits"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    address_hash: Mapped[str] = mapped_column(String(64), index=True)


class ActiveCode(Base):
    """A six-digit code held by an invitation whose room is open (``codes.py``). The primary key makes two
    open invitations with one code impossible, whatever two nodes draw at the same moment; the row goes
    when the room ends or its link window has closed."""

    __tablename__ = "active_codes"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), index=True)


class Retention(Base):
    """When the personal data of a room (and its appointment, if any) was removed (``retention.py``): one
    row per room, so a second pass, or another node's, skips it."""

    __tablename__ = "retention"
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    done_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecoveryCode(Base):
    """One of a staff member's ten recovery codes (``second_factor.py``): a SHA-256 hash, usable once."""

    __tablename__ = "recovery_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PasswordReset(Base):
    """A one-time link to set a new password, made by an administrator (``password_reset.py``)."""

    __tablename__ = "password_resets"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    staff: Mapped[Staff] = relationship()


staff_departments = Table(
    "staff_departments", Base.metadata,
    Column("staff_id", ForeignKey("staff.id"), primary_key=True),
    Column("department_id", ForeignKey("departments.id"), primary_key=True),
)


class StaffLink(Base):
    """A one-time link to set an account's password: an invitation (the account is inactive until it is
    accepted) or a reset made by an administrator. Only its hash is kept; used once, then spent."""

    __tablename__ = "staff_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # "invite" or "reset"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    staff: Mapped[Staff] = relationship()


class Patient(Base):
    """The person a consultation is for, so that consent and its withdrawal follow them to their next
    booking (``patients.py``). Matched by national identity number when the booker gives one, else by
    phone. The number is personal data of the strictest kind: never logged, never in a URL or SMS,
    never shown to the patient."""

    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(primary_key=True)
    national_id: Mapped[str | None] = mapped_column(String(11), unique=True)  # fødselsnummer or D-number, digits
    phone: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Set when the patient said they do not want video; a later video booking warns the booker.
    withdrew_video_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentEvent(Base):
    """Consent to video given (by knocking) or withdrawn. Rows are only added (``consent.py``)."""

    __tablename__ = "consent_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "given" | "withdrawn"
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    text_version: Mapped[str] = mapped_column(String(32))  # of the consent text the patient saw
    language: Mapped[str] = mapped_column(String(8))
    recorded_by: Mapped[str] = mapped_column(String(16))  # "patient" | "staff"
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    how: Mapped[str] = mapped_column(String(32))  # "knock", "patient_page", "phone_to_secretary", ...


class CopaymentRate(Base):
    """The co-payment (egenandel) for a service over a period: configuration as data (``copayment.py``)."""

    __tablename__ = "copayment_rates"
    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(32), default="video_consultation")
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)  # inclusive; null: until further notice
    amount_nok: Mapped[Decimal] = mapped_column(Numeric(8, 2))


class CopaymentExemption(Base):
    """A reason a patient pays no co-payment, valid over a period (``copayment.py``). ``code`` is what
    bookings carry in ``Appointment.exemption``; ``needs_reason``: the booker must say why."""

    __tablename__ = "copayment_exemptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    needs_reason: Mapped[bool] = mapped_column(default=False)

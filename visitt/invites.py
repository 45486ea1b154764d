"""Inviting more people into a consultation: a companion, an interpreter or a colleague.

Each invitee is a participant of the room just like the patient: their own opaque link and
six-digit code, sent by SMS through the outbox, and the waiting room, where the clinician sees their
role and lets them in - or not. A colleague's invitation may name their staff account; signed in as
that account, they join as *co-host* (see ``docs/participants.md``).

Whoever books may invite at booking or later (the JSON API, the appointment page); the clinician
who hosts the room also invites during the call, from the dashboard.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import phonenumbers
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from visitt import access, codes, phones, training
from visitt.store import audit
from visitt.web import i18n
from visitt.messaging import mail, outbox
from visitt import text as human
from visitt.accounts import digest, new_secret
from visitt.errors import Conflict, ValidationFailed
from visitt.web.i18n import N_, translations
from visitt.ids import RowId
from visitt.limiter import Limiter
from visitt.store.models import AppointmentState, Participant, Role, Room, RoomState, Staff

KINDS = ("companion", "interpreter", "colleague")
GROUP_KINDS = ("patient", *KINDS)  # a group consultation invites other patients too (visitt.groups)
LANGUAGES = tuple(i18n.LANGUAGES)  # the SMS, the e-mail and the calendar file come in every page language


def mobile_number(value: str, region: str, errors: dict[str, str], key: str) -> str:
    """``value`` as an E.164 mobile number that can receive SMS; or "" with the reason in ``errors[key]``."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        errors[key] = N_("Enter a mobile number, for example 412 34 567.")
        return ""
    if not phonenumbers.is_valid_number(parsed):
        errors[key] = N_("This is not a valid phone number.")
        return ""
    if phonenumbers.number_type(parsed) not in (phonenumbers.PhoneNumberType.MOBILE,
                                                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        errors[key] = N_("Enter a mobile number that can receive SMS.")
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def full_name(value: str, errors: dict[str, str], key: str) -> str:
    """An invitee's name on one line; problems go into ``errors[key]``."""
    name = human.one_line(value)
    if human.refused(value):
        errors[key] = human.NAME_REFUSED
    elif not name:
        errors[key] = N_("Enter their full name.")
    elif len(name) > 200:
        errors[key] = N_("The name is too long (200 characters at most).")
    return name


class InviteCreate(BaseModel):
    """Someone to invite besides the patient."""

    name: str = Field("", description="Their full name, as the clinician sees it in the waiting room.",
                      examples=["Ivan Petrov"])
    kind: str = Field("", description="companion, interpreter or colleague.", examples=["interpreter"])
    phone: str = Field("", description="Mobile number; Norwegian unless it starts with +.", examples=["412 34 568"])
    language: str | None = Field(None, description="Language of their SMS: nb, nn, en, ar, pl, so or ur. "
                                                   "Defaults to the patient's.")
    staff_id: RowId | None = Field(None, description="A colleague's staff account (a clinician): signed in as "
                                                   "that account, they join as co-host.")


class InvitePublic(BaseModel):
    """An invitation as the API returns it: the link and the code, as for the patient."""

    id: str = Field(description="The participant's id in the call (the peer id).")
    kind: str
    name: str
    cohost: bool
    join_url: str
    code: str


@dataclass(frozen=True)
class Invite:
    """A validated invitation."""

    name: str
    kind: str
    phone: str
    language: str | None
    staff_id: int | None
    email: str = ""  # a staff meeting's guest may be invited by e-mail instead of SMS (visitt.meetings)


def check(session: Session, data: InviteCreate, *, region: str, errors: dict[str, str],
          prefix: str = "", kinds: tuple[str, ...] = KINDS) -> Invite | None:
    """Check one invitation; problems go into ``errors`` under ``prefix + field``. ``kinds``: those the
    consultation takes (:data:`GROUP_KINDS` for a group)."""
    before = len(errors)
    name = full_name(data.name, errors, prefix + "name")
    if data.kind not in kinds:
        errors[prefix + "kind"] = (N_("Choose patient, companion, interpreter or colleague.") if "patient" in kinds
                                   else N_("Choose companion, interpreter or colleague."))
    phone = mobile_number(data.phone, region, errors, prefix + "phone")
    if data.language is not None and data.language not in LANGUAGES:
        errors[prefix + "language"] = N_("Choose one of these languages: nb, nn, en, ar, pl, so, ur.")
    if data.staff_id is not None:
        staff = session.get(Staff, data.staff_id)
        if data.kind != "colleague":
            errors[prefix + "staff_id"] = N_("Only a colleague can join as co-host.")
        elif staff is None or staff.role is not Role.clinician or not staff.active:
            errors[prefix + "staff_id"] = N_("Choose a clinician from the list.")
    if len(errors) > before:
        return None
    return Invite(name, data.kind, phone, data.language, data.staff_id)


def validate(session: Session, data: InviteCreate, *, region: str, kinds: tuple[str, ...] = KINDS) -> Invite:
    """One invitation, checked; every problem reported at once, keyed by field name."""
    errors: dict[str, str] = {}
    invite = check(session, data, region=region, errors=errors, kinds=kinds)
    if invite is None:
        raise ValidationFailed(N_("The invitation could not be sent."), fields=errors)
    return invite


def colleagues(session: Session, host_id: int) -> list[Staff]:
    """The clinicians a host may invite as co-host: every other active clinician."""
    return list(session.scalars(select(Staff).where(Staff.role == Role.clinician, Staff.active.is_(True),
                                                    Staff.id != host_id).order_by(Staff.full_name)))


def invitation_text(language: str, kind: str, *, when: dt.datetime, url: str, code: str, phone: str) -> str:
    """The invitee's SMS. It names neither the patient nor the clinic's specialty: the SMS may be read
    by others, and who sees which clinic is health information."""
    _ = translations(language).gettext
    texts = {
        "companion": N_("You are invited as a companion to a video consultation {date} at {time}. Open the link "
                        "shortly before: {url} Code: {code}. Questions? Call {phone}."),
        "interpreter": N_("You are invited as interpreter to a video consultation {date} at {time}. Open the link "
                          "shortly before: {url} Code: {code}. Questions? Call {phone}."),
        "colleague": N_("You are invited as a colleague to a video consultation {date} at {time}. Open the link "
                        "shortly before: {url} Code: {code}. Questions? Call {phone}."),
        "patient": N_("You are invited to a group video consultation {date} at {time}. Open the link "
                      "shortly before: {url} Code: {code}. Questions? Call {phone}."),
        # a staff meeting (visitt.meetings): neutral, never its title
        "meeting": N_("You are invited to a video meeting {date} at {time}. Open the link shortly before: {url} "
                      "Code: {code}. Questions? Call {phone}."),
    }
    return _(texts[kind]).format(date=when.strftime("%d.%m.%Y"), time=when.strftime("%H:%M"), url=url, code=code,
                                 phone=phones.written(phone))


@dataclass(frozen=True)
class Invitation:
    """What :func:`create` made: the participant, and their link and code (never stored in clear)."""

    participant: Participant
    join_url: str
    code: str

    def public(self) -> InvitePublic:
        participant = self.participant
        return InvitePublic(id=participant.public_id, kind=participant.kind, name=participant.display_name,
                            cohost=participant.staff_id is not None, join_url=self.join_url, code=self.code)


def create(session: Session, inviter: Staff, room: Room, invite: Invite, *, base_url: str, clinic_phone: str,
           tz: ZoneInfo, max_participants: int, limiter: Limiter | None = None,
           growth: Callable[[], int] | None = None) -> Invitation:
    """Add the invitee to ``room``, queue their SMS (or e-mail) and audit it, in the caller's unit of work.

    ``max_participants``: the invitations the room holds at most, the patient's counted
    (:func:`visitt.groups.invitations`); ``growth``: how many it may hold past that once its call
    moves to the media server, asked only then (:func:`visitt.groups.growth`). A staff meeting's room
    (:mod:`visitt.meetings`) takes invitations too: its colleagues by account get no message (the meeting
    is on their dashboard), its guests a neutral one.
    """
    access.require(inviter, access.Action.manage, room)
    appointment, meeting = room.appointment, room.meeting
    if room.state is RoomState.ended:
        raise Conflict(N_("The consultation has ended."), code="room_ended")
    if meeting is None and (appointment is None
                            or appointment.state not in (AppointmentState.booked, AppointmentState.in_progress)):
        raise Conflict(N_("Only a booked consultation, or one in progress, takes more participants."),
                       code="not_invitable")
    invited = session.scalar(select(func.count(Participant.id)).where(Participant.room_id == room.id)) or 0
    if invited + 1 > max_participants and (growth is None or invited + 1 > growth()):
        raise Conflict(N_("No more participants fit in this consultation."), code="invites_full")
    if invite.staff_id is not None:
        taken = session.scalar(select(Participant.id).where(Participant.room_id == room.id,
                                                            Participant.staff_id == invite.staff_id))
        if invite.staff_id == room.host_id or taken is not None:
            raise ValidationFailed(N_("The invitation could not be sent."),
                                   fields={"staff_id": N_("This clinician is already in the consultation.")})
        colleague = session.get(Staff, invite.staff_id)
        if colleague is not None and not training.is_trained(colleague):  # the training gate: no co-host before
            raise training.TrainingRequired(N_("The invitation could not be sent."), fields={
                "staff_id": N_("This clinician has not completed the training yet and cannot be co-host.")})
    by_message = bool(invite.phone or invite.email)  # a meeting's colleague by account has neither
    token, code = new_secret(), codes.draw(session, room) if by_message else ""
    participant = Participant(public_id=secrets.token_urlsafe(9), room=room, kind=invite.kind,
                              token_hash=digest(token), code=code, phone=invite.phone, display_name=invite.name,
                              staff_id=invite.staff_id, email=invite.email, language=invite.language or "")
    session.add(participant)
    session.flush()
    join_url = f"{base_url}/v/{token}"
    department = appointment.department if appointment is not None else room.host.department
    phone = department.phone if department and department.phone else clinic_phone
    if meeting is not None:
        if invite.email:
            mail.queue_meeting(session, meeting, invite.email, language=invite.language or "nb", code=code,
                               phone=phone, address=base_url, url=join_url)
        elif invite.phone:
            body = invitation_text(invite.language or "nb", "meeting", when=meeting.starts_at.astimezone(tz),
                                   url=join_url, code=code, phone=phone)
            outbox.enqueue(session, recipient=invite.phone, body=body, limiter=limiter, sender=inviter.id,
                           room_id=room.id)
    else:
        assert appointment is not None
        body = invitation_text(invite.language or appointment.language, invite.kind,
                               when=appointment.starts_at.astimezone(tz), url=join_url, code=code, phone=phone)
        outbox.enqueue(session, recipient=invite.phone, body=body, appointment_id=appointment.id, limiter=limiter,
                       sender=inviter.id)
    audit.record(session, f"staff:{inviter.id}", "invite", room_id=room.id,
                 subject=f"participant:{participant.public_id}", kind=invite.kind,
                 cohost=invite.staff_id is not None)
    return Invitation(participant, join_url, code)
